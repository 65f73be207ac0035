//! `verity trust`: the trust anchors C2PA content credentials are checked against.
use crate::common::actor;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use verity::config::Settings;
use verity::provenance::trust;

#[derive(Args)]
pub struct TrustArgs {
    #[command(subcommand)]
    cmd: TrustCmd,
}

#[derive(Subcommand)]
enum TrustCmd {
    /// Install the certificates of a PEM file as trust anchors (those already installed are skipped)
    Add {
        /// PEM file with one or more X.509 certificates (-----BEGIN CERTIFICATE-----)
        #[arg(value_name = "ANCHORS.PEM")]
        file: PathBuf,
    },
    /// List the installed trust anchors: subject and SHA-256 fingerprint
    List {
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed trust anchor by its SHA-256 fingerprint (or a unique prefix of ≥ 8 digits)
    Remove {
        /// SHA-256 fingerprint as `verity trust list` prints it
        #[arg(value_name = "SHA256")]
        fingerprint: String,
    },
}

/// Records a change of the trust list in the audit log; a data folder without a database
/// yet is not created just for that.
fn audit(settings: &Settings, action: &str, details: serde_json::Value) {
    let dir = settings.data_dir();
    match verity::store::Store::open(&dir) {
        Ok(s) => {
            if let Err(e) = s.audit(&actor(settings), action, None, &details) {
                tracing::warn!("trust change not audited: {e}");
            }
        }
        Err(e) => tracing::warn!("trust change not audited: {e}"),
    }
}

pub fn trust(a: &TrustArgs, settings: &Settings) -> Result<ExitCode> {
    let dir = settings.data_dir();
    match &a.cmd {
        TrustCmd::Add { file } => {
            let n = trust::add(&dir, file)?;
            let total = trust::list(&dir)?.len();
            if n > 0 {
                audit(
                    settings,
                    "trust_add",
                    serde_json::json!({"file": file.display().to_string(), "added": n}),
                );
            }
            println!(
                "{n} trust anchor(s) added from {} ({total} installed in {})",
                file.display(),
                trust::anchors_path(&dir).display()
            );
        }
        TrustCmd::List { json } => {
            let list = trust::list(&dir)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!(
                    "no trust anchors installed: valid C2PA signatures are shown as \"signer not on a trust list\""
                );
            } else {
                for a in &list {
                    println!(
                        "{}  {}  (issuer {}, valid until {})",
                        a.sha256, a.subject, a.issuer, a.not_after
                    );
                }
            }
        }
        TrustCmd::Remove { fingerprint } => {
            let gone = trust::remove(&dir, fingerprint)?;
            audit(
                settings,
                "trust_remove",
                serde_json::json!({"sha256": gone.sha256, "subject": gone.subject}),
            );
            println!("removed {}  {}", gone.sha256, gone.subject);
        }
    }
    Ok(ExitCode::SUCCESS)
}
