//! A WASI command, as Kubewarden's `executionMode: wasi` runs it: the request on stdin, the
//! answer on stdout, the operation as the argument.

use serde_json::Value;
use wasmtime::Linker;
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};

use super::{Host, STDOUT_LIMIT, State, describe, err};

impl Host {
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
}
