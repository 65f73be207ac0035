//! What the commands share: the settings (and the file they persist to), a read connection to
//! the case store, and the background worker that owns the models. Built once in `setup`.
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use verity::config::Settings;
use verity::store::Store;
use verity::worker::Worker;

pub struct AppState {
    pub settings_path: PathBuf,
    pub settings: Mutex<Settings>,
    /// Opened on first use, reopened when the data folder changes. The worker has its own.
    pub store: Mutex<Option<Store>>,
    pub worker: Worker,
    /// Report paths the analyst chose in the save dialog (`pick_report_path`) and has not
    /// exported to yet: `export_report` writes only to these or inside the data folder.
    pub export_paths: Mutex<std::collections::HashSet<PathBuf>>,
    /// Media paths the analyst picked in the open dialog (`pick_media_paths`) or dropped on the
    /// window, not imported yet: `import` accepts only these (or paths under `import_roots`).
    pub import_grants: Mutex<std::collections::HashSet<PathBuf>>,
    /// Folders whose contents may be imported without a dialog, from `VERITY_DESK_IMPORT_ROOTS`
    /// (the OS path-list syntax) at launch: for automation and the end-to-end tests.
    pub import_roots: Vec<PathBuf>,
}

/// The environment variable naming folders the webview may import from without a dialog.
pub const IMPORT_ROOTS_VAR: &str = "VERITY_DESK_IMPORT_ROOTS";

/// The window-side name of the worker's event stream (`listen('analysis', …)` in the UI).
pub const EVENT: &str = "analysis";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every holder only reads or swaps whole values, so a poisoned lock's data is still whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AppState {
    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    /// Runs `f` on the read store, opening it first if needed.
    pub fn with_store<T>(
        &self,
        f: impl FnOnce(&mut Store) -> verity::Result<T>,
    ) -> verity::Result<T> {
        let mut guard = lock(&self.store);
        if guard.is_none() {
            *guard = Some(Store::open(&self.settings().data_dir())?);
        }
        match guard.as_mut() {
            Some(store) => f(store),
            None => Err(verity::Error::Other("the case store is not open".into())),
        }
    }

    /// Records paths the analyst chose or dropped, so that `import` accepts them.
    pub fn grant_import(&self, paths: &[PathBuf]) {
        lock(&self.import_grants).extend(paths.iter().cloned());
    }

    /// Validates, persists, hands the settings to the worker and reopens the store if it moved.
    pub fn replace_settings(&self, new: Settings) -> verity::Result<()> {
        new.save(&self.settings_path)?;
        self.worker.update_settings(new.clone())?;
        let moved = self.settings().data_dir() != new.data_dir();
        *lock(&self.settings) = new;
        if moved {
            *lock(&self.store) = None;
        }
        Ok(())
    }
}
