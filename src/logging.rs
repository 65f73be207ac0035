//! Logging: `tracing` to stderr (warnings unless `RUST_LOG` says otherwise) and, at `VERITY_LOG`
//! level (default info), to a daily file in `<data dir>/logs/`, so a run can be reviewed later.
//! The CLI and the desktop app both call [`init`] and share the files; files older than
//! [`KEEP_DAYS`] days are removed at start-up. The folder is owner-only on unix.
//!
//! Stream URLs may carry credentials (`rtsp://user:pass@cam/…`): [`redact_url`] is applied to
//! everything that names a source in a log line, a job label or an error message.
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

static GUARD: OnceLock<tracing_appender::non_blocking::WorkerGuard> = OnceLock::new();

/// Log files older than this are deleted when a program starts logging.
pub const KEEP_DAYS: u64 = 30;

/// File name prefix of the daily logs (`verity.log.2026-11-29`).
pub const LOG_PREFIX: &str = "verity.log";

pub fn init(data_dir: &Path) {
    let logs = data_dir.join("logs");
    let file_layer = crate::fsutil::private_dir(data_dir)
        .and_then(|_| crate::fsutil::private_dir(&logs))
        .ok()
        .map(|_| {
            prune_logs(&logs, Duration::from_secs(KEEP_DAYS * 24 * 3600));
            let (w, guard) =
                tracing_appender::non_blocking(tracing_appender::rolling::daily(&logs, LOG_PREFIX));
            let _ = GUARD.set(guard);
            fmt::layer().with_ansi(false).with_writer(w).with_filter(
                EnvFilter::try_from_env("VERITY_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
            )
        });
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")));
    let _ = tracing_subscriber::registry()
        .with(file_layer)
        .with(stderr)
        .try_init();
}

/// Deletes `verity.log*` files in `logs` last modified more than `keep` ago; returns how many.
pub fn prune_logs(logs: &Path, keep: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(logs) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(LOG_PREFIX) {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > keep);
        if meta.is_file() && old && std::fs::remove_file(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `scheme://user:pass@host/…` → `scheme://***@host/…` in every URL of `text` (also a bare
/// `user@`); other text unchanged.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or whitespace.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_redacted() {
        assert_eq!(
            redact_url("rtsp://ada:s3cret@cam.local:554/stream?x=1"),
            "rtsp://***@cam.local:554/stream?x=1"
        );
        assert_eq!(
            redact_url("Live rtsp://u:p@a/b and rtmp://k@h/app (10 s)"),
            "Live rtsp://***@a/b and rtmp://***@h/app (10 s)"
        );
        assert_eq!(redact_url("udp://0.0.0.0:5000"), "udp://0.0.0.0:5000");
        assert_eq!(redact_url("/cases/clip.mp4"), "/cases/clip.mp4");
        assert_eq!(redact_url("rtsp://a:b:c@@h"), "rtsp://***@h");
    }
}
