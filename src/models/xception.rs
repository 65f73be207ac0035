//! Xception, the forensic CNN of FaceForensics++ (Rössler et al. 2019).
//!
//! Paper: F. Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017,
//! <https://arxiv.org/abs/1610.02357>. Mirrors timm's `legacy_xception`
//! (pytorch-image-models `timm/models/xception.py`, the Cadene/tstandley port of the Keras model):
//! entry flow (`conv1`, `conv2`, `block1..block3`), middle flow (`block4..block11`), exit flow
//! (`block12`, `conv3`, `conv4`). Variable names are timm's `state_dict` keys, so a timm
//! checkpoint (with `num_classes=0`: no `fc`) loads unchanged.
use tch::nn::{self, Module, ModuleT};
use tch::Tensor;

use super::{batch_norm, check_image_batch, CnnFeatures};
use crate::Result;

/// Channels of the final feature map (and of the pooled features).
pub const NUM_FEATURES: i64 = 2048;

/// timm uses `nn.BatchNorm2d` defaults here.
const BN_EPS: f64 = 1e-5;

/// Smallest input side accepted: the network downsamples 32×; below this the last feature map
/// is not even one cell of a 32-px patch.
const MIN_SIDE: i64 = 32;

/// One `Block` of timm's table: `Block(in, out, reps, strides, start_with_relu, grow_first)`.
struct BlockSpec {
    in_chs: i64,
    out_chs: i64,
    reps: usize,
    stride: i64,
    start_with_relu: bool,
    grow_first: bool,
}

const fn spec(in_chs: i64, out_chs: i64, reps: usize, stride: i64) -> BlockSpec {
    BlockSpec {
        in_chs,
        out_chs,
        reps,
        stride,
        start_with_relu: true,
        grow_first: true,
    }
}

/// `block1..block12` in order (timm `Xception.__init__`).
const BLOCKS: [BlockSpec; 12] = [
    BlockSpec {
        start_with_relu: false,
        ..spec(64, 128, 2, 2)
    },
    spec(128, 256, 2, 2),
    spec(256, 728, 2, 2),
    spec(728, 728, 3, 1),
    spec(728, 728, 3, 1),
    spec(728, 728, 3, 1),
    spec(728, 728, 3, 1),
    spec(728, 728, 3, 1),
    spec(728, 728, 3, 1),
    spec(728, 728, 3, 1),
    spec(728, 728, 3, 1),
    BlockSpec {
        grow_first: false,
        ..spec(728, 1024, 2, 2)
    },
];

fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64, padding: i64, groups: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding,
        groups,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, i, o, k, cfg)
}

/// timm `SeparableConv2d`: depthwise 3×3 (`conv1`) then pointwise 1×1, no bias, no norm between.
#[derive(Debug)]
struct SeparableConv2d {
    conv1: nn::Conv2D,
    pointwise: nn::Conv2D,
}

impl SeparableConv2d {
    fn new(p: nn::Path, in_chs: i64, out_chs: i64) -> Self {
        SeparableConv2d {
            conv1: conv(&p / "conv1", in_chs, in_chs, 3, 1, 1, in_chs),
            pointwise: conv(&p / "pointwise", in_chs, out_chs, 1, 1, 0, 1),
        }
    }
}

impl Module for SeparableConv2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.apply(&self.conv1).apply(&self.pointwise)
    }
}

/// One entry of a block's `rep` Sequential; its position is its index in the checkpoint
/// (`blockN.rep.<i>.…`), so ReLU and max-pool entries are kept to hold their places.
#[derive(Debug)]
enum Rep {
    Relu,
    Sep(SeparableConv2d),
    Bn(nn::BatchNorm),
    MaxPool,
}

/// timm `Block`: `rep` (ReLU → SepConv → BN, repeated, optionally ending in a stride-2
/// max-pool) plus a residual that is the input itself or a strided 1×1 `skip` + `skipbn`.
#[derive(Debug)]
struct Block {
    skip: Option<(nn::Conv2D, nn::BatchNorm)>,
    rep: Vec<Rep>,
}

impl Block {
    fn new(p: nn::Path, s: &BlockSpec) -> Self {
        let skip = (s.out_chs != s.in_chs || s.stride != 1).then(|| {
            (
                conv(&p / "skip", s.in_chs, s.out_chs, 1, s.stride, 0, 1),
                batch_norm(&p / "skipbn", s.out_chs, BN_EPS),
            )
        });
        // Built in timm's order (including dropping the leading ReLU), so that list positions
        // equal the checkpoint's `rep.<i>` indices.
        let mut layout = Vec::new();
        for i in 0..s.reps {
            let (inc, outc) = if s.grow_first {
                (if i == 0 { s.in_chs } else { s.out_chs }, s.out_chs)
            } else {
                (s.in_chs, if i + 1 < s.reps { s.in_chs } else { s.out_chs })
            };
            layout.push(Layout::Relu);
            layout.push(Layout::Sep(inc, outc));
            layout.push(Layout::Bn(outc));
        }
        if !s.start_with_relu {
            layout.remove(0);
        }
        if s.stride != 1 {
            layout.push(Layout::MaxPool);
        }
        let rep_p = &p / "rep";
        let rep = layout
            .into_iter()
            .enumerate()
            .map(|(idx, l)| match l {
                Layout::Relu => Rep::Relu,
                Layout::Sep(i, o) => Rep::Sep(SeparableConv2d::new(&rep_p / idx, i, o)),
                Layout::Bn(c) => Rep::Bn(batch_norm(&rep_p / idx, c, BN_EPS)),
                Layout::MaxPool => Rep::MaxPool,
            })
            .collect();
        Block { skip, rep }
    }

    fn forward_t(&self, inp: &Tensor, train: bool) -> Tensor {
        let mut x = inp.shallow_clone();
        for layer in &self.rep {
            x = match layer {
                Rep::Relu => x.relu(),
                Rep::Sep(sep) => sep.forward(&x),
                Rep::Bn(bn) => bn.forward_t(&x, train),
                // timm: nn.MaxPool2d(3, strides, 1); every strided block uses stride 2.
                Rep::MaxPool => x.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false),
            };
        }
        // The block's first ReLU is not in-place in timm, so the residual is the raw input.
        let skip = match &self.skip {
            Some((conv, bn)) => inp.apply(conv).apply_t(bn, train),
            None => inp.shallow_clone(),
        };
        x + skip
    }
}

/// What goes at each `rep` position, before the layers are created under their index.
enum Layout {
    Relu,
    Sep(i64, i64),
    Bn(i64),
    MaxPool,
}

/// Xception as timm `legacy_xception` without classifier.
#[derive(Debug)]
pub struct Xception {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    blocks: Vec<Block>,
    conv3: SeparableConv2d,
    bn3: nn::BatchNorm,
    conv4: SeparableConv2d,
    bn4: nn::BatchNorm,
}

impl Xception {
    /// Builds the network under `root` (e.g. `vs.root()`; a sub-path if the checkpoint nests
    /// it). Weights start random; load a checkpoint with [`super::load_safetensors_strict`].
    pub fn new(root: &nn::Path) -> Self {
        let blocks = BLOCKS
            .iter()
            .enumerate()
            .map(|(i, s)| Block::new(root / format!("block{}", i + 1), s))
            .collect();
        Xception {
            // Both stem convs are unpadded ("valid"), as in Keras.
            conv1: conv(root / "conv1", 3, 32, 3, 2, 0, 1),
            bn1: batch_norm(root / "bn1", 32, BN_EPS),
            conv2: conv(root / "conv2", 32, 64, 3, 1, 0, 1),
            bn2: batch_norm(root / "bn2", 64, BN_EPS),
            blocks,
            conv3: SeparableConv2d::new(root / "conv3", 1024, 1536),
            bn3: batch_norm(root / "bn3", 1536, BN_EPS),
            conv4: SeparableConv2d::new(root / "conv4", 1536, NUM_FEATURES),
            bn4: batch_norm(root / "bn4", NUM_FEATURES, BN_EPS),
        }
    }

    /// Runs `x` (`[B, 3, H, W]`, H, W ≥ 32, normalised as the checkpoint expects: timm's
    /// Xception uses mean = std = 0.5) through the network. `train` selects batch statistics
    /// (and running-stat updates) in BatchNorm instead of the stored running statistics.
    /// At 224² the feature map is `[B, 2048, 7, 7]`, at 299² `[B, 2048, 10, 10]`.
    pub fn forward_features(&self, x: &Tensor, train: bool) -> Result<CnnFeatures> {
        check_image_batch("Xception", x, &self.conv1.ws, MIN_SIDE, train, output_side)?;
        let mut x = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        x = x.apply(&self.conv2).apply_t(&self.bn2, train).relu();
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        x = self.conv3.forward(&x).apply_t(&self.bn3, train).relu();
        x = self.conv4.forward(&x).apply_t(&self.bn4, train).relu();
        Ok(CnnFeatures::from_feature_map(x))
    }
}

/// Side of the final feature map for an input side: two unpadded 3×3 convs (the first with
/// stride 2), then four stride-2 max-pools with padding 1.
fn output_side(side: i64) -> i64 {
    let mut s = (side - 3) / 2 + 1 - 2;
    for _ in 0..4 {
        s = (s - 1) / 2 + 1;
    }
    s
}
