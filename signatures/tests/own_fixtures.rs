//! Positive and negative cases on material signed by an independent signer
//! (`tests/fixtures/gen_fixtures.py`, PyPI `cryptography`): every rejection must carry the
//! right reason.

use base64::Engine as _;
use portcullis_signatures::{
    FailureReason as R, IdentityConfig, NotationConfig, NotationLevel, Policy, PolicyConfig,
    PolicyError, SignatureMaterial, Verdict, verify,
};
use serde_json::Value;
use std::sync::OnceLock;

/// 2026-01-02: one day after the fixtures' certificates were issued.
const NOW: i64 = 1_767_225_600 + 86_400;

fn fx() -> &'static Value {
    static F: OnceLock<Value> = OnceLock::new();
    F.get_or_init(|| {
        let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fixtures.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    })
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

fn digest() -> String {
    s(&fx()["digest"])
}

fn key_policy(keys: &[&str]) -> Policy {
    Policy::new(&PolicyConfig {
        keys: keys.iter().map(|k| s(&fx()["keys"][*k])).collect(),
        ..Default::default()
    })
    .unwrap()
}

fn keyless_policy(issuer: &str, subject: &str) -> Policy {
    keyless_policy_root(issuer, subject, "trusted_root")
}

fn keyless_policy_root(issuer: &str, subject: &str, root: &str) -> Policy {
    Policy::new(&PolicyConfig {
        identities: vec![IdentityConfig {
            issuer: Some(issuer.into()),
            subject: Some(subject.into()),
            ..Default::default()
        }],
        trusted_root: Some(s(&fx()[root])),
        ..Default::default()
    })
    .unwrap()
}

fn default_keyless() -> Policy {
    keyless_policy(&s(&fx()["issuer"]), &s(&fx()["identity"]))
}

fn cosign(payload: &str, signature: &str) -> SignatureMaterial {
    SignatureMaterial::Cosign {
        payload: payload.into(),
        signature: signature.into(),
        certificate: None,
        chain: None,
        rekor_bundle: None,
    }
}

fn keyless(name: &str) -> SignatureMaterial {
    let v = &fx()["cosign_keyless"][name];
    SignatureMaterial::Cosign {
        payload: s(&v["payload"]),
        signature: s(&v["signature"]),
        certificate: Some(s(&v["certificate"])),
        chain: Some(s(&v["chain"])),
        rekor_bundle: Some(s(&v["rekor-bundle"])),
    }
}

fn bundle(name: &str) -> SignatureMaterial {
    SignatureMaterial::SigstoreBundle {
        bundle: fx()["bundles"][name].clone(),
    }
}

fn check(v: &Verdict, reason: Option<R>) {
    match reason {
        None => assert!(v.verified, "expected verified: {v:#?}"),
        Some(r) => {
            assert!(!v.verified, "expected rejection {r:?}: {v:#?}");
            assert_eq!(v.reason, Some(r), "{v:#?}");
        }
    }
}

fn sig(name: &str) -> String {
    s(&fx()["cosign_key"]["signatures"][name])
}

fn payload() -> String {
    s(&fx()["cosign_key"]["payload"])
}

#[test]
fn cosign_key_based_every_key_type() {
    for (key, signature) in [
        ("p256", "p256"),
        ("p384", "p384"),
        ("rsa", "rsa_pkcs1v15"),
        ("rsa", "rsa_pss"),
        ("rsa_pkcs1", "rsa_pkcs1v15"),
        ("ed25519", "ed25519"),
    ] {
        let v = verify(
            &key_policy(&[key]),
            &digest(),
            None,
            &[cosign(&payload(), &sig(signature))],
            NOW,
        );
        check(&v, None);
        let fp = v.signatures[0]
            .signer
            .as_ref()
            .unwrap()
            .key_fingerprint
            .clone()
            .unwrap();
        let want = s(&fx()["key_fingerprints"][if key == "rsa_pkcs1" { "rsa" } else { key }]);
        assert_eq!(fp, want, "{key}/{signature}");
    }
}

#[test]
fn cosign_key_based_rejections() {
    let p = key_policy(&["p256"]);
    let d = digest();
    // Signed by another key.
    let v = verify(&p, &d, None, &[cosign(&payload(), &sig("wrong"))], NOW);
    check(&v, Some(R::UntrustedKey));
    assert!(
        v.signatures[0]
            .failure
            .as_ref()
            .unwrap()
            .detail
            .contains("sha256:")
    );
    // Tampered payload (one byte of the JSON changed).
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(payload())
        .unwrap();
    let pos = bytes.iter().position(|b| *b == b'c').unwrap();
    bytes[pos] = b'C';
    let tampered = base64::engine::general_purpose::STANDARD.encode(&bytes);
    check(
        &verify(&p, &d, None, &[cosign(&tampered, &sig("p256"))], NOW),
        Some(R::UntrustedKey),
    );
    // A valid signature for another image digest.
    let other = cosign(
        &s(&fx()["cosign_key"]["other_digest_payload"]),
        &s(&fx()["cosign_key"]["other_digest_signature"]),
    );
    check(
        &verify(&p, &d, None, &[other], NOW),
        Some(R::DigestMismatch),
    );
    // Garbage.
    check(
        &verify(&p, &d, None, &[cosign("!!!not base64", &sig("p256"))], NOW),
        Some(R::Malformed),
    );
    check(
        &verify(&p, &d, None, &[cosign(&payload(), "%%%")], NOW),
        Some(R::Malformed),
    );
    let not_json = base64::engine::general_purpose::STANDARD.encode(b"not json");
    check(
        &verify(&p, &d, None, &[cosign(&not_json, &sig("p256"))], NOW),
        Some(R::UntrustedKey),
    );
    // No material at all.
    check(&verify(&p, &d, None, &[], NOW), Some(R::NoSignature));
    // Oversized payload.
    let huge = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 600 * 1024]);
    check(
        &verify(&p, &d, None, &[cosign(&huge, &sig("p256"))], NOW),
        Some(R::TooLarge),
    );
    // Too many signatures: the first 64 are examined, the rest reported.
    let many: Vec<_> = (0..70).map(|_| cosign(&payload(), &sig("wrong"))).collect();
    let v = verify(&p, &d, None, &many, NOW);
    assert_eq!(v.signatures.len(), 70);
    assert_eq!(
        v.signatures[69].failure.as_ref().unwrap().reason,
        R::TooLarge
    );
}

#[test]
fn cosign_docker_reference() {
    let d = digest();
    let repo = s(&fx()["repository"]);
    let with_ref = |r: &str, admitted: bool| {
        Policy::new(&PolicyConfig {
            keys: vec![s(&fx()["keys"]["p256"])],
            docker_reference: (!r.is_empty()).then(|| r.to_string()),
            match_admitted_reference: admitted,
            ..Default::default()
        })
        .unwrap()
    };
    let m = cosign(&payload(), &sig("p256"));
    check(
        &verify(
            &with_ref(&repo, false),
            &d,
            None,
            std::slice::from_ref(&m),
            NOW,
        ),
        None,
    );
    check(
        &verify(
            &with_ref("registry.example.com/other", false),
            &d,
            None,
            std::slice::from_ref(&m),
            NOW,
        ),
        Some(R::ReferenceMismatch),
    );
    check(
        &verify(
            &with_ref("", true),
            &d,
            Some(&format!("{repo}:1.0")),
            std::slice::from_ref(&m),
            NOW,
        ),
        None,
    );
    check(
        &verify(
            &with_ref("", true),
            &d,
            Some("docker.io/library/nginx:1"),
            std::slice::from_ref(&m),
            NOW,
        ),
        Some(R::ReferenceMismatch),
    );
    // containers/image writes `repo:tag` into the payload: compared without the tag.
    let tagged = cosign(
        &s(&fx()["cosign_key"]["tag_reference_payload"]),
        &s(&fx()["cosign_key"]["tag_reference_signature"]),
    );
    check(
        &verify(&with_ref(&repo, false), &d, None, &[tagged], NOW),
        None,
    );
}

#[test]
fn cosign_keyless() {
    let d = digest();
    let p = default_keyless();
    let v = verify(&p, &d, None, &[keyless("valid")], NOW);
    check(&v, None);
    let signer = v.signatures[0].signer.clone().unwrap();
    assert_eq!(
        signer.subject.as_deref(),
        Some(s(&fx()["identity"]).as_str())
    );
    assert_eq!(signer.issuer.as_deref(), Some(s(&fx()["issuer"]).as_str()));
    assert_eq!(signer.signing_time, Some(1_767_225_660));
    // Email SAN + legacy issuer extension (1.3.6.1.4.1.57264.1.1).
    let google = keyless_policy("https://accounts.google.com", &s(&fx()["email"]));
    check(
        &verify(&google, &d, None, &[keyless("email_legacy_issuer")], NOW),
        None,
    );
    // Regular expression identity.
    let re = Policy::new(&PolicyConfig {
        identities: vec![IdentityConfig {
            issuer: Some(s(&fx()["issuer"])),
            subject_regexp: Some(r"https://github\.com/example/.*".into()),
            ..Default::default()
        }],
        trusted_root: Some(s(&fx()["trusted_root"])),
        ..Default::default()
    })
    .unwrap();
    check(&verify(&re, &d, None, &[keyless("valid")], NOW), None);
    // Wrong SAN, wrong issuer: the failure names what was found.
    let v = verify(
        &keyless_policy(&s(&fx()["issuer"]), "https://github.com/evil/app"),
        &d,
        None,
        &[keyless("valid")],
        NOW,
    );
    check(&v, Some(R::UntrustedIdentity));
    assert!(
        v.signatures[0]
            .failure
            .as_ref()
            .unwrap()
            .detail
            .contains("github.com/example/app")
    );
    let v = verify(
        &keyless_policy("https://accounts.google.com", &s(&fx()["identity"])),
        &d,
        None,
        &[keyless("valid")],
        NOW,
    );
    check(&v, Some(R::UntrustedIdentity));
    assert!(
        v.signatures[0]
            .failure
            .as_ref()
            .unwrap()
            .detail
            .contains("token.actions.githubusercontent.com")
    );
    // Logged after the 10-minute certificate expired.
    check(
        &verify(&p, &d, None, &[keyless("signed_after_expiry")], NOW),
        Some(R::CertificateExpired),
    );
    // Certificate from a CA the trusted root does not hold.
    let other = keyless_policy_root(
        &s(&fx()["issuer"]),
        &s(&fx()["identity"]),
        "trusted_root_other_ca",
    );
    check(
        &verify(&other, &d, None, &[keyless("valid")], NOW),
        Some(R::UntrustedChain),
    );
    // No SCT, or a certificate not for code signing.
    check(
        &verify(&p, &d, None, &[keyless("no_sct")], NOW),
        Some(R::UntrustedChain),
    );
    check(
        &verify(&p, &d, None, &[keyless("server_auth_eku")], NOW),
        Some(R::UntrustedChain),
    );
    // Another image.
    check(
        &verify(
            &p,
            &s(&fx()["other_digest"]),
            None,
            &[keyless("valid")],
            NOW,
        ),
        Some(R::DigestMismatch),
    );
}

#[test]
fn cosign_keyless_log_proofs() {
    let d = digest();
    let p = default_keyless();
    let SignatureMaterial::Cosign {
        payload,
        signature,
        certificate,
        chain,
        rekor_bundle,
    } = keyless("valid")
    else {
        unreachable!()
    };
    let with_bundle = |b: Option<String>| SignatureMaterial::Cosign {
        payload: payload.clone(),
        signature: signature.clone(),
        certificate: certificate.clone(),
        chain: chain.clone(),
        rekor_bundle: b,
    };
    // Missing bundle: no verified time.
    check(
        &verify(&p, &d, None, &[with_bundle(None)], NOW),
        Some(R::TlogInvalid),
    );
    // SET over other data.
    let mut b: Value = serde_json::from_str(rekor_bundle.as_deref().unwrap()).unwrap();
    b["Payload"]["integratedTime"] = Value::from(1_767_225_700);
    check(
        &verify(&p, &d, None, &[with_bundle(Some(b.to_string()))], NOW),
        Some(R::TlogInvalid),
    );
    // Corrupted SET.
    let mut b: Value = serde_json::from_str(rekor_bundle.as_deref().unwrap()).unwrap();
    let set = s(&b["SignedEntryTimestamp"]);
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(set)
        .unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 1;
    b["SignedEntryTimestamp"] = Value::from(base64::engine::general_purpose::STANDARD.encode(raw));
    check(
        &verify(&p, &d, None, &[with_bundle(Some(b.to_string()))], NOW),
        Some(R::TlogInvalid),
    );
    // The logged entry is for another signature.
    let other = keyless("email_legacy_issuer");
    let SignatureMaterial::Cosign {
        rekor_bundle: other_rb,
        ..
    } = other
    else {
        unreachable!()
    };
    check(
        &verify(&p, &d, None, &[with_bundle(other_rb)], NOW),
        Some(R::TlogInvalid),
    );
    // Garbage bundle JSON.
    check(
        &verify(&p, &d, None, &[with_bundle(Some("{".into()))], NOW),
        Some(R::Malformed),
    );
    // Integrated time in the future of `now`.
    check(
        &verify(
            &p,
            &d,
            None,
            &[with_bundle(rekor_bundle.clone())],
            1_767_225_000,
        ),
        Some(R::TlogInvalid),
    );
}

#[test]
fn sigstore_bundles() {
    let d = digest();
    let p = default_keyless();
    for name in ["v0.1", "v0.2", "v0.3", "dsse"] {
        check(&verify(&p, &d, None, &[bundle(name)], NOW), None);
    }
    // A v0.2 bundle needs an inclusion proof with a checkpoint.
    check(
        &verify(&p, &d, None, &[bundle("v0.2_no_proof")], NOW),
        Some(R::TlogInvalid),
    );
    // An inclusion proof alone does not authenticate the integrated time.
    check(
        &verify(&p, &d, None, &[bundle("v0.3_proof_only")], NOW),
        Some(R::TlogInvalid),
    );
    check(
        &verify(&p, &d, None, &[bundle("other_digest")], NOW),
        Some(R::DigestMismatch),
    );
    check(
        &verify(&p, &d, None, &[bundle("dsse_other_digest")], NOW),
        Some(R::DigestMismatch),
    );
    check(
        &verify(&p, &d, None, &[bundle("signed_after_expiry")], NOW),
        Some(R::CertificateExpired),
    );
    // Flip one proof hash / the checkpoint signature.
    let mut b = fx()["bundles"]["v0.3"].clone();
    let h = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["hashes"][0];
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(s(h))
        .unwrap();
    raw[0] ^= 0x80;
    *h = Value::from(base64::engine::general_purpose::STANDARD.encode(raw));
    check(
        &verify(
            &p,
            &d,
            None,
            &[SignatureMaterial::SigstoreBundle { bundle: b }],
            NOW,
        ),
        Some(R::TlogInvalid),
    );
    let mut b = fx()["bundles"]["v0.3"].clone();
    let cp = &mut b["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"];
    *cp = Value::from(s(cp).replace("\n7\n", "\n8\n"));
    check(
        &verify(
            &p,
            &d,
            None,
            &[SignatureMaterial::SigstoreBundle { bundle: b }],
            NOW,
        ),
        Some(R::TlogInvalid),
    );
    // Tampered signature.
    let mut b = fx()["bundles"]["v0.3"].clone();
    let sg = &mut b["messageSignature"]["signature"];
    let mut raw = base64::engine::general_purpose::STANDARD
        .decode(s(sg))
        .unwrap();
    let n = raw.len() - 2;
    raw[n] ^= 1;
    *sg = Value::from(base64::engine::general_purpose::STANDARD.encode(raw));
    check(
        &verify(
            &p,
            &d,
            None,
            &[SignatureMaterial::SigstoreBundle { bundle: b }],
            NOW,
        ),
        Some(R::BadSignature),
    );
    // Garbage JSON text, and a JSON value that is no bundle.
    check(
        &verify(
            &p,
            &d,
            None,
            &[SignatureMaterial::SigstoreBundle {
                bundle: Value::from("{\"mediaType\": 1"),
            }],
            NOW,
        ),
        Some(R::Malformed),
    );
    check(
        &verify(
            &p,
            &d,
            None,
            &[SignatureMaterial::SigstoreBundle {
                bundle: Value::from(42),
            }],
            NOW,
        ),
        Some(R::Malformed),
    );
    // Oversized bundle.
    let huge = Value::from("x".repeat(600 * 1024));
    check(
        &verify(
            &p,
            &d,
            None,
            &[SignatureMaterial::SigstoreBundle { bundle: huge }],
            NOW,
        ),
        Some(R::TooLarge),
    );
    // One good signature among bad ones is enough, and the verdict keeps every result.
    let v = verify(&p, &d, None, &[bundle("other_digest"), bundle("v0.3")], NOW);
    check(&v, None);
    assert!(!v.signatures[0].verified && v.signatures[1].verified);
}

fn notation_policy(level: NotationLevel) -> Policy {
    Policy::new(&PolicyConfig {
        notation: Some(NotationConfig {
            trust_store: vec![s(&fx()["notation"]["root"])],
            level,
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap()
}

fn notation(media: &str, name: &str) -> SignatureMaterial {
    SignatureMaterial::Notation {
        media_type: media.into(),
        envelope: s(&fx()["notation"][name]),
    }
}

#[test]
fn notation_es256_jws_and_cose() {
    let d = digest();
    let p = notation_policy(NotationLevel::Strict);
    check(
        &verify(
            &p,
            &d,
            None,
            &[notation("application/jose+json", "jws")],
            NOW,
        ),
        None,
    );
    check(
        &verify(&p, &d, None, &[notation("application/cose", "cose")], NOW),
        None,
    );
    check(
        &verify(
            &p,
            &s(&fx()["other_digest"]),
            None,
            &[notation("application/cose", "cose")],
            NOW,
        ),
        Some(R::DigestMismatch),
    );
    // Expired 2026-01-03, checked on 2026-01-10.
    let later = NOW + 8 * 86_400;
    check(
        &verify(
            &p,
            &d,
            None,
            &[notation("application/jose+json", "jws_expired")],
            later,
        ),
        Some(R::SignatureExpired),
    );
    check(
        &verify(
            &notation_policy(NotationLevel::Permissive),
            &d,
            None,
            &[notation("application/jose+json", "jws_expired")],
            later,
        ),
        None,
    );
    check(
        &verify(
            &p,
            &d,
            None,
            &[notation("application/jose+json", "jws_unknown_crit")],
            NOW,
        ),
        Some(R::Unsupported),
    );
    check(
        &verify(
            &p,
            &d,
            None,
            &[notation("application/jose+json", "jws_wrong_alg")],
            NOW,
        ),
        Some(R::Malformed),
    );
    check(
        &verify(&p, &d, None, &[notation("application/cose", "jws")], NOW),
        Some(R::Malformed),
    );
    check(
        &verify(&p, &d, None, &[notation("text/plain", "jws")], NOW),
        Some(R::Unsupported),
    );
    // A key-only policy does not trust Notation signatures.
    check(
        &verify(
            &key_policy(&["p256"]),
            &d,
            None,
            &[notation("application/cose", "cose")],
            NOW,
        ),
        Some(R::UntrustedKey),
    );
}

#[test]
fn policy_errors_name_the_field() {
    let err = Policy::new(&PolicyConfig {
        keys: vec![
            s(&fx()["keys"]["p256"]),
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
        ],
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(err, PolicyError::Key { index: 1, .. }), "{err}");
    assert!(err.to_string().starts_with("`keys[1]`"));
    let err = Policy::new(&PolicyConfig {
        identities: vec![IdentityConfig {
            issuer: Some("x".into()),
            subject_regexp: Some("(".into()),
            ..Default::default()
        }],
        trusted_root: Some(s(&fx()["trusted_root"])),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        matches!(err, PolicyError::Identity { index: 0, .. }),
        "{err}"
    );
    let no_root = Policy::new(&PolicyConfig {
        identities: vec![IdentityConfig {
            issuer: Some("x".into()),
            subject: Some("y".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert_eq!(no_root.unwrap_err(), PolicyError::MissingTrustedRoot);
    assert!(matches!(
        Policy::new(&PolicyConfig {
            keys: vec![s(&fx()["keys"]["p256"])],
            trusted_root: Some("{}".into()),
            ..Default::default()
        }),
        Err(PolicyError::TrustedRoot(_))
    ));
    assert_eq!(
        Policy::new(&PolicyConfig::default()).unwrap_err(),
        PolicyError::Empty
    );
    // Settings come from YAML/JSON: unknown keys are rejected.
    let bad: Result<PolicyConfig, _> = serde_json::from_str(r#"{"keyz": []}"#);
    assert!(bad.is_err());
}

#[test]
fn material_and_verdict_round_trip_through_json() {
    let m = keyless("valid");
    let text = serde_json::to_string(&m).unwrap();
    assert!(text.contains("\"kind\":\"cosign\"") && text.contains("\"rekor-bundle\""));
    let back: SignatureMaterial = serde_json::from_str(&text).unwrap();
    assert_eq!(back, m);
    let v = verify(
        &default_keyless(),
        &digest(),
        None,
        &[m, cosign("x", "y")],
        NOW,
    );
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(j["verified"], Value::Bool(true));
    assert_eq!(
        j["signatures"][1]["failure"]["reason"],
        Value::from("malformed")
    );
}

#[test]
fn policy_from_yaml_settings() {
    let yaml = format!(
        "keys:\n  - |\n{}\nidentities:\n  - issuer: {}\n    subject-regexp: 'https://github\\.com/example/.*'\nnotation:\n  level: permissive\n  trust-store:\n    - |\n{}\n",
        indent(&s(&fx()["keys"]["p256"])),
        s(&fx()["issuer"]),
        indent(&s(&fx()["notation"]["root"])),
    );
    let mut config: PolicyConfig = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(
        config.notation.as_ref().unwrap().level,
        NotationLevel::Permissive
    );
    assert_eq!(
        Policy::new(&config).unwrap_err(),
        PolicyError::MissingTrustedRoot
    );
    config.trusted_root = Some(s(&fx()["trusted_root"]));
    let p = Policy::new(&config).unwrap();
    check(&verify(&p, &digest(), None, &[keyless("valid")], NOW), None);
    check(
        &verify(
            &p,
            &digest(),
            None,
            &[cosign(&payload(), &sig("p256"))],
            NOW,
        ),
        None,
    );
    check(
        &verify(
            &p,
            &digest(),
            None,
            &[notation("application/cose", "cose")],
            NOW,
        ),
        None,
    );
    let bad: Result<PolicyConfig, _> = serde_yaml::from_str("notation: {level: lenient}");
    assert!(bad.is_err());
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("      {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn policy_and_verdict_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + 'static>() {}
    shared::<Policy>();
    shared::<Verdict>();
    shared::<SignatureMaterial>();
}

/// A key-only policy and an image that also carries keyless and Notation signatures: the
/// verdict is about keys ("another key signed it"), not "no trusted root is configured".
#[test]
fn signatures_of_kinds_the_policy_does_not_trust_tell_least() {
    let d = digest();
    let materials = [
        bundle("v0.3"),
        notation("application/jose+json", "jws"),
        cosign(&payload(), &sig("wrong")),
        keyless("valid"),
    ];
    let v = verify(&key_policy(&["p256"]), &d, None, &materials, NOW);
    check(&v, Some(R::UntrustedKey));
    assert!(!v.signatures[2].failure.as_ref().unwrap().unconfigured);
    assert!(v.signatures[0].failure.as_ref().unwrap().unconfigured);
    assert!(v.signatures[1].failure.as_ref().unwrap().unconfigured);
}
