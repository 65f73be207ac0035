//! Logging: `tracing` to stderr (warnings unless `RUST_LOG` says otherwise) and, at `VERITY_LOG`
//! level (default info), to a daily file in `<data dir>/logs/`, so a run can be reviewed later.
use std::path::Path;
use std::sync::OnceLock;
use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter, Layer};

static GUARD: OnceLock<tracing_appender::non_blocking::WorkerGuard> = OnceLock::new();

pub fn init(data_dir: &Path) {
    let logs = data_dir.join("logs");
    let file_layer = std::fs::create_dir_all(&logs).ok().map(|_| {
        let (w, guard) =
            tracing_appender::non_blocking(tracing_appender::rolling::daily(&logs, "verity.log"));
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
