//! Reading scanner reports from disk, capped: reports are untrusted input.

use std::io::Read;
use std::path::Path;

/// Reports bigger than this are refused (the same cap `portcullis check` puts on inputs);
/// Trivy reports of large images run to tens of MiB.
pub const MAX_REPORT_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a report as UTF-8 text, refusing files over [`MAX_REPORT_BYTES`] before reading
/// them whole.
pub fn read_report(path: &Path) -> Result<String, String> {
    read_capped(path, MAX_REPORT_BYTES)
}

pub(crate) fn read_capped(path: &Path, cap: u64) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "the report is bigger than {} MiB; not read",
            cap >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|e| format!("the report is not UTF-8 text: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_capped() {
        let dir = std::env::temp_dir().join(format!("portcullis-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        std::fs::write(&path, "{\"a\": 1}").unwrap();
        assert_eq!(read_capped(&path, 8).unwrap(), "{\"a\": 1}");
        let error = read_capped(&path, 7).unwrap_err();
        assert!(error.contains("bigger than"), "{error}");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_capped(&path, 8).unwrap_err().contains("UTF-8"));
        assert!(read_report(&dir.join("missing.json")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
