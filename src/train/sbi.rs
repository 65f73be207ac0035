//! Self-blended images: training fakes made from one real face.
//!
//! K. Shiohara & T. Yamasaki, "Detecting Deepfakes with Self-Blended Images", CVPR 2022
//! (reference implementation `github:mapooon/SelfBlendedImages`, `src/utils/sbi.py` and
//! `funcs.py`): a face is blended with a slightly changed copy of itself through a soft mask
//! around the face, which leaves exactly the traces a face swap leaves (a blending boundary,
//! colour and geometry mismatch) without any second identity or generator.
//!
//! Differences from the reference, because we have 5 landmarks rather than dlib's 81:
//! - the mask region is either the convex hull of the 5 landmarks plus points extrapolated from
//!   them to forehead, temples and chin ([`MaskShape::Hull`]), or an ellipse fitted to the
//!   eyes–mouth geometry ([`MaskShape::Ellipse`]);
//! - the reference's elastic deformation of the hull becomes a smooth random deformation of the
//!   region's boundary (a few low-frequency harmonics of its radius), then a Gaussian blur and a
//!   blend ratio from the reference's {0.25, 0.5, 0.75, 1, 1, 1};
//! - the source copy gets hue/saturation/brightness/contrast jitter and a small scale and
//!   translation about the face centre (the reference's `RandomBrightnessContrast`,
//!   `HueSaturationValue` and `randaffine`).
//!
//! Every random choice is drawn from a seeded [`Rng`] into [`SbiParams`]; [`self_blend_with`]
//! rebuilds the identical image from those parameters alone.
use super::Rng;
use crate::faces::align::{warp_similarity, Similarity};
use crate::{Error, Result};
use image::{GrayImage, Luma, RgbImage};
use serde::{Deserialize, Serialize};

/// A soft mask in [0, 1], one value per pixel, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Mask {
    pub fn get(&self, x: u32, y: u32) -> f32 {
        self.data[(y * self.width + x) as usize]
    }

    /// Bilinear value at a sub-pixel position (0 outside).
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let at = |xi: f32, yi: f32| -> f32 {
            if xi < 0.0 || yi < 0.0 || xi >= self.width as f32 || yi >= self.height as f32 {
                0.0
            } else {
                self.get(xi as u32, yi as u32)
            }
        };
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1.0, y0) * fx;
        let bottom = at(x0, y0 + 1.0) * (1.0 - fx) + at(x0 + 1.0, y0 + 1.0) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    pub fn max(&self) -> f32 {
        self.data.iter().copied().fold(0.0, f32::max)
    }

    /// The mask as an 8-bit grey image (for saving beside a generated sample).
    pub fn to_image(&self) -> GrayImage {
        GrayImage::from_fn(self.width, self.height, |x, y| {
            Luma([(self.get(x, y) * 255.0).round().clamp(0.0, 255.0) as u8])
        })
    }
}

/// Which region around the landmarks the mask covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskShape {
    Hull,
    Ellipse,
}

/// One harmonic of the boundary deformation: the region's radius at angle θ is multiplied by
/// `1 + amplitude · cos(k θ + phase)` (summed over harmonics).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Harmonic {
    pub k: u32,
    pub amplitude: f32,
    pub phase: f32,
}

/// How a soft face mask is drawn from 5 landmarks; shared by SBI and face swaps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskParams {
    pub shape: MaskShape,
    /// Scale of the region about its centre (≥ 1 grows it).
    pub expand: f32,
    pub deform: Vec<Harmonic>,
    /// Gaussian blur σ, pixels.
    pub blur_sigma: f32,
    /// The mask's peak value (the blend ratio).
    pub blend: f32,
}

/// Everything that made one self-blended image; enough to rebuild it exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SbiParams {
    pub seed: u64,
    pub mask: MaskParams,
    /// Hue rotation of the source copy, degrees.
    pub hue_deg: f32,
    /// Saturation factor.
    pub saturation: f32,
    /// Added to every channel (0–1 scale).
    pub brightness: f32,
    /// Contrast factor about mid-grey.
    pub contrast: f32,
    /// Scale of the source copy about the face centre.
    pub scale: f32,
    /// Translation of the source copy, pixels.
    pub shift: [f32; 2],
}

/// Ranges the random parameters are drawn from. `Default` follows the reference's magnitudes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SbiConfig {
    /// Chance of the hull (else the ellipse).
    pub hull_probability: f64,
    pub expand: [f64; 2],
    /// Largest amplitude of each deformation harmonic.
    pub deform_amplitude: f64,
    /// Blur σ as a fraction of the face size (inter-ocular distance).
    pub blur: [f64; 2],
    /// The blend ratio is one of these.
    pub blend_choices: Vec<f64>,
    pub hue_deg: f64,
    pub saturation: [f64; 2],
    pub brightness: f64,
    pub contrast: [f64; 2],
    pub scale: [f64; 2],
    /// Largest translation, as a fraction of the face size.
    pub shift: f64,
}

impl Default for SbiConfig {
    fn default() -> Self {
        SbiConfig {
            hull_probability: 0.5,
            expand: [1.0, 1.2],
            deform_amplitude: 0.06,
            blur: [0.05, 0.15],
            blend_choices: vec![0.25, 0.5, 0.75, 1.0, 1.0, 1.0],
            hue_deg: 10.0,
            saturation: [0.8, 1.2],
            brightness: 0.1,
            contrast: [0.8, 1.2],
            scale: [0.95, 1.05],
            shift: 0.04,
        }
    }
}

impl SbiConfig {
    pub fn validate(&self) -> Result<()> {
        let ok_range = |r: [f64; 2]| r[0].is_finite() && r[1].is_finite() && r[0] <= r[1];
        if !ok_range(self.expand) || self.expand[0] < 0.5 {
            return Err(Error::Config(format!(
                "SBI: expand range must be ordered and ≥ 0.5, not {:?}",
                self.expand
            )));
        }
        if !ok_range(self.blur) || self.blur[0] < 0.0 {
            return Err(Error::Config(format!(
                "SBI: bad blur range {:?}",
                self.blur
            )));
        }
        for (name, r) in [
            ("saturation", self.saturation),
            ("contrast", self.contrast),
            ("scale", self.scale),
        ] {
            if !ok_range(r) || r[0] <= 0.0 {
                return Err(Error::Config(format!(
                    "SBI: {name} range must be ordered and positive, not {r:?}"
                )));
            }
        }
        if self.blend_choices.is_empty()
            || self.blend_choices.iter().any(|b| !(*b > 0.0 && *b <= 1.0))
        {
            return Err(Error::Config(format!(
                "SBI: blend choices must be in (0, 1], not {:?}",
                self.blend_choices
            )));
        }
        if !(0.0..0.5).contains(&self.deform_amplitude) {
            return Err(Error::Config(format!(
                "SBI: deformation amplitude must be in [0, 0.5), not {}",
                self.deform_amplitude
            )));
        }
        Ok(())
    }

    /// Draws one set of parameters for a face of size `face` px (inter-ocular distance).
    pub fn draw(&self, seed: u64, face: f32) -> SbiParams {
        let mut rng = Rng::new(seed);
        let mask = draw_mask(self, &mut rng, face);
        let mut r = |lo: f64, hi: f64| rng.range(lo, hi) as f32;
        let hue_deg = r(-self.hue_deg, self.hue_deg);
        let saturation = r(self.saturation[0], self.saturation[1]);
        let brightness = r(-self.brightness, self.brightness);
        let contrast = r(self.contrast[0], self.contrast[1]);
        let scale = r(self.scale[0], self.scale[1]);
        let s = self.shift * face as f64;
        let shift = [r(-s, s), r(-s, s)];
        SbiParams {
            seed,
            mask,
            hue_deg,
            saturation,
            brightness,
            contrast,
            scale,
            shift,
        }
    }
}

/// Draws mask parameters (shared with face swaps).
pub(crate) fn draw_mask(cfg: &SbiConfig, rng: &mut Rng, face: f32) -> MaskParams {
    let shape = if rng.chance(cfg.hull_probability) {
        MaskShape::Hull
    } else {
        MaskShape::Ellipse
    };
    let expand = rng.range(cfg.expand[0], cfg.expand[1]) as f32;
    let deform = (2..=4)
        .map(|k| Harmonic {
            k,
            amplitude: rng.range(0.0, cfg.deform_amplitude) as f32,
            phase: rng.range(0.0, std::f64::consts::TAU) as f32,
        })
        .collect();
    let blur_sigma = (rng.range(cfg.blur[0], cfg.blur[1]) * face as f64) as f32;
    let blend = cfg.blend_choices[rng.below(cfg.blend_choices.len() as u64) as usize] as f32;
    MaskParams {
        shape,
        expand,
        deform,
        blur_sigma,
        blend,
    }
}

/// A self-blended fake and how it was made.
#[derive(Clone, Debug)]
pub struct SbiSample {
    pub image: RgbImage,
    /// The blending mask actually used (peak = `params.mask.blend`).
    pub mask: Mask,
    /// The fake's landmarks (the original's: the blend keeps the face where it was).
    pub landmarks: [[f32; 2]; 5],
    pub params: SbiParams,
}

/// The face size used to scale the random magnitudes: the inter-ocular distance, or the
/// eyes-to-mouth distance when that is larger (profile views).
pub fn face_size(lm: &[[f32; 2]; 5]) -> f32 {
    let d = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
    let eyes = [(lm[0][0] + lm[1][0]) / 2.0, (lm[0][1] + lm[1][1]) / 2.0];
    let mouth = [(lm[3][0] + lm[4][0]) / 2.0, (lm[3][1] + lm[4][1]) / 2.0];
    d(lm[0], lm[1]).max(d(eyes, mouth))
}

pub(crate) fn check_inputs(img: &RgbImage, lm: &[[f32; 2]; 5], what: &str) -> Result<()> {
    if img.width() < 8 || img.height() < 8 {
        return Err(Error::Other(format!(
            "{what}: the image is too small ({}×{} px)",
            img.width(),
            img.height()
        )));
    }
    if lm.iter().flatten().any(|v| !v.is_finite()) {
        return Err(Error::Other(format!(
            "{what}: landmarks are not finite: {lm:?}"
        )));
    }
    if face_size(lm) < 4.0 {
        return Err(Error::Other(format!(
            "{what}: the landmarks are too close together for a face ({lm:?})"
        )));
    }
    Ok(())
}

/// Makes a self-blended fake from a real face `img` with its 5 landmarks (px of `img`), with
/// parameters drawn from `cfg` and `seed`.
pub fn self_blend(
    img: &RgbImage,
    landmarks: &[[f32; 2]; 5],
    cfg: &SbiConfig,
    seed: u64,
) -> Result<SbiSample> {
    cfg.validate()?;
    check_inputs(img, landmarks, "self-blending")?;
    let params = cfg.draw(seed, face_size(landmarks));
    self_blend_with(img, landmarks, &params)
}

/// Rebuilds a self-blended fake from recorded parameters.
pub fn self_blend_with(
    img: &RgbImage,
    landmarks: &[[f32; 2]; 5],
    params: &SbiParams,
) -> Result<SbiSample> {
    check_inputs(img, landmarks, "self-blending")?;
    let mask = face_mask(img.width(), img.height(), landmarks, &params.mask);
    // The source: colour jitter, then a small scale + shift about the face centre.
    let jittered = colour_jitter(
        img,
        params.hue_deg,
        params.saturation,
        params.brightness,
        params.contrast,
    );
    let c = centroid(landmarks);
    let s = params.scale;
    let warp = Similarity {
        a: s,
        b: 0.0,
        tx: c[0] - s * c[0] + params.shift[0],
        ty: c[1] - s * c[1] + params.shift[1],
    };
    let source = warp_similarity(&jittered, &warp, img.width(), img.height());
    Ok(SbiSample {
        image: blend(&source, img, &mask),
        mask,
        landmarks: *landmarks,
        params: params.clone(),
    })
}

/// `source·m + target·(1 − m)` per pixel; where m is exactly 0 the target pixel is kept as is.
pub fn blend(source: &RgbImage, target: &RgbImage, mask: &Mask) -> RgbImage {
    let mut out = target.clone();
    for ((o, s), &m) in out
        .as_mut()
        .chunks_exact_mut(3)
        .zip(source.as_raw().chunks_exact(3))
        .zip(&mask.data)
    {
        if m <= 0.0 {
            continue;
        }
        for c in 0..3 {
            let v = s[c] as f32 * m + o[c] as f32 * (1.0 - m);
            o[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn centroid(lm: &[[f32; 2]; 5]) -> [f32; 2] {
    let (sx, sy) = lm.iter().fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
    [sx / 5.0, sy / 5.0]
}

/// The face region as a gauge function ρ(p) (ρ ≤ 1 inside, growing linearly outwards from the
/// centre), before deformation.
enum Region {
    /// Convex polygon around `centre`: for each edge, its outward normal n and the distance
    /// d = n·(v − centre) of its line; ρ = max n·(p − centre) / d.
    Hull {
        centre: [f32; 2],
        edges: Vec<([f32; 2], f32)>,
    },
    /// Ellipse with axes `u` (unit) and its normal, semi-axes a, b.
    Ellipse {
        centre: [f32; 2],
        u: [f32; 2],
        a: f32,
        b: f32,
    },
}

impl Region {
    fn from_landmarks(lm: &[[f32; 2]; 5], shape: MaskShape) -> Region {
        let add = |p: [f32; 2], v: [f32; 2], k: f32| [p[0] + k * v[0], p[1] + k * v[1]];
        let eyes = [(lm[0][0] + lm[1][0]) / 2.0, (lm[0][1] + lm[1][1]) / 2.0];
        let mouth = [(lm[3][0] + lm[4][0]) / 2.0, (lm[3][1] + lm[4][1]) / 2.0];
        // h: left eye → right eye; up: mouth → eyes.
        let h = [lm[1][0] - lm[0][0], lm[1][1] - lm[0][1]];
        let up = [eyes[0] - mouth[0], eyes[1] - mouth[1]];
        match shape {
            MaskShape::Hull => {
                let mut pts: Vec<[f32; 2]> = lm.to_vec();
                // Forehead above the eyes, temples beside them, cheeks and chin below the mouth.
                pts.push(add(add(lm[0], up, 0.6), h, -0.2));
                pts.push(add(add(lm[1], up, 0.6), h, 0.2));
                pts.push(add(lm[0], h, -0.35));
                pts.push(add(lm[1], h, 0.35));
                pts.push(add(add(lm[3], up, -0.45), h, -0.1));
                pts.push(add(add(lm[4], up, -0.45), h, 0.1));
                pts.push(add(mouth, up, -0.7));
                let hull = convex_hull(&pts);
                let centre = {
                    let (sx, sy) = hull
                        .iter()
                        .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
                    [sx / hull.len() as f32, sy / hull.len() as f32]
                };
                let mut edges = Vec::new();
                for k in 0..hull.len() {
                    let (p, q) = (hull[k], hull[(k + 1) % hull.len()]);
                    let e = [q[0] - p[0], q[1] - p[1]];
                    let len = e[0].hypot(e[1]);
                    if len <= 1e-6 {
                        continue;
                    }
                    let mut n = [e[1] / len, -e[0] / len];
                    let mut d = n[0] * (p[0] - centre[0]) + n[1] * (p[1] - centre[1]);
                    if d < 0.0 {
                        n = [-n[0], -n[1]];
                        d = -d;
                    }
                    if d > 1e-6 {
                        edges.push((n, d));
                    }
                }
                Region::Hull { centre, edges }
            }
            MaskShape::Ellipse => {
                let len = h[0].hypot(h[1]).max(1e-6);
                let up_len = up[0].hypot(up[1]).max(1e-6);
                let centre = add(add(eyes, up, -0.5), up, 0.1);
                Region::Ellipse {
                    centre,
                    u: [h[0] / len, h[1] / len],
                    a: 0.95 * len.max(0.8 * up_len),
                    b: 1.05 * up_len.max(0.8 * len),
                }
            }
        }
    }

    fn centre(&self) -> [f32; 2] {
        match self {
            Region::Hull { centre, .. } | Region::Ellipse { centre, .. } => *centre,
        }
    }

    fn gauge(&self, p: [f32; 2]) -> f32 {
        match self {
            Region::Hull { centre, edges } => {
                let v = [p[0] - centre[0], p[1] - centre[1]];
                edges
                    .iter()
                    .map(|(n, d)| (n[0] * v[0] + n[1] * v[1]) / d)
                    .fold(0.0, f32::max)
            }
            Region::Ellipse { centre, u, a, b } => {
                let v = [p[0] - centre[0], p[1] - centre[1]];
                let x = v[0] * u[0] + v[1] * u[1];
                let y = -v[0] * u[1] + v[1] * u[0];
                ((x / a).powi(2) + (y / b).powi(2)).sqrt()
            }
        }
    }
}

/// Andrew's monotone chain; returns the hull counter-clockwise (in y-down pixel terms, clockwise
/// on screen), without repeated points.
fn convex_hull(points: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let mut pts = points.to_vec();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let cross = |o: [f32; 2], a: [f32; 2], b: [f32; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[f32; 2]> = Vec::with_capacity(2 * pts.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f32; 2]>> = if pass == 0 {
            Box::new(pts.iter())
        } else {
            Box::new(pts.iter().rev())
        };
        for &p in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0
            {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// The soft face mask of a `width`×`height` image: the region from the landmarks, grown by
/// `expand`, its boundary deformed, filled with 1, Gaussian-blurred, scaled to `blend`.
/// The blur kernel is cut at 3σ, so the mask is exactly 0 beyond 3σ from the region.
pub fn face_mask(width: u32, height: u32, lm: &[[f32; 2]; 5], p: &MaskParams) -> Mask {
    let region = Region::from_landmarks(lm, p.shape);
    let c = region.centre();
    let expand = p.expand.max(1e-3);
    let mut data = vec![0f32; (width * height) as usize];
    for y in 0..height {
        for x in 0..width {
            let q = [x as f32, y as f32];
            let theta = (q[1] - c[1]).atan2(q[0] - c[0]);
            let radius: f32 = 1.0
                + p.deform
                    .iter()
                    .map(|h| h.amplitude * (h.k as f32 * theta + h.phase).cos())
                    .sum::<f32>();
            if region.gauge(q) <= expand * radius {
                data[(y * width + x) as usize] = 1.0;
            }
        }
    }
    let mut mask = Mask {
        width,
        height,
        data,
    };
    gaussian_blur(&mut mask, p.blur_sigma);
    let blend = p.blend.clamp(0.0, 1.0);
    for v in &mut mask.data {
        *v = (*v * blend).clamp(0.0, 1.0);
    }
    mask
}

/// Separable Gaussian blur, kernel cut at 3σ, borders clamped (edge pixels repeat).
pub fn gaussian_blur(mask: &mut Mask, sigma: f32) {
    // Also catches NaN.
    if sigma.is_nan() || sigma <= 0.0 {
        return;
    }
    let r = (3.0 * sigma).ceil() as i64;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    let (w, h) = (mask.width as i64, mask.height as i64);
    let mut tmp = vec![0f32; mask.data.len()];
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let xx = (x + i as i64 - r).clamp(0, w - 1);
                acc += kv * mask.data[(y * w + xx) as usize];
            }
            tmp[(y * w + x) as usize] = acc;
        }
    }
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let yy = (y + i as i64 - r).clamp(0, h - 1);
                acc += kv * tmp[(yy * w + x) as usize];
            }
            // Weights of exactly-zero neighbourhoods sum to exactly 0: the support stays bounded.
            mask.data[(y * w + x) as usize] = acc;
        }
    }
}

/// Hue rotation and saturation scaling in HSV, then brightness (added) and contrast (about 0.5),
/// on a 0–1 scale.
pub fn colour_jitter(
    img: &RgbImage,
    hue_deg: f32,
    saturation: f32,
    brightness: f32,
    contrast: f32,
) -> RgbImage {
    let mut out = img.clone();
    for px in out.as_mut().chunks_exact_mut(3) {
        let rgb = [
            px[0] as f32 / 255.0,
            px[1] as f32 / 255.0,
            px[2] as f32 / 255.0,
        ];
        let (h, s, v) = rgb_to_hsv(rgb);
        let h = (h + hue_deg).rem_euclid(360.0);
        let s = (s * saturation).clamp(0.0, 1.0);
        let rgb = hsv_to_rgb(h, s, v);
        for c in 0..3 {
            let x = (rgb[c] - 0.5) * contrast + 0.5 + brightness;
            px[c] = (x * 255.0).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn rgb_to_hsv([r, g, b]: [f32; 3]) -> (f32, f32, f32) {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let h = if d == 0.0 {
        0.0
    } else if max == r {
        60.0 * ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    let s = if max == 0.0 { 0.0 } else { d / max };
    (h, s, max)
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> [f32; 3] {
    let c = v * s;
    let hp = h / 60.0;
    let x = c * (1.0 - (hp.rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_round_trip() {
        for rgb in [
            [0.2, 0.5, 0.9],
            [1.0, 0.0, 0.0],
            [0.3, 0.3, 0.3],
            [0.9, 0.8, 0.1],
        ] {
            let (h, s, v) = rgb_to_hsv(rgb);
            let back = hsv_to_rgb(h, s, v);
            for c in 0..3 {
                assert!((back[c] - rgb[c]).abs() < 1e-5, "{rgb:?} → {back:?}");
            }
        }
    }

    #[test]
    fn hull_contains_its_points() {
        let pts = [[0.0, 0.0], [4.0, 0.0], [4.0, 3.0], [0.0, 3.0], [2.0, 1.0]];
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4);
        assert!(!hull.contains(&[2.0, 1.0]));
    }
}
