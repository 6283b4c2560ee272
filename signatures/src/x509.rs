//! X.509 certificates: the parts verification needs, and path validation.

use crate::der::{self, Reader, Tlv, tag};
use crate::keys::{PublicKey, Scheme};

/// Largest certificate accepted (Fulcio leaves are about 2 KB).
pub const MAX_CERT_BYTES: usize = 32 * 1024;
/// Longest chain walked from a leaf to a trust anchor.
pub const MAX_CHAIN_DEPTH: usize = 8;

pub const EKU_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
pub const EKU_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";
const OID_SCT_LIST: &str = "1.3.6.1.4.1.11129.2.4.2";

/// One extension.
#[derive(Clone, Debug)]
pub struct Extension {
    pub oid: String,
    pub critical: bool,
    pub value: Vec<u8>,
}

/// A parsed certificate.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub raw: Vec<u8>,
    pub tbs: Vec<u8>,
    pub sig_alg: Vec<u8>,
    pub signature: Vec<u8>,
    pub serial: Vec<u8>,
    pub issuer: Vec<u8>,
    pub subject: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub key: PublicKey,
    pub extensions: Vec<Extension>,
}

/// A subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    Email(String),
    Uri(String),
    Dns(String),
    /// Any other form, kept only so that a SAN extension with it is not mistaken for empty.
    Other,
}

impl San {
    pub fn value(&self) -> Option<&str> {
        match self {
            San::Email(s) | San::Uri(s) | San::Dns(s) => Some(s),
            San::Other => None,
        }
    }
}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(raw: &[u8]) -> Result<Certificate, String> {
        if raw.len() > MAX_CERT_BYTES {
            return Err("certificate is too large".into());
        }
        let cert = Reader::single(raw, tag::SEQUENCE).ok_or("not a DER certificate")?;
        let mut r = der::children(&cert);
        let tbs = r.expect(tag::SEQUENCE).ok_or("missing tbsCertificate")?;
        let sig_alg = r
            .expect(tag::SEQUENCE)
            .ok_or("missing signatureAlgorithm")?;
        let signature = r
            .expect(tag::BIT_STRING)
            .and_then(|t| der::bit_string_bytes(&t))
            .ok_or("missing signature")?;
        if !r.is_empty() {
            return Err("trailing data in certificate".into());
        }
        let mut t = der::children(&tbs);
        let version = match t.optional(0xa0) {
            Some(v) => {
                der::small_uint(&Reader::single(v.content, tag::INTEGER).ok_or("bad version")?)
                    .ok_or("bad version")?
            }
            None => 0,
        };
        let serial = t.expect(tag::INTEGER).ok_or("missing serial number")?;
        let inner_alg = t
            .expect(tag::SEQUENCE)
            .ok_or("missing signature algorithm")?;
        if inner_alg.raw != sig_alg.raw {
            return Err(
                "signature algorithm differs between certificate and tbsCertificate".into(),
            );
        }
        let issuer = t.expect(tag::SEQUENCE).ok_or("missing issuer")?;
        let validity = t.expect(tag::SEQUENCE).ok_or("missing validity")?;
        let subject = t.expect(tag::SEQUENCE).ok_or("missing subject")?;
        let spki = t
            .expect(tag::SEQUENCE)
            .ok_or("missing subjectPublicKeyInfo")?;
        let _ = t.optional(0x81);
        let _ = t.optional(0x82);
        let mut extensions = Vec::new();
        if let Some(exts) = t.optional(0xa3) {
            if version != 2 {
                return Err("extensions in a certificate that is not v3".into());
            }
            let seq = Reader::single(exts.content, tag::SEQUENCE).ok_or("bad extensions")?;
            let mut er = der::children(&seq);
            while !er.is_empty() {
                if extensions.len() >= 64 {
                    return Err("too many extensions".into());
                }
                let ext = er.expect(tag::SEQUENCE).ok_or("bad extension")?;
                let mut x = der::children(&ext);
                let oid = x
                    .expect(tag::OID)
                    .and_then(|o| der::oid_string(o.content))
                    .ok_or("bad extension id")?;
                let critical = match x.optional(tag::BOOLEAN) {
                    Some(b) => b.content == [0xff],
                    None => false,
                };
                let value = x.expect(tag::OCTET_STRING).ok_or("bad extension value")?;
                if !x.is_empty() {
                    return Err("trailing data in extension".into());
                }
                if extensions.iter().any(|e: &Extension| e.oid == oid) {
                    return Err(format!("duplicate extension `{oid}`"));
                }
                extensions.push(Extension {
                    oid,
                    critical,
                    value: value.content.to_vec(),
                });
            }
        }
        if !t.is_empty() {
            return Err("trailing data in tbsCertificate".into());
        }
        let mut v = der::children(&validity);
        let nb = v
            .read()
            .and_then(|x| der::time(&x))
            .ok_or("bad notBefore")?;
        let na = v.read().and_then(|x| der::time(&x)).ok_or("bad notAfter")?;
        let key = PublicKey::from_spki_der(spki.raw)?;
        Ok(Certificate {
            raw: raw.to_vec(),
            tbs: tbs.raw.to_vec(),
            sig_alg: sig_alg.raw.to_vec(),
            signature: signature.to_vec(),
            serial: serial.content.to_vec(),
            issuer: issuer.raw.to_vec(),
            subject: subject.raw.to_vec(),
            not_before: nb,
            not_after: na,
            key,
            extensions,
        })
    }

    /// Parses all `CERTIFICATE` blocks of a PEM text (at most `max`).
    pub fn from_pem_chain(text: &str, max: usize) -> Result<Vec<Certificate>, String> {
        let blocks = crate::keys::pem_blocks(text, max)?;
        let mut out = Vec::new();
        for (label, der) in blocks {
            if label != "CERTIFICATE" {
                return Err(format!(
                    "expected a `CERTIFICATE` PEM block, found `{label}`"
                ));
            }
            out.push(Certificate::from_der(&der)?);
        }
        Ok(out)
    }

    pub fn extension(&self, oid: &str) -> Option<&Extension> {
        self.extensions.iter().find(|e| e.oid == oid)
    }

    pub fn valid_at(&self, t: i64) -> bool {
        self.not_before <= t && t <= self.not_after
    }

    /// `(is_ca, path_len)` from basicConstraints.
    pub fn basic_constraints(&self) -> Option<(bool, Option<u64>)> {
        let ext = self.extension("2.5.29.19")?;
        let seq = Reader::single(&ext.value, tag::SEQUENCE)?;
        let mut r = der::children(&seq);
        let ca = match r.optional(tag::BOOLEAN) {
            Some(b) => b.content == [0xff],
            None => false,
        };
        let len = match r.optional(tag::INTEGER) {
            Some(i) => Some(der::small_uint(&i)?),
            None => None,
        };
        Some((ca, len))
    }

    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints(), Some((true, _)))
    }

    /// Key usage bits (bit 0 = digitalSignature ... bit 5 = keyCertSign), if present.
    pub fn key_usage(&self) -> Option<u16> {
        let ext = self.extension("2.5.29.15")?;
        let bits = Reader::single(&ext.value, tag::BIT_STRING)?;
        let (unused, bytes) = bits.content.split_first()?;
        if *unused > 7 || bytes.len() > 2 {
            return None;
        }
        let mut v: u16 = 0;
        for (i, b) in bytes.iter().enumerate() {
            for bit in 0..8 {
                if b & (0x80 >> bit) != 0 {
                    v |= 1 << (i * 8 + bit);
                }
            }
        }
        Some(v)
    }

    /// Extended key usages, if the extension is present.
    pub fn extended_key_usage(&self) -> Option<Vec<String>> {
        let ext = self.extension("2.5.29.37")?;
        let seq = Reader::single(&ext.value, tag::SEQUENCE)?;
        let mut r = der::children(&seq);
        let mut out = Vec::new();
        while !r.is_empty() {
            out.push(der::oid_string(r.expect(tag::OID)?.content)?);
            if out.len() > 32 {
                return None;
            }
        }
        Some(out)
    }

    pub fn has_eku(&self, oid: &str) -> bool {
        self.extended_key_usage()
            .is_some_and(|e| e.iter().any(|x| x == oid))
    }

    /// Subject alternative names.
    pub fn sans(&self) -> Vec<San> {
        let Some(ext) = self.extension("2.5.29.17") else {
            return Vec::new();
        };
        let Some(seq) = Reader::single(&ext.value, tag::SEQUENCE) else {
            return Vec::new();
        };
        let mut r = der::children(&seq);
        let mut out = Vec::new();
        while let Some(gn) = r.read() {
            let text = || String::from_utf8(gn.content.to_vec()).ok();
            out.push(match gn.tag {
                0x81 => text().map(San::Email).unwrap_or(San::Other),
                0x82 => text().map(San::Dns).unwrap_or(San::Other),
                0x86 => text().map(San::Uri).unwrap_or(San::Other),
                _ => San::Other,
            });
            if out.len() > 64 {
                break;
            }
        }
        out
    }

    /// The OIDC issuer recorded by Fulcio: OID 1.3.6.1.4.1.57264.1.8 (DER UTF8String), or
    /// the legacy 1.3.6.1.4.1.57264.1.1 (raw string bytes).
    pub fn fulcio_issuer(&self) -> Option<String> {
        if let Some(ext) = self.extension("1.3.6.1.4.1.57264.1.8") {
            let s = Reader::single(&ext.value, tag::UTF8_STRING)?;
            return String::from_utf8(s.content.to_vec()).ok();
        }
        let ext = self.extension("1.3.6.1.4.1.57264.1.1")?;
        String::from_utf8(ext.value.clone()).ok()
    }

    /// Whether `issuer` signed this certificate (name chaining + signature).
    pub fn is_signed_by(&self, issuer: &Certificate) -> bool {
        if self.issuer != issuer.subject {
            return false;
        }
        match Scheme::from_algorithm_identifier(&self.sig_alg) {
            Some(scheme) => issuer.key.verify(scheme, &self.tbs, &self.signature),
            None => false,
        }
    }

    pub fn is_self_signed(&self) -> bool {
        self.issuer == self.subject && self.is_signed_by(self)
    }

    /// Critical extensions this verifier does not understand.
    pub fn unknown_critical_extensions(&self) -> Vec<&str> {
        const KNOWN: &[&str] = &[
            "2.5.29.15",
            "2.5.29.19",
            "2.5.29.37",
            "2.5.29.17",
            "2.5.29.32",
            "2.5.29.35",
            "2.5.29.14",
        ];
        self.extensions
            .iter()
            .filter(|e| e.critical && !KNOWN.contains(&e.oid.as_str()))
            .map(|e| e.oid.as_str())
            .collect()
    }

    /// The subject as an RFC 4514-like string (`CN=x, O=y, C=z`, in certificate order).
    pub fn subject_string(&self) -> String {
        name_string(&self.subject)
    }

    /// Subject attributes as `(short name, value)` pairs.
    pub fn subject_attributes(&self) -> Vec<(String, String)> {
        name_attributes(&self.subject)
    }

    /// The SCT list extension value (TLS-encoded `SignedCertificateTimestampList`).
    pub fn sct_list(&self) -> Option<Vec<u8>> {
        let ext = self.extension(OID_SCT_LIST)?;
        Some(
            Reader::single(&ext.value, tag::OCTET_STRING)?
                .content
                .to_vec(),
        )
    }

    /// The tbsCertificate with the SCT list extension removed (the precertificate TBS that
    /// CT logs sign, RFC 6962 §3.2).
    pub fn tbs_without_sct(&self) -> Option<Vec<u8>> {
        let tbs = Reader::single(&self.tbs, tag::SEQUENCE)?;
        let mut r = der::children(&tbs);
        let mut content = Vec::new();
        while let Some(el) = r.read() {
            if el.tag != 0xa3 {
                content.extend_from_slice(el.raw);
                continue;
            }
            let seq = Reader::single(el.content, tag::SEQUENCE)?;
            let mut er = der::children(&seq);
            let mut kept = Vec::new();
            while let Some(ext) = er.read() {
                let oid = der::children(&ext)
                    .expect(tag::OID)
                    .and_then(|o| der::oid_string(o.content))?;
                if oid != OID_SCT_LIST {
                    kept.extend_from_slice(ext.raw);
                }
            }
            content.extend_from_slice(&der::encode(0xa3, &der::encode(tag::SEQUENCE, &kept)));
        }
        Some(der::encode(tag::SEQUENCE, &content))
    }
}

fn attr_short_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.5" => "SERIALNUMBER",
        "1.2.840.113549.1.9.1" => "E",
        other => return other.to_string(),
    }
    .to_string()
}

fn name_attributes(name: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(seq) = Reader::single(name, tag::SEQUENCE) else {
        return out;
    };
    let mut rdns = der::children(&seq);
    while let Some(rdn) = rdns.read() {
        let mut atvs = der::children(&rdn);
        while let Some(atv) = atvs.read() {
            let mut a = der::children(&atv);
            let (Some(oid), Some(val)) = (a.expect(tag::OID), a.read()) else {
                continue;
            };
            let value = match val.tag {
                tag::BMP_STRING => String::from_utf16_lossy(
                    &val.content
                        .chunks(2)
                        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                        .collect::<Vec<_>>(),
                ),
                _ => String::from_utf8_lossy(val.content).into_owned(),
            };
            out.push((
                attr_short_name(&der::oid_string(oid.content).unwrap_or_default()),
                value,
            ));
            if out.len() > 64 {
                return out;
            }
        }
    }
    out
}

fn name_string(name: &[u8]) -> String {
    name_attributes(name)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a path could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainError {
    /// No path from the leaf to a trust anchor.
    Untrusted(String),
    /// A certificate on the path is not valid at the time.
    Expired(String),
    /// A certificate on the path breaks a constraint (CA flag, key usage, critical extension).
    Invalid(String),
}

/// Builds and checks a path `leaf -> intermediates* -> anchor` valid at `time`. Returns the
/// path (leaf first, anchor last). Anchors are trusted as they are (their validity is checked
/// too); intermediates are untrusted candidates.
pub fn build_path<'a>(
    leaf: &'a Certificate,
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    time: Option<i64>,
) -> Result<Vec<&'a Certificate>, ChainError> {
    let valid = |c: &Certificate| time.is_none_or(|t| c.valid_at(t));
    let at = time.map(crate::time::rfc3339).unwrap_or_default();
    if let Some(oid) = leaf.unknown_critical_extensions().first() {
        return Err(ChainError::Invalid(format!(
            "leaf has an unknown critical extension `{oid}`"
        )));
    }
    // An anchor itself used as the signing certificate.
    if anchors.iter().any(|a| a.raw == leaf.raw) {
        return if valid(leaf) {
            Ok(vec![leaf])
        } else {
            Err(ChainError::Expired(format!(
                "certificate `{}` is not valid at {}",
                leaf.subject_string(),
                at
            )))
        };
    }
    let mut path = vec![leaf];
    let mut expired: Option<String> = None;
    if !valid(leaf) {
        expired = Some(format!(
            "leaf certificate `{}` is valid from {} to {}, not at {}",
            leaf.subject_string(),
            crate::time::rfc3339(leaf.not_before),
            crate::time::rfc3339(leaf.not_after),
            at
        ));
    }
    let mut current = leaf;
    for depth in 0..MAX_CHAIN_DEPTH {
        if let Some(anchor) = anchors.iter().find(|a| current.is_signed_by(a)) {
            check_issuer(anchor, depth)?;
            if !valid(anchor) {
                expired.get_or_insert(format!(
                    "trust anchor `{}` is not valid at {}",
                    anchor.subject_string(),
                    at
                ));
            }
            if let Some(e) = expired {
                return Err(ChainError::Expired(e));
            }
            path.push(anchor);
            return Ok(path);
        }
        let Some(next) = intermediates
            .iter()
            .find(|c| !path.iter().any(|p| p.raw == c.raw) && current.is_signed_by(c))
        else {
            break;
        };
        check_issuer(next, depth)?;
        if !valid(next) {
            expired.get_or_insert(format!(
                "intermediate `{}` is not valid at {}",
                next.subject_string(),
                at
            ));
        }
        path.push(next);
        current = next;
    }
    // Fulcio certificates have an empty subject: name them by their issuer alone.
    let subject = leaf.subject_string();
    let leaf_name = if subject.is_empty() {
        "the signing certificate".to_string()
    } else {
        format!("`{subject}`")
    };
    Err(ChainError::Untrusted(format!(
        "no path from {leaf_name} (issuer `{}`) to a trusted root",
        name_string(&leaf.issuer)
    )))
}

fn check_issuer(c: &Certificate, certs_below: usize) -> Result<(), ChainError> {
    match c.basic_constraints() {
        Some((true, path_len)) => {
            if let Some(max) = path_len {
                // `certs_below` counts the intermediates between this one and the leaf.
                if (certs_below as u64) > max {
                    return Err(ChainError::Invalid(format!(
                        "path length constraint of `{}` exceeded",
                        c.subject_string()
                    )));
                }
            }
        }
        _ => {
            return Err(ChainError::Invalid(format!(
                "issuer `{}` is not a CA certificate",
                c.subject_string()
            )));
        }
    }
    if let Some(ku) = c.key_usage()
        && ku & (1 << 5) == 0
    {
        return Err(ChainError::Invalid(format!(
            "issuer `{}` may not sign certificates (key usage)",
            c.subject_string()
        )));
    }
    if let Some(oid) = c.unknown_critical_extensions().first() {
        return Err(ChainError::Invalid(format!(
            "`{}` has an unknown critical extension `{oid}`",
            c.subject_string()
        )));
    }
    Ok(())
}

/// Decodes a DER certificate from a `Tlv` (used by CMS parsing).
pub fn from_tlv(t: &Tlv<'_>) -> Result<Certificate, String> {
    Certificate::from_der(t.raw)
}
