//! The shell-like word processing BuildKit applies to Dockerfile words: quotes, the escape
//! character, `$VAR` / `${VAR}` and the `${VAR:-default}`, `${VAR:+alt}`, `${VAR?msg}`,
//! `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}` forms.
//!
//! Written from BuildKit's documented behaviour and its parser tests, not from its code.
//! Everything is bounded: nesting depth ([`MAX_DEPTH`]), the length of one result
//! ([`MAX_WORD_LEN`]) and the work spent on `#`/`%`/`/` patterns ([`MAX_PATTERN_STEPS`]).

use std::collections::BTreeSet;

/// Deepest `${…${…}…}` nesting processed.
pub(crate) const MAX_DEPTH: usize = 16;
/// Longest result of processing one word, in bytes.
pub(crate) const MAX_WORD_LEN: usize = 64 * 1024;
/// Work allowed for pattern operators in one word (pattern positions × characters tried).
pub(crate) const MAX_PATTERN_STEPS: usize = 4_000_000;

/// Where variable values come from.
pub(crate) trait Env {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Env for () {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

/// How words are processed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer {
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written instead of expanding them to "".
    pub skip_unset: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }
}

/// The outcome of processing a word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Processed {
    /// The whole input, quotes and escapes processed, variables substituted.
    pub value: String,
    /// The same split into words at unquoted white space.
    pub words: Vec<String>,
    /// Variables referred to that had a value.
    pub used: BTreeSet<String>,
    /// Variables referred to that had none.
    pub unset: BTreeSet<String>,
}

/// Word accumulator: splits at unquoted white space.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }
    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_str(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

struct Run<'a> {
    lexer: Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    used: BTreeSet<String>,
    unset: BTreeSet<String>,
    pattern_steps: usize,
}

type Result<T> = std::result::Result<T, String>;

/// Processes `input` with `env`.
pub(crate) fn process(lexer: Lexer, input: &str, env: &dyn Env) -> Result<Processed> {
    let mut run = Run {
        lexer,
        chars: input.chars().collect(),
        pos: 0,
        env,
        used: BTreeSet::new(),
        unset: BTreeSet::new(),
        pattern_steps: 0,
    };
    let (value, words) = run.until(None, lexer.raw_escapes, 0)?;
    Ok(Processed {
        value,
        words,
        used: run.used,
        unset: run.unset,
    })
}

fn push_checked(out: &mut String, s: &str) -> Result<()> {
    if out.len() + s.len() > MAX_WORD_LEN {
        return Err(format!(
            "a word expands to more than {} KiB",
            MAX_WORD_LEN / 1024
        ));
    }
    out.push_str(s);
    Ok(())
}

impl Run<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Reads up to `stop` (consumed) or the end; a missing `stop` is an error.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        depth: usize,
    ) -> Result<(String, Vec<String>)> {
        let mut out = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((out, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar(depth)?;
                    push_checked(&mut out, &value)?;
                    words.add_str(&value);
                }
                '<' => {
                    let value = self.maybe_heredoc();
                    push_checked(&mut out, &value)?;
                    words.add_raw_str(&value);
                }
                '\'' => {
                    let value = self.single_quoted()?;
                    push_checked(&mut out, &value)?;
                    words.add_raw_str(&value);
                }
                '"' => {
                    let value = self.double_quoted(raw_escapes, depth)?;
                    push_checked(&mut out, &value)?;
                    words.add_raw_str(&value);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if raw_escapes {
                            words.add_raw_char(c);
                            push_checked(&mut out, c.encode_utf8(&mut [0; 4]))?;
                        }
                        // An escape at the very end is dropped.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw_char(escaped);
                        push_checked(&mut out, escaped.encode_utf8(&mut [0; 4]))?;
                    } else {
                        words.add_char(c);
                        push_checked(&mut out, c.encode_utf8(&mut [0; 4]))?;
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching `{stop}`"
            )),
            None => Ok((out, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Result<String> {
        let mut out = String::new();
        self.pos += 1;
        if self.lexer.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    );
                }
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self, raw_escapes: bool, depth: usize) -> Result<String> {
        let mut out = String::new();
        self.pos += 1;
        if self.lexer.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    );
                }
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar(depth)?;
                    push_checked(&mut out, &value)?;
                }
                Some(c) => {
                    self.pos += 1;
                    let mut c = c;
                    if c == self.lexer.escape {
                        if raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            // The missing closing quote is reported on the next turn.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            // Any other escaped character keeps its escape.
                            Some(_) => {}
                        }
                    }
                    push_checked(&mut out, c.encode_utf8(&mut [0; 4]))?;
                }
            }
        }
    }

    /// `<<` and the white space after it stay together in one word.
    fn maybe_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.pos += 1;
        let mut out = "<<".to_string();
        while let Some(c) = self.peek().filter(|c| matches!(c, ' ' | '\t')) {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                self.pos += 1;
                name.push(c);
                return name;
            }
            _ => {}
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(value) => {
                self.used.insert(name.to_string());
                Some(value.to_string())
            }
            None => {
                self.unset.insert(name.to_string());
                None
            }
        }
    }

    fn dollar(&mut self, depth: usize) -> Result<String> {
        if depth >= MAX_DEPTH {
            return Err(format!(
                "variable substitutions nested more than {MAX_DEPTH} deep"
            ));
        }
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing `}`".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let first = self.next();
        match first {
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let null_is_unset = first == Some(':');
                let op = if null_is_unset { self.next() } else { first };
                let mut written = String::from(first.unwrap_or_default());
                if null_is_unset && let Some(op) = op {
                    written.push(op);
                }
                let pattern_op = matches!(op, Some('#' | '%'));
                if null_is_unset && pattern_op {
                    return Err(format!(
                        "unsupported modifier (`{written}`) in substitution"
                    ));
                }
                let (word, _) = self
                    .until(Some('}'), pattern_op, depth + 1)
                    .map_err(|e| self.missing_brace(e))?;
                let value = self.lookup(&name);
                let Some(value) = value else {
                    if self.lexer.skip_unset {
                        return Ok(format!("${{{name}{written}{word}}}"));
                    }
                    return match op {
                        Some('-') => Ok(word),
                        Some('+' | '#' | '%') => Ok(String::new()),
                        Some('?') => Err(if word.is_empty() {
                            format!("`{name}` is not allowed to be unset")
                        } else {
                            format!("`{name}`: {word}")
                        }),
                        _ => Err(format!(
                            "unsupported modifier (`{written}`) in substitution"
                        )),
                    };
                };
                let empty = null_is_unset && value.is_empty();
                match op {
                    Some('-') => Ok(if empty { word } else { value }),
                    Some('+') => Ok(if empty { String::new() } else { word }),
                    Some('?') if empty => Err(if word.is_empty() {
                        format!("`{name}` is not allowed to be empty")
                    } else {
                        format!("`{name}`: {word}")
                    }),
                    Some('?') => Ok(value),
                    Some(c @ ('#' | '%')) => {
                        let (greedy, pattern) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        let tokens = glob_tokens(pattern)?;
                        if c == '#' {
                            self.trim_prefix(&tokens, &value, greedy)
                        } else {
                            self.trim_suffix(&tokens, &value, greedy)
                        }
                    }
                    _ => Err(format!(
                        "unsupported modifier (`{written}`) in substitution"
                    )),
                }
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let (pattern, _) = self.until(Some('/'), true, depth + 1).map_err(|e| {
                    if self.peek().is_none() {
                        "syntax error: missing `/` in ${}".to_string()
                    } else {
                        e
                    }
                })?;
                let (replacement, _) = self
                    .until(Some('}'), true, depth + 1)
                    .map_err(|e| self.missing_brace(e))?;
                let Some(value) = self.lookup(&name) else {
                    if self.lexer.skip_unset {
                        let slash = if all { "//" } else { "/" };
                        return Ok(format!("${{{name}{slash}{pattern}/{replacement}}}"));
                    }
                    return Ok(String::new());
                };
                let tokens = glob_tokens(&pattern)?;
                self.replace(&tokens, &value, &replacement, all)
            }
            other => Err(format!(
                "unsupported modifier (`{}`) in substitution",
                other.map(String::from).unwrap_or_default()
            )),
        }
    }

    fn missing_brace(&self, error: String) -> String {
        if self.peek().is_none() {
            "syntax error: missing `}`".to_string()
        } else {
            error
        }
    }

    /// Ends of the matches of `tokens` that start at `start` of `text`, in increasing order.
    fn match_ends(&mut self, tokens: &[Tok], text: &[char], start: usize) -> Result<Vec<usize>> {
        let n = tokens.len();
        let mut states = vec![false; n + 1];
        states[0] = true;
        close(tokens, &mut states);
        let mut ends = Vec::new();
        if states[n] {
            ends.push(start);
        }
        let mut next = vec![false; n + 1];
        for (offset, &c) in text[start..].iter().enumerate() {
            self.pattern_steps += n + 1;
            if self.pattern_steps > MAX_PATTERN_STEPS {
                return Err(
                    "a `#`, `%` or `/` substitution pattern takes too long to match".into(),
                );
            }
            next.iter_mut().for_each(|s| *s = false);
            let mut any = false;
            for (i, token) in tokens.iter().enumerate() {
                if !states[i] {
                    continue;
                }
                match token {
                    Tok::Star => next[i] = true,
                    Tok::Any => next[i + 1] = true,
                    Tok::Lit(l) if *l == c => next[i + 1] = true,
                    Tok::Lit(_) => {}
                }
            }
            close(tokens, &mut next);
            std::mem::swap(&mut states, &mut next);
            if states[n] {
                ends.push(start + offset + 1);
            }
            for s in &states {
                any |= *s;
            }
            if !any {
                break;
            }
        }
        Ok(ends)
    }

    fn trim_prefix(&mut self, tokens: &[Tok], value: &str, greedy: bool) -> Result<String> {
        let text: Vec<char> = value.chars().collect();
        let ends = self.match_ends(tokens, &text, 0)?;
        let end = if greedy { ends.last() } else { ends.first() };
        Ok(match end {
            Some(&end) => text[end..].iter().collect(),
            None => value.to_string(),
        })
    }

    fn trim_suffix(&mut self, tokens: &[Tok], value: &str, greedy: bool) -> Result<String> {
        // The shortest/longest suffix is the shortest/longest prefix of the reversed text
        // matched by the reversed pattern.
        let reversed_tokens: Vec<Tok> = tokens.iter().rev().cloned().collect();
        let text: Vec<char> = value.chars().rev().collect();
        let ends = self.match_ends(&reversed_tokens, &text, 0)?;
        let end = if greedy { ends.last() } else { ends.first() };
        Ok(match end {
            Some(&end) => text[end..].iter().rev().collect(),
            None => value.to_string(),
        })
    }

    /// Replaces the leftmost longest match (or every one, left to right).
    fn replace(
        &mut self,
        tokens: &[Tok],
        value: &str,
        replacement: &str,
        all: bool,
    ) -> Result<String> {
        let text: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut pos = 0;
        let mut start = 0;
        let mut replaced = false;
        while start <= text.len() {
            if replaced && !all {
                break;
            }
            let ends = self.match_ends(tokens, &text, start)?;
            match ends.last() {
                Some(&end) => {
                    out.extend(&text[pos..start]);
                    push_checked(&mut out, replacement)?;
                    replaced = true;
                    if end == start {
                        if let Some(&c) = text.get(start) {
                            out.push(c);
                        }
                        start += 1;
                    } else {
                        start = end;
                    }
                    pos = start.min(text.len());
                }
                None => start += 1,
            }
        }
        out.extend(&text[pos.min(text.len())..]);
        Ok(out)
    }
}

/// A shell pattern token (no bracket expressions, as in BuildKit).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
}

fn glob_tokens(pattern: &str) -> Result<Vec<Tok>> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => match chars.peek() {
                // `\}` and `\/` only protect the character from ending the `${…}`.
                Some('}' | '/') => continue,
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    Tok::Lit(n)
                }
                other => {
                    return Err(format!(
                        "invalid pattern (`{pattern}`) in substitution: invalid escape `\\{}`",
                        other.map(|c| c.to_string()).unwrap_or_default()
                    ));
                }
            },
            c => Tok::Lit(c),
        });
    }
    Ok(tokens)
}

/// Adds the states reachable without input (a `*` may match nothing).
fn close(tokens: &[Tok], states: &mut [bool]) {
    for i in 0..tokens.len() {
        if states[i] && tokens[i] == Tok::Star {
            states[i + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Map(BTreeMap<&'static str, &'static str>);
    impl Env for Map {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }
    }

    fn env() -> Map {
        Map(BTreeMap::from([
            ("A", "alpha"),
            ("E", ""),
            ("P", "/usr/local/bin:/usr/bin"),
            ("V", "1.2.3-alpine"),
        ]))
    }

    fn word(input: &str) -> String {
        process(Lexer::new('\\'), input, &env()).unwrap().value
    }

    #[test]
    fn substitutes_the_forms_buildkit_knows() {
        assert_eq!(word("$A"), "alpha");
        assert_eq!(word("${A}x"), "alphax");
        assert_eq!(word("$Ax"), "");
        assert_eq!(word("${B:-def}"), "def");
        assert_eq!(word("${E:-def}"), "def");
        assert_eq!(word("${E-def}"), "");
        assert_eq!(word("${A:+set}"), "set");
        assert_eq!(word("${E:+set}"), "");
        assert_eq!(word("${E+set}"), "set");
        assert_eq!(word("${B:-${A}-x}"), "alpha-x");
        assert_eq!(word("${V%-*}"), "1.2.3");
        assert_eq!(word("${V%%.*}"), "1");
        assert_eq!(word("${V#*.}"), "2.3-alpine");
        assert_eq!(word("${V##*.}"), "3-alpine");
        assert_eq!(word("${P/bin/sbin}"), "/usr/local/sbin:/usr/bin");
        assert_eq!(word("${P//bin/sbin}"), "/usr/local/sbin:/usr/sbin");
        assert_eq!(word("${V/?/x}"), "x.2.3-alpine");
        assert_eq!(word("$"), "$");
        assert_eq!(word("a$"), "a$");
        assert_eq!(word("\\$A"), "$A");
        assert_eq!(word("'$A'"), "$A");
        assert_eq!(word("\"$A\""), "alpha");
        assert_eq!(word("\"\\$A\""), "$A");
        assert_eq!(word("\"a\\b\""), "a\\b");
    }

    #[test]
    fn errors_are_errors_not_panics() {
        for bad in [
            "${", "${A", "${}", "${:a}", "${A:}", "${A:x}", "${E:?}", "${B?no}", "'a", "\"a",
            "${V/x", "${V#\\q}",
        ] {
            assert!(process(Lexer::new('\\'), bad, &env()).is_err(), "{bad}");
        }
    }

    #[test]
    fn unset_variables_are_reported_and_can_be_kept() {
        let out = process(Lexer::new('\\'), "${X:-1}$A$Y", &env()).unwrap();
        assert_eq!(out.value, "1alpha");
        assert_eq!(
            out.unset,
            BTreeSet::from(["X".to_string(), "Y".to_string()])
        );
        let keep = Lexer {
            skip_unset: true,
            ..Lexer::new('\\')
        };
        assert_eq!(
            process(keep, "${X:-1} $Y ${Z}", &env()).unwrap().value,
            "${X:-1} $Y ${Z}"
        );
    }

    #[test]
    fn words_split_outside_quotes() {
        let out = process(Lexer::new('\\'), "a 'b c' \"d e\"f g\\ h", &()).unwrap();
        assert_eq!(out.words, vec!["a", "b c", "d ef", "g h"]);
        let raw = Lexer {
            raw_quotes: true,
            raw_escapes: true,
            skip_unset: true,
            ..Lexer::new('\\')
        };
        let out = process(raw, "RUN <<  EOF 3<<-'X' > $f", &()).unwrap();
        assert_eq!(out.words, vec!["RUN", "<<  EOF", "3<<-'X'", ">", "$f"]);
    }

    #[test]
    fn expansion_is_bounded() {
        struct Big(String);
        impl Env for Big {
            fn get(&self, _: &str) -> Option<&str> {
                Some(&self.0)
            }
        }
        let big = Big("x".repeat(MAX_WORD_LEN / 2 + 1));
        assert!(process(Lexer::new('\\'), "$A$A", &big).is_err());
        let deep = format!(
            "{}{}",
            "${A:-".repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(process(Lexer::new('\\'), &deep, &()).is_err());
        let slow = Big("a".repeat(30_000));
        assert!(process(Lexer::new('\\'), "${A//*b*/x}", &slow).is_err());
    }
}
