//! Admission decisions: a report turned into allowed or denied, with a message and
//! warnings within what Kubernetes shows. Every front door that answers admission requests
//! (the WebAssembly modules, the admission server) decides here, so they agree.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::workload::{Role, Workload};
use crate::{ImageRef, Report, Severity};

/// Findings at or above this severity deny the request: the CLI's default `--fail-on`.
pub const DENY_AT: Severity = Severity::Low;
/// Violations a decision lists; the rest are counted in [`Decision::omitted`]. A 3 MiB pod
/// with thousands of containers has tens of thousands of findings, and hosts hold the
/// answer in a few MiB (the OPA ABI module trapped on 4,000 containers).
pub const MAX_VIOLATIONS: usize = 1_000;
/// Violations spelled out in the denial message.
const MESSAGE_VIOLATIONS: usize = 20;
/// Kubernetes shows at most 4 KiB of warnings per response and cuts long ones.
pub const WARNINGS_BYTES: usize = 4096;
const WARNING_BYTES: usize = 256;

/// One finding that counts against the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule id.
    pub rule: String,
    /// Its severity after configuration.
    pub severity: Severity,
    /// What the rule said.
    pub message: String,
    /// The resource's kind.
    pub kind: String,
    /// The resource's namespace.
    pub namespace: String,
    /// The resource's name.
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The container, for findings about one.
    pub container: Option<String>,
    /// Field path of the finding.
    pub path: String,
}

impl Violation {
    /// One line per finding, for messages and admission warnings.
    pub fn line(&self) -> String {
        let container = self
            .container
            .as_deref()
            .map(|c| format!(" container `{c}`"))
            .unwrap_or_default();
        format!(
            "[{}] {}: {} ({} {}/{}{container}, {})",
            self.severity, self.rule, self.message, self.kind, self.namespace, self.name, self.path
        )
    }
}

/// What a module answers for one request, whatever the ABI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// HTTP-style status for denials: 403 for findings, 400 when the request could not be
    /// evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why it may not (or why it could not be evaluated).
    pub message: Option<String>,
    /// The findings that count, in report order (below [`DENY_AT`] too), at most
    /// [`MAX_VIOLATIONS`].
    pub violations: Vec<Violation>,
    /// Findings beyond [`MAX_VIOLATIONS`], not listed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted: usize,
    /// Input, settings or rule errors; any error denies the request.
    pub errors: Vec<String>,
    /// The AdmissionRequest's uid, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `text` cut to at most `max` bytes at a character boundary, with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl Decision {
    /// A denial because the request or the settings could not be used.
    pub fn error(errors: Vec<String>, uid: Option<String>) -> Decision {
        let message = format!(
            "Portcullis could not evaluate the request: {}",
            errors.join("; ")
        );
        Decision {
            allowed: false,
            code: Some(400),
            message: Some(message),
            violations: Vec::new(),
            omitted: 0,
            errors,
            uid,
        }
    }

    /// Kubewarden's ValidationResponse: the findings in the message and as warnings, within
    /// the sizes Kubernetes shows.
    pub fn to_validation_response(&self) -> Value {
        let mut response = serde_json::json!({ "accepted": self.allowed });
        if let Some(message) = &self.message {
            response["message"] = message.clone().into();
        }
        if let Some(code) = self.code {
            response["code"] = code.into();
        }
        if !self.violations.is_empty() {
            response["warnings"] = warning_lines(&self.violations).into();
        }
        response
    }
}

/// Turns a report into a decision: errors deny with 400, findings at or above
/// `deny_at` (the front doors' default: [`DENY_AT`]) deny with 403, anything else is allowed (lesser findings still listed).
pub fn decide(report: &Report, uid: Option<String>, deny_at: Severity) -> Decision {
    let total = report.findings.len();
    let denying = report
        .findings
        .iter()
        .filter(|f| f.severity >= deny_at)
        .count();
    let violations: Vec<Violation> = report
        .findings
        .iter()
        .take(MAX_VIOLATIONS)
        .map(|f| Violation {
            rule: f.rule.to_string(),
            severity: f.severity,
            message: f.message.clone(),
            kind: f.resource.kind.clone(),
            namespace: f.resource.namespace.clone(),
            name: f.resource.name.clone(),
            container: f.container.clone(),
            path: f.path.clone(),
        })
        .collect();
    let omitted = total - violations.len();
    if !report.errors.is_empty() {
        let errors = report.errors.iter().map(|e| e.message.clone()).collect();
        let mut decision = Decision::error(errors, uid);
        decision.violations = violations;
        decision.omitted = omitted;
        return decision;
    }
    if denying == 0 {
        return Decision {
            allowed: true,
            code: None,
            message: None,
            violations,
            omitted,
            errors: Vec::new(),
            uid,
        };
    }
    let mut message = format!(
        "Portcullis denied the request: {total} finding{}",
        if total == 1 { "" } else { "s" }
    );
    for (i, violation) in violations.iter().take(MESSAGE_VIOLATIONS).enumerate() {
        let _ = write!(
            message,
            "{}{}",
            if i == 0 { ": " } else { "; " },
            cut(&violation.line(), WARNING_BYTES)
        );
    }
    if total > MESSAGE_VIOLATIONS {
        let _ = write!(message, "; and {} more", total - MESSAGE_VIOLATIONS);
    }
    Decision {
        allowed: false,
        code: Some(403),
        message: Some(message),
        violations,
        omitted,
        errors: Vec::new(),
        uid,
    }
}

/// The lines of `violations` as admission warnings: each cut to 256 bytes, 4 KiB in all
/// (what Kubernetes shows; it cuts longer ones itself).
pub fn warning_lines<'v>(violations: impl IntoIterator<Item = &'v Violation>) -> Vec<String> {
    let mut warnings = Vec::new();
    let mut bytes = 0;
    for violation in violations {
        let line = cut(&violation.line(), WARNING_BYTES);
        if bytes + line.len() > WARNINGS_BYTES {
            break;
        }
        bytes += line.len();
        warnings.push(line);
    }
    warnings
}

/// One JSON Patch (RFC 6902) operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// `add` or `replace`.
    pub op: String,
    /// A JSON pointer into the object.
    pub path: String,
    /// The new value.
    pub value: Value,
}

/// The patch that pins every container image of `workload` written with a tag to its digest
/// (`nginx:1.27` → `nginx:1.27@sha256:…`), and, when `pull_policy` is given, sets it on
/// containers that do not say. `digest_of` answers the digest to pin an image to, or `None`
/// when it is not known: such an image is left as it is. An image that has a digest already
/// is never changed, so patching a patched object yields an empty patch.
pub fn pin_images(
    workload: &Workload,
    mut digest_of: impl FnMut(&ImageRef) -> Option<String>,
    pull_policy: Option<&str>,
) -> Vec<PatchOperation> {
    let mut patch = Vec::new();
    for container in &workload.containers {
        if !matches!(container.role, Role::App | Role::Init | Role::Ephemeral) {
            continue;
        }
        let pointer = json_pointer(&container.path);
        if let Some(image) = container.image.valid()
            && image.digest.is_none()
            && let Some(digest) = digest_of(image)
            && crate::facts::is_digest(&digest)
        {
            patch.push(PatchOperation {
                op: "replace".into(),
                path: format!("{pointer}/image"),
                value: format!("{}@{digest}", container.image.raw).into(),
            });
        }
        if let Some(policy) = pull_policy
            && container.image_pull_policy_set.is_none()
        {
            patch.push(PatchOperation {
                op: "add".into(),
                path: format!("{pointer}/imagePullPolicy"),
                value: policy.into(),
            });
        }
    }
    patch
}

/// The digest an image's facts pin it to: the multi-platform index it was resolved through
/// when there is one (nodes of every platform can pull it), else the manifest. `None` when
/// the facts are keyed by an image id (`docker save`), which no registry serves.
pub fn pinning_digest(key: &str, facts: &crate::facts::ImageFacts) -> Option<String> {
    if let Some(index) = facts.index_digests.iter().next() {
        return Some(index.clone());
    }
    (facts.digest_kind == crate::facts::DigestKind::Manifest).then(|| key.to_string())
}

/// `spec.template.spec.containers[0]` as a JSON pointer: `/spec/template/spec/containers/0`.
fn json_pointer(field_path: &str) -> String {
    let mut pointer = String::with_capacity(field_path.len() + 4);
    for part in field_path.split('.') {
        let (key, indexes) = part.split_once('[').unwrap_or((part, ""));
        pointer.push('/');
        pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
        for index in indexes.split('[') {
            let index = index.trim_end_matches(']');
            if !index.is_empty() {
                pointer.push('/');
                pointer.push_str(index);
            }
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Source;

    fn workload(yaml: &str) -> Workload {
        let workloads = Source::from_text("t.yaml", yaml).load();
        workloads.iter().next().expect("a workload").clone()
    }

    #[test]
    fn pointers_follow_field_paths() {
        assert_eq!(
            json_pointer("spec.jobTemplate.spec.template.spec.initContainers[3]"),
            "/spec/jobTemplate/spec/template/spec/initContainers/3"
        );
    }

    #[test]
    fn pins_tags_it_knows_and_leaves_the_rest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let w = workload(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      initContainers: [{name: i, image: busybox:1.36, imagePullPolicy: Always}]\n      containers:\n      - {name: a, image: nginx:1.27}\n      - {name: b, image: unknown:1}\n      - {name: c, image: \"nginx@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"}\n",
        );
        let patch = pin_images(
            &w,
            |image| (image.repository != "library/unknown").then(|| digest.clone()),
            Some("IfNotPresent"),
        );
        let ops: Vec<(String, String, Value)> =
            patch.into_iter().map(|p| (p.op, p.path, p.value)).collect();
        assert_eq!(
            ops,
            vec![
                (
                    "replace".into(),
                    "/spec/template/spec/initContainers/0/image".into(),
                    format!("busybox:1.36@{digest}").into()
                ),
                (
                    "replace".into(),
                    "/spec/template/spec/containers/0/image".into(),
                    format!("nginx:1.27@{digest}").into()
                ),
                (
                    "add".into(),
                    "/spec/template/spec/containers/0/imagePullPolicy".into(),
                    "IfNotPresent".into()
                ),
                (
                    "add".into(),
                    "/spec/template/spec/containers/1/imagePullPolicy".into(),
                    "IfNotPresent".into()
                ),
                (
                    "add".into(),
                    "/spec/template/spec/containers/2/imagePullPolicy".into(),
                    "IfNotPresent".into()
                ),
            ]
        );
    }
}
