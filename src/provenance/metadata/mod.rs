//! File and container metadata: what a file says about its own making.
//!
//! - Images (`image.rs`): the container walked by hand, bounded ([`MAX_HEADER_BYTES`] read, at
//!   most [`MAX_BLOCKS`] segments/chunks) to find the EXIF, XMP and ICC blocks and the JPEG
//!   quantisation tables; EXIF parsed with `kamadak-exif` (which refuses IFD loops and caps the
//!   IFD count), XMP with `roxmltree` (`xmp.rs`), the ICC profile's description read by hand
//!   (`icc.rs`); the JPEG quality estimate and the double-compression indicator (`jpeg.rs`), the
//!   embedded EXIF thumbnail compared with the picture.
//! - Videos (`video.rs`): FFmpeg's own metadata API on an input opened with the media module's
//!   demuxer/protocol whitelist; the first [`video::MAX_GOP_PACKETS`] video packets give the GOP
//!   structure and the timestamp spacing.
//!
//! Nothing here fails: what cannot be read becomes a line in its section's `problems`, and the
//! other sections are still filled.
use std::path::Path;

use super::{Section, Signal};

mod icc;
mod image;
mod jpeg;
mod video;
mod xmp;

pub use self::image::{DOUBLE_COMPRESSION_THRESHOLD, THUMBNAIL_DIFF_THRESHOLD};
pub use self::video::MAX_GOP_PACKETS;

/// Bytes of an image read for its headers (EXIF/XMP/ICC/DQT sit before the pixel data).
pub const MAX_HEADER_BYTES: u64 = crate::media::jpeg_quality::MAX_HEADER_BYTES;
/// Segments/chunks walked in an image container before giving up.
pub const MAX_BLOCKS: usize = 1024;
/// Longest text value kept (longer ones are cut with "…").
pub const MAX_TEXT: usize = 512;

/// What [`examine`] found.
#[derive(Debug, Clone, Default)]
pub struct Examined {
    pub sections: Vec<Section>,
    pub signals: Vec<Signal>,
    /// Typed details for the JSON export (`{"file": …, "exif": …, "xmp": …, "icc": …,
    /// "jpeg": …, "thumbnail": …, "container": …, "streams": …}`).
    pub details: serde_json::Value,
}

/// Reads the metadata of a media file. Never fails: what cannot be read goes into the
/// sections' `problems`. `kind` is the store's media kind (`image`, `video`, `framefolder`,
/// `live`); a frame folder is examined through its first image (in the folder's natural
/// order, as the pipeline reads it) and says so; a live source has no file → empty.
pub fn examine(path: &Path, kind: &str) -> Examined {
    let mut out = Examined {
        details: serde_json::json!({}),
        ..Default::default()
    };
    match kind {
        "live" => {}
        "framefolder" => {
            let mut folder = super::Section::new("Frame folder");
            match crate::media::folder::list_images(path) {
                Ok(files) if !files.is_empty() => {
                    let first = &files[0];
                    let name = first
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    folder.push(super::Field::new("Frames", files.len().to_string()));
                    folder.push(super::Field::new(
                        "Metadata read from",
                        format!("the first frame, {}", clip(&name)),
                    ));
                    out.details["frame_folder"] = serde_json::json!({
                        "frames": files.len(), "examined": name,
                    });
                    out.sections.push(folder);
                    image::examine(first, &mut out);
                }
                Ok(_) => {
                    folder
                        .problems
                        .push("the folder holds no image files".into());
                    out.sections.push(folder);
                }
                Err(e) => {
                    folder.problems.push(format!("cannot list the folder: {e}"));
                    out.sections.push(folder);
                }
            }
        }
        "video" => video::examine(path, &mut out),
        // "image" and anything unknown: read it as an image (the walker recognises the
        // container by content and says so when it does not).
        _ => image::examine(path, &mut out),
    }
    dedupe_signals(&mut out.signals);
    out
}

fn dedupe_signals(signals: &mut Vec<Signal>) {
    let mut seen = std::collections::HashSet::new();
    signals.retain(|s| seen.insert(s.text.clone()));
}

/// A text cut to [`MAX_TEXT`] characters, control characters replaced.
pub(crate) fn clip(s: &str) -> String {
    let mut out: String = s
        .trim_matches(|c: char| c == '\0' || c.is_whitespace())
        .chars()
        .take(MAX_TEXT)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if s.chars().count() > MAX_TEXT {
        out.push('…');
    }
    out
}

/// Text from bytes: `Ok` when valid UTF-8, else the lossy text as `Err` (the caller records
/// a problem and still shows it).
pub(crate) fn text(bytes: &[u8]) -> Result<String, String> {
    let bytes = bytes.split(|&b| b == 0).next().unwrap_or_default();
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(clip(s)),
        Err(_) => Err(clip(&String::from_utf8_lossy(bytes))),
    }
}

/// The file section every file kind starts with: name, size, modification time.
pub(crate) fn file_section(path: &Path, out: &mut Examined) -> Option<std::fs::Metadata> {
    let mut s = Section::new("File");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    s.push(super::Field::new("Name", clip(&name)));
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            s.problems.push(format!("cannot read the file: {e}"));
            out.sections.push(s);
            return None;
        }
    };
    if !meta.is_file() {
        // A FIFO or device would block or never end: nothing is opened.
        s.problems
            .push("not a regular file; its content is not read".into());
        out.sections.push(s);
        return None;
    }
    s.push(super::Field::new("Size", format!("{} bytes", meta.len())));
    let mtime = meta.modified().ok().map(|t| {
        chrono::DateTime::<chrono::Local>::from(t)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string()
    });
    if let Some(m) = &mtime {
        s.push(super::Field::new("File modified", m.clone()));
    }
    out.details["file"] = serde_json::json!({
        "name": name, "bytes": meta.len(), "modified": mtime,
    });
    out.sections.push(s);
    Some(meta)
}
