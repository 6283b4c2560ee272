//! The default pack's own tests, run through the same runner as `portcullis test`, plus the
//! pack's structural promises: docs sections, and failing and passing cases over every
//! container role and a controller kind for each rule.

use portcullis_engine::testing::{find_test_files, rule_id_of, run_test_file};
use portcullis_engine::{RuleInput, RuleSet};
/// The sections every rule's docs have, in this order.
const DOC_SECTIONS: [&str; 6] = [
    "## What it does",
    "## Why is this bad?",
    "## Example",
    "## Use instead",
    "## Settings",
    "## References",
];

/// The default pack's folder.
fn rules_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

#[test]
fn every_rule_test_case_passes() {
    let rules = RuleSet::builtin();
    let files = find_test_files(&rules_dir()).unwrap();
    assert!(!files.is_empty());
    let mut failures = Vec::new();
    for file in files {
        let outcome = run_test_file(&rules, &file).unwrap_or_else(|e| panic!("{e}"));
        for case in outcome.cases.iter().filter(|c| !c.passed()) {
            failures.push(format!(
                "{} / {}:\n  missing: {:?}\n  unexpected: {:?}\n  errors: {:?}",
                outcome.rule, case.name, case.missing, case.unexpected, case.error_mismatches
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_rule_has_docs_and_tests_that_fail_and_pass() {
    let rules = RuleSet::builtin();
    let files = find_test_files(&rules_dir()).unwrap();
    for rule in rules.rules() {
        let id = &rule.meta.id;
        let mut at = 0;
        for section in DOC_SECTIONS {
            let found = rule.docs[at..].find(section);
            assert!(
                found.is_some(),
                "rule `{id}`: docs lack `{section}` (or it is out of order)"
            );
            at += found.unwrap() + section.len();
        }
        let file = files
            .iter()
            .find(|f| rule_id_of(f) == Some(id.as_str()))
            .unwrap_or_else(|| panic!("rule `{id}` has no {id}.tests.yaml"));
        let text = std::fs::read_to_string(file).unwrap();
        for needle in ["expect: []", "container:"] {
            assert!(
                text.contains(needle),
                "{id}.tests.yaml has no case with `{needle}`"
            );
        }
        if rule.meta.checks(RuleInput::Manifests) {
            for needle in ["initContainers", "ephemeralContainers"] {
                assert!(
                    text.contains(needle),
                    "{id}.tests.yaml has no case with `{needle}`"
                );
            }
            assert!(
                [
                    "Deployment",
                    "CronJob",
                    "StatefulSet",
                    "DaemonSet",
                    "Job",
                    "ReplicaSet"
                ]
                .iter()
                .any(|kind| text.contains(&format!("kind: {kind}"))),
                "{id}.tests.yaml has no controller kind"
            );
        }
        if rule.meta.checks(RuleInput::Dockerfiles) {
            // Failing and passing Dockerfiles, multi-stage, with the line findings point at;
            // and the docs say how the rule reads them.
            for needle in ["dockerfile: |", " AS ", "line: "] {
                assert!(
                    text.contains(needle),
                    "{id}.tests.yaml has no Dockerfile case with `{needle}`"
                );
            }
            // A rule for both inputs says how it reads a Dockerfile in a section of its own.
            assert!(
                !rule.meta.checks(RuleInput::Manifests) || rule.docs.contains("## Dockerfiles"),
                "rule `{id}` checks Dockerfiles but its docs have no `## Dockerfiles` section"
            );
        }
    }
}
