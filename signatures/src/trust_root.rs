//! Sigstore `trusted_root.json` (protobuf-specs `TrustedRoot`, JSON form), also accepted
//! wrapped in a `ClientTrustConfig` (`{"trustedRoot": {...}}`).

use crate::keys::PublicKey;
use crate::x509::Certificate;
use base64::Engine as _;
use serde_json::Value;

/// A transparency log or CT log key.
#[derive(Clone, Debug)]
pub struct LogKey {
    pub key_id: Vec<u8>,
    pub key: PublicKey,
    pub start: i64,
    pub end: Option<i64>,
    pub base_url: String,
}

/// A certificate authority (Fulcio) or timestamp authority.
#[derive(Clone, Debug)]
pub struct Authority {
    /// Leaf/intermediate first, root last (as in the JSON).
    pub chain: Vec<Certificate>,
    pub start: i64,
    pub end: Option<i64>,
}

/// Parsed trust material.
#[derive(Clone, Debug, Default)]
pub struct TrustedRoot {
    pub tlogs: Vec<LogKey>,
    pub ctlogs: Vec<LogKey>,
    pub cas: Vec<Authority>,
    pub tsas: Vec<Authority>,
}

fn covers(start: i64, end: Option<i64>, t: i64) -> bool {
    start <= t && end.is_none_or(|e| t <= e)
}

impl LogKey {
    pub fn valid_at(&self, t: i64) -> bool {
        covers(self.start, self.end, t)
    }
}

impl Authority {
    pub fn valid_at(&self, t: i64) -> bool {
        covers(self.start, self.end, t)
    }
}

const MAX_ENTRIES: usize = 64;

impl TrustedRoot {
    /// Parses the JSON text. Entries with key types this crate does not support are skipped;
    /// structural errors (a missing `validFor.start`, bad base64) are errors.
    pub fn from_json(text: &str) -> Result<TrustedRoot, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("trusted root is not JSON: {e}"))?;
        let v = match v.get("trustedRoot") {
            Some(inner) => inner,
            None => &v,
        };
        let media = v.get("mediaType").and_then(Value::as_str).unwrap_or("");
        if !media.starts_with("application/vnd.dev.sigstore.trustedroot") {
            return Err(format!("unsupported trusted root media type `{media}`"));
        }
        let mut root = TrustedRoot::default();
        for (field, out) in [("tlogs", &mut root.tlogs), ("ctlogs", &mut root.ctlogs)] {
            for (i, e) in array(v, field)?.iter().enumerate() {
                if let Some(k) = log_key(e).map_err(|m| format!("`{field}[{i}]`: {m}"))? {
                    out.push(k);
                }
            }
        }
        for (field, out) in [
            ("certificateAuthorities", &mut root.cas),
            ("timestampAuthorities", &mut root.tsas),
        ] {
            for (i, e) in array(v, field)?.iter().enumerate() {
                out.push(authority(e).map_err(|m| format!("`{field}[{i}]`: {m}"))?);
            }
        }
        Ok(root)
    }
}

fn array<'a>(v: &'a Value, field: &str) -> Result<&'a [Value], String> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) if a.len() <= MAX_ENTRIES => Ok(a),
        Some(Value::Array(_)) => Err(format!("`{field}` has more than {MAX_ENTRIES} entries")),
        Some(_) => Err(format!("`{field}` is not an array")),
    }
}

fn b64(v: Option<&Value>, what: &str) -> Result<Vec<u8>, String> {
    let s = v
        .and_then(Value::as_str)
        .ok_or(format!("missing `{what}`"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| format!("`{what}` is not base64"))
}

fn valid_for(v: Option<&Value>) -> Result<(i64, Option<i64>), String> {
    let vf = v.ok_or("missing `validFor`")?;
    let start = vf
        .get("start")
        .and_then(Value::as_str)
        .ok_or("missing `validFor.start`")?;
    let start = crate::time::parse_rfc3339(start).ok_or("bad `validFor.start`")?;
    let end = match vf.get("end").and_then(Value::as_str) {
        Some(e) => Some(crate::time::parse_rfc3339(e).ok_or("bad `validFor.end`")?),
        None => None,
    };
    Ok((start, end))
}

fn log_key(e: &Value) -> Result<Option<LogKey>, String> {
    let pk = e.get("publicKey").ok_or("missing `publicKey`")?;
    let (start, end) = valid_for(pk.get("validFor"))?;
    let raw = b64(pk.get("rawBytes"), "publicKey.rawBytes")?;
    let key_id = b64(e.get("logId").and_then(|l| l.get("keyId")), "logId.keyId")?;
    let key = match PublicKey::from_spki_der(&raw) {
        Ok(k) => k,
        Err(_) => return Ok(None),
    };
    Ok(Some(LogKey {
        key_id,
        key,
        start,
        end,
        base_url: e
            .get("baseUrl")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    }))
}

fn authority(e: &Value) -> Result<Authority, String> {
    let (start, end) = valid_for(e.get("validFor"))?;
    let certs = e
        .get("certChain")
        .and_then(|c| c.get("certificates"))
        .and_then(Value::as_array)
        .ok_or("missing `certChain.certificates`")?;
    if certs.is_empty() || certs.len() > crate::x509::MAX_CHAIN_DEPTH {
        return Err("`certChain.certificates` must hold 1 to 8 certificates".into());
    }
    let mut chain = Vec::new();
    for c in certs {
        let der = b64(c.get("rawBytes"), "rawBytes")?;
        chain.push(Certificate::from_der(&der)?);
    }
    Ok(Authority { chain, start, end })
}
