//! Turning command-line paths into sources to check.
//!
//! Directories are walked recursively in name order, hidden entries skipped. Symbolic links
//! are followed, but every real directory is entered once and every real file read once,
//! so link loops (`ln -s . self`) end and a file reached by two paths is checked once. A
//! walk reads only regular files (a FIFO named `x.yaml` would block the run); a path named
//! on the command line may also be a pipe (`<(helm template …)`). Every read is capped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use portcullis_engine::files;
use portcullis_engine::{Diagnostic, Format, Source};

use crate::args::InputArgs;

/// One input to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    /// A file named on the command line.
    File(PathBuf),
    /// A file found by walking a directory.
    Found(PathBuf),
}

impl Input {
    /// The name used in findings and errors.
    pub fn display_name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(path) | Input::Found(path) => path.display().to_string(),
        }
    }

    /// Reads the input as `--input-format`, `--build-arg` and `--platform` say.
    pub fn read_with(&self, options: &InputArgs, platform: &str) -> Result<Source, Diagnostic> {
        let mut source = self.read()?;
        if let Some(format) = options.input_format
            && !matches!(self, Input::Found(_))
        {
            source = source.with_format(format.into());
        }
        Ok(source
            .with_build_args(options.build_args.iter().cloned())
            .with_platform(platform))
    }

    /// Reads the input, at most [`portcullis_engine::files::MAX_MANIFEST_BYTES`].
    pub fn read(&self) -> Result<Source, Diagnostic> {
        let source = match self {
            Input::Stdin => Source::read_from("<stdin>", std::io::stdin().lock())?,
            Input::File(path) => Source::read(path)?,
            Input::Found(path) => Source::read_found(path)?,
        };
        if *self == Input::Stdin && source.is_blank() {
            // `helm template … | portcullis check -` with a failing helm would otherwise pass.
            return Err(Diagnostic::new(
                self.display_name(),
                None,
                None,
                "stdin is empty: nothing to check (did the command before `|` fail?)",
            ));
        }
        Ok(source)
    }
}

/// Whether a directory walk picks up `path` as a manifest (watch mode asks this of files
/// that appear after the walk).
pub fn is_walked_manifest(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    !hidden && is_manifest(path) && !is_portcullis_file(path)
}

/// A manifest by its extension, or a Dockerfile by its name.
fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        || path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(Format::is_dockerfile_name)
}

/// What a walk has seen, by real path.
#[derive(Default)]
struct Seen {
    directories: HashSet<PathBuf>,
    files: HashSet<PathBuf>,
}

impl Seen {
    /// Whether `path` is new; paths that cannot be resolved count as new.
    fn first_visit(set: &mut HashSet<PathBuf>, path: &Path) -> bool {
        match std::fs::canonicalize(path) {
            Ok(real) => set.insert(real),
            Err(_) => true,
        }
    }
}

/// Expands paths: directories recursively (sorted, manifests and Dockerfiles only, hidden
/// entries skipped),
/// files as given, `-` as stdin. Paths that cannot be listed become errors.
pub fn expand(paths: &[PathBuf]) -> (Vec<Input>, Vec<Diagnostic>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    let mut seen = Seen::default();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if path.is_dir() {
            walk(path, &mut seen, &mut inputs, &mut errors);
        } else if Seen::first_visit(&mut seen.files, path) {
            // Named files are checked whatever their extension; a missing one is an error.
            inputs.push(Input::File(path.clone()));
        }
    }
    (inputs, errors)
}

fn walk(dir: &Path, seen: &mut Seen, inputs: &mut Vec<Input>, errors: &mut Vec<Diagnostic>) {
    let real_dir = std::fs::canonicalize(dir).ok();
    if let Some(real) = &real_dir
        && !seen.directories.insert(real.clone())
    {
        log::info!("{}: already walked (a link loop?)", dir.display());
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(Diagnostic::new(
                dir.display().to_string(),
                None,
                None,
                format!("cannot list: {}", files::io_message(&e)),
            ));
            return;
        }
    };
    // The entry's file type comes with the directory listing on most file systems, so
    // sorting out directories costs no extra stat per file; links cost one stat.
    let mut children: Vec<(PathBuf, Kind)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let path = e.path();
            let kind = match e.file_type() {
                Ok(t) if t.is_symlink() => Kind::of(std::fs::metadata(&path).ok(), true),
                Ok(t) if t.is_dir() => Kind::Directory,
                Ok(t) if t.is_file() => Kind::File { linked: false },
                Ok(_) => Kind::Other,
                Err(_) => Kind::of(std::fs::metadata(&path).ok(), false),
            };
            (path, kind)
        })
        .collect();
    children.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, kind) in children {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        match kind {
            Kind::Directory => walk(&path, seen, inputs, errors),
            Kind::File { linked } if is_manifest(&path) && !is_portcullis_file(&path) => {
                // A plain file's real path is its real directory's plus its name: no
                // syscall per file. A link is resolved.
                let first = match (&real_dir, path.file_name()) {
                    (Some(real), Some(name)) if !linked => seen.files.insert(real.join(name)),
                    _ => Seen::first_visit(&mut seen.files, &path),
                };
                if first {
                    inputs.push(Input::Found(path));
                }
            }
            Kind::Other if is_manifest(&path) => {
                log::warn!("{}: not a regular file, skipped", path.display())
            }
            _ => {}
        }
    }
}

/// What a directory entry is, links followed.
enum Kind {
    Directory,
    File {
        linked: bool,
    },
    /// Pipes, sockets, devices and dangling links.
    Other,
}

impl Kind {
    fn of(metadata: Option<std::fs::Metadata>, linked: bool) -> Kind {
        match metadata {
            Some(m) if m.is_dir() => Kind::Directory,
            Some(m) if m.is_file() => Kind::File { linked },
            _ => Kind::Other,
        }
    }
}

/// Our own configuration and rule test files are not manifests.
fn is_portcullis_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n == "portcullis.yaml" || n == "portcullis.yml" || n.ends_with(".tests.yaml")
    })
}
