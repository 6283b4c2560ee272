//! `docs/rules/` is generated from the rules' own metadata and docs. This test fails when it
//! is stale; `UPDATE_DOCS=1 cargo test -p portcullis-tests --test docs` regenerates it.

use portcullis_engine::RuleSet;
use portcullis_engine::rules::render_markdown;
use portcullis_tests::workspace_root;

fn rule_index(rules: &RuleSet) -> String {
    let mut out = String::from(
        "# Rule reference\n\nGenerated from `rules/*.rhai` by `UPDATE_DOCS=1 cargo test -p portcullis-tests --test docs`; do not edit by hand.\n\n| rule | severity | default | title |\n|---|---|---|---|\n",
    );
    for rule in rules.rules() {
        let m = &rule.meta;
        let default = if m.disabled_by_default { "off" } else { "on" };
        out.push_str(&format!(
            "| [`{}`]({}.md) | {} | {default} | {} |\n",
            m.id, m.id, m.severity, m.title
        ));
    }
    out
}

/// Writes `expected` when UPDATE_DOCS is set, else checks that the file holds it.
fn check_generated(path: &std::path::Path, expected: &str) -> bool {
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(path, expected).unwrap();
        return true;
    }
    std::fs::read_to_string(path).ok().as_deref() == Some(expected)
}

#[test]
fn rule_api_reference_is_up_to_date() {
    let path = workspace_root().join("docs/rule-api.md");
    let expected = portcullis_engine::api_docs::rule_api_markdown();
    assert!(
        check_generated(&path, &expected),
        "docs/rule-api.md is stale; run `UPDATE_DOCS=1 cargo test -p portcullis-tests --test docs`"
    );
}

#[test]
fn rule_reference_is_up_to_date() {
    let rules = RuleSet::builtin();
    let dir = workspace_root().join("docs/rules");
    let mut expected = vec![("README.md".to_string(), rule_index(&rules))];
    for rule in rules.rules() {
        expected.push((format!("{}.md", rule.meta.id), render_markdown(rule)));
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        for (name, text) in &expected {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    let mut stale = Vec::new();
    for (name, text) in &expected {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let present = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(
        stale.is_empty() && present == expected.len(),
        "docs/rules is stale ({stale:?}); run `UPDATE_DOCS=1 cargo test -p portcullis-tests --test docs`"
    );
}
