//! `portcullis check`: load configuration and rules, check every input, print the report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_engine::{
    Config, Date, EnabledRule, FactsFile, FactsIndex, InputError, Policy, Report, Selection,
    Severity,
};
use rayon::prelude::*;

use portcullis_engine::files;

use crate::Outcome;
use crate::args::{CheckArgs, Format};
use crate::diagnostics::{Renderer, Sources};
use crate::inputs::{self, Input};
use crate::output::{self, Printer};

/// Looked up in the working directory when `--config` is not given.
const DEFAULT_CONFIG: &str = "portcullis.yaml";

pub fn run(args: CheckArgs) -> std::io::Result<Outcome> {
    let printer = Printer::stdout(args.color);
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
    if let Some(message) = super::missing_rule_path(&args.rule_source) {
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
        return super::watch::run_check(args, today);
    }

    let loaded_config = load_config(args.config.as_deref());
    let (rules, rule_errors) = super::load_rules(&args.rule_source);
    let mut sources = Sources::of_rules(&rules);
    if let Some((name, text)) = &loaded_config.text {
        sources.add(name, text.clone());
    }
    let mut config_errors = loaded_config.errors;
    let selection = selection(&args);
    // Resolve even a broken configuration, so one run reports every problem in it.
    let policy = Policy::new(&rules, &loaded_config.config, &selection, today);
    if let Err(errors) = &policy {
        config_errors.extend(errors.iter().cloned());
    }
    let mut policy = match policy {
        Ok(policy) if config_errors.is_empty() => policy,
        _ => {
            config_errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            print_rule_errors(&printer, args.format, &rule_errors);
            return fatal(&printer, args.format, config_errors, &sources);
        }
    };
    warn_expired(&policy);
    if let Some(path) = &args.image_facts
        && !args.pull_facts
    {
        match read_image_facts(path) {
            Ok(facts) => policy.set_image_facts(facts),
            Err(error) => return fatal(&printer, args.format, vec![error], &sources),
        }
    }

    let Some(paths) = input_paths(&args) else {
        return usage_error(
            &printer,
            args.format,
            "no input: give files or directories to check, or `-` to read stdin".into(),
        );
    };
    // Only JUnit lists resources without findings (as passing test cases).
    policy.record_resources(args.format == Format::Junit);
    let (inputs, mut errors) = inputs::expand(&paths);
    let mut report = if args.pull_facts {
        match check_with_pulled_facts(&mut policy, &inputs, &args) {
            Ok(report) => report,
            Err(error) => return fatal(&printer, args.format, vec![error], &sources),
        }
    } else {
        check_inputs(&policy, &inputs)
    };
    report.errors.append(&mut errors);
    // A rule that does not load is reported; the other rules have run.
    report
        .errors
        .extend(rule_errors.iter().map(super::rule_error_entry));
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
            let render = |e: &InputError| match rule_errors
                .iter()
                .find(|r| r.origin == e.file && r.line == e.line)
            {
                Some(rule_error) => renderer.rule_load_error(rule_error),
                None => renderer.input_error(e, &sources),
            };
            output::print_text_report(&printer, &report, inputs.len(), &render)?
        }
    }
    Ok(outcome(&report, args.fail_on.into()))
}

/// Reads a facts file for `--image-facts`; a file that cannot be used stops the run, as a
/// broken configuration does.
pub fn read_image_facts(path: &Path) -> Result<Arc<FactsIndex>, InputError> {
    let file = facts_file(path)?;
    log::info!(
        "using image facts {}: {} image(s)",
        path.display(),
        file.images.len()
    );
    Ok(Arc::new(FactsIndex::new(file)))
}

/// A facts file, as `facts collect` reads it (a regular file within its cap); an error
/// entry for it when it cannot be used.
fn facts_file(path: &Path) -> Result<FactsFile, InputError> {
    let name = path.display().to_string();
    super::facts::read_facts_file(path).map_err(|message| {
        let message = message
            .strip_prefix(&format!("{name}: "))
            .unwrap_or(&message);
        let message = match message.strip_prefix("cannot read: ") {
            Some(reason) => format!("cannot read image facts: {reason}"),
            None => message.to_string(),
        };
        InputError::new(&name, None, None, message)
    })
}

pub fn selection(args: &CheckArgs) -> Selection {
    Selection {
        select: args.select.clone(),
        ignore: args.ignore.clone(),
    }
}

pub fn warn_expired(policy: &Policy) {
    for expired in policy.expired_exemptions() {
        log::warn!(
            "exemption {} (rule `{}`) expired on {} and no longer applies",
            expired.index + 1,
            expired.rule,
            expired.expires.map(|d| d.to_string()).unwrap_or_default()
        );
    }
}

/// The paths to check; stdin when none are given and stdin is not a terminal.
pub fn input_paths(args: &CheckArgs) -> Option<Vec<PathBuf>> {
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
            eprint!("{}", renderer.rule_load_error(error));
        }
    }
}

/// Checks inputs in parallel; reports come back in input order. Each file's text is dropped
/// as soon as it is checked, so memory holds findings, not inputs.
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

pub fn check_inputs(policy: &Policy, inputs: &[Input]) -> Report {
    let reports: Vec<Report> = inputs
        .par_iter()
        .map(|input| match input.read() {
            Ok(text) => policy.check_source(&input.display_name(), &text),
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
) -> Result<Report, InputError> {
    let mut known = FactsFile::default();
    if let Some(path) = &args.image_facts {
        known = facts_file(path)?;
    }
    let mut texts = Vec::new();
    let mut read_errors = Vec::new();
    for input in inputs {
        match input.read() {
            Ok(text) => texts.push((input.display_name(), text)),
            Err(error) => read_errors.push(error),
        }
    }
    let (facts, mut pull_errors) =
        super::facts::pull_for_manifests(&texts, &known, &args.registry)?;
    policy.set_image_facts(Arc::new(FactsIndex::new(facts)));
    let reports: Vec<Report> = texts
        .par_iter()
        .map(|(name, text)| policy.check_source(name, text))
        .collect();
    let mut report = Report::concat(reports);
    report.errors.append(&mut read_errors);
    report.errors.append(&mut pull_errors);
    Ok(report)
}

/// A configuration as loaded: what is valid of it, its problems, and its text (for code
/// frames).
pub struct LoadedConfig {
    pub config: Config,
    pub errors: Vec<InputError>,
    pub text: Option<(String, Arc<str>)>,
    /// The file it came from, when there is one.
    pub path: Option<PathBuf>,
}

pub fn load_config(path: Option<&Path>) -> LoadedConfig {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG).is_file() => PathBuf::from(DEFAULT_CONFIG),
        None => {
            return LoadedConfig {
                config: Config::default(),
                errors: Vec::new(),
                text: None,
                path: None,
            };
        }
    };
    let name = path.display().to_string();
    match files::read_text(&path, files::MAX_CONFIG_BYTES, files::Origin::Named) {
        Ok(text) => {
            log::info!("using configuration {name}");
            let (config, errors) = Config::parse_lenient(&name, &text);
            LoadedConfig {
                config,
                errors,
                text: Some((name, text.into())),
                path: Some(path),
            }
        }
        Err(e) => LoadedConfig {
            config: Config::default(),
            errors: vec![InputError::new(
                &name,
                None,
                None,
                format!("cannot read configuration: {e}"),
            )],
            text: None,
            path: Some(path),
        },
    }
}

pub fn outcome(report: &Report, fail_on: Severity) -> Outcome {
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
        vec![InputError::new("<command line>", None, None, message)],
        &Sources::default(),
    )
}

/// Ends a run that could not check anything. Machine formats still get a valid document with
/// the errors in it (and no rules); people get the errors on stderr, with code frames.
fn fatal(
    printer: &Printer,
    format: Format,
    errors: Vec<InputError>,
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
                eprint!("{}", renderer.input_error(error, sources));
            }
        }
    }
    Ok(Outcome::Errors)
}
