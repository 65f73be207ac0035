//! Frame sampling, keyframes and motion (SEED §2.1 "Sample at 3–10 FPS; extract keyframes using
//! histogram difference", §4.3 "weights = motion_difference(frame)").
//!
//! - Sampling is by presentation time, not by frame number, so variable-frame-rate phone videos
//!   are sampled evenly in time: on a grid `k / fps` from the first frame, the first decoded
//!   frame whose pts is at or past the next grid point is taken.
//! - A keyframe is a frame whose colour histogram differs from the last keyframe's by at least
//!   `keyframe_threshold` (total-variation distance, 0..1). This is the classic shot-boundary
//!   test (Zhang, Kankanhalli & Smoliar, "Automatic partitioning of full-motion video", 1993):
//!   colour histograms barely move while the camera pans over one scene and jump at a cut.
//! - Motion is the mean absolute grey-level difference to the previous sampled frame, on small
//!   thumbnails so that sensor noise and compression grain average out and frames of different
//!   sizes (frame folders) stay comparable.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::Limits;
use crate::{Error, Result};

/// How to sample a source. `Default` is 5 FPS, keyframe threshold 0.35, no frame or time cap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SampleParams {
    /// Samples per second of media, 3..=10 (SEED §2.1).
    pub fps: f32,
    /// Histogram distance to the last keyframe (0..1) at which a frame becomes a keyframe.
    pub keyframe_threshold: f32,
    /// Stop after this many sampled frames.
    pub max_frames: Option<usize>,
    /// Stop after this many seconds of media (by presentation time). A live source needs this
    /// or `max_frames`.
    pub max_seconds: Option<f64>,
}

impl Default for SampleParams {
    fn default() -> Self {
        SampleParams {
            fps: 5.0,
            keyframe_threshold: 0.35,
            max_frames: None,
            max_seconds: None,
        }
    }
}

impl SampleParams {
    pub const MIN_FPS: f32 = 3.0;
    pub const MAX_FPS: f32 = 10.0;

    pub fn validate(&self) -> Result<()> {
        if !(Self::MIN_FPS..=Self::MAX_FPS).contains(&self.fps) {
            return Err(Error::Config(format!(
                "sampling rate {} fps is outside the supported {}–{} fps",
                self.fps,
                Self::MIN_FPS,
                Self::MAX_FPS
            )));
        }
        if !(0.0..=1.0).contains(&self.keyframe_threshold) {
            return Err(Error::Config(format!(
                "keyframe threshold {} is outside 0–1 (it is a histogram distance)",
                self.keyframe_threshold
            )));
        }
        if self.max_frames == Some(0) {
            return Err(Error::Config("max_frames must be at least 1".into()));
        }
        if let Some(s) = self.max_seconds {
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::Config(format!(
                    "time limit {s} s must be a positive number"
                )));
            }
        }
        Ok(())
    }
}

/// One sampled frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Sample number: 0, 1, 2 … in the order yielded.
    pub index: usize,
    /// Index of the frame in the source: decoded-frame number for videos, file number for
    /// folders, 0 for an image.
    pub source_index: u64,
    /// Presentation time in seconds from the first frame of the source.
    pub pts_s: f64,
    /// Upright RGB pixels.
    pub image: RgbImage,
    /// The colour histogram moved at least `keyframe_threshold` from the last keyframe; the
    /// first frame is always a keyframe.
    pub keyframe: bool,
    /// Mean absolute grey difference to the previous sampled frame, 0..1; 0 for the first.
    pub motion: f32,
    /// Source frames (video packets) since the previous sampled frame that could not be
    /// decoded and were skipped.
    pub undecodable_before: u32,
}

/// A frame picked by a source, before annotation.
pub(crate) struct Sampled {
    pub source_index: u64,
    pub pts_s: f64,
    pub image: RgbImage,
    /// Undecodable source frames skipped since the previous sampled frame.
    pub skipped: u32,
}

/// Picks frames on the time grid `k / fps` measured from the first frame offered.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    step: f64,
    next: f64,
    origin: Option<f64>,
}

impl Sampler {
    /// Timestamps closer than this to a grid point count as on it (float rounding of
    /// `n / 30000 * 1001`-style time bases).
    const EPS: f64 = 1e-6;

    pub fn new(fps: f32) -> Self {
        Sampler {
            step: 1.0 / f64::from(fps),
            next: 0.0,
            origin: None,
        }
    }

    /// If the frame at `pts` (seconds) is taken, its time relative to the first frame.
    pub fn offer(&mut self, pts: f64) -> Option<f64> {
        let origin = *self.origin.get_or_insert(pts);
        let rel = pts - origin;
        if rel + Self::EPS < self.next {
            return None;
        }
        // Skip every grid point up to and including this frame's time: after a gap (VFR, a
        // dropped stretch) we resume on the grid rather than emitting a burst.
        let k = ((rel + Self::EPS) / self.step).floor() + 1.0;
        self.next = k * self.step;
        Some(rel)
    }
}

/// Side of the square grey thumbnail motion is measured on.
const THUMB: u32 = 64;
/// Histogram bins per colour channel.
const BINS: usize = 16;

/// What we keep of a frame to compare it with later ones.
struct Signature {
    grey: Vec<f32>,
    hist: [f32; 3 * BINS],
}

impl Signature {
    fn of(image: &RgbImage) -> Self {
        let (w, h) = image.dimensions();
        let mut grey = vec![0f32; (THUMB * THUMB) as usize];
        let mut hist = [0f32; 3 * BINS];
        if w == 0 || h == 0 {
            return Signature { grey, hist };
        }
        // Average into THUMB×THUMB cells: every visited pixel counts toward the cell it falls
        // in, so nothing is aliased away whatever the frame size. Large frames are visited on
        // a grid of about 256×256 points (every 5th pixel of a 1080p frame): still ~20 pixels
        // per cell, at a fiftieth of the cost. The histogram is taken over the same pixels.
        let step = ((u64::from(w) * u64::from(h) / 65_536) as f64)
            .sqrt()
            .floor()
            .max(1.0) as usize;
        let mut counts = vec![0u32; grey.len()];
        let column: Vec<usize> = (0..w as usize)
            .map(|x| x * THUMB as usize / w as usize)
            .collect();
        let raw = image.as_raw();
        let row_len = w as usize * 3;
        let mut total = 0f32;
        for y in (0..h as usize).step_by(step) {
            let base = y * THUMB as usize / h as usize * THUMB as usize;
            let row = &raw[y * row_len..(y + 1) * row_len];
            for x in (0..w as usize).step_by(step) {
                let (r, g, b) = (row[3 * x], row[3 * x + 1], row[3 * x + 2]);
                let cell = base + column[x];
                // ITU-R BT.601 luma, the grey face detectors and OpenCV use.
                grey[cell] += 0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b);
                counts[cell] += 1;
                hist[usize::from(r) * BINS / 256] += 1.0;
                hist[BINS + usize::from(g) * BINS / 256] += 1.0;
                hist[2 * BINS + usize::from(b) * BINS / 256] += 1.0;
                total += 1.0;
            }
        }
        for (g, &n) in grey.iter_mut().zip(&counts) {
            *g = if n > 0 { *g / (n as f32 * 255.0) } else { 0.0 };
        }
        // Cells no visited pixel fell in (frames smaller than THUMB, or thin strips of a
        // large frame between visited rows) copy the cell of the nearest visited pixel above
        // and to the left, so such frames still compare fairly.
        let t = THUMB as usize;
        for i in 0..grey.len() {
            if counts[i] == 0 {
                let (cy, cx) = (i / t, i % t);
                let sx = (cx * w as usize / t).min(w as usize - 1) / step * step;
                let sy = (cy * h as usize / t).min(h as usize - 1) / step * step;
                grey[i] = grey[sy * t / h as usize * t + column[sx]];
            }
        }
        for v in hist.iter_mut() {
            *v /= total;
        }
        Signature { grey, hist }
    }

    /// Total-variation distance between the colour histograms, averaged over R, G, B: 0 for
    /// identical distributions, 1 for disjoint ones.
    fn hist_distance(&self, other: &Signature) -> f32 {
        let l1: f32 = self
            .hist
            .iter()
            .zip(&other.hist)
            .map(|(a, b)| (a - b).abs())
            .sum();
        (l1 / 6.0).clamp(0.0, 1.0)
    }

    fn motion(&self, previous: &Signature) -> f32 {
        let sum: f32 = self
            .grey
            .iter()
            .zip(&previous.grey)
            .map(|(a, b)| (a - b).abs())
            .sum();
        (sum / self.grey.len() as f32).clamp(0.0, 1.0)
    }
}

/// Numbers the frames of a source, flags keyframes, measures motion, and enforces the frame
/// and time caps and the cancel flag.
pub(crate) struct Annotate<'c> {
    source: Box<dyn Iterator<Item = Result<Sampled>> + Send>,
    path: PathBuf,
    cancel: &'c AtomicBool,
    threshold: f32,
    max_frames: Option<usize>,
    max_seconds: Option<f64>,
    cap: usize,
    index: usize,
    last_key: Option<Signature>,
    previous: Option<Signature>,
    done: bool,
}

impl<'c> Annotate<'c> {
    pub fn new(
        source: Box<dyn Iterator<Item = Result<Sampled>> + Send>,
        path: &Path,
        params: &SampleParams,
        limits: &Limits,
        cancel: &'c AtomicBool,
    ) -> Self {
        Annotate {
            source,
            path: path.to_path_buf(),
            cancel,
            threshold: params.keyframe_threshold,
            max_frames: params.max_frames,
            max_seconds: params.max_seconds,
            cap: limits.max_frames,
            index: 0,
            last_key: None,
            previous: None,
            done: false,
        }
    }
}

impl Iterator for Annotate<'_> {
    type Item = Result<Frame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.cancel.load(Ordering::Relaxed) {
            self.done = true;
            return Some(Err(Error::Cancelled));
        }
        if self.max_frames.is_some_and(|m| self.index >= m) {
            self.done = true;
            return None;
        }
        let sampled = match self.source.next() {
            None => {
                self.done = true;
                return None;
            }
            // A source decides itself whether it can go on after an error (a folder skips a
            // bad file, a video stops), so just pass the error along.
            Some(Err(e)) => return Some(Err(e)),
            Some(Ok(s)) => s,
        };
        if self.max_seconds.is_some_and(|m| sampled.pts_s >= m) {
            self.done = true;
            return None;
        }
        if self.index >= self.cap {
            self.done = true;
            return Some(Err(Error::TooLarge(format!(
                "{}: more than {} sampled frames; lower the sampling rate, set a frame or time \
                 limit, or raise the frame limit",
                self.path.display(),
                self.cap
            ))));
        }
        let signature = Signature::of(&sampled.image);
        let motion = self.previous.as_ref().map_or(0.0, |p| signature.motion(p));
        let keyframe = match &self.last_key {
            None => true,
            Some(key) => signature.hist_distance(key) >= self.threshold,
        };
        let frame = Frame {
            index: self.index,
            source_index: sampled.source_index,
            pts_s: sampled.pts_s,
            image: sampled.image,
            keyframe,
            motion,
            undecodable_before: sampled.skipped,
        };
        self.index += 1;
        if keyframe {
            self.last_key = Some(Signature {
                grey: Vec::new(),
                hist: signature.hist,
            });
        }
        self.previous = Some(signature);
        Some(Ok(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampler_takes_first_frame_at_or_past_each_grid_point() {
        // 25 fps source sampled at 10 fps: grid 0, .1, .2 … → frames 0, .12, .2, .32, .4 …
        let mut s = Sampler::new(10.0);
        let taken: Vec<f64> = (0..50).filter_map(|i| s.offer(i as f64 / 25.0)).collect();
        assert_eq!(taken.len(), 20);
        assert!((taken[1] - 0.12).abs() < 1e-9 && (taken[2] - 0.2).abs() < 1e-9);
    }

    #[test]
    fn sampler_resumes_on_grid_after_gap() {
        let mut s = Sampler::new(5.0);
        let taken: Vec<f64> = [0.0, 0.1, 0.2, 1.5, 1.55, 1.6, 1.8]
            .iter()
            .filter_map(|&t| s.offer(10.0 + t))
            .collect();
        // 0, 0.2, then the gap: 1.5 (past 0.4 … 1.4), next grid point 1.6, then 1.8.
        let expect = [0.0, 0.2, 1.5, 1.6, 1.8];
        assert_eq!(taken.len(), expect.len(), "{taken:?}");
        for (a, b) in taken.iter().zip(expect) {
            assert!((a - b).abs() < 1e-9, "{taken:?}");
        }
    }

    #[test]
    fn signature_covers_every_cell_whatever_the_frame_shape() {
        // Same uniform grey in frames of very different shapes and sizes: no motion, no cut.
        let shapes = [(1, 1), (3, 200), (4000, 70), (1920, 1080), (64, 64)];
        let signatures: Vec<Signature> = shapes
            .iter()
            .map(|&(w, h)| Signature::of(&RgbImage::from_pixel(w, h, image::Rgb([128; 3]))))
            .collect();
        for s in &signatures {
            assert!(s.grey.iter().all(|&g| (g - 128.0 / 255.0).abs() < 1e-3));
            assert!(s.motion(&signatures[0]) < 1e-3);
            assert!(s.hist_distance(&signatures[0]) < 1e-6);
        }
    }

    #[test]
    fn histogram_distance_is_zero_for_same_and_one_for_disjoint() {
        let black = RgbImage::new(10, 10);
        let white = RgbImage::from_pixel(10, 10, image::Rgb([255, 255, 255]));
        let (a, b) = (Signature::of(&black), Signature::of(&white));
        assert_eq!(a.hist_distance(&a), 0.0);
        assert!((a.hist_distance(&b) - 1.0).abs() < 1e-6);
        assert!((b.motion(&a) - 1.0).abs() < 1e-6);
    }
}
