//! Evaluation metrics for a binary fake-vs-real detector, on plain slices (`scores` = probability
//! of "fake", `labels` true = fake), computed in f64 with the textbook definitions:
//!
//! - ROC curve: one point per distinct score, thresholds descending, starting at (0, 0) with an
//!   infinite threshold ("nothing is called fake"), as scikit-learn's `roc_curve(drop_intermediate=False)`.
//! - AUC: the Mann–Whitney U statistic with mid-ranks for ties, U / (n₊·n₋) (= the trapezoidal
//!   area under that ROC curve; J. Hanley & B. McNeil, Radiology 1982).
//! - EER: where the false-positive rate equals the false-negative rate, linearly interpolated
//!   between the two ROC points that bracket the crossing.
//! - Average precision: Σ_k (R_k − R_{k−1})·P_k over the distinct thresholds (scikit-learn's
//!   `average_precision_score`, no interpolation).
//! - ECE: C. Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, on the fake
//!   probability (reliability of p(fake)): 15 equal-width bins (b/15, (b+1)/15] (0 in the first),
//!   Σ_b (|b|/n)·|mean p − fraction fake|.
//! - Accuracy at a threshold τ: "fake" iff score ≥ τ. Review-band share: scores with
//!   real ≤ score ≤ fake (the band [`Thresholds::band`] calls "needs human review").
//!
//! `tests/reference/losses_ref.py` recomputes each in numpy on the same inputs (test
//! `train_metrics`). [`Report::to_html`] writes the evaluation page (inline SVG from
//! [`crate::chart`], no scripts).
use crate::chart::{Axis, Chart, Histogram as Bars, Point, Series, Span};
use crate::config::{Band, Thresholds};
use crate::{Error, Result};
use maud::{html, PreEscaped, DOCTYPE};
use serde::Serialize;

/// Bins of the calibration error and of the score histogram.
pub const ECE_BINS: usize = 15;

fn check(scores: &[f64], labels: &[bool]) -> Result<()> {
    if scores.len() != labels.len() {
        return Err(Error::Other(format!(
            "metrics: {} scores but {} labels",
            scores.len(),
            labels.len()
        )));
    }
    if let Some((i, s)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(Error::Other(format!(
            "metrics: score {i} is not a finite number ({s})"
        )));
    }
    Ok(())
}

/// One point of the ROC curve: calling "fake" every score ≥ `threshold` gives these rates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RocPoint {
    pub fpr: f64,
    pub tpr: f64,
    /// `f64::INFINITY` (JSON null) for the first point.
    pub threshold: f64,
}

/// The ROC curve (see the module doc). Empty when one class is absent (the rates are undefined).
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Result<Vec<RocPoint>> {
    check(scores, labels)?;
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut out = vec![RocPoint {
        fpr: 0.0,
        tpr: 0.0,
        threshold: f64::INFINITY,
    }];
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let mut k = 0;
    while k < order.len() {
        let s = scores[order[k]];
        // Every sample with this exact score crosses the threshold together.
        while k < order.len() && scores[order[k]] == s {
            if labels[order[k]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            k += 1;
        }
        out.push(RocPoint {
            fpr: fp / neg,
            tpr: tp / pos,
            threshold: s,
        });
    }
    Ok(out)
}

/// Mid-ranks (1-based) of `scores`, ties sharing the mean of the ranks they span.
fn midranks(scores: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut k = 0;
    while k < order.len() {
        let mut e = k;
        while e + 1 < order.len() && scores[order[e + 1]] == scores[order[k]] {
            e += 1;
        }
        // Ranks k+1 ..= e+1 share their mean.
        let r = (k + e) as f64 / 2.0 + 1.0;
        for &i in &order[k..=e] {
            ranks[i] = r;
        }
        k = e + 1;
    }
    ranks
}

/// Area under the ROC curve, or None when one class is absent.
pub fn auc(scores: &[f64], labels: &[bool]) -> Result<Option<f64>> {
    check(scores, labels)?;
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return Ok(None);
    }
    let ranks = midranks(scores);
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(r, _)| r)
        .sum();
    Ok(Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)))
}

/// The equal error rate and the threshold of the first ROC point at or past the crossing.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Eer {
    pub rate: f64,
    pub threshold: f64,
}

/// Equal error rate (see the module doc), or None when one class is absent.
pub fn eer(scores: &[f64], labels: &[bool]) -> Result<Option<Eer>> {
    let roc = roc_curve(scores, labels)?;
    // d = FNR − FPR falls from 1 at the first point to −1 at the last: find where it crosses 0.
    let d = |p: &RocPoint| (1.0 - p.tpr) - p.fpr;
    for k in 1..roc.len() {
        let (a, b) = (&roc[k - 1], &roc[k]);
        if d(b) <= 0.0 {
            let s = d(a) / (d(a) - d(b));
            return Ok(Some(Eer {
                rate: a.fpr + s * (b.fpr - a.fpr),
                threshold: b.threshold,
            }));
        }
    }
    Ok(None)
}

/// Share of correct calls when "fake" means score ≥ `threshold`. None for no samples.
pub fn accuracy_at(scores: &[f64], labels: &[bool], threshold: f64) -> Result<Option<f64>> {
    check(scores, labels)?;
    if scores.is_empty() {
        return Ok(None);
    }
    let correct = scores
        .iter()
        .zip(labels)
        .filter(|(&s, &l)| (s >= threshold) == l)
        .count();
    Ok(Some(correct as f64 / scores.len() as f64))
}

/// Average precision (see the module doc), or None when there is no fake sample.
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Result<Option<f64>> {
    check(scores, labels)?;
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    if pos == 0.0 {
        return Ok(None);
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut called, mut prev_recall, mut ap) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut k = 0;
    while k < order.len() {
        let s = scores[order[k]];
        while k < order.len() && scores[order[k]] == s {
            tp += labels[order[k]] as u8 as f64;
            called += 1.0;
            k += 1;
        }
        let recall = tp / pos;
        ap += (recall - prev_recall) * (tp / called);
        prev_recall = recall;
    }
    Ok(Some(ap))
}

/// The calibration bin of a probability: (b/n, (b+1)/n], with 0 (and anything below) in bin 0
/// and anything above 1 in the last.
pub fn calibration_bin(p: f64, bins: usize) -> usize {
    let b = (p * bins as f64).ceil() - 1.0;
    b.clamp(0.0, bins as f64 - 1.0) as usize
}

/// Expected calibration error of p(fake) over `bins` equal-width bins; 0 for no samples.
pub fn ece(scores: &[f64], labels: &[bool], bins: usize) -> Result<f64> {
    check(scores, labels)?;
    if scores.is_empty() || bins == 0 {
        return Ok(0.0);
    }
    let mut sum_p = vec![0.0f64; bins];
    let mut sum_y = vec![0.0f64; bins];
    let mut count = vec![0usize; bins];
    for (&s, &l) in scores.iter().zip(labels) {
        let b = calibration_bin(s, bins);
        sum_p[b] += s;
        sum_y[b] += l as u8 as f64;
        count[b] += 1;
    }
    let n = scores.len() as f64;
    Ok((0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let c = count[b] as f64;
            (c / n) * (sum_p[b] / c - sum_y[b] / c).abs()
        })
        .sum())
}

/// Share of scores in the review band (real ≤ score ≤ fake); 0 for no samples.
pub fn review_share(scores: &[f64], thresholds: &Thresholds) -> f64 {
    if scores.is_empty() {
        return 0.0;
    }
    let n = scores
        .iter()
        .filter(|&&s| thresholds.band(s) == Band::Review)
        .count();
    n as f64 / scores.len() as f64
}

/// Accuracy at one threshold, for the report.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AccuracyAt {
    pub threshold: f64,
    pub accuracy: Option<f64>,
}

/// Per-class counts of scores in [`ECE_BINS`] equal bins of [0, 1], for the histogram.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Histogram {
    pub real: Vec<usize>,
    pub fake: Vec<usize>,
}

/// Everything an evaluation reports (written as `metrics.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub n: usize,
    pub n_fake: usize,
    pub n_real: usize,
    pub auc: Option<f64>,
    pub eer: Option<Eer>,
    pub average_precision: Option<f64>,
    pub ece: f64,
    /// Accuracy at 0.5 and at the configured real/fake thresholds.
    pub accuracy: Vec<AccuracyAt>,
    pub thresholds: Thresholds,
    /// Share of samples in the review band.
    pub review_share: f64,
    /// Accuracy among the samples outside the review band (what the app decides on its own).
    pub decided_accuracy: Option<f64>,
    pub roc: Vec<RocPoint>,
    pub histogram: Histogram,
}

/// All metrics of one scored set.
pub fn evaluate(scores: &[f64], labels: &[bool], thresholds: &Thresholds) -> Result<Report> {
    check(scores, labels)?;
    let n_fake = labels.iter().filter(|&&l| l).count();
    let mut accuracy = Vec::new();
    for t in [0.5, thresholds.real, thresholds.fake] {
        if !accuracy.iter().any(|a: &AccuracyAt| a.threshold == t) {
            accuracy.push(AccuracyAt {
                threshold: t,
                accuracy: accuracy_at(scores, labels, t)?,
            });
        }
    }
    let decided: Vec<(f64, bool)> = scores
        .iter()
        .zip(labels)
        .filter(|(&s, _)| thresholds.band(s) != Band::Review)
        .map(|(&s, &l)| (s, l))
        .collect();
    let decided_accuracy = (!decided.is_empty()).then(|| {
        let ok = decided
            .iter()
            .filter(|(s, l)| (thresholds.band(*s) == Band::Fake) == *l)
            .count();
        ok as f64 / decided.len() as f64
    });
    let mut histogram = Histogram {
        real: vec![0; ECE_BINS],
        fake: vec![0; ECE_BINS],
    };
    for (&s, &l) in scores.iter().zip(labels) {
        let b = ((s * ECE_BINS as f64).floor().max(0.0) as usize).min(ECE_BINS - 1);
        if l {
            histogram.fake[b] += 1;
        } else {
            histogram.real[b] += 1;
        }
    }
    Ok(Report {
        n: scores.len(),
        n_fake,
        n_real: scores.len() - n_fake,
        auc: auc(scores, labels)?,
        eer: eer(scores, labels)?,
        average_precision: average_precision(scores, labels)?,
        ece: ece(scores, labels, ECE_BINS)?,
        accuracy,
        thresholds: *thresholds,
        review_share: review_share(scores, thresholds),
        decided_accuracy,
        roc: roc_curve(scores, labels)?,
        histogram,
    })
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.digits$}"))
}

const PAGE_CSS: &str =
    "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
th,td{padding:4px 12px;border-bottom:1px solid #ddd;text-align:left}\
figure{display:inline-block;margin:1em 2em 1em 0;vertical-align:top}";

impl Report {
    /// A self-contained HTML page: the figures as a table, the ROC curve and the per-class score
    /// histogram as inline SVG ([`crate::chart`]; no scripts, no external files, so it opens
    /// offline anywhere). A `maud` template: the title and every value are escaped.
    pub fn to_html(&self, title: &str) -> String {
        let mut rows = vec![
            (
                "Samples".to_string(),
                format!("{} ({} fake, {} real)", self.n, self.n_fake, self.n_real),
            ),
            ("AUC".into(), fmt_opt(self.auc, 4)),
            (
                "EER".into(),
                self.eer.map_or("n/a".into(), |e| {
                    format!("{:.4} (threshold {:.4})", e.rate, e.threshold)
                }),
            ),
            (
                "Average precision".into(),
                fmt_opt(self.average_precision, 4),
            ),
            ("ECE (15 bins)".into(), format!("{:.4}", self.ece)),
            (
                "Review band".into(),
                format!(
                    "{:.1} % of samples in [{}, {}]",
                    100.0 * self.review_share,
                    self.thresholds.real,
                    self.thresholds.fake
                ),
            ),
            (
                "Accuracy outside the band".into(),
                fmt_opt(self.decided_accuracy, 4),
            ),
        ];
        rows.extend(self.accuracy.iter().map(|a| {
            (
                format!("Accuracy at {}", a.threshold),
                fmt_opt(a.accuracy, 4),
            )
        }));
        html! {
            (DOCTYPE) "\n"
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { (title) }
                    style { (PreEscaped(PAGE_CSS)) }
                }
                body {
                    h1 { (title) }
                    table {
                        @for (k, v) in &rows {
                            tr { th { (k) } td { (v) } }
                        }
                    }
                    figure {
                        (self.roc_chart().render())
                        figcaption { "ROC curve (true-positive rate vs false-positive rate; dashed: chance)" }
                    }
                    figure {
                        (self.histogram_chart().render())
                        figcaption { "Scores by true class (blue: real, red: fake); shaded: review band" }
                    }
                }
            }
        }
        .into_string()
    }

    /// The ROC curve over the chance diagonal.
    pub fn roc_chart(&self) -> Chart {
        let mut c = Chart::new(
            "ROC curve",
            380.0,
            380.0,
            Axis::new(
                format!("false-positive rate (AUC {})", fmt_opt(self.auc, 3)),
                0.0,
                1.0,
            ),
            Axis::new("true-positive rate", 0.0, 1.0),
        );
        c.margin = (48.0, 16.0, 16.0, 44.0);
        c.frame = true;
        c.series = vec![
            Series::line("", "#aaa", vec![Point::new(0.0, 0.0), Point::new(1.0, 1.0)])
                .dashed()
                .with_width(1.0),
            Series::line(
                "",
                "#c0392b",
                self.roc.iter().map(|p| Point::new(p.fpr, p.tpr)).collect(),
            )
            .with_width(2.0),
        ];
        c
    }

    /// Per-class score counts in [`ECE_BINS`] bins, the review band shaded.
    pub fn histogram_chart(&self) -> Chart {
        let bins = self.histogram.real.len().max(1);
        let peak = self
            .histogram
            .real
            .iter()
            .chain(&self.histogram.fake)
            .copied()
            .max()
            .unwrap_or(0)
            .max(1) as f64;
        let mut c = Chart::new(
            "score histogram",
            500.0,
            380.0,
            Axis::new("p(fake)", 0.0, 1.0),
            if peak <= 5.0 {
                Axis::new("samples", 0.0, peak)
                    .with_ticks((0..=peak as usize).map(|v| v as f64).collect(), 0)
            } else {
                Axis::new("samples", 0.0, peak)
            },
        );
        c.margin = (48.0, 16.0, 24.0, 44.0);
        c.spans = vec![Span {
            from: self.thresholds.real.clamp(0.0, 1.0),
            to: self.thresholds.fake.clamp(0.0, 1.0),
            fill: "#f4e7b0",
            title: Some(format!(
                "review band {}–{}",
                self.thresholds.real, self.thresholds.fake
            )),
        }];
        let counts = |v: &[usize]| v.iter().map(|&c| c as f64).collect::<Vec<f64>>();
        c.histogram = Some(Bars {
            edges: (0..=bins).map(|b| b as f64 / bins as f64).collect(),
            groups: vec![("real".into(), "#2e86c1"), ("fake".into(), "#c0392b")],
            counts: vec![counts(&self.histogram.real), counts(&self.histogram.fake)],
        });
        c.legend = true;
        c
    }
}
