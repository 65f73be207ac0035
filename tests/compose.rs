//! `verity models compose` (src/models/compose.rs) on random base checkpoints in the layouts the
//! hub installs (a Hugging Face CLIP vision tower, a timm EfficientNet-B0): the composed profile
//! references the bases by SHA-256, holds only the fusion/head tensors itself, is UNTRAINED,
//! loads strictly and scores, and a trainer can start from it; bad combinations are refused.
use std::collections::HashSet;
use std::path::Path;
use tch::{nn, Device, Tensor};
use verity::models::compose::{self, ComposeSpec, Head};
use verity::models::detector::{CnnKind, Detector, DetectorConfig, Variant, WeightRole};
use verity::models::profile::{load_profile, LoadedDetector};
use verity::models::weights::{read_header, sha256_file};
use verity::train::trainer::{TrainConfig, Trainer};

/// Random bases from the tiny fusion preset: `base/clip-tiny/model.safetensors` (HF CLIP names)
/// and `base/effnet-b0/model.safetensors` (timm names, without the detector's `cnn.` prefix).
fn random_bases(models: &Path) {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = DetectorConfig::preset("tiny").unwrap();
    assert_eq!(cfg.cnn, CnnKind::EfficientNetB0);
    let _d = Detector::new(&vs.root(), &cfg).unwrap();
    let mut clip = vec![];
    let mut cnn = vec![];
    for (n, t) in vs.variables() {
        if let Some(rest) = n.strip_prefix("cnn.") {
            cnn.push((rest.to_string(), t.detach()));
        } else if n.starts_with("vision_model.") || n.starts_with("visual_projection") {
            clip.push((n, t.detach()));
        }
    }
    assert!(!clip.is_empty() && !cnn.is_empty());
    for (dir, tensors) in [("clip-tiny", &clip), ("effnet-b0", &cnn)] {
        let d = models.join("base").join(dir);
        std::fs::create_dir_all(&d).unwrap();
        Tensor::write_safetensors(tensors, d.join("model.safetensors")).unwrap();
    }
}

fn spec(name: &str, cnn: Option<&str>, fusion: &str, head: Head) -> ComposeSpec {
    ComposeSpec {
        name: name.into(),
        clip: "clip-tiny".into(),
        cnn: cnn.map(Into::into),
        fusion: compose::fusion_mode(fusion, 0.3).unwrap(),
        head,
        seed: 1,
    }
}

#[test]
fn compose_fusion_and_gend_profiles_from_random_bases() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    random_bases(&models);

    // Seed head, weighted fusion of tiny CLIP and EfficientNet-B0.
    let p = compose::compose(
        &models,
        &spec("tiny-fused", Some("effnet-b0"), "weighted", Head::Seed),
    )
    .unwrap();
    assert_eq!(p.name, "tiny-fused-untrained");
    assert!(!p.trained);
    assert!(p.label().contains("UNTRAINED"));
    assert_eq!(
        (p.variant, p.cnn, p.clip.as_str()),
        (Variant::Fusion, CnnKind::EfficientNetB0, "tiny")
    );
    assert_eq!(p.fusion.to_string(), "weighted:0.3");
    let bases: Vec<(&str, WeightRole, &str)> = p
        .base_weights
        .iter()
        .map(|b| (b.model.as_str(), b.role, b.sha256.as_str()))
        .collect();
    let sha =
        |m: &str| sha256_file(&models.join("base").join(m).join("model.safetensors")).unwrap();
    let (clip_sha, cnn_sha) = (sha("clip-tiny"), sha("effnet-b0"));
    assert_eq!(
        bases,
        [
            ("clip-tiny", WeightRole::Clip, clip_sha.as_str()),
            ("effnet-b0", WeightRole::Cnn, cnn_sha.as_str())
        ]
    );
    // Its own file holds only what the bases lack: no CLIP or CNN tensor.
    let dir = models.join("profiles").join("tiny-fused-untrained");
    let own: HashSet<String> = read_header(&dir.join("model.safetensors"))
        .unwrap()
        .into_keys()
        .collect();
    assert!(!own.is_empty());
    assert!(
        own.iter()
            .all(|k| !k.starts_with("vision_model.") && !k.starts_with("cnn.")),
        "{own:?}"
    );
    // profile.toml round-trips; it loads strictly and scores (the base tensors came from disk).
    assert_eq!(load_profile(&dir).unwrap(), p);
    let det = LoadedDetector::load(&dir, Device::Cpu).unwrap();
    let face = image::RgbImage::from_fn(224, 224, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let s = det.score(&[&face]).unwrap();
    assert!(s[0].prob.is_finite() && (0.0..=1.0).contains(&s[0].prob));
    assert_eq!(det.weight_hashes().len(), 3);
    // A trainer starts from it (what `verity train --parent tiny-fused-untrained` does), and
    // what it saves counts as trained: its encoders are the installed bases, not random ones.
    let trainer = Trainer::new(
        &dir,
        &TrainConfig {
            batch_size: 2,
            ..TrainConfig::default()
        },
        Device::Cpu,
    )
    .unwrap();
    assert!(!trainer.parent().random_encoders());
    let child = trainer
        .save_profile(
            &models.join("profiles/tiny-fused-ft"),
            "tiny-fused-ft",
            "test",
            &serde_json::json!({}),
        )
        .unwrap();
    assert!(child.trained && child.name == "tiny-fused-ft");
    assert_eq!(child.base_weights.len(), 2);

    // GenD head on the CLIP alone.
    let g = compose::compose(
        &models,
        &spec("tiny-gend-composed", None, "concat", Head::Gend),
    )
    .unwrap();
    assert_eq!(
        (g.variant, g.cnn, g.trained),
        (Variant::GenD, CnnKind::None, false)
    );
    assert_eq!(g.base_weights.len(), 1);
    LoadedDetector::load(&models.join("profiles").join(&g.name), Device::Cpu).unwrap();

    // Refusals.
    let err = |s: ComposeSpec| compose::compose(&models, &s).unwrap_err().to_string();
    assert!(err(spec("x", Some("effnet-b0"), "concat", Head::Gend)).contains("leave out --cnn"));
    assert!(err(spec("x", None, "weighted", Head::Seed)).contains("needs a CNN"));
    assert!(err(spec(
        "tiny-fused",
        Some("effnet-b0"),
        "weighted",
        Head::Seed
    ))
    .contains("already installed"));
    let missing = ComposeSpec {
        clip: "clip-vit-large-patch14".into(),
        ..spec("y", None, "concat", Head::Seed)
    };
    assert!(err(missing).contains("verity models fetch clip-vit-large-patch14"));
    let swapped = ComposeSpec {
        clip: "effnet-b0".into(),
        ..spec("z", None, "concat", Head::Seed)
    };
    assert!(err(swapped).contains("not a Hugging Face CLIP checkpoint"));
    assert!(compose::fusion_mode("average", 0.5).is_err());
    assert!("linear".parse::<Head>().is_err());
    // Failed composes leave no folder behind.
    for n in ["x-untrained", "y-untrained", "z-untrained"] {
        assert!(!models.join("profiles").join(n).exists(), "{n}");
    }
}

/// The CLI wiring: `verity models compose` writes the profile, and `verity train --from-reviews`
/// from it (the app's retrain path) refuses readably on a store without decisions.
#[test]
fn cli_compose_then_train_from_reviews_refuses_without_decisions() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    random_bases(&models);
    let verity = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_verity"))
            .args(args)
            .arg("--data-dir")
            .arg(tmp.path().join("data"))
            .env("VERITY_MODELS_DIR", &models)
            .env("VERITY_CONFIG", tmp.path().join("none.toml"))
            .output()
            .unwrap()
    };
    let out = verity(&[
        "models",
        "compose",
        "--name",
        "cli-fused",
        "--clip",
        "clip-tiny",
        "--cnn",
        "effnet-b0",
        "--fusion",
        "slerp",
        "--alpha",
        "0.25",
        "--head",
        "seed",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("composed UNTRAINED profile 'cli-fused-untrained'"),
        "{text}"
    );
    let p = load_profile(&models.join("profiles/cli-fused-untrained")).unwrap();
    assert_eq!(p.fusion.to_string(), "slerp:0.25");

    let out = verity(&[
        "train",
        "--from-reviews",
        "--parent",
        "cli-fused-untrained",
        "--name",
        "cli-reviews",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("you have 0 fake and 0 real — review more cases"),
        "{err}"
    );
    assert!(!models.join("profiles/cli-reviews").exists());
}
