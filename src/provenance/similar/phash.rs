//! The classic 64-bit DCT perceptual hash (pHash, Zauner 2010 / phash.org's `ph_dct_imagehash`):
//! the picture as 32×32 grey levels, its 2-D DCT-II, the 8×8 lowest frequencies without the DC
//! row and column (coefficients 1..=8 × 1..=8), one bit per coefficient: above the median of the
//! 64. Re-encoding, resizing, small crops and small overlays move few bits; different pictures
//! differ in about half of them.
//!
//! Written here rather than through `image_hasher`: that crate's DCT preset hashes a resize to
//! twice the hash size (16×16, not the classic 32×32) and brings `rustdct`/`rustfft` for a
//! transform that is one 8×32 matrix product per side here.
use image::RgbImage;
use std::sync::OnceLock;

/// Side of the grey picture the DCT sees.
const N: usize = 32;
/// The coefficients kept per side (after the DC one).
const K: usize = 8;

/// `C[u][x] = cos(π (2x + 1) u / 2N)` for u = 1..=K (unnormalised DCT-II rows: the median test
/// is scale-free).
fn basis() -> &'static [[f64; N]; K] {
    static B: OnceLock<[[f64; N]; K]> = OnceLock::new();
    B.get_or_init(|| {
        let mut b = [[0.0; N]; K];
        for (u, row) in b.iter_mut().enumerate() {
            for (x, c) in row.iter_mut().enumerate() {
                *c = (std::f64::consts::PI * (2 * x + 1) as f64 * (u + 1) as f64 / (2 * N) as f64)
                    .cos();
            }
        }
        b
    })
}

/// The picture as N×N mean grey levels (ITU-R 601 luma). Each output cell is the mean of the
/// source pixels whose centre falls in it (an area average: no aliasing from large frames, one
/// pass over the pixels); pictures smaller than N on a side are stretched by nearest neighbour.
pub fn grey_thumbnail(img: &RgbImage) -> [[f64; N]; N] {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut sum = [[0.0f64; N]; N];
    if w == 0 || h == 0 {
        return sum;
    }
    if w >= N && h >= N {
        let mut count = [[0u32; N]; N];
        let cols: Vec<usize> = (0..w).map(|x| x * N / w).collect();
        for (y, row) in img.rows().enumerate() {
            let cy = y * N / h;
            for (p, &cx) in row.zip(&cols) {
                let [r, g, b] = p.0;
                sum[cy][cx] += 0.299 * r as f64 + 0.587 * g as f64 + 0.114 * b as f64;
                count[cy][cx] += 1;
            }
        }
        for (s, c) in sum.iter_mut().zip(&count) {
            for (v, &n) in s.iter_mut().zip(c) {
                *v /= n.max(1) as f64;
            }
        }
    } else {
        for (cy, row) in sum.iter_mut().enumerate() {
            for (cx, v) in row.iter_mut().enumerate() {
                let p = img.get_pixel((cx * w / N) as u32, (cy * h / N) as u32).0;
                *v = 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
            }
        }
    }
    sum
}

/// The 64-bit pHash of a picture. Bit `8·(u−1) + (v−1)` is set when DCT coefficient (u, v)
/// (u vertical, v horizontal frequency, 1..=8) is above the median of the 64.
pub fn phash(img: &RgbImage) -> u64 {
    hash_grey(&grey_thumbnail(img))
}

fn hash_grey(g: &[[f64; N]; N]) -> u64 {
    let b = basis();
    // Rows first: t[y][v] = Σx g[y][x] C[v][x]; then D[u][v] = Σy C[u][y] t[y][v].
    let mut t = [[0.0f64; K]; N];
    for (y, trow) in t.iter_mut().enumerate() {
        for (v, tv) in trow.iter_mut().enumerate() {
            *tv = g[y].iter().zip(&b[v]).map(|(a, c)| a * c).sum();
        }
    }
    let mut d = [0.0f64; K * K];
    for u in 0..K {
        for v in 0..K {
            d[u * K + v] = (0..N).map(|y| b[u][y] * t[y][v]).sum();
        }
    }
    let mut sorted = d;
    sorted.sort_by(f64::total_cmp);
    let median = (sorted[K * K / 2 - 1] + sorted[K * K / 2]) / 2.0;
    d.iter()
        .enumerate()
        .filter(|(_, &c)| c > median)
        .fold(0u64, |h, (i, _)| h | (1 << i))
}

/// Number of differing bits.
pub fn hamming(a: u64, b: u64) -> u32 {
    (a ^ b).count_ones()
}

/// Collects the hashes of one analysis' sampled frames: the first frame and the keyframes
/// (`sample::Sampled::keyframe`, shot changes; the first frame is always one), at most
/// [`MAX_HASHED_FRAMES`] per media, so a long video costs a bounded number of hashes.
#[derive(Debug, Default, Clone)]
pub struct FrameHasher {
    rows: Vec<(i64, Option<f64>, u64)>,
}

/// Most frames hashed per media (the first frame, then keyframes in order).
pub const MAX_HASHED_FRAMES: usize = 64;

impl FrameHasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hashes the frame when it is the first one seen or a keyframe and the cap is not reached.
    pub fn offer(&mut self, index: i64, pts_s: f64, keyframe: bool, img: &RgbImage) {
        if self.rows.len() >= MAX_HASHED_FRAMES || !(self.rows.is_empty() || keyframe) {
            return;
        }
        self.rows.push((index, Some(pts_s), phash(img)));
    }

    /// `(frame index, pts, hash)` rows as `Store::set_media_hashes` takes them.
    pub fn rows(&self) -> &[(i64, Option<f64>, u64)] {
        &self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: u32, h: u32, f: impl Fn(f64, f64) -> f64) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = f(x as f64 / w as f64, y as f64 / h as f64).clamp(0.0, 255.0) as u8;
            image::Rgb([v, v, v])
        })
    }

    #[test]
    fn dct_matches_the_definition() {
        // Separable product == the direct double sum for one coefficient.
        let g: [[f64; N]; N] =
            std::array::from_fn(|y| std::array::from_fn(|x| ((x * 7 + y * 13) % 23) as f64));
        let b = basis();
        let (u, v) = (2, 5);
        let direct: f64 = (0..N)
            .flat_map(|y| (0..N).map(move |x| (y, x)))
            .map(|(y, x)| g[y][x] * b[u][y] * b[v][x])
            .sum();
        let mut t = 0.0;
        for (y, row) in g.iter().enumerate() {
            t += b[u][y] * row.iter().zip(&b[v]).map(|(a, c)| a * c).sum::<f64>();
        }
        assert!((direct - t).abs() < 1e-9);
        // And the basis is the DCT-II's: orthogonal rows.
        let dot: f64 = b[1].iter().zip(&b[4]).map(|(a, c)| a * c).sum();
        assert!(dot.abs() < 1e-9, "{dot}");
    }

    #[test]
    fn half_the_bits_are_set_and_scaling_keeps_the_hash() {
        let f = |x: f64, y: f64| 128.0 + 100.0 * (7.0 * x).sin() * (5.0 * y + 1.0).cos();
        let a = phash(&picture(640, 480, f));
        assert_eq!(a.count_ones(), 32, "{a:016x}");
        let b = phash(&picture(320, 240, f));
        assert!(hamming(a, b) <= 2, "{}", hamming(a, b));
        let other = phash(&picture(640, 480, |x, y| {
            128.0 + 100.0 * (11.0 * y * x).cos()
        }));
        assert!(hamming(a, other) > 16, "{}", hamming(a, other));
        // A tiny picture still hashes (nearest-neighbour stretch), an empty one gives 0.
        let _ = phash(&picture(5, 3, f));
        assert_eq!(phash(&RgbImage::new(0, 0)), 0);
    }

    #[test]
    fn frame_hasher_takes_the_first_frame_and_keyframes_up_to_the_cap() {
        let img = picture(40, 40, |x, _| x * 255.0);
        let mut h = FrameHasher::new();
        h.offer(0, 0.0, false, &img); // first frame, even when not flagged
        h.offer(1, 0.2, false, &img);
        h.offer(2, 0.4, true, &img);
        assert_eq!(h.rows().iter().map(|r| r.0).collect::<Vec<_>>(), vec![0, 2]);
        for i in 3..200 {
            h.offer(i, i as f64, true, &img);
        }
        assert_eq!(h.rows().len(), MAX_HASHED_FRAMES);
    }
}
