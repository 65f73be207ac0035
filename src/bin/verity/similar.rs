//! `verity similar <case>`: other cases with the same or near-same frames (perceptual hash) or
//! faces (CLIP face embedding) — "seen before", headless.
use crate::common::{print_json, truncate};
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;
use verity::config::Settings;
use verity::provenance::similar;
use verity::store::Store;

#[derive(Args)]
pub struct SimilarArgs {
    /// Case number
    case: i64,
    /// Largest Hamming distance (of 64 bits) between two frame hashes
    #[arg(long, default_value_t = similar::HAMMING_MAX, value_parser = clap::value_parser!(u32).range(0..=64))]
    hamming: u32,
    /// Smallest cosine between two face embeddings
    #[arg(long, default_value_t = similar::COSINE_MIN)]
    cosine: f32,
    /// Print the matches as JSON
    #[arg(long)]
    json: bool,
}

pub fn similar(a: &SimilarArgs, settings: &Settings) -> Result<ExitCode> {
    let store = Store::open(&settings.data_dir())?;
    let opts = similar::Options {
        hamming_max: a.hamming,
        cosine_min: a.cosine,
        ..Default::default()
    };
    let found = similar::find(&store, a.case, &opts)?;
    if a.json {
        print_json(&serde_json::json!({
            "similar": found,
            "signals": similar::signals(&found),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let day = |s: &str| s.get(..10).unwrap_or(s).to_string();
    println!(
        "Case {}: {} frame hash(es), {} face embedding(s) stored.",
        found.case_id, found.hashed_frames, found.embedded_faces
    );
    println!(
        "\nSame or near-same frames (Hamming ≤ {} of 64):",
        found.hamming_max
    );
    if found.frames.is_empty() {
        println!("  none");
    } else {
        println!(
            "  {:>5}  {:<30} {:<10} {:>8}  frames (this → other)",
            "case", "title", "date", "distance"
        );
        for m in &found.frames {
            println!(
                "  {:>5}  {:<30} {:<10} {:>8}  {} → {}",
                m.case_id,
                truncate(&m.title, 30),
                day(&m.created_at),
                if m.same_file {
                    "same file".to_string()
                } else {
                    m.distance.to_string()
                },
                m.frame_index,
                m.other_frame_index
            )
        }
    }
    println!("\nSimilar faces (cosine ≥ {:.2}):", found.cosine_min);
    if found.faces.is_empty() {
        println!("  none");
    } else {
        println!(
            "  {:>5}  {:<30} {:<10} {:>7}  faces (this → other), matched",
            "case", "title", "date", "cosine"
        );
        for m in &found.faces {
            println!(
                "  {:>5}  {:<30} {:<10} {:>7.4}  {} → {}, {}{}",
                m.case_id,
                truncate(&m.title, 30),
                day(&m.created_at),
                m.cosine,
                m.face_id,
                m.other_face_id,
                m.faces_matched,
                if m.untrained {
                    "  (UNTRAINED profile)"
                } else {
                    ""
                }
            )
        }
    }
    if let Some(s) = &found.face_search {
        println!("  searched by {s}");
    }
    for n in &found.notes {
        println!("\nNote: {n}");
    }
    Ok(ExitCode::SUCCESS)
}
