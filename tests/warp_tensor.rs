//! Device-side alignment (src/faces/warp_tensor.rs) on CPU tensors: the `grid_sample` crop of the
//! `direct` chain against the CPU crop `preprocess::prepare` makes (bilinear, OpenCV pixel
//! centres, black outside) — upright, rotated, scaled, partly and wholly off-frame faces, many
//! faces over many frames in one call; the half-pixel convention on an identity map; uint8 and
//! float frames alike; GenD refused; bad inputs as errors.
//!
//! Tolerance (quantised crops, the default): at most 1 grey level on any value, and on at most
//! 1 % of the values (measured: 0.02–0.6 %, the most for a 90° face upscaled 2.8×, where whole
//! rows share one sample fraction) — the only differences are f32 rounding of the sample
//! position (grid_sample works in normalised coordinates, ~1e-7 × the frame side in pixels)
//! where the exact value sits next to a .5 tie. Unquantised: within 0.5 + 0.02 grey levels of
//! the CPU's 8-bit crop; an identity map reproduces the frame within 0.02 grey levels.
use image::{Rgb, RgbImage};
use tch::{Device, Kind, Tensor};
use verity::faces::align::{AlignTemplate, Similarity, CLIP_MEAN, CLIP_STD};
use verity::faces::preprocess::{prepare, transform_for, Chain, CropSpec};
use verity::faces::warp_tensor::{frames_to_tensor, warp_faces, FaceWarp, TensorCrop};

const SIZE: u32 = 224;

fn spec() -> CropSpec {
    CropSpec {
        template: AlignTemplate::gend(),
        chain: Chain::Direct,
        size: SIZE,
    }
}

/// A deterministic textured frame: smooth gradients plus hashed noise (every bilinear weight
/// matters), different per channel and per `seed`.
fn frame(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let n = |c: u32| {
            let mut v = x
                .wrapping_mul(73_856_093)
                .wrapping_add(y.wrapping_mul(19_349_663))
                .wrapping_add((c + seed * 3).wrapping_mul(83_492_791));
            v ^= v >> 13;
            v = v.wrapping_mul(0x5bd1_e995);
            v ^= v >> 15;
            v % 96
        };
        let g = |c: u32| (x * (2 + c) + y * (3 + seed) / 2 + 40 * c) % 160;
        Rgb([
            (g(0) + n(0)) as u8,
            (g(1) + n(1)) as u8,
            (g(2) + n(2)) as u8,
        ])
    })
}

/// Landmarks of a face whose template (in a `side`-pixel crop) is rotated by `deg`, centred at
/// (cx, cy) in the frame.
fn face(deg: f32, side: f32, cx: f32, cy: f32) -> [[f32; 2]; 5] {
    let t = AlignTemplate::gend().points_px(224);
    let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
    let k = side / 224.0;
    t.map(|[x, y]| {
        let (dx, dy) = ((x - 112.0) * k, (y - 112.0) * k);
        [cx + c * dx - s * dy, cy + s * dx + c * dy]
    })
}

/// Device crop back to grey levels (undo the normalisation), as [F,3,S,S] f32 on the CPU.
fn to_levels(crops: &Tensor, mean: [f32; 3], std: [f32; 3]) -> Tensor {
    let m = Tensor::from_slice(&mean).view([1, 3, 1, 1]);
    let s = Tensor::from_slice(&std).view([1, 3, 1, 1]);
    (crops.to_device(Device::Cpu) * s + m) * 255.0
}

fn image_levels(img: &RgbImage) -> Tensor {
    let (w, h) = img.dimensions();
    Tensor::from_slice(img.as_raw())
        .view([h as i64, w as i64, 3])
        .permute([2, 0, 1])
        .to_kind(Kind::Float)
}

/// (max |Δ|, share of values with |Δ| > 0.5) between a device crop in grey levels and a CPU crop.
fn compare(got: &Tensor, want: &RgbImage) -> (f64, f64) {
    let d = (got - image_levels(want)).abs();
    let max = d.max().double_value(&[]);
    let share = d
        .gt(0.5)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    (max, share)
}

fn check_quantised(label: &str, got: &Tensor, want: &RgbImage) {
    let (max, share) = compare(got, want);
    println!(
        "{label}: max |Δ| = {max:.3} grey levels, {:.4} % of values differ",
        share * 100.0
    );
    assert!(max <= 1.0 + 1e-3, "{label}: max |Δ| {max} grey levels > 1");
    assert!(
        share <= 0.01,
        "{label}: {:.3} % of values differ",
        share * 100.0
    );
}

#[test]
fn direct_chain_matches_the_cpu_crop() {
    let img = frame(640, 480, 1);
    let frames = frames_to_tensor(&[&img], Device::Cpu).unwrap();
    let cases = [
        ("upright", face(0.0, 180.0, 320.0, 240.0)),
        ("rotated 30°", face(30.0, 200.0, 300.0, 250.0)),
        (
            "rotated −75°, small (upscaled 3×)",
            face(-75.0, 70.0, 200.0, 300.0),
        ),
        ("large (downscaled 2.4×)", face(12.0, 540.0, 330.0, 230.0)),
        (
            "partly off the left/top edge",
            face(-20.0, 260.0, 40.0, 30.0),
        ),
        (
            "partly off the right/bottom edge",
            face(170.0, 220.0, 620.0, 470.0),
        ),
    ];
    let crop = TensorCrop::new(SIZE, CLIP_MEAN, CLIP_STD);
    let warps: Vec<FaceWarp> = cases
        .iter()
        .map(|(_, lm)| FaceWarp::for_chain(0, lm, &spec()).unwrap())
        .collect();
    let crops = warp_faces(&frames, &warps, &crop).unwrap();
    assert_eq!(crops.size(), [cases.len() as i64, 3, 224, 224]);
    assert_eq!(crops.kind(), Kind::Float);
    let levels = to_levels(&crops, CLIP_MEAN, CLIP_STD);
    for (i, (label, lm)) in cases.iter().enumerate() {
        let cpu = prepare(&img, lm, &spec());
        check_quantised(label, &levels.get(i as i64), &cpu.input);
    }
    // Off-frame parts are black on both sides (zero padding), and there are some.
    let off = prepare(&img, &cases[4].1, &spec()).input;
    let black = off.pixels().filter(|p| p.0 == [0, 0, 0]).count();
    assert!(
        black > 224 * 224 / 10,
        "the off-frame face should be partly black: {black}"
    );
    let dev_black = levels
        .get(4)
        .abs()
        .sum_dim_intlist([0i64].as_slice(), false, Kind::Float)
        .lt(0.5)
        .sum(Kind::Int64)
        .int64_value(&[]);
    assert_eq!(
        dev_black as usize, black,
        "black pixels on the device vs the CPU"
    );
}

#[test]
fn unquantised_crop_is_within_half_a_grey_level() {
    let img = frame(400, 300, 2);
    let frames = frames_to_tensor(&[&img], Device::Cpu).unwrap();
    let lm = face(-41.0, 150.0, 190.0, 160.0);
    let mut crop = TensorCrop::new(SIZE, [0.0; 3], [1.0; 3]);
    crop.quantize = false;
    let got = warp_faces(
        &frames,
        &[FaceWarp::for_chain(0, &lm, &spec()).unwrap()],
        &crop,
    )
    .unwrap();
    let got = to_levels(&got, [0.0; 3], [1.0; 3]).get(0);
    let (max, _) = compare(&got, &prepare(&img, &lm, &spec()).input);
    println!("unquantised: max |Δ| = {max:.4} grey levels");
    assert!(max <= 0.52, "max |Δ| {max}");
    // And it is really unquantised: not all values are whole grey levels.
    let frac = (&got - got.round()).abs().max().double_value(&[]);
    assert!(frac > 0.1, "values look rounded: {frac}");
}

/// The pixel convention itself: an identity map onto a crop of the frame's own size gives the
/// frame back exactly; a shift by half a pixel gives the mean of two neighbours (an
/// `align_corners = true` grid or a missing ±0.5 would fail both).
#[test]
fn half_pixel_convention() {
    let img = frame(SIZE, SIZE, 3);
    let frames = frames_to_tensor(&[&img], Device::Cpu).unwrap();
    let mut crop = TensorCrop::new(SIZE, [0.0; 3], [1.0; 3]);
    crop.quantize = false;
    let id = warp_faces(&frames, &[FaceWarp::new(0, &Similarity::identity())], &crop).unwrap();
    let d = (to_levels(&id, [0.0; 3], [1.0; 3]).get(0) - image_levels(&img))
        .abs()
        .max()
        .double_value(&[]);
    assert!(d < 0.02, "identity map changes pixels by {d}");
    // Crop pixel u reads frame x = u + 0.5: (f[u] + f[u + 1]) / 2; the last column reads half
    // the border pixel and half black.
    let shift = Similarity {
        tx: -0.5,
        ..Similarity::identity()
    };
    let got = to_levels(
        &warp_faces(&frames, &[FaceWarp::new(0, &shift)], &crop).unwrap(),
        [0.0; 3],
        [1.0; 3],
    )
    .get(0);
    let f = image_levels(&img);
    let s = SIZE as i64;
    let want_inner = (f.narrow(2, 0, s - 1) + f.narrow(2, 1, s - 1)) / 2.0;
    let d = (got.narrow(2, 0, s - 1) - want_inner)
        .abs()
        .max()
        .double_value(&[]);
    assert!(d < 0.02, "half-pixel shift: {d}");
    let d = (got.narrow(2, s - 1, 1) - f.narrow(2, s - 1, 1) / 2.0)
        .abs()
        .max()
        .double_value(&[]);
    assert!(d < 0.02, "border column should be half black: {d}");
}

#[test]
fn many_faces_over_many_frames_in_any_order() {
    let imgs = [frame(320, 240, 4), frame(320, 240, 5), frame(320, 240, 6)];
    let refs: Vec<&RgbImage> = imgs.iter().collect();
    let frames = frames_to_tensor(&refs, Device::Cpu).unwrap();
    // Frame 1 has three faces, frame 0 one, frame 2 none; listed out of order.
    let faces = [
        (1, face(10.0, 120.0, 100.0, 100.0)),
        (0, face(-5.0, 150.0, 160.0, 120.0)),
        (1, face(90.0, 80.0, 250.0, 60.0)),
        (1, face(0.0, 500.0, 160.0, 120.0)),
    ];
    let warps: Vec<FaceWarp> = faces
        .iter()
        .map(|(f, lm)| FaceWarp::for_chain(*f, lm, &spec()).unwrap())
        .collect();
    let crop = TensorCrop::new(SIZE, CLIP_MEAN, CLIP_STD);
    let levels = to_levels(
        &warp_faces(&frames, &warps, &crop).unwrap(),
        CLIP_MEAN,
        CLIP_STD,
    );
    assert_eq!(levels.size()[0], 4);
    for (i, (f, lm)) in faces.iter().enumerate() {
        let cpu = prepare(&imgs[*f as usize], lm, &spec());
        check_quantised(
            &format!("face {i} of frame {f}"),
            &levels.get(i as i64),
            &cpu.input,
        );
    }
    // The transform used is the one the CPU chain reports for the face.
    let t = transform_for(&faces[0].1, &spec());
    assert_eq!(FaceWarp::new(1, &t), warps[0]);
}

#[test]
fn wholly_off_frame_face_is_black() {
    let img = frame(200, 150, 7);
    let frames = frames_to_tensor(&[&img], Device::Cpu).unwrap();
    let lm = face(0.0, 100.0, -400.0, 900.0);
    let crop = TensorCrop::new(SIZE, CLIP_MEAN, CLIP_STD);
    let got = to_levels(
        &warp_faces(
            &frames,
            &[FaceWarp::for_chain(0, &lm, &spec()).unwrap()],
            &crop,
        )
        .unwrap(),
        CLIP_MEAN,
        CLIP_STD,
    );
    let max = got.abs().max().double_value(&[]);
    assert!(max < 1e-3, "off-frame crop not black: {max}");
    assert!(prepare(&img, &lm, &spec())
        .input
        .pixels()
        .all(|p| p.0 == [0, 0, 0]));
    // A map that is not finite gives a black crop too (never NaN).
    let nan = Similarity {
        a: f32::NAN,
        ..Similarity::identity()
    };
    let got = warp_faces(&frames, &[FaceWarp::new(0, &nan)], &crop).unwrap();
    assert_eq!(got.isnan().sum(Kind::Int64).int64_value(&[]), 0);
}

#[test]
fn uint8_and_float_frames_agree() {
    let img = frame(300, 200, 8);
    let u8_frames = frames_to_tensor(&[&img], Device::Cpu).unwrap();
    assert_eq!(u8_frames.kind(), Kind::Uint8);
    assert_eq!(u8_frames.size(), [1, 3, 200, 300]);
    let warp = [FaceWarp::for_chain(0, &face(20.0, 140.0, 150.0, 100.0), &spec()).unwrap()];
    let crop = TensorCrop::new(SIZE, CLIP_MEAN, CLIP_STD);
    let a = warp_faces(&u8_frames, &warp, &crop).unwrap();
    let b = warp_faces(&u8_frames.to_kind(Kind::Float), &warp, &crop).unwrap();
    let c = warp_faces(&u8_frames.to_kind(Kind::Double), &warp, &crop).unwrap();
    assert_eq!((&a - &b).abs().max().double_value(&[]), 0.0);
    assert_eq!((&a - &c).abs().max().double_value(&[]), 0.0);
}

#[test]
fn gend_chain_stays_on_the_cpu() {
    let gend = CropSpec {
        chain: Chain::Gend,
        ..spec()
    };
    let err = FaceWarp::for_chain(0, &face(0.0, 150.0, 100.0, 100.0), &gend).unwrap_err();
    assert!(err.to_string().contains("gend"), "{err}");
}

#[test]
fn bad_inputs_are_errors() {
    let img = frame(64, 48, 9);
    let frames = frames_to_tensor(&[&img], Device::Cpu).unwrap();
    let crop = TensorCrop::new(32, CLIP_MEAN, CLIP_STD);
    let warp = FaceWarp::new(1, &Similarity::identity());
    let err = warp_faces(&frames, &[warp], &crop).unwrap_err();
    assert!(err.to_string().contains("frame 1 of a batch of 1"), "{err}");
    let err = warp_faces(&frames.get(0), &[], &crop).unwrap_err();
    assert!(err.to_string().contains("[N,3,H,W]"), "{err}");
    let grey = Tensor::zeros([1, 1, 48, 64], (Kind::Uint8, Device::Cpu));
    assert!(warp_faces(&grey, &[], &crop).is_err());
    // No faces: an empty batch of the right shape.
    assert_eq!(
        warp_faces(&frames, &[], &crop).unwrap().size(),
        [0, 3, 32, 32]
    );
    // Frames of different sizes cannot share a tensor.
    let other = frame(65, 48, 9);
    let err = frames_to_tensor(&[&img, &other], Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("one size"), "{err}");
}

/// The pipeline with device-side alignment (`device_align = on`, here on CPU tensors) against
/// the CPU warp on the same video: the same faces, the stored detector inputs within the
/// tolerance above, the same scores (to the float rounding that one grey level can move), and
/// the analysis records where the faces were cut.
#[test]
fn pipeline_cuts_faces_on_the_device_as_the_cpu_does() {
    use std::sync::atomic::AtomicBool;
    use verity::config::{DeviceAlign, Settings};
    use verity::pipeline::Analyzer;
    use verity::store::Store;
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("clip.mp4");
    let astronaut =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/astronaut.png");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&astronaut)
        .args([
            "-vf",
            "scale=320:240,zoompan=z='1+0.004*on':d=20:s=320x240:fps=10",
            "-t",
            "2",
            "-r",
            "10",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&video)
        .status()
        .unwrap();
    assert!(st.success());
    let run = |name: &str, align: DeviceAlign| {
        let root = dir.path().join(name);
        let mut s = Settings {
            data_dir: Some(root.join("data")),
            models_dir: Some(root.join("models")),
            device: verity::device::DevicePref::Cpu,
            device_align: align,
            fps: 5.0,
            ..Settings::default()
        };
        let p = s.models_dir().join("profiles/tiny-untrained");
        verity::models::profile::create_random_profile(&p, "tiny", 7).unwrap();
        s.profile = Some("tiny-untrained".into());
        let a = Analyzer::new(&s).unwrap();
        assert_eq!(a.detector().unwrap().crop_spec().chain, Chain::Direct);
        let mut store = Store::open(&s.data_dir()).unwrap();
        let sum = a
            .analyze_path(&mut store, &video, "t", &|_| {}, &AtomicBool::new(false))
            .unwrap();
        assert_eq!(sum.status, "done", "{:?}", sum.message);
        let d = store.case_detail(sum.case_id).unwrap();
        let mut faces: Vec<(i64, f64, RgbImage)> = d
            .faces
            .iter()
            .map(|f| {
                let crop = image::open(store.blobs.path(f.crop.as_deref().unwrap()))
                    .unwrap()
                    .to_rgb8();
                let score = d
                    .scores
                    .iter()
                    .find(|r| r.level == "face" && r.face_id == Some(f.id))
                    .unwrap()
                    .score;
                (f.frame_idx, score, crop)
            })
            .collect();
        faces.sort_by_key(|f| f.0);
        let pre = store
            .analysis_preprocessing(sum.analysis_id.unwrap())
            .unwrap()
            .unwrap();
        (faces, pre, sum.score.unwrap())
    };
    let (cpu, cpu_pre, cpu_score) = run("cpu", DeviceAlign::Off);
    let (dev, dev_pre, dev_score) = run("dev", DeviceAlign::On);
    assert!(cpu.len() >= 8, "{} faces", cpu.len());
    assert_eq!(cpu.len(), dev.len());
    assert!(!cpu_pre.contains("faces cut on"), "{cpu_pre}");
    assert!(
        dev_pre.ends_with("faces cut on cpu (grid_sample)"),
        "{dev_pre}"
    );
    for ((fa, pa, ca), (fb, pb, cb)) in cpu.iter().zip(&dev) {
        assert_eq!(fa, fb);
        assert_eq!(ca.dimensions(), cb.dimensions());
        let (mut off, mut worst) = (0usize, 0u8);
        for (x, y) in ca.as_raw().iter().zip(cb.as_raw()) {
            let d = x.abs_diff(*y);
            worst = worst.max(d);
            off += (d > 0) as usize;
        }
        assert!(
            worst <= 1,
            "frame {fa}: a stored input differs by {worst} grey levels"
        );
        assert!(
            off * 100 <= ca.as_raw().len(),
            "frame {fa}: {off} of {} values differ",
            ca.as_raw().len()
        );
        assert!((pa - pb).abs() < 1e-3, "frame {fa}: {pa} vs {pb}");
    }
    assert!((cpu_score - dev_score).abs() < 1e-3);
}
