//! Image metadata: the container (JPEG, PNG, WebP, TIFF; BMP carries none) walked by hand over
//! at most [`super::MAX_HEADER_BYTES`] and [`super::MAX_BLOCKS`] segments/chunks to collect
//! the EXIF, XMP and ICC blocks, PNG text chunks and the JPEG quantisation tables; then EXIF
//! (`kamadak-exif`, continuing past damaged entries), XMP, ICC, the JPEG tables, and — on one
//! bounded decode of the picture — the EXIF thumbnail comparison and the double-compression
//! indicator.
use std::io::Read;
use std::path::Path;

use exif::{In, Tag, Value};
use image::RgbImage;
use serde_json::json;

use super::super::{Field, Level, Section, Signal};
use super::{clip, file_section, icc, jpeg, text, xmp, Examined, MAX_BLOCKS, MAX_HEADER_BYTES};

/// The embedded EXIF thumbnail differs from the picture when the mean absolute difference of
/// the two, both reduced to a [`THUMB_GRID`]² grid of grey means (0–255), exceeds this. A
/// thumbnail the camera made of the same picture stays within a few grey levels (JPEG
/// re-compression, a different scaler); a picture edited after the camera wrote its thumbnail
/// (content replaced, colours changed, another picture put under the old EXIF) goes far beyond.
pub const THUMBNAIL_DIFF_THRESHOLD: f32 = 12.0;
/// Grid side of the thumbnail comparison.
pub const THUMB_GRID: u32 = 16;
/// The double-compression indicator (mean histogram dip depth in log counts, see `jpeg.rs`)
/// above which a JPEG is flagged as probably compressed twice.
pub const DOUBLE_COMPRESSION_THRESHOLD: f32 = 0.5;
/// Largest picture decoded for the thumbnail comparison and the double-compression indicator.
pub const MAX_DECODE_PIXELS: u64 = 50_000_000;
/// Largest inflated PNG iCCP/iTXt payload.
const MAX_INFLATE: u64 = 4 << 20;

/// Known editing programs (lower-case substrings of EXIF Software / XMP CreatorTool).
const EDITORS: &[&str] = &[
    "photoshop",
    "lightroom",
    "gimp",
    "affinity",
    "pixelmator",
    "snapseed",
    "picsart",
    "facetune",
    "faceapp",
    "canva",
    "paint.net",
    "paintshop",
    "photoscape",
    "luminar",
    "capture one",
    "darktable",
    "rawtherapee",
    "acdsee",
    "fotor",
    "meitu",
    "remini",
    "photopea",
    "imagemagick",
    "graphicsmagick",
    "illustrator",
    "corel",
    "photodirector",
    "lensa",
    "vsco",
    "airbrush",
    "polarr",
    "befunky",
    "krita",
    "inkscape",
];
/// Image generators that name themselves in Software / CreatorTool / PNG text.
const GENERATORS: &[&str] = &[
    "dall-e",
    "dall·e",
    "midjourney",
    "firefly",
    "stable diffusion",
    "stablediffusion",
    "comfyui",
    "automatic1111",
    "novelai",
    "invokeai",
    "imagen",
    "flux",
    "leonardo.ai",
];
/// PNG text keywords image generators write their parameters under.
const GENERATOR_KEYWORDS: &[&str] = &[
    "parameters",
    "prompt",
    "workflow",
    "Dream",
    "sd-metadata",
    "invokeai_metadata",
    "generation_data",
];

/// The signal a Software / CreatorTool value gives: a generator → warning, an editor → notice,
/// anything else (camera firmware, OS versions) → info.
pub(super) fn software_signal(value: &str, source: &str) -> Signal {
    let lower = value.to_lowercase();
    let (level, text) = if GENERATORS.iter().any(|g| lower.contains(g)) {
        (
            Level::Warning,
            format!("made with an image generator ({value})"),
        )
    } else if EDITORS.iter().any(|e| lower.contains(e)) {
        (Level::Notice, format!("edited in {value}"))
    } else {
        (Level::Info, format!("written by {value}"))
    };
    Signal {
        level,
        text,
        source: source.into(),
    }
}

#[derive(Default)]
struct Blocks {
    format: &'static str,
    exif: Option<Vec<u8>>,
    xmp: Vec<Vec<u8>>,
    icc: Option<Vec<u8>>,
    icc_name: Option<String>,
    dqt: [Option<[u16; 64]>; 4],
    progressive: Option<bool>,
    png_text: Vec<(String, String)>,
    problems: Vec<String>,
    exif_problems: Vec<String>,
    xmp_problems: Vec<String>,
    icc_problems: Vec<String>,
    jpeg_problems: Vec<String>,
}

impl Blocks {
    /// A block that ends past the bytes read: cut file or past the read limit.
    fn past_end(&mut self, what: &str, claimed: u64, read_all: bool) {
        self.problems.push(if read_all {
            format!("{what} claims {claimed} bytes, more than the file holds (the file is cut or the length is false); the rest of the file's headers is not read")
        } else {
            format!("{what} claims {claimed} bytes and runs past the first {} MiB read for headers; the rest is not read", MAX_HEADER_BYTES >> 20)
        });
    }
}

pub(super) fn examine(path: &Path, out: &mut Examined) {
    let Some(meta) = file_section(path, out) else {
        return;
    };
    let mut buf = Vec::new();
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_HEADER_BYTES).read_to_end(&mut buf));
    let mut container = Section::new("Image");
    if let Err(e) = read {
        container
            .problems
            .push(format!("cannot read the file: {e}"));
        out.sections.push(container);
        return;
    }
    let read_all = (buf.len() as u64) >= meta.len();
    let mut b = walk(&buf, read_all);
    container.push(Field::new("Format", b.format));
    let dims = image::ImageReader::open(path)
        .ok()
        .and_then(|r| r.with_guessed_format().ok())
        .and_then(|r| r.into_dimensions().ok());
    if let Some((w, h)) = dims {
        container.push(Field::new("Size", format!("{w} × {h} pixels")));
    }
    if let Some(p) = b.progressive {
        container.push(Field::new(
            "JPEG coding",
            if p {
                "progressive"
            } else {
                "baseline / sequential"
            },
        ));
    }
    container.problems.append(&mut b.problems);
    let mut generated = false;
    if !b.png_text.is_empty() {
        let mut keys = Vec::new();
        for (k, v) in &b.png_text {
            keys.push(k.clone());
            if GENERATOR_KEYWORDS.contains(&k.as_str()) {
                generated = true;
                container.push(Field::new(format!("PNG text “{k}”"), v.clone()).flagged());
            } else if k == "Software" {
                container.push(Field::new("PNG Software", v.clone()));
                out.signals.push(software_signal(v, "PNG tEXt Software"));
            }
        }
        container.push(Field::new("PNG text keywords", keys.join(", ")));
        if generated {
            out.signals.push(Signal {
                level: Level::Warning,
                text: "image-generator parameters in the file (PNG text)".into(),
                source: "PNG text chunk written by an image generator".into(),
            });
        }
        out.details["png_text"] = json!(b.png_text);
    }
    out.details["image"] = json!({"format": b.format, "size": dims});
    out.sections.push(container);

    let thumbnail = match b.exif.take() {
        Some(raw) => exif_section(raw, std::mem::take(&mut b.exif_problems), &meta, out),
        None => {
            if !b.exif_problems.is_empty() {
                let mut s = Section::new("EXIF");
                s.problems = std::mem::take(&mut b.exif_problems);
                out.sections.push(s);
            }
            None
        }
    };
    if !b.xmp.is_empty() || !b.xmp_problems.is_empty() {
        xmp::examine(&b.xmp, std::mem::take(&mut b.xmp_problems), out);
    }
    icc_section(&mut b, out);

    // One decode, only when something needs the pixels.
    let luma = b.dqt[0];
    let needs_pixels = thumbnail.is_some() || luma.is_some();
    let mut decode_problem = None;
    let picture = if needs_pixels {
        match decode(path, dims) {
            Ok(p) => Some(p),
            Err(e) => {
                decode_problem = Some(e);
                None
            }
        }
    } else {
        None
    };
    if b.format == "JPEG" {
        jpeg_section(&mut b, picture.as_ref(), decode_problem.clone(), out);
    }
    if let Some(thumb) = thumbnail {
        thumbnail_section(&thumb, picture.as_ref(), decode_problem, out);
    }
}

fn decode(path: &Path, dims: Option<(u32, u32)>) -> Result<RgbImage, String> {
    let (w, h) = dims.ok_or("the picture's size cannot be read")?;
    if u64::from(w) * u64::from(h) > MAX_DECODE_PIXELS {
        return Err(format!(
            "the picture ({w} × {h}) is larger than the {} MP decoded for this check",
            MAX_DECODE_PIXELS / 1_000_000
        ));
    }
    let mut reader = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("cannot read the picture: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_DECODE_PIXELS * 8);
    reader.limits(limits);
    reader
        .decode()
        .map(|i| i.to_rgb8())
        .map_err(|e| format!("cannot decode the picture: {e}"))
}

// ---------------------------------------------------------------- container walkers

fn walk(buf: &[u8], read_all: bool) -> Blocks {
    let mut b = Blocks::default();
    if buf.starts_with(&[0xFF, 0xD8]) {
        b.format = "JPEG";
        walk_jpeg(buf, read_all, &mut b);
    } else if buf.starts_with(b"\x89PNG\r\n\x1a\n") {
        b.format = "PNG";
        walk_png(buf, read_all, &mut b);
    } else if buf.len() >= 12 && &buf[..4] == b"RIFF" && &buf[8..12] == b"WEBP" {
        b.format = "WebP";
        walk_webp(buf, read_all, &mut b);
    } else if buf.starts_with(b"II*\0") || buf.starts_with(b"MM\0*") {
        b.format = "TIFF";
        // A TIFF file is itself an EXIF structure (XMP is its tag 700, read after EXIF).
        b.exif = Some(buf.to_vec());
    } else if buf.starts_with(b"BM") {
        b.format = "BMP";
    } else {
        b.format = "unknown";
        b.problems.push(
            "the content is not a JPEG, PNG, WebP, TIFF or BMP image; no metadata read".into(),
        );
    }
    b
}

fn walk_jpeg(buf: &[u8], read_all: bool, b: &mut Blocks) {
    let mut pos = 2usize;
    let mut icc_chunks: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut extended_xmp = 0usize;
    let mut finished = false;
    for _ in 0..MAX_BLOCKS {
        if pos >= buf.len() {
            break;
        }
        if buf[pos] != 0xFF {
            b.problems.push(format!(
                "the JPEG structure is broken at byte {pos} (no marker where one is due); headers after it are not read"
            ));
            finished = true;
            break;
        }
        while buf.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = buf.get(pos) else { break };
        pos += 1;
        match marker {
            0x01 | 0xD0..=0xD7 => continue,
            0xDA | 0xD9 => {
                finished = true;
                break;
            }
            _ => {}
        }
        let Some(len) = buf
            .get(pos..pos + 2)
            .map(|l| usize::from(u16::from_be_bytes([l[0], l[1]])))
        else {
            break;
        };
        if len < 2 {
            b.problems.push(format!(
                "a JPEG segment at byte {pos} has an invalid length ({len})"
            ));
            finished = true;
            break;
        }
        let Some(body) = buf.get(pos + 2..pos + len) else {
            b.past_end(
                &format!("the JPEG segment FF{marker:02X} at byte {pos}"),
                len as u64,
                read_all,
            );
            finished = true;
            break;
        };
        match marker {
            0xE1 if body.starts_with(b"Exif\0\0") => {
                b.exif.get_or_insert_with(|| body[6..].to_vec());
            }
            0xE1 if body.starts_with(b"http://ns.adobe.com/xap/1.0/\0") => {
                b.xmp.push(body[29..].to_vec());
            }
            0xE1 if body.starts_with(b"http://ns.adobe.com/xmp/extension/\0") => extended_xmp += 1,
            0xE2 if body.starts_with(b"ICC_PROFILE\0") && body.len() >= 14 => {
                icc_chunks.push((body[12], body[14..].to_vec()));
            }
            0xDB => {
                if let Err(e) = jpeg::add_dqt(body, &mut b.dqt) {
                    b.jpeg_problems.push(e);
                }
            }
            0xC0 | 0xC1 | 0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF => {
                b.progressive.get_or_insert(false);
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => {
                b.progressive.get_or_insert(true);
            }
            _ => {}
        }
        pos += len;
    }
    if !finished && pos < buf.len() {
        b.problems.push(format!(
            "more than {MAX_BLOCKS} JPEG header segments; the rest is not read"
        ));
    } else if !finished && read_all {
        b.problems
            .push("the file ends inside the JPEG headers (no image data)".into());
    }
    if extended_xmp > 0 {
        b.xmp_problems.push(format!(
            "the extended XMP part ({extended_xmp} segments) is not read; only the main packet is"
        ));
    }
    if !icc_chunks.is_empty() {
        icc_chunks.sort_by_key(|c| c.0);
        let mut icc = Vec::new();
        for (_, c) in icc_chunks {
            icc.extend(c);
        }
        b.icc = Some(icc);
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_INFLATE + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot be decompressed ({e})"))?;
    if out.len() as u64 > MAX_INFLATE {
        return Err(format!("inflates to more than {} MiB", MAX_INFLATE >> 20));
    }
    Ok(out)
}

fn walk_png(buf: &[u8], read_all: bool, b: &mut Blocks) {
    let mut pos = 8usize;
    for _ in 0..MAX_BLOCKS {
        let (Some(len), Some(kind)) = (be32(buf, pos), buf.get(pos + 4..pos + 8)) else {
            if read_all && pos < buf.len() {
                b.problems
                    .push("the file ends inside a PNG chunk header".into());
            }
            return;
        };
        let kind = String::from_utf8_lossy(kind).into_owned();
        let Some(data) = (pos + 8)
            .checked_add(len as usize)
            .and_then(|end| buf.get(pos + 8..end))
        else {
            // Pixel data past the read limit is expected; a metadata chunk is not.
            if read_all || !matches!(kind.as_str(), "IDAT" | "fdAT") {
                b.past_end(
                    &format!("the PNG chunk “{}”", clip(&kind)),
                    u64::from(len),
                    read_all,
                );
            }
            return;
        };
        match kind.as_str() {
            "eXIf" => {
                b.exif.get_or_insert_with(|| data.to_vec());
            }
            "iCCP" => {
                let nul = data.iter().position(|&c| c == 0).unwrap_or(data.len());
                b.icc_name = Some(String::from_utf8_lossy(&data[..nul]).into_owned());
                match data.get(nul + 2..).map(inflate) {
                    Some(Ok(p)) => b.icc = Some(p),
                    Some(Err(e)) => b.icc_problems.push(format!("the PNG ICC profile {e}")),
                    None => b
                        .icc_problems
                        .push("the PNG ICC profile chunk is cut".into()),
                }
            }
            "iTXt" | "tEXt" | "zTXt" => read_png_text(&kind, data, b),
            "IEND" => return,
            _ => {}
        }
        pos = pos + 12 + len as usize;
    }
    b.problems.push(format!(
        "more than {MAX_BLOCKS} PNG chunks; the rest is not read"
    ));
}

fn read_png_text(kind: &str, data: &[u8], b: &mut Blocks) {
    let Some(nul) = data.iter().position(|&c| c == 0) else {
        b.problems
            .push(format!("a PNG {kind} chunk has no keyword"));
        return;
    };
    let keyword = String::from_utf8_lossy(&data[..nul]).into_owned();
    let rest = &data[nul + 1..];
    let payload: Result<Vec<u8>, String> = match kind {
        "tEXt" => Ok(rest.to_vec()),
        "zTXt" => rest.get(1..).map_or(Err("is cut".into()), inflate),
        _ => {
            // iTXt: compression flag, method, language\0, translated keyword\0, text.
            let (Some(&flag), Some(after)) = (rest.first(), rest.get(2..)) else {
                b.problems
                    .push(format!("the PNG iTXt chunk “{}” is cut", clip(&keyword)));
                return;
            };
            let mut parts = after.splitn(3, |&c| c == 0);
            let (_, _, text) = (parts.next(), parts.next(), parts.next().unwrap_or_default());
            if flag == 1 {
                inflate(text)
            } else {
                Ok(text.to_vec())
            }
        }
    };
    let payload = match payload {
        Ok(p) => p,
        Err(e) => {
            let msg = format!("the PNG text chunk “{}” {e}", clip(&keyword));
            if keyword == "XML:com.adobe.xmp" {
                b.xmp_problems.push(msg);
            } else {
                b.problems.push(msg);
            }
            return;
        }
    };
    if keyword == "XML:com.adobe.xmp" {
        b.xmp.push(payload);
    } else if b.png_text.len() < 64 {
        let value = match text(&payload) {
            Ok(t) | Err(t) => t,
        };
        b.png_text.push((clip(&keyword), value));
    }
}

fn walk_webp(buf: &[u8], read_all: bool, b: &mut Blocks) {
    let mut pos = 12usize;
    for _ in 0..MAX_BLOCKS {
        let (Some(kind), Some(len)) = (
            buf.get(pos..pos + 4),
            buf.get(pos + 4..pos + 8)
                .map(|l| u32::from_le_bytes([l[0], l[1], l[2], l[3]])),
        ) else {
            return;
        };
        let kind = String::from_utf8_lossy(kind).into_owned();
        let Some(data) = (pos + 8)
            .checked_add(len as usize)
            .and_then(|end| buf.get(pos + 8..end))
        else {
            if read_all || !matches!(kind.as_str(), "VP8 " | "VP8L" | "ANMF") {
                b.past_end(
                    &format!("the WebP chunk “{}”", clip(&kind)),
                    u64::from(len),
                    read_all,
                );
            }
            return;
        };
        match kind.as_str() {
            "EXIF" => {
                let d = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
                b.exif.get_or_insert_with(|| d.to_vec());
            }
            "XMP " => b.xmp.push(data.to_vec()),
            "ICCP" => b.icc = Some(data.to_vec()),
            _ => {}
        }
        pos = pos + 8 + len as usize + (len as usize & 1);
    }
    b.problems.push(format!(
        "more than {MAX_BLOCKS} WebP chunks; the rest is not read"
    ));
}

// ---------------------------------------------------------------- EXIF

/// The EXIF thumbnail's JPEG bytes, when there is one.
struct Thumbnail(Vec<u8>);

fn ascii(exif: &exif::Exif, tag: Tag, ifd: In, s: &mut Section) -> Option<String> {
    let f = exif.get_field(tag, ifd)?;
    match &f.value {
        Value::Ascii(v) => {
            let bytes = v.first()?;
            match text(bytes) {
                Ok(t) => Some(t),
                Err(lossy) => {
                    s.problems.push(format!(
                        "EXIF {tag} is not valid UTF-8 text; shown with replacement characters"
                    ));
                    Some(lossy)
                }
            }
        }
        _ => Some(clip(&f.display_value().to_string())),
    }
    .filter(|t| !t.is_empty())
}

fn exif_datetime(
    exif: &exif::Exif,
    tag: Tag,
    s: &mut Section,
) -> Option<(String, chrono::NaiveDateTime)> {
    let f = exif.get_field(tag, In::PRIMARY)?;
    let Value::Ascii(v) = &f.value else {
        s.problems.push(format!("EXIF {tag} is not a text date"));
        return None;
    };
    let raw = v.first()?;
    let shown = match text(raw) {
        Ok(t) | Err(t) => t,
    };
    let parsed = exif::DateTime::from_ascii(raw).ok().and_then(|d| {
        chrono::NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))?
            .and_hms_opt(u32::from(d.hour), u32::from(d.minute), u32::from(d.second))
    });
    match parsed {
        Some(p) => Some((shown, p)),
        None => {
            s.problems
                .push(format!("EXIF {tag} is not a valid date (“{shown}”)"));
            None
        }
    }
}

fn exif_section(
    raw: Vec<u8>,
    problems: Vec<String>,
    meta: &std::fs::Metadata,
    out: &mut Examined,
) -> Option<Thumbnail> {
    let mut s = Section::new("EXIF");
    s.problems = problems;
    let exif = match exif::Reader::new().continue_on_error(true).read_raw(raw) {
        Ok(e) => e,
        Err(exif::Error::PartialResult(p)) => {
            let (e, errors) = p.into_inner();
            let n = errors.len();
            for err in errors.iter().take(8) {
                s.problems
                    .push(format!("part of the EXIF block cannot be read: {err}"));
            }
            if n > 8 {
                s.problems.push(format!("… and {} more EXIF errors", n - 8));
            }
            e
        }
        Err(e) => {
            s.problems
                .push(format!("the EXIF block cannot be read: {e}"));
            out.sections.push(s);
            return None;
        }
    };
    let mut details = serde_json::Map::new();
    for (tag, label) in [
        (Tag::Make, "Camera make"),
        (Tag::Model, "Camera model"),
        (Tag::LensMake, "Lens make"),
        (Tag::LensModel, "Lens"),
        (Tag::Software, "Software"),
        (Tag::Orientation, "Orientation"),
        (Tag::ImageDescription, "Description"),
        (Tag::Artist, "Artist"),
        (Tag::Copyright, "Copyright"),
        (Tag::BodySerialNumber, "Camera serial number"),
        (Tag::CameraOwnerName, "Camera owner"),
        (Tag::ImageUniqueID, "Image unique ID"),
    ] {
        let Some(v) = ascii(&exif, tag, In::PRIMARY, &mut s) else {
            continue;
        };
        details.insert(tag.to_string(), json!(v));
        let mut f = Field::new(label, v.clone());
        if matches!(
            tag,
            Tag::BodySerialNumber | Tag::CameraOwnerName | Tag::Artist
        ) {
            f = f.private();
        }
        if tag == Tag::Software {
            let sig = software_signal(&v, "EXIF Software");
            if sig.level != Level::Info {
                f = f.flagged();
            }
            out.signals.push(sig);
        }
        s.push(f);
    }

    // Dates: capture (DateTimeOriginal) vs last change (IFD0 DateTime) vs the file's mtime.
    let original = exif_datetime(&exif, Tag::DateTimeOriginal, &mut s);
    let changed = exif_datetime(&exif, Tag::DateTime, &mut s);
    let digitized = exif_datetime(&exif, Tag::DateTimeDigitized, &mut s);
    let offset = ascii(&exif, Tag::OffsetTimeOriginal, In::PRIMARY, &mut s);
    let mut date_fields = Vec::new();
    let mismatch = match (&original, &changed) {
        (Some((_, o)), Some((_, c))) => (*c - *o).num_seconds().abs() > 2,
        _ => false,
    };
    if let Some((t, _)) = &original {
        let label = "Taken (DateTimeOriginal)";
        let v = match &offset {
            Some(o) => format!("{t} {o}"),
            None => t.clone(),
        };
        date_fields.push((label, v));
        details.insert("DateTimeOriginal".into(), json!(t));
    }
    if let Some((t, _)) = &digitized {
        date_fields.push(("Digitised (DateTimeDigitized)", t.clone()));
        details.insert("DateTimeDigitized".into(), json!(t));
    }
    if let Some((t, _)) = &changed {
        date_fields.push(("Changed (DateTime)", t.clone()));
        details.insert("DateTime".into(), json!(t));
    }
    for (label, v) in date_fields {
        let f = Field::new(label, v);
        s.push(if mismatch && label != "Digitised (DateTimeDigitized)" {
            f.flagged()
        } else {
            f
        });
    }
    if let (true, Some((o, _)), Some((c, _))) = (mismatch, &original, &changed) {
        out.signals.push(Signal {
            level: Level::Notice,
            text: format!("saved again after capture (EXIF DateTime {c}, DateTimeOriginal {o})"),
            source: "EXIF DateTime vs DateTimeOriginal".into(),
        });
    }
    // A file cannot have been last written before it was taken. EXIF times carry no zone
    // unless OffsetTimeOriginal says so: allow a day either way.
    if let (Some((o, taken)), Ok(mtime)) = (&original, meta.modified()) {
        let mtime = chrono::DateTime::<chrono::Local>::from(mtime);
        let taken_utc = match offset
            .as_deref()
            .and_then(chrono::FixedOffset::from_str_offset)
        {
            Some(off) => taken.and_local_timezone(off).single().map(|t| t.to_utc()),
            None => Some(taken.and_utc()),
        };
        if let Some(taken_utc) = taken_utc {
            let slack = if offset.is_some() { 120 } else { 26 * 3600 };
            if (mtime.to_utc() - taken_utc).num_seconds() < -slack {
                s.push(
                    Field::new(
                        "File time vs capture",
                        format!(
                            "the file was last modified ({}) before the picture was taken ({o})",
                            mtime.format("%Y-%m-%d %H:%M:%S %:z")
                        ),
                    )
                    .flagged(),
                );
                out.signals.push(Signal {
                    level: Level::Notice,
                    text: "file modified before its EXIF capture date (clock or metadata changed)"
                        .into(),
                    source: "EXIF DateTimeOriginal vs file modification time".into(),
                });
            }
        }
    }

    gps(&exif, &mut s, &mut details);

    // The thumbnail (IFD1): JPEG bytes at JPEGInterchangeFormat, relative to the TIFF header.
    let mut thumbnail = None;
    let off = exif
        .get_field(Tag::JPEGInterchangeFormat, In::THUMBNAIL)
        .and_then(|f| f.value.get_uint(0));
    let len = exif
        .get_field(Tag::JPEGInterchangeFormatLength, In::THUMBNAIL)
        .and_then(|f| f.value.get_uint(0));
    if let (Some(off), Some(len)) = (off, len) {
        let buf = exif.buf();
        match (off as usize)
            .checked_add(len as usize)
            .and_then(|end| buf.get(off as usize..end))
        {
            Some(t) if t.starts_with(&[0xFF, 0xD8]) => thumbnail = Some(Thumbnail(t.to_vec())),
            Some(_) => s.problems.push("the EXIF thumbnail is not a JPEG".into()),
            None => s.problems.push(format!(
                "the EXIF thumbnail ({len} bytes at offset {off}) lies outside the EXIF block"
            )),
        }
    }

    out.details["exif"] = serde_json::Value::Object(details);
    out.sections.push(s);
    thumbnail
}

trait FromStrOffset: Sized {
    fn from_str_offset(s: &str) -> Option<Self>;
}
impl FromStrOffset for chrono::FixedOffset {
    /// EXIF OffsetTime: "+09:00" / "-05:30".
    fn from_str_offset(s: &str) -> Option<Self> {
        let s = s.trim();
        let sign = match s.get(..1)? {
            "+" => 1,
            "-" => -1,
            _ => return None,
        };
        let h: i32 = s.get(1..3)?.parse().ok()?;
        let m: i32 = s.get(4..6)?.parse().ok()?;
        chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))
    }
}

fn gps(
    exif: &exif::Exif,
    s: &mut Section,
    details: &mut serde_json::Map<String, serde_json::Value>,
) {
    let coord = |tag: Tag, reference: Tag| -> Option<f64> {
        let f = exif.get_field(tag, In::PRIMARY)?;
        let Value::Rational(v) = &f.value else {
            return None;
        };
        if v.len() < 3 || v.iter().any(|r| r.denom == 0) {
            return None;
        }
        let deg = v[0].to_f64() + v[1].to_f64() / 60.0 + v[2].to_f64() / 3600.0;
        let r = exif
            .get_field(reference, In::PRIMARY)
            .map(|f| f.display_value().to_string())
            .unwrap_or_default();
        Some(if r.contains('S') || r.contains('W') {
            -deg
        } else {
            deg
        })
    };
    let any_gps = exif.fields().any(|f| f.tag.context() == exif::Context::Gps);
    if !any_gps {
        return;
    }
    let lat = coord(Tag::GPSLatitude, Tag::GPSLatitudeRef);
    let lon = coord(Tag::GPSLongitude, Tag::GPSLongitudeRef);
    match (lat, lon) {
        (Some(lat), Some(lon)) if lat.is_finite() && lon.is_finite() => {
            s.push(Field::new(
                "Privacy",
                "this file records where it was taken (GPS); the position is personal data, \
                 hidden until you ask and left out of reports unless asked",
            ));
            s.push(Field::new("GPS position", format!("{lat:.6}, {lon:.6}")).private());
            details.insert(
                "gps".into(),
                json!({"latitude": lat, "longitude": lon, "private": true}),
            );
        }
        _ => s
            .problems
            .push("the EXIF GPS block has no readable position".into()),
    }
}

// ---------------------------------------------------------------- ICC, JPEG, thumbnail

fn icc_section(b: &mut Blocks, out: &mut Examined) {
    if b.icc.is_none() && b.icc_problems.is_empty() {
        return;
    }
    let mut s = Section::new("ICC profile");
    s.problems = std::mem::take(&mut b.icc_problems);
    if let Some(name) = &b.icc_name {
        s.push(Field::new("Name in the PNG", clip(name)));
    }
    if let Some(p) = &b.icc {
        match icc::parse(p) {
            Ok(icc) => {
                if let Some(d) = &icc.description {
                    s.push(Field::new("Profile", d.clone()));
                }
                s.push(Field::new("Colour space", icc.colour_space.clone()));
                s.push(Field::new("Version", icc.version.clone()));
                if !icc.creator.is_empty() {
                    s.push(Field::new("Creator", icc.creator.clone()));
                }
                out.details["icc"] = json!({
                    "description": icc.description, "colour_space": icc.colour_space,
                    "version": icc.version, "creator": icc.creator, "bytes": p.len(),
                });
            }
            Err(e) => s.problems.push(e),
        }
    }
    out.sections.push(s);
}

fn jpeg_section(
    b: &mut Blocks,
    picture: Option<&RgbImage>,
    decode_problem: Option<String>,
    out: &mut Examined,
) {
    let mut s = Section::new("JPEG");
    s.problems = std::mem::take(&mut b.jpeg_problems);
    let n = b.dqt.iter().flatten().count();
    s.push(Field::new("Quantisation tables", n.to_string()));
    let luma = b.dqt[0].and_then(|t| crate::media::jpeg_quality::estimate_table(&t));
    let chroma = b.dqt[1].and_then(|t| jpeg::estimate_chroma(&t));
    let mut details = json!({"tables": n, "tables_zigzag": b.dqt.iter().map(|t| t.map(|t| t.to_vec())).collect::<Vec<_>>()});
    if let Some(l) = luma {
        s.push(Field::new(
            "Estimated quality (luma table)",
            format!(
                "≈ {} (mean difference to the IJG table {:.2} per entry; 0 = written by an IJG-style encoder)",
                l.quality, l.fit_error
            ),
        ));
        details["quality_luma"] = json!(l.quality);
        details["fit_error_luma"] = json!(l.fit_error);
    } else if b.dqt[0].is_some() {
        s.problems
            .push("the luma quantisation table holds a zero".into());
    } else {
        s.problems
            .push("no luma quantisation table before the image data".into());
    }
    if let Some((q, e)) = chroma {
        s.push(Field::new(
            "Estimated quality (chroma table)",
            format!("≈ {q} (mean difference to the IJG table {e:.2} per entry)"),
        ));
        details["quality_chroma"] = json!(q);
        details["fit_error_chroma"] = json!(e);
        if let Some(l) = luma {
            let ratio = f32::from(l.quality) / f32::from(q.max(1));
            s.push(Field::new(
                "Luma / chroma quality",
                format!("{ratio:.2} (1.00 when one quality scaled both tables, as IJG-style encoders do)"),
            ));
            details["quality_ratio"] = json!(ratio);
        }
    }
    match (picture, b.dqt[0]) {
        (Some(p), Some(t)) => match jpeg::double_quantisation(p, &t) {
            Some(dq) => {
                let above = dq.score > DOUBLE_COMPRESSION_THRESHOLD;
                let verdict = if above {
                    "gaps in the DCT histograms: probably compressed as JPEG before, more strongly"
                } else {
                    "no sign of an earlier, stronger JPEG compression"
                };
                let f = Field::new(
                    "Double compression (indicator)",
                    format!(
                        "{:.2} (flagged above {DOUBLE_COMPRESSION_THRESHOLD:.2}): {verdict}. An indicator, not proof: an earlier lighter compression, a resize or a crop between the saves leaves no trace",
                        dq.score
                    ),
                );
                s.push(if above { f.flagged() } else { f });
                if above {
                    out.signals.push(Signal {
                        level: Level::Notice,
                        text: "compressed as JPEG twice (indicator)".into(),
                        source: "JPEG DCT coefficient histograms".into(),
                    });
                }
                details["double_compression"] = json!({
                    "score": dq.score, "threshold": DOUBLE_COMPRESSION_THRESHOLD,
                    "positions": dq.positions, "blocks": dq.blocks, "flagged": above,
                });
            }
            None => s
                .problems
                .push("the picture is too small or too flat to judge double compression".into()),
        },
        (None, Some(_)) => s.problems.push(format!(
            "double compression not checked: {}",
            decode_problem.unwrap_or_else(|| "the picture was not decoded".into())
        )),
        _ => {}
    }
    out.details["jpeg"] = details;
    out.sections.push(s);
}

/// Grey means of a `THUMB_GRID`² grid over the region (x0, y0, w, h) of `img`.
fn grey_grid(img: &RgbImage, region: (f64, f64, f64, f64)) -> Vec<f32> {
    let (x0, y0, w, h) = region;
    let g = THUMB_GRID as usize;
    let mut sums = vec![0f64; g * g];
    let mut counts = vec![0u32; g * g];
    // At most ~512 samples per grid side: bounded time on any picture.
    let step_x = (w / 512.0).max(1.0);
    let step_y = (h / 512.0).max(1.0);
    let mut y = y0;
    while y < y0 + h {
        let mut x = x0;
        while x < x0 + w {
            let (px, py) = (x as u32, y as u32);
            if px < img.width() && py < img.height() {
                let p = img.get_pixel(px, py).0;
                let grey =
                    0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]);
                let cx = (((x - x0) / w) * g as f64).min(g as f64 - 1.0) as usize;
                let cy = (((y - y0) / h) * g as f64).min(g as f64 - 1.0) as usize;
                sums[cy * g + cx] += grey;
                counts[cy * g + cx] += 1;
            }
            x += step_x;
        }
        y += step_y;
    }
    sums.iter()
        .zip(&counts)
        .map(|(&s, &c)| {
            if c == 0 {
                0.0
            } else {
                (s / f64::from(c)) as f32
            }
        })
        .collect()
}

fn thumbnail_section(
    thumb: &Thumbnail,
    picture: Option<&RgbImage>,
    decode_problem: Option<String>,
    out: &mut Examined,
) {
    let mut s = Section::new("Embedded thumbnail");
    let decoded = image::load_from_memory_with_format(&thumb.0, image::ImageFormat::Jpeg);
    let t = match decoded {
        Ok(t) => t.to_rgb8(),
        Err(e) => {
            s.problems
                .push(format!("the EXIF thumbnail cannot be decoded: {e}"));
            out.sections.push(s);
            return;
        }
    };
    s.push(Field::new(
        "Size",
        format!("{} × {} pixels", t.width(), t.height()),
    ));
    let Some(p) = picture else {
        s.problems.push(format!(
            "not compared with the picture: {}",
            decode_problem.unwrap_or_else(|| "the picture was not decoded".into())
        ));
        out.sections.push(s);
        return;
    };
    // Cameras letterbox a 3:2 picture into a 4:3 thumbnail: compare the thumbnail's region
    // with the picture's aspect, centred.
    let (pw, ph) = (f64::from(p.width()), f64::from(p.height()));
    let (tw, th) = (f64::from(t.width()), f64::from(t.height()));
    let (a, ta) = (pw / ph, tw / th);
    let region = if (a / ta - 1.0).abs() < 0.03 {
        (0.0, 0.0, tw, th)
    } else if a > ta {
        let h = tw / a;
        (0.0, (th - h) / 2.0, tw, h)
    } else {
        let w = th * a;
        ((tw - w) / 2.0, 0.0, w, th)
    };
    let gt = grey_grid(&t, region);
    let gp = grey_grid(p, (0.0, 0.0, pw, ph));
    let mad = gt.iter().zip(&gp).map(|(a, b)| (a - b).abs()).sum::<f32>() / gt.len() as f32;
    let differs = mad > THUMBNAIL_DIFF_THRESHOLD;
    let f = Field::new(
        "Difference from the picture",
        format!(
            "{mad:.1} grey levels on average over a {THUMB_GRID}×{THUMB_GRID} grid (flagged above {THUMBNAIL_DIFF_THRESHOLD:.0}){}",
            if differs { ": the thumbnail shows something else than the picture" } else { "" }
        ),
    );
    s.push(if differs { f.flagged() } else { f });
    if differs {
        out.signals.push(Signal {
            level: Level::Warning,
            text: "embedded thumbnail differs from the picture (edit trace)".into(),
            source: "EXIF thumbnail vs picture".into(),
        });
    }
    out.details["thumbnail"] = json!({
        "width": t.width(), "height": t.height(), "mean_abs_diff": mad,
        "threshold": THUMBNAIL_DIFF_THRESHOLD, "differs": differs,
    });
    out.sections.push(s);
}
