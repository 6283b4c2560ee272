//! Turns `metadata.yml` into the JSON that the waPC and WASI modules embed as their
//! `io.kubewarden.metadata` custom section, and adds the OPA module's link flags.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=metadata.yml");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let yaml = std::fs::read_to_string(manifest.join("metadata.yml")).expect("metadata.yml");
    let mut metadata: serde_json::Value =
        serde_yaml::from_str(&yaml).expect("metadata.yml is YAML");
    // What `kwctl annotate` would record: policy-server refuses waPC modules without
    // `protocolVersion`, and it sets "Unknown" for modes that have no protocol_version call.
    metadata["protocolVersion"] = "v1".into();
    std::fs::write(out.join("metadata-wapc.json"), metadata.to_string()).expect("write");
    metadata["executionMode"] = "wasi".into();
    metadata["protocolVersion"] = "Unknown".into();
    std::fs::write(out.join("metadata-wasi.json"), metadata.to_string()).expect("write");

    // OPA hosts own the memory (imported as env.memory, re-exported for ABI 1.1) and start it
    // small; the data is moved out of the initial pages after linking (see wasm-plugin/build/src/lib.rs).
    // Only the OPA step builds with feature `opa`, and it builds the library alone.
    let wasm = std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f == "wasm");
    if wasm && std::env::var_os("CARGO_FEATURE_OPA").is_some() {
        for arg in ["--import-memory", "--export-memory", "-zstack-size=524288"] {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
