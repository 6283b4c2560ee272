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
//! `hardcoded-secret` rule did before the `credentials` module (its key-format patterns, then
//! its name keywords with the rule's own value filter), for comparison.

use std::process::ExitCode;

use portcullis_engine::credentials::{Verdict, classify};
use previous_rule::{credential_format, credential_keyword};

/// What `rules/hardcoded-secret.rhai` reported before the `credentials` module, as a verdict.
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

/// The `hardcoded-secret` rule's detector before the `credentials` module (commit ee63c24),
/// kept here so that the baseline row of the benchmark can be reproduced.
mod previous_rule {
    /// Well-known credential formats: (label, pattern). One `RegexSet` tests them all at once.
    const CREDENTIAL_FORMATS: [(&str, &str); 9] = [
        (
            "an AWS access key ID",
            r"\b(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
        ),
        (
            "a PEM private key",
            r"-----BEGIN ([A-Z]+ )*PRIVATE KEY-----",
        ),
        (
            // `-----BEGIN ` then `PRIVATE KEY` at any of its three base64 alignments: keys are
            // often pasted base64-encoded, as Secrets store them.
            "a base64-encoded PEM private key",
            r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{0,40}?(UFJJVkFURSBLRV|BSSVZBVEUgS0VZ|QUklWQVRFIEtFW)",
        ),
        ("a GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,}"),
        ("a GitHub token", r"\bgithub_pat_[A-Za-z0-9_]{22,}"),
        (
            "a GitLab personal access token",
            r"\bglpat-[A-Za-z0-9_-]{20,}",
        ),
        ("a Slack token", r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
        (
            "a JSON Web Token",
            r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+",
        ),
        (
            "a URL with an embedded password",
            r"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^/\s@$][^/\s@]*@",
        ),
    ];

    static CREDENTIALS: std::sync::LazyLock<regex::RegexSet> = std::sync::LazyLock::new(|| {
        regex::RegexSet::new(CREDENTIAL_FORMATS.iter().map(|(_, pattern)| pattern))
            .expect("credential patterns are valid")
    });

    /// Name fragments that say an environment variable holds a credential.
    pub const CREDENTIAL_KEYWORDS: [&str; 13] = [
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "ACCESS_KEY",
        "PRIVATE_KEY",
        "SIGNING_KEY",
        "ENCRYPTION_KEY",
        "AUTH_KEY",
        "CREDENTIAL",
    ];

    /// Name suffixes of variables that point at a secret or configure it, rather than hold it.
    pub const REFERENCE_SUFFIXES: [&str; 12] = [
        "_FILE",
        "_PATH",
        "_DIR",
        "_URL",
        "_URI",
        "_NAME",
        "_ENDPOINT",
        "_HOST",
        "_PORT",
        "_REF",
        "_TTL",
        "_TIMEOUT",
    ];

    /// Upper-cased, with `-` and `.` read as `_`: how credential names are compared.
    fn normalize_env_name(name: &str) -> String {
        name.chars()
            .map(|c| match c {
                '-' | '.' => '_',
                c => c.to_ascii_uppercase(),
            })
            .collect()
    }

    /// The label of the first well-known credential format `text` contains, if any.
    pub fn credential_format(text: &str) -> Option<&'static str> {
        // Most values match nothing; `is_match` can stop early where `matches` cannot.
        if !CREDENTIALS.is_match(text) {
            return None;
        }
        CREDENTIALS
            .matches(text)
            .iter()
            .next()
            .map(|i| CREDENTIAL_FORMATS[i].0)
    }

    /// The credential keyword an environment variable's name contains, with the built-in lists
    /// (see the rule API's `credential_name`).
    pub fn credential_keyword(name: &str) -> Option<&'static str> {
        let normalized = normalize_env_name(name);
        if REFERENCE_SUFFIXES
            .iter()
            .any(|suffix| normalized.ends_with(suffix))
        {
            return None;
        }
        CREDENTIAL_KEYWORDS
            .into_iter()
            .find(|keyword| normalized.contains(keyword))
    }
}
