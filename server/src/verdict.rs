//! A report turned into an admission answer: findings at or above the threshold deny with
//! their rule, container and remediation; lesser findings are warnings; problems that kept
//! the request from being decided (a rule that failed or ran out of time, an image whose
//! facts could not be looked up, the deadline) follow `on-error`.

use std::fmt::Write as _;

use portcullis_engine::admission::{Violation, cut, warning_lines};
use portcullis_engine::{Finding, Report, Severity};

use crate::review::Answer;

/// What a request gets when it cannot be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Denied with the reason (fail closed), like `failurePolicy: Fail`.
    Deny,
    /// Allowed with the reason as a warning (fail open), like `failurePolicy: Ignore`.
    Allow,
}

/// Denying findings spelled out in a message; a message stays under ~6 KiB.
const MESSAGE_FINDINGS: usize = 10;
const LINE_BYTES: usize = 512;

/// The answer for `report`. `problems` are reasons the request could not be fully decided
/// besides the report's own errors (lookups, deadline).
pub fn answer(
    report: &Report,
    problems: &[String],
    fail_on: Severity,
    on_error: OnError,
) -> Answer {
    let denying: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.severity >= fail_on)
        .collect();
    let lesser = report.findings.iter().filter(|f| f.severity < fail_on);
    let mut warnings = warning_lines(&lesser.map(violation).collect::<Vec<_>>());
    let mut errors: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
    errors.extend(problems.iter().cloned());
    // A finding denies whatever else failed: a rule that ran out of time never hides
    // what the other rules found.
    if !denying.is_empty() {
        return Answer {
            allowed: false,
            status: Some((403, denial_message(&denying))),
            warnings,
            patch: None,
        };
    }
    if errors.is_empty() {
        return Answer {
            allowed: true,
            status: None,
            warnings,
            patch: None,
        };
    }
    let mut message = String::from("Portcullis could not evaluate the request: ");
    for (i, error) in errors.iter().take(MESSAGE_FINDINGS).enumerate() {
        if i > 0 {
            message.push_str("; ");
        }
        message.push_str(&cut(error, LINE_BYTES));
    }
    if errors.len() > MESSAGE_FINDINGS {
        let _ = write!(message, "; and {} more", errors.len() - MESSAGE_FINDINGS);
    }
    match on_error {
        OnError::Deny => Answer {
            allowed: false,
            status: Some((500, format!("{message} (on-error: deny)"))),
            warnings,
            patch: None,
        },
        OnError::Allow => {
            warnings.insert(
                0,
                cut(&format!("{message} (allowed: on-error: allow)"), 256),
            );
            Answer {
                allowed: true,
                status: None,
                warnings,
                patch: None,
            }
        }
    }
}

/// The answer when nothing could be evaluated at all (no policy yet, the deadline passed
/// before evaluation, no capacity).
pub fn undecided(reason: &str, on_error: OnError) -> Answer {
    answer(
        &Report::default(),
        &[reason.to_string()],
        Severity::Critical,
        on_error,
    )
}

fn violation(finding: &Finding) -> Violation {
    Violation {
        rule: finding.rule.to_string(),
        severity: finding.severity,
        message: finding.message.clone(),
        kind: finding.resource.kind.clone(),
        namespace: finding.resource.namespace.clone(),
        name: finding.resource.name.clone(),
        container: finding.container.clone(),
        path: finding.path.clone(),
    }
}

fn denial_message(denying: &[&Finding]) -> String {
    let first = denying[0];
    let resource = &first.resource;
    let mut message = format!(
        "Portcullis denied {} {}/{}: {} finding{}",
        resource.kind,
        resource.namespace,
        resource.name,
        denying.len(),
        if denying.len() == 1 { "" } else { "s" }
    );
    for (i, finding) in denying.iter().take(MESSAGE_FINDINGS).enumerate() {
        let container = finding
            .container
            .as_deref()
            .map(|c| format!(" container `{c}`"))
            .unwrap_or_default();
        let line = format!(
            "[{}] {}{container}: {} (fix: {})",
            finding.severity, finding.rule, finding.message, finding.remediation
        );
        message.push_str(if i == 0 { ": " } else { "; " });
        message.push_str(&cut(&line, LINE_BYTES));
    }
    if denying.len() > MESSAGE_FINDINGS {
        let _ = write!(message, "; and {} more", denying.len() - MESSAGE_FINDINGS);
    }
    message
}
