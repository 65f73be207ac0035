//! Prometheus text exposition (format 0.0.4), hand-written: counters end in `_total`, durations
//! are seconds. Job, face and stage figures are read from the store's job queue at scrape time
//! (`Store::job_stats`), so every `serve` replica in a team reports the same numbers as the
//! database, whichever worker ran the job; HTTP counts are this process' own.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Upper bounds (seconds) of the duration histograms' buckets.
pub const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Stages of `pipeline::StageTimes` reported in `verity_stage_duration_seconds`.
pub const STAGES: &[&str] = &[
    "decode",
    "decode_wait",
    "detect",
    "align",
    "encode",
    "store",
];

#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Count per bucket of [`BUCKETS`] (not cumulative).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        if let Some(i) = BUCKETS.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0u64;
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// This process' HTTP counters.
#[derive(Default)]
pub struct Metrics {
    http: Mutex<BTreeMap<(String, u16), u64>>,
}

/// What one scrape reports besides the HTTP counters.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub jobs: crate::store::JobStats,
    /// Profile name and SHA-256 of its profile.toml.
    pub model: Option<(String, String)>,
    /// (GPU index, bytes in use) where a GPU is.
    pub gpu_memory: Vec<(u32, u64)>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Escapes a label value (backslash, quote, newline).
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn http(&self, route: &str, status: u16) {
        *lock(&self.http)
            .entry((route.to_string(), status))
            .or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, snap: &Snapshot) -> String {
        let mut o = String::new();
        o.push_str("# HELP verity_jobs_total Analysis jobs ended, by outcome (done, not_scored, failed, cancelled).\n# TYPE verity_jobs_total counter\n");
        for s in ["done", "not_scored", "failed", "cancelled"] {
            let _ = writeln!(
                o,
                "verity_jobs_total{{status=\"{s}\"}} {}",
                snap.jobs.ended.get(s).copied().unwrap_or(0)
            );
        }
        o.push_str("# HELP verity_queue_depth Jobs waiting for a worker (not counting running ones).\n# TYPE verity_queue_depth gauge\n");
        let _ = writeln!(o, "verity_queue_depth {}", snap.jobs.queued);
        o.push_str("# HELP verity_jobs_running Jobs a worker holds now.\n# TYPE verity_jobs_running gauge\n");
        let _ = writeln!(o, "verity_jobs_running {}", snap.jobs.running);
        o.push_str("# HELP verity_faces_scored_total Faces scored by the detector.\n# TYPE verity_faces_scored_total counter\n");
        let _ = writeln!(o, "verity_faces_scored_total {}", snap.jobs.faces_scored);
        let mut stages: BTreeMap<&str, Histogram> = BTreeMap::new();
        let mut job_duration = Histogram::default();
        for t in &snap.jobs.times {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(t) else {
                continue;
            };
            for s in STAGES {
                if let Some(x) = v.get(*s).and_then(|x| x.as_f64()) {
                    stages.entry(s).or_default().observe(x);
                }
            }
            if let Some(x) = v.get("total").and_then(|x| x.as_f64()) {
                job_duration.observe(x);
            }
        }
        o.push_str("# HELP verity_stage_duration_seconds Seconds per pipeline stage per analysis.\n# TYPE verity_stage_duration_seconds histogram\n");
        for s in STAGES {
            stages.get(s).cloned().unwrap_or_default().write(
                &mut o,
                "verity_stage_duration_seconds",
                &format!("stage=\"{s}\""),
            );
        }
        o.push_str("# HELP verity_job_duration_seconds Seconds per analysis, end to end.\n# TYPE verity_job_duration_seconds histogram\n");
        job_duration.write(&mut o, "verity_job_duration_seconds", "");
        o.push_str("# HELP verity_gpu_memory_used_bytes GPU memory in use (NVML), per GPU; absent without a GPU.\n# TYPE verity_gpu_memory_used_bytes gauge\n");
        for (i, b) in &snap.gpu_memory {
            let _ = writeln!(o, "verity_gpu_memory_used_bytes{{device=\"{i}\"}} {b}");
        }
        let model = snap.model.clone();
        o.push_str("# HELP verity_model_info The detector profile analyses use now (SHA-256 of its profile.toml).\n# TYPE verity_model_info gauge\n");
        if let Some((p, h)) = model {
            let _ = writeln!(
                o,
                "verity_model_info{{profile=\"{}\",sha256=\"{}\"}} 1",
                label(&p),
                label(&h)
            );
        }
        o.push_str("# HELP verity_http_requests_total HTTP requests answered, by route template and status.\n# TYPE verity_http_requests_total counter\n");
        for ((r, s), n) in lock(&self.http).iter() {
            let _ = writeln!(
                o,
                "verity_http_requests_total{{route=\"{}\",status=\"{s}\"}} {n}",
                label(r)
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        let mut h = Histogram::default();
        h.observe(0.003);
        h.observe(0.2);
        h.observe(1000.0);
        let mut o = String::new();
        h.write(&mut o, "x", "stage=\"a\"");
        assert!(o.contains("x_bucket{stage=\"a\",le=\"0.005\"} 1\n"), "{o}");
        assert!(o.contains("x_bucket{stage=\"a\",le=\"0.25\"} 2\n"), "{o}");
        assert!(o.contains("x_bucket{stage=\"a\",le=\"600\"} 2\n"), "{o}");
        assert!(o.contains("x_bucket{stage=\"a\",le=\"+Inf\"} 3\n"), "{o}");
        assert!(o.contains("x_count{stage=\"a\"} 3\n"), "{o}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let m = Metrics::default();
        m.http("/x", 200);
        let mut snap = Snapshot {
            model: Some(("p\"1".into(), "ab".into())),
            gpu_memory: vec![(0, 1024)],
            ..Default::default()
        };
        snap.jobs.ended.insert("done".into(), 1);
        snap.jobs.queued = 2;
        snap.jobs.times = vec![r#"{"decode":0.5,"detect":0.2,"total":3.0}"#.into()];
        let t = m.render(&snap);
        assert!(
            t.contains("verity_gpu_memory_used_bytes{device=\"0\"} 1024"),
            "{t}"
        );
        assert!(
            t.contains("verity_stage_duration_seconds_count{stage=\"decode\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("verity_job_duration_seconds_bucket{le=\"5\"} 1"),
            "{t}"
        );
        assert!(
            t.contains("verity_model_info{profile=\"p\\\"1\",sha256=\"ab\"} 1"),
            "{t}"
        );
        assert!(t.contains("verity_jobs_total{status=\"done\"} 1"), "{t}");
        assert!(t.contains("verity_queue_depth 2"), "{t}");
    }
}
