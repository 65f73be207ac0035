//! The non-photographic check: zero-shot CLIP (both towers of a CLIP base checkpoint, the text
//! tower reading prompts through the BPE tokenizer) asks of each kept frame whether it looks
//! like a photograph or like animation, CGI or a drawing.
//!
//! Each frame is prepared as `CLIPImageProcessor` does (shortest edge to the tower's input
//! size, centre crop, CLIP mean/std), scored against every prompt (`exp(logit_scale) · cos`),
//! and the softmax over all prompts is summed over the non-photographic ones; the media's
//! probability is the mean over frames. [`NON_PHOTO_THRESHOLD`] turns it into a warning.
//!
//! Only real, verified CLIP weights make this a statement about the media: the pipeline runs
//! it only for a base that `verity models fetch` installed (recorded in `installed.toml`).
//! [`ZeroShot::random`] exists for tests of the mechanics; its numbers mean nothing.
use crate::faces::align::{to_tensor, CLIP_MEAN, CLIP_STD};
use crate::faces::resize::clip_resize_crop;
use crate::models::clip::{Clip, ClipConfig};
use crate::models::detector::{clip_preset, clip_preset_matching};
use crate::models::tokenizer::ClipTokenizer;
use crate::models::weights::{load_strict, read_header, same_name};
use crate::{Error, Result};
use image::RgbImage;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Prompts for photographs of people (camera footage, what the detector was trained on).
pub const PHOTO_PROMPTS: &[&str] = &[
    "a photo of a person",
    "a photograph of a human face",
    "a frame from a video of a real person",
];

/// Prompts for pictures the detector was not trained on.
pub const NON_PHOTO_PROMPTS: &[&str] = &[
    "a frame from an animated film",
    "a cartoon character",
    "a 3D CGI render of a character",
    "a drawing of a person",
    "a painting of a person",
];

/// Mean non-photographic probability at or above which the media is flagged. An even split:
/// the prompts were chosen, not tuned — no real CLIP weights were available when this was
/// written, so the threshold has not been measured against labelled media.
pub const NON_PHOTO_THRESHOLD: f64 = 0.5;

/// Frames scored per forward pass.
const BATCH: usize = 8;

/// A loaded CLIP with its prompts tokenised.
pub struct ZeroShot {
    _vs: nn::VarStore,
    clip: Clip,
    ids: Tensor,
    image_size: u32,
}

impl std::fmt::Debug for ZeroShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroShot")
            .field("image_size", &self.image_size)
            .finish_non_exhaustive()
    }
}

impl ZeroShot {
    /// Loads a Hugging Face CLIP checkpoint (`<dir>/model.safetensors`, both towers, as
    /// `verity models fetch clip-vit-large-patch14` installs it) strictly by its published
    /// names; the preset is recognised from the vision tower's shapes.
    pub fn load(dir: &Path, device: Device) -> Result<Self> {
        let file = dir.join("model.safetensors");
        let header = read_header(&file)?;
        let bad = || {
            Error::Weights(format!(
                "{} is not a Hugging Face CLIP checkpoint with a known vision tower and a text tower",
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
        if !header.contains_key("text_projection.weight") {
            return Err(bad());
        }
        let layers = header
            .keys()
            .filter_map(|k| k.strip_prefix("vision_model.encoder.layers."))
            .filter_map(|rest| rest.split('.').next()?.parse::<i64>().ok())
            .max()
            .map_or(0, |m| m + 1);
        let cfg = clip_preset(clip_preset_matching(hidden, p, layers).ok_or_else(bad)?)?;
        let mut vs = nn::VarStore::new(device);
        let clip = Clip::new(&vs.root(), &cfg);
        // Older checkpoints carry the position-id buffers; they are arange and not weights.
        load_strict(&mut vs, &[&file], &same_name, &|n: &str| {
            n.ends_with("position_ids")
        })?;
        Self::with(vs, clip, &cfg)
    }

    /// A seeded random-weight CLIP of `cfg`, for tests of the mechanics only.
    pub fn random(cfg: &ClipConfig, device: Device, seed: i64) -> Result<Self> {
        tch::manual_seed(seed);
        let vs = nn::VarStore::new(device);
        let clip = Clip::new(&vs.root(), cfg);
        Self::with(vs, clip, cfg)
    }

    fn with(vs: nn::VarStore, clip: Clip, cfg: &ClipConfig) -> Result<Self> {
        let tok = ClipTokenizer::from_default_path()?;
        let prompts: Vec<&str> = PHOTO_PROMPTS
            .iter()
            .chain(NON_PHOTO_PROMPTS)
            .copied()
            .collect();
        let ids = tok
            .tokenize(&prompts, cfg.text.max_position_embeddings as usize)
            .to_device(vs.device());
        Ok(ZeroShot {
            _vs: vs,
            clip,
            ids,
            image_size: cfg.vision.image_size as u32,
        })
    }

    /// Per frame, the probability (softmax over all prompts, summed over
    /// [`NON_PHOTO_PROMPTS`]) that it is animation, CGI or a drawing.
    pub fn per_frame(&self, frames: &[&RgbImage]) -> Result<Vec<f64>> {
        let _guard = tch::no_grad_guard();
        let mut out = Vec::with_capacity(frames.len());
        for chunk in frames.chunks(BATCH) {
            let crops: Vec<RgbImage> = chunk
                .iter()
                .map(|f| clip_resize_crop(f, self.image_size).0)
                .collect();
            let refs: Vec<&RgbImage> = crops.iter().collect();
            let px = to_tensor(&refs, CLIP_MEAN, CLIP_STD)?.to_device(self.ids.device());
            let logits = self.clip.forward(&px, &self.ids)?.logits_per_image;
            let probs = logits
                .to_kind(Kind::Float)
                .softmax(-1, Kind::Float)
                .narrow(
                    1,
                    PHOTO_PROMPTS.len() as i64,
                    NON_PHOTO_PROMPTS.len() as i64,
                )
                .sum_dim_intlist(-1, false, Kind::Float)
                .to_device(Device::Cpu);
            let v: Vec<f32> = Vec::<f32>::try_from(&probs)
                .map_err(|e| Error::Model(format!("zero-shot CLIP: {e}")))?;
            out.extend(v.into_iter().map(f64::from));
        }
        Ok(out)
    }

    /// The media's non-photographic probability: the mean of [`Self::per_frame`]; None
    /// without frames.
    pub fn probability(&self, frames: &[&RgbImage]) -> Result<Option<f64>> {
        let p = self.per_frame(frames)?;
        Ok((!p.is_empty()).then(|| p.iter().sum::<f64>() / p.len() as f64))
    }
}

// The pipeline keeps one loaded model behind a mutex between analyses: it must be `Send`.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<ZeroShot>();
};
