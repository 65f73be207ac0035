//! Parity of the forensic CNNs with timm on identical (randomised) weights, fp32 CPU, full size:
//! `legacy_xception` at 224² (batch 2) and 299², `efficientnet_b4` and `efficientnet_b0` at 224²
//! (batch 2); plus strict weight loading, the train flag, and input validation.
//! Fixtures: tests/reference/cnn_ref.py.
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use tch::{nn, Device, Kind, Tensor};
use verity::models::efficientnet::{EfficientNet, EfficientNetConfig};
use verity::models::xception::{self, Xception};
use verity::models::{load_safetensors_strict, CnnFeatures};
use verity::Error;

const TOL: f64 = 1e-4;

/// Made once per test process: the tests run in parallel threads and must not start the
/// script twice into the same folder.
fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::fixtures("cnn_ref", "", &[]))
        .clone()
}

fn io(model: &str) -> HashMap<String, Tensor> {
    common::read_safetensors(&fixtures().join(format!("{model}.io.safetensors")))
}

fn weights(model: &str) -> PathBuf {
    fixtures().join(format!("{model}.weights.safetensors"))
}

/// Max |Δ| and max |Δ| relative to the reference's largest magnitude.
fn diff(name: &str, got: &Tensor, want: &Tensor) -> f64 {
    let d = common::max_abs_diff(got, want);
    let scale = want.abs().max().double_value(&[]);
    println!(
        "{name}: max|Δ| = {d:.3e}, relative to max|ref| ({scale:.3}) = {:.3e}",
        d / scale
    );
    d
}

fn check(label: &str, f: &CnnFeatures, io: &HashMap<String, Tensor>, side: i64, shape: &[i64]) {
    assert_eq!(f.feature_map.size(), shape, "{label}: feature map shape");
    assert_eq!(f.pooled.size(), &shape[..2], "{label}: pooled shape");
    let dm = diff(
        &format!("{label} feature_map"),
        &f.feature_map,
        &io[&format!("feature_map_{side}")],
    );
    let dp = diff(
        &format!("{label} pooled"),
        &f.pooled,
        &io[&format!("pooled_{side}")],
    );
    assert!(
        dm <= TOL,
        "{label}: feature map differs from timm by {dm:e}"
    );
    assert!(
        dp <= TOL,
        "{label}: pooled features differ from timm by {dp:e}"
    );
}

fn load(vs: &mut nn::VarStore, path: &Path) {
    load_safetensors_strict(vs, path).unwrap_or_else(|e| panic!("{e}"));
    vs.freeze();
}

fn timed<T>(label: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = tch::no_grad(f);
    println!("{label}: {:.2} s", t.elapsed().as_secs_f64());
    out
}

#[test]
fn xception_matches_timm_legacy_xception() {
    let io = io("legacy_xception");
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = Xception::new(&vs.root());
    load(&mut vs, &weights("legacy_xception"));

    let f = timed("xception 2×224²", || {
        net.forward_features(&io["input_224"], false)
    })
    .unwrap();
    check(
        "xception 224",
        &f,
        &io,
        224,
        &[2, xception::NUM_FEATURES, 7, 7],
    );
    let f = timed("xception 1×299²", || {
        net.forward_features(&io["input_299"], false)
    })
    .unwrap();
    check(
        "xception 299",
        &f,
        &io,
        299,
        &[1, xception::NUM_FEATURES, 10, 10],
    );
}

#[test]
fn efficientnet_b4_matches_timm() {
    let io = io("efficientnet_b4");
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = EfficientNet::new(&vs.root(), &EfficientNetConfig::b4());
    assert_eq!(net.num_features(), 1792);
    load(&mut vs, &weights("efficientnet_b4"));

    let f = timed("efficientnet_b4 2×224²", || {
        net.forward_features(&io["input_224"], false)
    });
    check(
        "efficientnet_b4 224",
        &f.unwrap(),
        &io,
        224,
        &[2, 1792, 7, 7],
    );
}

#[test]
fn efficientnet_b0_matches_timm_in_eval_and_train_mode() {
    let io = io("efficientnet_b0");
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = EfficientNet::new(&vs.root(), &EfficientNetConfig::b0());
    assert_eq!(net.num_features(), 1280);
    load(&mut vs, &weights("efficientnet_b0"));

    let f = timed("efficientnet_b0 2×224²", || {
        net.forward_features(&io["input_224"], false)
    });
    check(
        "efficientnet_b0 224",
        &f.unwrap(),
        &io,
        224,
        &[2, 1280, 7, 7],
    );

    // Eval mode must not touch the running statistics.
    let vars = vs.variables();
    let stored = common::read_safetensors(&weights("efficientnet_b0"));
    assert!(vars["bn2.running_mean"].equal(&stored["bn2.running_mean"]));

    // train=true: BatchNorm normalises with batch statistics and updates its running stats,
    // exactly as timm's model.train() (momentum 0.1, unbiased variance).
    let f = tch::no_grad(|| net.forward_features(&io["input_224"], true)).unwrap();
    let d = diff(
        "efficientnet_b0 train feature_map",
        &f.feature_map,
        &io["train_feature_map_224"],
    );
    assert!(
        d <= TOL,
        "train-mode feature map differs from timm by {d:e}"
    );
    let eval_vs_train = common::max_abs_diff(&f.feature_map, &io["feature_map_224"]);
    assert!(
        eval_vs_train > 1e-2,
        "train mode gave the eval output ({eval_vs_train:e})"
    );
    assert!(
        common::max_abs_diff(&stored["bn2.running_mean"], &io["train_bn2_running_mean"]) > 1e-3
    );
    for stat in ["running_mean", "running_var"] {
        let d = diff(
            &format!("bn2.{stat} after one step"),
            &vars[&format!("bn2.{stat}")],
            &io[&format!("train_bn2_{stat}")],
        );
        assert!(
            d <= TOL,
            "bn2.{stat} after a train step differs from timm by {d:e}"
        );
    }
}

#[test]
fn strict_loading_names_missing_unexpected_and_misshaped_tensors() {
    let good = common::read_safetensors(&weights("efficientnet_b0"));
    assert!(
        good.contains_key("bn1.num_batches_tracked"),
        "fixture should be a full timm state_dict"
    );
    let dir = tempfile::tempdir().unwrap();

    let mut bad: Vec<(String, Tensor)> = good
        .iter()
        .filter(|(k, _)| k.as_str() != "blocks.1.0.se.conv_reduce.bias")
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    bad.push((
        "classifier.weight".into(),
        Tensor::zeros([1000, 1280], (Kind::Float, Device::Cpu)),
    ));
    for (k, v) in bad.iter_mut() {
        if k == "conv_head.weight" {
            *v = v.narrow(0, 0, 1000).contiguous();
        }
    }
    let path = dir.path().join("bad.safetensors");
    Tensor::write_safetensors(&bad, &path).unwrap();

    let mut vs = nn::VarStore::new(Device::Cpu);
    let _net = EfficientNet::new(&vs.root(), &EfficientNetConfig::b0());
    let before = vs.variables()["conv_stem.weight"].copy();
    let err = load_safetensors_strict(&mut vs, &path).unwrap_err();
    let msg = err.to_string();
    println!("{msg}");
    assert!(matches!(err, Error::Weights(_)), "{err:?}");
    assert!(
        msg.contains("1 missing: blocks.1.0.se.conv_reduce.bias"),
        "{msg}"
    );
    assert!(msg.contains("1 unexpected: classifier.weight"), "{msg}");
    let want = "1 mis-shaped: conv_head.weight (file [1000, 320, 1, 1], model [1280, 320, 1, 1])";
    assert!(msg.contains(want), "{msg}");
    assert!(!msg.contains("num_batches_tracked"), "{msg}");
    // A rejected file leaves the model untouched.
    assert!(vs.variables()["conv_stem.weight"].equal(&before));

    // The wrong architecture is refused as a whole (B4 file into B0).
    let err = load_safetensors_strict(&mut vs, &weights("efficientnet_b4")).unwrap_err();
    assert!(err.to_string().contains("mis-shaped"), "{err}");

    let err = load_safetensors_strict(&mut vs, &dir.path().join("absent.safetensors")).unwrap_err();
    assert!(
        matches!(err, Error::Weights(_)) && err.to_string().contains("absent.safetensors"),
        "{err}"
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let vs = nn::VarStore::new(Device::Cpu);
    let x = Xception::new(&(vs.root() / "x"));
    let e = EfficientNet::new(&(vs.root() / "e"), &EfficientNetConfig::b0());
    let run = |t: &Tensor, train: bool| -> Vec<String> {
        let a = tch::no_grad(|| x.forward_features(t, train))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        let b = tch::no_grad(|| e.forward_features(t, train))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        vec![a, b]
    };
    let f = (Kind::Float, Device::Cpu);
    for (t, train, want) in [
        (
            Tensor::zeros([3, 64, 64], f),
            false,
            "expected an image batch [B, 3, H, W]",
        ),
        (
            Tensor::zeros([1, 1, 64, 64], f),
            false,
            "expected 3 colour channels",
        ),
        (Tensor::zeros([0, 3, 64, 64], f), false, "empty batch"),
        (Tensor::zeros([1, 3, 16, 64], f), false, "too small"),
        (
            Tensor::zeros([1, 3, 64, 64], (Kind::Uint8, Device::Cpu)),
            false,
            "input is Uint8",
        ),
        (
            Tensor::zeros([1, 3, 32, 32], f),
            true,
            "one value per channel",
        ),
    ] {
        for msg in run(&t, train) {
            assert!(msg.contains(want), "{:?}: {msg}", t.size());
        }
    }
    // The smallest accepted input runs, in both modes where BatchNorm can.
    for net_out in [
        tch::no_grad(|| x.forward_features(&Tensor::zeros([1, 3, 32, 32], f), false)).unwrap(),
        tch::no_grad(|| e.forward_features(&Tensor::zeros([2, 3, 32, 32], f), true)).unwrap(),
    ] {
        assert_eq!(net_out.feature_map.size()[2..], [1, 1]);
    }
}
