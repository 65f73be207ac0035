//! `verity token add|list|revoke`: bearer tokens for `verity serve` (only their SHA-256 is kept).
use crate::common::{actor, print_json};
use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::ExitCode;
use verity::config::Settings;
use verity::store::Store;

#[derive(Args)]
pub struct TokenArgs {
    /// The store holding the tokens: postgres://user:password@host/db for a team (default: the
    /// SQLite store in the data folder)
    #[arg(long, value_name = "URL", global = true)]
    store: Option<String>,
    #[command(subcommand)]
    cmd: TokenCmd,
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Make a token for an analyst; prints the secret once (it is not stored)
    Add {
        /// The analyst the token acts for (audit rows name `api:<analyst>`)
        analyst: String,
    },
    /// List tokens (id, analyst, created, revoked) — never the secrets
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id (requests with it are refused from then on)
    Revoke {
        /// Token id (see `verity token list`)
        id: i64,
    },
}

pub fn token(a: &TokenArgs, settings: &Settings) -> Result<ExitCode> {
    if let Some(u) = &a.store {
        crate::worker::check_store_url(u)?;
    }
    let store = Store::open_with(a.store.as_deref(), &settings.data_dir()).map_err(|e| {
        crate::worker::store_error(e, &crate::worker::store_name(a.store.as_deref(), settings))
    })?;
    let who = actor(settings);
    match &a.cmd {
        TokenCmd::Add { analyst } => {
            let (id, secret) = store.add_token(analyst, &who)?;
            eprintln!(
                "token {id} for {analyst:?} — shown once, keep it secret (send it as \
                 `Authorization: Bearer <token>`):"
            );
            println!("{secret}");
        }
        TokenCmd::List { json } => {
            let rows = store.tokens()?;
            if *json {
                print_json(&rows)?;
            } else if rows.is_empty() {
                println!("no tokens (make one with `verity token add <analyst>`)");
            } else {
                for t in rows {
                    println!(
                        "{:>4}  {:<24} created {}  {}",
                        t.id,
                        t.analyst,
                        t.created_at,
                        t.revoked_at
                            .map(|r| format!("REVOKED {r}"))
                            .unwrap_or_else(|| "active".into())
                    );
                }
            }
        }
        TokenCmd::Revoke { id } => {
            if store.revoke_token(*id, &who)? {
                println!("token {id} revoked");
            } else {
                println!("token {id} was already revoked");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
