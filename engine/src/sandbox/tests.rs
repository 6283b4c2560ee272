//! Each sandbox limit has a rule that trips it; a tripped limit or a runtime error is an error
//! entry for that rule and resource, and the other rules still run.

use std::time::{Duration, Instant};

use crate::sandbox::Limits;
use crate::{Report, RuleSet};

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec:\n  containers: [{name: app, image: 'nginx:1.27'}]\n";

fn rule(id: &str, body: &str) -> String {
    format!(
        "const META = #{{ id: \"{id}\", title: \"t\", severity: \"low\", remediation: \"r\" }};\nfn check(workload, settings) {{\n{body}\n}}\n"
    )
}

const GOOD: &str =
    "let out = []; for c in workload.containers { out.push(finding(c, \"seen\")); } out";

/// Runs `body` as rule `bad` next to a well-behaved rule `good`.
fn run(body: &str) -> Report {
    run_with(body, &Limits::default())
}

fn run_with(body: &str, limits: &Limits) -> Report {
    let mut rules = RuleSet::with_limits(limits);
    rules
        .add_source("bad.rhai", &rule("bad", body), None)
        .unwrap();
    rules
        .add_source("good.rhai", &rule("good", GOOD), None)
        .unwrap();
    let policy = crate::Policy::builder(&rules).build().unwrap();
    policy.check(&crate::Source::from_text("pod.yaml", POD))
}

fn assert_tripped(body: &str, expected: &str) {
    // No time limit: in a debug build the operation limit takes longer than the deadline.
    let limits = Limits {
        max_rule_time: None,
        ..Limits::default()
    };
    assert_tripped_with(body, expected, &limits);
}

fn assert_tripped_with(body: &str, expected: &str, limits: &Limits) {
    let report = run_with(body, limits);
    assert_eq!(report.errors.len(), 1, "{report:?}");
    let message = &report.errors[0].message;
    assert!(
        message.contains("rule `bad` failed on Pod `shop/web`"),
        "{message}"
    );
    assert!(
        message.contains(expected),
        "expected `{expected}` in: {message}"
    );
    assert_eq!(report.errors[0].file, "pod.yaml");
    assert_eq!(report.errors[0].line, Some(1));
    assert_eq!(
        report.findings.len(),
        1,
        "the good rule still runs: {report:?}"
    );
    assert_eq!(&*report.findings[0].rule, "good");
}

#[test]
fn endless_loop_trips_the_operation_limit() {
    assert_tripped("loop { }", "operation limit");
}

#[test]
fn runaway_recursion_trips_the_call_depth_limit() {
    let mut rules = RuleSet::empty();
    let source = "const META = #{ id: \"bad\", title: \"t\", severity: \"low\", remediation: \"r\" };\nfn deeper(n) { deeper(n + 1) }\nfn check(workload, settings) { deeper(0) }\n";
    rules.add_source("bad.rhai", source, None).unwrap();
    let policy = crate::Policy::builder(&rules).build().unwrap();
    let report = policy.check(&crate::Source::from_text("pod.yaml", POD));
    assert!(
        report.errors[0].message.contains("call-depth limit"),
        "{:?}",
        report.errors
    );
}

#[test]
fn huge_string_trips_the_size_limit() {
    assert_tripped("let s = \"x\"; loop { s += s; }", "size limit");
}

#[test]
fn huge_array_trips_the_size_limit() {
    assert_tripped("let a = []; loop { a.push(1); }", "size limit");
}

#[test]
fn huge_map_trips_the_size_limit() {
    assert_tripped(
        "let m = #{}; let i = 0; loop { let one = #{}; one[`k${i}`] = i; m += one; i += 1; }",
        "size limit",
    );
}

#[test]
fn deep_expressions_are_rejected_at_compile_time() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    let mut rules = RuleSet::empty();
    let error = rules
        .add_source("deep.rhai", &rule("deep", &deep), None)
        .unwrap_err();
    assert!(
        error.message.contains("too deeply nested") || error.message.contains("Expression exceeds"),
        "{error}"
    );
}

#[test]
fn runtime_errors_name_rule_resource_and_line() {
    assert_tripped("let x = workload.containers[5].name;", "rule line");
    assert_tripped("throw \"custom failure\"", "custom failure");
    assert_tripped("42", "returned i64");
    assert_tripped("[1]", "only `finding(…)` values");
}

#[test]
fn eval_import_and_undefined_variables_are_refused() {
    let mut rules = RuleSet::empty();
    for (id, body) in [
        ("with-eval", "eval(\"1\")"),
        ("with-import", "import \"x\" as y; []"),
        ("with-undefined", "undefined_variable"),
    ] {
        assert!(
            rules.add_source(id, &rule(id, body), None).is_err(),
            "{id} compiled"
        );
    }
}

#[test]
fn no_file_network_or_time_functions_exist() {
    for call in [
        "open_file(\"/etc/passwd\")",
        "timestamp()",
        "http_get(\"x\")",
        "sleep(1)",
        "exit()",
    ] {
        // Refused when the rule loads, before anything runs.
        let mut rules = RuleSet::empty();
        let error = rules
            .add_source("bad.rhai", &rule("bad", &format!("{call}; []")), None)
            .unwrap_err();
        assert!(
            error.message.contains("unknown function"),
            "{call}: {error}"
        );
    }
}

#[test]
fn print_goes_to_the_log_not_stdout() {
    // Nothing to assert on stdout from inside the test harness; the rule must simply run.
    let report = run("print(\"hello\"); debug(\"dbg\"); []");
    assert!(report.errors.is_empty(), "{report:?}");
}

#[test]
fn missing_entry_function_and_bad_meta_are_load_errors() {
    let mut rules = RuleSet::empty();
    let e = rules
        .add_source(
            "x.rhai",
            "const META = #{ id: \"x\", title: \"t\", severity: \"low\", remediation: \"r\" };",
            None,
        )
        .unwrap_err();
    assert!(e.message.contains("fn check"), "{e}");
    let e = rules
        .add_source("x.rhai", "fn check(w, s) { [] }", None)
        .unwrap_err();
    assert!(e.message.contains("META"), "{e}");
    let e = rules
        .add_source(
            "x.rhai",
            &rule("x", "[]").replace("\"low\"", "\"urgent\""),
            None,
        )
        .unwrap_err();
    assert!(e.message.contains("urgent"), "{e}");
    let e = rules
        .add_source("x.rhai", "fn check(w, s) { [ }", None)
        .unwrap_err();
    assert_eq!(
        (e.line, e.message.starts_with("syntax error")),
        (Some(1), true),
        "{e}"
    );
}

#[test]
fn duplicate_rule_ids_are_refused_naming_both_files() {
    let mut rules = RuleSet::builtin();
    let e = rules
        .add_source("mine/latest-tag.rhai", &rule("latest-tag", "[]"), None)
        .unwrap_err();
    assert!(
        e.to_string().contains("mine/latest-tag.rhai")
            && e.message.contains("builtin:latest-tag.rhai"),
        "{e}"
    );
}

#[test]
fn too_many_variables_trips_the_variable_limit() {
    let lets: String = (0..1_100).map(|i| format!("let v{i} = {i};\n")).collect();
    assert_tripped(&format!("{lets}[]"), "variable limit");
}

// ---- Budgets that hold before allocation (issue 10) ----

/// A 1 MiB string of `a` and a 16 KiB string of `b`, then `body`.
fn with_big_strings(body: &str) -> String {
    format!("let s = \"\"; s.pad(1048000, 'a'); let t = \"\"; t.pad(16384, 'b'); {body}")
}

#[test]
fn replace_that_would_outgrow_the_string_limit_fails_before_allocating() {
    // Unchecked, this builds a 16 GiB string and the process aborts.
    assert_tripped(&with_big_strings("s.replace(\"a\", t); []"), "size limit");
    assert_tripped(&with_big_strings("s.replace('a', t); []"), "size limit");
    // Within the limit it still works.
    let report =
        run("let s = \"banana\"; s.replace(\"an\", \"AN\"); if s != \"bANANa\" { throw s; } []");
    assert!(report.errors.is_empty(), "{report:?}");
}

#[test]
fn pad_and_split_check_their_result_first() {
    // 1 MiB characters of 4 bytes each would be 4 MiB.
    assert_tripped(
        "let s = \"\"; s.pad(1000000, '\u{1F600}'); []",
        "size limit",
    );
    assert_tripped(
        "let s = \"\"; s.pad(1000000, \"\u{1F600}x\"); []",
        "size limit",
    );
    // A million one-character pieces are far over the array limit.
    assert_tripped(
        &with_big_strings("let parts = s.split(\"\"); []"),
        "size limit",
    );
    assert_tripped(
        &with_big_strings("let parts = s.split('a'); []"),
        "size limit",
    );
    assert_tripped(
        &with_big_strings("let parts = s.to_chars(); []"),
        "size limit",
    );
    let report = run(
        "let p = \"a,b,,c\".split(\",\"); if p.len() != 4 { throw p; } let q = \"x\".split(\"\"); if q.len() != 3 { throw q; } []",
    );
    assert!(report.errors.is_empty(), "{report:?}");
}

#[test]
fn array_padding_cannot_overflow_its_size_check() {
    // Found by tests/fuzz.rs: Rhai's own check multiplied without overflow checks.
    assert_tripped(
        "let a = [1]; a.pad(9223372036854775807, a); []",
        "size limit",
    );
    assert_tripped("let a = [\"x\"]; a.pad(1000000, \"y\"); []", "size limit");
    let report = run("let a = [1]; a.pad(3, 0); if a != [1, 0, 0] { throw a; } []");
    assert!(report.errors.is_empty(), "{report:?}");
}

#[test]
fn slow_rules_hit_the_time_limit() {
    // Regex scans of a 768 KiB string: few operations (150,000 of the 500,000 allowed), but
    // seconds of work per workload before the deadline existed.
    let limits = Limits {
        max_rule_time: Some(Duration::from_millis(50)),
        ..Limits::default()
    };
    let body = "let s = \"\"; s.pad(786432, 'a'); for i in 0..50000 { regex_match(\"x\", s); } []";
    let started = Instant::now();
    assert_tripped_with(body, "time limit for one rule on one workload", &limits);
    // Not a timing assertion on the rule: it must simply not have run all 40 scans for
    // minutes. The bound is generous for slow machines.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn the_time_limit_applies_per_workload() {
    let limits = Limits {
        max_rule_time: Some(Duration::from_millis(50)),
        ..Limits::default()
    };
    let mut rules = RuleSet::with_limits(&limits);
    rules
        .add_source("bad.rhai", &rule("bad", "loop { }"), None)
        .unwrap();
    let policy = crate::Policy::builder(&rules).build().unwrap();
    let pods: String = (0..3)
        .map(|i| POD.replace("name: web", &format!("name: web{i}")) + "---\n")
        .collect();
    let report = policy.check(&crate::Source::from_text("pods.yaml", &pods));
    assert_eq!(report.errors.len(), 3, "{report:?}");
}

#[test]
fn a_stopped_rule_set_ends_running_evaluations() {
    let limits = Limits {
        max_rule_time: None,
        max_operations: 0,
        ..Limits::default()
    };
    let mut rules = RuleSet::with_limits(&limits);
    rules
        .add_source("bad.rhai", &rule("bad", "loop { }"), None)
        .unwrap();
    let stop = rules.stop_handle().clone();
    let policy = crate::Policy::builder(&rules).build().unwrap();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stop.stop();
    });
    // Without a stop, this loop has neither an operation nor a time limit.
    let report = policy.check(&crate::Source::from_text("pod.yaml", POD));
    stopper.join().unwrap();
    assert!(
        report.errors[0].message.contains("stopped"),
        "{:?}",
        report.errors
    );
}

#[test]
fn rule_files_are_bounded_before_they_compile() {
    let mut rules = RuleSet::empty();
    let functions: String = (0..1_001)
        .map(|i| format!("fn f{i}() {{ {i} }}\n"))
        .collect();
    let e = rules
        .add_source(
            "many.rhai",
            &format!("{functions}{}", rule("many", "[]")),
            None,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("at most 1000 functions") && e.line == Some(1001),
        "{e}"
    );
    let huge = format!("{}// {}\n", rule("huge", "[]"), "x".repeat(2 << 20));
    let e = rules.add_source("huge.rhai", &huge, None).unwrap_err();
    assert!(e.message.contains("over the 1024 KiB limit"), "{e}");
}
