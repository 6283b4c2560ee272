//! Image facts end to end, offline: `check --image-facts` with a facts file, the five image
//! rules firing and staying quiet, and facts files that cannot be used.

use std::process::{Command, Output};

use portcullis_tests::{portcullis_binary, scratch_dir, workspace_root};
use serde_json::Value;

const IMAGE_RULES: &str =
    "vulnerable-image,secret-in-image,non-minimal-image,image-runs-as-root,unscanned-image";

fn run(args: &[&str]) -> Output {
    Command::new(portcullis_binary())
        .args(args)
        .current_dir(workspace_root())
        .env_remove("NO_COLOR")
        .output()
        .expect("portcullis runs")
}

fn findings(output: &Output) -> Vec<(String, String)> {
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["resource"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn each_image_rule_fires_and_stays_quiet_from_a_facts_file() {
    let output = run(&[
        "check",
        "tests/fixtures/facts/workloads.yaml",
        "--image-facts",
        "tests/fixtures/facts/image-facts.json",
        "--select",
        IMAGE_RULES,
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    // `api` is a root Debian image with a token in ENV and a critical CVE; `static` is a
    // scanned, clean distroless image whose pod forces non-root: quiet on every rule.
    let expected: Vec<(String, String)> = [
        "image-runs-as-root",
        "non-minimal-image",
        "secret-in-image",
        "vulnerable-image",
    ]
    .iter()
    .map(|r| (r.to_string(), "api".to_string()))
    .collect();
    assert_eq!(findings(&output), expected);
}

#[test]
fn without_facts_only_unscanned_image_speaks_and_only_when_enabled() {
    let default = run(&[
        "check",
        "tests/fixtures/facts/workloads.yaml",
        "--format",
        "json",
    ]);
    let image_rules: Vec<_> = findings(&default)
        .into_iter()
        .filter(|(rule, _)| IMAGE_RULES.split(',').any(|r| r == rule))
        .collect();
    assert!(image_rules.is_empty(), "{image_rules:?}");

    let selected = run(&[
        "check",
        "tests/fixtures/facts/workloads.yaml",
        "--select",
        IMAGE_RULES,
        "--format",
        "json",
    ]);
    assert_eq!(
        findings(&selected),
        vec![
            ("unscanned-image".to_string(), "api".to_string()),
            ("unscanned-image".to_string(), "static".to_string()),
        ]
    );
}

#[test]
fn unusable_facts_files_stop_the_run_with_a_clear_error() {
    let dir = scratch_dir("facts-bad-files");
    let newer = dir.join("newer.json");
    std::fs::write(
        &newer,
        r#"{"format": "portcullis-image-facts", "version": 9, "images": {}}"#,
    )
    .unwrap();
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "not json").unwrap();
    let missing = dir.join("missing.json");
    for (path, message) in [
        (&newer, "facts file version 9 is not supported"),
        (&garbage, "not a facts file"),
        (&missing, "cannot read image facts"),
    ] {
        let output = run(&[
            "check",
            "tests/fixtures/facts/workloads.yaml",
            "--image-facts",
            path.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}
