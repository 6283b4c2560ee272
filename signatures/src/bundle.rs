//! Sigstore bundles (protobuf-specs JSON, v0.1–v0.3) and the checks shared with cosign
//! keyless signatures: Fulcio chain, identity, SCT, Rekor entries and RFC 3161 timestamps.

use crate::keys::{HashAlg, PublicKey, Scheme};
use crate::rekor;
use crate::trust_root::TrustedRoot;
use crate::x509::{self, Certificate, ChainError, San};
use crate::{Context, Failure, FailureReason as R, MAX_MATERIAL_BYTES, Outcome, b64};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A DSSE envelope's PAE and payload.
type PaeAndPayload = (Vec<u8>, Vec<u8>);

/// Most transparency-log entries or timestamps looked at in one bundle.
const MAX_ENTRIES: usize = 8;

fn malformed(m: impl Into<String>) -> Failure {
    Failure::new(R::Malformed, m)
}

/// A transparency-log entry, from a bundle or a cosign `bundle` annotation.
pub(crate) struct TlogEntry {
    pub log_index: i64,
    pub log_id: Vec<u8>,
    pub integrated_time: Option<i64>,
    pub set: Option<Vec<u8>>,
    pub proof: Option<Proof>,
    pub body_b64: String,
    pub body: Vec<u8>,
}

pub(crate) struct Proof {
    pub log_index: u64,
    pub root_hash: Vec<u8>,
    pub tree_size: u64,
    pub hashes: Vec<[u8; 32]>,
    pub checkpoint: Option<String>,
}

/// What the log must have recorded for this signature.
pub(crate) enum Logged<'a> {
    /// A signature over a message with this SHA-256 digest.
    Message {
        digest: &'a [u8],
        signature: &'a [u8],
    },
    /// A DSSE envelope.
    Dsse {
        pae: &'a [u8],
        payload: &'a [u8],
        signature: &'a [u8],
    },
}

fn int_field(v: Option<&Value>, what: &str) -> Result<Option<i64>, Failure> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| malformed(format!("`{what}` is not an integer"))),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| malformed(format!("`{what}` is not an integer"))),
        Some(_) => Err(malformed(format!("`{what}` is not an integer"))),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn parse_tlog_entry(e: &Value) -> Result<TlogEntry, Failure> {
    let log_index = int_field(e.get("logIndex"), "logIndex")?
        .ok_or_else(|| malformed("tlog entry has no `logIndex`"))?;
    if log_index < 0 {
        return Err(malformed(format!(
            "tlog entry has a negative log index `{log_index}`"
        )));
    }
    let log_id = b64(
        e.get("logId")
            .and_then(|l| str_field(l, "keyId"))
            .unwrap_or(""),
        "logId.keyId",
    )?;
    let body_b64 = str_field(e, "canonicalizedBody")
        .ok_or_else(|| malformed("tlog entry has no `canonicalizedBody`"))?;
    let body = b64(body_b64, "canonicalizedBody")?;
    let integrated_time = int_field(e.get("integratedTime"), "integratedTime")?.filter(|t| *t != 0);
    let set = match e
        .get("inclusionPromise")
        .and_then(|p| str_field(p, "signedEntryTimestamp"))
    {
        Some(s) => Some(b64(s, "signedEntryTimestamp")?),
        None => None,
    };
    let proof = match e.get("inclusionProof") {
        Some(p) => {
            let log_index = int_field(p.get("logIndex"), "inclusionProof.logIndex")?.unwrap_or(0);
            let tree_size = int_field(p.get("treeSize"), "inclusionProof.treeSize")?.unwrap_or(0);
            if log_index < 0 || tree_size < 0 {
                return Err(malformed("inclusion proof has a negative index or size"));
            }
            let mut hashes = Vec::new();
            for h in p
                .get("hashes")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .take(65)
            {
                let raw = b64(h.as_str().unwrap_or(""), "inclusionProof.hashes")?;
                hashes.push(
                    raw.try_into()
                        .map_err(|_| malformed("inclusion proof hash is not 32 bytes"))?,
                );
            }
            Some(Proof {
                log_index: log_index as u64,
                root_hash: b64(
                    str_field(p, "rootHash").unwrap_or(""),
                    "inclusionProof.rootHash",
                )?,
                tree_size: tree_size as u64,
                hashes,
                checkpoint: p
                    .get("checkpoint")
                    .and_then(|c| str_field(c, "envelope"))
                    .map(str::to_string),
            })
        }
        None => None,
    };
    Ok(TlogEntry {
        log_index,
        log_id,
        integrated_time,
        set,
        proof,
        body_b64: body_b64.to_string(),
        body,
    })
}

/// Verifies one entry's log proofs and that its body records `logged` by `verifier_der`.
/// Returns the integrated time when a SET vouches for it.
pub(crate) fn verify_tlog_entry(
    root: &TrustedRoot,
    entry: &TlogEntry,
    require_set: bool,
    require_checkpoint: bool,
    logged: &Logged<'_>,
    verifier_der: &[u8],
    now: i64,
) -> Result<Option<i64>, Failure> {
    let bad = |m: String| Failure::new(R::TlogInvalid, m);
    let log = root
        .tlogs
        .iter()
        .find(|l| l.key_id == entry.log_id)
        .ok_or_else(|| {
            bad(format!(
                "entry is from log `{}`, which the trusted root does not know",
                hex::encode(&entry.log_id)
            ))
        })?;
    let mut verified_time = None;
    match (&entry.set, entry.integrated_time) {
        (Some(set), Some(t)) => {
            if !rekor::verify_set(log, &entry.body_b64, t, entry.log_index, set) {
                return Err(bad(
                    "signed entry timestamp does not verify with the log key".into(),
                ));
            }
            if t > now + 60 {
                return Err(bad(format!("integrated time {t} is in the future")));
            }
            if !log.valid_at(t) {
                return Err(bad(format!(
                    "log key of `{}` is not valid at the integrated time {t}",
                    log.base_url
                )));
            }
            verified_time = Some(t);
        }
        (Some(_), None) => {
            return Err(bad(
                "signed entry timestamp without an integrated time".into()
            ));
        }
        (None, _) if require_set => {
            return Err(bad(
                "entry has no signed entry timestamp (inclusion promise)".into(),
            ));
        }
        (None, _) => {}
    }
    match &entry.proof {
        Some(p) => {
            let leaf = rekor::leaf_hash(&entry.body);
            let computed =
                rekor::root_from_inclusion_proof(p.log_index, p.tree_size, leaf, &p.hashes)
                    .ok_or_else(|| {
                        bad(
                            "inclusion proof has the wrong shape for its index and tree size"
                                .into(),
                        )
                    })?;
            if computed.as_slice() != p.root_hash.as_slice() {
                return Err(bad("inclusion proof does not lead to its root hash".into()));
            }
            match &p.checkpoint {
                Some(c) => {
                    let cp =
                        rekor::parse_checkpoint(c).map_err(|m| bad(format!("checkpoint: {m}")))?;
                    if !cp.verify(log) {
                        return Err(bad(format!(
                            "checkpoint `{}` is not signed by the log key",
                            cp.origin
                        )));
                    }
                    if cp.size != p.tree_size || cp.root_hash != p.root_hash {
                        return Err(bad("checkpoint does not match the inclusion proof".into()));
                    }
                }
                None if require_checkpoint => {
                    return Err(bad("inclusion proof has no checkpoint".into()));
                }
                None => {}
            }
        }
        None if require_checkpoint => return Err(bad("entry has no inclusion proof".into())),
        None => {}
    }
    if entry.set.is_none() && entry.proof.is_none() {
        return Err(bad(
            "entry has neither an inclusion promise nor an inclusion proof".into(),
        ));
    }
    check_body(entry, logged, verifier_der)?;
    Ok(verified_time)
}

fn check_body(entry: &TlogEntry, logged: &Logged<'_>, verifier_der: &[u8]) -> Result<(), Failure> {
    let bad = |m: &str| Failure::new(R::TlogInvalid, m.to_string());
    let claims = rekor::parse_body(&entry.body).map_err(|m| Failure::new(R::TlogInvalid, m))?;
    let has_sig = |sig: &[u8]| {
        claims
            .signatures
            .iter()
            .any(|(s, v)| s == sig && v == verifier_der)
    };
    match logged {
        Logged::Message { digest, signature } => {
            if !claims.kind.starts_with("hashedrekord/") {
                return Err(bad("log entry kind does not fit a message signature"));
            }
            if claims.digest.as_deref() != Some(*digest) {
                return Err(bad("log entry records another artifact digest"));
            }
            if !has_sig(signature) {
                return Err(bad(
                    "log entry records another signature or signing certificate",
                ));
            }
        }
        Logged::Dsse {
            pae,
            payload,
            signature,
        } => {
            if claims.kind == "hashedrekord/0.0.2" {
                if claims.digest.as_deref() != Some(Sha256::digest(pae).as_slice()) {
                    return Err(bad("log entry records another DSSE envelope"));
                }
            } else if claims.kind.starts_with("dsse/") || claims.kind.starts_with("intoto/") {
                if claims.payload_hash.as_deref() != Some(Sha256::digest(payload).as_slice()) {
                    return Err(bad("log entry records another DSSE payload"));
                }
            } else {
                return Err(bad("log entry kind does not fit a DSSE envelope"));
            }
            if !has_sig(signature) {
                return Err(bad(
                    "log entry records another signature or signing certificate",
                ));
            }
        }
    }
    Ok(())
}

/// Verifies an RFC 3161 timestamp over `signature` against the trusted root's TSAs.
pub(crate) fn verify_timestamp(
    root: &TrustedRoot,
    token: &[u8],
    signature: &[u8],
) -> Result<i64, Failure> {
    let bad = |m: String| Failure::new(R::TimestampInvalid, m);
    let t = crate::tsa::parse(token).map_err(bad)?;
    if !t.covers(signature) {
        return Err(bad("timestamp is for another signature".into()));
    }
    let mut last = String::from("the trusted root has no timestamp authority");
    for tsa in &root.tsas {
        if !tsa.valid_at(t.gen_time) {
            last = format!(
                "no timestamp authority of the trusted root is valid at {}",
                crate::time::rfc3339(t.gen_time)
            );
            continue;
        }
        let anchors = tsa.chain.last().map(std::slice::from_ref).unwrap_or(&[]);
        match t.verify(anchors, &tsa.chain) {
            Ok(time) => return Ok(time),
            Err(m) => last = m,
        }
    }
    Err(bad(last))
}

/// Checks a Fulcio leaf at every verified time: chain to a CA of the trusted root, code
/// signing EKU, embedded SCT, and the policy identities. Fills in the signer.
pub(crate) fn verify_keyless_certificate(
    ctx: &Context<'_>,
    root: &TrustedRoot,
    leaf: &Certificate,
    provided: &[Certificate],
    times: &[i64],
    out: &mut Outcome,
) -> Result<(), Failure> {
    let sans: Vec<String> = leaf
        .sans()
        .iter()
        .filter_map(San::value)
        .map(str::to_string)
        .collect();
    let issuer = leaf.fulcio_issuer();
    out.signer.subject = sans.first().cloned();
    out.signer.issuer = issuer.clone();
    out.signer.key_fingerprint = Some(leaf.key.fingerprint());
    out.signer.signing_time = times.iter().min().copied();
    if times.is_empty() {
        return Err(Failure::new(
            R::TlogInvalid,
            "no verified signing time: the signature needs a log entry with a signed entry timestamp or a trusted timestamp",
        ));
    }
    if !leaf.has_eku(x509::EKU_CODE_SIGNING) {
        return Err(Failure::new(
            R::UntrustedChain,
            "signing certificate lacks the codeSigning extended key usage",
        ));
    }
    if leaf.is_ca() {
        return Err(Failure::new(
            R::UntrustedChain,
            "signing certificate is a CA certificate",
        ));
    }
    let mut issuer_cert: Option<Certificate> = None;
    for &t in times {
        if !leaf.valid_at(t) {
            return Err(Failure::new(
                R::CertificateExpired,
                format!(
                    "signing certificate is valid from {} to {}, the signature was made at {}",
                    crate::time::rfc3339(leaf.not_before),
                    crate::time::rfc3339(leaf.not_after),
                    crate::time::rfc3339(t)
                ),
            ));
        }
        let mut err = Failure::new(
            R::UntrustedChain,
            format!(
                "no certificate authority of the trusted root is valid at {}",
                crate::time::rfc3339(t)
            ),
        );
        let mut ok = false;
        for ca in root.cas.iter() {
            if !ca.valid_at(t) {
                continue;
            }
            let anchors = ca.chain.last().map(std::slice::from_ref).unwrap_or(&[]);
            let mut pool: Vec<Certificate> = ca.chain.clone();
            pool.extend(provided.iter().cloned());
            match x509::build_path(leaf, &pool, anchors, Some(t)) {
                Ok(path) => {
                    ok = true;
                    issuer_cert = path.get(1).map(|c| (*c).clone());
                    break;
                }
                Err(ChainError::Expired(m)) => err = Failure::new(R::CertificateExpired, m),
                Err(ChainError::Untrusted(m)) | Err(ChainError::Invalid(m)) => {
                    if err.reason != R::CertificateExpired {
                        err = Failure::new(R::UntrustedChain, m)
                    }
                }
            }
        }
        if !ok {
            return Err(err);
        }
    }
    if !root.ctlogs.is_empty() {
        let issuer_cert = issuer_cert
            .ok_or_else(|| Failure::new(R::UntrustedChain, "no issuer for the SCT check"))?;
        crate::sct::verify_embedded(leaf, &issuer_cert, &root.ctlogs)
            .map_err(|m| Failure::new(R::UntrustedChain, m))?;
    }
    let issuer = issuer.ok_or_else(|| {
        Failure::new(
            R::UntrustedIdentity,
            "signing certificate has no OIDC issuer extension",
        )
    })?;
    let allowed = ctx
        .policy
        .identities
        .iter()
        .any(|id| id.issuer.matches(&issuer) && sans.iter().any(|s| id.subject.matches(s)));
    if !allowed {
        return Err(Failure::new(
            R::UntrustedIdentity,
            format!(
                "certificate identity `{}` from issuer `{issuer}` is not trusted",
                if sans.is_empty() {
                    "(none)".to_string()
                } else {
                    sans.join("`, `")
                }
            ),
        ));
    }
    Ok(())
}

/// Verifies a signature over a message whose SHA-256 digest is given, with a key's
/// usual schemes.
pub(crate) fn verify_digest_signature(key: &PublicKey, digest: &[u8], sig: &[u8]) -> bool {
    if key.is_rsa() {
        return key.verify_prehashed(Scheme::RsaPkcs1(HashAlg::Sha256), digest, sig)
            || key.verify_prehashed(Scheme::RsaPss(HashAlg::Sha256), digest, sig);
    }
    key.verify_prehashed(Scheme::EcdsaDer(HashAlg::Sha256), digest, sig)
}

/// Verifies a signature over a whole message with a key's usual schemes.
pub(crate) fn verify_message_signature(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
    if key.is_ed25519() {
        return key.verify(Scheme::Ed25519, msg, sig);
    }
    if key.is_ec() {
        return key.verify(key.default_scheme(), msg, sig)
            || key.verify(Scheme::EcdsaDer(HashAlg::Sha256), msg, sig);
    }
    verify_digest_signature(key, &Sha256::digest(msg), sig)
}

/// DSSE pre-authentication encoding.
pub(crate) fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// Checks that an in-toto statement names the digest among its subjects.
pub(crate) fn check_statement(payload: &[u8], digest_hex: &str) -> Result<(), Failure> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|_| malformed("DSSE payload is not JSON"))?;
    let t = str_field(&v, "_type").unwrap_or("");
    if !t.starts_with("https://in-toto.io/Statement/") {
        return Err(malformed(format!(
            "DSSE payload is not an in-toto statement (`_type` is `{t}`)"
        )));
    }
    let subjects = v
        .get("subject")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("in-toto statement has no subject"))?;
    let found: Vec<&str> = subjects
        .iter()
        .take(1024)
        .filter_map(|s| s.get("digest").and_then(|d| str_field(d, "sha256")))
        .collect();
    if found.iter().any(|d| d.eq_ignore_ascii_case(digest_hex)) {
        Ok(())
    } else {
        Err(Failure::new(
            R::DigestMismatch,
            format!(
                "in-toto statement is for `sha256:{}`, not `sha256:{digest_hex}`",
                found.first().copied().unwrap_or("(none)")
            ),
        ))
    }
}

/// Verifies a `SignatureMaterial::SigstoreBundle`.
pub(crate) fn verify_material(
    ctx: &Context<'_>,
    bundle: &Value,
    out: &mut Outcome,
) -> Result<(), Failure> {
    let owned;
    let v = match bundle {
        Value::String(s) => {
            if s.len() > MAX_MATERIAL_BYTES {
                return Err(Failure::new(R::TooLarge, "bundle is too large"));
            }
            owned = serde_json::from_str::<Value>(s)
                .map_err(|e| malformed(format!("bundle is not JSON: {e}")))?;
            &owned
        }
        other => {
            let size = serde_json::to_string(other)
                .map(|s| s.len())
                .unwrap_or(usize::MAX);
            if size > MAX_MATERIAL_BYTES {
                return Err(Failure::new(R::TooLarge, "bundle is too large"));
            }
            other
        }
    };
    verify_bundle(ctx, v, out)
}

fn bundle_version(media: &str) -> Option<u8> {
    match media {
        "application/vnd.dev.sigstore.bundle+json;version=0.1" => Some(1),
        "application/vnd.dev.sigstore.bundle+json;version=0.2" => Some(2),
        "application/vnd.dev.sigstore.bundle+json;version=0.3"
        | "application/vnd.dev.sigstore.bundle.v0.3+json" => Some(3),
        _ => None,
    }
}

fn verify_bundle(ctx: &Context<'_>, v: &Value, out: &mut Outcome) -> Result<(), Failure> {
    let media = str_field(v, "mediaType").unwrap_or("");
    let version = bundle_version(media)
        .ok_or_else(|| malformed(format!("unsupported bundle media type `{media}`")))?;
    let digest = crate::parse_digest(ctx.digest).ok_or_else(|| {
        malformed(format!(
            "image digest `{}` is not `sha256:<hex>`",
            ctx.digest
        ))
    })?;
    let vm = v
        .get("verificationMaterial")
        .ok_or_else(|| malformed("bundle has no `verificationMaterial`"))?;

    // The signing key: a certificate (chain) or a managed key.
    let mut provided = Vec::new();
    let leaf: Option<Certificate> = if let Some(chain) = vm.get("x509CertificateChain") {
        let certs = chain
            .get("certificates")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("empty certificate chain"))?;
        if certs.is_empty() {
            return Err(malformed("bundle has an empty certificate chain"));
        }
        if certs.len() > x509::MAX_CHAIN_DEPTH {
            return Err(Failure::new(R::TooLarge, "certificate chain is too long"));
        }
        for c in certs {
            let der = b64(
                c.get("rawBytes").and_then(Value::as_str).unwrap_or(""),
                "certificate",
            )?;
            provided.push(
                Certificate::from_der(&der).map_err(|m| malformed(format!("certificate: {m}")))?,
            );
        }
        if provided.iter().any(|c| c.is_ca() && c.is_self_signed()) {
            return Err(Failure::new(
                R::UntrustedChain,
                "bundle certificate chain contains a root certificate",
            ));
        }
        Some(provided.remove(0))
    } else if let Some(c) = vm.get("certificate") {
        let der = b64(
            c.get("rawBytes").and_then(Value::as_str).unwrap_or(""),
            "certificate",
        )?;
        Some(Certificate::from_der(&der).map_err(|m| malformed(format!("certificate: {m}")))?)
    } else if vm.get("publicKey").is_some() {
        None
    } else {
        return Err(malformed("bundle has no certificate or public key"));
    };

    // Content and the signature check itself.
    let (signature, logged_payload): (Vec<u8>, Option<PaeAndPayload>) =
        if let Some(ms) = v.get("messageSignature") {
            if let Some(md) = ms.get("messageDigest") {
                let alg = str_field(md, "algorithm").unwrap_or("");
                let d = b64(
                    str_field(md, "digest").unwrap_or(""),
                    "messageDigest.digest",
                )?;
                if alg != "SHA2_256" || d != digest {
                    return Err(Failure::new(
                        R::DigestMismatch,
                        format!(
                            "bundle message digest is `{}`, not the digest verified",
                            hex::encode(&d)
                        ),
                    ));
                }
            }
            (
                b64(
                    str_field(ms, "signature").unwrap_or(""),
                    "messageSignature.signature",
                )?,
                None,
            )
        } else if let Some(env) = v.get("dsseEnvelope") {
            let payload = b64(
                str_field(env, "payload").unwrap_or(""),
                "dsseEnvelope.payload",
            )?;
            let ptype = str_field(env, "payloadType").unwrap_or("");
            let sigs = env
                .get("signatures")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if sigs.len() != 1 {
                return Err(malformed(format!(
                    "DSSE envelope must have exactly one signature, has {}",
                    sigs.len()
                )));
            }
            let sig = b64(
                sigs[0].get("sig").and_then(Value::as_str).unwrap_or(""),
                "dsseEnvelope.signatures[0].sig",
            )?;
            (sig, Some((pae(ptype, &payload), payload)))
        } else {
            return Err(malformed(
                "bundle has neither `messageSignature` nor `dsseEnvelope`",
            ));
        };
    let key_ok = |key: &PublicKey| match &logged_payload {
        None => verify_digest_signature(key, &digest, &signature),
        Some((pae, _)) => verify_message_signature(key, pae, &signature),
    };
    let (verifier_der, managed_key) = match &leaf {
        Some(leaf) => {
            out.signer.key_fingerprint = Some(leaf.key.fingerprint());
            if !key_ok(&leaf.key) {
                return Err(Failure::new(
                    R::BadSignature,
                    "signature does not verify with the signing certificate's key",
                ));
            }
            (leaf.raw.clone(), None)
        }
        None => match ctx.policy.keys.iter().find(|k| key_ok(k)) {
            Some(k) => {
                out.signer.key_fingerprint = Some(k.fingerprint());
                (k.spki().to_vec(), Some(k))
            }
            None => {
                return Err(Failure::new(
                    R::UntrustedKey,
                    if ctx.policy.keys.is_empty() {
                        "bundle is signed with a managed key and the policy trusts no key"
                            .to_string()
                    } else {
                        "signature does not verify with any trusted key".to_string()
                    },
                ));
            }
        },
    };
    if let Some((_, payload)) = &logged_payload {
        check_statement(payload, &hex::encode(&digest))?;
    }

    // Log entries and timestamps.
    let root = ctx.policy.trusted_root.as_ref();
    let mut times = Vec::new();
    let entries = vm
        .get("tlogEntries")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if entries.len() > MAX_ENTRIES {
        return Err(Failure::new(R::TooLarge, "too many tlog entries"));
    }
    let stamps = vm
        .get("timestampVerificationData")
        .and_then(|t| t.get("rfc3161Timestamps"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if stamps.len() > MAX_ENTRIES {
        return Err(Failure::new(R::TooLarge, "too many timestamps"));
    }
    match root {
        Some(root) => {
            if entries.is_empty() {
                return Err(Failure::new(
                    R::TlogInvalid,
                    "bundle has no transparency log entry",
                ));
            }
            let logged = match &logged_payload {
                None => Logged::Message {
                    digest: &digest,
                    signature: &signature,
                },
                Some((pae, payload)) => Logged::Dsse {
                    pae,
                    payload,
                    signature: &signature,
                },
            };
            for e in entries {
                let entry = parse_tlog_entry(e)?;
                let is_v2 = entry.integrated_time.is_none() && entry.set.is_none();
                let require_set = version == 1 && !is_v2;
                let require_checkpoint = version >= 2 || is_v2;
                if let Some(t) = verify_tlog_entry(
                    root,
                    &entry,
                    require_set,
                    require_checkpoint,
                    &logged,
                    &verifier_der,
                    ctx.now,
                )? {
                    times.push(t);
                }
            }
            for s in stamps {
                let token = b64(
                    s.get("signedTimestamp")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                    "signedTimestamp",
                )?;
                times.push(verify_timestamp(root, &token, &signature)?);
            }
        }
        None if managed_key.is_some() && !ctx.policy.require_tlog_for_keys => {}
        None => {
            return Err(Failure::unconfigured(
                R::UntrustedChain,
                "no trusted root is configured",
            ));
        }
    }
    match &leaf {
        Some(leaf) => {
            let root = root.ok_or_else(|| {
                Failure::unconfigured(R::UntrustedChain, "no trusted root is configured")
            })?;
            verify_keyless_certificate(ctx, root, leaf, &provided, &times, out)
        }
        None => {
            out.signer.signing_time = times.iter().min().copied();
            if root.is_some() && times.is_empty() {
                return Err(Failure::new(
                    R::TlogInvalid,
                    "no verified time from the transparency log or a timestamp authority",
                ));
            }
            Ok(())
        }
    }
}
