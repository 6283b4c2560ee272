//! An instruction's arguments -> its typed [`Command`]: which flags it takes, how many
//! arguments, what they mean. Variables are not substituted here (see `model`).

use serde::Serialize;

use super::syntax::heredoc_word;
use super::{Command, Instruction};

/// `FROM [--platform=…] image [AS name]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct From {
    /// As written, before substitution.
    pub image: String,
    /// `--platform`: the platform to use the base image for (`linux/arm64`), before
    /// substitution.
    pub platform: Option<String>,
    /// The `AS` name, lower case.
    pub alias: Option<String>,
}

/// One name of an `ARG` (`ARG a b=1`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    /// The variable's name.
    pub name: String,
    /// As written, quotes included.
    pub default: Option<String>,
}

/// One pair of `ENV` or `LABEL`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// The variable or label name, as written (quotes included).
    pub key: String,
    /// As written, quotes included.
    pub value: String,
    /// The legacy `ENV name value` form.
    pub legacy: bool,
}

/// The command of RUN, CMD, ENTRYPOINT and HEALTHCHECK CMD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "form", content = "args", rename_all = "snake_case")]
pub enum CommandLine {
    /// `["executable", "arg"]`: no shell.
    Exec(Vec<String>),
    /// Run by the stage's `SHELL` (`/bin/sh -c` by default).
    Shell(String),
}

impl Default for CommandLine {
    fn default() -> Self {
        CommandLine::Shell(String::new())
    }
}

/// `RUN [flags] command`: a command run while building.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Run {
    /// What to run.
    pub command: CommandLine,
    /// `--mount=…` values, as written.
    pub mounts: Vec<String>,
    /// `--network`: `default`, `none` or `host`.
    pub network: Option<String>,
    /// `--security`: `sandbox` or `insecure`.
    pub security: Option<String>,
    /// `--device=…` values, as written: devices made available to the command.
    pub devices: Vec<String>,
}

/// `COPY [flags] source… dest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Copy {
    /// Paths (heredoc sources are in `heredoc_sources`).
    pub sources: Vec<String>,
    /// Names of heredocs used as sources (their bodies are in [`Instruction::heredocs`]).
    pub heredoc_sources: Vec<String>,
    /// The destination path.
    pub dest: String,
    /// `--from`: a stage name, a stage index or an image.
    pub from: Option<String>,
    /// The stage `--from` refers to, when it is one.
    pub from_stage: Option<usize>,
    /// `--chown=user[:group]`: the owner of the copied files.
    pub chown: Option<String>,
    /// `--chmod`: the permissions of the copied files.
    pub chmod: Option<String>,
    /// `--link`: the files go into a layer of their own, independent of the layers before.
    pub link: bool,
    /// `--parents`: each source keeps its parent directories under the destination.
    pub parents: bool,
    /// `--exclude=…` patterns: source paths to leave out.
    pub exclude: Vec<String>,
}

/// `ADD [flags] source… dest`: like `COPY`, but a source may also be a URL or a Git
/// repository, and local archives are extracted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Add {
    /// Paths and URLs (heredoc sources are in `heredoc_sources`).
    pub sources: Vec<String>,
    /// Names of heredocs used as sources (their bodies are in [`Instruction::heredocs`]).
    pub heredoc_sources: Vec<String>,
    /// The destination path.
    pub dest: String,
    /// `--chown=user[:group]`: the owner of the added files.
    pub chown: Option<String>,
    /// `--chmod`: the permissions of the added files.
    pub chmod: Option<String>,
    /// `--checksum`: what a remote source must hash to.
    pub checksum: Option<String>,
    /// `--keep-git-dir`: keep the `.git` directory of a Git source; `None` when not given.
    pub keep_git_dir: Option<bool>,
    /// `--unpack`: whether to extract an archive source (without it, local archives are
    /// extracted and remote ones are not); `None` when not given.
    pub unpack: Option<bool>,
    /// `--link`: the files go into a layer of their own, independent of the layers before.
    pub link: bool,
    /// `--exclude=…` patterns: source paths to leave out.
    pub exclude: Vec<String>,
}

/// `HEALTHCHECK`: how the container tells whether it is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: turns off a health check inherited from the base image.
    None,
    /// `HEALTHCHECK [flags] CMD command`.
    Cmd(HealthcheckCmd),
}

/// `HEALTHCHECK [flags] CMD command`. Flag values are as written (durations like `30s`),
/// not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HealthcheckCmd {
    /// The check: exit status 0 means healthy.
    pub command: CommandLine,
    /// `--interval`: time between checks (default: 30s).
    pub interval: Option<String>,
    /// `--timeout`: how long one check may run before it counts as failed (default: 30s).
    pub timeout: Option<String>,
    /// `--start-period`: time after the start during which failures do not count
    /// (default: 0s).
    pub start_period: Option<String>,
    /// `--start-interval`: time between checks during the start period (default: 5s).
    pub start_interval: Option<String>,
    /// `--retries`: consecutive failures before the container is unhealthy (default: 3).
    pub retries: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum FlagType {
    Bool,
    String,
    Strings,
}

/// Flags an instruction accepts (BuildKit's set, stable and labs).
fn flag_types(keyword: &str) -> &'static [(&'static str, FlagType)] {
    use FlagType::*;
    match keyword {
        "FROM" => &[("platform", String)],
        "COPY" => &[
            ("chown", String),
            ("chmod", String),
            ("from", String),
            ("link", Bool),
            ("parents", Bool),
            ("exclude", Strings),
        ],
        "ADD" => &[
            ("chown", String),
            ("chmod", String),
            ("link", Bool),
            ("keep-git-dir", Bool),
            ("checksum", String),
            ("unpack", Bool),
            ("exclude", Strings),
        ],
        "RUN" => &[
            ("mount", Strings),
            ("network", String),
            ("security", String),
            ("device", Strings),
        ],
        "HEALTHCHECK" => &[
            ("interval", String),
            ("timeout", String),
            ("start-period", String),
            ("start-interval", String),
            ("retries", String),
        ],
        _ => &[],
    }
}

/// Flag values by name, checked the way BuildKit checks them.
struct Flags {
    values: Vec<(&'static str, Vec<String>)>,
}

impl Flags {
    fn parse(keyword: &str, flags: &[String]) -> Result<Flags, String> {
        let types = flag_types(keyword);
        let mut values: Vec<(&'static str, Vec<String>)> = Vec::new();
        for flag in flags {
            if flag == "--" {
                break;
            }
            let Some(body) = flag.strip_prefix("--") else {
                return Err(format!("flag `{flag}` should start with `--`"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(known, kind)) = types.iter().find(|(n, _)| *n == name) else {
                let known: Vec<String> = types.iter().map(|(n, _)| format!("--{n}")).collect();
                return Err(if known.is_empty() {
                    format!("unknown flag `--{name}`: {keyword} takes no flags")
                } else {
                    format!(
                        "unknown flag `--{name}` for {keyword} (it takes {})",
                        known.join(", ")
                    )
                });
            };
            let seen = values.iter().position(|(n, _)| *n == known);
            if seen.is_some() && kind != FlagType::Strings {
                return Err(format!("duplicate flag `--{name}`"));
            }
            let value = match (kind, value) {
                (FlagType::Bool, None) => "true".to_string(),
                (FlagType::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".to_string(),
                    "false" => "false".to_string(),
                    "" => return Err(format!("missing a value on flag `--{name}`")),
                    _ => {
                        return Err(format!(
                            "flag `--{name}` takes `true` or `false`, not `{v}`"
                        ));
                    }
                },
                (_, None) => return Err(format!("missing a value on flag `--{name}`")),
                (_, Some(v)) => v.to_string(),
            };
            match seen {
                Some(i) => values[i].1.push(value),
                None => values.push((known, vec![value])),
            }
        }
        Ok(Flags { values })
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn one(&self, name: &str) -> Option<String> {
        self.all(name).pop()
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.one(name).map(|v| v == "true")
    }
}

fn at_least_one(keyword: &str, args: &[String]) -> Result<(), String> {
    if args.is_empty() {
        Err(format!("{keyword} requires at least one argument"))
    } else {
        Ok(())
    }
}

fn exactly_one(keyword: &str, args: &[String]) -> Result<String, String> {
    match args {
        [one] => Ok(one.clone()),
        _ => Err(format!("{keyword} requires exactly one argument")),
    }
}

fn command_line(instruction: &Instruction, args: &[String]) -> CommandLine {
    if instruction.json {
        CommandLine::Exec(args.to_vec())
    } else {
        CommandLine::Shell(args.join(" "))
    }
}

fn key_values(keyword: &str, args: &[String]) -> Result<Vec<KeyValue>, String> {
    at_least_one(keyword, args)?;
    args.chunks(3)
        .map(|triple| match triple {
            [key, _, _] if key.is_empty() => Err(format!("{keyword} names can not be blank")),
            [key, value, separator] => Ok(KeyValue {
                key: key.clone(),
                value: value.clone(),
                legacy: separator.is_empty(),
            }),
            _ => Err(format!("bad input to {keyword}: too many arguments")),
        })
        .collect()
}

/// Paths and heredoc sources, and the destination.
fn sources_and_dest(
    keyword: &str,
    args: &[String],
) -> Result<(Vec<String>, Vec<String>, String), String> {
    let [sources @ .., dest] = args else {
        unreachable!("checked by the caller")
    };
    if heredoc_word(dest).ok().flatten().is_some() {
        return Err(format!(
            "{keyword} cannot accept a heredoc as a destination"
        ));
    }
    let mut paths = Vec::new();
    let mut heredocs = Vec::new();
    for source in sources {
        match heredoc_word(source).ok().flatten() {
            Some(heredoc) => heredocs.push(heredoc.name),
            None => paths.push(source.clone()),
        }
    }
    Ok((paths, heredocs, dest.clone()))
}

/// The typed command of `instruction` (whose syntax already parsed).
pub(crate) fn command(instruction: &Instruction) -> Result<Command, String> {
    let keyword = instruction.keyword.as_str();
    let args = &instruction.args;
    if instruction.command == Command::Unknown {
        return Err(format!("unknown instruction `{keyword}`"));
    }
    let flags = Flags::parse(keyword, &instruction.flags)?;
    Ok(match keyword {
        "FROM" => {
            let alias = match args.as_slice() {
                [_] => None,
                [_, r#as, name] if r#as.eq_ignore_ascii_case("as") => {
                    let name = name.to_lowercase();
                    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
                        && name.chars().all(|c| {
                            c.is_ascii_lowercase()
                                || c.is_ascii_digit()
                                || matches!(c, '-' | '_' | '.')
                        });
                    if !valid {
                        return Err(format!(
                            "invalid name for build stage: `{name}`; it must start with a letter and contain only letters, digits, `-`, `_` and `.`"
                        ));
                    }
                    Some(name)
                }
                _ => return Err("FROM requires either one or three arguments".to_string()),
            };
            Command::From(From {
                image: args[0].clone(),
                platform: flags.one("platform"),
                alias,
            })
        }
        "ARG" => {
            at_least_one(keyword, args)?;
            let decls = args
                .iter()
                .map(|arg| match arg.split_once('=') {
                    Some(("", _)) => Err("ARG names can not be blank".to_string()),
                    Some((name, value)) => Ok(ArgDecl {
                        name: name.to_string(),
                        default: Some(value.to_string()),
                    }),
                    None => Ok(ArgDecl {
                        name: arg.clone(),
                        default: None,
                    }),
                })
                .collect::<Result<_, _>>()?;
            Command::Arg(decls)
        }
        "ENV" => Command::Env(key_values(keyword, args)?),
        "LABEL" => Command::Label(key_values(keyword, args)?),
        "RUN" => Command::Run(Run {
            command: command_line(instruction, args),
            mounts: flags.all("mount"),
            network: flags.one("network"),
            security: flags.one("security"),
            devices: flags.all("device"),
        }),
        "CMD" => Command::Cmd(command_line(instruction, args)),
        "ENTRYPOINT" => Command::Entrypoint(command_line(instruction, args)),
        "SHELL" => {
            if !instruction.json {
                return Err("SHELL requires the arguments to be in JSON form".to_string());
            }
            at_least_one(keyword, args)?;
            Command::Shell(args.clone())
        }
        "COPY" | "ADD" => {
            if args.len() < 2 {
                return Err(format!(
                    "{keyword} requires at least two arguments, but only one was provided; the destination could not be determined"
                ));
            }
            let (sources, heredoc_sources, dest) = sources_and_dest(keyword, args)?;
            if keyword == "COPY" {
                Command::Copy(Copy {
                    sources,
                    heredoc_sources,
                    dest,
                    from: flags.one("from"),
                    from_stage: None,
                    chown: flags.one("chown"),
                    chmod: flags.one("chmod"),
                    link: flags.bool("link").unwrap_or(false),
                    parents: flags.bool("parents").unwrap_or(false),
                    exclude: flags.all("exclude"),
                })
            } else {
                Command::Add(Add {
                    sources,
                    heredoc_sources,
                    dest,
                    chown: flags.one("chown"),
                    chmod: flags.one("chmod"),
                    checksum: flags.one("checksum"),
                    keep_git_dir: flags.bool("keep-git-dir"),
                    unpack: flags.bool("unpack"),
                    link: flags.bool("link").unwrap_or(false),
                    exclude: flags.all("exclude"),
                })
            }
        }
        "USER" => Command::User(exactly_one(keyword, args)?),
        "WORKDIR" => Command::Workdir(exactly_one(keyword, args)?),
        "STOPSIGNAL" => Command::StopSignal(exactly_one(keyword, args)?),
        "MAINTAINER" => Command::Maintainer(exactly_one(keyword, args)?),
        "EXPOSE" => {
            at_least_one(keyword, args)?;
            Command::Expose(args.clone())
        }
        "VOLUME" => {
            at_least_one(keyword, args)?;
            if args.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".to_string());
            }
            Command::Volume(args.iter().map(|v| v.trim().to_string()).collect())
        }
        "HEALTHCHECK" => {
            at_least_one(keyword, args)?;
            let kind = args[0].to_uppercase();
            let rest = &args[1..];
            match kind.as_str() {
                "NONE" if rest.is_empty() => Command::Healthcheck(Healthcheck::None),
                "NONE" => return Err("HEALTHCHECK NONE takes no arguments".to_string()),
                "CMD" if rest.is_empty() => {
                    return Err("missing command after HEALTHCHECK CMD".to_string());
                }
                "CMD" => Command::Healthcheck(Healthcheck::Cmd(HealthcheckCmd {
                    command: command_line(instruction, rest),
                    interval: flags.one("interval"),
                    timeout: flags.one("timeout"),
                    start_period: flags.one("start-period"),
                    start_interval: flags.one("start-interval"),
                    retries: flags.one("retries"),
                })),
                _ => {
                    return Err(format!(
                        "unknown type `{}` in HEALTHCHECK (try CMD)",
                        args[0]
                    ));
                }
            }
        }
        "ONBUILD" => {
            let Some(trigger) = &instruction.trigger else {
                return Err("ONBUILD requires at least one argument".to_string());
            };
            match trigger.keyword.as_str() {
                "ONBUILD" => {
                    return Err("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string());
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        trigger.keyword
                    ));
                }
                _ => Command::Onbuild,
            }
        }
        _ => return Err(format!("unknown instruction `{keyword}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instruction(keyword: &str, flags: &[&str], args: &[&str]) -> Instruction {
        Instruction {
            keyword: keyword.to_string(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            args: args.iter().map(|s| s.to_string()).collect(),
            ..Instruction::default()
        }
    }

    #[test]
    fn flags_are_checked_per_instruction() {
        let ok = command(&instruction(
            "COPY",
            &["--from=build", "--link"],
            &["a", "b"],
        ))
        .unwrap();
        let Command::Copy(copy) = ok else { panic!() };
        assert_eq!(copy.from.as_deref(), Some("build"));
        assert!(copy.link);
        for (flags, wanted) in [
            (&["--frm=x"][..], "unknown flag"),
            (&["--from"][..], "missing a value"),
            (&["--from=a", "--from=b"][..], "duplicate"),
            (&["--link=maybe"][..], "`true` or `false`"),
            (&["-x"][..], "should start with"),
        ] {
            let error = command(&instruction("COPY", flags, &["a", "b"])).unwrap_err();
            assert!(error.contains(wanted), "{error}");
        }
        assert!(command(&instruction("CMD", &["--doit"], &["a"])).is_err());
        let Command::Run(run) = command(&instruction(
            "RUN",
            &["--mount=type=cache,target=/x", "--mount=type=ssh"],
            &["make"],
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(run.mounts.len(), 2);
    }

    #[test]
    fn arity_and_names() {
        assert!(command(&instruction("FROM", &[], &["a", "b"])).is_err());
        assert!(command(&instruction("FROM", &[], &["a", "AS", "1x"])).is_err());
        let Command::From(from) =
            command(&instruction("FROM", &[], &["a", "as", "Build"])).unwrap()
        else {
            panic!()
        };
        assert_eq!(from.alias.as_deref(), Some("build"));
        assert!(command(&instruction("USER", &[], &[])).is_err());
        assert!(command(&instruction("COPY", &[], &["a"])).is_err());
        assert!(command(&instruction("COPY", &[], &["a", "<<EOF"])).is_err());
        assert!(command(&instruction("ENV", &[], &["", "x", "="])).is_err());
        assert!(command(&instruction("ARG", &[], &["=x"])).is_err());
        assert!(command(&instruction("HEALTHCHECK", &[], &["CMD"])).is_err());
        assert!(command(&instruction("HEALTHCHECK", &[], &["NONE", "x"])).is_err());
        assert!(command(&instruction("SHELL", &[], &["sh -c"])).is_err());
    }
}
