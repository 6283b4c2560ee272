//! Public keys (ECDSA P-256/P-384/P-521, RSA, Ed25519), PEM, and signature checks.

use crate::der::{self, Reader, tag};
use base64::Engine as _;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Hash functions used by the supported signature schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlg::Sha256 => Sha256::digest(data).to_vec(),
            HashAlg::Sha384 => Sha384::digest(data).to_vec(),
            HashAlg::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    pub fn from_oid(oid: &str) -> Option<HashAlg> {
        match oid {
            "2.16.840.1.101.3.4.2.1" => Some(HashAlg::Sha256),
            "2.16.840.1.101.3.4.2.2" => Some(HashAlg::Sha384),
            "2.16.840.1.101.3.4.2.3" => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }
}

/// A signature scheme: how the signature bytes are checked against a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// ECDSA with an ASN.1 DER signature.
    EcdsaDer(HashAlg),
    /// ECDSA with a fixed-size `r || s` signature (JWS, COSE).
    EcdsaFixed(HashAlg),
    RsaPkcs1(HashAlg),
    RsaPss(HashAlg),
    Ed25519,
}

impl Scheme {
    /// The scheme named by an X.509 / CMS signature AlgorithmIdentifier (the whole SEQUENCE).
    pub fn from_algorithm_identifier(alg: &[u8]) -> Option<Scheme> {
        let seq = Reader::single(alg, tag::SEQUENCE)?;
        let mut r = der::children(&seq);
        let oid = der::oid_string(r.expect(tag::OID)?.content)?;
        Some(match oid.as_str() {
            "1.2.840.10045.4.3.2" => Scheme::EcdsaDer(HashAlg::Sha256),
            "1.2.840.10045.4.3.3" => Scheme::EcdsaDer(HashAlg::Sha384),
            "1.2.840.10045.4.3.4" => Scheme::EcdsaDer(HashAlg::Sha512),
            "1.2.840.113549.1.1.11" => Scheme::RsaPkcs1(HashAlg::Sha256),
            "1.2.840.113549.1.1.12" => Scheme::RsaPkcs1(HashAlg::Sha384),
            "1.2.840.113549.1.1.13" => Scheme::RsaPkcs1(HashAlg::Sha512),
            "1.3.101.112" => Scheme::Ed25519,
            "1.2.840.113549.1.1.10" => {
                // RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier, ... }
                let params = r.expect(tag::SEQUENCE)?;
                let mut p = der::children(&params);
                let hash = match p.optional(0xa0) {
                    Some(h) => {
                        let mut hr = der::children(&h);
                        let alg = hr.expect(tag::SEQUENCE)?;
                        let oid = der::oid_string(der::children(&alg).expect(tag::OID)?.content)?;
                        HashAlg::from_oid(&oid)?
                    }
                    None => return None, // SHA-1 default: not accepted
                };
                Scheme::RsaPss(hash)
            }
            _ => return None,
        })
    }
}

/// A parsed public key with its SubjectPublicKeyInfo encoding.
#[derive(Clone, Debug)]
pub struct PublicKey {
    kind: KeyKind,
    spki: Vec<u8>,
}

#[derive(Clone, Debug)]
enum KeyKind {
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Rsa(rsa::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// Largest PEM or DER key accepted (an RSA-8192 SPKI is about 1.1 KB).
const MAX_KEY_BYTES: usize = 16 * 1024;

impl PublicKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(spki: &[u8]) -> Result<PublicKey, String> {
        if spki.len() > MAX_KEY_BYTES {
            return Err("public key is too large".into());
        }
        let seq = Reader::single(spki, tag::SEQUENCE).ok_or("not a DER SubjectPublicKeyInfo")?;
        let mut r = der::children(&seq);
        let alg = r.expect(tag::SEQUENCE).ok_or("missing key algorithm")?;
        let key = r
            .expect(tag::BIT_STRING)
            .and_then(|t| der::bit_string_bytes(&t))
            .ok_or("missing key bits")?;
        if !r.is_empty() {
            return Err("trailing data in SubjectPublicKeyInfo".into());
        }
        let mut ar = der::children(&alg);
        let oid = ar
            .expect(tag::OID)
            .and_then(|t| der::oid_string(t.content))
            .ok_or("bad key algorithm")?;
        let kind = match oid.as_str() {
            "1.2.840.10045.2.1" => {
                let curve = ar
                    .expect(tag::OID)
                    .and_then(|t| der::oid_string(t.content))
                    .ok_or("EC key without named curve")?;
                match curve.as_str() {
                    "1.2.840.10045.3.1.7" => KeyKind::P256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                            .map_err(|_| "invalid P-256 point")?,
                    ),
                    "1.3.132.0.34" => KeyKind::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
                            .map_err(|_| "invalid P-384 point")?,
                    ),
                    "1.3.132.0.35" => KeyKind::P521(
                        p521::ecdsa::VerifyingKey::from_sec1_bytes(key)
                            .map_err(|_| "invalid P-521 point")?,
                    ),
                    other => return Err(format!("unsupported EC curve `{other}`")),
                }
            }
            "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => KeyKind::Rsa(rsa_from_pkcs1(key)?),
            "1.3.101.112" => {
                let bytes: [u8; 32] = key.try_into().map_err(|_| "Ed25519 key is not 32 bytes")?;
                KeyKind::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                        .map_err(|_| "invalid Ed25519 key")?,
                )
            }
            other => return Err(format!("unsupported key algorithm `{other}`")),
        };
        Ok(PublicKey {
            kind,
            spki: spki.to_vec(),
        })
    }

    /// Parses a PEM `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) block.
    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        let blocks = pem_blocks(text, 2)?;
        match blocks.as_slice() {
            [(label, der)] if label == "PUBLIC KEY" => PublicKey::from_spki_der(der),
            [(label, der)] if label == "RSA PUBLIC KEY" => {
                let key = rsa_from_pkcs1(der)?;
                // Re-wrap as SPKI so fingerprints do not depend on the PEM flavour.
                let mut alg = der::encode(
                    tag::OID,
                    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01],
                );
                alg.extend_from_slice(&[tag::NULL, 0]);
                let mut spki = der::encode(tag::SEQUENCE, &alg);
                let mut bits = vec![0u8];
                bits.extend_from_slice(der);
                spki.extend_from_slice(&der::encode(tag::BIT_STRING, &bits));
                Ok(PublicKey {
                    kind: KeyKind::Rsa(key),
                    spki: der::encode(tag::SEQUENCE, &spki),
                })
            }
            [(label, _)] => Err(format!(
                "expected a `PUBLIC KEY` PEM block, found `{label}`"
            )),
            [] => Err("no PEM block found".into()),
            _ => Err("expected exactly one PEM block".into()),
        }
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// `sha256:<hex>` of the SubjectPublicKeyInfo (the form `cosign` and Notation print).
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(&self.spki)))
    }

    /// A short name of the key type (`ecdsa-p256`, `rsa-2048`, `ed25519`, ...).
    pub fn type_name(&self) -> String {
        match &self.kind {
            KeyKind::P256(_) => "ecdsa-p256".into(),
            KeyKind::P384(_) => "ecdsa-p384".into(),
            KeyKind::P521(_) => "ecdsa-p521".into(),
            KeyKind::Rsa(k) => format!("rsa-{}", rsa_bits(k)),
            KeyKind::Ed25519(_) => "ed25519".into(),
        }
    }

    /// RSA modulus size in bits, EC curve size, 256 for Ed25519.
    pub fn size_bits(&self) -> usize {
        match &self.kind {
            KeyKind::P256(_) => 256,
            KeyKind::P384(_) => 384,
            KeyKind::P521(_) => 521,
            KeyKind::Rsa(k) => rsa_bits(k),
            KeyKind::Ed25519(_) => 256,
        }
    }

    pub fn is_rsa(&self) -> bool {
        matches!(self.kind, KeyKind::Rsa(_))
    }

    pub fn is_ec(&self) -> bool {
        matches!(
            self.kind,
            KeyKind::P256(_) | KeyKind::P384(_) | KeyKind::P521(_)
        )
    }

    pub fn is_ed25519(&self) -> bool {
        matches!(self.kind, KeyKind::Ed25519(_))
    }

    /// The scheme used when nothing else says: ECDSA with the curve's hash, RSA PKCS#1 v1.5
    /// with SHA-256, Ed25519.
    pub fn default_scheme(&self) -> Scheme {
        match &self.kind {
            KeyKind::P256(_) => Scheme::EcdsaDer(HashAlg::Sha256),
            KeyKind::P384(_) => Scheme::EcdsaDer(HashAlg::Sha384),
            KeyKind::P521(_) => Scheme::EcdsaDer(HashAlg::Sha512),
            KeyKind::Rsa(_) => Scheme::RsaPkcs1(HashAlg::Sha256),
            KeyKind::Ed25519(_) => Scheme::Ed25519,
        }
    }

    /// Verifies `sig` over `msg`.
    pub fn verify(&self, scheme: Scheme, msg: &[u8], sig: &[u8]) -> bool {
        match scheme {
            Scheme::Ed25519 => match &self.kind {
                KeyKind::Ed25519(k) => match ed25519_dalek::Signature::from_slice(sig) {
                    Ok(s) => k.verify_strict(msg, &s).is_ok(),
                    Err(_) => false,
                },
                _ => false,
            },
            Scheme::EcdsaDer(h)
            | Scheme::EcdsaFixed(h)
            | Scheme::RsaPkcs1(h)
            | Scheme::RsaPss(h) => self.verify_prehashed(scheme, &h.digest(msg), sig),
        }
    }

    /// Verifies `sig` over a message whose digest (with the scheme's hash) is `digest`.
    /// Ed25519 signs messages, not digests, so it never verifies here.
    pub fn verify_prehashed(&self, scheme: Scheme, digest: &[u8], sig: &[u8]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        macro_rules! ecdsa {
            ($k:expr, $m:ident, $fixed:expr) => {{
                let s = if $fixed {
                    $m::ecdsa::Signature::from_slice(sig).ok()
                } else {
                    $m::ecdsa::Signature::from_der(sig).ok()
                };
                match s {
                    Some(s) => $k.verify_prehash(digest, &s).is_ok(),
                    None => false,
                }
            }};
        }
        match (&self.kind, scheme) {
            (_, Scheme::Ed25519) => false,
            (KeyKind::P256(k), Scheme::EcdsaDer(h) | Scheme::EcdsaFixed(h))
                if digest.len() == h.output_len() =>
            {
                ecdsa!(k, p256, matches!(scheme, Scheme::EcdsaFixed(_)))
            }
            (KeyKind::P384(k), Scheme::EcdsaDer(h) | Scheme::EcdsaFixed(h))
                if digest.len() == h.output_len() =>
            {
                ecdsa!(k, p384, matches!(scheme, Scheme::EcdsaFixed(_)))
            }
            (KeyKind::P521(k), Scheme::EcdsaDer(h) | Scheme::EcdsaFixed(h))
                if digest.len() == h.output_len() =>
            {
                ecdsa!(k, p521, matches!(scheme, Scheme::EcdsaFixed(_)))
            }
            (KeyKind::Rsa(k), Scheme::RsaPkcs1(h)) if digest.len() == h.output_len() => {
                let padding = match h {
                    HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<Sha256>(),
                    HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<Sha384>(),
                    HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<Sha512>(),
                };
                k.verify(padding, digest, sig).is_ok()
            }
            (KeyKind::Rsa(k), Scheme::RsaPss(h)) if digest.len() == h.output_len() => match h {
                HashAlg::Sha256 => k.verify(rsa::Pss::<Sha256>::new(), digest, sig).is_ok(),
                HashAlg::Sha384 => k.verify(rsa::Pss::<Sha384>::new(), digest, sig).is_ok(),
                HashAlg::Sha512 => k.verify(rsa::Pss::<Sha512>::new(), digest, sig).is_ok(),
            },
            _ => false,
        }
    }
}

fn rsa_bits(k: &rsa::PublicKey) -> usize {
    use rsa::traits::PublicKeyParts;
    k.size() * 8
}

fn rsa_from_pkcs1(der: &[u8]) -> Result<rsa::PublicKey, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    rsa::PublicKey::from_pkcs1_der(der).map_err(|e| format!("invalid RSA public key: {e}"))
}

/// Splits PEM text into `(label, der)` blocks; at most `max` blocks.
pub fn pem_blocks(text: &str, max: usize) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        if out.len() >= max {
            return Err(format!("more than {max} PEM blocks"));
        }
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                return Err(format!(
                    "encrypted or annotated PEM block `{label}` is not supported"
                ));
            }
            body.push_str(l);
        }
        if !closed {
            return Err(format!("PEM block `{label}` has no END line"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| format!("PEM block `{label}` is not valid base64"))?;
        out.push((label.to_string(), der));
    }
    Ok(out)
}
