//! `portcullis explain ID`: a rule's documentation and settings.

use portcullis_engine::RuleSet;

use crate::Outcome;
use crate::args::ExplainArgs;
use crate::output::Printer;

pub fn run(args: ExplainArgs) -> std::io::Result<Outcome> {
    let rules = RuleSet::builtin();
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
    Ok(Outcome::Clean)
}
