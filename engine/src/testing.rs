//! Rule tests: the runner behind `cargo test` for the default pack and for users' own rules.
//!
//! A test file sits next to its rule as `<rule-id>.tests.yaml`:
//!
//! ```yaml
//! cases:
//!   - name: untagged image fails
//!     manifest: |               # inline YAML or JSON (one or more documents) ...
//!       kind: Pod
//!       metadata: {name: web}
//!       spec:
//!         containers: [{name: app, image: nginx}]
//!     expect:
//!       - {container: app}      # message, resource ("Kind/name") and rule are optional
//!   - name: pinned image passes
//!     file: fixtures/pinned.yaml   # ... or a file, relative to this test file
//!     settings: {disallowed-tags: [latest, dev]}
//!     expect: []
//! ```
//!
//! A case can give image facts for `c.image.facts`: `facts:` maps digests to image facts as
//! in a facts file's `images`, or `facts_file:` names a facts file (relative to the test file).
//!
//! A case can check a Dockerfile instead of manifests: `dockerfile:` holds it inline (or
//! `file:` names one, `Dockerfile`, `*.Dockerfile`, …), `build_args:` gives `--build-arg`
//! values, and an expected finding may give the `line` it points at:
//!
//! ```yaml
//!   - name: untagged base fails
//!     dockerfile: |
//!       FROM golang AS build
//!       FROM gcr.io/distroless/static:nonroot
//!     expect:
//!       - {container: build, line: 1, path: "stages[0].from"}
//! ```
//!
//! Each case runs only the rule under test, with the given settings over its defaults, and
//! must produce exactly the expected findings (as a multiset).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::config::{Config, Date, RuleConfig};
use crate::finding::Finding;
use crate::rules::RuleSet;
use crate::{Policy, Selection};

/// Suffix of rule test files.
pub const TEST_FILE_SUFFIX: &str = ".tests.yaml";

/// The default pack's test files (`<id>.tests.yaml`, file name and text), embedded so that
/// the binary can test itself.
pub fn builtin_test_files() -> &'static [(&'static str, &'static str)] {
    crate::rules::BUILTIN_RULE_TESTS
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    cases: Vec<TestCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    #[serde(default)]
    manifest: Option<String>,
    #[serde(default)]
    file: Option<PathBuf>,
    /// A Dockerfile, inline.
    #[serde(default)]
    dockerfile: Option<String>,
    /// `--build-arg` values for a Dockerfile.
    #[serde(default)]
    build_args: BTreeMap<String, String>,
    #[serde(default)]
    settings: BTreeMap<String, Value>,
    expect: Vec<ExpectedFinding>,
    /// Substrings of errors the case must produce (e.g. for broken input).
    #[serde(default)]
    expect_errors: Vec<String>,
    /// Image facts by digest, as in a facts file's `images`.
    #[serde(default)]
    facts: Option<BTreeMap<String, crate::facts::ImageFacts>>,
    /// A facts file, relative to the test file.
    #[serde(default)]
    facts_file: Option<PathBuf>,
}

/// One finding a case expects. Unset fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    /// The rule; the file's rule when unset.
    #[serde(default)]
    pub rule: Option<String>,
    /// `Kind/name` of the resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Container name; `~` (null) for a workload-level finding.
    pub container: Option<String>,
    /// The whole message.
    #[serde(default)]
    pub message: Option<String>,
    /// The finding's field path, e.g. `spec.containers[0].image`.
    #[serde(default)]
    pub path: Option<String>,
    /// The line the finding points at (Dockerfiles).
    #[serde(default)]
    pub line: Option<usize>,
}

impl ExpectedFinding {
    fn matches(&self, finding: &Finding, default_rule: &str) -> bool {
        self.rule.as_deref().unwrap_or(default_rule) == &*finding.rule
            && self.resource.as_ref().is_none_or(|r| {
                *r == format!("{}/{}", finding.resource.kind, finding.resource.name)
            })
            && self.container == finding.container
            && self.message.as_ref().is_none_or(|m| *m == finding.message)
            && self.path.as_ref().is_none_or(|p| *p == finding.path)
            && self.line.is_none_or(|l| Some(l) == finding.line)
    }
}

impl fmt::Display for ExpectedFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rule.as_deref().unwrap_or("(this rule)"))?;
        if let Some(resource) = &self.resource {
            write!(f, " on {resource}")?;
        }
        match &self.container {
            Some(c) => write!(f, " container `{c}`")?,
            None => write!(f, " (workload)")?,
        }
        if let Some(path) = &self.path {
            write!(f, " at {path}")?;
        }
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

/// A test file that cannot be run: unreadable, not valid YAML, or naming no loaded rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFileError {
    /// The test file.
    pub file: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl TestFileError {
    fn new(path: &Path, message: impl Into<String>) -> TestFileError {
        TestFileError {
            file: path.display().to_string(),
            line: None,
            column: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for TestFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The result of one test case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// The case's `name`.
    pub name: String,
    /// Expected findings that occurred.
    pub matched: Vec<String>,
    /// Expected findings that did not occur.
    pub missing: Vec<String>,
    /// Findings that occurred but were not expected.
    pub unexpected: Vec<String>,
    /// Errors the case did not expect, and expected errors that did not occur.
    pub error_mismatches: Vec<String>,
    /// The rule's own failures at run time among the unexpected errors, with where in
    /// the rule (for a code frame).
    pub rule_failures: Vec<crate::Diagnostic>,
}

impl CaseOutcome {
    /// Whether the case got what it expected.
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.error_mismatches.is_empty()
    }
}

/// The results of one test file.
#[derive(Debug, Clone)]
pub struct FileOutcome {
    /// The test file.
    pub path: PathBuf,
    /// The rule it tests.
    pub rule: String,
    /// Its cases, in file order.
    pub cases: Vec<CaseOutcome>,
}

/// The rule id a test file is for: `rules/latest-tag.tests.yaml` -> `latest-tag`.
pub fn rule_id_of(path: &Path) -> Option<&str> {
    path.file_name()?.to_str()?.strip_suffix(TEST_FILE_SUFFIX)
}

/// Test files in `dir` (not recursive), sorted.
pub fn find_test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| rule_id_of(p).is_some())
        .collect();
    files.sort();
    Ok(files)
}

/// Runs every case of one test file against `rules`.
pub fn run_test_file(rules: &RuleSet, path: &Path) -> Result<FileOutcome, TestFileError> {
    let text = crate::files::read_text(
        path,
        crate::files::MAX_RULE_TEST_BYTES,
        crate::files::Origin::Found,
    )
    .map_err(|e| TestFileError::new(path, e.to_string()))?;
    run_test_source(rules, path, &text)
}

/// Runs the cases in `text`, the contents of the test file `path`. Files named by cases
/// are read relative to `path`'s directory.
pub fn run_test_source(
    rules: &RuleSet,
    path: &Path,
    text: &str,
) -> Result<FileOutcome, TestFileError> {
    let rule = rule_id_of(path)
        .ok_or_else(|| {
            TestFileError::new(
                path,
                format!("test files are named `<rule-id>{TEST_FILE_SUFFIX}`"),
            )
        })?
        .to_string();
    if rules.get(&rule).is_none() {
        return Err(TestFileError::new(
            path,
            format!("no rule `{rule}` is loaded for this test file"),
        ));
    }
    let file: TestFile = serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        let message = e.to_string();
        // The location is in the fields; keep the message about what is wrong.
        let message = message.split(" at line ").next().unwrap_or(&message);
        TestFileError {
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            ..TestFileError::new(path, format!("invalid test file: {message}"))
        }
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut cases = Vec::new();
    for case in file.cases {
        let inline_at = case
            .manifest
            .as_deref()
            .and_then(|m| inline_manifest_line(text, &case.name, m));
        cases.push(
            run_case(rules, &rule, path, base, case, inline_at)
                .map_err(|message| TestFileError::new(path, message))?,
        );
    }
    Ok(FileOutcome {
        path: path.to_path_buf(),
        rule,
        cases,
    })
}

/// The line of the test file where an inline manifest starts, so that errors in it name
/// test-file lines: the first line after the case's `name:` that holds the manifest's first
/// line.
fn inline_manifest_line(file_text: &str, case_name: &str, manifest: &str) -> Option<usize> {
    let first = manifest.lines().find(|l| !l.trim().is_empty())?.trim();
    let lines: Vec<&str> = file_text.lines().collect();
    let name_line = lines.iter().position(|l| {
        let l = l.trim_start().trim_start_matches("- ").trim_start();
        l.strip_prefix("name:")
            .map(|rest| rest.trim().trim_matches(|c| c == '"' || c == '\'') == case_name)
            .unwrap_or(false)
    })?;
    let offset = lines[name_line..].iter().position(|l| l.trim() == first)?;
    // The manifest's own leading blank lines come before its first line.
    let leading = manifest.lines().take_while(|l| l.trim().is_empty()).count();
    Some(name_line + offset + 1 - leading)
}

fn run_case(
    rules: &RuleSet,
    rule: &str,
    test_file: &Path,
    base: &Path,
    case: TestCase,
    inline_at: Option<usize>,
) -> Result<CaseOutcome, String> {
    let name = case.name.clone();
    let (source_name, text) = match (&case.manifest, &case.file, &case.dockerfile) {
        // Lines of a Dockerfile are its own: findings name them.
        (None, None, Some(dockerfile)) => (
            format!("{} (case `{name}`)", test_file.display()),
            dockerfile.clone(),
        ),
        // Padded with blank lines so that line numbers in errors are the test file's.
        (Some(manifest), None, None) => match inline_at {
            Some(line) => (
                test_file.display().to_string(),
                "\n".repeat(line.saturating_sub(1)) + manifest.as_str(),
            ),
            None => (
                format!("{} (case `{name}`)", test_file.display()),
                manifest.clone(),
            ),
        },
        (None, Some(file), None) => {
            let path = base.join(file);
            let text = crate::files::read_text(
                &path,
                crate::files::MAX_MANIFEST_BYTES,
                crate::files::Origin::Found,
            )
            .map_err(|e| format!("case `{name}`: reading {}: {e}", path.display()))?;
            (path.display().to_string(), text)
        }
        _ => {
            return Err(format!(
                "case `{name}` needs exactly one of `manifest`, `dockerfile` or `file`"
            ));
        }
    };
    let mut config = Config::default();
    config.rules.insert(
        rule.to_string(),
        RuleConfig {
            settings: case.settings.clone(),
            ..RuleConfig::default()
        },
    );
    let built = Policy::builder(rules)
        .config(config)
        .selection(Selection::only([rule]))
        .today(Date::today())
        .build();
    let mut policy = match built {
        Ok(policy) => policy,
        // A case about bad settings expects them as errors, and no findings.
        Err(errors) if !case.expect_errors.is_empty() && case.expect.is_empty() => {
            let messages: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            return Ok(CaseOutcome {
                name,
                matched: Vec::new(),
                missing: Vec::new(),
                unexpected: Vec::new(),
                error_mismatches: error_mismatches(&case.expect_errors, &messages),
                rule_failures: Vec::new(),
            });
        }
        Err(errors) => {
            let messages: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            return Err(format!("case `{name}`: {}", messages.join("; ")));
        }
    };
    let facts = match (case.facts, &case.facts_file) {
        (None, None) => None,
        (Some(images), None) => Some(crate::facts::FactsFile {
            images,
            ..crate::facts::FactsFile::default()
        }),
        (None, Some(file)) => {
            let path = base.join(file);
            let text = crate::files::read_text(
                &path,
                crate::files::MAX_FACTS_BYTES,
                crate::files::Origin::Found,
            )
            .map_err(|e| format!("case `{name}`: reading {}: {e}", path.display()))?;
            Some(
                crate::facts::FactsFile::parse(&text)
                    .map_err(|e| format!("case `{name}`: {}: {e}", path.display()))?,
            )
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "case `{name}` has both `facts` and `facts_file`; give one"
            ));
        }
    };
    if let Some(facts) = facts {
        for digest in facts.images.keys() {
            if !crate::facts::is_digest(digest) {
                return Err(format!(
                    "case `{name}`: facts key `{digest}` is not a digest (`sha256:<64 hex>`)"
                ));
            }
        }
        policy.set_image_facts(facts);
    }
    let mut source = crate::source::Source::from_text(source_name.clone(), text)
        .with_build_args(case.build_args.clone());
    if case.dockerfile.is_some() {
        source = source.with_format(crate::source::Format::Dockerfile);
    }
    let loaded = source.load();
    let report = policy.check_workloads(&loaded);
    let container_names: std::collections::BTreeSet<&str> = loaded
        .iter()
        .flat_map(|w| w.containers.iter().map(|c| c.name.as_str()))
        .collect();
    let mut unmatched: Vec<&Finding> = report.findings.iter().collect();
    let mut missing = Vec::new();
    let mut matched = Vec::new();
    for expected in &case.expect {
        match unmatched.iter().position(|f| expected.matches(f, rule)) {
            Some(i) => {
                matched.push(describe_finding(unmatched.remove(i)));
            }
            None => missing.push(match &expected.container {
                Some(container) if !container_names.contains(container.as_str()) => {
                    format!("{expected} (the manifest has no container `{container}`)")
                }
                _ => expected.to_string(),
            }),
        }
    }
    let unexpected = unmatched.iter().map(|f| describe_finding(f)).collect();

    let messages: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    let rule_failures = report
        .errors
        .iter()
        .filter(|e| e.rule_site.is_some())
        .filter(|e| {
            let text = e.to_string();
            !case.expect_errors.iter().any(|w| text.contains(w.as_str()))
        })
        .cloned()
        .collect();
    Ok(CaseOutcome {
        name,
        matched,
        missing,
        unexpected,
        error_mismatches: error_mismatches(&case.expect_errors, &messages),
        rule_failures,
    })
}

/// Expected error substrings that no error contains, and errors no substring expects.
fn error_mismatches(expected: &[String], errors: &[String]) -> Vec<String> {
    let mut mismatches = Vec::new();
    for wanted in expected {
        if !errors.iter().any(|e| e.contains(wanted.as_str())) {
            mismatches.push(format!("expected an error containing `{wanted}`"));
        }
    }
    for error in errors {
        if !expected.iter().any(|w| error.contains(w.as_str())) {
            mismatches.push(format!("unexpected error: {error}"));
        }
    }
    mismatches
}

fn describe_finding(f: &Finding) -> String {
    let container = match &f.container {
        Some(c) => format!(" container `{c}`"),
        None => " (workload)".to_string(),
    };
    let line = f.line.map(|l| format!(" (line {l})")).unwrap_or_default();
    format!(
        "{} on {}/{}{container} at {}{line}: {}",
        f.rule, f.resource.kind, f.resource.name, f.path, f.message
    )
}
