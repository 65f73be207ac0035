//! `verity worker`: a queue worker (`verity::team`) — takes jobs that `verity serve` queued in
//! the store, analyses them and records how they ended. Any number of them, on any machines
//! sharing one PostgreSQL store and one data folder (blobs, uploads), work one queue.
use anyhow::{bail, Context, Result};
use clap::Args;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use verity::config::Settings;
use verity::logging::redact_url;
use verity::team::{self, WorkerOptions};

/// The shortest lease: it is renewed every third of it, and a renewal must get through a busy
/// database in that time.
const MIN_LEASE_S: u64 = 3;

#[derive(Args)]
pub struct WorkerArgs {
    /// The store to take jobs from: postgres://user:password@host/db (default: the SQLite store
    /// in the data folder)
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// This worker's name in leases and logs (default: host:pid:n)
    #[arg(long, value_name = "NAME")]
    id: Option<String>,
    /// Seconds a job stays this worker's without renewal (renewed every third of it; at least 3):
    /// how long a killed worker's job waits before another worker takes it over
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    lease: u64,
    /// Milliseconds between looks at an empty queue
    #[arg(long, value_name = "MS", default_value_t = 500)]
    poll_ms: u64,
    /// Stop once the queue is empty instead of waiting for more jobs
    #[arg(long)]
    exit_when_idle: bool,
}

/// The store a `--store` argument names, checked before anything connects: a PostgreSQL URL
/// (anything else would silently fall back to SQLite). Errors name the URL with its password
/// hidden.
pub fn check_store_url(url: &str) -> Result<()> {
    if !verity::store::is_postgres_url(url) {
        bail!(
            "--store {}: not a PostgreSQL URL (expected postgres://user:password@host/database; \
             leave --store out for the data folder's SQLite store)",
            redact_url(url)
        );
    }
    if let Err(e) = url.parse::<postgres::Config>() {
        bail!(
            "--store {}: unreadable PostgreSQL URL: {}",
            redact_url(url),
            redact_url(&e.to_string())
        );
    }
    Ok(())
}

/// An error opening or using the store as one line naming it (password hidden), unless the
/// message names it already.
pub fn store_error(e: verity::Error, name: &str) -> anyhow::Error {
    let msg = redact_url(&e.to_string());
    if msg.contains(name) {
        anyhow::anyhow!(msg)
    } else {
        anyhow::anyhow!("store {name}: {msg}")
    }
}

/// How a store is named on screen and in errors.
pub fn store_name(store: Option<&str>, settings: &Settings) -> String {
    match store {
        Some(u) => redact_url(u),
        None => format!(
            "the SQLite store in {}",
            settings.data_dir().join("verity.db").display()
        ),
    }
}

pub fn worker(a: &WorkerArgs, settings: &Settings) -> Result<ExitCode> {
    if a.lease < MIN_LEASE_S {
        bail!("--lease must be at least {MIN_LEASE_S} seconds (it is renewed every third of it)");
    }
    if a.poll_ms == 0 {
        bail!("--poll-ms must be at least 1");
    }
    if let Some(u) = &a.store {
        check_store_url(u)?;
    }
    let mut o = WorkerOptions::new(settings.clone(), a.store.clone());
    if let Some(id) = &a.id {
        let id = id.trim();
        if id.is_empty() {
            bail!("--id must not be empty");
        }
        o.id = id.to_string();
    }
    o.lease = Duration::from_secs(a.lease);
    o.poll = Duration::from_millis(a.poll_ms);
    o.exit_when_idle = a.exit_when_idle;
    let name = store_name(a.store.as_deref(), settings);
    let stop = Arc::new(AtomicBool::new(false));
    stop_on_signals(stop.clone())?;
    eprintln!("verity worker {}: taking jobs from {name}", o.id);
    let id = o.id.clone();
    let ended = team::run(o, stop.clone()).map_err(|e| store_error(e, &name))?;
    eprintln!(
        "verity worker {id}: stopped{}; {ended} job{} ended",
        if stop.load(Ordering::Relaxed) {
            " (signal)"
        } else {
            ""
        },
        if ended == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C (SIGINT) or SIGTERM (`kill`, Kubernetes stopping the pod) sets `stop`: the worker
/// stops the analysis it is running within about a second, gives the job back to the queue
/// (another worker, or this one when started again, runs it from the start) and exits. A second
/// signal quits at once (the job's lease then runs out and another worker takes it over). The handlers are installed
/// before this returns.
fn stop_on_signals(stop: Arc<AtomicBool>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot set up the signal handlers")?;
    let (mut int, mut term) = {
        let _in_rt = rt.enter();
        (
            signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
            signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
        )
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            rt.block_on(async move {
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if stop.swap(true, Ordering::SeqCst) {
                        eprintln!("verity worker: signalled again: quitting now");
                        std::process::exit(i32::from(crate::common::EXIT_CANCELLED));
                    }
                    eprintln!(
                        "verity worker: stopping: the running job goes back to the queue (signal again to quit at once)"
                    );
                }
            })
        })
        .context("cannot start the signal thread")?;
    Ok(())
}
