//! How failures of the compute device are contained, so a GPU problem costs at most one case and
//! never the worker:
//!
//! - **Out of memory** on a batch (CUDA's "out of memory", the CPU allocator's "can't allocate"):
//!   the batch is split in halves and each half retried ([`split_on_oom`]), down to one item; only
//!   a single face that still does not fit fails its case ([`Error::OutOfMemory`]).
//! - **The device failed** (a GPU that fell off the bus, a driver or launch error, any other
//!   CUDA runtime error): [`Error::DeviceLost`]. The pipeline fails the case with that message and
//!   marks the analyzer; the worker then drops its models and goes on with later jobs on the CPU
//!   (`worker.rs`).
//!
//! libtorch reports these by throwing, which tch turns into a panic (or a `TchError` from the
//! `f_` functions): [`guarded`] turns both into the typed errors above.
//!
//! [`inject`] forces either failure for tests — there is no other way to make a GPU disappear on
//! purpose, and none to exhaust memory on a CPU-only test machine.
use crate::{Error, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use tch::Device;

/// What a libtorch failure message says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    OutOfMemory,
    DeviceLost,
    Other,
}

/// Classifies a libtorch/CUDA error text. Out of memory is recognised on any device (CUDA's
/// `CUDA out of memory`, `CUBLAS_STATUS_ALLOC_FAILED`, the CPU allocator's `DefaultCPUAllocator:
/// can't allocate memory` / `not enough memory`); a device failure only on CUDA (CUDA runtime,
/// driver, cuBLAS and cuDNN errors, a device-side assert, "no CUDA GPUs are available").
pub fn classify(device: Device, message: &str) -> Failure {
    let m = message.to_ascii_lowercase();
    if m.contains("out of memory")
        || m.contains("can't allocate memory")
        || m.contains("not enough memory")
        || m.contains("cublas_status_alloc_failed")
    {
        return Failure::OutOfMemory;
    }
    let cuda_failure = [
        "cuda error",
        "cuda driver error",
        "cudaerror",
        "cublas_status",
        "cudnn_status",
        "cudnn error",
        "device-side assert",
        "no cuda gpus are available",
        "cuda-capable device",
        "nvml",
    ];
    if device.is_cuda() && cuda_failure.iter().any(|p| m.contains(p)) {
        return Failure::DeviceLost;
    }
    Failure::Other
}

/// `device` as analysts and logs see it: `cpu`, `cuda:0`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
        Device::Cpu => "cpu".into(),
    }
}

/// The typed error for a libtorch failure `message` on `device` while doing `what`.
pub fn error_for(device: Device, what: &str, message: &str) -> Error {
    let dev = device_name(device);
    match classify(device, message) {
        Failure::OutOfMemory => Error::OutOfMemory {
            device: dev,
            message: format!("{what}: {message}"),
        },
        Failure::DeviceLost => Error::DeviceLost {
            device: dev,
            message: format!("{what}: {message}"),
        },
        Failure::Other => Error::Model(format!("{what} failed: {message}")),
    }
}

/// Runs `f` (libtorch work on `device`), turning a libtorch panic or `TchError` into
/// [`Error::OutOfMemory`], [`Error::DeviceLost`] or [`Error::Model`]; other errors pass as they are.
pub fn guarded<R>(device: Device, what: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Err(Error::Torch(e))) => Err(error_for(device, what, &e.to_string())),
        Ok(r) => r,
        Err(panic) => Err(error_for(device, what, &panic_text(&panic))),
    }
}

/// Runs `f` over `items` as one batch; if that runs out of memory, splits the batch in halves and
/// runs each (recursively), counting each split in `splits`. The results keep the items' order.
/// A single item that still does not fit is [`Error::OutOfMemory`]; other errors end at once.
pub fn split_on_oom<T, R>(
    items: &[T],
    splits: &AtomicUsize,
    f: &mut dyn FnMut(&[T]) -> Result<Vec<R>>,
) -> Result<Vec<R>> {
    match f(items) {
        Err(Error::OutOfMemory { device, message }) if items.len() > 1 => {
            splits.fetch_add(1, Ordering::Relaxed);
            let mid = items.len() / 2;
            tracing::warn!(
                device,
                batch = items.len(),
                "out of memory; splitting the batch into {mid} + {} and retrying ({message})",
                items.len() - mid
            );
            let mut out = split_on_oom(&items[..mid], splits, f)?;
            out.extend(split_on_oom(&items[mid..], splits, f)?);
            Ok(out)
        }
        other => other,
    }
}

/// The text of a caught panic.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Forced device failures, for tests: a plan set here is consulted by the detector and MTCNN
/// before each batch they run ([`inject::check`]). Never set outside tests.
#[doc(hidden)]
pub mod inject {
    use super::*;
    use std::sync::Mutex;

    /// Which failures to force.
    #[derive(Debug, Clone, Default)]
    pub struct Plan {
        /// Any batch of more than this many items runs out of memory (as CUDA would say).
        pub oom_above: Option<usize>,
        /// After this many batches ran, every later one fails as a GPU that fell off the bus.
        pub device_lost_after: Option<usize>,
        /// Restrict the plan to this stage (`"score"` or `"detect"`); `None`: both.
        pub stage: Option<&'static str>,
    }

    static PLAN: Mutex<Option<(Plan, usize)>> = Mutex::new(None);

    /// Sets (Some) or clears (None) the plan for the whole process.
    pub fn set(plan: Option<Plan>) {
        *PLAN.lock().unwrap_or_else(|p| p.into_inner()) = plan.map(|p| (p, 0));
    }

    /// Called before a batch of `n` items of `stage` runs: the forced failure, if the plan has one.
    pub fn check(stage: &str, n: usize) -> Result<()> {
        let mut guard = PLAN.lock().unwrap_or_else(|p| p.into_inner());
        let Some((plan, ran)) = guard.as_mut() else {
            return Ok(());
        };
        if plan.stage.is_some_and(|s| s != stage) {
            return Ok(());
        }
        if plan.device_lost_after.is_some_and(|after| *ran >= after) {
            return Err(Error::DeviceLost {
                device: "cuda:0".into(),
                message: format!(
                    "{stage}: CUDA error: unspecified launch failure (forced by the test plan)"
                ),
            });
        }
        if plan.oom_above.is_some_and(|max| n > max) {
            return Err(Error::OutOfMemory {
                device: "cuda:0".into(),
                message: format!(
                    "{stage}: CUDA out of memory. Tried to allocate a batch of {n} (forced by the test plan)"
                ),
            });
        }
        *ran += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_messages_are_classified() {
        let cuda = Device::Cuda(0);
        assert_eq!(
            classify(cuda, "CUDA out of memory. Tried to allocate 2.00 GiB"),
            Failure::OutOfMemory
        );
        assert_eq!(
            classify(Device::Cpu, "[enforce fail at alloc_cpu.cpp:117] . DefaultCPUAllocator: can't allocate memory: you tried to allocate 98 bytes"),
            Failure::OutOfMemory
        );
        assert_eq!(
            classify(cuda, "CUDA error: unspecified launch failure"),
            Failure::DeviceLost
        );
        assert_eq!(
            classify(cuda, "CUDA driver error: device not ready"),
            Failure::DeviceLost
        );
        // A CUDA-looking text on the CPU is not a lost GPU; a shape error is neither.
        assert_eq!(classify(Device::Cpu, "CUDA error: x"), Failure::Other);
        assert_eq!(
            classify(cuda, "mat1 and mat2 shapes cannot be multiplied"),
            Failure::Other
        );
    }

    #[test]
    fn an_oom_batch_is_halved_until_it_fits_and_keeps_its_order() {
        let items: Vec<u32> = (0..11).collect();
        let splits = AtomicUsize::new(0);
        let mut sizes = Vec::new();
        let out = split_on_oom(&items, &splits, &mut |b: &[u32]| {
            sizes.push(b.len());
            if b.len() > 3 {
                Err(Error::OutOfMemory {
                    device: "cuda:0".into(),
                    message: "x".into(),
                })
            } else {
                Ok(b.iter().map(|v| v * 10).collect())
            }
        })
        .unwrap();
        assert_eq!(out, items.iter().map(|v| v * 10).collect::<Vec<_>>());
        assert!(sizes.iter().skip(1).all(|&s| s < 11));
        // 11 → 5 + 6 → (2 + 3) + (3 + 3): three splits.
        assert_eq!(splits.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn one_item_that_does_not_fit_is_out_of_memory_and_other_errors_stop_at_once() {
        let splits = AtomicUsize::new(0);
        let r = split_on_oom(&[1u8, 2], &splits, &mut |_b: &[u8]| -> Result<Vec<u8>> {
            Err(Error::OutOfMemory {
                device: "cuda:0".into(),
                message: "x".into(),
            })
        });
        assert!(matches!(r, Err(Error::OutOfMemory { .. })), "{r:?}");
        let mut calls = 0;
        let r = split_on_oom(
            &[1u8, 2, 3, 4],
            &splits,
            &mut |_b: &[u8]| -> Result<Vec<u8>> {
                calls += 1;
                Err(Error::Model("shape".into()))
            },
        );
        assert!(matches!(r, Err(Error::Model(_))));
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_libtorch_panic_becomes_a_typed_error() {
        let r: Result<()> = guarded(Device::Cuda(0), "scoring", || {
            panic!("CUDA error: an illegal memory access was encountered")
        });
        match r {
            Err(Error::DeviceLost { device, message }) => {
                assert_eq!(device, "cuda:0");
                assert!(message.starts_with("scoring: CUDA error"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
}
