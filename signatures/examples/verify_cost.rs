//! What one verification costs, uncached, on the crate's own fixtures (material from an
//! independent signer): `cargo run --release -p portcullis-signatures --example verify_cost`.
//! The figures go in docs/benchmarks.md.

use std::time::{Duration, Instant};

use portcullis_signatures::{
    IdentityConfig, NotationConfig, Policy, PolicyConfig, SignatureMaterial, verify,
};
use serde_json::Value;

/// 2026-01-02: one day after the fixtures' certificates were issued.
const NOW: i64 = 1_767_225_600 + 86_400;

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_string()
}

/// Mean time of `run` over enough repetitions to last about half a second.
fn mean(run: &mut dyn FnMut() -> bool) -> Duration {
    assert!(run(), "the fixture must verify");
    let started = Instant::now();
    let mut count = 0u32;
    while started.elapsed() < Duration::from_millis(500) {
        std::hint::black_box(run());
        count += 1;
    }
    started.elapsed() / count
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fixtures.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let digest = text(&fx["digest"]);
    let keyless_config = PolicyConfig {
        identities: vec![IdentityConfig {
            issuer: Some(text(&fx["issuer"])),
            subject: Some(text(&fx["identity"])),
            ..Default::default()
        }],
        trusted_root: Some(text(&fx["trusted_root"])),
        ..Default::default()
    };
    let key_policy = Policy::new(&PolicyConfig {
        keys: vec![text(&fx["keys"]["p256"])],
        ..Default::default()
    })
    .unwrap();
    let keyless_policy = Policy::new(&keyless_config).unwrap();
    let notation_policy = Policy::new(&PolicyConfig {
        notation: Some(NotationConfig {
            trust_store: vec![text(&fx["notation"]["root"])],
            ..Default::default()
        }),
        ..Default::default()
    })
    .unwrap();
    let cosign_key = SignatureMaterial::Cosign {
        payload: text(&fx["cosign_key"]["payload"]),
        signature: text(&fx["cosign_key"]["signatures"]["p256"]),
        certificate: None,
        chain: None,
        rekor_bundle: None,
    };
    let keyless = &fx["cosign_keyless"]["valid"];
    let cosign_keyless = SignatureMaterial::Cosign {
        payload: text(&keyless["payload"]),
        signature: text(&keyless["signature"]),
        certificate: Some(text(&keyless["certificate"])),
        chain: Some(text(&keyless["chain"])),
        rekor_bundle: Some(text(&keyless["rekor-bundle"])),
    };
    let bundle = SignatureMaterial::SigstoreBundle {
        bundle: fx["bundles"]["v0.3"].clone(),
    };
    let notation = SignatureMaterial::Notation {
        media_type: "application/jose+json".to_string(),
        envelope: text(&fx["notation"]["jws"]),
    };
    let cases: [(&str, &Policy, &SignatureMaterial); 4] = [
        ("cosign, key-based (ECDSA P-256)", &key_policy, &cosign_key),
        (
            "cosign, keyless (chain, SCT, Rekor SET)",
            &keyless_policy,
            &cosign_keyless,
        ),
        (
            "Sigstore bundle v0.3 (keyless, inclusion proof)",
            &keyless_policy,
            &bundle,
        ),
        (
            "Notation JWS (chain to the trust store)",
            &notation_policy,
            &notation,
        ),
    ];
    println!("| material | one verification |");
    println!("|---|---|");
    for (name, policy, material) in cases {
        let materials = std::slice::from_ref(material);
        let time = mean(&mut || verify(policy, &digest, None, materials, NOW).verified);
        println!("| {name} | {:.1} µs |", time.as_secs_f64() * 1e6);
    }
    let compile = mean(&mut || Policy::new(&keyless_config).is_ok());
    println!(
        "| compiling a keyless policy (trusted root parsed once per rule) | {:.1} µs |",
        compile.as_secs_f64() * 1e6
    );
}
