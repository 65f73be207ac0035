//! Settings shared by the app, the CLI and the pipeline: sampling, thresholds, fusion, device,
//! analyst. Persisted as TOML in the OS config dir; every value is validated before any work starts.
use crate::device::DevicePref;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How frame scores become a media score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregation {
    #[default]
    Mean,
    /// Mean weighted by each frame's motion difference (frames that move count more).
    MotionWeighted,
}

impl std::str::FromStr for Aggregation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Self::Mean),
            "motion" | "motion-weighted" => Ok(Self::MotionWeighted),
            _ => Err(Error::Config(format!(
                "aggregation must be mean or motion-weighted, not {s:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The published model's own precision: scores as the reference computes them.
    #[default]
    Fp32,
    Fp16,
    Bf16,
    /// The fastest this machine runs well: bf16 on CUDA and on CPUs with native bf16
    /// (`device::cpu_bf16`), else fp32 (`device::resolve_precision`).
    Auto,
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "fp32" | "f32" => Ok(Self::Fp32),
            "fp16" | "f16" => Ok(Self::Fp16),
            "bf16" => Ok(Self::Bf16),
            "auto" => Ok(Self::Auto),
            _ => Err(Error::Config(format!(
                "precision must be fp32, fp16, bf16 or auto, not {s:?}"
            ))),
        }
    }
}

/// Where faces are cut for profiles whose chain allows it (`direct`; GenD's chain always runs
/// on its bit-exact CPU path): on the compute device with `grid_sample` (`faces::warp_tensor`:
/// frames go up once, crops are cut and normalised there) or on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceAlign {
    /// On the device when it is a GPU.
    #[default]
    Auto,
    /// Always on the device, the CPU included (same crops as the CPU warp up to one grey level
    /// at rounding ties: `tests/warp_tensor.rs`).
    On,
    /// Always on the CPU.
    Off,
}

/// Score bands: above `fake` is likely fake, below `real` is real, in between needs review.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub real: f64,
    pub fake: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            real: 0.3,
            fake: 0.7,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Fake,
    Review,
    Real,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Fake => "fake",
            Band::Review => "review",
            Band::Real => "real",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Band::Fake => "likely fake",
            Band::Review => "needs human review",
            Band::Real => "likely real",
        }
    }
}

impl Thresholds {
    pub fn band(&self, score: f64) -> Band {
        if score > self.fake {
            Band::Fake
        } else if score < self.real {
            Band::Real
        } else {
            Band::Review
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Sampling rate for videos, 3–10 frames per second.
    pub fps: f32,
    /// Colour-histogram distance (0–1) above which a sampled frame is a keyframe.
    pub keyframe_threshold: f32,
    pub thresholds: Thresholds,
    pub aggregation: Aggregation,
    /// "concat", "weighted:<alpha>" or "slerp:<t>"; overrides the profile's fusion when set.
    pub fusion: Option<String>,
    pub device: DevicePref,
    pub precision: Precision,
    /// Where the direct chain cuts faces (device or CPU).
    pub device_align: DeviceAlign,
    /// fp32 matrix products on CUDA use TF32 (Ampere and later: ≈ 8× faster, ~1e-3 relative
    /// error; recorded with each analysis as "fp32 (tf32 matmuls)"). No effect on the CPU.
    pub tf32: bool,
    /// Faces scored per forward pass.
    pub batch_size: usize,
    /// Model profile folder name (under the models dir) or path; None = the installed default.
    pub profile: Option<String>,
    /// Score the whole frame when no face is found.
    pub score_full_frame_without_face: bool,
    /// Where no face is found upright, look again with the frame turned 90°, 270° and 180°
    /// (a video whose rotation metadata is wrong, a photo on its side); see `faces::rotate`.
    pub find_turned_faces: bool,
    pub analyst: String,
    /// Where cases, media and the database live; None = the OS data dir.
    pub data_dir: Option<PathBuf>,
    /// Largest media file accepted, in MiB.
    pub max_media_mib: u64,
    /// Where model weights and profiles live; None = `$VERITY_MODELS_DIR` or `<data dir>/models`.
    pub models_dir: Option<PathBuf>,
    /// Seconds recorded from a live source (webcam, RTSP/UDP stream) per analysis.
    pub live_seconds: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fps: 5.0,
            keyframe_threshold: 0.35,
            thresholds: Thresholds::default(),
            aggregation: Aggregation::Mean,
            fusion: None,
            device: DevicePref::Auto,
            precision: Precision::Fp32,
            device_align: DeviceAlign::Auto,
            tf32: true,
            batch_size: 16,
            profile: None,
            score_full_frame_without_face: false,
            find_turned_faces: true,
            analyst: String::new(),
            data_dir: None,
            max_media_mib: 8192,
            models_dir: None,
            live_seconds: 10.0,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<()> {
        if !(3.0..=10.0).contains(&self.fps) {
            return Err(Error::Config(format!(
                "sampling rate must be 3–10 fps, not {}",
                self.fps
            )));
        }
        if !(0.0..=1.0).contains(&self.keyframe_threshold) {
            return Err(Error::Config(
                "keyframe threshold must be within 0–1".into(),
            ));
        }
        let t = self.thresholds;
        if !(0.0..=1.0).contains(&t.real) || !(0.0..=1.0).contains(&t.fake) || t.real > t.fake {
            return Err(Error::Config(format!(
                "thresholds must satisfy 0 ≤ real ({}) ≤ fake ({}) ≤ 1",
                t.real, t.fake
            )));
        }
        if self.batch_size == 0 || self.batch_size > 1024 {
            return Err(Error::Config("batch size must be 1–1024".into()));
        }
        if !(self.live_seconds > 0.0 && self.live_seconds <= 3600.0) {
            return Err(Error::Config(format!(
                "live recording length must be 0–3600 s, not {}",
                self.live_seconds
            )));
        }
        if self.max_media_mib == 0 {
            return Err(Error::Config("maximum media size must be positive".into()));
        }
        // The pipeline parses the override when it loads the detector: refuse it here, not then.
        if let Some(f) = &self.fusion {
            f.parse::<crate::models::fusion::FusionMode>()?;
        }
        Ok(())
    }

    /// The settings file: `$VERITY_CONFIG` or `<OS config dir>/settings.toml`.
    pub fn default_path() -> PathBuf {
        if let Some(p) = std::env::var_os("VERITY_CONFIG") {
            return PathBuf::from(p);
        }
        project_dirs()
            .map(|d| d.config_dir().join("settings.toml"))
            .unwrap_or_else(|| PathBuf::from("verity-settings.toml"))
    }

    /// Reads settings; a missing file gives the defaults, a malformed one an error naming it.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(Error::input(path, format!("cannot read settings: {e}"))),
        };
        let s: Settings = toml::from_str(&text)
            .map_err(|e| Error::input(path, format!("settings file is not valid: {e}")))?;
        s.validate()
            .map_err(|e| Error::input(path, format!("settings file has a bad value: {e}")))?;
        Ok(s)
    }

    /// Validates, then writes atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        self.validate()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// The data folder: settings, else `$VERITY_DATA_DIR`, else the OS data dir.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("VERITY_DATA_DIR") {
            return PathBuf::from(d);
        }
        project_dirs()
            .map(|d| d.data_dir().to_path_buf())
            .unwrap_or_else(|| PathBuf::from("verity-data"))
    }
}

impl Settings {
    /// Model weights and profiles: settings, else `$VERITY_MODELS_DIR`, else `<data dir>/models`.
    pub fn models_dir(&self) -> PathBuf {
        if let Some(d) = &self.models_dir {
            return d.clone();
        }
        std::env::var_os("VERITY_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| self.data_dir().join("models"))
    }
}

pub fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("org", "Verity", "VerityDesk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_thresholds() {
        let t = Thresholds::default();
        assert_eq!(t.band(0.71), Band::Fake);
        assert_eq!(t.band(0.7), Band::Review);
        assert_eq!(t.band(0.5), Band::Review);
        assert_eq!(t.band(0.3), Band::Review);
        assert_eq!(t.band(0.29), Band::Real);
        let t = Thresholds {
            real: 0.2,
            fake: 0.9,
        };
        assert_eq!(t.band(0.8), Band::Review);
    }

    #[test]
    fn validation_rejects_bad_values() {
        let mut s = Settings {
            fps: 2.0,
            ..Settings::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("3–10 fps"));
        s.fps = 5.0;
        s.thresholds = Thresholds {
            real: 0.8,
            fake: 0.4,
        };
        assert!(s.validate().unwrap_err().to_string().contains("thresholds"));
    }

    #[test]
    fn settings_round_trip_and_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        assert_eq!(Settings::load(&p).unwrap(), Settings::default());
        let s = Settings {
            fps: 8.0,
            analyst: "Ada".into(),
            ..Settings::default()
        };
        s.save(&p).unwrap();
        assert_eq!(Settings::load(&p).unwrap(), s);
        std::fs::write(&p, "fps = \"fast\"").unwrap();
        let e = Settings::load(&p).unwrap_err().to_string();
        assert!(e.contains("settings file is not valid"), "{e}");
    }

    /// Found by the settings fuzz target: a value out of range was refused without naming the
    /// file, and a fusion override the pipeline cannot parse was accepted.
    #[test]
    fn load_names_the_file_and_checks_the_fusion_override() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.toml");
        std::fs::write(&p, "fps = 255").unwrap();
        let e = Settings::load(&p).unwrap_err().to_string();
        assert!(
            e.contains(&p.display().to_string()) && e.contains("3–10 fps"),
            "{e}"
        );
        for bad in ["slevp:0.5", "slerp:-1e999", "concat:1"] {
            std::fs::write(&p, format!("fusion = \"{bad}\"")).unwrap();
            let e = Settings::load(&p).unwrap_err().to_string();
            assert!(
                e.contains(&p.display().to_string()) && e.contains("fusion"),
                "{e}"
            );
        }
        std::fs::write(&p, "fusion = \"weighted:0.25\"").unwrap();
        assert_eq!(
            Settings::load(&p).unwrap().fusion.as_deref(),
            Some("weighted:0.25")
        );
    }
}
