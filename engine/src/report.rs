//! Findings, errors and the report that collects them. Findings are data, not errors; the
//! CLI renders a [`Report`] as text, and as JSON, SARIF ([`sarif`]) or JUnit XML ([`junit`])
//! with the writers here.

pub mod junit;
pub mod sarif;

use std::sync::Arc;

use serde::Serialize;

use crate::diagnostic::Diagnostic;
use crate::finding::{Finding, ResourceRef};
use crate::severity::Severity;

/// Counts for the one-line summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Workloads evaluated.
    pub resources: usize,
    /// Documents that carry no pod (Services, ConfigMaps, DELETE requests, …).
    pub skipped: usize,
    /// Findings that count.
    pub findings: usize,
    /// Findings waived by an exemption.
    pub exempted: usize,
    /// Input, configuration and rule problems.
    pub errors: usize,
}

/// Everything one check produced, in deterministic order.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings that count, sorted by file, document, `List` item, rule and container.
    pub findings: Vec<Finding>,
    /// Findings waived by an exemption, in the same order.
    pub exempted: Vec<Finding>,
    /// Input, configuration and rule problems; any of them makes a run fail (exit 2).
    pub errors: Vec<Diagnostic>,
    /// Workloads evaluated.
    pub resources: usize,
    /// Documents that carry no pod.
    pub skipped: usize,
    /// Every workload evaluated, sorted like findings; filled only when the policy was
    /// built to ([`crate::PolicyBuilder::record_resources`]), as only JUnit output needs it.
    pub checked_resources: Vec<Arc<ResourceRef>>,
    /// (resource, rule) pairs where the rule found nothing but asked for image facts that
    /// were missing: not a pass. Filled only alongside `checked_resources`.
    pub undecided: Vec<(Arc<ResourceRef>, Arc<str>)>,
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
        self.undecided.extend(other.undecided);
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
            .sort_by(|a, b| (&a.file, a.document, a.item).cmp(&(&b.file, b.document, b.item)));
    }

    /// The counts of the one-line summary.
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
            errors: &'a [Diagnostic],
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
        rules: &[crate::rules::EnabledRule],
        out: impl std::io::Write,
    ) -> std::io::Result<()> {
        sarif::write(self, rules, out)
    }

    /// Writes the report as JUnit XML, a test case per resource and rule that ran. Passing
    /// pairs are listed only for resources in [`Report::checked_resources`]. See [`junit`].
    pub fn write_junit(
        &self,
        rules: &[crate::rules::EnabledRule],
        out: impl std::io::Write,
    ) -> std::io::Result<()> {
        junit::write(self, rules, out)
    }
}
