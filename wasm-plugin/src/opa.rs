//! The OPA Wasm ABI 1.2 facade: what `opa build -t wasm` modules export, so OPA SDKs
//! (`@open-policy-agent/opa-wasm`, `opa-py-wasm`, …) load the module as if it were a compiled
//! Rego policy.
//!
//! Entry points: `portcullis/allow` (id 0, a boolean), `portcullis/violations` (id 1, the
//! findings) and `portcullis/decision` (id 2, the whole [`Decision`]). Input is an
//! AdmissionReview, an AdmissionRequest or a bare object; an optional top-level `today`
//! (`YYYY-MM-DD`) dates exemption expiry, since the ABI gives a module no clock. Data is
//! the settings.
//!
//! Memory model. Hosts treat the region at `opa_heap_ptr_get()` as scratch they may write
//! into without asking (the 1.2 fast path writes the input there), and reset it by setting
//! the pointer back. Rust's allocator cannot share memory on those terms, so the "heap" the
//! host sees is a window this module allocates once and owns: `opa_malloc` and the dumped
//! strings bump inside it. Parsed values are ordinary Rust allocations tracked with the
//! window position at which they were made, and are freed when the host resets the pointer
//! below that position. Nothing the engine keeps between calls lives in the window.
//!
//! The post-link step in `wasm-plugin/build` adds the ABI version globals and moves the data
//! segments out of the initial pages (hosts start the memory at 2 to 5 pages).
#![allow(unsafe_code)]

use std::cell::RefCell;

use portcullis_engine::Date;
use serde_json::{Value, json};

use crate::{Decision, Plugin, PolicyCache};

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn opa_abort(message: *const u8) -> !;
}

/// Bytes of host-visible scratch: room for the settings, the largest admission request
/// (Kubernetes objects are at most 1.5 MiB, and a request may carry two) and the answer.
const WINDOW: usize = 8 << 20;

const ENTRYPOINTS: [&str; 3] = [
    "portcullis/allow",
    "portcullis/violations",
    "portcullis/decision",
];

enum Object {
    Value(Box<Value>),
    Ctx(Box<Ctx>),
}

#[derive(Default)]
struct Ctx {
    input: i32,
    data: i32,
    entrypoint: i32,
    result: i32,
}

struct State {
    plugin: Result<Plugin, String>,
    /// Start of the window; never moves.
    base: *mut u8,
    /// Offset of the first free byte in the window.
    top: usize,
    /// Live values and contexts with the window offset at which they were made.
    objects: Vec<(usize, Object)>,
    /// The policy for the last settings and date seen.
    policy: PolicyCache,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Runs `f` on the state, creating it first: the engine, the compiled rules and the window
/// all exist before the host can read the heap pointer.
fn with_state<T>(f: impl FnOnce(&mut State) -> Result<T, String>) -> T {
    let result = STATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let state = slot.get_or_insert_with(|| {
            std::panic::set_hook(Box::new(|info| abort(&info.to_string())));
            let window = vec![0u8; WINDOW].leak();
            State {
                plugin: Plugin::load(),
                base: window.as_mut_ptr(),
                top: 0,
                objects: Vec::new(),
                policy: PolicyCache::default(),
            }
        });
        f(state)
    });
    result.unwrap_or_else(|message| abort(&message))
}

/// Tells the host why evaluation cannot go on; hosts raise an error.
fn abort(message: &str) -> ! {
    let mut text = message.replace('\0', " ").into_bytes();
    text.push(0);
    let text = text.leak();
    // SAFETY: `text` is NUL-terminated and leaked, so it outlives the call.
    unsafe { opa_abort(text.as_ptr()) }
}

impl State {
    fn address(&self, offset: usize) -> i32 {
        (self.base as usize + offset) as i32
    }

    /// The window offset of a host address, if it lies in the window.
    fn offset(&self, address: i32) -> Option<usize> {
        (address as u32 as usize)
            .checked_sub(self.base as usize)
            .filter(|offset| *offset <= WINDOW)
    }

    /// Reserves `len` bytes of the window.
    fn bump(&mut self, len: usize) -> Result<usize, String> {
        let start = self.top.next_multiple_of(8);
        if start + len > WINDOW {
            return Err(format!(
                "out of scratch memory: {len} bytes do not fit the {} MiB window",
                WINDOW >> 20
            ));
        }
        self.top = start + len;
        Ok(start)
    }

    /// Moves the top back (or forward) and frees everything made at or above it.
    fn set_top(&mut self, address: i32) -> Result<(), String> {
        let top = self
            .offset(address)
            .ok_or_else(|| format!("heap pointer {address} is outside the heap"))?;
        self.top = top;
        self.objects.retain(|(mark, _)| *mark < top);
        Ok(())
    }

    fn add(&mut self, object: Object) -> Result<i32, String> {
        // Each object takes a slot of the window so that pointers read after it was made
        // lie above its mark.
        let mark = self.bump(8)?;
        let address = match &object {
            Object::Value(value) => &**value as *const Value as usize,
            Object::Ctx(ctx) => &**ctx as *const Ctx as usize,
        };
        self.objects.push((mark, object));
        Ok(address as i32)
    }

    fn add_value(&mut self, value: Value) -> Result<i32, String> {
        self.add(Object::Value(Box::new(value)))
    }

    fn value(&self, handle: i32) -> Result<&Value, String> {
        self.objects
            .iter()
            .find_map(|(_, object)| match object {
                Object::Value(value) if &**value as *const Value as usize == handle as usize => {
                    Some(&**value)
                }
                _ => None,
            })
            .ok_or_else(|| format!("{handle} is not a live value"))
    }

    fn value_mut(&mut self, handle: i32) -> Result<&mut Value, String> {
        self.objects
            .iter_mut()
            .find_map(|(_, object)| match object {
                Object::Value(value) if &**value as *const Value as usize == handle as usize => {
                    Some(&mut **value)
                }
                _ => None,
            })
            .ok_or_else(|| format!("{handle} is not a live value"))
    }

    fn ctx(&mut self, handle: i32) -> Result<&mut Ctx, String> {
        self.objects
            .iter_mut()
            .find_map(|(_, object)| match object {
                Object::Ctx(ctx) if &**ctx as *const Ctx as usize == handle as usize => {
                    Some(&mut **ctx)
                }
                _ => None,
            })
            .ok_or_else(|| format!("{handle} is not an evaluation context"))
    }

    /// `len` bytes at a host address in the window.
    fn bytes(&self, address: i32, len: i32) -> Result<&[u8], String> {
        let len = usize::try_from(len).map_err(|_| format!("negative length {len}"))?;
        let start = self
            .offset(address)
            .filter(|start| start + len <= WINDOW)
            .ok_or_else(|| format!("{len} bytes at {address} lie outside the heap"))?;
        // SAFETY: the range lies in the window, which this module allocated and leaked;
        // no Rust reference to the window exists.
        Ok(unsafe { std::slice::from_raw_parts(self.base.add(start), len) })
    }

    /// Writes `text` and a NUL into the window; returns its address.
    fn c_string(&mut self, text: &[u8]) -> Result<i32, String> {
        let start = self.bump(text.len() + 1)?;
        // SAFETY: `bump` reserved `text.len() + 1` bytes at `start` inside the window.
        unsafe {
            let dest = self.base.add(start);
            std::ptr::copy_nonoverlapping(text.as_ptr(), dest, text.len());
            *dest.add(text.len()) = 0;
        }
        Ok(self.address(start))
    }

    /// Evaluates `input` with the settings in `data` and shapes the result set for the
    /// entry point.
    fn evaluate(
        &mut self,
        entrypoint: i32,
        data: Option<Value>,
        input: Option<Value>,
    ) -> Result<Value, String> {
        if usize::try_from(entrypoint).is_ok_and(|e| e < ENTRYPOINTS.len()) {
            let decision = self.decide(data.unwrap_or(Value::Null), input);
            self.shape(entrypoint, decision)
        } else {
            Err(format!("unknown entrypoint id {entrypoint}"))
        }
    }

    fn decide(&mut self, settings: Value, input: Option<Value>) -> Decision {
        let plugin = match &self.plugin {
            Ok(plugin) => plugin,
            Err(e) => return Decision::error(vec![e.clone()], None),
        };
        let Some(mut input) = input else {
            return Decision::error(vec!["no input".into()], None);
        };
        let today = match input.as_object_mut().and_then(|map| map.remove("today")) {
            None => None,
            Some(Value::String(text)) => match Date::parse(&text) {
                Ok(date) => Some(date),
                Err(e) => return Decision::error(vec![format!("input `today`: {e}")], None),
            },
            Some(_) => {
                return Decision::error(
                    vec!["input `today` must be a date string (YYYY-MM-DD)".into()],
                    None,
                );
            }
        };
        // Without a date every exemption with `expires` counts as expired: a missing clock
        // must not waive findings.
        self.policy.decide(
            plugin,
            settings,
            today.unwrap_or(Date::from_days(i64::MAX)),
            input,
        )
    }
}

fn parse(state: &mut State, address: i32, len: i32) -> Result<i32, String> {
    match serde_json::from_slice::<Value>(state.bytes(address, len)?) {
        Ok(value) => state.add_value(value),
        // The ABI's "parse error" answer; hosts check for it.
        Err(_) => Ok(0),
    }
}

fn dump(state: &mut State, handle: i32) -> Result<i32, String> {
    let text = serde_json::to_vec(state.value(handle)?).map_err(|e| e.to_string())?;
    state.c_string(&text)
}

#[unsafe(no_mangle)]
pub extern "C" fn builtins() -> i32 {
    with_state(|state| state.add_value(json!({})))
}

#[unsafe(no_mangle)]
pub extern "C" fn entrypoints() -> i32 {
    with_state(|state| {
        let map = ENTRYPOINTS
            .iter()
            .enumerate()
            .map(|(id, name)| (name.to_string(), Value::from(id)))
            .collect();
        state.add_value(Value::Object(map))
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_malloc(size: i32) -> i32 {
    with_state(|state| {
        let size = usize::try_from(size).map_err(|_| format!("opa_malloc({size})"))?;
        let start = state.bump(size)?;
        Ok(state.address(start))
    })
}

/// Window memory is reclaimed by resetting the heap pointer.
#[unsafe(no_mangle)]
pub extern "C" fn opa_free(_address: i32) {}

#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_ptr_get() -> i32 {
    with_state(|state| Ok(state.address(state.top)))
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_heap_ptr_set(address: i32) {
    with_state(|state| state.set_top(address))
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_json_parse(address: i32, len: i32) -> i32 {
    with_state(|state| parse(state, address, len))
}

/// Rego value syntax is a superset of JSON; this module only ever needs the JSON part.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_parse(address: i32, len: i32) -> i32 {
    with_state(|state| parse(state, address, len))
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_json_dump(handle: i32) -> i32 {
    with_state(|state| dump(state, handle))
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_value_dump(handle: i32) -> i32 {
    with_state(|state| dump(state, handle))
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_value_free(handle: i32) {
    with_state(|state| {
        state.objects.retain(|(_, object)| match object {
            Object::Value(value) => &**value as *const Value as usize != handle as usize,
            Object::Ctx(_) => true,
        });
        Ok(())
    })
}

/// Sets `value` at `path` (an array of keys) inside `base`, creating objects on the way.
/// Returns 0 on success, 2 for a non-object on the way, 3 for a bad path.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_add_path(base: i32, path: i32, value: i32) -> i32 {
    with_state(|state| {
        let (Ok(path), Ok(value)) = (state.value(path).cloned(), state.value(value).cloned())
        else {
            return Ok(3);
        };
        let Some(keys) = path.as_array().filter(|keys| !keys.is_empty()) else {
            return Ok(3);
        };
        let Ok(mut target) = state.value_mut(base) else {
            return Ok(3);
        };
        for (i, key) in keys.iter().enumerate() {
            let Some(key) = key.as_str() else {
                return Ok(3);
            };
            let Some(map) = target.as_object_mut() else {
                return Ok(2);
            };
            if i + 1 == keys.len() {
                map.insert(key.to_string(), value);
                return Ok(0);
            }
            target = map.entry(key.to_string()).or_insert_with(|| json!({}));
        }
        Ok(3)
    })
}

/// Removes the value at `path` inside `base`. Same error codes as `opa_value_add_path`.
#[unsafe(no_mangle)]
pub extern "C" fn opa_value_remove_path(base: i32, path: i32) -> i32 {
    with_state(|state| {
        let Ok(path) = state.value(path).cloned() else {
            return Ok(3);
        };
        let Some((last, parents)) = path.as_array().and_then(|keys| keys.split_last()) else {
            return Ok(3);
        };
        let Ok(mut target) = state.value_mut(base) else {
            return Ok(3);
        };
        for key in parents {
            let Some(next) = key.as_str().and_then(|k| target.get_mut(k)) else {
                return Ok(3);
            };
            target = next;
        }
        match (target.as_object_mut(), last.as_str()) {
            (Some(map), Some(key)) => Ok(if map.remove(key).is_some() { 0 } else { 3 }),
            (None, _) => Ok(2),
            (_, None) => Ok(3),
        }
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_new() -> i32 {
    with_state(|state| state.add(Object::Ctx(Box::default())))
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_input(ctx: i32, input: i32) {
    with_state(|state| {
        state.ctx(ctx)?.input = input;
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_data(ctx: i32, data: i32) {
    with_state(|state| {
        state.ctx(ctx)?.data = data;
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_set_entrypoint(ctx: i32, entrypoint: i32) {
    with_state(|state| {
        state.ctx(ctx)?.entrypoint = entrypoint;
        Ok(())
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn opa_eval_ctx_get_result(ctx: i32) -> i32 {
    with_state(|state| Ok(state.ctx(ctx)?.result))
}

/// The context path (ABI 1.0/1.1): evaluates what the context points at.
#[unsafe(no_mangle)]
pub extern "C" fn eval(ctx: i32) -> i32 {
    with_state(|state| {
        let (input, data, entrypoint) = {
            let ctx = state.ctx(ctx)?;
            (ctx.input, ctx.data, ctx.entrypoint)
        };
        let input = (input != 0)
            .then(|| state.value(input).cloned())
            .transpose()?;
        let data = (data != 0)
            .then(|| state.value(data).cloned())
            .transpose()?;
        let result = state.evaluate(entrypoint, data, input)?;
        let result = state.add_value(result)?;
        state.ctx(ctx)?.result = result;
        Ok(0)
    })
}

/// The ABI 1.2 fast path: input as raw JSON at `input`, scratch from `heap_ptr` on;
/// returns the result set as a NUL-terminated JSON string.
#[unsafe(no_mangle)]
pub extern "C" fn opa_eval(
    _reserved: i32,
    entrypoint: i32,
    data: i32,
    input: i32,
    input_len: i32,
    heap_ptr: i32,
    _format: i32,
) -> i32 {
    with_state(|state| {
        state.set_top(heap_ptr)?;
        let input = if input_len > 0 {
            match serde_json::from_slice::<Value>(state.bytes(input, input_len)?) {
                Ok(value) => Some(value),
                Err(e) => {
                    // A malformed request is an answer, not a trap.
                    let decision =
                        Decision::error(vec![format!("input is not valid JSON: {e}")], None);
                    let result = state.shape(entrypoint, decision)?;
                    return state.c_string(result.to_string().as_bytes());
                }
            }
        } else {
            None
        };
        let data = (data != 0)
            .then(|| state.value(data).cloned())
            .transpose()?;
        let result = state.evaluate(entrypoint, data, input)?;
        state.c_string(result.to_string().as_bytes())
    })
}

impl State {
    /// The result set of `decision` for an entry point.
    fn shape(&self, entrypoint: i32, decision: Decision) -> Result<Value, String> {
        let result = match entrypoint {
            0 => Value::Bool(decision.allowed),
            1 => serde_json::to_value(&decision.violations).map_err(|e| e.to_string())?,
            2 => serde_json::to_value(&decision).map_err(|e| e.to_string())?,
            other => return Err(format!("unknown entrypoint id {other}")),
        };
        Ok(json!([{ "result": result }]))
    }
}
