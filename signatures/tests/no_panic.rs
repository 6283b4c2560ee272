//! Property tests: random and mutated material never makes the verifier panic.

use base64::Engine as _;
use portcullis_signatures::{
    IdentityConfig, NotationConfig, Policy, PolicyConfig, SignatureMaterial, verify,
};
use proptest::prelude::*;
use serde_json::Value;
use std::sync::OnceLock;

const NOW: i64 = 1_767_225_600 + 86_400;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn fx() -> &'static Value {
    static F: OnceLock<Value> = OnceLock::new();
    F.get_or_init(|| {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fixtures.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    })
}

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let s = |v: &Value| v.as_str().unwrap().to_string();
        Policy::new(&PolicyConfig {
            keys: vec![s(&fx()["keys"]["p256"]), s(&fx()["keys"]["rsa"])],
            identities: vec![IdentityConfig {
                issuer: Some(s(&fx()["issuer"])),
                subject_regexp: Some(".*".into()),
                ..Default::default()
            }],
            trusted_root: Some(s(&fx()["trusted_root"])),
            notation: Some(NotationConfig {
                trust_store: vec![s(&fx()["notation"]["root"])],
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap()
    })
}

fn digest() -> String {
    fx()["digest"].as_str().unwrap().to_string()
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for (pos, val) in edits {
        if !bytes.is_empty() {
            let i = pos % bytes.len();
            bytes[i] = bytes[i].wrapping_add(*val | 1);
        }
    }
    if let Some(c) = cut
        && !bytes.is_empty()
    {
        bytes.truncate(c % bytes.len());
    }
    bytes
}

/// Mutates the bytes behind a base64 string field (DER certificates, signatures, bodies).
fn mutate_b64_field(v: &mut Value, edits: &[(usize, u8)], cut: Option<usize>) {
    if let Some(s) = v.as_str()
        && let Ok(raw) = B64.decode(s)
    {
        *v = Value::from(B64.encode(mutate(raw, edits, cut)));
    }
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_everywhere(data in proptest::collection::vec(any::<u8>(), 0..2048), media in 0usize..3) {
        let text = String::from_utf8_lossy(&data).to_string();
        let b64 = B64.encode(&data);
        let ms = vec![
            SignatureMaterial::SigstoreBundle { bundle: Value::from(text.clone()) },
            SignatureMaterial::Notation { media_type: ["application/jose+json", "application/cose", "x"][media].into(), envelope: b64.clone() },
            SignatureMaterial::Cosign { payload: b64.clone(), signature: b64.clone(), certificate: Some(text.clone()), chain: Some(text.clone()), rekor_bundle: Some(text) },
        ];
        let v = verify(policy(), &digest(), Some("x"), &ms, NOW);
        prop_assert!(!v.verified);
    }

    #[test]
    fn mutated_bundle_text(name in 0usize..4, e in edits(), cut in proptest::option::of(any::<usize>())) {
        let b = ["v0.1", "v0.2", "v0.3", "dsse"][name];
        let text = serde_json::to_vec(&fx()["bundles"][b]).unwrap();
        let text = String::from_utf8_lossy(&mutate(text, &e, cut)).to_string();
        let _ = verify(policy(), &digest(), None, &[SignatureMaterial::SigstoreBundle { bundle: Value::from(text) }], NOW);
    }

    #[test]
    fn mutated_bundle_fields(name in 0usize..4, field in 0usize..6, e in edits(), cut in proptest::option::of(any::<usize>())) {
        let b = ["v0.1", "v0.2", "v0.3", "dsse"][name];
        let mut v = fx()["bundles"][b].clone();
        let pointer = [
            "/verificationMaterial/certificate/rawBytes",
            "/verificationMaterial/x509CertificateChain/certificates/0/rawBytes",
            "/verificationMaterial/tlogEntries/0/canonicalizedBody",
            "/verificationMaterial/tlogEntries/0/inclusionPromise/signedEntryTimestamp",
            "/messageSignature/signature",
            "/dsseEnvelope/payload",
        ][field];
        if let Some(target) = v.pointer_mut(pointer) {
            mutate_b64_field(target, &e, cut);
        }
        let _ = verify(policy(), &digest(), None, &[SignatureMaterial::SigstoreBundle { bundle: v }], NOW);
    }

    #[test]
    fn mutated_notation_envelopes(cose in any::<bool>(), e in edits(), cut in proptest::option::of(any::<usize>())) {
        let (media, name) = if cose { ("application/cose", "cose") } else { ("application/jose+json", "jws") };
        let raw = B64.decode(fx()["notation"][name].as_str().unwrap()).unwrap();
        let envelope = B64.encode(mutate(raw, &e, cut));
        let _ = verify(policy(), &digest(), None, &[SignatureMaterial::Notation { media_type: media.into(), envelope }], NOW);
    }

    #[test]
    fn mutated_cosign_certificates(e in edits(), cut in proptest::option::of(any::<usize>())) {
        let k = &fx()["cosign_keyless"]["valid"];
        let pem = k["certificate"].as_str().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = mutate(B64.decode(body).unwrap(), &e, cut);
        let cert = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", B64.encode(der));
        let m = SignatureMaterial::Cosign {
            payload: k["payload"].as_str().unwrap().into(),
            signature: k["signature"].as_str().unwrap().into(),
            certificate: Some(cert),
            chain: Some(k["chain"].as_str().unwrap().into()),
            rekor_bundle: Some(k["rekor-bundle"].as_str().unwrap().into()),
        };
        let _ = verify(policy(), &digest(), None, &[m], NOW);
    }

    #[test]
    fn deeply_nested_json_is_refused_not_overflowed(depth in 100usize..3000) {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let v = verify(policy(), &digest(), None, &[SignatureMaterial::SigstoreBundle { bundle: Value::from(text) }], NOW);
        prop_assert!(!v.verified);
    }
}
