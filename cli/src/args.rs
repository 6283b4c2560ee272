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
    /// Build WebAssembly policy modules with your rules, or run one as a host would.
    #[command(subcommand)]
    Wasm(WasmCommand),
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
    /// Folder of custom rules (`*.rhai`) to bundle with the default pack.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,

    /// Configuration to bundle; used when the host passes no settings.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

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
    /// Files (.yaml, .yml, .json), directories (searched recursively) or `-` for stdin.
    /// Reads stdin when no path is given and stdin is not a terminal.
    pub paths: Vec<PathBuf>,

    /// Configuration file [default: ./portcullis.yaml when it exists].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run only these rules (comma-separated ids).
    #[arg(long, value_delimiter = ',', value_name = "ID,...")]
    pub select: Option<Vec<String>>,

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
}

#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The rule id, e.g. `latest-tag`.
    pub rule: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
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
