//! Media ingest: turns what the analyst hands us (a photo, a video file, a folder of frames, a
//! webcam or a network stream) into a stream of upright RGB frames with timestamps, keyframe
//! flags and a motion measure — the first stage of the pipeline (`media → frames → faces …`).
//!
//! The seed asks for 3–10 FPS sampling and histogram-difference keyframes (SEED §2.1) and for
//! motion-weighted aggregation (SEED §4.3); those live in [`sample`]. Images go through the
//! `image` crate ([`image`]), everything else through FFmpeg ([`video`]), folders of frames
//! through [`folder`].
//!
//! Invariants:
//! - The kind of a file is decided by its content, never by its extension.
//! - [`probe`] reads headers only and refuses oversize or absurd inputs before any pixel is
//!   decoded, so a hostile file cannot make us allocate gigabytes.
//! - A video is never held in memory: frames are decoded one packet at a time and only the
//!   sampled ones are converted to RGB.
//! - Every error names the file and says what is wrong in words an analyst understands.
pub mod folder;
pub mod image;
pub mod jpeg_quality;
pub mod sample;
pub mod seek;
pub mod video;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use self::image::load_image;
pub use sample::{Frame, SampleParams};

/// What kind of source a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    FrameFolder,
    Live,
}

/// What [`probe`] learned from the headers. `width`/`height` are the upright size, i.e. after
/// the EXIF orientation or the video's display rotation has been applied — the size of the
/// frames [`frames`] yields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaInfo {
    pub kind: MediaKind,
    pub width: u32,
    pub height: u32,
    pub duration_s: Option<f64>,
    /// Average frame rate the container declares (videos, live sources).
    pub fps: Option<f64>,
    /// Frame count the container declares (videos), number of image files (frame folders).
    pub frame_count: Option<u64>,
    /// FFmpeg codec name (`h264`, `vp9` …) or the image format (`jpeg`, `png` …).
    pub codec: Option<String>,
    /// FFmpeg demuxer name (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm` …); `folder` for folders.
    pub container: Option<String>,
    /// File size; the sum of the image files for a folder; 0 for live sources.
    pub size_bytes: u64,
    /// Clockwise degrees (0, 90, 180, 270) applied to make the stored pixels upright.
    pub rotation: i32,
    /// Bits per second FFmpeg reports for a video: the video stream's own rate when the file
    /// declares it, else the container's overall rate (audio included, so an over-estimate).
    /// None for images, folders and live sources. Read by `scope` (bits per pixel per frame).
    pub bit_rate: Option<u64>,
}

/// Hard limits on what we accept, checked from headers before decoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest file accepted (default 8 GiB).
    pub max_bytes: u64,
    /// Longest image or frame side in pixels (default 16384).
    pub max_side: u32,
    /// Most pixels in one image or frame (default 100 MP).
    pub max_pixels: u64,
    /// Longest video (default 6 h).
    pub max_duration_s: f64,
    /// Most sampled frames one source may yield (default 20 000).
    pub max_frames: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 << 30,
            max_side: 16_384,
            max_pixels: 100_000_000,
            max_duration_s: 6.0 * 3600.0,
            max_frames: 20_000,
        }
    }
}

impl Limits {
    /// Refuses a declared frame size that is zero or beyond the limits.
    pub(crate) fn check_size(&self, path: &Path, width: u32, height: u32) -> Result<()> {
        if width == 0 || height == 0 {
            return Err(Error::input(
                path,
                format!("declares an empty frame size {width}×{height} (corrupt header)"),
            ));
        }
        if width.max(height) > self.max_side {
            return Err(Error::TooLarge(format!(
                "{}: declared size {width}×{height} exceeds limit {} pixels per side",
                path.display(),
                self.max_side
            )));
        }
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(Error::TooLarge(format!(
                "{}: declared size {width}×{height} ({:.1} MP) exceeds limit {:.1} MP",
                path.display(),
                pixels as f64 / 1e6,
                self.max_pixels as f64 / 1e6
            )));
        }
        Ok(())
    }
}

/// Network URL schemes and device paths read as live sources.
const LIVE_PREFIXES: &[&str] = &[
    "rtsp://",
    "rtsps://",
    "rtmp://",
    "rtmps://",
    "udp://",
    "rtp://",
    "srt://",
    "/dev/video",
];

/// True for `rtsp://…`-style URLs and `/dev/video*` webcams: sources without an end.
pub fn is_live(path: &Path) -> bool {
    path.to_str().is_some_and(|s| {
        LIVE_PREFIXES
            .iter()
            .any(|p| s.to_ascii_lowercase().starts_with(p))
    })
}

/// A source classified and probed once. It keeps what it learned — the description and, for a
/// video or live source, the open FFmpeg input with its decoder — so that sampling decodes
/// from the same open input: one FFmpeg open per source, not one per step.
///
/// What a path is comes from its content: a directory is a frame folder, `rtsp://…` and
/// `/dev/video*` are live, a file is an image if the `image` crate recognises its magic bytes
/// (unless it is a raw MJPEG stream or a GIF: both are read by FFmpeg as videos), else a video
/// if FFmpeg can open it and finds a video stream in it. Headers, sizes and counts are checked
/// against `limits` here, before any pixel is decoded.
pub struct Source {
    path: PathBuf,
    info: MediaInfo,
    opened: Option<video::Opened>,
}

impl Source {
    pub fn open(path: &Path, limits: &Limits) -> Result<Source> {
        let (info, opened) = if is_live(path) {
            let (info, opened) = video::open_live_probed(path, limits)?;
            (info, Some(opened))
        } else if file_metadata(path)?.is_dir() {
            (folder::probe(path, limits)?, None)
        } else {
            match ::image::guess_format(&read_head(path, 64)?) {
                // GIF, still or animated, is FFmpeg's: a video of its frames at their delays
                // (a still GIF is a one-frame video).
                Ok(::image::ImageFormat::Gif) => {
                    let (info, opened) = video::open_probed(path, limits)?;
                    (info, Some(opened))
                }
                Ok(_) => match image::probe(path, limits)? {
                    (info, false) => (info, None),
                    (_, true) => {
                        let (info, opened) = video::open_probed(path, limits)?;
                        (info, Some(opened))
                    }
                },
                Err(_) => {
                    let (info, opened) = video::open_probed(path, limits)?;
                    (info, Some(opened))
                }
            }
        };
        Ok(Source {
            path: path.to_path_buf(),
            info,
            opened,
        })
    }

    pub fn kind(&self) -> MediaKind {
        self.info.kind
    }

    /// What the headers said (upright size, duration, codec …).
    pub fn info(&self) -> &MediaInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open FFmpeg input of a video or live source (for the player's seeks).
    pub(crate) fn into_opened(self) -> Option<video::Opened> {
        self.opened
    }

    /// The sampled frames (see [`frames`]), decoded from the input this source opened.
    pub fn frames<'c>(
        self,
        params: &SampleParams,
        limits: &Limits,
        cancel: &'c AtomicBool,
    ) -> Result<Box<dyn Iterator<Item = Result<Frame>> + Send + 'c>> {
        params.validate()?;
        let path = self.path.as_path();
        let source: Box<dyn Iterator<Item = Result<sample::Sampled>> + Send> =
            match (self.info.kind, self.opened) {
                (MediaKind::Image, _) => {
                    let image = image::load_image(path, limits)?;
                    Box::new(std::iter::once(Ok(sample::Sampled {
                        source_index: 0,
                        pts_s: 0.0,
                        image,
                        skipped: 0,
                    })))
                }
                (MediaKind::FrameFolder, _) => {
                    Box::new(folder::FolderFrames::open(path, params, limits)?)
                }
                (kind @ (MediaKind::Video | MediaKind::Live), Some(opened)) => Box::new(
                    video::VideoFrames::from_opened(
                        path,
                        opened,
                        params,
                        limits,
                        kind == MediaKind::Live,
                    )?,
                ),
                (_, None) => {
                    return Err(Error::Other(format!(
                        "{}: a video source without its open input",
                        path.display()
                    )))
                }
            };
        Ok(Box::new(sample::Annotate::new(
            source, path, params, limits, cancel,
        )))
    }
}

/// What `path` is (see [`Source`]): probes a file or folder; a live URL or webcam is named as
/// such without connecting.
pub fn detect_kind(path: &Path) -> Result<MediaKind> {
    if is_live(path) {
        return Ok(MediaKind::Live);
    }
    Ok(Source::open(path, &Limits::default())?.kind())
}

/// Reads the headers of `path` and describes it (see [`Source::open`]).
pub fn probe(path: &Path, limits: &Limits) -> Result<MediaInfo> {
    Ok(Source::open(path, limits)?.info)
}

/// The sampled frames of any source, upright and annotated (keyframe, motion).
///
/// - image: one frame;
/// - video: sampled by presentation time at `params.fps` (the first decoded frame whose pts is
///   at or past the next sample time, so variable frame rate is handled), display rotation
///   applied;
/// - frame folder: every image file in natural order (`frame2` before `frame10`), `pts_s` =
///   index / `params.fps`; an unreadable file yields an `Err` item and iteration goes on;
/// - live (webcam, RTSP …): like a video; `params.max_frames` or `params.max_seconds` must be
///   set, since a live source never ends by itself.
///
/// Iteration stops after `params.max_frames` frames or `params.max_seconds` of media; it yields
/// `Err(Error::Cancelled)` once `cancel` is set (checked before each frame), and
/// `Err(Error::TooLarge)` if a source gives more than `limits.max_frames` frames. A video that
/// ends before its declared duration yields its frames, then an `Err` saying it is truncated.
pub fn frames<'c>(
    path: &Path,
    params: &SampleParams,
    limits: &Limits,
    cancel: &'c AtomicBool,
) -> Result<Box<dyn Iterator<Item = Result<Frame>> + Send + 'c>> {
    params.validate()?;
    if is_live(path) {
        // Refused before connecting: a live source never ends by itself.
        video::check_live_params(path, params)?;
    }
    Source::open(path, limits)?.frames(params, limits, cancel)
}

/// `std::fs::metadata` (following symlinks) with the error said in words.
pub(crate) fn file_metadata(path: &Path) -> Result<std::fs::Metadata> {
    std::fs::metadata(path).map_err(|e| io_error(path, &e))
}

/// Metadata of a path that must be a regular, non-empty file no larger than `limits.max_bytes`.
pub(crate) fn regular_file(path: &Path, limits: &Limits) -> Result<std::fs::Metadata> {
    let meta = file_metadata(path)?;
    if meta.is_dir() {
        return Err(Error::input(path, "is a folder, not a file"));
    }
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    if meta.len() == 0 {
        return Err(Error::input(path, "file is empty"));
    }
    if meta.len() > limits.max_bytes {
        return Err(Error::TooLarge(format!(
            "{}: file is {} but the limit is {}",
            path.display(),
            human_bytes(meta.len()),
            human_bytes(limits.max_bytes)
        )));
    }
    Ok(meta)
}

/// The first `n` bytes (fewer if the file is shorter) of a regular, non-empty file.
fn read_head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let meta = file_metadata(path)?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    if meta.len() == 0 {
        return Err(Error::input(path, "file is empty"));
    }
    let file = std::fs::File::open(path).map_err(|e| io_error(path, &e))?;
    // Not `n` up front: sniffing a 2 KB JPEG for an MJPEG stream must not allocate 32 MiB.
    let mut head = Vec::with_capacity(n.min(usize::try_from(meta.len()).unwrap_or(n)));
    file.take(n as u64)
        .read_to_end(&mut head)
        .map_err(|e| io_error(path, &e))?;
    Ok(head)
}

fn not_regular(path: &Path) -> Error {
    // Reading a FIFO or a device would block or never end, so we do not even open it.
    Error::input(
        path,
        "is not a regular file (a FIFO, socket or device); save the media to a file first",
    )
}

/// An I/O error on `path` in analyst words.
pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> Error {
    use std::io::ErrorKind;
    // ELOOP has no stable ErrorKind yet.
    const ELOOP: i32 = 40;
    let message = match e.kind() {
        ErrorKind::NotFound => "file or folder not found".to_string(),
        ErrorKind::PermissionDenied => "permission denied: cannot read it".to_string(),
        _ if e.raw_os_error() == Some(ELOOP) => {
            "symbolic link loop: the link points back to itself".to_string()
        }
        ErrorKind::UnexpectedEof => "file ends unexpectedly (truncated)".to_string(),
        _ => format!("cannot read it: {e}"),
    };
    Error::input(path, message)
}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
