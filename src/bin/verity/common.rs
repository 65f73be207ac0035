//! What several commands share: the Ctrl-C cancel flag, progress bars, summaries, JSON output
//! and small path helpers.
use anyhow::Result;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use verity::config::Settings;
use verity::pipeline::{Progress, Summary};

/// Exit status after Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_CANCELLED: u8 = 130;

static CANCEL: AtomicBool = AtomicBool::new(false);

/// The flag long commands hand to the core; set by the first Ctrl-C.
pub fn cancel_flag() -> &'static AtomicBool {
    &CANCEL
}

/// Ctrl-C sets the cancel flag (the running analysis or training stops at its next check and
/// is stored as cancelled); a second Ctrl-C quits at once.
pub fn cancel_on_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            eprintln!("\ninterrupted again: quitting now");
            std::process::exit(i32::from(EXIT_CANCELLED));
        }
        eprintln!("\ncancelling… (Ctrl-C again to quit at once)");
    });
    if let Err(e) = installed {
        tracing::warn!("Ctrl-C will not cancel cleanly: {e}");
    }
}

/// True when the error is the core's "cancelled", or Ctrl-C was pressed before it happened.
pub fn is_cancelled(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref(), Some(verity::Error::Cancelled)) || CANCEL.load(Ordering::SeqCst)
}

/// The exit status of one analysis summary: 0 done, 4 not scored, 130 cancelled, 1 otherwise.
pub fn status_code(status: &str) -> u8 {
    match status {
        "done" => 0,
        "not_scored" => 4,
        "cancelled" => EXIT_CANCELLED,
        _ => 1,
    }
}

/// The name recorded in the audit log for what this CLI does.
pub fn actor(s: &Settings) -> String {
    if s.analyst.trim().is_empty() {
        std::env::var("USER").unwrap_or_else(|_| "cli".into())
    } else {
        s.analyst.clone()
    }
}

/// A file shipped with Verity Desk: installed next to the binary, or in the source tree this
/// binary was built from.
pub fn repo_file(rel: &str) -> PathBuf {
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(rel)))
        .filter(|p| p.exists());
    here.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel))
}

/// Writes `v` as pretty JSON to `out` when given (creating its folder).
pub fn write_json(out: &Option<PathBuf>, v: &serde_json::Value) -> Result<()> {
    if let Some(p) = out {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, serde_json::to_string_pretty(v)?)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// Prints `v` as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// A profile given by name (under `<models>/profiles`) or as a folder.
pub fn profile_dir(models: &Path, name: &str) -> PathBuf {
    let p = PathBuf::from(name);
    if p.is_dir() {
        p
    } else {
        models.join("profiles").join(name)
    }
}

pub fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// The analysis progress bar on stderr (hidden for --json or when stderr is not a terminal).
pub fn progress_bar(json: bool) -> indicatif::ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:30} [{bar:30}] {pos}/{len} frames  {elapsed} eta {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    bar
}

pub fn update_bar(bar: &indicatif::ProgressBar, ev: &Progress) {
    match ev {
        Progress::Imported {
            title, existing, ..
        } => bar.set_message(format!(
            "{}{}",
            truncate(title, 24),
            if *existing { " (known)" } else { "" }
        )),
        Progress::Started {
            frames_estimate, ..
        } => bar.set_length(frames_estimate.unwrap_or(0)),
        Progress::Frames {
            decoded,
            frames_estimate,
            ..
        } => {
            if let Some(t) = frames_estimate {
                bar.set_length((*t).max(*decoded as u64));
            }
            bar.set_position(*decoded as u64);
        }
        Progress::Finished { .. } => {}
    }
}

pub fn print_summary(s: &Summary, json: bool) {
    if json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
        return;
    }
    println!("{}: {}  [case {}]", s.file, s.verdict, s.case_id);
    println!(
        "    {} frame(s), {} face(s), {} track(s), profile {}, {:.1} s",
        s.frames,
        s.faces,
        s.tracks,
        s.profile.clone().unwrap_or_else(|| "-".into()),
        s.times.total
    );
    if let Some(m) = &s.message {
        println!("    {m}");
    }
    print_scope(&s.scope, "    ");
    for p in &s.provenance {
        let word = match p.level {
            verity::provenance::Level::Warning => "provenance warning",
            verity::provenance::Level::Notice => "provenance notice",
            verity::provenance::Level::Info => "provenance context",
        };
        println!("    {word}: {}  [source: {}]", p.text, p.source);
    }
    if !s.top_frames.is_empty() && s.frames > 1 {
        let tops: Vec<String> = s
            .top_frames
            .iter()
            .map(|t| format!("#{} @{:.2}s {:.3}", t.frame, t.pts_s, t.score))
            .collect();
        println!("    top frames: {}", tops.join(", "));
    }
}

/// A case's scope list, one entry a line: `scope warning [code]: text` or `not checked: text`.
pub fn print_scope(scope: &[verity::scope::ScopeWarning], indent: &str) {
    for w in scope {
        if w.is_warning() {
            println!("{indent}scope warning [{}]: {}", w.code, w.text);
        } else {
            println!("{indent}not checked [{}]: {}", w.code, w.text);
        }
    }
}

pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

pub fn human_bytes(b: u64) -> String {
    let mut v = b as f64;
    for u in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return format!("{v:.1} {u}");
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}
