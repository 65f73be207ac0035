//! The model-free forensic views (src/explain/artifacts.rs), each on an image with a planted
//! artefact it must find: a periodic pattern in the spectrum, a region compressed differently
//! for error-level analysis, a noisy patch in the noise residual, a blended seam in the
//! boundary map.
mod common;

use image::{Rgb, RgbImage};
use tch::{Device, Kind, Tensor};
use verity::explain::artifacts::{
    self, blending_boundary, error_level, jpeg_round_trip, log_spectrum, noise_residual, spectrum,
    ArtifactKind, ELA_QUALITY,
};

fn astronaut() -> RgbImage {
    image::open(common::astronaut()).unwrap().to_rgb8()
}

/// Gaussian noise N(0, σ²), `n` values, reproducible.
fn noise(n: usize, sigma: f64, seed: i64) -> Vec<f32> {
    tch::manual_seed(seed);
    Vec::<f32>::try_from(Tensor::randn([n as i64], (Kind::Float, Device::Cpu)) * sigma).unwrap()
}

/// Adds `f(x, y)` to every channel, clamped to 0..255.
fn add(img: &RgbImage, f: impl Fn(u32, u32) -> f32) -> RgbImage {
    let mut out = img.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let d = f(x, y);
        for c in 0..3 {
            p[c] = (p[c] as f32 + d).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

/// Mean brightness (all channels) of `img` over x0..x1 × y0..y1.
fn mean_in(img: &RgbImage, x0: u32, x1: u32, y0: u32, y1: u32) -> f64 {
    let mut s = 0f64;
    for y in y0..y1 {
        for x in x0..x1 {
            s += img.get_pixel(x, y).0.iter().map(|&v| v as f64).sum::<f64>();
        }
    }
    s / ((x1 - x0) * (y1 - y0) * 3) as f64
}

#[test]
fn spectrum_shows_an_injected_periodic_pattern_at_its_frequency() {
    let clean = astronaut();
    let base = log_spectrum(&clean).unwrap().peak(0.05);
    eprintln!(
        "clean astronaut: strongest off-centre peak {:.1}× its ring (period {:.1} px)",
        base.ratio, base.period_px
    );

    // Vertical stripes with an 8-px period (what a 2×-then-4× up-sampling grid leaves), ±6 levels.
    let striped = add(&clean, |x, _| {
        6.0 * (2.0 * std::f32::consts::PI * x as f32 / 8.0).cos()
    });
    let s = log_spectrum(&striped).unwrap();
    assert_eq!((s.log_magnitude.width, s.log_magnitude.height), (512, 512));
    let p = s.peak(0.05);
    eprintln!(
        "8-px stripes: peak at ({}, {}), period {:.2} px, {:.0}× its ring",
        p.x, p.y, p.period_px, p.ratio
    );
    assert!(p.x == 256 - 64 || p.x == 256 + 64, "{p:?}");
    assert_eq!(p.y, 256);
    assert!((p.period_px - 8.0).abs() < 1e-9, "{p:?}");
    assert!(
        p.ratio > 3.0 * base.ratio,
        "{} vs clean {}",
        p.ratio,
        base.ratio
    );

    // A diagonal pattern, 1/16 cycles/px in x and 1/32 in y.
    let diag = add(&clean, |x, y| {
        6.0 * (2.0 * std::f32::consts::PI * (x as f32 / 16.0 + y as f32 / 32.0)).cos()
    });
    let q = log_spectrum(&diag).unwrap().peak(0.05);
    let (dx, dy) = (q.x as i64 - 256, q.y as i64 - 256);
    assert!((dx, dy) == (32, 16) || (dx, dy) == (-32, -16), "{q:?}");

    // The view shows the peak among its very brightest pixels and says where it is.
    let view = spectrum(&striped).unwrap();
    assert_eq!(view.kind, ArtifactKind::Spectrum);
    let luma = |p: &Rgb<u8>| p[0] as u32 + p[1] as u32 + p[2] as u32;
    let mut all: Vec<u32> = view.image.pixels().map(luma).collect();
    all.sort_unstable();
    let at_peak = luma(view.image.get_pixel(p.x, p.y));
    eprintln!(
        "spectrum view: peak pixel {:?}, 99.9th percentile luma {}",
        view.image.get_pixel(p.x, p.y),
        all[all.len() * 999 / 1000]
    );
    assert!(at_peak >= all[all.len() * 999 / 1000], "{at_peak}");
    assert!(
        view.explanation.contains("period 8.0 px along x"),
        "{}",
        view.explanation
    );
    assert!(view.measure > 3.0 * base.ratio);
}

#[test]
fn ela_is_brighter_on_a_region_pasted_from_a_differently_compressed_jpeg() {
    // The camera original: a JPEG at quality 90. Into it, a 128×128 block (on the 8-px JPEG
    // grid) is pasted from another source — the same scene never JPEG-compressed, with a little
    // extra noise so it is not identical — and the composite is saved once more at quality 90,
    // as an editor would. Background pixels then meet their third q90 compression in ELA, the
    // pasted block its second: it changes more.
    let original = astronaut();
    let camera = jpeg_round_trip(&jpeg_round_trip(&original, 90).unwrap(), 90).unwrap();
    let n = noise(512 * 512, 2.0, 7);
    let source = add(&original, |x, y| n[(y * 512 + x) as usize]);
    let (x0, y0, side) = (192u32, 256u32, 128u32);
    let mut composite = camera.clone();
    for y in y0..y0 + side {
        for x in x0..x0 + side {
            composite.put_pixel(x, y, *source.get_pixel(x, y));
        }
    }
    let suspect = jpeg_round_trip(&composite, 90).unwrap();
    let ela = error_level(&suspect, ELA_QUALITY).unwrap();
    assert_eq!(ela.kind, ArtifactKind::ErrorLevel);
    let inside = mean_in(&ela.image, x0 + 8, x0 + side - 8, y0 + 8, y0 + side - 8);
    // The same-size areas left and right of the block, and the whole image outside it.
    let left = mean_in(&ela.image, x0 - side, x0 - 8, y0 + 8, y0 + side - 8);
    let right = mean_in(
        &ela.image,
        x0 + side + 8,
        (x0 + 2 * side).min(512),
        y0 + 8,
        y0 + side - 8,
    );
    eprintln!("ELA mean brightness: pasted {inside:.1}, left {left:.1}, right {right:.1}; image mean error {:.2}", ela.measure);
    assert!(
        inside > 1.5 * left && inside > 1.5 * right,
        "pasted {inside} vs {left} / {right}"
    );

    // Same scene without the paste: the block's area is not singled out.
    let plain = error_level(&jpeg_round_trip(&camera, 90).unwrap(), ELA_QUALITY).unwrap();
    let plain_inside = mean_in(&plain.image, x0 + 8, x0 + side - 8, y0 + 8, y0 + side - 8);
    eprintln!("ELA without paste: block area {plain_inside:.1}");
    assert!(inside > 1.5 * plain_inside, "{inside} vs {plain_inside}");
    assert!(ela.explanation.contains("q=90"));
}

#[test]
fn noise_residual_is_stronger_on_a_noisy_patch() {
    let clean = astronaut();
    let n = noise(512 * 512, 6.0, 11);
    let (x0, x1, y0, y1) = (300u32, 420u32, 330u32, 450u32);
    let patched = add(&clean, |x, y| {
        if x >= x0 && x < x1 && y >= y0 && y < y1 {
            n[(y * 512 + x) as usize]
        } else {
            0.0
        }
    });
    let before = noise_residual(&clean).unwrap();
    let after = noise_residual(&patched).unwrap();
    assert_eq!(after.kind, ArtifactKind::NoiseResidual);
    let (b, a) = (
        mean_in(&before.image, x0, x1, y0, y1),
        mean_in(&after.image, x0, x1, y0, y1),
    );
    // Elsewhere the residual is unchanged (one pixel of border excepted).
    let elsewhere_b = mean_in(&before.image, 20, 200, 20, 200);
    let elsewhere_a = mean_in(&after.image, 20, 200, 20, 200);
    eprintln!(
        "noise residual brightness in the patch: clean {b:.1}, noisy {a:.1}; RMS {:.2} → {:.2}",
        before.measure, after.measure
    );
    assert!(a > 2.0 * b, "{a} vs {b}");
    assert_eq!(elsewhere_a, elsewhere_b);
    assert!(after.measure > before.measure);
}

/// Grey 120 with strong fine texture (σ 12), and, blended in with a 6-px feathered edge, a
/// smooth disc (grey 128, σ 1.5) of radius 60 around (128, 128) — a pasted face's seam.
fn blended_disc() -> (RgbImage, RgbImage) {
    let (tex, smooth) = (noise(256 * 256, 12.0, 21), noise(256 * 256, 1.5, 22));
    let background = RgbImage::from_fn(256, 256, |x, y| {
        Rgb([(120.0 + tex[(y * 256 + x) as usize])
            .round()
            .clamp(0.0, 255.0) as u8; 3])
    });
    let pasted = RgbImage::from_fn(256, 256, |x, y| {
        let r = (x as f32 - 128.0).hypot(y as f32 - 128.0);
        let alpha = ((63.0 - r) / 6.0).clamp(0.0, 1.0);
        let v = alpha * (128.0 + smooth[(y * 256 + x) as usize])
            + (1.0 - alpha) * (120.0 + tex[(y * 256 + x) as usize]);
        Rgb([v.round().clamp(0.0, 255.0) as u8; 3])
    });
    (background, pasted)
}

#[test]
fn boundary_map_peaks_along_a_blended_seam() {
    let (background, pasted) = blended_disc();
    let resp = artifacts::boundary_response(&pasted).unwrap();
    let ring = |lo: f32, hi: f32| {
        resp.mean_where(|x, y| {
            let r = (x as f32 - 128.0).hypot(y as f32 - 128.0);
            r >= lo && r < hi
        })
    };
    let (seam, inside, outside) = (ring(54.0, 66.0), ring(0.0, 40.0), ring(80.0, 120.0));
    eprintln!("boundary response: seam {seam:.3}, inside {inside:.3}, outside {outside:.3}");
    assert!(
        seam > 2.5 * inside && seam > 2.5 * outside,
        "{seam} vs {inside} / {outside}"
    );

    // With the face box given, the measure is the ring-vs-rest ratio: high with the seam,
    // about 1 without it.
    let face = Some([68.0, 68.0, 188.0, 188.0]);
    let with = blending_boundary(&pasted, face).unwrap();
    let without = blending_boundary(&background, face).unwrap();
    eprintln!(
        "ring ratio: with seam {:.2}, without {:.2}",
        with.measure, without.measure
    );
    assert!(with.measure > 2.0, "{}", with.measure);
    assert!(without.measure < 1.3, "{}", without.measure);
    assert!(with
        .explanation
        .contains("stronger on the ring around the face"));
}

#[test]
fn every_view_has_one_line_and_bad_input_is_an_error() {
    let img = astronaut();
    let maps = artifacts::all(&img, Some([181.0, 62.0, 268.0, 172.0])).unwrap();
    let kinds: Vec<ArtifactKind> = maps.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            ArtifactKind::NoiseResidual,
            ArtifactKind::Spectrum,
            ArtifactKind::ErrorLevel,
            ArtifactKind::BlendingBoundary
        ]
    );
    for m in &maps {
        assert!(
            !m.explanation.contains('\n') && m.explanation.len() > 80,
            "{}",
            m.explanation
        );
        assert!(m.measure.is_finite(), "{:?}", m.kind);
        assert_eq!(
            m.image.dimensions(),
            if m.kind == ArtifactKind::Spectrum {
                (512, 512)
            } else {
                img.dimensions()
            }
        );
    }
    // Large frames: the spectrum is computed on a centre crop, not resized.
    let wide = RgbImage::from_pixel(1000, 300, Rgb([50, 60, 70]));
    assert_eq!(spectrum(&wide).unwrap().image.dimensions(), (512, 300));
    // Too small to analyse: an error for the analyst, never a panic.
    let tiny = RgbImage::new(2, 2);
    for err in [
        noise_residual(&tiny).err(),
        spectrum(&tiny).err(),
        error_level(&tiny, 90).err(),
        blending_boundary(&tiny, None).err(),
    ] {
        let msg = err.expect("tiny image must be refused").to_string();
        assert!(msg.contains("2×2"), "{msg}");
    }
}
