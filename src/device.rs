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
