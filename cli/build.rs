//! Where `portcullis wasm build` gets the WebAssembly modules (`wasm-plugin/`) from.
//!
//! With the `bundled-wasm` feature (shipped binaries: `cargo build --profile dist
//! --features bundled-wasm`), they are built here with a nested `cargo build` into
//! `<target>/wasm-build`, optimised with `wasm-opt` (`WASM_OPT`, or on `PATH`) when it is
//! there, and embedded, so that the binary needs no Rust toolchain.
//!
//! Otherwise (`cargo build`, `cargo run --release`) they are not: an engine or rule edit
//! would rebuild three size-optimised modules before the CLI links, and a fresh clone's
//! first `check` would wait for them. `portcullis wasm build` builds them on first use
//! instead, from this workspace, into the same cache (so a test run and the release build
//! that follows share one module build).
//!
//! Without the `wasm32-wasip1` and `wasm32-unknown-unknown` targets, or with
//! `PORTCULLIS_NO_WASM=1`, there are no modules and `portcullis wasm build` says so.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let workspace = manifest
        .parent()
        .expect("cli/ sits in the workspace")
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let target_dir = target_dir(&out);
    println!("cargo:rerun-if-env-changed=PORTCULLIS_NO_WASM");
    println!("cargo:rerun-if-env-changed=WASM_OPT");

    let disabled =
        std::env::var_os("PORTCULLIS_NO_WASM").is_some_and(|v| !v.is_empty() && v != "0");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let missing_targets = portcullis_wasm_build::targets_installed(&rustc).err();
    let available = !disabled && missing_targets.is_none();
    let embed = available && std::env::var_os("CARGO_FEATURE_BUNDLED_WASM").is_some();

    if disabled {
        println!("cargo:warning=PORTCULLIS_NO_WASM is set: building without WebAssembly modules");
    } else if let Some(e) = &missing_targets {
        println!("cargo:warning=building without WebAssembly modules: {e}");
    }
    let modules = if embed {
        for path in [
            "wasm-plugin/src",
            "wasm-plugin/build/src",
            "wasm-plugin/Cargo.toml",
            "wasm-plugin/build.rs",
            "wasm-plugin/metadata.yml",
            "engine/src",
            "engine/Cargo.toml",
            "engine/build.rs",
            // The engine verifies signatures with this crate, inside the modules too.
            "signatures/src",
            "signatures/data",
            "signatures/Cargo.toml",
            "rules",
            "Cargo.toml",
            "Cargo.lock",
        ] {
            println!("cargo:rerun-if-changed={}", workspace.join(path).display());
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let wasm_opt = portcullis_wasm_build::wasm_opt();
        if wasm_opt.is_none() {
            println!(
                "cargo:warning=wasm-opt not found (set WASM_OPT): the modules are not size-optimised"
            );
        }
        portcullis_wasm_build::build_optimised(
            cargo.as_ref(),
            &workspace,
            &target_dir.join("wasm-build"),
            &out.join("wasm"),
            wasm_opt.as_deref(),
        )
        .unwrap_or_else(|e| panic!("building the WebAssembly modules: {e}"))
    } else {
        Vec::new()
    };
    let mut code = String::from(
        "/// The modules built into this CLI, by file name (feature `bundled-wasm`).\n",
    );
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
    code.push_str(&format!(
        "/// The modules' file names.\npub static MODULE_NAMES: [&str; 3] = {:?};\n",
        portcullis_wasm_build::MODULES
    ));
    // Without `bundled-wasm`, `wasm build` and `wasm run` build what they need from here.
    code.push_str(&format!(
        "/// Without `bundled-wasm`: whether `wasm build` can build the modules on first use.\n\
         pub static MODULES_ON_DEMAND: bool = {};\n",
        available && !embed
    ));
    code.push_str(&format!(
        "/// The workspace and target directory this binary was built from.\n\
         pub static SOURCE_TREE: (&str, &str) = ({:?}, {:?});\n",
        workspace.display().to_string(),
        target_dir.display().to_string()
    ));
    std::fs::write(out.join("wasm_modules.rs"), code).expect("writing wasm_modules.rs");
}

/// The cargo target directory: the nearest ancestor of OUT_DIR holding `CACHEDIR.TAG`.
fn target_dir(out: &Path) -> PathBuf {
    out.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .unwrap_or(out)
        .to_path_buf()
}
