//! CLIP towers and tokenizer against their PyTorch references (tests/reference/clip_ref.py:
//! transformers 5.24 `CLIPModel` / `CLIPVisionModelWithProjection` with eager attention, and
//! open_clip 3.3 `tokenize`), plus LayerNorm-only tuning on the full ViT-L/14 tower.
mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{fixtures, max_abs_diff, read_safetensors};
use sha2::Digest;
use tch::{nn, Device, Kind, Tensor};
use verity::models::clip::{
    freeze_all_but_layernorm, is_layer_norm_name, Clip, ClipConfig, ClipVision, ParamCount,
};
use verity::models::tokenizer::{ClipTokenizer, CONTEXT_LENGTH, EOS_TOKEN_ID};

const TOL: f64 = 1e-4;

/// Non-parameter buffers a checkpoint may carry that the tch port recomputes instead
/// (transformers < 4.31 saved `embeddings.position_ids`; 5.x keeps them out of the state dict).
fn is_ignored_buffer(name: &str) -> bool {
    name.ends_with("embeddings.position_ids")
}

/// Strict safetensors → VarStore loading for these tests (the shared loader lives in
/// src/models/weights.rs on another branch): every variable must be present with its exact
/// shape and every tensor in the file must be used, except ignored buffers. The error lists all
/// missing, unexpected and mis-shaped names. Tensors are read one at a time to keep the peak
/// memory at the model plus its largest tensor (ViT-L/14 is 1.2 GB).
fn load_strict(vs: &nn::VarStore, path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| e.to_string())?;
    let header_len = u64::from_le_bytes(len);
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let header: BTreeMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("bad safetensors header: {e}"))?;
    let entries: BTreeMap<&String, &serde_json::Value> = header
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__")
        .collect();
    let vars = vs.variables();
    let shape_of = |v: &serde_json::Value| -> Vec<i64> {
        v["shape"]
            .as_array()
            .map(|a| a.iter().filter_map(|d| d.as_i64()).collect())
            .unwrap_or_default()
    };
    let mut missing: Vec<&String> = vars.keys().filter(|k| !entries.contains_key(k)).collect();
    let mut unexpected: Vec<&String> = entries
        .keys()
        .copied()
        .filter(|k| !vars.contains_key(*k) && !is_ignored_buffer(k))
        .collect();
    let mut misshaped: Vec<String> = vars
        .iter()
        .filter_map(|(k, t)| {
            let e = entries.get(k)?;
            (shape_of(e) != t.size())
                .then(|| format!("{k}: file {:?} vs model {:?}", shape_of(e), t.size()))
        })
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() || !misshaped.is_empty() {
        missing.sort();
        unexpected.sort();
        misshaped.sort();
        return Err(format!(
            "{}: {} missing {missing:?}; {} unexpected {unexpected:?}; {} mis-shaped {misshaped:?}",
            path.display(),
            missing.len(),
            unexpected.len(),
            misshaped.len()
        ));
    }
    let data_start = 8 + header_len;
    for (name, mut var) in vars {
        let e = entries[&name];
        let kind = match e["dtype"].as_str() {
            Some("F32") => Kind::Float,
            Some("F16") => Kind::Half,
            Some("BF16") => Kind::BFloat16,
            Some("F64") => Kind::Double,
            other => return Err(format!("{name}: unsupported dtype {other:?}")),
        };
        let offsets: Vec<u64> = e["data_offsets"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        let [begin, end] = offsets[..] else {
            return Err(format!("{name}: bad data_offsets"));
        };
        let mut bytes = vec![0u8; (end - begin) as usize];
        file.seek(SeekFrom::Start(data_start + begin))
            .map_err(|e| e.to_string())?;
        file.read_exact(&mut bytes)
            .map_err(|e| format!("{name}: {e}"))?;
        let src = Tensor::f_from_data_size(&bytes, &shape_of(e), kind)
            .map_err(|e| format!("{name}: {e}"))?;
        tch::no_grad(|| var.f_copy_(&src)).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Fixture folder for a model config: the config travels as JSON (one source of truth, the
/// Rust preset) and its hash names the folder, so a changed preset makes fresh fixtures.
fn model_fixtures(what: &str, name: &str, cfg: &ClipConfig, batch: usize) -> PathBuf {
    let json = serde_json::to_string(cfg).unwrap();
    let hash = hex::encode(&sha2::Sha256::digest(json.as_bytes())[..4]);
    let batch = batch.to_string();
    fixtures(
        "clip_ref",
        &format!("{name}-{hash}"),
        &["--what", what, "--config-json", &json, "--batch", &batch],
    )
}

fn check(name: &str, ours: &Tensor, theirs: &Tensor) -> f64 {
    let d = max_abs_diff(ours, theirs);
    eprintln!("  {name:<28} {:?} max|Δ| = {d:.2e}", ours.size());
    assert!(d <= TOL, "{name}: max |Δ| {d:e} > {TOL:e}");
    d
}

#[test]
fn tokenizer_matches_open_clip() {
    let dir = fixtures("clip_ref", "tokenizer", &["--what", "tokenizer"]);
    let texts: Vec<String> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("texts.json")).unwrap()).unwrap();
    assert!(texts.len() >= 30);
    let expected = read_safetensors(&dir.join("expected.safetensors"));
    let t0 = Instant::now();
    let tok = ClipTokenizer::from_default_path().unwrap();
    eprintln!("tokenizer load {:.2?}", t0.elapsed());
    assert_eq!(tok.vocab_size(), 49408);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (ctx, key) in [(CONTEXT_LENGTH, "tokens77"), (16, "tokens16")] {
        let ours = tok.tokenize(&refs, ctx);
        let theirs = &expected[key];
        assert_eq!(ours.size(), theirs.size());
        let mismatched: Vec<String> = (0..texts.len() as i64)
            .filter(|&i| !ours.get(i).equal(&theirs.get(i)))
            .map(|i| {
                let row = |t: &Tensor| Vec::<i64>::try_from(&t.get(i)).unwrap();
                format!(
                    "{:?}\n    ours   {:?}\n    theirs {:?}",
                    texts[i as usize],
                    row(&ours),
                    row(theirs)
                )
            })
            .collect();
        assert!(
            mismatched.is_empty(),
            "context {ctx}: {} texts differ:\n{}",
            mismatched.len(),
            mismatched.join("\n")
        );
    }
    // Truncated rows still end with the end-of-text token that the text tower pools.
    let long = tok.tokenize(&["word ".repeat(100).as_str()], CONTEXT_LENGTH);
    assert_eq!(long.int64_value(&[0, 76]), EOS_TOKEN_ID);
    assert_eq!(
        tok.decode(&tok.encode("A photo of a Deepfake face!")),
        "a photo of a deepfake face ! "
    );
}

#[test]
fn tokenizer_reads_plain_text_merges_too() {
    let gz = ClipTokenizer::default_path();
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("bpe.txt");
    std::fs::write(&plain, &text).unwrap();
    let a = ClipTokenizer::new(&gz).unwrap();
    let b = ClipTokenizer::new(&plain).unwrap();
    let s = "a photo of a deepfake face, 2024 — café";
    assert_eq!(a.encode(s), b.encode(s));
    // A truncated file is refused with a readable error rather than a short vocabulary.
    let short = dir.path().join("short.txt");
    std::fs::write(
        &short,
        text.lines().take(1000).collect::<Vec<_>>().join("\n"),
    )
    .unwrap();
    let err = ClipTokenizer::new(&short).unwrap_err().to_string();
    assert!(
        err.contains("merges") && err.contains("expected at least"),
        "{err}"
    );
}

#[test]
fn parity_clip_tiny() {
    let cfg = ClipConfig::tiny();
    let dir = model_fixtures("clip", "tiny", &cfg, 2);
    let inputs = read_safetensors(&dir.join("inputs.safetensors"));
    let exp = read_safetensors(&dir.join("expected.safetensors"));
    let vs = nn::VarStore::new(Device::Cpu);
    let clip = Clip::new(&vs.root(), &cfg);
    load_strict(&vs, &dir.join("weights.safetensors")).unwrap();
    let (pixels, ids) = (&inputs["pixel_values"], &inputs["input_ids"]);
    eprintln!("tiny CLIP, batch 2:");
    tch::no_grad(|| {
        let t0 = Instant::now();
        let (v, hidden) = clip.vision.forward_with_hidden_states(pixels).unwrap();
        let (ve, att) = clip.vision.forward_with_attentions(pixels).unwrap();
        let text = clip.text.forward_output(ids).unwrap();
        let both = clip.forward(pixels, ids).unwrap();
        eprintln!("  forward (all paths) {:.2?}", t0.elapsed());
        check(
            "last_hidden_state (sdpa)",
            &v.last_hidden_state,
            &exp["last_hidden_state"],
        );
        check(
            "last_hidden_state (eager)",
            &ve.last_hidden_state,
            &exp["last_hidden_state"],
        );
        check("pooled", &v.pooled, &exp["pooled"]);
        check(
            "image_embeds",
            v.image_embeds.as_ref().unwrap(),
            &exp["image_embeds"],
        );
        check("hidden_states[1]", &hidden[0], &exp["hidden_first_layer"]);
        assert_eq!(hidden.len(), 2);
        assert!(hidden[1].equal(&v.last_hidden_state));
        assert_eq!(att.len(), 2);
        check("attentions[0]", &att[0], &exp["attn_first"]);
        check("attentions[-1]", &att[1], &exp["attn_last"]);
        check(
            "text last_hidden_state",
            &text.last_hidden_state,
            &exp["text_last_hidden_state"],
        );
        check("text pooled", &text.pooled, &exp["text_pooled"]);
        check(
            "text_embeds",
            text.text_embeds.as_ref().unwrap(),
            &exp["text_embeds"],
        );
        check(
            "logits_per_image",
            &both.logits_per_image,
            &exp["logits_per_image"],
        );
    });
}

#[test]
fn strict_loading_names_what_is_wrong() {
    let cfg = ClipConfig::tiny();
    let dir = model_fixtures("clip", "tiny", &cfg, 2);
    let weights = dir.join("weights.safetensors");
    // The text tower's tensors have no home in a vision-only model.
    let vs = nn::VarStore::new(Device::Cpu);
    let _v = ClipVision::new(&vs.root(), &cfg.vision, Some(cfg.projection_dim));
    let err = load_strict(&vs, &weights).unwrap_err();
    assert!(
        err.contains("0 missing") && err.contains("text_model.final_layer_norm.weight"),
        "{err}"
    );
    // A wider model: every tensor mis-shaped, named with both shapes.
    let mut wide = cfg.clone();
    wide.vision.hidden_size = 128;
    let vs = nn::VarStore::new(Device::Cpu);
    let _c = Clip::new(&vs.root(), &wide);
    let err = load_strict(&vs, &weights).unwrap_err();
    assert!(
        err.contains("vision_model.post_layernorm.weight: file [64] vs model [128]"),
        "{err}"
    );
}

#[test]
fn layernorm_only_training_moves_only_layernorms_and_head() {
    let cfg = ClipConfig::tiny();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let vision = ClipVision::new(&vs.root(), &cfg.vision, None);
    let head = nn::linear(
        vs.root() / "head",
        cfg.vision.hidden_size,
        2,
        Default::default(),
    );
    let count = freeze_all_but_layernorm(&mut vs, &["head."]);
    let d = cfg.vision.hidden_size;
    assert_eq!(
        count.trainable,
        (2 + 2 * cfg.vision.num_hidden_layers) * 2 * d + (d * 2 + 2)
    );
    let before: HashMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.copy()))
        .collect();
    let mut opt = nn::OptimizerConfig::build(nn::Adam::default(), &vs, 1e-2).unwrap();
    let x = Tensor::randn([2, 3, 224, 224], (Kind::Float, Device::Cpu));
    let logits = nn::Module::forward(&head, &vision.forward(&x).unwrap().pooled);
    let loss = logits.cross_entropy_for_logits(&Tensor::from_slice(&[0i64, 1]));
    opt.backward_step(&loss);
    for (name, now) in vs.variables() {
        let moved = !now.equal(&before[&name]);
        let should = is_layer_norm_name(&name) || name.starts_with("head.");
        assert_eq!(moved, should, "{name}: moved {moved}, expected {should}");
    }
}

#[test]
fn layernorm_only_counts_on_full_vit_l14() {
    let cfg = ClipConfig::vit_large_patch14();
    let t0 = Instant::now();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _vision = ClipVision::new(&vs.root(), &cfg.vision, Some(cfg.projection_dim));
    eprintln!("ViT-L/14 vision tower built in {:.2?}", t0.elapsed());
    let count = freeze_all_but_layernorm(&mut vs, &[]);
    let d = cfg.vision.hidden_size;
    // pre_layrnorm + post_layernorm + 2 per layer, each a weight and a bias of width d.
    let ln = (2 + 2 * cfg.vision.num_hidden_layers) * 2 * d;
    let total_expected = {
        let (l, m, g, p) = (
            cfg.vision.num_hidden_layers,
            cfg.vision.intermediate_size,
            cfg.vision.grid(),
            cfg.vision.patch_size,
        );
        let per_layer = 4 * (d * d + d) + (d * m + m) + (m * d + d) + 4 * d;
        d + 3 * p * p * d + (g * g + 1) * d + 4 * d + l * per_layer + d * cfg.projection_dim
    };
    eprintln!(
        "ViT-L/14 LayerNorm-only: trainable {} of {} = {:.4} %",
        count.trainable, count.total, count.percent
    );
    assert_eq!(
        count,
        ParamCount {
            trainable: ln,
            total: total_expected,
            percent: 100.0 * ln as f64 / total_expected as f64
        }
    );
    let vars = vs.variables();
    assert!(!vars["vision_model.encoder.layers.11.self_attn.q_proj.weight"].requires_grad());
    assert!(!vars["vision_model.embeddings.class_embedding"].requires_grad());
    assert!(!vars["visual_projection.weight"].requires_grad());
    assert!(vars["vision_model.encoder.layers.11.layer_norm2.bias"].requires_grad());
    assert!(vars["vision_model.pre_layrnorm.weight"].requires_grad());
    // A head kept by prefix counts as trainable too.
    let _head = nn::linear(vs.root() / "head", d, 2, Default::default());
    let with_head = freeze_all_but_layernorm(&mut vs, &["head."]);
    assert_eq!(with_head.trainable, ln + 2 * d + 2);
}

#[test]
fn parity_clip_vitl14_full() {
    let cfg = ClipConfig::vit_large_patch14();
    let t0 = Instant::now();
    let dir = model_fixtures("vision", "vitl14", &cfg, 1);
    eprintln!(
        "ViT-L/14 fixtures ready in {:.2?} ({})",
        t0.elapsed(),
        dir.display()
    );
    let inputs = read_safetensors(&dir.join("inputs.safetensors"));
    let exp = read_safetensors(&dir.join("expected.safetensors"));
    let t0 = Instant::now();
    let vs = nn::VarStore::new(Device::Cpu);
    let vision = ClipVision::new(&vs.root(), &cfg.vision, Some(cfg.projection_dim));
    eprintln!("  build {:.2?}", t0.elapsed());
    let t0 = Instant::now();
    load_strict(&vs, &dir.join("weights.safetensors")).unwrap();
    eprintln!("  strict load {:.2?}", t0.elapsed());
    let pixels = &inputs["pixel_values"];
    tch::no_grad(|| {
        let t0 = Instant::now();
        let (v, hidden) = vision.forward_with_hidden_states(pixels).unwrap();
        eprintln!("  forward (sdpa) {:.2?}", t0.elapsed());
        let t0 = Instant::now();
        let (ve, att) = vision.forward_with_attentions(pixels).unwrap();
        eprintln!("  forward_with_attentions (eager) {:.2?}", t0.elapsed());
        check(
            "last_hidden_state (sdpa)",
            &v.last_hidden_state,
            &exp["last_hidden_state"],
        );
        check(
            "last_hidden_state (eager)",
            &ve.last_hidden_state,
            &exp["last_hidden_state"],
        );
        check("pooled", &v.pooled, &exp["pooled"]);
        check("pooled (eager)", &ve.pooled, &exp["pooled"]);
        check(
            "image_embeds",
            v.image_embeds.as_ref().unwrap(),
            &exp["image_embeds"],
        );
        check("hidden_states[1]", &hidden[0], &exp["hidden_first_layer"]);
        assert_eq!(att.len(), 24);
        assert_eq!(att[23].size(), [1, 16, 257, 257]);
        check("attentions[0]", &att[0], &exp["attn_first"]);
        check("attentions[23]", &att[23], &exp["attn_last"]);
    });
}
