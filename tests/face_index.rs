//! The persisted HNSW face index of "seen before" (`provenance::similar`), exercised on a few
//! hundred stored embeddings with the brute-force threshold lowered: same best matches as brute
//! force, a saved index reused by the next query, faces added later inserted incrementally, a
//! truncated index file rebuilt.
use verity::provenance::similar::{self, Options};
use verity::store::*;

const DIM: usize = 32;

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
    fn vec(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.f()).collect()
    }
}

/// A case with one finished analysis (profile "p") whose faces carry `vectors`.
fn add_case(
    s: &mut Store,
    dir: &std::path::Path,
    n: usize,
    vectors: &[Vec<f32>],
) -> (i64, Vec<i64>) {
    let f = dir.join(format!("m{n}.png"));
    std::fs::write(&f, format!("media {n}")).unwrap();
    let imp = s
        .import(
            &NewMedia {
                original_path: f.clone(),
                kind: "image".into(),
                size_bytes: std::fs::metadata(&f).unwrap().len(),
                width: Some(4),
                height: Some(4),
                duration_s: None,
                fps: None,
                codec: None,
                container: None,
            },
            "t",
        )
        .unwrap();
    let aid = s.begin_analysis(imp.case_id, "{}", "t").unwrap();
    let frames = vec![FrameRow {
        idx: 0,
        source_index: 0,
        pts_s: 0.0,
        keyframe: true,
        motion: 0.0,
        width: 4,
        height: 4,
    }];
    let faces: Vec<FaceRow> = (0..vectors.len())
        .map(|i| FaceRow {
            id: 0,
            frame_idx: 0,
            track_id: i as i64,
            bbox: [0.0, 0.0, 2.0, 2.0],
            det_prob: 0.99,
            landmarks: [[0.5, 0.5]; 5],
            crop: None,
            native_crop: None,
            full_frame: false,
            score: None,
        })
        .collect();
    let ids = s.add_frames(aid, &frames, &faces).unwrap();
    let rows: Vec<EmbeddingRow> = ids
        .iter()
        .zip(vectors)
        .map(|(id, v)| (*id, v.as_slice(), None))
        .collect();
    s.add_embeddings(&rows).unwrap();
    s.finish_analysis(
        aid,
        &Outcome {
            status: "done".into(),
            score: Some(0.5),
            band: Some("review".into()),
            profile: Some("p".into()),
            weight_hashes: vec![],
            untrained: false,
            message: None,
            scores: vec![],
        },
        "t",
    )
    .unwrap();
    (imp.case_id, ids)
}

/// (case, face, other face, cosine) of each face match, for comparison across search methods.
fn matches(s: &Store, case: i64, opts: &Options) -> (Vec<(i64, i64, i64, i32)>, String) {
    let f = similar::find(s, case, opts).unwrap();
    (
        f.faces
            .iter()
            .map(|m| {
                (
                    m.case_id,
                    m.face_id,
                    m.other_face_id,
                    (m.cosine * 1e4).round() as i32,
                )
            })
            .collect(),
        f.face_search.unwrap_or_default(),
    )
}

fn files(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn hnsw_index_is_persisted_reused_grown_and_rebuilt_when_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("data")).unwrap();
    let mut rng = Rng(7);
    // 60 cases × 5 faces; case 1's faces are noisy copies of faces in cases 10, 20 and 30.
    let mut bases = vec![];
    let mut cases = vec![];
    for n in 0..60 {
        let v: Vec<Vec<f32>> = (0..5).map(|_| rng.vec()).collect();
        bases.push(v.clone());
        cases.push(add_case(&mut s, dir.path(), n, &v).0);
    }
    let near =
        |rng: &mut Rng, v: &[f32]| -> Vec<f32> { v.iter().map(|x| x + 0.02 * rng.f()).collect() };
    let probe: Vec<Vec<f32>> = vec![
        near(&mut rng, &bases[10][0]),
        near(&mut rng, &bases[20][3]),
        near(&mut rng, &bases[30][4]),
    ];
    let (probe_case, _) = add_case(&mut s, dir.path(), 100, &probe);

    let brute = Options {
        cosine_min: 0.9,
        ..Default::default()
    };
    let graph = Options {
        brute_force_max: 10,
        ..brute
    };
    let (want, how) = matches(&s, probe_case, &brute);
    assert!(how.starts_with("brute force over 300 faces"), "{how}");
    assert_eq!(
        want.iter().map(|m| m.0).collect::<Vec<_>>().len(),
        3,
        "{want:?}"
    );
    let index_dir = similar::index_dir(&s);
    assert!(!index_dir.exists(), "brute force writes no index");

    // HNSW: built from the store on the first query, saved, same matches as brute force.
    let (got, how) = matches(&s, probe_case, &graph);
    assert_eq!(got, want);
    assert!(
        how.contains("HNSW over 300 faces (index built from the store)"),
        "{how}"
    );
    let saved = files(&index_dir);
    assert_eq!(saved.len(), 3, "{saved:?}");
    #[cfg(unix)]
    for (name, _, _) in &saved {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(index_dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }

    // Second query: the saved graph is read, nothing inserted or written.
    let valid: std::collections::HashSet<i64> = s
        .face_embedding_refs(DIM)
        .unwrap()
        .iter()
        .map(|f| f.face_id)
        .collect();
    let (_, stats) = similar::open_face_index(&s, Some("p"), DIM, &valid).unwrap();
    assert_eq!(
        stats,
        similar::IndexStats {
            loaded: true,
            inserted: 0,
            rebuilt: None,
            saved: false,
            points: 303
        }
    );
    let (got, how) = matches(&s, probe_case, &graph);
    assert_eq!(got, want);
    assert!(how.contains("(saved index, 0 added)"), "{how}");
    assert_eq!(files(&index_dir), saved, "the index files are unchanged");

    // A case added after: inserted into the saved graph, found.
    let late = vec![near(&mut rng, &probe[1])];
    let (late_case, _) = add_case(&mut s, dir.path(), 200, &late);
    let (got, how) = matches(&s, probe_case, &graph);
    assert!(how.contains("(saved index, 1 added)"), "{how}");
    assert!(got.iter().any(|m| m.0 == late_case), "{got:?}");
    let (want2, _) = matches(&s, probe_case, &brute);
    assert_eq!(got, want2);
    let saved2 = files(&index_dir);
    assert_eq!(saved2.len(), 3, "the old generation is removed: {saved2:?}");
    assert_ne!(saved2, saved);

    // A truncated graph file: rebuilt from the store, results still right.
    let (data, _, _) = saved2.iter().find(|f| f.0.ends_with(".hnsw.data")).unwrap();
    let p = index_dir.join(data);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let (got, how) = matches(&s, probe_case, &graph);
    assert!(how.contains("(index built from the store)"), "{how}");
    assert_eq!(got, want2);
    // An unreadable description: rebuilt again.
    let saved3 = files(&index_dir);
    let (meta_file, _, _) = saved3.iter().find(|f| f.0.ends_with(".json")).unwrap();
    std::fs::write(index_dir.join(meta_file), b"{ not json").unwrap();
    let (got, how) = matches(&s, probe_case, &graph);
    assert!(how.contains("(index built from the store)"), "{how}");
    assert_eq!(got, want2);
    let _ = cases;
}
