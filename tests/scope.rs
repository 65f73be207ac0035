//! Scope warnings: each warning from real generated media through the pipeline (no face, many
//! faces, small faces, heavy JPEG compression, a very short video, the non-photographic check
//! "not checked" without a CLIP base), the JPEG quality estimator against the `image` crate's
//! encoder, the stored list, the report, and the rule that a band with a warning is never bare.
mod common;
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use verity::config::{Band, Settings};
use verity::media::jpeg_quality;
use verity::media::{MediaInfo, MediaKind};
use verity::pipeline::{verdict_text, Analyzer, Summary};
use verity::scope::{self, code, FaceStats, Facts, NonPhotographic, ScopeWarning, Severity};
use verity::store::{NewMedia, Outcome, Store};

fn settings(root: &Path) -> Settings {
    Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("models")),
        device: verity::device::DevicePref::Cpu,
        ..Settings::default()
    }
}

fn astronaut(scale: f32) -> RgbImage {
    let img = image::open(common::astronaut()).unwrap().to_rgb8();
    if scale == 1.0 {
        return img;
    }
    let s = (512.0 * scale) as u32;
    image::imageops::resize(&img, s, s, image::imageops::FilterType::CatmullRom)
}

fn save_jpeg(img: &RgbImage, path: &Path, quality: u8) {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(img)
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn codes(scope: &[ScopeWarning]) -> Vec<&str> {
    scope.iter().map(|w| w.code.as_str()).collect()
}

/// Analyses `path` without detector weights (faces are still found: scope needs no detector).
fn analyse(root: &Path, path: &Path) -> (Summary, Store) {
    let s = settings(root);
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let sum = a
        .analyze_path(&mut store, path, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap();
    (sum, store)
}

#[test]
fn jpeg_quality_is_estimated_from_the_encoders_tables() {
    let dir = tempfile::tempdir().unwrap();
    let img = astronaut(1.0);
    for q in [20u8, 50, 75, 95] {
        let p = dir.path().join(format!("q{q}.jpg"));
        save_jpeg(&img, &p, q);
        let est = jpeg_quality::estimate_file(&p).unwrap();
        assert!(
            est.quality.abs_diff(q) <= 1,
            "saved at {q}, estimated {est:?}"
        );
        assert!(est.fit_error < 1.0, "{est:?}");
    }
    // A PNG has no tables.
    assert_eq!(jpeg_quality::estimate_file(&common::astronaut()), None);
}

#[test]
fn heavy_jpeg_compression_is_flagged_and_a_good_jpeg_is_not() {
    let dir = tempfile::tempdir().unwrap();
    // Twice the size: the face is large enough that only compression can be the reason.
    let img = astronaut(2.0);
    let low = dir.path().join("low.jpg");
    let high = dir.path().join("high.jpg");
    save_jpeg(&img, &low, 20);
    save_jpeg(&img, &high, 95);
    let (sum, store) = analyse(&dir.path().join("a"), &low);
    assert_eq!(sum.faces, 1, "{sum:?}");
    assert_eq!(
        codes(&sum.scope),
        [code::HEAVY_COMPRESSION, code::NON_PHOTOGRAPHIC_NOT_CHECKED],
        "{:?}",
        sum.scope
    );
    assert!(sum.scope[0].text.contains("quality 20"), "{:?}", sum.scope);
    // Stored with the analysis and read back with the case.
    let c = store.case(sum.case_id).unwrap();
    assert_eq!(c.scope.as_deref(), Some(sum.scope.as_slice()));
    assert_eq!(
        store.analysis_scope(sum.analysis_id.unwrap()).unwrap(),
        Some(sum.scope.clone())
    );

    let (sum, _) = analyse(&dir.path().join("b"), &high);
    assert_eq!(
        codes(&sum.scope),
        [code::NON_PHOTOGRAPHIC_NOT_CHECKED],
        "{:?}",
        sum.scope
    );
}

#[test]
fn a_frame_without_a_face_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("wall.png");
    RgbImage::from_fn(640, 480, |x, y| Rgb([(x / 3) as u8, (y / 2) as u8, 90]))
        .save(&p)
        .unwrap();
    let (sum, _) = analyse(dir.path(), &p);
    assert_eq!(sum.faces, 0);
    assert_eq!(codes(&sum.scope)[0], code::NO_FACE, "{:?}", sum.scope);
    assert!(sum.scope[0].is_warning());
}

#[test]
fn small_and_many_faces_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    // The 512² astronaut: about 60 px from eyes to mouth, under the 64 px threshold.
    let (sum, _) = analyse(&dir.path().join("a"), &common::astronaut());
    assert_eq!(sum.faces, 1);
    assert_eq!(codes(&sum.scope)[0], code::SMALL_FACE, "{:?}", sum.scope);
    assert!(!codes(&sum.scope).contains(&code::MANY_FACES));

    // Six astronauts in one picture (3 × 2 tiles of 400²).
    let tile = astronaut(400.0 / 512.0);
    let mut crowd = RgbImage::new(1200, 800);
    for i in 0..6u32 {
        image::imageops::replace(
            &mut crowd,
            &tile,
            i64::from(i % 3 * 400),
            i64::from(i / 3 * 400),
        );
    }
    let p = dir.path().join("crowd.png");
    crowd.save(&p).unwrap();
    let (sum, _) = analyse(&dir.path().join("b"), &p);
    assert_eq!(sum.faces, 6, "{sum:?}");
    let c = codes(&sum.scope);
    assert!(c.contains(&code::MANY_FACES), "{:?}", sum.scope);
    let many = sum
        .scope
        .iter()
        .find(|w| w.code == code::MANY_FACES)
        .unwrap();
    assert!(
        many.text.starts_with("6 faces in one frame"),
        "{}",
        many.text
    );
}

#[test]
fn a_very_short_video_is_flagged() {
    let short = common::ffmpeg_cached(
        "scope-half-second.mp4",
        &[
            "-loop",
            "1",
            "-i",
            "{astronaut}",
            "-vf",
            "scale=1024:1024",
            "-t",
            "0.5",
            "-r",
            "10",
            "-c:v",
            "libx264",
            "-crf",
            "18",
            "-pix_fmt",
            "yuv420p",
        ],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let (sum, _) = analyse(dir.path(), &short);
    assert!(sum.frames >= 1);
    let c = codes(&sum.scope);
    assert!(c.contains(&code::SHORT_VIDEO), "{:?}", sum.scope);
    assert!(!c.contains(&code::HEAVY_COMPRESSION), "{:?}", sum.scope);
    let w = sum
        .scope
        .iter()
        .find(|w| w.code == code::SHORT_VIDEO)
        .unwrap();
    assert!(w.text.contains("0.50 s"), "{}", w.text);
}

fn video_info(w: u32, h: u32, fps: f64, bit_rate: Option<u64>, duration: f64) -> MediaInfo {
    MediaInfo {
        kind: MediaKind::Video,
        width: w,
        height: h,
        duration_s: Some(duration),
        fps: Some(fps),
        frame_count: Some((duration * fps) as u64),
        codec: Some("h264".into()),
        container: Some("mov,mp4,m4a,3gp,3g2,mj2".into()),
        size_bytes: 1,
        rotation: 0,
        bit_rate,
    }
}

fn one_face(eye_mouth: f32) -> FaceStats {
    let mut s = FaceStats::default();
    let lm = [
        [100.0, 100.0],
        [140.0, 100.0],
        [120.0, 120.0],
        [105.0, 100.0 + eye_mouth],
        [135.0, 100.0 + eye_mouth],
    ];
    s.add_frame(0, &RgbImage::new(4, 4), [&lm]);
    s
}

#[test]
fn video_bits_per_pixel_and_length_thresholds() {
    let faces = one_face(100.0);
    let run = |info: &MediaInfo| {
        scope::assess(&Facts {
            info,
            jpeg_quality: None,
            faces: &faces,
            non_photographic: NonPhotographic::Checked {
                probability: 0.1,
                threshold: 0.5,
            },
        })
    };
    // 1280×720 at 30 fps: 500 kbit/s is 0.018 bpp (heavy), 3 Mbit/s 0.109 (fine).
    let heavy = run(&video_info(1280, 720, 30.0, Some(500_000), 10.0));
    assert_eq!(codes(&heavy), [code::HEAVY_COMPRESSION]);
    assert!(heavy[0].text.contains("0.018"), "{}", heavy[0].text);
    assert!(run(&video_info(1280, 720, 30.0, Some(3_000_000), 10.0)).is_empty());
    // No bit rate known: nothing is claimed.
    assert!(run(&video_info(1280, 720, 30.0, None, 10.0)).is_empty());
    assert_eq!(
        codes(&run(&video_info(1280, 720, 30.0, Some(3_000_000), 0.9))),
        [code::SHORT_VIDEO]
    );
    // A face of exactly the threshold is fine; one pixel less is not.
    let info = video_info(1280, 720, 30.0, Some(3_000_000), 10.0);
    for (d, flagged) in [(64.0, false), (63.0, true)] {
        let f = one_face(d);
        let out = scope::assess(&Facts {
            info: &info,
            jpeg_quality: None,
            faces: &f,
            non_photographic: NonPhotographic::Checked {
                probability: 0.1,
                threshold: 0.5,
            },
        });
        assert_eq!(
            out.iter().any(|w| w.code == code::SMALL_FACE),
            flagged,
            "{d}"
        );
    }
    // A non-photographic verdict of the check is a warning.
    let out = scope::assess(&Facts {
        info: &info,
        jpeg_quality: None,
        faces: &faces,
        non_photographic: NonPhotographic::Checked {
            probability: 0.9,
            threshold: 0.5,
        },
    });
    assert_eq!(codes(&out), [code::NON_PHOTOGRAPHIC]);
}

#[test]
fn without_a_clip_base_the_non_photographic_check_is_recorded_as_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let np = scope::non_photographic(&FaceStats::for_settings(&s), &s);
    assert_eq!(
        np,
        NonPhotographic::NotChecked("CLIP base not installed".into())
    );
    let info = video_info(1280, 720, 30.0, Some(3_000_000), 10.0);
    let faces = one_face(100.0);
    let out = scope::assess(&Facts {
        info: &info,
        jpeg_quality: None,
        faces: &faces,
        non_photographic: np,
    });
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].severity, Severity::NotChecked);
    assert_eq!(
        out[0].text,
        "Non-photographic check (animation, CGI, drawing): not checked (CLIP base not installed)."
    );
    // "Not checked" alone does not qualify a band.
    assert!(!scope::has_warning(&out));
}

fn summary(status: &str, score: f64, band: Band, scope: Vec<ScopeWarning>) -> Summary {
    let mut s = Summary {
        case_id: 1,
        analysis_id: Some(1),
        file: "x.jpg".into(),
        sha256: String::new(),
        kind: Some(MediaKind::Image),
        status: status.into(),
        score: Some(score),
        band: Some(band),
        verdict: String::new(),
        untrained: false,
        profile: Some("p".into()),
        message: None,
        frames: 1,
        faces: 1,
        tracks: 1,
        undecodable_frames: 0,
        decode_error: None,
        top_frames: vec![],
        times: Default::default(),
        scope,
        provenance: vec![],
    };
    s.verdict = verdict_text(&s);
    s
}

fn warning(code: &str, text: &str) -> ScopeWarning {
    ScopeWarning::warning(code, text.into())
}

#[test]
fn a_band_with_a_scope_warning_is_never_bare() {
    let w = vec![warning(code::HEAVY_COMPRESSION, "Heavy JPEG compression.")];
    let s = summary("done", 0.9, Band::Fake, w.clone());
    assert_eq!(
        s.verdict,
        "likely fake (0.900) — outside the detector's scope: heavy compression"
    );
    let s = summary("done", 0.1, Band::Real, w);
    assert!(
        s.verdict.starts_with("likely real (0.100) — outside"),
        "{}",
        s.verdict
    );
    // Without a warning (or with only "not checked") the band stands alone.
    assert_eq!(
        summary("done", 0.9, Band::Fake, vec![]).verdict,
        "likely fake (0.900)"
    );
    let unchecked = ScopeWarning {
        code: code::NON_PHOTOGRAPHIC_NOT_CHECKED.into(),
        severity: Severity::NotChecked,
        text: "not checked".into(),
    };
    assert_eq!(
        summary("done", 0.9, Band::Fake, vec![unchecked]).verdict,
        "likely fake (0.900)"
    );
}

fn stored_case(store: &mut Store, src: &Path, scope: &[ScopeWarning]) -> i64 {
    let imp = store
        .import(
            &NewMedia {
                original_path: src.to_path_buf(),
                kind: "image".into(),
                size_bytes: std::fs::metadata(src).unwrap().len(),
                width: Some(512),
                height: Some(512),
                duration_s: None,
                fps: None,
                codec: None,
                container: None,
            },
            "Ada",
        )
        .unwrap();
    let settings =
        serde_json::json!({"fps": 5.0, "thresholds": {"real": 0.3, "fake": 0.7}}).to_string();
    let aid = store.begin_analysis(imp.case_id, &settings, "Ada").unwrap();
    store.record_scope(aid, scope).unwrap();
    let out = Outcome {
        status: "done".into(),
        score: Some(0.91),
        band: Some("fake".into()),
        profile: Some("gend-clip-l14".into()),
        weight_hashes: vec![],
        untrained: false,
        message: None,
        scores: vec![],
    };
    store.finish_analysis(aid, &out, "Ada").unwrap();
    imp.case_id
}

#[test]
fn the_report_shows_the_scope_list_and_a_qualified_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let scope = vec![
        warning(code::MANY_FACES, "6 faces in one frame <crowd> (≥ 5)."),
        ScopeWarning {
            code: code::NON_PHOTOGRAPHIC_NOT_CHECKED.into(),
            severity: Severity::NotChecked,
            text: "Non-photographic check (animation, CGI, drawing): not checked (CLIP base not installed).".into(),
        },
    ];
    let id = stored_case(&mut store, &common::astronaut(), &scope);
    let d = store.case_detail(id).unwrap();
    assert_eq!(d.case.scope.as_deref(), Some(scope.as_slice()));
    let html = verity::report::html(&store, &d);
    assert!(
        html.contains(
            "Verdict: likely fake (0.910) — outside the detector&#39;s scope: many faces"
        ) || html
            .contains("Verdict: likely fake (0.910) — outside the detector's scope: many faces"),
        "{}",
        &html[html.find("id=\"verdict\"").unwrap()..][..200]
    );
    assert!(
        !html.contains("Verdict: likely fake (0.910)<"),
        "bare verdict"
    );
    assert!(html.contains("Scope warning: "));
    // Text is escaped.
    assert!(html.contains("6 faces in one frame &lt;crowd&gt; (≥ 5)."));
    assert!(html.contains("Not checked: "));
    assert!(html.contains("not checked (CLIP base not installed)"));
    let j: serde_json::Value =
        serde_json::from_str(&verity::report::json(&store, &d).unwrap()).unwrap();
    assert_eq!(j["case"]["scope"][0]["code"], "many_faces");
    assert_eq!(j["case"]["scope"][0]["severity"], "warning");
    assert_eq!(j["case"]["scope"][1]["severity"], "not_checked");
    assert!(j["verdict"]
        .as_str()
        .unwrap()
        .ends_with("outside the detector's scope: many faces"));

    // Without warnings the report's verdict is the band alone, and no scope list is drawn.
    let id = stored_case(&mut store, &dir_png(dir.path()), &[]);
    let d = store.case_detail(id).unwrap();
    let html = verity::report::html(&store, &d);
    assert!(html.contains("Verdict: likely fake (0.910)<"));
    assert!(!html.contains("id=\"scope\""));
}

/// A second, different media file (a case per content).
fn dir_png(dir: &Path) -> PathBuf {
    let p = dir.join("other.png");
    RgbImage::from_pixel(8, 8, Rgb([1, 2, 3])).save(&p).unwrap();
    p
}

#[test]
fn the_cli_prints_the_scope_list_and_json_carries_it() {
    let dir = tempfile::tempdir().unwrap();
    let low = dir.path().join("shared copy.jpg");
    save_jpeg(&astronaut(2.0), &low, 20);
    // Exit 0, or 4 for "not scored" (no detector weights here).
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_verity"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("VERITY_CONFIG", dir.path().join("settings.toml"))
            .env("VERITY_MODELS_DIR", dir.path().join("models"))
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 4)),
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["analyze", low.to_str().unwrap(), "--device", "cpu"]);
    assert!(
        text.contains("    scope warning [heavy_compression]: Heavy JPEG compression (estimated quality 20 of 100"),
        "{text}"
    );
    assert!(
        text.contains("    not checked [non_photographic_not_checked]: Non-photographic check (animation, CGI, drawing): not checked (CLIP base not installed)."),
        "{text}"
    );
    let json = run(&[
        "analyze",
        low.to_str().unwrap(),
        "--device",
        "cpu",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["scope"][0]["code"], "heavy_compression", "{v}");
    assert_eq!(v["scope"][0]["severity"], "warning");
    assert_eq!(v["scope"][1]["severity"], "not_checked");
    let case = v["case_id"].as_i64().unwrap().to_string();
    let show = run(&["show", &case]);
    assert!(
        show.contains("  scope warning [heavy_compression]: "),
        "{show}"
    );
    let list = run(&["cases"]);
    // Not scored (no weights): no band to qualify, the list shows the status.
    assert!(list.contains("not_scored"), "{list}");
    assert!(list.contains("SCOPE: heavy compression."), "{list}");
}

/// The zero-shot mechanics on a seeded random CLIP (numbers without meaning: no real weights
/// here): one probability per frame in 0..=1, batches past 8 frames, deterministic, the mean;
/// a checkpoint saved from it loads strictly by its published names and scores the same.
/// Placed under `<models>/base/` by hand (not by `models fetch`), it is never used for a
/// finding: the scope list says why it was not checked.
#[test]
fn zero_shot_mechanics_with_random_weights_and_no_finding_without_fetched_weights() {
    use verity::models::clip::ClipConfig;
    use verity::scope::zero_shot::ZeroShot;
    let cfg = ClipConfig::tiny();
    let zs = ZeroShot::random(&cfg, tch::Device::Cpu, 3).unwrap();
    let face = astronaut(1.0);
    let wall = RgbImage::from_fn(300, 200, |x, y| Rgb([(x / 2) as u8, (y / 2) as u8, 200]));
    let frames: Vec<&RgbImage> = (0..10)
        .map(|i| if i % 2 == 0 { &face } else { &wall })
        .collect();
    let p = zs.per_frame(&frames).unwrap();
    assert_eq!(p.len(), 10);
    assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{p:?}");
    assert!((p[0] - p[8]).abs() < 1e-6, "same frame, same answer: {p:?}");
    assert!((p[0] - p[1]).abs() > 1e-9, "different frames differ: {p:?}");
    let m = zs.probability(&[&face, &wall]).unwrap().unwrap();
    assert!((m - (p[0] + p[1]) / 2.0).abs() < 1e-6);
    assert_eq!(zs.probability(&[]).unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let base = s.models_dir().join("base/clip-tiny-random");
    std::fs::create_dir_all(&base).unwrap();
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    tch::manual_seed(3);
    let _clip = verity::models::clip::Clip::new(&vs.root(), &cfg);
    vs.save(base.join("model.safetensors")).unwrap();
    vs.freeze();
    let loaded = ZeroShot::load(&base, tch::Device::Cpu).unwrap();
    let q = loaded.per_frame(&frames[..2]).unwrap();
    assert!(
        (q[0] - p[0]).abs() < 1e-5 && (q[1] - p[1]).abs() < 1e-5,
        "{q:?} vs {p:?}"
    );

    // In the pipeline: frames are kept (bounded), but no finding comes from this base.
    let mut stats = FaceStats::for_settings(&s);
    assert!(stats.keep_frames);
    for i in 0..100 {
        stats.add_frame(i, &face, []);
    }
    assert!(
        stats.kept.len() <= scope::KEEP_FRAMES && stats.kept.len() >= 8,
        "{}",
        stats.kept.len()
    );
    assert_eq!(stats.kept[0].0, 0);
    assert!(stats.kept.last().unwrap().0 >= 64, "spread over the media");
    assert!(stats
        .kept
        .iter()
        .all(|(_, f)| f.width().min(f.height()) <= 224));
    match scope::non_photographic(&stats, &s) {
        NonPhotographic::NotChecked(why) => {
            assert!(
                why.contains("was not installed by `verity models fetch`"),
                "{why}"
            )
        }
        other => panic!("a hand-placed base gave a finding: {other:?}"),
    }
    // Recorded as fetched (here by hand, to test the plumbing only): the check runs on the kept
    // frames through the cached model and yields a probability for `assess` to compare.
    std::fs::write(
        s.models_dir().join("installed.toml"),
        format!(
            "[[model]]\nname = \"clip-tiny-random\"\nrepo = \"test/none\"\nrevision = \"main\"\n\
             endpoint = \"http://127.0.0.1\"\npath = {:?}\ninstalled_at = \"2026-01-01T00:00:00Z\"\n\
             [[model.files]]\nfile = \"model.safetensors\"\nsha256 = \"00\"\nsize = 1\nverified_by = \"test\"\n",
            base.to_str().unwrap()
        ),
    )
    .unwrap();
    match scope::non_photographic(&stats, &s) {
        NonPhotographic::Checked {
            probability,
            threshold,
        } => {
            assert!((0.0..=1.0).contains(&probability));
            let kept: Vec<&RgbImage> = stats.kept.iter().map(|(_, f)| f).collect();
            let direct = zs.probability(&kept).unwrap().unwrap();
            assert!(
                (probability - direct).abs() < 1e-5,
                "{probability} vs {direct}"
            );
            assert_eq!(threshold, 0.5);
        }
        other => panic!("{other:?}"),
    }
}
