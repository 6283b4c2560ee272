//! The Portcullis engine: policy-as-code checks for Kubernetes container-image security.
//!
//! Rules are [Rhai](https://rhai.rs) scripts compiled once into a [`RuleSet`] (the default
//! pack, your own, or both). A [`Policy`] is a rule set resolved against a configuration
//! ([`Config`]: settings, severities, exemptions), a [`Selection`] of rules and, optionally,
//! image facts ([`facts::FactsFile`]); it is built once and evaluates any number of inputs.
//! An input is a [`Source`] (a file, stdin, a request body, a JSON value); evaluating it gives
//! a [`Report`] of [`Finding`]s and [`Diagnostic`]s, which writes itself as JSON, SARIF or
//! JUnit XML. Every front door — the CLI, the WebAssembly modules, the admission server —
//! is a thin shell over these types.
//!
//! ```
//! use portcullis_engine::{Policy, RuleSet, Selection, Severity, Source};
//!
//! // Compile the default pack once (add your own with `rules.add_path(dir)`).
//! let rules = RuleSet::builtin();
//!
//! // Resolve it against a configuration; every problem comes back together, each with
//! // its file and line.
//! let policy = Policy::builder(&rules)
//!     .config_text("portcullis.yaml", "rules:\n  latest-tag:\n    severity: critical\n")
//!     .selection(Selection::all().ignoring(["missing-digest"]))
//!     .build()
//!     .expect("the configuration resolves");
//!
//! // Evaluate as many inputs as you like.
//! let pod = "kind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: app, image: nginx}]\n";
//! let report = policy.check(&Source::from_text("pod.yaml", pod));
//! let latest = report.findings.iter().find(|f| &*f.rule == "latest-tag").unwrap();
//! assert_eq!(latest.severity, Severity::Critical);
//! assert_eq!(latest.container.as_deref(), Some("app"));
//! assert!(report.errors.is_empty());
//!
//! // Machine-readable output.
//! let mut json = Vec::new();
//! report.write_json(&mut json).unwrap();
//! let mut sarif = Vec::new();
//! report.write_sarif(&policy.enabled_rules(), &mut sarif).unwrap();
//!
//! // Load once, evaluate again and again (watch mode, several policies).
//! let workloads = Source::from_text("pod.yaml", pod).load();
//! assert_eq!(workloads.len(), 1);
//! assert_eq!(policy.check_workloads(&workloads).findings.len(), report.findings.len());
//! ```
//!
//! # Modules
//!
//! Data flows one way; no module imports one that imports it (see `docs/architecture.md`).
//!
//! | layer | modules | what they hold |
//! |---|---|---|
//! | vocabulary | `severity`, `diagnostic`, `finding` | [`Severity`], [`Diagnostic`], [`Finding`] and its one identity, [`FindingId`] |
//! | utilities | `files`, `yaml`, `glob`, `version`, [`credentials`] | bounded reads, Kubernetes' YAML reading, the one glob builder, version order, the credential detector |
//! | load | `load`, `source` | text -> objects (YAML streams, JSON, `List`, admission envelopes); [`Source`] decides the format |
//! | normalize | `workload`, `image` | every pod-carrying kind -> one workload view with parsed [`ImageRef`]s |
//! | enrich | [`facts`], `signatures` | image facts (config, filesystem, scans, signature material), read offline; signature verification |
//! | rules | `rules`, `sandbox` | rule files compiled once; the Rhai sandbox and the rule API |
//! | evaluate | `config`, `policy` | configuration resolved into a [`Policy`]; evaluation |
//! | report | `report`, [`admission`] | the [`Report`] and its JSON, SARIF and JUnit writers; admission decisions and digest-pinning patches |
//! | tools | [`testing`], [`dockerfile`] | rule test files; the Dockerfile parser |
#![warn(missing_docs)]

pub mod admission;
#[cfg(not(target_family = "wasm"))]
mod api_docs;
mod config;
pub mod credentials;
mod diagnostic;
pub mod dockerfile;
pub mod facts;
pub mod files;
mod finding;
mod glob;
mod image;
#[cfg(not(target_family = "wasm"))]
mod lint;
mod load;
mod policy;
pub mod quantity;
mod report;
mod rules;
mod sandbox;
mod severity;
mod signatures;
mod source;
// Rule tests run in the CLI and the tests, never in the WebAssembly modules; keeping them
// (and their YAML deserializer) out keeps the modules under 4 MB.
#[cfg(not(target_family = "wasm"))]
pub mod testing;
mod version;
mod workload;
mod yaml;

pub use config::{Config, Date, is_namespace_name};
pub use diagnostic::{Diagnostic, RuleSite};
pub use finding::{AppliedExemption, ExemptionSource, Finding, FindingId, ResourceRef};
pub use image::ImageRef;
pub use policy::{EXEMPT_ANNOTATION, EXEMPT_REASON_ANNOTATION, Policy, PolicyBuilder, Selection};
pub use report::{Report, Summary};
pub use rules::{
    EnabledRule, Rule, RuleInput, RuleLoadError, RuleMeta, RuleSet, SettingSpec, SettingType,
};
pub use sandbox::{DEFAULT_RULE_TIME, Limits, StopHandle};
pub use severity::Severity;
pub use source::{DEFAULT_PLATFORM, Format, Source, Workloads};
pub use workload::Workload;

/// The rule API reference (what rules can read and call) in Markdown, generated from the
/// doc comments of the functions the sandbox registers; `docs/rule-api.md` is this text.
#[cfg(not(target_family = "wasm"))]
pub fn rule_api_markdown() -> String {
    api_docs::rule_api_markdown()
}

/// The kinds that carry a pod, which Portcullis checks; every other kind is skipped.
pub fn pod_kinds() -> impl Iterator<Item = &'static str> {
    workload::POD_KINDS.iter().map(|(kind, _)| *kind)
}
