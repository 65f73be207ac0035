//! Landmark-aligned face swaps between two real identities: training fakes of the classic
//! "FaceSwap" kind (FaceForensics++'s graphics-based `FaceSwap`, `github:MarekKowalski/FaceSwap`:
//! warp the source face onto the target's landmarks, correct its colour, blend it in).
//!
//! Here: the similarity transform that maps the source's 5 landmarks onto the target's
//! (Umeyama least squares, [`crate::faces::align::similarity_transform`], the same code that
//! aligns faces for inference), the source warped into the target frame by it, a per-channel
//! mean/std colour transfer inside the mask region (E. Reinhard et al., "Color Transfer between
//! Images", 2001, in RGB), and the soft landmark mask of [`super::sbi::face_mask`]. Parts of the
//! target the warped source does not cover keep the target's pixels.
use super::sbi::{self, draw_mask, face_mask, face_size, Mask, MaskParams, SbiConfig};
use super::Rng;
use crate::faces::align::{similarity_transform, warp_similarity, Similarity};
use crate::{Error, Result};
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// One face of a swap: the image, its 5 landmarks (px) and who it is.
#[derive(Clone, Copy, Debug)]
pub struct SwapFace<'a> {
    pub image: &'a RgbImage,
    pub landmarks: &'a [[f32; 2]; 5],
    pub identity: &'a str,
}

/// Per-channel colour statistics inside the mask.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColourStats {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// How a swap was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwapRecord {
    pub seed: u64,
    /// The identity whose face now shows (the source).
    pub source_identity: String,
    /// The identity whose frame, head and background remain (the target).
    pub target_identity: String,
    /// Source pixel → target pixel, as the 2×3 matrix [[a, −b, tx], [b, a, ty]].
    pub transform: [[f32; 3]; 2],
    pub mask: MaskParams,
    /// The warped source's statistics before correction, and the target's it was matched to.
    pub source_colour: ColourStats,
    pub target_colour: ColourStats,
    /// Whether the colour transfer was applied.
    pub colour_corrected: bool,
}

impl SwapRecord {
    /// The recorded source → target transform.
    pub fn similarity(&self) -> Similarity {
        let [[a, _, tx], [b, _, ty]] = self.transform;
        Similarity { a, b, tx, ty }
    }
}

/// A swapped face: `image` has the target's geometry and `landmarks`.
#[derive(Clone, Debug)]
pub struct SwapSample {
    pub image: RgbImage,
    pub mask: Mask,
    pub landmarks: [[f32; 2]; 5],
    pub record: SwapRecord,
}

/// Pastes `source`'s face onto `target`, with mask parameters drawn from `cfg` and `seed`.
/// Refuses two faces of the same identity (that would be a self-blend, not a swap).
pub fn face_swap(
    target: SwapFace,
    source: SwapFace,
    cfg: &SbiConfig,
    seed: u64,
) -> Result<SwapSample> {
    cfg.validate()?;
    sbi::check_inputs(target.image, target.landmarks, "face swap (target)")?;
    let mut rng = Rng::with_stream(seed, 0x5a7);
    let mask = draw_mask(cfg, &mut rng, face_size(target.landmarks));
    face_swap_with(target, source, &mask, true, seed)
}

/// Rebuilds a swap from recorded mask parameters.
pub fn face_swap_with(
    target: SwapFace,
    source: SwapFace,
    mask_params: &MaskParams,
    colour_correct: bool,
    seed: u64,
) -> Result<SwapSample> {
    if target.identity == source.identity {
        return Err(Error::Other(format!(
            "face swap needs two different identities, both are {:?}",
            target.identity
        )));
    }
    sbi::check_inputs(target.image, target.landmarks, "face swap (target)")?;
    sbi::check_inputs(source.image, source.landmarks, "face swap (source)")?;
    let (w, h) = target.image.dimensions();
    let transform = similarity_transform(source.landmarks, target.landmarks);
    let warped = warp_similarity(source.image, &transform, w, h);
    let mut mask = face_mask(w, h, target.landmarks, mask_params);
    // Keep the target wherever the warped source has no pixels (outside the source frame).
    let inv = transform.inverse();
    let (sw, sh) = (source.image.width() as f32, source.image.height() as f32);
    for y in 0..h {
        for x in 0..w {
            let [sx, sy] = inv.apply([x as f32, y as f32]);
            if !(sx >= 0.0 && sy >= 0.0 && sx <= sw - 1.0 && sy <= sh - 1.0) {
                mask.data[(y * w + x) as usize] = 0.0;
            }
        }
    }
    let source_colour = masked_stats(&warped, &mask);
    let target_colour = masked_stats(target.image, &mask);
    let corrected = if colour_correct {
        transfer_colour(&warped, &source_colour, &target_colour)
    } else {
        warped
    };
    Ok(SwapSample {
        image: sbi::blend(&corrected, target.image, &mask),
        mask,
        landmarks: *target.landmarks,
        record: SwapRecord {
            seed,
            source_identity: source.identity.to_string(),
            target_identity: target.identity.to_string(),
            transform: transform.to_matrix(),
            mask: mask_params.clone(),
            source_colour,
            target_colour,
            colour_corrected: colour_correct,
        },
    })
}

/// Mask-weighted per-channel mean and standard deviation (0–255 scale).
pub fn masked_stats(img: &RgbImage, mask: &Mask) -> ColourStats {
    let mut sum = [0f64; 3];
    let mut sq = [0f64; 3];
    let mut wsum = 0f64;
    for (px, &m) in img.as_raw().chunks_exact(3).zip(&mask.data) {
        if m <= 0.0 {
            continue;
        }
        let m = m as f64;
        wsum += m;
        for c in 0..3 {
            let v = px[c] as f64;
            sum[c] += m * v;
            sq[c] += m * v * v;
        }
    }
    if wsum <= 0.0 {
        return ColourStats {
            mean: [0.0; 3],
            std: [0.0; 3],
        };
    }
    let mean = sum.map(|s| s / wsum);
    let mut std = [0f32; 3];
    for c in 0..3 {
        std[c] = (sq[c] / wsum - mean[c] * mean[c]).max(0.0).sqrt() as f32;
    }
    ColourStats {
        mean: mean.map(|m| m as f32),
        std,
    }
}

/// Reinhard-style transfer: (x − μ_src)·σ_dst/σ_src + μ_dst per channel. A flat source channel
/// (σ ≈ 0) is only shifted.
pub fn transfer_colour(img: &RgbImage, from: &ColourStats, to: &ColourStats) -> RgbImage {
    let gain: [f32; 3] = std::array::from_fn(|c| {
        if from.std[c] > 1e-3 {
            to.std[c] / from.std[c]
        } else {
            1.0
        }
    });
    let mut out = img.clone();
    for px in out.as_mut().chunks_exact_mut(3) {
        for c in 0..3 {
            let v = (px[c] as f32 - from.mean[c]) * gain[c] + to.mean[c];
            px[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}
