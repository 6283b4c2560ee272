//! The Portcullis engine: policy-as-code checks for Kubernetes container-image security.
//!
//! Data flows one way:
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | load | [`load`] | bytes -> documents with file, index and line; YAML streams, JSON, `List`, admission envelopes |
//! | normalize | [`workload`] | every pod-carrying kind -> one [`Workload`] view with parsed images ([`image`]) |
//! | evaluate | [`check`], [`sandbox`], [`rules`] | Rhai rules, compiled once, run per workload in a sandbox |
//! | report | [`report`] | findings, errors and the summary; JSON, SARIF and JUnit writers |
//!
//! [`dockerfile`] parses Dockerfiles (BuildKit's grammar) into stages, bases, the final `USER`
//! and `ENV`/`ARG` definitions with their lines, for rules about how images are built.
//! [`config`] resolves settings, severities and exemptions; [`testing`] runs rule test files;
//! [`api_docs`] renders the rule API reference. The CLI and any other front end
//! are thin shells over [`RuleSet`] + [`Policy`]:
//!
//! ```
//! use portcullis_engine::{Config, Date, Policy, RuleSet, Selection};
//!
//! let rules = RuleSet::builtin();
//! let policy = Policy::new(&rules, &Config::default(), &Selection::default(), Date::today()).unwrap();
//! let report = policy.check_source("pod.yaml", "kind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: app, image: nginx}]\n");
//! assert!(report.findings.iter().any(|f| &*f.rule == "latest-tag"));
//! ```

#[cfg(not(target_family = "wasm"))]
pub mod api_docs;
pub mod check;
pub mod config;
pub mod credentials;
mod diagnostic;
pub mod dockerfile;
pub mod facts;
pub mod files;
mod finding;
mod glob;
pub mod image;
pub mod load;
pub mod report;
pub mod rules;
pub mod sandbox;
mod severity;
// Rule tests run in the CLI and the tests, never in the WebAssembly modules; keeping them
// (and their YAML deserializer) out keeps the modules under 4 MB.
#[cfg(not(target_family = "wasm"))]
pub mod testing;
pub mod version;
pub mod workload;
mod yaml;

pub use check::{LoadedWorkloads, Policy, Selection, annotation_error, load_workloads};
pub use config::{Config, Date};
pub use diagnostic::{Diagnostic, RuleSite};
pub use facts::{FactsFile, FactsIndex, ImageFacts};
pub use finding::{AppliedExemption, ExemptionSource, Finding, FindingId, ResourceRef};
pub use image::{ImagePattern, ImageRef};
pub use report::{Report, Summary};
pub use rules::{EnabledRule, Rule, RuleLoadError, RuleSet};
pub use severity::Severity;
pub use workload::Workload;
