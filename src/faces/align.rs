//! 5-point face alignment: a least-squares similarity transform from MTCNN landmarks onto a
//! template, and the warped, upright face crop the encoders see.
//!
//! The transform is Umeyama's least-squares similarity (S. Umeyama, "Least-squares estimation
//! of transformation parameters between two point patterns", IEEE TPAMI 1991), as used by
//! insightface's `face_align.norm_crop` (skimage `SimilarityTransform.estimate`) with its
//! 112×112 ArcFace template; the crop is sampled like OpenCV's `warpAffine` (bilinear, pixel
//! centres at integer coordinates, constant black border).
use crate::{Error, Result};
use image::{Rgb, RgbImage};
use tch::{Kind, Tensor};

/// CLIP's normalisation (OpenAI CLIP / open_clip `OPENAI_DATASET_MEAN/STD`), digits as published.
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];
/// ImageNet normalisation (torchvision / timm defaults).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Where the 5 landmarks (left eye, right eye, nose, mouth left, mouth right, as seen in the
/// image) should land in the crop.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlignTemplate {
    /// Template points relative to the template square, 0..1.
    pub points: [[f32; 2]; 5],
    /// How much more than the template square the crop shows: 1.0 = exactly the template,
    /// 1.3 = the template occupies the central 1/1.3 of each side (context around the face).
    pub context_scale: f32,
}

impl AlignTemplate {
    /// The standard insightface/ArcFace 5-point template on 112×112, as fractions of the side.
    pub fn arcface() -> Self {
        const ARCFACE_112: [[f32; 2]; 5] = [
            [38.2946, 51.6963],
            [73.5318, 51.5014],
            [56.0252, 71.7366],
            [41.5493, 92.3655],
            [70.7299, 92.2041],
        ];
        Self {
            points: ARCFACE_112.map(|[x, y]| [x / 112.0, y / 112.0]),
            context_scale: 1.0,
        }
    }

    /// The project's detection crop: a symmetric template with 1.3× context, so forehead, chin
    /// and the face's borders (where blending artefacts live) stay in the crop.
    pub fn gend() -> Self {
        Self {
            points: [
                [0.34, 0.46],
                [0.66, 0.46],
                [0.50, 0.64],
                [0.37, 0.82],
                [0.63, 0.82],
            ],
            context_scale: 1.3,
        }
    }

    /// The template points in pixels of a `size`×`size` crop: margin + p / context_scale, with
    /// margin = (context_scale − 1) / 2 / context_scale of the side.
    pub fn points_px(&self, size: u32) -> [[f32; 2]; 5] {
        let cs = self.context_scale;
        let margin = (cs - 1.0) / 2.0 / cs;
        let side = size as f32;
        self.points
            .map(|[x, y]| [(margin + x / cs) * side, (margin + y / cs) * side])
    }
}

/// A similarity transform p ↦ [a −b; b a]·p + (tx, ty): rotation, uniform scale, translation,
/// never a reflection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub fn identity() -> Self {
        Self {
            a: 1.0,
            b: 0.0,
            tx: 0.0,
            ty: 0.0,
        }
    }

    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        [
            self.a * p[0] - self.b * p[1] + self.tx,
            self.b * p[0] + self.a * p[1] + self.ty,
        ]
    }

    /// The inverse transform. A degenerate transform (scale 0) inverts to the identity.
    pub fn inverse(&self) -> Self {
        let (a, b, tx, ty) = (self.a as f64, self.b as f64, self.tx as f64, self.ty as f64);
        let det = a * a + b * b;
        if det == 0.0 || !det.is_finite() {
            return Self::identity();
        }
        let (ia, ib) = (a / det, -b / det);
        Self {
            a: ia as f32,
            b: ib as f32,
            tx: (-(ia * tx - ib * ty)) as f32,
            ty: (-(ib * tx + ia * ty)) as f32,
        }
    }

    /// The 2×3 affine matrix [[a, −b, tx], [b, a, ty]] (OpenCV's warpAffine layout).
    pub fn to_matrix(&self) -> [[f32; 3]; 2] {
        [[self.a, -self.b, self.tx], [self.b, self.a, self.ty]]
    }

    /// Uniform scale factor.
    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Rotation angle in degrees (counter-clockwise in x-right/y-up terms, i.e. clockwise on
    /// screen where y points down).
    pub fn rotation_degrees(&self) -> f32 {
        self.b.atan2(self.a).to_degrees()
    }
}

/// Umeyama's least-squares similarity mapping `src` onto `dst` (no reflection). In 2-D the
/// optimum has a closed form: with both point sets centred, a = Σ x·y / Σ|x|² and
/// b = Σ x×y / Σ|x|². If all `src` points coincide, only the translation is fitted.
pub fn similarity_transform(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> Similarity {
    similarity_lstsq(src, dst).to_f32()
}

/// An aligned face crop and the transform that made it.
#[derive(Clone, Debug)]
pub struct AlignedFace {
    pub image: RgbImage,
    /// Frame pixel → crop pixel.
    pub transform: Similarity,
}

/// Cuts the face with these landmarks (frame px) out of `img` so that they land on `template`
/// in a `size`×`size` crop. Parts of the crop outside the frame are black.
pub fn align_face(
    img: &RgbImage,
    landmarks: &[[f32; 2]; 5],
    template: &AlignTemplate,
    size: u32,
) -> AlignedFace {
    let transform = similarity_transform(landmarks, &template.points_px(size));
    AlignedFace {
        image: warp_similarity(img, &transform, size, size),
        transform,
    }
}

/// Renders a `width`×`height` image whose pixel (u, v) shows `img` at
/// `frame_to_out.inverse()(u, v)`, sampled bilinearly with a black border.
pub fn warp_similarity(
    img: &RgbImage,
    frame_to_out: &Similarity,
    width: u32,
    height: u32,
) -> RgbImage {
    let inv = frame_to_out.inverse();
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let pixel = |x: i64, y: i64| -> [f32; 3] {
        if x < 0 || y < 0 || x >= w || y >= h {
            return [0.0; 3];
        }
        let i = ((y * w + x) * 3) as usize;
        [raw[i] as f32, raw[i + 1] as f32, raw[i + 2] as f32]
    };
    let mut out = RgbImage::new(width, height);
    for (u, v, px) in out.enumerate_pixels_mut() {
        let [sx, sy] = inv.apply([u as f32, v as f32]);
        if !sx.is_finite() || !sy.is_finite() {
            continue;
        }
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let (p00, p10, p01, p11) = (
            pixel(x0, y0),
            pixel(x0 + 1, y0),
            pixel(x0, y0 + 1),
            pixel(x0 + 1, y0 + 1),
        );
        let mut rgb = [0u8; 3];
        for c in 0..3 {
            let top = p00[c] + (p10[c] - p00[c]) * fx;
            let bottom = p01[c] + (p11[c] - p01[c]) * fx;
            rgb[c] = (top + (bottom - top) * fy).round().clamp(0.0, 255.0) as u8;
        }
        *px = Rgb(rgb);
    }
    out
}

/// The whole frame letterboxed into `size`×`size` — aspect kept, centred on black, bilinear and
/// anti-aliased when shrinking — with its frame → crop transform: the "score the full frame"
/// fallback when no face is found. Keeping the aspect leaves any face in it undistorted, and the
/// transform is a true similarity (uniform scale + offset, exact to half a crop pixel along the
/// shorter side), so heat-maps computed on the crop map back into the frame where they belong.
/// An empty frame gives a black square with the identity transform.
pub fn full_frame(img: &RgbImage, size: u32) -> AlignedFace {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 || size == 0 {
        return AlignedFace {
            image: RgbImage::new(size, size),
            transform: Similarity::identity(),
        };
    }
    let s = size as f32 / w.max(h) as f32;
    let fit = |n: u32| ((n as f32 * s).round() as u32).clamp(1, size);
    let (nw, nh) = (fit(w), fit(h));
    let resized = image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle);
    let (ox, oy) = ((size - nw) / 2, (size - nh) / 2);
    let mut out = RgbImage::new(size, size);
    image::imageops::replace(&mut out, &resized, ox as i64, oy as i64);
    // Pixel centres: frame pixel x covers [x, x+1) in continuous units, which the resize maps
    // to [x·s, (x+1)·s) of the placed picture, whose pixel centres sit at +0.5.
    AlignedFace {
        image: out,
        transform: Similarity {
            a: s,
            b: 0.0,
            tx: ox as f32 + 0.5 * s - 0.5,
            ty: oy as f32 + 0.5 * s - 0.5,
        },
    }
}

/// Stacks equally sized RGB crops into a float tensor [B,3,H,W] of (x/255 − mean)/std (CPU).
/// No crops give an empty [0,3,0,0] tensor; crops of different sizes are an error.
pub fn to_tensor(faces: &[&RgbImage], mean: [f32; 3], std: [f32; 3]) -> Result<Tensor> {
    let Some(first) = faces.first() else {
        return Ok(Tensor::zeros([0, 3, 0, 0], (Kind::Float, tch::Device::Cpu)));
    };
    let (w, h) = first.dimensions();
    if let Some(odd) = faces.iter().find(|f| f.dimensions() != (w, h)) {
        return Err(Error::Model(format!(
            "face crops of one batch must have one size: {w}×{h} and {}×{}",
            odd.width(),
            odd.height()
        )));
    }
    let plane = (w * h) as usize;
    let mut data = vec![0f32; faces.len() * 3 * plane];
    for (face, chunk) in faces.iter().zip(data.chunks_mut(3 * plane)) {
        for (i, px) in face.as_raw().chunks_exact(3).enumerate() {
            for c in 0..3 {
                chunk[c * plane + i] = (px[c] as f32 / 255.0 - mean[c]) / std[c];
            }
        }
    }
    Ok(Tensor::from_slice(&data).view([faces.len() as i64, 3, h as i64, w as i64]))
}

/// A similarity transform in double precision, as OpenCV holds it: frame pixel → crop pixel,
/// p ↦ [a −b; b a]·p + (tx, ty). The GenD chain keeps its fit in f64 up to the warp, because
/// `cv2.warpAffine` quantises source coordinates to 1/32 px from the double matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity64 {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity64 {
    pub fn to_f32(&self) -> Similarity {
        Similarity {
            a: self.a as f32,
            b: self.b as f32,
            tx: self.tx as f32,
            ty: self.ty as f32,
        }
    }

    /// Squared residual of each point pair, in f32 as OpenCV's estimator stores them.
    fn sq_errors(&self, src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> [f32; 5] {
        let mut e = [0f32; 5];
        for i in 0..5 {
            let (x, y) = (src[i][0] as f64, src[i][1] as f64);
            let ex = self.a * x - self.b * y + self.tx - dst[i][0] as f64;
            let ey = self.b * x + self.a * y + self.ty - dst[i][1] as f64;
            e[i] = (ex * ex + ey * ey) as f32;
        }
        e
    }
}

/// The exact similarity through two point pairs (OpenCV's 2-point kernel of
/// `estimateAffinePartial2D`). None when the two source points coincide.
fn similarity_from_pair(
    p: [f32; 2],
    q: [f32; 2],
    pd: [f32; 2],
    qd: [f32; 2],
) -> Option<Similarity64> {
    let (x1, y1, x2, y2) = (p[0] as f64, p[1] as f64, q[0] as f64, q[1] as f64);
    let (u1, v1, u2, v2) = (pd[0] as f64, pd[1] as f64, qd[0] as f64, qd[1] as f64);
    let n = (x1 - x2) * (x1 - x2) + (y1 - y2) * (y1 - y2);
    if n == 0.0 || !n.is_finite() {
        return None;
    }
    let d = 1.0 / n;
    let a = d * ((u1 - u2) * (x1 - x2) + (v1 - v2) * (y1 - y2));
    let b = d * ((v1 - v2) * (x1 - x2) - (u1 - u2) * (y1 - y2));
    Some(Similarity64 {
        a,
        b,
        tx: u1 - (a * x1 - b * y1),
        ty: v1 - (b * x1 + a * y1),
    })
}

/// Least-squares similarity over the given pairs, in f64 (Umeyama's closed form in 2-D: with both
/// point sets centred, a = Σ x·y / Σ|x|², b = Σ x×y / Σ|x|²). It is also the optimum OpenCV's
/// Levenberg–Marquardt refinement converges to (the model is linear in its four parameters).
/// If all `src` points coincide, only the translation is fitted.
fn similarity_lstsq(src: &[[f32; 2]], dst: &[[f32; 2]]) -> Similarity64 {
    let n = src.len().max(1) as f64;
    let mean = |pts: &[[f32; 2]]| {
        let (sx, sy) = pts.iter().fold((0.0f64, 0.0f64), |(x, y), p| {
            (x + p[0] as f64, y + p[1] as f64)
        });
        (sx / n, sy / n)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut dot, mut cross, mut norm) = (0.0f64, 0.0f64, 0.0f64);
    for (s, d) in src.iter().zip(dst) {
        let (sx, sy) = (s[0] as f64 - msx, s[1] as f64 - msy);
        let (dx, dy) = (d[0] as f64 - mdx, d[1] as f64 - mdy);
        dot += sx * dx + sy * dy;
        cross += sx * dy - sy * dx;
        norm += sx * sx + sy * sy;
    }
    let (a, b) = if norm > 0.0 && norm.is_finite() {
        (dot / norm, cross / norm)
    } else {
        (1.0, 0.0)
    };
    Similarity64 {
        a,
        b,
        tx: mdx - (a * msx - b * msy),
        ty: mdy - (b * msx + a * msy),
    }
}

/// OpenCV's `cv::RNG` (multiply-with-carry), which `estimateAffinePartial2D` seeds with −1 on
/// every call: replaying it makes our robust fit pick the same point pairs OpenCV picks.
struct CvRng(u64);

impl CvRng {
    fn next(&mut self) -> u32 {
        self.0 = (self.0 as u32 as u64)
            .wrapping_mul(4_164_903_690)
            .wrapping_add(self.0 >> 32);
        self.0 as u32
    }
    fn uniform(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

/// The robust similarity fit of `cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)` with
/// its defaults (confidence 0.99, 10 refinement iterations), reproduced deterministically:
/// 1. least median of squares: OpenCV draws 13 two-point subsets with its RNG seeded at −1
///    (13 = ⌈log 0.01 / log(1 − 0.55²)⌉ for its assumed 45 % outliers); each subset gives the
///    exact similarity through its two pairs; the one whose median (3rd of 5) squared residual
///    is smallest wins (first one on ties);
/// 2. inliers: squared residual ≤ σ², σ = 2.5·1.4826·(1 + 5/(n − 2))·√median (at least 0.001);
/// 3. refinement: least squares over the inliers (what OpenCV's LM refinement converges to).
///
/// A landmark that is off (a turned or expressive face) is outvoted instead of dragging the
/// fit as plain least squares over all five points would. Falls back to least squares over all
/// points when every subset is degenerate (coincident landmarks).
pub fn fit_similarity_lmeds(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> Similarity64 {
    const COUNT: u32 = 5;
    // RANSACUpdateNumIters(0.99, 0.45, 2, 2000) = round(log(0.01) / log(1 − 0.55²)) = 13.
    let niters = ((1.0f64 - 0.99).ln() / (1.0 - 0.55f64.powi(2)).ln()).round() as usize;
    let mut rng = CvRng(u64::MAX);
    let mut best: Option<(f32, Similarity64)> = None;
    for _ in 0..niters.max(3) {
        let i = rng.uniform(COUNT) as usize;
        let mut j = rng.uniform(COUNT) as usize;
        while j == i {
            j = rng.uniform(COUNT) as usize;
        }
        let Some(m) = similarity_from_pair(src[i], src[j], dst[i], dst[j]) else {
            continue;
        };
        let mut e = m.sq_errors(src, dst);
        e.sort_by(|x, y| x.total_cmp(y));
        let median = e[COUNT as usize / 2];
        if best.is_none_or(|(b, _)| median < b) {
            best = Some((median, m));
        }
    }
    let Some((median, model)) = best else {
        return similarity_lstsq(src, dst);
    };
    let sigma =
        (2.5 * 1.4826 * (1.0 + 5.0 / (COUNT as f64 - 2.0)) * (median as f64).sqrt()).max(0.001);
    let thresh = (sigma * sigma) as f32;
    let err = model.sq_errors(src, dst);
    let (mut s, mut d) = (Vec::with_capacity(5), Vec::with_capacity(5));
    for i in 0..5 {
        if err[i] <= thresh {
            s.push(src[i]);
            d.push(dst[i]);
        }
    }
    if s.len() < 2 {
        return model;
    }
    similarity_lstsq(&s, &d)
}

/// `cv2.warpAffine(img, M, (width, height), flags=INTER_LINEAR, borderMode=BORDER_CONSTANT)`
/// for an 8-bit RGB image, bit for bit: OpenCV inverts M in double precision, steps through the
/// output in fixed point (source coordinates quantised to 1/32 px with 10-bit intermediate
/// precision, rounded half to even), interpolates with 15-bit integer weights and rounds the
/// sum; a sample whose 2×2 neighbourhood is wholly outside the image is black, a partly
/// outside one reads black for the missing neighbours.
pub fn warp_affine_cv(img: &RgbImage, m: &Similarity64, width: u32, height: u32) -> RgbImage {
    const AB_BITS: i64 = 10;
    const AB_SCALE: f64 = (1i64 << AB_BITS) as f64;
    const INTER_BITS: i64 = 5;
    const TAB: i64 = 1 << INTER_BITS;
    const ROUND_DELTA: i64 = (1 << AB_BITS) / TAB / 2;
    // Forward matrix [[m0 m1 m2] [m3 m4 m5]] and OpenCV's inversion of it.
    let f = [m.a, -m.b, m.tx, m.b, m.a, m.ty];
    let mut d = f[0] * f[4] - f[1] * f[3];
    d = if d != 0.0 { 1.0 / d } else { 0.0 };
    let (a11, a22) = (f[4] * d, f[0] * d);
    let (a12, a21) = (-f[1] * d, -f[3] * d);
    let b1 = -a11 * f[2] - a12 * f[5];
    let b2 = -a21 * f[2] - a22 * f[5];
    let inv = [a11, a12, b1, a21, a22, b2];
    // saturate_cast<int>(double): round half to even, clamped.
    let sat = |v: f64| -> i64 {
        if v.is_nan() {
            0
        } else {
            v.round_ties_even().clamp(i32::MIN as f64, i32::MAX as f64) as i64
        }
    };
    let adelta: Vec<i64> = (0..width)
        .map(|x| sat(inv[0] * x as f64 * AB_SCALE))
        .collect();
    let bdelta: Vec<i64> = (0..width)
        .map(|x| sat(inv[3] * x as f64 * AB_SCALE))
        .collect();
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let mut out = RgbImage::new(width, height);
    let buf: &mut [u8] = &mut out;
    for y in 0..height as i64 {
        let x0 = sat((inv[1] * y as f64 + inv[2]) * AB_SCALE) + ROUND_DELTA;
        let y0 = sat((inv[4] * y as f64 + inv[5]) * AB_SCALE) + ROUND_DELTA;
        for x in 0..width as usize {
            let xx = (x0 + adelta[x]) >> (AB_BITS - INTER_BITS);
            let yy = (y0 + bdelta[x]) >> (AB_BITS - INTER_BITS);
            // OpenCV stores the integer part as a (saturated) short.
            let sx = (xx >> INTER_BITS).clamp(i16::MIN as i64, i16::MAX as i64);
            let sy = (yy >> INTER_BITS).clamp(i16::MIN as i64, i16::MAX as i64);
            let (fx, fy) = (xx & (TAB - 1), yy & (TAB - 1));
            if sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0 {
                continue; // black
            }
            // Weights: products of k/32 scaled to 2^15 — exact integers summing to 32768.
            let wts = [
                (TAB - fy) * (TAB - fx) * 32,
                (TAB - fy) * fx * 32,
                fy * (TAB - fx) * 32,
                fy * fx * 32,
            ];
            let nb = [(sx, sy), (sx + 1, sy), (sx, sy + 1), (sx + 1, sy + 1)];
            let o = (y as usize * width as usize + x) * 3;
            for c in 0..3 {
                let mut acc = 0i64;
                for (k, &(px, py)) in nb.iter().enumerate() {
                    if px >= 0 && py >= 0 && px < w && py < h {
                        acc += raw[((py * w + px) * 3) as usize + c] as i64 * wts[k];
                    }
                }
                buf[o + c] = ((acc + (1 << 14)) >> 15).clamp(0, 255) as u8;
            }
        }
    }
    out
}
