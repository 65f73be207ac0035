//! The server's view of jobs: a bounded in-memory table fed by the worker's events (the worker
//! itself forgets a job once it ends). Finished jobs beyond [`MAX_JOBS`] are dropped oldest
//! first; `GET /api/v1/jobs/{id}` then answers 404.
use super::metrics::Metrics;
use crate::worker::Event;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// Most jobs remembered (queued and running ones are never dropped).
pub const MAX_JOBS: usize = 1000;

#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct JobProgress {
    pub frames_decoded: usize,
    pub faces_found: usize,
    pub faces_scored: usize,
    pub frames_estimate: Option<u64>,
    pub elapsed_s: f64,
    pub eta_s: Option<f64>,
}

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
    pub progress: JobProgress,
    /// The analysis' status when done: `done` (scored) or `not_scored`.
    pub result: Option<String>,
    /// The one-line verdict when done.
    pub verdict: Option<String>,
    /// True when the profile that scored it has random weights: not a verdict.
    pub untrained: Option<bool>,
    /// Why it failed or was not scored, for the analyst.
    pub message: Option<String>,
    /// Stable error kind when failed (`input`, `weights`, …).
    pub error_code: Option<String>,
}

struct Record {
    view: JobView,
    /// The upload's private folder, removed once the job ends (the media is in the blob store).
    upload: Option<PathBuf>,
}

#[derive(Default)]
pub struct JobTable {
    jobs: BTreeMap<u64, Record>,
}

fn final_state(s: &str) -> bool {
    matches!(s, "done" | "failed" | "cancelled")
}

impl JobTable {
    /// Registers a job the server just queued (its events may already have arrived). Returns
    /// the upload folder back when the job has already ended (the caller removes it).
    pub fn submitted(
        &mut self,
        id: u64,
        label: &str,
        actor: &str,
        upload: Option<PathBuf>,
    ) -> Option<PathBuf> {
        let rec = self.jobs.entry(id).or_insert_with(|| Record {
            view: blank(id, label),
            upload: None,
        });
        rec.view.submitted_by = actor.to_string();
        let back = if final_state(&rec.view.state) {
            upload
        } else {
            rec.upload = upload;
            None
        };
        self.trim();
        back
    }

    pub fn get(&self, id: u64) -> Option<JobView> {
        self.jobs.get(&id).map(|r| r.view.clone())
    }

    fn trim(&mut self) {
        while self.jobs.len() > MAX_JOBS {
            let Some(old) = self
                .jobs
                .iter()
                .find(|(_, r)| final_state(&r.view.state))
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.jobs.remove(&old);
        }
    }

    /// Applies one worker event; returns an upload folder to delete when a job ended.
    pub fn apply(&mut self, e: &Event, metrics: &Metrics) -> Option<PathBuf> {
        let id = e.job();
        let rec = self.jobs.entry(id).or_insert_with(|| Record {
            view: blank(id, ""),
            upload: None,
        });
        let v = &mut rec.view;
        match e {
            Event::Queued { label, case_id, .. } => {
                if v.label.is_empty() {
                    v.label = label.clone();
                }
                v.case_id = v.case_id.or(*case_id);
            }
            Event::Imported { case_id, .. } => v.case_id = Some(*case_id),
            Event::LoadingModels { .. } => v.state = "running".into(),
            Event::Started {
                case_id,
                frames_estimate,
                ..
            } => {
                v.state = "running".into();
                v.case_id = Some(*case_id);
                v.progress.frames_estimate = *frames_estimate;
            }
            Event::Progress {
                case_id,
                frames_decoded,
                faces_found,
                faces_scored,
                frames_estimate,
                elapsed_s,
                eta_s,
                ..
            } => {
                v.state = "running".into();
                v.case_id = Some(*case_id);
                v.progress = JobProgress {
                    frames_decoded: *frames_decoded,
                    faces_found: *faces_found,
                    faces_scored: *faces_scored,
                    frames_estimate: *frames_estimate,
                    elapsed_s: *elapsed_s,
                    eta_s: *eta_s,
                };
            }
            Event::Finished {
                case_id, summary, ..
            } => {
                v.state = "done".into();
                v.case_id = Some(*case_id);
                v.result = Some(summary.status.clone());
                v.verdict = Some(summary.verdict.clone());
                v.untrained = Some(summary.untrained);
                v.message = summary.message.clone();
                v.progress.eta_s = Some(0.0);
                metrics.job_finished(&summary.status);
                metrics.faces_scored(v.progress.faces_scored as u64);
                metrics.analysis_times(&summary.times);
            }
            Event::Failed {
                case_id,
                code,
                message,
                ..
            } => {
                v.state = "failed".into();
                v.case_id = v.case_id.or(*case_id);
                v.message = Some(message.clone());
                v.error_code = Some(code.clone());
                metrics.job_finished("failed");
            }
            Event::Cancelled { case_id, .. } => {
                v.state = "cancelled".into();
                v.case_id = v.case_id.or(*case_id);
                metrics.job_finished("cancelled");
            }
        }
        let ended = final_state(&rec.view.state);
        let upload = if ended { rec.upload.take() } else { None };
        self.trim();
        upload
    }
}

fn blank(id: u64, label: &str) -> JobView {
    JobView {
        id,
        state: "queued".into(),
        label: label.into(),
        case_id: None,
        submitted_by: String::new(),
        submitted_at: crate::store::now(),
        progress: JobProgress::default(),
        result: None,
        verdict: None,
        untrained: None,
        message: None,
        error_code: None,
    }
}

/// The worker's event sink for the server: table + metrics + upload clean-up.
pub fn sink(
    table: Arc<Mutex<JobTable>>,
    metrics: Arc<Metrics>,
) -> impl Fn(&Event) + Send + Sync + 'static {
    move |e: &Event| {
        let upload = table
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(e, &metrics);
        if let Some(dir) = upload {
            if let Err(err) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("cannot remove the upload folder {}: {err}", dir.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_jobs_beyond_the_bound_are_dropped_oldest_first_but_running_ones_stay() {
        let m = Metrics::default();
        let mut t = JobTable::default();
        t.submitted(1, "running.mp4", "api:a", None);
        t.apply(
            &Event::Started {
                job: 1,
                case_id: 1,
                frames_estimate: None,
            },
            &m,
        );
        for id in 2..(MAX_JOBS as u64 + 10) {
            t.submitted(id, "x", "api:a", None);
            t.apply(
                &Event::Cancelled {
                    job: id,
                    case_id: None,
                },
                &m,
            );
        }
        assert_eq!(t.jobs.len(), MAX_JOBS);
        assert_eq!(t.get(1).unwrap().state, "running");
        assert!(t.get(2).is_none(), "the oldest finished job is dropped");
        assert_eq!(t.get(MAX_JOBS as u64 + 9).unwrap().state, "cancelled");
    }
}
