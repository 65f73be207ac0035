//! `verity serve`: the HTTP API (team mode) — see `verity::server`.
use anyhow::Result;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use verity::config::Settings;
use verity::server::{auth::RateLimit, Options, Server, Tls};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback needs --tls-cert/--tls-key or --insecure-lan
    #[arg(long, default_value = verity::server::DEFAULT_BIND)]
    bind: SocketAddr,
    /// TLS certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (trusted networks only)
    #[arg(long)]
    insecure_lan: bool,
    /// Allow `POST /api/v1/analyze` with {"path": …} for files inside this folder
    #[arg(long, value_name = "DIR")]
    allow_path: Option<PathBuf>,
    /// Requests per second per token (sustained)
    #[arg(long, default_value_t = RateLimit::default().per_second)]
    rate_limit: f64,
    /// Requests per token allowed at once before the rate applies
    #[arg(long, default_value_t = RateLimit::default().burst)]
    burst: f64,
    /// The case store: postgres://… for a team's shared PostgreSQL (blobs stay in the data
    /// folder, which every machine mounts); default: SQLite in the data folder
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Queue workers this process runs itself (0: leave the analyses to `verity worker`
    /// processes)
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

pub fn serve(a: &ServeArgs, settings: &Settings, settings_path: PathBuf) -> Result<ExitCode> {
    if a.rate_limit <= 0.0 || a.burst < 1.0 {
        anyhow::bail!("--rate-limit must be above 0 and --burst at least 1");
    }
    let mut o = Options::new(settings.clone());
    o.settings_path = Some(settings_path);
    o.bind = a.bind;
    o.allow_path = a.allow_path.clone();
    o.tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(Tls {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    o.insecure_lan = a.insecure_lan;
    o.rate = RateLimit {
        per_second: a.rate_limit,
        burst: a.burst,
    };
    o.ctrl_c = true;
    o.store = a.store.clone();
    o.workers = a.workers;
    let server = Server::start(o)?;
    eprintln!(
        "verity serve: listening on {} (Ctrl-C stops; API under /api/v1, document at /api/v1/openapi.json); store: {}; {} queue worker(s) here",
        server.url(),
        a.store
            .as_deref()
            .map(verity::logging::redact_url)
            .unwrap_or_else(|| "SQLite in the data folder".into()),
        a.workers
    );
    server.wait()?;
    Ok(ExitCode::SUCCESS)
}
