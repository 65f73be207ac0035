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
