//! The background job runner the desktop app (and any long-lived shell) analyses through.
//!
//! One thread owns the [`Analyzer`] — the models live on one device and are not shared across
//! threads — and works through a FIFO queue of jobs: "analyse this path" or "re-run this case".
//! The analyzer is built lazily on the first job (so the window opens without waiting for
//! libtorch) and rebuilt after the settings change. Every job has its own cancel flag, and
//! everything that happens is streamed as serialisable [`Event`]s to one callback, which the Tauri
//! shell forwards to the window. The worker opens its own [`Store`] connection; readers open
//! theirs (SQLite WAL lets them read while the worker writes).
//!
//! Folder drops: a folder that holds only still images (at least one) is ONE case, analysed as a
//! frame sequence (`MediaKind::FrameFolder`), because that is how frame dumps of a single video
//! arrive. Any other folder is walked (sub-folders too, hidden entries skipped) and each image or
//! video file in it becomes its own case; other files are ignored. See [`expand_paths`].
use crate::config::Settings;
use crate::pipeline::{Analyzer, Progress, Summary};
use crate::store::Store;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Still-image extensions (the frame-folder reader's list); a folder of only these is one case.
pub use crate::media::folder::FRAME_EXTENSIONS as IMAGE_EXTENSIONS;

/// Video container extensions a folder walk picks up (a dropped file is tried whatever its name);
/// GIF, still or animated, is read as a video by FFmpeg.
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv",
    "3gp", "ogv", "mjpeg", "mjpg", "gif",
];

/// What a job does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Import a file or frame folder as a case (or find its existing case) and analyse it.
    Analyze { path: PathBuf },
    /// Analyse a stored case again (new settings or weights, or after an interruption).
    Rerun { case_id: i64 },
    /// Record `seconds` of a live source (`rtsp://`, `udp://` … URL or `/dev/video*`) into a
    /// frame folder and analyse that as a case (the length given per job, not by settings).
    Live { source: String, seconds: f64 },
}

/// Where a job stands, for a UI that (re)loads while jobs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
}

/// A queued or running job as [`WorkerHandle::jobs`] reports it.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub job: u64,
    pub label: String,
    pub case_id: Option<i64>,
    pub state: JobState,
    #[serde(flatten)]
    pub kind: JobKind,
}

/// Everything the worker reports, in the order it happens. For one job: `queued`, then
/// `imported` (analyse jobs), `started`, any number of `progress`, and exactly one of
/// `finished`, `failed` or `cancelled`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Queued {
        job: u64,
        label: String,
        case_id: Option<i64>,
        position: usize,
    },
    Imported {
        job: u64,
        case_id: i64,
        existing: bool,
        title: String,
    },
    /// The models are being loaded (first job, or after a settings change): can take seconds.
    LoadingModels {
        job: u64,
    },
    Started {
        job: u64,
        case_id: i64,
        frames_estimate: Option<u64>,
    },
    Progress {
        job: u64,
        case_id: i64,
        frames_decoded: usize,
        faces_found: usize,
        faces_scored: usize,
        frames_estimate: Option<u64>,
        elapsed_s: f64,
        /// Seconds left, extrapolated from the pace so far when the frame count is known.
        eta_s: Option<f64>,
    },
    /// The analysis ran to the end: `summary.status` is `done` or `not_scored`.
    Finished {
        job: u64,
        case_id: i64,
        summary: Box<Summary>,
    },
    /// The job could not run or the analysis failed; `message` is written for the analyst.
    Failed {
        job: u64,
        case_id: Option<i64>,
        label: String,
        code: String,
        message: String,
    },
    Cancelled {
        job: u64,
        case_id: Option<i64>,
    },
}

impl Event {
    pub fn job(&self) -> u64 {
        match self {
            Event::Queued { job, .. }
            | Event::Imported { job, .. }
            | Event::LoadingModels { job }
            | Event::Started { job, .. }
            | Event::Progress { job, .. }
            | Event::Finished { job, .. }
            | Event::Failed { job, .. }
            | Event::Cancelled { job, .. } => *job,
        }
    }
}

/// Where the events go; called on the worker thread (and on the caller's thread for `queued`).
pub type Sink = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Clone)]
struct Job {
    id: u64,
    kind: JobKind,
    label: String,
    cancel: Arc<AtomicBool>,
    case_id: Option<i64>,
    /// Who the audit rows of this job name (None: the settings' analyst, or "app").
    actor: Option<String>,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
    /// The running job; its `case_id` is filled in once the import has made the case.
    running: Option<Job>,
    new_settings: Option<Settings>,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    next_id: AtomicU64,
    sink: Sink,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-edited (every edit is one
        // push/pop/assignment), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A cheap, clonable door to the worker: enqueue, cancel, list, change settings.
#[derive(Clone)]
pub struct WorkerHandle {
    shared: Arc<Shared>,
}

/// Owns the worker thread; dropping it cancels every job and joins the thread.
pub struct Worker {
    handle: WorkerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker thread. Nothing heavy happens until the first job arrives.
    pub fn spawn(
        settings: Settings,
        sink: impl Fn(&Event) + Send + Sync + 'static,
    ) -> Result<Self> {
        settings.validate()?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            next_id: AtomicU64::new(1),
            sink: Arc::new(sink),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("verity-worker".into())
            .spawn(move || run(thread_shared, settings))
            .map_err(|e| Error::Other(format!("cannot start the analysis thread: {e}")))?;
        Ok(Worker {
            handle: WorkerHandle { shared },
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> WorkerHandle {
        self.handle.clone()
    }

    /// Whether the worker thread is still running (it ends only on shutdown).
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl std::ops::Deref for Worker {
    type Target = WorkerHandle;
    fn deref(&self) -> &WorkerHandle {
        &self.handle
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        {
            let mut q = self.handle.shared.lock();
            q.shutdown = true;
            for j in &q.waiting {
                j.cancel.store(true, Ordering::Relaxed);
            }
            if let Some(r) = &q.running {
                r.cancel.store(true, Ordering::Relaxed);
            }
        }
        self.handle.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl WorkerHandle {
    /// Queues one job; returns its id. The `queued` event is sent before this returns.
    pub fn enqueue(&self, kind: JobKind) -> u64 {
        self.enqueue_as(kind, None)
    }

    /// [`enqueue`](Self::enqueue) with the actor its audit rows name (e.g. `api:<analyst>` for
    /// a job submitted through `verity serve`); None = the settings' analyst.
    pub fn enqueue_as(&self, kind: JobKind, actor: Option<String>) -> u64 {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (label, case_id) = match &kind {
            JobKind::Analyze { path } => (display_name(path), None),
            JobKind::Rerun { case_id } => (format!("case {case_id}"), Some(*case_id)),
            JobKind::Live { source, seconds } => (
                format!("Live {} ({seconds} s)", crate::logging::redact_url(source)),
                None,
            ),
        };
        let position = {
            let mut q = self.shared.lock();
            q.waiting.push_back(Job {
                id,
                kind,
                label: label.clone(),
                cancel: Arc::new(AtomicBool::new(false)),
                case_id,
                actor,
            });
            q.waiting.len() + q.running.is_some() as usize
        };
        (self.shared.sink)(&Event::Queued {
            job: id,
            label,
            case_id,
            position,
        });
        self.shared.wake.notify_all();
        id
    }

    /// Expands dropped paths ([`expand_paths`]) and queues one analyse job per case.
    pub fn enqueue_paths(&self, paths: &[PathBuf]) -> Result<Vec<u64>> {
        self.enqueue_expanded(expand_paths_noted(paths)?)
    }

    /// Queues one analyse job per path of an [`Expansion`] (its notes were logged).
    pub fn enqueue_expanded(&self, expansion: Expansion) -> Result<Vec<u64>> {
        Ok(expansion
            .paths
            .into_iter()
            .map(|path| self.enqueue(JobKind::Analyze { path }))
            .collect())
    }

    /// Cancels a queued or running job; false when no such job is pending.
    pub fn cancel(&self, job: u64) -> bool {
        let q = self.shared.lock();
        if let Some(r) = &q.running {
            if r.id == job {
                r.cancel.store(true, Ordering::Relaxed);
                return true;
            }
        }
        match q.waiting.iter().find(|j| j.id == job) {
            Some(j) => {
                j.cancel.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Cancels the job working on `case_id` (queued re-run or running analysis).
    pub fn cancel_case(&self, case_id: i64) -> bool {
        let job = {
            let q = self.shared.lock();
            q.running
                .as_ref()
                .filter(|r| r.case_id == Some(case_id))
                .map(|r| r.id)
                .or_else(|| {
                    q.waiting
                        .iter()
                        .find(|j| j.case_id == Some(case_id))
                        .map(|j| j.id)
                })
        };
        job.is_some_and(|j| self.cancel(j))
    }

    /// The running job then the queue, in order.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let q = self.shared.lock();
        let running = q.running.iter().map(|r| JobInfo {
            job: r.id,
            label: r.label.clone(),
            case_id: r.case_id,
            state: JobState::Running,
            kind: r.kind.clone(),
        });
        let waiting = q
            .waiting
            .iter()
            .filter(|j| !j.cancel.load(Ordering::Relaxed))
            .map(|j| JobInfo {
                job: j.id,
                label: j.label.clone(),
                case_id: j.case_id,
                state: JobState::Queued,
                kind: j.kind.clone(),
            });
        running.chain(waiting).collect()
    }

    /// New settings take effect from the next job: the models are reloaded then.
    pub fn update_settings(&self, settings: Settings) -> Result<()> {
        settings.validate()?;
        self.shared.lock().new_settings = Some(settings);
        Ok(())
    }
}

/// The worker thread: take the next job, run it, report; models and store built on demand.
fn run(shared: Arc<Shared>, mut settings: Settings) {
    let mut analyzer: Option<Analyzer> = None;
    let mut store: Option<Store> = None;
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                if let Some(s) = q.new_settings.take() {
                    if s.data_dir() != settings.data_dir() {
                        store = None;
                    }
                    settings = s;
                    analyzer = None;
                }
                if q.shutdown {
                    // Whatever is still queued ends as cancelled, so no UI waits for it forever.
                    let left: Vec<Job> = q.waiting.drain(..).collect();
                    drop(q);
                    for j in left {
                        (shared.sink)(&Event::Cancelled {
                            job: j.id,
                            case_id: j.case_id,
                        });
                    }
                    return;
                }
                if let Some(j) = q.waiting.pop_front() {
                    q.running = Some(j.clone());
                    break j;
                }
                q = shared.wake.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        };
        let sink = shared.sink.clone();
        let emit = |e: &Event| sink(e);
        let run_one = std::panic::AssertUnwindSafe(|| {
            run_job(&shared, &job, &settings, &mut analyzer, &mut store, &emit);
        });
        if let Err(p) = std::panic::catch_unwind(run_one) {
            // A panic outside the pipeline's own guard: report it on this job and drop the
            // models and connection, which may be in any state now.
            let msg = crate::failover::panic_text(&p);
            analyzer = None;
            store = None;
            let case_id = shared.lock().running.as_ref().and_then(|r| r.case_id);
            emit(&Event::Failed {
                job: job.id,
                case_id,
                label: job.label.clone(),
                code: "other".into(),
                message: format!("internal error: {}", msg),
            });
        }
        if analyzer.as_ref().is_some_and(Analyzer::device_failed) {
            // The GPU failed mid-analysis (that case is failed and says so): drop the models,
            // which may live on a dead device, and go on with every later job on the CPU.
            tracing::error!("the compute device failed; later jobs run on the CPU");
            analyzer = None;
            settings.device = crate::device::DevicePref::Cpu;
        }
        shared.lock().running = None;
    }
}

fn run_job(
    shared: &Shared,
    job: &Job,
    settings: &Settings,
    analyzer: &mut Option<Analyzer>,
    store: &mut Option<Store>,
    emit: &dyn Fn(&Event),
) {
    let fail = |case_id: Option<i64>, e: &Error| {
        emit(&Event::Failed {
            job: job.id,
            case_id,
            label: job.label.clone(),
            code: error_code(e).into(),
            message: e.to_string(),
        })
    };
    if job.cancel.load(Ordering::Relaxed) {
        emit(&Event::Cancelled {
            job: job.id,
            case_id: job.case_id,
        });
        return;
    }
    if store.is_none() {
        match Store::open(&settings.data_dir()) {
            Ok(s) => *store = Some(s),
            Err(e) => return fail(job.case_id, &e),
        }
    }
    if analyzer.is_none() {
        emit(&Event::LoadingModels { job: job.id });
        match Analyzer::new(settings) {
            Ok(a) => *analyzer = Some(a),
            Err(e) => return fail(job.case_id, &e),
        }
    }
    let (Some(analyzer), Some(store)) = (analyzer.as_ref(), store.as_mut()) else {
        return;
    };
    let actor = match &job.actor {
        Some(a) => a.as_str(),
        None if settings.analyst.trim().is_empty() => "app",
        None => settings.analyst.trim(),
    };
    let case_of_job = Mutex::new(job.case_id);
    let progress = |p: &Progress| match p {
        Progress::Imported {
            case_id,
            existing,
            title,
        } => {
            *case_of_job.lock().unwrap_or_else(|p| p.into_inner()) = Some(*case_id);
            if let Some(r) = shared.lock().running.as_mut() {
                r.case_id = Some(*case_id);
            }
            emit(&Event::Imported {
                job: job.id,
                case_id: *case_id,
                existing: *existing,
                title: title.clone(),
            });
        }
        Progress::Started {
            case_id,
            frames_estimate,
            ..
        } => emit(&Event::Started {
            job: job.id,
            case_id: *case_id,
            frames_estimate: *frames_estimate,
        }),
        Progress::Frames {
            case_id,
            decoded,
            faces_found,
            faces_scored,
            frames_estimate,
            elapsed_s,
        } => emit(&Event::Progress {
            job: job.id,
            case_id: *case_id,
            frames_decoded: *decoded,
            faces_found: *faces_found,
            faces_scored: *faces_scored,
            frames_estimate: *frames_estimate,
            elapsed_s: *elapsed_s,
            eta_s: eta(*decoded, *frames_estimate, *elapsed_s),
        }),
        // The summary is reported once, from the return value, with the right event kind.
        Progress::Finished { .. } => {}
    };
    let result = match &job.kind {
        JobKind::Analyze { path } => {
            analyzer.analyze_path(store, path, actor, &progress, &job.cancel)
        }
        JobKind::Rerun { case_id } => {
            analyzer.analyze_case(store, *case_id, actor, &progress, &job.cancel)
        }
        JobKind::Live { source, seconds } => analyzer.analyze_live(
            store,
            Path::new(source),
            *seconds,
            actor,
            &progress,
            &job.cancel,
        ),
    };
    let case_id = *case_of_job.lock().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok(s) if s.status == "cancelled" => emit(&Event::Cancelled {
            job: job.id,
            case_id: Some(s.case_id),
        }),
        Ok(s) if s.status == "failed" => emit(&Event::Failed {
            job: job.id,
            case_id: Some(s.case_id),
            label: job.label.clone(),
            code: "analysis".into(),
            message: s
                .message
                .clone()
                .unwrap_or_else(|| "the analysis failed".into()),
        }),
        Ok(s) => emit(&Event::Finished {
            job: job.id,
            case_id: s.case_id,
            summary: Box::new(s),
        }),
        Err(Error::Cancelled) => emit(&Event::Cancelled {
            job: job.id,
            case_id,
        }),
        Err(e) => fail(case_id, &e),
    }
}

/// Seconds left at the pace so far; None until a frame is done or when the total is unknown.
pub fn eta(done: usize, total: Option<u64>, elapsed_s: f64) -> Option<f64> {
    let total = total? as f64;
    if done == 0 || elapsed_s <= 0.0 {
        return None;
    }
    Some(((total - done as f64).max(0.0)) * elapsed_s / done as f64)
}

/// The stable kind of a core error, as the app shows it (`weights`, `input`, …).
pub fn error_code(e: &Error) -> &'static str {
    match e {
        Error::Input { .. } | Error::Undecodable { .. } => "input",
        Error::Unsupported(_) => "unsupported",
        Error::TooLarge(_) => "too_large",
        Error::Weights(_) => "weights",
        Error::Model(_) => "model",
        Error::Db(_) | Error::Pg(_) => "db",
        Error::StoreUnavailable(_) => "store_unavailable",
        Error::Config(_) => "config",
        Error::Cancelled => "cancelled",
        Error::OutOfMemory { .. } => "out_of_memory",
        Error::DeviceLost { .. } => "device",
        Error::Torch(_) => "torch",
        Error::Io(_) => "io",
        Error::Other(_) => "other",
    }
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn has_ext(path: &Path, list: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| list.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

fn hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Deepest sub-folder a dropped folder is walked into.
pub const MAX_WALK_DEPTH: usize = 16;
/// Most cases one drop may queue (and most entries one walk looks at, ten times that).
pub const MAX_WALK_FILES: usize = 2_000;

/// What a drop expands to: one path per case, and a note for each entry left out (a FIFO,
/// device or socket; a link to a folder) that the analyst should hear about.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expansion {
    pub paths: Vec<PathBuf>,
    pub notes: Vec<String>,
}

/// Turns dropped files and folders into one path per case (see the module doc): files as
/// given, an images-only folder as itself, any other folder walked for image and video files.
/// A path that does not exist, or that is not a regular file or folder (a FIFO, `/dev/zero`),
/// is an error naming it; nothing is queued then.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    expand_paths_noted(paths).map(|e| e.paths)
}

/// [`expand_paths`] with the notes on what a walk skipped.
///
/// The walk never follows a link to a folder (two `loop -> .` links would otherwise make it
/// endless), goes at most [`MAX_WALK_DEPTH`] folders deep and refuses a drop of more than
/// [`MAX_WALK_FILES`] media files; only regular files (or links to regular files) are taken.
pub fn expand_paths_noted(paths: &[PathBuf]) -> Result<Expansion> {
    let mut out = Expansion::default();
    let mut seen = 0usize;
    for p in paths {
        let meta =
            std::fs::metadata(p).map_err(|e| Error::input(p, format!("cannot open: {e}")))?;
        if meta.is_dir() {
            expand_dir(p, 0, &mut seen, &mut out)?;
        } else if meta.is_file() {
            out.paths.push(p.clone());
        } else {
            return Err(Error::input(p, NOT_REGULAR));
        }
        check_count(p, &out)?;
    }
    for n in &out.notes {
        tracing::warn!("import: {n}");
    }
    Ok(out)
}

const NOT_REGULAR: &str =
    "is not a regular file (a FIFO, socket or device); save the media to a file first";

fn check_count(dir: &Path, out: &Expansion) -> Result<()> {
    if out.paths.len() > MAX_WALK_FILES {
        return Err(Error::TooLarge(format!(
            "{}: more than {MAX_WALK_FILES} media files to import at once; drop fewer or \
             smaller folders",
            dir.display()
        )));
    }
    Ok(())
}

/// What an entry of a walked folder is, links to files resolved, links to folders not.
enum Entry {
    File,
    Dir,
    Skip(&'static str),
}

fn classify(path: &Path) -> Entry {
    let Ok(lmeta) = std::fs::symlink_metadata(path) else {
        return Entry::Skip("cannot be read");
    };
    let ft = lmeta.file_type();
    if ft.is_dir() {
        return Entry::Dir;
    }
    if ft.is_file() {
        return Entry::File;
    }
    if ft.is_symlink() {
        return match std::fs::metadata(path) {
            Ok(m) if m.is_file() => Entry::File,
            Ok(m) if m.is_dir() => Entry::Skip("is a link to a folder (links are not followed)"),
            Ok(_) => Entry::Skip("links to a FIFO, socket or device, not a regular file"),
            Err(_) => Entry::Skip("is a broken link"),
        };
    }
    Entry::Skip("is not a regular file (a FIFO, socket or device)")
}

fn expand_dir(dir: &Path, depth: usize, seen: &mut usize, out: &mut Expansion) -> Result<()> {
    if depth > MAX_WALK_DEPTH {
        return Err(Error::TooLarge(format!(
            "{}: folders nested more than {MAX_WALK_DEPTH} deep; drop the sub-folder you mean",
            dir.display()
        )));
    }
    let mut entries: Vec<PathBuf> = Vec::new();
    for e in
        std::fs::read_dir(dir).map_err(|e| Error::input(dir, format!("cannot list folder: {e}")))?
    {
        let Ok(e) = e else { continue };
        *seen += 1;
        if *seen > MAX_WALK_FILES * 10 {
            return Err(Error::TooLarge(format!(
                "{}: more than {} entries in the dropped folders; drop fewer or smaller folders",
                dir.display(),
                MAX_WALK_FILES * 10
            )));
        }
        let p = e.path();
        if !hidden(&p) {
            entries.push(p);
        }
    }
    entries.sort();
    let kinds: Vec<Entry> = entries.iter().map(|p| classify(p)).collect();
    let files: Vec<&PathBuf> = entries
        .iter()
        .zip(&kinds)
        .filter(|(_, k)| matches!(k, Entry::File))
        .map(|(p, _)| p)
        .collect();
    let subdirs = kinds.iter().any(|k| matches!(k, Entry::Dir));
    let wanted = |p: &Path| has_ext(p, IMAGE_EXTENSIONS) || has_ext(p, VIDEO_EXTENSIONS);
    let skipped = entries.iter().zip(&kinds).filter_map(|(p, k)| match k {
        Entry::Skip(why) if wanted(p) || why.contains("folder") => Some((p, *why)),
        _ => None,
    });
    let notes: Vec<String> = skipped
        .map(|(p, why)| format!("{} {why}: skipped", p.display()))
        .collect();
    let only_images =
        !files.is_empty() && !subdirs && files.iter().all(|f| has_ext(f, IMAGE_EXTENSIONS));
    out.notes.extend(notes);
    if only_images {
        out.paths.push(dir.to_path_buf());
        return Ok(());
    }
    for (p, k) in entries.iter().zip(&kinds) {
        match k {
            Entry::Dir => expand_dir(p, depth + 1, seen, out)?,
            Entry::File if wanted(p) => {
                out.paths.push(p.clone());
                check_count(dir, out)?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_extrapolates_the_pace() {
        assert_eq!(eta(0, Some(10), 1.0), None);
        assert_eq!(eta(5, None, 1.0), None);
        assert_eq!(eta(5, Some(10), 2.0), Some(2.0));
        assert_eq!(eta(12, Some(10), 2.0), Some(0.0));
    }

    #[test]
    fn folders_expand_to_one_case_per_file_or_one_frame_folder() {
        let d = tempfile::tempdir().unwrap();
        let frames = d.path().join("frames");
        std::fs::create_dir(&frames).unwrap();
        for n in ["0001.png", "0002.png"] {
            std::fs::write(frames.join(n), b"x").unwrap();
        }
        let mixed = d.path().join("mixed");
        std::fs::create_dir_all(mixed.join("sub")).unwrap();
        std::fs::write(mixed.join("a.jpg"), b"x").unwrap();
        std::fs::write(mixed.join("b.mp4"), b"x").unwrap();
        std::fs::write(mixed.join("notes.txt"), b"x").unwrap();
        std::fs::write(mixed.join(".hidden.mp4"), b"x").unwrap();
        std::fs::write(mixed.join("sub/c.mov"), b"x").unwrap();
        let got = expand_paths(&[frames.clone(), mixed.clone()]).unwrap();
        assert_eq!(
            got,
            vec![
                frames,
                mixed.join("a.jpg"),
                mixed.join("b.mp4"),
                mixed.join("sub/c.mov")
            ]
        );
        let e = expand_paths(&[d.path().join("missing.mp4")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing.mp4") && e.contains("cannot open"),
            "{e}"
        );
    }
}
