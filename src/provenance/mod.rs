//! Provenance beside the pixels: what a file says about where it came from, and whether the desk
//! has seen it before. None of it is ever merged into the detector's probability; every signal
//! carries its source.
//!
//! - `metadata` — container, EXIF, XMP (IPTC digital source type), ICC, JPEG quantisation tables
//!   (estimated quality, double-compression indicator), embedded thumbnails; FFmpeg container and
//!   stream metadata for videos.
//! - `credentials` — C2PA content credentials, offline (no remote manifests, no OCSP); trust
//!   anchors installed by the analyst (`trust`).
//! - `similar` — "seen before": perceptual hashes of images / keyframes and the stored CLIP face
//!   embeddings, compared across the desk's archive.
//!
//! The display model (`Section`, `Field`, `Signal`) is shared by the app's Provenance panel,
//! the report and the CLI, so a new source of provenance adds a section and nothing else.

pub mod metadata;
pub mod similar;

pub mod credentials;
pub mod trust;

use serde::{Deserialize, Serialize};

/// How much weight an analyst should give a provenance signal when reading the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Context (camera model, creation date, credentials present and intact).
    Info,
    /// Worth a look (edited in software, re-encoded, seen in another case).
    Notice,
    /// Says the media is synthetic or altered (C2PA/IPTC "AI-generated", content changed after
    /// signing, a thumbnail that differs from the picture).
    Warning,
}

/// One line of verdict context: "AI-generated per C2PA", "edited in Adobe Photoshop",
/// "re-encoded (Lavf)", "seen in case #12 on 2026-11-02" — always with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub level: Level,
    pub text: String,
    /// Where it was read: "C2PA manifest", "XMP Iptc4xmpExt:DigitalSourceType", "EXIF Software",
    /// "container encoder tag", "perceptual hash, case #12"…
    pub source: String,
}

/// One labelled value of a section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub label: String,
    pub value: String,
    /// Shown highlighted (it backs a notice or a warning).
    #[serde(default)]
    pub flagged: bool,
    /// Personal data (GPS position, serial numbers): hidden until the analyst asks, with a
    /// privacy note; the report leaves it out unless asked.
    #[serde(default)]
    pub private: bool,
}

impl Field {
    pub fn new(label: impl Into<String>, value: impl Into<String>) -> Self {
        Field {
            label: label.into(),
            value: value.into(),
            flagged: false,
            private: false,
        }
    }
    pub fn flagged(mut self) -> Self {
        self.flagged = true;
        self
    }
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }
}

/// A titled group of fields ("File", "EXIF", "XMP", "JPEG", "Container", "Content credentials").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    pub fields: Vec<Field>,
    /// What could not be read in this part of the file, in plain words ("the EXIF block is
    /// truncated after 3 of 12 entries"). The rest of the section is still shown.
    #[serde(default)]
    pub problems: Vec<String>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Section {
            title: title.into(),
            fields: vec![],
            problems: vec![],
        }
    }
    pub fn push(&mut self, f: Field) {
        self.fields.push(f);
    }
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.problems.is_empty()
    }
}

/// What the file says about itself, stored per media at import (`Store::set_provenance`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub computed_at: String,
    pub sections: Vec<Section>,
    pub signals: Vec<Signal>,
    /// Typed details by source (`"metadata"`, `"c2pa"`) for the JSON export.
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Provenance {
    /// Every problem of every section, prefixed with its section's title.
    pub fn problems(&self) -> Vec<String> {
        self.sections
            .iter()
            .flat_map(|s| s.problems.iter().map(move |p| format!("{}: {p}", s.title)))
            .collect()
    }
}

/// Everything the case view, the report and `verity provenance` show about where a case's media
/// came from: the stored provenance of its media and the signals for the verdict context line
/// (warnings first). Computed from the store; never changes the case's score.
#[derive(Debug, Clone, Serialize)]
pub struct CaseProvenance {
    /// `None` when never computed (media imported before schema v9): say so, and that a re-run
    /// of the analysis computes it.
    pub provenance: Option<Provenance>,
    /// Other cases with the same or near-same frames or faces ("seen before"); `None` when the
    /// archive could not be searched (the reason is logged).
    pub similar: Option<similar::Similar>,
    /// Signals in the order an analyst should read them: warnings, notices, then context.
    pub signals: Vec<Signal>,
}

/// The provenance view of a case.
pub fn case_view(store: &crate::store::Store, case_id: i64) -> crate::Result<CaseProvenance> {
    let media = store.media_of_case(case_id)?;
    let provenance = store.provenance(media.id)?;
    let mut signals: Vec<Signal> = provenance
        .as_ref()
        .map(|p| p.signals.clone())
        .unwrap_or_default();
    let similar = match similar::find(store, case_id, &similar::Options::default()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(case_id, "seen-before search failed: {e}");
            None
        }
    };
    if let Some(s) = &similar {
        signals.extend(similar::signals(s));
    }
    order_signals(&mut signals);
    Ok(CaseProvenance {
        provenance,
        similar,
        signals,
    })
}

/// Warnings first, then notices, then context; stable within a level; exact duplicates
/// (same text and source) dropped.
pub fn order_signals(signals: &mut Vec<Signal>) {
    let rank = |l: Level| match l {
        Level::Warning => 0,
        Level::Notice => 1,
        Level::Info => 2,
    };
    signals.sort_by_key(|s| rank(s.level));
    let mut seen = std::collections::HashSet::new();
    signals.retain(|s| seen.insert((s.text.clone(), s.source.clone())));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(level: Level, text: &str) -> Signal {
        Signal {
            level,
            text: text.into(),
            source: "test".into(),
        }
    }

    #[test]
    fn private_details_are_removed_at_any_depth() {
        let mut p = Provenance::default();
        p.details.insert(
            "metadata".into(),
            serde_json::json!({
                "exif": {"Make": "Canon", "BodySerialNumber": "123", "gps": {"latitude": 1.5, "private": true}},
                "container": {"tags": {"com.apple.quicktime.location.ISO6709": "+48.85+002.29/", "encoder": "Lavf"}},
                "list": [{"private": true, "x": 1}, {"y": 2}]
            }),
        );
        let v = CaseProvenance {
            provenance: Some(p),
            similar: None,
            signals: vec![],
        }
        .without_private();
        let text = serde_json::to_string(&v).unwrap();
        for gone in ["123", "latitude", "ISO6709", "\"x\""] {
            assert!(!text.contains(gone), "{gone} left in {text}");
        }
        for kept in ["Canon", "Lavf", "\"y\""] {
            assert!(text.contains(kept), "{kept} lost from {text}");
        }
    }

    #[test]
    fn signals_are_ordered_warnings_first_and_deduplicated() {
        let mut v = vec![
            sig(Level::Info, "camera"),
            sig(Level::Notice, "edited"),
            sig(Level::Warning, "ai"),
            sig(Level::Notice, "edited"),
            sig(Level::Notice, "re-encoded"),
        ];
        order_signals(&mut v);
        let t: Vec<_> = v.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(t, ["ai", "edited", "re-encoded", "camera"]);
    }
}

impl CaseProvenance {
    /// The same view with every private field (GPS position, serial numbers) removed — for
    /// reports and exports, which leave them out unless the analyst asks.
    pub fn without_private(mut self) -> Self {
        if let Some(p) = self.provenance.as_mut() {
            for s in &mut p.sections {
                s.fields.retain(|f| !f.private);
            }
            for v in p.details.values_mut() {
                scrub_private(v);
            }
            p.details.remove("private");
        }
        self
    }
}

/// Removes personal data from typed details: objects marked `"private": true`, and keys that
/// name a position or a serial number (`gps`, `location`, `com.apple.quicktime.location.ISO6709`,
/// `SerialNumber`, `BodySerialNumber`…), at any depth.
fn scrub_private(v: &mut serde_json::Value) {
    fn personal(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        k == "private" || k.contains("gps") || k.contains("location") || k.contains("serial")
    }
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, child| {
                !personal(k) && child.get("private").and_then(|p| p.as_bool()) != Some(true)
            });
            for child in m.values_mut() {
                scrub_private(child);
            }
        }
        serde_json::Value::Array(a) => {
            a.retain(|child| child.get("private").and_then(|p| p.as_bool()) != Some(true));
            for child in a {
                scrub_private(child);
            }
        }
        _ => {}
    }
}

/// Reads what `path` says about its origin: file/container metadata and C2PA content
/// credentials (offline; trust anchors from `data_dir`). Never fails — what cannot be read is
/// a section's problem — and never looks at the detector's score.
pub fn examine(path: &std::path::Path, kind: &str, data_dir: &std::path::Path) -> Provenance {
    let mut p = Provenance {
        computed_at: crate::store::now(),
        ..Default::default()
    };
    let meta = metadata::examine(path, kind);
    p.sections.extend(meta.sections);
    p.signals.extend(meta.signals);
    p.details.insert("metadata".into(), meta.details);
    if kind != "live" {
        // Content credentials travel inside the file (image/video); a frame folder's are
        // those of its first image.
        let target = if kind == "framefolder" {
            first_file(path)
        } else {
            Some(path.to_path_buf())
        };
        if let Some(t) = target {
            let c = credentials::examine(&t, data_dir);
            p.sections.push(c.section);
            p.signals.extend(c.signals);
            p.details.insert("c2pa".into(), c.details);
        }
    }
    order_signals(&mut p.signals);
    p
}

/// The first regular file of a folder in name order (what a frame folder's metadata and
/// credentials are read from).
fn first_file(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .collect();
    v.sort();
    v.into_iter().next()
}

/// Computes the provenance of a case's media from its stored copy and stores it (e.g. after
/// trust anchors were installed, or for media imported before provenance existed). The stored
/// copy is re-hashed first: provenance is only ever read from the verified original.
pub fn refresh(store: &mut crate::store::Store, case_id: i64) -> crate::Result<Provenance> {
    store.verify_case_media(case_id, "provenance")?;
    let m = store.media_of_case(case_id)?;
    let blob = store.blobs.path(&m.blob);
    let p = examine(&blob, &m.kind, store.data_dir());
    store.set_provenance(m.id, &p)?;
    Ok(p)
}
