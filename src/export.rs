//! Batch export: several cases in one ZIP file — for each case its HTML, PDF and JSON reports
//! (the same [`crate::report`] / [`crate::pdf`] output as a single-case export) and one
//! `summary.csv` with a row per case.
//!
//! Layout of the archive:
//! ```text
//! summary.csv                        one row per case, in the order asked (see CSV_HEADER)
//! case-0007-interview/report.html    self-contained HTML report
//! case-0007-interview/report.pdf     the HTML printed by headless Chromium (when asked)
//! case-0007-interview/report.json    every stored number
//! ```
//! A case whose report cannot be made (stored media failing verification, an unknown case
//! number, a failed PDF print) is listed in the CSV with the error; the other cases are still
//! exported. The ZIP is written to a private temporary file next to the destination and renamed
//! over it only when complete: a failure or cancel leaves no partial file, and an existing file
//! is replaced only when it is an earlier batch export (never through a link).
//!
//! The CSV is RFC 4180 (CRLF, fields with commas, quotes or line breaks quoted, quotes doubled)
//! with a UTF-8 byte-order mark so spreadsheet programs read non-ASCII file names; a cell that
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` so a
//! spreadsheet never runs a file name as a formula.
use crate::store::{CaseDetail, ReviewRow, Store};
use crate::{Error, Result};
use serde::Serialize;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The ZIP comment of every batch export: how an earlier export is recognised before it is
/// replaced.
pub const ZIP_MARKER: &str = "Verity Desk batch export";

/// The CSV's columns, in order.
pub const CSV_HEADER: &[&str] = &[
    "case_id",
    "file_name",
    "media_sha256",
    "verdict",
    "band",
    "score",
    "status",
    "analysed_at",
    "reviewer_decision",
    "exported",
    "error",
];

/// What to put in the archive besides HTML and JSON.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Print each HTML report to PDF too.
    pub pdf: bool,
    /// The browser that prints PDFs (`None`: PDF entries fail with the "needs Chromium" advice).
    pub browser: Option<PathBuf>,
    /// Who exports (the audit row's actor).
    pub actor: String,
}

impl BatchOptions {
    /// HTML, JSON and PDF, with the browser found on `PATH`.
    pub fn with_pdf(actor: &str) -> Self {
        BatchOptions {
            pdf: true,
            browser: crate::pdf::browser_on_path(),
            actor: actor.to_string(),
        }
    }

    /// HTML and JSON only.
    pub fn without_pdf(actor: &str) -> Self {
        BatchOptions {
            pdf: false,
            browser: None,
            actor: actor.to_string(),
        }
    }
}

/// Progress of a batch, sent before each case and once at the end (`done == total`).
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
    /// The case being exported now (None in the final report).
    pub case_id: Option<i64>,
    pub title: Option<String>,
}

/// What became of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub case_id: i64,
    pub title: String,
    /// Archive entries written for the case (`case-0007-…/report.html`, …).
    pub files: Vec<String>,
    /// Why the case (or one of its reports) is missing, written for the analyst.
    pub error: Option<String>,
}

/// The result of a batch: where it went and each case's outcome, in the order asked.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub path: PathBuf,
    pub cases: Vec<CaseOutcome>,
    /// Cases with every asked report in the archive.
    pub exported: usize,
    /// Cases with an error (listed in the CSV, some or all of their reports missing).
    pub failed: usize,
}

/// One CSV row's values before quoting.
#[derive(Debug, Clone, Default)]
struct Row {
    case_id: i64,
    file_name: String,
    sha256: String,
    verdict: String,
    band: String,
    score: String,
    status: String,
    analysed_at: String,
    decision: String,
    exported: String,
    error: String,
}

impl Row {
    fn cells(&self) -> [String; 11] {
        [
            self.case_id.to_string(),
            self.file_name.clone(),
            self.sha256.clone(),
            self.verdict.clone(),
            self.band.clone(),
            self.score.clone(),
            self.status.clone(),
            self.analysed_at.clone(),
            self.decision.clone(),
            self.exported.clone(),
            self.error.clone(),
        ]
    }

    fn from_detail(d: &CaseDetail) -> Row {
        let c = &d.case;
        Row {
            case_id: c.id,
            file_name: c.title.clone(),
            sha256: d.media.sha256.clone(),
            verdict: crate::report::verdict(d),
            band: c.band.clone().unwrap_or_default(),
            score: c.score.map(|s| format!("{s:.4}")).unwrap_or_default(),
            status: c.status.clone(),
            analysed_at: d
                .analysis
                .as_ref()
                .map(|a| {
                    a.finished_at
                        .clone()
                        .unwrap_or_else(|| a.started_at.clone())
                })
                .unwrap_or_default(),
            decision: reviewer_decision(d.decision.as_ref()),
            ..Row::default()
        }
    }
}

/// The analyst's current decision (the newest one not withdrawn by an undo) in words; empty
/// when there is none.
pub fn reviewer_decision(decision: Option<&ReviewRow>) -> String {
    decision
        .map(|r| format!("{} by {} at {}", r.verdict, r.analyst, r.created_at))
        .unwrap_or_default()
}

/// One CSV cell: formula-guarded (a leading `=`, `+`, `-`, `@`, tab or CR gets a `'`), then
/// quoted when it holds a comma, quote, line break or leading/trailing space.
pub fn csv_cell(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    let needs_quotes = guarded.contains([',', '"', '\n', '\r'])
        || guarded.starts_with(' ')
        || guarded.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// One CSV line (CRLF-terminated).
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut line = cells
        .iter()
        .map(|c| csv_cell(c.as_ref()))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The archive folder of a case: `case-0007-<file name, letters/digits/._- only, ≤ 40>`.
pub fn case_folder(case_id: i64, title: &str) -> String {
    let stem = Path::new(title)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let safe = safe.trim_matches(['.', '_']);
    if safe.is_empty() {
        format!("case-{case_id:04}")
    } else {
        format!("case-{case_id:04}-{safe}")
    }
}

/// Whether `path` (an existing file) is an earlier batch export: a ZIP whose comment is
/// [`ZIP_MARKER`] (the comment sits in the last 64 KiB).
pub fn is_batch_export(path: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = [0u8; 4];
    if f.read_exact(&mut head).is_err() || &head != b"PK\x03\x04" {
        return false;
    }
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let tail_len = len.min(66_000);
    let mut tail = vec![0u8; tail_len as usize];
    if f.seek(SeekFrom::Start(len - tail_len)).is_err() || f.read_exact(&mut tail).is_err() {
        return false;
    }
    let marker = ZIP_MARKER.as_bytes();
    tail.windows(marker.len()).any(|w| w == marker)
}

/// Where the ZIP may go: not a link, not a folder, not a file other than an earlier export.
fn check_destination(out: &Path) -> Result<()> {
    let err = |m: &str| Error::input(out, m);
    match std::fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => {
            Err(err("is a link; choose a new file name for the export"))
        }
        Ok(m) if !m.is_file() => Err(err("is not a file; choose a file name")),
        Ok(_) if !is_batch_export(out) => Err(err(
            "already exists and is not a Verity Desk batch export: not overwritten; choose \
             another file name",
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err(&format!("cannot check the file: {e}"))),
    }
}

fn zip_time() -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let t = chrono::Local::now().naive_local();
    zip::DateTime::from_date_and_time(
        t.year().clamp(1980, 2107) as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .unwrap_or_default()
}

/// The three reports of one case, in memory: `(name, bytes)` pairs and the PDF's error if the
/// print failed. Fails as a whole when the case cannot be reported at all.
fn case_reports(
    store: &Store,
    case_id: i64,
    opts: &BatchOptions,
    work: &Path,
) -> Result<(Vec<(&'static str, Vec<u8>)>, Option<String>)> {
    // Chain of custody, as for a single report: the stored media must still match its hash.
    store.verify_case_media(case_id, "report")?;
    let d = store.case_detail(case_id)?;
    let html = crate::report::html(store, &d);
    let json = crate::report::json(store, &d)?;
    let mut files = vec![("report.html", html.clone().into_bytes())];
    let mut pdf_error = None;
    if opts.pdf {
        let pdf = work.join(format!("case-{case_id}.pdf"));
        match crate::pdf::print_html(opts.browser.as_deref(), &html, &pdf)
            .and_then(|()| std::fs::read(&pdf).map_err(Error::from))
        {
            Ok(bytes) => files.push(("report.pdf", bytes)),
            Err(e) => pdf_error = Some(format!("PDF not made: {e}")),
        }
        let _ = std::fs::remove_file(&pdf);
    }
    files.push(("report.json", json.into_bytes()));
    Ok((files, pdf_error))
}

/// Exports `case_ids` (in that order, duplicates once) into one ZIP at `out`, written
/// atomically. `progress` is called before each case and once at the end; setting `cancel`
/// stops before the next case with [`Error::Cancelled`] and nothing written. Each exported case
/// gets an `export` audit row.
pub fn export_cases(
    store: &Store,
    case_ids: &[i64],
    out: &Path,
    opts: &BatchOptions,
    progress: &dyn Fn(&Progress),
    cancel: &AtomicBool,
) -> Result<BatchSummary> {
    let mut ids: Vec<i64> = vec![];
    for id in case_ids {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    if ids.is_empty() {
        return Err(Error::Config(
            "no cases to export: select at least one".into(),
        ));
    }
    check_destination(out)?;
    let dir = match out.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::input(&dir, format!("cannot create the folder: {e}")))?;
    let werr =
        |e: &dyn std::fmt::Display| Error::input(out, format!("cannot write the export: {e}"));
    // A private temporary file beside the destination (same file system: the rename is atomic),
    // removed on drop if anything below fails.
    let tmp = tempfile::Builder::new()
        .prefix(".verity-export-")
        .suffix(".zip.part")
        .tempfile_in(&dir)
        .map_err(|e| werr(&e))?;
    let work = tempfile::Builder::new()
        .prefix("verity-export-")
        .tempdir()
        .map_err(|e| werr(&e))?;
    let mut zip = zip::ZipWriter::new(tmp.reopen().map_err(|e| werr(&e))?);
    let time = zip_time();
    let deflated = zip::write::FileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(time)
        .unix_permissions(0o644);
    // PDFs are compressed already.
    let stored = deflated.compression_method(zip::CompressionMethod::Stored);

    let total = ids.len();
    let mut csv = String::from("\u{feff}");
    csv.push_str(&csv_line(CSV_HEADER));
    let mut outcomes = vec![];
    for (done, &id) in ids.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        let detail = store.case_detail(id).ok();
        progress(&Progress {
            done,
            total,
            case_id: Some(id),
            title: detail.as_ref().map(|d| d.case.title.clone()),
        });
        let mut row = detail.as_ref().map(Row::from_detail).unwrap_or(Row {
            case_id: id,
            ..Row::default()
        });
        let title = row.file_name.clone();
        let mut outcome = CaseOutcome {
            case_id: id,
            title: title.clone(),
            files: vec![],
            error: None,
        };
        match case_reports(store, id, opts, work.path()) {
            Ok((files, pdf_error)) => {
                let folder = case_folder(id, &title);
                for (name, bytes) in files {
                    let entry = format!("{folder}/{name}");
                    let o = if name.ends_with(".pdf") {
                        stored
                    } else {
                        deflated
                    };
                    zip.start_file(entry.as_str(), o).map_err(|e| werr(&e))?;
                    zip.write_all(&bytes).map_err(|e| werr(&e))?;
                    outcome.files.push(entry);
                }
                outcome.error = pdf_error;
                store.audit(
                    &opts.actor,
                    "export",
                    Some(id),
                    &serde_json::json!({"format": "zip", "path": out, "files": outcome.files}),
                )?;
            }
            Err(e) => outcome.error = Some(e.to_string()),
        }
        row.exported = outcome
            .files
            .iter()
            .filter_map(|f| Path::new(f).extension().and_then(|e| e.to_str()))
            .collect::<Vec<_>>()
            .join(" ");
        row.error = outcome.error.clone().unwrap_or_default();
        csv.push_str(&csv_line(&row.cells()));
        outcomes.push(outcome);
    }
    if cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    zip.start_file("summary.csv", deflated)
        .map_err(|e| werr(&e))?;
    zip.write_all(csv.as_bytes()).map_err(|e| werr(&e))?;
    zip.set_comment(ZIP_MARKER);
    let file = zip.finish().map_err(|e| werr(&e))?;
    file.sync_all().map_err(|e| werr(&e))?;
    drop(file);
    // Checked again just before the rename: a link or foreign file put there meanwhile is
    // never replaced.
    check_destination(out)?;
    tmp.persist(out).map_err(|e| werr(&e.error))?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    progress(&Progress {
        done: total,
        total,
        case_id: None,
        title: None,
    });
    let failed = outcomes.iter().filter(|o| o.error.is_some()).count();
    Ok(BatchSummary {
        path: out.to_path_buf(),
        exported: outcomes.len() - failed,
        failed,
        cases: outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formula_guarded() {
        assert_eq!(csv_cell("plain.mp4"), "plain.mp4");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_cell("=1+1"), "'=1+1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("+cmd"), "'+cmd");
        assert_eq!(
            csv_cell("=HYPERLINK(\"x\",\"y\")"),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\""
        );
        assert_eq!(csv_cell(""), "");
        assert_eq!(csv_line(&["1", "a,b"]), "1,\"a,b\"\r\n");
    }

    #[test]
    fn case_folders_are_safe_names() {
        assert_eq!(case_folder(7, "interview.mp4"), "case-0007-interview");
        assert_eq!(case_folder(7, "../../etc/passwd"), "case-0007-passwd");
        assert_eq!(case_folder(12, "a,\"b\"\nc.png"), "case-0012-a__b__c");
        assert_eq!(case_folder(3, ""), "case-0003");
        assert_eq!(case_folder(3, "日本.png"), "case-0003");
    }
}
