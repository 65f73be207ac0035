//! Generates Tauri's context (config, capabilities, icons) and embeds an rpath to the venv's
//! libtorch — the same lookup as the root build.rs — so `verity-desk` runs without LD_LIBRARY_PATH.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=VERITY_PYTHON");
    // The UI is embedded at compile time; rebuild when `npm run build` rewrites it.
    println!("cargo:rerun-if-changed=../ui/dist");
    println!("cargo:rerun-if-env-changed=VERITY_RPATH");
    // A package build ships its own libtorch: see the root build.rs.
    if let Ok(rpath) = std::env::var("VERITY_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
    } else if let Some(lib) = torch_lib() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    tauri_build::build();
}

/// `$LIBTORCH/lib`, or the `torch/lib` folder of the Python that `scripts/env.sh` selects.
fn torch_lib() -> Option<String> {
    if let Ok(p) = std::env::var("LIBTORCH") {
        return Some(format!("{p}/lib"));
    }
    let py = std::env::var("VERITY_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(py)
        .args([
            "-c",
            "import torch,os;print(os.path.join(os.path.dirname(torch.__file__),'lib'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
