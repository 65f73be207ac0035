//! `verity train` and `verity eval`. Ctrl-C sets the core's cancel flag: the run stops at its
//! next check and the command exits with 130.
use crate::choices;
use crate::common::{cancel_flag, copy_dir, print_json, profile_dir};
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use verity::config::Settings;
use verity::store::Store;

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset folder with real/ and fake/ (optional meta.csv: path,identity,source)
    #[arg(long, value_name = "DIR", conflicts_with = "from_reviews")]
    data: Option<PathBuf>,
    /// Use the analysts' adjudicated cases as labels
    #[arg(long)]
    from_reviews: bool,
    /// Parent profile (name under models/profiles or a folder)
    #[arg(long)]
    parent: String,
    /// Name of the new profile
    #[arg(long)]
    name: String,
    /// Output folder (default: <models>/training/<name>)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Number of epochs (default: the trainer's)
    #[arg(long)]
    epochs: Option<usize>,
    /// Faces per forward pass (default: the trainer's)
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate (default: the trainer's)
    #[arg(long)]
    lr: Option<f64>,
    /// Random seed of the run (default: the trainer's)
    #[arg(long)]
    seed: Option<u64>,
    /// Also train the forensic CNN (default: frozen)
    #[arg(long)]
    train_cnn: bool,
    /// Loss weights, e.g. bce=1,align=0.1,unif=0.5,supcon=0.1,text=0.1 (names: bce, align,
    /// unif, supcon, text; unnamed terms keep their defaults bce=1,align=0.1,unif=0.5,
    /// supcon=0,text=0)
    #[arg(long, value_name = "NAME=WEIGHT,…", value_parser = choices::loss_weights)]
    loss: Option<verity::train::losses::LossWeights>,
    /// Continue from the checkpoint in the output folder
    #[arg(long)]
    resume: bool,
    /// Install the trained profile into models/profiles when done
    #[arg(long)]
    install: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Labelled folder with real/ and fake/ images or videos
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Profile to evaluate (name under models/profiles or a folder)
    #[arg(long)]
    profile: String,
    /// Report folder (metrics.json + report.html); default <data>/eval-<profile name>
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the metrics as JSON (the content of metrics.json) instead of text
    #[arg(long)]
    json: bool,
}

pub fn train(a: &TrainArgs, settings: &Settings) -> Result<ExitCode> {
    use verity::train::{dataset, trainer};
    let dev = verity::device::select(settings.device)?;
    let models = verity::pipeline::models_dir(settings);
    let parent_dir = profile_dir(&models, &a.parent);
    let parent_profile = verity::models::profile::load_profile(&parent_dir)?;
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| models.join("training").join(&a.name));
    let mut dcfg = dataset::DatasetConfig::new(
        parent_profile.preprocessing.align_template(),
        models.join("cache/faces"),
    );
    dcfg.size = parent_profile.preprocessing.size;
    dcfg.chain = parent_profile.preprocessing.chain();
    let cancel = cancel_flag();
    let mut cfg = trainer::TrainConfig {
        train_cnn: a.train_cnn,
        resume: a.resume,
        thresholds: settings.thresholds,
        ..Default::default()
    };
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    if let Some(b) = a.batch_size {
        cfg.batch_size = b;
    }
    if let Some(l) = a.lr {
        cfg.lr = l;
    }
    if let Some(sd) = a.seed {
        cfg.seed = sd;
    }
    if let Some(w) = a.loss {
        cfg.losses.weights = w;
    }
    cfg.validate()?;
    cfg.check_profile(&parent_profile)?;
    println!("loss weights: {}", cfg.losses.weights.spec());
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {msg} [{bar:30}] {pos}/{len} steps {elapsed} eta {eta}",
        )
        .unwrap(),
    );
    let on_progress = |p: &trainer::TrainProgress| match p {
        trainer::TrainProgress::Step {
            epoch,
            epochs,
            step,
            total_steps,
            loss,
            ..
        } => {
            bar.set_length(*total_steps);
            bar.set_position(*step);
            bar.set_message(format!("{epoch}/{epochs} loss {loss:.4}"));
        }
        trainer::TrainProgress::EpochDone(e) => bar.println(format!(
            "epoch {:>3}: loss {:.4}  val AUC {}  EER {}  ({:.1} s)",
            e.epoch,
            e.loss,
            e.val_auc
                .map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "-".into()),
            e.val_eer
                .map(|v| format!("{v:.4}"))
                .unwrap_or_else(|| "-".into()),
            e.seconds
        )),
        trainer::TrainProgress::Evaluating { .. } => {}
    };
    let sum = if a.from_reviews {
        // The same path as the app's "Retrain from reviews" (train::retrain): split per
        // class by case, at least 2 cases of each class.
        let store = Store::open(&settings.data_dir())?;
        let (sum, counts) = verity::train::retrain::train_from_reviews(
            &store,
            &parent_dir,
            &models.join("cache/faces"),
            &out,
            &a.name,
            &cfg,
            dcfg.val_fraction,
            2,
            dev,
            &on_progress,
            cancel,
        )?;
        println!(
            "adjudicated cases: {} fake, {} real ({} labelled cases without faces left out)",
            counts.fake_cases, counts.real_cases, counts.skipped
        );
        sum
    } else {
        let Some(dir) = &a.data else {
            bail!("give --data <folder> or --from-reviews")
        };
        let mtcnn =
            verity::faces::mtcnn::Mtcnn::load(&verity::faces::mtcnn::Mtcnn::default_dir(), dev)?;
        let bar = indicatif::ProgressBar::new(0);
        let ds = dataset::load_folder(
            dir,
            &mtcnn,
            &dcfg,
            &|p| {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
            },
            cancel,
        )?;
        bar.finish_and_clear();
        for w in &ds.warnings {
            eprintln!("warning: {w}");
        }
        trainer::train(
            &parent_dir,
            &ds,
            &out,
            &a.name,
            &cfg,
            dev,
            &on_progress,
            cancel,
        )?
    };
    bar.finish_and_clear();
    println!(
        "trained profile '{}' in {:.1} s → {}",
        sum.profile,
        sum.seconds,
        sum.profile_dir.display()
    );
    let auc = |r: &Option<verity::train::metrics::Report>| {
        r.as_ref()
            .and_then(|r| r.auc)
            .map(|v| format!("{v:.4}"))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "validation AUC before {} → after {}   (report: {})",
        auc(&sum.val_before),
        auc(&sum.val_after),
        out.join("report.html").display()
    );
    if a.install {
        let dst = models.join("profiles").join(&a.name);
        copy_dir(&sum.profile_dir, &dst)?;
        println!("installed as profile '{}' ({})", a.name, dst.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn eval(a: &EvalArgs, settings: &Settings) -> Result<ExitCode> {
    use verity::train::{dataset, trainer};
    let dev = verity::device::select(settings.device)?;
    let models = verity::pipeline::models_dir(settings);
    let pdir = profile_dir(&models, &a.profile);
    let p = verity::models::profile::load_profile(&pdir)?;
    let mut dcfg =
        dataset::DatasetConfig::new(p.preprocessing.align_template(), models.join("cache/faces"));
    dcfg.size = p.preprocessing.size;
    dcfg.chain = p.preprocessing.chain();
    dcfg.synthetic = dataset::Synthetic::Never;
    dcfg.val_fraction = 0.0;
    let mtcnn =
        verity::faces::mtcnn::Mtcnn::load(&verity::faces::mtcnn::Mtcnn::default_dir(), dev)?;
    let cancel = cancel_flag();
    let ds = dataset::load_folder(&a.data, &mtcnn, &dcfg, &|_| {}, cancel)?;
    for w in &ds.warnings {
        eprintln!("warning: {w}");
    }
    for s in &ds.skipped {
        eprintln!("skipped {}: {}", s.path.display(), s.reason);
    }
    let samples: Vec<_> = ds.train.iter().chain(ds.val.iter()).cloned().collect();
    if samples.is_empty() {
        bail!(
            "no face was found in {} (real/ and fake/ images or videos): nothing to evaluate",
            a.data.display()
        );
    }
    let (_, report) =
        trainer::evaluate_profile(&pdir, &samples, &settings.thresholds, dev, cancel)?;
    // The profile's name, not the argument: `--profile` may be a folder path.
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| a.data.join(format!("eval-{}", p.name)));
    trainer::write_evaluation(&report, None, &out, &format!("Evaluation of {}", p.label()))?;
    if a.json {
        print_json(&serde_json::json!({
            "profile": p.name,
            "label": p.label(),
            "trained": p.trained,
            "data": a.data,
            "report_html": out.join("report.html"),
            "metrics": report,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let f = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
    println!(
        "{} on {} faces ({} fake, {} real){}",
        p.label(),
        report.n,
        report.n_fake,
        report.n_real,
        if p.trained {
            ""
        } else {
            " — UNTRAINED profile: these numbers describe random weights"
        }
    );
    println!(
        "  AUC {}  EER {}  AP {}  ECE {:.4}  accuracy (0.5) {}  review band {:.1} %",
        f(report.auc),
        f(report.eer.as_ref().map(|e| e.rate)),
        f(report.average_precision),
        report.ece,
        f(report
            .accuracy
            .iter()
            .find(|a| a.threshold == 0.5)
            .and_then(|a| a.accuracy)),
        report.review_share * 100.0
    );
    println!("  report: {}", out.join("report.html").display());
    Ok(ExitCode::SUCCESS)
}
