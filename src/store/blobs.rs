//! Content-addressed media store: `blobs/<first two hex>/<sha256>[.ext]` for files and
//! `blobs/<..>/<sha256>.d/` for frame folders. Writes go to a temporary name then rename, so a
//! crash never leaves a half-copied blob under a final name.
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

pub struct BlobStore {
    root: PathBuf,
}

/// sha256 of a file (streamed), or of a folder: its sorted file names and their contents.
pub fn hash_path(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::input(path, format!("cannot read: {e}")))?;
    let mut h = Sha256::new();
    if meta.is_dir() {
        for f in folder_files(path)? {
            h.update(
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .as_bytes(),
            );
            h.update([0]);
            hash_into(&f, &mut h)?;
        }
    } else {
        hash_into(path, &mut h)?;
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_into(path: &Path, h: &mut Sha256) -> Result<()> {
    let mut f =
        std::fs::File::open(path).map_err(|e| Error::input(path, format!("cannot open: {e}")))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| Error::input(path, format!("read failed: {e}")))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(())
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

impl BlobStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// Absolute path of a blob given its stored relative name.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Copies `src` into the store under `sha` (no-op when present); returns the relative name.
    pub fn put(&self, src: &Path, sha: &str) -> Result<String> {
        let dir = self.root.join(&sha[..2]);
        std::fs::create_dir_all(&dir)?;
        let is_dir = src.is_dir();
        let ext = if is_dir {
            ".d".to_string()
        } else {
            src.extension()
                .map(|e| format!(".{}", e.to_string_lossy().to_ascii_lowercase()))
                .filter(|e| e.len() <= 6 && e[1..].chars().all(|c| c.is_ascii_alphanumeric()))
                .unwrap_or_default()
        };
        let rel = format!("{}/{sha}{ext}", &sha[..2]);
        let dst = self.root.join(&rel);
        if dst.exists() {
            return Ok(rel);
        }
        let tmp = dir.join(format!(".{sha}.{}.tmp", std::process::id()));
        let copied = if is_dir {
            std::fs::create_dir_all(&tmp).and_then(|_| {
                for f in folder_files(src).map_err(std::io::Error::other)? {
                    std::fs::copy(&f, tmp.join(f.file_name().unwrap_or_default()))?;
                }
                Ok(())
            })
        } else {
            std::fs::copy(src, &tmp).map(|_| ())
        };
        if let Err(e) = copied.and_then(|_| std::fs::rename(&tmp, &dst)) {
            let _ = if is_dir {
                std::fs::remove_dir_all(&tmp)
            } else {
                std::fs::remove_file(&tmp)
            };
            return Err(Error::input(
                src,
                format!("cannot copy into the case store: {e}"),
            ));
        }
        Ok(rel)
    }

    /// Stores derived bytes (crops, overlays) under `derived/<name>`; returns the relative name.
    pub fn put_derived(&self, name: &str, bytes: &[u8]) -> Result<String> {
        let rel = format!("derived/{name}");
        let dst = self.root.join(&rel);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        let tmp = dst.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &dst)?;
        Ok(rel)
    }
}
