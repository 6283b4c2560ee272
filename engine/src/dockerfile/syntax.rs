//! Text -> instructions: parser directives, comments, line continuations, heredoc bodies,
//! and each instruction's arguments in the form BuildKit gives them (JSON arrays, white-space
//! separated lists, `key=value` pairs, a single string).
//!
//! This is the layer BuildKit's parser test files describe; the `commands` module gives the
//! arguments their meaning.

use super::shell::{self, Lexer};
use super::{Command, Directive, DockerfileError, ErrorKind, Heredoc, Instruction};

/// BuildKit reads a Dockerfile with a line scanner whose lines are at most this long.
pub(crate) const MAX_LINE_BYTES: usize = 65_535;
/// ONBUILD ONBUILD … is an error after the first level; parse no deeper than this.
const MAX_TRIGGER_DEPTH: usize = 4;

pub(crate) struct Scanned {
    pub directives: Vec<Directive>,
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// Per instruction: whether its syntax parsed (else it is [`Command::Invalid`] and its
    /// error is in `errors`).
    pub parsed: Vec<bool>,
    pub errors: Vec<DockerfileError>,
    pub empty_continuation_lines: Vec<usize>,
}

/// Recognizes `# name=value` parser directives at the top of the file.
struct DirectiveScanner {
    done: bool,
    seen: Vec<String>,
}

impl DirectiveScanner {
    /// `Some((name, value))` for a directive; the first line that is not one ends the scan.
    fn scan(&mut self, line: &str) -> Option<Result<(String, String), String>> {
        if self.done {
            return None;
        }
        let Some(body) = line.strip_prefix('#') else {
            self.done = true;
            return None;
        };
        let body = body.trim_start();
        let name_len = body
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(body.len(), |(i, _)| i);
        let (name, rest) = body.split_at(name_len);
        let value = rest.trim_start_matches(is_re_space);
        let value = value.strip_prefix('=').map(|v| v.trim_matches(is_re_space));
        let name = name.to_ascii_lowercase();
        let (false, Some(value)) = (name.is_empty(), value) else {
            self.done = true;
            return None;
        };
        if value.is_empty() || !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return None;
        }
        if self.seen.contains(&name) {
            return Some(Err(format!(
                "only one `{name}` parser directive can be used"
            )));
        }
        self.seen.push(name.clone());
        Some(Ok((name, value.to_string())))
    }
}

/// `\s` of Go's regular expressions.
fn is_re_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// The separators BuildKit splits instruction words at: `[\t\v\f\r ]`.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a line-continuation escape at the end of `line`: the escape followed only by
/// spaces and tabs, not itself escaped. Returns the rest and whether the line continues.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape)
        && !before.ends_with(escape)
    {
        return (before, true);
    }
    (line, false)
}

pub(crate) fn scan(text: &str) -> Scanned {
    let mut out = Scanned {
        directives: Vec::new(),
        escape: '\\',
        instructions: Vec::new(),
        parsed: Vec::new(),
        errors: Vec::new(),
        empty_continuation_lines: Vec::new(),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        if line.len() > MAX_LINE_BYTES + 1 {
            out.errors.push(DockerfileError::at(
                i + 1,
                format!("the line is longer than BuildKit's limit of {MAX_LINE_BYTES} bytes"),
            ));
        }
    }
    let mut directives = DirectiveScanner {
        done: false,
        seen: Vec::new(),
    };
    let mut next = 0;
    while next < lines.len() {
        let line_no = next + 1;
        let physical = trim_newline(lines[next]);
        next += 1;
        let trimmed = physical.trim_start();
        match directives.scan(trimmed) {
            Some(Ok((name, value))) => {
                if name == "escape" {
                    match value.as_str() {
                        "\\" => out.escape = '\\',
                        "`" => out.escape = '`',
                        _ => out.errors.push(DockerfileError::at(
                            line_no,
                            format!("invalid escape token `{value}`: it must be ` or \\"),
                        )),
                    }
                }
                out.directives.push(Directive {
                    name,
                    value,
                    line: line_no,
                });
            }
            Some(Err(message)) => out.errors.push(DockerfileError::at(line_no, message)),
            None => {}
        }
        let content = if is_comment(trimmed) { "" } else { trimmed };
        let (first, mut continues) = trim_continuation(content, out.escape);
        if !continues && first.is_empty() {
            continue;
        }
        let column = physical[..physical.len() - trimmed.len()].chars().count() + 1;
        let mut logical = first.to_string();
        let mut end_line = line_no;
        while continues && next < lines.len() {
            let physical = trim_newline(lines[next]);
            next += 1;
            end_line = next;
            if is_comment(physical) {
                continue;
            }
            if physical.trim_start().is_empty() {
                out.empty_continuation_lines.push(next);
                continue;
            }
            let (part, more) = trim_continuation(physical, out.escape);
            logical.push_str(part);
            continues = more;
        }
        let mut parsed = true;
        let mut instruction = match parse_logical(&logical, out.escape, 0) {
            Ok(instruction) => instruction,
            Err(message) => {
                parsed = false;
                out.errors.push(DockerfileError {
                    kind: ErrorKind::Syntax,
                    line: line_no,
                    end_line,
                    column: Some(column),
                    message,
                });
                invalid(&logical)
            }
        };
        instruction.line = line_no;
        instruction.end_line = end_line;
        instruction.column = column;
        if can_contain_heredoc(&instruction) && logical.contains("<<") {
            match heredocs_in(&logical) {
                Ok(specs) => {
                    for mut heredoc in specs {
                        let mut terminated = false;
                        let mut content = String::new();
                        heredoc.line = next + 1;
                        while next < lines.len() {
                            let body = lines[next];
                            next += 1;
                            end_line = next;
                            let mut candidate = trim_newline(body);
                            if heredoc.chomp {
                                candidate = candidate.trim_start_matches('\t');
                            }
                            if candidate == heredoc.name {
                                terminated = true;
                                break;
                            }
                            content.push_str(body);
                        }
                        heredoc.content = content;
                        heredoc.end_line = end_line;
                        if !terminated {
                            out.errors.push(DockerfileError {
                                kind: ErrorKind::Syntax,
                                line: line_no,
                                end_line,
                                column: Some(column),
                                message: format!(
                                    "unterminated heredoc `{}`: no line `{}` before the end of the file",
                                    heredoc.name, heredoc.name
                                ),
                            });
                        }
                        instruction.heredocs.push(heredoc);
                    }
                }
                Err(message) => out.errors.push(DockerfileError {
                    kind: ErrorKind::Syntax,
                    line: line_no,
                    end_line,
                    column: Some(column),
                    message,
                }),
            }
            instruction.end_line = end_line;
        }
        out.instructions.push(instruction);
        out.parsed.push(parsed);
    }
    if out.instructions.is_empty() {
        out.errors.push(DockerfileError::at(
            lines.len().max(1),
            "the file has no instructions".to_string(),
        ));
    }
    out
}

fn invalid(original: &str) -> Instruction {
    let keyword = original
        .trim()
        .split(is_separator)
        .next()
        .unwrap_or_default()
        .to_uppercase();
    Instruction {
        keyword,
        original: original.to_string(),
        command: Command::Invalid,
        ..Instruction::default()
    }
}

fn can_contain_heredoc(instruction: &Instruction) -> bool {
    let target = match &instruction.trigger {
        Some(trigger) if instruction.keyword == "ONBUILD" => trigger,
        _ => instruction,
    };
    matches!(target.keyword.as_str(), "ADD" | "COPY" | "RUN") && !target.json
}

/// The heredocs a line opens, in order (bodies not read yet).
fn heredocs_in(line: &str) -> Result<Vec<Heredoc>, String> {
    let lexer = Lexer {
        escape: '\\',
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
    };
    // A line that does not lex (an open quote) opens no heredoc, as in BuildKit.
    let Ok(words) = shell::process(lexer, line, &()) else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for word in words.words {
        if let Some(heredoc) = heredoc_word(&word)? {
            found.push(heredoc);
        }
    }
    Ok(found)
}

/// `[fd]<<[-]NAME`, NAME possibly quoted: quoting any part of it turns expansion off.
pub(crate) fn heredoc_word(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let Some(rest) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(is_re_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let plain = Lexer {
        skip_unset: true,
        ..Lexer::new('\\')
    };
    let words = shell::process(plain, rest, &())?.words;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw = Lexer {
        raw_quotes: true,
        ..plain
    };
    let raw_words = shell::process(raw, rest, &())?.words;
    let [raw_name] = raw_words.as_slice() else {
        return Err(format!("heredoc word `{rest}` lexes inconsistently"));
    };
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    Ok(Some(Heredoc {
        name: name.clone(),
        fd: word[..digits].parse().unwrap_or(0),
        chomp,
        expand: quotes(name) == quotes(raw_name),
        ..Heredoc::default()
    }))
}

/// One logical line (continuations joined) -> an instruction without line numbers.
fn parse_logical(line: &str, escape: char, depth: usize) -> Result<Instruction, String> {
    let line_trimmed = line.trim();
    let (keyword, rest) = match line_trimmed.find(is_separator) {
        Some(i) => (
            &line_trimmed[..i],
            Some(line_trimmed[i..].trim_start_matches(is_separator)),
        ),
        None => (line_trimmed, None),
    };
    let (flags, rest) = match rest {
        Some(rest) => extract_flags(rest, escape),
        None => (Vec::new(), ""),
    };
    let rest = rest.trim();
    let lower = keyword.to_lowercase();
    let mut instruction = Instruction {
        keyword: keyword.to_uppercase(),
        original: line.to_string(),
        flags,
        ..Instruction::default()
    };
    match lower.as_str() {
        "add" | "copy" | "volume" => match json_array(rest)? {
            Some(values) => {
                instruction.args = values;
                instruction.json = true;
            }
            None => instruction.args = split_separated(rest),
        },
        "cmd" | "entrypoint" | "run" | "shell" => {
            if !rest.is_empty() {
                match json_array(rest)? {
                    Some(values) => {
                        instruction.args = values;
                        instruction.json = true;
                    }
                    None => instruction.args = vec![rest.to_string()],
                }
            }
        }
        "arg" => instruction.args = words(rest, escape),
        "env" | "label" => instruction.args = name_values(rest, &keyword.to_uppercase(), escape)?,
        "expose" | "from" => instruction.args = split_separated(rest),
        "healthcheck" => {
            if !rest.is_empty() {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                let (kind, command) = rest.split_at(end);
                let command = command.trim_start();
                instruction.args.push(kind.to_string());
                if !command.is_empty() {
                    match json_array(command)? {
                        Some(values) => {
                            instruction.args.extend(values);
                            instruction.json = true;
                        }
                        None => instruction.args.push(command.to_string()),
                    }
                }
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !rest.is_empty() {
                instruction.args = vec![rest.to_string()];
            }
        }
        "onbuild" => {
            if !rest.is_empty() {
                if depth >= MAX_TRIGGER_DEPTH {
                    return Err("ONBUILD triggers nested too deep".to_string());
                }
                instruction.trigger = Some(Box::new(parse_logical(rest, escape, depth + 1)?));
            }
        }
        _ => instruction.command = Command::Unknown,
    }
    Ok(instruction)
}

/// Leading `--flag` words; returns them and the rest of the line. A `--` word ends them.
fn extract_flags(line: &str, escape: char) -> (Vec<String>, &str) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&(pos, c)) = chars.get(i) else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            return (flags, "");
        };
        if phase == Phase::Spaces {
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c != '-' || chars.get(i + 1).map(|&(_, n)| n) != Some('-') {
                return (flags, &line[pos..]);
            }
            phase = Phase::Word;
        }
        let mut c = c;
        match phase {
            Phase::Word => {
                if c.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (flags, &line[pos..]);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                    i += 1;
                    continue;
                }
                if c == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    i += 1;
                    c = chars[i].1;
                }
                word.push(c);
            }
            Phase::Quote(quote) => {
                if c == quote {
                    phase = Phase::Word;
                    i += 1;
                    continue;
                }
                if c == escape {
                    if i + 1 == chars.len() {
                        phase = Phase::Word;
                        i += 1;
                        continue;
                    }
                    i += 1;
                    c = chars[i].1;
                }
                word.push(c);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
        i += 1;
    }
}

/// Words separated by white space, quotes and escapes kept as written (ARG, ENV, LABEL).
fn words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut out = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let Some(&c) = chars.get(i) else {
            if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
                out.push(word);
            }
            return out;
        };
        if phase == Phase::Spaces {
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        let mut c = c;
        match phase {
            Phase::Word => {
                if c.is_whitespace() {
                    phase = Phase::Spaces;
                    if blank_ok || !word.is_empty() {
                        out.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                if c == '\'' || c == '"' {
                    phase = Phase::Quote(c);
                    blank_ok = true;
                }
                if c == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    // Unquoted, the escape and the character after it both stay.
                    word.push(c);
                    i += 1;
                    c = chars[i];
                }
                word.push(c);
            }
            Phase::Quote(quote) => {
                if c == quote {
                    phase = Phase::Word;
                }
                if c == escape && quote != '\'' {
                    if i + 1 == chars.len() {
                        phase = Phase::Word;
                        i += 1;
                        continue;
                    }
                    word.push(c);
                    i += 1;
                    c = chars[i];
                }
                word.push(c);
            }
            Phase::Spaces => unreachable!("handled above"),
        }
        i += 1;
    }
}

/// `ENV`/`LABEL` arguments as (name, value, separator) triples: `name value` (legacy, one
/// pair, separator "") or `name=value …` (separator "=").
fn name_values(rest: &str, keyword: &str, escape: char) -> Result<Vec<String>, String> {
    let words = words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some(i) = rest.find(is_separator) else {
            return Err(format!("{keyword} must have two arguments"));
        };
        let value = rest[i..].trim_start_matches(is_separator);
        return Ok(vec![
            rest[..i].to_string(),
            value.to_string(),
            String::new(),
        ]);
    }
    let mut out = Vec::with_capacity(words.len() * 3);
    for word in &words {
        let Some((name, value)) = word.split_once('=') else {
            return Err(format!(
                "syntax error: no `=` in `{word}`; {keyword} takes `name=value` pairs here"
            ));
        };
        out.extend([name.to_string(), value.to_string(), "=".to_string()]);
    }
    Ok(out)
}

fn split_separated(rest: &str) -> Vec<String> {
    rest.split(is_separator)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// `Ok(Some(strings))` for a JSON array of strings, `Ok(None)` when the text is not a JSON
/// array (shell form), an error for an array holding something other than strings.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(rest) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(
                "when using JSON array syntax, arrays must be comprised of strings only"
                    .to_string(),
            ),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_needs_an_unescaped_escape() {
        assert_eq!(trim_continuation("a \\", '\\'), ("a ", true));
        assert_eq!(trim_continuation("a \\  \t", '\\'), ("a ", true));
        assert_eq!(trim_continuation("\\", '\\'), ("", true));
        assert_eq!(trim_continuation("a \\\\", '\\'), ("a \\\\", false));
        assert_eq!(trim_continuation("a `", '`'), ("a ", true));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", false));
    }

    #[test]
    fn flags_stop_at_the_first_other_word() {
        let (flags, rest) = extract_flags("--from=build --chown=\"a b\" src dst", '\\');
        assert_eq!(flags, vec!["--from=build", "--chown=a b"]);
        assert_eq!(rest, "src dst");
        let (flags, rest) = extract_flags("--a -- --b c", '\\');
        assert_eq!(flags, vec!["--a"]);
        assert_eq!(rest.trim(), "--b c");
        let (flags, rest) = extract_flags("--x", '\\');
        assert_eq!((flags, rest), (vec!["--x".to_string()], ""));
    }

    #[test]
    fn heredoc_words() {
        let h = heredoc_word("3<<-'EOF'").unwrap().unwrap();
        assert_eq!(
            (h.name.as_str(), h.fd, h.chomp, h.expand),
            ("EOF", 3, true, false)
        );
        let h = heredoc_word("<<  EOF").unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.expand), ("EOF", true));
        let h = heredoc_word("<<eo\\'f").unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.expand), ("eo'f", true));
        let h = heredoc_word("<<'e'o\\'f").unwrap().unwrap();
        assert_eq!((h.name.as_str(), h.expand), ("eo'f", false));
        assert!(heredoc_word("<<").unwrap().is_none());
        assert!(heredoc_word("\"<<EOF\"").unwrap().is_none());
        assert!(heredoc_word("<<a<b").unwrap().is_none());
    }

    #[test]
    fn directives_only_at_the_top() {
        let scanned = scan("# syntax=docker/dockerfile:1\n#escape=`\nFROM a `\n  AS b\n");
        assert_eq!(scanned.escape, '`');
        assert_eq!(scanned.directives.len(), 2);
        assert_eq!(scanned.instructions[0].args, vec!["a", "AS", "b"]);
        let scanned = scan("# hello\n# escape=`\nFROM a `\n");
        assert_eq!(scanned.escape, '\\');
        let scanned = scan("\n# escape=`\nFROM a\n");
        assert!(scanned.directives.is_empty());
        let scanned = scan("# escape=x\nFROM a\n");
        assert_eq!(scanned.errors.len(), 1);
        let scanned = scan("# syntax=a\n# syntax=b\nFROM a\n");
        assert_eq!(scanned.errors[0].line, 2);
    }
}
