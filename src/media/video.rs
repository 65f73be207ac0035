//! Videos and live sources through FFmpeg (libavformat/libavcodec 5.1 via `ffmpeg-next`, the
//! bindings video-rs 0.12 is built on; `video_rs::init` routes FFmpeg's log into `tracing`).
//!
//! Why not video-rs's `Decoder::decode_iter` itself: it stamps each frame with the *packet DTS*
//! (not the presentation time — with B-frames, i.e. every default x264 file, the times come out
//! of order), converts every decoded frame to RGB although we keep 3–10 per second, hides the
//! stream side data that carries a phone's rotation, and reads one frame per packet (decoders
//! that return several frames per packet then fail with EAGAIN). The loop here is the
//! send-packet / receive-frame loop of FFmpeg's `doc/examples/demux_decode.c`, with:
//! - sampling by `best_effort_timestamp` (the presentation time FFmpeg itself trusts most);
//! - only sampled frames converted to RGB24 (swscale), non-square pixels stretched to square;
//! - the display matrix (or the legacy `rotate` tag) applied like the `ffmpeg` CLI's
//!   autorotate, so portrait phone videos come out upright;
//! - damaged packets skipped (as the `ffmpeg` CLI does) and a file that ends before its
//!   declared duration reported as truncated after its frames.
use std::path::{Path, PathBuf};
use std::sync::Once;

use ff::format::context::Input;
use ff::media::Type as Medium;
use ffmpeg_next as ff;
use image::RgbImage;

use super::sample::{Sampled, Sampler};
use super::{Limits, MediaInfo, MediaKind, SampleParams};
use crate::{Error, Result};

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(e) = video_rs::init() {
            tracing::warn!("FFmpeg initialisation: {e}");
        }
        ff::device::register_all();
    });
}

/// FFmpeg takes paths as C strings and reads `name:` prefixes as protocols (a file called
/// `cam:1.mp4` would be opened as protocol `cam`); `file:` makes a local path unambiguous.
/// `ffmpeg-next` panics on non-UTF-8 paths, so refuse those here.
fn ffmpeg_path(path: &Path) -> Result<String> {
    let s = path
        .to_str()
        .ok_or_else(|| Error::input(path, "the path is not valid UTF-8; rename the file"))?;
    // FFmpeg takes C strings (ffmpeg-next unwraps `CString::new`): a NUL byte or any other
    // control character is never part of a real file name or URL.
    if s.chars().any(char::is_control) {
        return Err(Error::input(
            path.display().to_string().escape_debug().to_string(),
            "the path or URL contains control characters (e.g. a NUL byte); type it again",
        ));
    }
    Ok(if super::is_live(path) {
        s.to_string()
    } else {
        format!("file:{s}")
    })
}

/// The FFmpeg demuxers a local file may be read with: the video containers we claim (MP4/MOV,
/// Matroska/WebM, AVI, MPEG-TS/PS, WMV, FLV, Ogg, raw H.264/HEVC/MPEG video, raw MJPEG, GIF), plus
/// WAV and MP3 so that an audio file is told "no video stream" rather than "not a format".
/// Anything else — above all playlists and scripts (`hls`, `concat`, `ffconcat`, `image2`
/// sequences, `tee`…) that make the demuxer open *other* files — is refused, so the decoded
/// frames are always the bytes we hashed.
pub const LOCAL_FORMATS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,mpeg,\
mpegvideo,h264,hevc,m4v,mjpeg,jpeg_pipe,mpjpeg,asf,flv,ogg,yuv4mpegpipe,gif,wav,mp3";

/// The protocols a local file may use: `file` only (no `http`, `pipe`, `concat:`, `subfile`).
const LOCAL_PROTOCOLS: &str = "file";

/// The protocols a live URL may use, by scheme (what its demuxer needs underneath: RTSP runs
/// RTP over UDP or TCP, RTSPS and RTMPS add TLS). Never `file`, `http` or `pipe`.
pub fn live_protocols(url: &str) -> Option<&'static str> {
    let scheme = url.split("://").next()?.to_ascii_lowercase();
    Some(match scheme.as_str() {
        "rtsp" => "rtsp,rtp,srtp,udp,tcp",
        "rtsps" => "rtsps,rtsp,rtp,srtp,udp,tcp,tls",
        "rtmp" => "rtmp,tcp",
        "rtmps" => "rtmps,rtmp,tcp,tls",
        "udp" => "udp",
        "rtp" => "rtp,udp",
        "srt" => "srt",
        _ => return None,
    })
}

/// Opens a media file with FFmpeg (headers + stream probing, no full decode), with the demuxer
/// limited to [`LOCAL_FORMATS`] and I/O to the `file` protocol.
pub(crate) fn open_file(path: &Path) -> Result<Input> {
    init();
    count_open();
    let mut options = ff::Dictionary::new();
    options.set("format_whitelist", LOCAL_FORMATS);
    options.set("protocol_whitelist", LOCAL_PROTOCOLS);
    let input = ff::format::input_with_dictionary(&ffmpeg_path(path)?, options).map_err(|e| {
        match e {
            // avformat_open_input answers EINVAL when the probed demuxer is not whitelisted.
            ff::Error::Other { errno } if errno == ff::util::error::EINVAL => not_media(
                path,
                "its container is not one we accept (MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS, \
                 WMV, FLV, Ogg, GIF, raw H.264/HEVC/MJPEG); playlists and files that make FFmpeg \
                 read other files are refused",
            ),
            e => open_error(path, e),
        }
    })?;
    match input.format().name() {
        // `tty` renders any text file as ANSI art: never a video.
        "tty" => return Err(not_media(path, "it is a text file")),
        // `image2` opens a single picture by its file extension alone; stills we support were
        // already recognised by content, so this is a misnamed file or an image format we do
        // not take.
        "image2" => {
            return Err(not_media(
                path,
                "the content is not a supported image or video format",
            ))
        }
        _ => {}
    }
    Ok(input)
}

fn not_media(path: &Path, why: &str) -> Error {
    Error::input(
        path,
        format!("not an image or video FFmpeg can read ({why})"),
    )
}

fn open_error(path: &Path, e: ff::Error) -> Error {
    use ff::util::error::{EACCES, ENOENT};
    match e {
        ff::Error::Other { errno } if errno == ENOENT => {
            Error::input(path, "file or folder not found")
        }
        ff::Error::Other { errno } if errno == EACCES => {
            Error::input(path, "permission denied: cannot read it")
        }
        ff::Error::Eof => not_media(path, "the file ends before its header is complete"),
        e => not_media(path, &format!("FFmpeg: {e}")),
    }
}

/// Index of the stream to decode: FFmpeg's pick among the video streams that are not cover
/// art (an MP3's or M4A's embedded picture is a one-frame "video" stream).
fn video_stream(path: &Path, input: &Input) -> Result<usize> {
    use ff::format::stream::Disposition;
    let is_video = |s: &ff::format::stream::Stream| {
        s.parameters().medium() == Medium::Video
            && !s.disposition().contains(Disposition::ATTACHED_PIC)
    };
    if let Some(best) = input.streams().best(Medium::Video).filter(|s| is_video(s)) {
        return Ok(best.index());
    }
    if let Some(first) = input.streams().find(|s| is_video(s)) {
        return Ok(first.index());
    }
    let media: Vec<Medium> = input.streams().map(|s| s.parameters().medium()).collect();
    let message = if media.is_empty() {
        return Err(not_media(path, "no audio or video streams found"));
    } else if media.contains(&Medium::Audio) {
        if media.contains(&Medium::Video) {
            "has no video stream (audio with a cover picture only)"
        } else {
            "has no video stream (audio only)"
        }
    } else {
        "has no video stream (only subtitle or data streams)"
    };
    Err(Error::input(path, message))
}

/// What the headers say about the chosen video stream.
pub(super) struct Stream {
    pub(super) index: usize,
    pub(super) codec: String,
    /// Coded frame size, before rotation and pixel-aspect correction.
    pub(super) width: u32,
    pub(super) height: u32,
    /// Pixel aspect ratio (1 for square pixels).
    pub(super) sar: f64,
    /// Seconds per tick of the stream's time base.
    pub(super) time_base: f64,
    pub(super) fps: Option<f64>,
    pub(super) duration_s: Option<f64>,
    /// Start time and length the stream itself declares (not the container's estimate): used
    /// to tell a truncated file.
    pub(super) declared: Option<(f64, f64)>,
    pub(super) frame_count: Option<u64>,
    /// The stream's own bit rate (bits/s) when the file declares one.
    pub(super) bit_rate: Option<u64>,
    /// Declared start time of the stream in seconds (the first frame's time, usually).
    pub(super) start_s: Option<f64>,
    pub(super) rotation: i32,
}

pub(crate) fn rational(r: ff::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| f64::from(r.numerator()) / f64::from(r.denominator()))
}

/// Reads the stream facts, opens its decoder, and checks both against the limits.
pub(super) fn open_stream(
    path: &Path,
    input: &Input,
    limits: &Limits,
) -> Result<(Stream, ff::decoder::Video)> {
    let index = video_stream(path, input)?;
    let stream = input
        .stream(index)
        .ok_or_else(|| Error::input(path, "the video stream disappeared while probing"))?;
    let time_base = rational(stream.time_base()).unwrap_or(1.0 / 90_000.0);
    let codec_id = stream.parameters().id();

    let mut context = ff::codec::Context::from_parameters(stream.parameters())
        .map_err(|e| Error::input(path, format!("invalid video stream parameters: {e}")))?;
    // Frame threads, one per core (count 0 = FFmpeg's choice).
    context.set_threading(ff::threading::Config::kind(ff::threading::Type::Frame));
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    let decoder = decoder.video().map_err(|e| match e {
        ff::Error::DecoderNotFound => Error::Unsupported(format!(
            "{}: this FFmpeg build has no decoder for the video codec `{}`",
            path.display(),
            codec_id.name()
        )),
        e => Error::input(
            path,
            format!("cannot open the `{}` video decoder: {e}", codec_id.name()),
        ),
    })?;
    let (width, height) = (decoder.width(), decoder.height());
    limits.check_size(path, width, height)?;
    let sar = rational(decoder.aspect_ratio())
        .filter(|s| (0.1..=10.0).contains(s))
        .unwrap_or(1.0);

    let fps = rational(stream.avg_frame_rate()).or_else(|| rational(stream.rate()));
    let start = (stream.start_time() != ff::ffi::AV_NOPTS_VALUE)
        .then(|| stream.start_time() as f64 * time_base);
    let stream_duration = (stream.duration() > 0).then(|| stream.duration() as f64 * time_base);
    // `AVFormatContext.duration` is in AV_TIME_BASE (microsecond) units.
    let container_duration = (input.duration() > 0).then(|| input.duration() as f64 / 1e6);
    let duration_s = stream_duration.or(container_duration);
    if let Some(d) = duration_s {
        if d > limits.max_duration_s {
            return Err(Error::TooLarge(format!(
                "{}: video lasts {} but the limit is {}",
                path.display(),
                hms(d),
                hms(limits.max_duration_s)
            )));
        }
    }
    let info = Stream {
        index,
        codec: codec_id.name().to_string(),
        width,
        height,
        sar,
        time_base,
        fps,
        duration_s,
        declared: stream_duration.map(|d| (start.unwrap_or(0.0), d)),
        frame_count: (stream.frames() > 0).then(|| stream.frames() as u64),
        bit_rate: u64::try_from(stream.parameters().bit_rate())
            .ok()
            .filter(|&b| b > 0),
        start_s: start,
        rotation: rotation(&stream),
    };
    Ok((info, decoder))
}

fn hms(seconds: f64) -> String {
    let s = seconds.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Clockwise degrees to turn decoded frames upright: from the display matrix side data if
/// present (what players and the `ffmpeg` CLI use), else from the legacy `rotate` tag.
pub(crate) fn rotation(stream: &ff::format::stream::Stream) -> i32 {
    for side in stream.side_data() {
        if side.kind() == ff::codec::packet::side_data::Type::DisplayMatrix {
            if let Some(r) = display_matrix_rotation(side.data()) {
                return r;
            }
        }
    }
    stream
        .metadata()
        .get("rotate")
        .and_then(|r| r.trim().parse::<f64>().ok())
        .map_or(0, snap_degrees)
}

/// The rotation encoded in a 3×3 display matrix (16.16 fixed point, native byte order), as the
/// `ffmpeg` CLI computes it: `theta = -round(av_display_rotation_get(m))`, which is
/// `atan2(b, a)` of the matrix's first two entries normalised by their column scales.
fn display_matrix_rotation(data: &[u8]) -> Option<i32> {
    if data.len() < 36 {
        return None;
    }
    let m = |i: usize| {
        let b = [
            data[4 * i],
            data[4 * i + 1],
            data[4 * i + 2],
            data[4 * i + 3],
        ];
        f64::from(i32::from_ne_bytes(b)) / 65536.0
    };
    let scale0 = m(0).hypot(m(3));
    let scale1 = m(1).hypot(m(4));
    if scale0 == 0.0 || scale1 == 0.0 {
        return None;
    }
    Some(snap_degrees(
        (m(1) / scale1).atan2(m(0) / scale0).to_degrees(),
    ))
}

/// Any angle to the nearest of 0, 90, 180, 270.
fn snap_degrees(degrees: f64) -> i32 {
    ((degrees / 90.0).round() as i64).rem_euclid(4) as i32 * 90
}

/// Upright display size: pixel aspect applied, then width/height swapped for 90°/270°.
pub(super) fn display_size(stream: &Stream, limits: &Limits) -> (u32, u32) {
    let w = square_width(stream.width, stream.sar, limits);
    if stream.rotation % 180 == 90 {
        (stream.height, w)
    } else {
        (w, stream.height)
    }
}

fn square_width(width: u32, sar: f64, limits: &Limits) -> u32 {
    ((f64::from(width) * sar).round() as u32).clamp(1, limits.max_side)
}

/// A video or live source opened once: the demuxer, the chosen stream and its decoder, kept by
/// [`super::Source`] so that sampling decodes from the same open input the probe read.
pub(crate) struct Opened {
    pub(super) input: Input,
    pub(super) stream: Stream,
    pub(super) decoder: ff::decoder::Video,
}

thread_local! {
    static OPENS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many times FFmpeg opened a file or stream on this thread (tests count the opens one
/// analysis makes).
pub fn opens_on_this_thread() -> u64 {
    OPENS.with(|c| c.get())
}

fn count_open() {
    OPENS.with(|c| c.set(c.get() + 1));
}

/// Opens a video file once and describes it from its headers.
pub(crate) fn open_probed(path: &Path, limits: &Limits) -> Result<(MediaInfo, Opened)> {
    let meta = super::regular_file(path, limits)?;
    describe(path, open_file(path)?, limits, MediaKind::Video, meta.len())
}

/// The description of an opened file or live source, kept with its input and decoder. A live
/// source has no duration or frame count; its size is 0.
fn describe(
    path: &Path,
    input: Input,
    limits: &Limits,
    kind: MediaKind,
    size_bytes: u64,
) -> Result<(MediaInfo, Opened)> {
    let (stream, decoder) = open_stream(path, &input, limits)?;
    let (width, height) = display_size(&stream, limits);
    let live = kind == MediaKind::Live;
    let info = MediaInfo {
        kind,
        width,
        height,
        duration_s: if live { None } else { stream.duration_s },
        fps: stream.fps,
        frame_count: if live { None } else { stream.frame_count },
        codec: Some(stream.codec.clone()),
        container: Some(input.format().name().to_string()),
        size_bytes,
        rotation: stream.rotation,
        bit_rate: if live {
            None
        } else {
            stream
                .bit_rate
                .or_else(|| u64::try_from(input.bit_rate()).ok().filter(|&b| b > 0))
        },
    };
    Ok((
        info,
        Opened {
            input,
            stream,
            decoder,
        },
    ))
}

/// Opens a webcam (`/dev/video*`, through libavdevice's video4linux2 input) or a network
/// stream (RTSP, RTMP, UDP, SRT …).
fn open_live(path: &Path) -> Result<Input> {
    init();
    count_open();
    let url = ffmpeg_path(path)?;
    let mut options = ff::Dictionary::new();
    if url.starts_with("/dev/") {
        std::fs::metadata(path).map_err(|_| Error::input(path, "webcam device not found"))?;
        let format = v4l2_format().ok_or_else(|| {
            Error::Unsupported(format!(
                "{}: this FFmpeg build cannot read webcams (no video4linux2 input)",
                path.display()
            ))
        })?;
        let context = ff::format::open_with(&url, &ff::Format::Input(format), options)
            .map_err(|e| Error::input(path, format!("cannot open the webcam: {e}")))?;
        if !context.is_input() {
            return Err(Error::input(path, "cannot open the webcam as an input"));
        }
        return Ok(context.input());
    }
    // Give up on a source that sends nothing for 10 s instead of hanging the job
    // (microseconds; `timeout` is the RTSP/UDP socket option, `rw_timeout` the generic one).
    let protocols = live_protocols(&url)
        .ok_or_else(|| Error::input(path, "is not a live stream URL we can open"))?;
    options.set("protocol_whitelist", protocols);
    options.set("rw_timeout", "10000000");
    options.set("timeout", "10000000");
    if url.starts_with("rtsp") {
        // UDP transport drops packets under load, and the resulting smears and blocks are
        // exactly the kind of artefact a forensic detector must not be shown.
        options.set("rtsp_transport", "tcp");
    }
    ff::format::input_with_dictionary(&url, options)
        .map_err(|e| Error::input(path, format!("cannot open the live stream: {e}")))
}

/// libavdevice's webcam demuxer.
fn v4l2_format() -> Option<ff::format::Input> {
    #[allow(unsafe_code)]
    // SAFETY: av_find_input_format only looks a name up in FFmpeg's static demuxer table and
    // returns a pointer into it (or null); `wrap` stores that 'static pointer.
    unsafe {
        let ptr = ff::ffi::av_find_input_format(c"video4linux2".as_ptr());
        (!ptr.is_null()).then(|| ff::format::Input::wrap(ptr as *mut _))
    }
}

/// A live source never ends: sampling it needs a frame or a time limit.
pub(crate) fn check_live_params(path: &Path, params: &SampleParams) -> Result<()> {
    if params.max_frames.is_none() && params.max_seconds.is_none() {
        return Err(Error::input(
            path,
            "a live source never ends: set a frame limit (max_frames) or a time limit \
             (max_seconds)",
        ));
    }
    Ok(())
}

/// Connects to a live source once and describes it from its headers.
pub(crate) fn open_live_probed(path: &Path, limits: &Limits) -> Result<(MediaInfo, Opened)> {
    describe(path, open_live(path)?, limits, MediaKind::Live, 0)
}

/// Decodes a video packet by packet and yields the frames the [`Sampler`] picks.
pub(crate) struct VideoFrames {
    path: PathBuf,
    input: Input,
    decoder: ff::decoder::Video,
    stream: Stream,
    limits: Limits,
    sampler: Sampler,
    live: bool,
    /// Frames decoded so far (the next frame's source index).
    decoded: u64,
    last_pts: Option<f64>,
    eof_sent: bool,
    done: bool,
    bad_packets: u32,
    /// Undecodable packets since the last sampled frame (reported on the next one).
    skipped_pending: u32,
    read_failures: u32,
}

impl VideoFrames {
    /// Sampling over a source [`open_probed`] or [`open_live_probed`] opened: no second open.
    pub(crate) fn from_opened(
        path: &Path,
        opened: Opened,
        params: &SampleParams,
        limits: &Limits,
        live: bool,
    ) -> Result<Self> {
        let Opened {
            input,
            stream,
            decoder,
        } = opened;
        if live {
            check_live_params(path, params)?;
        } else if let Some(d) = stream.duration_s {
            let seconds = params.max_seconds.map_or(d, |m| m.min(d));
            let expected = (seconds * f64::from(params.fps)).ceil() as usize;
            let wanted = params.max_frames.map_or(expected, |m| m.min(expected));
            if wanted > limits.max_frames {
                return Err(Error::TooLarge(format!(
                    "{}: {} at {} fps gives about {expected} frames, more than the limit of {}; \
                     lower the sampling rate or set a frame or time limit",
                    path.display(),
                    hms(d),
                    params.fps,
                    limits.max_frames
                )));
            }
        }
        Ok(Self::new(
            path, input, stream, decoder, params, limits, live,
        ))
    }

    fn new(
        path: &Path,
        input: Input,
        stream: Stream,
        decoder: ff::decoder::Video,
        params: &SampleParams,
        limits: &Limits,
        live: bool,
    ) -> Self {
        VideoFrames {
            path: path.to_path_buf(),
            input,
            decoder,
            stream,
            limits: limits.clone(),
            sampler: Sampler::new(params.fps),
            live,
            decoded: 0,
            last_pts: None,
            eof_sent: false,
            done: false,
            bad_packets: 0,
            skipped_pending: 0,
            read_failures: 0,
        }
    }

    /// Decodes until the sampler takes a frame (`Some`) or the stream ends (`None`).
    fn advance(&mut self) -> Result<Option<Sampled>> {
        loop {
            let mut frame = ff::frame::Video::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    if let Some(sampled) = self.offer(&frame)? {
                        return Ok(Some(sampled));
                    }
                    continue;
                }
                Err(ff::Error::Eof) => return self.finish(),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(e) => self.bad_packet(e)?,
            }
            if self.eof_sent {
                return self.finish();
            }
            self.feed()?;
        }
    }

    /// Reads one packet and hands it to the decoder if it belongs to our stream.
    fn feed(&mut self) -> Result<()> {
        use ff::util::error::{EAGAIN, ETIMEDOUT};
        let mut packet = ff::Packet::empty();
        match packet.read(&mut self.input) {
            Ok(()) => {
                self.read_failures = 0;
                if packet.stream() == self.stream.index {
                    match self.decoder.send_packet(&packet) {
                        // EAGAIN cannot happen here (we received until EAGAIN first).
                        Ok(()) | Err(ff::Error::Other { errno: EAGAIN }) => {}
                        Err(e) => self.bad_packet(e)?,
                    }
                }
                Ok(())
            }
            Err(ff::Error::Eof) => {
                // Flush: the decoder still holds the frames it delayed for reordering.
                let _ = self.decoder.send_eof();
                self.eof_sent = true;
                Ok(())
            }
            Err(ff::Error::Other { errno }) if errno == ETIMEDOUT => Err(Error::input(
                &self.path,
                "the live source stopped sending data (timed out)",
            )),
            Err(ff::Error::Exit) => Err(Error::Cancelled),
            Err(e) => {
                // Demuxers report a damaged stretch as an error and resync on the next call;
                // only a run of failures means the file cannot be read on.
                self.read_failures += 1;
                if matches!(e, ff::Error::Other { errno: EAGAIN }) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    if self.read_failures < 2000 {
                        return Ok(());
                    }
                } else if self.read_failures < 64 {
                    tracing::warn!(path = %crate::logging::redact_url(&self.path.to_string_lossy()), "skipping unreadable data: {e}");
                    return Ok(());
                }
                Err(Error::input(
                    &self.path,
                    format!("cannot read the video data on: {e}"),
                ))
            }
        }
    }

    /// A packet the decoder rejected: skipped like the `ffmpeg` CLI does, unless nothing
    /// decodes at all.
    fn bad_packet(&mut self, e: ff::Error) -> Result<()> {
        self.bad_packets += 1;
        self.skipped_pending = self.skipped_pending.saturating_add(1);
        tracing::warn!(path = %crate::logging::redact_url(&self.path.to_string_lossy()), "skipping undecodable video packet: {e}");
        if (self.decoded == 0 && self.bad_packets > 100) || self.bad_packets > 10_000 {
            return Err(Error::input(
                &self.path,
                format!(
                    "the video data is corrupt: {} packets could not be decoded (FFmpeg: {e})",
                    self.bad_packets
                ),
            ));
        }
        Ok(())
    }

    /// End of stream: fine, unless nothing decoded or the file stops well short of the
    /// duration it declares.
    fn finish(&mut self) -> Result<Option<Sampled>> {
        // Damaged packets after the last sampled frame have no frame to carry their count.
        let trailing = std::mem::take(&mut self.skipped_pending);
        match self.check_complete() {
            Ok(()) if trailing > 0 => Err(Error::Undecodable {
                path: self.path.clone(),
                count: trailing,
            }),
            Ok(()) => Ok(None),
            Err(Error::Input { path, message }) if trailing > 0 => Err(Error::Input {
                path,
                message: format!(
                    "{message}; {trailing} damaged frame(s) before the end were skipped"
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether the stream ended as a whole video does: something decoded and, for a file, not
    /// well short of the duration it declares.
    fn check_complete(&self) -> Result<()> {
        if self.decoded == 0 {
            return Err(Error::input(
                &self.path,
                "no frame could be decoded: the video data is corrupt or truncated",
            ));
        }
        if let (false, Some((start, length)), Some(last)) =
            (self.live, self.stream.declared, self.last_pts)
        {
            let (reached, slack) = (last - start, (0.1 * length).max(0.5));
            // Where the container counts its frames (MP4, MOV, AVI), a short time alone is not
            // enough: a screen recording may hold its last frame for seconds, and an edit list
            // may end the picture early. Truncation loses frames as well as time.
            let frames_missing = match self.stream.frame_count {
                Some(n) => self.decoded + u64::from(self.bad_packets) < n,
                None => true,
            };
            if frames_missing && reached < length - slack {
                let counted = match self.stream.frame_count {
                    Some(n) => format!(" after {} of its {n} frames", self.decoded),
                    None => String::new(),
                };
                return Err(Error::input(
                    &self.path,
                    format!(
                        "truncated video: the data ends at {reached:.2} s{counted} but the file \
                         declares {length:.2} s (the frames before were analysed)"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Timestamps a decoded frame and converts it if the sampler takes it.
    fn offer(&mut self, frame: &ff::frame::Video) -> Result<Option<Sampled>> {
        let source_index = self.decoded;
        self.decoded += 1;
        let step = 1.0 / self.stream.fps.unwrap_or(25.0);
        let pts = match frame.timestamp().or(frame.pts()) {
            Some(t) => t as f64 * self.stream.time_base,
            // No timestamp at all (some raw streams): one frame period after the last.
            None => self.last_pts.map_or(0.0, |p| p + step),
        };
        self.last_pts = Some(pts);
        let Some(pts_s) = self.sampler.offer(pts) else {
            return Ok(None);
        };
        let image = self.to_rgb(frame)?;
        Ok(Some(Sampled {
            source_index,
            pts_s,
            image,
            skipped: std::mem::take(&mut self.skipped_pending),
        }))
    }

    /// RGB24 at square pixels, turned upright.
    fn to_rgb(&self, frame: &ff::frame::Video) -> Result<RgbImage> {
        frame_to_rgb(&self.path, frame, self.stream.rotation, &self.limits)
    }
}

/// A decoded frame as RGB24 at square pixels, turned upright by `rotation` (clockwise degrees).
pub(super) fn frame_to_rgb(
    path: &Path,
    frame: &ff::frame::Video,
    rotation: i32,
    limits: &Limits,
) -> Result<RgbImage> {
    let (w, h) = (frame.width(), frame.height());
    limits.check_size(path, w, h)?;
    let sar = rational(frame.aspect_ratio())
        .filter(|s| (0.1..=10.0).contains(s))
        .unwrap_or(1.0);
    let out_w = square_width(w, sar, limits);
    let convert_error =
        |e: ff::Error| Error::input(path, format!("cannot convert a frame to RGB: {e}"));
    // A scaler per sampled frame: cheap next to decoding, and it keeps this iterator `Send`
    // (swscale contexts are not) and follows mid-stream size or format changes.
    let mut scaler = ff::software::scaling::Context::get(
        frame.format(),
        w,
        h,
        ff::format::Pixel::RGB24,
        out_w,
        h,
        ff::software::scaling::Flags::BILINEAR,
    )
    .map_err(convert_error)?;
    let mut rgb = ff::frame::Video::empty();
    scaler.run(frame, &mut rgb).map_err(convert_error)?;
    let (stride, row) = (rgb.stride(0), out_w as usize * 3);
    let data = rgb.data(0);
    let mut pixels = Vec::with_capacity(row * h as usize);
    for y in 0..h as usize {
        pixels.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    let image = RgbImage::from_raw(out_w, h, pixels)
        .ok_or_else(|| Error::Other("RGB frame buffer has the wrong size".into()))?;
    Ok(match rotation {
        90 => image::imageops::rotate90(&image),
        180 => image::imageops::rotate180(&image),
        270 => image::imageops::rotate270(&image),
        _ => image,
    })
}

impl Iterator for VideoFrames {
    type Item = Result<Sampled>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(sampled)) => Some(Ok(sampled)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(a: i32, b: i32, c: i32, d: i32) -> Vec<u8> {
        [a, b, 0, c, d, 0, 0, 0, 1 << 30]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect()
    }

    #[test]
    fn display_matrix_angles_match_ffmpeg_cli() {
        let one = 1 << 16;
        assert_eq!(display_matrix_rotation(&matrix(one, 0, 0, one)), Some(0));
        // What `-metadata:s:v rotate=90` writes in FFmpeg 5.1 (ffprobe "rotation=90"); the CLI
        // turns it 90° counter-clockwise, i.e. 270° clockwise.
        assert_eq!(display_matrix_rotation(&matrix(0, -one, one, 0)), Some(270));
        assert_eq!(display_matrix_rotation(&matrix(0, one, -one, 0)), Some(90));
        assert_eq!(
            display_matrix_rotation(&matrix(-one, 0, 0, -one)),
            Some(180)
        );
        assert_eq!(display_matrix_rotation(&matrix(0, 0, 0, 0)), None);
        assert_eq!(snap_degrees(-90.0), 270);
    }
}
