//! Reading scanner reports from disk: regular files only, capped (reports are untrusted).

use std::path::Path;

/// Reports bigger than this are refused; Trivy reports of large images run to tens of MiB.
pub const MAX_REPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a report as UTF-8 text: a regular file (a FIFO is refused without waiting for a
/// writer) of at most [`MAX_REPORT_BYTES`]. The message does not repeat the path.
pub fn read_report(path: &Path) -> Result<String, String> {
    crate::read_regular_text(path, MAX_REPORT_BYTES, "a scanner report").map_err(|message| {
        let prefix = format!("{}: ", path.display());
        message
            .strip_prefix(&prefix)
            .map(str::to_string)
            .unwrap_or(message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_only() {
        let dir = std::env::temp_dir().join(format!("portcullis-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        assert_eq!(read_report(&path).unwrap(), "{\"a\": 1}");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_report(&path).unwrap_err().contains("UTF-8"));
        assert!(read_report(&dir.join("missing.json")).is_err());
        let error = read_report(&dir).unwrap_err();
        assert!(error.starts_with("not a regular file"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
