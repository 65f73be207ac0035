//! C2PA content credentials, read offline with the `c2pa` crate (Rust-native crypto, no HTTP
//! client compiled in, no OpenSSL).
//!
//! Every read gets its own `c2pa::Context` (thread-safe, nothing global is touched):
//! `verify.remote_manifest_fetch = false`, `verify.ocsp_fetch = false`,
//! `core.allowed_network_hosts = []`, an HTTP resolver that refuses every request, CAWG identity
//! assertions not decoded, and as trust anchors only those the analyst installed
//! (`trust::anchors_path`). Sidecar `.c2pa` files and remote manifests are never read: only the
//! bytes of the file itself.
//!
//! Trust wording (never "verified"): a valid signature whose certificate does not chain to an
//! installed anchor is "valid signature, signer not on a trust list"; one that does is "valid
//! signature, trusted signer (installed trust anchor)".
//!
//! Bounds: JPEG and PNG are walked first (segment / chunk headers only): a manifest larger than
//! [`MAX_MANIFEST_BYTES`], or a segment/chunk claiming more bytes than the file holds, is reported
//! and not handed to the crate. The crate reads non-BMFF files into memory, so those above
//! [`MAX_IN_MEMORY_BYTES`] are not read; BMFF (MP4/MOV) is streamed. A read stops after
//! [`MAX_SECONDS`] (the crate's progress callback cancels it), and a panic inside the crate is
//! caught and reported.
use super::{Field, Level, Section, Signal};
use serde_json::{json, Value};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest C2PA manifest store read (sum of a JPEG's APP11 JUMBF segments, or a PNG `caBX`
/// chunk). Real manifests are a few KiB to a few MiB (with thumbnails of ingredients).
pub const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// The crate reads images (every format but BMFF) whole into memory; larger ones are not read.
pub const MAX_IN_MEMORY_BYTES: u64 = 512 << 20;
/// A read (parsing, signature, re-hashing the file) is cancelled after this long.
pub const MAX_SECONDS: u64 = 120;

const SECTION: &str = "Content credentials";
const SOURCE: &str = "C2PA manifest";

/// What was read: the "Content credentials" section, the verdict-context signals, and the
/// typed details for the JSON export (`details["c2pa"]`).
#[derive(Debug, Clone)]
pub struct Examined {
    pub section: Section,
    pub signals: Vec<Signal>,
    pub details: Value,
}

/// Reads the C2PA content credentials of the file at `path`. Never fails: what cannot be read
/// becomes `section.problems`. `data_dir` is the Verity data folder, where installed trust
/// anchors live (`trust::anchors_path(data_dir)`).
pub fn examine(path: &Path, data_dir: &Path) -> Examined {
    let mut ex = Examined {
        section: Section::new(SECTION),
        signals: vec![],
        details: json!({ "present": false }),
    };
    let anchors = match super::trust::bundle(data_dir) {
        Ok(a) => a,
        Err(e) => {
            ex.section.problems.push(format!(
                "the installed trust anchors could not be read ({e}); signers are shown as not on a trust list"
            ));
            None
        }
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read(path, anchors.as_deref(), &mut ex)
    }));
    if let Err(p) = outcome {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        tracing::warn!("c2pa reader panicked on {}: {msg}", path.display());
        ex.section.fields.clear();
        ex.signals.clear();
        ex.details = json!({ "present": null });
        ex.section.problems.push(format!(
            "the content credentials could not be read (the reader failed: {msg})"
        ));
    }
    ex
}

/// The container, sniffed from the first bytes (the crate detects it too; this picks the
/// pre-scan and the memory bound).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Jpeg,
    Png,
    /// A format the crate can read: its MIME type, and whether the crate streams it.
    Other(&'static str, bool),
    /// No C2PA binding is defined for it (BMP, Matroska/WebM, …).
    Unsupported,
}

fn sniff(head: &[u8]) -> Kind {
    let at = |o: usize, m: &[u8]| head.len() >= o + m.len() && &head[o..o + m.len()] == m;
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        Kind::Jpeg
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Kind::Png
    } else if at(4, b"ftyp") {
        Kind::Other("video/mp4", true)
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Kind::Other("image/webp", false)
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Kind::Other("video/avi", false)
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Kind::Other("audio/wav", false)
    } else if at(0, b"II*\0") || at(0, b"MM\0*") {
        Kind::Other("image/tiff", false)
    } else if at(0, b"GIF8") {
        Kind::Other("image/gif", false)
    } else {
        Kind::Unsupported
    }
}

/// What the header walk of a JPEG or PNG found: the manifest's size and, where the manifest box
/// states a size that does not match what the file carries, a note for `problems` (the crate
/// still reads it: it goes by the segments, not by that field).
struct Prescan {
    bytes: u64,
    note: Option<String>,
}

/// The manifest bytes a JPEG carries (its APP11 JUMBF segments), read from segment headers.
/// Every APP11 segment of a manifest repeats CI "JP", En, Z, LBox and TBox; the manifest is
/// the first segment from LBox on plus each continuation after its repeated LBox/TBox.
/// `Err` says why the file cannot be read safely.
fn jpeg_manifest_bytes(f: &mut std::fs::File, len: u64) -> Result<Prescan, String> {
    let mut pos = 2u64;
    let mut total = 0u64;
    let mut first: Option<([u8; 2], u64)> = None; // (En, declared LBox / XLBox)
    let done = |total: u64, first: Option<([u8; 2], u64)>| {
        let note = match first {
            Some((_, d)) if d != 0 && d != total => Some(format!(
                "the manifest box declares {d} bytes but the file carries {total}: its size field is wrong"
            )),
            _ => None,
        };
        Ok(Prescan { bytes: total, note })
    };
    loop {
        if pos + 4 > len {
            return done(total, first);
        }
        let mut h = [0u8; 4];
        f.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
        f.read_exact(&mut h).map_err(|e| e.to_string())?;
        if h[0] != 0xFF {
            // Not a marker where one should be: the crate's parser decides.
            return done(total, first);
        }
        let marker = h[1];
        if marker == 0xFF {
            pos += 1; // fill byte
            continue;
        }
        if marker == 0xD8 || marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            pos += 2;
            continue;
        }
        if marker == 0xDA || marker == 0xD9 {
            return done(total, first); // start of scan / end of image: no headers after this
        }
        let seg = u16::from_be_bytes([h[2], h[3]]) as u64;
        if seg < 2 {
            return Err(format!(
                "a JPEG segment at byte {pos} declares an impossible length {seg}"
            ));
        }
        if pos + 2 + seg > len {
            if marker == 0xEB {
                return Err(format!(
                    "the manifest segment at byte {pos} claims {seg} bytes but the file ends after {} (truncated)",
                    len - pos - 2
                ));
            }
            return done(total, first);
        }
        if marker == 0xEB && seg >= 2 + 16 {
            let mut p = [0u8; 24];
            let n = (seg - 2).min(24) as usize;
            f.read_exact(&mut p[..n]).map_err(|e| e.to_string())?;
            let en = [p[2], p[3]];
            if &p[0..2] == b"JP" && &p[12..16] == b"jumb" {
                match first {
                    None => {
                        let mut lbox = u32::from_be_bytes([p[8], p[9], p[10], p[11]]) as u64;
                        if lbox == 1 && n >= 24 {
                            lbox = u64::from_be_bytes(p[16..24].try_into().unwrap_or([0; 8]));
                        }
                        if lbox > MAX_MANIFEST_BYTES {
                            return Err(format!(
                                "the manifest box declares {lbox} bytes, above the {} MiB this desk reads",
                                MAX_MANIFEST_BYTES >> 20
                            ));
                        }
                        first = Some((en, lbox));
                        total += seg - 2 - 8;
                    }
                    Some((e, _)) if e == en => total += (seg - 2 - 8).saturating_sub(8),
                    Some(_) => {}
                }
                if total > MAX_MANIFEST_BYTES {
                    return Err(format!(
                        "the manifest is larger than the {} MiB this desk reads",
                        MAX_MANIFEST_BYTES >> 20
                    ));
                }
            }
        }
        pos += 2 + seg;
    }
}

/// The size of a PNG's `caBX` (C2PA) chunk, read from chunk headers.
fn png_manifest_bytes(f: &mut std::fs::File, len: u64) -> Result<Prescan, String> {
    let mut pos = 8u64;
    let mut total = 0u64;
    let mut chunks = 0u32;
    while pos + 8 <= len && chunks < 1_000_000 {
        chunks += 1;
        let mut h = [0u8; 8];
        f.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
        f.read_exact(&mut h).map_err(|e| e.to_string())?;
        let n = u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as u64;
        let ty = &h[4..8];
        if ty == b"caBX" {
            if n > MAX_MANIFEST_BYTES {
                return Err(format!(
                    "the manifest chunk declares {n} bytes, above the {} MiB this desk reads",
                    MAX_MANIFEST_BYTES >> 20
                ));
            }
            if pos + 12 + n > len {
                return Err(format!(
                    "the manifest chunk at byte {pos} claims {n} bytes but the file ends after {} (truncated)",
                    len.saturating_sub(pos + 8)
                ));
            }
            total += n;
        }
        if ty == b"IEND" {
            break;
        }
        pos += 12 + n;
    }
    Ok(Prescan {
        bytes: total,
        note: None,
    })
}

/// The offline, per-call configuration.
fn context(anchors: Option<&str>, deadline: Instant) -> c2pa::Result<c2pa::Context> {
    let mut s = c2pa::Settings::default();
    s.verify.remote_manifest_fetch = false;
    s.verify.ocsp_fetch = false;
    s.verify.verify_after_reading = true;
    s.core.allowed_network_hosts = Some(vec![]);
    s.core.decode_identity_assertions = false;
    s.trust.trust_anchors = anchors.map(str::to_string);
    s.trust.user_anchors = None;
    s.trust.allowed_list = None;
    Ok(c2pa::Context::new()
        .with_settings(s)?
        .with_resolver(Offline)
        .with_progress_callback(move |_, _, _| Instant::now() < deadline))
}

/// An HTTP resolver that refuses everything: nothing leaves the machine.
struct Offline;

impl c2pa::http::SyncHttpResolver for Offline {
    fn http_resolve(
        &self,
        request: c2pa::http::http::Request<Vec<u8>>,
    ) -> Result<c2pa::http::http::Response<Box<dyn Read>>, c2pa::http::HttpResolverError> {
        Err(c2pa::http::HttpResolverError::UriDisallowed {
            uri: request.uri().to_string(),
        })
    }
}

fn read(path: &Path, anchors: Option<&str>, ex: &mut Examined) {
    let sec = &mut ex.section;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            sec.problems.push(format!("the file cannot be opened: {e}"));
            ex.details = json!({ "present": null });
            return;
        }
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 16];
    let n = f.read(&mut head).unwrap_or(0);
    let kind = sniff(&head[..n]);
    let prescan = match kind {
        Kind::Jpeg => Some(jpeg_manifest_bytes(&mut f, len)),
        Kind::Png => Some(png_manifest_bytes(&mut f, len)),
        _ => None,
    };
    let (mime, streamed) = match kind {
        Kind::Jpeg => ("image/jpeg", false),
        Kind::Png => ("image/png", false),
        Kind::Other(m, s) => (m, s),
        Kind::Unsupported => {
            sec.push(Field::new("Manifest", "no content credentials"));
            sec.push(Field::new(
                "Note",
                "C2PA defines no way to embed credentials in this file format",
            ));
            ex.details = json!({ "present": false, "format_supported": false });
            return;
        }
    };
    match prescan {
        Some(Err(why)) => {
            sec.push(Field::new("Manifest", "present but not read").flagged());
            sec.problems
                .push(format!("the content credentials could not be read: {why}"));
            ex.details = json!({ "present": true, "read": false, "problem": why });
            return;
        }
        Some(Ok(Prescan { bytes: 0, .. })) => {
            sec.push(Field::new("Manifest", "no content credentials"));
            ex.details = json!({ "present": false });
            return;
        }
        Some(Ok(Prescan {
            note: Some(note), ..
        })) => sec.problems.push(note),
        _ => {}
    }
    if !streamed && len > MAX_IN_MEMORY_BYTES {
        sec.push(Field::new("Manifest", "not read"));
        sec.problems.push(format!(
            "the file is {} MiB; content credentials are read from files up to {} MiB",
            len >> 20,
            MAX_IN_MEMORY_BYTES >> 20
        ));
        ex.details = json!({ "present": null, "read": false });
        return;
    }
    if f.seek(SeekFrom::Start(0)).is_err() {
        sec.problems.push("the file cannot be re-read".into());
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(MAX_SECONDS);
    let reader = context(anchors, deadline)
        .and_then(|ctx| c2pa::Reader::from_context(ctx).with_stream(mime, f));
    let reader = match reader {
        Ok(r) => r,
        Err(c2pa::Error::JumbfNotFound) | Err(c2pa::Error::ProvenanceMissing) => {
            sec.push(Field::new("Manifest", "no content credentials"));
            ex.details = json!({ "present": false });
            return;
        }
        Err(c2pa::Error::UnsupportedType) => {
            sec.push(Field::new("Manifest", "no content credentials"));
            sec.push(Field::new(
                "Note",
                "the C2PA reader does not support this file format",
            ));
            ex.details = json!({ "present": false, "format_supported": false });
            return;
        }
        Err(c2pa::Error::OperationCancelled) => {
            sec.push(Field::new("Manifest", "not read"));
            sec.problems.push(format!(
                "reading the content credentials took longer than {MAX_SECONDS} s and was stopped"
            ));
            ex.details = json!({ "present": null, "read": false });
            return;
        }
        Err(e) => {
            sec.push(Field::new("Manifest", "present but not readable").flagged());
            sec.problems.push(format!(
                "the content credentials are damaged and could not be read: {e}"
            ));
            ex.details = json!({ "present": true, "read": false, "problem": e.to_string() });
            ex.signals.push(Signal {
                level: Level::Notice,
                text: "content credentials present but damaged".into(),
                source: SOURCE.into(),
            });
            return;
        }
    };
    describe(&reader, ex);
}

/// Plain words for a validation status code (C2PA 2.x §15 and the crate's codes).
pub fn explain_code(code: &str) -> &'static str {
    match code {
        "claimSignature.validated" => "the claim's signature is valid",
        "claimSignature.insideValidity" => "signed while the certificate was valid",
        "claimSignature.outsideValidity" => "signed outside the certificate's validity period",
        "claimSignature.missing" => "the claim has no signature",
        "claimSignature.mismatch" => "the signature does not match the claim (forged or damaged)",
        "signingCredential.trusted" => {
            "the signer's certificate chains to an installed trust anchor"
        }
        "signingCredential.untrusted" => "the signer is not on a trust list",
        "signingCredential.invalid" => {
            "the signer's certificate is not valid for signing content credentials"
        }
        "signingCredential.expired" => "the signer's certificate had expired when signing",
        "signingCredential.ocsp.revoked" => "the signer's certificate has been revoked",
        "signingCredential.ocsp.notRevoked" => "the signer's certificate was not revoked",
        "signingCredential.ocsp.skipped" => "revocation was not checked (offline)",
        "signingCredential.ocsp.inaccessible" => "revocation could not be checked (offline)",
        "timeStamp.validated" => "the signing time stamp is valid",
        "timeStamp.trusted" => "the time stamp authority is trusted",
        "timeStamp.untrusted" => "the time stamp authority is not on a trust list",
        "timeStamp.mismatch" => "the time stamp does not match the signature",
        "timeStamp.malformed" => "the time stamp is malformed",
        "timeStamp.outsideValidity" => "the time stamp is outside its certificate's validity",
        "timeOfSigning.insideValidity" => "signed while the certificate was valid",
        "timeOfSigning.outsideValidity" => "signed outside the certificate's validity period",
        "assertion.dataHash.match" => "the content matches what was signed",
        "assertion.dataHash.mismatch" => "content changed after signing",
        "assertion.bmffHash.match" => "the content matches what was signed",
        "assertion.bmffHash.mismatch" => "content changed after signing",
        "assertion.boxesHash.match" => "the content matches what was signed",
        "assertion.boxesHash.mismatch" => "content changed after signing",
        "assertion.collectionHash.match" => "the content matches what was signed",
        "assertion.collectionHash.mismatch" => "content changed after signing",
        "assertion.dataHash.malformed" | "assertion.bmffHash.malformed" => {
            "the content hash in the manifest is malformed"
        }
        "assertion.hashedURI.match" => "a signed statement is intact",
        "assertion.hashedURI.mismatch" => "a signed statement was changed after signing",
        "assertion.missing" => "a signed statement is missing from the manifest",
        "assertion.undeclared" => "the manifest holds a statement the claim does not list",
        "assertion.inaccessible" => "a signed statement could not be read",
        "assertion.accessible" => "a signed statement was read",
        "assertion.notRedacted" | "assertion.selfRedacted" => "a redaction is not allowed",
        "assertion.action.ingredientMismatch" => "an action names an ingredient that is not there",
        "assertion.action.malformed" => "an action is malformed",
        "assertion.json.invalid" | "assertion.cbor.invalid" => "a signed statement is malformed",
        "assertion.multipleHardBindings" => "the manifest binds the content more than once",
        "claim.missing" => "the manifest has no claim",
        "claim.multiple" => "the manifest has more than one claim",
        "claim.malformed" | "claim.cbor.invalid" => "the claim is malformed",
        "claim.hardBindings.missing" => "the claim does not bind the content (no content hash)",
        "claim.required.missing" => "the claim lacks a required field",
        "manifest.inaccessible" => "the manifest could not be read",
        "manifest.unreferenced" => "the file holds a manifest nothing refers to",
        "manifest.multipleParents" => "the manifest names more than one parent",
        "manifest.update.invalid" | "manifest.update.wrongParents" => {
            "an update manifest is invalid"
        }
        "manifest.unknownProvenance" => "the manifest's origin is unknown",
        "ingredient.manifest.validated" => "an ingredient's credentials are valid",
        "ingredient.claimSignature.validated" => "an ingredient's signature is valid",
        "ingredient.hashedURI.mismatch" | "ingredient.manifest.mismatch" => {
            "an ingredient's credentials were changed"
        }
        "ingredient.unknownProvenance" => "an ingredient has no content credentials",
        "algorithm.deprecated" => "signed with a deprecated algorithm",
        "algorithm.unsupported" => "signed with an algorithm this reader does not support",
        "general.error" => "an error occurred while validating",
        _ => "",
    }
}

/// The short name of an IPTC digital source type URI (or the value as given).
fn source_type_name(v: &str) -> &str {
    v.rsplit('/').next().unwrap_or(v)
}

/// Digital source types that say the content was made or altered by a generative model.
fn is_generative(name: &str) -> bool {
    matches!(
        name,
        "trainedAlgorithmicMedia"
            | "compositeWithTrainedAlgorithmicMedia"
            | "algorithmicallyEnhanced"
            | "compositeSynthetic"
    )
}

/// Subject / issuer of the signing certificate (first of the chain), from the manifest's PEM.
fn signer_names(chain_pem: &str) -> Option<(String, String, String)> {
    let pem = x509_parser::pem::Pem::iter_from_buffer(chain_pem.as_bytes())
        .next()?
        .ok()?;
    let cert = pem.parse_x509().ok()?;
    let pick = |n: &x509_parser::x509::X509Name, cn: bool| -> String {
        let v: Vec<String> = if cn {
            n.iter_common_name()
                .filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect()
        } else {
            n.iter_organization()
                .filter_map(|a| a.as_str().ok().map(str::to_string))
                .collect()
        };
        v.join(", ")
    };
    let subject = {
        let (cn, o) = (pick(cert.subject(), true), pick(cert.subject(), false));
        match (cn.is_empty(), o.is_empty()) {
            (false, false) => format!("{cn} ({o})"),
            (false, true) => cn,
            (true, false) => o,
            _ => cert.subject().to_string(),
        }
    };
    let issuer = cert.issuer().to_string();
    let serial = cert.raw_serial_as_string();
    Some((subject, issuer, serial))
}

fn describe(reader: &c2pa::Reader, ex: &mut Examined) {
    let sec = &mut ex.section;
    let Some(m) = reader.active_manifest() else {
        sec.push(Field::new("Manifest", "present, but no active manifest").flagged());
        sec.problems
            .push("the manifest store names no active manifest that could be read".into());
        ex.details = json!({ "present": true, "read": false });
        return;
    };
    sec.push(Field::new("Manifest", "present (embedded)"));

    // Every status code of the active manifest (and failures of ingredients).
    let mut statuses: Vec<(String, &'static str, String)> = vec![]; // (code, kind, url)
    if let Some(r) = reader.validation_results() {
        if let Some(a) = r.active_manifest() {
            for (kind, list) in [
                ("failure", a.failure()),
                ("informational", a.informational()),
                ("success", a.success()),
            ] {
                for s in list {
                    statuses.push((
                        s.code().to_string(),
                        kind,
                        s.url().unwrap_or_default().to_string(),
                    ));
                }
            }
        }
        for d in r.ingredient_deltas().into_iter().flatten() {
            for s in d.validation_deltas().failure() {
                statuses.push((
                    s.code().to_string(),
                    "ingredient failure",
                    d.ingredient_assertion_uri().to_string(),
                ));
            }
        }
    } else if let Some(list) = reader.validation_status() {
        for s in list {
            statuses.push((
                s.code().to_string(),
                if s.passed() { "success" } else { "failure" },
                s.url().unwrap_or_default().to_string(),
            ));
        }
    }
    let has = |c: &str| statuses.iter().any(|s| s.0 == c);
    let failures: Vec<&(String, &'static str, String)> = statuses
        .iter()
        .filter(|s| s.1 == "failure" && s.0 != "signingCredential.untrusted")
        .collect();
    let state = reader.validation_state();
    let sig_ok = has("claimSignature.validated")
        && !failures.iter().any(|s| {
            s.0.starts_with("claimSignature.")
                || s.0.starts_with("signingCredential.")
                || s.0.starts_with("timeOfSigning.")
                || s.0.starts_with("algorithm.")
        });
    let content_changed = failures
        .iter()
        .any(|s| explain_code(&s.0) == "content changed after signing");
    let trusted = state == c2pa::ValidationState::Trusted && has("signingCredential.trusted");

    let (status_text, state_key) = if failures.is_empty() && sig_ok {
        if trusted {
            (
                "valid signature, trusted signer (installed trust anchor)".to_string(),
                "trusted",
            )
        } else {
            (
                "valid signature, signer not on a trust list".to_string(),
                "valid",
            )
        }
    } else {
        let mut why: Vec<String> = vec![];
        for s in &failures {
            let w = explain_code(&s.0);
            let w = if w.is_empty() {
                s.0.clone()
            } else {
                w.to_string()
            };
            if !why.contains(&w) {
                why.push(w);
            }
        }
        if !sig_ok && !failures.iter().any(|s| s.0.starts_with("claimSignature.")) {
            why.insert(0, "the signature could not be validated".into());
        }
        (format!("INVALID: {}", why.join("; ")), "invalid")
    };
    sec.push(if state_key == "invalid" {
        Field::new("Status", &status_text).flagged()
    } else {
        Field::new("Status", &status_text)
    });
    sec.push(Field::new(
        "Signature",
        if sig_ok { "valid" } else { "invalid" },
    ));
    sec.push(Field::new(
        "Trust",
        if trusted {
            "trusted signer (chains to an installed trust anchor)"
        } else {
            "signer not on a trust list"
        },
    ));
    if content_changed {
        sec.push(Field::new("Content", "content changed after signing").flagged());
    }

    let info = m.signature_info();
    let names = info.and_then(|i| signer_names(i.cert_chain()));
    let signer = names
        .as_ref()
        .map(|n| n.0.clone())
        .or_else(|| info.and_then(|i| i.common_name.clone()))
        .unwrap_or_default();
    let issuer = names
        .as_ref()
        .map(|n| n.1.clone())
        .or_else(|| info.and_then(|i| i.issuer.clone()))
        .unwrap_or_default();
    if !signer.is_empty() {
        sec.push(Field::new("Signer", &signer));
    }
    if !issuer.is_empty() {
        sec.push(Field::new("Issuer", &issuer));
    }
    let time = info.and_then(|i| i.time.clone());
    sec.push(Field::new(
        "Signing time",
        time.clone()
            .unwrap_or_else(|| "not stated (no trusted time stamp)".into()),
    ));
    let alg = info.and_then(|i| i.alg.map(|a| a.to_string()));
    if let Some(a) = &alg {
        sec.push(Field::new("Algorithm", a));
    }
    let generator = m
        .claim_generator()
        .map(str::to_string)
        .or_else(|| {
            m.claim_generator_info.as_ref().and_then(|v| {
                let names: Vec<String> = v
                    .iter()
                    .map(|g| match g.version.as_deref() {
                        Some(ver) => format!("{} {ver}", g.name),
                        None => g.name.clone(),
                    })
                    .collect();
                (!names.is_empty()).then(|| names.join(", "))
            })
        })
        .unwrap_or_default();
    if !generator.is_empty() {
        sec.push(Field::new("Claim generator", &generator));
    }
    if let Some(t) = m.title() {
        sec.push(Field::new("Title", t));
    }

    // Actions (c2pa.actions / c2pa.actions.v2, every instance).
    let mut actions: Vec<Value> = vec![];
    for a in m.assertions() {
        if !a.label().starts_with("c2pa.actions") {
            continue;
        }
        let Ok(v) = a.value() else {
            sec.problems
                .push(format!("the {} assertion could not be read", a.label()));
            continue;
        };
        for act in v
            .get("actions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = act.get("action").and_then(Value::as_str).unwrap_or("?");
            let dst = act
                .get("digitalSourceType")
                .and_then(Value::as_str)
                .map(|s| source_type_name(s).to_string());
            let agent = act.get("softwareAgent").and_then(|s| {
                s.as_str()
                    .map(str::to_string)
                    .or_else(|| s.get("name").and_then(Value::as_str).map(str::to_string))
            });
            let when = act.get("when").and_then(Value::as_str).map(str::to_string);
            let mut text = name.trim_start_matches("c2pa.").to_string();
            if let Some(d) = &dst {
                text.push_str(&format!(" — digital source type {d}"));
            }
            if let Some(s) = &agent {
                text.push_str(&format!(" — by {s}"));
            }
            if let Some(w) = &when {
                text.push_str(&format!(" — {w}"));
            }
            let gen = dst.as_deref().is_some_and(is_generative);
            sec.push(if gen {
                Field::new("Action", text).flagged()
            } else {
                Field::new("Action", text)
            });
            if gen {
                ex.signals.push(Signal {
                    level: Level::Warning,
                    text: format!(
                        "AI-generated per C2PA (action {name}, digital source type {})",
                        dst.as_deref().unwrap_or_default()
                    ),
                    source: SOURCE.into(),
                });
            }
            actions.push(json!({
                "action": name,
                "digital_source_type": dst,
                "software_agent": agent,
                "when": when,
            }));
        }
    }
    if actions.is_empty() {
        sec.push(Field::new("Actions", "none recorded"));
    }

    let mut ingredients: Vec<Value> = vec![];
    for i in m.ingredients() {
        let rel = serde_json::to_value(i.relationship())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        let title = i.title().unwrap_or("(untitled)").to_string();
        let creds = if i.active_manifest().is_some() {
            "with its own content credentials"
        } else {
            "without content credentials"
        };
        sec.push(Field::new(
            "Ingredient",
            format!(
                "{title} ({rel}; {}; {creds})",
                i.format().unwrap_or("unknown format")
            ),
        ));
        ingredients.push(json!({
            "title": title,
            "relationship": rel,
            "format": i.format(),
            "has_manifest": i.active_manifest().is_some(),
        }));
    }

    for (code, kind, url) in &statuses {
        let words = explain_code(code);
        let value = if words.is_empty() {
            format!("{code} ({kind})")
        } else {
            format!("{code}: {words} ({kind})")
        };
        let f = Field::new("Validation", value);
        sec.push(
            if kind.contains("failure") && code != "signingCredential.untrusted" {
                f.flagged()
            } else {
                f
            },
        );
        let _ = url;
    }

    ex.signals.push(match state_key {
        "invalid" => Signal {
            level: Level::Warning,
            text: format!("content credentials {status_text}"),
            source: SOURCE.into(),
        },
        _ => Signal {
            level: Level::Info,
            text: format!(
                "content credentials: {status_text}{}",
                if signer.is_empty() {
                    String::new()
                } else {
                    format!(" ({signer})")
                }
            ),
            source: SOURCE.into(),
        },
    });

    ex.details = json!({
        "present": true,
        "read": true,
        "state": state_key,
        "status": status_text,
        "signature_valid": sig_ok,
        "trusted": trusted,
        "content_changed": content_changed,
        "active_manifest": reader.active_label(),
        "manifests": reader.manifests().len(),
        "claim_generator": generator,
        "title": m.title(),
        "signer": signer,
        "issuer": issuer,
        "certificate_serial": names.as_ref().map(|n| n.2.clone()),
        "signing_time": time,
        "algorithm": alg,
        "actions": actions,
        "ingredients": ingredients,
        "validation": statuses.iter().map(|(code, kind, url)| json!({
            "code": code, "kind": kind, "url": url, "explanation": explain_code(code),
        })).collect::<Vec<_>>(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_containers() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Kind::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Kind::Png);
        assert_eq!(sniff(b"\0\0\0\x18ftypisom"), Kind::Other("video/mp4", true));
        assert_eq!(sniff(b"BM\0\0\0\0"), Kind::Unsupported);
        assert_eq!(sniff(b""), Kind::Unsupported);
    }

    #[test]
    fn the_data_hash_mismatch_reads_as_content_changed() {
        assert_eq!(
            explain_code("assertion.dataHash.mismatch"),
            "content changed after signing"
        );
        assert!(!explain_code("signingCredential.untrusted").contains("verified"));
    }
}
