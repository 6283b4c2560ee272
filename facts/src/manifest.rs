//! Image manifests and indexes (OCI, and Docker's v2 manifest and manifest list), as a
//! registry or an OCI layout holds them, and the walk from an index to the manifest of one
//! platform: nested indexes are followed, to [`MAX_INDEX_DEPTH`] levels and
//! [`MAX_INDEXES_READ`] indexes.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{PlatformChoice, is_index_media_type};

/// Largest manifest or index: 4 MiB, the limit of the reference registry (distribution's
/// `maxManifestBodySize`) and of containerd; real ones are a few KiB.
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Indexes nested in indexes followed below the first one: OCI allows nesting, real
/// images nest once at most.
pub const MAX_INDEX_DEPTH: usize = 4;
/// Indexes read in all to find one image's manifest.
pub const MAX_INDEXES_READ: usize = 16;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub platform: Option<DescriptorPlatform>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DescriptorPlatform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl std::fmt::Display for DescriptorPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// A manifest or an index, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(default)]
    schema_version: Option<u64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

/// One platform's image manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// What a manifest document is.
#[derive(Debug)]
pub enum Parsed {
    Index(Vec<Descriptor>),
    Manifest(Manifest),
}

/// Parses a manifest or index; `media_type` is what the registry or the referring
/// descriptor says it is (may be empty).
pub fn parse(bytes: &[u8], media_type: &str) -> Result<Parsed, String> {
    let document: Document =
        serde_json::from_slice(bytes).map_err(|e| format!("not an image manifest: {e}"))?;
    if document.schema_version == Some(1) {
        return Err("Docker schema 1 manifests are not supported".to_string());
    }
    let is_index = is_index_media_type(media_type)
        || document
            .media_type
            .as_deref()
            .is_some_and(is_index_media_type)
        || (document.manifests.is_some() && document.config.is_none());
    if is_index {
        return Ok(Parsed::Index(document.manifests.unwrap_or_default()));
    }
    let config = document.config.ok_or_else(|| {
        format!(
            "not an image manifest or index (no `config` and no `manifests`; media type `{}`)",
            document.media_type.as_deref().unwrap_or(media_type)
        )
    })?;
    Ok(Parsed::Manifest(Manifest {
        config,
        layers: document.layers.unwrap_or_default(),
    }))
}

/// The manifest an image reference leads to.
#[derive(Debug)]
pub struct Resolved {
    pub manifest: Manifest,
    /// Its digest: the key of its facts.
    pub digest: String,
    /// The indexes walked through to reach it, outermost first.
    pub index_digests: Vec<String>,
}

/// From a document (a manifest, or an index to walk with `fetch`, which returns the
/// digest-checked bytes a descriptor names) to the manifest for `platform`. In each index,
/// entries for the platform come first (a manifest, or a nested index to walk), then
/// nested indexes that name no platform.
pub fn resolve(
    bytes: &[u8],
    media_type: &str,
    digest: &str,
    platform: &PlatformChoice,
    fetch: &mut dyn FnMut(&Descriptor) -> Result<Vec<u8>, String>,
) -> Result<Resolved, String> {
    let entries = match parse(bytes, media_type)? {
        Parsed::Manifest(manifest) => {
            return Ok(Resolved {
                manifest,
                digest: digest.to_string(),
                index_digests: Vec::new(),
            });
        }
        Parsed::Index(entries) => entries,
    };
    let mut walk = Walk {
        platform,
        fetch,
        offered: Vec::new(),
        indexes_read: 1,
    };
    let mut chain = vec![digest.to_string()];
    if let Some(found) = walk.search(&entries, &mut chain)? {
        return Ok(found);
    }
    let mut offered = walk.offered;
    offered.sort();
    offered.dedup();
    let nested = walk.indexes_read - 1;
    Err(format!(
        "the image index has no manifest for {platform}{}; it has: {} (choose with --platform)",
        match nested {
            0 => String::new(),
            1 => " (nor has the index nested in it)".to_string(),
            n => format!(" (nor have the {n} indexes nested in it)"),
        },
        if offered.is_empty() {
            "no platform-specific manifest".to_string()
        } else {
            offered.join(", ")
        }
    ))
}

struct Walk<'a> {
    platform: &'a PlatformChoice,
    fetch: &'a mut dyn FnMut(&Descriptor) -> Result<Vec<u8>, String>,
    /// Platforms seen, for the message when none fits.
    offered: Vec<String>,
    indexes_read: usize,
}

impl Walk<'_> {
    fn search(
        &mut self,
        entries: &[Descriptor],
        chain: &mut Vec<String>,
    ) -> Result<Option<Resolved>, String> {
        let matching = entries.iter().filter(|e| {
            e.platform.as_ref().is_some_and(|p| {
                self.platform
                    .matches(&p.os, &p.architecture, p.variant.as_deref())
            })
        });
        let unnamed_indexes = entries
            .iter()
            .filter(|e| e.platform.is_none() && is_index_media_type(&e.media_type));
        self.offered.extend(
            entries
                .iter()
                .filter_map(|e| e.platform.as_ref().map(ToString::to_string)),
        );
        let candidates: Vec<&Descriptor> = matching.chain(unnamed_indexes).collect();
        for entry in candidates {
            let bytes = (self.fetch)(entry)?;
            match parse(&bytes, &entry.media_type).map_err(|e| format!("{}: {e}", entry.digest))? {
                Parsed::Manifest(manifest) => {
                    if entry.platform.is_none() {
                        // An unnamed entry must be an index; a manifest here is not ours.
                        continue;
                    }
                    return Ok(Some(Resolved {
                        manifest,
                        digest: entry.digest.clone(),
                        index_digests: chain.clone(),
                    }));
                }
                Parsed::Index(nested) => {
                    if chain.len() > MAX_INDEX_DEPTH {
                        return Err(format!(
                            "image indexes nested more than {MAX_INDEX_DEPTH} deep (at {}): not followed further",
                            entry.digest
                        ));
                    }
                    self.indexes_read += 1;
                    if self.indexes_read > MAX_INDEXES_READ {
                        return Err(format!(
                            "more than {MAX_INDEXES_READ} image indexes to walk for one image: not followed further"
                        ));
                    }
                    chain.push(entry.digest.clone());
                    if let Some(found) = self.search(&nested, chain)? {
                        return Ok(Some(found));
                    }
                    chain.pop();
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str, Option<&str>)]) -> Vec<u8> {
        let manifests: Vec<serde_json::Value> = entries
            .iter()
            .map(|(media, digest, platform)| {
                let mut entry =
                    serde_json::json!({"mediaType": media, "digest": digest, "size": 1});
                if let Some(p) = platform {
                    let (os, arch) = p.split_once('/').unwrap();
                    entry["platform"] = serde_json::json!({"os": os, "architecture": arch});
                }
                entry
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests})).unwrap()
    }

    fn manifest() -> Vec<u8> {
        br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"x","digest":"sha256:c","size":2},"layers":[]}"#
            .to_vec()
    }

    #[test]
    fn nested_indexes_are_followed_with_their_digests() {
        let blobs: BTreeMap<&str, Vec<u8>> = [
            (
                "sha256:inner",
                index(&[
                    (OCI_MANIFEST, "sha256:arm", Some("linux/arm64")),
                    (OCI_MANIFEST, "sha256:amd", Some("linux/amd64")),
                ]),
            ),
            ("sha256:amd", manifest()),
        ]
        .into_iter()
        .collect();
        let root = index(&[(OCI_INDEX, "sha256:inner", None)]);
        let mut fetch = |d: &Descriptor| {
            blobs
                .get(d.digest.as_str())
                .cloned()
                .ok_or_else(|| format!("no {}", d.digest))
        };
        let found = resolve(
            &root,
            OCI_INDEX,
            "sha256:root",
            &PlatformChoice::default(),
            &mut fetch,
        )
        .unwrap();
        assert_eq!(found.digest, "sha256:amd");
        assert_eq!(found.index_digests, vec!["sha256:root", "sha256:inner"]);
        let s390x = PlatformChoice::parse("linux/s390x").unwrap();
        let error = resolve(&root, OCI_INDEX, "sha256:root", &s390x, &mut fetch).unwrap_err();
        assert!(
            error.contains("no manifest for linux/s390x (nor has the index nested in it)")
                && error.contains("linux/amd64, linux/arm64"),
            "{error}"
        );
    }

    #[test]
    fn nesting_is_bounded() {
        // Every index names itself again, one level down.
        let mut fetch =
            |_: &Descriptor| Ok(index(&[(OCI_INDEX, "sha256:again", Some("linux/amd64"))]));
        let root = index(&[(OCI_INDEX, "sha256:again", Some("linux/amd64"))]);
        let error = resolve(
            &root,
            "",
            "sha256:root",
            &PlatformChoice::default(),
            &mut fetch,
        )
        .unwrap_err();
        assert!(error.contains("nested more than 4 deep"), "{error}");
    }

    #[test]
    fn documents_say_what_they_are() {
        assert!(matches!(
            parse(&manifest(), "").unwrap(),
            Parsed::Manifest(_)
        ));
        assert!(
            parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, "")
                .unwrap_err()
                .contains("schema 1")
        );
        assert!(
            parse(br#"{"schemaVersion":2}"#, "")
                .unwrap_err()
                .contains("no `config`")
        );
        assert!(parse(b"[1]", "").is_err());
    }
}
