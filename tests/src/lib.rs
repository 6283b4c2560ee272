//! End-to-end and cross-crate tests for Portcullis; shared helpers live here.

pub mod corpus;

use std::path::PathBuf;

use portcullis_engine::{Policy, RuleSet, Selection};

/// `rules` with default settings, every rule on, exemptions evaluated as of today.
pub fn default_policy(rules: &RuleSet) -> Policy {
    Policy::builder(rules)
        .build()
        .expect("default settings of loaded rules are valid")
}

/// Like [`default_policy`], with only the rule `id`.
pub fn single_rule_policy(rules: &RuleSet, id: &str) -> Policy {
    Policy::builder(rules)
        .selection(Selection::only([id]))
        .build()
        .expect("default settings of loaded rules are valid")
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}

/// The default pack's folder.
pub fn rules_dir() -> PathBuf {
    workspace_root().join("rules")
}

/// The `portcullis` binary of this build, built on first use if `cargo test` did not.
pub fn portcullis_binary() -> &'static PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("target/<profile>/deps");
        let path = dir.join(format!("portcullis{}", std::env::consts::EXE_SUFFIX));
        if !path.exists() {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "-p", "portcullis"])
                .current_dir(workspace_root())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building portcullis failed");
        }
        path
    })
}

/// A fresh scratch directory under the target directory, removed first if it exists.
pub fn scratch_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("scratch")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Runs the binary in `dir`, feeding `stdin` when given. `NO_COLOR` is removed so that
/// only `--color` and the (never a terminal) output decide colour.
pub fn run_portcullis(
    dir: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(portcullis_binary())
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("portcullis starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(text.as_bytes()).expect("writing stdin");
    }
    child.wait_with_output().expect("portcullis exits")
}

/// Says that a test did not run, on the real stderr: `eprintln!` inside a test is captured
/// and shown only when the test fails, and a skip must be seen.
pub fn say_skipped(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {message}");
}

/// (rule, resource name, container or "") of every finding of a `--format json` report, in
/// output order.
pub fn finding_keys(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["findings"]
        .as_array()
        .expect("a JSON report has a findings array")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or_default().to_string(),
                f["resource"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                f["container"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
