//! The parser against BuildKit's own parser test files (rendered in their s-expression
//! format), the model on hand-written cases, and property tests on hostile input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dockerfile/buildkit")
}

/// Go's `strconv.Quote`, which BuildKit's dump uses.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control()
                || (c.is_whitespace() && c != ' ')
                || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}') =>
            {
                if (c as u32) < 0x10000 {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One instruction in BuildKit's `Node.Dump` format.
fn dump(instruction: &Instruction) -> String {
    let mut out = instruction.keyword.to_lowercase();
    if !instruction.flags.is_empty() {
        let flags: Vec<String> = instruction.flags.iter().map(|f| go_quote(f)).collect();
        out.push_str(&format!(" [{}]", flags.join(" ")));
    }
    if let Some(trigger) = &instruction.trigger {
        out.push_str(&format!(" ({})", dump(trigger)));
    } else if instruction.command == Command::Unknown {
        // BuildKit keeps one empty argument for instructions it does not know.
        out.push_str(" \"\"");
    } else {
        for arg in &instruction.args {
            out.push(' ');
            out.push_str(&go_quote(arg));
        }
    }
    out
}

fn render(file: &Dockerfile) -> String {
    file.instructions()
        .map(|i| format!("({})\n", dump(i)))
        .collect()
}

/// BuildKit test cases whose rendering is expected to differ, and why. Also listed in
/// tests/fixtures/dockerfile/buildkit/README.md.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[];

#[test]
fn buildkit_parser_testfiles_render_identically() {
    let dir = fixtures().join("testfiles");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "testfiles missing in {}", dir.display());
    let mut disagreements = BTreeMap::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read(case.join("Dockerfile")).unwrap();
        let expected = std::fs::read_to_string(case.join("result")).unwrap();
        let file = parse_bytes(&text, &ParseOptions::default());
        let actual = render(&file);
        if actual != expected {
            disagreements.insert(name, format!("expected:\n{expected}\nactual:\n{actual}"));
        }
    }
    let known: BTreeMap<String, String> = KNOWN_DISAGREEMENTS
        .iter()
        .map(|(n, why)| (n.to_string(), why.to_string()))
        .collect();
    let unexpected: Vec<_> = disagreements
        .iter()
        .filter(|(n, _)| !known.contains_key(*n))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:#?}");
    let fixed: Vec<_> = known
        .keys()
        .filter(|n| !disagreements.contains_key(*n))
        .collect();
    assert!(
        fixed.is_empty(),
        "now agree; update KNOWN_DISAGREEMENTS: {fixed:?}"
    );
}

#[test]
fn buildkit_negative_testfiles_are_errors() {
    let dir = fixtures().join("testfiles-negative");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let text = std::fs::read(case.join("Dockerfile")).unwrap();
        let file = parse_bytes(&text, &ParseOptions::default());
        assert!(
            !file.errors.is_empty(),
            "{} parsed without error",
            case.display()
        );
        count += 1;
    }
    assert!(count >= 4);
}

fn ok(text: &str) -> Dockerfile {
    let file = parse(text);
    assert!(file.errors.is_empty(), "{:#?}", file.errors);
    file
}

#[test]
fn stages_bases_and_aliases() {
    let file = ok("\
ARG REGISTRY=docker.io
ARG TAG
FROM --platform=$BUILDPLATFORM ${REGISTRY}/library/golang:${TAG:-1.23} AS Build
RUN go build
FROM build AS test
FROM scratch
COPY --from=build /out /
COPY --from=1 /x /y
FROM alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000
");
    assert_eq!(file.global_args.len(), 2);
    assert_eq!(file.global_args[1].value, None);
    let [build, test, scratch, alpine] = file.stages.as_slice() else {
        panic!("{:#?}", file.stages)
    };
    assert_eq!(build.name.as_deref(), Some("build"));
    assert_eq!(build.base.value, "docker.io/library/golang:1.23");
    assert_eq!(build.base.unset, vec!["TAG"]);
    assert_eq!(build.base.kind, BaseKind::Image);
    let platform = build.platform.as_ref().unwrap();
    assert_eq!(
        (platform.value.as_str(), platform.unset.as_slice()),
        ("", &["BUILDPLATFORM".to_string()][..])
    );
    assert_eq!(
        (test.base.kind, test.base.stage),
        (BaseKind::Stage, Some(0))
    );
    assert_eq!(scratch.base.kind, BaseKind::Scratch);
    assert_eq!(scratch.depends_on, vec![0, 1]);
    assert_eq!(
        alpine.base.image().unwrap().unwrap().name,
        "docker.io/library/alpine"
    );
    assert_eq!(file.final_stage().unwrap().index, 3);
    assert_eq!(file.stage_named("BUILD").unwrap().index, 0);
}

#[test]
fn build_args_and_platform_options() {
    let options = ParseOptions {
        build_args: BTreeMap::from([
            ("TAG".to_string(), "1.24".to_string()),
            ("UNDECLARED".to_string(), "x".to_string()),
        ]),
        platform: Some("linux/arm64".to_string()),
    };
    let file = parse_with(
        "ARG TAG=1.0\nFROM --platform=$BUILDPLATFORM golang:$TAG$UNDECLARED\nARG TAG\nARG TARGETARCH\nENV A=$TAG-$TARGETARCH\n",
        &options,
    );
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    let stage = &file.stages[0];
    assert_eq!(stage.base.value, "golang:1.24");
    assert_eq!(stage.base.unset, vec!["UNDECLARED"]);
    assert_eq!(stage.platform.as_ref().unwrap().value, "linux/arm64");
    assert!(file.global_args[0].from_build_arg);
    assert_eq!(stage.env[0].value, "1.24-arm64");
}

#[test]
fn final_user_is_inherited_from_the_parent_stage() {
    let file = ok("\
FROM alpine AS base
ARG UID=10001
USER ${UID}:app
FROM base AS child
RUN id
FROM child
USER root
FROM debian
ONBUILD USER nobody
");
    let user = file.stages[1].final_user.as_ref().unwrap();
    assert_eq!(
        (
            user.value.as_str(),
            user.user.as_str(),
            user.group.as_deref()
        ),
        ("10001:app", "10001", Some("app"))
    );
    assert_eq!((user.stage, user.line), (0, 3));
    assert!(file.stages[1].user.is_none());
    assert!(file.stages[2].final_user.as_ref().unwrap().is_root());
    assert!(
        file.stages[3].final_user.is_none(),
        "ONBUILD USER is for images built later"
    );
}

#[test]
fn env_forms_lines_and_substitution() {
    let file = ok("\
FROM alpine
ENV A=1 B=\"two words\" \\
    C=${A}-$B
ENV LEGACY some value
ENV PATH=$PATH:/opt/bin
FROM 0
");
    let env = &file.stages[0].env;
    let values: Vec<_> = env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_str(), e.line))
        .collect();
    assert_eq!(
        values,
        vec![
            ("A", "1", 2),
            ("B", "two words", 2),
            ("C", "1-two words", 2),
            ("LEGACY", "some value", 4),
            ("PATH", "$PATH:/opt/bin", 5),
        ]
    );
    assert_eq!(env[4].unset, vec!["PATH"]);
    assert_eq!(file.stages[0].instructions[0].end_line, 3);
    // `FROM 0` names an image, not stage 0: FROM refers to stages by name only.
    assert_eq!(file.stages[1].base.kind, BaseKind::Image);
    assert!(file.effective_env(1).is_empty());
}

#[test]
fn effective_env_follows_parent_stages() {
    let file = ok("FROM a AS one\nENV X=1 Y=1\nFROM one\nENV Y=2\n");
    let env = file.effective_env(1);
    assert_eq!(env["X"].value, "1");
    assert_eq!((env["Y"].value.as_str(), env["Y"].stage), ("2", 1));
}

#[test]
fn heredocs() {
    let file = ok("\
FROM alpine
RUN <<EOF bash
set -e
echo $HOME
EOF
COPY <<-'ONE' <<TWO /dest/
\tfirst
\tONE
second
TWO
RUN [\"echo\", \"<<NOT\"]
USER nobody
");
    let run = &file.stages[0].instructions[0];
    assert_eq!((run.line, run.end_line), (2, 5));
    assert_eq!(run.heredocs[0].content, "set -e\necho $HOME\n");
    assert!(run.heredocs[0].expand);
    let copy = &file.stages[0].instructions[1];
    assert_eq!((copy.line, copy.end_line), (6, 10));
    assert_eq!(copy.heredocs.len(), 2);
    assert_eq!(copy.heredocs[0].text(), "first\n");
    assert!(!copy.heredocs[0].expand);
    assert_eq!((copy.heredocs[1].line, copy.heredocs[1].end_line), (9, 10));
    let Command::Copy(c) = &copy.command else {
        panic!()
    };
    assert_eq!(c.heredoc_sources, vec!["ONE", "TWO"]);
    assert_eq!(c.dest, "/dest/");
    assert!(file.stages[0].instructions[2].heredocs.is_empty());
    assert_eq!(file.stages[0].user.as_ref().unwrap().line, 12);
}

#[test]
fn errors_name_lines_and_parsing_goes_on() {
    let file = parse(
        "\
FROM alpine
ENV ONLY
COPY --form=x a b
FROM a b
BOGUS thing
CMD [\"a\", 1]
RUN <<EOF
never closed
",
    );
    let lines: Vec<usize> = file.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7], "{:#?}", file.errors);
    assert!(file.errors.iter().all(|e| e.column == Some(1)));
    assert!(file.errors[2].to_string().starts_with("line 4:1: "));
    // `FROM a b` is malformed, so it starts no stage.
    assert_eq!(file.stages.len(), 1);
    assert_eq!(file.stages[0].instructions.len(), 6);
}

#[test]
fn misplaced_and_bad_references() {
    let file =
        parse("RUN x\nARG A\nFROM ${A:?required}\nFROM x\nCOPY --from=7 a b\nCOPY --from=$S a b\n");
    let messages: Vec<&str> = file.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(file.errors.len(), 4, "{messages:#?}");
    assert!(messages[0].contains("before the first FROM"));
    assert!(messages[1].contains("`A`: required"));
    assert!(messages[2].contains("invalid stage index 7"));
    assert!(messages[3].contains("variable expansion is not supported"));
}

#[test]
fn caps_hold() {
    let big = "#".repeat(MAX_DOCKERFILE_BYTES + 1);
    assert_eq!(parse(&big).errors.len(), 1);
    // Each ARG doubles the previous one: substitution stops at the budget.
    let mut text = String::from("ARG A0=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
    for i in 1..40 {
        text.push_str(&format!("ARG A{i}=${{A{}}}${{A{}}}\n", i - 1, i - 1));
    }
    text.push_str("FROM scratch\n");
    let file = parse(&text);
    assert!(!file.errors.is_empty());
    let total: usize = file
        .global_args
        .iter()
        .filter_map(|a| a.value.as_ref())
        .map(String::len)
        .sum();
    assert!(
        total <= MAX_EXPANSION_BYTES + shell::MAX_WORD_LEN,
        "{total}"
    );
    let nested = format!("FROM {}x{}\n", "${A:-".repeat(100), "}".repeat(100));
    assert!(!parse(&nested).errors.is_empty());
    let triggers = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(50));
    assert!(!parse(&triggers).errors.is_empty());
}

#[test]
fn line_numbers_with_crlf_bom_and_comments_in_continuations() {
    let file = ok("\u{feff}FROM a\r\nRUN a \\\r\n# comment\r\n\r\n  b\r\n  USER x\r\n");
    let run = &file.stages[0].instructions[0];
    assert_eq!(
        (run.line, run.end_line, run.args[0].as_str()),
        (2, 5, "a   b")
    );
    assert_eq!(file.empty_continuation_lines, vec![4]);
    assert_eq!(
        (
            file.stages[0].instructions[1].line,
            file.stages[0].instructions[1].column
        ),
        (6, 3)
    );
}

fn instruction_line() -> impl Strategy<Value = String> {
    let keyword = prop::sample::select(vec![
        "FROM",
        "RUN",
        "CMD",
        "ENTRYPOINT",
        "COPY",
        "ADD",
        "ENV",
        "ARG",
        "USER",
        "LABEL",
        "ONBUILD",
        "HEALTHCHECK",
        "SHELL",
        "WORKDIR",
        "EXPOSE",
        "VOLUME",
        "from",
        "# escape=`",
        "#",
    ]);
    let piece = prop::sample::select(vec![
        " ",
        "\\",
        "`",
        "\n",
        "\r\n",
        "\t",
        "\"",
        "'",
        "$",
        "${",
        "}",
        ":-",
        ":+",
        "#",
        "%",
        "/",
        "[",
        "]",
        ",",
        "=",
        "--",
        "--from=",
        "--mount=type=cache",
        "<<",
        "<<-",
        "EOF",
        "AS",
        "a",
        "b",
        "x y",
        "1",
        "é",
        "\u{feff}",
        "\u{a0}",
        "\0",
    ]);
    (keyword, prop::collection::vec(piece, 0..12))
        .prop_map(|(k, pieces)| format!("{k} {}", pieces.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn structured_garbage_never_panics_and_errors_have_lines(
        lines in prop::collection::vec(instruction_line(), 0..12)
    ) {
        let text = lines.join("\n");
        let line_count = text.split('\n').count().max(1);
        let file = parse(&text);
        for error in &file.errors {
            prop_assert!(error.line >= 1 && error.line <= line_count, "{error} of {line_count}");
            prop_assert!(error.end_line >= error.line && error.end_line <= line_count);
        }
        for instruction in file.instructions() {
            prop_assert!(instruction.line >= 1 && instruction.end_line <= line_count);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        let file = parse(&text);
        let line_count = text.split('\n').count().max(1);
        for error in &file.errors {
            prop_assert!(error.line >= 1 && error.line <= line_count);
        }
    }

    #[test]
    fn mutated_testfiles_never_panic(case in 0usize..33, cut in 0usize..2000, insert in "[ -~\\n\\\\`$]{0,8}") {
        let mut cases: Vec<_> = std::fs::read_dir(fixtures().join("testfiles")).unwrap()
            .map(|e| e.unwrap().path()).collect();
        cases.sort();
        let text = std::fs::read_to_string(cases[case % cases.len()].join("Dockerfile")).unwrap();
        let mut at = cut.min(text.len());
        while !text.is_char_boundary(at) { at -= 1; }
        let mutated = format!("{}{}{}", &text[..at], insert, &text[at..]);
        let line_count = mutated.split('\n').count().max(1);
        let file = parse(&mutated);
        for error in &file.errors {
            prop_assert!(error.line >= 1 && error.line <= line_count);
        }
    }
}

struct Vars(BTreeMap<String, String>);

impl shell::Env for Vars {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// BuildKit's `envVarTest`: `platform | input | expected value or "error"`, processed as one
/// word with PWD=/home, SHELL=bash, KOREAN=한국어 and NULL set (as its lexer test does).
#[test]
fn buildkit_shell_env_var_tests() {
    let text = std::fs::read_to_string(fixtures().join("shell/envVarTest")).unwrap();
    let vars = Vars(BTreeMap::from(
        [
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("KOREAN", "한국어"),
            ("NULL", ""),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    ));
    let mut checked = 0;
    let mut failures = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        let [platform, input, expected] = parts.as_slice() else {
            panic!("line {}: {line}", number + 1)
        };
        if platform.trim() == "W" {
            continue;
        }
        let (input, expected) = (input.trim(), expected.trim());
        let result = shell::process(shell::Lexer::new('\\'), input, &vars);
        let ok = match (&result, expected) {
            (Err(_), "error") => true,
            (Ok(p), expected) => p.value == expected,
            _ => false,
        };
        if !ok {
            failures.push(format!(
                "line {}: {input:?} -> {result:?}, want {expected:?}",
                number + 1
            ));
        }
        checked += 1;
    }
    assert!(checked > 200, "{checked}");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// BuildKit's `wordsTest`: `ENV name=value` lines set variables, others are
/// `input | word,word,…` (or `error`), the input split into words after substitution.
#[test]
fn buildkit_shell_words_tests() {
    let text = std::fs::read_to_string(fixtures().join("shell/wordsTest")).unwrap();
    let mut vars = Vars(BTreeMap::new());
    let mut checked = 0;
    for (number, line) in text.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Some(definition) = line.strip_prefix("ENV ") {
            let (name, value) = definition.trim_start_matches(' ').split_once('=').unwrap();
            vars.0.insert(name.to_string(), value.to_string());
            continue;
        }
        let (input, expected) = line.split_once('|').unwrap();
        let expected: Vec<&str> = expected.trim_start_matches(' ').split(',').collect();
        let words = match shell::process(shell::Lexer::new('\\'), input.trim(), &vars) {
            Ok(p) => p.words,
            Err(_) => vec!["error".to_string()],
        };
        assert_eq!(words, expected, "line {}: {input:?}", number + 1);
        checked += 1;
    }
    assert!(checked >= 20, "{checked}");
}

/// BuildKit's `testfile-line`: its parser test expects instructions on lines 5, 11–12 and
/// 17–31 (comments and empty lines inside a continuation count).
#[test]
fn buildkit_testfile_line_numbers() {
    let text = std::fs::read(fixtures().join("testfile-line/Dockerfile")).unwrap();
    let file = parse_bytes(&text, &ParseOptions::default());
    assert!(file.errors.is_empty(), "{:?}", file.errors);
    let lines: Vec<(usize, usize)> = file.instructions().map(|i| (i.line, i.end_line)).collect();
    assert_eq!(lines, vec![(5, 5), (11, 12), (17, 31)]);
    assert_eq!(file.empty_continuation_lines, vec![19, 20, 24, 27]);
}
