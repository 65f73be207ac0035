//! Device failures contained: a batch that runs out of memory is split and retried (every face
//! still scored, the same scores), a single face that does not fit fails only its case, and a
//! GPU that disappears mid-analysis fails that case with a clear message while the worker goes
//! on on the CPU. Failures are forced with `failover::inject` (no test machine can lose a GPU
//! on purpose); the plan is process-wide, so these tests take turns.
mod common;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use verity::config::Settings;
use verity::failover::inject::{self, Plan};
use verity::pipeline::{Analyzer, Progress};
use verity::store::Store;
use verity::worker::{Event, JobKind, Worker};

static TURN: Mutex<()> = Mutex::new(());

/// Clears the plan when a test ends, even by a failed assertion.
struct PlanGuard;
impl Drop for PlanGuard {
    fn drop(&mut self) {
        inject::set(None);
    }
}

fn settings(root: &Path) -> Settings {
    common::tiny_settings(root)
}

fn quiet(_: &Progress) {}

fn face_scores(store: &Store, case_id: i64) -> Vec<(i64, f64)> {
    let d = store.case_detail(case_id).unwrap();
    let mut v: Vec<(i64, f64)> = d
        .scores
        .iter()
        .filter(|r| r.level == "face")
        .map(|r| (r.frame_idx.unwrap(), r.score))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn batches_that_run_out_of_memory_are_split_and_every_face_is_scored_the_same() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let _clear = PlanGuard;
    let dir = tempfile::tempdir().unwrap();
    // Two seconds at 10 fps: 10 frames sampled at 5 fps, one face each.
    let video = common::face_video(dir.path(), 2, 10, 256);

    // Reference: no forced failure.
    let s = settings(&dir.path().join("plain"));
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let plain = a
        .analyze_path(&mut store, &video, "t", &quiet, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(plain.status, "done", "{:?}", plain.message);
    assert!(plain.faces >= 8, "{} faces", plain.faces);
    let plain_scores = face_scores(&store, plain.case_id);

    // Any batch of more than 2 frames or faces "runs out of memory".
    let s = settings(&dir.path().join("oom"));
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    inject::set(Some(Plan {
        oom_above: Some(2),
        ..Plan::default()
    }));
    let split = a
        .analyze_path(&mut store, &video, "t", &quiet, &AtomicBool::new(false))
        .unwrap();
    inject::set(None);
    assert_eq!(split.status, "done", "{:?}", split.message);
    assert_eq!(
        (split.frames, split.faces),
        (plain.frames, plain.faces),
        "nothing lost"
    );
    assert!(
        a.detector().unwrap().oom_splits() > 0,
        "scoring batches split"
    );
    assert!(a.mtcnn().oom_splits() > 0, "detection batches split");
    let split_scores = face_scores(&store, split.case_id);
    assert_eq!(split_scores.len(), plain_scores.len());
    for ((fa, pa), (fb, pb)) in plain_scores.iter().zip(&split_scores) {
        assert_eq!(fa, fb);
        assert!((pa - pb).abs() < 1e-4, "frame {fa}: {pa} vs {pb}");
    }
    assert!((plain.score.unwrap() - split.score.unwrap()).abs() < 1e-4);
}

#[test]
fn a_face_that_does_not_fit_even_alone_fails_only_its_case() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let _clear = PlanGuard;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    inject::set(Some(Plan {
        oom_above: Some(0),
        stage: Some("score"),
        ..Plan::default()
    }));
    let failed = a
        .analyze_path(
            &mut store,
            &common::astronaut(),
            "t",
            &quiet,
            &AtomicBool::new(false),
        )
        .unwrap();
    inject::set(None);
    assert_eq!(failed.status, "failed");
    let msg = failed.message.clone().unwrap();
    assert!(msg.contains("out of memory on cuda:0"), "{msg}");
    assert!(msg.contains("re-run the case"), "{msg}");
    assert!(!a.device_failed(), "out of memory is not a lost device");
    // Stored and recorded as failed, and the case scores once memory is there again.
    let d = store.case_detail(failed.case_id).unwrap();
    assert_eq!(d.case.status, "failed");
    let again = a
        .analyze_case(
            &mut store,
            failed.case_id,
            "t",
            &quiet,
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(again.status, "done", "{:?}", again.message);
}

#[test]
fn a_gpu_that_disappears_fails_the_case_and_the_worker_goes_on_on_the_cpu() {
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let _clear = PlanGuard;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    // What a desk with a GPU runs: auto (on a machine without CUDA this is the CPU already;
    // the fallback is then seen in the reload and the recorded device).
    s.device = verity::device::DevicePref::Auto;
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = events.clone();
    let worker = Worker::spawn(s.clone(), move |e| sink.lock().unwrap().push(e.clone())).unwrap();
    // The first scoring batch fails as a GPU falling off the bus would.
    inject::set(Some(Plan {
        device_lost_after: Some(0),
        stage: Some("score"),
        ..Plan::default()
    }));
    let first = worker.enqueue(JobKind::Analyze {
        path: common::astronaut(),
    });
    wait_final(&events, first);
    inject::set(None);
    let mirrored = dir.path().join("mirrored.png");
    image::open(common::astronaut())
        .unwrap()
        .fliph()
        .save(&mirrored)
        .unwrap();
    let second = worker.enqueue(JobKind::Analyze { path: mirrored });
    wait_final(&events, second);
    let ev = events.lock().unwrap().clone();
    let failed = ev.iter().find_map(|e| match e {
        Event::Failed {
            job,
            message,
            case_id,
            ..
        } if *job == first => Some((message.clone(), *case_id)),
        _ => None,
    });
    let (msg, case) = failed.expect("the first job failed");
    assert!(msg.contains("compute device cuda:0 failed"), "{msg}");
    assert!(msg.contains("later analyses run on the CPU"), "{msg}");
    let finished = ev.iter().find_map(|e| match e {
        Event::Finished { job, summary, .. } if *job == second => Some(summary.clone()),
        _ => None,
    });
    let summary = finished.expect("the worker went on and finished the next job");
    assert_eq!(summary.status, "done", "{:?}", summary.message);
    // The models were dropped and loaded again (on the CPU) for the next job.
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::LoadingModels { job } if *job == second)),
        "models reloaded after the device failed: {ev:?}"
    );
    drop(worker);
    let store = Store::open(&s.data_dir()).unwrap();
    let compute = store
        .analysis_compute(summary.analysis_id.unwrap())
        .unwrap()
        .unwrap();
    assert!(compute.starts_with("cpu"), "{compute}");
    let d = store.case_detail(case.unwrap()).unwrap();
    assert_eq!(
        d.case.status, "failed",
        "the lost case is recorded as failed"
    );
}

fn wait_final(events: &Mutex<Vec<Event>>, job: u64) {
    for _ in 0..6000 {
        let done = events.lock().unwrap().iter().any(|e| {
            e.job() == job
                && matches!(
                    e,
                    Event::Finished { .. } | Event::Failed { .. } | Event::Cancelled { .. }
                )
        });
        if done {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("job {job} did not finish: {:?}", events.lock().unwrap());
}
