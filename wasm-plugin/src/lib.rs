//! Portcullis as WebAssembly modules. One facade core (this file) over the engine, and one
//! thin adapter per host ABI:
//!
//! | artifact | target | adapter |
//! |---|---|---|
//! | Kubewarden waPC module | `wasm32-wasip1` cdylib, feature `wapc` | [`wapc`](../src/wapc.rs) |
//! | OPA Wasm ABI 1.2 module | `wasm32-unknown-unknown` cdylib, feature `opa` | [`opa`](../src/opa.rs) |
//! | WASI command | `wasm32-wasip1` bin `portcullis-wasi` | `src/bin/wasi.rs` |
//!
//! The core parses settings (the CLI configuration structure, as JSON) with the engine's own
//! configuration parser, so errors read exactly as the CLI's; it evaluates AdmissionReviews,
//! AdmissionRequests or bare objects with the engine and turns the report into a
//! [`Decision`]. No policy logic lives here.

pub mod bundle;
#[cfg(all(target_family = "wasm", feature = "opa"))]
mod opa;
#[cfg(all(target_family = "wasm", feature = "wapc"))]
mod wapc;

pub use portcullis_engine::admission::{DENY_AT, Decision, MAX_VIOLATIONS, Violation};
use portcullis_engine::facts::FactsFile;
use portcullis_engine::{Config, Date, Diagnostic, Policy, Report, RuleSet, Source};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Name under which the request appears in error messages.
const REQUEST_NAME: &str = "request";
/// Name under which host settings appear in error messages.
const SETTINGS_NAME: &str = "settings";
/// The rules a module evaluates: the default pack plus the bundled user rules, and the
/// bundled default configuration.
#[derive(Debug)]
pub struct Plugin {
    rules: RuleSet,
    bundle: bundle::Bundle,
    image_facts: Option<FactsFile>,
}

/// Answer to `validate_settings`, in Kubewarden's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsValidation {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Plugin {
    /// The default pack plus the bundle stored in this module.
    pub fn load() -> Result<Plugin, String> {
        Plugin::with_bundle(bundle::load()?)
    }

    /// The default pack plus `bundle`'s rules. Errors read like the CLI's rule load errors.
    pub fn with_bundle(bundle: bundle::Bundle) -> Result<Plugin, String> {
        let mut rules = RuleSet::builtin();
        let mut errors = Vec::new();
        for rule in &bundle.rules {
            if let Err(e) = rules.add_source(&rule.origin, &rule.source, Some(&rule.id)) {
                errors.push(e.to_string());
            }
        }
        let image_facts = match &bundle.image_facts {
            Some(text) => match FactsFile::parse(text) {
                Ok(file) => Some(file),
                Err(message) => {
                    let name = bundle.image_facts_name.as_deref().unwrap_or("image facts");
                    errors.push(format!("{name}: {message}"));
                    None
                }
            },
            None => None,
        };
        if errors.is_empty() {
            Ok(Plugin {
                rules,
                bundle,
                image_facts,
            })
        } else {
            Err(errors.join("; "))
        }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The configuration for `settings`: the host's settings when it gave any (a non-empty
    /// object), otherwise the bundled configuration, otherwise the defaults.
    fn config(&self, settings: &Value) -> Result<Config, Vec<Diagnostic>> {
        let empty = match settings {
            Value::Null => true,
            Value::Object(map) => map.is_empty(),
            _ => false,
        };
        if !empty {
            // JSON is YAML: the CLI's parser reads it and words its errors the same way.
            return Config::parse(SETTINGS_NAME, &settings.to_string());
        }
        match &self.bundle.config {
            Some(text) => Config::parse(
                self.bundle
                    .config_name
                    .as_deref()
                    .unwrap_or("bundled configuration"),
                text,
            ),
            None => Ok(Config::default()),
        }
    }

    /// The policy for `settings`, evaluating exemption expiry as of `today`.
    pub fn policy(&self, settings: &Value, today: Date) -> Result<Policy, Vec<String>> {
        let messages = |errors: Vec<Diagnostic>| {
            errors
                .into_iter()
                .map(|e| e.message)
                .collect::<Vec<String>>()
        };
        let config = self.config(settings).map_err(messages)?;
        let mut builder = Policy::builder(&self.rules).config(config).today(today);
        if let Some(facts) = &self.image_facts {
            builder = builder.image_facts(facts.clone());
        }
        builder.build().map_err(messages)
    }

    /// Kubewarden's `validate_settings`: unknown rule ids and bad values are rejected with
    /// the CLI's messages.
    pub fn validate_settings(&self, settings: &Value) -> SettingsValidation {
        // Any date will do: expiry does not make settings invalid.
        match self.policy(settings, Date::from_days(0)) {
            Ok(_) => SettingsValidation {
                valid: true,
                message: None,
            },
            Err(errors) => SettingsValidation {
                valid: false,
                message: Some(errors.join("; ")),
            },
        }
    }

    /// Evaluates an AdmissionReview, an AdmissionRequest or a bare object.
    pub fn evaluate(&self, policy: &Policy, request: Value) -> Decision {
        let uid = admission_uid(&request);
        if let Some(problem) = malformed(&request) {
            return Decision::error(vec![problem], uid);
        }
        let mut report = policy.check(&Source::from_json(REQUEST_NAME, request));
        report.sort();
        decide(&report, uid)
    }
}

/// Why `request` cannot be an admission request or object at all. A host sends one of
/// those; anything else (`null`, `{}`, `{"request": {}}`) is a bug upstream to be answered
/// with 400, not a document to skip (which would allow it).
fn malformed(request: &Value) -> Option<String> {
    let Value::Object(map) = request else {
        return Some(format!(
            "the request is {}; expected an AdmissionReview, an AdmissionRequest or a Kubernetes object",
            match request {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "a list",
                Value::Object(_) => "an object",
            }
        ));
    };
    let has = |key: &str| map.get(key).is_some_and(|v| !v.is_null());
    if !has("kind") && !has("operation") && !has("object") {
        return Some(
            "the request has no `kind`: expected an AdmissionReview, an AdmissionRequest or a Kubernetes object"
                .into(),
        );
    }
    None
}

/// The uid of an AdmissionReview's request or of a bare AdmissionRequest.
fn admission_uid(value: &Value) -> Option<String> {
    let request = match value.get("request") {
        Some(request) if value.get("kind").and_then(Value::as_str) == Some("AdmissionReview") => {
            request
        }
        _ => value,
    };
    request
        .get("uid")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Turns a report into a decision at the modules' threshold, [`DENY_AT`].
pub fn decide(report: &Report, uid: Option<String>) -> Decision {
    portcullis_engine::admission::decide(report, uid, DENY_AT)
}

/// Kubewarden's ValidationRequest: the AdmissionRequest and the policy settings.
#[derive(Debug, Deserialize)]
pub struct ValidationRequest {
    pub request: Value,
    #[serde(default)]
    pub settings: Value,
}

/// Handles a ValidationRequest given as JSON bytes and answers a ValidationResponse. Never
/// fails: a malformed request is answered with a denial that says what is wrong. For one
/// request; hosts that keep an instance use [`PolicyCache::validate_json`].
pub fn validate_json(plugin: &Plugin, input: &[u8], today: Date) -> Value {
    PolicyCache::default().validate_json(plugin, input, today)
}

/// The policy for the last settings and date a host asked for: hosts send the same settings
/// with every request, and resolving them costs more than many evaluations.
#[derive(Debug, Default)]
pub struct PolicyCache {
    last: Option<(Value, Date, Result<Policy, Vec<String>>)>,
}

impl PolicyCache {
    /// Evaluates `request` under `settings`, resolving them again only when they or the date
    /// changed. Settings errors deny the request with the CLI's messages.
    pub fn decide(
        &mut self,
        plugin: &Plugin,
        settings: Value,
        today: Date,
        request: Value,
    ) -> Decision {
        if self
            .last
            .as_ref()
            .is_some_and(|(s, d, _)| *s != settings || *d != today)
        {
            self.last = None;
        }
        let (_, _, policy) = self.last.get_or_insert_with(|| {
            let policy = plugin.policy(&settings, today);
            (settings, today, policy)
        });
        match policy {
            Ok(policy) => plugin.evaluate(policy, request),
            Err(errors) => Decision::error(
                errors
                    .iter()
                    .map(|e| format!("invalid settings: {e}"))
                    .collect(),
                admission_uid(&request),
            ),
        }
    }

    /// [`validate_json`] through this cache.
    pub fn validate_json(&mut self, plugin: &Plugin, input: &[u8], today: Date) -> Value {
        match serde_json::from_slice::<ValidationRequest>(input) {
            Ok(request) => self
                .decide(plugin, request.settings, today, request.request)
                .to_validation_response(),
            Err(e) => Decision::error(vec![format!("invalid ValidationRequest: {e}")], None)
                .to_validation_response(),
        }
    }
}

/// Handles settings given as JSON bytes and answers `{"valid": …, "message": …}`.
pub fn validate_settings_json(plugin: &Plugin, input: &[u8]) -> SettingsValidation {
    let text = std::str::from_utf8(input).unwrap_or("");
    let settings: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(input) {
            Ok(value) => value,
            Err(e) => {
                return SettingsValidation {
                    valid: false,
                    message: Some(format!("settings are not valid JSON: {e}")),
                };
            }
        }
    };
    plugin.validate_settings(&settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plugin() -> Plugin {
        Plugin::with_bundle(bundle::Bundle::default()).unwrap()
    }

    #[test]
    fn settings_errors_read_like_the_cli() {
        let answer = plugin().validate_settings(&json!({"rules": {"no-such-rule": {}}}));
        assert!(!answer.valid);
        assert!(
            answer
                .message
                .unwrap()
                .starts_with("unknown rule `no-such-rule`; known rules: ")
        );
        assert!(plugin().validate_settings(&json!({})).valid);
        assert!(plugin().validate_settings(&Value::Null).valid);
    }

    #[test]
    fn malformed_requests_are_denied_not_fatal() {
        let plugin = plugin();
        let response = validate_json(&plugin, b"{not json", Date::from_days(0));
        assert_eq!(response["accepted"], false);
        assert_eq!(response["code"], 400);
        let response = validate_json(&plugin, br#"{"request": 7}"#, Date::from_days(0));
        assert_eq!(response["accepted"], false, "{response}");
        // Each was allowed as if valid (issue 10); each is a 400 now.
        for input in [
            "null",
            "{}",
            r#"{"request": null}"#,
            r#"{"request": {}}"#,
            r#"{"request": {"uid": "1", "operation": "CREATE", "object": {"metadata": {"name": "p"}}}}"#,
            r#"{"request": {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}}"#,
        ] {
            let response = validate_json(&plugin, input.as_bytes(), Date::from_days(0));
            assert_eq!(response["accepted"], false, "{input}: {response}");
            assert_eq!(response["code"], 400, "{input}: {response}");
        }
    }

    #[test]
    fn huge_pods_get_a_bounded_answer() {
        // 4,000 containers: 20,000 findings made a 9 MB answer that trapped the OPA module.
        let containers: Vec<Value> = (0..4000)
            .map(|i| json!({"name": format!("c{i}"), "image": format!("registry.company.com/app/c{i}:1.{i}")}))
            .collect();
        let request = json!({"request": {"uid": "big", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE", "namespace": "x",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"},
                       "spec": {"containers": containers}}}, "settings": {}});
        let input = request.to_string();
        // No per-rule time limit: this test is about the answer's size, and a debug build on
        // a loaded CI machine can spend over 250 ms on one rule over 4,000 containers, which
        // turns the findings into deadline errors.
        let mut plugin = plugin();
        plugin.rules = RuleSet::with_limits(&portcullis_engine::Limits {
            max_rule_time: None,
            ..Default::default()
        });
        plugin.rules.add_builtin().unwrap();
        let policy = plugin.policy(&Value::Null, Date::today()).unwrap();
        let decision = plugin.evaluate(&policy, request["request"].clone());
        assert_eq!(decision.violations.len(), MAX_VIOLATIONS);
        assert!(decision.omitted > 10_000, "{}", decision.omitted);
        let message = decision.message.as_deref().unwrap();
        assert!(message.len() < 8 * 1024, "{}", message.len());
        let more = format!(
            "and {} more",
            decision.violations.len() + decision.omitted - 20
        );
        assert!(message.contains(&more), "{more:?} not in {message}");
        let response = validate_json(&plugin, input.as_bytes(), Date::today());
        let warnings: usize = response["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().len())
            .sum();
        assert!(
            warnings <= portcullis_engine::admission::WARNINGS_BYTES,
            "{warnings}"
        );
        assert!(serde_json::to_string(&decision).unwrap().len() < 1 << 20);
    }

    #[test]
    fn findings_deny_with_every_finding_as_a_warning() {
        let plugin = plugin();
        let request = json!({"request": {"uid": "u1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE", "namespace": "default",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                       "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}}},
            "settings": {}});
        let response = validate_json(&plugin, request.to_string().as_bytes(), Date::today());
        assert_eq!(response["accepted"], false);
        assert_eq!(response["code"], 403);
        let warnings = response["warnings"].as_array().unwrap();
        assert!(
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().contains("latest-tag"))
        );
        for warning in warnings {
            assert!(
                response["message"]
                    .as_str()
                    .unwrap()
                    .contains(warning.as_str().unwrap())
            );
        }
    }
}
