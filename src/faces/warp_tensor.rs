//! Device-side face alignment: cuts aligned crops out of frames that are already on the device
//! (CPU or CUDA) with `grid_sample`, so frames go up once and crops never come back to the host.
//!
//! This is the `direct` chain ([`Chain::Direct`]: least-squares similarity straight onto the
//! `size`×`size` input, bilinear, black outside the frame) — the tensor twin of
//! [`warp_similarity`](super::align::warp_similarity). The GenD chain ([`Chain::Gend`]) is **not**
//! done here: it stays on its bit-exact CPU path (`cv2.warpAffine` fixed point at native
//! resolution, then Pillow's antialiased bicubic), because that exactness is what makes its
//! scores GenD's published scores; [`FaceWarp::for_chain`] refuses it.
//!
//! # Pixel convention (why this matches the CPU crop)
//! The CPU warp follows OpenCV: pixel (x, y) has its centre at the integer coordinate (x, y);
//! an output pixel (u, v) reads the frame at M⁻¹·(u, v) with bilinear weights and reads 0 for
//! any neighbour outside the frame. `grid_sample` with `align_corners = false` puts the centre of
//! pixel x of a W-wide image at the normalised coordinate x̂ = (2x + 1)/W − 1 (so −1 and +1
//! are the outer *edges* of the border pixels), and `padding_mode = zeros` reads 0 for every
//! neighbour outside, exactly as the CPU warp does. The normalised grid is therefore
//! `θ = N_frame ∘ M⁻¹ ∘ N_crop⁻¹` with N_W(x) = (2x + 1)/W − 1 on each axis; θ is composed on the
//! host in f64 (six numbers per face) and the grid itself is generated on the device by
//! `affine_grid_generator` (also `align_corners = false`).
//!
//! The sampled values are rounded to whole grey levels by default ([`TensorCrop::quantize`]),
//! as the CPU path rounds its 8-bit crop, so the scored input equals the stored crop up to f32
//! rounding of the sample position (measured in `tests/warp_tensor.rs`: at most 1 grey level on
//! a handful of pixels where the CPU value sits within ~1e-3 of a .5 tie).
use super::align::{Similarity, Similarity64};
use super::preprocess::{transform_for, Chain, CropSpec};
use crate::{Error, Result};
use image::RgbImage;
use tch::{Device, Kind, Tensor};

/// One face to cut: which frame of the batch, and the frame-pixel → crop-pixel affine map
/// `[[m00, m01, m02], [m10, m11, m12]]` (OpenCV's `warpAffine` layout, pixel centres at integer
/// coordinates).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceWarp {
    /// Index into the frame batch's first dimension.
    pub frame: i64,
    /// Frame pixel → crop pixel.
    pub matrix: [[f64; 3]; 2],
}

impl FaceWarp {
    /// A face of `frame` cut with the similarity `frame_to_crop`.
    pub fn new(frame: i64, frame_to_crop: &Similarity) -> Self {
        let m = frame_to_crop.to_matrix();
        Self {
            frame,
            matrix: m.map(|row| row.map(|v| v as f64)),
        }
    }

    /// The same from a double-precision similarity.
    pub fn from_similarity64(frame: i64, s: &Similarity64) -> Self {
        Self {
            frame,
            matrix: [[s.a, -s.b, s.tx], [s.b, s.a, s.ty]],
        }
    }

    /// The warp the profile's chain uses for these landmarks, if that chain can run on the
    /// device: `direct` only (the same transform `preprocess::prepare` uses). GenD's chain is
    /// refused: it stays on its bit-exact CPU path.
    pub fn for_chain(frame: i64, landmarks: &[[f32; 2]; 5], spec: &CropSpec) -> Result<Self> {
        match spec.chain {
            Chain::Direct => Ok(Self::new(frame, &transform_for(landmarks, spec))),
            Chain::Gend => Err(Error::Config(
                "the gend preprocessing chain is not cut on the device: it runs on its bit-exact \
                 CPU path (OpenCV warp + Pillow bicubic)"
                    .into(),
            )),
        }
    }

    /// Normalised `affine_grid` θ (crop normalised coords → frame normalised coords) for a
    /// `frame_w`×`frame_h` frame and a `size`×`size` crop. `None` when the map cannot be used
    /// (not finite); a singular map inverts to the identity as [`Similarity::inverse`] does.
    fn theta(&self, frame_w: i64, frame_h: i64, size: i64) -> Option<[f64; 6]> {
        let [[m00, m01, m02], [m10, m11, m12]] = self.matrix;
        if ![m00, m01, m02, m10, m11, m12].iter().all(|v| v.is_finite()) {
            return None;
        }
        // Inverse of the forward map: crop pixel → frame pixel.
        let det = m00 * m11 - m01 * m10;
        let inv = if det == 0.0 || !det.is_finite() {
            [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        } else {
            let (i00, i01, i10, i11) = (m11 / det, -m01 / det, -m10 / det, m00 / det);
            [
                i00,
                i01,
                -(i00 * m02 + i01 * m12),
                i10,
                i11,
                -(i10 * m02 + i11 * m12),
            ]
        };
        // Crop normalised ĉ → crop pixel c = ((ĉ + 1)·S − 1)/2 = (S/2)·ĉ + (S − 1)/2.
        let (s, o) = (size as f64 / 2.0, (size as f64 - 1.0) / 2.0);
        // Frame pixel x → normalised x̂ = (2x + 1)/W − 1.
        let (kx, bx) = (2.0 / frame_w as f64, 1.0 / frame_w as f64 - 1.0);
        let (ky, by) = (2.0 / frame_h as f64, 1.0 / frame_h as f64 - 1.0);
        // Frame pixel = inv · (s·ĉ + o).
        let px = [inv[0] * s, inv[1] * s, inv[0] * o + inv[1] * o + inv[2]];
        let py = [inv[3] * s, inv[4] * s, inv[3] * o + inv[4] * o + inv[5]];
        let t = [
            kx * px[0],
            kx * px[1],
            kx * px[2] + bx,
            ky * py[0],
            ky * py[1],
            ky * py[2] + by,
        ];
        t.iter().all(|v| v.is_finite()).then_some(t)
    }
}

/// How the device crops are made and normalised for the encoder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorCrop {
    /// Crop side S (the detector's input side, 224 for CLIP ViT-L/14).
    pub size: i64,
    /// Per-channel mean and std applied to x/255 (e.g. `CLIP_MEAN`/`CLIP_STD`).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// Round samples to whole grey levels (0..=255) before normalising, as the CPU path's 8-bit
    /// crop does (default true: the scored input equals the stored crop).
    pub quantize: bool,
}

impl TensorCrop {
    pub fn new(size: u32, mean: [f32; 3], std: [f32; 3]) -> Self {
        Self {
            size: size as i64,
            mean,
            std,
            quantize: true,
        }
    }
}

/// Uploads equally sized RGB frames once as a `[N,3,H,W]` uint8 tensor on `device` (4× fewer
/// bytes over the bus than float; [`warp_faces`] converts on the device).
pub fn frames_to_tensor(frames: &[&RgbImage], device: Device) -> Result<Tensor> {
    let Some(first) = frames.first() else {
        return Err(Error::Model("no frames to upload".into()));
    };
    let (w, h) = first.dimensions();
    if let Some(odd) = frames.iter().find(|f| f.dimensions() != (w, h)) {
        return Err(Error::Model(format!(
            "frames of one batch must have one size: {w}×{h} and {}×{}",
            odd.width(),
            odd.height()
        )));
    }
    let mut data = Vec::with_capacity(frames.len() * (w * h * 3) as usize);
    for f in frames {
        data.extend_from_slice(f.as_raw());
    }
    let t = Tensor::from_slice(&data)
        .view([frames.len() as i64, h as i64, w as i64, 3])
        .permute([0, 3, 1, 2])
        .contiguous();
    Ok(t.to_device(device))
}

/// Cuts `faces` out of `frames` (`[N,3,H,W]`, uint8 or floating point in grey levels 0..=255,
/// on any device) into `[F,3,S,S]` float32 crops on the same device, normalised as
/// `(x/255 − mean)/std` — in the order of `faces`, with one `grid_sample` call for the whole
/// batch (bilinear, zero padding, `align_corners = false`; see the module docs for the pixel
/// convention). No pixel goes through the host. A face whose frame index is out of range is an
/// error; one whose map is not finite gives a black crop (as the CPU warp does).
pub fn warp_faces(frames: &Tensor, faces: &[FaceWarp], spec: &TensorCrop) -> Result<Tensor> {
    let crops = warp_faces_raw(frames, faces, spec.size, spec.quantize)?;
    normalise(&crops, spec.mean, spec.std)
}

/// `(x/255 − mean)/std` of `[F,3,S,S]` grey levels, per channel, on their device — the same
/// arithmetic, in the same order, as the CPU's [`to_tensor`](super::align::to_tensor).
pub fn normalise(crops: &Tensor, mean: [f32; 3], std: [f32; 3]) -> Result<Tensor> {
    let device = crops.device();
    let mean = Tensor::from_slice(&mean)
        .view([1, 3, 1, 1])
        .to_device(device);
    let std = Tensor::from_slice(&std)
        .view([1, 3, 1, 1])
        .to_device(device);
    Ok(((crops.f_to_kind(Kind::Float)? / 255.0) - mean) / std)
}

/// Brings `[F,3,S,S]` grey-level crops (already whole levels: `quantize`) to the host as 8-bit
/// RGB images — what the case stores as "the detector's exact input".
pub fn crops_to_images(crops: &Tensor) -> Result<Vec<RgbImage>> {
    let size = crops.size();
    let [f, 3, h, w] = size[..] else {
        return Err(Error::Model(format!(
            "crops must be one [F,3,S,S] tensor, got shape {size:?}"
        )));
    };
    let hwc = crops
        .f_clamp(0.0, 255.0)?
        .f_to_kind(Kind::Uint8)?
        .permute([0, 2, 3, 1])
        .contiguous()
        .to_device(Device::Cpu);
    let data = Vec::<u8>::try_from(hwc.flatten(0, -1))?;
    let plane = (h * w * 3) as usize;
    (0..f as usize)
        .map(|i| {
            RgbImage::from_raw(
                w as u32,
                h as u32,
                data[i * plane..(i + 1) * plane].to_vec(),
            )
            .ok_or_else(|| Error::Model("crop buffer of the wrong size".into()))
        })
        .collect()
}

/// [`warp_faces`] before normalising: `[F,3,S,S]` float32 grey levels (0..=255, rounded to whole
/// levels when `quantize`) on the frames' device.
pub fn warp_faces_raw(
    frames: &Tensor,
    faces: &[FaceWarp],
    crop_size: i64,
    quantize: bool,
) -> Result<Tensor> {
    let size = frames.size();
    let [n, c, h, w] = size[..] else {
        return Err(Error::Model(format!(
            "frames must be one [N,3,H,W] tensor, got shape {size:?}"
        )));
    };
    if c != 3 || h < 1 || w < 1 {
        return Err(Error::Model(format!(
            "frames must be RGB [N,3,H,W] with H, W ≥ 1, got shape {size:?}"
        )));
    }
    if crop_size < 1 {
        return Err(Error::Model(format!(
            "crop side must be ≥ 1, got {crop_size}"
        )));
    }
    let s = crop_size;
    let device = frames.device();
    if faces.is_empty() {
        return Ok(Tensor::zeros([0, 3, s, s], (Kind::Float, device)));
    }
    if let Some(f) = faces.iter().find(|f| f.frame < 0 || f.frame >= n) {
        return Err(Error::Model(format!(
            "face refers to frame {} of a batch of {n} frames",
            f.frame
        )));
    }
    // Slot layout: frame i gets `k` crop slots stacked along the grid's height, so one
    // grid_sample([N,3,H,W], [N, k·S, S, 2]) cuts every face without copying any frame.
    // Empty slots sample far outside (black) and are dropped below.
    let mut per_frame = vec![0i64; n as usize];
    let mut slot_of = Vec::with_capacity(faces.len());
    for f in faces {
        let k = &mut per_frame[f.frame as usize];
        slot_of.push(*k);
        *k += 1;
    }
    let k = per_frame.iter().copied().max().unwrap_or(1).max(1);
    const OUTSIDE: [f64; 6] = [0.0, 0.0, 4.0, 0.0, 0.0, 4.0];
    let mut theta = vec![OUTSIDE; (n * k) as usize];
    for (f, slot) in faces.iter().zip(&slot_of) {
        theta[(f.frame * k + slot) as usize] = f.theta(w, h, s).unwrap_or(OUTSIDE);
    }
    let theta: Vec<f32> = theta.iter().flatten().map(|&v| v as f32).collect();
    let theta = Tensor::from_slice(&theta)
        .view([n * k, 2, 3])
        .to_device(device);
    let grid =
        Tensor::f_affine_grid_generator(&theta, [n * k, 3, s, s], false)?.view([n, k * s, s, 2]);
    let input = if frames.kind() == Kind::Float {
        frames.shallow_clone()
    } else {
        frames.f_to_kind(Kind::Float)?
    };
    // interpolation 0 = bilinear, padding 0 = zeros.
    let out = input.f_grid_sampler_2d(&grid, 0, 0, false)?; // [N,3,k·S,S]
    let out = out
        .view([n, 3, k, s, s])
        .permute([0, 2, 1, 3, 4])
        .reshape([n * k, 3, s, s]);
    let index: Vec<i64> = faces
        .iter()
        .zip(&slot_of)
        .map(|(f, slot)| f.frame * k + slot)
        .collect();
    let index = Tensor::from_slice(&index).to_device(device);
    let mut crops = out.f_index_select(0, &index)?;
    if quantize {
        // Half up (floor(x + 0.5)), as the CPU warp's `f32::round` on non-negative values;
        // torch's `round` would round ties to even.
        crops = (crops + 0.5).f_floor()?.f_clamp(0.0, 255.0)?;
    }
    Ok(crops)
}
