//! Training losses for LNCLIP-DF-style detector tuning.
//!
//! - Binary cross-entropy on the head's logit (`torch.nn.functional.binary_cross_entropy_with_logits`).
//! - Alignment and uniformity on the hypersphere: T. Wang & P. Isola, "Understanding Contrastive
//!   Representation Learning through Alignment and Uniformity on the Hypersphere", ICML 2020
//!   (`align = E‖f(x) − f(y)‖^α` over positive pairs, `uniform = log E exp(−t‖f(x) − f(y)‖²)`).
//!   As in the LNCLIP-DF authors' code (`github:yermandy/GenD`, `src/losses/unifalign.py`) the
//!   positive pairs are all pairs of a batch with the same label, and the uniformity runs over all
//!   pairs (`torch.pdist`) with the mean clamped at 1e-6 before the log.
//! - Supervised contrastive loss: P. Khosla et al., "Supervised Contrastive Learning", NeurIPS
//!   2020, the L_out form (`github:HobbitLong/SupContrast`, `losses.py`, with
//!   `base_temperature = temperature`).
//! - Image–text alignment: cross-entropy of the scaled cosine similarities between each face
//!   embedding and the CLIP text embeddings of "a photo of a real face" / "a photo of a deepfake
//!   face" (CLIP's zero-shot classifier, Radford et al. 2021, used as a training target).
//! - SLERP feature augmentation between same-class embeddings (Shoemake 1985; LNCLIP-DF's latent
//!   augmentation on the unit sphere).
//!
//! `tests/reference/losses_ref.py` computes each in PyTorch on the same inputs (test
//! `train_losses`). Every function takes embeddings that are already L2-normalised where the
//! paper says so; [`l2_normalize`] is `F.normalize(x, dim=1)`.
use super::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Reduction, Tensor};

/// Below this the mean of `exp(−t‖·‖²)` is clamped before the log (GenD's `clip_value`), so a
/// collapsed batch gives a finite loss and gradient.
pub const UNIFORMITY_FLOOR: f64 = 1e-6;

/// Row-wise L2 normalisation, `torch.nn.functional.normalize(x, p=2, dim=1, eps=1e-12)`.
pub fn l2_normalize(x: &Tensor) -> Tensor {
    let norm = x
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    x / norm
}

/// Mean binary cross-entropy of `logits` [N] against `targets` [N] (1 = fake), computed in the
/// numerically stable log-sum-exp form.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Tensor {
    logits.binary_cross_entropy_with_logits::<Tensor>(
        &targets.to_kind(logits.kind()),
        None,
        None,
        Reduction::Mean,
    )
}

/// Indices (i, j), i < j, of all pairs in a batch of `n`.
fn pairs(n: i64, device: tch::Device) -> (Tensor, Tensor) {
    let idx = Tensor::triu_indices(n, n, 1, (Kind::Int64, device));
    (idx.get(0), idx.get(1))
}

/// Squared distance of each pair: ‖x_i − x_j‖², computed as a sum of squares rather than through
/// a square root, so identical rows have a finite (zero) gradient.
fn pair_sq_dist(x: &Tensor, i: &Tensor, j: &Tensor) -> Tensor {
    (x.index_select(0, i) - x.index_select(0, j))
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, None)
}

/// Label-aware alignment: the mean of ‖z_i − z_j‖^α over all pairs i < j with the same label.
/// Zero (a constant, no gradient) when the batch has no such pair.
pub fn alignment(emb: &Tensor, labels: &Tensor, alpha: f64) -> Tensor {
    let n = emb.size()[0];
    let zero = || Tensor::zeros([], (emb.kind(), emb.device()));
    if n < 2 {
        return zero();
    }
    let (i, j) = pairs(n, emb.device());
    let labels = labels.to_device(emb.device());
    let same = labels
        .index_select(0, &i)
        .eq_tensor(&labels.index_select(0, &j));
    let keep = same.nonzero().squeeze_dim(1);
    if keep.numel() == 0 {
        return zero();
    }
    let (i, j) = (i.index_select(0, &keep), j.index_select(0, &keep));
    pair_sq_dist(emb, &i, &j)
        .pow_tensor_scalar(alpha / 2.0)
        .mean(None)
}

/// Alignment over explicit positive pairs (row k of `x` with row k of `y`): E‖x − y‖^α.
pub fn alignment_pairs(x: &Tensor, y: &Tensor, alpha: f64) -> Tensor {
    (x - y)
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, None)
        .pow_tensor_scalar(alpha / 2.0)
        .mean(None)
}

/// Uniformity: log of the mean of exp(−t‖z_i − z_j‖²) over all pairs i < j (the mean clamped at
/// [`UNIFORMITY_FLOOR`]). Zero when the batch has fewer than two rows.
pub fn uniformity(emb: &Tensor, t: f64) -> Tensor {
    let n = emb.size()[0];
    if n < 2 {
        return Tensor::zeros([], (emb.kind(), emb.device()));
    }
    let (i, j) = pairs(n, emb.device());
    (pair_sq_dist(emb, &i, &j) * -t)
        .exp()
        .mean(None)
        .clamp_min(UNIFORMITY_FLOOR)
        .log()
}

/// Supervised contrastive loss (Khosla et al. 2020, L_out) on L2-normalised `emb` [N, D]:
/// for each anchor i with at least one positive, −1/|P(i)| Σ_{p∈P(i)} log softmax_{a≠i}(z_i·z_a/τ)_p,
/// averaged over those anchors. Zero when no anchor has a positive.
pub fn supcon(emb: &Tensor, labels: &Tensor, temperature: f64) -> Tensor {
    let n = emb.size()[0];
    let zero = || Tensor::zeros([], (emb.kind(), emb.device()));
    if n < 2 {
        return zero();
    }
    let dev = emb.device();
    let labels = labels.to_device(dev).view([n, 1]);
    let eye = Tensor::eye(n, (Kind::Bool, dev));
    let not_self = eye.logical_not();
    let positive = labels.eq_tensor(&labels.tr()).logical_and(&not_self);
    let logits = emb.matmul(&emb.tr()) / temperature;
    // Self-similarity is left out of the denominator: −∞ before the softmax.
    let logits = logits.masked_fill(&eye, f64::NEG_INFINITY);
    let log_prob = logits.log_softmax(1, emb.kind());
    // −∞ on the diagonal times 0 would be NaN: zero the diagonal before weighting.
    let log_prob = log_prob.masked_fill(&eye, 0.0);
    let pos = positive.to_kind(emb.kind());
    let n_pos = pos.sum_dim_intlist([1i64].as_slice(), false, None);
    let has_pos = n_pos.gt(0.0);
    if has_pos.any().int64_value(&[]) == 0 {
        return zero();
    }
    let per_anchor =
        -(log_prob * &pos).sum_dim_intlist([1i64].as_slice(), false, None) / n_pos.clamp_min(1.0);
    per_anchor.masked_select(&has_pos).mean(None)
}

/// Image–text alignment: cross-entropy of `scale · cos(emb_i, text_k)` over the classes k
/// (row 0 of `text` = "real", row 1 = "fake") against `labels` (0/1). Both inputs are
/// L2-normalised here. `scale` is CLIP's logit scale (100 for the released models).
pub fn image_text(emb: &Tensor, text: &Tensor, labels: &Tensor, scale: f64) -> Tensor {
    let logits =
        l2_normalize(emb).matmul(&l2_normalize(&text.to_device(emb.device())).tr()) * scale;
    logits.cross_entropy_for_logits(&labels.to_device(emb.device()).to_kind(Kind::Int64))
}

/// Row-wise spherical interpolation between unit vectors `a`, `b` [N, D] at per-row `t` [N]:
/// sin((1−t)ω)/sin ω · a + sin(tω)/sin ω · b with cos ω = a·b. Nearly parallel rows
/// (|cos ω| > 1 − 1e-6, where the ratio is 0/0) fall back to the linear interpolation.
pub fn slerp(a: &Tensor, b: &Tensor, t: &Tensor) -> Tensor {
    let t = t.to_kind(a.kind()).to_device(a.device()).view([-1, 1]);
    let cos = (a * b).sum_dim_intlist([1i64].as_slice(), true, a.kind());
    let far = cos.abs().le(1.0 - 1e-6);
    // Parallel rows get cos = 0 inside acos: acos'(±1) is infinite and the unselected branch of
    // `where` would still carry 0·∞ = NaN into the gradient.
    let safe = cos.where_self(&far, &cos.zeros_like());
    let omega = safe.acos();
    let sin = omega.sin();
    let one_minus_t = t.ones_like() - &t;
    let wa = (&omega * &one_minus_t).sin() / &sin;
    let wb = (&omega * &t).sin() / &sin;
    let wa = wa.where_self(&far, &one_minus_t);
    let wb = wb.where_self(&far, &t);
    a * wa + b * wb
}

/// SLERP feature augmentation: for each row i, a random other row j of the same label and a
/// random t ∈ [0, 1) give a new point on the great circle between their directions,
/// slerp(ẑ_i, ẑ_j, t), with the linearly interpolated length (1−t)‖z_i‖ + t‖z_j‖ (so unit inputs
/// give unit outputs, and a head trained on unnormalised features sees features of the usual
/// size), and z_i's label. Rows whose class has no other member are not augmented. Returns the
/// new embeddings and labels (possibly empty); the caller appends them to the batch.
pub fn slerp_augment(emb: &Tensor, labels: &Tensor, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
    let n = emb.size()[0];
    if labels.size() != [n] {
        return Err(Error::Model(format!(
            "SLERP augmentation: {n} embeddings but labels of shape {:?}",
            labels.size()
        )));
    }
    let labels_cpu: Vec<i64> =
        Vec::<i64>::try_from(labels.to_kind(Kind::Int64).to_device(tch::Device::Cpu))
            .map_err(Error::Torch)?;
    let (mut src, mut dst, mut ts) = (Vec::new(), Vec::new(), Vec::new());
    for (i, &li) in labels_cpu.iter().enumerate() {
        let mates: Vec<usize> = labels_cpu
            .iter()
            .enumerate()
            .filter(|&(j, &lj)| j != i && lj == li)
            .map(|(j, _)| j)
            .collect();
        if mates.is_empty() {
            continue;
        }
        let j = mates[rng.below(mates.len() as u64) as usize];
        src.push(i as i64);
        dst.push(j as i64);
        ts.push(rng.uniform() as f32);
    }
    let dev = emb.device();
    let src = Tensor::from_slice(&src).to_device(dev);
    let dst = Tensor::from_slice(&dst).to_device(dev);
    let t = Tensor::from_slice(&ts).to_device(dev).to_kind(emb.kind());
    let (a, b) = (emb.index_select(0, &src), emb.index_select(0, &dst));
    let norm = |x: &Tensor| x.norm_scalaropt_dim(2, [1i64].as_slice(), true);
    let length = norm(&a) * (t.ones_like() - &t).view([-1, 1]) + norm(&b) * t.view([-1, 1]);
    let out = slerp(&l2_normalize(&a), &l2_normalize(&b), &t) * length;
    Ok((out, labels.to_device(dev).index_select(0, &src)))
}

/// How much each term counts; a zero weight skips the term's computation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossWeights {
    pub bce: f64,
    pub alignment: f64,
    pub uniformity: f64,
    pub supcon: f64,
    pub image_text: f64,
}

impl Default for LossWeights {
    /// The LNCLIP-DF paper's recipe: cross-entropy 1, uniformity 0.5, alignment 0.1; the
    /// contrastive and text terms off.
    fn default() -> Self {
        LossWeights {
            bce: 1.0,
            alignment: 0.1,
            uniformity: 0.5,
            supcon: 0.0,
            image_text: 0.0,
        }
    }
}

/// The names `verity train --loss` and Retrain's advanced settings accept, in order, with the
/// [`LossWeights`] field each sets.
pub const LOSS_NAMES: [(&str, &str); 5] = [
    ("bce", "bce"),
    ("align", "alignment"),
    ("unif", "uniformity"),
    ("supcon", "supcon"),
    ("text", "image_text"),
];

impl LossWeights {
    /// Each term's short name (see [`LOSS_NAMES`]) and weight.
    pub fn entries(&self) -> [(&'static str, f64); 5] {
        [
            ("bce", self.bce),
            ("align", self.alignment),
            ("unif", self.uniformity),
            ("supcon", self.supcon),
            ("text", self.image_text),
        ]
    }

    fn slot(&mut self, short: &str) -> Option<&mut f64> {
        Some(match short {
            "bce" => &mut self.bce,
            "align" | "alignment" => &mut self.alignment,
            "unif" | "uniformity" => &mut self.uniformity,
            "supcon" => &mut self.supcon,
            "text" | "image_text" => &mut self.image_text,
            _ => return None,
        })
    }

    /// Parses `name=weight[,name=weight…]` (e.g. `bce=1,align=0.1,unif=0.5,supcon=0.1,text=0.1`)
    /// on top of `self`: terms not named keep their weight. Names: `bce`, `align`, `unif`,
    /// `supcon`, `text` (the field names `alignment`, `uniformity`, `image_text` are accepted
    /// too). Refuses an unknown or repeated name, a missing `=`, a weight that is not a finite
    /// number ≥ 0, and a result where every weight is 0.
    pub fn with_spec(mut self, spec: &str) -> Result<LossWeights> {
        let allowed = LOSS_NAMES
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        let bad = |m: String| {
            Err(Error::Config(format!(
                "loss weights {spec:?}: {m} (write name=weight,…; names: {allowed}; weights are \
                 numbers ≥ 0, e.g. bce=1,align=0.1,unif=0.5,supcon=0.1,text=0.1)"
            )))
        };
        if spec.trim().is_empty() {
            return bad("no weights given".into());
        }
        let mut seen: Vec<&str> = vec![];
        for item in spec.split(',') {
            let item = item.trim();
            let Some((name, value)) = item.split_once('=') else {
                return bad(format!("{item:?} has no '='"));
            };
            let name = name.trim();
            let value = value.trim();
            let canonical = LOSS_NAMES
                .iter()
                .find(|(short, field)| name == *short || name == *field)
                .map(|(short, _)| *short);
            let Some(short) = canonical else {
                return bad(format!("unknown loss {name:?}"));
            };
            if seen.contains(&short) {
                return bad(format!("{short} is given twice"));
            }
            seen.push(short);
            let w: f64 = match value.parse() {
                Ok(w) => w,
                Err(_) => return bad(format!("the weight of {short} ({value:?}) is not a number")),
            };
            if !(w.is_finite() && w >= 0.0) {
                return bad(format!(
                    "the weight of {short} must be a finite number ≥ 0, not {value}"
                ));
            }
            if let Some(slot) = self.slot(short) {
                *slot = w;
            }
        }
        if let Err(e) = self.validate_for_training() {
            return bad(e.to_string());
        }
        Ok(self)
    }

    /// The weights in the `--loss` syntax, every term named (`bce=1,align=0.1,…`).
    pub fn spec(&self) -> String {
        self.entries()
            .iter()
            .map(|(n, w)| format!("{n}={w}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every weight finite and ≥ 0.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in self.entries() {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::Config(format!(
                    "loss weight {name} must be a number ≥ 0, not {v}"
                )));
            }
        }
        Ok(())
    }

    /// [`Self::validate`], and at least one weight above 0 (else a run trains nothing).
    pub fn validate_for_training(&self) -> Result<()> {
        self.validate()?;
        if self.entries().iter().all(|(_, v)| *v == 0.0) {
            return Err(Error::Config(
                "every loss weight is 0: nothing would be trained".into(),
            ));
        }
        Ok(())
    }
}

impl std::str::FromStr for LossWeights {
    type Err = Error;

    /// [`LossWeights::with_spec`] on the defaults.
    fn from_str(spec: &str) -> Result<Self> {
        LossWeights::default().with_spec(spec)
    }
}

/// Loss weights and hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LossConfig {
    pub weights: LossWeights,
    /// Alignment exponent α (Wang & Isola: 2).
    pub alpha: f64,
    /// Uniformity temperature t (Wang & Isola: 2).
    pub t: f64,
    /// Supervised-contrastive temperature τ (Khosla et al.: 0.1).
    pub temperature: f64,
    /// Logit scale of the image–text term (CLIP: 100).
    pub text_scale: f64,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            weights: LossWeights::default(),
            alpha: 2.0,
            t: 2.0,
            temperature: 0.1,
            text_scale: 100.0,
        }
    }
}

impl LossConfig {
    pub fn validate(&self) -> Result<()> {
        self.weights.validate()?;
        for (name, v) in [
            ("alpha", self.alpha),
            ("t", self.t),
            ("temperature", self.temperature),
            ("text_scale", self.text_scale),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::Config(format!(
                    "loss parameter {name} must be a number > 0, not {v}"
                )));
            }
        }
        Ok(())
    }
}

/// The weighted total and each term's value (unweighted), for the log.
#[derive(Debug)]
pub struct LossTerms {
    pub total: Tensor,
    pub parts: Vec<(&'static str, f64)>,
}

/// The configured total loss on one batch: BCE on `logits`; alignment, uniformity and supcon on
/// the L2-normalised `emb`; image–text against `text` when given and weighted.
pub fn total_loss(
    cfg: &LossConfig,
    logits: &Tensor,
    labels: &Tensor,
    emb: &Tensor,
    text: Option<&Tensor>,
) -> Result<LossTerms> {
    let n = logits.size()[0];
    if logits.size() != [n] || labels.size() != [n] || emb.dim() != 2 || emb.size()[0] != n {
        return Err(Error::Model(format!(
            "loss: logits {:?}, labels {:?} and embeddings {:?} must cover the same batch",
            logits.size(),
            labels.size(),
            emb.size()
        )));
    }
    cfg.validate()?;
    let w = &cfg.weights;
    let z = l2_normalize(emb);
    let mut total = Tensor::zeros([], (logits.kind(), logits.device()));
    let mut parts = Vec::new();
    let mut add = |name: &'static str, weight: f64, f: &dyn Fn() -> Tensor| {
        if weight > 0.0 {
            let v = f();
            parts.push((name, v.double_value(&[])));
            total = &total + v * weight;
        }
    };
    add("bce", w.bce, &|| bce_with_logits(logits, labels));
    add("alignment", w.alignment, &|| {
        alignment(&z, labels, cfg.alpha)
    });
    add("uniformity", w.uniformity, &|| uniformity(&z, cfg.t));
    add("supcon", w.supcon, &|| supcon(&z, labels, cfg.temperature));
    match text {
        Some(text) => add("image_text", w.image_text, &|| {
            image_text(&z, text, labels, cfg.text_scale)
        }),
        None if w.image_text > 0.0 => {
            return Err(Error::Config(
                "the image–text loss is weighted but no text-prompt embeddings were given".into(),
            ))
        }
        None => {}
    }
    Ok(LossTerms { total, parts })
}
