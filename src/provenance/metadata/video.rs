//! Video metadata through FFmpeg's own API, on an input opened by `media::video::open_file`
//! (demuxer whitelist, `file` protocol only): container tags (encoder — a `Lavf…` value means
//! the file was last written by FFmpeg's muxer, i.e. re-encoded or at least re-muxed —
//! creation_time, major_brand, Apple `com.apple.quicktime.*` and Android `com.android.*` keys),
//! and per stream codec/profile/level, handler name, rotation, declared average vs base frame
//! rate; then the first [`MAX_GOP_PACKETS`] video packets for the GOP structure (keyframe
//! intervals) and the spacing of their timestamps (variable frame rate).
use std::path::Path;

use ffmpeg_next as ff;
use serde_json::json;

use super::super::{Field, Level, Section, Signal};
use super::{clip, file_section, Examined};

/// Video packets scanned for the GOP structure and frame timing.
pub const MAX_GOP_PACKETS: usize = 600;
/// Packets of any stream read before giving up (audio interleaves with video).
const MAX_PACKETS: usize = 6_000;
/// Read errors tolerated while scanning.
const MAX_READ_ERRORS: usize = 16;
/// Container/stream tags kept.
const MAX_TAGS: usize = 64;

/// Tags that locate the recording (ISO 6709 positions): personal data.
fn is_private(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("location") || k.contains("gps") || k.contains("serial")
}

pub(super) fn examine(path: &Path, out: &mut Examined) {
    if file_section(path, out).is_none() {
        return;
    }
    let mut c = Section::new("Container");
    let mut input = match crate::media::video::open_file(path) {
        Ok(i) => i,
        Err(e) => {
            c.problems.push(format!("FFmpeg cannot open it: {e}"));
            out.sections.push(c);
            return;
        }
    };
    let format = input.format();
    c.push(Field::new(
        "Format",
        format!("{} ({})", clip(format.name()), clip(format.description())),
    ));
    if input.duration() > 0 {
        c.push(Field::new(
            "Duration",
            format!("{:.2} s", input.duration() as f64 / 1e6),
        ));
    }
    if input.bit_rate() > 0 {
        c.push(Field::new(
            "Bit rate",
            format!("{} kbit/s", input.bit_rate() / 1000),
        ));
    }
    let mut tags = serde_json::Map::new();
    let mut device = Vec::new();
    for (i, (k, v)) in input.metadata().iter().enumerate() {
        if i >= MAX_TAGS {
            c.problems.push(format!(
                "more than {MAX_TAGS} container tags; the rest is not shown"
            ));
            break;
        }
        let (k, v) = (clip(k), clip(v));
        tags.insert(k.clone(), json!(v));
        let label = match k.as_str() {
            "encoder" => "Encoder",
            "creation_time" => "Created (creation_time)",
            "major_brand" => "Major brand",
            "minor_version" => "Minor version",
            "compatible_brands" => "Compatible brands",
            "handler_name" => "Handler",
            _ if k.starts_with("com.apple.") || k.starts_with("com.android.") => {
                if !is_private(&k) {
                    device.push(format!("{k}: {v}"));
                }
                k.as_str()
            }
            "location" | "location-eng" => k.as_str(),
            _ => continue,
        };
        let mut f = Field::new(label, v.clone());
        if is_private(&k) {
            f = f.private();
            c.push(Field::new(
                "Privacy",
                "this file records where it was made; the position is personal data, hidden \
                 until you ask and left out of reports unless asked",
            ));
        }
        if k == "encoder" && v.starts_with("Lavf") {
            f = f.flagged();
            out.signals.push(Signal {
                level: Level::Notice,
                text: format!("re-encoded ({v})"),
                source: "container encoder tag".into(),
            });
        }
        c.push(f);
    }
    if !device.is_empty() {
        out.signals.push(Signal {
            level: Level::Info,
            text: format!("device tags: {}", device.join(", ")),
            source: "container com.apple / com.android tags".into(),
        });
    }
    out.details["container"] = json!({
        "format": format.name(),
        "duration_s": (input.duration() > 0).then(|| input.duration() as f64 / 1e6),
        "bit_rate": (input.bit_rate() > 0).then(|| input.bit_rate()),
        "tags": tags,
    });
    out.sections.push(c);

    // Streams.
    let mut streams_json = Vec::new();
    let mut video_index = None;
    let mut audio = 0usize;
    for stream in input.streams() {
        let params = stream.parameters();
        let medium = params.medium();
        let id = params.id();
        let (profile, level, width, height, sample_rate) = codec_params(&params);
        let mut s = Section::new(format!(
            "Stream {} ({})",
            stream.index(),
            medium_name(medium)
        ));
        let mut codec = id.name().to_string();
        if let Some(p) = &profile {
            codec.push_str(&format!(", profile {p}"));
        }
        if let Some(l) = level.filter(|&l| l > 0) {
            let shown = if matches!(id, ff::codec::Id::H264) {
                format!("{:.1}", f64::from(l) / 10.0)
            } else if matches!(id, ff::codec::Id::HEVC) {
                format!("{:.1}", f64::from(l) / 30.0)
            } else {
                l.to_string()
            };
            codec.push_str(&format!(", level {shown}"));
        }
        s.push(Field::new("Codec", codec));
        let mut sj = json!({
            "index": stream.index(), "type": medium_name(medium), "codec": id.name(),
            "profile": profile, "level": level,
        });
        let mut stream_tags = serde_json::Map::new();
        for (i, (k, v)) in stream.metadata().iter().enumerate() {
            if i >= MAX_TAGS {
                break;
            }
            let (k, v) = (clip(k), clip(v));
            stream_tags.insert(k.clone(), json!(v));
            match k.as_str() {
                "handler_name" => s.push(Field::new("Handler", v.clone())),
                "encoder" => {
                    let lavc = v.starts_with("Lavc") || v.starts_with("Lavf");
                    let f = Field::new("Encoder", v.clone());
                    s.push(if lavc { f.flagged() } else { f });
                    if lavc {
                        out.signals.push(Signal {
                            level: Level::Notice,
                            text: format!("re-encoded ({v})"),
                            source: "stream encoder tag".into(),
                        });
                    }
                }
                "language" if v != "und" => s.push(Field::new("Language", v.clone())),
                "creation_time" => s.push(Field::new("Created (creation_time)", v.clone())),
                _ => {}
            }
        }
        sj["tags"] = serde_json::Value::Object(stream_tags);
        match medium {
            ff::media::Type::Video => {
                let attached = stream
                    .disposition()
                    .contains(ff::format::stream::Disposition::ATTACHED_PIC);
                if let (Some(w), Some(h)) = (width, height) {
                    s.push(Field::new("Frame size", format!("{w} × {h}")));
                }
                let rotation = crate::media::video::rotation(&stream);
                if rotation != 0 {
                    s.push(Field::new(
                        "Rotation",
                        format!("{rotation}° (display matrix or rotate tag)"),
                    ));
                }
                let avg = crate::media::video::rational(stream.avg_frame_rate());
                let base = crate::media::video::rational(stream.rate());
                if let Some(a) = avg {
                    s.push(Field::new("Average frame rate", format!("{a:.3} fps")));
                }
                if let Some(r) = base {
                    s.push(Field::new(
                        "Base frame rate (r_frame_rate)",
                        format!("{r:.3} fps"),
                    ));
                }
                sj["rotation"] = json!(rotation);
                sj["avg_fps"] = json!(avg);
                sj["r_fps"] = json!(base);
                sj["attached_picture"] = json!(attached);
                if !attached && video_index.is_none() {
                    video_index = Some((
                        stream.index(),
                        out.sections.len(),
                        avg,
                        base,
                        stream.time_base(),
                    ));
                }
            }
            ff::media::Type::Audio => {
                audio += 1;
                if let Some(r) = sample_rate.filter(|&r| r > 0) {
                    s.push(Field::new("Sample rate", format!("{r} Hz")));
                }
            }
            _ => {}
        }
        streams_json.push(sj);
        out.sections.push(s);
    }
    let mut summary = Section::new("Streams");
    summary.push(Field::new(
        "Audio",
        if audio == 0 {
            "no audio stream".to_string()
        } else {
            format!("{audio} audio stream(s)")
        },
    ));
    out.details["streams"] = json!(streams_json);
    out.details["audio_streams"] = json!(audio);

    // GOP and timing from the first packets of the video stream.
    match video_index {
        None => summary.problems.push("no video stream".into()),
        Some((index, section, avg, base, time_base)) => {
            let scan = scan_packets(&mut input, index);
            let sec = &mut out.sections[section];
            sec.problems.extend(scan.problems.iter().cloned());
            let keys = &scan.keyframes;
            let n = scan.packets;
            if n == 0 {
                sec.problems.push("no video packet could be read".into());
            } else if keys.len() >= 2 {
                let gaps: Vec<usize> = keys.windows(2).map(|w| w[1] - w[0]).collect();
                let (min, max) = (
                    gaps.iter().min().copied().unwrap_or(0),
                    gaps.iter().max().copied().unwrap_or(0),
                );
                let mean = gaps.iter().sum::<usize>() as f64 / gaps.len() as f64;
                sec.push(Field::new(
                    format!("GOP (first {n} video packets)"),
                    format!("{} keyframes; keyframe every {min} / {mean:.1} / {max} frames (min / mean / max)", keys.len()),
                ));
                out.details["gop"] = json!({"packets": n, "keyframes": keys.len(), "min": min, "mean": mean, "max": max});
            } else {
                sec.push(Field::new(
                    format!("GOP (first {n} video packets)"),
                    format!(
                        "{} keyframe(s): GOP longer than the packets scanned",
                        keys.len()
                    ),
                ));
                out.details["gop"] = json!({"packets": n, "keyframes": keys.len()});
            }
            // VFR: the declared average and base rates disagree, or the timestamps of the
            // scanned packets are spaced unevenly.
            let tb = crate::media::video::rational(time_base).unwrap_or(0.0);
            let mut pts = scan.pts.clone();
            pts.sort_unstable();
            let deltas: Vec<i64> = pts
                .windows(2)
                .map(|w| w[1] - w[0])
                .filter(|&d| d > 0)
                .collect();
            let spread = match (deltas.iter().min(), deltas.iter().max()) {
                (Some(&lo), Some(&hi)) if lo > 0 => Some(hi as f64 / lo as f64),
                _ => None,
            };
            let declared_differs = match (avg, base) {
                (Some(a), Some(r)) => (a / r - 1.0).abs() > 0.02,
                _ => false,
            };
            let uneven = spread.is_some_and(|s| s > 1.5);
            let vfr = declared_differs || uneven;
            let mut text = if vfr {
                "variable".to_string()
            } else {
                "constant".to_string()
            };
            if let (Some(lo), Some(hi)) = (deltas.iter().min(), deltas.iter().max()) {
                text.push_str(&format!(
                    " (frame spacing {:.2}–{:.2} ms over the first {n} packets",
                    *lo as f64 * tb * 1e3,
                    *hi as f64 * tb * 1e3
                ));
                text.push_str(if declared_differs {
                    "; average and base frame rates differ)"
                } else {
                    ")"
                });
            }
            let f = Field::new("Frame rate mode", text);
            sec.push(if vfr { f.flagged() } else { f });
            out.details["vfr"] = json!({"variable": vfr, "declared_differs": declared_differs, "spacing_ratio": spread});
        }
    }
    out.sections.push(summary);
}

struct Scan {
    packets: usize,
    keyframes: Vec<usize>,
    pts: Vec<i64>,
    problems: Vec<String>,
}

fn scan_packets(input: &mut ff::format::context::Input, index: usize) -> Scan {
    let mut scan = Scan {
        packets: 0,
        keyframes: vec![],
        pts: vec![],
        problems: vec![],
    };
    let mut errors = 0;
    let mut packet = ff::Packet::empty();
    for _ in 0..MAX_PACKETS {
        if scan.packets >= MAX_GOP_PACKETS {
            break;
        }
        match packet.read(input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => {
                errors += 1;
                if errors >= MAX_READ_ERRORS {
                    scan.problems.push(format!("reading packets failed {errors} times (last: {e}); the GOP is measured on what was read"));
                    break;
                }
                continue;
            }
        }
        if packet.stream() != index {
            continue;
        }
        if packet.is_key() {
            scan.keyframes.push(scan.packets);
        }
        if let Some(p) = packet.pts() {
            scan.pts.push(p);
        }
        scan.packets += 1;
    }
    scan
}

fn medium_name(m: ff::media::Type) -> &'static str {
    match m {
        ff::media::Type::Video => "video",
        ff::media::Type::Audio => "audio",
        ff::media::Type::Subtitle => "subtitles",
        ff::media::Type::Data => "data",
        ff::media::Type::Attachment => "attachment",
        _ => "unknown",
    }
}

/// Profile name, level, frame size and sample rate from the stream's codec parameters (fields
/// ffmpeg-next does not expose).
#[allow(clippy::type_complexity)]
fn codec_params(
    params: &ff::codec::Parameters,
) -> (
    Option<String>,
    Option<i32>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
) {
    #[allow(unsafe_code)]
    // SAFETY: `params` wraps a live AVCodecParameters owned by the open input; the fields are
    // plain integers, and avcodec_profile_name returns a pointer to a static string or null.
    unsafe {
        let p = &*params.as_ptr();
        let profile = if p.profile >= 0 {
            let name = ff::ffi::avcodec_profile_name(p.codec_id, p.profile);
            if name.is_null() {
                Some(p.profile.to_string())
            } else {
                Some(
                    std::ffi::CStr::from_ptr(name)
                        .to_string_lossy()
                        .into_owned(),
                )
            }
        } else {
            None
        };
        let level = (p.level >= 0).then_some(p.level);
        let width = u32::try_from(p.width).ok().filter(|&w| w > 0);
        let height = u32::try_from(p.height).ok().filter(|&h| h > 0);
        let rate = u32::try_from(p.sample_rate).ok().filter(|&r| r > 0);
        (profile, level, width, height, rate)
    }
}
