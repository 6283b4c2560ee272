//! The Rhai sandbox rules run in, and the API it exposes to them.
//!
//! The engine starts from `Engine::new_raw()` and gets only the packages rules need: no file
//! or network access, no imports but helper modules of the loaded rules, no `eval`, no clock. Operation, call-depth,
//! expression-depth and size limits stop runaway rules; a tripped limit is an error for that
//! rule and resource only. `print`/`debug` go to the log.
//!
//! The workload reaches rules as typed views with getters (no deep copies per property
//! read); the functions in [`rule_api`] are documented with `///` comments, from which
//! the `api_docs` module generates the rule API reference.

mod budget;
mod dockerfile_views;
mod helpers;
mod strict_equality;
#[cfg(test)]
mod tests;
mod workload_views;

pub(crate) use dockerfile_views::dockerfile_api;
pub(crate) use workload_views::workload_api;

pub use budget::StopHandle;
pub(crate) use budget::{DEADLINE_TOKEN, with_deadline};
pub use helpers::HelperModules;
pub(crate) use helpers::compile_helper;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;

use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage,
    BasicMathPackage, BasicStringPackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine, Map, exported_module};

use crate::facts::{FactsIndex, ImageFacts};
use crate::image::{ImagePattern, ImagePatternSet, ImageRef};
use crate::workload::{Container, EnvVar, Workload};

/// Resource limits applied to every rule evaluation.
/// Build one with `Limits { field: value, ..Limits::default() }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rhai operations per rule per workload.
    pub max_operations: u64,
    /// Depth of function calls (runaway recursion).
    pub max_call_levels: usize,
    /// Depth of nested expressions at the top level of a rule, checked when it compiles.
    pub max_expr_depth: usize,
    /// Depth of nested expressions inside functions, checked when it compiles.
    pub max_function_expr_depth: usize,
    /// Bytes of any string, and of all strings in an array or map.
    pub max_string_size: usize,
    /// Elements of an array, nested arrays counted.
    pub max_array_size: usize,
    /// Entries of a map, nested maps counted.
    pub max_map_size: usize,
    /// Variables in scope at once.
    pub max_variables: usize,
    /// Wall-clock time one rule may run on one workload; `None`: the operation limit only.
    /// The operation limit alone does not bound time: one `regex_match` over a long string
    /// is one operation.
    pub max_rule_time: Option<std::time::Duration>,
    /// Functions one rule file may define (compile time grows faster than their number).
    pub max_functions: usize,
    /// Bytes of one rule file.
    pub max_rule_source: usize,
    /// Whether `==` and `!=` between values of different types raise an error (the loops
    /// where rules are written: `portcullis test`, `check --watch`). Off for plain runs:
    /// Rhai's fast built-in operators cost ~9% less on a 2,000-Deployment `check`, and the
    /// load-time checks already catch a typed property compared with a literal.
    pub strict_equality: bool,
}

/// The default of [`Limits::max_rule_time`]: rules of the default pack take microseconds.
pub const DEFAULT_RULE_TIME: std::time::Duration = std::time::Duration::from_millis(250);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 500_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 32,
            max_string_size: 1 << 20,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_variables: 1_000,
            max_rule_time: Some(DEFAULT_RULE_TIME),
            max_functions: 1_000,
            max_rule_source: 1 << 20,
            strict_equality: false,
        }
    }
}

/// Builds the sandboxed engine with the rule API registered; `stop` ends its evaluations;
/// `helpers` are the only modules rules can `import`.
pub fn engine_with_helpers(limits: &Limits, stop: &StopHandle, helpers: HelperModules) -> Engine {
    let mut engine = Engine::new_raw();
    // Not `CorePackage`: its language-core part brings `sleep` and `exit`, which would let a
    // rule stall or stop the host outside the operation limit.
    // One flat global module: Rhai looks a function up in each global module in turn, and
    // a fresh lookup happens for every call of every rule evaluation.
    let mut functions = rhai::Module::new();
    for package in [
        ArithmeticPackage::new().as_shared_module(),
        BasicStringPackage::new().as_shared_module(),
        BasicIteratorPackage::new().as_shared_module(),
        BasicFnPackage::new().as_shared_module(),
        LogicPackage::new().as_shared_module(),
        BasicMathPackage::new().as_shared_module(),
        BasicArrayPackage::new().as_shared_module(),
        BasicMapPackage::new().as_shared_module(),
        MoreStringPackage::new().as_shared_module(),
    ] {
        functions.combine_flatten((*package).clone());
    }
    // After the packages: the checked built-ins replace the unchecked ones of the same name.
    functions.combine_flatten(exported_module!(budget::checked_builtins));
    functions.combine_flatten(exported_module!(rule_api));
    functions.combine_flatten(exported_module!(dockerfile_api));
    functions.combine_flatten(exported_module!(workload_api));
    if limits.strict_equality {
        strict_equality::register(&mut functions);
    }
    engine.register_global_module(functions.into());

    engine
        .set_module_resolver(helpers)
        // Imports run inside rule functions, on every call: a bound, not a budget.
        .set_max_modules(64)
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_max_variables(limits.max_variables)
        .set_max_functions(limits.max_functions)
        .set_strict_variables(true)
        // Registered operators (the raising `==` between different types) must be found
        // before Rhai's built-in fallback, which says `false`.
        .set_fast_operators(!limits.strict_equality)
        .disable_symbol("eval");
    let stop = stop.clone();
    engine.on_progress(move |operations| budget::on_progress(operations, &stop));
    engine.on_print(|text| log::info!(target: "portcullis::rule", "{text}"));
    engine.on_debug(|text, source, pos| {
        log::debug!(target: "portcullis::rule", "{}", debug_line(text, source, pos))
    });
    engine
}

/// `debug(…)` output as `file:line:column: text`, the form editors and terminals link.
fn debug_line(text: &str, source: Option<&str>, pos: rhai::Position) -> String {
    let place = match (pos.line(), pos.position()) {
        (Some(line), Some(column)) => format!("{line}:{column}"),
        (Some(line), None) => line.to_string(),
        _ => String::new(),
    };
    match (source.filter(|s| !s.is_empty()), place.is_empty()) {
        (Some(source), false) => format!("{source}:{place}: {text}"),
        (Some(source), true) => format!("{source}: {text}"),
        (None, false) => format!("{place}: {text}"),
        (None, true) => text.to_string(),
    }
}

#[cfg(test)]
mod debug_line_tests {
    use super::debug_line;
    use rhai::Position;

    #[test]
    fn file_line_and_column_are_separated_by_colons() {
        let pos = Position::new(2, 32);
        assert_eq!(
            debug_line("hi", Some("scratch/dbg.rhai"), pos),
            "scratch/dbg.rhai:2:32: hi"
        );
        assert_eq!(debug_line("hi", None, pos), "2:32: hi");
        assert_eq!(
            debug_line("hi", Some("r.rhai"), Position::NONE),
            "r.rhai: hi"
        );
        assert_eq!(debug_line("hi", None, Position::NONE), "hi");
    }
}

/// A workload as rules see it, with the image facts of the run (if any) for its containers.
#[derive(Debug, Clone)]
pub struct WorkloadView(pub Arc<Workload>, pub Option<Arc<FactsIndex>>);

/// A container as rules see it.
#[derive(Debug, Clone)]
pub struct ContainerView(pub Arc<Container>, pub Option<Arc<FactsIndex>>);

/// An image reference as rules see it; invalid references are views too, with `valid == false`.
#[derive(Debug, Clone)]
pub struct ImageView(pub Arc<crate::workload::Image>, pub Option<Arc<FactsIndex>>);

/// The facts known about an image (see [`crate::facts`]), with the digest they are keyed by.
#[derive(Debug, Clone)]
pub struct ImageFactsView {
    pub digest: rhai::ImmutableString,
    pub facts: Arc<ImageFacts>,
}

/// A signature trust policy compiled by `signature_trust`; cheap to clone.
#[derive(Debug, Clone)]
pub struct SignatureTrustView(pub Arc<crate::signatures::Trust>);

/// The effective securityContext of a container.
#[derive(Debug, Clone)]
pub struct SecurityView(pub Arc<Container>);

/// One environment variable and its position in the container's `env`.
#[derive(Debug, Clone)]
pub struct EnvView(pub Arc<Container>, pub usize);

/// What a rule reports: the engine adds rule id, severity, remediation and resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingDraft {
    pub container: Option<String>,
    pub path: String,
    /// The line the path is written on, when the input says (Dockerfiles).
    pub line: Option<usize>,
    pub message: String,
}

impl ImageView {
    fn of(container: &ContainerView) -> ImageView {
        ImageView(container.0.image.clone(), container.1.clone())
    }

    fn parse(reference: &str) -> ImageView {
        ImageView(
            Arc::new(crate::workload::Image {
                raw: reference.to_string(),
                parsed: ImageRef::parse(reference),
                kind: crate::workload::ImageKind::Registry,
            }),
            None,
        )
    }

    fn valid(&self) -> Option<&ImageRef> {
        self.0.valid()
    }
}

impl EnvView {
    fn var(&self) -> &EnvVar {
        &self.0.env[self.1]
    }
}

fn opt_str(value: Option<&str>) -> Dynamic {
    value.map_or(Dynamic::UNIT, |s| s.into())
}

fn opt<T: Into<Dynamic>>(value: Option<T>) -> Dynamic {
    value.map_or(Dynamic::UNIT, Into::into)
}

fn string_map(map: &std::collections::BTreeMap<String, String>) -> Map {
    map.iter()
        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
        .collect()
}

fn string_array(items: &[String]) -> rhai::Array {
    items.iter().map(|s| s.as_str().into()).collect()
}

const CACHE_CAPACITY: usize = 4096;

/// Upper-cased, with `-` and `.` read as `_`: how credential names are compared.
fn normalize_env_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// The first string of `items` for which `test` holds, as a `Dynamic`; `()` when none does.
fn first_matching(
    items: rhai::Array,
    test: impl Fn(&str) -> bool,
) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    for item in items {
        let Some(text) = item.read_lock::<rhai::ImmutableString>() else {
            return Err(format!(
                "expected an array of strings, found {} in it",
                item.type_name()
            )
            .into());
        };
        if test(&text) {
            drop(text);
            return Ok(item);
        }
    }
    Ok(Dynamic::UNIT)
}

thread_local! {
    /// The time signatures are verified at (Unix seconds), set by the policy before each
    /// rule runs: rules have no clock of their own.
    static VERIFICATION_TIME: Cell<i64> = const { Cell::new(crate::signatures::NO_CLOCK) };
}

/// Sets the time `signature_verdict` verifies at, on this thread.
pub(crate) fn set_verification_time(now: i64) {
    VERIFICATION_TIME.with(|time| time.set(now));
}

thread_local! {
    /// The container a rule last looked at (its address), so that a runtime error can name
    /// the container being evaluated. Set by every container getter: one thread-local
    /// store, cheaper than any bookkeeping in the rules.
    static LAST_CONTAINER: Cell<usize> = const { Cell::new(0) };
}

thread_local! {
    /// Whether the running rule asked for the facts of an image that has none: a rule that
    /// then finds nothing did not decide (JUnit shows it skipped, not passed).
    static MISSING_FACTS: Cell<bool> = const { Cell::new(false) };
}

fn note_missing_facts() {
    MISSING_FACTS.with(|missing| missing.set(true));
}

/// Whether the rule that ran since the last call asked for image facts that were missing;
/// resets the flag.
pub fn take_missing_facts() -> bool {
    MISSING_FACTS.with(|missing| missing.replace(false))
}

fn note_container(container: &Arc<Container>) {
    LAST_CONTAINER.with(|last| last.set(Arc::as_ptr(container) as usize));
}

/// Forgets the last container; call before running a rule.
pub(crate) fn reset_last_container() {
    LAST_CONTAINER.with(|last| last.set(0));
}

/// The container of `containers` the running rule last looked at, if any.
pub(crate) fn last_container(containers: &[Arc<Container>]) -> Option<&Arc<Container>> {
    let address = LAST_CONTAINER.with(Cell::get);
    containers
        .iter()
        .find(|c| Arc::as_ptr(c) as usize == address)
}

/// Compiled patterns keyed by their text; ahash because these lookups sit on the
/// per-container path and the keys come from rules and configuration, not from manifests.
/// Bounded by entries and by key bytes: a rule that builds a new pattern per call must not
/// grow the cache without end.
struct Cache<T> {
    map: HashMap<String, Result<T, String>, ahash::RandomState>,
    key_bytes: usize,
}

impl<T> Default for Cache<T> {
    fn default() -> Self {
        Cache {
            map: HashMap::default(),
            key_bytes: 0,
        }
    }
}

/// Bytes of pattern text each cache holds at most.
const CACHE_KEY_BYTES: usize = 4 << 20;
/// Bytes of one regular expression (its compiled size has its own limit).
pub(crate) const MAX_REGEX_LEN: usize = 16 * 1024;
/// Patterns in one list given to `image_matches_any`.
pub(crate) const MAX_PATTERNS: usize = 10_000;

thread_local! {
    static PATTERNS: RefCell<Cache<Arc<ImagePattern>>> = RefCell::new(Cache::default());
    static PATTERN_SETS: RefCell<Cache<Arc<ImagePatternSet>>> = RefCell::new(Cache::default());
    static REGEXES: RefCell<Cache<Arc<regex::Regex>>> = RefCell::new(Cache::default());
    static GLOBS: RefCell<Cache<Arc<crate::glob::Glob>>> = RefCell::new(Cache::default());
}

/// Compiles each distinct pattern once per thread: rules call helpers per container, with
/// the same few patterns from their settings. Entries are `Arc`s: cloning a `Regex` itself
/// would give it a fresh match cache on every call.
fn cached<T: Clone>(
    cache: &'static std::thread::LocalKey<RefCell<Cache<T>>>,
    key: &str,
    compile: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, String> {
    cache.with(|cell| {
        if let Some(hit) = cell.borrow().map.get(key) {
            return hit.clone();
        }
        let compiled = compile(key);
        let mut cache = cell.borrow_mut();
        if cache.map.len() >= CACHE_CAPACITY || cache.key_bytes + key.len() > CACHE_KEY_BYTES {
            cache.map.clear();
            cache.key_bytes = 0;
        }
        if key.len() <= CACHE_KEY_BYTES {
            cache.key_bytes += key.len();
            cache.map.insert(key.to_string(), compiled.clone());
        }
        compiled
    })
}

pub(crate) fn image_pattern(pattern: &str) -> Result<Arc<ImagePattern>, String> {
    cached(&PATTERNS, pattern, |p| ImagePattern::new(p).map(Arc::new))
}

fn compiled_regex(pattern: &str) -> Result<Arc<regex::Regex>, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex `{}` is {} bytes long, over the limit of {MAX_REGEX_LEN}",
            crate::glob::shown(pattern),
            pattern.len()
        ));
    }
    cached(&REGEXES, pattern, |p| {
        regex::RegexBuilder::new(p)
            .size_limit(1 << 20)
            .build()
            .map(Arc::new)
            .map_err(|e| format!("invalid regex `{}`: {e}", crate::glob::shown(p)))
    })
}

fn compiled_glob(pattern: &str) -> Result<Arc<crate::glob::Glob>, String> {
    cached(&GLOBS, pattern, |p| crate::glob::Glob::new(p).map(Arc::new))
}

/// The functions and properties rules can use, besides Rhai's core language.
#[rhai::export_module]
pub mod rule_api {
    use super::*;
    use rhai::{Array, EvalAltResult, ImmutableString, Position};

    pub type Workload = WorkloadView;
    pub type Container = ContainerView;
    pub type Image = ImageView;
    pub type SecurityContext = SecurityView;
    pub type Env = EnvView;
    pub type Finding = FindingDraft;
    pub type ImageFacts = ImageFactsView;
    pub type SignatureTrust = SignatureTrustView;

    fn error(message: String) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(message.into(), Position::NONE))
    }

    // ---- Workload ----

    /// The object's kind: `Pod`, `Deployment`, `CronJob`, …
    #[rhai_fn(get = "kind", pure)]
    pub fn workload_kind(w: &mut Workload) -> ImmutableString {
        w.0.kind.as_str().into()
    }
    /// The object's `apiVersion`.
    #[rhai_fn(get = "api_version", pure)]
    pub fn workload_api_version(w: &mut Workload) -> ImmutableString {
        w.0.api_version.as_str().into()
    }
    /// The object's name (its `generateName` when it has no name).
    #[rhai_fn(get = "name", pure)]
    pub fn workload_name(w: &mut Workload) -> ImmutableString {
        w.0.name.as_str().into()
    }
    /// The object's namespace. A manifest without `metadata.namespace` (such as most
    /// `helm template` output) gets the run's namespace: `check --namespace NAME`, else the
    /// configuration's `namespace`, else `default`, as `kubectl apply` would; an
    /// AdmissionReview's namespace is the request's. Example: `workload.namespace.starts_with("prod-")`.
    #[rhai_fn(get = "namespace", pure)]
    pub fn workload_namespace(w: &mut Workload) -> ImmutableString {
        w.0.namespace.as_str().into()
    }
    /// The object's own labels, as a map of strings.
    #[rhai_fn(get = "labels", pure)]
    pub fn workload_labels(w: &mut Workload) -> Map {
        string_map(&w.0.labels())
    }
    /// The object's own annotations, as a map of strings.
    #[rhai_fn(get = "annotations", pure)]
    pub fn workload_annotations(w: &mut Workload) -> Map {
        string_map(&w.0.annotations())
    }
    /// The pod's labels: the pod template's for controllers, the object's own for a Pod.
    #[rhai_fn(get = "pod_labels", pure)]
    pub fn workload_pod_labels(w: &mut Workload) -> Map {
        string_map(&w.0.pod_labels())
    }
    /// The pod's annotations: the pod template's for controllers, the object's own for a Pod.
    #[rhai_fn(get = "pod_annotations", pure)]
    pub fn workload_pod_annotations(w: &mut Workload) -> Map {
        string_map(&w.0.pod_annotations())
    }
    /// The pod's operating system, lower case (`"windows"`, `"linux"`): `spec.os.name`, else
    /// the `kubernetes.io/os` node selector; `()` when the manifest says neither.
    #[rhai_fn(get = "os", pure)]
    pub fn workload_os(w: &mut Workload) -> Dynamic {
        opt_str(w.0.os.as_deref())
    }
    /// `serviceAccountName` of the pod, or `()` when unset.
    #[rhai_fn(get = "service_account_name", pure)]
    pub fn workload_service_account_name(w: &mut Workload) -> Dynamic {
        opt_str(w.0.service_account_name.as_deref())
    }
    /// Names of the pod's `imagePullSecrets`, as an array of strings.
    #[rhai_fn(get = "image_pull_secrets", pure)]
    pub fn workload_image_pull_secrets(w: &mut Workload) -> Array {
        string_array(&w.0.image_pull_secrets)
    }
    /// Field path of the pod spec, e.g. `spec.template.spec`.
    #[rhai_fn(get = "pod_spec_path", pure)]
    pub fn workload_pod_spec_path(w: &mut Workload) -> ImmutableString {
        w.0.pod_spec_path.as_str().into()
    }
    /// Field path of the pod's metadata, for findings about pod labels or annotations:
    /// `metadata` for a Pod, `spec.template.metadata` for a Deployment.
    #[rhai_fn(get = "pod_metadata_path", pure)]
    pub fn workload_pod_metadata_path(w: &mut Workload) -> ImmutableString {
        w.0.pod_metadata_path().into()
    }
    /// Every container: init, app and ephemeral, in that order.
    #[rhai_fn(get = "containers", pure)]
    pub fn workload_containers(w: &mut Workload) -> Array {
        w.0.containers
            .iter()
            .map(|c| Dynamic::from(ContainerView(c.clone(), w.1.clone())))
            .collect()
    }
    /// The whole object as a map, for fields the normalized view does not carry (for a
    /// Dockerfile, the parsed file). Building it copies the object: prefer the typed
    /// properties.
    #[rhai_fn(get = "raw", pure, return_raw)]
    pub fn workload_raw(w: &mut Workload) -> Result<Dynamic, Box<EvalAltResult>> {
        match &w.0.dockerfile {
            Some(file) => rhai::serde::to_dynamic(&**file),
            None => rhai::serde::to_dynamic(&*w.0.raw),
        }
    }

    // ---- Container ----

    /// The container's name.
    #[rhai_fn(get = "name", pure)]
    pub fn container_name(c: &mut Container) -> ImmutableString {
        note_container(&c.0);
        c.0.name.as_str().into()
    }
    /// `init`, `app` or `ephemeral`; for a Dockerfile, `final` (the stage that is built) or
    /// `stage` (an intermediate build stage).
    #[rhai_fn(get = "role", pure)]
    pub fn container_role(c: &mut Container) -> ImmutableString {
        note_container(&c.0);
        c.0.role.as_str().into()
    }
    /// Field path of the container, e.g. `spec.template.spec.initContainers[0]`.
    #[rhai_fn(get = "path", pure)]
    pub fn container_path(c: &mut Container) -> ImmutableString {
        note_container(&c.0);
        c.0.path.as_str().into()
    }
    /// The container's image, parsed and normalized.
    #[rhai_fn(get = "image", pure)]
    pub fn container_image(c: &mut Container) -> Image {
        note_container(&c.0);
        ImageView::of(c)
    }
    /// The effective pull policy: the field when set, else Kubernetes' default (`Always` for
    /// the tag `latest` or no tag and no digest, else `IfNotPresent`).
    #[rhai_fn(get = "image_pull_policy", pure)]
    pub fn container_image_pull_policy(c: &mut Container) -> ImmutableString {
        note_container(&c.0);
        c.0.image_pull_policy.as_str().into()
    }
    /// The pull policy as written in the manifest, or `()` when unset.
    #[rhai_fn(get = "image_pull_policy_set", pure)]
    pub fn container_image_pull_policy_set(c: &mut Container) -> Dynamic {
        note_container(&c.0);
        opt_str(c.0.image_pull_policy_set.as_deref())
    }
    /// The effective securityContext (container fields over pod fields).
    #[rhai_fn(get = "security", pure)]
    pub fn container_security(c: &mut Container) -> SecurityContext {
        note_container(&c.0);
        SecurityView(c.0.clone())
    }
    /// The container's `command`, as an array of strings.
    #[rhai_fn(get = "command", pure)]
    pub fn container_command(c: &mut Container) -> Array {
        note_container(&c.0);
        string_array(&c.0.command)
    }
    /// The container's `args`, as an array of strings.
    #[rhai_fn(get = "args", pure)]
    pub fn container_args(c: &mut Container) -> Array {
        note_container(&c.0);
        string_array(&c.0.args)
    }
    /// The container's environment variables, in order.
    #[rhai_fn(get = "env", pure)]
    pub fn container_env(c: &mut Container) -> Array {
        note_container(&c.0);
        (0..c.0.env.len())
            .map(|i| Dynamic::from(EnvView(c.0.clone(), i)))
            .collect()
    }

    // ---- Image ----

    /// The reference exactly as written.
    #[rhai_fn(get = "raw", pure)]
    pub fn image_raw(i: &mut Image) -> ImmutableString {
        i.0.raw.as_str().into()
    }
    /// Whether the reference parses per the Docker/OCI grammar.
    #[rhai_fn(get = "valid", pure)]
    pub fn image_valid(i: &mut Image) -> bool {
        i.0.parsed.is_ok()
    }
    /// Why the reference does not parse, or `()` when it does.
    #[rhai_fn(get = "error", pure)]
    pub fn image_error(i: &mut Image) -> Dynamic {
        opt_str(i.0.parsed.as_ref().err().map(|e| e.reason.as_str()))
    }
    /// Registry host with port: `docker.io`, `registry:5000`; `()` when invalid.
    #[rhai_fn(get = "registry", pure)]
    pub fn image_registry(i: &mut Image) -> Dynamic {
        opt_str(i.valid().map(|r| r.registry.as_str()))
    }
    /// Repository path below the registry: `library/nginx`; `()` when invalid.
    #[rhai_fn(get = "repository", pure)]
    pub fn image_repository(i: &mut Image) -> Dynamic {
        opt_str(i.valid().map(|r| r.repository.as_str()))
    }
    /// Normalized name without tag or digest: `docker.io/library/nginx`; `()` when invalid.
    #[rhai_fn(get = "name", pure)]
    pub fn image_name(i: &mut Image) -> Dynamic {
        opt_str(i.valid().map(|r| r.name.as_str()))
    }
    /// The tag as written, or `()` (no implicit `latest`).
    #[rhai_fn(get = "tag", pure)]
    pub fn image_tag(i: &mut Image) -> Dynamic {
        opt_str(i.valid().and_then(|r| r.tag.as_deref()))
    }
    /// The tag that is pulled: the tag, or `latest` when there is neither tag nor digest.
    #[rhai_fn(get = "effective_tag", pure)]
    pub fn image_effective_tag(i: &mut Image) -> Dynamic {
        opt_str(i.valid().and_then(|r| r.effective_tag()))
    }
    /// The digest (`sha256:…`), or `()`.
    #[rhai_fn(get = "digest", pure)]
    pub fn image_digest(i: &mut Image) -> Dynamic {
        opt_str(i.valid().and_then(|r| r.digest.as_deref()))
    }
    /// The image as text: the reference as written.
    #[rhai_fn(name = "to_string", pure)]
    pub fn image_to_string(i: &mut Image) -> ImmutableString {
        i.0.raw.as_str().into()
    }

    /// The facts known about this image (from `check --image-facts` or `--pull-facts`),
    /// looked up by digest when the reference has one, else by `name:tag`; `()` when none
    /// are known.
    #[rhai_fn(get = "facts", pure)]
    pub fn image_facts(i: &mut Image) -> Dynamic {
        let found = match (&i.1, i.0.valid()) {
            (Some(index), Some(reference)) => index.lookup(reference),
            _ => None,
        };
        match found {
            Some((digest, facts)) => Dynamic::from(ImageFactsView {
                digest: digest.into(),
                facts: facts.clone(),
            }),
            None => {
                super::note_missing_facts();
                Dynamic::UNIT
            }
        }
    }

    // ---- ImageFacts ----

    /// The digest the facts are keyed by: the image manifest's (`sha256:…`), or for an
    /// image read from a `docker save` archive, its config's.
    #[rhai_fn(get = "digest", pure)]
    pub fn facts_digest(f: &mut ImageFacts) -> ImmutableString {
        f.digest.clone()
    }
    /// References the image was seen under when the facts were collected.
    #[rhai_fn(get = "references", pure)]
    pub fn facts_references(f: &mut ImageFacts) -> Array {
        f.facts
            .references
            .iter()
            .map(|r| r.as_str().into())
            .collect()
    }
    /// Operating system (`linux`), or `()` when unknown.
    #[rhai_fn(get = "os", pure)]
    pub fn facts_os(f: &mut ImageFacts) -> Dynamic {
        opt_str(f.facts.platform.as_ref().map(|p| p.os.as_str()))
    }
    /// CPU architecture (`amd64`, `arm64`), or `()` when unknown.
    #[rhai_fn(get = "architecture", pure)]
    pub fn facts_architecture(f: &mut ImageFacts) -> Dynamic {
        opt_str(f.facts.platform.as_ref().map(|p| p.architecture.as_str()))
    }
    /// The config's `USER` as written (`""` when the image sets none, which means root), or
    /// `()` when the config is unknown.
    #[rhai_fn(get = "user", pure)]
    pub fn facts_user(f: &mut ImageFacts) -> Dynamic {
        opt_str(f.facts.config.as_ref().map(|c| c.user.as_str()))
    }
    /// Whether the config's user is root (empty, `root` or uid 0, with any group), or `()`
    /// when the config is unknown.
    #[rhai_fn(get = "user_is_root", pure)]
    pub fn facts_user_is_root(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.config.as_ref().map(|c| c.user_is_root()))
    }
    /// Names of the config's `ENV` variables (values are not kept), or `()`.
    #[rhai_fn(get = "env_names", pure)]
    pub fn facts_env_names(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.config.as_ref().map(|c| string_array(&c.env)))
    }
    /// `ENV` variables whose value looked like a credential at collection, as maps
    /// `#{name, reason}`; `()` when the config is unknown.
    #[rhai_fn(get = "env_secrets", pure)]
    pub fn facts_env_secrets(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.config.as_ref().map(|c| {
            c.env_secrets
                .iter()
                .map(|s| {
                    let mut map = Map::new();
                    map.insert("name".into(), s.name.as_str().into());
                    map.insert("reason".into(), s.reason.as_str().into());
                    Dynamic::from_map(map)
                })
                .collect::<Array>()
        }))
    }
    /// The config's `ENTRYPOINT`, or `()`.
    #[rhai_fn(get = "entrypoint", pure)]
    pub fn facts_entrypoint(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.config.as_ref().map(|c| string_array(&c.entrypoint)))
    }
    /// The config's `CMD`, or `()`.
    #[rhai_fn(get = "cmd", pure)]
    pub fn facts_cmd(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.config.as_ref().map(|c| string_array(&c.cmd)))
    }
    /// The config's labels, or `()`.
    #[rhai_fn(get = "labels", pure)]
    pub fn facts_labels(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.config.as_ref().map(|c| string_map(&c.labels)))
    }
    /// The base image named by the label `org.opencontainers.image.base.name`, or `()`.
    #[rhai_fn(get = "base_name", pure)]
    pub fn facts_base_name(f: &mut ImageFacts) -> Dynamic {
        opt_str(f.facts.config.as_ref().and_then(|c| c.base_name()))
    }
    /// When the image was built (RFC 3339, as the config says), or `()`.
    #[rhai_fn(get = "created", pure)]
    pub fn facts_created(f: &mut ImageFacts) -> Dynamic {
        opt_str(f.facts.config.as_ref().and_then(|c| c.created.as_deref()))
    }
    /// Total size of the layers in bytes, as stored (compressed in a registry), or `()`.
    #[rhai_fn(get = "size", pure)]
    pub fn facts_size(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.size().map(|s| s as rhai::INT))
    }
    /// Size of each layer in bytes, bottom first, or `()`.
    #[rhai_fn(get = "layer_sizes", pure)]
    pub fn facts_layer_sizes(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.layers.as_ref().map(|layers| {
            layers
                .iter()
                .map(|l| Dynamic::from(l.size as rhai::INT))
                .collect::<Array>()
        }))
    }
    /// Shells in the filesystem (`sh`, `bash`, `ash`, `dash`, `zsh`, `ksh`, `busybox`):
    /// `[]` when there are none, `()` when the layers were not looked at.
    #[rhai_fn(get = "shells", pure)]
    pub fn facts_shells(f: &mut ImageFacts) -> Dynamic {
        opt(f
            .facts
            .filesystem
            .as_ref()
            .map(|fs| string_array(&fs.shells)))
    }
    /// Package managers or their databases in the filesystem (`dpkg`, `apt`, `apk`, `rpm`,
    /// `yum`, `dnf`, `pip`): `[]` when there are none, `()` when not looked at.
    #[rhai_fn(get = "package_managers", pure)]
    pub fn facts_package_managers(f: &mut ImageFacts) -> Dynamic {
        opt(f
            .facts
            .filesystem
            .as_ref()
            .map(|fs| string_array(&fs.package_managers)))
    }
    /// The distribution from `/etc/os-release` as `#{id, version_id, pretty_name}` (the
    /// last two may be `()`), or `()` when there is none or the layers were not looked at.
    #[rhai_fn(get = "distro", pure)]
    pub fn facts_distro(f: &mut ImageFacts) -> Dynamic {
        let Some(os) = f
            .facts
            .filesystem
            .as_ref()
            .and_then(|fs| fs.os_release.as_ref())
        else {
            return Dynamic::UNIT;
        };
        let mut map = Map::new();
        map.insert("id".into(), os.id.as_str().into());
        map.insert("version_id".into(), opt_str(os.version_id.as_deref()));
        map.insert("pretty_name".into(), opt_str(os.pretty_name.as_deref()));
        Dynamic::from_map(map)
    }
    /// Whether the layers were looked at (so `shells` and `package_managers` are known).
    #[rhai_fn(get = "filesystem_known", pure)]
    pub fn facts_filesystem_known(f: &mut ImageFacts) -> bool {
        f.facts.filesystem.is_some()
    }
    /// Whether the registry was asked for the image's signatures when the facts were
    /// collected (`portcullis facts collect`, `--pull-facts`); `false` for facts from a
    /// version 1 file, a local image or a scan report alone.
    #[rhai_fn(get = "signatures_collected", pure)]
    pub fn facts_signatures_collected(f: &mut ImageFacts) -> bool {
        f.facts.signatures.is_some()
    }
    /// Whether scan results (Trivy, Grype) were merged into the facts.
    #[rhai_fn(get = "scanned", pure)]
    pub fn facts_scanned(f: &mut ImageFacts) -> bool {
        f.facts.scan.is_some()
    }
    /// The scans merged in, as maps `#{name, version, scanned_at}`, or `()` when unscanned.
    #[rhai_fn(get = "scanners", pure)]
    pub fn facts_scanners(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.scan.as_ref().map(|scan| {
            scan.scanners
                .iter()
                .map(|s| {
                    let mut map = Map::new();
                    map.insert("name".into(), s.name.as_str().into());
                    map.insert("version".into(), opt_str(s.version.as_deref()));
                    map.insert("scanned_at".into(), opt_str(s.scanned_at.as_deref()));
                    Dynamic::from_map(map)
                })
                .collect::<Array>()
        }))
    }
    /// Vulnerabilities found, as maps `#{id, package_name, installed, fixed, severity}` (`fixed`
    /// is `()` without a fix; `severity` is lower case), or `()` when unscanned.
    #[rhai_fn(get = "vulnerabilities", pure)]
    pub fn facts_vulnerabilities(f: &mut ImageFacts) -> Dynamic {
        opt(f.facts.scan.as_ref().map(|scan| {
            scan.vulnerabilities
                .iter()
                .map(|v| {
                    let mut map = Map::new();
                    map.insert("id".into(), v.id.as_str().into());
                    // `package` is a reserved word in Rhai.
                    map.insert("package_name".into(), v.package.as_str().into());
                    map.insert("installed".into(), v.installed.as_str().into());
                    map.insert("fixed".into(), opt_str(v.fixed.as_deref()));
                    map.insert("severity".into(), v.severity.as_str().into());
                    Dynamic::from_map(map)
                })
                .collect::<Array>()
        }))
    }
    /// Secrets a scanner found in the filesystem, as maps `#{rule, title, path, severity}`;
    /// `()` when no scan merged in looked for secrets.
    #[rhai_fn(get = "secrets", pure)]
    pub fn facts_secrets(f: &mut ImageFacts) -> Dynamic {
        opt(f
            .facts
            .scan
            .as_ref()
            .and_then(|scan| scan.secrets.as_ref())
            .map(|secrets| {
                secrets
                    .iter()
                    .map(|s| {
                        let mut map = Map::new();
                        map.insert("rule".into(), s.rule.as_str().into());
                        map.insert("title".into(), s.title.as_str().into());
                        map.insert("path".into(), s.path.as_str().into());
                        map.insert("severity".into(), s.severity.as_str().into());
                        Dynamic::from_map(map)
                    })
                    .collect::<Array>()
            }))
    }

    // ---- Signatures ----

    /// Compiles a signature trust policy from a map, once: call it in `fn prepare(settings)`
    /// and keep the result in the settings. Keys (kebab-case): `keys` (cosign public keys,
    /// PEM), `identities` (keyless signers: maps with `issuer` or `issuer-regexp` and
    /// `subject` or `subject-regexp`), `trusted-root` (a Sigstore `trusted_root.json`, as
    /// text or a map, or `public-good` for the bundled public-good root), `notation` (a map
    /// with `trust-store`, `signing-authority-store`, `tsa-store` (PEM certificates),
    /// `level` (`strict`, `permissive`, `audit`, `skip`) and `trusted-identities`),
    /// `docker-reference`, `match-admitted-reference`, `require-tlog-for-keys`. Empty
    /// values and `()` count as unset. Throws with the bad field named.
    #[rhai_fn(return_raw)]
    pub fn signature_trust(config: Map) -> Result<SignatureTrust, Box<EvalAltResult>> {
        let config: serde_json::Value = rhai::serde::from_dynamic(&config.into())
            .map_err(|e| error(format!("signature trust policy: {e}")))?;
        crate::signatures::Trust::compile(config)
            .map(|trust| SignatureTrustView(Arc::new(trust)))
            .map_err(error)
    }

    /// Verifies the signature material the facts hold for `image` against `trust`, offline.
    /// `()` when none was collected (no facts for the image, or facts collected without
    /// looking for signatures); otherwise a map: `verified` (bool), `reason` (`()` when
    /// verified, else `no-signature`, `digest-mismatch`, `reference-mismatch`,
    /// `bad-signature`, `untrusted-key`, `untrusted-identity`, `untrusted-chain`,
    /// `certificate-expired`, `signature-expired`, `tlog-invalid`, `timestamp-invalid`,
    /// `malformed`, `too-large` or `unsupported`, the most telling over all signatures),
    /// `detail` (what failed, in words), `found` (the signers the material shows, in words),
    /// `signer` (the accepted one, or `()`), `signatures` (how many were examined) and
    /// `problems` (what collection could not read). A reference pinned by digest admits
    /// signatures of that digest only; a tag admits the digests the facts resolved it to.
    /// Verdicts are cached per image.
    #[rhai_fn(return_raw)]
    pub fn signature_verdict(
        image: Image,
        trust: SignatureTrust,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let (Some(index), Some(reference)) = (&image.1, image.valid()) else {
            return Ok(Dynamic::UNIT);
        };
        let Some((key, facts)) = index.lookup(reference) else {
            return Ok(Dynamic::UNIT);
        };
        let now = VERIFICATION_TIME.with(Cell::get);
        let Some(outcome) = trust.0.verdict(index.serial(), key, facts, reference, now) else {
            return Ok(Dynamic::UNIT);
        };
        let mut map = Map::new();
        map.insert("verified".into(), outcome.verified.into());
        map.insert("reason".into(), opt_str(outcome.reason));
        map.insert("detail".into(), outcome.detail.as_str().into());
        map.insert("found".into(), string_array(&outcome.found).into());
        map.insert("signer".into(), opt_str(outcome.signer.as_deref()));
        map.insert(
            "signatures".into(),
            (outcome.signatures as rhai::INT).into(),
        );
        map.insert("problems".into(), string_array(&outcome.problems).into());
        Ok(map.into())
    }

    // ---- SecurityContext ----

    /// Effective `runAsUser`, or `()`.
    #[rhai_fn(get = "run_as_user", pure)]
    pub fn sc_run_as_user(s: &mut SecurityContext) -> Dynamic {
        opt(s.0.security.run_as_user)
    }
    /// Effective `runAsNonRoot`, or `()`.
    #[rhai_fn(get = "run_as_non_root", pure)]
    pub fn sc_run_as_non_root(s: &mut SecurityContext) -> Dynamic {
        opt(s.0.security.run_as_non_root)
    }
    /// Effective `runAsGroup`, or `()`.
    #[rhai_fn(get = "run_as_group", pure)]
    pub fn sc_run_as_group(s: &mut SecurityContext) -> Dynamic {
        opt(s.0.security.run_as_group)
    }
    /// `readOnlyRootFilesystem`, or `()`.
    #[rhai_fn(get = "read_only_root_filesystem", pure)]
    pub fn sc_read_only_root_filesystem(s: &mut SecurityContext) -> Dynamic {
        opt(s.0.security.read_only_root_filesystem)
    }
    /// `allowPrivilegeEscalation`, or `()`.
    #[rhai_fn(get = "allow_privilege_escalation", pure)]
    pub fn sc_allow_privilege_escalation(s: &mut SecurityContext) -> Dynamic {
        opt(s.0.security.allow_privilege_escalation)
    }
    /// `privileged`, or `()`.
    #[rhai_fn(get = "privileged", pure)]
    pub fn sc_privileged(s: &mut SecurityContext) -> Dynamic {
        opt(s.0.security.privileged)
    }
    /// Effective `windowsOptions.runAsUserName` (container over pod), or `()`.
    #[rhai_fn(get = "windows_run_as_user_name", pure)]
    pub fn sc_windows_run_as_user_name(s: &mut SecurityContext) -> Dynamic {
        opt_str(s.0.security.windows_run_as_user_name.as_deref())
    }
    /// Effective `windowsOptions.hostProcess` (container over pod), or `()`.
    #[rhai_fn(get = "windows_host_process", pure)]
    pub fn sc_windows_host_process(s: &mut SecurityContext) -> Dynamic {
        opt(s.0.security.windows_host_process)
    }
    /// Field path where the effective value of `field` (as spelled in the manifest, e.g.
    /// `"runAsUser"`) is set: the pod's securityContext when the container inherits it,
    /// else the container's. Use it with `finding_path`.
    #[rhai_fn(name = "field_path", pure)]
    pub fn sc_field_path(s: &mut SecurityContext, field: ImmutableString) -> ImmutableString {
        s.0.security_field_path(&field).into()
    }
    /// `capabilities.add`, as an array of strings.
    #[rhai_fn(get = "capabilities_add", pure)]
    pub fn sc_capabilities_add(s: &mut SecurityContext) -> Array {
        string_array(&s.0.security.capabilities_add)
    }
    /// `capabilities.drop`, as an array of strings.
    #[rhai_fn(get = "capabilities_drop", pure)]
    pub fn sc_capabilities_drop(s: &mut SecurityContext) -> Array {
        string_array(&s.0.security.capabilities_drop)
    }

    // ---- Env ----

    /// The variable's name.
    #[rhai_fn(get = "name", pure)]
    pub fn env_name(e: &mut Env) -> ImmutableString {
        e.var().name.as_str().into()
    }
    /// The literal `value`, or `()` when the variable has none (e.g. it uses `valueFrom`).
    #[rhai_fn(get = "value", pure)]
    pub fn env_value(e: &mut Env) -> Dynamic {
        opt_str(e.var().value.as_deref())
    }
    /// Whether the variable reads its value from a Secret, ConfigMap or field (`valueFrom`).
    #[rhai_fn(get = "value_from", pure)]
    pub fn env_value_from(e: &mut Env) -> bool {
        e.var().value_from
    }
    /// Position of the variable in the container's `env` list.
    #[rhai_fn(get = "index", pure)]
    pub fn env_index(e: &mut Env) -> rhai::INT {
        e.1 as rhai::INT
    }

    // ---- Findings ----

    /// A finding on `container`, pointing at the container itself (for a Dockerfile
    /// stage, at its `FROM` line).
    #[rhai_fn(name = "finding", pure)]
    pub fn finding(container: &mut Container, message: ImmutableString) -> Finding {
        let (path, line) = match container.0.build {
            Some(_) => container.0.locate(""),
            None => (container.0.path.clone(), None),
        };
        FindingDraft {
            container: Some(container.0.name.clone()),
            path,
            line,
            message: message.to_string(),
        }
    }
    /// A finding on `container` at the sub-path `field` of the container
    /// (e.g. `"image"`, `"securityContext.runAsNonRoot"`, `"env[2].value"`). For a
    /// Dockerfile stage the finding points at the instruction that writes it: `image` at
    /// the `FROM`, `securityContext…` at the `USER` in effect (else the `FROM`), `env[i]…`
    /// at the `ENV` or `ARG`, `instructions[i]` at the stage's i-th instruction after `FROM`.
    #[rhai_fn(name = "finding")]
    pub fn finding_at(
        container: Container,
        message: ImmutableString,
        field: ImmutableString,
    ) -> Finding {
        let (path, line) = container.0.locate(&field);
        FindingDraft {
            container: Some(container.0.name.clone()),
            path,
            line,
            message: message.to_string(),
        }
    }
    /// A finding on `container` at the absolute field path `path` (e.g. from
    /// `c.security.field_path("runAsUser")`).
    #[rhai_fn(name = "finding_path")]
    pub fn finding_path(
        container: Container,
        message: ImmutableString,
        path: ImmutableString,
    ) -> Finding {
        let (path, line) = container.0.locate_path(&path);
        FindingDraft {
            container: Some(container.0.name.clone()),
            path,
            line,
            message: message.to_string(),
        }
    }
    /// A finding on the workload as a whole at the field path `path` (e.g. `"metadata"`).
    #[rhai_fn(name = "workload_finding")]
    pub fn workload_finding(path: ImmutableString, message: ImmutableString) -> Finding {
        FindingDraft {
            container: None,
            path: path.to_string(),
            line: None,
            message: message.to_string(),
        }
    }

    // ---- Helpers ----

    /// Compares two versions: `-1` when `a` is older, `0` when equal, `1` when newer.
    /// Numeric parts compare as numbers (`1.10` > `1.9`), missing parts count as 0
    /// (`v2` = `2.0.0`), a leading `v` and `+build` metadata are ignored, and a `-suffix`
    /// sorts before the plain version (`1.2.0-rc1` < `1.2.0`). Text that is not a version
    /// (`latest`) is an error: check `is_version` first when the input may be a word.
    #[rhai_fn(return_raw)]
    pub fn version_compare(
        a: ImmutableString,
        b: ImmutableString,
    ) -> Result<rhai::INT, Box<EvalAltResult>> {
        let order = crate::version::compare(&a, &b).map_err(error)?;
        Ok(order as rhai::INT)
    }

    /// Whether `version` is at least `minimum` (see `version_compare`).
    #[rhai_fn(return_raw)]
    pub fn version_at_least(
        version: ImmutableString,
        minimum: ImmutableString,
    ) -> Result<bool, Box<EvalAltResult>> {
        let order = crate::version::compare(&version, &minimum).map_err(error)?;
        Ok(order.is_ge())
    }

    /// Rank of a scanner severity, for comparisons: `critical` 5, `high` 4, `medium` (or
    /// `moderate`) 3, `low` 2, `negligible` 1, anything else (`unknown`) 0; case-insensitive.
    pub fn severity_rank(severity: ImmutableString) -> rhai::INT {
        rhai::INT::from(crate::facts::severity_rank(&severity))
    }

    /// Whether `text` parses as a version for `version_compare` (`1.27`, `v2.4.1-rc1`).
    pub fn is_version(text: ImmutableString) -> bool {
        crate::version::Version::parse(&text).is_ok()
    }

    /// Parses `reference` like a container image (`nginx` -> `docker.io/library/nginx`).
    /// Check `.valid` before reading its parts.
    pub fn parse_image(reference: ImmutableString) -> Image {
        ImageView::parse(&reference)
    }

    /// Whether `image` matches the image pattern `pattern`. Patterns are normalized like
    /// images (`nginx` is `docker.io/library/nginx`, `team/` is `docker.io/team/`); `*`
    /// matches any characters including `/`, but a pattern that names a registry host only
    /// matches images from a registry matching that host (`*.company.com/` never matches
    /// `evil.io/x.company.com/app`); a trailing `/` matches everything below that path (never
    /// a longer host name); a pattern with a tag or digest also matches those. An invalid
    /// image matches nothing.
    #[rhai_fn(return_raw)]
    pub fn image_matches(
        image: Image,
        pattern: ImmutableString,
    ) -> Result<bool, Box<EvalAltResult>> {
        let pattern = image_pattern(&pattern).map_err(error)?;
        Ok(image.valid().is_some_and(|r| pattern.matches(r)))
    }

    /// Whether `image` matches any of `patterns` (see `image_matches`).
    #[rhai_fn(name = "image_matches_any", return_raw, pure)]
    pub fn image_matches_any(
        image: &mut Image,
        patterns: Array,
    ) -> Result<bool, Box<EvalAltResult>> {
        let Some(reference) = image.valid() else {
            return Ok(false);
        };
        if patterns.len() > MAX_PATTERNS {
            return Err(error(format!(
                "{} image patterns, over the limit of {MAX_PATTERNS} in one list",
                patterns.len()
            )));
        }
        // One key for the whole list: settings are the same list for every container.
        let mut key = String::new();
        for pattern in &patterns {
            let text = pattern.read_lock::<ImmutableString>().ok_or_else(|| {
                error(format!(
                    "image patterns must be strings, found {}",
                    pattern.type_name()
                ))
            })?;
            key.push_str(&text);
            key.push('\0');
        }
        let set = cached(&PATTERN_SETS, &key, |key| {
            ImagePatternSet::new(key.split_terminator('\0')).map(Arc::new)
        })
        .map_err(error)?;
        Ok(set.matches(reference))
    }

    /// Glob match over the whole text: `*` matches any characters (including `/`), `?` one
    /// character, `[abc]` a class.
    #[rhai_fn(return_raw)]
    pub fn glob_match(
        pattern: ImmutableString,
        text: ImmutableString,
    ) -> Result<bool, Box<EvalAltResult>> {
        Ok(compiled_glob(&pattern)
            .map_err(error)?
            .is_match(text.as_str()))
    }

    /// Whether the variable `name` = `value` holds a hard-coded credential, with the same
    /// detector as the image-facts scan: `()` when it does not; otherwise a map with
    /// `placeholder` (`true` for a stand-in such as `changeme`, `<your-token>` or the
    /// variable's own name: nothing to revoke, but the real value is missing), `kind` (what
    /// it holds, e.g. `"password"`, `"AWS access key ID"`; may be `()` for a placeholder)
    /// and `reason` (why, in words, never the value). Names are read by their words
    /// (`DB_PASS`, `dbPassword`; `MAX_TOKENS` is not a token), values by their shape (paths,
    /// URLs without a password, numbers, booleans and `$(VAR)` references are not
    /// credentials; known key formats are, whatever the name).
    pub fn credential_verdict(name: ImmutableString, value: ImmutableString) -> Dynamic {
        use crate::credentials::{Verdict, classify, credential_word};
        let (placeholder, kind, reason) = match classify(&name, &value) {
            Verdict::NotSecret => return Dynamic::UNIT,
            Verdict::Placeholder { reason } => (true, credential_word(&name), reason),
            Verdict::Secret { kind, reason } => (false, Some(kind), reason),
        };
        let mut map = Map::new();
        map.insert("placeholder".into(), placeholder.into());
        map.insert("kind".into(), opt_str(kind));
        map.insert("reason".into(), reason.into());
        map.into()
    }

    /// If `text` contains a known key format (an AWS access key ID, a PEM private key, a
    /// GitHub token, a JSON Web Token, a URL with a password, …, also base64-encoded), the
    /// first one's kind with its article, e.g. `"an AWS access key ID"`; else `()`.
    /// Vendors' documented example keys and filler such as `ghp_xxxx…` do not count.
    pub fn credential_format(text: ImmutableString) -> Dynamic {
        crate::credentials::scan_text(&text)
            .first()
            .map_or(Dynamic::UNIT, |found| {
                crate::credentials::with_article(found.kind).into()
            })
    }

    /// What an environment variable's `name` says it holds (`"password"`, `"token"`, …),
    /// read by its words: `DB_PASS` and `dbPassword` are passwords, `MAX_TOKENS` and
    /// `DB_PASSWORD_FILE` are not credentials; `()` when the name says nothing.
    #[rhai_fn(name = "credential_name")]
    pub fn credential_name_builtin(name: ImmutableString) -> Dynamic {
        opt_str(crate::credentials::credential_word(&name))
    }

    /// `credential_name(name)` with your own lists: `keywords` that mark a credential and
    /// `reference_suffixes` that mark a pointer to one (arrays of upper-case strings).
    #[rhai_fn(name = "credential_name", return_raw)]
    pub fn credential_name(
        name: ImmutableString,
        keywords: Array,
        reference_suffixes: Array,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        let normalized = normalize_env_name(&name);
        if !first_matching(reference_suffixes, |suffix| normalized.ends_with(suffix))?.is_unit() {
            return Ok(Dynamic::UNIT);
        }
        first_matching(keywords, |keyword| normalized.contains(keyword))
    }

    /// The first item of `needles` (strings) that `text` contains, or `()`.
    #[rhai_fn(return_raw)]
    pub fn contains_any(
        text: ImmutableString,
        needles: Array,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        first_matching(needles, |needle| text.contains(needle))
    }

    /// The first item of `suffixes` (strings) that `text` ends with, or `()`.
    #[rhai_fn(return_raw)]
    pub fn ends_with_any(
        text: ImmutableString,
        suffixes: Array,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        first_matching(suffixes, |suffix| text.ends_with(suffix))
    }

    /// The first item of `prefixes` (strings) that `text` starts with, or `()`.
    #[rhai_fn(return_raw)]
    pub fn starts_with_any(
        text: ImmutableString,
        prefixes: Array,
    ) -> Result<Dynamic, Box<EvalAltResult>> {
        first_matching(prefixes, |prefix| text.starts_with(prefix))
    }

    /// Whether the regular expression `pattern` matches anywhere in `text` (Rust `regex`
    /// syntax; anchor with `^…$` for a whole-text match).
    #[rhai_fn(return_raw)]
    pub fn regex_match(
        pattern: ImmutableString,
        text: ImmutableString,
    ) -> Result<bool, Box<EvalAltResult>> {
        Ok(compiled_regex(&pattern).map_err(error)?.is_match(&text))
    }
}
