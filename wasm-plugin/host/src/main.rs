//! `portcullis-wasm-host MODULE TIMEOUT_MS OPA_ENTRYPOINT`: evaluates the Kubewarden
//! ValidationRequest on stdin with the module and prints one JSON object on stdout:
//! `{"abi": ID, "answer": ANSWER, "log": [LINE...]}`, or `{"error": MESSAGE}` and exit 2.
//!
//! `portcullis wasm run` runs this when the CLI was built without the host (see lib.rs).
//! The CLI has already read and checked the user's files and prints the module's log lines
//! (`-v`) itself, through its own logger that makes untrusted text safe for a terminal.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use portcullis_wasm_host::Host;
use serde_json::{Value, json};

/// Largest module read (ours are under 4 MB), as `portcullis wasm run` caps it.
const MAX_MODULE_BYTES: u64 = 64 << 20;
/// Largest request read from stdin (the CLI caps requests well below this).
const MAX_REQUEST_BYTES: u64 = 256 << 20;
/// The module's log lines kept for the CLI, and their total size.
const MAX_LOG_LINES: usize = 1000;
const MAX_LOG_BYTES: usize = 1 << 20;

fn main() -> ExitCode {
    log::set_logger(&COLLECTOR).expect("the only logger");
    log::set_max_level(log::LevelFilter::Info);
    let (reply, code) = match run() {
        Ok((abi, answer)) => {
            let log =
                std::mem::take(&mut *COLLECTOR.lines.lock().unwrap_or_else(|e| e.into_inner()));
            (
                json!({ "abi": abi, "answer": answer, "log": log }),
                ExitCode::SUCCESS,
            )
        }
        Err(message) => (json!({ "error": message }), ExitCode::from(2)),
    };
    println!("{reply}");
    code
}

fn run() -> Result<(&'static str, Value), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, timeout, entrypoint] = args.as_slice() else {
        return Err(
            "usage: portcullis-wasm-host MODULE TIMEOUT_MS OPA_ENTRYPOINT < REQUEST".into(),
        );
    };
    let timeout: u64 = timeout
        .parse()
        .map_err(|_| format!("timeout {timeout:?} is not a number of milliseconds"))?;
    // The request first: the CLI writes all of it before it reads the reply.
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("reading the request from stdin: {e}"))?;
    if text.len() as u64 > MAX_REQUEST_BYTES {
        return Err(format!(
            "the request is larger than {MAX_REQUEST_BYTES} bytes"
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(module)
        .and_then(|file| file.take(MAX_MODULE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("{module}: {e}"))?;
    if bytes.len() as u64 > MAX_MODULE_BYTES {
        return Err(format!("{module}: larger than {MAX_MODULE_BYTES} bytes"));
    }
    let request: Value =
        serde_json::from_str(&text).map_err(|e| format!("the request is not JSON: {e}"))?;
    let host = Host::new(&bytes, Duration::from_millis(timeout))?;
    let answer = host.validate(&request, entrypoint)?;
    Ok((host.abi.id(), answer))
}

/// Keeps the module's log lines (bounded) for the reply.
struct Collector {
    lines: Mutex<Vec<String>>,
}

static COLLECTOR: Collector = Collector {
    lines: Mutex::new(Vec::new()),
};

impl log::Log for Collector {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let used: usize = lines.iter().map(String::len).sum();
        let line = record.args().to_string();
        if lines.len() < MAX_LOG_LINES && used + line.len() <= MAX_LOG_BYTES {
            lines.push(line);
        }
    }

    fn flush(&self) {}
}
