//! API bearer tokens for `verity serve` (schema v10, table `api_tokens`).
//!
//! A token is a random secret (`vt_` + 64 hex digits, 256 bits) shown once when it is made; only
//! its SHA-256 is stored. Each token names the analyst it acts for: the server writes
//! `api:<analyst>` as the actor of every audit row a request causes. Revoking sets `revoked_at`;
//! the row is kept. Making and revoking tokens is audited.
use super::db::{params, Exec, OptionalExt};
use super::{append_audit, now, Store};
use crate::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Prefix of every secret (so a leaked one is recognisable in logs and scanners).
pub const TOKEN_PREFIX: &str = "vt_";

/// One token as `verity token list` shows it (never the secret).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TokenRow {
    pub id: i64,
    pub analyst: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// The analyst a valid (known, not revoked) token acts for.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenOwner {
    pub id: i64,
    pub analyst: String,
}

/// Hex SHA-256 of a secret, as stored.
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Makes a token for `analyst`; returns its id and the secret (shown once, not stored).
    pub fn add_token(&self, analyst: &str, actor: &str) -> Result<(i64, String)> {
        let analyst = analyst.trim();
        if analyst.is_empty() || analyst.len() > 200 || analyst.chars().any(char::is_control) {
            return Err(Error::Config(
                "a token needs an analyst name (1–200 characters, no control characters)".into(),
            ));
        }
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw)
            .map_err(|e| Error::Other(format!("cannot draw a random token: {e}")))?;
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(raw));
        let hash = token_hash(&secret);
        let at = now();
        let id = self.db.write_tx(|tx| {
            let id: i64 = tx.query_row(
                "INSERT INTO api_tokens (analyst, sha256, created_at) VALUES (?1, ?2, ?3) RETURNING id",
                params![analyst, hash, at],
                |r| r.get(0),
            )?;
            append_audit(
                tx,
                actor,
                "api_token_added",
                None,
                &serde_json::json!({"token_id": id, "analyst": analyst}),
            )?;
            Ok(id)
        })?;
        Ok((id, secret))
    }

    /// Every token, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenRow>> {
        let rows = self.db().query_map(
            "SELECT id, analyst, created_at, revoked_at FROM api_tokens ORDER BY id",
            params![],
            |r| {
                Ok(TokenRow {
                    id: r.get(0)?,
                    analyst: r.get(1)?,
                    created_at: r.get(2)?,
                    revoked_at: r.get(3)?,
                })
            },
        )?;
        Ok(rows)
    }

    /// Revokes token `id`; false when it was already revoked. An unknown id is an error.
    pub fn revoke_token(&self, id: i64, actor: &str) -> Result<bool> {
        self.db.write_tx(|tx| {
            let state: Option<Option<String>> = tx
                .query_row(
                    "SELECT revoked_at FROM api_tokens WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            match state {
                None => Err(Error::Config(format!("token {id} does not exist"))),
                Some(Some(_)) => Ok(false),
                Some(None) => {
                    tx.execute(
                        "UPDATE api_tokens SET revoked_at = ?1 WHERE id = ?2",
                        params![now(), id],
                    )?;
                    append_audit(
                        tx,
                        actor,
                        "api_token_revoked",
                        None,
                        &serde_json::json!({"token_id": id}),
                    )?;
                    Ok(true)
                }
            }
        })
    }

    /// The owner of a presented secret when it is known and not revoked.
    pub fn token_owner(&self, secret: &str) -> Result<Option<TokenOwner>> {
        Ok(self
            .db()
            .query_row(
                "SELECT id, analyst FROM api_tokens WHERE sha256 = ?1 AND revoked_at IS NULL",
                params![token_hash(secret)],
                |r| {
                    Ok(TokenOwner {
                        id: r.get(0)?,
                        analyst: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }
}
