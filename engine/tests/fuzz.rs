//! Property-based fuzzing of what Portcullis reads from strangers: the input loader (YAML
//! and JSON, every envelope), the image reference parser and the rule sandbox. (The layer
//! reader has its own properties in the facts crate.)
//!
//! Each target runs for a time budget rather than a fixed number of cases, with a fresh
//! seed each run: `PORTCULLIS_FUZZ_SECONDS` per target (default 15, so the suite takes about
//! a minute in CI). Longer runs by hand, with optimisations:
//!
//! ```sh
//! PORTCULLIS_FUZZ_SECONDS=3600 cargo test --release -p portcullis-engine --test fuzz -- --nocapture --test-threads 1
//! ```
//!
//! A failure prints the seed and the smallest input proptest found; `PORTCULLIS_FUZZ_SEED`
//! replays a seed. docs/security.md records the hours run and what they found.

use std::time::{Duration, Instant};

use portcullis_engine::{ImageRef, Limits, RuleSet, Source, Workloads};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use serde_json::Value;

const CASES_PER_ROUND: u32 = 64;

fn budget() -> Duration {
    let seconds = std::env::var("PORTCULLIS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    Duration::from_secs(seconds)
}

/// Runs `test` on values of `strategy` until the budget is spent; panics with the seed and
/// the minimal failing value on the first failure.
fn fuzz<S: Strategy>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let seed: u64 = std::env::var("PORTCULLIS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let config = Config {
        cases: CASES_PER_ROUND,
        failure_persistence: None,
        ..Config::default()
    };
    let started = Instant::now();
    let mut rounds = 0u64;
    // A runner per round: a runner counts its successes and stops at `cases`.
    while started.elapsed() < budget() {
        let mut seed_bytes = [0u8; 32];
        seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
        seed_bytes[8..16].copy_from_slice(&rounds.to_le_bytes());
        let mut runner = TestRunner::new_with_rng(
            config.clone(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
        );
        if let Err(e) = runner.run(&strategy, &test) {
            panic!(
                "fuzz target `{name}` failed in round {rounds} (PORTCULLIS_FUZZ_SEED={seed}): {e}"
            );
        }
        rounds += 1;
    }
    // On the real stderr, so that long runs report their throughput.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "fuzz {name}: {} cases in {:.0?} (seed {seed})",
        rounds * u64::from(CASES_PER_ROUND),
        started.elapsed()
    );
}

// ---- The input loader ----

/// Scalars that YAML readers disagree on, and troublemakers.
fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}",
        Just("yes".into()),
        Just("on".into()),
        Just("~".into()),
        Just("<<".into()),
        Just("0777".into()),
        Just("0x1F".into()),
        Just("1_000".into()),
        Just(".inf".into()),
        Just("'quoted'".into()),
        Just("\"esc\\u0041\\x1b\"".into()),
        Just("!!str 12".into()),
        Just("!!binary aGVsbG8=".into()),
        Just("!custom x".into()),
        Just("{{ .Values.x }}".into()),
        Just("*missing".into()),
        "\\PC{0,12}",
    ]
}

/// Text shaped like YAML: nested block and flow collections, anchors and aliases, merge
/// keys, tags, comments, document markers and noise.
fn yamlish() -> impl Strategy<Value = String> {
    let leaf = scalar();
    let node = leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(("[a-z<]{1,6}", inner.clone()), 0..5).prop_map(|pairs| {
                let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            (inner.clone(), "[a-z]{1,3}").prop_map(|(v, a)| format!("&{a} {v}")),
            "[a-z]{1,3}".prop_map(|a| format!("*{a}")),
            inner.clone().prop_map(|v| format!("{{<<: {v}}}")),
            inner.prop_map(|v| format!("!!map {v}")),
        ]
    });
    let line = prop_oneof![
        4 => ("[ ]{0,6}", "[a-zA-Z<-]{1,8}", node.clone()).prop_map(|(i, k, v)| format!("{i}{k}: {v}")),
        2 => ("[ ]{0,6}", node.clone()).prop_map(|(i, v)| format!("{i}- {v}")),
        1 => Just("---".to_string()),
        1 => Just("...".to_string()),
        1 => Just("# comment".to_string()),
        1 => Just("kind: Pod".to_string()),
        1 => Just("spec:\n  containers:\n  - name: a\n    image: nginx".to_string()),
        1 => "\\PC{0,30}",
    ];
    prop::collection::vec(line, 0..30).prop_map(|lines| lines.join("\n"))
}

/// A pod-shaped JSON value with random extra fields.
fn pod_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,10}".prop_map(Value::from),
        Just(Value::Null),
    ];
    let value = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    (
        prop::collection::vec(("[a-z]{1,6}", "[a-z./:@0-9]{1,20}", value.clone()), 0..4),
        value,
    )
        .prop_map(|(containers, extra)| {
            let containers: Vec<Value> = containers
                .into_iter()
                .map(|(name, image, extra)| {
                    serde_json::json!({"name": name, "image": image, "x-extra": extra})
                })
                .collect();
            serde_json::json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "annotations": {"x": "y"}},
                "spec": {"containers": containers, "x-extra": extra}})
        })
}

/// Every problem of a loaded source points inside it.
fn check_loaded(text: &str, loaded: &Workloads) -> Result<(), TestCaseError> {
    let lines = text.lines().count().max(1) + 1;
    for e in &loaded.diagnostics {
        if let Some(line) = e.line {
            prop_assert!(line >= 1 && line <= lines, "line {line} of {lines}: {e:?}");
        }
    }
    Ok(())
}

fn load(name: &str, text: &str) -> Workloads {
    Source::from_text(name, text).load()
}

#[test]
fn loader_reads_anything_without_panicking() {
    let rules = RuleSet::builtin();
    let policy = portcullis_engine::Policy::builder(&rules).build().unwrap();
    fuzz("loader/yaml", yamlish(), |text| {
        check_loaded(&text, &load("f.yaml", &text))?;
        // The whole pipeline: normalization and every rule.
        let _ = policy.check(&portcullis_engine::Source::from_text("f.yaml", &text));
        Ok(())
    });
}

#[test]
fn loader_reads_json_as_yaml_identically() {
    // JSON is YAML: the YAML reader must read a JSON text to what the JSON parser reads.
    fuzz("loader/json-as-yaml", pod_value(), |value| {
        let text = serde_json::to_string_pretty(&value).unwrap();
        let from_json = load("f.json", &text);
        let from_yaml = load("f.yaml", &text);
        let objects = |loaded: &Workloads| -> Vec<Value> {
            loaded.iter().map(|w| w.object().clone()).collect()
        };
        prop_assert_eq!(objects(&from_json), objects(&from_yaml));
        prop_assert_eq!(from_json.diagnostics.len(), from_yaml.diagnostics.len());
        Ok(())
    });
}

#[test]
fn loader_survives_arbitrary_bytes_and_envelopes() {
    let envelope = prop_oneof![
        "\\PC{0,200}",
        pod_value().prop_map(|pod| {
            serde_json::json!({"kind": "AdmissionReview", "request": {"uid": "u",
                "operation": "CREATE", "kind": {"kind": "Pod"}, "object": pod}})
            .to_string()
        }),
        pod_value().prop_map(|pod| {
            serde_json::json!({"kind": "List", "items": [pod.clone(), {"kind": "List", "items": [pod]}]})
                .to_string()
        }),
        prop::collection::vec(any::<u8>(), 0..200)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ];
    fuzz("loader/envelopes", envelope, |text| {
        for name in ["f.json", "f.yaml", "-"] {
            check_loaded(&text, &load(name, &text))?;
        }
        Ok(())
    });
}

// ---- The image reference parser ----

#[test]
fn image_references_parse_without_panicking_and_round_trip() {
    let reference = prop_oneof![
        "\\PC{0,100}",
        "[a-z0-9.:/@_-]{0,80}",
        (
            "([a-z0-9]{1,10}\\.[a-z]{2,5}(:[0-9]{1,5})?/)?",
            "[a-z0-9]{1,10}(/[a-z0-9._-]{1,10}){0,3}",
            "(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,20})?",
            "(@sha256:[0-9a-f]{64})?",
        )
            .prop_map(|(r, p, t, d)| format!("{r}{p}{t}{d}")),
    ];
    fuzz("image-reference", reference, |text| {
        if let Ok(parsed) = ImageRef::parse(&text) {
            // A reference that parses is read the same way from its parts.
            let mut again = parsed.name.clone();
            if let Some(tag) = &parsed.tag {
                again.push(':');
                again.push_str(tag);
            }
            if let Some(digest) = &parsed.digest {
                again.push('@');
                again.push_str(digest);
            }
            let reparsed = ImageRef::parse(&again).map_err(|e| {
                TestCaseError::fail(format!("{text:?} parsed, its parts {again:?} did not: {e}"))
            })?;
            prop_assert_eq!(&reparsed.name, &parsed.name);
            prop_assert_eq!(&reparsed.tag, &parsed.tag);
            prop_assert_eq!(&reparsed.digest, &parsed.digest);
        }
        Ok(())
    });
}

// ---- The rule sandbox ----

/// A rule body from statements that grow, split, match and loop, with hostile arguments.
fn rule_body() -> impl Strategy<Value = String> {
    let literal = prop_oneof![
        "[a-z*?\\[\\]()|.+]{0,12}",
        Just(String::new()),
        Just("a".repeat(4096)),
        Just("\\u{1F600}".into()),
    ];
    let number = prop_oneof![0i64..10, 1000i64..200_000, Just(i64::MAX), Just(-1)];
    let statement = prop_oneof![
        (literal.clone(), literal.clone())
            .prop_map(|(a, b)| format!("s.replace(\"{a}\", \"{b}\");")),
        (number.clone(), literal.clone()).prop_map(|(n, c)| format!("s.pad({n}, \"{c}\");")),
        literal
            .clone()
            .prop_map(|d| format!("let parts = s.split(\"{d}\");")),
        literal
            .clone()
            .prop_map(|r| format!("regex_match(\"{r}\", s);")),
        literal
            .clone()
            .prop_map(|g| format!("glob_match(\"{g}\", s);")),
        Just("s += s;".to_string()),
        Just("a.push(s); a += a;".to_string()),
        number.clone().prop_map(|n| format!("a.pad({n}, a);")),
        Just("m[s] = a; m += m;".to_string()),
        Just("let c = s.to_chars();".to_string()),
        number.prop_map(|n| format!("for i in 0..{n} {{ s += \"x\"; }}")),
        Just("for c in workload.containers { s += c.image.raw; }".to_string()),
    ];
    prop::collection::vec(statement, 1..12).prop_map(|statements| {
        format!(
            "let s = \"seed\"; let a = []; let m = #{{}};\n{}\n[]",
            statements.join("\n")
        )
    })
}

#[test]
fn rules_stay_inside_their_budgets() {
    // Small budgets, so that cases trip them often and each case stays short.
    let limits = Limits {
        max_operations: 20_000,
        max_string_size: 64 * 1024,
        max_array_size: 1_000,
        max_map_size: 1_000,
        max_rule_time: Some(Duration::from_millis(100)),
        ..Limits::default()
    };
    let pod = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: nginx}]\n";
    fuzz("sandbox", rule_body(), |body| {
        let mut rules = RuleSet::with_limits(&limits);
        let source = format!(
            "const META = #{{ id: \"fuzzed\", title: \"t\", severity: \"low\", remediation: \"r\" }};\nfn check(workload, settings) {{\n{body}\n}}\n"
        );
        if rules.add_source("fuzzed.rhai", &source, None).is_err() {
            return Ok(());
        }
        let policy = portcullis_engine::Policy::builder(&rules).build().unwrap();
        let report = policy.check(&portcullis_engine::Source::from_text("pod.yaml", pod));
        // The rule either ran or failed with one error; nothing else is possible.
        prop_assert!(report.errors.len() <= 1, "{:?}", report.errors);
        prop_assert_eq!(report.resources, 1);
        Ok(())
    });
}
