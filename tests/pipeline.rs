//! The analysis pipeline end to end on real media: the astronaut photo and videos made from it.
mod common;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use verity::config::Settings;
use verity::pipeline::{Analyzer, Progress};
use verity::store::{CaseFilter, Store};

fn settings(root: &Path) -> Settings {
    Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("models")),
        device: verity::device::DevicePref::Cpu,
        ..Settings::default()
    }
}

fn untrained_profile(s: &mut Settings) {
    let dir = s.models_dir().join("profiles/tiny-untrained");
    verity::models::profile::create_random_profile(&dir, "tiny", 7).unwrap();
    s.profile = Some("tiny-untrained".into());
}

fn quiet(_: &Progress) {}

#[test]
fn image_without_weights_is_not_scored_but_faces_are_found_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let sum = a
        .analyze_path(
            &mut store,
            &common::astronaut(),
            "t",
            &quiet,
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(sum.status, "not_scored");
    assert_eq!(sum.score, None);
    assert_eq!(sum.verdict, "not scored");
    let msg = sum.message.unwrap();
    assert!(msg.contains("verity models fetch"), "{msg}");
    assert_eq!((sum.frames, sum.faces), (1, 1));
    let d = store.case_detail(sum.case_id).unwrap();
    assert_eq!(d.case.status, "not_scored");
    assert_eq!(d.faces.len(), 1);
    let f = &d.faces[0];
    // The astronaut's face: box in the upper middle of the 512² photo, eyes above the mouth.
    assert!(
        f.bbox[0] > 120.0 && f.bbox[2] < 320.0 && f.bbox[1] > 30.0 && f.bbox[3] < 260.0,
        "{:?}",
        f.bbox
    );
    assert!(f.landmarks[0][1] < f.landmarks[3][1]);
    let crop = image::open(store.blobs.path(f.crop.as_ref().unwrap())).unwrap();
    assert_eq!((crop.width(), crop.height()), (224, 224));
    // Beside the detector's input, the face at the photo's own resolution for the gallery: the
    // astronaut's face is ≈ 60 px eye-to-mouth, so its native crop is smaller than 224², not an
    // upscaled thumbnail; stored as JPEG.
    let native_rel = f.native_crop.as_ref().unwrap();
    assert!(native_rel.ends_with(".native.jpg"), "{native_rel}");
    let native = image::open(store.blobs.path(native_rel)).unwrap();
    assert_eq!(native.width(), native.height());
    assert!((80..224).contains(&native.width()), "{}", native.width());
    assert!(d.scores.is_empty());
}

#[test]
fn untrained_profile_scores_are_labelled_untrained_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    untrained_profile(&mut s);
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let sum = a
        .analyze_path(
            &mut store,
            &common::astronaut(),
            "t",
            &quiet,
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(sum.status, "done");
    assert!(sum.untrained);
    let score = sum.score.unwrap();
    assert!((0.0..=1.0).contains(&score));
    assert!(sum.verdict.starts_with("UNTRAINED"), "{}", sum.verdict);
    let d = store.case_detail(sum.case_id).unwrap();
    assert!(d.case.untrained);
    assert!(d.case.message.unwrap().contains("not a verdict"));
    let untrained_rows: i64 = store
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM scores WHERE untrained = 1 AND analysis_id = ?1",
            [sum.analysis_id.unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(untrained_rows as usize, d.scores.len());
    assert!(d
        .scores
        .iter()
        .any(|r| r.level == "media" && (r.score - score).abs() < 1e-12));
    assert!(d.faces[0].score.is_some());
    // The embeddings temporal analysis reads are kept with the face.
    let (clip, cnn) = store
        .embeddings(d.faces[0].id)
        .unwrap()
        .expect("embeddings stored");
    assert!(!clip.is_empty() && clip.iter().all(|v| v.is_finite()));
    assert!(cnn.is_some());
}

#[test]
fn video_is_sampled_tracked_and_aggregated() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    untrained_profile(&mut s);
    s.fps = 5.0;
    let video = common::face_video(dir.path(), 2, 10, 256);
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let events = std::cell::RefCell::new(Vec::new());
    let cb = |e: &Progress| {
        events.borrow_mut().push(
            serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    let sum = a
        .analyze_path(&mut store, &video, "t", &cb, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(sum.status, "done", "{:?}", sum.message);
    assert!(
        (9..=11).contains(&sum.frames),
        "2 s at 5 fps ≈ 10 frames, got {}",
        sum.frames
    );
    assert_eq!(sum.faces, sum.frames, "one face per frame");
    assert_eq!(sum.tracks, 1, "a slowly zooming face keeps one track");
    let d = store.case_detail(sum.case_id).unwrap();
    let frame_scores = d.scores.iter().filter(|r| r.level == "frame").count();
    assert_eq!(frame_scores, sum.frames);
    assert_eq!(d.scores.iter().filter(|r| r.level == "track").count(), 1);
    let ev = events.borrow();
    assert_eq!(ev.first().map(String::as_str), Some("imported"));
    assert!(ev.iter().any(|e| e == "frames"));
    assert_eq!(ev.last().map(String::as_str), Some("finished"));
    // Re-importing the same content finds the case.
    let again = a
        .analyze_path(&mut store, &video, "t", &quiet, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(again.case_id, sum.case_id);
    assert_eq!(store.list_cases(&CaseFilter::default()).unwrap().len(), 1);
}

#[test]
fn bad_inputs_fail_clearly_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let good = a
        .analyze_path(
            &mut store,
            &common::astronaut(),
            "t",
            &quiet,
            &AtomicBool::new(false),
        )
        .unwrap();
    // Truncated PNG: a case with a readable failure, not a crash.
    let bytes = std::fs::read(common::astronaut()).unwrap();
    let trunc = dir.path().join("truncated.png");
    std::fs::write(&trunc, &bytes[..bytes.len() / 3]).unwrap();
    match a.analyze_path(&mut store, &trunc, "t", &quiet, &AtomicBool::new(false)) {
        Ok(sum) => {
            assert_eq!(sum.status, "failed");
            assert!(!sum.message.unwrap_or_default().is_empty());
        }
        Err(e) => assert!(e.to_string().contains("truncated.png"), "{e}"),
    }
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let e = a
        .analyze_path(&mut store, &empty, "t", &quiet, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    let e = a
        .analyze_path(
            &mut store,
            &dir.path().join("missing.jpg"),
            "t",
            &quiet,
            &AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.jpg"), "{e}");
    // The earlier case is untouched.
    let d = store.case_detail(good.case_id).unwrap();
    assert_eq!(d.case.status, "not_scored");
    assert_eq!(d.faces.len(), 1);
    store.integrity_check().unwrap();
}

#[test]
fn no_face_is_reported_and_full_frame_scoring_is_opt_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    untrained_profile(&mut s);
    let flat = dir.path().join("wall.png");
    image::RgbImage::from_fn(320, 240, |x, _| image::Rgb([(x % 256) as u8, 90, 120]))
        .save(&flat)
        .unwrap();
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let sum = a
        .analyze_path(&mut store, &flat, "t", &quiet, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(sum.status, "not_scored");
    assert!(sum.message.unwrap().contains("No face found"));
    s.score_full_frame_without_face = true;
    let a = Analyzer::new(&s).unwrap();
    let sum = a
        .analyze_case(
            &mut store,
            sum.case_id,
            "t",
            &quiet,
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(sum.status, "done");
    assert_eq!(sum.faces, 1);
    assert!(store.case_detail(sum.case_id).unwrap().faces[0].full_frame);
}

#[test]
fn cancel_stops_the_analysis_and_marks_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let video = common::face_video(dir.path(), 2, 10, 160);
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    // Cancelled before the import finished: nothing is copied, no case is made.
    let err = a
        .analyze_path(&mut store, &video, "t", &quiet, &AtomicBool::new(true))
        .unwrap_err();
    assert!(matches!(err, verity::Error::Cancelled), "{err}");
    assert!(store.list_cases(&CaseFilter::default()).unwrap().is_empty());
    // Cancelled once the analysis started: the case exists and says so.
    let cancel = AtomicBool::new(false);
    let on = |p: &Progress| {
        if matches!(p, Progress::Started { .. }) {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let sum = a
        .analyze_path(&mut store, &video, "t", &on, &cancel)
        .unwrap();
    assert_eq!(sum.status, "cancelled");
    assert_eq!(store.case(sum.case_id).unwrap().status, "cancelled");
}

/// kill -9 in the middle of an analysis leaves a consistent database; the case shows as
/// interrupted and re-running it completes.
#[test]
fn kill_9_during_analysis_then_recover_and_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let video = common::face_video(dir.path(), 12, 10, 320);
    let data = s.data_dir();
    let bin = env!("CARGO_BIN_EXE_verity");
    let mut child = Command::new(bin)
        .args(["analyze", "--json", "--data-dir"])
        .arg(&data)
        .arg(&video)
        .env("VERITY_MODELS_DIR", dir.path().join("models"))
        .env("VERITY_CONFIG", dir.path().join("none.toml"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some frames are committed, then kill without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "analysis never wrote frames"
        );
        if let Ok(c) = rusqlite::Connection::open(data.join("verity.db")) {
            let n: i64 = c
                .query_row("SELECT COUNT(*) FROM frames", [], |r| r.get(0))
                .unwrap_or(0);
            if n >= 8 {
                break;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "analysis finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let store = Store::open(&data).unwrap();
    store.integrity_check().unwrap();
    let cases = store.list_cases(&CaseFilter::default()).unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].status, "interrupted");
    drop(store);
    let out = Command::new(bin)
        .args(["rerun", &cases[0].id.to_string(), "--json", "--data-dir"])
        .arg(&data)
        .env("VERITY_MODELS_DIR", dir.path().join("models"))
        .env("VERITY_CONFIG", dir.path().join("none.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "not scored (no weights) → exit 4; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = Store::open(&data).unwrap();
    let c = store.case(cases[0].id).unwrap();
    assert_eq!(c.status, "not_scored");
    store.integrity_check().unwrap();
    let d = store.case_detail(c.id).unwrap();
    assert!(
        (59..=61).contains(&d.frames.len()),
        "12 s at 5 fps = 60 frames, got {}",
        d.frames.len()
    );
}

#[test]
fn fusion_and_precision_settings_apply_or_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    untrained_profile(&mut s);
    let mut store = Store::open(&s.data_dir()).unwrap();
    let mut scores = vec![];
    for mode in ["weighted:0", "weighted:1", "slerp:0.5"] {
        s.fusion = Some(mode.into());
        let a = Analyzer::new(&s).unwrap();
        assert_eq!(a.detector().unwrap().profile().fusion.to_string(), mode);
        let sum = a
            .analyze_path(
                &mut store,
                &common::astronaut(),
                "t",
                &quiet,
                &AtomicBool::new(false),
            )
            .unwrap();
        scores.push(sum.score.unwrap());
    }
    // α = 0 (CLIP only) and α = 1 (CNN only) are different detectors on the same weights.
    assert_ne!(scores[0], scores[1]);
    s.fusion = Some("concat".into());
    let e = Analyzer::new(&s).err().unwrap().to_string();
    assert!(e.contains("concat"), "{e}");
    // Half precision on the CPU falls back to fp32 instead of failing.
    s.fusion = None;
    s.precision = verity::config::Precision::Fp16;
    let a = Analyzer::new(&s).unwrap();
    assert_eq!(a.detector().unwrap().precision(), tch::Kind::Float);
}

/// A live stream (UDP MPEG-TS from the FFmpeg CLI, as a camera would send) is recorded for
/// `live_seconds` into a frame folder and analysed as an ordinary case.
#[test]
fn live_stream_is_recorded_and_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.live_seconds = 1.0;
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("udp://127.0.0.1:{port}");
    let mut sender = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-re",
            "-loop",
            "1",
            "-i",
        ])
        .arg(common::astronaut())
        .args([
            "-vf",
            "scale=256:256",
            "-r",
            "25",
            "-t",
            "20",
            "-c:v",
            "mpeg2video",
            "-g",
            "5",
            "-f",
            "mpegts",
        ])
        .arg(format!("{url}?pkt_size=1316"))
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let sum = a.analyze_path(
        &mut store,
        Path::new(&url),
        "t",
        &quiet,
        &AtomicBool::new(false),
    );
    let _ = sender.kill();
    let _ = sender.wait();
    let sum = sum.unwrap();
    assert_eq!(sum.status, "not_scored");
    assert!(
        (4..=6).contains(&sum.frames),
        "1 s at 5 fps ≈ 5 frames, got {}",
        sum.frames
    );
    assert!(
        sum.faces >= 4,
        "the astronaut is in the stream: {} faces",
        sum.faces
    );
    assert_eq!(
        store.media_of_case(sum.case_id).unwrap().kind,
        "framefolder"
    );
}

#[test]
fn an_analysis_opens_the_video_once_to_import_and_once_to_decode() {
    let dir = tempfile::tempdir().unwrap();
    let video = common::face_video(dir.path(), 2, 10, 160);
    let s = settings(dir.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    // The analysis runs on this thread; the counter is this thread's.
    let before = verity::media::video::opens_on_this_thread();
    let sum = a
        .analyze_path(&mut store, &video, "t", &quiet, &AtomicBool::new(false))
        .unwrap();
    let opens = verity::media::video::opens_on_this_thread() - before;
    assert!(sum.frames > 0, "{sum:?}");
    // Provenance reads the original's container tags and GOP once per media, at import.
    assert!(
        opens <= 3,
        "{opens} FFmpeg opens for one analysis: one to probe the original before import, one to \
         read its provenance (container tags, GOP) and one to probe and decode the stored copy \
         are enough"
    );
    // A rerun of the stored copy opens it once (its provenance is already stored).
    let before = verity::media::video::opens_on_this_thread();
    a.analyze_case(
        &mut store,
        sum.case_id,
        "t",
        &quiet,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(verity::media::video::opens_on_this_thread() - before, 1);
}
