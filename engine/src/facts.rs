//! Image facts: what is known about the inside of an image, per image digest, collected
//! once (by `portcullis facts collect`, outside the engine) and read here as plain data.
//!
//! Every section is optional, and `None` means *not looked at*: a rule can tell "no shell"
//! (`filesystem.shells` is empty) from "unknown" (`filesystem` is `None`). The engine does no
//! I/O for facts; a front end loads a [`FactsFile`] and hands it to the policy as a
//! [`FactsIndex`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::image::ImageRef;

/// The `format` field of every facts file.
pub const FACTS_FORMAT: &str = "portcullis-image-facts";
/// The version of the facts file format this engine writes: 2 added signature material
/// ([`ImageFacts::signatures`]).
pub const FACTS_VERSION: u32 = 2;
/// The oldest version this engine still reads; a version 1 file has no signature material.
pub const OLDEST_FACTS_VERSION: u32 = 1;

pub use portcullis_signatures::SignatureMaterial;

/// A facts file: image facts keyed by digest. Maps are sorted, so the same facts always
/// serialize to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactsFile {
    /// The file format's name, `portcullis-image-facts`.
    pub format: String,
    /// The file format's version.
    pub version: u32,
    /// Keyed by the image manifest digest (`sha256:…`); see [`ImageFacts::digest_kind`].
    pub images: BTreeMap<String, ImageFacts>,
}

impl Default for FactsFile {
    fn default() -> Self {
        FactsFile {
            format: FACTS_FORMAT.to_string(),
            version: FACTS_VERSION,
            images: BTreeMap::new(),
        }
    }
}

impl FactsFile {
    /// Reads the facts file at `path`, at most [`crate::files::MAX_FACTS_BYTES`]; the error
    /// names the file.
    pub fn read(path: &std::path::Path) -> Result<FactsFile, crate::diagnostic::Diagnostic> {
        let name = path.display().to_string();
        let error =
            |message: String| crate::diagnostic::Diagnostic::new(&name, None, None, message);
        let text = crate::files::read_text(
            path,
            crate::files::MAX_FACTS_BYTES,
            // A facts file is written by `facts collect`: a regular file, never a FIFO
            // that would keep the run waiting.
            crate::files::Origin::Found,
        )
        .map_err(|e| error(format!("cannot read image facts: {e}")))?;
        FactsFile::parse(&text).map_err(error)
    }

    /// Parses a facts file, checking its format and version.
    pub fn parse(text: &str) -> Result<FactsFile, String> {
        // The header first, so that a file from a newer version says so rather than failing
        // on a field this version does not know. Only `format` and `version` are built
        // here (the images are skipped), so a big file is not held twice.
        #[derive(Deserialize)]
        struct Header {
            #[serde(default)]
            format: Option<serde_json::Value>,
            #[serde(default)]
            version: Option<serde_json::Value>,
        }
        let header: Header =
            serde_json::from_str(text).map_err(|e| format!("not a facts file: {e}"))?;
        match &header.format {
            Some(serde_json::Value::String(format)) if format == FACTS_FORMAT => {}
            Some(other) => {
                return Err(format!(
                    "not a facts file: `format` is {}; expected the string `{FACTS_FORMAT}`",
                    describe_json(other)
                ));
            }
            None => {
                return Err(format!(
                    "not a facts file: it has no `format` (expected the string `{FACTS_FORMAT}`)"
                ));
            }
        }
        match &header.version {
            Some(serde_json::Value::Number(n))
                if n.as_u64().is_some_and(|v| {
                    (u64::from(OLDEST_FACTS_VERSION)..=u64::from(FACTS_VERSION)).contains(&v)
                }) => {}
            Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => {
                return Err(format!(
                    "facts file version {n} is not supported; this portcullis reads versions {OLDEST_FACTS_VERSION} to {FACTS_VERSION}"
                ));
            }
            Some(other) => {
                return Err(format!(
                    "invalid facts file: `version` is {}; expected the number {FACTS_VERSION}",
                    describe_json(other)
                ));
            }
            None => {
                return Err(format!(
                    "not a facts file: it has no `version` (expected the number {FACTS_VERSION})"
                ));
            }
        }
        let mut file: FactsFile =
            serde_json::from_str(text).map_err(|e| format!("invalid facts file: {e}"))?;
        // Read into this version's model, written back as this version.
        file.version = FACTS_VERSION;
        for digest in file.images.keys() {
            if !is_digest(digest) {
                return Err(format!(
                    "invalid facts file: image key `{digest}` is not a digest (`sha256:<64 hex>`)"
                ));
            }
        }
        Ok(file)
    }

    /// The file as pretty JSON with a final newline; deterministic for equal facts.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("facts serialize");
        text.push('\n');
        text
    }

    /// Adds `facts` under `digest`, merging with what is already known for it: sections
    /// present in `facts` replace unknown ones; references and index digests are united;
    /// scans are merged with [`ScanFacts::merge`].
    pub fn insert(&mut self, digest: String, facts: ImageFacts) {
        match self.images.get_mut(&digest) {
            Some(existing) => existing.merge(facts),
            None => {
                self.images.insert(digest, facts);
            }
        }
    }
}

/// A JSON value as a message shows it: its kind and (short) text, e.g. the string `"1"`.
fn describe_json(value: &serde_json::Value) -> String {
    let kind = match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "the number",
        serde_json::Value::String(_) => "the string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    };
    if value.is_null() {
        return kind.to_string();
    }
    let mut text = value.to_string();
    if let Some((cut, _)) = text.char_indices().nth(40) {
        text.truncate(cut);
        text.push('…');
    }
    format!("{kind} `{text}`")
}

/// Whether `text` is a `sha256:` digest with 64 lower-case hex digits.
pub fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A reference as facts record it: `registry/repository:tag`, `…@digest` or both, with
/// Docker Hub defaults filled in (`nginx` -> `docker.io/library/nginx:latest`). `None` when
/// it does not parse.
pub fn normalize_reference(reference: &str) -> Option<String> {
    let parsed = ImageRef::parse(reference).ok()?;
    Some(match (&parsed.tag, &parsed.digest) {
        (_, Some(digest)) => format!("{}@{digest}", parsed.name),
        (Some(tag), None) => format!("{}:{tag}", parsed.name),
        (None, None) => format!("{}:latest", parsed.name),
    })
}

/// What is known about one image (one platform's manifest).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFacts {
    /// What the key is: `manifest` (the registry's manifest digest, what manifests pin) or
    /// `config` (the image id, for a `docker save` archive, which keeps no manifest).
    #[serde(default, skip_serializing_if = "DigestKind::is_manifest")]
    pub digest_kind: DigestKind,
    /// Normalized references the image was seen under (`docker.io/library/nginx:1.27`).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub references: BTreeSet<String>,
    /// Digests of multi-platform indexes that resolved to this manifest.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub index_digests: BTreeSet<String>,
    /// Digest of the image config blob (the image id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_digest: Option<String>,
    /// The platform the image was built for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// What the image config says: user, environment, entrypoint, labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigFacts>,
    /// Layers in order, with their size as stored (compressed in a registry or OCI layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<LayerFacts>>,
    /// What the layers hold: shells, package managers, the distribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FilesystemFacts>,
    /// Scanner results merged from reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanFacts>,
    /// Signature material found in the registry (cosign, Sigstore bundles, Notation), to be
    /// verified during evaluation; `None` when nobody looked (version 1 files, local images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signatures: Option<SignatureFacts>,
}

/// What an image facts key is the digest of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestKind {
    /// The registry manifest: what manifests pin with `@sha256:…`.
    #[default]
    Manifest,
    /// The image config (the image id), when no manifest exists (`docker save`).
    Config,
}

impl DigestKind {
    fn is_manifest(&self) -> bool {
        *self == DigestKind::Manifest
    }
}

impl ImageFacts {
    /// Sum of the layer sizes, when the layers are known.
    pub fn size(&self) -> Option<u64> {
        self.layers
            .as_ref()
            .map(|layers| layers.iter().map(|l| l.size).sum())
    }

    /// Fills what `other` knows and `self` does not; unites references; merges scans.
    pub fn merge(&mut self, other: ImageFacts) {
        self.references.extend(other.references);
        self.index_digests.extend(other.index_digests);
        fill(&mut self.config_digest, other.config_digest);
        fill(&mut self.platform, other.platform);
        fill(&mut self.config, other.config);
        fill(&mut self.layers, other.layers);
        fill(&mut self.filesystem, other.filesystem);
        match (&mut self.scan, other.scan) {
            (Some(scan), Some(other)) => scan.merge(other),
            (scan @ None, other) => *scan = other,
            (Some(_), None) => {}
        }
        match (&mut self.signatures, other.signatures) {
            (Some(signatures), Some(other)) => signatures.merge(other),
            (signatures @ None, other) => *signatures = other,
            (Some(_), None) => {}
        }
    }
}

/// Signature material found for an image. `found` is empty when the registry holds no
/// signature for it: "not signed" is a fact, not a collection error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFacts {
    /// The signatures, in the order they were found.
    pub found: Vec<FoundSignature>,
    /// What could not be read (a signature over the size limit, a malformed signature
    /// manifest), in words; the rest was still collected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl SignatureFacts {
    /// Unites two collections: signatures once each, problems once each.
    pub fn merge(&mut self, other: SignatureFacts) {
        for signature in other.found {
            if !self.found.contains(&signature) {
                self.found.push(signature);
            }
        }
        for problem in other.problems {
            if !self.problems.contains(&problem) {
                self.problems.push(problem);
            }
        }
    }
}

/// One signature and the image digest it is attached to in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FoundSignature {
    /// The digest the signature was found for: the image manifest's, or the digest of a
    /// multi-platform index that resolved to it (what `cosign sign` signs for a tag).
    pub digest: String,
    /// How it was attached: `cosign-tag` (the `sha256-<hex>.sig` tag), `referrers` (OCI 1.1
    /// referrers API), `referrers-tag` (the referrers tag schema, for registries without it).
    pub source: String,
    /// The material itself, as the registry stored it.
    pub material: SignatureMaterial,
}

fn fill<T>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value;
    }
}

/// The platform of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platform {
    /// `linux`, `windows`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v7`, `v8`, when the architecture has variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// From the image config blob.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFacts {
    /// `USER` as written (`""` when unset, which means root).
    #[serde(default)]
    pub user: String,
    /// Names of the `ENV` variables, in order. Values are not kept: facts files get
    /// committed, and values are read at collection only to find credentials.
    #[serde(default)]
    pub env: Vec<String>,
    /// `ENV` variables whose value looks like a credential, found at collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_secrets: Vec<EnvSecret>,
    /// The config's `Entrypoint`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// The config's `Cmd`.
    #[serde(default)]
    pub cmd: Vec<String>,
    /// The config's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// When the image was built (RFC 3339), as the config says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// Label naming the base image, per the OCI image spec annotations.
pub const BASE_NAME_LABEL: &str = "org.opencontainers.image.base.name";

impl ConfigFacts {
    /// The base image named by the `org.opencontainers.image.base.name` label.
    pub fn base_name(&self) -> Option<&str> {
        self.labels.get(BASE_NAME_LABEL).map(String::as_str)
    }

    /// Whether the config user is root: empty, `root` or uid `0` (with any group).
    pub fn user_is_root(&self) -> bool {
        let user = self.user.split(':').next().unwrap_or("").trim();
        user.is_empty() || user == "root" || user.parse::<u64>() == Ok(0)
    }
}

/// An `ENV` variable that holds a credential-looking value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSecret {
    /// The variable's name (never its value).
    pub name: String,
    /// Why it looks like one: a credential format (`a GitHub token`) or the keyword its
    /// name contains (`name contains PASSWORD`).
    pub reason: String,
}

/// What an image `ENV` entry holds, if it is a hard-coded credential (`"a password"`, `"a
/// GitHub token"`): the same detector as
/// the rule API's `credential_verdict` ([`crate::credentials::classify`]), so manifests and
/// images are judged alike. Placeholders are not secrets baked into an image.
pub fn env_secret(name: &str, value: &str) -> Option<String> {
    match crate::credentials::classify(name, value) {
        crate::credentials::Verdict::Secret { kind, .. } => {
            Some(crate::credentials::with_article(kind))
        }
        _ => None,
    }
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFacts {
    /// The layer blob's digest.
    pub digest: String,
    /// The layer's compressed size in bytes.
    pub size: u64,
}

/// From the layers' files, after applying whiteouts in layer order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemFacts {
    /// Shells present, by name: `sh`, `bash`, `ash`, `dash`, `zsh`, `ksh`, `busybox`; sorted.
    #[serde(default)]
    pub shells: Vec<String>,
    /// Package managers or their databases present: `dpkg`, `apt`, `apk`, `rpm`, `yum`,
    /// `dnf`, `pip`; sorted.
    #[serde(default)]
    pub package_managers: Vec<String>,
    /// `/etc/os-release` (or `/usr/lib/os-release`), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_release: Option<OsRelease>,
}

/// The distribution, from `/etc/os-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsRelease {
    /// `ID`, e.g. `debian`, `alpine`.
    pub id: String,
    /// `VERSION_ID`, e.g. `3.20.3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `PRETTY_NAME`, e.g. `Alpine Linux v3.20`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
}

impl OsRelease {
    /// Parses os-release `KEY=value` lines (values optionally quoted). `None` without `ID`.
    pub fn parse(text: &str) -> Option<OsRelease> {
        let mut fields = HashMap::new();
        for line in text.lines() {
            let Some((key, value)) = line.trim().split_once('=') else {
                continue;
            };
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            fields.insert(key.trim(), value.to_string());
        }
        Some(OsRelease {
            id: fields.remove("ID").filter(|id| !id.is_empty())?,
            version_id: fields.remove("VERSION_ID"),
            pretty_name: fields.remove("PRETTY_NAME"),
        })
    }
}

/// Results of vulnerability and secret scanners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanFacts {
    /// Every scan merged in, sorted.
    #[serde(default)]
    pub scanners: Vec<Scanner>,
    /// Sorted by id, package and installed version; one entry per triple.
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
    /// Secrets found, or `None` when no scan merged in looked for secrets (Grype does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<SecretFinding>>,
}

impl ScanFacts {
    /// Unites two scans of the same image: the scanners, the vulnerabilities (one per id,
    /// package and installed version; a fixed version is kept when either scan knows one;
    /// the higher severity wins) and the secrets.
    pub fn merge(&mut self, other: ScanFacts) {
        self.scanners.extend(other.scanners);
        self.scanners.sort();
        self.scanners.dedup();
        self.vulnerabilities.extend(other.vulnerabilities);
        self.normalize();
        if let Some(other) = other.secrets {
            let secrets = self.secrets.get_or_insert_with(Vec::new);
            secrets.extend(other);
            secrets.sort();
            secrets.dedup();
        }
    }

    /// Sorts and deduplicates the vulnerabilities.
    pub fn normalize(&mut self) {
        let mut merged: BTreeMap<(String, String, String), Vulnerability> = BTreeMap::new();
        for vuln in self.vulnerabilities.drain(..) {
            let key = (
                vuln.id.clone(),
                vuln.package.clone(),
                vuln.installed.clone(),
            );
            match merged.get_mut(&key) {
                Some(existing) => {
                    if existing.fixed.is_none() {
                        existing.fixed = vuln.fixed;
                    }
                    if severity_rank(&vuln.severity) > severity_rank(&existing.severity) {
                        existing.severity = vuln.severity;
                    }
                }
                None => {
                    merged.insert(key, vuln);
                }
            }
        }
        self.vulnerabilities = merged.into_values().collect();
        if let Some(secrets) = &mut self.secrets {
            secrets.sort();
            secrets.dedup();
        }
    }
}

/// Order of the severities scanners use: `unknown`/`negligible` < `low` < `medium` <
/// `high` < `critical`.
pub fn severity_rank(severity: &str) -> u8 {
    match severity.to_ascii_lowercase().as_str() {
        "critical" => 5,
        "high" => 4,
        "medium" | "moderate" => 3,
        "low" => 2,
        "negligible" => 1,
        _ => 0,
    }
}

/// The tool that produced a scan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scanner {
    /// `trivy`, `grype`.
    pub name: String,
    /// The scanner's version, when its report says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the scan ran (RFC 3339, as the report says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<String>,
}

/// One known vulnerability of one package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vulnerability {
    /// `CVE-2024-1234`, `GHSA-…`.
    pub id: String,
    /// The affected package.
    pub package: String,
    /// The installed version.
    pub installed: String,
    /// The first version with a fix, when one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// Lower case: `critical`, `high`, `medium`, `low`, `negligible`, `unknown`.
    pub severity: String,
}

/// A secret a scanner found in an image (file or config), never its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretFinding {
    /// The scanner's rule, e.g. `aws-access-key-id`.
    pub rule: String,
    /// What was found, in the scanner's words (never the secret).
    pub title: String,
    /// The file it was found in.
    pub path: String,
    /// Lower case, as for vulnerabilities.
    pub severity: String,
}

/// Facts ready for rules: the file behind an `Arc`, with lookups by digest and reference.
#[derive(Debug, Default)]
pub struct FactsIndex {
    /// Distinguishes this index from every other one in the process, so that results
    /// derived from its facts (signature verdicts) can be cached per index.
    serial: u64,
    images: BTreeMap<String, Arc<ImageFacts>>,
    /// Index digests and config digests -> key.
    aliases: HashMap<String, String>,
    /// Normalized references -> key.
    references: HashMap<String, String>,
}

impl FactsIndex {
    /// Indexes `file` by digest and by reference.
    pub fn new(file: FactsFile) -> FactsIndex {
        static SERIALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut index = FactsIndex {
            serial: SERIALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            ..FactsIndex::default()
        };
        for (key, facts) in file.images {
            for alias in facts.index_digests.iter().chain(&facts.config_digest) {
                index.aliases.entry(alias.clone()).or_insert(key.clone());
            }
            // Normalized here too: hand-written files may say `nginx:1.27`.
            for reference in &facts.references {
                let normalized = normalize_reference(reference).unwrap_or(reference.clone());
                index.references.entry(normalized).or_insert(key.clone());
            }
            index.images.insert(key, Arc::new(facts));
        }
        index
    }

    /// A number no other index of this process has.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// How many images it knows.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether it knows none.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// The facts of the image `image` designates: by its digest when it has one (a manifest,
    /// index or config digest), else by its reference (`name:tag`, `latest` when untagged).
    pub fn lookup(&self, image: &ImageRef) -> Option<(&str, &Arc<ImageFacts>)> {
        let key = match &image.digest {
            Some(digest) => match self.images.get_key_value(digest) {
                Some((key, _)) => key,
                None => self.aliases.get(digest)?,
            },
            None => {
                let tag = image.tag.as_deref().unwrap_or("latest");
                self.references.get(&format!("{}:{tag}", image.name))?
            }
        };
        self.images.get_key_value(key).map(|(k, f)| (k.as_str(), f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn lookup_by_digest_alias_and_reference() {
        let mut file = FactsFile::default();
        let mut facts = ImageFacts::default();
        facts
            .references
            .insert("docker.io/library/nginx:1.27".into());
        facts.index_digests.insert(D2.into());
        file.insert(D1.into(), facts);
        let index = FactsIndex::new(file);
        let parse = |r: &str| ImageRef::parse(r).unwrap();
        assert!(index.lookup(&parse(&format!("nginx@{D1}"))).is_some());
        assert!(index.lookup(&parse(&format!("other/app@{D2}"))).is_some());
        assert!(index.lookup(&parse("nginx:1.27")).is_some());
        assert!(
            index
                .lookup(&parse("docker.io/library/nginx:1.27"))
                .is_some()
        );
        assert!(index.lookup(&parse("nginx:1.28")).is_none());
        assert!(index.lookup(&parse("nginx")).is_none());
    }

    #[test]
    fn parse_checks_format_version_and_keys() {
        assert!(FactsFile::parse("{}").unwrap_err().contains("format"));
        let v3 = r#"{"format":"portcullis-image-facts","version":3,"images":{}}"#;
        assert!(FactsFile::parse(v3).unwrap_err().contains("version 3"));
        // Version 1 files (no signature material) still load, as this version.
        let v1 = r#"{"format":"portcullis-image-facts","version":1,"images":{}}"#;
        assert_eq!(FactsFile::parse(v1).unwrap(), FactsFile::default());
        let bad_key = r#"{"format":"portcullis-image-facts","version":1,"images":{"latest":{}}}"#;
        assert!(
            FactsFile::parse(bad_key)
                .unwrap_err()
                .contains("not a digest")
        );
        let ok = FactsFile::default().to_json();
        assert_eq!(FactsFile::parse(&ok).unwrap(), FactsFile::default());
    }

    /// Issue 10: `"version": "1"` was reported as a missing version.
    #[test]
    fn a_version_of_the_wrong_type_says_what_it_is() {
        let text = r#"{"format":"portcullis-image-facts","version":"1","images":{}}"#;
        assert_eq!(
            FactsFile::parse(text).unwrap_err(),
            "invalid facts file: `version` is the string `\"1\"`; expected the number 2"
        );
        let text = r#"{"format":"portcullis-image-facts","version":1.5,"images":{}}"#;
        assert!(
            FactsFile::parse(text)
                .unwrap_err()
                .contains("`version` is the number `1.5`; expected the number 2")
        );
        let text = r#"{"format":"portcullis-image-facts","images":{}}"#;
        assert!(
            FactsFile::parse(text)
                .unwrap_err()
                .contains("it has no `version`")
        );
        let text = r#"{"format":["x"],"version":1,"images":{}}"#;
        assert!(FactsFile::parse(text).unwrap_err().contains(
            "`format` is an array `[\"x\"]`; expected the string `portcullis-image-facts`"
        ));
        // Errors past the header have a line and column.
        let text = "{\"format\":\"portcullis-image-facts\",\"version\":1,\n\"images\":{\"x\": 5}}";
        assert!(
            FactsFile::parse(text).unwrap_err().contains("line 2"),
            "{:?}",
            FactsFile::parse(text)
        );
    }

    #[test]
    fn root_users() {
        let user = |u: &str| ConfigFacts {
            user: u.into(),
            ..ConfigFacts::default()
        };
        for root in ["", "root", "0", "0:0", "root:staff", " 0 "] {
            assert!(user(root).user_is_root(), "{root:?}");
        }
        for other in ["1000", "nobody", "65532:65532", "app"] {
            assert!(!user(other).user_is_root(), "{other:?}");
        }
    }

    #[test]
    fn os_release_and_env_secrets() {
        let os = OsRelease::parse("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n").unwrap();
        assert_eq!(os.id, "alpine");
        assert_eq!(os.version_id.as_deref(), Some("3.20.3"));
        assert!(OsRelease::parse("NAME=x").is_none());
        assert_eq!(
            env_secret("DB_PASSWORD", "hunter2").as_deref(),
            Some("a password")
        );
        assert_eq!(env_secret("DB_PASSWORD", ""), None);
        assert_eq!(env_secret("PASSWORD_FILE", "/run/secrets/db"), None);
        assert_eq!(
            env_secret("GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D"),
            None
        );
        assert_eq!(
            env_secret("X", "AKIA7AWFNLGNXLVBXEXL").as_deref(),
            Some("an AWS access key ID")
        );
        // A documented example key is a placeholder, not a secret baked into the image.
        assert_eq!(env_secret("X", "AKIAIOSFODNN7EXAMPLE"), None);
    }

    #[test]
    fn scans_merge_without_duplicates() {
        let vuln = |fixed: Option<&str>, severity: &str| Vulnerability {
            id: "CVE-1".into(),
            package: "openssl".into(),
            installed: "3.0.1".into(),
            fixed: fixed.map(Into::into),
            severity: severity.into(),
        };
        let mut a = ScanFacts {
            vulnerabilities: vec![vuln(None, "high")],
            ..ScanFacts::default()
        };
        a.merge(ScanFacts {
            vulnerabilities: vec![vuln(Some("3.0.2"), "critical")],
            secrets: Some(Vec::new()),
            ..ScanFacts::default()
        });
        assert_eq!(a.vulnerabilities, vec![vuln(Some("3.0.2"), "critical")]);
        assert_eq!(a.secrets, Some(Vec::new()));
    }
}
