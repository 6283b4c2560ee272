//! Command-line arguments. The help text here is the CLI reference.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use portcullis_engine::Severity;

#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Policy-as-code checks for Kubernetes container-image security"
)]
pub struct Cli {
    /// Log more: -v shows rule `print` output and progress, -vv debug details.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests (files, directories, or `-` for stdin) against the rules.
    Check(CheckArgs),
    /// List the rules with their severity and whether they are on by default.
    Rules(RulesArgs),
    /// Show a rule's documentation and settings.
    Explain(ExplainArgs),
    /// Run rule test files (`<rule-id>.tests.yaml`); without paths, the default pack's own.
    Test(TestArgs),
    /// Create files from a template.
    New {
        #[command(subcommand)]
        what: NewCommand,
    },
    /// Image facts: what is inside images, for the image rules.
    Facts {
        #[command(subcommand)]
        what: FactsCommand,
    },
    /// Build WebAssembly policy modules with your rules, or run one as a host would.
    #[command(subcommand)]
    Wasm(WasmCommand),
    /// Run the admission server: validating and mutating webhooks, Gatekeeper External
    /// Data and Kyverno calls (docs/admission.md).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub listen: std::net::SocketAddr,

    /// TLS certificate chain (PEM); reloaded when it changes.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// TLS private key (PEM); reloaded when it changes.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Serve plain HTTP, without --cert and --key: only on a loopback address (tests, a
    /// sidecar behind a TLS proxy).
    #[arg(long, conflicts_with_all = ["cert", "key"])]
    pub insecure_http: bool,

    /// Configuration file (default: ./portcullis.yaml if present); reloaded when it changes.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(flatten)]
    pub rule_source: RuleSourceArgs,

    /// Run only these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub select: Option<Vec<String>>,

    /// Skip these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub ignore: Vec<String>,

    /// Image facts file (`portcullis facts collect`); reloaded when it changes.
    #[arg(long, value_name = "FILE")]
    pub image_facts: Option<PathBuf>,

    /// Look up the facts of images the facts file does not know in their registries
    /// (cached; lookups that fail or time out follow --on-error).
    #[arg(long)]
    pub pull_facts: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Deny requests with findings at or above this severity; lesser findings are warnings.
    #[arg(long, value_enum, default_value_t = FailOn::Low, value_name = "SEVERITY")]
    pub fail_on: FailOn,

    /// What a request gets when it cannot be decided (a rule error, a registry lookup or
    /// the deadline): `deny` fails closed, `allow` fails open with a warning.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Deny, value_name = "WHAT")]
    pub on_error: OnErrorArg,

    /// Time for one request, from arrival to answer (`8s`, `1500ms`); keep it below the
    /// webhook's `timeoutSeconds`.
    #[arg(long, value_name = "DURATION", default_value = "8s", value_parser = parse_duration)]
    pub deadline: std::time::Duration,

    /// Time a client has to send its headers and its body.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub read_timeout: std::time::Duration,

    /// Largest request body; larger ones are answered 413.
    #[arg(long, value_name = "SIZE", default_value = "3MiB", value_parser = parse_size)]
    pub max_body: u64,

    /// Evaluations at once (default: two per core); more requests wait within their deadline.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_concurrency: Option<u32>,

    /// Requests handled at once; beyond it, 503 at once.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,

    /// Allow requests in this namespace without evaluating them (repeatable). The server's
    /// own namespace (--own-namespace, else $POD_NAMESPACE) always is.
    #[arg(long, value_name = "NAME", value_parser = namespace_name)]
    pub exclude_namespace: Vec<String>,

    /// Allow requests for this kind (`Job`, `CronJob`, …) without evaluating them (repeatable).
    #[arg(long, value_name = "KIND")]
    pub exclude_kind: Vec<String>,

    /// The namespace the server runs in (default: $POD_NAMESPACE); never evaluated, so that
    /// the server can always restart itself.
    #[arg(long, value_name = "NAME", value_parser = namespace_name)]
    pub own_namespace: Option<String>,

    /// `/mutate` also sets this pull policy on containers that name none.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub set_pull_policy: Option<PullPolicy>,

    /// Namespace of resources whose manifest names none (default: `default`).
    #[arg(short = 'n', long, value_name = "NAME", value_parser = namespace_name)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnErrorArg {
    Deny,
    Allow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullPolicy {
    Always,
    #[value(name = "IfNotPresent")]
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

/// `512MiB` → (512, "MiB"); `what` says what the text should have been.
fn number_and_unit<'t>(text: &'t str, what: &str) -> Result<(u64, &'t str), String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number = number
        .parse()
        .map_err(|_| format!("`{text}` is not {what}"))?;
    Ok((number, unit.trim()))
}

/// Parses a duration: `8s`, `1500ms`, `2m`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = number_and_unit(text, "a duration like `8s` or `1500ms`")?;
    let duration = match unit {
        "ms" => std::time::Duration::from_millis(number),
        "" | "s" => std::time::Duration::from_secs(number),
        "m" => std::time::Duration::from_secs(number.saturating_mul(60)),
        other => return Err(format!("unknown duration unit `{other}` (use ms, s or m)")),
    };
    if duration.is_zero() {
        return Err("a duration of zero would fail every request".into());
    }
    Ok(duration)
}

#[derive(Debug, Subcommand)]
pub enum FactsCommand {
    /// Collect image facts (config, filesystem, scan results) into a facts file, keyed by
    /// digest, for `check --image-facts`.
    Collect(CollectArgs),
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Image references, read from their registries; with --oci-layout or
    /// --docker-archive they pick images there by tag (every image when none is given).
    pub references: Vec<String>,

    /// Read images from this OCI image layout directory instead of a registry.
    #[arg(long, value_name = "DIR")]
    pub oci_layout: Option<PathBuf>,

    /// Read images from this `docker save` tarball instead of a registry.
    #[arg(long, value_name = "TAR")]
    pub docker_archive: Option<PathBuf>,

    /// Merge a Trivy JSON report (`trivy image -f json`). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub trivy: Vec<PathBuf>,

    /// Merge a Grype JSON report (`grype -o json`). Repeatable.
    #[arg(long, value_name = "FILE")]
    pub grype: Vec<PathBuf>,

    /// Merge a Clair v4 vulnerability report (`clairctl report -o json`, or the matcher
    /// API's `vulnerability_report`); it names its image by digest. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub clair: Vec<PathBuf>,

    /// Merge a Snyk container report (`snyk container test --json`; a file about several
    /// images adds each); it names its image by reference only. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub snyk: Vec<PathBuf>,

    /// The facts file to write.
    #[arg(short, long, value_name = "FILE")]
    pub out: PathBuf,

    /// Add to the facts already in --out instead of replacing the file.
    #[arg(long)]
    pub merge: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How image facts are collected from registries (`facts collect`, `check --pull-facts`).
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Platform to pick from multi-platform images; for `check`, also the platform
    /// Dockerfiles are built for (BuildKit's `TARGETOS`, `TARGETARCH`, …).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", default_value = "linux/amd64")]
    pub platform: String,

    /// Reach this registry (`host[:port]`) over plain HTTP, as localhost and 127.0.0.1
    /// always are. Repeatable.
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,

    /// Refuse layers bigger than this, as stored (e.g. `512MiB`).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_layer_size: u64,

    /// Seconds to wait for a registry to connect or to send more data.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub registry_timeout: u64,

    /// Docker config with registry credentials [default: $DOCKER_CONFIG/config.json or
    /// ~/.docker/config.json].
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,

    /// User for basic authentication to every registry without credentials in the docker
    /// config; the password is read from the environment variable
    /// PORTCULLIS_REGISTRY_PASSWORD.
    #[arg(long, value_name = "USER")]
    pub username: Option<String>,

    /// Cache of collected facts by digest [default: $XDG_CACHE_HOME/portcullis/image-facts,
    /// else ~/.cache/portcullis/image-facts].
    #[arg(long, value_name = "DIR")]
    pub facts_cache: Option<PathBuf>,

    /// Do not read or write the facts cache.
    #[arg(long)]
    pub no_facts_cache: bool,
}

#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// Scaffold a rule and its test file, which pass as generated.
    Rule(NewRuleArgs),
}

#[derive(Debug, Args)]
pub struct NewRuleArgs {
    /// The rule id: kebab-case, e.g. `require-owner-label`. Also the file names.
    pub name: String,
    /// Directory to create the files in (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// Where rules come from; shared by every command that uses rules.
#[derive(Debug, Clone, Args)]
pub struct RuleSourceArgs {
    /// Load custom rules: a directory of `.rhai` files or one file. Repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,

    /// Do not load the default rule pack; only rules given with `--rules`.
    #[arg(long)]
    pub no_default_rules: bool,

    /// Time one rule may run on one workload, in milliseconds, on top of its operation
    /// limit; a rule that runs longer is an error for that workload.
    #[arg(long, value_name = "MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub rule_timeout: u64,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Directories holding rules and their `*.tests.yaml` files (the rules there are
    /// loaded next to the default pack), or single test files.
    pub paths: Vec<PathBuf>,

    /// Do not load the default rule pack.
    #[arg(long)]
    pub no_default_rules: bool,

    /// Time one rule may run on one workload, in milliseconds (see `check --rule-timeout`).
    #[arg(long, value_name = "MS", default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub rule_timeout: u64,

    /// Re-run the tests whenever a rule or test file changes.
    #[arg(long)]
    pub watch: bool,

    /// When to colour output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum WasmCommand {
    /// Write the Kubewarden waPC, OPA and WASI modules holding the default pack plus your
    /// rules (and configuration) to --out.
    Build(WasmBuildArgs),
    /// Evaluate one request through a module in wasmtime, the way its host runs it.
    Run(WasmRunArgs),
}

#[derive(Debug, Args)]
pub struct WasmBuildArgs {
    /// Custom rules to bundle with the default pack: a folder of `*.rhai` files or one
    /// file. Repeatable, as for `check`.
    #[arg(long, value_name = "PATH")]
    pub rules: Vec<PathBuf>,

    /// Configuration to bundle; used when the host passes no settings.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Image facts to bundle (from `portcullis facts collect`), for the image rules at
    /// admission without registry calls.
    #[arg(long, value_name = "FILE")]
    pub image_facts: Option<PathBuf>,

    /// Folder to write the modules to (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct WasmRunArgs {
    /// The module: portcullis-wapc.wasm, portcullis-opa.wasm or portcullis-wasi.wasm.
    pub module: PathBuf,

    /// AdmissionReview, AdmissionRequest, Kubewarden ValidationRequest or a bare object (JSON).
    #[arg(long, value_name = "FILE")]
    pub request: PathBuf,

    /// Settings (JSON, the configuration structure); overrides a ValidationRequest's.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,

    /// OPA entrypoint to evaluate.
    #[arg(long, default_value = "portcullis/decision", value_name = "NAME")]
    pub entrypoint: String,

    /// Wall-clock limit for the evaluation, in milliseconds (policy-server's default is 2 s).
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files (.yaml, .yml, .json, Dockerfile, Containerfile, *.Dockerfile, Dockerfile.*),
    /// directories (searched recursively for the same) or `-` for stdin. Reads stdin when
    /// no path is given and stdin is not a terminal.
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub input: InputArgs,

    #[command(flatten)]
    pub rule_source: RuleSourceArgs,

    /// Keep running: re-check whenever a manifest, rule or the configuration changes.
    #[arg(long)]
    pub watch: bool,

    /// Configuration file [default: ./portcullis.yaml when it exists].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run only these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub select: Option<Vec<String>>,

    /// The namespace of resources whose manifest names none, as `kubectl apply -n` would
    /// give them [default: the configuration's `namespace`, else `default`].
    #[arg(short = 'n', long, value_name = "NAME", value_parser = namespace_name)]
    pub namespace: Option<String>,

    /// Do not run these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub ignore: Vec<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Exit 1 when a finding has at least this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Low, value_name = "SEVERITY")]
    pub fail_on: FailOn,

    /// When to colour text output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Worker threads [default: one per core].
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Evaluate exemption expiry as of this date (YYYY-MM-DD) instead of today.
    #[arg(long, hide = true, value_name = "DATE")]
    pub today: Option<String>,

    /// Image facts (from `portcullis facts collect`) for the image rules; read offline.
    #[arg(long, value_name = "FILE")]
    pub image_facts: Option<PathBuf>,

    /// Collect the facts of the manifests' images from their registries before checking
    /// (cached by digest; images in --image-facts are not collected again).
    #[arg(long)]
    pub pull_facts: bool,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How inputs are read.
#[derive(Debug, Clone, Default, Args)]
pub struct InputArgs {
    /// Read stdin and the files named on the command line as this format, whatever their
    /// names (`--format` is the output's). Files found in directories go by their names.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub input_format: Option<InputFormat>,

    /// A value for a Dockerfile `ARG`, as `docker build --build-arg NAME=VALUE`; `NAME`
    /// alone takes the value of the environment variable. Repeatable.
    #[arg(long = "build-arg", value_name = "NAME=VALUE", value_parser = parse_build_arg)]
    pub build_args: Vec<(String, String)>,
}

/// Formats of inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    Yaml,
    Json,
    Dockerfile,
}

impl From<InputFormat> for portcullis_engine::Format {
    fn from(value: InputFormat) -> portcullis_engine::Format {
        match value {
            InputFormat::Yaml => portcullis_engine::Format::Yaml,
            InputFormat::Json => portcullis_engine::Format::Json,
            InputFormat::Dockerfile => portcullis_engine::Format::Dockerfile,
        }
    }
}

/// Parses `--build-arg NAME=VALUE` (or `NAME`, from the environment).
fn parse_build_arg(text: &str) -> Result<(String, String), String> {
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, value.to_string()),
        None => {
            let value = std::env::var(text).map_err(|_| {
                format!("`{text}` has no `=VALUE` and no environment variable of that name is set")
            })?;
            (text, value)
        }
    };
    if name.is_empty() {
        return Err(format!("`{text}` names no ARG: write NAME=VALUE"));
    }
    Ok((name.to_string(), value))
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    #[command(flatten)]
    pub rule_source: RuleSourceArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The rule id, e.g. `latest-tag`.
    pub rule: String,

    #[command(flatten)]
    pub rule_source: RuleSourceArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// SARIF 2.1.0, for GitHub code scanning (`check` only).
    Sarif,
    /// JUnit XML, for GitLab and Jenkins test reports (`check` only).
    Junit,
}

/// Formats of listings (`rules`); the report formats belong to `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl From<FailOn> for Severity {
    fn from(value: FailOn) -> Severity {
        match value {
            FailOn::Info => Severity::Info,
            FailOn::Low => Severity::Low,
            FailOn::Medium => Severity::Medium,
            FailOn::High => Severity::High,
            FailOn::Critical => Severity::Critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Parses `--max-layer-size`: bytes, or with a unit (`512MiB`, `2GB`, `1G`).
fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = number_and_unit(text, "a size like `512MiB`")?;
    let factor: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB, GiB)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("`{text}` is too big"))
}

/// Accepts a Kubernetes namespace name for `--namespace`.
fn namespace_name(value: &str) -> Result<String, String> {
    if portcullis_engine::is_namespace_name(value) {
        Ok(value.to_string())
    } else {
        Err(
            "not a namespace name: lower-case letters, digits and `-`, at most 63 characters"
                .into(),
        )
    }
}
