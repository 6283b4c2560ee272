//! `check --format sarif` and `--format junit`: SARIF is validated against the OASIS SARIF
//! 2.1.0 schema (tests/fixtures/sarif/), JUnit is read back with an XML parser, and both are
//! checked against the JSON report of the same run and snapshotted on a small fixture.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Output;
use std::sync::OnceLock;

use portcullis_engine::{Policy, Report, RuleSet, Source};
use portcullis_tests::workspace_root;
use serde_json::Value;

const FIXED_DAY: &str = "--today=2026-11-26";
const OASIS_SCHEMA_ID: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The examples (every rule fires, a config exemption), a broken document and annotation
/// exemptions, one of them refused for want of a reason.
const EXAMPLES_RUN: &[&str] = &[
    "check",
    "examples/",
    "tests/fixtures/mixed.yaml",
    "tests/fixtures/exemptions.yaml",
    "--config",
    "examples/portcullis.yaml",
    FIXED_DAY,
];

/// A small run for the snapshots: two rules, a finding of each kind and an error.
const SMALL_RUN: &[&str] = &[
    "check",
    "tests/fixtures/mixed.yaml",
    "tests/fixtures/exemptions.yaml",
    "--config",
    "tests/fixtures/exemptions-config.yaml",
    "--select",
    "latest-tag,missing-digest",
    FIXED_DAY,
];

fn run_with_stdin(args: &[&str], format: &str, stdin: Option<&str>) -> Output {
    let args = [args, &["--format", format]].concat();
    portcullis_tests::run_portcullis(&workspace_root(), &args, stdin)
}

/// Ids of the default pack's rules that run without configuration.
fn enabled_by_default() -> Vec<String> {
    RuleSet::builtin()
        .rules()
        .iter()
        .filter(|r| !r.meta.disabled_by_default)
        .map(|r| r.meta.id.clone())
        .collect()
}

fn run(args: &[&str], format: &str) -> Output {
    run_with_stdin(args, format, None)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(output)))
}

fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = workspace_root().join("tests/fixtures/sarif/sarif-schema-2.1.0.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(schema["id"], OASIS_SCHEMA_ID);
        assert_eq!(schema["$schema"], "http://json-schema.org/draft-04/schema#");
        // Formats are checked too. Draft-04 has no `uri-reference`, which the schema uses for
        // every artifact URI, so validators would let anything through; supply it (RFC 3986).
        jsonschema::options()
            .should_validate_formats(true)
            .with_format("uri-reference", |text: &str| {
                fluent_uri::UriRef::parse(text).is_ok()
            })
            .build(&schema)
            .unwrap()
    })
}

fn schema_errors(document: &Value) -> Vec<String> {
    validator()
        .iter_errors(document)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect()
}

fn assert_valid_sarif(document: &Value) {
    let errors = schema_errors(document);
    assert!(errors.is_empty(), "{errors:#?}\n{document:#}");
}

/// The report as SARIF, checked against the schema.
fn valid_sarif(report: &Report, rules: &[portcullis_engine::EnabledRule]) -> Value {
    let mut out = Vec::new();
    report.write_sarif(rules, &mut out).unwrap();
    let sarif: Value = serde_json::from_slice(&out).unwrap();
    assert_valid_sarif(&sarif);
    sarif
}

fn level(severity: &str) -> &'static str {
    match severity {
        "critical" | "high" => "error",
        "medium" => "warning",
        "low" | "info" => "note",
        other => panic!("unknown severity {other}"),
    }
}

fn results(sarif: &Value) -> &Vec<Value> {
    sarif["runs"][0]["results"].as_array().unwrap()
}

#[test]
fn sarif_of_the_examples_is_valid_and_says_what_the_json_says() {
    let output = run(EXAMPLES_RUN, "sarif");
    assert_eq!(output.status.code(), Some(2), "an input error exits 2");
    let sarif = json(&output);
    assert_valid_sarif(&sarif);
    let report = json(&run(EXAMPLES_RUN, "json"));

    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["$schema"], OASIS_SCHEMA_ID);
    let run = &sarif["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "portcullis");
    assert_eq!(driver["version"], env!("CARGO_PKG_VERSION"));

    // Every rule that ran has a descriptor with its docs, whether it fired or not.
    let rules = RuleSet::builtin();
    let descriptors = driver["rules"].as_array().unwrap();
    let ids: Vec<&str> = descriptors
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, enabled_by_default());
    for descriptor in descriptors {
        let rule = rules.get(descriptor["id"].as_str().unwrap()).unwrap();
        let severity = rule.meta.severity.as_str();
        assert_eq!(descriptor["shortDescription"]["text"], rule.meta.title);
        assert_eq!(
            descriptor["help"]["markdown"],
            portcullis_engine::Rule::reference_markdown(rule)
        );
        assert!(
            !descriptor["fullDescription"]["text"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert_eq!(descriptor["defaultConfiguration"]["level"], level(severity));
        assert_eq!(descriptor["properties"]["severity"], severity);
        let uri = descriptor["helpUri"].as_str().unwrap();
        let page = uri
            .strip_prefix("https://github.com/portcullis-dev/portcullis/blob/main/")
            .unwrap();
        assert!(workspace_root().join(page).is_file(), "{uri} has no page");
        let expected_score = match severity {
            "critical" => Some("9.5"),
            "high" => Some("8.0"),
            "medium" => Some("5.5"),
            "low" => Some("3.0"),
            _ => None,
        };
        assert_eq!(
            descriptor["properties"]["security-severity"].as_str(),
            expected_score
        );
    }

    // One result per finding, exempted ones included and marked.
    let results = results(&sarif);
    let summary = &report["summary"];
    assert_eq!(
        results.len() as u64,
        summary["findings"].as_u64().unwrap() + summary["exempted"].as_u64().unwrap()
    );
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(descriptors[index]["id"], result["ruleId"]);
        let severity = result["properties"]["severity"].as_str().unwrap();
        assert_eq!(result["level"], level(severity));
    }
    let fingerprints: HashSet<&str> = results
        .iter()
        .map(|r| r["partialFingerprints"]["portcullis/v1"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), results.len(), "fingerprints are unique");

    // The counted results are the JSON findings: rule, file, line, resource path, message.
    let key = |rule: &Value, uri: &Value, line: &Value, fqn: String, message: &Value| {
        (
            rule.as_str().unwrap().to_string(),
            uri.as_str().unwrap().to_string(),
            line.as_u64().unwrap(),
            fqn,
            message.as_str().unwrap().to_string(),
        )
    };
    let mut from_sarif: Vec<_> = results
        .iter()
        .filter(|r| r.get("suppressions").is_none())
        .map(|r| {
            let location = &r["locations"][0];
            let text = r["message"]["text"].as_str().unwrap();
            let first_line = text.split('\n').next().unwrap();
            let message = first_line.split_once("`: ").map_or(first_line, |(_, m)| m);
            key(
                &r["ruleId"],
                &location["physicalLocation"]["artifactLocation"]["uri"],
                &location["physicalLocation"]["region"]["startLine"],
                location["logicalLocations"][0]["fullyQualifiedName"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                &Value::from(message),
            )
        })
        .collect();
    let mut from_json: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let r = &f["resource"];
            let fqn = format!(
                "{}/{}/{}/{}",
                r["kind"].as_str().unwrap(),
                r["namespace"].as_str().unwrap(),
                r["name"].as_str().unwrap(),
                f["path"].as_str().unwrap()
            );
            // A Dockerfile finding names its instruction's line; others the resource's.
            let line = f.get("line").unwrap_or(&r["line"]);
            key(&f["rule"], &r["file"], line, fqn, &f["message"])
        })
        .collect();
    from_sarif.sort();
    from_json.sort();
    assert_eq!(from_sarif, from_json);
    let example = results
        .iter()
        .find(|r| r.get("suppressions").is_none())
        .unwrap();
    assert!(
        example["message"]["text"]
            .as_str()
            .unwrap()
            .contains("\nRemediation: "),
        "{example}"
    );

    // Exemptions: the annotation is in the manifest (`inSource`), the configuration's entry
    // is not (`external`); both carry their reason.
    let suppressions: Vec<(&str, &str, &str)> = results
        .iter()
        .filter_map(|r| r.get("suppressions"))
        .map(|s| {
            assert_eq!(s.as_array().unwrap().len(), 1);
            (
                s[0]["kind"].as_str().unwrap(),
                s[0]["status"].as_str().unwrap(),
                s[0]["justification"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        suppressions.len() as u64,
        summary["exempted"].as_u64().unwrap()
    );
    assert!(suppressions.contains(&("inSource", "accepted", "vendor image, tracked in TICKET-12")));
    assert!(
        suppressions
            .iter()
            .any(|s| s.0 == "external" && s.2.starts_with("The fix-permissions and sysctl")),
        "{suppressions:?}"
    );

    // Errors are notifications, with their place; the run did not succeed.
    let invocation = &run["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notifications: Vec<(&str, u64)> = invocation["toolExecutionNotifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(n["level"], "error");
            let location = &n["locations"][0]["physicalLocation"];
            (
                location["artifactLocation"]["uri"].as_str().unwrap(),
                location["region"]["startLine"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        notifications,
        [
            ("tests/fixtures/exemptions.yaml", 20),
            ("tests/fixtures/mixed.yaml", 29)
        ]
    );
}

#[test]
fn the_validator_rejects_invalid_sarif() {
    let valid = json(&run(SMALL_RUN, "sarif"));
    assert_valid_sarif(&valid);
    type Breakage = (&'static str, fn(&mut Value));
    let breakages: [Breakage; 8] = [
        ("unknown level", |d| {
            d["runs"][0]["results"][0]["level"] = "fatal".into()
        }),
        ("line 0", |d| {
            d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
                0.into()
        }),
        ("no version", |d| {
            d.as_object_mut().unwrap().remove("version");
        }),
        ("unknown suppression kind", |d| {
            d["runs"][0]["results"][0]["suppressions"][0]["kind"] = "waived".into()
        }),
        ("unknown top-level key", |d| {
            d["findings"] = Value::Array(Vec::new())
        }),
        ("message without text", |d| {
            d["runs"][0]["results"][0]["message"] = serde_json::json!({})
        }),
        ("file URI with a space", |d| {
            d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] =
                "my dir/x.yaml".into()
        }),
        ("help URI that is not a URI", |d| {
            d["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "not a uri".into()
        }),
    ];
    for (what, break_it) in breakages {
        let mut broken = valid.clone();
        break_it(&mut broken);
        assert!(!schema_errors(&broken).is_empty(), "{what} was accepted");
    }
}

#[test]
fn configuration_errors_still_give_valid_documents() {
    let args = [
        "check",
        "tests/fixtures/dir/b.yaml",
        "--config",
        "tests/fixtures/bad-config.yaml",
    ];
    let output = run(&args, "sarif");
    assert_eq!(output.status.code(), Some(2));
    let sarif = json(&output);
    assert_valid_sarif(&sarif);
    assert_eq!(results(&sarif).len(), 0);
    let invocation = &sarif["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notifications = invocation["toolExecutionNotifications"].as_array().unwrap();
    assert_eq!(notifications.len(), 5);
    assert_eq!(
        notifications[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "tests/fixtures/bad-config.yaml"
    );

    let output = run(&args, "junit");
    assert_eq!(output.status.code(), Some(2));
    let text = stdout(&output);
    let xml = roxmltree::Document::parse(&text).unwrap();
    let root = xml.root_element();
    assert_eq!(root.attribute("errors"), Some("5"));
    assert_eq!(root.attribute("tests"), Some("5"));
    let errors = xml
        .descendants()
        .filter(|n| n.has_tag_name("error"))
        .count();
    assert_eq!(errors, 5);

    // A usage error too.
    let sarif = json(&run(&["check", "x.yaml", "--today=soon"], "sarif"));
    assert_valid_sarif(&sarif);
}

#[test]
fn rules_refuses_the_report_formats() {
    for format in ["sarif", "junit"] {
        let output = run(&["rules"], format);
        assert_eq!(output.status.code(), Some(2), "{format}");
        assert!(output.stdout.is_empty());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("invalid value"), "{stderr}");
    }
}

#[test]
fn output_is_deterministic_and_fingerprints_survive_moved_lines() {
    for format in ["sarif", "junit"] {
        let one_thread = run(&[EXAMPLES_RUN, &["-j", "1"]].concat(), format);
        let all_threads = run(EXAMPLES_RUN, format);
        assert_eq!(stdout(&one_thread), stdout(&all_threads), "{format}");
    }

    // Lines above a resource move it, but its findings stay the same alerts.
    let rules = RuleSet::builtin();
    let policy = portcullis_tests::default_policy(&rules);
    let manifest =
        std::fs::read_to_string(workspace_root().join("tests/fixtures/dir/b.yaml")).unwrap();
    let sarif_of = |text: &str| {
        let mut report = policy.check(&Source::from_text("b.yaml", text));
        report.sort();
        let sarif = valid_sarif(&report, &policy.enabled_rules());
        results(&sarif)
            .iter()
            .map(|r| {
                (
                    r["partialFingerprints"]["portcullis/v1"].to_string(),
                    r["locations"][0]["physicalLocation"]["region"]["startLine"]
                        .as_u64()
                        .unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = sarif_of(&manifest);
    let after = sarif_of(&format!("# a comment\n# and another\n{manifest}"));
    assert!(!before.is_empty());
    for ((fingerprint_before, line_before), (fingerprint_after, line_after)) in
        before.iter().zip(&after)
    {
        assert_eq!(fingerprint_before, fingerprint_after);
        assert_eq!(line_before + 2, *line_after);
    }
}

#[test]
fn stdin_results_have_no_file_location() {
    let manifest =
        std::fs::read_to_string(workspace_root().join("tests/fixtures/mixed.yaml")).unwrap();
    let output = run_with_stdin(&["check", "-", FIXED_DAY], "sarif", Some(&manifest));
    let sarif = json(&output);
    assert_valid_sarif(&sarif);
    assert!(!results(&sarif).is_empty());
    for result in results(&sarif) {
        let location = &result["locations"][0];
        assert!(location.get("physicalLocation").is_none(), "{location}");
        assert!(
            location["logicalLocations"][0]["fullyQualifiedName"]
                .as_str()
                .unwrap()
                .starts_with("Deployment/shop/api/")
        );
    }
}

/// Test cases of a JUnit document: (suite, classname, name) → the element.
fn test_cases<'a>(
    xml: &'a roxmltree::Document<'a>,
) -> BTreeMap<(String, String, String), roxmltree::Node<'a, 'a>> {
    let mut cases = BTreeMap::new();
    for suite in xml.root_element().children().filter(|n| n.is_element()) {
        assert!(suite.has_tag_name("testsuite"));
        for case in suite.children().filter(|n| n.is_element()) {
            assert!(case.has_tag_name("testcase"));
            let key = (
                suite.attribute("name").unwrap().to_string(),
                case.attribute("classname").unwrap().to_string(),
                case.attribute("name").unwrap().to_string(),
            );
            assert!(cases.insert(key, case).is_none(), "duplicate test case");
        }
    }
    cases
}

fn child<'a>(case: roxmltree::Node<'a, 'a>, tag: &str) -> Option<roxmltree::Node<'a, 'a>> {
    case.children().find(|n| n.has_tag_name(tag))
}

/// Every `tests`/`failures`/`errors`/`skipped` attribute equals what its element holds.
fn assert_counts_match(element: roxmltree::Node<'_, '_>) {
    let cases: Vec<_> = element
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let count = |tag: &str| {
        cases
            .iter()
            .filter(|c| child(**c, tag).is_some())
            .count()
            .to_string()
    };
    assert_eq!(element.attribute("tests"), Some(&*cases.len().to_string()));
    assert_eq!(element.attribute("failures"), Some(&*count("failure")));
    assert_eq!(element.attribute("errors"), Some(&*count("error")));
    assert_eq!(element.attribute("skipped"), Some(&*count("skipped")));
}

#[test]
fn junit_of_the_examples_has_a_case_per_resource_and_rule() {
    let output = run(EXAMPLES_RUN, "junit");
    assert_eq!(output.status.code(), Some(2));
    let text = stdout(&output);
    let xml = roxmltree::Document::parse(&text).unwrap();
    let report = json(&run(EXAMPLES_RUN, "json"));
    let root = xml.root_element();
    assert!(root.has_tag_name("testsuites"));
    assert_counts_match(root);
    for suite in root.children().filter(|n| n.is_element()) {
        assert_counts_match(suite);
    }
    let cases = test_cases(&xml);

    // Every rule on every resource, plus one case per input error.
    let rules = enabled_by_default().len() as u64;
    let summary = &report["summary"];
    let errors = summary["errors"].as_u64().unwrap();
    assert_eq!(
        cases.len() as u64,
        summary["resources"].as_u64().unwrap() * rules + errors
    );

    // Findings fail their case; the failure carries each message and the details.
    let mut failing = BTreeSet::new();
    for finding in report["findings"].as_array().unwrap() {
        let r = &finding["resource"];
        let key = (
            r["file"].as_str().unwrap().to_string(),
            format!(
                "{}/{}/{}",
                r["kind"].as_str().unwrap(),
                r["namespace"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            ),
            finding["rule"].as_str().unwrap().to_string(),
        );
        let case = cases[&key];
        assert_eq!(case.attribute("file"), r["file"].as_str());
        assert_eq!(case.attribute("line"), Some(&*r["line"].to_string()));
        let failure = child(case, "failure").unwrap_or_else(|| panic!("{key:?} passed"));
        let message = finding["message"].as_str().unwrap();
        assert!(
            failure.attribute("message").unwrap().contains(message),
            "{key:?}"
        );
        let body = failure.text().unwrap();
        for field in ["message", "path", "remediation"] {
            assert!(body.contains(finding[field].as_str().unwrap()), "{body}");
        }
        failing.insert(key);
    }
    for (key, case) in &cases {
        let failure = child(*case, "failure");
        assert_eq!(failure.is_some(), failing.contains(key), "{key:?}");
        if let Some(failure) = failure {
            // `type` is the most severe finding's severity.
            let severities: Vec<&str> = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["rule"] == key.2.as_str() && f["resource"]["file"] == key.0.as_str())
                .filter(|f| {
                    let r = &f["resource"];
                    key.1
                        == format!(
                            "{}/{}/{}",
                            r["kind"].as_str().unwrap(),
                            r["namespace"].as_str().unwrap(),
                            r["name"].as_str().unwrap()
                        )
                })
                .map(|f| f["severity"].as_str().unwrap())
                .collect();
            let rank = |s: &str| {
                ["info", "low", "medium", "high", "critical"]
                    .iter()
                    .position(|x| *x == s)
            };
            let max = severities.iter().copied().max_by_key(|s| rank(s)).unwrap();
            assert_eq!(failure.attribute("type"), Some(max), "{key:?}");
        }
    }

    // Exempted-only pairs are skipped, with the reason.
    let skipped: Vec<&str> = cases
        .values()
        .filter_map(|c| child(*c, "skipped"))
        .map(|s| s.attribute("message").unwrap())
        .collect();
    assert!(skipped.contains(&"exempted: vendor image, tracked in TICKET-12"));
    assert!(
        skipped
            .iter()
            .any(|m| m.starts_with("exempted: The fix-permissions")),
        "{skipped:?}"
    );

    // Input errors are their own cases.
    let error_messages: BTreeSet<&str> = cases
        .values()
        .filter_map(|c| child(*c, "error"))
        .map(|e| e.attribute("message").unwrap())
        .collect();
    let expected: BTreeSet<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(error_messages, expected);
    assert!(cases.contains_key(&(
        "tests/fixtures/mixed.yaml".to_string(),
        "tests/fixtures/mixed.yaml".to_string(),
        "document 2, line 29".to_string()
    )));
}

/// A resource whose every string needs escaping, in a file whose name does too.
const HOSTILE: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: "evil<&\"'>\u0001"
  namespace: shop
  annotations:
    portcullis.dev/exempt: privilege-escalation
    portcullis.dev/exempt-reason: "ok <&\"'> ]]> \u0002"
spec:
  containers:
  - name: "c<&>"
    image: "nginx:<&\"'>"
"#;
const HOSTILE_FILE: &str = "odd <&\"'> dir/pod #1:%.yaml";

fn hostile_report() -> (Report, Vec<portcullis_engine::EnabledRule>) {
    let rules = RuleSet::builtin();
    let policy = Policy::builder(&rules)
        .record_resources(true)
        .build()
        .unwrap();
    let mut report = policy.check(&Source::from_text(HOSTILE_FILE, HOSTILE));
    report.sort();
    (report, policy.enabled_rules())
}

#[test]
fn junit_escapes_hostile_names_and_messages() {
    let (report, rules) = hostile_report();
    let mut out = Vec::new();
    report.write_junit(&rules, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let xml = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_counts_match(xml.root_element());
    let cases = test_cases(&xml);
    // The control character cannot be in XML at all; it is spelled out.
    let classname = "Pod/shop/evil<&\"'>\\u{1}";
    let case = |rule: &str| cases[&(HOSTILE_FILE.into(), classname.into(), rule.into())];

    let invalid = child(case("invalid-image-reference"), "failure").unwrap();
    assert!(
        invalid
            .attribute("message")
            .unwrap()
            .starts_with("container `c<&>`: image reference `nginx:<&\"'>` is invalid"),
        "{invalid:?}"
    );
    assert!(invalid.text().unwrap().contains("`nginx:<&\"'>`"));
    assert_eq!(
        case("invalid-image-reference").attribute("file"),
        Some(HOSTILE_FILE)
    );
    let skipped = child(case("privilege-escalation"), "skipped").unwrap();
    assert_eq!(
        skipped.attribute("message"),
        Some("exempted: ok <&\"'> ]]> \\u{2}")
    );
    assert!(child(case("hardcoded-secret"), "failure").is_none());
}

#[test]
fn sarif_escapes_hostile_names_and_encodes_the_file_uri() {
    let (report, rules) = hostile_report();
    let sarif = valid_sarif(&report, &rules);
    let result = results(&sarif)
        .iter()
        .find(|r| r["ruleId"] == "invalid-image-reference")
        .unwrap();
    let location = &result["locations"][0];
    assert_eq!(
        location["physicalLocation"]["artifactLocation"]["uri"],
        "odd%20%3C&%22'%3E%20dir/pod%20%231%3A%25.yaml"
    );
    assert_eq!(
        location["logicalLocations"][0]["fullyQualifiedName"],
        "Pod/shop/evil<&\"'>\u{1}/spec.containers[0].image"
    );
}

#[test]
fn a_rule_that_fails_is_an_error_of_its_own_case() {
    let rule = |id: &str, body: &str| {
        format!(
            "const META = #{{ id: \"{id}\", title: \"t\", severity: \"low\", remediation: \"r\" }};\nfn check(workload, settings) {{\n{body}\n}}\n"
        )
    };
    let mut rules = RuleSet::empty();
    rules
        .add_source("rules/bad.rhai", &rule("bad", "throw \"boom\""), None)
        .unwrap();
    rules
        .add_source(
            "rules/good.rhai",
            &rule(
                "good",
                "let out = []; for c in workload.containers { out.push(finding(c, \"seen\")); } out",
            ),
            None,
        )
        .unwrap();
    let policy = Policy::builder(&rules)
        .record_resources(true)
        .build()
        .unwrap();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers: [{name: app, image: 'nginx:1.27'}]\n";
    let mut report = policy.check(&Source::from_text("pod.yaml", pod));
    report.sort();
    assert_eq!(report.errors.len(), 1);

    let mut out = Vec::new();
    report
        .write_junit(&policy.enabled_rules(), &mut out)
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    let xml = roxmltree::Document::parse(&text).unwrap();
    assert_counts_match(xml.root_element());
    let cases = test_cases(&xml);
    assert_eq!(cases.len(), 2, "{text}");
    let key = |rule: &str| {
        (
            "pod.yaml".to_string(),
            "Pod/shop/web".to_string(),
            rule.to_string(),
        )
    };
    let error = child(cases[&key("bad")], "error").unwrap();
    assert_eq!(error.attribute("type"), Some("rule-error"));
    assert!(error.attribute("message").unwrap().contains("boom"));
    assert!(child(cases[&key("good")], "failure").is_some());

    let sarif = valid_sarif(&report, &policy.enabled_rules());
    let notification = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"][0];
    assert_eq!(
        notification["associatedRule"],
        serde_json::json!({"id": "bad", "index": 0})
    );
    // Custom rules have no published page.
    let descriptors = &sarif["runs"][0]["tool"]["driver"]["rules"];
    assert!(descriptors[0].get("helpUri").is_none());
    assert_eq!(descriptors[0]["name"], "Bad");
}

#[test]
fn sarif_snapshot() {
    let mut sarif = json(&run(SMALL_RUN, "sarif"));
    assert_valid_sarif(&sarif);
    // Rule docs and the version change for reasons of their own; the tests above check them.
    let driver = &mut sarif["runs"][0]["tool"]["driver"];
    driver["version"] = "[version]".into();
    driver["semanticVersion"] = "[version]".into();
    for rule in driver["rules"].as_array_mut().unwrap() {
        rule["fullDescription"]["text"] = "[docs]".into();
        rule["help"] = serde_json::json!({"text": "[docs]", "markdown": "[docs]"});
    }
    insta::assert_snapshot!("small_sarif", serde_json::to_string_pretty(&sarif).unwrap());
}

#[test]
fn junit_snapshot() {
    let output = run(SMALL_RUN, "junit");
    roxmltree::Document::parse(&stdout(&output)).unwrap();
    insta::assert_snapshot!("small_junit", stdout(&output));
}
