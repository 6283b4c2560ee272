//! Hostile and broken input gets an error entry, never a hang, a crash or lost documents.

use portcullis_engine::{Report, RuleSet};

fn check(text: &str) -> Report {
    let rules = RuleSet::builtin();
    let policy = portcullis_engine::Policy::builder(&rules).build().unwrap();
    policy.check(&portcullis_engine::Source::from_text("hostile.yaml", text))
}

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: NAME}\nspec:\n  containers: [{name: app, image: 'nginx:1.27'}]\n";

fn pod(name: &str) -> String {
    POD.replace("NAME", name)
}

#[test]
fn yaml_alias_bomb_is_an_error() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"));
    }
    let text = format!("{}---\n{bomb}---\n{}", pod("before"), pod("after"));
    let report = check(&text);
    assert_eq!(report.resources, 2, "{report:?}");
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].document, Some(1));
    assert!(
        report.errors[0].message.contains("repetition limit"),
        "{:?}",
        report.errors
    );
}

#[test]
fn hundred_level_nesting_is_checked_and_deeper_is_an_error() {
    let nested = |depth: usize| {
        let mut value = String::from("x");
        for _ in 0..depth {
            value = format!("[{value}]");
        }
        value
    };
    let text = format!("{}  deep: {}\n", pod("deep"), nested(100))
        .replace("metadata: {name: deep}", "metadata:\n  name: deep");
    let report = check(&text);
    assert_eq!(report.resources, 1, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");

    let text = format!("{}---\nkind: Pod\ndeep: {}\n", pod("ok"), nested(10_000));
    let report = check(&text);
    assert_eq!(report.resources, 1);
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].message.contains("recursion limit"),
        "{:?}",
        report.errors
    );
}

#[test]
fn fifty_megabyte_document_is_an_error() {
    let big = format!(
        "kind: ConfigMap\ndata:\n  blob: \"{}\"\n",
        "x".repeat(50 * 1024 * 1024)
    );
    let text = format!("{}---\n{big}---\n{}", pod("before"), pod("after"));
    let report = check(&text);
    assert_eq!(report.resources, 2);
    assert_eq!(report.errors.len(), 1);
    assert!(
        report.errors[0].message.contains("over the 3 MiB limit"),
        "{:?}",
        report.errors
    );
}

#[test]
fn syntax_error_in_document_two_of_three_keeps_one_and_three() {
    let text = format!(
        "{}---\nkind: Pod\nmetadata: {{name: [\n---\n{}",
        pod("one"),
        pod("three")
    );
    let report = check(&text);
    assert_eq!(report.resources, 2);
    let error = &report.errors[0];
    assert_eq!(
        (error.document, error.line),
        (Some(1), Some(8)),
        "{error:?}"
    );
    assert!(report.findings.iter().any(|f| f.resource.name == "three"));
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    for bad in [
        "kind: Pod\nspec: 3\n",
        "kind: Pod\nspec:\n  containers: {a: 1}\n",
        "kind: Pod\nspec:\n  containers: [3]\n",
        "kind: Deployment\nspec:\n  template: [1]\n",
        "kind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: null}}}}\n",
        "kind: 7\n",
        "- just\n- a list\n",
        "\"a string\"\n",
        "kind: AdmissionReview\nrequest: 5\n",
        "kind: List\nitems: 5\n",
    ] {
        let report = check(bad);
        assert_eq!(report.errors.len(), 1, "{bad:?} gave {report:?}");
        assert_eq!(report.errors[0].line, Some(1), "{bad:?}");
    }
}

#[test]
fn odd_but_valid_values_are_tolerated() {
    let report = check(
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: 12\n    securityContext: {runAsUser: '1000', privileged: 'yes'}\n    env: [{name: X, value: 5}, 7]\n",
    );
    assert!(report.errors.is_empty(), "{report:?}");
    assert!(
        report
            .findings
            .iter()
            .any(|f| &*f.rule == "privileged-container"),
        "{:?}",
        report.findings
    );
}

#[test]
fn invalid_utf8_and_binary_do_not_panic() {
    let report = check("\u{0}\u{1}kind: Pod\n\u{feff}");
    assert!(report.errors.len() <= 1);
    let report = check("kind: Pod\nmetadata: {name: \"\\uD800\"}\n");
    assert!(report.errors.len() <= 1);
}

#[test]
fn deeply_nested_json_is_an_error() {
    let deep = format!("{}1{}", "[".repeat(5_000), "]".repeat(5_000));
    let text = format!("{{\"kind\": \"Pod\", \"x\": {deep}}}");
    let rules = RuleSet::builtin();
    let policy = portcullis_engine::Policy::builder(&rules).build().unwrap();
    let report = policy.check(&portcullis_engine::Source::from_text("deep.json", &text));
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(
        report.errors[0].message.contains("recursion limit"),
        "{:?}",
        report.errors
    );
}

#[test]
fn windows_line_endings_and_a_byte_order_mark_are_read() {
    let text = format!("\u{feff}{}---\r\n{}", pod("one"), pod("two"))
        .replace('\n', "\r\n")
        .replace("\r\r\n", "\r\n");
    let report = check(&text);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.resources, 2);
    let lines: Vec<usize> = report.findings.iter().map(|f| f.resource.line).collect();
    assert!(lines.contains(&1) && lines.contains(&7), "{lines:?}");
}

// ---- Patterns from configuration and rules (issue 10) ----

fn policy_with(
    config: &str,
) -> Result<portcullis_engine::Policy, Vec<portcullis_engine::Diagnostic>> {
    let rules = RuleSet::builtin();
    portcullis_engine::Policy::builder(&rules)
        .config_text("portcullis.yaml", config)
        .build()
}

#[test]
fn a_huge_glob_in_an_exemption_is_a_configuration_error() {
    // ~100k `*` made the glob library panic (exit 101), once per document.
    let config = format!(
        "exemptions:\n- rule: latest-tag\n  name: \"{}\"\n  reason: r\n",
        "*".repeat(100_000)
    );
    let errors = policy_with(&config).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].message.contains("over the limit of 1024"),
        "{errors:?}"
    );
    assert_eq!(errors[0].line, Some(3), "{errors:?}");
    assert!(
        errors[0].message.len() < 300,
        "the pattern is not repeated in full"
    );
}

#[test]
fn huge_pattern_lists_are_refused_when_the_configuration_loads() {
    // 20k patterns failed per workload as "error building NFA", blamed on the rule.
    let patterns: String = (0..20_000)
        .map(|i| format!("      - registry-{i}.example.com/\n"))
        .collect();
    let config = format!("rules:\n  untrusted-registry:\n    allowed:\n{patterns}");
    let errors = policy_with(&config).unwrap_err();
    assert!(
        errors[0]
            .message
            .contains("20000 patterns, over the limit of 10000"),
        "{errors:?}"
    );
    assert_eq!(errors[0].line, Some(3), "{errors:?}");
    // 9,000 long patterns load, and match as the short list does.
    let patterns: String = (0..9_000)
        .map(|i| format!("      - registry-{i}.example.com/{}/\n", "x".repeat(100)))
        .collect();
    let config = format!(
        "rules:\n  untrusted-registry:\n    allowed:\n{patterns}      - docker.io/library/\n"
    );
    let policy = policy_with(&config).unwrap();
    let report = policy.check(&portcullis_engine::Source::from_text("pod.yaml", pod("p")));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        !report
            .findings
            .iter()
            .any(|f| &*f.rule == "untrusted-registry"),
        "{:?}",
        report.findings
    );
}

#[test]
fn a_huge_glob_in_a_rule_is_that_rules_error() {
    let mut rules = RuleSet::builtin();
    let source = format!(
        "const META = #{{ id: \"globber\", title: \"t\", severity: \"low\", remediation: \"r\" }};\nfn check(workload, settings) {{\n  glob_match(\"{}\", \"x\");\n  regex_match(\"{}\", \"x\");\n  []\n}}\n",
        "*".repeat(100_000),
        "a".repeat(20_000)
    );
    rules.add_source("globber.rhai", &source, None).unwrap();
    let policy = portcullis_engine::Policy::builder(&rules).build().unwrap();
    let report = policy.check(&portcullis_engine::Source::from_text("pod.yaml", pod("p")));
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0].message.contains("rule `globber` failed")
            && report.errors[0].message.contains("over the limit of 1024"),
        "{:?}",
        report.errors
    );
    assert!(!report.findings.is_empty(), "the other rules still ran");
}
