//! `docs/rules/` is generated from the rules' own metadata and docs. This test fails when it
//! is stale; `UPDATE_DOCS=1 cargo test -p portcullis-tests --test docs` regenerates it.

use portcullis_engine::{Config, Policy, RuleSet};
use portcullis_tests::{run_portcullis, scratch_dir, workspace_root};

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
    let expected = portcullis_engine::rule_api_markdown();
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
        expected.push((format!("{}.md", rule.meta.id), rule.reference_markdown()));
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

/// The fenced blocks of a Markdown file: (info string, first line number, text).
fn fenced_blocks(markdown: &str) -> Vec<(String, usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), index + 2, String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, _, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// Every configuration shown in the README and the guides is one the CLI accepts: settings
/// that exist, with the right types, for rules that exist (the default pack plus the rules
/// the same page writes).
#[test]
fn configuration_examples_in_the_docs_are_accepted() {
    let mut pages = vec![workspace_root().join("README.md")];
    for entry in std::fs::read_dir(workspace_root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages.sort();
    let mut checked = 0;
    let mut problems = Vec::new();
    for page in &pages {
        let name = page
            .strip_prefix(workspace_root())
            .unwrap()
            .display()
            .to_string();
        let blocks = fenced_blocks(&std::fs::read_to_string(page).unwrap());
        let mut rules = RuleSet::builtin();
        for (info, line, text) in &blocks {
            if info == "rhai" && text.contains("const META") {
                // A page may show a rule twice as it evolves; the first version is enough.
                let _ = rules.add_source(&format!("{name}:{line}"), text, None);
            }
        }
        for (info, line, text) in &blocks {
            let body = text
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            let is_config = match info.as_str() {
                "yaml" => body.starts_with("rules:") || body.starts_with("exemptions:"),
                "json" => body.starts_with("{\"rules\"") || body.starts_with("{\"exemptions\""),
                _ => false,
            };
            if !is_config {
                continue;
            }
            checked += 1;
            let origin = format!("{name}:{line}");
            let config = match Config::parse(&origin, text) {
                Ok(config) => config,
                Err(errors) => {
                    problems.extend(errors.iter().map(|e| format!("{origin}: {}", e.message)));
                    continue;
                }
            };
            if let Err(errors) = Policy::builder(&rules).config(config).build() {
                problems.extend(errors.iter().map(|e| format!("{origin}: {}", e.message)));
            }
        }
    }
    assert!(checked >= 3, "found only {checked} configuration examples");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The README's first example is what the binary prints for it, word for word.
#[test]
fn readme_example_output_is_what_the_binary_prints() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let blocks = fenced_blocks(&readme);
    let manifest_at = blocks
        .iter()
        .position(|(info, _, _)| info == "yaml")
        .expect("the README shows a manifest");
    let (info, _, console) = &blocks[manifest_at + 1];
    assert_eq!(info, "console", "the manifest is followed by its output");
    let mut lines = console.lines();
    assert_eq!(lines.next(), Some("$ portcullis check pod.yaml"));
    let expected: Vec<&str> = lines.take_while(|l| !l.starts_with("$ ")).collect();

    let dir = scratch_dir("readme-example");
    std::fs::write(dir.join("pod.yaml"), &blocks[manifest_at].2).unwrap();
    let output = run_portcullis(&dir, &["check", "pod.yaml", "--color", "never"], None);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
}
