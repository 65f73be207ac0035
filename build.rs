//! Embeds an rpath to the venv's libtorch so `verity` and its tests run without LD_LIBRARY_PATH.
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=VERITY_PYTHON");
    println!("cargo:rerun-if-env-changed=VERITY_RPATH");
    // A package build (`scripts/package.sh`) links against the venv's libtorch but runs with
    // the copy it ships: the rpath is then the package's own folder (e.g. `$ORIGIN/../lib/…`).
    if let Ok(rpath) = std::env::var("VERITY_RPATH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
        return;
    }
    let lib = std::env::var("LIBTORCH")
        .map(|p| format!("{p}/lib"))
        .ok()
        .or_else(|| {
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
        });
    if let Some(lib) = lib {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        println!("cargo:rustc-env=VERITY_TORCH_LIB={lib}");
    }
}
