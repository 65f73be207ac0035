//! The detector against PyTorch (transformers CLIP + timm EfficientNet-B0 + fusion/head re-done in
//! torch, and GenD's layout), its weight roles, profiles and the fusion maths.
mod common;

use image::RgbImage;
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};
use verity::models::clip::ClipConfig;
use verity::models::detector::{
    load_detector_weights, CnnKind, Detector, DetectorConfig, WeightRole,
};
use verity::models::fusion::{slerp, Fusion, FusionMode};
use verity::models::head::Head;
use verity::models::profile::{create_random_profile, load_profile, LoadedDetector};
use verity::models::weights::sha256_file;
use verity::Error;

const TOL: f64 = 1e-4;

fn fixtures() -> PathBuf {
    common::fixtures("detector_ref", "", &[])
}

fn case_config(case: &str) -> DetectorConfig {
    let tiny = ClipConfig::tiny();
    let fusion = |mode| DetectorConfig::fusion(&tiny, CnnKind::EfficientNetB0, mode, 64, 32);
    match case {
        "concat" => fusion(FusionMode::Concat),
        "weighted" => fusion(FusionMode::Weighted { alpha: 0.3 }),
        "slerp" => fusion(FusionMode::Slerp { t: 0.7 }),
        "gend_linear" => DetectorConfig::gend(&tiny, false),
        "gend_norm" => DetectorConfig::gend(&tiny, true),
        _ => unreachable!(),
    }
}

const CASES: [&str; 5] = ["concat", "weighted", "slerp", "gend_linear", "gend_norm"];

/// Builds the case's detector and loads `files`.
fn build(case: &str, files: &[(&Path, WeightRole)]) -> verity::Result<(nn::VarStore, Detector)> {
    let cfg = case_config(case);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let det = Detector::new(&vs.root(), &cfg)?;
    load_detector_weights(&mut vs, &cfg, files)?;
    Ok((vs, det))
}

/// Runs the detector on the fixture inputs and returns max |Δ| per output against PyTorch.
fn compare(case: &str, det: &Detector) -> Vec<(&'static str, f64)> {
    let dir = fixtures();
    let inputs = common::read_safetensors(&dir.join("inputs.safetensors"));
    let expected = common::read_safetensors(&dir.join(case).join("expected.safetensors"));
    let cnn = det.has_cnn().then(|| &inputs["cnn_pixels"]);
    let out = tch::no_grad(|| det.forward(&inputs["clip_pixels"], cnn, false)).unwrap();
    let mut diffs = vec![
        ("prob", common::max_abs_diff(&out.prob, &expected["prob"])),
        (
            "logit",
            common::max_abs_diff(&out.logit, &expected["logit"]),
        ),
        (
            "clip_emb",
            common::max_abs_diff(&out.clip_emb, &expected["clip_emb"]),
        ),
        (
            "fused",
            common::max_abs_diff(&out.fused, &expected["fused"]),
        ),
    ];
    match (&out.cnn_emb, expected.get("cnn_emb")) {
        (Some(a), Some(b)) => diffs.push(("cnn_emb", common::max_abs_diff(a, b))),
        (None, None) => {}
        _ => panic!("{case}: CNN embedding present on one side only"),
    }
    diffs
}

fn assert_close(case: &str, diffs: &[(&str, f64)]) {
    println!(
        "{case}: {}",
        diffs
            .iter()
            .map(|(n, d)| format!("{n} {d:.2e}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, d) in diffs {
        assert!(
            *d <= TOL,
            "{case}: {name} differs from PyTorch by {d:e} (> {TOL:e})"
        );
    }
}

#[test]
fn every_fusion_mode_and_gend_match_pytorch() {
    let dir = fixtures();
    for case in CASES {
        let t = std::time::Instant::now();
        let weights = dir.join(case).join("weights.safetensors");
        let (_vs, det) = build(case, &[(&weights, WeightRole::Model)]).unwrap();
        assert_close(case, &compare(case, &det));
        println!(
            "{case}: built, loaded and ran in {:.2}s",
            t.elapsed().as_secs_f64()
        );
    }
}

#[test]
fn fusion_detector_loads_from_clip_and_timm_base_files() {
    // HF CLIP names for the tower, timm names for the CNN (with num_batches_tracked), our names
    // for fusion and head: the layout of a fusion profile built on downloaded bases.
    let d = fixtures().join("weighted");
    let files = [
        (d.join("clip.safetensors"), WeightRole::Clip),
        (d.join("cnn.safetensors"), WeightRole::Cnn),
        (d.join("rest.safetensors"), WeightRole::Model),
    ];
    let refs: Vec<(&Path, WeightRole)> = files.iter().map(|(p, r)| (p.as_path(), *r)).collect();
    let (_vs, det) = build("weighted", &refs).unwrap();
    assert_close("weighted from bases", &compare("weighted", &det));

    // Without the CNN file every cnn.* variable is reported missing, by name.
    let err = build("weighted", &[refs[0], refs[2]]).unwrap_err();
    let Error::Weights(msg) = err else {
        panic!("expected a weights error, got {err:?}")
    };
    assert!(msg.contains("0 unexpected, 0 mis-shaped"), "{msg}");
    assert!(
        msg.contains("missing (in the model, not in the file)")
            && msg.contains("cnn.blocks.0.0.conv_dw.weight"),
        "{msg}"
    );
    // The timm file given as a model file: its names lack the cnn. prefix.
    let err = build(
        "weighted",
        &[refs[0], (refs[1].0, WeightRole::Model), refs[2]],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("unexpected (in the file, not in the model)"),
        "{err}"
    );
}

#[test]
fn model_file_overrides_a_clip_base_and_gend_reads_hf_names() {
    // A GenD detector built from an HF-named CLIP file (feature_extractor. prefix added by the
    // Clip role) plus a model file holding the head and one overridden LayerNorm.
    let dir = tempfile::tempdir().unwrap();
    let full = common::read_safetensors(&fixtures().join("gend_norm/weights.safetensors"));
    let clip: Vec<(String, Tensor)> = full
        .iter()
        .filter_map(|(k, v)| {
            let v = if k.ends_with("post_layernorm.weight") {
                v.zeros_like()
            } else {
                v.shallow_clone()
            };
            k.strip_prefix("feature_extractor.")
                .map(|s| (s.to_string(), v))
        })
        .collect();
    let model: Vec<(String, Tensor)> = full
        .iter()
        .filter(|(k, _)| k.starts_with("model.") || k.ends_with("post_layernorm.weight"))
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    let (fc, fm) = (
        dir.path().join("clip.safetensors"),
        dir.path().join("model.safetensors"),
    );
    Tensor::write_safetensors(&clip, &fc).unwrap();
    Tensor::write_safetensors(&model, &fm).unwrap();
    let (_vs, det) = build(
        "gend_norm",
        &[(&fc, WeightRole::Clip), (&fm, WeightRole::Model)],
    )
    .unwrap();
    // The zeroed post-LayerNorm weight of the base was replaced by the model file's.
    assert_close("gend_norm from a CLIP base", &compare("gend_norm", &det));
}

fn fixture_faces() -> Vec<RgbImage> {
    let inputs = common::read_safetensors(&fixtures().join("inputs.safetensors"));
    let faces = &inputs["faces_u8"];
    let (b, h, w) = (
        faces.size()[0],
        faces.size()[1] as u32,
        faces.size()[2] as u32,
    );
    (0..b)
        .map(|i| {
            let data = Vec::<u8>::try_from(faces.get(i).flatten(0, -1)).unwrap();
            RgbImage::from_raw(w, h, data).unwrap()
        })
        .collect()
}

/// Writes a profile folder for a fixture case.
fn write_profile(dir: &Path, case: &str, extra: &str) -> String {
    let weights = fixtures().join(case).join("weights.safetensors");
    std::fs::copy(&weights, dir.join("weights.safetensors")).unwrap();
    let sha = sha256_file(&weights).unwrap();
    let body = if case.starts_with("gend") {
        format!(
            "variant = \"gend\"\ncnn = \"none\"\ngend_head_norm = {}\n",
            case == "gend_norm"
        )
    } else {
        let c = case_config(case);
        format!(
            "variant = \"fusion\"\ncnn = \"efficientnet-b0\"\nfusion = \"{}\"\nfusion_dim = 64\nhead_hidden = 32\ndropout = 0.1\n",
            c.fusion
        )
    };
    let toml = format!(
        "name = \"{case}-test\"\ntrained = true\nclip = \"tiny\"\n{body}{extra}\n\
         [preprocessing]\ntemplate = \"gend\"\ncontext_scale = 1.3\nsize = 224\n\n\
         [[weights]]\nfile = \"weights.safetensors\"\nsha256 = \"{sha}\"\nrole = \"model\"\n"
    );
    std::fs::write(dir.join("profile.toml"), toml).unwrap();
    sha
}

#[test]
fn loaded_profile_scores_raw_faces_like_pytorch() {
    let faces = fixture_faces();
    let refs: Vec<&RgbImage> = faces.iter().collect();
    for case in ["slerp", "gend_linear"] {
        let dir = tempfile::tempdir().unwrap();
        let sha = write_profile(dir.path(), case, "");
        let det = LoadedDetector::load(dir.path(), Device::Cpu).unwrap();
        assert_eq!(
            det.weight_hashes(),
            vec![("weights.safetensors".to_string(), sha)]
        );
        assert_eq!(det.profile().name, format!("{case}-test"));
        assert_eq!(det.profile().label(), format!("{case}-test"));
        let scores = det.score(&refs).unwrap();
        let expected =
            common::read_safetensors(&fixtures().join(case).join("expected.safetensors"));
        assert_eq!(scores.len(), faces.len());
        let prob = Tensor::from_slice(&scores.iter().map(|s| s.prob).collect::<Vec<f32>>());
        let clip: Vec<f32> = scores.iter().flat_map(|s| s.clip_emb.clone()).collect();
        let clip = Tensor::from_slice(&clip).view([faces.len() as i64, -1]);
        let mut diffs = vec![
            ("prob", common::max_abs_diff(&prob, &expected["prob"])),
            (
                "clip_emb",
                common::max_abs_diff(&clip, &expected["clip_emb"]),
            ),
        ];
        if let Some(e) = expected.get("cnn_emb") {
            let cnn: Vec<f32> = scores
                .iter()
                .flat_map(|s| s.cnn_emb.clone().unwrap())
                .collect();
            diffs.push((
                "cnn_emb",
                common::max_abs_diff(&Tensor::from_slice(&cnn).view([faces.len() as i64, -1]), e),
            ));
        } else {
            assert!(scores.iter().all(|s| s.cnn_emb.is_none()));
        }
        // u8 faces → (x/255 − mean)/std inside `score`, with CLIP's statistics for CLIP and
        // ImageNet's for the CNN, as the Python side did.
        assert_close(&format!("{case} profile"), &diffs);
        assert!(det.score(&[]).unwrap().is_empty());
        let small = RgbImage::new(112, 112);
        let err = det.score(&[&small]).unwrap_err();
        assert!(err.to_string().contains("aligned 224×224 faces"), "{err}");
    }
}

#[test]
fn tampered_weights_and_bad_profiles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_profile(dir.path(), "gend_linear", "");
    let w = dir.path().join("weights.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x40;
    std::fs::write(&w, bytes).unwrap();
    let err = LoadedDetector::load(dir.path(), Device::Cpu).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Weights(_)) && msg.contains("SHA-256") && msg.contains("reinstall"),
        "{msg}"
    );

    // An untrained profile must say so in its name, and a trained one must not.
    let dir = tempfile::tempdir().unwrap();
    write_profile(dir.path(), "gend_linear", "");
    let toml = std::fs::read_to_string(dir.path().join("profile.toml")).unwrap();
    std::fs::write(
        dir.path().join("profile.toml"),
        toml.replace("trained = true", "trained = false"),
    )
    .unwrap();
    let msg = load_profile(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("must end in \"-untrained\""), "{msg}");

    // Configuration errors read as such.
    let dir = tempfile::tempdir().unwrap();
    write_profile(dir.path(), "gend_linear", "fusion = \"slerp:2\"\n");
    let msg = load_profile(dir.path()).unwrap_err().to_string();
    assert!(msg.contains("must be a number in [0, 1]"), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("profile.toml"), "name = \"x\"\n").unwrap();
    let msg = load_profile(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("not a valid model profile") && msg.contains("profile.toml"),
        "{msg}"
    );
    let msg = LoadedDetector::load(&dir.path().join("nowhere"), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cannot read the model profile"), "{msg}");
}

#[test]
fn random_profiles_are_labelled_untrained_and_reproducible() {
    let root = tempfile::tempdir().unwrap();
    let a = create_random_profile(&root.path().join("a"), "tiny", 7).unwrap();
    let b = create_random_profile(&root.path().join("b"), "tiny", 7).unwrap();
    let c = create_random_profile(&root.path().join("c"), "tiny", 8).unwrap();
    assert_eq!(a.name, "tiny-untrained");
    assert!(!a.trained);
    assert!(a.label().contains("UNTRAINED"), "{}", a.label());
    assert_eq!(
        a.weights[0].sha256, b.weights[0].sha256,
        "same seed, same weights"
    );
    assert_ne!(
        a.weights[0].sha256, c.weights[0].sha256,
        "another seed, other weights"
    );

    let det = LoadedDetector::load(&root.path().join("a"), Device::Cpu).unwrap();
    assert!(!det.profile().trained);
    let faces = fixture_faces();
    let scores = det.score(&faces.iter().collect::<Vec<_>>()).unwrap();
    assert_eq!(scores.len(), faces.len());
    for s in &scores {
        assert!(s.prob > 0.0 && s.prob < 1.0 && s.prob.is_finite());
        assert_eq!(s.clip_emb.len(), 32);
        assert_eq!(s.cnn_emb.as_ref().map(Vec::len), Some(1280));
    }
    let g = create_random_profile(&root.path().join("g"), "tiny-gend", 1).unwrap();
    assert_eq!(g.name, "tiny-gend-untrained");
    let det = LoadedDetector::load(&root.path().join("g"), Device::Cpu).unwrap();
    assert_eq!(det.score(&[&faces[0]]).unwrap()[0].clip_emb.len(), 64);

    let err = create_random_profile(&root.path().join("x"), "huge", 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("unknown detector configuration \"huge\""),
        "{err}"
    );
}

#[test]
fn detector_inputs_and_configs_are_checked() {
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = case_config("concat");
    let det = Detector::new(&vs.root(), &cfg).unwrap();
    let x = Tensor::zeros([2, 3, 224, 224], (Kind::Float, Device::Cpu));
    let msg = det.forward(&x, None, false).unwrap_err().to_string();
    assert!(
        msg.contains("has a CNN: its input") && msg.contains("is missing"),
        "{msg}"
    );
    let odd = Tensor::zeros([1, 3, 224, 224], (Kind::Float, Device::Cpu));
    let msg = det.forward(&x, Some(&odd), false).unwrap_err().to_string();
    assert!(msg.contains("[2, 3, H, W]"), "{msg}");
    let out = tch::no_grad(|| det.forward(&x, Some(&x), false)).unwrap();
    assert_eq!(out.prob.size(), vec![2]);
    assert_eq!(out.fused.size(), vec![2, 32 + 1280]);
    assert_eq!(out.cnn_feature_map.unwrap().size(), vec![2, 1280, 7, 7]);

    let mut gend_cnn = DetectorConfig::gend(&ClipConfig::tiny(), false);
    gend_cnn.cnn = CnnKind::Xception;
    assert!(matches!(
        Detector::new(&vs.root(), &gend_cnn),
        Err(Error::Config(_))
    ));
    let slerp_no_cnn = DetectorConfig::fusion(
        &ClipConfig::tiny(),
        CnnKind::None,
        FusionMode::Slerp { t: 0.5 },
        16,
        8,
    );
    let msg = Detector::new(&vs.root(), &slerp_no_cnn)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("needs a CNN"), "{msg}");
    // CLIP alone + concat passes the CLIP embedding straight to the head.
    let vs2 = nn::VarStore::new(Device::Cpu);
    let clip_only =
        DetectorConfig::fusion(&ClipConfig::tiny(), CnnKind::None, FusionMode::Concat, 0, 8);
    let det = Detector::new(&vs2.root(), &clip_only).unwrap();
    let out = tch::no_grad(|| det.forward(&x, None, false)).unwrap();
    assert!(out.fused.equal(&out.clip_emb));
    assert!(det.forward(&x, Some(&x), false).is_err());
}

#[test]
fn fusion_modes_parse_print_and_serialise() {
    for (text, mode) in [
        ("concat", FusionMode::Concat),
        ("weighted:0.5", FusionMode::Weighted { alpha: 0.5 }),
        ("slerp:0.25", FusionMode::Slerp { t: 0.25 }),
        (" Weighted : 1 ", FusionMode::Weighted { alpha: 1.0 }),
    ] {
        let parsed: FusionMode = text.parse().unwrap();
        assert_eq!(parsed, mode, "{text}");
        assert_eq!(parsed.to_string().parse::<FusionMode>().unwrap(), mode);
    }
    assert_eq!(FusionMode::Slerp { t: 0.25 }.to_string(), "slerp:0.25");
    for (bad, says) in [
        ("weighted", "needs a weight α"),
        ("slerp:1.5", "must be a number in [0, 1]"),
        ("slerp:abc", "must be a number in [0, 1]"),
        ("concat:0.2", "takes no parameter"),
        ("average", "unknown fusion mode"),
    ] {
        let msg = bad.parse::<FusionMode>().unwrap_err().to_string();
        assert!(msg.contains(says), "{bad}: {msg}");
    }
    let json = serde_json::to_string(&FusionMode::Weighted { alpha: 0.3 }).unwrap();
    assert_eq!(json, "\"weighted:0.3\"");
    assert_eq!(
        serde_json::from_str::<FusionMode>(&json).unwrap(),
        FusionMode::Weighted { alpha: 0.3 }
    );
    assert!(serde_json::from_str::<FusionMode>("\"weighted:7\"").is_err());
}

#[test]
fn slerp_interpolates_on_the_sphere_and_falls_back_to_lerp_when_parallel() {
    let opts = (Kind::Float, Device::Cpu);
    let a = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0, 0.0, 0.0]).view([2, 3]);
    // Row 0: orthogonal; row 1: identical to a (the 0/0 case).
    let b = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 1.0, 0.0, 0.0])
        .view([2, 3])
        .set_requires_grad(true);
    let mid = slerp(&a, &b, 0.5);
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let want = Tensor::from_slice(&[h, h, 0.0, 1.0, 0.0, 0.0]).view([2, 3]);
    assert!(common::max_abs_diff(&mid, &want) < 1e-6, "{mid}");
    // Gradients stay finite through the fallback rows.
    mid.sum(Kind::Float).backward();
    assert!(
        b.grad().isfinite().all().int64_value(&[]) == 1,
        "{}",
        b.grad()
    );
    let b = b.detach();
    assert!(common::max_abs_diff(&slerp(&a, &b, 0.0), &a) < 1e-6);
    assert!(common::max_abs_diff(&slerp(&a, &b, 1.0), &b) < 1e-6);
    // Unit vectors stay unit vectors (lerp would shrink the orthogonal midpoint to 0.707).
    let r = Tensor::randn([16, 8], opts);
    let s = Tensor::randn([16, 8], opts);
    let (r, s) = (
        &r / r.norm_scalaropt_dim(2, [1].as_slice(), true),
        &s / s.norm_scalaropt_dim(2, [1].as_slice(), true),
    );
    let norms = slerp(&r, &s, 0.3).norm_scalaropt_dim(2, [1].as_slice(), false);
    assert!(
        common::max_abs_diff(&norms, &norms.ones_like()) < 1e-5,
        "{norms}"
    );
    // Antiparallel rows take the fallback too instead of producing NaN.
    assert!(slerp(&a, &(-&a), 0.3).isfinite().all().int64_value(&[]) == 1);
}

#[test]
fn fusion_widths_and_head_dropout_follow_the_config() {
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let f = Fusion::new(&root, FusionMode::Concat, 8, 5, 99).unwrap();
    assert_eq!(f.out_dim(), 13);
    let f = Fusion::new(&(&root / "w"), FusionMode::Weighted { alpha: 0.2 }, 8, 5, 6).unwrap();
    assert_eq!(f.out_dim(), 6);
    let names: Vec<String> = vs.variables().into_keys().collect();
    assert!(
        names.contains(&"w.fusion.cnn_proj.weight".to_string()),
        "{names:?}"
    );
    let clip = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
    assert!(f.forward(&clip, None).is_err());
    let msg = f.forward(&clip, Some(&clip)).unwrap_err().to_string();
    assert!(msg.contains("CNN embedding must be [batch, 5]"), "{msg}");

    let head = Head::new(&root, 6, 16, 0.5).unwrap();
    let x = Tensor::randn([64, 6], (Kind::Float, Device::Cpu));
    let eval1 = head.forward(&x, false).unwrap();
    let eval2 = head.forward(&x, false).unwrap();
    assert!(eval1.prob.equal(&eval2.prob), "eval is deterministic");
    assert!(common::max_abs_diff(&eval1.prob, &eval1.logit.sigmoid()) < 1e-7);
    let train = head.forward(&x, true).unwrap();
    assert!(
        !train.logit.equal(&eval1.logit),
        "dropout is active in training"
    );
    assert!(Head::new(&root, 6, 16, 1.0).is_err());
}

#[test]
fn profile_on_base_checkpoints_loads_them_from_the_models_folder() {
    // <models>/base/<model>/<file> for the frozen bases, the profile's own file for the rest.
    let models = tempfile::tempdir().unwrap();
    let src = fixtures().join("weighted");
    let (clip_dir, cnn_dir) = (
        models.path().join("base/clip-test"),
        models.path().join("base/cnn-test"),
    );
    let profile_dir = models.path().join("profiles/weighted-on-bases");
    for d in [&clip_dir, &cnn_dir, &profile_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::copy(
        src.join("clip.safetensors"),
        clip_dir.join("model.safetensors"),
    )
    .unwrap();
    std::fs::copy(
        src.join("cnn.safetensors"),
        cnn_dir.join("model.safetensors"),
    )
    .unwrap();
    std::fs::copy(
        src.join("rest.safetensors"),
        profile_dir.join("head.safetensors"),
    )
    .unwrap();
    let sha = |p: PathBuf| sha256_file(&p).unwrap();
    let toml = format!(
        "name = \"weighted-on-bases\"\ntrained = true\nvariant = \"fusion\"\nclip = \"tiny\"\ncnn = \"efficientnet-b0\"\n\
         fusion = \"weighted:0.3\"\nfusion_dim = 64\nhead_hidden = 32\n\n\
         [preprocessing]\ntemplate = \"arcface\"\ncontext_scale = 1.0\nsize = 224\n\n\
         [[weights]]\nfile = \"head.safetensors\"\nsha256 = \"{}\"\nrole = \"model\"\n\n\
         [[base_weights]]\nmodel = \"clip-test\"\nfile = \"model.safetensors\"\nsha256 = \"{}\"\nrole = \"clip\"\n\n\
         [[base_weights]]\nmodel = \"cnn-test\"\nfile = \"model.safetensors\"\nsha256 = \"{}\"\nrole = \"cnn\"\n",
        sha(profile_dir.join("head.safetensors")),
        sha(clip_dir.join("model.safetensors")),
        sha(cnn_dir.join("model.safetensors")),
    );
    std::fs::write(profile_dir.join("profile.toml"), toml).unwrap();
    let mut det = LoadedDetector::load(&profile_dir, Device::Cpu).unwrap();
    let labels: Vec<String> = det.weight_hashes().into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        labels,
        [
            "base:clip-test/model.safetensors",
            "base:cnn-test/model.safetensors",
            "head.safetensors"
        ]
    );
    let faces = fixture_faces();
    let refs: Vec<&RgbImage> = faces.iter().collect();
    let expected = common::read_safetensors(&src.join("expected.safetensors"));
    let prob = Tensor::from_slice(
        &det.score(&refs)
            .unwrap()
            .iter()
            .map(|s| s.prob)
            .collect::<Vec<f32>>(),
    );
    let d = common::max_abs_diff(&prob, &expected["prob"]);
    println!("weighted profile on base files: prob {d:.2e}");
    assert!(d <= TOL);

    // The fusion setting may move α / switch to slerp on these weights, not to concat.
    det.set_fusion(FusionMode::Slerp { t: 0.5 }).unwrap();
    assert_eq!(det.profile().fusion, FusionMode::Slerp { t: 0.5 });
    let slerped = Tensor::from_slice(
        &det.score(&refs)
            .unwrap()
            .iter()
            .map(|s| s.prob)
            .collect::<Vec<f32>>(),
    );
    assert!(
        common::max_abs_diff(&slerped, &prob) > 1e-3,
        "the mode change took effect"
    );
    let msg = det.set_fusion(FusionMode::Concat).unwrap_err().to_string();
    assert!(msg.contains("needs other parameters"), "{msg}");

    // A base that is not installed names the command that installs it.
    std::fs::remove_dir_all(&cnn_dir).unwrap();
    let msg = LoadedDetector::load(&profile_dir, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("cnn-test/model.safetensors are not installed")
            && msg.contains("verity models fetch cnn-test"),
        "{msg}"
    );
}

/// Writes the variables of `vs` whose names start with one of `prefixes` to a safetensors file.
fn save_subset(vs: &nn::VarStore, prefixes: &[&str], path: &Path) {
    let tensors: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .collect();
    Tensor::write_safetensors(&tensors, path).unwrap();
}

#[test]
fn published_checkpoint_layouts_load_strictly() {
    // Full-size names and shapes of the hub files (sparse zero files made by the reference
    // script): what `models fetch` installs must load into our detectors unchanged.
    let layouts = fixtures().join("layouts");
    let tmp = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();

    // GenD's release, as is.
    let cfg = DetectorConfig::preset("gend-vit-l14").unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _det = Detector::new(&vs.root(), &cfg).unwrap();
    let report = load_detector_weights(
        &mut vs,
        &cfg,
        &[(
            &layouts.join("gend-clip-l14.safetensors"),
            WeightRole::Model,
        )],
    )
    .unwrap();
    assert_eq!(report.loaded, vs.len());
    assert_eq!(
        report.ignored,
        vec!["feature_extractor.vision_model.embeddings.position_ids"]
    );
    assert_eq!(
        verity::models::detector::clip_preset_matching(1024, 14, 24),
        Some("vit-l14")
    );
    drop(vs);

    // openai/clip-vit-large-patch14 (text tower ignored) under a CLIP-only fusion detector.
    let cfg = DetectorConfig::preset("vit-l14").unwrap();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _det = Detector::new(&vs.root(), &cfg).unwrap();
    let head = tmp.path().join("head.safetensors");
    save_subset(&vs, &["head."], &head);
    let clip = layouts.join("clip-vit-large-patch14.safetensors");
    let report = load_detector_weights(
        &mut vs,
        &cfg,
        &[(&clip, WeightRole::Clip), (&head, WeightRole::Model)],
    )
    .unwrap();
    assert_eq!(report.loaded, vs.len());
    assert!(
        report.ignored.iter().any(|n| n == "logit_scale")
            && report.ignored.iter().any(|n| n == "text_projection.weight")
    );
    assert!(
        report
            .ignored
            .iter()
            .filter(|n| n.starts_with("text_model."))
            .count()
            > 190,
        "{:?}",
        report.ignored.len()
    );
    drop(vs);
    println!(
        "full-size CLIP layouts checked in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // timm efficientnet_b4 and legacy_xception (classifier and BatchNorm counters ignored),
    // here beside the tiny CLIP to keep the test light.
    let tiny_clip = fixtures().join("weighted/clip.safetensors");
    for (kind, file) in [
        (CnnKind::EfficientNetB4, "efficientnet_b4"),
        (CnnKind::Xception, "legacy_xception"),
    ] {
        let cfg = DetectorConfig::fusion(
            &ClipConfig::tiny(),
            kind,
            FusionMode::Weighted { alpha: 0.3 },
            64,
            32,
        );
        let mut vs = nn::VarStore::new(Device::Cpu);
        let _det = Detector::new(&vs.root(), &cfg).unwrap();
        let rest = tmp.path().join(format!("{file}-rest.safetensors"));
        save_subset(&vs, &["fusion.", "head."], &rest);
        let cnn = layouts.join(format!("{file}.safetensors"));
        let files = [
            (tiny_clip.as_path(), WeightRole::Clip),
            (cnn.as_path(), WeightRole::Cnn),
            (rest.as_path(), WeightRole::Model),
        ];
        let report = load_detector_weights(&mut vs, &cfg, &files).unwrap();
        assert_eq!(report.loaded, vs.len(), "{file}");
        let head_names = if file == "legacy_xception" {
            ["fc.bias", "fc.weight"]
        } else {
            ["classifier.bias", "classifier.weight"]
        };
        assert!(
            head_names
                .iter()
                .all(|h| report.ignored.contains(&h.to_string())),
            "{file}: {:?}",
            report.ignored
        );
        assert!(
            report
                .ignored
                .iter()
                .all(|n| n.ends_with("num_batches_tracked") || head_names.contains(&n.as_str())),
            "{file}"
        );
    }
}

/// The Settings' profile list: every folder with a profile.toml, sorted, untrained ones marked,
/// an unreadable one listed with its error instead of hiding it.
#[test]
fn profile_entries_list_installed_profiles_with_their_state() {
    let tmp = tempfile::tempdir().unwrap();
    let profiles = tmp.path().join("profiles");
    verity::models::profile::create_random_profile(&profiles.join("b-demo"), "tiny", 1).unwrap();
    std::fs::create_dir_all(profiles.join("a-broken")).unwrap();
    std::fs::write(profiles.join("a-broken/profile.toml"), "name = [").unwrap();
    std::fs::create_dir_all(profiles.join("c-empty")).unwrap();
    let e = verity::models::profile::profile_entries(tmp.path());
    let folders: Vec<&str> = e.iter().map(|p| p.folder.as_str()).collect();
    assert_eq!(folders, ["a-broken", "b-demo"]);
    assert!(e[0].error.is_some() && e[0].name.is_none());
    assert_eq!(e[1].name.as_deref(), Some("tiny-untrained"));
    assert!(!e[1].trained && e[1].error.is_none());
    assert!(verity::models::profile::profile_entries(&tmp.path().join("none")).is_empty());
}
