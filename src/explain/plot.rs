//! Minimal raster drawing for the explain outputs: colour maps, heat-map blending, a 5×7 bitmap
//! font and a multi-panel line plot, all into `image::RgbImage`, plus PNG encoding.
//!
//! Written here rather than pulled in (plotters, imageproc, a font crate) because the needs are
//! small and fixed: a report-ready PNG of a few time series with axes, ticks, a legend and spike
//! markers. Lines use Bresenham's algorithm (J. E. Bresenham, "Algorithm for computer control of
//! a digital plotter", IBM Systems Journal 4(1), 1965); tick spacing uses Heckbert's "nice
//! numbers" (P. Heckbert, "Nice numbers for graph labels", Graphics Gems, 1990). The colour maps
//! are the classic MATLAB `jet` (piecewise linear) and an 11-anchor interpolation of
//! matplotlib's perceptually uniform `inferno` (van der Walt & Smith, 2015).
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

// ---------------------------------------------------------------------------------------------
// Text: a 5×7 bitmap font (upper-case letters, digits, common punctuation; lower case is drawn
// in upper case). Each glyph is 7 rows, bit 4 = leftmost column.

const GLYPH_W: u32 = 5;

fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        ' ' => [0; 7],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ',' => [0, 0, 0, 0, 0x0C, 0x04, 0x08],
        '-' | '−' | '–' => [0, 0, 0, 0x1F, 0, 0, 0],
        '+' => [0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        ';' => [0, 0x0C, 0x0C, 0, 0x0C, 0x04, 0x08],
        '/' => [0, 0x01, 0x02, 0x04, 0x08, 0x10, 0],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '[' => [0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E],
        ']' => [0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        '_' => [0, 0, 0, 0, 0, 0, 0x1F],
        '|' => [0x04; 7],
        '<' => [0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02],
        '>' => [0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08],
        '!' => [0x04, 0x04, 0x04, 0x04, 0x04, 0, 0x04],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '*' | '×' => [0, 0x04, 0x15, 0x0E, 0x15, 0x04, 0],
        '\'' => [0x0C, 0x04, 0x08, 0, 0, 0, 0],
        '·' => [0, 0, 0, 0x0C, 0x0C, 0, 0],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04], // '?'
    }
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    let n = text.chars().count() as u32;
    if n == 0 {
        0
    } else {
        (n * (GLYPH_W + 1) - 1) * scale
    }
}

/// Draws `text` with its top-left corner at (x, y); pixels outside the image are skipped.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, colour: [u8; 3], scale: u32) {
    let s = scale.max(1) as i64;
    for (i, c) in text.chars().enumerate() {
        let gx = x + i as i64 * (GLYPH_W as i64 + 1) * s;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH_W as i64 {
                if bits & (0x10 >> col) != 0 {
                    fill_rect(img, gx + col * s, y + row as i64 * s, s, s, colour);
                }
            }
        }
    }
}

/// Fills the `w`×`h` rectangle at (x, y), clipped to the image.
pub fn fill_rect(img: &mut RgbImage, x: i64, y: i64, w: i64, h: i64, colour: [u8; 3]) {
    let (iw, ih) = (img.width() as i64, img.height() as i64);
    for yy in y.max(0)..(y + h).min(ih) {
        for xx in x.max(0)..(x + w).min(iw) {
            img.put_pixel(xx as u32, yy as u32, Rgb(colour));
        }
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, colour: [u8; 3]) {
    if x >= 0 && y >= 0 && x < img.width() as i64 && y < img.height() as i64 {
        img.put_pixel(x as u32, y as u32, Rgb(colour));
    }
}

/// A straight line (Bresenham), `thickness` pixels wide (a square pen).
pub fn draw_line(
    img: &mut RgbImage,
    p: (i64, i64),
    q: (i64, i64),
    colour: [u8; 3],
    thickness: u32,
) {
    let (mut x0, mut y0) = p;
    let (x1, y1) = q;
    let dx = (x1 - x0).abs();
    let dy = -(y1 - y0).abs();
    let sx = if x0 < x1 { 1 } else { -1 };
    let sy = if y0 < y1 { 1 } else { -1 };
    let mut err = dx + dy;
    let t = thickness.max(1) as i64;
    let lo = -(t - 1) / 2;
    loop {
        for oy in lo..lo + t {
            for ox in lo..lo + t {
                put(img, x0 + ox, y0 + oy, colour);
            }
        }
        if x0 == x1 && y0 == y1 {
            break;
        }
        let e2 = 2 * err;
        if e2 >= dy {
            err += dy;
            x0 += sx;
        }
        if e2 <= dx {
            err += dx;
            y0 += sy;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Line plots.

/// One line of a panel. `NaN` y values leave a gap (e.g. the first frame has no drift).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub colour: [u8; 3],
    pub points: Vec<(f64, f64)>,
}

/// A point to mark with a filled square, e.g. a flagged spike or a detected blink.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub colour: [u8; 3],
}

/// One plot area with its own y axis; all panels of a figure share the x axis.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    /// Horizontal reference lines (thresholds, baselines), dashed.
    pub hlines: Vec<(f64, [u8; 3])>,
    /// Vertical shaded spans (x from, x to), e.g. detected blinks.
    pub spans: Vec<(f64, f64, [u8; 3])>,
    /// Fixed y range; `None` fits the data (and the reference lines).
    pub y_range: Option<(f64, f64)>,
}

/// Stacked panels with a shared x axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub width: u32,
    pub panel_height: u32,
    pub title: String,
    pub x_label: String,
    pub panels: Vec<Panel>,
}

const WHITE: [u8; 3] = [255, 255, 255];
const AXIS: [u8; 3] = [60, 60, 60];
const GRID: [u8; 3] = [225, 225, 225];
const TEXT: [u8; 3] = [20, 20, 20];
const MARGIN_LEFT: u32 = 64;
const MARGIN_RIGHT: u32 = 16;
const TITLE_H: u32 = 28;
const PANEL_GAP: u32 = 26;
const X_AXIS_H: u32 = 40;

/// "Nice" tick positions covering lo..hi with about `target` intervals.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let nice = |x: f64, round: bool| {
        let e = x.log10().floor();
        let f = x / 10f64.powf(e);
        let nf = if round {
            if f < 1.5 {
                1.0
            } else if f < 3.0 {
                2.0
            } else if f < 7.0 {
                5.0
            } else {
                10.0
            }
        } else if f <= 1.0 {
            1.0
        } else if f <= 2.0 {
            2.0
        } else if f <= 5.0 {
            5.0
        } else {
            10.0
        };
        nf * 10f64.powf(e)
    };
    let range = nice(hi - lo, false);
    let step = nice(range / target.max(1) as f64, true);
    // Integer multiples of the step, so errors do not accumulate along the axis.
    let (k0, k1) = (
        (lo / step - 1e-9).ceil() as i64,
        (hi / step + 1e-9).floor() as i64,
    );
    (k0..=k1).map(|k| k as f64 * step).collect()
}

/// A tick label with just enough decimals for the tick spacing.
fn tick_label(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    format!("{v:.decimals$}")
}

impl Figure {
    /// Draws the figure. Panels without any finite point still get their axes and a
    /// "no data" note, so a report never silently drops a chart.
    pub fn render(&self) -> RgbImage {
        let n = self.panels.len().max(1) as u32;
        let width = self.width.max(MARGIN_LEFT + MARGIN_RIGHT + 40);
        let ph = self.panel_height.max(60);
        let height = TITLE_H + n * (ph + PANEL_GAP) + X_AXIS_H;
        let mut img = RgbImage::from_pixel(width, height, Rgb(WHITE));
        draw_text(&mut img, MARGIN_LEFT as i64, 8, &self.title, TEXT, 2);

        let all_x: Vec<f64> = self
            .panels
            .iter()
            .flat_map(|p| p.series.iter().flat_map(|s| s.points.iter().map(|pt| pt.0)))
            .filter(|x| x.is_finite())
            .collect();
        let (mut x_lo, mut x_hi) = min_max(&all_x).unwrap_or((0.0, 1.0));
        if x_hi <= x_lo {
            x_lo -= 0.5;
            x_hi += 0.5;
        }
        let plot_w = (width - MARGIN_LEFT - MARGIN_RIGHT) as f64;
        let x_px = |x: f64| MARGIN_LEFT as f64 + (x - x_lo) / (x_hi - x_lo) * plot_w;
        let x_ticks = nice_ticks(x_lo, x_hi, 8);
        let x_step = if x_ticks.len() > 1 {
            x_ticks[1] - x_ticks[0]
        } else {
            1.0
        };

        for (i, panel) in self.panels.iter().enumerate() {
            let top = (TITLE_H + i as u32 * (ph + PANEL_GAP) + PANEL_GAP - 8) as f64;
            let bottom = top + ph as f64;
            let ys: Vec<f64> = panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1))
                .chain(panel.hlines.iter().map(|h| h.0))
                .chain(panel.markers.iter().map(|m| m.y))
                .filter(|y| y.is_finite())
                .collect();
            let (mut y_lo, mut y_hi) = panel.y_range.or_else(|| min_max(&ys)).unwrap_or((0.0, 1.0));
            if y_hi <= y_lo {
                let pad = if y_lo == 0.0 { 1.0 } else { y_lo.abs() * 0.1 };
                y_lo -= pad;
                y_hi += pad;
            } else if panel.y_range.is_none() {
                let pad = (y_hi - y_lo) * 0.05;
                y_lo -= pad;
                y_hi += pad;
            }
            let y_px = |y: f64| bottom - (y - y_lo) / (y_hi - y_lo) * (bottom - top);
            let (l, r) = (MARGIN_LEFT as i64, (width - MARGIN_RIGHT) as i64);

            for &(a, b, colour) in &panel.spans {
                let (xa, xb) = (x_px(a.min(b)).floor() as i64, x_px(a.max(b)).ceil() as i64);
                fill_rect(
                    &mut img,
                    xa.max(l),
                    top as i64,
                    (xb.min(r) - xa.max(l)).max(1),
                    ph as i64,
                    colour,
                );
            }
            let y_ticks = nice_ticks(y_lo, y_hi, 4);
            let y_step = if y_ticks.len() > 1 {
                y_ticks[1] - y_ticks[0]
            } else {
                1.0
            };
            for &t in &y_ticks {
                let y = y_px(t).round() as i64;
                draw_line(&mut img, (l, y), (r, y), GRID, 1);
                draw_line(&mut img, (l - 4, y), (l, y), AXIS, 1);
                let label = tick_label(t, y_step);
                draw_text(
                    &mut img,
                    l - 7 - text_width(&label, 1) as i64,
                    y - 3,
                    &label,
                    TEXT,
                    1,
                );
            }
            for &t in &x_ticks {
                let x = x_px(t).round() as i64;
                draw_line(&mut img, (x, top as i64), (x, bottom as i64), GRID, 1);
            }
            for &(v, colour) in &panel.hlines {
                let y = y_px(v).round() as i64;
                let mut x = l;
                while x < r {
                    draw_line(&mut img, (x, y), ((x + 5).min(r), y), colour, 1);
                    x += 9;
                }
            }
            // Axes box.
            draw_line(&mut img, (l, top as i64), (l, bottom as i64), AXIS, 1);
            draw_line(&mut img, (l, bottom as i64), (r, bottom as i64), AXIS, 1);
            draw_text(&mut img, l, top as i64 - 11, &panel.title, TEXT, 1);

            let mut any = false;
            for s in &panel.series {
                let mut prev: Option<(i64, i64)> = None;
                for &(x, y) in &s.points {
                    if !(x.is_finite() && y.is_finite()) {
                        prev = None;
                        continue;
                    }
                    any = true;
                    let p = (x_px(x).round() as i64, y_px(y).round() as i64);
                    match prev {
                        Some(q) => draw_line(&mut img, q, p, s.colour, 2),
                        None => fill_rect(&mut img, p.0 - 1, p.1 - 1, 2, 2, s.colour),
                    }
                    prev = Some(p);
                }
            }
            for m in &panel.markers {
                if m.x.is_finite() && m.y.is_finite() {
                    let (x, y) = (x_px(m.x).round() as i64, y_px(m.y).round() as i64);
                    fill_rect(&mut img, x - 3, y - 3, 7, 7, m.colour);
                }
            }
            if !any {
                draw_text(
                    &mut img,
                    l + 8,
                    (top + bottom) as i64 / 2 - 3,
                    "no data",
                    AXIS,
                    1,
                );
            }
            // Legend, right-aligned above the panel.
            let mut lx = r;
            for s in panel.series.iter().rev() {
                let w = text_width(&s.label, 1) as i64;
                lx -= w;
                draw_text(&mut img, lx, top as i64 - 11, &s.label, TEXT, 1);
                lx -= 16;
                fill_rect(&mut img, lx, top as i64 - 9, 12, 3, s.colour);
                lx -= 10;
            }
            if i + 1 == self.panels.len() {
                for &t in &x_ticks {
                    let x = x_px(t).round() as i64;
                    draw_line(
                        &mut img,
                        (x, bottom as i64),
                        (x, bottom as i64 + 4),
                        AXIS,
                        1,
                    );
                    let label = tick_label(t, x_step);
                    draw_text(
                        &mut img,
                        x - text_width(&label, 1) as i64 / 2,
                        bottom as i64 + 8,
                        &label,
                        TEXT,
                        1,
                    );
                }
                let xl = text_width(&self.x_label, 1) as i64;
                draw_text(
                    &mut img,
                    (l + r) / 2 - xl / 2,
                    bottom as i64 + 22,
                    &self.x_label,
                    TEXT,
                    1,
                );
            }
        }
        img
    }
}

fn min_max(v: &[f64]) -> Option<(f64, f64)> {
    let mut it = v.iter().copied().filter(|x| x.is_finite());
    let first = it.next()?;
    Some(it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x))))
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

    #[test]
    fn ticks_are_nice() {
        let labels = |t: Vec<f64>, step| t.iter().map(|&v| tick_label(v, step)).collect::<Vec<_>>();
        assert_eq!(
            labels(nice_ticks(0.0, 1.0, 4), 0.2),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(nice_ticks(3.0, 97.0, 5), vec![20.0, 40.0, 60.0, 80.0]);
        assert_eq!(
            labels(nice_ticks(-0.3, 0.25, 5), 0.2),
            ["-0.2", "0.0", "0.2"]
        );
        assert_eq!(tick_label(0.25, 0.05), "0.25");
        assert_eq!(tick_label(40.0, 20.0), "40");
    }

    #[test]
    fn text_draws_inside_its_box() {
        let mut img = RgbImage::from_pixel(40, 10, Rgb(WHITE));
        draw_text(&mut img, 1, 1, "A1", [0, 0, 0], 1);
        let dark: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|p| p.2 .0 == [0, 0, 0])
            .map(|p| (p.0, p.1))
            .collect();
        assert!(!dark.is_empty());
        assert!(dark
            .iter()
            .all(|&(x, y)| (1..1 + text_width("A1", 1)).contains(&x) && (1..8).contains(&y)));
    }
}
