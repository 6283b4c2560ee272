//! `==` and `!=` between values of different types raise an error instead of being
//! `false`: `c.security.run_as_user == "0"` is a bug in the rule (the user is a number),
//! not an answer. Numbers compare across INT and FLOAT; `()` compares with anything, as
//! rules test absence with `x == ()`.

use rhai::{Array, Dynamic, EvalAltResult, FLOAT, INT, ImmutableString, Map, Module};

fn describe(value: &Dynamic) -> String {
    let shown = value.to_string();
    let shown: String = shown.chars().take(40).collect();
    match value.type_name() {
        "string" => format!("the string \"{shown}\""),
        "i64" | "f64" => format!("the number {shown}"),
        "bool" => format!("the bool {shown}"),
        "char" => format!("the char '{shown}'"),
        name if name.contains("Array") || name == "array" => "an array".into(),
        name if name.contains("Map") || name == "map" => "a map".into(),
        name => format!("a {name}"),
    }
}

fn mismatch(op: &str, a: Dynamic, b: Dynamic) -> Box<EvalAltResult> {
    format!(
        "`{op}` between {} and {}: values of different types are never equal; convert one side first (`x.to_string()`, `parse_int(s)`, `parse_float(s)`)",
        describe(&a),
        describe(&b)
    )
    .into()
}

macro_rules! mixed {
    ($module:ident; $($a:ty, $b:ty);* $(;)?) => {
        $(
            $module.set_native_fn("==", |a: $a, b: $b| -> Result<bool, Box<EvalAltResult>> {
                Err(mismatch("==", Dynamic::from(a), Dynamic::from(b)))
            });
            $module.set_native_fn("!=", |a: $a, b: $b| -> Result<bool, Box<EvalAltResult>> {
                Err(mismatch("!=", Dynamic::from(a), Dynamic::from(b)))
            });
            $module.set_native_fn("==", |b: $b, a: $a| -> Result<bool, Box<EvalAltResult>> {
                Err(mismatch("==", Dynamic::from(b), Dynamic::from(a)))
            });
            $module.set_native_fn("!=", |b: $b, a: $a| -> Result<bool, Box<EvalAltResult>> {
                Err(mismatch("!=", Dynamic::from(b), Dynamic::from(a)))
            });
        )*
    };
}

/// The raising `==`/`!=` for every pair of different value types (both orders).
pub(crate) fn register(module: &mut Module) {
    mixed!(module;
        INT, ImmutableString; INT, bool; INT, char; INT, Array; INT, Map;
        FLOAT, ImmutableString; FLOAT, bool; FLOAT, char; FLOAT, Array; FLOAT, Map;
        ImmutableString, bool; ImmutableString, Array; ImmutableString, Map;
        bool, char; bool, Array; bool, Map;
        char, Array; char, Map;
        Array, Map;
    );
}
