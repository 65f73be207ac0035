//! Case storage: SQLite (WAL, versioned migrations) for cases, media, frames, faces, scores,
//! reviews, labels and the append-only audit log, plus a content-addressed blob store so a case
//! never depends on the original file's path.
//!
//! Consistency under `kill -9`: every write is one IMMEDIATE transaction (the write lock is
//! taken at BEGIN, so a read-then-write transaction can never fail half-way with
//! BUSY_SNAPSHOT), retried a bounded number of times when another process holds the lock past
//! the busy timeout. An analysis is a row with status `running` whose owner holds an OS file
//! lock (`locks/analysis-<token>.lock`) for the analysis' lifetime. When a store is opened,
//! analyses left `running` whose lock can be taken (their owner exited or was killed: the OS
//! drops its locks) become `interrupted` (and so do their cases), ready to re-run.
mod annotations;
mod blobs;
mod provenance;
pub use provenance::{CaseRef, FaceEmbedding, HashRow};
mod pg_schema;
mod schema;

/// The schema version this build writes (the number of migrations).
pub const SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;
pub mod jobs;
mod tokens;
pub use jobs::{JobEnd, JobRow, JobStats, Lease, NewJob, QueuedKind};
pub use tokens::{token_hash, TokenOwner, TokenRow, TOKEN_PREFIX};

pub use annotations::{
    normalize_note, normalize_tag, normalize_tags, TagCount, Undo, MAX_NOTE_CHARS, MAX_TAGS,
    MAX_TAG_CHARS,
};

pub use blobs::{hash_path, legacy_folder_hash, BlobStore, Staged};

use crate::{Error, Result};
pub mod db;
use db::{params, Db, Exec, OptionalExt, Tx};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// True for a `postgres://` or `postgresql://` URL.
pub fn is_postgres_url(s: &str) -> bool {
    let l = s.trim().to_ascii_lowercase();
    l.starts_with("postgres://") || l.starts_with("postgresql://")
}

/// (face id, CLIP embedding, CNN embedding) of one scored face, as written by the pipeline.
pub type EmbeddingRow<'a> = (i64, &'a [f32], Option<&'a [f32]>);
/// (CLIP embedding, CNN embedding) of one face, as read back.
pub type Embeddings = (Vec<f32>, Option<Vec<f32>>);

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A labelled case as retraining sees it ([`Store::labelled_cases`]).
#[derive(Debug, Clone)]
pub struct LabelledCase {
    pub case_id: i64,
    /// The latest label says fake (else real).
    pub fake: bool,
    /// Where the label came from (`review`, `import` …) and who gave it when.
    pub source: String,
    pub analyst: String,
    pub labelled_at: String,
    /// The case's last analysis; `None` if it was never analysed.
    pub analysis_id: Option<i64>,
    /// That analysis' face crops (empty when it found no face).
    pub faces: Vec<LabelledFace>,
}

/// One face crop of a labelled case: its blob name and landmarks (JSON `[[x, y]; 5]`).
#[derive(Debug, Clone)]
pub struct LabelledFace {
    pub face_id: i64,
    pub crop: String,
    pub landmarks: String,
}

pub struct Store {
    db: Db,
    pub blobs: BlobStore,
    data_dir: PathBuf,
    /// Owner locks of the analyses this store started and has not finished.
    owned: HashMap<i64, OwnerLock>,
    /// The queued job whose analyses this connection begins (`set_job`).
    job: Option<i64>,
}

/// Default time a write waits for another process' write lock before SQLite answers BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An exclusive OS lock on `locks/analysis-<token>.lock`, held while this process runs the
/// analysis. The OS releases it when the process exits or is killed, on every platform
/// (`flock` on Unix, `LockFileEx` on Windows), so no pid or clock is trusted.
struct OwnerLock {
    file: Option<std::fs::File>,
    path: PathBuf,
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            let _ = f.unlock();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

static LOCK_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A stored frame folder re-hashed for the v4 migration.
struct FolderRehash {
    media_id: i64,
    recorded: String,
    /// v1 hash of the stored folder now (None: unreadable).
    legacy: Option<String>,
    /// v2 manifest hash of the stored folder now.
    manifest: Option<String>,
}

/// v4: a frame folder whose stored copy still hashes (v1) to its recorded SHA-256 gets its
/// manifest hash; the v1 value is kept in `legacy_sha256`. One whose copy no longer matches
/// keeps its recorded hash (so `verity verify` reports it) and is audited.
fn apply_folder_rehash(tx: &Tx, rows: &[FolderRehash]) -> Result<()> {
    for r in rows {
        let still: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM media WHERE id = ?1",
                params![r.media_id],
                |x| x.get(0),
            )
            .optional()?;
        if still.as_deref() != Some(r.recorded.as_str()) {
            continue;
        }
        let case_id: Option<i64> = tx.query_row(
            "SELECT MIN(id) FROM cases WHERE media_id = ?1",
            params![r.media_id],
            |x| x.get(0),
        )?;
        match (&r.legacy, &r.manifest) {
            (Some(l), Some(m)) if *l == r.recorded => {
                tx.execute(
                    "UPDATE media SET legacy_sha256 = sha256, sha256 = ?1 WHERE id = ?2",
                    params![m, r.media_id],
                )?;
                append_audit(
                    tx,
                    "system",
                    "media_rehashed",
                    case_id,
                    &serde_json::json!({"media_id": r.media_id, "legacy_sha256": l, "sha256": m,
                        "scheme": "frame-folder manifest v2 (name, length, per-file SHA-256)"}),
                )?;
            }
            _ => {
                tx.execute(
                    "UPDATE media SET legacy_sha256 = sha256 WHERE id = ?1",
                    params![r.media_id],
                )?;
                append_audit(
                    tx,
                    "system",
                    "media_rehash_failed",
                    case_id,
                    &serde_json::json!({"media_id": r.media_id, "sha256": r.recorded, "found": r.legacy,
                        "reason": "the stored frame folder no longer matches its recorded SHA-256; kept for `verity verify`"}),
                )?;
            }
        }
    }
    Ok(())
}

fn lock_path(data_dir: &Path, token: &str) -> PathBuf {
    data_dir
        .join("locks")
        .join(format!("analysis-{token}.lock"))
}

use db::retry_busy;

/// A media item about to be imported.
#[derive(Debug, Clone, Serialize)]
pub struct NewMedia {
    pub original_path: PathBuf,
    pub kind: String,
    pub size_bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_s: Option<f64>,
    pub fps: Option<f64>,
    pub codec: Option<String>,
    pub container: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Imported {
    pub case_id: i64,
    pub media_id: i64,
    pub sha256: String,
    /// True when the same content was imported before: the existing case is returned.
    pub existing: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseSummary {
    pub id: i64,
    pub title: String,
    pub created_at: String,
    pub updated_at: String,
    pub status: String,
    pub score: Option<f64>,
    pub band: Option<String>,
    pub untrained: bool,
    pub profile: Option<String>,
    pub message: Option<String>,
    pub media_kind: String,
    pub sha256: String,
    /// Scope entries of the last analysis (`scope::assess`): why its verdict is less reliable.
    /// None when never assessed (analyses made before schema v7, or still running).
    pub scope: Option<Vec<crate::scope::ScopeWarning>>,
    /// The analyst's labels for the case (`normalize_tags`), in their order.
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MediaRow {
    pub id: i64,
    pub sha256: String,
    pub original_name: String,
    pub original_path: String,
    pub kind: String,
    pub size_bytes: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_s: Option<f64>,
    pub fps: Option<f64>,
    pub codec: Option<String>,
    pub container: Option<String>,
    pub blob: String,
    pub imported_at: String,
    /// When the stored copy last re-hashed to `sha256` (`verity verify`, before an analysis
    /// or a report); None when never checked since import.
    pub verified_at: Option<String>,
}

/// The result of re-hashing one case's stored media against the database and the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct MediaCheck {
    pub case_id: i64,
    pub media_id: i64,
    pub original_name: String,
    pub kind: String,
    pub blob: String,
    /// SHA-256 recorded in the database.
    pub recorded: String,
    /// SHA-256 of the stored copy now; None when it could not be read.
    pub actual: Option<String>,
    /// SHA-256 values in the case's `import` audit records.
    pub audit: Vec<String>,
    pub ok: bool,
    /// What is wrong, for the analyst; None when ok.
    pub problem: Option<String>,
    pub verified_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FrameRow {
    pub idx: i64,
    pub source_index: i64,
    pub pts_s: f64,
    pub keyframe: bool,
    pub motion: f64,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct FaceRow {
    pub id: i64,
    pub frame_idx: i64,
    pub track_id: i64,
    pub bbox: [f32; 4],
    pub det_prob: f32,
    pub landmarks: [[f32; 2]; 5],
    /// The detector's input (e.g. 224², blob path), as scored.
    pub crop: Option<String>,
    /// The same face at the frame's resolution (≤ 512², JPEG), for display (None before v3).
    pub native_crop: Option<String>,
    pub full_frame: bool,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScoreRow {
    pub level: String,
    pub face_id: Option<i64>,
    pub frame_idx: Option<i64>,
    pub track_id: Option<i64>,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnalysisRow {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
    pub settings_json: String,
    pub profile: Option<String>,
    pub weight_hashes: Option<String>,
    pub untrained: bool,
    pub error: Option<String>,
    pub frames_total: i64,
    pub faces_total: i64,
    /// How faces were prepared for the detector (`Preprocessing::describe`); None before v3
    /// or without a detector.
    pub preprocessing: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReviewRow {
    pub id: i64,
    pub verdict: String,
    pub analyst: String,
    pub note: String,
    pub created_at: String,
    /// Set on an undo: the decision this row withdraws (`verdict` repeats that decision's).
    pub retracts: Option<i64>,
    /// A later row withdrew this decision.
    pub retracted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub case_id: Option<i64>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseDetail {
    pub case: CaseSummary,
    pub media: MediaRow,
    pub analysis: Option<AnalysisRow>,
    pub frames: Vec<FrameRow>,
    pub faces: Vec<FaceRow>,
    pub scores: Vec<ScoreRow>,
    /// Every review row, retractions included, oldest first (the full history).
    pub reviews: Vec<ReviewRow>,
    /// The current decision: the newest one not withdrawn (`Store::current_decision`).
    pub decision: Option<ReviewRow>,
    /// The case's free-text note ("" when none).
    pub note: String,
    pub audit: Vec<AuditRow>,
}

/// Filter for the case list; all fields optional.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CaseFilter {
    /// fake | review | real | failed | interrupted | not_scored | running | pending
    pub band: Option<String>,
    /// Text in the file name, SHA-256, tags or case note.
    pub search: Option<String>,
    /// Only cases with this tag (letter case ignored).
    pub tag: Option<String>,
    pub limit: Option<usize>,
}

/// What one analysis produced, written in a single transaction by `finish_analysis`.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// done | not_scored | failed | cancelled
    pub status: String,
    pub score: Option<f64>,
    pub band: Option<String>,
    pub profile: Option<String>,
    pub weight_hashes: Vec<(String, String)>,
    pub untrained: bool,
    pub message: Option<String>,
    pub scores: Vec<ScoreRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Fake,
    Real,
    Unsure,
}

impl std::str::FromStr for Verdict {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fake" | "f" => Ok(Verdict::Fake),
            "real" | "r" => Ok(Verdict::Real),
            "unsure" | "u" | "skip" => Ok(Verdict::Unsure),
            _ => Err(Error::Config(format!(
                "verdict must be fake, real or unsure, not {s:?}"
            ))),
        }
    }
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Fake => "fake",
            Verdict::Real => "real",
            Verdict::Unsure => "unsure",
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`: `verity.db` + `blobs/`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        // Owner-only (0700 folder, 0600 database): evidence, decisions and logs live here.
        crate::fsutil::private_dir(data_dir)
            .map_err(|e| Error::input(data_dir, format!("cannot create the data folder: {e}")))?;
        // Created 0600 before SQLite opens it (its -wal/-shm files copy the database's mode).
        let db = data_dir.join("verity.db");
        if !db.exists() {
            let _ = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&db)
                .and_then(|_| crate::fsutil::private_file(&db));
        }
        let conn = rusqlite::Connection::open(&db)?;
        let _ = crate::fsutil::private_file(&db);
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching a new database to WAL needs a moment of exclusive access: another process
        // opening it at the same time answers BUSY, so this is retried like a write.
        retry_busy(|| {
            let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            Ok(mode)
        })?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store {
            db: Db::Sqlite(conn),
            blobs: BlobStore::new(data_dir.join("blobs")),
            data_dir: data_dir.to_path_buf(),
            owned: HashMap::new(),
            job: None,
        };
        store.migrate()?;
        store.recover_interrupted()?;
        store.blobs.sweep_staging(Duration::from_secs(24 * 3600));
        Ok(store)
    }

    /// Opens the store `url` names: `postgres://…` / `postgresql://…` is a team's shared
    /// PostgreSQL database (blobs, frame copies and derived images stay under `data_dir`, which
    /// a team mounts from shared storage on every machine); anything else is ignored and the
    /// embedded SQLite store in `data_dir` is opened. `None`: SQLite.
    pub fn open_with(url: Option<&str>, data_dir: &Path) -> Result<Self> {
        match url {
            Some(u) if is_postgres_url(u) => Self::open_postgres(u, data_dir),
            _ => Self::open(data_dir),
        }
    }

    /// Opens (creating the schema if needed) a PostgreSQL store; blobs live in `data_dir`. An
    /// unreachable server is waited for up to [`db::PG_RECONNECT`], at the start and whenever
    /// the connection breaks (a worker rides out a restart).
    pub fn open_postgres(url: &str, data_dir: &Path) -> Result<Self> {
        Self::open_postgres_within(url, data_dir, db::PG_RECONNECT)
    }

    /// [`Self::open_postgres`] waiting at most `wait` for the server (an HTTP request answers
    /// 503 sooner rather than hang through an outage).
    pub fn open_postgres_within(url: &str, data_dir: &Path, wait: Duration) -> Result<Self> {
        crate::fsutil::private_dir(data_dir)
            .map_err(|e| Error::input(data_dir, format!("cannot create the data folder: {e}")))?;
        let db = Db::Pg(db::PgConn::connect_within(url, wait)?);
        pg_schema::migrate(&db, SCHEMA_VERSION)?;
        let store = Store {
            db,
            blobs: BlobStore::new(data_dir.join("blobs")),
            data_dir: data_dir.to_path_buf(),
            owned: HashMap::new(),
            job: None,
        };
        store.blobs.sweep_staging(Duration::from_secs(24 * 3600));
        Ok(store)
    }

    /// Sets how long a write waits for another process' lock before it answers BUSY (and is
    /// retried a few times). Default 10 s.
    pub fn set_busy_timeout(&self, d: Duration) -> Result<()> {
        if let Some(c) = self.db.sqlite() {
            c.busy_timeout(d)?;
        }
        Ok(())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The raw SQLite connection, for tests and diagnostics only: the rest of the product reads
    /// and writes through `Store`'s methods (only `src/store` holds SQL). Panics on a
    /// PostgreSQL store (use [`Self::db`]).
    pub fn conn(&self) -> &rusqlite::Connection {
        self.db
            .sqlite()
            .expect("Store::conn() is the SQLite connection; this store is PostgreSQL")
    }

    /// The engine-neutral connection, for tests and diagnostics on either back-end.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// True when this store is a PostgreSQL database.
    pub fn is_postgres(&self) -> bool {
        self.db.is_pg()
    }

    /// Every case with a fake/real label: its latest label, and the face crops (not full-frame
    /// stand-ins) of its last analysis — what retraining from reviews learns from.
    pub fn labelled_cases(&self) -> Result<Vec<LabelledCase>> {
        let mut cases: Vec<LabelledCase> = self.db.query_map(
            "SELECT l.case_id, l.label, l.source, l.analyst, l.created_at, c.last_analysis_id
             FROM labels l JOIN cases c ON c.id = l.case_id
             WHERE l.id IN (SELECT MAX(l2.id) FROM labels l2
                            WHERE l2.review_id IS NULL
                               OR NOT EXISTS (SELECT 1 FROM reviews x WHERE x.retracts = l2.review_id)
                            GROUP BY l2.case_id)
             ORDER BY l.case_id",
            params![],
            |r| {
                Ok(LabelledCase {
                    case_id: r.get(0)?,
                    fake: r.get::<i64>(1)? == 1,
                    source: r.get(2)?,
                    analyst: r.get(3)?,
                    labelled_at: r.get(4)?,
                    analysis_id: r.get(5)?,
                    faces: Vec::new(),
                })
            })?;
        for case in &mut cases {
            if let Some(aid) = case.analysis_id {
                case.faces = self.db.query_map(
                    "SELECT id, crop, landmarks FROM faces
                     WHERE analysis_id = ?1 AND crop IS NOT NULL AND full_frame = 0 ORDER BY id",
                    params![aid],
                    |r| {
                        Ok(LabelledFace {
                            face_id: r.get(0)?,
                            crop: r.get(1)?,
                            landmarks: r.get(2)?,
                        })
                    },
                )?;
            }
        }
        Ok(cases)
    }

    pub fn schema_version(&self) -> Result<i64> {
        match self.db.sqlite() {
            Some(c) => Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?),
            None => pg_schema::version(&self.db),
        }
    }

    /// Path of the copy taken before migrating a database from schema `v`.
    pub fn backup_path(&self, v: i64) -> PathBuf {
        self.data_dir.join(format!("verity.db.bak-v{v}"))
    }

    /// Brings the schema up to date. Each step is one IMMEDIATE transaction that re-reads the
    /// version inside it, so two processes opening a new (or old) database at once apply each
    /// migration exactly once. Before an existing database (version ≥ 1) is migrated, a
    /// consistent copy is written to `verity.db.bak-v<N>` with `VACUUM INTO`.
    fn migrate(&mut self) -> Result<()> {
        let known = schema::MIGRATIONS.len() as i64;
        let newer = |v: i64| {
            Error::Other(format!(
                "the database was written by a newer Verity Desk (schema v{v}, this build knows v{known})"
            ))
        };
        let current = self.schema_version()?;
        if current > known {
            return Err(newer(current));
        }
        if current == known {
            return Ok(());
        }
        if current >= 1 {
            self.backup_before_migration(current)?;
        }
        loop {
            // Work that reads many files (re-hashing stored frame folders) is done before the
            // write lock is taken; the transaction only applies it.
            let v = self.schema_version()?;
            let rehash = if v == 3 {
                self.rehash_legacy_folders()?
            } else {
                vec![]
            };
            let data_dir = self.data_dir.clone();
            let advanced = self.db.write_tx(|tx| {
                let t = tx.sqlite().expect("SQLite migrations run on SQLite");
                let v: i64 = t.pragma_query_value(None, "user_version", |r| r.get(0))?;
                if v > known {
                    return Err(newer(v));
                }
                if v >= known {
                    return Ok(false);
                }
                tx.execute_batch(schema::MIGRATIONS[v as usize])?;
                if v + 1 == 4 {
                    apply_folder_rehash(tx, &rehash)?;
                }
                t.pragma_update(None, "user_version", v + 1)?;
                append_audit(
                    tx,
                    "system",
                    "schema_migrated",
                    None,
                    &serde_json::json!({"from": v, "to": v + 1, "data_dir": data_dir}),
                )?;
                Ok(true)
            })?;
            if !advanced {
                return Ok(());
            }
        }
    }

    fn backup_before_migration(&self, v: i64) -> Result<()> {
        let dst = self.backup_path(v);
        if dst.exists() {
            return Ok(());
        }
        // VACUUM INTO refuses an existing target: write to a private name, then rename.
        let tmp = self.data_dir.join(format!(
            ".verity.db.bak-v{v}.{}.{}.tmp",
            std::process::id(),
            LOCK_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&tmp);
        let done = retry_busy(|| {
            self.db
                .execute("VACUUM INTO ?1", params![tmp.to_string_lossy().as_ref()])?;
            Ok(())
        })
        .and_then(|_| {
            if !dst.exists() {
                std::fs::rename(&tmp, &dst)?;
            }
            Ok(())
        });
        let _ = std::fs::remove_file(&tmp);
        done.map_err(|e| {
            Error::input(
                &dst,
                format!("cannot back up the database before upgrading its schema (nothing was changed): {e}"),
            )
        })
    }

    /// For the v4 migration: re-hash each stored frame folder with the v2 manifest scheme.
    /// Returns (media id, recorded hash, v1 hash of the stored folder, manifest hash).
    fn rehash_legacy_folders(&self) -> Result<Vec<FolderRehash>> {
        let rows: Vec<(i64, String, String)> = self.db.query_map(
            "SELECT id, sha256, blob FROM media WHERE blob LIKE '%.d' ORDER BY id",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(rows
            .into_iter()
            .map(|(id, recorded, blob)| {
                let p = self.blobs.path(&blob);
                let legacy = legacy_folder_hash(&p).ok();
                let manifest = hash_path(&p).ok();
                FolderRehash {
                    media_id: id,
                    recorded,
                    legacy,
                    manifest,
                }
            })
            .collect())
    }

    /// Marks analyses left `running` by a process that is gone as interrupted: their owner
    /// lock can be taken (the OS released it when the owner exited or was killed). Analyses
    /// of live processes, this one included, keep their lock and are left alone. Returns how
    /// many were recovered.
    pub fn recover_interrupted(&mut self) -> Result<usize> {
        if self.db.is_pg() {
            // Workers on other machines hold no lock file here: on PostgreSQL a job's lease
            // says whether its owner is alive (`jobs`), and a re-leased job's old analysis is
            // marked interrupted by the worker that takes it over.
            return Ok(0);
        }
        let running: Vec<(i64, i64, i64, Option<String>)> = self.db.query_map(
            "SELECT id, case_id, pid, owner_lock FROM analyses WHERE status = 'running'",
            params![],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let mut n = 0;
        for (aid, case_id, pid, token) in running {
            if self.owned.contains_key(&aid) {
                continue;
            }
            // Probe the owner's lock. Rows from before schema v4 have none: their owner was an
            // older build, which cannot be asked, so they are treated as orphaned.
            let mut probe: Option<(std::fs::File, PathBuf)> = None;
            if let Some(t) = &token {
                let path = lock_path(&self.data_dir, t);
                // The owner removes its lock file only after its row left `running`, so a
                // missing file means it ended without finishing (or just finished: the status
                // is re-checked below).
                if let Ok(f) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                {
                    match f.try_lock() {
                        Ok(()) => probe = Some((f, path)),
                        Err(std::fs::TryLockError::WouldBlock) => continue, // alive
                        Err(std::fs::TryLockError::Error(e)) => {
                            tracing::warn!(
                                "cannot probe {}: {e}; leaving analysis {aid} running",
                                path.display()
                            );
                            continue;
                        }
                    }
                }
            }
            let changed = self.db.write_tx(|tx| {
                let at = now();
                let k = tx.execute(
                    "UPDATE analyses SET status = 'interrupted', finished_at = ?1,
                     error = 'the analysis was interrupted before it finished' WHERE id = ?2 AND status = 'running'",
                    params![at, aid],
                )?;
                if k == 0 {
                    return Ok(false);
                }
                tx.execute(
                    "UPDATE cases SET status = 'interrupted', updated_at = ?1,
                     message = 'Analysis was interrupted (the app or CLI stopped). Re-run it.' WHERE id = ?2 AND last_analysis_id = ?3",
                    params![at, case_id, aid],
                )?;
                append_audit(
                    tx,
                    "system",
                    "analysis_interrupted",
                    Some(case_id),
                    &serde_json::json!({"analysis_id": aid, "pid": pid}),
                )?;
                Ok(true)
            })?;
            if let Some((f, path)) = probe {
                let _ = f.unlock();
                drop(f);
                let _ = std::fs::remove_file(path);
            }
            n += changed as usize;
        }
        Ok(n)
    }

    /// Copies the media into the content store and creates its case, or finds the existing
    /// case when the same content was imported before.
    pub fn import(&mut self, media: &NewMedia, actor: &str) -> Result<Imported> {
        self.import_cancellable(media, actor, None)
    }

    /// [`Self::import`] that stops (removing its partial copy) when `cancel` is set.
    ///
    /// The original is read once: it is copied into the blob folder while the copy is hashed,
    /// so the recorded SHA-256 is that of the stored bytes. When that content was stored before,
    /// the existing blob is re-hashed; a damaged one is replaced by the new copy (audited).
    pub fn import_cancellable(
        &mut self,
        media: &NewMedia,
        actor: &str,
        cancel: Option<&std::sync::atomic::AtomicBool>,
    ) -> Result<Imported> {
        let staged = self.blobs.stage(&media.original_path, cancel)?;
        let sha = staged.sha256.clone();
        let name = media
            .original_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| media.original_path.display().to_string());
        let existing_media: Option<(i64, String)> = self
            .db
            .query_row(
                "SELECT id, blob FROM media WHERE sha256 = ?1",
                params![&sha],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // The stored name for this content: the existing row's, or the content address.
        let rel = existing_media
            .as_ref()
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| BlobStore::rel_name(&staged));
        let (blob, replaced) = self.blobs.commit(staged, &rel)?;
        let at = now();
        let path_s = media.original_path.display().to_string();
        let (case_id, media_id, existing) = self.db.write_tx(|tx| {
            if replaced {
                append_audit(
                    tx,
                    actor,
                    "blob_repaired",
                    None,
                    &serde_json::json!({"sha256": sha, "blob": blob, "from": path_s,
                        "reason": "the stored copy did not match its SHA-256 and was replaced by a new copy that does"}),
                )?;
            }
            // Re-checked under the write lock: another process may have imported it meanwhile.
            let found: Option<(i64, Option<i64>)> = tx
                .query_row(
                    "SELECT m.id, (SELECT MAX(c.id) FROM cases c WHERE c.media_id = m.id) FROM media m WHERE m.sha256 = ?1", params![&sha],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((media_id, Some(case_id))) = found {
                append_audit(
                    tx,
                    actor,
                    "reimport",
                    Some(case_id),
                    &serde_json::json!({"path": media.original_path, "sha256": sha}),
                )?;
                return Ok((case_id, media_id, true));
            }
            tx.execute(
                "INSERT INTO media (sha256, original_name, original_path, kind, size_bytes, width, height, duration_s, fps,
                                    codec, container, blob, imported_at, verified_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
                 ON CONFLICT(sha256) DO NOTHING",
                params![
                    sha,
                    name,
                    path_s,
                    media.kind,
                    media.size_bytes as i64,
                    media.width,
                    media.height,
                    media.duration_s,
                    media.fps,
                    media.codec,
                    media.container,
                    blob,
                    at
                ],
            )?;
            let media_id: i64 =
                tx.query_row("SELECT id FROM media WHERE sha256 = ?1", params![&sha], |r| {
                    r.get(0)
                })?;
            let case_id: i64 = tx.query_row(
                "INSERT INTO cases (media_id, title, created_at, updated_at, status) VALUES (?1, ?2, ?3, ?3, 'pending')
                 RETURNING id",
                params![media_id, name, at],
                |r| r.get(0),
            )?;
            append_audit(
                tx,
                actor,
                "import",
                Some(case_id),
                &serde_json::json!({"file": name, "sha256": sha, "kind": media.kind, "blob": blob}),
            )?;
            Ok((case_id, media_id, false))
        })?;
        Ok(Imported {
            case_id,
            media_id,
            sha256: sha,
            existing,
        })
    }

    /// Re-hashes the stored copy of a case's media and compares it with the SHA-256 in the
    /// database and in the case's `import` audit records. Records the outcome: `verified_at`
    /// and a `media_verified` audit row when it matches, a `media_mismatch` row when not.
    pub fn check_media(&self, case_id: i64, actor: &str) -> Result<MediaCheck> {
        self.case(case_id)?; // "case N does not exist"
        let m = self.media_of_case(case_id)?;
        let legacy: Option<String> = self.db.query_row(
            "SELECT legacy_sha256 FROM media WHERE id = ?1",
            params![m.id],
            |r| r.get(0),
        )?;
        let audit: Vec<String> = self
            .audit_log(Some(case_id))?
            .into_iter()
            .filter(|a| a.action == "import")
            .filter_map(|a| a.details["sha256"].as_str().map(str::to_string))
            .collect();
        let path = self.blobs.path(&m.blob);
        let actual = hash_path(&path);
        let mut problems = Vec::new();
        match &actual {
            Ok(h) if *h == m.sha256 => {}
            Ok(h) => problems.push(format!(
                "the stored copy hashes to {h}, not to the SHA-256 recorded at import ({})",
                m.sha256
            )),
            Err(e) => problems.push(format!(
                "the stored copy cannot be read ({})",
                crate::error::rename_in_text(&e.to_string(), &path, &m.original_name)
            )),
        }
        if audit.is_empty() {
            problems.push("the audit log has no import record for this case".into());
        }
        for a in &audit {
            if *a != m.sha256 && Some(a) != legacy.as_ref() {
                problems.push(format!(
                    "the audit log's import record says {a}, the database says {}",
                    m.sha256
                ));
            }
        }
        let ok = problems.is_empty();
        let at = now();
        let actual = actual.ok();
        let details = serde_json::json!({"file": m.original_name, "blob": m.blob, "sha256": m.sha256,
                                         "actual": actual, "problems": problems});
        self.db.write_tx(|tx| {
            if ok {
                tx.execute(
                    "UPDATE media SET verified_at = ?1 WHERE id = ?2",
                    params![at, m.id],
                )?;
            }
            append_audit(
                tx,
                actor,
                if ok {
                    "media_verified"
                } else {
                    "media_mismatch"
                },
                Some(case_id),
                &details,
            )
        })?;
        Ok(MediaCheck {
            case_id,
            media_id: m.id,
            original_name: m.original_name,
            kind: m.kind,
            blob: m.blob,
            recorded: m.sha256,
            actual,
            audit,
            ok,
            problem: (!ok).then(|| problems.join("; ")),
            verified_at: if ok { Some(at) } else { m.verified_at },
        })
    }

    /// [`Self::check_media`] that fails, naming the original file, when the stored copy does
    /// not match: used before an analysis and before a report.
    pub fn verify_case_media(&self, case_id: i64, actor: &str) -> Result<MediaCheck> {
        let c = self.check_media(case_id, actor)?;
        if !c.ok {
            return Err(Error::input(
                &c.original_name,
                format!(
                    "the case store's copy of this file failed verification: {}. Nothing was analysed or reported; run `verity verify {}` for details",
                    c.problem.clone().unwrap_or_default(),
                    case_id
                ),
            ));
        }
        Ok(c)
    }

    /// Starts an analysis: a `running` row owned by this process, which holds the row's owner
    /// lock until [`Self::finish_analysis`]; the case points at it.
    pub fn begin_analysis(
        &mut self,
        case_id: i64,
        settings_json: &str,
        actor: &str,
    ) -> Result<i64> {
        let at = now();
        // The lock is taken before the row exists, so no other process can ever see this
        // analysis `running` without a held lock.
        let token = format!(
            "{}-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            LOCK_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let path = lock_path(&self.data_dir, &token);
        let lock_err = |e: std::io::Error| {
            Error::input(&path, format!("cannot create the analysis lock file: {e}"))
        };
        std::fs::create_dir_all(path.parent().unwrap_or(&self.data_dir)).map_err(lock_err)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(lock_err)?;
        // Dropped on any error below: unlocks and removes the file.
        let mut lock = OwnerLock {
            file: None,
            path: path.clone(),
        };
        file.lock().map_err(lock_err)?;
        lock.file = Some(file);
        let aid = self.db.write_tx(|tx| {
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM cases WHERE id = ?1", params![case_id], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_none() {
                return Err(Error::Other(format!("case {case_id} does not exist")));
            }
            let aid: i64 = tx.query_row(
                "INSERT INTO analyses (case_id, started_at, status, pid, settings_json, owner_lock, job_id)
                 VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6) RETURNING id",
                params![case_id, at, std::process::id() as i64, settings_json, token, self.job],
                |r| r.get(0),
            )?;
            tx.execute(
                "UPDATE cases SET status = 'running', updated_at = ?1, message = NULL, last_analysis_id = ?2 WHERE id = ?3",
                params![at, aid, case_id],
            )?;
            append_audit(
                tx,
                actor,
                "analysis_start",
                Some(case_id),
                &serde_json::json!({"analysis_id": aid}),
            )?;
            Ok(aid)
        })?;
        self.owned.insert(aid, lock);
        Ok(aid)
    }

    /// Writes one batch of frames and their faces in a transaction; returns the face ids in order.
    pub fn add_frames(
        &mut self,
        analysis_id: i64,
        frames: &[FrameRow],
        faces: &[FaceRow],
    ) -> Result<Vec<i64>> {
        self.db.write_tx(|tx| {
            let mut ids = Vec::with_capacity(faces.len());
            {
                for f in frames {
                    tx.execute(
                        "INSERT INTO frames (analysis_id, idx, source_index, pts_s, keyframe, motion, width, height)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        params![
                            analysis_id,
                            f.idx,
                            f.source_index,
                            f.pts_s,
                            f.keyframe,
                            f.motion,
                            f.width,
                            f.height
                        ],
                    )?;
                }
                for f in faces {
                    let id: i64 = tx.query_row(
                        "INSERT INTO faces (frame_id, analysis_id, track_id, x1, y1, x2, y2, det_prob, landmarks, crop, full_frame, native_crop)
                         VALUES ((SELECT id FROM frames WHERE analysis_id = ?1 AND idx = ?2), ?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                         RETURNING id",
                        params![
                            analysis_id,
                            f.frame_idx,
                            f.track_id,
                            f.bbox[0],
                            f.bbox[1],
                            f.bbox[2],
                            f.bbox[3],
                            f.det_prob,
                            serde_json::to_string(&f.landmarks).unwrap_or_default(),
                            f.crop,
                            f.full_frame,
                            f.native_crop
                        ],
                        |r| r.get(0),
                    )?;
                    ids.push(id);
                }
            }
            tx.execute(
            "UPDATE analyses SET frames_total = frames_total + ?1, faces_total = faces_total + ?2 WHERE id = ?3",
            params![frames.len() as i64, faces.len() as i64, analysis_id],
        )?;
            Ok(ids)
        })
    }

    /// Ends an analysis: its scores, the case's verdict fields and an audit entry, atomically
    /// (retried while another process holds the write lock). If that still fails, the analysis
    /// and its case are marked `failed` with the reason, never left `running`, and the error is
    /// returned. The owner lock is released either way.
    pub fn finish_analysis(&mut self, analysis_id: i64, out: &Outcome, actor: &str) -> Result<()> {
        let r = self.write_outcome(analysis_id, out, actor);
        if let Err(e) = &r {
            let reason = format!("the result could not be saved: {e}");
            tracing::error!("analysis {analysis_id}: {reason}");
            if let Err(e2) = self.mark_failed(analysis_id, &reason, actor) {
                tracing::error!("analysis {analysis_id}: cannot mark it failed either: {e2}");
            }
        }
        // Releasing the lock lets any store recover the row if even marking it failed did not
        // get through.
        self.owned.remove(&analysis_id);
        r
    }

    /// Marks a running analysis and its case `failed` with `reason`.
    fn mark_failed(&self, analysis_id: i64, reason: &str, actor: &str) -> Result<()> {
        self.db.write_tx(|tx| {
            let at = now();
            let case_id: i64 = tx.query_row(
                "SELECT case_id FROM analyses WHERE id = ?1", params![analysis_id],
                |r| r.get(0),
            )?;
            tx.execute(
                "UPDATE analyses SET status = 'failed', finished_at = ?1, error = ?2 WHERE id = ?3 AND status = 'running'",
                params![at, reason, analysis_id],
            )?;
            tx.execute(
                "UPDATE cases SET status = 'failed', updated_at = ?1, message = ?2 WHERE id = ?3 AND last_analysis_id = ?4",
                params![at, reason, case_id, analysis_id],
            )?;
            append_audit(
                tx,
                actor,
                "analysis_end",
                Some(case_id),
                &serde_json::json!({"analysis_id": analysis_id, "status": "failed", "error": reason}),
            )
        })
    }

    fn write_outcome(&self, analysis_id: i64, out: &Outcome, actor: &str) -> Result<()> {
        let at = now();
        let hashes = serde_json::to_string(&out.weight_hashes).unwrap_or_else(|_| "[]".into());
        let profile = out.profile.clone().unwrap_or_default();
        self.db.write_tx(|tx| {
            let case_id: i64 = tx.query_row(
                "SELECT case_id FROM analyses WHERE id = ?1", params![analysis_id],
                |r| r.get(0),
            )?;
            {
                for s in &out.scores {
                    tx.execute(
                        "INSERT INTO scores (analysis_id, level, face_id, frame_idx, track_id, score, profile, weight_hashes, untrained)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![
                            analysis_id,
                            s.level,
                            s.face_id,
                            s.frame_idx,
                            s.track_id,
                            s.score,
                            profile,
                            hashes,
                            out.untrained
                        ],
                    )?;
                }
            }
            // Only a running analysis takes a result: one marked interrupted meanwhile (its
            // job was taken over by another worker) must not overwrite the case.
            let n = tx.execute(
                "UPDATE analyses SET status = ?1, finished_at = ?2, profile = ?3, weight_hashes = ?4, untrained = ?5, error = ?6
                 WHERE id = ?7 AND status = 'running'",
                params![out.status, at, out.profile, hashes, out.untrained, out.message, analysis_id],
            )?;
            if n == 0 {
                return Err(Error::Other(format!(
                    "analysis {analysis_id} is no longer running (it was interrupted, or another worker took its job over): its result is not saved"
                )));
            }
            tx.execute(
            "UPDATE cases SET status = ?1, updated_at = ?2, score = ?3, band = ?4, untrained = ?5, profile = ?6, message = ?7
             WHERE id = ?8 AND last_analysis_id = ?9",
            params![out.status, at, out.score, out.band, out.untrained, out.profile, out.message, case_id, analysis_id],
        )?;
            append_audit(
                tx,
                actor,
                "analysis_end",
                Some(case_id),
                &serde_json::json!({"analysis_id": analysis_id, "status": out.status, "score": out.score, "band": out.band,
                                "profile": out.profile, "untrained": out.untrained}),
            )?;
            Ok(())
        })
    }

    pub fn list_cases(&self, f: &CaseFilter) -> Result<Vec<CaseSummary>> {
        let mut sql = String::from(
            "SELECT c.id, c.title, c.created_at, c.updated_at, c.status, c.score, c.band, c.untrained, c.profile, c.message,
                    m.kind, m.sha256, (SELECT a.scope FROM analyses a WHERE a.id = c.last_analysis_id), c.tags
             FROM cases c JOIN media m ON m.id = c.media_id WHERE 1=1",
        );
        let mut args: Vec<String> = Vec::new();
        if let Some(b) = &f.band {
            match b.as_str() {
                "fake" | "review" | "real" => {
                    sql.push_str(" AND c.band = ?");
                    args.push(b.clone());
                }
                "failed" | "interrupted" | "not_scored" | "running" | "pending" | "cancelled"
                | "done" => {
                    sql.push_str(" AND c.status = ?");
                    args.push(b.clone());
                }
                other => {
                    return Err(Error::Config(format!(
                        "unknown band or status filter {other:?}"
                    )))
                }
            }
        }
        if let Some(t) = f.tag.as_deref() {
            // The same normalisation as stored tags; a tag that cannot exist matches nothing.
            let t = normalize_tag(t)?.unwrap_or_default();
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM {} WHERE {})",
                annotations::tags_each(self.db.dialect()),
                annotations::nocase_eq(self.db.dialect(), "t.value", "?")
            ));
            args.push(t);
        }
        if let Some(s) = f.search.as_deref().filter(|s| !s.is_empty()) {
            // File name, SHA-256, case note or a tag.
            sql.push_str(&format!(
                " AND (c.title {like} ? ESCAPE '\\' OR m.sha256 {like} ? ESCAPE '\\' OR c.note {like} ? ESCAPE '\\'
                   OR EXISTS (SELECT 1 FROM {each} WHERE t.value {like} ? ESCAPE '\\'))",
                like = self.db.like(),
                each = annotations::tags_each(self.db.dialect()),
            ));
            let like = format!(
                "%{}%",
                s.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            for _ in 0..4 {
                args.push(like.clone());
            }
        }
        sql.push_str(" ORDER BY c.id DESC");
        if let Some(l) = f.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        let args: Vec<&dyn db::Param> = args.iter().map(|a| a as &dyn db::Param).collect();
        self.db.query_map(&sql, &args, case_from_row)
    }

    pub fn case(&self, id: i64) -> Result<CaseSummary> {
        self.db
            .query_row(
                "SELECT c.id, c.title, c.created_at, c.updated_at, c.status, c.score, c.band, c.untrained, c.profile, c.message,
                        m.kind, m.sha256, (SELECT a.scope FROM analyses a WHERE a.id = c.last_analysis_id), c.tags
                 FROM cases c JOIN media m ON m.id = c.media_id WHERE c.id = ?1", params![id],
                case_from_row,
            )
            .optional()?
            .ok_or_else(|| Error::Other(format!("case {id} does not exist")))
    }

    /// Whether case `id` exists.
    pub fn case_exists(&self, id: i64) -> Result<bool> {
        let n: i64 = self.db.query_row(
            "SELECT COUNT(*) FROM cases WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    pub fn media_of_case(&self, case_id: i64) -> Result<MediaRow> {
        Ok(self.db.query_row(
            "SELECT m.id, m.sha256, m.original_name, m.original_path, m.kind, m.size_bytes, m.width, m.height, m.duration_s,
                    m.fps, m.codec, m.container, m.blob, m.imported_at, m.verified_at
             FROM media m JOIN cases c ON c.media_id = m.id WHERE c.id = ?1", params![case_id],
            |r| {
                Ok(MediaRow {
                    id: r.get(0)?,
                    sha256: r.get(1)?,
                    original_name: r.get(2)?,
                    original_path: r.get(3)?,
                    kind: r.get(4)?,
                    size_bytes: r.get::<i64>(5)? as u64,
                    width: r.get(6)?,
                    height: r.get(7)?,
                    duration_s: r.get(8)?,
                    fps: r.get(9)?,
                    codec: r.get(10)?,
                    container: r.get(11)?,
                    blob: r.get(12)?,
                    imported_at: r.get(13)?,
                    verified_at: r.get(14)?,
                })
            },
        )?)
    }

    /// Everything known about a case: media, latest analysis with frames/faces/scores, reviews, audit.
    pub fn case_detail(&self, id: i64) -> Result<CaseDetail> {
        let case = self.case(id)?;
        let media = self.media_of_case(id)?;
        let aid: Option<i64> = self.db.query_row(
            "SELECT last_analysis_id FROM cases WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )?;
        let (mut analysis, mut frames, mut faces, mut scores) = (None, vec![], vec![], vec![]);
        if let Some(aid) = aid {
            analysis = Some(self.db.query_row(
                "SELECT id, started_at, finished_at, status, settings_json, profile, weight_hashes, untrained, error,
                        frames_total, faces_total, preprocessing FROM analyses WHERE id = ?1", params![aid],
                |r| {
                    Ok(AnalysisRow {
                        id: r.get(0)?,
                        started_at: r.get(1)?,
                        finished_at: r.get(2)?,
                        status: r.get(3)?,
                        settings_json: r.get(4)?,
                        profile: r.get(5)?,
                        weight_hashes: r.get(6)?,
                        untrained: r.get(7)?,
                        error: r.get(8)?,
                        frames_total: r.get(9)?,
                        faces_total: r.get(10)?,
                        preprocessing: r.get(11)?,
                    })
                },
            )?);
            frames = self.db
                .query_map("SELECT idx, source_index, pts_s, keyframe, motion, width, height FROM frames WHERE analysis_id = ?1 ORDER BY idx", params![aid], |r| {
                    Ok(FrameRow {
                        idx: r.get(0)?,
                        source_index: r.get(1)?,
                        pts_s: r.get(2)?,
                        keyframe: r.get(3)?,
                        motion: r.get(4)?,
                        width: r.get(5)?,
                        height: r.get(6)?,
                    })
                })?;
            faces = self.db
                .query_map("SELECT f.id, fr.idx, f.track_id, f.x1, f.y1, f.x2, f.y2, f.det_prob, f.landmarks, f.crop, f.full_frame,
                            (SELECT s.score FROM scores s WHERE s.face_id = f.id AND s.level = 'face'), f.native_crop
                     FROM faces f JOIN frames fr ON fr.id = f.frame_id WHERE f.analysis_id = ?1 ORDER BY fr.idx, f.id", params![aid], |r| {
                    let lm: String = r.get(8)?;
                    Ok(FaceRow {
                        id: r.get(0)?,
                        frame_idx: r.get(1)?,
                        track_id: r.get(2)?,
                        bbox: [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                        det_prob: r.get(7)?,
                        landmarks: serde_json::from_str(&lm).unwrap_or_default(),
                        crop: r.get(9)?,
                        native_crop: r.get(12)?,
                        full_frame: r.get(10)?,
                        score: r.get(11)?,
                    })
                })?;
            scores = self.db
                .query_map("SELECT level, face_id, frame_idx, track_id, score FROM scores WHERE analysis_id = ?1 ORDER BY id", params![aid], |r| {
                    Ok(ScoreRow { level: r.get(0)?, face_id: r.get(1)?, frame_idx: r.get(2)?, track_id: r.get(3)?, score: r.get(4)? })
                })?;
        }
        let reviews = self.reviews(id)?;
        let decision = self.current_decision(id)?;
        let note = self.case_note(id)?;
        let audit = self.audit_log(Some(id))?;
        Ok(CaseDetail {
            case,
            media,
            analysis,
            frames,
            faces,
            scores,
            reviews,
            decision,
            note,
            audit,
        })
    }

    pub fn reviews(&self, case_id: i64) -> Result<Vec<ReviewRow>> {
        Ok(self.db.query_map(
            &format!(
                "SELECT {} FROM reviews r WHERE r.case_id = ?1 ORDER BY r.id",
                annotations::REVIEW_COLUMNS
            ),
            params![case_id],
            annotations::review_from_row,
        )?)
    }

    /// Records an analyst's decision; fake/real decisions also become training labels.
    pub fn add_review(
        &mut self,
        case_id: i64,
        verdict: Verdict,
        analyst: &str,
        note: &str,
    ) -> Result<i64> {
        if analyst.trim().is_empty() {
            return Err(Error::Config(
                "set the analyst name before recording a review".into(),
            ));
        }
        self.case(case_id)?;
        let at = now();
        self.db.write_tx(|tx| {
            let rid: i64 = tx.query_row(
                "INSERT INTO reviews (case_id, verdict, analyst, note, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 RETURNING id",
                params![case_id, verdict.as_str(), analyst, note, at],
                |r| r.get(0),
            )?;
            if verdict != Verdict::Unsure {
                tx.execute(
                "INSERT INTO labels (case_id, label, source, review_id, analyst, created_at) VALUES (?1, ?2, 'review', ?3, ?4, ?5)",
                params![case_id, (verdict == Verdict::Fake) as i64, rid, analyst, at],
            )?;
            }
            append_audit(
                tx,
                analyst,
                "review",
                Some(case_id),
                &serde_json::json!({"review_id": rid, "verdict": verdict.as_str(), "note": note}),
            )?;
            Ok(rid)
        })
    }

    pub fn audit(
        &self,
        actor: &str,
        action: &str,
        case_id: Option<i64>,
        details: &serde_json::Value,
    ) -> Result<()> {
        self.db
            .write_tx(|tx| append_audit(tx, actor, action, case_id, details))
    }

    pub fn audit_log(&self, case_id: Option<i64>) -> Result<Vec<AuditRow>> {
        let rows = self.db.query_map(
            "SELECT id, at, actor, action, case_id, details FROM audit WHERE (CAST(?1 AS BIGINT) IS NULL OR case_id = ?1) ORDER BY id",
            params![case_id],
            |r| {
            let d: String = r.get(5)?;
            Ok(AuditRow {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                case_id: r.get(4)?,
                details: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
            })
        })?;
        Ok(rows)
    }

    /// Stores the embeddings of scored faces (for temporal analysis) in one transaction.
    pub fn add_embeddings(&mut self, rows: &[EmbeddingRow]) -> Result<()> {
        self.db.write_tx(|tx| {
            for (face, clip, cnn) in rows {
                tx.execute(
                    "INSERT INTO embeddings (face_id, clip, cnn) VALUES (?1, ?2, ?3)
                     ON CONFLICT (face_id) DO UPDATE SET clip = excluded.clip, cnn = excluded.cnn",
                    params![face, f32_bytes(clip), cnn.map(f32_bytes)],
                )?;
            }
            Ok(())
        })
    }

    /// (CLIP, CNN) embeddings of a face, when it was scored.
    pub fn embeddings(&self, face_id: i64) -> Result<Option<Embeddings>> {
        Ok(self
            .db
            .query_row(
                "SELECT clip, cnn FROM embeddings WHERE face_id = ?1",
                params![face_id],
                |r| {
                    Ok((
                        bytes_f32(&r.get::<Vec<u8>>(0)?),
                        r.get::<Option<Vec<u8>>>(1)?.map(|b| bytes_f32(&b)),
                    ))
                },
            )
            .optional()?)
    }

    /// Records an explainability output (its PNG already in the blob store) and audits it.
    pub fn add_explanation(&mut self, e: &NewExplanation, actor: &str) -> Result<i64> {
        self.db.write_tx(|tx| {
            let id: i64 = tx.query_row(
                "INSERT INTO explanations (case_id, analysis_id, face_id, frame_idx, kind, space, blob, summary, data, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
                params![e.case_id, e.analysis_id, e.face_id, e.frame_idx, e.kind, e.space, e.blob, e.summary, e.data.to_string(), now()],
                |r| r.get(0),
            )?;
            append_audit(
                tx,
                actor,
                "explain",
                Some(e.case_id),
                &serde_json::json!({"explanation_id": id, "kind": e.kind, "face_id": e.face_id}),
            )?;
            Ok(id)
        })
    }

    /// Explanations of a case's latest analysis.
    pub fn explanations(&self, case_id: i64) -> Result<Vec<ExplanationRow>> {
        let rows = self.db.query_map(
            "SELECT e.id, e.face_id, e.frame_idx, e.kind, e.space, e.blob, e.summary, e.data, e.created_at
             FROM explanations e JOIN cases c ON c.id = e.case_id AND c.last_analysis_id = e.analysis_id
             WHERE e.case_id = ?1 ORDER BY e.id",
            params![case_id],
            |r| {
            let d: String = r.get(7)?;
            Ok(ExplanationRow {
                id: r.get(0)?,
                face_id: r.get(1)?,
                frame_idx: r.get(2)?,
                kind: r.get(3)?,
                space: r.get(4)?,
                blob: r.get(5)?,
                summary: r.get(6)?,
                data: serde_json::from_str(&d).unwrap_or(serde_json::Value::Null),
                created_at: r.get(8)?,
            })
        })?;
        Ok(rows)
    }

    /// The newest row of each view (face, frame, kind, space) of the latest analysis, oldest
    /// first: re-explaining adds rows, and only the last run of a view is current.
    pub fn latest_explanations(&self, case_id: i64) -> Result<Vec<ExplanationRow>> {
        let mut latest: std::collections::BTreeMap<
            (Option<i64>, Option<i64>, String, String),
            ExplanationRow,
        > = std::collections::BTreeMap::new();
        for r in self.explanations(case_id)? {
            // Rows come oldest first, so the last insert per key wins.
            latest.insert((r.face_id, r.frame_idx, r.kind.clone(), r.space.clone()), r);
        }
        let mut rows: Vec<ExplanationRow> = latest.into_values().collect();
        rows.sort_by_key(|r| r.id);
        Ok(rows)
    }

    /// Records how the analysis' faces were prepared for the detector (the profile's
    /// preprocessing chain, `Preprocessing::describe`): one UPDATE of the analysis row.
    pub fn record_preprocessing(&self, analysis_id: i64, description: &str) -> Result<()> {
        self.db.write_tx(|tx| {
            tx.execute(
                "UPDATE analyses SET preprocessing = ?1 WHERE id = ?2",
                params![description, analysis_id],
            )?;
            Ok(())
        })
    }

    /// The picture the gallery shows for a face of a case: its crop at the frame's resolution
    /// when stored, else the detector's input; `None` when the case has no such face or the
    /// face no crop. One indexed lookup (the app asks once per thumbnail).
    pub fn face_display_crop(&self, case_id: i64, face_id: i64) -> Result<Option<String>> {
        let found: Option<Option<String>> = self
            .db
            .query_row(
                "SELECT COALESCE(f.native_crop, f.crop) FROM faces f
                 JOIN analyses a ON a.id = f.analysis_id
                 WHERE f.id = ?2 AND a.case_id = ?1",
                params![case_id, face_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(found.flatten())
    }

    /// Records where and in what precision the analysis' scores are computed
    /// (`device::compute_label`).
    pub fn record_compute(&self, analysis_id: i64, compute: &str) -> Result<()> {
        self.db.write_tx(|tx| {
            tx.execute(
                "UPDATE analyses SET compute = ?1 WHERE id = ?2",
                params![compute, analysis_id],
            )?;
            Ok(())
        })
    }

    /// Records the analysis' scope list (`scope::assess`), shown beside the case's verdict.
    pub fn record_scope(
        &self,
        analysis_id: i64,
        scope: &[crate::scope::ScopeWarning],
    ) -> Result<()> {
        let json = serde_json::to_string(scope).map_err(|e| Error::Other(e.to_string()))?;
        self.db.write_tx(|tx| {
            tx.execute(
                "UPDATE analyses SET scope = ?1 WHERE id = ?2",
                params![json, analysis_id],
            )?;
            Ok(())
        })
    }

    /// The analysis' scope list; None when never assessed (before schema v7).
    pub fn analysis_scope(
        &self,
        analysis_id: i64,
    ) -> Result<Option<Vec<crate::scope::ScopeWarning>>> {
        let json: Option<String> = self
            .db
            .query_row(
                "SELECT scope FROM analyses WHERE id = ?1",
                params![analysis_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(parse_scope(json))
    }

    /// Where and in what precision the analysis' scores were computed (None: not recorded,
    /// before v6 — those ran in fp32).
    pub fn analysis_compute(&self, analysis_id: i64) -> Result<Option<String>> {
        Ok(self.db.query_row(
            "SELECT compute FROM analyses WHERE id = ?1",
            params![analysis_id],
            |r| r.get(0),
        )?)
    }

    /// How the analysis' faces were prepared (None for analyses from before it was recorded).
    pub fn analysis_preprocessing(&self, analysis_id: i64) -> Result<Option<String>> {
        Ok(self.db.query_row(
            "SELECT preprocessing FROM analyses WHERE id = ?1",
            params![analysis_id],
            |r| r.get(0),
        )?)
    }

    /// `PRAGMA integrity_check` plus the foreign-key check; Ok(()) when both are clean.
    pub fn integrity_check(&self) -> Result<()> {
        if self.db.is_pg() {
            // PostgreSQL checks its pages and foreign keys itself; a query that reads the
            // schema's bookkeeping shows the store answers.
            pg_schema::version(&self.db)?;
            return Ok(());
        }
        let r: String = self
            .db
            .query_row("PRAGMA integrity_check", params![], |r| r.get(0))?;
        if r != "ok" {
            return Err(Error::Other(format!(
                "database integrity check failed: {r}"
            )));
        }
        let bad: i64 = self.db.query_row(
            "SELECT COUNT(*) FROM pragma_foreign_key_check",
            params![],
            |r| r.get(0),
        )?;
        if bad > 0 {
            return Err(Error::Other(format!(
                "database has {bad} dangling references"
            )));
        }
        Ok(())
    }

    /// Counts of cases per band/status, for the app's counters.
    pub fn counts(&self) -> Result<std::collections::BTreeMap<String, i64>> {
        let mut m = std::collections::BTreeMap::new();
        for (k, v) in self.db.query_map(
            "SELECT COALESCE(band, status), COUNT(*) FROM cases GROUP BY COALESCE(band, status)",
            params![],
            |r| Ok((r.get::<String>(0)?, r.get::<i64>(1)?)),
        )? {
            m.insert(k, v);
        }
        Ok(m)
    }
}

#[derive(Debug, Clone)]
pub struct NewExplanation {
    pub case_id: i64,
    pub analysis_id: i64,
    pub face_id: Option<i64>,
    pub frame_idx: Option<i64>,
    pub kind: String,
    pub space: String,
    pub blob: Option<String>,
    pub summary: String,
    pub data: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplanationRow {
    pub id: i64,
    pub face_id: Option<i64>,
    pub frame_idx: Option<i64>,
    pub kind: String,
    pub space: String,
    pub blob: Option<String>,
    pub summary: String,
    pub data: serde_json::Value,
    pub created_at: String,
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn bytes_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn case_from_row(r: &db::Row) -> Result<CaseSummary> {
    Ok(CaseSummary {
        id: r.get(0)?,
        title: r.get(1)?,
        created_at: r.get(2)?,
        updated_at: r.get(3)?,
        status: r.get(4)?,
        score: r.get(5)?,
        band: r.get(6)?,
        untrained: r.get(7)?,
        profile: r.get(8)?,
        message: r.get(9)?,
        media_kind: r.get(10)?,
        sha256: r.get(11)?,
        scope: parse_scope(r.get(12)?),
        tags: annotations::parse_tags(&r.get::<String>(13)?),
    })
}

/// A stored scope list; text that is not one (hand-edited database) reads as "not assessed".
fn parse_scope(json: Option<String>) -> Option<Vec<crate::scope::ScopeWarning>> {
    json.and_then(|j| serde_json::from_str(&j).ok())
}

fn append_audit(
    conn: &impl Exec,
    actor: &str,
    action: &str,
    case_id: Option<i64>,
    details: &serde_json::Value,
) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, actor, action, case_id, details) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now(), actor, action, case_id, details.to_string()],
    )?;
    Ok(())
}
