//! Pillow-compatible resampling of 8-bit RGB images: `PIL.Image.resize(size, BICUBIC | BILINEAR)`
//! reproduced to the grey level.
//!
//! CLIP's published preprocessing (`transformers.CLIPImageProcessor`, the slow one GenD was
//! trained and released with) resizes the face crop with Pillow. Pillow's resampler is a
//! separable convolution whose filter support is stretched by the scale factor when shrinking
//! (so downscaling is antialiased), with coefficients normalised per output pixel, converted to
//! 22-bit fixed point and accumulated in integers; the horizontal pass runs first, over only the
//! rows the vertical pass will read, and its 8-bit result feeds the vertical pass — except
//! (Pillow 13, `ImagingResampleInner`) when the height shrinks by more than twice what the width
//! does: then the vertical pass runs first. The pass order changes the intermediate rounding.
//! `image::imageops::resize` accumulates in floats without Pillow's intermediate 8-bit rounding;
//! `fast_image_resize` (the crate the issue pointed at) was not adopted because nothing in its
//! documentation promises Pillow's 22-bit coefficients or pass order, and a 200-line module
//! proven equal to Pillow on the parity corpus is easier to keep exact than a dependency.
//! Proven against Pillow by `tests/preprocess_parity.rs` (max |Δ| ≤ 1 grey level, in practice 0).
use image::RgbImage;

/// The resampling filters CLIP-style preprocessing uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Pillow's `BILINEAR` (triangle, support 1).
    Bilinear,
    /// Pillow's `BICUBIC` (Keys cubic with a = −0.5, support 2).
    Bicubic,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Bicubic => 2.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        let x = x.abs();
        match self {
            Filter::Bilinear => {
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

/// Fixed-point precision of the coefficients (Pillow: 32 − 8 − 2 bits).
const PRECISION_BITS: u32 = 22;

/// Per output sample: the first input index and the fixed-point weights.
struct Coeffs {
    /// (first input index, number of taps) per output sample.
    bounds: Vec<(usize, usize)>,
    /// `ksize` weights per output sample.
    weights: Vec<i32>,
    ksize: usize,
}

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for a full-image box.
fn coeffs(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // Pillow truncates toward zero after adding 0.5 (C `(int)` cast).
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin);
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(n) {
            let w = filter.eval((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let row = &mut weights[xx * ksize..(xx + 1) * ksize];
        for x in 0..n {
            let v = if ww != 0.0 { k[x] / ww } else { k[x] };
            let f = v * (1u32 << PRECISION_BITS) as f64;
            row[x] = if v < 0.0 {
                (-0.5 + f) as i32
            } else {
                (0.5 + f) as i32
            };
        }
        bounds.push((xmin, n));
    }
    Coeffs {
        bounds,
        weights,
        ksize,
    }
}

/// Pillow's `clip8`: the accumulator (with its rounding half already added) shifted down,
/// clamped to 0..=255 (the shift is arithmetic: floor for negative sums).
#[inline]
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Resizes `img` to `width`×`height` exactly as `PIL.Image.resize((width, height), filter)`
/// does for an RGB image. Same size returns a copy; an empty input or output gives an empty
/// (black) image of the requested size.
pub fn resize(img: &RgbImage, width: u32, height: u32, filter: Filter) -> RgbImage {
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (width as usize, height as usize);
    if iw == 0 || ih == 0 || ow == 0 || oh == 0 {
        return RgbImage::new(width, height);
    }
    if (iw, ih) == (ow, oh) {
        return img.clone();
    }
    // Pillow 13: "if height is being scaled down more than twice the amount the width is, run
    // the vertical pass first" (the order changes the intermediate 8-bit rounding).
    let (dh, dw) = (ih as i64 - oh as i64, iw as i64 - ow as i64);
    let vertical_first = dh > 0 && dh > dw * 2;
    if vertical_first {
        let tmp = vertical_pass(img.as_raw(), iw, ih, oh, filter);
        let out = horizontal_pass(&tmp, iw, oh, ow, filter);
        return RgbImage::from_raw(width, height, out).expect("sized buffer");
    }
    if oh == ih {
        let out = horizontal_pass(img.as_raw(), iw, ih, ow, filter);
        return RgbImage::from_raw(width, height, out).expect("sized buffer");
    }
    // Horizontal first, over only the rows the vertical pass will read.
    let vert = coeffs(ih, oh, filter);
    let (y_first, y_last) = (
        vert.bounds[0].0,
        vert.bounds[oh - 1].0 + vert.bounds[oh - 1].1,
    );
    let src = &img.as_raw()[y_first * iw * 3..y_last * iw * 3];
    let tmp = horizontal_pass(src, iw, y_last - y_first, ow, filter);
    let out = apply_vertical(&tmp, ow, &vert, y_first, oh);
    RgbImage::from_raw(width, height, out).expect("sized buffer")
}

/// One horizontal pass (`rows` rows of `iw` pixels → `ow`); a copy when the width stays.
fn horizontal_pass(src: &[u8], iw: usize, rows: usize, ow: usize, filter: Filter) -> Vec<u8> {
    if ow == iw {
        return src[..rows * iw * 3].to_vec();
    }
    let hc = coeffs(iw, ow, filter);
    let mut out = vec![0u8; rows * ow * 3];
    for y in 0..rows {
        for xx in 0..ow {
            let (xmin, n) = hc.bounds[xx];
            let k = &hc.weights[xx * hc.ksize..xx * hc.ksize + n];
            // Taps along the row: pixel xmin + x of row y.
            let px = convolve(src, k, |x| (y * iw + xmin + x) * 3);
            out[(y * ow + xx) * 3..][..3].copy_from_slice(&px);
        }
    }
    out
}

/// One vertical pass over a whole `w`×`ih` image → `w`×`oh`; a copy when the height stays.
fn vertical_pass(src: &[u8], w: usize, ih: usize, oh: usize, filter: Filter) -> Vec<u8> {
    if oh == ih {
        return src.to_vec();
    }
    apply_vertical(src, w, &coeffs(ih, oh, filter), 0, oh)
}

/// The vertical convolution with precomputed coefficients; `src` starts at input row `row0`.
fn apply_vertical(src: &[u8], w: usize, vert: &Coeffs, row0: usize, oh: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * oh * 3];
    for yy in 0..oh {
        let (ymin, n) = vert.bounds[yy];
        let k = &vert.weights[yy * vert.ksize..yy * vert.ksize + n];
        for xx in 0..w {
            // Taps down the column: pixel xx of row ymin + y.
            let px = convolve(src, k, |y| ((ymin + y - row0) * w + xx) * 3);
            out[(yy * w + xx) * 3..][..3].copy_from_slice(&px);
        }
    }
    out
}

/// One output RGB pixel: Σ weight · pixel over the taps (`at(i)` = byte offset of tap i), with
/// Pillow's rounding half and clip.
#[inline]
fn convolve(src: &[u8], k: &[i32], at: impl Fn(usize) -> usize) -> [u8; 3] {
    let half = 1i64 << (PRECISION_BITS - 1);
    let mut s = [half; 3];
    for (i, &w) in k.iter().enumerate() {
        let p = at(i);
        for c in 0..3 {
            s[c] += src[p + c] as i64 * w as i64;
        }
    }
    s.map(clip8)
}

/// CLIP's image preparation before normalisation (`CLIPImageProcessor` with
/// `shortest_edge = size`, `crop_size = size`): the shortest edge resized to `size` with
/// Pillow's bicubic (the longer edge to `⌊size·long/short⌋`), then the central `size`×`size`.
/// Returns the image and the scale/offset that maps input pixel centres to output ones
/// (`out = (in + 0.5)·s − 0.5 − offset`).
pub fn clip_resize_crop(img: &RgbImage, size: u32) -> (RgbImage, f64, (f64, f64)) {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return (RgbImage::new(size, size), 1.0, (0.0, 0.0));
    }
    let short = w.min(h) as u64;
    let long = w.max(h) as u64;
    // transformers' get_resize_output_image_size: int(size * long / short), i.e. floor.
    let new_long = (size as u64 * long / short) as u32;
    let (nw, nh) = if w <= h {
        (size, new_long)
    } else {
        (new_long, size)
    };
    let resized = resize(img, nw, nh, Filter::Bicubic);
    // transformers' center_crop: top = (h − crop) // 2, left = (w − crop) // 2.
    let (top, left) = ((nh.saturating_sub(size)) / 2, (nw.saturating_sub(size)) / 2);
    let out = if (nw, nh) == (size, size) {
        resized
    } else {
        image::imageops::crop_imm(&resized, left, top, size.min(nw), size.min(nh)).to_image()
    };
    let s = nw as f64 / w as f64;
    (out, s, (left as f64, top as f64))
}
