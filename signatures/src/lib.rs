//! Offline verification of container-image signatures over pre-collected material.
//!
//! Portcullis collects signature material from registries elsewhere (the facts stage); this
//! crate only decides, in pure Rust and without network or clock, whether that material
//! proves that an image digest was signed by someone the policy trusts. It builds for
//! `wasm32-unknown-unknown` and `wasm32-wasip1`.
//!
//! | module | what it verifies |
//! |---|---|
//! | `cosign` | cosign "simple signing" payloads (`.sig` tag scheme), key-based and keyless (Fulcio certificate + Rekor bundle) |
//! | `bundle` | Sigstore bundles v0.1–v0.3: message signatures and DSSE/in-toto, x509 or managed keys, Rekor v1/v2 entries, RFC 3161 timestamps |
//! | `notation` | Notary Project (Notation) JWS and COSE_Sign1 envelopes with the trust-policy levels |
//! | `rekor`, `tsa`, `sct`, `x509`, `keys`, `der` | the building blocks: log proofs, timestamps, CT, certificates, keys, DER |
//!
//! Entry points: compile a [`Policy`] once from a [`PolicyConfig`] (JSON or YAML through
//! serde), then call [`verify`] per image with its [`SignatureMaterial`] and the current
//! time; the [`Verdict`] says whether the image is verified and why each signature was
//! accepted or rejected.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod bundle;
mod cosign;
mod der;
mod keys;
mod notation;
mod policy;
mod rekor;
mod sct;
mod time;
mod trust_root;
mod tsa;
mod x509;

pub use policy::{
    IdentityConfig, NotationConfig, NotationLevel, Policy, PolicyConfig, PolicyError,
};

use serde::{Deserialize, Serialize};

/// The production Sigstore trusted root (public-good instance) as shipped by sigstore-python
/// 4.5.1 (`sigstore/_store/https%3A%2F%2Ftuf-repo-cdn.sigstore.dev/trusted_root.json`).
/// A snapshot: callers that can refresh it through TUF should prefer their own copy.
pub const PRODUCTION_TRUSTED_ROOT: &str = include_str!("../data/production_trusted_root.json");

/// Most signatures examined for one image; the rest are reported as `too-large`.
pub const MAX_SIGNATURES: usize = 64;
/// Largest single piece of material (bundle JSON, envelope, payload, certificate chain).
pub const MAX_MATERIAL_BYTES: usize = 512 * 1024;

/// Signature material for one signature, as collected from a registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SignatureMaterial {
    /// A cosign signature layer of a `sha256-<hex>.sig` image.
    #[serde(rename_all = "kebab-case")]
    Cosign {
        /// Base64 of the layer blob (the simple-signing payload JSON), exactly as stored.
        payload: String,
        /// The `dev.cosignproject.cosign/signature` annotation (base64 signature).
        signature: String,
        /// The `dev.sigstore.cosign/certificate` annotation (PEM leaf), for keyless signatures.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate: Option<String>,
        /// The `dev.sigstore.cosign/chain` annotation (PEM intermediates and root).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        chain: Option<String>,
        /// The `dev.sigstore.cosign/bundle` annotation (Rekor SET bundle JSON).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rekor_bundle: Option<String>,
    },
    /// A Sigstore bundle (e.g. a cosign v3 / OCI 1.1 referrer layer), as a JSON object or text.
    SigstoreBundle {
        /// The bundle JSON.
        bundle: serde_json::Value,
    },
    /// A Notation signature envelope (the signature manifest's layer).
    #[serde(rename_all = "kebab-case")]
    Notation {
        /// `application/jose+json` or `application/cose`.
        media_type: String,
        /// Base64 of the envelope blob.
        envelope: String,
    },
}

/// Why a signature (or an image) did not verify. Serialized in kebab-case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureReason {
    /// The image has no signature material at all.
    NoSignature,
    /// The material cannot be parsed (bad base64, PEM, JSON, CBOR, DER, unknown version).
    Malformed,
    /// The material exceeds a size or count limit.
    TooLarge,
    /// The signed payload names another image digest.
    DigestMismatch,
    /// The signed payload names another docker reference than the policy requires.
    ReferenceMismatch,
    /// The signature does not verify (tampered payload or signature).
    BadSignature,
    /// Cryptographically valid, but by a key the policy does not trust.
    UntrustedKey,
    /// Valid certificate, but its identity (SAN, OIDC issuer, subject) is not allowed.
    UntrustedIdentity,
    /// The certificate chain does not lead to a trusted root, or breaks a constraint.
    UntrustedChain,
    /// The signing certificate (or its chain) was not valid at signing time.
    CertificateExpired,
    /// The signature itself has expired (Notation `io.cncf.notary.expiry`).
    SignatureExpired,
    /// A transparency-log proof is missing or invalid (SET, inclusion proof, checkpoint, entry).
    TlogInvalid,
    /// A timestamp is missing, invalid, or from an untrusted authority.
    TimestampInvalid,
    /// A format feature this verifier does not support.
    Unsupported,
}

/// A failure with a human-readable detail (lowercase, values in backticks).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// Machine-readable reason.
    pub reason: FailureReason,
    /// What exactly was found.
    pub detail: String,
    /// The policy trusts no signer of this kind (keyless material without a trusted root,
    /// Notation without a trust store): the least telling failure when others exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unconfigured: bool,
}

impl Failure {
    pub(crate) fn new(reason: FailureReason, detail: impl Into<String>) -> Failure {
        Failure {
            reason,
            detail: detail.into(),
            unconfigured: false,
        }
    }

    /// A failure because the policy has no trust for this kind of signature.
    pub(crate) fn unconfigured(reason: FailureReason, detail: impl Into<String>) -> Failure {
        Failure {
            unconfigured: true,
            ..Failure::new(reason, detail)
        }
    }
}

/// Who signed, as far as the material shows (also filled in for rejected signatures, so a
/// message can name what was found).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Signer {
    /// `sha256:<hex>` of the signing key's SubjectPublicKeyInfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_fingerprint: Option<String>,
    /// Certificate SAN (email or URI) of a keyless signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// OIDC issuer recorded in a Fulcio certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// X.509 subject of the signing certificate (Notation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_subject: Option<String>,
    /// Verified signing time (Unix seconds) from a log or timestamp authority, or the
    /// signer-asserted time for Notation without a timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_time: Option<i64>,
}

/// Signature formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// cosign simple signing.
    Cosign,
    /// Sigstore bundle.
    SigstoreBundle,
    /// Notation envelope.
    Notation,
}

/// The outcome for one signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SignatureResult {
    /// Position in the material list.
    pub index: usize,
    /// Format of the material.
    pub format: Format,
    /// Whether this signature satisfies the policy.
    pub verified: bool,
    /// What is known about the signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Checks that failed but are only logged at the Notation verification level in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logged: Vec<Failure>,
}

/// The decision for one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Verdict {
    /// At least one signature satisfies the policy.
    pub verified: bool,
    /// For an unverified image: the most telling reason over all signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    /// One entry per examined signature, in input order.
    pub signatures: Vec<SignatureResult>,
}

/// Verifies the signatures of the image `image_digest` (`sha256:<hex>`).
///
/// `docker_reference` is the reference being admitted (used only when the policy sets
/// `match-admitted-reference`); `now` is the current time in Unix seconds (signature
/// expiry, log times in the future, Notation certificates without a timestamp).
/// The image is verified when any one signature satisfies the policy.
pub fn verify(
    policy: &Policy,
    image_digest: &str,
    docker_reference: Option<&str>,
    materials: &[SignatureMaterial],
    now: i64,
) -> Verdict {
    let mut results = Vec::with_capacity(materials.len().min(MAX_SIGNATURES + 1));
    for (index, m) in materials.iter().enumerate() {
        let format = match m {
            SignatureMaterial::Cosign { .. } => Format::Cosign,
            SignatureMaterial::SigstoreBundle { .. } => Format::SigstoreBundle,
            SignatureMaterial::Notation { .. } => Format::Notation,
        };
        if index >= MAX_SIGNATURES {
            results.push(SignatureResult {
                index,
                format,
                verified: false,
                signer: None,
                failure: Some(Failure::new(
                    FailureReason::TooLarge,
                    format!("only the first {MAX_SIGNATURES} signatures are examined"),
                )),
                logged: Vec::new(),
            });
            continue;
        }
        let ctx = Context {
            policy,
            digest: image_digest,
            docker_reference,
            now,
        };
        let mut out = Outcome::default();
        let res = match m {
            SignatureMaterial::Cosign {
                payload,
                signature,
                certificate,
                chain,
                rekor_bundle,
            } => cosign::verify(
                &ctx,
                &cosign::Input {
                    payload,
                    signature,
                    certificate: certificate.as_deref(),
                    chain: chain.as_deref(),
                    rekor_bundle: rekor_bundle.as_deref(),
                },
                &mut out,
            ),
            SignatureMaterial::SigstoreBundle { bundle } => {
                bundle::verify_material(&ctx, bundle, &mut out)
            }
            SignatureMaterial::Notation {
                media_type,
                envelope,
            } => notation::verify(&ctx, media_type, envelope, &mut out),
        };
        let signer = (out.signer != Signer::default()).then_some(out.signer);
        results.push(SignatureResult {
            index,
            format,
            verified: res.is_ok(),
            signer,
            failure: res.err(),
            logged: out.logged,
        });
    }
    let verified = results.iter().any(|r| r.verified);
    let reason = if verified {
        None
    } else if results.is_empty() {
        Some(FailureReason::NoSignature)
    } else {
        results
            .iter()
            .filter_map(|r| r.failure.as_ref())
            .min_by_key(|f| (f.unconfigured, priority(f.reason)))
            .map(|f| f.reason)
    };
    Verdict {
        verified,
        reason,
        signatures: results,
    }
}

impl FailureReason {
    /// How telling the reason is when several signatures fail differently: lower is more
    /// telling (a bad signature says more than a missing one).
    pub fn rank(self) -> u8 {
        priority(self)
    }

    /// The reason in kebab-case, as serialized (`untrusted-key`).
    pub fn as_str(self) -> &'static str {
        use FailureReason::*;
        match self {
            NoSignature => "no-signature",
            Malformed => "malformed",
            TooLarge => "too-large",
            DigestMismatch => "digest-mismatch",
            ReferenceMismatch => "reference-mismatch",
            BadSignature => "bad-signature",
            UntrustedKey => "untrusted-key",
            UntrustedIdentity => "untrusted-identity",
            UntrustedChain => "untrusted-chain",
            CertificateExpired => "certificate-expired",
            SignatureExpired => "signature-expired",
            TlogInvalid => "tlog-invalid",
            TimestampInvalid => "timestamp-invalid",
            Unsupported => "unsupported",
        }
    }
}

/// Lower = more telling when several signatures fail differently.
fn priority(r: FailureReason) -> u8 {
    use FailureReason::*;
    match r {
        BadSignature => 0,
        TlogInvalid => 1,
        TimestampInvalid => 2,
        CertificateExpired => 3,
        SignatureExpired => 4,
        UntrustedChain => 5,
        UntrustedIdentity => 6,
        UntrustedKey => 7,
        DigestMismatch => 8,
        ReferenceMismatch => 9,
        Unsupported => 10,
        Malformed => 11,
        TooLarge => 12,
        NoSignature => 13,
    }
}

/// What one verification call needs to know.
pub(crate) struct Context<'a> {
    pub policy: &'a Policy,
    pub digest: &'a str,
    pub docker_reference: Option<&'a str>,
    pub now: i64,
}

/// Side results of verifying one signature.
#[derive(Default)]
pub(crate) struct Outcome {
    pub signer: Signer,
    pub logged: Vec<Failure>,
}

/// Decodes standard base64 (padding optional), with a size cap.
pub(crate) fn b64(s: &str, what: &str) -> Result<Vec<u8>, Failure> {
    use base64::Engine as _;
    if s.len() > MAX_MATERIAL_BYTES * 4 / 3 + 4 {
        return Err(Failure::new(
            FailureReason::TooLarge,
            format!("{what} is too large"),
        ));
    }
    let cleaned: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned.as_bytes()))
        .map_err(|_| {
            Failure::new(
                FailureReason::Malformed,
                format!("{what} is not valid base64"),
            )
        })
}

/// Parses `sha256:<hex>` into bytes.
pub(crate) fn parse_digest(d: &str) -> Option<Vec<u8>> {
    let hexpart = d.strip_prefix("sha256:")?;
    if hexpart.len() != 64 {
        return None;
    }
    hex::decode(hexpart).ok()
}
