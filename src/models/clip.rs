//! CLIP — Radford et al., 2021, "Learning Transferable Visual Models From Natural Language
//! Supervision" (arXiv:2103.00020): a ViT image tower and a causal Transformer text tower.
//!
//! Mirrors Hugging Face transformers 5.24 `models/clip/modeling_clip.py` (`CLIPModel`,
//! `CLIPVisionModel`, `CLIPTextModel`, `CLIPVisionModelWithProjection`) parameter for parameter:
//! every variable is created under the checkpoint's own name (`vision_model.encoder.layers.3.
//! self_attn.q_proj.weight`, `visual_projection.weight`, …), so published `openai/clip-vit-*`
//! safetensors load by name, and a checkpoint that nests CLIP under a prefix (GenD's
//! `feature_extractor.`) loads by building on `vs.root() / "feature_extractor"`.
//! Parity with the reference (≤ 1e-4, fp32) is checked in `tests/parity_clip.rs`.
//!
//! LayerNorm-only tuning (LNCLIP-DF: train only the LayerNorm affine parameters of a frozen CLIP
//! plus a small head) is [`freeze_all_but_layernorm`].
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

use crate::{Error, Result};

/// The MLP non-linearity; serialised with transformers' `hidden_act` strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `x · σ(1.702 x)`: what OpenAI trained every released CLIP with.
    QuickGelu,
    /// Exact (erf) GELU, used by some re-trained CLIPs (e.g. LAION's in HF format).
    Gelu,
}

impl Activation {
    fn forward(self, xs: &Tensor) -> Tensor {
        match self {
            Activation::QuickGelu => xs * (xs * 1.702).sigmoid(),
            Activation::Gelu => xs.gelu("none"),
        }
    }
}

/// transformers' `CLIPVisionConfig` (the fields that shape the network).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipVisionConfig {
    pub image_size: i64,
    pub patch_size: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub layer_norm_eps: f64,
    pub hidden_act: Activation,
}

/// transformers' `CLIPTextConfig` (the fields that shape the network).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipTextConfig {
    pub vocab_size: i64,
    pub max_position_embeddings: i64,
    pub hidden_size: i64,
    pub intermediate_size: i64,
    pub num_hidden_layers: i64,
    pub num_attention_heads: i64,
    pub layer_norm_eps: f64,
    pub hidden_act: Activation,
    /// Token whose final hidden state is the sentence embedding. 49407 (`<|endoftext|>`) for
    /// the OpenAI vocabulary; the value 2 selects transformers' legacy rule (see [`ClipText`]).
    pub eos_token_id: i64,
}

/// transformers' `CLIPConfig`: both towers and the width of the shared embedding space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    pub vision: ClipVisionConfig,
    pub text: ClipTextConfig,
    pub projection_dim: i64,
}

/// The OpenAI text tower shared by every released CLIP size, at a given width.
fn openai_text(hidden_size: i64, heads: i64) -> ClipTextConfig {
    ClipTextConfig {
        vocab_size: 49408,
        max_position_embeddings: 77,
        hidden_size,
        intermediate_size: 4 * hidden_size,
        num_hidden_layers: 12,
        num_attention_heads: heads,
        layer_norm_eps: 1e-5,
        hidden_act: Activation::QuickGelu,
        eos_token_id: 49407,
    }
}

fn vit(patch_size: i64, hidden_size: i64, layers: i64, heads: i64) -> ClipVisionConfig {
    ClipVisionConfig {
        image_size: 224,
        patch_size,
        hidden_size,
        intermediate_size: 4 * hidden_size,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        layer_norm_eps: 1e-5,
        hidden_act: Activation::QuickGelu,
    }
}

impl ClipConfig {
    /// `openai/clip-vit-large-patch14`: the backbone of LNCLIP-DF / GenD.
    pub fn vit_large_patch14() -> Self {
        ClipConfig {
            vision: vit(14, 1024, 24, 16),
            text: openai_text(768, 12),
            projection_dim: 768,
        }
    }

    /// `openai/clip-vit-base-patch32`.
    pub fn vit_base_patch32() -> Self {
        ClipConfig {
            vision: vit(32, 768, 12, 12),
            text: openai_text(512, 8),
            projection_dim: 512,
        }
    }

    /// `openai/clip-vit-base-patch16`.
    pub fn vit_base_patch16() -> Self {
        ClipConfig {
            vision: vit(16, 768, 12, 12),
            text: openai_text(512, 8),
            projection_dim: 512,
        }
    }

    /// A small random-weight CLIP for fast tests. Patch 14 at 224² keeps ViT-L/14's 16×16 grid
    /// (what explainability maps are drawn on); the text tower keeps the real vocabulary so real
    /// tokenizer output feeds it, and uses exact GELU so both activations are exercised.
    pub fn tiny() -> Self {
        ClipConfig {
            vision: ClipVisionConfig {
                image_size: 224,
                patch_size: 14,
                hidden_size: 64,
                intermediate_size: 256,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                layer_norm_eps: 1e-5,
                hidden_act: Activation::QuickGelu,
            },
            text: ClipTextConfig {
                vocab_size: 49408,
                max_position_embeddings: 77,
                hidden_size: 64,
                intermediate_size: 256,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                layer_norm_eps: 1e-5,
                hidden_act: Activation::Gelu,
                eos_token_id: 49407,
            },
            projection_dim: 32,
        }
    }
}

fn check_tower(what: &str, hidden: i64, heads: i64, layers: i64, mlp: i64, eps: f64) -> Result<()> {
    if hidden <= 0 || heads <= 0 || layers < 0 || mlp <= 0 || hidden % heads != 0 {
        return Err(Error::Config(format!(
            "CLIP {what} tower: hidden_size {hidden} must be a positive multiple of \
             num_attention_heads {heads} (layers {layers}, intermediate_size {mlp})"
        )));
    }
    if eps.is_nan() || eps <= 0.0 {
        return Err(Error::Config(format!(
            "CLIP {what} tower: layer_norm_eps must be > 0, got {eps}"
        )));
    }
    Ok(())
}

impl ClipVisionConfig {
    /// Checks the numbers make a network (`ClipVision::new` assumes they do). Call this on
    /// configs read from files.
    pub fn validate(&self) -> Result<()> {
        check_tower(
            "vision",
            self.hidden_size,
            self.num_attention_heads,
            self.num_hidden_layers,
            self.intermediate_size,
            self.layer_norm_eps,
        )?;
        if self.patch_size <= 0 || self.image_size < self.patch_size {
            return Err(Error::Config(format!(
                "CLIP vision tower: patch_size {} must be in 1..=image_size {}",
                self.patch_size, self.image_size
            )));
        }
        Ok(())
    }

    /// Patches per side (16 for ViT-L/14 at 224²).
    pub fn grid(&self) -> i64 {
        self.image_size / self.patch_size
    }
}

impl ClipTextConfig {
    /// Checks the numbers make a network (`ClipText::new` assumes they do).
    pub fn validate(&self) -> Result<()> {
        check_tower(
            "text",
            self.hidden_size,
            self.num_attention_heads,
            self.num_hidden_layers,
            self.intermediate_size,
            self.layer_norm_eps,
        )?;
        if self.vocab_size <= 0 || self.max_position_embeddings <= 0 {
            return Err(Error::Config(format!(
                "CLIP text tower: vocab_size {} and max_position_embeddings {} must be positive",
                self.vocab_size, self.max_position_embeddings
            )));
        }
        Ok(())
    }
}

impl ClipConfig {
    pub fn validate(&self) -> Result<()> {
        self.vision.validate()?;
        self.text.validate()?;
        if self.projection_dim <= 0 {
            return Err(Error::Config(format!(
                "CLIP projection_dim must be positive, got {}",
                self.projection_dim
            )));
        }
        Ok(())
    }
}

/// The precision of a LayerNorm's parameters (its input must match it).
fn norm_kind(ln: &nn::LayerNorm) -> Kind {
    ln.ws.as_ref().map(Tensor::kind).unwrap_or(Kind::Float)
}

fn layer_norm(p: nn::Path, dim: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![dim],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}

fn linear(p: nn::Path, in_dim: i64, out_dim: i64, bias: bool) -> nn::Linear {
    nn::linear(
        p,
        in_dim,
        out_dim,
        nn::LinearConfig {
            bias,
            ..Default::default()
        },
    )
}

/// `CLIPAttention`: multi-head self-attention with separate q/k/v/out projections.
#[derive(Debug)]
struct Attention {
    q_proj: nn::Linear,
    k_proj: nn::Linear,
    v_proj: nn::Linear,
    out_proj: nn::Linear,
    num_heads: i64,
    head_dim: i64,
    scale: f64,
}

impl Attention {
    fn new(p: nn::Path, hidden: i64, heads: i64) -> Self {
        let head_dim = hidden / heads;
        Attention {
            q_proj: linear(&p / "q_proj", hidden, hidden, true),
            k_proj: linear(&p / "k_proj", hidden, hidden, true),
            v_proj: linear(&p / "v_proj", hidden, hidden, true),
            out_proj: linear(&p / "out_proj", hidden, hidden, true),
            num_heads: heads,
            head_dim,
            scale: (head_dim as f64).powf(-0.5),
        }
    }

    /// `[B,T,D]` → `[B,T,D]`. With `want_probs` the attention is computed eagerly (as
    /// transformers' `eager_attention_forward`) and the softmax probabilities `[B,H,T,T]` are
    /// returned; otherwise libtorch's fused `scaled_dot_product_attention` is used (less memory,
    /// faster on GPU; same result to float rounding).
    fn forward(&self, xs: &Tensor, causal: bool, want_probs: bool) -> (Tensor, Option<Tensor>) {
        let size = xs.size();
        let (b, t, d) = (size[0], size[1], size[2]);
        let heads = |x: Tensor| {
            x.view([b, t, self.num_heads, self.head_dim])
                .transpose(1, 2)
        };
        // Matmuls in the weights' precision; the result back in the caller's (the residual
        // stream's) precision — the same kind throughout, except under mixed precision
        // (`models::set_inference_kind`).
        let io = xs.kind();
        let xs = &xs.to_kind(self.q_proj.ws.kind());
        let q = heads(self.q_proj.forward(xs));
        let k = heads(self.k_proj.forward(xs));
        let v = heads(self.v_proj.forward(xs));
        let (out, probs) = if want_probs {
            let mut scores = q.matmul(&k.transpose(-1, -2)) * self.scale;
            if causal {
                let future = Tensor::ones([t, t], (Kind::Bool, xs.device())).triu(1);
                scores = scores.masked_fill(&future, f64::NEG_INFINITY);
            }
            // Softmax in fp32 whatever the compute precision, as the reference does.
            let probs = scores.softmax(-1, Kind::Float).to_kind(q.kind());
            (probs.matmul(&v), Some(probs))
        } else {
            let out = Tensor::scaled_dot_product_attention(
                &q,
                &k,
                &v,
                None::<&Tensor>,
                0.0,
                causal,
                Some(self.scale),
                false,
            );
            (out, None)
        };
        let out = out.transpose(1, 2).contiguous().view([b, t, d]);
        (self.out_proj.forward(&out).to_kind(io), probs)
    }
}

/// `CLIPMLP`.
#[derive(Debug)]
struct Mlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
    act: Activation,
}

impl Mlp {
    fn new(p: nn::Path, hidden: i64, inner: i64, act: Activation) -> Self {
        Mlp {
            fc1: linear(&p / "fc1", hidden, inner, true),
            fc2: linear(&p / "fc2", inner, hidden, true),
            act,
        }
    }

    fn forward(&self, xs: &Tensor) -> Tensor {
        let io = xs.kind();
        let xs = xs.to_kind(self.fc1.ws.kind());
        self.fc2
            .forward(&self.act.forward(&self.fc1.forward(&xs)))
            .to_kind(io)
    }
}

/// `CLIPEncoderLayer`: pre-LN residual block (LN → attention → +, LN → MLP → +).
#[derive(Debug)]
struct EncoderLayer {
    self_attn: Attention,
    layer_norm1: nn::LayerNorm,
    mlp: Mlp,
    layer_norm2: nn::LayerNorm,
}

impl EncoderLayer {
    fn forward(&self, xs: &Tensor, causal: bool, want_probs: bool) -> (Tensor, Option<Tensor>) {
        let (attn, probs) =
            self.self_attn
                .forward(&self.layer_norm1.forward(xs), causal, want_probs);
        let xs = xs + attn;
        let out = &xs + self.mlp.forward(&self.layer_norm2.forward(&xs));
        (out, probs)
    }
}

/// What to keep from a pass through the encoder besides its output.
#[derive(Clone, Copy, Default)]
struct Capture {
    attentions: bool,
    hidden_states: bool,
}

#[derive(Default)]
struct Captured {
    attentions: Vec<Tensor>,
    hidden_states: Vec<Tensor>,
}

/// `CLIPEncoder`: the stack of layers under `encoder.layers.{i}`.
#[derive(Debug)]
struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: nn::Path,
        hidden: i64,
        inner: i64,
        layers: i64,
        heads: i64,
        eps: f64,
        act: Activation,
    ) -> Self {
        let lp = &p / "layers";
        let layers = (0..layers)
            .map(|i| {
                let l = &lp / i;
                EncoderLayer {
                    self_attn: Attention::new(&l / "self_attn", hidden, heads),
                    layer_norm1: layer_norm(&l / "layer_norm1", hidden, eps),
                    mlp: Mlp::new(&l / "mlp", hidden, inner, act),
                    layer_norm2: layer_norm(&l / "layer_norm2", hidden, eps),
                }
            })
            .collect();
        Encoder { layers }
    }

    fn forward(&self, xs: &Tensor, causal: bool, capture: Capture) -> (Tensor, Captured) {
        let mut captured = Captured::default();
        let mut xs = xs.shallow_clone();
        for layer in &self.layers {
            let (out, probs) = layer.forward(&xs, causal, capture.attentions);
            if let Some(p) = probs {
                captured.attentions.push(p);
            }
            if capture.hidden_states {
                captured.hidden_states.push(out.shallow_clone());
            }
            xs = out;
        }
        (xs, captured)
    }
}

/// The vision tower's outputs, named as in transformers.
#[derive(Debug)]
pub struct ClipVisionOutput {
    /// `[B, 1+N, D]`: encoder output (CLS first, then the N = grid² patch tokens in row-major
    /// order), *before* the post-LayerNorm — transformers' `last_hidden_state`.
    pub last_hidden_state: Tensor,
    /// `[B, D]`: `post_layernorm(last_hidden_state[:, 0])` — transformers' `pooler_output`, the
    /// feature LNCLIP-DF/GenD classify.
    pub pooled: Tensor,
    /// `[B, P]`: `visual_projection(pooled)` when the tower was built with a projection.
    pub image_embeds: Option<Tensor>,
}

/// CLIP's image tower (`CLIPVisionModel` under `vision_model.`, plus `visual_projection`).
#[derive(Debug)]
pub struct ClipVision {
    cfg: ClipVisionConfig,
    class_embedding: Tensor,
    patch_embedding: nn::Conv2D,
    position_embedding: nn::Embedding,
    // transformers' (and OpenAI's) spelling: the checkpoint key is `pre_layrnorm`.
    pre_layrnorm: nn::LayerNorm,
    encoder: Encoder,
    post_layernorm: nn::LayerNorm,
    visual_projection: Option<nn::Linear>,
}

impl ClipVision {
    /// Creates the variables under `root / "vision_model"` and, when `projection_dim` is given,
    /// `root / "visual_projection"` (weight only). The config is assumed valid
    /// ([`ClipVisionConfig::validate`]).
    pub fn new(root: &nn::Path, cfg: &ClipVisionConfig, projection_dim: Option<i64>) -> Self {
        let d = cfg.hidden_size;
        let p = root / "vision_model";
        let e = &p / "embeddings";
        let num_positions = cfg.grid() * cfg.grid() + 1;
        ClipVision {
            cfg: cfg.clone(),
            class_embedding: e.randn("class_embedding", &[d], 0.0, (d as f64).powf(-0.5)),
            patch_embedding: nn::conv2d(
                &e / "patch_embedding",
                3,
                d,
                cfg.patch_size,
                nn::ConvConfig {
                    stride: cfg.patch_size,
                    bias: false,
                    ..Default::default()
                },
            ),
            position_embedding: nn::embedding(
                &e / "position_embedding",
                num_positions,
                d,
                Default::default(),
            ),
            pre_layrnorm: layer_norm(&p / "pre_layrnorm", d, cfg.layer_norm_eps),
            encoder: Encoder::new(
                &p / "encoder",
                d,
                cfg.intermediate_size,
                cfg.num_hidden_layers,
                cfg.num_attention_heads,
                cfg.layer_norm_eps,
                cfg.hidden_act,
            ),
            post_layernorm: layer_norm(&p / "post_layernorm", d, cfg.layer_norm_eps),
            visual_projection: projection_dim
                .map(|pd| linear(root / "visual_projection", d, pd, false)),
        }
    }

    pub fn config(&self) -> &ClipVisionConfig {
        &self.cfg
    }

    /// Patches per side of the token grid (16 for ViT-L/14 at 224²).
    pub fn grid(&self) -> i64 {
        self.cfg.grid()
    }

    /// The device the weights live on.
    pub fn device(&self) -> Device {
        self.class_embedding.device()
    }

    /// `pixels`: `[B, 3, S, S]` floating point, already CLIP-normalised, S = `image_size`; moved
    /// to the weights' device and precision if needed.
    pub fn forward(&self, pixels: &Tensor) -> Result<ClipVisionOutput> {
        self.run(pixels, Capture::default()).map(|(out, _)| out)
    }

    /// As [`forward`](Self::forward), plus each layer's attention probabilities `[B, H, T, T]`
    /// (T = 1 + grid²; first layer first), for attention rollout. Computed eagerly, so it costs
    /// more memory than `forward`.
    pub fn forward_with_attentions(
        &self,
        pixels: &Tensor,
    ) -> Result<(ClipVisionOutput, Vec<Tensor>)> {
        let capture = Capture {
            attentions: true,
            hidden_states: false,
        };
        self.run(pixels, capture)
            .map(|(out, c)| (out, c.attentions))
    }

    /// As [`forward`](Self::forward), plus each encoder layer's output `[B, T, D]` (first layer
    /// first; the last equals `last_hidden_state`) — transformers' `hidden_states[1..]`. These
    /// stay in the autograd graph, so Grad-CAM can take gradients with respect to them.
    pub fn forward_with_hidden_states(
        &self,
        pixels: &Tensor,
    ) -> Result<(ClipVisionOutput, Vec<Tensor>)> {
        let capture = Capture {
            attentions: false,
            hidden_states: true,
        };
        self.run(pixels, capture)
            .map(|(out, c)| (out, c.hidden_states))
    }

    fn check_pixels(&self, pixels: &Tensor) -> Result<()> {
        let s = self.cfg.image_size;
        let size = pixels.size();
        if size.len() != 4 || size[1] != 3 || size[2] != s || size[3] != s {
            return Err(Error::Model(format!(
                "CLIP vision tower expects images as a [batch, 3, {s}, {s}] tensor \
                 (RGB, {s}×{s} pixels), got shape {size:?}"
            )));
        }
        if !pixels.is_floating_point() {
            return Err(Error::Model(format!(
                "CLIP vision tower expects normalised floating-point pixels, got {:?} \
                 (were raw 0–255 bytes passed without preprocessing?)",
                pixels.kind()
            )));
        }
        Ok(())
    }

    fn run(&self, pixels: &Tensor, capture: Capture) -> Result<(ClipVisionOutput, Captured)> {
        self.check_pixels(pixels)?;
        let d = self.cfg.hidden_size;
        let b = pixels.size()[0];
        let x = pixels
            .to_device(self.device())
            .to_kind(self.class_embedding.kind());
        // `CLIPVisionEmbeddings`: patchify conv → tokens, prepend CLS, add learned positions.
        let patches = self
            .patch_embedding
            .forward(&x)
            .flatten(2, -1)
            .transpose(1, 2);
        let cls = self
            .class_embedding
            .view([1, 1, d])
            .expand([b, 1, d], false);
        let emb = Tensor::cat(&[cls, patches], 1) + self.position_embedding.ws.unsqueeze(0);
        // The residual stream runs in the LayerNorms' precision (fp32 under mixed precision).
        let emb = emb.to_kind(norm_kind(&self.pre_layrnorm));
        let hidden = self.pre_layrnorm.forward(&emb);
        let (last_hidden_state, captured) = self.encoder.forward(&hidden, false, capture);
        let pooled = self.post_layernorm.forward(&last_hidden_state.select(1, 0));
        let image_embeds = self.visual_projection.as_ref().map(|p| {
            p.forward(&pooled.to_kind(p.ws.kind()))
                .to_kind(pooled.kind())
        });
        Ok((
            ClipVisionOutput {
                last_hidden_state,
                pooled,
                image_embeds,
            },
            captured,
        ))
    }
}

/// The text tower's outputs, named as in transformers.
#[derive(Debug)]
pub struct ClipTextOutput {
    /// `[B, T, D]` after `final_layer_norm`.
    pub last_hidden_state: Tensor,
    /// `[B, D]`: the hidden state at the end-of-text token — transformers' `pooler_output`.
    pub pooled: Tensor,
    /// `[B, P]`: `text_projection(pooled)` when the tower was built with a projection.
    pub text_embeds: Option<Tensor>,
}

/// CLIP's text tower (`CLIPTextModel` under `text_model.`, plus `text_projection`): a causal
/// Transformer over BPE tokens (see [`super::tokenizer::ClipTokenizer`]).
///
/// Pooling follows transformers 5.24: with `eos_token_id == 2` (configs written before
/// transformers PR #24773) the position of the largest id is taken (the end-of-text token is the
/// largest id of the OpenAI vocabulary); otherwise the first position holding `eos_token_id`. A
/// row without that token pools position 0, as the reference does. For tokenizer output both
/// rules pick the same position.
#[derive(Debug)]
pub struct ClipText {
    cfg: ClipTextConfig,
    token_embedding: nn::Embedding,
    position_embedding: nn::Embedding,
    encoder: Encoder,
    final_layer_norm: nn::LayerNorm,
    text_projection: Option<nn::Linear>,
}

impl ClipText {
    /// Creates the variables under `root / "text_model"` and, when `projection_dim` is given,
    /// `root / "text_projection"` (weight only). The config is assumed valid
    /// ([`ClipTextConfig::validate`]).
    pub fn new(root: &nn::Path, cfg: &ClipTextConfig, projection_dim: Option<i64>) -> Self {
        let d = cfg.hidden_size;
        let p = root / "text_model";
        let e = &p / "embeddings";
        let init = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        ClipText {
            cfg: cfg.clone(),
            token_embedding: nn::embedding(&e / "token_embedding", cfg.vocab_size, d, init),
            position_embedding: nn::embedding(
                &e / "position_embedding",
                cfg.max_position_embeddings,
                d,
                init,
            ),
            encoder: Encoder::new(
                &p / "encoder",
                d,
                cfg.intermediate_size,
                cfg.num_hidden_layers,
                cfg.num_attention_heads,
                cfg.layer_norm_eps,
                cfg.hidden_act,
            ),
            final_layer_norm: layer_norm(&p / "final_layer_norm", d, cfg.layer_norm_eps),
            text_projection: projection_dim
                .map(|pd| linear(root / "text_projection", d, pd, false)),
        }
    }

    pub fn config(&self) -> &ClipTextConfig {
        &self.cfg
    }

    /// `ids`: `[B, T]` integer token ids (T ≤ `max_position_embeddings`, e.g. from
    /// `ClipTokenizer::tokenize`). Returns `text_embeds` `[B, P]`, or the pooled `[B, D]` when the
    /// tower has no projection.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let out = self.forward_output(ids)?;
        Ok(out.text_embeds.unwrap_or(out.pooled))
    }

    /// All of the tower's outputs.
    pub fn forward_output(&self, ids: &Tensor) -> Result<ClipTextOutput> {
        let ids = self.check_ids(ids)?;
        let size = ids.size();
        let (b, t, d) = (size[0], size[1], self.cfg.hidden_size);
        let tokens = self.token_embedding.forward(&ids);
        let positions = self.position_embedding.ws.narrow(0, 0, t).unsqueeze(0);
        let (hidden, _) = self
            .encoder
            .forward(&(tokens + positions), true, Capture::default());
        let last_hidden_state = self.final_layer_norm.forward(&hidden);
        let eos_pos = if self.cfg.eos_token_id == 2 {
            ids.argmax(-1, false)
        } else {
            ids.eq(self.cfg.eos_token_id)
                .to_kind(Kind::Int)
                .argmax(-1, false)
        };
        let index = eos_pos.view([b, 1, 1]).expand([b, 1, d], false);
        let pooled = last_hidden_state.gather(1, &index, false).squeeze_dim(1);
        let text_embeds = self.text_projection.as_ref().map(|p| p.forward(&pooled));
        Ok(ClipTextOutput {
            last_hidden_state,
            pooled,
            text_embeds,
        })
    }

    /// Validates token ids and returns them as int64 on the weights' device.
    fn check_ids(&self, ids: &Tensor) -> Result<Tensor> {
        let size = ids.size();
        let max_t = self.cfg.max_position_embeddings;
        if size.len() != 2 || size[1] == 0 || size[1] > max_t {
            return Err(Error::Model(format!(
                "CLIP text tower expects token ids shaped [batch, length] with 1 ≤ length ≤ {max_t}, \
                 got shape {size:?}"
            )));
        }
        if ids.is_floating_point() || ids.kind() == Kind::Bool || ids.is_complex() {
            return Err(Error::Model(format!(
                "CLIP text tower expects integer token ids, got {:?}",
                ids.kind()
            )));
        }
        let ids = ids
            .to_device(self.token_embedding.ws.device())
            .to_kind(Kind::Int64);
        if ids.numel() > 0 {
            let (lo, hi) = (ids.min().int64_value(&[]), ids.max().int64_value(&[]));
            if lo < 0 || hi >= self.cfg.vocab_size {
                return Err(Error::Model(format!(
                    "CLIP text tower: token ids must be in 0..{}, got values from {lo} to {hi}",
                    self.cfg.vocab_size
                )));
            }
        }
        Ok(ids)
    }
}

/// Zero-shot scores of images against texts.
#[derive(Debug)]
pub struct ClipOutput {
    /// `[B_images, B_texts]`: `exp(logit_scale) · cos(image, text)`.
    pub logits_per_image: Tensor,
    /// `[B_images, P]`, L2-normalised.
    pub image_embeds: Tensor,
    /// `[B_texts, P]`, L2-normalised.
    pub text_embeds: Tensor,
}

/// Both towers and the learned temperature: transformers' `CLIPModel`.
#[derive(Debug)]
pub struct Clip {
    pub vision: ClipVision,
    pub text: ClipText,
    logit_scale: Tensor,
}

impl Clip {
    /// Creates `vision_model.*`, `visual_projection.weight`, `text_model.*`,
    /// `text_projection.weight` and `logit_scale` under `root`.
    pub fn new(root: &nn::Path, cfg: &ClipConfig) -> Self {
        Clip {
            vision: ClipVision::new(root, &cfg.vision, Some(cfg.projection_dim)),
            text: ClipText::new(root, &cfg.text, Some(cfg.projection_dim)),
            // ln(1/0.07), CLIP's initial temperature (transformers' `logit_scale_init_value`).
            logit_scale: root.var("logit_scale", &[], nn::Init::Const(2.6592)),
        }
    }

    pub fn forward(&self, pixels: &Tensor, ids: &Tensor) -> Result<ClipOutput> {
        let image = self.vision.forward(pixels)?.image_embeds;
        let text = self.text.forward(ids)?;
        let image = image
            .ok_or_else(|| Error::Model("CLIP vision tower built without projection".into()))?;
        let normalise = |x: &Tensor| {
            x / x
                .pow_tensor_scalar(2)
                .sum_dim_intlist(-1, true, None)
                .sqrt()
        };
        let (image_embeds, text_embeds) = (normalise(&image), normalise(&text));
        let logits_per_image = image_embeds.matmul(&text_embeds.tr()) * self.logit_scale.exp();
        Ok(ClipOutput {
            logits_per_image,
            image_embeds,
            text_embeds,
        })
    }
}

/// Trainable versus total parameter counts after [`freeze_all_but_layernorm`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ParamCount {
    pub trainable: i64,
    pub total: i64,
    /// `100 · trainable / total`.
    pub percent: f64,
}

/// Whether a variable is a LayerNorm affine parameter, by its checkpoint name (covers
/// `layer_norm1/2`, `pre_layrnorm`, `post_layernorm`, `final_layer_norm`).
pub fn is_layer_norm_name(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    (last == "weight" || last == "bias")
        && ["layer_norm", "layrnorm", "layernorm"]
            .iter()
            .any(|pat| name.contains(pat))
}

/// LayerNorm-only tuning: every variable of `vs` stops requiring gradients except LayerNorm
/// weights/biases and variables whose name starts with one of `keep_prefixes` (e.g. `"head."`),
/// which are made trainable. Optimisers built from `vs` afterwards skip the frozen tensors (they
/// never get a gradient).
pub fn freeze_all_but_layernorm(vs: &mut nn::VarStore, keep_prefixes: &[&str]) -> ParamCount {
    let (mut trainable, mut total) = (0i64, 0i64);
    for (name, tensor) in vs.variables() {
        let keep = is_layer_norm_name(&name) || keep_prefixes.iter().any(|p| name.starts_with(p));
        let _ = tensor.set_requires_grad(keep);
        let n = tensor.numel() as i64;
        total += n;
        if keep {
            trainable += n;
        }
    }
    let percent = if total > 0 {
        100.0 * trainable as f64 / total as f64
    } else {
        0.0
    };
    ParamCount {
        trainable,
        total,
        percent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_vision() -> (nn::VarStore, ClipVision) {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ClipConfig::tiny();
        let v = ClipVision::new(&vs.root(), &cfg.vision, Some(cfg.projection_dim));
        (vs, v)
    }

    #[test]
    fn vision_shapes_and_grid() {
        let (_vs, v) = tiny_vision();
        assert_eq!(v.grid(), 16);
        let x = Tensor::randn([3, 3, 224, 224], (Kind::Float, Device::Cpu));
        let (out, att) = tch::no_grad(|| v.forward_with_attentions(&x)).unwrap();
        assert_eq!(out.last_hidden_state.size(), [3, 257, 64]);
        assert_eq!(out.pooled.size(), [3, 64]);
        assert_eq!(out.image_embeds.unwrap().size(), [3, 32]);
        assert_eq!(att.len(), 2);
        assert_eq!(att[0].size(), [3, 4, 257, 257]);
        // Probabilities: each row sums to one.
        let sums = att[1].sum_dim_intlist(-1, false, None);
        assert!((sums - 1.0).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn empty_batches_give_empty_outputs() {
        // A frame with no face yields an empty batch; that is not an error.
        let vs = nn::VarStore::new(Device::Cpu);
        let clip = Clip::new(&vs.root(), &ClipConfig::tiny());
        let pixels = Tensor::zeros([0, 3, 224, 224], (Kind::Float, Device::Cpu));
        let ids = Tensor::zeros([0, 77], (Kind::Int64, Device::Cpu));
        let out = tch::no_grad(|| clip.forward(&pixels, &ids)).unwrap();
        assert_eq!(out.image_embeds.size(), [0, 32]);
        assert_eq!(out.text_embeds.size(), [0, 32]);
        assert_eq!(out.logits_per_image.size(), [0, 0]);
    }

    #[test]
    fn vision_rejects_bad_shapes_with_clear_errors() {
        let (_vs, v) = tiny_vision();
        let cases: [(&[i64], &str); 4] = [
            (&[1, 1, 224, 224], "[1, 1, 224, 224]"),
            (&[1, 3, 112, 112], "[1, 3, 112, 112]"),
            (&[3, 224, 224], "[3, 224, 224]"),
            (&[2, 4, 224, 224], "[2, 4, 224, 224]"),
        ];
        for (shape, shown) in cases {
            let x = Tensor::zeros(shape, (Kind::Float, Device::Cpu));
            let err = v.forward(&x).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, Error::Model(_)), "{msg}");
            assert!(
                msg.contains("[batch, 3, 224, 224]") && msg.contains(shown),
                "{msg}"
            );
        }
        let bytes = Tensor::zeros([1, 3, 224, 224], (Kind::Uint8, Device::Cpu));
        let msg = v.forward(&bytes).unwrap_err().to_string();
        assert!(
            msg.contains("floating-point") && msg.contains("Uint8"),
            "{msg}"
        );
    }

    #[test]
    fn text_rejects_bad_ids() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ClipConfig::tiny();
        let t = ClipText::new(&vs.root(), &cfg.text, Some(cfg.projection_dim));
        let long = Tensor::zeros([1, 78], (Kind::Int64, Device::Cpu));
        assert!(t
            .forward(&long)
            .unwrap_err()
            .to_string()
            .contains("length ≤ 77"));
        let oov = Tensor::from_slice(&[49406i64, 49408]).view([1, 2]);
        assert!(t
            .forward(&oov)
            .unwrap_err()
            .to_string()
            .contains("0..49408"));
        let float = Tensor::zeros([1, 5], (Kind::Float, Device::Cpu));
        assert!(t
            .forward(&float)
            .unwrap_err()
            .to_string()
            .contains("integer token ids"));
        let ok = Tensor::from_slice(&[49406i32, 320, 49407]).view([1, 3]);
        assert_eq!(tch::no_grad(|| t.forward(&ok)).unwrap().size(), [1, 32]);
    }

    #[test]
    fn pooling_follows_eos_rule_of_the_config() {
        let ids = Tensor::from_slice(&[49406i64, 1125, 320, 49407, 1125]).view([1, 5]);
        let pooled_at = |eos: i64| {
            let vs = nn::VarStore::new(Device::Cpu);
            tch::manual_seed(7);
            let mut cfg = ClipConfig::tiny().text;
            cfg.eos_token_id = eos;
            let out = tch::no_grad(|| ClipText::new(&vs.root(), &cfg, None).forward_output(&ids))
                .unwrap();
            let h = out.last_hidden_state.get(0);
            (0..5)
                .find(|&i| h.get(i).equal(&out.pooled.get(0)))
                .unwrap()
        };
        assert_eq!(pooled_at(49407), 3); // first end-of-text token
        assert_eq!(pooled_at(1125), 1); // first occurrence of the configured id
        assert_eq!(pooled_at(2), 3); // legacy configs: position of the largest id
    }

    #[test]
    fn causal_mask_hides_future_tokens() {
        // The EOS state must not depend on tokens after it; all earlier ones must matter.
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ClipConfig::tiny();
        let t = ClipText::new(&vs.root(), &cfg.text, None);
        let a = Tensor::from_slice(&[49406i64, 320, 1125, 49407, 0, 0]).view([1, 6]);
        let b = Tensor::from_slice(&[49406i64, 320, 1125, 49407, 500, 600]).view([1, 6]);
        let c = Tensor::from_slice(&[49406i64, 320, 1126, 49407, 0, 0]).view([1, 6]);
        let (pa, pb, pc) = tch::no_grad(|| {
            (
                t.forward(&a).unwrap(),
                t.forward(&b).unwrap(),
                t.forward(&c).unwrap(),
            )
        });
        assert!((&pa - &pb).abs().max().double_value(&[]) < 1e-6);
        assert!((&pa - &pc).abs().max().double_value(&[]) > 1e-4);
    }

    #[test]
    fn config_validation_and_serde() {
        let mut cfg = ClipConfig::vit_large_patch14();
        cfg.validate().unwrap();
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains("\"hidden_act\":\"quick_gelu\""));
        let back: ClipConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
        cfg.vision.num_attention_heads = 5;
        assert!(matches!(cfg.validate(), Err(Error::Config(_))));
    }

    #[test]
    fn layer_norm_names() {
        for n in [
            "vision_model.pre_layrnorm.weight",
            "vision_model.post_layernorm.bias",
            "vision_model.encoder.layers.3.layer_norm2.weight",
            "text_model.final_layer_norm.bias",
        ] {
            assert!(is_layer_norm_name(n), "{n}");
        }
        for n in [
            "vision_model.encoder.layers.3.mlp.fc1.weight",
            "visual_projection.weight",
            "logit_scale",
        ] {
            assert!(!is_layer_norm_name(n), "{n}");
        }
    }
}
