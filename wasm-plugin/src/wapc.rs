//! The Kubewarden waPC facade. The host calls `__guest_call(op_len, msg_len)`; the guest
//! fetches the operation name and payload with `__guest_request` and answers through
//! `__guest_response` (returning 1) or `__guest_error` (returning 0). Operations:
//! `validate`, `validate_settings` and `protocol_version`, all JSON.
//!
//! The module exports no `_start` and never touches stdio: Kubewarden's host inherits the
//! policy-server's.
#![allow(unsafe_code)]

use std::cell::RefCell;

use portcullis_engine::Date;
use serde_json::Value;

use crate::{Plugin, PolicyCache};

#[link(wasm_import_module = "wapc")]
unsafe extern "C" {
    fn __guest_request(op_ptr: *mut u8, msg_ptr: *mut u8);
    fn __guest_response(ptr: *const u8, len: usize);
    fn __guest_error(ptr: *const u8, len: usize);
}

/// The kubewarden metadata, as `kwctl annotate` would add it.
#[used]
#[unsafe(link_section = "io.kubewarden.metadata")]
static METADATA: [u8; include_bytes!(concat!(env!("OUT_DIR"), "/metadata-wapc.json")).len()] =
    *include_bytes!(concat!(env!("OUT_DIR"), "/metadata-wapc.json"));

thread_local! {
    static PLUGIN: Result<Plugin, String> = Plugin::load();
    /// The policy for the settings of the last request: hosts send the same settings with
    /// every request, and resolving them costs more than many evaluations.
    static POLICY_CACHE: RefCell<PolicyCache> = RefCell::new(PolicyCache::default());
}

#[unsafe(no_mangle)]
pub extern "C" fn __guest_call(op_len: i32, msg_len: i32) -> i32 {
    let mut op = vec![0u8; usize::try_from(op_len).unwrap_or(0)];
    let mut msg = vec![0u8; usize::try_from(msg_len).unwrap_or(0)];
    // SAFETY: both buffers are as long as the host said the operation and payload are.
    unsafe { __guest_request(op.as_mut_ptr(), msg.as_mut_ptr()) };
    match dispatch(&op, &msg) {
        Ok(response) => {
            // SAFETY: the host copies `response` out before this function returns.
            unsafe { __guest_response(response.as_ptr(), response.len()) };
            1
        }
        Err(error) => {
            // SAFETY: as above.
            unsafe { __guest_error(error.as_ptr(), error.len()) };
            0
        }
    }
}

fn dispatch(op: &[u8], msg: &[u8]) -> Result<Vec<u8>, String> {
    match op {
        b"protocol_version" => Ok(br#""v1""#.to_vec()),
        b"validate" => PLUGIN.with(|plugin| {
            let plugin = plugin.as_ref().map_err(Clone::clone)?;
            Ok(validate(plugin, msg).to_string().into_bytes())
        }),
        b"validate_settings" => PLUGIN.with(|plugin| {
            let answer = match plugin {
                Ok(plugin) => crate::validate_settings_json(plugin, msg),
                Err(e) => crate::SettingsValidation {
                    valid: false,
                    message: Some(e.clone()),
                },
            };
            serde_json::to_vec(&answer).map_err(|e| e.to_string())
        }),
        other => Err(format!(
            "No handler registered for function {}",
            String::from_utf8_lossy(other)
        )),
    }
}

fn validate(plugin: &Plugin, msg: &[u8]) -> Value {
    POLICY_CACHE.with(|cache| cache.borrow_mut().validate_json(plugin, msg, Date::today()))
}
