//! The explainability engine: why a face was scored as it was, in forms an analyst can defend.
//!
//! - [`gradcam`]: Grad-CAM on the forensic CNN and on the CLIP ViT, attention rollout, and the
//!   way back from the aligned crop into the original frame;
//! - [`artifacts`]: model-free forensic views (noise residual, spectrum, error level, blending
//!   boundary);
//! - [`temporal`]: per-frame score, embedding drift and landmark jitter of a video track, with
//!   spikes flagged;
//! - [`blink`]: eye openness, blink events and blinks per minute;
//! - [`heat`]: heat-maps, colour maps, overlays and PNG encoding of the pictures above;
//! - [`chart`]: the stored form of the temporal and blink series (numbers, drawn by the app
//!   and the report, never rendered here).
//!
//! This module is the entry point for the pipeline, the app and the CLI: [`explain_face`] turns
//! one face (and any class-activation maps computed for it) into PNG overlays with one-line
//! explanations, and [`explain_video_series`] turns per-frame track records into temporal and
//! blink reports with their charts. Nothing here touches storage: callers get data and PNG bytes.
pub mod artifacts;
pub mod blink;
pub mod case;
pub mod chart;
pub mod gradcam;
pub mod heat;
pub mod temporal;

use std::time::Instant;

use image::RgbImage;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind};

use crate::faces::align::{
    to_tensor, AlignedFace, Similarity, CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD,
};
use crate::models::detector::Detector;
use crate::{Error, Result};
use artifacts::ArtifactMap;
use blink::{BlinkConfig, BlinkReport};
use chart::Chart;
use gradcam::{Cam, CamMethod};
use heat::{encode_png, Colormap, Heatmap};
use temporal::{FrameRecord, TemporalConfig, TemporalReport};

/// What the artifact views are computed on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactScope {
    /// The face's neighbourhood in the original frame pixels (the face box grown by
    /// `face_margin`), never resampled: resampling would destroy the JPEG block grid, the
    /// camera noise and the spectral peaks these views look for.
    #[default]
    FaceRegion,
    /// The whole frame.
    WholeFrame,
}

/// Settings of the explain outputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainConfig {
    /// Colour map of the Grad-CAM / rollout overlays.
    pub colormap: Colormap,
    /// Opacity of the heat-map over the image (pytorch-grad-cam's default is 0.5).
    pub opacity: f32,
    /// Also render each map over the whole original frame (besides the aligned crop).
    pub frame_overlays: bool,
    pub artifact_scope: ArtifactScope,
    /// Face box growth for [`ArtifactScope::FaceRegion`]: 0.5 adds half the box on every side,
    /// so the blending seam around the face is inside the region.
    pub face_margin: f32,
    /// JPEG quality of the error-level re-save.
    pub ela_quality: u8,
    pub temporal: TemporalConfig,
    pub blink: BlinkConfig,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig {
            colormap: Colormap::Jet,
            opacity: 0.5,
            frame_overlays: true,
            artifact_scope: ArtifactScope::FaceRegion,
            face_margin: 0.5,
            ela_quality: artifacts::ELA_QUALITY,
            temporal: TemporalConfig::default(),
            blink: BlinkConfig::default(),
        }
    }
}

/// One face to explain.
#[derive(Clone, Copy, Debug)]
pub struct FaceInput<'a> {
    /// The original frame (or still image) the face was found in.
    pub frame: &'a RgbImage,
    /// The aligned crop the networks saw, with its frame → crop transform.
    pub aligned: &'a AlignedFace,
    /// The detector's face box in frame pixels, if known (else the crop's footprint is used).
    pub bbox: Option<[f32; 4]>,
    /// The same aligned face at the frame's own resolution (`faces::preprocess`), if known: the
    /// crop heat-maps are drawn on it, so the analyst sees the real pixels under the heat.
    pub native: Option<&'a RgbImage>,
}

/// A class-activation map of one face, in the aligned crop's pixels, values 0..1.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceCam {
    pub method: CamMethod,
    pub heat: Heatmap,
}

impl FaceCam {
    /// The batch of raw maps of `cam` as crop-sized heat-maps (one per face of the batch).
    pub fn from_cam(
        method: CamMethod,
        cam: &Cam,
        crop_width: u32,
        crop_height: u32,
    ) -> Result<Vec<FaceCam>> {
        Ok(cam
            .heatmaps(crop_width, crop_height)?
            .into_iter()
            .map(|heat| FaceCam { method, heat })
            .collect())
    }
}

/// The class-activation maps of a detector for aligned faces (all of one size, as the profile's
/// preprocessing makes them): Grad-CAM of the fake logit on the CNN (when the detector has
/// one) and on the CLIP ViT (`vit_layer`, default the last layer's input, see
/// [`gradcam::vit_gradcam`]), and attention rollout through the ViT. One list per face, in
/// that order. `device` and `kind` are the detector's (e.g. `LoadedDetector::device()` and
/// `precision()`). Costs about two forward and two backward passes per face.
pub fn detector_cams(
    detector: &Detector,
    faces: &[&RgbImage],
    device: Device,
    kind: Kind,
    vit_layer: Option<usize>,
) -> Result<Vec<Vec<FaceCam>>> {
    let Some(first) = faces.first() else {
        return Ok(Vec::new());
    };
    let (w, h) = first.dimensions();
    let _span = tracing::debug_span!("detector_cams", faces = faces.len()).entered();
    let clip_px = to_tensor(faces, CLIP_MEAN, CLIP_STD)?
        .to_device(device)
        .to_kind(kind);
    let cnn_px = if detector.has_cnn() {
        Some(
            to_tensor(faces, IMAGENET_MEAN, IMAGENET_STD)?
                .to_device(device)
                .to_kind(kind),
        )
    } else {
        None
    };
    let mut cams: Vec<(CamMethod, Cam)> = Vec::new();
    if let Some(cnn_px) = &cnn_px {
        cams.push((
            CamMethod::GradCamCnn,
            gradcam::detector_cnn_gradcam(detector, &clip_px, cnn_px)?,
        ));
    }
    cams.push((
        CamMethod::GradCamVit,
        gradcam::detector_vit_gradcam(detector, &clip_px, cnn_px.as_ref(), vit_layer)?,
    ));
    let (_, attentions) = tch::no_grad(|| detector.clip().forward_with_attentions(&clip_px))?;
    cams.push((
        CamMethod::AttentionRollout,
        gradcam::attention_rollout(&attentions, detector.clip().grid())?,
    ));

    let mut per_face: Vec<Vec<FaceCam>> = vec![Vec::new(); faces.len()];
    for (method, cam) in &cams {
        for (i, fc) in FaceCam::from_cam(*method, cam, w, h)?
            .into_iter()
            .enumerate()
        {
            per_face[i].push(fc);
        }
    }
    Ok(per_face)
}

/// Which image an overlay is drawn on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Space {
    /// The aligned face crop.
    Crop,
    /// The whole original frame.
    Frame,
    /// The face region of the original frame (artifact views; `region` gives its place).
    Region,
}

/// One rendered explanation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overlay {
    /// What it shows: `gradcam_cnn`, `gradcam_vit`, `rollout`, `noise`, `spectrum`, `ela` or
    /// `boundary` (the store's `explanations.kind`).
    pub kind: String,
    /// Stable id, `<kind>/<space>`, e.g. `gradcam_cnn/crop`, `ela/region`.
    pub key: String,
    pub title: String,
    /// One line for the analyst.
    pub explanation: String,
    pub space: Space,
    /// For [`Space::Region`]: x, y, width, height of the region in frame pixels.
    pub region: Option<[u32; 4]>,
    pub width: u32,
    pub height: u32,
    /// The view's key number (artifact views), for sorting and the report.
    pub measure: Option<f64>,
    /// The PNG file (not serialised: callers store it and refer to it).
    #[serde(skip)]
    pub png: Vec<u8>,
}

/// Everything explained about one face.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceExplanation {
    pub overlays: Vec<Overlay>,
    /// Wall time of [`explain_face`] (rendering and artifact views; the CAMs' forward/backward
    /// passes are the caller's).
    pub seconds: f64,
}

/// The face box grown by `margin` on every side (fraction of its size), clipped to the frame,
/// as whole pixels x, y, width, height. `None` when nothing of it is in the frame.
fn face_region(bbox: [f32; 4], margin: f32, width: u32, height: u32) -> Option<[u32; 4]> {
    if !bbox.iter().all(|v| v.is_finite()) {
        return None;
    }
    let (bw, bh) = (bbox[2] - bbox[0], bbox[3] - bbox[1]);
    let m = margin.max(0.0);
    let x0 = (bbox[0] - m * bw).floor().max(0.0);
    let y0 = (bbox[1] - m * bh).floor().max(0.0);
    let x1 = (bbox[2] + m * bw).ceil().min(width as f32);
    let y1 = (bbox[3] + m * bh).ceil().min(height as f32);
    (x1 - x0 >= 8.0 && y1 - y0 >= 8.0).then_some([
        x0 as u32,
        y0 as u32,
        (x1 - x0) as u32,
        (y1 - y0) as u32,
    ])
}

/// The crop's footprint in the frame, as a box (for faces without a detector box).
fn crop_footprint(frame_to_crop: &Similarity, crop_w: u32, crop_h: u32) -> [f32; 4] {
    let inv = frame_to_crop.inverse();
    let pts = [
        [0.0, 0.0],
        [crop_w as f32, 0.0],
        [0.0, crop_h as f32],
        [crop_w as f32, crop_h as f32],
    ]
    .map(|p| inv.apply(p));
    let xs = pts.map(|p| p[0]);
    let ys = pts.map(|p| p[1]);
    [
        xs.iter().copied().fold(f32::INFINITY, f32::min),
        ys.iter().copied().fold(f32::INFINITY, f32::min),
        xs.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        ys.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    ]
}

fn artifact_overlay(map: ArtifactMap, space: Space, region: Option<[u32; 4]>) -> Result<Overlay> {
    Ok(Overlay {
        kind: map.kind.key().to_string(),
        key: format!(
            "{}/{}",
            map.kind.key(),
            if space == Space::Frame {
                "frame"
            } else {
                "region"
            }
        ),
        title: map.kind.title().to_string(),
        explanation: map.explanation,
        space,
        region,
        width: map.image.width(),
        height: map.image.height(),
        measure: Some(map.measure),
        png: encode_png(&map.image)?,
    })
}

/// A crop-space heat-map resampled (bilinear, pixel centres to pixel centres) to `w`×`h`.
fn resample_heat(heat: &Heatmap, w: u32, h: u32) -> Result<Heatmap> {
    let (sx, sy) = (heat.width as f32 / w as f32, heat.height as f32 / h as f32);
    let mut data = Vec::with_capacity(w as usize * h as usize);
    for v in 0..h {
        for u in 0..w {
            let (x, y) = ((u as f32 + 0.5) * sx - 0.5, (v as f32 + 0.5) * sy - 0.5);
            let (x, y) = (
                x.clamp(0.0, heat.width as f32 - 1.0),
                y.clamp(0.0, heat.height as f32 - 1.0),
            );
            data.push(heat.sample(x, y).unwrap_or(0.0));
        }
    }
    Heatmap::new(w, h, data)
}

/// Renders the explanations of one face: each CAM over the aligned crop (and over the original
/// frame, through the inverse alignment, when `cfg.frame_overlays`), and the four artifact views
/// of the face region (or the whole frame). `cams` may be empty (no detector loaded): the
/// artifact views are always produced.
pub fn explain_face(
    face: &FaceInput,
    cams: &[FaceCam],
    cfg: &ExplainConfig,
) -> Result<FaceExplanation> {
    let started = Instant::now();
    let _span = tracing::debug_span!("explain_face", cams = cams.len()).entered();
    let crop = &face.aligned.image;
    let mut overlays = Vec::new();
    for cam in cams {
        if (cam.heat.width, cam.heat.height) != crop.dimensions() {
            return Err(Error::Other(format!(
                "{}: heat-map is {}×{} but the face crop is {}×{}",
                cam.method.title(),
                cam.heat.width,
                cam.heat.height,
                crop.width(),
                crop.height()
            )));
        }
        let on_crop = match face.native {
            // Same aligned geometry at another resolution: the heat-map is resampled onto it.
            Some(n) if n.dimensions() != crop.dimensions() && n.width() > 0 && n.height() > 0 => {
                let heat = resample_heat(&cam.heat, n.width(), n.height())?;
                gradcam::overlay_on_crop(n, &heat, cfg.opacity, cfg.colormap)?
            }
            _ => gradcam::overlay_on_crop(crop, &cam.heat, cfg.opacity, cfg.colormap)?,
        };
        overlays.push(Overlay {
            kind: cam.method.key().to_string(),
            key: format!("{}/crop", cam.method.key()),
            title: cam.method.title().to_string(),
            explanation: cam.method.explanation().to_string(),
            space: Space::Crop,
            region: None,
            width: on_crop.width(),
            height: on_crop.height(),
            measure: None,
            png: encode_png(&on_crop)?,
        });
        if cfg.frame_overlays {
            let on_frame = gradcam::overlay_on_frame(
                face.frame,
                &cam.heat,
                &face.aligned.transform,
                cfg.opacity,
                cfg.colormap,
            )?;
            overlays.push(Overlay {
                kind: cam.method.key().to_string(),
                key: format!("{}/frame", cam.method.key()),
                title: format!("{} in the frame", cam.method.title()),
                explanation: cam.method.explanation().to_string(),
                space: Space::Frame,
                region: None,
                width: on_frame.width(),
                height: on_frame.height(),
                measure: None,
                png: encode_png(&on_frame)?,
            });
        }
    }

    let frame = face.frame;
    let bbox = face
        .bbox
        .unwrap_or_else(|| crop_footprint(&face.aligned.transform, crop.width(), crop.height()));
    let (image, region, face_box, space) = match cfg.artifact_scope {
        ArtifactScope::WholeFrame => (frame.clone(), None, Some(bbox), Space::Frame),
        ArtifactScope::FaceRegion => {
            let Some(r) = face_region(bbox, cfg.face_margin, frame.width(), frame.height()) else {
                return Err(Error::Other(format!(
                    "the face box {bbox:?} does not overlap the {}×{} frame",
                    frame.width(),
                    frame.height()
                )));
            };
            let sub = image::imageops::crop_imm(frame, r[0], r[1], r[2], r[3]).to_image();
            let local = [
                bbox[0] - r[0] as f32,
                bbox[1] - r[1] as f32,
                bbox[2] - r[0] as f32,
                bbox[3] - r[1] as f32,
            ];
            (sub, Some(r), Some(local), Space::Region)
        }
    };
    let maps = [
        artifacts::noise_residual(&image)?,
        artifacts::spectrum(&image)?,
        artifacts::error_level(&image, cfg.ela_quality)?,
        artifacts::blending_boundary(&image, face_box)?,
    ];
    for map in maps {
        overlays.push(artifact_overlay(map, space, region)?);
    }
    Ok(FaceExplanation {
        overlays,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The per-frame records of one face track.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackRecords {
    pub track: i64,
    pub records: Vec<FrameRecord>,
}

/// Temporal and blink results of one track, with their charts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackExplanation {
    pub track: i64,
    pub temporal: TemporalReport,
    pub blink: BlinkReport,
    /// [`temporal::chart`]: what is stored for the app's and the report's chart (not
    /// serialised here: the reports above hold the same numbers).
    #[serde(skip)]
    pub temporal_chart: Chart,
    /// [`blink::chart`] (not serialised).
    #[serde(skip)]
    pub blink_chart: Chart,
}

/// Temporal-consistency and blink analysis of each track of a video. The eye openness in the
/// records is measured by the pipeline while each frame is decoded
/// ([`blink::eye_openness`]), so no frame needs to be kept for this.
pub fn explain_video_series(
    tracks: &[TrackRecords],
    cfg: &ExplainConfig,
) -> Result<Vec<TrackExplanation>> {
    let _span = tracing::debug_span!("explain_video_series", tracks = tracks.len()).entered();
    tracks
        .iter()
        .map(|t| {
            let temporal = temporal::analyse_track(t.track, &t.records, &cfg.temporal)?;
            let samples: Vec<(i64, f64, Option<f32>)> = t
                .records
                .iter()
                .map(|r| (r.frame, r.pts_s, r.eye_openness))
                .collect();
            let blink = blink::analyse_blinks(t.track, &samples, &cfg.blink)?;
            Ok(TrackExplanation {
                track: t.track,
                temporal_chart: temporal::chart(&temporal),
                blink_chart: blink::chart(&blink, &cfg.blink),
                temporal,
                blink,
            })
        })
        .collect()
}

#[cfg(test)]
mod native_heat_tests {
    use super::*;

    #[test]
    fn a_crop_heat_map_lands_at_the_same_place_on_the_native_crop() {
        // A hot spot at crop pixel (56, 168) of 224² is at the same relative place of a 448²
        // (zoom in) and a 112² (zoom out) native crop of the same aligned geometry.
        let mut data = vec![0f32; 224 * 224];
        data[168 * 224 + 56] = 1.0;
        let heat = Heatmap::new(224, 224, data).unwrap();
        let big = resample_heat(&heat, 448, 448).unwrap();
        let (x, y) = big.argmax();
        assert!(
            (112..=113).contains(&x) && (336..=337).contains(&y),
            "{x},{y}"
        );
        let mut blob = vec![0f32; 224 * 224];
        for v in 160..176 {
            for u in 48..64 {
                blob[v * 224 + u] = 1.0;
            }
        }
        let small = resample_heat(&Heatmap::new(224, 224, blob).unwrap(), 112, 112).unwrap();
        assert_eq!((small.width, small.height), (112, 112));
        let (x, y) = small.argmax();
        assert!((24..=31).contains(&x) && (80..=87).contains(&y), "{x},{y}");
    }
}
