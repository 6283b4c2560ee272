//! The verification policy: configuration (serde) and its compiled form.

use crate::keys::PublicKey;
use crate::trust_root::TrustedRoot;
use crate::x509::Certificate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Policy as written in settings (kebab-case keys; unknown keys are rejected).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyConfig {
    /// Trusted public keys (PEM `PUBLIC KEY` or `RSA PUBLIC KEY`) for key-based signatures.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Trusted keyless identities (any one must match).
    #[serde(default)]
    pub identities: Vec<IdentityConfig>,
    /// Sigstore `trusted_root.json` text; required for keyless signatures and log proofs.
    /// [`crate::PRODUCTION_TRUSTED_ROOT`] holds the public-good root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_root: Option<String>,
    /// Notation trust store and verification level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notation: Option<NotationConfig>,
    /// Expected repository in cosign payloads (`critical.identity.docker-reference`, compared
    /// without its tag or digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_reference: Option<String>,
    /// Require the cosign payload's docker reference to name the repository being admitted.
    #[serde(default)]
    pub match_admitted_reference: bool,
    /// Require a verified transparency-log entry for key-based signatures too (needs
    /// `trusted-root`). Keyless signatures always need one (or a timestamp).
    #[serde(default)]
    pub require_tlog_for_keys: bool,
}

/// One trusted keyless identity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IdentityConfig {
    /// OIDC issuer, exact (e.g. `https://token.actions.githubusercontent.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// OIDC issuer as a regular expression, searched as cosign does (anchor with `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_regexp: Option<String>,
    /// Certificate SAN (email or URI), exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Certificate SAN as a regular expression, searched as cosign does (anchor with `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_regexp: Option<String>,
}

/// Notation verification settings (one trust policy statement).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NotationConfig {
    /// CA certificates (PEM) for the `notary.x509` signing scheme (trust store type `ca`).
    #[serde(default)]
    pub trust_store: Vec<String>,
    /// Certificates (PEM) for `notary.x509.signingAuthority` (trust store type `signingAuthority`).
    #[serde(default)]
    pub signing_authority_store: Vec<String>,
    /// Timestamp-authority roots (PEM) for RFC 3161 countersignatures (trust store type `tsa`).
    #[serde(default)]
    pub tsa_store: Vec<String>,
    /// Verification level.
    #[serde(default)]
    pub level: NotationLevel,
    /// Trusted identities: `x509.subject: C=US, O=Example, CN=signer` or `*` (default `*`).
    #[serde(default)]
    pub trusted_identities: Vec<String>,
}

/// Notation verification levels (trust policy `signatureVerification.level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotationLevel {
    /// Every check enforced.
    #[default]
    Strict,
    /// Integrity and authenticity enforced; expiry, timestamp and revocation logged.
    Permissive,
    /// Integrity enforced; everything else logged.
    Audit,
    /// No verification: any Notation signature material is accepted.
    Skip,
}

/// A policy that could not be compiled. Each variant names the bad field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// A key in `keys` is not a supported PEM public key.
    Key {
        /// Position in `keys`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// An identity is incomplete or has a bad regular expression.
    Identity {
        /// Position in `identities`.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// `trusted-root` cannot be parsed.
    TrustedRoot(String),
    /// A Notation certificate or identity is invalid.
    Notation {
        /// The field, e.g. `notation.trust-store[0]`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Identities or `require-tlog-for-keys` were given without a trusted root.
    MissingTrustedRoot,
    /// The policy trusts nothing.
    Empty,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Key { index, message } => write!(f, "`keys[{index}]`: {message}"),
            PolicyError::Identity { index, message } => {
                write!(f, "`identities[{index}]`: {message}")
            }
            PolicyError::TrustedRoot(m) => write!(f, "`trusted-root`: {m}"),
            PolicyError::Notation { field, message } => write!(f, "`{field}`: {message}"),
            PolicyError::MissingTrustedRoot => write!(
                f,
                "`trusted-root`: required for `identities` and `require-tlog-for-keys`"
            ),
            PolicyError::Empty => write!(
                f,
                "the policy trusts no key, identity or notation trust store"
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Exact(String),
    Regex(regex::Regex),
}

impl Matcher {
    pub fn matches(&self, s: &str) -> bool {
        match self {
            Matcher::Exact(e) => e == s,
            Matcher::Regex(r) => r.is_match(s),
        }
    }

    fn new(exact: &Option<String>, re: &Option<String>, what: &str) -> Result<Matcher, String> {
        match (exact, re) {
            (Some(e), None) => Ok(Matcher::Exact(e.clone())),
            // Searched, not anchored, as cosign's `--certificate-identity-regexp` and
            // Kyverno's `subjectRegExp` do: anchor with `^…$` for a whole-value match.
            (None, Some(r)) => regex::RegexBuilder::new(r)
                .size_limit(1 << 20)
                .build()
                .map(Matcher::Regex)
                .map_err(|e| format!("`{what}-regexp` is not a valid regular expression: {e}")),
            (Some(_), Some(_)) => Err(format!("set either `{what}` or `{what}-regexp`, not both")),
            (None, None) => Err(format!("`{what}` or `{what}-regexp` is required")),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matcher::Exact(e) => write!(f, "`{e}`"),
            Matcher::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub issuer: Matcher,
    pub subject: Matcher,
}

#[derive(Debug, Clone)]
pub(crate) struct NotationPolicy {
    pub ca: Vec<Certificate>,
    pub signing_authority: Vec<Certificate>,
    pub tsa: Vec<Certificate>,
    pub level: NotationLevel,
    /// `None` = `*`; otherwise sets of required subject attributes.
    pub identities: Option<Vec<Vec<(String, String)>>>,
}

/// A compiled policy: parse once, use for many images.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) keys: Vec<PublicKey>,
    pub(crate) identities: Vec<Identity>,
    pub(crate) trusted_root: Option<TrustedRoot>,
    pub(crate) notation: Option<NotationPolicy>,
    pub(crate) docker_reference: Option<String>,
    pub(crate) match_admitted_reference: bool,
    pub(crate) require_tlog_for_keys: bool,
}

fn certs(pems: &[String], field: &str) -> Result<Vec<Certificate>, PolicyError> {
    let mut out = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let err = |message: String| PolicyError::Notation {
            field: format!("notation.{field}[{i}]"),
            message,
        };
        let chain = Certificate::from_pem_chain(pem, 16).map_err(err)?;
        if chain.is_empty() {
            return Err(err("no `CERTIFICATE` PEM block".into()));
        }
        out.extend(chain);
    }
    Ok(out)
}

/// Parses `x509.subject: C=US, ST=WA, O=x` into attribute pairs.
fn parse_identity(s: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let s = s.trim();
    if s == "*" {
        return Ok(None);
    }
    let dn = s
        .strip_prefix("x509.subject:")
        .ok_or("trusted identities must be `*` or start with `x509.subject:`")?;
    let mut attrs = Vec::new();
    for part in dn.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or(format!("`{}` is not `TYPE=value`", part.trim()))?;
        attrs.push((k.trim().to_ascii_uppercase(), v.trim().to_string()));
    }
    if attrs.is_empty() {
        return Err("empty subject".into());
    }
    Ok(Some(attrs))
}

impl Policy {
    /// Compiles a policy, naming the first bad field.
    pub fn new(config: &PolicyConfig) -> Result<Policy, PolicyError> {
        let mut keys = Vec::new();
        for (index, pem) in config.keys.iter().enumerate() {
            keys.push(
                PublicKey::from_pem(pem).map_err(|message| PolicyError::Key { index, message })?,
            );
        }
        let mut identities = Vec::new();
        for (index, id) in config.identities.iter().enumerate() {
            let err = |message| PolicyError::Identity { index, message };
            identities.push(Identity {
                issuer: Matcher::new(&id.issuer, &id.issuer_regexp, "issuer").map_err(err)?,
                subject: Matcher::new(&id.subject, &id.subject_regexp, "subject").map_err(err)?,
            });
        }
        let trusted_root = match &config.trusted_root {
            Some(text) => Some(TrustedRoot::from_json(text).map_err(PolicyError::TrustedRoot)?),
            None => None,
        };
        if trusted_root.is_none() && (!identities.is_empty() || config.require_tlog_for_keys) {
            return Err(PolicyError::MissingTrustedRoot);
        }
        let notation = match &config.notation {
            Some(n) => {
                let mut ids = Some(Vec::new());
                for (i, s) in n.trusted_identities.iter().enumerate() {
                    match parse_identity(s).map_err(|message| PolicyError::Notation {
                        field: format!("notation.trusted-identities[{i}]"),
                        message,
                    })? {
                        None => ids = None,
                        Some(attrs) => {
                            if let Some(v) = ids.as_mut() {
                                v.push(attrs)
                            }
                        }
                    }
                }
                if n.trusted_identities.is_empty() {
                    ids = None;
                }
                let policy = NotationPolicy {
                    ca: certs(&n.trust_store, "trust-store")?,
                    signing_authority: certs(
                        &n.signing_authority_store,
                        "signing-authority-store",
                    )?,
                    tsa: certs(&n.tsa_store, "tsa-store")?,
                    level: n.level,
                    identities: ids,
                };
                if policy.level != NotationLevel::Skip
                    && policy.ca.is_empty()
                    && policy.signing_authority.is_empty()
                {
                    return Err(PolicyError::Notation {
                        field: "notation.trust-store".into(),
                        message: "no trusted certificate (set `trust-store` or `signing-authority-store`)".into(),
                    });
                }
                Some(policy)
            }
            None => None,
        };
        if keys.is_empty() && identities.is_empty() && notation.is_none() {
            return Err(PolicyError::Empty);
        }
        Ok(Policy {
            keys,
            identities,
            trusted_root,
            notation,
            docker_reference: config.docker_reference.clone(),
            match_admitted_reference: config.match_admitted_reference,
            require_tlog_for_keys: config.require_tlog_for_keys,
        })
    }

    /// Fingerprints (`sha256:<hex>` of the SPKI) of the trusted keys, in configuration order.
    pub fn key_fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(PublicKey::fingerprint).collect()
    }
}
