//! Evaluation: a [`Policy`] is a rule set resolved against a configuration (enabled rules,
//! settings, severities, exemptions) and, optionally, image facts. It is built once with a
//! [`PolicyBuilder`], which reports every problem together, and then evaluates any number of
//! sources or loaded [`Workloads`] into [`Report`]s.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

#[cfg(not(target_family = "wasm"))]
use rayon::prelude::*;
use rhai::{CallFnOptions, Dynamic, Engine, Scope};
use serde_json::{Map, Value};

use crate::config::{Config, Date, Exemption};
use crate::diagnostic::{Diagnostic, RuleSite};
use crate::facts::{FactsFile, FactsIndex};
use crate::finding::{AppliedExemption, ExemptionSource, Finding, FindingId, ResourceRef};
use crate::report::Report;
use crate::rules::{ENTRY_FUNCTION, EnabledRule, PREPARE_FUNCTION, Rule, RuleInput, RuleSet};
use crate::sandbox::{FindingDraft, WorkloadView};
use crate::severity::Severity;
use crate::source::{Source, Workloads};
use crate::workload::Workload;

/// Annotation listing rule ids (comma-separated, or `*`) exempted on this resource.
pub const EXEMPT_ANNOTATION: &str = "portcullis.dev/exempt";
/// Annotation giving the reason for [`EXEMPT_ANNOTATION`]; required.
pub const EXEMPT_REASON_ANNOTATION: &str = "portcullis.dev/exempt-reason";

/// Documents in one source above which evaluation is spread over all cores.
#[cfg(not(target_family = "wasm"))]
const PARALLEL_THRESHOLD: usize = 32;

/// Which rules a run uses, on top of the configuration (`--select`, `--ignore`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Selection {
    /// Only these rules (enabled even if the configuration or the rule disables them).
    pub select: Option<Vec<String>>,
    /// Never these rules.
    pub ignore: Vec<String>,
}

impl Selection {
    /// Every rule the configuration enables.
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Only `ids`, whatever the configuration says about enabling them.
    pub fn only<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Selection {
        Selection {
            select: Some(ids.into_iter().map(Into::into).collect()),
            ignore: Vec::new(),
        }
    }

    /// This selection without `ids`.
    pub fn ignoring<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Selection {
        self.ignore.extend(ids.into_iter().map(Into::into));
        self
    }
}

#[derive(Debug)]
struct ActiveRule {
    rule: Arc<Rule>,
    id: Arc<str>,
    remediation: Arc<str>,
    severity: Severity,
    /// Resolved settings as a Rhai map, built once.
    settings: Dynamic,
}

/// Rules resolved against configuration, ready to evaluate many workloads.
#[derive(Debug)]
pub struct Policy {
    engine: Arc<Engine>,
    rules: Vec<ActiveRule>,
    exemptions: Vec<Exemption>,
    today: Date,
    record_resources: bool,
    /// Image facts rules can read through `c.image.facts`; `None` when none were given.
    facts: Option<Arc<FactsIndex>>,
    /// Wall-clock limit for one rule on one workload.
    rule_time: Option<std::time::Duration>,
    /// The time signatures are verified at (Unix seconds); `None`: the host's clock.
    verification_time: Option<i64>,
    /// The namespace of resources whose manifest names none; `None`: `default`.
    default_namespace: Option<String>,
}

/// Builds a [`Policy`]: rules, configuration, selection, image facts and the date exemptions
/// expire against. [`PolicyBuilder::build`] returns every problem found on the way together
/// (configuration syntax, unknown rules and settings, wrongly typed values, unreadable
/// facts), each naming its file and line.
#[derive(Debug)]
#[must_use]
pub struct PolicyBuilder<'r> {
    rules: &'r RuleSet,
    config: Config,
    selection: Selection,
    facts: Option<FactsFile>,
    /// `None`: the clock's today, read only when the policy is built (WebAssembly without
    /// WASI has no clock, and its hosts always pass a date).
    today: Option<Date>,
    verification_time: Option<i64>,
    default_namespace: Option<String>,
    record_resources: bool,
    problems: Vec<Diagnostic>,
}

impl<'r> PolicyBuilder<'r> {
    /// The configuration (default: none, every rule with its defaults).
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The configuration in `text` (YAML or JSON) named `name`; what is valid of it is used
    /// and its problems are reported by [`build`](Self::build).
    pub fn config_text(mut self, name: &str, text: &str) -> Self {
        let (config, problems) = Config::parse_lenient(name, text);
        self.config = config;
        self.problems.extend(problems);
        self
    }

    /// The configuration file at `path`, read with a size cap (see
    /// [`config_text`](Self::config_text)).
    pub fn config_file(self, path: &Path) -> Self {
        let name = path.display().to_string();
        match crate::files::read_text(
            path,
            crate::files::MAX_CONFIG_BYTES,
            crate::files::Origin::Named,
        ) {
            Ok(text) => self.config_text(&name, &text),
            Err(e) => self.problem(Diagnostic::new(
                name,
                None,
                e.line,
                format!("cannot read configuration: {}", e.message),
            )),
        }
    }

    /// Which rules run, on top of the configuration.
    pub fn selection(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    /// Image facts for the image rules (`c.image.facts`).
    pub fn image_facts(mut self, facts: FactsFile) -> Self {
        self.facts = Some(facts);
        self
    }

    /// The image facts file at `path` (from `portcullis facts collect`), read with a size
    /// cap; a file that cannot be used is a problem [`build`](Self::build) reports.
    pub fn image_facts_file(self, path: &Path) -> Self {
        match FactsFile::read(path) {
            Ok(facts) => self.image_facts(facts),
            Err(problem) => self.problem(problem),
        }
    }

    /// The date exemptions expire against (default: today).
    pub fn today(mut self, today: Date) -> Self {
        self.today = Some(today);
        self
    }

    /// The time signatures are verified at, in Unix seconds (default: the clock when each
    /// workload is evaluated; hosts without a clock, such as the OPA module, pass it).
    pub fn verification_time(mut self, unix_seconds: i64) -> Self {
        self.verification_time = Some(unix_seconds);
        self
    }

    /// The namespace of resources whose manifest names none (`--namespace`), as
    /// `kubectl apply -n` would give them; it overrides the configuration's `namespace`.
    /// Default: `default`, what Kubernetes gives them.
    pub fn default_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.default_namespace = Some(namespace.into());
        self
    }

    /// Whether reports list every workload checked ([`Report::checked_resources`]), not only
    /// those with findings (JUnit output needs them). Off by default: it keeps every
    /// resource in memory.
    pub fn record_resources(mut self, record: bool) -> Self {
        self.record_resources = record;
        self
    }

    /// A problem found by the caller while preparing the policy, reported with the others.
    pub fn problem(mut self, problem: Diagnostic) -> Self {
        self.problems.push(problem);
        self
    }

    /// The policy, or every problem found.
    pub fn build(self) -> Result<Policy, Vec<Diagnostic>> {
        let mut problems = self.problems;
        let policy = Policy::resolve(
            self.rules,
            &self.config,
            &self.selection,
            self.today.unwrap_or_else(Date::today),
        );
        match policy {
            Ok(mut policy) if problems.is_empty() => {
                policy.record_resources = self.record_resources;
                policy.verification_time = self.verification_time;
                policy.default_namespace = self.default_namespace.or(self.config.namespace);
                if let Some(facts) = self.facts {
                    policy.facts = Some(Arc::new(FactsIndex::new(facts)));
                }
                Ok(policy)
            }
            Ok(_) => Err(problems),
            Err(more) => {
                problems.extend(more);
                problems.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
                Err(problems)
            }
        }
    }
}

impl Policy {
    /// Starts a policy over `rules`.
    pub fn builder(rules: &RuleSet) -> PolicyBuilder<'_> {
        PolicyBuilder {
            rules,
            config: Config::default(),
            selection: Selection::default(),
            facts: None,
            today: None,
            verification_time: None,
            default_namespace: None,
            record_resources: false,
            problems: Vec::new(),
        }
    }

    /// Resolves `config` against `rules`: unknown rule ids, unknown settings and wrongly
    /// typed values are errors that list what is allowed. All errors are returned together.
    fn resolve(
        rules: &RuleSet,
        config: &Config,
        selection: &Selection,
        today: Date,
    ) -> Result<Policy, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let known = rules.ids();
        let unknown_rule = |id: &str| {
            format!(
                "unknown rule `{id}`; known rules: {} (a rule of your own? load it with `--rules DIR`)",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        // A configuration tunes the built-in rules whether or not this run loads them
        // (`--no-default-rules` while writing rules of one's own), so their entries are
        // left unused rather than refused; unknown ids are still errors.
        let unloaded_builtin = |id: &str| {
            rules.get(id).is_none()
                && crate::rules::BUILTIN_RULES
                    .iter()
                    .any(|(file, _)| file.strip_suffix(".rhai") == Some(id))
        };
        for id in config.rules.keys() {
            if unloaded_builtin(id) {
                log::debug!("configuration of built-in rule `{id}` unused: it is not loaded");
            } else if rules.get(id).is_none() {
                errors.push(config.error(&["rules", id], unknown_rule(id)));
            }
        }
        for exemption in &config.exemptions {
            if exemption.rule != "*"
                && rules.get(&exemption.rule).is_none()
                && !unloaded_builtin(&exemption.rule)
            {
                errors.push(config.error(
                    &["exemptions", &format!("#{}", exemption.index)],
                    format!(
                        "exemption {}: {}",
                        exemption.index + 1,
                        unknown_rule(&exemption.rule)
                    ),
                ));
            }
        }
        for id in selection.select.iter().flatten().chain(&selection.ignore) {
            if rules.get(id).is_none() {
                let message = if unloaded_builtin(id) {
                    format!(
                        "rule `{id}` is a built-in rule, not loaded in this run (drop `--no-default-rules` to select it)"
                    )
                } else {
                    unknown_rule(id)
                };
                errors.push(Diagnostic::new("<command line>", None, None, message));
            }
        }

        let mut active = Vec::new();
        for rule in rules.rules() {
            let id = rule.meta.id.as_str();
            let rule_config = config.rules.get(id).cloned().unwrap_or_default();
            let settings = match resolve_settings(rule, &rule_config.settings) {
                Ok(settings) => settings,
                Err(messages) => {
                    for (key, message) in messages {
                        errors.push(config.error(&["rules", id, &key], message));
                    }
                    continue;
                }
            };
            let enabled = match &selection.select {
                Some(selected) => selected.iter().any(|s| s == id),
                None => rule_config
                    .enabled
                    .unwrap_or(!rule.meta.disabled_by_default),
            } && !selection.ignore.iter().any(|s| s == id);
            if !enabled {
                continue;
            }
            let settings = match rhai::serde::to_dynamic(Value::Object(settings)) {
                Ok(settings) => settings,
                Err(e) => {
                    errors.push(Diagnostic::new(
                        &rule.origin,
                        None,
                        None,
                        format!("settings of `{id}`: {e}"),
                    ));
                    continue;
                }
            };
            let settings = if rule.prepares {
                match prepare(rules, rule, settings) {
                    Ok(settings) => settings,
                    Err(message) => {
                        // "setting `keys`: …" points at that setting's line.
                        let setting = message
                            .strip_prefix("setting `")
                            .and_then(|rest| rest.split(['`', '[', '.']).next())
                            .filter(|name| rule.meta.settings.contains_key(*name));
                        let path: Vec<&str> = match setting {
                            Some(name) => vec!["rules", id, name],
                            None => vec!["rules", id],
                        };
                        errors.push(
                            config.error(&path, format!("settings of rule `{id}`: {message}")),
                        );
                        continue;
                    }
                }
            } else {
                settings
            };
            active.push(ActiveRule {
                rule: rule.clone(),
                id: id.into(),
                remediation: rule.meta.remediation.as_str().into(),
                severity: rule_config.severity.unwrap_or(rule.meta.severity),
                settings,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            engine: rules.engine().clone(),
            rules: active,
            exemptions: config.exemptions.clone(),
            today,
            record_resources: false,
            facts: None,
            rule_time: rules.limits().max_rule_time,
            verification_time: None,
            default_namespace: None,
        })
    }

    /// The rules this policy evaluates, sorted by id.
    pub fn enabled_rules(&self) -> Vec<EnabledRule> {
        self.rules
            .iter()
            .map(|active| EnabledRule {
                rule: active.rule.clone(),
                severity: active.severity,
            })
            .collect()
    }

    /// Replaces the image facts rules read (`c.image.facts`), e.g. with facts collected
    /// for the images the inputs name.
    pub fn set_image_facts(&mut self, facts: FactsFile) {
        self.facts = Some(Arc::new(FactsIndex::new(facts)));
    }

    /// Ids of the rules this policy evaluates, sorted.
    pub fn rule_ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.rule.meta.id.as_str()).collect()
    }

    /// Exemptions that no longer apply because their `expires` date has passed, as
    /// (1-based position in the configuration, rule id, expiry date).
    pub fn expired_exemptions(&self) -> Vec<(usize, &str, Date)> {
        self.exemptions
            .iter()
            .filter_map(|e| {
                let expires = e.expires.filter(|d| *d < self.today)?;
                Some((e.index + 1, e.rule.as_str(), expires))
            })
            .collect()
    }

    /// Loads and evaluates one source: every document, every workload, every rule.
    pub fn check(&self, source: &Source) -> Report {
        let name = source.name();
        let Some(documents) = source.yaml_documents() else {
            let mut report = Report::default();
            crate::source::for_each_prepared(source, |item| {
                self.check_prepared(name, item, &mut report)
            });
            return report;
        };
        let check_document = |doc: &crate::load::RawDocument<'_>| {
            let mut report = Report::default();
            for item in crate::load::load_yaml_document(name, doc) {
                self.check_loaded(name, item, &mut report);
            }
            report
        };
        // Collect then concatenate once: a tree of pairwise merges would copy findings
        // over and over.
        #[cfg(not(target_family = "wasm"))]
        let reports: Vec<Report> = if documents.len() >= PARALLEL_THRESHOLD {
            documents.par_iter().map(check_document).collect()
        } else {
            documents.iter().map(check_document).collect()
        };
        // WebAssembly modules run single-threaded.
        #[cfg(target_family = "wasm")]
        let reports: Vec<Report> = documents.iter().map(check_document).collect();
        Report::concat(reports)
    }

    /// Evaluates loaded workloads (see [`Source::load`]); their load problems and skipped
    /// documents are part of the report.
    pub fn check_workloads(&self, workloads: &Workloads) -> Report {
        let mut report = Report {
            errors: workloads.diagnostics.clone(),
            skipped: workloads.skipped,
            ..Report::default()
        };
        for workload in &workloads.items {
            self.check_workload(workload.clone(), &workloads.name, &mut report);
        }
        report
    }

    /// Evaluates only the rules named in `rules` on loaded workloads, into one report per
    /// rule (`reports[i]` for `rules[i]`; ids that are not enabled give empty reports): to
    /// redo just the rule that changed, as watch mode does. The reports count no resources
    /// and carry neither load problems nor annotation problems (see
    /// [`annotation_problems`](Self::annotation_problems)).
    pub fn check_rules(&self, rules: &[&str], workloads: &Workloads) -> Vec<Report> {
        let mut reports = vec![Report::default(); rules.len()];
        for workload in &workloads.items {
            // The view is built once per workload for all the rules.
            let subject = Subject::new(
                self.namespaced(workload.clone()),
                &workloads.name,
                self.facts.clone(),
            );
            for (rule, report) in rules.iter().zip(reports.iter_mut()) {
                if let Some(active) = self.rules.iter().find(|a| &*a.id == *rule) {
                    self.evaluate(active, &subject, report);
                }
            }
        }
        reports
    }

    /// Problems with the workloads' own exemption annotations (an exemption without a
    /// reason), which [`check_workloads`](Self::check_workloads) reports once per workload.
    pub fn annotation_problems(&self, workloads: &Workloads) -> Vec<Diagnostic> {
        workloads
            .items
            .iter()
            .filter_map(|w| {
                annotation_exemption(w).err().map(|message| {
                    Diagnostic::new(&workloads.name, Some(w.document), Some(w.line), message)
                })
            })
            .collect()
    }

    /// The workload with the policy's default namespace if its manifest names none.
    fn namespaced(&self, workload: Arc<Workload>) -> Arc<Workload> {
        match &self.default_namespace {
            Some(namespace) if !workload.namespace_given && workload.namespace != *namespace => {
                let mut named = (*workload).clone();
                named.namespace = namespace.clone();
                Arc::new(named)
            }
            _ => workload,
        }
    }

    fn check_loaded(&self, file: &str, item: crate::load::Loaded, report: &mut Report) {
        self.check_prepared(file, crate::source::prepare(file, item), report);
    }

    fn check_prepared(&self, file: &str, item: crate::source::Prepared, report: &mut Report) {
        match item {
            crate::source::Prepared::Workload(workload) => {
                self.check_workload(workload, file, report)
            }
            crate::source::Prepared::Error(error) => report.errors.push(error),
            crate::source::Prepared::Skipped => report.skipped += 1,
        }
    }

    /// Evaluates every active rule on one workload.
    fn check_workload(&self, workload: Arc<Workload>, file: &str, report: &mut Report) {
        report.resources += 1;
        let subject = Subject::new(self.namespaced(workload), file, self.facts.clone());
        if self.record_resources {
            report.checked_resources.push(subject.resource.clone());
        }
        if let Err(message) = &subject.annotation_exemption {
            report.errors.push(subject.error(message.clone()));
        }
        for active in &self.rules {
            self.evaluate(active, &subject, report);
        }
    }

    fn evaluate(&self, active: &ActiveRule, subject: &Subject, report: &mut Report) {
        let id = &active.rule.meta.id;
        let workload = &subject.workload;
        // A rule reads only the inputs it was written for (`META.inputs`).
        let input = if workload.dockerfile.is_some() {
            RuleInput::Dockerfiles
        } else {
            RuleInput::Manifests
        };
        if !active.rule.meta.checks(input) {
            return;
        }
        crate::sandbox::take_missing_facts();
        let drafts = match self.run_rule(active, &subject.view) {
            Ok(drafts) if drafts.is_empty() => {
                if crate::sandbox::take_missing_facts() && self.record_resources {
                    report
                        .undecided
                        .push((subject.resource.clone(), active.id.clone()));
                }
                return;
            }
            Ok(drafts) => drafts,
            Err(mut failure) => {
                // Rhai does not say where the operation or time limit tripped; the loops
                // of the rule are where to look.
                if failure.position.is_none() && failure.limit {
                    let loops = crate::rules::loop_lines(&active.rule.source);
                    if let Some(&(line, column)) = loops.first() {
                        failure.position = Some((line, column));
                        let lines: Vec<String> = loops.iter().map(|(l, _)| l.to_string()).collect();
                        failure.message.push_str(&format!(
                            " (loop{} at rule line{} {})",
                            if loops.len() == 1 { "" } else { "s" },
                            if loops.len() == 1 { "" } else { "s" },
                            lines.join(", ")
                        ));
                    }
                }
                let resource = &subject.resource;
                // A Dockerfile has stages, no namespace.
                let (part, name) = match workload.dockerfile {
                    Some(_) => ("stage", resource.name.clone()),
                    None => (
                        "container",
                        format!("{}/{}", resource.namespace, resource.name),
                    ),
                };
                let container = crate::sandbox::last_container(&workload.containers)
                    .map(|c| format!(", {part} `{}`", c.name))
                    .unwrap_or_default();
                let mut error = subject.error(format!(
                    "rule `{id}` failed on {} `{name}`{container}: {}",
                    resource.kind, failure.message
                ));
                error.rule_site = failure.position.map(|(line, column)| {
                    Box::new(RuleSite {
                        rule: id.clone(),
                        origin: active.rule.origin.clone(),
                        line,
                        column,
                    })
                });
                report.errors.push(error.with_rule(active.id.clone()));
                return;
            }
        };
        for draft in drafts {
            let mut finding = Finding {
                rule: active.id.clone(),
                severity: active.severity,
                message: draft.message,
                remediation: active.remediation.clone(),
                resource: subject.resource.clone(),
                container: draft.container,
                path: draft.path,
                line: draft.line,
                exemption: None,
            };
            finding.exemption = match &subject.annotation_exemption {
                Ok(Some((ids, reason))) if ids.contains("*") || ids.contains(id) => {
                    Some(AppliedExemption {
                        reason: reason.clone(),
                        source: ExemptionSource::Annotation,
                    })
                }
                _ => self.config_exemption(&finding.id(), workload),
            };
            report.push_finding(finding);
        }
    }

    /// Runs one rule's entry function.
    fn run_rule(
        &self,
        active: &ActiveRule,
        view: &Dynamic,
    ) -> Result<Vec<FindingDraft>, RuleFailure> {
        let mut scope = Scope::new();
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        crate::sandbox::reset_last_container();
        crate::sandbox::set_verification_time(
            self.verification_time
                .unwrap_or_else(crate::signatures::system_now),
        );
        // A panic inside a built-in is a bug in Portcullis or Rhai, not in the rule; it
        // must cost one error for this rule and workload, not the whole run.
        let call = std::panic::AssertUnwindSafe(|| {
            crate::sandbox::with_deadline(self.rule_time, || {
                self.engine.call_fn_with_options::<Dynamic>(
                    options,
                    &mut scope,
                    &active.rule.ast,
                    ENTRY_FUNCTION,
                    (view.clone(), active.settings.clone()),
                )
            })
        });
        let result = match std::panic::catch_unwind(call) {
            Ok(result) => result.map_err(|e| describe_rule_error(&e, self.rule_time))?,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown".into());
                return Err(RuleFailure {
                    message: format!(
                        "the engine failed inside a built-in function ({what}); this is a bug in Portcullis, please report it"
                    ),
                    position: None,
                    limit: false,
                });
            }
        };
        findings_from(result).map_err(|message| RuleFailure {
            message,
            position: None,
            limit: false,
        })
    }

    /// The first unexpired configuration exemption that covers the finding `id`.
    fn config_exemption(&self, id: &FindingId, workload: &Workload) -> Option<AppliedExemption> {
        let image = id
            .container
            .as_deref()
            .and_then(|name| workload.containers.iter().find(|c| c.name == name))
            .and_then(|c| c.image.valid());
        self.exemptions
            .iter()
            .find(|e| e.expires.is_none_or(|d| d >= self.today) && e.covers(id, image))
            .map(|e| AppliedExemption {
                reason: e.reason.clone(),
                source: ExemptionSource::Config { index: e.index },
            })
    }
}

/// A workload prepared for evaluation: what every rule's findings and errors refer to.
struct Subject {
    workload: Arc<Workload>,
    view: Dynamic,
    resource: Arc<ResourceRef>,
    annotation_exemption: Result<Option<(BTreeSet<String>, String)>, String>,
}

impl Subject {
    fn new(workload: Arc<Workload>, file: &str, facts: Option<Arc<FactsIndex>>) -> Subject {
        Subject {
            view: Dynamic::from(WorkloadView(workload.clone(), facts)),
            resource: Arc::new(ResourceRef {
                kind: workload.kind.clone(),
                namespace: workload.namespace.clone(),
                name: workload.name.clone(),
                file: file.to_string(),
                document: workload.document,
                line: workload.line,
                item: workload.item,
            }),
            annotation_exemption: annotation_exemption(&workload),
            workload,
        }
    }

    fn error(&self, message: String) -> Diagnostic {
        Diagnostic::new(
            &self.resource.file,
            Some(self.resource.document),
            Some(self.resource.line),
            message,
        )
    }
}

/// Runs the rule's `fn prepare(settings)` once, within the rule time limit; its result is
/// what `check` receives. `Err` says why, for a configuration error.
fn prepare(rules: &RuleSet, rule: &Rule, settings: Dynamic) -> Result<Dynamic, String> {
    let rule_time = rules.limits().max_rule_time;
    let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
    let call = std::panic::AssertUnwindSafe(|| {
        crate::sandbox::with_deadline(rule_time, || {
            rules.engine().call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &rule.ast,
                PREPARE_FUNCTION,
                (settings,),
            )
        })
    });
    match std::panic::catch_unwind(call) {
        Ok(Ok(settings)) => Ok(settings),
        Ok(Err(e)) => {
            // A thrown message is the rule's own words; anything else says where it failed.
            let mut innermost = &*e;
            while let rhai::EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = innermost {
                innermost = inner;
            }
            match innermost {
                rhai::EvalAltResult::ErrorRuntime(value, _) if value.is_string() => {
                    Err(value.to_string())
                }
                _ => Err(format!(
                    "`fn {PREPARE_FUNCTION}` failed: {}",
                    describe_rule_error(&e, rule_time).message
                )),
            }
        }
        Err(_) => Err(format!(
            "`fn {PREPARE_FUNCTION}` failed inside a built-in function; this is a bug in Portcullis, please report it"
        )),
    }
}

/// Settings for `rule`: configured values over defaults, type-checked. `Err` holds
/// (setting, message) pairs.
fn resolve_settings(
    rule: &Rule,
    configured: &std::collections::BTreeMap<String, Value>,
) -> Result<Map<String, Value>, Vec<(String, String)>> {
    let id = &rule.meta.id;
    let mut errors = Vec::new();
    for key in configured.keys() {
        if !rule.meta.settings.contains_key(key) {
            let mut allowed: Vec<String> = rule
                .meta
                .settings
                .keys()
                .map(|k| format!("`{k}`"))
                .collect();
            allowed.extend(["`enabled`".to_string(), "`severity`".to_string()]);
            errors.push((
                key.clone(),
                format!(
                    "unknown setting `{key}` for rule `{id}`; allowed: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    let mut settings = Map::new();
    for (name, spec) in &rule.meta.settings {
        let value = configured.get(name).unwrap_or(&spec.default);
        if let Err(e) = spec.kind.check(value) {
            errors.push((
                name.clone(),
                format!("setting `{name}` of rule `{id}`: {e}"),
            ));
        }
        settings.insert(name.clone(), value.clone());
    }
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(errors)
    }
}

/// Why a rule failed, and where in the rule when Rhai knows.
struct RuleFailure {
    message: String,
    position: Option<(usize, usize)>,
    /// Whether a limit (operations, time, depth, size) stopped the rule.
    limit: bool,
}

fn describe_rule_error(
    error: &rhai::EvalAltResult,
    rule_time: Option<std::time::Duration>,
) -> RuleFailure {
    use rhai::EvalAltResult as E;
    // An error inside a function the rule defines is wrapped once per call level; the
    // innermost position is the line that failed.
    let mut innermost = error;
    while let E::ErrorInFunctionCall(_, _, inner, _) = innermost {
        innermost = inner;
    }
    let limit = match innermost {
        E::ErrorTooManyOperations(_) => {
            Some("it exceeded the operation limit (an endless loop?)".to_string())
        }
        E::ErrorStackOverflow(_) => {
            Some("it exceeded the call-depth limit (runaway recursion?)".to_string())
        }
        E::ErrorDataTooLarge(..) => {
            Some("it exceeded a size limit on strings, arrays or maps".to_string())
        }
        E::ErrorTooManyVariables(_) => Some("it exceeded the variable limit".to_string()),
        E::ErrorTerminated(token, _)
            if token
                .read_lock::<rhai::ImmutableString>()
                .is_some_and(|t| t.as_str() == crate::sandbox::DEADLINE_TOKEN) =>
        {
            Some(format!(
                "it ran longer than {} ms, the time limit for one rule on one workload",
                rule_time.map_or(0, |t| t.as_millis())
            ))
        }
        E::ErrorTerminated(..) => Some("it was stopped (interrupted)".to_string()),
        _ => None,
    };
    let position = [innermost.position(), error.position()]
        .into_iter()
        .find_map(|p| Some((p.line()?, p.position()?)));
    let at = match position {
        Some((line, column)) => format!(" (rule line {line}, column {column})"),
        None => String::new(),
    };
    let message = match &limit {
        Some(limit) => format!("{limit}{at}"),
        None => {
            let text = innermost.to_string();
            // Rhai appends its own " (line L, position P)"; ours is clearer about whose line.
            let text = text.split(" (line ").next().unwrap_or(&text).to_string();
            format!("{text}{at}")
        }
    };
    RuleFailure {
        limit: limit.is_some(),
        message,
        position,
    }
}

/// The entry function may return `()`, one finding, or an array of findings.
fn findings_from(value: Dynamic) -> Result<Vec<FindingDraft>, String> {
    if value.is_unit() {
        return Ok(Vec::new());
    }
    if value.is::<FindingDraft>() {
        return Ok(vec![value.cast()]);
    }
    let type_name = value.type_name();
    let Some(items) = value.try_cast::<rhai::Array>() else {
        return Err(format!(
            "`{ENTRY_FUNCTION}` returned {type_name}; it must return an array of `finding(…)` values"
        ));
    };
    items
        .into_iter()
        .map(|item| {
            if item.is::<FindingDraft>() {
                Ok(item.cast::<FindingDraft>())
            } else {
                Err(format!(
                    "`{ENTRY_FUNCTION}` returned an array holding {}; only `finding(…)` values belong in it",
                    item.type_name()
                ))
            }
        })
        .collect()
}

/// The rules exempted by annotation and the reason, or an error when the reason is missing.
fn annotation_exemption(workload: &Workload) -> Result<Option<(BTreeSet<String>, String)>, String> {
    let get = |key: &str| workload.annotation(key);
    let Some(ids) = get(EXEMPT_ANNOTATION) else {
        return Ok(None);
    };
    let reason = get(EXEMPT_REASON_ANNOTATION)
        .map(|r| r.trim())
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            format!("annotation `{EXEMPT_ANNOTATION}` needs `{EXEMPT_REASON_ANNOTATION}`: every exemption says why it exists; it is not applied")
        })?;
    let ids = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Some((ids, reason.to_string())))
}
