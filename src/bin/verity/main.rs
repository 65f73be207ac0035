//! `verity` — the headless face of Verity Desk: batch analysis, case listing, export, review,
//! model management and benchmarks. All logic lives in the `verity` library; this binary parses
//! the command line (one module per command group) and prints.
//!
//! Exit codes: 0 success; 1 an analysis failed, `verify` found a mismatch, or an error occurred;
//! 2 bad command line (clap lists the allowed values of every choice);
//! 4 finished but something was not scored (no detector weights, or no face found);
//! 130 cancelled with Ctrl-C (the running analysis is stored as `cancelled`).
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use verity::config::Settings;

mod analyze;
mod bench;
mod cases;
mod choices;
mod common;
mod docs;
mod explain;
mod info;
mod models;
mod similar;
mod provenance;
mod serve;
mod token;
mod train;
mod trust;
mod verify;
mod worker;

#[derive(Parser)]
#[command(
    name = "verity",
    version,
    about = "Verity Desk — offline deepfake analysis (CLI)"
)]
pub struct Cli {
    /// Settings file (default: the OS config dir's settings.toml, or $VERITY_CONFIG)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data folder with the case database and media store (default: settings / OS data dir)
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Analyse images, videos or frame folders; prints each verdict (Ctrl-C cancels)
    Analyze(analyze::AnalyzeArgs),
    /// Re-run the analysis of a stored case (e.g. an interrupted one; Ctrl-C cancels)
    Rerun(analyze::RerunArgs),
    /// List cases, optionally by band (fake, review, real) or status (failed, interrupted, …)
    Cases(cases::CasesArgs),
    /// Show one case: verdict, frames, faces, reviews, audit trail
    Show(cases::ShowArgs),
    /// Export a case as JSON (stdout or --out file), or as an HTML or PDF report (--out file;
    /// PDF needs Chromium); --cases 1,2,3 or --all: one ZIP of their reports and summary.csv
    Export(cases::ExportArgs),
    /// Re-hash the stored media of a case (or of every case with --all) against the database
    /// and the audit log's import records; exits 1 on any mismatch
    Verify(verify::VerifyArgs),
    /// Record an analyst's decision on a case, or withdraw your last one (--undo)
    Review(cases::ReviewArgs),
    /// Show or replace a case's tags and note (searchable: `cases --tag`, `cases --search`)
    Annotate(cases::AnnotateArgs),
    /// Where a case's file came from: metadata, content credentials (C2PA), seen before
    Provenance(provenance::ProvenanceArgs),
    /// Other cases with the same or near-same frames (perceptual hash) or faces (CLIP embedding)
    Similar(similar::SimilarArgs),
    /// Model weights: list and verify (default), fetch, or create a random test profile
    Models(models::ModelsArgs),
    /// Explain a case: Grad-CAM and artifact overlays of a frame's faces, temporal and blink analysis
    Explain(explain::ExplainArgs),
    /// Train a profile (LNCLIP-DF: LayerNorm-only CLIP + fusion + head) from a folder or from
    /// reviews (Ctrl-C cancels)
    Train(train::TrainArgs),
    /// Evaluate a profile on a labelled folder: AUC, EER, AP, ECE, accuracy, review-band share
    Eval(train::EvalArgs),
    /// C2PA trust anchors: add a PEM file, list (subject, SHA-256), remove by fingerprint
    Trust(trust::TrustArgs),
    /// Serve the HTTP API (team mode): jobs, cases, reports, reviews, metrics
    Serve(serve::ServeArgs),
    /// API tokens for `verity serve`: add <analyst> (prints the secret once), list, revoke <id>
    Token(token::TokenArgs),
    /// Take queued jobs from the store and analyse them (team mode; any number of workers
    /// share one PostgreSQL store); Ctrl-C or SIGTERM stops after the current job
    Worker(worker::WorkerArgs),
    /// Show the version, compute device and folders
    Info(info::InfoArgs),
    /// Benchmarks: `models` (each network vs the PyTorch peer), `pipeline` (stage timings) or
    /// `similar` (face search: brute force vs HNSW)
    Bench {
        #[command(subcommand)]
        what: bench::BenchCmd,
    },
    /// Print a shell completion script to stdout (e.g. `verity completions bash > /etc/bash_completion.d/verity`)
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff) to stdout, or write verity.1 into --out DIR
    Man(docs::ManArgs),
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) if common::is_cancelled(&e) => {
            match e.downcast_ref() {
                Some(verity::Error::Cancelled) => eprintln!("cancelled"),
                _ => eprintln!("cancelled ({e:#})"),
            }
            ExitCode::from(common::EXIT_CANCELLED)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_settings(cli: &Cli) -> Result<Settings> {
    let path = cli.config.clone().unwrap_or_else(Settings::default_path);
    let mut s = Settings::load(&path)?;
    if let Some(d) = &cli.data_dir {
        s.data_dir = Some(d.clone());
    }
    Ok(s)
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    // Documentation commands read no settings and touch no data folder.
    match &cli.cmd {
        Cmd::Completions(a) => return docs::completions(a),
        Cmd::Man(a) => return docs::man(a),
        _ => {}
    }
    let mut settings = load_settings(&cli)?;
    verity::logging::init(&settings.data_dir());
    match &cli.cmd {
        Cmd::Analyze(a) => {
            common::cancel_on_ctrl_c();
            analyze::analyze(a, &mut settings)
        }
        Cmd::Rerun(a) => {
            common::cancel_on_ctrl_c();
            analyze::rerun(a, &settings)
        }
        Cmd::Cases(a) => cases::cases(a, &settings),
        Cmd::Show(a) => cases::show(a, &settings),
        Cmd::Export(a) => cases::export(a, &settings),
        Cmd::Verify(a) => verify::verify(a, &settings),
        Cmd::Review(a) => cases::review(a, &settings),
        Cmd::Annotate(a) => cases::annotate(a, &settings),
        Cmd::Similar(a) => similar::similar(a, &settings),
        Cmd::Models(a) => models::models(a, &settings),
        Cmd::Provenance(a) => provenance::provenance(a, &settings),
        Cmd::Explain(a) => explain::explain(a, &mut settings),
        Cmd::Train(a) => {
            common::cancel_on_ctrl_c();
            train::train(a, &settings)
        }
        Cmd::Eval(a) => {
            common::cancel_on_ctrl_c();
            train::eval(a, &settings)
        }
        Cmd::Trust(a) => trust::trust(a, &settings),
        Cmd::Serve(a) => serve::serve(
            a,
            &settings,
            cli.config.clone().unwrap_or_else(Settings::default_path),
        ),
        Cmd::Token(a) => token::token(a, &settings),
        Cmd::Worker(a) => worker::worker(a, &settings),
        Cmd::Info(a) => info::info(a, &cli, &settings),
        Cmd::Bench { what } => bench::bench(what, &settings),
        Cmd::Completions(_) | Cmd::Man(_) => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every subcommand and every argument (positional or option) carries help text.
    #[test]
    fn every_argument_and_subcommand_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for s in cmd.get_subcommands() {
                let p = format!("{path} {}", s.get_name());
                if s.get_name() != "help" && s.get_about().is_none() {
                    missing.push(format!("{p} (subcommand)"));
                }
                walk(s, &p, missing);
            }
        }
        let mut missing = vec![];
        walk(&Cli::command(), "verity", &mut missing);
        assert!(missing.is_empty(), "without help text: {missing:?}");
    }
}
