//! The OPA Wasm ABI 1.2 fast path, as the OPA SDKs call it: the host creates the memory,
//! loads `data`, writes the input at the heap pointer and calls `opa_eval`.

use std::time::Duration;

use serde_json::Value;
use wasmtime::{Caller, Instance, Linker, Memory, MemoryType, Store};

use super::{Host, State, describe, err};

impl Host {
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
