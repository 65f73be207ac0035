//! EfficientNet-B0/B4, the second forensic CNN (EfficientNet-B4 is the DFDC-winning backbone).
//!
//! Paper: M. Tan, Q. V. Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
//! Networks", ICML 2019, <https://arxiv.org/abs/1905.11946>. Mirrors timm's PyTorch-native
//! `efficientnet_b0` / `efficientnet_b4` (pytorch-image-models `timm/models/efficientnet.py`
//! `_gen_efficientnet`, `_efficientnet_builder.py`, `_efficientnet_blocks.py`): symmetric
//! padding `((stride - 1) + (k - 1)) // 2` (not the TF-"same" of the `tf_` variants), SiLU,
//! squeeze-excitation sized from the block input, channel and depth rounding as timm's
//! `round_channels` / `_scale_stage_depth`. Variable names are timm's `state_dict` keys
//! (`conv_stem`, `bn1`, `blocks.{s}.{i}.…`, `conv_head`, `bn2`), so a timm checkpoint with
//! `num_classes=0` (no `classifier`) loads unchanged.
use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::{batch_norm, check_image_batch, CnnFeatures};
use crate::Result;

/// Smallest input side accepted: the network downsamples 32×.
const MIN_SIDE: i64 = 32;

/// The two block types of EfficientNet's stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// timm `DepthwiseSeparableConv` (`ds`): dw conv → SE → pw conv; used where expansion is 1.
    DepthwiseSeparable,
    /// timm `InvertedResidual` (`ir`, MBConv): pw expand → dw conv → SE → pw linear.
    InvertedResidual,
}

/// One stage of the architecture definition before width/depth scaling; timm writes it as a
/// string such as `ir_r2_k3_s2_e6_c24_se0.25`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageArgs {
    pub kind: BlockKind,
    /// Blocks in the stage before depth scaling (`r`).
    pub repeats: usize,
    /// Depthwise kernel size (`k`).
    pub kernel: i64,
    /// Stride of the stage's first block (`s`); the other blocks use stride 1.
    pub stride: i64,
    /// Expansion ratio (`e`).
    pub exp_ratio: f64,
    /// Output channels before width scaling (`c`).
    pub out_chs: i64,
    /// Squeeze-excitation ratio relative to the block input (`se`).
    pub se_ratio: f64,
}

const fn stage(
    kind: BlockKind,
    repeats: usize,
    kernel: i64,
    stride: i64,
    exp_ratio: f64,
    out_chs: i64,
) -> StageArgs {
    StageArgs {
        kind,
        repeats,
        kernel,
        stride,
        exp_ratio,
        out_chs,
        se_ratio: 0.25,
    }
}

/// Architecture numbers of one EfficientNet variant.
#[derive(Debug, Clone, PartialEq)]
pub struct EfficientNetConfig {
    /// Channel multiplier (timm `channel_multiplier`).
    pub width_mult: f64,
    /// Repeat multiplier (timm `depth_multiplier`, applied with `ceil`).
    pub depth_mult: f64,
    /// Channels are rounded to multiples of this (timm `channel_divisor`).
    pub channel_divisor: i64,
    /// Stem channels before width scaling.
    pub stem_size: i64,
    /// Head (`conv_head`) channels before width scaling.
    pub head_size: i64,
    pub stages: Vec<StageArgs>,
    /// BatchNorm epsilon (timm default `nn.BatchNorm2d`: 1e-5).
    pub bn_eps: f64,
}

impl EfficientNetConfig {
    /// Base network shared by B0–B8 (timm `_gen_efficientnet` `arch_def`).
    fn base(width_mult: f64, depth_mult: f64) -> Self {
        use BlockKind::{DepthwiseSeparable as Ds, InvertedResidual as Ir};
        EfficientNetConfig {
            width_mult,
            depth_mult,
            channel_divisor: 8,
            stem_size: 32,
            head_size: 1280,
            stages: vec![
                stage(Ds, 1, 3, 1, 1.0, 16),
                stage(Ir, 2, 3, 2, 6.0, 24),
                stage(Ir, 2, 5, 2, 6.0, 40),
                stage(Ir, 3, 3, 2, 6.0, 80),
                stage(Ir, 3, 5, 1, 6.0, 112),
                stage(Ir, 4, 5, 2, 6.0, 192),
                stage(Ir, 1, 3, 1, 6.0, 320),
            ],
            bn_eps: 1e-5,
        }
    }

    /// timm `efficientnet_b0`: 1280 features.
    pub fn b0() -> Self {
        Self::base(1.0, 1.0)
    }

    /// timm `efficientnet_b4`: 1792 features.
    pub fn b4() -> Self {
        Self::base(1.4, 1.8)
    }

    /// timm `round_channels`: scale by the width multiplier, then `make_divisible`.
    pub fn round_channels(&self, chs: i64) -> i64 {
        make_divisible(chs as f64 * self.width_mult, self.channel_divisor)
    }

    /// timm `_scale_stage_depth` with `depth_trunc='ceil'` (one block definition per stage).
    pub fn stage_depth(&self, repeats: usize) -> usize {
        (repeats as f64 * self.depth_mult).ceil() as usize
    }

    /// Channels of the final feature map.
    pub fn num_features(&self) -> i64 {
        self.round_channels(self.head_size)
    }
}

/// timm `make_divisible(v, divisor, min_value=None, round_limit=0.9)`: nearest multiple of
/// `divisor`, never below `divisor` and never more than 10 % below `v`.
fn make_divisible(v: f64, divisor: i64) -> i64 {
    let d = divisor as f64;
    // Python: int(v + divisor / 2) // divisor * divisor (v > 0, so truncation = floor).
    let mut new_v = divisor.max(((v + d / 2.0) as i64) / divisor * divisor);
    if (new_v as f64) < 0.9 * v {
        new_v += divisor;
    }
    new_v
}

/// timm `get_padding`: symmetric padding of the PyTorch-native (non-`tf_`) models.
fn padding(kernel: i64, stride: i64) -> i64 {
    ((stride - 1) + (kernel - 1)) / 2
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64, groups: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: padding(k, stride),
        groups,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, i, o, k, cfg)
}

/// timm `BatchNormAct2d` with SiLU, or without activation (`apply_act=False`).
#[derive(Debug)]
struct BnAct {
    bn: nn::BatchNorm,
    act: bool,
}

impl BnAct {
    fn new(p: nn::Path, chs: i64, eps: f64, act: bool) -> Self {
        BnAct {
            bn: batch_norm(p, chs, eps),
            act,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = self.bn.forward_t(x, train);
        if self.act {
            y.silu()
        } else {
            y
        }
    }
}

/// timm `SqueezeExcite`: channel gate from global mean → 1×1 reduce (SiLU) → 1×1 expand
/// (sigmoid), both convs with bias.
#[derive(Debug)]
struct SqueezeExcite {
    conv_reduce: nn::Conv2D,
    conv_expand: nn::Conv2D,
}

impl SqueezeExcite {
    fn new(p: nn::Path, chs: i64, rd_ratio: f64) -> Self {
        // timm: rd_channels = round(chs * rd_ratio) with Python's round (ties to even).
        let rd = (chs as f64 * rd_ratio).round_ties_even() as i64;
        let cfg = nn::ConvConfig {
            bias: true,
            ..Default::default()
        };
        SqueezeExcite {
            conv_reduce: nn::conv2d(&p / "conv_reduce", chs, rd, 1, cfg),
            conv_expand: nn::conv2d(&p / "conv_expand", rd, chs, 1, cfg),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let s = x.mean_dim(&[2i64, 3][..], true, x.kind());
        let gate = s
            .apply(&self.conv_reduce)
            .silu()
            .apply(&self.conv_expand)
            .sigmoid();
        x * gate
    }
}

/// The layers of one block; field names are the checkpoint's.
// The variants differ by two small layer handles and a block is built once per network,
// so boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum BlockLayers {
    DepthwiseSeparable {
        conv_dw: nn::Conv2D,
        bn1: BnAct,
        se: SqueezeExcite,
        conv_pw: nn::Conv2D,
        bn2: BnAct,
    },
    InvertedResidual {
        conv_pw: nn::Conv2D,
        bn1: BnAct,
        conv_dw: nn::Conv2D,
        bn2: BnAct,
        se: SqueezeExcite,
        conv_pwl: nn::Conv2D,
        bn3: BnAct,
    },
}

#[derive(Debug)]
struct Block {
    layers: BlockLayers,
    /// Identity residual when shape is kept (stride 1, in = out); drop-path is a no-op here
    /// (timm's default `drop_path_rate` is 0, and it is identity in eval anyway).
    has_skip: bool,
}

impl Block {
    fn new(p: nn::Path, a: &StageArgs, in_chs: i64, out_chs: i64, stride: i64, eps: f64) -> Self {
        // timm builder: se_ratio /= exp_ratio, since SE channels are counted from the block input.
        let rd_ratio = a.se_ratio / a.exp_ratio;
        let layers = match a.kind {
            BlockKind::DepthwiseSeparable => BlockLayers::DepthwiseSeparable {
                conv_dw: conv(&p / "conv_dw", in_chs, in_chs, a.kernel, stride, in_chs),
                bn1: BnAct::new(&p / "bn1", in_chs, eps, true),
                se: SqueezeExcite::new(&p / "se", in_chs, rd_ratio),
                conv_pw: conv(&p / "conv_pw", in_chs, out_chs, 1, 1, 1),
                // `pw_act=False`: the projection is linear.
                bn2: BnAct::new(&p / "bn2", out_chs, eps, false),
            },
            BlockKind::InvertedResidual => {
                // Note: timm's default divisor (8) here, not the model's channel_divisor.
                let mid = make_divisible(in_chs as f64 * a.exp_ratio, 8);
                BlockLayers::InvertedResidual {
                    conv_pw: conv(&p / "conv_pw", in_chs, mid, 1, 1, 1),
                    bn1: BnAct::new(&p / "bn1", mid, eps, true),
                    conv_dw: conv(&p / "conv_dw", mid, mid, a.kernel, stride, mid),
                    bn2: BnAct::new(&p / "bn2", mid, eps, true),
                    se: SqueezeExcite::new(&p / "se", mid, rd_ratio),
                    conv_pwl: conv(&p / "conv_pwl", mid, out_chs, 1, 1, 1),
                    bn3: BnAct::new(&p / "bn3", out_chs, eps, false),
                }
            }
        };
        Block {
            layers,
            has_skip: stride == 1 && in_chs == out_chs,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = match &self.layers {
            BlockLayers::DepthwiseSeparable {
                conv_dw,
                bn1,
                se,
                conv_pw,
                bn2,
            } => {
                let y = bn1.forward_t(&x.apply(conv_dw), train);
                bn2.forward_t(&se.forward(&y).apply(conv_pw), train)
            }
            BlockLayers::InvertedResidual {
                conv_pw,
                bn1,
                conv_dw,
                bn2,
                se,
                conv_pwl,
                bn3,
            } => {
                let y = bn1.forward_t(&x.apply(conv_pw), train);
                let y = bn2.forward_t(&y.apply(conv_dw), train);
                bn3.forward_t(&se.forward(&y).apply(conv_pwl), train)
            }
        };
        if self.has_skip {
            y + x
        } else {
            y
        }
    }
}

/// EfficientNet as timm's `efficientnet_*` without classifier.
#[derive(Debug)]
pub struct EfficientNet {
    conv_stem: nn::Conv2D,
    bn1: BnAct,
    /// `blocks.{stage}.{index}`.
    blocks: Vec<Vec<Block>>,
    conv_head: nn::Conv2D,
    bn2: BnAct,
    num_features: i64,
    /// Stride-2 layers (stem included), for the input-size check.
    downsamples: usize,
}

impl EfficientNet {
    /// Builds the network under `root` (e.g. `vs.root()`). Weights start random; load a
    /// checkpoint with [`super::load_safetensors_strict`].
    pub fn new(root: &nn::Path, cfg: &EfficientNetConfig) -> Self {
        let eps = cfg.bn_eps;
        let stem = cfg.round_channels(cfg.stem_size);
        let conv_stem = conv(root / "conv_stem", 3, stem, 3, 2, 1);
        let bn1 = BnAct::new(root / "bn1", stem, eps, true);

        let mut in_chs = stem;
        let blocks_p = root / "blocks";
        let blocks = cfg
            .stages
            .iter()
            .enumerate()
            .map(|(s, a)| {
                let out_chs = cfg.round_channels(a.out_chs);
                (0..cfg.stage_depth(a.repeats))
                    .map(|i| {
                        // Only a stage's first block strides.
                        let stride = if i == 0 { a.stride } else { 1 };
                        let b = Block::new(&blocks_p / s / i, a, in_chs, out_chs, stride, eps);
                        in_chs = out_chs;
                        b
                    })
                    .collect()
            })
            .collect();

        let num_features = cfg.num_features();
        EfficientNet {
            conv_stem,
            bn1,
            blocks,
            conv_head: conv(root / "conv_head", in_chs, num_features, 1, 1, 1),
            bn2: BnAct::new(root / "bn2", num_features, eps, true),
            num_features,
            downsamples: 1 + cfg.stages.iter().filter(|a| a.stride == 2).count(),
        }
    }

    /// Channels of the feature map (1280 for B0, 1792 for B4).
    pub fn num_features(&self) -> i64 {
        self.num_features
    }

    /// Runs `x` (`[B, 3, H, W]`, H, W ≥ 32, ImageNet-normalised for timm's checkpoints)
    /// through the network. `train` selects batch statistics (and running-stat updates) in
    /// BatchNorm. At 224² the feature map is `[B, num_features, 7, 7]`; it is `bn2`'s output
    /// after SiLU, the Grad-CAM target.
    pub fn forward_features(&self, x: &Tensor, train: bool) -> Result<CnnFeatures> {
        // Each stride-2 conv (3×3 pad 1 or 5×5 pad 2) maps a side s to (s - 1) / 2 + 1.
        let out_side = |side| (0..self.downsamples).fold(side, |s, _| (s - 1) / 2 + 1);
        check_image_batch(
            "EfficientNet",
            x,
            &self.conv_stem.ws,
            MIN_SIDE,
            train,
            out_side,
        )?;
        let mut x = self.bn1.forward_t(&x.apply(&self.conv_stem), train);
        for block in self.blocks.iter().flatten() {
            x = block.forward_t(&x, train);
        }
        let x = self.bn2.forward_t(&x.apply(&self.conv_head), train);
        Ok(CnnFeatures::from_feature_map(x))
    }
}
