//! Synthetic fakes (src/train/sbi.rs, src/train/swap.rs) on the real astronaut face: soft masks
//! in [0, 1] that peak on the face and vanish far from it, changes confined to the mask, the
//! landmarks inside the mask, reproducibility from the recorded parameters, and the swap's
//! geometry and colour correction.
mod common;

use image::RgbImage;
use std::sync::OnceLock;
use tch::Device;
use verity::faces::align::{align_face, warp_similarity, AlignTemplate, Similarity};
use verity::faces::mtcnn::Mtcnn;
use verity::train::sbi::{self, Mask, MaskShape, SbiConfig};
use verity::train::swap::{self, SwapFace};

/// The astronaut's face aligned to the detection template (224²) and its landmarks in the crop,
/// plus the full photo and its landmarks.
struct Face {
    crop: RgbImage,
    crop_lm: [[f32; 2]; 5],
    photo: RgbImage,
    photo_lm: [[f32; 2]; 5],
}

fn face() -> &'static Face {
    static FACE: OnceLock<Face> = OnceLock::new();
    FACE.get_or_init(|| {
        let photo = image::open(common::astronaut()).unwrap().to_rgb8();
        let m = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
        let det = m.detect(&[&photo]).unwrap().remove(0).remove(0);
        let aligned = align_face(&photo, &det.landmarks, &AlignTemplate::gend(), 224);
        let crop_lm = det.landmarks.map(|p| aligned.transform.apply(p));
        Face {
            crop: aligned.image,
            crop_lm,
            photo,
            photo_lm: det.landmarks,
        }
    })
}

/// Pixels where the images differ, and pixels where the mask is exactly 0 but the image changed.
fn changes(a: &RgbImage, b: &RgbImage, mask: &Mask) -> (usize, usize) {
    let (mut changed, mut outside) = (0, 0);
    for (i, (pa, pb)) in a
        .as_raw()
        .chunks_exact(3)
        .zip(b.as_raw().chunks_exact(3))
        .enumerate()
    {
        if pa != pb {
            changed += 1;
            if mask.data[i] == 0.0 {
                outside += 1;
            }
        }
    }
    (changed, outside)
}

fn check_mask(mask: &Mask, lm: &[[f32; 2]; 5], blend: f32, what: &str) {
    assert!(
        mask.data.iter().all(|v| (0.0..=1.0).contains(v)),
        "{what}: mask outside [0, 1]"
    );
    let peak = mask.max();
    assert!(
        (peak - blend).abs() < 0.02,
        "{what}: peak {peak} vs blend {blend}"
    );
    // The peak is on the face: at the nose the mask is (nearly) at its peak.
    let nose = mask.sample(lm[2][0], lm[2][1]);
    assert!(nose >= 0.9 * blend, "{what}: nose {nose} vs blend {blend}");
    // Every landmark is well inside the mask.
    for (k, p) in lm.iter().enumerate() {
        let v = mask.sample(p[0], p[1]);
        assert!(
            v >= 0.5 * blend,
            "{what}: landmark {k} at {p:?} has mask {v} (blend {blend})"
        );
    }
    // Far from the face (the crop's corners; two face sizes from the nose) it is exactly 0.
    let size = sbi::face_size(lm);
    for y in 0..mask.height {
        for x in 0..mask.width {
            let d = (x as f32 - lm[2][0]).hypot(y as f32 - lm[2][1]);
            if d > 2.2 * size {
                assert_eq!(mask.get(x, y), 0.0, "{what}: mask at ({x},{y}) is not 0");
            }
        }
    }
}

#[test]
fn self_blended_images_change_only_the_masked_face() {
    let f = face();
    let cfg = SbiConfig::default();
    let mut shapes = std::collections::HashSet::new();
    for seed in 0..12u64 {
        let s = sbi::self_blend(&f.crop, &f.crop_lm, &cfg, seed).unwrap();
        let what = format!("seed {seed} ({:?})", s.params.mask.shape);
        shapes.insert(s.params.mask.shape);
        check_mask(&s.mask, &f.crop_lm, s.params.mask.blend, &what);
        let (changed, outside) = changes(&f.crop, &s.image, &s.mask);
        assert_eq!(outside, 0, "{what}: pixels changed where the mask is 0");
        assert!(changed > 2000, "{what}: only {changed} pixels changed");
        assert_eq!(s.landmarks, f.crop_lm);
        // The record reproduces the image exactly, and so does the seed.
        let again = sbi::self_blend_with(&f.crop, &f.crop_lm, &s.params).unwrap();
        assert_eq!(
            again.image, s.image,
            "{what}: parameters do not reproduce the image"
        );
        let json = serde_json::to_string(&s.params).unwrap();
        let back: sbi::SbiParams = serde_json::from_str(&json).unwrap();
        assert_eq!(
            sbi::self_blend_with(&f.crop, &f.crop_lm, &back)
                .unwrap()
                .image,
            s.image
        );
        assert_eq!(
            sbi::self_blend(&f.crop, &f.crop_lm, &cfg, seed)
                .unwrap()
                .image,
            s.image
        );
    }
    assert_eq!(shapes.len(), 2, "both mask shapes drawn over 12 seeds");
    let a = sbi::self_blend(&f.crop, &f.crop_lm, &cfg, 1).unwrap();
    let b = sbi::self_blend(&f.crop, &f.crop_lm, &cfg, 2).unwrap();
    assert_ne!(a.image, b.image, "different seeds, different fakes");
}

#[test]
fn self_blend_works_on_the_full_photo_too() {
    let f = face();
    let s = sbi::self_blend(&f.photo, &f.photo_lm, &SbiConfig::default(), 5).unwrap();
    check_mask(&s.mask, &f.photo_lm, s.params.mask.blend, "photo");
    assert_eq!(changes(&f.photo, &s.image, &s.mask).1, 0);
    for shape in [MaskShape::Hull, MaskShape::Ellipse] {
        let mut p = s.params.clone();
        p.mask.shape = shape;
        p.mask.blend = 1.0;
        let m = sbi::face_mask(f.photo.width(), f.photo.height(), &f.photo_lm, &p.mask);
        check_mask(&m, &f.photo_lm, 1.0, &format!("{shape:?}"));
    }
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let f = face();
    let tiny = RgbImage::new(4, 4);
    assert!(sbi::self_blend(&tiny, &f.crop_lm, &SbiConfig::default(), 0).is_err());
    let nan = [[f32::NAN, 0.0]; 5];
    assert!(sbi::self_blend(&f.crop, &nan, &SbiConfig::default(), 0).is_err());
    let point = [[10.0, 10.0]; 5];
    assert!(sbi::self_blend(&f.crop, &point, &SbiConfig::default(), 0).is_err());
    let bad = SbiConfig {
        blend_choices: vec![],
        ..SbiConfig::default()
    };
    assert!(sbi::self_blend(&f.crop, &f.crop_lm, &bad, 0).is_err());
    // Landmarks partly outside the image still work (the mask is clipped by the frame).
    let off = f.crop_lm.map(|p| [p[0] + 150.0, p[1]]);
    let s = sbi::self_blend(&f.crop, &off, &SbiConfig::default(), 0).unwrap();
    assert!(s.mask.data.iter().all(|v| (0.0..=1.0).contains(v)));
}

/// A second "identity": the astronaut photo rotated, scaled, moved and recoloured (blue-ish,
/// darker), with its landmarks carried along.
fn other_identity(f: &Face) -> (RgbImage, [[f32; 2]; 5]) {
    let r = 12f32.to_radians();
    let t = Similarity {
        a: 0.8 * r.cos(),
        b: 0.8 * r.sin(),
        tx: 60.0,
        ty: -20.0,
    };
    let mut img = warp_similarity(&f.photo, &t, f.photo.width(), f.photo.height());
    for px in img.pixels_mut() {
        px.0 = [
            px.0[0] / 2,
            (px.0[1] as f32 * 0.7) as u8,
            px.0[2].saturating_add(60),
        ];
    }
    (img, f.photo_lm.map(|p| t.apply(p)))
}

#[test]
fn face_swap_aligns_recolours_and_blends() {
    let f = face();
    let (b_img, b_lm) = other_identity(f);
    let target = SwapFace {
        image: &f.crop,
        landmarks: &f.crop_lm,
        identity: "astronaut",
    };
    let source = SwapFace {
        image: &b_img,
        landmarks: &b_lm,
        identity: "blue astronaut",
    };
    let s = swap::face_swap(target, source, &SbiConfig::default(), 9).unwrap();
    let blend = s.record.mask.blend;
    check_mask(&s.mask, &f.crop_lm, blend, "swap");
    let (changed, outside) = changes(&f.crop, &s.image, &s.mask);
    assert_eq!(outside, 0, "swap changed pixels outside its mask");
    assert!(changed > 2000);
    // The recorded transform takes the source's landmarks onto the target's.
    for (k, (src, dst)) in b_lm.iter().zip(&f.crop_lm).enumerate() {
        let p = s.record.similarity().apply(*src);
        let d = (p[0] - dst[0]).hypot(p[1] - dst[1]);
        assert!(d < 0.5, "landmark {k}: {p:?} vs {dst:?}");
    }
    assert_eq!(s.landmarks, f.crop_lm);
    assert_eq!(s.record.source_identity, "blue astronaut");
    // Colour: the source was recoloured; after the transfer its masked mean is the target's.
    let after = swap::masked_stats(&s.image, &s.mask);
    let plain = swap::face_swap_with(target, source, &s.record.mask, false, 9).unwrap();
    let uncorrected = swap::masked_stats(&plain.image, &plain.mask);
    for c in 0..3 {
        let err = (after.mean[c] - s.record.target_colour.mean[c]).abs();
        let raw = (uncorrected.mean[c] - s.record.target_colour.mean[c]).abs();
        assert!(err < 3.0, "channel {c}: corrected mean off by {err}");
        assert!(
            raw > 3.0 * err.max(1.0),
            "channel {c}: correction did not help ({raw} → {err})"
        );
    }
    // Reproducible from the record; same identity refused.
    let again = swap::face_swap_with(target, source, &s.record.mask, true, 9).unwrap();
    assert_eq!(again.image, s.image);
    let same = SwapFace {
        identity: "astronaut",
        ..source
    };
    let err = swap::face_swap(target, same, &SbiConfig::default(), 9).unwrap_err();
    assert!(err.to_string().contains("different identities"), "{err}");
}
