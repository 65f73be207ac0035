//! `verity` — the headless face of Verity Desk: batch analysis, case listing, export, review,
//! model management and benchmarks. All logic lives in the `verity` library.
//!
//! Exit codes: 0 success; 1 an analysis failed, `verify` found a mismatch, or an error occurred;
//! 2 bad command line;
//! 4 finished but something was not scored (no detector weights, or no face found).
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use verity::config::Settings;
use verity::pipeline::{Analyzer, Progress, Summary};
use verity::store::{CaseFilter, Store, Verdict};

#[derive(Parser)]
#[command(
    name = "verity",
    version,
    about = "Verity Desk — offline deepfake analysis (CLI)"
)]
struct Cli {
    /// Settings file (default: the OS config dir's settings.toml, or $VERITY_CONFIG)
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data folder with the case database and media store (default: settings / OS data dir)
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Analyse images, videos or frame folders; prints each verdict
    Analyze {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Video sampling rate, 3–10 frames per second
        #[arg(long)]
        fps: Option<f32>,
        /// Fusion mode: concat, weighted:<alpha>, slerp:<t>
        #[arg(long)]
        fusion: Option<String>,
        /// auto, cpu or cuda
        #[arg(long)]
        device: Option<String>,
        /// Detector profile name or folder
        #[arg(long)]
        profile: Option<String>,
        /// mean or motion-weighted
        #[arg(long)]
        aggregation: Option<String>,
        /// Score the whole frame when no face is found
        #[arg(long)]
        full_frame: bool,
        /// Print one JSON summary per line instead of text
        #[arg(long)]
        json: bool,
    },
    /// Re-run the analysis of a stored case (e.g. an interrupted one)
    Rerun {
        case: i64,
        #[arg(long)]
        json: bool,
    },
    /// List cases, optionally by band (fake, review, real) or status (failed, interrupted, not_scored)
    Cases {
        #[arg(long)]
        band: Option<String>,
        #[arg(long)]
        search: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one case: verdict, frames, faces, reviews, audit trail
    Show {
        case: i64,
        #[arg(long)]
        json: bool,
    },
    /// Export a case as JSON (stdout or --out file), or as an HTML or PDF report (--out file;
    /// PDF needs Chromium)
    Export {
        case: i64,
        #[arg(long)]
        out: Option<PathBuf>,
        /// json (default), html or pdf
        #[arg(long, default_value = "json")]
        format: String,
    },
    /// Re-hash the stored media of a case (or of every case with --all) against the database
    /// and the audit log's import records; exits 1 on any mismatch
    Verify {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        case: Option<i64>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Record an analyst's decision on a case
    Review {
        case: i64,
        /// fake, real or unsure
        verdict: String,
        #[arg(long)]
        analyst: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Model weights: list and verify (default), fetch, or create a random test profile
    Models {
        #[command(subcommand)]
        cmd: Option<ModelsCmd>,
    },
    /// Explain a case: Grad-CAM and artifact overlays of a frame's faces, temporal and blink analysis
    Explain {
        case: i64,
        /// Sampled frame index (default: the most suspicious frame)
        #[arg(long)]
        frame: Option<i64>,
        /// Detector profile for Grad-CAM (default: as for analyze)
        #[arg(long)]
        profile: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Train a profile (LNCLIP-DF: LayerNorm-only CLIP + fusion + head) from a folder or from reviews
    Train {
        /// Dataset folder with real/ and fake/ (optional meta.csv: path,identity,source)
        #[arg(long, conflicts_with = "from_reviews")]
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
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        batch_size: Option<usize>,
        #[arg(long)]
        lr: Option<f64>,
        #[arg(long)]
        seed: Option<u64>,
        /// Also train the forensic CNN (default: frozen)
        #[arg(long)]
        train_cnn: bool,
        /// Loss weights, e.g. bce=1,align=0.1,unif=0.5,supcon=0.1,text=0.1 (names: bce, align,
        /// unif, supcon, text; unnamed terms keep their defaults bce=1,align=0.1,unif=0.5,
        /// supcon=0,text=0)
        #[arg(long, value_name = "NAME=WEIGHT,…", value_parser = parse_loss_weights)]
        loss: Option<verity::train::losses::LossWeights>,
        /// Continue from the checkpoint in the output folder
        #[arg(long)]
        resume: bool,
        /// Install the trained profile into models/profiles when done
        #[arg(long)]
        install: bool,
    },
    /// Evaluate a profile on a labelled folder: AUC, EER, AP, ECE, accuracy, review-band share
    Eval {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        profile: String,
        /// Report folder (metrics.json + report.html); default <data>/eval-<profile name>
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the metrics as JSON (the content of metrics.json) instead of text
        #[arg(long)]
        json: bool,
    },
    /// Show the version, compute device and folders
    Info,
    /// Benchmarks: `models` (each network vs the PyTorch peer) or `pipeline` (stage timings)
    Bench {
        #[command(subcommand)]
        what: BenchCmd,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Faces/s of MTCNN, CLIP ViT-L/14, Xception, EfficientNet-B4 here and in PyTorch eager
    Models {
        /// auto, cpu or cuda
        #[arg(long, default_value = "auto")]
        device: String,
        /// Comma-separated: fp32, fp16, bf16 (half precision on CUDA only)
        #[arg(long)]
        dtypes: Option<String>,
        #[arg(long, default_value = "1,10")]
        batches: String,
        #[arg(long, default_value_t = 3)]
        iters: usize,
        /// Skip the PyTorch peer
        #[arg(long)]
        no_peer: bool,
        /// Image for MTCNN (default: the bundled astronaut photo)
        #[arg(long)]
        image: Option<PathBuf>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Stage timings (decode, detect, align, encode, store) for a single image and a 10-frame video
    Pipeline {
        /// Random-weight profile preset to time: tiny or vit-l14-effb4
        #[arg(long, default_value = "vit-l14-effb4")]
        preset: String,
        #[arg(long, default_value = "auto")]
        device: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModelsCmd {
    /// List known models, whether installed, and verify their sha256
    List,
    /// Download a published checkpoint from the Hugging Face hub (the only network use, on request)
    Fetch {
        name: String,
        /// Hub endpoint (default https://huggingface.co or $HF_ENDPOINT)
        #[arg(long)]
        endpoint: Option<String>,
    },
    /// Create an explicitly UNTRAINED random-weight profile for tests and demos
    Random {
        #[arg(long)]
        out: Option<PathBuf>,
        /// Architecture preset: tiny, tiny-gend, vit-l14-effb4, vit-l14-xception, vit-l14, gend-vit-l14
        #[arg(long, default_value = "tiny")]
        preset: String,
        #[arg(long, default_value_t = 0)]
        seed: i64,
    },
    /// Compose an UNTRAINED parent profile from fetched bases (CLIP [+ CNN]), to train with `verity train --parent`
    Compose {
        /// Profile name ("-untrained" is appended)
        #[arg(long)]
        name: String,
        /// CLIP base: a model under <models>/base/ (e.g. clip-vit-large-patch14) or its folder
        #[arg(long)]
        clip: String,
        /// Forensic CNN base (e.g. efficientnet-b4, xception)
        #[arg(long)]
        cnn: Option<String>,
        /// concat, weighted or slerp
        #[arg(long, default_value = "concat")]
        fusion: String,
        /// α of weighted / t of slerp
        #[arg(long, default_value_t = 0.5)]
        alpha: f64,
        /// gend (linear head on the CLIP CLS feature, CLIP only) or seed (fusion + MLP)
        #[arg(long, default_value = "seed")]
        head: String,
        /// Seed of the random fusion/head weights
        #[arg(long, default_value_t = 0)]
        seed: i64,
    },
}

/// `--loss`: the weights on top of the defaults (clap prints the error and exits with 2).
fn parse_loss_weights(
    spec: &str,
) -> std::result::Result<verity::train::losses::LossWeights, String> {
    spec.parse().map_err(|e: verity::Error| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn load_settings(cli: &Cli) -> Result<Settings> {
    let path = cli.config.clone().unwrap_or_else(Settings::default_path);
    let mut s = Settings::load(&path)?;
    if let Some(d) = &cli.data_dir {
        s.data_dir = Some(d.clone());
    }
    Ok(s)
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let mut settings = load_settings(&cli)?;
    verity::logging::init(&settings.data_dir());
    match &cli.cmd {
        Cmd::Analyze {
            paths,
            fps,
            fusion,
            device,
            profile,
            aggregation,
            full_frame,
            json,
        } => {
            if let Some(f) = fps {
                settings.fps = *f;
            }
            if let Some(f) = fusion {
                f.parse::<verity::models::fusion::FusionMode>()?;
                settings.fusion = Some(f.clone());
            }
            if let Some(d) = device {
                settings.device = d.parse()?;
            }
            if let Some(p) = profile {
                settings.profile = Some(p.clone());
            }
            if let Some(a) = aggregation {
                settings.aggregation = a.parse()?;
            }
            settings.score_full_frame_without_face |= full_frame;
            settings.validate()?;
            let analyzer = Analyzer::new(&settings)?;
            let mut store = Store::open(&settings.data_dir())?;
            let mut code = ExitCode::SUCCESS;
            let mut worst = 0u8;
            for p in paths {
                let bar = progress_bar(*json);
                let cb = |ev: &Progress| update_bar(&bar, ev);
                match analyzer.analyze_path(
                    &mut store,
                    p,
                    &actor(&settings),
                    &cb,
                    &AtomicBool::new(false),
                ) {
                    Ok(s) => {
                        bar.finish_and_clear();
                        print_summary(&s, *json);
                        let c = match s.status.as_str() {
                            "done" => 0,
                            "not_scored" => 4,
                            _ => 1,
                        };
                        worst = worst.max(c);
                    }
                    Err(e) => {
                        bar.finish_and_clear();
                        if *json {
                            println!(
                                "{}",
                                serde_json::json!({"file": p, "status": "error", "message": e.to_string()})
                            );
                        } else {
                            println!("{}: ERROR — {e}", p.display());
                        }
                        worst = worst.max(1);
                    }
                }
            }
            if worst == 1 {
                code = ExitCode::from(1);
            } else if worst == 4 {
                code = ExitCode::from(4);
            }
            Ok(code)
        }
        Cmd::Rerun { case, json } => {
            let analyzer = Analyzer::new(&settings)?;
            let mut store = Store::open(&settings.data_dir())?;
            let bar = progress_bar(*json);
            let cb = |ev: &Progress| update_bar(&bar, ev);
            let s = analyzer.analyze_case(
                &mut store,
                *case,
                &actor(&settings),
                &cb,
                &AtomicBool::new(false),
            )?;
            bar.finish_and_clear();
            print_summary(&s, *json);
            Ok(ExitCode::from(match s.status.as_str() {
                "done" => 0,
                "not_scored" => 4,
                _ => 1,
            }))
        }
        Cmd::Cases { band, search, json } => {
            let store = Store::open(&settings.data_dir())?;
            let cases = store.list_cases(&CaseFilter {
                band: band.clone(),
                search: search.clone(),
                limit: None,
            })?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&cases)?);
            } else if cases.is_empty() {
                println!("no cases");
            } else {
                println!(
                    "{:>5}  {:<12} {:<8} {:<30} note",
                    "case", "status", "score", "file"
                );
                for c in cases {
                    let score = c
                        .score
                        .map(|s| format!("{s:.3}"))
                        .unwrap_or_else(|| "-".into());
                    let band = c.band.clone().unwrap_or_else(|| c.status.clone());
                    let note = if c.untrained {
                        "UNTRAINED profile".to_string()
                    } else {
                        c.message.clone().unwrap_or_default()
                    };
                    println!(
                        "{:>5}  {:<12} {:<8} {:<30} {}",
                        c.id,
                        band,
                        score,
                        truncate(&c.title, 30),
                        truncate(&note, 60)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Show { case, json } => {
            let store = Store::open(&settings.data_dir())?;
            let d = store.case_detail(*case)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&d)?);
                return Ok(ExitCode::SUCCESS);
            }
            let c = &d.case;
            println!("case {} — {}", c.id, c.title);
            println!(
                "  media    {} ({}), sha256 {}",
                d.media.kind,
                human_bytes(d.media.size_bytes),
                d.media.sha256
            );
            println!("  status   {}", c.status);
            match (c.score, &c.band) {
                (Some(s), Some(b)) => println!(
                    "  score    {s:.3} → {b}{}",
                    if c.untrained {
                        " (UNTRAINED profile — not a verdict)"
                    } else {
                        ""
                    }
                ),
                _ => println!("  score    not scored"),
            }
            if let Some(m) = &c.message {
                println!("  note     {m}");
            }
            if let Some(a) = &d.analysis {
                println!(
                    "  analysis #{} {} — {} frames, {} faces, profile {}",
                    a.id,
                    a.status,
                    a.frames_total,
                    a.faces_total,
                    a.profile.clone().unwrap_or_else(|| "-".into())
                );
            }
            let mut frames: Vec<_> = d.scores.iter().filter(|s| s.level == "frame").collect();
            frames.sort_by(|a, b| b.score.total_cmp(&a.score));
            for s in frames.iter().take(5) {
                println!("  frame {:>5}  {:.3}", s.frame_idx.unwrap_or(-1), s.score);
            }
            for r in &d.reviews {
                println!(
                    "  review   {} by {} at {} {}",
                    r.verdict, r.analyst, r.created_at, r.note
                );
            }
            println!("  audit    {} entries", d.audit.len());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Export { case, out, format } if !format.eq_ignore_ascii_case("json") => {
            let format: verity::report::Format = format.parse()?;
            let Some(out) = out else {
                anyhow::bail!("--format {format:?} needs --out <file>");
            };
            let store = Store::open(&settings.data_dir())?;
            verity::report::export(&store, *case, format, out)?;
            store.audit(
                &actor(&settings),
                "export",
                Some(*case),
                &serde_json::json!({"format": format!("{format:?}").to_lowercase(), "path": out}),
            )?;
            eprintln!("wrote {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Export { case, out, .. } => {
            let store = Store::open(&settings.data_dir())?;
            let d = store.case_detail(*case)?;
            let text = serde_json::to_string_pretty(&serde_json::json!({
                "format": "verity-case/1",
                "verity_version": verity::version(),
                "case": d,
            }))?;
            match out {
                Some(p) => {
                    std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
                    store.audit(
                        &actor(&settings),
                        "export",
                        Some(*case),
                        &serde_json::json!({"format": "json", "path": p}),
                    )?;
                    eprintln!("wrote {}", p.display());
                }
                None => println!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify { case, all, json } => {
            let store = Store::open(&settings.data_dir())?;
            let ids: Vec<i64> = if *all {
                let mut v: Vec<i64> = store
                    .list_cases(&CaseFilter::default())?
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                v.sort();
                v
            } else {
                vec![case.context("give a case number or --all")?]
            };
            let who = actor(&settings);
            let mut bad = 0usize;
            if !*json {
                println!(
                    "{:>5}  {:<8} {:<30} {:<16} {:<16} note",
                    "case", "result", "file", "recorded", "stored copy"
                );
            }
            for id in &ids {
                let c = store.check_media(*id, &who)?;
                bad += (!c.ok) as usize;
                if *json {
                    println!("{}", serde_json::to_string(&c)?);
                } else {
                    let short = |h: &str| h.chars().take(16).collect::<String>();
                    println!(
                        "{:>5}  {:<8} {:<30} {:<16} {:<16} {}",
                        c.case_id,
                        if c.ok { "ok" } else { "MISMATCH" },
                        truncate(&c.original_name, 30),
                        short(&c.recorded),
                        c.actual
                            .as_deref()
                            .map(short)
                            .unwrap_or_else(|| "unreadable".into()),
                        c.problem.clone().unwrap_or_default()
                    );
                }
            }
            if !*json {
                println!("{} case(s) verified, {} mismatch(es)", ids.len(), bad);
            }
            Ok(if bad > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::Review {
            case,
            verdict,
            analyst,
            note,
        } => {
            let v: Verdict = verdict.parse()?;
            let who = analyst.clone().unwrap_or_else(|| settings.analyst.clone());
            if who.trim().is_empty() {
                bail!("no analyst name: pass --analyst NAME or set `analyst` in the settings file");
            }
            let mut store = Store::open(&settings.data_dir())?;
            let id = store.add_review(*case, v, &who, note)?;
            println!("review {id} recorded: case {case} → {} by {who}", verdict);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Models { cmd } => models(cmd.as_ref().unwrap_or(&ModelsCmd::List), &settings),
        Cmd::Bench { what } => bench(what, &settings),
        Cmd::Train {
            data,
            from_reviews,
            parent,
            name,
            out,
            epochs,
            batch_size,
            lr,
            seed,
            train_cnn,
            loss,
            resume,
            install,
        } => {
            use verity::train::{dataset, trainer};
            let dev = verity::device::select(settings.device)?;
            let models = verity::pipeline::models_dir(&settings);
            let parent_dir = profile_dir(&models, parent);
            let parent_profile = verity::models::profile::load_profile(&parent_dir)?;
            let out = out
                .clone()
                .unwrap_or_else(|| models.join("training").join(name));
            let mut dcfg = dataset::DatasetConfig::new(
                parent_profile.preprocessing.align_template(),
                models.join("cache/faces"),
            );
            dcfg.size = parent_profile.preprocessing.size;
            dcfg.chain = parent_profile.preprocessing.chain();
            let cancel = AtomicBool::new(false);
            let mut cfg = trainer::TrainConfig {
                train_cnn: *train_cnn,
                resume: *resume,
                thresholds: settings.thresholds,
                ..Default::default()
            };
            if let Some(e) = epochs {
                cfg.epochs = *e;
            }
            if let Some(b) = batch_size {
                cfg.batch_size = *b;
            }
            if let Some(l) = lr {
                cfg.lr = *l;
            }
            if let Some(sd) = seed {
                cfg.seed = *sd;
            }
            if let Some(w) = loss {
                cfg.losses.weights = *w;
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
            let sum = if *from_reviews {
                // The same path as the app's "Retrain from reviews" (train::retrain): split per
                // class by case, at least 2 cases of each class.
                let store = Store::open(&settings.data_dir())?;
                let (sum, counts) = verity::train::retrain::train_from_reviews(
                    &store,
                    &parent_dir,
                    &models.join("cache/faces"),
                    &out,
                    name,
                    &cfg,
                    dcfg.val_fraction,
                    2,
                    dev,
                    &on_progress,
                    &cancel,
                )?;
                println!("adjudicated cases: {} fake, {} real ({} labelled cases without faces left out)", counts.fake_cases, counts.real_cases, counts.skipped);
                sum
            } else {
                let Some(dir) = data else {
                    bail!("give --data <folder> or --from-reviews")
                };
                let mtcnn = verity::faces::mtcnn::Mtcnn::load(
                    &verity::faces::mtcnn::Mtcnn::default_dir(),
                    dev,
                )?;
                let bar = indicatif::ProgressBar::new(0);
                let ds = dataset::load_folder(
                    dir,
                    &mtcnn,
                    &dcfg,
                    &|p| {
                        bar.set_length(p.total as u64);
                        bar.set_position(p.done as u64);
                    },
                    &cancel,
                )?;
                bar.finish_and_clear();
                for w in &ds.warnings {
                    eprintln!("warning: {w}");
                }
                trainer::train(
                    &parent_dir,
                    &ds,
                    &out,
                    name,
                    &cfg,
                    dev,
                    &on_progress,
                    &cancel,
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
            if *install {
                let dst = models.join("profiles").join(name);
                copy_dir(&sum.profile_dir, &dst)?;
                println!("installed as profile '{name}' ({})", dst.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Eval {
            data,
            profile,
            out,
            json,
        } => {
            use verity::train::{dataset, trainer};
            let dev = verity::device::select(settings.device)?;
            let models = verity::pipeline::models_dir(&settings);
            let pdir = profile_dir(&models, profile);
            let p = verity::models::profile::load_profile(&pdir)?;
            let mut dcfg = dataset::DatasetConfig::new(
                p.preprocessing.align_template(),
                models.join("cache/faces"),
            );
            dcfg.size = p.preprocessing.size;
            dcfg.chain = p.preprocessing.chain();
            dcfg.synthetic = dataset::Synthetic::Never;
            dcfg.val_fraction = 0.0;
            let mtcnn = verity::faces::mtcnn::Mtcnn::load(
                &verity::faces::mtcnn::Mtcnn::default_dir(),
                dev,
            )?;
            let cancel = AtomicBool::new(false);
            let ds = dataset::load_folder(data, &mtcnn, &dcfg, &|_| {}, &cancel)?;
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
                    data.display()
                );
            }
            let (_, report) =
                trainer::evaluate_profile(&pdir, &samples, &settings.thresholds, dev, &cancel)?;
            // The profile's name, not the argument: `--profile` may be a folder path.
            let out = out
                .clone()
                .unwrap_or_else(|| data.join(format!("eval-{}", p.name)));
            trainer::write_evaluation(
                &report,
                None,
                &out,
                &format!("Evaluation of {}", p.label()),
            )?;
            if *json {
                let v = serde_json::json!({
                    "profile": p.name,
                    "label": p.label(),
                    "trained": p.trained,
                    "data": data,
                    "report_html": out.join("report.html"),
                    "metrics": report,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
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
        Cmd::Explain {
            case,
            frame,
            profile,
            json,
        } => {
            if let Some(p) = profile {
                settings.profile = Some(p.clone());
            }
            let analyzer = Analyzer::new(&settings)?;
            let mut store = Store::open(&settings.data_dir())?;
            let cfg = verity::explain::ExplainConfig::default();
            let ex = verity::explain::case::explain_case(
                &mut store,
                analyzer.detector(),
                *case,
                *frame,
                &cfg,
                &actor(&settings),
            )?;
            let rows = store.explanations(*case)?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"summary": ex, "explanations": rows})
                    )?
                );
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "case {} — frame {}: {} face(s), {:.2} s per face",
                ex.case_id, ex.frame, ex.faces, ex.seconds_per_face
            );
            if let Some(n) = &ex.note {
                println!("  {n}");
            }
            for r in rows.iter().filter(|r| ex.outputs.contains(&r.id)) {
                let path = r
                    .blob
                    .as_ref()
                    .map(|b| store.blobs.path(b).display().to_string())
                    .unwrap_or_default();
                println!(
                    "  {:<12} {:<7} {}\n               {}",
                    r.kind, r.space, r.summary, path
                );
            }
            for f in &ex.findings {
                println!("  {f}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Info => {
            let d = verity::device::describe();
            println!("Verity Desk {}", verity::version());
            println!("device     {}", d.name);
            println!("data dir   {}", settings.data_dir().display());
            println!(
                "models dir {}",
                verity::pipeline::models_dir(&settings).display()
            );
            println!(
                "settings   {}",
                cli.config
                    .clone()
                    .unwrap_or_else(Settings::default_path)
                    .display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn models(cmd: &ModelsCmd, settings: &Settings) -> Result<ExitCode> {
    let dir = verity::pipeline::models_dir(settings);
    match cmd {
        ModelsCmd::List => {
            let list = verity::models::hub::list(&dir)?;
            let mut bad = false;
            for m in list {
                let state = match (m.installed, m.verified) {
                    (false, _) => "not installed".to_string(),
                    (true, Some(true)) => "installed, sha256 ok".to_string(),
                    (true, Some(false)) => {
                        bad = true;
                        "installed, SHA256 MISMATCH".to_string()
                    }
                    (true, None) => "installed".to_string(),
                };
                println!("{:<24} {:<28} {}", m.name, state, m.source);
            }
            let profiles = dir.join("profiles");
            if let Ok(rd) = std::fs::read_dir(&profiles) {
                for e in rd.flatten() {
                    if let Ok(p) = verity::models::profile::load_profile(&e.path()) {
                        println!(
                            "profile {:<16} {}",
                            p.name,
                            if p.trained {
                                "trained"
                            } else {
                                "UNTRAINED (random weights)"
                            }
                        );
                    }
                }
            }
            if verity::pipeline::find_profile(settings).is_none() {
                println!("\nNo trained detector installed: cases will be 'not scored'. Install one with: {}", verity::pipeline::INSTALL_HINT);
            }
            Ok(if bad {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        ModelsCmd::Fetch { name, endpoint } => {
            let ep = endpoint
                .clone()
                .or_else(|| std::env::var("HF_ENDPOINT").ok())
                .unwrap_or_else(|| "https://huggingface.co".into());
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {eta}",
                )
                .unwrap(),
            );
            bar.set_message(format!("fetching {name}"));
            let inst = verity::models::hub::fetch(name, &ep, &dir, &|done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })?;
            bar.finish_and_clear();
            println!("installed {name}: {inst:?}");
            Ok(ExitCode::SUCCESS)
        }
        ModelsCmd::Random { out, preset, seed } => {
            let out = out
                .clone()
                .unwrap_or_else(|| dir.join("profiles").join(format!("{preset}-untrained")));
            let p = verity::models::profile::create_random_profile(&out, preset, *seed)?;
            println!("created UNTRAINED profile '{}' in {} — its scores are labelled untrained and are not verdicts", p.name, out.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelsCmd::Compose {
            name,
            clip,
            cnn,
            fusion,
            alpha,
            head,
            seed,
        } => {
            use verity::models::compose;
            let spec = compose::ComposeSpec {
                name: name.clone(),
                clip: clip.clone(),
                cnn: cnn.clone(),
                fusion: compose::fusion_mode(fusion, *alpha)?,
                head: head.parse()?,
                seed: *seed,
            };
            let p = compose::compose(&dir, &spec)?;
            println!("composed UNTRAINED profile '{}' in {} — train it with: verity train --parent {} --name <new name> --from-reviews (or --data <folder>)", p.name, p.dir.display(), p.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn repo_file(rel: &str) -> PathBuf {
    // Installed next to the binary (…/share) or in the source tree this binary was built from.
    let here = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(rel)))
        .filter(|p| p.exists());
    here.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel))
}

fn write_json(out: &Option<PathBuf>, v: &serde_json::Value) -> Result<()> {
    if let Some(p) = out {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(p, serde_json::to_string_pretty(v)?)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn bench(what: &BenchCmd, settings: &Settings) -> Result<ExitCode> {
    use tch::Kind;
    match what {
        BenchCmd::Models {
            device,
            dtypes,
            batches,
            iters,
            no_peer,
            image,
            out,
        } => {
            let dev = verity::device::select(device.parse()?)?;
            let default_dtypes = if dev.is_cuda() {
                "fp32,fp16,bf16"
            } else {
                "fp32"
            };
            let kinds = dtypes
                .as_deref()
                .unwrap_or(default_dtypes)
                .split(',')
                .map(|d| match d.trim() {
                    "fp32" | "float32" => Ok(Kind::Float),
                    "fp16" | "float16" => Ok(Kind::Half),
                    "bf16" | "bfloat16" => Ok(Kind::BFloat16),
                    o => bail!("unknown dtype {o:?} (fp32, fp16, bf16)"),
                })
                .collect::<Result<Vec<_>>>()?;
            let batches = batches
                .split(',')
                .map(|b| b.trim().parse::<i64>())
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let cfg = verity::bench::ModelBench {
                device: dev,
                kinds,
                batches,
                iters: *iters,
            };
            let img = image
                .clone()
                .unwrap_or_else(|| repo_file("tests/data/astronaut.png"));
            eprintln!("Verity Desk (tch) on {}:", verity::device::describe().name);
            let ours = verity::bench::bench_models(&cfg, &img, &|r| {
                eprintln!(
                    "  {:<14} {:<9} bs{:<3} {:>9.1} ms  {:>8.2} faces/s",
                    r.name, r.dtype, r.batch, r.ms_per_batch, r.faces_per_s
                )
            })?;
            let peer = if *no_peer {
                vec![]
            } else {
                eprintln!("PyTorch eager peer (same shapes, same image)…");
                let py = std::env::var_os("VERITY_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo_file(".venv/bin/python"));
                verity::bench::run_peer(&py, &repo_file("bench/peer_bench.py"), &cfg, &img)?
            };
            let rows = verity::bench::compare(&ours, &peer);
            println!(
                "{:<14} {:<9} {:>5} {:>12} {:>12} {:>10} {:>9}",
                "network", "dtype", "batch", "ours ms", "peer ms", "faces/s", "speedup"
            );
            for r in &rows {
                println!(
                    "{:<14} {:<9} {:>5} {:>12.1} {:>12} {:>10.2} {:>9}",
                    r.ours.name,
                    r.ours.dtype,
                    r.ours.batch,
                    r.ours.ms_per_batch,
                    r.peer_ms_per_batch
                        .map(|v| format!("{v:.1}"))
                        .unwrap_or_else(|| "-".into()),
                    r.ours.faces_per_s,
                    r.speedup_vs_peer
                        .map(|v| format!("{v:.2}×"))
                        .unwrap_or_else(|| "-".into())
                );
            }
            write_json(
                out,
                &serde_json::json!({"device": verity::device::describe(), "rows": rows}),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Pipeline {
            preset,
            device,
            out,
        } => {
            let tmp = std::env::temp_dir().join(format!("verity-bench-{}", std::process::id()));
            let mut s = settings.clone();
            s.data_dir = Some(tmp.join("data"));
            s.models_dir = Some(tmp.join("models"));
            s.device = device.parse()?;
            s.profile = Some("bench-untrained".into());
            verity::models::profile::create_random_profile(
                &tmp.join("models/profiles/bench-untrained"),
                preset,
                0,
            )?;
            let video = tmp.join("ten_frames.mp4");
            let st = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-loop", "1", "-i"])
                .arg(repo_file("tests/data/astronaut.png"))
                .args([
                    "-vf",
                    "zoompan=z='1+0.002*on':d=20:s=512x512:fps=10",
                    "-t",
                    "2",
                    "-r",
                    "10",
                    "-pix_fmt",
                    "yuv420p",
                ])
                .arg(&video)
                .status()
                .context("the pipeline benchmark makes its video with the ffmpeg CLI")?;
            if !st.success() {
                bail!("ffmpeg failed to make the benchmark video");
            }
            let analyzer = Analyzer::new(&s)?;
            let mut store = Store::open(&s.data_dir())?;
            let mut results = Vec::new();
            for (label, path) in [
                ("single image", repo_file("tests/data/astronaut.png")),
                ("10-frame video", video),
            ] {
                let sum = analyzer.analyze_path(
                    &mut store,
                    &path,
                    "bench",
                    &|_| {},
                    &AtomicBool::new(false),
                )?;
                let t = &sum.times;
                println!(
                    "{label:<15} frames {:>3} faces {:>3} | decode {:>7.3}s detect {:>7.3}s align {:>7.3}s encode+fuse+head {:>7.3}s store {:>7.3}s | total {:>7.3}s",
                    sum.frames, sum.faces, t.decode, t.detect, t.align, t.encode, t.store, t.total
                );
                // Explainability on the same case: Grad-CAM (CNN + ViT + rollout) and artifact views.
                let ex = verity::explain::case::explain_case(
                    &mut store,
                    analyzer.detector(),
                    sum.case_id,
                    None,
                    &verity::explain::ExplainConfig::default(),
                    "bench",
                )?;
                println!(
                    "{:<15} explain {:.3}s per face ({} outputs)",
                    "",
                    ex.seconds_per_face,
                    ex.outputs.len()
                );
                results.push(serde_json::json!({"input": label, "frames": sum.frames, "faces": sum.faces, "times_s": t, "explain_s_per_face": ex.seconds_per_face}));
            }
            let _ = std::fs::remove_dir_all(&tmp);
            // Face preparation per face, both chains (GenD's native warp + Pillow bicubic vs
            // the direct warp), on the CPU where it runs.
            let crop = verity::bench::bench_crop(&repo_file("tests/data/astronaut.png"), 15)?;
            for r in &crop {
                println!(
                    "crop+resize     chain {:<6} face {:>4} px native | {:>7.2} ms per face",
                    r.chain, r.native_side, r.ms_per_face
                );
            }
            write_json(
                out,
                &serde_json::json!({"device": verity::device::describe(), "profile_preset": preset, "untrained_weights": true, "results": results, "face_preparation": crop}),
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn profile_dir(models: &std::path::Path, name: &str) -> PathBuf {
    let p = PathBuf::from(name);
    if p.is_dir() {
        p
    } else {
        models.join("profiles").join(name)
    }
}

fn copy_dir(src: &std::path::Path, dst: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dst.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn actor(s: &Settings) -> String {
    if s.analyst.trim().is_empty() {
        std::env::var("USER").unwrap_or_else(|_| "cli".into())
    } else {
        s.analyst.clone()
    }
}

fn progress_bar(json: bool) -> indicatif::ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg:30} [{bar:30}] {pos}/{len} frames  {elapsed} eta {eta}",
        )
        .unwrap()
        .progress_chars("=> "),
    );
    bar
}

fn update_bar(bar: &indicatif::ProgressBar, ev: &Progress) {
    match ev {
        Progress::Imported {
            title, existing, ..
        } => bar.set_message(format!(
            "{}{}",
            truncate(title, 24),
            if *existing { " (known)" } else { "" }
        )),
        Progress::Started {
            frames_estimate, ..
        } => bar.set_length(frames_estimate.unwrap_or(0)),
        Progress::Frames {
            decoded,
            frames_estimate,
            ..
        } => {
            if let Some(t) = frames_estimate {
                bar.set_length((*t).max(*decoded as u64));
            }
            bar.set_position(*decoded as u64);
        }
        Progress::Finished { .. } => {}
    }
}

fn print_summary(s: &Summary, json: bool) {
    if json {
        println!("{}", serde_json::to_string(s).unwrap_or_default());
        return;
    }
    println!("{}: {}  [case {}]", s.file, s.verdict, s.case_id);
    println!(
        "    {} frame(s), {} face(s), {} track(s), profile {}, {:.1} s",
        s.frames,
        s.faces,
        s.tracks,
        s.profile.clone().unwrap_or_else(|| "-".into()),
        s.times.total
    );
    if let Some(m) = &s.message {
        println!("    {m}");
    }
    if !s.top_frames.is_empty() && s.frames > 1 {
        let tops: Vec<String> = s
            .top_frames
            .iter()
            .map(|t| format!("#{} @{:.2}s {:.3}", t.frame, t.pts_s, t.score))
            .collect();
        println!("    top frames: {}", tops.join(", "));
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn human_bytes(b: u64) -> String {
    let mut v = b as f64;
    for u in ["B", "KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return format!("{v:.1} {u}");
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}
