//! Verity Desk's desktop shell: a Tauri 2 window over the `verity` core. This crate only wires
//! IPC (commands, plugins, window); analysis, storage and models live in the core library.
use std::ffi::OsString;
use std::process::ExitCode;
use tauri::Manager;

pub mod batch;
pub mod commands;
pub mod instance;
pub mod notify;
pub mod player;
pub mod protocol;
pub mod retrain;
pub mod state;

/// The advice printed when there is no display to open a window on; `make run` prints the same.
pub const NO_DISPLAY_ADVICE: &str = "\
verity-desk: no display found (DISPLAY/WAYLAND_DISPLAY unset).
  On a desktop, run 'make run' inside your graphical session.
  On a headless machine, run it under a virtual display:  xvfb-run -a make run";

/// Exit code for "cannot open a window here", shared with `make run`.
pub const EXIT_NO_DISPLAY: u8 = 3;

/// Whether a graphical session is reachable, judged from the environment. GTK would otherwise
/// panic deep inside window creation with a message that does not tell the user what to do.
/// Only Linux/BSD desktops depend on these variables; macOS and Windows always have a display.
pub fn has_display(var: impl Fn(&str) -> Option<OsString>) -> bool {
    if !cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "openbsd",
        target_os = "netbsd"
    )) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|k| var(k).is_some_and(|v| !v.is_empty()))
}

/// Builds the app on the given builder; tests can pass `tauri::test::mock_builder()`.
pub fn build_app<R: tauri::Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_dialog::init())
        // Sent by the core only (`notify`); the page holds no notification permission.
        .plugin(tauri_plugin_notification::init())
        .setup(|app| {
            let state = start_state(app.handle().clone())?;
            app.manage(state);
            Ok(())
        })
        // Stored pictures (face crops, a case's still image) as plain image requests.
        .register_asynchronous_uri_scheme_protocol(protocol::SCHEME, |ctx, request, responder| {
            let app = ctx.app_handle().clone();
            let path = request.uri().path().to_string();
            tauri::async_runtime::spawn_blocking(move || {
                let response = match app.try_state::<state::AppState>() {
                    Some(state) => protocol::respond(&state, &path),
                    None => tauri::http::Response::builder()
                        .status(tauri::http::StatusCode::SERVICE_UNAVAILABLE)
                        .body(std::borrow::Cow::Borrowed(&b"starting"[..]))
                        .unwrap_or_default(),
                };
                responder.respond(response);
            });
        })
        // Files dropped on the window: the native event carries the real paths, and only these
        // (or dialog picks) may be imported — the page cannot name a path of its own.
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) = event {
                if let Some(state) = window.try_state::<state::AppState>() {
                    state.grant_import(paths);
                }
            }
        })
        .on_webview_event(|webview, event| {
            if let tauri::WebviewEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) = event {
                if let Some(state) = webview.try_state::<state::AppState>() {
                    state.grant_import(paths);
                }
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::list_cases,
            commands::case_detail,
            commands::case_provenance,
            commands::counts,
            commands::import,
            commands::cancel,
            commands::rerun,
            commands::jobs,
            commands::review,
            commands::review_queue,
            commands::get_settings,
            commands::save_settings,
            commands::models_status,
            commands::profiles,
            commands::export_report,
            commands::pick_report_path,
            commands::pick_media_paths,
            commands::explain,
            commands::explanations,
            commands::undo_review,
            commands::set_case_tags,
            commands::set_case_note,
            commands::all_tags,
            batch::pick_export_path,
            batch::export_cases,
            batch::cancel_export,
            batch::rerun_cases,
            retrain::retrain_status,
            retrain::retrain_start,
            retrain::retrain_cancel,
            retrain::retrain_accept,
            retrain::retrain_discard,
            player::media_info,
            player::media_frame,
            player::live_devices,
            player::start_live,
        ])
}

/// Loads the settings (a broken file is reported and replaced by defaults in memory, never
/// overwritten) and starts the worker, whose events go to the window as `analysis` events.
fn start_state<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
) -> Result<state::AppState, Box<dyn std::error::Error>> {
    use tauri::Emitter;
    let settings_path = verity::config::Settings::default_path();
    let settings = verity::config::Settings::load(&settings_path).unwrap_or_else(|e| {
        tracing::warn!("settings not loaded, using defaults: {e}");
        verity::config::Settings::default()
    });
    let clock = notify::JobClock::default();
    let worker = verity::worker::Worker::spawn(settings.clone(), move |e| {
        if let Err(err) = app.emit(state::EVENT, e) {
            tracing::warn!("could not send an analysis event to the window: {err}");
        }
        // A long analysis that ended while the window is in the background: tell the OS.
        if let Some((took, n)) = clock.observe(e, std::time::Instant::now()) {
            notify::after_long_task(&app, took, &n.title, &n.body);
        }
    })?;
    Ok(state::AppState {
        settings_path,
        settings: std::sync::Mutex::new(settings),
        store: std::sync::Mutex::new(None),
        worker,
        export_paths: Default::default(),
        import_grants: Default::default(),
        import_roots: std::env::var_os(state::IMPORT_ROOTS_VAR)
            .map(|v| std::env::split_paths(&v).filter(|p| p.is_absolute()).collect())
            .unwrap_or_default(),
    })
}

/// Starts the desktop app and returns when its last window closes.
pub fn run() -> ExitCode {
    if !has_display(|k| std::env::var_os(k)) {
        eprintln!("{NO_DISPLAY_ADVICE}");
        return ExitCode::from(EXIT_NO_DISPLAY);
    }
    // The same daily files in `<data dir>/logs/` as the CLI (pruned after 30 days).
    let data_dir = verity::config::Settings::load(&verity::config::Settings::default_path())
        .unwrap_or_default()
        .data_dir();
    verity::logging::init(&data_dir);
    tracing::info!(version = verity::version(), "starting Verity Desk");
    // One app per data folder: a second launch hands its files to this one (`instance`). The
    // plugin must come first, before anything else is set up.
    let mut builder = tauri::Builder::default();
    if let Some(single) = instance::plugin(&data_dir) {
        builder = builder.plugin(single);
    }
    // Files named on our own command line are imported like handed-over ones.
    let argv: Vec<String> = std::env::args().collect();
    let mut opened = Some(instance::import_args(
        &argv,
        &std::env::current_dir().unwrap_or_default(),
    ));
    match build_app(builder).build(tauri::generate_context!()) {
        Ok(app) => {
            app.run(move |handle, event| {
                if let tauri::RunEvent::Ready = event {
                    if let Some(paths) = opened.take() {
                        instance::hand_over(handle, paths);
                    }
                }
            });
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verity-desk: could not start the window: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn display_detection_reads_x11_and_wayland_variables() {
        if !cfg!(target_os = "linux") {
            return;
        }
        assert!(!has_display(env(&[])));
        assert!(
            !has_display(env(&[("DISPLAY", "")])),
            "an empty DISPLAY is no display"
        );
        assert!(has_display(env(&[("DISPLAY", ":99")])));
        assert!(has_display(env(&[("WAYLAND_DISPLAY", "wayland-0")])));
    }

    #[test]
    fn no_display_advice_matches_make_run() {
        let makefile = include_str!("../../Makefile");
        for line in NO_DISPLAY_ADVICE.lines() {
            let line = line.trim();
            assert!(makefile.contains(line), "Makefile lacks the line {line:?}");
        }
    }
}
