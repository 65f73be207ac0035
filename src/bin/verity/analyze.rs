//! `verity analyze` and `verity rerun`: run the pipeline, print each summary. Ctrl-C sets the
//! core's cancel flag: the running analysis ends as `cancelled` and the command exits with 130.
use crate::choices;
use crate::common::{
    actor, cancel_flag, print_summary, progress_bar, status_code, update_bar, EXIT_CANCELLED,
};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use verity::config::Settings;
use verity::pipeline::{Analyzer, Progress};
use verity::store::Store;

#[derive(Args)]
pub struct AnalyzeArgs {
    /// Image or video files, or folders of frames, to analyse (each becomes a case)
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Video sampling rate, 3–10 frames per second
    #[arg(long)]
    fps: Option<f32>,
    /// Fusion mode: concat, weighted:<alpha> or slerp:<t> (alpha, t in [0, 1])
    #[arg(long, value_name = "MODE", value_parser = choices::fusion_mode)]
    fusion: Option<verity::models::fusion::FusionMode>,
    /// Compute device
    #[arg(long, value_enum)]
    device: Option<choices::Device>,
    /// Detector profile name or folder
    #[arg(long)]
    profile: Option<String>,
    /// How frame scores become the media score
    #[arg(long, value_enum)]
    aggregation: Option<choices::Aggregation>,
    /// Score the whole frame when no face is found
    #[arg(long)]
    full_frame: bool,
    /// Do not search frames without an upright face again turned 90°, 270° and 180°
    #[arg(long)]
    no_turned_faces: bool,
    /// Print one JSON summary per line instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct RerunArgs {
    /// Case number
    case: i64,
    /// Print the summary as JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn analyze(a: &AnalyzeArgs, settings: &mut Settings) -> Result<ExitCode> {
    if let Some(f) = a.fps {
        settings.fps = f;
    }
    if let Some(f) = &a.fusion {
        settings.fusion = Some(f.to_string());
    }
    if let Some(d) = a.device {
        settings.device = d.into();
    }
    if let Some(p) = &a.profile {
        settings.profile = Some(p.clone());
    }
    if let Some(ag) = a.aggregation {
        settings.aggregation = ag.into();
    }
    settings.score_full_frame_without_face |= a.full_frame;
    settings.find_turned_faces &= !a.no_turned_faces;
    settings.validate()?;
    let analyzer = Analyzer::new(settings)?;
    let mut store = Store::open(&settings.data_dir())?;
    let cancel = cancel_flag();
    let mut worst = 0u8;
    for p in &a.paths {
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        let bar = progress_bar(a.json);
        let cb = |ev: &Progress| update_bar(&bar, ev);
        match analyzer.analyze_path(&mut store, p, &actor(settings), &cb, cancel) {
            Ok(s) => {
                bar.finish_and_clear();
                print_summary(&s, a.json);
                worst = worse(worst, status_code(&s.status));
            }
            Err(verity::Error::Cancelled) => {
                // Stopped before its case existed (while hashing and copying): nothing stored.
                bar.finish_and_clear();
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({"file": p, "status": "cancelled", "message": "cancelled before the import finished"})
                    );
                } else {
                    println!("{}: cancelled before the import finished", p.display());
                }
                worst = worse(worst, EXIT_CANCELLED);
            }
            Err(e) => {
                bar.finish_and_clear();
                if a.json {
                    println!(
                        "{}",
                        serde_json::json!({"file": p, "status": "error", "message": e.to_string()})
                    );
                } else {
                    println!("{}: ERROR — {e}", p.display());
                }
                worst = worse(worst, 1);
            }
        }
    }
    if cancel.load(Ordering::SeqCst) {
        eprintln!("cancelled");
        worst = worse(worst, EXIT_CANCELLED);
    }
    Ok(ExitCode::from(worst))
}

pub fn rerun(a: &RerunArgs, settings: &Settings) -> Result<ExitCode> {
    let analyzer = Analyzer::new(settings)?;
    let mut store = Store::open(&settings.data_dir())?;
    let bar = progress_bar(a.json);
    let cb = |ev: &Progress| update_bar(&bar, ev);
    let s = analyzer.analyze_case(&mut store, a.case, &actor(settings), &cb, cancel_flag())?;
    bar.finish_and_clear();
    print_summary(&s, a.json);
    if s.status == "cancelled" {
        eprintln!("cancelled");
    }
    Ok(ExitCode::from(status_code(&s.status)))
}

/// Which exit status wins over several files: cancelled, then (as before the cancel flag
/// existed: the larger code) not scored over failed.
fn worse(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        EXIT_CANCELLED => 3,
        4 => 2,
        1 => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}
