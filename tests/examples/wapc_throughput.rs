//! The admission server's comparison point in docs/benchmarks.md: the same AdmissionReview
//! through the waPC module in `wapc` + `wasmtime-provider` (the engine Kubewarden's
//! policy-server runs policies on), one host per thread and one thread per core, as the
//! policy-server's worker pool does. Evaluation only: no HTTP or TLS.
//!
//! `wapc_throughput MODULE REVIEW_JSON SECONDS`

use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let module = PathBuf::from(args.next().expect("MODULE (portcullis-wapc.wasm)"));
    let review: serde_json::Value =
        serde_json::from_slice(&std::fs::read(args.next().expect("REVIEW_JSON")).unwrap()).unwrap();
    let seconds: u64 = args.next().map_or(60, |s| s.parse().unwrap());
    let payload = serde_json::json!({"request": review["request"], "settings": {}}).to_string();
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, &module).unwrap();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (engine, module, payload) = (engine.clone(), module.clone(), payload.clone());
            std::thread::spawn(move || {
                let provider = wasmtime_provider::WasmtimeEngineProviderBuilder::new()
                    .engine(engine)
                    .module(module)
                    .build()
                    .unwrap();
                let host = wapc::WapcHost::new(Box::new(provider), None).unwrap();
                let first = host.call("validate", payload.as_bytes()).unwrap();
                let answer: serde_json::Value = serde_json::from_slice(&first).unwrap();
                assert_eq!(answer["accepted"], false, "{answer}");
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let start = Instant::now();
                    std::hint::black_box(host.call("validate", payload.as_bytes()).unwrap());
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let p = |q: f64| {
        latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1e3
    };
    println!(
        "waPC, {threads} threads: {} requests, rate {:.0}/s, latency ms: p50 {:.2} p99 {:.2} max {:.2}",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        p(0.50),
        p(0.99),
        p(1.0)
    );
}
