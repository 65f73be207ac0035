//! Content-addressed media store: `blobs/<first two hex>/<sha256>[.ext]` for files and
//! `blobs/<..>/<sha256>.d/` for frame folders.
//!
//! Chain of custody: the original is read once, copied into a temporary name inside the blob
//! folder while *that copy* is hashed, the copy is fsynced (file, then folder), and only then
//! renamed to its final name. The recorded SHA-256 is therefore the hash of the bytes actually
//! stored, even when the original changes while it is being imported. A blob already present
//! under the final name is re-hashed before it is reused; a damaged one is replaced by the new
//! copy.
//!
//! A frame folder's hash is the SHA-256 of a manifest: a domain tag, then for each regular file
//! in name order the length-prefixed name, the file's length and the file's SHA-256. Unlike the
//! v1 scheme (name‖0‖content, no lengths, kept as [`legacy_folder_hash`] for the migration),
//! two different folders cannot produce the same manifest.
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Domain tag of the frame-folder manifest (v2).
const MANIFEST_TAG: &[u8] = b"verity-frame-folder/2\0";

pub struct BlobStore {
    root: PathBuf,
}

/// A copy of an original inside the blob folder under a temporary name, hashed while copied.
/// [`BlobStore::commit`] renames it into place; dropping it removes the temporary copy.
pub struct Staged {
    tmp: PathBuf,
    /// SHA-256 of the stored copy (file) or of its manifest (frame folder).
    pub sha256: String,
    /// Bytes copied (sum of the files for a folder).
    pub bytes: u64,
    is_dir: bool,
    ext: String,
    committed: bool,
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            remove_any(&self.tmp);
        }
    }
}

fn remove_any(p: &Path) {
    let _ = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
}

/// sha256 of a file (streamed), or of a folder: the manifest of its regular files
/// (length-prefixed name, length, per-file SHA-256).
pub fn hash_path(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    if meta.is_dir() {
        let mut entries = Vec::new();
        for f in folder_files(path)? {
            let mut h = Sha256::new();
            let n = hash_into(&f, &mut h, &mut std::io::sink(), None)?;
            entries.push((file_name_bytes(&f), n, h.finalize().into()));
        }
        Ok(manifest_hash(&entries))
    } else {
        let mut h = Sha256::new();
        hash_into(path, &mut h, &mut std::io::sink(), None)?;
        Ok(hex::encode(h.finalize()))
    }
}

/// The v1 frame-folder hash (sorted names, each followed by a 0 byte and the file's contents,
/// no lengths): ambiguous, used only to re-identify folders stored before schema v3.
pub fn legacy_folder_hash(dir: &Path) -> Result<String> {
    let mut h = Sha256::new();
    for f in folder_files(dir)? {
        h.update(
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .as_bytes(),
        );
        h.update([0]);
        hash_into(&f, &mut h, &mut std::io::sink(), None)?;
    }
    Ok(hex::encode(h.finalize()))
}

fn file_name_bytes(f: &Path) -> Vec<u8> {
    f.file_name()
        .unwrap_or_default()
        .as_encoded_bytes()
        .to_vec()
}

fn manifest_hash(entries: &[(Vec<u8>, u64, [u8; 32])]) -> String {
    let mut h = Sha256::new();
    h.update(MANIFEST_TAG);
    h.update((entries.len() as u64).to_le_bytes());
    for (name, len, sha) in entries {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name);
        h.update(len.to_le_bytes());
        h.update(sha);
    }
    hex::encode(h.finalize())
}

/// Streams `path` into `h` and `out`; returns the number of bytes read. Checks `cancel`
/// between chunks.
fn hash_into(
    path: &Path,
    h: &mut Sha256,
    out: &mut dyn Write,
    cancel: Option<&AtomicBool>,
) -> Result<u64> {
    let mut f =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Cancelled);
        }
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::input(path, format!("read failed: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| Error::input(path, format!("cannot copy into the case store: {e}")))?;
        total += n as u64;
    }
    Ok(total)
}

/// Regular files directly inside a folder, sorted by name.
fn folder_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::input(dir, format!("cannot list folder: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Flushes a folder's entry table (new and renamed names) to disk. Folders cannot be opened
/// for syncing on Windows, where the rename is durable through NTFS's own journal.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl BlobStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Absolute path of a blob given its stored relative name.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Copies `src` (a file or a frame folder) into a temporary name in the blob folder,
    /// hashing the copy as it is written; file(s) and folder are fsynced. One read of `src`.
    pub fn stage(&self, src: &Path, cancel: Option<&AtomicBool>) -> Result<Staged> {
        let meta =
            std::fs::metadata(src).map_err(|e| Error::input(src, format!("cannot read: {e}")))?;
        let is_dir = meta.is_dir();
        let ext = if is_dir {
            ".d".to_string()
        } else {
            src.extension()
                .map(|e| format!(".{}", e.to_string_lossy().to_ascii_lowercase()))
                .filter(|e| e.len() <= 6 && e[1..].chars().all(|c| c.is_ascii_alphanumeric()))
                .unwrap_or_default()
        };
        let staging = self.root.join("staging");
        std::fs::create_dir_all(&staging)
            .map_err(|e| Error::input(&staging, format!("cannot create the case store: {e}")))?;
        let tmp = staging.join(format!(
            ".{}.{}.{}.tmp",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            TMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut staged = Staged {
            tmp: tmp.clone(),
            sha256: String::new(),
            bytes: 0,
            is_dir,
            ext,
            committed: false,
        };
        let copy_err =
            |e: std::io::Error| Error::input(src, format!("cannot copy into the case store: {e}"));
        if is_dir {
            crate::fsutil::create_private_dir(&tmp).map_err(copy_err)?;
            let mut entries = Vec::new();
            for f in folder_files(src)? {
                let name = f.file_name().unwrap_or_default();
                let mut out = crate::fsutil::create_private(&tmp.join(name)).map_err(copy_err)?;
                let mut h = Sha256::new();
                let n = hash_into(&f, &mut h, &mut out, cancel)?;
                out.sync_all().map_err(copy_err)?;
                staged.bytes += n;
                entries.push((file_name_bytes(&f), n, h.finalize().into()));
            }
            sync_dir(&tmp).map_err(copy_err)?;
            staged.sha256 = manifest_hash(&entries);
        } else {
            let mut out = crate::fsutil::create_private(&tmp).map_err(copy_err)?;
            let mut h = Sha256::new();
            staged.bytes = hash_into(src, &mut h, &mut out, cancel)?;
            out.sync_all().map_err(copy_err)?;
            staged.sha256 = hex::encode(h.finalize());
        }
        Ok(staged)
    }

    /// The relative name a staged copy gets once committed.
    pub fn rel_name(staged: &Staged) -> String {
        format!("{}/{}{}", &staged.sha256[..2], staged.sha256, staged.ext)
    }

    /// Whether the blob stored under `rel` re-hashes to `sha`.
    pub fn intact(&self, rel: &str, sha: &str) -> bool {
        let p = self.path(rel);
        p.exists() && hash_path(&p).is_ok_and(|h| h == sha)
    }

    /// Moves a staged copy into place under `rel` (normally [`Self::rel_name`]); returns
    /// `(rel, replaced)`. A blob already under that name is re-hashed first: an intact one is
    /// reused (the staged copy is dropped), a damaged or truncated one is replaced.
    pub fn commit(&self, mut staged: Staged, rel: &str) -> Result<(String, bool)> {
        let dst = self.root.join(rel);
        let dir = dst.parent().unwrap_or(&self.root).to_path_buf();
        let io = |e: std::io::Error| Error::input(&dst, format!("cannot store the copy: {e}"));
        std::fs::create_dir_all(&dir).map_err(io)?;
        let mut replaced = false;
        if dst.exists() {
            if hash_path(&dst).is_ok_and(|h| h == staged.sha256) {
                return Ok((rel.to_string(), false));
            }
            // Damaged: move it aside first (a folder cannot be renamed over), then replace.
            let aside = dir.join(format!(
                ".{}.damaged.{}.{}",
                dst.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id(),
                TMP_SEQ.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::rename(&dst, &aside).map_err(io)?;
            remove_any(&aside);
            replaced = true;
        }
        std::fs::rename(&staged.tmp, &dst).map_err(io)?;
        staged.committed = true;
        sync_dir(&dir).map_err(io)?;
        if staged.is_dir {
            let _ = sync_dir(&dst);
        }
        Ok((rel.to_string(), replaced))
    }

    /// Removes copies left in `staging/` by imports that were killed mid-copy, once they are
    /// older than `min_age` (a live import keeps writing to its copy, so its time stays fresh).
    /// Returns how many were removed.
    pub fn sweep_staging(&self, min_age: std::time::Duration) -> usize {
        let Ok(rd) = std::fs::read_dir(self.root.join("staging")) else {
            return 0;
        };
        let mut n = 0;
        for e in rd.flatten() {
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            if old {
                remove_any(&e.path());
                n += 1;
            }
        }
        n
    }

    /// Stores derived bytes (crops, overlays) under `derived/<name>`; returns the relative name.
    pub fn put_derived(&self, name: &str, bytes: &[u8]) -> Result<String> {
        let rel = format!("derived/{name}");
        let dst = self.root.join(&rel);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        let tmp = dst.with_extension("tmp");
        crate::fsutil::create_private(&tmp)?.write_all(bytes)?;
        std::fs::rename(&tmp, &dst)?;
        Ok(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_manifest_separates_names_from_contents() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("a"), b"x").unwrap();
        std::fs::write(a.join("b"), b"y").unwrap();
        std::fs::write(b.join("a"), b"xb\0y").unwrap();
        // The v1 scheme cannot tell them apart; the manifest can.
        assert_eq!(
            legacy_folder_hash(&a).unwrap(),
            legacy_folder_hash(&b).unwrap()
        );
        assert_ne!(hash_path(&a).unwrap(), hash_path(&b).unwrap());
    }

    #[test]
    fn staged_copy_hash_is_the_stored_bytes_and_damaged_blobs_are_replaced() {
        let d = tempfile::tempdir().unwrap();
        let store = BlobStore::new(d.path().join("blobs"));
        let src = d.path().join("clip.MP4");
        std::fs::write(&src, vec![7u8; 3_000_000]).unwrap();
        let st = store.stage(&src, None).unwrap();
        let rel = BlobStore::rel_name(&st);
        assert!(rel.ends_with(".mp4"));
        let sha = st.sha256.clone();
        assert_eq!(store.commit(st, &rel).unwrap(), (rel.clone(), false));
        assert_eq!(hash_path(&store.path(&rel)).unwrap(), sha);
        // Truncate the stored blob (a power loss): the next commit of the same content
        // re-hashes it and replaces it.
        std::fs::write(store.path(&rel), b"trunc").unwrap();
        assert!(!store.intact(&rel, &sha));
        let st = store.stage(&src, None).unwrap();
        assert_eq!(store.commit(st, &rel).unwrap(), (rel.clone(), true));
        assert!(store.intact(&rel, &sha));
        // Nothing is left in staging; a copy abandoned by a killed import is swept once old.
        let staging = d.path().join("blobs/staging");
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
        std::fs::write(staging.join(".1.2.3.tmp"), b"half a copy").unwrap();
        assert_eq!(store.sweep_staging(std::time::Duration::from_secs(3600)), 0);
        assert_eq!(store.sweep_staging(std::time::Duration::ZERO), 1);
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }
}
