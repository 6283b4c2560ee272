//! What several commands set up the same way: the rule set (`--rules`, `--no-default-rules`,
//! `--rule-timeout`), the configuration file, the rule selection, registry options, and the
//! stop handle Ctrl-C uses. Commands call these; none calls another command.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis_engine::{
    Config, Diagnostic, Limits, Policy, PolicyBuilder, RuleLoadError, RuleSet, Selection,
    StopHandle,
};
use portcullis_facts::PlatformChoice;
use portcullis_facts::registry::{Credentials, RegistryOptions};

use crate::args::{RegistryArgs, RuleSourceArgs};

/// Looked up in the working directory when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "portcullis.yaml";

/// Environment variable holding the password for `--username` (never a flag: flags end up
/// in shell histories and process lists).
pub const PASSWORD_ENV: &str = "PORTCULLIS_REGISTRY_PASSWORD";

/// Stops every evaluation of this process when Ctrl-C ends a watch session (a rule stuck
/// in a slow loop would otherwise hold the process until its deadline, workload after
/// workload).
pub fn stop_handle() -> &'static StopHandle {
    static STOP: std::sync::OnceLock<StopHandle> = std::sync::OnceLock::new();
    STOP.get_or_init(Default::default)
}

/// A `--rules` path that does not exist: a typo, which would otherwise run the check
/// without the rules the user meant.
pub fn missing_rule_path(source: &RuleSourceArgs) -> Option<String> {
    source
        .rules
        .iter()
        .find(|path| !path.exists())
        .map(|path| format!("--rules {}: no such file or directory", path.display()))
}

/// The default pack (unless turned off) plus the user's rules. Rules that do not load are
/// returned as errors; the others are in the set.
pub fn load_rules(source: &RuleSourceArgs) -> (RuleSet, Vec<RuleLoadError>) {
    load_rules_with(source, false)
}

/// [`load_rules`] for the loops where rules are written (`test`, `check --watch`): `==`
/// between values of different types is an error there, not `false`.
pub fn load_rules_for_authoring(source: &RuleSourceArgs) -> (RuleSet, Vec<RuleLoadError>) {
    load_rules_with(source, true)
}

fn load_rules_with(
    source: &RuleSourceArgs,
    strict_equality: bool,
) -> (RuleSet, Vec<RuleLoadError>) {
    let limits = Limits {
        max_rule_time: Some(Duration::from_millis(source.rule_timeout)),
        strict_equality,
        ..Limits::default()
    };
    let mut rules = RuleSet::with_limits_and_stop(&limits, stop_handle().clone());
    if !source.no_default_rules {
        rules
            .add_builtin()
            .expect("the default pack is tested and compiles");
    }
    let mut errors = Vec::new();
    // A rule file reached twice (`--rules policies --rules ./policies/a.rhai`, or a link to
    // the directory) is loaded once, not refused as a duplicate of itself.
    let mut seen = std::collections::HashSet::new();
    for path in &source.rules {
        let files = RuleSet::rule_files(path).unwrap_or_default();
        let new: Vec<&PathBuf> = files
            .iter()
            .filter(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.to_path_buf())))
            .collect();
        let parts: Vec<&Path> = if new.len() == files.len() {
            vec![path.as_path()]
        } else {
            log::info!("{}: rule files loaded already are skipped", path.display());
            new.iter().map(|f| f.as_path()).collect()
        };
        for part in parts {
            let (added, mut failed) = rules.add_path(part);
            log::info!(
                "loaded {} rule(s) from {}: {}",
                added.len(),
                part.display(),
                added.join(", ")
            );
            errors.append(&mut failed);
        }
    }
    if rules.rules().is_empty() && errors.is_empty() {
        log::warn!("no rules loaded: --no-default-rules and no `.rhai` files in the --rules paths");
    }
    (rules, errors)
}

/// For listing commands: the rules, with load problems printed (code frames) to stderr;
/// `None` (reported) when a `--rules` path does not exist.
pub fn load_rules_or_report(
    source: &RuleSourceArgs,
    printer: &crate::printer::Printer,
) -> Option<(RuleSet, Vec<RuleLoadError>)> {
    if let Some(message) = missing_rule_path(source) {
        printer.error(&message);
        return None;
    }
    let (rules, errors) = load_rules(source);
    let renderer = crate::diagnostics::Renderer::new(printer.stderr_color());
    for error in &errors {
        printer.err(&renderer.rule_load_error(error));
    }
    Some((rules, errors))
}

/// A rule load error as a report entry, for machine-readable output.
pub fn rule_error_entry(error: &RuleLoadError) -> Diagnostic {
    let mut message = error.message.clone();
    if let Some(help) = &error.help {
        message.push_str(&format!(" (help: {help})"));
    }
    Diagnostic::new(&error.origin, None, error.line, message)
}

/// The configuration file a run uses: `--config`, else `./portcullis.yaml` when it exists.
pub fn config_path(given: Option<&Path>) -> Option<PathBuf> {
    match given {
        Some(path) => Some(path.to_path_buf()),
        None if Path::new(DEFAULT_CONFIG).is_file() => Some(PathBuf::from(DEFAULT_CONFIG)),
        None => None,
    }
}

/// A configuration as read: its text (for code frames) and what parsing it found.
pub struct ConfigFile {
    /// The name errors give it and its text, when it could be read.
    pub text: Option<(String, Arc<str>)>,
    /// The file, when there is one.
    pub path: Option<PathBuf>,
    /// What is valid of it.
    pub config: Config,
    /// Its problems, each at its line.
    pub problems: Vec<Diagnostic>,
}

/// Reads the configuration at `path` (none: the defaults), with a size cap.
pub fn read_config(path: Option<PathBuf>) -> ConfigFile {
    let Some(path) = path else {
        return ConfigFile {
            text: None,
            path: None,
            config: Config::default(),
            problems: Vec::new(),
        };
    };
    let name = path.display().to_string();
    let files = portcullis_engine::files::read_text(
        &path,
        portcullis_engine::files::MAX_CONFIG_BYTES,
        portcullis_engine::files::Origin::Named,
    );
    match files {
        Ok(text) => {
            log::info!("using configuration {name}");
            let (config, problems) = Config::parse_lenient(&name, &text);
            ConfigFile {
                text: Some((name, text.into())),
                path: Some(path),
                config,
                problems,
            }
        }
        Err(e) => ConfigFile {
            text: None,
            path: Some(path),
            config: Config::default(),
            problems: vec![Diagnostic::new(
                &name,
                None,
                None,
                format!("cannot read configuration: {}", e.message),
            )],
        },
    }
}

/// `--select` and `--ignore`.
pub fn selection(select: &Option<Vec<String>>, ignore: &[String]) -> Selection {
    let base = match select {
        Some(ids) => Selection::only(ids.iter().cloned()),
        None => Selection::all(),
    };
    base.ignoring(ignore.iter().cloned())
}

/// A policy builder over `rules` with `config` and its problems.
pub fn policy_builder<'r>(rules: &'r RuleSet, config: &ConfigFile) -> PolicyBuilder<'r> {
    let mut builder = Policy::builder(rules).config(config.config.clone());
    for problem in &config.problems {
        builder = builder.problem(problem.clone());
    }
    builder
}

/// Warns about exemptions that expired and no longer apply.
pub fn warn_expired(policy: &Policy) {
    for (index, rule, expires) in policy.expired_exemptions() {
        log::warn!("exemption {index} (rule `{rule}`) expired on {expires} and no longer applies");
    }
}

/// Registry options from the command line.
pub fn registry_options(args: &RegistryArgs) -> Result<RegistryOptions, String> {
    let platform = PlatformChoice::parse(&args.platform)?;
    let mut credentials = match args
        .docker_config
        .clone()
        .or_else(Credentials::default_docker_config)
    {
        Some(path) => Credentials::from_docker_config(&path)?,
        None => Credentials::default(),
    };
    if let Some(user) = &args.username {
        let password = std::env::var(PASSWORD_ENV).map_err(|_| {
            format!("--username needs the password in the environment variable {PASSWORD_ENV}")
        })?;
        credentials.basic = Some((user.clone(), password));
    }
    let cache_dir = if args.no_facts_cache {
        None
    } else {
        args.facts_cache.clone().or_else(default_cache_dir)
    };
    Ok(RegistryOptions {
        platform,
        max_layer_size: args.max_layer_size,
        timeout: Duration::from_secs(args.registry_timeout.max(1)),
        insecure: args.insecure.clone(),
        credentials,
        cache_dir,
        progress: std::io::stderr().is_terminal(),
    })
}

/// `$XDG_CACHE_HOME/portcullis/image-facts`, else `~/.cache/portcullis/image-facts`.
fn default_cache_dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("portcullis").join("image-facts"))
}
