//! `verity explain`: Grad-CAM and artifact views of a case's frame, temporal and blink analysis.
use crate::common::{actor, print_json};
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use verity::config::Settings;
use verity::pipeline::Analyzer;
use verity::store::Store;

#[derive(Args)]
pub struct ExplainArgs {
    /// Case number
    case: i64,
    /// Sampled frame index (default: the most suspicious frame)
    #[arg(long)]
    frame: Option<i64>,
    /// Detector profile for Grad-CAM (default: as for analyze)
    #[arg(long)]
    profile: Option<String>,
    /// Print the summary and the stored explanations as JSON instead of text
    #[arg(long)]
    json: bool,
}

pub fn explain(a: &ExplainArgs, settings: &mut Settings) -> Result<ExitCode> {
    if let Some(p) = &a.profile {
        settings.profile = Some(p.clone());
    }
    let analyzer = Analyzer::new(settings)?;
    let mut store = Store::open(&settings.data_dir())?;
    let cfg = verity::explain::ExplainConfig::default();
    let ex = verity::explain::case::explain_case(
        &mut store,
        analyzer.detector(),
        a.case,
        a.frame,
        &cfg,
        &actor(settings),
    )?;
    let rows = store.explanations(a.case)?;
    if a.json {
        print_json(&serde_json::json!({"summary": ex, "explanations": rows}))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "case {} — frame {}: {} face(s), {:.2} s per face",
        ex.case_id, ex.frame, ex.faces, ex.seconds_per_face
    );
    if let Some(n) = &ex.note {
        println!("  {n}");
    }
    for r in rows.iter().filter(|r| ex.outputs.contains(&r.id)) {
        // Pictures (heat-maps, artifact views) have a file; temporal and blink views are chart
        // series (drawn by the app and the report), shown here by their summary alone.
        match &r.blob {
            Some(b) => println!(
                "  {:<12} {:<7} {}\n               {}",
                r.kind,
                r.space,
                r.summary,
                store.blobs.path(b).display()
            ),
            None => println!("  {:<12} {:<7} {}", r.kind, r.space, r.summary),
        }
    }
    for f in &ex.findings {
        println!("  {f}");
    }
    Ok(ExitCode::SUCCESS)
}
