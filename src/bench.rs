//! Benchmarks (`verity bench`): each network's throughput on this machine next to the PyTorch
//! eager peer on the same shapes and image (`bench/peer_bench.py`, run in the same invocation),
//! and the pipeline's stage timings. Random weights: the cost is the architecture's, not the
//! values'. Nothing here is a test; figures go to a table and JSON.
use crate::faces::mtcnn::Mtcnn;
use crate::models::clip::{ClipConfig, ClipVision};
use crate::models::efficientnet::{EfficientNet, EfficientNetConfig};
use crate::models::xception::Xception;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub name: String,
    pub device: String,
    pub dtype: String,
    pub batch: i64,
    pub ms_per_batch: f64,
    pub faces_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    #[serde(flatten)]
    pub ours: Row,
    pub peer_ms_per_batch: Option<f64>,
    /// peer time / our time: above 1 means Verity Desk is faster.
    pub speedup_vs_peer: Option<f64>,
}

pub struct ModelBench {
    pub device: Device,
    pub kinds: Vec<Kind>,
    pub batches: Vec<i64>,
    pub iters: usize,
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// The nearest-rank `p` quantile (0..=1) of ascending `sorted` values; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median wall time in ms of `f` over `iters` runs after one warm-up.
pub fn median_ms(device: Device, iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    sync(device);
    let mut t: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            sync(device);
            s.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

pub fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Half => "float16",
        Kind::BFloat16 => "bfloat16",
        _ => "float32",
    }
}

fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(_) => "cuda".into(),
        _ => "cpu".into(),
    }
}

/// Times MTCNN on `image` and the three encoders at each batch size and precision.
pub fn bench_models(cfg: &ModelBench, image: &Path, progress: &dyn Fn(&Row)) -> Result<Vec<Row>> {
    let _guard = tch::no_grad_guard();
    let dev = cfg.device;
    let mut rows = Vec::new();
    let push = |rows: &mut Vec<Row>, name: &str, kind: Kind, batch: i64, ms: f64| {
        let r = Row {
            name: name.into(),
            device: device_name(dev),
            dtype: kind_name(kind).into(),
            batch,
            ms_per_batch: (ms * 100.0).round() / 100.0,
            faces_per_s: (batch as f64 * 1000.0 / ms * 100.0).round() / 100.0,
        };
        progress(&r);
        rows.push(r);
    };
    let img = image::open(image)
        .map_err(|e| Error::input(image, e.to_string()))?
        .to_rgb8();
    let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), dev)?;
    let ms = median_ms(dev, cfg.iters, || {
        let _ = mtcnn.detect(&[&img]);
    });
    push(&mut rows, "mtcnn_detect", Kind::Float, 1, ms);

    for &kind in &cfg.kinds {
        let mut vs = nn::VarStore::new(dev);
        let clip_cfg = ClipConfig::vit_large_patch14();
        let clip = ClipVision::new(
            &(vs.root() / "clip"),
            &clip_cfg.vision,
            Some(clip_cfg.projection_dim),
        );
        let xcp = Xception::new(&(vs.root() / "xception"));
        let eb4 = EfficientNet::new(&(vs.root() / "effnet"), &EfficientNetConfig::b4());
        crate::models::set_inference_kind(&mut vs, kind);
        for &bs in &cfg.batches {
            let x = Tensor::randn([bs, 3, 224, 224], (kind, dev));
            let ms = median_ms(dev, cfg.iters, || {
                let _ = clip.forward(&x).map(|o| o.image_embeds);
            });
            push(&mut rows, "clip_vitl14", kind, bs, ms);
            let ms = median_ms(dev, cfg.iters, || {
                let _ = xcp.forward_features(&x, false);
            });
            push(&mut rows, "xception_224", kind, bs, ms);
            let ms = median_ms(dev, cfg.iters, || {
                let _ = eb4.forward_features(&x, false);
            });
            push(&mut rows, "effnet_b4_224", kind, bs, ms);
        }
    }
    Ok(rows)
}

/// How far a reduced precision moves a score: the same inputs through one network in fp32 and
/// in `dtype`, each embedding scored by the same fixed random linear head + sigmoid (the shape
/// of GenD's head), |Δp| over the inputs.
#[derive(Debug, Clone, Serialize)]
pub struct PrecisionDelta {
    pub name: String,
    pub dtype: String,
    pub inputs: i64,
    pub p99_abs_dp: f64,
    pub max_abs_dp: f64,
}

/// [`PrecisionDelta`] of each network for each non-fp32 kind in `cfg.kinds`, on `inputs`
/// random images (seeded: the same inputs every run).
pub fn precision_deltas(cfg: &ModelBench, inputs: i64) -> Result<Vec<PrecisionDelta>> {
    let _guard = tch::no_grad_guard();
    let dev = cfg.device;
    let mut out = Vec::new();
    let reduced: Vec<Kind> = cfg
        .kinds
        .iter()
        .copied()
        .filter(|k| *k != Kind::Float)
        .collect();
    if reduced.is_empty() {
        return Ok(out);
    }
    tch::manual_seed(20261130);
    let mut vs = nn::VarStore::new(dev);
    let clip_cfg = ClipConfig::vit_large_patch14();
    let clip = ClipVision::new(&(vs.root() / "clip"), &clip_cfg.vision, None);
    let xcp = Xception::new(&(vs.root() / "xception"));
    let eb4 = EfficientNet::new(&(vs.root() / "effnet"), &EfficientNetConfig::b4());
    let x = Tensor::randn([inputs, 3, 224, 224], (Kind::Float, dev));
    // The fp32 weights, restored after each reduced-precision run: casting the store rounds
    // every network's weights, and the next network's fp32 reference must not inherit that.
    let fp32_weights: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect();
    let restore = |vs: &nn::VarStore| {
        let vars = vs.variables();
        tch::no_grad(|| {
            for (n, w) in &fp32_weights {
                if let Some(v) = vars.get(n) {
                    v.shallow_clone().set_data(w);
                }
            }
        });
    };
    type Embed<'a> = Box<dyn Fn(&Tensor) -> Result<Tensor> + 'a>;
    let nets: Vec<(&str, Embed)> = vec![
        (
            "clip_vitl14",
            Box::new(|x: &Tensor| Ok(clip.forward(x)?.pooled)),
        ),
        (
            "xception_224",
            Box::new(|x: &Tensor| Ok(xcp.forward_features(x, false)?.pooled)),
        ),
        (
            "effnet_b4_224",
            Box::new(|x: &Tensor| Ok(eb4.forward_features(x, false)?.pooled)),
        ),
    ];
    // A fixed head: a unit-norm random direction, its logits centred and scaled by the fp32
    // run's own mean and spread over the inputs (so they cover about (−3, 3), as a trained
    // head's do, instead of saturating the sigmoid on the large common component that random
    // weights give every input), then a sigmoid. The reduced precision gets the same head and
    // the same centring and scale: what moves its probabilities is only its embeddings.
    let logits = |e: &Tensor, w: &Tensor| e.to_kind(Kind::Float).matmul(w);
    let probs = |l: &Tensor, mean: &Tensor, std: &Tensor| -> Result<Vec<f64>> {
        Vec::<f64>::try_from(
            ((l - mean) / (std + 1e-12) * 1.5)
                .sigmoid()
                .to_kind(Kind::Double)
                .to_device(Device::Cpu),
        )
        .map_err(|e| Error::Other(e.to_string()))
    };
    for (name, embed) in &nets {
        restore(&vs);
        let e32 = embed(&x)?;
        tch::manual_seed(7);
        let w = Tensor::randn([e32.size()[1]], (Kind::Float, dev));
        let w = &w / w.norm();
        let l32 = logits(&e32, &w);
        let (mean, std) = (l32.mean(Kind::Float), l32.std(true));
        let p32 = probs(&l32, &mean, &std)?;
        for &kind in &reduced {
            crate::models::set_inference_kind(&mut vs, kind);
            let ek = embed(&x.to_kind(kind))?;
            let pk = probs(&logits(&ek, &w), &mean, &std)?;
            let mut d: Vec<f64> = p32.iter().zip(&pk).map(|(a, b)| (a - b).abs()).collect();
            d.sort_by(f64::total_cmp);
            let at = |q: f64| d[((d.len() as f64 - 1.0) * q).round() as usize];
            out.push(PrecisionDelta {
                name: (*name).into(),
                dtype: kind_name(kind).into(),
                inputs,
                p99_abs_dp: at(0.99),
                max_abs_dp: d.last().copied().unwrap_or(0.0),
            });
        }
        restore(&vs);
    }
    Ok(out)
}

/// Runs the PyTorch peer on the same shapes and image; returns its rows.
pub fn run_peer(python: &Path, script: &Path, cfg: &ModelBench, image: &Path) -> Result<Vec<Row>> {
    let dtypes: Vec<&str> = cfg.kinds.iter().map(|k| kind_name(*k)).collect();
    let batches: Vec<String> = cfg.batches.iter().map(|b| b.to_string()).collect();
    let out = std::process::Command::new(python)
        .arg(script)
        .arg("--image")
        .arg(image)
        .args([
            "--device",
            &device_name(cfg.device),
            "--dtypes",
            &dtypes.join(","),
            "--batches",
            &batches.join(","),
        ])
        .args(["--iters", &cfg.iters.to_string()])
        .output()
        .map_err(|e| {
            Error::Other(format!(
                "cannot run the PyTorch peer ({}): {e}",
                python.display()
            ))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| {
            Error::Other(format!(
                "the PyTorch peer failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ))
        })?;
    #[derive(Deserialize)]
    struct Peer {
        rows: Vec<Row>,
    }
    let p: Peer =
        serde_json::from_str(line).map_err(|e| Error::Other(format!("peer output: {e}")))?;
    Ok(p.rows)
}

/// Pairs our rows with the peer's by (name, dtype, batch).
pub fn compare(ours: &[Row], peer: &[Row]) -> Vec<Compared> {
    ours.iter()
        .map(|o| {
            let p = peer
                .iter()
                .find(|p| p.name == o.name && p.dtype == o.dtype && p.batch == o.batch);
            Compared {
                ours: o.clone(),
                peer_ms_per_batch: p.map(|p| p.ms_per_batch),
                speedup_vs_peer: p
                    .map(|p| ((p.ms_per_batch / o.ms_per_batch) * 100.0).round() / 100.0),
            }
        })
        .collect()
}

/// One face-preparation measurement of `verity bench pipeline`.
#[derive(Debug, Clone, Serialize)]
pub struct CropRow {
    pub chain: String,
    /// The face's native crop side in the frame (GenD: 1.3 × its landmark scale).
    pub native_side: u32,
    /// Median ms per face: fit + warp (+ Pillow-bicubic resize for `gend`), the input made.
    pub ms_per_face: f64,
}

/// Times the face preparation of both chains (`faces::preprocess`) on the astronaut's face at
/// its size and magnified 2× and 4× (native crops of ≈ 160, 330 and 650 px): the CPU cost of
/// GenD's native-size warp and antialiased resize against the direct warp to 224².
pub fn bench_crop(image: &Path, iters: usize) -> Result<Vec<CropRow>> {
    use crate::faces::align::AlignTemplate;
    use crate::faces::preprocess::{native_side, prepare, Chain, CropSpec};
    use crate::faces::resize::{resize, Filter};
    let photo = image::open(image)
        .map_err(|e| Error::input(image, format!("cannot read the benchmark image: {e}")))?
        .to_rgb8();
    // The astronaut's landmarks (facenet-pytorch MTCNN; see tests/reference/preprocess_ref.py).
    let lm: [[f32; 2]; 5] = [
        [205.01, 101.73],
        [246.76, 103.71],
        [224.67, 128.96],
        [201.72, 139.25],
        [245.27, 141.86],
    ];
    let mut rows = Vec::new();
    for zoom in [1u32, 2, 4] {
        let frame = if zoom == 1 {
            photo.clone()
        } else {
            resize(
                &photo,
                photo.width() * zoom,
                photo.height() * zoom,
                Filter::Bicubic,
            )
        };
        let l = lm.map(|[x, y]| [(x + 0.5) * zoom as f32 - 0.5, (y + 0.5) * zoom as f32 - 0.5]);
        for chain in [Chain::Gend, Chain::Direct] {
            let template = if chain == Chain::Gend {
                AlignTemplate::gend()
            } else {
                AlignTemplate::arcface()
            };
            let spec = CropSpec {
                template,
                chain,
                size: 224,
            };
            let ms = median_ms(Device::Cpu, iters, || {
                std::hint::black_box(prepare(&frame, &l, &spec));
            });
            rows.push(CropRow {
                chain: chain.as_str().into(),
                native_side: native_side(&l, &AlignTemplate::gend()),
                ms_per_face: ms,
            });
        }
    }
    Ok(rows)
}
