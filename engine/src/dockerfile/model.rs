//! Instructions -> stages: global and per-stage `ARG` scopes with build args, `FROM`
//! substitution, bases resolved to images, earlier stages or `scratch`, `ENV`/`USER` values,
//! `COPY --from` references, and each stage's final user.

use std::collections::BTreeMap;

use super::shell::{self, Lexer, Processed};
use super::syntax::Scanned;
use super::{
    ArgDef, Base, BaseKind, Command, Dockerfile, DockerfileError, EnvDef, ErrorKind, Instruction,
    MAX_EXPANSION_BYTES, ParseOptions, Stage, UserDef, Word, commands,
};

/// Variables by name; later definitions replace earlier ones.
#[derive(Debug, Clone, Default)]
struct Vars(BTreeMap<String, String>);

impl shell::Env for Vars {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The automatic platform `ARG`s for `os/arch[/variant]`.
fn platform_args(platform: &str) -> Vec<(String, String)> {
    let mut parts = platform.splitn(3, '/');
    let os = parts.next().unwrap_or_default().to_string();
    let arch = parts.next().unwrap_or_default().to_string();
    let variant = parts.next().unwrap_or_default().to_string();
    let mut out = Vec::new();
    for prefix in ["TARGET", "BUILD"] {
        out.push((format!("{prefix}PLATFORM"), platform.to_string()));
        out.push((format!("{prefix}OS"), os.clone()));
        out.push((format!("{prefix}ARCH"), arch.clone()));
        out.push((format!("{prefix}VARIANT"), variant.clone()));
    }
    out
}

fn is_automatic_platform_arg(name: &str) -> bool {
    platform_args("").iter().any(|(n, _)| n == name)
}

struct Builder<'a> {
    options: &'a ParseOptions,
    escape: char,
    errors: Vec<DockerfileError>,
    /// Bytes substitution may still produce.
    budget: usize,
    budget_reported: bool,
}

impl Builder<'_> {
    fn error(&mut self, instruction: &Instruction, message: String) {
        self.error_of(ErrorKind::Build, instruction, message);
    }

    fn error_of(&mut self, kind: ErrorKind, instruction: &Instruction, message: String) {
        self.errors.push(DockerfileError {
            kind,
            line: instruction.line,
            end_line: instruction.end_line,
            column: Some(instruction.column),
            message,
        });
    }

    /// Substitutes `text`. `keep_unset`: leave undefined variables as written (stage scope,
    /// where the base image may define them) instead of making them "" (global scope).
    fn expand(
        &mut self,
        instruction: &Instruction,
        text: &str,
        vars: &Vars,
        keep_unset: bool,
    ) -> Word {
        let unexpanded = || Word {
            raw: text.to_string(),
            value: text.to_string(),
            unset: Vec::new(),
        };
        if self.budget < text.len() {
            if !self.budget_reported {
                self.budget_reported = true;
                self.error(
                    instruction,
                    format!(
                        "variable substitution stopped: the file expands to more than {} MiB",
                        MAX_EXPANSION_BYTES >> 20
                    ),
                );
            }
            return unexpanded();
        }
        let lexer = Lexer {
            skip_unset: keep_unset,
            ..Lexer::new(self.escape)
        };
        match shell::process(lexer, text, vars) {
            Ok(Processed { value, unset, .. }) => {
                self.budget = self.budget.saturating_sub(value.len().max(text.len()));
                Word {
                    raw: text.to_string(),
                    value,
                    unset: unset.into_iter().collect(),
                }
            }
            Err(message) => {
                self.error(instruction, format!("in `{}`: {message}", excerpt(text)));
                unexpanded()
            }
        }
    }
}

impl Builder<'_> {
    /// `text` with quotes and escapes processed and the variables of `vars` substituted
    /// (others left as written); the text as written when it does not process. No error:
    /// BuildKit finds those when the instruction runs, and the parser reports what it must.
    fn substitute_quietly(&mut self, text: &str, vars: &Vars) -> String {
        if self.budget < text.len() {
            return text.to_string();
        }
        let lexer = Lexer {
            skip_unset: true,
            ..Lexer::new(self.escape)
        };
        match shell::process(lexer, text, vars) {
            Ok(Processed { value, .. }) => {
                self.budget = self.budget.saturating_sub(value.len().max(text.len()));
                value
            }
            Err(_) => text.to_string(),
        }
    }

    /// `text` with quotes and escapes processed and every variable left as written; the
    /// text as written when it does not process.
    fn literal(&mut self, text: &str) -> String {
        self.substitute_quietly(text, &Vars::default())
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let mut out: String = text.chars().take(MAX).collect();
    out.push('…');
    out
}

/// Per-stage state while building.
struct Scope {
    /// ENV and ARG values, for substitution.
    vars: Vars,
    /// ENV values only (what a stage built on this one inherits).
    env: Vars,
}

pub(crate) fn build(scanned: Scanned, options: &ParseOptions) -> Dockerfile {
    let Scanned {
        directives,
        escape,
        instructions,
        parsed,
        errors,
        empty_continuation_lines,
    } = scanned;
    let mut b = Builder {
        options,
        escape,
        errors,
        budget: MAX_EXPANSION_BYTES,
        budget_reported: false,
    };
    let mut file = Dockerfile {
        directives,
        escape,
        empty_continuation_lines,
        ..Dockerfile::default()
    };
    let mut global = Vars::default();
    if let Some(platform) = &options.platform {
        global.0.extend(platform_args(platform));
    }
    let mut scopes: Vec<Scope> = Vec::new();
    for (mut instruction, parsed) in instructions.into_iter().zip(parsed) {
        if parsed {
            type_check(&mut b, &mut instruction);
            if let Some(trigger) = instruction.trigger.as_deref_mut() {
                let (line, end_line, column) =
                    (instruction.line, instruction.end_line, instruction.column);
                trigger.line = line;
                trigger.end_line = end_line;
                trigger.column = column;
                type_check(&mut b, trigger);
            }
        }
        let command = instruction.command.clone();
        match (command, file.stages.last_mut()) {
            (Command::From(from), _) => {
                let index = file.stages.len();
                let base = resolve_base(&mut b, &instruction, &from.image, &global, &file.stages);
                let platform = from
                    .platform
                    .as_deref()
                    .map(|p| b.expand(&instruction, p, &global, false));
                // Without ParseOptions::platform the automatic platform ARGs are unknown,
                // not wrong: `--platform=$BUILDPLATFORM` is no error then.
                if let Some(p) = &platform
                    && p.value.is_empty()
                    && !p.unset.iter().any(|n| is_automatic_platform_arg(n))
                {
                    b.error(
                        &instruction,
                        format!("empty platform value from `{}`", p.raw),
                    );
                }
                let (vars, env) = match base.stage {
                    Some(parent) => (scopes[parent].env.clone(), scopes[parent].env.clone()),
                    None => (Vars::default(), Vars::default()),
                };
                scopes.push(Scope { vars, env });
                file.stages.push(Stage {
                    index,
                    name: from.alias.clone(),
                    from: instruction,
                    base,
                    platform,
                    ..Stage::default()
                });
            }
            (Command::Arg(decls), None) => {
                for decl in decls {
                    let build_arg = options.build_args.get(&decl.name);
                    let value = match (build_arg, &decl.default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(default)) => {
                            Some(b.expand(&instruction, default, &global, false).value)
                        }
                        (None, None) => None,
                    };
                    if let Some(v) = &value {
                        global.0.insert(decl.name.clone(), v.clone());
                    }
                    let default_literal = decl.default.as_deref().map(|d| b.literal(d));
                    file.global_args.push(ArgDef {
                        name: decl.name,
                        default: decl.default,
                        default_literal,
                        value,
                        from_build_arg: build_arg.is_some(),
                        line: instruction.line,
                        column: instruction.column,
                    });
                }
                file.preamble.push(instruction);
            }
            (Command::Invalid | Command::Unknown, None) => file.preamble.push(instruction),
            (_, None) => {
                b.error(
                    &instruction,
                    format!(
                        "{} before the first FROM: only ARG may come before FROM",
                        instruction.keyword
                    ),
                );
                file.preamble.push(instruction);
            }
            (command, Some(stage)) => {
                let scope = scopes.last_mut().expect("a scope per stage");
                stage_instruction(&mut b, stage, scope, &global, &command, &instruction);
                // What COPY and ADD name is substituted when they run; rules about sources
                // (a pinned commit in an ARG) need the value, not the variable.
                if matches!(command, Command::Copy(_) | Command::Add(_)) && !instruction.json {
                    let words = instruction
                        .args
                        .iter()
                        .map(|arg| b.substitute_quietly(arg, &scope.vars))
                        .collect();
                    instruction.words = words;
                }
                stage.instructions.push(instruction);
            }
        }
    }
    resolve_stage_references(&mut b, &mut file.stages);
    for i in 0..file.stages.len() {
        let inherited = match file.stages[i].base.stage {
            Some(parent) if parent < i => file.stages[parent].final_user.clone(),
            _ => None,
        };
        let stage = &mut file.stages[i];
        stage.final_user = stage.user.clone().or(inherited);
    }
    file.errors = b.errors;
    file.errors.sort_by_key(|e| (e.line, e.column));
    file
}

/// Fills in the typed command; a failure is an error and leaves [`Command::Invalid`].
fn type_check(b: &mut Builder, instruction: &mut Instruction) {
    match commands::command(instruction) {
        Ok(command) => instruction.command = command,
        Err(message) => {
            if instruction.command != Command::Unknown {
                instruction.command = Command::Invalid;
            }
            b.error_of(ErrorKind::Instruction, instruction, message);
        }
    }
}

fn resolve_base(
    b: &mut Builder,
    instruction: &Instruction,
    image: &str,
    global: &Vars,
    stages: &[Stage],
) -> Base {
    let word = b.expand(instruction, image, global, false);
    let (kind, stage) = if word.value.is_empty() {
        // BuildKit's words; which variables lack a value is what the user needs to know.
        let why = match word.unset.as_slice() {
            [] => String::new(),
            names => format!(
                ": {} no value (give the ARG a default, or pass {})",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if names.len() == 1 { " has" } else { " have" },
                names
                    .iter()
                    .map(|n| format!("`--build-arg {n}=…`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        };
        b.error(
            instruction,
            format!("base name `{image}` should not be blank{why}"),
        );
        (BaseKind::Blank, None)
    } else if let Some(parent) = stages
        .iter()
        .rev()
        .find(|s| s.name.as_deref() == Some(word.value.as_str()))
    {
        (BaseKind::Stage, Some(parent.index))
    } else if word.value == "scratch" {
        (BaseKind::Scratch, None)
    } else {
        (BaseKind::Image, None)
    };
    Base {
        raw: word.raw,
        value: word.value,
        unset: word.unset,
        kind,
        stage,
    }
}

fn stage_instruction(
    b: &mut Builder,
    stage: &mut Stage,
    scope: &mut Scope,
    global: &Vars,
    command: &Command,
    instruction: &Instruction,
) {
    match command {
        Command::Arg(decls) => {
            for decl in decls {
                let build_arg = b.options.build_args.get(&decl.name);
                let value = match (build_arg, &decl.default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(default)) => {
                        Some(b.expand(instruction, default, &scope.vars, true).value)
                    }
                    (None, None) => shell::Env::get(global, &decl.name).map(str::to_string),
                };
                if let Some(v) = &value {
                    scope.vars.0.insert(decl.name.clone(), v.clone());
                }
                let default_literal = decl.default.as_deref().map(|d| b.literal(d));
                stage.args.push(ArgDef {
                    name: decl.name.clone(),
                    default: decl.default.clone(),
                    default_literal,
                    value,
                    from_build_arg: build_arg.is_some(),
                    line: instruction.line,
                    column: instruction.column,
                });
            }
        }
        Command::Env(pairs) => {
            for pair in pairs {
                let word = b.expand(instruction, &pair.value, &scope.vars, true);
                let literal = b.literal(&pair.value);
                scope.vars.0.insert(pair.key.clone(), word.value.clone());
                scope.env.0.insert(pair.key.clone(), word.value.clone());
                stage.env.push(EnvDef {
                    name: pair.key.clone(),
                    raw: word.raw,
                    value: word.value,
                    unset: word.unset,
                    literal,
                    stage: stage.index,
                    line: instruction.line,
                    column: instruction.column,
                });
            }
        }
        Command::User(user) => {
            let word = b.expand(instruction, user, &scope.vars, true);
            let (name, group) = match word.value.split_once(':') {
                Some((u, g)) => (u.to_string(), Some(g.to_string())),
                None => (word.value.clone(), None),
            };
            stage.user = Some(UserDef {
                raw: word.raw,
                value: word.value,
                user: name,
                group,
                unset: word.unset,
                stage: stage.index,
                line: instruction.line,
                column: instruction.column,
            });
        }
        _ => {}
    }
}

/// `COPY --from=` and `RUN --mount=…,from=…` to stage indexes; stage names may refer to
/// any stage of the file, numbers to a stage index.
fn resolve_stage_references(b: &mut Builder, stages: &mut [Stage]) {
    let names: Vec<(usize, Option<String>)> =
        stages.iter().map(|s| (s.index, s.name.clone())).collect();
    let count = stages.len();
    let find = |reference: &str| -> Result<Option<usize>, String> {
        if let Ok(index) = reference.parse::<usize>() {
            return if index < count {
                Ok(Some(index))
            } else {
                Err(format!(
                    "invalid stage index {index}: the file has {count} stage(s)"
                ))
            };
        }
        let lower = reference.to_ascii_lowercase();
        Ok(names
            .iter()
            .rev()
            .find(|(_, n)| n.as_deref() == Some(lower.as_str()))
            .map(|(i, _)| *i))
    };
    for stage in stages.iter_mut() {
        let mut depends = Vec::new();
        for instruction in &mut stage.instructions {
            let mut message = None;
            match &mut instruction.command {
                Command::Copy(copy) => {
                    if let Some(from) = &copy.from {
                        if from.contains('$') {
                            message = Some(
                                "variable expansion is not supported for `--from`; define a stage with FROM and a global ARG instead"
                                    .to_string(),
                            );
                        } else {
                            match find(from) {
                                Ok(found) => {
                                    copy.from_stage = found;
                                    depends.extend(found);
                                }
                                Err(e) => message = Some(e),
                            }
                        }
                    }
                }
                Command::Run(run) => {
                    for mount in &run.mounts {
                        let from = mount
                            .split(',')
                            .filter_map(|kv| kv.split_once('='))
                            .find(|(k, _)| k.trim().eq_ignore_ascii_case("from"))
                            .map(|(_, v)| v.trim());
                        if let Some(from) = from
                            && let Ok(Some(found)) = find(from)
                        {
                            depends.push(found);
                        }
                    }
                }
                _ => {}
            }
            if let Some(message) = message {
                b.error(instruction, message);
            }
        }
        depends.sort_unstable();
        depends.dedup();
        stage.depends_on = depends;
    }
}
