//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod pg;

/// `NewMedia` for a still image at `path` (`side`² pixels as the importer would record).
pub fn image_media(path: &Path, side: u32) -> verity::store::NewMedia {
    verity::store::NewMedia {
        original_path: path.to_path_buf(),
        kind: "image".into(),
        size_bytes: std::fs::metadata(path).unwrap().len(),
        width: Some(side),
        height: Some(side),
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project venv's Python (set by scripts/env.sh), else `.venv/bin/python`.
pub fn python() -> PathBuf {
    std::env::var_os("VERITY_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

/// Makes the parity fixtures of `tests/reference/<script>.py` (once; re-made when the script
/// changes) in `target/fixtures/<script>[-<variant>]/` and returns that folder. The script gets
/// `--out <dir>` plus `args`, and must write `done.stamp` last.
pub fn fixtures(script: &str, variant: &str, args: &[&str]) -> PathBuf {
    // Tests of one binary run in parallel threads: make each fixture set once, not concurrently.
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let root = repo_root();
    let src = root.join("tests/reference").join(format!("{script}.py"));
    let name = if variant.is_empty() {
        script.to_string()
    } else {
        format!("{script}-{variant}")
    };
    let out = root.join("target/fixtures").join(name);
    let stamp = out.join("done.stamp");
    let fresh = match (std::fs::metadata(&stamp), std::fs::metadata(&src)) {
        (Ok(s), Ok(p)) => s.modified().unwrap() >= p.modified().unwrap(),
        _ => false,
    };
    if !fresh {
        std::fs::create_dir_all(&out).unwrap();
        let status = Command::new(python())
            .arg(&src)
            .arg("--out")
            .arg(&out)
            .args(args)
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {}: {e} (run `make test` to set up the venv)",
                    python().display()
                )
            });
        assert!(status.success(), "{} failed", src.display());
        assert!(stamp.exists(), "{} did not write done.stamp", src.display());
    }
    out
}

/// Max |a − b| over two tensors of the same shape (asserts the shapes match).
pub fn max_abs_diff(a: &tch::Tensor, b: &tch::Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shape mismatch");
    (a.to_kind(tch::Kind::Double) - b.to_kind(tch::Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

/// Loads every tensor of a safetensors file into a name → tensor map (CPU).
pub fn read_safetensors(path: &Path) -> std::collections::HashMap<String, tch::Tensor> {
    tch::Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// The scikit-image astronaut photo (public domain) kept in the repo for face tests.
pub fn astronaut() -> PathBuf {
    repo_root().join("tests/data/astronaut.png")
}

/// Runs `ffmpeg <args> <out>` once per distinct argument list and caches the result in
/// `target/fixtures/media/`. `{astronaut}` in an argument is the test photo; `vars` adds other
/// placeholders (e.g. `("{marker}", path)`).
pub fn ffmpeg_cached(name: &str, args: &[&str], vars: &[(&str, &Path)]) -> PathBuf {
    use std::hash::{DefaultHasher, Hash, Hasher};
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = repo_root().join("target/fixtures/media");
    let mut hasher = DefaultHasher::new();
    args.hash(&mut hasher);
    let out = dir.join(format!(
        "{:012x}-{name}",
        hasher.finish() & 0xffff_ffff_ffff
    ));
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if out.exists() {
        return out;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!("tmp-{name}"));
    let astronaut = astronaut();
    let args: Vec<String> = args
        .iter()
        .map(|a| {
            let mut a = a.replace("{astronaut}", astronaut.to_str().unwrap());
            for (k, v) in vars {
                a = a.replace(k, v.to_str().unwrap());
            }
            a
        })
        .collect();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(&args)
        .arg(&tmp)
        .status()
        .expect("the FFmpeg CLI (Debian package `ffmpeg`) is needed to make test videos");
    assert!(status.success(), "ffmpeg {args:?} failed");
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// A camera-like live source for the live-ingest tests: ffmpeg sends `input` (its input options,
/// e.g. `-f lavfi -i testsrc=…`, then any filters) in real time as MPEG-2 MPEG-TS over UDP to a
/// free local port for at most `seconds`. The sender is killed when the guard is dropped.
pub struct UdpStream {
    pub url: String,
    child: std::process::Child,
}

impl Drop for UdpStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn udp_stream(input: &[&std::ffi::OsStr], seconds: u32) -> UdpStream {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("udp://127.0.0.1:{port}");
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re"])
        .args(input)
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "mpeg2video", "-g", "5", "-f", "mpegts"])
        .arg(format!("{url}?pkt_size=1316"))
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg must be installed (scripts/setup.sh)");
    UdpStream { url, child }
}

/// A video of the astronaut with a slow zoom, made with the FFmpeg CLI.
pub fn face_video(dir: &Path, seconds: u32, fps: u32, size: u32) -> PathBuf {
    let out = dir.join(format!("face_{seconds}s_{fps}fps_{size}.mp4"));
    let vf = format!(
        "scale={size}:{size},zoompan=z='1+0.002*on':d={}:s={size}x{size}:fps={fps}",
        seconds * fps
    );
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(astronaut())
        .args([
            "-vf",
            &vf,
            "-t",
            &seconds.to_string(),
            "-r",
            &fps.to_string(),
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    out
}

/// CPU settings under `root` (data/, models/) with a random-weight "tiny" profile installed and
/// selected (`tiny-untrained`, seed 7): fast analyses whose scores are marked UNTRAINED.
pub fn tiny_settings(root: &Path) -> verity::config::Settings {
    let mut s = verity::config::Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("models")),
        device: verity::device::DevicePref::Cpu,
        batch_size: 8,
        fps: 5.0,
        ..verity::config::Settings::default()
    };
    let dir = s.models_dir().join("profiles/tiny-untrained");
    verity::models::profile::create_random_profile(&dir, "tiny", 7).unwrap();
    s.profile = Some("tiny-untrained".into());
    s
}
