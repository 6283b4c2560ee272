//! The WASI command module, as Kubewarden's `executionMode: wasi` runs it:
//!
//! * `portcullis-wasi validate`: stdin holds a ValidationRequest (`{"request": …,
//!   "settings": …}`), stdout gets one ValidationResponse.
//! * `portcullis-wasi validate-settings`: stdin holds the settings, stdout gets
//!   `{"valid": …, "message": …}`.
//!
//! Exit 0 whenever an answer was written, denials included; 2 for usage errors, 1 when the
//! module itself cannot start (a damaged rules bundle). Runs natively too.

use std::io::{Read, Write};
use std::process::ExitCode;

use portcullis_engine::Date;
use portcullis_wasm_plugin::{Plugin, validate_json, validate_settings_json};

const USAGE: &str = "usage: portcullis-wasi validate|validate-settings < input.json";

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    if command != "validate" && command != "validate-settings" {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("error: reading stdin: {e}");
        return ExitCode::from(1);
    }
    let plugin = match Plugin::load() {
        Ok(plugin) => plugin,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let answer = if command == "validate" {
        validate_json(&plugin, &input, Date::today())
    } else {
        serde_json::to_value(validate_settings_json(&plugin, &input)).unwrap_or_default()
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{answer}").and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing stdout: {e}");
            ExitCode::from(1)
        }
    }
}

/// The kubewarden metadata for `executionMode: wasi`, as `kwctl annotate` would add it.
#[cfg(target_family = "wasm")]
#[allow(unsafe_code)] // a custom section holds only these bytes; nothing else links there
#[used]
#[unsafe(link_section = "io.kubewarden.metadata")]
static METADATA: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/metadata-wasi.json")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/metadata-wasi.json"));
