//! Provenance in the case report: the verdict-context box lists the signals with their sources,
//! set apart from the score; the Provenance section shows the stored sections and problems;
//! private fields (GPS) stay out of the HTML and the JSON; a case without stored provenance
//! says so; the score is untouched by any of it.
mod common;
use verity::provenance::{Field, Level, Provenance, Section, Signal};
use verity::report;
use verity::store::{NewMedia, Store};

fn import(store: &mut Store, src: &std::path::Path) -> (i64, i64) {
    let nm = NewMedia {
        original_path: src.to_path_buf(),
        kind: "image".into(),
        size_bytes: std::fs::metadata(src).unwrap().len(),
        width: Some(512),
        height: Some(512),
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    };
    let imp = store.import(&nm, "Ada").unwrap();
    (imp.case_id, imp.media_id)
}

fn provenance() -> Provenance {
    let mut exif = Section::new("EXIF");
    exif.push(Field::new("Software", "Adobe Photoshop 25.0").flagged());
    exif.push(Field::new("GPS position", "48.858369, 2.294481").private());
    exif.problems
        .push("the EXIF block is truncated after 3 of 12 entries".into());
    let mut p = Provenance {
        computed_at: "2026-11-30T09:00:00Z".into(),
        sections: vec![exif],
        signals: vec![
            Signal {
                level: Level::Notice,
                text: "edited in Adobe Photoshop 25.0".into(),
                source: "EXIF Software".into(),
            },
            Signal {
                level: Level::Warning,
                text: "AI-generated per C2PA".into(),
                source: "C2PA manifest".into(),
            },
        ],
        details: Default::default(),
    };
    p.details.insert(
        "private".into(),
        serde_json::json!({"gps": [48.858369, 2.294481]}),
    );
    p
}

#[test]
fn the_report_shows_signals_with_sources_and_leaves_private_fields_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let (case, media) = import(&mut store, &common::astronaut());
    store.set_provenance(media, &provenance()).unwrap();

    let html = report::html(&store, &store.case_detail(case).unwrap());
    let box_at = html
        .find("id=\"provenance-signals\"")
        .expect("verdict-context box");
    let warn = html[box_at..].find("AI-generated per C2PA").unwrap();
    let notice = html[box_at..]
        .find("edited in Adobe Photoshop 25.0")
        .unwrap();
    assert!(warn < notice, "warnings come first");
    assert!(
        html.contains("not part of the detector&#39;s score")
            || html.contains("not part of the detector's score")
    );
    assert!(html.contains("source: C2PA manifest") && html.contains("source: EXIF Software"));
    assert!(html.contains("Could not read: the EXIF block is truncated after 3 of 12 entries"));
    assert!(
        html.contains("<tr class=\"flagged\"><th>Software</th>"),
        "flagged rows are marked"
    );
    assert!(!html.contains("48.858369"), "GPS left out of the report");
    assert!(html.contains("1 private field(s)"));

    let json: serde_json::Value =
        serde_json::from_str(&report::json(&store, &store.case_detail(case).unwrap()).unwrap())
            .unwrap();
    let text = json.to_string();
    assert!(
        !text.contains("48.858369"),
        "GPS left out of the JSON report"
    );
    assert_eq!(
        json["provenance"]["signals"][0]["text"],
        "AI-generated per C2PA"
    );
    assert_eq!(
        json["provenance"]["provenance"]["sections"][0]["fields"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Context only: the case has no score and the provenance gave it none.
    assert!(json["case"]["score"].is_null());
}

#[test]
fn a_case_without_stored_provenance_says_so_and_refresh_computes_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let (case, media) = import(&mut store, &common::astronaut());
    let html = report::html(&store, &store.case_detail(case).unwrap());
    assert!(
        html.contains("id=\"provenance-none\""),
        "no stored provenance is said"
    );
    assert!(store.provenance(media).unwrap().is_none());

    let p = verity::provenance::refresh(&mut store, case).unwrap();
    assert!(
        p.sections.iter().any(|s| s.title == "Content credentials"),
        "{:?}",
        p.sections
    );
    let stored = store.provenance(media).unwrap().expect("stored by refresh");
    assert_eq!(stored, p);
    let html = report::html(&store, &store.case_detail(case).unwrap());
    assert!(!html.contains("id=\"provenance-none\""));
}
