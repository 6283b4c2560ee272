//! Images on disk: an OCI image layout directory, or a `docker save` tarball.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use portcullis_engine::facts::{
    DigestKind, ImageFacts, LayerFacts, is_digest, normalize_reference,
};
use portcullis_engine::image::ImageRef;
use serde::Deserialize;

use crate::layers::FilesystemScanner;
use crate::{CheckedReader, Collected, PlatformChoice, is_index_media_type, sha256_digest};

/// Manifests, indexes and configs are small; refuse to load a huge one into memory.
const MAX_METADATA_SIZE: u64 = 16 << 20;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    platform: Option<DescriptorPlatform>,
}

#[derive(Debug, Clone, Deserialize)]
struct DescriptorPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// Chooses the platform's manifest from an index's entries.
fn choose_platform<'a>(
    entries: &'a [Descriptor],
    platform: &PlatformChoice,
) -> Result<&'a Descriptor, String> {
    entries
        .iter()
        .find(|e| {
            e.platform.as_ref().is_some_and(|p| {
                platform.matches(&p.os, &p.architecture, p.variant.as_deref())
            })
        })
        .ok_or_else(|| {
            let offered: Vec<String> = entries
                .iter()
                .filter_map(|e| e.platform.as_ref())
                .map(|p| {
                    let mut text = format!("{}/{}", p.os, p.architecture);
                    if let Some(v) = &p.variant {
                        text.push('/');
                        text.push_str(v);
                    }
                    text
                })
                .collect();
            format!(
                "the image index has no manifest for {platform}; it has: {} (choose with --platform)",
                offered.join(", ")
            )
        })
}

// ---- OCI image layout ----

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
pub struct OciLayout {
    dir: PathBuf,
    index: Vec<Descriptor>,
}

impl OciLayout {
    pub fn open(dir: &Path) -> Result<OciLayout, String> {
        let marker = std::fs::read_to_string(dir.join("oci-layout")).map_err(|e| {
            format!(
                "{} is not an OCI image layout (no readable `oci-layout` file: {e})",
                dir.display()
            )
        })?;
        let marker: serde_json::Value = serde_json::from_str(&marker)
            .map_err(|e| format!("{}: invalid `oci-layout`: {e}", dir.display()))?;
        if marker.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(format!(
                "{}: unsupported `imageLayoutVersion` (1.0.0 is supported)",
                dir.display()
            ));
        }
        let index = std::fs::read(dir.join("index.json"))
            .map_err(|e| format!("{}: cannot read index.json: {e}", dir.display()))?;
        let index: Index = serde_json::from_slice(&index)
            .map_err(|e| format!("{}: invalid index.json: {e}", dir.display()))?;
        Ok(OciLayout {
            dir: dir.to_path_buf(),
            index: index.manifests.unwrap_or_default(),
        })
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, String> {
        if !is_digest(digest) {
            return Err(format!("unsupported or malformed digest `{digest}`"));
        }
        let (algorithm, hex) = digest.split_once(':').expect("checked by is_digest");
        Ok(self.dir.join("blobs").join(algorithm).join(hex))
    }

    /// A small blob, digest-checked.
    fn small_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>, String> {
        if descriptor.size > MAX_METADATA_SIZE {
            return Err(format!(
                "blob {} is {} bytes, too big for a manifest or config",
                descriptor.digest, descriptor.size
            ));
        }
        let path = self.blob_path(&descriptor.digest)?;
        let bytes =
            std::fs::read(&path).map_err(|e| format!("reading blob {}: {e}", descriptor.digest))?;
        if sha256_digest(&bytes) != descriptor.digest {
            return Err(format!(
                "blob {} does not match its digest: the layout is corrupt",
                descriptor.digest
            ));
        }
        Ok(bytes)
    }

    /// Collects the images named by `references` (matched against the tags the layout
    /// records), or every image in the layout when there are none.
    pub fn collect(
        &self,
        references: &[String],
        platform: &PlatformChoice,
        max_layer_size: u64,
    ) -> Vec<Collected> {
        if references.is_empty() {
            return self
                .index
                .iter()
                .map(|descriptor| {
                    let name = descriptor.annotations.get(REF_NAME).cloned();
                    let label = format!(
                        "{}{}",
                        self.dir.display(),
                        name.as_deref().map(|n| format!(":{n}")).unwrap_or_default()
                    );
                    // A ref name that is a whole reference says what the image is called.
                    let reference = name
                        .as_deref()
                        .filter(|n| n.contains('/'))
                        .and_then(normalize_reference);
                    Collected {
                        label,
                        result: self.collect_descriptor(
                            descriptor,
                            reference,
                            platform,
                            max_layer_size,
                        ),
                    }
                })
                .collect();
        }
        references
            .iter()
            .map(|reference| Collected {
                label: reference.clone(),
                result: self.find(reference).and_then(|descriptor| {
                    self.collect_descriptor(
                        descriptor,
                        normalize_reference(reference),
                        platform,
                        max_layer_size,
                    )
                }),
            })
            .collect()
    }

    /// The index entry for `reference`: by digest when it has one, else by its tag (or
    /// the whole reference) in `org.opencontainers.image.ref.name`.
    fn find(&self, reference: &str) -> Result<&Descriptor, String> {
        let parsed = ImageRef::parse(reference).map_err(|e| e.to_string())?;
        let tag = parsed.tag.clone().unwrap_or_else(|| "latest".to_string());
        let found = self.index.iter().find(|d| match &parsed.digest {
            Some(digest) => d.digest == *digest,
            None => d.annotations.get(REF_NAME).is_some_and(|name| {
                *name == tag
                    || *name == reference
                    || normalize_reference(name) == normalize_reference(reference)
            }),
        });
        found.ok_or_else(|| {
            let names: Vec<&str> = self
                .index
                .iter()
                .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
                .collect();
            format!(
                "no image `{reference}` in the OCI layout {}; it has: {}",
                self.dir.display(),
                if names.is_empty() {
                    "no named images".to_string()
                } else {
                    names.join(", ")
                }
            )
        })
    }

    fn collect_descriptor(
        &self,
        descriptor: &Descriptor,
        reference: Option<String>,
        platform: &PlatformChoice,
        max_layer_size: u64,
    ) -> Result<(String, ImageFacts), String> {
        let bytes = self.small_blob(descriptor)?;
        let header: Index = serde_json::from_slice(&bytes)
            .map_err(|e| format!("manifest {}: {e}", descriptor.digest))?;
        let is_index = is_index_media_type(&descriptor.media_type)
            || header
                .media_type
                .as_deref()
                .is_some_and(is_index_media_type)
            || header.manifests.is_some();
        let mut index_digests = Vec::new();
        let (manifest_descriptor, manifest_bytes) = if is_index {
            let entries = header.manifests.unwrap_or_default();
            let chosen = choose_platform(&entries, platform)?.clone();
            index_digests.push(descriptor.digest.clone());
            let bytes = self.small_blob(&chosen)?;
            (chosen, bytes)
        } else {
            (descriptor.clone(), bytes)
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| format!("manifest {}: {e}", manifest_descriptor.digest))?;
        let config = self.small_blob(&manifest.config)?;
        let mut scanner = FilesystemScanner::with_max_layer_size(max_layer_size);
        let mut layers = Vec::new();
        for layer in &manifest.layers {
            check_layer_size(layer, max_layer_size)?;
            let file = File::open(self.blob_path(&layer.digest)?)
                .map_err(|e| format!("layer {}: {e}", layer.digest))?;
            let mut reader = CheckedReader::new(file, max_layer_size);
            scanner
                .add_layer(&mut reader)
                .map_err(|e| format!("layer {}: {e}", layer.digest))?;
            if reader.digest() != layer.digest {
                return Err(format!(
                    "layer {} does not match its digest: the layout is corrupt",
                    layer.digest
                ));
            }
            layers.push(LayerFacts {
                digest: layer.digest.clone(),
                size: layer.size,
            });
        }
        let facts = assemble(
            &config,
            manifest.config.digest.clone(),
            layers,
            scanner,
            reference,
            index_digests,
        )?;
        Ok((manifest_descriptor.digest, facts))
    }
}

fn check_layer_size(layer: &Descriptor, cap: u64) -> Result<(), String> {
    if layer.size > cap {
        return Err(format!(
            "layer {} is {} bytes, over the cap of {cap} bytes (--max-layer-size)",
            layer.digest, layer.size
        ));
    }
    Ok(())
}

/// Image facts from a config blob, the layers' sizes and the scanned filesystem.
pub(crate) fn assemble(
    config: &[u8],
    config_digest: String,
    layers: Vec<LayerFacts>,
    scanner: FilesystemScanner,
    reference: Option<String>,
    index_digests: Vec<String>,
) -> Result<ImageFacts, String> {
    let (platform, config) = crate::config::parse_config(config)?;
    Ok(ImageFacts {
        references: reference.into_iter().collect(),
        index_digests: index_digests.into_iter().collect(),
        config_digest: Some(config_digest),
        platform,
        config: Some(config),
        layers: Some(layers),
        filesystem: Some(scanner.finish()),
        ..ImageFacts::default()
    })
}

// ---- docker save ----

#[derive(Debug, Deserialize)]
struct ArchiveImage {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// A `docker save` (or `skopeo copy … docker-archive:`) tarball. It keeps no registry
/// manifest, so its images are keyed by config digest (the image id) unless the reference
/// asked for names a digest.
pub struct DockerArchive {
    path: PathBuf,
    /// Regular files: path -> (offset of the data, size).
    files: BTreeMap<String, (u64, u64)>,
    images: Vec<ArchiveImage>,
}

impl DockerArchive {
    pub fn open(path: &Path) -> Result<DockerArchive, String> {
        let display = path.display();
        let file = File::open(path).map_err(|e| format!("{display}: {e}"))?;
        let mut archive = tar::Archive::new(file);
        let mut files = BTreeMap::new();
        let mut manifest = None;
        // One pass to learn where each file's data sits; layers are then read in layer
        // order by seeking, without unpacking anything.
        for entry in archive
            .entries_with_seek()
            .map_err(|e| format!("{display}: not a tar archive: {e}"))?
        {
            let mut entry = entry.map_err(|e| format!("{display}: not a tar archive: {e}"))?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let name = String::from_utf8_lossy(&entry.path_bytes())
                .trim_start_matches("./")
                .to_string();
            let size = entry.size();
            if name == "manifest.json" {
                if size > MAX_METADATA_SIZE {
                    return Err(format!("{display}: manifest.json is too big"));
                }
                let mut text = Vec::new();
                entry
                    .read_to_end(&mut text)
                    .map_err(|e| format!("{display}: {e}"))?;
                manifest = Some(text);
            }
            files.insert(name, (entry.raw_file_position(), size));
        }
        let manifest = manifest
            .ok_or_else(|| format!("{display}: no manifest.json: not a `docker save` archive"))?;
        let images: Vec<ArchiveImage> = serde_json::from_slice(&manifest)
            .map_err(|e| format!("{display}: invalid manifest.json: {e}"))?;
        Ok(DockerArchive {
            path: path.to_path_buf(),
            files,
            images,
        })
    }

    fn open_file(&self, name: &str) -> Result<std::io::Take<File>, String> {
        let (offset, size) = self
            .files
            .get(name.trim_start_matches("./"))
            .copied()
            .ok_or_else(|| {
                format!(
                    "{}: `{name}` is missing from the archive",
                    self.path.display()
                )
            })?;
        let mut file =
            File::open(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(file.take(size))
    }

    /// Collects the images named by `references` (matched against the archive's tags), or
    /// every image in it when there are none.
    pub fn collect(&self, references: &[String], max_layer_size: u64) -> Vec<Collected> {
        if references.is_empty() {
            return self
                .images
                .iter()
                .map(|image| Collected {
                    label: format!(
                        "{}:{}",
                        self.path.display(),
                        image
                            .repo_tags
                            .iter()
                            .flatten()
                            .next()
                            .cloned()
                            .unwrap_or_else(|| image.config.clone())
                    ),
                    result: self.collect_image(image, None, max_layer_size),
                })
                .collect();
        }
        references
            .iter()
            .map(|reference| {
                let wanted = normalize_reference(reference);
                let without_digest = ImageRef::parse(reference)
                    .ok()
                    .map(|r| format!("{}:{}", r.name, r.tag.as_deref().unwrap_or("latest")));
                let image = self.images.iter().find(|image| {
                    image.repo_tags.iter().flatten().any(|tag| {
                        let tag = normalize_reference(tag);
                        tag.is_some() && (tag == wanted || tag == without_digest)
                    })
                });
                let result = match image {
                    Some(image) => self.collect_image(image, Some(reference), max_layer_size),
                    // A single untagged image is what was meant.
                    None if self.images.len() == 1
                        && self.images[0].repo_tags.iter().flatten().next().is_none() =>
                    {
                        self.collect_image(&self.images[0], Some(reference), max_layer_size)
                    }
                    None => Err(format!(
                        "no image `{reference}` in {}; it has: {}",
                        self.path.display(),
                        self.images
                            .iter()
                            .flat_map(|i| i.repo_tags.iter().flatten())
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                };
                Collected {
                    label: reference.clone(),
                    result,
                }
            })
            .collect()
    }

    fn collect_image(
        &self,
        image: &ArchiveImage,
        reference: Option<&String>,
        max_layer_size: u64,
    ) -> Result<(String, ImageFacts), String> {
        let mut config = Vec::new();
        self.open_file(&image.config)?
            .take(MAX_METADATA_SIZE)
            .read_to_end(&mut config)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let config_digest = sha256_digest(&config);
        let mut scanner = FilesystemScanner::with_max_layer_size(max_layer_size);
        let mut layers = Vec::new();
        for name in &image.layers {
            let mut reader = CheckedReader::new(self.open_file(name)?, max_layer_size);
            scanner
                .add_layer(&mut reader)
                .map_err(|e| format!("layer {name}: {e}"))?;
            layers.push(LayerFacts {
                size: reader.bytes_read(),
                digest: reader.digest(),
            });
        }
        let parsed = reference.and_then(|r| ImageRef::parse(r).ok());
        let mut references: Vec<String> = image
            .repo_tags
            .iter()
            .flatten()
            .filter_map(|t| normalize_reference(t))
            .collect();
        if let Some(r) = &parsed {
            references.push(format!(
                "{}:{}",
                r.name,
                r.tag.as_deref().unwrap_or("latest")
            ));
        }
        let mut facts = assemble(
            &config,
            config_digest.clone(),
            layers,
            scanner,
            None,
            Vec::new(),
        )?;
        facts.references = references.into_iter().collect();
        // The archive has no manifest: its digest is known only when the reference says it.
        match parsed.and_then(|r| r.digest) {
            Some(digest) => Ok((digest, facts)),
            None => {
                facts.digest_kind = DigestKind::Config;
                Ok((config_digest, facts))
            }
        }
    }
}
