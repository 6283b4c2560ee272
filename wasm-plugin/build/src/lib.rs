//! Builds the WebAssembly modules from `wasm-plugin/` with a nested `cargo build`, and
//! post-links the OPA module. The CLI's build script calls [`build`], so that an ordinary
//! `cargo build` of the CLI embeds fresh modules; `cargo run -p portcullis-wasm-build`
//! is not needed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The three artifacts, by file name.
pub const MODULES: [&str; 3] = [
    "portcullis-wapc.wasm",
    "portcullis-opa.wasm",
    "portcullis-wasi.wasm",
];

/// The Rust targets the modules are built for.
pub const TARGETS: [&str; 2] = ["wasm32-wasip1", "wasm32-unknown-unknown"];

/// Cargo profile of the modules (see the workspace Cargo.toml).
pub const PROFILE: &str = "wasm";

/// OPA hosts create the memory with 2 (opa-py-wasm) to 5 (npm, Kubewarden) pages; the
/// module must ask for no more.
pub const OPA_INITIAL_PAGES: u64 = 2;

/// Whether the WebAssembly targets are installed for the toolchain `rustc` belongs to.
pub fn targets_installed(rustc: &str) -> Result<(), String> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("running {rustc}: {e}"))?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let missing: Vec<&str> = TARGETS
        .into_iter()
        .filter(|t| !sysroot.join("lib/rustlib").join(t).join("lib").is_dir())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the Rust targets {} are not installed (rustup target add {})",
            missing.join(", "),
            missing.join(" ")
        ))
    }
}

/// The workspace's `rustc` by its path, unless `RUSTC` already names one. Through the
/// rustup proxy, rustc picks its toolchain from the directory it runs in, and cargo runs
/// it in each dependency's directory: a crate that ships a `rust-toolchain.toml` (ff 0.14
/// pins 1.85.0) then needs a toolchain that is not installed, when no outer cargo has set
/// `RUSTUP_TOOLCHAIN` (`portcullis wasm build` run from a shell).
fn workspace_rustc(workspace: &Path) -> Option<PathBuf> {
    if std::env::var_os("RUSTC").is_some() {
        return None;
    }
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(workspace)
        .output()
        .ok()?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let rustc = sysroot
        .join("bin")
        .join(format!("rustc{}", std::env::consts::EXE_SUFFIX));
    (output.status.success() && rustc.is_file()).then_some(rustc)
}

/// Builds the modules with `cargo` into `target_dir` and writes them to `out`.
pub fn build(
    cargo: &Path,
    workspace: &Path,
    target_dir: &Path,
    out: &Path,
) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    // (target, cargo selection, features, artifact in target dir, module name)
    let steps: [(&str, &[&str], &str, &str, &str); 3] = [
        (
            "wasm32-wasip1",
            &["--lib"],
            "wapc",
            "portcullis_wasm_plugin.wasm",
            MODULES[0],
        ),
        (
            "wasm32-unknown-unknown",
            &["--lib"],
            "opa",
            "portcullis_wasm_plugin.wasm",
            MODULES[1],
        ),
        (
            "wasm32-wasip1",
            &["--bin", "portcullis-wasi"],
            "",
            "portcullis-wasi.wasm",
            MODULES[2],
        ),
    ];
    let rustc = workspace_rustc(workspace);
    let mut written = Vec::new();
    for (target, selection, features, artifact, module) in steps {
        let mut command = Command::new(cargo);
        command.current_dir(workspace);
        if let Some(rustc) = &rustc {
            command.env("RUSTC", rustc);
        }
        if selection == ["--lib"] {
            command.args(["rustc", "--crate-type", "cdylib"]);
        } else {
            command.arg("build");
        }
        command
            .args(["--locked", "-p", "portcullis-wasm-plugin"])
            .args(selection)
            .args(["--target", target, "--profile", PROFILE])
            .arg("--target-dir")
            .arg(target_dir);
        if !features.is_empty() {
            command.args(["--features", features]);
        }
        // The outer build's flags and wrappers are for the host, not for these targets.
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            command.env_remove(var);
        }
        let status = command
            .status()
            .map_err(|e| format!("running {}: {e}", cargo.display()))?;
        if !status.success() {
            return Err(format!("building {module} failed ({status})"));
        }
        let built = target_dir.join(target).join(PROFILE).join(artifact);
        let mut bytes =
            std::fs::read(&built).map_err(|e| format!("reading {}: {e}", built.display()))?;
        if module == MODULES[1] {
            bytes = opa_postlink(&bytes)?;
        }
        let path = out.join(module);
        write_atomically(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// [`build`], then `wasm-opt` on each module when `wasm_opt` is given. Optimised modules
/// are cached in `target_dir/opt` by the hash of their input, so a build that produced the
/// same module (the test run's, then the release build's) runs `wasm-opt` once.
pub fn build_optimised(
    cargo: &Path,
    workspace: &Path,
    target_dir: &Path,
    out: &Path,
    wasm_opt: Option<&Path>,
) -> Result<Vec<PathBuf>, String> {
    let paths = build(cargo, workspace, target_dir, out)?;
    if let Some(wasm_opt) = wasm_opt {
        let cache = target_dir.join("opt");
        std::fs::create_dir_all(&cache)
            .map_err(|e| format!("creating {}: {e}", cache.display()))?;
        for path in &paths {
            optimise_cached(wasm_opt, path, &cache)?;
        }
    }
    Ok(paths)
}

/// Flags for `wasm-opt`; part of the cache key. The OPA module's post-link output uses
/// bulk memory.
const WASM_OPT_FLAGS: [&str; 5] = [
    "-O3",
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
];

/// `wasm-opt` on `path` in place, or the cached result for the same input.
fn optimise_cached(wasm_opt: &Path, path: &Path, cache: &Path) -> Result<(), String> {
    use std::hash::{Hash, Hasher};

    let input = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    // SipHash with fixed keys: stable for one toolchain, which is all a build cache needs.
    #[allow(
        deprecated,
        reason = "SipHasher's fixed keys make the key reproducible"
    )]
    let mut hasher = std::hash::SipHasher::new();
    input.hash(&mut hasher);
    WASM_OPT_FLAGS.hash(&mut hasher);
    wasm_opt.hash(&mut hasher);
    let cached = cache.join(format!("{:016x}.wasm", hasher.finish()));
    if let Ok(bytes) = std::fs::read(&cached) {
        return write_atomically(path, &bytes);
    }
    let optimised = path.with_extension(format!("{}.opt.wasm", std::process::id()));
    let status = Command::new(wasm_opt)
        .args(WASM_OPT_FLAGS)
        .arg(path)
        .arg("-o")
        .arg(&optimised)
        .status()
        .map_err(|e| format!("running {}: {e}", wasm_opt.display()))?;
    if !status.success() {
        return Err(format!("wasm-opt failed on {} ({status})", path.display()));
    }
    let bytes =
        std::fs::read(&optimised).map_err(|e| format!("reading {}: {e}", optimised.display()))?;
    let _ = std::fs::remove_file(&optimised);
    write_atomically(&cached, &bytes)?;
    write_atomically(path, &bytes)
}

/// `wasm-opt` named by `WASM_OPT`, else found on `PATH`.
pub fn wasm_opt() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASM_OPT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let found = Command::new("wasm-opt").arg("--version").output();
    found
        .is_ok_and(|o| o.status.success())
        .then(|| PathBuf::from("wasm-opt"))
}

/// Writes through a temporary file and a rename: builds running at once (parallel tests
/// asking a debug CLI for modules) never read half a module.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            format!("writing {}: {e}", path.display())
        })
}

/// Turns the linked OPA cdylib into what OPA hosts load:
///
/// * exports the globals `opa_wasm_abi_version` = 1 and `opa_wasm_abi_minor_version` = 2
///   (Rust can only export a static's address, not a constant global);
/// * makes every active data segment passive and adds a start function that grows the
///   memory to what the linker asked for and copies the segments in, so the imported
///   memory can declare [`OPA_INITIAL_PAGES`] (hosts create it before instantiation).
pub fn opa_postlink(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use walrus::ir::{BinaryOp, Value};
    use walrus::{ConstExpr, DataKind, FunctionBuilder, ValType};

    let mut module = walrus::Module::from_buffer(bytes).map_err(|e| e.to_string())?;
    for name in ["opa_wasm_abi_version", "opa_wasm_abi_minor_version"] {
        let existing = module
            .exports
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.id());
        if let Some(export) = existing {
            module.exports.delete(export);
        }
    }
    for (name, value) in [
        ("opa_wasm_abi_version", 1),
        ("opa_wasm_abi_minor_version", 2),
    ] {
        let global = module.globals.add_local(
            ValType::I32,
            false,
            false,
            ConstExpr::Value(Value::I32(value)),
        );
        module.exports.add(name, global);
    }

    let memory = module
        .memories
        .iter()
        .next()
        .ok_or("the OPA module has no memory")?;
    let (memory_id, needed_pages) = (memory.id(), memory.initial);
    if memory.import.is_none() {
        return Err("the OPA module must import its memory (link with --import-memory)".into());
    }

    let segments: Vec<(walrus::DataId, i32, i32)> = module
        .data
        .iter()
        .filter_map(|data| match &data.kind {
            DataKind::Active {
                offset: ConstExpr::Value(Value::I32(offset)),
                ..
            } => Some((data.id(), *offset, data.value.len() as i32)),
            _ => None,
        })
        .collect();
    if segments.len()
        != module
            .data
            .iter()
            .filter(|d| matches!(d.kind, DataKind::Active { .. }))
            .count()
    {
        return Err("the OPA module has a data segment at a computed offset".into());
    }

    let mut start = FunctionBuilder::new(&mut module.types, &[], &[]);
    let mut body = start.func_body();
    // memory.grow(needed - memory.size); a negative delta fails harmlessly with -1.
    body.i32_const(needed_pages as i32)
        .memory_size(memory_id)
        .binop(BinaryOp::I32Sub)
        .memory_grow(memory_id)
        .drop();
    for (data, offset, len) in &segments {
        body.i32_const(*offset)
            .i32_const(0)
            .i32_const(*len)
            .memory_init(memory_id, *data)
            .data_drop(*data);
    }
    if let Some(previous) = module.start {
        body.call(previous);
    }
    let start = start.finish(Vec::new(), &mut module.funcs);
    module.start = Some(start);

    for (data, _, _) in &segments {
        module.data.get_mut(*data).kind = DataKind::Passive;
    }
    let memory = module.memories.get_mut(memory_id);
    memory.data_segments.clear();
    memory.initial = OPA_INITIAL_PAGES.min(needed_pages);
    Ok(module.emit_wasm())
}

/// Sizes of the written modules, for the build log and the benchmarks page.
pub fn sizes(paths: &[PathBuf]) -> Vec<(String, u64)> {
    paths
        .iter()
        .map(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            (
                name.unwrap_or_default(),
                std::fs::metadata(p).map_or(0, |m| m.len()),
            )
        })
        .collect()
}
