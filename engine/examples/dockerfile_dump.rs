//! Prints the parse of each Dockerfile given as one JSON line: what
//! `tests/dockerfile-corpus/oracle.py` compares with BuildKit's parser (PyPI `dockerfile`).
//!
//! ```text
//! cargo run -p portcullis-engine --example dockerfile_dump -- FILE... > ours.jsonl
//! ```
//!
//! `--build-arg NAME=VALUE` and `--platform OS/ARCH` may come before the files.

use std::io::Write;

use portcullis_engine::dockerfile::{self, ParseOptions};

fn main() {
    let mut options = ParseOptions::default();
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--build-arg" => {
                let pair = args.next().unwrap_or_default();
                let (name, value) = pair.split_once('=').unwrap_or((&pair, ""));
                options
                    .build_args
                    .insert(name.to_string(), value.to_string());
            }
            "--platform" => options.platform = args.next(),
            _ => files.push(arg),
        }
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in files {
        let record = match std::fs::read(&path) {
            Ok(bytes) => {
                let started = std::time::Instant::now();
                let file = dockerfile::parse_bytes(&bytes, &options);
                let micros = started.elapsed().as_micros();
                serde_json::json!({"path": path, "micros": micros, "parse": file})
            }
            Err(e) => serde_json::json!({"path": path, "read_error": e.to_string()}),
        };
        if writeln!(out, "{record}").is_err() {
            return;
        }
    }
}
