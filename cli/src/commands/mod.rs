//! One module per subcommand, and what they share: loading rules.

pub mod check;
pub mod explain;
pub mod facts;
pub mod new;
pub mod rules;
pub mod test;
pub mod wasm;
pub mod watch;

use portcullis_engine::{Diagnostic, RuleLoadError, RuleSet};

use crate::args::RuleSourceArgs;

/// Stops every evaluation of this process when Ctrl-C ends a watch session (a rule stuck
/// in a slow loop would otherwise hold the process until its deadline, workload after
/// workload).
pub fn stop_handle() -> &'static portcullis_engine::sandbox::StopHandle {
    static STOP: std::sync::OnceLock<portcullis_engine::sandbox::StopHandle> =
        std::sync::OnceLock::new();
    STOP.get_or_init(Default::default)
}

/// A `--rules` path that does not exist: a typo, which would otherwise run the check
/// without the rules the user meant.
pub fn missing_rule_path(source: &RuleSourceArgs) -> Option<String> {
    source
        .rules
        .iter()
        .find(|path| !path.exists())
        .map(|path| format!("--rules {}: no such file or directory", path.display()))
}

/// The default pack (unless turned off) plus the user's rules. Rules that do not load are
/// returned as errors; the others are in the set.
pub fn load_rules(source: &RuleSourceArgs) -> (RuleSet, Vec<RuleLoadError>) {
    let limits = portcullis_engine::sandbox::Limits {
        max_rule_time: Some(std::time::Duration::from_millis(source.rule_timeout)),
        ..Default::default()
    };
    let mut rules = RuleSet::with_limits_and_stop(&limits, stop_handle().clone());
    if !source.no_default_rules {
        rules
            .add_builtin()
            .expect("the default pack is tested and compiles");
    }
    let mut errors = Vec::new();
    for path in &source.rules {
        let (added, mut failed) = rules.add_path(path);
        log::info!(
            "loaded {} rule(s) from {}: {}",
            added.len(),
            path.display(),
            added.join(", ")
        );
        errors.append(&mut failed);
    }
    if rules.rules().is_empty() && errors.is_empty() {
        log::warn!("no rules loaded: --no-default-rules and no `.rhai` files in the --rules paths");
    }
    (rules, errors)
}

/// For listing commands: the rules, with load problems printed (code frames) to stderr;
/// `None` when a `--rules` path does not exist.
pub fn load_rules_or_report(source: &RuleSourceArgs) -> Option<(RuleSet, Vec<RuleLoadError>)> {
    if let Some(message) = missing_rule_path(source) {
        eprintln!("error: {message}");
        return None;
    }
    let (rules, errors) = load_rules(source);
    let renderer = crate::diagnostics::Renderer::new(false);
    for error in &errors {
        eprint!("{}", renderer.rule_load_error(error));
    }
    Some((rules, errors))
}

/// A rule load error as a report entry, for machine-readable output.
pub fn rule_error_entry(error: &RuleLoadError) -> Diagnostic {
    let mut message = error.message.clone();
    if let Some(help) = &error.help {
        message.push_str(&format!(" (help: {help})"));
    }
    Diagnostic::new(&error.origin, None, error.line, message)
}
