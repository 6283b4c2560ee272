//! Scanner reports -> scan facts: Trivy's JSON (`trivy image -f json`, schema version 2),
//! Grype's (`grype -o json`), Clair v4 vulnerability reports ([`parse_clair`]) and Snyk
//! container reports ([`parse_snyk`]), merged into the facts of the digest they describe.
//! Read reports with [`read_report`], which caps their size.

mod clair;
mod input;
mod snyk;

pub use clair::{clair_severity, parse_clair};
pub use input::{MAX_REPORT_BYTES, read_report};
pub use snyk::{parse_snyk, snyk_severity};

use portcullis_engine::facts::{
    DigestKind, FactsFile, ImageFacts, ScanFacts, Scanner, SecretFinding, Vulnerability, is_digest,
    normalize_reference,
};
use serde::Deserialize;

/// A scan and what identifies the image it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanReport {
    pub scan: ScanFacts,
    /// Manifest or index digests the report names (repo digests).
    pub digests: Vec<String>,
    /// The image id (config digest).
    pub config_digest: Option<String>,
    /// Normalized references the report names (tags, the scanned reference).
    pub references: Vec<String>,
}

fn severity(text: &str) -> String {
    match text.to_ascii_lowercase().as_str() {
        s @ ("critical" | "high" | "medium" | "low" | "negligible") => s.to_string(),
        _ => "unknown".to_string(),
    }
}

/// `docker.io/library/alpine@sha256:…` -> the digest.
fn repo_digest(text: &str) -> Option<String> {
    let digest = text.rsplit_once('@').map_or(text, |(_, d)| d);
    is_digest(digest).then(|| digest.to_string())
}

// ---- Trivy ----

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyReport {
    schema_version: u32,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    artifact_name: Option<String>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    metadata: TrivyMetadata,
    #[serde(default)]
    results: Option<Vec<TrivyResult>>,
    #[serde(default)]
    trivy: Option<TrivyVersion>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyMetadata {
    #[serde(rename = "ImageID", default)]
    image_id: Option<String>,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    repo_digests: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVersion {
    #[serde(default)]
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyResult {
    #[serde(default)]
    target: String,
    #[serde(default)]
    vulnerabilities: Option<Vec<TrivyVulnerability>>,
    #[serde(default)]
    secrets: Option<Vec<TrivySecret>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivyVulnerability {
    #[serde(rename = "VulnerabilityID")]
    vulnerability_id: String,
    pkg_name: String,
    #[serde(default)]
    installed_version: String,
    #[serde(default)]
    fixed_version: Option<String>,
    #[serde(default)]
    severity: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TrivySecret {
    #[serde(rename = "RuleID", default)]
    rule_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
}

/// Reads a Trivy JSON report. Trivy's image scans look for secrets by default, so the facts
/// say "no secrets" rather than "unknown" when the report lists none.
pub fn parse_trivy(text: &str) -> Result<ScanReport, String> {
    // Read straight into the typed report (fields it does not use are skipped, not
    // built): a report of hundreds of MiB is not held again as a `serde_json::Value`.
    if text.trim_start().starts_with('[') {
        return Err(
            "this is Trivy's old report format (a JSON array, before v0.20); run a current Trivy with `-f json`"
                .to_string(),
        );
    }
    let report: TrivyReport = serde_json::from_str(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            format!("not JSON: {e}")
        } else {
            format!("not a Trivy JSON report: {e}")
        }
    })?;
    if report.schema_version != 2 {
        return Err(format!(
            "Trivy report schema version {} is not supported (2 is)",
            report.schema_version
        ));
    }
    if let Some(kind) = report.artifact_type.as_deref()
        && kind != "container_image"
    {
        return Err(format!(
            "the Trivy report is about a `{kind}`, not a container image (`trivy image`)"
        ));
    }
    let mut vulnerabilities = Vec::new();
    let mut secrets = Vec::new();
    for result in report.results.unwrap_or_default() {
        for v in result.vulnerabilities.unwrap_or_default() {
            // Trivy lists several fixed versions comma-separated (one per branch).
            let fixed = v
                .fixed_version
                .as_deref()
                .and_then(|f| f.split(',').map(str::trim).find(|f| !f.is_empty()))
                .map(str::to_string);
            vulnerabilities.push(Vulnerability {
                id: v.vulnerability_id,
                package: v.pkg_name,
                installed: v.installed_version,
                fixed,
                severity: severity(&v.severity),
            });
        }
        for s in result.secrets.unwrap_or_default() {
            secrets.push(SecretFinding {
                rule: s.rule_id,
                title: s.title,
                path: format!("/{}", result.target.trim_start_matches('/')),
                severity: severity(&s.severity),
            });
        }
    }
    let mut scan = ScanFacts {
        scanners: vec![Scanner {
            name: "trivy".to_string(),
            version: report.trivy.and_then(|t| t.version),
            scanned_at: report.created_at,
        }],
        vulnerabilities,
        secrets: Some(secrets),
    };
    scan.normalize();
    let metadata = report.metadata;
    let mut references: Vec<String> = metadata
        .repo_tags
        .unwrap_or_default()
        .iter()
        .chain(&report.artifact_name)
        .filter_map(|r| normalize_reference(r))
        .filter(|r| !r.contains('@'))
        .collect();
    references.sort();
    references.dedup();
    Ok(ScanReport {
        scan,
        digests: metadata
            .repo_digests
            .unwrap_or_default()
            .iter()
            .filter_map(|d| repo_digest(d))
            .collect(),
        config_digest: metadata.image_id.filter(|d| is_digest(d)),
        references,
    })
}

// ---- Grype ----

#[derive(Debug, Deserialize)]
struct GrypeReport {
    #[serde(default)]
    matches: Vec<GrypeMatch>,
    source: Option<GrypeSource>,
    #[serde(default)]
    descriptor: Option<GrypeDescriptor>,
}

#[derive(Debug, Deserialize)]
struct GrypeMatch {
    vulnerability: GrypeVulnerability,
    artifact: GrypeArtifact,
}

#[derive(Debug, Deserialize)]
struct GrypeVulnerability {
    id: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    fix: Option<GrypeFix>,
}

#[derive(Debug, Deserialize)]
struct GrypeFix {
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    state: String,
}

#[derive(Debug, Deserialize)]
struct GrypeArtifact {
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Debug, Deserialize)]
struct GrypeSource {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    target: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct GrypeDescriptor {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
}

/// Reads a Grype JSON report. Grype does not look for secrets: they stay unknown.
pub fn parse_grype(text: &str) -> Result<ScanReport, String> {
    let report: GrypeReport =
        serde_json::from_str(text).map_err(|e| format!("not a Grype JSON report: {e}"))?;
    let source = report
        .source
        .ok_or("not a Grype JSON report: it has no `source`")?;
    if source.kind != "image" {
        return Err(format!(
            "the Grype report is about a `{}`, not a container image",
            source.kind
        ));
    }
    let target = &source.target;
    let text_field = |key: &str| target.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let list_field = |key: &str| -> Vec<String> {
        target
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let vulnerabilities = report
        .matches
        .into_iter()
        .map(|m| {
            let fixed = m
                .vulnerability
                .fix
                .filter(|f| f.state == "fixed")
                .and_then(|f| f.versions.into_iter().next());
            Vulnerability {
                id: m.vulnerability.id,
                package: m.artifact.name,
                installed: m.artifact.version,
                fixed,
                severity: severity(&m.vulnerability.severity),
            }
        })
        .collect();
    let descriptor = report.descriptor;
    let mut scan = ScanFacts {
        scanners: vec![Scanner {
            name: descriptor
                .as_ref()
                .and_then(|d| d.name.clone())
                .unwrap_or_else(|| "grype".to_string()),
            version: descriptor.as_ref().and_then(|d| d.version.clone()),
            scanned_at: descriptor.and_then(|d| d.timestamp),
        }],
        vulnerabilities,
        secrets: None,
    };
    scan.normalize();
    let mut digests: Vec<String> = list_field("repoDigests")
        .iter()
        .filter_map(|d| repo_digest(d))
        .collect();
    if let Some(manifest) = text_field("manifestDigest").filter(|d| is_digest(d)) {
        digests.push(manifest);
    }
    digests.dedup();
    let mut references: Vec<String> = list_field("tags")
        .iter()
        .chain(&text_field("userInput"))
        .filter_map(|r| normalize_reference(r))
        .filter(|r| !r.contains('@'))
        .collect();
    references.sort();
    references.dedup();
    Ok(ScanReport {
        scan,
        digests,
        config_digest: text_field("imageID").filter(|d| is_digest(d)),
        references,
    })
}

/// Merges a scan into the facts of the image it describes: the entry whose digest, index
/// digest or config digest the report names, else the one a reference names; else a new
/// entry under the report's digest. Returns the key it went to.
pub fn merge_report(file: &mut FactsFile, report: ScanReport) -> Result<String, String> {
    let by_digest = file.images.iter().find(|(key, facts)| {
        report
            .digests
            .iter()
            .any(|d| d == *key || facts.index_digests.contains(d))
            || (report.config_digest.is_some() && facts.config_digest == report.config_digest)
            || report.config_digest.as_deref() == Some(key.as_str())
    });
    let by_reference = || {
        file.images.iter().find(|(_, facts)| {
            report
                .references
                .iter()
                .any(|r| facts.references.contains(r))
        })
    };
    let existing = by_digest.or_else(by_reference).map(|(k, _)| k.clone());
    let key = match existing {
        Some(key) => key,
        None => match (report.digests.first(), &report.config_digest) {
            (Some(digest), _) => digest.clone(),
            (None, Some(config)) => config.clone(),
            (None, None) => {
                return Err(
                    "the report names no image digest and no collected image has its references; collect the image's facts in the same run"
                        .to_string(),
                );
            }
        },
    };
    let digest_kind = if report.digests.is_empty() && Some(&key) == report.config_digest.as_ref() {
        DigestKind::Config
    } else {
        DigestKind::Manifest
    };
    file.insert(
        key.clone(),
        ImageFacts {
            digest_kind,
            references: report.references.into_iter().collect(),
            config_digest: report.config_digest,
            scan: Some(report.scan),
            ..ImageFacts::default()
        },
    );
    Ok(key)
}
