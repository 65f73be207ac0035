//! "Retrain from reviews" (src/train/retrain.rs) on a tiny random GenD-layout profile and a store
//! of adjudicated cases whose face crops are generated (real = textured faces-to-be, fake = the
//! same with a colour cast): readable refusals (no profile, too few labels), a candidate with
//! before/after metrics on the same held-out cases while the active profile stays untouched,
//! accept installs it, discard deletes it, cancel leaves nothing behind, all audited.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use verity::config::Settings;
use verity::device::DevicePref;
use verity::faces::align::AlignTemplate;
use verity::models::profile::{create_random_profile, list_profiles, load_profile};
use verity::models::weights::sha256_file;
use verity::store::{FaceRow, FrameRow, NewMedia, Store, Verdict};
use verity::train::retrain::{self, Retrain, RetrainOptions, RetrainProgress};
use verity::train::Rng;
use verity::Error;

const PARENT: &str = "tiny-gend-untrained";

/// A 224² crop: smooth random blobs (seeded); fakes get a strong red cast a tiny network can
/// pick up in a few steps.
fn crop(seed: u64, fake: bool) -> image::RgbImage {
    let mut rng = Rng::new(seed);
    let (cx, cy, r) = (
        rng.range(80.0, 140.0),
        rng.range(80.0, 140.0),
        rng.range(40.0, 70.0),
    );
    let base = [
        rng.range(90.0, 160.0),
        rng.range(80.0, 150.0),
        rng.range(70.0, 140.0),
    ];
    image::RgbImage::from_fn(224, 224, |x, y| {
        let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt() / r;
        let shade = (1.2 - d).clamp(0.3, 1.0);
        let mut px = base.map(|c| c * shade);
        if fake {
            px[0] = (px[0] + 70.0).min(255.0);
            px[2] *= 0.6;
        }
        image::Rgb(px.map(|c| c.round() as u8))
    })
}

/// One imported, analysed case with `faces` stored crops, adjudicated as `verdict` by "ana".
fn add_case(store: &mut Store, dir: &Path, k: u64, verdict: Verdict, faces: usize) -> i64 {
    let fake = verdict == Verdict::Fake;
    let src = dir.join(format!("case{k}.png"));
    crop(1000 + k, fake).save(&src).unwrap();
    let media = NewMedia {
        original_path: src.clone(),
        kind: "image".into(),
        size_bytes: std::fs::metadata(&src).unwrap().len(),
        width: Some(224),
        height: Some(224),
        duration_s: None,
        fps: None,
        codec: None,
        container: None,
    };
    let case = store.import(&media, "ana").unwrap().case_id;
    let aid = store.begin_analysis(case, "{}", "ana").unwrap();
    let frame = FrameRow {
        idx: 0,
        source_index: 0,
        pts_s: 0.0,
        keyframe: true,
        motion: 0.0,
        width: 224,
        height: 224,
    };
    // Landmarks at the template's own points: the crop is the frame.
    let lm = AlignTemplate::gend().points_px(224);
    let rows: Vec<FaceRow> = (0..faces)
        .map(|f| {
            let mut bytes = Vec::new();
            image::DynamicImage::ImageRgb8(crop(k * 10 + f as u64, fake))
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .unwrap();
            let key = store
                .blobs
                .put_derived(&format!("a{aid}/f{f}.png"), &bytes)
                .unwrap();
            FaceRow {
                id: 0,
                frame_idx: 0,
                track_id: f as i64,
                bbox: [0.0, 0.0, 224.0, 224.0],
                det_prob: 0.99,
                landmarks: lm,
                crop: Some(key),
                native_crop: None,
                full_frame: false,
                score: None,
            }
        })
        .collect();
    store.add_frames(aid, &[frame], &rows).unwrap();
    store.add_review(case, verdict, "ana", "").unwrap();
    case
}

struct Setup {
    _tmp: tempfile::TempDir,
    settings: Settings,
    models: PathBuf,
    parent_sha: String,
}

fn setup(fakes: u64, reals: u64) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let data = tmp.path().join("data");
    create_random_profile(&models.join("profiles").join(PARENT), "tiny-gend", 7).unwrap();
    let mut store = Store::open(&data).unwrap();
    let media = tmp.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    for k in 0..fakes {
        add_case(&mut store, &media, k, Verdict::Fake, 2);
    }
    for k in 0..reals {
        add_case(&mut store, &media, 100 + k, Verdict::Real, 2);
    }
    let settings = Settings {
        models_dir: Some(models.clone()),
        data_dir: Some(data),
        profile: Some(PARENT.into()),
        device: DevicePref::Cpu,
        analyst: "ana".into(),
        ..Settings::default()
    };
    let parent_sha = sha256_file(
        &models
            .join("profiles")
            .join(PARENT)
            .join("model.safetensors"),
    )
    .unwrap();
    Setup {
        _tmp: tmp,
        settings,
        models,
        parent_sha,
    }
}

fn options() -> RetrainOptions {
    RetrainOptions {
        epochs: 2,
        lr: 1e-3,
        batch_size: 4,
        seed: 5,
        val_fraction: 0.25,
        min_cases_per_class: 2,
        // The supervised-contrastive term on, as the app's advanced settings can: it must reach
        // the trainer (checked on the candidate's log and profile).
        losses: verity::train::losses::LossWeights {
            supcon: 0.2,
            ..Default::default()
        },
    }
}

fn audit_actions(s: &Setup) -> Vec<(String, String, serde_json::Value)> {
    let store = Store::open(&s.settings.data_dir()).unwrap();
    store
        .audit_log(None)
        .unwrap()
        .into_iter()
        .filter(|r| r.action.starts_with("retrain"))
        .map(|r| (r.actor, r.action, r.details))
        .collect()
}

#[test]
fn refusals_are_readable() {
    let s = setup(3, 0);
    let job = Retrain::new(&s.settings, options()).unwrap();
    let store = Store::open(&s.settings.data_dir()).unwrap();
    let counts = retrain::label_counts(&store).unwrap();
    assert_eq!(
        (counts.fake_cases, counts.real_cases, counts.fake_faces),
        (3, 0, 6)
    );
    let msg = job.check(&store).unwrap_err().to_string();
    assert!(
        msg.contains("at least 2 adjudicated fake and 2 real cases")
            && msg.contains("you have 3 fake and 0 real")
            && msg.contains("review more cases"),
        "{msg}"
    );
    let no = AtomicBool::new(false);
    let err = job.run(&|_| {}, &no).unwrap_err().to_string();
    assert!(err.contains("you have 3 fake and 0 real"), "{err}");
    assert!(retrain::list_candidates(&s.models).is_empty());

    // No profile installed: point at `verity models fetch`.
    let empty = Settings {
        models_dir: Some(s.models.join("nothing-here")),
        profile: None,
        ..s.settings.clone()
    };
    let err = Retrain::new(&empty, options()).unwrap_err().to_string();
    assert!(err.contains("verity models fetch"), "{err}");
    // A selected profile that is not there.
    let missing = Settings {
        profile: Some("gone".into()),
        ..s.settings.clone()
    };
    let err = Retrain::new(&missing, options()).unwrap_err().to_string();
    assert!(
        err.contains("not installed") && err.contains("verity models fetch"),
        "{err}"
    );
    // Too small a threshold is a configuration error, not a silent run.
    let bad = RetrainOptions {
        min_cases_per_class: 1,
        ..options()
    };
    assert!(Retrain::new(&s.settings, bad).is_err());
    // A loss weight the profile cannot use is refused before the run, naming the profile.
    let text = RetrainOptions {
        losses: verity::train::losses::LossWeights {
            image_text: 0.1,
            ..Default::default()
        },
        ..options()
    };
    let err = Retrain::new(&s.settings, text).unwrap_err().to_string();
    assert!(
        err.contains("image–text") && err.contains("GenD layout") && err.contains("text=0"),
        "{err}"
    );
}

#[test]
fn retrain_makes_a_candidate_then_accept_and_discard() {
    let t0 = std::time::Instant::now();
    let s = setup(4, 4);
    let job = Retrain::new(&s.settings, options()).unwrap();
    let phases = Mutex::new(Vec::<RetrainProgress>::new());
    let no = AtomicBool::new(false);
    let c = job
        .run(&|p| phases.lock().unwrap().push(p.clone()), &no)
        .unwrap();
    println!(
        "candidate {} in {:.1} s: {:?} → {:?}",
        c.name, c.seconds, c.before, c.after
    );

    // Phases in order, with live steps and losses.
    let phases = phases.into_inner().unwrap();
    let names: Vec<String> = phases
        .iter()
        .map(|p| {
            serde_json::to_value(p).unwrap()["phase"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut dedup = names.clone();
    dedup.dedup();
    assert_eq!(
        dedup,
        [
            "preparing_data",
            "evaluating_before",
            "training",
            "evaluating_after",
            "saving"
        ],
        "{names:?}"
    );
    let steps: Vec<(usize, u64, u64, f64)> = phases
        .iter()
        .filter_map(|p| match p {
            RetrainProgress::Training {
                epoch,
                step,
                total_steps,
                loss,
                ..
            } => Some((*epoch, *step, *total_steps, *loss)),
            _ => None,
        })
        .collect();
    assert_eq!(steps.last().unwrap().0, 2);
    assert_eq!(steps.last().unwrap().1, steps.last().unwrap().2);
    assert!(steps.iter().all(|s| s.3.is_finite()));

    // Before and after on the same held-out cases, both classes present.
    assert!(
        c.name.starts_with("tiny-gend-reviews-") && c.name.ends_with("-untrained"),
        "{}",
        c.name
    );
    assert_eq!((c.counts.fake_cases, c.counts.real_cases), (4, 4));
    let (before, after) = (c.before.clone().unwrap(), c.after.clone().unwrap());
    assert_eq!(before.n, after.n);
    assert_eq!(
        (before.n_fake, before.n_real),
        (c.val_faces.1, c.val_faces.0)
    );
    assert!(before.n_fake > 0 && before.n_real > 0);
    assert_eq!(c.train_faces.0 + c.train_faces.1 + before.n, 16);
    assert!(before.auc.is_some() && after.auc.is_some() && after.accuracy.is_some());
    assert_eq!(c.epochs.len(), 2);
    assert_eq!(
        retrain::list_candidates(&s.models),
        vec![retrain::load_candidate(&c.dir).unwrap()]
    );
    assert!(c.dir.join("profile/profile.toml").is_file());
    // The loss weights chosen reached the trainer: in the candidate, its log and its profile.
    assert_eq!(c.options.losses.supcon, 0.2);
    assert!(c
        .epochs
        .iter()
        .all(|e| e.loss_weights.supcon == 0.2
            && e.parts.get("supcon").is_some_and(|v| v.is_finite())));
    let rec = load_profile(&c.dir.join("profile"))
        .unwrap()
        .training
        .expect("a [training] record");
    assert_eq!(rec.losses.weights, c.options.losses);

    // The candidate's weights moved away from the parent's.
    assert_ne!(
        sha256_file(&c.dir.join("profile/model.safetensors")).unwrap(),
        s.parent_sha
    );

    // Nothing replaced the active profile.
    let profiles: Vec<String> = list_profiles(&s.models)
        .into_iter()
        .map(|p| p.unwrap().name)
        .collect();
    assert_eq!(profiles, [PARENT]);
    let parent_dir = s.models.join("profiles").join(PARENT);
    assert_eq!(
        sha256_file(&parent_dir.join("model.safetensors")).unwrap(),
        s.parent_sha
    );

    // Accept: installed under its name, loadable; the candidate is gone.
    let store = Store::open(&s.settings.data_dir()).unwrap();
    let name = retrain::accept(&s.models, &c.name, &store, "bo").unwrap();
    assert_eq!(name, c.name);
    let installed = load_profile(&s.models.join("profiles").join(&name)).unwrap();
    // Fine-tuned from a random profile: still labelled untrained, whatever the head learned.
    assert!(!installed.trained && name.ends_with("-untrained"), "{name}");
    assert!(s
        .models
        .join("profiles")
        .join(&name)
        .join("candidate.json")
        .is_file());
    assert!(!c.dir.exists());
    assert!(retrain::list_candidates(&s.models).is_empty());
    assert!(retrain::accept(&s.models, &c.name, &store, "bo").is_err());
    assert!(retrain::accept(&s.models, "../profiles", &store, "bo").is_err());

    // A second round from the accepted profile: discard deletes it.
    let next = Settings {
        profile: Some(name.clone()),
        ..s.settings.clone()
    };
    let c2 = Retrain::new(&next, options())
        .unwrap()
        .run(&|_| {}, &no)
        .unwrap();
    assert!(
        c2.name.starts_with("tiny-gend-reviews-")
            && c2.name.ends_with("-untrained")
            && c2.name != name
    );
    assert_eq!(c2.parent, name);
    // A candidate whose weights were changed after training is refused.
    let own = c2.dir.join("profile/model.safetensors");
    let mut bytes = std::fs::read(&own).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&own, bytes).unwrap();
    let err = retrain::accept(&s.models, &c2.name, &store, "bo")
        .unwrap_err()
        .to_string();
    assert!(err.contains("SHA-256 mismatch"), "{err}");
    retrain::discard(&s.models, &c2.name, &store, "bo").unwrap();
    assert!(!c2.dir.exists());
    assert_eq!(list_profiles(&s.models).len(), 2);

    let audit = audit_actions(&s);
    let acts: Vec<(&str, &str)> = audit
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        acts,
        [
            ("ana", "retrain_start"),
            ("ana", "retrain_finish"),
            ("bo", "retrain_accept"),
            ("ana", "retrain_start"),
            ("ana", "retrain_finish"),
            ("bo", "retrain_discard"),
        ]
    );
    assert_eq!(audit[1].2["outcome"], "finished");
    assert_eq!(audit[2].2["profile"], name.as_str());
    println!("whole test {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn cancel_stops_cleanly() {
    // Cancelled while the current profile is evaluated, and while training: both end the run
    // with nothing left behind and a "cancelled" audit row.
    for phase in ["evaluating_before", "training"] {
        let s = setup(3, 3);
        let job = Retrain::new(&s.settings, options()).unwrap();
        let cancel = AtomicBool::new(false);
        let trained = std::cell::Cell::new(0);
        let err = job
            .run(
                &|p| {
                    if matches!(p, RetrainProgress::Training { .. }) {
                        trained.set(trained.get() + 1);
                    }
                    let hit = match p {
                        RetrainProgress::EvaluatingBefore => phase == "evaluating_before",
                        RetrainProgress::Training { .. } => phase == "training",
                        _ => false,
                    };
                    if hit {
                        cancel.store(true, Ordering::Relaxed);
                    }
                },
                &cancel,
            )
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{phase}: {err}");
        // Cancelled during the evaluation, the run stops there: no training step follows.
        assert_eq!(trained.get() > 0, phase == "training", "{phase}");
        assert!(retrain::list_candidates(&s.models).is_empty());
        let left: Vec<_> = std::fs::read_dir(retrain::candidates_dir(&s.models))
            .map(|d| d.flatten().collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{phase}: {left:?}");
        let audit = audit_actions(&s);
        assert_eq!(audit.len(), 2);
        assert_eq!(audit[1].2["outcome"], "cancelled");
    }
}

/// Accept interrupted by a crash: before the rename it is rolled back (the candidate stays,
/// audited as interrupted); after the rename but before the audit row it is completed (the row is
/// written once, the candidate removed). No marker is left either way.
#[test]
fn accept_interrupted_by_a_crash_is_rolled_back_or_completed() {
    let s = setup(4, 4);
    let no = AtomicBool::new(false);
    let opts = RetrainOptions {
        epochs: 1,
        ..options()
    };
    let c = Retrain::new(&s.settings, opts)
        .unwrap()
        .run(&|_| {}, &no)
        .unwrap();
    let installed = s.models.join("profiles").join(&c.name);
    let markers = || -> Vec<String> {
        std::fs::read_dir(retrain::candidates_dir(&s.models))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with(".accept-"))
            .collect()
    };

    // Crash after the marker, before the rename.
    drop(retrain::accept_prepare(&s.models, &c.name, "bo").unwrap());
    assert_eq!(markers().len(), 1);
    {
        let store = Store::open(&s.settings.data_dir()).unwrap();
        assert_eq!(retrain::recover_accepts(&s.models, &store).unwrap(), 1);
    }
    assert!(markers().is_empty());
    assert!(!installed.exists());
    assert_eq!(
        retrain::list_candidates(&s.models),
        vec![retrain::load_candidate(&c.dir).unwrap()],
        "the candidate stays"
    );

    // Crash after the rename, before the audit row.
    let pending = retrain::accept_prepare(&s.models, &c.name, "bo").unwrap();
    pending.install().unwrap();
    drop(pending);
    assert!(installed.join("profile.toml").is_file());
    assert_eq!(markers().len(), 1);
    let acts = |s: &Setup| -> Vec<String> { audit_actions(s).into_iter().map(|a| a.1).collect() };
    assert!(!acts(&s).contains(&"retrain_accept".to_string()));
    {
        let store = Store::open(&s.settings.data_dir()).unwrap();
        assert_eq!(retrain::recover_accepts(&s.models, &store).unwrap(), 1);
        assert_eq!(retrain::recover_accepts(&s.models, &store).unwrap(), 0);
    }
    assert!(markers().is_empty());
    assert!(!c.dir.exists());
    assert!(load_profile(&installed).is_ok());
    let audit = audit_actions(&s);
    let names: Vec<(&str, &str)> = audit
        .iter()
        .map(|(a, b, _)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("ana", "retrain_start"),
            ("ana", "retrain_finish"),
            ("bo", "retrain_accept_interrupted"),
            ("bo", "retrain_accept"),
        ]
    );
    assert_eq!(audit[3].2["profile"], c.name.as_str());
}
