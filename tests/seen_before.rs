//! "Seen before" (`provenance::similar`) through the real import path: the analysis stores the
//! perceptual hashes of an image / a video's first frame and keyframes and the detector's face
//! embeddings; `similar::find` then finds copies of a case across the archive. The distances
//! measured here are printed (`cargo test --test seen_before -- --nocapture`): they are what
//! `similar::HAMMING_MAX` and `similar::COSINE_MIN` are justified by.
mod common;
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use verity::config::Settings;
use verity::pipeline::Analyzer;
use verity::provenance::similar::{self, Options};
use verity::provenance::Level;
use verity::store::Store;

fn settings(root: &Path) -> Settings {
    let mut s = Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("models")),
        device: verity::device::DevicePref::Cpu,
        ..Settings::default()
    };
    // A random-weight (UNTRAINED) detector: faces are scored, so their embeddings are stored.
    let dir = s.models_dir().join("profiles/tiny-untrained");
    verity::models::profile::create_random_profile(&dir, "tiny", 7).unwrap();
    s.profile = Some("tiny-untrained".into());
    s
}

fn import(a: &Analyzer, store: &mut Store, path: &Path) -> i64 {
    let sum = a
        .analyze_path(store, path, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_ne!(
        sum.status,
        "failed",
        "{}: {:?}",
        path.display(),
        sum.message
    );
    sum.case_id
}

fn astronaut() -> RgbImage {
    image::open(common::astronaut()).unwrap().to_rgb8()
}

fn save_jpeg(img: &RgbImage, path: &Path, quality: u8) {
    let mut f = std::fs::File::create(path).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, quality)
        .encode_image(img)
        .unwrap();
}

/// The copies an analyst meets: (label, file).
fn copies(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let img = astronaut();
    let (w, h) = img.dimensions();
    let mut out = vec![];

    let p = dir.join("reencoded_q60.jpg");
    save_jpeg(&img, &p, 60);
    out.push(("re-encoded JPEG q60", p));

    let p = dir.join("half.png");
    image::imageops::resize(&img, w / 2, h / 2, image::imageops::FilterType::Triangle)
        .save(&p)
        .unwrap();
    out.push(("resized to 1/2", p));

    // Cropped by 5 %: off the right and bottom edges, and centred (2.5 % off each edge).
    let (dx, dy) = (w * 5 / 100, h * 5 / 100);
    let p = dir.join("cropped_corner.jpg");
    let crop = image::imageops::crop_imm(&img, 0, 0, w - dx, h - dy).to_image();
    save_jpeg(&crop, &p, 90);
    out.push(("cropped 5 % (corner)", p));
    let p = dir.join("cropped_centre.jpg");
    let crop = image::imageops::crop_imm(&img, dx / 2, dy / 2, w - dx, h - dy).to_image();
    save_jpeg(&crop, &p, 90);
    out.push(("cropped 5 % (centred)", p));

    // A watermark: a light box with dark "lettering" in the lower right corner, 4 % of the area.
    let p = dir.join("watermarked.png");
    let mut wm = img.clone();
    let (bw, bh) = (w / 4, h * 4 / 25); // 25 % × 16 % = 4 % of the area
    let (x0, y0) = (w - bw - w / 40, h - bh - h / 40);
    for y in y0..y0 + bh {
        for x in x0..x0 + bw {
            let (u, v) = (x - x0, y - y0);
            let letter = (u / 6) % 3 != 2 && v > bh / 4 && v < bh * 3 / 4 && (u + v) % 5 != 0;
            let px = wm.get_pixel_mut(x, y);
            *px = if letter {
                Rgb([30, 30, 30])
            } else {
                Rgb([
                    (px[0] as u16 / 4 + 190) as u8,
                    (px[1] as u16 / 4 + 190) as u8,
                    (px[2] as u16 / 4 + 190) as u8,
                ])
            };
        }
    }
    wm.save(&p).unwrap();
    out.push(("watermarked (4 % box)", p));
    out
}

fn ffmpeg(args: &[&str], out: &Path) {
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("the FFmpeg CLI is needed to make test media");
    assert!(st.success(), "ffmpeg {args:?}");
}

/// Unrelated pictures: a fractal and FFmpeg's test card, nothing of the astronaut.
fn unrelated(dir: &Path) -> Vec<PathBuf> {
    let a = dir.join("mandelbrot.png");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "mandelbrot=s=512x512",
            "-frames:v",
            "1",
        ],
        &a,
    );
    let b = dir.join("testcard.png");
    ffmpeg(
        &["-f", "lavfi", "-i", "testsrc2=s=640x480", "-frames:v", "1"],
        &b,
    );
    vec![a, b]
}

#[test]
fn copies_of_an_image_are_found_and_unrelated_media_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let original = import(&a, &mut store, &common::astronaut());

    // One hash per image, stored for its media.
    let media = store.media_of_case(original).unwrap();
    let hashes = store.media_hashes(Some(media.id)).unwrap();
    assert_eq!(hashes.len(), 1, "{hashes:?}");
    assert_eq!(hashes[0].phash, similar::phash(&astronaut()));

    let opts = Options::default();
    let mut far_copy = 0;
    for (label, path) in copies(dir.path()) {
        let case = import(&a, &mut store, &path);
        assert_ne!(case, original, "{label}: a different file is a new case");
        let found = similar::find(&store, case, &opts).unwrap();
        let m = found
            .frames
            .iter()
            .find(|m| m.case_id == original)
            .unwrap_or_else(|| {
                // Say how far it was, so a threshold change is an informed one.
                let d = similar::hamming(
                    store.media_hashes(Some(media.id)).unwrap()[0].phash,
                    store
                        .media_hashes(Some(store.media_of_case(case).unwrap().id))
                        .unwrap()[0]
                        .phash,
                );
                panic!("{label}: the original was not found (Hamming {d})")
            });
        println!(
            "seen_before: {label:<24} Hamming {:>2} to the original",
            m.distance
        );
        assert!(!m.same_file);
        far_copy = far_copy.max(m.distance);
        // The signal names the case, its date and the distance, from the perceptual hash.
        let sig = similar::signals(&found);
        let line = format!("seen in case #{original} on ");
        assert!(
            sig.iter().any(|s| s.text.starts_with(&line)
                && s.text.contains(&format!("Hamming {}", m.distance))
                && s.source == "perceptual hash"
                && s.level == Level::Notice),
            "{label}: {sig:?}"
        );
        // Faces: the same face in the copy, found through the stored embeddings (UNTRAINED test
        // profile: listed, flagged, never a signal).
        let f = found
            .faces
            .iter()
            .find(|f| f.case_id == original)
            .unwrap_or_else(|| panic!("{label}: the face was not found: {:?}", found.faces));
        println!("seen_before: {label:<24} face cosine {:.4}", f.cosine);
        assert!(f.untrained && f.other_has_crop && f.cosine >= similar::COSINE_MIN);
        assert!(store
            .face_display_crop(original, f.other_face_id)
            .unwrap()
            .is_some());
        assert!(sig.iter().all(|s| s.source != "face embedding (CLIP)"));
        // And the other way round: the original's case lists this copy.
        let back = similar::find(&store, original, &opts).unwrap();
        assert!(back.frames.iter().any(|m| m.case_id == case), "{label}");
    }
    println!(
        "seen_before: farthest copy {far_copy}, threshold {}",
        similar::HAMMING_MAX
    );
    // Beyond the hash: 5 % off every edge (10 % of each side) moves more bits than the
    // threshold allows — printed, not asserted, so the limit is on record.
    let (dx, dy) = (512 * 5 / 100, 512 * 5 / 100);
    let big =
        image::imageops::crop_imm(&astronaut(), dx, dy, 512 - 2 * dx, 512 - 2 * dy).to_image();
    println!(
        "seen_before: (limit) cropped 10 % per side Hamming {:>2}",
        similar::hamming(similar::phash(&big), similar::phash(&astronaut()))
    );

    for path in unrelated(dir.path()) {
        let case = import(&a, &mut store, &path);
        let h = store
            .media_hashes(Some(store.media_of_case(case).unwrap().id))
            .unwrap()[0]
            .phash;
        let d = similar::hamming(h, similar::phash(&astronaut()));
        println!(
            "seen_before: unrelated {:<14} Hamming {d:>2} to the original",
            path.file_name().unwrap().to_string_lossy()
        );
        let found = similar::find(&store, case, &opts).unwrap();
        assert!(
            found.frames.is_empty(),
            "{}: matched {:?}",
            path.display(),
            found.frames
        );
        // With random weights every face embedding is close to every other (MTCNN may also
        // find a "face" in a fractal): such matches are listed as UNTRAINED, never signals.
        for f in &found.faces {
            println!(
                "seen_before: unrelated {:<14} face cosine {:.4} to case {} (UNTRAINED profile)",
                path.file_name().unwrap().to_string_lossy(),
                f.cosine,
                f.case_id
            );
            assert!(f.untrained);
        }
        assert!(similar::signals(&found).is_empty());
        // Near the threshold is too near: unrelated media must sit well above it.
        assert!(d > similar::HAMMING_MAX + 8, "{d}");
    }
}

#[test]
fn a_reencoded_video_is_found_and_hashes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let video = common::face_video(dir.path(), 2, 10, 256);
    let copy = dir.path().join("copy.mp4");
    // Another codec, quality, size and frame rate: nothing of the file survives but the pictures.
    ffmpeg(
        &[
            "-i",
            video.to_str().unwrap(),
            "-c:v",
            "mpeg4",
            "-q:v",
            "12",
            "-vf",
            "scale=200:200",
            "-r",
            "8",
        ],
        &copy,
    );
    let original = import(&a, &mut store, &video);
    let again = import(&a, &mut store, &copy);
    let media = store.media_of_case(original).unwrap();
    let hashes = store.media_hashes(Some(media.id)).unwrap();
    // The first frame and the keyframes, at most the cap; one analysis' frames.
    assert!(!hashes.is_empty() && hashes.len() <= similar::MAX_HASHED_FRAMES);
    assert_eq!(hashes[0].frame_index, 0);
    assert_eq!(hashes[0].pts_s, Some(0.0));

    let found = similar::find(&store, again, &Options::default()).unwrap();
    let m = found
        .frames
        .iter()
        .find(|m| m.case_id == original)
        .unwrap_or_else(|| panic!("re-encoded video not found: {found:?}"));
    println!(
        "seen_before: re-encoded video          Hamming {:>2} (frames {} ↔ {})",
        m.distance, m.other_frame_index, m.frame_index
    );
    assert!(m.distance <= similar::HAMMING_MAX);

    // A re-analysis replaces the media's hashes, it does not add to them.
    let n = hashes.len();
    a.analyze_case(&mut store, original, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(store.media_hashes(Some(media.id)).unwrap().len(), n);

    // An unrelated video is not found.
    let other = dir.path().join("bars.mp4");
    ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=256x256:r=10",
            "-t",
            "2",
            "-pix_fmt",
            "yuv420p",
        ],
        &other,
    );
    let unrelated = import(&a, &mut store, &other);
    let found = similar::find(&store, unrelated, &Options::default()).unwrap();
    assert!(
        found
            .frames
            .iter()
            .all(|m| m.case_id != original && m.case_id != again),
        "{:?}",
        found.frames
    );
}

#[test]
fn face_embeddings_are_listed_with_their_case_and_compared_within_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let original = import(&a, &mut store, &common::astronaut());
    let p = dir.path().join("flipped.png");
    image::imageops::flip_horizontal(&astronaut())
        .save(&p)
        .unwrap();
    let flipped = import(&a, &mut store, &p);

    let all = store.face_embeddings(None, None).unwrap();
    assert_eq!(all.len(), 2, "one face per photo");
    for f in &all {
        assert_eq!(f.profile.as_deref(), Some("tiny-untrained"));
        assert!(f.untrained && f.has_crop && !f.clip.is_empty());
        assert_eq!(f.frame_index, 0);
        // The stored vector is the detector's CLIP embedding of that face.
        let (clip, _) = store.embeddings(f.face_id).unwrap().unwrap();
        assert_eq!(clip, f.clip);
    }
    assert_eq!(
        store.face_embeddings(Some(flipped), None).unwrap()[0].case_id,
        flipped
    );
    // A width filter that matches nothing.
    assert!(store
        .face_embeddings(None, Some(all[0].clip.len() + 1))
        .unwrap()
        .is_empty());
    let cos = similar::dot(
        &similar::normalized(&all[0].clip),
        &similar::normalized(&all[1].clip),
    );
    println!("seen_before: astronaut vs mirrored astronaut, face cosine {cos:.4}");

    // The threshold decides: at a cosine just above the measured one the face is not listed,
    // at or below it it is (with the pair of face ids for thumbnails).
    let at = |c: f32| Options {
        cosine_min: c,
        hamming_max: 0,
        ..Default::default()
    };
    let found = similar::find(&store, flipped, &at(cos - 1e-4)).unwrap();
    let m = &found.faces[0];
    assert_eq!(m.case_id, original);
    assert_eq!(
        (m.face_id, m.other_face_id),
        (all[1].face_id, all[0].face_id)
    );
    assert!((m.cosine - cos).abs() < 1e-4);
    assert_eq!(m.faces_matched, 1);
    assert!(found
        .face_search
        .as_deref()
        .unwrap()
        .starts_with("brute force over 1 faces"));
    assert!(similar::find(&store, flipped, &at(cos + 1e-3))
        .unwrap()
        .faces
        .is_empty());
}
