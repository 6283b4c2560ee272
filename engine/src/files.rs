//! Reading the files Portcullis is given — manifests, configuration, rules, rule tests,
//! facts, reports, requests — with a size cap for each kind, so that `/dev/zero` or a
//! runaway generator ends in a clear error instead of exhausted memory. Only regular files
//! are read when Portcullis finds a file by itself (a directory walk, a rules folder); a
//! path the user names may also be a pipe (`<(helm template …)`), still capped in bytes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Largest manifest file or stdin.
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024 * 1024;
/// Largest configuration file.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;
/// Largest rule test file (it holds manifests).
pub const MAX_RULE_TEST_BYTES: u64 = 64 * 1024 * 1024;
/// Largest image facts file or scanner report.
pub const MAX_FACTS_BYTES: u64 = 512 * 1024 * 1024;
/// Largest admission request file (the API server sends at most 3 MiB).
pub const MAX_REQUEST_BYTES: u64 = 16 * 1024 * 1024;

/// How a path reached Portcullis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Named by the user: pipes and devices are read too (bounded by the cap).
    Named,
    /// Found by Portcullis (a walk): only regular files.
    Found,
}

/// Reads at most `cap` bytes of `path`; more is an error. `Err` is a message without the
/// path (callers name the file).
pub fn read_bytes(path: &Path, cap: u64, origin: Origin) -> Result<Vec<u8>, String> {
    let mut file = match origin {
        Origin::Named => File::open(path),
        Origin::Found => open_nonblocking(path),
    }
    .map_err(|e| format!("cannot read: {}", io_message(&e)))?;
    // fstat on the handle: the file read is the file checked.
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read: {}", io_message(&e)))?;
    if metadata.is_dir() {
        return Err("cannot read: it is a directory".into());
    }
    if origin == Origin::Found && !metadata.is_file() {
        return Err("not a regular file (a pipe, socket or device)".into());
    }
    if metadata.is_file() && metadata.len() > cap {
        return Err(too_large(cap));
    }
    let capacity = if metadata.is_file() {
        metadata.len()
    } else {
        0
    };
    let mut bytes = Vec::with_capacity(capacity.min(cap) as usize + 1);
    // Through `take`: a file that grows while read, or a pipe, stops at the cap.
    (&mut file)
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {}", io_message(&e)))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(cap));
    }
    Ok(bytes)
}

/// Opens `path` for reading without waiting: `open` of a FIFO blocks until a writer comes,
/// so a FIFO found in a walk would stall the run before its type could be checked. Reads
/// of a regular file are not affected by the flag.
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// Opens `path` for reading if it is a regular file (checked on the open handle, and
/// without waiting for a FIFO's writer). `Err` is a message without the path.
pub fn open_regular(path: &Path) -> Result<File, String> {
    let file = open_nonblocking(path).map_err(|e| format!("cannot read: {}", io_message(&e)))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read: {}", io_message(&e)))?;
    if !metadata.is_file() {
        return Err(format!(
            "not a regular file ({}); only regular files are read",
            if metadata.is_dir() {
                "a directory"
            } else {
                "a pipe, socket or device"
            }
        ));
    }
    Ok(file)
}

/// Why a text could not be read; `line` is set for invalid UTF-8 (where it starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// What went wrong, without the path.
    pub message: String,
    /// For invalid UTF-8, the 1-based line where it starts.
    pub line: Option<usize>,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(line) = self.line {
            write!(f, " (line {line})")?;
        }
        Ok(())
    }
}

impl From<String> for ReadError {
    fn from(message: String) -> ReadError {
        ReadError {
            message,
            line: None,
        }
    }
}

/// [`read_bytes`] as UTF-8 text.
pub fn read_text(path: &Path, cap: u64, origin: Origin) -> Result<String, ReadError> {
    text_from(read_bytes(path, cap, origin)?)
}

/// At most `cap` bytes of `reader` (stdin) as UTF-8 text.
pub fn read_text_from(reader: impl Read, cap: u64) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    reader
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {}", io_message(&e)))?;
    if bytes.len() as u64 > cap {
        return Err(too_large(cap).into());
    }
    text_from(bytes)
}

fn text_from(bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        ReadError {
            message: "input is not valid UTF-8".into(),
            line: Some(valid.iter().filter(|&&b| b == b'\n').count() + 1),
        }
    })
}

fn too_large(cap: u64) -> String {
    if cap >= 1024 * 1024 {
        format!("larger than the {} MiB limit", cap / (1024 * 1024))
    } else {
        format!("larger than the {} KiB limit", cap / 1024)
    }
}

/// An I/O error in words, without the OS error number.
pub fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_for_devices_and_files() {
        let e = read_bytes(Path::new("/dev/zero"), 1024, Origin::Named).unwrap_err();
        assert!(e.contains("1 KiB limit"), "{e}");
        let e = read_bytes(Path::new("/dev/zero"), 1024, Origin::Found).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("portcullis-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("a.yaml");
        std::fs::write(&file, "x".repeat(2048)).unwrap();
        assert!(read_bytes(&file, 1024, Origin::Found).is_err());
        assert_eq!(read_bytes(&file, 4096, Origin::Found).unwrap().len(), 2048);
        std::fs::write(&file, b"ok\n\xff").unwrap();
        assert_eq!(
            read_text(&file, 4096, Origin::Named)
                .unwrap_err()
                .to_string(),
            "input is not valid UTF-8 (line 2)"
        );
        assert!(
            read_bytes(&dir, 4096, Origin::Named)
                .unwrap_err()
                .contains("directory")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_found_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = std::env::temp_dir().join(format!("portcullis-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("x.yaml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        let e = read_bytes(&fifo, 1024, Origin::Found).unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = open_regular(&fifo).unwrap_err();
        assert!(e.contains("a pipe, socket or device"), "{e}");
        assert!(open_regular(&dir).unwrap_err().contains("a directory"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
