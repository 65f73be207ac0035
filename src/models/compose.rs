//! `verity models compose`: a parent profile for training, made from fetched base checkpoints
//! (`<models>/base/<model>/`) without hand-writing `profile.toml`.
//!
//! The profile references the CLIP (and optionally the forensic CNN) checkpoints by SHA-256 as
//! `[[base_weights]]` and holds only what the bases do not provide — the fusion and head layers,
//! randomly initialised — in its own `model.safetensors`. Heads: `gend` is GenD's linear head on
//! the CLIP CLS feature (Yermakov et al., "Deepfake Detection that Generalizes Across
//! Benchmarks", WACV 2026, `github:yermandy/GenD`); `seed` is the CLIP+CNN fusion with an MLP head
//! (see [`super::fusion`]). The result is `trained = false`, named `…-untrained`, so every score it
//! gives is labelled UNTRAINED until `verity train --parent <it>` makes a trained profile.
//!
//! The CLIP preset and the CNN kind are read from the checkpoints' tensor shapes, so a wrong
//! base is refused here rather than at load time.
use super::clip::ClipConfig;
use super::detector::{
    clip_preset, clip_preset_matching, CnnKind, Detector, DetectorConfig, Variant, WeightRole,
};
use super::fusion::FusionMode;
use super::profile::{BaseWeight, LoadedDetector, Profile, PROFILE_FILE};
use super::weights::{read_header, sha256_file, TensorInfo};
use crate::{Error, Result};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use tch::{nn, Device, Tensor};

/// Which classifier sits on the features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// GenD: a linear layer on the CLIP CLS feature (CLIP only).
    Gend,
    /// The seed design: CLIP projection (+ CNN) fused, then an MLP.
    Seed,
}

impl std::str::FromStr for Head {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gend" => Ok(Head::Gend),
            "seed" => Ok(Head::Seed),
            _ => Err(Error::Config(format!(
                "unknown head {s:?}: use gend or seed"
            ))),
        }
    }
}

/// What to compose.
#[derive(Clone, Debug)]
pub struct ComposeSpec {
    /// Profile name; `-untrained` is appended when missing.
    pub name: String,
    /// CLIP base: a model name under `<models>/base/` or that folder.
    pub clip: String,
    /// Optional CNN base, likewise.
    pub cnn: Option<String>,
    pub fusion: FusionMode,
    pub head: Head,
    /// Seeds the random fusion/head weights.
    pub seed: i64,
}

/// The fusion mode from the CLI's `--fusion concat|weighted|slerp` and `--alpha`.
pub fn fusion_mode(kind: &str, alpha: f64) -> Result<FusionMode> {
    match kind {
        "concat" => "concat".parse(),
        "weighted" | "slerp" => format!("{kind}:{alpha}").parse(),
        _ => Err(Error::Config(format!(
            "unknown fusion {kind:?}: use concat, weighted or slerp"
        ))),
    }
}

/// A base checkpoint: its model name (folder under `base/`) and weight file.
fn resolve_base(models_dir: &Path, arg: &str) -> Result<(String, PathBuf)> {
    let as_path = PathBuf::from(arg);
    let dir = if as_path.is_dir() {
        let in_base = as_path
            .parent()
            .and_then(|p| p.canonicalize().ok())
            .zip(models_dir.join("base").canonicalize().ok())
            .is_some_and(|(a, b)| a == b);
        if !in_base {
            return Err(Error::input(
                &as_path,
                format!(
                    "a base checkpoint must be installed under {} (as `verity models fetch` does) \
                     so the profile can find it by name",
                    models_dir.join("base").display()
                ),
            ));
        }
        as_path
    } else {
        models_dir.join("base").join(arg)
    };
    let model = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Error::input(&dir, "not a base model folder"))?;
    if !dir.is_dir() {
        return Err(Error::Weights(format!(
            "base model {model:?} is not installed ({} is missing): run `verity models fetch {model}`",
            dir.display()
        )));
    }
    let preferred = dir.join("model.safetensors");
    let file = if preferred.is_file() {
        preferred
    } else {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        found.sort();
        found.into_iter().next().ok_or_else(|| {
            Error::Weights(format!(
                "{} holds no .safetensors checkpoint: run `verity models fetch {model}`",
                dir.display()
            ))
        })?
    };
    Ok((model, file))
}

/// The CLIP preset of a Hugging Face CLIP checkpoint, from its vision tower's shapes.
fn clip_of(
    header: &BTreeMap<String, TensorInfo>,
    file: &Path,
) -> Result<(&'static str, ClipConfig)> {
    let bad = || {
        Error::Weights(format!(
            "{} is not a Hugging Face CLIP checkpoint with a known vision tower \
             (vit-l14, vit-b16, vit-b32, tiny)",
            file.display()
        ))
    };
    let patch = header
        .get("vision_model.embeddings.patch_embedding.weight")
        .ok_or_else(bad)?;
    let (hidden, p) = match patch.shape.as_slice() {
        [h, _, p, _] => (*h, *p),
        _ => return Err(bad()),
    };
    let layers = header
        .keys()
        .filter_map(|k| k.strip_prefix("vision_model.encoder.layers."))
        .filter_map(|rest| rest.split('.').next()?.parse::<i64>().ok())
        .max()
        .map_or(0, |m| m + 1);
    let name = clip_preset_matching(hidden, p, layers).ok_or_else(bad)?;
    Ok((name, clip_preset(name)?))
}

/// The CNN kind of a timm checkpoint, from its stem.
fn cnn_of(header: &BTreeMap<String, TensorInfo>, file: &Path) -> Result<CnnKind> {
    if header.contains_key("conv1.weight") && header.keys().any(|k| k.starts_with("block1.")) {
        return Ok(CnnKind::Xception);
    }
    match header
        .get("conv_stem.weight")
        .map(|t| t.shape.first().copied())
    {
        Some(Some(48)) => Ok(CnnKind::EfficientNetB4),
        Some(Some(32)) => Ok(CnnKind::EfficientNetB0),
        _ => Err(Error::Weights(format!(
            "{} is not a timm Xception or EfficientNet-B4/B0 checkpoint",
            file.display()
        ))),
    }
}

/// Writes the composed profile to `<models>/profiles/<name>/` and checks it loads.
pub fn compose(models_dir: &Path, spec: &ComposeSpec) -> Result<Profile> {
    let name = if spec.name.ends_with("-untrained") {
        spec.name.clone()
    } else {
        format!("{}-untrained", spec.name)
    };
    if name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::Config(format!(
            "{name:?} is not a plain profile name"
        )));
    }
    let out = models_dir.join("profiles").join(&name);
    if out.join(PROFILE_FILE).exists() {
        return Err(Error::input(
            &out,
            "a profile of this name is already installed",
        ));
    }
    let (clip_model, clip_file) = resolve_base(models_dir, &spec.clip)?;
    let (clip_name, clip) = clip_of(&read_header(&clip_file)?, &clip_file)?;
    let cnn = match &spec.cnn {
        Some(arg) => {
            let (m, f) = resolve_base(models_dir, arg)?;
            let kind = cnn_of(&read_header(&f)?, &f)?;
            Some((m, f, kind))
        }
        None => None,
    };
    let cnn_kind = cnn.as_ref().map_or(CnnKind::None, |c| c.2);
    let cfg =
        match spec.head {
            Head::Gend if cnn.is_some() => return Err(Error::Config(
                "the gend head reads the CLIP feature alone: leave out --cnn, or use --head seed"
                    .into(),
            )),
            Head::Gend => DetectorConfig::gend(&clip, false),
            Head::Seed => {
                let d = clip.projection_dim;
                DetectorConfig::fusion(&clip, cnn_kind, spec.fusion, d, (d / 2).max(1))
            }
        };
    cfg.validate()?;

    // The detector with fresh (seeded) weights; keep what no base provides.
    tch::manual_seed(spec.seed);
    let vs = nn::VarStore::new(Device::Cpu);
    let _detector = Detector::new(&vs.root(), &cfg)?;
    let vars = vs.variables();
    let gend = cfg.variant == Variant::GenD;
    let mut provided: HashSet<String> = read_header(&clip_file)?
        .into_keys()
        .map(|k| {
            if gend {
                format!("feature_extractor.{k}")
            } else {
                k
            }
        })
        .collect();
    if let Some((_, f, _)) = &cnn {
        provided.extend(read_header(f)?.into_keys().map(|k| format!("cnn.{k}")));
    }
    let mut own: Vec<(String, Tensor)> = vars
        .iter()
        .filter(|(n, _)| !provided.contains(*n))
        .map(|(n, t)| (n.clone(), t.detach()))
        .collect();
    own.sort_by(|a, b| a.0.cmp(&b.0));
    if own.is_empty() {
        return Err(Error::Other(
            "the bases cover every tensor: nothing to train".into(),
        ));
    }
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::input(&out, format!("cannot create the profile folder: {e}")))?;
    let model = out.join("model.safetensors");
    Tensor::write_safetensors(&own, &model)
        .map_err(|e| Error::input(&model, format!("cannot write weights: {e}")))?;

    let base = |m: &str, f: &Path, role| -> Result<BaseWeight> {
        Ok(BaseWeight {
            model: m.to_string(),
            file: f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            sha256: sha256_file(f)?,
            role,
        })
    };
    let mut base_weights = vec![base(&clip_model, &clip_file, WeightRole::Clip)?];
    if let Some((m, f, _)) = &cnn {
        base_weights.push(base(m, f, WeightRole::Cnn)?);
    }
    let description = format!(
        "composed from base {clip_model}{} ({} head, fusion {}); fusion and head are random \
             (seed {}) until trained with `verity train --parent {name}`",
        cnn.as_ref()
            .map(|c| format!(" + {}", c.0))
            .unwrap_or_default(),
        if gend { "gend" } else { "seed" },
        cfg.fusion,
        spec.seed
    );
    let profile = Profile::untrained_for(
        &cfg,
        name.clone(),
        description,
        clip_name,
        &out,
        sha256_file(&model)?,
        base_weights,
    );
    let written = profile.validate().and_then(|_| profile.save(&out));
    // The real check: hashes, then a strict load of every tensor from bases + own file.
    let loaded = written.and_then(|_| LoadedDetector::load(&out, Device::Cpu).map(|_| ()));
    if let Err(e) = loaded {
        let _ = std::fs::remove_dir_all(&out);
        return Err(e);
    }
    Ok(profile)
}
