//! Writing custom rules end to end through the binary: `new rule`, `test`, `check --rules`,
//! `--no-default-rules`, id clashes and diagnostics with code frames.

use std::path::{Path, PathBuf};
use std::process::Output;

use portcullis_tests::{rules_dir, scratch_dir, workspace_root};
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

const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
    - {name: app, image: \"registry.example.com/team/app:1.0\"}
    - {name: proxy, image: \"nginx\"}
";

/// A scratch project: `pod.yaml` and a scaffolded `team-rule` in each of `rule_dirs`.
fn project(name: &str, rule_dirs: &[&str]) -> PathBuf {
    let dir = scratch_dir(name);
    for rule_dir in rule_dirs {
        let created = run_in(&dir, &["new", "rule", "team-rule", "--dir", rule_dir]);
        assert_eq!(code(&created), 0, "{}", stderr(&created));
    }
    std::fs::write(dir.join("pod.yaml"), POD).unwrap();
    dir
}

/// A rule whose tests pass, then the same rule edited so that one case fails.
#[test]
fn scaffolded_rule_passes_its_tests_and_a_broken_expectation_shows_a_diff() {
    let dir = scratch_dir("authoring-scaffold");
    let created = run_in(
        &dir,
        &["new", "rule", "no-example-registry", "--dir", "policies"],
    );
    assert_eq!(code(&created), 0, "{}", stderr(&created));
    assert!(dir.join("policies/no-example-registry.rhai").is_file());
    assert!(
        dir.join("policies/no-example-registry.tests.yaml")
            .is_file()
    );

    let tested = run_in(&dir, &["test", "policies"]);
    assert_eq!(code(&tested), 0, "{}{}", stdout(&tested), stderr(&tested));
    assert!(
        stdout(&tested).contains("3 passed, 0 failed"),
        "{}",
        stdout(&tested)
    );

    // Scaffolding again never overwrites.
    let again = run_in(
        &dir,
        &["new", "rule", "no-example-registry", "--dir", "policies"],
    );
    assert_eq!(code(&again), 2);
    assert!(stderr(&again).contains("exists; not overwriting"));

    let tests = dir.join("policies/no-example-registry.tests.yaml");
    let text = std::fs::read_to_string(&tests).unwrap();
    std::fs::write(
        &tests,
        text.replace("comes from `registry.example.com`\"}", "is bad\"}"),
    )
    .unwrap();
    let failed = run_in(&dir, &["test", "policies"]);
    let out = stdout(&failed);
    assert_eq!(code(&failed), 1, "{out}");
    assert!(
        out.contains("FAIL an image from a forbidden registry fails"),
        "{out}"
    );
    assert!(
        out.contains(
            "- (this rule) container `app`: image `registry.example.com/team/app:1.0` is bad"
        ),
        "{out}"
    );
    assert!(
        out.contains("+ no-example-registry on Deployment/web container `app`"),
        "{out}"
    );
    assert!(out.contains("2 passed, 1 failed"), "{out}");
}

#[test]
fn scaffolding_refuses_bad_and_taken_ids() {
    let dir = scratch_dir("authoring-bad-ids");
    let bad = run_in(&dir, &["new", "rule", "Not_Kebab"]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("is not a rule id"),
        "{}",
        stderr(&bad)
    );
    let taken = run_in(&dir, &["new", "rule", "latest-tag"]);
    assert_eq!(code(&taken), 2);
    assert!(stderr(&taken).contains("is a rule of the default pack"));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn the_binary_tests_its_own_pack_and_the_pack_on_disk() {
    let embedded = run_in(&workspace_root(), &["test"]);
    assert_eq!(code(&embedded), 0, "{}", stdout(&embedded));
    let on_disk = run_in(
        &workspace_root(),
        &["test", "--no-default-rules", rules_dir().to_str().unwrap()],
    );
    assert_eq!(code(&on_disk), 0, "{}", stdout(&on_disk));
    let summary = |out: &Output| {
        stdout(out)
            .lines()
            .find(|l| l.starts_with("test result:"))
            .map(|l| l.split(" in ").next().unwrap().to_string())
            .unwrap()
    };
    // Same cases either way: every built-in rule has a test file and all of them ran.
    assert_eq!(summary(&embedded), summary(&on_disk));
    let rule_count = std::fs::read_dir(rules_dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "rhai")
        })
        .count();
    for file in std::fs::read_dir(rules_dir()).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_some_and(|x| x == "rhai") {
            let stem = path.file_stem().unwrap().to_str().unwrap();
            assert!(
                stdout(&on_disk).contains(&format!("{stem}.tests.yaml")),
                "no tests ran for {stem}"
            );
        }
    }
    assert!(stdout(&on_disk).contains(&format!("in {rule_count} file(s)")));

    // Testing the pack's folder next to the same, loaded, default pack is an id clash.
    let clash = run_in(&workspace_root(), &["test", rules_dir().to_str().unwrap()]);
    assert_eq!(code(&clash), 2);
    assert!(stdout(&clash).contains("is already defined by builtin:latest-tag.rhai"));
}

fn findings(output: &Output) -> Vec<(String, Option<String>)> {
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["container"].as_str().map(str::to_string),
            )
        })
        .collect()
}

#[test]
fn custom_rules_run_next_to_the_pack_or_alone() {
    let dir = scratch_dir("authoring-custom");
    run_in(
        &dir,
        &["new", "rule", "no-example-registry", "--dir", "policies"],
    );
    std::fs::write(dir.join("pod.yaml"), POD).unwrap();

    let both = run_in(
        &dir,
        &[
            "check", "--rules", "policies", "pod.yaml", "--format", "json",
        ],
    );
    assert_eq!(code(&both), 1);
    let found = findings(&both);
    assert!(found.contains(&("no-example-registry".into(), Some("app".into()))));
    assert!(found.contains(&("latest-tag".into(), Some("proxy".into()))));

    let alone = run_in(
        &dir,
        &[
            "check",
            "--no-default-rules",
            "--rules",
            "policies/no-example-registry.rhai",
            "pod.yaml",
            "--format",
            "json",
        ],
    );
    assert_eq!(
        findings(&alone),
        vec![("no-example-registry".into(), Some("app".into()))]
    );

    // Custom rules take settings and exemptions from the configuration like built-in ones.
    std::fs::write(
        dir.join("portcullis.yaml"),
        "rules:\n  no-example-registry:\n    severity: critical\n    forbidden-registries: [docker.io]\n",
    )
    .unwrap();
    let configured = run_in(
        &dir,
        &[
            "check",
            "--no-default-rules",
            "--rules",
            "policies",
            "pod.yaml",
            "--format",
            "json",
        ],
    );
    let report: Value = serde_json::from_slice(&configured.stdout).unwrap();
    assert_eq!(report["findings"][0]["container"], "proxy");
    assert_eq!(report["findings"][0]["severity"], "critical");

    // `rules` and `explain` see custom rules too.
    let listed = run_in(&dir, &["rules", "--rules", "policies"]);
    assert!(stdout(&listed).contains("no-example-registry"));
    let explained = run_in(
        &dir,
        &["explain", "no-example-registry", "--rules", "policies"],
    );
    assert_eq!(code(&explained), 0);
    assert!(stdout(&explained).contains("forbidden-registries"));
}

#[test]
fn duplicate_ids_name_both_files() {
    let dir = project("authoring-duplicates", &["a", "b"]);
    let output = run_in(&dir, &["check", "--rules", "a", "--rules", "b", "pod.yaml"]);
    assert_eq!(code(&output), 2);
    let text = stderr(&output);
    assert!(text.contains("b/team-rule.rhai"), "{text}");
    assert!(
        text.contains("already defined by a/team-rule.rhai"),
        "{text}"
    );
    // Nothing ran: the policy is not the one that was asked for.
    assert!(text.contains("nothing was checked"), "{text}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
}

#[test]
fn a_rule_with_a_syntax_error_gets_a_code_frame_and_stops_the_run_before_manifests() {
    let dir = project("authoring-syntax", &["policies"]);
    let path = dir.join("policies/team-rule.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replace(
        "let forbidden = settings[\"forbidden-registries\"];",
        "let forbidden = settings[\"forbidden-registries\"]",
    );
    assert_ne!(text, broken);
    std::fs::write(&path, &broken).unwrap();

    let output = run_in(&dir, &["check", "--rules", "policies", "pod.yaml"]);
    assert_eq!(code(&output), 2);
    let text = stderr(&output);
    let line = broken
        .lines()
        .position(|l| l.contains("let forbidden"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!("policies/team-rule.rhai:{line}:")),
        "{text}"
    );
    assert!(
        text.contains("let forbidden = settings"),
        "no code frame: {text}"
    );
    assert!(
        text.contains(&format!("end the statement on line {line} with `;`")),
        "{text}"
    );
    // Nothing is checked with a policy that is missing a rule.
    assert!(
        text.contains("1 rule did not load; nothing was checked"),
        "{text}"
    );
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));

    // In JSON the broken rule is an error entry with file and line.
    let json = run_in(
        &dir,
        &[
            "check", "--rules", "policies", "pod.yaml", "--format", "json",
        ],
    );
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    let error = &report["errors"][0];
    assert_eq!(error["file"], "policies/team-rule.rhai");
    assert_eq!(error["line"], line);
}

#[test]
fn a_runtime_error_names_rule_resource_and_container_with_a_frame() {
    let dir = project("authoring-runtime", &[]);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/tag-length.rhai"),
        r#"const META = #{ id: "tag-length", title: "t", severity: "low", remediation: "r" };

fn check(workload, settings) {
    let findings = [];
    for c in workload.containers {
        if c.image.tag.len() > 20 {
            findings.push(finding(c, "long tag"));
        }
    }
    findings
}
"#,
    )
    .unwrap();
    let output = run_in(
        &dir,
        &[
            "check",
            "--no-default-rules",
            "--rules",
            "policies",
            "pod.yaml",
        ],
    );
    assert_eq!(code(&output), 2);
    let text = stdout(&output);
    assert!(
        text.contains("rule `tag-length` failed on Pod `shop/web`, container `proxy`"),
        "{text}"
    );
    assert!(text.contains("policies/tag-length.rhai:6:"), "{text}");
    assert!(text.contains("if c.image.tag.len() > 20"), "{text}");
    assert!(text.contains("test it with `x != ()` first"), "{text}");
}

#[test]
fn settings_errors_point_at_the_configuration_line() {
    let dir = project("authoring-settings", &["policies"]);
    std::fs::write(
        dir.join("portcullis.yaml"),
        "rules:\n  team-rule:\n    forbidden-registries: docker.io\n",
    )
    .unwrap();
    let output = run_in(&dir, &["check", "--rules", "policies", "pod.yaml"]);
    assert_eq!(code(&output), 2);
    let text = stderr(&output);
    assert!(text.contains("portcullis.yaml:3"), "{text}");
    assert!(
        text.contains("forbidden-registries: docker.io"),
        "no code frame: {text}"
    );
    assert!(text.contains("expected list of strings"), "{text}");
}

#[test]
fn a_missing_rules_path_stops_the_run() {
    let dir = project("authoring-missing-path", &[]);
    let output = run_in(&dir, &["check", "--rules", "polices", "pod.yaml"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("--rules polices: no such file or directory"));
    assert!(
        stdout(&output).is_empty(),
        "nothing is checked: {}",
        stdout(&output)
    );
}

#[test]
fn broken_test_files_point_at_their_lines() {
    let dir = project("authoring-test-file-errors", &["policies"]);
    let tests = dir.join("policies/team-rule.tests.yaml");
    let original = std::fs::read_to_string(&tests).unwrap();

    // Not valid as a test file: a frame at the case, and the shape of a test file.
    std::fs::write(&tests, original.replace("    expect: []\n", "")).unwrap();
    let output = run_in(&dir, &["test", "policies"]);
    assert_eq!(code(&output), 2);
    let text = stdout(&output);
    assert!(
        text.contains("invalid test file: cases[1]: missing field `expect`"),
        "{text}"
    );
    assert!(
        text.contains("- name: images from other registries pass"),
        "{text}"
    );

    // A broken inline manifest: the error names the test file's line, not the manifest's.
    let broken = original.replace(
        "containers: [{name: app, image: \"registry.company.com/team/app:1.0\"}]\n    expect: []",
        "containers: [{name: app, image: \"registry.company.com/team/app:1.0\"}\n    expect: []",
    );
    assert_ne!(broken, original);
    std::fs::write(&tests, &broken).unwrap();
    let output = run_in(&dir, &["test", "policies"]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    let error_line = text
        .lines()
        .find(|l| l.contains("unexpected error:"))
        .unwrap_or_else(|| panic!("{text}"));
    let manifest_end = broken
        .lines()
        .position(|l| {
            l.contains("containers: [{name: app, image: \"registry.company.com/team/app:1.0\"}")
        })
        .unwrap()
        + 1;
    let line: usize = error_line
        .split("team-rule.tests.yaml:")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{error_line}"));
    assert!(
        (manifest_end..=manifest_end + 1).contains(&line),
        "error at line {line}, manifest ends at {manifest_end}: {error_line}"
    );

    // Expecting a container the manifest does not have says so.
    std::fs::write(
        &tests,
        original.replace("- {container: app}", "- {container: sidecar}"),
    )
    .unwrap();
    let output = run_in(&dir, &["test", "policies"]);
    assert_eq!(code(&output), 1);
    assert!(stdout(&output).contains("(the manifest has no container `sidecar`)"));
}

#[test]
fn custom_rules_link_their_docs_in_sarif() {
    let dir = project("authoring-sarif", &["policies"]);
    let path = dir.join("policies/team-rule.rhai");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "    severity: \"medium\",",
        "    severity: \"medium\",\n    help_uri: \"https://wiki.company.com/policies/team-rule\",",
    );
    std::fs::write(&path, text).unwrap();
    let output = run_in(
        &dir,
        &[
            "check", "--rules", "policies", "pod.yaml", "--format", "sarif",
        ],
    );
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let sarif: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    let uri = |id: &str| {
        rules
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["helpUri"].clone())
            .unwrap()
    };
    assert_eq!(
        uri("team-rule"),
        "https://wiki.company.com/policies/team-rule"
    );
    assert!(
        uri("latest-tag")
            .as_str()
            .unwrap()
            .ends_with("docs/rules/latest-tag.md")
    );
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "team-rule"));
}
