//! Dockerfiles: a parser following BuildKit's grammar, and a typed model of the build
//! (stages, their bases, the final `USER`, `ENV` and `ARG` definitions, each with its lines)
//! for rules about how images are built.
//!
//! | module | what it does |
//! |---|---|
//! | `syntax` | text -> [`Instruction`]s: `# syntax=`/`# escape=` directives, comments, line continuations, heredoc bodies, argument forms (JSON/shell, flags, `key=value`) |
//! | `commands` | an instruction's arguments -> its typed [`Command`], flag and arity checks |
//! | `shell` | quotes, escapes and variable substitution (`$VAR`, `${VAR:-default}`, …) |
//! | `model` | instructions -> [`Stage`]s: `ARG` scopes, build args, bases resolved to images, earlier stages or `scratch`, the effective `USER` |
//!
//! Written from BuildKit's documentation and its parser test files (which the tests run),
//! not from its code. Input is untrusted: the size is capped ([`MAX_DOCKERFILE_BYTES`]),
//! substitution is bounded in depth, length and total output, and nothing panics. A
//! malformed instruction is an error naming its line; the others are still parsed.
//!
//! ```
//! use portcullis_engine::dockerfile::{self, BaseKind};
//!
//! let file = dockerfile::parse(
//!     "ARG GO=1.23\nFROM golang:${GO} AS build\nRUN go build -o /app .\n\
//!      FROM gcr.io/distroless/static\nCOPY --from=build /app /app\nUSER nonroot\n",
//! );
//! assert!(file.errors.is_empty());
//! assert_eq!(file.stages[0].base.value, "golang:1.23");
//! assert_eq!(file.stages[1].base.kind, BaseKind::Image);
//! assert_eq!(file.final_stage().unwrap().final_user.as_ref().unwrap().value, "nonroot");
//! ```

mod commands;
mod model;
mod shell;
mod syntax;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::image::{ImageRef, ImageRefError};

pub use commands::{
    Add, ArgDecl, CommandLine, Copy, From, Healthcheck, HealthcheckCmd, KeyValue, Run,
};

/// Bigger files are refused. Real Dockerfiles are a few KiB; the largest of a 400-file
/// corpus of public ones is under 40 KiB.
pub const MAX_DOCKERFILE_BYTES: usize = 1024 * 1024;
/// Total bytes variable substitution may produce for one file.
pub const MAX_EXPANSION_BYTES: usize = 4 * 1024 * 1024;

/// What the caller knows about the build.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseOptions {
    /// `--build-arg NAME=VALUE`: values for declared `ARG`s.
    pub build_args: BTreeMap<String, String>,
    /// The target platform (`linux/amd64`, `linux/arm64/v8`); when given, BuildKit's
    /// automatic `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT` and the
    /// `BUILD…` equivalents are defined in the global scope. When not, they are unset and
    /// show up in the `unset` lists of the words that use them.
    pub platform: Option<String>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Dockerfile {
    /// `# syntax=`, `# escape=`, `# check=` at the top of the file.
    pub directives: Vec<Directive>,
    /// The escape character (`\` unless `# escape=` says `` ` ``).
    pub escape: char,
    /// Instructions before the first `FROM` (global `ARG`s, and anything misplaced).
    pub preamble: Vec<Instruction>,
    /// `ARG`s of the global scope (before the first `FROM`), usable in `FROM` lines.
    pub global_args: Vec<ArgDef>,
    /// One per `FROM`, in file order (the last is built by default).
    pub stages: Vec<Stage>,
    /// Malformed instructions and other problems, in line order.
    pub errors: Vec<DockerfileError>,
    /// Empty lines inside a continuation (BuildKit warns about them), 1-based.
    pub empty_continuation_lines: Vec<usize>,
}

impl Dockerfile {
    /// The stage built when no `--target` is given.
    pub fn final_stage(&self) -> Option<&Stage> {
        self.stages.last()
    }

    /// The stage a `--target` names (stage names are case-insensitive).
    pub fn stage_named(&self, name: &str) -> Option<&Stage> {
        let name = name.to_ascii_lowercase();
        self.stages
            .iter()
            .rev()
            .find(|s| s.name.as_deref() == Some(name.as_str()))
    }

    /// Every instruction in file order (the `FROM` of each stage included).
    pub fn instructions(&self) -> impl Iterator<Item = &Instruction> {
        self.preamble.iter().chain(
            self.stages
                .iter()
                .flat_map(|s| std::iter::once(&s.from).chain(&s.instructions)),
        )
    }

    /// `ENV` in effect at the end of `stage`: its own definitions over those of the
    /// stages it is built on (not those of a base image, which the file does not show).
    pub fn effective_env(&self, stage: usize) -> BTreeMap<&str, &EnvDef> {
        let mut chain = Vec::new();
        let mut current = self.stages.get(stage);
        while let Some(s) = current {
            chain.push(s);
            current = match s.base.stage {
                Some(parent) if parent < s.index => self.stages.get(parent),
                _ => None,
            };
        }
        let mut env = BTreeMap::new();
        for s in chain.iter().rev() {
            for def in &s.env {
                env.insert(def.name.as_str(), def);
            }
        }
        env
    }
}

/// A parser directive (`# syntax=docker/dockerfile:1`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// Lower case: `syntax`, `escape` or `check`.
    pub name: String,
    /// What follows `=`, surrounding white space removed.
    pub value: String,
    /// Line number (1-based).
    pub line: usize,
}

/// One instruction as written: BuildKit's view of its arguments plus its typed meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Instruction {
    /// Upper case (`RUN`), whatever the spelling in the file.
    pub keyword: String,
    /// First line (1-based): the one with the keyword.
    pub line: usize,
    /// Last line (1-based), continuation and heredoc lines included.
    pub end_line: usize,
    /// Column (1-based, in characters) of the keyword on its first line.
    pub column: usize,
    /// The instruction with its continuation lines joined (heredoc bodies not included).
    pub original: String,
    /// Leading `--name[=value]` flags, quotes and escapes processed.
    pub flags: Vec<String>,
    /// Arguments as BuildKit's parser gives them: the strings of a JSON array; the whole
    /// rest of the line for shell-form RUN/CMD/ENTRYPOINT/SHELL and single-value
    /// instructions; white-space separated words for FROM/COPY/ADD/EXPOSE/VOLUME/ARG;
    /// (name, value, separator) triples for ENV and LABEL.
    pub args: Vec<String>,
    /// Exec (JSON array) form.
    pub json: bool,
    /// Heredocs the instruction opens, in order, with their bodies (shell-form RUN, COPY
    /// and ADD only). For `ONBUILD` they are here, not on the [`trigger`](Self::trigger).
    pub heredocs: Vec<Heredoc>,
    /// For shell-form `COPY` and `ADD` in a stage: the arguments with quotes removed and the
    /// stage's `ARG`s and `ENV`s substituted (variables without a value left as written),
    /// as the instruction will see them. Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<String>,
    /// The instruction an `ONBUILD` registers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Box<Instruction>>,
    /// The typed meaning; [`Command::Invalid`] or [`Command::Unknown`] when the
    /// instruction is wrong (the error is in [`Dockerfile::errors`]).
    pub command: Command,
}

impl Instruction {
    /// The value of `--name=value` (the last one when repeated); `Some("")` for a bare `--name`.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().rev().find_map(|f| {
            let f = f.strip_prefix("--")?;
            match f.split_once('=') {
                Some((n, v)) if n == name => Some(v),
                None if f == name => Some(""),
                _ => None,
            }
        })
    }
}

/// A heredoc (`<<EOF` … `EOF`) of RUN, COPY or ADD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The terminator word, quotes removed (`EOF` for `<<'EOF'`).
    pub name: String,
    /// The file descriptor in `3<<EOF` (0 when none).
    pub fd: u32,
    /// `<<-`: leading tabs are removed from the body and the terminator.
    pub chomp: bool,
    /// False when any part of the name is quoted: variables in the body stay as written.
    pub expand: bool,
    /// The body as written, line endings included.
    pub content: String,
    /// First line of the body (1-based).
    pub line: usize,
    /// Line of the terminator (1-based); for an unterminated heredoc, the file's last line.
    pub end_line: usize,
}

impl Heredoc {
    /// The body with leading tabs removed for `<<-`.
    pub fn text(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// What an instruction does, with its arguments checked.
///
/// Values are as written: variables are not substituted here (a [`Stage`] holds the
/// substituted `ARG`, `ENV` and `USER` values).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// `FROM`.
    From(From),
    /// `ARG`: one or more names, each with an optional default.
    Arg(Vec<ArgDecl>),
    /// `ENV`: one or more variables.
    Env(Vec<KeyValue>),
    /// `LABEL`: one or more image labels.
    Label(Vec<KeyValue>),
    /// `RUN`.
    Run(Run),
    /// `CMD`: the container's default command (or the arguments of the `ENTRYPOINT`).
    Cmd(CommandLine),
    /// `ENTRYPOINT`: what the container runs.
    Entrypoint(CommandLine),
    /// `SHELL`: the program and arguments that run later shell-form commands (JSON form
    /// only, e.g. `["/bin/bash", "-c"]`).
    Shell(Vec<String>),
    /// `COPY`.
    Copy(Copy),
    /// `ADD`.
    Add(Add),
    /// `USER`: `user[:group]` (substituted in [`Stage::user`]).
    User(String),
    /// `WORKDIR`: the working directory for the instructions after it and the container.
    Workdir(String),
    /// `EXPOSE`: `port[/protocol]` words.
    Expose(Vec<String>),
    /// `VOLUME`: mount-point paths, surrounding white space removed.
    Volume(Vec<String>),
    /// `STOPSIGNAL`: the signal, by name (`SIGTERM`) or number.
    StopSignal(String),
    /// `MAINTAINER` (deprecated): the rest of the line.
    Maintainer(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// See [`Instruction::trigger`].
    Onbuild,
    /// An instruction BuildKit does not know (an error).
    Unknown,
    /// Malformed; the error is in [`Dockerfile::errors`].
    #[default]
    Invalid,
}

/// A build stage: a `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stage {
    /// Position among the stages (what `COPY --from=0` refers to).
    pub index: usize,
    /// The `AS` name, lower case.
    pub name: Option<String>,
    /// The `FROM` instruction itself.
    pub from: Instruction,
    /// What `FROM` names, resolved.
    pub base: Base,
    /// `--platform`, substituted.
    pub platform: Option<Word>,
    /// The instructions after `FROM`.
    pub instructions: Vec<Instruction>,
    /// `ARG`s of this stage.
    pub args: Vec<ArgDef>,
    /// `ENV` definitions of this stage (not inherited ones: see [`Dockerfile::effective_env`]).
    pub env: Vec<EnvDef>,
    /// The last `USER` of this stage.
    pub user: Option<UserDef>,
    /// The user the stage's image runs as: its own last `USER`, else that of the stage it
    /// is built on. `None` means the base image's user (often root), which the file does
    /// not show.
    pub final_user: Option<UserDef>,
    /// Stages this one copies from (`COPY --from`, `RUN --mount=from=`), by index.
    pub depends_on: Vec<usize>,
}

/// What a stage is built on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Base {
    /// As written in `FROM`.
    pub raw: String,
    /// After substituting global `ARG`s and build args.
    pub value: String,
    /// Variables the substitution found no value for (they became "").
    pub unset: Vec<String>,
    /// An image, an earlier stage, `scratch` or nothing.
    pub kind: BaseKind,
    /// The stage built on, for [`BaseKind::Stage`].
    pub stage: Option<usize>,
}

impl Base {
    /// The image reference parsed and normalized, for [`BaseKind::Image`].
    pub fn image(&self) -> Option<Result<ImageRef, ImageRefError>> {
        (self.kind == BaseKind::Image).then(|| ImageRef::parse(&self.value))
    }
}

/// The kind of [`Base`], decided on the substituted value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseKind {
    /// An image reference (not checked here; see [`Base::image`]).
    #[default]
    Image,
    /// An earlier stage of this file.
    Stage,
    /// `scratch`: an empty file system.
    Scratch,
    /// The substitution left nothing (an error).
    Blank,
}

/// A substituted word.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Word {
    /// As written.
    pub raw: String,
    /// Quotes and escapes processed, variables substituted.
    pub value: String,
    /// Variables referred to that have no value.
    pub unset: Vec<String>,
}

/// An `ARG` definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ArgDef {
    /// The variable's name.
    pub name: String,
    /// The default as written (quotes included), if any.
    pub default: Option<String>,
    /// The default with quotes and escapes processed but variables left as written: what
    /// the line itself says (credential checks judge this, not a value from elsewhere).
    pub default_literal: Option<String>,
    /// The value in effect: a build arg, else the substituted default, else (in a stage)
    /// the global `ARG` of the same name. `None`: no value.
    pub value: Option<String>,
    /// The value came from `ParseOptions::build_args`.
    pub from_build_arg: bool,
    /// Line of the `ARG` instruction (1-based).
    pub line: usize,
    /// Column of the `ARG` keyword (1-based, in characters).
    pub column: usize,
}

/// An `ENV` definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EnvDef {
    /// The variable's name, as written.
    pub name: String,
    /// As written (quotes included).
    pub raw: String,
    /// Quotes removed, variables defined in the file substituted; variables the file does
    /// not define (perhaps set by the base image) are left as written and listed in `unset`.
    pub value: String,
    /// Variables referred to that the file does not define.
    pub unset: Vec<String>,
    /// Quotes and escapes processed, variables left as written: what the line itself says
    /// (credential checks judge this, so a value defined once is reported once).
    pub literal: String,
    /// The stage that defines it.
    pub stage: usize,
    /// Line of the `ENV` instruction (1-based).
    pub line: usize,
    /// Column of the `ENV` keyword (1-based, in characters).
    pub column: usize,
}

/// A `USER` instruction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UserDef {
    /// As written.
    pub raw: String,
    /// Substituted like [`EnvDef::value`].
    pub value: String,
    /// The part before `:`.
    pub user: String,
    /// The part after `:`, if any.
    pub group: Option<String>,
    /// Variables referred to that the file does not define.
    pub unset: Vec<String>,
    /// The stage the instruction is in (an earlier one when inherited).
    pub stage: usize,
    /// Line of the `USER` instruction (1-based), in [`stage`](Self::stage).
    pub line: usize,
    /// Column of the `USER` keyword (1-based, in characters).
    pub column: usize,
}

impl UserDef {
    /// `root`, `0`, `root:…` or `0:…`.
    pub fn is_root(&self) -> bool {
        matches!(self.user.as_str(), "root" | "0")
    }
}

/// A problem in a Dockerfile, with where it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DockerfileError {
    /// Which step finds it.
    pub kind: ErrorKind,
    /// First line (1-based) of the instruction or line at fault.
    pub line: usize,
    /// Last line (1-based): the same as `line` unless an instruction spans several.
    pub end_line: usize,
    /// Column of the instruction's keyword (1-based, in characters); `None` when the
    /// problem is a line or the file rather than an instruction (a directive, an
    /// over-long line, the file's size, no instructions).
    pub column: Option<usize>,
    /// What is wrong, without the position.
    pub message: String,
}

/// Which step finds the problem, as BuildKit would.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// BuildKit's parser rejects the file (`docker build` fails before anything else).
    #[default]
    Syntax,
    /// An instruction's flags or arguments are wrong.
    Instruction,
    /// Stages, variables or references do not work out (substitution errors, a blank
    /// base, `COPY --from` an unknown stage index, instructions before `FROM`).
    Build,
}

impl DockerfileError {
    pub(crate) fn at(line: usize, message: String) -> DockerfileError {
        DockerfileError {
            kind: ErrorKind::Syntax,
            line,
            end_line: line,
            column: None,
            message,
        }
    }
}

impl fmt::Display for DockerfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}:{}: {}", self.line, column, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl std::error::Error for DockerfileError {}

/// Parses a Dockerfile with no build args.
pub fn parse(text: &str) -> Dockerfile {
    parse_with(text, &ParseOptions::default())
}

/// Parses a Dockerfile.
pub fn parse_with(text: &str, options: &ParseOptions) -> Dockerfile {
    if text.len() > MAX_DOCKERFILE_BYTES {
        return too_big(text.len());
    }
    model::build(syntax::scan(text), options)
}

/// Parses a Dockerfile read as bytes (invalid UTF-8 is replaced, as a lossy read would).
pub fn parse_bytes(bytes: &[u8], options: &ParseOptions) -> Dockerfile {
    if bytes.len() > MAX_DOCKERFILE_BYTES {
        return too_big(bytes.len());
    }
    parse_with(&String::from_utf8_lossy(bytes), options)
}

fn too_big(len: usize) -> Dockerfile {
    Dockerfile {
        escape: '\\',
        errors: vec![DockerfileError::at(
            1,
            format!(
                "the file has {len} bytes; Dockerfiles over {} KiB are not read",
                MAX_DOCKERFILE_BYTES / 1024
            ),
        )],
        ..Dockerfile::default()
    }
}
