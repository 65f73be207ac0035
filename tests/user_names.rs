//! Issue 16, item 4: what the analyst reads names the file they imported — never the case
//! store's copy (`<data>/blobs/ab/ab12….avi`) or its SHA-256 — and GIF, still or animated, is
//! accepted (FFmpeg decodes it as a video of its frames).
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use image::{Rgb, RgbImage, Rgba, RgbaImage};
use verity::config::Settings;
use verity::pipeline::{Analyzer, Summary};
use verity::store::Store;
use verity::worker::{Event, JobKind, Worker};

fn settings(root: &Path) -> Settings {
    Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("no-models")),
        device: verity::device::DevicePref::Cpu,
        analyst: "Ada".into(),
        ..Settings::default()
    }
}

/// A 4 s, 10 fps MJPEG AVI whose 40 JPEG pictures are all zeroed (the AVI chunks intact): its
/// headers probe fine, so it is imported, and then not one frame decodes.
fn avi_without_a_picture(dir: &Path, name: &str) -> PathBuf {
    let avi = dir.join(name);
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10")
        .args(["-t", "4", "-c:v", "mjpeg", "-q:v", "5", "-f", "avi"])
        .arg(&avi)
        .status()
        .expect("the FFmpeg CLI makes the test video")
        .success();
    assert!(ok);
    let mut bytes = std::fs::read(&avi).unwrap();
    let mut i = 0;
    let mut wiped = 0;
    while let Some(at) = bytes[i..].windows(3).position(|w| w == [0xFF, 0xD8, 0xFF]) {
        let start = i + at;
        let end = start
            + bytes[start..]
                .windows(2)
                .position(|w| w == [0xFF, 0xD9])
                .unwrap()
            + 2;
        bytes[start..end].fill(0);
        wiped += 1;
        i = end;
    }
    assert_eq!(wiped, 40, "one JPEG per frame");
    std::fs::write(&avi, &bytes).unwrap();
    avi
}

/// Fails unless `text` names `name` and shows nothing of the store: no `blobs/` path, no data
/// folder, no SHA-256.
fn names_only_the_original(what: &str, text: &str, name: &str, data: &Path, sha256: &str) {
    assert!(text.contains(name), "{what} does not name {name:?}: {text}");
    assert!(
        !text.contains("blobs"),
        "{what} shows the store path: {text}"
    );
    assert!(
        !text.contains(&*data.to_string_lossy()),
        "{what} shows the data folder: {text}"
    );
    assert!(!text.contains(sha256), "{what} shows the SHA-256: {text}");
    assert!(
        !text.contains(&sha256[..16]),
        "{what} shows the blob name: {text}"
    );
}

fn analyse(a: &Analyzer, store: &mut Store, path: &Path) -> Summary {
    a.analyze_path(store, path, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap()
}

#[test]
fn a_video_that_cannot_be_decoded_fails_naming_the_file_the_analyst_imported() {
    let d = tempfile::tempdir().unwrap();
    let name = "Zoë's suspect clip (copy 2).avi";
    let avi = avi_without_a_picture(d.path(), name);
    let s = settings(d.path());
    let data = s.data_dir();
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&data).unwrap();

    let sum = analyse(&a, &mut store, &avi);
    assert_eq!(sum.status, "failed", "{sum:?}");
    let sha = sum.sha256.clone();
    let msg = sum.message.clone().unwrap_or_default();
    assert!(msg.contains("no frame"), "{msg}");
    names_only_the_original("the summary", &msg, name, &data, &sha);
    // Stored with the analysis: the case view and the report show the same words.
    let detail = store.case_detail(sum.case_id).unwrap();
    let stored = detail.analysis.unwrap().error.unwrap_or_default();
    names_only_the_original("the stored analysis", &stored, name, &data, &sha);

    // A re-run works from the store's copy alone: still the analyst's name.
    let again = a
        .analyze_case(
            &mut store,
            sum.case_id,
            "t",
            &|_| {},
            &AtomicBool::new(false),
        )
        .unwrap();
    assert_eq!(again.status, "failed");
    names_only_the_original("the re-run", &again.message.unwrap(), name, &data, &sha);
    drop(a);

    // The app's job events (a re-run job: the worker's own failure text).
    let events = Arc::new(Mutex::new(Vec::<Event>::new()));
    let sink = events.clone();
    let worker = Worker::spawn(s.clone(), move |e| sink.lock().unwrap().push(e.clone())).unwrap();
    let job = worker.enqueue(JobKind::Rerun {
        case_id: sum.case_id,
    });
    let started = std::time::Instant::now();
    let message = loop {
        let found = events.lock().unwrap().iter().find_map(|e| match e {
            Event::Failed {
                job: j, message, ..
            } if *j == job => Some(message.clone()),
            Event::Finished { job: j, .. } | Event::Cancelled { job: j, .. } if *j == job => {
                Some(format!("not failed: {e:?}"))
            }
            _ => None,
        });
        if let Some(m) = found {
            break m;
        }
        assert!(started.elapsed().as_secs() < 120, "the job did not end");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    drop(worker);
    names_only_the_original("the job's failure", &message, name, &data, &sha);

    // The CLI's re-run prints the same; the store path is in its log file only.
    let out = Command::new(env!("CARGO_BIN_EXE_verity"))
        .args(["rerun", &sum.case_id.to_string()])
        .arg("--data-dir")
        .arg(&data)
        .env("VERITY_CONFIG", d.path().join("settings.toml"))
        .env("VERITY_MODELS_DIR", d.path().join("no-models"))
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    names_only_the_original("`verity rerun`", &shown, name, &data, &sha);
    let log: String = std::fs::read_dir(data.join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(
        log.lines().any(|l| l.contains(name) && l.contains("blobs")),
        "the log keeps the store path beside the name:\n{log}"
    );
}

#[test]
fn the_store_path_is_rewritten_in_every_error_kind_and_kept_out_of_others() {
    use verity::Error;
    let stored = Path::new("/data/blobs/ee/ee0304aa.gif");
    let name = "meme.gif";
    let cases = [
        Error::input(stored, "truncated"),
        Error::Undecodable {
            path: stored.into(),
            count: 3,
        },
        Error::Unsupported(format!("{}: no decoder", stored.display())),
        Error::TooLarge(format!("{}: too long", stored.display())),
        Error::Other(format!(
            "no frames (first: file:{}: cut short)",
            stored.display()
        )),
    ];
    for e in cases {
        let before = e.to_string();
        assert!(before.contains("blobs"), "{before}");
        let after = e.naming_original(stored, name).to_string();
        assert!(after.contains(name) && !after.contains("blobs"), "{after}");
    }
    // A file inside a stored frame folder keeps its own name under the folder's.
    let folder = Path::new("/data/blobs/ab/ab12.d");
    let e = Error::input(folder.join("frame7.png"), "truncated PNG")
        .naming_original(folder, "interview frames");
    assert_eq!(e.to_string(), "interview frames/frame7.png: truncated PNG");
    // An error about something else is left as it was.
    let other = Error::input("/home/ada/notes.txt", "not media");
    assert_eq!(
        other.naming_original(stored, name).to_string(),
        "/home/ada/notes.txt: not media"
    );
}

/// The test photo at `side`² as RGBA (what the GIF encoder takes).
fn astronaut(side: u32) -> RgbImage {
    let img = image::open(common::astronaut()).unwrap().to_rgb8();
    image::imageops::resize(&img, side, side, image::imageops::FilterType::Triangle)
}

fn rgba(img: &RgbImage) -> RgbaImage {
    RgbaImage::from_fn(img.width(), img.height(), |x, y| {
        let Rgb([r, g, b]) = *img.get_pixel(x, y);
        Rgba([r, g, b, 255])
    })
}

/// A GIF of `frames` pictures, each shown `delay_ms`, made with the `image` crate's encoder
/// (no tool outside the test).
fn write_gif(path: &Path, frames: &[RgbImage], delay_ms: u32) {
    use image::codecs::gif::{GifEncoder, Repeat};
    let file = std::fs::File::create(path).unwrap();
    let mut enc = GifEncoder::new_with_speed(file, 10);
    if frames.len() > 1 {
        enc.set_repeat(Repeat::Infinite).unwrap();
    }
    let delay = image::Delay::from_numer_denom_ms(delay_ms, 1);
    enc.encode_frames(
        frames
            .iter()
            .map(|f| image::Frame::from_parts(rgba(f), 0, 0, delay)),
    )
    .unwrap();
}

#[test]
fn still_and_animated_gifs_are_imported_and_analysed_frame_by_frame() {
    let d = tempfile::tempdir().unwrap();
    let photo = astronaut(192);
    let still = d.path().join("portrait still.gif");
    write_gif(&still, &[photo.clone()], 100);
    // 12 pictures, 100 ms each (1.2 s): the face drifts right by 2 px per picture.
    let moving: Vec<RgbImage> = (0..12)
        .map(|i| {
            let mut f = RgbImage::from_pixel(192, 192, Rgb([20, 20, 20]));
            image::imageops::overlay(&mut f, &photo, 2 * i, 0);
            f
        })
        .collect();
    let anim = d.path().join("reaction clip.GIF");
    write_gif(&anim, &moving, 100);

    // A dropped folder picks the GIF up (the open dialog's filter lists the same extensions).
    std::fs::write(d.path().join("notes.txt"), b"x").unwrap();
    let expanded = verity::worker::expand_paths(&[d.path().to_path_buf()]).unwrap();
    assert_eq!(expanded, vec![still.clone(), anim.clone()]);
    assert!(verity::worker::VIDEO_EXTENSIONS.contains(&"gif"));

    let s = settings(d.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    for (path, frames) in [(&still, 1), (&anim, 6)] {
        let sum = analyse(&a, &mut store, path);
        // No detector here: faces are found and cut, the case is honestly "not scored".
        assert_eq!(sum.status, "not_scored", "{path:?}: {:?}", sum.message);
        assert_eq!(sum.kind, Some(verity::media::MediaKind::Video), "{path:?}");
        // 5 fps over the GIF's own timing: 1 picture, or 1.2 s → 0.0, 0.2, … 1.0 s.
        assert_eq!(sum.frames, frames, "{path:?}");
        assert!(sum.faces >= frames, "{path:?}: {} faces", sum.faces);
        assert_eq!(sum.undecodable_frames, 0);
        let media = store.media_of_case(sum.case_id).unwrap();
        assert_eq!(
            (
                media.kind.as_str(),
                media.codec.as_deref(),
                media.container.as_deref()
            ),
            ("video", Some("gif"), Some("gif")),
            "{path:?}"
        );
        assert_eq!((media.width, media.height), (Some(192), Some(192)));
        let detail = store.case_detail(sum.case_id).unwrap();
        let times: Vec<f64> = detail.frames.iter().map(|f| f.pts_s).collect();
        if frames > 1 {
            assert!(
                times.windows(2).all(|w| (w[1] - w[0] - 0.2).abs() < 1e-6),
                "{times:?}"
            );
            // The face moves with the pictures: the decoded frames are the GIF's own.
            let xs: Vec<f32> = detail.faces.iter().map(|f| f.bbox[0]).collect();
            assert!(xs.last().unwrap() - xs[0] > 10.0, "{xs:?}");
        }
    }
}

#[test]
fn a_truncated_gif_fails_naming_the_file() {
    let d = tempfile::tempdir().unwrap();
    let full = d.path().join("full.gif");
    write_gif(&full, &[astronaut(160)], 100);
    let bytes = std::fs::read(&full).unwrap();
    let name = "Meme – cut short.gif";
    let cut = d.path().join(name);
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let s = settings(d.path());
    let data = s.data_dir();
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&data).unwrap();
    let sha = verity::store::hash_path(&cut).unwrap();
    let msg = match a.analyze_path(&mut store, &cut, "t", &|_| {}, &AtomicBool::new(false)) {
        Ok(sum) => {
            assert_eq!(sum.status, "failed", "{sum:?}");
            sum.message.unwrap_or_default()
        }
        Err(e) => e.to_string(),
    };
    names_only_the_original("the truncated GIF's failure", &msg, name, &data, &sha);
}
