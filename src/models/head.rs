//! The seed design's classification head: a two-layer MLP on the fused embedding,
//! `Linear(in, hidden) → GELU → Dropout → Linear(hidden, 1) → Sigmoid`.
//!
//! GELU is the exact erf form (PyTorch `nn.GELU()` default, Hendrycks & Gimpel 2016), not the tanh
//! approximation. Dropout is active only when training. Variables: `head.fc1.{weight,bias}`,
//! `head.fc2.{weight,bias}` (PyTorch `nn.Linear` layout; our own names, as no published
//! checkpoint exists for this head). Mirrored in PyTorch by `tests/reference/detector_ref.py`.
use crate::{Error, Result};
use tch::{nn, Tensor};

#[derive(Debug)]
pub struct Head {
    fc1: nn::Linear,
    fc2: nn::Linear,
    in_dim: i64,
    dropout: f64,
}

/// The head's output: `prob = sigmoid(logit)`, both [B].
#[derive(Debug)]
pub struct HeadOutput {
    pub logit: Tensor,
    pub prob: Tensor,
}

impl Head {
    /// Creates `root/"head"/{fc1,fc2}`.
    pub fn new(root: &nn::Path, in_dim: i64, hidden: i64, dropout: f64) -> Result<Self> {
        if in_dim <= 0 || hidden <= 0 {
            return Err(Error::Config(format!(
                "head: dimensions must be positive (in {in_dim}, hidden {hidden})"
            )));
        }
        if !(0.0..1.0).contains(&dropout) {
            return Err(Error::Config(format!(
                "head: dropout must be in [0, 1), not {dropout}"
            )));
        }
        let p = root / "head";
        let c = nn::LinearConfig::default();
        Ok(Head {
            fc1: nn::linear(&p / "fc1", in_dim, hidden, c),
            fc2: nn::linear(&p / "fc2", hidden, 1, c),
            in_dim,
            dropout,
        })
    }

    /// `x` [B, in] → logit and probability of "fake", [B] each.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<HeadOutput> {
        let s = x.size();
        if s.len() != 2 || s[1] != self.in_dim {
            return Err(Error::Model(format!(
                "head: input must be [batch, {}], got {s:?}",
                self.in_dim
            )));
        }
        let logit = x
            .apply(&self.fc1)
            .gelu("none")
            .dropout(self.dropout, train)
            .apply(&self.fc2)
            .squeeze_dim(1);
        let prob = logit.sigmoid();
        Ok(HeadOutput { logit, prob })
    }
}
