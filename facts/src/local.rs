//! Images on disk: an OCI image layout directory, or a `docker save` tarball.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use portcullis_engine::ImageRef;
use portcullis_engine::facts::{DigestKind, ImageFacts, LayerFacts, normalize_reference};
use serde::Deserialize;

use crate::layers::FilesystemScanner;
use crate::manifest::{self, Descriptor, MAX_MANIFEST_BYTES};
use crate::tarball::{Kind, Seeked, TarReader};
use crate::{
    CheckedReader, Collected, MAX_CONFIG_BYTES, PlatformChoice, digest_like, human_size,
    is_supported_digest, read_regular_file,
};

/// Largest `index.json` of an OCI layout: 16 MiB (tens of thousands of tagged images).
pub const MAX_LAYOUT_INDEX_BYTES: u64 = 16 << 20;
/// Largest `oci-layout` marker file (it holds one small JSON object).
const MAX_LAYOUT_MARKER_BYTES: u64 = 64 << 10;
/// Largest `manifest.json` of a `docker save` archive.
pub const MAX_ARCHIVE_MANIFEST_BYTES: u64 = 16 << 20;
/// Names of the files of a `docker save` archive kept to find its layers: 16 MiB (an
/// archive has a few files per layer).
pub const MAX_ARCHIVE_INDEX_BYTES: usize = 16 << 20;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Deserialize)]
struct LayoutIndex {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
}

// ---- OCI image layout ----

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
pub struct OciLayout {
    dir: PathBuf,
    index: Vec<Descriptor>,
}

impl OciLayout {
    /// Opens a layout: its `oci-layout` marker and `index.json` (regular files within
    /// their caps).
    pub fn open(dir: &Path) -> Result<OciLayout, String> {
        let marker = read_regular_file(
            &dir.join("oci-layout"),
            MAX_LAYOUT_MARKER_BYTES,
            "an `oci-layout` file",
        )
        .map_err(|e| format!("{} is not an OCI image layout ({e})", dir.display()))?;
        let marker: serde_json::Value = serde_json::from_slice(&marker)
            .map_err(|e| format!("{}: invalid `oci-layout`: {e}", dir.display()))?;
        if marker.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
            return Err(format!(
                "{}: unsupported `imageLayoutVersion` (1.0.0 is supported)",
                dir.display()
            ));
        }
        let index = read_regular_file(
            &dir.join("index.json"),
            MAX_LAYOUT_INDEX_BYTES,
            "an OCI layout index",
        )?;
        let index: LayoutIndex = serde_json::from_slice(&index)
            .map_err(|e| format!("{}: invalid index.json: {e}", dir.display()))?;
        Ok(OciLayout {
            dir: dir.to_path_buf(),
            index: index.manifests.unwrap_or_default(),
        })
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, String> {
        if !is_supported_digest(digest) {
            return Err(format!("unsupported or malformed digest `{digest}`"));
        }
        let (algorithm, hex) = digest.split_once(':').expect("checked above");
        Ok(self.dir.join("blobs").join(algorithm).join(hex))
    }

    /// A manifest, index or config blob: a regular file within `cap` and its descriptor's
    /// size, digest-checked.
    fn small_blob(&self, descriptor: &Descriptor, cap: u64, what: &str) -> Result<Vec<u8>, String> {
        if descriptor.size > cap {
            return Err(format!(
                "{what} {} is {}, over the cap of {} for a {what}",
                descriptor.digest,
                human_size(descriptor.size),
                human_size(cap)
            ));
        }
        let path = self.blob_path(&descriptor.digest)?;
        let bytes = read_regular_file(
            &path,
            descriptor.size,
            &format!("this {what} (its descriptor's size)"),
        )?;
        if digest_like(&descriptor.digest, &bytes) != descriptor.digest {
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
        let bytes = self.small_blob(descriptor, MAX_MANIFEST_BYTES, "manifest")?;
        let mut fetch = |d: &Descriptor| self.small_blob(d, MAX_MANIFEST_BYTES, "manifest");
        let resolved = manifest::resolve(
            &bytes,
            &descriptor.media_type,
            &descriptor.digest,
            platform,
            &mut fetch,
        )
        .map_err(|e| format!("manifest {}: {e}", descriptor.digest))?;
        let manifest = resolved.manifest;
        let config = self.small_blob(&manifest.config, MAX_CONFIG_BYTES, "config")?;
        let mut scanner = FilesystemScanner::with_max_layer_size(max_layer_size);
        let mut layers = Vec::new();
        for layer in &manifest.layers {
            check_layer_size(layer, max_layer_size)?;
            let file = crate::open_regular_file(&self.blob_path(&layer.digest)?)
                .map_err(|e| format!("layer {}: {e}", layer.digest))?;
            let mut reader = CheckedReader::for_digest(file, max_layer_size, &layer.digest);
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
            resolved.index_digests,
        )?;
        Ok((resolved.digest, facts))
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

/// A name in a `docker save` archive, cleaned as extraction would (`./a//b` -> `a/b`).
fn archive_name(name: &[u8]) -> String {
    let parts: Vec<String> = crate::layers::clean_path(name)
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    parts.join("/")
}

impl DockerArchive {
    /// Indexes the archive (a regular file): where each file's data sits, and its
    /// `manifest.json` (at most [`MAX_ARCHIVE_MANIFEST_BYTES`]).
    pub fn open(path: &Path) -> Result<DockerArchive, String> {
        let display = path.display();
        let file = crate::open_regular_file(path)?;
        let source = Seeked::new(file).map_err(|e| format!("{display}: {e}"))?;
        let mut tar = TarReader::new(source);
        let mut files = BTreeMap::new();
        let mut names = 0usize;
        let mut manifest = None;
        // One pass to learn where each file's data sits (skipping the data by seeking);
        // layers are then read in layer order, without unpacking anything.
        while let Some(header) = tar
            .next_entry()
            .map_err(|e| format!("{display}: not a tar archive Portcullis reads: {e}"))?
        {
            if header.kind != Kind::Regular {
                continue;
            }
            let name = archive_name(&header.name);
            if name == "manifest.json" {
                if header.size > MAX_ARCHIVE_MANIFEST_BYTES {
                    return Err(format!(
                        "{display}: manifest.json is {}, over the cap of {} for a `docker save` manifest",
                        human_size(header.size),
                        human_size(MAX_ARCHIVE_MANIFEST_BYTES)
                    ));
                }
                let mut text = Vec::with_capacity(header.size as usize);
                tar.data()
                    .read_to_end(&mut text)
                    .map_err(|e| format!("{display}: {e}"))?;
                manifest = Some(text);
                continue;
            }
            names += name.len() + 64;
            if names > MAX_ARCHIVE_INDEX_BYTES {
                return Err(format!(
                    "{display}: more files than a `docker save` archive has (their names pass {})",
                    human_size(MAX_ARCHIVE_INDEX_BYTES as u64)
                ));
            }
            files.insert(name, (tar.position(), header.size));
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

    /// The data of a file of the archive, and its size.
    fn open_file(&self, name: &str) -> Result<(std::io::Take<std::fs::File>, u64), String> {
        let (offset, size) = self
            .files
            .get(&archive_name(name.as_bytes()))
            .copied()
            .ok_or_else(|| {
                format!(
                    "{}: `{name}` is missing from the archive",
                    self.path.display()
                )
            })?;
        let mut file = crate::open_regular_file(&self.path)?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok((file.take(size), size))
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
        let (mut file, size) = self.open_file(&image.config)?;
        if size > MAX_CONFIG_BYTES {
            return Err(format!(
                "{}: the image config `{}` is {}, over the cap of {} for a config",
                self.path.display(),
                image.config,
                human_size(size),
                human_size(MAX_CONFIG_BYTES)
            ));
        }
        let mut config = Vec::with_capacity(size as usize);
        file.read_to_end(&mut config)
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let config_digest = crate::sha256_digest(&config);
        let mut scanner = FilesystemScanner::with_max_layer_size(max_layer_size);
        let mut layers = Vec::new();
        for name in &image.layers {
            let (file, _) = self.open_file(name)?;
            let mut reader = CheckedReader::new(file, max_layer_size);
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
