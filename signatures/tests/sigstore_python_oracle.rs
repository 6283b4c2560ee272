//! Runs sigstore-python 4.5.1 (`tests/sigstore_python_oracle.py`) over the same
//! sigstore-conformance bundles and compares its verdicts with ours.
//!
//! The oracle lives in a venv: `$SIGSTORE_PYTHON_VENV`, else `<target dir>/sigstore-python-venv`,
//! created by `tests/setup_sigstore_python.sh` when missing. Without Python or PyPI the test
//! prints a SKIPPED line, except under `CI=true`, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Cases where sigstore-python 4.5.1 itself departs from the conformance expectation.
const ORACLE_KNOWN_WRONG: &[(&str, &str)] = &[
    (
        "intoto-with-custom-trust-root",
        "sigstore-python 4.5.1: \"Integrated time only supported for dsse/hashedrekord 0.0.1 types\" (intoto 0.0.2 entry)",
    ),
    (
        "trust-root-tsa-validity-end-inclusive",
        "sigstore-python 4.5.1 rejects with \"not enough sources of verified time\": the timestamp equals the end of the TSA validity, which the conformance suite says is inclusive",
    ),
];

fn venv() -> PathBuf {
    if let Ok(v) = std::env::var("SIGSTORE_PYTHON_VENV") {
        return PathBuf::from(v);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("sigstore-python-venv")
}

fn oracle_ready(python: &Path) -> bool {
    Command::new(python)
        .args([
            "-c",
            "import sigstore, sys; sys.exit(0 if sigstore.__version__ == '4.5.1' else 1)",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn skip_or_fail(why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("sigstore-python oracle unavailable under CI: {why}");
    }
    println!("SKIPPED sigstore-python oracle: {why}");
}

#[test]
fn sigstore_python_agrees() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = venv();
    let python = venv.join("bin/python");
    if !oracle_ready(&python) {
        let setup = Command::new("sh")
            .arg(manifest.join("tests/setup_sigstore_python.sh"))
            .arg(&venv)
            .output();
        match setup {
            Ok(o) if o.status.success() && oracle_ready(&python) => {}
            Ok(o) => {
                return skip_or_fail(&format!(
                    "setup failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
            Err(e) => return skip_or_fail(&format!("cannot run the setup script: {e}")),
        }
    }
    let out = Command::new(&python)
        .arg(manifest.join("tests/sigstore_python_oracle.py"))
        .arg(common::dir())
        .arg(manifest.join("data/production_trusted_root.json"))
        .output()
        .expect("run the oracle");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut agree, mut known, mut not_applicable) = (0, 0, 0);
    let mut unexpected = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let row: serde_json::Value = serde_json::from_str(line).expect("oracle line");
        let case = row["case"].as_str().unwrap().to_string();
        let Some(theirs) = row["verified"].as_bool() else {
            not_applicable += 1;
            println!("n/a      {case}: {}", row["error"].as_str().unwrap_or(""));
            continue;
        };
        let ours = common::run_case(&common::dir().join(&case)).is_ok();
        if ours == theirs {
            agree += 1;
            continue;
        }
        match ORACLE_KNOWN_WRONG.iter().find(|(n, _)| *n == case) {
            Some((_, why)) => {
                known += 1;
                println!("differ   {case}: ours={ours} sigstore-python={theirs} — {why}");
            }
            None => {
                println!(
                    "DIFFER   {case}: ours={ours} sigstore-python={theirs}: {}",
                    row["error"]
                );
                unexpected.push(case);
            }
        }
    }
    println!(
        "sigstore-python oracle: {agree} agree, {known} differ (known sigstore-python gaps), {not_applicable} not applicable, {} unexpected",
        unexpected.len()
    );
    assert!(agree >= 60, "too few cases compared: {agree}");
    assert!(
        unexpected.is_empty(),
        "unexpected differences: {unexpected:?}"
    );
}
