//! Video-level explanations: temporal consistency (src/explain/temporal.rs), blinks
//! (src/explain/blink.rs), their stored charts (src/explain/chart.rs, and the schema v5
//! migration of rows stored before) and `explain_video_series`.
//!
//! Blink tests use the astronaut photo with her eyes painted closed (skin-coloured lid and a lash
//! line, placed from MTCNN's eye landmarks) at known frames, in memory and through a real H.264
//! file made with the FFmpeg CLI and decoded with video-rs; the detected blinks must match
//! exactly.
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use image::{Rgb, RgbImage};
use tch::{Device, Kind, Tensor};
use verity::explain::blink::{
    analyse_blinks, chart as blink_chart, eye_openness, BlinkAssessment, BlinkConfig,
};
use verity::explain::chart::Chart;
use verity::explain::temporal::{
    analyse_track, chart as temporal_chart, landmark_jitter, robust_z, FrameRecord, SeriesKind,
    TemporalConfig, TemporalReport,
};
use verity::explain::{explain_video_series, ExplainConfig, TrackRecords};
use verity::faces::align::Similarity;
use verity::faces::mtcnn::{Detection, Mtcnn};

// ---------------------------------------------------------------------------------------------
// Temporal consistency.

/// A deterministic value in -1..1 (bounded, so it can never look like a 3.5-σ outlier).
fn wobble(i: usize, k: u32) -> f64 {
    ((i as f64 * 12.9898 + k as f64 * 78.233).sin() * 43758.5453).fract()
}

const BASE_LANDMARKS: [[f32; 2]; 5] = [
    [100.0, 100.0],
    [140.0, 101.0],
    [120.0, 125.0],
    [104.0, 145.0],
    [137.0, 146.0],
];

/// A 60-frame track at 10 fps: steady score, slowly varying embeddings and a head that moves
/// (shifts, turns in plane, comes closer) — plus planted anomalies: a score spike at frame 30,
/// an identity flicker at frame 41 (drift spikes entering and leaving it: 41 and 42), and a
/// mouth-corner landmark jump at frame 50 (jitter at 50 and 51).
fn synthetic_track() -> Vec<FrameRecord> {
    let mut base = vec![0f32; 64];
    let mut other = vec![0f32; 64];
    for d in 0..64 {
        base[d] = wobble(d, 1) as f32;
        other[d] = wobble(d, 2) as f32;
    }
    (0..60)
        .map(|i| {
            let t = i as f32;
            let head = Similarity {
                a: (1.0 + 0.01 * t) * (0.02 * t).cos(),
                b: (1.0 + 0.01 * t) * (0.02 * t).sin(),
                tx: 3.0 * t,
                ty: -t,
            };
            let mut lm = BASE_LANDMARKS.map(|p| head.apply(p));
            for (k, p) in lm.iter_mut().enumerate() {
                p[0] += 0.1 * wobble(i, 10 + k as u32) as f32;
                p[1] += 0.1 * wobble(i, 20 + k as u32) as f32;
            }
            if i == 50 {
                lm[3][1] += 6.0;
            }
            let (cx, cy) = (lm[2][0], lm[2][1]);
            let half = 45.0 * (1.0 + 0.01 * t);
            let clip: Vec<f32> = (0..64)
                .map(|d| {
                    if i == 41 {
                        other[d]
                    } else {
                        base[d] + 0.05 * wobble(i * 64 + d, 3) as f32
                    }
                })
                .collect();
            let cnn: Vec<f32> = (0..64)
                .map(|d| base[d] + 0.05 * wobble(i * 64 + d, 4) as f32)
                .collect();
            FrameRecord {
                frame: 3 * i as i64,
                pts_s: 0.1 * i as f64,
                score: Some(if i == 30 {
                    0.93
                } else {
                    0.2 + 0.02 * wobble(i, 5)
                }),
                clip_embedding: Some(clip),
                cnn_embedding: Some(cnn),
                landmarks: Some(lm),
                bbox: Some([cx - half, cy - half, cx + half, cy + half]),
                eye_openness: Some(0.5),
            }
        })
        .collect()
}

#[test]
fn temporal_spikes_are_exactly_the_planted_anomalies() {
    let mut records = synthetic_track();
    records.reverse(); // any order in, frame order out
    let report = analyse_track(7, &records, &TemporalConfig::default()).unwrap();
    assert_eq!(report.frames.len(), 60);
    assert!(report.frames.windows(2).all(|w| w[0] < w[1]));
    assert_eq!((report.clip_drift[0], report.jitter[0]), (None, None));
    let found: BTreeSet<(i64, &str)> = report
        .spikes
        .iter()
        .map(|s| (s.frame / 3, s.series.label()))
        .collect();
    let want: BTreeSet<(i64, &str)> = [
        (30, SeriesKind::Score.label()),
        (41, SeriesKind::ClipDrift.label()),
        (42, SeriesKind::ClipDrift.label()),
        (50, SeriesKind::Jitter.label()),
        (51, SeriesKind::Jitter.label()),
    ]
    .into_iter()
    .collect();
    for s in &report.spikes {
        eprintln!(
            "spike: {:<16} frame {:>3} value {:.4} z {:.1}",
            s.series.label(),
            s.frame,
            s.value,
            s.z
        );
    }
    assert_eq!(found, want);
    // Rigid head motion is not jitter: away from the planted jump it stays tiny.
    let calm = report
        .jitter
        .iter()
        .enumerate()
        .filter(|(i, _)| ![50, 51].contains(i))
        .filter_map(|(_, j)| *j);
    let worst = calm.fold(0f64, f64::max);
    eprintln!(
        "largest jitter away from the jump: {worst:.5} of the face diagonal; summary: {}",
        report.summary
    );
    assert!(worst < 0.005, "{worst}");
    assert!(
        report.summary.contains("5 spikes flagged") && report.summary.contains("score at frame 90"),
        "{}",
        report.summary
    );

    // Served to the UI as JSON, unchanged by the round trip.
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"clip_drift\"") && json.contains("\"series\":\"jitter\""));
    // (serde_json parses floats to within an ulp, so values are compared with a tolerance.)
    let back: TemporalReport = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (&back.frames, back.spikes.len(), &back.summary),
        (&report.frames, 5, &report.summary)
    );
    for (x, y) in [
        (&back.score, &report.score),
        (&back.clip_drift, &report.clip_drift),
        (&back.jitter, &report.jitter),
    ] {
        for (a, b) in x.iter().zip(y) {
            assert!(a
                .zip(*b)
                .map_or(a.is_none() && b.is_none(), |(a, b)| (a - b).abs()
                    <= 1e-12 * b.abs().max(1.0)));
        }
    }
}

#[test]
fn temporal_helpers_and_errors() {
    // Pure similarity motion leaves no jitter; a moved landmark does, scaled by the face size.
    let moved = Similarity {
        a: 1.3 * 0.5f32.cos(),
        b: 1.3 * 0.5f32.sin(),
        tx: 40.0,
        ty: -7.0,
    };
    let cur = BASE_LANDMARKS.map(|p| moved.apply(p));
    assert!(landmark_jitter(&BASE_LANDMARKS, &cur, &[0.0, 0.0, 60.0, 80.0]).unwrap() < 1e-5);
    let mut bent = BASE_LANDMARKS;
    bent[2][0] += 10.0;
    let j = landmark_jitter(&BASE_LANDMARKS, &bent, &[0.0, 0.0, 60.0, 80.0]).unwrap();
    let j2 = landmark_jitter(&BASE_LANDMARKS, &bent, &[0.0, 0.0, 120.0, 160.0]).unwrap();
    assert!(j > 0.01 && (j / j2 - 2.0).abs() < 1e-9, "{j} {j2}");
    assert_eq!(
        landmark_jitter(&BASE_LANDMARKS, &bent, &[5.0, 5.0, 5.0, 5.0]),
        None
    );

    // Robust z: median 3.5, MAD 1.5 → z = 0.6745 (x − 3.5) / 1.5; too few points → nothing.
    let z = robust_z(
        &[
            Some(1.0),
            Some(2.0),
            Some(3.0),
            None,
            Some(4.0),
            Some(5.0),
            Some(30.0),
        ],
        5,
    );
    let med_mad = |v: f64| 0.6745 * (v - 3.5) / 1.5;
    assert!((z[6].unwrap() - med_mad(30.0)).abs() < 1e-9, "{:?}", z[6]);
    assert_eq!(z[3], None);
    assert!(robust_z(&[Some(1.0), Some(9.0)], 5)
        .iter()
        .all(Option::is_none));

    // Two faces of one track in one frame, or embeddings that change length, are errors.
    let mut recs = synthetic_track();
    recs[5].frame = recs[4].frame;
    let msg = analyse_track(1, &recs, &TemporalConfig::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("two faces in frame 12"), "{msg}");
    let mut recs = synthetic_track();
    recs[9].cnn_embedding = Some(vec![1.0; 10]);
    let msg = analyse_track(1, &recs, &TemporalConfig::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("64 and 10"), "{msg}");
    // Broken timestamps are put back on the track's time line; good ones are kept.
    let fixed = verity::explain::temporal::repair_timestamps(
        &[0, 1, 2, 3, 5, 6],
        &[0.0, 0.1, f64::NAN, 0.3, 0.52, -4.5e14],
    );
    // (median rate: 0.105 s per frame, from 0.1 and 0.22 / 2)
    let want = [0.0, 0.1, 0.2, 0.3, 0.52, 0.625];
    assert!(
        fixed.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9),
        "{fixed:?}"
    );
    // Empty and one-frame tracks are fine.
    assert!(analyse_track(1, &[], &TemporalConfig::default())
        .unwrap()
        .spikes
        .is_empty());
    assert!(analyse_track(1, &recs[..1], &TemporalConfig::default())
        .unwrap()
        .spikes
        .is_empty());
}

/// A steady face (an untrained or very stable detector): tiny differences give huge robust
/// z-scores on a near-constant series, but none is big enough to notice, so none is flagged.
#[test]
fn negligible_changes_on_a_steady_track_are_not_spikes() {
    let mut records = synthetic_track();
    for (i, r) in records.iter_mut().enumerate() {
        r.score = Some(0.646 + 1e-6 * wobble(i, 5) + if i == 30 { 0.001 } else { 0.0 });
        for e in [&mut r.clip_embedding, &mut r.cnn_embedding] {
            let v = e.as_mut().unwrap();
            for (d, x) in v.iter_mut().enumerate() {
                *x = wobble(d, 1) as f32 + 1e-5 * wobble(i * 64 + d, 3) as f32;
            }
        }
        let lm = r.landmarks.as_mut().unwrap();
        if i == 50 {
            lm[3][1] += 0.2 - 6.0; // the planted 6-px jump becomes a fifth of a pixel
        }
    }
    let report = analyse_track(7, &records, &TemporalConfig::default()).unwrap();
    // The statistic alone would flag the 0.001 score blip ...
    let z = verity::explain::temporal::robust_z(
        &records.iter().map(|r| r.score).collect::<Vec<_>>(),
        5,
    );
    assert!(z[30].unwrap().abs() > 3.5, "{:?}", z[30]);
    // ... but it, the 1e-5 embedding noise and the fifth-of-a-pixel wobble are below the floors.
    assert!(report.spikes.is_empty(), "{:?}", report.spikes);
    assert!(
        report.summary.contains("no spikes flagged"),
        "{}",
        report.summary
    );
}

#[test]
fn temporal_chart_holds_every_series_and_marks_the_spikes() {
    let report = analyse_track(7, &synthetic_track(), &TemporalConfig::default()).unwrap();
    let chart = temporal_chart(&report);
    chart.validate().unwrap();
    assert_eq!(chart.track, 7);
    assert_eq!(chart.x, report.pts_s);
    assert_eq!(chart.frames, (0..60).map(|i| 3 * i).collect::<Vec<i64>>());
    assert_eq!(
        chart
            .panels
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["score", "drift", "jitter"]
    );
    assert_eq!(chart.panels[0].range, Some([0.0, 1.0]));
    // Every series of the report, 60 values each, exactly the report's numbers.
    for (name, panel, values) in [
        ("score", "score", &report.score),
        ("clip_drift", "drift", &report.clip_drift),
        ("cnn_drift", "drift", &report.cnn_drift),
        ("jitter", "jitter", &report.jitter),
    ] {
        let s = chart.series(name).unwrap();
        assert_eq!((s.panel.as_str(), s.values.len()), (panel, 60), "{name}");
        assert_eq!(&s.values, values, "{name}");
    }
    assert_eq!(chart.series("score").unwrap().values[30], Some(0.93));
    assert_eq!(chart.series("jitter").unwrap().values[0], None);
    // One mark per planted spike, on its series at its sample.
    let marks: BTreeSet<(&str, usize)> = chart
        .marks
        .iter()
        .map(|m| (m.series.as_str(), m.index))
        .collect();
    let want: BTreeSet<(&str, usize)> = [
        ("score", 30),
        ("clip_drift", 41),
        ("clip_drift", 42),
        ("jitter", 50),
        ("jitter", 51),
    ]
    .into_iter()
    .collect();
    assert_eq!(marks, want);
    assert!(chart
        .marks
        .iter()
        .all(|m| m.label.starts_with("spike, z = ")));
    assert_eq!(chart.details["spikes"].as_array().unwrap().len(), 5);
    // Stored as JSON and read back unchanged.
    let back: Chart = serde_json::from_value(chart.to_json().unwrap()).unwrap();
    assert_eq!(back.series.len(), 4);
    assert_eq!(back.frames, chart.frames);
    assert_eq!(back.marks, chart.marks);
}

// ---------------------------------------------------------------------------------------------
// Blinks.

/// Top-left of the 128×128 face crop of the astronaut photo the blink videos are made from.
const ORIGIN: (u32, u32) = (160, 50);

/// The astronaut's face (128×128 around it) and its MTCNN detection in that crop's pixels.
fn face() -> &'static (RgbImage, Detection) {
    static FACE: OnceLock<(RgbImage, Detection)> = OnceLock::new();
    FACE.get_or_init(|| {
        let photo = image::open(common::astronaut()).unwrap().to_rgb8();
        let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
        let mut det = mtcnn.detect(&[&photo]).unwrap().remove(0).remove(0);
        let (ox, oy) = (ORIGIN.0 as f32, ORIGIN.1 as f32);
        det.landmarks = det.landmarks.map(|p| [p[0] - ox, p[1] - oy]);
        det.bbox = [
            det.bbox[0] - ox,
            det.bbox[1] - oy,
            det.bbox[2] - ox,
            det.bbox[3] - oy,
        ];
        let crop = image::imageops::crop_imm(&photo, ORIGIN.0, ORIGIN.1, 128, 128).to_image();
        (crop, det)
    })
}

/// The eyes painted shut: a skin-coloured lid (the cheek's colour below each eye) over an
/// ellipse 0.6 × 0.34 inter-ocular distances, and a dark lash line across its lower middle.
fn close_eyes(img: &RgbImage, lm: &[[f32; 2]; 5]) -> RgbImage {
    let (l, r) = (lm[0], lm[1]);
    let iod = (r[0] - l[0]).hypot(r[1] - l[1]);
    let u = [(r[0] - l[0]) / iod, (r[1] - l[1]) / iod];
    let n = [-u[1], u[0]];
    let mut out = img.clone();
    for eye in [l, r] {
        // Skin: per-channel median of a 5×5 patch 0.35 IOD below the eye.
        let c = [eye[0] + 0.35 * iod * n[0], eye[1] + 0.35 * iod * n[1]];
        let mut skin = [0u8; 3];
        for (ch, s) in skin.iter_mut().enumerate() {
            let mut v: Vec<u8> = (-2..=2)
                .flat_map(|dy| (-2..=2).map(move |dx| (dx, dy)))
                .map(|(dx, dy)| {
                    img.get_pixel((c[0] as i32 + dx) as u32, (c[1] as i32 + dy) as u32)[ch]
                })
                .collect();
            v.sort_unstable();
            *s = v[12];
        }
        let (ax, ay) = (0.3 * iod, 0.17 * iod);
        for y in (eye[1] - iod * 0.4) as u32..(eye[1] + iod * 0.4) as u32 {
            for x in (eye[0] - iod * 0.4) as u32..(eye[0] + iod * 0.4) as u32 {
                let (dx, dy) = (x as f32 - eye[0], y as f32 - eye[1]);
                let (a, b) = (dx * u[0] + dy * u[1], dx * n[0] + dy * n[1]);
                if (a / ax).powi(2) + (b / ay).powi(2) <= 1.0 {
                    out.put_pixel(x, y, Rgb(skin));
                }
                if a.abs() < 0.24 * iod && (b - 0.05 * iod).abs() < 0.8 {
                    out.put_pixel(x, y, Rgb([95, 65, 55]));
                }
            }
        }
    }
    out
}

/// Frame `i` of a blink video: open or closed eyes, plus fresh sensor noise (σ = 2 levels).
fn frame(i: usize, closed: bool) -> RgbImage {
    let (open, det) = face();
    let base = if closed {
        close_eyes(open, &det.landmarks)
    } else {
        open.clone()
    };
    tch::manual_seed(1000 + i as i64);
    let noise =
        Vec::<f32>::try_from(Tensor::randn([128 * 128 * 3], (Kind::Float, Device::Cpu)) * 2.0)
            .unwrap();
    let raw: Vec<u8> = base
        .as_raw()
        .iter()
        .zip(&noise)
        .map(|(&v, &e)| (v as f32 + e).round().clamp(0.0, 255.0) as u8)
        .collect();
    RgbImage::from_raw(128, 128, raw).unwrap()
}

/// Landmarks of frame `i`: the detection, shaken by up to ±0.5 px as a detector would.
fn shaken_landmarks(i: usize) -> [[f32; 2]; 5] {
    let (_, det) = face();
    let mut lm = det.landmarks;
    for (k, p) in lm.iter_mut().enumerate() {
        p[0] += 0.5 * wobble(i, 30 + k as u32) as f32;
        p[1] += 0.5 * wobble(i, 40 + k as u32) as f32;
    }
    lm
}

#[test]
fn blinks_painted_at_known_frames_are_found_exactly() {
    // 20 s at 10 fps; blinks of 1, 2, 3 and 2 frames, and one 0.9 s closure (not a blink).
    let blinks: [&[usize]; 4] = [&[30], &[75, 76], &[120, 121, 122], &[170, 171]];
    let closure: Vec<usize> = (180..189).collect();
    let closed: BTreeSet<usize> = blinks
        .iter()
        .flat_map(|b| b.iter().copied())
        .chain(closure.iter().copied())
        .collect();
    let t0 = Instant::now();
    let samples: Vec<(i64, f64, Option<f32>)> = (0..200)
        .map(|i| {
            let o = eye_openness(&frame(i, closed.contains(&i)), &shaken_landmarks(i))
                .map(|e| e.mean());
            (i as i64, i as f64 / 10.0, o)
        })
        .collect();
    eprintln!("openness of 200 frames: {:.2?}", t0.elapsed());
    let open: Vec<f32> = samples
        .iter()
        .filter(|s| !closed.contains(&(s.0 as usize)))
        .filter_map(|s| s.2)
        .collect();
    let shut: Vec<f32> = samples
        .iter()
        .filter(|s| closed.contains(&(s.0 as usize)))
        .filter_map(|s| s.2)
        .collect();
    let range = |v: &[f32]| {
        (
            v.iter().copied().fold(f32::INFINITY, f32::min),
            v.iter().copied().fold(0f32, f32::max),
        )
    };
    eprintln!(
        "raw openness: open {:?}, closed {:?}",
        range(&open),
        range(&shut)
    );
    assert_eq!(open.len() + shut.len(), 200, "every frame measured");

    let cfg = BlinkConfig::default();
    let report = analyse_blinks(3, &samples, &cfg).unwrap();
    let found: Vec<(i64, usize)> = report
        .blinks
        .iter()
        .map(|b| (b.start_frame, b.samples))
        .collect();
    assert_eq!(found, [(30, 1), (75, 2), (120, 3), (170, 2)]);
    assert_eq!(report.blinks[2].start_s, 12.0);
    assert!((report.blinks[2].end_s - 12.3).abs() < 1e-9);
    assert_eq!(report.closures.len(), 1);
    assert_eq!(
        (report.closures[0].start_frame, report.closures[0].samples),
        (180, 9)
    );
    assert!((report.duration_s - 20.0).abs() < 1e-9 && (report.sample_rate_hz - 10.0).abs() < 1e-9);
    assert_eq!(report.per_minute, Some(12.0));
    assert_eq!(report.assessment, BlinkAssessment::Normal);
    eprintln!("finding: {}", report.finding);
    assert!(
        report
            .finding
            .starts_with("4 blinks in 20.0 s (12/min) — within the normal resting range (8–21/min"),
        "{}",
        report.finding
    );
    assert!(report.finding.contains("1 longer eye closure"));

    // The chart: the signal, the median and closed lines, blinks and the closure shaded.
    let chart = blink_chart(&report, &cfg);
    chart.validate().unwrap();
    let openness = &chart.series("openness").unwrap().values;
    assert_eq!(openness.len(), 200);
    assert_eq!(openness, &report.openness);
    assert!(
        openness[30].unwrap() < cfg.closed_fraction && openness[29].unwrap() > cfg.closed_fraction
    );
    assert_eq!(chart.frames, (0..200).collect::<Vec<i64>>());
    let lines: Vec<f64> = chart.panels[0].lines.iter().map(|l| l.y).collect();
    assert_eq!(lines, [1.0, cfg.closed_fraction]);
    let spans: Vec<(f64, &str)> = chart
        .spans
        .iter()
        .map(|s| (s.from, s.label.as_str()))
        .collect();
    assert_eq!(
        spans,
        [
            (3.0, "blink"),
            (7.5, "blink"),
            (12.0, "blink"),
            (17.0, "blink"),
            (18.0, "eye closure")
        ]
    );
    assert!((chart.spans[2].to - 12.3).abs() < 1e-9);
    assert_eq!(chart.details["per_minute"], 12.0);
    if let Some(dir) = std::env::var_os("VERITY_EXPLAIN_DUMP") {
        close_eyes(&face().0, &face().1.landmarks)
            .save(Path::new(&dir).join("closed.png"))
            .unwrap();
    }

    // Judging the rate: few blinks → below the range; short clips and slow sampling are said.
    let sparse: Vec<_> = samples
        .iter()
        .map(|&(f, t, o)| {
            (
                f,
                t,
                if (75..77).contains(&f) || f == 30 {
                    o
                } else {
                    Some(open[0])
                },
            )
        })
        .collect();
    let r = analyse_blinks(3, &sparse, &cfg).unwrap();
    assert_eq!(
        (r.blinks.len(), r.assessment),
        (2, BlinkAssessment::BelowNormal)
    );
    assert!(
        r.finding.contains("below the normal resting range"),
        "{}",
        r.finding
    );
    let short = analyse_blinks(3, &samples[..50], &cfg).unwrap();
    assert_eq!(short.assessment, BlinkAssessment::TooShort);
    let slow: Vec<_> = samples.iter().step_by(5).copied().collect();
    assert!(analyse_blinks(3, &slow, &cfg)
        .unwrap()
        .finding
        .contains("sampled at 2.0 fps"));
    let none = analyse_blinks(3, &[(0, 0.0, None), (1, 0.1, None)], &cfg).unwrap();
    assert_eq!(none.assessment, BlinkAssessment::NoSignal);
}

#[test]
fn eye_openness_refuses_what_it_cannot_measure() {
    let (img, det) = face();
    let e = eye_openness(img, &det.landmarks).unwrap();
    assert!(e.left > 0.25 && e.right > 0.25, "{e:?}");
    // Eyes 4 px apart, or at the border of the picture: no measurement, no panic.
    let mut close = det.landmarks;
    close[1] = [close[0][0] + 4.0, close[0][1]];
    assert_eq!(eye_openness(img, &close), None);
    let mut edge = det.landmarks;
    edge[0] = [1.0, 1.0];
    assert_eq!(eye_openness(img, &edge), None);
}

/// Decodes every frame of a video with video-rs: (index, seconds, RGB image).
fn decode_all(path: &Path) -> Vec<(i64, f64, RgbImage)> {
    video_rs::init().unwrap();
    let mut dec = video_rs::decode::Decoder::new(path).unwrap();
    let (w, h) = dec.size();
    let mut out = Vec::new();
    for item in dec.decode_iter() {
        match item {
            Ok((t, f)) => {
                let raw: Vec<u8> = f.iter().copied().collect();
                out.push((
                    out.len() as i64,
                    t.as_secs_f64(),
                    RgbImage::from_raw(w, h, raw).unwrap(),
                ));
            }
            Err(video_rs::Error::DecodeExhausted) | Err(video_rs::Error::ReadExhausted) => break,
            Err(e) => panic!("decode error: {e}"),
        }
    }
    out
}

#[test]
fn blinks_survive_h264_encoding_and_decoding() {
    // 12 s at 10 fps with blinks at frames 20 (1 frame), 55–56 and 90–92.
    let blinks: [&[usize]; 3] = [&[20], &[55, 56], &[90, 91, 92]];
    let closed: BTreeSet<usize> = blinks.iter().flat_map(|b| b.iter().copied()).collect();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..120 {
        frame(i, closed.contains(&i))
            .save(dir.path().join(format!("f{i:03}.png")))
            .unwrap();
    }
    let video = dir.path().join("blinks.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-framerate", "10", "-i"])
        .arg(dir.path().join("f%03d.png"))
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "20"])
        .arg(&video)
        .status()
        .expect("the FFmpeg CLI (apt ffmpeg) is needed for this test");
    assert!(status.success());

    let frames = decode_all(&video);
    assert_eq!(frames.len(), 120);
    let samples: Vec<(i64, f64, Option<f32>)> = frames
        .iter()
        .map(|(i, t, img)| {
            (
                *i,
                *t,
                eye_openness(img, &shaken_landmarks(*i as usize)).map(|e| e.mean()),
            )
        })
        .collect();
    // video-rs stamps the frames flushed at the end with garbage (≈ −4.5e14 s); the analysis
    // must repair them rather than lose the track's duration.
    eprintln!(
        "decoded timestamps, last three: {:?}",
        samples[117..].iter().map(|s| s.1).collect::<Vec<_>>()
    );
    let report = analyse_blinks(1, &samples, &BlinkConfig::default()).unwrap();
    eprintln!("decoded H.264: {}", report.finding);
    let found: Vec<(i64, usize)> = report
        .blinks
        .iter()
        .map(|b| (b.start_frame, b.samples))
        .collect();
    assert_eq!(found, [(20, 1), (55, 2), (90, 3)]);
    assert!(
        (report.blinks[1].start_s - 5.5).abs() < 1e-6,
        "{}",
        report.blinks[1].start_s
    );
    assert!(
        (report.per_minute.unwrap() - 15.0).abs() < 1e-6,
        "{:?}",
        report.per_minute
    );
    assert!(
        (report.pts_s[119] - 11.9).abs() < 1e-6,
        "{}",
        report.pts_s[119]
    );
    assert_eq!(report.assessment, BlinkAssessment::Normal);
}

#[test]
fn explain_video_series_reports_each_track_with_plots() {
    let mut a = synthetic_track();
    for (i, r) in a.iter_mut().enumerate() {
        r.eye_openness = Some(if i == 20 || i == 21 {
            0.05
        } else {
            0.5 + 0.02 * wobble(i, 9) as f32
        });
    }
    let b: Vec<FrameRecord> = synthetic_track()
        .into_iter()
        .take(10)
        .map(|r| FrameRecord {
            eye_openness: None,
            ..r
        })
        .collect();
    let tracks = [
        TrackRecords {
            track: 1,
            records: a,
        },
        TrackRecords {
            track: 2,
            records: b,
        },
    ];
    let out = explain_video_series(&tracks, &ExplainConfig::default()).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].temporal.spikes.len(), 5);
    assert_eq!(out[0].blink.blinks.len(), 1);
    assert_eq!(out[0].blink.blinks[0].start_frame, 60);
    assert!(
        out[0]
            .blink
            .finding
            .starts_with("1 blink in 6.0 s (10/min) — too short"),
        "{}",
        out[0].blink.finding
    );
    assert_eq!(out[1].blink.assessment, BlinkAssessment::NoSignal);
    // Each track's charts hold its own series, one value per sampled frame.
    for (t, n) in out.iter().zip([60, 10]) {
        for chart in [&t.temporal_chart, &t.blink_chart] {
            chart.validate().unwrap();
            assert_eq!(
                (chart.track, chart.x.len(), chart.frames.len()),
                (t.track, n, n)
            );
        }
        assert_eq!(
            t.temporal_chart.series("score").unwrap().values,
            t.temporal.score
        );
        assert_eq!(
            t.blink_chart.series("openness").unwrap().values,
            t.blink.openness
        );
    }
    assert_eq!(out[0].temporal_chart.marks.len(), 5);
    assert_eq!(out[0].blink_chart.spans.len(), 1);
    assert!(out[1]
        .blink_chart
        .series("openness")
        .unwrap()
        .values
        .iter()
        .all(Option::is_none));
    let json = serde_json::to_string(&out).unwrap();
    assert!(json.contains("\"finding\"") && !json.contains("temporal_chart"));
}

/// A database from before charts (v4) stored each track's report itself and a PNG: the v5
/// migration rewrites those rows into exactly the charts explain stores now, keeps the PNG, and
/// leaves rows of any other shape alone.
#[test]
fn the_v5_migration_turns_stored_reports_into_the_charts_stored_now() {
    use verity::store::Store;
    let mut a = synthetic_track();
    for (i, r) in a.iter_mut().enumerate() {
        r.eye_openness = Some(match i {
            20 | 21 | 40..=49 => 0.05,
            _ => 0.5 + 0.02 * wobble(i, 9) as f32,
        });
    }
    let out = explain_video_series(
        &[TrackRecords {
            track: 4,
            records: a,
        }],
        &ExplainConfig::default(),
    )
    .unwrap();
    let t = &out[0];
    assert_eq!(
        (
            t.blink.blinks.len(),
            t.blink.closures.len(),
            t.temporal.spikes.len()
        ),
        (1, 1, 5)
    );
    // A real v4 database: the v1–v4 steps exactly as `store::schema` has them (taken from its
    // source, so later migrations cannot make this something other than v4), with one analysed
    // case and the rows `verity explain` wrote then.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let schema = include_str!("../src/store/schema.rs");
    let steps: Vec<&str> = schema
        .split("r#\"")
        .skip(1)
        .map(|s| s.split("\"#").next().unwrap())
        .collect();
    assert!(
        steps.len() >= 5 && steps[4].contains("UPDATE explanations"),
        "{} steps",
        steps.len()
    );
    let png = "derived/a1/explain/track4_temporal.png";
    let ids: Vec<i64> = {
        let db = rusqlite::Connection::open(data.join("verity.db")).unwrap();
        for step in &steps[..4] {
            db.execute_batch(step).unwrap();
        }
        db.execute_batch(
            "PRAGMA user_version = 4;
             INSERT INTO media (id, sha256, original_name, original_path, kind, size_bytes, blob, imported_at)
                 VALUES (1, 'ab', 'v.mp4', '/v.mp4', 'video', 11, 'blobs/ab', '2026-01-01T00:00:00Z');
             INSERT INTO cases (id, media_id, title, created_at, updated_at, status, last_analysis_id)
                 VALUES (1, 1, 'v.mp4', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'done', 1);
             INSERT INTO analyses (id, case_id, started_at, finished_at, status, pid, settings_json)
                 VALUES (1, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 'done', 1, '{}');",
        )
        .unwrap();
        [
            ("temporal", serde_json::to_string(&t.temporal).unwrap()),
            ("blink", serde_json::to_string(&t.blink).unwrap()),
            ("temporal", r#"{"note":"some other shape"}"#.to_string()),
        ]
        .into_iter()
        .map(|(kind, json)| {
            db.execute(
                "INSERT INTO explanations (case_id, analysis_id, kind, space, blob, summary, data, created_at)
                 VALUES (1, 1, ?1, 'plot', ?2, ?1, ?3, '2026-01-01T00:00:02Z')",
                rusqlite::params![kind, png, json],
            )
            .unwrap();
            db.last_insert_rowid()
        })
        .collect()
    };
    let case = 1;
    let s = Store::open(&data).unwrap();
    // Migrated past v5 (later versions add their own steps).
    assert!(s.schema_version().unwrap() >= 5);
    let rows = s.explanations(case).unwrap();
    assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    // Compared as stored: both went through JSON text once.
    let stored =
        |c: &Chart| -> Chart { serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap() };
    for (row, want) in rows.iter().zip([&t.temporal_chart, &t.blink_chart]) {
        let got: Chart = serde_json::from_value(row.data.clone())
            .unwrap_or_else(|e| panic!("{} row: {e}: {}", row.kind, row.data));
        got.validate().unwrap();
        assert_eq!(got, stored(want), "{} row", row.kind);
        assert_eq!(row.blob.as_deref(), Some(png), "the old picture is kept");
    }
    assert_eq!(
        rows[2].data,
        serde_json::json!({"note": "some other shape"})
    );
}
