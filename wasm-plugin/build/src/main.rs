//! `cargo run -p portcullis-wasm-build -- [OUT_DIR] [--target-dir DIR]`: builds the three
//! modules into OUT_DIR (default `target/wasm-modules`), optimised with `wasm-opt` when
//! `WASM_OPT` names it or it is on `PATH`, and prints their sizes. A CLI built with
//! `--features bundled-wasm` embeds the same modules through its build script; any other
//! build of the CLI runs this when `portcullis wasm build` first needs them.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = None;
    let mut target_dir = workspace.join("target");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--target-dir" {
            match args.next() {
                Some(dir) => target_dir = PathBuf::from(dir),
                None => {
                    eprintln!("error: --target-dir needs a directory");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            out = Some(PathBuf::from(arg));
        }
    }
    let out = out.unwrap_or_else(|| target_dir.join("wasm-modules"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    if let Err(e) = portcullis_wasm_build::targets_installed(&rustc) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let wasm_opt = portcullis_wasm_build::wasm_opt();
    match portcullis_wasm_build::build_optimised(
        cargo.as_ref(),
        &workspace,
        &target_dir.join("wasm-build"),
        &out,
        wasm_opt.as_deref(),
    ) {
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
