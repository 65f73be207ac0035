//! Where a network looked: Grad-CAM on a CNN's last feature map and on a ViT's patch tokens,
//! attention rollout, and the way back from the aligned crop into the original frame.
//!
//! Grad-CAM: R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", ICCV 2017 (arXiv:1610.02391). For feature maps `A_c` and a
//! score `y`, the channel weights are the spatially averaged gradients `α_c = mean_ij ∂y/∂A_cij`
//! and the map is `ReLU(Σ_c α_c A_c)`. Mirrors jacobgil/pytorch-grad-cam (`GradCAM`,
//! `BaseCAM.compute_cam_per_layer`, `scale_cam_image`); for ViTs its `reshape_transform`
//! recipe (drop the CLS token, lay the patch tokens out on the grid, treat the token width as
//! channels), so `α_d` is the gradient averaged over patch tokens and the map is
//! `ReLU(Σ_d α_d · token_d)` on the 16×16 grid of ViT-L/14 at 224².
//!
//! Attention rollout: S. Abnar, W. Zuidema, "Quantifying Attention Flow in Transformers", ACL
//! 2020 (arXiv:2005.00928): per layer the head-averaged attention plus the identity for the
//! residual path, `Â = ½(A + I)` (rows re-normalised), multiplied through the layers
//! `Â_L ⋯ Â_1`; the CLS row over the patch tokens is the map. jacobgil/vit-explain's
//! `vit_rollout.py` with `head_fusion="mean"` and `discard_ratio=0` is the same computation.
//!
//! Parity with a PyTorch Grad-CAM (timm EfficientNet-B0, transformers CLIP) is checked in
//! `tests/explain_gradcam.rs` against `tests/reference/gradcam_ref.py`.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::heat::{blend_heatmap, Colormap, Heatmap};
use crate::faces::align::Similarity;
use crate::models::clip::{ClipVision, ClipVisionOutput};
use crate::models::detector::{Detector, Variant};
use crate::{Error, Result};
use image::RgbImage;

/// Which explanation produced a map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CamMethod {
    /// Grad-CAM on the forensic CNN's last convolutional feature map.
    GradCamCnn,
    /// Grad-CAM on the CLIP ViT's patch tokens.
    GradCamVit,
    /// Attention rollout through the CLIP ViT (score-independent).
    AttentionRollout,
}

impl CamMethod {
    /// Short stable key (file names, UI ids).
    pub fn key(self) -> &'static str {
        match self {
            CamMethod::GradCamCnn => "gradcam_cnn",
            CamMethod::GradCamVit => "gradcam_vit",
            CamMethod::AttentionRollout => "rollout",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CamMethod::GradCamCnn => "Grad-CAM (forensic CNN)",
            CamMethod::GradCamVit => "Grad-CAM (CLIP ViT)",
            CamMethod::AttentionRollout => "Attention rollout (CLIP ViT)",
        }
    }

    /// One line for the analyst on how to read the map.
    pub fn explanation(self) -> &'static str {
        match self {
            CamMethod::GradCamCnn => {
                "Grad-CAM on the forensic CNN: red areas raised the 'fake' score most (gradient-weighted \
                 last-layer features); coarse, about one cell per 32 px of the crop."
            }
            CamMethod::GradCamVit => {
                "Grad-CAM on the CLIP ViT's 16×16 patch grid: red patches pushed the 'fake' score up; \
                 blue patches did not contribute."
            }
            CamMethod::AttentionRollout => {
                "Attention rollout through the CLIP ViT: where the image token gathered information \
                 from, whatever the verdict; compare with Grad-CAM, which is specific to the 'fake' score."
            }
        }
    }
}

/// Raw class-activation maps for a batch.
#[derive(Debug)]
pub struct Cam {
    /// `[B, h, w]` float: the map before any normalisation (non-negative for Grad-CAM).
    pub raw: Tensor,
    /// `[B]`: the score that was explained (detached), when there is one.
    pub score: Option<Tensor>,
}

fn grad_error(e: impl std::fmt::Display) -> Error {
    Error::Model(format!(
        "Grad-CAM: cannot take the gradient of the score with respect to the target layer \
         (does the score depend on it, and was the forward run with gradients?): {e}"
    ))
}

/// `∂ Σ score / ∂ target`. libtorch's autograd engine crashes (instead of throwing) when the
/// root has no gradient function, and returns an undefined tensor when the target is not in the
/// score's graph, so both are checked here and turned into errors.
fn gradient(score: &Tensor, target: &Tensor) -> Result<Tensor> {
    if !score.requires_grad() {
        return Err(grad_error(
            "the score does not depend on anything that requires gradients",
        ));
    }
    if !target.requires_grad() {
        return Err(grad_error(
            "the target layer is not part of a gradient graph",
        ));
    }
    let mut grads = Tensor::f_run_backward(&[score.sum(Kind::Float)], &[target], false, false)
        .map_err(grad_error)?;
    match grads.pop() {
        Some(g) if g.defined() => Ok(g),
        _ => Err(grad_error("the score does not depend on the target layer")),
    }
}

/// A `[B]` (or `[B, 1]`) score as `[B]`.
fn score_vector(score: Tensor, batch: i64) -> Result<Tensor> {
    let s = score.size();
    match s[..] {
        [b] if b == batch => Ok(score),
        [b, 1] if b == batch => Ok(score.squeeze_dim(1)),
        _ => Err(Error::Model(format!(
            "Grad-CAM: the score must be one value per image, shape [{batch}], got {s:?}"
        ))),
    }
}

/// The input as a fresh leaf that requires gradients, so the graph exists even when every
/// weight is frozen (inference models are).
fn grad_leaf(input: &Tensor) -> Tensor {
    input.detach().set_requires_grad(true)
}

/// Grad-CAM on a convolutional feature map.
///
/// `forward` maps the input batch to `(feature_map [B, C, h, w], score [B])`, e.g. for a bare
/// CNN `|x| { let f = net.forward_features(x, false)?; Ok((f.feature_map, head(&f.pooled))) }`,
/// or the detector's `(cnn_feature_map, logit)`. It is run with gradients enabled (also inside
/// a `no_grad` scope) and must be in eval mode: the scores of the batch are summed before the
/// backward pass, which is exact only when samples do not interact (BatchNorm statistics frozen).
pub fn cnn_gradcam<F>(input: &Tensor, forward: F) -> Result<Cam>
where
    F: FnOnce(&Tensor) -> Result<(Tensor, Tensor)>,
{
    let batch = input.size().first().copied().unwrap_or(0);
    let x = grad_leaf(input);
    tch::with_grad(|| {
        let (fmap, score) = forward(&x)?;
        let size = fmap.size();
        if size.len() != 4 || size[0] != batch {
            return Err(Error::Model(format!(
                "Grad-CAM: the CNN target must be a feature map [{batch}, C, h, w], got {size:?}"
            )));
        }
        let score = score_vector(score, batch)?;
        let grad = gradient(&score, &fmap)?;
        let fmap = fmap.detach().to_kind(Kind::Float);
        let alpha = grad
            .to_kind(Kind::Float)
            .mean_dim(&[2i64, 3][..], true, Kind::Float);
        let raw = (alpha * fmap).sum_dim_intlist(1, false, Kind::Float).relu();
        Ok(Cam {
            raw,
            score: Some(score.detach()),
        })
    })
}

/// Grad-CAM on transformer tokens laid out on a `grid`×`grid` patch grid.
///
/// `forward` maps the input batch to `(tokens [B, T, D], score [B])` where the last `grid²`
/// tokens are the patches in row-major order and any tokens before them (CLS, registers) are
/// ignored, as pytorch-grad-cam's ViT `reshape_transform` does.
pub fn token_gradcam<F>(input: &Tensor, grid: i64, forward: F) -> Result<Cam>
where
    F: FnOnce(&Tensor) -> Result<(Tensor, Tensor)>,
{
    let batch = input.size().first().copied().unwrap_or(0);
    let n = grid * grid;
    let x = grad_leaf(input);
    tch::with_grad(|| {
        let (tokens, score) = forward(&x)?;
        let size = tokens.size();
        if size.len() != 3 || size[0] != batch || size[1] < n || grid <= 0 {
            return Err(Error::Model(format!(
                "Grad-CAM: ViT target must be tokens [{batch}, ≥{n}, D] for a {grid}×{grid} grid, \
                 got {size:?}"
            )));
        }
        let score = score_vector(score, batch)?;
        let grad = gradient(&score, &tokens)?;
        let first = size[1] - n;
        let patches = tokens.detach().narrow(1, first, n).to_kind(Kind::Float);
        let alpha = grad
            .narrow(1, first, n)
            .to_kind(Kind::Float)
            .mean_dim(1, true, Kind::Float);
        let raw = (patches * alpha)
            .sum_dim_intlist(-1, false, Kind::Float)
            .relu()
            .view([batch, grid, grid]);
        Ok(Cam {
            raw,
            score: Some(score.detach()),
        })
    })
}

/// Grad-CAM on a CLIP vision tower.
///
/// `layer` indexes transformers' `hidden_states` tuple: `i` is the residual stream *entering*
/// encoder layer `i` (the output of layer `i − 1`), so `num_hidden_layers` is the final output.
/// The default, `num_hidden_layers − 1`, is the input of the last layer: the pooled CLS output
/// reads only the CLS token of the final layer, so the final patch tokens get zero gradient and
/// the last layer's input is the deepest place where patches still matter (pytorch-grad-cam
/// targets `blocks[-1].norm1` for the same reason). Index 0 (the embeddings) is not exposed by
/// [`ClipVision`] and is refused.
///
/// `head` maps the tower's outputs to the score `[B]` to explain, e.g. a linear fake/real head
/// on `pooled`. `pixels` is `[B, 3, S, S]`, CLIP-normalised.
pub fn vit_gradcam<F>(
    vision: &ClipVision,
    pixels: &Tensor,
    layer: Option<usize>,
    head: F,
) -> Result<Cam>
where
    F: FnOnce(&ClipVisionOutput) -> Result<Tensor>,
{
    let layers = vision.config().num_hidden_layers as usize;
    let layer = layer.unwrap_or(layers.saturating_sub(1).max(1));
    if layer == 0 || layer > layers {
        return Err(Error::Model(format!(
            "Grad-CAM: ViT layer must be in 1..={layers} (hidden state entering that layer; \
             {layers} = final output), got {layer}"
        )));
    }
    token_gradcam(pixels, vision.grid(), |x| {
        let (out, hidden) = vision.forward_with_hidden_states(x)?;
        let score = head(&out)?;
        Ok((hidden[layer - 1].shallow_clone(), score))
    })
}

/// Grad-CAM of the detector's fake logit on its forensic CNN's last feature map. `clip_pixels`
/// and `cnn_pixels` are what [`Detector::forward`] takes; the detector must have a CNN.
pub fn detector_cnn_gradcam(
    detector: &Detector,
    clip_pixels: &Tensor,
    cnn_pixels: &Tensor,
) -> Result<Cam> {
    if !detector.has_cnn() {
        return Err(Error::Model(
            "Grad-CAM on the CNN: this detector has no CNN".into(),
        ));
    }
    cnn_gradcam(cnn_pixels, |x| {
        let out = detector.forward(clip_pixels, Some(x), false)?;
        let fmap = out
            .cnn_feature_map
            .ok_or_else(|| Error::Model("the detector returned no CNN feature map".into()))?;
        Ok((fmap, out.logit))
    })
}

/// Grad-CAM of the detector's fake logit on the CLIP ViT's patch tokens (`layer` as in
/// [`vit_gradcam`]).
///
/// [`Detector::forward`] does not expose CLIP's hidden states, but the logit depends on them
/// only through the CLIP embedding it returns (`clip_emb`: the projected embedding for the
/// fusion layout, the post-LN CLS for GenD's). So, by the chain rule, with
/// `g = ∂logit/∂clip_emb` from one detector pass, `∂logit/∂h = ∂(clip_emb · g)/∂h` for any
/// hidden state `h`, and Grad-CAM on the CLIP tower with the score `clip_emb · g` (g held
/// constant) is exactly Grad-CAM of the detector's logit.
pub fn detector_vit_gradcam(
    detector: &Detector,
    clip_pixels: &Tensor,
    cnn_pixels: Option<&Tensor>,
    layer: Option<usize>,
) -> Result<Cam> {
    let x = grad_leaf(clip_pixels);
    let g = tch::with_grad(|| {
        let out = detector.forward(&x, cnn_pixels, false)?;
        gradient(&out.logit, &out.clip_emb)
    })?
    .detach()
    .to_kind(Kind::Float);
    let variant = detector.config().variant;
    vit_gradcam(detector.clip(), clip_pixels, layer, |o| {
        let emb = match variant {
            Variant::GenD => o.pooled.shallow_clone(),
            Variant::Fusion => o
                .image_embeds
                .as_ref()
                .ok_or_else(|| Error::Model("CLIP tower was built without its projection".into()))?
                .shallow_clone(),
        };
        if emb.size() != g.size() {
            return Err(Error::Model(format!(
                "Grad-CAM: CLIP embedding {:?} does not match the detector's {:?}",
                emb.size(),
                g.size()
            )));
        }
        Ok((emb.to_kind(Kind::Float) * &g).sum_dim_intlist(-1, false, Kind::Float))
    })
}

/// Attention rollout from per-layer attention probabilities `[B, H, T, T]` (first layer first,
/// e.g. [`ClipVision::forward_with_attentions`]); the last `grid²` tokens are the patches and
/// token 0 is the CLS token whose row is returned, `[B, grid, grid]`.
pub fn attention_rollout(attentions: &[Tensor], grid: i64) -> Result<Cam> {
    let Some(first) = attentions.first() else {
        return Err(Error::Model(
            "attention rollout needs at least one layer".into(),
        ));
    };
    let size = first.size();
    let n = grid * grid;
    if size.len() != 4 || size[2] != size[3] || size[2] < n + 1 || grid <= 0 {
        return Err(Error::Model(format!(
            "attention rollout: attentions must be [B, heads, T, T] with T ≥ 1 + {n}, got {size:?}"
        )));
    }
    let (b, t) = (size[0], size[2]);
    let eye = Tensor::eye(t, (Kind::Float, first.device())).unsqueeze(0);
    let mut rollout = eye.expand([b, t, t], false).copy();
    for (i, a) in attentions.iter().enumerate() {
        if a.size() != size {
            return Err(Error::Model(format!(
                "attention rollout: layer {i} has shape {:?}, layer 0 {size:?}",
                a.size()
            )));
        }
        let mean = a.to_kind(Kind::Float).mean_dim(1, false, Kind::Float);
        let with_residual = (mean + &eye) * 0.5;
        let rows = with_residual.sum_dim_intlist(-1, true, Kind::Float);
        rollout = (with_residual / rows).matmul(&rollout);
    }
    let raw = rollout
        .select(1, 0)
        .narrow(-1, t - n, n)
        .view([b, grid, grid]);
    Ok(Cam { raw, score: None })
}

impl Cam {
    /// The maps as `width`×`height` heat-maps in 0..1: each raw map is up-sampled bilinearly
    /// (half-pixel centres, like OpenCV's `resize`) to the crop size, then min–max normalised.
    pub fn heatmaps(&self, width: u32, height: u32) -> Result<Vec<Heatmap>> {
        let size = self.raw.size();
        if size.len() != 3 {
            return Err(Error::Model(format!("CAM must be [B, h, w], got {size:?}")));
        }
        let up = self
            .raw
            .detach()
            .to_kind(Kind::Float)
            .unsqueeze(1)
            .f_upsample_bilinear2d([height as i64, width as i64], false, None, None)?
            .squeeze_dim(1)
            .to_device(tch::Device::Cpu)
            .contiguous();
        (0..size[0])
            .map(|i| {
                let data = Vec::<f32>::try_from(up.get(i).flatten(0, -1))?;
                Ok(Heatmap::new(width, height, data)?.normalised())
            })
            .collect()
    }
}

/// A crop-space heat-map carried into the frame. `frame_to_crop` is the alignment transform
/// ([`crate::faces::align::AlignedFace::transform`]): the crop is placed back through its
/// inverse, so each frame pixel `p` shows the heat at `frame_to_crop(p)`. Returns the frame-sized
/// heat-map and its coverage (1 inside the crop, 0 outside, fractional on the crop's border).
pub fn heatmap_to_frame(
    heat: &Heatmap,
    frame_to_crop: &Similarity,
    width: u32,
    height: u32,
) -> (Heatmap, Heatmap) {
    let mut out = Heatmap::zeros(width, height);
    let mut coverage = Heatmap::zeros(width, height);
    if width == 0 || height == 0 || heat.width == 0 || heat.height == 0 {
        return (out, coverage);
    }
    // Only the frame pixels under the crop's footprint need visiting.
    let crop_to_frame = frame_to_crop.inverse();
    let (cw, ch) = (heat.width as f32, heat.height as f32);
    let corners = [
        [-0.5, -0.5],
        [cw - 0.5, -0.5],
        [-0.5, ch - 0.5],
        [cw - 0.5, ch - 0.5],
    ]
    .map(|p| crop_to_frame.apply(p));
    let lo_x = corners
        .iter()
        .map(|p| p[0])
        .fold(f32::INFINITY, f32::min)
        .floor()
        .max(0.0);
    let hi_x = corners
        .iter()
        .map(|p| p[0])
        .fold(f32::NEG_INFINITY, f32::max)
        .ceil();
    let lo_y = corners
        .iter()
        .map(|p| p[1])
        .fold(f32::INFINITY, f32::min)
        .floor()
        .max(0.0);
    let hi_y = corners
        .iter()
        .map(|p| p[1])
        .fold(f32::NEG_INFINITY, f32::max)
        .ceil();
    if !(lo_x.is_finite() && hi_x.is_finite() && lo_y.is_finite() && hi_y.is_finite()) {
        return (out, coverage);
    }
    let (x_end, y_end) = (
        (hi_x as i64).min(width as i64 - 1),
        (hi_y as i64).min(height as i64 - 1),
    );
    for y in lo_y as i64..=y_end {
        for x in lo_x as i64..=x_end {
            let [u, v] = frame_to_crop.apply([x as f32, y as f32]);
            if let Some(h) = heat.sample(u, v) {
                // Distance to the crop's outer edge in frame pixels, for an anti-aliased border.
                let edge = (u + 0.5).min(v + 0.5).min(cw - 0.5 - u).min(ch - 0.5 - v);
                let edge_px = edge / frame_to_crop.scale().max(1e-6);
                let i = y as usize * width as usize + x as usize;
                out.data[i] = h;
                coverage.data[i] = (edge_px + 0.5).clamp(0.0, 1.0);
            }
        }
    }
    (out, coverage)
}

/// Colour-mapped overlay of a crop-space heat-map on the crop itself.
pub fn overlay_on_crop(
    crop: &RgbImage,
    heat: &Heatmap,
    opacity: f32,
    cmap: Colormap,
) -> Result<RgbImage> {
    blend_heatmap(crop, heat, None, opacity, cmap)
}

/// Colour-mapped overlay of a crop-space heat-map on the original frame, through the inverse
/// alignment (see [`heatmap_to_frame`]); pixels outside the crop's footprint are left as they are.
pub fn overlay_on_frame(
    frame: &RgbImage,
    heat: &Heatmap,
    frame_to_crop: &Similarity,
    opacity: f32,
    cmap: Colormap,
) -> Result<RgbImage> {
    let (h, cov) = heatmap_to_frame(heat, frame_to_crop, frame.width(), frame.height());
    blend_heatmap(frame, &h, Some(&cov), opacity, cmap)
}
