//! Classic image-forensic views of a face crop or frame, each an image plus one line telling the
//! analyst what to look for. They need no model, so they are available for every case.
//!
//! - **Noise residual**: the image minus its 3×3 median (a denoiser), amplified — the
//!   camera-noise view used since J. Fridrich's PRNU work (Lukáš, Fridrich, Goljan, "Digital
//!   camera identification from sensor pattern noise", IEEE TIFS 2006); synthesised or pasted
//!   faces often carry different noise from the rest of the picture.
//! - **Spectrum**: the centred log-magnitude 2-D Fourier spectrum (Hann-windowed). Up-sampling
//!   layers of GANs leave periodic peaks and grids there (X. Zhang, S. Karaman, S.-F. Chang,
//!   "Detecting and Simulating Artifacts in GAN Fake Images", WIFS 2019; R. Durall et al.,
//!   "Watch your Up-Convolution", CVPR 2020).
//! - **Error-level analysis**: re-save as JPEG at quality 90 and amplify the difference
//!   (N. Krawetz, "A Picture's Worth…", Black Hat 2007): regions compressed a different number of
//!   times or at another quality than the rest respond differently.
//! - **Blending boundary**: the gradient of the local high-frequency energy (log of the
//!   windowed Laplacian energy): a face blended into a frame leaves a seam where the fine texture
//!   changes abruptly — the cue Face X-ray learns (L. Li et al., "Face X-ray for More General
//!   Face Forgery Detection", CVPR 2020), computed here without a network.
use image::RgbImage;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use super::heat::{Colormap, Heatmap};
use crate::{Error, Result};

/// Which forensic view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    NoiseResidual,
    Spectrum,
    ErrorLevel,
    BlendingBoundary,
}

impl ArtifactKind {
    /// Short stable key (file names, UI ids).
    pub fn key(self) -> &'static str {
        match self {
            ArtifactKind::NoiseResidual => "noise",
            ArtifactKind::Spectrum => "spectrum",
            ArtifactKind::ErrorLevel => "ela",
            ArtifactKind::BlendingBoundary => "boundary",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ArtifactKind::NoiseResidual => "Noise residual",
            ArtifactKind::Spectrum => "Frequency spectrum",
            ArtifactKind::ErrorLevel => "Error-level analysis",
            ArtifactKind::BlendingBoundary => "Blending boundary",
        }
    }
}

/// One forensic view: what to show and how to read it.
#[derive(Clone, Debug)]
pub struct ArtifactMap {
    pub kind: ArtifactKind,
    pub image: RgbImage,
    /// One line for the analyst, with the view's key number.
    pub explanation: String,
    /// The view's summary number (see each function), for sorting and the report.
    pub measure: f64,
}

/// Amplification of the noise residual (|residual| × 8: a ±8 grey-level residual → 64).
pub const NOISE_GAIN: f32 = 8.0;
/// Bounds of the error-level amplification: at least ×10 (a 5-level difference → 50), at most
/// ×50 (so a re-save that changes almost nothing does not turn ±1 rounding into glare).
pub const ELA_GAIN_MIN: f32 = 10.0;
pub const ELA_GAIN_MAX: f32 = 50.0;
/// JPEG quality of the error-level re-save (FotoForensics' default too).
pub const ELA_QUALITY: u8 = 90;
/// Largest side fed to the FFT; larger inputs are centre-cropped (not resized, which would
/// blur away the high-frequency peaks the view is for).
pub const SPECTRUM_MAX_SIDE: u32 = 512;

fn check_size(img: &RgbImage, what: &str, min: u32) -> Result<()> {
    if img.width() < min || img.height() < min {
        return Err(Error::Unsupported(format!(
            "{what} needs an image of at least {min}×{min} px, got {}×{}",
            img.width(),
            img.height()
        )));
    }
    Ok(())
}

/// ITU-R BT.601 luma, 0..255, row-major.
fn luma(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect()
}

/// Clamped-border access into a row-major plane.
fn at(plane: &[f32], w: usize, h: usize, x: i64, y: i64) -> f32 {
    let x = x.clamp(0, w as i64 - 1) as usize;
    let y = y.clamp(0, h as i64 - 1) as usize;
    plane[y * w + x]
}

/// Mean over the (2r+1)² window (clamped border), through a summed-area table.
fn box_mean(plane: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut sat = vec![0f64; (w + 1) * (h + 1)];
    for y in 0..h {
        let mut row = 0f64;
        for x in 0..w {
            row += plane[y * w + x] as f64;
            sat[(y + 1) * (w + 1) + x + 1] = sat[y * (w + 1) + x + 1] + row;
        }
    }
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let s = sat[y1 * (w + 1) + x1] - sat[y0 * (w + 1) + x1] - sat[y1 * (w + 1) + x0]
                + sat[y0 * (w + 1) + x0];
            out[y * w + x] = (s / ((y1 - y0) * (x1 - x0)) as f64) as f32;
        }
    }
    out
}

/// The value at quantile `q` (0..1) of the finite values.
fn quantile(values: &[f32], q: f64) -> f32 {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (_, kth, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    *kth
}

// ---------------------------------------------------------------------------------------------

/// Noise residual: |image − median3×3(image)| per colour channel × [`NOISE_GAIN`]. `measure` is
/// the RMS residual in grey levels.
pub fn noise_residual(img: &RgbImage) -> Result<ArtifactMap> {
    check_size(img, "the noise residual", 3)?;
    let (w, h) = (img.width() as i64, img.height() as i64);
    let raw = img.as_raw();
    let mut out = RgbImage::new(img.width(), img.height());
    let mut sum_sq = 0f64;
    let mut window = [0u8; 9];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut k = 0;
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        let (xx, yy) = ((x + dx).clamp(0, w - 1), (y + dy).clamp(0, h - 1));
                        window[k] = raw[((yy * w + xx) * 3) as usize + c];
                        k += 1;
                    }
                }
                window.sort_unstable();
                let v = raw[((y * w + x) * 3) as usize + c] as f32;
                let r = v - window[4] as f32;
                sum_sq += (r * r) as f64;
                out.get_pixel_mut(x as u32, y as u32)[c] =
                    (r.abs() * NOISE_GAIN).round().min(255.0) as u8;
            }
        }
    }
    let rms = (sum_sq / (w * h * 3) as f64).sqrt();
    Ok(ArtifactMap {
        kind: ArtifactKind::NoiseResidual,
        image: out,
        explanation: format!(
            "Noise residual (image minus its 3×3 median, ×{NOISE_GAIN}): camera noise should look \
             even across the picture; a face smoother or noisier than its surroundings, or a seam \
             in the noise, hints at synthesis or pasting (RMS residual {rms:.1} grey levels)."
        ),
        measure: rms,
    })
}

/// The centred log-magnitude spectrum of an image's luma.
#[derive(Clone, Debug, PartialEq)]
pub struct LogSpectrum {
    /// `ln(1 + |F|)`, zero frequency at (width/2, height/2).
    pub log_magnitude: Heatmap,
    /// `log_magnitude` minus the median over its ring (same radius in cycles per pixel): how
    /// much a frequency stands out from the smooth fall-off of natural images.
    pub prominence: Heatmap,
}

/// The most prominent off-centre frequency of a spectrum.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpectrumPeak {
    /// Position in the spectrum image.
    pub x: u32,
    pub y: u32,
    /// Frequency in cycles per pixel (signed; x to the right, y down).
    pub fx: f64,
    pub fy: f64,
    /// Period of the pattern, px (1 / |f|).
    pub period_px: f64,
    /// How many times stronger than the median of its ring (exp of the prominence).
    pub ratio: f64,
}

/// Hann-windowed 2-D FFT of the (centre-cropped to ≤ [`SPECTRUM_MAX_SIDE`]) luma, through
/// libtorch's `fft2` on the CPU.
pub fn log_spectrum(img: &RgbImage) -> Result<LogSpectrum> {
    check_size(img, "the spectrum", 8)?;
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    let (w, h) = (
        w0.min(SPECTRUM_MAX_SIDE as usize),
        h0.min(SPECTRUM_MAX_SIDE as usize),
    );
    let (ox, oy) = ((w0 - w) / 2, (h0 - h) / 2);
    let full = luma(img);
    let mut plane = vec![0f32; w * h];
    for y in 0..h {
        plane[y * w..(y + 1) * w]
            .copy_from_slice(&full[(y + oy) * w0 + ox..(y + oy) * w0 + ox + w]);
    }
    // Remove the mean (else the DC term dwarfs the rest) and taper the borders with a Hann
    // window (else the image edges' discontinuity draws bright cross-hairs through the centre).
    let mean = plane.iter().map(|&v| v as f64).sum::<f64>() / plane.len() as f64;
    let hann =
        |i: usize, n: usize| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
    for y in 0..h {
        for x in 0..w {
            let v = &mut plane[y * w + x];
            *v = ((*v as f64 - mean) * hann(x, w) * hann(y, h)) as f32;
        }
    }
    let t = Tensor::from_slice(&plane).view([h as i64, w as i64]);
    let mag = t
        .f_fft_fft2(None::<&[i64]>, [-2i64, -1], "backward")?
        .abs()
        .f_fft_fftshift(Some(&[-2i64, -1][..]))?
        .log1p()
        .to_kind(Kind::Float)
        .contiguous();
    let data = Vec::<f32>::try_from(mag.flatten(0, -1))?;
    let log_magnitude = Heatmap::new(w as u32, h as u32, data)?;

    // Ring medians, rings one FFT bin wide in normalised frequency.
    let bins = w.max(h) / 2 + 2;
    let radius_bin = |x: usize, y: usize| {
        let fx = (x as f64 - (w / 2) as f64) / w as f64;
        let fy = (y as f64 - (h / 2) as f64) / h as f64;
        (((fx * fx + fy * fy).sqrt() * w.max(h) as f64).round() as usize).min(bins - 1)
    };
    let mut rings: Vec<Vec<f32>> = vec![Vec::new(); bins];
    for y in 0..h {
        for x in 0..w {
            rings[radius_bin(x, y)].push(log_magnitude.data[y * w + x]);
        }
    }
    let medians: Vec<f32> = rings.iter().map(|r| quantile(r, 0.5)).collect();
    let prominence = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| log_magnitude.data[y * w + x] - medians[radius_bin(x, y)])
        .collect();
    Ok(LogSpectrum {
        prominence: Heatmap::new(w as u32, h as u32, prominence)?,
        log_magnitude,
    })
}

impl LogSpectrum {
    /// The most prominent frequency at least `min_cycles_per_px` from the centre (0.05 skips the
    /// low frequencies where all images are bright).
    pub fn peak(&self, min_cycles_per_px: f64) -> SpectrumPeak {
        let (w, h) = (
            self.prominence.width as usize,
            self.prominence.height as usize,
        );
        let mut best = (0usize, 0usize, f32::NEG_INFINITY, 0.0, 0.0);
        for y in 0..h {
            for x in 0..w {
                let fx = (x as f64 - (w / 2) as f64) / w as f64;
                let fy = (y as f64 - (h / 2) as f64) / h as f64;
                let v = self.prominence.data[y * w + x];
                if fx.hypot(fy) >= min_cycles_per_px && v > best.2 {
                    best = (x, y, v, fx, fy);
                }
            }
        }
        let (x, y, v, fx, fy) = best;
        SpectrumPeak {
            x: x as u32,
            y: y as u32,
            fx,
            fy,
            period_px: 1.0 / fx.hypot(fy).max(1e-12),
            ratio: (v as f64).exp(),
        }
    }
}

/// A frequency this many times above its ring's median is shown white in the spectrum view.
pub const SPECTRUM_WHITE_RATIO: f64 = 50.0;

/// Whitened spectrum view (inferno): each frequency's log magnitude over the median of its ring,
/// so the smooth fall-off common to all photos becomes an even dark background and periodic
/// peaks stand out (white at [`SPECTRUM_WHITE_RATIO`]× the ring median). `measure` = the
/// strongest off-centre peak's ratio to its ring median.
pub fn spectrum(img: &RgbImage) -> Result<ArtifactMap> {
    let s = log_spectrum(img)?;
    let peak = s.peak(0.05);
    let top = SPECTRUM_WHITE_RATIO.ln() as f32;
    let shown = Heatmap {
        data: s.prominence.data.iter().map(|v| v / top).collect(),
        ..s.prominence
    };
    let direction = if peak.fy.abs() < 0.5 / shown.height as f64 {
        "along x"
    } else if peak.fx.abs() < 0.5 / shown.width as f64 {
        "along y"
    } else {
        "diagonal"
    };
    Ok(ArtifactMap {
        kind: ArtifactKind::Spectrum,
        image: shown.colourise(Colormap::Inferno),
        explanation: format!(
            "Frequency spectrum, whitened (each frequency against the median at its distance from \
             the centre, low frequencies in the middle): GAN and diffusion up-sampling leave \
             isolated bright dots or a regular grid, natural photos look like even dim noise with \
             a brighter cross on the axes; strongest off-centre peak: period {:.1} px {direction}, \
             {:.1}× its ring's median.",
            peak.period_px, peak.ratio
        ),
        measure: peak.ratio,
    })
}

/// The image after one JPEG round trip at `quality` (1..=100) with the `image` crate's encoder.
pub fn jpeg_round_trip(img: &RgbImage, quality: u8) -> Result<RgbImage> {
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100))
        .encode_image(img)
        .map_err(|e| Error::Other(format!("JPEG re-encoding failed: {e}")))?;
    Ok(
        image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
            .map_err(|e| Error::Other(format!("JPEG re-decoding failed: {e}")))?
            .to_rgb8(),
    )
}

/// Error-level analysis at `quality` (use [`ELA_QUALITY`]): |image − JPEG(image)| per channel,
/// amplified so the 99.9th percentile of the difference is near white (gain between
/// [`ELA_GAIN_MIN`] and [`ELA_GAIN_MAX`], stated in the explanation): the structure matters
/// more than the absolute level, which `measure` (mean absolute difference, grey levels) keeps.
pub fn error_level(img: &RgbImage, quality: u8) -> Result<ArtifactMap> {
    check_size(img, "error-level analysis", 8)?;
    let resaved = jpeg_round_trip(img, quality)?;
    let diff: Vec<f32> = img
        .as_raw()
        .iter()
        .zip(resaved.as_raw())
        .map(|(&a, &b)| (a as f32 - b as f32).abs())
        .collect();
    let mean = diff.iter().map(|&d| d as f64).sum::<f64>() / diff.len() as f64;
    let gain = (255.0 / quantile(&diff, 0.999).max(1e-3)).clamp(ELA_GAIN_MIN, ELA_GAIN_MAX);
    let raw: Vec<u8> = diff
        .iter()
        .map(|d| (d * gain).round().min(255.0) as u8)
        .collect();
    let out = RgbImage::from_raw(img.width(), img.height(), raw)
        .ok_or_else(|| Error::Other("error-level image has the wrong size".into()))?;
    Ok(ArtifactMap {
        kind: ArtifactKind::ErrorLevel,
        image: out,
        explanation: format!(
            "Error-level analysis (re-saved as JPEG q={quality}, difference ×{gain:.0}): a region \
             that changes much more (or less) than similar texture elsewhere was compressed \
             differently, e.g. pasted or retouched; bright edges alone are normal, and the view \
             means little unless the file is a JPEG (mean error {mean:.2} grey levels)."
        ),
        measure: mean,
    })
}

/// The raw blending-boundary response: Sobel magnitude of ln(1 + local Laplacian energy),
/// lightly smoothed. High where the fine-texture level changes abruptly.
pub fn boundary_response(img: &RgbImage) -> Result<Heatmap> {
    check_size(img, "the blending-boundary map", 8)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let g = luma(img);
    let mut lap2 = vec![0f32; w * h];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let l = 4.0 * at(&g, w, h, x, y)
                - at(&g, w, h, x - 1, y)
                - at(&g, w, h, x + 1, y)
                - at(&g, w, h, x, y - 1)
                - at(&g, w, h, x, y + 1);
            lap2[y as usize * w + x as usize] = l * l;
        }
    }
    // Window of 7×7: wide enough for a stable energy estimate, narrow enough to place the seam.
    let energy: Vec<f32> = box_mean(&lap2, w, h, 3)
        .into_iter()
        .map(|e| e.ln_1p())
        .collect();
    let mut grad = vec![0f32; w * h];
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let e = |dx: i64, dy: i64| at(&energy, w, h, x + dx, y + dy);
            let gx = (e(1, -1) + 2.0 * e(1, 0) + e(1, 1)) - (e(-1, -1) + 2.0 * e(-1, 0) + e(-1, 1));
            let gy = (e(-1, 1) + 2.0 * e(0, 1) + e(1, 1)) - (e(-1, -1) + 2.0 * e(0, -1) + e(1, -1));
            grad[y as usize * w + x as usize] = gx.hypot(gy) / 8.0;
        }
    }
    Heatmap::new(w as u32, h as u32, box_mean(&grad, w, h, 1))
}

/// Normalised elliptical radius of (x, y) for the ellipse inscribed in `bbox` (1 on the ellipse).
fn ellipse_radius(bbox: &[f32; 4], x: f32, y: f32) -> f32 {
    let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
    let (ax, ay) = (
        ((bbox[2] - bbox[0]) / 2.0).max(1.0),
        ((bbox[3] - bbox[1]) / 2.0).max(1.0),
    );
    ((x - cx) / ax).hypot((y - cy) / ay)
}

/// Blending-boundary view (inferno). With a face box (x1, y1, x2, y2 in this image's pixels),
/// `measure` is the mean response on the ring around the face (the inscribed ellipse ±20 %)
/// divided by the mean elsewhere — a pasted face's seam makes it large; without a box it is the
/// 99th percentile over the median.
pub fn blending_boundary(img: &RgbImage, face: Option<[f32; 4]>) -> Result<ArtifactMap> {
    let resp = boundary_response(img)?;
    let hi = quantile(&resp.data, 0.995).max(1e-6);
    let shown = Heatmap {
        data: resp.data.iter().map(|v| v / hi).collect(),
        ..resp.clone()
    };
    let valid_box = face.filter(|b| b.iter().all(|v| v.is_finite()) && b[2] > b[0] && b[3] > b[1]);
    let (measure, finding) = match valid_box {
        Some(b) => {
            let on_ring =
                |x: u32, y: u32| (ellipse_radius(&b, x as f32, y as f32) - 1.0).abs() <= 0.2;
            let ring = resp.mean_where(on_ring);
            let rest = resp.mean_where(|x, y| !on_ring(x, y));
            let ratio = if rest > 0.0 { ring / rest } else { 0.0 };
            (
                ratio,
                format!("{ratio:.1}× stronger on the ring around the face than elsewhere"),
            )
        }
        None => {
            let ratio = hi as f64 / (quantile(&resp.data, 0.5) as f64).max(1e-6);
            (ratio, format!("strongest seams {ratio:.1}× the median"))
        }
    };
    Ok(ArtifactMap {
        kind: ArtifactKind::BlendingBoundary,
        image: shown.colourise(Colormap::Inferno),
        explanation: format!(
            "Blending boundary (where the fine-texture level jumps, after Face X-ray): a pasted face \
             leaves a bright seam, often an oval around the face; lines along real edges (hair, \
             glasses, jaw) are expected — {finding}."
        ),
        measure,
    })
}

/// All four views of one image (`face`: the face box in this image's pixels, if known).
pub fn all(img: &RgbImage, face: Option<[f32; 4]>) -> Result<Vec<ArtifactMap>> {
    Ok(vec![
        noise_residual(img)?,
        spectrum(img)?,
        error_level(img, ELA_QUALITY)?,
        blending_boundary(img, face)?,
    ])
}
