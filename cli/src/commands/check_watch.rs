//! `check --watch`: re-check on every save, redoing only what changed.
//!
//! A manifest edit re-reads that file; a rule edit recompiles that rule and re-evaluates
//! only it on the workloads already loaded; a configuration edit re-resolves settings and
//! re-evaluates without re-reading manifests. A rule that stops compiling is reported with a
//! code frame and its last good version keeps running. Each run ends with what changed since
//! the previous one, findings compared by their identity ([`FindingId`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anstyle::{AnsiColor, Style};
use portcullis_engine::{
    Date, Diagnostic, Finding, FindingId, Policy, Report, RuleLoadError, RuleSet, Severity,
    Workloads,
};
use rayon::prelude::*;

use crate::Outcome;
use crate::args::{CheckArgs, Format, InputArgs};
use crate::diagnostics::{Renderer, Sources};
use crate::inputs::{self, Input};
use crate::printer::{self, Printer, banner, clock};
use crate::setup;
use crate::watcher::{self, RecursiveMode, Watcher, absolute};

/// Re-runs list every finding only up to this many; beyond, the summary and the diff.
const RERUN_LIST_LIMIT: usize = 100;
/// New and fixed findings listed per re-run, each.
const DIFF_LIST_LIMIT: usize = 50;

/// Reads and normalizes one manifest file (or Dockerfile); `name` is how reports call it.
fn load_file(path: &Path, name: String, options: &InputArgs, platform: &str) -> FileState {
    let loaded = match Input::File(path.to_path_buf()).read() {
        Ok(source) => portcullis_engine::Source::from_text(
            name.clone(),
            source.text().unwrap_or_default().to_string(),
        )
        .with_build_args(options.build_args.iter().cloned())
        .with_platform(platform)
        .load(),
        Err(mut error) => {
            error.file = name.clone();
            let mut loaded = Workloads::default();
            loaded.diagnostics.push(error);
            loaded
        }
    };
    FileState {
        loaded,
        workload_errors: Vec::new(),
        by_rule: HashMap::new(),
    }
}

/// One watched manifest: its workloads, loaded once per edit, and results per rule.
struct FileState {
    loaded: Workloads,
    /// Annotation problems, once per workload (set when evaluated: the policy finds them).
    workload_errors: Vec<Diagnostic>,
    by_rule: HashMap<String, Report>,
}

struct CheckSession {
    args: CheckArgs,
    today: Date,
    printer: Printer,
    renderer: Renderer,
    rules: RuleSet,
    /// Rule files that do not compile now; their last good version (if any) still runs.
    broken_rules: BTreeMap<String, RuleLoadError>,
    config_path: Option<PathBuf>,
    config_text: Option<(String, Arc<str>)>,
    /// The configuration as last read, with the problems reading it found: a rule edit
    /// re-resolves settings against it without reading the file again.
    config: setup::ConfigFile,
    /// `--image-facts`, read once: the facts file is an input, not something being edited.
    image_facts: Option<Result<portcullis_engine::facts::FactsFile, Diagnostic>>,
    /// The policy last built without problems; it keeps running while the configuration
    /// has errors.
    policy: Option<Policy>,
    config_errors: Vec<Diagnostic>,
    /// Manifests by absolute path, with the name used in reports.
    files: BTreeMap<PathBuf, (String, FileState)>,
    /// Manifest roots: (absolute, as given).
    manifest_roots: Vec<(PathBuf, PathBuf)>,
    rule_roots: Vec<PathBuf>,
    previous: BTreeMap<FindingId, Seen>,
    input_errors: Vec<Diagnostic>,
    /// What the last update redid, for the user to see that only that was redone.
    redone: Vec<String>,
}

/// Runs `check --watch` until Ctrl-C.
pub fn run(args: CheckArgs, today: Date) -> std::io::Result<Outcome> {
    let printer = Printer::new(args.color);
    if args.format != Format::Text {
        printer.error("--watch prints text for people; drop --format");
        return Ok(Outcome::Errors);
    }
    if args.paths.is_empty() || args.paths.iter().any(|p| p.as_os_str() == "-") {
        printer.error("--watch needs files or directories to watch (not stdin)");
        return Ok(Outcome::Errors);
    }
    let mut session = CheckSession::start(args, today, printer);
    let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    for path in &session.args.paths {
        roots.extend(watcher::root_for(path, true));
    }
    for path in &session.args.rule_source.rules {
        roots.extend(watcher::root_for(path, false));
    }
    if let Some(config) = &session.config_path {
        roots.extend(watcher::root_for(config, false));
    } else {
        // A portcullis.yaml created while watching is picked up.
        roots.extend(watcher::root_for(Path::new("."), false));
    }
    let mut watch = match Watcher::start(roots, setup::stop_handle()) {
        Ok(watch) => watch,
        Err(message) => {
            session.printer.error(&message);
            return Ok(Outcome::Errors);
        }
    };
    let started = Instant::now();
    session.evaluate_all();
    session.print(
        &banner(&session.printer, &format!("{} checked", clock())),
        started,
        false,
    )?;
    session.print_watching()?;

    while let Some(paths) = watch.next() {
        let started = Instant::now();
        let mut paths = session.expand_directories(paths);
        paths.sort();
        paths.dedup();
        let relevant = session.apply(&paths);
        if relevant.is_empty() {
            continue;
        }
        if setup::stop_handle().is_stopped() {
            break;
        }
        let title = format!("{} {}", clock(), watcher::describe_changes(&relevant));
        session.print(&banner(&session.printer, &title), started, true)?;
    }
    session.printer.text("stopped watching\n")?;
    Ok(Outcome::Clean)
}

impl CheckSession {
    fn start(args: CheckArgs, today: Date, printer: Printer) -> CheckSession {
        let config = setup::read_config(setup::config_path(args.config.as_deref()));
        let (rules, rule_errors) = setup::load_rules_for_authoring(&args.rule_source);
        let manifest_roots = args
            .paths
            .iter()
            .map(|p| (absolute(p), p.clone()))
            .collect();
        let rule_roots = args.rule_source.rules.iter().map(|p| absolute(p)).collect();
        let renderer = Renderer::new(printer.color());
        let mut session = CheckSession {
            today,
            renderer,
            rules,
            broken_rules: rule_errors
                .into_iter()
                .map(|e| (e.origin.clone(), e))
                .collect(),
            config_path: config.path.clone(),
            config_text: config.text.clone(),
            config_errors: config.problems.clone(),
            config,
            image_facts: args
                .image_facts
                .as_deref()
                .map(portcullis_engine::facts::FactsFile::read),
            policy: None,
            files: BTreeMap::new(),
            manifest_roots,
            rule_roots,
            previous: BTreeMap::new(),
            input_errors: Vec::new(),
            redone: Vec::new(),
            printer,
            args,
        };
        session.resolve_policy();
        let (inputs, errors) = inputs::expand(&session.args.paths);
        session.input_errors = errors;
        let files: Vec<(PathBuf, (String, FileState))> = inputs
            .par_iter()
            .filter_map(|input| match input {
                Input::File(path) | Input::Found(path) => {
                    let name = path.display().to_string();
                    Some((
                        absolute(path),
                        (
                            name.clone(),
                            load_file(
                                path,
                                name,
                                &session.args.input,
                                &session.args.registry.platform,
                            ),
                        ),
                    ))
                }
                Input::Stdin => None,
            })
            .collect();
        session.files.extend(files);
        session
    }

    /// Resolves the configuration against the rules; on errors the previous policy stays.
    fn resolve_policy(&mut self) {
        let mut builder = setup::policy_builder(&self.rules, &self.config)
            .selection(setup::selection(&self.args.select, &self.args.ignore))
            .today(self.today);
        if let Some(namespace) = &self.args.namespace {
            builder = builder.default_namespace(namespace);
        }
        match &self.image_facts {
            Some(Ok(facts)) => builder = builder.image_facts(facts.clone()),
            Some(Err(error)) => builder = builder.problem(error.clone()),
            None => {}
        }
        match builder.build() {
            Ok(policy) => {
                setup::warn_expired(&policy);
                self.config_errors.clear();
                self.policy = Some(policy);
            }
            Err(errors) => self.config_errors = errors,
        }
    }

    fn reload_config(&mut self) {
        self.config = setup::read_config(setup::config_path(self.args.config.as_deref()));
        self.config_path = self.config.path.clone();
        self.config_text = self.config.text.clone();
        self.resolve_policy();
    }

    fn load_file(&mut self, absolute: &Path, name: String) {
        let state = load_file(
            absolute,
            name.clone(),
            &self.args.input,
            &self.args.registry.platform,
        );
        self.files.insert(absolute.to_path_buf(), (name, state));
    }

    /// Evaluates `rule` (or every rule) on the files given (or all files) from their
    /// loaded workloads.
    fn evaluate(&mut self, rule: Option<&str>, only_file: Option<&Path>) {
        let Some(policy) = &self.policy else { return };
        let ids: Vec<String> = match rule {
            Some(id) => vec![id.to_string()],
            None => policy.rule_ids().iter().map(|s| s.to_string()).collect(),
        };
        // Files are independent: spread them over the cores like a plain `check`.
        self.files.par_iter_mut().for_each(|(path, (_, state))| {
            if only_file.is_some_and(|f| f != path) {
                return;
            }
            if rule.is_none() {
                state.by_rule.clear();
                state.workload_errors = policy.annotation_problems(&state.loaded);
            }
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let reports = policy.check_rules(&id_refs, &state.loaded);
            state.by_rule.extend(ids.iter().cloned().zip(reports));
        });
    }

    fn evaluate_all(&mut self) {
        self.evaluate(None, None);
    }

    /// Applies a batch of changed paths; returns the ones that mattered.
    fn apply(&mut self, paths: &[PathBuf]) -> Vec<PathBuf> {
        self.redone.clear();
        let mut relevant = Vec::new();
        let mut config_changed = false;
        for path in paths {
            if self.is_config(path) {
                config_changed = true;
                relevant.push(path.clone());
            } else if self.is_rule_file(path) {
                self.apply_rule_change(path);
                relevant.push(path.clone());
            } else if let Some(name) = self.manifest_name(path) {
                if path.is_file() {
                    self.load_file(path, name.clone());
                    self.evaluate(None, Some(path));
                    let workloads = self.files.get(path).map_or(0, |(_, s)| s.loaded.len());
                    self.redone
                        .push(format!("re-checked {name} ({workloads} workload(s))"));
                } else {
                    self.files.remove(path);
                    self.redone
                        .push(format!("{name} is gone; dropped its findings"));
                }
                relevant.push(path.clone());
            }
        }
        if config_changed {
            self.reload_config();
            self.evaluate_all();
            self.redone.push(format!(
                "reloaded the configuration; re-evaluated every rule on {} workload(s)",
                self.workload_count()
            ));
        }
        relevant
    }

    fn apply_rule_change(&mut self, path: &Path) {
        let origin = self
            .args
            .rule_source
            .rules
            .iter()
            .zip(&self.rule_roots)
            .find_map(|(given, root)| {
                if root == path {
                    Some(given.clone())
                } else {
                    path.strip_prefix(root).ok().map(|rest| given.join(rest))
                }
            })
            .unwrap_or_else(|| path.to_path_buf())
            .display()
            .to_string();
        let stem = path.file_stem().and_then(|s| s.to_str());
        let outcome = match RuleSet::read_rule_file(path) {
            Ok(text) => self.rules.reload_source(&origin, &text, stem),
            Err(_) => {
                // Deleted (or renamed away): its findings go with it.
                self.broken_rules.remove(&origin);
                let removed = self.rules.remove_origin(&origin);
                self.rebuild_policy();
                for (_, state) in self.files.values_mut() {
                    if let Some(id) = &removed {
                        state.by_rule.remove(id);
                    }
                }
                return;
            }
        };
        match outcome {
            Ok(previous_id) => {
                self.broken_rules.remove(&origin);
                self.rebuild_policy();
                if let Some(previous) = previous_id {
                    for (_, state) in self.files.values_mut() {
                        state.by_rule.remove(&previous);
                    }
                }
                let id = self
                    .rules
                    .rules()
                    .iter()
                    .find(|r| r.origin == origin)
                    .map(|r| r.meta.id.clone());
                if let Some(id) = id {
                    self.evaluate(Some(&id), None);
                    self.redone.push(format!(
                        "recompiled `{id}`; re-evaluated it on {} workload(s)",
                        self.workload_count()
                    ));
                }
            }
            Err(error) => {
                self.redone
                    .push(format!("{origin} does not compile; nothing re-evaluated"));
                self.broken_rules.insert(origin, error);
            }
        }
    }

    fn workload_count(&self) -> usize {
        self.files.values().map(|(_, s)| s.loaded.len()).sum()
    }

    /// Settings are resolved per rule set: after a rule changes, re-resolve the
    /// configuration last read (a settings error may appear or go with the rule).
    fn rebuild_policy(&mut self) {
        self.resolve_policy();
    }

    fn is_config(&self, path: &Path) -> bool {
        match &self.config_path {
            Some(config) => absolute(config) == path,
            None => {
                self.args.config.is_none()
                    && path.file_name().is_some_and(|n| n == "portcullis.yaml")
                    && path.parent()
                        == std::env::current_dir()
                            .ok()
                            .map(|d| absolute(&d))
                            .as_deref()
            }
        }
    }

    fn is_rule_file(&self, path: &Path) -> bool {
        path.extension().is_some_and(|e| e == "rhai")
            && self
                .rule_roots
                .iter()
                .any(|root| root == path || path.parent() == Some(root.as_path()))
    }

    /// The report name of a manifest under a watched root, or `None` when `path` is not one.
    /// A changed directory (created, deleted, renamed away or back) stands for the files
    /// known under it and the manifests now in it: a directory renamed away sends no
    /// event for its files.
    fn expand_directories(&self, paths: Vec<PathBuf>) -> Vec<PathBuf> {
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            let known: Vec<PathBuf> = self
                .files
                .keys()
                .filter(|file| file.starts_with(&path) && **file != path)
                .cloned()
                .collect();
            if path.is_dir() {
                let (found, _) = inputs::expand(std::slice::from_ref(&path));
                out.extend(found.iter().filter_map(|input| match input {
                    Input::File(p) | Input::Found(p) => Some(absolute(p)),
                    Input::Stdin => None,
                }));
            }
            if known.is_empty() {
                out.push(path);
            } else {
                out.extend(known);
            }
        }
        out
    }

    fn manifest_name(&self, path: &Path) -> Option<String> {
        if let Some((name, _)) = self.files.get(path) {
            return Some(name.clone());
        }
        self.manifest_roots.iter().find_map(|(root, given)| {
            if root == path {
                return Some(given.display().to_string());
            }
            let rest = path.strip_prefix(root).ok()?;
            let hidden = rest
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
            (!hidden && inputs::is_walked_manifest(path))
                .then(|| given.join(rest).display().to_string())
        })
    }

    fn report(&self) -> Report {
        let mut parts = Vec::new();
        let active: BTreeSet<&str> = self
            .policy
            .as_ref()
            .map(|p| p.rule_ids().into_iter().collect())
            .unwrap_or_default();
        for (_, state) in self.files.values() {
            parts.push(Report {
                errors: state
                    .loaded
                    .diagnostics
                    .iter()
                    .chain(&state.workload_errors)
                    .cloned()
                    .collect(),
                resources: state.loaded.len(),
                skipped: state.loaded.skipped,
                ..Report::default()
            });
            for (id, report) in &state.by_rule {
                if active.contains(id.as_str()) {
                    parts.push(report.clone());
                }
            }
        }
        let mut report = Report::concat(parts);
        report.errors.extend(self.input_errors.iter().cloned());
        report.sort();
        report
    }

    fn print(&mut self, banner: &str, started: Instant, show_diff: bool) -> std::io::Result<()> {
        let report = self.report();
        let mut sources = Sources::of_rules(&self.rules);
        if let Some((name, text)) = &self.config_text {
            sources.add(name, text.clone());
        }
        let mut out = String::from(banner);
        for error in &self.config_errors {
            out.push_str(&self.renderer.input_error(error, &sources));
        }
        if !self.config_errors.is_empty() && self.policy.is_some() {
            out.push_str("note: the configuration has errors; the last valid one is in use\n");
        }
        for (origin, error) in &self.broken_rules {
            out.push_str(&self.renderer.rule_load_error(error));
            let running = self.rules.rules().iter().any(|r| &r.origin == origin);
            if running {
                out.push_str(&format!(
                    "note: {origin} does not compile; its last good version keeps running\n"
                ));
            }
        }
        let render = |e: &Diagnostic| self.renderer.input_error(e, &sources);
        if !show_diff || report.findings.len() <= RERUN_LIST_LIMIT {
            out.push_str(&printer::text_report(
                &self.printer,
                &report,
                self.files.len(),
                &render,
            ));
        } else {
            // Thousands of findings scrolling by on every save hide the change; the start
            // of the watch listed them all, and the diff below says what moved.
            for error in &report.errors {
                out.push_str(&render(error));
            }
            out.push_str(&printer::summary_line(&report, self.files.len()));
            out.push_str(&format!(" (not listed again above {RERUN_LIST_LIMIT})\n"));
        }
        // Exempted findings are in the diff too, so that waiving one reads as a change.
        let mut current: BTreeMap<FindingId, Seen> = report
            .findings
            .iter()
            .chain(&report.exempted)
            .map(|f| (f.id(), Seen::of(f)))
            .collect();
        // A finding that is gone because its file no longer loads or its rule failed on
        // the file was not fixed, only not looked at: it is carried over, so that it is
        // neither listed as fixed now nor as new once the error is gone.
        let unloaded: BTreeSet<&str> = self
            .files
            .values()
            .filter(|(_, state)| !state.loaded.diagnostics.is_empty())
            .map(|(name, _)| name.as_str())
            .collect();
        let unchecked: Vec<(FindingId, Seen)> = self
            .previous
            .iter()
            .filter(|(id, _)| {
                !current.contains_key(*id) && not_rechecked(id, &unloaded, &report.errors)
            })
            .map(|(id, seen)| (id.clone(), seen.clone()))
            .collect();
        let unchecked_count = unchecked.len();
        current.extend(unchecked);
        if show_diff {
            out.push_str(&self.diff(&current));
            if unchecked_count > 0 {
                out.push_str(&format!(
                    "  {unchecked_count} earlier finding{} not rechecked: {} errors above\n",
                    if unchecked_count == 1 { "" } else { "s" },
                    if unchecked_count == 1 {
                        "its file or rule"
                    } else {
                        "their files or rules"
                    },
                ));
            }
        }
        let mut done = format!("done in {} ms", started.elapsed().as_millis());
        if !self.redone.is_empty() {
            done.push_str(&format!(": {}", self.redone.join("; ")));
        }
        out.push_str(
            &self
                .printer
                .paint(Style::new().dimmed(), &format!("{done}\n")),
        );
        self.previous = current;
        self.printer.text(&out)
    }

    fn diff(&self, current: &BTreeMap<FindingId, Seen>) -> String {
        let new: Vec<String> = current
            .iter()
            .filter(|(id, _)| !self.previous.contains_key(*id))
            .map(|(_, seen)| seen.line.clone())
            .collect();
        let fixed: Vec<String> = self
            .previous
            .iter()
            .filter(|(id, _)| !current.contains_key(*id))
            .map(|(_, seen)| seen.line.clone())
            .collect();
        // The same finding with another severity, exemption or message (a configuration
        // or rule edit) is neither new nor fixed, but hiding it would make the edit look
        // ignored.
        let changed: Vec<String> = current
            .iter()
            .filter_map(|(id, now)| {
                let before = self.previous.get(id)?;
                let change = before.describe_change(now)?;
                Some(format!("{} ({change})", now.line))
            })
            .collect();
        if new.is_empty() && fixed.is_empty() && changed.is_empty() {
            return "since last run: no change in findings\n".into();
        }
        let mut out = format!("since last run: {} new, {} fixed", new.len(), fixed.len());
        if !changed.is_empty() {
            out.push_str(&format!(", {} changed", changed.len()));
        }
        out.push('\n');
        let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
        let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
        let yellow = Style::new().fg_color(Some(AnsiColor::Yellow.into()));
        for (lines, label, style, more) in [
            (&new, "+ new    ", red, "new"),
            (&fixed, "- fixed  ", green, "fixed"),
            (&changed, "~ changed", yellow, "changed"),
        ] {
            for line in lines.iter().take(DIFF_LIST_LIMIT) {
                out.push_str(&self.printer.paint(style, &format!("  {label} {line}\n")));
            }
            if lines.len() > DIFF_LIST_LIMIT {
                out.push_str(&format!(
                    "  … and {} more {more}\n",
                    lines.len() - DIFF_LIST_LIMIT
                ));
            }
        }
        out
    }

    fn print_watching(&self) -> std::io::Result<()> {
        self.printer.text(&self.printer.paint(
            Style::new().dimmed(),
            "watching for changes to manifests, rules and configuration (Ctrl-C to stop)\n",
        ))
    }
}

/// Whether the finding `id` could not be re-checked: its file (or a document of it) does
/// not load, or its rule failed on the file.
fn not_rechecked(id: &FindingId, unloaded: &BTreeSet<&str>, errors: &[Diagnostic]) -> bool {
    unloaded.contains(id.file.as_str())
        || errors
            .iter()
            .any(|e| e.file == id.file && e.rule.as_ref() == Some(&id.rule))
}

/// What is shown of a finding and what can change about it while it stays the same
/// finding: its severity, whether it is waived, its message.
#[derive(Debug, Clone)]
struct Seen {
    severity: Severity,
    exempted: bool,
    message: String,
    /// How the diff names it.
    line: String,
}

impl Seen {
    fn of(finding: &Finding) -> Seen {
        let r = &finding.resource;
        let mut line = format!(
            "{} {} {}/{} {}",
            r.file, r.kind, r.namespace, r.name, finding.rule
        );
        if let Some(container) = &finding.container {
            line.push_str(&format!(" container `{container}`"));
        }
        line.push_str(&format!(": {}", finding.message));
        Seen {
            severity: finding.severity,
            exempted: finding.exemption.is_some(),
            message: finding.message.clone(),
            line: printer::clean(&line).into_owned(),
        }
    }

    /// What changed since `self`, if anything did.
    fn describe_change(&self, now: &Seen) -> Option<String> {
        let mut parts = Vec::new();
        if self.severity != now.severity {
            parts.push(format!(
                "severity {} → {}",
                self.severity.as_str(),
                now.severity.as_str()
            ));
        }
        if self.exempted != now.exempted {
            parts.push(
                if now.exempted {
                    "now exempted"
                } else {
                    "no longer exempted"
                }
                .to_string(),
            );
        }
        if self.message != now.message {
            parts.push("message changed".to_string());
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}
