//! Media ingest on real files: videos in the containers and codecs analysts receive (made here
//! with the FFmpeg CLI from the astronaut photo), stills in the five supported formats with
//! EXIF orientation, 16-bit, grey, alpha and CMYK, frame folders, a live UDP stream, and the
//! cancel flag.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use image::{ImageBuffer, Luma, Rgb, RgbImage, Rgba};
use verity::media::{self, Frame, Limits, MediaKind, SampleParams};
use verity::Error;

/// A pan over the astronaut photo at 160×120, 25 fps, 2 s.
const PAN: &str = "crop=256:192:'64+t*40':'64+t*30',scale=160:120,setsar=1";

/// Runs `ffmpeg <args> <out>` once per distinct argument list (cached in
/// `target/fixtures/media/`). Inputs are given as `{astronaut}` / `{marker}` placeholders.
fn ffmpeg(name: &str, args: &[&str]) -> PathBuf {
    common::ffmpeg_cached(name, args, &[("{marker}", &marker_png())])
}

/// 160×120 blue picture with a red block in the top-left corner: shows orientation.
fn marker_image() -> RgbImage {
    RgbImage::from_fn(160, 120, |x, y| {
        if x < 40 && y < 30 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        }
    })
}

fn marker_png() -> PathBuf {
    let path = common::repo_root().join("target/fixtures/media/marker.png");
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        marker_image().save(&path).unwrap();
    }
    path
}

/// Where the red block is: (left?, top?).
fn red_corner(img: &RgbImage) -> (bool, bool) {
    let (w, h) = img.dimensions();
    let mut best = (0u64, (false, false));
    for (left, top) in [(true, true), (false, true), (true, false), (false, false)] {
        let x0 = if left { 0 } else { w - 10 };
        let y0 = if top { 0 } else { h - 10 };
        let red: u64 = (0..10)
            .flat_map(|dy| (0..10).map(move |dx| (dx, dy)))
            .map(|(dx, dy)| {
                let p = img.get_pixel(x0 + dx, y0 + dy);
                u64::from(p[0]).saturating_sub(u64::from(p[2]))
            })
            .sum();
        if red > best.0 {
            best = (red, (left, top));
        }
    }
    best.1
}

fn pan(name: &str, codec_args: &[&str]) -> PathBuf {
    let mut args = vec![
        "-loop",
        "1",
        "-framerate",
        "25",
        "-i",
        "{astronaut}",
        "-vf",
        PAN,
        "-t",
        "2",
    ];
    args.extend_from_slice(codec_args);
    ffmpeg(name, &args)
}

/// The videos of the container/codec matrix: (file, FFmpeg codec name).
fn video_matrix() -> Vec<(PathBuf, &'static str)> {
    let x264 = ["-pix_fmt", "yuv420p", "-c:v", "libx264"];
    vec![
        (pan("pan.mp4", &x264), "h264"),
        (pan("pan.mkv", &x264), "h264"),
        (
            pan(
                "pan.webm",
                &[
                    "-pix_fmt",
                    "yuv420p",
                    "-c:v",
                    "libvpx-vp9",
                    "-deadline",
                    "realtime",
                    "-cpu-used",
                    "8",
                    "-b:v",
                    "200k",
                ],
            ),
            "vp9",
        ),
        (
            pan(
                "pan.mov",
                &[
                    "-pix_fmt",
                    "yuv420p",
                    "-c:v",
                    "libx265",
                    "-tag:v",
                    "hvc1",
                    "-x265-params",
                    "log-level=error",
                ],
            ),
            "hevc",
        ),
        (
            pan(
                "pan.avi",
                &["-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", "5"],
            ),
            "mjpeg",
        ),
        (
            pan(
                "pan.ts",
                &["-pix_fmt", "yuv420p", "-c:v", "mpeg2video", "-q:v", "5"],
            ),
            "mpeg2video",
        ),
        (
            pan(
                "pan.h264",
                &["-pix_fmt", "yuv420p", "-c:v", "libx264", "-f", "h264"],
            ),
            "h264",
        ),
        (
            pan(
                "pan.mjpeg",
                &[
                    "-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg",
                ],
            ),
            "mjpeg",
        ),
        // Variable frame rate: 30 fps for the first second, 10 fps after.
        (
            ffmpeg(
                "vfr.mp4",
                &[
                    "-loop",
                    "1",
                    "-framerate",
                    "30",
                    "-i",
                    "{astronaut}",
                    "-vf",
                    &format!("{PAN},select='lt(t\\,1)+not(mod(n\\,3))'"),
                    "-vsync",
                    "vfr",
                    "-t",
                    "2",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:v",
                    "libx264",
                ],
            ),
            "h264",
        ),
    ]
}

fn params(fps: f32) -> SampleParams {
    SampleParams {
        fps,
        ..SampleParams::default()
    }
}

fn all_frames(path: &Path, params: &SampleParams) -> Vec<Frame> {
    let cancel = AtomicBool::new(false);
    media::frames(path, params, &Limits::default(), &cancel)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn videos_sample_duration_times_fps_frames_in_every_container() {
    for (path, codec) in video_matrix() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            media::detect_kind(&path).unwrap(),
            MediaKind::Video,
            "{name}"
        );
        let info = media::probe(&path, &Limits::default()).unwrap();
        assert_eq!(
            (info.kind, info.width, info.height),
            (MediaKind::Video, 160, 120),
            "{name}"
        );
        assert_eq!(info.codec.as_deref(), Some(codec), "{name}");
        assert_eq!(info.rotation, 0, "{name}");
        assert!(info.size_bytes > 0 && info.container.is_some(), "{name}");
        for fps in [3.0f32, 5.0, 10.0] {
            let frames = all_frames(&path, &params(fps));
            let expected = 2.0 * f64::from(fps);
            assert!(
                (frames.len() as f64 - expected).abs() <= 1.0,
                "{name} at {fps} fps: {} frames, expected {expected}",
                frames.len()
            );
            assert_eq!(frames[0].pts_s, 0.0, "{name}");
            for (i, f) in frames.iter().enumerate() {
                assert_eq!(f.index, i, "{name}");
                assert_eq!(f.image.dimensions(), (160, 120), "{name}");
            }
            for w in frames.windows(2) {
                assert!(
                    w[1].pts_s > w[0].pts_s,
                    "{name}: pts not increasing {} → {}",
                    w[0].pts_s,
                    w[1].pts_s
                );
                assert!(w[1].source_index > w[0].source_index, "{name}");
                // Even in time: no gap longer than a sample period plus a source frame period
                // (the VFR file's slowest stretch is 10 fps).
                let gap = w[1].pts_s - w[0].pts_s;
                assert!(
                    gap < 1.0 / f64::from(fps) + 0.1 + 1e-6,
                    "{name}: gap {gap} at {fps} fps"
                );
            }
            let last = frames.last().unwrap().pts_s;
            assert!(
                last > 2.0 - 1.0 / f64::from(fps) - 0.15 && last < 2.0,
                "{name}: last pts {last}"
            );
        }
    }
}

#[test]
fn decoded_frames_match_ffmpeg_cli() {
    // Our RGB conversion against the FFmpeg CLI's own decode of the same frame (t = 1.0 s).
    let video = pan("pan.mp4", &["-pix_fmt", "yuv420p", "-c:v", "libx264"]);
    let reference = ffmpeg(
        "pan-1s.png",
        &[
            "-i",
            video.to_str().unwrap(),
            "-vf",
            "select='eq(n\\,25)'",
            "-frames:v",
            "1",
        ],
    );
    let reference = image::open(reference).unwrap().to_rgb8();
    let frames = all_frames(&video, &params(5.0));
    let ours = frames
        .iter()
        .find(|f| f.source_index == 25)
        .expect("frame 25 sampled at 5 fps");
    assert!((ours.pts_s - 1.0).abs() < 1e-6);
    let diff = mean_abs_diff(&ours.image, &reference);
    assert!(diff < 3.0, "mean |Δ| to the FFmpeg CLI decode = {diff}");
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

#[test]
fn rotated_phone_videos_come_out_upright_like_ffmpeg_cli() {
    // FFmpeg 5.1 turns the `rotate` tag into a display matrix (`-display_rotation` only exists
    // from FFmpeg 6); the CLI's autorotated decode is the reference for "upright".
    let plain = ffmpeg(
        "marker.mp4",
        &[
            "-loop",
            "1",
            "-framerate",
            "25",
            "-i",
            "{marker}",
            "-t",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ],
    );
    for (tag, clockwise) in [("90", 270), ("180", 180), ("270", 90)] {
        let rotated = ffmpeg(
            &format!("marker-rotate{tag}.mp4"),
            &[
                "-i",
                plain.to_str().unwrap(),
                "-c",
                "copy",
                "-metadata:s:v",
                &format!("rotate={tag}"),
            ],
        );
        let cli = ffmpeg(
            &format!("marker-rotate{tag}-cli.png"),
            &["-i", rotated.to_str().unwrap(), "-frames:v", "1"],
        );
        let cli = image::open(cli).unwrap().to_rgb8();
        let info = media::probe(&rotated, &Limits::default()).unwrap();
        assert_eq!(info.rotation, clockwise, "rotate={tag}");
        let upright = if clockwise == 180 {
            (160, 120)
        } else {
            (120, 160)
        };
        assert_eq!((info.width, info.height), upright, "rotate={tag}");
        let frames = all_frames(&rotated, &params(5.0));
        assert_eq!(frames.len(), 5);
        let first = &frames[0].image;
        assert_eq!(first.dimensions(), upright, "rotate={tag}");
        assert_eq!(
            red_corner(first),
            red_corner(&cli),
            "rotate={tag}: red block in another corner than FFmpeg's"
        );
        assert!(mean_abs_diff(first, &cli) < 3.0, "rotate={tag}");
    }
    // The unrotated original: red block top-left.
    assert_eq!(
        red_corner(&all_frames(&plain, &params(5.0))[0].image),
        (true, true)
    );
}

#[test]
fn non_square_pixels_are_stretched_to_square() {
    let video = ffmpeg(
        "sar2.mkv",
        &[
            "-loop",
            "1",
            "-framerate",
            "25",
            "-i",
            "{marker}",
            "-vf",
            "scale=80:120,setsar=2",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let info = media::probe(&video, &Limits::default()).unwrap();
    assert_eq!((info.width, info.height), (160, 120));
    let frames = all_frames(&video, &params(5.0));
    assert_eq!(frames[0].image.dimensions(), (160, 120));
    assert_eq!(red_corner(&frames[0].image), (true, true));
}

#[test]
fn keyframes_at_the_scene_cut_and_nowhere_else() {
    let video = ffmpeg(
        "cut.mp4",
        &[
            "-loop", "1", "-framerate", "25", "-t", "1", "-i", "{astronaut}",
            "-loop", "1", "-framerate", "25", "-t", "1", "-i", "{astronaut}",
            "-filter_complex",
            "[0]crop=256:192:'64+t*40':64,scale=160:120,setsar=1[a];[1]negate,hue=h=120,crop=256:192:'64+t*40':240,scale=160:120,setsar=1[b];[a][b]concat=n=2:v=1[v]",
            "-map", "[v]", "-pix_fmt", "yuv420p", "-c:v", "libx264",
        ],
    );
    for fps in [3.0f32, 5.0, 10.0] {
        let frames = all_frames(&video, &params(fps));
        let keys: Vec<f64> = frames
            .iter()
            .filter(|f| f.keyframe)
            .map(|f| f.pts_s)
            .collect();
        let first_after_cut = frames.iter().find(|f| f.pts_s >= 1.0 - 1e-6).unwrap().pts_s;
        assert_eq!(keys, vec![0.0, first_after_cut], "keyframes at {fps} fps");
        // Motion peaks at the cut too.
        let cut = frames.iter().find(|f| f.pts_s == first_after_cut).unwrap();
        let others = frames
            .iter()
            .filter(|f| f.pts_s != first_after_cut)
            .map(|f| f.motion);
        assert!(
            others.fold(0.0f32, f32::max) < cut.motion,
            "motion at {fps} fps"
        );
    }
    // A threshold of 0 makes every frame a keyframe; 1 only the first.
    let every = all_frames(
        &video,
        &SampleParams {
            keyframe_threshold: 0.0,
            ..params(5.0)
        },
    );
    assert!(every.iter().all(|f| f.keyframe));
    let first = all_frames(
        &video,
        &SampleParams {
            keyframe_threshold: 1.0,
            ..params(5.0)
        },
    );
    assert_eq!(first.iter().filter(|f| f.keyframe).count(), 1);
}

#[test]
fn motion_is_higher_for_moving_than_static_video() {
    let moving = pan("pan.mp4", &["-pix_fmt", "yuv420p", "-c:v", "libx264"]);
    let still = ffmpeg(
        "still.mp4",
        &[
            "-loop",
            "1",
            "-framerate",
            "25",
            "-i",
            "{astronaut}",
            "-vf",
            "scale=160:120",
            "-t",
            "2",
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
        ],
    );
    let mean = |frames: &[Frame]| {
        assert_eq!(frames[0].motion, 0.0);
        frames[1..].iter().map(|f| f.motion).sum::<f32>() / (frames.len() - 1) as f32
    };
    let (m, s) = (
        mean(&all_frames(&moving, &params(5.0))),
        mean(&all_frames(&still, &params(5.0))),
    );
    eprintln!("mean motion: moving {m:.4}, static {s:.4}");
    assert!(m > 0.01 && m > 5.0 * s, "moving {m}, static {s}");
    assert!(all_frames(&still, &params(5.0))
        .iter()
        .skip(1)
        .all(|f| !f.keyframe));
}

#[test]
fn max_frames_and_max_seconds_stop_early() {
    let video = pan("pan.mp4", &["-pix_fmt", "yuv420p", "-c:v", "libx264"]);
    let frames = all_frames(
        &video,
        &SampleParams {
            max_frames: Some(3),
            ..params(10.0)
        },
    );
    assert_eq!(frames.len(), 3);
    let frames = all_frames(
        &video,
        &SampleParams {
            max_seconds: Some(1.0),
            ..params(10.0)
        },
    );
    assert_eq!(frames.len(), 10);
    assert!(frames.iter().all(|f| f.pts_s < 1.0));
    // A cap below what the video needs is refused before decoding.
    let limits = Limits {
        max_frames: 5,
        ..Limits::default()
    };
    let cancel = AtomicBool::new(false);
    let err = media::frames(&video, &params(10.0), &limits, &cancel)
        .err()
        .expect("over the frame cap");
    assert!(
        matches!(err, Error::TooLarge(_)) && err.to_string().contains("limit of 5"),
        "{err}"
    );
}

#[test]
fn cancel_flag_stops_iteration() {
    let video = pan("pan.mp4", &["-pix_fmt", "yuv420p", "-c:v", "libx264"]);
    let cancel = AtomicBool::new(false);
    let mut it = media::frames(&video, &params(10.0), &Limits::default(), &cancel).unwrap();
    assert!(it.next().unwrap().is_ok());
    assert!(it.next().unwrap().is_ok());
    cancel.store(true, Ordering::Relaxed);
    assert!(matches!(it.next(), Some(Err(Error::Cancelled))));
    assert!(it.next().is_none());
}

#[test]
fn frame_iterator_runs_on_another_thread() {
    // The pipeline's worker owns the iterator; it must be Send.
    let video = pan("pan.mp4", &["-pix_fmt", "yuv420p", "-c:v", "libx264"]);
    let cancel = AtomicBool::new(false);
    let it = media::frames(&video, &params(5.0), &Limits::default(), &cancel).unwrap();
    let n = std::thread::scope(|s| {
        s.spawn(move || it.filter(|f| f.is_ok()).count())
            .join()
            .unwrap()
    });
    assert_eq!(n, 10);
}

// ---------------------------------------------------------------------------------------------
// Stills

fn astronaut_small() -> RgbImage {
    let img = image::open(common::astronaut()).unwrap().to_rgb8();
    image::imageops::resize(&img, 160, 120, image::imageops::FilterType::Triangle)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn images_in_all_five_formats_load() {
    let dir = tempdir();
    let source = astronaut_small();
    for (name, lossless) in [
        ("a.png", true),
        ("a.bmp", true),
        ("a.tiff", true),
        ("a.webp", true),
        ("a.jpg", false),
    ] {
        let path = dir.path().join(name);
        source.save(&path).unwrap();
        assert_eq!(
            media::detect_kind(&path).unwrap(),
            MediaKind::Image,
            "{name}"
        );
        let info = media::probe(&path, &Limits::default()).unwrap();
        assert_eq!(
            (info.width, info.height, info.rotation),
            (160, 120, 0),
            "{name}"
        );
        let img = media::load_image(&path, &Limits::default()).unwrap();
        let diff = mean_abs_diff(&img, &source);
        assert!(
            if lossless { diff == 0.0 } else { diff < 4.0 },
            "{name}: mean |Δ| {diff}"
        );
        let frames = all_frames(&path, &params(5.0));
        assert_eq!(frames.len(), 1);
        assert!(frames[0].keyframe && frames[0].motion == 0.0 && frames[0].pts_s == 0.0);
        assert_eq!(frames[0].image, img);
    }
}

/// A JPEG with an EXIF APP1 segment carrying only the Orientation tag, written by hand (no
/// exiftool on the build machine).
fn jpeg_with_orientation(img: &RgbImage, orientation: u16) -> Vec<u8> {
    let mut jpeg = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut jpeg),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec(); // big-endian TIFF header, IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn exif_orientation_is_applied() {
    let dir = tempdir();
    // EXIF 6 = turn 90° clockwise to view, 3 = 180°, 8 = 270°; 1 = as stored.
    for (orientation, rotation, size, corner) in [
        (1, 0, (160, 120), (true, true)),
        (6, 90, (120, 160), (false, true)),
        (3, 180, (160, 120), (false, false)),
        (8, 270, (120, 160), (true, false)),
    ] {
        let path = dir.path().join(format!("o{orientation}.jpg"));
        std::fs::write(&path, jpeg_with_orientation(&marker_image(), orientation)).unwrap();
        let info = media::probe(&path, &Limits::default()).unwrap();
        assert_eq!(
            (info.rotation, info.width, info.height),
            (rotation, size.0, size.1),
            "EXIF {orientation}"
        );
        let img = media::load_image(&path, &Limits::default()).unwrap();
        assert_eq!(img.dimensions(), size, "EXIF {orientation}");
        assert_eq!(red_corner(&img), corner, "EXIF {orientation}");
    }
}

#[test]
fn sixteen_bit_grey_and_alpha_images_convert_to_rgb8() {
    let dir = tempdir();
    // 16-bit RGB: rounded to the nearest 8-bit value.
    let deep: ImageBuffer<Rgb<u16>, Vec<u16>> = ImageBuffer::from_fn(64, 48, |x, y| {
        Rgb([(x * 1000) as u16, (y * 1300) as u16, 0xFFFF])
    });
    let path = dir.path().join("deep.png");
    deep.save(&path).unwrap();
    let img = media::load_image(&path, &Limits::default()).unwrap();
    for (x, y, p) in img.enumerate_pixels() {
        let expect = |v: u32| (f64::from(v) / 65535.0 * 255.0).round() as i32;
        assert!(
            (i32::from(p[0]) - expect(x * 1000)).abs() <= 1
                && (i32::from(p[1]) - expect(y * 1300)).abs() <= 1
        );
        assert_eq!(p[2], 255);
    }
    // Grey (8 and 16 bit): replicated to three equal channels.
    let grey: ImageBuffer<Luma<u8>, Vec<u8>> =
        ImageBuffer::from_fn(64, 48, |x, _| Luma([(x * 4) as u8]));
    let path = dir.path().join("grey.png");
    grey.save(&path).unwrap();
    let img = media::load_image(&path, &Limits::default()).unwrap();
    assert!(img
        .enumerate_pixels()
        .all(|(x, _, p)| p.0 == [(x * 4) as u8; 3]));
    let grey16: ImageBuffer<Luma<u16>, Vec<u16>> = ImageBuffer::from_pixel(8, 8, Luma([0x8000]));
    let path = dir.path().join("grey16.png");
    grey16.save(&path).unwrap();
    assert!(media::load_image(&path, &Limits::default())
        .unwrap()
        .pixels()
        .all(|p| p.0 == [128; 3]));
    // RGBA: composited on black.
    let rgba: ImageBuffer<Rgba<u8>, Vec<u8>> = ImageBuffer::from_fn(2, 1, |x, _| {
        if x == 0 {
            Rgba([200, 100, 50, 128])
        } else {
            Rgba([255, 255, 255, 0])
        }
    });
    for name in ["rgba.png", "rgba.webp", "rgba.tiff"] {
        let path = dir.path().join(name);
        rgba.save(&path).unwrap();
        let img = media::load_image(&path, &Limits::default()).unwrap();
        assert_eq!(img.get_pixel(0, 0).0, [100, 50, 25], "{name}");
        assert_eq!(img.get_pixel(1, 0).0, [0, 0, 0], "{name}");
    }
}

#[test]
fn cmyk_jpeg_is_converted_to_rgb() {
    let dir = tempdir();
    let png = dir.path().join("colours.png");
    // Left half red, right half green.
    RgbImage::from_fn(64, 32, |x, _| {
        if x < 32 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 200, 20])
        }
    })
    .save(&png)
    .unwrap();
    let cmyk = dir.path().join("cmyk.jpg");
    let status = Command::new("convert")
        .arg(&png)
        .args(["-colorspace", "CMYK", "-quality", "95"])
        .arg(&cmyk)
        .stderr(Stdio::null())
        .status()
        .expect("ImageMagick `convert` is needed for the CMYK test");
    assert!(status.success());
    let identify = Command::new("identify")
        .args(["-format", "%[colorspace]"])
        .arg(&cmyk)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&identify.stdout),
        "CMYK",
        "ImageMagick did not write CMYK"
    );
    let img = media::load_image(&cmyk, &Limits::default()).unwrap();
    let (red, green) = (img.get_pixel(8, 16), img.get_pixel(56, 16));
    eprintln!("CMYK JPEG decoded: red {:?}, green {:?}", red.0, green.0);
    assert!(
        red[0] > 180 && red[1] < 70 && red[2] < 70,
        "red came out {:?}",
        red.0
    );
    assert!(
        green[1] > 160 && green[0] < 70 && green[2] < 70,
        "green came out {:?}",
        green.0
    );
}

#[test]
fn raw_mjpeg_stream_is_a_video_not_a_photo() {
    let path = pan(
        "pan.mjpeg",
        &[
            "-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", "5", "-f", "mjpeg",
        ],
    );
    assert_eq!(media::detect_kind(&path).unwrap(), MediaKind::Video);
    // …while a JPEG with trailing data that is not another JPEG stays a photo.
    let dir = tempdir();
    let photo = dir.path().join("motion-photo.jpg");
    let mut bytes = Vec::new();
    astronaut_small()
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    bytes.extend_from_slice(b"\x00\x00\x00\x18ftypmp42 trailing video data");
    std::fs::write(&photo, bytes).unwrap();
    assert_eq!(media::detect_kind(&photo).unwrap(), MediaKind::Image);
    assert_eq!(
        media::load_image(&photo, &Limits::default())
            .unwrap()
            .dimensions(),
        (160, 120)
    );
}

// ---------------------------------------------------------------------------------------------
// Frame folders

#[test]
fn frame_folder_is_read_in_natural_order() {
    let dir = tempdir();
    let colours = [
        (1, [255, 0, 0]),
        (2, [0, 255, 0]),
        (10, [0, 0, 255]),
        (11, [255, 255, 0]),
    ];
    for (n, c) in colours {
        RgbImage::from_pixel(32, 24, Rgb(c))
            .save(dir.path().join(format!("frame{n}.png")))
            .unwrap();
    }
    // Junk an export folder collects; none of it is a frame.
    std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
    std::fs::write(dir.path().join(".DS_Store"), [0u8; 16]).unwrap();
    std::fs::write(dir.path().join("._frame3.png"), [0u8; 16]).unwrap();
    std::fs::create_dir(dir.path().join("sub.png")).unwrap();

    assert_eq!(
        media::detect_kind(dir.path()).unwrap(),
        MediaKind::FrameFolder
    );
    let info = media::probe(dir.path(), &Limits::default()).unwrap();
    assert_eq!(
        (info.kind, info.width, info.height, info.frame_count),
        (MediaKind::FrameFolder, 32, 24, Some(4))
    );
    let frames = all_frames(dir.path(), &params(5.0));
    let got: Vec<[u8; 3]> = frames.iter().map(|f| f.image.get_pixel(0, 0).0).collect();
    assert_eq!(got, colours.map(|(_, c)| c).to_vec());
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.index, f.source_index), (i, i as u64));
        assert!((f.pts_s - i as f64 / 5.0).abs() < 1e-9);
    }
    // Every colour change is a cut.
    assert!(frames.iter().all(|f| f.keyframe));
}

#[test]
fn frame_folder_goes_on_past_a_broken_file() {
    let dir = tempdir();
    astronaut_small().save(dir.path().join("f1.png")).unwrap();
    std::fs::write(dir.path().join("f2.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap();
    astronaut_small().save(dir.path().join("f3.png")).unwrap();
    let cancel = AtomicBool::new(false);
    let items: Vec<_> = media::frames(dir.path(), &params(5.0), &Limits::default(), &cancel)
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[2].is_ok());
    let err = items[1].as_ref().err().unwrap().to_string();
    assert!(err.contains("f2.png") && err.contains("PNG"), "{err}");
    assert_eq!(items[2].as_ref().unwrap().source_index, 2);
}

// ---------------------------------------------------------------------------------------------
// Live

#[test]
fn live_udp_stream_yields_frames_until_the_frame_limit() {
    // A camera-like sender: real-time MPEG-TS over UDP for up to 20 s.
    let stream = common::udp_stream(
        &[
            "-f".as_ref(),
            "lavfi".as_ref(),
            "-i".as_ref(),
            "testsrc=size=160x120:rate=25".as_ref(),
        ],
        20,
    );
    let url = stream.url.clone();
    let path = PathBuf::from(&url);
    assert_eq!(media::detect_kind(&path).unwrap(), MediaKind::Live);
    // Without a frame or time limit a live source is refused.
    let cancel = AtomicBool::new(false);
    let err = media::frames(&path, &params(5.0), &Limits::default(), &cancel)
        .err()
        .unwrap();
    assert!(err.to_string().contains("never ends"), "{err}");
    let result = media::frames(
        &path,
        &SampleParams {
            max_frames: Some(6),
            ..params(5.0)
        },
        &Limits::default(),
        &cancel,
    )
    .and_then(|it| it.collect::<Result<Vec<_>, _>>());
    drop(stream);
    let frames = result.unwrap();
    assert_eq!(frames.len(), 6);
    assert!(frames.iter().all(|f| f.image.dimensions() == (160, 120)));
    for w in frames.windows(2) {
        let gap = w[1].pts_s - w[0].pts_s;
        assert!(
            (gap - 0.2).abs() < 0.05,
            "live samples {gap} s apart at 5 fps"
        );
    }
}

/// Bytes this thread has read through `read(2)` so far (Linux: `/proc/thread-self/io`), or
/// None where the kernel does not say.
fn thread_rchar() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn probing_a_large_image_reads_its_headers_and_decoding_reads_it_once() {
    if thread_rchar().is_none() {
        eprintln!("SKIP: /proc/thread-self/io is not available on this system");
        return;
    }
    // 3000×2400 of noise: a ~21 MB PNG that no compressor shrinks.
    let path = common::repo_root().join("target/fixtures/media/noise-3000x2400.png");
    if !path.exists() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut x: u32 = 0x2545_f491;
        let img = RgbImage::from_fn(3000, 2400, |_, _| {
            let mut px = [0u8; 3];
            for c in &mut px {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *c = (x >> 24) as u8;
            }
            Rgb(px)
        });
        let tmp = path.with_extension("tmp.png");
        img.save(&tmp).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 15 << 20, "fixture is {len} bytes");
    let limits = Limits::default();

    let before = thread_rchar().unwrap();
    let info = media::probe(&path, &limits).unwrap();
    let probed = thread_rchar().unwrap() - before;
    assert_eq!((info.width, info.height, info.size_bytes), (3000, 2400, len));
    assert!(
        probed < 2 << 20,
        "probe read {probed} bytes of a {len}-byte file: it should read the headers only"
    );

    let before = thread_rchar().unwrap();
    let img = media::load_image(&path, &limits).unwrap();
    let decoded = thread_rchar().unwrap() - before;
    assert_eq!(img.dimensions(), (3000, 2400));
    assert!(
        decoded < len + (2 << 20),
        "decoding read {decoded} bytes of a {len}-byte file: once is enough"
    );
}
