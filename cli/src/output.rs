//! Everything the CLI prints goes through [`Printer`]: colour decisions, text layout, JSON.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use portcullis_engine::{Finding, InputError, Report, Severity};

use crate::args::ColorChoice;

pub struct Printer {
    color: bool,
    stderr_color: bool,
}

impl Printer {
    pub fn stdout(choice: ColorChoice) -> Printer {
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

    pub fn color(&self) -> bool {
        self.color
    }

    /// Whether text written to stderr may be coloured.
    pub fn stderr_color(&self) -> bool {
        self.stderr_color
    }

    pub fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub fn text(&self, text: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }

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
        write(&mut out)?;
        out.write_all(b"\n")?;
        out.flush()
    }
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
    render_error: &dyn Fn(&InputError) -> String,
) -> std::io::Result<()> {
    printer.text(&text_report(printer, report, files, render_error))
}

/// The text report as a string (watch mode prints it between its own lines).
pub fn text_report(
    printer: &Printer,
    report: &Report,
    files: usize,
    render_error: &dyn Fn(&InputError) -> String,
) -> String {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let mut out = String::new();
    let mut current: Option<(&str, usize)> = None;
    let rule_width = report
        .findings
        .iter()
        .map(|f| f.rule.len())
        .max()
        .unwrap_or(0);
    for finding in &report.findings {
        let key = (finding.resource.file.as_str(), finding.resource.document);
        if current != Some(key) {
            if current.is_some() {
                out.push('\n');
            }
            current = Some(key);
            let r = &finding.resource;
            out.push_str(&printer.paint(
                bold,
                &format!(
                    "{}:{}: {} {}/{}",
                    r.file, r.line, r.kind, r.namespace, r.name
                ),
            ));
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
        for error in &report.errors {
            let rendered = render_error(error);
            match rendered.strip_prefix("error: ") {
                Some(line) => out.push_str(&format!("{label}: {line}")),
                None => out.push_str(&rendered),
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
        Some(c) => format!("container `{c}`: "),
        None => String::new(),
    };
    out.push_str(&format!(
        "  {severity} {:rule_width$}  {subject}{}\n",
        finding.rule, finding.message
    ));
    out.push_str(&printer.paint(dim, &format!("           at {}\n", finding.path)));
    out.push_str(&printer.paint(dim, &format!("           help: {}\n", finding.remediation)));
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
            eprintln!("{level}: {}", record.args());
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
