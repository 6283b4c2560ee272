//! The host binary's contract with `portcullis wasm run`: one JSON object on stdout, an
//! error as `{"error": ...}` with exit 2. (The modules themselves run through it in
//! tests/tests/wasm.rs; this test also makes `cargo test` build the binary, so that the
//! CLI finds it beside itself.)

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn host(args: &[&str], stdin: &str) -> (Output, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portcullis-wasm-host"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("host runs");
    // The host may answer (an argument error) without reading stdin: a broken pipe is fine.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let output = child.wait_with_output().expect("host ends");
    let reply = serde_json::from_slice(&output.stdout).expect("one JSON object on stdout");
    (output, reply)
}

#[test]
fn wrong_arguments_are_a_usage_error() {
    let (output, reply) = host(&["only-one"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        reply["error"].as_str().unwrap().starts_with("usage:"),
        "{reply}"
    );
}

#[test]
fn a_file_that_is_not_a_module_is_named() {
    let dir = std::env::temp_dir().join(format!("portcullis-wasm-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("not-a-module.wasm");
    std::fs::write(&module, b"not wasm").unwrap();
    let (output, reply) = host(&[module.to_str().unwrap(), "1000", "x"], "{}");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("not a valid module"),
        "{reply}"
    );
    let (output, reply) = host(&[module.to_str().unwrap(), "soon", "x"], "{}");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        reply["error"].as_str().unwrap().contains("milliseconds"),
        "{reply}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_module_is_named() {
    let (output, reply) = host(&["missing.wasm", "1000", "x"], "{}");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .starts_with("missing.wasm:"),
        "{reply}"
    );
}

#[test]
fn a_wapc_module_is_told_and_called() {
    // A hand-assembled module (the text format would need `wat`) that exports
    // `__guest_call` and `memory` and returns 0, waPC's "failed", without setting an error.
    let module: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f, // type: (i32, i32) -> i32
        0x03, 0x02, 0x01, 0x00, // one function of type 0
        0x05, 0x03, 0x01, 0x00, 0x01, // memory, min 1 page
        0x07, 0x19, 0x02, // two exports
        0x0c, b'_', b'_', b'g', b'u', b'e', b's', b't', b'_', b'c', b'a', b'l', b'l', 0x00, 0x00,
        0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, 0x0a, 0x06, 0x01, 0x04, 0x00, 0x41,
        0x00, 0x0b, // body: i32.const 0
    ];
    let dir = std::env::temp_dir().join(format!("portcullis-wasm-host-w-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("guest.wasm");
    std::fs::write(&path, module).unwrap();
    let (output, reply) = host(
        &[path.to_str().unwrap(), "1000", "x"],
        r#"{"request": {}, "settings": {}}"#,
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(output.status.code(), Some(2), "{reply}");
    // Compiled, told to be waPC, called: the guest's 0 reads as a failure without a message.
    let error = reply["error"].as_str().unwrap();
    assert_eq!(error, "the module failed without an error");
}
