//! `verity serve` over real HTTP (ureq, and a raw socket for a lying Content-Length): the server
//! runs in-process on 127.0.0.1:0 with the UNTRAINED tiny profile (as tests/faults.rs), and
//! once as the real `verity` binary. Nothing is mocked: jobs go through the worker, reads
//! through the SQLite store.
mod common;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use verity::config::Settings;
use verity::server::auth::RateLimit;
use verity::server::{Options, Server};
use verity::store::Store;

fn settings(root: &Path) -> Settings {
    common::tiny_settings(root)
}

struct Api {
    server: Server,
    base: String,
    token: String,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

fn start_with(f: impl FnOnce(&mut Options, &Path)) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let data = s.data_dir();
    let token = Store::open(&data)
        .unwrap()
        .add_token("Ada", "test")
        .unwrap()
        .1;
    let mut o = Options::new(s);
    o.bind = "127.0.0.1:0".parse().unwrap();
    f(&mut o, dir.path());
    let server = Server::start(o).unwrap();
    Api {
        base: server.url(),
        server,
        token,
        data,
        _dir: dir,
    }
}

fn start() -> Api {
    start_with(|_, _| {})
}

#[derive(Debug)]
struct Resp {
    status: u16,
    content_type: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// Asserts an RFC 9457 problem with `status`; returns its `detail`.
    fn problem(&self, status: u16) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(
            self.content_type.starts_with("application/problem+json"),
            "{} has content type {:?}: {}",
            self.status,
            self.content_type,
            self.text()
        );
        let p = self.json();
        for k in ["type", "title", "status", "detail", "instance"] {
            assert!(p.get(k).is_some(), "problem without {k}: {p}");
        }
        assert_eq!(p["status"], status);
        p["detail"].as_str().unwrap().to_string()
    }
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &[u8])>,
    ) -> Resp {
        let mut r = ureq::request(method, &self.url(path)).timeout(Duration::from_secs(120));
        if let Some(t) = token {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        let res = match body {
            Some((ct, b)) => r.set("Content-Type", ct).send_bytes(b),
            None => r.call(),
        };
        let resp = match res {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let headers = resp
            .headers_names()
            .into_iter()
            .map(|n| {
                let v = resp.header(&n).unwrap_or("").to_string();
                (n, v)
            })
            .collect();
        let status = resp.status();
        let content_type = resp.header("content-type").unwrap_or("").to_string();
        let mut body = vec![];
        resp.into_reader().read_to_end(&mut body).unwrap();
        Resp {
            status,
            content_type,
            headers,
            body,
        }
    }

    fn get(&self, path: &str) -> Resp {
        self.call("GET", path, Some(&self.token), None)
    }

    fn json(&self, method: &str, path: &str, v: &Value) -> Resp {
        let b = serde_json::to_vec(v).unwrap();
        self.call(
            method,
            path,
            Some(&self.token),
            Some(("application/json", &b)),
        )
    }

    fn upload(&self, name: &str, bytes: &[u8]) -> Resp {
        let (ct, body) = multipart(name, bytes);
        self.call(
            "POST",
            "/api/v1/analyze",
            Some(&self.token),
            Some((&ct, &body)),
        )
    }

    /// Polls the job until it has ended.
    fn wait_job(&self, id: u64) -> Value {
        let t0 = Instant::now();
        loop {
            let r = self.get(&format!("/api/v1/jobs/{id}"));
            assert_eq!(r.status, 200, "{}", r.text());
            let j = r.json();
            if ["done", "failed", "cancelled"].contains(&j["state"].as_str().unwrap()) {
                return j;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(600),
                "job {id} did not end: {j}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "verity-test-boundary-7f3a";
    let mut b = Vec::new();
    b.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n")
            .as_bytes(),
    );
    b.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    b.extend_from_slice(bytes);
    b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

/// `name value` of the first sample line starting with `series` (labels included).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn uploads_left(data: &Path) -> usize {
    std::fs::read_dir(data.join("uploads"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_photo_uploaded_is_analysed_end_to_end_and_every_case_endpoint_answers() {
    let api = start();
    let photo = std::fs::read(common::astronaut()).unwrap();
    let r = api.upload("astronaut.png", &photo);
    assert_eq!(r.status, 202, "{}", r.text());
    let acc = r.json();
    let id = acc["job"].as_u64().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/jobs/{id}").as_str())
    );
    let job = api.wait_job(id);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["result"], "done", "{job}");
    assert_eq!(job["untrained"], true, "{job}");
    assert_eq!(job["label"], "astronaut.png");
    assert_eq!(job["submitted_by"], "api:Ada");
    assert!(
        job["progress"]["faces_scored"].as_u64().unwrap() >= 1,
        "{job}"
    );
    let case_id = job["case_id"].as_i64().unwrap();
    // The upload's temporary copy is gone once the media is in the blob store.
    assert_eq!(uploads_left(&api.data), 0);

    // The case: verdict marked untrained, per-face and per-frame scores, provenance.
    let c = api.get(&format!("/api/v1/cases/{case_id}"));
    assert_eq!(c.status, 200, "{}", c.text());
    let c = c.json();
    assert_eq!(c["untrained"], true);
    assert!(
        c["verdict"].as_str().unwrap().contains("UNTRAINED"),
        "{}",
        c["verdict"]
    );
    let levels: Vec<&str> = c["detail"]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["level"].as_str().unwrap())
        .collect();
    assert!(
        levels.contains(&"face") && levels.contains(&"frame"),
        "{levels:?}"
    );
    assert!(c["provenance"].is_object(), "{}", c["provenance"]);
    assert_eq!(c["detail"]["media"]["original_name"], "astronaut.png");

    // Every audit row the job wrote names the token's analyst.
    let store = Store::open(&api.data).unwrap();
    let audit = store.audit_log(Some(case_id)).unwrap();
    let import = audit
        .iter()
        .find(|a| a.action == "import")
        .expect("import audited");
    assert_eq!(import.actor, "api:Ada");

    // List.
    let l = api.get("/api/v1/cases").json();
    assert_eq!(l["cases"][0]["id"], case_id);
    let none = api.get("/api/v1/cases?band=failed").json();
    assert_eq!(none["cases"].as_array().unwrap().len(), 0, "{none}");

    // Review: recorded for, and audited as, the token's analyst.
    let r = api.json(
        "POST",
        &format!("/api/v1/cases/{case_id}/reviews"),
        &serde_json::json!({"verdict": "real", "note": "checked the source"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["analyst"], "api:Ada");
    let audit = store.audit_log(Some(case_id)).unwrap();
    let rev = audit.iter().rev().find(|a| a.action == "review").unwrap();
    assert_eq!(rev.actor, "api:Ada");
    let bad = api.json(
        "POST",
        &format!("/api/v1/cases/{case_id}/reviews"),
        &serde_json::json!({"verdict": "maybe"}),
    );
    assert!(bad.problem(400).contains("fake, real or unsure"));

    // Reports.
    let html = api.get(&format!("/api/v1/cases/{case_id}/report?format=html"));
    assert_eq!(html.status, 200);
    assert!(html.content_type.starts_with("text/html"));
    assert!(html.text().contains("UNTRAINED"));
    let json = api.get(&format!("/api/v1/cases/{case_id}/report?format=json"));
    assert_eq!(json.status, 200);
    assert_eq!(json.json()["case"]["id"], case_id);
    let pdf = api.get(&format!("/api/v1/cases/{case_id}/report?format=pdf"));
    if verity::pdf::browser_on_path().is_none() {
        assert!(pdf.problem(503).contains("Chromium"));
    } else {
        assert_eq!(pdf.status, 200);
        assert!(pdf.body.starts_with(b"%PDF"));
    }
    api.get(&format!("/api/v1/cases/{case_id}/report?format=xml"))
        .problem(400);

    // Explain (Grad-CAM etc. with the tiny profile).
    let e = api.call(
        "POST",
        &format!("/api/v1/cases/{case_id}/explain"),
        Some(&api.token),
        None,
    );
    assert_eq!(e.status, 200, "{}", e.text());
    let e = e.json();
    assert_eq!(e["summary"]["case_id"], case_id);
    assert!(!e["explanations"].as_array().unwrap().is_empty(), "{e}");

    // /metrics agrees with the store.
    let m = api.call("GET", "/metrics", None, None);
    assert_eq!(m.status, 200);
    assert!(m.content_type.starts_with("text/plain; version=0.0.4"));
    let m = m.text();
    let count = |sql: &str| -> f64 {
        store
            .conn()
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .unwrap() as f64
    };
    assert_eq!(
        metric(&m, "verity_jobs_total{status=\"done\"}"),
        count("SELECT COUNT(*) FROM analyses WHERE status = 'done'")
    );
    assert_eq!(
        metric(&m, "verity_jobs_total{status=\"not_scored\"}"),
        count("SELECT COUNT(*) FROM analyses WHERE status = 'not_scored'")
    );
    assert_eq!(
        metric(&m, "verity_faces_scored_total"),
        count("SELECT COUNT(*) FROM scores WHERE level = 'face'")
    );
    assert_eq!(metric(&m, "verity_queue_depth"), 0.0);
    assert_eq!(metric(&m, "verity_job_duration_seconds_count"), 1.0);
    assert_eq!(
        metric(&m, "verity_stage_duration_seconds_count{stage=\"detect\"}"),
        1.0
    );
    assert!(
        m.contains("verity_model_info{profile=\"tiny-untrained\",sha256=\""),
        "{m}"
    );
    assert!(
        metric(
            &m,
            "verity_http_requests_total{route=\"/api/v1/cases/{id}\",status=\"200\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            &m,
            "verity_http_requests_total{route=\"/api/v1/jobs/{id}\",status=\"200\"}"
        ) >= 1.0
    );
    api.server.shutdown().unwrap();
}

#[test]
fn tokens_missing_wrong_or_revoked_are_401_problems() {
    let api = start();
    let d = api.call("GET", "/api/v1/cases", None, None);
    assert!(d.problem(401).contains("verity token add"));
    assert!(d.header("www-authenticate").unwrap().starts_with("Bearer"));
    api.call("GET", "/api/v1/cases", Some("vt_0000"), None)
        .problem(401);
    api.call("GET", "/api/v1/models", Some(""), None)
        .problem(401);
    // A second token works until it is revoked.
    let store = Store::open(&api.data).unwrap();
    let (id, bob) = store.add_token("Bob", "test").unwrap();
    assert_eq!(
        api.call("GET", "/api/v1/cases", Some(&bob), None).status,
        200
    );
    assert!(store.revoke_token(id, "test").unwrap());
    assert!(!store.revoke_token(id, "test").unwrap(), "already revoked");
    let r = api.call("GET", "/api/v1/cases", Some(&bob), None);
    assert!(r.problem(401).contains("revoked"));
    // Only the hash is stored; listing shows the revocation.
    let rows = store.tokens().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[1].revoked_at.is_some() && rows[0].revoked_at.is_none());
    let raw: String = store
        .conn()
        .query_row("SELECT sha256 FROM api_tokens WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_ne!(raw, bob);
    assert_eq!(raw, verity::store::token_hash(&bob));
    // Token changes are audited.
    let actions: Vec<String> = store
        .audit_log(None)
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(
        actions.contains(&"api_token_added".into())
            && actions.contains(&"api_token_revoked".into())
    );
    // Open endpoints need no token.
    assert_eq!(
        api.call("GET", "/healthz", None, None).json()["status"],
        "ok"
    );
    assert_eq!(
        api.call("GET", "/readyz", None, None).json()["status"],
        "ready"
    );
    assert_eq!(api.call("GET", "/metrics", None, None).status, 200);
    // A settings change through the API is audited as the token's analyst.
    let p = api.json(
        "PUT",
        "/api/v1/settings/profile",
        &serde_json::json!({"profile": "tiny-untrained"}),
    );
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.json()["trained"], false);
    let last = store.audit_log(None).unwrap().pop().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.action.as_str()),
        ("api:Ada", "settings_changed")
    );
}

#[test]
fn bad_requests_are_problems_naming_what_is_wrong() {
    let api = start_with(|o, _| o.settings.max_media_mib = 1);
    // Unknown route, unknown case, unknown job, wrong method.
    assert!(api
        .get("/api/v1/nothing")
        .problem(404)
        .contains("no such endpoint"));
    api.call("GET", "/nothing", None, None).problem(404);
    assert!(api
        .get("/api/v1/cases/999")
        .problem(404)
        .contains("case 999"));
    api.get("/api/v1/cases/999/report").problem(404);
    api.call("POST", "/api/v1/cases/999/explain", Some(&api.token), None)
        .problem(404);
    api.json(
        "POST",
        "/api/v1/cases/999/reviews",
        &serde_json::json!({"verdict": "fake"}),
    )
    .problem(404);
    assert!(api
        .get("/api/v1/jobs/12345")
        .problem(404)
        .contains("job 12345"));
    api.get("/api/v1/cases/abc").problem(400);
    api.call("DELETE", "/api/v1/cases", Some(&api.token), None)
        .problem(405);
    // Malformed JSON and wrong content types (axum's rejections, as problems).
    let m = api.call(
        "PUT",
        "/api/v1/settings/profile",
        Some(&api.token),
        Some(("application/json", b"{\"profile\": ")),
    );
    m.problem(400);
    let m = api.call(
        "POST",
        "/api/v1/cases/1/reviews",
        Some(&api.token),
        Some(("text/plain", b"fake")),
    );
    m.problem(415);
    let m = api.call(
        "POST",
        "/api/v1/analyze",
        Some(&api.token),
        Some(("text/plain", b"x")),
    );
    assert!(m.problem(415).contains("multipart/form-data"));
    let m = api.call(
        "POST",
        "/api/v1/analyze",
        Some(&api.token),
        Some(("application/json", b"{\"path\": ")),
    );
    m.problem(400);
    api.json(
        "PUT",
        "/api/v1/settings/profile",
        &serde_json::json!({"profile": "../x"}),
    )
    .problem(400);
    assert!(api
        .json(
            "PUT",
            "/api/v1/settings/profile",
            &serde_json::json!({"profile": "nope"})
        )
        .problem(404)
        .contains("nope"));
    // Server-side paths are off without --allow-path.
    let p = api.json(
        "POST",
        "/api/v1/analyze",
        &serde_json::json!({"path": "/etc/passwd"}),
    );
    assert!(p.problem(403).contains("--allow-path"));
    // Empty upload: 400 naming it; no file part: 400.
    assert!(api
        .upload("empty.jpg", b"")
        .problem(400)
        .contains("empty.jpg"));
    let (ct, _) = multipart("x", b"");
    let only_field = "--verity-test-boundary-7f3a\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--verity-test-boundary-7f3a--\r\n".to_string();
    api.call(
        "POST",
        "/api/v1/analyze",
        Some(&api.token),
        Some((&ct, only_field.as_bytes())),
    )
    .problem(400);
    // Over max_media_mib (1 MiB here) while streaming: 413 naming the upload.
    let big = vec![7u8; 1_500_000];
    assert!(api.upload("big.mp4", &big).problem(413).contains("big.mp4"));
    assert_eq!(
        uploads_left(&api.data),
        0,
        "refused uploads leave nothing behind"
    );
    // A declared 10 GB body is refused before anything is read.
    let mut s = std::net::TcpStream::connect(api.server.addr()).unwrap();
    write!(
        s,
        "POST /api/v1/analyze HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 10737418240\r\n\r\n--b\r\n",
        api.token
    )
    .unwrap();
    let mut head = [0u8; 512];
    let n = s.read(&mut head).unwrap();
    let head = String::from_utf8_lossy(&head[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("application/problem+json"),
        "{head}"
    );
}

#[test]
fn jobs_are_cancelled_and_a_rerun_of_a_vanished_case_fails_saying_so() {
    // No worker in the server: jobs stay queued until the test runs one itself.
    let api = start_with(|o, _| o.workers = 0);
    let photo = std::fs::read(common::astronaut()).unwrap();
    let queued = api.upload("astronaut.png", &photo).json()["job"]
        .as_u64()
        .unwrap();
    let r = api.call(
        "POST",
        &format!("/api/v1/jobs/{queued}/cancel"),
        Some(&api.token),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["state"], "cancelled");
    assert!(api
        .call(
            "POST",
            &format!("/api/v1/jobs/{queued}/cancel"),
            Some(&api.token),
            None
        )
        .problem(409)
        .contains("already ended"));
    api.call("POST", "/api/v1/jobs/4242/cancel", Some(&api.token), None)
        .problem(404);
    api.call("POST", &format!("/api/v1/jobs/{queued}/cancel"), None, None)
        .problem(401);
    assert_eq!(
        uploads_left(&api.data),
        0,
        "a cancelled job's upload is removed"
    );

    // Two stored cases queued for a re-run; one of them disappears before a worker takes it.
    let mut store = Store::open(&api.data).unwrap();
    let mut cases = vec![];
    for i in 0..2u8 {
        let f = api.data.parent().unwrap().join(format!("p{i}.png"));
        let mut bytes = photo.clone();
        bytes.push(i); // trailing bytes after IEND: same picture, another file
        std::fs::write(&f, &bytes).unwrap();
        let m = common::image_media(&f, 512);
        cases.push(store.import(&m, "test").unwrap().case_id);
    }
    let jobs: Vec<u64> = cases
        .iter()
        .map(|c| {
            let r = api.call(
                "POST",
                &format!("/api/v1/cases/{c}/analyze"),
                Some(&api.token),
                None,
            );
            assert_eq!(r.status, 202, "{}", r.text());
            r.json()["job"].as_u64().unwrap()
        })
        .collect();
    api.call("POST", "/api/v1/cases/999/analyze", Some(&api.token), None)
        .problem(404);
    store
        .conn()
        .execute_batch(&format!("DELETE FROM cases WHERE id = {}", cases[1]))
        .unwrap();
    let mut w = verity::team::WorkerOptions::new(settings(api.data.parent().unwrap()), None);
    w.exit_when_idle = true;
    let ended = verity::team::run(w, std::sync::Arc::new(Default::default())).unwrap();
    assert_eq!(ended, 2, "the cancelled job is not run");
    let done = api.wait_job(jobs[0]);
    assert_eq!(
        (done["state"].as_str(), done["result"].as_str()),
        (Some("done"), Some("done")),
        "{done}"
    );
    assert_eq!(done["submitted_by"], "api:Ada");
    let gone = api.wait_job(jobs[1]);
    assert_eq!(gone["state"], "failed", "{gone}");
    assert!(
        gone["message"]
            .as_str()
            .unwrap()
            .contains(&format!("case {} does not exist", cases[1])),
        "{gone}"
    );
    assert_eq!(api.wait_job(queued)["state"], "cancelled");
    let m = api.get("/metrics").text();
    assert_eq!(metric(&m, "verity_jobs_total{status=\"done\"}"), 1.0, "{m}");
    assert_eq!(
        metric(&m, "verity_jobs_total{status=\"failed\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "verity_jobs_total{status=\"cancelled\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(metric(&m, "verity_queue_depth"), 0.0, "{m}");
}

#[test]
fn without_weights_a_job_is_not_scored_and_a_bad_upload_names_the_file_sent() {
    // No detector profile installed: faces are found, nothing is scored.
    let api = start_with(|o, root| {
        o.settings.models_dir = Some(root.join("no-models"));
        o.settings.profile = None;
    });
    let photo = std::fs::read(common::astronaut()).unwrap();
    let id = api.upload("astronaut.png", &photo).json()["job"]
        .as_u64()
        .unwrap();
    let j = api.wait_job(id);
    assert_eq!(
        (j["state"].as_str(), j["result"].as_str()),
        (Some("done"), Some("not_scored")),
        "{j}"
    );
    assert_eq!(j["verdict"], "not scored", "{j}");
    assert!(j["progress"]["faces_found"].as_u64().unwrap() >= 1, "{j}");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("verity models fetch"),
        "{j}"
    );
    let bad = api.upload("holiday.mp4", b"not a video at all").json()["job"]
        .as_u64()
        .unwrap();
    let b = api.wait_job(bad);
    assert_eq!(
        (b["state"].as_str(), b["error_code"].as_str()),
        (Some("failed"), Some("input")),
        "{b}"
    );
    let msg = b["message"].as_str().unwrap();
    assert!(msg.starts_with("holiday.mp4:"), "{msg}");
    assert!(
        !msg.contains("uploads"),
        "the server's upload folder leaked: {msg}"
    );
    let m = api.get("/metrics").text();
    assert_eq!(metric(&m, "verity_faces_scored_total"), 0.0, "{m}");
    assert_eq!(
        metric(&m, "verity_jobs_total{status=\"not_scored\"}"),
        1.0,
        "{m}"
    );
}

#[test]
fn server_side_paths_stay_inside_allow_path() {
    let api = start_with(|o, root| {
        let allowed = root.join("allowed");
        std::fs::create_dir_all(&allowed).unwrap();
        std::fs::copy(common::astronaut(), allowed.join("a.png")).unwrap();
        std::fs::write(root.join("secret.png"), b"not for you").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("secret.png"), allowed.join("link.png")).unwrap();
        o.allow_path = Some(allowed);
    });
    let root = api._dir.path();
    for p in [
        "../secret.png".to_string(),
        "nothere/../../secret.png".into(),
        root.join("secret.png").display().to_string(),
        "/etc/passwd".into(),
        "../../../../../../etc/passwd".into(),
        #[cfg(unix)]
        "link.png".into(),
    ] {
        let r = api.json("POST", "/api/v1/analyze", &serde_json::json!({ "path": p }));
        assert!(r.problem(403).contains("not inside"), "{p}: {}", r.text());
    }
    api.json(
        "POST",
        "/api/v1/analyze",
        &serde_json::json!({"path": "missing.png"}),
    )
    .problem(404);
    let ok = api.json(
        "POST",
        "/api/v1/analyze",
        &serde_json::json!({"path": "a.png"}),
    );
    assert_eq!(ok.status, 202, "{}", ok.text());
    let job = api
        .get(&format!("/api/v1/jobs/{}", ok.json()["job"]))
        .json();
    assert_eq!(job["label"], "a.png");
    assert_eq!(job["submitted_by"], "api:Ada");
}

#[test]
fn each_token_is_rate_limited_with_retry_after() {
    let api = start_with(|o, _| {
        o.rate = RateLimit {
            per_second: 0.2,
            burst: 3.0,
        }
    });
    for _ in 0..3 {
        assert_eq!(api.get("/api/v1/cases").status, 200);
    }
    let r = api.get("/api/v1/cases");
    assert!(r.problem(429).contains("requests per second"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&wait), "{wait}");
    // Another token has its own bucket.
    let (_, other) = Store::open(&api.data)
        .unwrap()
        .add_token("Bob", "t")
        .unwrap();
    assert_eq!(
        api.call("GET", "/api/v1/cases", Some(&other), None).status,
        200
    );
    let m = api.call("GET", "/metrics", None, None).text();
    assert_eq!(
        metric(
            &m,
            "verity_http_requests_total{route=\"/api/v1/cases\",status=\"429\"}"
        ),
        1.0
    );
}

/// Every route the server answers, as the OpenAPI document must list it.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/analyze"),
    ("get", "/api/v1/jobs/{id}"),
    ("post", "/api/v1/jobs/{id}/cancel"),
    ("get", "/api/v1/cases"),
    ("get", "/api/v1/cases/{id}"),
    ("post", "/api/v1/cases/{id}/analyze"),
    ("post", "/api/v1/cases/{id}/explain"),
    ("get", "/api/v1/cases/{id}/report"),
    ("post", "/api/v1/cases/{id}/reviews"),
    ("get", "/api/v1/models"),
    ("put", "/api/v1/settings/profile"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

#[test]
fn openapi_document_lists_every_route_and_matches_the_committed_one() {
    let api = start_with(|o, _| {
        // A previous run's half-finished upload (no job names it, over an hour old) is
        // cleared at start; a young one may be another replica's upload in progress.
        let stale = o.settings.data_dir().join("uploads/0123/clip.mp4");
        std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
        std::fs::write(&stale, b"partial").unwrap();
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        std::fs::File::open(stale.parent().unwrap())
            .unwrap()
            .set_modified(old)
            .unwrap();
        let young = o.settings.data_dir().join("uploads/4567/clip.mp4");
        std::fs::create_dir_all(young.parent().unwrap()).unwrap();
        std::fs::write(&young, b"arriving").unwrap();
    });
    assert_eq!(uploads_left(&api.data), 1, "only the young upload is left");
    let r = api.call("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} missing"
        );
    }
    assert_eq!(
        paths.len(),
        ROUTES.len(),
        "{:?}",
        paths.keys().collect::<Vec<_>>()
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let committed =
        std::fs::read_to_string(common::repo_root().join("docs/api/openapi.json")).unwrap();
    assert_eq!(r.text(), committed, "docs/api/openapi.json is stale");
    // Models listing shows the tiny profile as untrained and active.
    let m = api.get("/api/v1/models").json();
    assert!(
        m["active_profile"]
            .as_str()
            .unwrap()
            .ends_with("tiny-untrained"),
        "{m}"
    );
    assert_eq!(m["profiles"][0]["trained"], false, "{m}");
}

#[test]
fn the_verity_binary_serves_refuses_plain_lan_and_manages_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cmd = |args: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_verity"));
        c.args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("VERITY_CONFIG", dir.path().join("settings.toml"))
            .env("VERITY_MODELS_DIR", dir.path().join("models"));
        c
    };
    let out = cmd(&["token", "add", "Grace"]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(secret.starts_with("vt_") && secret.len() == 67, "{secret}");
    let list = String::from_utf8(cmd(&["token", "list"]).output().unwrap().stdout).unwrap();
    assert!(
        list.contains("Grace") && list.contains("active") && !list.contains(&secret),
        "{list}"
    );

    let lan = cmd(&["serve", "--bind", "0.0.0.0:0"]).output().unwrap();
    assert!(!lan.status.success());
    assert!(
        String::from_utf8_lossy(&lan.stderr).contains("--insecure-lan"),
        "{lan:?}"
    );

    let mut child = cmd(&["serve", "--bind", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0 {
        if let Some(rest) = line.split("listening on ").nth(1) {
            url = Some(rest.split_whitespace().next().unwrap().to_string());
            break;
        }
        line.clear();
    }
    let url = url.unwrap_or_else(|| panic!("no address printed: {line}"));
    let get = |path: &str, t: Option<&str>| {
        let mut r = ureq::get(&format!("{url}{path}"));
        if let Some(t) = t {
            r = r.set("Authorization", &format!("Bearer {t}"));
        }
        match r.call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(s, _)) => s,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(get("/healthz", None), 200);
    assert_eq!(get("/api/v1/cases", Some(&secret)), 200);
    let rv = cmd(&["token", "revoke", "1"]).output().unwrap();
    assert!(rv.status.success(), "{rv:?}");
    assert_eq!(get("/api/v1/cases", Some(&secret)), 401);
    // Ctrl-C (SIGINT) stops it cleanly: exit status 0.
    let int = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(int.success());
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("verity serve did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_lan_address_needs_tls_and_serves_https_with_it() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let lan = |o: &mut Options| o.bind = "0.0.0.0:0".parse().unwrap();
    let mut o = Options::new(settings(dir.path()));
    lan(&mut o);
    let e = Server::start(o.clone())
        .err()
        .expect("plain HTTP on 0.0.0.0 is refused")
        .to_string();
    assert!(
        e.contains("--tls-cert") && e.contains("--insecure-lan"),
        "{e}"
    );

    // A self-signed certificate for 127.0.0.1 (rcgen), trusted by the test's client only.
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    o.tls = Some(verity::server::Tls {
        cert: cert_path,
        key: key_path,
    });
    let server = Server::start(o).unwrap();
    assert!(server.url().starts_with("https://"));
    let port = server.addr().port();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let agent = ureq::AgentBuilder::new().tls_config(Arc::new(tls)).build();
    let r = agent
        .get(&format!("https://127.0.0.1:{port}/healthz"))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP to the TLS port gets no API answer.
    let plain = ureq::get(&format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(5))
        .call();
    assert!(!matches!(plain, Ok(ref r) if r.status() == 200));
    server.shutdown().unwrap();

    // --insecure-lan: plain HTTP on purpose.
    let mut o = Options::new(settings(dir.path()));
    lan(&mut o);
    o.insecure_lan = true;
    let server = Server::start(o).unwrap();
    let r = ureq::get(&format!(
        "http://127.0.0.1:{}/healthz",
        server.addr().port()
    ))
    .call()
    .unwrap();
    assert_eq!(r.status(), 200);
}
