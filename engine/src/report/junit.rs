//! JUnit XML output, for GitLab's `artifacts:reports:junit`, Jenkins' `junit` step and other
//! test-report viewers.
//!
//! One `<testsuite>` per input file and one `<testcase>` per (resource, rule) that ran on it:
//! `classname` is the resource (`Deployment/shop/api`), `name` the rule id. A pair with
//! findings fails (`<failure type="SEVERITY">`, every finding in the body); a pair whose
//! findings are all exempted is `<skipped>` with the reason; a rule that failed to run is an
//! `<error>`. Input errors not tied to a rule are test cases of their own with an `<error>`.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write;

use quick_xml::Writer;
use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesText, Event};

use super::Report;
use crate::diagnostic::Diagnostic;
use crate::finding::{Finding, ResourceRef};
use crate::rules::EnabledRule;
use crate::severity::Severity;

enum Outcome<'a> {
    Pass,
    Failure {
        severity: Severity,
        findings: Vec<&'a Finding>,
    },
    Skipped {
        exempted: Vec<&'a Finding>,
    },
    /// The rule found nothing, but had no image facts to decide on.
    Undecided,
    Error {
        error: &'a Diagnostic,
        kind: &'static str,
    },
}

struct Case<'a> {
    classname: Cow<'a, str>,
    name: Cow<'a, str>,
    file: &'a str,
    line: Option<usize>,
    outcome: Outcome<'a>,
}

#[derive(Default)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn add(&mut self, case: &Case<'_>) {
        self.tests += 1;
        match case.outcome {
            Outcome::Pass => {}
            Outcome::Failure { .. } => self.failures += 1,
            Outcome::Skipped { .. } | Outcome::Undecided => self.skipped += 1,
            Outcome::Error { .. } => self.errors += 1,
        }
    }

    fn attributes(&self) -> [(&'static str, String); 4] {
        [
            ("tests", self.tests.to_string()),
            ("failures", self.failures.to_string()),
            ("errors", self.errors.to_string()),
            ("skipped", self.skipped.to_string()),
        ]
    }
}

/// What identifies a resource within a report; also its output order.
type ResourceKey<'a> = (&'a str, usize, usize, &'a str, &'a str, &'a str);

fn resource_key(r: &ResourceRef) -> ResourceKey<'_> {
    (&r.file, r.document, r.line, &r.kind, &r.namespace, &r.name)
}

/// Findings of one rule on one resource: (counted, exempted).
type Pair<'a> = (Vec<&'a Finding>, Vec<&'a Finding>);

/// Writes `report` as JUnit XML. `rules` are the rules that ran on every resource; the
/// resources are [`Report::checked_resources`] plus any that have findings, so a report
/// from a policy that did not record resources lists only those with findings.
pub(super) fn write(
    report: &Report,
    rules: &[EnabledRule],
    out: impl Write,
) -> std::io::Result<()> {
    let enabled: BTreeSet<&str> = rules.iter().map(|r| r.rule.meta.id.as_str()).collect();

    let mut by_resource: BTreeMap<ResourceKey<'_>, BTreeMap<&str, Pair<'_>>> = BTreeMap::new();
    for resource in &report.checked_resources {
        by_resource.entry(resource_key(resource)).or_default();
    }
    for finding in &report.findings {
        let pairs = by_resource
            .entry(resource_key(&finding.resource))
            .or_default();
        pairs.entry(&finding.rule).or_default().0.push(finding);
    }
    for finding in &report.exempted {
        let pairs = by_resource
            .entry(resource_key(&finding.resource))
            .or_default();
        pairs.entry(&finding.rule).or_default().1.push(finding);
    }

    // A rule failure belongs to its (resource, rule) test case, found by the resource's
    // position; other errors are test cases of their own.
    let positions: HashSet<(&str, usize, usize)> = by_resource
        .keys()
        .map(|&(file, document, line, ..)| (file, document, line))
        .collect();
    let mut rule_errors: HashMap<(&str, usize, usize, &str), &Diagnostic> = HashMap::new();
    let mut input_errors: Vec<&Diagnostic> = Vec::new();
    for error in &report.errors {
        match (&error.rule, error.document, error.line) {
            (Some(rule), Some(document), Some(line))
                if positions.contains(&(error.file.as_str(), document, line)) =>
            {
                rule_errors.insert((&error.file, document, line, rule), error);
            }
            _ => input_errors.push(error),
        }
    }

    let undecided: HashSet<(&str, usize, usize, &str)> = report
        .undecided
        .iter()
        .map(|(r, rule)| (r.file.as_str(), r.document, r.line, &**rule))
        .collect();

    let mut suites: BTreeMap<&str, Vec<Case<'_>>> = BTreeMap::new();
    for (key, mut pairs) in by_resource {
        let (file, document, line, kind, namespace, name) = key;
        let ids: BTreeSet<&str> = enabled
            .iter()
            .copied()
            .chain(pairs.keys().copied())
            .collect();
        let cases = suites.entry(file).or_default();
        for id in ids {
            let (counted, exempted) = pairs.remove(id).unwrap_or_default();
            let outcome = if let Some(&error) = rule_errors.get(&(file, document, line, id)) {
                Outcome::Error {
                    error,
                    kind: "rule-error",
                }
            } else if !counted.is_empty() {
                let severity = counted
                    .iter()
                    .map(|f| f.severity)
                    .max()
                    .unwrap_or(Severity::Info);
                let mut findings = counted;
                findings.extend(exempted);
                Outcome::Failure { severity, findings }
            } else if !exempted.is_empty() {
                Outcome::Skipped { exempted }
            } else if undecided.contains(&(file, document, line, id)) {
                Outcome::Undecided
            } else {
                Outcome::Pass
            };
            cases.push(Case {
                classname: format!("{kind}/{namespace}/{name}").into(),
                name: id.into(),
                file,
                line: Some(line),
                outcome,
            });
        }
    }
    for error in input_errors {
        let name = match (error.document, error.line) {
            (Some(document), Some(line)) => format!("document {document}, line {line}"),
            (Some(document), None) => format!("document {document}"),
            (None, Some(line)) => format!("line {line}"),
            (None, None) => "file".to_string(),
        };
        suites.entry(&error.file).or_default().push(Case {
            classname: error.file.as_str().into(),
            name: name.into(),
            file: &error.file,
            line: error.line,
            outcome: Outcome::Error {
                error,
                kind: "input-error",
            },
        });
    }

    let mut total = Counts::default();
    let suites: Vec<(&str, Vec<Case<'_>>, Counts)> = suites
        .into_iter()
        .map(|(file, cases)| {
            let mut counts = Counts::default();
            for case in &cases {
                counts.add(case);
                total.add(case);
            }
            (file, cases, counts)
        })
        .collect();

    let mut writer = Writer::new_with_indent(out, b' ', 2);
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let root = writer
        .create_element("testsuites")
        .with_attribute(("name", "portcullis"))
        .with_attributes(total.attributes().iter().map(|(k, v)| (*k, v.as_str())));
    if suites.is_empty() {
        root.write_empty()?;
    } else {
        root.write_inner_content(|writer| {
            for (file, cases, counts) in &suites {
                writer
                    .create_element("testsuite")
                    .with_attribute(("name", &*xml_safe(file)))
                    .with_attributes(counts.attributes().iter().map(|(k, v)| (*k, v.as_str())))
                    .write_inner_content(|writer| {
                        for case in cases {
                            write_case(writer, case)?;
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn write_case<W: Write>(writer: &mut Writer<W>, case: &Case<'_>) -> std::io::Result<()> {
    let line = case.line.map(|line| line.to_string());
    let mut element = writer
        .create_element("testcase")
        .with_attribute(("name", &*xml_safe(&case.name)))
        .with_attribute(("classname", &*xml_safe(&case.classname)))
        .with_attribute(("file", &*xml_safe(case.file)));
    if let Some(line) = &line {
        element = element.with_attribute(("line", line.as_str()));
    }
    let (tag, message, kind, body) = match &case.outcome {
        Outcome::Pass => {
            element.write_empty()?;
            return Ok(());
        }
        Outcome::Failure { severity, findings } => {
            let message = findings
                .iter()
                .filter(|f| f.exemption.is_none())
                .map(|f| subject_and_message(f))
                .collect::<Vec<_>>()
                .join("; ");
            (
                "failure",
                message,
                Some(severity.as_str()),
                details(findings),
            )
        }
        Outcome::Skipped { exempted } => {
            let reasons: BTreeSet<&str> = exempted
                .iter()
                .filter_map(|f| f.exemption.as_ref())
                .map(|e| e.reason.as_str())
                .collect();
            let message = format!(
                "exempted: {}",
                reasons.into_iter().collect::<Vec<_>>().join("; ")
            );
            ("skipped", message, None, details(exempted))
        }
        Outcome::Undecided => (
            "skipped",
            "no image facts: the rule could not decide (collect them with `portcullis facts collect`, pass --image-facts or --pull-facts)".to_string(),
            None,
            String::new(),
        ),
        Outcome::Error { error, kind } => (
            "error",
            error.message.clone(),
            Some(*kind),
            error.to_string(),
        ),
    };
    element.write_inner_content(|writer| {
        let mut inner = writer
            .create_element(tag)
            .with_attribute(("message", &*xml_safe(&message)));
        if let Some(kind) = kind {
            inner = inner.with_attribute(("type", kind));
        }
        // Quotes need no escaping in text; leaving them keeps the report readable raw.
        inner.write_text_content(BytesText::from_escaped(partial_escape(xml_safe(&body))))?;
        Ok(())
    })?;
    Ok(())
}

fn subject_and_message(finding: &Finding) -> String {
    match &finding.container {
        Some(container) => format!("container `{container}`: {}", finding.message),
        None => finding.message.clone(),
    }
}

/// The resource, then each finding as the text output shows it.
fn details(findings: &[&Finding]) -> String {
    let mut out = String::new();
    if let Some(first) = findings.first() {
        let r = &first.resource;
        out.push_str(&format!(
            "{}:{}: {} {}/{}\n",
            r.file, r.line, r.kind, r.namespace, r.name
        ));
    }
    for finding in findings {
        let status = match &finding.exemption {
            Some(exemption) => format!("{}, exempted: {}", finding.severity, exemption.reason),
            None => finding.severity.to_string(),
        };
        out.push_str(&format!(
            "[{status}] {}\n  at {}\n  help: {}\n",
            subject_and_message(finding),
            finding.path,
            finding.remediation
        ));
    }
    out
}

/// Text that XML 1.0 can carry. Control characters other than tab, newline and carriage
/// return are not allowed even as character references, so they are written as `\u{…}`;
/// the writer escapes the rest (`<&"'>`).
fn xml_safe(text: &str) -> Cow<'_, str> {
    let forbidden = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if !text.contains(forbidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if forbidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_spelled_out() {
        assert_eq!(xml_safe("plain <&>"), "plain <&>");
        assert_eq!(xml_safe("a\u{1}b\tc\u{1b}"), "a\\u{1}b\tc\\u{1b}");
        assert_eq!(xml_safe("\u{FFFF}"), "\\u{ffff}");
    }
}
