//! The persisted HNSW face index: one per (profile, width) under `<data dir>/index/`, so a
//! query above the brute-force threshold does not rebuild the graph from the store.
//!
//! Files (owner-only): `<key>.json` (the commit point: format, profile, width, the highest face
//! id in the graph, the point count, the graph's basename and both files' sizes) and
//! `<basename>.hnsw.graph` / `.hnsw.data` (hnsw_rs' dump). A query loads the graph, inserts the
//! faces that count (each case's newest finished analysis) and are not in it yet, and saves a
//! new generation: new
//! files under a fresh basename, then the `.json` written to a temporary name and renamed over,
//! then the old generation removed. Anything unreadable (missing, truncated, sizes that differ,
//! a load that fails or panics, a count or width that differs) is logged and rebuilt from the
//! store: the cache never fails a search. Faces deleted from the store stay in the graph as
//! stale points (the caller drops hits that no longer count); more than a quarter stale, or a
//! store whose highest face id is below the recorded one (ids may then be reused), rebuilds.
use super::index::{insert_all, new_graph, normalized, FaceIndex, Graph, UnitCosine};
use crate::store::Store;
use crate::Result;
use hnsw_rs::prelude::{AnnT, HnswIo};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const FORMAT: u32 = 1;

/// What opening a persisted index did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IndexStats {
    /// The saved graph was read from disk.
    pub loaded: bool,
    /// Embeddings inserted into it by this query (all of them after a rebuild).
    pub inserted: usize,
    /// Why the graph was built from the store instead of loaded (`None`: loaded).
    pub rebuilt: Option<String>,
    /// The graph was written back (new generation).
    pub saved: bool,
    /// Points in the graph.
    pub points: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Meta {
    format: u32,
    profile: Option<String>,
    dim: usize,
    max_face_id: i64,
    points: usize,
    basename: String,
    graph_bytes: u64,
    data_bytes: u64,
}

/// `<data dir>/index`.
pub fn index_dir(store: &Store) -> PathBuf {
    store.data_dir().join("index")
}

/// File-name key of a (profile, width): a readable part and a hash of the exact name.
pub fn index_key(profile: Option<&str>, dim: usize) -> String {
    let name = profile.unwrap_or("(none)");
    let readable: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    // FNV-1a: stable across builds (unlike std's hasher).
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes().chain([profile.is_some() as u8]) {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("faces-{dim}-{readable}-{h:016x}")
}

fn file(dir: &Path, basename: &str, ext: &str) -> PathBuf {
    dir.join(format!("{basename}.hnsw.{ext}"))
}

/// Reads the saved graph, or says why it cannot be used.
fn load(
    dir: &Path,
    key: &str,
    profile: Option<&str>,
    dim: usize,
) -> std::result::Result<(Meta, Graph), String> {
    let meta_path = dir.join(format!("{key}.json"));
    let bytes = match std::fs::read(&meta_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("no saved index".into()),
        Err(e) => return Err(format!("{}: {e}", meta_path.display())),
    };
    let meta: Meta = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is unreadable: {e}", meta_path.display()))?;
    if meta.format != FORMAT || meta.dim != dim || meta.profile.as_deref() != profile {
        return Err(format!(
            "{} is for another format, width or profile",
            meta_path.display()
        ));
    }
    for (ext, want) in [("graph", meta.graph_bytes), ("data", meta.data_bytes)] {
        let p = file(dir, &meta.basename, ext);
        let len = std::fs::metadata(&p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .len();
        if len != want {
            return Err(format!(
                "{} has {len} bytes, {want} were saved (truncated or replaced)",
                p.display()
            ));
        }
    }
    // hnsw_rs' loader asserts on malformed input: a panic here is a corrupt file, not a bug of
    // the search. The loaded graph borrows its HnswIo (a few hundred bytes, no mmap): leaked
    // so the graph can outlive this call.
    let dir2 = dir.to_path_buf();
    let base = meta.basename.clone();
    let loaded = std::panic::catch_unwind(move || {
        let io: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(&dir2, &base)));
        io.load_hnsw::<f32, UnitCosine>()
    });
    let mut graph: Graph = match loaded {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return Err(format!("{}: {e}", meta.basename)),
        Err(p) => {
            return Err(format!(
                "{}: {}",
                meta.basename,
                crate::failover::panic_text(&p)
            ))
        }
    };
    if graph.get_nb_point() != meta.points {
        return Err(format!(
            "{} holds {} points, {} were saved",
            meta.basename,
            graph.get_nb_point(),
            meta.points
        ));
    }
    graph.set_searching_mode(false);
    Ok((meta, graph))
}

/// Writes a new generation and commits it by renaming the `.json` over; then removes the
/// previous generation's files.
fn save(
    dir: &Path,
    key: &str,
    graph: &Graph,
    mut meta: Meta,
    old: Option<&str>,
) -> std::io::Result<()> {
    crate::fsutil::private_dir(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let wanted = format!("{key}-{nanos:x}-{}", std::process::id());
    let basename = graph
        .file_dump(dir, &wanted)
        .map_err(|e| std::io::Error::other(format!("{e:#}")))?;
    let (g, d) = (file(dir, &basename, "graph"), file(dir, &basename, "data"));
    crate::fsutil::private_file(&g)?;
    crate::fsutil::private_file(&d)?;
    meta.graph_bytes = std::fs::metadata(&g)?.len();
    meta.data_bytes = std::fs::metadata(&d)?.len();
    meta.basename = basename.clone();
    let tmp = dir.join(format!("{key}.json.tmp-{}", std::process::id()));
    {
        use std::io::Write;
        let mut f = crate::fsutil::create_private(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(format!("{key}.json")))?;
    if let Some(old) = old.filter(|o| *o != basename) {
        for ext in ["graph", "data"] {
            let _ = std::fs::remove_file(file(dir, old, ext));
        }
    }
    Ok(())
}

/// The persisted HNSW index of one profile and width, brought up to date with the store (new
/// embeddings inserted, saved again), or rebuilt from the store when the saved one cannot be
/// used. Hit ids are face ids. `valid`: the face ids of this profile and width that count now;
/// graph points outside it are stale (the caller skips their hits).
pub fn open(
    store: &Store,
    profile: Option<&str>,
    dim: usize,
    valid: &std::collections::HashSet<i64>,
) -> Result<(FaceIndex, IndexStats)> {
    open_inner(store, profile, dim, valid, true)
}

fn open_inner(
    store: &Store,
    profile: Option<&str>,
    dim: usize,
    valid: &std::collections::HashSet<i64>,
    may_rebuild_stale: bool,
) -> Result<(FaceIndex, IndexStats)> {
    let dir = index_dir(store);
    let key = index_key(profile, dim);
    let mut stats = IndexStats::default();
    let store_max = store.max_face_id()?;
    let loaded = match load(&dir, &key, profile, dim) {
        Ok((meta, _)) if meta.max_face_id > store_max => Err(format!(
            "the store's highest face id ({store_max}) is below the index's ({}): faces were deleted",
            meta.max_face_id
        )),
        other => other,
    };
    let (graph, meta, old) = match loaded {
        Ok((meta, graph)) => {
            stats.loaded = true;
            let old = meta.basename.clone();
            (graph, meta, Some(old))
        }
        Err(why) => {
            if why != "no saved index" {
                tracing::warn!("face index {key}: rebuilt from the store ({why})");
            }
            stats.rebuilt = Some(why);
            let meta = Meta {
                format: FORMAT,
                profile: profile.map(str::to_string),
                dim,
                max_face_id: 0,
                points: 0,
                basename: String::new(),
                graph_bytes: 0,
                data_bytes: 0,
            };
            (new_graph(valid.len()), meta, None)
        }
    };
    let mut meta = meta;
    // The faces that count and are not in the graph yet (analyses finish in any order, so a
    // face id watermark alone would miss a long analysis' faces).
    // (hnsw_rs' point iterator panics on an empty graph.)
    let present: std::collections::HashSet<i64> = if graph.get_nb_point() == 0 {
        Default::default()
    } else {
        graph
            .get_point_indexation()
            .into_iter()
            .map(|p| p.get_origin_id() as i64)
            .collect()
    };
    let mut missing: Vec<i64> = valid
        .iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect();
    missing.sort_unstable();
    let stale = present.iter().filter(|id| !valid.contains(id)).count();
    drop(present);
    if !missing.is_empty() {
        let rows: Vec<(i64, Vec<f32>)> = if stats.loaded {
            let mut rows = Vec::with_capacity(missing.len());
            for id in &missing {
                if let Some((clip, _)) = store.embeddings(*id)? {
                    if clip.len() == dim {
                        rows.push((*id, normalized(&clip)));
                    }
                }
            }
            rows
        } else {
            store
                .face_embeddings(None, Some(dim))?
                .into_iter()
                .filter(|f| f.profile.as_deref() == profile && valid.contains(&f.face_id))
                .map(|f| (f.face_id, normalized(&f.clip)))
                .collect()
        };
        let refs: Vec<(&[f32], usize)> = rows
            .iter()
            .map(|(id, v)| (v.as_slice(), *id as usize))
            .collect();
        insert_all(&graph, &refs);
        stats.inserted = rows.len();
        meta.max_face_id = meta
            .max_face_id
            .max(rows.iter().map(|r| r.0).max().unwrap_or(0));
    }
    meta.points = graph.get_nb_point();
    stats.points = meta.points;
    if may_rebuild_stale && stats.loaded && stale * 4 > meta.points.max(1) {
        let why = format!("{stale} of {} points no longer stored", meta.points);
        tracing::info!("face index {key}: rebuilt from the store ({why})");
        // Drop the saved one so the rebuild starts from nothing.
        let _ = std::fs::remove_file(dir.join(format!("{key}.json")));
        let (index, mut s) = open_inner(store, profile, dim, valid, false)?;
        s.rebuilt = Some(why);
        return Ok((index, s));
    }
    if stats.inserted > 0 || !stats.loaded {
        match save(&dir, &key, &graph, meta, old.as_deref()) {
            Ok(()) => stats.saved = true,
            Err(e) => tracing::warn!(
                "face index {key}: could not be saved in {} ({e}); the search goes on",
                dir.display()
            ),
        }
    }
    Ok((FaceIndex::Hnsw { dim, graph }, stats))
}
