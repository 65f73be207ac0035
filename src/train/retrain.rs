//! "Retrain from reviews": the human-in-the-loop fine-tune of the active detector profile on the
//! analysts' adjudicated cases, as a job the desktop app runs off its UI thread and the CLI
//! (`verity train --from-reviews`) runs headless — one code path, [`train_from_reviews`].
//!
//! The recipe is the LNCLIP-DF fine-tune of [`super::trainer`] (Yermakov et al., WACV 2026,
//! `github:yermandy/GenD`) at small defaults suited to tens of cases. The result is never put in
//! place silently: it becomes a *candidate* under `<models>/candidates/<name>/` with the
//! validation metrics of the parent and of the candidate on the same held-out cases
//! (`candidate.json`); [`accept`] installs it as a normal profile (one atomic rename) and
//! [`discard`] deletes it. Every step is written to the store's audit log with the analyst's name.
//!
//! Why the split is made per class: with a few dozen cases an unstratified identity split can
//! leave one class out of validation, and then there is no AUC to compare. Each case is one
//! identity and carries one label, so splitting the fake and the real cases separately keeps
//! cases disjoint between training and validation and puts both classes on each side.
use super::dataset::{self, Dataset, DatasetConfig, Sample};
use super::losses::{LossConfig, LossWeights};
use super::metrics::Report;
use super::trainer::{self, EpochLog, TrainConfig, TrainProgress, TrainSummary};
use crate::config::Settings;
use crate::faces::align::AlignTemplate;
use crate::models::profile::{load_profile, PROFILE_FILE};
use crate::store::Store;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use tch::Device;

/// The candidates' folder inside the models folder.
pub const CANDIDATES_DIR: &str = "candidates";
/// The summary file in a candidate folder.
pub const CANDIDATE_FILE: &str = "candidate.json";
/// What `verity models fetch` installs as a ready detector (named in refusals).
pub const FETCH_HINT: &str = "verity models fetch gend-clip-l14";

/// Options of a retrain run. `Default`: a short, gentle fine-tune for tens of cases (GenD's
/// recipe at a tenth of its learning rate, as the parent is already trained).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetrainOptions {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub seed: u64,
    /// Share of each class's cases held out for the before/after comparison.
    pub val_fraction: f64,
    /// Fewest adjudicated cases (with faces) of each class a run needs.
    pub min_cases_per_class: usize,
    /// The loss weights (the app's advanced settings; `verity train --loss`).
    pub losses: LossWeights,
}

impl Default for RetrainOptions {
    fn default() -> Self {
        RetrainOptions {
            epochs: 3,
            lr: 3e-5,
            batch_size: 8,
            seed: 0,
            val_fraction: 0.25,
            min_cases_per_class: 4,
            losses: LossWeights::default(),
        }
    }
}

impl RetrainOptions {
    /// The trainer settings these options stand for.
    pub fn train_config(&self, settings: &Settings) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            lr: self.lr,
            min_lr: (self.lr / 10.0).min(TrainConfig::default().min_lr),
            batch_size: self.batch_size,
            seed: self.seed,
            thresholds: settings.thresholds,
            resume: false,
            eval_before: true,
            losses: LossConfig {
                weights: self.losses,
                ..LossConfig::default()
            },
            ..TrainConfig::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.losses.validate_for_training()?;
        if !(0.0..1.0).contains(&self.val_fraction) || self.val_fraction == 0.0 {
            return Err(Error::Config(format!(
                "retraining holds out a share of the cases in (0, 1) for validation, not {}",
                self.val_fraction
            )));
        }
        if self.min_cases_per_class < 2 {
            return Err(Error::Config(
                "retraining needs at least 2 cases of each class (one to train, one to validate)"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Adjudicated cases with usable face crops, per class, and those left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelCounts {
    pub fake_cases: usize,
    pub real_cases: usize,
    pub fake_faces: usize,
    pub real_faces: usize,
    /// Labelled cases that give no face (never analysed, no face found, crop missing).
    pub skipped: usize,
}

impl LabelCounts {
    fn from_samples(samples: &[Sample], skipped: usize) -> Self {
        let mut fake = BTreeSet::new();
        let mut real = BTreeSet::new();
        let mut c = LabelCounts {
            skipped,
            ..Default::default()
        };
        for s in samples {
            if s.fake {
                fake.insert(&s.identity);
                c.fake_faces += 1;
            } else {
                real.insert(&s.identity);
                c.real_faces += 1;
            }
        }
        c.fake_cases = fake.len();
        c.real_cases = real.len();
        c
    }

    /// The readable refusal when there are too few cases, else None.
    pub fn refusal(&self, min: usize) -> Option<String> {
        (self.fake_cases < min || self.real_cases < min).then(|| {
            format!(
                "retraining needs at least {min} adjudicated fake and {min} real cases with a \
                 detected face; you have {} fake and {} real — review more cases in the queue",
                self.fake_cases, self.real_cases
            )
        })
    }
}

/// Counts the adjudicated cases the store holds (latest label per case, faces of the last
/// analysis). The crops' template does not change the counts.
pub fn label_counts(store: &Store) -> Result<LabelCounts> {
    let spec = crate::faces::preprocess::CropSpec {
        template: AlignTemplate::gend(),
        chain: crate::faces::preprocess::Chain::Direct,
        size: 224,
    };
    let (samples, skipped) = dataset::from_store(store, &spec)?;
    Ok(LabelCounts::from_samples(&samples, skipped.len()))
}

/// The adjudicated cases as a data set, split per class by case (see the module doc).
pub fn reviews_split(store: &Store, cfg: &DatasetConfig) -> Result<(Dataset, LabelCounts)> {
    cfg.validate()?;
    let (samples, skipped) = dataset::from_store(store, &cfg.crop_spec())?;
    let counts = LabelCounts::from_samples(&samples, skipped.len());
    let (fakes, reals): (Vec<Sample>, Vec<Sample>) = samples.into_iter().partition(|s| s.fake);
    let (mut train, mut val) = dataset::split(fakes, cfg);
    let (rt, rv) = dataset::split(reals, cfg);
    train.extend(rt);
    val.extend(rv);
    let data = Dataset {
        train,
        val,
        skipped,
        stats: dataset::DatasetStats {
            from_cases: counts.fake_faces + counts.real_faces,
            ..Default::default()
        },
        warnings: vec![],
    };
    Ok((data, counts))
}

/// The one training path from reviews, for the app and `verity train --from-reviews`: builds the
/// per-class split for `parent_dir`'s preprocessing, refuses readably when a class has fewer
/// than `min_cases` cases, and trains into `out` (see [`trainer::train`]).
#[allow(clippy::too_many_arguments)]
pub fn train_from_reviews(
    store: &Store,
    parent_dir: &Path,
    cache_dir: &Path,
    out: &Path,
    name: &str,
    cfg: &TrainConfig,
    val_fraction: f64,
    min_cases: usize,
    device: Device,
    progress: &dyn Fn(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<(TrainSummary, LabelCounts)> {
    let parent = load_profile(parent_dir)?;
    let mut dcfg = DatasetConfig::new(
        parent.preprocessing.align_template(),
        cache_dir.to_path_buf(),
    );
    dcfg.size = parent.preprocessing.size;
    dcfg.chain = parent.preprocessing.chain();
    dcfg.val_fraction = val_fraction;
    dcfg.seed = cfg.seed;
    dcfg.synthetic = dataset::Synthetic::Never;
    let (data, counts) = reviews_split(store, &dcfg)?;
    if let Some(why) = counts.refusal(min_cases) {
        return Err(Error::Config(why));
    }
    cfg.validate()?;
    let summary = trainer::train(parent_dir, &data, out, name, cfg, device, progress, cancel)?;
    Ok((summary, counts))
}

/// One row of the before/after table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    pub n_fake: usize,
    pub n_real: usize,
    pub auc: Option<f64>,
    pub eer: Option<f64>,
    /// Accuracy at 0.5.
    pub accuracy: Option<f64>,
    pub average_precision: Option<f64>,
    pub ece: f64,
    pub review_share: f64,
}

impl From<&Report> for Metrics {
    fn from(r: &Report) -> Self {
        Metrics {
            n: r.n,
            n_fake: r.n_fake,
            n_real: r.n_real,
            auc: r.auc,
            eer: r.eer.as_ref().map(|e| e.rate),
            accuracy: r
                .accuracy
                .iter()
                .find(|a| a.threshold == 0.5)
                .and_then(|a| a.accuracy),
            average_precision: r.average_precision,
            ece: r.ece,
            review_share: r.review_share,
        }
    }
}

/// A finished run waiting for the analyst's decision (`candidate.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Also the folder name, and the profile name once accepted.
    pub name: String,
    pub parent: String,
    pub created_at: String,
    pub analyst: String,
    pub options: RetrainOptions,
    pub counts: LabelCounts,
    pub train_faces: (usize, usize),
    pub val_faces: (usize, usize),
    pub before: Option<Metrics>,
    pub after: Option<Metrics>,
    pub epochs: Vec<EpochLog>,
    pub seconds: f64,
    /// The candidate folder (not stored).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// Live progress of a run, by phase.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum RetrainProgress {
    PreparingData,
    EvaluatingBefore,
    Training {
        epoch: usize,
        epochs: usize,
        step: u64,
        total_steps: u64,
        loss: f64,
    },
    EvaluatingAfter,
    Saving,
}

/// A retrain job: everything it needs, resolved from the settings, so it can run on any thread.
#[derive(Clone, Debug)]
pub struct Retrain {
    pub settings: Settings,
    pub models_dir: PathBuf,
    pub parent_dir: PathBuf,
    pub options: RetrainOptions,
}

impl Retrain {
    /// The job for the active profile, or a readable refusal when none is installed.
    pub fn new(settings: &Settings, options: RetrainOptions) -> Result<Self> {
        options.validate()?;
        let models_dir = settings.models_dir();
        let parent_dir = active_profile(settings)?;
        options
            .train_config(settings)
            .check_profile(&load_profile(&parent_dir)?)?;
        Ok(Retrain {
            settings: settings.clone(),
            models_dir,
            parent_dir,
            options,
        })
    }

    /// Refuses (before any work) when a class has too few cases.
    pub fn check(&self, store: &Store) -> Result<LabelCounts> {
        let counts = label_counts(store)?;
        match counts.refusal(self.options.min_cases_per_class) {
            Some(why) => Err(Error::Config(why)),
            None => Ok(counts),
        }
    }

    /// Fine-tunes the active profile into a new candidate. The active profile is not touched.
    /// Start and end (finished, failed or cancelled) are audited under the settings' analyst.
    pub fn run(
        &self,
        progress: &dyn Fn(&RetrainProgress),
        cancel: &AtomicBool,
    ) -> Result<Candidate> {
        progress(&RetrainProgress::PreparingData);
        let store = Store::open(&self.settings.data_dir())?;
        self.check(&store)?;
        let parent = load_profile(&self.parent_dir)?;
        let created_at = crate::store::now();
        let name = candidate_name(&parent.name, parent.random_encoders());
        let dir = candidates_dir(&self.models_dir).join(&name);
        let analyst = analyst_name(&self.settings);
        let cfg = self.options.train_config(&self.settings);
        let device = crate::device::select(self.settings.device)?;
        store.audit(
            &analyst,
            "retrain_start",
            None,
            &serde_json::json!({"parent": parent.name, "candidate": name, "options": self.options}),
        )?;
        progress(&RetrainProgress::EvaluatingBefore);
        let epochs = cfg.epochs;
        let on_train = |p: &TrainProgress| match p {
            TrainProgress::Step {
                epoch,
                epochs,
                step,
                total_steps,
                loss,
                ..
            } => progress(&RetrainProgress::Training {
                epoch: *epoch,
                epochs: *epochs,
                step: *step,
                total_steps: *total_steps,
                loss: *loss,
            }),
            TrainProgress::EpochDone(e) if e.epoch == epochs => {
                progress(&RetrainProgress::EvaluatingAfter)
            }
            _ => {}
        };
        let result = train_from_reviews(
            &store,
            &self.parent_dir,
            &self.models_dir.join("cache/faces"),
            &dir,
            &name,
            &cfg,
            self.options.val_fraction,
            self.options.min_cases_per_class,
            device,
            &on_train,
            cancel,
        )
        .and_then(|(summary, counts)| {
            progress(&RetrainProgress::Saving);
            let c = Candidate {
                name: name.clone(),
                parent: parent.name.clone(),
                created_at: created_at.clone(),
                analyst: analyst.clone(),
                options: self.options.clone(),
                counts,
                train_faces: summary.train_faces,
                val_faces: summary.val_faces,
                before: summary.val_before.as_ref().map(Metrics::from),
                after: summary.val_after.as_ref().map(Metrics::from),
                epochs: summary.epochs,
                seconds: summary.seconds,
                dir: dir.clone(),
            };
            // The checkpoint duplicates the weights and only serves resuming: drop it.
            let _ = std::fs::remove_dir_all(dir.join("checkpoint"));
            write_json(&dir.join(CANDIDATE_FILE), &c)?;
            Ok(c)
        });
        let outcome = match &result {
            Ok(c) => serde_json::json!({"outcome": "finished", "candidate": name,
                "auc_before": c.before.as_ref().and_then(|m| m.auc),
                "auc_after": c.after.as_ref().and_then(|m| m.auc)}),
            Err(Error::Cancelled) => serde_json::json!({"outcome": "cancelled", "candidate": name}),
            Err(e) => {
                serde_json::json!({"outcome": "failed", "candidate": name, "error": e.to_string()})
            }
        };
        if result.is_err() {
            // A failed or cancelled run leaves no half-written candidate behind.
            let _ = std::fs::remove_dir_all(&dir);
        }
        store.audit(&analyst, "retrain_finish", None, &outcome)?;
        result
    }
}

/// The folder of the profile the analysis uses (see [`crate::pipeline::find_profile`]), or a
/// refusal that says how to install one.
pub fn active_profile(settings: &Settings) -> Result<PathBuf> {
    let none = || {
        Error::Weights(format!(
            "no detector profile is installed to retrain: install one with `{FETCH_HINT}` \
             (or `verity models compose` on fetched bases) and select it in Settings"
        ))
    };
    let dir = crate::pipeline::find_profile(settings).ok_or_else(none)?;
    if !dir.join(PROFILE_FILE).is_file() {
        return Err(Error::Weights(format!(
            "the selected profile {} is not installed ({} is missing): install one with \
             `{FETCH_HINT}` or select another in Settings",
            dir.display(),
            PROFILE_FILE
        )));
    }
    Ok(dir)
}

/// `<models>/candidates`.
pub fn candidates_dir(models_dir: &Path) -> PathBuf {
    models_dir.join(CANDIDATES_DIR)
}

/// `<parent>-reviews-<UTC time>`; an earlier `-reviews-…` suffix of the parent is dropped so
/// names do not grow with every round, and so is `-untrained`, which comes back at the end when
/// the parent's encoders are random (`Profile::random_encoders`: the candidate stays untrained).
pub fn candidate_name(parent: &str, random_encoders: bool) -> String {
    let base = parent.split("-reviews-").next().unwrap_or(parent);
    let base = base.strip_suffix("-untrained").unwrap_or(base);
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S%.3f").to_string();
    let tail = if random_encoders { "-untrained" } else { "" };
    format!("{base}-reviews-{}{tail}", stamp.replace('.', "-"))
}

fn analyst_name(settings: &Settings) -> String {
    let a = settings.analyst.trim();
    if a.is_empty() {
        "analyst".into()
    } else {
        a.to_string()
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Other(format!("cannot write {}: {e}", path.display())))?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Reads a candidate folder.
pub fn load_candidate(dir: &Path) -> Result<Candidate> {
    let path = dir.join(CANDIDATE_FILE);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::input(&path, format!("cannot read the candidate: {e}")))?;
    let mut c: Candidate = serde_json::from_str(&text)
        .map_err(|e| Error::input(&path, format!("not a retrain candidate: {e}")))?;
    c.dir = dir.to_path_buf();
    Ok(c)
}

/// Every finished candidate, newest first.
pub fn list_candidates(models_dir: &Path) -> Vec<Candidate> {
    let Ok(entries) = std::fs::read_dir(candidates_dir(models_dir)) else {
        return vec![];
    };
    let mut out: Vec<Candidate> = entries
        .flatten()
        .filter_map(|e| load_candidate(&e.path()).ok())
        .collect();
    out.sort_by(|a, b| (&b.created_at, &b.name).cmp(&(&a.created_at, &a.name)));
    out
}

fn candidate_dir(models_dir: &Path, name: &str) -> Result<PathBuf> {
    let plain = !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\']);
    let dir = candidates_dir(models_dir).join(name);
    if !plain || !dir.join(CANDIDATE_FILE).is_file() {
        return Err(Error::Input {
            path: dir,
            message: format!("there is no retrain candidate named {name:?}"),
        });
    }
    Ok(dir)
}

/// Installs candidate `name` as the profile `<models>/profiles/<name>` (its profile folder is
/// moved there in one rename, with `candidate.json` and the report beside the weights), removes
/// the candidate and audits it. Returns the profile name for the caller to select.
///
/// Crash-safe in three steps ([`accept_prepare`], [`PendingAccept::install`],
/// [`PendingAccept::finish`]): a marker `candidates/.accept-<name>.json` holding the audit
/// details is written (synced) before the rename and removed only after the audit row; a marker
/// left by a crash is resolved by [`recover_accepts`] (run before every accept/discard and by the
/// app's retrain status): rename done → the audit row is written and the candidate removed;
/// rename not done → rolled back (the candidate stays), audited as `retrain_accept_interrupted`.
pub fn accept(models_dir: &Path, name: &str, store: &Store, analyst: &str) -> Result<String> {
    recover_accepts(models_dir, store)?;
    let pending = accept_prepare(models_dir, name, analyst)?;
    pending.install()?;
    pending.finish(store)
}

/// An accept whose marker is written: [`Self::install`] renames, [`Self::finish`] audits.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingAccept {
    #[serde(skip)]
    models_dir: PathBuf,
    name: String,
    analyst: String,
    details: serde_json::Value,
}

fn accept_marker(models_dir: &Path, name: &str) -> PathBuf {
    candidates_dir(models_dir).join(format!(".accept-{name}.json"))
}

/// Checks candidate `name` (its weights' SHA-256), copies its record beside the weights and
/// writes the pending-accept marker. Nothing is installed yet.
pub fn accept_prepare(models_dir: &Path, name: &str, analyst: &str) -> Result<PendingAccept> {
    let dir = candidate_dir(models_dir, name)?;
    let c = load_candidate(&dir)?;
    let src = dir.join("profile");
    // Refuse a candidate whose own files changed since training (its bases are checked when the
    // installed profile is loaded, where they can be found).
    let profile = load_profile(&src)?;
    for w in &profile.weights {
        let path = src.join(&w.file);
        if !crate::models::weights::sha256_file(&path)?.eq_ignore_ascii_case(&w.sha256) {
            return Err(Error::input(
                &path,
                "the candidate's weights changed since training (SHA-256 mismatch); discard it",
            ));
        }
    }
    for f in [CANDIDATE_FILE, "report.html", "metrics.json"] {
        if dir.join(f).is_file() {
            std::fs::copy(dir.join(f), src.join(f))?;
        }
    }
    let profiles = models_dir.join("profiles");
    std::fs::create_dir_all(&profiles)?;
    let dst = profiles.join(name);
    if dst.exists() {
        return Err(Error::input(
            &dst,
            "a profile of this name is already installed",
        ));
    }
    let pending = PendingAccept {
        models_dir: models_dir.to_path_buf(),
        name: name.to_string(),
        analyst: analyst.to_string(),
        details: serde_json::json!({"profile": name, "parent": c.parent,
            "auc_before": c.before.and_then(|m| m.auc), "auc_after": c.after.and_then(|m| m.auc)}),
    };
    let marker = accept_marker(models_dir, name);
    let json = serde_json::to_vec_pretty(&pending)
        .map_err(|e| Error::Other(format!("cannot write {}: {e}", marker.display())))?;
    let tmp = marker.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &marker)?;
    sync_dir(&candidates_dir(models_dir));
    Ok(pending)
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

impl PendingAccept {
    /// The one rename into `profiles/`, then the candidate folder is removed. On failure the
    /// marker is removed again (nothing was installed).
    pub fn install(&self) -> Result<()> {
        let dir = candidates_dir(&self.models_dir).join(&self.name);
        let profiles = self.models_dir.join("profiles");
        let dst = profiles.join(&self.name);
        if let Err(e) = std::fs::rename(dir.join("profile"), &dst) {
            let _ = std::fs::remove_file(accept_marker(&self.models_dir, &self.name));
            return Err(Error::input(
                &dst,
                format!("cannot install the candidate: {e}"),
            ));
        }
        sync_dir(&profiles);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    /// Writes the audit row (once) and removes the marker.
    pub fn finish(self, store: &Store) -> Result<String> {
        let done = store.audit_log(None)?.iter().any(|r| {
            r.action == "retrain_accept" && r.details["profile"].as_str() == Some(&self.name)
        });
        if !done {
            store.audit(&self.analyst, "retrain_accept", None, &self.details)?;
        }
        let _ = std::fs::remove_file(accept_marker(&self.models_dir, &self.name));
        Ok(self.name)
    }
}

/// Resolves accepts interrupted by a crash (see [`accept`]): each marker whose profile folder is
/// installed is completed (candidate removed, audit row written once); each whose rename never
/// happened is rolled back (the candidate stays) and audited as `retrain_accept_interrupted`.
/// Returns how many were resolved.
pub fn recover_accepts(models_dir: &Path, store: &Store) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(candidates_dir(models_dir)) else {
        return Ok(0);
    };
    let mut n = 0;
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().to_string();
        if file.starts_with(".accept-") && file.ends_with(".json.tmp") {
            let _ = std::fs::remove_file(e.path());
        }
        if !(file.starts_with(".accept-") && file.ends_with(".json")) {
            continue;
        }
        let marker = e.path();
        let pending: Option<PendingAccept> = std::fs::read(&marker)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let Some(mut pending) = pending.filter(|p| {
            let plain = !p.name.is_empty() && p.name != "." && p.name != "..";
            plain && !p.name.contains(['/', '\\']) && file == format!(".accept-{}.json", p.name)
        }) else {
            // Unreadable: written half before the rename could start (the rename follows the
            // synced marker), so there is nothing to complete.
            let _ = std::fs::remove_file(&marker);
            continue;
        };
        pending.models_dir = models_dir.to_path_buf();
        let installed = models_dir
            .join("profiles")
            .join(&pending.name)
            .join(PROFILE_FILE)
            .is_file();
        if installed {
            let dir = candidates_dir(models_dir).join(&pending.name);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            pending.finish(store)?;
        } else {
            store.audit(
                &pending.analyst,
                "retrain_accept_interrupted",
                None,
                &serde_json::json!({"candidate": pending.name,
                    "outcome": "not installed; the candidate is kept"}),
            )?;
            std::fs::remove_file(&marker)?;
        }
        n += 1;
    }
    Ok(n)
}

/// Deletes candidate `name` and audits it.
pub fn discard(models_dir: &Path, name: &str, store: &Store, analyst: &str) -> Result<()> {
    recover_accepts(models_dir, store)?;
    let dir = candidate_dir(models_dir, name)?;
    let c = load_candidate(&dir)?;
    std::fs::remove_dir_all(&dir)?;
    store.audit(
        analyst,
        "retrain_discard",
        None,
        &serde_json::json!({"candidate": name, "parent": c.parent}),
    )?;
    Ok(())
}
