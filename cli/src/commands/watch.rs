//! `check --watch` and `test --watch`: re-run on every save.
//!
//! File events come from notify (inotify, FSEvents, ...) and are gathered until a save's
//! burst settles. The loop blocks on a channel, so an idle watch uses no CPU. Only what
//! changed is redone: a manifest edit re-reads that file; a rule edit recompiles that rule and re-evaluates only
//! it on the workloads already loaded; a configuration edit re-resolves settings and
//! re-evaluates without re-reading manifests. A rule that stops compiling is reported with
//! a code frame and its last good version keeps running.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use anstyle::{AnsiColor, Style};
use notify::{RecursiveMode, Watcher};
use portcullis_engine::{
    Date, Finding, LoadedWorkloads, Policy, Report, RuleLoadError, RuleSet, Severity,
    annotation_error, load_workloads,
};
use rayon::prelude::*;

use crate::Outcome;
use crate::args::{CheckArgs, Format, TestArgs};
use crate::diagnostics::{Renderer, Sources};
use crate::inputs::{self, Input};
use crate::output::{self, Printer};

/// After a change, how long to wait for more before re-running: editors save in several
/// steps (truncate + write, or write a temporary file and rename it over the original).
/// Short enough that a re-run lands well within 300 ms of a save.
const SETTLE: Duration = Duration::from_millis(30);
/// A file rewritten without pause still gets a re-run this often.
const MAX_SETTLE: Duration = Duration::from_millis(250);

/// Re-runs list every finding only up to this many; beyond, the summary and the diff.
const RERUN_LIST_LIMIT: usize = 100;
/// New and fixed findings listed per re-run, each.
const DIFF_LIST_LIMIT: usize = 50;

enum Wake {
    Changed(Vec<PathBuf>),
    WatchError(String),
    Interrupted,
}

/// The watched roots, kept watched when a root directory is deleted and created again or
/// renamed away and back: the kernel drops a watch with its directory, so each root's
/// parent is watched too, and a root that reappears is watched again.
struct Watch {
    watcher: notify::RecommendedWatcher,
    roots: Vec<(PathBuf, RecursiveMode)>,
    events: Receiver<Wake>,
}

impl Watch {
    /// Blocks until something changes (see [`next_change`]); roots named by the changes
    /// are watched again when they exist.
    fn next(&mut self) -> Next {
        let next = next_change(&self.events);
        if let Next::Run(paths) = &next {
            for (root, mode) in &self.roots {
                if paths.iter().any(|p| p == root) && root.is_dir() {
                    let _ = self.watcher.unwatch(root);
                    if let Err(e) = self.watcher.watch(root, *mode) {
                        log::warn!("cannot watch {} again: {e}", root.display());
                    }
                }
            }
        }
        next
    }
}

/// Watches `roots` and delivers changes and Ctrl-C on one channel; `None` (reported) when
/// watching cannot start. Debouncing happens on the receiving side ([`next_change`]) so
/// that nothing ticks while no file changes: notify's own debouncers wake up a hundred
/// times a second.
fn watch(mut roots: Vec<(PathBuf, RecursiveMode)>) -> Option<Watch> {
    roots.sort();
    roots.dedup();
    match start_watching(&roots) {
        Ok((watcher, events)) => Some(Watch {
            watcher,
            roots,
            events,
        }),
        Err(message) => {
            eprintln!("error: {message}");
            None
        }
    }
}

fn start_watching(
    roots: &[(PathBuf, RecursiveMode)],
) -> Result<(notify::RecommendedWatcher, Receiver<Wake>), String> {
    let (tx, rx) = channel::<Wake>();
    let events = tx.clone();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        let wake = match result {
            // Reads and closes change nothing.
            Ok(event) if event.kind.is_access() => return,
            Ok(event) => Wake::Changed(event.paths),
            Err(error) => Wake::WatchError(error.to_string()),
        };
        let _ = events.send(wake);
    })
    .map_err(|e| format!("cannot watch files: {e}"))?;
    for (root, mode) in roots {
        watcher
            .watch(root, *mode)
            .map_err(|e| format!("cannot watch {}: {e}", root.display()))?;
    }
    // The parents tell when a root directory goes away or comes back.
    let mut parents: Vec<&Path> = roots
        .iter()
        .filter(|(root, _)| root.is_dir())
        .filter_map(|(root, _)| root.parent())
        .collect();
    parents.sort();
    parents.dedup();
    for parent in parents {
        if roots.iter().all(|(root, _)| root != parent)
            && let Err(e) = watcher.watch(parent, RecursiveMode::NonRecursive)
        {
            log::info!("cannot watch {}: {e}", parent.display());
        }
    }
    set_interrupt_handler(tx);
    Ok((watcher, rx))
}

/// What the loop should do next.
enum Next {
    Run(Vec<PathBuf>),
    Stop,
}

/// Blocks until something changes, then gathers the rest of the burst.
fn next_change(events: &Receiver<Wake>) -> Next {
    let mut paths = loop {
        match events.recv() {
            Ok(Wake::Changed(paths)) => break paths,
            Ok(Wake::WatchError(message)) => log::warn!("file watching: {message}"),
            Ok(Wake::Interrupted) | Err(_) => return Next::Stop,
        }
    };
    let deadline = Instant::now() + MAX_SETTLE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match events.recv_timeout(SETTLE.min(left)) {
            Ok(Wake::Changed(more)) => paths.extend(more),
            Ok(Wake::WatchError(message)) => log::warn!("file watching: {message}"),
            Ok(Wake::Interrupted) => return Next::Stop,
            Err(RecvTimeoutError::Timeout) => break,
            Err(RecvTimeoutError::Disconnected) => return Next::Stop,
        }
    }
    Next::Run(paths)
}

fn set_interrupt_handler(tx: Sender<Wake>) {
    // Ends the loop instead of killing the process mid-print.
    if let Err(e) = ctrlc::set_handler(move || {
        super::stop_handle().stop();
        let _ = tx.send(Wake::Interrupted);
    }) {
        log::warn!("cannot handle Ctrl-C: {e}");
    }
}

/// The directory to watch for `path` and how: a directory recursively; a file through its
/// directory, so that an editor replacing the file by a rename is seen.
fn watch_root(path: &Path, recursive_dirs: bool) -> Option<(PathBuf, RecursiveMode)> {
    let absolute = absolute(path);
    if absolute.is_dir() {
        let mode = if recursive_dirs {
            RecursiveMode::Recursive
        } else {
            RecursiveMode::NonRecursive
        };
        Some((absolute, mode))
    } else {
        absolute
            .parent()
            .map(|dir| (dir.to_path_buf(), RecursiveMode::NonRecursive))
    }
}

fn absolute(path: &Path) -> PathBuf {
    path.canonicalize()
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Events name files by the absolute path of the watched directory; a deleted file cannot
/// be canonicalized, so its directory is.
fn event_path(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => absolute(dir).join(name),
        _ => path.to_path_buf(),
    }
}

fn banner(printer: &Printer, text: &str) -> String {
    let line = format!("── {text} ");
    let width = 72usize.saturating_sub(line.chars().count());
    printer.paint(
        Style::new().bold(),
        &format!("\n{line}{}\n", "─".repeat(width)),
    )
}

fn clock() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn describe_changes(paths: &[PathBuf]) -> String {
    let cwd = std::env::current_dir().ok().map(|d| absolute(&d));
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            cwd.as_ref()
                .and_then(|cwd| p.strip_prefix(cwd).ok())
                .unwrap_or(p)
                .display()
                .to_string()
        })
        .collect();
    match names.len() {
        0 => "no change".into(),
        1..=3 => names.join(", "),
        n => format!("{}, {} and {} more", names[0], names[1], n - 2),
    }
}

// ---------------------------------------------------------------- check --watch

/// Reads and normalizes one manifest file; `name` is how reports call it.
fn load_file(path: &Path, name: String) -> FileState {
    let loaded = match Input::File(path.to_path_buf()).read() {
        Ok(text) => load_workloads(&name, &text),
        Err(mut error) => {
            error.file = name.clone();
            LoadedWorkloads {
                errors: vec![error],
                ..LoadedWorkloads::default()
            }
        }
    };
    let workload_errors = loaded
        .workloads
        .iter()
        .filter_map(|w| annotation_error(w, &name))
        .collect();
    FileState {
        loaded,
        workload_errors,
        by_rule: HashMap::new(),
    }
}

/// One watched manifest: its workloads, loaded once per edit, and results per rule.
struct FileState {
    loaded: LoadedWorkloads,
    /// Annotation problems, once per workload.
    workload_errors: Vec<portcullis_engine::Diagnostic>,
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
    /// The configuration as last read, and the problems reading it found: a rule edit
    /// re-resolves settings against it without reading the file again.
    config: portcullis_engine::Config,
    config_read_errors: Vec<portcullis_engine::Diagnostic>,
    /// `--image-facts`, read once: the facts file is an input, not something being edited.
    image_facts: Option<Result<Arc<portcullis_engine::FactsIndex>, portcullis_engine::Diagnostic>>,
    /// `Err` holds the configuration's problems; the previous policy keeps running.
    policy: Option<Policy>,
    config_errors: Vec<portcullis_engine::Diagnostic>,
    /// Manifests by absolute path, with the name used in reports.
    files: BTreeMap<PathBuf, (String, FileState)>,
    /// Manifest roots: (absolute, as given).
    manifest_roots: Vec<(PathBuf, PathBuf)>,
    rule_roots: Vec<PathBuf>,
    previous: BTreeMap<FindingKey, FindingState>,
    input_errors: Vec<portcullis_engine::Diagnostic>,
    /// What the last update redid, for the user to see that only that was redone.
    redone: Vec<String>,
}

pub fn run_check(args: CheckArgs, today: Date) -> std::io::Result<Outcome> {
    let printer = Printer::stdout(args.color);
    if args.format != Format::Text {
        eprintln!("error: --watch prints text for people; drop --format");
        return Ok(Outcome::Errors);
    }
    if args.paths.is_empty() || args.paths.iter().any(|p| p.as_os_str() == "-") {
        eprintln!("error: --watch needs files or directories to watch (not stdin)");
        return Ok(Outcome::Errors);
    }
    let mut session = CheckSession::start(args, today, printer);
    let mut roots: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    for path in &session.args.paths {
        roots.extend(watch_root(path, true));
    }
    for path in &session.args.rule_source.rules {
        roots.extend(watch_root(path, false));
    }
    if let Some(config) = &session.config_path {
        roots.extend(watch_root(config, false));
    } else {
        // A portcullis.yaml created while watching is picked up.
        roots.extend(watch_root(Path::new("."), false));
    }
    let Some(mut watch) = watch(roots) else {
        return Ok(Outcome::Errors);
    };
    let started = Instant::now();
    session.evaluate_all();
    session.print(
        &banner(&session.printer, &format!("{} checked", clock())),
        started,
        false,
    )?;
    session.print_watching()?;

    while let Next::Run(paths) = watch.next() {
        let started = Instant::now();
        let paths: Vec<PathBuf> = paths.iter().map(|p| event_path(p)).collect();
        let mut paths = session.expand_directories(paths);
        paths.sort();
        paths.dedup();
        let relevant = session.apply(&paths);
        if relevant.is_empty() {
            continue;
        }
        let title = format!("{} {}", clock(), describe_changes(&relevant));
        if super::stop_handle().is_stopped() {
            break;
        }
        session.print(&banner(&session.printer, &title), started, true)?;
    }
    println!("stopped watching");
    Ok(Outcome::Clean)
}

impl CheckSession {
    fn start(args: CheckArgs, today: Date, printer: Printer) -> CheckSession {
        let loaded_config = super::check::load_config(args.config.as_deref());
        let (rules, rule_errors) = super::load_rules(&args.rule_source);
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
            config_path: loaded_config.path.clone(),
            config_text: loaded_config.text.clone(),
            config: loaded_config.config,
            config_read_errors: loaded_config.errors.clone(),
            image_facts: args
                .image_facts
                .as_deref()
                .map(super::check::read_image_facts),
            policy: None,
            config_errors: loaded_config.errors,
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
                    Some((absolute(path), (name.clone(), load_file(path, name))))
                }
                Input::Stdin => None,
            })
            .collect();
        session.files.extend(files);
        session
    }

    /// Resolves the configuration against the rules; on errors the previous policy stays.
    fn resolve_policy(&mut self) {
        self.config_errors = self.config_read_errors.clone();
        let selection = super::check::selection(&self.args);
        match Policy::new(&self.rules, &self.config, &selection, self.today) {
            Ok(mut policy) if self.config_errors.is_empty() => {
                super::check::warn_expired(&policy);
                match &self.image_facts {
                    Some(Ok(facts)) => policy.set_image_facts(facts.clone()),
                    Some(Err(error)) => self.config_errors.push(error.clone()),
                    None => {}
                }
                self.policy = Some(policy);
            }
            Ok(_) => {}
            Err(errors) => self.config_errors.extend(errors),
        }
    }

    fn reload_config(&mut self) {
        let loaded = super::check::load_config(self.args.config.as_deref());
        self.config_path = loaded.path;
        self.config_text = loaded.text;
        self.config = loaded.config;
        self.config_read_errors = loaded.errors;
        self.resolve_policy();
    }

    fn load_file(&mut self, absolute: &Path, name: String) {
        let state = load_file(absolute, name.clone());
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
        self.files.par_iter_mut().for_each(|(path, (name, state))| {
            if only_file.is_some_and(|f| f != path) {
                return;
            }
            if rule.is_none() {
                state.by_rule.clear();
            }
            // Workload outside, rules inside: the workload's view is built once for all rules.
            let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut reports = vec![Report::default(); ids.len()];
            for workload in &state.loaded.workloads {
                policy.check_workload_rules(&id_refs, workload.clone(), name, &mut reports);
            }
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
                    let workloads = self
                        .files
                        .get(path)
                        .map_or(0, |(_, s)| s.loaded.workloads.len());
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
        let outcome = match portcullis_engine::rules::read_rule_file(path) {
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
        self.files
            .values()
            .map(|(_, s)| s.loaded.workloads.len())
            .sum()
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
                    .errors
                    .iter()
                    .chain(&state.workload_errors)
                    .cloned()
                    .collect(),
                resources: state.loaded.workloads.len(),
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
        let render = |e: &portcullis_engine::Diagnostic| self.renderer.input_error(e, &sources);
        if !show_diff || report.findings.len() <= RERUN_LIST_LIMIT {
            out.push_str(&output::text_report(
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
            out.push_str(&output::summary_line(&report, self.files.len()));
            out.push_str(&format!(" (not listed again above {RERUN_LIST_LIMIT})\n"));
        }
        // Exempted findings are in the diff too, so that waiving one reads as a change.
        let current: BTreeMap<FindingKey, FindingState> = report
            .findings
            .iter()
            .chain(&report.exempted)
            .map(|f| (FindingKey::of(f), FindingState::of(f)))
            .collect();
        if show_diff {
            out.push_str(&self.diff(&current));
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

    fn diff(&self, current: &BTreeMap<FindingKey, FindingState>) -> String {
        let new: Vec<String> = current
            .keys()
            .filter(|key| !self.previous.contains_key(*key))
            .map(ToString::to_string)
            .collect();
        let fixed: Vec<String> = self
            .previous
            .keys()
            .filter(|key| !current.contains_key(*key))
            .map(ToString::to_string)
            .collect();
        // The same finding with another severity or exemption (a configuration edit) is
        // neither new nor fixed, but hiding it would make the edit look ignored.
        let changed: Vec<String> = current
            .iter()
            .filter_map(|(key, now)| {
                let before = self.previous.get(key)?;
                (before != now).then(|| format!("{key} ({})", before.describe_change(now)))
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

/// What makes a finding "the same" across runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FindingKey {
    file: String,
    resource: String,
    rule: String,
    container: Option<String>,
    message: String,
}

impl FindingKey {
    fn of(finding: &Finding) -> FindingKey {
        let r = &finding.resource;
        FindingKey {
            file: r.file.clone(),
            resource: format!("{} {}/{}", r.kind, r.namespace, r.name),
            rule: finding.rule.to_string(),
            container: finding.container.clone(),
            message: finding.message.clone(),
        }
    }
}

/// What can change about a finding that stays: how severe it is and whether it is waived.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FindingState {
    severity: Severity,
    exempted: bool,
}

impl FindingState {
    fn of(finding: &Finding) -> FindingState {
        FindingState {
            severity: finding.severity,
            exempted: finding.exemption.is_some(),
        }
    }

    fn describe_change(&self, now: &FindingState) -> String {
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
        parts.join(", ")
    }
}

impl std::fmt::Display for FindingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.file, self.resource, self.rule)?;
        if let Some(container) = &self.container {
            write!(f, " container `{container}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

// ---------------------------------------------------------------- test --watch

pub fn run_test(args: TestArgs) -> std::io::Result<Outcome> {
    let printer = Printer::stdout(args.color);
    let plan = match super::test::plan(&args) {
        Ok(plan) => plan,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(Outcome::Errors);
        }
    };
    if plan.builtin_tests {
        eprintln!("error: --watch needs the directories holding your rules and tests");
        return Ok(Outcome::Errors);
    }
    let roots: Vec<(PathBuf, RecursiveMode)> = plan
        .rule_source
        .rules
        .iter()
        .filter_map(|dir| watch_root(dir, true))
        .collect();
    let Some(mut watch) = watch(roots) else {
        return Ok(Outcome::Errors);
    };
    let run = |title: &str| -> std::io::Result<()> {
        let (text, _) = super::test::run_once(&args, &printer);
        printer.text(&banner(&printer, title))?;
        printer.text(&text)?;
        printer.text(&printer.paint(
            Style::new().dimmed(),
            "watching rules and tests for changes (Ctrl-C to stop)\n",
        ))
    };
    run(&format!("{} tested", clock()))?;
    while let Next::Run(mut paths) = watch.next() {
        // Tests read rules, test files and the manifests they name: any file but editor
        // droppings counts.
        paths.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.ends_with('~'))
        });
        paths.sort();
        paths.dedup();
        if paths.is_empty() {
            continue;
        }
        if super::stop_handle().is_stopped() {
            break;
        }
        run(&format!("{} {}", clock(), describe_changes(&paths)))?;
    }
    println!("stopped watching");
    Ok(Outcome::Clean)
}
