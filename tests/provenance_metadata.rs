//! `provenance::metadata::examine`: EXIF, XMP, ICC, JPEG tables, thumbnails and video
//! containers, on fixtures built here (EXIF/XMP/ICC bytes written by hand into JPEGs the
//! `image` crate encodes; videos from the FFmpeg CLI), and malformed blocks that must come back
//! as problems with the other sections still filled.
mod common;

use std::path::{Path, PathBuf};

use image::RgbImage;
use verity::provenance::metadata::{examine, Examined};
use verity::provenance::{Level, Section};

// ---------------------------------------------------------------- builders

/// One IFD entry: tag, type, count, value bytes (little-endian).
type Entry = (u16, u16, u32, Vec<u8>);
const ASCII: u16 = 2;
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;

fn ascii(tag: u16, s: &[u8]) -> Entry {
    let mut v = s.to_vec();
    v.push(0);
    (tag, ASCII, v.len() as u32, v)
}
fn short(tag: u16, v: u16) -> Entry {
    (tag, SHORT, 1, v.to_le_bytes().to_vec())
}
fn rationals(tag: u16, vals: &[(u32, u32)]) -> Entry {
    let mut v = Vec::new();
    for (n, d) in vals {
        v.extend(n.to_le_bytes());
        v.extend(d.to_le_bytes());
    }
    (tag, RATIONAL, vals.len() as u32, v)
}

fn ifd_size(entries: &[Entry]) -> usize {
    2 + 12 * entries.len()
        + 4
        + entries
            .iter()
            .map(|e| {
                if e.3.len() > 4 {
                    (e.3.len() + 1) & !1
                } else {
                    0
                }
            })
            .sum::<usize>()
}

/// Writes one IFD at `buf.len()` (which must be `at`), its out-of-line values right after it.
fn write_ifd(buf: &mut Vec<u8>, entries: &[Entry], next: u32) {
    let at = buf.len();
    let mut data_at = at + 2 + 12 * entries.len() + 4;
    let mut data = Vec::new();
    buf.extend((entries.len() as u16).to_le_bytes());
    for (tag, typ, count, value) in entries {
        buf.extend(tag.to_le_bytes());
        buf.extend(typ.to_le_bytes());
        buf.extend(count.to_le_bytes());
        if value.len() <= 4 {
            let mut v = value.clone();
            v.resize(4, 0);
            buf.extend(v);
        } else {
            buf.extend((data_at as u32).to_le_bytes());
            data.extend(value);
            if value.len() % 2 == 1 {
                data.push(0);
            }
            data_at += (value.len() + 1) & !1;
        }
    }
    buf.extend(next.to_le_bytes());
    buf.extend(data);
}

/// A little-endian TIFF/EXIF structure: IFD0 (+ Exif IFD pointer), Exif IFD, GPS IFD, and an
/// IFD1 with a JPEG thumbnail when given.
fn exif_block(ifd0: &[Entry], exif: &[Entry], gps: &[Entry], thumb: Option<&[u8]>) -> Vec<u8> {
    let mut ifd0 = ifd0.to_vec();
    if !exif.is_empty() {
        ifd0.push((0x8769, LONG, 1, vec![0; 4]));
    }
    if !gps.is_empty() {
        ifd0.push((0x8825, LONG, 1, vec![0; 4]));
    }
    let ifd1: Vec<Entry> = thumb.map_or(vec![], |t| {
        vec![
            (0x0103, SHORT, 1, 6u16.to_le_bytes().to_vec()),
            (0x0201, LONG, 1, vec![0; 4]),
            (0x0202, LONG, 1, (t.len() as u32).to_le_bytes().to_vec()),
        ]
    });
    let off0 = 8;
    let off_exif = off0 + ifd_size(&ifd0);
    let off_gps = off_exif + if exif.is_empty() { 0 } else { ifd_size(exif) };
    let off1 = off_gps + if gps.is_empty() { 0 } else { ifd_size(gps) };
    let off_thumb = off1 + if thumb.is_some() { ifd_size(&ifd1) } else { 0 };
    for e in &mut ifd0 {
        if e.0 == 0x8769 {
            e.3 = (off_exif as u32).to_le_bytes().to_vec();
        }
        if e.0 == 0x8825 {
            e.3 = (off_gps as u32).to_le_bytes().to_vec();
        }
    }
    let ifd1: Vec<Entry> = ifd1
        .into_iter()
        .map(|mut e| {
            if e.0 == 0x0201 {
                e.3 = (off_thumb as u32).to_le_bytes().to_vec();
            }
            e
        })
        .collect();
    let mut buf = b"II*\0".to_vec();
    buf.extend((off0 as u32).to_le_bytes());
    write_ifd(
        &mut buf,
        &ifd0,
        if thumb.is_some() { off1 as u32 } else { 0 },
    );
    if !exif.is_empty() {
        write_ifd(&mut buf, exif, 0);
    }
    if !gps.is_empty() {
        write_ifd(&mut buf, gps, 0);
    }
    if let Some(t) = thumb {
        write_ifd(&mut buf, &ifd1, 0);
        assert_eq!(buf.len(), off_thumb);
        buf.extend(t);
    }
    buf
}

fn astronaut() -> RgbImage {
    image::open(common::astronaut()).unwrap().to_rgb8()
}

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

/// `jpeg` with APP segments (marker, body) inserted right after SOI.
fn with_segments(jpeg: &[u8], segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    for (marker, body) in segments {
        assert!(body.len() + 2 <= 0xFFFF);
        out.extend([0xFF, *marker]);
        out.extend(((body.len() + 2) as u16).to_be_bytes());
        out.extend(body);
    }
    out.extend(&jpeg[2..]);
    out
}

fn app1_exif(tiff: &[u8]) -> (u8, Vec<u8>) {
    (0xE1, [b"Exif\0\0".as_slice(), tiff].concat())
}

fn app1_xmp(xml: &str) -> (u8, Vec<u8>) {
    (
        0xE1,
        [b"http://ns.adobe.com/xap/1.0/\0".as_slice(), xml.as_bytes()].concat(),
    )
}

/// A minimal v2 ICC profile whose `desc` tag names it.
fn icc_profile(name: &str) -> Vec<u8> {
    let mut p = vec![0u8; 128];
    p[8] = 2;
    p[9] = 0x10;
    p[16..20].copy_from_slice(b"RGB ");
    p[36..40].copy_from_slice(b"acsp");
    p.extend(1u32.to_be_bytes());
    let mut tag = b"desc\0\0\0\0".to_vec();
    tag.extend((name.len() as u32 + 1).to_be_bytes());
    tag.extend(name.as_bytes());
    tag.push(0);
    p.extend(b"desc");
    p.extend((144u32).to_be_bytes());
    p.extend((tag.len() as u32).to_be_bytes());
    p.extend(tag);
    let n = p.len() as u32;
    p[..4].copy_from_slice(&n.to_be_bytes());
    p
}

fn xmp_packet(inner: &str) -> String {
    format!(
        r#"<?xpacket begin="﻿" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
 xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
 {inner}
</rdf:Description></rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn section<'a>(e: &'a Examined, title: &str) -> &'a Section {
    e.sections
        .iter()
        .find(|s| s.title == title)
        .unwrap_or_else(|| panic!("no section {title:?} in {:#?}", e.sections))
}

fn field<'a>(e: &'a Examined, title: &str, label: &str) -> &'a verity::provenance::Field {
    section(e, title)
        .fields
        .iter()
        .find(|f| f.label.starts_with(label))
        .unwrap_or_else(|| panic!("no field {label:?} in {title}: {:#?}", section(e, title)))
}

fn has_signal(e: &Examined, level: Level, text: &str) -> bool {
    e.signals
        .iter()
        .any(|s| s.level == level && s.text.contains(text))
}

fn all_problems(e: &Examined) -> Vec<String> {
    e.sections
        .iter()
        .flat_map(|s| s.problems.iter().map(move |p| format!("{}: {p}", s.title)))
        .collect()
}

/// A camera-like EXIF block.
fn camera_exif(dto: &str, datetime: &str, software: &[u8], thumb: Option<&[u8]>) -> Vec<u8> {
    exif_block(
        &[
            ascii(0x010F, b"Canon"),
            ascii(0x0110, b"Canon EOS 5D Mark IV"),
            short(0x0112, 1),
            ascii(0x0131, software),
            ascii(0x0132, datetime.as_bytes()),
        ],
        &[
            ascii(0x9003, dto.as_bytes()),
            ascii(0xA434, b"EF24-70mm f/2.8L II USM"),
        ],
        &[
            ascii(0x0001, b"N"),
            rationals(0x0002, &[(48, 1), (51, 1), (2904, 100)]),
            ascii(0x0003, b"E"),
            rationals(0x0004, &[(2, 1), (17, 1), (4020, 100)]),
        ],
        thumb,
    )
}

// ---------------------------------------------------------------- images

#[test]
fn exif_fields_dates_gps_and_software() {
    let dir = tempfile::tempdir().unwrap();
    let pic = astronaut();
    let base = jpeg(&pic, 92);
    // Same capture and change time, camera firmware as software: no signals.
    let same = camera_exif(
        "2023:05:01 10:00:00",
        "2023:05:01 10:00:00",
        b"Firmware Version 1.1.0",
        None,
    );
    let e = examine(
        &write(
            dir.path(),
            "camera.jpg",
            &with_segments(&base, &[app1_exif(&same)]),
        ),
        "image",
    );
    assert_eq!(field(&e, "EXIF", "Camera make").value, "Canon");
    assert_eq!(
        field(&e, "EXIF", "Camera model").value,
        "Canon EOS 5D Mark IV"
    );
    assert_eq!(field(&e, "EXIF", "Lens").value, "EF24-70mm f/2.8L II USM");
    assert!(
        field(&e, "EXIF", "Orientation").value.contains("top"),
        "{:?}",
        field(&e, "EXIF", "Orientation")
    );
    assert!(!field(&e, "EXIF", "Taken").flagged);
    assert!(
        !e.signals.iter().any(|s| s.level != Level::Info),
        "{:?}",
        e.signals
    );
    // GPS: private, with a privacy note that is not private.
    let gps = field(&e, "EXIF", "GPS position");
    assert!(gps.private, "{gps:?}");
    assert!(gps.value.starts_with("48.8580"), "{gps:?}");
    assert!(gps.value.contains("2.2945"), "{gps:?}");
    let note = field(&e, "EXIF", "Privacy");
    assert!(!note.private && note.value.contains("personal data"));
    assert_eq!(e.details["exif"]["gps"]["private"], true);
    assert!(all_problems(&e).is_empty(), "{:?}", all_problems(&e));

    // Changed a year after capture, in an editor.
    let edited = camera_exif(
        "2023:05:01 10:00:00",
        "2024:02:03 12:00:00",
        b"GIMP 2.10.34",
        None,
    );
    let e = examine(
        &write(
            dir.path(),
            "edited.jpg",
            &with_segments(&base, &[app1_exif(&edited)]),
        ),
        "image",
    );
    assert!(field(&e, "EXIF", "Taken").flagged && field(&e, "EXIF", "Changed").flagged);
    assert!(
        has_signal(&e, Level::Notice, "saved again after capture"),
        "{:?}",
        e.signals
    );
    let sw = e
        .signals
        .iter()
        .find(|s| s.text == "edited in GIMP 2.10.34")
        .expect("software signal");
    assert_eq!(
        (sw.level, sw.source.as_str()),
        (Level::Notice, "EXIF Software")
    );
    assert_eq!(e.details["exif"]["DateTime"], "2024:02:03 12:00:00");

    // Taken "in the future" relative to the file's modification time.
    let future = camera_exif("2099:01:01 00:00:00", "2099:01:01 00:00:00", b"x", None);
    let e = examine(
        &write(
            dir.path(),
            "future.jpg",
            &with_segments(&base, &[app1_exif(&future)]),
        ),
        "image",
    );
    assert!(field(&e, "EXIF", "File time vs capture").flagged);
    assert!(has_signal(
        &e,
        Level::Notice,
        "file modified before its EXIF capture date"
    ));
}

#[test]
fn xmp_digital_source_type_history_and_icc() {
    let dir = tempfile::tempdir().unwrap();
    let base = jpeg(&astronaut(), 90);
    let xml = xmp_packet(
        r#"xmp:CreatorTool="Adobe Photoshop 25.0 (Macintosh)" Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia">
<xmpMM:History><rdf:Seq>
 <rdf:li stEvt:action="created" stEvt:softwareAgent="Adobe Firefly" stEvt:when="2024-01-01T10:00:00Z"/>
 <rdf:li rdf:parseType="Resource"><stEvt:action>saved</stEvt:action><stEvt:softwareAgent>Adobe Photoshop 25.0</stEvt:softwareAgent><stEvt:when>2024-01-02T10:00:00Z</stEvt:when><stEvt:changed>/</stEvt:changed></rdf:li>
</rdf:Seq></xmpMM:History>"#,
    );
    let icc = icc_profile("Display P3 test");
    let mut app2 = b"ICC_PROFILE\0\x01\x01".to_vec();
    app2.extend(&icc);
    let p = write(
        dir.path(),
        "ai.jpg",
        &with_segments(&base, &[app1_xmp(&xml), (0xE2, app2)]),
    );
    let e = examine(&p, "image");
    let w = e
        .signals
        .iter()
        .find(|s| s.text == "AI-generated per IPTC digital source type (XMP)")
        .expect("AI warning");
    assert_eq!(w.level, Level::Warning);
    assert!(w.source.contains("trainedAlgorithmicMedia"), "{w:?}");
    assert!(field(&e, "XMP", "IPTC digital source type").flagged);
    assert_eq!(
        field(&e, "XMP", "Creator tool").value,
        "Adobe Photoshop 25.0 (Macintosh)"
    );
    let h = field(&e, "XMP", "Editing history (2 steps)");
    assert!(
        h.value
            .contains("created with Adobe Firefly at 2024-01-01T10:00:00Z"),
        "{h:?}"
    );
    assert!(h.value.contains("saved with Adobe Photoshop 25.0"), "{h:?}");
    assert!(
        has_signal(&e, Level::Notice, "edited in Adobe Photoshop 25.0"),
        "{:?}",
        e.signals
    );
    assert_eq!(field(&e, "ICC profile", "Profile").value, "Display P3 test");
    assert_eq!(
        e.details["xmp"]["history"][1]["software_agent"],
        "Adobe Photoshop 25.0"
    );

    // A capture: digitalCapture gives no warning.
    let xml = xmp_packet(
        r#"Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture">"#,
    );
    let e = examine(
        &write(
            dir.path(),
            "capture.jpg",
            &with_segments(&base, &[app1_xmp(&xml)]),
        ),
        "image",
    );
    assert!(!field(&e, "XMP", "IPTC digital source type").flagged);
    assert!(
        !e.signals.iter().any(|s| s.level == Level::Warning),
        "{:?}",
        e.signals
    );

    // The same XMP in a PNG iTXt chunk.
    let xml = xmp_packet(
        r#"Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia">"#,
    );
    let png = png_with_chunks(&[(
        "iTXt",
        [b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(), xml.as_bytes()].concat(),
    )]);
    let e = examine(&write(dir.path(), "ai.png", &png), "image");
    assert!(
        has_signal(&e, Level::Warning, "AI-generated per IPTC"),
        "{:?} {:?}",
        e.signals,
        all_problems(&e)
    );
}

#[test]
fn a_thumbnail_that_differs_from_the_picture_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let pic = astronaut();
    let base = jpeg(&pic, 90);
    let small = image::imageops::resize(&pic, 160, 160, image::imageops::FilterType::Triangle);
    let same = jpeg(&small, 80);
    let e = examine(
        &write(
            dir.path(),
            "same.jpg",
            &with_segments(
                &base,
                &[app1_exif(&camera_exif(
                    "2023:05:01 10:00:00",
                    "2023:05:01 10:00:00",
                    b"x",
                    Some(&same),
                ))],
            ),
        ),
        "image",
    );
    let f = field(&e, "Embedded thumbnail", "Difference from the picture");
    assert!(!f.flagged, "{f:?}");
    assert!(
        e.details["thumbnail"]["mean_abs_diff"].as_f64().unwrap() < 4.0,
        "{f:?}"
    );
    // The picture mirrored after the camera wrote the thumbnail.
    let other = jpeg(&image::imageops::flip_horizontal(&small), 80);
    let e = examine(
        &write(
            dir.path(),
            "edited.jpg",
            &with_segments(
                &base,
                &[app1_exif(&camera_exif(
                    "2023:05:01 10:00:00",
                    "2023:05:01 10:00:00",
                    b"x",
                    Some(&other),
                ))],
            ),
        ),
        "image",
    );
    assert!(field(&e, "Embedded thumbnail", "Difference from the picture").flagged);
    let s = e
        .signals
        .iter()
        .find(|s| s.text == "embedded thumbnail differs from the picture (edit trace)")
        .expect("warning");
    assert_eq!(s.level, Level::Warning);
}

#[test]
fn double_compression_indicator_separates_twice_from_once() {
    let dir = tempfile::tempdir().unwrap();
    let pic = astronaut();
    let once = jpeg(&pic, 90);
    let first = image::load_from_memory(&jpeg(&pic, 50)).unwrap().to_rgb8();
    let twice = jpeg(&first, 90);
    let score = |name: &str, bytes: &[u8]| {
        let e = examine(&write(dir.path(), name, bytes), "image");
        let dq = e.details["jpeg"]["double_compression"].clone();
        assert_eq!(e.details["jpeg"]["quality_luma"], 90, "{name}");
        (
            dq["score"].as_f64().unwrap(),
            dq["flagged"].as_bool().unwrap(),
            e,
        )
    };
    let (s1, f1, e1) = score("once.jpg", &once);
    let (s2, f2, e2) = score("twice.jpg", &twice);
    eprintln!("double-compression score: once {s1:.3}, twice {s2:.3}");
    assert!(!f1 && f2, "once {s1} twice {s2}");
    assert!(!has_signal(&e1, Level::Notice, "compressed as JPEG twice"));
    assert!(has_signal(&e2, Level::Notice, "compressed as JPEG twice"));
    // IJG-style tables: both estimates agree.
    assert_eq!(e1.details["jpeg"]["quality_chroma"], 90);
    assert!(field(&e2, "JPEG", "Double compression")
        .value
        .contains("indicator"));
}

/// The threshold over a spread of qualities: single saves stay below it, a stronger earlier
/// save followed by a lighter one goes above (the case the indicator is documented to see).
#[test]
fn double_compression_threshold_over_qualities() {
    let dir = tempfile::tempdir().unwrap();
    let pic = astronaut();
    let score = |name: &str, bytes: &[u8]| -> f64 {
        let e = examine(&write(dir.path(), name, bytes), "image");
        e.details["jpeg"]["double_compression"]["score"]
            .as_f64()
            .unwrap()
    };
    let t = f64::from(verity::provenance::metadata::DOUBLE_COMPRESSION_THRESHOLD);
    let mut report = Vec::new();
    let mut wrong = Vec::new();
    for q in [60u8, 75, 85, 90, 95, 98] {
        let s = score(&format!("once{q}.jpg"), &jpeg(&pic, q));
        report.push(format!("once q{q}: {s:.3}"));
        if s > t {
            wrong.push(format!("single q{q} scored {s:.3}"));
        }
    }
    for (q1, q2) in [(40u8, 80u8), (50, 90), (60, 95), (70, 95), (50, 75)] {
        let first = image::load_from_memory(&jpeg(&pic, q1)).unwrap().to_rgb8();
        let s = score(&format!("twice{q1}-{q2}.jpg"), &jpeg(&first, q2));
        report.push(format!("twice q{q1}->q{q2}: {s:.3}"));
        if s <= t {
            wrong.push(format!("double q{q1}->q{q2} scored {s:.3}"));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(wrong.is_empty(), "{wrong:?}\n{}", report.join("\n"));
}

// ---------------------------------------------------------------- malformed

fn png_with_chunks(chunks: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(image::imageops::resize(
        &astronaut(),
        64,
        64,
        image::imageops::FilterType::Triangle,
    ))
    .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
    .unwrap();
    // Insert after IHDR (8 signature + 25 IHDR bytes).
    let mut out = png[..33].to_vec();
    for (kind, data) in chunks {
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(kind.as_bytes());
        out.extend(data);
        out.extend(0u32.to_be_bytes()); // CRC not checked by the walker
    }
    out.extend(&png[33..]);
    out
}

/// Every malformed case returns, says what it could not read, and still fills the rest.
#[test]
fn malformed_blocks_are_problems_not_failures() {
    let dir = tempfile::tempdir().unwrap();
    let base = jpeg(&astronaut(), 90);
    let good = camera_exif("2023:05:01 10:00:00", "2023:05:01 10:00:00", b"x", None);
    let ifd0 = |entries: &[Entry], next: u32| {
        let mut b = b"II*\0\x08\0\0\0".to_vec();
        write_ifd(&mut b, entries, next);
        b
    };
    let icc = icc_profile("sRGB test");
    let icc_app2 = (0xE2, [b"ICC_PROFILE\0\x01\x01".as_slice(), &icc].concat());
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        // (name, bytes, problem substring, a section that must still be filled)
        (
            "truncated exif",
            with_segments(&base, &[app1_exif(&good[..40]), icc_app2.clone()]),
            "EXIF",
            "ICC profile",
        ),
        (
            "ifd points to itself",
            with_segments(
                &base,
                &[
                    app1_exif(&ifd0(
                        &[
                            ascii(0x010F, b"Canon"),
                            (0x8769, LONG, 1, 8u32.to_le_bytes().to_vec()),
                        ],
                        8,
                    )),
                    icc_app2.clone(),
                ],
            ),
            "EXIF",
            "ICC profile",
        ),
        (
            "huge count",
            with_segments(
                &base,
                &[app1_exif(&ifd0(
                    &[
                        ascii(0x010F, b"Canon"),
                        (0x0110, ASCII, u32::MAX, 100u32.to_le_bytes().to_vec()),
                    ],
                    0,
                ))],
            ),
            "EXIF",
            "JPEG",
        ),
        (
            "invalid utf-8",
            with_segments(
                &base,
                &[app1_exif(&ifd0(
                    &[ascii(0x010F, b"Can\xff\xfeon"), ascii(0x0110, b"EOS")],
                    0,
                ))],
            ),
            "not valid UTF-8",
            "JPEG",
        ),
        (
            "xmp not xml",
            with_segments(
                &base,
                &[
                    app1_xmp("this is <not xml & never closed"),
                    app1_exif(&good),
                ],
            ),
            "not well-formed XML",
            "EXIF",
        ),
        (
            "xmp not utf-8",
            with_segments(
                &base,
                &[
                    (
                        0xE1,
                        [b"http://ns.adobe.com/xap/1.0/\0<x>\xff\xfe</x>".as_slice()].concat(),
                    ),
                    app1_exif(&good),
                ],
            ),
            "not valid UTF-8",
            "EXIF",
        ),
        (
            "xmp 50 MB claim (PNG)",
            {
                let mut png = png_with_chunks(&[("eXIf", good.clone())]);
                // A chunk that claims 50 MB, then the rest of the file.
                let at = png.len() - 12; // before IEND
                let mut claim = (50u32 << 20).to_be_bytes().to_vec();
                claim.extend(b"iTXtXML:com.adobe.xmp\0\0\0\0\0<x/>");
                png.splice(at..at, claim);
                png
            },
            "claims 52428800 bytes",
            "EXIF",
        ),
        (
            "xmp 50 MB claim (WebP)",
            {
                let mut w = b"RIFF\0\0\0\0WEBP".to_vec();
                w.extend(b"EXIF");
                w.extend((good.len() as u32).to_le_bytes());
                w.extend(&good);
                if good.len() % 2 == 1 {
                    w.push(0);
                }
                w.extend(b"XMP ");
                w.extend((50u32 << 20).to_le_bytes());
                w.extend(b"<x/>");
                w
            },
            "claims 52428800 bytes",
            "EXIF",
        ),
        (
            "icc lies",
            with_segments(
                &base,
                &[
                    (
                        0xE2,
                        [b"ICC_PROFILE\0\x01\x01".as_slice(), &icc[..140]].concat(),
                    ),
                    app1_exif(&good),
                ],
            ),
            "ICC",
            "EXIF",
        ),
        (
            "thumbnail outside",
            {
                let t = [0xFF, 0xD8, 1, 2, 3, 4, 5, 6];
                let b = exif_block(&[ascii(0x010F, b"Canon")], &[], &[], Some(&t));
                with_segments(&base, &[app1_exif(&b[..b.len() - t.len()])])
            },
            "lies outside the EXIF block",
            "JPEG",
        ),
        (
            "garbage exif",
            with_segments(
                &base,
                &[app1_exif(
                    &(0..3000u32)
                        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                        .collect::<Vec<_>>(),
                )],
            ),
            "EXIF",
            "JPEG",
        ),
    ];
    let mut failures = Vec::new();
    for (name, bytes, problem, filled) in &cases {
        let p = write(
            dir.path(),
            &format!("{}.img", name.replace(' ', "_")),
            bytes,
        );
        let e = std::panic::catch_unwind(|| examine(&p, "image"));
        let Ok(e) = e else {
            failures.push(format!("{name}: PANICKED"));
            continue;
        };
        let problems = all_problems(&e);
        eprintln!("{name}: {problems:?}");
        if !problems.iter().any(|p| p.contains(problem)) {
            failures.push(format!(
                "{name}: no problem mentioning {problem:?}: {problems:?}"
            ));
        }
        match e.sections.iter().find(|s| s.title == *filled) {
            Some(s) if !s.fields.is_empty() => {}
            _ => failures.push(format!(
                "{name}: section {filled:?} not filled: {:#?}",
                e.sections
            )),
        }
        if section(&e, "File").fields.is_empty() {
            failures.push(format!("{name}: no File section"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unreadable_and_odd_paths_never_fail() {
    let dir = tempfile::tempdir().unwrap();
    let e = examine(&dir.path().join("missing.jpg"), "image");
    assert!(section(&e, "File").problems[0].contains("cannot read"));
    let e = examine(&write(dir.path(), "notes.txt", b"hello"), "image");
    assert!(all_problems(&e)
        .iter()
        .any(|p| p.contains("not a JPEG, PNG, WebP, TIFF or BMP")));
    assert!(examine(Path::new("rtsp://camera.local/stream"), "live")
        .sections
        .is_empty());
    // A frame folder: its first frame in natural order, said so.
    let folder = dir.path().join("frames");
    std::fs::create_dir(&folder).unwrap();
    let base = jpeg(&astronaut(), 90);
    write(&folder, "frame10.jpg", &base);
    write(
        &folder,
        "frame2.jpg",
        &with_segments(
            &base,
            &[app1_exif(&camera_exif(
                "2023:05:01 10:00:00",
                "2023:05:01 10:00:00",
                b"x",
                None,
            ))],
        ),
    );
    let e = examine(&folder, "framefolder");
    assert!(field(&e, "Frame folder", "Metadata read from")
        .value
        .contains("frame2.jpg"));
    assert_eq!(field(&e, "EXIF", "Camera make").value, "Canon");
    let e = examine(&dir.path().join("nothing"), "framefolder");
    assert!(!section(&e, "Frame folder").problems.is_empty());
}

// ---------------------------------------------------------------- videos

#[test]
fn video_container_streams_gop_and_audio() {
    let silent = common::ffmpeg_cached(
        "meta_silent.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=128x96:rate=25",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-profile:v",
            "high",
            "-g",
            "10",
            "-keyint_min",
            "10",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-metadata",
            "com.android.version=14",
            "-movflags",
            "use_metadata_tags",
        ],
        &[],
    );
    let e = examine(&silent, "video");
    let enc = field(&e, "Container", "Encoder");
    assert!(enc.value.starts_with("Lavf") && enc.flagged, "{enc:?}");
    assert!(
        e.signals.iter().any(|s| s.level == Level::Notice
            && s.text.starts_with("re-encoded (Lavf")
            && s.source == "container encoder tag"),
        "{:?}",
        e.signals
    );
    assert_eq!(field(&e, "Container", "com.android.version").value, "14");
    assert!(has_signal(&e, Level::Info, "com.android.version: 14"));
    let codec = field(&e, "Stream 0 (video)", "Codec");
    assert!(codec.value.starts_with("h264, profile High"), "{codec:?}");
    assert!(codec.value.contains("level "), "{codec:?}");
    let gop = field(&e, "Stream 0 (video)", "GOP (first 100 video packets)");
    assert!(
        gop.value
            .contains("10 keyframes; keyframe every 10 / 10.0 / 10 frames"),
        "{gop:?}"
    );
    assert!(field(&e, "Stream 0 (video)", "Frame rate mode")
        .value
        .starts_with("constant"));
    assert_eq!(field(&e, "Streams", "Audio").value, "no audio stream");
    assert!(all_problems(&e).is_empty(), "{:?}", all_problems(&e));

    let with_audio = common::ffmpeg_cached(
        "meta_audio.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=128x96:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-metadata:s:v",
            "handler_name=Core Media Video",
        ],
        &[],
    );
    let e = examine(&with_audio, "video");
    assert_eq!(field(&e, "Streams", "Audio").value, "1 audio stream(s)");
    assert_eq!(
        field(&e, "Stream 1 (audio)", "Sample rate").value,
        "48000 Hz"
    );
    assert_eq!(
        field(&e, "Stream 0 (video)", "Handler").value,
        "Core Media Video"
    );

    // Not a video at all: a problem, no panic.
    let dir = tempfile::tempdir().unwrap();
    let e = examine(&write(dir.path(), "junk.mp4", &[0u8; 5000]), "video");
    assert!(!section(&e, "Container").problems.is_empty());
    assert!(!section(&e, "File").fields.is_empty());
}
