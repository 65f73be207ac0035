//! "Seen before": other cases of the desk whose media shows the same or nearly the same frames
//! (64-bit DCT perceptual hashes of the image / the video's first frame and keyframes, stored per
//! media at analysis time: [`hash_frames`] / `Store::set_media_hashes`), or the same faces
//! (cosine of the detector's stored CLIP face embeddings, `Store::face_embeddings`).
//!
//! The face embedding is the detector's `clip_emb` (`models::profile::FaceScore`): for a GenD
//! profile the post-LayerNorm CLS token of the CLIP vision tower (1024-d for ViT-L/14), for a
//! fusion profile its `visual_projection` of that CLS (`projection_dim`, e.g. 768). Embeddings of
//! different profiles (or widths) live in different spaces and are never compared; embeddings
//! from an UNTRAINED (random-weight) profile are listed but never become a signal.
//!
//! Nothing here touches a score: the matches become `Signal`s with their source, shown beside the
//! verdict.
mod bench;
mod index;
mod persist;
mod phash;

pub use bench::{bench_faces, BenchRow, FaceBench};
pub use index::{dot, normalized, FaceIndex, Hit, BRUTE_FORCE_MAX};
pub use persist::{index_dir, index_key, open as open_face_index, IndexStats};
pub use phash::{hamming, phash, FrameHasher, MAX_HASHED_FRAMES};

use super::{Level, Signal};
use crate::store::Store;
use crate::Result;
use serde::Serialize;
use std::collections::HashMap;

/// Largest Hamming distance (of 64 bits) at which two frames count as the same picture.
///
/// Justified by `tests/seen_before.rs`, which prints every distance it measures (the 512² test
/// photo through the real import): re-encoded as JPEG q60 → 0, resized to ½ → 0, watermarked with
/// a lettered box over 4 % of the area → 2, cropped by 5 % centred → 6 and off the right and
/// bottom edges → 10 (the farthest copy), a video re-encoded with another codec, size and frame
/// rate → 0; unrelated pictures (a fractal, FFmpeg's test card) → 42, and in the same hash
/// computed by a NumPy replica, SMPTE bars 38, cellular automata 36 and 32. Independent hashes
/// would fall within 12 bits with probability 2.3·10⁻⁷ per pair (binomial tail). 12 keeps two
/// bits of margin above the farthest copy and 20 below the nearest unrelated picture. Known
/// limit, printed by the test: 5 % off every edge (10 % of each side) is 14 bits away and not
/// found — pHash is a global transform, and larger crops need a different signature.
pub const HAMMING_MAX: u32 = 12;

/// Smallest cosine between two stored CLIP face embeddings at which a face counts as seen
/// before.
///
/// NOT yet justified by a measurement on real weights: the tests can only run the UNTRAINED
/// "tiny" profile (random weights; `models fetch` needs the network), whose embeddings are
/// ≥ 0.997 apart for the same face in every copy *and* for a "face" MTCNN finds in a fractal
/// (`tests/seen_before.rs` prints both). The tests therefore check the path — stored embeddings,
/// per-profile comparison, the threshold deciding at the measured cosine, thumbnails — and that
/// matches from an UNTRAINED profile never become signals. 0.92 is a conservative starting
/// point for the trained CLS embedding (copies of one picture of a face stay near 1.0; different
/// people sit far lower); re-measure with `verity similar --cosine` on a trained profile before
/// relying on it.
pub const COSINE_MIN: f32 = 0.92;

/// How "seen before" searches.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub hamming_max: u32,
    pub cosine_min: f32,
    /// Nearest stored faces looked at per face of the case.
    pub neighbours: usize,
    /// Up to this many stored faces (of one profile and width) are searched exactly; above,
    /// through the persisted HNSW index under `<data dir>/index/`. [`BRUTE_FORCE_MAX`]; tests
    /// lower it to exercise the graph on a few hundred faces.
    pub brute_force_max: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hamming_max: HAMMING_MAX,
            cosine_min: COSINE_MIN,
            neighbours: 50,
            brute_force_max: BRUTE_FORCE_MAX,
        }
    }
}

/// Another case with the same or a nearly identical frame (the best pair of frames).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameMatch {
    pub case_id: i64,
    pub title: String,
    pub created_at: String,
    /// Hamming distance of the two 64-bit hashes (0 for the same file).
    pub distance: u32,
    /// Both cases hold the very same file (identical SHA-256, one stored media).
    pub same_file: bool,
    /// Sampled frame index in this case and in the other one.
    pub frame_index: i64,
    pub other_frame_index: i64,
    pub pts_s: Option<f64>,
    pub other_pts_s: Option<f64>,
}

/// Another case with a face whose embedding is close to one of this case's (the best pair).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceMatch {
    pub case_id: i64,
    pub title: String,
    pub created_at: String,
    pub cosine: f32,
    /// This case's face and the other case's (for thumbnails: `Store::face_display_crop`).
    pub face_id: i64,
    pub other_face_id: i64,
    pub frame_index: i64,
    pub other_frame_index: i64,
    pub other_has_crop: bool,
    /// How many of this case's faces have a match in that case.
    pub faces_matched: usize,
    pub profile: Option<String>,
    /// Either side's embedding came from random weights: listed, never a signal.
    pub untrained: bool,
}

/// What "seen before" found for a case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Similar {
    pub case_id: i64,
    /// By distance, then case id.
    pub frames: Vec<FrameMatch>,
    /// By cosine (highest first), then case id.
    pub faces: Vec<FaceMatch>,
    pub hamming_max: u32,
    pub cosine_min: f32,
    /// Frames of this case with a stored hash, and faces with a stored embedding.
    pub hashed_frames: usize,
    pub embedded_faces: usize,
    /// How the faces were searched ("brute force" or "HNSW", with the count).
    pub face_search: Option<String>,
    /// What limits the answer ("no frame hashes stored: re-run the analysis").
    pub notes: Vec<String>,
}

/// Hashes for the analysis pipeline: `offer` each decoded frame, then [`store_hashes`].
pub fn hash_frames() -> FrameHasher {
    FrameHasher::new()
}

/// Stores the collected hashes of a case's media (replacing earlier ones); nothing when no frame
/// was hashed, so a failed decode keeps what an earlier analysis stored.
pub fn store_hashes(store: &mut Store, case_id: i64, hashes: &FrameHasher) -> Result<()> {
    if hashes.rows().is_empty() {
        return Ok(());
    }
    let media = store.media_of_case(case_id)?;
    store.set_media_hashes(media.id, hashes.rows())
}

/// Other cases of the store that show the same frames or faces as `case_id`.
pub fn find(store: &Store, case_id: i64, opts: &Options) -> Result<Similar> {
    let media = store.media_of_case(case_id)?;
    let refs = store.case_refs()?;
    let mut out = Similar {
        case_id,
        frames: vec![],
        faces: vec![],
        hamming_max: opts.hamming_max,
        cosine_min: opts.cosine_min,
        hashed_frames: 0,
        embedded_faces: 0,
        face_search: None,
        notes: vec![],
    };

    // Frames: the best pair of hashes per other case; one stored media = the same file.
    let mut by_media: HashMap<i64, Vec<crate::store::HashRow>> = HashMap::new();
    for h in store.media_hashes(None)? {
        by_media.entry(h.media_id).or_default().push(h);
    }
    let mine = by_media.get(&media.id).cloned().unwrap_or_default();
    out.hashed_frames = mine.len();
    if mine.is_empty() {
        out.notes.push(
            "no frame hashes stored for this case (analysed before \"seen before\" existed, or no frame decoded): re-run the analysis".into(),
        );
    }
    for r in refs.iter().filter(|r| r.case_id != case_id) {
        let m = if r.media_id == media.id {
            let first = mine.first();
            Some(FrameMatch {
                case_id: r.case_id,
                title: r.title.clone(),
                created_at: r.created_at.clone(),
                distance: 0,
                same_file: true,
                frame_index: first.map(|h| h.frame_index).unwrap_or(0),
                other_frame_index: first.map(|h| h.frame_index).unwrap_or(0),
                pts_s: first.and_then(|h| h.pts_s),
                other_pts_s: first.and_then(|h| h.pts_s),
            })
        } else {
            let theirs = by_media.get(&r.media_id).map(Vec::as_slice).unwrap_or(&[]);
            mine.iter()
                .flat_map(|a| {
                    theirs
                        .iter()
                        .map(move |b| (hamming(a.phash, b.phash), a, b))
                })
                .min_by_key(|(d, a, b)| (*d, a.frame_index, b.frame_index))
                .filter(|(d, _, _)| *d <= opts.hamming_max)
                .map(|(d, a, b)| FrameMatch {
                    case_id: r.case_id,
                    title: r.title.clone(),
                    created_at: r.created_at.clone(),
                    distance: d,
                    same_file: false,
                    frame_index: a.frame_index,
                    other_frame_index: b.frame_index,
                    pts_s: a.pts_s,
                    other_pts_s: b.pts_s,
                })
        };
        out.frames.extend(m);
    }
    out.frames
        .sort_by_key(|m| (m.distance, !m.same_file, m.case_id));

    // Faces: within one profile and width; brute force or HNSW by the stored count.
    let faces = store.face_embeddings(Some(case_id), None)?;
    out.embedded_faces = faces.len();
    let refs_by_id: HashMap<i64, &crate::store::CaseRef> =
        refs.iter().map(|r| (r.case_id, r)).collect();
    let mut groups: Vec<(Option<String>, usize)> = faces
        .iter()
        .map(|f| (f.profile.clone(), f.clip.len()))
        .collect();
    groups.sort();
    groups.dedup();
    let mut best: HashMap<i64, (FaceMatch, std::collections::HashSet<i64>)> = HashMap::new();
    let mut searches = vec![];
    for (profile, dim) in groups {
        let mine: Vec<&crate::store::FaceEmbedding> = faces
            .iter()
            .filter(|f| f.profile == profile && f.clip.len() == dim)
            .collect();
        // Every face that counts (newest finished analysis of its case), without vectors.
        let refs_all: Vec<crate::store::FaceEmbedding> = store
            .face_embedding_refs(dim)?
            .into_iter()
            .filter(|f| f.profile == profile)
            .collect();
        let others = refs_all.iter().filter(|f| f.case_id != case_id).count();
        if others == 0 {
            continue;
        }
        // Brute force: position → stored face; HNSW: face id → stored face.
        let (index, stored): (FaceIndex, HashMap<usize, crate::store::FaceEmbedding>) =
            if others <= opts.brute_force_max {
                let stored: Vec<_> = store
                    .face_embeddings(None, Some(dim))?
                    .into_iter()
                    .filter(|f| f.case_id != case_id && f.profile == profile)
                    .collect();
                let index = FaceIndex::build(dim, stored.iter().map(|f| f.clip.clone()));
                searches.push(format!("{} over {} faces", index.method(), index.len()));
                (index, stored.into_iter().enumerate().collect())
            } else {
                let valid: std::collections::HashSet<i64> =
                    refs_all.iter().map(|f| f.face_id).collect();
                let (index, stats) = open_face_index(store, profile.as_deref(), dim, &valid)?;
                searches.push(format!(
                    "HNSW over {others} faces ({})",
                    match &stats.rebuilt {
                        None => format!("saved index, {} added", stats.inserted),
                        Some(_) => "index built from the store".to_string(),
                    }
                ));
                let stored = refs_all
                    .into_iter()
                    .filter(|f| f.case_id != case_id)
                    .map(|f| (f.face_id as usize, f))
                    .collect();
                (index, stored)
            };
        // This case's own faces (and stale points) are in the graph too: ask for that many more.
        let k = opts.neighbours
            + match index {
                FaceIndex::Brute { .. } => 0,
                FaceIndex::Hnsw { .. } => mine.len() + index.len().saturating_sub(stored.len()),
            }
            .min(opts.neighbours * 4 + 200);
        for f in mine {
            for hit in index.within(&f.clip, opts.cosine_min, k) {
                let Some(o) = stored.get(&hit.index) else {
                    continue;
                };
                let Some(r) = refs_by_id.get(&o.case_id) else {
                    continue;
                };
                let candidate = FaceMatch {
                    case_id: o.case_id,
                    title: r.title.clone(),
                    created_at: r.created_at.clone(),
                    cosine: hit.cosine,
                    face_id: f.face_id,
                    other_face_id: o.face_id,
                    frame_index: f.frame_index,
                    other_frame_index: o.frame_index,
                    other_has_crop: o.has_crop,
                    faces_matched: 0,
                    profile: profile.clone(),
                    untrained: f.untrained || o.untrained,
                };
                let e = best
                    .entry(o.case_id)
                    .or_insert_with(|| (candidate.clone(), Default::default()));
                e.1.insert(f.face_id);
                if candidate.cosine > e.0.cosine {
                    e.0 = candidate;
                }
            }
        }
    }
    if !searches.is_empty() {
        out.face_search = Some(searches.join("; "));
    }
    if faces.is_empty() {
        out.notes.push(
            "no face embeddings stored for this case (no face found, or not scored: faces are embedded by the detector)".into(),
        );
    }
    out.faces = best
        .into_values()
        .map(|(mut m, matched)| {
            m.faces_matched = matched.len();
            m
        })
        .collect();
    out.faces.sort_by(|a, b| {
        b.cosine
            .total_cmp(&a.cosine)
            .then(a.case_id.cmp(&b.case_id))
    });
    if out.faces.iter().any(|f| f.untrained) {
        out.notes.push(
            "some face matches come from an UNTRAINED profile (random weights): they say the pictures are alike, not that the person is the same, and are not shown as signals".into(),
        );
    }
    Ok(out)
}

/// Most signals of each kind (the rest is counted in one more line).
const MAX_SIGNALS: usize = 5;

fn day(created_at: &str) -> &str {
    created_at.get(..10).unwrap_or(created_at)
}

/// The verdict-context lines of a "seen before" answer (Notice level, each with its source).
pub fn signals(s: &Similar) -> Vec<Signal> {
    let mut out = vec![];
    for m in s.frames.iter().take(MAX_SIGNALS) {
        let how = if m.same_file {
            "same file".to_string()
        } else {
            format!("near-identical frame, Hamming {}", m.distance)
        };
        out.push(Signal {
            level: Level::Notice,
            text: format!(
                "seen in case #{} on {} ({how})",
                m.case_id,
                day(&m.created_at)
            ),
            source: "perceptual hash".into(),
        });
    }
    if s.frames.len() > MAX_SIGNALS {
        out.push(Signal {
            level: Level::Notice,
            text: format!(
                "and {} more case(s) with a near-identical frame",
                s.frames.len() - MAX_SIGNALS
            ),
            source: "perceptual hash".into(),
        });
    }
    let trained: Vec<&FaceMatch> = s.faces.iter().filter(|f| !f.untrained).collect();
    for m in trained.iter().take(MAX_SIGNALS) {
        out.push(Signal {
            level: Level::Notice,
            text: format!(
                "face seen in case #{} on {} (cosine {:.2})",
                m.case_id,
                day(&m.created_at),
                m.cosine
            ),
            source: "face embedding (CLIP)".into(),
        });
    }
    if trained.len() > MAX_SIGNALS {
        out.push(Signal {
            level: Level::Notice,
            text: format!(
                "and {} more case(s) with a similar face",
                trained.len() - MAX_SIGNALS
            ),
            source: "face embedding (CLIP)".into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(case_id: i64, distance: u32, same_file: bool) -> FrameMatch {
        FrameMatch {
            case_id,
            title: format!("case {case_id}"),
            created_at: "2026-11-02T10:00:00.000Z".into(),
            distance,
            same_file,
            frame_index: 0,
            other_frame_index: 3,
            pts_s: None,
            other_pts_s: None,
        }
    }

    fn face(case_id: i64, cosine: f32, untrained: bool) -> FaceMatch {
        FaceMatch {
            case_id,
            title: String::new(),
            created_at: "2026-11-03T00:00:00Z".into(),
            cosine,
            face_id: 1,
            other_face_id: 2,
            frame_index: 0,
            other_frame_index: 0,
            other_has_crop: true,
            faces_matched: 1,
            profile: None,
            untrained,
        }
    }

    #[test]
    fn signals_name_case_date_distance_and_source_and_skip_untrained_faces() {
        let mut s = Similar {
            case_id: 1,
            frames: vec![frame(12, 4, false), frame(7, 0, true)],
            faces: vec![face(9, 0.953, false), face(10, 0.99, true)],
            hamming_max: HAMMING_MAX,
            cosine_min: COSINE_MIN,
            hashed_frames: 1,
            embedded_faces: 1,
            face_search: None,
            notes: vec![],
        };
        let texts: Vec<(String, String)> = signals(&s)
            .into_iter()
            .map(|g| {
                assert_eq!(g.level, Level::Notice);
                (g.text, g.source)
            })
            .collect();
        assert_eq!(
            texts,
            vec![
                (
                    "seen in case #12 on 2026-11-02 (near-identical frame, Hamming 4)".into(),
                    "perceptual hash".into()
                ),
                (
                    "seen in case #7 on 2026-11-02 (same file)".into(),
                    "perceptual hash".into()
                ),
                (
                    "face seen in case #9 on 2026-11-03 (cosine 0.95)".into(),
                    "face embedding (CLIP)".into()
                ),
            ]
        );
        s.frames = (0..8).map(|i| frame(i, 1, false)).collect();
        let g = signals(&s);
        assert_eq!(g.len(), MAX_SIGNALS + 1 + 1);
        assert_eq!(
            g[MAX_SIGNALS].text,
            "and 3 more case(s) with a near-identical frame"
        );
    }
}
