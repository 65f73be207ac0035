//! One running app per data folder (tauri-plugin-single-instance): a second launch hands its
//! file arguments to the first — they count as the analyst's picks (import grants) and are
//! queued for import — focuses the first window, and exits. The app's own start-up arguments
//! are handled the same way (`verity-desk clip.mp4` imports the clip).
//!
//! On Linux the plugin claims a D-Bus name on the session bus; it is derived from the data
//! folder, so an automated run on its own data folder (the e2e tests) never hands over to the
//! analyst's app. Without a session bus the plugin is not installed (it would abort the start)
//! and several instances may run, as before.
use crate::state::AppState;
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use tauri::Manager;

/// The paths a command line hands over: every argument after the program name that is not an
/// option (`-x`, `--flag`; after a lone `--` everything counts), not empty, not a URL other
/// than `file://` (decoded into its path); relative ones resolved against `cwd` (dropped when
/// `cwd` is not absolute). Duplicates once, in order. Existence is checked by the import.
pub fn import_args<S: AsRef<str>>(argv: &[S], cwd: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = vec![];
    let mut options_done = false;
    for arg in argv.iter().skip(1).map(AsRef::as_ref) {
        if !options_done && arg == "--" {
            options_done = true;
            continue;
        }
        if arg.is_empty() || (!options_done && arg.starts_with('-')) {
            continue;
        }
        let path = if let Some(rest) = arg.strip_prefix("file://") {
            // `file:///a/b%20c.mp4` or `file://localhost/a/b.mp4` from a file manager.
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            match percent_decode(rest) {
                Some(p) if p.starts_with('/') => PathBuf::from(p),
                _ => continue,
            }
        } else if arg.contains("://") {
            continue;
        } else {
            PathBuf::from(arg)
        };
        let path = if path.is_absolute() {
            path
        } else if cwd.is_absolute() {
            cwd.join(path)
        } else {
            continue;
        };
        if !out.contains(&path) {
            out.push(path);
        }
    }
    out
}

/// `%XX` decoding of a URI path; None when malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The D-Bus name base for the data folder `data_dir`: `<identifier>.d<12 hex of its SHA-256>`
/// (the plugin appends `.SingleInstance`).
pub fn dbus_id(identifier: &str, data_dir: &Path) -> String {
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{identifier}.d{hex}")
}

/// Whether a D-Bus session bus can be reached (Linux): the address variable, or the usual
/// socket in the runtime folder. Other systems need none.
pub fn session_bus(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    if var("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    var("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists())
}

/// The single-instance plugin for the data folder, or None without a session bus.
pub fn plugin<R: tauri::Runtime>(data_dir: &Path) -> Option<tauri::plugin::TauriPlugin<R>> {
    if !session_bus(|k| std::env::var_os(k)) {
        tracing::info!("no D-Bus session bus: a second launch opens a second window");
        return None;
    }
    Some(
        tauri_plugin_single_instance::Builder::new()
            .dbus_id(dbus_id("org.verity.desk", data_dir))
            .callback(|app, argv, cwd| {
                focus_main(app);
                hand_over(app, import_args(&argv, Path::new(&cwd)));
            })
            .build(),
    )
}

/// Brings the main window to the front.
pub fn focus_main<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// Grants `paths` as the analyst's picks and queues them for import (folders walked on a
/// blocking thread, as a picked folder is). Missing files are logged and left out.
pub fn hand_over<R: tauri::Runtime>(app: &tauri::AppHandle<R>, paths: Vec<PathBuf>) {
    let paths: Vec<PathBuf> = paths
        .into_iter()
        .filter(|p| {
            let there = std::fs::symlink_metadata(p).is_ok();
            if !there {
                tracing::warn!(path = %p.display(), "handed-over file not found; not imported");
            }
            there
        })
        .collect();
    if paths.is_empty() {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        let Some(state) = app.try_state::<AppState>() else {
            return;
        };
        state.grant_import(&paths);
        let allowed = {
            let mut granted = state
                .import_grants
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            crate::commands::import_allowed(&mut granted, &state.import_roots, &paths)
        };
        let queued = allowed
            .map_err(|e| e.message)
            .and_then(|()| verity::worker::expand_paths_noted(&paths).map_err(|e| e.to_string()))
            .and_then(|x| state.worker.enqueue_expanded(x).map_err(|e| e.to_string()));
        match queued {
            Ok(jobs) => tracing::info!(jobs = jobs.len(), "queued the handed-over files"),
            Err(e) => tracing::warn!("handed-over files not imported: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(argv: &[&str], cwd: &str) -> Vec<String> {
        import_args(argv, Path::new(cwd))
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn which_arguments_become_import_paths() {
        let exe = "/usr/bin/verity-desk";
        assert!(
            paths(&[exe], "/home/ada").is_empty(),
            "the program is not a file to import"
        );
        assert_eq!(
            paths(
                &[exe, "clip.mp4", "/cases/photo.png", "sub/dir"],
                "/home/ada"
            ),
            [
                "/home/ada/clip.mp4",
                "/cases/photo.png",
                "/home/ada/sub/dir"
            ]
        );
        // Options are not files, unless after `--`; empty arguments are nothing.
        assert_eq!(
            paths(
                &[exe, "--verbose", "-x", "", "a.png", "--", "-odd name.mp4"],
                "/w"
            ),
            ["/w/a.png", "/w/-odd name.mp4"]
        );
        // file:// URIs (file managers) decoded; other URLs and duplicates left out.
        assert_eq!(
            paths(
                &[
                    exe,
                    "file:///cases/cam%202.avi",
                    "file://localhost/cases/x.png",
                    "rtsp://cam.local/stream",
                    "https://example.org/a.mp4",
                    "/cases/x.png",
                    "file:///bad%zz",
                    "file://host/share/y.png",
                ],
                "/w"
            ),
            ["/cases/cam 2.avi", "/cases/x.png"]
        );
        // A relative path needs an absolute working folder.
        assert!(paths(&[exe, "a.png"], "").is_empty());
        assert_eq!(paths(&[exe, "a.png"], "relative"), Vec::<String>::new());
    }

    #[test]
    fn the_dbus_name_is_per_data_folder_and_valid() {
        let a = dbus_id(
            "org.verity.desk",
            Path::new("/home/ada/.local/share/verity"),
        );
        let b = dbus_id("org.verity.desk", Path::new("/tmp/e2e/data"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            dbus_id(
                "org.verity.desk",
                Path::new("/home/ada/.local/share/verity")
            )
        );
        let last = a.rsplit('.').next().unwrap();
        assert!(last.starts_with('d') && last.len() == 13, "{a}");
        assert!(a.split('.').all(|e| !e.is_empty()
            && !e.starts_with(|c: char| c.is_ascii_digit())
            && e.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')));
    }

    #[test]
    fn a_session_bus_is_found_from_the_environment() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let none = |_: &str| None;
        assert!(!session_bus(none));
        assert!(session_bus(|k: &str| (k == "DBUS_SESSION_BUS_ADDRESS")
            .then(|| "unix:path=/run/user/1000/bus".into())));
        assert!(!session_bus(
            |k: &str| (k == "DBUS_SESSION_BUS_ADDRESS").then(|| "".into())
        ));
        let dir = std::env::temp_dir().join(format!("verity-desk-bus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let runtime = |k: &str| (k == "XDG_RUNTIME_DIR").then(|| dir.clone().into_os_string());
        assert!(!session_bus(runtime));
        std::fs::write(dir.join("bus"), b"").unwrap();
        assert!(session_bus(runtime));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
