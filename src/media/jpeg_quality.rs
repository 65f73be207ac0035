//! JPEG quality estimated from the luminance quantisation table.
//!
//! Almost every encoder (libjpeg/IJG, libjpeg-turbo, mozjpeg's default, the `image` crate,
//! Pillow, OpenCV, FFmpeg's mjpeg) scales the standard luminance table of the JPEG
//! specification (ITU T.81 Annex K, Table K.1) by a quality factor q in 1..=100 the IJG way:
//! `scale = q < 50 ? 5000 / q : 200 − 2q`, `entry = clamp((std · scale + 50) / 100, 1, 255)`
//! (`jpeg_quality_scaling` + `jpeg_add_quant_table` in libjpeg's `jcparam.c`). The estimator
//! reads the file's first luminance table (table id 0) and returns the q whose IJG table is
//! closest to it (least absolute difference over the 64 entries, compared in zig-zag order as
//! stored). Encoders with their own tables (cameras, Photoshop) get the nearest IJG quality,
//! with [`JpegQuality::fit_error`] saying how far off that table is.
//!
//! Parsing is bounded and total: it walks marker segments only up to the first scan (SOS), at
//! most [`MAX_SEGMENTS`] of them, inside the bytes given, and returns `None` — never panics — on
//! anything malformed (truncated segment, bad length, unknown precision, missing table).
use std::io::Read;
use std::path::Path;

/// Marker segments looked at before giving up (a real file has a handful before its scan).
pub const MAX_SEGMENTS: usize = 256;
/// Bytes of a file read to find its tables: APP segments are at most 64 KiB each, so tables
/// sit well inside this even behind large EXIF/XMP/ICC blocks.
pub const MAX_HEADER_BYTES: u64 = 4 << 20;

/// ITU T.81 Table K.1, the standard luminance quantisation table, in natural (row) order.
const STD_LUMA: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, //
    12, 12, 14, 19, 26, 58, 60, 55, //
    14, 13, 16, 24, 40, 57, 69, 56, //
    14, 17, 22, 29, 51, 87, 80, 62, //
    18, 22, 37, 56, 68, 109, 103, 77, //
    24, 35, 55, 64, 81, 104, 113, 92, //
    49, 64, 78, 87, 103, 121, 120, 101, //
    72, 92, 95, 98, 112, 100, 103, 99,
];

/// Natural-order index of the k-th coefficient in zig-zag order (how DQT stores tables).
pub(crate) const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// The estimate for one file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JpegQuality {
    /// The IJG quality (1..=100) whose luminance table best matches the file's.
    pub quality: u8,
    /// Mean absolute difference per entry between the file's table and that IJG table
    /// (0 for a table an IJG-style encoder wrote).
    pub fit_error: f32,
}

/// The IJG luminance table for quality `q` (1..=100), in zig-zag order, 8-bit baseline
/// (entries clamped to 1..=255, as `jpeg_set_quality(…, force_baseline = TRUE)` does).
pub fn ijg_luma_table(q: u8) -> [u16; 64] {
    let q = u32::from(q.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    let mut t = [0u16; 64];
    for (k, &n) in ZIGZAG.iter().enumerate() {
        let v = (u32::from(STD_LUMA[n]) * scale + 50) / 100;
        t[k] = v.clamp(1, 255) as u16;
    }
    t
}

/// The first luminance (id 0) quantisation table of a JPEG, in zig-zag order as stored; None
/// when the bytes are not a JPEG or no such table comes before the first scan.
pub fn luma_table(bytes: &[u8]) -> Option<[u16; 64]> {
    if bytes.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut pos = 2usize;
    for _ in 0..MAX_SEGMENTS {
        // Fill bytes (0xFF repeated) may precede a marker.
        if *bytes.get(pos)? != 0xFF {
            return None;
        }
        while *bytes.get(pos)? == 0xFF {
            pos += 1;
        }
        let marker = *bytes.get(pos)?;
        pos += 1;
        match marker {
            // Standalone markers: TEM, RSTn (no length).
            0x01 | 0xD0..=0xD7 => continue,
            // SOS / EOI: tables come before the first scan.
            0xDA | 0xD9 => return None,
            0x00 => return None,
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
        if len < 2 {
            return None;
        }
        let body = bytes.get(pos + 2..pos.checked_add(len)?)?;
        if marker == 0xDB {
            if let Some(t) = dqt_luma(body) {
                return Some(t);
            }
        }
        pos = pos.checked_add(len)?;
    }
    None
}

/// Table 0 of one DQT segment's body (which may hold several tables), if present and whole.
fn dqt_luma(mut body: &[u8]) -> Option<[u16; 64]> {
    while let Some((&pq_tq, rest)) = body.split_first() {
        let (precision, id) = (pq_tq >> 4, pq_tq & 0x0F);
        let width = match precision {
            0 => 1,
            1 => 2,
            _ => return None,
        };
        let data = rest.get(..64 * width)?;
        if id == 0 {
            let mut t = [0u16; 64];
            for (k, v) in t.iter_mut().enumerate() {
                *v = if width == 1 {
                    u16::from(data[k])
                } else {
                    u16::from_be_bytes([data[2 * k], data[2 * k + 1]])
                };
            }
            return Some(t);
        }
        body = &rest[64 * width..];
    }
    None
}

/// The IJG quality closest to a zig-zag luminance table. None for an all-zero table (invalid:
/// a quantiser of 0 is not allowed).
pub fn estimate_table(table: &[u16; 64]) -> Option<JpegQuality> {
    if table.iter().any(|&v| v == 0) {
        return None;
    }
    let mut best: Option<(u64, u8)> = None;
    for q in 1..=100u8 {
        let ijg = ijg_luma_table(q);
        let err: u64 = table
            .iter()
            .zip(ijg.iter())
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        // Ties go to the higher quality (the clamp to 1 makes q = 98..100 tables equal).
        if best.is_none_or(|(e, _)| err <= e) {
            best = Some((err, q));
        }
    }
    best.map(|(err, q)| JpegQuality {
        quality: q,
        fit_error: err as f32 / 64.0,
    })
}

/// The quality estimate of JPEG bytes; None when they are not a JPEG with a luminance table.
pub fn estimate(bytes: &[u8]) -> Option<JpegQuality> {
    estimate_table(&luma_table(bytes)?)
}

/// The quality estimate of a JPEG file, reading at most [`MAX_HEADER_BYTES`]; None when it
/// cannot be read or is not a JPEG with a luminance table.
pub fn estimate_file(path: &Path) -> Option<JpegQuality> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_HEADER_BYTES)
        .read_to_end(&mut buf)
        .ok()?;
    estimate(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ijg_tables_round_trip() {
        for q in 1..=97u8 {
            assert_eq!(estimate_table(&ijg_luma_table(q)).unwrap().quality, q);
        }
        // 98..=100 all clamp to ones.
        assert_eq!(estimate_table(&ijg_luma_table(100)).unwrap().quality, 100);
        // Quality 50 is the standard table itself.
        assert_eq!(ijg_luma_table(50)[0], 16);
        assert_eq!(ijg_luma_table(50)[1], 11);
        assert_eq!(ijg_luma_table(50)[2], 12);
    }

    #[test]
    fn malformed_headers_are_none() {
        assert_eq!(luma_table(&[]), None);
        assert_eq!(luma_table(&[0xFF]), None);
        assert_eq!(luma_table(&[0xFF, 0xD8]), None);
        assert_eq!(luma_table(&[0xFF, 0xD8, 0xFF, 0xDB, 0x00]), None);
        assert_eq!(luma_table(&[0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x01]), None);
        assert_eq!(luma_table(&[0xFF, 0xD8, 0xFF, 0xDB, 0xFF, 0xFF, 0]), None);
        // A DQT with precision 2 (invalid), and one cut inside its table.
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x20];
        b.extend([1u8; 64]);
        assert_eq!(luma_table(&b), None);
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
        b.extend([1u8; 30]);
        assert_eq!(luma_table(&b), None);
        // All-zero table.
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
        b.extend([0u8; 64]);
        assert_eq!(estimate(&b), None);
    }

    #[test]
    fn chroma_table_first_then_luma() {
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 2 + 2 * 65, 0x01];
        b.extend([99u8; 64]);
        b.push(0x00);
        b.extend(ijg_luma_table(30).iter().map(|&v| v as u8));
        assert_eq!(estimate(&b).unwrap().quality, 30);
    }
}
