//! Images from a registry over the OCI Distribution API: anonymous, basic or token auth
//! (with docker `config.json` credentials); tag -> digest; multi-platform and nested
//! indexes; layers streamed once through the filesystem scanner, never stored; an on-disk
//! cache of facts by manifest digest so repeat runs download no layer.
//!
//! Every request is made here, with reqwest, rather than through `oci-client`'s `Client`:
//! oci-client 0.18 reads manifest bodies, error bodies (of manifest and blob requests) and
//! token responses whole with `Response::bytes()`/`text()`, and fetches tokens inside every
//! request it makes, so an endless body from a registry grew until the process aborted,
//! and no wrapper around its calls can bound that. Here every body is read chunk by chunk
//! against a cap, and every request has two clocks: `--registry-timeout` for each read
//! (and the connection), and a deadline for the whole request, body included
//! ([`request_deadline`]). `oci-client` still parses references.
//!
//! | what | cap |
//! |---|---|
//! | manifest or index | [`MAX_MANIFEST_BYTES`] (4 MiB) |
//! | config blob | its descriptor's size, at most [`crate::MAX_CONFIG_BYTES`] (16 MiB) |
//! | layer | its descriptor's size, at most `--max-layer-size` |
//! | error body | [`MAX_ERROR_BODY_BYTES`] (64 KiB; the rest is not read) |
//! | token response | [`MAX_TOKEN_BYTES`] (1 MiB) |

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use oci_client::Reference;
use portcullis_engine::facts::{
    FoundSignature, ImageFacts, LayerFacts, SignatureFacts, SignatureMaterial, normalize_reference,
};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

use crate::layers::FilesystemScanner;
use crate::manifest::{
    self, DOCKER_LIST, DOCKER_MANIFEST, Descriptor, MAX_MANIFEST_BYTES, OCI_INDEX, OCI_MANIFEST,
};
use crate::signatures::{
    COSIGN_SIMPLE_SIGNING, MAX_SIGNATURE_BYTES, MAX_SIGNATURE_MANIFEST_BYTES, MAX_SIGNATURES,
    ReferrerKind, ReferrersIndex, SignatureManifest, cosign_material, digest_tag, referrer_layer,
    referrer_material,
};
use crate::{
    CheckedReader, Collected, MAX_CONFIG_BYTES, PlatformChoice, digest_like, human_size,
    is_supported_digest,
};

/// Largest part of an error response read, for its message; the rest is never read.
pub const MAX_ERROR_BODY_BYTES: u64 = 64 << 10;
/// Largest token response (a JWT is a few KiB).
pub const MAX_TOKEN_BYTES: u64 = 1 << 20;
/// Slowest average speed a blob may arrive at: its deadline grows by one second per
/// 128 KiB it has (a 1 GiB layer may take 2 h 16 min; a slow-loris registry is cut off).
pub const MIN_TRANSFER_RATE: u64 = 128 << 10;
/// Largest docker `config.json`.
pub const MAX_DOCKER_CONFIG_BYTES: u64 = 4 << 20;
/// Largest entry of the facts cache.
pub const MAX_CACHE_ENTRY_BYTES: u64 = 16 << 20;
/// Redirects followed for one request (blob downloads redirect to storage).
const MAX_REDIRECTS: usize = 5;
/// How long the body of an error response is waited for, to show its message.
const ERROR_BODY_TIME: Duration = Duration::from_secs(2);

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    pub platform: PlatformChoice,
    pub max_layer_size: u64,
    /// For connecting and for each read: a registry that stops answering fails after it.
    /// Each whole request also has a deadline: see [`request_deadline`].
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

/// The time one request may take, body included: twice the read timeout, plus one second
/// per [`MIN_TRANSFER_RATE`] bytes of the body when its size is known in advance (blobs,
/// and manifests an index names). A registry trickling a byte at a time stops here even
/// though each read comes in time.
pub fn request_deadline(timeout: Duration, size: u64) -> Duration {
    timeout
        .saturating_mul(2)
        .saturating_add(Duration::from_secs(size / MIN_TRANSFER_RATE))
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
    /// Reads the `auths` of a docker `config.json` (a regular file of at most
    /// [`MAX_DOCKER_CONFIG_BYTES`]). Credential helpers (`credsStore`, `credHelpers`) are
    /// programs this does not run; registries they serve stay anonymous, with a warning.
    pub fn from_docker_config(path: &Path) -> Result<Credentials, String> {
        let text = crate::read_regular_text(path, MAX_DOCKER_CONFIG_BYTES, "a docker config")?;
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

    fn for_registry(&self, registry: &str) -> Option<&(String, String)> {
        self.per_registry
            .get(&registry_key(registry))
            .or(self.basic.as_ref())
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

/// Collects registry images, one after the other. An image that fails — a registry error,
/// a cap, a deadline, even a panic in a dependency — is an error for that image; the
/// others are still collected.
pub fn collect(references: &[String], options: &RegistryOptions) -> Vec<Collected> {
    let mut session: Option<Session> = None;
    let mut collected = Vec::with_capacity(references.len());
    for (i, label) in references.iter().enumerate() {
        if options.progress {
            eprintln!("[{}/{}] {label}", i + 1, references.len());
        }
        let result = match label.parse::<Reference>() {
            Err(e) => Err(format!("invalid image reference: {e}")),
            Ok(reference) => {
                if session.is_none() {
                    match Session::new(options) {
                        Ok(new) => session = Some(new),
                        Err(message) => {
                            collected.push(Collected {
                                label: label.clone(),
                                result: Err(message),
                            });
                            continue;
                        }
                    }
                }
                let current = session.as_mut().expect("just created");
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    current.collect_one(label, &reference)
                }));
                match outcome {
                    Ok(result) => result,
                    Err(panic) => {
                        // The runtime and connections may be in any state: start afresh.
                        session = None;
                        let message = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Err(format!(
                            "{label}: internal error while collecting this image (a bug, please report it): {message}"
                        ))
                    }
                }
            }
        };
        collected.push(Collected {
            label: label.clone(),
            result,
        });
    }
    collected
}

/// How requests to one repository are authorized, learnt on first use.
#[derive(Clone)]
enum Authorization {
    Anonymous,
    Basic(String, String),
    Bearer(String),
}

/// Why a request failed.
#[derive(Debug)]
enum Failure {
    /// No answer in time: `what` took longer than `limit`.
    Timeout {
        read: bool,
        limit: Duration,
    },
    Connect(String),
    /// A body over its cap; `limit` says what the cap is.
    TooLarge {
        cap: u64,
        limit: String,
    },
    /// An HTTP error status, with the registry's own message.
    Status {
        status: StatusCode,
        message: String,
    },
    Other(String),
}

/// A runtime, an HTTP client and what was learnt about registries so far.
struct Session<'a> {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    options: &'a RegistryOptions,
    auth: HashMap<(String, String), Authorization>,
}

impl<'a> Session<'a> {
    fn new(options: &'a RegistryOptions) -> Result<Session<'a>, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the network runtime: {e}"))?;
        // reqwest is built without a crypto provider of its own (Cargo.toml says why): ring
        // becomes the process default unless the embedding program installed another.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .connect_timeout(options.timeout)
            .read_timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", source_chain(&e)))?;
        Ok(Session {
            runtime,
            client,
            options,
            auth: HashMap::new(),
        })
    }

    fn collect_one(
        &mut self,
        label: &str,
        reference: &Reference,
    ) -> Result<(String, ImageFacts), String> {
        let registry = reference.resolve_registry().to_string();
        let options = self.options;
        let fail =
            |what: &str, failure: Failure| describe(failure, what, &registry, label, options);
        let base = self.repository_url(reference);
        let wanted = reference
            .digest()
            .map(str::to_string)
            .or_else(|| reference.tag().map(str::to_string))
            .unwrap_or_else(|| "latest".to_string());
        let auth = self
            .authorization(reference)
            .map_err(|f| fail("authentication", f))?;

        // The manifest the reference names (by tag, its size is unknown in advance).
        let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].join(", ");
        let (bytes, headers) = self
            .get(
                &format!("{base}/manifests/{wanted}"),
                &accept,
                &auth,
                MAX_MANIFEST_BYTES,
                "the cap for a manifest",
                request_deadline(self.options.timeout, 0),
            )
            .map_err(|f| fail("the manifest", f))?;
        let digest = match reference.digest() {
            Some(expected) => {
                if !is_supported_digest(expected) || digest_like(expected, &bytes) != expected {
                    return Err(format!(
                        "{label}: the manifest {registry} sent does not match the digest `{expected}`"
                    ));
                }
                expected.to_string()
            }
            None => {
                let digest = crate::sha256_digest(&bytes);
                if let Some(header) = headers
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .filter(|h| h.starts_with("sha256:"))
                    && header != digest
                {
                    return Err(format!(
                        "{label}: the manifest {registry} sent does not match its Docker-Content-Digest `{}`",
                        clean(header)
                    ));
                }
                digest
            }
        };
        let media_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();

        let resolved = {
            let mut fetch = |descriptor: &Descriptor| -> Result<Vec<u8>, String> {
                if descriptor.size > MAX_MANIFEST_BYTES {
                    return Err(format!(
                        "manifest {} is {}, over the cap of {} for a manifest",
                        clean(&descriptor.digest),
                        human_size(descriptor.size),
                        human_size(MAX_MANIFEST_BYTES)
                    ));
                }
                let bytes = self
                    .get_blob_like(
                        &format!("{base}/manifests/{}", checked_digest(&descriptor.digest)?),
                        &accept,
                        &auth,
                        descriptor,
                        "manifest",
                    )
                    .map_err(|f| {
                        describe(f, "a manifest the index names", &registry, label, options)
                    })?;
                Ok(bytes)
            };
            manifest::resolve(
                &bytes,
                &media_type,
                &digest,
                &self.options.platform,
                &mut fetch,
            )
            .map_err(|e| {
                if e.starts_with(label) {
                    e
                } else {
                    format!("{label}: {e}")
                }
            })?
        };
        let reference_name = normalize_reference(label);
        if let Some(mut cached) = cache_get(self.options, &resolved.digest) {
            log::info!("{label}: facts of {} from the cache", resolved.digest);
            cached.references = reference_name.into_iter().collect();
            cached.index_digests = resolved.index_digests.iter().cloned().collect();
            // Signatures are never cached: they can be added to an image at any time.
            cached.signatures = Some(self.collect_signatures(
                &base,
                &auth,
                &signed_digests(&resolved.digest, &resolved.index_digests),
            ));
            return Ok((resolved.digest, cached));
        }

        let manifest = resolved.manifest;
        if manifest.config.size > MAX_CONFIG_BYTES {
            return Err(format!(
                "{label}: the image config is {}, over the cap of {} for a config",
                human_size(manifest.config.size),
                human_size(MAX_CONFIG_BYTES)
            ));
        }
        let config = self
            .get_blob_like(
                &format!(
                    "{base}/blobs/{}",
                    checked_digest(&manifest.config.digest).map_err(|e| format!("{label}: {e}"))?
                ),
                "*/*",
                &auth,
                &manifest.config,
                "config",
            )
            .map_err(|f| fail("the image config", f))?;

        let mut scanner = FilesystemScanner::with_max_layer_size(self.options.max_layer_size);
        let mut layers = Vec::new();
        let count = manifest.layers.len();
        for (i, layer) in manifest.layers.iter().enumerate() {
            let digest = checked_digest(&layer.digest).map_err(|e| format!("{label}: {e}"))?;
            if layer.size > self.options.max_layer_size {
                return Err(format!(
                    "{label}: layer {digest} is {}, over the cap of {} (--max-layer-size)",
                    human_size(layer.size),
                    human_size(self.options.max_layer_size)
                ));
            }
            if self.options.progress {
                eprintln!("      layer {}/{count}: {}", i + 1, human_size(layer.size));
            }
            let deadline = Instant::now() + request_deadline(self.options.timeout, layer.size);
            let response = self
                .open(&format!("{base}/blobs/{digest}"), "*/*", &auth, deadline)
                .map_err(|f| fail(&format!("layer {digest}"), f))?;
            if let Some(length) = response.content_length()
                && length > layer.size
            {
                return Err(format!(
                    "{label}: layer {digest}: the registry announces {length} bytes, more than the {} the manifest gives",
                    layer.size
                ));
            }
            let reader = BodyReader {
                runtime: &self.runtime,
                response,
                chunk: bytes::Bytes::new(),
                read: 0,
                expected: layer.size,
                timeout: self.options.timeout,
                deadline,
            };
            let mut checked =
                CheckedReader::for_digest(reader, self.options.max_layer_size, digest);
            scanner
                .add_layer(&mut checked)
                .map_err(|e| format!("{label}: layer {digest}: {e}"))?;
            if checked.bytes_read() != layer.size {
                return Err(format!(
                    "{label}: layer {digest}: the registry sent {} bytes, not the {} the manifest gives",
                    checked.bytes_read(),
                    layer.size
                ));
            }
            if checked.digest() != digest {
                return Err(format!("{label}: layer {digest} does not match its digest"));
            }
            layers.push(LayerFacts {
                digest: digest.to_string(),
                size: layer.size,
            });
        }
        let facts = crate::local::assemble(
            &config,
            manifest.config.digest.clone(),
            layers,
            scanner,
            reference_name,
            resolved.index_digests.clone(),
        )
        .map_err(|e| format!("{label}: {e}"))?;
        cache_put(self.options, &resolved.digest, &facts);
        let mut facts = facts;
        facts.signatures = Some(self.collect_signatures(
            &base,
            &auth,
            &signed_digests(&resolved.digest, &resolved.index_digests),
        ));
        Ok((resolved.digest, facts))
    }

    /// The signature material stored for an image: cosign's `.sig` tag and the referrers
    /// (API, else tag schema) of each digest that may be signed. Never fails: what cannot
    /// be read is a problem in the result, and an image without signatures has none.
    /// Everything shares one deadline (twice `--registry-timeout`, as one request) and
    /// at most [`MAX_SIGNATURES`] signatures of at most [`MAX_SIGNATURE_BYTES`] are read.
    fn collect_signatures(
        &self,
        base: &str,
        auth: &Authorization,
        digests: &[String],
    ) -> SignatureFacts {
        let mut collection = SignatureCollection {
            session: self,
            base,
            auth,
            deadline: Instant::now() + request_deadline(self.options.timeout, 0),
            facts: SignatureFacts::default(),
            full: false,
        };
        for digest in digests.iter().filter(|d| is_supported_digest(d)) {
            collection.cosign_tag(digest);
            collection.referrers(digest);
        }
        collection.facts
    }

    /// `http[s]://registry`.
    fn registry_url(&self, reference: &Reference) -> String {
        let registry = reference.resolve_registry();
        let scheme = if plain_http(registry, &self.options.insecure) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{registry}")
    }

    /// `http[s]://registry/v2/repository`.
    fn repository_url(&self, reference: &Reference) -> String {
        format!(
            "{}/v2/{}",
            self.registry_url(reference),
            reference.repository()
        )
    }

    /// How to authorize requests to this repository: learnt from the registry's challenge
    /// at `/v2/` (and a token request, for token auth) on first use.
    fn authorization(&mut self, reference: &Reference) -> Result<Authorization, Failure> {
        let registry = reference.resolve_registry().to_string();
        let key = (registry.clone(), reference.repository().to_string());
        if let Some(known) = self.auth.get(&key) {
            return Ok(known.clone());
        }
        let credentials = self
            .options
            .credentials
            .for_registry(reference.registry())
            .cloned();
        let ping_url = format!("{}/v2/", self.registry_url(reference));
        let deadline = Instant::now() + request_deadline(self.options.timeout, 0);
        let challenge = self.run(deadline, async {
            let response = self
                .client
                .get(&ping_url)
                .send()
                .await
                .map_err(request_failure)?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(None);
            }
            let challenges: Vec<String> = response
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            Ok(Some(challenges))
        })?;
        let authorization = match challenge {
            None => Authorization::Anonymous,
            Some(challenges) => match challenges.iter().find_map(|c| bearer_challenge(c)) {
                Some(challenge) => {
                    let plain_registry = plain_http(&registry, &self.options.insecure);
                    self.token(reference, &challenge, credentials.as_ref(), plain_registry)?
                }
                None => match credentials {
                    Some((user, password)) => Authorization::Basic(user, password),
                    None => Authorization::Anonymous,
                },
            },
        };
        self.auth.insert(key, authorization.clone());
        Ok(authorization)
    }

    /// A bearer token for pulling from the repository, from the challenge's realm.
    fn token(
        &self,
        reference: &Reference,
        challenge: &BTreeMap<String, String>,
        credentials: Option<&(String, String)>,
        plain_registry: bool,
    ) -> Result<Authorization, Failure> {
        let realm = challenge
            .get("realm")
            .ok_or_else(|| Failure::Other("the registry's token challenge has no realm".into()))?;
        let mut url = Url::parse(realm)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                Failure::Other(format!(
                    "the token realm `{}` is not an http(s) URL",
                    clean(realm)
                ))
            })?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = challenge.get("service") {
                query.append_pair("service", service);
            }
            query.append_pair(
                "scope",
                &format!("repository:{}:pull", reference.repository()),
            );
        }
        // Credentials go to a token service over HTTPS, or over HTTP only when the
        // registry itself is reached that way.
        let send_credentials = url.scheme() == "https" || plain_registry;
        let deadline = Instant::now() + request_deadline(self.options.timeout, 0);
        let body = self.run(deadline, async {
            let mut request = self.client.get(url.clone());
            if let Some((user, password)) = credentials.filter(|_| send_credentials) {
                request = request.basic_auth(user, Some(password));
            }
            let response = request.send().await.map_err(request_failure)?;
            read_body(response, MAX_TOKEN_BYTES, "the cap for a token response").await
        })?;
        let token: serde_json::Value = serde_json::from_slice(&body.0)
            .map_err(|e| Failure::Other(format!("the token response is not JSON: {e}")))?;
        let token = token
            .get("token")
            .or_else(|| token.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure::Other("the token response has no token".into()))?;
        Ok(Authorization::Bearer(token.to_string()))
    }

    /// GET `url` and its whole body, at most `cap` bytes (`limit` says what that cap
    /// is), within `time`.
    fn get(
        &self,
        url: &str,
        accept: &str,
        auth: &Authorization,
        cap: u64,
        limit: &str,
        time: Duration,
    ) -> Result<(Vec<u8>, HeaderMap), Failure> {
        self.get_by(url, accept, auth, cap, limit, Instant::now() + time)
    }

    /// [`Session::get`] with a deadline shared with other requests.
    fn get_by(
        &self,
        url: &str,
        accept: &str,
        auth: &Authorization,
        cap: u64,
        limit: &str,
        deadline: Instant,
    ) -> Result<(Vec<u8>, HeaderMap), Failure> {
        self.run(deadline, async {
            let response = self
                .request(url, accept, auth)
                .send()
                .await
                .map_err(request_failure)?;
            read_body(response, cap, limit).await
        })
    }

    /// GET a blob or manifest a descriptor names: at most its size, which it must have,
    /// and its digest.
    fn get_blob_like(
        &self,
        url: &str,
        accept: &str,
        auth: &Authorization,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<Vec<u8>, Failure> {
        let deadline = Instant::now() + request_deadline(self.options.timeout, descriptor.size);
        self.get_described(url, accept, auth, descriptor, what, deadline)
    }

    /// [`Session::get_blob_like`] with a deadline shared with other requests.
    fn get_described(
        &self,
        url: &str,
        accept: &str,
        auth: &Authorization,
        descriptor: &Descriptor,
        what: &str,
        deadline: Instant,
    ) -> Result<Vec<u8>, Failure> {
        let (bytes, _) = self.get_by(
            url,
            accept,
            auth,
            descriptor.size,
            "the size its descriptor gives",
            deadline,
        )?;
        if bytes.len() as u64 != descriptor.size {
            return Err(Failure::Other(format!(
                "the registry sent {} bytes for {what} {}, not the {} its descriptor gives",
                bytes.len(),
                clean(&descriptor.digest),
                descriptor.size
            )));
        }
        if digest_like(&descriptor.digest, &bytes) != descriptor.digest {
            return Err(Failure::Other(format!(
                "{what} {} does not match its digest",
                clean(&descriptor.digest)
            )));
        }
        Ok(bytes)
    }

    /// GET `url` for streaming: the response once its status is a success.
    fn open(
        &self,
        url: &str,
        accept: &str,
        auth: &Authorization,
        deadline: Instant,
    ) -> Result<reqwest::Response, Failure> {
        self.run(deadline, async {
            let response = self
                .request(url, accept, auth)
                .send()
                .await
                .map_err(request_failure)?;
            if !response.status().is_success() {
                return Err(status_failure(response).await);
            }
            Ok(response)
        })
    }

    fn request(&self, url: &str, accept: &str, auth: &Authorization) -> reqwest::RequestBuilder {
        let request = self.client.get(url).header(ACCEPT, accept);
        match auth {
            Authorization::Anonymous => request,
            Authorization::Basic(user, password) => request.basic_auth(user, Some(password)),
            Authorization::Bearer(token) => request.bearer_auth(token),
        }
    }

    /// Runs a request to completion or to its deadline.
    fn run<T>(
        &self,
        deadline: Instant,
        request: impl std::future::Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        let limit = deadline.saturating_duration_since(Instant::now());
        self.runtime
            .block_on(async { tokio::time::timeout_at(deadline, request).await })
            .unwrap_or(Err(Failure::Timeout { read: false, limit }))
    }
}

/// The digests a tag's signatures may name: the image manifest's, and the indexes it was
/// resolved through (what `cosign sign` signs for a multi-platform tag).
fn signed_digests(digest: &str, index_digests: &[String]) -> Vec<String> {
    let mut digests = vec![digest.to_string()];
    for index in index_digests {
        if !digests.contains(index) {
            digests.push(index.clone());
        }
    }
    digests
}

/// One image's signature collection under way.
struct SignatureCollection<'s, 'a> {
    session: &'s Session<'a>,
    base: &'s str,
    auth: &'s Authorization,
    deadline: Instant,
    facts: SignatureFacts,
    /// [`MAX_SIGNATURES`] reached: the rest is not read.
    full: bool,
}

impl SignatureCollection<'_, '_> {
    fn problem(&mut self, text: String) {
        let text = clean(&text);
        if !self.facts.problems.contains(&text) {
            self.facts.problems.push(text);
        }
    }

    /// Whether there is room for one more signature (noting once that there is not).
    fn room(&mut self) -> bool {
        if self.facts.found.len() >= MAX_SIGNATURES {
            if !self.full {
                self.full = true;
                self.problem(format!(
                    "more than {MAX_SIGNATURES} signatures: the rest were not read"
                ));
            }
            return false;
        }
        true
    }

    fn push(&mut self, digest: &str, source: &str, material: SignatureMaterial) {
        let found = FoundSignature {
            digest: digest.to_string(),
            source: source.to_string(),
            material,
        };
        if !self.facts.found.contains(&found) {
            self.facts.found.push(found);
        }
    }

    /// A manifest by tag or digest; `Ok(None)` when the registry has none.
    fn manifest(&mut self, reference: &str, accept: &str) -> Result<Option<Vec<u8>>, Failure> {
        let url = format!("{}/manifests/{reference}", self.base);
        match self.session.get_by(
            &url,
            accept,
            self.auth,
            MAX_SIGNATURE_MANIFEST_BYTES,
            "the cap for a signature manifest",
            self.deadline,
        ) {
            Ok((bytes, _)) => Ok(Some(bytes)),
            Err(Failure::Status { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
            Err(failure) => Err(failure),
        }
    }

    /// A blob a signature manifest names, within [`MAX_SIGNATURE_BYTES`].
    fn blob(&mut self, descriptor: &Descriptor, what: &str) -> Option<Vec<u8>> {
        if descriptor.size > MAX_SIGNATURE_BYTES {
            self.problem(format!(
                "{what} {} is {}, over the cap of {} for a signature",
                descriptor.digest,
                human_size(descriptor.size),
                human_size(MAX_SIGNATURE_BYTES)
            ));
            return None;
        }
        let digest = match checked_digest(&descriptor.digest) {
            Ok(digest) => digest,
            Err(e) => {
                self.problem(format!("{what}: {e}"));
                return None;
            }
        };
        let url = format!("{}/blobs/{digest}", self.base);
        match self
            .session
            .get_described(&url, "*/*", self.auth, descriptor, what, self.deadline)
        {
            Ok(bytes) => Some(bytes),
            Err(failure) => {
                self.problem(format!("{what} {digest}: {}", failure_text(failure)));
                None
            }
        }
    }

    /// Cosign signatures: the layers of the `sha256-<hex>.sig` image.
    fn cosign_tag(&mut self, digest: &str) {
        let tag = format!("{}.sig", digest_tag(digest));
        let accept = [OCI_MANIFEST, DOCKER_MANIFEST].join(", ");
        let bytes = match self.manifest(&tag, &accept) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return,
            Err(failure) => {
                self.problem(format!(
                    "the cosign signature tag `{tag}`: {}",
                    failure_text(failure)
                ));
                return;
            }
        };
        let manifest = match SignatureManifest::parse(&bytes) {
            Ok(manifest) => manifest,
            Err(e) => {
                self.problem(format!("the cosign signature tag `{tag}`: {e}"));
                return;
            }
        };
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == COSIGN_SIMPLE_SIGNING)
        {
            if !self.room() {
                return;
            }
            let Some(payload) = self.blob(layer, "the cosign payload") else {
                continue;
            };
            match cosign_material(layer, &payload) {
                Ok(material) => self.push(digest, "cosign-tag", material),
                Err(e) => self.problem(e),
            }
        }
    }

    /// Sigstore bundles and Notation signatures among the referrers of `digest`.
    fn referrers(&mut self, digest: &str) {
        let url = format!("{}/referrers/{digest}", self.base);
        let (bytes, source) = match self.session.get_by(
            &url,
            OCI_INDEX,
            self.auth,
            MAX_SIGNATURE_MANIFEST_BYTES,
            "the cap for a referrers index",
            self.deadline,
        ) {
            Ok((bytes, _)) => (bytes, "referrers"),
            // Registries without the referrers API answer 404 (some 400 or 405): the
            // referrers tag schema is the fallback the distribution spec gives.
            Err(Failure::Status { status, .. }) if matches!(status.as_u16(), 400 | 404 | 405) => {
                match self.manifest(&digest_tag(digest), OCI_INDEX) {
                    Ok(Some(bytes)) => (bytes, "referrers-tag"),
                    Ok(None) => return,
                    Err(failure) => {
                        self.problem(format!(
                            "the referrers tag `{}`: {}",
                            digest_tag(digest),
                            failure_text(failure)
                        ));
                        return;
                    }
                }
            }
            Err(failure) => {
                self.problem(format!(
                    "the referrers of {digest}: {}",
                    failure_text(failure)
                ));
                return;
            }
        };
        let index = match ReferrersIndex::parse(&bytes) {
            Ok(index) => index,
            Err(e) => {
                // A `sha256-<hex>` tag may hold something else than a referrers index.
                if source == "referrers" {
                    self.problem(format!("the referrers of {digest}: {e}"));
                }
                return;
            }
        };
        for referrer in index.manifests.iter().filter(|d| d.may_be_signature()) {
            if !self.room() {
                return;
            }
            let descriptor = referrer.as_descriptor();
            if descriptor.size > MAX_SIGNATURE_MANIFEST_BYTES {
                self.problem(format!(
                    "referrer {} is {}, over the cap of {} for a signature manifest",
                    referrer.digest,
                    human_size(referrer.size),
                    human_size(MAX_SIGNATURE_MANIFEST_BYTES)
                ));
                continue;
            }
            let Ok(checked) = checked_digest(&referrer.digest) else {
                self.problem(format!(
                    "referrer `{}`: malformed digest",
                    clean(&referrer.digest)
                ));
                continue;
            };
            let url = format!("{}/manifests/{checked}", self.base);
            let accept = OCI_MANIFEST;
            let bytes = match self.session.get_described(
                &url,
                accept,
                self.auth,
                &descriptor,
                "referrer",
                self.deadline,
            ) {
                Ok(bytes) => bytes,
                Err(failure) => {
                    self.problem(format!("referrer {checked}: {}", failure_text(failure)));
                    continue;
                }
            };
            let manifest = match SignatureManifest::parse(&bytes) {
                Ok(manifest) => manifest,
                Err(e) => {
                    self.problem(format!("referrer {checked}: {e}"));
                    continue;
                }
            };
            // A referrers tag is written by clients: it may list what refers to others.
            if let Some(subject) = &manifest.subject
                && subject.digest != digest
            {
                self.problem(format!(
                    "referrer {checked} refers to {}, not to this image",
                    clean(&subject.digest)
                ));
                continue;
            }
            let Some((layer, kind)) = referrer_layer(&manifest) else {
                continue;
            };
            let what = match kind {
                ReferrerKind::Notation => "the Notation envelope",
                ReferrerKind::SigstoreBundle => "the Sigstore bundle",
            };
            let Some(blob) = self.blob(layer, what) else {
                continue;
            };
            match referrer_material(kind, layer, &blob) {
                Ok(material) => self.push(digest, source, material),
                Err(e) => self.problem(e),
            }
        }
    }
}

/// A failed signature request in words (the image is named by the finding).
fn failure_text(failure: Failure) -> String {
    match failure {
        Failure::Timeout { .. } => {
            "timed out: signature collection has the deadline of one request (twice --registry-timeout)".to_string()
        }
        Failure::Connect(text) => format!("cannot connect: {text}"),
        Failure::TooLarge { cap, limit } => {
            format!("more than {} ({limit})", human_size(cap))
        }
        Failure::Status { status, message } if message.is_empty() => {
            format!("HTTP {}", status.as_u16())
        }
        Failure::Status { status, message } => format!("HTTP {}: {message}", status.as_u16()),
        Failure::Other(text) => text,
    }
}

/// A response body read to its end, at most `cap` bytes (`limit` says what that cap is);
/// an error status reads at most [`MAX_ERROR_BODY_BYTES`] of it for the message.
async fn read_body(
    mut response: reqwest::Response,
    cap: u64,
    limit: &str,
) -> Result<(Vec<u8>, HeaderMap), Failure> {
    if !response.status().is_success() {
        return Err(status_failure(response).await);
    }
    let too_large = || Failure::TooLarge {
        cap,
        limit: limit.to_string(),
    };
    if response.content_length().is_some_and(|length| length > cap) {
        return Err(too_large());
    }
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_failure)? {
        if body.len() as u64 + chunk.len() as u64 > cap {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, headers))
}

/// The failure for an error status: the status and the registry's message (from the first
/// [`MAX_ERROR_BODY_BYTES`] of the body, in time or not at all).
async fn status_failure(mut response: reqwest::Response) -> Failure {
    let status = response.status();
    let mut body = Vec::new();
    // The body only explains the status: a slow or endless one is cut, not waited for.
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = MAX_ERROR_BODY_BYTES as usize - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() as u64 >= MAX_ERROR_BODY_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_TIME, read).await;
    Failure::Status {
        status,
        message: registry_message(&body),
    }
}

/// The messages of a Distribution API error body (`{"errors":[{"code","message"}]}`), or
/// the start of the body.
fn registry_message(body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(errors) = value.get("errors").and_then(|e| e.as_array())
    {
        let texts: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| {
                let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                let message = e.get("message").and_then(|m| m.as_str()).unwrap_or("");
                clean(&format!("{code}: {message}"))
            })
            .collect();
        return texts.join("; ");
    }
    clean(&String::from_utf8_lossy(&body[..body.len().min(120)]))
}

fn request_failure(error: reqwest::Error) -> Failure {
    if error.is_timeout() {
        Failure::Timeout {
            read: true,
            limit: Duration::ZERO,
        }
    } else if error.is_connect() {
        Failure::Connect(source_chain(&error))
    } else {
        Failure::Other(source_chain(&error))
    }
}

/// Registry text as one printable line of at most 200 characters.
fn clean(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// `digest` when it is one this client can verify and put in a URL.
fn checked_digest(digest: &str) -> Result<&str, String> {
    if is_supported_digest(digest) {
        Ok(digest)
    } else {
        Err(format!(
            "unsupported or malformed digest `{}` (sha256 or sha512 expected)",
            clean(digest)
        ))
    }
}

/// The parameters of a `Bearer` challenge (`Bearer realm="…",service="…"`).
fn bearer_challenge(header: &str) -> Option<BTreeMap<String, String>> {
    let rest = header.trim_start();
    let (scheme, mut rest) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut params = BTreeMap::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some(equals) = rest.find('=') else { break };
        let key = rest[..equals].trim().to_ascii_lowercase();
        rest = &rest[equals + 1..];
        let value = if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            rest = &quoted[end.min(quoted.len())..];
            value
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = rest[..end].trim().to_string();
            rest = &rest[end..];
            value
        };
        params.insert(key, value);
    }
    Some(params)
}

/// A blob body read synchronously (the filesystem scanner and tar reader are blocking
/// code): one chunk in memory at a time, each read within the read timeout and the whole
/// within the request's deadline, and never more than the descriptor's size.
struct BodyReader<'a> {
    runtime: &'a tokio::runtime::Runtime,
    response: reqwest::Response,
    /// What is left of the last chunk.
    chunk: bytes::Bytes,
    read: u64,
    expected: u64,
    timeout: Duration,
    deadline: Instant,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let (limit, what) = if remaining < self.timeout {
                (remaining, "the deadline for this blob passed")
            } else {
                (self.timeout, "the registry stopped sending data")
            };
            let next = self
                .runtime
                .block_on(async { tokio::time::timeout(limit, self.response.chunk()).await });
            match next {
                Err(_) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("timed out: {what} ({}s)", limit.as_secs_f32().ceil()),
                    ));
                }
                Ok(Err(e)) => {
                    let text = source_chain(&e);
                    let kind = if e.is_timeout() {
                        std::io::ErrorKind::TimedOut
                    } else {
                        std::io::ErrorKind::Other
                    };
                    return Err(std::io::Error::new(
                        kind,
                        format!("the registry stopped sending data: {text}"),
                    ));
                }
                Ok(Ok(None)) => return Ok(0),
                Ok(Ok(Some(bytes))) => {
                    self.read += bytes.len() as u64;
                    if self.read > self.expected {
                        return Err(std::io::Error::other(format!(
                            "the registry sent more than the {} bytes the manifest gives",
                            self.expected
                        )));
                    }
                    self.chunk = bytes;
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}

/// Registry failures as people need them: what failed, for which image, and what to do.
fn describe(
    failure: Failure,
    what: &str,
    registry: &str,
    label: &str,
    options: &RegistryOptions,
) -> String {
    match failure {
        Failure::Timeout { read: true, .. } => format!(
            "{label}: timed out: {registry} did not answer within {}s (--registry-timeout) for {what}",
            options.timeout.as_secs()
        ),
        Failure::Timeout { read: false, limit } => format!(
            "{label}: timed out: {what} from {registry} took longer than {}s, the deadline for the whole request (twice --registry-timeout, plus 1s per {} of a blob)",
            limit.as_secs_f32().round(),
            human_size(MIN_TRANSFER_RATE)
        ),
        Failure::Connect(text) => format!("{label}: cannot connect to {registry}: {text}"),
        Failure::TooLarge { cap, limit } => format!(
            "{label}: {registry} sent more than {} for {what} ({limit})",
            human_size(cap)
        ),
        Failure::Status { status, message } => {
            let detail = if message.is_empty() {
                format!("HTTP {}", status.as_u16())
            } else {
                format!("HTTP {}: {message}", status.as_u16())
            };
            match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                    "{label}: authentication to {registry} failed: check the credentials (docker config.json, --username) ({detail})"
                ),
                StatusCode::NOT_FOUND => format!(
                    "{label}: not found in {registry} (no such repository, tag or digest) ({detail})"
                ),
                _ => format!("{label}: {registry} answered {what} with {detail}"),
            }
        }
        Failure::Other(text) => format!("{label}: {registry}: {what}: {text}"),
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

/// Cached facts of a manifest digest. A cache entry that does not parse, is not a regular
/// file or is over [`MAX_CACHE_ENTRY_BYTES`] is ignored.
fn cache_get(options: &RegistryOptions, digest: &str) -> Option<ImageFacts> {
    let path = cache_path(options, digest)?;
    if !path.exists() {
        return None;
    }
    match crate::read_regular_file(&path, MAX_CACHE_ENTRY_BYTES, "a facts cache entry") {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(message) => {
            log::warn!("ignoring the facts cache entry: {message}");
            None
        }
    }
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
            Some((u, p)) if u == "alice" && p == "s3cret"));
        assert!(matches!(credentials.for_registry("localhost:5000"),
            Some((u, _)) if u == "bob"));
        assert!(credentials.for_registry("ghcr.io").is_none());
        assert!(!format!("{credentials:?}").contains("s3cret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bearer_challenges_and_error_bodies() {
        let challenge = bearer_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="a\"b""#,
        )
        .unwrap();
        assert_eq!(challenge["realm"], "https://auth.docker.io/token");
        assert_eq!(challenge["service"], "registry.docker.io");
        assert_eq!(challenge["scope"], "a\"b");
        assert!(bearer_challenge(r#"Basic realm="x""#).is_none());
        let plain = bearer_challenge("bearer realm=https://h/t, service=s").unwrap();
        assert_eq!(
            (plain["realm"].as_str(), plain["service"].as_str()),
            ("https://h/t", "s")
        );
        assert_eq!(
            registry_message(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            ),
            "MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(registry_message(b"\x1b[31mred\nline"), " [31mred line");
        assert_eq!(
            request_deadline(Duration::from_secs(30), 1 << 30),
            Duration::from_secs(60 + 8192)
        );
    }
}
