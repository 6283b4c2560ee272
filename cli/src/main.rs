//! `portcullis`: check Kubernetes manifests against image-security rules.
//!
//! `main` only parses arguments, dispatches to a subcommand and maps the outcome to an exit
//! code: 0 clean, 1 findings at or above `--fail-on`, 2 usage, config, input or rule errors.
//! All policy logic lives in `portcullis-engine`.

mod args;
mod commands;
mod diagnostics;
mod inputs;
mod printer;
mod setup;
mod watcher;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

// glibc's allocator returns freed memory to the kernel and faults it back in for every
// document (the YAML parser's buffers); mimalloc keeps it, which was ~10% of a run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How a subcommand ended.
pub enum Outcome {
    Clean,
    Findings,
    Errors,
}

/// A panic the engine catches (a bug in a built-in, reported as that rule's error) is
/// printed once in full; over thousands of workloads the default hook printed hundreds of
/// megabytes of the same text.
fn quiet_repeated_panics() {
    static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            default(info);
            eprintln!("(this is a bug in Portcullis; later panics are not printed)");
        }
    }));
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    printer::init_logging(cli.verbose);
    quiet_repeated_panics();
    let result = match cli.command {
        Command::Check(args) => commands::check::run(args),
        Command::Rules(args) => commands::rules::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Test(args) => commands::test::run(args),
        Command::New {
            what: args::NewCommand::Rule(args),
        } => commands::new::run_rule(args),
        Command::Facts {
            what: args::FactsCommand::Collect(args),
        } => commands::facts::collect(args),
        Command::Wasm(command) => commands::wasm::run(command),
        Command::Serve(args) => commands::serve::run(args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Ok(Outcome::Errors) => ExitCode::from(2),
        // The reader went away before the printer was reached: not an error. (The printer
        // itself swallows a closed pipe, so a run's verdict survives `| head`.)
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            printer::Printer::new(args::ColorChoice::Auto).error(&e.to_string());
            ExitCode::from(2)
        }
    }
}
