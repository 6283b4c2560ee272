//! `portcullis explain ID`: a rule's documentation and settings.

use crate::Outcome;
use crate::args::ExplainArgs;
use crate::output::Printer;

pub fn run(args: ExplainArgs) -> std::io::Result<Outcome> {
    if let Some(message) = super::missing_rule_path(&args.rule_source) {
        eprintln!("error: {message}");
        return Ok(Outcome::Errors);
    }
    let (rules, errors) = super::load_rules(&args.rule_source);
    let renderer = crate::diagnostics::Renderer::new(false);
    for error in &errors {
        eprint!("{}", renderer.rule_load_error(error));
    }
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
