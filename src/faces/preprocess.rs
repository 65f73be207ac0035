//! From a frame and a face's 5 landmarks to the detector's input, as a profile prescribes.
//!
//! Two chains (a profile's `[preprocessing] chain`):
//! - `gend` — the published GenD recipe (`yermandy/GenD` `detector.py` `align_face` with
//!   `target_size=None`, then `CLIPImageProcessor` of `openai/clip-vit-large-patch14`):
//!   1. the crop side S = round(mean over the 10 landmark pairs of |Δsrc| / |Δtemplate| × 1.3),
//!      i.e. the face at its **native** resolution with 30 % context;
//!   2. the similarity by `cv2.estimateAffinePartial2D(..., LMEDS)` ([`fit_similarity_lmeds`]);
//!   3. `cv2.warpAffine(INTER_LINEAR, black border)` into S×S ([`warp_affine_cv`]);
//!   4. shortest edge → 224 with Pillow's antialiased bicubic, centre crop 224
//!      ([`resize::clip_resize_crop`]); then /255 and CLIP mean/std (the caller's `to_tensor`).
//! - `direct` — the fusion profiles' chain: least-squares similarity straight onto the
//!   `size`×`size` crop, bilinear (cheaper; what those profiles were built with).
//!
//! Both also return the face at native resolution (what the gallery and the explain views show:
//! the frame's real pixels, not an upscaled thumbnail) and the exact frame → input transform
//! (how heat-maps on the input go back into the frame).
use super::align::{
    fit_similarity_lmeds, similarity_transform, warp_affine_cv, warp_similarity, AlignTemplate,
    Similarity, Similarity64,
};
use super::resize;
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// Which preparation chain a profile's faces go through (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Chain {
    /// Least-squares fit, bilinear warp straight to the input size.
    Direct,
    /// GenD's published chain: LMedS fit, native-size OpenCV warp, Pillow bicubic to the input.
    Gend,
}

impl Chain {
    pub fn as_str(self) -> &'static str {
        match self {
            Chain::Direct => "direct",
            Chain::Gend => "gend",
        }
    }

    /// One line for profile cards and reports.
    pub fn describe(self) -> &'static str {
        match self {
            Chain::Direct => {
                "direct: MTCNN 5 landmarks → least-squares similarity → bilinear warp to the input size"
            }
            Chain::Gend => {
                "gend: MTCNN 5 landmarks → LMedS similarity (as cv2.estimateAffinePartial2D) → \
                 native-size warp with 1.3× context (as cv2.warpAffine) → Pillow bicubic shortest \
                 edge 224 + centre crop → CLIP mean/std (GenD itself detects with SCRFD; Verity \
                 Desk uses MTCNN's landmarks)"
            }
        }
    }
}

/// Largest native crop side kept for display; bigger faces are shown downscaled to this (a
/// stored display crop per face and sampled frame: 512² keeps a long video's gallery small).
pub const MAX_DISPLAY_SIDE: u32 = 512;
/// Largest crop side the GenD chain warps at (a face filling an 8K frame); beyond it the crop is
/// warped at this size (the result is downscaled to the input size anyway).
pub const MAX_NATIVE_SIDE: u32 = 4096;

/// How faces are cut for one profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropSpec {
    pub template: AlignTemplate,
    pub chain: Chain,
    /// The detector's input side (224 for CLIP ViT-L/14).
    pub size: u32,
}

/// One face, ready for the detector.
#[derive(Clone, Debug)]
pub struct PreparedFace {
    /// The `size`×`size` detector input (before normalisation).
    pub input: RgbImage,
    /// Frame pixel → input pixel.
    pub transform: Similarity,
    /// The same aligned face at the frame's own resolution (capped at [`MAX_DISPLAY_SIDE`]).
    pub native: RgbImage,
    /// Frame pixel → native crop pixel.
    pub native_transform: Similarity,
}

/// GenD's crop side for these landmarks: the mean ratio of landmark distances to template
/// distances over all 10 pairs, times the context scale, rounded (NumPy's `np.round`: half to
/// even). At least 1.
pub fn native_side(landmarks: &[[f32; 2]; 5], template: &AlignTemplate) -> u32 {
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for i in 0..5 {
        for j in i + 1..5 {
            let ds = (landmarks[i][0] - landmarks[j][0]).hypot(landmarks[i][1] - landmarks[j][1]);
            let dt = (template.points[i][0] - template.points[j][0])
                .hypot(template.points[i][1] - template.points[j][1]);
            if dt > 0.0 {
                sum += (ds / dt) as f64;
                n += 1;
            }
        }
    }
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    let side = (mean * template.context_scale as f64).round_ties_even();
    if side.is_finite() {
        side.clamp(1.0, MAX_NATIVE_SIDE as f64) as u32
    } else {
        1
    }
}

/// GenD's destination points in a `side`×`side` crop, computed in f32 in GenD's order
/// (template × side, + margin, × side / (side + 2·margin)).
pub fn gend_points(template: &AlignTemplate, side: u32) -> [[f32; 2]; 5] {
    let t = side as f64;
    let margin = t * (template.context_scale as f64 - 1.0) / 2.0;
    let (m32, k32) = (margin as f32, (t / (t + 2.0 * margin)) as f32);
    template
        .points
        .map(|[x, y]| [(x * side as f32 + m32) * k32, (y * side as f32 + m32) * k32])
}

/// The frame → input transform `prepare` uses for these landmarks (it depends on the landmarks
/// alone): lets stored inputs be related to their frame without the frame.
pub fn transform_for(landmarks: &[[f32; 2]; 5], spec: &CropSpec) -> Similarity {
    match spec.chain {
        Chain::Gend => {
            let side = native_side(landmarks, &spec.template);
            let fit = fit_similarity_lmeds(landmarks, &gend_points(&spec.template, side));
            input_transform(&fit, side, spec.size)
        }
        Chain::Direct => similarity_transform(landmarks, &spec.template.points_px(spec.size)),
    }
}

/// Native crop (side×side, frame → crop `fit`) → input: CLIP's shortest-edge resize of a square
/// is a uniform scale, pixel centres to pixel centres: u_in = (u + 0.5)·s − 0.5.
fn input_transform(fit: &Similarity64, side: u32, size: u32) -> Similarity {
    let s = size as f64 / side as f64;
    Similarity64 {
        a: fit.a * s,
        b: fit.b * s,
        tx: fit.tx * s + 0.5 * s - 0.5,
        ty: fit.ty * s + 0.5 * s - 0.5,
    }
    .to_f32()
}

/// The gallery's face of the direct chain alone (the detector's input is cut elsewhere, e.g. on
/// the device by `warp_tensor`): the same crop and transform as [`prepare`]'s `native`.
pub fn direct_native(
    img: &RgbImage,
    landmarks: &[[f32; 2]; 5],
    spec: &CropSpec,
) -> (RgbImage, Similarity) {
    let side = native_side(landmarks, &spec.template).min(MAX_DISPLAY_SIDE);
    let native_transform = similarity_transform(landmarks, &spec.template.points_px(side));
    (
        warp_similarity(img, &native_transform, side, side),
        native_transform,
    )
}

/// Prepares one face (landmarks in frame pixels) as `spec` prescribes.
pub fn prepare(img: &RgbImage, landmarks: &[[f32; 2]; 5], spec: &CropSpec) -> PreparedFace {
    match spec.chain {
        Chain::Gend => {
            let side = native_side(landmarks, &spec.template);
            let fit = fit_similarity_lmeds(landmarks, &gend_points(&spec.template, side));
            let crop = warp_affine_cv(img, &fit, side, side);
            // The crop is square, so CLIP's resize + centre crop is one uniform scale.
            let (input, _, _) = resize::clip_resize_crop(&crop, spec.size);
            let native_transform = fit.to_f32();
            let transform = input_transform(&fit, side, spec.size);
            let (native, native_transform) = display_crop(crop, native_transform);
            PreparedFace {
                input,
                transform,
                native,
                native_transform,
            }
        }
        Chain::Direct => {
            let transform = similarity_transform(landmarks, &spec.template.points_px(spec.size));
            let input = warp_similarity(img, &transform, spec.size, spec.size);
            let (native, native_transform) = direct_native(img, landmarks, spec);
            PreparedFace {
                input,
                transform,
                native,
                native_transform,
            }
        }
    }
}

/// Caps a native crop at [`MAX_DISPLAY_SIDE`] for storage and display (Pillow bicubic), with
/// its transform adjusted.
fn display_crop(crop: RgbImage, t: Similarity) -> (RgbImage, Similarity) {
    let side = crop.width().max(crop.height());
    if side <= MAX_DISPLAY_SIDE {
        return (crop, t);
    }
    let s = MAX_DISPLAY_SIDE as f32 / side as f32;
    let (w, h) = (
        ((crop.width() as f32 * s).round() as u32).max(1),
        ((crop.height() as f32 * s).round() as u32).max(1),
    );
    let small = resize::resize(&crop, w, h, resize::Filter::Bicubic);
    let t = Similarity {
        a: t.a * s,
        b: t.b * s,
        tx: t.tx * s + 0.5 * s - 0.5,
        ty: t.ty * s + 0.5 * s - 0.5,
    };
    (small, t)
}
