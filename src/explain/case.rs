//! Explaining a stored case: re-decodes the case's media from the content store (sampled as the
//! analysis was), renders the face overlays of one frame (Grad-CAM when a detector is loaded,
//! artifact views always) and, for videos, the temporal and blink analysis of every track, and
//! stores each picture as a PNG blob plus an `explanations` row, and each track's series as a
//! row whose `data` is a [`super::chart::Chart`] (no picture). Used by `verity explain`, the app
//! and the report.
use super::temporal::FrameRecord;
use super::{
    detector_cams, explain_face, explain_video_series, ExplainConfig, FaceInput, Space,
    TrackRecords,
};
use crate::config::Settings;
use crate::faces::align::{self, AlignTemplate};
use crate::faces::preprocess::{self, Chain, CropSpec};
use crate::media::{self, Limits, SampleParams};
use crate::models::profile::LoadedDetector;
use crate::store::{NewExplanation, Store};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct CaseExplanation {
    pub case_id: i64,
    pub analysis_id: i64,
    /// The frame whose faces were explained.
    pub frame: i64,
    pub faces: usize,
    /// Explanation rows written.
    pub outputs: Vec<i64>,
    /// Wall time per face of the face overlays (CAMs + rendering + artifact views).
    pub seconds_per_face: f64,
    /// One line per track: temporal summary and blink finding (videos).
    pub findings: Vec<String>,
    /// Why Grad-CAM is absent, when it is.
    pub note: Option<String>,
}

/// Explains `frame` (default: the most suspicious scored frame, else the first with a face) of
/// the case's latest analysis, plus the temporal/blink series of a video.
pub fn explain_case(
    store: &mut Store,
    detector: Option<&LoadedDetector>,
    case_id: i64,
    frame: Option<i64>,
    cfg: &ExplainConfig,
    actor: &str,
) -> Result<CaseExplanation> {
    let d = store.case_detail(case_id)?;
    let analysis = d.analysis.as_ref().ok_or_else(|| {
        Error::Other(format!(
            "case {case_id} has not been analysed yet: run `verity rerun {case_id}`"
        ))
    })?;
    if d.faces.is_empty() {
        return Err(Error::Other(format!(
            "case {case_id} has no faces to explain ({})",
            d.case.message.clone().unwrap_or_default()
        )));
    }
    let target = match frame {
        Some(f) => {
            if !d.faces.iter().any(|x| x.frame_idx == f) {
                let with: Vec<String> = d
                    .faces
                    .iter()
                    .map(|x| x.frame_idx.to_string())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .take(20)
                    .collect();
                return Err(Error::Other(format!(
                    "frame {f} of case {case_id} has no face; frames with faces: {}",
                    with.join(", ")
                )));
            }
            f
        }
        None => d
            .scores
            .iter()
            .filter(|s| s.level == "frame")
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .and_then(|s| s.frame_idx)
            .unwrap_or(d.faces[0].frame_idx),
    };
    let settings: Settings = serde_json::from_str(&analysis.settings_json).unwrap_or_default();
    let params = SampleParams {
        fps: settings.fps,
        keyframe_threshold: settings.keyframe_threshold,
        ..SampleParams::default()
    };
    // Faces are cut exactly as the analysis cut them for the detector (the profile's chain), so
    // the heat-map explains the input that was scored and maps back into the frame exactly.
    let spec = detector.map(|d| d.crop_spec()).unwrap_or(CropSpec {
        template: AlignTemplate::arcface(),
        chain: Chain::Direct,
        size: 224,
    });
    let blob = store.blobs.path(&d.media.blob);

    // One decoding pass: eye openness of every stored face, and the target frame's pixels.
    let mut faces_by_frame: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, f) in d.faces.iter().enumerate() {
        faces_by_frame.entry(f.frame_idx).or_default().push(i);
    }
    let mut openness: HashMap<usize, f32> = HashMap::new();
    let mut target_image = None;
    let cancel = AtomicBool::new(false);
    // Errors name the analyst's file, not the store copy (`Error::naming_original`).
    let frames = media::frames(&blob, &params, &Limits::default(), &cancel)
        .map_err(|e| e.naming_original(&blob, &d.media.original_name))?;
    for fr in frames {
        // Frames the analysis skipped as undecodable are skipped here too (a truncated video's
        // end, a damaged packet): the explained frame was decoded once, so it decodes again.
        let fr = match fr {
            Ok(fr) => fr,
            Err(e @ (Error::Cancelled | Error::TooLarge(_))) => {
                return Err(e.naming_original(&blob, &d.media.original_name))
            }
            Err(e) => {
                tracing::debug!("explain: skipping a frame the analysis skipped: {e}");
                continue;
            }
        };
        let idx = fr.index as i64;
        for &i in faces_by_frame.get(&idx).map(Vec::as_slice).unwrap_or(&[]) {
            if !d.faces[i].full_frame {
                if let Some(o) = super::blink::eye_openness(&fr.image, &d.faces[i].landmarks) {
                    openness.insert(i, o.mean());
                }
            }
        }
        if idx == target {
            target_image = Some(fr.image);
        }
    }
    let image = target_image.ok_or_else(|| {
        Error::Other(format!(
            "frame {target} could not be decoded again from the stored media"
        ))
    })?;

    let mut outputs = Vec::new();
    let aid = analysis.id;
    let face_idx: Vec<usize> = faces_by_frame.get(&target).cloned().unwrap_or_default();
    let mut natives: Vec<Option<image::RgbImage>> = Vec::with_capacity(face_idx.len());
    let aligned: Vec<align::AlignedFace> = face_idx
        .iter()
        .map(|&i| {
            let f = &d.faces[i];
            if f.full_frame {
                natives.push(None);
                align::full_frame(&image, spec.size)
            } else {
                let p = preprocess::prepare(&image, &f.landmarks, &spec);
                natives.push(Some(p.native));
                align::AlignedFace {
                    image: p.input,
                    transform: p.transform,
                }
            }
        })
        .collect();
    let t0 = Instant::now();
    let (cams, note) = match detector {
        Some(det) => {
            let refs: Vec<&image::RgbImage> = aligned.iter().map(|a| &a.image).collect();
            let note = (!det.profile().trained)
                .then(|| "Grad-CAM from an UNTRAINED (random-weight) profile: it shows the mechanism, not evidence.".to_string());
            (
                detector_cams(det.detector(), &refs, det.device(), det.precision(), None)?,
                note,
            )
        }
        None => (
            vec![vec![]; aligned.len()],
            Some("Grad-CAM needs detector weights; artifact views only.".to_string()),
        ),
    };
    for (((&i, al), cam), native) in face_idx.iter().zip(&aligned).zip(&cams).zip(&natives) {
        let f = &d.faces[i];
        let ex = explain_face(
            &FaceInput {
                frame: &image,
                aligned: al,
                bbox: Some(f.bbox),
                native: native.as_ref(),
            },
            cam,
            cfg,
        )?;
        for o in ex.overlays {
            let space = match o.space {
                Space::Crop => "crop",
                Space::Frame => "frame",
                Space::Region => "region",
            };
            let name = format!(
                "a{aid}/explain/f{target:06}_face{}_{}.png",
                f.id,
                o.key.replace('/', "_")
            );
            let rel = store.blobs.put_derived(&name, &o.png)?;
            let data = serde_json::json!({"title": o.title, "region": o.region, "measure": o.measure, "width": o.width, "height": o.height});
            outputs.push(store.add_explanation(
                &NewExplanation {
                    case_id,
                    analysis_id: aid,
                    face_id: Some(f.id),
                    frame_idx: Some(target),
                    kind: o.kind.clone(),
                    space: space.into(),
                    blob: Some(rel),
                    summary: o.explanation.clone(),
                    data,
                },
                actor,
            )?);
        }
    }
    let seconds_per_face = t0.elapsed().as_secs_f64() / face_idx.len().max(1) as f64;

    // Videos: temporal consistency and blinks per track.
    let mut findings = Vec::new();
    if d.frames.len() > 1 {
        let pts: HashMap<i64, f64> = d.frames.iter().map(|f| (f.idx, f.pts_s)).collect();
        let mut tracks: BTreeMap<i64, Vec<FrameRecord>> = BTreeMap::new();
        for (i, f) in d.faces.iter().enumerate() {
            if f.full_frame {
                continue;
            }
            let emb = store.embeddings(f.id)?;
            tracks.entry(f.track_id).or_default().push(FrameRecord {
                frame: f.frame_idx,
                pts_s: pts.get(&f.frame_idx).copied().unwrap_or(0.0),
                score: f.score,
                clip_embedding: emb.as_ref().map(|e| e.0.clone()),
                cnn_embedding: emb.and_then(|e| e.1),
                landmarks: Some(f.landmarks),
                bbox: Some(f.bbox),
                eye_openness: openness.get(&i).copied(),
            });
        }
        let records: Vec<TrackRecords> = tracks
            .into_iter()
            .filter(|(_, r)| r.len() >= 2)
            .map(|(track, records)| TrackRecords { track, records })
            .collect();
        for t in explain_video_series(&records, cfg)? {
            // The series are stored as numbers (`chart::Chart`); the app and the report draw
            // them. No picture.
            for (kind, chart, summary) in [
                ("temporal", &t.temporal_chart, t.temporal.summary.clone()),
                ("blink", &t.blink_chart, t.blink.finding.clone()),
            ] {
                outputs.push(store.add_explanation(
                    &NewExplanation {
                        case_id,
                        analysis_id: aid,
                        face_id: None,
                        frame_idx: None,
                        kind: kind.into(),
                        space: "plot".into(),
                        blob: None,
                        summary: summary.clone(),
                        data: chart.to_json()?,
                    },
                    actor,
                )?);
                findings.push(format!("track {}: {summary}", t.track));
            }
        }
    }
    Ok(CaseExplanation {
        case_id,
        analysis_id: aid,
        frame: target,
        faces: face_idx.len(),
        outputs,
        seconds_per_face,
        findings,
        note,
    })
}

/// The detector whose Grad-CAM the app shows: the profile the pipeline would pick
/// (`pipeline::find_profile`), with the fusion and precision of `settings`. `Ok(None)` when no
/// profile is installed or the automatically found one does not load (the caller then renders
/// the artifact views only and `explain_case` says why); an error only when the profile named
/// in settings fails, as for an analysis.
pub fn load_detector(settings: &Settings) -> Result<Option<LoadedDetector>> {
    let Some(dir) = crate::pipeline::find_profile(settings) else {
        return Ok(None);
    };
    let loaded = crate::device::select(settings.device)
        .and_then(|device| LoadedDetector::load(&dir, device))
        .and_then(|d| crate::pipeline::configure(d, settings));
    match loaded {
        Ok(d) => Ok(Some(d)),
        Err(e) if settings.profile.is_some() => Err(e),
        Err(e) => {
            tracing::warn!(
                "detector profile {} could not be loaded for Grad-CAM: {e}",
                dir.display()
            );
            Ok(None)
        }
    }
}
