//! Player seeking (`verity::media::seek`): videos made with the FFmpeg CLI whose frame `n` is a
//! flat grey of level `5n`, so the decoded picture itself says which frame came back. Covers an
//! H.264 MP4 with B-frames and sparse keyframes, an MJPEG AVI, an MPEG-TS (non-zero start time),
//! a rotated video, frame folders, targets past the end, and unreadable files.
mod common;

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use verity::media::seek::{frame_at, player_info, SeekTarget};
use verity::media::{Limits, MediaKind};

/// 64×48, 25 fps, 2 s = 50 frames; frame n is the grey RGB (5n, 5n, 5n) (black to 245).
const GREY_RAMP: &str = "color=black:s=64x48:r=25:d=2,format=gbrp,geq=r='5*N':g='5*N':b='5*N'";

fn video(name: &str, codec_args: &[&str]) -> PathBuf {
    let mut args = vec!["-f", "lavfi", "-i", GREY_RAMP];
    args.extend_from_slice(codec_args);
    common::ffmpeg_cached(name, &args, &[])
}

fn h264_bframes() -> PathBuf {
    // Keyframes every 12 frames, up to 3 B-frames: decode order ≠ display order.
    video(
        "seek-bframes.mp4",
        &[
            "-c:v", "libx264", "-g", "12", "-bf", "3", "-qp", "2", "-pix_fmt", "yuv420p",
        ],
    )
}

fn mjpeg_avi() -> PathBuf {
    video(
        "seek-mjpeg.avi",
        &["-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p"],
    )
}

fn mpegts() -> PathBuf {
    video(
        "seek-h264.ts",
        &[
            "-c:v", "libx264", "-g", "10", "-bf", "2", "-qp", "2", "-pix_fmt", "yuv420p", "-f",
            "mpegts",
        ],
    )
}

/// Which frame of the ramp an image shows (its mean grey / 5).
fn frame_number(image: &RgbImage) -> i64 {
    let sum: u64 = image.pixels().map(|p| u64::from(p.0[1])).sum();
    let mean = sum as f64 / (image.width() * image.height()) as f64;
    (mean / 5.0).round() as i64
}

fn at(path: &Path, target: SeekTarget) -> verity::media::seek::SeekFrame {
    frame_at(path, target, 5.0, &Limits::default())
        .unwrap_or_else(|e| panic!("{} at {target:?}: {e}", path.display()))
}

/// For every probe time, the returned picture is the frame shown then, and its number matches.
fn assert_seeks_exactly(path: &Path) {
    // In order, backwards, across keyframes, and from the start: each call seeks afresh.
    for n in [0u64, 1, 11, 12, 13, 49, 24, 37, 5, 30] {
        let f = at(path, SeekTarget::Time(n as f64 / 25.0));
        assert_eq!(
            frame_number(&f.image),
            n as i64,
            "{}: t = {n}/25",
            path.display()
        );
        assert_eq!(f.index, n, "{}: index at t = {n}/25", path.display());
        assert!(
            (f.time_s - n as f64 / 25.0).abs() < 1e-3,
            "time {}",
            f.time_s
        );
        assert!(!f.clamped);
        let by_index = at(path, SeekTarget::Index(n));
        assert_eq!(
            frame_number(&by_index.image),
            n as i64,
            "{}: index {n}",
            path.display()
        );
    }
    // Between two frames: the first frame at or after the time.
    let f = at(path, SeekTarget::Time(17.4 / 25.0));
    assert_eq!(frame_number(&f.image), 18);
    assert_eq!(f.index, 18);
}

#[test]
fn h264_with_b_frames_seeks_to_the_exact_frame() {
    let path = h264_bframes();
    assert_seeks_exactly(&path);
    let info = player_info(&path, 5.0, &Limits::default()).unwrap();
    assert_eq!(info.kind, MediaKind::Video);
    assert_eq!((info.width, info.height), (64, 48));
    assert!((info.fps - 25.0).abs() < 1e-9, "fps {}", info.fps);
    assert_eq!(info.frame_count, 50);
    assert!(
        (info.duration_s - 2.0).abs() < 0.05,
        "duration {}",
        info.duration_s
    );
}

/// The seek really jumps: near the end of the B-frame file (keyframes every 12 frames) only the
/// last group of pictures is decoded, not the 48 frames before.
#[test]
fn seeking_decodes_from_the_preceding_keyframe_only() {
    let path = h264_bframes();
    let f = at(&path, SeekTarget::Time(47.0 / 25.0));
    assert_eq!(frame_number(&f.image), 47);
    // Keyframe at 36; decoding 36..=47 plus the reorder delay of up to 3 B-frames.
    assert!(f.decoded <= 16, "{} frames decoded", f.decoded);
    assert!(f.decoded >= 12, "{} frames decoded", f.decoded);
    // From the start, frame 47 takes 48 decodes: what a seek avoids.
    assert!(at(&path, SeekTarget::Time(0.0)).decoded <= 4);
}

#[test]
fn mjpeg_avi_seeks_to_the_exact_frame() {
    let path = mjpeg_avi();
    assert_seeks_exactly(&path);
    assert_eq!(
        player_info(&path, 5.0, &Limits::default())
            .unwrap()
            .frame_count,
        50
    );
}

#[test]
fn mpeg_ts_counts_time_from_the_stream_start() {
    // MPEG-TS streams start at 1.4 s or later; the player counts from the first frame, like
    // the analysis does.
    assert_seeks_exactly(&mpegts());
}

#[test]
fn past_the_end_gives_the_last_frame_and_negative_times_are_refused() {
    let path = h264_bframes();
    for target in [
        SeekTarget::Time(2.0),
        SeekTarget::Time(3600.0),
        SeekTarget::Index(50),
        SeekTarget::Index(u64::MAX / 2),
    ] {
        let f = at(&path, target);
        assert_eq!(frame_number(&f.image), 49, "{target:?}");
        assert_eq!(f.index, 49, "{target:?}");
        assert!(f.clamped, "{target:?}");
    }
    for t in [-0.5, f64::NAN, f64::INFINITY] {
        let e = frame_at(&path, SeekTarget::Time(t), 5.0, &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("times start at 0"), "{e}");
    }
}

#[test]
fn rotated_video_frames_come_out_upright() {
    // FFmpeg 5.1 writes the `rotate` tag as a display matrix only when stream-copying.
    let plain = h264_bframes();
    let path = common::ffmpeg_cached(
        "seek-rot.mp4",
        &[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v",
            "rotate=90",
        ],
        &[],
    );
    let f = at(&path, SeekTarget::Time(0.4));
    assert_eq!((f.image.width(), f.image.height()), (48, 64));
    assert_eq!(frame_number(&f.image), 10);
    let info = player_info(&path, 5.0, &Limits::default()).unwrap();
    assert_eq!((info.width, info.height), (48, 64));
}

#[test]
fn frame_folder_gives_the_nth_image() {
    let dir = tempfile::tempdir().unwrap();
    // Natural order: frame10 is the last, not the third.
    for n in [0u8, 1, 2, 3, 10] {
        RgbImage::from_pixel(32, 24, Rgb([n * 5; 3]))
            .save(dir.path().join(format!("frame{n}.png")))
            .unwrap();
    }
    let info = player_info(dir.path(), 5.0, &Limits::default()).unwrap();
    assert_eq!(info.kind, MediaKind::FrameFolder);
    assert_eq!(info.frame_count, 5);
    assert!((info.duration_s - 1.0).abs() < 1e-9);
    let f = at(dir.path(), SeekTarget::Index(3));
    assert_eq!((frame_number(&f.image), f.index, f.clamped), (3, 3, false));
    // At 5 fps, 0.4 s is the third file, 0.5 s the first at or after it (frame 3).
    assert_eq!(at(dir.path(), SeekTarget::Time(0.4)).index, 2);
    assert_eq!(at(dir.path(), SeekTarget::Time(0.5)).index, 3);
    let last = at(dir.path(), SeekTarget::Index(9));
    assert_eq!(
        (frame_number(&last.image), last.index, last.clamped),
        (10, 4, true)
    );
}

#[test]
fn unreadable_inputs_give_readable_errors() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits::default();
    // An MP4 cut before its index (moov) and random bytes: neither opens.
    let whole = std::fs::read(h264_bframes()).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &whole[..whole.len() / 3]).unwrap();
    let garbage = dir.path().join("garbage.avi");
    std::fs::write(
        &garbage,
        (0..50_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    for path in [&cut, &garbage] {
        let e = frame_at(path, SeekTarget::Time(0.5), 5.0, &limits)
            .unwrap_err()
            .to_string();
        assert!(e.contains(path.to_str().unwrap()), "names the file: {e}");
        assert!(
            e.contains("not an image or video") || e.contains("corrupt"),
            "{e}"
        );
        assert!(player_info(path, 5.0, &limits).is_err());
    }
    // A still image and a missing file.
    let e = frame_at(&common::astronaut(), SeekTarget::Index(0), 5.0, &limits)
        .unwrap_err()
        .to_string();
    assert!(e.contains("still image"), "{e}");
    let e = frame_at(
        &dir.path().join("gone.mp4"),
        SeekTarget::Index(0),
        5.0,
        &limits,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not found"), "{e}");
    // A folder without images.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = frame_at(&empty, SeekTarget::Index(0), 5.0, &limits)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no image files"), "{e}");
}
