//! Prometheus text exposition (format 0.0.4), hand-written: counters end in `_total`, durations
//! are seconds. Fed by the worker's events (jobs, faces, stage times) and by the HTTP layer.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
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

#[derive(Default)]
pub struct Metrics {
    jobs: Mutex<BTreeMap<String, u64>>,
    faces_scored: AtomicU64,
    stages: Mutex<BTreeMap<&'static str, Histogram>>,
    job_duration: Mutex<Histogram>,
    http: Mutex<BTreeMap<(String, u16), u64>>,
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
    /// A job ended with `status` (done, not_scored, failed, cancelled).
    pub fn job_finished(&self, status: &str) {
        *lock(&self.jobs).entry(status.to_string()).or_default() += 1;
    }

    pub fn faces_scored(&self, n: u64) {
        self.faces_scored.fetch_add(n, Ordering::Relaxed);
    }

    pub fn analysis_times(&self, t: &crate::pipeline::StageTimes) {
        let mut st = lock(&self.stages);
        for (name, v) in [
            ("decode", t.decode),
            ("decode_wait", t.decode_wait),
            ("detect", t.detect),
            ("align", t.align),
            ("encode", t.encode),
            ("store", t.store),
        ] {
            st.entry(name).or_default().observe(v);
        }
        lock(&self.job_duration).observe(t.total);
    }

    pub fn http(&self, route: &str, status: u16) {
        *lock(&self.http)
            .entry((route.to_string(), status))
            .or_default() += 1;
    }

    /// The exposition text; `queue_depth` and `model` (profile name, SHA-256) are read by the
    /// caller at scrape time.
    pub fn render(&self, queue_depth: usize, model: Option<(String, String)>) -> String {
        let mut o = String::new();
        o.push_str("# HELP verity_jobs_total Analysis jobs ended, by outcome (done, not_scored, failed, cancelled).\n# TYPE verity_jobs_total counter\n");
        let jobs = lock(&self.jobs).clone();
        for s in ["done", "not_scored", "failed", "cancelled"] {
            let _ = writeln!(
                o,
                "verity_jobs_total{{status=\"{s}\"}} {}",
                jobs.get(s).copied().unwrap_or(0)
            );
        }
        o.push_str("# HELP verity_queue_depth Jobs waiting for the analysis thread (not counting the running one).\n# TYPE verity_queue_depth gauge\n");
        let _ = writeln!(o, "verity_queue_depth {queue_depth}");
        o.push_str("# HELP verity_faces_scored_total Faces scored by the detector.\n# TYPE verity_faces_scored_total counter\n");
        let _ = writeln!(
            o,
            "verity_faces_scored_total {}",
            self.faces_scored.load(Ordering::Relaxed)
        );
        o.push_str("# HELP verity_stage_duration_seconds Seconds per pipeline stage per analysis.\n# TYPE verity_stage_duration_seconds histogram\n");
        let stages = lock(&self.stages).clone();
        for s in STAGES {
            stages.get(s).cloned().unwrap_or_default().write(
                &mut o,
                "verity_stage_duration_seconds",
                &format!("stage=\"{s}\""),
            );
        }
        o.push_str("# HELP verity_job_duration_seconds Seconds per analysis, end to end.\n# TYPE verity_job_duration_seconds histogram\n");
        lock(&self.job_duration).write(&mut o, "verity_job_duration_seconds", "");
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
        m.job_finished("done");
        let t = m.render(2, Some(("p\"1".into(), "ab".into())));
        assert!(
            t.contains("verity_model_info{profile=\"p\\\"1\",sha256=\"ab\"} 1"),
            "{t}"
        );
        assert!(t.contains("verity_jobs_total{status=\"done\"} 1"), "{t}");
        assert!(t.contains("verity_queue_depth 2"), "{t}");
    }
}
