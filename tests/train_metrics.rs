//! Evaluation metrics: hand-computed small cases, and 240 scores with many ties against numpy
//! (tests/reference/losses_ref.py, which counts pairs for the AUC and scans unique thresholds).
mod common;

use std::collections::HashMap;
use verity::config::Thresholds;
use verity::train::metrics::{self, ECE_BINS};

fn fixtures() -> (Vec<f64>, Vec<bool>, HashMap<String, Vec<f64>>) {
    let dir = common::fixtures("losses_ref", "", &[]);
    let t = common::read_safetensors(&dir.join("metrics.safetensors"));
    let v: HashMap<String, Vec<f64>> = t
        .iter()
        .map(|(k, x)| (k.clone(), Vec::<f64>::try_from(x).unwrap()))
        .collect();
    let scores = v["scores"].clone();
    let labels = v["labels"].iter().map(|&l| l == 1.0).collect();
    (scores, labels, v)
}

fn eq(name: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= 1e-12, "{name}: {got} vs numpy {want}");
}

#[test]
fn metrics_match_numpy_on_tied_scores() {
    let (s, l, want) = fixtures();
    let th = Thresholds {
        real: 0.3,
        fake: 0.7,
    };
    let r = metrics::evaluate(&s, &l, &th).unwrap();
    eq("auc", r.auc.unwrap(), want["auc"][0]);
    eq("eer", r.eer.unwrap().rate, want["eer"][0]);
    eq(
        "eer threshold",
        r.eer.unwrap().threshold,
        want["eer_threshold"][0],
    );
    eq(
        "average precision",
        r.average_precision.unwrap(),
        want["ap"][0],
    );
    eq("ece", r.ece, want["ece"][0]);
    eq("review share", r.review_share, want["review_share"][0]);
    let acc: Vec<(f64, f64)> = r
        .accuracy
        .iter()
        .map(|a| (a.threshold, a.accuracy.unwrap()))
        .collect();
    assert_eq!(acc.iter().map(|a| a.0).collect::<Vec<_>>(), [0.5, 0.3, 0.7]);
    for (k, (_, a)) in acc.iter().enumerate() {
        eq("accuracy", *a, want["accuracy"][k]);
    }
    assert_eq!(r.roc.len(), want["roc_fpr"].len());
    for (k, p) in r.roc.iter().enumerate() {
        eq("roc fpr", p.fpr, want["roc_fpr"][k]);
        eq("roc tpr", p.tpr, want["roc_tpr"][k]);
        let thr = if p.threshold.is_infinite() {
            -1.0
        } else {
            p.threshold
        };
        eq("roc threshold", thr, want["roc_thr"][k]);
    }
    assert_eq!(r.n, 240);
    assert_eq!(r.histogram.real.iter().sum::<usize>(), r.n_real);
    assert_eq!(r.histogram.fake.iter().sum::<usize>(), r.n_fake);
    println!(
        "auc {:.6} eer {:.6} ap {:.6} ece {:.6}",
        r.auc.unwrap(),
        r.eer.unwrap().rate,
        r.average_precision.unwrap(),
        r.ece
    );
}

#[test]
fn hand_computed_cases() {
    // Perfect separation.
    let s = [0.1, 0.2, 0.8, 0.9];
    let l = [false, false, true, true];
    assert_eq!(metrics::auc(&s, &l).unwrap(), Some(1.0));
    assert_eq!(metrics::eer(&s, &l).unwrap().unwrap().rate, 0.0);
    assert_eq!(metrics::average_precision(&s, &l).unwrap(), Some(1.0));
    // Inverted: AUC 0, EER 1.
    let inv = [false, false, true, true].map(|x| !x);
    assert_eq!(metrics::auc(&s, &inv).unwrap(), Some(0.0));
    assert_eq!(metrics::eer(&s, &inv).unwrap().unwrap().rate, 1.0);
    // All tied: AUC 0.5 (every pair counts one half), AP = prevalence, EER 0.5.
    let t = [0.5; 4];
    let l2 = [true, false, false, true];
    assert_eq!(metrics::auc(&t, &l2).unwrap(), Some(0.5));
    assert_eq!(metrics::average_precision(&t, &l2).unwrap(), Some(0.5));
    assert_eq!(metrics::eer(&t, &l2).unwrap().unwrap().rate, 0.5);
    // One swapped pair of 2×2: pairs (f,r): 0.9>0.1, 0.9>0.6, 0.4>0.1, 0.4<0.6 → 3/4.
    let s3 = [0.1, 0.6, 0.4, 0.9];
    assert_eq!(metrics::auc(&s3, &l).unwrap(), Some(0.75));
    // AP: order 0.9(f) 0.6(r) 0.4(f) 0.1(r): recall .5 at P 1, recall 1 at P 2/3 → 0.5 + 0.5·2/3.
    assert_eq!(
        metrics::average_precision(&s3, &l).unwrap(),
        Some(0.5 + 0.5 * (2.0 / 3.0))
    );
    // EER: ROC points at thresholds ∞, 0.9, 0.6, 0.4, 0.1 are (0,0) (0,.5) (.5,.5) (.5,1) (1,1);
    // FNR − FPR = 1, .5, 0 → the crossing is the point of threshold 0.6.
    let e = metrics::eer(&s3, &l).unwrap().unwrap();
    assert_eq!((e.rate, e.threshold), (0.5, 0.6));
    // Scores 0.9 f, 0.8 r, 0.7 r, 0.6 f, 0.5 f, 0.1 r → (FPR, FNR) at 0.9: (0, 2/3), at 0.8:
    // (1/3, 2/3), at 0.7: (2/3, 2/3): the crossing is exactly at 2/3.
    let s4 = [0.9, 0.8, 0.7, 0.6, 0.5, 0.1];
    let l4 = [true, false, false, true, true, false];
    let e4 = metrics::eer(&s4, &l4).unwrap().unwrap();
    assert!((e4.rate - 2.0 / 3.0).abs() < 1e-15, "{e4:?}");
    // A crossing between points: 0.9 f, 0.5 r, 0.4 f → ROC (0,0) (0,.5) (1,.5) (1,1).
    // FNR − FPR: 1, .5, −.5 → halfway along the horizontal segment: FPR = 0.5, FNR = 0.5.
    let e5 = metrics::eer(&[0.9, 0.5, 0.4], &[true, false, true])
        .unwrap()
        .unwrap();
    assert_eq!((e5.rate, e5.threshold), (0.5, 0.5));
    // Accuracy at 0.5: 0.1 r ✓, 0.6 r ✗, 0.4 f ✗, 0.9 f ✓; "fake" iff ≥ τ, so τ = 0.6 calls 0.6 fake.
    assert_eq!(metrics::accuracy_at(&s3, &l, 0.5).unwrap(), Some(0.5));
    assert_eq!(metrics::accuracy_at(&s3, &l, 0.9).unwrap(), Some(0.75));
    // ECE: bins (0, 1/15] … ; 0.1 → bin 1, 0.6 → bin 8, 0.4 → bin 5, 0.9 → bin 13: each alone,
    // so ECE = mean |p − y| = (0.1 + 0.6 + 0.6 + 0.1) / 4.
    assert!((metrics::ece(&s3, &l, ECE_BINS).unwrap() - 0.35).abs() < 1e-15);
    assert_eq!(metrics::calibration_bin(0.0, 15), 0);
    assert_eq!(metrics::calibration_bin(1.0, 15), 14);
    assert_eq!(metrics::calibration_bin(2.0 / 15.0, 15), 1);
    // Review band is inclusive at both ends, like Thresholds::band.
    let th = Thresholds {
        real: 0.3,
        fake: 0.7,
    };
    assert_eq!(
        metrics::review_share(&[0.3, 0.7, 0.29, 0.71, 0.5], &th),
        0.6
    );
}

#[test]
fn undefined_metrics_and_bad_input() {
    let s = [0.2, 0.4];
    assert_eq!(metrics::auc(&s, &[true, true]).unwrap(), None);
    assert_eq!(metrics::eer(&s, &[false, false]).unwrap(), None);
    assert_eq!(
        metrics::average_precision(&s, &[false, false]).unwrap(),
        None
    );
    assert!(metrics::roc_curve(&s, &[true, true]).unwrap().is_empty());
    assert!(metrics::auc(&s, &[true]).is_err());
    let err = metrics::auc(&[0.1, f64::NAN], &[true, false]).unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");
    let empty = metrics::evaluate(&[], &[], &Thresholds::default()).unwrap();
    assert_eq!((empty.n, empty.auc, empty.ece), (0, None, 0.0));
}

#[test]
fn html_report_has_the_plots_and_no_scripts() {
    let (s, l, _) = fixtures();
    let r = metrics::evaluate(&s, &l, &Thresholds::default()).unwrap();
    let html = r.to_html("Validation <tiny>");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Validation &lt;tiny&gt;"));
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("<polyline"), "ROC curve drawn");
    assert!(!html.contains("<script"));
    assert!(html.contains(&format!("{:.4}", r.auc.unwrap())));
    // JSON: the first ROC threshold (infinite) is written as null.
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["roc"][0]["threshold"].is_null());
    assert_eq!(json["n"], 240);
}
