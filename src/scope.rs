//! Scope warnings: why the detector's verdict on one piece of media is less reliable than usual.
//!
//! The detector was trained on photographic faces of a usable size in reasonably compressed
//! media. Outside that — no face, a crowd, tiny faces, heavy compression, a clip shorter than a
//! second, a cartoon — its score still comes out as a number, and a number looks authoritative.
//! Analyst tools that are honest about this (TrueMedia flags 0 or ≥ 5 faces, artwork and heavy
//! text as "experimental") say so beside the verdict. [`assess`] builds that list from what the
//! pipeline measured; the store keeps it with the analysis (`analyses.scope`, schema v7), and
//! the app, the report and the CLI show it. A case with any [`Severity::Warning`] never shows a
//! bare "likely fake/real" ([`qualify_verdict`]).
//!
//! Thresholds (each justified where it is defined):
//! - many faces: [`MANY_FACES`] (≥ 5 faces in one sampled frame);
//! - small faces: [`MIN_EYE_MOUTH_PX`] (eye-to-mouth distance from the 5 landmarks);
//! - heavy compression: JPEG quality below [`MIN_JPEG_QUALITY`] (estimated from the luminance
//!   quantisation table, `media::jpeg_quality`), video below [`MIN_VIDEO_BPP`] bits per pixel
//!   per frame;
//! - very short video: under [`MIN_VIDEO_SECONDS`];
//! - non-photographic content: only with the CLIP base installed (zero-shot with the CLIP text
//!   tower); otherwise recorded as [`Severity::NotChecked`], never guessed.
pub mod zero_shot;

use serde::{Deserialize, Serialize};

/// How much an entry weighs on the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The media is outside what the detector can judge well: the verdict is qualified.
    Warning,
    /// A check that could not be run here (e.g. no CLIP base for the non-photographic check).
    /// Shown in the list for honesty; it does not by itself qualify the verdict, or every case
    /// on a machine without the CLIP base would lose its band.
    NotChecked,
}

/// One entry of a case's scope list: a stable machine `code` and a plain-words `text` that
/// says why the verdict is less reliable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeWarning {
    pub code: String,
    pub severity: Severity,
    pub text: String,
}

impl ScopeWarning {
    pub fn warning(code: &str, text: String) -> Self {
        Self {
            code: code.into(),
            severity: Severity::Warning,
            text,
        }
    }

    pub fn is_warning(&self) -> bool {
        self.severity == Severity::Warning
    }
}

/// Machine codes of the scope entries.
pub mod code {
    pub const NO_FACE: &str = "no_face";
    pub const MANY_FACES: &str = "many_faces";
    pub const SMALL_FACE: &str = "small_face";
    pub const HEAVY_COMPRESSION: &str = "heavy_compression";
    pub const SHORT_VIDEO: &str = "short_video";
    pub const NON_PHOTOGRAPHIC: &str = "non_photographic";
    pub const NON_PHOTOGRAPHIC_NOT_CHECKED: &str = "non_photographic_not_checked";
}

/// True when the list holds at least one [`Severity::Warning`].
pub fn has_warning(scope: &[ScopeWarning]) -> bool {
    scope.iter().any(ScopeWarning::is_warning)
}

/// Faces in one sampled frame at or above which the media counts as "many faces". Detectors
/// trained on single-subject datasets (FaceForensics++, DFDC, Celeb-DF) rarely see crowds; with
/// many faces each is small and the media score is an aggregate over strangers. TrueMedia uses
/// the same cut-off (≥ 5).
pub const MANY_FACES: usize = 5;

/// Smallest eye-to-mouth distance (px, from the 5 MTCNN landmarks: midpoint of the eyes to
/// midpoint of the mouth corners) at which a face is at or above the detector's trained
/// resolution. The detector sees a 224² crop: the direct chain's ArcFace template puts the
/// eye-to-mouth distance at 0.363 × 224 ≈ 81 px, GenD's native crop (1.3× context) at ≈ 63 px.
/// Below 64 px the 224² input is an up-sampled face: the pixel-level blending and resampling
/// traces the detector learned are then made by our interpolation, not observed in the media.
pub const MIN_EYE_MOUTH_PX: f32 = 64.0;

/// JPEG quality (IJG scale, estimated by `media::jpeg_quality`) below which an image counts as
/// heavily compressed. Below 50 the IJG tables are coarser than the JPEG standard's reference
/// table (scale > 100 %): 8×8 block artefacts and lost high frequencies mask the traces
/// detectors rely on (their accuracy drops sharply from FF++ "c23" to "c40" compression).
pub const MIN_JPEG_QUALITY: u8 = 50;

/// Bits per pixel per frame (bit rate ÷ (width × height × fps)) below which a video counts as
/// heavily compressed. FaceForensics++ "c23" H.264 (what detectors are trained on) runs at
/// roughly 0.05–0.2 bpp; its "c40" (where published detectors lose much of their accuracy) at
/// about 0.01–0.02; streaming services deliver ≈ 0.05–0.15. 0.03 sits between the two. The
/// container's rate is used when the stream declares none (audio included: an over-estimate,
/// so such files are flagged less, never more).
pub const MIN_VIDEO_BPP: f64 = 0.03;

/// Videos shorter than this give too few frames for the temporal views and the per-track
/// aggregation to mean much (and a second is what most clip-level detectors consume).
pub const MIN_VIDEO_SECONDS: f64 = 1.0;

/// Frames kept (downscaled) for the non-photographic check, spread over the media.
pub const KEEP_FRAMES: usize = 16;
/// Shortest side of a kept frame (CLIP's input is 224², centre-cropped from this).
const KEPT_SIDE: u32 = 224;

/// Face counts and sizes the pipeline collects frame by frame for [`assess`], and — when the
/// non-photographic check can run — a few small copies of the frames.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaceStats {
    /// Keep frames for the non-photographic check (a CLIP base is installed).
    pub keep_frames: bool,
    /// Up to [`KEEP_FRAMES`] frames (sampled index, picture with its shortest side 224 px),
    /// every `stride`-th sampled frame; the stride doubles when the list is full.
    pub kept: Vec<(i64, image::RgbImage)>,
    stride: usize,
    /// Frames looked at.
    pub frames: usize,
    /// Faces found (full-frame stand-ins excluded).
    pub faces: usize,
    /// Most faces in one frame, and the first frame (sampled index) with that many.
    pub max_faces: usize,
    pub max_faces_frame: Option<i64>,
    /// Smallest eye-to-mouth distance of any face, px.
    pub min_eye_mouth_px: Option<f32>,
}

/// Distance from the midpoint of the eyes to the midpoint of the mouth corners (5 MTCNN
/// landmarks: left eye, right eye, nose, mouth left, mouth right), px.
pub fn eye_mouth_px(lm: &[[f32; 2]; 5]) -> f32 {
    let eyes = [(lm[0][0] + lm[1][0]) / 2.0, (lm[0][1] + lm[1][1]) / 2.0];
    let mouth = [(lm[3][0] + lm[4][0]) / 2.0, (lm[3][1] + lm[4][1]) / 2.0];
    (eyes[0] - mouth[0]).hypot(eyes[1] - mouth[1])
}

impl FaceStats {
    /// Statistics for an analysis under `settings`: frames are kept only when the
    /// non-photographic check can run ([`clip_base`] finds a CLIP base).
    pub fn for_settings(settings: &crate::config::Settings) -> Self {
        Self {
            keep_frames: clip_base(&settings.models_dir()).is_some(),
            ..Self::default()
        }
    }

    /// Adds one sampled frame with the landmarks of the faces found in it.
    pub fn add_frame<'a>(
        &mut self,
        frame_idx: i64,
        image: &image::RgbImage,
        faces: impl IntoIterator<Item = &'a [[f32; 2]; 5]>,
    ) {
        if self.keep_frames {
            self.keep(frame_idx, image);
        }
        self.frames += 1;
        let mut n = 0;
        for lm in faces {
            n += 1;
            let d = eye_mouth_px(lm);
            if d.is_finite() {
                self.min_eye_mouth_px = Some(self.min_eye_mouth_px.map_or(d, |m| m.min(d)));
            }
        }
        self.faces += n;
        if n > self.max_faces {
            self.max_faces = n;
            self.max_faces_frame = Some(frame_idx);
        }
    }
}

impl FaceStats {
    fn keep(&mut self, frame_idx: i64, image: &image::RgbImage) {
        let stride = self.stride.max(1);
        if self.frames % stride != 0 {
            return;
        }
        if self.kept.len() == KEEP_FRAMES {
            // Full: keep every other one and take half as many from now on.
            let mut i = 0;
            self.kept.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride = stride * 2;
            if self.frames % self.stride != 0 {
                return;
            }
        }
        let (w, h) = image.dimensions();
        let s = f64::from(KEPT_SIDE) / f64::from(w.min(h).max(1));
        let small = if s < 1.0 {
            image::imageops::resize(
                image,
                ((f64::from(w) * s).round() as u32).max(1),
                ((f64::from(h) * s).round() as u32).max(1),
                image::imageops::FilterType::Triangle,
            )
        } else {
            image.clone()
        };
        self.kept.push((frame_idx, small));
    }
}

/// The CLIP base the non-photographic check would use: `<models>/base/<name>/` holding a
/// CLIP checkpoint (`model.safetensors` with a text tower, as `verity models fetch
/// clip-vit-large-patch14` installs). None when no CLIP base is installed.
pub fn clip_base(models_dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(models_dir.join("base"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("clip"))
                && p.join("model.safetensors").is_file()
        })
        .collect();
    dirs.sort();
    dirs.into_iter().next()
}

/// [`assess`] for a stored media file: estimates a JPEG's quality from its tables and runs
/// (or records as not run) the non-photographic check.
pub fn assess_media(
    info: &crate::media::MediaInfo,
    blob: &std::path::Path,
    faces: &FaceStats,
    settings: &crate::config::Settings,
) -> Vec<ScopeWarning> {
    let is_jpeg = info.kind == crate::media::MediaKind::Image
        && matches!(info.codec.as_deref(), Some("jpeg" | "jpg"));
    let jpeg_quality = if is_jpeg {
        crate::media::jpeg_quality::estimate_file(blob)
    } else {
        None
    };
    assess(&Facts {
        info,
        jpeg_quality,
        faces,
        non_photographic: non_photographic(faces, settings),
    })
}

/// The non-photographic check on the kept frames, or why it did not run. It runs only on a
/// CLIP base that `verity models fetch` installed (listed in `installed.toml`, its hash
/// verified at download): a hand-placed or random checkpoint never produces a finding.
pub fn non_photographic(faces: &FaceStats, settings: &crate::config::Settings) -> NonPhotographic {
    let models = settings.models_dir();
    let Some(base) = clip_base(&models) else {
        return NonPhotographic::NotChecked("CLIP base not installed".into());
    };
    let fetched = crate::models::hub::installed(&models)
        .unwrap_or_default()
        .iter()
        .any(|m| {
            m.path.canonicalize().ok() == base.canonicalize().ok()
                && m.files.iter().any(|f| f.file == "model.safetensors")
        });
    if !fetched {
        return NonPhotographic::NotChecked(format!(
            "the CLIP base in {} was not installed by `verity models fetch`",
            base.display()
        ));
    }
    let frames: Vec<&image::RgbImage> = faces.kept.iter().map(|(_, f)| f).collect();
    if frames.is_empty() {
        return NonPhotographic::NotChecked("no frames kept".into());
    }
    let device = crate::device::select(settings.device).unwrap_or(tch::Device::Cpu);
    match zero_shot_probability(&base, device, &frames) {
        Ok(Some(probability)) => NonPhotographic::Checked {
            probability,
            threshold: zero_shot::NON_PHOTO_THRESHOLD,
        },
        Ok(None) => NonPhotographic::NotChecked("no frames kept".into()),
        Err(e) => {
            tracing::warn!("non-photographic check failed: {e}");
            NonPhotographic::NotChecked(format!("the CLIP base could not be used: {e}"))
        }
    }
}

/// One loaded zero-shot CLIP per process (≈ 1.7 GB for ViT-L/14): loaded on first use, kept
/// for the next analyses with the same base and device.
fn zero_shot_probability(
    base: &std::path::Path,
    device: tch::Device,
    frames: &[&image::RgbImage],
) -> crate::Result<Option<f64>> {
    type Cached = Option<(std::path::PathBuf, tch::Device, zero_shot::ZeroShot)>;
    static MODEL: std::sync::Mutex<Cached> = std::sync::Mutex::new(None);
    let mut slot = MODEL.lock().unwrap_or_else(|e| e.into_inner());
    if !matches!(&*slot, Some((p, d, _)) if p == base && *d == device) {
        *slot = None;
        *slot = Some((
            base.to_path_buf(),
            device,
            zero_shot::ZeroShot::load(base, device)?,
        ));
    }
    let (_, _, model) = slot.as_ref().expect("loaded above");
    model.probability(frames)
}

/// The outcome of the non-photographic (animation / CGI / drawing) check.
#[derive(Debug, Clone, PartialEq)]
pub enum NonPhotographic {
    /// The check could not run; the reason in words ("CLIP base not installed").
    NotChecked(String),
    /// Zero-shot CLIP: the mean probability over sampled frames that the picture is an
    /// animation, a CGI render or a drawing, and the threshold it was compared with.
    Checked { probability: f64, threshold: f64 },
}

/// Everything [`assess`] looks at.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub info: &'a crate::media::MediaInfo,
    /// Estimated JPEG quality of a still image (None: not a JPEG, or no table found).
    pub jpeg_quality: Option<crate::media::jpeg_quality::JpegQuality>,
    pub faces: &'a FaceStats,
    pub non_photographic: NonPhotographic,
}

/// Bits per pixel per frame of a video from the bit rate FFmpeg reports; None when the rate,
/// the frame rate or the size is unknown.
pub fn video_bpp(info: &crate::media::MediaInfo) -> Option<f64> {
    let rate = info.bit_rate? as f64;
    let fps = info.fps.filter(|f| f.is_finite() && *f > 0.0)?;
    let px = f64::from(info.width) * f64::from(info.height);
    (px > 0.0).then(|| rate / (px * fps))
}

/// The scope list for one analysis, in a fixed order (faces, size, compression, length,
/// content). Empty when nothing limits the verdict.
pub fn assess(f: &Facts) -> Vec<ScopeWarning> {
    use crate::media::MediaKind;
    let mut out = Vec::new();
    let s = f.faces;
    if s.frames > 0 && s.faces == 0 {
        out.push(ScopeWarning::warning(
            code::NO_FACE,
            format!(
                "No face was found in {} sampled frame(s). The detector judges faces; without one \
                 there is nothing it was trained to judge (a whole-frame score, if enabled, is \
                 outside what it learned).",
                s.frames
            ),
        ));
    }
    if s.max_faces >= MANY_FACES {
        out.push(ScopeWarning::warning(
            code::MANY_FACES,
            format!(
                "{} faces in one frame{} (≥ {MANY_FACES}). The detector was trained on media with \
                 one or two people; in crowds each face is small and the media score mixes \
                 many people — check the faces one by one.",
                s.max_faces,
                s.max_faces_frame
                    .map(|i| format!(" (sampled frame {i})"))
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(d) = s.min_eye_mouth_px.filter(|d| *d < MIN_EYE_MOUTH_PX) {
        out.push(ScopeWarning::warning(
            code::SMALL_FACE,
            format!(
                "The smallest face is {d:.0} px from eyes to mouth, below the {MIN_EYE_MOUTH_PX:.0} px \
                 the detector's 224-pixel input needs: it was enlarged, so the fine traces the \
                 detector looks for are partly made by the enlargement, not seen in the media."
            ),
        ));
    }
    if let Some(q) = f.jpeg_quality.filter(|q| q.quality < MIN_JPEG_QUALITY) {
        out.push(ScopeWarning::warning(
            code::HEAVY_COMPRESSION,
            format!(
                "Heavy JPEG compression (estimated quality {} of 100, below {MIN_JPEG_QUALITY}). \
                 Compression erases the fine traces the detector relies on and adds block \
                 artefacts of its own; re-saved, shared copies often look like this.",
                q.quality
            ),
        ));
    }
    if f.info.kind == MediaKind::Video {
        if let Some(bpp) = video_bpp(f.info).filter(|b| *b < MIN_VIDEO_BPP) {
            out.push(ScopeWarning::warning(
                code::HEAVY_COMPRESSION,
                format!(
                    "Heavy video compression ({bpp:.3} bits per pixel per frame, below \
                     {MIN_VIDEO_BPP}). Compression erases the fine traces the detector relies on; \
                     shared and re-encoded copies often look like this."
                ),
            ));
        }
        let still = f.info.frame_count == Some(1);
        if let Some(d) = f
            .info
            .duration_s
            .filter(|d| *d < MIN_VIDEO_SECONDS && !still)
        {
            out.push(ScopeWarning::warning(
                code::SHORT_VIDEO,
                format!(
                    "Very short video ({d:.2} s, under {MIN_VIDEO_SECONDS:.0} s): too few frames \
                     for the per-face aggregation and the temporal checks to mean much."
                ),
            ));
        }
    }
    match &f.non_photographic {
        NonPhotographic::NotChecked(why) => out.push(ScopeWarning {
            code: code::NON_PHOTOGRAPHIC_NOT_CHECKED.into(),
            severity: Severity::NotChecked,
            text: format!("Non-photographic check (animation, CGI, drawing): not checked ({why})."),
        }),
        NonPhotographic::Checked {
            probability,
            threshold,
        } if probability >= threshold => out.push(ScopeWarning::warning(
            code::NON_PHOTOGRAPHIC,
            format!(
                "The pictures look non-photographic (animation, CGI or a drawing: {:.0} % by a \
                 zero-shot CLIP check). The detector was trained on camera footage of real \
                 people; on drawn or rendered faces its score has no meaning.",
                probability * 100.0
            ),
        )),
        NonPhotographic::Checked { .. } => {}
    }
    out
}

/// A few words per code, for one-line verdicts.
pub fn short_label(w: &ScopeWarning) -> &str {
    match w.code.as_str() {
        code::NO_FACE => "no face found",
        code::MANY_FACES => "many faces",
        code::SMALL_FACE => "small faces",
        code::HEAVY_COMPRESSION => "heavy compression",
        code::SHORT_VIDEO => "very short video",
        code::NON_PHOTOGRAPHIC => "non-photographic content",
        code::NON_PHOTOGRAPHIC_NOT_CHECKED => "non-photographic check not run",
        _ => w.text.as_str(),
    }
}

/// A verdict line that is never a bare "likely fake/real" when the scope list holds a warning:
/// the band stays, followed by the warnings in short words.
pub fn qualify_verdict(line: &str, scope: &[ScopeWarning]) -> String {
    let warnings: Vec<&str> = scope
        .iter()
        .filter(|w| w.is_warning())
        .map(short_label)
        .collect();
    if warnings.is_empty() {
        line.to_string()
    } else {
        format!(
            "{line} — outside the detector's scope: {}",
            warnings.join(", ")
        )
    }
}
