//! "Retrain from reviews" commands: thin wrappers over `verity::train::retrain`. One run at a
//! time, on its own thread, reporting to the window as `retrain` events
//! (`{kind: "progress", progress: {phase, …}}`, then `finished` with the candidate, `failed`
//! with a readable message, or `cancelled`). Nothing replaces the active profile until the
//! analyst accepts the candidate; accepting selects it in the settings and reloads the worker.
use crate::commands::CommandError;
use crate::state::AppState;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tauri::State;
use verity::config::Settings;
use verity::models::detector::Variant;
use verity::store::Store;
use verity::train::retrain::{
    self, Candidate, LabelCounts, Retrain, RetrainOptions, RetrainProgress,
};

type Res<T> = Result<T, CommandError>;

/// The window-side name of the retrain event stream (`listen('retrain', …)`).
pub const EVENT: &str = "retrain";

/// What a `retrain` event carries.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RetrainEvent {
    Progress { progress: RetrainProgress },
    Finished { candidate: Box<Candidate> },
    Failed { code: &'static str, message: String },
    Cancelled,
}

/// The one run the app allows at a time.
#[derive(Default)]
struct Job {
    running: bool,
    cancel: Arc<AtomicBool>,
    progress: Option<RetrainProgress>,
    /// How the last run ended when it did not produce a candidate.
    last_error: Option<String>,
}

fn job() -> MutexGuard<'static, Job> {
    static JOB: OnceLock<Mutex<Job>> = OnceLock::new();
    JOB.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// What the Retrain panel shows.
#[derive(Debug, Clone, Serialize)]
pub struct RetrainStatus {
    /// Adjudicated cases with faces per class (None when the store cannot be read).
    pub counts: Option<LabelCounts>,
    /// The active profile (the parent of a run), or why there is none.
    pub parent: Option<String>,
    /// Its layout: `gend` has no projected CLIP embedding, so no image–text loss.
    pub parent_variant: Option<Variant>,
    pub parent_error: Option<String>,
    /// Why a run would be refused now (too few cases, no profile), if it would.
    pub refusal: Option<String>,
    pub running: bool,
    pub progress: Option<RetrainProgress>,
    pub last_error: Option<String>,
    /// The newest candidate waiting for accept/discard.
    pub candidate: Option<Candidate>,
    pub defaults: RetrainOptions,
}

/// The status for these settings and store (without the live job fields).
pub fn status_of(settings: &Settings, store: &Store) -> RetrainStatus {
    let defaults = RetrainOptions::default();
    let (parent, parent_variant, parent_error) = match retrain::active_profile(settings)
        .and_then(|d| verity::models::profile::load_profile(&d))
    {
        Ok(p) => (Some(p.name), Some(p.variant), None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    let counts = retrain::label_counts(store);
    let refusal = match &counts {
        Err(e) => Some(e.to_string()),
        Ok(c) => c
            .refusal(defaults.min_cases_per_class)
            .or_else(|| parent_error.clone()),
    };
    RetrainStatus {
        counts: counts.ok(),
        parent,
        parent_variant,
        parent_error,
        refusal,
        running: false,
        progress: None,
        last_error: None,
        candidate: retrain::list_candidates(&settings.models_dir())
            .into_iter()
            .next(),
        defaults,
    }
}

/// The settings after accepting `profile`: it becomes the active one.
pub fn settings_after_accept(settings: &Settings, profile: &str) -> Settings {
    Settings {
        profile: Some(profile.to_string()),
        ..settings.clone()
    }
}

/// The candidate a command means: the named one, else the newest.
fn candidate_name(settings: &Settings, name: Option<String>) -> verity::Result<String> {
    match name {
        Some(n) => Ok(n),
        None => retrain::list_candidates(&settings.models_dir())
            .into_iter()
            .next()
            .map(|c| c.name)
            .ok_or_else(|| {
                verity::Error::Other("there is no retrain candidate to decide on".into())
            }),
    }
}

fn refuse_while_running() -> Res<()> {
    if job().running {
        return Err(verity::Error::Other(
            "a retrain is running: wait for it to finish or cancel it first".into(),
        )
        .into());
    }
    Ok(())
}

#[tauri::command]
pub async fn retrain_status(state: State<'_, AppState>) -> Res<RetrainStatus> {
    let settings = state.settings();
    let running = job().running;
    let mut status = state.with_store(|s| {
        // An accept interrupted by a crash is completed or rolled back (audited) first.
        if !running {
            if let Err(e) = retrain::recover_accepts(&settings.models_dir(), s) {
                tracing::warn!("retrain accept recovery: {e}");
            }
        }
        Ok(status_of(&settings, s))
    })?;
    let j = job();
    status.running = j.running;
    status.progress = j.progress.clone();
    status.last_error = j.last_error.clone();
    Ok(status)
}

/// Checks the data and the profile, then starts the run on its own thread.
#[tauri::command]
pub async fn retrain_start<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    options: Option<RetrainOptions>,
) -> Res<()> {
    use tauri::Emitter;
    let settings = state.settings();
    let run = Retrain::new(&settings, options.unwrap_or_default())?;
    state.with_store(|s| run.check(s))?;
    let cancel = {
        let mut j = job();
        if j.running {
            return Err(verity::Error::Other("a retrain is already running".into()).into());
        }
        j.running = true;
        j.progress = None;
        j.last_error = None;
        j.cancel = Arc::new(AtomicBool::new(false));
        j.cancel.clone()
    };
    let emit = move |e: RetrainEvent| {
        if let Err(err) = app.emit(EVENT, e) {
            tracing::warn!("could not send a retrain event to the window: {err}");
        }
    };
    let spawned = std::thread::Builder::new()
        .name("retrain".into())
        .spawn(move || {
            let result = run_contained(
                &run,
                &|p| {
                    job().progress = Some(p.clone());
                    emit(RetrainEvent::Progress {
                        progress: p.clone(),
                    });
                },
                &cancel,
            );
            let event = match result {
                Ok(candidate) => RetrainEvent::Finished {
                    candidate: Box::new(candidate),
                },
                Err(verity::Error::Cancelled) => RetrainEvent::Cancelled,
                Err(e) => {
                    let e = CommandError::from(e);
                    RetrainEvent::Failed {
                        code: e.code,
                        message: e.message,
                    }
                }
            };
            {
                let mut j = job();
                j.running = false;
                j.progress = None;
                j.last_error = match &event {
                    RetrainEvent::Failed { message, .. } => Some(message.clone()),
                    RetrainEvent::Cancelled => Some("the last retrain was cancelled".into()),
                    _ => None,
                };
            }
            emit(event);
        });
    if let Err(e) = spawned {
        job().running = false;
        return Err(verity::Error::Other(format!("cannot start the retrain thread: {e}")).into());
    }
    Ok(())
}

/// [`Retrain::run`] with a panic (libtorch reports some errors by panicking through tch) ended
/// like any other failure: a readable error, a `retrain_finish` audit row saying `failed`, and
/// no half-written candidate folder (new since the start and without its `candidate.json`).
pub fn run_contained(
    run: &Retrain,
    progress: &dyn Fn(&RetrainProgress),
    cancel: &AtomicBool,
) -> verity::Result<Candidate> {
    let candidates = retrain::candidates_dir(&run.models_dir);
    let names = || -> std::collections::HashSet<std::ffi::OsString> {
        std::fs::read_dir(&candidates)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default()
    };
    let before = names();
    let panic = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run.run(progress, cancel)
    })) {
        Ok(result) => return result,
        Err(p) => p,
    };
    let msg = verity::failover::panic_text(&panic);
    let error = format!("internal error during the retrain: {msg}");
    let mut removed = Vec::new();
    for name in names().difference(&before) {
        let dir = candidates.join(name);
        if !dir.join("candidate.json").exists() && std::fs::remove_dir_all(&dir).is_ok() {
            removed.push(name.to_string_lossy().into_owned());
        }
    }
    let analyst = match run.settings.analyst.trim() {
        "" => "app",
        a => a,
    };
    let audited = Store::open(&run.settings.data_dir()).and_then(|store| {
        store.audit(
            analyst,
            "retrain_finish",
            None,
            &serde_json::json!({"outcome": "failed", "candidate": removed.first(), "error": error}),
        )
    });
    if let Err(e) = audited {
        tracing::warn!("could not audit the failed retrain: {e}");
    }
    Err(verity::Error::Other(error))
}

/// Asks the running retrain to stop; false when none runs.
#[tauri::command]
pub async fn retrain_cancel() -> Res<bool> {
    let j = job();
    j.cancel.store(true, Ordering::Relaxed);
    Ok(j.running)
}

/// Installs the candidate (default: the newest) as a profile, selects it and reloads the
/// analysis worker. Returns the profile name.
#[tauri::command]
pub async fn retrain_accept(state: State<'_, AppState>, name: Option<String>) -> Res<String> {
    refuse_while_running()?;
    let settings = state.settings();
    let name = candidate_name(&settings, name)?;
    let profile = state
        .with_store(|s| retrain::accept(&settings.models_dir(), &name, s, &settings.analyst))?;
    state.replace_settings(settings_after_accept(&settings, &profile))?;
    Ok(profile)
}

/// Deletes the candidate (default: the newest).
#[tauri::command]
pub async fn retrain_discard(state: State<'_, AppState>, name: Option<String>) -> Res<()> {
    refuse_while_running()?;
    let settings = state.settings();
    let name = candidate_name(&settings, name)?;
    Ok(state
        .with_store(|s| retrain::discard(&settings.models_dir(), &name, s, &settings.analyst))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_reports_counts_and_refusals_and_accept_selects_the_profile() {
        let dir = std::env::temp_dir().join(format!("verity-desk-retrain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let settings = Settings {
            models_dir: Some(dir.join("models")),
            data_dir: Some(dir.join("data")),
            profile: None,
            ..Settings::default()
        };
        let store = Store::open(&settings.data_dir()).unwrap();
        let st = status_of(&settings, &store);
        assert_eq!(st.counts, Some(LabelCounts::default()));
        assert!(st.parent.is_none());
        assert!(
            st.parent_error
                .as_deref()
                .unwrap_or("")
                .contains("verity models fetch"),
            "{st:?}"
        );
        let refusal = st.refusal.unwrap_or_default();
        assert!(refusal.contains("you have 0 fake and 0 real"), "{refusal}");
        assert!(st.candidate.is_none());
        assert!(candidate_name(&settings, None).is_err());
        assert_eq!(candidate_name(&settings, Some("x".into())).unwrap(), "x");

        let after = settings_after_accept(&settings, "p-reviews-1");
        assert_eq!(after.profile.as_deref(), Some("p-reviews-1"));
        assert_eq!(after.models_dir, settings.models_dir);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_panicking_retrain_ends_failed_audited_and_without_a_candidate_folder() {
        let dir = tempfile_dir("panic");
        verity::models::profile::create_random_profile(
            &dir.join("models/profiles/tiny"),
            "tiny",
            0,
        )
        .unwrap();
        let settings = Settings {
            models_dir: Some(dir.join("models")),
            data_dir: Some(dir.join("data")),
            profile: Some("tiny".into()),
            analyst: "Ada".into(),
            ..Settings::default()
        };
        drop(Store::open(&settings.data_dir()).unwrap());
        let run = Retrain::new(&settings, RetrainOptions::default()).unwrap();
        let candidates = retrain::candidates_dir(&settings.models_dir());
        let keep = candidates.join("finished-earlier");
        std::fs::create_dir_all(&keep).unwrap();
        // A libtorch panic midway: the candidate folder exists, half written.
        let half = candidates.join("tiny-reviews-half");
        let e = run_contained(
            &run,
            &|_| {
                std::fs::create_dir_all(half.join("checkpoint")).unwrap();
                panic!("CUDA error: an illegal memory access was encountered");
            },
            &AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("internal error") && e.contains("illegal memory"),
            "{e}"
        );
        assert!(!half.exists(), "the half-written candidate is removed");
        assert!(keep.exists(), "older folders are left alone");
        let store = Store::open(&settings.data_dir()).unwrap();
        let last = store.audit_log(None).unwrap().pop().unwrap();
        assert_eq!(last.action, "retrain_finish");
        assert_eq!(last.actor, "Ada");
        let details = serde_json::to_string(&last.details).unwrap();
        assert!(
            details.contains("failed") && details.contains("illegal memory"),
            "{details}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("verity-desk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }
}
