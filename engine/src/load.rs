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
    /// 1-based line where the object starts: the document's first line with content, or
    /// for an item of a `List`, the line of the item's first key.
    pub line: usize,
    /// For an object that came out of a `List`: its 0-based position among the objects the
    /// document holds (the index in `items`, nested lists flattened).
    pub item: Option<usize>,
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
    Unwrapper::new(file, 0, &mut out).unwrap(1, value, &[]);
    out
}

/// Parses one YAML document and unwraps it into the objects it holds.
pub(crate) fn load_yaml_document(file: &str, doc: &RawDocument<'_>) -> Vec<Loaded> {
    let mut out = Vec::new();
    match parse_yaml_document(file, doc) {
        Ok(parsed) => {
            // The reader counts lines from the document's first line.
            let item_lines: Vec<usize> = parsed
                .item_lines
                .iter()
                .map(|line| doc.first_line + line - 1)
                .collect();
            Unwrapper::new(file, doc.index, &mut out).unwrap(
                doc.content_line,
                parsed.value,
                &item_lines,
            )
        }
        Err(error) => out.push(Loaded::Error(error)),
    }
    out
}

/// Parses one YAML document into a JSON value, with the lines of a `List`'s items
/// (relative to the document).
pub(crate) fn parse_yaml_document(
    file: &str,
    doc: &RawDocument<'_>,
) -> Result<crate::yaml::Document, Diagnostic> {
    if doc.text.len() > MAX_DOCUMENT_BYTES {
        return Err(too_large(file, doc.index, doc.content_line, doc.text.len()));
    }
    crate::yaml::parse_document(doc.text).map_err(|e| {
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
        let mut message = format!("invalid YAML: {}{column}", e.message);
        if doc.text.contains("{{") {
            // Almost always a Helm chart's template file read as a manifest.
            message.push_str(
                "; the document holds `{{ … }}`, so it looks like an unrendered template: \
                 render it first (`helm template`) and check the output",
            );
        }
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
                        let item_lines = if is_list(&value) {
                            let start = base + value_start;
                            json_item_lines(&text[start..start + len], line)
                        } else {
                            Vec::new()
                        };
                        Unwrapper::new(file, index, out).unwrap(line, value, &item_lines);
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

/// Whether `value` is a `List` kind (`List`, `DeploymentList`, …) with its `items`.
fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"))
        && value.get("items").is_some()
}

/// The 1-based line of each element of the top-level `items` array of one JSON value (of
/// an object element, its first key's), `text` being that value (valid JSON, already
/// parsed) and `first_line` its line. serde_json keeps no positions, so this scans the text
/// once: strings, nesting and line breaks.
fn json_item_lines(text: &str, first_line: usize) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut line = first_line;
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    // The last string read at depth 1 (a key of the top-level object) and whether the
    // value being read is the `items` array.
    let mut string_start = 0usize;
    let mut last_key_is_items = false;
    let mut in_items = false;
    let mut expect_item = false;
    let mut expect_first_key = false;
    for (i, byte) in text.bytes().enumerate() {
        if byte == b'\n' {
            line += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
                if depth == 1 {
                    last_key_is_items = &text[string_start..i] == "items";
                }
            }
            continue;
        }
        if byte.is_ascii_whitespace() {
            continue;
        }
        if expect_first_key {
            // An object item is placed at its first key (its `}` when it has none), as a
            // YAML item is.
            lines.push(line);
            expect_first_key = false;
        } else if in_items && depth == 2 && expect_item && byte != b']' {
            if byte == b'{' {
                expect_first_key = true;
            } else {
                lines.push(line);
            }
            expect_item = false;
        }
        match byte {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 2 && byte == b'[' && last_key_is_items {
                    in_items = true;
                    expect_item = true;
                }
            }
            b'}' | b']' => {
                if depth == 2 {
                    in_items = false;
                }
                depth = depth.saturating_sub(1);
            }
            b',' => {
                if in_items && depth == 2 {
                    expect_item = true;
                } else if depth == 1 {
                    last_key_is_items = false;
                }
            }
            _ => {}
        }
    }
    lines
}

/// Unwraps `List` kinds and admission envelopes of one document down to plain objects.
struct Unwrapper<'a> {
    file: &'a str,
    document: usize,
    out: &'a mut Vec<Loaded>,
    /// The position the next object out of a `List` gets.
    next_item: usize,
}

impl<'a> Unwrapper<'a> {
    fn new(file: &'a str, document: usize, out: &'a mut Vec<Loaded>) -> Unwrapper<'a> {
        Unwrapper {
            file,
            document,
            out,
            next_item: 0,
        }
    }

    /// Unwraps the document's value, which starts at `line`; `item_lines` are the lines of
    /// its `items` when it is a `List`.
    fn unwrap(&mut self, line: usize, value: Value, item_lines: &[usize]) {
        self.object(line, value, None, 0, false, item_lines);
    }

    fn error(&self, line: usize, message: String) -> Loaded {
        Loaded::Error(Diagnostic::new(
            self.file,
            Some(self.document),
            Some(line),
            message,
        ))
    }

    /// Adds what one place of the document produced. Inside a `List` every such result
    /// (an object, a skipped item, an error) takes the next item position.
    fn push(&mut self, loaded: Loaded, in_list: bool) {
        let item = in_list.then(|| {
            self.next_item += 1;
            self.next_item - 1
        });
        self.out.push(match loaded {
            Loaded::Object(object) => Loaded::Object(LoadedObject { item, ..object }),
            other => other,
        });
    }

    fn object(
        &mut self,
        line: usize,
        value: Value,
        admission: Option<AdmissionContext>,
        depth: usize,
        in_list: bool,
        item_lines: &[usize],
    ) {
        if depth > MAX_ENVELOPE_DEPTH {
            let error = self.error(
                line,
                format!("envelopes nested more than {MAX_ENVELOPE_DEPTH} deep"),
            );
            self.push(error, in_list);
            return;
        }
        let Value::Object(mut map) = value else {
            let loaded = match value {
                Value::Null => Loaded::Skipped,
                other => self.error(
                    line,
                    format!(
                        "document is {}, not a Kubernetes object",
                        crate::diagnostic::describe(&other)
                    ),
                ),
            };
            self.push(loaded, in_list);
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
                    self.admission_request(line, request, depth, in_list)
                }
                Some(Value::Null) | None => {
                    let error = self.error(
                        line,
                        "AdmissionReview has no `request` (a response-only review cannot be checked)"
                            .into(),
                    );
                    self.push(error, in_list)
                }
                Some(other) => {
                    let error = self.error(
                        line,
                        format!(
                            "AdmissionReview `request` is {}, expected an object",
                            crate::diagnostic::describe(&other)
                        ),
                    );
                    self.push(error, in_list)
                }
            },
            Shape::List => match map.remove("items") {
                Some(Value::Array(items)) => {
                    for (i, item) in items.into_iter().enumerate() {
                        // Each item is a resource of its own, at its own line; items of a
                        // nested list have none recorded and take the line of the list.
                        let item_line = item_lines.get(i).copied().unwrap_or(line);
                        self.object(item_line, item, admission.clone(), depth + 1, true, &[]);
                    }
                }
                Some(Value::Null) | None => {}
                Some(other) => {
                    let error = self.error(
                        line,
                        format!(
                            "`{}` has `items` of type {}, expected a list",
                            map.get("kind").and_then(Value::as_str).unwrap_or("List"),
                            crate::diagnostic::describe(&other)
                        ),
                    );
                    self.push(error, in_list)
                }
            },
            Shape::Request => self.admission_request(line, map, depth, in_list),
            Shape::Object => {
                let object = Loaded::Object(LoadedObject {
                    document: self.document,
                    line,
                    item: None,
                    value: Value::Object(map),
                    admission,
                });
                self.push(object, in_list)
            }
            Shape::BadKind(found) => {
                let error = self.error(line, format!("`kind` is {found}, expected a string"));
                self.push(error, in_list)
            }
            Shape::NoKind => self.push(Loaded::Skipped, in_list),
        }
    }

    fn admission_request(
        &mut self,
        line: usize,
        mut request: Map<String, Value>,
        depth: usize,
        in_list: bool,
    ) {
        match admitted_object(&mut request) {
            Ok(Some((object, context))) => self.object(
                line,
                Value::Object(object),
                Some(context),
                depth + 1,
                in_list,
                &[],
            ),
            Ok(None) => self.push(Loaded::Skipped, in_list),
            Err(message) => {
                let error = self.error(line, message);
                self.push(error, in_list)
            }
        }
    }
}

/// An admitted object and where it was admitted.
type Admitted = (Map<String, Value>, AdmissionContext);

/// The object an admission request asks about, completed from the request (kind,
/// apiVersion, name), with its namespace; `None` for a request with nothing to check
/// (DELETE, CONNECT).
fn admitted_object(request: &mut Map<String, Value>) -> Result<Option<Admitted>, String> {
    // The API server always sends an operation; a request without one (or with another)
    // is malformed, and evaluating its object as a CREATE could admit what it should not.
    let operation = match request.get("operation") {
        Some(Value::String(op)) if OPERATIONS.contains(&op.as_str()) => op.clone(),
        Some(Value::String(op)) => {
            return Err(format!(
                "admission request has operation `{op}`; expected one of {}",
                OPERATIONS.map(|o| format!("`{o}`")).join(", ")
            ));
        }
        Some(other) => {
            return Err(format!(
                "admission request `operation` is {}, expected a string",
                crate::diagnostic::describe(other)
            ));
        }
        None => return Err("admission request has no `operation`".into()),
    };
    if operation == "DELETE" || operation == "CONNECT" {
        return Ok(None);
    }
    let mut object = match request.remove("object") {
        Some(Value::Object(object)) => object,
        Some(Value::Null) | None => {
            return Err(format!("admission request ({operation}) has no `object`"));
        }
        Some(other) => {
            return Err(format!(
                "admission request `object` is {}, expected an object",
                crate::diagnostic::describe(&other)
            ));
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
        return Err(format!(
            "admission request ({operation}) names no kind: neither `request.kind.kind` nor the object's `kind`"
        ));
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
    Ok(Some((object, AdmissionContext { namespace })))
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
    fn unrendered_templates_are_named_as_such() {
        // The shape of bitnami/charts' deployment.yaml.
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"common.names.fullname\" . }}\n  namespace: {{ .Release.Namespace | quote }}\n";
        let errors: Vec<String> = load_source("deployment.yaml", text)
            .into_iter()
            .filter_map(|l| match l {
                Loaded::Error(e) => Some(e.message),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("invalid YAML: "), "{}", errors[0]);
        assert!(
            errors[0].contains("render it first (`helm template`)"),
            "{}",
            errors[0]
        );
        // Bad YAML without braces gets no such hint.
        let errors = load_source("bad.yaml", "a: [1\n");
        assert!(matches!(&errors[..], [Loaded::Error(e)] if !e.message.contains("helm")));
    }

    /// (line, item, name) of every object loaded from `text`.
    fn placed(file: &str, text: &str) -> Vec<(usize, Option<usize>, String)> {
        load_source(file, text)
            .into_iter()
            .filter_map(|loaded| match loaded {
                Loaded::Object(o) => Some((
                    o.line,
                    o.item,
                    o.value["metadata"]["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn list_items_are_resources_at_their_own_lines() {
        // `kubectl get deploy -o yaml`: `items` before `kind`, after another document.
        let text = "kind: Pod\nmetadata: {name: before}\n---\napiVersion: v1\nitems:\n\
                    - apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n\
                    - apiVersion: v1\n  kind: Service\n  metadata: {name: web}\n\
                    - # the first key is on the next line\n  kind: Deployment\n  metadata: {name: api}\n\
                    kind: List\nmetadata:\n  resourceVersion: \"\"\n";
        assert_eq!(
            placed("l.yaml", text),
            [
                (1, None, "before".to_string()),
                (6, Some(0), "web".to_string()),
                (10, Some(1), "web".to_string()),
                (14, Some(2), "api".to_string()),
            ]
        );
    }

    #[test]
    fn json_list_items_keep_their_lines() {
        // `kubectl get deploy -o json` pretty-prints; strings may hold brackets, braces,
        // commas and escaped quotes, and a key named `items` deeper down does not count.
        let text = r#"{
    "apiVersion": "v1",
    "metadata": {"items": [1, 2], "note": "a \"quoted\" ] , { string"},
    "items": [
        {
            "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {"x": "[{,\\"}}
        },
        {"kind": "Deployment", "metadata": {"name": "api"}}
    ],
    "kind": "List"
}
{"kind": "List", "items": [{"kind": "Pod", "metadata": {"name": "one-line"}}, {"kind": "Pod", "metadata": {"name": "same-line"}}]}
"#;
        assert_eq!(
            placed("l.json", text),
            [
                (6, Some(0), "web".to_string()),
                (9, Some(1), "api".to_string()),
                (13, Some(0), "one-line".to_string()),
                (13, Some(1), "same-line".to_string()),
            ]
        );
    }

    #[test]
    fn nested_lists_and_odd_items_take_positions_in_order() {
        let text = "kind: List\nitems:\n- kind: List\n  items:\n  - {kind: Pod, metadata: {name: a}}\n  - {kind: Pod, metadata: {name: b}}\n- 7\n- {kind: Pod, metadata: {name: c}}\n";
        assert_eq!(
            placed("n.yaml", text),
            [
                (3, Some(0), "a".to_string()),
                (3, Some(1), "b".to_string()),
                (8, Some(3), "c".to_string()),
            ]
        );
        // The number is an error at its own line.
        let errors: Vec<_> = load_source("n.yaml", text)
            .into_iter()
            .filter_map(|l| match l {
                Loaded::Error(e) => Some((e.line, e.message)),
                _ => None,
            })
            .collect();
        assert_eq!(
            errors,
            [(
                Some(7),
                "document is a number, not a Kubernetes object".to_string()
            )]
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
