//! Rules: Rhai files with metadata, docs and one entry function, compiled once.
//!
//! A rule file looks like this:
//!
//! ```rhai
//! //! ## What it does
//! //! Markdown docs in `//!` comments.
//!
//! const META = #{
//!     id: "latest-tag",
//!     title: "Image uses a mutable tag",
//!     severity: "high",
//!     remediation: "Pin a version tag or a digest.",
//!     settings: #{
//!         "disallowed-tags": #{ type: "list", "default": ["latest"], description: "…" },
//!     },
//! };
//!
//! fn check(workload, settings) {
//!     let findings = [];
//!     // …
//!     findings
//! }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rhai::{AST, Engine, Scope};
use serde::Deserialize;
use serde_json::Value;

use crate::severity::Severity;

/// The entry function every rule defines: `fn check(workload, settings)`.
pub(crate) const ENTRY_FUNCTION: &str = "check";
/// The optional function that prepares a rule's settings once, when a policy is built:
/// `fn prepare(settings)` returns what `check` receives; what it throws is a configuration
/// error (Kubewarden's `validate_settings`).
pub(crate) const PREPARE_FUNCTION: &str = "prepare";

/// The default pack, embedded at build time from `rules/*.rhai`.
pub(crate) static BUILTIN_RULES: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The default pack's helper modules (`rules/lib/*.rhai`).
pub(crate) static BUILTIN_HELPERS: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/builtin_helpers.rs"));

/// The directory, inside a rules directory, that holds helper modules.
pub const HELPER_DIR: &str = "lib";

/// The default pack's test files (`<id>.tests.yaml`), embedded so the binary can test itself
/// (not the WebAssembly modules, which never run rule tests).
#[cfg(not(target_family = "wasm"))]
pub(crate) static BUILTIN_RULE_TESTS: &[(&str, &str)] =
    include!(concat!(env!("OUT_DIR"), "/builtin_rule_tests.rs"));

/// The type of a rule setting, checked when configuration is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SettingType {
    /// A string.
    String,
    /// `true` or `false`.
    Bool,
    /// A whole number.
    Int,
    /// A list of strings.
    List,
    /// A list of image patterns (`registry.company.com/`, `docker.io/library/nginx:1.*`),
    /// checked when loaded.
    #[serde(rename = "image-patterns")]
    ImagePatterns,
    /// A list of globs (`*`, `?`, `[…]`), checked when loaded.
    Globs,
    /// Any YAML value; the rule validates it.
    Any,
}

impl SettingType {
    /// The type in words, for messages and the rule reference.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingType::String => "string",
            SettingType::Bool => "bool",
            SettingType::Int => "int",
            SettingType::List => "list of strings",
            SettingType::ImagePatterns => "list of image patterns",
            SettingType::Globs => "list of globs",
            SettingType::Any => "any",
        }
    }

    /// Checks `value` against the type; `Err` says what was found.
    pub fn check(self, value: &Value) -> Result<(), String> {
        let ok = match self {
            SettingType::String => value.is_string(),
            SettingType::Bool => value.is_boolean(),
            SettingType::Int => value.is_i64(),
            SettingType::List | SettingType::ImagePatterns | SettingType::Globs => value
                .as_array()
                .is_some_and(|items| items.iter().all(Value::is_string)),
            SettingType::Any => true,
        };
        if ok
            && matches!(self, SettingType::ImagePatterns | SettingType::Globs)
            && let Some(items) = value.as_array()
            && items.len() > crate::sandbox::MAX_PATTERNS
        {
            return Err(format!(
                "{} patterns, over the limit of {} in one setting",
                items.len(),
                crate::sandbox::MAX_PATTERNS
            ));
        }
        if ok {
            for item in value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                match self {
                    SettingType::ImagePatterns => {
                        crate::image::ImagePattern::new(item)?;
                    }
                    SettingType::Globs => {
                        crate::glob::Glob::new(item)?;
                    }
                    _ => {}
                }
            }
        }
        if ok {
            Ok(())
        } else {
            Err(format!(
                "expected {}, found {}",
                self.as_str(),
                crate::diagnostic::describe(value)
            ))
        }
    }
}

/// One setting a rule accepts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SettingSpec {
    /// What values it takes.
    #[serde(rename = "type")]
    pub kind: SettingType,
    /// Its value when the configuration does not set it.
    pub default: Value,
    /// What it does, for the rule reference.
    pub description: String,
}

/// A rule's metadata, from its `META` constant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RuleMeta {
    /// Kebab-case, the file's stem: `latest-tag`.
    pub id: String,
    /// One line naming the problem.
    pub title: String,
    /// The severity of its findings unless the configuration changes it.
    pub severity: Severity,
    /// What to do about a finding; shared by all of them.
    pub remediation: String,
    /// Off unless configuration enables it.
    #[serde(default)]
    pub disabled_by_default: bool,
    /// Where the rule's documentation lives (custom rules; SARIF links to it).
    #[serde(default)]
    pub help_uri: Option<String>,
    /// The settings it accepts, by name.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingSpec>,
    /// What it checks: `["manifests"]` unless the rule says (`inputs: ["manifests",
    /// "dockerfiles"]`), so that a rule written for pods never reads a Dockerfile by
    /// surprise.
    #[serde(default = "manifests_only")]
    pub inputs: Vec<RuleInput>,
}

/// What a rule checks (its `META.inputs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RuleInput {
    /// Kubernetes workloads: manifests, admission requests.
    Manifests,
    /// Dockerfiles (workloads of kind `Dockerfile`, a container per build stage).
    Dockerfiles,
}

impl RuleInput {
    /// As written in `META`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleInput::Manifests => "manifests",
            RuleInput::Dockerfiles => "dockerfiles",
        }
    }
}

fn manifests_only() -> Vec<RuleInput> {
    vec![RuleInput::Manifests]
}

impl RuleMeta {
    /// Whether the rule checks `input`.
    pub fn checks(&self, input: RuleInput) -> bool {
        self.inputs.contains(&input)
    }
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    /// Its `META`.
    pub meta: RuleMeta,
    /// Markdown from the file's `//!` comments.
    pub docs: String,
    /// Where the rule came from: `builtin:latest-tag.rhai` or a file path.
    pub origin: String,
    /// The rule file's text.
    pub source: Arc<str>,
    pub(crate) ast: AST,
    /// Whether the rule defines `fn prepare(settings)`.
    pub(crate) prepares: bool,
}

impl Rule {
    /// Whether `id` is a valid rule id: kebab-case (lowercase letters, digits, `-`).
    pub fn is_valid_id(id: &str) -> bool {
        is_rule_id(id)
    }

    /// The rule's reference page in Markdown: header, metadata, its docs and a settings
    /// table (`portcullis explain`, `docs/rules/<id>.md`).
    pub fn reference_markdown(&self) -> String {
        render_markdown(self)
    }
}

/// Why a rule file could not be loaded. Carries the source so front ends can show the
/// offending code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuleLoadError {
    /// The rule file (a path, or `builtin:<file>`).
    pub origin: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
    /// The rule's text, when it could be read.
    pub source: Option<Arc<str>>,
}

impl RuleLoadError {
    fn new(origin: &str, message: String) -> RuleLoadError {
        RuleLoadError {
            origin: origin.to_string(),
            line: None,
            column: None,
            message,
            help: None,
            source: None,
        }
    }

    fn at(mut self, position: Option<(usize, usize)>) -> RuleLoadError {
        if let Some((line, column)) = position {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }

    fn help(mut self, help: impl Into<String>) -> RuleLoadError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for RuleLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RuleLoadError {}

/// Line and column (1-based) of the first occurrence of `needle` in `source`.
fn locate(source: &str, needle: &str) -> Option<(usize, usize)> {
    Some(line_column(source, source.find(needle)?))
}

/// The 1-based line and column (in characters) of byte `offset` of `source`.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Where the loops of a rule start (`loop`, `while`, `do`, `for … in`), outside comments
/// and strings: where to look when a rule hits the operation or time limit.
pub(crate) fn loop_lines(source: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (index, line) in code_lines(source).iter().enumerate() {
        let bytes = line.as_bytes();
        for keyword in ["loop", "while", "do", "for"] {
            let mut from = 0;
            while let Some(at) = line[from..].find(keyword) {
                let start = from + at;
                let end = start + keyword.len();
                let word_before = start > 0
                    && (bytes[start - 1].is_ascii_alphanumeric()
                        || bytes[start - 1] == b'_'
                        || bytes[start - 1] == b'.');
                let word_after =
                    end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_');
                if !word_before && !word_after {
                    found.push((index + 1, line[..start].chars().count() + 1));
                }
                from = end;
            }
        }
    }
    found.sort_unstable();
    found.dedup_by_key(|(line, _)| *line);
    found
}

/// The rule's lines with comments and string contents blanked (same lengths), so that
/// text scans see only code.
fn code_lines(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block_comment = false;
    for line in source.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut code = String::with_capacity(line.len());
        let mut i = 0;
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if in_block_comment {
                if c == '*' && next == Some('/') {
                    in_block_comment = false;
                    code.push_str("  ");
                    i += 2;
                    continue;
                }
                code.push(' ');
            } else if let Some(q) = quote {
                if c == '\\' {
                    code.push_str("  ");
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                    code.push(c);
                } else {
                    code.push(' ');
                }
            } else if c == '/' && next == Some('/') {
                break;
            } else if c == '/' && next == Some('*') {
                in_block_comment = true;
                code.push_str("  ");
                i += 2;
                continue;
            } else if c == '"' || c == '`' || c == '\'' {
                quote = Some(c);
                code.push(c);
            } else {
                code.push(c);
            }
            i += 1;
        }
        out.push(code);
    }
    out
}

/// The identifiers in a rule's code (outside comments and strings).
fn code_words(source: &str) -> std::collections::BTreeSet<String> {
    let mut words = std::collections::BTreeSet::new();
    for line in code_lines(source) {
        let mut word = String::new();
        for c in line.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                if word
                    .chars()
                    .next()
                    .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
                {
                    words.insert(std::mem::take(&mut word));
                }
                word.clear();
            }
        }
    }
    words
}

/// For a rule that ends before its blocks are closed: the `{` that is never closed (the
/// innermost), as (line, column).
fn unclosed_brace(source: &str) -> Option<(usize, usize)> {
    let mut open: Vec<(usize, usize)> = Vec::new();
    for (index, line) in code_lines(source).iter().enumerate() {
        for (column, c) in line.chars().enumerate() {
            match c {
                '{' => open.push((index + 1, column + 1)),
                '}' => {
                    open.pop();
                }
                _ => {}
            }
        }
    }
    open.pop()
}

/// Where `key` is written inside the `META` declaration (`key:` or `"key":`).
fn locate_in_meta(source: &str, key: &str) -> Option<(usize, usize)> {
    let start = source.find("const META")?;
    let rest = &source[start..];
    let offset = [format!("{key}:"), format!("\"{key}\":"), format!("{key} :")]
        .iter()
        .filter_map(|needle| {
            rest.match_indices(needle.as_str())
                .find(|(i, _)| {
                    // A whole key, not the end of a longer one.
                    !rest[..*i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
                })
                .map(|(i, _)| i)
        })
        .min()?;
    Some(line_column(source, start + offset))
}

/// A close name among `candidates` ("did you mean"); the checks that need it run natively.
fn suggestion<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    #[cfg(not(target_family = "wasm"))]
    return crate::lint::closest(name, candidates);
    #[cfg(target_family = "wasm")]
    {
        let _ = (name, candidates.into_iter());
        None
    }
}

/// The first field of `META` that does not read, with what is wrong with it.
fn meta_problem(meta: &Value) -> Option<(String, String)> {
    let Value::Object(fields) = meta else {
        return Some((
            String::new(),
            "`META` must be a map (`#{ id: …, … }`)".into(),
        ));
    };
    let known = [
        "id",
        "title",
        "severity",
        "remediation",
        "disabled_by_default",
        "help_uri",
        "settings",
        "inputs",
    ];
    let tidy = |e: serde_json::Error| {
        e.to_string()
            .replace("unknown variant", "unknown value")
            .replace("invalid type: ", "")
    };
    for key in fields.keys() {
        if !known.contains(&key.as_str()) {
            let hint = suggestion(key, known.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_else(|| format!("; allowed: {}", known.join(", ")));
            return Some((key.clone(), format!("unknown field `{key}`{hint}")));
        }
    }
    for required in ["id", "title", "severity", "remediation"] {
        if !fields.contains_key(required) {
            return Some((String::new(), format!("`{required}` is missing")));
        }
    }
    let check = |key: &str, parse: &dyn Fn(&Value) -> Result<(), serde_json::Error>| {
        fields
            .get(key)
            .and_then(|v| parse(v).err())
            .map(|e| (key.to_string(), tidy(e)))
    };
    check("id", &|v| String::deserialize(v).map(drop))
        .or_else(|| check("title", &|v| String::deserialize(v).map(drop)))
        .or_else(|| check("severity", &|v| Severity::deserialize(v).map(drop)))
        .or_else(|| check("remediation", &|v| String::deserialize(v).map(drop)))
        .or_else(|| check("disabled_by_default", &|v| bool::deserialize(v).map(drop)))
        .or_else(|| check("inputs", &|v| Vec::<RuleInput>::deserialize(v).map(drop)))
        .or_else(|| {
            let settings = fields.get("settings")?;
            let Value::Object(settings) = settings else {
                return Some((
                    "settings".into(),
                    "must be a map of setting name to `#{ type, \"default\", description }`".into(),
                ));
            };
            settings.iter().find_map(|(name, spec)| {
                let Value::Object(parts) = spec else {
                    return Some((
                        format!("settings.{name}"),
                        "must be a map with `type`, `\"default\"` and `description`".into(),
                    ));
                };
                if let Some(kind) = parts.get("type")
                    && let Err(e) = SettingType::deserialize(kind)
                {
                    return Some((format!("settings.{name}.type"), tidy(e)));
                }
                SettingSpec::deserialize(spec)
                    .err()
                    .map(|e| (format!("settings.{name}"), tidy(e)))
            })
        })
}

/// The position just after the last non-blank line before `line`.
fn end_of_previous_line(source: &str, line: usize) -> Option<(usize, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    (1..line)
        .rev()
        .find(|&l| lines.get(l - 1).is_some_and(|t| !t.trim().is_empty()))
        .map(|l| (l, lines[l - 1].trim_end().chars().count() + 1))
}

const ENTRY_HELP: &str = "a rule defines `fn check(workload, settings) { … }` and returns an array of `finding(…)` values";
const META_HELP: &str = "start the rule with `const META = #{ id: \"my-rule\", title: \"…\", severity: \"high\", remediation: \"…\" };`";

/// Compiles one rule file. `origin` names it in errors; the file stem must equal the rule id
/// when `expected_id` is given.
pub(crate) fn compile_rule(
    engine: &Engine,
    origin: &str,
    source: &str,
    expected_id: Option<&str>,
    helpers: &[String],
) -> Result<Rule, RuleLoadError> {
    compile_rule_inner(engine, origin, source, expected_id, helpers).map_err(|mut e| {
        e.source = Some(source.into());
        e
    })
}

fn compile_rule_inner(
    engine: &Engine,
    origin: &str,
    source: &str,
    expected_id: Option<&str>,
    helpers: &[String],
) -> Result<Rule, RuleLoadError> {
    let fail = |message: String| RuleLoadError::new(origin, message);
    let position = |p: rhai::Position| Some((p.line()?, p.position().unwrap_or(1)));
    let mut ast = engine.compile(source).map_err(|e| {
        let message = e.0.to_string();
        let error = fail(format!("syntax error: {message}")).at(position(e.position()));
        if message.contains("'default' is a reserved keyword") {
            error.help("quote it as a map key: `\"default\": …`")
        } else if message.contains("Undefined variable: settings")
            || message.contains("Undefined variable: workload")
        {
            error.help(ENTRY_HELP)
        } else if let Some(name) = message.strip_prefix("Undefined variable: ") {
            // The names the rule's code uses are the likely intended ones.
            let words = code_words(source);
            match suggestion(
                name.trim(),
                words
                    .iter()
                    .map(String::as_str)
                    .filter(|w| *w != name.trim()),
            ) {
                Some(close) => error.help(format!("did you mean `{close}`?")),
                None => error.help(
                    "declare it with `let` first; functions see only their parameters and `META`",
                ),
            }
        } else if message.contains("Number of functions defined exceeds") {
            error.help(format!(
                "a rule may define at most {} functions",
                engine.max_functions()
            ))
        } else if let Some((line, column)) = unclosed_brace(source)
            && message.starts_with("Expecting")
        {
            // Rhai reaches the end of the file still inside a block and asks for a `;`;
            // the mistake is the `}` that is missing.
            let opened = source.lines().nth(line - 1).unwrap_or("").trim();
            RuleLoadError {
                message: format!(
                    "syntax error: missing `}}`: the `{{` opened on line {line} is never closed"
                ),
                line: Some(line),
                column: Some(column),
                ..error
            }
            .help(format!("close the block that starts with `{opened}`"))
        } else if message.contains("Expecting ';'") {
            // Rhai notices at the next statement; the fix belongs after the previous one.
            match e
                .position()
                .line()
                .and_then(|l| end_of_previous_line(source, l))
            {
                Some((line, column)) => RuleLoadError {
                    line: Some(line),
                    column: Some(column),
                    ..error
                }
                .help(format!("end the statement on line {line} with `;`")),
                None => error,
            }
        } else {
            error
        }
    })?;
    ast.set_source(origin);

    let entry = ast
        .iter_functions()
        .find(|f| f.name == ENTRY_FUNCTION)
        .ok_or_else(|| {
            fail(format!(
                "the rule defines no `fn {ENTRY_FUNCTION}(workload, settings)`"
            ))
            .help(ENTRY_HELP)
        })?;
    if entry.params.len() != 2 {
        return Err(fail(format!(
            "`fn {ENTRY_FUNCTION}` takes {} parameter{}; it must take two: (workload, settings)",
            entry.params.len(),
            if entry.params.len() == 1 { "" } else { "s" }
        ))
        .at(locate(source, &format!("fn {ENTRY_FUNCTION}")))
        .help(ENTRY_HELP));
    }

    let prepare = ast.iter_functions().find(|f| f.name == PREPARE_FUNCTION);
    if let Some(prepare) = &prepare
        && prepare.params.len() != 1
    {
        return Err(fail(format!(
            "`fn {PREPARE_FUNCTION}` takes {} parameters; it must take one: (settings)",
            prepare.params.len()
        ))
        .at(locate(source, &format!("fn {PREPARE_FUNCTION}")))
        .help(
            "`fn prepare(settings)` runs once per policy and returns the settings `check` receives",
        ));
    }
    let prepares = prepare.is_some();

    // Top-level statements are the META declaration; run them once to read it.
    let mut scope = Scope::new();
    engine.run_ast_with_scope(&mut scope, &ast).map_err(|e| {
        fail(format!("evaluating the rule's top level failed: {e}")).at(position(e.position()))
    })?;
    let meta_at = locate(source, "META");
    let meta_value = scope
        .get("META")
        .cloned()
        .ok_or_else(|| fail("the rule has no `META` constant".into()).help(META_HELP))?;
    let meta_json: Value = rhai::serde::from_dynamic(&meta_value).map_err(|e| {
        fail(format!("`META` is not plain data: {e}"))
            .at(meta_at)
            .help("`META` holds only strings, numbers, booleans, arrays and maps")
    })?;
    let meta: RuleMeta = match serde_json::from_value(meta_json.clone()) {
        Ok(meta) => meta,
        Err(e) => {
            // Name the field that is wrong, and point at it.
            let (field, message) =
                meta_problem(&meta_json).unwrap_or_else(|| (String::new(), e.to_string()));
            let name = field.rsplit('.').next().unwrap_or("").to_string();
            let at = (!name.is_empty())
                .then(|| locate_in_meta(source, &name))
                .flatten()
                .or(meta_at);
            let shown = if field.is_empty() {
                "`META`".to_string()
            } else {
                format!("`META.{field}`")
            };
            return Err(fail(format!("invalid {shown}: {message}"))
                .at(at)
                .help(META_HELP));
        }
    };

    let id_at = locate(source, &format!("\"{}\"", meta.id)).or(meta_at);
    if !is_rule_id(&meta.id) {
        return Err(fail(format!(
            "rule id `{}` must be kebab-case: lowercase letters, digits and `-`",
            meta.id
        ))
        .at(id_at));
    }
    if let Some(expected) = expected_id
        && expected != meta.id
    {
        return Err(fail(format!(
            "rule id `{}` does not match the file name `{expected}.rhai`",
            meta.id
        ))
        .at(id_at)
        .help(format!(
            "rename the file to `{}.rhai` or set `id: \"{expected}\"`",
            meta.id
        )));
    }
    if meta.inputs.is_empty() {
        return Err(fail(
            "`inputs` is empty, so the rule would never run; list `\"manifests\"`, `\"dockerfiles\"` or both".to_string(),
        )
        .at(locate(source, "inputs").or(meta_at)));
    }
    for (name, spec) in &meta.settings {
        let setting_at = locate(source, &format!("\"{name}\"")).or(meta_at);
        if matches!(name.as_str(), "enabled" | "severity") {
            return Err(fail(format!("setting name `{name}` is reserved")).at(setting_at));
        }
        spec.kind
            .check(&spec.default)
            .map_err(|e| fail(format!("default of setting `{name}`: {e}")).at(setting_at))?;
    }

    // Mistakes Rhai would report only when the line runs (natively: the modules embed
    // rules that were checked when they were built).
    #[cfg(target_family = "wasm")]
    let _ = helpers;
    #[cfg(not(target_family = "wasm"))]
    {
        let settings = meta.settings.keys().cloned().collect();
        let problems = crate::lint::check(
            engine,
            &ast,
            crate::lint::Entry {
                check: ENTRY_FUNCTION,
                prepare: PREPARE_FUNCTION,
            },
            &settings,
            prepares,
            helpers,
        );
        if let Some(first) = problems.first() {
            let mut help = first.help.clone().unwrap_or_default();
            if problems.len() > 1 {
                let more = problems.len() - 1;
                help.push_str(&format!(
                    "{}{more} more problem{} in this rule after this one",
                    if help.is_empty() { "" } else { "; " },
                    if more == 1 { "" } else { "s" }
                ));
            }
            let error = fail(first.message.clone())
                .at(first.line.map(|line| (line, first.column.unwrap_or(1))));
            return Err(if help.is_empty() {
                error
            } else {
                error.help(help)
            });
        }
    }

    // Evaluation calls only the entry function; the top level has done its job.
    let ast = ast.clone_functions_only();
    Ok(Rule {
        meta,
        docs: doc_comments(source),
        origin: origin.to_string(),
        source: source.into(),
        ast,
        prepares,
    })
}

/// Whether `id` is a valid rule id: kebab-case.
pub(crate) fn is_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.starts_with('-')
        && !id.ends_with('-')
}

/// The leading `//!` comment lines, as Markdown.
fn doc_comments(source: &str) -> String {
    let mut docs = String::new();
    for line in source.lines() {
        let trimmed = line.trim_start();
        if let Some(text) = trimmed.strip_prefix("//!") {
            docs.push_str(text.strip_prefix(' ').unwrap_or(text));
            docs.push('\n');
        } else if !trimmed.is_empty() {
            break;
        }
    }
    docs.trim().to_string()
}

/// A rule a policy runs, with the severity its findings get under the configuration.
#[derive(Debug, Clone)]
pub struct EnabledRule {
    /// The rule.
    pub rule: Arc<Rule>,
    /// Its severity under the configuration.
    pub severity: Severity,
}

/// A set of compiled rules and the engine they run on.
pub struct RuleSet {
    engine: Arc<Engine>,
    rules: Vec<Arc<Rule>>,
    limits: crate::sandbox::Limits,
    stop: crate::sandbox::StopHandle,
    /// The helper modules rules can `import` (`lib/*.rhai` of the loaded directories).
    helpers: crate::sandbox::HelperModules,
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.meta.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RuleSet {
    /// An empty set on a sandboxed engine with the default limits.
    pub fn empty() -> RuleSet {
        RuleSet::with_limits(&crate::sandbox::Limits::default())
    }

    /// An empty set whose rules run under `limits`.
    pub fn with_limits(limits: &crate::sandbox::Limits) -> RuleSet {
        RuleSet::with_limits_and_stop(limits, crate::sandbox::StopHandle::default())
    }

    /// A set whose evaluations end when `stop` is stopped (one handle can serve several
    /// sets, e.g. every rule set a watch session builds).
    pub fn with_limits_and_stop(
        limits: &crate::sandbox::Limits,
        stop: crate::sandbox::StopHandle,
    ) -> RuleSet {
        let helpers = crate::sandbox::HelperModules::default();
        let mut set = RuleSet {
            engine: Arc::new(crate::sandbox::engine_with_helpers(
                limits,
                &stop,
                helpers.clone(),
            )),
            rules: Vec::new(),
            limits: *limits,
            stop,
            helpers,
        };
        // The pack's helpers are there for every rule, with or without the pack.
        for (file, source) in BUILTIN_HELPERS {
            set.add_helper(&format!("builtin:lib/{file}"), file, source)
                .expect("the built-in helper modules compile");
        }
        set
    }

    /// The default pack. Built-in rules are tested, so a failure here is a build defect.
    pub fn builtin() -> RuleSet {
        let mut set = RuleSet::empty();
        set.add_builtin().expect("built-in rules compile");
        set
    }

    /// Adds the default pack to this set.
    pub fn add_builtin(&mut self) -> Result<(), Vec<RuleLoadError>> {
        let mut errors = Vec::new();
        for (file, source) in BUILTIN_RULES {
            let origin = format!("builtin:{file}");
            if let Err(e) = self.add_source(&origin, source, file.strip_suffix(".rhai")) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Compiles a helper module (`lib/NAME.rhai`) that rules can `import "NAME"`. Names are
    /// unique: a helper never replaces one that rules already use.
    pub fn add_helper(
        &mut self,
        origin: &str,
        file_name: &str,
        source: &str,
    ) -> Result<(), RuleLoadError> {
        let name = file_name.strip_suffix(".rhai").unwrap_or(file_name);
        if !crate::sandbox::HelperModules::is_valid_name(name) {
            return Err(RuleLoadError::new(
                origin,
                format!(
                    "helper module name `{name}` must be lower-case letters, digits, `-` and `_`"
                ),
            ));
        }
        if let Some(loaded) = self.helpers.source(name) {
            // The pack's own `rules/lib` loaded from disk next to the embedded pack.
            if &*loaded == source {
                return Ok(());
            }
            return Err(RuleLoadError::new(
                origin,
                format!(
                    "a helper module named `{name}` is already loaded (built-in helpers: lists, users); rename this one"
                ),
            ));
        }
        if source.len() > self.limits.max_rule_source {
            return Err(RuleLoadError::new(
                origin,
                "the helper module is over the size limit for one rule file".into(),
            ));
        }
        let module = crate::sandbox::compile_helper(&self.engine, source)
            .map_err(|e| RuleLoadError::new(origin, format!("helper module `{name}`: {e}")))?;
        self.helpers.insert(name, source, module);
        Ok(())
    }

    /// Compiles and adds one rule; ids must be unique.
    pub fn add_source(
        &mut self,
        origin: &str,
        source: &str,
        expected_id: Option<&str>,
    ) -> Result<(), RuleLoadError> {
        let rule = self.compile(origin, source, expected_id)?;
        if let Some(existing) = self.get(&rule.meta.id) {
            let mut error = RuleLoadError::new(
                origin,
                format!(
                    "rule id `{}` is already defined by {}",
                    rule.meta.id, existing.origin
                ),
            )
            .at(locate(source, &format!("\"{}\"", rule.meta.id)))
            .help(
                "rule ids are unique across the default pack and every rules directory \
                 (testing a copy of the default pack? add --no-default-rules)",
            );
            error.source = Some(source.into());
            return Err(error);
        }
        self.rules.push(Arc::new(rule));
        self.rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        Ok(())
    }

    /// Adds the rules in `path`: every `*.rhai` file of a directory (not recursive, in name
    /// order), or one `.rhai` file. Each file's stem must be its rule id. Returns the ids
    /// added; a file that does not load is an error and the others are still added.
    pub fn add_path(&mut self, path: &Path) -> (Vec<String>, Vec<RuleLoadError>) {
        let mut added = Vec::new();
        let mut errors = Vec::new();
        // Helpers first: the rules of the directory import them.
        let lib = path.join(HELPER_DIR);
        if path.is_dir() && lib.is_dir() {
            match rule_files(&lib) {
                Ok(files) => {
                    for file in files {
                        let origin = file.display().to_string();
                        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
                        let result = read_rule_file(&file)
                            .map_err(|e| RuleLoadError::new(&origin, e))
                            .and_then(|source| self.add_helper(&origin, name, &source));
                        if let Err(e) = result {
                            errors.push(e);
                        }
                    }
                }
                Err(error) => errors.push(error),
            }
        }
        for file in match rule_files(path) {
            Ok(files) => files,
            Err(error) => return (added, vec![error]),
        } {
            let origin = file.display().to_string();
            let source = match read_rule_file(&file) {
                Ok(source) => source,
                Err(e) => {
                    errors.push(RuleLoadError::new(&origin, e));
                    continue;
                }
            };
            let stem = file.file_stem().and_then(|s| s.to_str());
            match self.add_source(&origin, &source, stem) {
                Ok(()) => added.extend(stem.map(str::to_string)),
                Err(error) => errors.push(error),
            }
        }
        (added, errors)
    }

    /// Recompiles the rule loaded from `origin` from `source` (watch mode). On an error
    /// the set is unchanged, so the last good version keeps running. Returns the id the
    /// file had before, if it was loaded (it differs when the edit changed the id).
    pub fn reload_source(
        &mut self,
        origin: &str,
        source: &str,
        expected_id: Option<&str>,
    ) -> Result<Option<String>, RuleLoadError> {
        let rule = self.compile(origin, source, expected_id)?;
        if let Some(existing) = self.get(&rule.meta.id)
            && existing.origin != origin
        {
            let mut error = RuleLoadError::new(
                origin,
                format!(
                    "rule id `{}` is already defined by {}",
                    rule.meta.id, existing.origin
                ),
            );
            error.source = Some(source.into());
            return Err(error);
        }
        let previous = self.remove_origin(origin);
        self.rules.push(Arc::new(rule));
        self.rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
        Ok(previous)
    }

    /// Compiles a rule under this set's limits.
    fn compile(
        &self,
        origin: &str,
        source: &str,
        expected_id: Option<&str>,
    ) -> Result<Rule, RuleLoadError> {
        // Compile time grows faster than linearly with the number of functions: bound the
        // text before the parser sees it (the function count is bounded by the engine).
        let max = self.limits.max_rule_source;
        if source.len() > max {
            return Err(RuleLoadError::new(
                origin,
                format!(
                    "the rule is {} KiB, over the {} KiB limit for one rule file",
                    source.len().div_ceil(1024),
                    max / 1024
                ),
            )
            .help("split it into smaller rules"));
        }
        compile_rule(
            &self.engine,
            origin,
            source,
            expected_id,
            &self.helpers.names(),
        )
    }

    /// Recompiles the rule file at `path` (watch mode): the file is read again and replaces
    /// the rule loaded from it, as [`reload_source`](Self::reload_source) does. A file that is
    /// gone removes its rule (`Ok` with the id it had).
    pub fn reload_path(&mut self, path: &Path) -> Result<Option<String>, RuleLoadError> {
        let origin = path.display().to_string();
        match read_rule_file(path) {
            Ok(source) => {
                let stem = path.file_stem().and_then(|s| s.to_str());
                self.reload_source(&origin, &source, stem)
            }
            Err(_) if !path.exists() => Ok(self.remove_origin(&origin)),
            Err(message) => Err(RuleLoadError::new(&origin, message)),
        }
    }

    /// The rule files `path` stands for: itself when it is a file, else the `*.rhai` files
    /// in it, sorted (what [`add_path`](Self::add_path) loads).
    pub fn rule_files(path: &Path) -> Result<Vec<PathBuf>, RuleLoadError> {
        rule_files(path)
    }

    /// Reads one rule file with the size cap [`add_path`](Self::add_path) uses.
    pub fn read_rule_file(path: &Path) -> Result<String, String> {
        read_rule_file(path)
    }

    /// Removes the rule loaded from `origin`; returns its id.
    pub fn remove_origin(&mut self, origin: &str) -> Option<String> {
        let index = self.rules.iter().position(|r| r.origin == origin)?;
        Some(self.rules.remove(index).meta.id.clone())
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Stops this set's running and future evaluations (for Ctrl-C).
    pub fn stop_handle(&self) -> &crate::sandbox::StopHandle {
        &self.stop
    }

    /// The limits rules of this set run under.
    pub fn limits(&self) -> &crate::sandbox::Limits {
        &self.limits
    }

    /// Rules sorted by id.
    pub fn rules(&self) -> &[Arc<Rule>] {
        &self.rules
    }

    /// The rule with `id`, if loaded.
    pub fn get(&self, id: &str) -> Option<&Arc<Rule>> {
        self.rules.iter().find(|r| r.meta.id == id)
    }

    /// The ids of the rules, sorted.
    pub fn ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.meta.id.as_str()).collect()
    }
}

/// Largest rule file read from disk (the engine's own limit, [`crate::sandbox::Limits`],
/// may be lower).
const MAX_RULE_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads one rule file, bounded (only regular files).
pub(crate) fn read_rule_file(path: &Path) -> Result<String, String> {
    crate::files::read_text(path, MAX_RULE_FILE_BYTES, crate::files::Origin::Found)
        .map_err(|e| e.to_string())
}

/// The rule files `path` stands for: itself when it is a file, else the `*.rhai` files
/// in it, sorted.
pub(crate) fn rule_files(path: &Path) -> Result<Vec<PathBuf>, RuleLoadError> {
    let origin = path.display().to_string();
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| RuleLoadError::new(&origin, format!("cannot read rules directory: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "rhai") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// The rule's reference page: header, metadata, its docs and a settings table. `portcullis
/// explain` prints it and `docs/rules/<id>.md` is generated from it.
pub(crate) fn render_markdown(rule: &Rule) -> String {
    let meta = &rule.meta;
    let mut out = format!("# `{}`: {}\n\n", meta.id, meta.title);
    out.push_str(&format!(
        "Severity: **{}** · Enabled by default: **{}**\n\n",
        meta.severity,
        if meta.disabled_by_default {
            "no"
        } else {
            "yes"
        }
    ));
    let inputs: Vec<&str> = meta
        .inputs
        .iter()
        .map(|i| match i {
            RuleInput::Manifests => "Kubernetes manifests",
            RuleInput::Dockerfiles => "Dockerfiles",
        })
        .collect();
    out.push_str(&format!("Checks: {}\n\n", inputs.join(", ")));
    out.push_str(&format!("Remediation: {}\n\n", meta.remediation));
    out.push_str(rule.docs.trim());
    out.push('\n');
    if !meta.settings.is_empty() {
        out.push_str("\n### Settings reference\n\n| setting | type | default | description |\n|---|---|---|---|\n");
        for (name, spec) in &meta.settings {
            out.push_str(&format!(
                "| `{name}` | {} | `{}` | {} |\n",
                spec.kind.as_str(),
                spec.default,
                spec.description
            ));
        }
    }
    out
}
