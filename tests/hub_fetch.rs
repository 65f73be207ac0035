//! `models fetch` against a local hub: a tiny HTTP/1.1 server on 127.0.0.1 that answers like
//! huggingface.co's resolve URLs (LFS files: 302 + X-Linked-Etag/X-Linked-Size to a "CDN" path
//! that honours Range; git files: 200 + ETag = git blob SHA-1).
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tch::{nn, Device, Tensor};

use sha2::{Digest, Sha256};
use verity::faces::align::{to_tensor, CLIP_MEAN, CLIP_STD};
use verity::models::detector::{Detector, DetectorConfig};
use verity::models::hub::{self, fetch, git_blob_sha1, installed, list};
use verity::models::profile::LoadedDetector;
use verity::Error;

const GEND_REPO: &str = "yermandy/GenD_CLIP_L_14";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Clone, Copy, PartialEq)]
enum Serve {
    Normal,
    /// Advertise the real checksum, send other bytes (same length).
    Corrupt,
    /// Send the headers for the whole file, then this many bytes, then close — on the first GET
    /// only; later GETs are normal.
    DropOnceAfter(usize),
}

struct File {
    body: Vec<u8>,
    lfs: bool,
    serve: Serve,
}

struct Hub {
    endpoint: String,
    /// "METHOD path [range]" of every request.
    log: Arc<Mutex<Vec<String>>>,
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Starts the server in a thread; it lives until the test process ends.
fn serve(files: HashMap<String, File>) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(vec![]));
    let (files, log2) = (Arc::new(files), log.clone());
    let gets = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (files, log, gets) = (files.clone(), log2.clone(), gets.clone());
            std::thread::spawn(move || handle(stream, port, &files, &log, &gets));
        }
    });
    Hub {
        endpoint: format!("http://127.0.0.1:{port}"),
        log,
    }
}

fn handle(
    mut stream: TcpStream,
    port: u16,
    files: &HashMap<String, File>,
    log: &Mutex<Vec<String>>,
    gets: &AtomicUsize,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = v
                    .trim()
                    .strip_prefix("bytes=")
                    .and_then(|r| r.strip_suffix('-'))
                    .and_then(|s| s.parse::<usize>().ok());
            }
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    log.lock().unwrap().push(format!(
        "{method} {path}{}",
        range.map(|r| format!(" bytes={r}-")).unwrap_or_default()
    ));
    let head = method == "HEAD";
    let mut send = |status: &str, headers: &[(&str, String)], body: &[u8]| {
        let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let _ = stream.write_all(out.as_bytes());
        if !head {
            let _ = stream.write_all(body);
        }
        let _ = stream.flush();
    };
    if let Some(name) = path.strip_prefix("/cdn/") {
        // The "CDN": bytes of an LFS file, with Range support.
        let Some(f) = files.get(name) else {
            return send("404 Not Found", &[("Content-Length", "0".into())], b"");
        };
        let mut body = f.body.clone();
        if f.serve == Serve::Corrupt {
            let mid = body.len() / 2;
            body[mid] ^= 0xff;
        }
        let start = range.unwrap_or(0).min(body.len());
        let status = if range.is_some() {
            "206 Partial Content"
        } else {
            "200 OK"
        };
        let rest = &body[start..];
        let mut headers = vec![("Content-Length", rest.len().to_string())];
        if range.is_some() {
            headers.push((
                "Content-Range",
                format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
            ));
        }
        if let (Serve::DropOnceAfter(n), false) = (f.serve, head) {
            if gets.fetch_add(1, Ordering::SeqCst) == 0 {
                // Promise everything, deliver n bytes, hang up.
                let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
                for (k, v) in &headers {
                    out.push_str(&format!("{k}: {v}\r\n"));
                }
                out.push_str("\r\n");
                let _ = stream.write_all(out.as_bytes());
                let _ = stream.write_all(&rest[..n.min(rest.len())]);
                let _ = stream.flush();
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
        return send(status, &headers, rest);
    }
    // "/{owner}/{repo}/resolve/main/{file}"
    let key = path.trim_start_matches('/').to_string();
    let Some(f) = files.get(&key) else {
        return send(
            "404 Not Found",
            &[
                ("Content-Length", "15".into()),
                ("X-Error-Code", "EntryNotFound".into()),
            ],
            b"Entry not found",
        );
    };
    if f.lfs {
        let headers = [
            ("X-Repo-Commit", COMMIT.to_string()),
            ("X-Linked-Etag", format!("\"{}\"", sha256(&f.body))),
            ("X-Linked-Size", f.body.len().to_string()),
            ("Location", format!("http://127.0.0.1:{port}/cdn/{key}")),
            ("Content-Length", "0".into()),
        ];
        send("302 Found", &headers, b"")
    } else {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(tmp.path(), &f.body).unwrap();
        let headers = [
            ("X-Repo-Commit", COMMIT.to_string()),
            (
                "ETag",
                format!("\"{}\"", git_blob_sha1(tmp.path()).unwrap()),
            ),
            ("Content-Length", f.body.len().to_string()),
        ];
        send("200 OK", &headers, &f.body)
    }
}

/// A tiny random detector in GenD's checkpoint layout: (safetensors bytes, the detector, its
/// variables).
fn tiny_gend_checkpoint(head_norm: bool) -> (Vec<u8>, Detector, nn::VarStore) {
    let mut cfg = DetectorConfig::preset("tiny-gend").unwrap();
    cfg.gend_head_norm = head_norm;
    let vs = nn::VarStore::new(Device::Cpu);
    let det = Detector::new(&vs.root(), &cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    // The real checkpoint's linear head is trained; scale the random one so probabilities spread.
    let _ = tch::no_grad(|| {
        vs.variables()["model.linear.weight"]
            .shallow_clone()
            .g_mul_scalar_(5.0)
    });
    vs.save(&path).unwrap();
    (std::fs::read(&path).unwrap(), det, vs)
}

fn gend_files(model: Vec<u8>, serve: Serve, head: &str) -> HashMap<String, File> {
    let config = format!("{{\"architectures\": [\"GenD\"], \"backbone\": \"openai/clip-vit-large-patch14\", \"head\": \"{head}\"}}");
    HashMap::from([
        (
            format!("{GEND_REPO}/resolve/main/model.safetensors"),
            File {
                body: model,
                lfs: true,
                serve,
            },
        ),
        (
            format!("{GEND_REPO}/resolve/main/config.json"),
            File {
                body: config.into_bytes(),
                lfs: false,
                serve: Serve::Normal,
            },
        ),
    ])
}

fn faces() -> Vec<image::RgbImage> {
    let photo = image::open(common::astronaut()).unwrap().to_rgb8();
    let face = image::imageops::crop_imm(&photo, 150, 40, 180, 180).to_image();
    vec![
        image::imageops::resize(&face, 224, 224, image::imageops::FilterType::Triangle),
        image::imageops::resize(&photo, 224, 224, image::imageops::FilterType::Triangle),
    ]
}

fn nothing_installed(models: &Path) {
    assert!(
        !models.join("profiles/gend-clip-l14").exists(),
        "a profile folder was left behind"
    );
    assert!(
        installed(models).unwrap().is_empty(),
        "installed.toml lists something"
    );
    let leftovers: Vec<PathBuf> = std::fs::read_dir(models.join("profiles"))
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
}

#[test]
fn fetch_installs_a_verified_gend_profile_that_scores() {
    let (model, reference, _vs) = tiny_gend_checkpoint(true);
    let hub = serve(gend_files(model.clone(), Serve::Normal, "LinearNorm"));
    let models = tempfile::tempdir().unwrap();
    let seen = Mutex::new((0u64, 0u64, 0usize));
    let inst = fetch(
        "gend-clip-l14",
        &hub.endpoint,
        models.path(),
        &|done, total| {
            let mut s = seen.lock().unwrap();
            assert!(
                done >= s.0 && done <= total,
                "progress went backwards or over: {done}/{total}"
            );
            *s = (done, total, s.2 + 1);
        },
    )
    .unwrap();

    // What was recorded.
    let dir = models.path().join("profiles/gend-clip-l14");
    assert_eq!(inst.path, dir);
    assert_eq!(inst.commit, COMMIT);
    assert_eq!(inst.repo, GEND_REPO);
    assert_eq!(inst.files[0].file, "model.safetensors");
    assert_eq!(inst.files[0].sha256, sha256(&model));
    assert_eq!(inst.files[0].verified_by, "sha256 (X-Linked-Etag)");
    assert_eq!(inst.files[1].verified_by, "git-sha1 (ETag)");
    assert_eq!(installed(models.path()).unwrap(), vec![inst.clone()]);
    let (done, total, calls) = *seen.lock().unwrap();
    assert_eq!(
        (done, total),
        (
            inst.files.iter().map(|f| f.size).sum(),
            inst.files.iter().map(|f| f.size).sum()
        )
    );
    assert!(calls >= 2);
    assert!(
        !models.path().join(".partial/gend-clip-l14").exists(),
        "part files are cleaned up"
    );
    let log = hub.log.lock().unwrap().clone();
    assert!(
        log.contains(&format!("HEAD /{GEND_REPO}/resolve/main/model.safetensors")),
        "{log:?}"
    );
    assert!(
        log.contains(&format!(
            "GET /cdn/{GEND_REPO}/resolve/main/model.safetensors"
        )),
        "{log:?}"
    );

    // The profile: GenD layout, trained, head from config.json, CLIP preset from the shapes.
    let det = LoadedDetector::load(&dir, Device::Cpu).unwrap();
    let p = det.profile();
    assert!(p.trained);
    assert_eq!(p.clip, "tiny");
    assert!(p.gend_head_norm);
    assert_eq!(p.preprocessing.context_scale, 1.3);
    assert!(p.description.contains(COMMIT), "{}", p.description);
    assert_eq!(
        det.weight_hashes(),
        vec![("model.safetensors".to_string(), sha256(&model))]
    );

    // It scores exactly like the detector the checkpoint was saved from.
    let faces = faces();
    let refs: Vec<&image::RgbImage> = faces.iter().collect();
    let scores = det.score(&refs).unwrap();
    let x = to_tensor(&refs, CLIP_MEAN, CLIP_STD).unwrap();
    let want = Vec::<f32>::try_from(
        tch::no_grad(|| reference.forward(&x, None, false))
            .unwrap()
            .prob,
    )
    .unwrap();
    let got: Vec<f32> = scores.iter().map(|s| s.prob).collect();
    println!("GenD tiny scores: {got:?}");
    assert_eq!(got, want);
    let (e0, e1) = (&scores[0].clip_emb, &scores[1].clip_emb);
    assert!(
        e0.iter().zip(e1).any(|(a, b)| (a - b).abs() > 1e-3),
        "two different images give different embeddings"
    );

    // list(): installed and verified; tampering is detected on the next list.
    let status = list(models.path()).unwrap();
    let gend = status.iter().find(|s| s.name == "gend-clip-l14").unwrap();
    assert!(gend.installed);
    assert_eq!(gend.verified, Some(true));
    assert_eq!(gend.sha256.as_deref(), Some(sha256(&model).as_str()));
    assert_eq!(gend.licence, "MIT");
    assert!(gend.source.ends_with(GEND_REPO));
    let clip = status
        .iter()
        .find(|s| s.name == "clip-vit-large-patch14")
        .unwrap();
    assert!(!clip.installed && clip.verified.is_none());
    for c in status
        .iter()
        .filter(|s| s.name.starts_with("mtcnn-") || s.name == "clip-bpe-vocab")
    {
        // Committed files present in this checkout must match the manifest's hash.
        assert_eq!(
            c.verified,
            c.installed.then_some(true),
            "{} at {:?}",
            c.name,
            c.path
        );
    }
    let w = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&w).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&w, bytes).unwrap();
    let gend = list(models.path())
        .unwrap()
        .into_iter()
        .find(|s| s.name == "gend-clip-l14")
        .unwrap();
    assert_eq!(gend.verified, Some(false));

    // Fetching again replaces the tampered install.
    fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap();
    let gend = list(models.path())
        .unwrap()
        .into_iter()
        .find(|s| s.name == "gend-clip-l14")
        .unwrap();
    assert_eq!(gend.verified, Some(true));
    assert_eq!(installed(models.path()).unwrap().len(), 1);
}

#[test]
fn corrupted_download_is_discarded_and_nothing_installed() {
    let (model, _, _) = tiny_gend_checkpoint(false);
    let hub = serve(gend_files(model, Serve::Corrupt, "linear"));
    let models = tempfile::tempdir().unwrap();
    let err = fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Weights(_)), "{err:?}");
    assert!(
        msg.contains("does not match the hub's checksum") && msg.contains("nothing was installed"),
        "{msg}"
    );
    nothing_installed(models.path());
    let parts: Vec<_> = std::fs::read_dir(models.path().join(".partial/gend-clip-l14"))
        .unwrap()
        .flatten()
        .collect();
    assert!(parts.is_empty(), "the bad download was deleted");
}

#[test]
fn missing_files_and_unknown_names_are_clear_errors() {
    let hub = serve(HashMap::new());
    let models = tempfile::tempdir().unwrap();
    let msg = fetch("xception", &hub.endpoint, models.path(), &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("timm/legacy_xception.tf_in1k/resolve/main/model.safetensors"),
        "{msg}"
    );
    assert!(msg.contains("not found on the hub (404)"), "{msg}");
    assert!(!models.path().join("base/xception").exists());

    let err = fetch("gpt-5", &hub.endpoint, models.path(), &|_, _| {}).unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    assert!(
        err.to_string()
            .contains("known: gend-clip-l14, clip-vit-large-patch14, xception, efficientnet-b4"),
        "{err}"
    );

    // Nothing listens on port 9 of localhost: a transport error, not a panic.
    let msg = fetch("xception", "http://127.0.0.1:9", models.path(), &|_, _| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cannot reach the hub"), "{msg}");
}

#[test]
fn dropped_connection_leaves_nothing_installed_and_the_next_fetch_resumes() {
    let (model, _, _) = tiny_gend_checkpoint(false);
    let half = model.len() / 2;
    let hub = serve(gend_files(
        model.clone(),
        Serve::DropOnceAfter(half),
        "linear",
    ));
    let models = tempfile::tempdir().unwrap();
    let err = fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "interrupted after {half} of {} bytes",
            model.len()
        )),
        "{msg}"
    );
    assert!(msg.contains("run the fetch again to resume"), "{msg}");
    nothing_installed(models.path());

    // The second try asks only for the rest and installs a verified file.
    let inst = fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap();
    assert_eq!(inst.files[0].sha256, sha256(&model));
    let log = hub.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|l| l.ends_with(&format!("model.safetensors bytes={half}-"))),
        "no resumed request: {log:?}"
    );
    assert_eq!(
        std::fs::read(inst.path.join("model.safetensors")).unwrap(),
        model
    );
}

#[test]
fn bases_install_under_base_and_wrong_layouts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cnn = dir.path().join("cnn.safetensors");
    Tensor::write_safetensors(
        &[(
            "conv_stem.weight",
            Tensor::ones([4, 3, 3, 3], (tch::Kind::Float, Device::Cpu)),
        )],
        &cnn,
    )
    .unwrap();
    let cnn = std::fs::read(cnn).unwrap();
    let files = HashMap::from([
        (
            "timm/efficientnet_b4.ra2_in1k/resolve/main/model.safetensors".to_string(),
            File {
                body: cnn.clone(),
                lfs: true,
                serve: Serve::Normal,
            },
        ),
        // A CNN checkpoint where GenD's should be.
        (
            format!("{GEND_REPO}/resolve/main/model.safetensors"),
            File {
                body: cnn.clone(),
                lfs: true,
                serve: Serve::Normal,
            },
        ),
        (
            format!("{GEND_REPO}/resolve/main/config.json"),
            File {
                body: b"{}".to_vec(),
                lfs: false,
                serve: Serve::Normal,
            },
        ),
    ]);
    let hub = serve(files);
    let models = tempfile::tempdir().unwrap();
    let inst = fetch("efficientnet-b4", &hub.endpoint, models.path(), &|_, _| {}).unwrap();
    assert_eq!(inst.path, models.path().join("base/efficientnet-b4"));
    assert_eq!(
        std::fs::read(inst.path.join("model.safetensors")).unwrap(),
        cnn
    );

    let err = fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap_err();
    assert!(
        err.to_string()
            .contains("not the checkpoint the manifest describes"),
        "{err}"
    );
    assert!(!models.path().join("profiles/gend-clip-l14").exists());
    assert_eq!(
        installed(models.path()).unwrap().len(),
        1,
        "only the CNN base is recorded"
    );
}

#[test]
fn manifest_and_git_sha1_are_sound() {
    let m = hub::manifest().unwrap();
    let names: Vec<&str> = m.fetchable.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "gend-clip-l14",
            "clip-vit-large-patch14",
            "xception",
            "efficientnet-b4"
        ]
    );
    for c in &m.committed {
        assert_eq!(c.sha256.len(), 64, "{}", c.name);
        assert!(!c.licence.is_empty() && !c.source.is_empty());
    }
    // Known git object ids: the empty blob and "hello\n".
    let dir = tempfile::tempdir().unwrap();
    let (e, h) = (dir.path().join("e"), dir.path().join("h"));
    std::fs::write(&e, b"").unwrap();
    std::fs::write(&h, b"hello\n").unwrap();
    assert_eq!(
        git_blob_sha1(&e).unwrap(),
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    );
    assert_eq!(
        git_blob_sha1(&h).unwrap(),
        "ce013625030ba8dba906f756967f9e9ca394464a"
    );
    // A multi-block input (SHA-1 pads at 64 bytes), checked against Python's hashlib.
    let big = dir.path().join("big");
    std::fs::write(
        &big,
        (0..1000u32)
            .map(|i| (i * 7 % 256) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let out = std::process::Command::new(common::python())
        .args(["-c", "import hashlib,sys;d=open(sys.argv[1],'rb').read();print(hashlib.sha1(b'blob %d\\0'%len(d)+d).hexdigest())"])
        .arg(&big)
        .output()
        .unwrap();
    assert_eq!(
        git_blob_sha1(&big).unwrap(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

/// The published GenD_CLIP_L_14 file in full: a random-weight checkpoint written by the Python
/// reference in exactly the published layout (394 fp32 tensors, no position_ids, 1 215 928 160
/// bytes, config.json head "LinearNorm") is fetched from the local hub through `models fetch`'s
/// code, gets GenD's preprocessing chain by itself, loads strictly, and scores the astronaut
/// photo like the reference chain (cv2 LMEDS + warpAffine, Pillow bicubic, transformers' CLIP
/// image processor and CLIP vision tower, L2 norm, linear, softmax[:, 1]). ≈ 1–2 min on 2 cores.
#[test]
fn full_size_gend_checkpoint_scores_like_the_published_reference_chain() {
    use verity::faces::mtcnn::Mtcnn;
    use verity::faces::preprocess::{self, Chain};

    let photo = image::open(common::astronaut()).unwrap().to_rgb8();
    let mtcnn = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
    let det = mtcnn.detect(&[&photo]).unwrap().remove(0);
    assert_eq!(det.len(), 1, "{det:?}");
    let lm = det[0].landmarks;
    // A second face: the same landmarks with one mouth corner off (LMedS outvotes it).
    let mut off = lm;
    off[3][0] -= 9.0;
    off[3][1] += 6.0;
    let sets = vec![lm, off];

    let work = tempfile::tempdir_in(common::repo_root().join("target")).unwrap();
    let status = std::process::Command::new(common::python())
        .arg(common::repo_root().join("tests/reference/preprocess_ref.py"))
        .args(["--gend-full", "--out"])
        .arg(work.path())
        .arg("--image")
        .arg(common::astronaut())
        .arg("--landmarks")
        .arg(serde_json::to_string(&sets).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("expected.json")).unwrap()).unwrap();
    let model = std::fs::read(work.path().join("model.safetensors")).unwrap();
    assert_eq!(model.len(), 1_215_928_160, "the published file size");
    assert_eq!(expected["tensors"], 394);
    let config = std::fs::read(work.path().join("config.json")).unwrap();
    let files = HashMap::from([
        (
            format!("{GEND_REPO}/resolve/main/model.safetensors"),
            File {
                body: model,
                lfs: true,
                serve: Serve::Normal,
            },
        ),
        (
            format!("{GEND_REPO}/resolve/main/config.json"),
            File {
                body: config,
                lfs: false,
                serve: Serve::Normal,
            },
        ),
    ]);
    let hub = serve(files);
    let models = tempfile::tempdir_in(common::repo_root().join("target")).unwrap();
    let inst = fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap();
    let loaded = LoadedDetector::load(&inst.path, Device::Cpu).unwrap();
    let p = loaded.profile();
    assert_eq!(p.clip, "vit-l14");
    assert!(p.gend_head_norm);
    assert_eq!(p.preprocessing.chain(), Chain::Gend, "a fetched GenD profile gets GenD's chain");
    let text = std::fs::read_to_string(inst.path.join("profile.toml")).unwrap();
    assert!(text.contains("chain = \"gend\""), "{text}");

    let spec = loaded.crop_spec();
    let inputs: Vec<image::RgbImage> = sets
        .iter()
        .map(|l| preprocess::prepare(&photo, l, &spec).input)
        .collect();
    let refs: Vec<&image::RgbImage> = inputs.iter().collect();
    let got: Vec<f32> = loaded.score(&refs).unwrap().iter().map(|s| s.prob).collect();
    let want: Vec<f64> = expected["prob"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    println!("full-size GenD, astronaut: Rust {got:?} vs reference chain {want:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!((*g as f64 - w).abs() <= 1e-3, "Rust {g} vs reference {w}");
    }
    assert!(
        want.iter().all(|w| (0.02..0.98).contains(w)),
        "the random head must give probabilities away from 0 and 1: {want:?}"
    );
}

/// A tiny GenD checkpoint with one tensor added or removed: refused with the tensor's name,
/// nothing installed.
#[test]
fn gend_checkpoint_with_an_extra_or_missing_tensor_is_refused() {
    let (model, _det, vs) = tiny_gend_checkpoint(true);
    drop(model);
    let dir = tempfile::tempdir().unwrap();
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.detach()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let write = |tensors: &[(String, Tensor)]| -> Vec<u8> {
        let p = dir.path().join("x.safetensors");
        let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
        Tensor::write_safetensors(&refs, &p).unwrap();
        std::fs::read(&p).unwrap()
    };
    let mut extra: Vec<(String, Tensor)> = named
        .iter()
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    extra.push((
        "feature_extractor.vision_model.extra_probe.weight".into(),
        Tensor::zeros([3], (tch::Kind::Float, Device::Cpu)),
    ));
    let missing: Vec<(String, Tensor)> = named
        .iter()
        .filter(|(k, _)| !k.ends_with("post_layernorm.bias"))
        .map(|(k, v)| (k.clone(), v.shallow_clone()))
        .collect();
    for (body, needle) in [
        (write(&extra), "extra_probe.weight"),
        (write(&missing), "post_layernorm.bias"),
    ] {
        let hub = serve(gend_files(body, Serve::Normal, "LinearNorm"));
        let models = tempfile::tempdir().unwrap();
        let err = fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        nothing_installed(models.path());
    }
}

#[test]
fn gend_config_with_an_unknown_head_is_refused() {
    let (model, _det, _vs) = tiny_gend_checkpoint(true);
    let hub = serve(gend_files(model, Serve::Normal, "MLP3"));
    let models = tempfile::tempdir().unwrap();
    let err = fetch("gend-clip-l14", &hub.endpoint, models.path(), &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("unknown GenD head \"MLP3\""), "{err}");
    nothing_installed(models.path());
}
