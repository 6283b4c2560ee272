//! The input side of the API: a [`Source`] is one input (a file, stdin, a request body, a
//! JSON value a host handed over) and [`Source::load`] turns it into [`Workloads`], the
//! normalized pods a policy evaluates. How the text is read (YAML or JSON) is decided here,
//! in one place.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::dockerfile::{self, ParseOptions};
use crate::files::{self, Origin};
use crate::load::{self, Loaded};
use crate::workload::dockerfile::from_dockerfile;
use crate::workload::{Normalized, Workload, normalize};

/// How a source's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// A YAML stream: documents split at `---`, read as Kubernetes reads YAML.
    Yaml,
    /// One or more concatenated JSON values.
    Json,
    /// A Dockerfile (or Containerfile): one workload of kind `Dockerfile` with a container
    /// per build stage.
    Dockerfile,
}

impl Format {
    /// The format of `text` named `name`: by extension (`.json`; `.yaml`, `.yml`), then by
    /// a Dockerfile's name (see [`Format::is_dockerfile_name`]), else by the first character
    /// (`{` or `[` is JSON).
    pub fn detect(name: &str, text: &str) -> Format {
        let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
        let manifest = matches!(extension.as_deref(), Some("yaml" | "yml" | "json"));
        if !manifest && Format::is_dockerfile_name(name) {
            Format::Dockerfile
        } else if load::looks_like_json(name, text) {
            Format::Json
        } else {
            Format::Yaml
        }
    }

    /// Whether the file name (the last component of `path`) is a Dockerfile's, in any
    /// case: `Dockerfile`, `Containerfile`, `Dockerfile.<anything>` (not
    /// `Dockerfile.dockerignore`), `<anything>.Dockerfile` and the same with
    /// `Containerfile`.
    pub fn is_dockerfile_name(path: &str) -> bool {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let name = name.to_ascii_lowercase();
        ["dockerfile", "containerfile"].iter().any(|stem| {
            name == *stem
                || (name.starts_with(&format!("{stem}.")) && !name.ends_with(".dockerignore"))
                || name.ends_with(&format!(".{stem}"))
        })
    }
}

/// The platform a Dockerfile is built for unless [`Source::with_platform`] says: what
/// `docker build` uses on the most common build hosts.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

fn default_build() -> ParseOptions {
    ParseOptions {
        platform: Some(DEFAULT_PLATFORM.to_string()),
        ..ParseOptions::default()
    }
}

/// One input to check, with the name findings and errors give it.
#[derive(Debug, Clone)]
pub struct Source {
    name: String,
    content: Content,
    /// Build args and platform, for a Dockerfile.
    build: ParseOptions,
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
            build: default_build(),
        }
    }

    /// An already parsed value: an object, a `List` or an admission envelope. Hosts that
    /// receive JSON use this instead of serializing it again.
    pub fn from_json(name: impl Into<String>, value: Value) -> Source {
        Source {
            name: name.into(),
            content: Content::Value(value),
            build: default_build(),
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

    /// Values for the `ARG`s of a Dockerfile (`--build-arg NAME=VALUE`); they override the
    /// file's defaults, as `docker build --build-arg` does. Other formats ignore them.
    pub fn with_build_args<K, V>(mut self, args: impl IntoIterator<Item = (K, V)>) -> Source
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.build
            .build_args
            .extend(args.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The target platform of a Dockerfile (`linux/arm64`, `linux/arm/v7`), which sets
    /// BuildKit's automatic `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`
    /// and the `BUILD…` ones; [`DEFAULT_PLATFORM`] unless set.
    pub fn with_platform(mut self, platform: impl Into<String>) -> Source {
        self.build.platform = Some(platform.into());
        self
    }

    /// The format the text is read as (`None` for a JSON value).
    pub fn format(&self) -> Option<Format> {
        match &self.content {
            Content::Text { format, .. } => Some(*format),
            Content::Value(_) => None,
        }
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
        for_each_prepared(self, |item| out.add_prepared(item));
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

/// Calls `f` with every item of `source`, loaded and normalized, in order.
pub(crate) fn for_each_prepared(source: &Source, mut f: impl FnMut(Prepared)) {
    if let Content::Text {
        text,
        format: Format::Dockerfile,
    } = &source.content
    {
        let file = dockerfile::parse_with(load::strip_bom(text), &source.build);
        for error in &file.errors {
            f(Prepared::Error(Diagnostic::new(
                &source.name,
                None,
                Some(error.line),
                error.message.clone(),
            )));
        }
        let had_errors = !file.errors.is_empty();
        match from_dockerfile(&source.name, file) {
            Some(workload) => f(Prepared::Workload(Arc::new(workload))),
            None if !had_errors => f(Prepared::Skipped),
            None => {}
        }
        return;
    }
    for_each_loaded(source, |item| f(prepare(&source.name, item)));
}

/// Calls `f` with every loaded item of `source`, in order.
fn for_each_loaded(source: &Source, mut f: impl FnMut(Loaded)) {
    match &source.content {
        Content::Text { text, format } => {
            let text = load::strip_bom(text);
            match format {
                // Read by `for_each_prepared`.
                Format::Dockerfile => {}
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

    fn add_prepared(&mut self, item: Prepared) {
        match item {
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
