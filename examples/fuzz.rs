//! Long fuzz runs (the same targets and engine as the `fuzz_smoke` test):
//!
//! ```text
//! cargo run --example fuzz -- <image|safetensors|settings|folder|all> [seconds] [--seed N] [--grow]
//! cargo run --example fuzz -- replay <target> <file>…   # run saved inputs once, print outcomes
//! cargo run --example fuzz -- write-seeds     # regenerate the generated part of fuzz/corpus
//! ```
//!
//! Runs each target for `seconds` (default 60), collecting distinct failures instead of
//! stopping at the first. Failing inputs go to `fuzz/artifacts/<target>/`; the input being run
//! is kept in `fuzz/artifacts/<target>/last-input`, so an abort (a refused giant allocation)
//! still leaves it behind. `--grow` saves inputs with a new outcome to
//! `fuzz/artifacts/<target>/grown/` (copy the useful ones into the corpus by hand).
//! Exit status 1 if anything failed.
#[path = "../fuzz/harness.rs"]
mod harness;
#[path = "../fuzz/seeds.rs"]
mod seeds;
#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::PathBuf;
use std::time::Duration;

#[global_allocator]
static ALLOC: harness::CountingAlloc = harness::CountingAlloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let Some(which) = args.first() else {
        eprintln!("usage: fuzz <image|safetensors|settings|folder|all|write-seeds> [seconds] [--seed N] [--grow]");
        std::process::exit(2);
    };
    if which == "replay" {
        // replay <target> <file>…: run saved inputs once each, with the panic hook left alone.
        let target = targets::by_name(args.get(1).map(String::as_str).unwrap_or(""))
            .unwrap_or_else(|| {
                eprintln!("usage: fuzz replay <target> <file>…");
                std::process::exit(2)
            });
        let scratch = harness::Scratch::new();
        let mut failed = false;
        for file in &args[2..] {
            let input = std::fs::read(file).expect("read input");
            let result = (target.run)(&scratch, &input);
            println!("{file}: {result:?}");
            failed |= result.is_err();
        }
        std::process::exit(i32::from(failed));
    }
    if which == "write-seeds" {
        for (target, name, bytes) in seeds::all() {
            let dir = root.join("corpus").join(target);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&name), bytes).unwrap();
            println!("wrote fuzz/corpus/{target}/{name}");
        }
        return;
    }
    let seconds: f64 = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse().expect("seconds"))
        .unwrap_or(60.0);
    let seed: u64 = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--seed N"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let grow = args.iter().any(|a| a == "--grow");
    let chosen: Vec<harness::Target> = if which == "all" {
        targets::all()
    } else {
        vec![targets::by_name(which).unwrap_or_else(|| {
            eprintln!("unknown target {which}");
            std::process::exit(2)
        })]
    };
    let mut failed = false;
    for target in chosen {
        let corpus = harness::load_corpus(&root.join("corpus").join(target.name));
        let artifacts = root.join("artifacts").join(target.name);
        let cfg = harness::Config {
            seed,
            iterations: None,
            duration: Duration::from_secs_f64(seconds),
            per_input: Duration::from_secs(10),
            mem_limit: harness::MEM_LIMIT,
            artifacts: artifacts.clone(),
            stop_on_failure: false,
            keep_last: true,
            save_new: grow.then(|| artifacts.join("grown")),
        };
        println!(
            "fuzz {}: seed {seed}, {} corpus files, {seconds} s",
            target.name,
            corpus.len()
        );
        let stats = harness::fuzz(&target, &corpus, &cfg);
        println!(
            "fuzz {}: {} inputs in {:.1} s ({:.0}/s), {} outcome classes, slowest input {:?}, \
             most heap growth {} KiB, {} failures",
            target.name,
            stats.iterations,
            stats.elapsed.as_secs_f64(),
            stats.iterations as f64 / stats.elapsed.as_secs_f64().max(1e-9),
            stats.classes,
            stats.max_input_time,
            stats.max_mem_growth >> 10,
            stats.failures.len()
        );
        for f in &stats.failures {
            failed = true;
            println!(
                "  {}: {}\n    input: {}",
                f.kind,
                f.message,
                f.artifact.display()
            );
        }
        let _ = std::fs::remove_file(artifacts.join("last-input"));
    }
    std::process::exit(i32::from(failed));
}
