//! Blink-rate analysis: an eye-openness signal per frame of a face track, blink events, and
//! blinks per minute against the normal human range.
//!
//! Early face swaps rarely blinked because their training photos show open eyes (Y. Li,
//! M.-C. Chang, S. Lyu, "In Ictu Oculi: Exposing AI Created Fake Videos by Detecting Eye
//! Blinking", WIFS 2018); newer fakes blink, but often at odd rates or durations. The usual
//! openness measure, the eye aspect ratio (T. Soukupová, J. Čech, "Real-Time Eye Blink Detection
//! using Facial Landmarks", CVWW 2016), needs six landmarks per eye; MTCNN gives only the eye
//! centres. So openness is measured on an eye crop instead:
//!
//! **Measure (visible iris height).** A patch 0.5 × 0.3 inter-ocular distances (IOD), aligned
//! with the eye line, is sampled around each eye centre on a fixed 24 × 16 grid (so the measure
//! does not depend on resolution). Pixels darker than 0.6 × the 90th-percentile luma of a
//! larger 0.9 × 0.6 IOD window (skin and sclera — the brightest stable thing near the eye) count
//! as iris, pupil or lashes. Openness is the mean dark height of the darkest third of the
//! patch's columns, as a fraction of the patch height. An open eye shows the iris as a tall dark
//! disc (≈ 0.4–0.6 of the patch); the closing lid covers it from above until only the lash line
//! remains (a row or two, ≈ 0.1), which is why column *height* is used rather than the dark
//! *area* (a long lash line has area but no height) or edge energy (the lash line is itself a
//! strong edge). Both eyes are averaged.
//!
//! **Normalisation and events.** Identity, iris colour, make-up, lighting and resolution shift
//! the raw value, so the signal is divided by the track's median (eyes are open most of the
//! time, so the median is the open level). A blink is a run of consecutive samples below
//! `closed_fraction` (0.5) of that baseline lasting at most `max_blink_s` (0.5 s; blinks last
//! 100–400 ms — Caffier, Erdmann, Ullsperger, "Experimental evaluation of eye-blink parameters
//! as a drowsiness measure", Eur J Appl Physiol 2003); longer runs are reported as eye closures.
//!
//! **Normal range.** 8–21 blinks/min in primary gaze at rest (M. J. Doughty, "Consideration of
//! three types of spontaneous eyeblink activity in normal humans", Optometry and Vision Science
//! 78(10), 2001); the same survey finds lower rates while reading (≈ 1.4–14.4) and higher in
//! conversation (≈ 10.5–32.5), so an out-of-range rate is a cue, not a verdict.
use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::chart::{Chart, ChartPanel, ChartSeries, ChartSpan, RefLine};
use super::temporal::repair_timestamps;
use crate::Result;

/// Patch around each eye centre, in inter-ocular distances (along, across the eye line).
const PATCH: (f32, f32) = (0.5, 0.3);
/// Reference window for the skin/sclera brightness, in inter-ocular distances.
const REFERENCE: (f32, f32) = (0.9, 0.6);
/// Sampling grid of the patch (columns, rows).
const GRID: (usize, usize) = (24, 16);
/// A pixel is dark (iris, pupil, lashes) below this fraction of the reference brightness.
const DARK_FRACTION: f32 = 0.6;
/// Below this inter-ocular distance (px) the eyes are too small to measure.
pub const MIN_IOD_PX: f32 = 8.0;

/// Openness of both eyes in one frame (see the module doc for the measure; ≈ 0.4–0.6 open,
/// ≈ 0–0.15 closed, before per-track normalisation).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EyeOpenness {
    pub left: f32,
    pub right: f32,
}

impl EyeOpenness {
    pub fn mean(&self) -> f32 {
        (self.left + self.right) / 2.0
    }
}

/// Bilinear BT.601 luma at a continuous position, `None` outside the image.
fn luma_at(img: &RgbImage, x: f32, y: f32) -> Option<f32> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    if !(x >= 0.0 && y >= 0.0 && x <= w - 1.0 && y <= h - 1.0) {
        return None;
    }
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = (
        (x0 + 1).min(img.width() - 1),
        (y0 + 1).min(img.height() - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let l = |x: u32, y: u32| {
        let p = img.get_pixel(x, y);
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    };
    let top = l(x0, y0) * (1.0 - fx) + l(x1, y0) * fx;
    let bottom = l(x0, y1) * (1.0 - fx) + l(x1, y1) * fx;
    Some(top * (1.0 - fy) + bottom * fy)
}

/// Samples a `cols`×`rows` grid of luma over a `size` (along u, along n) rectangle centred on
/// `centre`, with `u` the unit eye-line direction and `n` its normal (pointing down the face).
fn sample_patch(
    img: &RgbImage,
    centre: [f32; 2],
    u: [f32; 2],
    n: [f32; 2],
    size: (f32, f32),
    (cols, rows): (usize, usize),
) -> Option<Vec<f32>> {
    let mut out = Vec::with_capacity(cols * rows);
    for r in 0..rows {
        let b = ((r as f32 + 0.5) / rows as f32 - 0.5) * size.1;
        for c in 0..cols {
            let a = ((c as f32 + 0.5) / cols as f32 - 0.5) * size.0;
            out.push(luma_at(
                img,
                centre[0] + a * u[0] + b * n[0],
                centre[1] + a * u[1] + b * n[1],
            )?);
        }
    }
    Some(out)
}

fn one_eye(img: &RgbImage, centre: [f32; 2], u: [f32; 2], n: [f32; 2], iod: f32) -> Option<f32> {
    let reference = sample_patch(
        img,
        centre,
        u,
        n,
        (REFERENCE.0 * iod, REFERENCE.1 * iod),
        (24, 16),
    )?;
    let mut sorted = reference;
    sorted.sort_by(f32::total_cmp);
    let bright = sorted[((sorted.len() - 1) as f32 * 0.9).round() as usize];
    let threshold = DARK_FRACTION * bright;
    let patch = sample_patch(img, centre, u, n, (PATCH.0 * iod, PATCH.1 * iod), GRID)?;
    let (cols, rows) = GRID;
    let mut heights: Vec<usize> = (0..cols)
        .map(|c| {
            (0..rows)
                .filter(|&r| patch[r * cols + c] < threshold)
                .count()
        })
        .collect();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    let k = cols / 3;
    Some(heights[..k].iter().sum::<usize>() as f32 / (k * rows) as f32)
}

/// Eye openness in `frame` for a face with these MTCNN landmarks (frame pixels). `None` when the
/// eyes are too close together (< [`MIN_IOD_PX`]) or their patches leave the frame.
pub fn eye_openness(frame: &RgbImage, landmarks: &[[f32; 2]; 5]) -> Option<EyeOpenness> {
    let (l, r) = (landmarks[0], landmarks[1]);
    let d = [r[0] - l[0], r[1] - l[1]];
    let iod = d[0].hypot(d[1]);
    if iod.is_nan() || iod < MIN_IOD_PX || frame.width() < 2 || frame.height() < 2 {
        return None;
    }
    let u = [d[0] / iod, d[1] / iod];
    let n = [-u[1], u[0]];
    Some(EyeOpenness {
        left: one_eye(frame, l, u, n, iod)?,
        right: one_eye(frame, r, u, n, iod)?,
    })
}

/// Blink detection settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlinkConfig {
    /// A sample is "closed" below this fraction of the track's median openness.
    pub closed_fraction: f64,
    /// Longest closure still counted as a blink, seconds.
    pub max_blink_s: f64,
    /// Normal resting range, blinks per minute (Doughty 2001: 8–21).
    pub normal_per_min: (f64, f64),
    /// Below this duration the rate is reported but not judged.
    pub min_duration_s: f64,
    /// Below this sample rate short blinks can fall between samples: the rate is a lower bound.
    pub min_rate_hz: f64,
}

impl Default for BlinkConfig {
    fn default() -> Self {
        BlinkConfig {
            closed_fraction: 0.5,
            max_blink_s: 0.5,
            normal_per_min: (8.0, 21.0),
            min_duration_s: 10.0,
            min_rate_hz: 8.0,
        }
    }
}

/// One run of closed-eye samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blink {
    pub start_frame: i64,
    pub end_frame: i64,
    pub start_s: f64,
    pub end_s: f64,
    /// Samples in the run.
    pub samples: usize,
    /// Lowest normalised openness in the run.
    pub min_openness: f64,
}

/// How the rate compares with the normal range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlinkAssessment {
    BelowNormal,
    Normal,
    AboveNormal,
    /// Clip shorter than `min_duration_s`: reported, not judged.
    TooShort,
    /// No usable openness signal (eyes never measured or never open).
    NoSignal,
}

/// Blink analysis of one track, serialisable for the UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlinkReport {
    pub track: i64,
    pub frames: Vec<i64>,
    pub pts_s: Vec<f64>,
    /// Openness divided by the track's median (1 = typical open eye); `None` where not measured.
    pub openness: Vec<Option<f64>>,
    /// The track's median raw openness.
    pub baseline: f64,
    pub blinks: Vec<Blink>,
    /// Closures longer than `max_blink_s`.
    pub closures: Vec<Blink>,
    pub duration_s: f64,
    pub sample_rate_hz: f64,
    pub per_minute: Option<f64>,
    pub assessment: BlinkAssessment,
    /// One line for the analyst.
    pub finding: String,
}

/// Blink analysis over the samples `(frame, pts_s, raw openness)` of one track (any order;
/// broken timestamps are repaired with [`repair_timestamps`]).
pub fn analyse_blinks(
    track: i64,
    samples: &[(i64, f64, Option<f32>)],
    cfg: &BlinkConfig,
) -> Result<BlinkReport> {
    let mut s: Vec<(i64, f64, Option<f32>)> = samples.to_vec();
    s.sort_by_key(|x| x.0);
    let frames: Vec<i64> = s.iter().map(|x| x.0).collect();
    let raw_pts: Vec<f64> = s.iter().map(|x| x.1).collect();
    let pts_s = repair_timestamps(&frames, &raw_pts);
    let mut raw: Vec<f64> = s
        .iter()
        .filter_map(|x| x.2)
        .map(f64::from)
        .filter(|v| v.is_finite())
        .collect();
    raw.sort_by(f64::total_cmp);
    let baseline = if raw.is_empty() {
        0.0
    } else if raw.len() % 2 == 1 {
        raw[raw.len() / 2]
    } else {
        (raw[raw.len() / 2 - 1] + raw[raw.len() / 2]) / 2.0
    };
    let openness: Vec<Option<f64>> = s
        .iter()
        .map(|x| {
            x.2.map(f64::from)
                .filter(|v| v.is_finite() && baseline > 0.0)
                .map(|v| v / baseline)
        })
        .collect();

    // Sample interval: the median gap between consecutive timestamps.
    let mut gaps: Vec<f64> = pts_s
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let dt = gaps.get(gaps.len() / 2).copied().unwrap_or(0.0);
    let sample_rate_hz = if dt > 0.0 { 1.0 / dt } else { 0.0 };
    let duration_s = match (pts_s.first(), pts_s.last()) {
        (Some(a), Some(b)) if !pts_s.is_empty() => (b - a) + dt,
        _ => 0.0,
    };
    let max_samples = if dt > 0.0 {
        ((cfg.max_blink_s / dt).round() as usize).max(1)
    } else {
        1
    };

    let (mut blinks, mut closures) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < s.len() {
        if !openness[i].is_some_and(|v| v < cfg.closed_fraction) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && openness[i].is_some_and(|v| v < cfg.closed_fraction) {
            i += 1;
        }
        let run = Blink {
            start_frame: frames[start],
            end_frame: frames[i - 1],
            start_s: pts_s[start],
            end_s: pts_s[i - 1] + dt,
            samples: i - start,
            min_openness: openness[start..i]
                .iter()
                .flatten()
                .copied()
                .fold(f64::INFINITY, f64::min),
        };
        if run.samples <= max_samples {
            blinks.push(run);
        } else {
            closures.push(run);
        }
    }

    let per_minute =
        (duration_s > 0.0 && baseline > 0.0).then(|| blinks.len() as f64 * 60.0 / duration_s);
    let (lo, hi) = cfg.normal_per_min;
    let assessment = match per_minute {
        None => BlinkAssessment::NoSignal,
        Some(_) if duration_s < cfg.min_duration_s => BlinkAssessment::TooShort,
        Some(r) if r < lo => BlinkAssessment::BelowNormal,
        Some(r) if r > hi => BlinkAssessment::AboveNormal,
        Some(_) => BlinkAssessment::Normal,
    };
    let finding = finding(
        &blinks,
        &closures,
        duration_s,
        sample_rate_hz,
        per_minute,
        assessment,
        cfg,
    );
    Ok(BlinkReport {
        track,
        frames,
        pts_s,
        openness,
        baseline,
        blinks,
        closures,
        duration_s,
        sample_rate_hz,
        per_minute,
        assessment,
        finding,
    })
}

fn finding(
    blinks: &[Blink],
    closures: &[Blink],
    duration_s: f64,
    rate_hz: f64,
    per_minute: Option<f64>,
    assessment: BlinkAssessment,
    cfg: &BlinkConfig,
) -> String {
    let Some(r) = per_minute else {
        return "No blink analysis: the eyes could not be measured in this track.".into();
    };
    let (lo, hi) = cfg.normal_per_min;
    let n = blinks.len();
    let mut s = format!(
        "{n} blink{} in {duration_s:.1} s ({r:.0}/min) — ",
        if n == 1 { "" } else { "s" }
    );
    s += &match assessment {
        BlinkAssessment::Normal => format!("within the normal resting range ({lo:.0}–{hi:.0}/min, Doughty 2001)"),
        BlinkAssessment::BelowNormal => format!(
            "below the normal resting range ({lo:.0}–{hi:.0}/min, Doughty 2001); infrequent blinking is a known cue of face swaps"
        ),
        BlinkAssessment::AboveNormal => format!(
            "above the normal resting range ({lo:.0}–{hi:.0}/min, Doughty 2001); speech and stress raise it"
        ),
        BlinkAssessment::TooShort => format!(
            "too short (< {:.0} s) to compare with the normal range ({lo:.0}–{hi:.0}/min)",
            cfg.min_duration_s
        ),
        BlinkAssessment::NoSignal => unreachable!("handled above"),
    };
    if !closures.is_empty() {
        s += &format!(
            "; {} longer eye closure{}",
            closures.len(),
            if closures.len() == 1 { "" } else { "s" }
        );
    }
    if rate_hz > 0.0 && rate_hz < cfg.min_rate_hz {
        s += &format!("; sampled at {rate_hz:.1} fps, so short blinks may be missed (the rate is a lower bound)");
    }
    s + "."
}

/// The stored chart of a report ([`Chart`]): normalised openness over time with the track
/// median (1) and the closed threshold as reference lines, blinks and longer closures shaded,
/// the rate and its assessment in `details`. Schema v5 builds the same from rows stored before
/// charts were (with the default `closed_fraction`, the only one ever used): keep them in step.
pub fn chart(report: &BlinkReport, cfg: &BlinkConfig) -> Chart {
    let span = |b: &Blink, label: &str| ChartSpan {
        from: b.start_s,
        to: b.end_s,
        label: label.into(),
    };
    Chart {
        track: report.track,
        title: format!("Track {} – eye openness and blinks", report.track),
        x_label: "time (s)".into(),
        x: report.pts_s.clone(),
        frames: report.frames.clone(),
        panels: vec![ChartPanel {
            name: "openness".into(),
            title: "eye openness / track median".into(),
            range: None,
            lines: vec![
                RefLine {
                    y: 1.0,
                    label: "track median".into(),
                },
                RefLine {
                    y: cfg.closed_fraction,
                    label: "closed".into(),
                },
            ],
        }],
        series: vec![ChartSeries {
            name: "openness".into(),
            label: "openness".into(),
            panel: "openness".into(),
            values: report.openness.clone(),
        }],
        marks: vec![],
        spans: report
            .blinks
            .iter()
            .map(|b| span(b, "blink"))
            .chain(report.closures.iter().map(|b| span(b, "eye closure")))
            .collect(),
        details: serde_json::json!({
            "baseline": report.baseline,
            "duration_s": report.duration_s,
            "sample_rate_hz": report.sample_rate_hz,
            "per_minute": report.per_minute,
            "assessment": report.assessment,
            "blinks": report.blinks,
            "closures": report.closures,
        }),
    }
}
