//! The live-source job the desktop app's "Live source…" dialog queues (`JobKind::Live`): a UDP
//! MPEG-TS stream from the FFmpeg CLI (as a camera would send) recorded for the job's own
//! number of seconds — not `settings.live_seconds` — then analysed as a frame-folder case; and
//! the readable failures of a missing webcam, a non-live path and a bad length.
mod common;
use std::path::Path;
use std::sync::{Arc, Mutex};
use verity::config::Settings;
use verity::store::Store;
use verity::worker::{Event, JobKind, Worker};

fn settings(root: &Path) -> Settings {
    Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("models")),
        device: verity::device::DevicePref::Cpu,
        analyst: "Ada".into(),
        // Deliberately different from the job's length: the job's value must win.
        live_seconds: 5.0,
        ..Settings::default()
    }
}

/// The final event of `job` (waits up to 5 minutes).
fn final_event(events: &Mutex<Vec<Event>>, job: u64) -> Event {
    for _ in 0..6000 {
        if let Some(e) = events.lock().unwrap().iter().find(|e| {
            e.job() == job
                && matches!(
                    e,
                    Event::Finished { .. } | Event::Failed { .. } | Event::Cancelled { .. }
                )
        }) {
            return e.clone();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("job {job} did not finish: {:?}", events.lock().unwrap());
}

#[test]
fn live_job_records_its_own_length_and_fails_readably() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = events.clone();
    let worker = Worker::spawn(s.clone(), move |e| sink.lock().unwrap().push(e.clone())).unwrap();

    // Failures first (fast): a webcam that is not there, a file path, a zero length.
    let no_cam = worker.enqueue(JobKind::Live {
        source: "/dev/video97".into(),
        seconds: 2.0,
    });
    let not_live = worker.enqueue(JobKind::Live {
        source: common::astronaut().display().to_string(),
        seconds: 2.0,
    });
    let zero = worker.enqueue(JobKind::Live {
        source: "udp://127.0.0.1:9".into(),
        seconds: 0.0,
    });
    for (job, expected) in [
        (no_cam, "webcam device not found"),
        (not_live, "is not a live source"),
        (zero, "recording length must be more than 0"),
    ] {
        match final_event(&events, job) {
            Event::Failed { message, label, .. } => {
                assert!(message.contains(expected), "{message}");
                assert!(label.starts_with("Live "), "{label}");
            }
            e => panic!("job {job} should fail with {expected:?}: {e:?}"),
        }
    }

    let photo = common::astronaut();
    let stream = common::udp_stream(
        &[
            "-loop".as_ref(),
            "1".as_ref(),
            "-i".as_ref(),
            photo.as_os_str(),
            "-vf".as_ref(),
            "scale=256:256".as_ref(),
            "-r".as_ref(),
            "25".as_ref(),
        ],
        30,
    );
    let url = stream.url.clone();
    let job = worker.enqueue(JobKind::Live {
        source: url.clone(),
        seconds: 1.0,
    });
    let done = final_event(&events, job);
    drop(stream);
    let Event::Finished {
        summary, case_id, ..
    } = done
    else {
        panic!("the live job should finish: {done:?}");
    };
    // 1 s at the default 5 fps ≈ 5 frames (settings.live_seconds = 5 would give ≈ 25).
    assert!(
        (4..=6).contains(&summary.frames),
        "{} frames",
        summary.frames
    );
    let store = Store::open(&s.data_dir()).unwrap();
    assert_eq!(store.media_of_case(case_id).unwrap().kind, "framefolder");
}
