//! The training loop (src/train/trainer.rs) on the tiny detector configuration: LayerNorm-only
//! freezing leaves every other tensor bit-identical after a step, the head re-applied by the
//! trainer equals the detector's, and a short run on generated data (real = jittered astronaut
//! crops, fake = their self-blended versions) drives the loss down and the validation AUC above
//! 0.9; checkpoints resume, and the saved profile scores like the trained model.
mod common;

use image::RgbImage;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;
use tch::{Device, Tensor};
use verity::faces::align::{align_face, warp_similarity, AlignTemplate, Similarity};
use verity::faces::mtcnn::Mtcnn;
use verity::models::profile::create_random_profile;
use verity::train::dataset::{self, Dataset, DatasetConfig, Origin, Sample};
use verity::train::sbi::{self, SbiConfig};
use verity::train::trainer::{self, TrainConfig, Trainer};
use verity::train::Rng;

/// The astronaut's aligned face and its landmarks in the crop (224², GenD template).
fn base_face() -> &'static (RgbImage, [[f32; 2]; 5]) {
    static FACE: OnceLock<(RgbImage, [[f32; 2]; 5])> = OnceLock::new();
    FACE.get_or_init(|| {
        let photo = image::open(common::astronaut()).unwrap().to_rgb8();
        let m = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
        let det = m.detect(&[&photo]).unwrap().remove(0).remove(0);
        let a = align_face(&photo, &det.landmarks, &AlignTemplate::gend(), 224);
        let lm = det.landmarks.map(|p| a.transform.apply(p));
        (a.image, lm)
    })
}

/// `n` real crops (small random rotation/scale/shift and brightness) and one self-blended fake
/// of each, written as PNGs; identity = index % groups. The fakes' source copy is always
/// recoloured the same way (hue +10–16°, saturation ×1.15): a blend a tiny random-weight network
/// can learn to see within seconds, which is what a test of the loop needs (learning subtle
/// SBI traces takes pretrained CLIP and real data).
fn make_samples(dir: &Path, n: usize, groups: usize, seed: u64) -> Vec<Sample> {
    std::fs::create_dir_all(dir).unwrap();
    let (face, lm) = base_face();
    let mut rng = Rng::new(seed);
    let sbi_cfg = SbiConfig {
        blend_choices: vec![1.0],
        ..SbiConfig::default()
    };
    let mut out = vec![];
    for i in 0..n {
        let deg = rng.range(-8.0, 8.0) as f32;
        let s = rng.range(0.92, 1.08) as f32;
        let (c, sn) = (s * deg.to_radians().cos(), s * deg.to_radians().sin());
        let (dx, dy) = (rng.range(-6.0, 6.0) as f32, rng.range(-6.0, 6.0) as f32);
        let t = Similarity {
            a: c,
            b: sn,
            tx: 112.0 - c * 112.0 + sn * 112.0 + dx,
            ty: 112.0 - sn * 112.0 - c * 112.0 + dy,
        };
        let mut real = warp_similarity(face, &t, 224, 224);
        let gain = rng.range(0.85, 1.15) as f32;
        for p in real.pixels_mut() {
            p.0 =
                p.0.map(|v| (v as f32 * gain).round().clamp(0.0, 255.0) as u8);
        }
        let rlm = lm.map(|p| t.apply(p));
        let mut params = sbi_cfg.draw(seed * 1000 + i as u64, sbi::face_size(&rlm));
        params.hue_deg = rng.range(10.0, 16.0) as f32;
        params.saturation = 1.15;
        let fake = sbi::self_blend_with(&real, &rlm, &params).unwrap();
        let identity = format!("id{}", i % groups);
        let rp = dir.join(format!("real{i}.png"));
        let fp = dir.join(format!("fake{i}.png"));
        real.save(&rp).unwrap();
        fake.image.save(&fp).unwrap();
        out.push(Sample {
            crop: rp.clone(),
            fake: false,
            identity: identity.clone(),
            source: "real".into(),
            landmarks: rlm,
            origin: Origin::File {
                path: rp,
                sha256: String::new(),
                frame: None,
            },
        });
        out.push(Sample {
            crop: fp.clone(),
            fake: true,
            identity,
            source: "sbi".into(),
            landmarks: rlm,
            origin: Origin::Sbi {
                from: dir.join(format!("real{i}.png")),
                params: fake.params,
            },
        });
    }
    out
}

fn tiny_profile(dir: &Path, preset: &str) -> PathBuf {
    let p = dir.join(format!("{preset}-untrained"));
    create_random_profile(&p, preset, 7).unwrap();
    p
}

fn bits(t: &Tensor) -> Vec<u8> {
    let t = t.to_device(Device::Cpu).contiguous();
    let mut v = vec![0u8; t.numel() * t.kind().elt_size_in_bytes()];
    t.copy_data_u8(&mut v, t.numel());
    v
}

#[test]
fn ln_only_step_leaves_every_other_tensor_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = make_samples(&tmp.path().join("crops"), 4, 2, 1);
    let profile = tiny_profile(tmp.path(), "tiny");
    for train_cnn in [false, true] {
        let cfg = TrainConfig {
            batch_size: 8,
            lr: 1e-2,
            train_cnn,
            ..TrainConfig::default()
        };
        let mut t = Trainer::new(&profile, &cfg, Device::Cpu).unwrap();
        let before: Vec<(String, Vec<u8>)> = {
            let mut v: Vec<_> = t
                .variables()
                .into_iter()
                .map(|(k, x)| (k, bits(&x)))
                .collect();
            v.sort();
            v
        };
        let batch: Vec<&Sample> = samples.iter().collect();
        let log = t.step(&batch, 1e-2, &mut Rng::new(3)).unwrap();
        assert!(log.applied && log.loss.is_finite());
        let trainable: std::collections::HashSet<&str> =
            t.trainable_names().iter().map(String::as_str).collect();
        let after = t.variables();
        let (mut changed, mut same_trainable) = (vec![], vec![]);
        for (name, b) in &before {
            let now = bits(&after[name]);
            if trainable.contains(name.as_str()) {
                if &now == b {
                    same_trainable.push(name.clone());
                } else {
                    changed.push(name.clone());
                }
            } else {
                assert_eq!(
                    &now, b,
                    "frozen tensor {name} changed (train_cnn {train_cnn})"
                );
            }
        }
        // What is trainable: LayerNorm γ/β of CLIP, fusion, head, and the CNN only when asked.
        for name in &trainable {
            let ln = verity::models::clip::is_layer_norm_name(name);
            let ok = ln
                || name.starts_with("fusion.")
                || name.starts_with("head.")
                || (train_cnn && name.starts_with("cnn."));
            assert!(ok, "{name} should not be trainable (train_cnn {train_cnn})");
        }
        assert!(trainable.iter().any(|n| n.contains("layer_norm1")));
        assert!(!trainable.iter().any(|n| n.contains("self_attn")));
        assert_eq!(trainable.iter().any(|n| n.starts_with("cnn.")), train_cnn);
        // Every trainable tensor moved (an AdamW step moves each parameter with a gradient).
        assert!(
            changed.iter().any(|n| n.contains("layer_norm")),
            "{changed:?}"
        );
        assert!(
            same_trainable.is_empty()
                || same_trainable
                    .iter()
                    .all(|n| n.ends_with("running_var") || n.ends_with("running_mean")),
            "unchanged trainable: {same_trainable:?}"
        );
        let pc = t.param_count();
        println!(
            "train_cnn {train_cnn}: {} of {} parameters trainable ({:.2} %), {} tensors changed",
            pc.trainable,
            pc.total,
            pc.percent,
            changed.len()
        );
        assert!(pc.trainable < pc.total);
    }
}

#[test]
fn trainer_head_equals_the_detector_head() {
    let tmp = tempfile::tempdir().unwrap();
    let samples = make_samples(&tmp.path().join("crops"), 2, 1, 2);
    for preset in ["tiny", "tiny-gend"] {
        let profile = tiny_profile(tmp.path(), preset);
        let t = Trainer::new(
            &profile,
            &TrainConfig {
                batch_size: 4,
                ..TrainConfig::default()
            },
            Device::Cpu,
        )
        .unwrap();
        let crops: Vec<RgbImage> = samples
            .iter()
            .map(|s| dataset::load_crop(s, 224).unwrap())
            .collect();
        let refs: Vec<&RgbImage> = crops.iter().collect();
        use verity::faces::align::{to_tensor, CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD};
        let clip = to_tensor(&refs, CLIP_MEAN, CLIP_STD).unwrap();
        let cnn = t
            .detector()
            .has_cnn()
            .then(|| to_tensor(&refs, IMAGENET_MEAN, IMAGENET_STD).unwrap());
        let out = tch::no_grad(|| t.detector().forward(&clip, cnn.as_ref(), false)).unwrap();
        let mine = tch::no_grad(|| t.head_logits(&out.fused, false)).unwrap();
        let d = common::max_abs_diff(&mine, &out.logit);
        assert!(d < 1e-6, "{preset}: head mismatch {d}");
        // Evaluation scores every sample, and stops at a batch boundary when cancelled.
        let (scores, _) = t.evaluate(&samples, &AtomicBool::new(false)).unwrap();
        assert_eq!(scores.len(), samples.len());
        let err = t.evaluate(&samples, &AtomicBool::new(true)).unwrap_err();
        assert!(matches!(err, verity::Error::Cancelled), "{err}");
    }
}

fn run(profile: &Path, data: &Dataset, out: &Path, tc: &TrainConfig) -> trainer::TrainSummary {
    let no = AtomicBool::new(false);
    trainer::train(
        profile,
        data,
        out,
        "tiny-gend-test",
        tc,
        Device::Cpu,
        &|p| {
            if let trainer::TrainProgress::EpochDone(e) = p {
                println!("{}", serde_json::to_string(e).unwrap())
            }
        },
        &no,
    )
    .unwrap()
}

#[test]
fn tiny_training_run_learns_resumes_and_saves_a_profile() {
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let samples = make_samples(&tmp.path().join("crops"), 40, 8, 3);
    let mut cfg = DatasetConfig::new(AlignTemplate::gend(), tmp.path().join("cache"));
    cfg.val_fraction = 0.25;
    let (train_s, val_s) = dataset::split(samples, &cfg);
    let data = Dataset {
        train: train_s,
        val: val_s,
        ..Default::default()
    };
    println!(
        "train {:?}, val {:?}",
        Dataset::count(&data.train),
        Dataset::count(&data.val)
    );
    let profile = tiny_profile(tmp.path(), "tiny-gend");
    let tc = TrainConfig {
        epochs: 8,
        batch_size: 16,
        lr: 3e-2,
        min_lr: 1e-4,
        seed: 5,
        ..TrainConfig::default()
    };
    let out = tmp.path().join("run");
    let s = run(&profile, &data, &out, &tc);
    println!("{:.1} s", started.elapsed().as_secs_f64());
    let first = s.epochs.first().unwrap().loss;
    let last = s.epochs.last().unwrap().loss;
    let before = s.val_before.as_ref().unwrap().auc.unwrap();
    let auc = s.val_after.as_ref().unwrap().auc.unwrap();
    println!(
        "loss {first:.4} → {last:.4}; val AUC {before:.4} → {auc:.4}; {:?}",
        s.params
    );
    // Learning, not luck: the random network ranks the validation faces poorly, the tuned one
    // well. (The loss falls only a little: random tiny features separate the classes by small
    // margins, so the logits stay small within 32 steps, though their order is right.)
    assert!(
        before < 0.8,
        "the untrained network already separates the data (AUC {before})"
    );
    assert!(auc > 0.9, "validation AUC {auc}");
    assert!(
        last < first && last < std::f64::consts::LN_2,
        "loss did not go down: {first} → {last}"
    );
    assert!(
        s.params.percent < 5.0,
        "LN-only tuning trains a small share: {:?}",
        s.params
    );

    // Outputs: one log line per epoch, metrics and report, dataset manifest, the profile.
    let log = std::fs::read_to_string(out.join("train_log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 8);
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(m["after"]["auc"].as_f64().unwrap(), auc);
    assert_eq!(m["before"]["auc"].as_f64().unwrap(), before);
    assert!(std::fs::read_to_string(out.join("report.html"))
        .unwrap()
        .contains("<svg"));
    assert!(out.join("dataset.json").is_file());

    // The saved profile loads through the inference path and scores as the trained model did.
    let (scores, report) = trainer::evaluate_profile(
        &s.profile_dir,
        &data.val,
        &tc.thresholds,
        Device::Cpu,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(scores.len(), data.val.len());
    assert!(
        (report.auc.unwrap() - auc).abs() < 1e-9,
        "{:?} vs {auc}",
        report.auc
    );
    let p = verity::models::profile::load_profile(&s.profile_dir).unwrap();
    // The parent's encoders are random, so the child stays labelled untrained.
    assert!(
        !p.trained && p.name == "tiny-gend-test-untrained",
        "{} {}",
        p.name,
        p.trained
    );
    assert!(
        p.description.starts_with("UNTRAINED encoders"),
        "{}",
        p.description
    );
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.profile_dir.join("training.json")).unwrap())
            .unwrap();
    assert_eq!(prov["parent"], "tiny-gend-untrained");
    assert_eq!(prov["epochs"], 8);

    // Resume: 2 epochs in one go equal 1 epoch, stop, then 1 more (bit for bit on the CPU).
    let short = TrainConfig {
        epochs: 2,
        eval_before: false,
        ..tc.clone()
    };
    let a = run(&profile, &data, &tmp.path().join("a"), &short);
    // Interrupted after the first epoch (its checkpoint is written), then run again.
    let stop = AtomicBool::new(false);
    let err = trainer::train(
        &profile,
        &data,
        &tmp.path().join("b"),
        "tiny-gend-test",
        &short,
        Device::Cpu,
        &|p| {
            if matches!(p, trainer::TrainProgress::EpochDone(e) if e.epoch == 1) {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        },
        &stop,
    )
    .unwrap_err();
    assert!(matches!(err, verity::Error::Cancelled), "{err}");
    let b = run(&profile, &data, &tmp.path().join("b"), &short);
    assert_eq!(b.resumed_at_epoch, Some(1));
    assert_eq!(b.epochs.len(), 1);
    let wa = common::read_safetensors(&a.profile_dir.join("model.safetensors"));
    let wb = common::read_safetensors(&b.profile_dir.join("model.safetensors"));
    assert_eq!(wa.len(), wb.len());
    for (k, t) in &wa {
        assert_eq!(bits(t), bits(&wb[k]), "{k} differs after resuming");
    }
    assert_eq!(a.epochs[1].loss, b.epochs[0].loss);
    // A checkpoint of other settings is refused.
    let other = TrainConfig { lr: 1e-3, ..short };
    let err = trainer::train(
        &profile,
        &data,
        &tmp.path().join("b"),
        "x",
        &other,
        Device::Cpu,
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap_err();
    assert!(err.to_string().contains("other training settings"), "{err}");
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn image_text_loss_uses_clip_prompt_embeddings() {
    use verity::models::clip::{ClipConfig, ClipText};
    use verity::models::tokenizer::ClipTokenizer;
    use verity::train::losses::{LossConfig, LossWeights};
    let tmp = tempfile::tempdir().unwrap();
    let samples = make_samples(&tmp.path().join("crops"), 2, 2, 4);
    let batch: Vec<&Sample> = samples.iter().collect();
    // A (random) CLIP text tower of the same tiny CLIP the detector uses.
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let cc = ClipConfig::tiny();
    let text = ClipText::new(&vs.root(), &cc.text, Some(cc.projection_dim));
    let tok = ClipTokenizer::from_default_path().unwrap();
    let prompts = trainer::prompt_embeddings(&text, &tok, Device::Cpu).unwrap();
    assert_eq!(prompts.size(), [2, cc.projection_dim]);

    let losses = LossConfig {
        weights: LossWeights {
            image_text: 0.5,
            ..LossWeights::default()
        },
        ..LossConfig::default()
    };
    let tc = TrainConfig {
        batch_size: 4,
        losses,
        ..TrainConfig::default()
    };
    let profile = tiny_profile(tmp.path(), "tiny");
    let mut t = Trainer::new(&profile, &tc, Device::Cpu).unwrap();
    let err = t.step(&batch, 1e-3, &mut Rng::new(1)).unwrap_err();
    assert!(err.to_string().contains("text-prompt"), "{err}");
    assert!(t.set_text_embeddings(&prompts.narrow(1, 0, 8)).is_err());
    t.set_text_embeddings(&prompts).unwrap();
    let log = t.step(&batch, 1e-3, &mut Rng::new(1)).unwrap();
    let it = log.parts["image_text"];
    assert!(it.is_finite() && it > 0.0, "{:?}", log.parts);
    assert!(log.parts.contains_key("bce") && log.parts.contains_key("uniformity"));
    // GenD's layout has no projected CLIP embedding to compare with the prompts.
    let gend = tiny_profile(tmp.path(), "tiny-gend");
    let err = Trainer::new(&gend, &tc, Device::Cpu)
        .err()
        .expect("GenD with image-text loss");
    assert!(err.to_string().contains("image–text"), "{err}");
}
