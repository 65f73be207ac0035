//! Temporal inconsistency of one face track: how the score, the embeddings and the landmarks
//! move from frame to frame, with the outliers flagged.
//!
//! Face swaps and re-enactments are generated frame by frame, so they flicker: identity
//! embeddings drift, landmarks jitter relative to the head's motion, and the detector's score
//! jumps (the cue behind temporal detectors such as D. Güera, E. Delp, "Deepfake Video Detection
//! Using Recurrent Neural Networks", AVSS 2018, and LipForensics / FTCN). Here they are measured
//! directly so an analyst can point at the frames:
//!
//! - **embedding drift**: cosine distance `1 − cos(e_t, e_{t−1})` between consecutive samples of
//!   the CLIP and the CNN embeddings;
//! - **landmark jitter**: the 5 landmarks of frame t−1 are fitted onto frame t's with the same
//!   least-squares similarity as the alignment (Umeyama), and the mean residual is divided by
//!   the face box diagonal — rigid head motion (translation, in-plane rotation, zoom) is thereby
//!   removed and only non-rigid wobble remains;
//! - **spikes**: robust z-scores `0.6745 (x − median) / MAD` above 3.5 (B. Iglewicz,
//!   D. Hoaglin, "How to Detect and Handle Outliers", ASQC 1993); two-sided for the score,
//!   upper-sided for drift and jitter. When the MAD is 0 the mean absolute deviation
//!   (× 1.2533, its ratio to σ for a normal law) stands in. A spike must also lie a minimum
//!   absolute distance from the median (0.05 of score, 0.02 of cosine distance, 0.5 % of the
//!   face diagonal): on a very steady series the robust scale is tiny, and differences far below
//!   what a person or a detector could notice would otherwise come out as huge z-scores.
use serde::{Deserialize, Serialize};

use super::chart::{Chart, ChartMark, ChartPanel, ChartSeries};
use crate::faces::align::similarity_transform;
use crate::{Error, Result};

/// What the pipeline knows about one face of a track in one sampled frame.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// Frame index in the video.
    pub frame: i64,
    /// Presentation time, seconds.
    pub pts_s: f64,
    /// Probability that the face is fake, when a detector scored it.
    pub score: Option<f64>,
    /// CLIP image embedding of the aligned face.
    pub clip_embedding: Option<Vec<f32>>,
    /// Pooled features of the forensic CNN.
    pub cnn_embedding: Option<Vec<f32>>,
    /// MTCNN landmarks in frame pixels (left eye, right eye, nose, mouth left, mouth right).
    pub landmarks: Option<[[f32; 2]; 5]>,
    /// Face box x1, y1, x2, y2 in frame pixels.
    pub bbox: Option<[f32; 4]>,
    /// Eye openness measured on the frame ([`super::blink::eye_openness`]), for blink analysis.
    pub eye_openness: Option<f32>,
}

/// Spike detection settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemporalConfig {
    /// Robust z-score above which a value is flagged (3.5: Iglewicz & Hoaglin).
    pub z_threshold: f64,
    /// Fewer values than this in a series: no spike is flagged (the median/MAD mean nothing).
    pub min_points: usize,
    /// The least distance from the median for a score spike (probability units).
    pub min_score_change: f64,
    /// The least excess over the median for a CLIP/CNN drift spike (cosine distance).
    pub min_drift: f64,
    /// The least excess over the median for a jitter spike (fraction of the face diagonal).
    pub min_jitter: f64,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        TemporalConfig {
            z_threshold: 3.5,
            min_points: 5,
            min_score_change: 0.05,
            min_drift: 0.02,
            min_jitter: 0.005,
        }
    }
}

/// The series a spike was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesKind {
    Score,
    ClipDrift,
    CnnDrift,
    Jitter,
}

impl SeriesKind {
    pub fn label(self) -> &'static str {
        match self {
            SeriesKind::Score => "score",
            SeriesKind::ClipDrift => "CLIP drift",
            SeriesKind::CnnDrift => "CNN drift",
            SeriesKind::Jitter => "landmark jitter",
        }
    }
}

/// A flagged outlier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spike {
    pub series: SeriesKind,
    /// Index into the report's series.
    pub index: usize,
    pub frame: i64,
    pub pts_s: f64,
    pub value: f64,
    /// Robust z-score.
    pub z: f64,
}

/// Per-frame series of one track; [`chart`] gives their stored form. All
/// vectors have one entry per record, in frame order; `None` where a value is not defined
/// (first frame for drift and jitter, missing embeddings or landmarks).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemporalReport {
    pub track: i64,
    pub frames: Vec<i64>,
    pub pts_s: Vec<f64>,
    pub score: Vec<Option<f64>>,
    pub clip_drift: Vec<Option<f64>>,
    pub cnn_drift: Vec<Option<f64>>,
    pub jitter: Vec<Option<f64>>,
    pub spikes: Vec<Spike>,
    /// One line for the analyst.
    pub summary: String,
}

/// `1 − cos(a, b)`; `None` for a zero or non-finite vector. Lengths must agree.
pub fn cosine_distance(a: &[f32], b: &[f32]) -> Result<Option<f64>> {
    if a.len() != b.len() {
        return Err(Error::Other(format!(
            "embeddings of one track differ in length: {} and {}",
            a.len(),
            b.len()
        )));
    }
    let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    let denom = (na * nb).sqrt();
    Ok((denom > 0.0 && denom.is_finite()).then(|| (1.0 - dot / denom).max(0.0)))
}

/// Non-rigid landmark motion between two frames as a fraction of the face diagonal: the mean
/// residual after the best similarity mapping `prev` onto `cur`, over `bbox`'s diagonal.
pub fn landmark_jitter(prev: &[[f32; 2]; 5], cur: &[[f32; 2]; 5], bbox: &[f32; 4]) -> Option<f64> {
    let diag = ((bbox[2] - bbox[0]) as f64).hypot((bbox[3] - bbox[1]) as f64);
    if !(diag > 0.0 && diag.is_finite()) {
        return None;
    }
    let t = similarity_transform(prev, cur);
    let residual = prev
        .iter()
        .zip(cur)
        .map(|(p, c)| {
            let q = t.apply(*p);
            ((q[0] - c[0]) as f64).hypot((q[1] - c[1]) as f64)
        })
        .sum::<f64>()
        / 5.0;
    residual.is_finite().then_some(residual / diag)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Robust z-scores of the defined values (`None` stays `None`); all `None` when fewer than
/// `min_points` values are defined or they do not vary at all.
pub fn robust_z(values: &[Option<f64>], min_points: usize) -> Vec<Option<f64>> {
    let mut defined: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if defined.len() < min_points.max(2) {
        return vec![None; values.len()];
    }
    let med = median(&mut defined);
    let mut dev: Vec<f64> = defined.iter().map(|v| (v - med).abs()).collect();
    let mad = median(&mut dev);
    let scale = if mad > 0.0 {
        mad / 0.6745
    } else {
        1.253_314 * dev.iter().sum::<f64>() / dev.len() as f64
    };
    if scale.is_nan() || scale <= 0.0 {
        return vec![None; values.len()];
    }
    values
        .iter()
        .map(|v| v.filter(|x| x.is_finite()).map(|x| (x - med) / scale))
        .collect()
}

/// Presentation times made usable. Decoders hand out garbage for some frames (video-rs gives
/// about −4.5e14 s, FFmpeg's `AV_NOPTS_VALUE` scaled, for frames flushed at the end of a stream),
/// so each time is checked against a straight line through the track — the median seconds per
/// frame index and the median offset — and one that is not finite or lies more than
/// max(2 s, 10 % of the track's span) off that line is replaced by interpolation between its
/// valid neighbours. Variable frame rates stay within the tolerance and are kept as they are.
/// `frames` must be sorted.
pub fn repair_timestamps(frames: &[i64], pts: &[f64]) -> Vec<f64> {
    let finite = |t: f64| t.is_finite() && t.abs() < 1e9;
    let mut rates: Vec<f64> = frames
        .windows(2)
        .zip(pts.windows(2))
        .filter(|(f, t)| f[1] > f[0] && finite(t[0]) && finite(t[1]))
        .map(|(f, t)| (t[1] - t[0]) / (f[1] - f[0]) as f64)
        .filter(|r| *r > 0.0)
        .collect();
    if rates.is_empty() {
        return pts
            .iter()
            .map(|&t| if finite(t) { t } else { 0.0 })
            .collect();
    }
    let spf = median(&mut rates);
    let mut offsets: Vec<f64> = frames
        .iter()
        .zip(pts)
        .filter(|(_, t)| finite(**t))
        .map(|(f, t)| t - *f as f64 * spf)
        .collect();
    let offset = median(&mut offsets);
    let span = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => (b - a) as f64 * spf,
        _ => 0.0,
    };
    let tolerance = (0.1 * span).max(2.0);
    let valid: Vec<bool> = frames
        .iter()
        .zip(pts)
        .map(|(&f, &t)| finite(t) && (t - (offset + f as f64 * spf)).abs() <= tolerance)
        .collect();
    // A broken time is interpolated between its nearest valid neighbours, or extrapolated at the
    // median rate from the one valid side there is.
    (0..pts.len())
        .map(|i| {
            if valid[i] {
                return pts[i];
            }
            let before = (0..i).rev().find(|&j| valid[j]);
            let after = (i + 1..pts.len()).find(|&j| valid[j]);
            let at = |j: usize| (frames[j] as f64, pts[j]);
            let f = frames[i] as f64;
            match (before.map(at), after.map(at)) {
                (Some((f0, t0)), Some((f1, t1))) if f1 > f0 => {
                    t0 + (t1 - t0) * (f - f0) / (f1 - f0)
                }
                (Some((f0, t0)), _) => t0 + (f - f0) * spf,
                (None, Some((f1, t1))) => t1 - (f1 - f) * spf,
                (None, None) => offset + f * spf,
            }
        })
        .collect()
}

/// Computes the series of one track and flags spikes. Records may come in any order; they are
/// sorted by frame, and broken timestamps are repaired ([`repair_timestamps`]). Two records for one frame are an error.
pub fn analyse_track(
    track: i64,
    records: &[FrameRecord],
    cfg: &TemporalConfig,
) -> Result<TemporalReport> {
    let mut recs: Vec<&FrameRecord> = records.iter().collect();
    recs.sort_by_key(|r| r.frame);
    if let Some(w) = recs.windows(2).find(|w| w[0].frame == w[1].frame) {
        return Err(Error::Other(format!(
            "track {track} has two faces in frame {}: a track holds one face per frame",
            w[0].frame
        )));
    }
    let n = recs.len();
    let mut clip_drift = vec![None; n];
    let mut cnn_drift = vec![None; n];
    let mut jitter = vec![None; n];
    for i in 1..n {
        let (p, c) = (recs[i - 1], recs[i]);
        if let (Some(a), Some(b)) = (&p.clip_embedding, &c.clip_embedding) {
            clip_drift[i] = cosine_distance(a, b)?;
        }
        if let (Some(a), Some(b)) = (&p.cnn_embedding, &c.cnn_embedding) {
            cnn_drift[i] = cosine_distance(a, b)?;
        }
        if let (Some(a), Some(b), Some(bb)) = (&p.landmarks, &c.landmarks, &c.bbox) {
            jitter[i] = landmark_jitter(a, b, bb);
        }
    }
    let score: Vec<Option<f64>> = recs
        .iter()
        .map(|r| r.score.filter(|s| s.is_finite()))
        .collect();
    let frames: Vec<i64> = recs.iter().map(|r| r.frame).collect();
    let raw_pts: Vec<f64> = recs.iter().map(|r| r.pts_s).collect();
    let pts_s = repair_timestamps(&frames, &raw_pts);

    let mut spikes = Vec::new();
    for (kind, series, two_sided, floor) in [
        (SeriesKind::Score, &score, true, cfg.min_score_change),
        (SeriesKind::ClipDrift, &clip_drift, false, cfg.min_drift),
        (SeriesKind::CnnDrift, &cnn_drift, false, cfg.min_drift),
        (SeriesKind::Jitter, &jitter, false, cfg.min_jitter),
    ] {
        let mut defined: Vec<f64> = series
            .iter()
            .flatten()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let med = if defined.is_empty() {
            0.0
        } else {
            median(&mut defined)
        };
        for (i, z) in robust_z(series, cfg.min_points).into_iter().enumerate() {
            let Some(z) = z else { continue };
            let excess = series[i].map_or(0.0, |v| v - med);
            let flagged = if two_sided {
                z.abs() > cfg.z_threshold && excess.abs() >= floor
            } else {
                z > cfg.z_threshold && excess >= floor
            };
            if flagged {
                spikes.push(Spike {
                    series: kind,
                    index: i,
                    frame: frames[i],
                    pts_s: pts_s[i],
                    value: series[i].unwrap_or(f64::NAN),
                    z,
                });
            }
        }
    }
    spikes.sort_by(|a, b| {
        a.frame
            .cmp(&b.frame)
            .then(a.z.abs().total_cmp(&b.z.abs()).reverse())
    });

    let summary = summarise(track, n, &clip_drift, &jitter, &spikes);
    Ok(TemporalReport {
        track,
        frames,
        pts_s,
        score,
        clip_drift,
        cnn_drift,
        jitter,
        spikes,
        summary,
    })
}

fn summarise(
    track: i64,
    n: usize,
    clip_drift: &[Option<f64>],
    jitter: &[Option<f64>],
    spikes: &[Spike],
) -> String {
    let med = |v: &[Option<f64>]| {
        let mut d: Vec<f64> = v.iter().flatten().copied().collect();
        (!d.is_empty()).then(|| median(&mut d))
    };
    let mut parts = vec![format!("Track {track}: {n} frames")];
    parts.push(match spikes.len() {
        0 => "no spikes flagged".to_string(),
        k => {
            let shown: Vec<String> = spikes
                .iter()
                .take(4)
                .map(|s| {
                    format!(
                        "{} at frame {} ({:.2} s)",
                        s.series.label(),
                        s.frame,
                        s.pts_s
                    )
                })
                .collect();
            let more = if k > 4 {
                format!(", … {} more", k - 4)
            } else {
                String::new()
            };
            format!(
                "{k} spike{} flagged: {}{more}",
                if k == 1 { "" } else { "s" },
                shown.join(", ")
            )
        }
    });
    if let Some(d) = med(clip_drift) {
        parts.push(format!("median CLIP drift {d:.4}"));
    }
    if let Some(j) = med(jitter) {
        parts.push(format!(
            "median landmark jitter {:.2}% of the face diagonal",
            100.0 * j
        ));
    }
    parts.join("; ") + "."
}

/// The stored chart of a report ([`Chart`]): three panels (fake probability 0..1; CLIP and CNN
/// embedding drift; landmark jitter) over time, every flagged spike a mark, the spikes
/// themselves (with their z-scores) in `details`. Schema v5 builds the same from rows stored
/// before charts were (`store::schema`): keep the two in step.
pub fn chart(report: &TemporalReport) -> Chart {
    let series = |name: &str, label: &str, panel: &str, values: &[Option<f64>]| ChartSeries {
        name: name.into(),
        label: label.into(),
        panel: panel.into(),
        values: values.to_vec(),
    };
    let panel = |name: &str, title: &str, range: Option<[f64; 2]>| ChartPanel {
        name: name.into(),
        title: title.into(),
        range,
        lines: vec![],
    };
    Chart {
        track: report.track,
        title: format!("Track {} – temporal consistency", report.track),
        x_label: "time (s)".into(),
        x: report.pts_s.clone(),
        frames: report.frames.clone(),
        panels: vec![
            panel("score", "fake probability", Some([0.0, 1.0])),
            panel("drift", "embedding drift (1 − cos)", None),
            panel(
                "jitter",
                "landmark jitter (fraction of the face diagonal)",
                None,
            ),
        ],
        series: vec![
            series("score", "score", "score", &report.score),
            series("clip_drift", "CLIP", "drift", &report.clip_drift),
            series("cnn_drift", "CNN", "drift", &report.cnn_drift),
            series("jitter", "jitter", "jitter", &report.jitter),
        ],
        marks: report
            .spikes
            .iter()
            .map(|s| ChartMark {
                series: serde_json::to_value(s.series)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                index: s.index,
                label: format!("spike, z = {:.1}", s.z),
            })
            .collect(),
        spans: vec![],
        details: serde_json::json!({ "spikes": report.spikes }),
    }
}
