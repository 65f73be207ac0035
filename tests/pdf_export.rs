//! PDF case reports (`verity::pdf`, `verity export --format pdf`): the HTML report printed by
//! headless Chromium when it is on PATH, and the readable "needs Chromium" error when it is not.
mod common;
use std::path::Path;
use std::process::Command;
use verity::report::{self, Format};
use verity::store::{NewMedia, Store};

/// A stored case (imported, never analysed: the report says so).
fn stored_case(data: &Path) -> i64 {
    let mut store = Store::open(data).unwrap();
    let src = common::astronaut();
    let media = NewMedia {
        original_path: src.clone(),
        kind: "image".into(),
        size_bytes: std::fs::metadata(&src).unwrap().len(),
        width: Some(512),
        height: Some(512),
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    };
    store.import(&media, "Ada").unwrap().case_id
}

#[test]
fn pdf_without_chromium_says_how_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    // A PATH of one empty folder has no browser.
    assert_eq!(verity::pdf::find_browser(dir.path().as_os_str()), None);
    let out = dir.path().join("r.pdf");
    let e = verity::pdf::print_html(None, "<p>x</p>", &out)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("PDF export needs Chromium: apt install chromium"),
        "{e}"
    );
    assert!(e.contains("HTML export works without it"), "{e}");
    assert!(!out.exists());

    // The CLI, run with a PATH that lacks any browser, fails with the same words.
    let data = dir.path().join("data");
    let case = stored_case(&data);
    let run = Command::new(env!("CARGO_BIN_EXE_verity"))
        .arg("--data-dir")
        .arg(&data)
        .args(["export", &case.to_string(), "--format", "pdf", "--out"])
        .arg(&out)
        .env("PATH", dir.path())
        .env("VERITY_CONFIG", dir.path().join("none.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("PDF export needs Chromium"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn pdf_with_chromium_is_a_pdf_of_the_html_report() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let case = stored_case(&data);
    let out = dir.path().join("reports/case.pdf");
    let store = Store::open(&data).unwrap();
    let result = report::export(&store, case, Format::Pdf, &out);
    match verity::pdf::browser_on_path() {
        Some(browser) => {
            result.unwrap_or_else(|e| panic!("{}: {e}", browser.display()));
            let bytes = std::fs::read(&out).unwrap();
            assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
            // One page or more with the embedded crop: well over a blank page's size.
            assert!(bytes.len() > 2_000, "{} bytes", bytes.len());
            assert!(bytes
                .windows(8)
                .any(|w| w == b"/Type /P" || w == b"/Type/Pa"));
        }
        None => {
            let e = result.unwrap_err().to_string();
            assert!(e.contains("PDF export needs Chromium"), "{e}");
        }
    }
    // The CLI writes the same kind of file.
    if verity::pdf::browser_on_path().is_some() {
        let cli_out = dir.path().join("cli.pdf");
        let run = Command::new(env!("CARGO_BIN_EXE_verity"))
            .arg("--data-dir")
            .arg(&data)
            .args(["export", &case.to_string(), "--format", "pdf", "--out"])
            .arg(&cli_out)
            .env("VERITY_CONFIG", dir.path().join("none.toml"))
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(std::fs::read(&cli_out).unwrap().starts_with(b"%PDF-"));
    }
}

/// `tool args… pdf` (poppler-utils), its stdout as text.
fn poppler(tool: &str, args: &[&str], pdf: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(pdf)
        .args(if tool == "pdftotext" { &["-"][..] } else { &[][..] })
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} (Debian package poppler-utils, installed by scripts/setup.sh test) is needed with Chromium: {e}")
        });
    assert!(
        out.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text with every white-space character removed: line breaks fall where the page width puts
/// them, so long lines are compared without them.
fn squeezed(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A real video case (analysed by the CLI with an UNTRAINED tiny profile, a small face so it
/// carries a scope warning) printed to PDF: every page carries the running header (case id,
/// media SHA-256 prefix, generation time) and footer ("page N of M", M = the page count), and
/// the first page holds the verdict line, the scope list and the frame timeline.
#[test]
fn pdf_pages_carry_case_hash_and_page_numbers_and_page_one_holds_the_verdict() {
    if verity::pdf::browser_on_path().is_none() {
        eprintln!("skipped: no Chromium on PATH (the other PDF tests check the error)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (data, models) = (dir.path().join("data"), dir.path().join("models"));
    verity::models::profile::create_random_profile(
        &models.join("profiles/tiny-untrained"),
        "tiny",
        0,
    )
    .unwrap();
    let video = common::ffmpeg_cached(
        "report-pages.mp4",
        &[
            "-loop",
            "1",
            "-i",
            "{astronaut}",
            "-vf",
            "scale=320:320,format=yuv420p",
            "-t",
            "3",
            "-r",
            "10",
        ],
        &[],
    );
    let verity_cmd = |args: &[&str]| {
        let run = Command::new(env!("CARGO_BIN_EXE_verity"))
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("VERITY_CONFIG", dir.path().join("none.toml"))
            .env("VERITY_MODELS_DIR", &models)
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "verity {args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    };
    verity_cmd(&[
        "analyze",
        "--profile",
        "tiny-untrained",
        "--fps",
        "5",
        video.to_str().unwrap(),
    ]);
    let store = Store::open(&data).unwrap();
    let cases = store.list_cases(&Default::default()).unwrap();
    assert_eq!(cases.len(), 1);
    let d = store.case_detail(cases[0].id).unwrap();
    assert_eq!(d.case.status, "done", "{:?}", d.case.message);
    let scope = d.case.scope.clone().unwrap_or_default();
    assert!(
        scope.iter().any(|w| w.is_warning()),
        "the 320-pixel clip's face is small: {scope:?}"
    );
    let pdf = dir.path().join("case.pdf");
    verity_cmd(&[
        "export",
        &d.case.id.to_string(),
        "--format",
        "pdf",
        "--out",
        pdf.to_str().unwrap(),
    ]);

    let info = poppler("pdfinfo", &[], &pdf);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no page count in {info}"));
    assert!(info.contains("(A4)"), "A4 pages: {info}");
    // 15 face crops, the media and model tables and the audit log do not fit one page.
    assert!(pages >= 2, "{pages} page(s)");
    let prefix = &d.media.sha256[..12];
    for n in 1..=pages {
        let page = n.to_string();
        let text = poppler("pdftotext", &["-layout", "-f", &page, "-l", &page], &pdf);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let (first, last) = (lines[0], lines[lines.len() - 1]);
        assert!(
            first.contains(&format!("Case {} · media SHA-256 {prefix}", d.case.id))
                && first.contains("generated 20"),
            "page {n}'s header (CSS page-margin boxes: Chromium ≥ 131): {first:?}"
        );
        assert!(
            !first.contains(&d.media.sha256[..13]),
            "only the first 12 hex digits: {first:?}"
        );
        assert!(
            last.contains(&format!("page {n} of {pages}")),
            "page {n}'s footer: {last:?}"
        );
    }
    let one = squeezed(&poppler("pdftotext", &["-f", "1", "-l", "1"], &pdf));
    let verdict = report::verdict(&d);
    assert!(verdict.starts_with("UNTRAINED"), "{verdict}");
    assert!(
        one.contains(&squeezed(&format!("Verdict: {verdict}"))),
        "verdict on page 1: {one}"
    );
    for w in &scope {
        assert!(one.contains(&squeezed(&w.text)), "{w:?} on page 1: {one}");
    }
    // The timeline's heading (upper-cased by the style) and its chart's axis label.
    assert!(
        one.contains("FRAMETIMELINE"),
        "timeline heading on page 1: {one}"
    );
    assert!(
        one.contains("keyframesticked"),
        "timeline chart on page 1: {one}"
    );
    // The header is print-only: the HTML report shows no page numbers on screen.
    let html = report::html(&store, &d);
    let body = &html[html.find("<body").unwrap()..];
    assert!(!body.contains("counter(page") && !body.contains("media SHA-256"));
}
