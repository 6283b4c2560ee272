//! `portcullis explain ID`: a rule's documentation and settings.

use crate::Outcome;
use crate::args::ExplainArgs;
use crate::output::Printer;

pub fn run(args: ExplainArgs) -> std::io::Result<Outcome> {
    let Some((rules, errors)) = super::load_rules_or_report(&args.rule_source) else {
        return Ok(Outcome::Errors);
    };
    let printer = Printer::stdout(crate::args::ColorChoice::Auto);
    let Some(rule) = rules.get(&args.rule) else {
        let known = rules.ids().join(", ");
        eprintln!(
            "error: unknown rule `{}`\n  help: known rules: {known}",
            args.rule
        );
        return Ok(Outcome::Errors);
    };
    printer.text(&portcullis_engine::rules::render_markdown(rule))?;
    Ok(if errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Errors
    })
}
