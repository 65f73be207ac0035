//! The background job runner without a GUI: two files queued, one cancelled, events in order,
//! and the store agreeing with what the events said.
mod common;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use verity::config::Settings;
use verity::store::{CaseFilter, Store};
use verity::worker::{Event, JobKind, Worker, WorkerHandle};

fn settings(root: &Path) -> Settings {
    Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("models")),
        device: verity::device::DevicePref::Cpu,
        analyst: "Ada".into(),
        ..Settings::default()
    }
}

/// A second photo with different content (mirrored), so it becomes its own case.
fn mirrored_astronaut(dir: &Path) -> PathBuf {
    let img = image::open(common::astronaut()).unwrap().fliph();
    let p = dir.join("mirrored.png");
    img.save(&p).unwrap();
    p
}

fn kinds(events: &[Event], job: u64) -> Vec<&'static str> {
    events
        .iter()
        .filter(|e| e.job() == job)
        .map(|e| match e {
            Event::Queued { .. } => "queued",
            Event::Imported { .. } => "imported",
            Event::LoadingModels { .. } => "loading_models",
            Event::Started { .. } => "started",
            Event::Progress { .. } => "progress",
            Event::Finished { .. } => "finished",
            Event::Failed { .. } => "failed",
            Event::Cancelled { .. } => "cancelled",
        })
        .collect()
}

/// Runs until every job in `jobs` has a final event (or the worker stops).
fn wait_final(events: &Mutex<Vec<Event>>, jobs: &[u64]) {
    for _ in 0..6000 {
        let ev = events.lock().unwrap();
        let done = jobs.iter().all(|j| {
            ev.iter().any(|e| {
                e.job() == *j
                    && matches!(
                        e,
                        Event::Finished { .. } | Event::Failed { .. } | Event::Cancelled { .. }
                    )
            })
        });
        drop(ev);
        if done {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("jobs {jobs:?} did not finish: {:?}", events.lock().unwrap());
}

#[test]
fn two_files_one_cancelled_while_queued_events_in_order_and_store_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = events.clone();
    let worker = Worker::spawn(s.clone(), move |e| sink.lock().unwrap().push(e.clone())).unwrap();
    let first = worker.enqueue(JobKind::Analyze {
        path: common::astronaut(),
    });
    let second = worker.enqueue(JobKind::Analyze {
        path: mirrored_astronaut(dir.path()),
    });
    // The second job waits behind the first (models load, a photo is analysed): cancel it there.
    assert!(worker.cancel(second));
    assert!(!worker.cancel(999), "an unknown job cannot be cancelled");
    wait_final(&events, &[first, second]);
    drop(worker);

    let ev = events.lock().unwrap();
    assert_eq!(
        kinds(&ev, first),
        [
            "queued",
            "loading_models",
            "imported",
            "started",
            "progress",
            "finished"
        ],
        "{ev:?}"
    );
    assert_eq!(kinds(&ev, second), ["queued", "cancelled"]);
    let (case_id, summary) = ev
        .iter()
        .find_map(|e| match e {
            Event::Finished {
                case_id, summary, ..
            } => Some((*case_id, summary.clone())),
            _ => None,
        })
        .unwrap();
    // No detector weights in this data folder: the honest result is "not scored" with the fix.
    assert_eq!(summary.status, "not_scored");
    assert!(summary
        .message
        .as_deref()
        .unwrap()
        .contains("verity models fetch"));
    let progress = ev.iter().find_map(|e| match e {
        Event::Progress {
            frames_decoded,
            faces_found,
            frames_estimate,
            ..
        } => Some((*frames_decoded, *faces_found, *frames_estimate)),
        _ => None,
    });
    assert_eq!(progress, Some((1, 1, Some(1))));
    // Events serialise with a tag the UI switches on.
    let json = serde_json::to_value(&ev[0]).unwrap();
    assert_eq!(json["event"], "queued");
    assert_eq!(json["job"], first);

    let store = Store::open(&s.data_dir()).unwrap();
    let cases = store.list_cases(&CaseFilter::default()).unwrap();
    assert_eq!(cases.len(), 1, "the cancelled file was never imported");
    assert_eq!(cases[0].id, case_id);
    assert_eq!(cases[0].status, "not_scored");
    let audit = store.audit_log(Some(case_id)).unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["import", "media_verified", "analysis_start", "analysis_end"]);
    assert!(
        audit.iter().all(|a| a.actor == "Ada"),
        "the analyst from settings is the actor"
    );
}

#[test]
fn running_job_cancelled_mid_analysis_and_missing_file_fails_readably() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let handle: Arc<OnceLock<WorkerHandle>> = Arc::new(OnceLock::new());
    let (sink, h) = (events.clone(), handle.clone());
    let worker = Worker::spawn(s.clone(), move |e| {
        // Cancel the analysis from inside, the moment its case exists: deterministic.
        if let Event::Imported { case_id, .. } = e {
            assert!(h.get().unwrap().cancel_case(*case_id));
        }
        sink.lock().unwrap().push(e.clone());
    })
    .unwrap();
    handle.set(worker.handle()).ok().unwrap();
    let missing = dir.path().join("nope.mp4");
    let a = worker.enqueue(JobKind::Analyze {
        path: common::astronaut(),
    });
    let b = worker.enqueue(JobKind::Analyze { path: missing });
    wait_final(&events, &[a, b]);
    let jobs_left = worker.jobs();
    drop(worker);

    assert!(jobs_left.is_empty(), "{jobs_left:?}");
    let ev = events.lock().unwrap();
    assert_eq!(
        kinds(&ev, a),
        [
            "queued",
            "loading_models",
            "imported",
            "started",
            "cancelled"
        ],
        "{ev:?}"
    );
    assert_eq!(kinds(&ev, b), ["queued", "failed"]);
    let msg = ev
        .iter()
        .find_map(|e| match e {
            Event::Failed { message, code, .. } => Some(format!("{code}: {message}")),
            _ => None,
        })
        .unwrap();
    assert!(
        msg.starts_with("input: ") && msg.contains("nope.mp4") && msg.contains("cannot open"),
        "{msg}"
    );

    let store = Store::open(&s.data_dir()).unwrap();
    let cases = store.list_cases(&CaseFilter::default()).unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].status, "cancelled");
    assert_eq!(
        cases[0].message.as_deref(),
        Some("Analysis cancelled by the analyst.")
    );
}
