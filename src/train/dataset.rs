//! Training data: labelled face crops from a folder, from the analysts' adjudicated cases, and
//! synthetic fakes made from real faces.
//!
//! **Folder layout.** `real/` and `fake/` hold images (any depth); an optional `meta.csv` with the
//! header `path,identity,source` (paths relative to the root, e.g. `real/anna/001.png`) names who
//! is in each file and which method made it. Without a row, the identity is the file's folder
//! under `real/`/`fake/` when it is nested (`real/anna/001.png` → `anna`), else the file stem; the
//! source is `real` or `fake`.
//!
//! **Media.** Files are read by the analysis pipeline's own ingest ([`crate::media`]): the kind
//! is decided by content, images come upright (EXIF), and a video gives `frames_per_video`
//! frames spread evenly over its length (GenD evaluates 32 per video); every frame of a video
//! is a sample of the video's identity.
//!
//! **Faces.** Each image's (frame's) largest face is found by MTCNN and aligned by the same
//! functions the analysis pipeline uses ([`Mtcnn::detect`], [`align_face`] with the profile's
//! template), and cached as a PNG under `cache_dir/<aa>/<key>.png` with a JSON sidecar; the key
//! is the sha256 of the file's content, the frame sampling, the template, the crop size and the
//! detector settings, so a second run decodes and detects nothing and a changed template makes
//! new crops.
//!
//! **Splits.** Train/validation are disjoint by identity (or by source): groups are ordered by a
//! seeded hash of their name and taken into validation until it holds `val_fraction` of the
//! samples, so no person is on both sides and the split does not depend on file order.
//!
//! **Adjudicated cases** ([`from_store`]): the latest fake/real label of each case (from a
//! review) applies to the aligned face crops of the case's last analysis; each sample records
//! the analyst and the time of the label. A case is its own identity.
//!
//! **Synthetic fakes**: self-blended images ([`super::sbi`]) and, when asked, face swaps between
//! identities ([`super::swap`]) of the real crops, when `fake/` is empty or always when asked.
//! They are made after the split, from one side's real faces only, and their parameters are
//! kept in the sample.
use super::sbi::{self, SbiConfig, SbiParams};
use super::swap::{face_swap, SwapFace, SwapRecord};
use super::Rng;
use crate::faces::align::AlignTemplate;
use crate::faces::mtcnn::Mtcnn;
use crate::faces::preprocess::{prepare, transform_for, Chain, CropSpec};
use crate::media::{self, Limits, MediaKind, SampleParams};
use crate::store::Store;
use crate::{Error, Result};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// How train and validation are kept apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SplitBy {
    #[default]
    Identity,
    Source,
}

/// When to make self-blended fakes from the real faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Synthetic {
    /// Only when the data has no fake faces.
    #[default]
    Auto,
    Always,
    Never,
}

/// Dataset settings.
#[derive(Clone, Debug)]
pub struct DatasetConfig {
    /// The profile's alignment template and crop side (the crops the detector is trained on
    /// must be cut exactly like the ones it scores).
    pub template: AlignTemplate,
    pub size: u32,
    /// The profile's preparation chain (set it from `Preprocessing::chain`).
    pub chain: Chain,
    /// Where aligned crops (and synthetic fakes) are cached.
    pub cache_dir: PathBuf,
    pub val_fraction: f64,
    pub split_by: SplitBy,
    /// Seeds the split order and the synthetic fakes.
    pub seed: u64,
    pub synthetic: Synthetic,
    pub sbi: SbiConfig,
    /// Self-blended fakes per real crop.
    pub sbi_per_real: usize,
    /// Face swaps per real crop (another identity's face on it); 0 = none.
    pub swaps_per_real: usize,
    /// Frames taken from each video, spread evenly over its length.
    pub frames_per_video: usize,
    /// Size limits for reading media (the pipeline's).
    pub limits: Limits,
}

impl DatasetConfig {
    /// How faces are cut (the profile's template, chain and input size).
    pub fn crop_spec(&self) -> CropSpec {
        CropSpec {
            template: self.template,
            chain: self.chain,
            size: self.size,
        }
    }

    pub fn new(template: AlignTemplate, cache_dir: PathBuf) -> Self {
        DatasetConfig {
            template,
            size: 224,
            chain: Chain::Direct,
            cache_dir,
            val_fraction: 0.2,
            split_by: SplitBy::Identity,
            seed: 0,
            synthetic: Synthetic::Auto,
            sbi: SbiConfig::default(),
            sbi_per_real: 1,
            swaps_per_real: 0,
            frames_per_video: 8,
            limits: Limits::default(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err(Error::Config(format!(
                "validation fraction must be in [0, 1), not {}",
                self.val_fraction
            )));
        }
        if self.frames_per_video == 0 {
            return Err(Error::Config("frames per video must be at least 1".into()));
        }
        if self.size < 32 {
            return Err(Error::Config(format!(
                "face crops of {} px are too small (at least 32)",
                self.size
            )));
        }
        self.sbi.validate()
    }
}

/// Where a sample came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// A file of a dataset folder (`frame` for videos).
    File {
        path: PathBuf,
        sha256: String,
        frame: Option<u64>,
    },
    /// An adjudicated case from the store.
    Case {
        case_id: i64,
        face_id: i64,
        analyst: String,
        labelled_at: String,
        label_source: String,
    },
    /// A self-blended image made from the real crop `from`.
    Sbi { from: PathBuf, params: SbiParams },
    /// A face swap: `source`'s face on `target`'s crop.
    Swap {
        target: PathBuf,
        source: PathBuf,
        record: SwapRecord,
    },
}

/// One labelled, aligned face crop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub crop: PathBuf,
    pub fake: bool,
    pub identity: String,
    pub source: String,
    /// The 5 landmarks in crop pixels.
    pub landmarks: [[f32; 2]; 5],
    pub origin: Origin,
}

/// A file (or case) that gave no sample, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// Counts for the log and the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetStats {
    pub files: usize,
    /// Files whose crops came from the cache (nothing decoded or detected).
    pub cache_hits: usize,
    /// Images and video frames run through the face detector.
    pub detected: usize,
    pub synthetic: usize,
    pub from_cases: usize,
}

/// A split dataset.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Dataset {
    pub train: Vec<Sample>,
    pub val: Vec<Sample>,
    pub skipped: Vec<Skipped>,
    pub stats: DatasetStats,
    /// Things the analyst should know (e.g. a class missing from validation).
    pub warnings: Vec<String>,
}

impl Dataset {
    /// Writes the whole dataset description (every sample's origin) as JSON.
    pub fn write_manifest(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Other(format!("cannot write the dataset manifest: {e}")))?;
        std::fs::write(path, json).map_err(|e| Error::input(path, format!("cannot write: {e}")))
    }

    pub fn count(samples: &[Sample]) -> (usize, usize) {
        let fake = samples.iter().filter(|s| s.fake).count();
        (samples.len() - fake, fake)
    }
}

/// Progress of dataset preparation: `done` of `total` files.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct DatasetProgress {
    pub done: usize,
    pub total: usize,
}

/// A labelled file found in a dataset folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub path: PathBuf,
    pub fake: bool,
    pub identity: String,
    pub source: String,
}

/// Lists `real/` and `fake/` under `root` (sorted), applying `meta.csv` when present. Hidden
/// files (`.name`) are left out; what each file is gets decided when it is read.
pub fn scan_folder(root: &Path) -> Result<Vec<Entry>> {
    let (real, fake) = (root.join("real"), root.join("fake"));
    if !real.is_dir() && !fake.is_dir() {
        return Err(Error::input(
            root,
            "a training folder needs a real/ and/or a fake/ subfolder of face images or videos",
        ));
    }
    let meta = read_meta(&root.join("meta.csv"))?;
    let mut entries = Vec::new();
    for (dir, is_fake) in [(real, false), (fake, true)] {
        if !dir.is_dir() {
            continue;
        }
        for path in walk(&dir)? {
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let rel_key = rel.to_string_lossy().replace('\\', "/");
            let in_class = path.strip_prefix(&dir).unwrap_or(&path);
            let default_identity = match in_class.parent().and_then(|p| p.components().next()) {
                Some(c) => c.as_os_str().to_string_lossy().into_owned(),
                None => path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            let (identity, source) = match meta.get(&rel_key) {
                Some((i, s)) => (i.clone(), s.clone()),
                None => (
                    default_identity,
                    if is_fake { "fake" } else { "real" }.to_string(),
                ),
            };
            entries.push(Entry {
                path,
                fake: is_fake,
                identity,
                source,
            });
        }
    }
    Ok(entries)
}

/// All files under `dir`, recursively, sorted by path.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d)
            .map_err(|e| Error::input(&d, format!("cannot list folder: {e}")))?;
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `meta.csv`: header `path,identity,source` (any column order, extra columns ignored), simple
/// double-quoted fields allowed. Missing file = no metadata.
fn read_meta(path: &Path) -> Result<HashMap<String, (String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::input(path, format!("cannot read: {e}"))),
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().map(split_csv_line).ok_or_else(|| {
        Error::input(
            path,
            "empty meta.csv: expected the header path,identity,source",
        )
    })?;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let (Some(pc), Some(ic)) = (col("path"), col("identity")) else {
        return Err(Error::input(
            path,
            format!("meta.csv header must name the columns path and identity (and optionally source), found {header:?}"),
        ));
    };
    let sc = col("source");
    let mut out = HashMap::new();
    for (n, line) in lines.enumerate() {
        let f = split_csv_line(line);
        let get = |i: usize| f.get(i).map(|s| s.trim().to_string());
        let (Some(p), Some(id)) = (get(pc), get(ic)) else {
            return Err(Error::input(
                path,
                format!(
                    "line {}: expected {} columns, got {}",
                    n + 2,
                    header.len(),
                    f.len()
                ),
            ));
        };
        let p = p.replace('\\', "/").trim_start_matches("./").to_string();
        let source = sc
            .and_then(get)
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| {
                if p.starts_with("fake/") {
                    "fake"
                } else {
                    "real"
                }
                .to_string()
            });
        out.insert(p, (id, source));
    }
    Ok(out)
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Loads a sample's crop, resized to `size`² if it was cut at another size.
pub fn load_crop(sample: &Sample, size: u32) -> Result<RgbImage> {
    let img = image::open(&sample.crop)
        .map_err(|e| Error::input(&sample.crop, format!("cannot read the face crop: {e}")))?
        .to_rgb8();
    Ok(if img.dimensions() == (size, size) {
        img
    } else {
        image::imageops::resize(&img, size, size, image::imageops::FilterType::Triangle)
    })
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// What the cache keeps beside each crop (or records: no face in that image or frame).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CachedFace {
    face: bool,
    /// The 5 landmarks in crop pixels.
    landmarks: [[f32; 2]; 5],
    prob: f32,
    /// Frame number in the source (videos).
    frame: Option<u64>,
}

/// The cache record of one source file: one entry per image or sampled frame.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct CachedFile {
    faces: Vec<CachedFace>,
}

fn cache_paths(cache_dir: &Path, key: &str) -> (PathBuf, PathBuf) {
    let dir = cache_dir.join(&key[..2]);
    (
        dir.join(format!("{key}.png")),
        dir.join(format!("{key}.json")),
    )
}

/// The crop of entry `i` of a cached file.
fn crop_path(cache_dir: &Path, key: &str, i: usize) -> PathBuf {
    cache_dir.join(&key[..2]).join(format!("{key}_{i}.png"))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::input(p, format!("cannot create: {e}")))?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::input(&tmp, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::input(path, format!("cannot write: {e}")))
}

fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::Other(format!("cannot encode a face crop: {e}")))?;
    write_atomic(path, &bytes)
}

/// The cache key's description of how crops are cut.
fn crop_spec(cfg: &DatasetConfig, mtcnn: &Mtcnn) -> String {
    format!(
        "v3|chain={}|template={:?}|context={}|size={}|mtcnn={}|video_frames={}",
        cfg.chain.as_str(),
        cfg.template.points,
        cfg.template.context_scale,
        cfg.size,
        serde_json::to_string(&mtcnn.params).unwrap_or_default(),
        cfg.frames_per_video
    )
}

/// Frames per MTCNN call (frames of one video share a size and are batched).
const DETECT_BATCH: usize = 8;

/// Up to `n` frames spread evenly over a video: sampled on the pipeline's time grid at a rate
/// (3–10 FPS) that gives about `n` frames, then thinned to `n` evenly spaced ones.
fn video_frames(
    source: media::Source,
    n: usize,
    limits: &Limits,
    cancel: &AtomicBool,
) -> Result<Vec<(u64, RgbImage)>> {
    let path = source.path().to_path_buf();
    let path = path.as_path();
    let info = source.info().clone();
    let duration = info.duration_s.filter(|d| d.is_finite() && *d > 0.0);
    let fps = duration.map_or(SampleParams::MIN_FPS, |d| {
        ((n as f64 / d) as f32).clamp(SampleParams::MIN_FPS, SampleParams::MAX_FPS)
    });
    let expected = duration.map_or(n, |d| ((d * fps as f64).floor() as usize).max(1));
    let wanted: std::collections::BTreeSet<usize> = if expected <= n || n == 1 {
        (0..expected.max(n)).collect()
    } else {
        (0..n).map(|i| i * (expected - 1) / (n - 1)).collect()
    };
    let params = SampleParams {
        fps,
        max_frames: wanted.last().map(|l| l + 1),
        ..SampleParams::default()
    };
    let mut out = Vec::new();
    for frame in source.frames(&params, limits, cancel)? {
        match frame {
            Ok(f) if wanted.contains(&f.index) => out.push((f.source_index, f.image)),
            Ok(_) => {}
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            // A truncated video: keep the frames read before the damage.
            Err(e) if !out.is_empty() => {
                tracing::warn!(path = %path.display(), "{e}; using the {} frames read", out.len());
                break;
            }
            Err(e) => return Err(e),
        }
        if out.len() == n {
            break;
        }
    }
    if out.is_empty() {
        return Err(Error::input(path, "the video gave no frames"));
    }
    Ok(out)
}

/// Detects and aligns the largest face of each frame, saving the crops under `key`.
fn detect_and_cache(
    frames: &[(Option<u64>, RgbImage)],
    key: &str,
    mtcnn: &Mtcnn,
    cfg: &DatasetConfig,
) -> Result<CachedFile> {
    let mut faces = Vec::with_capacity(frames.len());
    for chunk in frames.chunks(DETECT_BATCH) {
        let images: Vec<&RgbImage> = chunk.iter().map(|(_, img)| img).collect();
        let found = mtcnn.detect(&images)?;
        for ((frame, img), dets) in chunk.iter().zip(found) {
            let i = faces.len();
            faces.push(match dets.first() {
                Some(d) => {
                    let aligned = prepare(img, &d.landmarks, &cfg.crop_spec());
                    save_png(&aligned.input, &crop_path(&cfg.cache_dir, key, i))?;
                    CachedFace {
                        face: true,
                        landmarks: d.landmarks.map(|p| aligned.transform.apply(p)),
                        prob: d.prob,
                        frame: *frame,
                    }
                }
                None => CachedFace {
                    face: false,
                    landmarks: [[0.0; 2]; 5],
                    prob: 0.0,
                    frame: *frame,
                },
            });
        }
    }
    Ok(CachedFile { faces })
}

/// Finds, aligns and caches the largest face of each image, and of `frames_per_video` frames
/// of each video. Files that cannot be read, and images or videos without any face, are
/// skipped with the reason.
pub fn extract_faces(
    entries: &[Entry],
    mtcnn: &Mtcnn,
    cfg: &DatasetConfig,
    progress: &dyn Fn(DatasetProgress),
    cancel: &AtomicBool,
) -> Result<(Vec<Sample>, Vec<Skipped>, DatasetStats)> {
    let spec = crop_spec(cfg, mtcnn);
    let mut samples = Vec::new();
    let mut skipped = Vec::new();
    let mut stats = DatasetStats {
        files: entries.len(),
        ..Default::default()
    };
    for (k, e) in entries.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        progress(DatasetProgress {
            done: k,
            total: entries.len(),
        });
        let skip = |skipped: &mut Vec<Skipped>, reason: String| {
            skipped.push(Skipped {
                path: e.path.clone(),
                reason,
            })
        };
        let sha = match crate::store::hash_path(&e.path) {
            Ok(s) => s,
            Err(err) => {
                skip(&mut skipped, err.to_string());
                continue;
            }
        };
        let key = sha256_hex(&[sha.as_bytes(), spec.as_bytes()]);
        let (_, index) = cache_paths(&cfg.cache_dir, &key);
        let cached: Option<CachedFile> = std::fs::read(&index)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|c: &CachedFile| {
                c.faces
                    .iter()
                    .enumerate()
                    .all(|(i, f)| !f.face || crop_path(&cfg.cache_dir, &key, i).is_file())
            });
        let file = match cached {
            Some(c) => {
                stats.cache_hits += 1;
                c
            }
            None => {
                let frames: Result<Vec<(Option<u64>, RgbImage)>> =
                    match media::Source::open(&e.path, &cfg.limits) {
                        Ok(s) if s.kind() == MediaKind::Image => {
                            media::load_image(&e.path, &cfg.limits).map(|img| vec![(None, img)])
                        }
                        // Opened once: the same FFmpeg input gives the duration and the frames.
                        Ok(s) if s.kind() == MediaKind::Video => {
                            video_frames(s, cfg.frames_per_video, &cfg.limits, cancel)
                                .map(|v| v.into_iter().map(|(i, img)| (Some(i), img)).collect())
                        }
                        Ok(other) => Err(Error::input(
                            &e.path,
                            format!("{:?} sources cannot be training data", other.kind()),
                        )),
                        Err(err) => Err(err),
                    };
                let frames = match frames {
                    Ok(f) => f,
                    Err(Error::Cancelled) => return Err(Error::Cancelled),
                    Err(err) => {
                        skip(&mut skipped, err.to_string());
                        continue;
                    }
                };
                let c = detect_and_cache(&frames, &key, mtcnn, cfg)?;
                stats.detected += frames.len();
                let bytes = serde_json::to_vec(&c).unwrap_or_default();
                write_atomic(&index, &bytes)?;
                c
            }
        };
        let before = samples.len();
        for (i, f) in file.faces.iter().enumerate().filter(|(_, f)| f.face) {
            samples.push(Sample {
                crop: crop_path(&cfg.cache_dir, &key, i),
                fake: e.fake,
                identity: e.identity.clone(),
                source: e.source.clone(),
                landmarks: f.landmarks,
                origin: Origin::File {
                    path: e.path.clone(),
                    sha256: sha.clone(),
                    frame: f.frame,
                },
            });
        }
        if samples.len() == before {
            skip(&mut skipped, "no face found".into());
        }
    }
    progress(DatasetProgress {
        done: entries.len(),
        total: entries.len(),
    });
    Ok((samples, skipped, stats))
}

/// Self-blended fakes of the real samples (`per_real` each), cached beside the crops. Each
/// fake keeps its real face's identity, a `source` of `sbi`, and its parameters.
pub fn synthesize_sbi(
    reals: &[Sample],
    cfg: &DatasetConfig,
    per_real: usize,
) -> Result<Vec<Sample>> {
    let sbi_spec = serde_json::to_string(&cfg.sbi).unwrap_or_default();
    let mut out = Vec::new();
    for s in reals.iter().filter(|s| !s.fake) {
        for k in 0..per_real {
            let crop_name = s.crop.to_string_lossy();
            let key = sha256_hex(&[
                crop_name.as_bytes(),
                b"sbi",
                sbi_spec.as_bytes(),
                &cfg.seed.to_le_bytes(),
                &(k as u64).to_le_bytes(),
            ]);
            // The fake's seed: from the dataset seed and the real crop, so it is stable when
            // other files come and go.
            let seed = u64::from_str_radix(&key[..16], 16).unwrap_or(k as u64);
            let (png, json) = cache_paths(&cfg.cache_dir, &key);
            let cached: Option<SbiParams> = std::fs::read(&json)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .filter(|_| png.is_file());
            let params = match cached {
                Some(p) => p,
                None => {
                    let real = load_crop(s, cfg.size)?;
                    let fake = sbi::self_blend(&real, &s.landmarks, &cfg.sbi, seed)?;
                    save_png(&fake.image, &png)?;
                    write_atomic(&json, &serde_json::to_vec(&fake.params).unwrap_or_default())?;
                    fake.params
                }
            };
            out.push(Sample {
                crop: png,
                fake: true,
                identity: s.identity.clone(),
                source: "sbi".into(),
                landmarks: s.landmarks,
                origin: Origin::Sbi {
                    from: s.crop.clone(),
                    params,
                },
            });
        }
    }
    Ok(out)
}

/// Face swaps among the real samples (`per_real` each): every real crop is the target of a swap
/// from a real crop of another identity, picked with the dataset seed. The fake keeps the
/// target's identity (its head and background; the source's face is of the same split side),
/// a `source` of `swap`, and the swap's record. None when there is only one identity.
pub fn synthesize_swaps(
    reals: &[Sample],
    cfg: &DatasetConfig,
    per_real: usize,
) -> Result<Vec<Sample>> {
    let reals: Vec<&Sample> = reals
        .iter()
        .filter(|s| !s.fake && !matches!(s.origin, Origin::Sbi { .. } | Origin::Swap { .. }))
        .collect();
    let sbi_spec = serde_json::to_string(&cfg.sbi).unwrap_or_default();
    let mut out = Vec::new();
    for (ti, t) in reals.iter().enumerate() {
        let others: Vec<&&Sample> = reals.iter().filter(|s| s.identity != t.identity).collect();
        if others.is_empty() {
            continue;
        }
        for k in 0..per_real {
            let mut rng = Rng::with_stream(cfg.seed, 0x5a9 ^ ((ti as u64) << 16) ^ k as u64);
            let src = others[rng.below(others.len() as u64) as usize];
            let key = sha256_hex(&[
                t.crop.to_string_lossy().as_bytes(),
                b"swap",
                src.crop.to_string_lossy().as_bytes(),
                sbi_spec.as_bytes(),
                &cfg.seed.to_le_bytes(),
                &(k as u64).to_le_bytes(),
            ]);
            let seed = u64::from_str_radix(&key[..16], 16).unwrap_or(k as u64);
            let (png, json) = cache_paths(&cfg.cache_dir, &key);
            let cached: Option<SwapRecord> = std::fs::read(&json)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .filter(|_| png.is_file());
            let record = match cached {
                Some(r) => r,
                None => {
                    let (ti_img, si_img) = (load_crop(t, cfg.size)?, load_crop(src, cfg.size)?);
                    let fake = face_swap(
                        SwapFace {
                            image: &ti_img,
                            landmarks: &t.landmarks,
                            identity: &t.identity,
                        },
                        SwapFace {
                            image: &si_img,
                            landmarks: &src.landmarks,
                            identity: &src.identity,
                        },
                        &cfg.sbi,
                        seed,
                    )?;
                    save_png(&fake.image, &png)?;
                    write_atomic(&json, &serde_json::to_vec(&fake.record).unwrap_or_default())?;
                    fake.record
                }
            };
            out.push(Sample {
                crop: png,
                fake: true,
                identity: t.identity.clone(),
                source: "swap".into(),
                landmarks: t.landmarks,
                origin: Origin::Swap {
                    target: t.crop.clone(),
                    source: src.crop.clone(),
                    record,
                },
            });
        }
    }
    Ok(out)
}

/// The seeded position of a group name in the split order.
fn group_rank(seed: u64, name: &str) -> String {
    sha256_hex(&[&seed.to_le_bytes(), name.as_bytes()])
}

/// Splits samples into (train, val) with no group on both sides (see the module doc).
/// Synthetic samples follow the real crop they were made from.
pub fn split(samples: Vec<Sample>, cfg: &DatasetConfig) -> (Vec<Sample>, Vec<Sample>) {
    let group_of = |s: &Sample| match cfg.split_by {
        SplitBy::Identity => s.identity.clone(),
        SplitBy::Source => s.source.clone(),
    };
    // Synthetic samples join their real face's group.
    let crop_group: HashMap<PathBuf, String> = samples
        .iter()
        .filter(|s| !matches!(s.origin, Origin::Sbi { .. } | Origin::Swap { .. }))
        .map(|s| (s.crop.clone(), group_of(s)))
        .collect();
    let key = |s: &Sample| match &s.origin {
        Origin::Sbi { from, .. } | Origin::Swap { target: from, .. } => {
            crop_group.get(from).cloned().unwrap_or_else(|| group_of(s))
        }
        _ => group_of(s),
    };
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for s in &samples {
        *sizes.entry(key(s)).or_default() += 1;
    }
    let mut order: Vec<(String, String)> = sizes
        .keys()
        .map(|g| (group_rank(cfg.seed, g), g.clone()))
        .collect();
    order.sort();
    let want = (cfg.val_fraction * samples.len() as f64).round() as usize;
    let mut val_groups = std::collections::HashSet::new();
    let mut taken = 0;
    for (_, g) in &order {
        // Always leave at least one group for training.
        if taken >= want || val_groups.len() + 1 >= order.len() {
            break;
        }
        taken += sizes[g];
        val_groups.insert(g.clone());
    }
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for s in samples {
        if val_groups.contains(&key(&s)) {
            val.push(s);
        } else {
            train.push(s);
        }
    }
    (train, val)
}

/// A whole folder dataset: scan, extract faces, split, then add synthetic fakes as configured.
pub fn load_folder(
    root: &Path,
    mtcnn: &Mtcnn,
    cfg: &DatasetConfig,
    progress: &dyn Fn(DatasetProgress),
    cancel: &AtomicBool,
) -> Result<Dataset> {
    cfg.validate()?;
    let entries = scan_folder(root)?;
    let (samples, skipped, stats) = extract_faces(&entries, mtcnn, cfg, progress, cancel)?;
    finish(samples, skipped, stats, cfg)
}

/// Splits a set of samples, adds synthetic fakes to each side (made only from that side's real
/// faces, so no identity crosses over through a swap), and checks the result.
pub fn finish(
    samples: Vec<Sample>,
    skipped: Vec<Skipped>,
    mut stats: DatasetStats,
    cfg: &DatasetConfig,
) -> Result<Dataset> {
    let mut warnings = Vec::new();
    if samples.is_empty() {
        warnings.push("no usable face was found in the data".to_string());
    }
    let make = match cfg.synthetic {
        Synthetic::Always => true,
        Synthetic::Auto => !samples.iter().any(|s| s.fake),
        Synthetic::Never => false,
    };
    let (mut train, mut val) = split(samples, cfg);
    if make {
        for part in [&mut train, &mut val] {
            let mut fakes = synthesize_sbi(part, cfg, cfg.sbi_per_real)?;
            fakes.extend(synthesize_swaps(part, cfg, cfg.swaps_per_real)?);
            stats.synthetic += fakes.len();
            part.extend(fakes);
        }
    }
    for (name, part) in [("training", &train), ("validation", &val)] {
        let (real, fake) = Dataset::count(part);
        if (real == 0 || fake == 0) && !(name == "validation" && cfg.val_fraction == 0.0) {
            warnings.push(format!(
                "the {name} set has {real} real and {fake} fake faces: both classes are needed"
            ));
        }
    }
    Ok(Dataset {
        train,
        val,
        skipped,
        stats,
        warnings,
    })
}

/// Adjudicated cases as samples: for each case with a fake/real label, its latest label applied
/// to every aligned face crop of the case's last analysis. Full-frame "faces" (no face found)
/// are left out. `template` must be the one the crops were cut with (the profile's).
pub fn from_store(store: &Store, spec: &CropSpec) -> Result<(Vec<Sample>, Vec<Skipped>)> {
    let mut samples = Vec::new();
    let mut skipped = Vec::new();
    for case in store.labelled_cases()? {
        let case_id = case.case_id;
        let case_path = PathBuf::from(format!("case {case_id}"));
        if case.analysis_id.is_none() {
            skipped.push(Skipped {
                path: case_path,
                reason: "labelled but never analysed: no face crops".into(),
            });
            continue;
        }
        if case.faces.is_empty() {
            skipped.push(Skipped {
                path: case_path,
                reason: "its last analysis found no face".into(),
            });
            continue;
        }
        for face in &case.faces {
            let (face_id, crop, lm_json) = (face.face_id, &face.crop, &face.landmarks);
            let path = store.blobs.path(crop);
            let lm: [[f32; 2]; 5] = match serde_json::from_str(lm_json) {
                Ok(l) => l,
                Err(e) => {
                    skipped.push(Skipped {
                        path,
                        reason: format!("face {face_id}: unreadable landmarks ({e})"),
                    });
                    continue;
                }
            };
            let size = match image::image_dimensions(&path) {
                Ok((w, _)) => w,
                Err(e) => {
                    skipped.push(Skipped {
                        path,
                        reason: format!("face {face_id}: crop missing or unreadable ({e})"),
                    });
                    continue;
                }
            };
            // The crop was cut by this transform (same function as the pipeline), so its
            // landmarks are the frame landmarks mapped through it.
            let t = transform_for(&lm, &CropSpec { size, ..*spec });
            samples.push(Sample {
                crop: path,
                fake: case.fake,
                identity: format!("case:{case_id}"),
                source: "review".into(),
                landmarks: lm.map(|p| t.apply(p)),
                origin: Origin::Case {
                    case_id,
                    face_id,
                    analyst: case.analyst.clone(),
                    labelled_at: case.labelled_at.clone(),
                    label_source: case.source.clone(),
                },
            });
        }
    }
    Ok((samples, skipped))
}

/// The "retrain from reviews" data set: the adjudicated cases' face crops ([`from_store`]),
/// split by case, with synthetic fakes added as `cfg` says (by default only when no case was
/// judged fake). `cfg.template` must be the profile's.
pub fn reviews_dataset(store: &Store, cfg: &DatasetConfig) -> Result<Dataset> {
    cfg.validate()?;
    let (samples, skipped) = from_store(store, &cfg.crop_spec())?;
    let stats = DatasetStats {
        from_cases: samples.len(),
        ..Default::default()
    };
    finish(samples, skipped, stats, cfg)
}

/// Draws a deterministic shuffled order of `n` indices for an epoch.
pub fn epoch_order(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    Rng::with_stream(seed, 0xe90c ^ epoch).shuffle(&mut idx);
    idx
}
