//! Runs a Portcullis module in wasmtime the way its host does: the waPC protocol as
//! Kubewarden's policy-server speaks it, the OPA ABI 1.2 fast path as the OPA SDKs call it,
//! and a WASI command with stdin/stdout as Kubewarden's `executionMode: wasi` runs it.
//!
//! Every run has an epoch deadline (a timer thread bumps the epoch) and a memory cap, so a
//! module that loops or allocates without bound ends with an error, not a hung CLI. This
//! module holds what the three have in common; each ABI has its own file.
//!
//! The CLI links this library when it is built with `bundled-wasm`; otherwise `portcullis
//! wasm run` builds and runs the `portcullis-wasm-host` binary (src/main.rs) on first use.

mod opa;
mod wapc;
mod wasi;

use std::time::Duration;

use serde_json::Value;
use wasmtime::{
    Caller, Config, Engine, Extern, Memory, Module, Store, StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;

/// Linear memory a module may use.
const MEMORY_LIMIT: usize = 512 << 20;
/// Largest answer read from a WASI module's stdout.
pub(crate) const STDOUT_LIMIT: usize = 64 << 20;

/// Which host interface a module speaks, told by its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    /// Kubewarden's waPC protocol (`__guest_call`).
    Wapc,
    /// OPA's Wasm ABI (`opa_eval`).
    Opa,
    /// A WASI command reading stdin (`_start`).
    Wasi,
}

impl Abi {
    /// How people call it.
    pub fn name(self) -> &'static str {
        match self {
            Abi::Wapc => "Kubewarden waPC",
            Abi::Opa => "OPA Wasm ABI",
            Abi::Wasi => "WASI command",
        }
    }

    /// The short name the host binary prints and the CLI reads back.
    pub fn id(self) -> &'static str {
        match self {
            Abi::Wapc => "wapc",
            Abi::Opa => "opa",
            Abi::Wasi => "wasi",
        }
    }

    /// The ABI of a short name from [`Abi::id`].
    pub fn from_id(id: &str) -> Option<Abi> {
        [Abi::Wapc, Abi::Opa, Abi::Wasi]
            .into_iter()
            .find(|abi| abi.id() == id)
    }
}

/// A compiled module and the engine it runs on.
pub struct Host {
    pub(crate) engine: Engine,
    pub(crate) module: Module,
    /// The interface the module speaks.
    pub abi: Abi,
    pub(crate) timeout: Duration,
}

pub(crate) struct State {
    pub(crate) limits: StoreLimits,
    pub(crate) wasi: Option<WasiP1Ctx>,
    // waPC call state.
    pub(crate) op: Vec<u8>,
    pub(crate) msg: Vec<u8>,
    pub(crate) response: Option<Vec<u8>>,
    pub(crate) error: Option<String>,
    pub(crate) host_error: Vec<u8>,
}

impl State {
    pub(crate) fn new(wasi: Option<WasiP1Ctx>) -> State {
        State {
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_LIMIT)
                .instances(1)
                .build(),
            wasi,
            op: Vec::new(),
            msg: Vec::new(),
            response: None,
            error: None,
            host_error: Vec::new(),
        }
    }

    pub(crate) fn wasi(&mut self) -> &mut WasiP1Ctx {
        self.wasi
            .get_or_insert_with(|| WasiCtxBuilder::new().build_p1())
    }
}

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Describes a failed call: a deadline trap reads as a timeout.
pub(crate) fn describe(e: wasmtime::Error, timeout: Duration) -> String {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>()
        && *trap == wasmtime::Trap::Interrupt
    {
        return format!(
            "the module did not answer within {} ms",
            timeout.as_millis()
        );
    }
    format!("{e:#}")
}

impl Host {
    /// Compiles `bytes` and tells its ABI.
    pub fn new(bytes: &[u8], timeout: Duration) -> Result<Host, String> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(err)?;
        let module = Module::new(&engine, bytes).map_err(|e| format!("not a valid module: {e}"))?;
        let has = |name: &str| module.get_export(name).is_some();
        let abi = if has("__guest_call") {
            Abi::Wapc
        } else if has("opa_eval") {
            Abi::Opa
        } else if has("_start") {
            Abi::Wasi
        } else {
            return Err(
                "the module exports neither __guest_call (waPC), opa_eval (OPA) nor _start (WASI)"
                    .into(),
            );
        };
        Ok(Host {
            engine,
            module,
            abi,
            timeout,
        })
    }

    pub(crate) fn store(&self, wasi: Option<WasiP1Ctx>) -> Store<State> {
        let mut store = Store::new(&self.engine, State::new(wasi));
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store
    }

    /// Runs `f` with a timer that interrupts the module after the timeout.
    pub(crate) fn with_deadline<T>(&self, f: impl FnOnce() -> T) -> T {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let engine = self.engine.clone();
        let timeout = self.timeout;
        let timer = std::thread::spawn(move || {
            if wait.recv_timeout(timeout).is_err() {
                engine.increment_epoch();
            }
        });
        let result = f();
        let _ = done.send(());
        let _ = timer.join();
        result
    }

    /// Evaluates a Kubewarden ValidationRequest (`{"request", "settings"}`) and returns the
    /// module's answer: a ValidationResponse (waPC, WASI) or the OPA result set.
    pub fn validate(&self, request: &Value, opa_entrypoint: &str) -> Result<Value, String> {
        match self.abi {
            Abi::Wapc => self.wapc("validate", request.to_string().as_bytes()),
            Abi::Wasi => self.wasi("validate", request.to_string().as_bytes()),
            Abi::Opa => {
                let input = request.get("request").cloned().unwrap_or(Value::Null);
                let data = request.get("settings").cloned().unwrap_or(Value::Null);
                self.opa(&input, &data, opa_entrypoint)
            }
        }
    }
}

pub(crate) fn guest_memory(caller: &mut Caller<'_, State>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(wasmtime::Error::msg("the module exports no memory")),
    }
}

pub(crate) fn read(
    caller: &mut Caller<'_, State>,
    ptr: i32,
    len: i32,
) -> wasmtime::Result<Vec<u8>> {
    let memory = guest_memory(caller)?;
    let mut buffer = vec![0; usize::try_from(len)?];
    memory.read(&*caller, ptr as u32 as usize, &mut buffer)?;
    Ok(buffer)
}
