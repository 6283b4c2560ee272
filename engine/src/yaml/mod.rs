//! YAML read the way Kubernetes reads it.
//!
//! kubectl and the API server turn YAML into JSON with `sigs.k8s.io/yaml`, which decodes with
//! go-yaml v2. A manifest read any other way can show Portcullis one pod and the cluster
//! another: a YAML 1.2 reader ignores merge keys, so `spec: {<<: {initContainers: [...]}}`
//! hides a privileged init container that kubectl creates. This module therefore composes the
//! parser's events itself, with go-yaml v2's rules (checked against `kubectl label --local -o
//! json`, see the tests):
//!
//! - plain scalars follow YAML 1.1: `yes`/`no`/`on`/`off`/`y`/`n` (any common case) are
//!   booleans, `0777` is octal, `0x1F`, `0b101` and `1_000` are integers, `~` and an empty
//!   value are null; timestamps stay strings; quoted and block scalars are always strings;
//! - merge keys (`<<`, plain and untagged, or tagged `!!merge`) are applied *in place*: keys
//!   after the merge override merged ones and merged ones override keys before it; in a list
//!   of merged maps the earlier map wins;
//! - a repeated key replaces the earlier value;
//! - keys become JSON strings (`1` -> `"1"`, `true` -> `"true"`); null, list and map keys are
//!   errors, as are `.inf` and `.nan` values (JSON cannot hold them).
//!
//! Nesting depth and alias expansion are bounded, so hostile documents (alias bombs, 10,000
//! nested lists) are errors rather than exhausted memory or stack.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use serde_json::{Map, Number, Value};

/// Collections nested deeper than this are rejected (serde_yaml's limit, kept for the same
/// inputs to fail the same way).
pub(crate) const MAX_DEPTH: usize = 128;
/// Nodes a document may expand to through aliases, beyond its own text. An alias bomb of ten
/// levels of ten aliases would otherwise build 10^10 nodes.
const MAX_ALIAS_NODES: usize = 1_000_000;

/// Why a YAML document could not be read, and where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl YamlError {
    fn at(message: impl Into<String>, span: &Span) -> YamlError {
        YamlError {
            message: message.into(),
            line: Some(span.start.line()),
            column: Some(span.start.col() + 1),
        }
    }
}

/// One document read into JSON, with the line where each element of its top-level `items`
/// list starts (for `List` kinds, whose items are resources of their own).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    pub value: Value,
    /// 1-based, relative to the text given; empty unless the document is a map with an
    /// `items` list.
    pub item_lines: Vec<usize>,
}

/// Reads the first document of `text` (the caller splits streams at `---` first, as
/// kubectl does). An empty document is `null`.
pub(crate) fn parse_document(text: &str) -> Result<Document, YamlError> {
    let mut composer = Composer {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        expanded: 0,
        item_lines: Vec::new(),
    };
    composer.document()
}

/// A value being composed, with what the merge rules need to know about it.
struct Node {
    value: Value,
    /// A plain, untagged `<<` (or a `!!merge` tagged scalar): a merge key when used as a key.
    is_merge_key: bool,
    /// Keys keep what the scalar was before conversion to a JSON string.
    key: Option<KeyText>,
}

/// How a scalar reads as a mapping key, the way `sigs.k8s.io/yaml` prints keys.
enum KeyText {
    Text(String),
    Invalid(&'static str),
}

struct Composer<'input> {
    parser: Parser<'input, saphyr_parser::StrInput<'input>>,
    anchors: HashMap<usize, Value>,
    /// Nodes copied through aliases so far.
    expanded: usize,
    item_lines: Vec<usize>,
}

/// An open collection on the composer's stack.
enum Frame {
    Sequence {
        items: Vec<Value>,
        anchor: usize,
        /// Whether this is the top-level `items` list, whose item lines are recorded.
        record_lines: bool,
    },
    Mapping {
        map: Map<String, Value>,
        anchor: usize,
        /// The key read, waiting for its value.
        pending: Option<PendingKey>,
        top_level: bool,
    },
}

enum PendingKey {
    Key(String),
    Merge(Span),
    Invalid(&'static str, Span),
}

impl<'input> Composer<'input> {
    fn next(&mut self) -> Result<(Event<'input>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(YamlError {
                message: e.info().to_string(),
                line: Some(e.marker().line()),
                column: Some(e.marker().col() + 1),
            }),
            None => Err(YamlError {
                message: "unexpected end of the stream".into(),
                line: None,
                column: None,
            }),
        }
    }

    fn document(&mut self) -> Result<Document, YamlError> {
        // StreamStart, then DocumentStart or StreamEnd.
        loop {
            let (event, _) = self.next()?;
            match event {
                Event::StreamStart | Event::Nothing => continue,
                Event::DocumentStart(_) => break,
                Event::StreamEnd => {
                    return Ok(Document {
                        value: Value::Null,
                        item_lines: Vec::new(),
                    });
                }
                _ => {
                    return Err(YamlError {
                        message: "expected a document".into(),
                        line: None,
                        column: None,
                    });
                }
            }
        }
        let value = self.compose()?;
        Ok(Document {
            value,
            item_lines: std::mem::take(&mut self.item_lines),
        })
    }

    /// Composes one node (the document's root) without recursion: nesting is an explicit
    /// stack, so depth is a counted limit rather than the thread's stack size.
    fn compose(&mut self) -> Result<Value, YamlError> {
        let mut stack: Vec<Frame> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            let starts_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::Alias(_)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
            );
            if starts_node
                && let Some(Frame::Sequence {
                    record_lines: true, ..
                }) = stack.last()
            {
                // Every item counts, scalars too, so `item_lines[i]` is the line of `items[i]`.
                self.item_lines.push(span.start.line());
            }
            let completed: Node = match event {
                Event::Scalar(text, style, anchor, tag) => {
                    let node = scalar(text, style, tag.as_deref(), &span)?;
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.value.clone());
                    }
                    node
                }
                Event::Alias(anchor) => {
                    let Some(value) = self.anchors.get(&anchor) else {
                        return Err(YamlError::at("alias to an unknown anchor", &span));
                    };
                    self.expanded += node_count(value);
                    if self.expanded > MAX_ALIAS_NODES {
                        return Err(YamlError::at(
                            format!(
                                "aliases expand to more than {MAX_ALIAS_NODES} nodes (repetition limit exceeded)"
                            ),
                            &span,
                        ));
                    }
                    let value = value.clone();
                    Node {
                        key: Some(key_text(&value)),
                        value,
                        is_merge_key: false,
                    }
                }
                Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(YamlError::at(
                            format!(
                                "nesting deeper than {MAX_DEPTH} levels (recursion limit exceeded)"
                            ),
                            &span,
                        ));
                    }
                    let record_lines = matches!(
                        stack.as_slice(),
                        [Frame::Mapping { top_level: true, pending: Some(PendingKey::Key(k)), .. }] if k == "items"
                    );
                    stack.push(if matches!(event, Event::SequenceStart(..)) {
                        Frame::Sequence {
                            items: Vec::new(),
                            anchor,
                            record_lines,
                        }
                    } else {
                        Frame::Mapping {
                            map: Map::new(),
                            anchor,
                            pending: None,
                            top_level: stack.is_empty(),
                        }
                    });
                    continue;
                }
                Event::SequenceEnd => match stack.pop() {
                    Some(Frame::Sequence { items, anchor, .. }) => {
                        let value = Value::Array(items);
                        if anchor > 0 {
                            self.anchors.insert(anchor, value.clone());
                        }
                        Node {
                            value,
                            is_merge_key: false,
                            key: Some(KeyText::Invalid("a list")),
                        }
                    }
                    _ => return Err(YamlError::at("unbalanced list", &span)),
                },
                Event::MappingEnd => match stack.pop() {
                    Some(Frame::Mapping { map, anchor, .. }) => {
                        let value = Value::Object(map);
                        if anchor > 0 {
                            self.anchors.insert(anchor, value.clone());
                        }
                        Node {
                            value,
                            is_merge_key: false,
                            key: Some(KeyText::Invalid("a map")),
                        }
                    }
                    _ => return Err(YamlError::at("unbalanced map", &span)),
                },
                Event::DocumentEnd | Event::StreamEnd | Event::DocumentStart(_) => {
                    return Err(YamlError::at("unexpected end of the document", &span));
                }
                Event::StreamStart | Event::Nothing => continue,
            };
            // Hand the completed node to its parent.
            match stack.last_mut() {
                None => return Ok(completed.value),
                Some(Frame::Sequence { items, .. }) => {
                    if items.len() == items.capacity() {
                        items.reserve(items.len().max(4));
                    }
                    items.push(completed.value)
                }
                Some(Frame::Mapping { map, pending, .. }) => match pending.take() {
                    None => {
                        *pending = Some(if completed.is_merge_key {
                            PendingKey::Merge(span)
                        } else {
                            match completed.key {
                                Some(KeyText::Text(key)) => PendingKey::Key(key),
                                Some(KeyText::Invalid(what)) => PendingKey::Invalid(what, span),
                                None => PendingKey::Key(String::new()),
                            }
                        })
                    }
                    Some(PendingKey::Key(key)) => {
                        map.insert(key, completed.value);
                    }
                    Some(PendingKey::Merge(at)) => merge_into(map, completed.value, &at)?,
                    Some(PendingKey::Invalid(what, at)) => {
                        return Err(YamlError::at(
                            format!("invalid map key: {what} cannot be a key"),
                            &at,
                        ));
                    }
                },
            }
        }
    }
}

/// Applies a merge key's value to `map`, as go-yaml v2 does: keys of the merged maps replace
/// the ones already there; in a list, earlier maps win.
fn merge_into(map: &mut Map<String, Value>, value: Value, at: &Span) -> Result<(), YamlError> {
    const WANT_MAP: &str = "map merge requires a map or a list of maps as the value of `<<`";
    match value {
        Value::Object(merged) => {
            for (key, value) in merged {
                map.insert(key, value);
            }
            Ok(())
        }
        Value::Array(list) => {
            if !list.iter().all(Value::is_object) {
                return Err(YamlError::at(WANT_MAP, at));
            }
            for merged in list.into_iter().rev() {
                if let Value::Object(merged) = merged {
                    for (key, value) in merged {
                        map.insert(key, value);
                    }
                }
            }
            Ok(())
        }
        _ => Err(YamlError::at(WANT_MAP, at)),
    }
}

/// Nodes in `value`, counted as aliases copy them.
fn node_count(value: &Value) -> usize {
    let mut count = 0;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        count += 1;
        match value {
            Value::Array(items) => pending.extend(items),
            Value::Object(map) => pending.extend(map.values()),
            _ => {}
        }
    }
    count
}

fn key_text(value: &Value) -> KeyText {
    match value {
        Value::String(s) => KeyText::Text(s.clone()),
        Value::Bool(b) => KeyText::Text(b.to_string()),
        Value::Number(n) => KeyText::Text(n.to_string()),
        Value::Null => KeyText::Invalid("null"),
        Value::Array(_) => KeyText::Invalid("a list"),
        Value::Object(_) => KeyText::Invalid("a map"),
    }
}

const CORE_SCHEMA: &str = "tag:yaml.org,2002:";

/// Resolves a scalar with go-yaml v2's rules.
fn scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: &Span,
) -> Result<Node, YamlError> {
    let core_tag = tag
        .filter(|t| t.handle == CORE_SCHEMA || t.handle == "!!")
        .map(|t| t.suffix.as_str());
    let plain = style == ScalarStyle::Plain;
    let value = match core_tag {
        Some("str") => Value::String(text.into_owned()),
        Some("merge") if text == "<<" => {
            return Ok(Node {
                value: Value::String(text.into_owned()),
                is_merge_key: true,
                key: None,
            });
        }
        Some("null") => match resolve_plain(&text) {
            Resolved::Null => Value::Null,
            _ => return Err(tag_mismatch("!!null", &text, span)),
        },
        Some("bool") => match resolve_plain(&text) {
            Resolved::Bool(b) => Value::Bool(b),
            _ => return Err(tag_mismatch("!!bool", &text, span)),
        },
        Some("int") => match resolve_plain(&text) {
            Resolved::Int(n) => Value::Number(n),
            _ => return Err(tag_mismatch("!!int", &text, span)),
        },
        Some("float") => match resolve_plain(&text) {
            Resolved::Int(n) => Value::Number(n),
            Resolved::Float(f) => float_value(f, span)?,
            _ => return Err(tag_mismatch("!!float", &text, span)),
        },
        Some("binary") => {
            use base64::Engine as _;
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| YamlError::at(format!("invalid `!!binary` value: {e}"), span))?;
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        }
        // Other tags (`!foo`, `!!timestamp`, `!!set`…) do not change how go-yaml reads the
        // text into an untyped value.
        _ if plain => match resolve_plain(&text) {
            Resolved::Null => Value::Null,
            Resolved::Bool(b) => Value::Bool(b),
            Resolved::Int(n) => Value::Number(n),
            Resolved::Float(f) => float_value(f, span)?,
            Resolved::Merge => {
                // A tag other than `!!merge` on `<<` makes it an ordinary string.
                if tag.is_none() {
                    return Ok(Node {
                        value: Value::String(text.into_owned()),
                        is_merge_key: true,
                        key: None,
                    });
                }
                Value::String(text.into_owned())
            }
            Resolved::Str => Value::String(text.into_owned()),
        },
        _ => Value::String(text.into_owned()),
    };
    let key = Some(key_text(&value));
    Ok(Node {
        value,
        is_merge_key: false,
        key,
    })
}

fn tag_mismatch(tag: &str, text: &str, span: &Span) -> YamlError {
    let shown: String = text.chars().take(40).collect();
    YamlError::at(format!("cannot read `{shown}` as {tag}"), span)
}

/// JSON has no infinities or NaN; go-yaml reads whole floats as numbers that JSON prints
/// without a fraction, which the API server then reads as integers.
fn float_value(f: f64, span: &Span) -> Result<Value, YamlError> {
    if !f.is_finite() {
        return Err(YamlError::at(
            format!("unsupported value `{f}`: JSON cannot hold infinities or NaN"),
            span,
        ));
    }
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Ok(Value::Number(Number::from(f as i64)));
    }
    Ok(Number::from_f64(f).map_or(Value::Null, Value::Number))
}

enum Resolved {
    Null,
    Bool(bool),
    Int(Number),
    Float(f64),
    Merge,
    Str,
}

/// go-yaml v2's resolution of a plain scalar (its `resolve` function, YAML 1.1 types).
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Resolved::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Resolved::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        "<<" => return Resolved::Merge,
        _ => {}
    }
    if !text.starts_with([
        '+', '-', '.', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
    ]) {
        return Resolved::Str;
    }
    let plain: Cow<'_, str> = if text.contains('_') {
        Cow::Owned(text.replace('_', ""))
    } else {
        Cow::Borrowed(text)
    };
    if let Some(n) = parse_go_int(&plain) {
        return Resolved::Int(n);
    }
    if is_yaml_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
        && f.is_finite()
    {
        return Resolved::Float(f);
    }
    Resolved::Str
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`: an optional sign, then
/// `0x`, `0o`, `0b` or a leading `0` (octal) for the base.
fn parse_go_int(text: &str) -> Option<Number> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            return Some(Number::from((magnitude as i64).wrapping_neg()));
        }
        return None;
    }
    if magnitude <= i64::MAX as u64 {
        Some(Number::from(magnitude as i64))
    } else if text.starts_with('+') {
        // ParseUint takes no sign.
        None
    } else {
        Some(Number::from(magnitude))
    }
}

/// go-yaml v2's float syntax: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml_float(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = 0;
    if matches!(bytes.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod kubectl;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> Value {
        parse_document(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e:?}"))
            .value
    }

    fn error(text: &str) -> YamlError {
        parse_document(text).expect_err(text)
    }

    /// Expected values are what `kubectl label --local -f FILE x=y -o json` printed for the
    /// same text (kubectl v1.32.4).
    #[test]
    fn scalars_follow_yaml_1_1_as_kubectl_reads_them() {
        let value = read(
            "a: yes\nb: \"yes\"\nc: 0777\nd: 0o17\ne: 0x1F\nf: 0b101\ng: 1_000\nh: 2001-12-14\n\
             i: ~\nj:\nn: 1e3\no: 1.5e+3\nr: !!str 12\ns: !foo bar\nt: !!binary aGVsbG8=\n\
             u: +12\nv: 1:20\nw: 0.\nx: .5\ny: -0\nz: NULL\naa: Off\nab: !!int \"12\"\n\
             ad: 012_3\nae: 0b1_0\naf: 3.\nag: !!float 3\nah: 1.0\naj: 1e21\nak: 0.1e-7\n\
             al: 'on'\nam: |\n  text\n",
        );
        let expected = json!({
            "a": true, "b": "yes", "c": 511, "d": 15, "e": 31, "f": 5, "g": 1000,
            "h": "2001-12-14", "i": null, "j": null, "false": 1000, "o": 1500, "r": "12",
            "s": "bar", "t": "hello", "u": 12, "v": "1:20", "w": 0, "x": 0.5, "true": 0,
            "z": null, "aa": false, "ab": 12, "ad": 83, "ae": 2, "af": 3, "ag": 3, "ah": 1,
            "aj": 1e21, "ak": 1e-8, "al": "on", "am": "text\n"
        });
        assert_eq!(value, expected);
    }

    #[test]
    fn merge_keys_apply_in_place() {
        // kubectl: the merged init container exists.
        let v = read("spec:\n  <<: {initContainers: [{name: miner}]}\n  containers: [{name: a}]\n");
        assert_eq!(v["spec"]["initContainers"][0]["name"], "miner");
        // A merge after a key replaces it (go-yaml v2), as kubectl reads it.
        let v = read("spec:\n  containers: [{name: good}]\n  <<: {containers: [{name: evil}]}\n");
        assert_eq!(v["spec"]["containers"][0]["name"], "evil");
        // A key after the merge wins.
        let v = read("spec:\n  <<: {containers: [{name: evil}]}\n  containers: [{name: good}]\n");
        assert_eq!(v["spec"]["containers"][0]["name"], "good");
        // Aliases, nested merges, and lists of maps where the earlier map wins.
        let v = read(
            "base: &b {x: 1, z: 1}\nmid: &m {<<: *b, y: 2}\nother: &o {x: 9, w: 9}\n\
             out: {<<: [*m, *o]}\n",
        );
        assert_eq!(v["out"], json!({"x": 1, "z": 1, "true": 2, "w": 9}));
        // A quoted `<<` is an ordinary key; so is a `<<` with another tag.
        let v = read("spec:\n  \"<<\": {a: 1}\n  b: !foo <<\n");
        assert_eq!(v["spec"], json!({"<<": {"a": 1}, "b": "<<"}));
        // `!!merge` makes a merge key explicit.
        let v = read("spec:\n  !!merge <<: {a: 1}\n");
        assert_eq!(v["spec"], json!({"a": 1}));
    }

    #[test]
    fn later_keys_replace_earlier_ones() {
        let v = read("containers: [{name: good}]\ncontainers: [{name: evil}]\n");
        assert_eq!(v["containers"][0]["name"], "evil");
    }

    #[test]
    fn keys_become_strings() {
        let v = read("1: a\n1.5: b\ntrue: c\n0x10: e\n");
        assert_eq!(v, json!({"1": "a", "1.5": "b", "true": "c", "16": "e"}));
        assert!(error("~: d\n").message.contains("null cannot be a key"));
        assert!(
            error("[1, 2]: f\n")
                .message
                .contains("a list cannot be a key")
        );
        // An unrendered Helm template is a map used as a key.
        let e = error("image: {{ .Values.image }}\n");
        assert!(e.message.contains("a map cannot be a key"), "{e:?}");
    }

    #[test]
    fn bad_merges_and_values_are_errors() {
        let e = error("a:\n  <<: 5\n");
        assert!(e.message.contains("map merge requires"), "{e:?}");
        assert_eq!((e.line, e.column), (Some(2), Some(3)));
        assert!(
            error("a: [1, <<]\nb: {<<: [1]}\n")
                .message
                .contains("map merge")
        );
        assert!(error("a: .inf\n").message.contains("infinities"));
        assert!(error("a: !!int abc\n").message.contains("!!int"));
    }

    #[test]
    fn hostile_documents_are_bounded() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(error(&bomb).message.contains("repetition limit"));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(error(&deep).message.contains("recursion limit"));
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        read(&fine);
    }

    #[test]
    fn list_items_keep_their_lines() {
        let doc = parse_document(
            "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n\n- kind: Pod\n  metadata: {name: b}\n",
        )
        .unwrap();
        assert_eq!(doc.item_lines, vec![4, 7]);
        assert_eq!(doc.value["items"][1]["metadata"]["name"], "b");
        // Scalars, aliases, flow maps and items whose first key is on the next line all
        // keep their place; nested lists record nothing.
        let doc = parse_document(
            "kind: List\nitems:\n- 5\n- &p {kind: Pod}\n- *p\n-\n  kind: Pod\n- kind: List\n  items: [{kind: Pod}]\n",
        )
        .unwrap();
        assert_eq!(doc.item_lines, vec![3, 4, 5, 7, 8]);
    }

    #[test]
    fn go_integers() {
        let n = |s: &str| parse_go_int(s).map(|n| n.to_string());
        assert_eq!(n("0"), Some("0".into()));
        assert_eq!(n("-0"), Some("0".into()));
        assert_eq!(n("09"), None);
        assert_eq!(
            n("-9223372036854775808"),
            Some("-9223372036854775808".into())
        );
        assert_eq!(
            n("18446744073709551615"),
            Some("18446744073709551615".into())
        );
        assert_eq!(n("18446744073709551616"), None);
        assert!(is_yaml_float("09") && is_yaml_float("-.5e3") && !is_yaml_float("1e"));
    }
}
