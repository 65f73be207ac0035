//! Owner-only files and folders: the data folder holds evidence, analysts' decisions and logs
//! that may name sources, so on unix it is created `0700` and the database and logs `0600`.
use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) and makes `dir` itself owner-only (`0700` on unix).
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates (or truncates) `file` for writing, owner-only from the start (`0600` on unix, so
/// there is no moment where another user could open it). An existing file keeps the mode it
/// has, so it is set again.
pub fn create_private(file: &Path) -> io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(file)?;
    private_file(file)?;
    Ok(f)
}

/// Creates one folder owner-only (`0700` on unix); its parent must exist.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Makes an existing file owner-only (`0600` on unix); a missing file is not an error.
pub fn private_file(file: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            r => return r,
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Whether `bytes` (an existing file's content) is a report Verity Desk wrote in the format
/// `ext` (`html`, `json`, `pdf`): only such a file may be replaced by a new export.
pub fn looks_like_report(ext: &str, bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let utf16: Vec<u8> = "Verity Desk"
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    match ext {
        "html" => bytes.starts_with(b"<!DOCTYPE html>") && has(b"<title>Verity Desk report"),
        "json" => bytes.starts_with(b"{") && has(b"\"generator\"") && has(b"Verity Desk"),
        // Chromium writes the page title into /Title as UTF-16 hex (`<FEFF0056…>`).
        "pdf" => {
            let hex: String = utf16.iter().map(|b| format!("{b:02X}")).collect();
            bytes.starts_with(b"%PDF")
                && (has(b"Verity Desk")
                    || has(&utf16)
                    || has(hex.as_bytes())
                    || has(hex.to_lowercase().as_bytes()))
        }
        _ => false,
    }
}

/// Writes a report to `path` atomically (a private temporary file in the same folder, synced,
/// then renamed over), never through a link and never over a file that is not an earlier
/// report of the same format (see [`looks_like_report`]).
pub fn write_report(path: &Path, ext: &str, bytes: &[u8]) -> crate::Result<()> {
    use std::io::Write;
    let err = |m: String| crate::Error::input(path, m);
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(err(
                "is a link; choose a new file name for the report".into()
            ))
        }
        Ok(m) if !m.is_file() => return Err(err("is not a file; choose a file name".into())),
        Ok(m) => {
            let old = if m.len() <= 1 << 30 {
                std::fs::read(path).unwrap_or_default()
            } else {
                Vec::new()
            };
            if !looks_like_report(ext, &old) {
                return Err(err(
                    "already exists and is not a Verity Desk report: not overwritten; choose \
                     another file name"
                        .into(),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(err(format!("cannot check the file: {e}"))),
    }
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| crate::Error::input(&dir, format!("cannot create the folder: {e}")))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".verity-report-")
        .tempfile_in(&dir)
        .map_err(|e| err(format!("cannot write the report: {e}")))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| err(format!("cannot write the report: {e}")))?;
    tmp.persist(path)
        .map_err(|e| err(format!("cannot write the report: {}", e.error)))?;
    Ok(())
}
