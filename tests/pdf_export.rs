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
