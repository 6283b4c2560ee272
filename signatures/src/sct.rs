//! Embedded signed certificate timestamps (RFC 6962 §3.2, precertificate entries).

use crate::keys::{HashAlg, Scheme};
use crate::trust_root::LogKey;
use crate::x509::Certificate;
use sha2::{Digest, Sha256};

struct Sct<'a> {
    raw_version: u8,
    log_id: &'a [u8],
    timestamp: u64,
    extensions: &'a [u8],
    sig_alg: u8,
    signature: &'a [u8],
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (h, t) = b.split_at(n);
    *b = t;
    Some(h)
}

fn u16_prefixed<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let l = take(b, 2)?;
    take(b, u16::from_be_bytes([l[0], l[1]]) as usize)
}

fn parse_list(list: &[u8]) -> Option<Vec<Sct<'_>>> {
    let mut b = list;
    let mut all = u16_prefixed(&mut b)?;
    if !b.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    while !all.is_empty() {
        let mut s = u16_prefixed(&mut all)?;
        let raw_version = take(&mut s, 1)?[0];
        let log_id = take(&mut s, 32)?;
        let ts = take(&mut s, 8)?;
        let extensions = u16_prefixed(&mut s)?;
        let algs = take(&mut s, 2)?;
        let signature = u16_prefixed(&mut s)?;
        if !s.is_empty() || algs[0] != 4 {
            return None;
        }
        out.push(Sct {
            raw_version,
            log_id,
            timestamp: u64::from_be_bytes(ts.try_into().ok()?),
            extensions,
            sig_alg: algs[1],
            signature,
        });
        if out.len() > 16 {
            return None;
        }
    }
    Some(out)
}

/// Checks that `leaf` (issued by `issuer`) carries at least one SCT signed by a CT log of
/// the trusted root. Returns the log URL of the first valid one.
pub fn verify_embedded(
    leaf: &Certificate,
    issuer: &Certificate,
    ctlogs: &[LogKey],
) -> Result<String, String> {
    let list = leaf.sct_list().ok_or("certificate has no embedded SCT")?;
    let scts = parse_list(&list).ok_or("malformed SCT list")?;
    let tbs = leaf
        .tbs_without_sct()
        .ok_or("cannot rebuild the precertificate")?;
    if tbs.len() >= 1 << 24 {
        return Err("certificate too large".into());
    }
    let issuer_key_hash = Sha256::digest(issuer.key.spki());
    for sct in &scts {
        if sct.raw_version != 0 {
            continue;
        }
        let Some(log) = ctlogs.iter().find(|l| l.key_id == sct.log_id) else {
            continue;
        };
        let mut msg = Vec::with_capacity(tbs.len() + 64);
        msg.push(0); // v1
        msg.push(0); // certificate_timestamp
        msg.extend_from_slice(&sct.timestamp.to_be_bytes());
        msg.extend_from_slice(&[0, 1]); // precert_entry
        msg.extend_from_slice(&issuer_key_hash);
        msg.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&tbs);
        msg.extend_from_slice(&(sct.extensions.len() as u16).to_be_bytes());
        msg.extend_from_slice(sct.extensions);
        let scheme = match sct.sig_alg {
            3 => Scheme::EcdsaDer(HashAlg::Sha256),
            1 => Scheme::RsaPkcs1(HashAlg::Sha256),
            _ => continue,
        };
        let secs = (sct.timestamp / 1000) as i64;
        if log.valid_at(secs) && log.key.verify(scheme, &msg, sct.signature) {
            return Ok(log.base_url.clone());
        }
    }
    Err("no embedded SCT verifies with a CT log key of the trusted root".into())
}
