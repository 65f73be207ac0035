//! `verity models`: list and verify (default, text or `--json`), fetch, random, compose.
use crate::choices;
use crate::common::print_json;
use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use verity::config::Settings;
use verity::models::hub::ModelStatus;
use verity::models::profile::Profile;

#[derive(Args)]
pub struct ModelsArgs {
    /// Without a subcommand (= list): print the listing as JSON
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    cmd: Option<ModelsCmd>,
}

#[derive(Subcommand)]
pub enum ModelsCmd {
    /// List known models, whether installed, and verify their sha256
    List {
        /// Print the listing as JSON (fields: models, profiles, active_profile, ok)
        #[arg(long)]
        json: bool,
    },
    /// Download a published checkpoint from the Hugging Face hub (the only network use, on request)
    Fetch {
        /// Model name from the manifest (see `verity models list`)
        name: String,
        /// Hub endpoint (default https://huggingface.co or $HF_ENDPOINT)
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// Create an explicitly UNTRAINED random-weight profile for tests and demos
    Random {
        /// Profile folder (default: <models>/profiles/<preset>-untrained)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Architecture preset
        #[arg(long, default_value = "tiny", value_parser = choices::preset())]
        preset: String,
        /// Seed of the random weights
        #[arg(long, default_value_t = 0)]
        seed: i64,
    },
    /// Compose an UNTRAINED parent profile from fetched bases (CLIP [+ CNN]), to train with `verity train --parent`
    Compose {
        /// Profile name ("-untrained" is appended)
        #[arg(long)]
        name: String,
        /// CLIP base: a model under <models>/base/ (e.g. clip-vit-large-patch14) or its folder
        #[arg(long)]
        clip: String,
        /// Forensic CNN base (e.g. efficientnet-b4, xception)
        #[arg(long)]
        cnn: Option<String>,
        /// Fusion of the CLIP and CNN features
        #[arg(long, value_enum, default_value_t = choices::FusionKind::Concat)]
        fusion: choices::FusionKind,
        /// α of weighted / t of slerp
        #[arg(long, default_value_t = 0.5)]
        alpha: f64,
        /// Classifier on the features
        #[arg(long, value_enum, default_value_t = choices::Head::Seed)]
        head: choices::Head,
        /// Seed of the random fusion/head weights
        #[arg(long, default_value_t = 0)]
        seed: i64,
    },
}

/// `verity models --json`: the core's `ModelStatus` per manifest entry and the installed
/// profiles (their `profile.toml` plus the folder).
#[derive(Serialize)]
struct Listing {
    models: Vec<ModelStatus>,
    profiles: Vec<ProfileEntry>,
    /// The profile analyses would use now (`null`: cases will be "not scored").
    active_profile: Option<PathBuf>,
    /// False when an installed file's SHA-256 does not match (the exit status is then 1).
    ok: bool,
}

#[derive(Serialize)]
struct ProfileEntry {
    dir: PathBuf,
    #[serde(flatten)]
    profile: Profile,
}

pub fn models(a: &ModelsArgs, settings: &Settings) -> Result<ExitCode> {
    let dir = verity::pipeline::models_dir(settings);
    match &a.cmd {
        None => list(&dir, settings, a.json),
        Some(ModelsCmd::List { json }) => list(&dir, settings, *json || a.json),
        Some(ModelsCmd::Fetch { name, endpoint }) => {
            let ep = endpoint
                .clone()
                .or_else(|| std::env::var("HF_ENDPOINT").ok())
                .unwrap_or_else(|| "https://huggingface.co".into());
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {eta}",
                )
                .unwrap(),
            );
            bar.set_message(format!("fetching {name}"));
            let inst = verity::models::hub::fetch(name, &ep, &dir, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            println!("installed {name}: {inst:?}");
            Ok(ExitCode::SUCCESS)
        }
        Some(ModelsCmd::Random { out, preset, seed }) => {
            let out = out
                .clone()
                .unwrap_or_else(|| dir.join("profiles").join(format!("{preset}-untrained")));
            let p = verity::models::profile::create_random_profile(&out, preset, *seed)?;
            println!("created UNTRAINED profile '{}' in {} — its scores are labelled untrained and are not verdicts", p.name, out.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(ModelsCmd::Compose {
            name,
            clip,
            cnn,
            fusion,
            alpha,
            head,
            seed,
        }) => {
            use verity::models::compose;
            let spec = compose::ComposeSpec {
                name: name.clone(),
                clip: clip.clone(),
                cnn: cnn.clone(),
                fusion: fusion.mode(*alpha)?,
                head: (*head).into(),
                seed: *seed,
            };
            let p = compose::compose(&dir, &spec)?;
            println!("composed UNTRAINED profile '{}' in {} — train it with: verity train --parent {} --name <new name> --from-reviews (or --data <folder>)", p.name, p.dir.display(), p.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(dir: &Path, settings: &Settings, json: bool) -> Result<ExitCode> {
    let models = verity::models::hub::list(dir)?;
    let bad = models
        .iter()
        .any(|m| m.installed && m.verified == Some(false));
    let mut profiles = vec![];
    if let Ok(rd) = std::fs::read_dir(dir.join("profiles")) {
        for e in rd.flatten() {
            if let Ok(p) = verity::models::profile::load_profile(&e.path()) {
                profiles.push(ProfileEntry {
                    dir: e.path(),
                    profile: p,
                });
            }
        }
    }
    let active = verity::pipeline::find_profile(settings);
    let code = if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        print_json(&Listing {
            models,
            profiles,
            active_profile: active,
            ok: !bad,
        })?;
        return Ok(code);
    }
    for m in &models {
        let state = match (m.installed, m.verified) {
            (false, _) => "not installed",
            (true, Some(true)) => "installed, sha256 ok",
            (true, Some(false)) => "installed, SHA256 MISMATCH",
            (true, None) => "installed",
        };
        println!("{:<24} {:<28} {}", m.name, state, m.source);
    }
    for e in &profiles {
        println!(
            "profile {:<16} {}",
            e.profile.name,
            if e.profile.trained {
                "trained"
            } else {
                "UNTRAINED (random weights)"
            }
        );
    }
    if active.is_none() {
        println!(
            "\nNo trained detector installed: cases will be 'not scored'. Install one with: {}",
            verity::pipeline::INSTALL_HINT
        );
    }
    Ok(code)
}
