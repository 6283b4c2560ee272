//! SARIF 2.1.0 output, the format GitHub code scanning and most SARIF viewers read.
//!
//! One `reportingDescriptor` per rule that ran; one result per finding, exempted findings
//! included with a `suppressions` entry; input and rule errors as tool execution
//! notifications. Severity maps to `level` as critical/high → `error`, medium → `warning`,
//! low/info → `note`; the exact severity is kept in `properties` and, for GitHub, as a
//! numeric `security-severity` on the rule.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use serde::Serialize;

use super::{Report, Summary};
use crate::diagnostic::Diagnostic;
use crate::finding::{ExemptionSource, Finding, ResourceRef};
use crate::rules::EnabledRule;
use crate::rules::{Rule, render_markdown};
use crate::severity::Severity;

/// The `$schema` of the documents written: OASIS' published SARIF 2.1.0 schema.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";
const INFORMATION_URI: &str = "https://github.com/portcullis-dev/portcullis";
const RULE_DOCS_URI: &str = "https://github.com/portcullis-dev/portcullis/blob/main/docs/rules";
/// Key of the fingerprint in `partialFingerprints`; the suffix changes if its inputs do.
pub const FINGERPRINT_KEY: &str = "portcullis/v1";

/// The SARIF `level` of a severity.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` (a CVSS-like score as a string; its bands are ≥9.0
/// critical, 7.0–8.9 high, 4.0–6.9 medium, 0.1–3.9 low). Info has none, so GitHub shows
/// those rules as plain notes rather than security alerts.
pub fn security_severity(severity: Severity) -> Option<&'static str> {
    match severity {
        Severity::Critical => Some("9.5"),
        Severity::High => Some("8.0"),
        Severity::Medium => Some("5.5"),
        Severity::Low => Some("3.0"),
        Severity::Info => None,
    }
}

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Tool<'a>,
    invocations: [Invocation<'a>; 1],
    results: Vec<SarifResult<'a>>,
    properties: RunProperties,
}

#[derive(Serialize)]
struct RunProperties {
    summary: Summary,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    name: &'static str,
    version: &'static str,
    semantic_version: &'static str,
    information_uri: &'static str,
    rules: Vec<Descriptor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    id: &'a str,
    name: String,
    short_description: Text<'a>,
    full_description: Text<'a>,
    help: Help,
    #[serde(skip_serializing_if = "Option::is_none")]
    help_uri: Option<String>,
    default_configuration: Configuration,
    properties: DescriptorProperties,
}

#[derive(Serialize)]
struct Text<'a> {
    text: Cow<'a, str>,
}

impl<'a> Text<'a> {
    fn new(text: impl Into<Cow<'a, str>>) -> Text<'a> {
        Text { text: text.into() }
    }
}

#[derive(Serialize)]
struct Help {
    text: String,
    markdown: String,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
struct DescriptorProperties {
    #[serde(rename = "security-severity", skip_serializing_if = "Option::is_none")]
    security_severity: Option<&'static str>,
    severity: Severity,
    tags: [&'static str; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Invocation<'a> {
    execution_successful: bool,
    tool_execution_notifications: Vec<Notification<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Notification<'a> {
    level: &'static str,
    message: Text<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locations: Vec<Location<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    associated_rule: Option<RuleReference<'a>>,
}

#[derive(Serialize)]
struct RuleReference<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    rule_index: Option<usize>,
    level: &'static str,
    message: Text<'a>,
    locations: [Location<'a>; 1],
    partial_fingerprints: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressions: Vec<Suppression<'a>>,
    properties: ResultProperties,
}

#[derive(Serialize)]
struct ResultProperties {
    severity: Severity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    physical_location: Option<PhysicalLocation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    logical_locations: Vec<LogicalLocation<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogicalLocation<'a> {
    name: &'a str,
    fully_qualified_name: String,
}

#[derive(Serialize)]
struct Suppression<'a> {
    kind: &'static str,
    status: &'static str,
    justification: &'a str,
}

/// Writes `report` as a SARIF 2.1.0 log with one run. `rules` are the rules that ran (see
/// [`crate::Policy::enabled_rules`]): each gets a descriptor, whether it found anything or not.
pub(super) fn write(
    report: &Report,
    rules: &[EnabledRule],
    out: impl Write,
) -> std::io::Result<()> {
    let mut rules: Vec<&EnabledRule> = rules.iter().collect();
    rules.sort_by(|a, b| a.rule.meta.id.cmp(&b.rule.meta.id));
    rules.dedup_by(|a, b| a.rule.meta.id == b.rule.meta.id);
    let index: HashMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.rule.meta.id.as_str(), i))
        .collect();

    let mut findings: Vec<&Finding> = report.findings.iter().chain(&report.exempted).collect();
    findings.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let mut seen: HashMap<u64, u64> = HashMap::new();
    let results = findings
        .into_iter()
        .map(|finding| {
            // Equal identities (same rule, place and path) get distinct fingerprints by
            // order.
            let key = finding.id().hash64();
            let occurrence = seen.entry(key).or_default();
            let fingerprint = format!(
                "{:016x}",
                crate::finding::fnv1a(*occurrence, &[&key.to_le_bytes()])
            );
            *occurrence += 1;
            result(finding, index.get(&*finding.rule).copied(), fingerprint)
        })
        .collect();

    let notifications = report
        .errors
        .iter()
        .map(|error| notification(error, &index))
        .collect();

    let version = env!("CARGO_PKG_VERSION");
    let log = Log {
        schema: SCHEMA_URI,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "portcullis",
                    version,
                    semantic_version: version,
                    information_uri: INFORMATION_URI,
                    rules: rules.iter().map(|r| descriptor(r)).collect(),
                },
            },
            invocations: [Invocation {
                execution_successful: report.errors.is_empty(),
                tool_execution_notifications: notifications,
            }],
            results,
            properties: RunProperties {
                summary: report.summary(),
            },
        }],
    };
    serde_json::to_writer_pretty(out, &log).map_err(std::io::Error::from)
}

fn descriptor(enabled: &EnabledRule) -> Descriptor<'_> {
    let rule = &enabled.rule;
    let meta = &rule.meta;
    let help = render_markdown(rule);
    Descriptor {
        id: &meta.id,
        name: pascal_case(&meta.id),
        short_description: Text::new(meta.title.as_str()),
        full_description: Text::new(description(rule)),
        help: Help {
            text: help.clone(),
            markdown: help,
        },
        // A custom rule links to the page its META names, if any; its docs are in `help`.
        help_uri: meta.help_uri.clone().or_else(|| {
            rule.origin
                .starts_with("builtin:")
                .then(|| format!("{RULE_DOCS_URI}/{}.md", meta.id))
        }),
        default_configuration: Configuration {
            level: level(enabled.severity),
        },
        properties: DescriptorProperties {
            security_severity: security_severity(enabled.severity),
            severity: enabled.severity,
            tags: ["security", "kubernetes"],
        },
    }
}

/// `latest-tag` → `LatestTag`: SARIF's `name` is an identifier for people, `id` the key.
fn pascal_case(id: &str) -> String {
    id.split('-')
        .flat_map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase())
                .into_iter()
                .chain(chars)
        })
        .collect()
}

/// The "What it does" section of the rule's docs (or their first paragraph) on one line;
/// the title when the docs are empty.
fn description(rule: &Rule) -> String {
    let docs = rule.docs.trim();
    let body = match docs.strip_prefix("## What it does") {
        Some(rest) => rest.split("\n#").next().unwrap_or(""),
        None => docs.split("\n\n").next().unwrap_or(""),
    };
    let text = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        rule.meta.title.clone()
    } else {
        text
    }
}

fn result<'a>(
    finding: &'a Finding,
    rule_index: Option<usize>,
    fingerprint: String,
) -> SarifResult<'a> {
    let mut text = String::new();
    if let Some(container) = &finding.container {
        text.push_str(&format!("container `{container}`: "));
    }
    text.push_str(&finding.message);
    if !finding.remediation.is_empty() {
        text.push_str("\nRemediation: ");
        text.push_str(&finding.remediation);
    }
    let resource = &finding.resource;
    let mut fully_qualified_name = resource_name(resource);
    if !finding.path.is_empty() {
        fully_qualified_name.push('/');
        fully_qualified_name.push_str(&finding.path);
    }
    let suppressions = finding
        .exemption
        .iter()
        .map(|exemption| Suppression {
            kind: match exemption.source {
                ExemptionSource::Annotation => "inSource",
                ExemptionSource::Config { .. } => "external",
            },
            status: "accepted",
            justification: &exemption.reason,
        })
        .collect();
    SarifResult {
        rule_id: &finding.rule,
        rule_index,
        level: level(finding.severity),
        message: Text::new(text),
        locations: [Location {
            physical_location: physical_location(
                &resource.file,
                finding.line.or(Some(resource.line)),
            ),
            logical_locations: vec![LogicalLocation {
                name: if finding.path.is_empty() {
                    &resource.name
                } else {
                    &finding.path
                },
                fully_qualified_name,
            }],
        }],
        partial_fingerprints: BTreeMap::from([(FINGERPRINT_KEY, fingerprint)]),
        suppressions,
        properties: ResultProperties {
            severity: finding.severity,
        },
    }
}

fn notification<'a>(error: &'a Diagnostic, index: &HashMap<&str, usize>) -> Notification<'a> {
    Notification {
        level: "error",
        message: Text::new(error.to_string()),
        locations: physical_location(&error.file, error.line)
            .map(|location| Location {
                physical_location: Some(location),
                logical_locations: Vec::new(),
            })
            .into_iter()
            .collect(),
        associated_rule: error.rule.as_deref().map(|id| RuleReference {
            id,
            index: index.get(id).copied(),
        }),
    }
}

/// `Deployment/shop/api`.
fn resource_name(resource: &ResourceRef) -> String {
    format!("{}/{}/{}", resource.kind, resource.namespace, resource.name)
}

fn physical_location(file: &str, line: Option<usize>) -> Option<PhysicalLocation> {
    Some(PhysicalLocation {
        artifact_location: ArtifactLocation {
            uri: artifact_uri(file)?,
        },
        region: line
            .filter(|&l| l > 0)
            .map(|start_line| Region { start_line }),
    })
}

/// An input name as a URI reference. Relative paths stay relative, which GitHub resolves
/// against the repository root; absolute ones become `file:` URIs. `None` for names that
/// are not files (`<stdin>`, `<command line>`).
pub fn artifact_uri(file: &str) -> Option<String> {
    if file.is_empty() || (file.starts_with('<') && file.ends_with('>')) {
        return None;
    }
    let windows = std::path::MAIN_SEPARATOR == '\\';
    let slashed: Cow<str> = if windows {
        file.replace('\\', "/").into()
    } else {
        file.into()
    };
    let mut path = slashed.as_ref();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let bytes = path.as_bytes();
    let drive =
        windows && bytes.len() > 2 && bytes[0].is_ascii_alphabetic() && &bytes[1..3] == b":/";
    let (mut uri, absolute) = if path.starts_with('/') {
        (String::from("file://"), true)
    } else if drive {
        (String::from("file:///"), true)
    } else {
        (String::new(), false)
    };
    for &byte in bytes {
        // RFC 3986 path characters; `:` only where it cannot be read as a scheme.
        let keep = byte.is_ascii_alphanumeric()
            || b"-._~/!$&'()*+,;=@".contains(&byte)
            || (byte == b':' && absolute);
        if keep {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    Some(uri)
}

/// Hash of what identifies a finding across runs: rule, file, resource, container, path.
/// Not the line (edits above move it) nor the message.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_slashed_and_escaped() {
        assert_eq!(
            artifact_uri("k8s/app.yaml").as_deref(),
            Some("k8s/app.yaml")
        );
        assert_eq!(
            artifact_uri("./k8s/app.yaml").as_deref(),
            Some("k8s/app.yaml")
        );
        assert_eq!(
            artifact_uri("my dir/a#1:b%.yaml").as_deref(),
            Some("my%20dir/a%231%3Ab%25.yaml")
        );
        assert_eq!(
            artifact_uri("/srv/x y.yaml").as_deref(),
            Some("file:///srv/x%20y.yaml")
        );
        assert_eq!(artifact_uri("dé.yaml").as_deref(), Some("d%C3%A9.yaml"));
        assert_eq!(artifact_uri("<stdin>"), None);
        assert_eq!(artifact_uri("<command line>"), None);
    }

    #[test]
    fn names_and_levels() {
        assert_eq!(pascal_case("latest-tag"), "LatestTag");
        assert_eq!(pascal_case("runs-as-root"), "RunsAsRoot");
        assert_eq!(level(Severity::Critical), "error");
        assert_eq!(level(Severity::High), "error");
        assert_eq!(level(Severity::Medium), "warning");
        assert_eq!(level(Severity::Low), "note");
        assert_eq!(level(Severity::Info), "note");
    }
}
