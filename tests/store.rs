//! Store behaviour an analyst relies on: import is content-addressed, reviews become labels,
//! the audit log cannot be edited, interrupted analyses are recovered — on both back-ends: each
//! suite function runs against SQLite and against a throwaway PostgreSQL server this test starts
//! (`common::pg`, one database per test).
mod common;
use verity::store::db::{params, Exec};
use verity::store::*;

use common::pg::{both, Opener};

/// A fresh PostgreSQL database on a server started for this test (None: SKIP printed).
fn postgres_store(name: &str) -> Option<(common::pg::Pg, String)> {
    let pg = common::pg::Pg::start()?;
    let url = pg.database(name);
    Some((pg, url))
}

#[test]
fn import_is_content_addressed_and_reimport_finds_the_case() {
    both("import", import_suite);
}

fn import_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir.path().join("data"));
    assert_eq!(s.schema_version().unwrap(), verity::store::SCHEMA_VERSION);
    assert_eq!(
        verity::store::SCHEMA_VERSION,
        11,
        "a new migration: update this and the migration tests"
    );
    let a = dir.path().join("a.png");
    std::fs::write(&a, b"pretend image bytes").unwrap();
    let first = s.import(&common::image_media(&a, 4), "tester").unwrap();
    assert!(!first.existing);
    // Same bytes under another name: same case.
    let b = dir.path().join("copy.png");
    std::fs::copy(&a, &b).unwrap();
    let again = s.import(&common::image_media(&b, 4), "tester").unwrap();
    assert!(again.existing);
    assert_eq!(again.case_id, first.case_id);
    // The blob is a copy: deleting the original loses nothing.
    std::fs::remove_file(&a).unwrap();
    let m = s.media_of_case(first.case_id).unwrap();
    assert_eq!(
        std::fs::read(s.blobs.path(&m.blob)).unwrap(),
        b"pretend image bytes"
    );
    assert_eq!(m.sha256, first.sha256);
    assert_eq!(m.original_name, "a.png");
    // Different bytes: a new case.
    std::fs::write(&a, b"other").unwrap();
    let other = s.import(&common::image_media(&a, 4), "tester").unwrap();
    assert_ne!(other.case_id, first.case_id);
    assert_eq!(s.list_cases(&CaseFilter::default()).unwrap().len(), 2);
    s.integrity_check().unwrap();
}

#[test]
fn analysis_lifecycle_reviews_labels_and_audit() {
    both("lifecycle", lifecycle_suite);
}

fn lifecycle_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let f = dir.path().join("x.jpg");
    std::fs::write(&f, b"x").unwrap();
    let imp = s.import(&common::image_media(&f, 4), "ana").unwrap();
    let aid = s.begin_analysis(imp.case_id, "{}", "ana").unwrap();
    assert_eq!(s.case(imp.case_id).unwrap().status, "running");
    let frames = vec![FrameRow {
        idx: 0,
        source_index: 0,
        pts_s: 0.0,
        keyframe: true,
        motion: 0.0,
        width: 4,
        height: 4,
    }];
    let faces = vec![FaceRow {
        id: 0,
        frame_idx: 0,
        track_id: 1,
        bbox: [0.0, 0.0, 2.0, 2.0],
        det_prob: 0.99,
        landmarks: [[0.5, 0.5]; 5],
        crop: None,
        native_crop: None,
        full_frame: false,
        score: None,
    }];
    let ids = s.add_frames(aid, &frames, &faces).unwrap();
    assert_eq!(ids.len(), 1);
    let out = Outcome {
        status: "done".into(),
        score: Some(0.5),
        band: Some("review".into()),
        profile: Some("p".into()),
        weight_hashes: vec![("w.safetensors".into(), "ab".into())],
        untrained: true,
        message: None,
        scores: vec![
            ScoreRow {
                level: "face".into(),
                face_id: Some(ids[0]),
                frame_idx: Some(0),
                track_id: Some(1),
                score: 0.5,
            },
            ScoreRow {
                level: "media".into(),
                face_id: None,
                frame_idx: None,
                track_id: None,
                score: 0.5,
            },
        ],
    };
    s.finish_analysis(aid, &out, "ana").unwrap();
    let d = s.case_detail(imp.case_id).unwrap();
    assert_eq!(d.case.band.as_deref(), Some("review"));
    assert!(d.case.untrained);
    assert_eq!(d.faces[0].score, Some(0.5));
    assert_eq!(d.scores.len(), 2);
    assert_eq!(
        s.list_cases(&CaseFilter {
            band: Some("review".into()),
            ..Default::default()
        })
        .unwrap()
        .len(),
        1
    );
    assert_eq!(
        s.list_cases(&CaseFilter {
            band: Some("fake".into()),
            ..Default::default()
        })
        .unwrap()
        .len(),
        0
    );
    assert!(s
        .list_cases(&CaseFilter {
            band: Some("bogus".into()),
            ..Default::default()
        })
        .is_err());

    // Review without analyst name is refused; with one it is a review, a label and an audit entry.
    assert!(s.add_review(imp.case_id, Verdict::Fake, " ", "").is_err());
    s.add_review(imp.case_id, Verdict::Fake, "Ada", "lip sync off")
        .unwrap();
    s.add_review(imp.case_id, Verdict::Unsure, "Bob", "")
        .unwrap();
    let labels: i64 = s
        .db()
        .query_row(
            "SELECT COUNT(*) FROM labels WHERE case_id = ?1 AND label = 1",
            params![imp.case_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(labels, 1, "only fake/real decisions become labels");
    let log = s.audit_log(Some(imp.case_id)).unwrap();
    let actions: Vec<&str> = log.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "import",
            "analysis_start",
            "analysis_end",
            "review",
            "review"
        ]
    );
    assert_eq!(log[3].actor, "Ada");

    // Explanations belong to the latest analysis and are audited.
    s.add_explanation(
        &NewExplanation {
            case_id: imp.case_id,
            analysis_id: aid,
            face_id: Some(ids[0]),
            frame_idx: Some(0),
            kind: "noise".into(),
            space: "crop".into(),
            blob: Some("derived/x.png".into()),
            summary: "high-pass residual".into(),
            data: serde_json::json!({"k": 1}),
        },
        "Ada",
    )
    .unwrap();
    let ex = s.explanations(imp.case_id).unwrap();
    assert_eq!(
        (ex.len(), ex[0].kind.as_str(), ex[0].data["k"].as_i64()),
        (1, "noise", Some(1))
    );
    assert_eq!(
        s.audit_log(Some(imp.case_id))
            .unwrap()
            .last()
            .unwrap()
            .action,
        "explain"
    );
    let a2 = s.begin_analysis(imp.case_id, "{}", "ana").unwrap();
    assert!(
        s.explanations(imp.case_id).unwrap().is_empty(),
        "a re-run starts without stale explanations"
    );
    s.finish_analysis(a2, &out, "ana").unwrap();

    // Append-only: the database refuses edits and deletions of the audit log.
    let e = s
        .db()
        .execute("UPDATE audit SET actor = 'mallory'", params![])
        .unwrap_err();
    assert!(format!("{e:?}").contains("append-only"), "{e:?}");
    assert!(s.db().execute("DELETE FROM audit", params![]).is_err());
    let e = s
        .db()
        .execute("UPDATE reviews SET verdict = 'real'", params![])
        .unwrap_err();
    assert!(format!("{e:?}").contains("append-only"), "{e:?}");
    assert_eq!(s.audit_log(Some(imp.case_id)).unwrap().len(), 8);
    s.integrity_check().unwrap();
}

#[test]
fn undo_tags_notes_search_provenance_tokens_and_embeddings() {
    both("comforts", comforts_suite);
}

fn comforts_suite(open: Opener) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(dir.path());
    let mut cases = vec![];
    for (i, name) in ["alpha.png", "beta.png"].iter().enumerate() {
        let f = dir.path().join(name);
        std::fs::write(&f, format!("bytes {i}")).unwrap();
        cases.push(s.import(&common::image_media(&f, 4), "ana").unwrap());
    }
    let c = cases[0].case_id;
    // Decisions, undo, labels.
    s.add_review(c, Verdict::Real, "Ada", "").unwrap();
    s.add_review(c, Verdict::Fake, "Ada", "").unwrap();
    assert!(
        s.undo_review(c, "Bob").is_err(),
        "only the analyst who decided can undo"
    );
    let u = s.undo_review(c, "Ada").unwrap();
    assert_eq!(u.current.as_ref().map(|r| r.verdict.as_str()), Some("real"));
    assert_eq!(s.current_decision(c).unwrap().unwrap().verdict, "real");
    assert!(s.reviews(c).unwrap().iter().any(|r| r.retracted));
    // Tags (letter case ignored), note, filters and search.
    s.set_case_tags(c, &["Election", "urgent"], "Ada").unwrap();
    s.set_case_tags(cases[1].case_id, &["election"], "Ada")
        .unwrap();
    s.set_case_note(c, "caller 100% sure_ish", "Ada").unwrap();
    let tags = s.all_tags().unwrap();
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert_eq!(
        (tags[0].tag.to_lowercase().as_str(), tags[0].cases),
        ("election", 2)
    );
    let by_tag = |t: &str| {
        s.list_cases(&CaseFilter {
            tag: Some(t.into()),
            ..Default::default()
        })
        .unwrap()
        .len()
    };
    assert_eq!(
        (by_tag("ELECTION"), by_tag("urgent"), by_tag("none")),
        (2, 1, 0)
    );
    let search = |q: &str| {
        s.list_cases(&CaseFilter {
            search: Some(q.into()),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(search("ALPHA"), vec![c], "file names match ignoring case");
    assert_eq!(search("100%"), vec![c], "a % in the query is literal");
    assert_eq!(search("0%_"), Vec::<i64>::new());
    assert_eq!(search("URGENT"), vec![c]);
    assert_eq!(s.counts().unwrap().get("pending"), Some(&2));
    // Perceptual hashes keep the full 64-bit pattern.
    let m = s.media_of_case(c).unwrap().id;
    s.set_media_hashes(m, &[(0, None, u64::MAX - 5), (3, Some(1.5), 7)])
        .unwrap();
    let h = s.media_hashes(Some(m)).unwrap();
    assert_eq!(
        (h.len(), h[0].phash, h[1].pts_s),
        (2, u64::MAX - 5, Some(1.5))
    );
    assert_eq!(s.media_hashes(None).unwrap().len(), 2);
    assert_eq!(s.case_refs().unwrap().len(), 2);
    // Embeddings of the newest done analysis, by width.
    let aid = s.begin_analysis(c, "{}", "ana").unwrap();
    let ids = s
        .add_frames(
            aid,
            &[FrameRow {
                idx: 0,
                source_index: 0,
                pts_s: 0.0,
                keyframe: true,
                motion: 0.25,
                width: 8,
                height: 8,
            }],
            &[FaceRow {
                id: 0,
                frame_idx: 0,
                track_id: 0,
                bbox: [1.0, 1.0, 5.0, 5.0],
                det_prob: 0.9,
                landmarks: [[2.0, 2.0]; 5],
                crop: Some("derived/c.png".into()),
                native_crop: None,
                full_frame: false,
                score: None,
            }],
        )
        .unwrap();
    let v = [0.25f32, -1.0, 3.5];
    s.add_embeddings(&[(ids[0], &v, None)]).unwrap();
    s.add_embeddings(&[(ids[0], &v, Some(&v[..2]))]).unwrap();
    assert_eq!(
        s.embeddings(ids[0]).unwrap(),
        Some((v.to_vec(), Some(v[..2].to_vec())))
    );
    let mut out = Outcome {
        status: "done".into(),
        score: None,
        band: None,
        profile: Some("p".into()),
        weight_hashes: vec![],
        untrained: false,
        message: None,
        scores: vec![],
    };
    out.score = Some(0.9);
    out.band = Some("fake".into());
    s.finish_analysis(aid, &out, "ana").unwrap();
    let e = s.face_embeddings(None, Some(3)).unwrap();
    assert_eq!(
        (e.len(), e[0].clip.clone(), e[0].has_crop),
        (1, v.to_vec(), true)
    );
    assert!(s.face_embeddings(Some(c), Some(4)).unwrap().is_empty());
    assert!(s.face_embedding_refs(3).unwrap()[0].clip.is_empty());
    assert_eq!(
        s.face_display_crop(c, ids[0]).unwrap().as_deref(),
        Some("derived/c.png")
    );
    assert_eq!(s.labelled_cases().unwrap().len(), 1);
    assert_eq!(s.labelled_cases().unwrap()[0].faces.len(), 1);
    // API tokens: hashed, revocable, audited.
    let (tid, secret) = s.add_token("Ada", "admin").unwrap();
    assert_eq!(s.token_owner(&secret).unwrap().unwrap().analyst, "Ada");
    assert!(s.revoke_token(tid, "admin").unwrap());
    assert!(s.token_owner(&secret).unwrap().is_none());
    assert_eq!(s.tokens().unwrap().len(), 1);
    s.integrity_check().unwrap();
}

#[test]
fn analyses_of_dead_processes_become_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let case_id;
    {
        let mut s = Store::open(dir.path()).unwrap();
        let f = dir.path().join("v.mp4");
        std::fs::write(&f, b"v").unwrap();
        case_id = s.import(&common::image_media(&f, 4), "t").unwrap().case_id;
        let aid = s.begin_analysis(case_id, "{}", "t").unwrap();
        // Pretend another process (long gone) owned it.
        s.conn()
            .execute("UPDATE analyses SET pid = 999999999 WHERE id = ?1", [aid])
            .unwrap();
    }
    let s = Store::open(dir.path()).unwrap();
    let c = s.case(case_id).unwrap();
    assert_eq!(c.status, "interrupted");
    assert!(c.message.unwrap().contains("Re-run"));
    assert_eq!(
        s.list_cases(&CaseFilter {
            band: Some("interrupted".into()),
            ..Default::default()
        })
        .unwrap()
        .len(),
        1
    );
}

#[test]
fn postgres_schema_newer_than_the_build_is_refused() {
    let Some((_pg, url)) = postgres_store("newer") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open_postgres(&url, dir.path()).unwrap();
        s.db()
            .execute("UPDATE schema_meta SET version = 99", params![])
            .unwrap();
    }
    let e = Store::open_postgres(&url, dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("newer Verity Desk"), "{e}");
}

#[test]
fn unreachable_postgres_is_a_clear_error_naming_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "postgresql:///x?host={}&user=verity&connect_timeout=1",
        dir.path().join("nowhere").display()
    );
    let t = std::time::Instant::now();
    let e = match verity::store::db::PgConn::connect_within(
        &url,
        std::time::Duration::from_millis(300),
    ) {
        Ok(_) => panic!("connected to nothing"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("cannot connect to the PostgreSQL store"), "{e}");
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.conn().pragma_update(None, "user_version", 99).unwrap();
    }
    let e = Store::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("newer Verity Desk"), "{e}");
}
