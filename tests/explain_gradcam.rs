//! Grad-CAM, attention rollout and the crop → frame mapping (src/explain/gradcam.rs), and the
//! face-level API (src/explain/mod.rs `explain_face`):
//! - synthetic networks whose answer is known: the heat-map peak must land where the evidence is;
//! - parity with a PyTorch Grad-CAM on the same weights (tests/reference/gradcam_ref.py: timm
//!   EfficientNet-B0, transformers CLIP tiny), max |Δ| ≤ 1e-4 on the raw cam and the heat-map;
//! - heat-maps carried into the original frame through the inverse alignment land where the
//!   alignment took them from.
mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use common::{fixtures, max_abs_diff, read_safetensors};
use image::{Rgb, RgbImage};
use sha2::Digest;
use tch::{nn, Device, Kind, Tensor};
use verity::explain::gradcam::{
    attention_rollout, cnn_gradcam, heatmap_to_frame, overlay_on_frame, token_gradcam, vit_gradcam,
    Cam, CamMethod,
};
use verity::explain::heat::{Colormap, Heatmap};
use verity::explain::{detector_cams, explain_face, ExplainConfig, FaceCam, FaceInput, Space};
use verity::faces::align::{
    align_face, to_tensor, warp_similarity, AlignTemplate, Similarity, CLIP_MEAN, CLIP_STD,
};
use verity::faces::mtcnn::Mtcnn;
use verity::models::clip::{ClipConfig, ClipVision};
use verity::models::detector::{CnnKind, Detector, DetectorConfig};
use verity::models::efficientnet::{EfficientNet, EfficientNetConfig};
use verity::models::fusion::FusionMode;
use verity::models::load_safetensors_strict;

const TOL: f64 = 1e-4;

/// A rectangle in pixels: x0..x1, y0..y1 (exclusive ends).
#[derive(Clone, Copy)]
struct Rect {
    x0: u32,
    x1: u32,
    y0: u32,
    y1: u32,
}

impl Rect {
    fn contains(&self, x: u32, y: u32) -> bool {
        (self.x0..self.x1).contains(&x) && (self.y0..self.y1).contains(&y)
    }
    /// Grown by `m` px on every side.
    fn grown(&self, m: u32) -> Rect {
        Rect {
            x0: self.x0.saturating_sub(m),
            x1: self.x1 + m,
            y0: self.y0.saturating_sub(m),
            y1: self.y1 + m,
        }
    }
}

/// A wide strip in the top-right: not symmetric under transposition or flips, so a map drawn
/// transposed or mirrored would miss it.
const STRIP: Rect = Rect {
    x0: 128,
    x1: 224,
    y0: 16,
    y1: 64,
};

fn one_heat(cam: &Cam) -> Heatmap {
    let mut maps = cam.heatmaps(224, 224).unwrap();
    assert_eq!(maps.len(), 1);
    maps.remove(0)
}

fn assert_peak_in(heat: &Heatmap, r: Rect, what: &str) {
    let (x, y) = heat.argmax();
    let inside = heat.mean_where(|x, y| r.contains(x, y));
    let outside = heat.mean_where(|x, y| !r.grown(16).contains(x, y));
    eprintln!("{what}: peak at ({x}, {y}); mean heat inside {inside:.3}, outside {outside:.3}");
    assert!(
        r.contains(x, y),
        "{what}: peak ({x}, {y}) outside the region"
    );
    assert!(
        inside > 5.0 * outside,
        "{what}: inside {inside} vs outside {outside}"
    );
}

/// Smooth random background (8×8 noise up-sampled) plus a ±0.5 one-pixel checkerboard in `r`.
fn checker_image(r: Rect) -> Tensor {
    let bg = Tensor::randn([1, 3, 8, 8], (Kind::Float, Device::Cpu)).upsample_bilinear2d(
        [224, 224],
        false,
        None,
        None,
    );
    let mut pattern = vec![0f32; 224 * 224];
    for y in r.y0..r.y1 {
        for x in r.x0..r.x1 {
            pattern[(y * 224 + x) as usize] = if (x + y) % 2 == 0 { 0.5 } else { -0.5 };
        }
    }
    bg + Tensor::from_slice(&pattern).view([1, 1, 224, 224])
}

#[test]
fn cnn_gradcam_peaks_where_the_checkerboard_is() {
    // A hand-set "artifact detector": a 2×2 checkerboard filter (zero sum, blind to smooth
    // content) in both polarities, a smooth-gradient channel with a negative weight, average
    // pooled to a coarse 27×27 map like a CNN's last layer. Only the pasted checkerboard
    // raises the score, so that is where Grad-CAM must point.
    tch::manual_seed(1);
    let x = checker_image(STRIP);
    let k = Tensor::from_slice(&[
        1f32, -1., -1., 1., // checker +
        -1., 1., 1., -1., // checker −
        1., 1., -1., -1., // vertical gradient
    ])
    .view([3, 1, 2, 2])
    .repeat([1, 3, 1, 1])
        / 3.0;
    let w = Tensor::from_slice(&[1f32, 1., -0.3]);
    let cam = cnn_gradcam(&x, |x| {
        let fmap = x
            .conv2d(&k, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
            .relu()
            .avg_pool2d([8, 8], [8, 8], [0, 0], false, true, None::<i64>);
        let score = fmap.mean_dim(&[2i64, 3][..], false, Kind::Float).matmul(&w);
        Ok((fmap, score))
    })
    .unwrap();
    assert_eq!(cam.raw.size(), [1, 27, 27]);
    assert!(cam.score.as_ref().unwrap().double_value(&[0]) > 0.0);
    assert_peak_in(&one_heat(&cam), STRIP, "checkerboard CNN");
}

#[test]
fn cnn_gradcam_of_a_network_blind_outside_a_region_is_zero_there() {
    // A random conv net that masks its input to the strip: nothing outside can matter. With
    // positive head weights on non-negative features the cam is positive inside, 0 outside.
    tch::manual_seed(2);
    let vs = nn::VarStore::new(Device::Cpu);
    let conv = nn::conv2d(
        vs.root() / "c",
        3,
        16,
        5,
        nn::ConvConfig {
            stride: 2,
            padding: 2,
            bias: false,
            ..Default::default()
        },
    );
    let w = Tensor::rand([16], (Kind::Float, Device::Cpu)) + 0.5;
    let mut mask = vec![0f32; 224 * 224];
    for y in STRIP.y0..STRIP.y1 {
        for x in STRIP.x0..STRIP.x1 {
            mask[(y * 224 + x) as usize] = 1.0;
        }
    }
    let mask = Tensor::from_slice(&mask).view([1, 1, 224, 224]);
    let x = Tensor::randn([1, 3, 224, 224], (Kind::Float, Device::Cpu));
    let cam = cnn_gradcam(&x, |x| {
        let fmap = (x * &mask).apply(&conv).relu().avg_pool2d(
            [8, 8],
            [8, 8],
            [0, 0],
            false,
            true,
            None::<i64>,
        );
        let score = fmap.mean_dim(&[2i64, 3][..], false, Kind::Float).matmul(&w);
        Ok((fmap, score))
    })
    .unwrap();
    assert_eq!(cam.raw.size(), [1, 14, 14]);
    let heat = one_heat(&cam);
    assert_peak_in(&heat, STRIP, "masked CNN");
    // Two feature cells (32 px) away from the strip the heat is exactly 0 (the conv spills 2 px
    // into the next cell, and bilinear up-sampling spreads that by up to one more cell).
    let far = heat.mean_where(|x, y| !STRIP.grown(32).contains(x, y));
    assert_eq!(far, 0.0);
}

#[test]
fn token_gradcam_peaks_on_the_patches_that_matter() {
    // A toy ViT-shaped network: 14×14 patches of the masked input embedded without bias, a
    // learned CLS token in front, a global mixing step (every token gets the mean token, as
    // attention would), and a positive read-out of the patch tokens.
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let d = 32;
    let embed = nn::conv2d(
        vs.root() / "patch",
        3,
        d,
        14,
        nn::ConvConfig {
            stride: 14,
            bias: false,
            ..Default::default()
        },
    );
    let cls = vs.root().randn("cls", &[1, 1, d], 0.0, 1.0);
    let v = Tensor::rand([d], (Kind::Float, Device::Cpu)) + 0.5;
    // Patches of rows 1..4, cols 9..16 of the 16×16 grid = pixels y 14..56, x 126..224.
    let region = Rect {
        x0: 126,
        x1: 224,
        y0: 14,
        y1: 56,
    };
    let mut mask = vec![0f32; 224 * 224];
    for y in region.y0..region.y1 {
        for x in region.x0..region.x1 {
            mask[(y * 224 + x) as usize] = 1.0;
        }
    }
    let mask = Tensor::from_slice(&mask).view([1, 1, 224, 224]);
    let x = Tensor::randn([1, 3, 224, 224], (Kind::Float, Device::Cpu));
    let cam = token_gradcam(&x, 16, |x| {
        let patches = (x * &mask)
            .apply(&embed)
            .relu()
            .flatten(2, -1)
            .transpose(1, 2);
        let tokens = Tensor::cat(&[cls.shallow_clone(), patches], 1);
        let mixed = &tokens + tokens.mean_dim(1, true, Kind::Float) * 0.1;
        let score = mixed
            .narrow(1, 1, 256)
            .mean_dim(1, false, Kind::Float)
            .matmul(&v);
        Ok((tokens, score))
    })
    .unwrap();
    assert_eq!(cam.raw.size(), [1, 16, 16]);
    // On the grid itself: exactly the masked patches are non-zero.
    let raw = Vec::<f32>::try_from(cam.raw.flatten(0, -1)).unwrap();
    for (i, &val) in raw.iter().enumerate() {
        let (row, col) = (i / 16, i % 16);
        let inside = (1..4).contains(&row) && (9..16).contains(&col);
        assert_eq!(val > 0.0, inside, "patch ({row}, {col}) = {val}");
    }
    assert_peak_in(&one_heat(&cam), region, "toy ViT");
}

#[test]
fn attention_rollout_multiplies_layers_in_order() {
    // Naive rollout of random row-stochastic attentions, last layer on the left.
    tch::manual_seed(4);
    let (b, h, grid) = (2i64, 3i64, 2i64);
    let t = 1 + grid * grid;
    let atts: Vec<Tensor> = (0..3)
        .map(|_| Tensor::rand([b, h, t, t], (Kind::Float, Device::Cpu)).softmax(-1, Kind::Float))
        .collect();
    let ours = attention_rollout(&atts, grid).unwrap();
    assert!(ours.score.is_none());
    assert_eq!(ours.raw.size(), [b, grid, grid]);
    let tt = t as usize;
    for bi in 0..b {
        let mut roll = vec![vec![0f64; tt]; tt];
        for (i, row) in roll.iter_mut().enumerate() {
            row[i] = 1.0;
        }
        for a in &atts {
            let m: Vec<Vec<f64>> = (0..tt)
                .map(|i| {
                    (0..tt)
                        .map(|j| {
                            let mean = (0..h)
                                .map(|hh| a.double_value(&[bi, hh, i as i64, j as i64]))
                                .sum::<f64>()
                                / h as f64;
                            0.5 * mean + if i == j { 0.5 } else { 0.0 }
                        })
                        .collect()
                })
                .collect();
            roll = (0..tt)
                .map(|i| {
                    (0..tt)
                        .map(|j| (0..tt).map(|k| m[i][k] * roll[k][j]).sum())
                        .collect()
                })
                .collect();
        }
        for p in 0..(grid * grid) as usize {
            let got = ours
                .raw
                .double_value(&[bi, p as i64 / grid, p as i64 % grid]);
            assert!(
                (got - roll[0][1 + p]).abs() < 1e-6,
                "batch {bi} patch {p}: {got} vs {}",
                roll[0][1 + p]
            );
        }
    }
    // Where the CLS token attends in every layer is where the rollout peaks.
    let focused = Tensor::zeros([1, 2, 17, 17], (Kind::Float, Device::Cpu)) + 0.01;
    let _ = focused.narrow(2, 0, 1).narrow(3, 1 + 4 + 3, 1).fill_(1.0);
    let focused = &focused / focused.sum_dim_intlist(-1, true, Kind::Float);
    let r = attention_rollout(&[focused.shallow_clone(), focused], 4).unwrap();
    let flat = r.raw.flatten(0, -1).argmax(0, false).int64_value(&[]);
    assert_eq!((flat / 4, flat % 4), (1, 3));
    // Bad input is an error, not a panic.
    assert!(attention_rollout(&[], 4).is_err());
    assert!(attention_rollout(
        &[Tensor::zeros([1, 2, 10, 10], (Kind::Float, Device::Cpu))],
        4
    )
    .is_err());
}

// ---------------------------------------------------------------------------------------------
// Parity with the PyTorch reference.

fn check(name: &str, ours: &Tensor, theirs: &Tensor) -> f64 {
    let d = max_abs_diff(ours, theirs);
    let scale = theirs.abs().max().double_value(&[]);
    eprintln!(
        "  {name:<14} {:?} max|Δ| = {d:.2e} (max |ref| {scale:.3e})",
        ours.size()
    );
    assert!(d <= TOL, "{name}: max |Δ| {d:e} > {TOL:e}");
    d
}

fn heat_tensor(cam: &Cam) -> Tensor {
    let maps = cam.heatmaps(224, 224).unwrap();
    let data: Vec<f32> = maps.iter().flat_map(|m| m.data.iter().copied()).collect();
    Tensor::from_slice(&data).view([maps.len() as i64, 224, 224])
}

#[test]
fn cnn_gradcam_matches_pytorch_on_efficientnet_b0() {
    let dir = fixtures(
        "gradcam_ref",
        "cnn-efficientnet_b0",
        &["--what", "cnn", "--model", "efficientnet_b0"],
    );
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = EfficientNet::new(&vs.root(), &EfficientNetConfig::b0());
    load_safetensors_strict(&mut vs, &dir.join("weights.safetensors")).unwrap();
    vs.freeze();
    let inputs = read_safetensors(&dir.join("inputs.safetensors"));
    let expected = read_safetensors(&dir.join("expected.safetensors"));
    let (w, b) = (&inputs["head_weight"], &inputs["head_bias"]);
    let t0 = Instant::now();
    // Called inside no_grad on purpose: Grad-CAM must turn gradients back on itself.
    let cam = tch::no_grad(|| {
        cnn_gradcam(&inputs["input"], |x| {
            let f = net.forward_features(x, false)?;
            Ok((f.feature_map, f.pooled.matmul(w) + b))
        })
    })
    .unwrap();
    eprintln!(
        "EfficientNet-B0 Grad-CAM, batch 2 at 224²: {:.2?}",
        t0.elapsed()
    );
    assert_eq!(cam.raw.size(), [2, 7, 7]);
    let zero = cam
        .raw
        .eq(0.0)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    assert!(
        zero > 0.1 && zero < 0.9,
        "the fixture should exercise the ReLU: {zero}"
    );
    check("score", cam.score.as_ref().unwrap(), &expected["score"]);
    check("cam_raw", &cam.raw, &expected["cam_raw"]);
    check("heat", &heat_tensor(&cam), &expected["heat"]);
}

fn tiny_clip_fixtures() -> &'static (PathBuf, ClipConfig) {
    static DIR: OnceLock<(PathBuf, ClipConfig)> = OnceLock::new();
    DIR.get_or_init(|| {
        let cfg = ClipConfig::tiny();
        let json = serde_json::to_string(&cfg).unwrap();
        let hash = hex::encode(&sha2::Sha256::digest(json.as_bytes())[..4]);
        let dir = fixtures(
            "gradcam_ref",
            &format!("vit-tiny-{hash}"),
            &["--what", "vit", "--config-json", &json],
        );
        (dir, cfg)
    })
}

fn tiny_clip() -> (nn::VarStore, ClipVision) {
    let (dir, cfg) = tiny_clip_fixtures();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let v = ClipVision::new(&vs.root(), &cfg.vision, Some(cfg.projection_dim));
    load_safetensors_strict(&mut vs, &dir.join("weights.safetensors")).unwrap();
    vs.freeze();
    (vs, v)
}

#[test]
fn vit_gradcam_and_rollout_match_pytorch_on_clip_tiny() {
    let (dir, _) = tiny_clip_fixtures();
    let (_vs, vision) = tiny_clip();
    let inputs = read_safetensors(&dir.join("inputs.safetensors"));
    let expected = read_safetensors(&dir.join("expected.safetensors"));
    let (w, b) = (&inputs["head_weight"], &inputs["head_bias"]);
    let head = |o: &verity::models::clip::ClipVisionOutput| Ok(o.pooled.matmul(w) + b);
    let t0 = Instant::now();
    let cam = vit_gradcam(&vision, &inputs["input"], None, head).unwrap();
    eprintln!("CLIP tiny Grad-CAM, batch 2: {:.2?}", t0.elapsed());
    assert_eq!(cam.raw.size(), [2, 16, 16]);
    check("score", cam.score.as_ref().unwrap(), &expected["score"]);
    check("cam_raw", &cam.raw, &expected["cam_raw"]);
    // The raw cam is small (≈ 1e-3): also hold the normalised map to the tolerance.
    check("heat", &heat_tensor(&cam), &expected["heat"]);

    let (_, atts) = tch::no_grad(|| vision.forward_with_attentions(&inputs["input"])).unwrap();
    let roll = attention_rollout(&atts, vision.grid()).unwrap();
    check("rollout_raw", &roll.raw, &expected["rollout_raw"]);
    check(
        "rollout_heat",
        &heat_tensor(&roll),
        &expected["rollout_heat"],
    );

    // Layer choice: hidden state 0 is not exposed, beyond the last is an error; the final
    // output's patch tokens do not reach the pooled CLS score, so their cam is all zero.
    for bad in [0, 3] {
        let msg = vit_gradcam(&vision, &inputs["input"], Some(bad), head)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("1..=2"), "{msg}");
    }
    let last = vit_gradcam(&vision, &inputs["input"], Some(2), head).unwrap();
    assert_eq!(last.raw.abs().max().double_value(&[]), 0.0);
    // A score that does not depend on the image is an error, not a panic.
    let constant = |_: &verity::models::clip::ClipVisionOutput| {
        Ok(Tensor::zeros([2], (Kind::Float, Device::Cpu)))
    };
    assert!(vit_gradcam(&vision, &inputs["input"], None, constant).is_err());
}

// ---------------------------------------------------------------------------------------------
// Back into the frame.

fn gaussian_heat(w: u32, h: u32, cx: f32, cy: f32, sigma: f32) -> Heatmap {
    let data = (0..h)
        .flat_map(|y| {
            (0..w).map(move |x| {
                (-((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)) / (2.0 * sigma * sigma)).exp()
            })
        })
        .collect();
    Heatmap::new(w, h, data).unwrap()
}

#[test]
fn heatmap_goes_back_into_the_frame_through_the_inverse_alignment() {
    // frame → crop: rotate 25°, scale 1.6, and shift so the crop's centre comes from the frame's
    // (200, 150) (its footprint then lies inside the 400×300 frame); the crop's (60, 170) comes
    // from T⁻¹(60, 170).
    let r = 25f32.to_radians();
    let (a, b) = (1.6 * r.cos(), 1.6 * r.sin());
    let t = Similarity {
        a,
        b,
        tx: 112.0 - (a * 200.0 - b * 150.0),
        ty: 112.0 - (b * 200.0 + a * 150.0),
    };
    let heat = gaussian_heat(224, 224, 60.0, 170.0, 12.0);
    let (fw, fh) = (400, 300);
    let (in_frame, coverage) = heatmap_to_frame(&heat, &t, fw, fh);
    let want = t.inverse().apply([60.0, 170.0]);
    let (px, py) = in_frame.argmax();
    eprintln!(
        "crop peak (60, 170) → frame ({px}, {py}), expected ({:.1}, {:.1})",
        want[0], want[1]
    );
    assert!((px as f32 - want[0]).abs() <= 1.0 && (py as f32 - want[1]).abs() <= 1.0);
    // Coverage is the crop's footprint: full in its middle, none far away.
    let mid = t.inverse().apply([112.0, 112.0]);
    assert_eq!(coverage.get(mid[0] as u32, mid[1] as u32), 1.0);
    let footprint = coverage.data.iter().filter(|&&c| c > 0.5).count() as f32;
    let area = 224.0 * 224.0 / (1.6 * 1.6);
    assert!(
        (footprint / area - 1.0).abs() < 0.03,
        "footprint {footprint} px vs {area}"
    );
    // Round trip: warping the frame-space map forward again with the alignment reproduces it.
    let as_image = |m: &Heatmap| {
        RgbImage::from_fn(m.width, m.height, |x, y| {
            Rgb([(m.get(x, y) * 255.0).round() as u8; 3])
        })
    };
    let back = warp_similarity(&as_image(&in_frame), &t, 224, 224);
    let mut worst = 0f32;
    for y in 8..216 {
        for x in 8..216 {
            worst = worst.max((back.get_pixel(x, y)[0] as f32 / 255.0 - heat.get(x, y)).abs());
        }
    }
    eprintln!("crop → frame → crop: max |Δ| {worst:.3}");
    assert!(worst < 0.03, "{worst}");

    // The overlay changes the frame only under the crop.
    let frame = RgbImage::from_pixel(fw, fh, Rgb([90, 120, 150]));
    let over = overlay_on_frame(&frame, &heat, &t, 0.5, Colormap::Jet).unwrap();
    for (x, y, p) in over.enumerate_pixels() {
        if coverage.get(x, y) == 0.0 {
            assert_eq!(p, frame.get_pixel(x, y));
        }
    }
    assert_ne!(
        over.get_pixel(want[0] as u32, want[1] as u32),
        frame.get_pixel(want[0] as u32, want[1] as u32)
    );
}

#[test]
fn explain_face_renders_cams_in_crop_and_frame_and_the_artifact_views() {
    let frame = image::open(common::astronaut()).unwrap().to_rgb8();
    let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let det = mtcnn.detect(&[&frame]).unwrap().remove(0).remove(0);
    let aligned = align_face(&frame, &det.landmarks, &AlignTemplate::gend(), 224);

    // Rollout and Grad-CAM of the tiny CLIP on the real crop.
    let (_vs, vision) = tiny_clip();
    let (dir, _) = tiny_clip_fixtures();
    let inputs = read_safetensors(&dir.join("inputs.safetensors"));
    let (w, b) = (&inputs["head_weight"], &inputs["head_bias"]);
    let pixels = to_tensor(&[&aligned.image], CLIP_MEAN, CLIP_STD).unwrap();
    let grad = vit_gradcam(&vision, &pixels, None, |o| Ok(o.pooled.matmul(w) + b)).unwrap();
    let (_, atts) = tch::no_grad(|| vision.forward_with_attentions(&pixels)).unwrap();
    let roll = attention_rollout(&atts, 16).unwrap();
    let mut cams = FaceCam::from_cam(CamMethod::GradCamVit, &grad, 224, 224).unwrap();
    cams.extend(FaceCam::from_cam(CamMethod::AttentionRollout, &roll, 224, 224).unwrap());

    let t0 = Instant::now();
    let face = FaceInput {
        frame: &frame,
        aligned: &aligned,
        bbox: Some(det.bbox),
        native: None,
    };
    let out = explain_face(&face, &cams, &ExplainConfig::default()).unwrap();
    eprintln!(
        "explain_face (2 cams × crop+frame, 4 artifact views): {:.2?}",
        t0.elapsed()
    );
    let keys: Vec<&str> = out.overlays.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "gradcam_vit/crop",
            "gradcam_vit/frame",
            "rollout/crop",
            "rollout/frame",
            "noise/region",
            "spectrum/region",
            "ela/region",
            "boundary/region"
        ]
    );
    for o in &out.overlays {
        if let Some(dir) = std::env::var_os("VERITY_EXPLAIN_DUMP") {
            std::fs::write(
                std::path::Path::new(&dir).join(format!("{}.png", o.key.replace('/', "_"))),
                &o.png,
            )
            .unwrap();
        }
        let png = image::load_from_memory_with_format(&o.png, image::ImageFormat::Png).unwrap();
        assert_eq!(
            (png.width(), png.height()),
            (o.width, o.height),
            "{}",
            o.key
        );
        assert!(
            !o.explanation.is_empty() && !o.explanation.contains('\n'),
            "{}",
            o.key
        );
        assert!(o.key.starts_with(&format!("{}/", o.kind)), "{}", o.key);
        match o.space {
            Space::Crop => assert_eq!((o.width, o.height), (224, 224)),
            Space::Frame => assert_eq!((o.width, o.height), (512, 512)),
            Space::Region => {
                let r = o.region.unwrap();
                assert_eq!((o.width, o.height), (r[2], r[3]));
                // The region holds the face box with half its size around it.
                assert!(r[0] as f32 <= det.bbox[0] && (r[0] + r[2]) as f32 >= det.bbox[2]);
            }
        }
    }
    // The frame overlay differs from the frame only around the face.
    let over = image::load_from_memory(&out.overlays[1].png)
        .unwrap()
        .to_rgb8();
    assert_eq!(over.get_pixel(5, 500), frame.get_pixel(5, 500));
    let c = det.landmarks[2];
    assert_ne!(
        over.get_pixel(c[0] as u32, c[1] as u32),
        frame.get_pixel(c[0] as u32, c[1] as u32)
    );
    // JSON for the UI carries no PNG bytes.
    let json = serde_json::to_string(&out).unwrap();
    assert!(json.contains("\"key\":\"ela/region\"") && !json.contains("\"png\""));

    // A heat-map of the wrong size is refused with a readable error.
    let wrong = [FaceCam {
        method: CamMethod::GradCamCnn,
        heat: Heatmap::zeros(7, 7),
    }];
    let msg = explain_face(&face, &wrong, &ExplainConfig::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("7×7") && msg.contains("224×224"), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// The detector's own maps.

/// The astronaut's aligned face and its mirror image: two different faces for one batch.
fn two_faces() -> (RgbImage, RgbImage) {
    let frame = image::open(common::astronaut()).unwrap().to_rgb8();
    let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let det = mtcnn.detect(&[&frame]).unwrap().remove(0).remove(0);
    let a = align_face(&frame, &det.landmarks, &AlignTemplate::gend(), 224).image;
    let b = image::imageops::flip_horizontal(&a);
    (a, b)
}

#[test]
fn detector_vit_gradcam_equals_the_direct_gradcam_of_its_logit() {
    // GenD layout with a linear head: logit = (w₁ − w₀)·pooled + (b₁ − b₀), so the direct
    // Grad-CAM of that score on the CLIP tower must equal the chain-rule one through clip_emb.
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let det = Detector::new(
        &vs.root(),
        &DetectorConfig::gend(&ClipConfig::tiny(), false),
    )
    .unwrap();
    let vars = vs.variables();
    let (w, b) = (&vars["model.linear.weight"], &vars["model.linear.bias"]);
    let (wd, bd) = (
        (w.get(1) - w.get(0)).detach(),
        (b.get(1) - b.get(0)).detach(),
    );
    let (fa, fb) = two_faces();
    let px = to_tensor(&[&fa, &fb], CLIP_MEAN, CLIP_STD).unwrap();

    let chained = verity::explain::gradcam::detector_vit_gradcam(&det, &px, None, None).unwrap();
    let direct = vit_gradcam(det.clip(), &px, None, |o| Ok(o.pooled.matmul(&wd) + &bd)).unwrap();
    let scale = direct.raw.abs().max().double_value(&[]);
    let d = max_abs_diff(&chained.raw, &direct.raw);
    eprintln!("chain rule vs direct: max|Δ| {d:.2e} (max cam {scale:.2e})");
    assert!(scale > 0.0 && d <= 1e-5 * scale, "{d} vs {scale}");
    // And the score explained directly is the detector's logit.
    let logit = tch::no_grad(|| det.forward(&px, None, false))
        .unwrap()
        .logit;
    assert!(max_abs_diff(direct.score.as_ref().unwrap(), &logit) < 1e-5);

    // detector_cams: ViT Grad-CAM then rollout per face (no CNN in this layout).
    let cams = detector_cams(&det, &[&fa, &fb], Device::Cpu, Kind::Float, None).unwrap();
    assert_eq!(cams.len(), 2);
    for (i, face) in cams.iter().enumerate() {
        let methods: Vec<CamMethod> = face.iter().map(|c| c.method).collect();
        assert_eq!(
            methods,
            [CamMethod::GradCamVit, CamMethod::AttentionRollout]
        );
        let want = &direct.heatmaps(224, 224).unwrap()[i];
        let worst = face[0]
            .heat
            .data
            .iter()
            .zip(&want.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "face {i}: {worst}");
    }
    assert!(detector_cams(&det, &[], Device::Cpu, Kind::Float, None)
        .unwrap()
        .is_empty());
}

#[test]
fn detector_cams_of_the_fusion_detector_cover_cnn_and_vit() {
    tch::manual_seed(6);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = DetectorConfig::fusion(
        &ClipConfig::tiny(),
        CnnKind::EfficientNetB0,
        FusionMode::Weighted { alpha: 0.5 },
        64,
        32,
    );
    let det = Detector::new(&vs.root(), &cfg).unwrap();
    let (fa, fb) = two_faces();
    let t0 = Instant::now();
    let cams = detector_cams(&det, &[&fa, &fb], Device::Cpu, Kind::Float, None).unwrap();
    eprintln!(
        "detector_cams, tiny CLIP + EfficientNet-B0, 2 faces: {:.2?}",
        t0.elapsed()
    );
    for face in &cams {
        let methods: Vec<CamMethod> = face.iter().map(|c| c.method).collect();
        assert_eq!(
            methods,
            [
                CamMethod::GradCamCnn,
                CamMethod::GradCamVit,
                CamMethod::AttentionRollout
            ]
        );
        for c in face {
            assert_eq!((c.heat.width, c.heat.height), (224, 224));
            assert!(
                c.heat.data.iter().all(|v| (0.0..=1.0).contains(v)),
                "{:?}",
                c.method
            );
        }
    }
    // The CNN map is the Grad-CAM of the detector's logit on its CNN feature map: redo it by hand.
    let clip_px = to_tensor(&[&fa, &fb], CLIP_MEAN, CLIP_STD).unwrap();
    let cnn_px = to_tensor(
        &[&fa, &fb],
        verity::faces::align::IMAGENET_MEAN,
        verity::faces::align::IMAGENET_STD,
    )
    .unwrap();
    let by_hand = tch::with_grad(|| {
        let x = cnn_px.detach().set_requires_grad(true);
        let o = det.forward(&clip_px, Some(&x), false).unwrap();
        let fmap = o.cnn_feature_map.unwrap();
        let g = Tensor::run_backward(&[o.logit.sum(Kind::Float)], &[&fmap], false, false).remove(0);
        (g.mean_dim(&[2i64, 3][..], true, Kind::Float) * fmap.detach())
            .sum_dim_intlist(1, false, Kind::Float)
            .relu()
    });
    let ours = verity::explain::gradcam::detector_cnn_gradcam(&det, &clip_px, &cnn_px).unwrap();
    assert!(max_abs_diff(&ours.raw, &by_hand) <= 1e-7);
    // The maps render through explain_face.
    let frame = image::open(common::astronaut()).unwrap().to_rgb8();
    let aligned = verity::faces::align::AlignedFace {
        image: fa.clone(),
        transform: Similarity::identity(),
    };
    let face = FaceInput {
        frame: &frame,
        aligned: &aligned,
        bbox: None,
        native: None,
    };
    let cfg = ExplainConfig {
        frame_overlays: false,
        ..ExplainConfig::default()
    };
    let out = explain_face(&face, &cams[0], &cfg).unwrap();
    assert_eq!(out.overlays.len(), 3 + 4);
}
