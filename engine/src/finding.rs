//! A finding: one rule violation on one container (or on a workload as a whole), with the
//! resource it is about and, when waived, the exemption that waived it.

use std::sync::Arc;

use serde::Serialize;

use crate::severity::Severity;

/// The workload a finding is about, and where it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub file: String,
    pub document: usize,
    pub line: usize,
}

/// One rule violation on one container (or on the workload as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Arc<str>,
    pub severity: Severity,
    pub message: String,
    /// Shared by every finding of the rule.
    pub remediation: Arc<str>,
    /// Shared by every finding on the resource.
    pub resource: Arc<ResourceRef>,
    pub container: Option<String>,
    pub path: String,
    /// Why the finding is exempted; exempted findings are not failures.
    #[serde(skip)]
    pub exemption: Option<AppliedExemption>,
}

/// The exemption that waived a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedExemption {
    pub reason: String,
    pub source: ExemptionSource,
}

/// Where an exemption is written. SARIF tells the two apart (`inSource` / `external`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExemptionSource {
    /// The `portcullis.dev/exempt` annotation on the resource itself.
    Annotation,
    /// Entry `index` (0-based) of the configuration's `exemptions`.
    Config { index: usize },
}

impl Finding {
    pub(crate) fn sort_key(&self) -> (&str, usize, &str, Option<&str>, &str, &str) {
        (
            &self.resource.file,
            self.resource.document,
            &self.rule,
            self.container.as_deref(),
            &self.path,
            &self.message,
        )
    }
}

/// What makes a finding the same finding from one run to the next: the rule, where the
/// resource is written (file) and which it is (kind, namespace, name), the container and
/// the field path. Not the message, which says more or less as a rule is edited, nor the
/// line, which moves with every edit above it. SARIF fingerprints, watch mode's diff and
/// configuration exemptions all go by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingId {
    pub rule: Arc<str>,
    pub file: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub container: Option<String>,
    pub path: String,
}

impl FindingId {
    /// A stable 64-bit hash of the identity (FNV-1a, written out: `std::hash` may change
    /// between Rust releases, fingerprints must not).
    pub fn hash64(&self) -> u64 {
        fnv1a(
            0,
            &[
                self.rule.as_bytes(),
                self.file.as_bytes(),
                self.kind.as_bytes(),
                self.namespace.as_bytes(),
                self.name.as_bytes(),
                self.container.as_deref().unwrap_or("").as_bytes(),
                self.path.as_bytes(),
            ],
        )
    }

    /// `hash64` as 16 hex digits.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", self.hash64())
    }
}

impl Finding {
    /// The finding's identity (see [`FindingId`]).
    pub fn id(&self) -> FindingId {
        let r = &self.resource;
        FindingId {
            rule: self.rule.clone(),
            file: r.file.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
            container: self.container.clone(),
            path: self.path.clone(),
        }
    }
}

/// 64-bit FNV-1a over `seed` and the parts, each ended by a 0 byte.
pub(crate) fn fnv1a(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut write = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    write(&seed.to_le_bytes());
    for part in parts {
        write(part);
        write(&[0]);
    }
    hash
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        // One part, no seed bytes: compare the core loop with published FNV-1a vectors by
        // hashing the raw bytes directly.
        let raw = |bytes: &[u8]| {
            let mut hash = FNV_OFFSET;
            for byte in bytes {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(FNV_PRIME);
            }
            hash
        };
        assert_eq!(raw(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(raw(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(raw(b"foobar"), 0x8594_4171_f739_67e8);
        // Parts are delimited, and the seed counts.
        assert_ne!(fnv1a(0, &[b"a", b"b"]), fnv1a(0, &[b"ab"]));
        assert_ne!(fnv1a(0, &[b"a"]), fnv1a(1, &[b"a"]));
    }
}
