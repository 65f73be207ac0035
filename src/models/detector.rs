//! The face-level deepfake detector: CLIP vision tower (+ optional forensic CNN) → fusion → head.
//!
//! Two layouts share the encoders:
//! - [`Variant::Fusion`] — the seed design: CLIP's 768-d projected image embedding
//!   (`visual_projection(post_layernorm(CLS))`), a forensic CNN's pooled features (Xception or
//!   EfficientNet, timm), [`Fusion`] (concat / weighted / slerp) and the MLP [`Head`]
//!   (sigmoid probability). Variables: HF CLIP names at the root (`vision_model.*`,
//!   `visual_projection.weight`, so `openai/clip-vit-large-patch14`'s `model.safetensors` loads
//!   unchanged with its `text_model.*` ignored), timm names under `cnn.`, then `fusion.*`, `head.*`.
//! - [`Variant::GenD`] — the LNCLIP-DF authors' released detector (Yermakov et al., "Deepfake
//!   Detection that Generalizes Across Benchmarks", WACV 2026; `github:yermandy/GenD`,
//!   `src/hf/modeling_gend.py`): CLIP's 1024-d `pooler_output` → optional L2 normalisation
//!   (head `"LinearNorm"`) → `Linear(1024, 2)`; p(fake) = softmax[:, 1]. Variables exactly as
//!   GenD's checkpoint: `feature_extractor.vision_model.*`, `feature_extractor.visual_projection.weight`
//!   (present in the checkpoint, unused by the forward), `model.linear.{weight,bias}`.
//!
//! `tests/reference/detector_ref.py` builds both in PyTorch (transformers + timm) for parity.
use super::clip::{ClipConfig, ClipVision, ClipVisionConfig};
use super::efficientnet::{EfficientNet, EfficientNetConfig};
use super::fusion::{l2_normalize, Fusion, FusionMode};
use super::head::Head;
use super::weights::{self, LoadReport, Source};
use super::xception::Xception;
use super::CnnFeatures;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn, Tensor};

/// Which forensic CNN runs beside CLIP (timm weight names under `cnn.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CnnKind {
    /// timm `legacy_xception` (2048 features), the FaceForensics++ baseline CNN.
    Xception,
    /// timm `efficientnet_b4` (1792 features), the seed's forensic CNN.
    #[serde(rename = "efficientnet-b4")]
    EfficientNetB4,
    /// timm `efficientnet_b0` (1280 features): a small CNN for fast tests and CPU-only profiles.
    #[serde(rename = "efficientnet-b0")]
    EfficientNetB0,
    /// CLIP alone.
    None,
}

impl CnnKind {
    /// Width of the pooled features.
    pub fn num_features(self) -> i64 {
        match self {
            CnnKind::Xception => super::xception::NUM_FEATURES,
            CnnKind::EfficientNetB4 => 1792,
            CnnKind::EfficientNetB0 => 1280,
            CnnKind::None => 0,
        }
    }
}

/// Which head and variable layout the detector has (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Fusion,
    #[serde(rename = "gend")]
    GenD,
}

/// Everything that shapes a detector. Presets: [`DetectorConfig::preset`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorConfig {
    pub variant: Variant,
    pub clip: ClipVisionConfig,
    /// Width of CLIP's `visual_projection` (768 for ViT-L/14). The fusion variant fuses this
    /// embedding; GenD keeps the weight only because its checkpoint has it.
    pub projection_dim: i64,
    /// Must be [`CnnKind::None`] for GenD.
    pub cnn: CnnKind,
    pub fusion: FusionMode,
    /// Common width of the weighted/slerp projections (unused by concat).
    pub fusion_dim: i64,
    pub head_hidden: i64,
    /// Head dropout while training.
    pub dropout: f64,
    /// GenD head `"LinearNorm"`: L2-normalise the CLS feature before the linear layer.
    pub gend_head_norm: bool,
}

/// The names [`DetectorConfig::preset`] knows, with what they build.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "tiny",
        "tiny CLIP + EfficientNet-B0, weighted:0.5 fusion (tests, CPU demos)",
    ),
    ("tiny-gend", "tiny CLIP in GenD's layout"),
    (
        "vit-l14-effb4",
        "CLIP ViT-L/14 + EfficientNet-B4, weighted:0.5 fusion (the seed design)",
    ),
    (
        "vit-l14-xception",
        "CLIP ViT-L/14 + Xception, weighted:0.5 fusion",
    ),
    ("vit-l14", "CLIP ViT-L/14 alone + MLP head"),
    (
        "gend-vit-l14",
        "CLIP ViT-L/14 in GenD's layout (linear head on the 1024-d CLS)",
    ),
];

/// CLIP preset names as written in profiles.
pub fn clip_preset(name: &str) -> Result<ClipConfig> {
    match name {
        "vit-l14" => Ok(ClipConfig::vit_large_patch14()),
        "vit-b16" => Ok(ClipConfig::vit_base_patch16()),
        "vit-b32" => Ok(ClipConfig::vit_base_patch32()),
        "tiny" => Ok(ClipConfig::tiny()),
        _ => Err(Error::Config(format!(
            "unknown CLIP preset {name:?}: use vit-l14, vit-b16, vit-b32 or tiny"
        ))),
    }
}

/// The CLIP preset name whose vision tower has these shapes, if any (used to recognise a
/// downloaded checkpoint).
pub fn clip_preset_matching(
    hidden_size: i64,
    patch_size: i64,
    layers: i64,
) -> Option<&'static str> {
    ["vit-l14", "vit-b16", "vit-b32", "tiny"]
        .into_iter()
        .find(|n| {
            clip_preset(n).is_ok_and(|c| {
                c.vision.hidden_size == hidden_size
                    && c.vision.patch_size == patch_size
                    && c.vision.num_hidden_layers == layers
            })
        })
}

impl DetectorConfig {
    /// The seed design on a given CLIP and CNN.
    pub fn fusion(
        clip: &ClipConfig,
        cnn: CnnKind,
        fusion: FusionMode,
        fusion_dim: i64,
        head_hidden: i64,
    ) -> Self {
        DetectorConfig {
            variant: Variant::Fusion,
            clip: clip.vision.clone(),
            projection_dim: clip.projection_dim,
            cnn,
            fusion,
            fusion_dim,
            head_hidden,
            dropout: 0.1,
            gend_head_norm: false,
        }
    }

    /// GenD's layout on a given CLIP.
    pub fn gend(clip: &ClipConfig, head_norm: bool) -> Self {
        DetectorConfig {
            variant: Variant::GenD,
            clip: clip.vision.clone(),
            projection_dim: clip.projection_dim,
            cnn: CnnKind::None,
            fusion: FusionMode::Concat,
            fusion_dim: 0,
            head_hidden: 0,
            dropout: 0.0,
            gend_head_norm: head_norm,
        }
    }

    /// A named configuration (see [`PRESETS`]).
    pub fn preset(name: &str) -> Result<Self> {
        let w = FusionMode::Weighted { alpha: 0.5 };
        let l14 = ClipConfig::vit_large_patch14();
        Ok(match name {
            "tiny" => Self::fusion(&ClipConfig::tiny(), CnnKind::EfficientNetB0, w, 64, 32),
            "tiny-gend" => Self::gend(&ClipConfig::tiny(), false),
            "vit-l14-effb4" => Self::fusion(&l14, CnnKind::EfficientNetB4, w, 1024, 512),
            "vit-l14-xception" => Self::fusion(&l14, CnnKind::Xception, w, 1024, 512),
            "vit-l14" => Self::fusion(&l14, CnnKind::None, FusionMode::Concat, 0, 512),
            "gend-vit-l14" => Self::gend(&l14, false),
            _ => {
                let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                return Err(Error::Config(format!(
                    "unknown detector configuration {name:?}: use one of {}",
                    known.join(", ")
                )));
            }
        })
    }

    /// Checks the numbers make a network.
    pub fn validate(&self) -> Result<()> {
        self.clip.validate()?;
        if self.projection_dim <= 0 {
            return Err(Error::Config(format!(
                "projection_dim must be positive, not {}",
                self.projection_dim
            )));
        }
        match self.variant {
            Variant::GenD if self.cnn != CnnKind::None => Err(Error::Config(
                "the GenD layout has no CNN: set cnn = \"none\"".into(),
            )),
            Variant::GenD => Ok(()),
            Variant::Fusion => {
                if self.head_hidden <= 0 {
                    return Err(Error::Config(format!(
                        "head_hidden must be positive, not {}",
                        self.head_hidden
                    )));
                }
                if !(0.0..1.0).contains(&self.dropout) {
                    return Err(Error::Config(format!(
                        "dropout must be in [0, 1), not {}",
                        self.dropout
                    )));
                }
                if self.cnn == CnnKind::None && self.fusion != FusionMode::Concat {
                    return Err(Error::Config(format!(
                        "fusion {} needs a CNN; a CLIP-only detector uses \"concat\"",
                        self.fusion
                    )));
                }
                if self.fusion != FusionMode::Concat && self.fusion_dim <= 0 {
                    return Err(Error::Config(format!(
                        "fusion_dim must be positive, not {}",
                        self.fusion_dim
                    )));
                }
                Ok(())
            }
        }
    }

    /// Width of the CLIP embedding the detector reports (`clip_emb`).
    pub fn clip_emb_dim(&self) -> i64 {
        match self.variant {
            Variant::Fusion => self.projection_dim,
            Variant::GenD => self.clip.hidden_size,
        }
    }
}

// Boxed: the networks differ a lot in size and there is one per detector (clippy's
// large_enum_variant).
#[derive(Debug)]
enum Cnn {
    Xception(Box<Xception>),
    EfficientNet(Box<EfficientNet>),
}

impl Cnn {
    fn forward_features(&self, x: &Tensor, train: bool) -> Result<CnnFeatures> {
        match self {
            Cnn::Xception(m) => m.forward_features(x, train),
            Cnn::EfficientNet(m) => m.forward_features(x, train),
        }
    }
}

#[derive(Debug)]
enum Top {
    Fusion { fusion: Fusion, head: Head },
    GenD { linear: nn::Linear },
}

/// What one forward pass gives, per face.
#[derive(Debug)]
pub struct DetectorOutput {
    /// [B]: the binary logit, `prob = sigmoid(logit)`. For GenD, `logit₁ − logit₀` of its two
    /// logits (softmax[:, 1] = sigmoid of that difference).
    pub logit: Tensor,
    /// [B]: probability that the face is fake.
    pub prob: Tensor,
    /// [B, projection_dim] (fusion) or [B, hidden] post-LN CLS (GenD).
    pub clip_emb: Tensor,
    /// [B, C]: the CNN's pooled features, when there is a CNN.
    pub cnn_emb: Option<Tensor>,
    /// [B, C, h, w]: the CNN's last activations (the Grad-CAM target), when there is a CNN.
    pub cnn_feature_map: Option<Tensor>,
    /// The head's input: the fused vector (fusion), or GenD's (normalised) CLS feature.
    pub fused: Tensor,
}

#[derive(Debug)]
pub struct Detector {
    cfg: DetectorConfig,
    clip: ClipVision,
    cnn: Option<Cnn>,
    top: Top,
}

impl Detector {
    /// Creates every variable under `root` (see the module doc for the names). The config is
    /// validated first.
    pub fn new(root: &nn::Path, cfg: &DetectorConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(match cfg.variant {
            Variant::GenD => {
                let fe = root / "feature_extractor";
                let clip = ClipVision::new(&fe, &cfg.clip, Some(cfg.projection_dim));
                let linear = nn::linear(
                    root / "model" / "linear",
                    cfg.clip.hidden_size,
                    2,
                    Default::default(),
                );
                Detector {
                    cfg: cfg.clone(),
                    clip,
                    cnn: None,
                    top: Top::GenD { linear },
                }
            }
            Variant::Fusion => {
                let clip = ClipVision::new(root, &cfg.clip, Some(cfg.projection_dim));
                let c = root / "cnn";
                let cnn = match cfg.cnn {
                    CnnKind::Xception => Some(Cnn::Xception(Box::new(Xception::new(&c)))),
                    CnnKind::EfficientNetB4 => Some(Cnn::EfficientNet(Box::new(
                        EfficientNet::new(&c, &EfficientNetConfig::b4()),
                    ))),
                    CnnKind::EfficientNetB0 => Some(Cnn::EfficientNet(Box::new(
                        EfficientNet::new(&c, &EfficientNetConfig::b0()),
                    ))),
                    CnnKind::None => None,
                };
                let fusion = Fusion::new(
                    root,
                    cfg.fusion,
                    cfg.projection_dim,
                    cfg.cnn.num_features(),
                    cfg.fusion_dim,
                )?;
                let head = Head::new(root, fusion.out_dim(), cfg.head_hidden, cfg.dropout)?;
                Detector {
                    cfg: cfg.clone(),
                    clip,
                    cnn,
                    top: Top::Fusion { fusion, head },
                }
            }
        })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.cfg
    }

    /// The CLIP tower, for explainability (attention rollout, hidden states).
    pub fn clip(&self) -> &ClipVision {
        &self.clip
    }

    /// Changes the fusion mode (α, t, weighted ↔ slerp) without new weights; see [`Fusion::set_mode`].
    pub fn set_fusion(&mut self, mode: FusionMode) -> Result<()> {
        match &mut self.top {
            Top::Fusion { fusion, .. } => {
                fusion.set_mode(mode)?;
                self.cfg.fusion = mode;
                Ok(())
            }
            Top::GenD { .. } => Err(Error::Config("the GenD layout has no fusion to set".into())),
        }
    }

    /// Whether the forward needs `cnn_pixels`.
    pub fn has_cnn(&self) -> bool {
        self.cnn.is_some()
    }

    /// `clip_pixels` [B,3,S,S] CLIP-normalised; `cnn_pixels` [B,3,H,W] ImageNet-normalised, given
    /// exactly when the detector has a CNN. `train` switches dropout and BatchNorm to training.
    pub fn forward(
        &self,
        clip_pixels: &Tensor,
        cnn_pixels: Option<&Tensor>,
        train: bool,
    ) -> Result<DetectorOutput> {
        let clip_out = self.clip.forward(clip_pixels)?;
        let batch = clip_pixels.size()[0];
        match (&self.cnn, cnn_pixels) {
            (None, Some(_)) => {
                return Err(Error::Model(
                    "this detector has no CNN, but CNN input was given".into(),
                ));
            }
            (Some(_), None) => {
                return Err(Error::Model(
                    "this detector has a CNN: its input (ImageNet-normalised faces) is missing"
                        .into(),
                ));
            }
            (Some(_), Some(x)) if x.dim() != 4 || x.size()[0] != batch => {
                return Err(Error::Model(format!(
                    "CNN input must be [{batch}, 3, H, W] like the CLIP input, got {:?}",
                    x.size()
                )));
            }
            _ => {}
        }
        match &self.top {
            Top::GenD { linear } => {
                let clip_emb = clip_out.pooled;
                let fused = if self.cfg.gend_head_norm {
                    l2_normalize(&clip_emb)
                } else {
                    clip_emb.shallow_clone()
                };
                let logits = fused.apply(linear);
                let prob = logits.softmax(-1, logits.kind()).select(1, 1);
                let logit = logits.select(1, 1) - logits.select(1, 0);
                Ok(DetectorOutput {
                    logit,
                    prob,
                    clip_emb,
                    cnn_emb: None,
                    cnn_feature_map: None,
                    fused,
                })
            }
            Top::Fusion { fusion, head } => {
                let clip_emb = clip_out.image_embeds.ok_or_else(|| {
                    Error::Model("CLIP tower was built without its projection".into())
                })?;
                let (cnn_emb, cnn_feature_map) = match (&self.cnn, cnn_pixels) {
                    (Some(cnn), Some(x)) => {
                        let f = cnn.forward_features(&x.to_device(clip_emb.device()), train)?;
                        // The top runs in the CLIP embedding's precision (fp32 under mixed
                        // precision: `models::set_inference_kind`).
                        (Some(f.pooled.to_kind(clip_emb.kind())), Some(f.feature_map))
                    }
                    _ => (None, None),
                };
                let fused = fusion.forward(&clip_emb, cnn_emb.as_ref())?;
                let out = head.forward(&fused, train)?;
                Ok(DetectorOutput {
                    logit: out.logit,
                    prob: out.prob,
                    clip_emb,
                    cnn_emb,
                    cnn_feature_map,
                    fused,
                })
            }
        }
    }
}

/// How the tensors of a weight file map onto a detector's variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightRole {
    /// Names are the detector's own (a GenD checkpoint, a saved/trained detector). Tensors of a
    /// model file may replace those of base files (e.g. LayerNorm-tuned CLIP parameters).
    Model,
    /// A Hugging Face `CLIPModel` checkpoint (`openai/clip-vit-large-patch14`): the vision tower
    /// and projection are used, the text tower and `logit_scale` are ignored.
    Clip,
    /// A timm checkpoint of the CNN: names get the `cnn.` prefix; its ImageNet classifier and
    /// BatchNorm counters are ignored.
    Cnn,
}

/// Buffers some checkpoints carry that are no parameters of ours.
fn is_buffer(name: &str) -> bool {
    name.ends_with(".position_ids") || name.ends_with(".num_batches_tracked")
}

/// Loads `files` (in order, each with its role) into `vs`, which holds a detector built with
/// `cfg`, strictly: every variable must be covered and every tensor used or deliberately ignored
/// (see [`WeightRole`]).
pub fn load_detector_weights(
    vs: &mut nn::VarStore,
    cfg: &DetectorConfig,
    files: &[(&Path, WeightRole)],
) -> Result<LoadReport> {
    let gend = cfg.variant == Variant::GenD;
    let same = |_: &str| None;
    let clip_rename = move |n: &str| gend.then(|| format!("feature_extractor.{n}"));
    let cnn_rename = |n: &str| Some(format!("cnn.{n}"));
    let model_ignore = |n: &str| is_buffer(n);
    let clip_ignore = |n: &str| {
        is_buffer(n)
            || n.starts_with("text_model.")
            || n.starts_with("text_projection.")
            || n == "logit_scale"
    };
    let cnn_ignore = |n: &str| {
        is_buffer(n)
            || n.starts_with("fc.")
            || n.starts_with("classifier.")
            || n.starts_with("head.fc.")
    };
    let sources: Vec<Source> = files
        .iter()
        .map(|&(path, role)| match role {
            WeightRole::Model => Source {
                path,
                rename: &same,
                ignore: &model_ignore,
                overrides: true,
            },
            WeightRole::Clip => Source {
                path,
                rename: &clip_rename,
                ignore: &clip_ignore,
                overrides: false,
            },
            WeightRole::Cnn => Source {
                path,
                rename: &cnn_rename,
                ignore: &cnn_ignore,
                overrides: false,
            },
        })
        .collect();
    weights::load_sources(vs, &sources)
}
