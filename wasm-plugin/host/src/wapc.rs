//! The waPC protocol as Kubewarden's policy-server speaks it: `__guest_call` with the
//! operation and payload, answered through the host functions below.

use serde_json::Value;
use wasmtime::{Caller, Linker};

use super::{Host, State, describe, err, guest_memory, read};

impl Host {
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
