//! Collects image facts for Portcullis (see `portcullis_engine::facts` for the model):
//! from a registry over the Distribution API ([`registry`]), an OCI image layout or a
//! `docker save` archive on disk ([`local`]), and Trivy, Grype, Clair v4 or Snyk reports
//! ([`scan`]).
//!
//! Network and async code live here, not in the engine, which only reads facts files.
//!
//! | module | what |
//! |---|---|
//! | [`registry`] | the Distribution API client: bounded requests, auth, the facts cache |
//! | [`local`] | OCI image layouts and `docker save` archives |
//! | [`manifest`] | manifests and indexes, and the walk to one platform's manifest |
//! | [`layers`] | the filesystem facts of layer tarballs |
//! | [`tarball`] | the tar reader those use, with Go's `archive/tar` rules and caps |
//! | [`config`] | the image config blob |
//! | [`scan`] | Trivy and Grype reports |
//!
//! Everything read is untrusted and bounded: each limit is a `MAX_…` constant next to
//! the code it bounds, and a limit that trips is an error for that image or file only.

pub mod config;
pub mod layers;
pub mod local;
pub mod manifest;
pub mod registry;
pub mod scan;
pub mod signatures;
pub mod tarball;

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256, Sha512};

pub use portcullis_engine::facts::{FactsFile, ImageFacts};

/// The platform to pick from a multi-platform index: `linux/amd64` unless asked otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformChoice {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for PlatformChoice {
    fn default() -> Self {
        PlatformChoice {
            os: "linux".to_string(),
            architecture: "amd64".to_string(),
            variant: None,
        }
    }
}

impl PlatformChoice {
    /// `os/arch` or `os/arch/variant`.
    pub fn parse(text: &str) -> Result<PlatformChoice, String> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(PlatformChoice {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(PlatformChoice {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: Some(variant.to_string()),
                })
            }
            _ => Err(format!(
                "platform `{text}` is not `os/arch` or `os/arch/variant` (e.g. `linux/arm64`)"
            )),
        }
    }

    /// Whether an index entry's platform is this one (a variant is compared only when
    /// asked for).
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        self.os == os
            && self.architecture == architecture
            && self
                .variant
                .as_deref()
                .is_none_or(|wanted| Some(wanted) == variant)
    }
}

impl std::fmt::Display for PlatformChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Default for `--max-layer-size`: 1 GiB, as stored (compressed).
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 1 << 30;
/// Largest image config blob: 16 MiB (real ones are a few KiB; long histories and labels
/// reach a few hundred).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The outcome of collecting one image: what was asked for, and the facts under their key
/// or why there are none.
#[derive(Debug)]
pub struct Collected {
    pub label: String,
    pub result: Result<(String, ImageFacts), String>,
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `digest` is one this crate can check and put in a URL: `sha256:` with 64 or
/// `sha512:` with 128 lower-case hex digits.
pub fn is_supported_digest(digest: &str) -> bool {
    let hex_of = |hex: &str, len: usize| {
        hex.len() == len
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match digest.split_once(':') {
        Some(("sha256", hex)) => hex_of(hex, 64),
        Some(("sha512", hex)) => hex_of(hex, 128),
        _ => false,
    }
}

/// `digest` of `bytes` with the algorithm `like` names (`sha256:` or `sha512:`).
pub fn digest_like(like: &str, bytes: &[u8]) -> String {
    let mut hasher = Hasher::for_digest(like);
    hasher.update(bytes);
    hasher.finish()
}

#[derive(Clone)]
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    /// The hasher for `digest`'s algorithm; SHA-256 for anything else.
    fn for_digest(digest: &str) -> Hasher {
        if digest.starts_with("sha512:") {
            Hasher::Sha512(Sha512::new())
        } else {
            Hasher::Sha256(Sha256::new())
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => format!("sha256:{}", hex::encode(h.finalize())),
            Hasher::Sha512(h) => format!("sha512:{}", hex::encode(h.finalize())),
        }
    }
}

/// A reader that stops with an error past `cap` bytes and hashes what it reads, so a layer
/// is size-checked and digest-checked in the one pass that reads it.
pub struct CheckedReader<R> {
    inner: R,
    read: u64,
    cap: u64,
    hasher: Hasher,
}

impl<R: Read> CheckedReader<R> {
    /// Hashes with SHA-256.
    pub fn new(inner: R, cap: u64) -> CheckedReader<R> {
        CheckedReader::for_digest(inner, cap, "sha256:")
    }

    /// Hashes with the algorithm of `expected` (`sha256:` or `sha512:`).
    pub fn for_digest(inner: R, cap: u64, expected: &str) -> CheckedReader<R> {
        CheckedReader {
            inner,
            read: 0,
            cap,
            hasher: Hasher::for_digest(expected),
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// `<algorithm>:<hex>` of what was read.
    pub fn digest(self) -> String {
        self.hasher.finish()
    }
}

impl<R: Read> Read for CheckedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::other(format!(
                "the layer is bigger than the cap of {} (--max-layer-size)",
                human_size(self.cap)
            )));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads a file Portcullis was pointed at (a facts file, a report, a docker config, a file
/// of an OCI layout): it must be a regular file, and at most `cap` bytes. A FIFO or a
/// device is refused without being read (and without waiting for a writer: it is opened
/// non-blocking); a file growing while read stops at the cap. `what` names the file in
/// the size error.
pub fn read_regular_file(path: &Path, cap: u64, what: &str) -> Result<Vec<u8>, String> {
    let mut file = open_regular_file(path)?;
    let mut bytes = Vec::new();
    (&mut file)
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if bytes.len() as u64 > cap {
        return Err(format!(
            "{}: larger than {}, the cap for {what}",
            path.display(),
            human_size(cap)
        ));
    }
    Ok(bytes)
}

/// [`read_regular_file`] as UTF-8 text.
pub fn read_regular_text(path: &Path, cap: u64, what: &str) -> Result<String, String> {
    String::from_utf8(read_regular_file(path, cap, what)?)
        .map_err(|e| format!("{}: not UTF-8 text: {e}", path.display()))
}

/// Opens `path` for reading if it is a regular file (checked on the open handle, without
/// waiting for a FIFO's writer).
pub fn open_regular_file(path: &Path) -> Result<std::fs::File, String> {
    portcullis_engine::files::open_regular(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// `1.5 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Media types of multi-platform indexes (OCI and Docker's manifest list).
pub(crate) fn is_index_media_type(media_type: &str) -> bool {
    media_type == "application/vnd.oci.image.index.v1+json"
        || media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p = PlatformChoice::parse("linux/arm64/v8").unwrap();
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(!p.matches("linux", "arm64", None));
        let p = PlatformChoice::parse("linux/arm64").unwrap();
        assert!(p.matches("linux", "arm64", Some("v8")));
        assert!(PlatformChoice::parse("linux").is_err());
        assert_eq!(PlatformChoice::default().to_string(), "linux/amd64");
    }

    #[test]
    fn checked_reader_caps_and_hashes() {
        let mut ok = CheckedReader::new(&b"abc"[..], 3);
        std::io::copy(&mut ok, &mut std::io::sink()).unwrap();
        assert_eq!(ok.digest(), sha256_digest(b"abc"));
        let mut over = CheckedReader::new(&b"abcd"[..], 3);
        let error = std::io::copy(&mut over, &mut std::io::sink()).unwrap_err();
        assert!(error.to_string().contains("cap"), "{error}");
        let mut sha512 = CheckedReader::for_digest(&b"abc"[..], 3, "sha512:");
        std::io::copy(&mut sha512, &mut std::io::sink()).unwrap();
        let digest = sha512.digest();
        assert!(is_supported_digest(&digest), "{digest}");
        assert_eq!(digest, digest_like("sha512:", b"abc"));
        assert!(!is_supported_digest("sha256:../../etc"));
        assert!(!is_supported_digest("md5:abc"));
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read_and_within_their_cap() {
        let error = read_regular_file(Path::new("/dev/zero"), 1024, "a test").unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        let dir =
            std::env::temp_dir().join(format!("portcullis-facts-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        if status.is_ok_and(|s| s.success()) {
            // Returns at once: the FIFO has no writer, and is not waited for.
            let error = read_regular_file(&fifo, 1024, "a test").unwrap_err();
            assert!(error.contains("not a regular file"), "{error}");
        }
        let file = dir.join("big");
        std::fs::write(&file, vec![b'x'; 2048]).unwrap();
        let error = read_regular_file(&file, 1024, "a test file").unwrap_err();
        assert!(
            error.contains("1.0 KiB, the cap for a test file"),
            "{error}"
        );
        assert_eq!(read_regular_file(&file, 2048, "x").unwrap().len(), 2048);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
