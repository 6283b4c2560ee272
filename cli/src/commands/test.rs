//! `portcullis test [PATH]...`: run rule test files and show expected versus actual
//! findings for every case that fails; with `--watch`, again on every save.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anstyle::{AnsiColor, Style};
use portcullis_engine::testing::{self, FileOutcome, TEST_FILE_SUFFIX, TestFileError};

use crate::Outcome;
use crate::args::{RuleSourceArgs, TestArgs};
use crate::diagnostics::Renderer;
use crate::printer::{Printer, banner, clock};
use crate::setup;
use crate::watcher::{self, Watcher};

/// Runs `test` (or `test --watch`).
pub fn run(args: TestArgs) -> std::io::Result<Outcome> {
    let printer = Printer::new(args.color);
    if args.watch {
        return watch(args, printer);
    }
    let (text, outcome) = run_once(&args, &printer);
    printer.text(&text)?;
    Ok(outcome)
}

/// `test --watch`: the tests again whenever a rule, a test file or a manifest they name
/// changes, until Ctrl-C.
fn watch(args: TestArgs, printer: Printer) -> std::io::Result<Outcome> {
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(message) => {
            printer.error(&message);
            return Ok(Outcome::Errors);
        }
    };
    if plan.builtin_tests {
        printer.error("--watch needs the directories holding your rules and tests");
        return Ok(Outcome::Errors);
    }
    let roots = plan
        .rule_source
        .rules
        .iter()
        .filter_map(|dir| watcher::root_for(dir, true))
        .collect();
    let mut watch = match Watcher::start(roots, setup::stop_handle()) {
        Ok(watch) => watch,
        Err(message) => {
            printer.error(&message);
            return Ok(Outcome::Errors);
        }
    };
    let run = |title: &str| -> std::io::Result<()> {
        let (text, _) = run_once(&args, &printer);
        printer.text(&banner(&printer, title))?;
        printer.text(&text)?;
        printer.text(&printer.paint(
            Style::new().dimmed(),
            "watching rules and tests for changes (Ctrl-C to stop)\n",
        ))
    };
    run(&format!("{} tested", clock()))?;
    while let Some(mut paths) = watch.next() {
        // Tests read rules, test files and the manifests they name: any file but editor
        // droppings counts.
        paths.retain(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && !n.ends_with('~'))
        });
        if paths.is_empty() {
            continue;
        }
        if setup::stop_handle().is_stopped() {
            break;
        }
        run(&format!(
            "{} {}",
            clock(),
            watcher::describe_changes(&paths)
        ))?;
    }
    printer.text("stopped watching\n")?;
    Ok(Outcome::Clean)
}

/// What `portcullis test` loads: the rule directories and the test files in them.
struct Plan {
    rule_source: RuleSourceArgs,
    /// Test files on disk; empty when testing the embedded default pack.
    test_files: Vec<PathBuf>,
    builtin_tests: bool,
}

/// Works out what to load from the paths: directories hold rules and tests, files are
/// test files whose directory holds their rule.
fn plan(args: &TestArgs) -> Result<Plan, String> {
    let mut rule_dirs: Vec<PathBuf> = Vec::new();
    let mut test_files = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            test_files.extend(
                testing::find_test_files(path)
                    .map_err(|e| format!("{}: cannot read directory: {e}", path.display()))?,
            );
            rule_dirs.push(path.clone());
        } else if path.is_file() && testing::rule_id_of(path).is_some() {
            test_files.push(path.clone());
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            if !rule_dirs.contains(&dir) {
                rule_dirs.push(dir);
            }
        } else if path.is_file() {
            return Err(format!(
                "{}: not a test file (test files are named `<rule-id>{TEST_FILE_SUFFIX}`)",
                path.display()
            ));
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    test_files.dedup();
    Ok(Plan {
        rule_source: RuleSourceArgs {
            rules: rule_dirs,
            no_default_rules: args.no_default_rules,
            rule_timeout: args.rule_timeout,
        },
        test_files,
        builtin_tests: args.paths.is_empty(),
    })
}

/// Runs the tests once; returns the text to print and the outcome.
fn run_once(args: &TestArgs, printer: &Printer) -> (String, Outcome) {
    let started = Instant::now();
    let plan = match plan(args) {
        Ok(plan) => plan,
        Err(message) => return (format!("error: {message}\n"), Outcome::Errors),
    };
    let (rules, rule_errors) = setup::load_rules_for_authoring(&plan.rule_source);
    let mut out = String::new();
    let renderer = Renderer::new(printer.color());
    for error in &rule_errors {
        out.push_str(&renderer.rule_load_error(error));
    }
    let mut results = Vec::new();
    if plan.builtin_tests {
        for (name, text) in testing::builtin_test_files() {
            let path = Path::new("builtin:").join(name);
            results.push(testing::run_test_source(&rules, &path, text));
        }
    }
    for file in &plan.test_files {
        let failed_to_load = rule_errors.iter().any(|e| {
            Path::new(&e.origin).file_stem().and_then(|s| s.to_str()) == testing::rule_id_of(file)
        });
        if failed_to_load {
            // Its rule did not compile; that error is shown above.
            results.push(Err(TestFileError {
                file: file.display().to_string(),
                line: None,
                column: None,
                message: "skipped: its rule did not load".into(),
            }));
            continue;
        }
        results.push(testing::run_test_file(&rules, file));
    }
    let sources = crate::diagnostics::Sources::of_rules(&rules);
    let summary = render_results(printer, &renderer, &sources, &results, &mut out);
    let errors = summary.errors + rule_errors.len();
    let status = if errors > 0 || summary.failed > 0 {
        printer.paint(
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            "FAILED",
        )
    } else {
        printer.paint(
            Style::new().fg_color(Some(AnsiColor::Green.into())).bold(),
            "ok",
        )
    };
    out.push_str(&format!(
        "\ntest result: {status}. {} passed, {} failed, {} error(s) in {} file(s) ({} ms)\n",
        summary.passed,
        summary.failed,
        errors,
        summary.files,
        started.elapsed().as_millis()
    ));
    if results.is_empty() && rule_errors.is_empty() {
        out.push_str("note: no test files found (they are named `<rule-id>.tests.yaml`)\n");
    }
    let outcome = if errors > 0 {
        Outcome::Errors
    } else if summary.failed > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    };
    (out, outcome)
}

#[derive(Debug, Default)]
struct Summary {
    passed: usize,
    failed: usize,
    errors: usize,
    files: usize,
}

fn render_results(
    printer: &Printer,
    renderer: &Renderer,
    sources: &crate::diagnostics::Sources,
    results: &[Result<FileOutcome, TestFileError>],
    out: &mut String,
) -> Summary {
    let red = Style::new().fg_color(Some(AnsiColor::Red.into()));
    let green = Style::new().fg_color(Some(AnsiColor::Green.into()));
    let dim = Style::new().dimmed();
    let mut summary = Summary::default();
    for result in results {
        summary.files += 1;
        let file = match result {
            Ok(file) => file,
            Err(error) => {
                summary.errors += 1;
                out.push_str(&render_file_error(printer, renderer, error));
                continue;
            }
        };
        out.push_str(&printer.paint(Style::new().bold(), &file.path.display().to_string()));
        out.push('\n');
        for case in &file.cases {
            if case.passed() {
                summary.passed += 1;
                out.push_str(&format!(
                    "  {} {}\n",
                    printer.paint(green, "ok  "),
                    case.name
                ));
                continue;
            }
            summary.failed += 1;
            out.push_str(&format!(
                "  {} {}\n",
                printer.paint(red.bold(), "FAIL"),
                case.name
            ));
            if !case.missing.is_empty() || !case.unexpected.is_empty() {
                out.push_str(&printer.paint(
                    dim,
                    "       findings: `-` expected but missing, `+` found but not expected\n",
                ));
            }
            for line in &case.matched {
                out.push_str(&format!("         {line}\n"));
            }
            for line in &case.missing {
                out.push_str(&printer.paint(red, &format!("       - {line}\n")));
            }
            for line in &case.unexpected {
                out.push_str(&printer.paint(green, &format!("       + {line}\n")));
            }
            for line in &case.error_mismatches {
                out.push_str(&printer.paint(red, &format!("       ! {line}\n")));
            }
            // Where in the rule it failed, as `check` shows it.
            for failure in case.rule_failures.iter().take(1) {
                for line in renderer.input_error(failure, sources).lines() {
                    out.push_str(&format!("       {line}\n"));
                }
            }
        }
    }
    summary
}

/// A test file error, over the file's text when it has a position.
fn render_file_error(printer: &Printer, renderer: &Renderer, error: &TestFileError) -> String {
    if let (Some(line), Some(column)) = (error.line, error.column)
        && let Ok(text) = portcullis_engine::files::read_text(
            std::path::Path::new(&error.file),
            portcullis_engine::files::MAX_RULE_TEST_BYTES,
            portcullis_engine::files::Origin::Found,
        )
    {
        return renderer.at(
            &error.file,
            &text.into(),
            (line, column),
            format!("{}:{line}: {}", error.file, error.message),
            Some(
                "a test file holds `cases:`, each with `name`, `manifest` or `file`, \
                 optional `settings`, and `expect`"
                    .into(),
            ),
        );
    }
    let red = Style::new().fg_color(Some(AnsiColor::Red.into())).bold();
    format!("{}: {error}\n", printer.paint(red, "error"))
}
