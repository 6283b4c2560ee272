//! One module per subcommand, and what they share: loading rules.

pub mod check;
pub mod explain;
pub mod facts;
pub mod new;
pub mod rules;
pub mod test;
pub mod watch;

use portcullis_engine::{InputError, RuleLoadError, RuleSet};

use crate::args::RuleSourceArgs;

/// The default pack (unless turned off) plus the user's rules. Rules that do not load are
/// returned as errors; the others are in the set.
pub fn load_rules(source: &RuleSourceArgs) -> (RuleSet, Vec<RuleLoadError>) {
    let mut rules = if source.no_default_rules {
        RuleSet::empty()
    } else {
        RuleSet::builtin()
    };
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
    (rules, errors)
}

/// A rule load error as a report entry, for machine-readable output.
pub fn rule_error_entry(error: &RuleLoadError) -> InputError {
    let mut message = error.message.clone();
    if let Some(help) = &error.help {
        message.push_str(&format!(" (help: {help})"));
    }
    InputError::new(&error.origin, None, error.line, message)
}
