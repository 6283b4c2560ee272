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

/// `check --no-default-rules --rules policies ARGS…` in `dir`.
fn check_policies(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["check", "--no-default-rules", "--rules", "policies"];
    all.extend_from_slice(args);
    run_in(dir, &all)
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
    let output = check_policies(&dir, &["--select", "latest-tag", "pod.yaml"]);
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

/// A rule with `body` as the inside of its `check`, written to `policies/typo.rhai`.
fn typo_project(name: &str, meta_extra: &str, body: &str) -> PathBuf {
    let dir = scratch_dir(name);
    std::fs::create_dir_all(dir.join("policies")).unwrap();
    std::fs::write(
        dir.join("policies/typo.rhai"),
        format!(
            "const META = #{{\n    id: \"typo\",\n    title: \"t\",\n    severity: \"low\",\n    remediation: \"r\",{meta_extra}\n}};\n\nfn check(workload, settings) {{\n{body}\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("pod.yaml"), POD).unwrap();
    dir
}

/// `check --rules policies` on a manifest that does not exist: a run that read manifests
/// would say so.
fn check_typo(dir: &Path) -> (i32, String) {
    let output = check_policies(dir, &["missing.yaml"]);
    let text = format!("{}{}", stderr(&output), stdout(&output));
    assert!(
        !text.contains("missing.yaml"),
        "a manifest was read: {text}"
    );
    (code(&output), text)
}

#[test]
fn misspelt_properties_functions_and_settings_stop_the_run_before_any_manifest() {
    let cases = [
        (
            "",
            "    let out = [];\n    for c in workload.containrs { out.push(finding(c, \"x\")); }\n    out",
            "`Workload` has no property `containrs`",
            "did you mean `containers`?",
            (10, 23),
        ),
        (
            "",
            "    let out = [];\n    for c in workload.containers {\n        if c.imge.tag == () { out.push(finding(c, \"x\")); }\n    }\n    out",
            "`Container` has no property `imge`",
            "did you mean `image`?",
            (11, 14),
        ),
        (
            "",
            "    let out = [];\n    for container in workload.containers { out.push(finding(contaner, \"x\")); }\n    out",
            "Undefined variable: contaner",
            "did you mean `container`?",
            (10, 61),
        ),
        (
            "",
            "    let out = [];\n    for c in workload.containers { out.push(findng(c, \"x\")); }\n    out",
            "unknown function `findng` (called with 2 arguments)",
            "did you mean `finding`?",
            (10, 45),
        ),
        (
            "",
            "    let out = [];\n    for c in workload.containers { out.push(finding(c)); }\n    out",
            "`finding` does not take 1 argument",
            "it takes 2",
            (10, 45),
        ),
        (
            "\n    settings: #{ \"max-age\": #{ type: \"int\", \"default\": 3, description: \"d\" } },",
            "    if settings.max_age > 3 { return []; }\n    []",
            "setting `max_age` is not declared in `META.settings`",
            "did you mean `max-age`? read it as `settings[\"max-age\"]`",
            (10, 17),
        ),
        (
            "",
            "    for c in workload.containers {\n        for m in c.volume_mounts { if m.volume.hostpath != () { return []; } }\n    }\n    []",
            "`Volume` has no property `hostpath`",
            "did you mean `host_path`?",
            (10, 48),
        ),
    ];
    for (i, (meta, body, message, help, (line, column))) in cases.into_iter().enumerate() {
        let dir = typo_project(&format!("loop-typo-{i}"), meta, body);
        let (code, text) = check_typo(&dir);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains(message), "case {i}: {text}");
        assert!(text.contains(help), "case {i}: {text}");
        assert!(
            text.contains(&format!("policies/typo.rhai:{line}:{column}")),
            "case {i}: wanted {line}:{column} in {text}"
        );
        assert!(text.contains("nothing was checked"), "{text}");
        // `portcullis test` says the same, even with no test file reaching the line.
        let tested = run_in(&dir, &["test", "--no-default-rules", "policies"]);
        assert_ne!(code_of(&tested), 0);
        assert!(
            stdout(&tested).contains(message) || stderr(&tested).contains(message),
            "case {i}: {}{}",
            stdout(&tested),
            stderr(&tested)
        );
    }
}

fn code_of(output: &Output) -> i32 {
    output.status.code().expect("exited normally")
}

#[test]
fn meta_errors_name_the_field_and_a_missing_brace_points_at_its_block() {
    let dir = typo_project("loop-meta", "", "    []");
    let path = dir.join("policies/typo.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"low\"", "\"moderate\"")).unwrap();
    let (code, out) = check_typo(&dir);
    assert_eq!(code, 2);
    assert!(
        out.contains("invalid `META.severity`: unknown value `moderate`, expected one of `info`, `low`, `medium`, `high`, `critical`"),
        "{out}"
    );
    assert!(out.contains("policies/typo.rhai:4:5"), "{out}");
    std::fs::write(&path, text.replace("severity:", "sevrity:")).unwrap();
    let (_, out) = check_typo(&dir);
    assert!(
        out.contains("unknown field `sevrity`; did you mean `severity`?"),
        "{out}"
    );

    let dir = typo_project(
        "loop-brace",
        "",
        "    let out = [];\n    for c in workload.containers {\n        if c.name == \"x\" {\n            out.push(finding(c, \"x\"));\n        }\n    out",
    );
    let path = dir.join("policies/typo.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.trim_end().trim_end_matches('}')).unwrap();
    let (code, out) = check_typo(&dir);
    assert_eq!(code, 2);
    assert!(
        out.contains("missing `}`: the `{` opened on line 10 is never closed"),
        "{out}"
    );
    assert!(out.contains("policies/typo.rhai:10:34"), "{out}");
    assert!(!out.contains("with `;`"), "{out}");
}

#[test]
fn runtime_failures_show_once_per_rule_line_with_a_frame_and_the_loop_of_an_endless_one() {
    let dir = typo_project(
        "loop-runtime",
        "",
        "    let out = [];\n    for c in workload.containers {\n        if c.name.len() / 0 > 1 { out.push(finding(c, \"root\")); }\n    }\n    out",
    );
    let pods: String = (0..4)
        .map(|i| format!("---\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers: [{{name: a, image: x, securityContext: {{runAsUser: 0}}}}]\n"))
        .collect();
    std::fs::write(dir.join("pods.yaml"), pods).unwrap();
    let output = check_policies(&dir, &["pods.yaml"]);
    assert_eq!(code(&output), 2);
    let text = stdout(&output);
    assert_eq!(text.matches("rule `typo` failed").count(), 1, "{text}");
    assert!(text.contains("Division by zero"), "{text}");
    assert!(
        text.contains(
            "the same failure hit 3 more workloads: pods.yaml:7, pods.yaml:12, pods.yaml:17"
        ),
        "{text}"
    );
    assert!(text.contains("policies/typo.rhai:11:25"), "{text}");
    // JSON keeps one entry per workload, for machines.
    let json = json(&check_policies(&dir, &["pods.yaml", "--format", "json"]));
    assert_eq!(json["summary"]["errors"], 4);

    // `portcullis test` shows where the rule failed.
    std::fs::write(
        dir.join("policies/typo.tests.yaml"),
        "cases:\n  - name: root pod\n    manifest: |\n      kind: Pod\n      metadata: {name: p}\n      spec:\n        containers: [{name: a, image: x, securityContext: {runAsUser: 0}}]\n    expect: []\n",
    )
    .unwrap();
    let tested = run_in(&dir, &["test", "--no-default-rules", "policies"]);
    let out = stdout(&tested);
    assert!(out.contains("the rule failed here"), "{out}");
    assert!(out.contains("typo.rhai:11:25"), "{out}");

    // An endless loop names the loop.
    let dir = typo_project(
        "loop-endless",
        "",
        "    let i = 0;\n    while i >= 0 {\n        i += 1;\n    }\n    []",
    );
    let output = check_policies(&dir, &["pod.yaml", "--rule-timeout", "60000"]);
    let text = stdout(&output);
    assert!(text.contains("operation limit"), "{text}");
    assert!(text.contains("(loop at rule line 10)"), "{text}");
    assert!(text.contains("policies/typo.rhai:10:5"), "{text}");
}

/// The three policies of issue 13 (resource limits; digests for one registry in `prod-*`;
/// no hostPath with a root container), written with the workload view in `tests/policies`
/// and against `workload.raw` in `tests/policies-raw`: both pass the same tests, and the
/// view's are shorter.
#[test]
fn the_three_policies_pass_the_same_tests_with_the_view_in_fewer_lines() {
    let root = portcullis_tests::workspace_root();
    let ids = ["require-limits", "prod-digests", "hostpath-root"];
    for dir in ["tests/policies", "tests/policies-raw"] {
        let mut rules = portcullis_engine::RuleSet::empty();
        let (added, errors) = rules.add_path(&root.join(dir));
        assert!(errors.is_empty(), "{dir}: {errors:?}");
        assert_eq!(added.len(), 3, "{dir}: {added:?}");
        for id in ids {
            let tests = root.join(format!("tests/policies/{id}.tests.yaml"));
            let outcome = portcullis_engine::testing::run_test_file(&rules, &tests).unwrap();
            assert!(!outcome.cases.is_empty());
            for case in &outcome.cases {
                assert!(case.passed(), "{dir}/{id}: {case:?}");
            }
        }
    }
    let lines = |path: String| {
        std::fs::read_to_string(root.join(path))
            .unwrap()
            .lines()
            .count()
    };
    for id in ["require-limits", "hostpath-root"] {
        let (view, raw) = (
            lines(format!("tests/policies/{id}.rhai")),
            lines(format!("tests/policies-raw/{id}.rhai")),
        );
        assert!(view < raw, "{id}: {view} lines with the view, {raw} raw");
    }
}

#[test]
fn rules_share_helpers_from_lib_and_import_nothing_else() {
    let dir = typo_project(
        "loop-helpers",
        "",
        "    import \"naming\" as naming;\n    let out = [];\n    for c in workload.containers {\n        if !naming::is_kebab(c.name) { out.push(finding(c, `name ${c.name} is not kebab-case`)); }\n    }\n    out",
    );
    std::fs::create_dir_all(dir.join("policies/lib")).unwrap();
    std::fs::write(
        dir.join("policies/lib/naming.rhai"),
        "/// Whether `name` is lower-case words joined by `-`.\nfn is_kebab(name) { name == name.to_lower() && !name.contains(\"_\") }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.yaml"),
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: My_App, image: x}, {name: ok, image: x}]\n",
    )
    .unwrap();
    let output = check_policies(&dir, &["bad.yaml", "--format", "json"]);
    let report = json(&output);
    assert_eq!(report["summary"]["errors"], 0, "{report}");
    assert_eq!(report["summary"]["findings"], 1, "{report}");
    assert_eq!(report["findings"][0]["container"], "My_App");

    // Paths are not helper names: nothing outside the loaded `lib/` directories is read.
    for bad in ["../secrets", "/etc/passwd", "https://example.com/x"] {
        let rule = std::fs::read_to_string(dir.join("policies/typo.rhai")).unwrap();
        let edited = rule.replacen("import \"naming\"", &format!("import \"{bad}\""), 1);
        std::fs::write(dir.join("policies/typo.rhai"), &edited).unwrap();
        let output = check_policies(&dir, &["bad.yaml"]);
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(code(&output), 2, "{text}");
        assert!(
            text.contains("loaded helpers: lists, naming, users"),
            "{bad}: {text}"
        );
        std::fs::write(dir.join("policies/typo.rhai"), &rule).unwrap();
    }

    // A helper of its own may not take a built-in helper's name.
    std::fs::write(dir.join("policies/lib/users.rhai"), "fn x() { 1 }\n").unwrap();
    let output = check_policies(&dir, &["bad.yaml"]);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert_eq!(code(&output), 2, "{text}");
    assert!(
        text.contains("a helper module named `users` is already loaded"),
        "{text}"
    );
}

#[test]
fn an_import_inside_a_loop_is_refused_when_the_rule_loads() {
    let dir = typo_project(
        "loop-import-in-loop",
        "",
        "    let out = [];\n    for c in workload.containers {\n        import \"lists\" as lists;\n        out.push(finding(c, lists::first_and_more([c.name], 1)));\n    }\n    out",
    );
    let (code, text) = check_typo(&dir);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("`import` inside a loop"), "{text}");
    assert!(text.contains("policies/typo.rhai:11:9"), "{text}");
}

#[test]
fn comparing_values_of_different_types_is_an_error_not_false() {
    // A typed property against a literal of another type: refused when the rule loads.
    let dir = typo_project(
        "loop-compare-static",
        "",
        "    let out = [];\n    for c in workload.containers {\n        if c.security.run_as_user == \"0\" { out.push(finding(c, \"root\")); }\n    }\n    out",
    );
    let (status, text) = check_typo(&dir);
    assert_eq!(status, 2, "{text}");
    assert!(
        text.contains("`==` compares `run_as_user` (a number, or `()`) with the string \"0\""),
        "{text}"
    );
    // Types the rule only knows at run time: `portcullis test` (and `check --watch`) raise.
    let dir = typo_project(
        "loop-compare-dynamic",
        "",
        "    let out = [];\n    for c in workload.containers {\n        if c.field(\"securityContext.runAsUser\") == \"0\" { out.push(finding(c, \"root\")); }\n    }\n    out",
    );
    std::fs::write(
        dir.join("policies/typo.tests.yaml"),
        "cases:\n  - name: root pod\n    manifest: |\n      kind: Pod\n      metadata: {name: p}\n      spec:\n        containers: [{name: a, image: x, securityContext: {runAsUser: 0}}]\n    expect:\n      - {container: a}\n",
    )
    .unwrap();
    let tested = run_in(&dir, &["test", "--no-default-rules", "policies"]);
    let out = stdout(&tested);
    assert_ne!(code(&tested), 0, "{out}");
    assert!(
        out.contains("`==` between the number 0 and the string \"0\": values of different types are never equal"),
        "{out}"
    );
    // `x == ()` and numbers of both kinds still compare.
    let dir = typo_project(
        "loop-compare-fine",
        "",
        "    let out = [];\n    for c in workload.containers {\n        if c.field(\"securityContext.runAsUser\") == () && 1 == 1.0 { out.push(finding(c, \"unset\")); }\n    }\n    out",
    );
    std::fs::write(
        dir.join("policies/typo.tests.yaml"),
        "cases:\n  - name: unset user\n    manifest: |\n      kind: Pod\n      metadata: {name: p}\n      spec:\n        containers: [{name: a, image: x}]\n    expect:\n      - {container: a}\n",
    )
    .unwrap();
    let tested = run_in(&dir, &["test", "--no-default-rules", "policies"]);
    assert_eq!(code(&tested), 0, "{}", stdout(&tested));
}
