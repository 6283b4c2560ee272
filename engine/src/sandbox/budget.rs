//! Budgets that hold *before* a rule allocates or runs on: Rhai checks sizes after an
//! operation, so a built-in that multiplies its input (`s.replace("a", t)` on a 1 MiB string
//! with a 16 KiB `t` would build 16 GiB) is replaced here by a version that computes the
//! size of its result first; and the operation limit does not bound time (one `regex_match`
//! on a 768 KiB string is one operation), so every evaluation also has a wall-clock
//! deadline, checked every few hundred operations, and can be stopped from outside (Ctrl-C).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rhai::plugin::*;
use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Position};

/// Checked every this many operations: reading the clock costs ~20 ns.
const CHECK_EVERY: u64 = 256;

/// Stops the evaluations of one rule set from outside (Ctrl-C): each ends at its next check
/// with a "stopped" error, and so does every later one. Cheap to clone; all clones share one
/// flag.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Stops running and future evaluations.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why an evaluation was ended early; carried as the termination token.
pub(crate) const DEADLINE_TOKEN: &str = "portcullis:deadline";
const STOP_TOKEN: &str = "portcullis:stopped";

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
type Instant = std::time::Instant;
/// WebAssembly without WASI has no clock: the host's own deadline (epochs, fuel) applies.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
type Instant = ();

thread_local! {
    /// When the evaluation running on this thread must end.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with a deadline of `timeout` from now for the evaluations it starts on this
/// thread (`None`: only the operation limit).
pub(crate) fn with_deadline<T>(timeout: Option<std::time::Duration>, f: impl FnOnce() -> T) -> T {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    let deadline = timeout.map(|t| Instant::now() + t);
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    let deadline: Option<Instant> = {
        let _ = timeout;
        None
    };
    let previous = DEADLINE.with(|d| d.replace(deadline));
    let result = f();
    DEADLINE.with(|d| d.set(previous));
    result
}

/// The engine's progress callback: ends the evaluation when it was stopped or its deadline
/// has passed.
pub(crate) fn on_progress(operations: u64, stop: &StopHandle) -> Option<Dynamic> {
    if !operations.is_multiple_of(CHECK_EVERY) {
        return None;
    }
    if stop.is_stopped() {
        return Some(STOP_TOKEN.into());
    }
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    if let Some(deadline) = DEADLINE.with(Cell::get)
        && Instant::now() >= deadline
    {
        return Some(DEADLINE_TOKEN.into());
    }
    None
}

fn too_large(what: &str) -> Box<EvalAltResult> {
    EvalAltResult::ErrorDataTooLarge(what.to_string(), Position::NONE).into()
}

/// Fails unless a string of `bytes` fits the engine's string limit.
fn check_string(ctx: &NativeCallContext, bytes: usize) -> Result<(), Box<EvalAltResult>> {
    let max = ctx.engine().max_string_size();
    if max > 0 && bytes > max {
        return Err(too_large("Length of string"));
    }
    Ok(())
}

/// Fails unless an array of `items` fits the engine's array limit.
fn check_array(ctx: &NativeCallContext, items: usize) -> Result<(), Box<EvalAltResult>> {
    let max = ctx.engine().max_array_size();
    if max > 0 && items > max {
        return Err(too_large("Size of array"));
    }
    Ok(())
}

/// The size of `text` with every `find` replaced by `replacement`.
fn replaced_len(text: &str, find: &str, replacement_len: usize) -> usize {
    if find.is_empty() {
        // `str::replace` with an empty pattern inserts the replacement between characters.
        return text
            .len()
            .saturating_add(replacement_len.saturating_mul(text.chars().count() + 1));
    }
    let count = text.matches(find).count();
    (text.len() - count * find.len()).saturating_add(count.saturating_mul(replacement_len))
}

/// (array elements, map entries, string bytes) in `values` and everything they hold, as
/// Rhai counts them for its size limits.
fn data_sizes<'a>(values: impl Iterator<Item = &'a Dynamic>) -> (usize, usize, usize) {
    let (mut items, mut entries, mut bytes) = (0usize, 0usize, 0usize);
    let mut pending: Vec<Dynamic> = values.cloned().collect();
    while let Some(value) = pending.pop() {
        if let Some(array) = value.read_lock::<Array>() {
            items += array.len();
            pending.extend(array.iter().cloned());
        } else if let Some(map) = value.read_lock::<rhai::Map>() {
            entries += map.len();
            pending.extend(map.values().cloned());
        } else if let Some(text) = value.read_lock::<ImmutableString>() {
            bytes += text.len();
        }
    }
    (items, entries, bytes)
}

/// Pieces `split`-like functions would make: at most the delimiter count plus one.
fn pieces(text: &str, delimiter: &str) -> usize {
    if delimiter.is_empty() {
        text.chars().count() + 2
    } else {
        text.matches(delimiter).count() + 1
    }
}

/// Same names and parameter types as the Rhai built-ins they replace (so they take their
/// place in the engine's function table), with the size check before the work.
#[export_module]
pub(crate) mod checked_builtins {
    use super::*;

    #[rhai_fn(name = "replace", return_raw)]
    pub fn replace(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        find: &str,
        substitute: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        check_string(&ctx, replaced_len(string, find, substitute.len()))?;
        *string = string.replace(find, substitute).into();
        Ok(())
    }

    #[rhai_fn(name = "replace", return_raw)]
    pub fn replace_string_with_char(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        find: &str,
        substitute: char,
    ) -> Result<(), Box<EvalAltResult>> {
        check_string(&ctx, replaced_len(string, find, substitute.len_utf8()))?;
        *string = string
            .replace(find, substitute.encode_utf8(&mut [0; 4]))
            .into();
        Ok(())
    }

    #[rhai_fn(name = "replace", return_raw)]
    pub fn replace_char_with_string(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        find: char,
        substitute: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        let find = find.encode_utf8(&mut [0; 4]).to_string();
        check_string(&ctx, replaced_len(string, &find, substitute.len()))?;
        *string = string.replace(&find, substitute).into();
        Ok(())
    }

    #[rhai_fn(name = "replace", return_raw)]
    pub fn replace_char(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        find: char,
        substitute: char,
    ) -> Result<(), Box<EvalAltResult>> {
        let find = find.encode_utf8(&mut [0; 4]).to_string();
        check_string(&ctx, replaced_len(string, &find, substitute.len_utf8()))?;
        *string = string
            .replace(&find, substitute.encode_utf8(&mut [0; 4]))
            .into();
        Ok(())
    }

    #[rhai_fn(name = "pad", return_raw)]
    pub fn pad(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        len: rhai::INT,
        character: char,
    ) -> Result<(), Box<EvalAltResult>> {
        let Ok(len) = usize::try_from(len) else {
            return Ok(());
        };
        let have = string.chars().count();
        if len <= have {
            return Ok(());
        }
        let added = (len - have).saturating_mul(character.len_utf8());
        check_string(&ctx, string.len().saturating_add(added))?;
        let text = string.make_mut();
        text.extend(std::iter::repeat_n(character, len - have));
        Ok(())
    }

    #[rhai_fn(name = "pad", return_raw)]
    pub fn pad_with_string(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        len: rhai::INT,
        padding: &str,
    ) -> Result<(), Box<EvalAltResult>> {
        let Ok(len) = usize::try_from(len) else {
            return Ok(());
        };
        let have = string.chars().count();
        if len <= have || padding.is_empty() {
            return Ok(());
        }
        // Whole copies of `padding` until at least `len` characters, then cut to `len`:
        // never more than `len` characters of at most 4 bytes.
        check_string(
            &ctx,
            string.len().saturating_add((len - have).saturating_mul(4)),
        )?;
        let text = string.make_mut();
        text.extend(padding.chars().cycle().take(len - have));
        Ok(())
    }

    /// Rhai's own `pad` multiplies the item's size by the padding without checking for
    /// overflow: `a.pad(i64::MAX, a)` panicked (found by tests/fuzz.rs).
    #[rhai_fn(name = "pad", return_raw)]
    pub fn pad_array(
        ctx: NativeCallContext,
        array: &mut Array,
        len: rhai::INT,
        item: Dynamic,
    ) -> Result<(), Box<EvalAltResult>> {
        let Ok(len) = usize::try_from(len) else {
            return Ok(());
        };
        if len <= array.len() {
            return Ok(());
        }
        let pad = len - array.len();
        let have = data_sizes(array.iter());
        let each = data_sizes(std::iter::once(&item));
        let engine = ctx.engine();
        let over = |have: usize, each: usize, max: usize| {
            max > 0
                && each
                    .checked_mul(pad)
                    .and_then(|added| added.checked_add(have))
                    .is_none_or(|total| total > max)
        };
        // The padding items count as array elements themselves.
        if over(have.0 + pad, each.0, engine.max_array_size())
            || over(have.1, each.1, engine.max_map_size())
            || over(have.2, each.2, engine.max_string_size())
        {
            return Err(too_large("Size of array"));
        }
        array.resize(len, item);
        Ok(())
    }

    // The splits below keep Rhai's own results (one segment for an empty string or an
    // absent delimiter) and count segments first.

    #[rhai_fn(name = "split", pure, return_raw)]
    pub fn split(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: &str,
    ) -> Result<Array, Box<EvalAltResult>> {
        if string.is_empty() || (!delimiter.is_empty() && !string.contains(delimiter)) {
            return Ok(vec![string.clone().into()]);
        }
        check_array(&ctx, pieces(string, delimiter))?;
        Ok(string.split(delimiter).map(Into::into).collect())
    }

    #[rhai_fn(name = "split", pure, return_raw)]
    pub fn splitn(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: &str,
        segments: rhai::INT,
    ) -> Result<Array, Box<EvalAltResult>> {
        if segments <= 1
            || string.is_empty()
            || (!delimiter.is_empty() && !string.contains(delimiter))
        {
            return Ok(vec![string.clone().into()]);
        }
        let segments = usize::try_from(segments).unwrap_or(usize::MAX);
        check_array(&ctx, pieces(string, delimiter).min(segments))?;
        Ok(string.splitn(segments, delimiter).map(Into::into).collect())
    }

    #[rhai_fn(name = "split", pure, return_raw)]
    pub fn split_char(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: char,
    ) -> Result<Array, Box<EvalAltResult>> {
        if string.is_empty() {
            return Ok(vec![string.clone().into()]);
        }
        check_array(&ctx, pieces(string, delimiter.encode_utf8(&mut [0; 4])))?;
        Ok(string.split(delimiter).map(Into::into).collect())
    }

    #[rhai_fn(name = "split", pure, return_raw)]
    pub fn splitn_char(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: char,
        segments: rhai::INT,
    ) -> Result<Array, Box<EvalAltResult>> {
        if segments <= 1 || string.is_empty() {
            return Ok(vec![string.clone().into()]);
        }
        let segments = usize::try_from(segments).unwrap_or(usize::MAX);
        check_array(
            &ctx,
            pieces(string, delimiter.encode_utf8(&mut [0; 4])).min(segments),
        )?;
        Ok(string.splitn(segments, delimiter).map(Into::into).collect())
    }

    #[rhai_fn(name = "split_rev", pure, return_raw)]
    pub fn rsplit(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: &str,
    ) -> Result<Array, Box<EvalAltResult>> {
        if string.is_empty() || (!delimiter.is_empty() && !string.contains(delimiter)) {
            return Ok(vec![string.clone().into()]);
        }
        check_array(&ctx, pieces(string, delimiter))?;
        Ok(string.rsplit(delimiter).map(Into::into).collect())
    }

    #[rhai_fn(name = "split_rev", pure, return_raw)]
    pub fn rsplitn(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: &str,
        segments: rhai::INT,
    ) -> Result<Array, Box<EvalAltResult>> {
        if segments <= 1
            || string.is_empty()
            || (!delimiter.is_empty() && !string.contains(delimiter))
        {
            return Ok(vec![string.clone().into()]);
        }
        let segments = usize::try_from(segments).unwrap_or(usize::MAX);
        check_array(&ctx, pieces(string, delimiter).min(segments))?;
        Ok(string
            .rsplitn(segments, delimiter)
            .map(Into::into)
            .collect())
    }

    #[rhai_fn(name = "split_rev", pure, return_raw)]
    pub fn rsplit_char(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: char,
    ) -> Result<Array, Box<EvalAltResult>> {
        if string.is_empty() {
            return Ok(vec![string.clone().into()]);
        }
        check_array(&ctx, pieces(string, delimiter.encode_utf8(&mut [0; 4])))?;
        Ok(string.rsplit(delimiter).map(Into::into).collect())
    }

    #[rhai_fn(name = "split_rev", pure, return_raw)]
    pub fn rsplitn_char(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
        delimiter: char,
        segments: rhai::INT,
    ) -> Result<Array, Box<EvalAltResult>> {
        if segments <= 1 || string.is_empty() {
            return Ok(vec![string.clone().into()]);
        }
        let segments = usize::try_from(segments).unwrap_or(usize::MAX);
        check_array(
            &ctx,
            pieces(string, delimiter.encode_utf8(&mut [0; 4])).min(segments),
        )?;
        Ok(string
            .rsplitn(segments, delimiter)
            .map(Into::into)
            .collect())
    }

    #[rhai_fn(name = "split", pure, return_raw)]
    pub fn split_whitespace(
        ctx: NativeCallContext,
        string: &mut ImmutableString,
    ) -> Result<Array, Box<EvalAltResult>> {
        if string.is_empty() {
            return Ok(vec![string.clone().into()]);
        }
        check_array(&ctx, string.split_whitespace().count())?;
        Ok(string.split_whitespace().map(Into::into).collect())
    }

    #[rhai_fn(name = "to_chars", return_raw)]
    pub fn to_chars(ctx: NativeCallContext, string: &str) -> Result<Array, Box<EvalAltResult>> {
        check_array(&ctx, string.chars().count())?;
        Ok(string.chars().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_sizes_are_computed_exactly() {
        for (text, find, with) in [
            ("banana", "a", "xyz"),
            ("banana", "an", ""),
            ("banana", "", "-"),
            ("", "", "ab"),
            ("héllo", "é", "e"),
        ] {
            assert_eq!(
                replaced_len(text, find, with.len()),
                text.replace(find, with).len(),
                "{text:?} {find:?} {with:?}"
            );
        }
        for (text, delimiter) in [("a,b,,c", ","), ("", ","), ("abc", ""), ("a::b", "::")] {
            assert!(pieces(text, delimiter) >= text.split(delimiter).count());
        }
    }
}
