//! The rule-writing loop as a new user meets it (issue 13): a real configuration next to
//! `--no-default-rules`, rule files reached by two paths, `debug(…)` output, the namespace of
//! manifests that name none, minimal image-facts fixtures and JUnit for image rules that had
//! no facts. Each of these failed before its fix.

use std::path::{Path, PathBuf};
use std::process::Output;

use portcullis_tests::scratch_dir;
use serde_json::Value;

fn run_in(dir: &Path, args: &[&str]) -> Output {
    portcullis_tests::run_portcullis(dir, args, None)
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(output), stderr(output)))
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
    - {name: app, image: \"registry.example.com/team/app:1.0\"}
";

/// A project with `pod.yaml` and a scaffolded rule `team-rule` in `policies/`.
fn project(name: &str) -> PathBuf {
    let dir = scratch_dir(name);
    let created = run_in(&dir, &["new", "rule", "team-rule", "--dir", "policies"]);
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    std::fs::write(dir.join("pod.yaml"), POD).unwrap();
    dir
}

#[test]
fn a_configuration_tuning_built_in_rules_works_with_no_default_rules() {
    let dir = project("loop-config");
    std::fs::write(
        dir.join("c.yaml"),
        "rules:\n  latest-tag:\n    settings: {disallowed-tags: [latest, dev]}\n  team-rule:\n    severity: high\nexemptions:\n  - {rule: missing-digest, namespace: kube-system, reason: system images}\n",
    )
    .unwrap();
    let args = [
        "check",
        "--no-default-rules",
        "--rules",
        "policies",
        "--config",
        "c.yaml",
        "pod.yaml",
        "--format",
        "json",
    ];
    let output = run_in(&dir, &args);
    assert_ne!(code(&output), 2, "{}", stderr(&output));
    assert_eq!(json(&output)["summary"]["errors"], 0);

    // A misspelt id is still an error: only built-in ids are let through.
    std::fs::write(
        dir.join("c.yaml"),
        "rules:\n  lates-tag:\n    enabled: false\n",
    )
    .unwrap();
    let output = run_in(&dir, &args[..7]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("unknown rule `lates-tag`"),
        "{}",
        stderr(&output)
    );

    // Selecting a built-in rule that is not loaded says why.
    let output = run_in(
        &dir,
        &[
            "check",
            "--no-default-rules",
            "--rules",
            "policies",
            "--select",
            "latest-tag",
            "pod.yaml",
        ],
    );
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("`latest-tag` is a built-in rule, not loaded in this run"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_rule_file_reached_by_two_paths_is_loaded_once() {
    let dir = project("loop-two-paths");
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("policies"), dir.join("linked")).unwrap();
    let mut args = vec![
        "check",
        "--no-default-rules",
        "--rules",
        "policies",
        "--rules",
        "./policies/team-rule.rhai",
    ];
    if cfg!(unix) {
        args.extend(["--rules", "linked"]);
    }
    args.extend(["pod.yaml", "--format", "json"]);
    let output = run_in(&dir, &args);
    assert_ne!(code(&output), 2, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(report["summary"]["findings"], 1, "{report}");
}

#[test]
fn debug_output_names_file_line_and_column() {
    let dir = project("loop-debug");
    let rule = std::fs::read_to_string(dir.join("policies/team-rule.rhai")).unwrap();
    let rule = rule.replacen(
        "fn check(workload, settings) {",
        "fn check(workload, settings) {\n    debug(\"hello from the rule\");",
        1,
    );
    assert!(rule.contains("hello from the rule"), "the scaffold changed");
    std::fs::write(dir.join("policies/team-rule.rhai"), &rule).unwrap();
    let line = rule
        .lines()
        .position(|l| l.contains("hello from the rule"))
        .unwrap()
        + 1;
    let output = run_in(
        &dir,
        &[
            "-vv",
            "check",
            "--no-default-rules",
            "--rules",
            "policies",
            "pod.yaml",
        ],
    );
    // `debug` shows values as Rhai writes them: a string in quotes.
    let expected = format!("policies/team-rule.rhai:{line}:5: \"hello from the rule\"");
    assert!(
        stderr(&output).contains(&expected),
        "wanted {expected:?} in:\n{}",
        stderr(&output)
    );
}

#[test]
fn the_namespace_of_manifests_without_one_comes_from_the_flag_or_the_configuration() {
    let dir = project("loop-namespace");
    std::fs::write(
        dir.join("ns.yaml"),
        format!("{POD}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: other, namespace: shop}}\nspec:\n  containers: [{{name: app, image: nginx}}]\n"),
    )
    .unwrap();
    let namespaces = |output: &Output| -> Vec<String> {
        let report = json(output);
        let mut seen: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{}={}",
                    f["resource"]["name"].as_str().unwrap(),
                    f["resource"]["namespace"].as_str().unwrap()
                )
            })
            .collect();
        seen.sort();
        seen.dedup();
        seen
    };
    let plain = run_in(&dir, &["check", "ns.yaml", "--format", "json"]);
    assert_eq!(namespaces(&plain), ["other=shop", "web=default"]);

    let flagged = run_in(
        &dir,
        &[
            "check",
            "ns.yaml",
            "--namespace",
            "prod-eu",
            "--format",
            "json",
        ],
    );
    assert_eq!(namespaces(&flagged), ["other=shop", "web=prod-eu"]);

    // Exemptions match the namespace the resource gets.
    std::fs::write(
        dir.join("c.yaml"),
        "namespace: prod-us\nexemptions:\n  - {rule: '*', namespace: prod-us, reason: test}\n",
    )
    .unwrap();
    let configured = run_in(
        &dir,
        &["check", "ns.yaml", "--config", "c.yaml", "--format", "json"],
    );
    // `web` is in prod-us now, so the exemption waives its findings.
    assert_eq!(namespaces(&configured), ["other=shop"]);
    assert!(json(&configured)["summary"]["exempted"].as_u64().unwrap() > 0);

    // The flag wins over the configuration; a bad name is a usage error.
    let both = run_in(
        &dir,
        &[
            "check", "ns.yaml", "--config", "c.yaml", "-n", "prod-eu", "--format", "json",
        ],
    );
    assert_eq!(namespaces(&both), ["other=shop", "web=prod-eu"]);
    let bad = run_in(&dir, &["check", "ns.yaml", "--namespace", "Prod_EU"]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("not a namespace name"),
        "{}",
        stderr(&bad)
    );
    std::fs::write(dir.join("c.yaml"), "namespace: Prod_EU\n").unwrap();
    let bad = run_in(&dir, &["check", "ns.yaml", "--config", "c.yaml"]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("`namespace` must be a Kubernetes namespace name"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn image_facts_fixtures_need_only_the_fields_they_are_about() {
    let dir = scratch_dir("loop-facts-fixture");
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/root-image.rhai"),
        r#"const META = #{
    id: "root-image",
    title: "Image runs as root",
    severity: "high",
    remediation: "Set a non-root USER in the image.",
};

fn check(workload, settings) {
    let findings = [];
    for c in workload.containers {
        let facts = c.image.facts;
        if facts != () && facts.user_is_root == true {
            findings.push(finding(c, "runs as root"));
        }
    }
    findings
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("policies/root-image.tests.yaml"),
        r#"cases:
  - name: only config.user is given
    facts:
      "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":
        references: ["registry.example.com/team/app:1.0"]
        config: {user: root}
        filesystem: {shells: [sh]}
        scan: {vulnerabilities: []}
    manifest: |
      kind: Pod
      metadata: {name: web}
      spec:
        containers: [{name: app, image: "registry.example.com/team/app:1.0"}]
    expect:
      - {container: app}
"#,
    )
    .unwrap();
    let output = run_in(&dir, &["test", "--no-default-rules", "policies"]);
    assert_eq!(code(&output), 0, "{}{}", stdout(&output), stderr(&output));
}

#[test]
fn junit_shows_image_rules_without_facts_as_skipped_not_passed() {
    let dir = project("loop-junit");
    let output = run_in(
        &dir,
        &[
            "check",
            "pod.yaml",
            "--select",
            "vulnerable-image,latest-tag",
            "--format",
            "junit",
        ],
    );
    let xml = stdout(&output);
    let case = |name: &str| -> String {
        let start = xml
            .find(&format!("name=\"{name}\""))
            .unwrap_or_else(|| panic!("no case {name}: {xml}"));
        let rest = &xml[start..];
        let end = match (rest.find("/>"), rest.find("</testcase>")) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap(),
        };
        rest[..end].to_string()
    };
    assert!(
        case("vulnerable-image").contains("<skipped message=\"no image facts"),
        "{xml}"
    );
    assert!(!case("latest-tag").contains("skipped"), "{xml}");
}
