//! `verity serve`: the HTTP API over the same library the desk and the CLI use (team mode). A
//! thin shell: submitted media becomes a job in the store's queue (`store::jobs`), which queue
//! workers take ([`crate::team`]: threads of this process, `Options.workers`, and/or `verity
//! worker` processes on other machines sharing a PostgreSQL store); reads go through
//! [`crate::store::Store`] (a small pool of connections), reports through [`crate::report`],
//! explanations through [`crate::explain::case`].
//!
//! - Routes: see [`handlers`] and the OpenAPI document ([`openapi_json`], served at
//!   `/api/v1/openapi.json`, committed as `docs/api/openapi.json`).
//! - Errors: RFC 9457 `application/problem+json` for every error response ([`problem`];
//!   axum's own rejections are rewritten by [`finish`]).
//! - Security: 127.0.0.1:8787 by default; a non-loopback address needs TLS (rustls) or
//!   `--insecure-lan` ([`check_bind`]); `/api/v1/*` (but the OpenAPI document) needs a bearer
//!   token ([`auth`]), rate-limited per token; no CORS headers (browsers from other origins
//!   are refused by their own same-origin policy).
//! - `/healthz`, `/readyz`, `/metrics` (Prometheus text, [`metrics`]) are open, for probes
//!   and scrapers on the host.
pub mod auth;
pub mod handlers;
pub mod jobs;
pub mod loadbench;
pub mod metrics;
pub mod problem;

use crate::config::Settings;
use crate::store::Store;
use crate::{Error, Result};
use auth::{Caller, Limiter, RateLimit};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::Metrics;
use problem::{ApiResult, Pending, Problem};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Default address: loopback only.
pub const DEFAULT_BIND: &str = "127.0.0.1:8787";
/// Store connections kept for reuse by request handlers.
const POOL: usize = 16;
/// How long a request waits for an unreachable PostgreSQL store before answering 503.
const REQUEST_STORE_WAIT: Duration = Duration::from_secs(5);

/// TLS certificate chain and private key (PEM files).
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Options {
    pub settings: Settings,
    /// Where `PUT /api/v1/settings/profile` saves the settings (None: in memory only).
    pub settings_path: Option<PathBuf>,
    pub bind: SocketAddr,
    /// Allows `POST /api/v1/analyze` with `{"path": …}` for files inside this folder.
    pub allow_path: Option<PathBuf>,
    pub tls: Option<Tls>,
    /// Serve plain HTTP on a non-loopback address (trusted networks only).
    pub insecure_lan: bool,
    pub rate: RateLimit,
    /// Stop on Ctrl-C / SIGINT (the CLI); tests stop the server with [`Server::shutdown`].
    pub ctrl_c: bool,
    /// `postgres://…`: a team's shared store (jobs go to its queue, which `verity worker`
    /// processes on any machine take); None: the SQLite store in the settings' data folder.
    pub store: Option<String>,
    /// Queue workers this process runs itself (0: only `verity worker` processes analyse).
    pub workers: usize,
}

impl Options {
    pub fn new(settings: Settings) -> Self {
        Options {
            settings,
            settings_path: None,
            bind: DEFAULT_BIND.parse().expect("valid default address"),
            allow_path: None,
            tls: None,
            insecure_lan: false,
            rate: RateLimit::default(),
            ctrl_c: false,
            store: None,
            workers: 1,
        }
    }
}

/// Refuses a non-loopback address without TLS unless `insecure_lan`.
pub fn check_bind(addr: &SocketAddr, tls: bool, insecure_lan: bool) -> Result<()> {
    if addr.ip().is_loopback() || tls || insecure_lan {
        return Ok(());
    }
    Err(Error::Config(format!(
        "refusing to serve plain HTTP on {addr}, which other machines can reach: give \
         --tls-cert and --tls-key (PEM files), or --insecure-lan on a trusted network"
    )))
}

/// Shared state of a running server (opaque outside the server module).
pub struct Inner {
    pub(crate) settings: Arc<RwLock<Settings>>,
    pub(crate) settings_path: Option<PathBuf>,
    pub(crate) data_dir: PathBuf,
    /// The store URL (None: SQLite in `data_dir`).
    pub(crate) store_url: Option<String>,
    /// This process' queue workers (empty with `workers = 0`).
    pub(crate) workers: Mutex<Vec<std::thread::JoinHandle<Result<usize>>>>,
    pub(crate) stop_workers: Arc<std::sync::atomic::AtomicBool>,
    pub(crate) metrics: Arc<Metrics>,
    pool: Mutex<Vec<Store>>,
    /// Canonical form of `--allow-path`.
    pub(crate) allow_path: Option<PathBuf>,
    limiter: Mutex<Limiter>,
    rate: RateLimit,
    /// Largest upload, bytes (`Settings::max_media_mib`).
    pub(crate) max_upload: u64,
}

pub type AppState = Arc<Inner>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn take_store(&self) -> Result<Store> {
        if let Some(s) = lock(&self.pool).pop() {
            return Ok(s);
        }
        match &self.store_url {
            // A request waits a few seconds for PostgreSQL, then answers 503.
            Some(u) => Store::open_postgres_within(u, &self.data_dir, REQUEST_STORE_WAIT),
            None => Store::open(&self.data_dir),
        }
    }

    fn put_store(&self, s: Store) {
        let mut p = lock(&self.pool);
        if p.len() < POOL {
            p.push(s);
        }
    }
}

/// Runs `f` with a pooled store connection on a blocking thread.
pub(crate) async fn with_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Store) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let inner = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut s = inner.take_store().map_err(Problem::from)?;
        let r = f(&mut s);
        inner.put_store(s);
        r
    })
    .await
    .map_err(|e| Problem::internal(format!("the request's worker thread failed: {e}")))?
}

/// Checks the bearer token and the rate limit; puts the [`Caller`] into the request.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let secret = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer)
        .map(str::to_string);
    let Some(secret) = secret else {
        return Problem::unauthorized(
            "this endpoint needs an API token: send `Authorization: Bearer <token>` (make one \
             with `verity token add <analyst>`)",
        )
        .into_response();
    };
    let owner = with_store(&state, move |s| {
        s.token_owner(&secret).map_err(Problem::from)
    })
    .await;
    let caller = match owner {
        Ok(Some(o)) => Caller {
            token_id: o.id,
            analyst: o.analyst,
        },
        Ok(None) => {
            return Problem::unauthorized("the API token is unknown or has been revoked")
                .into_response()
        }
        Err(p) => return p.into_response(),
    };
    let limited = lock(&state.limiter).take(caller.token_id, state.rate, Instant::now());
    if let Err(wait) = limited {
        let mut p = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            format!(
                "this token may make {} requests per second (bursts of {}); retry in {wait} s",
                state.rate.per_second, state.rate.burst
            ),
        );
        p.retry_after = Some(wait);
        return p.into_response();
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Outermost layer: renders problems (with `instance`), rewrites any other error response into
/// problem+json, and counts the request in `verity_http_requests_total`.
async fn finish(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let res = next.run(req).await;
    let status = res.status();
    state.metrics.http(&route, status.as_u16());
    if let Some(Pending(p)) = res.extensions().get::<Pending>().cloned() {
        return p.render(&path);
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(problem::CONTENT_TYPE));
    if status.as_u16() < 400 || is_problem {
        return res;
    }
    let retry = res.headers().get(header::RETRY_AFTER).cloned();
    let text = match axum::body::to_bytes(res.into_body(), 16 * 1024).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let detail = if !text.is_empty() {
        text
    } else {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => format!("{path} does not accept this method"),
            StatusCode::NOT_FOUND => format!("no such endpoint: {path}"),
            _ => status.canonical_reason().unwrap_or("error").to_string(),
        }
    };
    let mut out = Problem::status(status, detail).render(&path);
    if let Some(r) = retry {
        out.headers_mut().insert(header::RETRY_AFTER, r);
    }
    out
}

async fn fallback() -> Problem {
    Problem::not_found("no such endpoint (the API lives under /api/v1; see /api/v1/openapi.json)")
}

/// The whole application: routes, auth, problem rendering, metrics.
pub(crate) fn router(state: AppState) -> axum::Router {
    use axum::extract::DefaultBodyLimit;
    use axum::routing::{get, post, put};
    use handlers as h;
    let api = axum::Router::new()
        .route(
            "/api/v1/analyze",
            // Uploads are limited while streaming (max_media_mib), not by axum's 2 MB default.
            post(h::analyze).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/jobs/{id}", get(h::job))
        .route("/api/v1/jobs/{id}/cancel", post(h::cancel_job))
        .route("/api/v1/cases", get(h::cases))
        .route("/api/v1/cases/{id}", get(h::case))
        .route("/api/v1/cases/{id}/analyze", post(h::rerun))
        .route("/api/v1/cases/{id}/explain", post(h::explain))
        .route("/api/v1/cases/{id}/report", get(h::report))
        .route("/api/v1/cases/{id}/reviews", post(h::review))
        .route("/api/v1/models", get(h::models))
        .route("/api/v1/settings/profile", put(h::set_profile))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));
    axum::Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(h::openapi))
        .route("/healthz", get(h::healthz))
        .route("/readyz", get(h::readyz))
        .route("/metrics", get(h::metrics))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), finish))
        .with_state(state)
}

/// The OpenAPI document of this API, as served and committed (`docs/api/openapi.json`).
pub fn openapi_json() -> String {
    use utoipa::OpenApi;
    let mut s = handlers::ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    s.push('\n');
    s
}

/// A running server (its own tokio runtime on its own thread). Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    /// Kept to stop and join the queue workers when the server stops.
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Server {
    /// Checks the options, opens the store (migrating it), starts the worker, binds and
    /// serves. Returns once the socket listens.
    pub fn start(opts: Options) -> Result<Server> {
        check_bind(&opts.bind, opts.tls.is_some(), opts.insecure_lan)?;
        opts.settings.validate()?;
        let data_dir = opts.settings.data_dir();
        if let Some(u) = &opts.store {
            if !crate::store::is_postgres_url(u) {
                return Err(Error::Config(format!(
                    "--store takes a postgres:// or postgresql:// URL, not {}",
                    crate::logging::redact_url(u)
                )));
            }
        }
        let store = Store::open_with(opts.store.as_deref(), &data_dir)?;
        // Uploads whose jobs ended are removed by their worker; a folder that no queued or
        // running job names and that is over an hour old is what a request that failed
        // half-way left behind (a younger one may be an upload another replica is receiving).
        sweep_uploads(&store, &data_dir.join("uploads"));
        let allow_path = match &opts.allow_path {
            Some(d) => Some(
                std::fs::canonicalize(d)
                    .map_err(|e| Error::input(d, format!("--allow-path: cannot open: {e}")))?,
            ),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let settings = Arc::new(RwLock::new(opts.settings.clone()));
        let stop_workers = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut workers = Vec::new();
        for _ in 0..opts.workers {
            let mut w = crate::team::WorkerOptions::new(opts.settings.clone(), opts.store.clone());
            let shared = settings.clone();
            w.settings = Arc::new(move || shared.read().unwrap_or_else(|p| p.into_inner()).clone());
            let stop = stop_workers.clone();
            workers.push(
                std::thread::Builder::new()
                    .name("verity-worker".into())
                    .spawn(move || crate::team::run(w, stop))
                    .map_err(|e| Error::Other(format!("cannot start a worker thread: {e}")))?,
            );
        }
        let state = Arc::new(Inner {
            max_upload: opts.settings.max_media_mib.saturating_mul(1 << 20),
            settings,
            settings_path: opts.settings_path.clone(),
            data_dir,
            store_url: opts.store.clone(),
            workers: Mutex::new(workers),
            stop_workers,
            metrics,
            // A PostgreSQL connection opened at start waits the workers' 30 s on an outage;
            // requests get their own (REQUEST_STORE_WAIT).
            pool: Mutex::new(if store.is_postgres() {
                vec![]
            } else {
                vec![store]
            }),
            allow_path,
            limiter: Mutex::new(Limiter::default()),
            rate: opts.rate,
        });
        let keep = state.clone();
        let listener = std::net::TcpListener::bind(opts.bind)
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", opts.bind)))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let tls = match &opts.tls {
            Some(t) => Some(tls_config(t)?),
            None => None,
        };
        let is_tls = tls.is_some();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let ctrl_c = opts.ctrl_c;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("verity-http")
            .build()
            .map_err(|e| Error::Other(format!("cannot start the HTTP runtime: {e}")))?;
        let thread = std::thread::Builder::new()
            .name("verity-serve".into())
            .spawn(move || -> Result<()> {
                rt.block_on(async move {
                    let app = router(state);
                    let shutdown = async move {
                        let ctrl = async {
                            if ctrl_c {
                                let _ = tokio::signal::ctrl_c().await;
                            } else {
                                std::future::pending::<()>().await
                            }
                        };
                        tokio::select! {
                            _ = stopped => {}
                            _ = ctrl => { tracing::info!("serve: Ctrl-C, stopping"); }
                        }
                    };
                    match tls {
                        None => {
                            let l = tokio::net::TcpListener::from_std(listener)?;
                            axum::serve(l, app)
                                .with_graceful_shutdown(shutdown)
                                .await
                                .map_err(Error::Io)
                        }
                        Some(cfg) => {
                            let handle = axum_server::Handle::new();
                            let h2 = handle.clone();
                            tokio::spawn(async move {
                                shutdown.await;
                                h2.graceful_shutdown(Some(Duration::from_secs(5)));
                            });
                            axum_server::from_tcp_rustls(listener, cfg)
                                .handle(handle)
                                .serve(app.into_make_service())
                                .await
                                .map_err(Error::Io)
                        }
                    }
                })
            })
            .map_err(|e| Error::Other(format!("cannot start the server thread: {e}")))?;
        tracing::info!(%addr, tls = is_tls, "verity serve listening");
        Ok(Server {
            addr,
            tls: is_tls,
            state: keep,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://…` or `https://…` base URL.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// Blocks until the server stops (Ctrl-C when started with `ctrl_c`).
    pub fn wait(mut self) -> Result<()> {
        self.wait_inner()
    }

    /// Stops serving (open requests finish) and stops this process' workers: a job one of them
    /// is running goes back to the queue (queued jobs stay queued in the store).
    pub fn shutdown(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.wait_inner()
    }

    fn wait_inner(&mut self) -> Result<()> {
        let r = match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| Error::Other("the server thread panicked".into()))
                .and_then(|r| r),
            None => Ok(()),
        };
        self.state
            .stop_workers
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let workers: Vec<_> = lock(&self.state.workers).drain(..).collect();
        for w in workers {
            match w.join() {
                Ok(Err(e)) => tracing::warn!("a queue worker stopped with an error: {e}"),
                Err(_) => tracing::warn!("a queue worker panicked"),
                Ok(Ok(_)) => {}
            }
        }
        r
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.wait_inner();
    }
}

/// Removes upload folders over an hour old that no queued or running job names.
fn sweep_uploads(store: &Store, uploads: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(uploads) else {
        return;
    };
    let live: std::collections::HashSet<String> = match store.live_uploads() {
        Ok(v) => v.into_iter().collect(),
        Err(e) => {
            tracing::warn!(
                "cannot list the queue's uploads ({e}); leaving {} as it is",
                uploads.display()
            );
            return;
        }
    };
    for e in entries.flatten() {
        let p = e.path();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if old && !live.contains(&p.to_string_lossy().into_owned()) {
            if let Err(err) = std::fs::remove_dir_all(&p) {
                tracing::warn!("cannot remove the stale upload {}: {err}", p.display());
            }
        }
    }
}

fn tls_config(t: &Tls) -> Result<axum_server::tls_rustls::RustlsConfig> {
    // One process-wide crypto provider (ring, as the rest of the tree uses).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| Error::input(p, format!("cannot read the TLS file: {e}")))
    };
    let (cert, key) = (read(&t.cert)?, read(&t.key)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| Error::Other(format!("cannot start a runtime: {e}")))?;
    rt.block_on(axum_server::tls_rustls::RustlsConfig::from_pem(cert, key))
        .map_err(|e| {
            Error::Config(format!(
                "TLS: cannot use {} / {}: {e}",
                t.cert.display(),
                t.key.display()
            ))
        })
}

/// Returns a response body for a stored file's bytes with `content_type`.
pub(crate) fn bytes_response(content_type: &'static str, bytes: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_needs_tls_or_insecure_lan() {
        let lan: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:8787".parse().unwrap();
        let lo6: SocketAddr = "[::1]:8787".parse().unwrap();
        assert!(check_bind(&lo, false, false).is_ok());
        assert!(check_bind(&lo6, false, false).is_ok());
        let e = check_bind(&lan, false, false).unwrap_err().to_string();
        assert!(
            e.contains("--tls-cert") && e.contains("--insecure-lan"),
            "{e}"
        );
        assert!(check_bind(&lan, true, false).is_ok());
        assert!(check_bind(&lan, false, true).is_ok());
    }

    #[test]
    fn committed_openapi_document_is_the_generated_one() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api/openapi.json");
        let generated = openapi_json();
        if std::env::var_os("VERITY_UPDATE_OPENAPI").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/api/openapi.json is stale: regenerate with \
             VERITY_UPDATE_OPENAPI=1 cargo test --lib server::tests::committed_openapi"
        );
    }
}
