//! The strict safetensors loader: every kind of mismatch is reported by name, nothing is half-loaded,
//! fp16 checkpoints are cast, prefixes can be mapped, and hashes are streamed.
use std::path::{Path, PathBuf};
use tch::{nn, Device, Kind, Tensor};
use verity::models::weights::{
    load_strict, nothing, read_header, same_name, sha256_file, with_prefix,
};
use verity::Error;

/// A small model: `enc.fc.{weight [4,3], bias [4]}` and `head.{weight [1,4], bias [1]}`.
fn model() -> nn::VarStore {
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let _ = nn::linear(&root / "enc" / "fc", 3, 4, Default::default());
    let _ = nn::linear(&root / "head", 4, 1, Default::default());
    vs
}

fn full_file(kind: Kind) -> Vec<(String, Tensor)> {
    let t = |shape: &[i64], start: f64| {
        let n: i64 = shape.iter().product();
        (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.25 + start)
            .reshape(shape)
            .to_kind(kind)
    };
    vec![
        ("enc.fc.weight".into(), t(&[4, 3], 1.0)),
        ("enc.fc.bias".into(), t(&[4], -1.0)),
        ("head.weight".into(), t(&[1, 4], 2.0)),
        ("head.bias".into(), t(&[1], 0.5)),
    ]
}

fn write(dir: &Path, name: &str, tensors: &[(String, Tensor)]) -> PathBuf {
    let path = dir.join(name);
    Tensor::write_safetensors(tensors, &path).unwrap();
    path
}

fn weights_message(r: verity::Result<verity::models::weights::LoadReport>) -> String {
    match r {
        Err(Error::Weights(m)) => m,
        other => panic!("expected Error::Weights, got {other:?}"),
    }
}

fn var(vs: &nn::VarStore, name: &str) -> Tensor {
    vs.variables()[name].shallow_clone()
}

#[test]
fn loads_exact_file_and_copies_values() {
    let dir = tempfile::tempdir().unwrap();
    let tensors = full_file(Kind::Float);
    let f = write(dir.path(), "w.safetensors", &tensors);
    let mut vs = model();
    let report = load_strict(&mut vs, &[&f], &same_name, &nothing).unwrap();
    assert_eq!(report.loaded, 4);
    assert_eq!(report.cast, 0);
    assert!(report.ignored.is_empty());
    assert_eq!(report.bytes, (12 + 4 + 4 + 1) * 4);
    for (name, t) in &tensors {
        assert!(var(&vs, name).equal(t), "{name} differs after loading");
    }
    // Loaded variables stay trainable parameters (copy under no_grad, not replaced).
    assert!(var(&vs, "head.weight").requires_grad());
}

#[test]
fn missing_tensors_are_listed_and_nothing_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = full_file(Kind::Float);
    tensors.retain(|(n, _)| n.starts_with("enc."));
    let f = write(dir.path(), "partial.safetensors", &tensors);
    let mut vs = model();
    let before = var(&vs, "enc.fc.weight").copy();
    let msg = weights_message(load_strict(&mut vs, &[&f], &same_name, &nothing));
    assert!(
        msg.contains("2 missing, 0 unexpected, 0 mis-shaped"),
        "{msg}"
    );
    assert!(
        msg.contains("missing (in the model, not in the file), 2: head.bias, head.weight"),
        "{msg}"
    );
    assert!(
        msg.contains("partial.safetensors"),
        "the file is named: {msg}"
    );
    // Strict means all-or-nothing: the tensors that did match were not copied either.
    assert!(var(&vs, "enc.fc.weight").equal(&before));
}

#[test]
fn extra_tensors_are_unexpected_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = full_file(Kind::Float);
    tensors.push((
        "text_model.embeddings.token_embedding.weight".into(),
        Tensor::zeros([5, 2], (Kind::Float, Device::Cpu)),
    ));
    tensors.push((
        "enc.embeddings.position_ids".into(),
        Tensor::arange(7, (Kind::Int64, Device::Cpu)),
    ));
    let f = write(dir.path(), "extra.safetensors", &tensors);

    let msg = weights_message(load_strict(&mut model(), &[&f], &same_name, &nothing));
    assert!(
        msg.contains("0 missing, 2 unexpected, 0 mis-shaped"),
        "{msg}"
    );
    assert!(
        msg.contains("unexpected (in the file, not in the model), 2: enc.embeddings.position_ids, text_model.embeddings.token_embedding.weight"),
        "{msg}"
    );

    let ignore = |n: &str| n.starts_with("text_model.") || n.ends_with(".position_ids");
    let mut vs = model();
    let report = load_strict(&mut vs, &[&f], &same_name, &ignore).unwrap();
    assert_eq!(report.loaded, 4);
    assert_eq!(
        report.ignored,
        vec![
            "enc.embeddings.position_ids",
            "text_model.embeddings.token_embedding.weight"
        ]
    );
}

#[test]
fn misshaped_tensors_show_both_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = full_file(Kind::Float);
    tensors[0].1 = tensors[0].1.transpose(0, 1).contiguous(); // [3, 4] instead of [4, 3]
    let f = write(dir.path(), "shape.safetensors", &tensors);
    let msg = weights_message(load_strict(&mut model(), &[&f], &same_name, &nothing));
    assert!(
        msg.contains("0 missing, 0 unexpected, 1 mis-shaped"),
        "{msg}"
    );
    assert!(
        msg.contains("enc.fc.weight: model expects [4, 3], file has [3, 4]"),
        "{msg}"
    );
}

#[test]
fn long_lists_are_cut_at_ten_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut tensors = full_file(Kind::Float);
    for i in 0..25 {
        tensors.push((
            format!("extra.{i:02}"),
            Tensor::zeros([1], (Kind::Float, Device::Cpu)),
        ));
    }
    let f = write(dir.path(), "many.safetensors", &tensors);
    let msg = weights_message(load_strict(&mut model(), &[&f], &same_name, &nothing));
    assert!(msg.contains("25 unexpected"), "{msg}");
    assert!(msg.contains("extra.09 … and 15 more"), "{msg}");
    assert!(
        !msg.contains("extra.10"),
        "only ten names are listed: {msg}"
    );
}

#[test]
fn fp16_and_bf16_checkpoints_are_cast_to_the_model_kind() {
    let dir = tempfile::tempdir().unwrap();
    for kind in [Kind::Half, Kind::BFloat16] {
        let tensors = full_file(kind);
        let f = write(dir.path(), "half.safetensors", &tensors);
        let mut vs = model();
        let report = load_strict(&mut vs, &[&f], &same_name, &nothing).unwrap();
        assert_eq!(report.cast, 4, "{kind:?}");
        assert_eq!(report.bytes, 21 * 2);
        for (name, t) in &tensors {
            let v = var(&vs, name);
            assert_eq!(v.kind(), Kind::Float, "{name} keeps the model's kind");
            // The values are multiples of 0.25 below 8: exact in both half formats.
            assert!(v.equal(&t.to_kind(Kind::Float)), "{name} ({kind:?})");
        }
    }
}

#[test]
fn renamed_prefix_maps_a_timm_style_file_under_a_sub_path() {
    let dir = tempfile::tempdir().unwrap();
    // A "timm" file for the encoder alone, named without the model's `enc.` prefix, plus a
    // BatchNorm counter the model does not keep.
    let enc: Vec<(String, Tensor)> = full_file(Kind::Float)
        .into_iter()
        .filter_map(|(n, t)| n.strip_prefix("enc.").map(|s| (s.to_string(), t)))
        .chain([("bn.num_batches_tracked".to_string(), Tensor::from(3i64))])
        .collect();
    let head: Vec<(String, Tensor)> = full_file(Kind::Float)
        .into_iter()
        .filter(|(n, _)| n.starts_with("head."))
        .collect();
    let fe = write(dir.path(), "cnn.safetensors", &enc);
    let fh = write(dir.path(), "head.safetensors", &head);
    let rename = |n: &str| {
        if n.starts_with("head.") {
            None
        } else {
            Some(format!("enc.{n}"))
        }
    };
    let ignore = |n: &str| n.ends_with("num_batches_tracked");
    let mut vs = model();
    let report = load_strict(&mut vs, &[&fe, &fh], &rename, &ignore).unwrap();
    assert_eq!(report.loaded, 4);
    assert_eq!(report.ignored, vec!["bn.num_batches_tracked"]);
    assert!(var(&vs, "enc.fc.weight").equal(&enc[0].1));

    // Without the rename the file's names are unexpected and shown as stored; with a wrong
    // prefix they are shown with the name they were mapped to.
    let msg = weights_message(load_strict(&mut model(), &[&fe, &fh], &same_name, &ignore));
    assert!(msg.contains("2 missing, 2 unexpected"), "{msg}");
    assert!(msg.contains("fc.bias, fc.weight"), "{msg}");
    let wrong = with_prefix("encoder.");
    let msg = weights_message(load_strict(&mut model(), &[&fe], &wrong, &ignore));
    assert!(msg.contains("fc.weight (as encoder.fc.weight)"), "{msg}");
    assert!(msg.contains("4 missing"), "{msg}");
}

#[test]
fn the_same_variable_from_two_files_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.safetensors", &full_file(Kind::Float));
    let b = write(dir.path(), "b.safetensors", &full_file(Kind::Float)[3..]);
    let msg = weights_message(load_strict(&mut model(), &[&a, &b], &same_name, &nothing));
    assert!(msg.contains("1 duplicate"), "{msg}");
    assert!(msg.contains("head.bias (from"), "{msg}");
}

#[test]
fn corrupt_and_truncated_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.safetensors", &full_file(Kind::Float));
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() - 8]).unwrap();
    let msg = weights_message(load_strict(
        &mut model(),
        &[&truncated],
        &same_name,
        &nothing,
    ));
    assert!(msg.contains("truncated or corrupt"), "{msg}");

    let text = dir.path().join("notes.safetensors");
    std::fs::write(&text, b"these are not weights at all, just some text").unwrap();
    let msg = weights_message(load_strict(&mut model(), &[&text], &same_name, &nothing));
    assert!(msg.contains("not a safetensors file"), "{msg}");

    let absent = dir.path().join("absent.safetensors");
    let msg = weights_message(load_strict(&mut model(), &[&absent], &same_name, &nothing));
    assert!(msg.contains("absent.safetensors: cannot open"), "{msg}");

    let header = read_header(&good).unwrap();
    assert_eq!(header["enc.fc.weight"].shape, vec![4, 3]);
}

#[test]
fn sha256_streams_files_of_any_size() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(
        sha256_file(&empty).unwrap(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let abc = dir.path().join("abc");
    std::fs::write(&abc, b"abc").unwrap();
    assert_eq!(
        sha256_file(&abc).unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    // Larger than the 1 MiB read buffer: 3 MiB + 1 of a repeating pattern, checked against Python.
    let big = dir.path().join("big");
    let data: Vec<u8> = (0..3 * 1024 * 1024 + 1).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &data).unwrap();
    let out = std::process::Command::new(
        std::env::var("VERITY_PYTHON").unwrap_or_else(|_| "python3".into()),
    )
    .args([
        "-c",
        "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())",
    ])
    .arg(&big)
    .output()
    .unwrap();
    assert_eq!(
        sha256_file(&big).unwrap(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    assert!(matches!(
        sha256_file(&dir.path().join("nope")),
        Err(Error::Input { .. })
    ));
}
