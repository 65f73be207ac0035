//! The commands the UI may invoke. Each is a thin call into the `verity` core; none holds logic
//! of its own. Errors cross to the UI as `{ code, message }` so the UI can branch on `code`
//! and show `message` as written for the analyst.
use crate::state::AppState;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tauri::State;
use verity::config::Settings;
use verity::explain::case::CaseExplanation;
use verity::models::hub::ModelStatus;
use verity::store::{CaseDetail, CaseFilter, CaseSummary, ExplanationRow, TagCount, Undo, Verdict};
use verity::worker::{JobInfo, JobKind};

/// What the top bar shows: the core's version and the compute device it will run on.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub version: String,
    pub device: verity::device::DeviceInfo,
}

/// The error every command returns, serialised as `{ "code": "...", "message": "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandError {
    /// A stable machine-readable kind (`input`, `unsupported`, `weights`, …).
    pub code: &'static str,
    /// The core's message, already written for the analyst.
    pub message: String,
}

impl From<verity::Error> for CommandError {
    fn from(e: verity::Error) -> Self {
        CommandError {
            code: verity::worker::error_code(&e),
            message: e.to_string(),
        }
    }
}

/// Version and compute device. Async so libtorch's start-up and the `nvidia-smi` query run off
/// the UI thread.
#[tauri::command]
pub async fn app_info() -> AppInfo {
    AppInfo {
        version: verity::version().to_string(),
        device: verity::device::describe(),
    }
}

/// Shorthand for what every store-touching command returns.
type Res<T> = Result<T, CommandError>;

/// The case list, filtered by band/status and a search over title and hash.
#[tauri::command]
pub async fn list_cases(
    state: State<'_, AppState>,
    filter: Option<CaseFilter>,
) -> Res<Vec<CaseSummary>> {
    Ok(state.with_store(|s| s.list_cases(&filter.unwrap_or_default()))?)
}

#[tauri::command]
pub async fn case_detail(state: State<'_, AppState>, case_id: i64) -> Res<CaseDetail> {
    Ok(state.with_store(|s| s.case_detail(case_id))?)
}

/// The case's provenance panel and verdict context (`verity::provenance::case_view`): what the
/// file says about itself, the other cases it or its faces were seen in, and the signals shown
/// beside (never inside) the detector's score. Private fields (GPS, serial numbers) are sent
/// marked `private`; the page hides them until the analyst asks. The seen-before comparison
/// scans the archive, so it runs on a blocking thread with its own store connection and the
/// shared one stays free for the rest of the UI.
#[tauri::command]
pub async fn case_provenance(
    state: State<'_, AppState>,
    case_id: i64,
) -> Res<verity::provenance::CaseProvenance> {
    let data = state.settings().data_dir();
    tauri::async_runtime::spawn_blocking(move || {
        let store = verity::store::Store::open(&data)?;
        verity::provenance::case_view(&store, case_id)
    })
    .await
    .map_err(|e| CommandError {
        code: "other",
        message: format!("reading the provenance of case {case_id} stopped unexpectedly: {e}"),
    })?
    .map_err(CommandError::from)
}

/// Cases per band (fake/review/real) or, when unscored, per status.
#[tauri::command]
pub async fn counts(state: State<'_, AppState>) -> Res<BTreeMap<String, i64>> {
    Ok(state.with_store(|s| s.counts())?)
}

/// Queues dropped or picked files/folders (one case each, see `verity::worker`); job ids back.
/// Only paths the analyst chose in the core's open dialog (`pick_media_paths`) or dropped on
/// the window (recorded from the native drop event), or paths under a folder allowed at launch
/// (`VERITY_DESK_IMPORT_ROOTS`): the webview cannot make the app read an arbitrary file. The
/// folder walk (links to folders not followed, depth and count capped) runs on a blocking
/// thread, not the async runtime.
#[tauri::command]
pub async fn import(state: State<'_, AppState>, paths: Vec<PathBuf>) -> Res<Vec<u64>> {
    // A drop's paths are recorded by the window-event handler; give it a moment in case the
    // page's drop handler reached us first.
    let mut waited = 0;
    loop {
        let outcome = {
            let mut granted = state
                .import_grants
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            import_allowed(&mut granted, &state.import_roots, &paths)
        };
        match outcome {
            Ok(()) => break,
            Err(e) if waited >= 10 => return Err(e),
            Err(_) => {
                waited += 1;
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            }
        }
    }
    let expansion =
        tauri::async_runtime::spawn_blocking(move || verity::worker::expand_paths_noted(&paths))
            .await
            .map_err(|e| CommandError {
                code: "other",
                message: format!("the import stopped unexpectedly: {e}"),
            })??;
    Ok(state.worker.enqueue_expanded(expansion)?)
}

/// Whether the webview may import `paths`: each one was granted (picked in the open dialog or
/// dropped on the window; a grant is used up by the import) or lies, links resolved, under one
/// of `roots`. All or nothing: on refusal no grant is used up.
pub fn import_allowed(
    granted: &mut std::collections::HashSet<PathBuf>,
    roots: &[PathBuf],
    paths: &[PathBuf],
) -> Res<()> {
    let under_root = |p: &std::path::Path| {
        let Ok(real) = p.canonicalize() else {
            return false;
        };
        roots
            .iter()
            .filter_map(|r| r.canonicalize().ok())
            .any(|r| real.starts_with(r))
    };
    for p in paths {
        if !p.is_absolute() {
            return Err(CommandError::from(verity::Error::input(
                p,
                "is not an absolute path; drop the file or pick it in the Import dialog",
            )));
        }
        if !granted.contains(p) && !under_root(p) {
            return Err(CommandError::from(verity::Error::input(
                p,
                "was not chosen in the Import dialog or dropped on the window; the app imports \
                 only files and folders you pick or drop",
            )));
        }
    }
    for p in paths {
        granted.remove(p);
    }
    Ok(())
}

/// The native open dialog for media (`folder`: one folder instead of files), opened by the
/// core so that `import` accepts exactly what the analyst chose. Empty when cancelled.
#[tauri::command]
pub async fn pick_media_paths<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    folder: bool,
) -> Res<Vec<PathBuf>> {
    use tauri_plugin_dialog::DialogExt;
    let picked = tauri::async_runtime::spawn_blocking(move || {
        let dialog = app.dialog().file();
        if folder {
            dialog
                .set_title("Import a folder")
                .blocking_pick_folder()
                .map(|p| vec![p])
        } else {
            let all: Vec<&str> = verity::worker::IMAGE_EXTENSIONS
                .iter()
                .chain(verity::worker::VIDEO_EXTENSIONS)
                .copied()
                .collect();
            dialog
                .set_title("Import images or videos")
                .add_filter("Images and videos", &all)
                .add_filter("Images", verity::worker::IMAGE_EXTENSIONS)
                .add_filter("Videos", verity::worker::VIDEO_EXTENSIONS)
                .blocking_pick_files()
        }
    })
    .await
    .map_err(|e| CommandError {
        code: "other",
        message: format!("the open dialog stopped unexpectedly: {e}"),
    })?;
    let paths: Vec<PathBuf> = picked
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.into_path().ok())
        .collect();
    state.grant_import(&paths);
    Ok(paths)
}

/// Cancels a queued or running job; false when it had already ended.
#[tauri::command]
pub async fn cancel(state: State<'_, AppState>, job: u64) -> Res<bool> {
    Ok(state.worker.cancel(job))
}

#[tauri::command]
pub async fn rerun(state: State<'_, AppState>, case_id: i64) -> Res<u64> {
    Ok(state.worker.enqueue(JobKind::Rerun { case_id }))
}

/// Jobs queued or running now, for a window that (re)loads mid-analysis.
#[tauri::command]
pub async fn jobs(state: State<'_, AppState>) -> Res<Vec<JobInfo>> {
    Ok(state.worker.jobs())
}

/// Records the analyst's decision (name from settings) as a review, label and audit entry.
#[tauri::command]
pub async fn review(
    state: State<'_, AppState>,
    case_id: i64,
    verdict: String,
    note: Option<String>,
) -> Res<i64> {
    let (verdict, analyst) = (verdict.parse::<Verdict>()?, state.settings().analyst);
    if analyst.trim().is_empty() {
        return Err(CommandError {
            code: "no_analyst",
            message: "Set your analyst name in Settings before recording decisions.".into(),
        });
    }
    Ok(state.with_store(|s| {
        s.add_review(
            case_id,
            verdict,
            analyst.trim(),
            note.as_deref().unwrap_or(""),
        )
    })?)
}

/// The analyst name from the settings, or the error the UI shows when it is not set.
fn analyst_of(state: &AppState) -> Res<String> {
    let analyst = state.settings().analyst;
    if analyst.trim().is_empty() {
        return Err(CommandError {
            code: "no_analyst",
            message: "Set your analyst name in Settings before recording decisions.".into(),
        });
    }
    Ok(analyst.trim().to_string())
}

/// Withdraws the analyst's last decision on a case (`Store::undo_review`: an appended
/// retraction, history kept); answers what was withdrawn and the decision the case has now.
#[tauri::command]
pub async fn undo_review(state: State<'_, AppState>, case_id: i64) -> Res<Undo> {
    let analyst = analyst_of(&state)?;
    Ok(state.with_store(|s| s.undo_review(case_id, &analyst))?)
}

/// Replaces a case's tags (normalised and checked by the core); answers the stored list.
#[tauri::command]
pub async fn set_case_tags(
    state: State<'_, AppState>,
    case_id: i64,
    tags: Vec<String>,
) -> Res<Vec<String>> {
    let analyst = analyst_of(&state)?;
    Ok(state.with_store(|s| s.set_case_tags(case_id, &tags, &analyst))?)
}

/// Replaces a case's note (normalised and checked by the core); answers the stored text.
#[tauri::command]
pub async fn set_case_note(state: State<'_, AppState>, case_id: i64, note: String) -> Res<String> {
    let analyst = analyst_of(&state)?;
    Ok(state.with_store(|s| s.set_case_note(case_id, &note, &analyst))?)
}

/// Every tag in use with its number of cases: the case list's tag filter.
#[tauri::command]
pub async fn all_tags(state: State<'_, AppState>) -> Res<Vec<TagCount>> {
    Ok(state.with_store(|s| s.all_tags())?)
}

/// The review band, oldest first, without cases that have a decision (an undone one does not
/// count: the case comes back).
#[tauri::command]
pub async fn review_queue(state: State<'_, AppState>) -> Res<Vec<CaseSummary>> {
    Ok(state.with_store(verity_review_queue)?)
}

pub(crate) fn verity_review_queue(
    s: &mut verity::store::Store,
) -> verity::Result<Vec<CaseSummary>> {
    let mut cases = s.list_cases(&CaseFilter {
        band: Some("review".into()),
        ..CaseFilter::default()
    })?;
    cases.retain(|c| {
        s.current_decision(c.id)
            .map(|d| d.is_none())
            .unwrap_or(true)
    });
    cases.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(cases)
}

#[tauri::command]
pub async fn get_settings(state: State<'_, AppState>) -> Res<SettingsView> {
    let settings = state.settings();
    Ok(SettingsView {
        data_dir_resolved: settings.data_dir(),
        path: state.settings_path.clone(),
        settings,
    })
}

/// Validates and persists (TOML in the OS config dir); the worker reloads models on its next job.
#[tauri::command]
pub async fn save_settings(state: State<'_, AppState>, settings: Settings) -> Res<()> {
    check_settings_folders(&settings)?;
    Ok(state.replace_settings(settings)?)
}

/// The data and models folders must be absolute and be (or be creatable as) folders: never a
/// file, a relative path or a path with control characters.
pub fn check_settings_folders(settings: &Settings) -> Res<()> {
    let folders = [
        ("data folder", settings.data_dir.as_deref()),
        ("models folder", settings.models_dir.as_deref()),
    ];
    for (what, dir) in folders {
        let Some(dir) = dir else { continue };
        let bad = |why: &str| CommandError {
            code: "config",
            message: format!("{what} {}: {why}", dir.display()),
        };
        if dir.to_string_lossy().chars().any(char::is_control) {
            return Err(bad("contains control characters"));
        }
        if !dir.is_absolute() {
            return Err(bad("must be an absolute path"));
        }
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(bad("is a file, not a folder")),
            Err(_) => {
                // Creatable: the nearest existing ancestor is a folder.
                let parent = dir.ancestors().skip(1).find(|a| a.exists());
                if !parent.is_some_and(|a| a.is_dir()) {
                    return Err(bad("cannot be created (a file is in the way)"));
                }
            }
        }
    }
    Ok(())
}

/// The native save dialog for a report, opened by the core so that the path the analyst chose
/// is remembered: `export_report` writes only to such paths (or inside the data folder).
#[tauri::command]
pub async fn pick_report_path<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    default_name: String,
    format: String,
) -> Res<Option<PathBuf>> {
    let format: verity::report::Format = format.parse()?;
    let ext = report_ext(format);
    pick_save_path(&app, &state, "Export case report", default_name, ext).await
}

/// The core's native save dialog for a file of type `ext`; the chosen path is remembered in
/// `AppState.export_paths`, so that one export may write there. None when cancelled.
pub(crate) async fn pick_save_path<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    state: &AppState,
    title: &'static str,
    default_name: String,
    ext: &'static str,
) -> Res<Option<PathBuf>> {
    use tauri_plugin_dialog::DialogExt;
    let app = app.clone();
    let picked = tauri::async_runtime::spawn_blocking(move || {
        app.dialog()
            .file()
            .set_title(title)
            .set_file_name(default_name)
            .add_filter(ext.to_uppercase(), &[ext])
            .blocking_save_file()
    })
    .await
    .map_err(|e| CommandError {
        code: "other",
        message: format!("the save dialog stopped unexpectedly: {e}"),
    })?;
    let path = picked.and_then(|p| p.into_path().ok());
    if let Some(p) = &path {
        state
            .export_paths
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(p.clone());
    }
    Ok(path)
}

fn report_ext(format: verity::report::Format) -> &'static str {
    match format {
        verity::report::Format::Html => "html",
        verity::report::Format::Json => "json",
        verity::report::Format::Pdf => "pdf",
    }
}

/// Whether the webview may have a report written to `path`: a path the save dialog returned
/// (used up by this export) or a file inside the data folder. The file itself is then written
/// atomically and never over a file that is not an earlier report (`verity::fsutil`).
pub fn export_allowed(
    chosen: &mut std::collections::HashSet<PathBuf>,
    data_dir: &std::path::Path,
    path: &std::path::Path,
) -> Res<()> {
    if chosen.remove(path) {
        return Ok(());
    }
    let refuse = || CommandError {
        code: "input",
        message: format!(
            "{}: reports are written only where the save dialog pointed, or inside the data \
             folder; use Export to choose the file",
            path.display()
        ),
    };
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(refuse());
    }
    let (Some(parent), Some(_)) = (path.parent(), path.file_name()) else {
        return Err(refuse());
    };
    // Resolve links in the existing part of the folder so `data/x -> /etc` does not count as
    // inside (the rest does not exist yet, and `..` was refused above).
    let existing = parent.ancestors().find(|a| a.exists());
    let inside = match (existing.map(|a| a.canonicalize()), data_dir.canonicalize()) {
        (Some(Ok(p)), Ok(d)) => p.starts_with(d),
        _ => false,
    };
    if inside {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// The installed detector profiles (folder name, profile name, trained or not), for the
/// Settings' profile choice.
#[tauri::command]
pub async fn profiles(
    state: State<'_, AppState>,
) -> Res<Vec<verity::models::profile::ProfileEntry>> {
    Ok(verity::models::profile::profile_entries(
        &state.settings().models_dir(),
    ))
}

/// Each known model and whether it is installed and intact (re-hashes: can take seconds).
#[tauri::command]
pub async fn models_status(state: State<'_, AppState>) -> Res<Vec<ModelStatus>> {
    Ok(verity::models::hub::list(&state.settings().models_dir())?)
}

/// Writes the case report (`html`, `json` or `pdf` — the HTML printed by headless Chromium) to
/// `path`.
#[tauri::command]
pub async fn export_report(
    state: State<'_, AppState>,
    case_id: i64,
    format: String,
    path: PathBuf,
) -> Res<()> {
    let format: verity::report::Format = format.parse()?;
    {
        let mut chosen = state.export_paths.lock().unwrap_or_else(|p| p.into_inner());
        export_allowed(&mut chosen, &state.settings().data_dir(), &path)?;
    }
    if format == verity::report::Format::Pdf {
        // Chromium may take seconds: print on a blocking thread with its own store connection,
        // not holding the shared one.
        let data = state.settings().data_dir();
        return tauri::async_runtime::spawn_blocking(move || {
            let store = verity::store::Store::open(&data)?;
            verity::report::export(&store, case_id, format, &path)
        })
        .await
        .map_err(|e| CommandError {
            code: "other",
            message: format!("the PDF export stopped unexpectedly: {e}"),
        })?
        .map_err(CommandError::from);
    }
    Ok(state.with_store(|s| verity::report::export(s, case_id, format, &path))?)
}

/// Explains a case (see `verity::explain::case`): Grad-CAM/rollout of `frame`'s faces (default:
/// the most suspicious frame) when detector weights are installed, the four artifact views
/// always, and the temporal and blink plots of a video. Runs on a blocking thread with its own
/// store connection and detector, so neither the UI nor the analysis worker waits on it.
#[tauri::command]
pub async fn explain(
    state: State<'_, AppState>,
    case_id: i64,
    frame: Option<i64>,
) -> Res<CaseExplanation> {
    let settings = state.settings();
    tauri::async_runtime::spawn_blocking(move || run_explain(&settings, case_id, frame))
        .await
        .map_err(|e| CommandError {
            code: "other",
            message: format!("the explanation stopped unexpectedly: {e}"),
        })?
        .map_err(CommandError::from)
}

pub(crate) fn run_explain(
    settings: &Settings,
    case_id: i64,
    frame: Option<i64>,
) -> verity::Result<CaseExplanation> {
    let detector = verity::explain::case::load_detector(settings)?;
    let mut store = verity::store::Store::open(&settings.data_dir())?;
    let actor = if settings.analyst.trim().is_empty() {
        "app".to_string()
    } else {
        settings.analyst.trim().to_string()
    };
    verity::explain::case::explain_case(
        &mut store,
        detector.as_ref(),
        case_id,
        frame,
        &verity::explain::ExplainConfig::default(),
        &actor,
    )
}

/// One stored explanation with its picture inlined as a `data:` URL (`None` when the row has
/// no picture or its file is gone). Temporal and blink rows (`space` = `plot`) carry their
/// series in `data` (`verity::explain::chart::Chart`), which the UI draws; no picture is sent
/// for them (a PNG kept from before schema v5 is left in the store, not shipped).
#[derive(Debug, Clone, Serialize)]
pub struct ExplanationView {
    #[serde(flatten)]
    pub row: ExplanationRow,
    pub url: Option<String>,
}

/// The explanations of the case's latest analysis, newest run only: one per face, frame, kind
/// and space (re-explaining overwrites the picture and adds rows; older rows are history).
#[tauri::command]
pub async fn explanations(state: State<'_, AppState>, case_id: i64) -> Res<Vec<ExplanationView>> {
    Ok(state.with_store(|s| explanation_views(s, case_id))?)
}

pub(crate) fn explanation_views(
    s: &mut verity::store::Store,
    case_id: i64,
) -> verity::Result<Vec<ExplanationView>> {
    let rows = s.latest_explanations(case_id)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let url = row
                .blob
                .as_ref()
                .filter(|_| row.space != "plot")
                .and_then(|b| verity::report::data_url(&s.blobs.path(b)).ok());
            ExplanationView { row, url }
        })
        .collect())
}

/// Settings as the settings screen shows them: the values, the file, the resolved data folder.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub settings: Settings,
    pub path: PathBuf,
    pub data_dir_resolved: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn command_error_serialises_as_code_and_message() {
        let e = CommandError::from(verity::Error::input("/cases/clip.mp4", "file not found"));
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!({ "code": "input", "message": "/cases/clip.mp4: file not found" })
        );
    }

    #[test]
    fn every_core_error_kind_gets_its_own_code() {
        let cases = [
            (verity::Error::Unsupported("a.xyz".into()), "unsupported"),
            (verity::Error::TooLarge("8K video".into()), "too_large"),
            (
                verity::Error::Weights("missing clip.safetensors".into()),
                "weights",
            ),
            (verity::Error::Config("bad fps".into()), "config"),
            (verity::Error::Cancelled, "cancelled"),
            (verity::Error::Io(std::io::Error::other("disk full")), "io"),
            (verity::Error::Other("x".into()), "other"),
        ];
        for (err, code) in cases {
            let msg = err.to_string();
            let v = serde_json::to_value(CommandError::from(err)).unwrap();
            assert_eq!(v["code"], code);
            assert_eq!(v["message"], msg.as_str());
            assert_eq!(
                v.as_object().unwrap().len(),
                2,
                "only code and message cross to the UI"
            );
        }
    }

    /// A fresh folder under the temp dir (this crate has no `tempfile`).
    struct Scratch(PathBuf);
    impl Scratch {
        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn scratch(tag: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("verity-desk-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d.canonicalize().unwrap())
    }

    #[test]
    fn the_page_imports_only_picked_dropped_or_allowed_paths() {
        let d = scratch("importgrant");
        let root = d.path().join("allowed");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.png"), b"x").unwrap();
        let secret = d.path().join("secret.png");
        std::fs::write(&secret, b"s").unwrap();
        let mut granted = std::collections::HashSet::new();
        // Neither picked nor dropped nor under a root: refused, naming the file.
        let e = import_allowed(&mut granted, &[], std::slice::from_ref(&secret)).unwrap_err();
        assert_eq!(e.code, "input");
        assert!(e.message.contains("secret.png"), "{}", e.message);
        assert!(e.message.contains("Import dialog"), "{}", e.message);
        let e = import_allowed(&mut granted, &[], &[PathBuf::from("rel.png")]).unwrap_err();
        assert!(e.message.contains("absolute"), "{}", e.message);
        // A pick (or drop) allows that path once; all or nothing per call.
        granted.insert(secret.clone());
        let mixed = [secret.clone(), d.path().join("other.png")];
        assert!(import_allowed(&mut granted, &[], &mixed).is_err());
        assert!(granted.contains(&secret), "a refused call uses up no grant");
        import_allowed(&mut granted, &[], std::slice::from_ref(&secret)).unwrap();
        assert!(import_allowed(&mut granted, &[], std::slice::from_ref(&secret)).is_err());
        // Under an allowed root, links resolved: `..` and a link out of the root do not count.
        let roots = [root.clone()];
        import_allowed(
            &mut granted,
            &roots,
            &[root.join("sub/a.png"), root.join("sub")],
        )
        .unwrap();
        assert!(import_allowed(&mut granted, &roots, &[root.join("../secret.png")]).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&secret, root.join("sub/link.png")).unwrap();
            assert!(import_allowed(&mut granted, &roots, &[root.join("sub/link.png")]).is_err());
        }
    }

    #[test]
    fn reports_go_only_where_the_dialog_pointed_or_inside_the_data_folder() {
        let d = scratch("export");
        let data = d.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let outside = d.path().join("elsewhere/case.html");
        let mut chosen = std::collections::HashSet::new();
        let e = export_allowed(&mut chosen, &data, &outside).unwrap_err();
        assert_eq!(e.code, "input");
        assert!(e.message.contains("save dialog"), "{}", e.message);
        assert!(!d.path().join("elsewhere").exists(), "nothing created");
        // A path the dialog returned is allowed once.
        chosen.insert(outside.clone());
        export_allowed(&mut chosen, &data, &outside).unwrap();
        assert!(export_allowed(&mut chosen, &data, &outside).is_err());
        // Inside the data folder, also in a folder still to be created…
        export_allowed(&mut chosen, &data, &data.join("reports/new/case.pdf")).unwrap();
        // …but not by climbing out, nor through a link pointing out of it.
        for p in [
            data.join("../x.html"),
            PathBuf::from("relative.html"),
            PathBuf::from("/etc/passwd"),
        ] {
            assert!(export_allowed(&mut chosen, &data, &p).is_err(), "{p:?}");
        }
        std::os::unix::fs::symlink(d.path(), data.join("out")).unwrap();
        assert!(export_allowed(&mut chosen, &data, &data.join("out/x.html")).is_err());
    }

    #[test]
    fn settings_folders_must_be_absolute_folders() {
        let d = scratch("folders");
        let file = d.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let with = |data: PathBuf| Settings {
            data_dir: Some(data),
            ..Settings::default()
        };
        check_settings_folders(&Settings::default()).unwrap();
        check_settings_folders(&with(d.path().join("new/data"))).unwrap();
        for (dir, says) in [
            (PathBuf::from("data"), "absolute"),
            (file.clone(), "is a file"),
            (file.join("below"), "cannot be created"),
            (d.path().join("a\0b"), "control characters"),
        ] {
            let e = check_settings_folders(&with(dir.clone())).unwrap_err();
            assert_eq!(e.code, "config");
            assert!(e.message.contains(says), "{dir:?}: {}", e.message);
        }
        let models = Settings {
            models_dir: Some(file),
            ..Settings::default()
        };
        assert!(check_settings_folders(&models)
            .unwrap_err()
            .message
            .starts_with("models folder"));
    }

    #[test]
    fn app_info_reports_core_version_and_a_device() {
        let info = tauri::async_runtime::block_on(app_info());
        assert_eq!(info.version, verity::version());
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["version"], verity::version());
        let kind = v["device"]["kind"].as_str().unwrap();
        assert!(
            kind == "cpu" || kind == "cuda",
            "unexpected device kind {kind}"
        );
        assert!(!v["device"]["name"].as_str().unwrap().is_empty());
    }
    #[test]
    fn review_queue_is_the_unreviewed_review_band_oldest_first() {
        use verity::store::{NewMedia, Outcome, Store};
        let dir = std::env::temp_dir().join(format!("verity-desk-queue-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open(&dir.join("data")).unwrap();
        let mut ids = vec![];
        for (i, band) in ["review", "fake", "review", "review"].iter().enumerate() {
            let f = dir.join(format!("m{i}.bin"));
            std::fs::write(&f, format!("media {i}")).unwrap();
            let nm = NewMedia {
                original_path: f,
                kind: "image".into(),
                size_bytes: 7,
                width: None,
                height: None,
                duration_s: None,
                fps: None,
                codec: None,
                container: None,
            };
            let id = store.import(&nm, "t").unwrap().case_id;
            let aid = store.begin_analysis(id, "{}", "t").unwrap();
            let out = Outcome {
                status: "done".into(),
                score: Some(0.5),
                band: Some(band.to_string()),
                profile: None,
                weight_hashes: vec![],
                untrained: false,
                message: None,
                scores: vec![],
            };
            store.finish_analysis(aid, &out, "t").unwrap();
            ids.push(id);
        }
        store.add_review(ids[2], Verdict::Real, "Ada", "").unwrap();
        store.add_review(ids[3], Verdict::Fake, "Ada", "").unwrap();
        let queue = |store: &mut Store| -> Vec<i64> {
            verity_review_queue(store)
                .unwrap()
                .iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(queue(&mut store), vec![ids[0]]);
        // An undone decision puts the case back in the queue, in its place.
        store.undo_review(ids[3], "Ada").unwrap();
        assert_eq!(queue(&mut store), vec![ids[0], ids[3]]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn analysed_case(dir: &std::path::Path) -> (verity::store::Store, i64, i64) {
        use verity::store::{NewMedia, Outcome, Store};
        let mut store = Store::open(&dir.join("data")).unwrap();
        let f = dir.join("m.bin");
        std::fs::write(&f, "media").unwrap();
        let nm = NewMedia {
            original_path: f,
            kind: "image".into(),
            size_bytes: 5,
            width: None,
            height: None,
            duration_s: None,
            fps: None,
            codec: None,
            container: None,
        };
        let id = store.import(&nm, "t").unwrap().case_id;
        let aid = store.begin_analysis(id, "{}", "t").unwrap();
        let out = Outcome {
            status: "done".into(),
            score: Some(0.5),
            band: Some("review".into()),
            profile: None,
            weight_hashes: vec![],
            untrained: false,
            message: None,
            scores: vec![],
        };
        store.finish_analysis(aid, &out, "t").unwrap();
        (store, id, aid)
    }

    #[test]
    fn explanation_views_keep_the_newest_row_per_view_and_inline_its_png() {
        use verity::store::NewExplanation;
        let dir = std::env::temp_dir().join(format!("verity-desk-expl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut store, id, aid) = analysed_case(&dir);
        let png = [0x89u8, b'P', b'N', b'G', 13, 10, 26, 10];
        let rel = store.blobs.put_derived("a1/explain/ela.png", &png).unwrap();
        let row = |kind: &str, summary: &str, blob: Option<String>| NewExplanation {
            case_id: id,
            analysis_id: aid,
            face_id: None,
            frame_idx: Some(0),
            kind: kind.into(),
            space: "region".into(),
            blob,
            summary: summary.into(),
            data: json!({}),
        };
        store
            .add_explanation(&row("ela", "old run", Some(rel.clone())), "t")
            .unwrap();
        let newest = store
            .add_explanation(&row("ela", "new run", Some(rel.clone())), "t")
            .unwrap();
        let gone = store
            .add_explanation(
                &row("noise", "file removed", Some("derived/missing.png".into())),
                "t",
            )
            .unwrap();
        let views = explanation_views(&mut store, id).unwrap();
        assert_eq!(
            views.iter().map(|v| v.row.id).collect::<Vec<_>>(),
            vec![newest, gone]
        );
        assert_eq!(views[0].row.summary, "new run");
        let url = views[0].url.as_deref().unwrap();
        assert!(url.starts_with("data:image/png;base64,"), "{url}");
        assert!(views[1].url.is_none(), "a missing picture is no picture");
        let v = serde_json::to_value(&views[0]).unwrap();
        assert_eq!(v["kind"], "ela", "row fields are flattened for the UI");
        assert_eq!(v["url"], url);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn explanation_views_pass_a_tracks_chart_series_to_the_ui() {
        use verity::explain::temporal::{analyse_track, chart, FrameRecord, TemporalConfig};
        use verity::store::NewExplanation;
        let dir = std::env::temp_dir().join(format!("verity-desk-chart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut store, id, aid) = analysed_case(&dir);
        let records: Vec<FrameRecord> = (0..6)
            .map(|i| FrameRecord {
                frame: i,
                pts_s: 0.2 * i as f64,
                score: Some(0.1 * i as f64),
                ..FrameRecord::default()
            })
            .collect();
        let report = analyse_track(3, &records, &TemporalConfig::default()).unwrap();
        // A PNG left from before schema v5 is not shipped: the UI draws the series.
        let old_png = store
            .blobs
            .put_derived("a1/explain/track3_temporal.png", &[0x89, b'P', b'N', b'G'])
            .unwrap();
        store
            .add_explanation(
                &NewExplanation {
                    case_id: id,
                    analysis_id: aid,
                    face_id: None,
                    frame_idx: None,
                    kind: "temporal".into(),
                    space: "plot".into(),
                    blob: Some(old_png),
                    summary: report.summary.clone(),
                    data: chart(&report).to_json().unwrap(),
                },
                "t",
            )
            .unwrap();
        let views = explanation_views(&mut store, id).unwrap();
        assert_eq!(views.len(), 1);
        let v = serde_json::to_value(&views[0]).unwrap();
        assert_eq!(v["kind"], "temporal");
        assert!(v["url"].is_null(), "{}", v["url"]);
        assert_eq!(v["data"]["track"], 3);
        assert_eq!(v["data"]["frames"], json!([0, 1, 2, 3, 4, 5]));
        assert_eq!(v["data"]["x"].as_array().unwrap().len(), 6);
        let score = v["data"]["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "score")
            .unwrap();
        let values: Vec<f64> = score["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert_eq!(values, (0..6).map(|i| 0.1 * i as f64).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn run_explain_reports_a_case_without_faces_readably() {
        let dir = std::env::temp_dir().join(format!("verity-desk-expl2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, id, _) = analysed_case(&dir);
        drop(store);
        let settings = Settings {
            data_dir: Some(dir.join("data")),
            models_dir: Some(dir.join("no-models")),
            ..Settings::default()
        };
        let e = CommandError::from(run_explain(&settings, id, None).unwrap_err());
        assert_eq!(e.code, "other");
        assert!(e.message.contains("no faces to explain"), "{}", e.message);
        let e = CommandError::from(run_explain(&settings, id + 99, None).unwrap_err());
        assert!(!e.message.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn run_explain_with_an_untrained_profile_draws_gradcam_over_the_frame() {
        // A tiny random-weight profile keeps this fast; the real pipeline finds the face first.
        let dir = std::env::temp_dir().join(format!("verity-desk-expl3-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        verity::models::profile::create_random_profile(
            &dir.join("models/profiles/tiny-untrained"),
            "tiny",
            0,
        )
        .unwrap();
        let settings = Settings {
            data_dir: Some(dir.join("data")),
            models_dir: Some(dir.join("models")),
            profile: Some("tiny-untrained".into()),
            ..Settings::default()
        };
        let photo =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/astronaut.png");
        let case_id = {
            let analyzer = verity::pipeline::Analyzer::new(&settings).unwrap();
            let mut store = verity::store::Store::open(&settings.data_dir()).unwrap();
            let cancel = std::sync::atomic::AtomicBool::new(false);
            analyzer
                .analyze_path(&mut store, &photo, "t", &|_| {}, &cancel)
                .unwrap()
                .case_id
        };
        let ex = run_explain(&settings, case_id, None).unwrap();
        assert!(ex.faces >= 1);
        assert!(
            ex.note.as_deref().unwrap_or("").contains("UNTRAINED"),
            "{:?}",
            ex.note
        );
        let mut store = verity::store::Store::open(&settings.data_dir()).unwrap();
        let views = explanation_views(&mut store, case_id).unwrap();
        let kinds = |space: &str| {
            let mut k: Vec<&str> = views
                .iter()
                .filter(|v| v.row.space == space && v.url.is_some())
                .map(|v| v.row.kind.as_str())
                .collect();
            k.sort();
            k.dedup();
            k
        };
        assert!(
            kinds("frame")
                .iter()
                .any(|k| k.starts_with("gradcam") || *k == "rollout"),
            "a heat-map over the frame: {:?}",
            kinds("frame")
        );
        let artifacts = [kinds("region"), kinds("frame")].concat();
        for k in ["boundary", "ela", "noise", "spectrum"] {
            assert!(artifacts.contains(&k), "{k} missing: {artifacts:?}");
        }
        assert!(views.iter().all(|v| v
            .url
            .as_deref()
            .is_some_and(|u| u.starts_with("data:image/png;base64,"))));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
