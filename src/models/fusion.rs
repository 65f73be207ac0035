//! Fusion of the semantic (CLIP) and forensic (CNN) face embeddings into one vector for the head.
//!
//! The seed design's three modes:
//! - **concat**: `[clip, cnn]`, no parameters (the head learns the mix);
//! - **weighted**: `α·P_cnn(cnn) + (1−α)·P_clip(clip)`, where `P_*` are learned linear projections
//!   to a common width (`fusion_dim`, 1024 by default — the seed's "CNN projected to 1024-d");
//! - **slerp**: spherical interpolation between the L2-normalised projections,
//!   `slerp(â, b̂, t) = sin((1−t)ω)/sin ω · â + sin(tω)/sin ω · b̂` with `cos ω = â·b̂`
//!   (Shoemake, "Animating rotation with quaternion curves", SIGGRAPH 1985). When the two are
//!   (anti)parallel, sin ω → 0 and the formula is 0/0, so rows with |cos ω| > 1 − [`PARALLEL_EPS`]
//!   use the linear interpolation `(1−t)·â + t·b̂` instead (the limit of slerp as ω → 0).
//!
//! There is no published checkpoint for this part; variable names are ours:
//! `fusion.clip_proj.{weight,bias}`, `fusion.cnn_proj.{weight,bias}` (PyTorch `nn.Linear` layout).
//! `tests/reference/detector_ref.py` re-implements the same maths in PyTorch for parity.
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tch::{nn, Tensor};

/// Rows with |cos ω| > 1 − this use lerp instead of slerp (see the module doc). There ω < 1.5e-3,
/// where the two differ by O(ω²) ≈ 1e-6 and fp32 `acos` has lost most of its precision.
pub const PARALLEL_EPS: f64 = 1e-6;

/// How the two embeddings are combined. Written as text in settings and profiles:
/// `"concat"`, `"weighted:0.5"`, `"slerp:0.5"`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FusionMode {
    #[default]
    Concat,
    /// `alpha` ∈ [0, 1] is the CNN's weight.
    Weighted { alpha: f64 },
    /// `t` ∈ [0, 1]: 0 gives the CLIP direction, 1 the CNN direction.
    Slerp { t: f64 },
}

impl fmt::Display for FusionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FusionMode::Concat => write!(f, "concat"),
            FusionMode::Weighted { alpha } => write!(f, "weighted:{alpha}"),
            FusionMode::Slerp { t } => write!(f, "slerp:{t}"),
        }
    }
}

impl FromStr for FusionMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n.trim(), Some(a.trim())),
            None => (s.as_str(), None),
        };
        let weight = |what: &str| -> Result<f64> {
            let a = arg.ok_or_else(|| {
                Error::Config(format!(
                    "fusion mode {name:?} needs a {what} in [0, 1], e.g. \"{name}:0.5\""
                ))
            })?;
            match a.parse::<f64>() {
                Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
                _ => Err(Error::Config(format!(
                    "fusion mode {name:?}: {what} must be a number in [0, 1], not {a:?}"
                ))),
            }
        };
        match name {
            "concat" if arg.is_none() => Ok(FusionMode::Concat),
            "concat" => Err(Error::Config(
                "fusion mode \"concat\" takes no parameter".into(),
            )),
            "weighted" => Ok(FusionMode::Weighted {
                alpha: weight("weight α")?,
            }),
            "slerp" => Ok(FusionMode::Slerp {
                t: weight("position t")?,
            }),
            _ => Err(Error::Config(format!(
                "unknown fusion mode {s:?}: use \"concat\", \"weighted:<α>\" or \"slerp:<t>\""
            ))),
        }
    }
}

impl TryFrom<String> for FusionMode {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<FusionMode> for String {
    fn from(m: FusionMode) -> String {
        m.to_string()
    }
}

/// The fusion layer: holds the projections the mode needs (none for concat).
#[derive(Debug)]
pub struct Fusion {
    mode: FusionMode,
    clip_dim: i64,
    cnn_dim: i64,
    clip_proj: Option<nn::Linear>,
    cnn_proj: Option<nn::Linear>,
    out_dim: i64,
}

impl Fusion {
    /// Creates `root/"fusion"/...`. `cnn_dim` is 0 when the detector has no CNN; only concat
    /// (which then passes the CLIP embedding through) is valid in that case.
    pub fn new(
        root: &nn::Path,
        mode: FusionMode,
        clip_dim: i64,
        cnn_dim: i64,
        fusion_dim: i64,
    ) -> Result<Self> {
        let p = root / "fusion";
        let (clip_proj, cnn_proj, out_dim) = match mode {
            FusionMode::Concat => (None, None, clip_dim + cnn_dim),
            FusionMode::Weighted { .. } | FusionMode::Slerp { .. } => {
                if cnn_dim <= 0 {
                    return Err(Error::Config(format!(
                        "fusion mode {mode} combines CLIP with a CNN, but the detector has no CNN: use \"concat\""
                    )));
                }
                if fusion_dim <= 0 {
                    return Err(Error::Config(format!(
                        "fusion_dim must be positive, not {fusion_dim}"
                    )));
                }
                let c = nn::LinearConfig::default();
                (
                    Some(nn::linear(&p / "clip_proj", clip_dim, fusion_dim, c)),
                    Some(nn::linear(&p / "cnn_proj", cnn_dim, fusion_dim, c)),
                    fusion_dim,
                )
            }
        };
        Ok(Fusion {
            mode,
            clip_dim,
            cnn_dim,
            clip_proj,
            cnn_proj,
            out_dim,
        })
    }

    pub fn mode(&self) -> FusionMode {
        self.mode
    }

    /// Switches the mode where the parameters allow it: weighted and slerp share the same two
    /// projections, so α or t (and weighted ↔ slerp) can change on trained weights; concat has
    /// no projections and cannot be swapped with either.
    pub fn set_mode(&mut self, mode: FusionMode) -> Result<()> {
        let projected = |m: FusionMode| m != FusionMode::Concat;
        if projected(mode) != projected(self.mode) {
            return Err(Error::Config(format!(
                "fusion {mode} needs other parameters than the {} this detector was trained with",
                self.mode
            )));
        }
        self.mode = mode;
        Ok(())
    }

    /// Width of the fused vector (the head's input).
    pub fn out_dim(&self) -> i64 {
        self.out_dim
    }

    /// `clip` [B, clip_dim], `cnn` [B, cnn_dim] (None only without a CNN) → [B, out_dim].
    pub fn forward(&self, clip: &Tensor, cnn: Option<&Tensor>) -> Result<Tensor> {
        check_width("CLIP", clip, self.clip_dim)?;
        let cnn = match (cnn, self.cnn_dim) {
            (Some(c), d) if d > 0 => {
                check_width("CNN", c, d)?;
                if c.size()[0] != clip.size()[0] {
                    return Err(Error::Model(format!(
                        "fusion: batch sizes differ (CLIP {}, CNN {})",
                        clip.size()[0],
                        c.size()[0]
                    )));
                }
                Some(c)
            }
            (None, 0) => None,
            (Some(_), _) => {
                return Err(Error::Model(
                    "fusion: a CNN embedding was given to a detector without a CNN".into(),
                ))
            }
            (None, _) => {
                return Err(Error::Model(
                    "fusion: the detector has a CNN but no CNN embedding was given".into(),
                ))
            }
        };
        let (Some(clip_proj), Some(cnn_proj), Some(cnn)) = (&self.clip_proj, &self.cnn_proj, cnn)
        else {
            // Concat (the only mode without projections, and the only one valid without a CNN).
            return Ok(match cnn {
                Some(c) => Tensor::cat(&[clip, c], 1),
                None => clip.shallow_clone(),
            });
        };
        let a = clip.apply(clip_proj);
        let b = cnn.apply(cnn_proj);
        Ok(match self.mode {
            FusionMode::Weighted { alpha } => b * alpha + a * (1.0 - alpha),
            FusionMode::Slerp { t } => slerp(&l2_normalize(&a), &l2_normalize(&b), t),
            FusionMode::Concat => unreachable!("concat has no projections"),
        })
    }
}

fn check_width(what: &str, x: &Tensor, width: i64) -> Result<()> {
    let s = x.size();
    if s.len() != 2 || s[1] != width {
        return Err(Error::Model(format!(
            "fusion: the {what} embedding must be [batch, {width}], got {s:?}"
        )));
    }
    Ok(())
}

/// Row-wise L2 normalisation, as `torch.nn.functional.normalize(x, p=2, dim=1, eps=1e-12)`.
pub fn l2_normalize(x: &Tensor) -> Tensor {
    let norm = x
        .norm_scalaropt_dim(2, [1].as_slice(), true)
        .clamp_min(1e-12);
    x / norm
}

/// Row-wise slerp of unit vectors `a`, `b` [B, D] at `t`, with the lerp fallback for rows whose
/// vectors are (anti)parallel, i.e. |cos ω| > 1 − [`PARALLEL_EPS`].
pub fn slerp(a: &Tensor, b: &Tensor, t: f64) -> Tensor {
    let cos = (a * b).sum_dim_intlist([1].as_slice(), true, a.kind());
    let near = cos.abs().gt(1.0 - PARALLEL_EPS);
    // Fallback rows get cos = 0 before acos: acos'(±1) is infinite and `where` would still carry
    // 0·∞ = NaN into the gradient from the branch it does not select.
    let safe_cos = cos.where_self(&near.logical_not(), &cos.zeros_like());
    let omega = safe_cos.acos();
    let sin = omega.sin();
    let wa = (&omega * (1.0 - t)).sin() / &sin;
    let wb = (&omega * t).sin() / &sin;
    let wa = wa.where_self(&near.logical_not(), &(cos.zeros_like() + (1.0 - t)));
    let wb = wb.where_self(&near.logical_not(), &(cos.zeros_like() + t));
    a * wa + b * wb
}
