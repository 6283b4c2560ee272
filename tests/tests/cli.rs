//! End-to-end tests of the `portcullis` binary: output formats (insta snapshots), exit codes,
//! input kinds, configuration and exemptions.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use portcullis_tests::{finding_keys, workspace_root};
use serde_json::Value;

fn binary() -> &'static PathBuf {
    portcullis_tests::portcullis_binary()
}

fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    portcullis_tests::run_portcullis(&workspace_root(), args, stdin)
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

const FIXED_DAY: &str = "--today=2026-11-26";

#[test]
fn json_output_has_the_documented_shape() {
    let output = run(&[
        "check",
        "tests/fixtures/mixed.yaml",
        "--format",
        "json",
        FIXED_DAY,
    ]);
    assert_eq!(code(&output), 2, "a broken document makes the run exit 2");
    let report = json(&output);
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["errors", "findings", "summary"]);
    let first = &report["findings"][0];
    let mut finding_keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    finding_keys.sort();
    assert_eq!(
        finding_keys,
        [
            "container",
            "message",
            "path",
            "remediation",
            "resource",
            "rule",
            "severity"
        ]
    );
    let mut resource_keys: Vec<&String> = first["resource"].as_object().unwrap().keys().collect();
    resource_keys.sort();
    assert_eq!(
        resource_keys,
        ["document", "file", "kind", "line", "name", "namespace"]
    );
    assert_eq!(report["errors"][0]["document"], 2);
    assert_eq!(report["errors"][0]["file"], "tests/fixtures/mixed.yaml");
    assert_eq!(report["summary"]["skipped"], 1);
    assert_eq!(report["summary"]["resources"], 2);
    insta::assert_snapshot!("mixed_json", stdout(&output));
}

#[test]
fn json_keys_are_in_documented_order() {
    let output = run(&[
        "check",
        "tests/fixtures/mixed.yaml",
        "--format",
        "json",
        FIXED_DAY,
    ]);
    let text = stdout(&output);
    let order = ["\"findings\"", "\"errors\"", "\"summary\""];
    let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    let finding = [
        "\"rule\"",
        "\"severity\"",
        "\"message\"",
        "\"remediation\"",
        "\"resource\"",
        "\"container\"",
        "\"path\"",
    ];
    let positions: Vec<usize> = finding.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn text_output_groups_by_resource() {
    let output = run(&[
        "check",
        "tests/fixtures/mixed.yaml",
        "--color",
        "never",
        FIXED_DAY,
    ]);
    assert_eq!(code(&output), 2);
    insta::assert_snapshot!("mixed_text", stdout(&output));
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let plain = stdout(&run(&["check", "tests/fixtures/mixed.yaml", FIXED_DAY]));
    assert!(!plain.contains('\u{1b}'), "piped output has no colour");
    let coloured = stdout(&run(&[
        "check",
        "tests/fixtures/mixed.yaml",
        "--color",
        "always",
        FIXED_DAY,
    ]));
    assert!(coloured.contains('\u{1b}'));
}

#[test]
fn exit_codes() {
    let clean = run(&["check", "tests/fixtures/hardened.yaml"]);
    assert_eq!(code(&clean), 0, "{}", stdout(&clean));
    assert!(
        stdout(&clean).contains("checked 1 resource in 1 file: 0 findings"),
        "{}",
        stdout(&clean)
    );

    let findings = run(&["check", "tests/fixtures/dir/b.yaml"]);
    assert_eq!(code(&findings), 1);

    // Only high findings here (no critical): --fail-on critical passes.
    let report = json(&run(&[
        "check",
        "tests/fixtures/dir/b.yaml",
        "--format",
        "json",
    ]));
    let max = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .any(|s| s == "critical");
    assert!(!max);
    assert_eq!(
        code(&run(&[
            "check",
            "tests/fixtures/dir/b.yaml",
            "--fail-on",
            "critical"
        ])),
        0
    );

    assert_eq!(
        code(&run(&["check", "tests/fixtures/does-not-exist.yaml"])),
        2
    );
    assert_eq!(code(&run(&["check", "--no-such-flag"])), 2);
    assert_eq!(
        code(&run(&[
            "check",
            "tests/fixtures/dir/b.yaml",
            "--fail-on",
            "severe"
        ])),
        2
    );
    assert_eq!(code(&run(&["--version"])), 0);
}

#[test]
fn missing_file_is_an_error_and_other_inputs_are_still_checked() {
    let output = run(&[
        "check",
        "tests/fixtures/nope.yaml",
        "tests/fixtures/dir/b.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code(&output), 2);
    let report = json(&output);
    assert_eq!(report["errors"][0]["file"], "tests/fixtures/nope.yaml");
    assert_eq!(
        report["errors"][0]["message"],
        "cannot read: no such file or directory"
    );
    assert!(report["summary"]["findings"].as_u64().unwrap() > 0);
}

#[test]
fn stdin_and_helm_style_streams() {
    let manifest =
        std::fs::read_to_string(workspace_root().join("tests/fixtures/mixed.yaml")).unwrap();
    let piped = run_with_stdin(
        &["check", "-", "--format", "json", FIXED_DAY],
        Some(&manifest),
    );
    let from_file = run(&[
        "check",
        "tests/fixtures/mixed.yaml",
        "--format",
        "json",
        FIXED_DAY,
    ]);
    assert_eq!(finding_keys(&json(&piped)), finding_keys(&json(&from_file)));
    assert_eq!(json(&piped)["findings"][0]["resource"]["file"], "<stdin>");
    // No path and a pipe on stdin: read stdin.
    let implicit = run_with_stdin(&["check", "--format", "json", FIXED_DAY], Some(&manifest));
    assert_eq!(
        finding_keys(&json(&implicit)),
        finding_keys(&json(&from_file))
    );
    // Helm prints `---` first and `# Source:` comments.
    let helm = "---\n# Source: chart/templates/pod.yaml\napiVersion: v1\nkind: Pod\nmetadata: {name: from-helm}\nspec:\n  containers: [{name: a, image: nginx}]\n";
    let report = json(&run_with_stdin(
        &["check", "-", "--format", "json"],
        Some(helm),
    ));
    assert_eq!(report["findings"][0]["resource"]["line"], 3);
    assert_eq!(report["findings"][0]["resource"]["document"], 0);
}

#[test]
fn directories_are_searched_recursively_in_sorted_order() {
    let report = json(&run(&[
        "check",
        "tests/fixtures/dir",
        "--format",
        "json",
        "--select",
        "latest-tag",
    ]));
    let files: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["resource"]["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "tests/fixtures/dir/b.yaml",
            "tests/fixtures/dir/c.json",
            "tests/fixtures/dir/nested/a.yml"
        ]
    );
    assert_eq!(report["errors"], serde_json::json!([]));
}

#[test]
fn admission_envelopes_and_lists() {
    let report = json(&run(&[
        "check",
        "tests/fixtures/admission-review-v1.json",
        "tests/fixtures/admission-review-v1beta1.json",
        "tests/fixtures/admission-request.json",
        "tests/fixtures/admission-delete.json",
        "tests/fixtures/list.yaml",
        "--format",
        "json",
        "--select",
        "latest-tag",
    ]));
    let resources: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let r = &f["resource"];
            (
                r["kind"].as_str().unwrap().into(),
                r["namespace"].as_str().unwrap().into(),
                r["name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        resources,
        [
            ("CronJob".into(), "ops".into(), "nightly".into()),
            ("Pod".into(), "payments".into(), "checkout".into()),
            ("Pod".into(), "payments".into(), "checkout-beta".into()),
            ("Pod".into(), "default".into(), "first".into()),
            ("StatefulSet".into(), "default".into(), "db".into()),
        ]
    );
    assert_eq!(
        report["findings"][0]["path"],
        "spec.jobTemplate.spec.template.spec.containers[0].image"
    );
    // The DELETE request and the ConfigMap are skipped, not errors.
    assert_eq!(report["summary"]["skipped"], 2);
    assert_eq!(report["summary"]["errors"], 0);
}

/// `kubectl get deploy -o yaml` / `-o json`: each item is a resource of its own, at the line
/// of its first key, under its own text header, in every output format.
#[test]
fn list_items_are_resources_of_their_own() {
    for (file, lines) in [
        ("tests/fixtures/lists/kubectl-get-deploy.yaml", [3, 62]),
        ("tests/fixtures/lists/kubectl-get-deploy.json", [5, 85]),
    ] {
        let report = json(&run(&["check", file, "--format", "json", FIXED_DAY]));
        let placed: Vec<(String, u64, String)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let r = &f["resource"];
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["line"].as_u64().unwrap(),
                    f["rule"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let [frontend, orders] = lines.map(|l| l as u64);
        assert_eq!(
            placed,
            [
                ("frontend".into(), frontend, "untrusted-registry".into()),
                ("orders".into(), orders, "hardcoded-secret".into()),
                ("orders".into(), orders, "untrusted-registry".into()),
            ],
            "{file}"
        );
        assert_eq!(report["summary"]["resources"], 2, "{file}");

        // Text: the critical finding sits under the second Deployment's header, not the first's.
        let text = stdout(&run(&["check", file, "--color", "never", FIXED_DAY]));
        let headers: Vec<&str> = text.lines().filter(|l| l.starts_with(file)).collect();
        assert_eq!(
            headers,
            [
                format!("{file}:{frontend}: Deployment shop/frontend"),
                format!("{file}:{orders}: Deployment shop/orders"),
            ],
            "{text}"
        );
        let orders_block = text.split(headers[1]).nth(1).unwrap();
        assert!(orders_block.contains("hardcoded-secret"), "{text}");
        assert!(
            !text
                .split(headers[1])
                .next()
                .unwrap()
                .contains("hardcoded-secret")
        );

        let sarif = json(&run(&["check", file, "--format", "sarif", FIXED_DAY]));
        let sarif_lines: Vec<u64> = sarif["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r["locations"][0]["physicalLocation"]["region"]["startLine"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(sarif_lines, [frontend, orders, orders], "{file}");

        let junit = stdout(&run(&["check", file, "--format", "junit", FIXED_DAY]));
        for (name, line) in [("frontend", frontend), ("orders", orders)] {
            let case = format!(
                "<testcase name=\"hardcoded-secret\" classname=\"Deployment/shop/{name}\" file=\"{file}\" line=\"{line}\""
            );
            assert!(junit.contains(&case), "{case}\n{junit}");
        }
    }
}

#[test]
fn config_exemptions_severity_and_expiry() {
    let output = run(&[
        "check",
        "tests/fixtures/exemptions.yaml",
        "--config",
        "tests/fixtures/exemptions-config.yaml",
        "--format",
        "json",
        "--select",
        "latest-tag,missing-digest",
        FIXED_DAY,
    ]);
    let report = json(&output);
    let keys = finding_keys(&report);
    // dev-tool: latest-tag exempted by namespace glob; missing-digest's waiver expired.
    assert!(
        !keys.contains(&("latest-tag".into(), "dev-tool".into(), "app".into())),
        "{keys:?}"
    );
    assert!(
        keys.contains(&("missing-digest".into(), "dev-tool".into(), "app".into())),
        "{keys:?}"
    );
    // annotated: both rules exempted by annotation.
    assert!(!keys.iter().any(|k| k.1 == "annotated"), "{keys:?}");
    // no-reason: the annotation is refused, so findings stay and an error says why.
    assert!(
        keys.contains(&("latest-tag".into(), "no-reason".into(), "app".into())),
        "{keys:?}"
    );
    assert_eq!(report["summary"]["exempted"], 3);
    assert_eq!(report["errors"][0]["line"], 20);
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("portcullis.dev/exempt-reason")
    );
    // Severity override.
    let latest = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "latest-tag")
        .unwrap();
    assert_eq!(latest["severity"], "critical");
    assert!(
        stderr(&output).contains("expired on 2020-01-01"),
        "{}",
        stderr(&output)
    );

    // After the first waiver expires, it stops applying too.
    let later = json(&run(&[
        "check",
        "tests/fixtures/exemptions.yaml",
        "--config",
        "tests/fixtures/exemptions-config.yaml",
        "--format",
        "json",
        "--select",
        "latest-tag",
        "--today=2027-02-01",
    ]));
    assert!(finding_keys(&later).contains(&("latest-tag".into(), "dev-tool".into(), "app".into())));
}

#[test]
fn config_errors_name_the_line_and_list_what_is_allowed() {
    let output = run(&[
        "check",
        "tests/fixtures/dir/b.yaml",
        "--config",
        "tests/fixtures/bad-config.yaml",
    ]);
    assert_eq!(code(&output), 2);
    insta::assert_snapshot!("bad_config", stderr(&output));
}

#[test]
fn select_and_ignore() {
    let only = json(&run(&[
        "check",
        "tests/fixtures/dir/b.yaml",
        "--format",
        "json",
        "--select",
        "latest-tag",
    ]));
    assert!(finding_keys(&only).iter().all(|k| k.0 == "latest-tag"));
    let ignored = json(&run(&[
        "check",
        "tests/fixtures/dir/b.yaml",
        "--format",
        "json",
        "--ignore",
        "latest-tag",
    ]));
    assert!(finding_keys(&ignored).iter().all(|k| k.0 != "latest-tag"));
    assert!(!finding_keys(&ignored).is_empty());
    let unknown = run(&[
        "check",
        "tests/fixtures/dir/b.yaml",
        "--select",
        "lates-tag",
    ]);
    assert_eq!(code(&unknown), 2);
    assert!(
        stderr(&unknown).contains("unknown rule `lates-tag`; known rules:"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn default_config_file_is_picked_up_from_the_working_directory() {
    let dir = std::env::temp_dir().join(format!("portcullis-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("portcullis.yaml"),
        "rules:\n  latest-tag:\n    enabled: false\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("pod.yaml"),
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx}]\n",
    )
    .unwrap();
    let output = Command::new(binary())
        .args(["check", ".", "--format", "json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let report = json(&output);
    assert!(!finding_keys(&report).is_empty());
    assert!(
        finding_keys(&report).iter().all(|k| k.0 != "latest-tag"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rules_and_explain() {
    let rules = run(&["rules"]);
    assert_eq!(code(&rules), 0);
    insta::assert_snapshot!("rules_table", stdout(&rules));
    let explain = run(&["explain", "untrusted-registry"]);
    assert_eq!(code(&explain), 0);
    for section in [
        "## What it does",
        "## Why is this bad?",
        "## Example",
        "## Use instead",
        "## Settings",
        "## References",
    ] {
        assert!(stdout(&explain).contains(section), "{section}");
    }
    let unknown = run(&["explain", "nope"]);
    assert_eq!(code(&unknown), 2);
    assert!(stderr(&unknown).contains("known rules:"));
}

#[test]
fn examples_fire_every_rule() {
    let all: std::collections::BTreeSet<String> = json(&run(&["rules", "--format", "json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    // The image rules need image facts; `--select` turns on the rules that are off by default.
    let select = all.iter().cloned().collect::<Vec<_>>().join(",");
    let output = run(&[
        "check",
        "examples/",
        "--config",
        "examples/portcullis.yaml",
        "--image-facts",
        "tests/fixtures/facts/examples.json",
        "--select",
        &select,
        "--format",
        "json",
        FIXED_DAY,
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let report = json(&output);
    let fired: std::collections::BTreeSet<String> =
        finding_keys(&report).into_iter().map(|k| k.0).collect();
    assert_eq!(fired, all);
}

#[test]
fn broken_pipe_is_not_an_error() {
    let mut child = Command::new(binary())
        .args(["check", "tests/fixtures/dir", "--color", "never"])
        .current_dir(workspace_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(!stderr(&output).contains("panicked"), "{}", stderr(&output));
    // `set -o pipefail; portcullis check k8s/ | head -n 1` must still fail on findings.
    assert_eq!(code(&output), 1, "{}", stderr(&output));
}

#[test]
fn configuration_errors_are_json_when_json_is_asked_for() {
    let output = run(&[
        "check",
        "tests/fixtures/dir/b.yaml",
        "--config",
        "tests/fixtures/bad-config.yaml",
        "--format",
        "json",
    ]);
    assert_eq!(code(&output), 2);
    let report = json(&output);
    assert_eq!(report["findings"], serde_json::json!([]));
    assert_eq!(report["summary"]["errors"], 5);
    assert_eq!(
        report["errors"][0]["file"],
        "tests/fixtures/bad-config.yaml"
    );
    assert_eq!(report["errors"][0]["line"], 3);
}

#[test]
fn one_thread_and_all_threads_agree() {
    let all = run(&["check", "tests/fixtures", "--format", "json", FIXED_DAY]);
    let one = run(&[
        "check",
        "tests/fixtures",
        "--format",
        "json",
        "-j",
        "1",
        FIXED_DAY,
    ]);
    assert_eq!(stdout(&all), stdout(&one));
}

#[test]
fn directory_walk_skips_hidden_entries_config_and_rule_tests_and_reports_bad_utf8() {
    let dir = std::env::temp_dir().join(format!("portcullis-walk-{}", std::process::id()));
    let pod = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx}]\n";
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    std::fs::write(dir.join(".git/pod.yaml"), pod).unwrap();
    std::fs::write(dir.join("portcullis.yaml"), "rules: {}\n").unwrap();
    std::fs::write(dir.join("latest-tag.tests.yaml"), "cases: []\n").unwrap();
    std::fs::write(dir.join("a.yaml"), pod).unwrap();
    std::fs::write(dir.join("b.yaml"), b"kind: Pod\nmetadata: {name: \xff}\n").unwrap();
    let output = Command::new(binary())
        .args(["check", ".", "--format", "json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code(&output), 2);
    let report = json(&output);
    assert_eq!(report["summary"]["resources"], 1, "{report}");
    assert_eq!(report["errors"][0]["file"], "./b.yaml");
    assert_eq!(report["errors"][0]["line"], 2);
    assert_eq!(report["errors"][0]["message"], "input is not valid UTF-8");
}

// ---- Hostile inputs to the command line (issue 10) ----

#[cfg(unix)]
#[test]
fn the_walk_survives_link_loops_and_fifos_and_reads_each_file_once() {
    use std::os::unix::fs::symlink;
    let dir = portcullis_tests::scratch_dir("walk-loops");
    let pod = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx}]\n";
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/pod.yaml"), pod).unwrap();
    // Two loops (the walk hung, growing 22 MB/s) and a self link (41 checks of one file).
    symlink(".", dir.join("a")).unwrap();
    symlink(".", dir.join("b")).unwrap();
    symlink(".", dir.join("sub/self")).unwrap();
    symlink("sub/pod.yaml", dir.join("link.yaml")).unwrap();
    // A FIFO named like a manifest blocked the run forever.
    let fifo = dir.join("pipe.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let output = Command::new(binary())
        .args(["check", ".", "--format", "json"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let report = json(&output);
    assert_eq!(report["summary"]["resources"], 1, "{report}");
    assert!(report["errors"].as_array().unwrap().is_empty(), "{report}");
    assert!(
        stderr(&output).contains("pipe.yaml: not a regular file"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn empty_stdin_is_an_error() {
    // `helm template broken | portcullis check -` printed "checked 0 resources", exit 0.
    for stdin in ["", "\n  \n"] {
        let output = run_with_stdin(&["check", "-", "--color", "never"], Some(stdin));
        assert_eq!(code(&output), 2);
        assert!(
            stdout(&output).contains("stdin is empty"),
            "{}",
            stdout(&output)
        );
    }
}

#[test]
fn thread_counts_are_bounded_by_the_machine() {
    let output = run(&[
        "check",
        "tests/fixtures/dir",
        "-j",
        "5000",
        "--color",
        "never",
    ]);
    assert_eq!(code(&output), 1);
    assert!(
        stderr(&output).contains("-j 5000: this machine has"),
        "{}",
        stderr(&output)
    );
    assert_eq!(code(&run(&["check", "tests/fixtures/dir", "-j", "0"])), 2);
}

#[test]
fn names_from_input_cannot_act_on_the_terminal() {
    // A name that clears the screen and prints a fake clean summary.
    let manifest = "kind: Pod\nmetadata:\n  name: \"web\\e[2J\\e[H\\rchecked 1 resource: 0 findings\\n\"\n  namespace: \"shop\\u001b]0;owned\\u0007\"\nspec:\n  containers: [{name: \"a\\u001b[8m\", image: nginx}]\n";
    let output = run_with_stdin(&["check", "-", "--color", "never"], Some(manifest));
    let text = stdout(&output);
    assert!(
        !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(
        text.contains("web\\e[2J\\e[H\\rchecked 1 resource: 0 findings\\n"),
        "{text}"
    );
    assert!(text.contains("container `a\\e[8m`"), "{text}");
    // With colour, only our own sequences remain.
    let output = run_with_stdin(&["check", "-", "--color", "always"], Some(manifest));
    assert!(
        !stdout(&output).contains("\u{1b}[2J"),
        "{}",
        stdout(&output)
    );
}
