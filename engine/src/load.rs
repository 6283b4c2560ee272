//! Loading: source text -> Kubernetes objects, each with its document index and line.
//!
//! YAML streams are split into documents before parsing so that a syntax error in one
//! document never hides the others. JSON input (a `.json` file, or text starting with `{`
//! or `[`) may hold several concatenated values. `List` kinds and admission envelopes
//! (AdmissionReview, bare AdmissionRequest) are unwrapped here, so later stages only see
//! plain objects.

use serde_json::{Map, Value};

use crate::diagnostic::Diagnostic;

/// What the API server sends in `request.operation`.
const OPERATIONS: [&str; 4] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];

/// Kubernetes stores objects of at most 1.5 MiB; twice that leaves room for YAML overhead.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 3 * 1024 * 1024;
/// Envelopes (`List` in `List`) nested deeper than this are rejected.
const MAX_ENVELOPE_DEPTH: usize = 8;

/// One object to evaluate or skip, with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct LoadedObject {
    /// 0-based index of the document in its source (documents with content only).
    pub document: usize,
    /// 1-based line where the document's content starts.
    pub line: usize,
    pub value: Value,
    /// Set when the object came out of an admission request.
    pub admission: Option<AdmissionContext>,
}

/// What the admission request says about the object, used when the object omits it.
#[derive(Debug, Clone, Default)]
pub(crate) struct AdmissionContext {
    pub namespace: Option<String>,
}

/// What loading one source produced, in source order.
#[derive(Debug)]
pub(crate) enum Loaded {
    Object(LoadedObject),
    /// A document that holds nothing to evaluate (no `kind`, a DELETE request, …).
    Skipped,
    Error(Diagnostic),
}

/// A document of a YAML stream, before parsing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawDocument<'a> {
    pub index: usize,
    /// 1-based line of the first line of `text` in the source.
    pub first_line: usize,
    /// 1-based line of the first line with content (not blank, not a comment).
    pub content_line: usize,
    pub text: &'a str,
}

/// Splits a YAML stream at `---` and `...` lines, dropping documents without content.
pub(crate) fn split_yaml_documents<'a>(text: &'a str) -> Vec<RawDocument<'a>> {
    let mut documents = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut content_line: Option<usize> = None;
    let mut offset = 0usize;

    let push = |documents: &mut Vec<RawDocument<'a>>,
                range: std::ops::Range<usize>,
                first_line: usize,
                content_line: Option<usize>| {
        if let Some(content_line) = content_line {
            documents.push(RawDocument {
                index: documents.len(),
                first_line,
                content_line,
                text: &text[range],
            });
        }
    };

    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let is_end = bare == "..." || bare.starts_with("... ");
        if is_start || is_end {
            push(
                &mut documents,
                start..offset,
                start_line,
                content_line.take(),
            );
            // `--- key: value` keeps content on the marker line itself.
            let inline =
                is_start && !bare[3..].trim().is_empty() && !bare[3..].trim().starts_with('#');
            if inline {
                start = offset + 4;
                start_line = line_no;
                content_line = Some(line_no);
            } else {
                start = offset + line.len();
                start_line = line_no + 1;
            }
        } else if content_line.is_none() {
            let trimmed = bare.trim_start();
            if !trimmed.is_empty() && !trimmed.starts_with('#') && !trimmed.starts_with('%') {
                content_line = Some(line_no);
            }
        }
        offset += line.len();
    }
    push(&mut documents, start..text.len(), start_line, content_line);
    documents
}

/// Whether a source should be read as JSON: by its name, else by its first character.
pub(crate) fn looks_like_json(name: &str, text: &str) -> bool {
    if name.ends_with(".json") {
        return true;
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return false;
    }
    matches!(
        text.trim_start().as_bytes().first(),
        Some(b'{') | Some(b'[')
    )
}

/// Drops a UTF-8 byte order mark; editors on Windows write one, and the YAML parser would
/// read it as content.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Loads every object of one source. `file` names the source in errors.
#[cfg(test)]
pub(crate) fn load_source(file: &str, text: &str) -> Vec<Loaded> {
    let text = strip_bom(text);
    let mut out = Vec::new();
    if looks_like_json(file, text) {
        load_json_stream(file, text, &mut out);
    } else {
        for doc in split_yaml_documents(text) {
            out.extend(load_yaml_document(file, &doc));
        }
    }
    out
}

/// Unwraps an already parsed value (an object, `List` or admission envelope), as document 0
/// of `file`. Front ends that receive JSON from a host use this instead of re-serializing.
pub(crate) fn load_value(file: &str, value: Value) -> Vec<Loaded> {
    let mut out = Vec::new();
    unwrap_object(file, 0, 1, value, None, 0, &mut out);
    out
}

/// Parses one YAML document and unwraps it into the objects it holds.
pub(crate) fn load_yaml_document(file: &str, doc: &RawDocument<'_>) -> Vec<Loaded> {
    let mut out = Vec::new();
    match parse_yaml_document(file, doc) {
        Ok(value) => unwrap_object(file, doc.index, doc.content_line, value, None, 0, &mut out),
        Err(error) => out.push(Loaded::Error(error)),
    }
    out
}

/// Parses one YAML document into a JSON value.
pub(crate) fn parse_yaml_document(file: &str, doc: &RawDocument<'_>) -> Result<Value, Diagnostic> {
    if doc.text.len() > MAX_DOCUMENT_BYTES {
        return Err(too_large(file, doc.index, doc.content_line, doc.text.len()));
    }
    crate::yaml::parse_document(doc.text)
        .map(|d| d.value)
        .map_err(|e| {
            // The parser may report an unexpected end on the line after the document; keep
            // errors inside it.
            let last_line = doc.first_line + doc.text.trim_end().matches('\n').count();
            let (line, column) = match e.line {
                Some(line) => (
                    (doc.first_line + line.saturating_sub(1)).min(last_line),
                    e.column
                        .map(|c| format!(" (column {c})"))
                        .unwrap_or_default(),
                ),
                None => (doc.content_line, String::new()),
            };
            let message = format!("invalid YAML: {}{column}", e.message);
            Diagnostic::new(file, Some(doc.index), Some(line), message)
        })
}

fn too_large(file: &str, document: usize, line: usize, len: usize) -> Diagnostic {
    Diagnostic::new(
        file,
        Some(document),
        Some(line),
        format!(
            "document is {:.1} MiB, over the {} MiB limit (Kubernetes objects are at most 1.5 MiB)",
            len as f64 / (1024.0 * 1024.0),
            MAX_DOCUMENT_BYTES / (1024 * 1024)
        ),
    )
}

/// serde_yaml appends "at line L column C"; we report the line ourselves, relative to the file.
fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Loads every value of a JSON stream.
pub(crate) fn load_json(file: &str, text: &str) -> Vec<Loaded> {
    let mut out = Vec::new();
    load_json_stream(file, text, &mut out);
    out
}

fn load_json_stream(file: &str, text: &str, out: &mut Vec<Loaded>) {
    let mut index = 0usize;
    // Where the part of `text` being parsed starts (after a syntax error, the next line that
    // opens a value).
    let mut base = 0usize;
    while base < text.len() {
        let part = &text[base..];
        let mut stream = serde_json::Deserializer::from_str(part).into_iter::<Value>();
        let resume = loop {
            let start = stream.byte_offset();
            // Skip whitespace to find where the value starts, for its line number.
            let value_start = start + part[start..].len() - part[start..].trim_start().len();
            let line = line_of(text, base + value_start);
            match stream.next() {
                None => break None,
                Some(Ok(value)) => {
                    let len = stream.byte_offset() - value_start;
                    if len > MAX_DOCUMENT_BYTES {
                        out.push(Loaded::Error(too_large(file, index, line, len)));
                    } else {
                        unwrap_object(file, index, line, value, None, 0, out);
                    }
                }
                Some(Err(e)) => {
                    let error_line = line_of(text, base) + e.line().max(1) - 1;
                    let resume = next_value_start(text, base, e.line().max(1));
                    let after = if resume.is_some() {
                        "; reading on at the next line that starts a value"
                    } else {
                        ""
                    };
                    out.push(Loaded::Error(Diagnostic::new(
                        file,
                        Some(index),
                        Some(error_line),
                        format!("invalid JSON: {}{after}", strip_location(&e.to_string())),
                    )));
                    break resume;
                }
            }
            index += 1;
        };
        match resume {
            Some(next) => {
                base = next;
                index += 1;
            }
            None => break,
        }
    }
}

/// After a syntax error on `error_line` (1-based, relative to `text[base..]`), the offset of
/// the next line that starts with `{` or `[`: concatenated JSON values (one per line, or
/// pretty-printed one after another) start at the beginning of a line, so the stream can
/// pick up there instead of dropping every later object.
fn next_value_start(text: &str, base: usize, error_line: usize) -> Option<usize> {
    let mut offset = base;
    for (number, line) in (1usize..).zip(text[base..].split_inclusive('\n')) {
        if number > error_line && (line.starts_with('{') || line.starts_with('[')) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Unwraps `List` kinds and admission envelopes down to plain objects.
fn unwrap_object(
    file: &str,
    document: usize,
    line: usize,
    value: Value,
    admission: Option<AdmissionContext>,
    depth: usize,
    out: &mut Vec<Loaded>,
) {
    let error =
        |message: String| Loaded::Error(Diagnostic::new(file, Some(document), Some(line), message));
    if depth > MAX_ENVELOPE_DEPTH {
        out.push(error(format!(
            "envelopes nested more than {MAX_ENVELOPE_DEPTH} deep"
        )));
        return;
    }
    let Value::Object(mut map) = value else {
        match value {
            Value::Null => out.push(Loaded::Skipped),
            other => out.push(error(format!(
                "document is {}, not a Kubernetes object",
                crate::diagnostic::describe(&other)
            ))),
        }
        return;
    };

    // Classify by borrowing `kind` first, then take the object apart.
    enum Shape {
        Review,
        List,
        Request,
        Object,
        BadKind(&'static str),
        NoKind,
    }
    let shape = match map.get("kind") {
        Some(Value::String(kind)) if kind == "AdmissionReview" => Shape::Review,
        Some(Value::String(kind)) if kind.ends_with("List") && map.contains_key("items") => {
            Shape::List
        }
        Some(Value::String(_)) => Shape::Object,
        // A bare AdmissionRequest: `kind` is a GroupVersionKind and the object sits under
        // `object`. One without a kind is still a request (and malformed), not a document
        // to skip.
        Some(Value::Object(_)) | None
            if map.contains_key("operation")
                || (map.contains_key("object") && map.contains_key("uid")) =>
        {
            Shape::Request
        }
        Some(other) => Shape::BadKind(crate::diagnostic::describe(other)),
        None => Shape::NoKind,
    };
    match shape {
        Shape::Review => match map.remove("request") {
            Some(Value::Object(request)) => {
                unwrap_admission_request(file, document, line, request, depth, out)
            }
            Some(Value::Null) | None => out.push(error(
                "AdmissionReview has no `request` (a response-only review cannot be checked)"
                    .into(),
            )),
            Some(other) => out.push(error(format!(
                "AdmissionReview `request` is {}, expected an object",
                crate::diagnostic::describe(&other)
            ))),
        },
        Shape::List => match map.remove("items") {
            Some(Value::Array(items)) => {
                for item in items {
                    unwrap_object(
                        file,
                        document,
                        line,
                        item,
                        admission.clone(),
                        depth + 1,
                        out,
                    );
                }
            }
            Some(Value::Null) | None => {}
            Some(other) => out.push(error(format!(
                "`{}` has `items` of type {}, expected a list",
                map.get("kind").and_then(Value::as_str).unwrap_or("List"),
                crate::diagnostic::describe(&other)
            ))),
        },
        Shape::Request => unwrap_admission_request(file, document, line, map, depth, out),
        Shape::Object => out.push(Loaded::Object(LoadedObject {
            document,
            line,
            value: Value::Object(map),
            admission,
        })),
        Shape::BadKind(found) => out.push(error(format!("`kind` is {found}, expected a string"))),
        Shape::NoKind => out.push(Loaded::Skipped),
    }
}

fn unwrap_admission_request(
    file: &str,
    document: usize,
    line: usize,
    mut request: Map<String, Value>,
    depth: usize,
    out: &mut Vec<Loaded>,
) {
    let error =
        |message: String| Loaded::Error(Diagnostic::new(file, Some(document), Some(line), message));
    // The API server always sends an operation; a request without one (or with another)
    // is malformed, and evaluating its object as a CREATE could admit what it should not.
    let operation = match request.get("operation") {
        Some(Value::String(op)) if OPERATIONS.contains(&op.as_str()) => op.clone(),
        Some(Value::String(op)) => {
            out.push(error(format!(
                "admission request has operation `{op}`; expected one of {}",
                OPERATIONS.map(|o| format!("`{o}`")).join(", ")
            )));
            return;
        }
        Some(other) => {
            out.push(error(format!(
                "admission request `operation` is {}, expected a string",
                crate::diagnostic::describe(other)
            )));
            return;
        }
        None => {
            out.push(error("admission request has no `operation`".into()));
            return;
        }
    };
    if operation == "DELETE" || operation == "CONNECT" {
        out.push(Loaded::Skipped);
        return;
    }
    let mut object = match request.remove("object") {
        Some(Value::Object(object)) => object,
        Some(Value::Null) | None => {
            out.push(error(format!(
                "admission request ({operation}) has no `object`"
            )));
            return;
        }
        Some(other) => {
            out.push(error(format!(
                "admission request `object` is {}, expected an object",
                crate::diagnostic::describe(&other)
            )));
            return;
        }
    };
    let namespace = request
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .map(str::to_string);
    let gvk = request.get("kind").and_then(Value::as_object);
    let has_kind =
        |value: Option<&Value>| value.and_then(Value::as_str).is_some_and(|k| !k.is_empty());
    if !has_kind(object.get("kind")) && !has_kind(gvk.and_then(|k| k.get("kind"))) {
        out.push(error(format!(
            "admission request ({operation}) names no kind: neither `request.kind.kind` nor the object's `kind`"
        )));
        return;
    }
    if !object.contains_key("kind")
        && let Some(kind) = gvk.and_then(|k| k.get("kind")).and_then(Value::as_str)
    {
        object.insert("kind".into(), Value::String(kind.to_string()));
    }
    if !object.contains_key("apiVersion")
        && let Some(gvk) = gvk
    {
        let group = gvk.get("group").and_then(Value::as_str).unwrap_or("");
        let version = gvk.get("version").and_then(Value::as_str).unwrap_or("v1");
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        object.insert("apiVersion".into(), Value::String(api_version));
    }
    if let Some(name) = request
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        let metadata = object
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(metadata) = metadata
            && metadata
                .get("name")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            metadata.insert("name".into(), Value::String(name.to_string()));
        }
    }
    let context = AdmissionContext { namespace };
    unwrap_object(
        file,
        document,
        line,
        Value::Object(object),
        Some(context),
        depth + 1,
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_streams_and_keeps_lines() {
        let text = "---\n# c\n---\na: 1\n---\n\nb: 2\n...\n--- c: 3\n";
        let docs = split_yaml_documents(text);
        assert_eq!(docs.len(), 3);
        assert_eq!(
            (docs[0].index, docs[0].content_line, docs[0].text),
            (0, 4, "a: 1\n")
        );
        assert_eq!((docs[1].index, docs[1].content_line), (1, 7));
        assert_eq!((docs[2].content_line, docs[2].text), (9, "c: 3\n"));
    }

    #[test]
    fn syntax_error_in_one_document_keeps_the_others() {
        let text =
            "kind: Pod\nmetadata: {name: a}\n---\nkind: [\n---\nkind: Pod\nmetadata: {name: c}\n";
        let loaded = load_source("x.yaml", text);
        assert_eq!(loaded.len(), 3);
        assert!(matches!(&loaded[0], Loaded::Object(o) if o.document == 0));
        match &loaded[1] {
            Loaded::Error(e) => {
                assert_eq!(e.document, Some(1));
                assert!(e.line.unwrap() >= 4, "{e:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(&loaded[2], Loaded::Object(o) if o.document == 2 && o.line == 6));
    }

    #[test]
    fn a_bad_json_value_does_not_hide_the_ones_after_it() {
        let text = "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}\n{\"kind\": tru}\n{\"kind\":\"Pod\",\n  \"metadata\":{\"name\":\"c\"}}\n";
        let loaded = load_source("s.json", text);
        assert_eq!(loaded.len(), 3, "{loaded:?}");
        assert!(matches!(&loaded[0], Loaded::Object(o) if o.line == 1 && o.document == 0));
        match &loaded[1] {
            Loaded::Error(e) => {
                assert_eq!((e.document, e.line), (Some(1), Some(2)), "{e:?}");
                assert!(e.message.contains("reading on"), "{e:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&loaded[2], Loaded::Object(o) if o.line == 3 && o.document == 2),
            "{loaded:?}"
        );
    }

    #[test]
    fn json_streams() {
        let text = "{\"kind\":\"Pod\"}\n{\"kind\":\"Service\"}";
        let loaded = load_source("-", text);
        assert!(matches!(&loaded[1], Loaded::Object(o) if o.line == 2 && o.document == 1));
    }

    #[test]
    fn admission_request_fills_kind_and_namespace() {
        let text = r#"{"uid":"1","kind":{"group":"apps","version":"v1","kind":"Deployment"},
            "namespace":"shop","operation":"CREATE","object":{"metadata":{"name":"api"},"spec":{}}}"#;
        let loaded = load_source("r.json", text);
        let Loaded::Object(o) = &loaded[0] else {
            panic!("{loaded:?}")
        };
        assert_eq!(o.value["kind"], "Deployment");
        assert_eq!(o.value["apiVersion"], "apps/v1");
        assert_eq!(
            o.admission.as_ref().unwrap().namespace.as_deref(),
            Some("shop")
        );
    }

    #[test]
    fn malformed_admission_requests_are_errors() {
        for (text, expected) in [
            (
                r#"{"kind":"AdmissionReview","request":{"uid":"1","object":{"kind":"Pod"}}}"#,
                "has no `operation`",
            ),
            (
                r#"{"kind":"AdmissionReview","request":{"uid":"1","operation":"PATCH","object":{"kind":"Pod"}}}"#,
                "operation `PATCH`",
            ),
            (
                r#"{"uid":"1","operation":"CREATE","object":{"metadata":{"name":"p"},"spec":{}}}"#,
                "names no kind",
            ),
            (
                r#"{"kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"kind":""},"object":{"spec":{}}}}"#,
                "names no kind",
            ),
            (
                r#"{"kind":"AdmissionReview","request":{}}"#,
                "has no `operation`",
            ),
        ] {
            match &load_source("r.json", text)[..] {
                [Loaded::Error(e)] => assert!(e.message.contains(expected), "{text}: {e:?}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn delete_requests_are_skipped() {
        let text = r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "request":{"uid":"1","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"DELETE","object":null}}"#;
        assert!(matches!(load_source("r.json", text)[0], Loaded::Skipped));
    }
}
