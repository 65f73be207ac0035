//! C2PA content credentials, offline (`verity::provenance::credentials`) and trust anchors
//! (`verity::provenance::trust`, `verity trust`). Every credential is made here, at test time:
//! a certificate chain from `rcgen` (root CA → intermediate CA → ES256 end-entity with the
//! digitalSignature key usage and the emailProtection EKU the C2PA certificate profile asks for)
//! and images signed with the `c2pa` crate's own `Builder`. No fixture is downloaded.
use std::io::Cursor;
use std::path::{Path, PathBuf};
use verity::provenance::credentials::{examine, Examined, MAX_MANIFEST_BYTES};
use verity::provenance::{trust, Level};

struct Chain {
    root_pem: String,
    /// End-entity then intermediate (the root stays out of the manifest, as in practice).
    sign_chain_pem: String,
    key_pem: String,
}

fn chain() -> Chain {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let dn = |p: &mut CertificateParams, cn: &str| {
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name
            .push(DnType::OrganizationName, "Verity Desk Tests");
    };
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut root = CertificateParams::default();
    dn(&mut root, "Verity Test Root CA");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let root_cert = root.self_signed(&root_key).unwrap();

    let int_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut int = CertificateParams::default();
    dn(&mut int, "Verity Test Intermediate CA");
    int.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    int.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    int.use_authority_key_identifier_extension = true;
    let int_cert = int
        .signed_by(&int_key, &Issuer::from_params(&root, &root_key))
        .unwrap();

    let ee_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ee = CertificateParams::default();
    dn(&mut ee, "Verity Test Signer");
    ee.is_ca = IsCa::NoCa;
    ee.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    ee.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    ee.use_authority_key_identifier_extension = true;
    let ee_cert = ee
        .signed_by(&ee_key, &Issuer::from_params(&int, &int_key))
        .unwrap();
    Chain {
        root_pem: root_cert.pem(),
        sign_chain_pem: format!("{}{}", ee_cert.pem(), int_cert.pem()),
        key_pem: ee_key.serialize_pem(),
    }
}

fn picture(format: image::ImageFormat) -> Vec<u8> {
    let img = image::RgbImage::from_fn(96, 64, |x, y| {
        image::Rgb([(x * 2) as u8, (y * 3) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

const IPTC: &str = "http://cv.iptc.org/newscodes/digitalsourcetype/";

/// Signs `src` (`mime`) with one `c2pa.created` action of the given digital source type.
fn sign(chain: &Chain, src: &[u8], mime: &str, source_type: &str) -> Vec<u8> {
    let def = serde_json::json!({
        "claim_generator_info": [{"name": "verity-desk-tests", "version": "1.0"}],
        "title": "test picture",
        "assertions": [{
            "label": "c2pa.actions",
            "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": format!("{IPTC}{source_type}"),
                "softwareAgent": "verity-desk-tests"
            }]}
        }]
    });
    let ctx = c2pa::Context::new()
        .with_settings(serde_json::json!({"verify": {"verify_after_sign": false}}))
        .unwrap();
    let mut builder = c2pa::Builder::from_context(ctx)
        .with_definition(def.to_string())
        .unwrap();
    let signer = c2pa::create_signer::from_keys(
        chain.sign_chain_pem.as_bytes(),
        chain.key_pem.as_bytes(),
        c2pa::SigningAlg::Es256,
        None,
    )
    .unwrap();
    let mut dest = Cursor::new(Vec::new());
    builder
        .sign(
            signer.as_ref(),
            mime,
            &mut Cursor::new(src.to_vec()),
            &mut dest,
        )
        .unwrap();
    dest.into_inner()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn field<'a>(ex: &'a Examined, label: &str) -> Vec<&'a str> {
    ex.section
        .fields
        .iter()
        .filter(|f| f.label == label)
        .map(|f| f.value.as_str())
        .collect()
}

fn status(ex: &Examined) -> String {
    field(ex, "Status")
        .first()
        .copied()
        .unwrap_or("")
        .to_string()
}

/// Every word shown (fields, problems, signals), to check what is never said.
fn all_text(ex: &Examined) -> String {
    let mut s = String::new();
    for f in &ex.section.fields {
        s += &format!("{}: {}\n", f.label, f.value);
    }
    for p in &ex.section.problems {
        s += &format!("problem: {p}\n");
    }
    for g in &ex.signals {
        s += &format!("signal: {}\n", g.text);
    }
    s
}

/// JPEG segments (marker, start, end) before the first scan.
fn jpeg_segments(b: &[u8]) -> Vec<(u8, usize, usize)> {
    let mut out = vec![];
    let mut pos = 2;
    while pos + 4 <= b.len() && b[pos] == 0xFF {
        let m = b[pos + 1];
        let len = u16::from_be_bytes([b[pos + 2], b[pos + 3]]) as usize;
        out.push((m, pos, pos + 2 + len));
        if m == 0xDA {
            break;
        }
        pos += 2 + len;
    }
    out
}

fn strip_app11(b: &[u8]) -> Vec<u8> {
    let segs = jpeg_segments(b);
    let mut out = b[..2].to_vec();
    let mut last = 2;
    for (m, s, e) in &segs {
        if *m == 0xDA {
            break;
        }
        if *m != 0xEB {
            out.extend_from_slice(&b[*s..*e]);
        }
        last = *e;
    }
    out.extend_from_slice(&b[last..]);
    out
}

/// Offset of the first APP11 segment's JUMBF superbox size (LBox), and the segment's end.
fn first_jumbf(b: &[u8]) -> (usize, usize) {
    let (_, s, e) = *jpeg_segments(b)
        .iter()
        .find(|(m, s, _)| *m == 0xEB && &b[s + 4..s + 6] == b"JP")
        .expect("an APP11 JUMBF segment");
    // FF EB, Lp(2), CI "JP"(2), En(2), Z(4), then LBox.
    assert_eq!(&b[s + 16..s + 20], b"jumb");
    (s + 12, e)
}

#[test]
fn signed_jpeg_is_valid_but_untrusted_and_a_changed_pixel_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ch = chain();
    let signed = sign(
        &ch,
        &picture(image::ImageFormat::Jpeg),
        "image/jpeg",
        "digitalCapture",
    );
    let p = write(dir.path(), "signed.jpg", &signed);

    let ex = examine(&p, &data);
    assert!(ex.section.problems.is_empty(), "{:?}", ex.section.problems);
    assert_eq!(ex.section.title, "Content credentials");
    assert_eq!(field(&ex, "Manifest"), ["present (embedded)"]);
    assert_eq!(
        status(&ex),
        "valid signature, signer not on a trust list",
        "{}",
        all_text(&ex)
    );
    assert_eq!(field(&ex, "Signature"), ["valid"]);
    assert_eq!(field(&ex, "Trust"), ["signer not on a trust list"]);
    assert_eq!(
        field(&ex, "Signer"),
        ["Verity Test Signer (Verity Desk Tests)"]
    );
    assert!(field(&ex, "Issuer")[0].contains("Verity Test Intermediate CA"));
    assert!(field(&ex, "Claim generator")[0].contains("verity-desk-tests"));
    assert!(field(&ex, "Action")[0].starts_with("created — digital source type digitalCapture"));
    assert!(
        !all_text(&ex).to_lowercase().contains("verified"),
        "{}",
        all_text(&ex)
    );
    // A camera capture is not an AI signal; the one signal is the credentials' state.
    assert!(
        ex.signals.iter().all(|s| s.level != Level::Warning),
        "{:?}",
        ex.signals
    );
    assert!(ex.signals.iter().all(|s| s.source == "C2PA manifest"));
    assert_eq!(ex.details["state"], "valid");
    assert_eq!(ex.details["trusted"], false);
    let codes: Vec<&str> = ex.details["validation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"signingCredential.untrusted"), "{codes:?}");
    assert!(codes.contains(&"assertion.dataHash.match"), "{codes:?}");

    // One byte of the entropy-coded picture changed after signing (the manifest untouched).
    let mut bad = signed.clone();
    let sos = jpeg_segments(&bad).last().unwrap().2;
    let mut i = sos + (bad.len() - sos) / 2;
    while bad[i] == 0xFF || bad[i - 1] == 0xFF || bad[i] ^ 0x10 == 0xFF {
        i += 1;
    }
    bad[i] ^= 0x10;
    let p = write(dir.path(), "changed.jpg", &bad);
    let ex = examine(&p, &data);
    assert!(status(&ex).starts_with("INVALID"), "{}", all_text(&ex));
    assert!(
        status(&ex).contains("content changed after signing"),
        "{}",
        all_text(&ex)
    );
    assert_eq!(field(&ex, "Content"), ["content changed after signing"]);
    assert!(all_text(&ex).contains("assertion.dataHash.mismatch: content changed after signing"));
    assert!(ex
        .signals
        .iter()
        .any(|s| s.level == Level::Warning && s.text.contains("content changed after signing")));
    assert_eq!(ex.details["content_changed"], true);

    // The manifest stripped (APP11 segments dropped): no content credentials.
    let stripped = strip_app11(&signed);
    assert!(stripped.len() < signed.len());
    let p = write(dir.path(), "stripped.jpg", &stripped);
    let ex = examine(&p, &data);
    assert_eq!(
        field(&ex, "Manifest"),
        ["no content credentials"],
        "{}",
        all_text(&ex)
    );
    assert!(ex.section.problems.is_empty() && ex.signals.is_empty());
    assert_eq!(ex.details["present"], false);
    // An unsigned picture reads the same.
    let p = write(dir.path(), "plain.jpg", &picture(image::ImageFormat::Jpeg));
    assert_eq!(
        field(&examine(&p, &data), "Manifest"),
        ["no content credentials"]
    );
}

#[test]
fn an_installed_trust_anchor_makes_the_signer_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ch = chain();
    let signed = sign(
        &ch,
        &picture(image::ImageFormat::Jpeg),
        "image/jpeg",
        "digitalCapture",
    );
    let p = write(dir.path(), "signed.jpg", &signed);

    // Another root installed: still not on a trust list.
    let other = chain();
    let other_pem = write(dir.path(), "other.pem", other.root_pem.as_bytes());
    assert_eq!(trust::add(&data, &other_pem).unwrap(), 1);
    let ex = examine(&p, &data);
    assert_eq!(
        status(&ex),
        "valid signature, signer not on a trust list",
        "{}",
        all_text(&ex)
    );

    let root = write(dir.path(), "root.pem", ch.root_pem.as_bytes());
    assert_eq!(trust::add(&data, &root).unwrap(), 1);
    assert_eq!(trust::add(&data, &root).unwrap(), 0, "de-duplicated");
    let list = trust::list(&data).unwrap();
    assert_eq!(list.len(), 2);
    assert!(list[1].subject.contains("Verity Test Root CA"), "{list:?}");
    assert_eq!(list[1].sha256.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(trust::anchors_path(&data))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let ex = examine(&p, &data);
    assert_eq!(
        status(&ex),
        "valid signature, trusted signer (installed trust anchor)",
        "{}",
        all_text(&ex)
    );
    assert_eq!(ex.details["trusted"], true);
    assert!(!all_text(&ex).to_lowercase().contains("verified"));

    // Removed again: back to "not on a trust list".
    let gone = trust::remove(&data, &list[1].sha256[..12].to_uppercase()).unwrap();
    assert_eq!(gone.sha256, list[1].sha256);
    assert_eq!(trust::list(&data).unwrap().len(), 1);
    assert_eq!(
        status(&examine(&p, &data)),
        "valid signature, signer not on a trust list"
    );
}

#[test]
fn ai_generated_per_c2pa_is_a_warning_signal_and_png_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ch = chain();
    let signed = sign(
        &ch,
        &picture(image::ImageFormat::Png),
        "image/png",
        "trainedAlgorithmicMedia",
    );
    let p = write(dir.path(), "generated.png", &signed);
    let ex = examine(&p, &data);
    assert_eq!(
        status(&ex),
        "valid signature, signer not on a trust list",
        "{}",
        all_text(&ex)
    );
    let ai: Vec<_> = ex
        .signals
        .iter()
        .filter(|s| s.level == Level::Warning)
        .collect();
    assert_eq!(ai.len(), 1, "{:?}", ex.signals);
    assert!(
        ai[0]
            .text
            .starts_with("AI-generated per C2PA (action c2pa.created"),
        "{}",
        ai[0].text
    );
    assert!(ai[0].text.contains("trainedAlgorithmicMedia"));
    assert_eq!(ai[0].source, "C2PA manifest");
    assert!(ex
        .section
        .fields
        .iter()
        .any(|f| f.label == "Action" && f.flagged));
    assert_eq!(
        ex.details["actions"][0]["digital_source_type"],
        "trainedAlgorithmicMedia"
    );

    // One byte of the PNG's pixel data changed after signing.
    let idat = signed.windows(4).position(|w| w == b"IDAT").unwrap();
    let mut bad = signed.clone();
    bad[idat + 4 + 10] ^= 0x01;
    let p = write(dir.path(), "changed.png", &bad);
    let ex = examine(&p, &data);
    assert!(
        status(&ex).contains("content changed after signing"),
        "{}",
        all_text(&ex)
    );
}

#[test]
fn malformed_manifests_become_problems_without_panic() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ch = chain();
    let signed = sign(
        &ch,
        &picture(image::ImageFormat::Jpeg),
        "image/jpeg",
        "digitalCapture",
    );
    let (lbox_at, seg_end) = first_jumbf(&signed);
    let lbox = u32::from_be_bytes(signed[lbox_at..lbox_at + 4].try_into().unwrap());

    // The JUMBF superbox claims far more than the cap: refused before the crate reads it.
    let mut huge = signed.clone();
    huge[lbox_at..lbox_at + 4].copy_from_slice(&0x7FFF_FFF0u32.to_be_bytes());
    let ex = examine(&write(dir.path(), "huge.jpg", &huge), &data);
    assert!(
        ex.section
            .problems
            .iter()
            .any(|p| p.contains("above the")
                && p.contains(&format!("{} MiB", MAX_MANIFEST_BYTES >> 20))),
        "{}",
        all_text(&ex)
    );
    assert!(!status(&ex).starts_with("valid"));

    // The superbox lies by a little (under the cap): the crate's parser meets it.
    for lie in [lbox + 4096, lbox.saturating_sub(100), 8] {
        let mut b = signed.clone();
        b[lbox_at..lbox_at + 4].copy_from_slice(&lie.to_be_bytes());
        let ex = examine(&write(dir.path(), "lie.jpg", &b), &data);
        // The crate goes by the segments, so the signed bytes may still validate; the lie is
        // named either way.
        assert!(
            ex.section
                .problems
                .iter()
                .any(|p| p.contains(&format!("declares {lie} bytes"))
                    && p.contains("size field is wrong"))
                || status(&ex).starts_with("INVALID"),
            "lie {lie}: {}",
            all_text(&ex)
        );
    }

    // Truncated in the middle of the manifest.
    let cut = &signed[..(lbox_at + seg_end) / 2];
    let ex = examine(&write(dir.path(), "cut.jpg", cut), &data);
    assert!(
        ex.section.problems.iter().any(|p| p.contains("truncated")),
        "{}",
        all_text(&ex)
    );

    // Bytes inside the manifest overwritten at many places: never a panic, never "valid"
    // unless the byte was outside what is signed.
    let step = ((seg_end - lbox_at) / 24).max(1);
    for at in (lbox_at + 4..seg_end).step_by(step) {
        let mut b = signed.clone();
        b[at] ^= 0xA5;
        let ex = examine(&write(dir.path(), "flip.jpg", &b), &data);
        assert!(!ex.section.fields.is_empty() || !ex.section.problems.is_empty());
    }

    // A PNG whose caBX chunk claims more than the file holds.
    let png = sign(
        &ch,
        &picture(image::ImageFormat::Png),
        "image/png",
        "digitalCapture",
    );
    let c = png.windows(4).position(|w| w == b"caBX").unwrap();
    let mut b = png.clone();
    b[c - 4..c].copy_from_slice(&((png.len() as u32) * 2).to_be_bytes());
    let ex = examine(&write(dir.path(), "lying.png", &b), &data);
    assert!(
        ex.section.problems.iter().any(|p| p.contains("claims")),
        "{}",
        all_text(&ex)
    );

    // Not an image at all, and a missing file.
    let ex = examine(&write(dir.path(), "junk.bin", b"not a picture"), &data);
    assert_eq!(field(&ex, "Manifest"), ["no content credentials"]);
    let ex = examine(&dir.path().join("missing.jpg"), &data);
    assert!(ex.section.problems[0].contains("cannot be opened"));
}

fn verity(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_verity"))
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env("VERITY_CONFIG", dir.join("settings.toml"))
        .env("VERITY_MODELS_DIR", dir.join("models"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verity_trust_cli_adds_lists_removes_and_refuses_non_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let junk = write(d, "notes.pem", b"these are not certificates\n");
    let (ok, _, err) = verity(d, &["trust", "add", junk.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("notes.pem") && err.contains("no certificate"),
        "{err}"
    );
    let key = write(
        d,
        "key.pem",
        rcgen::KeyPair::generate()
            .unwrap()
            .serialize_pem()
            .as_bytes(),
    );
    let (ok, _, err) = verity(d, &["trust", "add", key.to_str().unwrap()]);
    assert!(
        !ok && err.contains("key.pem") && err.contains("not a certificate"),
        "{err}"
    );
    assert!(
        !trust::anchors_path(&d.join("data")).exists(),
        "nothing installed"
    );

    let ch = chain();
    let root = write(d, "root.pem", ch.root_pem.as_bytes());
    let (ok, out, err) = verity(d, &["trust", "add", root.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.starts_with("1 trust anchor(s) added"), "{out}");
    let (ok, out, _) = verity(d, &["trust", "list", "--json"]);
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let fp = list[0]["sha256"].as_str().unwrap().to_string();
    assert!(list[0]["subject"]
        .as_str()
        .unwrap()
        .contains("Verity Test Root CA"));
    let (ok, out, _) = verity(d, &["trust", "list"]);
    assert!(ok && out.contains(&fp), "{out}");
    let (ok, _, err) = verity(d, &["trust", "remove", "deadbeefdeadbeef"]);
    assert!(!ok && err.contains("no installed trust anchor"), "{err}");
    let (ok, out, err) = verity(d, &["trust", "remove", &fp]);
    assert!(ok && out.contains("removed"), "{out}{err}");
    let (_, out, _) = verity(d, &["trust", "list"]);
    assert!(out.contains("no trust anchors installed"), "{out}");
}
