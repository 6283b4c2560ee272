//! The credential detector against the hand-labelled set in
//! `tests/fixtures/secrets/labelled-env.jsonl` (see its README): fails when precision or
//! recall on secrets drops below the goals, or when placeholders are no longer told apart.
//! An accuracy test, not a timing test.

use portcullis_engine::credentials::{Verdict, classify};

const PRECISION_GOAL: f64 = 0.97;
const RECALL_GOAL: f64 = 0.95;
/// Share of placeholder rows that must be called placeholders (not secrets, not quiet).
const PLACEHOLDER_GOAL: f64 = 0.90;

const LABELLED: &str = include_str!("../../tests/fixtures/secrets/labelled-env.jsonl");

struct Row {
    id: u64,
    name: String,
    value: String,
    label: String,
}

fn rows() -> Vec<Row> {
    LABELLED
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let row: serde_json::Value =
                serde_json::from_str(line).expect("labelled rows are JSON");
            let text = |key: &str| row[key].as_str().expect("string field").to_string();
            Row {
                id: row["id"].as_u64().expect("id"),
                name: text("name"),
                value: text("value"),
                label: text("label"),
            }
        })
        .collect()
}

#[test]
fn labelled_set_is_well_formed() {
    let rows = rows();
    assert!(
        rows.len() >= 500,
        "the labelled set has {} rows",
        rows.len()
    );
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(row.id, index as u64 + 1, "ids are 1..n in order");
        assert!(
            ["secret", "placeholder", "not-secret"].contains(&row.label.as_str()),
            "#{}: label `{}`",
            row.id,
            row.label
        );
    }
}

#[test]
fn detector_meets_precision_and_recall_goals_on_labelled_set() {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    let (mut placeholders, mut placeholders_found) = (0usize, 0usize);
    let mut wrong = Vec::new();
    for row in rows() {
        let verdict = classify(&row.name, &row.value);
        let secret = row.label == "secret";
        match (&verdict, secret) {
            (Verdict::Secret { .. }, true) => tp += 1,
            (Verdict::Secret { .. }, false) => fp += 1,
            (_, true) => fn_ += 1,
            _ => {}
        }
        if row.label == "placeholder" {
            placeholders += 1;
            placeholders_found += usize::from(verdict.is_placeholder());
        }
        let agrees = match row.label.as_str() {
            "secret" => verdict.is_secret(),
            "placeholder" => verdict.is_placeholder(),
            _ => verdict == Verdict::NotSecret,
        };
        if !agrees {
            wrong.push(format!(
                "#{} {} ({}): {verdict:?}",
                row.id, row.name, row.label
            ));
        }
    }
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let placeholder_share = placeholders_found as f64 / placeholders.max(1) as f64;
    eprintln!(
        "precision {precision:.3}, recall {recall:.3}, placeholders {placeholders_found}/{placeholders}; disagreements:\n{}",
        wrong.join("\n")
    );
    assert!(
        precision >= PRECISION_GOAL,
        "precision {precision:.3} < {PRECISION_GOAL}"
    );
    assert!(recall >= RECALL_GOAL, "recall {recall:.3} < {RECALL_GOAL}");
    assert!(
        placeholder_share >= PLACEHOLDER_GOAL,
        "placeholders found {placeholder_share:.3} < {PLACEHOLDER_GOAL}"
    );
}

/// The `hardcoded-secret` and `placeholder-credential` rules (through the Rhai rule API) and
/// the image-facts `ENV` scan give the same answer for every labelled variable: one
/// detector, two front doors that cannot drift apart.
#[test]
fn the_rules_and_the_image_facts_scan_agree() {
    use portcullis_engine::{Limits, Policy, RuleSet, Selection, Source};
    // No per-rule time limit: this test compares verdicts, and a debug build on a loaded
    // machine can spend over 250 ms on a Pod of 100 containers, which turns findings into
    // deadline errors. The operation limit still applies.
    let mut rules = RuleSet::with_limits(&Limits {
        max_rule_time: None,
        ..Default::default()
    });
    rules.add_builtin().unwrap();
    let policy = Policy::builder(&rules)
        .selection(Selection::only([
            "hardcoded-secret",
            "placeholder-credential",
        ]))
        .build()
        .unwrap();
    let rows = rows();
    // One container per row, a Pod per hundred rows.
    let mut compared = 0;
    for chunk in rows.chunks(100) {
        let containers: Vec<serde_json::Value> = chunk
            .iter()
            .map(|row| {
                serde_json::json!({"name": format!("row-{}", row.id), "image": "nginx:1.27",
                    "env": [{"name": row.name, "value": row.value}]})
            })
            .collect();
        let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "labelled"}, "spec": {"containers": containers}});
        let report = policy.check(&Source::from_json("labelled.json", pod));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        for row in chunk {
            let container = format!("row-{}", row.id);
            let fired = |rule: &str| {
                report
                    .findings
                    .iter()
                    .any(|f| &*f.rule == rule && f.container.as_deref() == Some(&container))
            };
            let verdict = classify(&row.name, &row.value);
            let in_image = portcullis_engine::facts::env_secret(&row.name, &row.value).is_some();
            assert_eq!(
                fired("hardcoded-secret"),
                in_image,
                "row {}: the rule and the image-facts scan disagree",
                row.id
            );
            assert_eq!(
                fired("placeholder-credential"),
                matches!(verdict, Verdict::Placeholder { .. }),
                "row {}",
                row.id
            );
            compared += 1;
        }
    }
    assert_eq!(compared, rows.len());
}
