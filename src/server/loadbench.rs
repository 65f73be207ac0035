//! `verity bench serve`: a bounded load run of the HTTP API on loopback — a real `serve` (this
//! library's [`Server`]) with N queue workers, a real HTTP client (ureq), the tiny random-weight
//! profile. For each worker count: `jobs` uploads of distinct images are queued at once and the
//! wall time until the last one ended gives jobs/s; then `requests` reads of
//! `GET /api/v1/cases/{id}` from `concurrency` client threads give the latency percentiles.
//! The token's rate limit is lifted for the run (it would otherwise answer 429 by design).
use super::{auth::RateLimit, Options, Server};
use crate::bench::percentile;
use crate::config::Settings;
use crate::store::Store;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadBench {
    /// `postgres://…`, or None for SQLite in a fresh data folder per run.
    pub store: Option<String>,
    pub workers: Vec<usize>,
    pub jobs: usize,
    pub requests: usize,
    pub concurrency: usize,
    /// The image the uploads are variants of.
    pub image: PathBuf,
    /// Base settings (device, batch size); data and models folders are replaced.
    pub settings: Settings,
}

/// One worker count's figures.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRow {
    pub workers: usize,
    pub store: String,
    pub jobs: usize,
    pub jobs_failed: usize,
    pub jobs_wall_s: f64,
    pub jobs_per_s: f64,
    pub get_case_requests: usize,
    pub get_case_errors: usize,
    pub concurrency: usize,
    pub get_case_p50_ms: f64,
    pub get_case_p99_ms: f64,
    pub get_case_mean_ms: f64,
    pub get_case_per_s: f64,
}

/// PNG bytes of `img` with pixel (i, 0) nudged: the same picture, different bytes (a new case
/// each).
pub fn image_variant(img: &image::RgbImage, i: usize) -> Result<Vec<u8>> {
    let mut img = img.clone();
    let w = img.width() as usize;
    let p = img.get_pixel_mut((i % w) as u32, 0);
    p[0] = p[0].wrapping_add(1 + (i / w) as u8);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Other(format!("cannot encode a bench image: {e}")))?;
    Ok(out.into_inner())
}

fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "verity-bench-boundary-7f3a";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn get_json(url: &str, token: &str) -> std::result::Result<serde_json::Value, String> {
    let r = ureq::get(url)
        .timeout(Duration::from_secs(60))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .map_err(|e| e.to_string())?;
    serde_json::from_reader(r.into_reader()).map_err(|e| e.to_string())
}

/// Runs the bench in `root` (a scratch folder); `progress` gets one line per step.
pub fn run(cfg: &LoadBench, root: &Path, progress: &dyn Fn(&str)) -> Result<Vec<LoadRow>> {
    let img = image::open(&cfg.image)
        .map_err(|e| Error::input(&cfg.image, format!("cannot read the bench image: {e}")))?
        .to_rgb8();
    let models = root.join("models");
    crate::models::profile::create_random_profile(
        &models.join("profiles/tiny-untrained"),
        "tiny",
        7,
    )?;
    let mut rows = Vec::new();
    let mut seq = 0usize;
    for (run, &workers) in cfg.workers.iter().enumerate() {
        let mut settings = cfg.settings.clone();
        settings.data_dir = Some(root.join(format!("data-{run}")));
        settings.models_dir = Some(models.clone());
        settings.profile = Some("tiny-untrained".into());
        let data = settings.data_dir();
        let token = Store::open_with(cfg.store.as_deref(), &data)?
            .add_token("bench", "bench")?
            .1;
        let mut o = Options::new(settings);
        o.bind = "127.0.0.1:0".parse().expect("loopback address");
        o.store = cfg.store.clone();
        o.workers = workers;
        o.rate = RateLimit {
            per_second: 1e9,
            burst: 1e9,
        };
        let server = Server::start(o)?;
        let base = server.url();
        progress(&format!(
            "{workers} worker(s): queueing {} uploads…",
            cfg.jobs
        ));
        let t0 = Instant::now();
        let mut ids = Vec::new();
        for _ in 0..cfg.jobs {
            let (ct, body) = multipart(&format!("bench{seq}.png"), &image_variant(&img, seq)?);
            seq += 1;
            let r = ureq::post(&format!("{base}/api/v1/analyze"))
                .timeout(Duration::from_secs(60))
                .set("Authorization", &format!("Bearer {token}"))
                .set("Content-Type", &ct)
                .send_bytes(&body)
                .map_err(|e| Error::Other(format!("bench upload: {e}")))?;
            let v: serde_json::Value = serde_json::from_reader(r.into_reader())
                .map_err(|e| Error::Other(format!("bench upload: {e}")))?;
            ids.push(v["job"].as_u64().unwrap_or(0));
        }
        let mut cases = Vec::new();
        let mut failed = 0;
        for id in &ids {
            loop {
                let j = get_json(&format!("{base}/api/v1/jobs/{id}"), &token)
                    .map_err(|e| Error::Other(format!("bench poll: {e}")))?;
                match j["state"].as_str() {
                    Some("done") => {
                        cases.push(j["case_id"].as_i64().unwrap_or(0));
                        break;
                    }
                    Some("failed") | Some("cancelled") => {
                        failed += 1;
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        progress(&format!(
            "{workers} worker(s): {} jobs in {wall:.1} s ({:.2} jobs/s); now {} GETs of a case from {} threads…",
            cfg.jobs,
            cfg.jobs as f64 / wall,
            cfg.requests,
            cfg.concurrency
        ));
        if cases.is_empty() {
            return Err(Error::Other("no bench job finished".into()));
        }
        let per = cfg.requests.div_ceil(cfg.concurrency.max(1));
        let t1 = Instant::now();
        let handles: Vec<_> = (0..cfg.concurrency.max(1))
            .map(|k| {
                let (base, token, cases) = (base.clone(), token.clone(), cases.clone());
                std::thread::spawn(move || {
                    let mut lat = Vec::with_capacity(per);
                    let mut errors = 0;
                    for i in 0..per {
                        let case = cases[(k * per + i) % cases.len()];
                        let t = Instant::now();
                        match get_json(&format!("{base}/api/v1/cases/{case}"), &token) {
                            Ok(_) => lat.push(t.elapsed().as_secs_f64() * 1e3),
                            Err(_) => errors += 1,
                        }
                    }
                    (lat, errors)
                })
            })
            .collect();
        let mut lat = Vec::new();
        let mut errors = 0;
        for h in handles {
            let (l, e) = h
                .join()
                .map_err(|_| Error::Other("a bench client thread panicked".into()))?;
            lat.extend(l);
            errors += e;
        }
        let read_wall = t1.elapsed().as_secs_f64();
        lat.sort_by(|a, b| a.total_cmp(b));
        server.shutdown()?;
        let row = LoadRow {
            workers,
            store: match &cfg.store {
                Some(u) => format!("postgresql ({})", crate::logging::redact_url(u)),
                None => "sqlite".into(),
            },
            jobs: cfg.jobs,
            jobs_failed: failed,
            jobs_wall_s: wall,
            jobs_per_s: cfg.jobs as f64 / wall,
            get_case_requests: lat.len() + errors,
            get_case_errors: errors,
            concurrency: cfg.concurrency,
            get_case_p50_ms: percentile(&lat, 0.5),
            get_case_p99_ms: percentile(&lat, 0.99),
            get_case_mean_ms: lat.iter().sum::<f64>() / lat.len().max(1) as f64,
            get_case_per_s: lat.len() as f64 / read_wall,
        };
        progress(&format!(
            "{workers} worker(s): GET case p50 {:.2} ms, p99 {:.2} ms, {:.0} req/s, {} errors",
            row.get_case_p50_ms, row.get_case_p99_ms, row.get_case_per_s, errors
        ));
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        assert_eq!(percentile(&v, 0.5), 51.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
