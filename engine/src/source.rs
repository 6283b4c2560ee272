//! The input side of the API: a [`Source`] is one input (a file, stdin, a request body, a
//! JSON value a host handed over) and [`Source::load`] turns it into [`Workloads`], the
//! normalized pods a policy evaluates. How the text is read (YAML or JSON) is decided here,
//! in one place.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::files::{self, Origin};
use crate::load::{self, Loaded};
use crate::workload::{Normalized, Workload, normalize};

/// How a source's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// A YAML stream: documents split at `---`, read as Kubernetes reads YAML.
    Yaml,
    /// One or more concatenated JSON values.
    Json,
}

impl Format {
    /// The format of `text` named `name`: by extension (`.json`; `.yaml`, `.yml`), else by the
    /// first character (`{` or `[` is JSON).
    pub fn detect(name: &str, text: &str) -> Format {
        if load::looks_like_json(name, text) {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

/// One input to check, with the name findings and errors give it.
#[derive(Debug, Clone)]
pub struct Source {
    name: String,
    content: Content,
}

#[derive(Debug, Clone)]
enum Content {
    Text { text: String, format: Format },
    Value(Value),
}

impl Source {
    /// Text, read as its name or first character says (see [`Format::detect`]).
    pub fn from_text(name: impl Into<String>, text: impl Into<String>) -> Source {
        let name = name.into();
        let text = text.into();
        let format = Format::detect(&name, load::strip_bom(&text));
        Source {
            name,
            content: Content::Text { text, format },
        }
    }

    /// An already parsed value: an object, a `List` or an admission envelope. Hosts that
    /// receive JSON use this instead of serializing it again.
    pub fn from_json(name: impl Into<String>, value: Value) -> Source {
        Source {
            name: name.into(),
            content: Content::Value(value),
        }
    }

    /// Reads a file the user named (pipes such as `<(helm template …)` included), at most
    /// [`files::MAX_MANIFEST_BYTES`]. The error names the file.
    pub fn read(path: &Path) -> Result<Source, Diagnostic> {
        Source::read_path(path, Origin::Named)
    }

    /// Reads a file found by walking a directory: only regular files (a FIFO named
    /// `x.yaml` would block), at most [`files::MAX_MANIFEST_BYTES`].
    pub fn read_found(path: &Path) -> Result<Source, Diagnostic> {
        Source::read_path(path, Origin::Found)
    }

    fn read_path(path: &Path, origin: Origin) -> Result<Source, Diagnostic> {
        let name = path.display().to_string();
        files::read_text(path, files::MAX_MANIFEST_BYTES, origin)
            .map(|text| Source::from_text(name.clone(), text))
            .map_err(|e| Diagnostic::new(name, None, e.line, e.message))
    }

    /// Reads `reader` (stdin) to its end, at most [`files::MAX_MANIFEST_BYTES`].
    pub fn read_from(name: &str, reader: impl std::io::Read) -> Result<Source, Diagnostic> {
        files::read_text_from(reader, files::MAX_MANIFEST_BYTES)
            .map(|text| Source::from_text(name, text))
            .map_err(|e| Diagnostic::new(name, None, e.line, e.message))
    }

    /// Reads the text as `format`, whatever its name says (`--format` for stdin).
    pub fn with_format(mut self, format: Format) -> Source {
        if let Content::Text { format: f, .. } = &mut self.content {
            *f = format;
        }
        self
    }

    /// The name findings and errors give this source.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The text, when the source is text.
    pub fn text(&self) -> Option<&str> {
        match &self.content {
            Content::Text { text, .. } => Some(text),
            Content::Value(_) => None,
        }
    }

    /// Whether the source holds nothing but white space.
    pub fn is_blank(&self) -> bool {
        self.text().is_some_and(|t| t.trim().is_empty())
    }

    /// Reads and normalizes every document: the workloads, the problems (each naming its
    /// document and line) and the count of documents that carry no pod. Nothing is
    /// evaluated; a policy can evaluate the result any number of times.
    pub fn load(&self) -> Workloads {
        let mut out = Workloads {
            name: self.name.clone(),
            ..Workloads::default()
        };
        for_each_loaded(self, |item| out.add(&self.name, item));
        out
    }

    /// The loaded items in source order, document by document, for evaluation that spreads
    /// YAML documents over threads.
    pub(crate) fn yaml_documents(&self) -> Option<Vec<load::RawDocument<'_>>> {
        match &self.content {
            Content::Text {
                text,
                format: Format::Yaml,
            } => Some(load::split_yaml_documents(load::strip_bom(text))),
            _ => None,
        }
    }
}

/// Calls `f` with every loaded item of `source`, in order.
pub(crate) fn for_each_loaded(source: &Source, mut f: impl FnMut(Loaded)) {
    match &source.content {
        Content::Text { text, format } => {
            let text = load::strip_bom(text);
            match format {
                Format::Json => load::load_json(&source.name, text).into_iter().for_each(f),
                Format::Yaml => {
                    for doc in load::split_yaml_documents(text) {
                        load::load_yaml_document(&source.name, &doc)
                            .into_iter()
                            .for_each(&mut f);
                    }
                }
            }
        }
        Content::Value(value) => load::load_value(&source.name, value.clone())
            .into_iter()
            .for_each(f),
    }
}

/// The workloads of one [`Source`], normalized and ready to evaluate.
#[derive(Debug, Clone, Default)]
pub struct Workloads {
    pub(crate) name: String,
    pub(crate) items: Vec<Arc<Workload>>,
    /// Documents that could not be read or normalized.
    pub diagnostics: Vec<Diagnostic>,
    /// Documents that carry no pod (Services, ConfigMaps, DELETE requests, …).
    pub skipped: usize,
}

impl Workloads {
    /// The name of the source they came from.
    pub fn source_name(&self) -> &str {
        &self.name
    }

    /// The workloads, in source order.
    pub fn iter(&self) -> impl Iterator<Item = &Workload> {
        self.items.iter().map(|w| &**w)
    }

    /// How many workloads there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(crate) fn add(&mut self, name: &str, item: Loaded) {
        match prepare(name, item) {
            Prepared::Workload(workload) => self.items.push(workload),
            Prepared::Error(error) => self.diagnostics.push(error),
            Prepared::Skipped => self.skipped += 1,
        }
    }
}

/// A loaded document after normalization.
pub(crate) enum Prepared {
    Workload(Arc<Workload>),
    Error(Diagnostic),
    Skipped,
}

pub(crate) fn prepare(file: &str, item: Loaded) -> Prepared {
    match item {
        Loaded::Error(error) => Prepared::Error(error),
        Loaded::Skipped => Prepared::Skipped,
        Loaded::Object(object) => {
            let (document, line) = (object.document, object.line);
            match normalize(object) {
                Normalized::NotAWorkload => Prepared::Skipped,
                Normalized::Invalid(message) => {
                    Prepared::Error(Diagnostic::new(file, Some(document), Some(line), message))
                }
                Normalized::Workload(workload) => Prepared::Workload(Arc::from(workload)),
            }
        }
    }
}
