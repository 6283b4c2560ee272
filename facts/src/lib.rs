//! Collects image facts for Portcullis (see `portcullis_engine::facts` for the model):
//! from a registry over the Distribution API ([`registry`]), an OCI image layout or a
//! `docker save` archive on disk ([`local`]), and Trivy or Grype reports ([`scan`]).
//!
//! Network and async code live here, not in the engine, which only reads facts files.

pub mod config;
pub mod layers;
pub mod local;
pub mod registry;
pub mod scan;
pub mod tarball;

use std::io::Read;

use sha2::{Digest, Sha256};

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

/// A reader that stops with an error past `cap` bytes and hashes what it reads, so a layer
/// is size-checked and digest-checked in the one pass that reads it.
pub struct CheckedReader<R> {
    inner: R,
    read: u64,
    cap: u64,
    hasher: Sha256,
}

impl<R: Read> CheckedReader<R> {
    pub fn new(inner: R, cap: u64) -> CheckedReader<R> {
        CheckedReader {
            inner,
            read: 0,
            cap,
            hasher: Sha256::new(),
        }
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// `sha256:<hex>` of what was read.
    pub fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
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
    }
}
