//! 5-point alignment (src/faces/align.rs): the similarity fit, the warped crop on the real
//! astronaut (upright, eyes on the template, not empty), and the tensor normalisation.
mod common;

use image::{Rgb, RgbImage};
use tch::Device;
use verity::faces::align::{
    align_face, full_frame, similarity_transform, to_tensor, warp_similarity, AlignTemplate,
    Similarity, CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD,
};
use verity::faces::mtcnn::{Detection, Mtcnn};

fn astronaut() -> RgbImage {
    image::open(common::astronaut()).unwrap().to_rgb8()
}

fn detect_one(m: &Mtcnn, img: &RgbImage) -> Detection {
    let mut dets = m.detect(&[img]).unwrap().remove(0);
    assert!(!dets.is_empty(), "no face found");
    dets.remove(0)
}

fn rotation(deg: f32, scale: f32, tx: f32, ty: f32) -> Similarity {
    let r = deg.to_radians();
    Similarity {
        a: scale * r.cos(),
        b: scale * r.sin(),
        tx,
        ty,
    }
}

fn dist(p: [f32; 2], q: [f32; 2]) -> f32 {
    (p[0] - q[0]).hypot(p[1] - q[1])
}

/// Angle of the line from the left to the right eye, degrees (0 = horizontal).
fn eye_line_degrees(landmarks: &[[f32; 2]; 5]) -> f32 {
    let [l, r] = [landmarks[0], landmarks[1]];
    (r[1] - l[1]).atan2(r[0] - l[0]).to_degrees()
}

#[test]
fn exact_similarity_maps_landmarks_onto_template() {
    for template in [AlignTemplate::arcface(), AlignTemplate::gend()] {
        let dst = template.points_px(224);
        // Landmarks that are an exact similarity image of the template.
        let truth = rotation(-23.0, 0.61, 140.0, 75.5);
        let src = dst.map(|p| truth.inverse().apply(p));
        let fit = similarity_transform(&src, &dst);
        for (s, d) in src.iter().zip(&dst) {
            let got = fit.apply(*s);
            assert!(dist(got, *d) < 1e-3, "{got:?} vs {d:?}");
        }
        assert!(
            (fit.a - truth.a).abs() < 1e-4 && (fit.b - truth.b).abs() < 1e-4,
            "{fit:?} vs {truth:?}"
        );
    }
    // The ArcFace preset is insightface's 112² template, as fractions.
    let px = AlignTemplate::arcface().points_px(112);
    assert!(
        dist(px[0], [38.2946, 51.6963]) < 1e-3 && dist(px[4], [70.7299, 92.2041]) < 1e-3,
        "{px:?}"
    );
    // GenD's context: the template square is the central 1/1.3 of the crop.
    let g = AlignTemplate::gend().points_px(130);
    assert!(dist(g[0], [15.0 + 34.0, 15.0 + 46.0]) < 1e-3, "{g:?}");
}

#[test]
fn rotated_scaled_point_set_is_recovered() {
    let src = [
        [10.0, 20.0],
        [60.0, 22.0],
        [35.0, 50.0],
        [15.0, 75.0],
        [58.0, 77.0],
    ];
    let truth = rotation(37.0, 2.3, 40.0, -12.0);
    let dst = src.map(|p| truth.apply(p));
    let fit = similarity_transform(&src, &dst);
    assert!(
        (fit.rotation_degrees() - 37.0).abs() < 1e-3,
        "{}",
        fit.rotation_degrees()
    );
    assert!((fit.scale() - 2.3).abs() < 1e-4, "{}", fit.scale());
    assert!(
        (fit.tx - 40.0).abs() < 1e-3 && (fit.ty + 12.0).abs() < 1e-3,
        "{fit:?}"
    );
    let m = fit.to_matrix();
    assert_eq!(m, [[fit.a, -fit.b, fit.tx], [fit.b, fit.a, fit.ty]]);
    // The inverse undoes the transform.
    for p in src {
        assert!(dist(fit.inverse().apply(fit.apply(p)), p) < 1e-3);
    }
    // With ±0.5 px of noise on the targets the fit is still close.
    let noise = [
        [0.5, -0.3],
        [-0.4, 0.5],
        [0.2, 0.1],
        [-0.5, -0.5],
        [0.3, 0.4],
    ];
    let noisy: Vec<[f32; 2]> = dst
        .iter()
        .zip(noise)
        .map(|(d, n)| [d[0] + n[0], d[1] + n[1]])
        .collect();
    let fit = similarity_transform(&src, &noisy.try_into().unwrap());
    assert!(
        (fit.rotation_degrees() - 37.0).abs() < 0.5 && (fit.scale() - 2.3).abs() < 0.02,
        "{fit:?}"
    );
    // A mirrored point set cannot be matched by a reflection: the best similarity is a proper
    // rotation that leaves large residuals, never a flip.
    let mirrored = dst.map(|p| [-p[0], p[1]]);
    let fit = similarity_transform(&src, &mirrored);
    let residual = src
        .iter()
        .zip(&mirrored)
        .map(|(s, d)| dist(fit.apply(*s), *d))
        .fold(0.0, f32::max);
    assert!(residual > 10.0, "a reflection slipped in: {fit:?}");
}

#[test]
fn astronaut_aligns_eyes_onto_template() {
    let m = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let img = astronaut();
    let face = detect_one(&m, &img);
    for (template, size) in [
        (AlignTemplate::gend(), 224),
        (AlignTemplate::arcface(), 112),
    ] {
        let aligned = align_face(&img, &face.landmarks, &template, size);
        assert_eq!(aligned.image.dimensions(), (size, size));
        let want = template.points_px(size);
        let scale = size as f32 / 224.0;
        // The fit is least squares over all five points, so the eyes only land on the template
        // as well as this face matches it. The astronaut's eye–mouth distance is ~20% shorter
        // (relative to her eye distance) than either template's, and the fit spreads that over
        // the points: measured at 224², GenD: eyes (−0.8, +3.7) and (+0.8, +3.0) px off, mouth
        // corners ~10 px off; ArcFace: eyes (−1.6, +5.0), (+1.6, +4.2). Horizontally the eyes are
        // within ±2 px; vertically they sit a few px low, bounded here at 4 px (GenD) / 6 px
        // (ArcFace), scaled to the crop size.
        let dy_max = if template.context_scale > 1.0 {
            4.0
        } else {
            6.0
        };
        for (k, target) in want.iter().enumerate().take(2) {
            let got = aligned.transform.apply(face.landmarks[k]);
            let (dx, dy) = (got[0] - target[0], got[1] - target[1]);
            println!("{size}² eye {k}: {dx:+.2}, {dy:+.2} px from the template");
            assert!(
                dx.abs() <= 2.0 * scale,
                "eye {k}: {got:?} vs template {:?}",
                target
            );
            assert!(
                dy.abs() <= dy_max * scale,
                "eye {k}: {got:?} vs template {:?}",
                target
            );
        }
        // The eye line is level.
        let eyes = [
            aligned.transform.apply(face.landmarks[0]),
            aligned.transform.apply(face.landmarks[1]),
        ];
        let tilt = (eyes[1][1] - eyes[0][1])
            .atan2(eyes[1][0] - eyes[0][0])
            .to_degrees();
        assert!(tilt.abs() < 2.0, "eye line {tilt}°");
        // The crop shows the face: bright enough, textured, hardly any black border.
        let px: Vec<f32> = aligned.image.as_raw().iter().map(|&v| v as f32).collect();
        let mean = px.iter().sum::<f32>() / px.len() as f32;
        let std = (px.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / px.len() as f32).sqrt();
        let black = aligned.image.pixels().filter(|p| p.0 == [0, 0, 0]).count() as f32
            / (size * size) as f32;
        println!("{size}²: mean {mean:.1}, std {std:.1}, black {black:.3}");
        assert!(
            (60.0..220.0).contains(&mean) && std > 25.0 && black < 0.05,
            "mean {mean} std {std} black {black}"
        );
    }
    // Detected again inside the 224² GenD crop, the eyes are where the transform put them
    // (±2 px): the warp moves the pixels the way the transform says.
    let aligned = align_face(&img, &face.landmarks, &AlignTemplate::gend(), 224);
    let again = detect_one(&m, &aligned.image);
    for k in 0..2 {
        let mapped = aligned.transform.apply(face.landmarks[k]);
        println!(
            "re-detected eye {k}: {:?}, mapped {mapped:?}",
            again.landmarks[k]
        );
        assert!(
            dist(again.landmarks[k], mapped) <= 2.0,
            "eye {k}: {:?} vs {mapped:?}",
            again.landmarks[k]
        );
    }
}

#[test]
fn rotated_astronaut_still_aligns_upright() {
    let m = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let img = astronaut();
    let upright = detect_one(&m, &img);
    // Rotate the whole frame by 30° about its centre (black corners).
    let c = [256.0f32, 256.0];
    let rot = rotation(30.0, 1.0, 0.0, 0.0);
    let rc = rot.apply(c);
    let rot = Similarity {
        tx: c[0] - rc[0],
        ty: c[1] - rc[1],
        ..rot
    };
    let rotated = warp_similarity(&img, &rot, 512, 512);
    let face = detect_one(&m, &rotated);
    let tilt = eye_line_degrees(&face.landmarks);
    println!("eye line in the rotated frame {tilt:.1}°");
    assert!(
        (tilt - 30.0).abs() < 5.0,
        "the frame's face should be tilted ≈30°, is {tilt}"
    );
    let aligned = align_face(&rotated, &face.landmarks, &AlignTemplate::gend(), 224);
    let plain = align_face(&img, &upright.landmarks, &AlignTemplate::gend(), 224);
    let turn = aligned.transform.rotation_degrees() - plain.transform.rotation_degrees();
    println!("alignment turns the rotated frame {turn:.2}° more than the upright one");
    assert!((turn + 30.0).abs() < 2.0, "{turn}");
    let eyes = [
        aligned.transform.apply(face.landmarks[0]),
        aligned.transform.apply(face.landmarks[1]),
    ];
    let mapped = (eyes[1][1] - eyes[0][1])
        .atan2(eyes[1][0] - eyes[0][0])
        .to_degrees();
    assert!(mapped.abs() < 2.0, "eye line after alignment {mapped}°");
    // And the crop itself is upright: detected again, its eye line is horizontal.
    let again = detect_one(&m, &aligned.image);
    let level = eye_line_degrees(&again.landmarks);
    println!("eye line in the aligned crop {level:.2}°");
    assert!(level.abs() < 2.0, "eye line in the aligned crop {level}°");
}

#[test]
fn to_tensor_normalises_like_the_encoders_expect() {
    let mut a = RgbImage::new(7, 5);
    let mut b = RgbImage::new(7, 5);
    for (x, y, p) in a.enumerate_pixels_mut() {
        *p = Rgb([(x * 30) as u8, (y * 50) as u8, ((x * 7 + y * 11) * 5) as u8]);
    }
    for (x, y, p) in b.enumerate_pixels_mut() {
        *p = Rgb([255 - (x * 30) as u8, 17, (x * y * 9) as u8]);
    }
    for (mean, std) in [(CLIP_MEAN, CLIP_STD), (IMAGENET_MEAN, IMAGENET_STD)] {
        let t = to_tensor(&[&a, &b], mean, std).unwrap();
        assert_eq!(t.size(), [2, 3, 5, 7]);
        assert_eq!(t.kind(), tch::Kind::Float);
        for (i, img) in [&a, &b].into_iter().enumerate() {
            for (x, y) in [(0, 0), (6, 4), (3, 2), (5, 1)] {
                for c in 0..3 {
                    let want = (img.get_pixel(x, y).0[c] as f32 / 255.0 - mean[c]) / std[c];
                    let got = t.double_value(&[i as i64, c as i64, y as i64, x as i64]) as f32;
                    assert!(
                        (got - want).abs() < 1e-6,
                        "[{i},{c},{y},{x}] {got} vs {want}"
                    );
                }
            }
        }
    }
    assert_eq!(
        to_tensor(&[], CLIP_MEAN, CLIP_STD).unwrap().size(),
        [0, 3, 0, 0]
    );
    let c = RgbImage::new(5, 7);
    assert!(to_tensor(&[&a, &c], CLIP_MEAN, CLIP_STD).is_err());
}

#[test]
fn full_frame_keeps_the_whole_picture() {
    let img = astronaut();
    let small = full_frame(&img, 224).image;
    assert_eq!(small.dimensions(), (224, 224));
    // A square frame fills the square: same average colour (a resize, not a crop), per channel
    // within 2 levels, and the corners come from the frame's corners.
    let mean = |im: &RgbImage, c: usize| {
        im.pixels().map(|p| p.0[c] as f64).sum::<f64>() / (im.width() * im.height()) as f64
    };
    for c in 0..3 {
        assert!((mean(&img, c) - mean(&small, c)).abs() < 2.0, "channel {c}");
    }
    let corner = |im: &RgbImage, x: u32, y: u32| im.get_pixel(x, y).0.map(|v| v as i32);
    let (a, b) = (corner(&img, 0, 0), corner(&small, 0, 0));
    assert!((0..3).all(|c| (a[c] - b[c]).abs() < 40), "{a:?} vs {b:?}");
    let empty = full_frame(&RgbImage::new(0, 0), 16);
    assert_eq!(empty.image.dimensions(), (16, 16));
    assert!(empty.image.pixels().all(|p| p.0 == [0, 0, 0]));
}

#[test]
fn full_frame_letterboxes_a_wide_frame_and_its_transform_is_exact() {
    // A grey 640×360 frame with a white 8×8 square centred on (500, 100).
    let mut img = RgbImage::from_pixel(640, 360, image::Rgb([90, 90, 90]));
    for y in 96..104 {
        for x in 496..504 {
            img.put_pixel(x, y, image::Rgb([255, 255, 255]));
        }
    }
    let ff = full_frame(&img, 224);
    assert_eq!(ff.image.dimensions(), (224, 224));
    // Aspect kept: 640 → 224 wide, 360 → 126 high, centred: black bars of 49 rows above and below.
    assert_eq!(ff.image.get_pixel(112, 48).0, [0, 0, 0]);
    assert_eq!(ff.image.get_pixel(112, 224 - 49).0, [0, 0, 0]);
    assert!(ff.image.get_pixel(112, 49).0[0] > 80 && ff.image.get_pixel(112, 174).0[0] > 80);
    // The transform sends the square's centre to the brightest spot of the crop.
    let [cx, cy] = ff.transform.apply([499.5, 99.5]);
    let (mut best, mut at) = (0u32, (0u32, 0u32));
    for (x, y, p) in ff.image.enumerate_pixels() {
        let v = p.0.iter().map(|&c| c as u32).sum::<u32>();
        if v > best {
            (best, at) = (v, (x, y));
        }
    }
    assert!(
        (at.0 as f32 - cx).abs() <= 1.0 && (at.1 as f32 - cy).abs() <= 1.0,
        "peak {at:?}, transform says ({cx}, {cy})"
    );
    // A uniform scale (no squashing), so frame distances shrink by one factor both ways.
    let [x0, y0] = ff.transform.apply([0.0, 0.0]);
    let [x1, y1] = ff.transform.apply([100.0, 100.0]);
    assert!(((x1 - x0) - (y1 - y0)).abs() < 1e-4 && ((x1 - x0) - 35.0).abs() < 1e-3);
}
