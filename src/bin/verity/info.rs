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
    /// models_dir, settings, profile)
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
}

pub fn info(a: &InfoArgs, cli: &Cli, settings: &Settings) -> Result<ExitCode> {
    let info = Info {
        version: verity::version(),
        device: verity::device::describe(),
        data_dir: settings.data_dir(),
        models_dir: verity::pipeline::models_dir(settings),
        settings: cli.config.clone().unwrap_or_else(Settings::default_path),
        profile: verity::pipeline::find_profile(settings),
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
    Ok(ExitCode::SUCCESS)
}
