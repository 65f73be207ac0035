//! Store behaviour an analyst relies on: import is content-addressed, reviews become labels,
//! the audit log cannot be edited, interrupted analyses are recovered.
use verity::store::*;

fn media(path: &std::path::Path) -> NewMedia {
    NewMedia {
        original_path: path.to_path_buf(),
        kind: "image".into(),
        size_bytes: std::fs::metadata(path).unwrap().len(),
        width: Some(4),
        height: Some(4),
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    }
}

#[test]
fn import_is_content_addressed_and_reimport_finds_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("data")).unwrap();
    assert_eq!(s.schema_version().unwrap(), verity::store::SCHEMA_VERSION);
    assert_eq!(verity::store::SCHEMA_VERSION, 10, "a new migration: update this and the migration tests");
    let a = dir.path().join("a.png");
    std::fs::write(&a, b"pretend image bytes").unwrap();
    let first = s.import(&media(&a), "tester").unwrap();
    assert!(!first.existing);
    // Same bytes under another name: same case.
    let b = dir.path().join("copy.png");
    std::fs::copy(&a, &b).unwrap();
    let again = s.import(&media(&b), "tester").unwrap();
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
    let other = s.import(&media(&a), "tester").unwrap();
    assert_ne!(other.case_id, first.case_id);
    assert_eq!(s.list_cases(&CaseFilter::default()).unwrap().len(), 2);
    s.integrity_check().unwrap();
}

#[test]
fn analysis_lifecycle_reviews_labels_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path()).unwrap();
    let f = dir.path().join("x.jpg");
    std::fs::write(&f, b"x").unwrap();
    let imp = s.import(&media(&f), "ana").unwrap();
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
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM labels WHERE case_id = ?1 AND label = 1",
            [imp.case_id],
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
        .conn()
        .execute("UPDATE audit SET actor = 'mallory'", [])
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(s.conn().execute("DELETE FROM audit", []).is_err());
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
        case_id = s.import(&media(&f), "t").unwrap().case_id;
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
fn newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = Store::open(dir.path()).unwrap();
        s.conn().pragma_update(None, "user_version", 99).unwrap();
    }
    let e = Store::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("newer Verity Desk"), "{e}");
}
