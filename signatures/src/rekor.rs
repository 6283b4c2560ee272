//! Rekor transparency-log proofs: the signed entry timestamp (SET), Merkle inclusion proofs
//! (RFC 6962 / RFC 9162), signed checkpoints (signed-note format) and the logged entry body.

use crate::keys::{HashAlg, Scheme};
use crate::trust_root::LogKey;
use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// RFC 8785 canonical JSON for the values a SET covers (strings and integers; other
/// numbers are written as serde_json writes them).
pub fn canonical_json(v: &Value, out: &mut String, depth: usize) -> Result<(), String> {
    if depth > 16 {
        return Err("JSON nested too deeply".into());
    }
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).map_err(|e| e.to_string())?);
                out.push(':');
                canonical_json(&m[k.as_str()], out, depth + 1)?;
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(x, out, depth + 1)?;
            }
            out.push(']');
        }
        other => out.push_str(&serde_json::to_string(other).map_err(|e| e.to_string())?),
    }
    Ok(())
}

/// Verifies a SET: the log's signature over the canonical JSON of
/// `{body, integratedTime, logID, logIndex}`.
pub fn verify_set(
    log: &LogKey,
    body_b64: &str,
    integrated_time: i64,
    log_index: i64,
    set: &[u8],
) -> bool {
    let payload = serde_json::json!({
        "body": body_b64,
        "integratedTime": integrated_time,
        "logID": hex::encode(&log.key_id),
        "logIndex": log_index,
    });
    let mut text = String::new();
    if canonical_json(&payload, &mut text, 0).is_err() {
        return false;
    }
    verify_with_log_key(log, text.as_bytes(), set)
}

fn verify_with_log_key(log: &LogKey, msg: &[u8], sig: &[u8]) -> bool {
    let scheme = if log.key.is_ec() {
        log.key.default_scheme()
    } else if log.key.is_rsa() {
        Scheme::RsaPkcs1(HashAlg::Sha256)
    } else {
        Scheme::Ed25519
    };
    log.key.verify(scheme, msg, sig)
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

fn node_hash(left: &[u8], right: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root hash implied by an inclusion proof (RFC 9162 §2.1.3.2), or `None` if the proof
/// has the wrong shape for `(index, size)`.
pub fn root_from_inclusion_proof(
    index: u64,
    size: u64,
    leaf: [u8; 32],
    proof: &[[u8; 32]],
) -> Option<[u8; 32]> {
    if index >= size || proof.len() > 64 {
        return None;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf;
    for p in proof {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// A parsed checkpoint (signed note).
#[derive(Debug)]
pub struct Checkpoint<'a> {
    pub origin: &'a str,
    pub size: u64,
    pub root_hash: Vec<u8>,
    text: &'a str,
    signatures: Vec<(&'a str, Vec<u8>)>,
}

/// Parses a signed-note checkpoint envelope.
pub fn parse_checkpoint(envelope: &str) -> Result<Checkpoint<'_>, String> {
    if envelope.len() > 64 * 1024 {
        return Err("checkpoint is too large".into());
    }
    let split = envelope
        .find("\n\n")
        .ok_or("checkpoint has no signature block")?;
    let text = &envelope[..split + 1];
    let sig_block = &envelope[split + 2..];
    let mut lines = text.lines();
    let origin = lines
        .next()
        .filter(|l| !l.is_empty())
        .ok_or("checkpoint has no origin")?;
    let size: u64 = lines
        .next()
        .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|l| l.parse().ok())
        .ok_or("checkpoint has no tree size")?;
    let root_hash = lines
        .next()
        .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
        .filter(|h| h.len() == 32)
        .ok_or("checkpoint has no root hash")?;
    let mut signatures = Vec::new();
    for line in sig_block.lines() {
        if line.is_empty() {
            continue;
        }
        let rest = line
            .strip_prefix("\u{2014} ")
            .ok_or("malformed checkpoint signature line")?;
        let (name, sig) = rest
            .rsplit_once(' ')
            .ok_or("malformed checkpoint signature line")?;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(sig)
            .map_err(|_| "checkpoint signature is not base64")?;
        if sig.len() < 5 {
            return Err("checkpoint signature is too short".into());
        }
        if signatures.len() >= 16 {
            return Err("too many checkpoint signatures".into());
        }
        signatures.push((name, sig));
    }
    if signatures.is_empty() {
        return Err("checkpoint has no signature".into());
    }
    Ok(Checkpoint {
        origin,
        size,
        root_hash,
        text,
        signatures,
    })
}

impl Checkpoint<'_> {
    /// Whether one signature line whose key hint matches the log verifies with its key.
    /// Lines from other keys (witness cosignatures) are ignored.
    pub fn verify(&self, log: &LogKey) -> bool {
        let hint = log.key_id.get(..4);
        self.signatures.iter().any(|(_, sig)| {
            Some(&sig[..4]) == hint && verify_with_log_key(log, self.text.as_bytes(), &sig[4..])
        })
    }
}

/// What a logged entry body claims, for comparison with the bundle.
#[derive(Debug, Default)]
pub struct LoggedClaims {
    /// Digest of the signed message (hashedrekord), or of the DSSE PAE (hashedrekord 0.0.2 over DSSE).
    pub digest: Option<Vec<u8>>,
    /// SHA-256 of the DSSE payload (dsse, intoto).
    pub payload_hash: Option<Vec<u8>>,
    /// `(signature, verifier DER)` pairs: certificate or public key as logged.
    pub signatures: Vec<(Vec<u8>, Vec<u8>)>,
    /// Kind and API version, e.g. `hashedrekord/0.0.1`.
    pub kind: String,
}

fn b64d(s: Option<&Value>) -> Result<Vec<u8>, String> {
    let s = s
        .and_then(Value::as_str)
        .ok_or("missing field in log entry body")?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| "log entry body field is not base64".to_string())
}

fn hexd(v: Option<&Value>) -> Result<Vec<u8>, String> {
    let alg = v
        .and_then(|h| h.get("algorithm"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if alg != "sha256" {
        return Err(format!("unsupported hash algorithm `{alg}` in log entry"));
    }
    let s = v
        .and_then(|h| h.get("value"))
        .and_then(Value::as_str)
        .ok_or("missing hash value")?;
    hex::decode(s).map_err(|_| "hash value is not hex".into())
}

/// PEM (as logged by Rekor v1) to DER; the first block.
fn verifier_der(pem_b64: Option<&Value>) -> Result<Vec<u8>, String> {
    let pem = b64d(pem_b64)?;
    let text = String::from_utf8(pem).map_err(|_| "logged verifier is not PEM")?;
    let blocks = crate::keys::pem_blocks(&text, 4)?;
    blocks
        .into_iter()
        .next()
        .map(|(_, d)| d)
        .ok_or("logged verifier is not PEM".into())
}

/// Parses a canonicalized entry body.
pub fn parse_body(body: &[u8]) -> Result<LoggedClaims, String> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "log entry body is not JSON")?;
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let spec = v.get("spec").ok_or("log entry body has no spec")?;
    let mut c = LoggedClaims {
        kind: format!("{kind}/{version}"),
        ..Default::default()
    };
    match (kind, version) {
        ("hashedrekord", "0.0.1") => {
            c.digest = Some(hexd(spec.get("data").and_then(|d| d.get("hash")))?);
            let sig = spec.get("signature").ok_or("missing signature")?;
            c.signatures.push((
                b64d(sig.get("content"))?,
                verifier_der(sig.get("publicKey").and_then(|p| p.get("content")))?,
            ));
        }
        ("hashedrekord", "0.0.2") => {
            let s = spec
                .get("hashedRekordV002")
                .ok_or("missing hashedRekordV002")?;
            let data = s.get("data").ok_or("missing data")?;
            let alg = data.get("algorithm").and_then(Value::as_str).unwrap_or("");
            if alg != "SHA2_256" {
                return Err(format!("unsupported hash algorithm `{alg}` in log entry"));
            }
            c.digest = Some(b64d(data.get("digest"))?);
            let sig = s.get("signature").ok_or("missing signature")?;
            let verifier = sig.get("verifier").ok_or("missing verifier")?;
            let der = match (verifier.get("x509Certificate"), verifier.get("publicKey")) {
                (Some(cert), _) => b64d(cert.get("rawBytes"))?,
                (None, Some(pk)) => b64d(pk.get("rawBytes"))?,
                _ => return Err("missing verifier".into()),
            };
            c.signatures.push((b64d(sig.get("content"))?, der));
        }
        ("dsse", "0.0.1") => {
            c.payload_hash = Some(hexd(spec.get("payloadHash"))?);
            for s in spec
                .get("signatures")
                .and_then(Value::as_array)
                .ok_or("missing signatures")?
                .iter()
                .take(16)
            {
                c.signatures
                    .push((b64d(s.get("signature"))?, verifier_der(s.get("verifier"))?));
            }
        }
        ("intoto", "0.0.2") => {
            let content = spec.get("content").ok_or("missing content")?;
            c.payload_hash = Some(hexd(content.get("payloadHash"))?);
            let env = content.get("envelope").ok_or("missing envelope")?;
            for s in env
                .get("signatures")
                .and_then(Value::as_array)
                .ok_or("missing signatures")?
                .iter()
                .take(16)
            {
                // intoto 0.0.2 stores the signature base64-encoded twice.
                let once = b64d(s.get("sig"))?;
                let sig = base64::engine::general_purpose::STANDARD
                    .decode(&once)
                    .map_err(|_| "logged signature is not base64")?;
                c.signatures.push((sig, verifier_der(s.get("publicKey"))?));
            }
        }
        _ => {
            return Err(format!(
                "unsupported log entry kind `{kind}` version `{version}`"
            ));
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys() {
        let v = serde_json::json!({"logIndex": 1, "body": "x", "integratedTime": 2, "logID": "ab"});
        let mut s = String::new();
        canonical_json(&v, &mut s, 0).unwrap();
        assert_eq!(
            s,
            r#"{"body":"x","integratedTime":2,"logID":"ab","logIndex":1}"#
        );
    }

    #[test]
    fn inclusion_proof_small_trees() {
        let leaves: Vec<[u8; 32]> = (0u8..5).map(|i| leaf_hash(&[i])).collect();
        // Tree of 5: ((0,1),(2,3)),4
        let h01 = node_hash(&leaves[0], &leaves[1]);
        let h23 = node_hash(&leaves[2], &leaves[3]);
        let h0123 = node_hash(&h01, &h23);
        let root = node_hash(&h0123, &leaves[4]);
        assert_eq!(
            root_from_inclusion_proof(4, 5, leaves[4], &[h0123]),
            Some(root)
        );
        assert_eq!(
            root_from_inclusion_proof(2, 5, leaves[2], &[leaves[3], h01, leaves[4]]),
            Some(root)
        );
        assert_ne!(
            root_from_inclusion_proof(2, 5, leaves[2], &[leaves[3], h01, leaves[3]]),
            Some(root)
        );
        assert_eq!(root_from_inclusion_proof(5, 5, leaves[4], &[]), None);
        assert_eq!(
            root_from_inclusion_proof(0, 1, leaves[0], &[]),
            Some(leaves[0])
        );
    }
}
