//! Runs a Portcullis module in wasmtime the way its host does: the waPC protocol as
//! Kubewarden's policy-server speaks it, the OPA ABI 1.2 fast path as the OPA SDKs call it,
//! and a WASI command with stdin/stdout as Kubewarden's `executionMode: wasi` runs it.
//!
//! Every run has an epoch deadline (a timer thread bumps the epoch) and a memory cap, so a
//! module that loops or allocates without bound ends with an error, not a hung CLI.

use std::time::Duration;

use serde_json::Value;
use wasmtime::{
    Caller, Config, Engine, Extern, Instance, Linker, Memory, MemoryType, Module, Store,
    StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

/// Linear memory a module may use.
const MEMORY_LIMIT: usize = 512 << 20;
/// Largest answer read from a WASI module's stdout.
const STDOUT_LIMIT: usize = 64 << 20;

/// Which host interface a module speaks, told by its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abi {
    Wapc,
    Opa,
    Wasi,
}

impl Abi {
    pub fn name(self) -> &'static str {
        match self {
            Abi::Wapc => "Kubewarden waPC",
            Abi::Opa => "OPA Wasm ABI",
            Abi::Wasi => "WASI command",
        }
    }
}

/// A compiled module and the engine it runs on.
pub struct Host {
    engine: Engine,
    module: Module,
    pub abi: Abi,
    timeout: Duration,
}

struct State {
    limits: StoreLimits,
    wasi: Option<WasiP1Ctx>,
    // waPC call state.
    op: Vec<u8>,
    msg: Vec<u8>,
    response: Option<Vec<u8>>,
    error: Option<String>,
    host_error: Vec<u8>,
}

impl State {
    fn new(wasi: Option<WasiP1Ctx>) -> State {
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

    fn wasi(&mut self) -> &mut WasiP1Ctx {
        self.wasi
            .get_or_insert_with(|| WasiCtxBuilder::new().build_p1())
    }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Describes a failed call: a deadline trap reads as a timeout.
fn describe(e: wasmtime::Error, timeout: Duration) -> String {
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

    fn store(&self, wasi: Option<WasiP1Ctx>) -> Store<State> {
        let mut store = Store::new(&self.engine, State::new(wasi));
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store
    }

    /// Runs `f` with a timer that interrupts the module after the timeout.
    fn with_deadline<T>(&self, f: impl FnOnce() -> T) -> T {
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

    /// Calls one waPC operation on a fresh instance, as policy-server does after a reset.
    pub fn wapc(&self, op: &str, payload: &[u8]) -> Result<Value, String> {
        let mut store = self.store(None);
        let mut linker = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, State::wasi).map_err(err)?;
        define_wapc(&mut linker).map_err(err)?;
        self.with_deadline(|| {
            let instance = linker
                .instantiate(&mut store, &self.module)
                .map_err(|e| describe(e, self.timeout))?;
            for init in ["_start", "wapc_init"] {
                if let Ok(f) = instance.get_typed_func::<(), ()>(&mut store, init) {
                    f.call(&mut store, ())
                        .map_err(|e| describe(e, self.timeout))?;
                }
            }
            let call = instance
                .get_typed_func::<(i32, i32), i32>(&mut store, "__guest_call")
                .map_err(err)?;
            store.data_mut().op = op.as_bytes().to_vec();
            store.data_mut().msg = payload.to_vec();
            let ok = call
                .call(&mut store, (op.len() as i32, payload.len() as i32))
                .map_err(|e| describe(e, self.timeout))?;
            let state = store.data_mut();
            if ok == 1 {
                let response = state.response.take().unwrap_or_default();
                serde_json::from_slice(&response)
                    .map_err(|e| format!("the module answered with invalid JSON: {e}"))
            } else {
                Err(state
                    .error
                    .take()
                    .unwrap_or_else(|| "the module failed without an error".into()))
            }
        })
    }

    /// Runs the WASI command with `command` as its argument and `stdin`.
    pub fn wasi(&self, command: &str, stdin: &[u8]) -> Result<Value, String> {
        let stdout = MemoryOutputPipe::new(STDOUT_LIMIT);
        let stderr = MemoryOutputPipe::new(STDOUT_LIMIT);
        let wasi = WasiCtxBuilder::new()
            .args(&["policy.wasm", command])
            .stdin(MemoryInputPipe::new(stdin.to_vec()))
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let mut store = self.store(Some(wasi));
        let mut linker = Linker::new(&self.engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, State::wasi).map_err(err)?;
        let status = self.with_deadline(|| {
            let instance = linker
                .instantiate(&mut store, &self.module)
                .map_err(|e| describe(e, self.timeout))?;
            let start = instance
                .get_typed_func::<(), ()>(&mut store, "_start")
                .map_err(err)?;
            match start.call(&mut store, ()) {
                Ok(()) => Ok(0),
                Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    Some(exit) => Ok(exit.0),
                    None => Err(describe(e, self.timeout)),
                },
            }
        })?;
        if status != 0 {
            let stderr = String::from_utf8_lossy(&stderr.contents())
                .trim()
                .to_string();
            return Err(format!("the module exited with {status}: {stderr}"));
        }
        serde_json::from_slice(&stdout.contents())
            .map_err(|e| format!("the module wrote invalid JSON: {e}"))
    }

    /// Evaluates `input` with `data` at `entrypoint` through the ABI 1.2 fast path, as
    /// `@open-policy-agent/opa-wasm` does; returns the result set.
    pub fn opa(&self, input: &Value, data: &Value, entrypoint: &str) -> Result<Value, String> {
        let mut store = self.store(None);
        let mut linker = Linker::new(&self.engine);
        // OPA hosts create the memory; 5 pages like the npm SDK and Kubewarden.
        let memory = Memory::new(&mut store, MemoryType::new(5, None)).map_err(err)?;
        linker
            .define(&store, "env", "memory", memory)
            .map_err(err)?;
        define_opa(&mut linker, memory).map_err(err)?;
        self.with_deadline(|| {
            let instance = linker
                .instantiate(&mut store, &self.module)
                .map_err(|e| describe(e, self.timeout))?;
            let opa = Opa {
                instance,
                memory,
                timeout: self.timeout,
            };
            let entrypoints = opa.call1(&mut store, "entrypoints", ())?;
            let entrypoints = opa.dump(&mut store, entrypoints)?;
            let id = entrypoints
                .get(entrypoint)
                .and_then(Value::as_i64)
                .ok_or_else(|| {
                    format!("the module has no entrypoint `{entrypoint}`; it has {entrypoints}")
                })?;
            let data = opa.load(&mut store, data)?;
            let text = input.to_string();
            let address = opa.call1(&mut store, "opa_malloc", text.len() as i32)?;
            opa.memory
                .write(&mut store, address as usize, text.as_bytes())
                .map_err(err)?;
            let heap = opa.call1(&mut store, "opa_heap_ptr_get", ())?;
            let eval = opa
                .instance
                .get_typed_func::<(i32, i32, i32, i32, i32, i32, i32), i32>(&mut store, "opa_eval")
                .map_err(err)?;
            let result = eval
                .call(
                    &mut store,
                    (0, id as i32, data, address, text.len() as i32, heap, 0),
                )
                .map_err(|e| describe(e, self.timeout))?;
            let text = read_c_string(&store, opa.memory, result)?;
            serde_json::from_str(&text)
                .map_err(|e| format!("the module answered invalid JSON: {e}"))
        })
    }
}

struct Opa {
    instance: Instance,
    memory: Memory,
    timeout: Duration,
}

impl Opa {
    fn call1<P: wasmtime::WasmParams>(
        &self,
        store: &mut Store<State>,
        name: &str,
        params: P,
    ) -> Result<i32, String> {
        let f = self
            .instance
            .get_typed_func::<P, i32>(&mut *store, name)
            .map_err(|e| format!("{name}: {e}"))?;
        f.call(&mut *store, params)
            .map_err(|e| describe(e, self.timeout))
    }

    /// `opa_malloc` + write + `opa_json_parse`.
    fn load(&self, store: &mut Store<State>, value: &Value) -> Result<i32, String> {
        let text = value.to_string();
        let address = self.call1(store, "opa_malloc", text.len() as i32)?;
        self.memory
            .write(&mut *store, address as usize, text.as_bytes())
            .map_err(err)?;
        match self.call1(store, "opa_json_parse", (address, text.len() as i32))? {
            0 => Err("the module could not parse the data".into()),
            handle => Ok(handle),
        }
    }

    fn dump(&self, store: &mut Store<State>, handle: i32) -> Result<Value, String> {
        let address = self.call1(store, "opa_json_dump", handle)?;
        let text = read_c_string(&*store, self.memory, address)?;
        serde_json::from_str(&text).map_err(err)
    }
}

fn read_c_string(
    store: impl wasmtime::AsContext,
    memory: Memory,
    address: i32,
) -> Result<String, String> {
    let data = memory.data(&store);
    let start = address as u32 as usize;
    let tail = data
        .get(start..)
        .ok_or_else(|| format!("address {address} is outside the memory"))?;
    let end = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or("unterminated string")?;
    String::from_utf8(tail[..end].to_vec()).map_err(err)
}

fn guest_memory(caller: &mut Caller<'_, State>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(wasmtime::Error::msg("the module exports no memory")),
    }
}

fn read(caller: &mut Caller<'_, State>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let memory = guest_memory(caller)?;
    let mut buffer = vec![0; usize::try_from(len)?];
    memory.read(&*caller, ptr as u32 as usize, &mut buffer)?;
    Ok(buffer)
}

/// The waPC host functions (all nine, as wasmtime-provider defines them).
fn define_wapc(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "wapc",
        "__guest_request",
        |mut caller: Caller<'_, State>, op_ptr: i32, msg_ptr: i32| -> wasmtime::Result<()> {
            let memory = guest_memory(&mut caller)?;
            let (op, msg) = (caller.data().op.clone(), caller.data().msg.clone());
            memory.write(&mut caller, op_ptr as u32 as usize, &op)?;
            memory.write(&mut caller, msg_ptr as u32 as usize, &msg)?;
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_response",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let bytes = read(&mut caller, ptr, len)?;
            caller.data_mut().response = Some(bytes);
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__guest_error",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let bytes = read(&mut caller, ptr, len)?;
            caller.data_mut().error = Some(String::from_utf8_lossy(&bytes).into_owned());
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_call",
        |mut caller: Caller<'_, State>,
         _bd_ptr: i32,
         _bd_len: i32,
         _ns_ptr: i32,
         _ns_len: i32,
         _op_ptr: i32,
         _op_len: i32,
         _ptr: i32,
         _len: i32|
         -> i32 {
            caller.data_mut().host_error =
                b"host capabilities are not available in `portcullis wasm run`".to_vec();
            0
        },
    )?;
    linker.func_wrap("wapc", "__host_response_len", || -> i32 { 0 })?;
    linker.func_wrap("wapc", "__host_response", |_ptr: i32| {})?;
    linker.func_wrap(
        "wapc",
        "__host_error_len",
        |caller: Caller<'_, State>| -> i32 { caller.data().host_error.len() as i32 },
    )?;
    linker.func_wrap(
        "wapc",
        "__host_error",
        |mut caller: Caller<'_, State>, ptr: i32| -> wasmtime::Result<()> {
            let memory = guest_memory(&mut caller)?;
            let error = caller.data().host_error.clone();
            memory.write(&mut caller, ptr as u32 as usize, &error)?;
            Ok(())
        },
    )?;
    linker.func_wrap(
        "wapc",
        "__console_log",
        |mut caller: Caller<'_, State>, ptr: i32, len: i32| -> wasmtime::Result<()> {
            let bytes = read(&mut caller, ptr, len)?;
            log::info!(target: "portcullis::wasm", "{}", String::from_utf8_lossy(&bytes));
            Ok(())
        },
    )?;
    Ok(())
}

/// The `env` functions an OPA module may import besides the memory.
fn define_opa(linker: &mut Linker<State>, memory: Memory) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "opa_abort",
        move |caller: Caller<'_, State>, address: i32| -> wasmtime::Result<()> {
            let message = read_c_string(&caller, memory, address)
                .unwrap_or_else(|e| format!("(unreadable message: {e})"));
            Err(wasmtime::Error::msg(format!(
                "the module aborted: {message}"
            )))
        },
    )?;
    linker.func_wrap(
        "env",
        "opa_println",
        move |caller: Caller<'_, State>, address: i32| {
            if let Ok(text) = read_c_string(&caller, memory, address) {
                log::info!(target: "portcullis::wasm", "{text}");
            }
        },
    )?;
    let no_builtins = || wasmtime::Error::msg("this host implements no OPA builtins");
    linker.func_wrap(
        "env",
        "opa_builtin0",
        move |_: i32, _: i32| -> wasmtime::Result<i32> { Err(no_builtins()) },
    )?;
    linker.func_wrap(
        "env",
        "opa_builtin1",
        move |_: i32, _: i32, _: i32| -> wasmtime::Result<i32> { Err(no_builtins()) },
    )?;
    linker.func_wrap(
        "env",
        "opa_builtin2",
        move |_: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> { Err(no_builtins()) },
    )?;
    linker.func_wrap(
        "env",
        "opa_builtin3",
        move |_: i32, _: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(no_builtins())
        },
    )?;
    linker.func_wrap(
        "env",
        "opa_builtin4",
        move |_: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> wasmtime::Result<i32> {
            Err(no_builtins())
        },
    )?;
    Ok(())
}
