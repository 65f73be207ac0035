//! The API's view of a queued job: a row of the store's job queue (`store::jobs`), which
//! `serve` writes when media is submitted and the workers advance.
use crate::store::JobRow;
use serde::Serialize;
use utoipa::ToSchema;

/// Progress as the worker last wrote it (`team::JobProgress`).
pub use crate::team::JobProgress;

/// One job as the API reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobView {
    pub id: u64,
    /// queued | running | done | failed | cancelled
    pub state: String,
    /// The file's name (or the folder's).
    pub label: String,
    /// Known once the media is imported.
    pub case_id: Option<i64>,
    /// `api:<analyst>` of the token that submitted it.
    pub submitted_by: String,
    pub submitted_at: String,
    /// `interactive` (one file an analyst waits for) or `batch` (files of a folder).
    pub priority: String,
    /// How many times a worker took it (more than 1: a worker stopped and another took over).
    pub attempts: i64,
    /// True once a cancel was asked for a running job (it stops at the worker's next check).
    pub cancel_requested: bool,
    pub progress: JobProgress,
    /// The analysis' status when done: `done` (scored) or `not_scored`.
    pub result: Option<String>,
    /// The one-line verdict when done.
    pub verdict: Option<String>,
    /// True when the profile that scored it has random weights: not a verdict.
    pub untrained: Option<bool>,
    /// Why it failed or was not scored, for the analyst.
    pub message: Option<String>,
    /// Stable error kind when failed (`input`, `weights`, `worker_lost`, …).
    pub error_code: Option<String>,
}

impl From<JobRow> for JobView {
    fn from(r: JobRow) -> Self {
        JobView {
            id: r.id as u64,
            state: r.state,
            label: r.label,
            case_id: r.case_id,
            submitted_by: r.submitted_by,
            submitted_at: r.submitted_at,
            priority: if r.priority <= crate::store::jobs::PRIORITY_INTERACTIVE {
                "interactive".into()
            } else {
                "batch".into()
            },
            attempts: r.attempts,
            cancel_requested: r.cancel_requested,
            progress: r
                .progress
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok())
                .unwrap_or_default(),
            result: r.result,
            verdict: r.verdict,
            untrained: r.untrained,
            message: r.message,
            error_code: r.error_code,
        }
    }
}
