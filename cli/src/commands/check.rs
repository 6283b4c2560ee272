//! `portcullis check`: load configuration and rules, check every input, print the report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use portcullis_engine::{
    Config, Date, EnabledRule, InputError, Policy, Report, RuleSet, Selection, Severity,
};
use rayon::prelude::*;

use crate::Outcome;
use crate::args::{CheckArgs, Format};
use crate::inputs::{self, Input};
use crate::output::{self, Printer};

/// Looked up in the working directory when `--config` is not given.
const DEFAULT_CONFIG: &str = "portcullis.yaml";

pub fn run(args: CheckArgs) -> std::io::Result<Outcome> {
    let printer = Printer::stdout(args.color);
    if let Some(threads) = args.threads {
        // Fails only if a pool exists already, which cannot happen before this point.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global();
    }

    let today = match args.today.as_deref().map(Date::parse).transpose() {
        Ok(date) => date.unwrap_or_else(Date::today),
        Err(e) => return usage_error(&printer, args.format, format!("--today: {e}")),
    };
    let (config, mut config_errors) = load_config(args.config.as_deref());
    let rules = RuleSet::builtin();
    let selection = Selection {
        select: args.select.clone(),
        ignore: args.ignore.clone(),
    };
    // Resolve even a broken configuration, so one run reports every problem in it.
    let policy = Policy::new(&rules, &config, &selection, today);
    if let Err(errors) = &policy {
        config_errors.extend(errors.iter().cloned());
    }
    let mut policy = match policy {
        Ok(policy) if config_errors.is_empty() => policy,
        _ => {
            config_errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return fatal(&printer, args.format, config_errors);
        }
    };
    for expired in policy.expired_exemptions() {
        log::warn!(
            "exemption {} (rule `{}`) expired on {} and no longer applies",
            expired.index + 1,
            expired.rule,
            expired.expires.map(|d| d.to_string()).unwrap_or_default()
        );
    }

    let mut paths = args.paths.clone();
    if paths.is_empty() {
        if std::io::stdin().is_terminal() {
            return usage_error(
                &printer,
                args.format,
                "no input: give files or directories to check, or `-` to read stdin".into(),
            );
        }
        paths.push(PathBuf::from("-"));
    }
    // Only JUnit lists resources without findings (as passing test cases).
    policy.record_resources(args.format == Format::Junit);
    let (inputs, mut errors) = inputs::expand(&paths);
    let mut report = check_inputs(&policy, &inputs);
    report.errors.append(&mut errors);
    report.sort();

    match args.format {
        Format::Json => printer.write_json(|out| report.write_json(out))?,
        Format::Sarif => {
            printer.write_json(|out| report.write_sarif(&policy.enabled_rules(), out))?
        }
        Format::Junit => {
            printer.write_json(|out| report.write_junit(&policy.enabled_rules(), out))?
        }
        Format::Text => output::print_text_report(&printer, &report, inputs.len())?,
    }
    Ok(outcome(&report, args.fail_on.into()))
}

/// Checks inputs in parallel; reports come back in input order. Each file's text is dropped
/// as soon as it is checked, so memory holds findings, not inputs.
fn check_inputs(policy: &Policy, inputs: &[Input]) -> Report {
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

/// The configuration (what is valid of it) and its problems.
fn load_config(path: Option<&Path>) -> (Config, Vec<InputError>) {
    let path = match path {
        Some(path) => path.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG).is_file() => PathBuf::from(DEFAULT_CONFIG),
        None => return (Config::default(), Vec::new()),
    };
    let name = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            log::info!("using configuration {name}");
            Config::parse_lenient(&name, &text)
        }
        Err(e) => {
            let error =
                InputError::new(&name, None, None, format!("cannot read configuration: {e}"));
            (Config::default(), vec![error])
        }
    }
}

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
        vec![InputError::new("<command line>", None, None, message)],
    )
}

/// Ends a run that could not check anything. Machine formats still get a valid document with
/// the errors in it (and no rules); people get the errors on stderr.
fn fatal(printer: &Printer, format: Format, errors: Vec<InputError>) -> std::io::Result<Outcome> {
    let report = Report {
        errors,
        ..Report::default()
    };
    let no_rules: &[EnabledRule] = &[];
    match format {
        Format::Json => printer.write_json(|out| report.write_json(out))?,
        Format::Sarif => printer.write_json(|out| report.write_sarif(no_rules, out))?,
        Format::Junit => printer.write_json(|out| report.write_junit(no_rules, out))?,
        Format::Text => printer.errors(&report.errors)?,
    }
    Ok(Outcome::Errors)
}
