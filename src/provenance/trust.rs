//! Trust anchors for C2PA content credentials, installed by the analyst.
//!
//! Verity Desk ships no trust list: a valid C2PA signature is reported as "valid signature,
//! signer not on a trust list" until the analyst installs the root (or intermediate)
//! certificates they trust with `verity trust add anchors.pem`. They are kept, PEM, in
//! `<data dir>/trust/anchors.pem` (folder `0700`, file `0600`), de-duplicated by the SHA-256 of
//! each certificate's DER encoding, which is also how `verity trust list` names them and how
//! `verity trust remove <sha256>` picks one.
use crate::{Error, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The largest anchors file read (ours or the analyst's): a trust list of a few hundred roots
/// is well under 1 MiB.
pub const MAX_ANCHORS_BYTES: u64 = 4 << 20;

/// One installed trust anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The certificate's subject, as an RFC 4514 distinguished name ("CN=…, O=…").
    pub subject: String,
    pub issuer: String,
    /// SHA-256 of the DER encoding, lower-case hex: the anchor's name for `remove`.
    pub sha256: String,
    /// End of validity (RFC 2822 as x509-parser prints it).
    pub not_after: String,
}

/// Where installed trust anchors live: `<data_dir>/trust/anchors.pem`.
pub fn anchors_path(data_dir: &Path) -> PathBuf {
    data_dir.join("trust").join("anchors.pem")
}

/// One parsed certificate: its DER bytes and what is shown of it.
struct Cert {
    der: Vec<u8>,
    anchor: Anchor,
}

fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Every certificate in a PEM text; `Err` names the first block that is not an X.509
/// certificate. Blocks of other kinds (keys) are refused too: an anchors file holds
/// certificates only.
fn parse_pem(bytes: &[u8]) -> std::result::Result<Vec<Cert>, String> {
    let mut out = vec![];
    for (i, pem) in x509_parser::pem::Pem::iter_from_buffer(bytes).enumerate() {
        let pem = pem.map_err(|e| format!("PEM block {} cannot be read: {e}", i + 1))?;
        if pem.label != "CERTIFICATE" && pem.label != "TRUSTED CERTIFICATE" {
            return Err(format!(
                "PEM block {} is a \"{}\", not a certificate",
                i + 1,
                pem.label
            ));
        }
        let cert = pem
            .parse_x509()
            .map_err(|e| format!("PEM block {} is not a valid X.509 certificate: {e}", i + 1))?;
        out.push(Cert {
            anchor: Anchor {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                sha256: fingerprint(&pem.contents),
                not_after: cert.validity().not_after.to_string(),
            },
            der: pem.contents.clone(),
        });
    }
    Ok(out)
}

fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::input(path, format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(Error::input(path, "is not a file"));
    }
    if meta.len() > MAX_ANCHORS_BYTES {
        return Err(Error::input(
            path,
            format!(
                "is {} bytes; a trust-anchor file is at most {} MiB",
                meta.len(),
                MAX_ANCHORS_BYTES >> 20
            ),
        ));
    }
    std::fs::read(path).map_err(|e| Error::input(path, format!("cannot read the file: {e}")))
}

fn installed(data_dir: &Path) -> Result<Vec<Cert>> {
    let path = anchors_path(data_dir);
    if !path.exists() {
        return Ok(vec![]);
    }
    let bytes = read_bounded(&path)?;
    parse_pem(&bytes).map_err(|m| {
        Error::input(
            &path,
            format!(
                "the installed trust anchors are damaged ({m}); remove the file and add them again"
            ),
        )
    })
}

fn to_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// Writes the anchors atomically (private temp file in the same folder, synced, renamed),
/// owner-only; an empty list removes the file.
fn write(data_dir: &Path, certs: &[Cert]) -> Result<()> {
    let path = anchors_path(data_dir);
    let dir = path.parent().unwrap_or(data_dir).to_path_buf();
    if certs.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::input(&path, format!("cannot remove: {e}")))
            }
            _ => Ok(()),
        };
    }
    crate::fsutil::private_dir(&dir)
        .map_err(|e| Error::input(&dir, format!("cannot create the folder: {e}")))?;
    let mut text = String::new();
    for c in certs {
        text.push_str(&format!(
            "# {}\n# sha256 {}\n",
            c.anchor.subject, c.anchor.sha256
        ));
        text.push_str(&to_pem(&c.der));
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".anchors-")
        .tempfile_in(&dir)
        .map_err(|e| Error::input(&dir, format!("cannot write: {e}")))?;
    let werr = |e: std::io::Error| Error::input(&path, format!("cannot write: {e}"));
    tmp.write_all(text.as_bytes()).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(&path).map_err(|e| werr(e.error))?;
    crate::fsutil::private_file(&path).map_err(werr)?;
    Ok(())
}

/// Installs the certificates of `pem_file` as trust anchors; returns how many were new (those
/// already installed are skipped). The file must hold at least one X.509 certificate in PEM
/// form and nothing else; otherwise nothing is installed and the error names the file.
pub fn add(data_dir: &Path, pem_file: &Path) -> Result<usize> {
    let bytes = read_bounded(pem_file)?;
    let new = parse_pem(&bytes).map_err(|m| Error::input(pem_file, m))?;
    if new.is_empty() {
        return Err(Error::input(
            pem_file,
            "holds no certificate (expected PEM blocks \"-----BEGIN CERTIFICATE-----\")",
        ));
    }
    let mut all = installed(data_dir)?;
    let before = all.len();
    for c in new {
        if !all.iter().any(|o| o.anchor.sha256 == c.anchor.sha256) {
            all.push(c);
        }
    }
    let added = all.len() - before;
    if added > 0 {
        write(data_dir, &all)?;
    }
    Ok(added)
}

/// The installed trust anchors, in the order they were added.
pub fn list(data_dir: &Path) -> Result<Vec<Anchor>> {
    Ok(installed(data_dir)?.into_iter().map(|c| c.anchor).collect())
}

/// Removes the anchor whose SHA-256 fingerprint is `fingerprint` (hex, case and `:` ignored;
/// a unique prefix of at least 8 digits is enough). Returns the removed anchor.
pub fn remove(data_dir: &Path, fingerprint: &str) -> Result<Anchor> {
    let want: String = fingerprint
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    let path = anchors_path(data_dir);
    if want.len() < 8 || !want.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::Other(format!(
            "\"{fingerprint}\" is not a SHA-256 fingerprint (64 hex digits, or a unique prefix of at \
             least 8): see `verity trust list`"
        )));
    }
    let mut all = installed(data_dir)?;
    let hits: Vec<usize> = (0..all.len())
        .filter(|&i| all[i].anchor.sha256.starts_with(&want))
        .collect();
    match hits.as_slice() {
        [] => Err(Error::input(
            &path,
            format!("no installed trust anchor has the fingerprint {want}"),
        )),
        [i] => {
            let gone = all.remove(*i);
            write(data_dir, &all)?;
            Ok(gone.anchor)
        }
        _ => Err(Error::Other(format!(
            "{} installed trust anchors start with {want}: give more digits",
            hits.len()
        ))),
    }
}

/// The installed anchors as one PEM bundle for the C2PA verifier (`None` when there are none).
/// A damaged anchors file is an error the caller reports; the credentials are then read
/// without trust anchors.
pub fn bundle(data_dir: &Path) -> Result<Option<String>> {
    let certs = installed(data_dir)?;
    if certs.is_empty() {
        return Ok(None);
    }
    Ok(Some(certs.iter().map(|c| to_pem(&c.der)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_text_without_certificates_and_keys() {
        assert!(parse_pem(b"hello").unwrap().is_empty());
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let e = parse_pem(key).err().unwrap();
        assert!(e.contains("not a certificate"), "{e}");
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = parse_pem(junk).err().unwrap();
        assert!(e.contains("not a valid X.509"), "{e}");
    }

    #[test]
    fn remove_refuses_a_non_fingerprint() {
        let d = tempfile::tempdir().unwrap();
        let e = remove(d.path(), "xyz").unwrap_err().to_string();
        assert!(e.contains("not a SHA-256 fingerprint"), "{e}");
    }
}
