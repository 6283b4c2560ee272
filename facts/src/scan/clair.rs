//! Clair v4 vulnerability reports -> scan facts.
//!
//! The report is what Clair's matcher serves as `application/vnd.clair.vulnerability_report.v1+json`
//! (`GET /matcher/api/v1/vulnerability_report/{digest}`, also what `clairctl report -o json`
//! prints): `manifest_hash`, `packages` and `vulnerabilities` keyed by document-local ids, and
//! `package_vulnerabilities` (package id -> vulnerability ids). The v1 API writes ids as
//! strings; older claircore JSON writes numbers; both are read.
//!
//! One vulnerability fact per (package, vulnerability) pair: the id is the first word of the
//! vulnerability's `name` (`CVE-2019-12904`, `RHSA-2021:4464`), the package name and installed
//! version come from `packages`, the fixed version from `fixed_in_version` (its `fixed=`
//! part for OSV-style `fixed=1.2&introduced=1.0`).
//!
//! Severity: Clair's `normalized_severity` maps one to one onto the facts' scale —
//! `Unknown` -> `unknown`, `Negligible` -> `negligible`, `Low` -> `low`, `Medium` -> `medium`,
//! `High` -> `high`, `Critical` -> `critical` (and Clair v2's `Defcon1` -> `critical`); a
//! missing or other value is `unknown`. The updater's own `severity` text (`Moderate`,
//! a CVSS vector) is not used.
//!
//! The report names its image only by manifest digest; Clair does not look for secrets, so
//! they stay unknown.

use std::collections::BTreeMap;
use std::fmt;

use portcullis_engine::facts::{ScanFacts, Scanner, Vulnerability, is_digest};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::ScanReport;

/// A document-local id: a string (v1 API) or a number (older claircore JSON).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Id(String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Id, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (a string or an integer)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[derive(Debug, Deserialize)]
struct ClairReport {
    manifest_hash: Option<String>,
    packages: Option<BTreeMap<String, ClairPackage>>,
    vulnerabilities: Option<BTreeMap<String, ClairVulnerability>>,
    package_vulnerabilities: Option<BTreeMap<String, Vec<Id>>>,
    /// Present in index reports (`IndexFinished`), which carry no vulnerabilities.
    state: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ClairPackage {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

#[derive(Debug, Deserialize)]
struct ClairVulnerability {
    #[serde(default)]
    name: String,
    #[serde(default)]
    normalized_severity: Option<String>,
    #[serde(default)]
    fixed_in_version: Option<String>,
}

/// Clair's normalized severity on the facts' scale (see the module docs).
pub fn clair_severity(normalized: Option<&str>) -> &'static str {
    match normalized.map(str::to_ascii_lowercase).as_deref() {
        Some("critical" | "defcon1") => "critical",
        Some("high") => "high",
        Some("medium") => "medium",
        Some("low") => "low",
        Some("negligible") => "negligible",
        _ => "unknown",
    }
}

/// `CVE-2019-12904`, `RHSA-2021:4464: dnf security update (Moderate)` -> `RHSA-2021:4464`.
fn vulnerability_id(name: &str) -> Option<String> {
    let first = name.split_whitespace().next()?.trim_end_matches(':');
    (!first.is_empty()).then(|| first.to_string())
}

/// `1.2.3`, or the `fixed=` part of `fixed=1.2&introduced=1.0`; `None` when empty.
fn fixed_version(text: &str) -> Option<String> {
    let text = text.trim();
    let fixed = if text.contains('=') {
        text.split('&')
            .find_map(|part| part.strip_prefix("fixed="))
            .unwrap_or_default()
    } else {
        text
    };
    (!fixed.is_empty()).then(|| fixed.to_string())
}

/// Reads a Clair v4 vulnerability report.
pub fn parse_clair(text: &str) -> Result<ScanReport, String> {
    if text.trim_start().starts_with('[') {
        return Err("not a Clair vulnerability report: it is a JSON array, not an object".into());
    }
    let report: ClairReport =
        serde_json::from_str(text).map_err(|e| format!("not a Clair vulnerability report: {e}"))?;
    let Some(manifest_hash) = report.manifest_hash else {
        return Err("not a Clair vulnerability report: it has no `manifest_hash`".into());
    };
    let (Some(vulnerabilities), Some(package_vulnerabilities)) =
        (report.vulnerabilities, report.package_vulnerabilities)
    else {
        return Err(match report.state {
            Some(state) => format!(
                "this is a Clair index report (state `{state}`), which lists packages but no vulnerabilities; give the vulnerability report (`clairctl report`, or the matcher's `vulnerability_report`)"
            ),
            None => "not a Clair vulnerability report: it has no `vulnerabilities` or no `package_vulnerabilities`".into(),
        });
    };
    let packages = report.packages.unwrap_or_default();
    let mut facts = Vec::new();
    for (package_id, vulnerability_ids) in &package_vulnerabilities {
        let Some(package) = packages.get(package_id) else {
            return Err(format!(
                "invalid Clair vulnerability report: `package_vulnerabilities` names package `{package_id}`, which is not in `packages`"
            ));
        };
        for Id(vulnerability_id_key) in vulnerability_ids {
            let Some(vulnerability) = vulnerabilities.get(vulnerability_id_key) else {
                return Err(format!(
                    "invalid Clair vulnerability report: package `{package_id}` lists vulnerability `{vulnerability_id_key}`, which is not in `vulnerabilities`"
                ));
            };
            facts.push(Vulnerability {
                id: vulnerability_id(&vulnerability.name)
                    .unwrap_or_else(|| vulnerability_id_key.clone()),
                package: package.name.clone(),
                installed: package.version.clone(),
                fixed: vulnerability
                    .fixed_in_version
                    .as_deref()
                    .and_then(fixed_version),
                severity: clair_severity(vulnerability.normalized_severity.as_deref()).to_string(),
            });
        }
    }
    let mut scan = ScanFacts {
        scanners: vec![Scanner {
            name: "clair".to_string(),
            version: None,
            scanned_at: None,
        }],
        vulnerabilities: facts,
        secrets: None,
    };
    scan.normalize();
    Ok(ScanReport {
        scan,
        digests: is_digest(&manifest_hash)
            .then_some(manifest_hash)
            .into_iter()
            .collect(),
        config_digest: None,
        references: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::path::PathBuf;

    use portcullis_engine::facts::FactsFile;

    use super::*;
    use crate::scan::merge_report;

    fn fixture(name: &str) -> String {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/facts/clair")
            .join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if name.ends_with(".gz") {
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            text
        } else {
            String::from_utf8(bytes).unwrap()
        }
    }

    fn by_severity(report: &ScanReport) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for v in &report.scan.vulnerabilities {
            *counts.entry(v.severity.as_str()).or_default() += 1;
        }
        counts
    }

    // Expected counts were taken independently of this parser, with Python over the same
    // files: one entry per (first word of the vulnerability's name, package name, package
    // version) reached through `package_vulnerabilities`, the highest severity of duplicates:
    //
    //   python3 -c "import json,sys,gzip,collections as C; p=sys.argv[1]; d=json.load(gzip.open(p) if p.endswith('.gz') else open(p)); r={'unknown':0,'negligible':1,'low':2,'medium':3,'high':4,'critical':5}; s={}
    //   [s.__setitem__(k, max(s.get(k,sev), sev, key=r.get)) for pid,vids in d['package_vulnerabilities'].items() for vid in vids for v,pk in [(d['vulnerabilities'][str(vid)], d['packages'][str(pid)])] for k,sev in [((v['name'].split()[0].rstrip(':'), pk['name'], pk['version']), (v.get('normalized_severity') or 'unknown').lower())]]
    //   print(len(s), dict(C.Counter(s.values())), d['manifest_hash'])" FILE
    #[test]
    fn fixtures_parse_to_the_counts_python_finds() {
        type Case = (
            &'static str,
            usize,
            &'static [(&'static str, usize)],
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "claircore-ubuntu-18.04.report.json",
                132,
                &[("high", 6), ("low", 53), ("medium", 43), ("negligible", 30)],
                "sha256:b58746c8a89938b8c9f5b77de3b8cf1fe78210c696ab03a1442e235eea65d84f",
            ),
            (
                "claircore-amazonlinux-1.report.json",
                2,
                &[("medium", 2)],
                "sha256:548e328ccb1bbbad1dbda7f99ffaefd4483824631e5320dbe11f9e49b4761c67",
            ),
            (
                "clair-action-quay_v3_4.json.gz",
                163,
                &[("high", 16), ("low", 15), ("medium", 76), ("unknown", 56)],
                "sha256:2bd5e92bb302e3ccd91936554bcb1eb921e82bdb958dc3be7a43daec8e8c95e4",
            ),
            (
                "clair-action-report-with-vulns.json.gz",
                3,
                &[("unknown", 3)],
                "sha256:5f8d7f8c8d2babeec919b7854113bfb4c429acc929dadaff4637f6bd5268cf4d",
            ),
        ];
        for (name, total, severities, digest) in cases {
            let report = parse_clair(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(report.scan.vulnerabilities.len(), *total, "{name}");
            let expected: BTreeMap<&str, usize> = severities.iter().copied().collect();
            assert_eq!(by_severity(&report), expected, "{name}");
            assert_eq!(report.digests, vec![digest.to_string()], "{name}");
            assert!(report.scan.secrets.is_none());
            assert_eq!(report.scan.scanners[0].name, "clair");
        }
    }

    #[test]
    fn fields_come_from_the_package_and_the_vulnerability() {
        let report = parse_clair(&fixture("claircore-ubuntu-18.04.report.json")).unwrap();
        let v = report
            .scan
            .vulnerabilities
            .iter()
            .find(|v| v.id == "CVE-2009-5155")
            .unwrap();
        assert_eq!(
            (v.package.as_str(), v.installed.as_str()),
            ("libc-bin", "2.27-3ubuntu1")
        );
        assert_eq!(v.fixed.as_deref(), Some("2.28-0ubuntu1"));
        let report = parse_clair(&fixture("clair-action-quay_v3_4.json.gz")).unwrap();
        assert!(
            report
                .scan
                .vulnerabilities
                .iter()
                .any(|v| v.id == "RHSA-2021:4464")
        );
        assert_eq!(
            fixed_version("fixed=2.9.11&introduced=2.8.0").as_deref(),
            Some("2.9.11")
        );
        assert_eq!(fixed_version("introduced=2.8.0"), None);
        assert_eq!(fixed_version(""), None);
    }

    #[test]
    fn v1_api_example_objects_and_numeric_ids() {
        // A v1 report assembled from Clair's own API examples (one package, one
        // vulnerability), once with string ids and once with the numbers older claircore
        // JSON wrote.
        let vulnerability: serde_json::Value =
            serde_json::from_str(&fixture("clair-api-example-vulnerability.json")).unwrap();
        let package: serde_json::Value =
            serde_json::from_str(&fixture("clair-api-example-package.json")).unwrap();
        let digest = format!("sha256:{}", "ab".repeat(32));
        for (package_key, vulnerability_ref) in [
            ("10", serde_json::json!("356835")),
            ("10", serde_json::json!(356835)),
        ] {
            let report = serde_json::json!({
                "manifest_hash": digest,
                "packages": {package_key: package},
                "distributions": {},
                "environments": {},
                "vulnerabilities": {"356835": vulnerability},
                "package_vulnerabilities": {package_key: [vulnerability_ref]},
            });
            let parsed = parse_clair(&report.to_string()).unwrap();
            let [v] = parsed.scan.vulnerabilities.as_slice() else {
                panic!("{parsed:?}")
            };
            assert_eq!(
                (
                    v.id.as_str(),
                    v.package.as_str(),
                    v.installed.as_str(),
                    v.severity.as_str()
                ),
                ("CVE-2009-5155", "libapt-pkg5.0", "1.6.11", "low")
            );
            assert_eq!(v.fixed.as_deref(), Some("2.28-0ubuntu1"));
        }
    }

    #[test]
    fn severity_mapping() {
        for (clair, facts) in [
            (Some("Unknown"), "unknown"),
            (Some("Negligible"), "negligible"),
            (Some("Low"), "low"),
            (Some("Medium"), "medium"),
            (Some("High"), "high"),
            (Some("Critical"), "critical"),
            (Some("Defcon1"), "critical"),
            (Some("Moderate"), "unknown"),
            (None, "unknown"),
        ] {
            assert_eq!(clair_severity(clair), facts, "{clair:?}");
        }
    }

    #[test]
    fn merges_by_manifest_digest() {
        let report = parse_clair(&fixture("claircore-amazonlinux-1.report.json")).unwrap();
        let digest = report.digests[0].clone();
        let mut file = FactsFile::default();
        file.insert(
            digest.clone(),
            portcullis_engine::facts::ImageFacts {
                references: ["docker.io/library/amazonlinux:1".to_string()].into(),
                ..Default::default()
            },
        );
        assert_eq!(merge_report(&mut file, report).unwrap(), digest);
        let facts = &file.images[&digest];
        assert!(facts.references.contains("docker.io/library/amazonlinux:1"));
        assert_eq!(facts.scan.as_ref().unwrap().vulnerabilities.len(), 2);
    }

    #[test]
    fn malformed_reports_say_what_is_wrong() {
        let index = parse_clair(&fixture("claircore-scanreport-bionic.json")).unwrap_err();
        assert!(index.contains("index report"), "{index}");
        for (text, wanted) in [
            ("", "not a Clair vulnerability report"),
            ("[]", "JSON array"),
            ("{}", "no `manifest_hash`"),
            ("{\"manifest_hash\": \"sha256:x\"}", "no `vulnerabilities`"),
            (
                "{\"manifest_hash\": \"x\", \"packages\": {}, \"vulnerabilities\": {}, \"package_vulnerabilities\": {\"1\": [\"2\"]}}",
                "package `1`",
            ),
            (
                "{\"manifest_hash\": \"x\", \"packages\": {\"1\": {\"name\": \"a\"}}, \"vulnerabilities\": {}, \"package_vulnerabilities\": {\"1\": [\"2\"]}}",
                "vulnerability `2`",
            ),
            (
                "{\"manifest_hash\": \"x\", \"packages\": {}, \"vulnerabilities\": {}, \"package_vulnerabilities\": {\"1\": [true]}}",
                "an id",
            ),
        ] {
            let error = parse_clair(text).unwrap_err();
            assert!(error.contains(wanted), "{text}: {error}");
        }
        // A report whose hash is not a digest parses, but cannot be merged by digest.
        let anonymous = parse_clair(
            "{\"manifest_hash\": \"x\", \"packages\": {}, \"vulnerabilities\": {}, \"package_vulnerabilities\": {}}",
        )
        .unwrap();
        assert!(anonymous.digests.is_empty());
        let error = merge_report(&mut FactsFile::default(), anonymous).unwrap_err();
        assert!(error.contains("names no image digest"), "{error}");
    }
}
