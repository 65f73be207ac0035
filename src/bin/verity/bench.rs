//! `verity bench models` (each network here vs the PyTorch peer) and `verity bench pipeline`
//! (stage timings on a random-weight profile).
use crate::choices;
use crate::common::{repo_file, write_json};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use verity::config::Settings;
use verity::pipeline::Analyzer;
use verity::store::Store;

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Faces/s of MTCNN, CLIP ViT-L/14, Xception, EfficientNet-B4 here and in PyTorch eager
    Models {
        /// Compute device
        #[arg(long, value_enum, default_value_t = choices::Device::Auto)]
        device: choices::Device,
        /// Comma-separated precisions (default: fp32, and fp16,bf16 too on CUDA; half
        /// precision on CUDA only)
        #[arg(long, value_enum, value_delimiter = ',')]
        dtypes: Option<Vec<choices::Dtype>>,
        /// Comma-separated batch sizes
        #[arg(long, value_delimiter = ',', default_value = "1,10")]
        batches: Vec<i64>,
        /// Timed iterations per network, precision and batch size
        #[arg(long, default_value_t = 3)]
        iters: usize,
        /// Skip the PyTorch peer
        #[arg(long)]
        no_peer: bool,
        /// Image for MTCNN (default: the bundled astronaut photo)
        #[arg(long, value_name = "FILE")]
        image: Option<PathBuf>,
        /// Also write the results as JSON to this file
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Stage timings (decode, detect, align, encode, store) for a single image and a 10-frame video
    Pipeline {
        /// Random-weight profile preset to time
        #[arg(long, default_value = "vit-l14-effb4", value_parser = choices::preset())]
        preset: String,
        /// Compute device
        #[arg(long, value_enum, default_value_t = choices::Device::Auto)]
        device: choices::Device,
        /// Also write the results as JSON to this file
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// "Seen before" face search: query time brute force vs HNSW, HNSW recall@10, on synthetic
    /// normalised vectors
    Similar {
        /// Comma-separated stored-vector counts
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        sizes: Vec<usize>,
        /// Vector width (1024 = a ViT-L/14 CLS embedding)
        #[arg(long, default_value_t = 1024)]
        dim: usize,
        /// Timed queries per size
        #[arg(long, default_value_t = 100)]
        queries: usize,
        /// Build the HNSW graph only up to this many vectors
        #[arg(long, default_value_t = 100_000)]
        hnsw_max: usize,
        /// Also write the results as JSON to this file (e.g. docs/bench/similar.json)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Load run of `verity serve` on loopback (tiny random-weight profile): jobs/s with N queue
    /// workers, and p50/p99 latency of GET /api/v1/cases/{id}
    Serve {
        /// postgres://… store (default: SQLite in a scratch folder)
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// Comma-separated queue worker counts
        #[arg(long, value_delimiter = ',', default_value = "1,3")]
        workers: Vec<usize>,
        /// Uploads queued per worker count
        #[arg(long, default_value_t = 30)]
        jobs: usize,
        /// GET /api/v1/cases/{id} requests per worker count
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Client threads issuing the GETs
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Also write the results as JSON to this file (e.g. docs/bench/serve.json)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn bench(what: &BenchCmd, settings: &Settings) -> Result<ExitCode> {
    match what {
        BenchCmd::Models {
            device,
            dtypes,
            batches,
            iters,
            no_peer,
            image,
            out,
        } => {
            let dev = verity::device::select((*device).into())?;
            let kinds: Vec<tch::Kind> = match dtypes {
                Some(d) => d.iter().map(|&d| d.into()).collect(),
                None if dev.is_cuda() => {
                    vec![tch::Kind::Float, tch::Kind::Half, tch::Kind::BFloat16]
                }
                // bf16 on CPUs with native bf16 (avx512_bf16 / AMX), next to fp32.
                None if verity::device::cpu_bf16().is_some() => {
                    vec![tch::Kind::Float, tch::Kind::BFloat16]
                }
                None => vec![tch::Kind::Float],
            };
            let cfg = verity::bench::ModelBench {
                device: dev,
                kinds,
                batches: batches.clone(),
                iters: *iters,
            };
            let img = image
                .clone()
                .unwrap_or_else(|| repo_file("tests/data/astronaut.png"));
            eprintln!("Verity Desk (tch) on {}:", verity::device::describe().name);
            let ours = verity::bench::bench_models(&cfg, &img, &|r| {
                eprintln!(
                    "  {:<14} {:<9} bs{:<3} {:>9.1} ms  {:>8.2} faces/s",
                    r.name, r.dtype, r.batch, r.ms_per_batch, r.faces_per_s
                )
            })?;
            let peer = if *no_peer {
                vec![]
            } else {
                eprintln!("PyTorch eager peer (same shapes, same image)…");
                let py = std::env::var_os("VERITY_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo_file(".venv/bin/python"));
                verity::bench::run_peer(&py, &repo_file("bench/peer_bench.py"), &cfg, &img)?
            };
            let rows = verity::bench::compare(&ours, &peer);
            println!(
                "{:<14} {:<9} {:>5} {:>12} {:>12} {:>10} {:>9}",
                "network", "dtype", "batch", "ours ms", "peer ms", "faces/s", "speedup"
            );
            for r in &rows {
                println!(
                    "{:<14} {:<9} {:>5} {:>12.1} {:>12} {:>10.2} {:>9}",
                    r.ours.name,
                    r.ours.dtype,
                    r.ours.batch,
                    r.ours.ms_per_batch,
                    r.peer_ms_per_batch
                        .map(|v| format!("{v:.1}"))
                        .unwrap_or_else(|| "-".into()),
                    r.ours.faces_per_s,
                    r.speedup_vs_peer
                        .map(|v| format!("{v:.2}×"))
                        .unwrap_or_else(|| "-".into())
                );
            }
            let deltas = verity::bench::precision_deltas(&cfg, 32)?;
            for d in &deltas {
                println!(
                    "{:<14} {:<9} |Δp| vs fp32 over {} inputs: p99 {:.2e}, max {:.2e}",
                    d.name, d.dtype, d.inputs, d.p99_abs_dp, d.max_abs_dp
                );
            }
            write_json(
                out,
                &serde_json::json!({
                    "device": verity::device::describe(),
                    "cpu_bf16": verity::device::cpu_bf16(),
                    "rows": rows,
                    "precision": deltas,
                }),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Pipeline {
            preset,
            device,
            out,
        } => pipeline(preset, *device, out, settings),
        BenchCmd::Similar {
            sizes,
            dim,
            queries,
            hnsw_max,
            out,
        } => similar(sizes, *dim, *queries, *hnsw_max, out),
        BenchCmd::Serve {
            store,
            workers,
            jobs,
            requests,
            concurrency,
            out,
        } => serve(
            store,
            workers,
            *jobs,
            *requests,
            *concurrency,
            out,
            settings,
        ),
    }
}

fn serve(
    store: &Option<String>,
    workers: &[usize],
    jobs: usize,
    requests: usize,
    concurrency: usize,
    out: &Option<PathBuf>,
    settings: &Settings,
) -> Result<ExitCode> {
    use verity::server::loadbench::{run, LoadBench};
    if jobs == 0 || requests == 0 || workers.is_empty() {
        anyhow::bail!("--jobs, --requests and --workers must be above 0");
    }
    let cfg = LoadBench {
        store: store.clone(),
        workers: workers.to_vec(),
        jobs,
        requests,
        concurrency,
        image: repo_file("tests/data/astronaut.png"),
        settings: settings.clone(),
    };
    let scratch = tempfile::tempdir()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("verity serve load run on loopback, {cores} core(s), tiny random-weight profile:");
    let rows = run(&cfg, scratch.path(), &|l| eprintln!("  {l}"))?;
    println!(
        "{:>7} {:>6} {:>8} {:>8} {:>12} {:>12} {:>10} {:>7}",
        "workers", "jobs", "wall s", "jobs/s", "GET p50 ms", "GET p99 ms", "GET req/s", "errors"
    );
    for r in &rows {
        println!(
            "{:>7} {:>6} {:>8.1} {:>8.2} {:>12.2} {:>12.2} {:>10.0} {:>7}",
            r.workers,
            r.jobs,
            r.jobs_wall_s,
            r.jobs_per_s,
            r.get_case_p50_ms,
            r.get_case_p99_ms,
            r.get_case_per_s,
            r.jobs_failed + r.get_case_errors
        );
    }
    write_json(
        out,
        &serde_json::json!({
            "benchmark": "verity bench serve",
            "what": "a real `verity serve` on 127.0.0.1 with N queue workers (threads of the same process) and the tiny random-weight profile; jobs/s = distinct image uploads queued at once / wall time until the last ended; then GET /api/v1/cases/{id} (the full case: detail, scores, audit, provenance) from `concurrency` client threads over keep-alive-less ureq connections; per-token rate limit lifted for the run",
            "cores": cores,
            "cpu": verity::device::describe().name,
            "device": format!("{:?}", settings.device),
            "profile": if cfg!(debug_assertions) { "dev build (verity at opt-level 1, dependencies at 3, debug assertions on)" } else { "release build" },
            "peer": "none: the PyTorch peer has no HTTP API; model speed against PyTorch is in models-*.json",
            "rows": rows,
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}

fn pipeline(
    preset: &str,
    device: choices::Device,
    out: &Option<PathBuf>,
    settings: &Settings,
) -> Result<ExitCode> {
    let tmp = std::env::temp_dir().join(format!("verity-bench-{}", std::process::id()));
    let mut s = settings.clone();
    s.data_dir = Some(tmp.join("data"));
    s.models_dir = Some(tmp.join("models"));
    s.device = device.into();
    s.profile = Some("bench-untrained".into());
    verity::models::profile::create_random_profile(
        &tmp.join("models/profiles/bench-untrained"),
        preset,
        0,
    )?;
    let video = tmp.join("ten_frames.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(repo_file("tests/data/astronaut.png"))
        .args([
            "-vf",
            "zoompan=z='1+0.002*on':d=20:s=512x512:fps=10",
            "-t",
            "2",
            "-r",
            "10",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&video)
        .status()
        .context("the pipeline benchmark makes its video with the ffmpeg CLI")?;
    if !st.success() {
        bail!("ffmpeg failed to make the benchmark video");
    }
    let analyzer = Analyzer::new(&s)?;
    let mut store = Store::open(&s.data_dir())?;
    let mut results = Vec::new();
    for (label, path) in [
        ("single image", repo_file("tests/data/astronaut.png")),
        ("10-frame video", video),
    ] {
        // GPU busy share while the analysis runs, sampled by nvidia-smi (CUDA only).
        let sampler = analyzer
            .device()
            .is_cuda()
            .then(GpuSampler::start)
            .flatten();
        let sum =
            analyzer.analyze_path(&mut store, &path, "bench", &|_| {}, &AtomicBool::new(false))?;
        let gpu = sampler.map(GpuSampler::stop);
        let t = &sum.times;
        // Decode runs on its own thread: the stages' sum exceeds the wall time by what the
        // overlap hid; `decode wait` is the decode time it did not hide.
        let stages = t.decode + t.detect + t.align + t.encode + t.store;
        println!(
            "{label:<15} frames {:>3} faces {:>3} | decode {:>7.3}s (wait {:>6.3}s) detect {:>7.3}s align {:>7.3}s encode+fuse+head {:>7.3}s store {:>7.3}s | stages {:>7.3}s wall {:>7.3}s",
            sum.frames, sum.faces, t.decode, t.decode_wait, t.detect, t.align, t.encode, t.store, stages, t.total
        );
        // The overlap goal: the whole run no slower than its encode phase alone + 10 %.
        let wall_over_encode = (t.encode > 0.0).then(|| t.total / t.encode);
        if let Some(r) = wall_over_encode {
            println!("{:<15} wall / encode {r:.2}", "");
        }
        if let Some((mean, max, n)) = gpu {
            println!(
                "{:<15} GPU busy {mean:.0} % mean, {max:.0} % max ({n} samples)",
                ""
            );
        }
        // Explainability on the same case: Grad-CAM (CNN + ViT + rollout) and artifact views.
        let ex = verity::explain::case::explain_case(
            &mut store,
            analyzer.detector(),
            sum.case_id,
            None,
            &verity::explain::ExplainConfig::default(),
            "bench",
        )?;
        println!(
            "{:<15} explain {:.3}s per face ({} outputs)",
            "",
            ex.seconds_per_face,
            ex.outputs.len()
        );
        results.push(serde_json::json!({"input": label, "frames": sum.frames, "faces": sum.faces, "times_s": t, "stages_sum_s": stages, "overlap_hidden_s": (stages - t.total).max(0.0), "explain_s_per_face": ex.seconds_per_face, "wall_over_encode": wall_over_encode, "gpu_util_percent": gpu.map(|(mean, max, samples)| serde_json::json!({"mean": mean, "max": max, "samples": samples}))}));
    }
    let _ = std::fs::remove_dir_all(&tmp);
    // Face preparation per face, both chains (GenD's native warp + Pillow bicubic vs
    // the direct warp), on the CPU where it runs.
    let crop = verity::bench::bench_crop(&repo_file("tests/data/astronaut.png"), 15)?;
    for r in &crop {
        println!(
            "crop+resize     chain {:<6} face {:>4} px native | {:>7.2} ms per face",
            r.chain, r.native_side, r.ms_per_face
        );
    }
    write_json(
        out,
        &serde_json::json!({"device": verity::device::describe(), "profile_preset": preset, "untrained_weights": true, "results": results, "face_preparation": crop}),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `nvidia-smi` polling GPU utilisation every 100 ms in the background (the driver's own
/// counter: the share of time a kernel ran). `None` when nvidia-smi cannot be started.
struct GpuSampler {
    child: std::process::Child,
}

impl GpuSampler {
    fn start() -> Option<Self> {
        std::process::Command::new("nvidia-smi")
            .args([
                "--query-gpu=utilization.gpu",
                "--format=csv,noheader,nounits",
                "-i",
                "0",
                "-lms",
                "100",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()
            .map(|child| Self { child })
    }

    /// Stops sampling: (mean %, max %, samples).
    fn stop(mut self) -> (f64, f64, usize) {
        let _ = self.child.kill();
        let out = self
            .child
            .wait_with_output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        utilisation(&out)
    }
}

/// Mean, max and count of the numeric lines of nvidia-smi's CSV output.
fn utilisation(csv: &str) -> (f64, f64, usize) {
    let v: Vec<f64> = csv
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .collect();
    let n = v.len();
    let mean = if n == 0 {
        0.0
    } else {
        v.iter().sum::<f64>() / n as f64
    };
    (mean, v.iter().copied().fold(0.0, f64::max), n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn nvidia_smi_samples_are_averaged() {
        assert_eq!(super::utilisation("87\n93\n\n[N/A]\n"), (90.0, 93.0, 2));
        assert_eq!(super::utilisation(""), (0.0, 0.0, 0));
    }
}

fn similar(
    sizes: &[usize],
    dim: usize,
    queries: usize,
    hnsw_max: usize,
    out: &Option<PathBuf>,
) -> Result<ExitCode> {
    use verity::provenance::similar::{bench_faces, FaceBench};
    let cfg = FaceBench {
        sizes: sizes.to_vec(),
        dim,
        queries,
        hnsw_max,
        seed: 7,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("face search on {threads} core(s), one query at a time:");
    let rows = bench_faces(&cfg, &|line| eprintln!("{line}"));
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    println!(
        "{:>9} {:>5} {:>12} {:>12} {:>10} {:>10} {:>10} {:>9}",
        "vectors",
        "dim",
        "brute p50",
        "brute p99",
        "HNSW build",
        "HNSW p50",
        "HNSW p99",
        "recall@10"
    );
    for r in &rows {
        println!(
            "{:>9} {:>5} {:>10.3}ms {:>10.3}ms {:>9}s {:>8}ms {:>8}ms {:>9}",
            r.vectors,
            r.dim,
            r.brute_p50_ms,
            r.brute_p99_ms,
            r.hnsw_build_s
                .map_or_else(|| "-".into(), |s| format!("{s:.1}")),
            ms(r.hnsw_p50_ms),
            ms(r.hnsw_p99_ms),
            r.hnsw_recall_at_10
                .map_or_else(|| "-".into(), |v| format!("{v:.3}")),
        );
    }
    write_json(
        out,
        &serde_json::json!({
            "benchmark": "verity bench similar",
            "what": "face-embedding search for \"seen before\": brute force (exact, one thread) vs HNSW (hnsw_rs, M=16, ef_construction 100, ef_search 100; parallel insert on all cores, queried on one), k = 10",
            "vectors": "synthetic, L2-normalised, clustered: n/5 identities, each sample its identity's centre + noise (cosine within ≈ 0.73); queries are fresh samples of stored identities",
            "cores": threads,
            "cpu": verity::device::describe().name,
            "profile": if cfg!(debug_assertions) { "dev build (verity at opt-level 1, dependencies at 3, debug assertions on)" } else { "release build" },
            "brute_force_max": verity::provenance::similar::BRUTE_FORCE_MAX,
            "rows": rows,
        }),
    )?;
    Ok(ExitCode::SUCCESS)
}
