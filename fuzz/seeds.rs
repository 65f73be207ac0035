//! The generated part of the seed corpus (`cargo run --example fuzz -- write-seeds`): small
//! valid inputs of each kind the targets read. Crash inputs found later are added to
//! `fuzz/corpus/<target>/` by hand and are never regenerated.
#![allow(dead_code)]

use image::{ImageFormat, Luma, Rgb, Rgba};

/// (target, file name, bytes).
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, bytes) in images() {
        out.push(("image", name, bytes));
    }
    for (name, bytes) in safetensors() {
        out.push(("safetensors", name, bytes));
    }
    for (name, bytes) in settings() {
        out.push(("settings", name, bytes));
    }
    for (name, bytes) in folders() {
        out.push(("folder", name, bytes));
    }
    out
}

fn encode<I: Into<image::DynamicImage>>(img: I, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.into()
        .write_to(&mut std::io::Cursor::new(&mut out), format)
        .unwrap();
    out
}

/// A big-endian EXIF block (TIFF header + one IFD entry) with the given orientation.
fn exif(orientation: u16) -> Vec<u8> {
    let mut t = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    t.extend_from_slice(&orientation.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    t
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(&c[4..]);
    c.extend_from_slice(&crc.sum().to_be_bytes());
    c
}

fn images() -> Vec<(String, Vec<u8>)> {
    let rgb = image::RgbImage::from_fn(6, 3, |x, y| Rgb([x as u8 * 40, y as u8 * 80, 7]));
    let rgba = image::RgbaImage::from_fn(4, 4, |x, y| Rgba([200, x as u8 * 60, 9, y as u8 * 80]));
    let grey16 = image::ImageBuffer::<Luma<u16>, _>::from_fn(3, 5, |x, y| {
        Luma([(x * 9000 + y * 700) as u16])
    });
    let png = encode(rgb.clone(), ImageFormat::Png);
    // PNG with an eXIf chunk (orientation 6: rotate 90°) after IHDR.
    let mut png_exif = png[..33].to_vec();
    png_exif.extend(png_chunk(b"eXIf", &exif(6)));
    png_exif.extend_from_slice(&png[33..]);
    let jpeg = encode(rgb.clone(), ImageFormat::Jpeg);
    // JPEG with an APP1 EXIF segment (orientation 8: rotate 270°) after SOI.
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(exif(8));
    let mut jpeg_exif = jpeg[..2].to_vec();
    jpeg_exif.extend_from_slice(&[0xFF, 0xE1]);
    jpeg_exif.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    jpeg_exif.extend(app1);
    jpeg_exif.extend_from_slice(&jpeg[2..]);
    vec![
        ("rgb.png".into(), png),
        ("exif6.png".into(), png_exif),
        ("rgba.png".into(), encode(rgba.clone(), ImageFormat::Png)),
        ("grey16.png".into(), encode(grey16, ImageFormat::Png)),
        ("rgb.jpg".into(), jpeg),
        ("exif8.jpg".into(), jpeg_exif),
        ("rgba.webp".into(), encode(rgba, ImageFormat::WebP)),
        ("rgb.bmp".into(), encode(rgb.clone(), ImageFormat::Bmp)),
        ("rgb.tif".into(), encode(rgb.clone(), ImageFormat::Tiff)),
        ("rgb.gif".into(), encode(rgb, ImageFormat::Gif)),
    ]
}

/// A safetensors file from (name, dtype, shape, raw bytes) and optional metadata.
fn safetensors_file(tensors: &[(&str, &str, &[i64], Vec<u8>)], metadata: bool) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if metadata {
        header.insert("__metadata__".into(), serde_json::json!({"format": "pt"}));
    }
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            (*name).into(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let json = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap();
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend(json);
    out.extend(data);
    out
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn safetensors() -> Vec<(String, Vec<u8>)> {
    let w = f32s(&[1.0, -2.0, 3.5, 0.0, 1e-3, 7.0]);
    let b = f32s(&[0.5, -0.5, 2.0]);
    let f16: Vec<u8> = [0x3C00u16, 0xC000, 0x3800, 0, 0x7C00, 0x0001]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let f64s: Vec<u8> = [1.0f64, 2.0, 3.0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    vec![
        (
            "model.safetensors".into(),
            safetensors_file(
                &[
                    ("w", "F32", &[2, 3], w.clone()),
                    ("b", "F32", &[3], b.clone()),
                ],
                false,
            ),
        ),
        (
            "half_meta.safetensors".into(),
            safetensors_file(
                &[("b", "F64", &[3], f64s), ("w", "F16", &[2, 3], f16)],
                true,
            ),
        ),
        (
            "extra.safetensors".into(),
            safetensors_file(
                &[
                    (
                        "w",
                        "BF16",
                        &[2, 3],
                        vec![0x80, 0x3F, 0, 0x40, 0, 0, 0, 0xC0, 0x80, 0x7F, 1, 0],
                    ),
                    ("b", "F32", &[3], b),
                    ("mask", "BOOL", &[4], vec![0, 1, 1, 0]),
                    ("step", "I64", &[], 7i64.to_le_bytes().to_vec()),
                    ("empty", "U8", &[0, 5], vec![]),
                ],
                false,
            ),
        ),
        (
            "misshaped.safetensors".into(),
            safetensors_file(
                &[("w", "F32", &[3, 2], w), ("bias", "I8", &[2], vec![1, 2])],
                true,
            ),
        ),
    ]
}

fn settings() -> Vec<(String, Vec<u8>)> {
    use verity::config::{Aggregation, Precision, Settings, Thresholds};
    let dir = tempfile::tempdir().unwrap();
    let saved = |s: &Settings| {
        let p = dir.path().join("s.toml");
        s.save(&p).unwrap();
        std::fs::read(p).unwrap()
    };
    let custom = Settings {
        fps: 8.0,
        keyframe_threshold: 0.5,
        thresholds: Thresholds {
            real: 0.2,
            fake: 0.9,
        },
        aggregation: Aggregation::MotionWeighted,
        fusion: Some("weighted:0.25".into()),
        precision: Precision::Bf16,
        batch_size: 64,
        profile: Some("gend-vitl14".into()),
        score_full_frame_without_face: true,
        analyst: "Ada \"Lovelace\" — desk 3".into(),
        data_dir: Some("/srv/verity/data".into()),
        max_media_mib: 1024,
        models_dir: Some("models".into()),
        live_seconds: 30.5,
        ..Settings::default()
    };
    vec![
        ("default.toml".into(), saved(&Settings::default())),
        ("custom.toml".into(), saved(&custom)),
        ("minimal.toml".into(), b"fps = 5\n".to_vec()),
        (
            "inline.toml".into(),
            b"thresholds = { real = 0.1, fake = 0.95 }\nfusion = \"slerp:0.5\"\ndevice = \"cpu\"\n"
                .to_vec(),
        ),
    ]
}

/// Tree programs for the folder target (see `build_tree` in targets.rs): an op byte, then a
/// name byte (`index << 2` picks `NAMES[index]`), then the op's arguments.
fn folders() -> Vec<(String, Vec<u8>)> {
    vec![
        // frame1.png (PNG), frame2.png (JPEG), frame10.png (PNG), notes.txt
        (
            "frames".into(),
            vec![0, 0, 0, 0, 1 << 2, 1, 0, 2 << 2, 0, 1, 17 << 2, 3],
        ),
        // sub -> ., frame01.png -> .., sub2/ with frame1.png -> itself
        (
            "links".into(),
            vec![
                5,
                18 << 2,
                0,
                5,
                3 << 2,
                1,
                0,
                0,
                0,
                3,
                19 << 2,
                1,
                5,
                0,
                3,
                4,
                5,
                22 << 2,
                5,
            ],
        ),
        // a 20-deep chain of folders, plus a frame at the top
        ("deep".into(), vec![7, 20, 0, 5 << 2, 1]),
        // 40 frames
        ("many".into(), vec![8, 40, 0]),
        // FIFO and socket named like frames, hidden and companion files, junk bytes
        (
            "special".into(),
            vec![
                6,
                4 << 2,
                0,
                6,
                5 << 2,
                1,
                0,
                12 << 2,
                0,
                0,
                14 << 2,
                2,
                5,
                1,
                2,
                3,
                4,
                5,
                0,
                0,
                0,
            ],
        ),
        // a non-UTF-8 name ending .png, broken and empty frames, a hard link
        (
            "odd_names".into(),
            vec![
                0,
                0x83,
                4,
                0xFF,
                0xFE,
                0x41,
                0x42,
                0x43,
                0,
                0,
                6 << 2,
                4,
                0,
                7 << 2,
                3,
                9,
                0,
                9 << 2,
            ],
        ),
    ]
}
