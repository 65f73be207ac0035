//! The job queue's semantics (`store::jobs`), on SQLite and on a throwaway PostgreSQL
//! (`common::pg`): priority order, leases (claim, renew, expiry, take-over, give-up after
//! MAX_ATTEMPTS), cancelling, one finished analysis per job, the metrics counts, and on
//! PostgreSQL concurrent claims from several connections (FOR UPDATE SKIP LOCKED).
mod common;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use verity::store::db::{params, Exec};
use verity::store::jobs::{MAX_ATTEMPTS, PRIORITY_BATCH, PRIORITY_INTERACTIVE};
use verity::store::*;

use common::pg::{both, Opener};

fn new_job(label: &str, priority: i64) -> NewJob {
    NewJob {
        kind: QueuedKind::Analyze {
            path: format!("/srv/incoming/{label}"),
        },
        label: label.into(),
        priority,
        submitted_by: "api:ana".into(),
        upload: None,
    }
}

fn end(state: &str) -> JobEnd {
    JobEnd {
        state: state.into(),
        ..Default::default()
    }
}

/// The lease's end (seconds since the epoch, the database's clock) as stored.
fn lease_until(s: &Store, id: i64) -> Option<f64> {
    s.db()
        .query_row(
            "SELECT lease_until FROM jobs WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )
        .unwrap()
}

fn epoch_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn claims_go_by_priority_then_age_and_hold_a_lease() {
    both("claims", claims_suite);
}

fn claims_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let b1 = s.enqueue_job(&new_job("b1", PRIORITY_BATCH)).unwrap();
    let i1 = s.enqueue_job(&new_job("i1", PRIORITY_INTERACTIVE)).unwrap();
    let b2 = s.enqueue_job(&new_job("b2", PRIORITY_BATCH)).unwrap();
    let i2 = s.enqueue_job(&new_job("i2", PRIORITY_INTERACTIVE)).unwrap();
    let q = s.job(b1).unwrap().unwrap();
    assert_eq!(
        (q.state.as_str(), q.attempts, q.lease_owner.as_deref()),
        ("queued", 0, None)
    );
    assert_eq!(
        q.queued_kind().unwrap(),
        QueuedKind::Analyze {
            path: "/srv/incoming/b1".into()
        }
    );
    assert_eq!(lease_until(&s, b1), None);

    let mut order = Vec::new();
    while let Some(j) = s.claim_job("w1", 30.0).unwrap() {
        assert_eq!(j.state, "running");
        assert_eq!(j.lease_owner.as_deref(), Some("w1"));
        assert_eq!(j.attempts, 1);
        assert!(j.started_at.is_some());
        let left = lease_until(&s, j.id).expect("a claimed job has a lease") - epoch_s();
        assert!(
            (25.0..=35.0).contains(&left),
            "lease ends in {left} s, not ~30"
        );
        order.push(j.id);
        assert!(
            order.len() <= 4,
            "a leased job was claimed again: {order:?}"
        );
    }
    assert_eq!(
        order,
        vec![i1, i2, b1, b2],
        "interactive first, then oldest"
    );
    // Every job is leased: another worker gets nothing.
    assert_eq!(s.claim_job("w2", 30.0).unwrap(), None);
    // The database agrees with what the claims returned.
    for id in [i1, i2, b1, b2] {
        let j = s.job(id).unwrap().unwrap();
        assert_eq!((j.state.as_str(), j.attempts), ("running", 1));
        assert_eq!(j.lease_owner.as_deref(), Some("w1"));
    }
    assert_eq!(
        s.jobs(10).unwrap().iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![i2, b2, i1, b1]
    );
}

#[test]
fn renewals_tell_held_cancel_requested_and_lost() {
    both("renew", renew_suite);
}

fn renew_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let id = s.enqueue_job(&new_job("a", PRIORITY_BATCH)).unwrap();
    assert_eq!(
        s.renew_job(id, "w1", 30.0, None, None).unwrap(),
        Lease::Lost,
        "not claimed yet"
    );
    let j = s.claim_job("w1", 5.0).unwrap().unwrap();
    assert_eq!(j.id, id);
    let before = lease_until(&s, id).unwrap();
    assert_eq!(
        s.renew_job(id, "w1", 60.0, Some(r#"{"frames_decoded":3}"#), Some(7))
            .unwrap(),
        Lease::Held
    );
    assert!(
        lease_until(&s, id).unwrap() > before + 50.0,
        "the renewal extended the lease"
    );
    let j = s.job(id).unwrap().unwrap();
    assert_eq!(j.progress.as_deref(), Some(r#"{"frames_decoded":3}"#));
    assert_eq!(j.case_id, Some(7));
    // No progress given: the last one stays.
    assert_eq!(
        s.renew_job(id, "w1", 60.0, None, None).unwrap(),
        Lease::Held
    );
    assert_eq!(
        s.job(id).unwrap().unwrap().progress.as_deref(),
        Some(r#"{"frames_decoded":3}"#)
    );
    // Somebody else's renewal neither holds nor changes the lease.
    let held = lease_until(&s, id).unwrap();
    assert_eq!(
        s.renew_job(id, "w2", 600.0, None, None).unwrap(),
        Lease::Lost
    );
    assert_eq!(lease_until(&s, id).unwrap(), held);

    let c = s.cancel_job(id, "api:bob").unwrap().unwrap();
    assert_eq!((c.state.as_str(), c.cancel_requested), ("running", true));
    assert_eq!(
        s.renew_job(id, "w1", 30.0, None, None).unwrap(),
        Lease::CancelRequested
    );
    assert!(s.finish_job(id, "w1", &end("cancelled")).unwrap());
    let j = s.job(id).unwrap().unwrap();
    assert_eq!(j.state, "cancelled");
    assert!(j.finished_at.is_some());
    assert_eq!(lease_until(&s, id), None);
    // An ended job's lease is gone.
    assert_eq!(
        s.renew_job(id, "w1", 30.0, None, None).unwrap(),
        Lease::Lost
    );
    assert!(
        !s.finish_job(id, "w1", &end("done")).unwrap(),
        "a job ends once"
    );
    assert_eq!(s.job(id).unwrap().unwrap().state, "cancelled");
}

#[test]
fn an_expired_lease_is_taken_over_and_the_old_owner_writes_nothing() {
    both("expiry", expiry_suite);
}

fn expiry_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let id = s.enqueue_job(&new_job("a", PRIORITY_INTERACTIVE)).unwrap();
    assert_eq!(s.claim_job("dead", 0.2).unwrap().unwrap().id, id);
    assert_eq!(s.claim_job("w2", 30.0).unwrap(), None, "still leased");
    std::thread::sleep(Duration::from_millis(400));
    let j = s
        .claim_job("w2", 30.0)
        .unwrap()
        .expect("the expired lease is taken over");
    assert_eq!(j.id, id);
    assert_eq!(j.attempts, 2);
    assert_eq!(j.lease_owner.as_deref(), Some("w2"));
    assert_eq!(j.state, "running");

    // The first worker comes back: its end and its renewals are refused, nothing written.
    let stale = JobEnd {
        state: "done".into(),
        case_id: Some(99),
        result: Some("done".into()),
        verdict: Some("fake (0.990)".into()),
        faces_scored: 5,
        ..Default::default()
    };
    assert!(!s.finish_job(id, "dead", &stale).unwrap());
    assert_eq!(
        s.renew_job(id, "dead", 30.0, Some("{}"), Some(99)).unwrap(),
        Lease::Lost
    );
    assert_eq!(
        s.job(id).unwrap().unwrap(),
        j,
        "the old owner changed the row"
    );
    assert_eq!(s.job_stats().unwrap().faces_scored, 0);

    let done = JobEnd {
        state: "done".into(),
        case_id: Some(3),
        result: Some("not_scored".into()),
        verdict: Some("not scored".into()),
        faces_scored: 0,
        ..Default::default()
    };
    assert!(s.finish_job(id, "w2", &done).unwrap());
    let j = s.job(id).unwrap().unwrap();
    assert_eq!(
        (j.state.as_str(), j.result.as_deref(), j.case_id, j.attempts),
        ("done", Some("not_scored"), Some(3), 2)
    );
    // Ended jobs are not claimed again, however old their lease.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(s.claim_job("w3", 30.0).unwrap(), None);
}

#[test]
fn a_job_whose_workers_keep_dying_ends_failed_after_max_attempts() {
    both("attempts", attempts_suite);
}

fn attempts_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let id = s
        .enqueue_job(&new_job("crasher.mp4", PRIORITY_BATCH))
        .unwrap();
    for n in 1..=MAX_ATTEMPTS {
        let j = s
            .claim_job(&format!("w{n}"), 0.2)
            .unwrap()
            .unwrap_or_else(|| panic!("claim {n} of {MAX_ATTEMPTS} got nothing"));
        assert_eq!((j.id, j.attempts), (id, n));
        std::thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(
        s.claim_job("w-last", 30.0).unwrap(),
        None,
        "given up, not claimed again"
    );
    let j = s.job(id).unwrap().unwrap();
    assert_eq!(j.state, "failed");
    assert_eq!(j.error_code.as_deref(), Some("worker_lost"));
    assert_eq!(j.attempts, MAX_ATTEMPTS);
    assert!(j.finished_at.is_some());
    assert!(
        j.message
            .as_deref()
            .unwrap_or("")
            .contains(&format!("{MAX_ATTEMPTS} times")),
        "{:?}",
        j.message
    );
    // The last worker cannot end it afterwards.
    assert!(!s
        .finish_job(id, &format!("w{MAX_ATTEMPTS}"), &end("done"))
        .unwrap());

    // A job whose cancel was asked for and whose worker died ends cancelled, not re-run.
    let k = s.enqueue_job(&new_job("b", PRIORITY_BATCH)).unwrap();
    assert_eq!(s.claim_job("w1", 0.2).unwrap().unwrap().id, k);
    s.cancel_job(k, "api:bob").unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(s.claim_job("w2", 30.0).unwrap(), None);
    let k = s.job(k).unwrap().unwrap();
    assert_eq!((k.state.as_str(), k.attempts), ("cancelled", 1));
}

#[test]
fn cancelling_queued_running_and_unknown_jobs() {
    both("cancel", cancel_suite);
}

fn cancel_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let q = s.enqueue_job(&new_job("q", PRIORITY_INTERACTIVE)).unwrap();
    let r = s.enqueue_job(&new_job("r", PRIORITY_BATCH)).unwrap();
    let c = s.cancel_job(q, "api:bob").unwrap().unwrap();
    assert_eq!(
        (c.id, c.state.as_str(), c.cancel_requested),
        (q, "cancelled", true)
    );
    assert!(c.finished_at.is_some());
    // The cancelled job is skipped although it is the more urgent one.
    let j = s.claim_job("w1", 30.0).unwrap().unwrap();
    assert_eq!(j.id, r);
    assert!(!j.cancel_requested);
    let c = s.cancel_job(r, "api:bob").unwrap().unwrap();
    assert_eq!((c.state.as_str(), c.cancel_requested), ("running", true));
    assert!(c.finished_at.is_none());
    assert_eq!(
        s.renew_job(r, "w1", 30.0, None, None).unwrap(),
        Lease::CancelRequested
    );
    assert_eq!(s.cancel_job(9999, "api:bob").unwrap(), None);
    // Cancelling an ended job changes nothing.
    assert!(s.finish_job(r, "w1", &end("cancelled")).unwrap());
    let again = s.cancel_job(q, "api:bob").unwrap().unwrap();
    assert_eq!(again, s.job(q).unwrap().unwrap());
    assert_eq!(again.state, "cancelled");
    // Both cancels (and only they) are in the audit log, naming who asked.
    let audited: Vec<String> = s
        .db()
        .query_map(
            "SELECT actor FROM audit WHERE action = 'job_cancel' ORDER BY id",
            params![],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(audited, vec!["api:bob", "api:bob"]);
}

fn outcome(score: f64, band: &str) -> Outcome {
    Outcome {
        status: "done".into(),
        score: Some(score),
        band: Some(band.into()),
        profile: Some("tiny".into()),
        weight_hashes: vec![],
        untrained: true,
        message: None,
        scores: vec![ScoreRow {
            level: "media".into(),
            face_id: None,
            frame_idx: None,
            track_id: None,
            score,
        }],
    }
}

#[test]
fn a_job_gets_one_finished_analysis() {
    both("once", once_suite);
}

fn once_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("data"));
    let f = dir.path().join("a.png");
    std::fs::write(&f, b"pretend image bytes").unwrap();
    let case = s
        .import(&common::image_media(&f, 4), "ana")
        .unwrap()
        .case_id;
    let job = s
        .enqueue_job(&new_job("a.png", PRIORITY_INTERACTIVE))
        .unwrap();
    assert_eq!(s.job_result(job).unwrap(), None);

    // A worker began the job's analysis and died; the one that took over began it again and
    // finished first. The first worker's late result must not count as a second one.
    s.set_job(Some(job));
    let stale = s.begin_analysis(case, "{}", "api:ana").unwrap();
    let fresh = s.begin_analysis(case, "{}", "api:ana").unwrap();
    assert_eq!(
        s.job_result(job).unwrap(),
        None,
        "running analyses are no result"
    );
    s.finish_analysis(fresh, &outcome(0.9, "fake"), "api:ana")
        .unwrap();
    assert_eq!(s.job_result(job).unwrap(), Some((case, "done".to_string())));
    let e = s.finish_analysis(stale, &outcome(0.1, "real"), "api:ana");
    assert!(
        e.is_err(),
        "a second finished analysis for job {job} was accepted"
    );

    let c = s.case(case).unwrap();
    assert_eq!(
        (c.status.as_str(), c.score, c.band.as_deref()),
        ("done", Some(0.9), Some("fake")),
        "the case lost the first result"
    );
    assert_eq!(s.job_result(job).unwrap(), Some((case, "done".to_string())));
    let rows: Vec<(i64, String, i64)> = s
        .db()
        .query_map(
            "SELECT a.id, a.status, (SELECT COUNT(*) FROM scores WHERE analysis_id = a.id)
             FROM analyses a WHERE a.job_id = ?1 ORDER BY a.id",
            params![job],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        rows,
        vec![(stale, "failed".into(), 0), (fresh, "done".into(), 1)]
    );

    // Analyses of no job (the desk, the CLI) are not limited.
    s.set_job(None);
    for _ in 0..2 {
        let a = s.begin_analysis(case, "{}", "ana").unwrap();
        s.finish_analysis(a, &outcome(0.2, "real"), "ana").unwrap();
    }
    // Another job of the same case has a result of its own.
    let job2 = s.enqueue_job(&new_job("again", PRIORITY_BATCH)).unwrap();
    assert_eq!(s.job_result(job2).unwrap(), None);
    s.set_job(Some(job2));
    let a = s.begin_analysis(case, "{}", "api:ana").unwrap();
    s.finish_analysis(a, &outcome(0.3, "real"), "api:ana")
        .unwrap();
    assert_eq!(
        s.job_result(job2).unwrap(),
        Some((case, "done".to_string()))
    );
    assert_eq!(s.job_result(job).unwrap(), Some((case, "done".to_string())));
}

#[test]
fn job_stats_agree_with_the_rows() {
    both("stats", stats_suite);
}

fn stats_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(s.job_stats().unwrap(), JobStats::default());
    let ids: Vec<i64> = (0..7)
        .map(|i| s.enqueue_job(&new_job(&format!("j{i}"), i % 2)).unwrap())
        .collect();
    s.cancel_job(ids[6], "api:bob").unwrap();
    let mut claimed = Vec::new();
    for _ in 0..5 {
        claimed.push(s.claim_job("w1", 30.0).unwrap().unwrap().id);
    }
    let times = r#"{"decode_s":0.5}"#;
    let ends = [
        JobEnd {
            state: "done".into(),
            result: Some("done".into()),
            faces_scored: 3,
            times: Some(times.into()),
            ..Default::default()
        },
        JobEnd {
            state: "done".into(),
            result: Some("not_scored".into()),
            times: Some(times.into()),
            ..Default::default()
        },
        JobEnd {
            state: "failed".into(),
            error_code: Some("input".into()),
            ..Default::default()
        },
        JobEnd {
            state: "done".into(),
            result: Some("done".into()),
            faces_scored: 4,
            ..Default::default()
        },
    ];
    for (id, e) in claimed.iter().zip(&ends) {
        assert!(s.finish_job(*id, "w1", e).unwrap());
    }
    // Left: one running (claimed[4]), one queued, one cancelled.
    let st = s.job_stats().unwrap();

    // The same counts, from the rows.
    let rows = s.jobs(100).unwrap();
    assert_eq!(rows.len(), 7);
    let count = |state: &str| rows.iter().filter(|j| j.state == state).count() as i64;
    let mut ended = BTreeMap::new();
    for j in rows.iter().filter(|j| j.is_final()) {
        let k = match j.state.as_str() {
            "done" => j.result.clone().unwrap(),
            other => other.to_string(),
        };
        *ended.entry(k).or_insert(0i64) += 1;
    }
    assert_eq!(st.queued, count("queued"));
    assert_eq!(st.running, count("running"));
    assert_eq!(st.ended, ended);
    assert_eq!(
        st.faces_scored,
        rows.iter().map(|j| j.faces_scored).sum::<i64>()
    );
    assert_eq!(
        st.times.len(),
        rows.iter()
            .filter(|j| j.state == "done" && j.times.is_some())
            .count()
    );
    // … and the numbers this script produced.
    assert_eq!((st.queued, st.running, st.faces_scored), (1, 1, 7));
    assert_eq!(
        st.ended,
        BTreeMap::from([
            ("done".to_string(), 2),
            ("not_scored".to_string(), 1),
            ("failed".to_string(), 1),
            ("cancelled".to_string(), 1)
        ])
    );
    assert_eq!(st.times, vec![times.to_string(), times.to_string()]);
}

/// Four workers, each on its own connection, empty a queue of 40 at once: every job is claimed
/// exactly once (FOR UPDATE SKIP LOCKED; without it two transactions read the same oldest job
/// and both take it).
#[test]
fn concurrent_claims_on_postgres_take_each_job_once() {
    let Some(pg) = common::pg::Pg::start() else {
        return;
    };
    let url = pg.database("concurrent");
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_postgres(&url, dir.path()).unwrap();
    let queued: Vec<i64> = (0..40)
        .map(|i| {
            let p = if i % 3 == 0 {
                PRIORITY_INTERACTIVE
            } else {
                PRIORITY_BATCH
            };
            s.enqueue_job(&new_job(&format!("j{i}"), p)).unwrap()
        })
        .collect();
    let start = std::sync::Arc::new(std::sync::Barrier::new(4));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (url, data, start) = (url.clone(), dir.path().to_path_buf(), start.clone());
            std::thread::spawn(move || {
                let s = Store::open_postgres(&url, &data).unwrap();
                let owner = format!("w{w}");
                start.wait();
                let mut got = Vec::new();
                while let Some(j) = s.claim_job(&owner, 60.0).unwrap() {
                    assert_eq!(j.lease_owner.as_deref(), Some(owner.as_str()));
                    got.push((j.id, j.attempts));
                }
                got
            })
        })
        .collect();
    let per_worker: Vec<Vec<(i64, i64)>> = workers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut all: Vec<i64> = per_worker.iter().flatten().map(|(id, _)| *id).collect();
    all.sort();
    let mut want = queued.clone();
    want.sort();
    assert_eq!(
        all, want,
        "each job claimed exactly once (per worker: {per_worker:?})"
    );
    assert!(per_worker
        .iter()
        .flatten()
        .all(|(_, attempts)| *attempts == 1));
    for (w, got) in per_worker.iter().enumerate() {
        for (id, _) in got {
            let j = s.job(*id).unwrap().unwrap();
            assert_eq!(
                (j.state.as_str(), j.attempts, j.lease_owner),
                ("running", 1, Some(format!("w{w}")))
            );
        }
    }
    assert_eq!(s.claim_job("late", 60.0).unwrap(), None);
}

// ---- `verity worker` and `verity token --store`, as processes ----

fn verity(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_verity"));
    c.arg("--config")
        .arg(dir.join("settings.toml"))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("NO_COLOR", "1");
    c
}

fn run(c: &mut std::process::Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn worker_and_token_refuse_a_bad_store_url_naming_it_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "mysql://ana:hunter2@db/verity",
        "postgres://ana:hunter2@db:notaport/verity",
    ] {
        for args in [&["worker"][..], &["token", "list"][..]] {
            let (code, _, err) = run(verity(dir.path()).args(args).args(["--store", url]));
            assert_eq!(code, 1, "{args:?} {url}: {err}");
            assert!(err.starts_with("error: --store "), "{args:?} {url}: {err}");
            assert!(err.contains("***@db"), "the store is not named: {err}");
            assert!(!err.contains("hunter2"), "the password is shown: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
        }
    }
    let (code, _, err) = run(verity(dir.path()).args(["worker", "--lease", "2"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--lease must be at least 3"), "{err}");
    // Nothing was made for a refused store.
    assert!(!dir.path().join("data/verity.db").exists());
}

#[test]
fn worker_and_tokens_on_a_postgres_store() {
    let Some(pg) = common::pg::Pg::start() else {
        return;
    };
    let url = pg
        .database("cli")
        .replacen("postgresql://", "postgresql://verity:hunter2@", 1);
    let dir = tempfile::tempdir().unwrap();
    let (code, secret, err) =
        run(verity(dir.path()).args(["token", "add", "Ada", "--store", &url]));
    assert_eq!(code, 0, "{err}");
    assert!(secret.trim().starts_with(TOKEN_PREFIX), "{secret}");
    let (code, list, err) = run(verity(dir.path()).args(["token", "--store", &url, "list"]));
    assert_eq!(code, 0, "{err}");
    assert!(list.contains("Ada") && list.contains("active"), "{list}");
    // In the PostgreSQL store, not in the data folder's SQLite one.
    let s = Store::open_postgres(&url, &dir.path().join("data")).unwrap();
    let t = s.tokens().unwrap();
    assert_eq!((t.len(), t[0].analyst.as_str()), (1, "Ada"));
    let (_, local, _) = run(verity(dir.path()).args(["token", "list"]));
    assert!(local.contains("no tokens"), "{local}");

    // An idle queue: --exit-when-idle ends at once, naming the store without its password.
    let (code, _, err) = run(verity(dir.path()).args([
        "worker",
        "--exit-when-idle",
        "--id",
        "w-cli",
        "--store",
        &url,
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("verity worker w-cli: taking jobs from postgresql://***@/cli?"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("0 jobs ended"), "{err}");

    // A waiting worker stops on SIGTERM with status 0; its polls left the queue alone.
    let job = s.enqueue_job(&new_job("later", PRIORITY_BATCH)).unwrap();
    s.cancel_job(job, "api:bob").unwrap();
    let child = verity(dir.path())
        .args(["worker", "--poll-ms", "50", "--store", &url])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let st = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("stopped (signal); 0 jobs ended"), "{err}");
    assert_eq!(s.job(job).unwrap().unwrap().state, "cancelled");
}
