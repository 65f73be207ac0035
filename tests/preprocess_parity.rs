//! GenD's face preprocessing against its reference libraries (tests/reference/preprocess_ref.py:
//! OpenCV 4.13 `estimateAffinePartial2D(LMEDS)` + `warpAffine`, Pillow 13 `resize`, transformers'
//! Pillow-backed CLIP image processor configured as `openai/clip-vit-large-patch14`), on the same
//! inputs.
mod common;

use std::collections::HashMap;

use common::{fixtures, read_safetensors};
use image::RgbImage;
use tch::{Kind, Tensor};
use verity::faces::align::{
    fit_similarity_lmeds, similarity_transform, to_tensor, warp_affine_cv, AlignTemplate,
    Similarity64, CLIP_MEAN, CLIP_STD,
};
use verity::faces::preprocess::{self, Chain, CropSpec};
use verity::faces::resize::{resize, Filter};

fn fx() -> std::path::PathBuf {
    fixtures("preprocess_ref", "", &[])
}

fn summary() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(fx().join("summary.json")).unwrap()).unwrap()
}

fn image(t: &Tensor) -> RgbImage {
    let s = t.size();
    assert_eq!(s.len(), 3, "{s:?}");
    let data = Vec::<u8>::try_from(t.to_kind(Kind::Uint8).flatten(0, -1)).unwrap();
    RgbImage::from_raw(s[1] as u32, s[0] as u32, data).unwrap()
}

fn pts(t: &Tensor) -> [[f32; 2]; 5] {
    let v = Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1)).unwrap();
    std::array::from_fn(|i| [v[2 * i], v[2 * i + 1]])
}

/// (max |Δ|, share of pixels that differ) between two images of one size.
fn diff(a: &RgbImage, b: &RgbImage) -> (u8, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let mut max = 0u8;
    let mut n = 0usize;
    for (x, y) in a.as_raw().iter().zip(b.as_raw()) {
        let d = x.abs_diff(*y);
        max = max.max(d);
        n += (d > 0) as usize;
    }
    (max, n as f64 / a.as_raw().len() as f64)
}

#[test]
fn resize_matches_pillow_bicubic_and_bilinear() {
    let t = read_safetensors(&fx().join("resize.safetensors"));
    let cases = summary()["resize"].as_array().unwrap().clone();
    assert_eq!(cases.len(), 120, "20 images × 3 targets × 2 filters");
    let mut worst = (0u8, 0.0f64);
    let mut over = Vec::new();
    for c in &cases {
        let src = image(&t[c["src"].as_str().unwrap()]);
        let want = image(&t[c["key"].as_str().unwrap()]);
        let filter = match c["filter"].as_str().unwrap() {
            "bicubic" => Filter::Bicubic,
            _ => Filter::Bilinear,
        };
        let got = resize(
            &src,
            c["width"].as_u64().unwrap() as u32,
            c["height"].as_u64().unwrap() as u32,
            filter,
        );
        let (max, share) = diff(&got, &want);
        if max > 1 {
            over.push(format!("{} {}→{}×{}: max |Δ| {max}", c["key"], src.width(), got.width(), got.height()));
        }
        worst = (worst.0.max(max), worst.1.max(share));
    }
    assert!(over.is_empty(), "{over:#?}");
    println!(
        "Pillow resize parity over {} cases: max |Δ| {} grey level(s), at most {:.4} % of values differ",
        cases.len(),
        worst.0,
        worst.1 * 100.0
    );
}

#[test]
fn resize_of_the_same_size_or_to_nothing_is_safe() {
    let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 9]));
    assert_eq!(resize(&img, 7, 5, Filter::Bicubic), img);
    assert_eq!(resize(&img, 0, 3, Filter::Bicubic).dimensions(), (0, 3));
    assert_eq!(resize(&RgbImage::new(0, 0), 4, 4, Filter::Bilinear).dimensions(), (4, 4));
    // A flat image stays flat in both directions (weights normalised per output pixel).
    let flat = RgbImage::from_pixel(13, 9, image::Rgb([200, 17, 255]));
    for (w, h) in [(3, 2), (40, 31), (13, 30)] {
        let r = resize(&flat, w, h, Filter::Bicubic);
        assert!(r.pixels().all(|p| p.0 == [200, 17, 255]), "{w}×{h}");
    }
}

#[test]
fn lmeds_fit_matches_opencv_including_outliers() {
    let t = read_safetensors(&fx().join("fit.safetensors"));
    let (src, dst, m) = (&t["src"], &t["dst"], &t["m"]);
    let outlier = Vec::<u8>::try_from(&t["outlier"]).unwrap();
    let n = src.size()[0];
    let (mut worst, mut worst_lstsq_outlier) = (0.0f64, 0.0f64);
    for i in 0..n {
        let (s, d) = (pts(&src.get(i)), pts(&dst.get(i)));
        let want = Vec::<f64>::try_from(m.get(i).flatten(0, -1)).unwrap();
        let got = fit_similarity_lmeds(&s, &d);
        let got_v = [got.a, -got.b, got.tx, got.b, got.a, got.ty];
        let rel = |g: &[f64]| -> f64 {
            g.iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
                .fold(0.0, f64::max)
        };
        let r = rel(&got_v);
        assert!(r <= 1e-3, "case {i}: {got_v:?} vs OpenCV {want:?} (relative {r:e})");
        worst = worst.max(r);
        if outlier[i as usize] == 1 {
            // Plain least squares over all five points is what LMedS replaces: show it differs.
            let ls = similarity_transform(&s, &d);
            let ls_v = [ls.a, -ls.b, ls.tx, ls.b, ls.a, ls.ty].map(f64::from);
            worst_lstsq_outlier = worst_lstsq_outlier.max(rel(&ls_v));
        }
    }
    println!(
        "LMedS fit parity over {n} landmark sets: worst relative entry error {worst:e} \
         (least squares over all points would be off by up to {worst_lstsq_outlier:.3} with one landmark off)"
    );
    assert!(
        worst_lstsq_outlier > 1e-2,
        "the outlier cases must separate LMedS from least squares"
    );
}

#[test]
fn warp_matches_opencv_warp_affine_bit_for_bit() {
    let t = read_safetensors(&fx().join("warp.safetensors"));
    for c in summary()["warp"].as_array().unwrap() {
        let k = c["key"].as_str().unwrap();
        let m = Vec::<f64>::try_from(t[&format!("{k}.m")].flatten(0, -1)).unwrap();
        let sim = Similarity64 {
            a: m[0],
            b: m[3],
            tx: m[2],
            ty: m[5],
        };
        let got = warp_affine_cv(
            &image(&t[&format!("{k}.src")]),
            &sim,
            c["width"].as_u64().unwrap() as u32,
            c["height"].as_u64().unwrap() as u32,
        );
        let (max, share) = diff(&got, &image(&t[&format!("{k}.out")]));
        assert_eq!(max, 0, "{k}: max |Δ| {max}, {:.3} % differ", share * 100.0);
    }
}

fn gend_spec() -> CropSpec {
    CropSpec {
        template: AlignTemplate::gend(),
        chain: Chain::Gend,
        size: 224,
    }
}

#[test]
fn gend_chain_input_tensor_matches_the_reference() {
    let t: HashMap<String, Tensor> = read_safetensors(&fx().join("chain.safetensors"));
    let cases = summary()["chain"].as_array().unwrap().clone();
    assert!(cases.len() >= 11, "the astronaut and at least 10 generated frames");
    let spec = gend_spec();
    let (mut worst_mean, mut worst_max) = (0.0f64, 0.0f64);
    for c in &cases {
        let k = c["key"].as_str().unwrap();
        let frame = image(&t[&format!("{k}.frame")]);
        let lm = pts(&t[&format!("{k}.lm")]);
        let face = preprocess::prepare(&frame, &lm, &spec);
        // The native crop: OpenCV's, pixel for pixel.
        let want_crop = image(&t[&format!("{k}.crop")]);
        assert_eq!(
            face.native.dimensions(),
            want_crop.dimensions(),
            "{k} ({}): native crop side",
            c["note"]
        );
        let (cmax, _) = diff(&face.native, &want_crop);
        let got = to_tensor(&[&face.input], CLIP_MEAN, CLIP_STD).unwrap().squeeze_dim(0);
        let want = &t[&format!("{k}.pixels")];
        let d = (got.to_kind(Kind::Double) - want.to_kind(Kind::Double)).abs();
        let (mean, max) = (d.mean(Kind::Double).double_value(&[]), d.max().double_value(&[]));
        println!(
            "{k} ({}; native {}²): crop max |Δ| {cmax}, input mean |Δ| {mean:.2e}, max |Δ| {max:.4}",
            c["note"],
            want_crop.width()
        );
        assert!(mean <= 1e-3 && max <= 0.05, "{k}: mean {mean:e}, max {max}");
        worst_mean = worst_mean.max(mean);
        worst_max = worst_max.max(max);
        // The transform maps the landmarks where the template says, in input pixels.
        let side = want_crop.width() as f32;
        let s = 224.0 / side;
        let tpl = preprocess::gend_points(&spec.template, want_crop.width());
        let m = Vec::<f64>::try_from(t[&format!("{k}.m")].flatten(0, -1)).unwrap();
        for (p, q) in lm.iter().zip(tpl) {
            let on_input = face.transform.apply(*p);
            let via_cv = [
                ((m[0] * p[0] as f64 + m[1] * p[1] as f64 + m[2]) as f32 + 0.5) * s - 0.5,
                ((m[3] * p[0] as f64 + m[4] * p[1] as f64 + m[5]) as f32 + 0.5) * s - 0.5,
            ];
            assert!(
                (on_input[0] - via_cv[0]).abs() < 1e-2 && (on_input[1] - via_cv[1]).abs() < 1e-2,
                "{k}: {on_input:?} vs {via_cv:?} (template point {q:?})"
            );
        }
    }
    println!("GenD chain parity: worst mean |Δ| {worst_mean:.2e}, worst max |Δ| {worst_max:.4}");
}

#[test]
fn the_direct_chain_is_not_the_gend_chain() {
    // The reason this module exists: the old warp-to-224 chain gives a different input.
    let t = read_safetensors(&fx().join("chain.safetensors"));
    let frame = image(&t["c11.frame"]); // face 3× the astronaut's: ~490 px native
    let lm = pts(&t["c11.lm"]);
    let direct = preprocess::prepare(
        &frame,
        &lm,
        &CropSpec {
            chain: Chain::Direct,
            ..gend_spec()
        },
    );
    let got = to_tensor(&[&direct.input], CLIP_MEAN, CLIP_STD).unwrap().squeeze_dim(0);
    let d = (got - &t["c11.pixels"]).abs();
    let mean = d.mean(Kind::Double).double_value(&[]);
    println!("direct chain vs GenD reference on a 490 px face: mean |Δ| {mean:.4}");
    assert!(mean > 1e-2, "mean |Δ| {mean}");
}

#[test]
fn degenerate_landmarks_do_not_panic() {
    let img = RgbImage::from_pixel(64, 48, image::Rgb([10, 20, 30]));
    for lm in [
        [[10.0f32, 10.0]; 5],
        [[f32::NAN, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0], [5.0, 5.0]],
        [[1e9, 1e9], [-1e9, 1e9], [0.0, 0.0], [3.0, 3.0], [4.0, 4.0]],
    ] {
        let f = preprocess::prepare(&img, &lm, &gend_spec());
        assert_eq!(f.input.dimensions(), (224, 224));
        assert!(f.native.width() >= 1);
    }
}

#[test]
fn profiles_carry_their_chain_old_ones_migrate_and_unknown_names_are_refused() {
    use verity::models::profile::{create_random_profile, load_profile, PROFILE_FILE};
    let tmp = tempfile::tempdir().unwrap();
    for (preset, want) in [("tiny-gend", Chain::Gend), ("tiny", Chain::Direct)] {
        let dir = tmp.path().join(preset);
        create_random_profile(&dir, preset, 0).unwrap();
        let file = dir.join(PROFILE_FILE);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.contains(&format!("chain = \"{}\"", want.as_str())),
            "{preset}: a new profile writes its chain\n{text}"
        );
        assert_eq!(load_profile(&dir).unwrap().preprocessing.chain(), want);
        // A profile from before chains existed: the chain follows the variant.
        let old: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("chain ="))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&file, &old).unwrap();
        let p = load_profile(&dir).unwrap();
        assert_eq!(p.preprocessing.chain(), want, "{preset}: migrated");
        assert!(p.preprocessing.describe().starts_with(want.as_str()));
        // An unknown chain name: refused, naming the file and the allowed names.
        std::fs::write(&file, text.replace(&format!("chain = \"{}\"", want.as_str()), "chain = \"bicubic-magic\"")).unwrap();
        let err = load_profile(&dir).unwrap_err().to_string();
        assert!(
            err.contains(PROFILE_FILE) && err.contains("bicubic-magic") && err.contains("gend"),
            "{err}"
        );
    }
}
