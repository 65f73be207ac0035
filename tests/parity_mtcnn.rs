//! MTCNN (src/faces/mtcnn.rs) against facenet-pytorch 2.6.0 with the same real weights:
//! P/R/O-Net outputs on random input, and full detections (boxes, probabilities, landmarks) on
//! astronaut variants, a 4-face mosaic and a face-free gradient. Fixtures come from
//! tests/reference/mtcnn_ref.py.
mod common;

use image::RgbImage;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;
use tch::{Device, Tensor};
use verity::faces::mtcnn::{Detection, Mtcnn, MtcnnParams};

#[derive(Deserialize)]
struct Reference {
    astronaut_detect_seconds: f64,
    images: HashMap<String, Vec<Detection>>,
}

const IMAGES: [&str; 6] = [
    "astronaut",
    "astronaut_256",
    "astronaut_letterbox",
    "astronaut_flip",
    "mosaic",
    "noface",
];

/// Made once per test binary: the tests run in parallel and must not rewrite the fixture
/// folder under each other.
fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| common::fixtures("mtcnn_ref", "", &[]))
        .clone()
}

fn reference() -> Reference {
    let text = std::fs::read_to_string(fixtures().join("detections.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load_rgb(path: &Path) -> RgbImage {
    image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8()
}

fn mtcnn() -> Mtcnn {
    Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap()
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

#[test]
fn networks_match_facenet_on_random_input() {
    let t = common::read_safetensors(&fixtures().join("nets.safetensors"));
    let m = mtcnn();
    let (reg, prob) = tch::no_grad(|| m.pnet.forward(&t["pnet.input"]));
    let d_pnet = common::max_abs_diff(&reg, &t["pnet.reg"])
        .max(common::max_abs_diff(&prob, &t["pnet.prob"]));
    let (reg, prob) = tch::no_grad(|| m.rnet.forward(&t["rnet.input"]));
    let d_rnet = common::max_abs_diff(&reg, &t["rnet.reg"])
        .max(common::max_abs_diff(&prob, &t["rnet.prob"]));
    let (reg, lms, prob) = tch::no_grad(|| m.onet.forward(&t["onet.input"]));
    let d_onet = common::max_abs_diff(&reg, &t["onet.reg"])
        .max(common::max_abs_diff(&lms, &t["onet.landmarks"]))
        .max(common::max_abs_diff(&prob, &t["onet.prob"]));
    println!("max |Δ| P-Net {d_pnet:.2e}, R-Net {d_rnet:.2e}, O-Net {d_onet:.2e}");
    assert!(d_pnet <= 1e-4, "P-Net max |Δ| {d_pnet}");
    assert!(d_rnet <= 1e-4, "R-Net max |Δ| {d_rnet}");
    assert!(d_onet <= 1e-4, "O-Net max |Δ| {d_onet}");
}

#[test]
fn detections_match_facenet() {
    let reference = reference();
    let dir = fixtures().join("images");
    let images: Vec<RgbImage> = IMAGES
        .iter()
        .map(|n| load_rgb(&dir.join(format!("{n}.png"))))
        .collect();
    let refs: Vec<&RgbImage> = images.iter().collect();
    // One call with every image: the four 512² images go through the pyramid as one batch.
    let found = mtcnn().detect(&refs).unwrap();
    let (mut worst_iou, mut worst_lm, mut worst_prob) = (1.0f32, 0.0f32, 0.0f32);
    for (name, dets) in IMAGES.iter().zip(&found) {
        let want = &reference.images[*name];
        assert_eq!(
            dets.len(),
            want.len(),
            "{name}: {} faces, facenet finds {}: {dets:?}",
            dets.len(),
            want.len()
        );
        // Same order as facenet (largest first); check each pairs with its best match too.
        for (k, (got, exp)) in dets.iter().zip(want).enumerate() {
            let best = want
                .iter()
                .map(|w| iou(&got.bbox, &w.bbox))
                .fold(0.0, f32::max);
            let o = iou(&got.bbox, &exp.bbox);
            assert!(
                (o - best).abs() < 1e-6,
                "{name} face {k}: order differs from facenet"
            );
            assert!(
                o >= 0.99,
                "{name} face {k}: IoU {o} with facenet's box ({:?} vs {:?})",
                got.bbox,
                exp.bbox
            );
            let lm = got
                .landmarks
                .iter()
                .zip(&exp.landmarks)
                .map(|(a, b)| (a[0] - b[0]).abs().max((a[1] - b[1]).abs()))
                .fold(0.0, f32::max);
            assert!(lm <= 0.5, "{name} face {k}: landmarks off by {lm} px");
            let dp = (got.prob - exp.prob).abs();
            assert!(
                dp <= 1e-3,
                "{name} face {k}: prob {} vs {}",
                got.prob,
                exp.prob
            );
            worst_iou = worst_iou.min(o);
            worst_lm = worst_lm.max(lm);
            worst_prob = worst_prob.max(dp);
        }
    }
    assert_eq!(found[4].len(), 4, "the mosaic holds four faces");
    assert!(found[5].is_empty(), "the gradient holds no face");
    println!(
        "min IoU {worst_iou:.5}, max landmark |Δ| {worst_lm:.4} px, max prob |Δ| {worst_prob:.2e}"
    );
}

#[test]
fn batched_detection_equals_one_image_at_a_time() {
    let dir = fixtures().join("images");
    let a = load_rgb(&dir.join("astronaut.png"));
    let f = load_rgb(&dir.join("astronaut_flip.png"));
    let s = load_rgb(&dir.join("astronaut_256.png"));
    let m = mtcnn();
    let together = m.detect(&[&a, &s, &f]).unwrap();
    let alone: Vec<Vec<Detection>> = [&a, &s, &f]
        .iter()
        .map(|im| m.detect(&[im]).unwrap().remove(0))
        .collect();
    assert_eq!(together.len(), 3);
    for (t, o) in together.iter().zip(&alone) {
        assert_eq!(t.len(), o.len());
        for (x, y) in t.iter().zip(o) {
            for i in 0..4 {
                assert!((x.bbox[i] - y.bbox[i]).abs() < 1e-3, "{x:?} vs {y:?}");
            }
            assert!((x.prob - y.prob).abs() < 1e-5);
        }
    }
}

#[test]
fn astronaut_landmarks_are_plausible() {
    let m = mtcnn();
    let img = load_rgb(&common::astronaut());
    let dets = m.detect(&[&img]).unwrap().remove(0);
    // Timing for the report only (never asserted): best of 3 after the call above warmed up,
    // like the fixture script times facenet-pytorch.
    let secs = (0..3)
        .map(|_| {
            let started = Instant::now();
            m.detect(&[&img]).unwrap();
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let facenet = reference().astronaut_detect_seconds;
    println!("astronaut detect (CPU, best of 3): Rust {secs:.3} s, facenet-pytorch {facenet:.3} s");
    assert_eq!(dets.len(), 1, "{dets:?}");
    let d = &dets[0];
    assert!(d.prob > 0.99, "{d:?}");
    let [le, re, nose, ml, mr] = d.landmarks;
    let [x1, y1, x2, y2] = d.bbox;
    for p in d.landmarks {
        assert!(
            p[0] > x1 && p[0] < x2 && p[1] > y1 && p[1] < y2,
            "landmark {p:?} outside {:?}",
            d.bbox
        );
    }
    assert!(
        le[0] < re[0] && ml[0] < mr[0],
        "left/right swapped: {:?}",
        d.landmarks
    );
    assert!(
        le[1].max(re[1]) < nose[1] && nose[1] < ml[1].min(mr[1]),
        "eyes/nose/mouth order: {:?}",
        d.landmarks
    );
    assert!(
        nose[0] > le[0] && nose[0] < re[0],
        "nose between the eyes: {:?}",
        d.landmarks
    );
    // Measured (and matching facenet-pytorch): box and landmark positions, ±3 px.
    let want_box = [181.1, 62.2, 267.7, 172.1];
    let want = [
        [205.0, 101.7],
        [246.8, 103.7],
        [224.7, 129.0],
        [201.7, 139.2],
        [245.3, 141.9],
    ];
    for (g, w) in d.bbox.iter().zip(want_box) {
        assert!((g - w).abs() <= 3.0, "box {:?} vs {want_box:?}", d.bbox);
    }
    for (g, w) in d.landmarks.iter().zip(want) {
        assert!(
            (g[0] - w[0]).abs() <= 3.0 && (g[1] - w[1]).abs() <= 3.0,
            "{:?} vs {want:?}",
            d.landmarks
        );
    }
}

#[test]
fn tiny_and_empty_images_give_no_faces() {
    let m = mtcnn();
    let sizes = [
        (0, 0),
        (1, 1),
        (5, 5),
        (19, 19),
        (1, 600),
        (600, 1),
        (19, 400),
    ];
    let images: Vec<RgbImage> = sizes
        .iter()
        .map(|&(w, h)| RgbImage::from_pixel(w, h, image::Rgb([120, 90, 60])))
        .collect();
    let refs: Vec<&RgbImage> = images.iter().collect();
    let found = m.detect(&refs).unwrap();
    assert_eq!(found.len(), sizes.len());
    assert!(found.iter().all(Vec::is_empty), "{found:?}");
    // The smallest image that has a pyramid level (20 px) runs through every stage without error.
    let flat = RgbImage::from_pixel(20, 20, image::Rgb([128, 128, 128]));
    assert_eq!(m.detect(&[&flat]).unwrap(), vec![Vec::<Detection>::new()]);
    assert!(m.detect(&[]).unwrap().is_empty());
}

#[test]
fn bad_parameters_are_errors() {
    let img = load_rgb(&common::astronaut());
    for params in [
        MtcnnParams {
            factor: 1.0,
            ..Default::default()
        },
        MtcnnParams {
            factor: 0.0,
            ..Default::default()
        },
        MtcnnParams {
            min_face_size: 0,
            ..Default::default()
        },
        MtcnnParams {
            thresholds: [f32::NAN, 0.7, 0.7],
            ..Default::default()
        },
    ] {
        let err = mtcnn().with_params(params).detect(&[&img]).unwrap_err();
        assert!(matches!(err, verity::Error::Config(_)), "{params:?}: {err}");
    }
    // A tiny min_face_size on a large frame would up-sample it enormously: refused, not OOM.
    let big = RgbImage::new(4000, 3000);
    let err = mtcnn()
        .with_params(MtcnnParams {
            min_face_size: 1,
            ..Default::default()
        })
        .detect(&[&big])
        .unwrap_err();
    assert!(matches!(err, verity::Error::TooLarge(_)), "{err}");
}

#[test]
fn missing_or_mismatched_weights_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Mtcnn::load(dir.path(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pnet.safetensors") && err.contains(&dir.path().display().to_string()),
        "{err}"
    );

    // A file with a renamed tensor is refused and the names are reported.
    let src = Mtcnn::default_dir();
    for net in ["pnet", "rnet"] {
        std::fs::copy(
            src.join(format!("{net}.safetensors")),
            dir.path().join(format!("{net}.safetensors")),
        )
        .unwrap();
    }
    let mut onet = common::read_safetensors(&src.join("onet.safetensors"));
    let w = onet.remove("dense6_3.weight").unwrap();
    onet.insert("dense6_3.weights".into(), w);
    let named: Vec<(String, Tensor)> = onet.into_iter().collect();
    Tensor::write_safetensors(&named, dir.path().join("onet.safetensors")).unwrap();
    let err = Mtcnn::load(dir.path(), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dense6_3.weight") && err.contains("dense6_3.weights"),
        "{err}"
    );
}
