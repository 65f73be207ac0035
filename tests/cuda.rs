//! Device checks that need a CUDA GPU. Each test runs only when `tch::Cuda::is_available()`
//! (after `device::load_cuda()`, which loads `libtorch_cuda`); otherwise it prints
//! `SKIP (no CUDA device): <what would have been checked>` to stderr and returns, so a CPU run
//! shows every skipped check (and `skip_summary` prints how many) instead of passing silently.
//! Run with `--nocapture` to see the figures; `scripts/gpu-check.sh` runs this binary on a GPU.
//!
//! On CUDA:
//! - CPU vs CUDA parity of every network on random weights: detector probabilities for the
//!   `tiny` (tiny CLIP + EfficientNet-B0), `tiny-gend`, `vit-l14-xception` and `vit-l14-effb4`
//!   presets (CLIP ViT-L/14, Xception, EfficientNet-B4, fusion, heads), fp32 |Δp| ≤ 1e-3 and
//!   bf16 |Δp| ≤ 2e-2, embeddings by cosine similarity; MTCNN boxes, landmarks, probabilities;
//! - device-side alignment (`faces::warp_tensor`) on CUDA vs the same on the CPU;
//! - an autocast (mixed-precision) training step runs on CUDA and lowers the loss;
//! - a CUDA out-of-memory allocation is an error (not an abort), and CUDA works afterwards.
//!
//! Paths: the repository is `$VERITY_REPO` when set (the GPU machine runs a copy of the test
//! binary outside the tree it was built in), else the source tree; MTCNN's weights follow
//! `$VERITY_MODELS_DIR` as in the app.
use image::RgbImage;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use tch::{Device, Kind, Tensor};
use verity::faces::align::{AlignTemplate, CLIP_MEAN, CLIP_STD};
use verity::faces::mtcnn::Mtcnn;
use verity::faces::preprocess::{prepare, Chain, CropSpec};
use verity::faces::warp_tensor::{frames_to_tensor, warp_faces, FaceWarp, TensorCrop};
use verity::models::profile::{create_random_profile, LoadedDetector};

/// Every check of this file, for the skip summary.
const CHECKS: &[&str] = &[
    "detector parity tiny",
    "detector parity tiny-gend",
    "detector parity vit-l14-xception",
    "detector parity vit-l14-effb4",
    "mtcnn parity",
    "device-side alignment",
    "autocast training step",
    "out of memory",
];

static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// A line on the real stderr: libtest captures `eprintln!` of passing tests, and a skip must
/// be seen without `--nocapture`.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// `VERITY_CUDA_DRY_RUN=1` runs every check with the CPU standing in for CUDA (to test the
/// checks themselves on a machine without a GPU; its figures are not CUDA results).
fn dry_run() -> bool {
    std::env::var("VERITY_CUDA_DRY_RUN").is_ok_and(|v| v == "1")
}

/// The CUDA device, or a visible skip.
fn cuda_or_skip(what: &str) -> Option<Device> {
    verity::device::load_cuda();
    if tch::Cuda::is_available() {
        return Some(Device::Cuda(0));
    }
    if dry_run() {
        say(&format!("DRY RUN on the CPU (not a CUDA result): {what}"));
        return Some(Device::Cpu);
    }
    let n = SKIPPED.fetch_add(1, Ordering::SeqCst) + 1;
    say(&format!(
        "SKIP (no CUDA device): {what} [skip {n} in tests/cuda.rs]"
    ));
    None
}

#[test]
fn skip_summary() {
    verity::device::load_cuda();
    let n = CHECKS.len();
    if tch::Cuda::is_available() {
        say(&format!(
            "tests/cuda.rs: {n} CUDA checks run on {} CUDA device(s)",
            tch::Cuda::device_count()
        ));
    } else if dry_run() {
        say(&format!(
            "DRY RUN: {n} CUDA checks of tests/cuda.rs ran with the CPU standing in (no CUDA result)"
        ));
    } else {
        say(&format!(
            "SKIP (no CUDA device): {n} of {n} CUDA checks in tests/cuda.rs skipped: {}",
            CHECKS.join(", ")
        ));
    }
}

fn repo() -> PathBuf {
    std::env::var_os("VERITY_REPO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn astronaut() -> RgbImage {
    let p = repo().join("tests/data/astronaut.png");
    image::open(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_rgb8()
}

/// Four different 224² face-sized inputs from the test photo.
fn inputs() -> Vec<RgbImage> {
    let img = astronaut();
    [(120, 20, 200), (150, 40, 160), (80, 0, 300), (200, 60, 120)]
        .iter()
        .map(|&(x, y, s)| {
            let c = image::imageops::crop_imm(&img, x, y, s, s).to_image();
            image::imageops::resize(&c, 224, 224, image::imageops::FilterType::Triangle)
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-30)
}

/// CPU fp32 vs CUDA fp32 (|Δp| ≤ 1e-3) and CUDA bf16 (|Δp| ≤ 2e-2) on one preset's random
/// weights; embeddings by cosine similarity (≥ 0.9999 fp32, ≥ 0.99 bf16).
fn detector_parity(preset: &str) {
    let Some(cuda) = cuda_or_skip(&format!(
        "CPU vs CUDA detector parity, preset {preset} (fp32 |Δp| ≤ 1e-3, bf16 |Δp| ≤ 2e-2)"
    )) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(format!("{preset}-untrained"));
    create_random_profile(&dir, preset, 11).unwrap();
    let faces = inputs();
    let refs: Vec<&RgbImage> = faces.iter().collect();
    let cpu = LoadedDetector::load(&dir, Device::Cpu).unwrap();
    let want = cpu.score(&refs).unwrap();
    drop(cpu);
    let probs: Vec<f32> = want.iter().map(|s| s.prob).collect();
    println!("{preset}: CPU fp32 probabilities {probs:?}");
    assert!(
        probs.iter().any(|p| *p > 1e-4 && *p < 1.0 - 1e-4),
        "{preset}: every probability is saturated, the parity would be vacuous: {probs:?}"
    );
    let mut gpu = LoadedDetector::load(&dir, cuda).unwrap();
    for (kind, tol_p, tol_cos) in [(Kind::Float, 1e-3, 0.9999), (Kind::BFloat16, 2e-2, 0.99)] {
        gpu.set_precision(kind).unwrap();
        let got = gpu.score(&refs).unwrap();
        assert_eq!(got.len(), want.len());
        let mut max_dp = 0f64;
        let mut min_cos = 1f64;
        for (g, w) in got.iter().zip(&want) {
            max_dp = max_dp.max((g.prob as f64 - w.prob as f64).abs());
            min_cos = min_cos.min(cosine(&g.clip_emb, &w.clip_emb));
            if let (Some(a), Some(b)) = (&g.cnn_emb, &w.cnn_emb) {
                min_cos = min_cos.min(cosine(a, b));
            }
        }
        println!(
            "{preset} CUDA {kind:?}: max |Δp| = {max_dp:.3e}, min embedding cosine = {min_cos:.6}"
        );
        assert!(
            max_dp <= tol_p,
            "{preset} {kind:?}: |Δp| {max_dp} > {tol_p}"
        );
        assert!(
            min_cos >= tol_cos,
            "{preset} {kind:?}: cosine {min_cos} < {tol_cos}"
        );
    }
}

#[test]
fn detector_parity_tiny() {
    detector_parity("tiny");
}

#[test]
fn detector_parity_tiny_gend() {
    detector_parity("tiny-gend");
}

#[test]
fn detector_parity_vit_l14_xception() {
    detector_parity("vit-l14-xception");
}

#[test]
fn detector_parity_vit_l14_effb4() {
    detector_parity("vit-l14-effb4");
}

#[test]
fn mtcnn_parity() {
    let Some(cuda) = cuda_or_skip(
        "CPU vs CUDA MTCNN parity (same faces; boxes and landmarks ≤ 0.05 px, probability ≤ 1e-3)",
    ) else {
        return;
    };
    let img = astronaut();
    let dir = Mtcnn::default_dir();
    let want = Mtcnn::load(&dir, Device::Cpu)
        .unwrap()
        .detect(&[&img])
        .unwrap();
    let got = Mtcnn::load(&dir, cuda).unwrap().detect(&[&img]).unwrap();
    assert_eq!(got[0].len(), want[0].len(), "number of faces");
    assert!(!want[0].is_empty(), "no face found on the test photo");
    let mut max_px = 0f32;
    let mut max_p = 0f32;
    for (g, w) in got[0].iter().zip(&want[0]) {
        for i in 0..4 {
            max_px = max_px.max((g.bbox[i] - w.bbox[i]).abs());
        }
        for (a, b) in g.landmarks.iter().zip(&w.landmarks) {
            max_px = max_px.max((a[0] - b[0]).abs().max((a[1] - b[1]).abs()));
        }
        max_p = max_p.max((g.prob - w.prob).abs());
    }
    println!("MTCNN CUDA vs CPU: max |Δ| {max_px:.4} px, |Δp| {max_p:.2e}");
    assert!(max_px <= 0.05, "boxes/landmarks differ by {max_px} px");
    assert!(max_p <= 1e-3, "probabilities differ by {max_p}");
}

#[test]
fn device_side_alignment_matches_cpu() {
    let Some(cuda) = cuda_or_skip(
        "device-side alignment (grid_sample) on CUDA vs CPU tensors and vs the CPU crop (≤ 1 grey level on ≤ 1 % of values), crops stay on the GPU",
    ) else {
        return;
    };
    let img = astronaut();
    let spec = CropSpec {
        template: AlignTemplate::gend(),
        chain: Chain::Direct,
        size: 224,
    };
    let det = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu)
        .unwrap()
        .detect(&[&img])
        .unwrap()
        .remove(0);
    assert!(!det.is_empty());
    // The detected face, and the same landmarks rotated and pushed partly off the frame.
    let lm = det[0].landmarks;
    let shifted = lm.map(|[x, y]| [x * 0.8 - 120.0 + 0.3 * y, y * 0.8 - 0.3 * x + 90.0]);
    let warps = [
        FaceWarp::for_chain(0, &lm, &spec).unwrap(),
        FaceWarp::for_chain(0, &shifted, &spec).unwrap(),
    ];
    let crop = TensorCrop::new(224, CLIP_MEAN, CLIP_STD);
    let frames = frames_to_tensor(&[&img], cuda).unwrap();
    let on_gpu = warp_faces(&frames, &warps, &crop).unwrap();
    assert_eq!(on_gpu.device(), cuda, "crops must stay on the device");
    assert_eq!(on_gpu.size(), [2, 3, 224, 224]);
    let on_cpu = warp_faces(&frames.to_device(Device::Cpu), &warps, &crop).unwrap();
    let std = Tensor::from_slice(&CLIP_STD).view([1, 3, 1, 1]);
    let levels = |t: &Tensor| t.to_device(Device::Cpu) * &std * 255.0;
    let d = (levels(&on_gpu) - levels(&on_cpu)).abs();
    let (max, share) = (
        d.max().double_value(&[]),
        d.gt(0.5)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]),
    );
    println!(
        "alignment CUDA vs CPU tensors: max |Δ| {max:.3} grey levels, {:.4} % differ",
        share * 100.0
    );
    assert!(
        max <= 1.0 + 1e-3 && share <= 0.01,
        "max {max}, share {share}"
    );
    // And against the CPU chain's own 8-bit crop.
    let mean = Tensor::from_slice(&CLIP_MEAN).view([1, 3, 1, 1]);
    let gpu_levels = (on_gpu.to_device(Device::Cpu) * &std + &mean) * 255.0;
    for (i, l) in [lm, shifted].iter().enumerate() {
        let cpu = prepare(&img, l, &spec).input;
        let want = Tensor::from_slice(cpu.as_raw())
            .view([224, 224, 3])
            .permute([2, 0, 1])
            .to_kind(Kind::Float);
        let d = (gpu_levels.get(i as i64) - want).abs();
        let (max, share) = (
            d.max().double_value(&[]),
            d.gt(0.5)
                .to_kind(Kind::Float)
                .mean(Kind::Float)
                .double_value(&[]),
        );
        println!(
            "alignment CUDA vs CPU crop, face {i}: max |Δ| {max:.3}, {:.4} % differ",
            share * 100.0
        );
        assert!(
            max <= 1.0 + 1e-3 && share <= 0.01,
            "face {i}: max {max}, share {share}"
        );
    }
}

#[test]
fn autocast_training_step_lowers_the_loss() {
    use verity::train::dataset::{Origin, Sample};
    use verity::train::trainer::{TrainConfig, Trainer};
    use verity::train::Rng;
    let Some(cuda) = cuda_or_skip(
        "one autocast (mixed-precision) training step on CUDA runs, is finite and lowers the loss",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("tiny-untrained");
    create_random_profile(&profile, "tiny", 3).unwrap();
    // Real: crops of the photo; fake: the same crops with a strong colour cast (learnable fast).
    let mut samples = vec![];
    for (i, img) in inputs().into_iter().enumerate() {
        let mut fake = img.clone();
        for p in fake.pixels_mut() {
            p.0 = [p.0[0].saturating_add(60), p.0[1] / 2, p.0[2]];
        }
        for (is_fake, im) in [(false, img), (true, fake)] {
            let path = tmp.path().join(format!("{i}-{is_fake}.png"));
            im.save(&path).unwrap();
            samples.push(Sample {
                crop: path.clone(),
                fake: is_fake,
                identity: format!("id{i}"),
                source: if is_fake { "fake" } else { "real" }.into(),
                landmarks: AlignTemplate::gend().points_px(224),
                origin: Origin::File {
                    path,
                    sha256: String::new(),
                    frame: None,
                },
            });
        }
    }
    let cfg = TrainConfig {
        batch_size: samples.len(),
        mixed_precision: true,
        hflip: false,
        slerp: false,
        ..TrainConfig::default()
    };
    let mut t = Trainer::new(&profile, &cfg, cuda).unwrap();
    let batch: Vec<&Sample> = samples.iter().collect();
    let mut losses = vec![];
    for _ in 0..8 {
        let log = t.step(&batch, 1e-3, &mut Rng::new(1)).unwrap();
        assert!(log.loss.is_finite());
        losses.push((log.loss, log.applied));
    }
    println!("autocast training on CUDA, losses (value, step applied): {losses:?}");
    assert!(
        losses.iter().any(|l| l.1),
        "every step was skipped (fp16 overflow)"
    );
    let first = losses[0].0;
    let last = losses.last().unwrap().0;
    assert!(last < first, "the loss did not go down: {first} → {last}");
}

#[test]
fn out_of_memory_is_an_error() {
    let Some(cuda) = cuda_or_skip(
        "a forced CUDA out-of-memory (a 16 TiB allocation and a huge batch) is an error, not a crash, and CUDA works afterwards",
    ) else {
        return;
    };
    let err = Tensor::f_zeros([1i64 << 42], (Kind::Float, cuda))
        .expect_err("a 16 TiB allocation cannot succeed");
    let msg = err.to_string();
    println!("CUDA OOM error: {}", msg.lines().next().unwrap_or(""));
    assert!(msg.to_lowercase().contains("memory"), "{msg}");
    // A huge batch through a network: the error comes back as a value.
    let x = Tensor::f_empty([1i64 << 20, 3, 224, 224], (Kind::Float, cuda));
    assert!(x.is_err(), "a 600 GiB batch cannot be allocated");
    // The device is still usable.
    let y = Tensor::ones([1024, 1024], (Kind::Float, cuda))
        .matmul(&Tensor::ones([1024, 1024], (Kind::Float, cuda)));
    assert_eq!(y.double_value(&[0, 0]), 1024.0);
}

/// The model benchmark of `verity bench models` (MTCNN, CLIP ViT-L/14, Xception,
/// EfficientNet-B4 per precision and batch; bf16/fp16 |Δp| vs fp32) from the test binary, which
/// does not link FFmpeg: `scripts/gpu-check.sh` runs it where the `verity` CLI cannot start
/// (no FFmpeg libraries on the GPU machine). Ignored by default (minutes on a CPU); run with
/// `--ignored --exact bench_models_on_device`. Settings from the environment:
/// `VERITY_BENCH_OUT` (JSON file), `VERITY_BENCH_BATCHES` ("1,32"), `VERITY_BENCH_ITERS` (10).
#[test]
#[ignore]
fn bench_models_on_device() {
    use verity::bench::{bench_models, precision_deltas, ModelBench};
    verity::device::load_cuda();
    let device = if tch::Cuda::is_available() {
        Device::Cuda(0)
    } else {
        say("bench_models_on_device: no CUDA device, timing on the CPU (fp32 only)");
        Device::Cpu
    };
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let cfg = ModelBench {
        device,
        kinds: if device.is_cuda() {
            vec![Kind::Float, Kind::Half, Kind::BFloat16]
        } else {
            vec![Kind::Float]
        },
        batches: var("VERITY_BENCH_BATCHES", "1,32")
            .split(',')
            .map(|b| b.trim().parse().expect("VERITY_BENCH_BATCHES: numbers"))
            .collect(),
        iters: var("VERITY_BENCH_ITERS", "10")
            .parse()
            .expect("VERITY_BENCH_ITERS"),
    };
    let image = repo().join("tests/data/astronaut.png");
    let rows = bench_models(&cfg, &image, &|r| {
        say(&format!(
            "  {:<14} {:<9} bs{:<4} {:>9.2} ms {:>9.1} faces/s",
            r.name, r.dtype, r.batch, r.ms_per_batch, r.faces_per_s
        ))
    })
    .unwrap();
    assert!(rows.iter().all(|r| r.ms_per_batch > 0.0));
    let deltas = precision_deltas(&cfg, 64).unwrap();
    for d in &deltas {
        say(&format!(
            "  {:<14} {:<9} |Δp| vs fp32: p99 {:.2e}, max {:.2e} over {} inputs",
            d.name, d.dtype, d.p99_abs_dp, d.max_abs_dp, d.inputs
        ));
    }
    let json = serde_json::json!({
        "device": verity::device::describe(),
        "source": "tests/cuda.rs bench_models_on_device (verity::bench::bench_models)",
        "rows": verity::bench::compare(&rows, &[]),
        "precision": deltas,
    });
    if let Ok(out) = std::env::var("VERITY_BENCH_OUT") {
        std::fs::write(&out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
        say(&format!("bench_models_on_device: wrote {out}"));
    }
}
