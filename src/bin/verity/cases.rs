//! The case commands: `cases` (list), `show`, `export` and `review`.
use crate::choices;
use crate::common::{actor, human_bytes, print_json, truncate};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use verity::config::Settings;
use verity::store::{CaseFilter, Store};

#[derive(Args)]
pub struct CasesArgs {
    /// Only cases in this band or with this status
    #[arg(long, value_enum)]
    band: Option<choices::CaseFilter>,
    /// Only cases whose file name, SHA-256, tags or case note contain this text
    #[arg(long)]
    search: Option<String>,
    /// Only cases with this tag (letter case ignored)
    #[arg(long)]
    tag: Option<String>,
    /// Print the list as JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// Case number
    case: i64,
    /// Print the whole stored case as JSON instead of text
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["case", "cases", "all"])))]
pub struct ExportArgs {
    /// Case number (one case; --cases or --all export several into one ZIP)
    case: Option<i64>,
    /// Several cases into one ZIP file (--out): each case's HTML, PDF and JSON report plus
    /// summary.csv; comma-separated case numbers, e.g. 1,2,3
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    cases: Vec<i64>,
    /// Every stored case into one ZIP file (--out), like --cases
    #[arg(long)]
    all: bool,
    /// Output file (required for html, pdf and a ZIP; JSON goes to stdout without it)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Export format of a single case
    #[arg(long, value_enum, default_value_t = choices::ExportFormat::Json, conflicts_with_all = ["cases", "all"])]
    format: choices::ExportFormat,
    /// Leave the PDF reports out of the ZIP (PDF needs Chromium)
    #[arg(long, conflicts_with = "case")]
    no_pdf: bool,
}

#[derive(Args)]
pub struct ReviewArgs {
    /// Case number
    case: i64,
    /// The analyst's decision
    #[arg(value_enum)]
    verdict: choices::Verdict,
    /// Analyst name (default: `analyst` in the settings file)
    #[arg(long)]
    analyst: Option<String>,
    /// Free-text note stored with the decision
    #[arg(long, default_value = "")]
    note: String,
}

pub fn cases(a: &CasesArgs, settings: &Settings) -> Result<ExitCode> {
    let store = Store::open(&settings.data_dir())?;
    let cases = store.list_cases(&CaseFilter {
        band: a.band.map(|b| b.name()),
        search: a.search.clone(),
        tag: a.tag.clone(),
        limit: None,
    })?;
    if a.json {
        print_json(&cases)?;
    } else if cases.is_empty() {
        println!("no cases");
    } else {
        println!(
            "{:>5}  {:<12} {:<8} {:<30} note",
            "case", "status", "score", "file"
        );
        for c in cases {
            let score = c
                .score
                .map(|s| format!("{s:.3}"))
                .unwrap_or_else(|| "-".into());
            let band = c.band.clone().unwrap_or_else(|| c.status.clone());
            let mut note = if c.untrained {
                "UNTRAINED profile".to_string()
            } else {
                c.message.clone().unwrap_or_default()
            };
            // A band with a scope warning is never listed bare.
            let warnings: Vec<&str> = (c.scope.iter().flatten())
                .filter(|w| w.is_warning())
                .map(verity::scope::short_label)
                .collect();
            if !warnings.is_empty() {
                note = format!("SCOPE: {}. {note}", warnings.join(", "));
            }
            println!(
                "{:>5}  {:<12} {:<8} {:<30} {}",
                c.id,
                band,
                score,
                truncate(&c.title, 30),
                truncate(&note, 60)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(a: &ShowArgs, settings: &Settings) -> Result<ExitCode> {
    let store = Store::open(&settings.data_dir())?;
    let d = store.case_detail(a.case)?;
    if a.json {
        print_json(&d)?;
        return Ok(ExitCode::SUCCESS);
    }
    let c = &d.case;
    println!("case {} — {}", c.id, c.title);
    println!(
        "  media    {} ({}), sha256 {}",
        d.media.kind,
        human_bytes(d.media.size_bytes),
        d.media.sha256
    );
    println!("  status   {}", c.status);
    match (c.score, &c.band) {
        (Some(s), Some(b)) => println!(
            "  score    {s:.3} → {b}{}{}",
            if c.untrained {
                " (UNTRAINED profile — not a verdict)"
            } else {
                ""
            },
            // Never a bare band with a scope warning.
            if verity::scope::has_warning(c.scope.as_deref().unwrap_or_default()) {
                " — outside the detector's scope (see below)"
            } else {
                ""
            }
        ),
        _ => println!("  score    not scored"),
    }
    if let Some(scope) = &c.scope {
        crate::common::print_scope(scope, "  ");
    }
    if let Some(m) = &c.message {
        println!("  note     {m}");
    }
    if let Some(an) = &d.analysis {
        println!(
            "  analysis #{} {} — {} frames, {} faces, profile {}",
            an.id,
            an.status,
            an.frames_total,
            an.faces_total,
            an.profile.clone().unwrap_or_else(|| "-".into())
        );
    }
    let mut frames: Vec<_> = d.scores.iter().filter(|s| s.level == "frame").collect();
    frames.sort_by(|a, b| b.score.total_cmp(&a.score));
    for s in frames.iter().take(5) {
        println!("  frame {:>5}  {:.3}", s.frame_idx.unwrap_or(-1), s.score);
    }
    for r in &d.reviews {
        println!(
            "  review   {} by {} at {} {}",
            r.verdict, r.analyst, r.created_at, r.note
        );
    }
    println!("  audit    {} entries", d.audit.len());
    Ok(ExitCode::SUCCESS)
}

pub fn export(a: &ExportArgs, settings: &Settings) -> Result<ExitCode> {
    let Some(case) = a.case else {
        return export_batch(a, settings);
    };
    if let Some(format) = a.format.report() {
        let Some(out) = &a.out else {
            bail!("--format {} needs --out <file>", a.format.name());
        };
        let store = Store::open(&settings.data_dir())?;
        verity::report::export(&store, case, format, out)?;
        store.audit(
            &actor(settings),
            "export",
            Some(case),
            &serde_json::json!({"format": a.format.name(), "path": out}),
        )?;
        eprintln!("wrote {}", out.display());
        return Ok(ExitCode::SUCCESS);
    }
    let store = Store::open(&settings.data_dir())?;
    let d = store.case_detail(case)?;
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "format": "verity-case/1",
        "verity_version": verity::version(),
        "case": d,
    }))?;
    match &a.out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
            store.audit(
                &actor(settings),
                "export",
                Some(case),
                &serde_json::json!({"format": "json", "path": p}),
            )?;
            eprintln!("wrote {}", p.display());
        }
        None => println!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `verity export --cases 1,2,3 --out cases.zip` / `--all`: one ZIP of every case's reports
/// and summary.csv (`verity::export`). Exit 1 when a case is listed with an error (the others
/// are in the file); Ctrl-C stops before the next case and writes nothing.
fn export_batch(a: &ExportArgs, settings: &Settings) -> Result<ExitCode> {
    let Some(out) = &a.out else {
        bail!("a batch export needs --out <file.zip>");
    };
    let store = Store::open(&settings.data_dir())?;
    let ids: Vec<i64> = if a.all {
        let mut ids: Vec<i64> = store
            .list_cases(&CaseFilter::default())?
            .iter()
            .map(|c| c.id)
            .collect();
        ids.sort_unstable();
        ids
    } else {
        a.cases.clone()
    };
    if ids.is_empty() {
        bail!("no cases to export");
    }
    let who = actor(settings);
    let opts = if a.no_pdf {
        verity::export::BatchOptions::without_pdf(&who)
    } else {
        verity::export::BatchOptions::with_pdf(&who)
    };
    crate::common::cancel_on_ctrl_c();
    let summary = verity::export::export_cases(
        &store,
        &ids,
        out,
        &opts,
        &|p| {
            if let Some(id) = p.case_id {
                eprintln!(
                    "[{}/{}] case {id} {}",
                    p.done + 1,
                    p.total,
                    p.title.as_deref().unwrap_or("")
                );
            }
        },
        crate::common::cancel_flag(),
    )?;
    for c in summary.cases.iter().filter(|c| c.error.is_some()) {
        eprintln!(
            "case {}: {}",
            c.case_id,
            c.error.as_deref().unwrap_or_default()
        );
    }
    eprintln!(
        "wrote {} ({} case{} exported, {} with errors — see summary.csv)",
        out.display(),
        summary.exported,
        if summary.exported == 1 { "" } else { "s" },
        summary.failed
    );
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub fn review(a: &ReviewArgs, settings: &Settings) -> Result<ExitCode> {
    let v: verity::store::Verdict = a.verdict.into();
    let who = a
        .analyst
        .clone()
        .unwrap_or_else(|| settings.analyst.clone());
    if who.trim().is_empty() {
        bail!("no analyst name: pass --analyst NAME or set `analyst` in the settings file");
    }
    let mut store = Store::open(&settings.data_dir())?;
    let id = store.add_review(a.case, v.clone(), &who, &a.note)?;
    println!(
        "review {id} recorded: case {} → {} by {who}",
        a.case,
        v.as_str()
    );
    Ok(ExitCode::SUCCESS)
}
