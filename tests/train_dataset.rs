//! Training datasets (src/train/dataset.rs): a folder of real faces made from the astronaut photo
//! (six "identities" = six warps/recolourings), MTCNN + alignment into cached crops, skipped
//! files with reasons, self-blended fakes when fake/ is empty, identity-disjoint splits, and
//! adjudicated cases from the store.
mod common;

use image::RgbImage;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use tch::Device;
use verity::faces::align::{align_face, warp_similarity, AlignTemplate, Similarity};
use verity::faces::mtcnn::Mtcnn;
use verity::store::{FaceRow, FrameRow, NewMedia, Store, Verdict};
use verity::train::dataset::{self, DatasetConfig, Origin, SplitBy, Synthetic};

fn photo() -> RgbImage {
    let img = image::open(common::astronaut()).unwrap().to_rgb8();
    image::imageops::resize(&img, 256, 256, image::imageops::FilterType::Triangle)
}

/// Identity k: the photo rotated by a few degrees, scaled and recoloured.
fn person(img: &RgbImage, k: u32, shot: u32) -> RgbImage {
    let deg = (k as f32 * 4.0 - 10.0 + shot as f32 * 3.0).to_radians();
    let s = 0.9 + 0.04 * k as f32;
    let (c, sn) = (s * deg.cos(), s * deg.sin());
    // Rotate about the centre.
    let t = Similarity {
        a: c,
        b: sn,
        tx: 128.0 - c * 128.0 + sn * 128.0,
        ty: 128.0 - sn * 128.0 - c * 128.0,
    };
    let mut out = warp_similarity(img, &t, 256, 256);
    for px in out.pixels_mut() {
        px.0[(k % 3) as usize] = px.0[(k % 3) as usize].saturating_add((10 * k) as u8);
    }
    out
}

fn make_folder(root: &Path) {
    let img = photo();
    std::fs::create_dir_all(root.join("real/nested_person")).unwrap();
    for k in 0..5 {
        for shot in 0..2 {
            person(&img, k, shot)
                .save(root.join(format!("real/p{k}_{shot}.png")))
                .unwrap();
        }
    }
    // Identity from the nested folder name (no meta row).
    person(&img, 5, 0)
        .save(root.join("real/nested_person/a.jpg"))
        .unwrap();
    // No face, unreadable, a video, a stray text file.
    RgbImage::from_pixel(128, 128, image::Rgb([120, 120, 120]))
        .save(root.join("real/grey.png"))
        .unwrap();
    std::fs::write(root.join("real/broken.png"), b"not a png").unwrap();
    std::fs::write(root.join("real/junk.mp4"), b"\0\0\0\x18ftypmp42").unwrap();
    std::fs::write(root.join("real/notes.txt"), b"hello").unwrap();
    // A 2-second video of identity 6 (made with the FFmpeg CLI, as the media tests do).
    let still = root.join("still.png");
    person(&img, 6, 0).save(&still).unwrap();
    std::fs::create_dir_all(root.join("real/video_person")).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&still)
        .args([
            "-t", "2", "-r", "10", "-c:v", "mpeg4", "-q:v", "3", "-pix_fmt", "yuv420p",
        ])
        .arg(root.join("real/video_person/clip.mp4"))
        .status()
        .expect("the FFmpeg CLI (Debian package `ffmpeg`) is needed to make the test video");
    assert!(status.success());
    std::fs::remove_file(&still).unwrap();
    // meta.csv: the two shots of person k are one identity; a quoted field.
    let mut meta = String::from("path,identity,source\n");
    for k in 0..5 {
        for shot in 0..2 {
            meta += &format!("real/p{k}_{shot}.png,\"person {k}\",camera\n");
        }
    }
    std::fs::write(root.join("meta.csv"), meta).unwrap();
}

#[test]
fn folder_dataset_caches_faces_splits_by_identity_and_self_blends() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    make_folder(&root);
    let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let mut cfg = DatasetConfig::new(AlignTemplate::gend(), tmp.path().join("cache"));
    cfg.val_fraction = 0.3;
    cfg.seed = 11;
    cfg.frames_per_video = 3;
    cfg.swaps_per_real = 1;
    let no = AtomicBool::new(false);
    let seen = std::sync::Mutex::new(Vec::new());
    let ds = dataset::load_folder(
        &root,
        &mtcnn,
        &cfg,
        &|p| seen.lock().unwrap().push(p.done),
        &no,
    )
    .unwrap();

    // 11 real faces from images + 3 frames of the video; 5 files skipped with their reasons.
    let all: Vec<_> = ds.train.iter().chain(&ds.val).collect();
    let reals: Vec<_> = all.iter().filter(|s| !s.fake).collect();
    assert_eq!(reals.len(), 14, "skipped: {:?}", ds.skipped);
    let reason = |name: &str| {
        ds.skipped
            .iter()
            .find(|s| s.path.ends_with(name))
            .map(|s| s.reason.clone())
            .unwrap_or_default()
    };
    assert_eq!(ds.skipped.len(), 4, "{:?}", ds.skipped);
    assert_eq!(reason("grey.png"), "no face found");
    for bad in ["broken.png", "junk.mp4", "notes.txt"] {
        assert!(
            !reason(bad).is_empty(),
            "{bad} not reported as skipped: {:?}",
            ds.skipped
        );
        println!("{bad}: {}", reason(bad));
    }
    // 10 + 1 + grey images and 3 video frames went through MTCNN.
    assert_eq!(ds.stats.detected, 15);
    // Progress counts all 16 files.
    assert_eq!(seen.lock().unwrap().last(), Some(&16));
    let frames: Vec<Option<u64>> = reals
        .iter()
        .filter(|s| s.identity == "video_person")
        .map(|s| match &s.origin {
            Origin::File { frame, .. } => *frame,
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(Option::is_some), "{frames:?}");
    // Spread over the video (20 frames at 10 fps): first, middle, last sample.
    let f: Vec<u64> = frames.iter().flatten().copied().collect();
    assert!(f[0] < 3 && f[2] >= 14, "frames {f:?}");

    // Identities from meta.csv and from the nested folder; sources from meta or the class.
    let ids: HashSet<&str> = reals.iter().map(|s| s.identity.as_str()).collect();
    let want: HashSet<&str> = [
        "person 0",
        "person 1",
        "person 2",
        "person 3",
        "person 4",
        "nested_person",
        "video_person",
    ]
    .into();
    assert_eq!(ids, want);
    assert!(reals.iter().all(|s| s.source
        == if s.identity.ends_with("_person") {
            "real"
        } else {
            "camera"
        }));

    // fake/ is empty: one self-blended fake per real face, same identity, recorded parameters;
    // and a face swap onto each real face from another identity of the same side.
    let sbi: Vec<_> = all.iter().filter(|s| s.source == "sbi").collect();
    assert_eq!(sbi.len(), 14);
    for f in &sbi {
        let Origin::Sbi { from, .. } = &f.origin else {
            panic!("SBI fake without SBI origin")
        };
        let real = reals
            .iter()
            .find(|r| &r.crop == from)
            .expect("SBI source is a real crop");
        assert_eq!(real.identity, f.identity);
        assert!(f.fake);
    }
    let mut swaps = 0;
    for (side, part) in [("train", &ds.train), ("val", &ds.val)] {
        let ids: HashSet<&str> = part.iter().map(|s| s.identity.as_str()).collect();
        let reals_here = part.iter().filter(|s| !s.fake).count();
        let swaps_here: Vec<_> = part.iter().filter(|s| s.source == "swap").collect();
        assert_eq!(
            swaps_here.len(),
            if ids.len() > 1 { reals_here } else { 0 },
            "{side}"
        );
        for f in &swaps_here {
            let Origin::Swap {
                target,
                source,
                record,
            } = &f.origin
            else {
                panic!("swap origin")
            };
            let t = part
                .iter()
                .find(|r| &r.crop == target)
                .expect("target on this side");
            let s = part
                .iter()
                .find(|r| &r.crop == source)
                .expect("source on this side");
            assert_eq!(t.identity, f.identity);
            assert_ne!(s.identity, t.identity);
            assert_eq!(record.source_identity, s.identity);
            assert!(f.fake);
        }
        swaps += swaps_here.len();
    }
    assert!(swaps > 0);
    assert_eq!(ds.stats.synthetic, 14 + swaps);

    // Crops: 224², the landmarks near the template (a least-squares fit of a real face to a
    // symmetric template leaves residuals of several px at the mouth).
    let tpl = AlignTemplate::gend().points_px(224);
    for s in &reals {
        let img = dataset::load_crop(s, 224).unwrap();
        assert_eq!(img.dimensions(), (224, 224));
        for (k, (p, t)) in s.landmarks.iter().zip(&tpl).enumerate() {
            let d = (p[0] - t[0]).hypot(p[1] - t[1]);
            assert!(
                d < 16.0,
                "{:?}: landmark {k} {p:?} vs template {t:?}",
                s.crop
            );
        }
    }

    // No identity on both sides; validation has about 30 % and both classes.
    let train_ids: HashSet<_> = ds.train.iter().map(|s| &s.identity).collect();
    let val_ids: HashSet<_> = ds.val.iter().map(|s| &s.identity).collect();
    assert!(
        train_ids.is_disjoint(&val_ids),
        "{train_ids:?} vs {val_ids:?}"
    );
    assert!(
        !ds.val.is_empty() && ds.val.len() < ds.train.len(),
        "val {}",
        ds.val.len()
    );
    assert!(ds.warnings.is_empty(), "{:?}", ds.warnings);

    // A second run reads everything from the cache and gives the same split.
    let again = dataset::load_folder(&root, &mtcnn, &cfg, &|_| {}, &no).unwrap();
    assert_eq!(again.stats.detected, 0);
    assert_eq!(again.stats.cache_hits, 13);
    assert_eq!(again.train, ds.train);
    assert_eq!(again.val, ds.val);

    // Another seed, another split (still disjoint); by source everything camera-made goes together.
    let by_source = DatasetConfig {
        split_by: SplitBy::Source,
        synthetic: Synthetic::Never,
        ..cfg.clone()
    };
    let s = dataset::load_folder(&root, &mtcnn, &by_source, &|_| {}, &no).unwrap();
    let tr: HashSet<_> = s.train.iter().map(|x| &x.source).collect();
    let va: HashSet<_> = s.val.iter().map(|x| &x.source).collect();
    assert!(tr.is_disjoint(&va));
    assert!(s.train.iter().chain(&s.val).all(|x| !x.fake));
    assert!(
        s.warnings.iter().any(|w| w.contains("both classes")),
        "{:?}",
        s.warnings
    );

    // The manifest lists every sample with its origin.
    let m = tmp.path().join("manifest.json");
    ds.write_manifest(&m).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&m).unwrap()).unwrap();
    assert_eq!(
        v["train"].as_array().unwrap().len() + v["val"].as_array().unwrap().len(),
        28 + swaps
    );
    assert!(std::fs::read_to_string(&m)
        .unwrap()
        .contains("\"kind\": \"sbi\""));
}

#[test]
fn cancel_and_bad_folders_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let cfg = DatasetConfig::new(AlignTemplate::gend(), tmp.path().join("cache"));
    let no = AtomicBool::new(false);
    let err = dataset::load_folder(tmp.path(), &mtcnn, &cfg, &|_| {}, &no).unwrap_err();
    assert!(err.to_string().contains("real/"), "{err}");
    std::fs::create_dir_all(tmp.path().join("real")).unwrap();
    std::fs::write(tmp.path().join("meta.csv"), "file,who\nreal/a.png,x\n").unwrap();
    let err = dataset::load_folder(tmp.path(), &mtcnn, &cfg, &|_| {}, &no).unwrap_err();
    assert!(err.to_string().contains("path and identity"), "{err}");
    std::fs::remove_file(tmp.path().join("meta.csv")).unwrap();
    photo().save(tmp.path().join("real/a.png")).unwrap();
    let yes = AtomicBool::new(true);
    assert!(matches!(
        dataset::load_folder(tmp.path(), &mtcnn, &cfg, &|_| {}, &yes),
        Err(verity::Error::Cancelled)
    ));
    let bad = DatasetConfig {
        val_fraction: 1.5,
        ..cfg
    };
    assert!(dataset::load_folder(tmp.path(), &mtcnn, &bad, &|_| {}, &no).is_err());
}

#[test]
fn adjudicated_cases_become_samples_with_analyst_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = Store::open(&tmp.path().join("data")).unwrap();
    let img = photo();
    let src = tmp.path().join("face.png");
    img.save(&src).unwrap();
    let media = |p: &Path| NewMedia {
        original_path: p.to_path_buf(),
        kind: "image".into(),
        size_bytes: std::fs::metadata(p).unwrap().len(),
        width: Some(256),
        height: Some(256),
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    };
    let case = store.import(&media(&src), "ana").unwrap().case_id;
    let aid = store.begin_analysis(case, "{}", "ana").unwrap();
    let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let det = mtcnn.detect(&[&img]).unwrap().remove(0).remove(0);
    let aligned = align_face(&img, &det.landmarks, &AlignTemplate::gend(), 224);
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(aligned.image.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    let crop = store
        .blobs
        .put_derived("a1/f000000_t0.png", &bytes)
        .unwrap();
    let frame = FrameRow {
        idx: 0,
        source_index: 0,
        pts_s: 0.0,
        keyframe: true,
        motion: 0.0,
        width: 256,
        height: 256,
    };
    let face = FaceRow {
        id: 0,
        frame_idx: 0,
        track_id: 0,
        bbox: det.bbox,
        det_prob: det.prob,
        landmarks: det.landmarks,
        crop: Some(crop),
        native_crop: None,
        full_frame: false,
        score: None,
    };
    let full = FaceRow {
        crop: Some("derived/none.png".into()),
        native_crop: None,
        full_frame: true,
        ..face.clone()
    };
    store.add_frames(aid, &[frame], &[face, full]).unwrap();

    // A second case, labelled but never analysed; a third, only "unsure".
    let src2 = tmp.path().join("other.png");
    person(&img, 2, 0).save(&src2).unwrap();
    let case2 = store.import(&media(&src2), "ana").unwrap().case_id;
    store.add_review(case2, Verdict::Real, "bo", "").unwrap();

    store
        .add_review(case, Verdict::Real, "ana", "first look")
        .unwrap();
    store
        .add_review(case, Verdict::Fake, "bo", "blending seam at the jaw")
        .unwrap();

    // The crop above was cut by the direct chain on the GenD template.
    let spec = verity::faces::preprocess::CropSpec {
        template: AlignTemplate::gend(),
        chain: verity::faces::preprocess::Chain::Direct,
        size: 224,
    };
    let (samples, skipped) = dataset::from_store(&store, &spec).unwrap();
    assert_eq!(samples.len(), 1, "{samples:?}");
    let s = &samples[0];
    assert!(s.fake, "the latest label (fake, by bo) wins");
    assert_eq!(s.identity, format!("case:{case}"));
    let Origin::Case {
        analyst,
        labelled_at,
        label_source,
        case_id,
        ..
    } = &s.origin
    else {
        panic!()
    };
    assert_eq!(
        (analyst.as_str(), label_source.as_str(), *case_id),
        ("bo", "review", case)
    );
    assert!(labelled_at.starts_with("20"), "{labelled_at}");
    for k in 0..5 {
        let want = aligned.transform.apply(det.landmarks[k]);
        assert!(
            (s.landmarks[k][0] - want[0]).abs() < 1e-3
                && (s.landmarks[k][1] - want[1]).abs() < 1e-3
        );
    }
    assert_eq!(dataset::load_crop(s, 224).unwrap(), aligned.image);
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].reason.contains("never analysed"), "{skipped:?}");

    // The retrain-from-reviews data set: the one judged face plus, as there is no second case
    // to validate on, everything in training; no synthetic fakes (a case was judged fake).
    let mut cfg = DatasetConfig::new(AlignTemplate::gend(), tmp.path().join("cache"));
    cfg.val_fraction = 0.5;
    let ds = dataset::reviews_dataset(&store, &cfg).unwrap();
    assert_eq!(ds.stats.from_cases, 1);
    assert_eq!(
        (ds.train.len(), ds.val.len(), ds.stats.synthetic),
        (1, 0, 0)
    );
    assert!(
        ds.warnings.iter().any(|w| w.contains("both classes")),
        "{:?}",
        ds.warnings
    );
}
