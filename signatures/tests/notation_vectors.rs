//! notation-go's own signature envelopes (vendored under `tests/vectors/notation-go/`),
//! verified at each trust-policy level.

use base64::Engine as _;
use portcullis_signatures::{
    FailureReason, NotationConfig, NotationLevel, Policy, PolicyConfig, SignatureMaterial, Verdict,
    verify,
};
use std::path::{Path, PathBuf};

const SAMPLE_DIGEST: &str =
    "sha256:60043cf45eaebc4c0867fea485a039b598f52fd09fd5b07b0b2d2f88fad9d74e";
const ALPINE_DIGEST: &str =
    "sha256:19dbd2e48e921426ee8ace4dc892edfb2ecdc1d1a72d5416c83670c30acecef0";
const TS_DIGEST: &str = "sha256:c0669ef34cdc14332c0f1ab0c2c01acb91d96014b172f1a76f3a39e63d1f0bda";
const METADATA_DIGEST: &str =
    "sha256:5a07385af4e6b6af81b0ebfd435aedccdfa3507f0609c658209e1aba57159b2b";
/// 2026-12-01, a fixed "now" so that the expectations do not drift.
const NOW: i64 = 1_796_083_200;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/notation-go")
}

fn pem(rel: &str) -> String {
    let bytes = std::fs::read(vectors().join(rel)).expect(rel);
    if bytes.starts_with(b"-----BEGIN") {
        return String::from_utf8(bytes).expect("utf-8");
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// The leaf certificate of an envelope, as PEM (for self-signed test envelopes whose leaf
/// is not in the vendored trust store).
fn envelope_leaf(rel: &str) -> String {
    let bytes = std::fs::read(vectors().join(rel)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("JWS");
    let x5c = v["header"]["x5c"][0].as_str().unwrap();
    format!("-----BEGIN CERTIFICATE-----\n{x5c}\n-----END CERTIFICATE-----\n")
}

const CA_STORE: &[&str] = &[
    "verifier/testdata/truststore/x509/ca/valid-trust-store/GlobalSign.der",
    "verifier/testdata/truststore/x509/ca/valid-trust-store/GlobalSignRootCA.crt",
    "verifier/testdata/truststore/x509/ca/valid-trust-store/NotationTestRoot.pem",
    "verifier/testdata/truststore/x509/ca/valid-trust-store/TestTimestamp.crt",
    "verifier/testdata/truststore/x509/ca/valid-trust-store/TestTimestampNotYetValid.crt",
    "verifier/testdata/truststore/x509/ca/valid-trust-store/wabbit-networks.io.crt",
];

fn policy(level: NotationLevel, extra_ca: &[String], tsa: &[&str]) -> Policy {
    let mut trust_store: Vec<String> = CA_STORE.iter().map(|p| pem(p)).collect();
    trust_store.extend(extra_ca.iter().cloned());
    Policy::new(&PolicyConfig {
        notation: Some(NotationConfig {
            trust_store,
            signing_authority_store: vec![pem("verifier/testdata/truststore/x509/signingAuthority/valid-trust-store/NotationTestRoot.pem")],
            tsa_store: tsa.iter().map(|p| pem(p)).collect(),
            level,
            trusted_identities: Vec::new(),
        }),
        ..Default::default()
    })
    .expect("policy")
}

fn run(policy: &Policy, rel: &str, digest: &str) -> Verdict {
    let bytes = std::fs::read(vectors().join(rel)).expect(rel);
    let media_type = if bytes.first() == Some(&b'{') {
        "application/jose+json"
    } else {
        "application/cose"
    };
    let m = SignatureMaterial::Notation {
        media_type: media_type.into(),
        envelope: base64::engine::general_purpose::STANDARD.encode(bytes),
    };
    verify(policy, digest, None, &[m], NOW)
}

fn expect(v: &Verdict, ok: bool, reason: Option<FailureReason>, what: &str) {
    assert_eq!(v.verified, ok, "{what}: {v:?}");
    if let Some(r) = reason {
        assert_eq!(v.reason, Some(r), "{what}: {v:?}");
    }
}

const TSA: &[&str] = &["verifier/testdata/truststore/x509/tsa/test-timestamp/globalsignRoot.cer"];

#[test]
fn mock_envelopes_at_each_level() {
    use FailureReason::*;
    use NotationLevel::*;
    let mock = |f: &str| format!("internal/mock/testdata/{f}");
    for level in [Strict, Permissive, Audit] {
        let p = policy(level, &[], &[]);
        expect(
            &run(&p, &mock("ca_valid_sig_env.json"), SAMPLE_DIGEST),
            true,
            None,
            "ca valid",
        );
        expect(
            &run(&p, &mock("sa_valid_sig_env.json"), SAMPLE_DIGEST),
            true,
            None,
            "sa valid",
        );
        // The "invalid" envelopes carry a padded (`=`) payload: not base64url, as in notation-go.
        expect(
            &run(&p, &mock("ca_invalid_sig_env.json"), SAMPLE_DIGEST),
            false,
            Some(Malformed),
            "ca invalid",
        );
        expect(
            &run(&p, &mock("sa_invalid_sig_env.json"), SAMPLE_DIGEST),
            false,
            Some(Malformed),
            "sa invalid",
        );
        expect(
            &run(&p, &mock("ca_valid_sig_env.json"), TS_DIGEST),
            false,
            Some(DigestMismatch),
            "other digest",
        );
        expect(
            &run(&p, &mock("ca_plugin_sig_env.json"), SAMPLE_DIGEST),
            false,
            Some(Unsupported),
            "plugin",
        );
        // Expired signatures: enforced only at strict, logged below.
        let expired = run(&p, &mock("ca_expired_sig_env.json"), SAMPLE_DIGEST);
        let sa_expired = run(&p, &mock("sa_expired_sig_env.json"), SAMPLE_DIGEST);
        if level == Strict {
            expect(&expired, false, Some(SignatureExpired), "ca expired strict");
            expect(
                &sa_expired,
                false,
                Some(SignatureExpired),
                "sa expired strict",
            );
        } else {
            expect(&expired, true, None, "ca expired logged");
            assert_eq!(expired.signatures[0].logged[0].reason, SignatureExpired);
            expect(&sa_expired, true, None, "sa expired logged");
        }
        // Self-signed leaf (valid 2023-01-11..12) that is not in the trust store: authenticity
        // fails at strict and permissive; audit logs it and the expired certificate.
        let meta = run(&p, &mock("sig_env_with_metadata.json"), METADATA_DIGEST);
        if level == Audit {
            expect(&meta, true, None, "metadata audit");
            let logged: Vec<_> = meta.signatures[0].logged.iter().map(|f| f.reason).collect();
            assert_eq!(logged, vec![UntrustedChain, CertificateExpired]);
        } else {
            expect(&meta, false, Some(UntrustedChain), "metadata");
        }
    }
    // `skip` accepts without looking.
    expect(
        &run(
            &policy(Skip, &[], &[]),
            &mock("ca_invalid_sig_env.json"),
            SAMPLE_DIGEST,
        ),
        true,
        None,
        "skip",
    );
}

#[test]
fn untrusted_chain_is_enforced_at_permissive_logged_at_audit() {
    let p = Policy::new(&PolicyConfig {
        notation: Some(NotationConfig {
            trust_store: vec![pem(
                "verifier/testdata/truststore/x509/ca/valid-trust-store/wabbit-networks.io.crt",
            )],
            level: NotationLevel::Permissive,
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    let v = run(
        &p,
        "internal/mock/testdata/ca_valid_sig_env.json",
        SAMPLE_DIGEST,
    );
    expect(&v, false, Some(FailureReason::UntrustedChain), "permissive");
    let p = Policy::new(&PolicyConfig {
        notation: Some(NotationConfig {
            trust_store: vec![pem(
                "verifier/testdata/truststore/x509/ca/valid-trust-store/wabbit-networks.io.crt",
            )],
            level: NotationLevel::Audit,
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    let v = run(
        &p,
        "internal/mock/testdata/ca_valid_sig_env.json",
        SAMPLE_DIGEST,
    );
    expect(&v, true, None, "audit");
    assert_eq!(
        v.signatures[0].logged[0].reason,
        FailureReason::UntrustedChain
    );
}

#[test]
fn trusted_identities_match_the_leaf_subject() {
    let mk = |ids: Vec<&str>| {
        Policy::new(&PolicyConfig {
            notation: Some(NotationConfig {
                trust_store: CA_STORE.iter().map(|p| pem(p)).collect(),
                trusted_identities: ids.into_iter().map(String::from).collect(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap()
    };
    let f = "internal/mock/testdata/ca_valid_sig_env.json";
    expect(
        &run(
            &mk(vec!["x509.subject: CN=Notation Test Root, O=Notary"]),
            f,
            SAMPLE_DIGEST,
        ),
        true,
        None,
        "match",
    );
    let v = run(
        &mk(vec!["x509.subject: CN=someone else, O=Notary"]),
        f,
        SAMPLE_DIGEST,
    );
    expect(
        &v,
        false,
        Some(FailureReason::UntrustedIdentity),
        "no match",
    );
    assert!(
        Policy::new(&PolicyConfig {
            notation: Some(NotationConfig {
                trust_store: CA_STORE.iter().map(|p| pem(p)).collect(),
                trusted_identities: vec!["CN=missing prefix".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .is_err()
    );
}

#[test]
fn jws_and_cose_signature_files() {
    let jws = "internal/testdata/jws_signature.sig";
    let leaf = envelope_leaf(jws);
    let p = policy(NotationLevel::Strict, &[leaf], &[]);
    expect(&run(&p, jws, ALPINE_DIGEST), true, None, "jws");
    expect(
        &run(&p, "internal/testdata/cose_signature.sig", ALPINE_DIGEST),
        true,
        None,
        "cose",
    );
    // Without its certificate in the trust store.
    let p = policy(NotationLevel::Strict, &[], &[]);
    expect(
        &run(&p, jws, ALPINE_DIGEST),
        false,
        Some(FailureReason::UntrustedChain),
        "jws untrusted",
    );
}

#[test]
fn rfc3161_countersignatures() {
    use FailureReason::*;
    let ts = |f: &str| format!("verifier/testdata/timestamp/sigEnv/{f}");
    let expired_leaf = envelope_leaf(&ts("jwsExpiredWithTimestamp.sig"));
    let p = policy(
        NotationLevel::Strict,
        std::slice::from_ref(&expired_leaf),
        TSA,
    );
    for f in [
        "jwsWithTimestamp.sig",
        "coseWithTimestamp.sig",
        "withoutTimestamp.sig",
        "jwsExpiredWithTimestamp.sig",
        "coseExpiredWithTimestamp.sig",
    ] {
        let v = run(&p, &ts(f), TS_DIGEST);
        expect(&v, true, None, f);
    }
    // The expired leaf is accepted only because the TSA vouches for the signing time.
    let no_tsa = policy(NotationLevel::Strict, &[expired_leaf], &[]);
    expect(
        &run(&no_tsa, &ts("coseExpiredWithTimestamp.sig"), TS_DIGEST),
        false,
        Some(CertificateExpired),
        "no tsa store",
    );
    // A TSA store that does not hold the token's root.
    let wrong = policy(
        NotationLevel::Strict,
        &[envelope_leaf(&ts("jwsExpiredWithTimestamp.sig"))],
        &["verifier/testdata/truststore/x509/tsa/test-mismatch/DigiCertTSARootSHA384.cer"],
    );
    expect(
        &run(&wrong, &ts("jwsExpiredWithTimestamp.sig"), TS_DIGEST),
        false,
        Some(TimestampInvalid),
        "tsa mismatch",
    );
    // Timestamps outside the leaf's validity.
    let before = envelope_leaf(&ts("timestampBeforeNotBefore.sig"));
    let p = policy(NotationLevel::Strict, &[before], TSA);
    expect(
        &run(&p, &ts("timestampBeforeNotBefore.sig"), TS_DIGEST),
        false,
        Some(CertificateExpired),
        "before notBefore",
    );
}
