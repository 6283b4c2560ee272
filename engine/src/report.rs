//! Findings, errors and the report that collects them. Findings are data, not errors; the
//! CLI renders a [`Report`] as text, and as JSON, SARIF ([`sarif`]) or JUnit XML ([`junit`])
//! with the writers here.

pub mod junit;
pub mod sarif;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// How serious a finding is. Ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|sev| sev.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown severity `{s}`; expected one of: info, low, medium, high, critical"
                )
            })
    }
}

/// The workload a finding is about, and where it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub document: usize,
    pub line: usize,
}

/// One rule violation on one container (or on the workload as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Arc<str>,
    pub severity: Severity,
    pub message: String,
    /// Shared by every finding of the rule.
    pub remediation: Arc<str>,
    /// Shared by every finding on the resource.
    pub resource: Arc<ResourceRef>,
    pub container: Option<String>,
    pub path: String,
    /// Why the finding is exempted; exempted findings are not failures.
    #[serde(skip)]
    pub exemption: Option<AppliedExemption>,
}

/// The exemption that waived a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedExemption {
    pub reason: String,
    pub source: ExemptionSource,
}

/// Where an exemption is written. SARIF tells the two apart (`inSource` / `external`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExemptionSource {
    /// The `portcullis.dev/exempt` annotation on the resource itself.
    Annotation,
    /// Entry `index` (0-based) of the configuration's `exemptions`.
    Config { index: usize },
}

impl Finding {
    fn sort_key(&self) -> (&str, usize, &str, Option<&str>, &str, &str) {
        (
            &self.resource.file,
            self.resource.document,
            &self.rule,
            self.container.as_deref(),
            &self.path,
            &self.message,
        )
    }
}

/// Input, configuration or rule-evaluation trouble. `document` and `line` are known for
/// anything tied to a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    pub file: String,
    pub document: Option<usize>,
    pub line: Option<usize>,
    pub message: String,
    /// The rule that failed, when a rule failed on the resource at `document`; SARIF and
    /// JUnit attach the error to that rule.
    #[serde(skip)]
    pub rule: Option<Arc<str>>,
    /// For a rule that failed while running: where in the rule, so front ends can show the
    /// offending code. Not part of the JSON report (the message already names the line).
    #[serde(skip)]
    pub rule_site: Option<Box<RuleSite>>,
}

/// A position in a rule's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSite {
    pub rule: String,
    /// The rule's origin: a file path, or `builtin:<file>`.
    pub origin: String,
    pub line: usize,
    pub column: usize,
}

impl InputError {
    pub fn new(
        file: impl Into<String>,
        document: Option<usize>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> InputError {
        InputError {
            file: file.into(),
            document,
            line,
            message: message.into(),
            rule: None,
            rule_site: None,
        }
    }

    /// The same error, attributed to `rule`.
    pub fn with_rule(mut self, rule: Arc<str>) -> InputError {
        self.rule = Some(rule);
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(document) = self.document {
            // People count documents from 1; the JSON `document` field is a 0-based index.
            write!(f, " (document {})", document + 1)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Counts for the one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Workloads evaluated.
    pub resources: usize,
    /// Documents that carry no pod (Services, ConfigMaps, DELETE requests, …).
    pub skipped: usize,
    pub findings: usize,
    pub exempted: usize,
    pub errors: usize,
}

/// Everything one check produced, in deterministic order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings that count, sorted by file, document, rule and container.
    pub findings: Vec<Finding>,
    /// Findings waived by an exemption, in the same order.
    pub exempted: Vec<Finding>,
    pub errors: Vec<InputError>,
    pub resources: usize,
    pub skipped: usize,
    /// Every workload evaluated, sorted like findings; filled only when the policy was
    /// asked to ([`crate::Policy::record_resources`]), as only JUnit output needs it.
    pub checked_resources: Vec<Arc<ResourceRef>>,
}

impl Report {
    /// Adds a finding to the right list.
    pub fn push_finding(&mut self, finding: Finding) {
        if finding.exemption.is_some() {
            self.exempted.push(finding);
        } else {
            self.findings.push(finding);
        }
    }

    /// Concatenates reports in order, allocating once.
    pub fn concat(reports: Vec<Report>) -> Report {
        let mut out = Report::default();
        out.findings
            .reserve(reports.iter().map(|r| r.findings.len()).sum());
        out.exempted
            .reserve(reports.iter().map(|r| r.exempted.len()).sum());
        out.errors
            .reserve(reports.iter().map(|r| r.errors.len()).sum());
        out.checked_resources
            .reserve(reports.iter().map(|r| r.checked_resources.len()).sum());
        for report in reports {
            out.merge(report);
        }
        out
    }

    /// Appends another report (e.g. of the next file).
    pub fn merge(&mut self, other: Report) {
        self.findings.extend(other.findings);
        self.exempted.extend(other.exempted);
        self.errors.extend(other.errors);
        self.checked_resources.extend(other.checked_resources);
        self.resources += other.resources;
        self.skipped += other.skipped;
    }

    /// Puts findings and errors in their documented order. Stable, so equal keys keep
    /// source order.
    pub fn sort(&mut self) {
        self.findings
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.exempted
            .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.errors
            .sort_by(|a, b| (&a.file, a.document, a.line).cmp(&(&b.file, b.document, b.line)));
        self.checked_resources
            .sort_by(|a, b| (&a.file, a.document).cmp(&(&b.file, b.document)));
    }

    pub fn summary(&self) -> Summary {
        Summary {
            resources: self.resources,
            skipped: self.skipped,
            findings: self.findings.len(),
            exempted: self.exempted.len(),
            errors: self.errors.len(),
        }
    }

    /// The most severe finding that counts, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Writes the report as the CLI's JSON document: `{"findings":[…],"errors":[…],
    /// "summary":{…}}`, keys in that order.
    pub fn write_json(&self, out: impl std::io::Write) -> std::io::Result<()> {
        #[derive(Serialize)]
        struct Json<'a> {
            findings: &'a [Finding],
            errors: &'a [InputError],
            summary: Summary,
        }
        let json = Json {
            findings: &self.findings,
            errors: &self.errors,
            summary: self.summary(),
        };
        serde_json::to_writer_pretty(out, &json).map_err(std::io::Error::from)
    }

    /// Writes the report as a SARIF 2.1.0 log; `rules` are the rules that ran
    /// ([`crate::Policy::enabled_rules`]). See [`sarif`].
    pub fn write_sarif(
        &self,
        rules: &[crate::EnabledRule],
        out: impl std::io::Write,
    ) -> std::io::Result<()> {
        sarif::write(self, rules, out)
    }

    /// Writes the report as JUnit XML, a test case per resource and rule that ran. Passing
    /// pairs are listed only for resources in [`Report::checked_resources`]. See [`junit`].
    pub fn write_junit(
        &self,
        rules: &[crate::EnabledRule],
        out: impl std::io::Write,
    ) -> std::io::Result<()> {
        junit::write(self, rules, out)
    }
}
