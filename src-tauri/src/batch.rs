//! Commands on several cases at once: batch export into one ZIP (`verity::export`) and batch
//! re-run. The ZIP goes only where the analyst pointed the core's save dialog
//! (`pick_export_path`) or inside the data folder, like a single report (`export_allowed`).
use crate::commands::{export_allowed, CommandError};
use crate::state::AppState;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use tauri::{Emitter, State};
use verity::export::BatchSummary;
use verity::worker::JobKind;

/// The window-side name of a batch export's progress events (`verity::export::Progress`).
pub const EXPORT_EVENT: &str = "export";

/// Set by `cancel_export`; the running export stops before its next case, writing nothing.
static CANCEL: AtomicBool = AtomicBool::new(false);
/// One batch export at a time.
static RUNNING: AtomicBool = AtomicBool::new(false);

type Res<T> = Result<T, CommandError>;

/// The native save dialog for a batch export (a `.zip`), opened by the core; the path is
/// remembered so that `export_cases` may write there once. None when cancelled.
#[tauri::command]
pub async fn pick_export_path<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    default_name: String,
) -> Res<Option<PathBuf>> {
    crate::commands::pick_save_path(&app, &state, "Export cases", default_name, "zip").await
}

/// Exports `case_ids` into one ZIP at `path` (each case's HTML, JSON and — with `pdf` — PDF
/// report plus summary.csv). Progress goes to the window as `export` events; a case that
/// cannot be reported is listed in the summary with its error and the others are exported.
/// Runs on a blocking thread with its own store connection.
#[tauri::command]
pub async fn export_cases<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    case_ids: Vec<i64>,
    path: PathBuf,
    pdf: bool,
) -> Res<BatchSummary> {
    let settings = state.settings();
    {
        let mut chosen = state.export_paths.lock().unwrap_or_else(|p| p.into_inner());
        export_allowed(&mut chosen, &settings.data_dir(), &path)?;
    }
    if RUNNING.swap(true, Ordering::SeqCst) {
        return Err(CommandError {
            code: "busy",
            message: "An export is already running; wait for it to finish or cancel it.".into(),
        });
    }
    CANCEL.store(false, Ordering::SeqCst);
    let actor = match settings.analyst.trim() {
        "" => "app".to_string(),
        a => a.to_string(),
    };
    let started = std::time::Instant::now();
    let emitter = app.clone();
    let outcome = tauri::async_runtime::spawn_blocking(move || {
        let store = verity::store::Store::open(&settings.data_dir())?;
        let opts = if pdf {
            verity::export::BatchOptions::with_pdf(&actor)
        } else {
            verity::export::BatchOptions::without_pdf(&actor)
        };
        verity::export::export_cases(
            &store,
            &case_ids,
            &path,
            &opts,
            &|p| {
                if let Err(e) = emitter.emit(EXPORT_EVENT, p) {
                    tracing::warn!("could not send export progress to the window: {e}");
                }
            },
            &CANCEL,
        )
    })
    .await;
    RUNNING.store(false, Ordering::SeqCst);
    let summary = outcome
        .map_err(|e| CommandError {
            code: "other",
            message: format!("the export stopped unexpectedly: {e}"),
        })?
        .map_err(CommandError::from)?;
    let body = format!(
        "{} case{} exported{} to {}",
        summary.exported,
        if summary.exported == 1 { "" } else { "s" },
        match summary.failed {
            0 => String::new(),
            n => format!(", {n} with errors"),
        },
        summary
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    crate::notify::after_long_task(&app, started.elapsed(), "Export finished", &body);
    Ok(summary)
}

/// Asks a running batch export to stop before its next case (nothing is written).
#[tauri::command]
pub async fn cancel_export() -> Res<bool> {
    let running = RUNNING.load(Ordering::SeqCst);
    if running {
        CANCEL.store(true, Ordering::SeqCst);
    }
    Ok(running)
}

/// Queues a re-run of each case (in the order given, each once); the job ids back.
#[tauri::command]
pub async fn rerun_cases(state: State<'_, AppState>, case_ids: Vec<i64>) -> Res<Vec<u64>> {
    Ok(rerun_all(&case_ids, |kind| state.worker.enqueue(kind)))
}

/// The jobs of a batch re-run: one `Rerun` per distinct case, in order.
pub fn rerun_all(case_ids: &[i64], mut enqueue: impl FnMut(JobKind) -> u64) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    case_ids
        .iter()
        .filter(|id| seen.insert(**id))
        .map(|&case_id| enqueue(JobKind::Rerun { case_id }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_rerun_queues_each_case_once_in_order() {
        let mut queued = vec![];
        let ids = rerun_all(&[3, 1, 3, 2], |k| {
            queued.push(k);
            queued.len() as u64
        });
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(
            queued,
            vec![
                JobKind::Rerun { case_id: 3 },
                JobKind::Rerun { case_id: 1 },
                JobKind::Rerun { case_id: 2 }
            ]
        );
        assert!(rerun_all(&[], |_| unreachable!()).is_empty());
    }
}
