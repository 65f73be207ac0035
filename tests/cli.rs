//! The `verity` command line as a user meets it (issue 14, item 4): choices refused with exit 2
//! and the allowed values listed, shell completions and the man page generated from the parser,
//! `--json` on `info` and `models`, and Ctrl-C during `verity analyze` ending the analysis as
//! cancelled in the store with exit 130. Each test runs the built binary on its own data folder,
//! settings file and models folder.
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use verity::store::{CaseFilter, Store};

/// A private data folder, settings file and models folder for one test.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn models(&self) -> PathBuf {
        self.dir.path().join("models")
    }
    fn config(&self) -> PathBuf {
        self.dir.path().join("settings.toml")
    }
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_verity"));
        c.args(args)
            .arg("--data-dir")
            .arg(self.data())
            .env("VERITY_CONFIG", self.config())
            .env("VERITY_MODELS_DIR", self.models());
        c
    }
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_value_outside_a_choice_exits_2_and_lists_the_allowed_values() {
    let env = Env::new();
    for (args, allowed) in [
        (
            &["export", "1", "--format", "xml"][..],
            "[possible values: json, html, pdf]",
        ),
        (
            &["analyze", "x.mp4", "--device", "gpu2"][..],
            "[possible values: auto, cpu, cuda]",
        ),
        (
            &["analyze", "x.mp4", "--aggregation", "median"][..],
            "[possible values: mean, motion-weighted]",
        ),
        (
            &["review", "1", "maybe"][..],
            "[possible values: fake, real, unsure]",
        ),
        (
            &["cases", "--band", "suspicious"][..],
            "[possible values: fake, review, real, failed, interrupted, cancelled, not_scored, running, pending, done]",
        ),
        (
            &["models", "random", "--preset", "huge"][..],
            "[possible values: tiny, tiny-gend, vit-l14-effb4, vit-l14-xception, vit-l14, gend-vit-l14]",
        ),
        (
            &["models", "compose", "--name", "n", "--clip", "c", "--fusion", "sum"][..],
            "[possible values: concat, weighted, slerp]",
        ),
        (
            &["models", "compose", "--name", "n", "--clip", "c", "--head", "svm"][..],
            "[possible values: gend, seed]",
        ),
        (
            &["bench", "models", "--dtypes", "fp32,int8"][..],
            "[possible values: fp32, fp16, bf16]",
        ),
        (
            &["completions", "tcsh"][..],
            "[possible values: bash, elvish, fish, powershell, zsh]",
        ),
    ] {
        let out = env.run(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(allowed), "{args:?}: {err}");
    }
    // A fusion mode is parsed by the core; its message comes back with exit 2 too.
    let out = env.run(&["analyze", "x.mp4", "--fusion", "weighted:2"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("must be a number in [0, 1]"), "{err}");
    // Nothing was opened or created for a refused command line.
    assert!(!env.data().exists());
}

#[test]
fn the_core_spellings_are_still_accepted() {
    let env = Env::new();
    // `gpu` for cuda, `htm` for html, `motion` for motion-weighted, `skip` for unsure: accepted
    // by the parser (the command then fails on the missing file or case, not with exit 2).
    for args in [
        &[
            "analyze",
            "missing.mp4",
            "--device",
            "gpu",
            "--aggregation",
            "motion",
        ][..],
        &["export", "99", "--format", "htm", "--out", "r.html"][..],
        &["review", "99", "skip", "--analyst", "Ada"][..],
    ] {
        let out = env.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    let env = Env::new();
    let out = env.run(&["completions", "bash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    assert!(script.contains("verity"), "{script}");
    for sub in ["analyze", "export", "completions"] {
        assert!(script.contains(sub), "bash completion lacks {sub}");
    }
    assert!(script.contains("json html pdf"), "export --format choices");
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let out = env.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let s = text(&out.stdout);
        assert!(
            s.contains("verity") && s.contains("analyze"),
            "{shell}: {s}"
        );
    }
}

#[test]
fn man_prints_a_roff_page_or_writes_verity_1() {
    let env = Env::new();
    let out = env.run(&["man"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    // The first macro after the quote-string preamble (`.ie`/`.el`) is the title.
    let first = page
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .unwrap_or_default();
    assert!(first.starts_with(".TH verity 1"), "{first:?}\n{page}");
    for part in [".SH NAME", ".SH SYNOPSIS", "analyze", "completions"] {
        assert!(page.contains(part), "man page lacks {part}");
    }
    let dir = env.dir.path().join("man");
    let out = env.run(&["man", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(dir.join("verity.1")).unwrap(), page);
}

#[test]
fn info_json_has_stable_fields() {
    let env = Env::new();
    let out = env.run(&["info", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let kind = v["device"]["kind"].as_str().unwrap();
    assert!(kind == "cpu" || kind == "cuda", "{v}");
    assert!(v["device"]["name"].as_str().is_some_and(|n| !n.is_empty()));
    assert!(v["device"]["threads"].as_i64().is_some());
    assert_eq!(Path::new(v["data_dir"].as_str().unwrap()), env.data());
    assert_eq!(Path::new(v["models_dir"].as_str().unwrap()), env.models());
    assert_eq!(Path::new(v["settings"].as_str().unwrap()), env.config());
    assert!(v["profile"].is_null(), "no profile installed: {v}");
    // With a profile chosen in the settings (untrained ones are only used by name), the one
    // analyses would use.
    let prof = env.models().join("profiles/tiny-untrained");
    verity::models::profile::create_random_profile(&prof, "tiny", 0).unwrap();
    std::fs::write(env.config(), "profile = \"tiny-untrained\"\n").unwrap();
    let out = env.run(&["info", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(Path::new(v["profile"].as_str().unwrap()), prof);
}

#[test]
fn models_json_lists_manifest_entries_and_profiles() {
    let env = Env::new();
    let prof = env.models().join("profiles/tiny-untrained");
    verity::models::profile::create_random_profile(&prof, "tiny", 3).unwrap();
    std::fs::write(env.config(), "profile = \"tiny-untrained\"\n").unwrap();
    let a = env.run(&["models", "--json"]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    let b = env.run(&["models", "list", "--json"]);
    assert!(b.status.success(), "{}", text(&b.stderr));
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["ok"], true);
    let models = v["models"].as_array().unwrap();
    let pnet = models
        .iter()
        .find(|m| m["name"] == "mtcnn-pnet")
        .expect("the committed MTCNN weights are listed");
    assert_eq!(pnet["installed"], true);
    assert_eq!(pnet["verified"], true);
    assert!(pnet["sha256"].as_str().unwrap().len() == 64);
    for m in models {
        for k in [
            "name",
            "installed",
            "verified",
            "path",
            "sha256",
            "source",
            "licence",
        ] {
            assert!(m.get(k).is_some(), "{k} missing in {m}");
        }
    }
    let profiles = v["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 1, "{v}");
    assert_eq!(profiles[0]["name"], "tiny-untrained");
    assert_eq!(profiles[0]["trained"], false);
    assert_eq!(Path::new(profiles[0]["dir"].as_str().unwrap()), prof);
    assert_eq!(Path::new(v["active_profile"].as_str().unwrap()), prof);
    // The text listing is unchanged in kind: one line per entry, the profile labelled.
    let t = text(&env.run(&["models"]).stdout);
    assert!(
        t.contains("mtcnn-pnet") && t.contains("installed, sha256 ok"),
        "{t}"
    );
    assert!(t.contains("UNTRAINED (random weights)"), "{t}");
}

/// A 60-second 320×240 video from the FFmpeg CLI.
fn long_video(dir: &Path) -> PathBuf {
    let out = dir.join("long.mp4");
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-t", "60", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .expect("the ffmpeg CLI makes the test video");
    assert!(st.success());
    out
}

#[test]
fn ctrl_c_during_analyze_stores_the_analysis_as_cancelled() {
    let env = Env::new();
    verity::models::profile::create_random_profile(
        &env.models().join("profiles/tiny-untrained"),
        "tiny",
        0,
    )
    .unwrap();
    let video = long_video(env.dir.path());
    let mut child = env
        .command(&[
            "analyze",
            "--json",
            "--fps",
            "10",
            "--profile",
            "tiny-untrained",
        ])
        .arg(&video)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the analysis is under way (its case is `running`).
    let t0 = Instant::now();
    let case = loop {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the analysis never started"
        );
        if let Some(st) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "verity analyze ended ({st}) before it was interrupted: {} {}",
                text(&out.stdout),
                text(&out.stderr)
            );
        }
        if env.data().join("verity.db").exists() {
            let s = Store::open(&env.data()).unwrap();
            let running = s
                .list_cases(&CaseFilter {
                    band: Some("running".into()),
                    ..Default::default()
                })
                .unwrap();
            if let Some(c) = running.first() {
                break c.id;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let pid = child.id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    // It stops at the next frame: well before the 600 frames it would analyse.
    let t1 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t1.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("verity analyze did not stop within 60 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(status.code(), Some(130), "{status}: {stdout} {stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["status"], "cancelled", "{stdout}");
    assert_eq!(summary["case_id"], case);

    let s = Store::open(&env.data()).unwrap();
    let d = s.case_detail(case).unwrap();
    let a = d.analysis.expect("the analysis is stored");
    assert_eq!(a.status, "cancelled");
    assert_eq!(d.case.status, "cancelled");
    assert!(
        a.frames_total < 600,
        "stopped early: {} frames",
        a.frames_total
    );
    assert!(s
        .list_cases(&CaseFilter {
            band: Some("running".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
}
