//! Chain of custody: the recorded SHA-256 is the hash of the bytes stored, frame-folder hashes
//! cannot collide, damaged blobs are found (re-import, `verity verify`, before analysis and
//! report), and old databases are migrated with a backup.
use std::path::Path;
use std::process::Command;
use verity::store::*;

fn media(path: &Path, kind: &str) -> NewMedia {
    NewMedia {
        original_path: path.to_path_buf(),
        kind: kind.into(),
        size_bytes: 1,
        width: None,
        height: None,
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    }
}

fn folder(root: &Path, name: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (n, b) in files {
        std::fs::write(d.join(n), b).unwrap();
    }
    d
}

fn actions(s: &Store, case: Option<i64>) -> Vec<String> {
    s.audit_log(case)
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect()
}

#[test]
fn frame_folders_whose_v1_hashes_collide_are_different_cases() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("data")).unwrap();
    let a = folder(dir.path(), "a", &[("a", b"x"), ("b", b"y")]);
    let b = folder(dir.path(), "b", &[("a", b"xb\0y")]);
    let first = s.import(&media(&a, "framefolder"), "t").unwrap();
    let second = s.import(&media(&b, "framefolder"), "t").unwrap();
    assert!(
        !second.existing,
        "a different folder must not be a re-import of the first"
    );
    assert_ne!(first.case_id, second.case_id);
    assert_ne!(first.sha256, second.sha256);
    // Each stored folder re-hashes to its own record.
    for c in [first.case_id, second.case_id] {
        assert!(s.check_media(c, "t").unwrap().ok);
    }
}

/// The original keeps growing while it is imported (a download or a recording still being
/// written): whatever was stored, its recorded hash is the hash of those stored bytes.
#[test]
fn recorded_hash_is_the_hash_of_the_stored_bytes_while_the_original_changes() {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("data")).unwrap();
    let f = dir.path().join("growing.mp4");
    std::fs::write(&f, vec![1u8; 8 << 20]).unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let writer = {
        let (f, stop) = (f.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut out = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
            let chunk = vec![2u8; 64 << 10];
            // Bounded (48 MiB at most), so the import can reach the end of the file.
            for i in 0..768u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let mut c = chunk.clone();
                c[0] = i as u8;
                out.write_all(&c).unwrap();
                out.flush().unwrap();
                std::thread::sleep(std::time::Duration::from_micros(300));
            }
        })
    };
    let mut checked = 0;
    for _ in 0..3 {
        let imp = s.import(&media(&f, "video"), "t").unwrap();
        let m = s.media_of_case(imp.case_id).unwrap();
        let stored = hash_path(&s.blobs.path(&m.blob)).unwrap();
        assert_eq!(
            stored, m.sha256,
            "the stored copy must hash to the recorded SHA-256"
        );
        checked += 1;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(checked, 3);
    // Nothing is left half-copied in the staging folder.
    let staging = dir.path().join("data/blobs/staging");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}

#[test]
fn truncated_blob_is_rehashed_and_replaced_on_reimport() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("data")).unwrap();
    let f = dir.path().join("photo.jpg");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&f, &bytes).unwrap();
    let imp = s.import(&media(&f, "image"), "t").unwrap();
    let m = s.media_of_case(imp.case_id).unwrap();
    let blob = s.blobs.path(&m.blob);
    // A power loss truncated the stored copy.
    std::fs::write(&blob, &bytes[..1000]).unwrap();
    let again = s.import(&media(&f, "image"), "t").unwrap();
    assert!(again.existing);
    assert_eq!(again.case_id, imp.case_id);
    assert_eq!(
        std::fs::read(&blob).unwrap(),
        bytes,
        "the damaged blob is replaced from the new copy"
    );
    assert!(actions(&s, None).contains(&"blob_repaired".to_string()));
    assert!(s.check_media(imp.case_id, "t").unwrap().ok);
    s.integrity_check().unwrap();
}

#[test]
fn tampered_media_fails_verification_analysis_and_report_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Store::open(&data).unwrap();
    let good = dir.path().join("keep.png");
    std::fs::write(&good, b"an intact picture").unwrap();
    let bad = dir.path().join("interview.png");
    std::fs::write(&bad, b"original evidence bytes").unwrap();
    let keep = s.import(&media(&good, "image"), "t").unwrap().case_id;
    let case = s.import(&media(&bad, "image"), "t").unwrap().case_id;
    let c = s.check_media(case, "Ada").unwrap();
    assert!(c.ok, "{c:?}");
    let verified = s.media_of_case(case).unwrap().verified_at;
    assert!(verified.is_some(), "a good check records when");
    assert_eq!(actions(&s, Some(case)).last().unwrap(), "media_verified");

    // Someone edits the stored copy.
    let m = s.media_of_case(case).unwrap();
    std::fs::write(s.blobs.path(&m.blob), b"edited evidence bytes!!").unwrap();
    let c = s.check_media(case, "Ada").unwrap();
    assert!(!c.ok);
    assert!(c.problem.unwrap().contains("recorded at import"));
    let e = s.verify_case_media(case, "Ada").unwrap_err().to_string();
    assert!(e.contains("interview.png"), "{e}");
    assert_eq!(actions(&s, Some(case)).last().unwrap(), "media_mismatch");
    assert_eq!(
        s.media_of_case(case).unwrap().verified_at,
        verified,
        "a failed check does not move the verified time"
    );

    // A report is refused, naming the file; the intact case still reports, with its time.
    let out = dir.path().join("r.html");
    let e = verity::report::export(&s, case, verity::report::Format::Html, &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("interview.png"), "{e}");
    assert!(!out.exists());
    let ok_out = dir.path().join("keep.html");
    verity::report::export(&s, keep, verity::report::Format::Html, &ok_out).unwrap();
    let html = std::fs::read_to_string(&ok_out).unwrap();
    let t = s.media_of_case(keep).unwrap().verified_at.unwrap();
    assert!(html.contains("Media verified"), "report shows the line");
    assert!(html.contains(&t), "report carries the verification time");
    let json_out = dir.path().join("keep.json");
    verity::report::export(&s, keep, verity::report::Format::Json, &json_out).unwrap();
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_out).unwrap()).unwrap();
    assert!(j["media_verified_at"].is_string(), "{j}");
    drop(s);

    // The CLI: `verify <case>` and `verify --all` print a table and exit 1 on a mismatch;
    // `rerun` refuses to analyse the tampered case.
    let bin = env!("CARGO_BIN_EXE_verity");
    let run = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .env("VERITY_MODELS_DIR", dir.path().join("models"))
            .env("VERITY_CONFIG", dir.path().join("none.toml"))
            .output()
            .unwrap()
    };
    let o = run(&["verify", &keep.to_string()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let o = run(&["verify", &case.to_string()]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("MISMATCH") && table.contains("interview.png"),
        "{table}"
    );
    let o = run(&["verify", "--all"]);
    assert_eq!(o.status.code(), Some(1));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("2 case(s) verified, 1 mismatch(es)"),
        "{table}"
    );
    let o = run(&["rerun", &case.to_string()]);
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("interview.png") && err.contains("verification"),
        "{err}"
    );
    let s = Store::open(&data).unwrap();
    assert_eq!(
        s.case(case).unwrap().status,
        "pending",
        "nothing was analysed from the tampered copy"
    );
}

/// A v3 database (frame folders hashed with the ambiguous v1 scheme) is backed up, then
/// migrated: each folder gets its manifest hash, the v1 hash is kept, and verify passes.
#[test]
fn v3_database_is_backed_up_and_its_frame_folders_rehashed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let src = folder(
        dir.path(),
        "frames",
        &[("f1.png", b"one"), ("f2.png", b"two")],
    );
    let legacy = legacy_folder_hash(&src).unwrap();
    let (case, manifest);
    {
        let mut s = Store::open(&data).unwrap();
        let imp = s.import(&media(&src, "framefolder"), "t").unwrap();
        case = imp.case_id;
        manifest = imp.sha256;
        // Turn it into what v3 wrote: the v1 hash everywhere, no v4 (or later) columns.
        s.conn()
            .execute_batch(&format!(
                "UPDATE media SET sha256 = '{legacy}';
                 DROP TRIGGER audit_no_update;
                 UPDATE audit SET details = json_set(details, '$.sha256', '{legacy}') WHERE action = 'import';
                 CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                     BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
                 ALTER TABLE media DROP COLUMN legacy_sha256;
                 ALTER TABLE media DROP COLUMN verified_at;
                 ALTER TABLE analyses DROP COLUMN owner_lock;
                 ALTER TABLE analyses DROP COLUMN compute;
                 ALTER TABLE analyses DROP COLUMN scope;
                 DROP TRIGGER reviews_no_update;
                 DROP TRIGGER reviews_no_delete;
                 DROP INDEX reviews_retracts;
                 ALTER TABLE reviews DROP COLUMN retracts;
                 ALTER TABLE cases DROP COLUMN tags;
                 ALTER TABLE cases DROP COLUMN note;
                 DROP TABLE provenance;
                 DROP TABLE media_hashes;
                 DROP TABLE api_tokens;
                 DROP INDEX analyses_job_once;
                 ALTER TABLE analyses DROP COLUMN job_id;
                 DROP TABLE jobs;
                 PRAGMA user_version = 3;"
            ))
            .unwrap();
    }
    assert_ne!(legacy, manifest);
    let s = Store::open(&data).unwrap();
    assert_eq!(s.schema_version().unwrap(), verity::store::SCHEMA_VERSION);
    // The backup is the v3 database as it was.
    let bak = s.backup_path(3);
    let b = rusqlite::Connection::open(&bak).unwrap();
    let v: i64 = b
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 3);
    let old: String = b
        .query_row("SELECT sha256 FROM media", [], |r| r.get(0))
        .unwrap();
    assert_eq!(old, legacy);
    // Migrated: manifest hash, v1 hash kept, audited, and verification passes (the audit's
    // import record carries the v1 hash, recognised through legacy_sha256).
    let m = s.media_of_case(case).unwrap();
    assert_eq!(m.sha256, manifest);
    let kept: String = s
        .conn()
        .query_row("SELECT legacy_sha256 FROM media", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, legacy);
    assert!(actions(&s, Some(case)).contains(&"media_rehashed".to_string()));
    let c = s.check_media(case, "t").unwrap();
    assert!(c.ok, "{c:?}");
    // Re-importing the same folder now finds the case.
    drop(s);
    let mut s = Store::open(&data).unwrap();
    let again = s.import(&media(&src, "framefolder"), "t").unwrap();
    assert!(again.existing);
    assert_eq!(again.case_id, case);
    s.integrity_check().unwrap();
}

/// The stored copies of evidence, derived images and the database are owner-only (0600), even
/// when the original was world-readable (0644) and the umask is permissive.
#[cfg(unix)]
#[test]
fn stored_blobs_derived_files_and_database_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut s = Store::open(&data).unwrap();
    assert_eq!(mode(&data.join("verity.db")), 0o600, "database");
    let f = dir.path().join("photo.jpg");
    std::fs::write(&f, b"not really a jpeg, but bytes to store").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let imp = s.import(&media(&f, "image"), "t").unwrap();
    let m = s.media_of_case(imp.case_id).unwrap();
    assert_eq!(mode(&s.blobs.path(&m.blob)), 0o600, "stored media blob");
    let fr = folder(
        dir.path(),
        "frames",
        &[("0001.png", b"a"), ("0002.png", b"b")],
    );
    std::fs::set_permissions(fr.join("0001.png"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let imp = s.import(&media(&fr, "framefolder"), "t").unwrap();
    let m = s.media_of_case(imp.case_id).unwrap();
    let stored = s.blobs.path(&m.blob);
    assert_eq!(mode(&stored), 0o700, "stored frame folder");
    assert_eq!(mode(&stored.join("0001.png")), 0o600, "stored frame");
    let rel = s.blobs.put_derived("a1/crop.png", b"png").unwrap();
    assert_eq!(mode(&s.blobs.path(&rel)), 0o600, "derived blob");
}
