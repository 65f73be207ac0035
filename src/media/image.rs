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

/// The image formats we decode here. GIF (still or animated) never reaches this reader:
/// `Source::open` hands it to FFmpeg as a video of its frames. Others the `image` crate knows
/// (ICO, TGA …) are refused: they are not what cameras or editing tools hand to an analyst.
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
        "GIF is read as a video (open the file itself, not as a frame of a folder)".to_string()
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

/// How much of the file the header probe reads: EXIF, ICC and the frame header of any camera
/// image fit; a file whose headers reach further (a TIFF with its directory at the end) is
/// probed from the whole file instead.
const HEAD_BYTES: u64 = 1 << 20;

/// An opened image file, checked: regular, within the size limit, a supported format named by
/// its content, and complete (JPEG end marker, PNG `IEND`, WebP length). The completeness
/// checks stream through the file; nothing here holds the whole file in memory.
struct Checked {
    file: std::fs::File,
    len: u64,
    format: ImageFormat,
    /// The first [`HEAD_BYTES`] (or the whole file, if shorter).
    head: Vec<u8>,
    /// A JPEG followed right after its end marker by another JPEG: a raw MJPEG stream (what
    /// many IP cameras record), i.e. a video.
    jpeg_stream: bool,
}

fn open_checked(path: &Path, limits: &Limits) -> Result<Checked> {
    use std::io::{Read, Seek, SeekFrom};
    let meta = super::regular_file(path, limits)?;
    let io = |e: std::io::Error| super::io_error(path, &e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut head = Vec::new();
    (&mut file)
        .take(HEAD_BYTES)
        .read_to_end(&mut head)
        .map_err(io)?;
    let format = image::guess_format(&head).map_err(|_| {
        Error::input(
            path,
            "not an image: the content is not JPEG, PNG, WebP, BMP or TIFF",
        )
    })?;
    check_format(path, format)?;
    let len = meta.len();
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut jpeg_stream = false;
    match format {
        ImageFormat::Jpeg => {
            let end = jpeg_end(&mut file).map_err(io)?;
            if let JpegEnd::At(at) = end {
                let mut next = [0u8; 3];
                file.seek(SeekFrom::Start(at)).map_err(io)?;
                jpeg_stream = file.read_exact(&mut next).is_ok() && next == [0xFF, 0xD8, 0xFF];
            }
            check_jpeg_complete(path, end)?;
        }
        ImageFormat::Png => check_png_complete(path, &mut file, len).map_err(io)??,
        ImageFormat::WebP => check_riff_complete(path, &head, len)?,
        _ => {}
    }
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    Ok(Checked {
        file,
        len,
        format,
        head,
        jpeg_stream,
    })
}

/// A decoder positioned after the header: the declared size is checked against `limits` (our
/// message, not the decoder's generic "limits exceeded") before our allocation limit is set and
/// any pixel buffer exists. One decoder per call, so the file is read once (JPEG decoders take
/// the whole stream; the others read as they decode).
fn decoder<'a, R: std::io::BufRead + std::io::Seek + 'a>(
    path: &Path,
    input: R,
    format: ImageFormat,
    limits: &Limits,
) -> Result<impl ImageDecoder + 'a> {
    let mut reader = ImageReader::with_format(input, format);
    reader.no_limits();
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| image_error(path, format, e))?;
    let (w, h) = decoder.dimensions();
    limits.check_size(path, w, h)?;
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_side);
    image_limits.max_image_height = Some(limits.max_side);
    // Room for the widest decoded layout (16-bit RGBA) plus the 8-bit RGB copy we make.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8 + 3));
    decoder
        .set_limits(image_limits)
        .map_err(|e| image_error(path, format, e))?;
    Ok(decoder)
}

/// Loads an image as upright 8-bit RGB (see the module docs for what is converted how).
pub fn load_image(path: &Path, limits: &Limits) -> Result<RgbImage> {
    let checked = open_checked(path, limits)?;
    let format = checked.format;
    let mut decoder = decoder(
        path,
        std::io::BufReader::new(checked.file),
        format,
        limits,
    )?;
    let orientation = decoder
        .orientation()
        .map_err(|e| image_error(path, format, e))?;
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, format, e))?;
    image.apply_orientation(orientation);
    Ok(to_rgb(image))
}

/// Header-only description of an image file: reads the first [`HEAD_BYTES`] for the headers
/// (the whole file only when they reach further) and streams the completeness check. The flag
/// is set when the file is a raw MJPEG stream (concatenated JPEGs): a video, not a still (the
/// description is then its first picture's).
pub(crate) fn probe(path: &Path, limits: &Limits) -> Result<(MediaInfo, bool)> {
    let Checked {
        file,
        len,
        format,
        head,
        jpeg_stream,
    } = open_checked(path, limits)?;
    let header = |d: &mut dyn ImageDecoder| -> Result<((u32, u32), image::metadata::Orientation)> {
        let dims = d.dimensions();
        let orientation = d.orientation().map_err(|e| image_error(path, format, e))?;
        Ok((dims, orientation))
    };
    let from_head = if (head.len() as u64) < len {
        decoder(path, Cursor::new(head.as_slice()), format, limits)
            .and_then(|mut d| header(&mut d))
            .ok()
    } else {
        None
    };
    let ((w, h), orientation) = match from_head {
        Some(found) => found,
        None => header(&mut decoder(
            path,
            std::io::BufReader::new(file),
            format,
            limits,
        )?)?,
    };
    use image::metadata::Orientation as O;
    let rotation = match orientation {
        O::Rotate90 | O::Rotate90FlipH => 90,
        O::Rotate180 | O::FlipVertical => 180,
        O::Rotate270 | O::Rotate270FlipH => 270,
        O::NoTransforms | O::FlipHorizontal => 0,
    };
    let (width, height) = if rotation % 180 == 90 { (h, w) } else { (w, h) };
    let info = MediaInfo {
        kind: MediaKind::Image,
        width,
        height,
        duration_s: None,
        fps: None,
        frame_count: Some(1),
        codec: Some(format_name(format).to_lowercase()),
        container: None,
        size_bytes: len,
        rotation,
        bit_rate: None,
    };
    Ok((info, jpeg_stream))
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
fn check_jpeg_complete(path: &Path, end: JpegEnd) -> Result<()> {
    let truncated = |what: &str| Error::input(path, format!("truncated JPEG: {what}"));
    match end {
        JpegEnd::At(_) | JpegEnd::Corrupt => Ok(()),
        JpegEnd::HeaderCut => Err(truncated("the file ends inside the header")),
        JpegEnd::NoScan => Err(truncated("the image ends before any picture data")),
        JpegEnd::ScanCut => Err(truncated("the data ends before the end-of-image marker")),
    }
}

/// Like a short JPEG, a short PNG decodes with its missing rows blank in browsers; the header
/// alone cannot tell, but a complete PNG always ends with its `IEND` chunk. Any bytes after it
/// (some tools append metadata) are tolerated. Chunks are walked by their lengths (seeking over
/// the data) so that "IEND" inside compressed data cannot fool us.
fn check_png_complete<F: std::io::Read + std::io::Seek>(
    path: &Path,
    file: &mut F,
    len: u64,
) -> std::io::Result<Result<()>> {
    use std::io::SeekFrom;
    let mut at: u64 = 8; // after the signature
    while at + 8 <= len {
        let mut chunk = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut chunk)?;
        let data = u64::from(u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        if &chunk[4..8] == b"IEND" && at + 12 <= len {
            return Ok(Ok(()));
        }
        at = at + 12 + data; // length, type, data, CRC
    }
    Ok(Err(Error::input(
        path,
        "truncated PNG: the data ends before the IEND chunk",
    )))
}

/// A WebP is one RIFF chunk whose header states its size: a shorter file is cut off.
fn check_riff_complete(path: &Path, head: &[u8], len: u64) -> Result<()> {
    let declared = head
        .get(4..8)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match declared {
        Some(size) if len >= u64::from(size) + 8 => Ok(()),
        _ => Err(Error::input(
            path,
            "truncated WebP: the file is shorter than its header says",
        )),
    }
}

enum JpegEnd {
    /// Offset just past the first image's end-of-image marker.
    At(u64),
    HeaderCut,
    NoScan,
    ScanCut,
    /// Not a marker where one must be: let the decoder describe the damage.
    Corrupt,
}

/// Walks the header segments to the first scan, then looks for the end-of-image marker, reading
/// the stream once front to back. Inside entropy-coded data every 0xFF is stuffed (`FF 00`), so
/// `FF D9` there is the real marker; the header is skipped by segment lengths because an EXIF
/// thumbnail carries its own `FF D9`.
fn jpeg_end(input: impl std::io::Read) -> std::io::Result<JpegEnd> {
    let mut r = ByteReader::new(input);
    // SOI (already recognised by the format sniffing).
    if r.next()?.is_none() || r.next()?.is_none() {
        return Ok(JpegEnd::HeaderCut);
    }
    loop {
        let Some(b) = r.next()? else {
            return Ok(JpegEnd::HeaderCut);
        };
        if b != 0xFF {
            return Ok(JpegEnd::Corrupt);
        }
        // Fill bytes: any number of 0xFF before the marker code.
        let code = loop {
            match r.next()? {
                None => return Ok(JpegEnd::HeaderCut),
                Some(0xFF) => continue,
                Some(c) => break c,
            }
        };
        match code {
            0xDA => break,
            0x01 | 0xD0..=0xD7 => {}
            0xD9 => return Ok(JpegEnd::NoScan),
            _ => {
                let (Some(hi), Some(lo)) = (r.next()?, r.next()?) else {
                    return Ok(JpegEnd::HeaderCut);
                };
                let skip = u64::from(u16::from_be_bytes([hi, lo])).saturating_sub(2);
                if r.skip(skip)? < skip {
                    return Ok(JpegEnd::HeaderCut);
                }
            }
        }
    }
    // The scan (and anything up to the marker).
    let mut prev_ff = false;
    while let Some(b) = r.next()? {
        if prev_ff && b == 0xD9 {
            return Ok(JpegEnd::At(r.pos));
        }
        prev_ff = b == 0xFF;
    }
    Ok(JpegEnd::ScanCut)
}

/// Byte-at-a-time reading over an internal buffer, counting the position.
struct ByteReader<R> {
    inner: R,
    buf: Box<[u8]>,
    at: usize,
    filled: usize,
    pos: u64,
}

impl<R: std::io::Read> ByteReader<R> {
    fn new(inner: R) -> Self {
        ByteReader {
            inner,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            at: 0,
            filled: 0,
            pos: 0,
        }
    }

    fn fill(&mut self) -> std::io::Result<bool> {
        if self.at == self.filled {
            self.filled = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            self.at = 0;
        }
        Ok(self.filled > 0)
    }

    fn next(&mut self) -> std::io::Result<Option<u8>> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.at];
        self.at += 1;
        self.pos += 1;
        Ok(Some(b))
    }

    /// Skips up to `n` bytes; returns how many were there.
    fn skip(&mut self, n: u64) -> std::io::Result<u64> {
        let mut left = n;
        while left > 0 && self.fill()? {
            let take = (self.filled - self.at).min(usize::try_from(left).unwrap_or(usize::MAX));
            self.at += take;
            self.pos += take as u64;
            left -= take as u64;
        }
        Ok(n - left)
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
