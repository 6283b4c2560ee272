//! Everything the CLI prints goes through [`Printer`]: stdout and stderr, colour decisions,
//! terminal safety, the text report's layout, JSON documents; and the logger, which writes
//! to stderr the same way. Commands build text and hand it over; none writes on its own.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use portcullis_engine::{Diagnostic, Finding, Report, Severity};

use crate::args::ColorChoice;

/// Writes to stdout and stderr, in colour when asked or when on a terminal.
pub struct Printer {
    color: bool,
    stderr_color: bool,
}

impl Printer {
    /// A printer for `choice`; `Auto` colours a stream that is a terminal, unless `NO_COLOR`.
    pub fn new(choice: ColorChoice) -> Printer {
        let decide = |is_terminal: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        Printer {
            color: decide(std::io::stdout().is_terminal()),
            stderr_color: decide(std::io::stderr().is_terminal()),
        }
    }

    /// Whether text written to stdout may be coloured.
    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether text written to stderr may be coloured.
    pub fn stderr_color(&self) -> bool {
        self.stderr_color
    }

    /// `text` in `style`, for stdout.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// `text` in `style`, for stderr.
    pub fn paint_err(&self, style: Style, text: &str) -> String {
        if self.stderr_color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// Writes `text` to stderr as it is (made terminal-safe). Errors writing to stderr are
    /// ignored: there is nowhere left to report them.
    pub fn err(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(terminal_safe(text).as_bytes());
        let _ = err.flush();
    }

    /// `error: <message>` on stderr, the message cleaned of control characters.
    pub fn error(&self, message: &str) {
        let label = self.paint_err(error_style(), "error");
        self.err(&format!("{label}: {}\n", clean(message)));
    }

    /// Writes `text` to stdout.
    pub fn text(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        reader_gone_is_fine(
            out.write_all(terminal_safe(text).as_bytes())
                .and_then(|()| out.flush()),
        )
    }

    /// Writes a JSON text and a line break to stdout.
    pub fn json(&self, json: &str) -> std::io::Result<()> {
        self.text(&format!("{json}\n"))
    }

    /// Streams a large document (JSON, SARIF or JUnit XML) to stdout through a buffer, with a
    /// final newline.
    pub fn write_json(
        &self,
        write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        reader_gone_is_fine(
            write(&mut out)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush()),
        )
    }
}

/// A reader that went away (`portcullis check … | head`) is not an error, and must not
/// change the exit code: with `set -o pipefail` the run's verdict still counts.
fn reader_gone_is_fine(result: std::io::Result<()>) -> std::io::Result<()> {
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Whether `c` would act on a terminal rather than show: C0 and C1 controls, DEL, and the
/// bidirectional overrides that reorder what is shown ("Trojan Source").
fn is_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{1b}' => out.push_str("\\e"),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// Text from input (names, messages, ids, paths) as one line that cannot act on the
/// terminal: a manifest named `web\x1b[2J…` could otherwise clear the screen and print a
/// fake summary, with or without colour.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control(c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// The last line of defence for everything printed: control characters are escaped except
/// line breaks, tabs and the colour sequences (`ESC [ … m`) the printer writes itself.
/// Fields from input are [`clean`]ed before that, so input cannot add lines or colours.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let needs = text
        .chars()
        .any(|c| is_control(c) && !matches!(c, '\n' | '\t'));
    if !needs {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\u{1b}'
            && let Some(len) = sgr_length(&text[i..])
        {
            out.push_str(&text[i..i + len]);
            for _ in 1..len {
                chars.next();
            }
        } else if is_control(c) && !matches!(c, '\n' | '\t') {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// The length of a Select Graphic Rendition sequence (`ESC [ digits;… m`) at the start of
/// `text`, if there is one.
fn sgr_length(text: &str) -> Option<usize> {
    let rest = text.strip_prefix("\u{1b}[")?;
    let body = rest.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    (rest.as_bytes()[body] == b'm').then_some(2 + body + 1)
}

fn error_style() -> Style {
    Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
}

/// A bold section rule with a title, as watch mode prints before each run.
pub fn banner(printer: &Printer, text: &str) -> String {
    let line = format!("── {text} ");
    let width = 72usize.saturating_sub(line.chars().count());
    printer.paint(
        Style::new().bold(),
        &format!("\n{line}{}\n", "─".repeat(width)),
    )
}

/// The time of day (UTC), `HH:MM:SS`, for watch mode's banners.
pub fn clock() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn severity_style(severity: Severity) -> Style {
    let color = |c: AnsiColor| Style::new().fg_color(Some(c.into()));
    match severity {
        Severity::Critical => color(AnsiColor::Red).bold(),
        Severity::High => color(AnsiColor::Red),
        Severity::Medium => color(AnsiColor::Yellow),
        Severity::Low => color(AnsiColor::Blue),
        Severity::Info => Style::new().dimmed(),
    }
}

/// Text for people: findings grouped by resource with file:line, errors, then a summary.
pub fn print_text_report(
    printer: &Printer,
    report: &Report,
    files: usize,
    render_error: &dyn Fn(&Diagnostic) -> String,
) -> std::io::Result<()> {
    printer.text(&text_report(printer, report, files, render_error))
}

/// The text report as a string (watch mode prints it between its own lines).
pub fn text_report(
    printer: &Printer,
    report: &Report,
    files: usize,
    render_error: &dyn Fn(&Diagnostic) -> String,
) -> String {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    // One header per resource: a `List`'s items share a document but not a header.
    let mut current: Option<(&str, usize, Option<usize>)> = None;
    let rule_width = report
        .findings
        .iter()
        .map(|f| f.rule.len())
        .max()
        .unwrap_or(0);
    for finding in &report.findings {
        let r = &finding.resource;
        let key = (r.file.as_str(), r.document, r.item);
        if current != Some(key) {
            if current.is_some() {
                out.push('\n');
            }
            current = Some(key);
            // A Dockerfile has no namespace, and its name is the file.
            let heading = if is_dockerfile(finding) {
                format!("{}: {}", clean(&r.file), clean(&r.kind))
            } else {
                format!(
                    "{}:{}: {} {}/{}",
                    clean(&r.file),
                    r.line,
                    clean(&r.kind),
                    clean(&r.namespace),
                    clean(&r.name)
                )
            };
            out.push_str(&printer.paint(bold, &heading));
            out.push('\n');
        }
        push_finding(printer, &mut out, finding, dim, rule_width);
    }
    if !report.errors.is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        let label = printer.paint(
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            "error",
        );
        // A rule that fails at one place fails on every workload that reaches it: shown
        // once, with where else (the JSON report keeps every entry).
        let mut repeats: std::collections::HashMap<(&str, &str, usize, usize), Vec<&Diagnostic>> =
            std::collections::HashMap::new();
        for error in &report.errors {
            if let Some(site) = &error.rule_site {
                repeats
                    .entry((&site.rule, &site.origin, site.line, site.column))
                    .or_default()
                    .push(error);
            }
        }
        for error in &report.errors {
            let mut also: &[&Diagnostic] = &[];
            if let Some(site) = &error.rule_site {
                let same = &repeats[&(
                    site.rule.as_str(),
                    site.origin.as_str(),
                    site.line,
                    site.column,
                )];
                if !std::ptr::eq(same[0], error) {
                    continue;
                }
                also = &same[1..];
            }
            let rendered = render_error(error);
            match rendered.strip_prefix("error: ") {
                Some(line) => out.push_str(&format!("{label}: {line}")),
                None => out.push_str(&rendered),
            }
            if !also.is_empty() {
                const SHOWN: usize = 5;
                let places: Vec<String> = also
                    .iter()
                    .take(SHOWN)
                    .map(|e| match e.line {
                        Some(line) => format!("{}:{line}", clean(&e.file)),
                        None => clean(&e.file).to_string(),
                    })
                    .collect();
                let more = if also.len() > SHOWN {
                    format!(" and {} more", also.len() - SHOWN)
                } else {
                    String::new()
                };
                out.push_str(&format!(
                    "  the same failure hit {} more workload{}: {}{more}\n",
                    also.len(),
                    if also.len() == 1 { "" } else { "s" },
                    places.join(", ")
                ));
            }
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(&summary_line(report, files));
    out.push('\n');
    out
}

fn push_finding(
    printer: &Printer,
    out: &mut String,
    finding: &Finding,
    dim: Style,
    rule_width: usize,
) {
    let severity = printer.paint(
        severity_style(finding.severity),
        &format!("{:8}", finding.severity.as_str()),
    );
    let subject = match &finding.container {
        Some(c) if is_dockerfile(finding) => format!("stage `{}`: ", clean(c)),
        Some(c) => format!("container `{}`: ", clean(c)),
        None => String::new(),
    };
    // `file:line` first, so that terminals and editors open the line.
    let at = match finding.line {
        Some(line) => format!(
            "{}:{line} ({})",
            clean(&finding.resource.file),
            clean(&finding.path)
        ),
        None => clean(&finding.path).to_string(),
    };
    out.push_str(&format!(
        "  {severity} {:rule_width$}  {subject}{}\n",
        clean(&finding.rule),
        clean(&finding.message)
    ));
    out.push_str(&printer.paint(dim, &format!("           at {at}\n")));
    out.push_str(&printer.paint(
        dim,
        &format!("           help: {}\n", clean(&finding.remediation)),
    ));
}

fn is_dockerfile(finding: &Finding) -> bool {
    finding.resource.kind == "Dockerfile"
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `checked 3 resources in 2 files (1 skipped): 5 findings (1 critical, 4 high), 1 exempted, 1 error`
pub fn summary_line(report: &Report, files: usize) -> String {
    let s = report.summary();
    let mut line = format!(
        "checked {} in {}",
        plural(s.resources, "resource"),
        plural(files, "file")
    );
    if s.skipped > 0 {
        line.push_str(&format!(" ({} skipped)", s.skipped));
    }
    line.push_str(&format!(": {}", plural(s.findings, "finding")));
    if s.findings > 0 {
        let by_severity: Vec<String> = Severity::ALL
            .iter()
            .rev()
            .filter_map(|sev| {
                let n = report
                    .findings
                    .iter()
                    .filter(|f| f.severity == *sev)
                    .count();
                (n > 0).then(|| format!("{n} {sev}"))
            })
            .collect();
        line.push_str(&format!(" ({})", by_severity.join(", ")));
    }
    if s.exempted > 0 {
        line.push_str(&format!(", {} exempted", s.exempted));
    }
    if s.errors > 0 {
        line.push_str(&format!(", {}", plural(s.errors, "error")));
    }
    line
}

/// Minimal logger: warnings always, more with `-v`; everything to stderr.
struct StderrLogger {
    level: log::LevelFilter,
}

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = record.level().as_str().to_ascii_lowercase();
            // Log lines name files and images from input: one safe line each.
            let line = format!("{level}: {}\n", clean(&record.args().to_string()));
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

pub fn init_logging(verbosity: u8) {
    let level = match verbosity {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        _ => log::LevelFilter::Debug,
    };
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_cannot_act_on_the_terminal() {
        let name = "web\u{1b}[2J\rchecked 1 resource: 0 findings\n\u{202e}x";
        let cleaned = clean(name);
        assert!(!cleaned.chars().any(|c| c.is_control()), "{cleaned}");
        assert_eq!(
            cleaned,
            "web\\e[2J\\rchecked 1 resource: 0 findings\\n\\u{202e}x"
        );
        // The final pass keeps our colours and line breaks, and escapes the rest.
        let painted = "\u{1b}[1mbold\u{1b}[0m\n\u{1b}]0;title\u{7}\u{1b}[2J";
        assert_eq!(
            terminal_safe(painted),
            "\u{1b}[1mbold\u{1b}[0m\n\\e]0;title\\u{7}\\e[2J"
        );
        assert!(matches!(clean("plain"), std::borrow::Cow::Borrowed(_)));
    }
}
