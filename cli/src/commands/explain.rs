//! `portcullis explain ID`: a rule's documentation and settings.

use crate::Outcome;
use crate::args::ExplainArgs;
use crate::printer::Printer;
use crate::setup;

pub fn run(args: ExplainArgs) -> std::io::Result<Outcome> {
    let printer = Printer::new(crate::args::ColorChoice::Auto);
    let Some((rules, errors)) = setup::load_rules_or_report(&args.rule_source, &printer) else {
        return Ok(Outcome::Errors);
    };
    let Some(rule) = rules.get(&args.rule) else {
        let known = rules.ids().join(", ");
        printer.error(&format!(
            "unknown rule `{}`\n  help: known rules: {known}",
            args.rule
        ));
        return Ok(Outcome::Errors);
    };
    printer.text(&rule.reference_markdown())?;
    Ok(if errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Errors
    })
}
