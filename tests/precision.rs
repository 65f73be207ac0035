//! Precision on the CPU: bf16 where the CPU has native bf16 (`avx512_bf16`, `amx_bf16`), chosen
//! by `auto`, recorded with every analysis, and close to the fp32 score on the same face.
mod common;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use verity::config::{Precision, Settings};
use verity::device::{bf16_flag, cpu_bf16, resolve_precision};
use verity::pipeline::Analyzer;
use verity::store::Store;

fn settings(root: &Path, precision: Precision) -> Settings {
    let mut s = Settings {
        data_dir: Some(root.join("data")),
        models_dir: Some(root.join("models")),
        device: verity::device::DevicePref::Cpu,
        precision,
        ..Settings::default()
    };
    let dir = s.models_dir().join("profiles/tiny-untrained");
    if !dir.exists() {
        verity::models::profile::create_random_profile(&dir, "tiny", 7).unwrap();
    }
    s.profile = Some("tiny-untrained".into());
    s
}

#[test]
fn the_bf16_flag_is_read_from_cpuinfo() {
    let amd = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n";
    assert_eq!(bf16_flag(amd), Some("avx512_bf16"));
    let intel = "flags\t\t: avx512f avx512_bf16 amx_bf16 amx_tile\n";
    assert_eq!(bf16_flag(intel), Some("amx_bf16"), "AMX is preferred");
    assert_eq!(bf16_flag("flags\t\t: fpu sse2 avx2 avx512f\n"), None);
    assert_eq!(bf16_flag("no flags line here"), None);
    // A flag name inside another one does not count.
    assert_eq!(bf16_flag("flags\t\t: xavx512_bf16x\n"), None);
}

#[test]
fn auto_precision_follows_the_cpu_and_fp16_stays_on_cuda() {
    use tch::{Device, Kind};
    let (k, why) = resolve_precision(Precision::Fp32, Device::Cpu);
    assert_eq!((k, why.as_str()), (Kind::Float, "cpu fp32"));
    let (k, why) = resolve_precision(Precision::Fp16, Device::Cpu);
    assert_eq!(k, Kind::Float);
    assert!(why.contains("fp16 runs on CUDA only"), "{why}");
    let (k, why) = resolve_precision(Precision::Auto, Device::Cpu);
    match cpu_bf16() {
        Some(flag) => {
            assert_eq!(k, Kind::BFloat16);
            assert_eq!(why, format!("cpu bf16 ({flag})"));
        }
        None => {
            eprintln!("this CPU has no native bf16: auto is fp32 here");
            assert_eq!(k, Kind::Float);
            assert!(why.contains("no native bf16"), "{why}");
        }
    }
    let (k, why) = resolve_precision(Precision::Auto, Device::Cuda(0));
    assert_eq!((k, why.as_str()), (Kind::BFloat16, "cuda:0 bf16"));
}

#[test]
fn bf16_scores_stay_close_to_fp32_and_the_precision_is_recorded() {
    if cpu_bf16().is_none() {
        eprintln!("SKIP (no native bf16 on this CPU): bf16 vs fp32 scores on the CPU");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut scores = vec![];
    for precision in [Precision::Fp32, Precision::Auto] {
        let s = settings(dir.path(), precision);
        let a = Analyzer::new(&s).unwrap();
        let mut store = Store::open(&s.data_dir()).unwrap();
        let sum = if scores.is_empty() {
            a.analyze_path(
                &mut store,
                &common::astronaut(),
                "t",
                &|_| {},
                &AtomicBool::new(false),
            )
            .unwrap()
        } else {
            // The same stored case, rescored.
            a.analyze_case(&mut store, 1, "t", &|_| {}, &AtomicBool::new(false))
                .unwrap()
        };
        let compute = store
            .analysis_compute(sum.analysis_id.unwrap())
            .unwrap()
            .unwrap();
        let expected = if precision == Precision::Fp32 {
            "cpu fp32".to_string()
        } else {
            format!("cpu bf16 ({})", cpu_bf16().unwrap())
        };
        assert_eq!(compute, expected);
        scores.push(sum.score.unwrap());
    }
    let delta = (scores[0] - scores[1]).abs();
    eprintln!(
        "fp32 {:.6} vs bf16 {:.6}: |Δp| = {delta:.2e}",
        scores[0], scores[1]
    );
    assert!(scores[0] != scores[1], "bf16 really ran (scores identical)");
    assert!(delta <= 0.02, "|Δp| = {delta}");
}
