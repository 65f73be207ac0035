//! Heat-maps for the explain outputs: scalar fields, colour maps, blending over an image, and PNG
//! encoding, all on `image::RgbImage`. (Line charts are not drawn here: the temporal and blink
//! series are stored as numbers, [`super::chart::Chart`], and drawn by the app and the report.)
//!
//! The colour maps are the classic MATLAB `jet` (piecewise linear) and an 11-anchor
//! interpolation of matplotlib's perceptually uniform `inferno` (van der Walt & Smith, 2015).
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How a scalar in 0..1 becomes a colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colormap {
    /// Blue → cyan → yellow → red: the map most Grad-CAM figures use, so analysts know it.
    #[default]
    Jet,
    /// Black → purple → orange → pale yellow: monotone in lightness, so it also reads in greyscale
    /// print; used for spectra and boundary maps.
    Inferno,
}

/// matplotlib `inferno` sampled at 0, 0.1, …, 1 (the palette's published 11-step hex values).
const INFERNO: [[u8; 3]; 11] = [
    [0x00, 0x00, 0x04],
    [0x16, 0x0b, 0x39],
    [0x42, 0x0a, 0x68],
    [0x6a, 0x17, 0x6e],
    [0x93, 0x26, 0x67],
    [0xbc, 0x37, 0x54],
    [0xdd, 0x51, 0x3a],
    [0xf3, 0x78, 0x19],
    [0xfc, 0xa5, 0x0a],
    [0xf6, 0xd7, 0x46],
    [0xfc, 0xff, 0xa4],
];

impl Colormap {
    /// The colour of `v` (clamped to 0..1; NaN counts as 0).
    pub fn colour(self, v: f32) -> [u8; 3] {
        let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        match self {
            Colormap::Jet => {
                // Each channel is a trapezoid over 0..1, peaking at 0.75 (r), 0.5 (g), 0.25 (b).
                let ch = |centre: f32| {
                    ((1.5 - (4.0 * v - 4.0 * centre).abs()).clamp(0.0, 1.0) * 255.0).round() as u8
                };
                [ch(0.75), ch(0.5), ch(0.25)]
            }
            Colormap::Inferno => {
                let x = v * 10.0;
                let i = (x.floor() as usize).min(9);
                let f = x - i as f32;
                let (a, b) = (INFERNO[i], INFERNO[i + 1]);
                let mix = |c: usize| (a[c] as f32 + (b[c] as f32 - a[c] as f32) * f).round() as u8;
                [mix(0), mix(1), mix(2)]
            }
        }
    }
}

/// A 2-D scalar field, row-major, `data.len() == width * height`: heat-maps (0..1) and the raw
/// measurements behind the artifact views.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heatmap {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl Heatmap {
    pub fn new(width: u32, height: u32, data: Vec<f32>) -> Result<Self> {
        if data.len() != width as usize * height as usize {
            return Err(Error::Other(format!(
                "heat-map of {width}×{height} needs {} values, got {}",
                width as usize * height as usize,
                data.len()
            )));
        }
        Ok(Heatmap {
            width,
            height,
            data,
        })
    }

    pub fn zeros(width: u32, height: u32) -> Self {
        Heatmap {
            width,
            height,
            data: vec![0.0; width as usize * height as usize],
        }
    }

    pub fn get(&self, x: u32, y: u32) -> f32 {
        self.data[y as usize * self.width as usize + x as usize]
    }

    /// Bilinear sample at a continuous position (pixel centres at integer coordinates, as
    /// OpenCV's `warpAffine`), or `None` outside the map.
    pub fn sample(&self, x: f32, y: f32) -> Option<f32> {
        let (w, h) = (self.width as f32, self.height as f32);
        if !(x > -0.5 && y > -0.5 && x < w - 0.5 && y < h - 0.5) {
            return None;
        }
        let x = x.clamp(0.0, w - 1.0);
        let y = y.clamp(0.0, h - 1.0);
        let (x0, y0) = (x.floor() as u32, y.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let top = self.get(x0, y0) * (1.0 - fx) + self.get(x1, y0) * fx;
        let bottom = self.get(x0, y1) * (1.0 - fx) + self.get(x1, y1) * fx;
        Some(top * (1.0 - fy) + bottom * fy)
    }

    /// Position (x, y) of the largest value (first one in row-major order on ties).
    pub fn argmax(&self) -> (u32, u32) {
        let mut best = (0usize, f32::NEG_INFINITY);
        for (i, &v) in self.data.iter().enumerate() {
            if v > best.1 {
                best = (i, v);
            }
        }
        let w = self.width.max(1) as usize;
        ((best.0 % w) as u32, (best.0 / w) as u32)
    }

    /// Mean over the pixels for which `keep(x, y)` holds (NaN when none does).
    pub fn mean_where(&self, keep: impl Fn(u32, u32) -> bool) -> f64 {
        let (mut sum, mut n) = (0.0f64, 0usize);
        for y in 0..self.height {
            for x in 0..self.width {
                if keep(x, y) {
                    sum += self.get(x, y) as f64;
                    n += 1;
                }
            }
        }
        sum / n as f64
    }

    /// Rescaled to 0..1 by its own minimum and maximum (pytorch-grad-cam's `scale_cam_image`);
    /// a constant map becomes all zeros.
    pub fn normalised(&self) -> Heatmap {
        let (lo, hi) = self
            .data
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let span = hi - lo;
        let data = self
            .data
            .iter()
            .map(|&v| {
                if span > 0.0 && v.is_finite() {
                    (v - lo) / span
                } else {
                    0.0
                }
            })
            .collect();
        Heatmap { data, ..*self }
    }

    /// The map as a colour image.
    pub fn colourise(&self, cmap: Colormap) -> RgbImage {
        RgbImage::from_fn(self.width, self.height, |x, y| {
            Rgb(cmap.colour(self.get(x, y)))
        })
    }
}

/// `base` with `heat` (same size, values 0..1) blended over it: colour = (1 − a)·base + a·cmap(h)
/// with a = `opacity` × `coverage` (where the heat-map is defined: 1 inside the face crop, 0
/// outside, fractional on its border so the overlay's edge is not jagged). pytorch-grad-cam's
/// `show_cam_on_image` is the same blend with a constant `a`.
pub fn blend_heatmap(
    base: &RgbImage,
    heat: &Heatmap,
    coverage: Option<&Heatmap>,
    opacity: f32,
    cmap: Colormap,
) -> Result<RgbImage> {
    if (heat.width, heat.height) != base.dimensions()
        || coverage.is_some_and(|c| (c.width, c.height) != base.dimensions())
    {
        return Err(Error::Other(format!(
            "overlay of a {}×{} heat-map on a {}×{} image: sizes must match",
            heat.width,
            heat.height,
            base.width(),
            base.height()
        )));
    }
    let opacity = opacity.clamp(0.0, 1.0);
    let mut out = base.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let a = opacity * coverage.map_or(1.0, |c| c.get(x, y).clamp(0.0, 1.0));
        if a <= 0.0 {
            continue;
        }
        let c = cmap.colour(heat.get(x, y));
        for k in 0..3 {
            px[k] = ((1.0 - a) * px[k] as f32 + a * c[k] as f32).round() as u8;
        }
    }
    Ok(out)
}

/// PNG bytes of an RGB image.
pub fn encode_png(img: &RgbImage) -> Result<Vec<u8>> {
    let mut buf = std::io::Cursor::new(Vec::new());
    img.write_to(&mut buf, image::ImageFormat::Png)
        .map_err(|e| Error::Other(format!("cannot encode PNG: {e}")))?;
    Ok(buf.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colormaps_hit_their_ends() {
        assert_eq!(Colormap::Jet.colour(0.0), [0, 0, 128]);
        assert_eq!(Colormap::Jet.colour(1.0), [128, 0, 0]);
        assert_eq!(Colormap::Jet.colour(0.5), [128, 255, 128]);
        assert_eq!(Colormap::Inferno.colour(0.0), [0, 0, 4]);
        assert_eq!(Colormap::Inferno.colour(1.0), [0xfc, 0xff, 0xa4]);
        assert_eq!(Colormap::Inferno.colour(f32::NAN), [0, 0, 4]);
    }
}
