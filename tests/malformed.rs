//! A corpus of broken, hostile and odd inputs, generated here. For each one `probe` and
//! `frames` must not panic, must fail (or succeed, where the input is legitimately readable),
//! and must say what is wrong in a message that names the file.
mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use image::{Rgb, RgbImage};
use verity::media::{self, Limits, SampleParams};
use verity::Error;

/// `ffmpeg <args> <out>`, cached by argument list in `target/fixtures/media/`.
fn ffmpeg(name: &str, args: &[&str]) -> PathBuf {
    common::ffmpeg_cached(name, args, &[])
}

/// A 2 s, 160×120, 25 fps pan in `name`'s container; extra encoder args after the filter.
fn video(name: &str, extra: &[&str]) -> Vec<u8> {
    let mut args = vec![
        "-loop",
        "1",
        "-framerate",
        "25",
        "-i",
        "{astronaut}",
        "-t",
        "2",
        "-vf",
        "crop=256:192:'64+t*40':'64+t*30',scale=160:120,setsar=1",
        "-pix_fmt",
        "yuv420p",
    ];
    args.extend_from_slice(extra);
    std::fs::read(ffmpeg(name, &args)).unwrap()
}

fn encoded(format: image::ImageFormat) -> Vec<u8> {
    let img = image::open(common::astronaut()).unwrap().to_rgb8();
    let img = image::imageops::resize(&img, 160, 120, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), format)
        .unwrap();
    out
}

fn cut(bytes: &[u8], fraction: f64) -> Vec<u8> {
    bytes[..(bytes.len() as f64 * fraction) as usize].to_vec()
}

/// Deterministic noise (xorshift), so a failure reproduces.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// A PNG's IHDR with new dimensions and a recomputed CRC (or the stale one).
fn png_with_size(width: u32, height: u32, fix_crc: bool) -> Vec<u8> {
    let mut png = encoded(image::ImageFormat::Png);
    assert_eq!(&png[12..16], b"IHDR");
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    if fix_crc {
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
    }
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A baseline JPEG whose SOF0 claims `width`×`height`.
fn jpeg_with_size(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = encoded(image::ImageFormat::Jpeg);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline JPEG");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// An MP4 with the payload of its `moov` box (all the stream tables) overwritten with noise.
fn mp4_corrupt_moov() -> Vec<u8> {
    let mut mp4 = video("plain.mp4", &["-c:v", "libx264"]);
    let moov = mp4.windows(4).position(|w| w == b"moov").expect("moov box");
    let size = u32::from_be_bytes(mp4[moov - 4..moov].try_into().unwrap()) as usize;
    let garbage = noise(size - 8, 7);
    mp4[moov + 4..moov - 4 + size].copy_from_slice(&garbage);
    mp4
}

/// An MP4 whose `mdat` (the coded frames) is all zeros: headers fine, pictures gone.
fn mp4_zeroed_mdat() -> Vec<u8> {
    let mut mp4 = video(
        "faststart.mp4",
        &["-c:v", "libx264", "-movflags", "+faststart"],
    );
    let mdat = mp4.windows(4).position(|w| w == b"mdat").expect("mdat box");
    let size = u32::from_be_bytes(mp4[mdat - 4..mdat].try_into().unwrap()) as usize;
    mp4[mdat + 4..mdat - 4 + size].fill(0);
    mp4
}

/// What a case must produce.
enum Want {
    /// `probe` and `frames` both fail, each message containing every substring.
    Fails(&'static [&'static str]),
    /// `probe` succeeds (headers are fine); `frames` fails with these substrings.
    FramesFail(&'static [&'static str]),
    /// `probe` succeeds; `frames` yields some frames, then an error with these substrings.
    Partial(&'static [&'static str]),
    /// Legitimately readable: `probe` succeeds and every frame decodes (this many at 5 fps).
    Loads(usize),
    /// Damaged but partly readable: no panic, at least one frame; whatever fails is explained.
    Readable,
}

struct Case {
    name: &'static str,
    path: PathBuf,
    want: Want,
    limits: Limits,
    params: SampleParams,
}

struct Corpus {
    _dir: tempfile::TempDir,
    cases: Vec<Case>,
}

fn corpus() -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let mut cases = Vec::new();
    let mut add = |name: &'static str, bytes: Option<Vec<u8>>, want: Want| {
        let path = d.join(name);
        if let Some(bytes) = bytes {
            std::fs::write(&path, bytes).unwrap();
        }
        cases.push(Case {
            name,
            path,
            want,
            limits: Limits::default(),
            params: SampleParams::default(),
        });
    };
    use image::ImageFormat as F;
    let (png, jpeg) = (encoded(F::Png), encoded(F::Jpeg));
    let mp4 = video("plain.mp4", &["-c:v", "libx264"]);
    let faststart = video(
        "faststart.mp4",
        &["-c:v", "libx264", "-movflags", "+faststart"],
    );
    let text = "Meeting notes\nThis is not a picture.\n"
        .repeat(20)
        .into_bytes();

    // Empty, missing, not media at all.
    add(
        "empty.jpg",
        Some(Vec::new()),
        Want::Fails(&["file is empty"]),
    );
    add(
        "empty.mp4",
        Some(Vec::new()),
        Want::Fails(&["file is empty"]),
    );
    add("missing.mp4", None, Want::Fails(&["not found"]));
    add(
        "text.jpg",
        Some(text.clone()),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );
    add(
        "notes.txt",
        Some(text),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );
    add(
        "random.bin",
        Some(noise(4096, 1)),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );
    add(
        "random.mp4",
        Some(noise(65536, 2)),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );

    // Content wins over the extension.
    add("png-named.mp4", Some(png.clone()), Want::Loads(1));
    add("jpeg-named.png", Some(jpeg.clone()), Want::Loads(1));
    add("mp4-named.jpg", Some(mp4.clone()), Want::Loads(10));

    // Truncated and damaged stills.
    add(
        "jpeg-cut-10b.jpg",
        Some(jpeg[..10].to_vec()),
        Want::Fails(&["truncated JPEG"]),
    );
    add(
        "jpeg-soi-only.jpg",
        Some(vec![0xFF, 0xD8, 0xFF]),
        Want::Fails(&["truncated JPEG"]),
    );
    add(
        "jpeg-cut-50.jpg",
        Some(cut(&jpeg, 0.5)),
        Want::Fails(&["truncated JPEG"]),
    );
    add(
        "jpeg-cut-90.jpg",
        Some(cut(&jpeg, 0.9)),
        Want::Fails(&["truncated JPEG"]),
    );
    add(
        "jpeg-huge.jpg",
        Some(jpeg_with_size(60000, 60000)),
        Want::Fails(&["declared size 60000×60000 exceeds limit 16384"]),
    );
    add(
        "png-cut-8b.png",
        Some(png[..8].to_vec()),
        Want::Fails(&["truncated PNG"]),
    );
    add(
        "png-cut-30b.png",
        Some(png[..30].to_vec()),
        Want::Fails(&["truncated PNG"]),
    );
    add(
        "png-cut-50.png",
        Some(cut(&png, 0.5)),
        Want::Fails(&["truncated PNG"]),
    );
    add(
        "png-cut-99.png",
        Some(png[..png.len() - 1].to_vec()),
        Want::Fails(&["truncated PNG"]),
    );
    add(
        "png-huge.png",
        Some(png_with_size(100_000, 100_000, true)),
        Want::Fails(&["declared size 100000×100000 exceeds limit 16384"]),
    );
    add(
        "png-zero-size.png",
        Some(png_with_size(0, 0, true)),
        Want::Fails(&["PNG"]),
    );
    add(
        "png-bad-crc.png",
        Some(png_with_size(200, 100, false)),
        Want::Fails(&["corrupt PNG", "CRC"]),
    );
    let mut trailing = png.clone();
    trailing.extend_from_slice(b"trailing bytes some tools append");
    add("png-trailing.png", Some(trailing), Want::Loads(1));
    let mut one = Vec::new();
    RgbImage::from_pixel(1, 1, Rgb([9, 9, 9]))
        .write_to(&mut std::io::Cursor::new(&mut one), F::Png)
        .unwrap();
    add("one-pixel.png", Some(one), Want::Loads(1));
    // Garbage EXIF blocks (noise; an IFD whose next-IFD offset points to itself, with an
    // entry claiming 4 G values): metadata is not pixels, the picture still loads (and
    // `provenance::metadata` reports the block, see the test below).
    let with_app1 = |tiff: Vec<u8>| {
        let body = [b"Exif\0\0".to_vec(), tiff].concat();
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE1];
        b.extend(((body.len() + 2) as u16).to_be_bytes());
        b.extend(body);
        b.extend_from_slice(&jpeg[2..]);
        b
    };
    add(
        "exif-garbage.jpg",
        Some(with_app1(noise(4000, 17))),
        Want::Loads(1),
    );
    let mut looped = b"II*\0\x08\0\0\0\x01\0".to_vec();
    looped.extend([
        0x10, 0x01, 0x02, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x1A, 0, 0, 0,
    ]);
    looped.extend(8u32.to_le_bytes());
    add("exif-loop.jpg", Some(with_app1(looped)), Want::Loads(1));
    // GIF is read by FFmpeg as a video: a still one is one frame; cut short, it fails
    // naming the file (the decoder finds no complete picture).
    let gif = encoded(F::Gif);
    add("still.gif", Some(gif.clone()), Want::Loads(1));
    add(
        "gif-cut-50.gif",
        Some(cut(&gif, 0.5)),
        Want::FramesFail(&["gif-cut-50.gif"]),
    );
    add(
        "bmp-cut-50.bmp",
        Some(cut(&encoded(F::Bmp), 0.5)),
        Want::FramesFail(&["truncated BMP"]),
    );
    let mut bmp_huge = encoded(F::Bmp);
    bmp_huge[18..22].copy_from_slice(&50_000i32.to_le_bytes());
    add(
        "bmp-huge.bmp",
        Some(bmp_huge),
        Want::Fails(&["declared size 50000×120 exceeds limit 16384"]),
    );
    add(
        "webp-cut-50.webp",
        Some(cut(&encoded(F::WebP), 0.5)),
        Want::Fails(&["truncated WebP"]),
    );
    add(
        "tiff-cut-50.tiff",
        Some(cut(&encoded(F::Tiff), 0.5)),
        Want::Fails(&["truncated TIFF"]),
    );
    // A WebP cut inside its bitstream but with a consistent RIFF size: the decoder notices.
    let mut webp = encoded(F::WebP);
    let half = webp.len() / 2;
    webp.truncate(half);
    webp[4..8].copy_from_slice(&((half - 8) as u32).to_le_bytes());
    add(
        "webp-cut-fixed-riff.webp",
        Some(webp),
        Want::FramesFail(&["WebP"]),
    );
    let mut jpeg_noise = jpeg.clone();
    let mid = jpeg_noise.len() / 2;
    jpeg_noise[mid..mid + 200]
        .copy_from_slice(&noise(200, 3).iter().map(|b| b & 0x7F).collect::<Vec<_>>());
    add("jpeg-noisy-scan.jpg", Some(jpeg_noise), Want::Readable);

    // Playlists and scripts saved as .mp4 would make FFmpeg read other files (issue 13): the
    // demuxer whitelist refuses them before anything is read.
    add(
        "hls-playlist.mp4",
        Some(
            b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n/etc/hostname\n#EXT-X-ENDLIST\n"
                .to_vec(),
        ),
        Want::Fails(&["not an image or video FFmpeg can read", "playlists"]),
    );
    add(
        "ffconcat-script.mp4",
        Some(b"ffconcat version 1.0\nfile '/etc/hostname'\n".to_vec()),
        Want::Fails(&["not an image or video FFmpeg can read", "playlists"]),
    );

    // Truncated and damaged videos.
    add(
        "mp4-cut-100b.mp4",
        Some(mp4[..100].to_vec()),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );
    add(
        "mp4-cut-50.mp4",
        Some(cut(&mp4, 0.5)),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );
    add(
        "mp4-faststart-cut-header.mp4",
        Some(faststart[..600].to_vec()),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );
    add(
        "mp4-faststart-cut-50.mp4",
        Some(cut(&faststart, 0.5)),
        Want::Partial(&["truncated video", "declares 2.00 s"]),
    );
    add(
        "mp4-corrupt-moov.mp4",
        Some(mp4_corrupt_moov()),
        Want::Fails(&["not an image or video FFmpeg can read"]),
    );
    add(
        "mp4-zeroed-mdat.mp4",
        Some(mp4_zeroed_mdat()),
        Want::FramesFail(&["no frame could be decoded"]),
    );
    add(
        "ts-cut-50.ts",
        Some(cut(&video("plain.ts", &["-c:v", "mpeg2video"]), 0.5)),
        Want::Readable,
    );
    add(
        "mkv-cut-50.mkv",
        Some(cut(&video("plain.mkv", &["-c:v", "libx264"]), 0.5)),
        Want::Readable,
    );
    add(
        "webm-cut-70.webm",
        Some(cut(
            &video("plain.webm", &["-c:v", "libvpx", "-deadline", "realtime"]),
            0.7,
        )),
        Want::Readable,
    );
    add(
        "avi-cut-50.avi",
        Some(cut(
            &video("plain.avi", &["-c:v", "mjpeg", "-pix_fmt", "yuvj420p"]),
            0.5,
        )),
        Want::Readable,
    );

    // No video in it.
    let sine = |name, extra: &[&str]| {
        let mut args = vec!["-f", "lavfi", "-i", "sine=frequency=440:duration=1"];
        args.extend_from_slice(extra);
        std::fs::read(ffmpeg(name, &args)).unwrap()
    };
    add(
        "audio-only.mp4",
        Some(sine("sine.mp4", &["-c:a", "aac"])),
        Want::Fails(&["no video stream (audio only)"]),
    );
    add(
        "audio-only.wav",
        Some(sine("sine.wav", &[])),
        Want::Fails(&["no video stream (audio only)"]),
    );
    let cover = ffmpeg(
        "cover.mp3",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-i",
            "{astronaut}",
            "-map",
            "0",
            "-map",
            "1",
            "-c:a",
            "libmp3lame",
            "-c:v",
            "mjpeg",
            "-disposition:v",
            "attached_pic",
        ],
    );
    add(
        "cover-art.mp3",
        Some(std::fs::read(cover).unwrap()),
        Want::Fails(&["no video stream (audio with a cover picture only)"]),
    );

    // Folders.
    std::fs::create_dir(d.join("empty-folder")).unwrap();
    std::fs::write(d.join("empty-folder/readme.txt"), "no frames here").unwrap();
    add(
        "empty-folder",
        None,
        Want::Fails(&["folder contains no image files"]),
    );
    std::fs::create_dir(d.join("broken-folder")).unwrap();
    std::fs::write(d.join("broken-folder/frame1.png"), "not a png").unwrap();
    std::fs::write(d.join("broken-folder/frame2.jpg"), b"").unwrap();
    add(
        "broken-folder",
        None,
        Want::Fails(&["none of the 2 image files in the folder is readable"]),
    );

    // Things that are not regular files.
    let fifo = d.join("pipe.mp4");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    add("pipe.mp4", None, Want::Fails(&["not a regular file"]));
    std::os::unix::fs::symlink(d.join("loop-b.jpg"), d.join("loop-a.jpg")).unwrap();
    std::os::unix::fs::symlink(d.join("loop-a.jpg"), d.join("loop-b.jpg")).unwrap();
    add("loop-a.jpg", None, Want::Fails(&["symbolic link loop"]));
    std::os::unix::fs::symlink(d.join("gone.png"), d.join("dangling.png")).unwrap();
    add("dangling.png", None, Want::Fails(&["not found"]));
    // A file name that is not UTF-8: images load (std handles it), FFmpeg needs UTF-8.
    use std::os::unix::ffi::OsStrExt;
    let odd = d.join(std::ffi::OsStr::from_bytes(b"odd-\xff.mp4"));
    std::fs::write(&odd, &mp4).unwrap();
    cases.push(Case {
        name: "non-UTF-8 name",
        path: odd,
        want: Want::Fails(&["not valid UTF-8"]),
        limits: Limits::default(),
        params: SampleParams::default(),
    });

    // Over the limits.
    let mut limited = |name: &'static str, bytes: Vec<u8>, limits: Limits, want: Want| {
        let path = d.join(name);
        std::fs::write(&path, bytes).unwrap();
        cases.push(Case {
            name,
            path,
            want,
            limits,
            params: SampleParams::default(),
        });
    };
    limited(
        "over-bytes.png",
        png.clone(),
        Limits {
            max_bytes: 1000,
            ..Limits::default()
        },
        Want::Fails(&["but the limit is 1000 B"]),
    );
    limited(
        "over-pixels.png",
        png,
        Limits {
            max_pixels: 10_000,
            ..Limits::default()
        },
        Want::Fails(&["exceeds limit 0.0 MP"]),
    );
    limited(
        "over-side.mp4",
        mp4.clone(),
        Limits {
            max_side: 100,
            ..Limits::default()
        },
        Want::Fails(&["declared size 160×120 exceeds limit 100"]),
    );
    limited(
        "over-duration.mp4",
        mp4,
        Limits {
            max_duration_s: 1.0,
            ..Limits::default()
        },
        Want::Fails(&["video lasts 0:00:02 but the limit is 0:00:01"]),
    );

    std::fs::create_dir(d.join("long-folder")).unwrap();
    for i in 1..=3 {
        RgbImage::new(8, 8)
            .save(d.join(format!("long-folder/f{i}.png")))
            .unwrap();
    }
    cases.push(Case {
        name: "long-folder",
        path: d.join("long-folder"),
        // Refused by probe already (from the listing, before an import copies anything).
        want: Want::Fails(&["3 frames exceed the limit of 2 frames"]),
        limits: Limits {
            max_frames: 2,
            ..Limits::default()
        },
        params: SampleParams::default(),
    });

    // Live sources that cannot work.
    cases.push(Case {
        name: "webcam that is not there",
        path: PathBuf::from("/dev/video97"),
        want: Want::Fails(&["webcam device not found"]),
        limits: Limits::default(),
        params: SampleParams {
            max_frames: Some(5),
            ..SampleParams::default()
        },
    });
    cases.push(Case {
        name: "char device",
        path: PathBuf::from("/dev/null"),
        want: Want::Fails(&["not a regular file"]),
        limits: Limits::default(),
        params: SampleParams::default(),
    });
    Corpus { _dir: dir, cases }
}

/// What `frames` did: construction error, or the items.
struct Outcome {
    ok: usize,
    errors: Vec<String>,
}

fn run_frames(case: &Case) -> Outcome {
    let cancel = AtomicBool::new(false);
    let frames = media::frames(&case.path, &case.params, &case.limits, &cancel);
    match frames {
        Err(e) => Outcome {
            ok: 0,
            errors: vec![e.to_string()],
        },
        Ok(it) => {
            let (mut ok, mut errors) = (0, Vec::new());
            for item in it.take(10_000) {
                match item {
                    Ok(_) => ok += 1,
                    Err(e) => errors.push(e.to_string()),
                }
            }
            Outcome { ok, errors }
        }
    }
}

fn names_file(message: &str, case: &Case) -> bool {
    let file = case.path.file_name().unwrap().to_string_lossy();
    message.contains(&*file) || message.contains(&*case.path.to_string_lossy())
}

#[test]
fn malformed_inputs_fail_with_clear_messages_and_never_panic() {
    let corpus = corpus();
    assert!(
        corpus.cases.len() >= 30,
        "only {} cases",
        corpus.cases.len()
    );
    let mut failures = Vec::new();
    for case in &corpus.cases {
        let probe = catch_unwind(AssertUnwindSafe(|| media::probe(&case.path, &case.limits)));
        let frames = catch_unwind(AssertUnwindSafe(|| run_frames(case)));
        let (probe, frames) = match (probe, frames) {
            (Ok(p), Ok(f)) => (p.map_err(|e| e.to_string()), f),
            _ => {
                failures.push(format!("{}: PANICKED", case.name));
                continue;
            }
        };
        let has_all = |m: &str, subs: &[&str]| subs.iter().all(|s| m.contains(s));
        let mut problems = Vec::new();
        for m in probe.as_ref().err().into_iter().chain(&frames.errors) {
            if !case.path.to_string_lossy().starts_with("/dev/") && !names_file(m, case) {
                problems.push(format!("message does not name the file: {m}"));
            }
        }
        match case.want {
            Want::Fails(subs) => {
                match &probe {
                    Err(m) if has_all(m, subs) => {}
                    other => problems.push(format!("probe: want Err with {subs:?}, got {other:?}")),
                }
                if frames.ok > 0 || !frames.errors.iter().any(|m| has_all(m, subs)) {
                    problems.push(format!(
                        "frames: want Err with {subs:?}, got {} frames, errors {:?}",
                        frames.ok, frames.errors
                    ));
                }
            }
            Want::FramesFail(subs) => {
                if let Err(m) = &probe {
                    problems.push(format!("probe: want Ok, got {m}"));
                }
                if frames.ok > 0 || !frames.errors.iter().any(|m| has_all(m, subs)) {
                    problems.push(format!(
                        "frames: want Err with {subs:?}, got {} frames, errors {:?}",
                        frames.ok, frames.errors
                    ));
                }
            }
            Want::Partial(subs) => {
                if let Err(m) = &probe {
                    problems.push(format!("probe: want Ok, got {m}"));
                }
                if frames.ok == 0 || frames.errors.len() != 1 || !has_all(&frames.errors[0], subs) {
                    problems.push(format!("frames: want some frames then Err with {subs:?}, got {} frames, errors {:?}", frames.ok, frames.errors));
                }
            }
            Want::Loads(n) => {
                if let Err(m) = &probe {
                    problems.push(format!("probe: want Ok, got {m}"));
                }
                if frames.ok != n || !frames.errors.is_empty() {
                    problems.push(format!(
                        "frames: want {n} frames, got {} and errors {:?}",
                        frames.ok, frames.errors
                    ));
                }
            }
            Want::Readable => {
                if frames.ok == 0 {
                    problems.push(format!(
                        "frames: want some frames, got none; errors {:?}",
                        frames.errors
                    ));
                }
            }
        }
        eprintln!(
            "{:<30} probe: {:<60} frames: {} ok, errors {:?}",
            case.name,
            match &probe {
                Ok(i) => format!("Ok {:?} {}×{}", i.kind, i.width, i.height),
                Err(m) => format!("Err {}", m.rsplit(": ").next().unwrap_or(m)),
            },
            frames.ok,
            frames
                .errors
                .iter()
                .map(|m| m.rsplit(": ").next().unwrap_or(m))
                .collect::<Vec<_>>()
        );
        for p in problems {
            failures.push(format!("{}: {p}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn too_large_inputs_are_refused_with_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.png");
    std::fs::write(&path, png_with_size(100_000, 100_000, true)).unwrap();
    assert!(matches!(
        media::probe(&path, &Limits::default()),
        Err(Error::TooLarge(_))
    ));
    assert!(matches!(
        media::load_image(&path, &Limits::default()),
        Err(Error::TooLarge(_))
    ));
}

#[test]
fn invalid_sample_params_are_refused() {
    let png = tempfile::NamedTempFile::new().unwrap();
    RgbImage::new(4, 4)
        .write_to(
            &mut std::fs::File::create(png.path()).unwrap(),
            image::ImageFormat::Png,
        )
        .unwrap();
    let cancel = AtomicBool::new(false);
    for (params, text) in [
        (
            SampleParams {
                fps: 2.0,
                ..SampleParams::default()
            },
            "outside the supported 3–10 fps",
        ),
        (
            SampleParams {
                fps: 30.0,
                ..SampleParams::default()
            },
            "outside the supported 3–10 fps",
        ),
        (
            SampleParams {
                fps: f32::NAN,
                ..SampleParams::default()
            },
            "outside the supported 3–10 fps",
        ),
        (
            SampleParams {
                keyframe_threshold: 1.5,
                ..SampleParams::default()
            },
            "keyframe threshold",
        ),
        (
            SampleParams {
                max_frames: Some(0),
                ..SampleParams::default()
            },
            "max_frames",
        ),
        (
            SampleParams {
                max_seconds: Some(-1.0),
                ..SampleParams::default()
            },
            "time limit",
        ),
    ] {
        let err = media::frames(png.path(), &params, &Limits::default(), &cancel)
            .err()
            .expect("refused");
        assert!(
            matches!(err, Error::Config(_)) && err.to_string().contains(text),
            "{err}"
        );
    }
    assert!(SampleParams::default().validate().is_ok());
}

#[test]
fn rtsp_without_a_limit_is_refused_before_connecting() {
    let path = Path::new("rtsp://127.0.0.1:9/stream");
    assert_eq!(media::detect_kind(path).unwrap(), media::MediaKind::Live);
    let cancel = AtomicBool::new(false);
    let err = media::frames(path, &SampleParams::default(), &Limits::default(), &cancel)
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("set a frame limit (max_frames) or a time limit"),
        "{err}"
    );
    // With a limit it tries, and says the stream cannot be opened (nothing listens on port 9).
    let params = SampleParams {
        max_frames: Some(3),
        ..SampleParams::default()
    };
    let err = media::frames(path, &params, &Limits::default(), &cancel)
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("cannot open the live stream"),
        "{err}"
    );
}

/// The JPEG quality estimator (`media::jpeg_quality`, read by the scope warnings) on damaged
/// headers: truncated at every byte of the header, lengths that lie, DQT precisions and table
/// ids out of range, zero quantisers, endless segment chains and noise. It returns None or an
/// estimate in 1..=100, never panics, and never reads past the bytes it is given.
#[test]
fn malformed_jpeg_quantisation_tables_never_panic() {
    use verity::media::jpeg_quality::{estimate, estimate_file, luma_table, MAX_SEGMENTS};
    let good = encoded(image::ImageFormat::Jpeg);
    let ok = |b: &[u8]| {
        let r = catch_unwind(AssertUnwindSafe(|| estimate(b)));
        let r =
            r.unwrap_or_else(|_| panic!("estimate panicked on {:02x?}…", &b[..b.len().min(16)]));
        if let Some(q) = r {
            assert!((1..=100).contains(&q.quality), "{q:?}");
            assert!(q.fit_error.is_finite());
        }
        r
    };
    assert!(ok(&good).is_some(), "the intact JPEG has a table");
    // Where the first DQT segment is.
    let dqt = good.windows(2).position(|w| w == [0xFF, 0xDB]).unwrap();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // Every truncation up to the end of the tables (and a bit beyond).
    for n in 0..(dqt + 200).min(good.len()) {
        cases.push(good[..n].to_vec());
    }
    // Lying lengths of the DQT segment.
    for len in [0u16, 1, 2, 3, 64, 65, 66, 67, 130, 131, 0xFFFF] {
        let mut b = good.clone();
        b[dqt + 2..dqt + 4].copy_from_slice(&len.to_be_bytes());
        cases.push(b);
    }
    // Every precision/id nibble pair of the first table.
    for pq_tq in 0..=255u8 {
        let mut b = good.clone();
        b[dqt + 4] = pq_tq;
        cases.push(b);
    }
    // Zero quantisers (invalid: division by zero in a decoder).
    let mut b = good.clone();
    for v in &mut b[dqt + 5..dqt + 5 + 64] {
        *v = 0;
    }
    assert_eq!(ok(&b), None, "a zero table is no estimate");
    cases.push(b);
    // A 16-bit table whose segment says 8-bit length.
    let mut b = good.clone();
    b[dqt + 4] = 0x10;
    cases.push(b);
    // More segments than the walker looks at, before any table.
    let mut b = vec![0xFF, 0xD8];
    for _ in 0..MAX_SEGMENTS + 10 {
        b.extend([0xFF, 0xE1, 0x00, 0x02]);
    }
    b.extend_from_slice(&good[2..]);
    assert_eq!(
        ok(&b),
        None,
        "bounded: gives up after {MAX_SEGMENTS} segments"
    );
    // Fill bytes only; standalone markers; a marker of 0x00; noise after SOI.
    cases.push([vec![0xFF, 0xD8], vec![0xFF; 10_000]].concat());
    cases.push([vec![0xFF, 0xD8], [0xFF, 0xD0].repeat(5000)].concat());
    cases.push(vec![0xFF, 0xD8, 0xFF, 0x00, 0x00, 0x10]);
    for seed in 1..200u64 {
        cases.push([vec![0xFF, 0xD8], noise(300, seed)].concat());
        let mut b = good.clone();
        let flips = noise(8, seed);
        for (i, f) in flips.iter().enumerate() {
            let at = (usize::from(*f) * 7 + i * 13) % (dqt + 140).min(b.len());
            b[at] ^= f | 1;
        }
        cases.push(b);
    }
    for c in &cases {
        ok(c);
        let t = catch_unwind(AssertUnwindSafe(|| luma_table(c)));
        assert!(t.is_ok(), "luma_table panicked");
    }
    // Files: missing, a folder, empty.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(estimate_file(&dir.path().join("missing.jpg")), None);
    assert_eq!(estimate_file(dir.path()), None);
    std::fs::write(dir.path().join("empty.jpg"), b"").unwrap();
    assert_eq!(estimate_file(&dir.path().join("empty.jpg")), None);
}

/// `provenance::metadata::examine` over the whole corpus, read both as an image and as a
/// video: it never panics, always returns, and says what it could not read (every case here
/// is broken somewhere, or a file section at least is filled).
#[test]
fn provenance_metadata_never_panics_on_the_corpus() {
    use verity::provenance::metadata::examine;
    let corpus = corpus();
    let mut failures = Vec::new();
    for case in &corpus.cases {
        for kind in ["image", "video", "framefolder"] {
            let r = catch_unwind(AssertUnwindSafe(|| examine(&case.path, kind)));
            match r {
                Err(_) => failures.push(format!("{} as {kind}: PANICKED", case.name)),
                Ok(e) if e.sections.is_empty() => {
                    failures.push(format!("{} as {kind}: no section at all", case.name))
                }
                Ok(_) => {}
            }
        }
    }
    // The garbage EXIF blocks are named as such.
    for name in ["exif-garbage.jpg", "exif-loop.jpg"] {
        let case = corpus.cases.iter().find(|c| c.name == name).unwrap();
        let e = examine(&case.path, "image");
        let exif = e.sections.iter().find(|s| s.title == "EXIF");
        assert!(
            exif.is_some_and(|s| !s.problems.is_empty()),
            "{name}: {:#?}",
            e.sections
        );
        assert!(e
            .sections
            .iter()
            .any(|s| s.title == "JPEG" && !s.fields.is_empty()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
