//! Short runs of the fuzz targets (`fuzz/targets.rs`) inside `cargo test`: every committed
//! corpus input (seeds and past crashes) is replayed, then a fixed number of seeded mutants
//! run, under the same panic, time and memory guards as the long runs
//! (`cargo run --example fuzz -- <target> <seconds>`, see README "Fuzzing").
//!
//! `VERITY_FUZZ_SMOKE_ITERATIONS` (default 1000, 400 for the slower folder target) and `VERITY_FUZZ_SMOKE_SECONDS` (default 6, a
//! cap for slow machines) size the runs; `VERITY_FUZZ_SEED` changes the mutants.
#[path = "../fuzz/harness.rs"]
mod harness;
#[path = "../fuzz/targets.rs"]
mod targets;

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[global_allocator]
static ALLOC: harness::CountingAlloc = harness::CountingAlloc;

/// One target at a time: the memory guard measures the whole process.
static SERIAL: Mutex<()> = Mutex::new(());

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn smoke(name: &str, iterations: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let target = targets::by_name(name).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = harness::load_corpus(&root.join("corpus").join(name));
    assert!(
        corpus.len() >= 3,
        "fuzz/corpus/{name} has {} files",
        corpus.len()
    );
    let cfg = harness::Config {
        seed: env("VERITY_FUZZ_SEED", 0x5EED_u64),
        iterations: Some(env("VERITY_FUZZ_SMOKE_ITERATIONS", iterations)),
        duration: Duration::from_secs_f64(env("VERITY_FUZZ_SMOKE_SECONDS", 6.0)),
        per_input: Duration::from_secs(10),
        mem_limit: harness::MEM_LIMIT,
        artifacts: root.join("artifacts").join(name),
        stop_on_failure: true,
        keep_last: false,
        save_new: None,
    };
    let stats = harness::fuzz(&target, &corpus, &cfg);
    eprintln!(
        "fuzz smoke {name}: {} corpus inputs + {} mutants in {:.2} s, {} outcome classes, \
         slowest input {:?}, most heap growth {} KiB",
        stats.corpus_replayed,
        stats.iterations,
        stats.elapsed.as_secs_f64(),
        stats.classes,
        stats.max_input_time,
        stats.max_mem_growth >> 10
    );
    if let Some(f) = stats.failures.first() {
        panic!(
            "fuzz target {name}: {} — {}\n  input saved at {} (seed {:#x})",
            f.kind,
            f.message,
            f.artifact.display(),
            cfg.seed
        );
    }
    assert_eq!(stats.corpus_replayed, corpus.len());
    assert!(stats.iterations > 0, "no mutant ran");
    // The run explored: more than one kind of outcome.
    assert!(stats.classes > 1, "all inputs ended alike");
}

#[test]
fn fuzz_smoke_image() {
    smoke("image", 1000);
}

#[test]
fn fuzz_smoke_safetensors() {
    smoke("safetensors", 1000);
}

#[test]
fn fuzz_smoke_settings() {
    smoke("settings", 1000);
}

#[test]
fn fuzz_smoke_folder() {
    smoke("folder", 400);
}
