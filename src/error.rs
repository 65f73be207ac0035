//! The library's one error type. Every variant's message is written for the analyst who sees it.
use std::path::PathBuf;

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
    #[error("configuration: {0}")]
    Config(String),
    #[error("cancelled")]
    Cancelled,
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
