//! `portcullis check`: build the policy, check every input, print the report.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;

use portcullis_engine::facts::{FactsFile, FactsIndex};
use portcullis_engine::{Date, Diagnostic, EnabledRule, Policy, Report, Severity};
use rayon::prelude::*;

use crate::Outcome;
use crate::args::{CheckArgs, Format, InputArgs};
use crate::diagnostics::{Renderer, Sources};
use crate::inputs::{self, Input};
use crate::printer::{self, Printer};
use crate::setup;

/// Runs `check` (or `check --watch`).
pub fn run(args: CheckArgs) -> std::io::Result<Outcome> {
    let printer = Printer::new(args.color);
    if let Some(threads) = args.threads {
        let Some(threads) = worker_threads(threads) else {
            return usage_error(&printer, args.format, "-j must be at least 1".into());
        };
        // Fails only if a pool exists already, which cannot happen before this point.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    let today = match args.today.as_deref().map(Date::parse).transpose() {
        Ok(date) => date.unwrap_or_else(Date::today),
        Err(e) => return usage_error(&printer, args.format, format!("--today: {e}")),
    };
    if let Some(message) = setup::missing_rule_path(&args.rule_source) {
        return usage_error(&printer, args.format, message);
    }
    if args.watch {
        if args.pull_facts {
            return usage_error(
                &printer,
                args.format,
                "--pull-facts does not combine with --watch: collect a facts file with `portcullis facts collect` and use --image-facts".into(),
            );
        }
        return super::check_watch::run(args, today);
    }

    let config = setup::read_config(setup::config_path(args.config.as_deref()));
    let (rules, rule_errors) = setup::load_rules(&args.rule_source);
    // A rule that does not load (a syntax error, an unknown function or property) stops the
    // run before any manifest is read, like a broken configuration: a policy missing a rule
    // must not pass manifests as if it were whole.
    if !rule_errors.is_empty() {
        print_rule_errors(&printer, args.format, &rule_errors);
        if args.format == Format::Text {
            let count = rule_errors.len();
            printer.error(&format!(
                "{count} rule{} did not load; nothing was checked",
                if count == 1 { "" } else { "s" }
            ));
            return Ok(Outcome::Errors);
        }
        let entries = rule_errors.iter().map(setup::rule_error_entry).collect();
        return fatal(&printer, args.format, entries, &Sources::of_rules(&rules));
    }
    let mut sources = Sources::of_rules(&rules);
    if let Some((name, text)) = &config.text {
        sources.add(name, text.clone());
    }
    let mut builder = setup::policy_builder(&rules, &config)
        .selection(setup::selection(&args.select, &args.ignore))
        .today(today)
        // Only JUnit lists resources without findings (as passing test cases).
        .record_resources(args.format == Format::Junit);
    if let Some(namespace) = &args.namespace {
        builder = builder.default_namespace(namespace);
    }
    // --pull-facts reads --image-facts itself, as facts already known.
    if let Some(path) = &args.image_facts
        && !args.pull_facts
    {
        builder = builder.image_facts_file(path);
    }
    // Even a broken configuration is resolved, so that one run reports every problem in it.
    let mut policy = match builder.build() {
        Ok(policy) => policy,
        Err(problems) => {
            print_rule_errors(&printer, args.format, &rule_errors);
            return fatal(&printer, args.format, problems, &sources);
        }
    };
    setup::warn_expired(&policy);

    let Some(paths) = input_paths(&args) else {
        return usage_error(
            &printer,
            args.format,
            "no input: give files or directories to check, or `-` to read stdin".into(),
        );
    };
    let (inputs, mut errors) = inputs::expand(&paths);
    let mut report = if args.pull_facts {
        match check_with_pulled_facts(&mut policy, &inputs, &args) {
            Ok(report) => report,
            Err(error) => return fatal(&printer, args.format, vec![error], &sources),
        }
    } else {
        check_inputs(&policy, &inputs, &args.input, &args.registry.platform)
    };
    report.errors.append(&mut errors);
    // A rule that does not load is reported; the other rules have run.
    report
        .errors
        .extend(rule_errors.iter().map(setup::rule_error_entry));
    report.sort();

    match args.format {
        Format::Json => printer.write_json(|out| report.write_json(out))?,
        Format::Sarif => {
            printer.write_json(|out| report.write_sarif(&policy.enabled_rules(), out))?
        }
        Format::Junit => {
            printer.write_json(|out| report.write_junit(&policy.enabled_rules(), out))?
        }
        Format::Text => {
            let renderer = Renderer::new(printer.color());
            let render = |e: &Diagnostic| match rule_errors
                .iter()
                .find(|r| r.origin == e.file && r.line == e.line)
            {
                Some(rule_error) => renderer.rule_load_error(rule_error),
                None => renderer.input_error(e, &sources),
            };
            printer::print_text_report(&printer, &report, inputs.len(), &render)?
        }
    }
    Ok(outcome(&report, args.fail_on.into()))
}

/// The paths to check; stdin when none are given and stdin is not a terminal.
fn input_paths(args: &CheckArgs) -> Option<Vec<PathBuf>> {
    if !args.paths.is_empty() {
        return Some(args.paths.clone());
    }
    if std::io::stdin().is_terminal() {
        return None;
    }
    Some(vec![PathBuf::from("-")])
}

/// Rule load errors go to stderr with code frames in text mode; in JSON they are entries
/// of the report.
fn print_rule_errors(
    printer: &Printer,
    format: Format,
    errors: &[portcullis_engine::RuleLoadError],
) {
    if format == Format::Text {
        let renderer = Renderer::new(printer.stderr_color());
        for error in errors {
            printer.err(&renderer.rule_load_error(error));
        }
    }
}

/// `-j N` within what the machine can use: at most four threads per core (each thread
/// holds its own caches and stack); `None` for 0.
fn worker_threads(requested: usize) -> Option<usize> {
    if requested == 0 {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let most = cores * 4;
    if requested > most {
        log::warn!("-j {requested}: this machine has {cores} cores; using {most} threads");
        return Some(most);
    }
    Some(requested)
}

/// Checks inputs in parallel; reports come back in input order. Each file's text is dropped
/// as soon as it is checked, so memory holds findings, not inputs.
fn check_inputs(policy: &Policy, inputs: &[Input], options: &InputArgs, platform: &str) -> Report {
    let reports: Vec<Report> = inputs
        .par_iter()
        .map(|input| match input.read_with(options, platform) {
            Ok(source) => policy.check(&source),
            Err(error) => Report {
                errors: vec![error],
                ..Report::default()
            },
        })
        .collect();
    Report::concat(reports)
}

/// `--pull-facts`: reads the inputs once, collects the facts of their images (on top of
/// `--image-facts`, if given), then checks them. Images whose facts cannot be collected are
/// error entries; everything else is still checked.
fn check_with_pulled_facts(
    policy: &mut Policy,
    inputs: &[Input],
    args: &CheckArgs,
) -> Result<Report, Diagnostic> {
    let known = match &args.image_facts {
        Some(path) => FactsFile::read(path)?,
        None => FactsFile::default(),
    };
    let mut loaded = Vec::new();
    let mut read_errors = Vec::new();
    for input in inputs {
        match input.read_with(&args.input, &args.registry.platform) {
            Ok(source) => loaded.push(source.load()),
            Err(error) => read_errors.push(error),
        }
    }
    let options = setup::registry_options(&args.registry)
        .map_err(|message| Diagnostic::new("<command line>", None, None, message))?;
    let index = FactsIndex::new(known.clone());
    let references: BTreeSet<String> = loaded
        .iter()
        .flat_map(|workloads| workloads.iter())
        .flat_map(|workload| workload.images())
        .filter(|image| index.lookup(image).is_none())
        .map(|image| image.original.clone())
        .collect();
    let references: Vec<String> = references.into_iter().collect();
    let mut facts = known;
    let mut pull_errors = Vec::new();
    for item in portcullis_facts::registry::collect(&references, &options) {
        match item.result {
            Ok((digest, image_facts)) => facts.insert(digest, image_facts),
            Err(message) => pull_errors.push(Diagnostic::new(
                &item.label,
                None,
                None,
                format!("cannot collect image facts: {message}"),
            )),
        }
    }
    policy.set_image_facts(facts);
    let reports: Vec<Report> = loaded
        .par_iter()
        .map(|workloads| policy.check_workloads(workloads))
        .collect();
    let mut report = Report::concat(reports);
    report.errors.append(&mut read_errors);
    report.errors.append(&mut pull_errors);
    Ok(report)
}

/// The exit status of a report: errors (2) before findings at or above `fail_on` (1).
fn outcome(report: &Report, fail_on: Severity) -> Outcome {
    if !report.errors.is_empty() {
        Outcome::Errors
    } else if report.max_severity().is_some_and(|s| s >= fail_on) {
        Outcome::Findings
    } else {
        Outcome::Clean
    }
}

fn usage_error(printer: &Printer, format: Format, message: String) -> std::io::Result<Outcome> {
    fatal(
        printer,
        format,
        vec![Diagnostic::new("<command line>", None, None, message)],
        &Sources::default(),
    )
}

/// Ends a run that could not check anything. Machine formats still get a valid document with
/// the errors in it (and no rules); people get the errors on stderr, with code frames.
fn fatal(
    printer: &Printer,
    format: Format,
    errors: Vec<Diagnostic>,
    sources: &Sources,
) -> std::io::Result<Outcome> {
    let report = Report {
        errors,
        ..Report::default()
    };
    let no_rules: &[EnabledRule] = &[];
    match format {
        Format::Json => printer.write_json(|out| report.write_json(out))?,
        Format::Sarif => printer.write_json(|out| report.write_sarif(no_rules, out))?,
        Format::Junit => printer.write_json(|out| report.write_junit(no_rules, out))?,
        Format::Text => {
            let renderer = Renderer::new(printer.stderr_color());
            for error in &report.errors {
                printer.err(&renderer.input_error(error, sources));
            }
        }
    }
    Ok(Outcome::Errors)
}
