//! Frame folders: a directory of still images (an exported image sequence, frames someone
//! already extracted with FFmpeg) analysed as one source.
//!
//! Files are listed by extension (content decides how each is decoded) so that the usual
//! companions of an export — `Thumbs.db`, `.DS_Store`, macOS `._frame1.jpg` resource forks,
//! sidecar `.xmp`/`.txt` files — are not mistaken for broken frames. They are ordered
//! naturally, the way a file manager shows them: `frame2` before `frame10`.
use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use super::sample::Sampled;
use super::{image, Limits, MediaInfo, MediaKind, SampleParams};
use crate::{Error, Result};

/// Extensions listed as frames (compared case-insensitively).
pub const FRAME_EXTENSIONS: &[&str] = &["jpg", "jpeg", "jpe", "png", "webp", "bmp", "tif", "tiff"];

/// The image files of `dir` in natural order. Hidden files are skipped.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| super::io_error(dir, &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| super::io_error(dir, &e))?;
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_frame = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| FRAME_EXTENSIONS.iter().any(|f| e.eq_ignore_ascii_case(f)));
        if name.starts_with('.') || !is_frame {
            continue;
        }
        // Follows symlinks; skips sub-folders named like images and dangling links.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            files.push(path);
        }
    }
    files.sort_by(|a, b| {
        let (a, b) = (
            a.file_name().unwrap_or_default(),
            b.file_name().unwrap_or_default(),
        );
        natural_cmp(&a.to_string_lossy(), &b.to_string_lossy())
    });
    Ok(files)
}

/// Natural order: runs of digits compare by value (`frame2 < frame10`), the rest
/// case-insensitively; ties broken by the plain byte order so the order is total.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (&(da, x), &(db, y)) in ca.iter().zip(&cb) {
        let ord = if da && db {
            // Compare digit runs by value without parsing (they may be longer than u64).
            let (xt, yt) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
            xt.len().cmp(&yt.len()).then_with(|| xt.cmp(yt))
        } else {
            x.to_lowercase().cmp(&y.to_lowercase())
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len()).then_with(|| a.cmp(b))
}

/// Lists the folder and checks that there is at least one readable image (by its header),
/// returning the files and the first readable image's info.
fn open(dir: &Path, limits: &Limits) -> Result<(Vec<PathBuf>, MediaInfo)> {
    let files = list_images(dir)?;
    if files.is_empty() {
        return Err(Error::input(
            dir,
            "folder contains no image files (JPEG, PNG, WebP, BMP or TIFF frames)",
        ));
    }
    let mut first_error = None;
    for file in &files {
        match image::probe(file, limits) {
            Ok((info, _)) => return Ok((files, info)),
            // Too large is a verdict on the whole sequence, not a broken file to skip.
            Err(e @ Error::TooLarge(_)) => return Err(e),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    let first = first_error.map(|e| e.to_string()).unwrap_or_default();
    Err(Error::input(
        dir,
        format!(
            "none of the {} image files in the folder is readable (first: {first})",
            files.len()
        ),
    ))
}

pub(crate) fn probe(dir: &Path, limits: &Limits) -> Result<MediaInfo> {
    let (files, first) = open(dir, limits)?;
    // Counted and summed from the listing, before any file is hashed, copied or decoded.
    if files.len() > limits.max_frames {
        return Err(Error::TooLarge(format!(
            "{}: {} frames exceed the limit of {} frames; split the folder",
            dir.display(),
            files.len(),
            limits.max_frames
        )));
    }
    let size_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .fold(0u64, u64::saturating_add);
    if size_bytes > limits.max_bytes {
        return Err(Error::TooLarge(format!(
            "{}: the image files add up to {} but the limit is {}",
            dir.display(),
            super::human_bytes(size_bytes),
            super::human_bytes(limits.max_bytes)
        )));
    }
    Ok(MediaInfo {
        kind: MediaKind::FrameFolder,
        width: first.width,
        height: first.height,
        duration_s: None,
        fps: None,
        frame_count: Some(files.len() as u64),
        codec: first.codec,
        container: Some("folder".into()),
        size_bytes,
        rotation: 0,
        bit_rate: None,
    })
}

/// Yields every image of a folder in natural order; `pts_s` = file index / `params.fps`.
pub(crate) struct FolderFrames {
    files: std::vec::IntoIter<PathBuf>,
    next_index: u64,
    fps: f64,
    limits: Limits,
}

impl FolderFrames {
    pub fn open(dir: &Path, params: &SampleParams, limits: &Limits) -> Result<Self> {
        let (files, _) = open(dir, limits)?;
        let wanted = params
            .max_frames
            .map_or(files.len(), |m| m.min(files.len()));
        if wanted > limits.max_frames {
            return Err(Error::TooLarge(format!(
                "{}: {} frames exceed the limit of {} frames; set a frame limit or split the folder",
                dir.display(),
                files.len(),
                limits.max_frames
            )));
        }
        Ok(FolderFrames {
            files: files.into_iter(),
            next_index: 0,
            fps: f64::from(params.fps),
            limits: limits.clone(),
        })
    }
}

impl Iterator for FolderFrames {
    type Item = Result<Sampled>;

    fn next(&mut self) -> Option<Self::Item> {
        let file = self.files.next()?;
        let source_index = self.next_index;
        self.next_index += 1;
        let pts_s = source_index as f64 / self.fps;
        Some(image::load_image(&file, &self.limits).map(|image| Sampled {
            source_index,
            pts_s,
            image,
            skipped: 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::natural_cmp;
    use std::cmp::Ordering::*;

    #[test]
    fn natural_order() {
        assert_eq!(natural_cmp("frame2.png", "frame10.png"), Less);
        assert_eq!(natural_cmp("frame010.png", "frame9.png"), Greater);
        assert_eq!(natural_cmp("Frame1.png", "frame2.png"), Less);
        assert_eq!(natural_cmp("a.png", "a.png"), Equal);
        assert_ne!(natural_cmp("frame01.png", "frame1.png"), Equal);
        assert_eq!(
            natural_cmp("x99999999999999999999999", "x100000000000000000000000"),
            Less
        );
    }
}
