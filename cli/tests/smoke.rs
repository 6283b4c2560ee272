//! Makes `cargo test` build the `portcullis` binary that the end-to-end tests in `tests/` run.

use std::process::Command;

#[test]
fn binary_runs() {
    let output = Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("portcullis "));
}
