//! cosign "simple signing" signatures (`sha256-<hex>.sig` images), key-based and keyless.

use crate::bundle::{self, Logged, TlogEntry};
use crate::keys::PublicKey;
use crate::x509::{self, Certificate};
use crate::{Context, Failure, FailureReason as R, Outcome, b64};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Largest simple-signing payload accepted.
const MAX_PAYLOAD: usize = 64 * 1024;

pub(crate) struct Input<'a> {
    pub payload: &'a str,
    pub signature: &'a str,
    pub certificate: Option<&'a str>,
    pub chain: Option<&'a str>,
    pub rekor_bundle: Option<&'a str>,
}

/// Strips a `:tag` and/or `@digest` from a reference (a `:` before the last `/` is a port).
pub(crate) fn repository(reference: &str) -> &str {
    let r = reference.split('@').next().unwrap_or(reference);
    match (r.rfind(':'), r.rfind('/')) {
        (Some(c), Some(s)) if c > s => &r[..c],
        (Some(c), None) => &r[..c],
        _ => r,
    }
}

fn check_payload(ctx: &Context<'_>, payload: &[u8]) -> Result<(), Failure> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|_| Failure::new(R::Malformed, "payload is not JSON"))?;
    let critical = v
        .get("critical")
        .ok_or_else(|| Failure::new(R::Malformed, "payload has no `critical` section"))?;
    let typ = critical.get("type").and_then(Value::as_str).unwrap_or("");
    if !typ.eq_ignore_ascii_case("cosign container image signature") {
        return Err(Failure::new(
            R::Malformed,
            format!("payload type is `{typ}`, not `cosign container image signature`"),
        ));
    }
    let signed = critical
        .get("image")
        .and_then(|i| i.get("docker-manifest-digest"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if !signed.eq_ignore_ascii_case(ctx.digest) {
        return Err(Failure::new(
            R::DigestMismatch,
            format!("signature is for `{signed}`, not `{}`", ctx.digest),
        ));
    }
    let reference = critical
        .get("identity")
        .and_then(|i| i.get("docker-reference"))
        .and_then(Value::as_str);
    let mut expected: Vec<&str> = Vec::new();
    if let Some(r) = ctx.policy.docker_reference.as_deref() {
        expected.push(r);
    }
    if ctx.policy.match_admitted_reference {
        match ctx.docker_reference {
            Some(r) => expected.push(r),
            None => {
                return Err(Failure::new(
                    R::ReferenceMismatch,
                    "the policy matches the admitted reference, but none was given",
                ));
            }
        }
    }
    for e in expected {
        let got = reference.map(repository).unwrap_or("");
        if got != repository(e) {
            return Err(Failure::new(
                R::ReferenceMismatch,
                format!(
                    "payload names `{}`, the policy expects `{}`",
                    reference.unwrap_or("(none)"),
                    repository(e)
                ),
            ));
        }
    }
    Ok(())
}

fn parse_rekor_bundle(text: &str) -> Result<TlogEntry, Failure> {
    let bad = |m: &str| Failure::new(R::Malformed, format!("rekor bundle: {m}"));
    if text.len() > crate::MAX_MATERIAL_BYTES {
        return Err(Failure::new(R::TooLarge, "rekor bundle is too large"));
    }
    let v: Value = serde_json::from_str(text).map_err(|_| bad("not JSON"))?;
    let set = b64(
        v.get("SignedEntryTimestamp")
            .and_then(Value::as_str)
            .unwrap_or(""),
        "SignedEntryTimestamp",
    )?;
    let p = v.get("Payload").ok_or_else(|| bad("no `Payload`"))?;
    let body_b64 = p
        .get("body")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no `body`"))?;
    let integrated_time = p
        .get("integratedTime")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("no `integratedTime`"))?;
    let log_index = p
        .get("logIndex")
        .and_then(Value::as_i64)
        .filter(|i| *i >= 0)
        .ok_or_else(|| bad("no valid `logIndex`"))?;
    let log_id = hex::decode(p.get("logID").and_then(Value::as_str).unwrap_or(""))
        .map_err(|_| bad("`logID` is not hex"))?;
    Ok(TlogEntry {
        log_index,
        log_id,
        integrated_time: Some(integrated_time),
        set: Some(set),
        proof: None,
        body: b64(body_b64, "rekor bundle body")?,
        body_b64: body_b64.to_string(),
    })
}

pub(crate) fn verify(
    ctx: &Context<'_>,
    input: &Input<'_>,
    out: &mut Outcome,
) -> Result<(), Failure> {
    let payload = b64(input.payload, "payload")?;
    if payload.len() > MAX_PAYLOAD {
        return Err(Failure::new(R::TooLarge, "payload is too large"));
    }
    let signature = b64(input.signature, "signature")?;
    let payload_digest = Sha256::digest(&payload);

    // Who signed.
    let (leaf, chain, verifier_der, key_based): (
        Option<Certificate>,
        Vec<Certificate>,
        Vec<u8>,
        bool,
    ) = match input.certificate {
        Some(pem) if !pem.trim().is_empty() => {
            let mut certs = Certificate::from_pem_chain(pem, 1)
                .map_err(|m| Failure::new(R::Malformed, format!("certificate: {m}")))?;
            let leaf = certs.pop().ok_or_else(|| {
                Failure::new(R::Malformed, "certificate annotation holds no certificate")
            })?;
            let chain = match input.chain {
                Some(c) => Certificate::from_pem_chain(c, x509::MAX_CHAIN_DEPTH)
                    .map_err(|m| Failure::new(R::Malformed, format!("chain: {m}")))?,
                None => Vec::new(),
            };
            out.signer.key_fingerprint = Some(leaf.key.fingerprint());
            if !bundle::verify_message_signature(&leaf.key, &payload, &signature) {
                return Err(Failure::new(
                    R::BadSignature,
                    "signature does not verify with the certificate's key",
                ));
            }
            let der = leaf.raw.clone();
            (Some(leaf), chain, der, false)
        }
        _ => {
            let key: &PublicKey = ctx
                .policy
                .keys
                .iter()
                .find(|k| bundle::verify_message_signature(k, &payload, &signature))
                .ok_or_else(|| {
                    Failure::new(
                        R::UntrustedKey,
                        if ctx.policy.keys.is_empty() {
                            "key-based signature, but the policy trusts no key".to_string()
                        } else {
                            format!(
                                "signature does not verify with any trusted key ({})",
                                ctx.policy.key_fingerprints().join(", ")
                            )
                        },
                    )
                })?;
            out.signer.key_fingerprint = Some(key.fingerprint());
            (None, Vec::new(), key.spki().to_vec(), true)
        }
    };
    check_payload(ctx, &payload)?;

    // Transparency log.
    let mut times = Vec::new();
    match (input.rekor_bundle, ctx.policy.trusted_root.as_ref()) {
        (Some(rb), Some(root)) => {
            let entry = parse_rekor_bundle(rb)?;
            let logged = Logged::Message {
                digest: &payload_digest,
                signature: &signature,
            };
            if let Some(t) = bundle::verify_tlog_entry(
                root,
                &entry,
                true,
                false,
                &logged,
                &verifier_der,
                ctx.now,
            )? {
                times.push(t);
            }
        }
        (None, _) if key_based && !ctx.policy.require_tlog_for_keys => {}
        (None, _) => {
            return Err(Failure::new(
                R::TlogInvalid,
                "signature has no rekor bundle",
            ));
        }
        (Some(_), None) if key_based && !ctx.policy.require_tlog_for_keys => {}
        (Some(_), None) => {
            return Err(Failure::unconfigured(
                R::UntrustedChain,
                "no trusted root is configured",
            ));
        }
    }
    out.signer.signing_time = times.first().copied();
    match leaf {
        None => Ok(()),
        Some(leaf) => {
            let root = ctx.policy.trusted_root.as_ref().ok_or_else(|| {
                Failure::unconfigured(R::UntrustedChain, "no trusted root is configured")
            })?;
            bundle::verify_keyless_certificate(ctx, root, &leaf, &chain, &times, out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::repository;

    #[test]
    fn repository_strips_tag_and_digest_not_port() {
        assert_eq!(repository("reg:5000/app:1.0"), "reg:5000/app");
        assert_eq!(repository("reg:5000/app"), "reg:5000/app");
        assert_eq!(repository("app@sha256:ab"), "app");
        assert_eq!(repository("app:1@sha256:ab"), "app");
    }
}
