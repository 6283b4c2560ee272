//! Images from a registry over the OCI Distribution API (with `oci-client`): anonymous,
//! basic or docker `config.json` credentials; tag -> digest; multi-platform indexes; layers
//! streamed once through the filesystem scanner with a size cap, never stored; an on-disk
//! cache of facts by manifest digest so repeat runs download no layer.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::ImageIndexEntry;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use portcullis_engine::facts::{ImageFacts, LayerFacts, normalize_reference};

use crate::layers::FilesystemScanner;
use crate::{CheckedReader, Collected, PlatformChoice, human_size};

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub platform: PlatformChoice,
    pub max_layer_size: u64,
    /// For connecting and for each read: a registry that stops answering fails after it.
    pub timeout: Duration,
    /// Registries (`host[:port]`) reached over plain HTTP besides `localhost` and
    /// `127.0.0.1`, which are always (as Docker treats them).
    pub insecure: Vec<String>,
    pub credentials: Credentials,
    /// Facts already collected, by manifest digest.
    pub cache_dir: Option<PathBuf>,
    /// Progress lines on stderr (for a terminal).
    pub progress: bool,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            platform: PlatformChoice::default(),
            max_layer_size: crate::DEFAULT_MAX_LAYER_SIZE,
            timeout: Duration::from_secs(30),
            insecure: Vec::new(),
            credentials: Credentials::default(),
            cache_dir: None,
            progress: false,
        }
    }
}

/// Registry credentials: basic credentials for every registry, or per registry from a
/// docker `config.json`.
#[derive(Clone, Default)]
pub struct Credentials {
    /// (user, password) for any registry, e.g. from `--username`.
    pub basic: Option<(String, String)>,
    /// Registry host -> (user, password).
    pub per_registry: BTreeMap<String, (String, String)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print passwords, not even in debug logs.
        f.debug_struct("Credentials")
            .field("basic", &self.basic.as_ref().map(|(user, _)| user))
            .field("registries", &self.per_registry.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `https://index.docker.io/v1/` -> `docker.io`; `localhost:5000` stays.
fn registry_key(text: &str) -> String {
    let host = text
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        other => other.to_string(),
    }
}

impl Credentials {
    /// Reads the `auths` of a docker `config.json`. Credential helpers (`credsStore`,
    /// `credHelpers`) are programs this does not run; registries they serve stay
    /// anonymous, with a warning.
    pub fn from_docker_config(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let config: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{}: invalid docker config: {e}", path.display()))?;
        let mut credentials = Credentials::default();
        if let Some(auths) = config.get("auths").and_then(|a| a.as_object()) {
            for (registry, entry) in auths {
                let user = entry.get("username").and_then(|v| v.as_str());
                let password = entry.get("password").and_then(|v| v.as_str());
                let pair = match (user, password) {
                    (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
                    _ => entry
                        .get("auth")
                        .and_then(|v| v.as_str())
                        .and_then(|auth| {
                            base64::engine::general_purpose::STANDARD.decode(auth).ok()
                        })
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .and_then(|text| {
                            text.split_once(':')
                                .map(|(u, p)| (u.to_string(), p.to_string()))
                        }),
                };
                match pair {
                    Some(pair) => {
                        credentials
                            .per_registry
                            .insert(registry_key(registry), pair);
                    }
                    None => log::warn!(
                        "{}: the entry for `{registry}` has no usable `auth` or username and password",
                        path.display()
                    ),
                }
            }
        }
        if config.get("credsStore").is_some() || config.get("credHelpers").is_some() {
            log::warn!(
                "{}: credential helpers (credsStore, credHelpers) are not run; registries served only by them are read anonymously",
                path.display()
            );
        }
        Ok(credentials)
    }

    /// The docker config of this user: `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`, when it exists.
    pub fn default_docker_config() -> Option<PathBuf> {
        let path = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => PathBuf::from(std::env::var_os("HOME")?).join(".docker/config.json"),
        };
        path.is_file().then_some(path)
    }

    fn for_registry(&self, registry: &str) -> RegistryAuth {
        match self
            .per_registry
            .get(&registry_key(registry))
            .or(self.basic.as_ref())
        {
            Some((user, password)) => RegistryAuth::Basic(user.clone(), password.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

/// Whether a registry is reached over plain HTTP: loopback hosts always, others when
/// listed with `--insecure`.
pub fn plain_http(registry: &str, insecure: &[String]) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1") || insecure.iter().any(|i| i == registry)
}

/// Collects registry images, one after the other; an image that fails does not stop the
/// others.
pub fn collect(references: &[String], options: &RegistryOptions) -> Vec<Collected> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return references
                .iter()
                .map(|r| Collected {
                    label: r.clone(),
                    result: Err(format!("cannot start the network runtime: {e}")),
                })
                .collect();
        }
    };
    let parsed: Vec<Result<Reference, String>> = references
        .iter()
        .map(|r| {
            r.parse::<Reference>()
                .map_err(|e| format!("invalid image reference: {e}"))
        })
        .collect();
    // Each registry's own name (its resolved host) decides HTTP or HTTPS.
    let http_registries: Vec<String> = parsed
        .iter()
        .flatten()
        .map(|r| r.resolve_registry().to_string())
        .filter(|r| plain_http(r, &options.insecure))
        .collect();
    let platform = options.platform.clone();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::HttpsExcept(http_registries),
        read_timeout: Some(options.timeout),
        connect_timeout: Some(options.timeout),
        platform_resolver: Some(Box::new(move |entries: &[ImageIndexEntry]| {
            entries
                .iter()
                .find(|e| {
                    e.platform.as_ref().is_some_and(|p| {
                        platform.matches(
                            &p.os.to_string(),
                            &p.architecture.to_string(),
                            p.variant.as_deref(),
                        )
                    })
                })
                .map(|e| e.digest.clone())
        })),
        ..ClientConfig::default()
    });
    references
        .iter()
        .zip(parsed)
        .enumerate()
        .map(|(i, (label, reference))| {
            if options.progress {
                eprintln!("[{}/{}] {label}", i + 1, references.len());
            }
            let result = reference
                .and_then(|reference| collect_one(&runtime, &client, label, &reference, options));
            Collected {
                label: label.clone(),
                result,
            }
        })
        .collect()
}

fn collect_one(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    label: &str,
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<(String, ImageFacts), String> {
    let registry = reference.resolve_registry().to_string();
    let auth = options.credentials.for_registry(reference.registry());
    let describe = |e: OciDistributionError| describe_error(e, &registry, label, options);
    let (manifest, digest, index_digest) = runtime
        .block_on(client.pull_image_manifest_and_list_digest(reference, &auth))
        .map_err(describe)?;
    let reference_name = normalize_reference(label);
    if let Some(mut cached) = cache_get(options, &digest) {
        log::info!("{label}: facts of {digest} from the cache");
        cached.references = reference_name.into_iter().collect();
        cached.index_digests = index_digest.into_iter().collect();
        return Ok((digest, cached));
    }

    if manifest.config.size < 0 || manifest.config.size as u64 > 16 << 20 {
        return Err(format!(
            "{label}: the image config is {} bytes, too big to be one",
            manifest.config.size
        ));
    }
    let mut config = Vec::new();
    runtime
        .block_on(client.pull_blob(reference, &manifest.config, &mut config))
        .map_err(describe)?;

    let mut scanner = FilesystemScanner::with_max_layer_size(options.max_layer_size);
    let mut layers = Vec::new();
    let count = manifest.layers.len();
    for (i, layer) in manifest.layers.iter().enumerate() {
        let size = u64::try_from(layer.size).unwrap_or(0);
        if size > options.max_layer_size {
            return Err(format!(
                "{label}: layer {} is {}, over the cap of {} (--max-layer-size)",
                layer.digest,
                human_size(size),
                human_size(options.max_layer_size)
            ));
        }
        if options.progress {
            eprintln!("      layer {}/{count}: {}", i + 1, human_size(size));
        }
        let stream = runtime
            .block_on(client.pull_blob_stream(reference, layer))
            .map_err(describe)?;
        let reader = StreamReader {
            runtime,
            stream: stream.stream,
            chunk: bytes::Bytes::new(),
            done: false,
        };
        // oci-client checks the digest as the stream ends; the scanner reads to the end.
        let mut checked = CheckedReader::new(reader, options.max_layer_size);
        scanner.add_layer(&mut checked).map_err(|e| {
            format!(
                "{label}: layer {}: {}",
                layer.digest,
                timeout_hint(&e, options)
            )
        })?;
        layers.push(LayerFacts {
            digest: layer.digest.clone(),
            size,
        });
    }
    let facts = crate::local::assemble(
        &config,
        manifest.config.digest.clone(),
        layers,
        scanner,
        reference_name,
        index_digest.into_iter().collect(),
    )
    .map_err(|e| format!("{label}: {e}"))?;
    cache_put(options, &digest, &facts);
    Ok((digest, facts))
}

/// A blob stream read synchronously: the filesystem scanner and tar reader are blocking
/// code, and driving the stream from them keeps one chunk in memory at a time.
struct StreamReader<'a> {
    runtime: &'a tokio::runtime::Runtime,
    stream: BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
    /// What is left of the last chunk the stream gave.
    chunk: bytes::Bytes,
    /// The stream has ended: it must not be polled again (oci-client would check the
    /// digest a second time, over nothing).
    done: bool,
}

impl Read for StreamReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.runtime.block_on(self.stream.next()) {
                Some(Ok(bytes)) => self.chunk = bytes,
                Some(Err(e)) => {
                    self.done = true;
                    // reqwest says "error decoding response body"; the cause says why.
                    let text = source_chain(&e);
                    if text.contains("timed out") {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("the registry stopped sending data: {text}"),
                        ));
                    }
                    return Err(std::io::Error::other(text));
                }
                None => self.done = true,
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}

fn timeout_hint(error: &str, options: &RegistryOptions) -> String {
    if error.contains("timed out") || error.contains("TimedOut") {
        format!(
            "{error} (the registry stopped answering for {}s)",
            options.timeout.as_secs()
        )
    } else {
        error.to_string()
    }
}

/// Registry errors as people need them: what failed, for which image, and what to do.
fn describe_error(
    error: OciDistributionError,
    registry: &str,
    label: &str,
    options: &RegistryOptions,
) -> String {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    match &error {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => {
            format!(
                "{label}: authentication to {registry} failed: check the credentials (docker config.json, --username) ({text})"
            )
        }
        OciDistributionError::ImageManifestNotFoundError(_) => {
            format!("{label}: not found in {registry} (no such repository, tag or digest)")
        }
        OciDistributionError::RequestError(e) if e.is_timeout() => format!(
            "{label}: {registry} did not answer within {}s",
            options.timeout.as_secs()
        ),
        OciDistributionError::RequestError(e) if e.is_connect() => {
            format!("{label}: cannot connect to {registry}: {}", source_chain(e))
        }
        _ if [
            "manifest_unknown",
            "manifest unknown",
            "name_unknown",
            "name unknown",
            "not found",
        ]
        .iter()
        .any(|needle| lower.contains(needle)) =>
        {
            format!("{label}: not found in {registry} (no such repository, tag or digest): {text}")
        }
        _ if lower.contains("unauthorized") || lower.contains("denied") => format!(
            "{label}: authentication to {registry} failed: check the credentials (docker config.json, --username) ({text})"
        ),
        _ => format!("{label}: {registry}: {}", source_chain(&error)),
    }
}

/// An error and its causes, `: `-separated: reqwest's own message is often just "error
/// sending request".
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn cache_path(options: &RegistryOptions, digest: &str) -> Option<PathBuf> {
    let dir = options.cache_dir.as_ref()?;
    let name: String = digest
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    Some(dir.join(format!("{name}.json")))
}

/// Cached facts of a manifest digest. A cache entry that does not parse is ignored.
fn cache_get(options: &RegistryOptions, digest: &str) -> Option<ImageFacts> {
    let text = std::fs::read_to_string(cache_path(options, digest)?).ok()?;
    serde_json::from_str(&text).ok()
}

fn cache_put(options: &RegistryOptions, digest: &str, facts: &ImageFacts) {
    let Some(path) = cache_path(options, digest) else {
        return;
    };
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("cache files sit in a directory"))?;
        // Written aside and renamed: a reader never sees half a file.
        let partial = path.with_extension(format!("json.{}.partial", std::process::id()));
        std::fs::write(
            &partial,
            serde_json::to_vec(facts).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&partial, &path)
    };
    if let Err(e) = write() {
        log::warn!("cannot write the facts cache {}: {e}", path.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_plain_http_others_need_insecure() {
        assert!(plain_http("localhost:5000", &[]));
        assert!(plain_http("127.0.0.1:41234", &[]));
        assert!(plain_http("[::1]:5000", &[]));
        assert!(!plain_http("registry.company.com", &[]));
        assert!(!plain_http("localhost.evil.com:5000", &[]));
        assert!(plain_http(
            "registry.lan:5000",
            &["registry.lan:5000".to_string()]
        ));
    }

    #[test]
    fn docker_config_auths() {
        let dir =
            std::env::temp_dir().join(format!("portcullis-facts-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.json");
        let encoded = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{encoded}"}},
                    "localhost:5000": {{"username": "bob", "password": "pw"}}}}}}"#
            ),
        )
        .unwrap();
        let credentials = Credentials::from_docker_config(&path).unwrap();
        assert!(matches!(credentials.for_registry("docker.io"),
            RegistryAuth::Basic(u, p) if u == "alice" && p == "s3cret"));
        assert!(matches!(credentials.for_registry("localhost:5000"),
            RegistryAuth::Basic(u, _) if u == "bob"));
        assert!(matches!(
            credentials.for_registry("ghcr.io"),
            RegistryAuth::Anonymous
        ));
        assert!(!format!("{credentials:?}").contains("s3cret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
