//! PDF case reports: the self-contained HTML report ([`crate::report`]) printed by a headless
//! Chromium (`--headless --print-to-pdf`), the same engine an analyst would print it with.
//!
//! No PDF library is bundled: the HTML report already lays out verdict, crops and plots, and a
//! second layout engine would drift from it. Chromium is optional: without it the error says
//! how to install it and that HTML export works regardless.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Executable names looked for on `PATH`, in order.
pub const BROWSERS: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// What the analyst is told when no browser is found.
pub const NO_BROWSER: &str =
    "PDF export needs Chromium: apt install chromium; HTML export works without it";

/// Longest a print may take before the browser is stopped.
const TIMEOUT: Duration = Duration::from_secs(90);

/// The first of [`BROWSERS`] found in the folders of a `PATH`-style list.
pub fn find_browser(path_var: &OsStr) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = std::env::split_paths(path_var).collect();
    BROWSERS.iter().find_map(|name| {
        dirs.iter()
            .map(|d| d.join(name))
            .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
    })
}

/// [`find_browser`] on this process's `PATH`.
pub fn browser_on_path() -> Option<PathBuf> {
    find_browser(&std::env::var_os("PATH").unwrap_or_default())
}

/// Prints `html` (a self-contained page) to the PDF file `out` with `browser`; `None` gives the
/// readable "needs Chromium" error.
pub fn print_html(browser: Option<&Path>, html: &str, out: &Path) -> Result<()> {
    let browser = browser.ok_or_else(|| Error::Unsupported(NO_BROWSER.into()))?;
    // A fresh profile per print: no shared locks with a running browser, nothing left behind.
    let work = TempDir::new()?;
    let page = work.path().join("report.html");
    std::fs::write(&page, html)?;
    let pdf = work.path().join("report.pdf");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-pdf-header-footer",
        ])
        .arg(format!(
            "--user-data-dir={}",
            work.path().join("profile").display()
        ))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Other(format!("cannot start {}: {e}", browser.display())))?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Other(format!(
                "PDF export: {} did not finish within {} s",
                browser.display(),
                TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let printed = std::fs::read(&pdf).unwrap_or_default();
    if !printed.starts_with(b"%PDF") {
        let mut log = String::new();
        if let Some(mut err) = child.stderr.take() {
            use std::io::Read;
            let _ = err.read_to_string(&mut log);
        }
        let tail: String = log.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return Err(Error::Other(format!(
            "PDF export: {} wrote no PDF ({status}): {tail}",
            browser.display()
        )));
    }
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::input(dir, format!("cannot create the folder: {e}")))?;
    }
    std::fs::write(out, printed)
        .map_err(|e| Error::input(out, format!("cannot write the report: {e}")))
}

/// A scratch folder removed on drop (the library has no `tempfile` dependency).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("verity-pdf-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
