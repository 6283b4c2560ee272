//! Runs the credential detector over the labelled set and prints how it did.
//!
//! ```text
//! cargo run -p portcullis-engine --example secret_bench -- [--rows] [FILE]
//! ```
//!
//! `FILE` defaults to `tests/fixtures/secrets/labelled-env.jsonl`. Without `--rows` it prints
//! precision, recall and F1 (a secret row must get `Secret`; placeholders count as negatives)
//! and every disagreement; with `--rows` one tab-separated line per row, `id verdict kind`,
//! for `tests/benches/secrets/bench.py`. `--baseline` judges with what the
//! `hardcoded-secret` rule does today instead (`sandbox::credential_format`, then
//! `sandbox::credential_keyword` with the rule's own value filter), for comparison.

use std::process::ExitCode;

use portcullis_engine::credentials::{Verdict, classify};
use portcullis_engine::sandbox::{credential_format, credential_keyword};

/// What `rules/hardcoded-secret.rhai` reports today, as a verdict.
fn baseline(name: &str, value: &str) -> Verdict {
    static QUIET: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^(?i:true|false|yes|no)$|^[^A-Za-z0-9]*(\$\([^()]*\)[^A-Za-z0-9]*)+$")
            .expect("the rule's pattern compiles")
    });
    if let Some(kind) = credential_format(value) {
        return Verdict::Secret {
            kind,
            reason: String::new(),
        };
    }
    let Some(kind) = credential_keyword(name) else {
        return Verdict::NotSecret;
    };
    let trimmed = value.trim();
    if trimmed.is_empty() || QUIET.is_match(trimmed) {
        return Verdict::NotSecret;
    }
    Verdict::Secret {
        kind,
        reason: String::new(),
    }
}

fn main() -> ExitCode {
    let mut rows_only = false;
    let mut judge: fn(&str, &str) -> Verdict = classify;
    let mut path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/secrets/labelled-env.jsonl"
    )
    .to_string();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--rows" => rows_only = true,
            "--baseline" => judge = baseline,
            "-h" | "--help" => {
                eprintln!("usage: secret_bench [--rows] [--baseline] [FILE]");
                return ExitCode::SUCCESS;
            }
            _ => path = arg,
        }
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read `{path}`: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Per set (`dev`, `holdout`), [label][verdict].
    let mut counts: std::collections::BTreeMap<String, [[usize; 3]; 3]> = Default::default();
    let mut disagreements = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: serde_json::Value = match serde_json::from_str(line) {
            Ok(row) => row,
            Err(error) => {
                eprintln!("error: `{path}` line {}: {error}", number + 1);
                return ExitCode::FAILURE;
            }
        };
        let field = |key: &str| row[key].as_str().unwrap_or_default().to_string();
        let (name, value, label) = (field("name"), field("value"), field("label"));
        let verdict = judge(&name, &value);
        let (predicted, kind) = match &verdict {
            Verdict::NotSecret => (0, ""),
            Verdict::Placeholder { .. } => (1, ""),
            Verdict::Secret { kind, .. } => (2, *kind),
        };
        if rows_only {
            let word = ["not-secret", "placeholder", "secret"][predicted];
            println!("{}\t{word}\t{kind}", row["id"]);
            continue;
        }
        let expected = match label.as_str() {
            "not-secret" => 0,
            "placeholder" => 1,
            "secret" => 2,
            other => {
                eprintln!(
                    "error: `{path}` line {}: unknown label `{other}`",
                    number + 1
                );
                return ExitCode::FAILURE;
            }
        };
        let set = row["set"].as_str().unwrap_or("dev").to_string();
        counts.entry(set.clone()).or_default()[expected][predicted] += 1;
        if expected != predicted {
            disagreements.push(format!(
                "  #{} ({set}) {name} labelled {label}, got {verdict:?}",
                row["id"]
            ));
        }
    }
    if rows_only {
        return ExitCode::SUCCESS;
    }
    let mut all = [[0usize; 3]; 3];
    for table in counts.values() {
        for (label, row) in table.iter().enumerate() {
            for (verdict, n) in row.iter().enumerate() {
                all[label][verdict] += n;
            }
        }
    }
    counts.insert("all".into(), all);
    for (set, table) in &counts {
        print_table(set, table);
    }
    if !disagreements.is_empty() {
        println!("disagreements:");
        for line in disagreements {
            println!("{line}");
        }
    }
    ExitCode::SUCCESS
}

fn print_table(set: &str, counts: &[[usize; 3]; 3]) {
    let tp = counts[2][2];
    let fp = counts[0][2] + counts[1][2];
    let fn_ = counts[2][0] + counts[2][1];
    let precision = tp as f64 / (tp + fp).max(1) as f64;
    let recall = tp as f64 / (tp + fn_).max(1) as f64;
    let f1 = 2.0 * precision * recall / (precision + recall).max(f64::EPSILON);
    let rows: usize = counts.iter().flatten().sum();
    println!("{set}: {rows} rows");
    println!("  labelled \\ verdict   not-secret  placeholder  secret");
    for (label, row) in ["not-secret", "placeholder", "secret"].iter().zip(counts) {
        println!("  {label:>18} {:>12} {:>12} {:>7}", row[0], row[1], row[2]);
    }
    println!(
        "  precision {precision:.3}  recall {recall:.3}  F1 {f1:.3}  (TP {tp}, FP {fp}, FN {fn_})"
    );
}
