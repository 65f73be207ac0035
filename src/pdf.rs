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

/// Chromium switches for one offline print: headless, and everything that would reach the
/// network on its own switched off (we promise no network use), plus no first-run, sync,
/// extensions or default apps in the fresh profile.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pdf-header-footer",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-breakpad",
    "--disable-client-side-phishing-detection",
    "--metrics-recording-only",
    "--no-service-autorun",
    "--dns-prefetch-disable",
    "--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater",
    // Nothing but the page itself may load: every host name resolves nowhere, so not even a
    // DNS query leaves the machine (without it Chromium sends dozens at start-up).
    "--host-resolver-rules=MAP * ~NOTFOUND",
];

/// The full argument list for printing `page` to `pdf` with the profile in `profile`.
pub fn chromium_args(profile: &Path, page: &Path, pdf: &Path) -> Vec<String> {
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--print-to-pdf={}", pdf.display()));
    args.push(format!("file://{}", page.display()));
    args
}

/// Prints `html` (a self-contained page) to the PDF file `out` with `browser`; `None` gives the
/// readable "needs Chromium" error.
pub fn print_html(browser: Option<&Path>, html: &str, out: &Path) -> Result<()> {
    let browser = browser.ok_or_else(|| Error::Unsupported(NO_BROWSER.into()))?;
    // A fresh profile per print in a private folder with an unpredictable name (0700, created
    // atomically): no shared locks with a running browser, nothing left behind, nothing another
    // user can pre-create or read.
    let work = tempfile::Builder::new()
        .prefix("verity-pdf-")
        .tempdir()
        .map_err(|e| Error::Other(format!("PDF export: cannot create a temporary folder: {e}")))?;
    let page = work.path().join("report.html");
    std::fs::write(&page, html)?;
    let pdf = work.path().join("report.pdf");
    let mut child = Command::new(browser)
        .args(chromium_args(&work.path().join("profile"), &page, &pdf))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Other(format!("cannot start {}: {e}", browser.display())))?;
    // Drain stderr while the browser runs: a chatty browser would otherwise fill the pipe and
    // block until the timeout. Only the last lines are kept for the error message.
    let reader = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut tail: std::collections::VecDeque<String> = Default::default();
            for line in std::io::BufReader::new(err).lines().map_while(|l| l.ok()) {
                if tail.len() == 3 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            tail.into_iter().collect::<Vec<_>>()
        })
    });
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
        // The browser has exited; a helper process still holding the pipe would keep the
        // reader waiting, so give it a moment only.
        let tail = reader
            .and_then(|r| {
                let deadline = Instant::now() + Duration::from_secs(2);
                while !r.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                r.is_finished().then(|| r.join().ok()).flatten()
            })
            .unwrap_or_default();
        return Err(Error::Other(format!(
            "PDF export: {} wrote no PDF ({status}): {}",
            browser.display(),
            tail.join(" | ")
        )));
    }
    crate::fsutil::write_report(out, "pdf", &printed)
}
