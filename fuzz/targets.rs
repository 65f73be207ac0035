//! The fuzz targets: the image probe, the safetensors header parser (and strict load), the
//! settings file parser and the frame-folder walk. Each runs the real public entry point on a
//! file (or folder) made from the input and checks properties that must hold for *any* input,
//! beyond "does not panic":
//!
//! - `image`: `detect_kind` → `probe` → `load_image`. Errors name the file; a probed size is
//!   non-zero and within the limits; the decoded (upright) image has exactly the probed size;
//!   `probe` never refuses a file that `load_image` decodes.
//! - `safetensors`: `read_header` → `load_strict` into a two-variable model. Errors name the file;
//!   every accepted tensor's byte range lies in the data section and matches dtype × shape; a
//!   successful load copies exactly the file's bytes.
//! - `settings`: `Settings::load`. Errors name the file; accepted settings pass `validate`, their
//!   fusion override is one the pipeline accepts, and `save` → `load` gives them back unchanged.
//! - `folder`: the input is a small program that builds a tree in a temporary folder (files
//!   with real or broken images, sub-folders, nesting, symlinks to `.`/`..`/siblings/nowhere,
//!   FIFOs, sockets, hard links, odd and non-UTF-8 names). Then `list_images` lists exactly the
//!   visible regular image files of the folder, in a total natural order; `probe` agrees with the
//!   listing (count and total size); `frames` yields what `probe` promised; the drop walk
//!   (`worker::expand_paths_noted`) ends, stays inside the folder and returns only regular files
//!   and folders.
#![allow(dead_code)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::OnceLock;

use verity::config::Settings;
use verity::media::{self, folder, Limits, MediaKind, SampleParams};
use verity::models::fusion::FusionMode;
use verity::models::weights;

use super::harness::{class_of, names, Scratch, Target};

pub fn all() -> Vec<Target> {
    vec![
        Target {
            name: "image",
            run: image,
            dict: IMAGE_DICT,
            fixup: Some(image_fixup),
            max_len: 16 << 10,
        },
        Target {
            name: "safetensors",
            run: safetensors,
            dict: SAFETENSORS_DICT,
            fixup: Some(safetensors_fixup),
            max_len: 8 << 10,
        },
        Target {
            name: "settings",
            run: settings,
            dict: SETTINGS_DICT,
            fixup: None,
            max_len: 4 << 10,
        },
        Target {
            name: "folder",
            run: folder,
            dict: &[],
            fixup: None,
            max_len: 1 << 10,
        },
    ]
}

pub fn by_name(name: &str) -> Option<Target> {
    all().into_iter().find(|t| t.name == name)
}

/// Tight limits, so that a decode is fast and the memory guard means something.
fn limits() -> Limits {
    Limits {
        max_bytes: 1 << 20,
        max_side: 2048,
        max_pixels: 1 << 20,
        max_duration_s: 60.0,
        max_frames: 64,
    }
}

fn within_limits(w: u32, h: u32, l: &Limits) -> Result<(), String> {
    if w == 0 || h == 0 || w.max(h) > l.max_side || u64::from(w) * u64::from(h) > l.max_pixels {
        return Err(format!("size {w}×{h} accepted beyond the limits {l:?}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// image

const IMAGE_DICT: &[&[u8]] = &[
    b"\x89PNG\r\n\x1a\n",
    b"IHDR",
    b"IDAT",
    b"IEND",
    b"PLTE",
    b"tRNS",
    b"eXIf",
    b"\xFF\xD8\xFF",
    b"\xFF\xD9",
    b"\xFF\xDA",
    b"\xFF\xC0",
    b"\xFF\xC2",
    b"\xFF\xC4",
    b"\xFF\xDB",
    b"\xFF\xE1",
    b"\xFF\x00",
    b"Exif\0\0",
    b"MM\0*\0\0\0\x08",
    b"II*\0\x08\0\0\0",
    b"\x01\x12\0\x03\0\0\0\x01",
    b"RIFF",
    b"WEBP",
    b"VP8 ",
    b"VP8L",
    b"VP8X",
    b"ALPH",
    b"EXIF",
    b"BM",
    b"GIF89a",
];

fn image(s: &Scratch, data: &[u8]) -> Result<String, String> {
    // Only inputs the image path sees: anything else goes to FFmpeg, which is not this target.
    let Ok(format) = ::image::guess_format(data) else {
        return Ok("not an image".into());
    };
    let path = s.file("input", data);
    let limits = limits();
    let mut class = format!("{format:?}");
    match media::detect_kind(&path) {
        Err(e) => {
            let m = e.to_string();
            names(&m, &path)?;
            return Ok(format!("{class} kind: {}", class_of(&m, &path)));
        }
        Ok(MediaKind::Image) => {}
        Ok(other) => return Ok(format!("{class} kind {other:?}")),
    }
    let probed = media::probe(&path, &limits);
    let loaded = media::load_image(&path, &limits);
    match &probed {
        Ok(info) => {
            if info.kind != MediaKind::Image || info.size_bytes != data.len() as u64 {
                return Err(format!(
                    "probe of a {}-byte image said {info:?}",
                    data.len()
                ));
            }
            if ![0, 90, 180, 270].contains(&info.rotation) {
                return Err(format!("rotation {}", info.rotation));
            }
            within_limits(info.width, info.height, &limits)?;
            class.push_str(&format!(" probe ok r{}", info.rotation));
        }
        Err(e) => {
            let m = e.to_string();
            names(&m, &path)?;
            class.push_str(&format!(" probe: {}", class_of(&m, &path)));
        }
    }
    match (&probed, &loaded) {
        (Ok(info), Ok(img)) => {
            if img.dimensions() != (info.width, info.height) {
                return Err(format!(
                    "load_image gave {:?} but probe said {}×{} (rotation {})",
                    img.dimensions(),
                    info.width,
                    info.height,
                    info.rotation
                ));
            }
            class.push_str(" load ok");
        }
        (Err(e), Ok(img)) => {
            return Err(format!(
                "probe refused ({e}) an image that load_image decoded ({:?})",
                img.dimensions()
            ))
        }
        (_, Err(e)) => {
            let m = e.to_string();
            names(&m, &path)?;
            class.push_str(&format!(" load: {}", class_of(&m, &path)));
        }
    }
    Ok(class)
}

/// Recomputes PNG chunk CRCs and the RIFF size, so that mutants reach the decoders.
fn image_fixup(data: &mut [u8]) {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut i = 8;
        while i + 12 <= data.len() {
            let len = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
            let Some(end) = (i + 8).checked_add(len) else {
                break;
            };
            if end + 4 > data.len() {
                break;
            }
            let mut crc = flate2::Crc::new();
            crc.update(&data[i + 4..end]);
            data[end..end + 4].copy_from_slice(&crc.sum().to_be_bytes());
            i = end + 4;
        }
    } else if data.starts_with(b"RIFF") && data.len() >= 8 {
        let size = (data.len() - 8) as u32;
        data[4..8].copy_from_slice(&size.to_le_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// safetensors

const SAFETENSORS_DICT: &[&[u8]] = &[
    b"\"dtype\"",
    b"\"shape\"",
    b"\"data_offsets\"",
    b"\"__metadata__\"",
    b"\"F32\"",
    b"\"F16\"",
    b"\"BF16\"",
    b"\"F64\"",
    b"\"I64\"",
    b"\"I8\"",
    b"\"U8\"",
    b"\"BOOL\"",
    b"\"F8_E4M3\"",
    b"\"w\"",
    b"\"b\"",
    b"[]",
    b"[0,0]",
    b"[2,3]",
    b"[3]",
    b"null",
    b"{}",
    b"\\u0000",
    b"\\ud800",
];

fn safetensors(s: &Scratch, data: &[u8]) -> Result<String, String> {
    let path = s.file("model.safetensors", data);
    let header = weights::read_header(&path);
    let mut class = String::new();
    match &header {
        Ok(map) => {
            let len = data.len() as u64;
            let header_len = u64::from_le_bytes(data[..8].try_into().unwrap());
            for (name, t) in map {
                let elements = t.shape.iter().try_fold(1u64, |n, &d| {
                    u64::try_from(d).ok().and_then(|d| n.checked_mul(d))
                });
                let bytes = elements.and_then(|n| n.checked_mul(t.kind.elt_size_in_bytes() as u64));
                if t.start < 8 + header_len
                    || t.start > t.end
                    || t.end > len
                    || bytes != Some(t.end - t.start)
                {
                    return Err(format!(
                        "accepted tensor {name:?} {:?} {:?} at {}..{} in a {len}-byte file with a \
                         {header_len}-byte header",
                        t.kind, t.shape, t.start, t.end
                    ));
                }
            }
            class.push_str(&format!("header ok {}", map.len().min(4)));
        }
        Err(e) => {
            let m = e.to_string();
            names(&m, &path)?;
            class.push_str(&format!("header: {}", class_of(&m, &path)));
        }
    }

    // The strict loader on a model with w: [2, 3] and b: [3] (f32).
    let mut vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let root = vs.root();
    let _w = root.zeros("w", &[2, 3]);
    let _b = root.zeros("b", &[3]);
    match weights::load_strict(&mut vs, &[&path], &weights::same_name, &weights::nothing) {
        Ok(report) => {
            let Ok(map) = &header else {
                return Err("load_strict accepted a file read_header refused".into());
            };
            if report.loaded != 2 {
                return Err(format!("loaded {} of 2 variables", report.loaded));
            }
            // Each variable holds the file's values (cast to f32).
            for (name, var) in vs.variables() {
                let info = &map[&name];
                let bytes = &data[info.start as usize..info.end as usize];
                let expected = tch::Tensor::from_data_size(bytes, &info.shape, info.kind)
                    .to_kind(tch::Kind::Float);
                let same = expected
                    .isnan()
                    .logical_and(&var.isnan())
                    .logical_or(&expected.eq_tensor(&var));
                if !bool::try_from(same.all()).unwrap_or(false) {
                    return Err(format!("variable {name} does not hold the file's values"));
                }
            }
            class.push_str(" load ok");
        }
        Err(e) => {
            let m = e.to_string();
            names(&m, &path)?;
            class.push_str(&format!(" load: {}", class_of(&m, &path)));
        }
    }
    Ok(class)
}

/// Sets the 8-byte header length to the end of the JSON object that follows it.
fn safetensors_fixup(data: &mut [u8]) {
    if data.len() < 9 {
        return;
    }
    let (mut depth, mut in_string, mut escaped) = (0i32, false, false);
    for i in 8..data.len() {
        let c = data[i];
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    let len = (i + 1 - 8) as u64;
                    data[..8].copy_from_slice(&len.to_le_bytes());
                    return;
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// settings

const SETTINGS_DICT: &[&[u8]] = &[
    b"fps = ",
    b"keyframe_threshold = ",
    b"\n[thresholds]\n",
    b"real = ",
    b"fake = ",
    b"aggregation = ",
    b"\"motion-weighted\"",
    b"\"mean\"",
    b"fusion = ",
    b"\"concat\"",
    b"\"weighted:0.5\"",
    b"\"slerp:2\"",
    b"\"bogus\"",
    b"device = ",
    b"\"cuda\"",
    b"precision = ",
    b"\"bf16\"",
    b"batch_size = ",
    b"profile = ",
    b"score_full_frame_without_face = ",
    b"true",
    b"analyst = ",
    b"data_dir = ",
    b"max_media_mib = ",
    b"models_dir = ",
    b"live_seconds = ",
    b" = ",
    b"\n",
    b"[",
    b"]",
    b"[[",
    b"'''",
    b"\"\"\"",
    b"\\u0000",
    b"{ ",
    b" }",
    b"1979-05-27T07:32:00Z",
];

fn settings(s: &Scratch, data: &[u8]) -> Result<String, String> {
    let path = s.file("settings.toml", data);
    match Settings::load(&path) {
        Err(e) => {
            let m = e.to_string();
            names(&m, &path)?;
            Ok(format!("refused: {}", class_of(&m, &path)))
        }
        Ok(settings) => {
            settings
                .validate()
                .map_err(|e| format!("load accepted settings that do not validate: {e}"))?;
            if let Some(f) = &settings.fusion {
                f.parse::<FusionMode>().map_err(|e| {
                    format!("settings accepted a fusion override the pipeline refuses ({f:?}): {e}")
                })?;
            }
            let again = s.dir.path().join("saved.toml");
            settings
                .save(&again)
                .map_err(|e| format!("accepted settings cannot be saved: {e}"))?;
            let back = Settings::load(&again)
                .map_err(|e| format!("saved settings cannot be loaded again: {e}"))?;
            if back != settings {
                return Err(format!(
                    "save → load changed the settings:\n{settings:?}\n{back:?}"
                ));
            }
            let t = settings.thresholds;
            for x in [0.0, t.real, (t.real + t.fake) / 2.0, t.fake, 1.0] {
                t.band(x);
            }
            Ok(format!(
                "ok {:?} {:?} {}",
                settings.aggregation,
                settings.precision,
                settings.fusion.is_some()
            ))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// folder

/// Tiny valid frames, encoded once.
fn tiny(format: ::image::ImageFormat) -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    static JPEG: OnceLock<Vec<u8>> = OnceLock::new();
    let make = || {
        let img =
            ::image::RgbImage::from_fn(8, 6, |x, y| ::image::Rgb([x as u8 * 30, y as u8 * 40, 90]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), format)
            .unwrap();
        out
    };
    match format {
        ::image::ImageFormat::Png => PNG.get_or_init(make),
        _ => JPEG.get_or_init(make),
    }
}

const NAMES: &[&str] = &[
    "frame1.png",
    "frame2.png",
    "frame10.png",
    "frame01.png",
    "Frame1.PNG",
    "a.jpg",
    "b.JPEG",
    "c.jpe",
    "d.webp",
    "e.bmp",
    "f.tif",
    "g.TIFF",
    ".hidden.png",
    "._frame1.jpg",
    "Thumbs.db",
    ".DS_Store",
    "clip.mp4",
    "notes.txt",
    "sub",
    "0.png",
    "00.png",
    "x99999999999999999999999.png",
    "x100000000000000000000000.png",
    "ü1.png",
    "Ü1.png",
    "ß.png",
    "frame 3.png",
    "frame-3.png",
    "a.png.txt",
    "dir.png",
    "İ.jpg",
];

/// Reads the tree program.
struct Program<'a> {
    data: &'a [u8],
    at: usize,
}

impl Program<'_> {
    fn next(&mut self) -> Option<u8> {
        let b = self.data.get(self.at).copied();
        self.at += 1;
        b
    }
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
    fn take(&mut self, n: usize) -> Vec<u8> {
        let end = (self.at + n).min(self.data.len());
        let out = self.data.get(self.at..end).unwrap_or_default().to_vec();
        self.at = end;
        out
    }
    fn name(&mut self) -> OsString {
        let b = self.byte();
        if b % 4 == 3 {
            // Raw bytes: possibly not UTF-8.
            let n = 1 + usize::from(self.byte() % 12);
            let mut raw: Vec<u8> = self
                .take(n)
                .into_iter()
                .filter(|&c| c != b'/' && c != 0)
                .collect();
            if raw.is_empty() || raw == b"." || raw == b".." {
                raw = b"x".to_vec();
            }
            if b & 0x80 != 0 {
                raw.extend_from_slice(b".png");
            }
            return OsString::from_vec(raw);
        }
        let base = NAMES[usize::from(b >> 2) % NAMES.len()];
        if b & 0x80 != 0 {
            // frame7.png → frame7<n>.png
            let n = self.byte();
            let (stem, ext) = base.rsplit_once('.').unwrap_or((base, ""));
            return OsString::from(format!("{stem}{n}.{ext}"));
        }
        OsString::from(base)
    }
}

fn folder(s: &Scratch, data: &[u8]) -> Result<String, String> {
    let root = s.dir.path().join("tree");
    if std::fs::symlink_metadata(&root).is_ok() {
        std::fs::remove_dir_all(&root)
            .map_err(|e| format!("cannot clean the scratch tree: {e}"))?;
    }
    std::fs::create_dir(&root).unwrap();
    build_tree(&root, data);
    check_tree(&root)
}

/// Creates a new file; never writes through an existing entry (a FIFO made earlier by the same
/// program would block the write forever, a link would write outside the tree).
fn create(path: &Path, content: &[u8]) -> bool {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut f| f.write_all(content))
        .is_ok()
}

fn build_tree(root: &Path, data: &[u8]) {
    let mut p = Program { data, at: 0 };
    let mut cur = root.to_path_buf();
    let mut stack: Vec<PathBuf> = Vec::new();
    let mut made: Vec<PathBuf> = Vec::new();
    let mut ops = 0;
    while let Some(op) = p.next() {
        ops += 1;
        if ops > 96 {
            break;
        }
        match op % 10 {
            0..=2 => {
                let path = cur.join(p.name());
                let content = match p.byte() % 5 {
                    0 => tiny(::image::ImageFormat::Png).to_vec(),
                    1 => tiny(::image::ImageFormat::Jpeg).to_vec(),
                    2 => {
                        let n = usize::from(p.byte());
                        p.take(n)
                    }
                    3 => Vec::new(),
                    _ => {
                        let png = tiny(::image::ImageFormat::Png);
                        png[..png.len() / 2].to_vec()
                    }
                };
                if create(&path, &content) {
                    made.push(path);
                }
            }
            3 => {
                let path = cur.join(p.name());
                if std::fs::create_dir(&path).is_ok() {
                    made.push(path.clone());
                    if p.byte() & 1 == 1 {
                        stack.push(std::mem::replace(&mut cur, path));
                    }
                }
            }
            4 => {
                if let Some(up) = stack.pop() {
                    cur = up;
                }
            }
            5 => {
                let name = p.name();
                let path = cur.join(&name);
                let target: PathBuf = match p.byte() % 9 {
                    0 => ".".into(),
                    1 => "..".into(),
                    2 => "../..".into(),
                    3 => PathBuf::from(&name), // itself
                    4 => "/nonexistent/frame.png".into(),
                    5 => root.to_path_buf(),
                    6 => "frame1.png".into(),
                    _ if !made.is_empty() => made[usize::from(p.byte()) % made.len()].clone(),
                    _ => "missing.png".into(),
                };
                if std::os::unix::fs::symlink(&target, &path).is_ok() {
                    made.push(path);
                }
            }
            6 => {
                let path = cur.join(p.name());
                if p.byte() & 1 == 0 {
                    let _ = std::process::Command::new("mkfifo")
                        .arg(&path)
                        .stderr(std::process::Stdio::null())
                        .status();
                } else {
                    let _ = std::os::unix::net::UnixListener::bind(&path);
                }
            }
            7 => {
                // A chain of nested folders, each with a frame.
                let n = usize::from(p.byte() % 24);
                let mut d = cur.clone();
                for i in 0..n {
                    d = d.join(format!("d{i}"));
                    if std::fs::create_dir(&d).is_err() {
                        break;
                    }
                    create(&d.join("frame1.png"), tiny(::image::ImageFormat::Png));
                }
            }
            8 => {
                // Many frames at once.
                let n = usize::from(p.byte() % 48);
                let empty = p.byte() & 1 == 1;
                for i in 0..n {
                    let content = if empty {
                        &[][..]
                    } else {
                        tiny(::image::ImageFormat::Png)
                    };
                    create(&cur.join(format!("frame{i}.png")), content);
                }
            }
            _ => {
                if !made.is_empty() {
                    let from = made[usize::from(p.byte()) % made.len()].clone();
                    let _ = std::fs::hard_link(&from, cur.join(p.name()));
                }
            }
        }
    }
}

fn is_frame_name(name: &str) -> bool {
    !name.starts_with('.')
        && Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| {
                folder::FRAME_EXTENSIONS
                    .iter()
                    .any(|f| e.eq_ignore_ascii_case(f))
            })
}

fn check_tree(root: &Path) -> Result<String, String> {
    let limits = limits();
    let shown = root.display().to_string();

    // list_images: exactly the visible regular image files, naturally ordered.
    let list = folder::list_images(root).map_err(|e| format!("list_images failed: {e}"))?;
    let mut expected: Vec<PathBuf> = Vec::new();
    let mut all_names: Vec<String> = Vec::new();
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        all_names.push(name.clone());
        if is_frame_name(&name) && std::fs::metadata(e.path()).is_ok_and(|m| m.is_file()) {
            expected.push(e.path());
        }
    }
    let mut got = list.clone();
    got.sort();
    expected.sort();
    if got != expected {
        return Err(format!(
            "list_images gave {list:?}, expected the files {expected:?}"
        ));
    }
    let name_of = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
    for w in list.windows(2) {
        if folder::natural_cmp(&name_of(&w[0]), &name_of(&w[1])) != std::cmp::Ordering::Less {
            return Err(format!("list_images order: {:?} before {:?}", w[0], w[1]));
        }
    }
    check_total_order(&all_names)?;

    // probe agrees with the listing.
    let probed = media::probe(root, &limits);
    let mut class = format!("list {}", list.len().min(3));
    match &probed {
        Ok(info) => {
            let size: u64 = list
                .iter()
                .map(|f| std::fs::metadata(f).unwrap().len())
                .sum();
            if info.kind != MediaKind::FrameFolder
                || info.frame_count != Some(list.len() as u64)
                || info.size_bytes != size
            {
                return Err(format!(
                    "probe said {info:?} for {} files of {size} bytes",
                    list.len()
                ));
            }
            within_limits(info.width, info.height, &limits)?;
            class.push_str(" probe ok");
        }
        Err(e) => {
            let m = e.to_string();
            if !m.contains(&shown) {
                return Err(format!(
                    "probe error names neither the folder nor a file in it: {m}"
                ));
            }
            class.push_str(&format!(" probe: {}", class_of(&m, root)));
        }
    }

    // frames yields what probe promised.
    let cancel = AtomicBool::new(false);
    let params = SampleParams {
        max_frames: Some(3),
        ..SampleParams::default()
    };
    match media::frames(root, &params, &limits, &cancel) {
        Ok(frames) => {
            let Ok(info) = &probed else {
                return Err("frames opened a folder that probe refused".into());
            };
            let mut n = 0;
            for f in frames {
                match f {
                    Ok(frame) => {
                        n += 1;
                        let (w, h) = frame.image.dimensions();
                        within_limits(w, h, &limits)?;
                    }
                    Err(e) => {
                        let m = e.to_string();
                        if !m.contains(&shown) {
                            return Err(format!("frame error names no file of the folder: {m}"));
                        }
                    }
                }
            }
            if n > 3 || info.frame_count.unwrap_or(0) == 0 {
                return Err(format!("{n} frames with max_frames 3"));
            }
        }
        Err(e) => {
            if probed.is_ok() {
                return Err(format!(
                    "probe accepted the folder but frames refused it: {e}"
                ));
            }
        }
    }

    // The drop walk ends, stays inside, and returns only regular files and folders.
    match verity::worker::expand_paths_noted(&[root.to_path_buf()]) {
        Ok(exp) => {
            if exp.paths.len() > verity::worker::MAX_WALK_FILES {
                return Err(format!("walk returned {} paths", exp.paths.len()));
            }
            let mut seen = std::collections::HashSet::new();
            for p in &exp.paths {
                if !p.starts_with(root) {
                    return Err(format!("walk left the folder: {p:?}"));
                }
                let regular = std::fs::metadata(p).is_ok_and(|m| m.is_file() || m.is_dir());
                if !regular {
                    return Err(format!("walk returned a non-regular entry {p:?}"));
                }
                if !seen.insert(p.clone()) {
                    return Err(format!("walk returned {p:?} twice"));
                }
            }
            class.push_str(&format!(
                " walk {} notes {}",
                exp.paths.len().min(3),
                exp.notes.len().min(3)
            ));
        }
        Err(e) => {
            let m = e.to_string();
            if !m.contains(&shown) {
                return Err(format!("walk error names no path in the folder: {m}"));
            }
            class.push_str(&format!(" walk: {}", class_of(&m, root)));
        }
    }
    Ok(class)
}

/// `natural_cmp` must be a total order (antisymmetric, transitive, `Equal` only for equal
/// names), or `sort_by` may panic or order frames differently from run to run.
fn check_total_order(names: &[String]) -> Result<(), String> {
    use std::cmp::Ordering::*;
    let cmp = |a: &String, b: &String| folder::natural_cmp(a, b);
    for a in names {
        for b in names {
            let (x, y) = (cmp(a, b), cmp(b, a));
            if x != y.reverse() || (x == Equal) != (a == b) {
                return Err(format!(
                    "natural_cmp({a:?}, {b:?}) = {x:?} but reversed {y:?}"
                ));
            }
        }
    }
    let few = &names[..names.len().min(10)];
    for a in few {
        for b in few {
            for c in few {
                if cmp(a, b) != Greater && cmp(b, c) != Greater && cmp(a, c) == Greater {
                    return Err(format!("natural_cmp not transitive on {a:?}, {b:?}, {c:?}"));
                }
            }
        }
    }
    Ok(())
}
