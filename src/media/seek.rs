//! Random access for the case view's player: any frame of a stored video or frame folder,
//! not only the sampled ones.
//!
//! A webview cannot play most CCTV containers (AVI, MPEG-TS, raw H.264, MJPEG), so the player
//! asks for single frames decoded here. The approach is the one of FFmpeg's `ffplay` and of
//! `ffmpeg -ss` (input seeking): `avformat_seek_file` to the last keyframe at or before the
//! target, then decode forward and keep the first frame whose presentation time reaches the
//! target. Decoding from a keyframe is what makes it exact with B-frames (frames decode out of
//! order; only their `best_effort_timestamp` tells which one is shown when).
//!
//! Times and frame numbers agree with the analysis ([`super::frames`]): time 0 is the stream's
//! start, frame `n` is the frame shown at `n / fps`. Where a container cannot seek (raw
//! elementary streams, damaged indexes) or the seek lands past the target, decoding restarts
//! from the beginning, which is slow on long files but always right.
use std::path::Path;

use ffmpeg_next as ff;
use image::RgbImage;
use serde::Serialize;

use super::video::{self, Stream};
use super::{folder, Limits, MediaKind};
use crate::{Error, Result};

/// Which frame to show: a time in seconds from the start, or a frame number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SeekTarget {
    Time(f64),
    Index(u64),
}

/// What the player needs to draw its scrubber.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlayerInfo {
    pub kind: MediaKind,
    /// Seconds from the first to the end of the last frame (frame folders: frames / fps).
    pub duration_s: f64,
    /// Frames per second (declared by the video; the sampling rate for frame folders).
    pub fps: f64,
    pub frame_count: u64,
    /// Upright size of the frames.
    pub width: u32,
    pub height: u32,
}

/// A decoded frame and where it sits.
#[derive(Debug, Clone)]
pub struct SeekFrame {
    /// Frame number (`round(time × fps)`; the file's position for a folder).
    pub index: u64,
    /// Presentation time in seconds from the start of the stream.
    pub time_s: f64,
    /// The target lay past the last frame, so the last frame was returned.
    pub clamped: bool,
    /// Frames decoded to serve this request (1 for a folder): a measure of the seek's cost,
    /// small after a keyframe seek, the whole prefix when decoding had to start over.
    pub decoded: u64,
    pub image: RgbImage,
}

/// Duration, frame rate and frame count of a video or frame folder. `folder_fps` is the rate
/// a folder's frames are played at (the analysis sampling rate).
pub fn player_info(path: &Path, folder_fps: f64, limits: &Limits) -> Result<PlayerInfo> {
    let source = super::Source::open(path, limits)?;
    let info = source.info();
    match info.kind {
        MediaKind::Video => {
            let fps = info.fps.filter(|f| f.is_finite() && *f > 0.0).unwrap_or(25.0);
            let duration_s = info.duration_s.unwrap_or(0.0).max(0.0);
            let frame_count = info
                .frame_count
                .unwrap_or_else(|| (duration_s * fps).round().max(1.0) as u64);
            Ok(PlayerInfo {
                kind: MediaKind::Video,
                duration_s,
                fps,
                frame_count,
                width: info.width,
                height: info.height,
            })
        }
        MediaKind::FrameFolder => {
            let fps = if folder_fps.is_finite() && folder_fps > 0.0 {
                folder_fps
            } else {
                1.0
            };
            let n = info.frame_count.unwrap_or(0);
            Ok(PlayerInfo {
                kind: MediaKind::FrameFolder,
                duration_s: n as f64 / fps,
                fps,
                frame_count: n,
                width: info.width,
                height: info.height,
            })
        }
        kind => Err(not_playable(path, kind)),
    }
}

/// The frame of a video or frame folder at `target`: the frame shown at that time (the first
/// frame at or after it), or the `n`-th frame. A target past the end gives the last frame with
/// `clamped` set; a negative or non-finite time is an error.
pub fn frame_at(
    path: &Path,
    target: SeekTarget,
    folder_fps: f64,
    limits: &Limits,
) -> Result<SeekFrame> {
    if let SeekTarget::Time(t) = target {
        if !t.is_finite() || t < 0.0 {
            return Err(Error::input(
                path,
                format!("cannot show the frame at {t} s: times start at 0"),
            ));
        }
    }
    let source = super::Source::open(path, limits)?;
    match source.kind() {
        MediaKind::Video => video_frame(path, source, target, limits),
        MediaKind::FrameFolder => folder_frame(path, target, folder_fps, limits),
        kind => Err(not_playable(path, kind)),
    }
}

fn not_playable(path: &Path, kind: MediaKind) -> Error {
    if kind == MediaKind::Live {
        Error::input(
            path,
            "is a live source: record it first (its recording can be played)",
        )
    } else {
        Error::input(path, "is a still image: there is no timeline to play")
    }
}

fn folder_frame(dir: &Path, target: SeekTarget, fps: f64, limits: &Limits) -> Result<SeekFrame> {
    let fps = if fps.is_finite() && fps > 0.0 {
        fps
    } else {
        1.0
    };
    let files = folder::list_images(dir)?;
    let last = files.len().checked_sub(1).ok_or_else(|| {
        Error::input(
            dir,
            "folder contains no image files (the recording is empty)",
        )
    })? as u64;
    let wanted = match target {
        // The same rounding as the video path: frame n is shown from n/fps on.
        SeekTarget::Time(t) => (t * fps - 1e-6).ceil().max(0.0) as u64,
        SeekTarget::Index(i) => i,
    };
    let index = wanted.min(last);
    let image = super::image::load_image(&files[index as usize], limits)?;
    Ok(SeekFrame {
        index,
        time_s: index as f64 / fps,
        clamped: wanted > last,
        decoded: 1,
        image,
    })
}

/// Decoding state for one seek.
struct Seeker<'a> {
    path: &'a Path,
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream: Stream,
    eof_sent: bool,
    bad_packets: u32,
    decoded: u64,
}

impl<'a> Seeker<'a> {
    /// Seeks within the input the source opened (no second open).
    fn new(path: &'a Path, source: super::Source) -> Result<Self> {
        let video::Opened {
            input,
            stream,
            decoder,
        } = source
            .into_opened()
            .ok_or_else(|| Error::input(path, "is not a video"))?;
        Ok(Seeker {
            path,
            input,
            decoder,
            stream,
            eof_sent: false,
            bad_packets: 0,
            decoded: 0,
        })
    }

    /// The next decoded frame and its time in seconds (stream time base), `None` at the end.
    fn next_frame(&mut self) -> Result<Option<(ff::frame::Video, Option<f64>)>> {
        use ff::util::error::EAGAIN;
        loop {
            let mut frame = ff::frame::Video::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    self.decoded += 1;
                    let t = frame
                        .timestamp()
                        .or(frame.pts())
                        .map(|ts| ts as f64 * self.stream.time_base);
                    return Ok(Some((frame, t)));
                }
                Err(ff::Error::Eof) => return Ok(None),
                Err(ff::Error::Other { errno }) if errno == EAGAIN => {}
                Err(e) => self.bad_packet(e)?,
            }
            if self.eof_sent {
                return Ok(None);
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() == self.stream.index {
                        match self.decoder.send_packet(&packet) {
                            Ok(()) | Err(ff::Error::Other { errno: EAGAIN }) => {}
                            Err(e) => self.bad_packet(e)?,
                        }
                    }
                }
                Err(ff::Error::Eof) => {
                    // Flush the frames the decoder holds back for reordering.
                    let _ = self.decoder.send_eof();
                    self.eof_sent = true;
                }
                Err(e) => self.bad_packet(e)?,
            }
        }
    }

    /// Damaged data is skipped, as the analysis does, unless there is a lot of it.
    fn bad_packet(&mut self, e: ff::Error) -> Result<()> {
        self.bad_packets += 1;
        if self.bad_packets > 200 {
            return Err(Error::input(
                self.path,
                format!("the video data is corrupt around this point (FFmpeg: {e})"),
            ));
        }
        Ok(())
    }
}

fn video_frame(
    path: &Path,
    source: super::Source,
    target: SeekTarget,
    limits: &Limits,
) -> Result<SeekFrame> {
    let mut s = Seeker::new(path, source)?;
    let fps = s
        .stream
        .fps
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(25.0);
    let period = 1.0 / fps;
    let origin = stream_origin(&s);
    let wanted_s = match target {
        SeekTarget::Time(t) => t,
        SeekTarget::Index(i) => i as f64 * period,
    };
    // A frame "at" the target may carry a time rounded to the container's time base.
    let threshold = origin + wanted_s - 0.1 * period;

    // Seek to the last keyframe at or before the target (AV_TIME_BASE units, any stream;
    // ffmpeg-next passes the end of `..ts` as the inclusive `max_ts`).
    let seek_to = ((origin + wanted_s) * 1e6).floor() as i64;
    let sought = wanted_s > 0.0 && s.input.seek(seek_to, ..seek_to).is_ok();
    if sought {
        s.decoder.flush();
    }
    let mut decoded = 0;
    let found = match scan(&mut s, threshold, period, origin, sought)? {
        Scan::Found(f) => f,
        // The seek landed after the target (or the container cannot seek): start over.
        Scan::Overshot => {
            decoded = s.decoded;
            s = Seeker::new(path, super::Source::open(path, limits)?)?;
            match scan(&mut s, threshold, period, origin, false)? {
                Scan::Found(f) => f,
                // A scan from the start never overshoots.
                Scan::Overshot => None,
            }
        }
    };
    decoded += s.decoded;
    let (frame, time, clamped) = found.ok_or_else(|| {
        Error::input(
            path,
            "no frame could be decoded: the video data is corrupt or truncated",
        )
    })?;
    let image = video::frame_to_rgb(path, &frame, s.stream.rotation, limits)?;
    let time_s = (time - origin).max(0.0);
    Ok(SeekFrame {
        index: (time_s * fps).round() as u64,
        time_s,
        clamped,
        decoded,
        image,
    })
}

type Found = Option<(ff::frame::Video, f64, bool)>;

enum Scan {
    /// The frame at the target; or the last frame (`clamped`); `None` when nothing decoded.
    Found(Found),
    /// The first frame decoded after the seek was already past the target.
    Overshot,
}

/// Decodes forward until a frame reaches `threshold` (seconds, stream time).
fn scan(
    s: &mut Seeker,
    threshold: f64,
    period: f64,
    origin: f64,
    after_seek: bool,
) -> Result<Scan> {
    let mut last: Found = None;
    let mut first = true;
    while let Some((frame, t)) = s.next_frame()? {
        // Frames without a time (some raw streams) follow the previous one by a frame period.
        let t = t.unwrap_or_else(|| last.as_ref().map_or(origin, |(_, p, _)| p + period));
        if first && after_seek && t > threshold + period {
            return Ok(Scan::Overshot);
        }
        first = false;
        if t >= threshold {
            return Ok(Scan::Found(Some((frame, t, false))));
        }
        last = Some((frame, t, true));
    }
    if last.is_none() && after_seek {
        // Sought past the last keyframe's data (or into a damaged stretch): start over.
        return Ok(Scan::Overshot);
    }
    Ok(Scan::Found(last))
}

/// Time of the stream's first frame: the declared start, else the first decoded frame's time
/// (what the analysis counts from).
fn stream_origin(s: &Seeker) -> f64 {
    s.stream.start_s.unwrap_or(0.0)
}
