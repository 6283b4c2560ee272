//! `portcullis wasm build` and `portcullis wasm run`.
//!
//! `build` copies the modules embedded in this binary (see `cli/build.rs`) and fills their
//! rules area with the user's rules and configuration: no compiler involved. Everything is
//! checked first, with the CLI's messages, so a module never carries rules that fail to load.
//! `run` evaluates one request with a module in wasmtime (`portcullis-wasm-host`), linked in
//! with `bundled-wasm` and otherwise built from the source tree on first use, as the modules are.

use std::path::Path;
use std::time::Duration;

use portcullis_engine::facts::FactsFile;
use portcullis_engine::{RuleSet, files};
use portcullis_wasm_plugin::Plugin;
use portcullis_wasm_plugin::bundle::{self, Bundle, BundledRule};
use serde_json::{Value, json};

use crate::Outcome;
use crate::args::{ColorChoice, WasmBuildArgs, WasmCommand, WasmRunArgs};
use crate::printer::Printer;

include!(concat!(env!("OUT_DIR"), "/wasm_modules.rs"));

/// Runs `wasm build` or `wasm run`.
pub fn run(command: WasmCommand) -> std::io::Result<Outcome> {
    let printer = Printer::new(ColorChoice::Auto);
    let result = match command {
        WasmCommand::Build(args) => build(&args, &printer),
        WasmCommand::Run(args) => run_module(&args, &printer),
    };
    match result {
        Ok(outcome) => Ok(outcome),
        Err(Failure::Io(e)) => Err(e),
        Err(Failure::Message(message)) => {
            printer.error(&message);
            Ok(Outcome::Errors)
        }
    }
}

/// Why a wasm command stopped: a message for the user, or output that could not be written.
enum Failure {
    Message(String),
    Io(std::io::Error),
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Message(message)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// Largest module `wasm run` loads (ours are under 4 MB).
const MAX_MODULE_BYTES: u64 = 64 * 1024 * 1024;

/// The modules to fill: those built into this binary (feature `bundled-wasm`), or built
/// now from the workspace this binary was built from (cached after the first time).
fn modules(printer: &Printer) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    if !MODULES.is_empty() {
        return Ok(MODULES
            .iter()
            .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
            .collect());
    }
    if !MODULES_ON_DEMAND {
        return Err(Failure::Message(
            "this portcullis was built without WebAssembly modules: install the \
                    wasm32-wasip1 and wasm32-unknown-unknown Rust targets and rebuild it, \
                    or build it with `--features bundled-wasm` (see the README)"
                .into(),
        ));
    }
    let (workspace, target_dir) = source_tree("its WebAssembly modules")?;
    // A private output folder: tests run several of these at once.
    let out = Path::new(target_dir)
        .join("wasm-modules")
        .join(format!("build-{}", std::process::id()));
    printer.err(&format!(
        "building the WebAssembly modules from {workspace} (cached after the first time)\n"
    ));
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args(["run", "-q", "--locked", "-p", "portcullis-wasm-build", "--"])
        .arg(&out)
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("running cargo to build the WebAssembly modules: {e}"))?;
    let modules: Result<Vec<_>, String> = if status.success() {
        MODULE_NAMES
            .iter()
            .map(|name| {
                let path = out.join(name);
                std::fs::read(&path)
                    .map(|bytes| (name.to_string(), bytes))
                    .map_err(|e| format!("reading {}: {e}", path.display()))
            })
            .collect()
    } else {
        Err(format!(
            "building the WebAssembly modules failed ({status})"
        ))
    };
    let _ = std::fs::remove_dir_all(&out);
    Ok(modules?)
}

/// The workspace and target directory this binary was built from, to build `what` in;
/// an error when that source tree is gone.
fn source_tree(what: &str) -> Result<(&'static str, &'static str), Failure> {
    let (workspace, target_dir) = SOURCE_TREE;
    if !Path::new(workspace).join("wasm-plugin").is_dir() {
        return Err(Failure::Message(format!(
            "this portcullis builds {what} from the source tree it was built from, \
             {workspace}, which is gone: build portcullis with `--features bundled-wasm` \
             instead (see the README)"
        )));
    }
    Ok((workspace, target_dir))
}

fn build(args: &WasmBuildArgs, printer: &Printer) -> Result<Outcome, Failure> {
    let modules = modules(printer)?;
    let mut bundle = Bundle::default();
    for path in &args.rules {
        bundle.rules.extend(read_rules(path)?);
    }
    if let Some(path) = &args.config {
        let text = files::read_text(path, files::MAX_CONFIG_BYTES, files::Origin::Named)
            .map_err(|e| format!("{}: configuration: {e}", path.display()))?;
        bundle.config = Some(text);
        bundle.config_name = Some(path.display().to_string());
    }
    let mut facts_summary = None;
    if let Some(path) = &args.image_facts {
        let name = path.display();
        let text = files::read_text(path, files::MAX_FACTS_BYTES, files::Origin::Named)
            .map_err(|e| format!("{name}: image facts: {e}"))?;
        let facts = FactsFile::parse(&text).map_err(|e| format!("{name}: {e}"))?;
        // Stored compact: the module's data area is small.
        let text = serde_json::to_string(&facts).map_err(|e| e.to_string())?;
        facts_summary = Some(format!(
            "image facts: {} image(s) from {name}",
            facts.images.len()
        ));
        bundle.image_facts = Some(text);
        bundle.image_facts_name = Some(path.display().to_string());
    }
    // Load exactly what the modules will load, so errors surface here and not in a host.
    let plugin = Plugin::with_bundle(bundle.clone())?;
    let check = plugin.validate_settings(&Value::Null);
    if !check.valid {
        return Err(Failure::Message(check.message.unwrap_or_default()));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("creating {}: {e}", args.out.display()))?;
    let mut out = String::new();
    for (name, bytes) in modules {
        let mut module = bytes;
        bundle::write(&mut module, &bundle).map_err(|e| format!("{name}: {e}"))?;
        let path = args.out.join(name);
        std::fs::write(&path, &module).map_err(|e| format!("writing {}: {e}", path.display()))?;
        out.push_str(&format!("{} ({} bytes)\n", path.display(), module.len()));
    }
    let total = plugin.rules().rules().len();
    let custom = bundle.rules.len();
    if args.rules.is_empty() {
        out.push_str(&format!(
            "{total} rules: {total} built-in, no custom rules\n"
        ));
    } else {
        let paths: Vec<String> = args.rules.iter().map(|p| p.display().to_string()).collect();
        out.push_str(&format!(
            "{total} rules: {} built-in, {custom} from {}\n",
            total - custom,
            paths.join(", ")
        ));
    }
    if let Some(summary) = facts_summary {
        out.push_str(&format!("{summary}\n"));
    }
    printer.text(&out)?;
    Ok(Outcome::Clean)
}

/// The rules at `path`: one `.rhai` file, or a folder's `*.rhai` files sorted by name (the
/// engine's listing, so `check --rules` and `wasm build --rules` read the same files).
fn read_rules(path: &Path) -> Result<Vec<BundledRule>, String> {
    let files = RuleSet::rule_files(path).map_err(|e| format!("{}: {}", e.origin, e.message))?;
    files
        .into_iter()
        .map(|file| {
            let source =
                RuleSet::read_rule_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let id = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            Ok(BundledRule {
                origin: file.display().to_string(),
                id,
                source,
            })
        })
        .collect()
}

fn run_module(args: &WasmRunArgs, printer: &Printer) -> Result<Outcome, Failure> {
    // Read here in both builds, so a missing or oversized module gets the CLI's message
    // before any host is built or started.
    let bytes = files::read_bytes(&args.module, MAX_MODULE_BYTES, files::Origin::Named)
        .map_err(|e| format!("{}: {e}", args.module.display()))?;
    let request = read_json(&args.request)?;
    let settings = args.settings.as_deref().map(read_json).transpose()?;
    let request = validation_request(request, settings);
    let timeout = Duration::from_millis(args.timeout);
    let (abi, answer) = evaluate(args, &bytes, &request, timeout, printer)?;
    log::info!("ran {} as a {abi} module", args.module.display());
    printer.json(&serde_json::to_string_pretty(&answer).unwrap_or_default())?;
    let allowed = if abi == "opa" {
        let result = &answer[0]["result"];
        result.as_bool().or_else(|| result["allowed"].as_bool())
    } else {
        answer["accepted"].as_bool()
    };
    Ok(match allowed {
        Some(true) => Outcome::Clean,
        Some(false) => Outcome::Findings,
        None => Outcome::Errors,
    })
}

/// The module's ABI (`wapc`, `opa`, `wasi`) and its answer, from the host built into this
/// binary (feature `bundled-wasm`).
#[cfg(feature = "bundled-wasm")]
fn evaluate(
    args: &WasmRunArgs,
    bytes: &[u8],
    request: &Value,
    timeout: Duration,
    _printer: &Printer,
) -> Result<(String, Value), Failure> {
    let host = portcullis_wasm_host::Host::new(bytes, timeout)?;
    let answer = host.validate(request, &args.entrypoint)?;
    Ok((host.abi.id().to_string(), answer))
}

/// The module's ABI and its answer, from the `portcullis-wasm-host` binary (wasmtime is
/// not linked into the CLI: wasm-plugin/host/Cargo.toml says why). The host is the one next
/// to this binary (`cargo build --workspace` and `cargo test` put it there), else built on
/// first use from the source tree this binary was built from, in the same profile.
#[cfg(not(feature = "bundled-wasm"))]
fn evaluate(
    args: &WasmRunArgs,
    _bytes: &[u8],
    request: &Value,
    timeout: Duration,
    printer: &Printer,
) -> Result<(String, Value), Failure> {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let binary = wasm_host_binary(printer)?;
    let mut child = Command::new(&binary)
        .arg(&args.module)
        .arg(timeout.as_millis().to_string())
        .arg(&args.entrypoint)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running {}: {e}", binary.display()))?;
    // The host reads all of stdin before it writes anything, so writing first cannot block.
    // It may also stop early (a bad argument): its reply then says why, not the broken pipe.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(request.to_string().as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("running {}: {e}", binary.display()))?;
    let Ok(mut reply) = serde_json::from_slice::<Value>(&output.stdout) else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Failure::Message(format!(
            "the WebAssembly host {} failed ({}): {}",
            binary.display(),
            output.status,
            stderr.trim()
        )));
    };
    if let Some(message) = reply["error"].as_str() {
        return Err(Failure::Message(message.to_string()));
    }
    for line in reply["log"].as_array().into_iter().flatten() {
        log::info!(target: "portcullis::wasm", "{}", line.as_str().unwrap_or_default());
    }
    let abi = reply["abi"].as_str().unwrap_or_default().to_string();
    Ok((abi, reply["answer"].take()))
}

/// The host binary beside this one, or built now into the target directory this binary
/// was built in.
#[cfg(not(feature = "bundled-wasm"))]
fn wasm_host_binary(printer: &Printer) -> Result<std::path::PathBuf, Failure> {
    let name = format!("portcullis-wasm-host{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot tell where this portcullis is: {e}"))?;
    let exe_dir = exe.parent().unwrap_or(Path::new("."));
    if exe_dir.join(&name).is_file() {
        return Ok(exe_dir.join(name));
    }
    let (workspace, target_dir) = source_tree("its WebAssembly host")?;
    // The profile this binary was built with, told by its folder under the target directory.
    let profile_dir = exe_dir
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|_| exe_dir.parent() == Some(Path::new(target_dir)))
        .unwrap_or("release");
    let profile = if profile_dir == "debug" {
        "dev"
    } else {
        profile_dir
    };
    printer.err(&format!(
        "building the WebAssembly host (wasmtime) from {workspace}, profile {profile}: first use only\n"
    ));
    let status = std::process::Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args([
            "build",
            "-q",
            "--locked",
            "-p",
            "portcullis-wasm-host",
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("running cargo to build the WebAssembly host: {e}"))?;
    if !status.success() {
        return Err(Failure::Message(format!(
            "building the WebAssembly host failed ({status})"
        )));
    }
    Ok(Path::new(target_dir).join(profile_dir).join(name))
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = files::read_text(path, files::MAX_REQUEST_BYTES, files::Origin::Named)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: invalid JSON: {e}", path.display()))
}

/// Kubewarden's ValidationRequest for whatever the user gave: a ValidationRequest stays one
/// (with `settings` replaced when given), an AdmissionReview gives its request, anything
/// else (an AdmissionRequest, a bare object) is the request.
fn validation_request(input: Value, settings: Option<Value>) -> Value {
    let is_review = input.get("kind").and_then(Value::as_str) == Some("AdmissionReview");
    let (request, own_settings) = match input {
        Value::Object(mut map) if is_review => (map.remove("request").unwrap_or(Value::Null), None),
        Value::Object(mut map) if map.contains_key("request") && !map.contains_key("kind") => (
            map.remove("request").unwrap_or(Value::Null),
            map.remove("settings"),
        ),
        other => (other, None),
    };
    let settings = settings.or(own_settings).unwrap_or_else(|| json!({}));
    json!({ "request": request, "settings": settings })
}
