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
        vs.set_kind(kind);
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
