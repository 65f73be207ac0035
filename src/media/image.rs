//! Still images through the `image` crate: JPEG, PNG, WebP, BMP and TIFF, decoded to upright
//! 8-bit RGB.
//!
//! - The format is taken from the magic bytes, never the extension.
//! - The header is read first and the declared size checked against [`Limits`] before a pixel
//!   buffer is allocated: a 100-byte PNG may claim to be 100000×100000.
//! - EXIF orientation is applied (`ImageDecoder::orientation` + `DynamicImage::apply_orientation`,
//!   as `image` 0.25 does for browsers' `image-orientation: from-image`), so a phone portrait
//!   comes out upright.
//! - 16-bit images are rounded to 8 bits, grey is replicated to RGB, CMYK JPEGs are converted
//!   to RGB by the decoder (zune-jpeg).
//! - Alpha is composited on black (`rgb × alpha`): transparent areas of a cut-out portrait
//!   become black rather than whatever colour the encoder left under them, so the pixels the
//!   face detector sees do not depend on the tool that wrote the file.
use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, RgbImage};

use super::{Limits, MediaInfo, MediaKind};
use crate::{Error, Result};

/// The image formats we decode. Others the `image` crate knows (GIF, ICO, TGA …) are refused:
/// they are not what cameras or editing tools hand to an analyst, and GIF's 256-colour palette
/// destroys the artefacts the detectors look at.
pub const SUPPORTED: &[ImageFormat] = &[
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Bmp,
    ImageFormat::Tiff,
];

/// Refuses image formats outside [`SUPPORTED`] with a message saying what to do.
pub(crate) fn check_format(path: &Path, format: ImageFormat) -> Result<()> {
    if SUPPORTED.contains(&format) {
        return Ok(());
    }
    let advice = if format == ImageFormat::Gif {
        "GIF images are not supported; convert an animated GIF to MP4 or a still one to PNG"
            .to_string()
    } else {
        format!(
            "{} images are not supported; use JPEG, PNG, WebP, BMP or TIFF",
            format_name(format).to_uppercase()
        )
    };
    Err(Error::Unsupported(format!("{}: {advice}", path.display())))
}

/// The name analysts know a format by.
fn format_name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::WebP => "WebP",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Gif => "GIF",
        other => other.extensions_str().first().copied().unwrap_or("unknown"),
    }
}

/// Reads the file (after the size checks) and names its image format from the content.
fn read(path: &Path, limits: &Limits) -> Result<(Vec<u8>, ImageFormat)> {
    super::regular_file(path, limits)?;
    let bytes = std::fs::read(path).map_err(|e| super::io_error(path, &e))?;
    let format = image::guess_format(&bytes).map_err(|_| {
        Error::input(
            path,
            "not an image: the content is not JPEG, PNG, WebP, BMP or TIFF",
        )
    })?;
    check_format(path, format)?;
    match format {
        ImageFormat::Jpeg => check_jpeg_complete(path, &bytes)?,
        ImageFormat::Png => check_png_complete(path, &bytes)?,
        ImageFormat::WebP => check_riff_complete(path, &bytes)?,
        _ => {}
    }
    Ok((bytes, format))
}

/// A decoder positioned after the header, with our allocation limit.
fn decoder<'a>(
    path: &Path,
    bytes: &'a [u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<impl ImageDecoder + 'a> {
    // Check the declared size with no limits set, so that our message (not the decoder's
    // generic "limits exceeded") reaches the analyst.
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| image_error(path, format, e))?;
    limits.check_size(path, w, h)?;

    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    // Room for the widest decoded layout (16-bit RGBA) plus the 8-bit RGB copy we make.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8 + 3));
    reader.limits(image_limits);
    reader
        .into_decoder()
        .map_err(|e| image_error(path, format, e))
}

/// Loads an image as upright 8-bit RGB (see the module docs for what is converted how).
pub fn load_image(path: &Path, limits: &Limits) -> Result<RgbImage> {
    let (bytes, format) = read(path, limits)?;
    let mut decoder = decoder(path, &bytes, format, limits)?;
    let orientation = decoder
        .orientation()
        .map_err(|e| image_error(path, format, e))?;
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, format, e))?;
    image.apply_orientation(orientation);
    Ok(to_rgb(image))
}

/// Header-only description of an image file.
pub(crate) fn probe(path: &Path, limits: &Limits) -> Result<MediaInfo> {
    let (bytes, format) = read(path, limits)?;
    let mut decoder = decoder(path, &bytes, format, limits)?;
    let (w, h) = decoder.dimensions();
    let orientation = decoder
        .orientation()
        .map_err(|e| image_error(path, format, e))?;
    use image::metadata::Orientation as O;
    let rotation = match orientation {
        O::Rotate90 | O::Rotate90FlipH => 90,
        O::Rotate180 | O::FlipVertical => 180,
        O::Rotate270 | O::Rotate270FlipH => 270,
        O::NoTransforms | O::FlipHorizontal => 0,
    };
    let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
    Ok(MediaInfo {
        kind: MediaKind::Image,
        width,
        height,
        duration_s: None,
        fps: None,
        frame_count: Some(1),
        codec: Some(format_name(format).to_lowercase()),
        container: None,
        size_bytes: bytes.len() as u64,
        rotation,
    })
}

/// 8-bit RGB, alpha composited on black.
fn to_rgb(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = p.0;
        let a = u16::from(a);
        let mul = |c: u8| ((u16::from(c) * a + 127) / 255) as u8;
        o.0 = [mul(r), mul(g), mul(b)];
    }
    out
}

/// A JPEG cut short still decodes in most decoders (the missing rows come out grey), which
/// would hand half-grey faces to the detectors. We require the end-of-image marker after the
/// first scan. Data after the marker (Motion Photo videos, maker trailers) is allowed.
fn check_jpeg_complete(path: &Path, bytes: &[u8]) -> Result<()> {
    let truncated = |what: &str| Error::input(path, format!("truncated JPEG: {what}"));
    match jpeg_end(bytes) {
        JpegEnd::At(_) | JpegEnd::Corrupt => Ok(()),
        JpegEnd::HeaderCut => Err(truncated("the file ends inside the header")),
        JpegEnd::NoScan => Err(truncated("the image ends before any picture data")),
        JpegEnd::ScanCut => Err(truncated("the data ends before the end-of-image marker")),
    }
}

/// Like a short JPEG, a short PNG decodes with its missing rows blank in browsers; the header
/// alone cannot tell, but a complete PNG always ends with its `IEND` chunk. Any bytes after it
/// (some tools append metadata) are tolerated.
fn check_png_complete(path: &Path, bytes: &[u8]) -> Result<()> {
    // Chunks are walked by their lengths so that "IEND" inside compressed data cannot fool us.
    let mut i = 8; // after the signature
    while i + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize;
        if &bytes[i + 4..i + 8] == b"IEND" && i + 12 <= bytes.len() {
            return Ok(());
        }
        i = i.saturating_add(12).saturating_add(len); // length, type, data, CRC
    }
    Err(Error::input(
        path,
        "truncated PNG: the data ends before the IEND chunk",
    ))
}

/// A WebP is one RIFF chunk whose header states its size: a shorter file is cut off.
fn check_riff_complete(path: &Path, bytes: &[u8]) -> Result<()> {
    let declared = bytes
        .get(4..8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match declared {
        Some(size) if bytes.len() as u64 >= u64::from(size) + 8 => Ok(()),
        _ => Err(Error::input(
            path,
            "truncated WebP: the file is shorter than its header says",
        )),
    }
}

/// True if the bytes are a stream of concatenated JPEGs (a raw `.mjpeg` file, what many IP
/// cameras record): another JPEG starts right after the first one ends.
pub(crate) fn is_jpeg_stream(bytes: &[u8]) -> bool {
    matches!(jpeg_end(bytes), JpegEnd::At(end) if bytes[end..].starts_with(&[0xFF, 0xD8, 0xFF]))
}

enum JpegEnd {
    /// Offset just past the first image's end-of-image marker.
    At(usize),
    HeaderCut,
    NoScan,
    ScanCut,
    /// Not a marker where one must be: let the decoder describe the damage.
    Corrupt,
}

/// Walks the header segments to the first scan, then looks for the end-of-image marker.
/// Inside entropy-coded data every 0xFF is stuffed (`FF 00`), so `FF D9` there is the real
/// marker; the header is skipped by segment lengths because an EXIF thumbnail carries its
/// own `FF D9`.
fn jpeg_end(bytes: &[u8]) -> JpegEnd {
    let mut i = 2; // after SOI
    let scan = loop {
        if i + 1 >= bytes.len() {
            return JpegEnd::HeaderCut;
        }
        if bytes[i] != 0xFF {
            return JpegEnd::Corrupt;
        }
        match bytes[i + 1] {
            0xFF => i += 1, // fill byte
            0xDA => break i,
            0x01 | 0xD0..=0xD7 => i += 2,
            0xD9 => return JpegEnd::NoScan,
            _ => {
                if i + 3 >= bytes.len() {
                    return JpegEnd::HeaderCut;
                }
                i += 2 + usize::from(u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]));
            }
        }
    };
    match bytes[scan..].windows(2).position(|w| w == [0xFF, 0xD9]) {
        Some(p) => JpegEnd::At(scan + p + 2),
        None => JpegEnd::ScanCut,
    }
}

/// An `image` crate error in analyst words, naming the file and the format.
fn image_error(path: &Path, format: ImageFormat, e: ImageError) -> Error {
    let name = format_name(format);
    match e {
        ImageError::Limits(l) => Error::TooLarge(format!(
            "{}: {name} exceeds the size limits ({l})",
            path.display()
        )),
        ImageError::Unsupported(u) => Error::Unsupported(format!(
            "{}: this {name} variant is not supported ({u})",
            path.display()
        )),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            Error::input(path, format!("truncated {name}: the data ends early"))
        }
        other => {
            let text = other.to_string();
            let lower = text.to_lowercase();
            if [
                "eof",
                "end of file",
                "unexpected end",
                "truncat",
                "no more data",
                "not enough data",
            ]
            .iter()
            .any(|k| lower.contains(k))
            {
                Error::input(
                    path,
                    format!("truncated {name}: the data ends early ({text})"),
                )
            } else {
                Error::input(path, format!("corrupt {name}: {text}"))
            }
        }
    }
}
