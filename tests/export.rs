//! Batch export (`verity::export`, `verity export --cases/--all`): one ZIP with each case's
//! HTML, PDF and JSON report and a summary.csv; odd file names survive the CSV round trip and
//! never run as formulas; a case that cannot be reported is listed with its error while the
//! others are exported; the ZIP appears whole or not at all.
mod common;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use verity::export::{self, BatchOptions, CSV_HEADER, ZIP_MARKER};
use verity::store::{Outcome, ScoreRow, Store, Verdict};

/// A case imported from a file called `name` (its own bytes), analysed to `band` at `score`.
fn case(store: &mut Store, dir: &Path, name: &str, band: &str, score: f64) -> i64 {
    let src = dir.join(name);
    std::fs::write(&src, format!("media bytes of {name}")).unwrap();
    let id = store
        .import(&common::image_media(&src, 512), "Ada")
        .unwrap()
        .case_id;
    let aid = store.begin_analysis(id, "{}", "Ada").unwrap();
    store
        .finish_analysis(
            aid,
            &Outcome {
                status: "done".into(),
                score: Some(score),
                band: Some(band.into()),
                profile: Some("gend-clip-l14".into()),
                weight_hashes: vec![],
                untrained: false,
                message: None,
                scores: vec![ScoreRow {
                    level: "media".into(),
                    face_id: None,
                    frame_idx: None,
                    track_id: None,
                    score,
                }],
            },
            "Ada",
        )
        .unwrap();
    id
}

/// RFC 4180 parsing (quoted fields with doubled quotes, commas and line breaks inside).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{feff}').expect("UTF-8 BOM first");
    let (mut rows, mut row, mut cell) = (vec![], vec![], String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => assert_eq!(chars.next(), Some('\n'), "CRLF line ends"),
            (false, '\n') => panic!("bare LF outside quotes"),
            (false, c) => cell.push(c),
        }
        if !quoted && c == '\r' {
            row.push(std::mem::take(&mut cell));
            rows.push(std::mem::take(&mut row));
        }
    }
    assert!(
        !quoted && cell.is_empty() && row.is_empty(),
        "CSV ends with CRLF"
    );
    rows
}

struct Zip {
    names: Vec<String>,
    archive: zip::ZipArchive<std::fs::File>,
}

impl Zip {
    fn open(path: &Path) -> Zip {
        let archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        let names = archive.file_names().map(String::from).collect();
        Zip { names, archive }
    }
    fn read(&mut self, name: &str) -> Vec<u8> {
        let mut f = self.archive.by_name(name).unwrap();
        let mut b = vec![];
        f.read_to_end(&mut b).unwrap();
        b
    }
    fn text(&mut self, name: &str) -> String {
        String::from_utf8(self.read(name)).unwrap()
    }
    /// The summary as maps column → value, header checked.
    fn summary(&mut self) -> Vec<std::collections::HashMap<String, String>> {
        let rows = parse_csv(&self.text("summary.csv"));
        assert_eq!(rows[0], CSV_HEADER);
        rows[1..]
            .iter()
            .map(|r| {
                assert_eq!(r.len(), CSV_HEADER.len(), "{r:?}");
                CSV_HEADER
                    .iter()
                    .map(|h| h.to_string())
                    .zip(r.iter().cloned())
                    .collect()
            })
            .collect()
    }
}

fn no_progress(_: &export::Progress) {}

/// Everything in `dir` (names), to see that nothing half-written stayed behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn the_zip_holds_each_cases_reports_and_a_summary_that_parses_back() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let odd = "a, \"quoted\"\nname.png";
    let plain = case(&mut store, &src, "plain.png", "real", 0.12);
    let tricky = case(&mut store, &src, odd, "fake", 0.91);
    let formula = case(
        &mut store,
        &src,
        "=HYPERLINK(\"http:x\").png",
        "review",
        0.5,
    );
    let minus = case(&mut store, &src, "-1+2.png", "review", 0.45);
    store
        .add_review(tricky, Verdict::Fake, "Ada Lovelace", "seam")
        .unwrap();
    // A decision taken back (undo) is not the reviewer's decision.
    store.add_review(plain, Verdict::Fake, "Ada", "").unwrap();
    store.undo_review(plain, "Ada").unwrap();
    let out = dir.path().join("out/batch.zip");
    let steps = std::sync::Mutex::new(vec![]);
    let summary = export::export_cases(
        &store,
        &[plain, tricky, formula, minus, tricky],
        &out,
        &BatchOptions::without_pdf("Ada"),
        &|p| steps.lock().unwrap().push((p.done, p.total, p.case_id)),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!((summary.exported, summary.failed), (4, 0));
    assert_eq!(
        steps.into_inner().unwrap(),
        vec![
            (0, 4, Some(plain)),
            (1, 4, Some(tricky)),
            (2, 4, Some(formula)),
            (3, 4, Some(minus)),
            (4, 4, None)
        ],
        "progress before each case (the duplicate once) and at the end"
    );

    let mut zip = Zip::open(&out);
    assert_eq!(zip.archive.comment(), ZIP_MARKER.as_bytes());
    assert!(export::is_batch_export(&out));
    let folder = |id: i64| {
        let c = summary.cases.iter().find(|c| c.case_id == id).unwrap();
        c.files[0].rsplit_once('/').unwrap().0.to_string()
    };
    assert_eq!(folder(plain), format!("case-{plain:04}-plain"));
    let mut expected: Vec<String> = [plain, tricky, formula, minus]
        .iter()
        .flat_map(|&id| ["report.html", "report.json"].map(|f| format!("{}/{f}", folder(id))))
        .collect();
    expected.push("summary.csv".into());
    let mut names = zip.names.clone();
    names.sort();
    expected.sort();
    assert_eq!(names, expected);
    for id in [plain, tricky, formula, minus] {
        let d = store.case_detail(id).unwrap();
        let html = zip.text(&format!("{}/report.html", folder(id)));
        assert!(html.starts_with("<!DOCTYPE html>"), "{id}");
        assert!(
            html.contains(&d.media.sha256),
            "the HTML report of case {id}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&zip.text(&format!("{}/report.json", folder(id)))).unwrap();
        assert_eq!(json["case"]["id"], id);
        assert_eq!(json["media"]["sha256"], d.media.sha256.as_str());
    }

    let rows = zip.summary();
    assert_eq!(rows.len(), 4, "one row per case");
    let row = |id: i64| {
        rows.iter()
            .find(|r| r["case_id"] == id.to_string())
            .unwrap()
    };
    assert_eq!(
        row(tricky)["file_name"],
        odd,
        "comma, quotes and newline survive"
    );
    assert_eq!(
        row(formula)["file_name"],
        "'=HYPERLINK(\"http:x\").png",
        "a formula is defused with a quote"
    );
    assert_eq!(row(minus)["file_name"], "'-1+2.png");
    assert_eq!(row(plain)["file_name"], "plain.png");
    let d = store.case_detail(tricky).unwrap();
    let r = row(tricky);
    assert_eq!(r["media_sha256"], d.media.sha256);
    assert_eq!(r["band"], "fake");
    assert_eq!(r["score"], "0.9100");
    assert_eq!(r["status"], "done");
    assert_eq!(r["verdict"], verity::report::verdict(&d));
    assert_eq!(
        r["analysed_at"],
        d.analysis.as_ref().unwrap().finished_at.clone().unwrap()
    );
    assert!(
        r["reviewer_decision"].starts_with("fake by Ada Lovelace at "),
        "{}",
        r["reviewer_decision"]
    );
    assert_eq!(row(plain)["reviewer_decision"], "");
    assert_eq!(r["exported"], "html json");
    assert_eq!(r["error"], "");
    // Each exported case is audited.
    let audited = store
        .audit_log(Some(plain))
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "export")
        .count();
    assert_eq!(audited, 1);
}

#[test]
fn a_case_that_cannot_be_reported_is_listed_with_its_error_and_the_rest_exported() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let good = case(&mut store, dir.path(), "keep.png", "real", 0.1);
    let bad = case(&mut store, dir.path(), "interview.png", "fake", 0.9);
    let later = case(&mut store, dir.path(), "later.png", "review", 0.5);
    // Someone edits the stored copy of one case.
    let m = store.media_of_case(bad).unwrap();
    std::fs::write(store.blobs.path(&m.blob), b"edited evidence").unwrap();
    let out = dir.path().join("batch.zip");
    let summary = export::export_cases(
        &store,
        &[good, bad, 9999, later],
        &out,
        &BatchOptions::without_pdf("Ada"),
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!((summary.exported, summary.failed), (2, 2));
    let mut zip = Zip::open(&out);
    assert!(
        !zip.names.iter().any(|n| n.contains("interview")),
        "nothing of the tampered case: {:?}",
        zip.names
    );
    for id in [good, later] {
        assert!(
            zip.names
                .iter()
                .any(|n| n.starts_with(&format!("case-{id:04}")) && n.ends_with("report.html")),
            "{id}: {:?}",
            zip.names
        );
    }
    let rows = zip.summary();
    let ids: Vec<&str> = rows.iter().map(|r| r["case_id"].as_str()).collect();
    assert_eq!(
        ids,
        [good, bad, 9999, later].map(|i| i.to_string()),
        "every case asked is listed, in order"
    );
    assert!(
        rows[1]["error"].contains("interview.png") && rows[1]["error"].contains("verification"),
        "{}",
        rows[1]["error"]
    );
    assert_eq!(rows[1]["exported"], "");
    assert_eq!(rows[1]["file_name"], "interview.png", "still named");
    assert_eq!(rows[1]["media_sha256"], m.sha256);
    assert!(!rows[2]["error"].is_empty(), "the unknown case says why");
    assert_eq!(rows[0]["error"], "");
    assert_eq!(rows[3]["exported"], "html json");
}

#[test]
fn a_failed_pdf_print_keeps_the_cases_html_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let id = case(&mut store, dir.path(), "clip.png", "real", 0.2);
    let out = dir.path().join("batch.zip");
    // A "browser" that prints nothing.
    let opts = BatchOptions {
        pdf: true,
        browser: Some(PathBuf::from("/bin/false")),
        actor: "Ada".into(),
    };
    let summary = export::export_cases(
        &store,
        &[id],
        &out,
        &opts,
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(summary.failed, 1);
    let mut zip = Zip::open(&out);
    let rows = zip.summary();
    assert_eq!(rows[0]["exported"], "html json");
    assert!(
        rows[0]["error"].contains("PDF not made"),
        "{}",
        rows[0]["error"]
    );
    // Without any browser the advice says how to get one.
    let none = BatchOptions {
        browser: None,
        ..opts
    };
    let summary = export::export_cases(
        &store,
        &[id],
        &out,
        &none,
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert!(
        summary.cases[0]
            .error
            .as_deref()
            .unwrap()
            .contains("apt install chromium"),
        "{:?}",
        summary.cases[0].error
    );
}

#[test]
fn pdf_reports_are_printed_by_chromium() {
    let Some(browser) = verity::pdf::browser_on_path() else {
        eprintln!("SKIP: no Chromium on PATH");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let id = case(&mut store, dir.path(), "clip.png", "real", 0.2);
    let out = dir.path().join("batch.zip");
    let opts = BatchOptions {
        pdf: true,
        browser: Some(browser),
        actor: "Ada".into(),
    };
    let summary = export::export_cases(
        &store,
        &[id],
        &out,
        &opts,
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(summary.failed, 0, "{:?}", summary.cases);
    let mut zip = Zip::open(&out);
    let pdf = zip.read(&format!("case-{id:04}-clip/report.pdf"));
    assert!(pdf.starts_with(b"%PDF"));
    assert_eq!(zip.summary()[0]["exported"], "html pdf json");
}

#[test]
fn the_zip_appears_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("data")).unwrap();
    let a = case(&mut store, dir.path(), "a.png", "real", 0.2);
    let b = case(&mut store, dir.path(), "b.png", "fake", 0.8);
    let outdir = dir.path().join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    let out = outdir.join("batch.zip");
    let opts = BatchOptions::without_pdf("Ada");

    // Cancelled after the first case's reports went into the archive: no file, no leftovers.
    let cancel = AtomicBool::new(false);
    let e = export::export_cases(
        &store,
        &[a, b],
        &out,
        &opts,
        &|p| {
            if p.done == 1 {
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(e, verity::Error::Cancelled), "{e}");
    assert_eq!(listing(&outdir), Vec::<String>::new(), "no partial file");

    // A complete export, then a cancelled one over it: the earlier export stays as it was.
    export::export_cases(
        &store,
        &[a],
        &out,
        &opts,
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap();
    let before = std::fs::read(&out).unwrap();
    let cancel = AtomicBool::new(false);
    let e = export::export_cases(
        &store,
        &[a, b],
        &out,
        &opts,
        &|p| {
            if p.done == 1 {
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(e, verity::Error::Cancelled));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert_eq!(listing(&outdir), vec!["batch.zip".to_string()]);

    // An earlier export is replaced whole.
    export::export_cases(
        &store,
        &[a, b],
        &out,
        &opts,
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(Zip::open(&out).summary().len(), 2);
    assert_eq!(listing(&outdir), vec!["batch.zip".to_string()]);

    // A file that is not an export, a folder, or a link is never written over.
    let foreign = outdir.join("thesis.zip");
    std::fs::write(&foreign, b"PK\x03\x04 someone else's archive").unwrap();
    let e = export::export_cases(
        &store,
        &[a],
        &foreign,
        &opts,
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("thesis.zip") && e.contains("not overwritten"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&foreign).unwrap(),
        b"PK\x03\x04 someone else's archive"
    );
    let e = export::export_cases(
        &store,
        &[a],
        &outdir,
        &opts,
        &no_progress,
        &AtomicBool::new(false),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not a file"), "{e}");
    #[cfg(unix)]
    {
        let link = outdir.join("link.zip");
        std::os::unix::fs::symlink(&out, &link).unwrap();
        let e = export::export_cases(
            &store,
            &[a],
            &link,
            &opts,
            &no_progress,
            &AtomicBool::new(false),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is a link"), "{e}");
    }
    // A folder the archive cannot be written in: an error naming the file, nothing created.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ro = dir.path().join("readonly");
        std::fs::create_dir_all(&ro).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
        let target = ro.join("batch.zip");
        let r = export::export_cases(
            &store,
            &[a],
            &target,
            &opts,
            &no_progress,
            &AtomicBool::new(false),
        );
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o700)).unwrap();
        // (root may write anywhere; then the export simply succeeds.)
        if let Err(e) = r {
            assert!(e.to_string().contains("batch.zip"), "{e}");
            assert_eq!(listing(&ro), Vec::<String>::new());
        }
    }
    let mut names = listing(&outdir);
    names.retain(|n| n.starts_with('.'));
    assert!(names.is_empty(), "temporary files left: {names:?}");
}

#[test]
fn the_cli_exports_listed_cases_or_all_into_one_zip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (a, b) = {
        let mut store = Store::open(&data).unwrap();
        (
            case(&mut store, dir.path(), "a.png", "real", 0.2),
            case(&mut store, dir.path(), "b.png", "fake", 0.8),
        )
    };
    let verity = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_verity"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("VERITY_CONFIG", dir.path().join("settings.toml"))
            .output()
            .unwrap()
    };
    let out = dir.path().join("two.zip");
    let o = verity(&[
        "export",
        "--cases",
        &format!("{a},{b}"),
        "--no-pdf",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("2 cases exported, 0 with errors"), "{err}");
    let mut zip = Zip::open(&out);
    assert_eq!(zip.summary().len(), 2);
    assert!(zip.names.contains(&format!("case-{b:04}-b/report.json")));

    // --all: every stored case; a tampered one is listed with its error and exits 1.
    {
        let store = Store::open(&data).unwrap();
        let m = store.media_of_case(b).unwrap();
        std::fs::write(store.blobs.path(&m.blob), b"edited").unwrap();
    }
    let all = dir.path().join("all.zip");
    let o = verity(&[
        "export",
        "--all",
        "--no-pdf",
        "--out",
        all.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("case {b}: ")) && err.contains("b.png"),
        "{err}"
    );
    let rows = Zip::open(&all).summary();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["exported"], "html json");

    // A batch needs --out; a case number and --cases do not mix.
    let o = verity(&["export", "--all"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
    let o = verity(&["export", "1", "--cases", "2"]);
    assert_eq!(o.status.code(), Some(2));
    let o = verity(&["export"]);
    assert_eq!(o.status.code(), Some(2), "one of case, --cases, --all");
}
