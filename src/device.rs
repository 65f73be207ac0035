//! Compute device selection. libtorch's CUDA library is loaded at run time (`dlopen`): the linker's
//! `--as-needed` drops `libtorch_cuda.so` because no symbol of it is referenced, and without it
//! `tch::Cuda::is_available()` is false even on a GPU machine. One binary then serves both kinds
//! of machine: if the library or a GPU is absent we stay on the CPU.
use serde::Serialize;
use std::sync::OnceLock;

static CUDA_LIB: OnceLock<Option<libloading::Library>> = OnceLock::new();

/// Try once to load `libtorch_cuda.so` with RTLD_GLOBAL so its kernels register with libtorch.
pub fn load_cuda() -> bool {
    CUDA_LIB
        .get_or_init(|| {
            #[allow(unsafe_code)]
            // SAFETY: loading a shared library runs its initialisers; libtorch_cuda's only
            // register CUDA kernels and hooks with the already-loaded libtorch_cpu.
            unsafe {
                use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
                let mut candidates = vec!["libtorch_cuda.so".to_string()];
                if let Some(dir) = option_env!("VERITY_TORCH_LIB") {
                    candidates.insert(0, format!("{dir}/libtorch_cuda.so"));
                }
                candidates
                    .iter()
                    .find_map(|c| Library::open(Some(c), RTLD_NOW | RTLD_GLOBAL).ok())
                    .map(libloading::Library::from)
            }
        })
        .is_some()
}

/// The CPU's native bfloat16 instructions, named by their feature flag: `amx_bf16` (Intel AMX)
/// or `avx512_bf16` (AVX-512 BF16: AMD Zen 4 and later, Intel Cooper Lake and later); `None`
/// where the CPU has neither (bf16 would then be emulated, slower than fp32) or the system does
/// not say (read from `/proc/cpuinfo`, Linux).
pub fn cpu_bf16() -> Option<&'static str> {
    static FLAG: OnceLock<Option<&'static str>> = OnceLock::new();
    *FLAG.get_or_init(|| {
        let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
        bf16_flag(&info)
    })
}

/// The best bf16 feature flag in a `/proc/cpuinfo` text.
pub fn bf16_flag(cpuinfo: &str) -> Option<&'static str> {
    let flags: std::collections::HashSet<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))?
        .split(':')
        .nth(1)?
        .split_whitespace()
        .collect();
    ["amx_bf16", "avx512_bf16"]
        .into_iter()
        .find(|f| flags.contains(f))
}

/// The precision the detector actually runs in on `device` for the `wanted` setting, and why:
/// `auto` is bf16 on CUDA and on CPUs with native bf16 ([`cpu_bf16`]), else fp32; fp16 runs on
/// CUDA only; bf16 on a CPU without native support falls back to fp32 (emulated bf16 is slower
/// than fp32). Returns the kind and a description recorded with every analysis, e.g.
/// `cpu bf16 (avx512_bf16)`.
pub fn resolve_precision(
    wanted: crate::config::Precision,
    device: tch::Device,
) -> (tch::Kind, String) {
    use crate::config::Precision as P;
    use tch::Kind;
    let (kind, why) = match (wanted, device.is_cuda(), cpu_bf16()) {
        (P::Fp32, _, _) => (Kind::Float, String::new()),
        (P::Fp16, true, _) => (Kind::Half, String::new()),
        (P::Fp16, false, _) => (
            Kind::Float,
            " (fp16 asked; fp16 runs on CUDA only)".to_string(),
        ),
        (P::Bf16 | P::Auto, true, _) => (Kind::BFloat16, String::new()),
        (P::Bf16 | P::Auto, false, Some(_)) => (Kind::BFloat16, String::new()),
        (P::Bf16, false, None) => (
            Kind::Float,
            " (bf16 asked; this CPU has no native bf16)".to_string(),
        ),
        (P::Auto, false, None) => (Kind::Float, " (auto: no native bf16)".to_string()),
    };
    (kind, format!("{}{why}", compute_label(device, kind)))
}

/// Where and in what precision a detector runs, as recorded with every analysis:
/// `cpu fp32`, `cpu bf16 (avx512_bf16)`, `cuda:0 bf16`.
pub fn compute_label(device: tch::Device, kind: tch::Kind) -> String {
    let place = match device {
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_string(),
    };
    match kind {
        tch::Kind::Half => format!("{place} fp16"),
        tch::Kind::BFloat16 if !device.is_cuda() => match cpu_bf16() {
            Some(flag) => format!("{place} bf16 ({flag})"),
            None => format!("{place} bf16 (emulated)"),
        },
        tch::Kind::BFloat16 => format!("{place} bf16"),
        _ if device.is_cuda() && tf32_matmul() == Some(true) => {
            format!("{place} fp32 (tf32 matmuls)")
        }
        _ => format!("{place} fp32"),
    }
}

/// libtorch's global TF32 switch for fp32 matrix products on CUDA (what PyTorch's
/// `torch.backends.cuda.matmul.allow_tf32` sets: Ampere and later GPUs then multiply fp32 with
/// 10-bit mantissas, ≈ 8× the fp32 rate, ~1e-3 relative error). tch has no binding for it, so
/// it is reached through the symbols of the libtorch this process already loaded
/// (`at::globalContext()`, `at::Context::setAllowTF32CuBLAS`). Returns the state read back, or
/// `None` where those symbols are missing (another libtorch build). A no-op on CPU matmuls.
pub fn set_tf32_matmul(enabled: bool) -> Option<bool> {
    let (ctx, lib) = torch_context()?;
    #[allow(unsafe_code)]
    // SAFETY: `setAllowTF32CuBLAS(bool)` is a non-virtual member function of the global
    // context; under the Itanium C++ ABI on x86-64/aarch64 it is called as a C function taking
    // `this` then the bool. The context lives for the whole process.
    unsafe {
        let set: libloading::Symbol<unsafe extern "C" fn(*mut std::ffi::c_void, bool)> =
            lib.get(b"_ZN2at7Context18setAllowTF32CuBLASEb").ok()?;
        set(ctx, enabled);
    }
    tf32_matmul()
}

/// Whether fp32 matmuls on CUDA may use TF32 now (see [`set_tf32_matmul`]).
pub fn tf32_matmul() -> Option<bool> {
    let (ctx, lib) = torch_context()?;
    #[allow(unsafe_code)]
    // SAFETY: as in `set_tf32_matmul`: a const member function reading one flag.
    unsafe {
        let get: libloading::Symbol<unsafe extern "C" fn(*const std::ffi::c_void) -> bool> =
            lib.get(b"_ZNK2at7Context15allowTF32CuBLASEv").ok()?;
        Some(get(ctx))
    }
}

/// `at::globalContext()` of the loaded libtorch, and the handle its symbols were read from.
fn torch_context() -> Option<(*mut std::ffi::c_void, &'static libloading::Library)> {
    static THIS: OnceLock<Option<libloading::Library>> = OnceLock::new();
    let lib = THIS
        .get_or_init(|| Some(libloading::os::unix::Library::this().into()))
        .as_ref()?;
    #[allow(unsafe_code)]
    // SAFETY: `at::globalContext()` takes nothing and returns a reference to a static object.
    unsafe {
        let global: libloading::Symbol<unsafe extern "C" fn() -> *mut std::ffi::c_void> =
            lib.get(b"_ZN2at13globalContextEv").ok()?;
        let ctx = global();
        (!ctx.is_null()).then_some((ctx, lib))
    }
}

/// What the user asked for in settings / on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DevicePref {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl std::str::FromStr for DevicePref {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            _ => Err(crate::Error::Config(format!(
                "device must be auto, cpu or cuda, not {s:?}"
            ))),
        }
    }
}

/// Picks the device: CUDA when asked or available, CPU otherwise. Asking for CUDA on a
/// machine without one is an error, not a silent fallback.
pub fn select(pref: DevicePref) -> crate::Result<tch::Device> {
    let cuda = load_cuda() && tch::Cuda::is_available();
    match pref {
        DevicePref::Cpu => Ok(tch::Device::Cpu),
        DevicePref::Auto => Ok(if cuda { tch::Device::Cuda(0) } else { tch::Device::Cpu }),
        DevicePref::Cuda if cuda => Ok(tch::Device::Cuda(0)),
        DevicePref::Cuda => Err(crate::Error::Config(
            "CUDA was requested but no CUDA device is available (libtorch_cuda or the NVIDIA driver is missing)".into(),
        )),
    }
}

/// A description of the compute device for the UI and logs.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    /// "cpu" or "cuda".
    pub kind: String,
    /// Human-readable name, e.g. "CPU (2 threads)" or "CUDA: NVIDIA H100 80GB HBM3".
    pub name: String,
    pub cuda_devices: i64,
    pub threads: i32,
}

pub fn describe() -> DeviceInfo {
    let cuda = load_cuda() && tch::Cuda::is_available();
    let threads = tch::get_num_threads();
    if cuda {
        let n = tch::Cuda::device_count();
        let name = cuda_name(0).unwrap_or_else(|| "CUDA device 0".into());
        DeviceInfo {
            kind: "cuda".into(),
            name: format!("CUDA: {name}"),
            cuda_devices: n,
            threads,
        }
    } else {
        DeviceInfo {
            kind: "cpu".into(),
            name: format!("CPU ({threads} threads)"),
            cuda_devices: 0,
            threads,
        }
    }
}

/// Reads the CUDA device name through nvidia-smi (libtorch's C API exposes no name query).
fn cuda_name(index: usize) -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(index)
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tf32_tests {
    #[test]
    fn the_tf32_switch_is_reached_and_reads_back() {
        // The flag is global libtorch state; it exists (and reads back) without a GPU.
        let before = super::tf32_matmul().expect("libtorch's context symbols are found");
        assert_eq!(super::set_tf32_matmul(true), Some(true));
        assert_eq!(super::set_tf32_matmul(false), Some(false));
        super::set_tf32_matmul(before);
        // Recorded with CUDA fp32 analyses only when on.
        super::set_tf32_matmul(true);
        assert_eq!(
            super::compute_label(tch::Device::Cuda(0), tch::Kind::Float),
            "cuda:0 fp32 (tf32 matmuls)"
        );
        assert_eq!(
            super::compute_label(tch::Device::Cpu, tch::Kind::Float),
            "cpu fp32"
        );
        super::set_tf32_matmul(false);
        assert_eq!(
            super::compute_label(tch::Device::Cuda(0), tch::Kind::Float),
            "cuda:0 fp32"
        );
        super::set_tf32_matmul(before);
    }
}
