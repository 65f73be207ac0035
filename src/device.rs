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

/// GPU memory in use, per NVIDIA GPU: (device index as NVML numbers it, bytes used), for
/// `/metrics`. Read through NVML (`libnvidia-ml.so.1`, installed with the driver), loaded at
/// run time once; empty where there is no NVML (no NVIDIA driver), it does not initialise, or
/// no GPU answers. A GPU whose query fails is left out. Cheap enough to call per scrape.
pub fn gpu_memory_used() -> Vec<(u32, u64)> {
    gpu_memory()
        .into_iter()
        .map(|m| (m.index, m.used))
        .collect()
}

/// One GPU's memory as NVML reports it (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuMemory {
    pub index: u32,
    pub total: u64,
    pub free: u64,
    pub used: u64,
}

/// [`gpu_memory_used`] with the totals.
pub fn gpu_memory() -> Vec<GpuMemory> {
    static NVML: OnceLock<Option<Nvml>> = OnceLock::new();
    match NVML.get_or_init(|| Nvml::load("libnvidia-ml.so.1")) {
        Some(n) => n.memory(),
        None => Vec::new(),
    }
}

/// `nvmlMemory_t` (nvml.h).
#[repr(C)]
#[derive(Default)]
struct NvmlMemory {
    total: u64,
    free: u64,
    used: u64,
}

type NvmlReturn = std::ffi::c_int;
type NvmlDevice = *mut std::ffi::c_void;
const NVML_SUCCESS: NvmlReturn = 0;

/// The NVML entry points used, read from a library kept loaded for the process' lifetime.
struct Nvml {
    _lib: libloading::Library,
    count: unsafe extern "C" fn(*mut std::ffi::c_uint) -> NvmlReturn,
    handle: unsafe extern "C" fn(std::ffi::c_uint, *mut NvmlDevice) -> NvmlReturn,
    memory: unsafe extern "C" fn(NvmlDevice, *mut NvmlMemory) -> NvmlReturn,
}

impl Nvml {
    /// Loads `name` and initialises NVML; None (logged at debug level) when either fails.
    fn load(name: &str) -> Option<Nvml> {
        #[allow(unsafe_code)]
        // SAFETY: libnvidia-ml's initialisers only set up the library; the symbols are read
        // with their nvml.h signatures (the `_v2` ones exist since driver 325), and the function
        // pointers are kept together with the library that owns them.
        unsafe {
            let lib = match libloading::Library::new(name) {
                Ok(l) => l,
                Err(e) => {
                    tracing::debug!("NVML not loaded ({name}): {e}");
                    return None;
                }
            };
            let init: unsafe extern "C" fn() -> NvmlReturn = *lib.get(b"nvmlInit_v2\0").ok()?;
            let n = Nvml {
                count: *lib.get(b"nvmlDeviceGetCount_v2\0").ok()?,
                handle: *lib.get(b"nvmlDeviceGetHandleByIndex_v2\0").ok()?,
                memory: *lib.get(b"nvmlDeviceGetMemoryInfo\0").ok()?,
                _lib: lib,
            };
            let r = init();
            if r != NVML_SUCCESS {
                tracing::debug!("NVML did not initialise (error {r}): no GPU memory in /metrics");
                return None;
            }
            Some(n)
        }
    }

    fn memory(&self) -> Vec<GpuMemory> {
        let mut out = Vec::new();
        #[allow(unsafe_code)]
        // SAFETY: NVML is initialised (`load`) and thread-safe; every out-pointer is a local of
        // the type nvml.h declares.
        unsafe {
            let mut count: std::ffi::c_uint = 0;
            if (self.count)(&mut count) != NVML_SUCCESS {
                return out;
            }
            for i in 0..count {
                let mut dev: NvmlDevice = std::ptr::null_mut();
                if (self.handle)(i, &mut dev) != NVML_SUCCESS || dev.is_null() {
                    continue;
                }
                let mut m = NvmlMemory::default();
                if (self.memory)(dev, &mut m) == NVML_SUCCESS {
                    out.push(GpuMemory {
                        index: i,
                        total: m.total,
                        free: m.free,
                        used: m.used,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod nvml_tests {
    /// Where NVML is absent (no NVIDIA driver, as on the build machine) the answer is empty, no
    /// panic; where it is present, each GPU's figures are consistent.
    #[test]
    fn gpu_memory_is_empty_without_nvml_and_consistent_with_it() {
        let nvml_present = super::Nvml::load("libnvidia-ml.so.1").is_some();
        let all = super::gpu_memory();
        let used = super::gpu_memory_used();
        if !nvml_present {
            assert!(all.is_empty(), "GPU memory without NVML: {all:?}");
            assert!(used.is_empty());
        } else {
            eprintln!("NVML present: {all:?}");
            for m in &all {
                assert!(m.used <= m.total && m.free <= m.total, "{m:?}");
                assert!(m.total > 0, "{m:?}");
            }
            let idx: Vec<u32> = all.iter().map(|m| m.index).collect();
            assert_eq!(used.iter().map(|u| u.0).collect::<Vec<_>>(), idx);
        }
        // Cached: a second call gives the same devices.
        assert_eq!(super::gpu_memory_used().len(), used.len());
    }

    #[test]
    fn a_missing_nvml_library_is_none_not_a_panic() {
        assert!(super::Nvml::load("libnvidia-ml-that-does-not-exist.so.1").is_none());
    }

    /// The binding against a stand-in `libnvidia-ml` built from C here (this machine has no
    /// NVIDIA driver): the `nvmlMemory_t` layout and the calls' order are what nvml.h says, a
    /// GPU whose query fails is left out, and a failed `nvmlInit_v2` means no NVML. Skipped
    /// (visibly) without a C compiler.
    #[test]
    fn the_nvml_binding_reads_a_stand_in_library() {
        let dir = tempfile::tempdir().unwrap();
        let build = |name: &str, init_result: i32| {
            let src = dir.path().join(format!("{name}.c"));
            let lib = dir.path().join(format!("{name}.so"));
            std::fs::write(
                &src,
                format!(
                    r#"
typedef struct {{ unsigned long long total, free, used; }} nvmlMemory_t;
static int inited = 0;
int nvmlInit_v2(void) {{ inited = 1; return {init_result}; }}
int nvmlDeviceGetCount_v2(unsigned int *n) {{ if (!inited) return 1; *n = 3; return 0; }}
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d) {{
    if (i == 1) return 15; /* NVML_ERROR_GPU_IS_LOST */
    *d = (void *)(unsigned long)(0x100 + i); return 0; }}
int nvmlDeviceGetMemoryInfo(void *d, nvmlMemory_t *m) {{
    unsigned long long i = (unsigned long)d - 0x100;
    m->total = 80ULL << 30; m->used = (i + 1) << 30; m->free = m->total - m->used; return 0; }}
"#
                ),
            )
            .unwrap();
            let st = std::process::Command::new("cc")
                .args(["-shared", "-fPIC", "-o"])
                .arg(&lib)
                .arg(&src)
                .status();
            match st {
                Ok(s) if s.success() => Some(lib),
                _ => None,
            }
        };
        let Some(ok) = build("nvml_ok", 0) else {
            eprintln!("SKIP: no C compiler (cc) for the stand-in NVML");
            return;
        };
        let n = super::Nvml::load(ok.to_str().unwrap()).expect("the stand-in loads");
        assert_eq!(
            n.memory(),
            vec![
                super::GpuMemory {
                    index: 0,
                    total: 80 << 30,
                    free: 79 << 30,
                    used: 1 << 30
                },
                super::GpuMemory {
                    index: 2,
                    total: 80 << 30,
                    free: 77 << 30,
                    used: 3 << 30
                },
            ]
        );
        let failing = build("nvml_noinit", 9).expect("built above");
        assert!(
            super::Nvml::load(failing.to_str().unwrap()).is_none(),
            "NVML that did not initialise was used"
        );
    }
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
