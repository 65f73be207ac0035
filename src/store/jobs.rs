//! The job queue (schema v11): what `verity serve` submits and `verity worker` processes take,
//! on either back-end. A worker claims the most urgent job (priority 0 = interactive before 1 =
//! batch, then oldest) together with a lease; while it works it renews the lease (and writes its
//! progress); a worker that dies stops renewing, and once the lease has run out the next claim
//! takes the job again (at most [`MAX_ATTEMPTS`] times: a file that kills every worker that
//! opens it ends `failed`). On PostgreSQL the claim is `SELECT … FOR UPDATE SKIP LOCKED`, so
//! workers on many machines never take the same job; on SQLite the claim is one IMMEDIATE
//! transaction. Every write that ends or advances a job names the lease owner, so a worker that
//! lost its lease cannot overwrite the result of the one that took over, and the unique index
//! `analyses_job_once` accepts one finished analysis per job.
//!
//! Times for leases come from the database's clock, never from the workers'.
use super::db::{params, Dialect, Exec, OptionalExt, Row};
use super::{append_audit, now, Store};
use crate::{Error, Result};
use serde::Serialize;

/// Claims of one job before it is given up as `failed` (its workers kept dying).
pub const MAX_ATTEMPTS: i64 = 3;

/// What a queued job does.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedKind {
    /// Import the file or folder at this path (on storage the workers share) and analyse it.
    Analyze { path: String },
    /// Analyse a stored case again.
    Rerun { case_id: i64 },
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: QueuedKind,
    pub label: String,
    /// 0 = interactive (an analyst waits), 1 = batch.
    pub priority: i64,
    pub submitted_by: String,
    /// A folder holding the upload, removed when the job ends.
    pub upload: Option<String>,
}

/// Interactive jobs go first.
pub const PRIORITY_INTERACTIVE: i64 = 0;
pub const PRIORITY_BATCH: i64 = 1;

/// One job row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    pub path: Option<String>,
    pub case_id: Option<i64>,
    pub label: String,
    pub priority: i64,
    /// queued | running | done | failed | cancelled
    pub state: String,
    pub submitted_by: String,
    pub submitted_at: String,
    pub attempts: i64,
    pub lease_owner: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// JSON progress the worker last wrote.
    pub progress: Option<String>,
    /// done | not_scored (state `done`)
    pub result: Option<String>,
    pub verdict: Option<String>,
    pub untrained: Option<bool>,
    pub message: Option<String>,
    pub error_code: Option<String>,
    pub cancel_requested: bool,
    pub upload: Option<String>,
    pub faces_scored: i64,
    /// JSON `pipeline::StageTimes` of the run that finished it.
    pub times: Option<String>,
}

impl JobRow {
    /// The job as the worker runs it.
    pub fn queued_kind(&self) -> Result<QueuedKind> {
        match (self.kind.as_str(), &self.path, self.case_id) {
            ("analyze", Some(p), _) => Ok(QueuedKind::Analyze { path: p.clone() }),
            ("rerun", _, Some(c)) => Ok(QueuedKind::Rerun { case_id: c }),
            (k, _, _) => Err(Error::Other(format!(
                "job {}: unreadable kind {k:?}",
                self.id
            ))),
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "done" | "failed" | "cancelled")
    }
}

const COLUMNS: &str = "id, kind, path, case_id, label, priority, state, submitted_by, submitted_at,
    attempts, lease_owner, started_at, finished_at, progress, result, verdict, untrained, message,
    error_code, cancel_requested, upload, faces_scored, times";

fn job_from_row(r: &Row) -> Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        path: r.get(2)?,
        case_id: r.get(3)?,
        label: r.get(4)?,
        priority: r.get(5)?,
        state: r.get(6)?,
        submitted_by: r.get(7)?,
        submitted_at: r.get(8)?,
        attempts: r.get(9)?,
        lease_owner: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
        progress: r.get(13)?,
        result: r.get(14)?,
        verdict: r.get(15)?,
        untrained: r.get(16)?,
        message: r.get(17)?,
        error_code: r.get(18)?,
        cancel_requested: r.get(19)?,
        upload: r.get(20)?,
        faces_scored: r.get(21)?,
        times: r.get(22)?,
    })
}

/// Seconds since the epoch on the database's clock.
fn db_now(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "((julianday('now') - 2440587.5) * 86400.0)",
        Dialect::Postgres => "extract(epoch from clock_timestamp())::float8",
    }
}

/// What renewing a lease found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still ours: go on.
    Held,
    /// Still ours, and someone asked to cancel the job.
    CancelRequested,
    /// Not ours any more (it ran out and another worker took the job, or the job ended).
    Lost,
}

/// How a job ended, as its worker records it.
#[derive(Debug, Clone, Default)]
pub struct JobEnd {
    /// done | failed | cancelled
    pub state: String,
    pub case_id: Option<i64>,
    pub result: Option<String>,
    pub verdict: Option<String>,
    pub untrained: Option<bool>,
    pub message: Option<String>,
    pub error_code: Option<String>,
    pub faces_scored: i64,
    pub times: Option<String>,
    /// The last progress (JSON), kept on the ended job.
    pub progress: Option<String>,
}

/// Counts the metrics endpoint reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStats {
    pub queued: i64,
    pub running: i64,
    /// Ended jobs by outcome: done, not_scored, failed, cancelled.
    pub ended: std::collections::BTreeMap<String, i64>,
    pub faces_scored: i64,
    /// `times` JSON of every job that finished with a result.
    pub times: Vec<String>,
}

impl Store {
    /// The job whose analyses this connection begins from now on (`analyses.job_id`).
    pub fn set_job(&mut self, job: Option<i64>) {
        self.job = job;
    }

    /// Queues a job; returns its id.
    pub fn enqueue_job(&self, j: &NewJob) -> Result<i64> {
        let (kind, path, case_id) = match &j.kind {
            QueuedKind::Analyze { path } => ("analyze", Some(path.as_str()), None),
            QueuedKind::Rerun { case_id } => ("rerun", None, Some(*case_id)),
        };
        let at = now();
        self.db.write_tx(|tx| {
            let id: i64 = tx.query_row(
                "INSERT INTO jobs (kind, path, case_id, label, priority, state, submitted_by, submitted_at, upload)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8) RETURNING id",
                params![kind, path, case_id, j.label, j.priority, j.submitted_by, at, j.upload],
                |r| r.get(0),
            )?;
            append_audit(
                tx,
                &j.submitted_by,
                "job_queued",
                case_id,
                &serde_json::json!({"job_id": id, "kind": kind, "label": j.label, "priority": j.priority}),
            )?;
            Ok(id)
        })
    }

    /// Takes the most urgent job for `owner` with a lease of `lease_s` seconds: a queued one,
    /// or a running one whose lease ran out (its worker is gone). Jobs whose lease ran out
    /// [`MAX_ATTEMPTS`] times end `failed`; cancelled ones whose worker is gone end `cancelled`.
    pub fn claim_job(&self, owner: &str, lease_s: f64) -> Result<Option<JobRow>> {
        let d = self.db.dialect();
        let clock = db_now(d);
        let at = now();
        self.db.write_tx(|tx| {
            tx.execute(
                &format!(
                    "UPDATE jobs SET state = 'failed', finished_at = ?1, error_code = 'worker_lost',
                         message = 'the workers that took this job stopped before finishing it ' || attempts || ' times; the file may crash the analysis — check it and submit it again'
                     WHERE state = 'running' AND lease_until < {clock} AND attempts >= ?2 AND cancel_requested = 0"
                ),
                params![at, MAX_ATTEMPTS],
            )?;
            tx.execute(
                &format!(
                    "UPDATE jobs SET state = 'cancelled', finished_at = ?1
                     WHERE state = 'running' AND lease_until < {clock} AND cancel_requested = 1"
                ),
                params![at],
            )?;
            let lock = match d {
                Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
                Dialect::Sqlite => "",
            };
            let id: Option<i64> = tx
                .query_row(
                    &format!(
                        "SELECT id FROM jobs
                         WHERE state = 'queued' OR (state = 'running' AND lease_until < {clock})
                         ORDER BY priority, id LIMIT 1{lock}"
                    ),
                    params![],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else {
                return Ok(None);
            };
            let row = tx.query_row(
                &format!(
                    "UPDATE jobs SET state = 'running', lease_owner = ?1, lease_until = {clock} + ?2,
                         attempts = attempts + 1, started_at = COALESCE(started_at, ?3)
                     WHERE id = ?4 RETURNING {COLUMNS}"
                ),
                params![owner, lease_s, at, id],
                job_from_row,
            )?;
            Ok(Some(row))
        })
    }

    /// Extends `owner`'s lease on a running job by `lease_s` seconds from now, recording its
    /// progress (JSON) and case when given.
    pub fn renew_job(
        &self,
        id: i64,
        owner: &str,
        lease_s: f64,
        progress: Option<&str>,
        case_id: Option<i64>,
    ) -> Result<Lease> {
        let clock = db_now(self.db.dialect());
        let cancel: Option<i64> = self
            .db
            .query_row(
                &format!(
                    "UPDATE jobs SET lease_until = {clock} + ?1, progress = COALESCE(?2, progress),
                         case_id = COALESCE(?3, case_id)
                     WHERE id = ?4 AND lease_owner = ?5 AND state = 'running'
                     RETURNING cancel_requested"
                ),
                params![lease_s, progress, case_id, id, owner],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match cancel {
            None => Lease::Lost,
            Some(0) => Lease::Held,
            Some(_) => Lease::CancelRequested,
        })
    }

    /// Records how `owner`'s job ended. False when the job is not `owner`'s any more (its lease
    /// ran out and another worker took it): nothing is written then.
    pub fn finish_job(&self, id: i64, owner: &str, end: &JobEnd) -> Result<bool> {
        let at = now();
        let n = self.db.execute(
            "UPDATE jobs SET state = ?1, finished_at = ?2, case_id = COALESCE(?3, case_id), result = ?4,
                 verdict = ?5, untrained = ?6, message = ?7, error_code = ?8, faces_scored = ?9,
                 times = ?10, lease_until = NULL, progress = COALESCE(?13, progress)
             WHERE id = ?11 AND lease_owner = ?12 AND state = 'running'",
            params![
                end.state,
                at,
                end.case_id,
                end.result,
                end.verdict,
                end.untrained,
                end.message,
                end.error_code,
                end.faces_scored,
                end.times,
                id,
                owner,
                end.progress
            ],
        )?;
        Ok(n == 1)
    }

    /// Gives a running job back to the queue (its worker is stopping): it keeps its attempts.
    pub fn release_job(&self, id: i64, owner: &str) -> Result<bool> {
        let n = self.db.execute(
            "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND lease_owner = ?2 AND state = 'running'",
            params![id, owner],
        )?;
        Ok(n == 1)
    }

    /// Upload folders that queued or running jobs still need.
    pub fn live_uploads(&self) -> Result<Vec<String>> {
        self.db.query_map(
            "SELECT upload FROM jobs WHERE upload IS NOT NULL AND state IN ('queued', 'running')",
            params![],
            |r| r.get(0),
        )
    }

    /// The finished analysis a job already produced (case id, status), if any: a worker that
    /// takes over a job whose first worker died after saving its result only records the end.
    pub fn job_result(&self, job: i64) -> Result<Option<(i64, String)>> {
        self.db
            .query_row(
                "SELECT case_id, status FROM analyses WHERE job_id = ?1 AND status IN ('done', 'not_scored')",
                params![job],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
    }

    /// Marks the analyses a dead worker left `running` for `job` as interrupted (and their
    /// cases, when still theirs). Returns how many.
    pub fn interrupt_job_analyses(&self, job: i64) -> Result<usize> {
        let at = now();
        self.db.write_tx(|tx| {
            let rows: Vec<(i64, i64)> = tx.query_map(
                "SELECT id, case_id FROM analyses WHERE job_id = ?1 AND status = 'running'",
                params![job],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            for (aid, case_id) in &rows {
                tx.execute(
                    "UPDATE analyses SET status = 'interrupted', finished_at = ?1,
                     error = 'the worker running it stopped; the job was taken over' WHERE id = ?2",
                    params![at, aid],
                )?;
                tx.execute(
                    "UPDATE cases SET status = 'interrupted', updated_at = ?1 WHERE id = ?2 AND last_analysis_id = ?3",
                    params![at, case_id, aid],
                )?;
                append_audit(
                    tx,
                    "system",
                    "analysis_interrupted",
                    Some(*case_id),
                    &serde_json::json!({"analysis_id": aid, "job_id": job}),
                )?;
            }
            Ok(rows.len())
        })
    }

    /// Cancels a job as `actor`: a queued one at once, a running one by asking its worker (it
    /// stops at its next lease renewal). Returns the job as it is now; None for an unknown id.
    pub fn cancel_job(&self, id: i64, actor: &str) -> Result<Option<JobRow>> {
        let at = now();
        self.db.write_tx(|tx| {
            let Some(state) = tx
                .query_row("SELECT state FROM jobs WHERE id = ?1", params![id], |r| {
                    r.get::<String>(0)
                })
                .optional()?
            else {
                return Ok(None);
            };
            let changed = match state.as_str() {
                "queued" => tx.execute(
                    "UPDATE jobs SET state = 'cancelled', finished_at = ?1, cancel_requested = 1
                     WHERE id = ?2 AND state = 'queued'",
                    params![at, id],
                )?,
                "running" => tx.execute(
                    "UPDATE jobs SET cancel_requested = 1 WHERE id = ?1 AND state = 'running'",
                    params![id],
                )?,
                _ => 0,
            };
            if changed > 0 {
                append_audit(
                    tx,
                    actor,
                    "job_cancel",
                    None,
                    &serde_json::json!({"job_id": id, "was": state}),
                )?;
            }
            tx.query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                params![id],
                job_from_row,
            )
            .optional()
        })
    }

    pub fn job(&self, id: i64) -> Result<Option<JobRow>> {
        self.db
            .query_row(
                &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                params![id],
                job_from_row,
            )
            .optional()
    }

    /// Jobs newest first (at most `limit`).
    pub fn jobs(&self, limit: i64) -> Result<Vec<JobRow>> {
        self.db.query_map(
            &format!("SELECT {COLUMNS} FROM jobs ORDER BY id DESC LIMIT ?1"),
            params![limit],
            job_from_row,
        )
    }

    /// Queue and outcome counts for `/metrics`.
    pub fn job_stats(&self) -> Result<JobStats> {
        let mut s = JobStats::default();
        for (state, result, n, faces) in self.db.query_map(
            "SELECT state, result, COUNT(*), SUM(faces_scored) FROM jobs GROUP BY state, result",
            params![],
            |r| {
                Ok((
                    r.get::<String>(0)?,
                    r.get::<Option<String>>(1)?,
                    r.get::<i64>(2)?,
                    r.get::<Option<i64>>(3)?.unwrap_or(0),
                ))
            },
        )? {
            s.faces_scored += faces;
            match state.as_str() {
                "queued" => s.queued += n,
                "running" => s.running += n,
                "done" => {
                    *s.ended
                        .entry(result.unwrap_or_else(|| "done".into()))
                        .or_default() += n
                }
                other => *s.ended.entry(other.to_string()).or_default() += n,
            }
        }
        s.times = self.db.query_map(
            "SELECT times FROM jobs WHERE state = 'done' AND times IS NOT NULL ORDER BY id",
            params![],
            |r| r.get(0),
        )?;
        Ok(s)
    }
}
