//! The training recipe as a user reaches it: `verity train --loss …` (the parser, the CLI's
//! refusals with exit code 2, a short run with the supervised-contrastive and image–text terms
//! on whose weights land in the trained profile's `[training]` table and in `train_log.jsonl`),
//! and `verity eval` on a generated data set (real photos + self-blended fakes) with its HTML
//! report read back and checked against the metrics the command printed.
mod common;

use image::RgbImage;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use tch::Device;
use verity::faces::align::{warp_similarity, Similarity};
use verity::faces::mtcnn::Mtcnn;
use verity::models::profile::{create_random_profile, load_profile};
use verity::train::losses::LossWeights;
use verity::train::sbi::{self, SbiConfig};
use verity::train::Rng;

/// The astronaut photo and its five landmarks (MTCNN).
fn photo() -> &'static (RgbImage, [[f32; 2]; 5]) {
    static P: OnceLock<(RgbImage, [[f32; 2]; 5])> = OnceLock::new();
    P.get_or_init(|| {
        let img = image::open(common::astronaut()).unwrap().to_rgb8();
        let m = Mtcnn::load(&Mtcnn::default_dir(), Device::Cpu).unwrap();
        let det = m.detect(&[&img]).unwrap().remove(0).remove(0);
        (img, det.landmarks)
    })
}

/// A labelled folder as `verity train/eval --data` reads it: `real/id<i>/photo.png` (the
/// astronaut photo turned ±10°, scaled 0.7–0.9, shifted, brightness changed: a real face in a
/// 384² frame) and `fake/id<i>/photo.png` (its self-blended fake, `train::sbi`, made from the
/// same frame and its landmarks). The folder per identity keeps each pair on one side of the
/// split. Returns the number of real photos.
fn make_photo_dataset(root: &Path, n: usize, seed: u64) -> usize {
    let (img, lm) = photo();
    let mut rng = Rng::new(seed);
    let sbi_cfg = SbiConfig {
        blend_choices: vec![1.0],
        ..SbiConfig::default()
    };
    let (cx, cy) = (img.width() as f32 / 2.0, img.height() as f32 / 2.0);
    for i in 0..n {
        let deg = rng.range(-10.0, 10.0) as f32;
        let s = rng.range(0.7, 0.9) as f32;
        let (c, sn) = (s * deg.to_radians().cos(), s * deg.to_radians().sin());
        let (dx, dy) = (rng.range(-15.0, 15.0) as f32, rng.range(-15.0, 15.0) as f32);
        let t = Similarity {
            a: c,
            b: sn,
            tx: 192.0 - c * cx + sn * cy + dx,
            ty: 192.0 - sn * cx - c * cy + dy,
        };
        let mut real = warp_similarity(img, &t, 384, 384);
        let gain = rng.range(0.85, 1.15) as f32;
        for p in real.pixels_mut() {
            p.0 =
                p.0.map(|v| (v as f32 * gain).round().clamp(0.0, 255.0) as u8);
        }
        let rlm = lm.map(|p| t.apply(p));
        let mut params = sbi_cfg.draw(seed * 1000 + i as u64, sbi::face_size(&rlm));
        params.hue_deg = rng.range(10.0, 16.0) as f32;
        params.saturation = 1.15;
        let fake = sbi::self_blend_with(&real, &rlm, &params).unwrap();
        for (class, im) in [("real", &real), ("fake", &fake.image)] {
            let dir = root.join(class).join(format!("id{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            im.save(dir.join("photo.png")).unwrap();
        }
    }
    n
}

/// A scratch install: `models/profiles/<preset>-untrained` (random weights, UNTRAINED).
struct Install {
    tmp: tempfile::TempDir,
}

impl Install {
    fn new(presets: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        for p in presets {
            create_random_profile(
                &tmp.path()
                    .join("models/profiles")
                    .join(format!("{p}-untrained")),
                p,
                7,
            )
            .unwrap();
        }
        Install { tmp }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn verity(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_verity"))
            .args(args)
            .arg("--data-dir")
            .arg(self.path().join("data"))
            .env("VERITY_MODELS_DIR", self.path().join("models"))
            .env("VERITY_CONFIG", self.path().join("none.toml"))
            .output()
            .unwrap()
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn loss_spec_parser_accepts_good_and_refuses_bad_strings() {
    let d = LossWeights::default();
    assert_eq!(
        (d.bce, d.alignment, d.uniformity, d.supcon, d.image_text),
        (1.0, 0.1, 0.5, 0.0, 0.0)
    );
    let all: LossWeights = "bce=1,align=0.1,unif=0.5,supcon=0.1,text=0.1"
        .parse()
        .unwrap();
    assert_eq!(
        all,
        LossWeights {
            bce: 1.0,
            alignment: 0.1,
            uniformity: 0.5,
            supcon: 0.1,
            image_text: 0.1
        }
    );
    // Terms not named keep their defaults; spaces, exponents and the field names are fine.
    let some: LossWeights = " supcon = 0.25 , text=1e-1 ".parse().unwrap();
    assert_eq!(
        some,
        LossWeights {
            supcon: 0.25,
            image_text: 0.1,
            ..d
        }
    );
    let long: LossWeights = "alignment=0.3,uniformity=0,image_text=2".parse().unwrap();
    assert_eq!(
        (long.alignment, long.uniformity, long.image_text, long.bce),
        (0.3, 0.0, 2.0, 1.0)
    );
    // Round trip through the printed form.
    assert_eq!(all.spec(), "bce=1,align=0.1,unif=0.5,supcon=0.1,text=0.1");
    assert_eq!(all.spec().parse::<LossWeights>().unwrap(), all);
    assert_eq!(d.spec().parse::<LossWeights>().unwrap(), d);

    for (bad, why) in [
        ("", "no weights given"),
        ("bce", "has no '='"),
        ("bce=1,", "has no '='"),
        ("focal=1", "unknown loss \"focal\""),
        ("bce=-1", "must be a finite number ≥ 0"),
        ("bce=nan", "must be a finite number ≥ 0"),
        ("supcon=inf", "must be a finite number ≥ 0"),
        ("text=abc", "is not a number"),
        ("bce=1,bce=2", "bce is given twice"),
        ("bce=1,alignment=0.2,align=0.3", "align is given twice"),
        ("bce=0,align=0,unif=0", "every loss weight is 0"),
    ] {
        let err = bad.parse::<LossWeights>().unwrap_err().to_string();
        assert!(err.contains(why), "{bad:?}: {err}");
        assert!(
            err.contains("names: bce, align, unif, supcon, text"),
            "{bad:?}: {err}"
        );
    }
}

#[test]
fn cli_refuses_bad_loss_specs_with_exit_code_2() {
    let inst = Install::new(&[]);
    for (bad, why) in [
        ("focal=1", "unknown loss \"focal\""),
        ("bce=-0.5", "must be a finite number ≥ 0"),
        ("bce=NaN", "must be a finite number ≥ 0"),
        ("supcon", "has no '='"),
        ("bce=0,align=0,unif=0", "every loss weight is 0"),
    ] {
        let out = inst.verity(&[
            "train",
            "--data",
            "/nonexistent",
            "--parent",
            "tiny-untrained",
            "--name",
            "x",
            "--loss",
            bad,
        ]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {stdout} {stderr}");
        assert!(stderr.contains("--loss"), "{bad:?}: {stderr}");
        assert!(stderr.contains(why), "{bad:?}: {stderr}");
        assert!(
            stderr.contains("names: bce, align, unif, supcon, text"),
            "{bad:?}: {stderr}"
        );
    }
}

/// A weight that cannot apply is refused before any data is read, naming the profile.
#[test]
fn cli_refuses_the_image_text_loss_on_a_gend_profile() {
    let inst = Install::new(&["tiny-gend"]);
    let out = inst.verity(&[
        "train",
        "--data",
        "/nonexistent",
        "--parent",
        "tiny-gend-untrained",
        "--name",
        "x",
        "--loss",
        "text=0.1",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout} {stderr}");
    assert!(
        stderr.contains("image–text loss")
            && stderr.contains("\"tiny-gend-untrained\" (GenD layout)")
            && stderr.contains("text=0"),
        "{stderr}"
    );
    // supcon applies to every layout: the same command with supcon gets past the check (and
    // stops at the missing data folder instead).
    let out = inst.verity(&[
        "train",
        "--data",
        "/nonexistent",
        "--parent",
        "tiny-gend-untrained",
        "--name",
        "x",
        "--loss",
        "supcon=0.1",
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("image–text"), "{stderr}");
    assert!(stderr.contains("/nonexistent"), "{stderr}");
}

fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn cli_train_with_supcon_and_text_records_the_weights_and_their_terms() {
    let inst = Install::new(&["tiny"]);
    let data = inst.path().join("photos");
    make_photo_dataset(&data, 6, 3);
    let out_dir = inst.path().join("run");
    let spec = "bce=1,align=0.1,unif=0.5,supcon=0.3,text=0.2";
    let out = inst.verity(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--parent",
        "tiny-untrained",
        "--name",
        "tuned",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--out",
        out_dir.to_str().unwrap(),
        "--loss",
        spec,
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout} {stderr}");
    assert!(
        stdout.contains(&format!("loss weights: {spec}")),
        "{stdout}"
    );
    let want: LossWeights = spec.parse().unwrap();

    // The profile records the weights (and where the text prompts came from).
    let toml = std::fs::read_to_string(out_dir.join("profile/profile.toml")).unwrap();
    assert!(toml.contains("[training]"), "{toml}");
    let p = load_profile(&out_dir.join("profile")).unwrap();
    assert_eq!(p.name, "tuned-untrained");
    let rec = p.training.expect("a [training] record");
    assert_eq!(rec.losses.weights, want);
    assert_eq!(rec.parent, "tiny-untrained");
    assert_eq!((rec.epochs, rec.batch_size), (2, 4));
    assert!(rec.steps > 0);
    // The random parent has no text tower: the prompts come from a seeded random one, and the
    // record says so.
    let prompts = rec.text_prompts.expect("the text term's source");
    assert!(prompts.contains("random text tower"), "{prompts}");
    // A profile without the table (the parent, and every profile written before it) loads.
    let parent = inst.path().join("models/profiles/tiny-untrained");
    assert!(!std::fs::read_to_string(parent.join("profile.toml"))
        .unwrap()
        .contains("[training]"));
    assert!(load_profile(&parent).unwrap().training.is_none());

    // The log: every epoch names the weights, the supcon and image–text terms were computed
    // (non-zero), and the total is Σ weight × term — the weights were applied, not just stored.
    let log = jsonl(&out_dir.join("train_log.jsonl"));
    assert_eq!(log.len(), 2);
    for e in &log {
        let w: LossWeights = serde_json::from_value(e["loss_weights"].clone()).unwrap();
        assert_eq!(w, want, "{e}");
        let part = |k: &str| {
            e["parts"][k]
                .as_f64()
                .unwrap_or_else(|| panic!("{k} in {e}"))
        };
        for k in ["supcon", "image_text"] {
            let v = part(k);
            assert!(v.is_finite() && v > 0.0, "{k} = {v} in {e}");
        }
        let total = want.bce * part("bce")
            + want.alignment * part("alignment")
            + want.uniformity * part("uniformity")
            + want.supcon * part("supcon")
            + want.image_text * part("image_text");
        let loss = e["loss"].as_f64().unwrap();
        assert!(
            (loss - total).abs() <= 1e-4 * loss.abs().max(1.0),
            "loss {loss} vs Σ w·term {total} in {e}"
        );
    }
    // training.json (the run's provenance) carries the same configuration.
    let prov: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("profile/training.json")).unwrap())
            .unwrap();
    let w: LossWeights =
        serde_json::from_value(prov["config"]["losses"]["weights"].clone()).unwrap();
    assert_eq!(w, want);
}

/// `(header, cell)` of every `<tr><th>…</th><td>…</td></tr>` row, unescaped.
fn table_rows(html: &str) -> Vec<(String, String)> {
    let unescape = |s: &str| {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
    };
    let mut rows = vec![];
    let mut rest = html;
    while let Some(i) = rest.find("<tr><th>") {
        rest = &rest[i + "<tr><th>".len()..];
        let th_end = rest.find("</th><td>").expect("a row's cell");
        let th = &rest[..th_end];
        let td_start = th_end + "</th><td>".len();
        let td_end = rest[td_start..].find("</td></tr>").expect("the row's end") + td_start;
        rows.push((unescape(th), unescape(&rest[td_start..td_end])));
        rest = &rest[td_end..];
    }
    rows
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    let i = s.find(a).unwrap_or_else(|| panic!("no {a:?}")) + a.len();
    let j = s[i..]
        .find(b)
        .unwrap_or_else(|| panic!("no {b:?} after {a:?}"))
        + i;
    &s[i..j]
}

fn f4(v: &serde_json::Value) -> String {
    v.as_f64()
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "n/a".into())
}

#[test]
fn cli_eval_on_generated_fakes_writes_a_report_that_matches_its_metrics() {
    let inst = Install::new(&["tiny"]);
    let data = inst.path().join("photos");
    let n = make_photo_dataset(&data, 5, 11);
    let report_dir = inst.path().join("eval");
    let out = inst.verity(&[
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--profile",
        "tiny-untrained",
        "--out",
        report_dir.to_str().unwrap(),
        "--json",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout} {stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(printed["profile"], "tiny-untrained");
    assert_eq!(printed["trained"], false);
    assert!(printed["label"].as_str().unwrap().contains("UNTRAINED"));
    let m = &printed["metrics"];
    // Every photo has one face: n real + n self-blended fakes.
    assert_eq!(m["n"], 2 * n);
    assert_eq!(m["n_fake"], n);
    assert_eq!(m["n_real"], n);
    // metrics.json holds the same numbers.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(&file["after"], m);
    assert!(m["auc"].as_f64().is_some(), "both classes present: {m}");

    let html_path = PathBuf::from(printed["report_html"].as_str().unwrap());
    assert_eq!(html_path, report_dir.join("report.html"));
    let html = std::fs::read_to_string(&html_path).unwrap();
    let title = between(&html, "<title>", "</title>");
    assert!(
        title.starts_with("Evaluation of tiny-untrained (UNTRAINED"),
        "{title}"
    );
    assert!(between(&html, "<h1>", "</h1>").contains("UNTRAINED"));
    let rows = table_rows(&html);
    let cell = |k: &str| {
        rows.iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no row {k:?} in {rows:?}"))
    };
    assert_eq!(
        cell("Samples"),
        format!("{} ({} fake, {} real)", 2 * n, n, n)
    );
    assert_eq!(cell("AUC"), f4(&m["auc"]));
    assert_eq!(
        cell("EER"),
        format!(
            "{} (threshold {})",
            f4(&m["eer"]["rate"]),
            f4(&m["eer"]["threshold"])
        )
    );
    assert_eq!(cell("Average precision"), f4(&m["average_precision"]));
    assert_eq!(cell("ECE (15 bins)"), f4(&m["ece"]));
    let acc = m["accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["threshold"] == 0.5)
        .unwrap();
    assert_eq!(cell("Accuracy at 0.5"), f4(&acc["accuracy"]));
    assert!(cell("Review band").starts_with(&format!(
        "{:.1} % of samples",
        100.0 * m["review_share"].as_f64().unwrap()
    )));
    assert!(html.contains("aria-label=\"ROC curve\"") && html.contains("<polyline"));

    // The text output, with the profile given as a folder and no --out: the report goes to
    // <data>/eval-<profile name>, and the printed numbers are the report's.
    let pdir = inst.path().join("models/profiles/tiny-untrained");
    let out = inst.verity(&[
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--profile",
        pdir.to_str().unwrap(),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout} {stderr}");
    let default_html = data.join("eval-tiny-untrained/report.html");
    assert!(
        default_html.is_file(),
        "no report at {}: {stdout}",
        default_html.display()
    );
    assert!(stdout.contains(&format!(
        "on {} faces ({} fake, {} real) — UNTRAINED profile",
        2 * n,
        n,
        n
    )));
    let html2 = std::fs::read_to_string(&default_html).unwrap();
    let rows2 = table_rows(&html2);
    let cell2 = |k: &str| rows2.iter().find(|(h, _)| h == k).unwrap().1.clone();
    let line = format!(
        "AUC {}  EER {}  AP {}  ECE {}  accuracy (0.5) {}",
        cell2("AUC"),
        cell2("EER").split(' ').next().unwrap(),
        cell2("Average precision"),
        cell2("ECE (15 bins)"),
        cell2("Accuracy at 0.5")
    );
    assert!(stdout.contains(&line), "{line:?} not in {stdout}");
    // Same data, same weights: the same numbers as the first run.
    assert_eq!(cell2("AUC"), cell("AUC"));
    assert_eq!(cell2("Samples"), cell("Samples"));
}
