//! Turning command-line paths into sources to check.

use std::io::Read;
use std::path::{Path, PathBuf};

use portcullis_engine::InputError;

/// Larger files are refused before reading; single documents have their own, smaller limit.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// One input to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name used in findings and errors.
    pub fn display_name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(path) => path.display().to_string(),
        }
    }

    /// Reads the whole input as UTF-8 text.
    pub fn read(&self) -> Result<String, InputError> {
        let name = self.display_name();
        let fail = |message: String| InputError::new(&name, None, None, message);
        let bytes = match self {
            Input::Stdin => {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .take(MAX_FILE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| fail(format!("cannot read stdin: {e}")))?;
                bytes
            }
            Input::File(path) => {
                // One open and an fstat on the handle: a separate stat by path costs a
                // syscall per file, which shows on thousands of small manifests.
                let mut file = std::fs::File::open(path)
                    .map_err(|e| fail(format!("cannot read: {}", io_message(&e))))?;
                let len = file
                    .metadata()
                    .map_err(|e| fail(format!("cannot read: {}", io_message(&e))))?
                    .len();
                if len > MAX_FILE_BYTES {
                    return Err(fail(format!(
                        "file is larger than {} MiB",
                        MAX_FILE_BYTES >> 20
                    )));
                }
                let mut bytes = Vec::with_capacity(len as usize + 1);
                // Through `take`: `File::read_to_end` would stat and seek again for its own
                // size hint.
                (&mut file)
                    .take(MAX_FILE_BYTES + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| fail(format!("cannot read: {}", io_message(&e))))?;
                bytes
            }
        };
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(fail(format!(
                "input is larger than {} MiB",
                MAX_FILE_BYTES >> 20
            )));
        }
        String::from_utf8(bytes).map_err(|e| {
            let text =
                String::from_utf8_lossy(&e.as_bytes()[..e.utf8_error().valid_up_to()]).into_owned();
            let line = text.matches('\n').count() + 1;
            InputError::new(&name, None, Some(line), "input is not valid UTF-8")
        })
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
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

fn is_manifest(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
}

/// Expands paths: directories recursively (sorted, manifests only, hidden entries skipped),
/// files as given, `-` as stdin. Paths that cannot be listed become errors.
pub fn expand(paths: &[PathBuf]) -> (Vec<Input>, Vec<InputError>) {
    let mut inputs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            inputs.push(Input::Stdin);
        } else if path.is_dir() {
            walk(path, &mut inputs, &mut errors);
        } else {
            // Named files are checked whatever their extension; a missing one is an error.
            inputs.push(Input::File(path.clone()));
        }
    }
    (inputs, errors)
}

fn walk(dir: &Path, inputs: &mut Vec<Input>, errors: &mut Vec<InputError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(InputError::new(
                dir.display().to_string(),
                None,
                None,
                format!("cannot list: {}", io_message(&e)),
            ));
            return;
        }
    };
    // The entry's file type comes with the directory listing on most file systems, so
    // sorting out directories costs no extra stat per file. Symbolic links are followed.
    let mut children: Vec<(PathBuf, bool)> = entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let path = e.path();
            let is_dir = match e.file_type() {
                Ok(t) if t.is_symlink() => path.is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => path.is_dir(),
            };
            (path, is_dir)
        })
        .collect();
    children.sort();
    for (path, is_dir) in children {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if is_dir {
            walk(&path, inputs, errors);
        } else if is_manifest(&path) && !is_portcullis_file(&path) {
            inputs.push(Input::File(path));
        }
    }
}

/// Our own configuration and rule test files are not manifests.
fn is_portcullis_file(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n == "portcullis.yaml" || n == "portcullis.yml" || n.ends_with(".tests.yaml")
    })
}
