//! The case commands: `cases` (list), `show`, `export`, `review` (and `--undo`) and `annotate`.
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
    #[arg(value_enum, required_unless_present = "undo")]
    verdict: Option<choices::Verdict>,
    /// Analyst name (default: `analyst` in the settings file)
    #[arg(long)]
    analyst: Option<String>,
    /// Free-text note stored with the decision
    #[arg(long, default_value = "", conflicts_with = "undo")]
    note: String,
    /// Withdraw your last decision on the case instead (recorded as a retraction; the decision
    /// before it, if any, is the case's decision again)
    #[arg(long, conflicts_with = "verdict")]
    undo: bool,
}

#[derive(Args)]
pub struct AnnotateArgs {
    /// Case number
    case: i64,
    /// Replace the case's tags (comma-separated; "" removes them all). Each tag is at most 40
    /// characters, at most 20 per case
    #[arg(long, value_name = "TAG,TAG")]
    tags: Option<String>,
    /// Replace the case's note (at most 10 000 characters; "" removes it)
    #[arg(long, value_name = "TEXT", conflicts_with = "note_file")]
    note: Option<String>,
    /// Replace the case's note with the text of this UTF-8 file
    #[arg(long, value_name = "FILE")]
    note_file: Option<PathBuf>,
    /// Analyst name (default: `analyst` in the settings file)
    #[arg(long)]
    analyst: Option<String>,
    /// Print the tags and note as JSON
    #[arg(long)]
    json: bool,
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
        let what = if r.retracts.is_some() {
            format!("undo (withdrew {})", r.verdict)
        } else if r.retracted {
            format!("{} (undone)", r.verdict)
        } else {
            r.verdict.clone()
        };
        println!(
            "  review   {what} by {} at {} {}",
            r.analyst, r.created_at, r.note
        );
    }
    if !d.reviews.is_empty() {
        match &d.decision {
            Some(r) => println!("  decision {} by {}", r.verdict, r.analyst),
            None => println!("  decision none (every decision was undone)"),
        }
    }
    if !c.tags.is_empty() {
        println!("  tags     {}", c.tags.join(", "));
    }
    for (i, line) in d.note.lines().enumerate() {
        println!(
            "  {} {line}",
            if i == 0 { "case note" } else { "         " }
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

fn analyst_name(given: &Option<String>, settings: &Settings) -> Result<String> {
    let who = given.clone().unwrap_or_else(|| settings.analyst.clone());
    if who.trim().is_empty() {
        bail!("no analyst name: pass --analyst NAME or set `analyst` in the settings file");
    }
    Ok(who.trim().to_string())
}

pub fn review(a: &ReviewArgs, settings: &Settings) -> Result<ExitCode> {
    let who = analyst_name(&a.analyst, settings)?;
    let mut store = Store::open(&settings.data_dir())?;
    let Some(v) = a.verdict.filter(|_| !a.undo) else {
        let undo = store.undo_review(a.case, &who)?;
        println!(
            "review {} recorded: {who} withdrew the {} decision of {} on case {}",
            undo.review_id, undo.retracted.verdict, undo.retracted.created_at, a.case
        );
        match &undo.current {
            Some(r) => println!(
                "case {} decision now: {} by {}",
                a.case, r.verdict, r.analyst
            ),
            None => println!("case {} has no decision now", a.case),
        }
        return Ok(ExitCode::SUCCESS);
    };
    let v: verity::store::Verdict = v.into();
    let id = store.add_review(a.case, v.clone(), &who, &a.note)?;
    println!(
        "review {id} recorded: case {} → {} by {who}",
        a.case,
        v.as_str()
    );
    Ok(ExitCode::SUCCESS)
}

/// `verity annotate`: shows or replaces a case's tags and note (each change audited).
pub fn annotate(a: &AnnotateArgs, settings: &Settings) -> Result<ExitCode> {
    let mut store = Store::open(&settings.data_dir())?;
    let note = match (&a.note, &a.note_file) {
        (Some(n), _) => Some(n.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the note from {}", f.display()))?,
        ),
        (None, None) => None,
    };
    if a.tags.is_some() || note.is_some() {
        let who = analyst_name(&a.analyst, settings)?;
        // Both are checked before either is stored.
        let tags: Option<Vec<String>> = a
            .tags
            .as_deref()
            .map(|t| verity::store::normalize_tags(&t.split(',').collect::<Vec<_>>()))
            .transpose()?;
        if let Some(n) = &note {
            verity::store::normalize_note(n)?;
        }
        if let Some(t) = &tags {
            store.set_case_tags(a.case, t, &who)?;
        }
        if let Some(n) = &note {
            store.set_case_note(a.case, n, &who)?;
        }
    }
    let tags = store.case_tags(a.case)?;
    let note = store.case_note(a.case)?;
    if a.json {
        print_json(&serde_json::json!({"case": a.case, "tags": tags, "note": note}))?;
    } else {
        println!("case {}", a.case);
        println!(
            "  tags  {}",
            if tags.is_empty() {
                "none".to_string()
            } else {
                tags.join(", ")
            }
        );
        if note.is_empty() {
            println!("  note  none");
        } else {
            for (i, line) in note.lines().enumerate() {
                println!("  {}  {line}", if i == 0 { "note" } else { "    " });
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
