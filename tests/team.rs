//! Team mode end to end with real processes: a throwaway PostgreSQL (`common::pg`), `verity
//! serve --workers 0` and `verity worker` processes (the real binary) sharing one data folder,
//! the UNTRAINED tiny profile. Nothing is mocked.
//!
//! - Scale-out: 60 jobs (images and short videos) over 3 workers; one worker is killed with
//!   SIGKILL while it holds a job; every job ends exactly once (one finished analysis and one
//!   media score per job), none is lost, and `/metrics` agrees with the database.
//! - PostgreSQL restarted mid-run: workers and serve reconnect, no job is lost.
mod common;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use verity::store::db::{params, Exec};
use verity::store::Store;

struct Team {
    dir: tempfile::TempDir,
    url: String,
    data: PathBuf,
    token: String,
    serve: Child,
    base: String,
    workers: Vec<(String, Child)>,
}

fn verity(dir: &Path, data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_verity"));
    c.arg("--data-dir")
        .arg(data)
        .env("VERITY_CONFIG", dir.join("settings.toml"))
        .env("VERITY_MODELS_DIR", dir.join("models"))
        .env("RUST_LOG", "info");
    c
}

impl Team {
    fn start(pg: &common::pg::Pg, db: &str, workers: usize, lease_s: u32) -> Team {
        let dir = tempfile::tempdir().unwrap();
        let settings = common::tiny_settings(dir.path());
        settings.save(&dir.path().join("settings.toml")).unwrap();
        let data = settings.data_dir();
        let url = pg.database(db);
        let token = Store::open_postgres(&url, &data)
            .unwrap()
            .add_token("Ada", "test")
            .unwrap()
            .1;
        let mut serve = verity(dir.path(), &data)
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--workers",
                "0",
                "--store",
                &url,
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(serve.stderr.take().unwrap());
        let mut base = None;
        let mut line = String::new();
        while err.read_line(&mut line).unwrap() > 0 {
            if let Some(rest) = line.split("listening on ").nth(1) {
                base = Some(rest.split_whitespace().next().unwrap().to_string());
                break;
            }
            line.clear();
        }
        // Keep draining serve's log so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut l = String::new();
            while err.read_line(&mut l).unwrap_or(0) > 0 {
                l.clear();
            }
        });
        let mut team = Team {
            base: base.expect("serve printed its address"),
            dir,
            url,
            data,
            token,
            serve,
            workers: vec![],
        };
        for i in 0..workers {
            team.add_worker(&format!("w{i}"), lease_s);
        }
        team
    }

    fn add_worker(&mut self, id: &str, lease_s: u32) {
        let log = std::fs::File::create(self.dir.path().join(format!("{id}.log"))).unwrap();
        let child = verity(self.dir.path(), &self.data)
            .args(["worker", "--store", &self.url, "--id", id, "--lease"])
            .arg(lease_s.to_string())
            .args(["--poll-ms", "100"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.workers.push((id.to_string(), child));
    }

    fn log_of(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{id}.log"))).unwrap_or_default()
    }

    fn request(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> (u16, Vec<u8>) {
        let url = format!("{}{path}", self.base);
        let r = ureq::request(method, &url)
            .timeout(Duration::from_secs(60))
            .set("Authorization", &format!("Bearer {}", self.token));
        let res = match body {
            Some((ct, b)) => r.set("Content-Type", ct).send_bytes(&b),
            None => r.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = resp.status();
        let mut out = vec![];
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut out).unwrap();
        (status, out)
    }

    fn upload(&self, name: &str, bytes: &[u8]) -> u64 {
        let boundary = "verity-team-test-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let (status, b) = self.request("POST", "/api/v1/analyze", Some((&ct, body)));
        assert_eq!(status, 202, "{}", String::from_utf8_lossy(&b));
        serde_json::from_slice::<Value>(&b).unwrap()["job"]
            .as_u64()
            .unwrap()
    }

    fn job(&self, id: u64) -> Option<Value> {
        let (status, b) = self.request("GET", &format!("/api/v1/jobs/{id}"), None);
        (status == 200).then(|| serde_json::from_slice(&b).unwrap())
    }

    fn metrics(&self) -> String {
        let (status, b) = self.request("GET", "/metrics", None);
        assert_eq!(status, 200);
        String::from_utf8(b).unwrap()
    }

    fn db(&self) -> Store {
        Store::open_postgres(&self.url, &self.data).unwrap()
    }

    /// Waits until no job is queued or running (the database's view).
    fn wait_all_ended(&self, n: i64, limit: Duration) {
        let t0 = Instant::now();
        let s = self.db();
        loop {
            let open: i64 = s
                .db()
                .query_row(
                    "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')",
                    params![],
                    |r| r.get(0),
                )
                .unwrap();
            let all: i64 = s
                .db()
                .query_row("SELECT COUNT(*) FROM jobs", params![], |r| r.get(0))
                .unwrap();
            if open == 0 && all == n {
                return;
            }
            assert!(
                t0.elapsed() < limit,
                "{open} of {all} jobs still open after {limit:?}\nw0: {}\nw1: {}\nw2: {}",
                self.log_of("w0"),
                self.log_of("w1"),
                self.log_of("w2")
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        for (_, w) in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = self.serve.kill();
        let _ = self.serve.wait();
    }
}

/// The astronaut with pixel (i, 0) nudged: same picture, different bytes, so a new case.
fn image_variant(i: u32) -> Vec<u8> {
    let img = image::open(common::astronaut()).unwrap().to_rgb8();
    verity::server::loadbench::image_variant(&img, i as usize).unwrap()
}

/// A one-second 5 fps video of the face, brightness varied by `i` (different bytes per i).
fn video_variant(dir: &Path, i: u32, seconds: u32) -> Vec<u8> {
    let out = dir.join(format!("clip{i}.mp4"));
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(common::astronaut())
        .args([
            "-vf",
            &format!("scale=192:192,eq=brightness={:.3}", i as f64 * 0.004),
            "-t",
            &seconds.to_string(),
            "-r",
            "5",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(&out).unwrap()
}

fn metric(text: &str, series: &str) -> i64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).map(|v| v.trim()))
        .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
        .parse::<f64>()
        .unwrap() as i64
}

fn count(s: &Store, sql: &str) -> i64 {
    s.db().query_row(sql, params![], |r| r.get(0)).unwrap()
}

#[test]
fn sixty_jobs_over_three_workers_end_exactly_once_when_one_is_killed() {
    let Some(pg) = common::pg::Pg::start() else {
        return;
    };
    let mut team = Team::start(&pg, "scale", 3, 3);
    let media = tempfile::tempdir().unwrap();
    let mut jobs = vec![];
    for i in 0..60u32 {
        let id = if i % 4 == 3 {
            team.upload(&format!("clip{i}.mp4"), &video_variant(media.path(), i, 1))
        } else {
            team.upload(&format!("photo{i}.png"), &image_variant(i))
        };
        jobs.push(id);
    }
    // Kill a worker while it holds a job (its analysis under way).
    let s = team.db();
    let t0 = Instant::now();
    let (victim, victim_job) = loop {
        let held: Vec<(String, i64)> = s
            .db()
            .query_map(
                "SELECT lease_owner, id FROM jobs WHERE state = 'running' AND lease_owner IS NOT NULL ORDER BY id",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        if let Some((owner, id)) = held.into_iter().find(|(o, _)| o == "w1") {
            break (owner, id);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "w1 never took a job:\n{}",
            team.log_of("w1")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let w = team
        .workers
        .iter_mut()
        .find(|(id, _)| *id == victim)
        .unwrap();
    let pid = w.1.id();
    let st = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let _ = w.1.wait();

    team.wait_all_ended(60, Duration::from_secs(1500));

    // Every job ended done, exactly once.
    for id in &jobs {
        let j = team.job(*id).unwrap();
        assert_eq!(j["state"], "done", "{j}");
        assert_eq!(j["untrained"], true, "{j}");
    }
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM jobs WHERE state = 'done'"),
        60
    );
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM (SELECT job_id FROM analyses WHERE status IN ('done', 'not_scored') GROUP BY job_id HAVING COUNT(*) = 1) x"),
        60,
        "one finished analysis per job"
    );
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM scores sc JOIN analyses a ON a.id = sc.analysis_id
                   WHERE sc.level = 'media' AND a.status IN ('done', 'not_scored')"
        ),
        60,
        "one media score per job, none duplicated"
    );
    assert_eq!(count(&s, "SELECT COUNT(DISTINCT case_id) FROM jobs"), 60);
    // The killed worker's job was taken over.
    let vj = s.job(victim_job).unwrap().unwrap();
    assert!(vj.attempts >= 2, "{vj:?}");
    assert_ne!(vj.lease_owner.as_deref(), Some("w1"), "{vj:?}");
    // Nothing is left with the killed worker: whatever it held was taken over.
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM jobs WHERE lease_owner = 'w1' AND state <> 'done'"
        ),
        0
    );

    // /metrics agrees with the database.
    let m = team.metrics();
    assert_eq!(
        metric(&m, "verity_jobs_total{status=\"done\"}")
            + metric(&m, "verity_jobs_total{status=\"not_scored\"}"),
        60,
        "{m}"
    );
    assert_eq!(metric(&m, "verity_jobs_total{status=\"failed\"}"), 0);
    assert_eq!(metric(&m, "verity_queue_depth"), 0);
    assert_eq!(
        metric(&m, "verity_faces_scored_total"),
        count(&s, "SELECT COALESCE(SUM(faces_scored), 0) FROM jobs")
    );
    assert!(metric(&m, "verity_faces_scored_total") >= 60, "{m}");
    assert_eq!(metric(&m, "verity_job_duration_seconds_count"), 60, "{m}");
    drop(team);
    drop(pg);
}

#[test]
fn workers_and_serve_reconnect_when_postgres_restarts_mid_run() {
    let Some(pg) = common::pg::Pg::start() else {
        return;
    };
    let mut team = Team::start(&pg, "restart", 2, 3);
    let media = tempfile::tempdir().unwrap();
    let mut jobs = vec![];
    for i in 0..8u32 {
        jobs.push(team.upload(
            &format!("clip{i}.mp4"),
            &video_variant(media.path(), 100 + i, 3),
        ));
    }
    // Wait until a job runs, then restart the server under the workers' feet.
    let t0 = Instant::now();
    loop {
        let j = team.job(jobs[0]).unwrap();
        if j["state"] != "queued" {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "{j}");
        std::thread::sleep(Duration::from_millis(100));
    }
    pg.stop_server();
    // While it is down, serve answers with a problem, not a hang or a crash.
    let (status, body) = team.request("GET", &format!("/api/v1/jobs/{}", jobs[0]), None);
    assert!(status >= 500, "{status} {}", String::from_utf8_lossy(&body));
    std::thread::sleep(Duration::from_secs(2));
    pg.start_server();
    team.wait_all_ended(8, Duration::from_secs(900));
    for id in &jobs {
        let j = team
            .job(*id)
            .expect("serve answers again after the restart");
        assert_eq!(j["state"], "done", "{j}");
    }
    let s = team.db();
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM (SELECT job_id FROM analyses WHERE status IN ('done', 'not_scored') GROUP BY job_id HAVING COUNT(*) = 1) x"),
        8
    );
    // Reads of a case and its report work on the PostgreSQL store.
    let case_id = team.job(jobs[0]).unwrap()["case_id"].as_i64().unwrap();
    let (status, body) = team.request("GET", &format!("/api/v1/cases/{case_id}"), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let c: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(c["detail"]["case"]["id"].as_i64(), Some(case_id), "{c}");
    assert_eq!(c["untrained"], true, "{c}");
    let (status, body) = team.request(
        "GET",
        &format!("/api/v1/cases/{case_id}/report?format=json"),
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _) = team.request(
        "POST",
        &format!("/api/v1/cases/{case_id}/reviews"),
        Some((
            "application/json",
            br#"{"verdict":"fake","note":"from the team test"}"#.to_vec(),
        )),
    );
    assert_eq!(status, 201);
    let (status, body) = team.request("GET", "/api/v1/cases?limit=5", None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        team.serve.try_wait().unwrap().is_none(),
        "serve kept running"
    );
    for (id, w) in &mut team.workers {
        assert!(w.try_wait().unwrap().is_none(), "worker {id} kept running");
    }
}
