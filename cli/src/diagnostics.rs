//! Code frames for problems in files people write by hand: rules and configuration.
//! miette draws them; this module maps engine errors (which carry file, line and column)
//! onto its spans.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use portcullis_engine::{Diagnostic, RuleLoadError, RuleSet};

use crate::printer::clean;

/// Texts of the files errors may point into, by the name errors use for them.
#[derive(Default)]
pub struct Sources {
    texts: HashMap<String, Arc<str>>,
}

impl Sources {
    /// The sources of every rule in `rules` (runtime errors point into them).
    pub fn of_rules(rules: &RuleSet) -> Sources {
        let mut sources = Sources::default();
        for rule in rules.rules() {
            sources.add(&rule.origin, rule.source.clone());
        }
        sources
    }

    pub fn add(&mut self, name: &str, text: Arc<str>) {
        self.texts.insert(name.to_string(), text);
    }

    fn get(&self, name: &str) -> Option<&Arc<str>> {
        self.texts.get(name)
    }
}

/// A named text whose frames count columns in characters, as our messages and editors do
/// (miette's own sources count bytes, so a frame under a line with `é` said column 12 where
/// the message said 11).
#[derive(Debug)]
struct CharColumnSource {
    name: String,
    text: Arc<str>,
}

impl CharColumnSource {
    fn new(name: &str, text: &Arc<str>) -> CharColumnSource {
        CharColumnSource {
            name: name.to_string(),
            text: text.clone(),
        }
    }
}

impl SourceCode for CharColumnSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let contents =
            self.text
                .as_ref()
                .read_span(span, context_lines_before, context_lines_after)?;
        let mut column = contents.column();
        if column > 0 {
            // The column is the byte distance from the start of the span's line.
            let line_start = span.offset().saturating_sub(column);
            column = self
                .text
                .get(line_start..span.offset())
                .map_or(column, |before| before.chars().count());
        }
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            contents.data(),
            *contents.span(),
            contents.line(),
            column,
            contents.line_count(),
        )))
    }
}

/// One problem with a code frame.
#[derive(Debug)]
struct Frame {
    message: String,
    source: CharColumnSource,
    span: (usize, usize),
    label: String,
    help: Option<String>,
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Frame {}

impl miette::Diagnostic for Frame {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = LabeledSpan::new(Some(self.label.clone()), self.span.0, self.span.1);
        Some(Box::new(std::iter::once(span)))
    }
}

/// Draws diagnostics, in colour or not.
pub struct Renderer {
    handler: GraphicalReportHandler,
}

impl Renderer {
    pub fn new(color: bool) -> Renderer {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        Renderer {
            handler: GraphicalReportHandler::new_themed(theme)
                .with_width(100)
                // Messages stay on one line, so they can be searched for and copied.
                .with_wrap_lines(false)
                .with_context_lines(2),
        }
    }

    fn draw(&self, frame: &Frame) -> String {
        let mut out = String::new();
        if self.handler.render_report(&mut out, frame).is_err() {
            // Rendering into a String cannot fail short of a bug in miette; keep the message.
            out = format!("error: {}\n", frame.message);
        }
        out
    }

    /// A problem at `line`:`column` of `file`, drawn over `text`.
    pub fn at(
        &self,
        file: &str,
        text: &Arc<str>,
        (line, column): (usize, usize),
        message: String,
        help: Option<String>,
    ) -> String {
        self.draw(&Frame {
            message,
            span: span_at(text, line, column),
            source: CharColumnSource::new(file, text),
            label: "here".into(),
            help,
        })
    }

    /// A rule that failed to load, with a frame when the position is known.
    pub fn rule_load_error(&self, error: &RuleLoadError) -> String {
        let frame = error.source.as_ref().and_then(|text| {
            let line = error.line?;
            Some(Frame {
                message: clean(&format!("{}: {}", error.origin, error.message)).into_owned(),
                span: span_at(text, line, error.column.unwrap_or(1)),
                source: CharColumnSource::new(&error.origin, text),
                label: "here".into(),
                help: error.help.clone(),
            })
        });
        match frame {
            Some(frame) => self.draw(&frame),
            None => {
                let mut out = format!("error: {}", error.origin);
                if let Some(line) = error.line {
                    out.push_str(&format!(":{line}"));
                }
                out.push_str(&format!(": {}\n", clean(&error.message)));
                if let Some(help) = &error.help {
                    out.push_str(&format!("  help: {help}\n"));
                }
                out
            }
        }
    }

    /// Any report error: rule failures point into the rule, configuration errors into
    /// the configuration; others are one line.
    pub fn input_error(&self, error: &Diagnostic, sources: &Sources) -> String {
        if let Some(site) = &error.rule_site
            && let Some(text) = sources.get(&site.origin)
        {
            let location = match error.line {
                Some(line) => format!("{}:{line}", error.file),
                None => error.file.clone(),
            };
            return self.draw(&Frame {
                message: clean(&format!("{location}: {}", error.message)).into_owned(),
                span: span_at(text, site.line, site.column),
                source: CharColumnSource::new(&site.origin, text),
                label: "the rule failed here".into(),
                help: runtime_help(&error.message),
            });
        }
        if let (Some(text), Some(line)) = (sources.get(&error.file), error.line) {
            let start = line_start(text, line);
            let content = text[start..].lines().next().unwrap_or("");
            let indent = content.len() - content.trim_start().len();
            return self.draw(&Frame {
                message: clean(&format!("{}:{line}: {}", error.file, error.message)).into_owned(),
                span: (start + indent, content.trim().len().max(1)),
                source: CharColumnSource::new(&error.file, text),
                label: "here".into(),
                help: None,
            });
        }
        format!("error: {}\n", clean(&error.to_string()))
    }
}

/// Advice for the runtime errors rule authors meet most.
fn runtime_help(message: &str) -> Option<String> {
    if message.contains("Function not found") && message.contains("(())") {
        Some("a value here is `()` (not set in the manifest): test it with `x != ()` first".into())
    } else if message.contains("operation limit") {
        Some("rules run with an operation budget; look for a loop that does not end".into())
    } else if message.contains("Property not found") || message.contains("Unknown property") {
        Some("docs/rule-api.md lists the properties of workloads, containers and images".into())
    } else {
        None
    }
}

/// Byte offset where 1-based `line` starts (the end of the text when it has fewer lines).
fn line_start(text: &str, line: usize) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 2)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// The span to underline at 1-based `line` and character `column`: the word there, or one
/// character.
fn span_at(text: &str, line: usize, column: usize) -> (usize, usize) {
    let start = line_start(text, line);
    let rest = &text[start..];
    let line_text = rest.lines().next().unwrap_or("");
    let offset: usize = line_text
        .chars()
        .take(column.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    let tail = &line_text[offset..];
    if let Some(quoted) = tail.strip_prefix('"')
        && let Some(end) = quoted.find('"')
    {
        return (start + offset, end + 2);
    }
    let word = tail
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_'))
        .map_or(tail.len(), |(i, _)| i);
    let length = if word == 0 {
        tail.chars().next().map_or(0, char::len_utf8)
    } else {
        word
    };
    (start + offset, length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_count_columns_in_characters() {
        let text: Arc<str> = "let é = 1;\nlet ünïcödé = bad;\n".into();
        let frame =
            Renderer::new(false).at("r.rhai", &text, (2, 15), "undefined `bad`".into(), None);
        assert!(frame.contains("[r.rhai:2:15]"), "{frame}");
    }

    #[test]
    fn spans_cover_the_word_at_the_column() {
        let text = "let a = 1;\nlet bad_name = ;\n";
        assert_eq!(span_at(text, 2, 5), (15, 8));
        assert_eq!(&text[15..23], "bad_name");
        // A quoted string is underlined whole.
        let quoted = "id: \"my-rule\",\n";
        assert_eq!(span_at(quoted, 1, 5), (4, 9));
        // A column on punctuation underlines one character.
        assert_eq!(span_at(text, 2, 16), (26, 1));
        // Positions past the end stay inside the text.
        let (start, len) = span_at(text, 9, 9);
        assert!(start + len <= text.len());
    }
}
