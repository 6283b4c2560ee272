//! Embeds the WebAssembly modules (`wasm-plugin/`) into the CLI, so that `portcullis wasm
//! build` works on machines without a Rust toolchain. The modules are built here with a
//! nested `cargo build` into `<target>/wasm-build` (shared by all profiles).
//!
//! Without the `wasm32-wasip1` and `wasm32-unknown-unknown` targets, or with
//! `PORTCULLIS_NO_WASM=1`, the CLI is built without modules and `portcullis wasm build`
//! says so. `WASM_OPT` (or `wasm-opt` on PATH) optimises the modules for size.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest
        .parent()
        .expect("cli/ sits in the workspace")
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    for path in [
        "wasm-plugin/src",
        "wasm-plugin/build/src",
        "wasm-plugin/Cargo.toml",
        "wasm-plugin/build.rs",
        "wasm-plugin/metadata.yml",
        "engine/src",
        "engine/Cargo.toml",
        "rules",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=PORTCULLIS_NO_WASM");
    println!("cargo:rerun-if-env-changed=WASM_OPT");

    let modules = match modules(&workspace, &out) {
        Ok(Some(paths)) => paths,
        Ok(None) => Vec::new(),
        Err(e) => panic!("building the WebAssembly modules: {e}"),
    };
    let mut code = String::from("/// The modules built with this CLI, by file name.\n");
    if modules.is_empty() {
        code.push_str("pub static MODULES: &[(&str, &[u8])] = &[];\n");
    } else {
        code.push_str("pub static MODULES: &[(&str, &[u8])] = &[\n");
        for path in &modules {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("utf-8 name");
            code.push_str(&format!(
                "    ({name:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            ));
        }
        code.push_str("];\n");
    }
    std::fs::write(out.join("wasm_modules.rs"), code).expect("writing wasm_modules.rs");
}

/// Builds the modules; `None` when this build does without them.
fn modules(workspace: &Path, out: &Path) -> Result<Option<Vec<PathBuf>>, String> {
    if std::env::var_os("PORTCULLIS_NO_WASM").is_some_and(|v| !v.is_empty() && v != "0") {
        println!("cargo:warning=PORTCULLIS_NO_WASM is set: building without WebAssembly modules");
        return Ok(None);
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Err(e) = portcullis_wasm_build::targets_installed(&rustc) {
        println!("cargo:warning=building without WebAssembly modules: {e}");
        return Ok(None);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = target_dir(out).join("wasm-build");
    let modules = out.join("wasm");
    let paths = portcullis_wasm_build::build(cargo.as_ref(), workspace, &target_dir, &modules)?;
    if let Some(wasm_opt) = wasm_opt() {
        for path in &paths {
            optimise(&wasm_opt, path)?;
        }
    } else {
        println!(
            "cargo:warning=wasm-opt not found (set WASM_OPT): the modules are not size-optimised"
        );
    }
    Ok(Some(paths))
}

/// The cargo target directory: the nearest ancestor of OUT_DIR holding `CACHEDIR.TAG`.
fn target_dir(out: &Path) -> PathBuf {
    out.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out)
        .to_path_buf()
}

fn wasm_opt() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WASM_OPT").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let found = Command::new("wasm-opt").arg("--version").output();
    found
        .is_ok_and(|o| o.status.success())
        .then(|| PathBuf::from("wasm-opt"))
}

/// `wasm-opt -O3` in place. The OPA module's post-link output uses bulk memory.
fn optimise(wasm_opt: &Path, path: &Path) -> Result<(), String> {
    let status = Command::new(wasm_opt)
        .arg("-O3")
        .args([
            "--enable-bulk-memory",
            "--enable-sign-ext",
            "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int",
        ])
        .arg(path)
        .arg("-o")
        .arg(path)
        .status()
        .map_err(|e| format!("running {}: {e}", wasm_opt.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("wasm-opt failed on {} ({status})", path.display()))
    }
}
