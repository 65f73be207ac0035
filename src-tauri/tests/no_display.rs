//! The built binary, started where no display exists, must explain what to do and exit with
//! code 3 (the code `make run` uses) instead of a GTK panic.
use std::process::Command;

#[test]
fn binary_without_display_prints_advice_and_exits_3() {
    let out = Command::new(env!("CARGO_BIN_EXE_verity-desk"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the verity-desk binary starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(stderr.contains("no display found"), "stderr: {stderr}");
    assert!(stderr.contains("xvfb-run -a make run"), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
}
