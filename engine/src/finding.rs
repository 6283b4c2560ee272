//! A finding: one rule violation on one container (or on a workload as a whole), with the
//! resource it is about and, when waived, the exemption that waived it.

use std::sync::Arc;

use serde::Serialize;

use crate::severity::Severity;

/// The workload a finding is about, and where it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResourceRef {
    /// `Deployment`, `Pod`, …
    pub kind: String,
    /// The object's namespace, `default` when it has none.
    pub namespace: String,
    /// `metadata.name` (or `generateName`).
    pub name: String,
    /// The source's name: a path, `<stdin>`, or what the front door called it.
    pub file: String,
    /// 0-based index of the document in the source.
    pub document: usize,
    /// 1-based line where the resource starts (for an item of a `List`, the line of the
    /// item's first key).
    pub line: usize,
    /// For an item of a `List` (`kubectl get -o yaml` output, for one): its 0-based
    /// position among the objects the document holds. Items are resources of their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
}

/// One rule violation on one container (or on the workload as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The rule's id.
    pub rule: Arc<str>,
    /// The rule's severity, or what the configuration sets for it.
    pub severity: Severity,
    /// What is wrong, naming the container and values involved.
    pub message: String,
    /// Shared by every finding of the rule.
    pub remediation: Arc<str>,
    /// Shared by every finding on the resource.
    pub resource: Arc<ResourceRef>,
    /// The container, or `None` for a finding about the workload as a whole.
    pub container: Option<String>,
    /// Field path in the resource, e.g. `spec.template.spec.containers[0].image`; for a
    /// Dockerfile, the stage and instruction, e.g. `stages[1].from`.
    pub path: String,
    /// 1-based line of what the finding points at, when the input says (a Dockerfile's
    /// instruction); otherwise the resource's line is the place to look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Why the finding is exempted; exempted findings are not failures.
    #[serde(skip)]
    pub exemption: Option<AppliedExemption>,
}

/// The exemption that waived a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedExemption {
    /// The reason the exemption gives.
    pub reason: String,
    /// Where the exemption is written.
    pub source: ExemptionSource,
}

/// Where an exemption is written. SARIF tells the two apart (`inSource` / `external`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExemptionSource {
    /// The `portcullis.dev/exempt` annotation on the resource itself.
    Annotation,
    /// An entry of the configuration's `exemptions`.
    Config {
        /// 0-based position in the list.
        index: usize,
    },
}

impl Finding {
    pub(crate) fn sort_key(&self) -> (&str, usize, Option<usize>, &str, Option<&str>, &str, &str) {
        (
            &self.resource.file,
            self.resource.document,
            self.resource.item,
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
    /// The rule's id.
    pub rule: Arc<str>,
    /// The source the resource was read from.
    pub file: String,
    /// The resource's kind.
    pub kind: String,
    /// The resource's namespace.
    pub namespace: String,
    /// The resource's name.
    pub name: String,
    /// The container, if the finding is about one.
    pub container: Option<String>,
    /// The field path.
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
