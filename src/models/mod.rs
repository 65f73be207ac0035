//! The networks, written in `tch::nn` with variable names equal to the published checkpoints'
//! keys so real weights load unchanged.
pub mod clip;
pub mod compose;
pub mod detector;
pub mod efficientnet;
pub mod fusion;
pub mod head;
pub mod hub;
pub mod profile;
pub mod tokenizer;
pub mod weights;
pub mod xception;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{nn, Tensor};

use crate::{Error, Result};

/// What a forensic CNN hands to the rest of the pipeline.
#[derive(Debug)]
pub struct CnnFeatures {
    /// `[B, C, h, w]`: the last conv block's activations after its final non-linearity, the
    /// Grad-CAM target layer.
    pub feature_map: Tensor,
    /// `[B, C]`: global average pool of `feature_map` (timm's `num_classes=0` output).
    pub pooled: Tensor,
}

impl CnnFeatures {
    fn from_feature_map(feature_map: Tensor) -> Self {
        let pooled = feature_map.mean_dim(&[2i64, 3][..], false, feature_map.kind());
        CnnFeatures {
            feature_map,
            pooled,
        }
    }
}

/// Checks an image batch before a CNN sees it, so bad input becomes an analyst-readable error
/// instead of a libtorch panic deep inside a convolution.
///
/// `out_side` maps an input side to the side of the final feature map; in train mode
/// BatchNorm needs more than one value per channel there.
fn check_image_batch(
    model: &str,
    x: &Tensor,
    weight: &Tensor,
    min_side: i64,
    train: bool,
    out_side: impl Fn(i64) -> i64,
) -> Result<()> {
    let size = x.size();
    let [b, c, h, w] = size[..] else {
        return Err(Error::Model(format!(
            "{model}: expected an image batch [B, 3, H, W], got a tensor of shape {size:?}"
        )));
    };
    if c != 3 {
        return Err(Error::Model(format!(
            "{model}: expected 3 colour channels (RGB), got {c} in shape {size:?}"
        )));
    }
    if b < 1 {
        return Err(Error::Model(format!(
            "{model}: empty batch (shape {size:?})"
        )));
    }
    if h < min_side || w < min_side {
        return Err(Error::Model(format!(
            "{model}: images of {h}×{w} px are too small, at least {min_side}×{min_side} needed"
        )));
    }
    if x.kind() != weight.kind() {
        return Err(Error::Model(format!(
            "{model}: input is {:?} but the weights are {:?}",
            x.kind(),
            weight.kind()
        )));
    }
    if x.device() != weight.device() {
        return Err(Error::Model(format!(
            "{model}: input is on {:?} but the weights are on {:?}",
            x.device(),
            weight.device()
        )));
    }
    if train && b * out_side(h) * out_side(w) < 2 {
        return Err(Error::Model(format!(
            "{model}: training on a single {h}×{w} image leaves one value per channel for \
             BatchNorm; use a batch of at least 2 or larger images"
        )));
    }
    Ok(())
}

/// Loads a timm `state_dict` saved as safetensors into `vs`, strictly: every variable of the
/// model must be in the file with the same shape and every tensor of the file must belong to
/// the model, else nothing is trusted and the error lists what is missing, unexpected or
/// mis-shaped. BatchNorm `running_mean`/`running_var` are model variables and are loaded;
/// `num_batches_tracked` (a training counter tch's BatchNorm does not keep) is ignored.
pub fn load_safetensors_strict(vs: &mut nn::VarStore, path: &Path) -> Result<()> {
    let file: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| Error::Weights(format!("{}: cannot read safetensors: {e}", path.display())))?
        .into_iter()
        .collect();
    let vars = vs.variables();

    let mut missing: Vec<&str> = vars
        .keys()
        .filter(|k| !file.contains_key(k.as_str()))
        .map(String::as_str)
        .collect();
    let mut unexpected: Vec<&str> = file
        .keys()
        .filter(|k| !vars.contains_key(k.as_str()) && !k.ends_with(".num_batches_tracked"))
        .map(String::as_str)
        .collect();
    let mut misshaped: Vec<String> = vars
        .iter()
        .filter_map(|(k, v)| {
            let f = file.get(k)?;
            (f.size() != v.size())
                .then(|| format!("{k} (file {:?}, model {:?})", f.size(), v.size()))
        })
        .collect();
    let mut not_float: Vec<String> = file
        .iter()
        .filter(|(k, t)| vars.contains_key(k.as_str()) && !t.is_floating_point())
        .map(|(k, t)| format!("{k} ({:?})", t.kind()))
        .collect();

    if !(missing.is_empty()
        && unexpected.is_empty()
        && misshaped.is_empty()
        && not_float.is_empty())
    {
        missing.sort_unstable();
        unexpected.sort_unstable();
        misshaped.sort_unstable();
        not_float.sort_unstable();
        let mut parts = Vec::new();
        let mut list = |what: &str, names: Vec<String>| {
            if !names.is_empty() {
                parts.push(format!("{} {what}: {}", names.len(), abbreviate(&names)));
            }
        };
        list("missing", missing.iter().map(|s| s.to_string()).collect());
        list(
            "unexpected",
            unexpected.iter().map(|s| s.to_string()).collect(),
        );
        list("mis-shaped", misshaped);
        list("not floating point", not_float);
        return Err(Error::Weights(format!(
            "{} does not match the model: {}",
            path.display(),
            parts.join("; ")
        )));
    }

    tch::no_grad(|| {
        for (name, var) in &vars {
            // copy_ converts dtype and device (e.g. fp16 file into an fp32 model on the GPU).
            var.shallow_clone()
                .f_copy_(&file[name])
                .map_err(|e| Error::Weights(format!("{}: {name}: {e}", path.display())))?;
        }
        Ok(())
    })
}

/// The first few names of a long list, with the count of the rest.
fn abbreviate(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let head = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        format!("{head}, … ({} more)", names.len() - SHOWN)
    } else {
        head
    }
}

/// A BatchNorm as timm builds it (`nn.BatchNorm2d` defaults: weight 1, bias 0, momentum 0.1).
fn batch_norm(p: nn::Path, dim: i64, eps: f64) -> nn::BatchNorm {
    let cfg = nn::BatchNormConfig {
        eps,
        momentum: 0.1,
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    };
    nn::batch_norm2d(p, dim, cfg)
}

/// The models folder: `VERITY_MODELS_DIR`, else `<OS data dir>/models`
/// (e.g. `~/.local/share/veritydesk/models` on Linux).
pub fn models_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("VERITY_MODELS_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("org", "Verity", "VerityDesk")
        .map(|d| d.data_dir().join("models"))
        .ok_or_else(|| {
            Error::Config("no home folder to keep models in: set VERITY_MODELS_DIR".into())
        })
}

/// The `models/` folder the app ships (MTCNN weights, the CLIP BPE vocabulary, the manifest):
/// in an installed package `<prefix>/share/verity-desk/models` (the binaries in `<prefix>/bin`),
/// or a `models/` folder beside the executable or up to two folders above it (an unpacked
/// tree); otherwise the source tree's own `models/` (running from a checkout).
pub fn repo_models_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| shipped_models_near(&exe))
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"))
    })
    .clone()
}

/// The shipped `models/` folder of an installed or unpacked layout around `exe`, if any
/// (recognised by its `manifest.toml`).
pub fn shipped_models_near(exe: &std::path::Path) -> Option<PathBuf> {
    exe.ancestors().skip(1).take(3).find_map(|dir| {
        [dir.join("share/verity-desk/models"), dir.join("models")]
            .into_iter()
            .find(|m| m.join("manifest.toml").is_file() && m.join("mtcnn").is_dir())
    })
}

/// Puts a detector's weights in `kind` for inference the way mixed precision does it (as
/// `torch.autocast` keeps normalisation in fp32): the encoders' matrix and convolution weights
/// (CLIP's `vision_model`/`visual_projection`, the CNN under `cnn`) in `kind`; every LayerNorm and
/// BatchNorm parameter and statistic, and everything after the encoders (fusion, heads) in fp32.
/// The networks cast their activations accordingly: CLIP keeps its residual stream in the
/// LayerNorms' fp32 and runs attention and MLP matmuls in `kind`; the CNN's batch norms take
/// `kind` activations with fp32 statistics; the embeddings reach the head in fp32. For
/// `Kind::Float` everything is fp32, as before.
pub fn set_inference_kind(vs: &mut tch::nn::VarStore, kind: tch::Kind) {
    let vars = vs.variables();
    let bn_prefixes: Vec<String> = vars
        .keys()
        .filter_map(|n| n.strip_suffix(".running_mean").map(|p| format!("{p}.")))
        .collect();
    // An encoder variable: one of its first two path segments names an encoder (the detector's
    // `[feature_extractor.]vision_model`, `visual_projection`, `cnn`; the benchmark's
    // `xception` and `effnet`).
    let encoder = |name: &str| {
        name.split('.').take(2).any(|seg| {
            matches!(
                seg,
                "vision_model" | "visual_projection" | "cnn" | "xception" | "effnet"
            )
        })
    };
    let norm = |name: &str| {
        name.contains("layer_norm")
            || name.contains("layernorm")
            || name.contains("layrnorm")
            || bn_prefixes.iter().any(|p| name.starts_with(p.as_str()))
    };
    tch::no_grad(|| {
        for (name, var) in &vars {
            if !var.is_floating_point() {
                continue;
            }
            let target = if encoder(name) && !norm(name) {
                kind
            } else {
                tch::Kind::Float
            };
            if var.kind() != target {
                let mut v = var.shallow_clone();
                v.set_data(&var.to_kind(target));
            }
        }
    });
}
