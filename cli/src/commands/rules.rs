//! `portcullis rules`: the rule table.

use crate::Outcome;
use crate::args::{ListFormat as Format, RulesArgs};
use crate::printer::Printer;
use crate::setup;

pub fn run(args: RulesArgs) -> std::io::Result<Outcome> {
    let printer = Printer::new(crate::args::ColorChoice::Auto);
    let Some((rules, errors)) = setup::load_rules_or_report(&args.rule_source, &printer) else {
        return Ok(Outcome::Errors);
    };
    match args.format {
        Format::Json => {
            let list: Vec<serde_json::Value> = rules
                .rules()
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.meta.id,
                        "title": r.meta.title,
                        "severity": r.meta.severity,
                        "enabled_by_default": !r.meta.disabled_by_default,
                        "settings": r.meta.settings.iter().map(|(name, s)| serde_json::json!({
                            "name": name, "type": s.kind.as_str(), "default": s.default, "description": s.description,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            printer.json(&serde_json::to_string_pretty(&list).expect("plain data serializes"))?;
        }
        Format::Text => {
            let width = rules
                .rules()
                .iter()
                .map(|r| r.meta.id.len())
                .max()
                .unwrap_or(0);
            let mut out = format!(
                "{:width$}  {:8}  {:7}  TITLE\n",
                "ID", "SEVERITY", "DEFAULT"
            );
            for rule in rules.rules() {
                let default = if rule.meta.disabled_by_default {
                    "off"
                } else {
                    "on"
                };
                out.push_str(&format!(
                    "{:width$}  {:8}  {:7}  {}\n",
                    rule.meta.id, rule.meta.severity, default, rule.meta.title
                ));
            }
            out.push_str(
                "\nRun `portcullis explain ID` for a rule's documentation and settings.\n",
            );
            printer.text(&out)?;
        }
    }
    Ok(if errors.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Errors
    })
}
