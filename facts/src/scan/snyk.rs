//! Snyk container reports (`snyk container test --json`) -> scan facts.
//!
//! One image gives one JSON object; several images (`snyk container test a b`) give an array
//! of them, and each becomes its own report. A report's vulnerabilities are its
//! `vulnerabilities` (operating-system packages) plus those of each of its `applications`
//! (language packages Snyk found in the image).
//!
//! One vulnerability fact per CVE in `identifiers.CVE` (Snyk's own id, `SNYK-…`, when there
//! is none), with `packageName`, `version` and the first `fixedIn` version.
//!
//! Severity: Snyk's `severityWithCritical` when present, else `severity` — `low` -> `low`,
//! `medium` -> `medium`, `high` -> `high`, `critical` -> `critical`; anything else is
//! `unknown`. (Snyk added `critical` later; where both fields exist, `severity` may say
//! `high` for what `severityWithCritical` calls `critical`.)
//!
//! The image is named by what of `docker.image`, the `path` of the report and of its
//! applications, and the first vulnerability's dependency path (`docker-image|nginx@1.27`)
//! is an image reference; only when none is, by `projectName` (`docker-image|<image>`,
//! which has no tag). Snyk reports carry no digest, so they merge into an image
//! collected in the same run by reference. Snyk does not look for secrets here.

use portcullis_engine::facts::{ScanFacts, Scanner, Vulnerability, normalize_reference};
use serde::Deserialize;

use super::ScanReport;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnykReport {
    #[serde(default)]
    ok: Option<bool>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    vulnerabilities: Option<Vec<SnykVulnerability>>,
    #[serde(default)]
    applications: Vec<SnykApplication>,
    #[serde(default)]
    project_name: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    package_manager: Option<String>,
    #[serde(default)]
    docker: Option<SnykDocker>,
}

#[derive(Debug, Deserialize)]
struct SnykDocker {
    #[serde(default)]
    image: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SnykApplication {
    #[serde(default)]
    vulnerabilities: Vec<SnykVulnerability>,
    #[serde(default)]
    path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnykVulnerability {
    id: String,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    severity_with_critical: Option<String>,
    package_name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    fixed_in: Vec<String>,
    #[serde(default)]
    identifiers: SnykIdentifiers,
    /// The dependency path, starting with the image: `docker-image|nginx@1.27`.
    #[serde(default)]
    from: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct SnykIdentifiers {
    #[serde(rename = "CVE", default)]
    cve: Vec<String>,
}

/// Snyk's severity on the facts' scale (see the module docs).
pub fn snyk_severity(severity_with_critical: Option<&str>, severity: Option<&str>) -> &'static str {
    match severity_with_critical
        .or(severity)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("critical") => "critical",
        Some("high") => "high",
        Some("medium") => "medium",
        Some("low") => "low",
        _ => "unknown",
    }
}

/// `docker-image|nginx@1.27` (how Snyk writes `from` paths) and `nginx:1.27` -> the
/// normalized reference; `None` when it is no image reference.
fn image_reference(text: &str) -> Option<String> {
    let text = text.strip_prefix("docker-image|").unwrap_or(text);
    normalize_reference(text).or_else(|| {
        // `name@tag` with a tag rather than a digest.
        let (name, tag) = text.rsplit_once('@')?;
        normalize_reference(&format!("{name}:{tag}"))
    })
}

fn is_container_scan(report: &SnykReport) -> bool {
    report
        .project_name
        .as_deref()
        .is_some_and(|p| p.starts_with("docker-image|"))
        || report.docker.is_some()
}

/// Reads a Snyk container report: one image (an object) or several (an array).
pub fn parse_snyk(text: &str) -> Result<Vec<ScanReport>, String> {
    let reports: Vec<SnykReport> = match text.trim_start().chars().next() {
        Some('[') => serde_json::from_str(text),
        Some('{') => serde_json::from_str(text).map(|one| vec![one]),
        _ => return Err("not a Snyk JSON report: it is not a JSON object or array".into()),
    }
    .map_err(|e| format!("not a Snyk container report: {e}"))?;
    if reports.is_empty() {
        return Err("the Snyk report is an empty array: it describes no image".into());
    }
    let several = reports.len() > 1;
    reports
        .into_iter()
        .enumerate()
        .map(|(i, report)| {
            let at = if several {
                format!("image {} of the array: ", i + 1)
            } else {
                String::new()
            };
            one_report(report).map_err(|e| format!("{at}{e}"))
        })
        .collect()
}

fn one_report(report: SnykReport) -> Result<ScanReport, String> {
    if let Some(error) = &report.error {
        let message = error
            .as_str()
            .map_or_else(|| error.to_string(), str::to_string);
        return Err(format!(
            "Snyk reported an error instead of results: {message}"
        ));
    }
    if !is_container_scan(&report) {
        return Err(format!(
            "not a Snyk container report (`snyk container test --json`): project `{}` of package manager `{}`",
            report.project_name.as_deref().unwrap_or("?"),
            report.package_manager.as_deref().unwrap_or("?"),
        ));
    }
    let Some(vulnerabilities) = report.vulnerabilities else {
        return Err(format!(
            "not a Snyk container report: it has no `vulnerabilities` (ok: {:?})",
            report.ok
        ));
    };
    // Names that carry the tag first; the project name (no tag, so an implicit `latest`
    // that may be wrong) only when there is nothing else.
    let mut references: Vec<String> = report
        .docker
        .as_ref()
        .and_then(|d| d.image.as_deref())
        .into_iter()
        .chain(report.path.as_deref())
        .chain(report.applications.iter().filter_map(|a| a.path.as_deref()))
        .chain(
            vulnerabilities
                .first()
                .and_then(|v| v.from.first())
                .map(String::as_str),
        )
        .filter_map(image_reference)
        .filter(|r| !r.contains('@'))
        .collect();
    if references.is_empty() {
        references.extend(
            report
                .project_name
                .as_deref()
                .and_then(image_reference)
                .filter(|r| !r.contains('@')),
        );
    }
    references.sort();
    references.dedup();
    let mut facts = Vec::new();
    for v in vulnerabilities.into_iter().chain(
        report
            .applications
            .into_iter()
            .flat_map(|a| a.vulnerabilities),
    ) {
        let severity = snyk_severity(v.severity_with_critical.as_deref(), v.severity.as_deref());
        let ids = if v.identifiers.cve.is_empty() {
            vec![v.id]
        } else {
            v.identifiers.cve
        };
        for id in ids {
            facts.push(Vulnerability {
                id,
                package: v.package_name.clone(),
                installed: v.version.clone(),
                fixed: v.fixed_in.first().cloned().filter(|f| !f.is_empty()),
                severity: severity.to_string(),
            });
        }
    }
    let mut scan = ScanFacts {
        scanners: vec![Scanner {
            name: "snyk".to_string(),
            version: None,
            scanned_at: None,
        }],
        vulnerabilities: facts,
        secrets: None,
    };
    scan.normalize();
    Ok(ScanReport {
        scan,
        digests: Vec::new(),
        config_digest: None,
        references,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use portcullis_engine::facts::FactsFile;
    use portcullis_engine::facts::ImageFacts;

    use super::*;
    use crate::scan::merge_report;

    fn fixture(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/facts/snyk")
            .join(name);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn by_severity(report: &ScanReport) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for v in &report.scan.vulnerabilities {
            *counts.entry(v.severity.as_str()).or_default() += 1;
        }
        counts
    }

    // Expected counts were taken independently of this parser, with Python over the same
    // files: one entry per (CVE, or Snyk id without CVE; packageName; version) over the
    // report's and its applications' vulnerabilities, severityWithCritical else severity,
    // the highest severity of duplicates:
    //
    //   python3 -c "import json,sys,collections as C; d=json.load(open(sys.argv[1])); d=d if isinstance(d,list) else [d]; r={'unknown':0,'low':2,'medium':3,'high':4,'critical':5}
    //   for rep in d:
    //     s={}
    //     for v in rep['vulnerabilities']+[x for a in rep.get('applications',[]) for x in a['vulnerabilities']]:
    //       for i in (v.get('identifiers',{}).get('CVE') or [v['id']]):
    //         k=(i,v['packageName'],v['version']); sev=(v.get('severityWithCritical') or v['severity']).lower(); s[k]=max(s.get(k,sev),sev,key=r.get)
    //     print(len(s), dict(C.Counter(s.values())))" FILE
    #[test]
    fn fixtures_parse_to_the_counts_python_finds() {
        type Case = (&'static str, usize, &'static [(&'static str, usize)]);
        let cases: &[Case] = &[
            (
                "snykcontainer_issue_9270.json",
                25,
                &[("critical", 1), ("high", 2), ("low", 13), ("medium", 9)],
            ),
            (
                "snykcontainer_issue_epss.json",
                13,
                &[("critical", 1), ("high", 2), ("low", 1), ("medium", 9)],
            ),
        ];
        for (name, total, severities) in cases {
            let reports = parse_snyk(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            let [report] = reports.as_slice() else {
                panic!("{name}: {} reports", reports.len())
            };
            assert_eq!(report.scan.vulnerabilities.len(), *total, "{name}");
            let expected: BTreeMap<&str, usize> = severities.iter().copied().collect();
            assert_eq!(by_severity(report), expected, "{name}");
            assert_eq!(
                report.references,
                vec!["docker.io/sarim04/juiceshop:latest".to_string()],
                "{name}"
            );
            assert!(report.digests.is_empty());
            assert!(report.scan.secrets.is_none());
        }
    }

    #[test]
    fn ids_packages_and_fixes() {
        let reports = parse_snyk(&fixture("snykcontainer_issue_9270.json")).unwrap();
        let vulns = &reports[0].scan.vulnerabilities;
        let gcc = vulns.iter().find(|v| v.id == "CVE-2023-4039").unwrap();
        assert_eq!(
            (gcc.package.as_str(), gcc.installed.as_str()),
            ("gcc-10", "10.2.1-6")
        );
        assert_eq!(gcc.fixed, None);
        assert!(vulns.iter().all(|v| !v.id.starts_with("SNYK-DEBIAN")));
        // Application (npm) vulnerabilities are included, with their fixes.
        assert!(vulns.iter().any(|v| v.fixed.is_some()));
    }

    #[test]
    fn an_array_gives_a_report_per_image() {
        let first: serde_json::Value =
            serde_json::from_str(&fixture("snykcontainer_issue_epss.json")).unwrap();
        let mut second = first.clone();
        second["projectName"] = "docker-image|nginx".into();
        second["path"] = "nginx:1.27".into();
        second["applications"] = serde_json::json!([]);
        second["vulnerabilities"][0]["from"] = serde_json::json!(["docker-image|nginx@1.27"]);
        second["docker"] = serde_json::json!({"image": "nginx:1.27"});
        let array = serde_json::json!([first, second]).to_string();
        let reports = parse_snyk(&array).unwrap();
        assert_eq!(reports.len(), 2);
        assert_eq!(
            reports[0].references,
            vec!["docker.io/sarim04/juiceshop:latest"]
        );
        // The tagged name wins over the project name's implicit `latest`.
        assert_eq!(reports[1].references, vec!["docker.io/library/nginx:1.27"]);
        assert_eq!(reports[1].scan.vulnerabilities.len(), 1);
    }

    #[test]
    fn severity_mapping() {
        for (with_critical, plain, facts) in [
            (None, Some("low"), "low"),
            (None, Some("medium"), "medium"),
            (None, Some("high"), "high"),
            (Some("critical"), Some("high"), "critical"),
            (None, Some("critical"), "critical"),
            (None, Some("info"), "unknown"),
            (None, None, "unknown"),
        ] {
            assert_eq!(snyk_severity(with_critical, plain), facts);
        }
    }

    #[test]
    fn merges_by_reference_only() {
        let reports = parse_snyk(&fixture("snykcontainer_issue_epss.json")).unwrap();
        let mut file = FactsFile::default();
        let digest = format!("sha256:{}", "cd".repeat(32));
        file.insert(
            digest.clone(),
            ImageFacts {
                references: ["docker.io/sarim04/juiceshop:latest".to_string()].into(),
                ..ImageFacts::default()
            },
        );
        let report = reports.into_iter().next().unwrap();
        assert_eq!(merge_report(&mut file, report).unwrap(), digest);
        assert_eq!(
            file.images[&digest]
                .scan
                .as_ref()
                .unwrap()
                .vulnerabilities
                .len(),
            13
        );
        let again = parse_snyk(&fixture("snykcontainer_issue_epss.json")).unwrap();
        let error =
            merge_report(&mut FactsFile::default(), again.into_iter().next().unwrap()).unwrap_err();
        assert!(error.contains("names no image digest"), "{error}");
    }

    #[test]
    fn malformed_reports_say_what_is_wrong() {
        let open_source = parse_snyk(&fixture("all-projects_one_vuln.json")).unwrap_err();
        assert!(
            open_source.contains("image 1 of the array: not a Snyk container report"),
            "{open_source}"
        );
        assert!(open_source.contains("maven"), "{open_source}");
        for (text, wanted) in [
            ("", "not a JSON object or array"),
            ("[]", "empty array"),
            ("{", "not a Snyk container report"),
            (
                "{\"ok\": false, \"error\": \"Authentication failed\", \"path\": \"nginx\"}",
                "Authentication failed",
            ),
            (
                "{\"projectName\": \"docker-image|nginx\"}",
                "no `vulnerabilities`",
            ),
            (
                "{\"projectName\": \"docker-image|nginx\", \"vulnerabilities\": [{\"id\": 1}]}",
                "invalid type",
            ),
            (
                "{\"projectName\": \"docker-image|nginx\", \"vulnerabilities\": [{\"id\": \"x\"}]}",
                "packageName",
            ),
        ] {
            let error = parse_snyk(text).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
        }
    }

    #[test]
    fn references_from_snyk_spellings() {
        assert_eq!(
            image_reference("docker-image|nginx@1.27").as_deref(),
            Some("docker.io/library/nginx:1.27")
        );
        assert_eq!(
            image_reference("docker-image|sarim04/juiceshop").as_deref(),
            Some("docker.io/sarim04/juiceshop:latest")
        );
        assert_eq!(image_reference("sarim04/juiceshop:latest/juiceshop"), None);
        assert_eq!(image_reference("/mnt/c/Projects"), None);
    }
}
