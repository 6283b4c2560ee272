//! Configuration: per-rule settings, severity overrides, on/off switches and exemptions.
//!
//! ```yaml
//! rules:
//!   untrusted-registry:
//!     allowed: ["registry.company.com/*"]
//!     severity: critical
//!   missing-digest:
//!     enabled: false
//! exemptions:
//!   - {rule: latest-tag, namespace: "dev-*", reason: "dev tracks latest", expires: 2027-01-31}
//! ```
//!
//! Parsing here checks the shape; [`crate::Policy::new`] checks rule ids and settings against
//! the loaded rules, so both built-in and custom rules are validated the same way.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;
use crate::finding::FindingId;
use crate::image::{ImagePattern, ImageRef};
use crate::severity::Severity;

/// A parsed configuration file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from, for error messages.
    pub(crate) path: Option<String>,
    /// Per-rule settings, by rule id.
    pub(crate) rules: BTreeMap<String, RuleConfig>,
    /// Exemptions, in order.
    pub(crate) exemptions: Vec<Exemption>,
    /// `namespace`: the namespace of resources whose manifest names none (else `default`).
    pub(crate) namespace: Option<String>,
    /// The configuration text, to point errors at lines.
    text: String,
}

/// What the configuration says about one rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RuleConfig {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub settings: BTreeMap<String, Value>,
}

/// Whether `name` is a valid namespace name (an RFC 1123 label, as Kubernetes requires).
pub fn is_namespace_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A waiver of findings, with the reason it exists.
#[derive(Debug, Clone)]
pub(crate) struct Exemption {
    /// A rule id, or `*` for every rule.
    pub rule: String,
    pub namespace: Option<Glob>,
    pub name: Option<Glob>,
    pub kind: Option<String>,
    pub image: Option<ImagePattern>,
    pub reason: String,
    pub expires: Option<Date>,
    /// 0-based position in the `exemptions` list.
    pub index: usize,
}

pub use crate::glob::Glob;

impl Exemption {
    /// Whether this exemption covers the finding `id` (whose container runs `image`), its
    /// expiry aside: rule, namespace, name and kind from the identity, and the image
    /// pattern when the exemption has one.
    pub(crate) fn covers(&self, id: &FindingId, image: Option<&ImageRef>) -> bool {
        (self.rule == "*" || *self.rule == *id.rule)
            && self
                .namespace
                .as_ref()
                .is_none_or(|g| g.is_match(&id.namespace))
            && self.name.as_ref().is_none_or(|g| g.is_match(&id.name))
            && self
                .kind
                .as_ref()
                .is_none_or(|k| k.eq_ignore_ascii_case(&id.kind))
            && self
                .image
                .as_ref()
                .is_none_or(|pattern| image.is_some_and(|i| pattern.matches(i)))
    }
}

/// A calendar date, as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i64);

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Date, String> {
        let bad = || format!("`{text}` is not a date in the form YYYY-MM-DD");
        let mut parts = text.trim().splitn(3, '-');
        let mut next = |len: usize| -> Result<i64, String> {
            let part = parts.next().ok_or_else(bad)?;
            if part.len() != len || !part.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let (year, month, day) = (next(4)?, next(2)?, next(2)?);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad()),
        };
        if day < 1 || day > days_in_month {
            return Err(bad());
        }
        Ok(Date(days_from_civil(year, month, day)))
    }

    /// Today in UTC.
    pub fn today() -> Date {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Date(secs.div_euclid(86_400))
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        Date(days)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(self.0);
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

// Howard Hinnant's algorithms for the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

impl Config {
    /// Parses configuration text. All problems are reported, each with its line.
    pub fn parse(path: &str, text: &str) -> Result<Config, Vec<Diagnostic>> {
        let (config, errors) = Config::parse_lenient(path, text);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Parses what can be parsed and returns it with every problem found, so callers can
    /// report problems from later checks (unknown rules, settings) in the same run.
    pub fn parse_lenient(path: &str, text: &str) -> (Config, Vec<Diagnostic>) {
        let mut config = Config {
            path: Some(path.to_string()),
            text: text.to_string(),
            ..Config::default()
        };
        let value: Value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            // Read as manifests are: configurations may use anchors and merge keys too.
            match crate::yaml::parse_document(text) {
                Ok(document) => document.value,
                Err(e) => {
                    let column = e
                        .column
                        .map(|c| format!(" (column {c})"))
                        .unwrap_or_default();
                    let error = Diagnostic::new(
                        path,
                        None,
                        e.line,
                        format!("invalid YAML: {}{column}", e.message),
                    );
                    return (config, vec![error]);
                }
            }
        };
        let Value::Object(top) = value else {
            let error = config.error(
                &[],
                "the configuration must be a mapping with `rules` and `exemptions`",
            );
            return (config, vec![error]);
        };

        let mut errors = Vec::new();
        for key in top.keys() {
            if !["rules", "exemptions", "namespace"].contains(&key.as_str()) {
                errors.push(config.error(
                    &[key],
                    format!("unknown key `{key}`; allowed: `rules`, `exemptions`, `namespace`"),
                ));
            }
        }
        match top.get("namespace") {
            None | Some(Value::Null) => {}
            Some(Value::String(ns)) if is_namespace_name(ns) => config.namespace = Some(ns.clone()),
            Some(other) => errors.push(config.error(
                &["namespace"],
                format!(
                    "`namespace` must be a Kubernetes namespace name (lower-case letters, digits and `-`, at most 63), not {other}"
                ),
            )),
        }
        match top.get("rules") {
            None | Some(Value::Null) => {}
            Some(Value::Object(rules)) => {
                for (id, value) in rules {
                    let (rule, mut rule_errors) = config.parse_rule(id, value);
                    config.rules.insert(id.clone(), rule);
                    errors.append(&mut rule_errors);
                }
            }
            Some(_) => errors.push(config.error(
                &["rules"],
                "`rules` must be a mapping of rule id to settings",
            )),
        }
        match top.get("exemptions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (index, item) in items.iter().enumerate() {
                    match config.parse_exemption(index, item) {
                        Ok(exemption) => config.exemptions.push(exemption),
                        Err(e) => errors.push(e),
                    }
                }
            }
            Some(_) => errors.push(config.error(&["exemptions"], "`exemptions` must be a list")),
        }
        (config, errors)
    }

    /// The rule's configuration (what is valid of it) and the problems found.
    fn parse_rule(&self, id: &str, value: &Value) -> (RuleConfig, Vec<Diagnostic>) {
        let mut rule = RuleConfig::default();
        let map = match value {
            Value::Null => return (rule, Vec::new()),
            Value::Object(map) => map,
            _ => {
                let error = self.error(
                    &["rules", id],
                    format!("settings of rule `{id}` must be a mapping"),
                );
                return (rule, vec![error]);
            }
        };
        let mut errors = Vec::new();
        for (key, value) in map {
            match key.as_str() {
                "enabled" => match value {
                    Value::Bool(b) => rule.enabled = Some(*b),
                    _ => errors.push(self.error(
                        &["rules", id, key],
                        format!("`enabled` of rule `{id}` must be true or false"),
                    )),
                },
                "severity" => match value.as_str().map(str::parse::<Severity>) {
                    Some(Ok(severity)) => rule.severity = Some(severity),
                    Some(Err(e)) => {
                        errors.push(self.error(&["rules", id, key], format!("rule `{id}`: {e}")))
                    }
                    None => errors.push(self.error(
                        &["rules", id, key],
                        format!("`severity` of rule `{id}` must be a string"),
                    )),
                },
                _ => {
                    rule.settings.insert(key.clone(), value.clone());
                }
            }
        }
        (rule, errors)
    }

    fn parse_exemption(&self, index: usize, value: &Value) -> Result<Exemption, Diagnostic> {
        let at = format!("#{index}");
        let error = |message: String| {
            self.error(
                &["exemptions", &at],
                format!("exemption {}: {message}", index + 1),
            )
        };
        let Value::Object(map) = value else {
            return Err(error("must be a mapping with `rule` and `reason`".into()));
        };
        const FIELDS: [&str; 7] = [
            "rule",
            "namespace",
            "name",
            "kind",
            "image",
            "reason",
            "expires",
        ];
        if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(error(format!(
                "unknown field `{unknown}`; allowed: {}",
                FIELDS.map(|f| format!("`{f}`")).join(", ")
            )));
        }
        let text = |key: &str| -> Result<Option<String>, Diagnostic> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(_) => Err(error(format!("`{key}` must be a string"))),
            }
        };
        let rule =
            text("rule")?.ok_or_else(|| error("needs a `rule` (a rule id, or `*`)".into()))?;
        let reason = text("reason")?
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| error("needs a `reason`: every exemption says why it exists".into()))?;
        // Pattern errors point at the field's own line.
        let field_error = |key: &str, message: String| {
            self.error(
                &["exemptions", &at, key],
                format!("exemption {}: {message}", index + 1),
            )
        };
        let glob = |key: &str| -> Result<Option<Glob>, Diagnostic> {
            text(key)?
                .map(|p| Glob::new(&p).map_err(|e| field_error(key, e)))
                .transpose()
        };
        let image = text("image")?
            .map(|p| ImagePattern::new(&p).map_err(|e| field_error("image", e)))
            .transpose()?;
        let expires = text("expires")?
            .map(|d| Date::parse(&d).map_err(|e| error(format!("`expires`: {e}"))))
            .transpose()?;
        Ok(Exemption {
            rule,
            namespace: glob("namespace")?,
            name: glob("name")?,
            kind: text("kind")?,
            image,
            reason,
            expires,
            index,
        })
    }

    /// An error about the value at `keys` (e.g. `["rules", "latest-tag", "disallowed-tags"]`;
    /// `#N` selects the N-th list item), with its line when it can be found.
    pub(crate) fn error(&self, keys: &[&str], message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(
            self.path.clone().unwrap_or_else(|| "<config>".into()),
            None,
            locate(&self.text, keys),
            message,
        )
    }
}

/// Finds the 1-based line of a key path in block-style YAML by indentation. Best effort: for
/// flow style it returns the line of the deepest key it found.
fn locate(text: &str, keys: &[&str]) -> Option<usize> {
    let mut found: Option<usize> = None;
    let mut depth = 0usize;
    let mut parent_indent: isize = -1;
    let mut item_count = 0usize;
    let mut item_indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        if depth == keys.len() {
            break;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let is_sibling_item = trimmed.starts_with("- ") && indent as isize == parent_indent;
        if depth > 0 && (indent as isize) <= parent_indent && !is_sibling_item {
            break;
        }
        let want = keys[depth];
        if let Some(n) = want.strip_prefix('#') {
            let n: usize = n.parse().ok()?;
            if trimmed.starts_with('-') && item_indent.is_none_or(|ii| ii == indent) {
                item_indent = Some(indent);
                if item_count == n {
                    found = Some(i + 1);
                    depth += 1;
                    parent_indent = indent as isize;
                }
                item_count += 1;
            }
            continue;
        }
        let body = trimmed.trim_start_matches("- ");
        let key = body
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(['"', '\'']);
        if key == want && body.contains(':') {
            found = Some(i + 1);
            depth += 1;
            parent_indent = indent as isize;
        } else if let Some(rest) = body.split_once(':').map(|(_, rest)| rest)
            && rest.contains(&format!("{want}:"))
        {
            // Flow style on one line: `rules: {latest-tag: {…}}`.
            return Some(i + 1);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for text in ["1970-01-01", "2000-02-29", "2027-01-31", "2026-11-26"] {
            assert_eq!(Date::parse(text).unwrap().to_string(), text);
        }
        assert!(Date::parse("2027-02-30").is_err());
        assert!(Date::parse("27-1-1").is_err());
        assert!(Date::parse("2027-01-31").unwrap() > Date::parse("2026-12-31").unwrap());
    }

    #[test]
    fn exemptions_need_a_reason() {
        let errors = Config::parse("p.yaml", "exemptions:\n  - rule: latest-tag\n").unwrap_err();
        assert!(errors[0].message.contains("reason"), "{errors:?}");
        assert_eq!(errors[0].line, Some(2));
    }

    #[test]
    fn locates_nested_keys() {
        let text = "rules:\n  latest-tag:\n    enabled: true\n  missing-digest:\n    bogus: 1\n";
        assert_eq!(locate(text, &["rules", "missing-digest", "bogus"]), Some(5));
        assert_eq!(locate(text, &["rules", "latest-tag"]), Some(2));
    }
}
