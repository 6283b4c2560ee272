//! Evaluation: a [`Policy`] is a rule set resolved against a configuration (enabled rules,
//! settings, severities, exemptions). It checks sources document by document and returns a
//! [`Report`].

use std::collections::BTreeSet;
use std::sync::Arc;

#[cfg(not(target_family = "wasm"))]
use rayon::prelude::*;
use rhai::{CallFnOptions, Dynamic, Engine, Scope};
use serde_json::{Map, Value};

use crate::config::{Config, Date, Exemption};
use crate::diagnostic::{Diagnostic, RuleSite};
use crate::facts::FactsIndex;
use crate::finding::{AppliedExemption, ExemptionSource, Finding, ResourceRef};
use crate::load::{self, Loaded};
use crate::report::Report;
use crate::rules::{ENTRY_FUNCTION, EnabledRule, Rule, RuleSet};
use crate::sandbox::{FindingDraft, WorkloadView};
use crate::severity::Severity;
use crate::workload::{Normalized, Workload, normalize};

/// Annotation listing rule ids (comma-separated, or `*`) exempted on this resource.
pub const EXEMPT_ANNOTATION: &str = "portcullis.dev/exempt";
/// Annotation giving the reason for [`EXEMPT_ANNOTATION`]; required.
pub const EXEMPT_REASON_ANNOTATION: &str = "portcullis.dev/exempt-reason";

/// Documents in one source above which evaluation is spread over all cores.
#[cfg(not(target_family = "wasm"))]
const PARALLEL_THRESHOLD: usize = 32;

/// Which rules a run uses, on top of the configuration (`--select`, `--ignore`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these rules (enabled even if the configuration or the rule disables them).
    pub select: Option<Vec<String>>,
    pub ignore: Vec<String>,
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
}

impl Policy {
    /// Resolves `config` against `rules`: unknown rule ids, unknown settings and wrongly
    /// typed values are errors that list what is allowed. All errors are returned together.
    pub fn new(
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
        for id in config.rules.keys() {
            if rules.get(id).is_none() {
                errors.push(config.error(&["rules", id], unknown_rule(id)));
            }
        }
        for exemption in &config.exemptions {
            if exemption.rule != "*" && rules.get(&exemption.rule).is_none() {
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
                errors.push(Diagnostic::new(
                    "<command line>",
                    None,
                    None,
                    unknown_rule(id),
                ));
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
            let settings = rhai::serde::to_dynamic(Value::Object(settings)).map_err(|e| {
                vec![Diagnostic::new(
                    &rule.origin,
                    None,
                    None,
                    format!("settings of `{id}`: {e}"),
                )]
            })?;
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
        })
    }

    /// Whether reports list every workload checked ([`Report::checked_resources`]), not
    /// only those with findings. Off by default: it keeps every resource in memory.
    pub fn record_resources(&mut self, record: bool) {
        self.record_resources = record;
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

    /// Gives rules the facts of the images they check (`c.image.facts`).
    pub fn set_image_facts(&mut self, facts: Arc<FactsIndex>) {
        self.facts = Some(facts);
    }

    /// Ids of the rules this policy evaluates.
    pub fn rule_ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.rule.meta.id.as_str()).collect()
    }

    /// Exemptions that no longer apply because their `expires` date has passed.
    pub fn expired_exemptions(&self) -> impl Iterator<Item = &Exemption> {
        self.exemptions
            .iter()
            .filter(|e| e.expires.is_some_and(|d| d < self.today))
    }

    /// Checks every document of one source. `file` names it in the report.
    pub fn check_source(&self, file: &str, text: &str) -> Report {
        let text = load::strip_bom(text);
        if load::looks_like_json(file, text) {
            let mut report = Report::default();
            for item in load::load_source(file, text) {
                self.check_loaded(file, item, &mut report);
            }
            return report;
        }
        let documents = load::split_yaml_documents(text);
        let check_document = |doc: &load::RawDocument<'_>| {
            let mut report = Report::default();
            for item in load::load_yaml_document(file, doc) {
                self.check_loaded(file, item, &mut report);
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

    /// Checks an already parsed value (see [`load::load_value`]). `file` names it in the report.
    pub fn check_value(&self, file: &str, value: Value) -> Report {
        let mut report = Report::default();
        for item in load::load_value(file, value) {
            self.check_loaded(file, item, &mut report);
        }
        report
    }

    fn check_loaded(&self, file: &str, item: Loaded, report: &mut Report) {
        match prepare(file, item) {
            Prepared::Workload(workload) => self.check_workload(workload, file, report),
            Prepared::Error(error) => report.errors.push(error),
            Prepared::Skipped => report.skipped += 1,
        }
    }

    /// Evaluates every active rule on one workload.
    pub fn check_workload(&self, workload: Arc<Workload>, file: &str, report: &mut Report) {
        report.resources += 1;
        let subject = Subject::new(workload, file, self.facts.clone());
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

    /// Evaluates the rules named in `rules` on one workload, each into its own report
    /// (`reports[i]` receives the findings of `rules[i]`), e.g. to redo only the rule that
    /// changed in watch mode. Ids that are not active are skipped. Counts no resource and
    /// reports no annotation problems: [`Policy::check_workload`] does that once per workload.
    pub fn check_workload_rules(
        &self,
        rules: &[&str],
        workload: Arc<Workload>,
        file: &str,
        reports: &mut [Report],
    ) {
        let subject = Subject::new(workload, file, self.facts.clone());
        for (rule, report) in rules.iter().zip(reports.iter_mut()) {
            if let Some(active) = self.rules.iter().find(|a| &*a.id == *rule) {
                self.evaluate(active, &subject, report);
            }
        }
    }

    fn evaluate(&self, active: &ActiveRule, subject: &Subject, report: &mut Report) {
        let id = &active.rule.meta.id;
        let workload = &subject.workload;
        let drafts = match self.run_rule(active, &subject.view) {
            Ok(drafts) => drafts,
            Err(failure) => {
                let resource = &subject.resource;
                let container = crate::sandbox::last_container(&workload.containers)
                    .map(|c| format!(", container `{}`", c.name))
                    .unwrap_or_default();
                let mut error = subject.error(format!(
                    "rule `{id}` failed on {} `{}/{}`{container}: {}",
                    resource.kind, resource.namespace, resource.name, failure.message
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
            let exemption = match &subject.annotation_exemption {
                Ok(Some((ids, reason))) if ids.contains("*") || ids.contains(id) => {
                    Some(AppliedExemption {
                        reason: reason.clone(),
                        source: ExemptionSource::Annotation,
                    })
                }
                _ => self.config_exemption(id, workload, draft.container.as_deref()),
            };
            report.push_finding(Finding {
                rule: active.id.clone(),
                severity: active.severity,
                message: draft.message,
                remediation: active.remediation.clone(),
                resource: subject.resource.clone(),
                container: draft.container,
                path: draft.path,
                exemption,
            });
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
                });
            }
        };
        findings_from(result).map_err(|message| RuleFailure {
            message,
            position: None,
        })
    }

    fn config_exemption(
        &self,
        rule: &str,
        workload: &Workload,
        container: Option<&str>,
    ) -> Option<AppliedExemption> {
        let container =
            container.and_then(|name| workload.containers.iter().find(|c| c.name == name));
        self.exemptions
            .iter()
            .find(|e| {
                (e.rule == "*" || e.rule == rule)
                    && e.expires.is_none_or(|d| d >= self.today)
                    && e.namespace
                        .as_ref()
                        .is_none_or(|g| g.is_match(&workload.namespace))
                    && e.name.as_ref().is_none_or(|g| g.is_match(&workload.name))
                    && e.kind
                        .as_ref()
                        .is_none_or(|k| k.eq_ignore_ascii_case(&workload.kind))
                    && e.image.as_ref().is_none_or(|pattern| {
                        container
                            .is_some_and(|c| c.image.valid().is_some_and(|i| pattern.matches(i)))
                    })
            })
            .map(|e| AppliedExemption {
                reason: e.reason.clone(),
                source: ExemptionSource::Config { index: e.index },
            })
    }
}

/// A problem with the workload's own exemption annotations, reported once per workload by
/// [`Policy::check_workload`]; for front ends that evaluate rule by rule.
pub fn annotation_error(workload: &Workload, file: &str) -> Option<Diagnostic> {
    annotation_exemption(workload)
        .err()
        .map(|message| Diagnostic::new(file, Some(workload.document), Some(workload.line), message))
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

/// The workloads of one source, normalized and ready for [`Policy::check_workload`]; for
/// front ends that evaluate the same inputs more than once (watch mode).
#[derive(Debug, Default)]
pub struct LoadedWorkloads {
    pub workloads: Vec<Arc<Workload>>,
    /// Documents that could not be read or normalized.
    pub errors: Vec<Diagnostic>,
    /// Objects that carry no pods.
    pub skipped: usize,
}

/// Loads and normalizes every document of one source, without evaluating anything.
pub fn load_workloads(file: &str, text: &str) -> LoadedWorkloads {
    let text = load::strip_bom(text);
    let items: Vec<Loaded> = if load::looks_like_json(file, text) {
        load::load_source(file, text).into_iter().collect()
    } else {
        load::split_yaml_documents(text)
            .iter()
            .flat_map(|doc| load::load_yaml_document(file, doc))
            .collect()
    };
    let mut loaded = LoadedWorkloads::default();
    for item in items {
        match prepare(file, item) {
            Prepared::Workload(workload) => loaded.workloads.push(workload),
            Prepared::Error(error) => loaded.errors.push(error),
            Prepared::Skipped => loaded.skipped += 1,
        }
    }
    loaded
}

/// A loaded document after normalization.
enum Prepared {
    Workload(Arc<Workload>),
    Error(Diagnostic),
    Skipped,
}

fn prepare(file: &str, item: Loaded) -> Prepared {
    match item {
        Loaded::Error(error) => Prepared::Error(error),
        Loaded::Skipped { .. } => Prepared::Skipped,
        Loaded::Object(object) => {
            let (document, line) = (object.document, object.line);
            match normalize(object) {
                Normalized::NotAWorkload => Prepared::Skipped,
                Normalized::Invalid(message) => {
                    Prepared::Error(Diagnostic::new(file, Some(document), Some(line), message))
                }
                Normalized::Workload(workload) => Prepared::Workload(Arc::from(workload)),
            }
        }
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
    let message = match limit {
        Some(limit) => format!("{limit}{at}"),
        None => {
            let text = innermost.to_string();
            // Rhai appends its own " (line L, position P)"; ours is clearer about whose line.
            let text = text.split(" (line ").next().unwrap_or(&text).to_string();
            format!("{text}{at}")
        }
    };
    RuleFailure { message, position }
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
