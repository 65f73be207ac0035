//! Training losses against PyTorch (tests/reference/losses_ref.py): every loss on the same random
//! inputs, and the gradient of the weighted total through the L2 normalisation.
mod common;

use std::collections::HashMap;
use tch::{Kind, Tensor};
use verity::train::losses::{self, LossConfig, LossWeights};
use verity::train::Rng;

const TOL: f64 = 1e-5;

fn fixtures() -> HashMap<String, Tensor> {
    let dir = common::fixtures("losses_ref", "", &[]);
    common::read_safetensors(&dir.join("losses.safetensors"))
}

fn scalar(t: &Tensor) -> f64 {
    t.double_value(&[])
}

fn close(name: &str, got: &Tensor, want: &Tensor) -> f64 {
    let want = if want.size() == [1] && got.dim() == 0 {
        want.squeeze()
    } else {
        want.shallow_clone()
    };
    let d = common::max_abs_diff(got, &want);
    // Scale the tolerance for large values (image-text CE is ~25).
    let scale = want.abs().max().double_value(&[]).max(1.0);
    assert!(
        d <= TOL * scale,
        "{name}: max |Δ| = {d:e} (got {got:?}, want {want:?})"
    );
    println!("{name}: max |Δ| = {d:.2e}");
    d
}

#[test]
fn losses_match_pytorch() {
    let f = fixtures();
    let z = losses::l2_normalize(&f["emb_raw"]);
    close("l2_normalize", &z, &f["z"]);
    let labels = &f["labels"];
    close(
        "bce",
        &losses::bce_with_logits(&f["logits"], labels),
        &f["bce"],
    );
    close(
        "alignment α=2",
        &losses::alignment(&z, labels, 2.0),
        &f["alignment"],
    );
    close(
        "alignment α=1",
        &losses::alignment(&z, labels, 1.0),
        &f["alignment_a1"],
    );
    let (a, b) = (z.narrow(0, 0, 6), z.narrow(0, 6, 6));
    close(
        "alignment pairs",
        &losses::alignment_pairs(&a, &b, 2.0),
        &f["alignment_pairs"],
    );
    close("uniformity", &losses::uniformity(&z, 2.0), &f["uniformity"]);
    close("supcon", &losses::supcon(&z, labels, 0.1), &f["supcon"]);
    close(
        "image-text",
        &losses::image_text(&z, &f["text"], labels, 100.0),
        &f["image_text"],
    );
    // A lone fake: its anchor has no positive and is left out, its pairs do not count.
    close(
        "supcon (lone)",
        &losses::supcon(&z, &f["lone_labels"], 0.1),
        &f["supcon_lone"],
    );
    close(
        "alignment (lone)",
        &losses::alignment(&z, &f["lone_labels"], 2.0),
        &f["alignment_lone"],
    );
    close(
        "slerp",
        &losses::slerp(&f["slerp_a"], &f["slerp_b"], &f["slerp_t"]),
        &f["slerp"],
    );
}

#[test]
fn total_loss_and_gradients_match_autograd() {
    let f = fixtures();
    let cfg = LossConfig {
        weights: LossWeights {
            bce: 1.0,
            alignment: 0.1,
            uniformity: 0.5,
            supcon: 0.3,
            image_text: 0.2,
        },
        ..LossConfig::default()
    };
    let emb = f["emb_raw"].copy().set_requires_grad(true);
    let logits = f["logits"].copy().set_requires_grad(true);
    let terms = losses::total_loss(&cfg, &logits, &f["labels"], &emb, Some(&f["text"])).unwrap();
    close("total", &terms.total, &f["total"]);
    assert_eq!(
        terms.parts.iter().map(|p| p.0).collect::<Vec<_>>(),
        ["bce", "alignment", "uniformity", "supcon", "image_text"]
    );
    terms.total.backward();
    close("∂total/∂emb", &emb.grad(), &f["grad_emb"]);
    close("∂total/∂logits", &logits.grad(), &f["grad_logits"]);
    assert!(
        emb.grad().isfinite().all().int64_value(&[]) == 1,
        "zero-distance pair gave a non-finite gradient"
    );
}

#[test]
fn image_text_weight_without_prompts_is_an_error() {
    let f = fixtures();
    let cfg = LossConfig {
        weights: LossWeights {
            image_text: 0.5,
            ..LossWeights::default()
        },
        ..LossConfig::default()
    };
    let err =
        losses::total_loss(&cfg, &f["logits"], &f["labels"], &f["emb_raw"], None).unwrap_err();
    assert!(err.to_string().contains("text"), "{err}");
    let bad = LossConfig {
        temperature: 0.0,
        ..LossConfig::default()
    };
    assert!(bad.validate().is_err());
}

#[test]
fn degenerate_batches_give_finite_losses() {
    // One sample; one class only; a fully collapsed batch.
    let one = losses::l2_normalize(&Tensor::randn([1, 8], (Kind::Float, tch::Device::Cpu)));
    let l1 = Tensor::from_slice(&[1f32]);
    assert_eq!(scalar(&losses::alignment(&one, &l1, 2.0)), 0.0);
    assert_eq!(scalar(&losses::uniformity(&one, 2.0)), 0.0);
    assert_eq!(scalar(&losses::supcon(&one, &l1, 0.1)), 0.0);
    let same = Tensor::ones([4, 8], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
    let z = losses::l2_normalize(&same);
    let l = Tensor::from_slice(&[0f32, 1., 0., 1.]);
    let u = losses::uniformity(&z, 2.0);
    assert!(
        scalar(&u).abs() < 1e-6,
        "collapsed batch: log mean exp(0) = 0, got {u:?}"
    );
    let total = u + losses::alignment(&z, &l, 2.0) + losses::supcon(&z, &l, 0.1);
    total.backward();
    assert!(same.grad().isfinite().all().int64_value(&[]) == 1);
}

#[test]
fn slerp_augmentation_stays_on_the_sphere_and_within_class() {
    let mut rng = Rng::new(3);
    let z = losses::l2_normalize(&Tensor::randn([10, 16], (Kind::Float, tch::Device::Cpu)));
    // Row 9 is the only "2": it cannot be augmented.
    let labels = Tensor::from_slice(&[0i64, 1, 0, 1, 0, 1, 0, 1, 0, 2]);
    let (aug, aug_labels) = losses::slerp_augment(&z, &labels, &mut rng).unwrap();
    assert_eq!(aug.size(), [9, 16]);
    let norms = aug.norm_scalaropt_dim(2, [1i64].as_slice(), false);
    assert!(common::max_abs_diff(&norms, &norms.ones_like()) < 1e-5);
    let got: Vec<i64> = Vec::try_from(&aug_labels).unwrap();
    assert_eq!(got, [0, 1, 0, 1, 0, 1, 0, 1, 0]);
    // Each new point lies on the great-circle arc between its row and a same-class row: its
    // cosine to its own row is at least the smallest same-class cosine.
    let cos = aug.matmul(&z.tr());
    for (i, &l) in got.iter().enumerate() {
        let own = cos.double_value(&[i as i64, i as i64]);
        let mates_min = (0..9)
            .filter(|&j| j != i && j % 2 == l as usize % 2)
            .map(|j| z.get(i as i64).dot(&z.get(j as i64)).double_value(&[]))
            .fold(f64::INFINITY, f64::min);
        assert!(own >= mates_min - 1e-5, "row {i}: cos {own} < {mates_min}");
    }
    // Same seed, same augmentation.
    let (again, _) = losses::slerp_augment(&z, &labels, &mut Rng::new(3)).unwrap();
    assert_eq!(common::max_abs_diff(&aug, &again), 0.0);
}

#[test]
fn adamw_matches_torch_optim() {
    use verity::train::trainer::AdamW;
    let dir = common::fixtures("losses_ref", "", &[]);
    let f = common::read_safetensors(&dir.join("adamw.safetensors"));
    let opt = AdamW {
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.05,
    };
    let (mut w, mut b) = (f["w0"].copy(), f["b0"].copy());
    let (mut mw, mut vw, mut mb, mut vb) = (
        w.zeros_like(),
        w.zeros_like(),
        b.zeros_like(),
        b.zeros_like(),
    );
    let lrs: Vec<f32> = Vec::try_from(&f["lrs"]).unwrap();
    for (k, lr) in lrs.iter().enumerate() {
        let k64 = k as i64;
        opt.update(
            &mut w,
            &f["grads_w"].get(k64),
            &mut mw,
            &mut vw,
            k as u64 + 1,
            *lr as f64,
            true,
        );
        opt.update(
            &mut b,
            &f["grads_b"].get(k64),
            &mut mb,
            &mut vb,
            k as u64 + 1,
            *lr as f64,
            false,
        );
    }
    close("AdamW weight (decay)", &w, &f["w"]);
    close("AdamW bias (no decay)", &b, &f["b"]);
}
