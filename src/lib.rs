//! Verity Desk core: decides whether a face in an image or video is a deepfake, offline.
//!
//! Data flow: media → frames → faces → encoders → fusion → head → aggregate → store, with the
//! explainability engine reading from the encoders. The desktop app (src-tauri), the CLI
//! (src/bin/verity/) and the later HTTP API are thin shells over this library.
pub mod aggregate;
pub mod bench;
pub mod chart;
pub mod config;
pub mod device;
pub mod error;
pub mod explain;
pub mod export;
pub mod failover;
pub mod faces;
pub mod fsutil;
pub mod logging;
pub mod media;
pub mod models;
pub mod pdf;
pub mod pipeline;
pub mod provenance;
pub mod report;
pub mod scope;
pub mod server;
pub mod store;
pub mod team;
pub mod track;
pub mod train;
pub mod worker;

pub use error::{Error, Result};

/// The library's version, shown in the app's About line and stored with every analysis.
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
