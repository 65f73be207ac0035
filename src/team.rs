//! Queue workers: `verity worker` processes (any number, on any machines sharing one
//! PostgreSQL store and one blob folder) and the worker threads `verity serve` runs itself. Each
//! takes jobs from the store's queue (`store::jobs`), renews the job's lease from a second
//! connection while the analysis runs, and records the end under its lease: a worker killed
//! mid-job leaves a lease that runs out, the next claim takes the job over, marks the dead
//! worker's analysis interrupted and runs it again; one finished analysis per job is accepted.
//!
//! The analysis itself is the same [`Analyzer`] the app and the CLI run.
use crate::config::Settings;
use crate::pipeline::{Analyzer, Progress, Summary};
use crate::store::{JobEnd, JobRow, Lease, QueuedKind, Store};
use crate::worker::{error_code, eta};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Progress a worker writes on its job row (the API's `progress`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct JobProgress {
    pub frames_decoded: usize,
    pub faces_found: usize,
    pub faces_scored: usize,
    pub frames_estimate: Option<u64>,
    pub elapsed_s: f64,
    pub eta_s: Option<f64>,
}

/// How a worker runs.
#[derive(Clone)]
pub struct WorkerOptions {
    /// Names the worker in leases and logs (`host:pid:n` by default).
    pub id: String,
    /// `postgres://…` for a team store; None: the SQLite store in the settings' data folder.
    pub store: Option<String>,
    /// How long a claim holds a job without renewal; renewed every third of it.
    pub lease: Duration,
    /// Pause between polls of an empty queue.
    pub poll: Duration,
    /// Return once the queue is empty (tests, batch runs) instead of waiting for more.
    pub exit_when_idle: bool,
    /// The settings for each job (read again before each, so a profile change applies to the
    /// next job).
    pub settings: Arc<dyn Fn() -> Settings + Send + Sync>,
}

impl WorkerOptions {
    pub fn new(settings: Settings, store: Option<String>) -> Self {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        WorkerOptions {
            id: format!(
                "{host}:{}:{}",
                std::process::id(),
                SEQ.fetch_add(1, Ordering::Relaxed)
            ),
            store,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(500),
            exit_when_idle: false,
            settings: Arc::new(move || settings.clone()),
        }
    }
}

fn open_store(opts: &WorkerOptions, settings: &Settings) -> Result<Store> {
    Store::open_with(opts.store.as_deref(), &settings.data_dir())
}

/// Runs jobs until `stop` is set (or, with `exit_when_idle`, the queue is empty). Returns how
/// many jobs it ended. Database outages are waited out (the connection is re-opened); a job
/// whose end cannot be recorded is left to its lease.
pub fn run(opts: WorkerOptions, stop: Arc<AtomicBool>) -> Result<usize> {
    let mut settings = (opts.settings)();
    let mut store = open_store(&opts, &settings)?;
    // The lease is renewed on a connection of its own: the analysis holds the first one.
    let renewer = Arc::new(Mutex::new(open_store(&opts, &settings)?));
    let mut analyzer: Option<Analyzer> = None;
    let mut settings_key = key(&settings);
    let mut ended = 0;
    tracing::info!(worker = %opts.id, store = %store_name(&opts), "worker started");
    while !stop.load(Ordering::Relaxed) {
        let job = match store.claim_job(&opts.id, opts.lease.as_secs_f64()) {
            Ok(Some(j)) => j,
            Ok(None) => {
                if opts.exit_when_idle {
                    break;
                }
                std::thread::sleep(opts.poll);
                continue;
            }
            Err(e) => {
                tracing::warn!(worker = %opts.id, "cannot take a job: {e}; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let now = (opts.settings)();
        if key(&now) != settings_key {
            settings = now;
            settings_key = key(&settings);
            analyzer = None;
        }
        let run_one = std::panic::AssertUnwindSafe(|| {
            run_job(
                &opts,
                &settings,
                &mut store,
                &renewer,
                &mut analyzer,
                &job,
                &stop,
            )
        });
        let end = match std::panic::catch_unwind(run_one) {
            Ok(end) => end,
            Err(p) => {
                analyzer = None;
                Some(JobEnd {
                    state: "failed".into(),
                    error_code: Some("other".into()),
                    message: Some(format!(
                        "internal error: {}",
                        crate::failover::panic_text(&p)
                    )),
                    ..Default::default()
                })
            }
        };
        store.set_job(None);
        if stop.load(Ordering::Relaxed) && end.is_none() {
            // Stopped mid-job: give it back at once rather than after its lease.
            match store.release_job(job.id, &opts.id) {
                Ok(_) => {
                    tracing::info!(worker = %opts.id, job = job.id, "stopping: job returned to the queue")
                }
                Err(e) => {
                    tracing::warn!(worker = %opts.id, job = job.id, "stopping: cannot return the job ({e}); its lease will run out")
                }
            }
        }
        if let Some(end) = end {
            if record_end(&store, &opts, &job, &end, &stop) {
                ended += 1;
            }
        }
        if analyzer.as_ref().is_some_and(Analyzer::device_failed) {
            tracing::error!("the compute device failed; later jobs run on the CPU");
            analyzer = None;
            settings.device = crate::device::DevicePref::Cpu;
        }
    }
    tracing::info!(worker = %opts.id, ended, "worker stopped");
    Ok(ended)
}

fn key(s: &Settings) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn store_name(opts: &WorkerOptions) -> String {
    match &opts.store {
        Some(u) => crate::logging::redact_url(u),
        None => "sqlite".into(),
    }
}

/// Writes the end of a job, retrying while the database is away (a restart); the upload folder
/// goes once the end is recorded.
fn record_end(
    store: &Store,
    opts: &WorkerOptions,
    job: &JobRow,
    end: &JobEnd,
    stop: &AtomicBool,
) -> bool {
    let start = Instant::now();
    loop {
        match store.finish_job(job.id, &opts.id, end) {
            Ok(true) => {
                if let Some(u) = &job.upload {
                    let _ = std::fs::remove_dir_all(u);
                }
                tracing::info!(worker = %opts.id, job = job.id, state = %end.state, "job ended");
                return true;
            }
            Ok(false) => {
                tracing::warn!(worker = %opts.id, job = job.id,
                    "the job's lease was lost (another worker took it over); its result stands");
                return false;
            }
            Err(e)
                if start.elapsed() < Duration::from_secs(120) && !stop.load(Ordering::Relaxed) =>
            {
                tracing::warn!(worker = %opts.id, job = job.id, "cannot record the job's end: {e}; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => {
                tracing::error!(worker = %opts.id, job = job.id,
                    "cannot record the job's end: {e}; its lease will run out and it will be taken again");
                return false;
            }
        }
    }
}

/// Runs one claimed job; None when the lease was lost meanwhile (nothing to record).
fn run_job(
    opts: &WorkerOptions,
    settings: &Settings,
    store: &mut Store,
    renewer: &Arc<Mutex<Store>>,
    analyzer: &mut Option<Analyzer>,
    job: &JobRow,
    stop: &Arc<AtomicBool>,
) -> Option<JobEnd> {
    let failed = |case_id: Option<i64>, e: &Error| JobEnd {
        state: "failed".into(),
        case_id,
        error_code: Some(error_code(e).into()),
        message: Some(e.to_string()),
        ..Default::default()
    };
    if job.cancel_requested {
        return Some(JobEnd {
            state: "cancelled".into(),
            ..Default::default()
        });
    }
    // Taken over from a worker that died: after its result was saved, only the end is missing;
    // before, its half-done analysis is marked interrupted and the job runs again.
    match store.job_result(job.id) {
        Ok(Some((case_id, status))) => {
            let c = store.case(case_id).ok();
            return Some(JobEnd {
                state: "done".into(),
                case_id: Some(case_id),
                result: Some(status),
                verdict: c.as_ref().map(|c| verdict_line(c.band.as_deref(), c.score)),
                untrained: c.as_ref().map(|c| c.untrained),
                message: c.and_then(|c| c.message),
                ..Default::default()
            });
        }
        Ok(None) => {}
        Err(e) => return Some(failed(job.case_id, &e)),
    }
    if job.attempts > 1 {
        if let Err(e) = store.interrupt_job_analyses(job.id) {
            return Some(failed(job.case_id, &e));
        }
    }
    let kind = match job.queued_kind() {
        Ok(k) => k,
        Err(e) => return Some(failed(job.case_id, &e)),
    };
    if analyzer.is_none() {
        match Analyzer::new(settings) {
            Ok(a) => *analyzer = Some(a),
            Err(e) => return Some(failed(job.case_id, &e)),
        }
    }
    let analyzer = analyzer.as_ref()?;
    store.set_job(Some(job.id));

    let cancel = Arc::new(AtomicBool::new(false));
    let lost = Arc::new(AtomicBool::new(false));
    let shared: Arc<Mutex<(Option<JobProgress>, Option<i64>)>> =
        Arc::new(Mutex::new((None, job.case_id)));
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let renew = {
        let (renewer, shared, cancel, lost, stop) = (
            renewer.clone(),
            shared.clone(),
            cancel.clone(),
            lost.clone(),
            stop.clone(),
        );
        let (id, owner, lease) = (job.id, opts.id.clone(), opts.lease);
        let tick = Duration::from_millis(200).min(lease / 3);
        let mut last = Instant::now();
        std::thread::spawn(move || loop {
            match done_rx.recv_timeout(tick) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            if stop.load(Ordering::Relaxed) {
                cancel.store(true, Ordering::Relaxed);
            }
            if last.elapsed() < lease / 3 {
                continue;
            }
            last = Instant::now();
            let (progress, case_id) = {
                let g = shared.lock().unwrap_or_else(|p| p.into_inner());
                (
                    g.0.as_ref().and_then(|p| serde_json::to_string(p).ok()),
                    g.1,
                )
            };
            let r = renewer.lock().unwrap_or_else(|p| p.into_inner()).renew_job(
                id,
                &owner,
                lease.as_secs_f64(),
                progress.as_deref(),
                case_id,
            );
            match r {
                Ok(Lease::Held) => {}
                Ok(Lease::CancelRequested) => cancel.store(true, Ordering::Relaxed),
                Ok(Lease::Lost) => {
                    tracing::warn!(job = id, "lease lost; stopping this run of the job");
                    lost.store(true, Ordering::Relaxed);
                    cancel.store(true, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(job = id, "cannot renew the lease: {e}"),
            }
        })
    };
    let progress = |p: &Progress| {
        let mut g = shared.lock().unwrap_or_else(|p| p.into_inner());
        match p {
            Progress::Imported { case_id, .. } | Progress::Started { case_id, .. } => {
                g.1 = Some(*case_id)
            }
            Progress::Frames {
                case_id,
                decoded,
                faces_found,
                faces_scored,
                frames_estimate,
                elapsed_s,
            } => {
                g.1 = Some(*case_id);
                g.0 = Some(JobProgress {
                    frames_decoded: *decoded,
                    faces_found: *faces_found,
                    faces_scored: *faces_scored,
                    frames_estimate: *frames_estimate,
                    elapsed_s: *elapsed_s,
                    eta_s: eta(*decoded, *frames_estimate, *elapsed_s),
                });
            }
            Progress::Finished { .. } => {}
        }
    };
    let actor = job.submitted_by.as_str();
    let result = match &kind {
        // An upload's errors name the file the analyst sent, not its folder on the server.
        QueuedKind::Analyze { path } => analyzer
            .analyze_path(store, Path::new(path), actor, &progress, &cancel)
            .map_err(|e| match &job.upload {
                Some(_) => e.naming_original(Path::new(path), &job.label),
                None => e,
            }),
        QueuedKind::Rerun { case_id } => {
            analyzer.analyze_case(store, *case_id, actor, &progress, &cancel)
        }
    };
    let _ = done_tx.send(());
    let _ = renew.join();
    if lost.load(Ordering::Relaxed) || stop.load(Ordering::Relaxed) {
        // Lost: the worker that took over records the end. Stopping: back to the queue.
        return None;
    }
    let (last, case_id) = shared.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let last = last.and_then(|p| serde_json::to_string(&p).ok());
    if let Err(e) = &result {
        if crate::store::db::is_unavailable(e) {
            // The store went away mid-run (a restart): the job is not the media's fault. Give
            // it back; the next claim runs it again from the start.
            tracing::warn!(
                job = job.id,
                "the store failed during the job ({e}); returning it to the queue"
            );
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(120) && !stop.load(Ordering::Relaxed) {
                match store.release_job(job.id, &opts.id) {
                    Ok(_) => break,
                    Err(_) => std::thread::sleep(Duration::from_secs(1)),
                }
            }
            return None;
        }
    }
    let mut end = match result {
        Ok(s) => end_of(s),
        Err(Error::Cancelled) => JobEnd {
            state: "cancelled".into(),
            case_id,
            ..Default::default()
        },
        Err(e) => failed(case_id, &e),
    };
    end.progress = last;
    Some(end)
}

fn verdict_line(band: Option<&str>, score: Option<f64>) -> String {
    match (band, score) {
        (Some(b), Some(s)) => format!("{b} ({s:.3})"),
        _ => "not scored".into(),
    }
}

/// A finished analysis as a job's end.
fn end_of(s: Summary) -> JobEnd {
    let state = match s.status.as_str() {
        "cancelled" => "cancelled",
        "failed" => "failed",
        _ => "done",
    };
    JobEnd {
        state: state.into(),
        case_id: Some(s.case_id),
        result: (state == "done").then(|| s.status.clone()),
        verdict: (state == "done").then(|| s.verdict.clone()),
        untrained: Some(s.untrained),
        error_code: (state == "failed").then(|| "analysis".to_string()),
        message: s.message.clone(),
        // Faces the detector scored: none when the analysis was not scored (no weights).
        faces_scored: if s.status == "done" {
            s.faces as i64
        } else {
            0
        },
        times: (state == "done")
            .then(|| serde_json::to_string(&s.times).ok())
            .flatten(),
        progress: None,
    }
}

/// Folder for uploads the workers read: `<data>/uploads` (on the shared mount in a team).
pub fn uploads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}
