//! `verity info`: version, compute device and folders (text or `--json`).
use crate::common::print_json;
use crate::Cli;
use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use verity::config::Settings;
use verity::device::DeviceInfo;

#[derive(Args)]
pub struct InfoArgs {
    /// Print the information as one JSON object (fields: version, device, data_dir,
    /// models_dir, settings, profile, shipped_models)
    #[arg(long)]
    json: bool,
}

/// `verity info --json`: stable field names; `device` is the core's `DeviceInfo`.
#[derive(Serialize)]
struct Info {
    version: &'static str,
    device: DeviceInfo,
    data_dir: PathBuf,
    models_dir: PathBuf,
    /// The settings file read (it need not exist: defaults apply).
    settings: PathBuf,
    /// The detector profile analyses would use now (`None`: cases will be "not scored").
    profile: Option<PathBuf>,
    /// The models the app ships (MTCNN, the CLIP vocabulary): the installed package's
    /// `share/verity-desk/models`, or the source tree's `models/`.
    shipped_models: PathBuf,
}

pub fn info(a: &InfoArgs, cli: &Cli, settings: &Settings) -> Result<ExitCode> {
    let info = Info {
        version: verity::version(),
        device: verity::device::describe(),
        data_dir: settings.data_dir(),
        models_dir: verity::pipeline::models_dir(settings),
        settings: cli.config.clone().unwrap_or_else(Settings::default_path),
        profile: verity::pipeline::find_profile(settings),
        shipped_models: verity::models::repo_models_dir(),
    };
    if a.json {
        print_json(&info)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("Verity Desk {}", info.version);
    println!("device     {}", info.device.name);
    println!("data dir   {}", info.data_dir.display());
    println!("models dir {}", info.models_dir.display());
    println!("settings   {}", info.settings.display());
    println!("shipped    {}", info.shipped_models.display());
    match &info.profile {
        Some(p) => println!("profile    {}", p.display()),
        None => println!("profile    none installed: analyses find faces but are \"not scored\""),
    }
    Ok(ExitCode::SUCCESS)
}
