//! The analysis pipeline: media → sampled frames → MTCNN faces → 5-point alignment → detector →
//! aggregation → store. `Analyzer` owns the models on one device; the CLI calls it directly and
//! the desktop app runs it on a worker thread (`spawn_worker`). Progress streams as `Progress`.
//!
//! Without installed detector weights the pipeline still decodes, finds, aligns and stores every
//! face, and marks the case "not scored" with the command that installs weights. A profile made
//! from random weights is allowed (tests, demos), and everything it scores is flagged untrained.
use crate::aggregate::{self, Scored};
use crate::config::{Band, Settings};
use crate::faces::align::{self, AlignTemplate};
use crate::faces::mtcnn::{Detection, Mtcnn};
use crate::faces::preprocess::{self, Chain, CropSpec};
use crate::faces::warp_tensor::{self, FaceWarp};
use crate::media::{self, Frame, Limits, MediaKind, SampleParams};
use crate::models::profile::LoadedDetector;
use crate::store::{FaceRow, FrameRow, NewMedia, Outcome, ScoreRow, Store};
use crate::track::IouTracker;
use crate::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The one command that installs a real detector, shown wherever a case is not scored.
pub const INSTALL_HINT: &str = "verity models fetch gend-clip-l14";

/// Frames decoded and faces detected per MTCNN batch.
const FRAME_BATCH: usize = 8;
const CROP_SIZE: u32 = 224;

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    Imported {
        case_id: i64,
        existing: bool,
        title: String,
    },
    Started {
        case_id: i64,
        analysis_id: i64,
        kind: MediaKind,
        frames_estimate: Option<u64>,
    },
    Frames {
        case_id: i64,
        decoded: usize,
        faces_found: usize,
        faces_scored: usize,
        frames_estimate: Option<u64>,
        elapsed_s: f64,
    },
    Finished {
        case_id: i64,
        summary: Box<Summary>,
    },
}

/// Stage timings in seconds, for the benchmark and the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageTimes {
    /// Seconds spent decoding (on the decode thread, overlapping the other stages).
    pub decode: f64,
    /// Seconds the analysis waited for decoded frames: decode time not hidden by the overlap.
    pub decode_wait: f64,
    pub detect: f64,
    pub align: f64,
    pub encode: f64,
    pub store: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopFrame {
    pub frame: i64,
    pub pts_s: f64,
    pub score: f64,
}

/// What one analysis concluded: the CLI prints it, the app shows it, `--json` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub case_id: i64,
    pub analysis_id: Option<i64>,
    pub file: String,
    pub sha256: String,
    pub kind: Option<MediaKind>,
    /// done | not_scored | failed | cancelled
    pub status: String,
    pub score: Option<f64>,
    pub band: Option<Band>,
    pub verdict: String,
    pub untrained: bool,
    pub profile: Option<String>,
    pub message: Option<String>,
    pub frames: usize,
    pub faces: usize,
    pub tracks: usize,
    /// Source frames that could not be decoded and were skipped (the case was analysed on the
    /// others; see [`undecodable_note`]).
    pub undecodable_frames: usize,
    /// The first of those decode errors, in words.
    pub decode_error: Option<String>,
    pub top_frames: Vec<TopFrame>,
    pub times: StageTimes,
    /// Why this verdict is less reliable (`scope::assess`); empty when nothing limits it or
    /// the analysis did not get as far as assessing.
    pub scope: Vec<crate::scope::ScopeWarning>,
    /// Provenance signals (metadata, content credentials, seen before), each with its source —
    /// context beside the verdict, never part of the score (`provenance::case_view`).
    pub provenance: Vec<crate::provenance::Signal>,
}

pub struct Analyzer {
    settings: Settings,
    device: tch::Device,
    mtcnn: Mtcnn,
    detector: Option<LoadedDetector>,
    /// Why there is no detector (shown on not-scored cases).
    detector_missing: Option<String>,
    /// Set when the compute device failed during an analysis ([`Error::DeviceLost`]): this
    /// analyzer's models may be unusable; its owner should drop it and go on on the CPU.
    device_failed: std::sync::atomic::AtomicBool,
}

/// Where model profiles live (see `Settings::models_dir`).
pub fn models_dir(settings: &Settings) -> PathBuf {
    settings.models_dir()
}

/// The detector profile to use: the one named in settings (a name under `models/profiles/` or a
/// path), else the first trained profile installed. Untrained profiles are only used by name.
pub fn find_profile(settings: &Settings) -> Option<PathBuf> {
    let dir = models_dir(settings).join("profiles");
    if let Some(p) = &settings.profile {
        let as_path = PathBuf::from(p);
        return Some(if as_path.is_dir() {
            as_path
        } else {
            dir.join(p)
        });
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    entries.into_iter().find(|p| {
        crate::models::profile::load_profile(p)
            .map(|pr| pr.trained)
            .unwrap_or(false)
    })
}

impl Analyzer {
    /// Loads MTCNN (required: it ships with the app) and the detector profile (optional).
    pub fn new(settings: &Settings) -> Result<Self> {
        settings.validate()?;
        let device = crate::device::select(settings.device)?;
        if device.is_cuda() {
            // Before any model runs: libtorch reads the flag at each fp32 matmul.
            crate::device::set_tf32_matmul(settings.tf32);
        }
        let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), device)?;
        let (detector, detector_missing) = match find_profile(settings) {
            Some(dir) => {
                match LoadedDetector::load(&dir, device).and_then(|d| configure(d, settings)) {
                    Ok(d) => (Some(d), None),
                    Err(e) if settings.profile.is_some() => return Err(e),
                    Err(e) => (
                        None,
                        Some(format!(
                            "Detector profile {} could not be loaded ({e}).",
                            dir.display()
                        )),
                    ),
                }
            }
            None => (None, Some("No detector weights installed.".to_string())),
        };
        Ok(Self {
            settings: settings.clone(),
            device,
            mtcnn,
            detector,
            detector_missing,
            device_failed: Default::default(),
        })
    }

    /// Whether the compute device failed during an analysis run by this analyzer (the case
    /// failed with [`Error::DeviceLost`]); a worker then reloads its models on the CPU.
    pub fn device_failed(&self) -> bool {
        self.device_failed.load(Ordering::Relaxed)
    }

    pub fn device(&self) -> tch::Device {
        self.device
    }

    /// The face finder (MTCNN) this analyzer runs.
    pub fn mtcnn(&self) -> &Mtcnn {
        &self.mtcnn
    }

    pub fn detector(&self) -> Option<&LoadedDetector> {
        self.detector.as_ref()
    }

    fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.settings.max_media_mib.saturating_mul(1024 * 1024),
            ..Limits::default()
        }
    }

    /// Imports `path` as a case (or finds the existing case for the same content) and analyses it.
    pub fn analyze_path(
        &self,
        store: &mut Store,
        path: &Path,
        actor: &str,
        progress: &dyn Fn(&Progress),
        cancel: &AtomicBool,
    ) -> Result<Summary> {
        if media::is_live(path) {
            let folder = self.capture_live(store, path, cancel)?;
            return self.analyze_path(store, &folder, actor, progress, cancel);
        }
        let meta =
            std::fs::metadata(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
        if !meta.is_file() && !meta.is_dir() {
            // A FIFO or device would block the hash (and the worker) forever: never opened.
            return Err(Error::input(
                path,
                "is not a regular file (a FIFO, socket or device); save the media to a file first",
            ));
        }
        if meta.is_file() && meta.len() == 0 {
            return Err(Error::input(path, "file is empty (0 bytes)"));
        }
        let limits = self.limits();
        if meta.is_file() && meta.len() > limits.max_bytes {
            return Err(Error::TooLarge(format!(
                "{}: {} MiB exceeds the limit of {} MiB (Settings → maximum media size)",
                path.display(),
                meta.len() / (1024 * 1024),
                self.settings.max_media_mib
            )));
        }
        // Headers, sizes and counts are checked before anything is hashed or copied: a file
        // we cannot read, or one over the limits, never becomes a case.
        let probed = media::probe(path, &limits)?;
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let nm = NewMedia {
            original_path: path.to_path_buf(),
            kind: kind_str(probed.kind).to_string(),
            size_bytes: probed.size_bytes,
            width: Some(probed.width),
            height: Some(probed.height),
            duration_s: probed.duration_s,
            fps: probed.fps,
            codec: probed.codec.clone(),
            container: probed.container.clone(),
        };
        // Hashing and copying stop (leaving nothing behind) when the job is cancelled.
        let imported = store.import_cancellable(&nm, actor, Some(cancel))?;
        // Provenance is read from the file the analyst gave (its own file times), once per
        // media; a failure to store it never fails the import.
        if !imported.existing || store.provenance(imported.media_id)?.is_none() {
            let p = crate::provenance::examine(path, &nm.kind, store.data_dir());
            if let Err(e) = store.set_provenance(imported.media_id, &p) {
                tracing::warn!(case = imported.case_id, "provenance not stored: {e}");
            }
        }
        let title = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        progress(&Progress::Imported {
            case_id: imported.case_id,
            existing: imported.existing,
            title,
        });
        self.analyze_case(store, imported.case_id, actor, progress, cancel)
    }

    /// Records `live_seconds` of a live source (webcam, RTSP/UDP stream) as PNG frames into
    /// `<data dir>/captures/<time>/`, so the recording becomes an ordinary frame-folder case:
    /// content-addressed, re-analysable, reportable.
    pub fn capture_live(
        &self,
        store: &Store,
        source: &Path,
        cancel: &AtomicBool,
    ) -> Result<PathBuf> {
        self.capture_live_for(store, source, self.settings.live_seconds, cancel)
    }

    /// Records a live source for `seconds` (0–3600) instead of `settings.live_seconds`, then
    /// analyses the recording like [`Self::analyze_path`] does.
    pub fn analyze_live(
        &self,
        store: &mut Store,
        source: &Path,
        seconds: f64,
        actor: &str,
        progress: &dyn Fn(&Progress),
        cancel: &AtomicBool,
    ) -> Result<Summary> {
        if !media::is_live(source) {
            return Err(Error::input(source, "is not a live source: give an rtsp://, rtmp://, udp://, rtp:// or srt:// URL or a /dev/video* webcam"));
        }
        let folder = self.capture_live_for(store, source, seconds, cancel)?;
        self.analyze_path(store, &folder, actor, progress, cancel)
    }

    /// [`Self::capture_live`] for `seconds` (more than 0, at most an hour).
    pub fn capture_live_for(
        &self,
        store: &Store,
        source: &Path,
        seconds: f64,
        cancel: &AtomicBool,
    ) -> Result<PathBuf> {
        if !(seconds > 0.0 && seconds <= 3600.0) {
            return Err(Error::input(
                source,
                format!(
                    "the recording length must be more than 0 and at most 3600 s, not {seconds}"
                ),
            ));
        }
        let params = SampleParams {
            fps: self.settings.fps,
            keyframe_threshold: self.settings.keyframe_threshold,
            max_seconds: Some(seconds),
            ..SampleParams::default()
        };
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let dir = store
            .data_dir()
            .join("captures")
            .join(format!("live-{stamp}"));
        std::fs::create_dir_all(&dir)?;
        let mut n = 0usize;
        for frame in media::frames(source, &params, &self.limits(), cancel)? {
            let frame = match frame {
                // Damaged packets at the end of the recording: the frames before are kept.
                Err(Error::Undecodable { .. }) => continue,
                other => other?,
            };
            frame
                .image
                .save(dir.join(format!("frame{:06}.png", frame.index)))
                .map_err(|e| Error::input(&dir, format!("cannot write a captured frame: {e}")))?;
            n += 1;
        }
        if n == 0 {
            let _ = std::fs::remove_dir(&dir);
            return Err(Error::input(source, "the live source delivered no frames"));
        }
        Ok(dir)
    }

    /// (Re-)analyses a stored case from its content-store copy.
    pub fn analyze_case(
        &self,
        store: &mut Store,
        case_id: i64,
        actor: &str,
        progress: &dyn Fn(&Progress),
        cancel: &AtomicBool,
    ) -> Result<Summary> {
        // Chain of custody: the stored copy must still hash to what was recorded at import.
        store.verify_case_media(case_id, actor)?;
        let media_row = store.media_of_case(case_id)?;
        let blob = store.blobs.path(&media_row.blob);
        // Media imported before provenance existed: read it from the verified stored copy.
        if store.provenance(media_row.id)?.is_none() {
            let p = crate::provenance::examine(&blob, &media_row.kind, store.data_dir());
            if let Err(e) = store.set_provenance(media_row.id, &p) {
                tracing::warn!(case_id, "provenance not stored: {e}");
            }
        }
        let settings_json = serde_json::to_string(&self.settings).unwrap_or_default();
        let aid = store.begin_analysis(case_id, &settings_json, actor)?;
        let t0 = Instant::now();
        let mut summary = Summary {
            case_id,
            analysis_id: Some(aid),
            file: media_row.original_name.clone(),
            sha256: media_row.sha256.clone(),
            kind: None,
            status: "failed".into(),
            score: None,
            band: None,
            verdict: String::new(),
            untrained: false,
            profile: self.detector.as_ref().map(|d| d.profile().name.clone()),
            message: None,
            frames: 0,
            faces: 0,
            tracks: 0,
            undecodable_frames: 0,
            decode_error: None,
            top_frames: vec![],
            times: StageTimes::default(),
            scope: vec![],
            provenance: vec![],
        };
        // libtorch reports some errors by panicking through tch: contain them to this case.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.run_analysis(store, case_id, aid, &blob, progress, cancel, &mut summary)
        }));
        // What the analyst reads names their file, never the store copy (that goes to the log).
        let original = media_row.original_name.as_str();
        let run = run.map(|r| r.map_err(|e| e.naming_original(&blob, original)));
        summary.decode_error = (summary.decode_error.take())
            .map(|first| crate::error::rename_in_text(&first, &blob, original));
        // The shared store went away (a PostgreSQL restart): not this media's fault and not a
        // result — the caller (a queue worker) gives the job back and it runs again.
        let run = match run {
            Ok(Err(e)) if crate::store::db::is_unavailable(&e) => return Err(e),
            r => r,
        };
        let outcome = match run {
            Ok(Ok(mut outcome)) => {
                // Stored with the analysis (its message), shown on the case and in the report.
                if let Some(mut note) = undecodable_note(summary.undecodable_frames) {
                    if let Some(first) = &summary.decode_error {
                        note = format!("{} (first: {first})", note.trim_end_matches('.')) + ".";
                    }
                    outcome.message = Some(match outcome.message.take() {
                        Some(m) => format!("{note} {m}"),
                        None => note,
                    });
                }
                outcome
            }
            Ok(Err(e @ Error::DeviceLost { .. })) => {
                self.device_failed.store(true, Ordering::Relaxed);
                tracing::error!(case_id, "compute device failed: {e}");
                failed_outcome(
                    &format!(
                        "{e}. This case was not scored; later analyses run on the CPU. Re-run the case to score it."
                    ),
                    false,
                )
            }
            Ok(Err(e @ Error::OutOfMemory { .. })) => failed_outcome(
                &format!(
                    "{e}. Even a single face did not fit in memory; free memory (close other GPU programs) or choose the CPU in Settings, then re-run the case."
                ),
                false,
            ),
            Ok(Err(e)) => failed_outcome(&e.to_string(), cancel.load(Ordering::Relaxed)),
            Err(p) => failed_outcome(
                &format!("internal error: {}", crate::failover::panic_text(&p)),
                false,
            ),
        };
        summary.status = outcome.status.clone();
        summary.score = outcome.score;
        summary.band = outcome.score.map(|s| self.settings.thresholds.band(s));
        summary.untrained = outcome.untrained;
        summary.message = outcome.message.clone();
        summary.verdict = verdict_text(&summary);
        summary.times.total = t0.elapsed().as_secs_f64();
        store.finish_analysis(aid, &outcome, actor)?;
        match crate::provenance::case_view(store, case_id) {
            Ok(v) => summary.provenance = v.signals,
            Err(e) => tracing::warn!(case_id, "provenance not shown: {e}"),
        }
        progress(&Progress::Finished {
            case_id,
            summary: Box::new(summary.clone()),
        });
        Ok(summary)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_analysis(
        &self,
        store: &mut Store,
        case_id: i64,
        aid: i64,
        blob: &Path,
        progress: &dyn Fn(&Progress),
        cancel: &AtomicBool,
        summary: &mut Summary,
    ) -> Result<Outcome> {
        let limits = self.limits();
        // Opened once: the same FFmpeg input serves the description and the decoding.
        let source = media::Source::open(blob, &limits)?;
        let info = source.info().clone();
        summary.kind = Some(info.kind);
        let params = SampleParams {
            fps: self.settings.fps,
            keyframe_threshold: self.settings.keyframe_threshold,
            ..SampleParams::default()
        };
        progress(&Progress::Started {
            case_id,
            analysis_id: aid,
            kind: info.kind,
            frames_estimate: estimate_frames(&info, params.fps),
        });
        // How faces are cut: the profile's chain (recorded with the analysis); without a
        // detector, faces are still found and shown, cut by the direct chain.
        let spec = self
            .detector
            .as_ref()
            .map(|d| d.crop_spec())
            .unwrap_or(CropSpec {
                template: AlignTemplate::arcface(),
                chain: Chain::Direct,
                size: CROP_SIZE,
            });
        // Faces are cut on the device when the chain allows it and the setting asks for it
        // (recorded with the analysis's preprocessing).
        let align_on_device = self.detector.is_some()
            && spec.chain == Chain::Direct
            && match self.settings.device_align {
                crate::config::DeviceAlign::Auto => self.device.is_cuda(),
                crate::config::DeviceAlign::On => true,
                crate::config::DeviceAlign::Off => false,
            };
        if let Some(d) = &self.detector {
            let mut described = d.profile().preprocessing.describe();
            if align_on_device {
                described.push_str(&format!(
                    " · faces cut on {} (grid_sample)",
                    crate::failover::device_name(self.device)
                ));
            }
            store.record_preprocessing(aid, &described)?;
            store.record_compute(
                aid,
                &crate::device::compute_label(d.device(), d.precision()),
            )?;
        }
        let frames_iter = source.frames(&params, &limits, cancel)?;
        let mut tracker = IouTracker::default();
        let mut scored: Vec<Scored> = Vec::new();
        let mut face_scores: Vec<ScoreRow> = Vec::new();
        let mut pts_of: std::collections::HashMap<i64, f64> = Default::default();
        let mut tracks = std::collections::BTreeSet::new();
        let mut face_stats = crate::scope::FaceStats::for_settings(&self.settings);
        // "Seen before": perceptual hashes of the first frame and keyframes (bounded per media).
        let mut hashes = crate::provenance::similar::hash_frames();
        let start = Instant::now();
        // Staged: decoding runs one step ahead on its own thread, with at most two decoded
        // batches waiting (bounded memory), so batch n + 1 decodes while batch n is detected,
        // aligned, encoded and stored. Cancel reaches both stages (the frame source checks it).
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Decoded>>(2);
            scope.spawn(move || decode_stage(frames_iter, &tx));
            loop {
                if cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                let t = Instant::now();
                let Ok(decoded) = rx.recv() else {
                    break; // the source is exhausted
                };
                summary.times.decode_wait += t.elapsed().as_secs_f64();
                let decoded = decoded?;
                summary.times.decode += decoded.seconds;
                summary.undecodable_frames += decoded.undecodable;
                if let Some(first) = decoded.first_error {
                    summary.decode_error.get_or_insert(first);
                }
                let batch = decoded.frames;
                if batch.is_empty() {
                    continue;
                }
                let t = Instant::now();
                let images: Vec<&image::RgbImage> = batch.iter().map(|f| &f.image).collect();
                let dets = crate::faces::rotate::detect(
                    &self.mtcnn,
                    &images,
                    self.settings.find_turned_faces,
                )?;
                summary.times.detect += t.elapsed().as_secs_f64();

                let t = Instant::now();
                let mut frame_rows = Vec::with_capacity(batch.len());
                let mut face_rows = Vec::new();
                // Per face: its detector input cut on the CPU, or None when it is cut on the
                // device (`warps`, in face order) after this loop.
                let mut crops: Vec<Option<image::RgbImage>> = Vec::new();
                let mut warps: Vec<FaceWarp> = Vec::new();
                let on_device = align_on_device
                    && images
                        .iter()
                        .all(|i| i.dimensions() == images[0].dimensions());
                let mut meta: Vec<(i64, i64, f64)> = Vec::new(); // frame idx, track, motion
                for (pos, (frame, found)) in batch.iter().zip(dets.iter()).enumerate() {
                    let idx = frame.index as i64;
                    pts_of.insert(idx, frame.pts_s);
                    hashes.offer(idx, frame.pts_s, frame.keyframe, &frame.image);
                    frame_rows.push(FrameRow {
                        idx,
                        source_index: frame.source_index as i64,
                        pts_s: frame.pts_s,
                        keyframe: frame.keyframe,
                        motion: frame.motion as f64,
                        width: frame.image.width(),
                        height: frame.image.height(),
                    });
                    let found: Vec<&Detection> = found.iter().collect();
                    face_stats.add_frame(idx, &frame.image, found.iter().map(|d| &d.landmarks));
                    let boxes: Vec<[f32; 4]> = found.iter().map(|d| d.bbox).collect();
                    let ids = tracker.update(frame.index, &boxes);
                    for (d, tid) in found.iter().zip(ids) {
                        // The detector's exact input (what was scored; stored once it is cut)
                        // and, for the gallery, the face at the frame's own resolution.
                        let (input, native) = if on_device {
                            warps.push(FaceWarp::for_chain(pos as i64, &d.landmarks, &spec)?);
                            let (native, _) =
                                preprocess::direct_native(&frame.image, &d.landmarks, &spec);
                            (None, native)
                        } else {
                            let face = preprocess::prepare(&frame.image, &d.landmarks, &spec);
                            (Some(face.input), face.native)
                        };
                        let crop = input
                            .as_ref()
                            .map(|img| store_crop(store, aid, idx, tid, "", img))
                            .transpose()?;
                        let native = store_native_crop(store, aid, idx, tid, &native)?;
                        face_rows.push(FaceRow {
                            id: 0,
                            frame_idx: idx,
                            track_id: tid,
                            bbox: d.bbox,
                            det_prob: d.prob,
                            landmarks: d.landmarks,
                            crop,
                            native_crop: Some(native),
                            full_frame: false,
                            score: None,
                        });
                        tracks.insert(tid);
                        crops.push(input);
                        meta.push((idx, tid, frame.motion as f64));
                    }
                    if found.is_empty() && self.settings.score_full_frame_without_face {
                        let img = align::full_frame(&frame.image, CROP_SIZE).image;
                        let crop = store_crop(store, aid, idx, 0, "", &img)?;
                        let (w, h) = (frame.image.width() as f32, frame.image.height() as f32);
                        face_rows.push(FaceRow {
                            id: 0,
                            frame_idx: idx,
                            track_id: 0,
                            bbox: [0.0, 0.0, w, h],
                            det_prob: 0.0,
                            landmarks: [[0.0; 2]; 5],
                            crop: Some(crop),
                            native_crop: None,
                            full_frame: true,
                            score: None,
                        });
                        crops.push(Some(img));
                        meta.push((idx, 0, frame.motion as f64));
                    }
                }
                // Device-side alignment: the batch's frames go up once, every face is cut by
                // one grid_sample there; only the 8-bit crops come back, to be stored as the
                // exact input scored.
                let device_crops = if warps.is_empty() {
                    None
                } else {
                    let raw = crate::failover::guarded(self.device, "aligning faces", || {
                        let frames = warp_tensor::frames_to_tensor(&images, self.device)?;
                        warp_tensor::warp_faces_raw(&frames, &warps, spec.size as i64, true)
                    })?;
                    let mut cut = warp_tensor::crops_to_images(&raw)?.into_iter();
                    for (row, crop) in face_rows.iter_mut().zip(&crops) {
                        if crop.is_none() {
                            let img = cut.next().ok_or_else(|| {
                                Error::Model("fewer device crops than faces".into())
                            })?;
                            row.crop = Some(store_crop(
                                store,
                                aid,
                                row.frame_idx,
                                row.track_id,
                                "",
                                &img,
                            )?);
                        }
                    }
                    Some(raw)
                };
                summary.times.align += t.elapsed().as_secs_f64();
                let t = Instant::now();
                let face_ids = store.add_frames(aid, &frame_rows, &face_rows)?;
                summary.times.store += t.elapsed().as_secs_f64();
                summary.frames += frame_rows.len();
                summary.faces += face_rows.len();

                if let Some(det) = &self.detector {
                    let t = Instant::now();
                    // With device crops, every face's input as one device tensor in face order
                    // (a whole-frame input, cut on the CPU, joins it as grey levels).
                    let device_inputs = match &device_crops {
                        None => None,
                        Some(raw) => Some(device_inputs(raw, &crops, self.device)?),
                    };
                    for chunk in (0..crops.len())
                        .collect::<Vec<_>>()
                        .chunks(self.settings.batch_size)
                    {
                        let out = match &device_inputs {
                            Some(all) => det.score_pixels(&all.narrow(
                                0,
                                chunk[0] as i64,
                                chunk.len() as i64,
                            ))?,
                            None => {
                                let refs: Vec<&image::RgbImage> =
                                    chunk.iter().filter_map(|&i| crops[i].as_ref()).collect();
                                det.score(&refs)?
                            }
                        };
                        let emb: Vec<crate::store::EmbeddingRow> = chunk
                            .iter()
                            .zip(&out)
                            .map(|(&i, s)| {
                                (face_ids[i], s.clip_emb.as_slice(), s.cnn_emb.as_deref())
                            })
                            .collect();
                        store.add_embeddings(&emb)?;
                        for (&i, s) in chunk.iter().zip(out) {
                            let (fidx, tid, motion) = meta[i];
                            scored.push(Scored {
                                frame: fidx,
                                track: tid,
                                motion,
                                prob: s.prob as f64,
                            });
                            face_scores.push(ScoreRow {
                                level: "face".into(),
                                face_id: Some(face_ids[i]),
                                frame_idx: Some(fidx),
                                track_id: Some(tid),
                                score: s.prob as f64,
                            });
                        }
                    }
                    summary.times.encode += t.elapsed().as_secs_f64();
                }
                progress(&Progress::Frames {
                    case_id,
                    decoded: summary.frames,
                    faces_found: summary.faces,
                    faces_scored: scored.len(),
                    frames_estimate: estimate_frames(&info, params.fps),
                    elapsed_s: start.elapsed().as_secs_f64(),
                });
            }
            Ok(())
        })?;
        summary.tracks = tracks.len();
        crate::provenance::similar::store_hashes(store, case_id, &hashes)?;
        if summary.frames == 0 {
            return Err(match summary.decode_error.clone() {
                Some(first) => Error::Other(format!(
                    "no frames could be decoded from this media ({} failed; first: {first})",
                    summary.undecodable_frames
                )),
                None => Error::Other("no frames could be decoded from this media".into()),
            });
        }
        // What limits this verdict: stored with the analysis, shown beside the verdict.
        summary.scope = crate::scope::assess_media(&info, blob, &face_stats, &self.settings);
        store.record_scope(aid, &summary.scope)?;
        let no_face = summary.faces == 0;
        let Some(det) = &self.detector else {
            let why = self.detector_missing.clone().unwrap_or_default();
            let faces = if no_face {
                format!("No face found in {} frame(s).", summary.frames)
            } else {
                format!(
                    "{} face(s) found and aligned in {} frame(s).",
                    summary.faces, summary.frames
                )
            };
            return Ok(Outcome {
                status: "not_scored".into(),
                score: None,
                band: None,
                profile: None,
                weight_hashes: vec![],
                untrained: false,
                message: Some(format!(
                    "Not scored — {why} {faces} Install a detector with: {INSTALL_HINT}"
                )),
                scores: vec![],
            });
        };
        let profile = det.profile();
        if no_face {
            return Ok(Outcome {
                status: "not_scored".into(),
                score: None,
                band: None,
                profile: Some(profile.name.clone()),
                weight_hashes: det.weight_hashes(),
                untrained: !profile.trained,
                message: Some(format!(
                    "No face found in {} frame(s). To score the whole frame instead, enable \"score full frame when no face\" (--full-frame).",
                    summary.frames
                )),
                scores: vec![],
            });
        }
        let how = self.settings.aggregation;
        let mut rows = face_scores;
        let frames = aggregate::frame_scores(&scored);
        for (f, _, s) in &frames {
            rows.push(ScoreRow {
                level: "frame".into(),
                face_id: None,
                frame_idx: Some(*f),
                track_id: None,
                score: *s,
            });
        }
        for (t, s, _) in aggregate::track_scores(&scored, how) {
            rows.push(ScoreRow {
                level: "track".into(),
                face_id: None,
                frame_idx: None,
                track_id: Some(t),
                score: s,
            });
        }
        let score =
            aggregate::media_score(&scored, how).ok_or_else(|| Error::Other("no scores".into()))?;
        rows.push(ScoreRow {
            level: "media".into(),
            face_id: None,
            frame_idx: None,
            track_id: None,
            score,
        });
        let mut top: Vec<TopFrame> = frames
            .iter()
            .map(|(f, _, s)| TopFrame {
                frame: *f,
                pts_s: pts_of.get(f).copied().unwrap_or(0.0),
                score: *s,
            })
            .collect();
        top.sort_by(|a, b| b.score.total_cmp(&a.score));
        top.truncate(5);
        summary.top_frames = top;
        let untrained = !profile.trained;
        Ok(Outcome {
            status: "done".into(),
            score: Some(score),
            band: Some(self.settings.thresholds.band(score).as_str().into()),
            profile: Some(profile.name.clone()),
            weight_hashes: det.weight_hashes(),
            untrained,
            message: untrained.then(|| {
                "UNTRAINED profile (random weights): this score is not a verdict.".to_string()
            }),
            scores: rows,
        })
    }
}

/// Applies the settings' fusion override and precision to a loaded detector (shared by the
/// pipeline and explain).
pub fn configure(mut d: LoadedDetector, settings: &Settings) -> Result<LoadedDetector> {
    if let Some(f) = &settings.fusion {
        d.set_fusion(f.parse()?)?;
    }
    let (kind, compute) = crate::device::resolve_precision(settings.precision, d.device());
    tracing::info!("detector runs as {compute}");
    d.set_precision(kind)?;
    Ok(d)
}

/// One batch from the decode stage: up to [`FRAME_BATCH`] frames, plus the undecodable frames
/// skipped while reading them.
struct Decoded {
    frames: Vec<Frame>,
    undecodable: usize,
    first_error: Option<String>,
    seconds: f64,
}

/// The decode stage: reads the source into batches and sends them until the source ends, the
/// receiver goes away (the analysis stopped) or a fatal error (cancel, limits), which is sent
/// on its own. One bad frame does not fail the case: it is skipped and counted (the source
/// decides whether it can go on after it).
fn decode_stage(
    mut frames: impl Iterator<Item = Result<Frame>>,
    tx: &std::sync::mpsc::SyncSender<Result<Decoded>>,
) {
    loop {
        let t = Instant::now();
        let mut batch = Decoded {
            frames: Vec::with_capacity(FRAME_BATCH),
            undecodable: 0,
            first_error: None,
            seconds: 0.0,
        };
        let mut exhausted = true;
        for item in frames.by_ref() {
            match item {
                Ok(frame) => {
                    batch.undecodable += frame.undecodable_before as usize;
                    batch.frames.push(frame);
                }
                Err(e @ (Error::Cancelled | Error::TooLarge(_))) => {
                    let _ = tx.send(Err(e));
                    return;
                }
                Err(e @ Error::Undecodable { count, .. }) => {
                    batch.undecodable += count as usize;
                    batch.first_error.get_or_insert_with(|| e.to_string());
                }
                Err(e) => {
                    batch.undecodable += 1;
                    tracing::warn!("skipping a frame that could not be decoded: {e}");
                    batch.first_error.get_or_insert_with(|| e.to_string());
                }
            }
            if batch.frames.len() == FRAME_BATCH {
                exhausted = false;
                break;
            }
        }
        batch.seconds = t.elapsed().as_secs_f64();
        if (!batch.frames.is_empty() || batch.undecodable > 0) && tx.send(Ok(batch)).is_err() {
            return;
        }
        if exhausted {
            return;
        }
    }
}

fn store_crop(
    store: &Store,
    aid: i64,
    frame: i64,
    track: i64,
    suffix: &str,
    img: &image::RgbImage,
) -> Result<String> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(img.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::Other(format!("cannot encode face crop: {e}")))?;
    store
        .blobs
        .put_derived(&format!("a{aid}/f{frame:06}_t{track}{suffix}.png"), &bytes)
}

/// The display crop (face at frame resolution, ≤ 512²) as a quality-92 JPEG: it is for the eye
/// (the gallery), while the scored input beside it stays lossless PNG.
fn store_native_crop(
    store: &Store,
    aid: i64,
    frame: i64,
    track: i64,
    img: &image::RgbImage,
) -> Result<String> {
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
        .encode_image(img)
        .map_err(|e| Error::Other(format!("cannot encode face crop: {e}")))?;
    store
        .blobs
        .put_derived(&format!("a{aid}/f{frame:06}_t{track}.native.jpg"), &bytes)
}

/// The detector inputs of a batch as one `[F,3,S,S]` grey-level tensor on `device`, in face
/// order: device-cut faces (`raw`, in order, for the `None` entries of `crops`) and CPU-cut ones
/// (whole-frame inputs) uploaded as they are.
fn device_inputs(
    raw: &tch::Tensor,
    crops: &[Option<image::RgbImage>],
    device: tch::Device,
) -> Result<tch::Tensor> {
    let mut next = 0i64;
    let mut parts = Vec::with_capacity(crops.len());
    for crop in crops {
        parts.push(match crop {
            None => {
                next += 1;
                raw.narrow(0, next - 1, 1)
            }
            Some(img) => {
                let (w, h) = img.dimensions();
                tch::Tensor::from_slice(img.as_raw())
                    .view([1, h as i64, w as i64, 3])
                    .permute([0, 3, 1, 2])
                    .to_kind(tch::Kind::Float)
                    .to_device(device)
            }
        });
    }
    Ok(tch::Tensor::cat(&parts, 0))
}

fn failed_outcome(msg: &str, cancelled: bool) -> Outcome {
    Outcome {
        status: if cancelled { "cancelled" } else { "failed" }.into(),
        score: None,
        band: None,
        profile: None,
        weight_hashes: vec![],
        untrained: false,
        message: Some(if cancelled {
            "Analysis cancelled by the analyst.".to_string()
        } else {
            msg.to_string()
        }),
        scores: vec![],
    }
}

fn kind_str(k: MediaKind) -> &'static str {
    match k {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::FrameFolder => "framefolder",
        MediaKind::Live => "live",
    }
}

fn estimate_frames(info: &media::MediaInfo, fps: f32) -> Option<u64> {
    match info.kind {
        MediaKind::Image => Some(1),
        MediaKind::FrameFolder => info.frame_count,
        _ => info
            .duration_s
            .map(|d| (d * fps as f64).ceil().max(1.0) as u64),
    }
}

/// "N frames could not be decoded …" when some were skipped.
pub fn undecodable_note(n: usize) -> Option<String> {
    match n {
        0 => None,
        1 => Some("1 frame could not be decoded and was skipped.".into()),
        n => Some(format!("{n} frames could not be decoded and were skipped.")),
    }
}

/// One line a person can read: the verdict, or why there is none. With a scope warning the
/// band is never bare: the warnings follow it (`scope::qualify_verdict`).
pub fn verdict_text(s: &Summary) -> String {
    let line = bare_verdict_text(s);
    if s.status == "done" {
        crate::scope::qualify_verdict(&line, &s.scope)
    } else {
        line
    }
}

fn bare_verdict_text(s: &Summary) -> String {
    match (s.status.as_str(), s.score, s.band) {
        ("done", Some(score), Some(band)) if s.untrained => {
            format!(
                "UNTRAINED {:.3} ({}) — random-weight profile, not a verdict",
                score,
                band.as_str()
            )
        }
        ("done", Some(score), Some(band)) => format!("{} ({score:.3})", band.label()),
        ("not_scored", ..) => "not scored".into(),
        ("cancelled", ..) => "cancelled".into(),
        _ => "failed".into(),
    }
}
