//! Model profiles: a folder with `profile.toml` (what network, how faces are prepared, which
//! weight files with which SHA-256) and the weight files themselves.
//!
//! A profile is the unit the analyst picks and every stored score points to: [`LoadedDetector`]
//! verifies each file's hash before loading it strictly, and [`LoadedDetector::weight_hashes`]
//! is what a score row records. A profile with `trained = false` holds random weights; its name
//! must end in `-untrained` so no score from it can pass for a real verdict.
//!
//! ```toml
//! name = "gend-clip-l14"
//! variant = "gend"              # or "fusion"
//! trained = true
//! clip = "vit-l14"              # CLIP preset: vit-l14 | vit-b16 | vit-b32 | tiny
//! cnn = "none"                  # xception | efficientnet-b4 | efficientnet-b0 | none
//! fusion = "concat"             # concat | weighted:<α> | slerp:<t>
//! fusion_dim = 0
//! head_hidden = 0
//! gend_head_norm = false
//!
//! [preprocessing]
//! chain = "gend"                # how faces are cut: gend | direct (faces::preprocess); when
//!                               # absent (profiles from before it): gend for GenD, else direct
//! template = "gend"             # 5-point template: arcface | gend
//! context_scale = 1.3
//! size = 224
//!
//! [[weights]]                   # files in this folder
//! file = "model.safetensors"
//! sha256 = "…"
//! role = "model"                # model | clip | cnn (see detector::WeightRole)
//!
//! [[base_weights]]              # frozen base checkpoints installed under <models>/base/<model>/
//! model = "clip-vit-large-patch14"
//! file = "model.safetensors"
//! sha256 = "…"
//! role = "clip"
//! ```
use super::detector::{
    clip_preset, load_detector_weights, CnnKind, Detector, DetectorConfig, Variant, WeightRole,
};
use super::fusion::FusionMode;
use super::weights::sha256_file;
use crate::faces::align::{
    to_tensor, AlignTemplate, CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD,
};
use crate::faces::preprocess::{Chain, CropSpec};
use crate::{Error, Result};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};

/// The file name inside a profile folder.
pub const PROFILE_FILE: &str = "profile.toml";

/// Faces per forward pass in [`LoadedDetector::score`].
pub const BATCH: usize = 16;

/// Which 5-point template faces are aligned to (see `faces::align`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    Arcface,
    Gend,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// The preparation chain (see `faces::preprocess`). `None` only in a profile written before
    /// chains existed; [`load_profile`] fills it from the variant (GenD → `gend`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<Chain>,
    pub template: Template,
    /// Crop side relative to the template's face area (1.3 = GenD's 30 % context).
    pub context_scale: f64,
    /// Side of the aligned square crop, in pixels.
    pub size: u32,
}

impl Preprocessing {
    /// The alignment template with this profile's context.
    pub fn align_template(&self) -> AlignTemplate {
        let mut t = match self.template {
            Template::Arcface => AlignTemplate::arcface(),
            Template::Gend => AlignTemplate::gend(),
        };
        t.context_scale = self.context_scale as f32;
        t
    }

    /// The chain in force (`direct` for a profile not yet migrated by [`load_profile`]).
    pub fn chain(&self) -> Chain {
        self.chain.unwrap_or(Chain::Direct)
    }

    /// Everything `faces::preprocess::prepare` needs.
    pub fn crop_spec(&self) -> CropSpec {
        CropSpec {
            template: self.align_template(),
            chain: self.chain(),
            size: self.size,
        }
    }

    /// One line for profile cards, analyses and reports: the chain and its parameters.
    pub fn describe(&self) -> String {
        format!(
            "{} [template {}, context {}×, input {}²]",
            self.chain().describe(),
            match self.template {
                Template::Arcface => "arcface",
                Template::Gend => "gend",
            },
            self.context_scale,
            self.size
        )
    }
}

/// A weight file of the profile's own folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightFile {
    pub file: String,
    pub sha256: String,
    pub role: WeightRole,
}

/// A frozen base checkpoint shared between profiles, installed by `models fetch <model>` under
/// `<models>/base/<model>/<file>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseWeight {
    pub model: String,
    pub file: String,
    pub sha256: String,
    pub role: WeightRole,
}

fn default_projection() -> Option<i64> {
    None
}

/// `profile.toml`, plus the folder it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub variant: Variant,
    /// `false`: random weights; every score must be labelled untrained (see [`Profile::label`]).
    pub trained: bool,
    /// CLIP preset name (see `detector::clip_preset`).
    pub clip: String,
    pub cnn: CnnKind,
    #[serde(default)]
    pub fusion: FusionMode,
    /// Overrides the preset's projection width (taken from the checkpoint when they differ).
    #[serde(
        default = "default_projection",
        skip_serializing_if = "Option::is_none"
    )]
    pub projection_dim: Option<i64>,
    #[serde(default)]
    pub fusion_dim: i64,
    #[serde(default)]
    pub head_hidden: i64,
    #[serde(default)]
    pub dropout: f64,
    #[serde(default)]
    pub gend_head_norm: bool,
    pub preprocessing: Preprocessing,
    pub weights: Vec<WeightFile>,
    #[serde(default)]
    pub base_weights: Vec<BaseWeight>,
    /// `[training]`: how `verity train` / Retrain made this profile (parent, loss weights, …);
    /// absent in profiles made otherwise, and in profiles written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<crate::train::trainer::TrainingRecord>,
    /// The folder the profile was read from (not stored in the file).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Profile {
    /// The network this profile describes.
    pub fn detector_config(&self) -> Result<DetectorConfig> {
        let clip = clip_preset(&self.clip)?;
        let cfg = DetectorConfig {
            variant: self.variant,
            clip: clip.vision,
            projection_dim: self.projection_dim.unwrap_or(clip.projection_dim),
            cnn: self.cnn,
            fusion: self.fusion,
            fusion_dim: self.fusion_dim,
            head_hidden: self.head_hidden,
            dropout: self.dropout,
            gend_head_norm: self.gend_head_norm,
        };
        cfg.validate()
            .map_err(|e| Error::Config(format!("profile {:?}: {e}", self.name)))?;
        Ok(cfg)
    }

    /// An untrained profile of `cfg` whose own file is `model.safetensors` in `dir` (its SHA-256
    /// given), on top of `base_weights`: what `models random` and `models compose` both write.
    /// Preprocessing follows the variant (GenD: its template with 1.3× context; else ArcFace).
    pub fn untrained_for(
        cfg: &DetectorConfig,
        name: String,
        description: String,
        clip: &str,
        dir: &Path,
        model_sha256: String,
        base_weights: Vec<BaseWeight>,
    ) -> Profile {
        let gend = cfg.variant == Variant::GenD;
        Profile {
            name,
            description,
            variant: cfg.variant,
            trained: false,
            clip: clip.into(),
            cnn: cfg.cnn,
            fusion: cfg.fusion,
            projection_dim: None,
            fusion_dim: cfg.fusion_dim,
            head_hidden: cfg.head_hidden,
            dropout: cfg.dropout,
            gend_head_norm: cfg.gend_head_norm,
            preprocessing: Preprocessing {
                chain: Some(if gend { Chain::Gend } else { Chain::Direct }),
                template: if gend {
                    Template::Gend
                } else {
                    Template::Arcface
                },
                context_scale: if gend { 1.3 } else { 1.0 },
                size: cfg.clip.image_size as u32,
            },
            weights: vec![WeightFile {
                file: "model.safetensors".into(),
                sha256: model_sha256,
                role: WeightRole::Model,
            }],
            base_weights,
            training: None,
            dir: dir.to_path_buf(),
        }
    }

    /// Whether every network weight of this profile is random: untrained and not built on
    /// installed base checkpoints (a `verity models random` profile, or one trained from it).
    /// Training such a profile tunes heads on random encoders, so its children stay untrained.
    pub fn random_encoders(&self) -> bool {
        !self.trained && self.base_weights.is_empty()
    }

    /// The name to show beside every score: untrained profiles say so.
    pub fn label(&self) -> String {
        if self.trained {
            self.name.clone()
        } else {
            format!(
                "{} (UNTRAINED: random weights, scores are meaningless)",
                self.name
            )
        }
    }

    /// Checks what the network config cannot: names, the untrained rule, file names.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| {
            Err(Error::Config(format!(
                "profile {:?} ({}): {m}",
                self.name,
                self.dir.display()
            )))
        };
        if self.name.trim().is_empty() {
            return bad("the name is empty".into());
        }
        if !self.trained && !self.name.ends_with("-untrained") {
            return bad(
                "trained = false, so the name must end in \"-untrained\" (its scores mean nothing)"
                    .into(),
            );
        }
        if self.trained && self.name.ends_with("-untrained") {
            return bad("the name says untrained but trained = true".into());
        }
        if self.weights.is_empty() && self.base_weights.is_empty() {
            return bad("it lists no weight files".into());
        }
        let files = self
            .weights
            .iter()
            .map(|w| (&w.file, &w.sha256))
            .chain(self.base_weights.iter().map(|w| (&w.file, &w.sha256)));
        for (file, sha) in files {
            if !is_plain_name(file) {
                return bad(format!(
                    "weight file {file:?} must be a plain file name inside the folder"
                ));
            }
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return bad(format!(
                    "weight file {file:?}: sha256 {sha:?} is not 64 hex digits"
                ));
            }
        }
        if let Some(w) = self.base_weights.iter().find(|w| !is_plain_name(&w.model)) {
            return bad(format!(
                "base model name {:?} must be a plain name",
                w.model
            ));
        }
        let p = &self.preprocessing;
        if p.size == 0 || !(1.0..=3.0).contains(&p.context_scale) {
            return bad(format!(
                "preprocessing size {} / context_scale {} out of range",
                p.size, p.context_scale
            ));
        }
        let cfg = self.detector_config()?;
        if i64::from(p.size) != cfg.clip.image_size {
            return bad(format!(
                "preprocessing size {} differs from the CLIP input size {}",
                p.size, cfg.clip.image_size
            ));
        }
        Ok(())
    }

    /// Writes `profile.toml` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot write profile: {e}")))?;
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{PROFILE_FILE}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, dir.join(PROFILE_FILE))?;
        Ok(())
    }
}

fn is_plain_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\\']) && !s.contains('\0')
}

/// Reads and validates `dir/profile.toml`.
pub fn load_profile(dir: &Path) -> Result<Profile> {
    let path = dir.join(PROFILE_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::input(&path, format!("cannot read the model profile: {e}")))?;
    let mut profile: Profile = toml::from_str(&text)
        .map_err(|e| Error::input(&path, format!("not a valid model profile: {e}")))?;
    profile.dir = dir.to_path_buf();
    // Profiles from before preprocessing chains: GenD's published checkpoint is only right with
    // GenD's chain; the fusion profiles were built with the direct one.
    if profile.preprocessing.chain.is_none() {
        profile.preprocessing.chain = Some(if profile.variant == Variant::GenD {
            Chain::Gend
        } else {
            Chain::Direct
        });
    }
    profile.validate()?;
    Ok(profile)
}

/// The folders under `<models_dir>/profiles/` that hold a `profile.toml`, sorted.
fn profile_dirs(models_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(models_dir.join("profiles")) else {
        return vec![];
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join(PROFILE_FILE).is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Every profile under `<models_dir>/profiles/`, sorted by name; unreadable ones as errors.
pub fn list_profiles(models_dir: &Path) -> Vec<Result<Profile>> {
    profile_dirs(models_dir)
        .iter()
        .map(|d| load_profile(d))
        .collect()
}

/// One installed profile as settings and the app list it: `folder` is what `Settings::profile`
/// names; `error` says why an unreadable one cannot be used.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileEntry {
    pub folder: String,
    pub name: Option<String>,
    pub trained: bool,
    pub description: String,
    /// How the profile prepares faces (`Preprocessing::describe`), for the profile card.
    pub preprocessing: Option<String>,
    pub error: Option<String>,
}

/// Every folder under `<models_dir>/profiles/` with a `profile.toml`, sorted, readable or not.
pub fn profile_entries(models_dir: &Path) -> Vec<ProfileEntry> {
    profile_dirs(models_dir)
        .iter()
        .map(|d| {
            let folder = d
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match load_profile(d) {
                Ok(p) => ProfileEntry {
                    folder,
                    name: Some(p.name),
                    trained: p.trained,
                    preprocessing: Some(p.preprocessing.describe()),
                    description: p.description,
                    error: None,
                },
                Err(e) => ProfileEntry {
                    folder,
                    name: None,
                    trained: false,
                    description: String::new(),
                    preprocessing: None,
                    error: Some(e.to_string()),
                },
            }
        })
        .collect()
}

/// Where a base checkpoint lives: the models folder holding the profile (`<models>/profiles/<p>`)
/// first, then the configured models folder.
/// Every weight file of a profile (frozen bases first, then its own), each checked against the
/// SHA-256 the profile records: `(path, role, label, sha256)` plus the `(label, sha256)` list a
/// score records.
#[allow(clippy::type_complexity)]
pub fn verified_files(
    profile_dir: &Path,
    profile: &Profile,
) -> Result<(
    Vec<(PathBuf, WeightRole, String, String)>,
    Vec<(String, String)>,
)> {
    let mut files: Vec<(PathBuf, WeightRole, String, String)> = vec![];
    for w in &profile.base_weights {
        files.push((
            base_path(profile_dir, w)?,
            w.role,
            format!("base:{}/{}", w.model, w.file),
            w.sha256.clone(),
        ));
    }
    for w in &profile.weights {
        files.push((
            profile_dir.join(&w.file),
            w.role,
            w.file.clone(),
            w.sha256.clone(),
        ));
    }
    let mut hashes = vec![];
    for (path, _, label, expected) in &files {
        let actual = sha256_file(path)?;
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(Error::Weights(format!(
                "{}: SHA-256 is {actual}, but profile {:?} expects {expected} — the file was changed or \
                 corrupted; reinstall the model",
                path.display(),
                profile.name
            )));
        }
        hashes.push((label.clone(), actual));
    }
    Ok((files, hashes))
}

fn base_path(profile_dir: &Path, w: &BaseWeight) -> Result<PathBuf> {
    let mut candidates = vec![];
    if let Some(models) = profile_dir
        .parent()
        .filter(|p| p.ends_with("profiles"))
        .and_then(Path::parent)
    {
        candidates.push(models.join("base").join(&w.model).join(&w.file));
    }
    if let Ok(models) = super::models_dir() {
        candidates.push(models.join("base").join(&w.model).join(&w.file));
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            Error::Weights(format!(
                "base weights {}/{} are not installed (looked in {}); run `verity models fetch {}`",
                w.model,
                w.file,
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                w.model
            ))
        })
}

/// One face's result.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceScore {
    /// Probability that the face is fake.
    pub prob: f32,
    pub clip_emb: Vec<f32>,
    pub cnn_emb: Option<Vec<f32>>,
}

/// A profile's detector, built on a device with verified weights, frozen.
#[derive(Debug)]
pub struct LoadedDetector {
    profile: Profile,
    detector: Detector,
    hashes: Vec<(String, String)>,
    device: Device,
    /// Floating-point kind of weights and inputs (fp32, or fp16/bf16 on CUDA).
    kind: Kind,
    /// Batches split after running out of memory (see [`crate::failover`]).
    oom_splits: std::sync::atomic::AtomicUsize,
    // Owns the variables `detector` reads; kept alive for as long as the detector is.
    vs: nn::VarStore,
}

impl LoadedDetector {
    /// Reads the profile, checks every weight file's SHA-256 against it, builds the detector on
    /// `device` and loads the files strictly.
    pub fn load(profile_dir: &Path, device: Device) -> Result<Self> {
        let profile = load_profile(profile_dir)?;
        let cfg = profile.detector_config()?;
        let (files, hashes) = verified_files(profile_dir, &profile)?;
        let mut vs = nn::VarStore::new(device);
        let detector = Detector::new(&vs.root(), &cfg)?;
        let roles: Vec<(&Path, WeightRole)> =
            files.iter().map(|(p, r, _, _)| (p.as_path(), *r)).collect();
        load_detector_weights(&mut vs, &cfg, &roles)
            .map_err(|e| Error::Weights(format!("profile {:?}: {e}", profile.name)))?;
        vs.freeze();
        tracing::info!(profile = %profile.name, trained = profile.trained, ?device, "detector loaded");
        Ok(LoadedDetector {
            profile,
            detector,
            hashes,
            device,
            kind: Kind::Float,
            oom_splits: Default::default(),
            vs,
        })
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The detector, for explainability (gradients are off on its frozen weights).
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Overrides the profile's fusion mode (a setting): α or t, or weighted ↔ slerp, on the same
    /// weights. The profile copy held here records the mode now in use.
    pub fn set_fusion(&mut self, mode: FusionMode) -> Result<()> {
        self.detector.set_fusion(mode)?;
        self.profile.fusion = mode;
        Ok(())
    }

    /// Runs the detector in `kind` (Float, Half or BFloat16). fp16 is for CUDA only (on the
    /// CPU it is refused rather than silently slow); bf16 runs on CUDA and on the CPU (fast
    /// where the CPU has native bf16: `device::resolve_precision` decides).
    pub fn set_precision(&mut self, kind: Kind) -> Result<()> {
        if kind == Kind::Half && !self.device.is_cuda() {
            return Err(Error::Config(
                "fp16 inference needs a CUDA device; use fp32 or bf16 on the CPU".into(),
            ));
        }
        // Mixed precision: encoder matmuls/convolutions in `kind`, norms and the head in fp32.
        crate::models::set_inference_kind(&mut self.vs, kind);
        self.kind = kind;
        Ok(())
    }

    pub fn precision(&self) -> Kind {
        self.kind
    }

    /// The 5-point template (with context) this profile's faces must be aligned to.
    pub fn template(&self) -> AlignTemplate {
        self.profile.preprocessing.align_template()
    }

    /// How this profile's faces are cut (chain, template, input size).
    pub fn crop_spec(&self) -> CropSpec {
        self.profile.preprocessing.crop_spec()
    }

    /// (file, sha256) of every weight file, bases as `base:<model>/<file>`: what a score records.
    pub fn weight_hashes(&self) -> Vec<(String, String)> {
        self.hashes.clone()
    }

    /// Scores aligned faces (each `size × size` as the profile's preprocessing says), in batches
    /// of [`BATCH`], without gradients. CLIP sees CLIP-normalised pixels, the CNN
    /// ImageNet-normalised ones.
    pub fn score(&self, faces: &[&RgbImage]) -> Result<Vec<FaceScore>> {
        let size = self.profile.preprocessing.size;
        if let Some(f) = faces.iter().find(|f| f.dimensions() != (size, size)) {
            return Err(Error::Model(format!(
                "profile {:?} scores aligned {size}×{size} faces, got a {}×{} image",
                self.profile.name,
                f.width(),
                f.height()
            )));
        }
        let mut out = Vec::with_capacity(faces.len());
        for chunk in faces.chunks(BATCH) {
            // A batch that runs out of device memory is halved and retried (down to one face).
            out.extend(crate::failover::split_on_oom(
                chunk,
                &self.oom_splits,
                &mut |part| self.score_batch(part),
            )?);
        }
        Ok(out)
    }

    /// How many times a batch was split after running out of memory (since loading).
    pub fn oom_splits(&self) -> usize {
        self.oom_splits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One forward pass over `faces`; libtorch failures come back typed (out of memory, device
    /// lost) from [`crate::failover::guarded`].
    fn score_batch(&self, faces: &[&RgbImage]) -> Result<Vec<FaceScore>> {
        crate::failover::inject::check("score", faces.len())?;
        crate::failover::guarded(self.device, "scoring faces", || {
            let clip_px = to_tensor(faces, CLIP_MEAN, CLIP_STD)?.to_device(self.device);
            let cnn_px = if self.detector.has_cnn() {
                Some(to_tensor(faces, IMAGENET_MEAN, IMAGENET_STD)?.to_device(self.device))
            } else {
                None
            };
            self.forward_normalised(clip_px, cnn_px)
        })
    }

    /// Scores aligned faces already on the device as `[F,3,S,S]` grey levels (0..=255) — the
    /// device-side alignment's output (`faces::warp_tensor`): normalised there, never copied to
    /// the host. Batches of [`BATCH`], halved and retried when out of memory, as [`Self::score`].
    pub fn score_pixels(&self, crops: &Tensor) -> Result<Vec<FaceScore>> {
        let size = self.profile.preprocessing.size as i64;
        let dims = crops.size();
        if dims.len() != 4 || dims[1] != 3 || dims[2] != size || dims[3] != size {
            return Err(Error::Model(format!(
                "profile {:?} scores [F,3,{size},{size}] crops, got {dims:?}",
                self.profile.name
            )));
        }
        let rows: Vec<i64> = (0..dims[0]).collect();
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(BATCH) {
            out.extend(crate::failover::split_on_oom(
                chunk,
                &self.oom_splits,
                &mut |part| {
                    crate::failover::inject::check("score", part.len())?;
                    crate::failover::guarded(self.device, "scoring faces", || {
                        let px = crops
                            .f_narrow(0, part[0], part.len() as i64)?
                            .f_to_device(self.device)?;
                        let clip_px =
                            crate::faces::warp_tensor::normalise(&px, CLIP_MEAN, CLIP_STD)?;
                        let cnn_px = if self.detector.has_cnn() {
                            Some(crate::faces::warp_tensor::normalise(
                                &px,
                                IMAGENET_MEAN,
                                IMAGENET_STD,
                            )?)
                        } else {
                            None
                        };
                        self.forward_normalised(clip_px, cnn_px)
                    })
                },
            )?);
        }
        Ok(out)
    }

    /// One forward pass over normalised fp32 pixels on the device (cast to the run precision).
    fn forward_normalised(
        &self,
        clip_px: Tensor,
        cnn_px: Option<Tensor>,
    ) -> Result<Vec<FaceScore>> {
        {
            let clip_px = clip_px.to_kind(self.kind);
            let cnn_px = cnn_px.map(|t| t.to_kind(self.kind));
            let o = tch::no_grad(|| self.detector.forward(&clip_px, cnn_px.as_ref(), false))?;
            let prob = to_vec(&o.prob)?;
            let clip = to_rows(&o.clip_emb)?;
            let cnn = o.cnn_emb.as_ref().map(to_rows).transpose()?;
            Ok(prob
                .into_iter()
                .zip(clip)
                .enumerate()
                .map(|(i, (prob, clip_emb))| FaceScore {
                    prob,
                    clip_emb,
                    cnn_emb: cnn.as_ref().map(|c| c[i].clone()),
                })
                .collect())
        }
    }
}

fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    Ok(Vec::<f32>::try_from(
        t.to_device(Device::Cpu).to_kind(Kind::Float).flatten(0, -1),
    )?)
}

fn to_rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    let width = t.size().last().copied().unwrap_or(0).max(1) as usize;
    Ok(to_vec(t)?.chunks(width).map(<[f32]>::to_vec).collect())
}

/// Re-draws every randomly initialised variable from a generator keyed by `(seed, name)`, so the
/// same seed gives bit-identical weights whatever else the process does with libtorch's one global
/// generator (`tch::manual_seed` is not enough once other threads draw from it). Variables
/// initialised to a constant (LayerNorm/BatchNorm weights, biases and running statistics) keep
/// it; the others become U(−b, b) with b = 1/√fan_in, PyTorch's default scale for linear and
/// convolution layers (fan_in = the product of all but the first dimension; the length for
/// vectors). Only the weights' scale matters for an untrained profile, not their exact law.
fn reinit_seeded(vs: &nn::VarStore, seed: i64) -> Result<()> {
    for (name, var) in vs.variables() {
        let numel = var.numel();
        let constant = numel > 1 && (var.max() - var.min()).double_value(&[]) == 0.0;
        if constant || !var.is_floating_point() {
            continue;
        }
        let size = var.size();
        let fan_in: i64 = if size.len() >= 2 {
            size[1..].iter().product()
        } else {
            size.iter().product()
        };
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        // SplitMix64 (Steele et al. 2014), seeded with FNV-1a of the name mixed with the seed.
        let mut state = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        }) ^ (seed as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let data: Vec<f32> = (0..numel)
            .map(|_| (((next() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * bound) as f32)
            .collect();
        let values = Tensor::from_slice(&data)
            .view(size.as_slice())
            .to_kind(var.kind());
        tch::no_grad(|| var.shallow_clone().f_copy_(&values))?;
    }
    Ok(())
}

/// Writes a profile with random weights (`cfg_name` from `detector::PRESETS`, seeded) into
/// `out`: `model.safetensors` + `profile.toml`, `trained = false`, name `<cfg_name>-untrained`.
/// For trying the pipeline end to end before real weights are installed — never for verdicts.
pub fn create_random_profile(out: &Path, cfg_name: &str, seed: i64) -> Result<Profile> {
    let cfg = DetectorConfig::preset(cfg_name)?;
    let clip = match (cfg.clip.hidden_size, cfg.clip.num_hidden_layers) {
        (1024, 24) => "vit-l14",
        _ => "tiny",
    };
    let clip_cfg = clip_preset(clip)?;
    if clip_cfg.vision != cfg.clip {
        return Err(Error::Other(format!(
            "configuration {cfg_name:?} uses a CLIP without a preset name"
        )));
    }
    let vs = nn::VarStore::new(Device::Cpu);
    let _detector = Detector::new(&vs.root(), &cfg)?;
    reinit_seeded(&vs, seed)?;
    std::fs::create_dir_all(out)
        .map_err(|e| Error::input(out, format!("cannot create the profile folder: {e}")))?;
    let weights = out.join("model.safetensors");
    vs.save(&weights)
        .map_err(|e| Error::input(&weights, format!("cannot write weights: {e}")))?;
    let profile = Profile::untrained_for(
        &cfg,
        format!("{cfg_name}-untrained"),
        format!("random weights (seed {seed}) for configuration {cfg_name:?}; for testing the pipeline only"),
        clip,
        out,
        sha256_file(&weights)?,
        vec![],
    );
    profile.validate()?;
    profile.save(out)?;
    Ok(profile)
}
