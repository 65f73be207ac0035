//! Concurrent writers on one store: the app and a CLI batch (two processes), or several stores
//! in one process (the app opens one per player/explain/PDF call). No verdict is lost, no case
//! is left `running`, a live analysis is never taken for a crashed one, and the database stays
//! consistent.
mod common;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use verity::store::*;

fn media(path: &Path) -> NewMedia {
    NewMedia {
        original_path: path.to_path_buf(),
        kind: "image".into(),
        size_bytes: 1,
        width: None,
        height: None,
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    }
}

fn outcome(scores: Vec<ScoreRow>) -> Outcome {
    Outcome {
        status: "done".into(),
        score: Some(0.25),
        band: Some("real".into()),
        profile: Some("p".into()),
        weight_hashes: vec![],
        untrained: true,
        message: None,
        scores,
    }
}

fn media_score(s: f64) -> ScoreRow {
    ScoreRow {
        level: "media".into(),
        face_id: None,
        frame_idx: None,
        track_id: None,
        score: s,
    }
}

fn frame(idx: i64) -> FrameRow {
    FrameRow {
        idx,
        source_index: idx,
        pts_s: idx as f64,
        keyframe: true,
        motion: 0.0,
        width: 4,
        height: 4,
    }
}

fn new_case(s: &mut Store, dir: &Path, name: &str) -> i64 {
    let f = dir.join(name);
    std::fs::write(&f, name.as_bytes()).unwrap();
    s.import(&media(&f), "t").unwrap().case_id
}

/// The owner of a running analysis is decided by its lock, not its pid: a live owner whose pid
/// means nothing here (another pid namespace, another OS) keeps its analysis; a dead owner
/// whose pid now belongs to some other live process loses it.
#[test]
fn recovery_follows_the_owner_lock_not_the_pid() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Store::open(dir.path()).unwrap();
    let case = new_case(&mut a, dir.path(), "v.mp4");
    let aid = a.begin_analysis(case, "{}", "cli").unwrap();
    a.conn()
        .execute("UPDATE analyses SET pid = 999999999 WHERE id = ?1", [aid])
        .unwrap();
    // The app opens the store while the analysis runs.
    let mut b = Store::open(dir.path()).unwrap();
    assert_eq!(b.case(case).unwrap().status, "running");
    assert_eq!(b.recover_interrupted().unwrap(), 0);
    // The owner finishes normally: its verdict is written.
    a.finish_analysis(aid, &outcome(vec![media_score(0.25)]), "cli")
        .unwrap();
    assert_eq!(b.case(case).unwrap().status, "done");

    // Second run: the owner dies (its store goes away without finishing) while its pid is
    // that of a live process (pid reuse).
    let aid = a.begin_analysis(case, "{}", "cli").unwrap();
    a.conn()
        .execute("UPDATE analyses SET pid = 1 WHERE id = ?1", [aid])
        .unwrap();
    drop(a);
    assert_eq!(b.recover_interrupted().unwrap(), 1);
    assert_eq!(b.case(case).unwrap().status, "interrupted");
    assert!(
        std::fs::read_dir(dir.path().join("locks"))
            .unwrap()
            .next()
            .is_none(),
        "no lock files left behind"
    );
}

/// A result that cannot be written marks the analysis failed with the reason.
#[test]
fn unwritable_result_marks_the_analysis_failed_not_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let case = new_case(&mut s, dir.path(), "x.jpg");
    let aid = s.begin_analysis(case, "{}", "t").unwrap();
    // A face score pointing at a face that does not exist: the foreign key refuses it.
    let bad = ScoreRow {
        level: "face".into(),
        face_id: Some(424242),
        frame_idx: Some(0),
        track_id: Some(1),
        score: 0.9,
    };
    assert!(s.finish_analysis(aid, &outcome(vec![bad]), "t").is_err());
    let c = s.case(case).unwrap();
    assert_eq!(c.status, "failed");
    assert!(
        c.message.unwrap().contains("could not be saved"),
        "the reason is shown"
    );
    let st: String = s
        .conn()
        .query_row("SELECT status FROM analyses WHERE id = ?1", [aid], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(st, "failed");
}

/// Eight processes' worth of stores open a brand-new database at the same moment: each
/// migration runs once, and everybody gets a working store.
#[test]
fn simultaneous_first_opens_migrate_once() {
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (p, b) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    b.wait();
                    Store::open(&p).map(|s| s.schema_version().unwrap())
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap().unwrap(), verity::store::SCHEMA_VERSION);
        }
        let s = Store::open(&path).unwrap();
        let migrations: i64 = s
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM audit WHERE action = 'schema_migrated'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(migrations, verity::store::SCHEMA_VERSION, "v0→v1, v1→v2, …: each once");
        s.integrity_check().unwrap();
    }
}

/// Two writers in one process with their own connections: one keeps starting and finishing
/// analyses (read-then-write transactions), the other reviews and explains. With deferred
/// transactions the read-then-write upgrade fails at once with BUSY_SNAPSHOT.
#[test]
fn interleaved_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let (c1, c2) = {
        let mut s = Store::open(&path).unwrap();
        (
            new_case(&mut s, &path, "one.jpg"),
            new_case(&mut s, &path, "two.jpg"),
        )
    };
    let rounds = 60;
    let p1 = path.clone();
    let analyst = std::thread::spawn(move || {
        let mut s = Store::open(&p1).unwrap();
        for i in 0..rounds {
            let aid = s.begin_analysis(c1, "{}", "cli").unwrap();
            s.add_frames(aid, &[frame(0)], &[]).unwrap();
            s.finish_analysis(aid, &outcome(vec![media_score(i as f64 / 100.0)]), "cli")
                .unwrap();
        }
    });
    let p2 = path.clone();
    let reviewer = std::thread::spawn(move || {
        let mut s = Store::open(&p2).unwrap();
        let aid = s.begin_analysis(c2, "{}", "app").unwrap();
        s.finish_analysis(aid, &outcome(vec![]), "app").unwrap();
        for i in 0..rounds {
            s.add_review(c2, Verdict::Fake, "Ada", &format!("r{i}"))
                .unwrap();
            s.add_explanation(
                &NewExplanation {
                    case_id: c2,
                    analysis_id: aid,
                    face_id: None,
                    frame_idx: None,
                    kind: "temporal".into(),
                    space: "plot".into(),
                    blob: None,
                    summary: format!("e{i}"),
                    data: serde_json::json!({}),
                },
                "Ada",
            )
            .unwrap();
            // The app opens a fresh store for each player/explain/PDF call.
            drop(Store::open(&p2).unwrap());
        }
    });
    analyst.join().unwrap();
    reviewer.join().unwrap();
    let s = Store::open(&path).unwrap();
    assert_eq!(s.reviews(c2).unwrap().len(), rounds);
    let done: i64 = s
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM analyses WHERE case_id = ?1 AND status = 'done'",
            [c1],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(done, rounds as i64);
    s.integrity_check().unwrap();
}

/// A 60-frame video (the FFmpeg CLI), made once per test run.
fn video_60_frames(dir: &Path) -> PathBuf {
    let out = dir.join("sixty.mp4");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(common::astronaut())
        .args([
            "-vf",
            "scale=128:128,zoompan=z='1+0.002*on':d=60:s=128x128:fps=10",
            "-frames:v",
            "60",
            "-r",
            "10",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    out
}

/// Two processes on one store: the `verity` CLI analyses a 60-frame video (UNTRAINED tiny
/// profile) again and again, while this process does what the app does on other cases —
/// opens a store per call, finishes analyses, records reviews, stores explanations — for 20
/// rounds. Nothing is lost, nothing is left running, the database is intact.
#[test]
fn cli_analysis_and_app_writes_on_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let models = dir.path().join("models");
    let profile = models.join("profiles/tiny-untrained");
    verity::models::profile::create_random_profile(&profile, "tiny", 7).unwrap();
    let video = video_60_frames(dir.path());
    let bin = env!("CARGO_BIN_EXE_verity");
    let cli = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .args(["--json", "--data-dir"])
            .arg(&data)
            .env("VERITY_MODELS_DIR", &models)
            .env("VERITY_CONFIG", dir.path().join("none.toml"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let analyse = |c: &mut Command| {
        c.args(["--profile", "tiny-untrained", "--fps", "10"]);
    };
    // Other cases for the "app" to work on.
    let cases: Vec<i64> = {
        let mut s = Store::open(&data).unwrap();
        (0..4)
            .map(|i| new_case(&mut s, dir.path(), &format!("other{i}.jpg")))
            .collect()
    };
    // A reviewer keeps writing the whole time (the app's review queue), so every CLI
    // transaction competes with commits from this process.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let (data, stop, case) = (data.clone(), stop.clone(), cases[0]);
        std::thread::spawn(move || {
            let mut s = Store::open(&data).unwrap();
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                s.add_review(case, Verdict::Unsure, "Bob", &format!("queue {n}"))
                    .unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };
    let mut first = cli(&["analyze"]);
    first.arg(&video);
    analyse(&mut first);
    let mut child = first.spawn().unwrap();
    let mut cli_runs = 0usize;
    let mut outputs = Vec::new();
    let mut video_case: Option<i64> = None;
    let mut overlapped = 0usize;
    let t0 = Instant::now();
    let rounds = 20;
    for round in 0..rounds {
        assert!(t0.elapsed() < Duration::from_secs(300), "took too long");
        // Keep the CLI busy: when its run ends, start a re-run of the video's case.
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(
                matches!(st.code(), Some(0) | Some(4)),
                "CLI run failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
            cli_runs += 1;
            let s = Store::open(&data).unwrap();
            let vc = s
                .list_cases(&CaseFilter {
                    search: Some("sixty".into()),
                    ..Default::default()
                })
                .unwrap()[0]
                .id;
            video_case = Some(vc);
            let mut c = cli(&["rerun", &vc.to_string()]);
            c.args(["--profile", "tiny-untrained"]);
            child = c.spawn().unwrap();
        }
        let case = cases[round % cases.len()];
        // Each call opens its own store, as the app's commands do.
        {
            let mut s = Store::open(&data).unwrap();
            if s.list_cases(&CaseFilter {
                band: Some("running".into()),
                ..Default::default()
            })
            .unwrap()
            .iter()
            .any(|c| c.title.contains("sixty"))
            {
                overlapped += 1;
            }
            let aid = s.begin_analysis(case, "{}", "app").unwrap();
            s.add_frames(aid, &[frame(0), frame(1)], &[]).unwrap();
            s.finish_analysis(aid, &outcome(vec![media_score(round as f64 / 40.0)]), "app")
                .unwrap();
        }
        {
            let mut s = Store::open(&data).unwrap();
            s.add_review(case, Verdict::Real, "Ada", &format!("round {round}"))
                .unwrap();
        }
        {
            let mut s = Store::open(&data).unwrap();
            let aid: i64 = s
                .conn()
                .query_row(
                    "SELECT last_analysis_id FROM cases WHERE id = ?1",
                    [case],
                    |r| r.get(0),
                )
                .unwrap();
            let png = s
                .blobs
                .put_derived(&format!("c{case}-r{round}.png"), b"png")
                .unwrap();
            s.add_explanation(
                &NewExplanation {
                    case_id: case,
                    analysis_id: aid,
                    face_id: None,
                    frame_idx: None,
                    kind: "noise".into(),
                    space: "crop".into(),
                    blob: Some(png),
                    summary: format!("round {round}"),
                    data: serde_json::json!({"round": round}),
                },
                "Ada",
            )
            .unwrap();
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let out = child.wait_with_output().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let hammered = hammer.join().unwrap();
    assert!(
        matches!(out.status.code(), Some(0) | Some(4)),
        "CLI run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    cli_runs += 1;
    assert!(
        overlapped >= 3,
        "the CLI analysis must have been running during the app's writes (saw it {overlapped} times)"
    );

    let s = Store::open(&data).unwrap();
    s.integrity_check().unwrap();
    let quick: String = s
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(quick, "ok");
    // 0 cases and 0 analyses left running.
    let running: i64 = s
        .conn()
        .query_row(
            "SELECT (SELECT COUNT(*) FROM cases WHERE status = 'running') + (SELECT COUNT(*) FROM analyses WHERE status = 'running')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(running, 0);
    // 0 lost verdicts: every review, every app analysis and every CLI run is stored, each CLI
    // run with the verdict it printed.
    let reviews: usize = cases.iter().map(|c| s.reviews(*c).unwrap().len()).sum();
    assert_eq!(reviews, rounds + hammered);
    let app_done: i64 = s
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM analyses a JOIN cases c ON c.id = a.case_id
             WHERE c.title LIKE 'other%' AND a.status = 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(app_done, rounds as i64);
    let vc = video_case.unwrap_or_else(|| {
        s.list_cases(&CaseFilter {
            search: Some("sixty".into()),
            ..Default::default()
        })
        .unwrap()[0]
            .id
    });
    let cli_scores: Vec<(String, Option<f64>)> = s
        .conn()
        .prepare("SELECT status, (SELECT score FROM scores WHERE analysis_id = a.id AND level = 'media') FROM analyses a WHERE case_id = ?1 ORDER BY id")
        .unwrap()
        .query_map([vc], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(cli_scores.len(), cli_runs, "one analysis per CLI run");
    for ((status, score), printed) in cli_scores.iter().zip(&outputs) {
        assert_eq!(status, "done", "{printed}");
        let j: serde_json::Value = serde_json::from_str(printed.lines().last().unwrap()).unwrap();
        let printed_score = j["score"].as_f64().unwrap();
        assert!(
            (score.unwrap() - printed_score).abs() < 1e-9,
            "the stored verdict is the one the CLI printed"
        );
        assert_eq!(j["frames"].as_u64(), Some(60), "{printed}");
    }
    let c = s.case(vc).unwrap();
    assert_eq!(c.status, "done");
    assert!(c.untrained);
    // No analysis was ever marked interrupted while its owner was alive.
    assert!(!s
        .audit_log(None)
        .unwrap()
        .iter()
        .any(|a| a.action == "analysis_interrupted"));
}
