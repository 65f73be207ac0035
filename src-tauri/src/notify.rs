//! OS notifications (tauri-plugin-notification, sent by the core — the page has no notification
//! permission): when a long job — an analysis or a batch export running more than
//! [`LONG_TASK`] — ends while the window is in the background, the analyst is told.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use verity::worker::Event;

/// A job that ran longer than this is worth a notification.
pub const LONG_TASK: Duration = Duration::from_secs(10);

/// Whether to notify: the task ran longer than [`LONG_TASK`] and the window does not have the
/// focus (an analyst looking at the window sees the result there).
pub fn should_notify(elapsed: Duration, window_focused: bool) -> bool {
    !window_focused && elapsed > LONG_TASK
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// When each running job started, to know how long it ran when it ends.
#[derive(Default)]
pub struct JobClock {
    started: Mutex<HashMap<u64, Instant>>,
}

impl JobClock {
    /// Takes every worker event in order; when a job ends (finished or failed — a cancel is the
    /// analyst's own doing) returns how long it ran and what to say. A job's time counts from
    /// its first event after queueing (model loading, import or start) — not its wait in the
    /// queue.
    pub fn observe(&self, e: &Event, now: Instant) -> Option<(Duration, Notice)> {
        let mut started = self.started.lock().unwrap_or_else(|p| p.into_inner());
        let job = e.job();
        let notice = match e {
            Event::Queued { .. } | Event::Progress { .. } => return None,
            Event::LoadingModels { .. } | Event::Imported { .. } | Event::Started { .. } => {
                started.entry(job).or_insert(now);
                return None;
            }
            Event::Cancelled { .. } => {
                started.remove(&job);
                return None;
            }
            Event::Finished { summary, .. } => Notice {
                title: "Analysis finished".into(),
                body: format!("{}: {}", summary.file, summary.verdict),
            },
            Event::Failed { label, message, .. } => Notice {
                title: "Analysis failed".into(),
                body: format!("{label}: {message}"),
            },
        };
        let since = started.remove(&job)?;
        Some((now.saturating_duration_since(since), notice))
    }
}

/// Whether the main window has the focus (true when that cannot be told: no notification
/// is better than a wrong one).
pub fn window_focused<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> bool {
    use tauri::Manager;
    app.get_webview_window("main")
        .and_then(|w| w.is_focused().ok())
        .unwrap_or(true)
}

/// Shows `title`/`body` as an OS notification when [`should_notify`] says so.
pub fn after_long_task<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    elapsed: Duration,
    title: &str,
    body: &str,
) {
    if !should_notify(elapsed, window_focused(app)) {
        return;
    }
    use tauri_plugin_notification::NotificationExt;
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("could not show a notification: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_tasks_ending_in_the_background_notify() {
        let s = Duration::from_secs;
        assert!(should_notify(s(11), false));
        assert!(!should_notify(s(11), true), "the analyst is looking");
        assert!(!should_notify(s(10), false), "10 s is not long");
        assert!(!should_notify(Duration::from_millis(200), false));
        assert!(should_notify(Duration::from_millis(10_001), false));
    }

    fn summary(file: &str) -> Box<verity::pipeline::Summary> {
        Box::new(verity::pipeline::Summary {
            case_id: 1,
            analysis_id: None,
            file: file.into(),
            sha256: "ab".into(),
            kind: None,
            status: "done".into(),
            score: Some(0.9),
            band: None,
            verdict: "likely fake (0.900)".into(),
            untrained: false,
            profile: None,
            message: None,
            frames: 1,
            faces: 1,
            tracks: 1,
            undecodable_frames: 0,
            decode_error: None,
            top_frames: vec![],
            times: Default::default(),
            scope: vec![],
            provenance: vec![],
        })
    }

    #[test]
    fn the_clock_times_a_job_from_its_start_to_its_end() {
        let clock = JobClock::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let queued = Event::Queued {
            job: 1,
            label: "clip.mp4".into(),
            case_id: None,
            position: 0,
        };
        assert!(clock.observe(&queued, at(0)).is_none());
        // Waiting in the queue does not count: the clock starts with the job.
        clock.observe(&Event::LoadingModels { job: 1 }, at(30));
        clock.observe(
            &Event::Started {
                job: 1,
                case_id: 1,
                frames_estimate: None,
            },
            at(35),
        );
        let (took, notice) = clock
            .observe(
                &Event::Finished {
                    job: 1,
                    case_id: 1,
                    summary: summary("clip.mp4"),
                },
                at(45),
            )
            .unwrap();
        assert_eq!(took, Duration::from_secs(15));
        assert_eq!(notice.title, "Analysis finished");
        assert_eq!(notice.body, "clip.mp4: likely fake (0.900)");
        // A failure is told with its message; a cancel is not told at all.
        clock.observe(
            &Event::Started {
                job: 2,
                case_id: 2,
                frames_estimate: None,
            },
            at(50),
        );
        let (took, notice) = clock
            .observe(
                &Event::Failed {
                    job: 2,
                    case_id: Some(2),
                    label: "cam.avi".into(),
                    code: "input".into(),
                    message: "no frame could be decoded".into(),
                },
                at(52),
            )
            .unwrap();
        assert_eq!(took, Duration::from_secs(2));
        assert!(!should_notify(took, false), "a short job");
        assert_eq!(notice.body, "cam.avi: no frame could be decoded");
        clock.observe(
            &Event::Started {
                job: 3,
                case_id: 3,
                frames_estimate: None,
            },
            at(60),
        );
        assert!(clock
            .observe(
                &Event::Cancelled {
                    job: 3,
                    case_id: Some(3)
                },
                at(90)
            )
            .is_none());
        // A job failing before it ever started (e.g. a refused path) has no duration.
        let refused = Event::Failed {
            job: 4,
            case_id: None,
            label: "x".into(),
            code: "input".into(),
            message: "m".into(),
        };
        assert!(clock.observe(&refused, at(95)).is_none());
        assert!(clock.started.lock().unwrap().is_empty(), "nothing kept");
    }
}
