//! `verity verify`: re-hash stored media against the database and the audit log.
use crate::common::{actor, truncate};
use anyhow::{Context, Result};
use clap::Args;
use std::process::ExitCode;
use verity::config::Settings;
use verity::store::{CaseFilter, Store};

#[derive(Args)]
pub struct VerifyArgs {
    /// Case number (or --all)
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    case: Option<i64>,
    /// Verify every case
    #[arg(long)]
    all: bool,
    /// Print one JSON result per case instead of a table
    #[arg(long)]
    json: bool,
}

pub fn verify(a: &VerifyArgs, settings: &Settings) -> Result<ExitCode> {
    let store = Store::open(&settings.data_dir())?;
    let ids: Vec<i64> = if a.all {
        let mut v: Vec<i64> = store
            .list_cases(&CaseFilter::default())?
            .into_iter()
            .map(|c| c.id)
            .collect();
        v.sort();
        v
    } else {
        vec![a.case.context("give a case number or --all")?]
    };
    let who = actor(settings);
    let mut bad = 0usize;
    if !a.json {
        println!(
            "{:>5}  {:<8} {:<30} {:<16} {:<16} note",
            "case", "result", "file", "recorded", "stored copy"
        );
    }
    for id in &ids {
        let c = store.check_media(*id, &who)?;
        bad += (!c.ok) as usize;
        if a.json {
            println!("{}", serde_json::to_string(&c)?);
        } else {
            let short = |h: &str| h.chars().take(16).collect::<String>();
            println!(
                "{:>5}  {:<8} {:<30} {:<16} {:<16} {}",
                c.case_id,
                if c.ok { "ok" } else { "MISMATCH" },
                truncate(&c.original_name, 30),
                short(&c.recorded),
                c.actual
                    .as_deref()
                    .map(short)
                    .unwrap_or_else(|| "unreadable".into()),
                c.problem.clone().unwrap_or_default()
            );
        }
    }
    if !a.json {
        println!("{} case(s) verified, {} mismatch(es)", ids.len(), bad);
    }
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
