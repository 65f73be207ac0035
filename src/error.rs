//! The library's one error type. Every variant's message is written for the analyst who sees it.
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    /// Damaged frames a source skipped where no later frame could carry the count (the end of
    /// a video): the analysis goes on, counting them.
    #[error("{path}: {count} damaged frame(s) at the end could not be decoded and were skipped")]
    Undecodable { path: PathBuf, count: u32 },
    #[error("unsupported media: {0}")]
    Unsupported(String),
    #[error("media too large: {0}")]
    TooLarge(String),
    #[error("model weights: {0}")]
    Weights(String),
    #[error("model: {0}")]
    Model(String),
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Pg(#[from] postgres::Error),
    /// The shared store could not be reached (PostgreSQL down or restarting): retry later.
    #[error("{0}")]
    StoreUnavailable(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cancelled")]
    Cancelled,
    /// The compute device ran out of memory even for one item (larger batches are split and
    /// retried first: `failover::split_on_oom`).
    #[error("out of memory on {device}: {message}")]
    OutOfMemory { device: String, message: String },
    /// The compute device failed (a GPU that disappeared, a driver error): the case fails, the
    /// worker goes on on the CPU (`failover`).
    #[error("the compute device {device} failed: {message}")]
    DeviceLost { device: String, message: String },
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An input error naming `path`; a stream URL's credentials (`user:pass@`) are redacted.
    pub fn input(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        let path: PathBuf = path.into();
        let path = match path.to_str() {
            Some(s) if s.contains("://") && s.contains('@') => {
                PathBuf::from(crate::logging::redact_url(s))
            }
            _ => path,
        };
        Error::Input {
            path,
            message: message.into(),
        }
    }
}

impl Error {
    /// The same error told in the analyst's terms: every mention of `stored` — a path in the
    /// case store (`<data>/blobs/ab/ab12….gif`, or a file inside a stored frame folder) — is
    /// replaced by `original`, the name the analyst imported the file under. The store path is
    /// logged (it is what an administrator needs), never shown. Errors that do not mention
    /// `stored` come back unchanged.
    pub fn naming_original(self, stored: &Path, original: &str) -> Error {
        let before = self.to_string();
        let renamed = match self {
            Error::Input { path, message } => Error::Input {
                path: rename_path(&path, stored, original),
                message: rename_in_text(&message, stored, original),
            },
            Error::Undecodable { path, count } => Error::Undecodable {
                path: rename_path(&path, stored, original),
                count,
            },
            Error::Unsupported(m) => Error::Unsupported(rename_in_text(&m, stored, original)),
            Error::TooLarge(m) => Error::TooLarge(rename_in_text(&m, stored, original)),
            Error::Weights(m) => Error::Weights(rename_in_text(&m, stored, original)),
            Error::Model(m) => Error::Model(rename_in_text(&m, stored, original)),
            Error::Config(m) => Error::Config(rename_in_text(&m, stored, original)),
            Error::Other(m) => Error::Other(rename_in_text(&m, stored, original)),
            // I/O, database and libtorch errors carry no path of ours; the rest none at all.
            e => e,
        };
        let after = renamed.to_string();
        if after != before {
            tracing::warn!(stored = %stored.display(), "{original}: {before}");
        }
        renamed
    }
}

/// `path` with the `stored` prefix replaced by `original` (a file inside a stored frame folder
/// keeps its own name: `original/frame0001.png`).
fn rename_path(path: &Path, stored: &Path, original: &str) -> PathBuf {
    match path.strip_prefix(stored) {
        Ok(rest) if rest.as_os_str().is_empty() => PathBuf::from(original),
        Ok(rest) => Path::new(original).join(rest),
        Err(_) => PathBuf::from(rename_in_text(&path.to_string_lossy(), stored, original)),
    }
}

/// `text` with every mention of the store path `stored` replaced by `original` (the error
/// texts FFmpeg and the decoders produce embed the path as given, sometimes as `file:<path>`).
pub fn rename_in_text(text: &str, stored: &Path, original: &str) -> String {
    let s = stored.to_string_lossy();
    if s.is_empty() {
        return text.to_string();
    }
    let mut out = text
        .replace(&format!("file:{s}"), original)
        .replace(&*s, original);
    // The same file reached through a canonical path (a data folder under a symlink).
    if let Ok(canonical) = stored.canonicalize() {
        let c = canonical.to_string_lossy();
        if c != s {
            out = out.replace(&*c, original);
        }
    }
    out
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
