//! End-to-end tests of Dockerfile input: a repository of manifests and Dockerfiles checked
//! with one configuration, findings at instruction lines, malformed files, stdin, build args.

use std::path::Path;
use std::process::Output;

use portcullis_tests::{run_portcullis, workspace_root};
use serde_json::Value;

const REPO: &str = "tests/fixtures/dockerfile/repo";

fn run_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    run_portcullis(dir, args, stdin)
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// (file, rule, container, path, line) of every finding.
fn findings(report: &Value) -> Vec<(String, String, String, String, Option<u64>)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["resource"]["file"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
                f["container"].as_str().unwrap_or("").to_string(),
                f["path"].as_str().unwrap().to_string(),
                f["line"].as_u64(),
            )
        })
        .collect()
}

fn row(
    file: &str,
    rule: &str,
    container: &str,
    path: &str,
    line: Option<u64>,
) -> (String, String, String, String, Option<u64>) {
    (
        file.to_string(),
        rule.to_string(),
        container.to_string(),
        path.to_string(),
        line,
    )
}

#[test]
fn a_repository_of_manifests_and_dockerfiles_is_checked_with_one_configuration() {
    let dir = workspace_root().join(REPO);
    let output = run_in(&dir, &["check", ".", "--format", "json"], None);
    // The malformed instruction is an input error: exit 2, and everything else is checked.
    assert_eq!(output.status.code(), Some(2));
    let report = json(&output);
    let mut got = findings(&report);
    got.retain(|(file, rule, ..)| file.contains("Dockerfile") || rule == "untrusted-registry");
    let dockerfile = "./services/api/Dockerfile";
    let expected = vec![
        // The manifest's image is judged by the configuration's `allowed`…
        row(
            "./deploy.yaml",
            "untrusted-registry",
            "api",
            "spec.template.spec.containers[0].image",
            None,
        ),
        // … and so is the Dockerfile's build stage, at its `FROM` line.
        row(
            dockerfile,
            "hardcoded-secret",
            "build",
            "stages[0].env.PIP_INDEX_PASSWORD",
            Some(4),
        ),
        row(
            dockerfile,
            "image-runs-as-root",
            "1",
            "stages[1].from",
            Some(7),
        ),
        row(
            dockerfile,
            "missing-checksum",
            "1",
            "stages[1].instructions[0]",
            Some(8),
        ),
        row(
            dockerfile,
            "missing-digest",
            "build",
            "stages[0].from",
            Some(3),
        ),
        row(
            dockerfile,
            "untrusted-registry",
            "build",
            "stages[0].from",
            Some(3),
        ),
        // The rest of a file with a malformed instruction is still checked.
        row(
            "./tools/Dockerfile.dev",
            "image-runs-as-root",
            "0",
            "stages[0].user",
            Some(4),
        ),
    ];
    assert_eq!(got, expected);
    // `release.Dockerfile` is read (a `*.Dockerfile` name) and passes every rule.
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["file"], "./tools/Dockerfile.dev");
    assert_eq!(errors[0]["line"], 3);
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("unknown instruction `FROOM`"),
        "{errors:?}"
    );
    assert_eq!(report["summary"]["resources"], 4, "{}", report["summary"]);
}

#[test]
fn text_output_names_the_dockerfile_and_line() {
    let dir = workspace_root().join(REPO);
    let output = run_in(&dir, &["check", "services/api/Dockerfile"], None);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("services/api/Dockerfile: Dockerfile\n"),
        "{text}"
    );
    assert!(
        text.contains("stage `build`: env var `PIP_INDEX_PASSWORD` has a hard-coded credential"),
        "{text}"
    );
    assert!(
        text.contains("at services/api/Dockerfile:4 (stages[0].env.PIP_INDEX_PASSWORD)"),
        "{text}"
    );
}

#[test]
fn stdin_is_read_as_a_dockerfile_when_asked_and_build_args_apply() {
    let dir = workspace_root().join(REPO);
    let text = "ARG TAG=1.27.3\nFROM nginx:${TAG}\nUSER 101\n";
    let args = [
        "check",
        "-",
        "--input-format",
        "dockerfile",
        "--select",
        "latest-tag",
        "--format",
        "json",
    ];
    let report = json(&run_in(&dir, &args, Some(text)));
    assert_eq!(findings(&report), vec![]);
    assert_eq!(report["errors"], serde_json::json!([]));

    // `--build-arg` overrides the default, as `docker build` does.
    let mut with_latest = args.to_vec();
    with_latest.extend(["--build-arg", "TAG=latest"]);
    let output = run_in(&dir, &with_latest, Some(text));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        findings(&json(&output)),
        vec![row("<stdin>", "latest-tag", "0", "stages[0].from", Some(2))]
    );

    // Without `--input-format`, stdin is a manifest stream: a Dockerfile is no YAML.
    let output = run_in(&dir, &args[..2], Some(text));
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_build_arg_without_a_value_needs_the_environment() {
    let dir = workspace_root().join(REPO);
    let output = run_in(
        &dir,
        &[
            "check",
            "services/api/Dockerfile",
            "--build-arg",
            "PORTCULLIS_TEST_UNSET_ARG",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("PORTCULLIS_TEST_UNSET_ARG"), "{stderr}");
}
