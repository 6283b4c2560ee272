//! `cargo run -p portcullis-wasm-build -- [OUT_DIR]`: builds the three modules into OUT_DIR
//! (default `target/wasm-modules`) and prints their sizes. The CLI's build script does the
//! same on its own; this is for looking at the modules without building the CLI.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target/wasm-modules"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Err(e) = portcullis_wasm_build::targets_installed(&rustc) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let target_dir = workspace.join("target/wasm-build");
    match portcullis_wasm_build::build(cargo.as_ref(), &workspace, &target_dir, &out) {
        Ok(paths) => {
            for (name, size) in portcullis_wasm_build::sizes(&paths) {
                println!("{name}: {size} bytes");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
