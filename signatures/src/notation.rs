//! Notary Project (Notation) signatures: JWS JSON serialization and COSE_Sign1 envelopes,
//! the `notary.x509` and `notary.x509.signingAuthority` schemes, and the trust-policy
//! verification levels.
//!
//! | check | strict | permissive | audit | skip |
//! |---|---|---|---|---|
//! | integrity (signature, `crit`, `alg`, payload digest) | enforced | enforced | enforced | skipped |
//! | authenticity (chain to the trust store, trusted identity) | enforced | enforced | logged | skipped |
//! | authentic timestamp (chain valid at the timestamp, or now) | enforced | logged | logged | skipped |
//! | expiry (`io.cncf.notary.expiry`) | enforced | logged | logged | skipped |
//! | revocation | not checked (offline) | | | |

use crate::keys::{HashAlg, PublicKey, Scheme};
use crate::policy::{NotationLevel, NotationPolicy};
use crate::x509::{self, Certificate, ChainError};
use crate::{Context, Failure, FailureReason as R, MAX_MATERIAL_BYTES, Outcome, b64};
use base64::Engine as _;
use serde_json::Value;

const PAYLOAD_TYPE: &str = "application/vnd.cncf.notary.payload.v1+json";
const SCHEME: &str = "io.cncf.notary.signingScheme";
const SIGNING_TIME: &str = "io.cncf.notary.signingTime";
const AUTHENTIC_TIME: &str = "io.cncf.notary.authenticSigningTime";
const EXPIRY: &str = "io.cncf.notary.expiry";
const PLUGIN: &str = "io.cncf.notary.verificationPlugin";
const PLUGIN_MIN: &str = "io.cncf.notary.verificationPluginMinVersion";
const TIMESTAMP: &str = "io.cncf.notary.timestampSignature";

/// The envelope, reduced to what verification needs.
struct Envelope {
    alg: Scheme,
    alg_name: String,
    scheme: String,
    signing_time: Option<i64>,
    authentic_time: Option<i64>,
    expiry: Option<i64>,
    uses_plugin: bool,
    chain: Vec<Certificate>,
    timestamp: Option<Vec<u8>>,
    payload: Vec<u8>,
    signed: Vec<u8>,
    signature: Vec<u8>,
}

fn malformed(m: impl Into<String>) -> Failure {
    Failure::new(R::Malformed, m)
}

fn jws_alg(name: &str) -> Option<Scheme> {
    Some(match name {
        "PS256" => Scheme::RsaPss(HashAlg::Sha256),
        "PS384" => Scheme::RsaPss(HashAlg::Sha384),
        "PS512" => Scheme::RsaPss(HashAlg::Sha512),
        "ES256" => Scheme::EcdsaFixed(HashAlg::Sha256),
        "ES384" => Scheme::EcdsaFixed(HashAlg::Sha384),
        "ES512" => Scheme::EcdsaFixed(HashAlg::Sha512),
        _ => return None,
    })
}

fn cose_alg(v: i128) -> Option<&'static str> {
    Some(match v {
        -37 => "PS256",
        -38 => "PS384",
        -39 => "PS512",
        -7 => "ES256",
        -35 => "ES384",
        -36 => "ES512",
        _ => return None,
    })
}

/// The algorithm Notation requires for a key (spec: signature algorithm per key type/size).
fn required_alg(key: &PublicKey) -> Option<&'static str> {
    if key.is_rsa() {
        return match key.size_bits() {
            2048 => Some("PS256"),
            3072 => Some("PS384"),
            4096 => Some("PS512"),
            _ => None,
        };
    }
    match key.size_bits() {
        256 if key.is_ec() => Some("ES256"),
        384 => Some("ES384"),
        521 => Some("ES512"),
        _ => None,
    }
}

const KNOWN_CRIT: &[&str] = &[
    SCHEME,
    SIGNING_TIME,
    AUTHENTIC_TIME,
    EXPIRY,
    PLUGIN,
    PLUGIN_MIN,
];

fn certs_from_der(list: &[Vec<u8>]) -> Result<Vec<Certificate>, Failure> {
    if list.is_empty() {
        return Err(malformed("envelope has no certificate chain"));
    }
    if list.len() > x509::MAX_CHAIN_DEPTH {
        return Err(Failure::new(R::TooLarge, "certificate chain is too long"));
    }
    list.iter()
        .map(|d| Certificate::from_der(d).map_err(|m| malformed(format!("certificate: {m}"))))
        .collect()
}

fn rfc3339(v: Option<&Value>, what: &str) -> Result<Option<i64>, Failure> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => crate::time::parse_rfc3339(s)
            .map(Some)
            .ok_or_else(|| malformed(format!("`{what}` is not an RFC 3339 time"))),
        Some(_) => Err(malformed(format!("`{what}` is not a string"))),
    }
}

fn parse_jws(bytes: &[u8]) -> Result<Envelope, Failure> {
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let v: Value =
        serde_json::from_slice(bytes).map_err(|_| malformed("JWS envelope is not JSON"))?;
    let protected_b64 = v
        .get("protected")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("JWS has no `protected` header"))?;
    let payload_b64 = v
        .get("payload")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("JWS has no `payload`"))?;
    let sig_b64 = v
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("JWS has no `signature`"))?;
    let protected = url
        .decode(protected_b64)
        .map_err(|_| malformed("JWS `protected` is not base64url"))?;
    let payload = url
        .decode(payload_b64)
        .map_err(|_| malformed("JWS `payload` is not base64url"))?;
    let signature = url
        .decode(sig_b64)
        .map_err(|_| malformed("JWS `signature` is not base64url"))?;
    let h: Value = serde_json::from_slice(&protected)
        .map_err(|_| malformed("JWS protected header is not JSON"))?;
    let h = h
        .as_object()
        .ok_or_else(|| malformed("JWS protected header is not an object"))?;
    let alg_name = h
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let alg = jws_alg(&alg_name).ok_or_else(|| {
        Failure::new(
            R::Unsupported,
            format!("unsupported signature algorithm `{alg_name}`"),
        )
    })?;
    let cty = h.get("cty").and_then(Value::as_str).unwrap_or("");
    if cty != PAYLOAD_TYPE {
        return Err(malformed(format!(
            "payload content type is `{cty}`, not `{PAYLOAD_TYPE}`"
        )));
    }
    let crit: Vec<&str> = h
        .get("crit")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("JWS protected header has no `crit`"))?
        .iter()
        .map(|c| c.as_str().unwrap_or(""))
        .collect();
    check_crit(&crit, |k| h.contains_key(k))?;
    let scheme = h
        .get(SCHEME)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let unprotected = v
        .get("header")
        .ok_or_else(|| malformed("JWS has no unprotected `header`"))?;
    let mut ders = Vec::new();
    for c in unprotected
        .get("x5c")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .take(x509::MAX_CHAIN_DEPTH + 1)
    {
        ders.push(b64(c.as_str().unwrap_or(""), "x5c certificate")?);
    }
    let timestamp = match unprotected.get(TIMESTAMP).and_then(Value::as_str) {
        Some(s) => Some(b64(s, "timestamp signature")?),
        None => None,
    };
    Ok(Envelope {
        alg,
        alg_name,
        scheme,
        signing_time: rfc3339(h.get(SIGNING_TIME), SIGNING_TIME)?,
        authentic_time: rfc3339(h.get(AUTHENTIC_TIME), AUTHENTIC_TIME)?,
        expiry: rfc3339(h.get(EXPIRY), EXPIRY)?,
        uses_plugin: h.contains_key(PLUGIN),
        chain: certs_from_der(&ders)?,
        timestamp,
        payload,
        signed: format!("{protected_b64}.{payload_b64}").into_bytes(),
        signature,
    })
}

fn check_crit(crit: &[&str], present: impl Fn(&str) -> bool) -> Result<(), Failure> {
    if !crit.contains(&SCHEME) {
        return Err(malformed(format!("`crit` does not list `{SCHEME}`")));
    }
    for c in crit {
        if !KNOWN_CRIT.contains(c) {
            return Err(Failure::new(
                R::Unsupported,
                format!("critical header `{c}` is not understood"),
            ));
        }
        if !present(c) {
            return Err(malformed(format!("critical header `{c}` is missing")));
        }
    }
    for must in [EXPIRY, AUTHENTIC_TIME, PLUGIN, PLUGIN_MIN] {
        if present(must) && !crit.contains(&must) {
            return Err(malformed(format!("`{must}` must be listed in `crit`")));
        }
    }
    Ok(())
}

fn cbor_head(major: u8, len: usize, out: &mut Vec<u8>) {
    let m = major << 5;
    match len {
        0..=23 => out.push(m | len as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, len as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

fn parse_cose(bytes: &[u8]) -> Result<Envelope, Failure> {
    use ciborium::Value as C;
    let v: C =
        ciborium::de::from_reader(bytes).map_err(|_| malformed("COSE envelope is not CBOR"))?;
    let arr = match v {
        C::Tag(18, inner) => match *inner {
            C::Array(a) => a,
            _ => return Err(malformed("COSE_Sign1 is not an array")),
        },
        _ => return Err(malformed("envelope is not a tagged COSE_Sign1")),
    };
    let [
        C::Bytes(protected),
        C::Map(unprotected),
        C::Bytes(payload),
        C::Bytes(signature),
    ] = <[C; 4]>::try_from(arr).map_err(|_| malformed("COSE_Sign1 must have four elements"))?
    else {
        return Err(malformed("COSE_Sign1 has the wrong element types"));
    };
    let hdr: C = ciborium::de::from_reader(protected.as_slice())
        .map_err(|_| malformed("COSE protected header is not CBOR"))?;
    let C::Map(hdr) = hdr else {
        return Err(malformed("COSE protected header is not a map"));
    };
    let get = |k: &C| hdr.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let text = |s: &str| C::Text(s.to_string());
    let alg_name = match get(&C::Integer(1.into())) {
        Some(C::Integer(i)) => cose_alg(i128::from(*i))
            .ok_or_else(|| Failure::new(R::Unsupported, "unsupported COSE algorithm"))?,
        _ => return Err(malformed("COSE header has no algorithm")),
    };
    let alg = match jws_alg(alg_name) {
        Some(Scheme::EcdsaFixed(h)) => Scheme::EcdsaFixed(h),
        Some(s) => s,
        None => return Err(Failure::new(R::Unsupported, "unsupported COSE algorithm")),
    };
    match get(&C::Integer(3.into())) {
        Some(C::Text(t)) if t == PAYLOAD_TYPE => {}
        _ => {
            return Err(malformed(format!(
                "payload content type is not `{PAYLOAD_TYPE}`"
            )));
        }
    }
    let crit: Vec<String> = match get(&C::Integer(2.into())) {
        Some(C::Array(a)) => a
            .iter()
            .map(|c| match c {
                C::Text(t) => t.clone(),
                C::Integer(i) => i128::from(*i).to_string(),
                _ => String::new(),
            })
            .collect(),
        _ => return Err(malformed("COSE protected header has no `crit`")),
    };
    let crit_refs: Vec<&str> = crit.iter().map(String::as_str).collect();
    check_crit(&crit_refs, |k| get(&text(k)).is_some())?;
    let scheme = match get(&text(SCHEME)) {
        Some(C::Text(t)) => t.clone(),
        _ => String::new(),
    };
    let time = |k: &str| -> Result<Option<i64>, Failure> {
        match get(&text(k)) {
            None => Ok(None),
            Some(C::Tag(1, inner)) => match inner.as_ref() {
                C::Integer(i) => {
                    Ok(Some(i64::try_from(i128::from(*i)).map_err(|_| {
                        malformed(format!("`{k}` is out of range"))
                    })?))
                }
                _ => Err(malformed(format!("`{k}` is not an integer time"))),
            },
            Some(_) => Err(malformed(format!("`{k}` is not a tagged time"))),
        }
    };
    let uget = |k: &C| unprotected.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let ders: Vec<Vec<u8>> = match uget(&C::Integer(33.into())) {
        Some(C::Array(a)) => a
            .iter()
            .take(x509::MAX_CHAIN_DEPTH + 1)
            .map(|c| match c {
                C::Bytes(b) => Ok(b.clone()),
                _ => Err(malformed("x5chain entry is not a byte string")),
            })
            .collect::<Result<_, _>>()?,
        Some(C::Bytes(b)) => vec![b.clone()],
        _ => Vec::new(),
    };
    let timestamp = match uget(&text(TIMESTAMP)) {
        Some(C::Bytes(b)) => Some(b.clone()),
        _ => None,
    };
    // Sig_structure = ["Signature1", protected, external_aad = h'', payload]
    let mut signed = Vec::with_capacity(payload.len() + protected.len() + 32);
    cbor_head(4, 4, &mut signed);
    cbor_head(3, 10, &mut signed);
    signed.extend_from_slice(b"Signature1");
    cbor_head(2, protected.len(), &mut signed);
    signed.extend_from_slice(&protected);
    cbor_head(2, 0, &mut signed);
    cbor_head(2, payload.len(), &mut signed);
    signed.extend_from_slice(&payload);
    Ok(Envelope {
        alg,
        alg_name: alg_name.to_string(),
        scheme,
        signing_time: time(SIGNING_TIME)?,
        authentic_time: time(AUTHENTIC_TIME)?,
        expiry: time(EXPIRY)?,
        uses_plugin: get(&text(PLUGIN)).is_some(),
        chain: certs_from_der(&ders)?,
        timestamp,
        payload,
        signed,
        signature,
    })
}

/// Records a failed check: an error when the level enforces it, a log entry otherwise.
fn check(enforced: bool, f: Failure, out: &mut Outcome) -> Result<(), Failure> {
    if enforced {
        Err(f)
    } else {
        out.logged.push(f);
        Ok(())
    }
}

pub(crate) fn verify(
    ctx: &Context<'_>,
    media_type: &str,
    envelope: &str,
    out: &mut Outcome,
) -> Result<(), Failure> {
    let policy: &NotationPolicy = ctx.policy.notation.as_ref().ok_or_else(|| {
        Failure::unconfigured(
            R::UntrustedKey,
            "notation signature, but the policy has no notation trust store",
        )
    })?;
    let level = policy.level;
    if level == NotationLevel::Skip {
        out.logged.push(Failure::new(
            R::Unsupported,
            "verification skipped (level `skip`)",
        ));
        return Ok(());
    }
    let bytes = b64(envelope, "envelope")?;
    if bytes.len() > MAX_MATERIAL_BYTES {
        return Err(Failure::new(R::TooLarge, "envelope is too large"));
    }
    let env = match media_type {
        "application/jose+json" => parse_jws(&bytes)?,
        "application/cose" => parse_cose(&bytes)?,
        other => {
            return Err(Failure::new(
                R::Unsupported,
                format!("unsupported envelope media type `{other}`"),
            ));
        }
    };
    let leaf = &env.chain[0];
    out.signer.key_fingerprint = Some(leaf.key.fingerprint());
    out.signer.certificate_subject = Some(leaf.subject_string());
    out.signer.signing_time = env.authentic_time.or(env.signing_time);

    // Integrity: always enforced.
    if env.uses_plugin {
        return Err(Failure::new(
            R::Unsupported,
            "the signature requires a verification plugin",
        ));
    }
    if required_alg(&leaf.key) != Some(env.alg_name.as_str()) {
        return Err(malformed(format!(
            "algorithm `{}` does not match the signing key `{}`",
            env.alg_name,
            leaf.key.type_name()
        )));
    }
    if !leaf.key.verify(env.alg, &env.signed, &env.signature) {
        return Err(Failure::new(
            R::BadSignature,
            "envelope signature does not verify",
        ));
    }
    let payload: Value =
        serde_json::from_slice(&env.payload).map_err(|_| malformed("payload is not JSON"))?;
    let target = payload
        .get("targetArtifact")
        .ok_or_else(|| malformed("payload has no `targetArtifact`"))?;
    let signed_digest = target.get("digest").and_then(Value::as_str).unwrap_or("");
    if signed_digest != ctx.digest {
        return Err(Failure::new(
            R::DigestMismatch,
            format!("signature is for `{signed_digest}`, not `{}`", ctx.digest),
        ));
    }
    let (store, claimed_time) = match env.scheme.as_str() {
        "notary.x509" => {
            if env.signing_time.is_none() {
                return Err(malformed(format!("`{SIGNING_TIME}` is missing")));
            }
            (&policy.ca, None)
        }
        "notary.x509.signingAuthority" => {
            let t = env
                .authentic_time
                .ok_or_else(|| malformed(format!("`{AUTHENTIC_TIME}` is missing")))?;
            (&policy.signing_authority, Some(t))
        }
        other => {
            return Err(Failure::new(
                R::Unsupported,
                format!("unsupported signing scheme `{other}`"),
            ));
        }
    };
    if leaf.key_usage().is_some_and(|ku| ku & 1 == 0) {
        return Err(Failure::new(
            R::UntrustedChain,
            "signing certificate lacks the digitalSignature key usage",
        ));
    }
    if leaf
        .extended_key_usage()
        .is_some_and(|e| !e.iter().any(|o| o == x509::EKU_CODE_SIGNING))
    {
        return Err(Failure::new(
            R::UntrustedChain,
            "signing certificate lacks the codeSigning extended key usage",
        ));
    }

    // Authenticity.
    let enforce_auth = matches!(level, NotationLevel::Strict | NotationLevel::Permissive);
    let enforce_time = level == NotationLevel::Strict;
    let anchors_in_chain: Vec<Certificate> = store.clone();
    let (leaf_only, rest) = env.chain.split_at(1);
    let trusted = match x509::build_path(&leaf_only[0], rest, &anchors_in_chain, None) {
        Ok(_) => true,
        Err(ChainError::Untrusted(m))
        | Err(ChainError::Invalid(m))
        | Err(ChainError::Expired(m)) => {
            check(enforce_auth, Failure::new(R::UntrustedChain, m), out)?;
            false
        }
    };
    if trusted && let Some(ids) = &policy.identities {
        let attrs = leaf.subject_attributes();
        let ok = ids.iter().any(|want| {
            want.iter()
                .all(|(k, v)| attrs.iter().any(|(ak, av)| ak == k && av == v))
        });
        if !ok {
            check(
                enforce_auth,
                Failure::new(
                    R::UntrustedIdentity,
                    format!(
                        "signing certificate subject `{}` is not a trusted identity",
                        leaf.subject_string()
                    ),
                ),
                out,
            )?;
        }
    }

    // Authentic timestamp: the chain must be valid at the trusted time.
    let mut at = claimed_time.unwrap_or(ctx.now);
    if claimed_time.is_none()
        && let Some(token) = &env.timestamp
    {
        if policy.tsa.is_empty() {
            out.logged.push(Failure::new(
                R::TimestampInvalid,
                "timestamp present but no `tsa-store` configured",
            ));
        } else {
            let verified = crate::tsa::parse(token).and_then(|t| {
                if !t.covers(&env.signature) {
                    return Err("timestamp is for another signature".to_string());
                }
                t.verify(&policy.tsa, &[])
            });
            match verified {
                Ok(t) => at = t,
                Err(m) => check(enforce_time, Failure::new(R::TimestampInvalid, m), out)?,
            }
        }
    }
    out.signer.signing_time = Some(at);
    if let Some(bad) = env.chain.iter().find(|c| !c.valid_at(at)) {
        check(
            enforce_time,
            Failure::new(
                R::CertificateExpired,
                format!(
                    "certificate `{}` is valid from {} to {}, not at {}",
                    bad.subject_string(),
                    crate::time::rfc3339(bad.not_before),
                    crate::time::rfc3339(bad.not_after),
                    crate::time::rfc3339(at)
                ),
            ),
            out,
        )?;
    }

    // Expiry.
    if let Some(exp) = env.expiry
        && exp < ctx.now
    {
        check(
            enforce_time,
            Failure::new(R::SignatureExpired, format!("signature expired at {exp}")),
            out,
        )?;
    }
    Ok(())
}
