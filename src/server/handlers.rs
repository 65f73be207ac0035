//! The endpoints of `verity serve`, each documented for the OpenAPI document ([`ApiDoc`]).
use super::auth::Caller;
use super::jobs::JobView;
use super::problem::{ApiResult, Problem};
use super::{bytes_response, with_store, AppState};
use crate::store::jobs::{NewJob, QueuedKind, PRIORITY_BATCH, PRIORITY_INTERACTIVE};
use crate::store::{CaseDetail, CaseFilter, CaseSummary, Store, Verdict};
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Verity Desk API",
        description = "Team mode of Verity Desk: submit media for deepfake analysis, \
                       read cases, explanations and reports, record reviews. Errors are RFC 9457 \
                       application/problem+json. /api/v1/* needs `Authorization: Bearer <token>` \
                       (`verity token add <analyst>`), except this document."
    ),
    paths(
        analyze, job, cancel_job, cases, case, rerun, explain, report, review, models, set_profile, openapi,
        healthz, readyz, metrics
    ),
    components(schemas(
        Problem, JobView, super::jobs::JobProgress, Accepted, UploadForm, PathRequest,
        CaseList, CaseView, ExplainRequest, ExplainView, ReviewRequest, ReviewCreated,
        ModelsView, ProfileRequest, ProfileView, Health
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "jobs", description = "Submit media and follow the analysis"),
        (name = "cases", description = "Stored cases, explanations, reports and reviews"),
        (name = "admin", description = "Models, settings, health and metrics")
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A token from `verity token add <analyst>`"))
                    .build(),
            ),
        );
    }
}

/// `multipart/form-data` upload: one file part (any field name; `file` by convention).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A file or folder on the server, inside the folder given with `--allow-path`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PathRequest {
    /// Absolute, or relative to the allowed folder.
    #[schema(value_type = String)]
    pub path: PathBuf,
}

/// The queued job(s): one per case (a folder may hold several files).
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The first job (the only one for an upload).
    pub job: u64,
    pub jobs: Vec<u64>,
    /// Where to follow the first job.
    pub status_url: String,
}

fn mp_problem(e: axum::extract::multipart::MultipartError) -> Problem {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return Problem::too_large(e.body_text());
    }
    Problem::status(status, format!("cannot read the upload: {}", e.body_text()))
}

/// A safe file name for an uploaded part (its last component, printable, ≤ 200 bytes).
pub fn upload_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut s: String = last.chars().filter(|c| !c.is_control()).collect();
    while s.len() > 200 {
        s.pop();
    }
    if s.is_empty() || s == "." || s == ".." {
        "upload".into()
    } else {
        s
    }
}

fn random_hex() -> ApiResult<String> {
    let mut b = [0u8; 12];
    getrandom::getrandom(&mut b).map_err(|e| Problem::internal(format!("no randomness: {e}")))?;
    Ok(hex::encode(b))
}

/// Submits media: a multipart upload, or (`--allow-path`) `{"path": …}`.
#[utoipa::path(
    post, path = "/api/v1/analyze", tag = "jobs",
    request_body(
        description = "The media as a multipart upload (size limit: settings `max_media_mib`), or \
                       a server-side path when the server was started with --allow-path DIR",
        content((UploadForm = "multipart/form-data"), (PathRequest = "application/json"))
    ),
    responses(
        (status = 202, description = "Queued; follow `status_url`", body = Accepted),
        (status = 400, description = "Empty upload, no file part, malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No, unknown or revoked token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Server-side paths disabled, or the path is outside --allow-path", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Upload larger than max_media_mib", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither multipart/form-data nor application/json", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit of the token", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn analyze(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    req: Request,
) -> ApiResult<Response> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let actor = caller.actor();
    let jobs: Vec<u64> =
        if ct.starts_with("multipart/form-data") {
            vec![upload(&state, &actor, req).await?]
        } else if ct.starts_with("application/json") {
            let Json(body) = Json::<PathRequest>::from_request(req, &())
                .await
                .map_err(|r| Problem::status(r.status(), r.body_text()))?;
            server_path(&state, &actor, &body.path).await?
        } else {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                format!(
                "send the media as multipart/form-data (a file part), or a server-side path as \
                 application/json; got {:?}",
                if ct.is_empty() { "no Content-Type" } else { ct.as_str() }
            ),
            ));
        };
    Ok(accepted(jobs))
}

/// 202 with the queued jobs and a `Location` naming the first.
fn accepted(jobs: Vec<u64>) -> Response {
    let first = jobs[0];
    let url = format!("/api/v1/jobs/{first}");
    let mut r = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            job: first,
            jobs,
            status_url: url.clone(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Streams the first file part into `<data>/uploads/<random>/<name>` and queues it.
async fn upload(state: &AppState, actor: &str, req: Request) -> ApiResult<u64> {
    use tokio::io::AsyncWriteExt;
    let max = state.max_upload;
    // Clearly over the limit by its declared length: refuse before reading anything.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit_text = |name: &str| {
        format!(
            "the upload {name:?} is larger than this server's limit of {} MiB (settings \
             max_media_mib)",
            max >> 20
        )
    };
    if declared.is_some_and(|n| n > max.saturating_mul(2).saturating_add(1 << 20)) {
        return Err(Problem::too_large(limit_text("request")));
    }
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|r| Problem::status(r.status(), r.body_text()))?;
    while let Some(mut field) = mp.next_field().await.map_err(mp_problem)? {
        let Some(original) = field.file_name().map(str::to_string) else {
            continue; // a plain form field
        };
        let name = upload_name(&original);
        let dir = state.data_dir.join("uploads").join(random_hex()?);
        crate::fsutil::private_dir(&dir)
            .map_err(|e| Problem::internal(format!("cannot create an upload folder: {e}")))?;
        let path = dir.join(&name);
        let cleanup = |dir: &PathBuf| {
            let _ = std::fs::remove_dir_all(dir);
        };
        let file = crate::fsutil::create_private(&path)
            .map_err(|e| Problem::internal(format!("cannot store the upload {name:?}: {e}")));
        let file = match file {
            Ok(f) => f,
            Err(p) => {
                cleanup(&dir);
                return Err(p);
            }
        };
        let mut file = tokio::fs::File::from_std(file);
        let mut total: u64 = 0;
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(e) => {
                    cleanup(&dir);
                    return Err(mp_problem(e));
                }
            };
            total += chunk.len() as u64;
            if total > max {
                cleanup(&dir);
                return Err(Problem::too_large(limit_text(&name)));
            }
            if let Err(e) = file.write_all(&chunk).await {
                cleanup(&dir);
                return Err(Problem::internal(format!(
                    "cannot store the upload {name:?}: {e}"
                )));
            }
        }
        if let Err(e) = file.flush().await {
            cleanup(&dir);
            return Err(Problem::internal(format!(
                "cannot store the upload {name:?}: {e}"
            )));
        }
        drop(file);
        if total == 0 {
            cleanup(&dir);
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "empty-upload",
                "Empty upload",
                format!("the upload {name:?} is empty (0 bytes): nothing to analyse"),
            ));
        }
        let job = NewJob {
            kind: QueuedKind::Analyze {
                path: path.to_string_lossy().into_owned(),
            },
            label: name.clone(),
            priority: PRIORITY_INTERACTIVE,
            submitted_by: actor.to_string(),
            upload: Some(dir.to_string_lossy().into_owned()),
        };
        return match with_store(state, move |s| s.enqueue_job(&job).map_err(Problem::from)).await {
            Ok(id) => Ok(id as u64),
            Err(p) => {
                cleanup(&dir);
                Err(p)
            }
        };
    }
    Err(Problem::bad_request(
        "the multipart body has no file part: send the media as e.g. `-F file=@photo.jpg`",
    ))
}

/// Queues a server-side path, refusing anything outside `--allow-path` after canonicalising.
/// One file is an interactive job; the files of a folder are batch jobs.
async fn server_path(state: &AppState, actor: &str, path: &std::path::Path) -> ApiResult<Vec<u64>> {
    let Some(root) = &state.allow_path else {
        return Err(Problem::forbidden(
            "server-side paths are disabled: upload the file, or start the server with \
             --allow-path DIR",
        ));
    };
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let outside = || {
        Problem::forbidden(format!(
            "{} is not inside the folder this server may read ({})",
            path.display(),
            root.display()
        ))
    };
    let canon = match std::fs::canonicalize(&joined) {
        Ok(c) => c,
        // Do not tell a caller which paths outside the allowed folder exist.
        Err(_)
            if !joined.starts_with(root)
                || path
                    .components()
                    .any(|c| c == std::path::Component::ParentDir) =>
        {
            return Err(outside())
        }
        Err(e) => {
            return Err(Problem::not_found(format!(
                "{}: cannot open: {e}",
                path.display()
            )))
        }
    };
    if !canon.starts_with(root) {
        return Err(outside());
    }
    let exp = crate::worker::expand_paths_noted(&[canon]).map_err(Problem::from)?;
    if exp.paths.is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no-media",
            "No media",
            format!("{}: no image or video files in it", path.display()),
        ));
    }
    let priority = if exp.paths.len() == 1 {
        PRIORITY_INTERACTIVE
    } else {
        PRIORITY_BATCH
    };
    let jobs: Vec<NewJob> = exp
        .paths
        .into_iter()
        .map(|p| NewJob {
            label: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kind: QueuedKind::Analyze {
                path: p.to_string_lossy().into_owned(),
            },
            priority,
            submitted_by: actor.to_string(),
            upload: None,
        })
        .collect();
    with_store(state, move |s| {
        jobs.iter()
            .map(|j| s.enqueue_job(j).map(|id| id as u64).map_err(Problem::from))
            .collect()
    })
    .await
}

/// A job's state and progress (from the store's job queue, whichever worker runs it).
#[utoipa::path(
    get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = u64, Path, description = "Job id from POST /api/v1/analyze")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn job(State(state): State<AppState>, Path(id): Path<u64>) -> ApiResult<Json<JobView>> {
    let id = job_id(id)?;
    with_store(&state, move |s| {
        s.job(id)
            .map_err(Problem::from)?
            .map(|r| Json(JobView::from(r)))
            .ok_or_else(|| Problem::not_found(format!("job {id} does not exist")))
    })
    .await
}

fn job_id(id: u64) -> ApiResult<i64> {
    i64::try_from(id).map_err(|_| Problem::not_found(format!("job {id} does not exist")))
}

/// Cancels a job: a queued one at once; a running one stops at its worker's next check (within
/// about a second) and then reads `cancelled`. A job that already ended is a 409.
#[utoipa::path(
    post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = u64, Path, description = "Job id from POST /api/v1/analyze")),
    responses(
        (status = 202, description = "Cancelled (queued) or asked to stop (running)", body = JobView),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job already ended", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<u64>,
) -> ApiResult<Response> {
    let id = job_id(id)?;
    let actor = caller.actor();
    with_store(&state, move |s| {
        let before = s
            .job(id)
            .map_err(Problem::from)?
            .ok_or_else(|| Problem::not_found(format!("job {id} does not exist")))?;
        if before.is_final() {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "job-ended",
                "Job already ended",
                format!(
                    "job {id} already ended ({}); nothing to cancel",
                    before.state
                ),
            ));
        }
        let now = s
            .cancel_job(id, &actor)
            .map_err(Problem::from)?
            .ok_or_else(|| Problem::not_found(format!("job {id} does not exist")))?;
        if now.state == "cancelled" {
            if let Some(u) = &now.upload {
                let _ = std::fs::remove_dir_all(u);
            }
        }
        Ok((StatusCode::ACCEPTED, Json(JobView::from(now))).into_response())
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct CasesQuery {
    /// fake | review | real | failed | interrupted | not_scored | running | pending
    pub band: Option<String>,
    /// Text in the file name, SHA-256, tags or note
    pub search: Option<String>,
    pub tag: Option<String>,
    /// At most this many (default 100, at most 1000)
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseList {
    #[schema(value_type = Vec<Object>)]
    pub cases: Vec<CaseSummary>,
}

/// Lists cases, newest first.
#[utoipa::path(
    get, path = "/api/v1/cases", tag = "cases", params(CasesQuery),
    responses((status = 200, description = "Case summaries", body = CaseList)),
    security(("bearer" = []))
)]
pub async fn cases(
    State(state): State<AppState>,
    Query(q): Query<CasesQuery>,
) -> ApiResult<Json<CaseList>> {
    let f = CaseFilter {
        band: q.band,
        search: q.search,
        tag: q.tag,
        limit: Some(q.limit.unwrap_or(100).min(1000)),
    };
    with_store(&state, move |s| {
        Ok(Json(CaseList {
            cases: s.list_cases(&f).map_err(Problem::from)?,
        }))
    })
    .await
}

fn exists(s: &Store, id: i64) -> ApiResult<()> {
    if !s.case_exists(id).map_err(Problem::from)? {
        return Err(Problem::not_found(format!("case {id} does not exist")));
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    /// The one-line verdict (says UNTRAINED / not scored where it applies).
    pub verdict: String,
    /// The profile that scored it had random weights: not a verdict.
    pub untrained: bool,
    /// Case, media, last analysis, frames, faces, scores (levels media/track/frame/face),
    /// reviews, note, audit trail.
    #[schema(value_type = Object)]
    pub detail: CaseDetail,
    /// Provenance (metadata, content credentials, seen before), private fields left out.
    #[schema(value_type = Object)]
    pub provenance: Option<crate::provenance::CaseProvenance>,
}

/// One case: verdict, per-face and per-frame scores, provenance.
#[utoipa::path(
    get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "Case number")),
    responses(
        (status = 200, description = "The case", body = CaseView),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn case(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<Json<CaseView>> {
    with_store(&state, move |s| {
        exists(s, id)?;
        let d = s.case_detail(id).map_err(Problem::from)?;
        let provenance = match crate::provenance::case_view(s, id) {
            Ok(p) => Some(p.without_private()),
            Err(e) => {
                tracing::warn!(case_id = id, "provenance view failed: {e}");
                None
            }
        };
        Ok(Json(CaseView {
            verdict: crate::report::verdict(&d),
            untrained: d.case.untrained,
            detail: d,
            provenance,
        }))
    })
    .await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ExplainRequest {
    /// Sampled frame index (default: the most suspicious frame).
    pub frame: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainView {
    #[schema(value_type = Object)]
    pub summary: crate::explain::case::CaseExplanation,
    /// Every stored explanation row of the case (blobs are paths in the server's store).
    #[schema(value_type = Vec<Object>)]
    pub explanations: Vec<crate::store::ExplanationRow>,
}

/// Explains a case (as `verity explain`): Grad-CAM and artifact views of a frame's faces,
/// temporal and blink analysis. Runs synchronously (seconds on a GPU).
#[utoipa::path(
    post, path = "/api/v1/cases/{id}/explain", tag = "cases",
    params(("id" = i64, Path, description = "Case number")),
    request_body(content = ExplainRequest, description = "Optional; an empty body explains the most suspicious frame"),
    responses(
        (status = 200, description = "What was computed", body = ExplainView),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A body that is not JSON", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn explain(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ExplainView>> {
    let req: ExplainRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ExplainRequest::default()
    } else {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
                "the explain options must be application/json",
            ));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request(format!("malformed JSON: {e}")))?
    };
    let settings = state.settings();
    let actor = caller.actor();
    with_store(&state, move |s| {
        exists(s, id)?;
        let analyzer = crate::pipeline::Analyzer::new(&settings).map_err(Problem::from)?;
        let cfg = crate::explain::ExplainConfig::default();
        let summary =
            crate::explain::case::explain_case(s, analyzer.detector(), id, req.frame, &cfg, &actor)
                .map_err(Problem::from)?;
        let explanations = s.explanations(id).map_err(Problem::from)?;
        Ok(Json(ExplainView {
            summary,
            explanations,
        }))
    })
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// html (default) | json | pdf
    pub format: Option<String>,
}

/// The case report (as `verity export`): self-contained HTML, JSON, or PDF (needs Chromium on
/// the server). The stored media is re-hashed first (chain of custody).
#[utoipa::path(
    get, path = "/api/v1/cases/{id}/report", tag = "cases",
    params(("id" = i64, Path, description = "Case number"), ReportQuery),
    responses(
        (status = 200, description = "The report", content(
            ("text/html"), ("application/json"), ("application/pdf")
        )),
        (status = 400, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "PDF asked for and no Chromium on the server", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn report(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    use crate::report::Format;
    let format: Format = q
        .format
        .as_deref()
        .unwrap_or("html")
        .parse()
        .map_err(|e: crate::Error| Problem::bad_request(e.to_string()))?;
    let actor = caller.actor();
    with_store(&state, move |s| {
        exists(s, id)?;
        if format == Format::Pdf {
            if crate::pdf::browser_on_path().is_none() {
                return Err(Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no-pdf-renderer",
                    "PDF not available",
                    crate::pdf::NO_BROWSER,
                ));
            }
            let dir = tempfile::tempdir()
                .map_err(|e| Problem::internal(format!("cannot make a temporary folder: {e}")))?;
            let out = dir.path().join("report.pdf");
            crate::report::export(s, id, Format::Pdf, &out).map_err(Problem::from)?;
            let bytes = std::fs::read(&out)
                .map_err(|e| Problem::internal(format!("cannot read the PDF: {e}")))?;
            return Ok(bytes_response("application/pdf", bytes));
        }
        s.verify_case_media(id, &actor).map_err(Problem::from)?;
        let d = s.case_detail(id).map_err(Problem::from)?;
        Ok(match format {
            Format::Json => bytes_response(
                "application/json",
                crate::report::json(s, &d)
                    .map_err(Problem::from)?
                    .into_bytes(),
            ),
            _ => bytes_response(
                "text/html; charset=utf-8",
                crate::report::html(s, &d).into_bytes(),
            ),
        })
    })
    .await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ReviewRequest {
    /// fake | real | unsure
    pub verdict: String,
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewCreated {
    pub review_id: i64,
    /// The analyst recorded (`api:<token's analyst>`).
    pub analyst: String,
}

/// Analyses a stored case again (e.g. after trained weights were installed, or with another
/// profile): queues an interactive job on the stored copy, whose hash is checked first. A case
/// that no longer exists when a worker takes the job ends the job `failed`, saying so.
#[utoipa::path(
    post, path = "/api/v1/cases/{id}/analyze", tag = "cases",
    params(("id" = i64, Path, description = "Case number")),
    responses(
        (status = 202, description = "Queued; follow `status_url`", body = Accepted),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn rerun(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let actor = caller.actor();
    let job = with_store(&state, move |s| {
        exists(s, id)?;
        let c = s.case(id).map_err(Problem::from)?;
        s.enqueue_job(&NewJob {
            kind: QueuedKind::Rerun { case_id: id },
            label: c.title,
            priority: PRIORITY_INTERACTIVE,
            submitted_by: actor,
            upload: None,
        })
        .map_err(Problem::from)
    })
    .await?;
    Ok(accepted(vec![job as u64]))
}

/// Records the token's analyst's decision on a case (fake/real also become training labels).
#[utoipa::path(
    post, path = "/api/v1/cases/{id}/reviews", tag = "cases",
    params(("id" = i64, Path, description = "Case number")),
    request_body = ReviewRequest,
    responses(
        (status = 201, description = "Recorded", body = ReviewCreated),
        (status = 400, description = "Malformed JSON or verdict", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn review(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(r): Json<ReviewRequest>,
) -> ApiResult<Response> {
    let verdict: Verdict = r
        .verdict
        .parse()
        .map_err(|e: crate::Error| Problem::bad_request(e.to_string()))?;
    let analyst = caller.actor();
    with_store(&state, move |s| {
        exists(s, id)?;
        let rid = s
            .add_review(id, verdict, &analyst, &r.note)
            .map_err(Problem::from)?;
        Ok((
            StatusCode::CREATED,
            Json(ReviewCreated {
                review_id: rid,
                analyst,
            }),
        )
            .into_response())
    })
    .await
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelsView {
    /// Manifest entries: installed, verified (SHA-256), source.
    #[schema(value_type = Vec<Object>)]
    pub models: Vec<crate::models::hub::ModelStatus>,
    /// Installed profiles (`profile.toml` plus folder).
    #[schema(value_type = Vec<Object>)]
    pub profiles: Vec<serde_json::Value>,
    /// The profile analyses use now (null: cases will be "not scored").
    pub active_profile: Option<String>,
    /// False when an installed file's SHA-256 does not match.
    pub ok: bool,
}

/// Models and profiles, as `verity models --json`.
#[utoipa::path(
    get, path = "/api/v1/models", tag = "admin",
    responses((status = 200, description = "The listing", body = ModelsView)),
    security(("bearer" = []))
)]
pub async fn models(State(state): State<AppState>) -> ApiResult<Json<ModelsView>> {
    let settings = state.settings();
    tokio::task::spawn_blocking(move || {
        let dir = crate::pipeline::models_dir(&settings);
        let models = crate::models::hub::list(&dir).map_err(Problem::from)?;
        let ok = !models
            .iter()
            .any(|m| m.installed && m.verified == Some(false));
        let mut profiles = vec![];
        if let Ok(rd) = std::fs::read_dir(dir.join("profiles")) {
            let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            dirs.sort();
            for p in dirs {
                if let Ok(prof) = crate::models::profile::load_profile(&p) {
                    let mut v = serde_json::to_value(&prof).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("dir".into(), p.display().to_string().into());
                    }
                    profiles.push(v);
                }
            }
        }
        Ok(Json(ModelsView {
            models,
            profiles,
            active_profile: crate::pipeline::find_profile(&settings)
                .map(|p| p.display().to_string()),
            ok,
        }))
    })
    .await
    .map_err(|e| Problem::internal(e.to_string()))?
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ProfileRequest {
    /// An installed profile's folder name under `<models>/profiles/`.
    pub profile: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    pub profile: String,
    /// False: random weights; its scores are labelled UNTRAINED.
    pub trained: bool,
    /// Whether the change was written to the settings file (else: until the server stops).
    pub saved: bool,
}

/// Chooses the detector profile for the next jobs (audited).
#[utoipa::path(
    put, path = "/api/v1/settings/profile", tag = "admin",
    request_body = ProfileRequest,
    responses(
        (status = 200, description = "Changed", body = ProfileView),
        (status = 400, description = "Malformed JSON or name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such installed profile", body = Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn set_profile(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(r): Json<ProfileRequest>,
) -> ApiResult<Json<ProfileView>> {
    let name = r.profile.trim().to_string();
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(Problem::bad_request(format!(
            "{name:?} is not a profile name (see GET /api/v1/models)"
        )));
    }
    let st = state.clone();
    let actor = caller.actor();
    with_store(&state, move |s| {
        let mut settings = st.settings();
        let dir = crate::pipeline::models_dir(&settings)
            .join("profiles")
            .join(&name);
        let prof = crate::models::profile::load_profile(&dir)
            .map_err(|e| Problem::not_found(format!("no installed profile {name:?}: {e}")))?;
        settings.profile = Some(name.clone());
        let saved = match &st.settings_path {
            Some(p) => {
                settings.save(p).map_err(Problem::from)?;
                true
            }
            None => false,
        };
        *st.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
        s.audit(
            &actor,
            "settings_changed",
            None,
            &serde_json::json!({"profile": name, "trained": prof.trained, "via": "api"}),
        )
        .map_err(Problem::from)?;
        Ok(Json(ProfileView {
            profile: name,
            trained: prof.trained,
            saved,
        }))
    })
    .await
}

/// This API's OpenAPI 3.1 document (no token needed).
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "admin",
    responses((status = 200, description = "The document", content_type = "application/json", body = Object))
)]
pub async fn openapi() -> Response {
    bytes_response("application/json", super::openapi_json().into_bytes())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
}

/// Liveness: the HTTP server answers.
#[utoipa::path(
    get, path = "/healthz", tag = "admin",
    responses((status = 200, description = "Alive", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: the store opens and the analysis thread is alive.
#[utoipa::path(
    get, path = "/readyz", tag = "admin",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Not ready (the detail says why)", body = Problem, content_type = "application/problem+json")
    )
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    let not_ready =
        |d: String| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "not-ready", "Not ready", d);
    with_store(&state, |s| s.schema_version().map_err(Problem::from))
        .await
        .map_err(|p| not_ready(format!("the case store does not open: {}", p.detail)))?;
    let workers = super::lock(&state.workers);
    if !workers.is_empty() && workers.iter().all(|w| w.is_finished()) {
        return Err(not_ready("this server's queue workers have stopped".into()));
    }
    Ok(Json(Health {
        status: "ready".into(),
    }))
}

/// Prometheus metrics (text format 0.0.4).
#[utoipa::path(
    get, path = "/metrics", tag = "admin",
    responses((status = 200, description = "Metrics", content_type = "text/plain; version=0.0.4", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let jobs = with_store(&state, |s| s.job_stats().map_err(Problem::from)).await?;
    let settings = state.settings();
    let model = crate::pipeline::find_profile(&settings).and_then(|dir| {
        use sha2::{Digest, Sha256};
        let toml = std::fs::read(dir.join("profile.toml")).ok()?;
        let name = crate::models::profile::load_profile(&dir)
            .map(|p| p.name)
            .unwrap_or_else(|_| dir.display().to_string());
        Some((name, hex::encode(Sha256::digest(&toml))))
    });
    let gpu_memory = tokio::task::spawn_blocking(crate::device::gpu_memory_used)
        .await
        .unwrap_or_default();
    let text = state.metrics.render(&super::metrics::Snapshot {
        jobs,
        model,
        gpu_memory,
    });
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_keep_only_the_last_printable_component() {
        assert_eq!(upload_name("../../etc/passwd"), "passwd");
        assert_eq!(upload_name("C:\\Users\\a\\clip.mp4"), "clip.mp4");
        assert_eq!(upload_name("a\nb.png"), "ab.png");
        assert_eq!(upload_name(".."), "upload");
        assert_eq!(upload_name(""), "upload");
    }
}
