//! Per-request cost of the WebAssembly modules against the native engine, and the cost of a
//! fresh instance (instantiation + rule compilation), for docs/benchmarks.md.
//!
//! `cargo run --release -p portcullis-tests --example wasm_bench -- MODULES_DIR`
//! (MODULES_DIR from `portcullis wasm build --out MODULES_DIR`).

use std::path::PathBuf;
use std::time::Instant;

use portcullis_engine::Date;
use portcullis_wasm_plugin::Plugin;
use serde_json::json;

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("MODULES_DIR"));
    let request = json!({"request": {"uid": "u", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "operation": "CREATE", "namespace": "shop",
        "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "shop"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:latest", "env": [{"name": "DB_PASSWORD", "value": "hunter2"}]},
                {"name": "sidecar", "image": "registry.company.com/shop/proxy:1.2.3",
                 "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false}}]}}}}},
        "settings": {}});
    let payload = request.to_string();
    let n = 2000;

    let plugin = Plugin::load().unwrap();
    let policy = plugin.policy(&json!({}), Date::today()).unwrap();
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(
            plugin
                .evaluate(&policy, request["request"].clone())
                .to_validation_response()
                .to_string(),
        );
    }
    let native = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("native (parse + evaluate + response): {native:.1} µs/request");

    let engine = wasmtime::Engine::default();
    for name in [
        "portcullis-wapc.wasm",
        "portcullis-opa.wasm",
        "portcullis-wasi.wasm",
    ] {
        let size = std::fs::metadata(dir.join(name)).unwrap().len();
        let start = Instant::now();
        let module = wasmtime::Module::from_file(&engine, dir.join(name)).unwrap();
        println!(
            "{name}: {size} bytes, Cranelift compile {:.0} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
        if name == "portcullis-wapc.wasm" {
            // Instantiation + rule compilation: a fresh host answering its first call.
            let new_host = || {
                let provider = wasmtime_provider::WasmtimeEngineProviderBuilder::new()
                    .engine(engine.clone())
                    .module(module.clone())
                    .build()
                    .unwrap();
                wapc::WapcHost::new(Box::new(provider), None).unwrap()
            };
            let mut fresh = Vec::new();
            for _ in 0..20 {
                let start = Instant::now();
                let host = new_host();
                host.call("validate_settings", b"{}").unwrap();
                fresh.push(start.elapsed().as_secs_f64() * 1e3);
            }
            fresh.sort_by(f64::total_cmp);
            println!(
                "  instantiate + compile rules (median of 20): {:.2} ms",
                fresh[10]
            );
            let host = new_host();
            host.call("validate", payload.as_bytes()).unwrap();
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(host.call("validate", payload.as_bytes()).unwrap());
            }
            let wasm = start.elapsed().as_secs_f64() * 1e6 / n as f64;
            println!(
                "  validate: {wasm:.1} µs/request ({:.2}x native)",
                wasm / native
            );
        }
    }
}
