//! `verity provenance`: what a case's file says about where it came from (metadata, content
//! credentials) and whether the desk has seen it before — beside the verdict, never in it.
use crate::common::print_json;
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use verity::config::Settings;
use verity::provenance::{CaseProvenance, Level};
use verity::store::Store;

#[derive(Args)]
pub struct ProvenanceArgs {
    /// Case number
    case: i64,
    /// Print the provenance as JSON (private fields left out unless --show-private)
    #[arg(long)]
    json: bool,
    /// Also show private fields: GPS position, serial numbers (personal data — share with care)
    #[arg(long)]
    show_private: bool,
    /// Read the stored copy of the media again (e.g. after installing trust anchors with
    /// `verity trust add`) and store the new result
    #[arg(long)]
    refresh: bool,
}

pub fn provenance(a: &ProvenanceArgs, settings: &Settings) -> Result<ExitCode> {
    let mut store = Store::open(&settings.data_dir())?;
    if a.refresh {
        verity::provenance::refresh(&mut store, a.case)?;
    }
    let mut view = verity::provenance::case_view(&store, a.case)?;
    if !a.show_private {
        view = view.without_private();
    }
    if a.json {
        print_json(&view)?;
    } else {
        print_text(&view, a.show_private);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(v: &CaseProvenance, shown_private: bool) {
    if v.signals.is_empty() {
        println!("Provenance signals: none");
    } else {
        println!("Provenance signals (not part of the detector's score):");
        for s in &v.signals {
            let word = match s.level {
                Level::Warning => "WARNING",
                Level::Notice => "notice ",
                Level::Info => "context",
            };
            println!("  {word}  {}  [source: {}]", s.text, s.source);
        }
    }
    let Some(p) = &v.provenance else {
        println!(
            "\nNo provenance recorded for this case (imported before this version); \
             `verity provenance {{case}} --refresh` computes it from the stored copy."
        );
        return;
    };
    println!("\nRead at {}", p.computed_at);
    for s in &p.sections {
        println!("\n{}", s.title);
        for f in &s.fields {
            let mark = if f.flagged { "!" } else { " " };
            println!(" {mark} {:<28} {}", f.label, f.value);
        }
        for problem in &s.problems {
            println!("   could not read: {problem}");
        }
    }
    if shown_private {
        println!("\n(private fields shown: GPS position and serial numbers are personal data)");
    }
}
