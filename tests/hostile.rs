//! Hostile and odd inputs (issue 13): FIFOs and devices, link loops in dropped folders, inputs
//! over the limits, playlists disguised as videos, crafted headers and URLs that used to panic,
//! a bad frame in the middle of a case, the PDF printer's network promise, credentials in
//! logs, owner-only data and where reports may be written. Tests that would hang without the
//! fix run the work in a child process or thread with a deadline and fail when it passes.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use verity::config::Settings;
use verity::media::{self, Limits};
use verity::pipeline::Analyzer;
use verity::store::{CaseFilter, Store};
use verity::Error;

fn settings(root: &Path) -> Settings {
    Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("no-models")),
        device: verity::device::DevicePref::Cpu,
        analyst: "Ada".into(),
        ..Settings::default()
    }
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap().success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `cmd` and kills it after `limit`: `None` when it had to be killed (it hung).
fn run_with_deadline(mut cmd: Command, limit: Duration) -> Option<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `f` on a thread; `None` when it did not finish within `limit` (the thread is left
/// behind, blocked, and dies with the test process).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

fn cli(data: &Path, args: &[&std::ffi::OsStr]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_verity"));
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env("VERITY_CONFIG", data.join("none.toml"))
        .env("VERITY_MODELS_DIR", data.join("no-models"));
    cmd
}

// ---- 1. FIFOs and devices ----------------------------------------------------------------

#[test]
fn a_fifo_named_like_a_video_inside_a_dropped_folder_is_skipped_with_a_note() {
    let d = tempfile::tempdir().unwrap();
    let drop = d.path().join("dropped");
    std::fs::create_dir(&drop).unwrap();
    std::fs::write(drop.join("b.mp4"), b"x").unwrap();
    mkfifo(&drop.join("clip.mp4"));
    let got = within(Duration::from_secs(20), {
        let drop = drop.clone();
        move || verity::worker::expand_paths_noted(&[drop])
    })
    .expect("the folder walk hung on a FIFO")
    .unwrap();
    assert_eq!(got.paths, vec![drop.join("b.mp4")], "only regular files");
    assert_eq!(got.notes.len(), 1, "{:?}", got.notes);
    assert!(
        got.notes[0].contains("clip.mp4") && got.notes[0].contains("FIFO"),
        "{:?}",
        got.notes
    );
}

#[test]
fn a_fifo_given_directly_is_refused_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("clip.mp4");
    mkfifo(&fifo);
    let e = verity::worker::expand_paths(std::slice::from_ref(&fifo))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("clip.mp4") && e.contains("not a regular file"),
        "{e}"
    );

    // The library's import path (the CLI's `analyze`) refuses it before opening it: run in a
    // child process that is killed if it hangs on the FIFO or on /dev/zero.
    let data = d.path().join("data");
    for target in [fifo.as_os_str(), "/dev/zero".as_ref()] {
        let out = run_with_deadline(
            cli(&data, &["analyze".as_ref(), target]),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|| panic!("`verity analyze {target:?}` hung"));
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{said}");
        let name = Path::new(target).file_name().unwrap().to_string_lossy();
        assert!(
            said.contains(name.as_ref()) && said.contains("not a regular file"),
            "{said}"
        );
    }
    let store = Store::open(&data).unwrap();
    assert!(store.list_cases(&CaseFilter::default()).unwrap().is_empty());
}

#[test]
fn an_unreadable_probe_stops_the_import_before_anything_is_copied() {
    let d = tempfile::tempdir().unwrap();
    let s = settings(d.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let junk = d.path().join("junk.mp4");
    std::fs::write(&junk, vec![0x5au8; 4096]).unwrap();
    let e = a
        .analyze_path(&mut store, &junk, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("junk.mp4"), "{e}");
    assert!(store.list_cases(&CaseFilter::default()).unwrap().is_empty());
    assert!(blob_files(&s.data_dir()).is_empty(), "nothing copied");
}

fn blob_files(data: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&data.join("blobs"), &mut out);
    out
}

// ---- 2. Folder walk --------------------------------------------------------------------------

#[test]
fn the_folder_walk_does_not_follow_link_loops() {
    let d = tempfile::tempdir().unwrap();
    let drop = d.path().join("dropped");
    std::fs::create_dir_all(drop.join("sub")).unwrap();
    std::fs::write(drop.join("a.mp4"), b"x").unwrap();
    std::fs::write(drop.join("sub/c.mov"), b"x").unwrap();
    std::os::unix::fs::symlink(".", drop.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", drop.join("sub/loop")).unwrap();
    let got = within(Duration::from_secs(30), {
        let drop = drop.clone();
        move || verity::worker::expand_paths_noted(&[drop])
    })
    .expect("the folder walk followed the link loops")
    .unwrap();
    assert_eq!(got.paths, vec![drop.join("a.mp4"), drop.join("sub/c.mov")]);
    assert_eq!(got.notes.len(), 2, "{:?}", got.notes);
    assert!(got.notes.iter().all(|n| n.contains("link to a folder")));
}

#[test]
fn the_folder_walk_caps_depth_and_count_with_clear_messages() {
    let d = tempfile::tempdir().unwrap();
    let mut deep = d.path().join("deep");
    for i in 0..=verity::worker::MAX_WALK_DEPTH + 1 {
        deep = deep.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("v.mp4"), b"x").unwrap();
    let e = verity::worker::expand_paths(&[d.path().join("deep")]).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    assert!(e.to_string().contains("nested"), "{e}");

    let many = d.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..=verity::worker::MAX_WALK_FILES {
        std::fs::write(many.join(format!("v{i}.mp4")), b"").unwrap();
    }
    let e = verity::worker::expand_paths(&[many]).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    assert!(e.to_string().contains("media files"), "{e}");
}

// ---- 3. Size limits before copying -------------------------------------------------------

fn noise_png(path: &Path, seed: u32) {
    let mut x = seed.wrapping_mul(2654435761).max(1);
    let img = image::RgbImage::from_fn(400, 400, |_, _| {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
    });
    img.save(path).unwrap();
}

#[test]
fn a_folder_over_the_size_or_frame_limit_is_refused_before_it_is_copied() {
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    for i in 0..4 {
        noise_png(&frames.join(format!("f{i}.png")), i + 1);
    }
    // 4 × ~480 KB of noise: over a 1 MiB limit in total though each file is under it.
    let mut s = settings(d.path());
    s.max_media_mib = 1;
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let e = a
        .analyze_path(&mut store, &frames, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    assert!(e.to_string().contains("add up to"), "{e}");
    assert!(store.list_cases(&CaseFilter::default()).unwrap().is_empty());
    assert!(blob_files(&s.data_dir()).is_empty(), "nothing copied");

    // Too many frames: refused from the listing by probe (which runs before the import).
    let limits = Limits {
        max_frames: 3,
        ..Limits::default()
    };
    let e = media::probe(&frames, &limits).unwrap_err();
    assert!(matches!(e, Error::TooLarge(_)), "{e}");
    assert!(e.to_string().contains("4 frames exceed"), "{e}");
}

// ---- 4. FFmpeg whitelists ----------------------------------------------------------------

fn small_avi(dir: &Path) -> PathBuf {
    let out = dir.join("other.avi");
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=64x48:rate=5")
        .args(["-t", "1", "-c:v", "mjpeg"])
        .arg(&out)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    out
}

#[test]
fn playlists_disguised_as_mp4_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let other = small_avi(d.path());
    // The real video opens (the whitelist keeps what we claim)…
    let info = media::probe(&other, &Limits::default()).unwrap();
    assert_eq!(info.container.as_deref(), Some("avi"));
    // …but an HLS playlist or a concat script saved as .mp4 that would make FFmpeg read it
    // is refused: the frames would not be the bytes we hashed.
    let hls = d.path().join("x.mp4");
    std::fs::write(
        &hls,
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{}\n#EXT-X-ENDLIST\n",
            other.display()
        ),
    )
    .unwrap();
    let concat = d.path().join("y.mp4");
    std::fs::write(
        &concat,
        format!("ffconcat version 1.0\nfile '{}'\n", other.display()),
    )
    .unwrap();
    for f in [&hls, &concat] {
        let e = media::probe(f, &Limits::default()).unwrap_err().to_string();
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            e.contains(name.as_ref()) && e.contains("playlists"),
            "{}: {e}",
            f.display()
        );
        let e = media::detect_kind(f).unwrap_err().to_string();
        assert!(e.contains("playlists"), "{e}");
    }
    assert_eq!(
        verity::media::video::live_protocols("rtsp://cam/x"),
        Some("rtsp,rtp,srtp,udp,tcp")
    );
    assert_eq!(
        verity::media::video::live_protocols("udp://0.0.0.0:5000"),
        Some("udp")
    );
    assert!(verity::media::video::live_protocols("rtsp://cam/x")
        .is_some_and(|p| !p.split(',').any(|p| p == "file" || p == "http")));
    assert_eq!(
        verity::media::video::live_protocols("file:///etc/passwd"),
        None
    );
}

// ---- 5. Panics on reachable input ----------------------------------------------------------

#[test]
fn a_nul_byte_in_a_live_url_is_a_clean_error() {
    for url in ["rtsp://cam.local/a\0b", "udp://0.0.0.0:5000\0"] {
        let r = std::panic::catch_unwind(|| media::probe(Path::new(url), &Limits::default()));
        let e = r
            .unwrap_or_else(|_| panic!("{url:?} panicked"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("control characters"), "{e}");
    }
}

#[test]
fn a_huge_max_media_size_does_not_overflow() {
    let d = tempfile::tempdir().unwrap();
    let mut s = settings(d.path());
    s.max_media_mib = u64::MAX;
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        a.analyze_path(
            &mut store,
            &common::astronaut(),
            "t",
            &|_| {},
            &AtomicBool::new(false),
        )
    }));
    let sum = r.expect("max_media_mib * 1 MiB overflowed").unwrap();
    assert_eq!(sum.status, "not_scored");
}

#[test]
fn crafted_safetensors_headers_are_clean_errors() {
    let d = tempfile::tempdir().unwrap();
    let cases = [
        r#"{"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,4]}}"#,
        r#"{"w":{"dtype":"F64","shape":[3037000500,3037000500],"data_offsets":[0,8]}}"#,
        r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551615,18446744073709551615]}}"#,
        r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551610,4]}}"#,
    ];
    for (i, header) in cases.iter().enumerate() {
        let f = d.path().join(format!("crafted{i}.safetensors"));
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0u8; 16]);
        std::fs::write(&f, bytes).unwrap();
        let r = std::panic::catch_unwind(|| verity::models::weights::read_header(&f));
        let e = r
            .unwrap_or_else(|_| panic!("{header} panicked"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("tensor w") && e.contains("byte range"), "{e}");
    }
}

// ---- 6. One bad frame ----------------------------------------------------------------------

#[test]
fn a_bad_frame_in_a_folder_is_skipped_and_counted() {
    let d = tempfile::tempdir().unwrap();
    let frames = d.path().join("frames");
    std::fs::create_dir(&frames).unwrap();
    let photo = image::open(common::astronaut()).unwrap().to_rgb8();
    let photo = image::imageops::resize(&photo, 256, 256, image::imageops::FilterType::Triangle);
    for i in [1, 2, 4, 5] {
        photo.save(frames.join(format!("f{i}.png"))).unwrap();
    }
    // Frame 3 is a truncated PNG: its header reads, its pixels do not.
    let mut png = Vec::new();
    photo
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(frames.join("f3.png"), &png[..png.len() / 2]).unwrap();
    let s = settings(d.path());
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    let sum = a
        .analyze_path(&mut store, &frames, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap();
    assert_eq!(sum.status, "not_scored", "{:?}", sum.message);
    assert_eq!(sum.frames, 4);
    assert_eq!(sum.undecodable_frames, 1);
    let msg = sum.message.unwrap_or_default();
    assert!(msg.contains("1 frame could not be decoded"), "{msg}");
    // Stored with the analysis, so the case view and the report show it.
    let detail = store.case_detail(sum.case_id).unwrap();
    let html = verity::report::html(&store, &detail);
    assert!(html.contains("1 frame could not be decoded"));
}

/// A 4 s, 10 fps MJPEG AVI (40 JPEG frames) with the JPEG data of `wiped` frames zeroed (the
/// AVI chunks around them stay intact): the decoder finds no picture in those packets.
fn avi_with_wiped_frames(dir: &Path, name: &str, wiped: std::ops::Range<usize>) -> PathBuf {
    let avi = dir.join(name);
    let ok = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=160x120:rate=10")
        .args(["-t", "4", "-c:v", "mjpeg", "-q:v", "5"])
        .arg(&avi)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let mut bytes = std::fs::read(&avi).unwrap();
    let soi: Vec<usize> = bytes
        .windows(3)
        .enumerate()
        .filter(|(_, w)| w == &[0xFF, 0xD8, 0xFF])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(soi.len(), 40, "one JPEG per frame");
    for j in wiped {
        // Up to and including this JPEG's end-of-image marker.
        let eoi = soi[j]
            + bytes[soi[j]..]
                .windows(2)
                .position(|w| w == [0xFF, 0xD9])
                .unwrap()
            + 2;
        bytes[soi[j]..eoi].fill(0);
    }
    std::fs::write(&avi, &bytes).unwrap();
    avi
}

/// Analyses `path` with no detector; the summary.
fn analyse(root: &Path, path: &Path) -> verity::pipeline::Summary {
    let s = settings(root);
    let a = Analyzer::new(&s).unwrap();
    let mut store = Store::open(&s.data_dir()).unwrap();
    a.analyze_path(&mut store, path, "t", &|_| {}, &AtomicBool::new(false))
        .unwrap()
}

#[test]
fn a_video_with_a_corrupted_middle_is_analysed_with_a_count() {
    let d = tempfile::tempdir().unwrap();
    let avi = avi_with_wiped_frames(d.path(), "clip.avi", 15..25);
    let sum = analyse(d.path(), &avi);
    assert_ne!(sum.status, "failed", "{:?}", sum.message);
    assert!(sum.frames > 0);
    assert_eq!(sum.undecodable_frames, 10, "{sum:?}");
    let msg = sum.message.unwrap_or_default();
    assert!(msg.contains("could not be decoded"), "{msg}");
}

#[test]
fn damaged_frames_after_the_last_sampled_one_are_counted_too() {
    let d = tempfile::tempdir().unwrap();
    let avi = avi_with_wiped_frames(d.path(), "tail.avi", 37..40);
    let sum = analyse(d.path(), &avi);
    assert_ne!(sum.status, "failed", "{:?}", sum.message);
    assert!(sum.frames > 0);
    assert_eq!(sum.undecodable_frames, 3, "{sum:?}");
    let msg = sum.message.unwrap_or_default();
    assert!(msg.contains("3 frames could not be decoded"), "{msg}");
}

// ---- 7. PDF export -------------------------------------------------------------------------

#[test]
fn the_pdf_printer_is_told_to_stay_offline_in_a_private_temp_folder() {
    let args =
        verity::pdf::chromium_args(Path::new("/p"), Path::new("/r.html"), Path::new("/r.pdf"));
    for flag in [
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} missing: {args:?}");
    }
    let Some(browser) = verity::pdf::browser_on_path() else {
        eprintln!("no Chromium on PATH: the print itself is not run");
        return;
    };
    // Print through a wrapper that runs the browser without any network (`unshare -n`, where
    // this user may) under strace, recording every connect(); and that records its temp folder.
    let d = tempfile::tempdir().unwrap();
    let trace = d.path().join("connect.log");
    let args_log = d.path().join("args.log");
    let unshare = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let strace = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut wrap = format!("#!/bin/sh\necho \"$@\" > '{}'\nexec ", args_log.display());
    if strace {
        wrap += &format!("strace -f -qq -e trace=connect -o '{}' ", trace.display());
    }
    if unshare {
        wrap += "unshare -n ";
    }
    wrap += &format!("'{}' \"$@\"\n", browser.display());
    let wrapper = d.path().join("browser.sh");
    std::fs::write(&wrapper, wrap).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = d.path().join("case.pdf");
    let html = "<!DOCTYPE html><html><head><title>Verity Desk report — t</title></head>\
                <body><p>offline</p></body></html>";
    verity::pdf::print_html(Some(&wrapper), html, &out).unwrap();
    assert!(std::fs::read(&out).unwrap().starts_with(b"%PDF"));
    let used = std::fs::read_to_string(&args_log).unwrap();
    let profile = used
        .split_whitespace()
        .find_map(|a| a.strip_prefix("--user-data-dir="))
        .unwrap();
    let tmp = Path::new(profile).parent().unwrap();
    let name = tmp.file_name().unwrap().to_string_lossy();
    assert!(name.starts_with("verity-pdf-") && !name.contains(&std::process::id().to_string()));
    assert!(!tmp.exists(), "the temp folder is removed");
    if strace {
        let log = std::fs::read_to_string(&trace).unwrap_or_default();
        // Chromium's IPv6 reachability check connect()s a UDP socket to a public address to
        // read the route; that sends no packet, so it is the one connect allowed. Without the
        // flags, the log holds dozens of DNS queries (port 53) at start-up.
        let inet: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("AF_INET") && !l.contains("\"2001:4860:4860::8888\""))
            .collect();
        assert!(inet.is_empty(), "network connects: {inet:?}");
    }
}

#[test]
fn exported_reports_never_replace_other_files_or_follow_links() {
    let d = tempfile::tempdir().unwrap();
    let notes = d.path().join("notes.html");
    std::fs::write(&notes, "<p>my notes</p>").unwrap();
    let report = "<!DOCTYPE html><html><head><title>Verity Desk report — a</title></head></html>";
    let e = verity::fsutil::write_report(&notes, "html", report.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Verity Desk report"), "{e}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "<p>my notes</p>");
    let link = d.path().join("link.html");
    std::os::unix::fs::symlink(&notes, &link).unwrap();
    assert!(verity::fsutil::write_report(&link, "html", report.as_bytes()).is_err());
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "<p>my notes</p>");
    // A new file, then a newer report over the earlier one.
    let out = d.path().join("r/case.html");
    verity::fsutil::write_report(&out, "html", report.as_bytes()).unwrap();
    let newer = report.replace("— a", "— b");
    verity::fsutil::write_report(&out, "html", newer.as_bytes()).unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), newer);
    let left: Vec<_> = std::fs::read_dir(d.path().join("r")).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file left behind");
}

// ---- 8. Logs and permissions ---------------------------------------------------------------

#[test]
fn live_job_labels_do_not_show_credentials() {
    let d = tempfile::tempdir().unwrap();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let worker = verity::worker::Worker::spawn(settings(d.path()), move |e| {
        sink.lock().unwrap().push(serde_json::to_string(e).unwrap())
    })
    .unwrap();
    let job = worker.enqueue(verity::worker::JobKind::Live {
        source: "rtsp://ada:s3cret@127.0.0.1:9/stream".into(),
        seconds: 1.0,
    });
    worker.cancel(job);
    let label = worker
        .jobs()
        .into_iter()
        .map(|j| j.label)
        .chain(
            events
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.contains("queued"))
                .cloned(),
        )
        .collect::<Vec<_>>()
        .join("\n");
    assert!(label.contains("rtsp://***@127.0.0.1:9/stream"), "{label}");
    assert!(!label.contains("s3cret"), "{label}");
    let e = Error::input("rtsp://ada:s3cret@cam/x", "cannot open the live stream");
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn old_logs_are_pruned_and_the_data_folder_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let old = logs.join("verity.log.2020-01-01");
    let new = logs.join("verity.log.2099-01-01");
    let other = logs.join("notes.txt");
    for f in [&old, &new, &other] {
        std::fs::write(f, "x").unwrap();
    }
    let month_ago = std::time::SystemTime::now() - Duration::from_secs(31 * 24 * 3600);
    for f in [&old, &other] {
        std::fs::File::options()
            .write(true)
            .open(f)
            .unwrap()
            .set_modified(month_ago)
            .unwrap();
    }
    let removed = verity::logging::prune_logs(
        &logs,
        Duration::from_secs(verity::logging::KEEP_DAYS * 86400),
    );
    assert_eq!(removed, 1);
    assert!(!old.exists() && new.exists() && other.exists());

    let data = d.path().join("data");
    let store = Store::open(&data).unwrap();
    drop(store);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("verity.db")), 0o600);
}
