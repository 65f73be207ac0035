//! JPEG quantisation tables and the double-compression indicator.
//!
//! **Tables.** Every DQT table before the first scan is read (ids 0–3). The luminance table
//! (id 0) gets the project's IJG quality estimate (`media::jpeg_quality`: nearest IJG-scaled
//! Annex K table, with its fit error); the chrominance table (id 1) is fitted the same way to
//! the IJG-scaled Annex K chrominance table. An IJG-style encoder (libjpeg, Pillow, OpenCV,
//! FFmpeg, the `image` crate) writes both from one quality, so the two estimates agree and both
//! fit errors are 0; a camera or an editor with its own tables shows a fit error, and
//! `luma/chroma quality` far from 1 means the two tables were not scaled together.
//!
//! **Double compression.** Tables describe only the *last* save. What the last save did to a
//! picture that was already JPEG-compressed is visible in its DCT coefficients: decoding, taking
//! the 8×8 DCT of the luma plane on the JPEG block grid and dividing each coefficient by the
//! file's quantiser gives near-integers k; when an earlier save used a *coarser* quantiser q1
//! than the last one (q2), only values near multiples of q1/q2 occur, so the histogram of |k|
//! has periodic empty bins (double quantisation, Lukáš & Fridrich 2003; Popescu & Farid 2004).
//! We measure, over the first [`DQ_POSITIONS`] AC positions in zig-zag order, the mean "gap
//! depth" of the histogram in log counts: for each bin k ≥ 1, the rim r = the smaller of the
//! fullest bin within [`DQ_WINDOW`] bins on its left and on its right; where r holds at least
//! [`DQ_MIN_NEIGHBOUR`] blocks, `max(0, ln(r+1) − ln(h[k]+1))`. With a last step of 1 (quality
//! ≥ 95) the gaps are several bins wide, hence the window rather than the two neighbours; on a
//! histogram that only falls away from 0 the rim is the next bin and the depth is 0.
//! On the astronaut test picture (tests/provenance_metadata.rs) single saves at q60–98 score
//! 0.03–0.15 and q40→80, 50→90, 60→95, 70→95, 50→75 score 1.4–2.4; the threshold
//! (`DOUBLE_COMPRESSION_THRESHOLD`, 0.5) sits between.
//! A single compression gives a smooth, roughly log-linear (Laplacian) histogram and a depth
//! near 0; a coarser earlier compression gives depths of several log units. It is an
//! **indicator**: a lighter earlier compression, a resize or a crop that shifts the 8×8 grid
//! between the two saves leave no such trace, and a few synthetic images have gappy histograms.
use image::RgbImage;

/// AC positions (zig-zag 1..=N) looked at.
pub const DQ_POSITIONS: usize = 9;
/// Neighbour count a histogram bin needs to be judged (fewer blocks: too noisy to tell).
pub const DQ_MIN_NEIGHBOUR: u32 = 20;
/// Most 8×8 blocks transformed (a regular subsample beyond that): bounds the time.
pub const DQ_MAX_BLOCKS: usize = 60_000;
/// Bins looked at on each side of a bin for the rim of a gap (an earlier step up to about
/// this many times the last one leaves gaps this wide).
pub const DQ_WINDOW: usize = 16;
/// Histogram bins |k| = 0..DQ_BINS.
const DQ_BINS: usize = 64;

/// ITU T.81 Table K.2, the standard chrominance table, natural order.
const STD_CHROMA: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, //
    18, 21, 26, 66, 99, 99, 99, 99, //
    24, 26, 56, 99, 99, 99, 99, 99, //
    47, 66, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99, //
    99, 99, 99, 99, 99, 99, 99, 99,
];

/// Natural-order index of the k-th zig-zag coefficient (the DQT order).
use crate::media::jpeg_quality::ZIGZAG;

/// Adds the tables of one DQT body (zig-zag order, as stored) to `tables`; `Err` names what
/// is malformed.
pub(super) fn add_dqt(mut body: &[u8], tables: &mut [Option<[u16; 64]>; 4]) -> Result<(), String> {
    while let Some((&pq_tq, rest)) = body.split_first() {
        let (precision, id) = (pq_tq >> 4, usize::from(pq_tq & 0x0F));
        let width = match precision {
            0 => 1,
            1 => 2,
            p => {
                return Err(format!(
                    "a quantisation table has an invalid precision ({p})"
                ))
            }
        };
        let data = rest
            .get(..64 * width)
            .ok_or("a quantisation table is cut short")?;
        if id > 3 {
            return Err(format!("a quantisation table has an invalid id ({id})"));
        }
        let mut t = [0u16; 64];
        for (k, v) in t.iter_mut().enumerate() {
            *v = if width == 1 {
                u16::from(data[k])
            } else {
                u16::from_be_bytes([data[2 * k], data[2 * k + 1]])
            };
        }
        tables[id] = Some(t);
        body = &rest[64 * width..];
    }
    Ok(())
}

/// The IJG quality (1..=100) whose chrominance table is nearest, with the mean absolute
/// difference per entry.
pub(super) fn estimate_chroma(table: &[u16; 64]) -> Option<(u8, f32)> {
    if table.contains(&0) {
        return None;
    }
    let mut best: Option<(u64, u8)> = None;
    for q in 1..=100u32 {
        let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
        let err: u64 = ZIGZAG
            .iter()
            .zip(table.iter())
            .map(|(&n, &v)| {
                let ijg = ((u32::from(STD_CHROMA[n]) * scale + 50) / 100).clamp(1, 255) as u16;
                u64::from(v.abs_diff(ijg))
            })
            .sum();
        if best.is_none_or(|(e, _)| err <= e) {
            best = Some((err, q as u8));
        }
    }
    best.map(|(e, q)| (q, e as f32 / 64.0))
}

/// The double-quantisation measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DoubleQuantisation {
    /// Mean dip depth (log counts) over the positions that could be judged.
    pub score: f32,
    /// Positions judged (of [`DQ_POSITIONS`]).
    pub positions: usize,
    pub blocks: usize,
}

/// Measures the double-quantisation dips of a decoded JPEG (`luma` = its table 0, zig-zag).
/// None when the picture is too small or no position has enough blocks to judge.
pub fn double_quantisation(rgb: &RgbImage, luma: &[u16; 64]) -> Option<DoubleQuantisation> {
    let (w, h) = (rgb.width() as usize / 8, rgb.height() as usize / 8);
    let total = w.checked_mul(h)?;
    if total < 64 {
        return None;
    }
    let stride = total.div_ceil(DQ_MAX_BLOCKS);
    // cos[(x, u)] of the JPEG DCT with its C(u) scale folded in.
    let mut basis = [[0f32; 8]; 8];
    for (u, row) in basis.iter_mut().enumerate() {
        let c = if u == 0 { (0.5f32).sqrt() } else { 1.0 };
        for (x, v) in row.iter_mut().enumerate() {
            *v = 0.5 * c * (((2 * x + 1) as f32) * (u as f32) * std::f32::consts::PI / 16.0).cos();
        }
    }
    let mut hist = vec![[0u32; DQ_BINS]; DQ_POSITIONS];
    let mut blocks = 0usize;
    let mut block = [[0f32; 8]; 8];
    for b in (0..total).step_by(stride) {
        let (bx, by) = (b % w, b / w);
        for (y, row) in block.iter_mut().enumerate() {
            for (x, v) in row.iter_mut().enumerate() {
                let p = rgb.get_pixel((bx * 8 + x) as u32, (by * 8 + y) as u32).0;
                *v = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
                    - 128.0;
            }
        }
        // Rows then columns: F(v,u) = Σy basis[v][y] Σx basis[u][x] f(y,x).
        let mut rows = [[0f32; 8]; 8];
        for y in 0..8 {
            for u in 0..8 {
                rows[y][u] = (0..8).map(|x| basis[u][x] * block[y][x]).sum();
            }
        }
        for (pos, hist) in hist.iter_mut().enumerate() {
            let n = ZIGZAG[pos + 1];
            let (v, u) = (n / 8, n % 8);
            let coef: f32 = (0..8).map(|y| basis[v][y] * rows[y][u]).sum();
            let q = f32::from(luma[pos + 1].max(1));
            let k = (coef / q).round().abs() as usize;
            if k < DQ_BINS {
                hist[k] += 1;
            }
        }
        blocks += 1;
    }
    let mut scores = Vec::new();
    for h in &hist {
        let l = |i: usize| (f64::from(h[i]) + 1.0).ln();
        let mut dips = Vec::new();
        for k in 1..DQ_BINS - 1 {
            // The fullest bin within DQ_WINDOW on each side: a gap between two clusters.
            let left = h[k.saturating_sub(DQ_WINDOW)..k]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
            let right = h[k + 1..(k + 1 + DQ_WINDOW).min(DQ_BINS)]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
            let rim = left.min(right);
            if rim < DQ_MIN_NEIGHBOUR {
                continue;
            }
            dips.push(((f64::from(rim) + 1.0).ln() - l(k)).max(0.0));
        }
        if dips.len() >= 2 {
            scores.push(dips.iter().sum::<f64>() / dips.len() as f64);
        }
    }
    if scores.is_empty() {
        return None;
    }
    Some(DoubleQuantisation {
        score: (scores.iter().sum::<f64>() / scores.len() as f64) as f32,
        positions: scores.len(),
        blocks,
    })
}
