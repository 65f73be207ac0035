//! The LNCLIP-DF training loop: a profile's detector fine-tuned on face crops with CLIP frozen
//! except its LayerNorm γ/β, the fusion and head trainable, and the forensic CNN frozen or
//! trainable.
//!
//! Recipe: A. Yermakov, J. Cech, J. Matas, M. Fritz, "Deepfake Detection that Generalizes Across
//! Benchmarks", WACV 2026 (LNCLIP-DF), as released in `github:yermandy/GenD` (`src/model/GenD.py`:
//! LayerNorm-only unfreezing, AdamW with no decay on biases and norms, cosine schedule with
//! linear warm-up, cross-entropy + uniformity 0.5 + alignment 0.1 on the L2-normalised features,
//! SLERP feature augmentation). The losses are in [`super::losses`].
//!
//! Implementation notes:
//! - AdamW is written out here (PyTorch's `torch.optim.AdamW` update, decoupled weight decay), so
//!   its moments can be saved in a checkpoint and a run resumed exactly; tch's optimiser does not
//!   expose its state.
//! - The head is re-applied here to the (possibly SLERP-augmented) fused features: the detector
//!   gives the fused vector, and [`Trainer::head_logits`] reads the head's own variables
//!   (`head.fc1/fc2` or GenD's `model.linear`); a test checks it equals the detector's logit.
//! - A frozen CNN runs in inference mode (BatchNorm uses its running statistics and does not
//!   update them), so every frozen tensor is bit-identical after a step; head dropout stays on.
//! - On CUDA the forward runs under autocast (fp16) with a dynamic loss scale (PyTorch's
//!   `GradScaler` rule: halve and skip on overflow, double after 2000 good steps); on the CPU
//!   everything is fp32.
//! - Determinism: the epoch order, flips and SLERP partners come from [`Rng`] seeded by the run
//!   seed and the epoch; libtorch's generator (dropout) is re-seeded at each epoch, so a resumed
//!   run continues exactly as an uninterrupted one would (on the CPU).
use super::dataset::{epoch_order, load_crop, Dataset, Sample};
use super::losses::{self, LossConfig, LossWeights};
use super::metrics::{self, Report};
use super::Rng;
use crate::config::Thresholds;
use crate::faces::align::{to_tensor, CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD};
use crate::models::clip::{freeze_all_but_layernorm, ClipText, ParamCount};
use crate::models::detector::{
    clip_preset, load_detector_weights, Detector, DetectorConfig, Variant, WeightRole,
};
use crate::models::profile::{load_profile, verified_files, LoadedDetector, Profile, WeightFile};
use crate::models::tokenizer::ClipTokenizer;
use crate::models::weights::{self, read_header, sha256_file};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// The text prompts of the image–text loss, class 0 (real) then class 1 (fake).
pub const PROMPTS: [&str; 2] = ["a photo of a real face", "a photo of a deepfake face"];

/// How a profile was trained: the `[training]` table of the profile.toml that [`train`] writes
/// (absent in profiles made otherwise; older profiles load without it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// The parent profile's name.
    pub parent: String,
    pub epochs: usize,
    pub steps: u64,
    pub seed: u64,
    pub lr: f64,
    pub batch_size: usize,
    pub train_cnn: bool,
    /// Where the image–text term's prompt embeddings came from (absent when its weight is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_prompts: Option<String>,
    /// The loss weights (`[training.losses.weights]`) and their hyper-parameters.
    pub losses: LossConfig,
}

/// Training settings. `Default` is the LNCLIP-DF recipe at a small batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub epochs: usize,
    /// Faces per forward pass.
    pub batch_size: usize,
    /// Forward passes per optimiser step (effective batch = batch_size × accumulate).
    pub accumulate: usize,
    /// Peak learning rate (GenD: 3e-4).
    pub lr: f64,
    /// Learning rate at the end of the cosine decay (GenD: 1e-5).
    pub min_lr: f64,
    /// Decoupled weight decay for weights (not biases or normalisation parameters).
    pub weight_decay: f64,
    pub betas: [f64; 2],
    pub eps: f64,
    /// Share of the optimiser steps spent warming up linearly from `min_lr` to `lr`.
    pub warmup_fraction: f64,
    pub seed: u64,
    /// Train the forensic CNN too (else it stays frozen, in inference mode).
    pub train_cnn: bool,
    pub losses: LossConfig,
    /// Add one SLERP-interpolated feature per sample (same class) before the head.
    pub slerp: bool,
    /// Random horizontal flips of the training crops.
    pub hflip: bool,
    /// fp16 autocast with loss scaling on CUDA (ignored on the CPU).
    pub mixed_precision: bool,
    /// Review band for the evaluation.
    pub thresholds: Thresholds,
    /// Continue from the checkpoint in the output folder when there is one.
    pub resume: bool,
    /// Also evaluate the parent profile before training (for before/after comparisons).
    pub eval_before: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            accumulate: 1,
            lr: 3e-4,
            min_lr: 1e-5,
            weight_decay: 0.0,
            betas: [0.9, 0.999],
            eps: 1e-8,
            warmup_fraction: 0.05,
            seed: 0,
            train_cnn: false,
            losses: LossConfig::default(),
            slerp: true,
            hflip: true,
            mixed_precision: true,
            thresholds: Thresholds::default(),
            resume: true,
            eval_before: true,
        }
    }
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("training: {m}")));
        if self.epochs == 0 || self.batch_size == 0 || self.accumulate == 0 {
            return bad(format!(
                "epochs ({}), batch size ({}) and accumulation ({}) must be at least 1",
                self.epochs, self.batch_size, self.accumulate
            ));
        }
        if self.batch_size < 2 {
            return bad(
                "the batch size must be at least 2 (the embedding losses compare pairs)".into(),
            );
        }
        if !(self.lr > 0.0 && self.lr.is_finite() && (0.0..=self.lr).contains(&self.min_lr)) {
            return bad(format!(
                "need 0 ≤ min_lr ≤ lr and lr > 0 (lr {}, min_lr {})",
                self.lr, self.min_lr
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!(
                "weight decay must be ≥ 0, not {}",
                self.weight_decay
            ));
        }
        if self.betas.iter().any(|b| !(0.0..1.0).contains(b))
            || self.eps.is_nan()
            || self.eps <= 0.0
        {
            return bad(format!(
                "bad AdamW betas {:?} / eps {}",
                self.betas, self.eps
            ));
        }
        if !(0.0..1.0).contains(&self.warmup_fraction) {
            return bad(format!(
                "warm-up fraction must be in [0, 1), not {}",
                self.warmup_fraction
            ));
        }
        if self.thresholds.real > self.thresholds.fake {
            return bad("the real threshold is above the fake threshold".into());
        }
        self.losses.validate()?;
        self.losses.weights.validate_for_training()
    }
}

impl TrainConfig {
    /// What these settings need of the parent profile, checked before any data is prepared: the
    /// image–text term needs CLIP's projected embedding, which the GenD layout does not compute.
    pub fn check_profile(&self, parent: &Profile) -> Result<()> {
        if self.losses.weights.image_text > 0.0 && parent.variant == Variant::GenD {
            return Err(Error::Config(format!(
                "the image–text loss (text={}) needs CLIP's projected embedding, which profile \
                 {:?} (GenD layout) does not compute; set its weight to 0 (text=0)",
                self.losses.weights.image_text, parent.name
            )));
        }
        if self.train_cnn && parent.cnn == crate::models::detector::CnnKind::None {
            return Err(Error::Config(format!(
                "profile {:?} has no CNN to train",
                parent.name
            )));
        }
        Ok(())
    }
}

/// Learning rate at optimiser step `step` (0-based) of `total`: linear warm-up from `min_lr` over
/// `warmup` steps, then cosine decay to `min_lr` (GenD: `LinearLR` then `CosineAnnealingLR`).
pub fn learning_rate(cfg: &TrainConfig, step: u64, total: u64) -> f64 {
    let total = total.max(1);
    let warmup = (cfg.warmup_fraction * total as f64).round() as u64;
    if step < warmup {
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * step as f64 / warmup as f64;
    }
    let span = (total - warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// AdamW (I. Loshchilov & F. Hutter, "Decoupled Weight Decay Regularization", ICLR 2019), the
/// update of `torch.optim.AdamW` (non-amsgrad, non-fused):
/// p ← p·(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    pub betas: [f64; 2],
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    /// Step `step` (1-based) on one tensor, in place, without recording gradients. `decay`
    /// false skips the weight decay (biases, normalisation parameters).
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &self,
        var: &mut Tensor,
        grad: &Tensor,
        m: &mut Tensor,
        v: &mut Tensor,
        step: u64,
        lr: f64,
        decay: bool,
    ) {
        let [b1, b2] = self.betas;
        let t = step.min(i32::MAX as u64) as i32;
        let (bc1, bc2) = (1.0 - b1.powi(t), 1.0 - b2.powi(t));
        tch::no_grad(|| {
            let g = grad.to_kind(var.kind());
            if decay && self.weight_decay > 0.0 {
                let _ = var.g_mul_scalar_(1.0 - lr * self.weight_decay);
            }
            let _ = m.g_mul_scalar_(b1);
            let _ = m.g_add_(&(&g * (1.0 - b1)));
            let _ = v.g_mul_scalar_(b2);
            let _ = v.g_add_(&(g.square() * (1.0 - b2)));
            let denom = v.sqrt() / bc2.sqrt() + self.eps;
            let _ = var.g_sub_(&(&*m / denom * (lr / bc1)));
        });
    }
}

/// One trainable tensor with its AdamW moments.
struct Param {
    name: String,
    var: Tensor,
    decay: bool,
    m: Tensor,
    v: Tensor,
}

/// What one optimiser step reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepLog {
    pub step: u64,
    pub lr: f64,
    pub loss: f64,
    pub parts: BTreeMap<String, f64>,
    /// False when fp16 overflowed and the step was skipped (loss scale halved).
    pub applied: bool,
}

/// Per-epoch summary (one JSON line of `train_log.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub steps: u64,
    pub lr: f64,
    /// Mean total training loss over the epoch's batches.
    pub loss: f64,
    pub parts: BTreeMap<String, f64>,
    pub seconds: f64,
    pub val_auc: Option<f64>,
    pub val_eer: Option<f64>,
    pub val_ap: Option<f64>,
    pub val_ece: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// The weights the epoch's loss was computed with (`loss` = Σ weight × `parts`).
    #[serde(default)]
    pub loss_weights: LossWeights,
}

/// Live progress for a progress bar.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TrainProgress {
    Step {
        epoch: usize,
        epochs: usize,
        step: u64,
        total_steps: u64,
        loss: f64,
        lr: f64,
    },
    Evaluating {
        epoch: usize,
        done: usize,
        total: usize,
    },
    EpochDone(EpochLog),
}

/// The trainable detector of one profile on one device.
pub struct Trainer {
    parent: Profile,
    parent_hashes: Vec<(String, String)>,
    cfg: TrainConfig,
    dcfg: DetectorConfig,
    vs: nn::VarStore,
    detector: Detector,
    params: Vec<Param>,
    /// Tensors a training step may change: the trainable ones plus, when the CNN is trained,
    /// its BatchNorm running statistics.
    changing: Vec<String>,
    count: ParamCount,
    text: Option<Tensor>,
    /// Where [`Self::text`] came from, for the profile's training record.
    text_source: Option<String>,
    /// The parent's weight files (verified), their roles and labels.
    files: Vec<(PathBuf, WeightRole, String)>,
    device: Device,
    size: u32,
    /// Optimiser steps done.
    step: u64,
    /// Epochs finished.
    epochs_done: usize,
    /// fp16 loss scale (None: fp32).
    scale: Option<LossScale>,
    micro: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
struct LossScale {
    scale: f64,
    good_steps: u64,
}

/// Variables of `vs`, sorted by name.
fn sorted_vars(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn is_running_stat(name: &str) -> bool {
    name.ends_with(".running_mean") || name.ends_with(".running_var")
}

/// Where a profile's base checkpoint is installed (the same rule as profile loading:
/// `<models>/base/<model>/<file>`, the models folder holding the profile first).
impl Trainer {
    /// Loads the profile in `parent_dir` (weights verified against their SHA-256, loaded
    /// strictly) on `device` and makes LayerNorm, fusion and head (and the CNN when configured)
    /// trainable.
    pub fn new(parent_dir: &Path, cfg: &TrainConfig, device: Device) -> Result<Self> {
        cfg.validate()?;
        let parent = load_profile(parent_dir)?;
        let dcfg = parent.detector_config()?;
        cfg.check_profile(&parent)?;
        let (files, parent_hashes) = verified_files(parent_dir, &parent)?;
        let mut vs = nn::VarStore::new(device);
        let detector = Detector::new(&vs.root(), &dcfg)?;
        let roles: Vec<(&Path, WeightRole)> =
            files.iter().map(|(p, r, _, _)| (p.as_path(), *r)).collect();
        load_detector_weights(&mut vs, &dcfg, &roles)
            .map_err(|e| Error::Weights(format!("profile {:?}: {e}", parent.name)))?;

        let mut keep: Vec<&str> = match dcfg.variant {
            Variant::Fusion => vec!["fusion.", "head."],
            Variant::GenD => vec!["model."],
        };
        if cfg.train_cnn {
            if !detector.has_cnn() {
                return Err(Error::Config(format!(
                    "profile {:?} has no CNN to train",
                    parent.name
                )));
            }
            keep.push("cnn.");
        }
        freeze_all_but_layernorm(&mut vs, &keep);
        let mut params = vec![];
        let mut changing = vec![];
        let (mut trainable, mut total) = (0i64, 0i64);
        for (name, var) in sorted_vars(&vs) {
            total += var.numel() as i64;
            if is_running_stat(&name) || !var.is_floating_point() {
                // BatchNorm statistics are buffers, never optimised; they change only when the
                // CNN runs in training mode.
                let _ = var.set_requires_grad(false);
                if cfg.train_cnn && name.starts_with("cnn.") {
                    changing.push(name);
                }
                continue;
            }
            if !var.requires_grad() {
                continue;
            }
            trainable += var.numel() as i64;
            let last = name.rsplit('.').next().unwrap_or("");
            let decay = !(last == "bias"
                || name.contains("norm")
                || name.contains("layrnorm")
                || name.contains(".bn"));
            changing.push(name.clone());
            params.push(Param {
                m: var.zeros_like(),
                v: var.zeros_like(),
                name,
                var,
                decay,
            });
        }
        changing.sort();
        let count = ParamCount {
            trainable,
            total,
            percent: if total > 0 {
                100.0 * trainable as f64 / total as f64
            } else {
                0.0
            },
        };
        let scale = (cfg.mixed_precision && device.is_cuda()).then_some(LossScale {
            scale: 65536.0,
            good_steps: 0,
        });
        tracing::info!(
            profile = %parent.name, trainable, total, ?device,
            "training: LayerNorm + fusion + head{}", if cfg.train_cnn { " + CNN" } else { "" }
        );
        Ok(Trainer {
            size: parent.preprocessing.size,
            parent,
            parent_hashes,
            cfg: cfg.clone(),
            dcfg,
            vs,
            detector,
            params,
            changing,
            count,
            text: None,
            text_source: None,
            files: files
                .iter()
                .map(|(p, r, label, _)| (p.clone(), *r, label.clone()))
                .collect(),
            device,
            step: 0,
            epochs_done: 0,
            scale,
            micro: 0,
        })
    }

    pub fn param_count(&self) -> ParamCount {
        self.count
    }

    pub fn parent(&self) -> &Profile {
        &self.parent
    }

    /// Names of the tensors a training step may change (everything else stays bit-identical).
    pub fn trainable_names(&self) -> &[String] {
        &self.changing
    }

    /// Every variable of the detector (shallow copies), for inspection.
    pub fn variables(&self) -> HashMap<String, Tensor> {
        self.vs.variables()
    }

    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    pub fn steps_done(&self) -> u64 {
        self.step
    }

    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Sets the CLIP text embeddings of [`PROMPTS`] ([2, projection_dim]) for the image–text loss.
    pub fn set_text_embeddings(&mut self, text: &Tensor) -> Result<()> {
        let want = [2, self.dcfg.projection_dim];
        if text.size() != want {
            return Err(Error::Model(format!(
                "text-prompt embeddings must be {want:?}, got {:?}",
                text.size()
            )));
        }
        self.text = Some(text.to_device(self.device).to_kind(Kind::Float).detach());
        Ok(())
    }

    /// Sets the image–text term's prompt embeddings from CLIP's text tower (see
    /// [`prompt_embeddings`]), read from the parent's weight file that holds `text_model.*` and
    /// `text_projection.weight` (the CLIP base checkpoint of a composed profile). A profile whose
    /// encoders are all random (`models random` and its children, UNTRAINED) has no text tower:
    /// it gets one of random weights seeded by the run's seed, so the recipe runs end to end
    /// without pretending to be anything but random. Any other profile without a text tower is
    /// refused. Returns where the embeddings came from (recorded in the trained profile).
    pub fn load_prompt_embeddings(&mut self) -> Result<String> {
        if self.dcfg.variant == Variant::GenD {
            return Err(Error::Config(format!(
                "the image–text loss needs CLIP's projected embedding, which profile {:?} (GenD \
                 layout) does not compute; set its weight to 0 (text=0)",
                self.parent.name
            )));
        }
        let clip = clip_preset(&self.parent.clip)?;
        let mut vs = nn::VarStore::new(self.device);
        // Seeded, so a random tower (below) is the same on every run of this seed; loaded
        // weights replace these values.
        tch::manual_seed((self.cfg.seed as i64).wrapping_add(0x7e47));
        let tower = ClipText::new(&vs.root(), &clip.text, Some(self.dcfg.projection_dim));
        let mut found = None;
        for (path, _, label) in &self.files {
            let header = read_header(path)?;
            if header.contains_key("text_projection.weight")
                && header.keys().any(|k| k.starts_with("text_model."))
            {
                found = Some((path.clone(), label.clone()));
                break;
            }
        }
        let source = match found {
            Some((path, label)) => {
                let keep = |n: &str| {
                    (n.starts_with("text_model.") || n.starts_with("text_projection."))
                        && !n.ends_with(".position_ids")
                };
                let ignore = |n: &str| !keep(n);
                let same = |_: &str| None;
                weights::load_sources(
                    &mut vs,
                    &[weights::Source {
                        path: &path,
                        rename: &same,
                        ignore: &ignore,
                        overrides: false,
                    }],
                )
                .map_err(|e| {
                    Error::Weights(format!(
                        "the image–text loss reads CLIP's text tower from {}, which does not \
                         fit CLIP preset {:?}: {e}",
                        path.display(),
                        self.parent.clip
                    ))
                })?;
                format!("CLIP text tower of {label}")
            }
            None if self.parent.random_encoders() => format!(
                "random text tower (seed {}): profile {:?} holds random weights (UNTRAINED)",
                self.cfg.seed, self.parent.name
            ),
            None => {
                return Err(Error::Config(format!(
                    "the image–text loss (text=…) needs CLIP's text tower (text_model.* and \
                     text_projection.weight), which none of profile {:?}'s weight files holds \
                     ({}); set its weight to 0 (text=0) or build the profile on the full CLIP \
                     checkpoint (`verity models compose`)",
                    self.parent.name,
                    self.files
                        .iter()
                        .map(|(_, _, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        let tok = ClipTokenizer::from_default_path()?;
        let text = prompt_embeddings(&tower, &tok, self.device)?;
        self.set_text_embeddings(&text)?;
        self.text_source = Some(source.clone());
        Ok(source)
    }

    /// The record of this run written into the trained profile's `[training]` table.
    pub fn training_record(&self) -> TrainingRecord {
        TrainingRecord {
            parent: self.parent.name.clone(),
            epochs: self.epochs_done,
            steps: self.step,
            seed: self.cfg.seed,
            lr: self.cfg.lr,
            batch_size: self.cfg.batch_size,
            train_cnn: self.cfg.train_cnn,
            text_prompts: (self.cfg.losses.weights.image_text > 0.0)
                .then(|| self.text_source.clone())
                .flatten(),
            losses: self.cfg.losses,
        }
    }

    /// The head applied to `fused` (the detector's own head variables): a logit per row.
    pub fn head_logits(&self, fused: &Tensor, train: bool) -> Result<Tensor> {
        let vars = self.vs.variables();
        let get = |n: &str| {
            vars.get(n).map(|t| t.shallow_clone()).ok_or_else(|| {
                Error::Model(format!("the detector has no variable {n:?} for its head"))
            })
        };
        let x = fused.to_kind(Kind::Float);
        Ok(match self.dcfg.variant {
            Variant::Fusion => {
                let (w1, b1) = (get("head.fc1.weight")?, get("head.fc1.bias")?);
                let (w2, b2) = (get("head.fc2.weight")?, get("head.fc2.bias")?);
                x.linear(&w1, Some(&b1))
                    .gelu("none")
                    .dropout(self.dcfg.dropout, train)
                    .linear(&w2, Some(&b2))
                    .squeeze_dim(1)
            }
            Variant::GenD => {
                let (w, b) = (get("model.linear.weight")?, get("model.linear.bias")?);
                let logits = x.linear(&w, Some(&b));
                logits.select(1, 1) - logits.select(1, 0)
            }
        })
    }

    /// Pixels and labels of a batch: CLIP-normalised (and ImageNet-normalised for the CNN).
    fn load_batch(
        &self,
        samples: &[&Sample],
        flips: &[bool],
    ) -> Result<(Tensor, Option<Tensor>, Tensor)> {
        let mut crops = Vec::with_capacity(samples.len());
        for (s, &flip) in samples.iter().zip(flips) {
            let img = load_crop(s, self.size)?;
            crops.push(if flip {
                image::imageops::flip_horizontal(&img)
            } else {
                img
            });
        }
        let refs: Vec<&image::RgbImage> = crops.iter().collect();
        let clip = to_tensor(&refs, CLIP_MEAN, CLIP_STD)?.to_device(self.device);
        let cnn = if self.detector.has_cnn() {
            Some(to_tensor(&refs, IMAGENET_MEAN, IMAGENET_STD)?.to_device(self.device))
        } else {
            None
        };
        let labels: Vec<f32> = samples.iter().map(|s| s.fake as u8 as f32).collect();
        Ok((
            clip,
            cnn,
            Tensor::from_slice(&labels).to_device(self.device),
        ))
    }

    /// Forward and backward of one micro-batch; gradients accumulate until [`Self::apply_step`].
    /// Returns the total loss and its terms.
    pub fn accumulate(
        &mut self,
        samples: &[&Sample],
        rng: &mut Rng,
    ) -> Result<(f64, BTreeMap<String, f64>)> {
        if samples.len() < 2 {
            return Err(Error::Model(
                "a training batch needs at least 2 faces".into(),
            ));
        }
        let flips: Vec<bool> = samples
            .iter()
            .map(|_| self.cfg.hflip && rng.chance(0.5))
            .collect();
        let (clip, cnn, labels) = self.load_batch(samples, &flips)?;
        let mixed = self.scale.is_some();
        // A frozen CNN runs in inference mode (see the module doc); CLIP has no dropout or
        // BatchNorm, so the flag only matters for the CNN.
        let out = tch::autocast(mixed, || {
            self.detector
                .forward(&clip, cnn.as_ref(), self.cfg.train_cnn)
        })?;
        let fused = out.fused.to_kind(Kind::Float);
        let (emb, lab) = if self.cfg.slerp {
            let (aug, aug_labels) = losses::slerp_augment(&fused, &labels, rng)?;
            (
                Tensor::cat(&[&fused, &aug], 0),
                Tensor::cat(&[&labels, &aug_labels], 0),
            )
        } else {
            (fused, labels.shallow_clone())
        };
        let logits = self.head_logits(&emb, true)?;
        let mut lc = self.cfg.losses;
        let text_weight = lc.weights.image_text;
        lc.weights.image_text = 0.0;
        let terms = losses::total_loss(&lc, &logits, &lab, &emb, None)?;
        let mut total = terms.total;
        let mut parts: BTreeMap<String, f64> = terms
            .parts
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        if text_weight > 0.0 {
            let text = self.text.as_ref().ok_or_else(|| {
                Error::Config(
                    "the image–text loss is weighted but no text-prompt embeddings were set".into(),
                )
            })?;
            let it = losses::image_text(
                &out.clip_emb.to_kind(Kind::Float),
                text,
                &labels,
                self.cfg.losses.text_scale,
            );
            parts.insert("image_text".into(), it.double_value(&[]));
            total += it * text_weight;
        }
        let value = total.double_value(&[]);
        if !value.is_finite() {
            return Err(Error::Model(format!(
                "the training loss is not finite ({value}); lower the learning rate"
            )));
        }
        let scale = self.scale.map_or(1.0, |s| s.scale);
        (total * (scale / self.cfg.accumulate as f64)).backward();
        self.micro += 1;
        Ok((value, parts))
    }

    /// One AdamW step with the accumulated gradients at learning rate `lr`, then zero them.
    /// Returns false when the step was skipped (fp16 overflow).
    pub fn apply_step(&mut self, lr: f64) -> Result<bool> {
        let [b1, b2] = self.cfg.betas;
        let scale = self.scale.map_or(1.0, |s| s.scale);
        let grads: Vec<Option<Tensor>> = self
            .params
            .iter()
            .map(|p| {
                let g = p.var.grad();
                g.defined().then(|| g / scale)
            })
            .collect();
        let finite = grads
            .iter()
            .flatten()
            .all(|g| g.isfinite().all().int64_value(&[]) == 1);
        for p in &mut self.params {
            let mut g = p.var.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        self.micro = 0;
        if let Some(s) = &mut self.scale {
            if !finite {
                s.scale /= 2.0;
                s.good_steps = 0;
                return Ok(false);
            }
            s.good_steps += 1;
            if s.good_steps % 2000 == 0 {
                s.scale *= 2.0;
            }
        } else if !finite {
            return Err(Error::Model(
                "gradients are not finite; lower the learning rate".into(),
            ));
        }
        self.step += 1;
        let opt = AdamW {
            betas: [b1, b2],
            eps: self.cfg.eps,
            weight_decay: self.cfg.weight_decay,
        };
        for (p, g) in self.params.iter_mut().zip(grads) {
            if let Some(g) = g {
                opt.update(&mut p.var, &g, &mut p.m, &mut p.v, self.step, lr, p.decay);
            }
        }
        Ok(true)
    }

    /// One micro-batch and one optimiser step at `lr` (no accumulation).
    pub fn step(&mut self, samples: &[&Sample], lr: f64, rng: &mut Rng) -> Result<StepLog> {
        let (loss, parts) = self.accumulate(samples, rng)?;
        let applied = self.apply_step(lr)?;
        Ok(StepLog {
            step: self.step,
            lr,
            loss,
            parts,
            applied,
        })
    }

    /// Scores `samples` with the detector in inference mode (no gradients); `cancel` is
    /// checked before every batch (`Error::Cancelled`).
    pub fn scores(
        &self,
        samples: &[Sample],
        progress: &dyn Fn(usize, usize),
        cancel: &AtomicBool,
    ) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(samples.len());
        let bs = self.cfg.batch_size.max(1);
        for chunk in samples.chunks(bs) {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            progress(out.len(), samples.len());
            let refs: Vec<&Sample> = chunk.iter().collect();
            let (clip, cnn, _) = self.load_batch(&refs, &vec![false; refs.len()])?;
            let o = tch::no_grad(|| {
                tch::autocast(self.scale.is_some(), || {
                    self.detector.forward(&clip, cnn.as_ref(), false)
                })
            })?;
            let p = Vec::<f32>::try_from(o.prob.to_kind(Kind::Float).to_device(Device::Cpu))?;
            out.extend(p.into_iter().map(f64::from));
        }
        progress(out.len(), samples.len());
        Ok(out)
    }

    /// Scores and metrics of `samples` (cancellable between batches).
    pub fn evaluate(&self, samples: &[Sample], cancel: &AtomicBool) -> Result<(Vec<f64>, Report)> {
        let scores = self.scores(samples, &|_, _| {}, cancel)?;
        let labels: Vec<bool> = samples.iter().map(|s| s.fake).collect();
        let report = metrics::evaluate(&scores, &labels, &self.cfg.thresholds)?;
        Ok((scores, report))
    }

    /// Writes the resumable state into `dir`: the changing tensors, the AdamW moments
    /// (`param/…`, `adam_m/…`, `adam_v/…` in `checkpoint.safetensors`) and `checkpoint.json`
    /// (steps, epochs, loss scale, the parent profile's weight hashes, the config).
    pub fn save_checkpoint(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::input(dir, format!("cannot create the checkpoint folder: {e}")))?;
        let vars = self.vs.variables();
        let mut tensors: Vec<(String, Tensor)> = vec![];
        for n in &self.changing {
            tensors.push((
                format!("param/{n}"),
                vars[n].detach().to_device(Device::Cpu),
            ));
        }
        for p in &self.params {
            tensors.push((format!("adam_m/{}", p.name), p.m.to_device(Device::Cpu)));
            tensors.push((format!("adam_v/{}", p.name), p.v.to_device(Device::Cpu)));
        }
        let st = dir.join("checkpoint.safetensors");
        let tmp = dir.join(".checkpoint.safetensors.tmp");
        Tensor::write_safetensors(&tensors, &tmp)
            .map_err(|e| Error::input(&tmp, format!("cannot write the checkpoint: {e}")))?;
        std::fs::rename(&tmp, &st)?;
        let state = CheckpointState {
            steps: self.step,
            epochs_done: self.epochs_done,
            loss_scale: self.scale,
            parent: self.parent.name.clone(),
            parent_hashes: self.parent_hashes.clone(),
            config: self.cfg.clone(),
            tensors_sha256: sha256_file(&st)?,
        };
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| Error::Other(format!("cannot write checkpoint state: {e}")))?;
        let tmp = dir.join(".checkpoint.json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, dir.join("checkpoint.json"))?;
        Ok(())
    }

    /// Restores a checkpoint written by [`Self::save_checkpoint`] for the same parent profile
    /// (same weight hashes) and the same settings (the number of epochs may differ).
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("checkpoint.json");
        let text = std::fs::read(&path)
            .map_err(|e| Error::input(&path, format!("cannot read the checkpoint: {e}")))?;
        let state: CheckpointState = serde_json::from_slice(&text)
            .map_err(|e| Error::input(&path, format!("not a training checkpoint: {e}")))?;
        if state.parent_hashes != self.parent_hashes {
            return Err(Error::Config(format!(
                "the checkpoint in {} was trained from profile {:?} with other weights; start a \
                 new run in another folder",
                dir.display(),
                state.parent
            )));
        }
        let mut a = state.config.clone();
        let mut b = self.cfg.clone();
        (
            a.epochs,
            b.epochs,
            a.resume,
            b.resume,
            a.eval_before,
            b.eval_before,
        ) = (0, 0, false, false, false, false);
        if a != b {
            return Err(Error::Config(format!(
                "the checkpoint in {} was made with other training settings; use the same \
                 settings to resume, or another output folder",
                dir.display()
            )));
        }
        let st = dir.join("checkpoint.safetensors");
        if sha256_file(&st)? != state.tensors_sha256 {
            return Err(Error::input(
                &st,
                "the checkpoint file is damaged (SHA-256 mismatch)",
            ));
        }
        let file: HashMap<String, Tensor> = Tensor::read_safetensors(&st)
            .map_err(|e| Error::input(&st, format!("cannot read the checkpoint: {e}")))?
            .into_iter()
            .collect();
        let vars = self.vs.variables();
        let take = |key: String| {
            file.get(&key).ok_or_else(|| {
                Error::input(
                    &st,
                    format!("the checkpoint lacks {key}; it belongs to another model"),
                )
            })
        };
        tch::no_grad(|| -> Result<()> {
            for n in &self.changing {
                let t = take(format!("param/{n}"))?;
                vars[n].shallow_clone().f_copy_(t)?;
            }
            for p in &mut self.params {
                p.m.f_copy_(take(format!("adam_m/{}", p.name))?)?;
                p.v.f_copy_(take(format!("adam_v/{}", p.name))?)?;
            }
            Ok(())
        })?;
        self.step = state.steps;
        self.epochs_done = state.epochs_done;
        self.scale = state
            .loss_scale
            .filter(|_| self.scale.is_some())
            .or(self.scale);
        Ok(())
    }

    /// Writes the trained detector as a new profile in `out`: the parent's base checkpoints by
    /// reference (name + SHA-256), the parent's own non-overriding files copied unchanged, and
    /// `model.safetensors` with the trained tensors plus whatever the parent's own model files
    /// held (a parent made of one full file, like a random or GenD profile, so gives a full copy).
    /// `training.json` beside it records where it came from.
    pub fn save_profile(
        &self,
        out: &Path,
        name: &str,
        description: &str,
        provenance: &serde_json::Value,
    ) -> Result<Profile> {
        std::fs::create_dir_all(out)
            .map_err(|e| Error::input(out, format!("cannot create the profile folder: {e}")))?;
        let vars = self.vs.variables();
        let mut names: HashSet<String> = self.changing.iter().cloned().collect();
        let mut weights = vec![];
        for w in &self.parent.weights {
            let src = self.parent.dir.join(&w.file);
            if w.role == WeightRole::Model {
                // Its tensors go into the new model file, with their current values.
                names.extend(
                    read_header(&src)?
                        .into_keys()
                        .filter(|k| vars.contains_key(k)),
                );
            } else {
                let dst = out.join(&w.file);
                if dst != src {
                    std::fs::copy(&src, &dst).map_err(|e| {
                        Error::input(&dst, format!("cannot copy a base weight file: {e}"))
                    })?;
                }
                weights.push(w.clone());
            }
        }
        let mut names: Vec<String> = names.into_iter().collect();
        names.sort();
        let tensors: Vec<(String, Tensor)> = names
            .iter()
            .map(|n| (n.clone(), vars[n].detach().to_device(Device::Cpu)))
            .collect();
        let model = out.join("model.safetensors");
        Tensor::write_safetensors(&tensors, &model)
            .map_err(|e| Error::input(&model, format!("cannot write weights: {e}")))?;
        weights.insert(
            0,
            WeightFile {
                file: "model.safetensors".into(),
                sha256: sha256_file(&model)?,
                role: WeightRole::Model,
            },
        );
        // A parent whose encoders are random yields a child with random encoders: it stays
        // labelled untrained (its scores are never verdicts), whatever its head learned.
        let random = self.parent.random_encoders();
        let (name, description) = if random {
            let name = if name.ends_with("-untrained") {
                name.to_string()
            } else {
                format!("{name}-untrained")
            };
            (
                name,
                format!("UNTRAINED encoders (random weights, fine-tuned head only): {description}"),
            )
        } else {
            (name.to_string(), description.to_string())
        };
        let profile = Profile {
            name,
            description,
            trained: !random,
            weights,
            training: Some(self.training_record()),
            dir: out.to_path_buf(),
            ..self.parent.clone()
        };
        profile.validate()?;
        profile.save(out)?;
        let json = serde_json::to_vec_pretty(provenance)
            .map_err(|e| Error::Other(format!("cannot write training.json: {e}")))?;
        std::fs::write(out.join("training.json"), json)?;
        Ok(profile)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CheckpointState {
    steps: u64,
    epochs_done: usize,
    loss_scale: Option<LossScale>,
    parent: String,
    parent_hashes: Vec<(String, String)>,
    config: TrainConfig,
    tensors_sha256: String,
}

/// What a training run produced.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    pub profile: String,
    pub profile_dir: PathBuf,
    pub parent: String,
    pub params: ParamCount,
    pub train_faces: (usize, usize),
    pub val_faces: (usize, usize),
    /// Epochs this call ran (after a resume, only the remaining ones).
    pub epochs: Vec<EpochLog>,
    pub resumed_at_epoch: Option<usize>,
    pub val_before: Option<Report>,
    pub val_after: Option<Report>,
    pub seconds: f64,
}

/// Trains `parent_dir`'s detector on `data` and writes into `out`:
/// `checkpoint/` (resumable, every epoch), `train_log.jsonl` (one line per epoch),
/// `dataset.json` (the samples and their origins), `profile/` (the new profile, named `name`),
/// `metrics.json` and `report.html` (validation before and after).
#[allow(clippy::too_many_arguments)]
pub fn train(
    parent_dir: &Path,
    data: &Dataset,
    out: &Path,
    name: &str,
    cfg: &TrainConfig,
    device: Device,
    progress: &dyn Fn(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<TrainSummary> {
    let started = Instant::now();
    let (tr, tf) = Dataset::count(&data.train);
    if tr == 0 || tf == 0 {
        return Err(Error::Config(format!(
            "the training set needs real and fake faces; it has {tr} real and {tf} fake"
        )));
    }
    if data.train.len() < 2 {
        return Err(Error::Config(
            "the training set needs at least 2 faces".into(),
        ));
    }
    std::fs::create_dir_all(out)
        .map_err(|e| Error::input(out, format!("cannot create the output folder: {e}")))?;
    let mut trainer = Trainer::new(parent_dir, cfg, device)?;
    if cfg.losses.weights.image_text > 0.0 {
        let from = trainer.load_prompt_embeddings()?;
        tracing::info!(%from, "image–text loss prompts");
    }
    let ckpt = out.join("checkpoint");
    let mut resumed_at_epoch = None;
    if cfg.resume && ckpt.join("checkpoint.json").is_file() {
        trainer.load_checkpoint(&ckpt)?;
        resumed_at_epoch = Some(trainer.epochs_done);
        tracing::info!(epoch = trainer.epochs_done, "resuming training");
    }
    data.write_manifest(&out.join("dataset.json"))?;

    let val_before = if cfg.eval_before && resumed_at_epoch.is_none() && !data.val.is_empty() {
        Some(trainer.evaluate(&data.val, cancel)?.1)
    } else {
        None
    };

    let batches_per_epoch = data.train.len().div_ceil(cfg.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(cfg.accumulate) as u64;
    let total_steps = steps_per_epoch * cfg.epochs as u64;
    let log_path = out.join("train_log.jsonl");
    let mut epochs = vec![];
    for epoch in trainer.epochs_done..cfg.epochs {
        let t0 = Instant::now();
        tch::manual_seed(
            (cfg.seed as i64)
                .wrapping_mul(1_000_003)
                .wrapping_add(epoch as i64),
        );
        let mut rng = Rng::with_stream(cfg.seed, 0x7a1 + epoch as u64);
        let order = epoch_order(data.train.len(), cfg.seed, epoch as u64);
        let mut sum = 0.0;
        let mut parts_sum: BTreeMap<String, f64> = BTreeMap::new();
        let mut n_batches = 0usize;
        let mut lr = learning_rate(cfg, trainer.step, total_steps);
        let batches: Vec<&[usize]> = order
            .chunks(cfg.batch_size)
            // A last batch of one face cannot feed the pair losses: it joins the next epoch.
            .filter(|c| c.len() >= 2)
            .collect();
        for (b, idx) in batches.iter().enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            let samples: Vec<&Sample> = idx.iter().map(|&i| &data.train[i]).collect();
            let (loss, parts) = trainer.accumulate(&samples, &mut rng)?;
            sum += loss;
            for (k, v) in parts {
                *parts_sum.entry(k).or_default() += v;
            }
            n_batches += 1;
            if (b + 1) % cfg.accumulate == 0 || b + 1 == batches.len() {
                lr = learning_rate(cfg, trainer.step, total_steps);
                trainer.apply_step(lr)?;
                progress(&TrainProgress::Step {
                    epoch: epoch + 1,
                    epochs: cfg.epochs,
                    step: trainer.step,
                    total_steps,
                    loss,
                    lr,
                });
            }
        }
        trainer.epochs_done = epoch + 1;
        let val = if data.val.is_empty() {
            None
        } else {
            let scores = trainer.scores(
                &data.val,
                &|done, total| {
                    progress(&TrainProgress::Evaluating {
                        epoch: epoch + 1,
                        done,
                        total,
                    })
                },
                cancel,
            )?;
            let labels: Vec<bool> = data.val.iter().map(|s| s.fake).collect();
            Some(metrics::evaluate(&scores, &labels, &cfg.thresholds)?)
        };
        let n = n_batches.max(1) as f64;
        let log = EpochLog {
            epoch: epoch + 1,
            steps: trainer.step,
            lr,
            loss: sum / n,
            parts: parts_sum.into_iter().map(|(k, v)| (k, v / n)).collect(),
            seconds: t0.elapsed().as_secs_f64(),
            val_auc: val.as_ref().and_then(|r| r.auc),
            val_eer: val.as_ref().and_then(|r| r.eer.map(|e| e.rate)),
            val_ap: val.as_ref().and_then(|r| r.average_precision),
            val_ece: val.as_ref().map(|r| r.ece),
            val_accuracy: val
                .as_ref()
                .and_then(|r| r.accuracy.first().and_then(|a| a.accuracy)),
            loss_weights: cfg.losses.weights,
        };
        append_line(&log_path, &log)?;
        trainer.save_checkpoint(&ckpt)?;
        progress(&TrainProgress::EpochDone(log.clone()));
        epochs.push(log);
    }

    let val_after = if data.val.is_empty() {
        None
    } else {
        Some(trainer.evaluate(&data.val, cancel)?.1)
    };
    let summary_json = serde_json::json!({
        "parent": trainer.parent.name,
        "parent_weight_hashes": trainer.parent_hashes,
        "config": cfg,
        "params": trainer.count,
        "train_faces": {"real": tr, "fake": tf},
        "val_faces": {"real": Dataset::count(&data.val).0, "fake": Dataset::count(&data.val).1},
        "sources": sources(data),
        "epochs": trainer.epochs_done,
        "steps": trainer.step,
        "val_before": val_before,
        "val_after": val_after,
        "trained_at": crate::store::now(),
        "verity": crate::version(),
    });
    let description = format!(
        "LNCLIP-DF fine-tune of {:?}: {} epochs on {} training faces ({} real, {} fake); \
         validation AUC {}",
        trainer.parent.name,
        trainer.epochs_done,
        tr + tf,
        tr,
        tf,
        val_after
            .as_ref()
            .and_then(|r| r.auc)
            .map_or("n/a".into(), |a| format!("{a:.4}"))
    );
    let profile_dir = out.join("profile");
    let profile = trainer.save_profile(&profile_dir, name, &description, &summary_json)?;
    if let Some(r) = &val_after {
        write_evaluation(
            r,
            val_before.as_ref(),
            out,
            &format!("Validation of {}", profile.name),
        )?;
    }
    Ok(TrainSummary {
        profile: profile.name,
        profile_dir,
        parent: trainer.parent.name.clone(),
        params: trainer.count,
        train_faces: (tr, tf),
        val_faces: Dataset::count(&data.val),
        epochs,
        resumed_at_epoch,
        val_before,
        val_after,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// How many samples of each source (real/fake/sbi/review/…) the data has.
fn sources(data: &Dataset) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for s in data.train.iter().chain(&data.val) {
        *m.entry(s.source.clone()).or_default() += 1;
    }
    m
}

fn append_line<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    use std::io::Write;
    let mut line = serde_json::to_string(value)
        .map_err(|e| Error::Other(format!("cannot write the training log: {e}")))?;
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::input(path, format!("cannot write the training log: {e}")))?;
    f.write_all(line.as_bytes())?;
    Ok(())
}

/// Writes `metrics.json` (`{"after": …, "before": …}`) and `report.html` into `dir`.
pub fn write_evaluation(
    report: &Report,
    before: Option<&Report>,
    dir: &Path,
    title: &str,
) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::input(dir, format!("cannot create the report folder: {e}")))?;
    let json = serde_json::to_vec_pretty(&serde_json::json!({"after": report, "before": before}))
        .map_err(|e| Error::Other(format!("cannot write metrics: {e}")))?;
    std::fs::write(dir.join("metrics.json"), json)?;
    std::fs::write(dir.join("report.html"), report.to_html(title))?;
    Ok(())
}

/// Scores `samples` with an installed profile through the inference path
/// ([`LoadedDetector::score`]) and computes the metrics: what `verity eval` reports.
pub fn evaluate_profile(
    profile_dir: &Path,
    samples: &[Sample],
    thresholds: &Thresholds,
    device: Device,
    cancel: &AtomicBool,
) -> Result<(Vec<f64>, Report)> {
    let det = LoadedDetector::load(profile_dir, device)?;
    let size = det.profile().preprocessing.size;
    let mut scores = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(crate::models::profile::BATCH) {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let crops: Vec<image::RgbImage> = chunk
            .iter()
            .map(|s| load_crop(s, size))
            .collect::<Result<_>>()?;
        let refs: Vec<&image::RgbImage> = crops.iter().collect();
        scores.extend(det.score(&refs)?.into_iter().map(|s| f64::from(s.prob)));
    }
    let labels: Vec<bool> = samples.iter().map(|s| s.fake).collect();
    let report = metrics::evaluate(&scores, &labels, thresholds)?;
    Ok((scores, report))
}

/// CLIP text embeddings of [`PROMPTS`] ([2, projection_dim]) from a text tower with weights
/// on `device`.
pub fn prompt_embeddings(
    text: &ClipText,
    tokenizer: &ClipTokenizer,
    device: Device,
) -> Result<Tensor> {
    let ids = tokenizer.tokenize(&PROMPTS, text.config().max_position_embeddings as usize);
    tch::no_grad(|| text.forward(&ids.to_device(device)))
}
