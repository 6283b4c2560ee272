//! RFC 3161 timestamp tokens (CMS SignedData over a TSTInfo), verified against trusted
//! timestamp-authority certificates.

use crate::der::{self, Reader, Tlv, tag};
use crate::keys::{HashAlg, Scheme};
use crate::x509::{self, Certificate};

const OID_SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
const OID_TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
const OID_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
const OID_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
/// Largest token accepted.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// A parsed (not yet verified) timestamp token.
pub struct Token {
    pub gen_time: i64,
    imprint_hash: HashAlg,
    imprint: Vec<u8>,
    econtent: Vec<u8>,
    certs: Vec<Certificate>,
    sid_issuer_serial: Option<(Vec<u8>, Vec<u8>)>,
    sid_ski: Option<Vec<u8>>,
    digest_alg: HashAlg,
    signed_attrs: Option<Vec<u8>>,
    sig_alg: Vec<u8>,
    signature: Vec<u8>,
}

fn alg_hash(alg: &Tlv<'_>) -> Option<HashAlg> {
    let oid = der::oid_string(der::children(alg).expect(tag::OID)?.content)?;
    HashAlg::from_oid(&oid)
}

/// Parses a `TimeStampResp` or a bare `TimeStampToken` (ContentInfo).
pub fn parse(bytes: &[u8]) -> Result<Token, String> {
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err("timestamp is too large".into());
    }
    let outer = Reader::single(bytes, tag::SEQUENCE).ok_or("timestamp is not DER")?;
    let mut r = der::children(&outer);
    let first = r.read().ok_or("empty timestamp")?;
    let content_info = if first.tag == tag::SEQUENCE {
        // TimeStampResp: PKIStatusInfo then the token.
        let status = der::children(&first)
            .expect(tag::INTEGER)
            .and_then(|s| der::small_uint(&s));
        if !matches!(status, Some(0) | Some(1)) {
            return Err("timestamp response status is not granted".into());
        }
        r.expect(tag::SEQUENCE)
            .ok_or("timestamp response has no token")?
    } else {
        outer
    };
    let mut ci = der::children(&content_info);
    let ct = ci
        .expect(tag::OID)
        .and_then(|o| der::oid_string(o.content))
        .ok_or("bad ContentInfo")?;
    if ct != OID_SIGNED_DATA {
        return Err(format!("timestamp content type is `{ct}`, not signedData"));
    }
    let sd_wrap = ci.expect(0xa0).ok_or("missing SignedData")?;
    let sd = Reader::single(sd_wrap.content, tag::SEQUENCE).ok_or("bad SignedData")?;
    let mut s = der::children(&sd);
    s.expect(tag::INTEGER).ok_or("bad SignedData version")?;
    s.expect(tag::SET).ok_or("bad digestAlgorithms")?;
    let encap = s.expect(tag::SEQUENCE).ok_or("bad encapContentInfo")?;
    let mut e = der::children(&encap);
    let ect = e
        .expect(tag::OID)
        .and_then(|o| der::oid_string(o.content))
        .ok_or("bad eContentType")?;
    if ect != OID_TST_INFO {
        return Err(format!(
            "unexpected content type `{ect}`, expected id-ct-TSTInfo"
        ));
    }
    let econtent_wrap = e.expect(0xa0).ok_or("missing eContent")?;
    let econtent = Reader::single(econtent_wrap.content, tag::OCTET_STRING)
        .ok_or("bad eContent")?
        .content;
    let mut certs = Vec::new();
    if let Some(c) = s.optional(0xa0) {
        let mut cr = der::children(&c);
        while let Some(cert) = cr.read() {
            if cert.tag != tag::SEQUENCE {
                continue; // other certificate choices are ignored
            }
            if certs.len() >= x509::MAX_CHAIN_DEPTH {
                return Err("too many certificates in timestamp".into());
            }
            certs.push(x509::from_tlv(&cert)?);
        }
    }
    let _ = s.optional(0xa1);
    let signer_infos = s.expect(tag::SET).ok_or("missing signerInfos")?;
    let mut si_r = der::children(&signer_infos);
    let si = si_r.expect(tag::SEQUENCE).ok_or("no signerInfo")?;
    if !si_r.is_empty() {
        return Err("timestamp has more than one signer".into());
    }
    let mut si = der::children(&si);
    si.expect(tag::INTEGER).ok_or("bad signerInfo version")?;
    let sid = si.read().ok_or("missing signer identifier")?;
    let (sid_issuer_serial, sid_ski) = match sid.tag {
        tag::SEQUENCE => {
            let mut ir = der::children(&sid);
            let issuer = ir.expect(tag::SEQUENCE).ok_or("bad signer issuer")?;
            let serial = ir.expect(tag::INTEGER).ok_or("bad signer serial")?;
            (Some((issuer.raw.to_vec(), serial.content.to_vec())), None)
        }
        0x80 => (None, Some(sid.content.to_vec())),
        _ => return Err("bad signer identifier".into()),
    };
    let digest_alg = si
        .expect(tag::SEQUENCE)
        .as_ref()
        .and_then(alg_hash)
        .ok_or("unsupported digest algorithm")?;
    let signed_attrs = si.optional(0xa0);
    let sig_alg = si
        .expect(tag::SEQUENCE)
        .ok_or("missing signature algorithm")?;
    let signature = si.expect(tag::OCTET_STRING).ok_or("missing signature")?;

    // TSTInfo
    let tst = Reader::single(econtent, tag::SEQUENCE).ok_or("cannot parse TSTInfo")?;
    let mut t = der::children(&tst);
    t.expect(tag::INTEGER).ok_or("bad TSTInfo version")?;
    t.expect(tag::OID).ok_or("bad TSTInfo policy")?;
    let mi = t.expect(tag::SEQUENCE).ok_or("bad messageImprint")?;
    let mut mr = der::children(&mi);
    let imprint_hash = mr
        .expect(tag::SEQUENCE)
        .as_ref()
        .and_then(alg_hash)
        .ok_or("unsupported imprint hash")?;
    let imprint = mr
        .expect(tag::OCTET_STRING)
        .ok_or("bad imprint")?
        .content
        .to_vec();
    t.expect(tag::INTEGER).ok_or("bad TSTInfo serial")?;
    let gen_time = t
        .expect(tag::GENERALIZED_TIME)
        .and_then(|g| der::time(&g))
        .ok_or("bad genTime")?;

    let signed_attrs = match signed_attrs {
        Some(a) => {
            // The signature covers the attributes re-tagged as a SET OF.
            let mut set = a.raw.to_vec();
            set[0] = tag::SET;
            Some(set)
        }
        None => None,
    };
    Ok(Token {
        gen_time,
        imprint_hash,
        imprint,
        econtent: econtent.to_vec(),
        certs,
        sid_issuer_serial,
        sid_ski,
        digest_alg,
        signed_attrs,
        sig_alg: sig_alg.raw.to_vec(),
        signature: signature.content.to_vec(),
    })
}

impl Token {
    /// Checks that the token timestamps `data` (message imprint).
    pub fn covers(&self, data: &[u8]) -> bool {
        self.imprint_hash.digest(data) == self.imprint
    }

    fn matches_signer(&self, c: &Certificate) -> bool {
        if let Some((issuer, serial)) = &self.sid_issuer_serial {
            return &c.issuer == issuer && &c.serial == serial;
        }
        if let Some(ski) = &self.sid_ski
            && let Some(ext) = c.extension("2.5.29.14")
        {
            return Reader::single(&ext.value, tag::OCTET_STRING)
                .is_some_and(|o| o.content == ski.as_slice());
        }
        false
    }

    fn signature_ok(&self, signer: &Certificate) -> Result<(), String> {
        let signed: &[u8] = match &self.signed_attrs {
            Some(attrs) => {
                // contentType must be TSTInfo and messageDigest must match the eContent.
                let set = Reader::single(attrs, tag::SET).ok_or("bad signed attributes")?;
                let mut r = der::children(&set);
                let (mut ct_ok, mut md_ok) = (false, false);
                while let Some(attr) = r.read() {
                    let mut a = der::children(&attr);
                    let oid = a
                        .expect(tag::OID)
                        .and_then(|o| der::oid_string(o.content))
                        .unwrap_or_default();
                    let vals = a.expect(tag::SET).ok_or("bad attribute")?;
                    let first = der::children(&vals).read().ok_or("empty attribute")?;
                    if oid == OID_CONTENT_TYPE {
                        ct_ok = der::oid_string(first.content).as_deref() == Some(OID_TST_INFO);
                    } else if oid == OID_MESSAGE_DIGEST {
                        md_ok = first.tag == tag::OCTET_STRING
                            && first.content == self.digest_alg.digest(&self.econtent).as_slice();
                    }
                }
                if !ct_ok || !md_ok {
                    return Err("timestamp signed attributes do not match the TSTInfo".into());
                }
                attrs
            }
            None => &self.econtent,
        };
        let seq = Reader::single(&self.sig_alg, tag::SEQUENCE).ok_or("bad signature algorithm")?;
        let oid = der::children(&seq)
            .expect(tag::OID)
            .and_then(|o| der::oid_string(o.content))
            .unwrap_or_default();
        let scheme = match oid.as_str() {
            "1.2.840.113549.1.1.1" => Scheme::RsaPkcs1(self.digest_alg),
            "1.2.840.10045.2.1" => Scheme::EcdsaDer(self.digest_alg),
            _ => Scheme::from_algorithm_identifier(&self.sig_alg)
                .ok_or("unsupported timestamp signature algorithm")?,
        };
        if signer.key.verify(scheme, signed, &self.signature) {
            Ok(())
        } else {
            Err("timestamp signature does not verify".into())
        }
    }

    /// Verifies the token's signature and its signer's chain to one of `anchors` at the
    /// token's time. `extra` are untrusted candidate certificates (e.g. a TSA chain from a
    /// trusted root whose leaf is not embedded in the token).
    pub fn verify(&self, anchors: &[Certificate], extra: &[Certificate]) -> Result<i64, String> {
        let mut pool: Vec<Certificate> = self.certs.clone();
        pool.extend(extra.iter().cloned());
        let signer = pool
            .iter()
            .find(|c| self.matches_signer(c))
            .ok_or("signing certificate not found for the timestamp")?;
        self.signature_ok(signer)?;
        if !signer.has_eku(x509::EKU_TIME_STAMPING) {
            return Err("timestamp signer lacks the timeStamping extended key usage".into());
        }
        x509::build_path(signer, &pool, anchors, Some(self.gen_time)).map_err(|e| match e {
            x509::ChainError::Expired(m) => {
                format!("timestamp authority certificate not valid at the timestamp: {m}")
            }
            x509::ChainError::Untrusted(m) | x509::ChainError::Invalid(m) => {
                format!("untrusted timestamp authority: {m}")
            }
        })?;
        Ok(self.gen_time)
    }
}
