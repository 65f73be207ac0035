//! Review comforts in the store (schema v8): undo of the last decision as an append-only
//! retraction, case tags and the case note (normalised, limited, audited, searchable,
//! filterable, shown as text in the report), and the v7 → v8 migration keeping what was stored.
mod common;
use verity::store::*;

/// A store with `n` imported cases (distinct bytes, files `case<i>.png`); returns their ids.
fn store_with_cases(dir: &std::path::Path, n: usize) -> (Store, Vec<i64>) {
    let mut s = Store::open(&dir.join("data")).unwrap();
    let ids = (0..n)
        .map(|i| {
            let p = dir.join(format!("case{i}.png"));
            std::fs::write(&p, format!("pretend image {i}")).unwrap();
            s.import(&common::image_media(&p, 4), "tester")
                .unwrap()
                .case_id
        })
        .collect();
    (s, ids)
}

fn actions(s: &Store, case: i64) -> Vec<String> {
    s.audit_log(Some(case))
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect()
}

fn label_of(s: &Store, case: i64) -> Option<bool> {
    s.labelled_cases()
        .unwrap()
        .into_iter()
        .find(|l| l.case_id == case)
        .map(|l| l.fake)
}

#[test]
fn undo_appends_a_retraction_keeps_every_row_and_restores_the_previous_decision() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, ids) = store_with_cases(dir.path(), 1);
    let case = ids[0];
    assert!(s.undo_review(case, "Ada").is_err(), "nothing to undo yet");
    let first = s.add_review(case, Verdict::Fake, "Ada", "seam").unwrap();
    let second = s
        .add_review(case, Verdict::Real, "Ada", "misclick")
        .unwrap();
    assert_eq!(s.current_decision(case).unwrap().unwrap().id, second);
    assert_eq!(label_of(&s, case), Some(false));
    let before: Vec<ReviewRow> = s.reviews(case).unwrap();

    // Someone else cannot withdraw Ada's decision; nothing is written.
    let e = s.undo_review(case, "Bob").unwrap_err().to_string();
    assert!(e.contains("made by Ada"), "{e}");
    assert!(s.undo_review(case, "  ").is_err(), "no analyst name");
    assert_eq!(s.reviews(case).unwrap().len(), 2);

    let undo = s.undo_review(case, " Ada ").unwrap();
    assert_eq!(undo.retracted.id, second);
    assert_eq!(undo.retracted.verdict, "real");
    assert_eq!(undo.current.as_ref().map(|r| r.id), Some(first));
    let rows = s.reviews(case).unwrap();
    assert_eq!(rows.len(), 3, "both decisions and the retraction stay");
    // The earlier rows are exactly as they were (only their `retracted` flag is derived).
    for (old, new) in before.iter().zip(&rows) {
        assert_eq!(
            (&old.verdict, &old.analyst, &old.note, &old.created_at),
            (&new.verdict, &new.analyst, &new.note, &new.created_at)
        );
    }
    assert!(!rows[0].retracted && rows[1].retracted && !rows[2].retracted);
    assert_eq!(rows[2].id, undo.review_id);
    assert_eq!(rows[2].retracts, Some(second));
    assert_eq!(rows[2].analyst, "Ada");
    assert_eq!(s.current_decision(case).unwrap().unwrap().verdict, "fake");
    let d = s.case_detail(case).unwrap();
    assert_eq!(d.decision.as_ref().map(|r| r.id), Some(first));
    // The withdrawn "real" no longer counts for retraining; the earlier "fake" does again.
    assert_eq!(label_of(&s, case), Some(true));

    // Undo again walks back to no decision at all; then there is nothing left to undo.
    let undo2 = s.undo_review(case, "Ada").unwrap();
    assert_eq!(undo2.retracted.id, first);
    assert!(undo2.current.is_none());
    assert!(s.current_decision(case).unwrap().is_none());
    assert_eq!(label_of(&s, case), None);
    let e = s.undo_review(case, "Ada").unwrap_err().to_string();
    assert!(e.contains("no decision to undo"), "{e}");
    assert_eq!(s.reviews(case).unwrap().len(), 4);

    // A new decision after undo is the current one.
    s.add_review(case, Verdict::Unsure, "Bob", "").unwrap();
    assert_eq!(s.current_decision(case).unwrap().unwrap().verdict, "unsure");

    // The audit trail holds every step, with who did it.
    let log = s.audit_log(Some(case)).unwrap();
    let trail: Vec<(&str, &str)> = log
        .iter()
        .filter(|a| a.action.starts_with("review"))
        .map(|a| (a.action.as_str(), a.actor.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            ("review", "Ada"),
            ("review", "Ada"),
            ("review_retracted", "Ada"),
            ("review_retracted", "Ada"),
            ("review", "Bob")
        ]
    );
    let r = log.iter().find(|a| a.action == "review_retracted").unwrap();
    assert_eq!(r.details["retracts"], second);
    assert_eq!(r.details["verdict"], "real");

    // The database itself refuses to edit or delete a review row.
    for sql in [
        "UPDATE reviews SET verdict = 'fake' WHERE id = 2",
        "DELETE FROM reviews WHERE id = 2",
    ] {
        let e = s.conn().execute(sql, []).unwrap_err().to_string();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
    // A decision is withdrawn once at most.
    assert!(s
        .conn()
        .execute(
            "INSERT INTO reviews (case_id, verdict, analyst, note, created_at, retracts)
             VALUES (?1, 'real', 'x', '', 'now', ?2)",
            rusqlite::params![case, second],
        )
        .is_err());
}

#[test]
fn tags_are_normalised_and_validated() {
    assert_eq!(
        normalize_tags(&[
            "  lip   sync ",
            "Election\t2024",
            "",
            "   ",
            "LIP SYNC",
            "é"
        ])
        .unwrap(),
        ["lip sync", "Election 2024", "é"]
    );
    // HTML is just text in a tag.
    assert_eq!(
        normalize_tags(&["<script>alert(1)</script>"]).unwrap(),
        ["<script>alert(1)</script>"]
    );
    let forty: String = "ä".repeat(MAX_TAG_CHARS);
    assert_eq!(normalize_tags(&[forty.as_str()]).unwrap(), [forty.clone()]);
    let e = normalize_tags(&[format!("{forty}x")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("41 characters") && e.contains("at most 40"),
        "{e}"
    );
    let long = "x".repeat(5000);
    let e = normalize_tags(&[long.as_str()]).unwrap_err().to_string();
    assert!(e.len() < 200, "the error shows the tag cut short: {e}");
    // Tabs and line breaks are white space; other control characters are refused.
    assert_eq!(
        normalize_tags(&["line\nbreak", "\tcell\r\n"]).unwrap(),
        ["line break", "cell"]
    );
    for bad in ["a\u{7}b", "\u{1b}[31mred", "nul\0", "c1\u{9b}", "del\u{7f}"] {
        let e = normalize_tags(&[bad]).unwrap_err().to_string();
        assert!(e.contains("control character"), "{bad:?}: {e}");
    }
    assert!(normalize_tags(&["a,b"])
        .unwrap_err()
        .to_string()
        .contains("comma"));
    let twenty: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
    assert_eq!(normalize_tags(&twenty).unwrap().len(), 20);
    let mut many = twenty.clone();
    many.push("one more".into());
    assert!(normalize_tags(&many)
        .unwrap_err()
        .to_string()
        .contains("at most 20"));
    // Repeats do not count towards the limit.
    many.pop();
    many.push("T0".into());
    assert_eq!(normalize_tags(&many).unwrap().len(), 20);
}

#[test]
fn tag_changes_are_stored_audited_and_refused_changes_keep_the_old_tags() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, ids) = store_with_cases(dir.path(), 1);
    let case = ids[0];
    assert!(s.case(case).unwrap().tags.is_empty());
    assert!(
        s.set_case_tags(case, &["x"], "").is_err(),
        "no analyst name"
    );
    assert!(s.set_case_tags(999, &["x"], "Ada").is_err(), "no such case");
    let stored = s
        .set_case_tags(
            case,
            &[" satire ", "<img src=x onerror=alert(1)>", "Satire"],
            "Ada",
        )
        .unwrap();
    assert_eq!(stored, ["satire", "<img src=x onerror=alert(1)>"]);
    assert_eq!(s.case(case).unwrap().tags, stored);
    assert_eq!(s.case_tags(case).unwrap(), stored);
    let n = actions(&s, case).len();
    // The same tags again: nothing changes, nothing is logged.
    s.set_case_tags(case, &["satire", "<img src=x onerror=alert(1)>"], "Bob")
        .unwrap();
    assert_eq!(actions(&s, case).len(), n);
    // A refused change leaves the stored tags as they were.
    assert!(s.set_case_tags(case, &["ok", "bad\u{7}"], "Ada").is_err());
    assert_eq!(s.case(case).unwrap().tags, stored);
    s.set_case_tags(case, &["satire", "election"], "Bob")
        .unwrap();
    let log = s.audit_log(Some(case)).unwrap();
    let changes: Vec<&AuditRow> = log.iter().filter(|a| a.action == "tags_changed").collect();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].actor, "Ada");
    assert_eq!(changes[1].actor, "Bob");
    assert_eq!(
        changes[1].details["tags"],
        serde_json::json!(["satire", "election"])
    );
    assert_eq!(
        changes[1].details["before"],
        serde_json::json!(["satire", "<img src=x onerror=alert(1)>"])
    );
    assert_eq!(changes[1].details["added"], serde_json::json!(["election"]));
    assert_eq!(
        changes[1].details["removed"],
        serde_json::json!(["<img src=x onerror=alert(1)>"])
    );
    s.set_case_tags::<&str>(case, &[], "Bob").unwrap();
    assert!(s.case(case).unwrap().tags.is_empty());
}

#[test]
fn the_note_is_normalised_limited_and_audited() {
    assert_eq!(
        normalize_note("  line one\r\nline two\rthree\tcol \u{0}\u{7}\u{1b}[31mred\u{9b}  ")
            .unwrap(),
        "line one\nline two\nthree\tcol [31mred"
    );
    assert_eq!(
        normalize_note("<script>alert(1)</script>").unwrap(),
        "<script>alert(1)</script>"
    );
    let max: String = "é".repeat(MAX_NOTE_CHARS);
    assert_eq!(normalize_note(&max).unwrap().chars().count(), 10_000);
    let e = normalize_note(&format!("{max}!")).unwrap_err().to_string();
    assert!(
        e.contains("10001 characters") && e.contains("at most 10000"),
        "{e}"
    );
    // Stripped characters do not count.
    assert!(normalize_note(&format!("{max}\u{7}\u{7}")).is_ok());

    let dir = tempfile::tempdir().unwrap();
    let (mut s, ids) = store_with_cases(dir.path(), 1);
    let case = ids[0];
    assert_eq!(s.case_detail(case).unwrap().note, "");
    assert!(s.set_case_note(case, "x", " ").is_err(), "no analyst name");
    let html = "Seen on <b>channel</b> <img src=x onerror=alert(1)>\n<script>alert(2)</script>";
    assert_eq!(s.set_case_note(case, html, "Ada").unwrap(), html);
    assert_eq!(s.case_detail(case).unwrap().note, html);
    assert!(s.set_case_note(case, &format!("{max}!"), "Ada").is_err());
    assert_eq!(
        s.case_note(case).unwrap(),
        html,
        "a refused note keeps the old one"
    );
    let n = actions(&s, case).len();
    s.set_case_note(case, &format!("{html}\r\n"), "Ada")
        .unwrap();
    assert_eq!(
        actions(&s, case).len(),
        n,
        "unchanged after normalisation: not logged"
    );
    s.set_case_note(case, "", "Bob").unwrap();
    let log = s.audit_log(Some(case)).unwrap();
    let notes: Vec<&AuditRow> = log.iter().filter(|a| a.action == "note_changed").collect();
    assert_eq!(notes.len(), 2);
    assert_eq!(
        (notes[0].actor.as_str(), notes[0].details["note"].as_str()),
        ("Ada", Some(html))
    );
    assert_eq!(notes[1].actor, "Bob");
    assert_eq!(notes[1].details["before"], html);
    assert_eq!(notes[1].details["note"], "");
}

#[test]
fn the_case_list_filters_by_tag_and_searches_notes_and_tags() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, ids) = store_with_cases(dir.path(), 3);
    s.set_case_tags(ids[0], &["Election", "satire"], "Ada")
        .unwrap();
    s.set_case_tags(ids[1], &["election"], "Ada").unwrap();
    s.set_case_note(
        ids[2],
        "Forwarded by a Telegram channel; 50% cropped",
        "Ada",
    )
    .unwrap();
    let list = |f: CaseFilter| -> Vec<i64> {
        let mut v: Vec<i64> = s.list_cases(&f).unwrap().iter().map(|c| c.id).collect();
        v.sort();
        v
    };
    let tag = |t: &str| CaseFilter {
        tag: Some(t.into()),
        ..Default::default()
    };
    let search = |t: &str| CaseFilter {
        search: Some(t.into()),
        ..Default::default()
    };
    assert_eq!(list(tag("ELECTION")), [ids[0], ids[1]]);
    assert_eq!(list(tag("  satire ")), [ids[0]]);
    assert_eq!(
        list(tag("sat")),
        Vec::<i64>::new(),
        "a tag filter is the whole tag"
    );
    assert_eq!(list(tag("nope")), Vec::<i64>::new());
    assert!(s.list_cases(&tag("bad\u{7}")).is_err());
    assert_eq!(
        list(CaseFilter {
            tag: Some("election".into()),
            band: Some("pending".into()),
            search: Some("case1".into()),
            ..Default::default()
        }),
        [ids[1]]
    );
    // The search covers the note and the tags (as well as the name and hash).
    assert_eq!(list(search("telegram")), [ids[2]]);
    assert_eq!(list(search("50%")), [ids[2]], "% is a literal character");
    assert_eq!(list(search("0%")), [ids[2]]);
    assert_eq!(list(search("5%c")), Vec::<i64>::new());
    assert_eq!(list(search("atir")), [ids[0]]);
    assert_eq!(list(search("case2")), [ids[2]]);
    // The list carries each case's tags; all_tags counts them, letter case ignored.
    let all = s.list_cases(&CaseFilter::default()).unwrap();
    assert_eq!(
        all.iter().find(|c| c.id == ids[0]).unwrap().tags,
        ["Election", "satire"]
    );
    let tags = s.all_tags().unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0].tag.to_lowercase(), "election");
    assert_eq!(tags[0].cases, 2);
    assert_eq!(
        tags[1],
        TagCount {
            tag: "satire".into(),
            cases: 1
        }
    );
}

#[test]
fn the_report_shows_tags_note_and_undo_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (mut s, ids) = store_with_cases(dir.path(), 1);
    let case = ids[0];
    s.set_case_tags(case, &["<script>alert(1)</script>", "satire"], "Ada")
        .unwrap();
    s.set_case_note(case, "line 1 <img src=x onerror=alert(2)>\nline 2", "Ada")
        .unwrap();
    s.add_review(case, Verdict::Fake, "Ada", "").unwrap();
    s.add_review(case, Verdict::Real, "Ada", "").unwrap();
    s.undo_review(case, "Ada").unwrap();
    let d = s.case_detail(case).unwrap();
    let html = verity::report::html(&s, &d);
    for bad in ["<script>alert", "<img src=x"] {
        assert!(!html.contains(bad), "{bad} reached the page raw");
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "tag"
    );
    assert!(
        html.contains("line 1 &lt;img src=x onerror=alert(2)&gt;\nline 2"),
        "note"
    );
    assert!(html.contains("undo — withdrew real"));
    assert!(html.contains("<td>real (undone)</td>"));
    assert!(html.contains("Current decision: <strong>fake</strong> by Ada"));
    let json: serde_json::Value =
        serde_json::from_str(&verity::report::json(&s, &d).unwrap()).unwrap();
    let detail = &json; // the case detail is flattened into the report
    assert_eq!(
        detail["note"],
        "line 1 <img src=x onerror=alert(2)>\nline 2"
    );
    assert_eq!(detail["case"]["tags"][1], "satire");
    assert_eq!(detail["decision"]["verdict"], "fake");
    assert_eq!(detail["reviews"][2]["retracts"], detail["reviews"][1]["id"]);
}

/// A real v7 database (the v1–v7 steps exactly as `store::schema` has them, taken from its
/// source) with a case, a decision and its label opens as v8 with all of it kept.
#[test]
fn migration_from_v7_keeps_cases_reviews_labels_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let schema = include_str!("../src/store/schema.rs");
    let steps: Vec<&str> = schema
        .split("r#\"")
        .skip(1)
        .map(|s| s.split("\"#").next().unwrap())
        .collect();
    assert!(steps.len() >= 8, "{} steps", steps.len());
    assert!(steps[6].contains("scope") && steps[7].contains("retracts"));
    {
        let db = rusqlite::Connection::open(data.join("verity.db")).unwrap();
        for step in &steps[..7] {
            db.execute_batch(step).unwrap();
        }
        db.execute_batch(
            "PRAGMA user_version = 7;
             INSERT INTO media (id, sha256, original_name, original_path, kind, size_bytes, blob, imported_at)
                 VALUES (1, 'ab', 'v.mp4', '/v.mp4', 'video', 11, 'blobs/ab', '2026-01-01T00:00:00Z');
             INSERT INTO cases (id, media_id, title, created_at, updated_at, status, score, band)
                 VALUES (1, 1, 'v.mp4', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'done', 0.5, 'review');
             INSERT INTO reviews (id, case_id, verdict, analyst, note, created_at)
                 VALUES (1, 1, 'fake', 'Ada', 'old note', '2026-01-02T00:00:00Z');
             INSERT INTO labels (case_id, label, source, review_id, analyst, created_at)
                 VALUES (1, 1, 'review', 1, 'Ada', '2026-01-02T00:00:00Z');
             INSERT INTO audit (at, actor, action, case_id, details)
                 VALUES ('2026-01-02T00:00:00Z', 'Ada', 'review', 1, '{\"review_id\":1}');",
        )
        .unwrap();
    }
    let mut s = Store::open(&data).unwrap();
    assert_eq!(s.schema_version().unwrap(), verity::store::SCHEMA_VERSION);
    assert!(
        s.backup_path(7).exists(),
        "the v7 database was backed up first"
    );
    let d = s.case_detail(1).unwrap();
    assert_eq!(d.case.title, "v.mp4");
    assert_eq!(d.case.band.as_deref(), Some("review"));
    assert!(d.case.tags.is_empty());
    assert_eq!(d.note, "");
    assert_eq!(d.reviews.len(), 1);
    let r = &d.reviews[0];
    assert_eq!(
        (r.verdict.as_str(), r.note.as_str(), r.retracts, r.retracted),
        ("fake", "old note", None, false)
    );
    assert_eq!(d.decision.as_ref().map(|r| r.id), Some(1));
    assert_eq!(label_of(&s, 1), Some(true));
    assert_eq!(
        actions(&s, 1),
        ["review"],
        "the case's audit entries are kept (the migration's own is not a case's)"
    );
    let migrated: i64 = s
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM audit WHERE action = 'schema_migrated' AND json_extract(details, '$.to') = 8",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(migrated, 1);
    // The migrated decision can be undone, and the case can be tagged.
    s.undo_review(1, "Ada").unwrap();
    assert!(s.current_decision(1).unwrap().is_none());
    assert_eq!(label_of(&s, 1), None);
    s.set_case_tags(1, &["old case"], "Ada").unwrap();
    s.integrity_check().unwrap();
}

/// The CLI: `verity review <case> --undo`, `verity annotate`, `verity cases --tag`, `verity show`.
#[test]
fn the_cli_undoes_a_decision_and_sets_tags_and_note() {
    let dir = tempfile::tempdir().unwrap();
    let (s, ids) = store_with_cases(dir.path(), 2);
    drop(s);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_verity"))
            .args(args)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("VERITY_CONFIG", dir.path().join("settings.toml"))
            .env("VERITY_MODELS_DIR", dir.path().join("models"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let case = ids[0].to_string();
    let c = case.as_str();
    // Neither a verdict nor --undo, or both: a usage error.
    assert_eq!(run(&["review", c, "--analyst", "Ada"]).0, Some(2));
    assert_eq!(
        run(&["review", c, "fake", "--undo", "--analyst", "Ada"]).0,
        Some(2)
    );
    let (code, _, err) = run(&["review", c, "--undo", "--analyst", "Ada"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no decision to undo"), "{err}");
    assert_eq!(run(&["review", c, "fake", "--analyst", "Ada"]).0, Some(0));
    assert_eq!(run(&["review", c, "real", "--analyst", "Ada"]).0, Some(0));
    let (code, out, err) = run(&["review", c, "--undo", "--analyst", "Ada"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("withdrew the real decision"), "{out}");
    assert!(out.contains("decision now: fake by Ada"), "{out}");
    let (code, _, err) = run(&["review", c, "--undo", "--analyst", "Bob"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("made by Ada"), "{err}");

    let (code, out, err) = run(&[
        "annotate",
        c,
        "--tags",
        " satire , <b>bold</b>,",
        "--note",
        "line 1\nline 2",
        "--analyst",
        "Ada",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("tags  satire, <b>bold</b>"), "{out}");
    // A refused note stores neither change.
    let long = "x".repeat(10_001);
    let (code, _, err) = run(&[
        "annotate",
        c,
        "--tags",
        "other",
        "--note",
        &long,
        "--analyst",
        "Ada",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("at most 10000"), "{err}");
    let (_, out, _) = run(&["annotate", c, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["tags"], serde_json::json!(["satire", "<b>bold</b>"]));
    assert_eq!(v["note"], "line 1\nline 2");

    let (_, out, _) = run(&["cases", "--tag", "SATIRE", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], ids[0]);
    let (_, out, _) = run(&["cases", "--search", "line 2", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0]["id"],
        ids[0]
    );
    let (_, out, _) = run(&["show", c]);
    assert!(out.contains("real (undone)"), "{out}");
    assert!(out.contains("undo (withdrew real)"), "{out}");
    assert!(out.contains("decision fake by Ada"), "{out}");
    assert!(out.contains("tags     satire, <b>bold</b>"), "{out}");
    assert!(
        out.contains("case note line 1\n            line 2"),
        "{out}"
    );
}
