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
    let mut written = Vec::new();
    for (target, selection, features, artifact, module) in steps {
        let mut command = Command::new(cargo);
        command
            .current_dir(workspace)
            .args(["build", "--locked", "-p", "portcullis-wasm-plugin"])
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
        std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
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
