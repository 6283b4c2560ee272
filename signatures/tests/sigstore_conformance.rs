//! Runs every case of sigstore-conformance `test/assets/bundle-verify` (vendored under
//! `tests/vectors/sigstore-conformance/`): a case named `*_fail` must be rejected, every
//! other case must verify. Identity, issuer, artifact and trusted root follow the suite's
//! `test/client.py` defaults.

use portcullis_signatures::{
    IdentityConfig, PRODUCTION_TRUSTED_ROOT, Policy, PolicyConfig, SignatureMaterial, verify,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Cases that cannot be decided offline, with the reason (none at the vendored commit).
const SKIPPED: &[(&str, &str)] = &[];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sigstore-conformance/bundle-verify")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `Ok(())` if verified, `Err(reason)` otherwise.
pub fn run_case(case: &Path) -> Result<(), String> {
    let read = |name: &str| std::fs::read_to_string(case.join(name)).ok();
    let bundle = read("bundle.sigstore.json").expect("bundle");
    let artifact = std::fs::read(case.join("artifact"))
        .unwrap_or_else(|_| std::fs::read(dir().join("a.txt")).expect("a.txt"));
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&artifact)));
    let mut config = PolicyConfig {
        trusted_root: Some(
            read("trusted_root.json").unwrap_or_else(|| PRODUCTION_TRUSTED_ROOT.to_string()),
        ),
        ..Default::default()
    };
    match read("key.pub") {
        Some(key) => config.keys.push(key),
        None => config.identities.push(IdentityConfig {
            issuer: Some(
                read("issuer")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|| DEFAULT_ISSUER.into()),
            ),
            subject: Some(
                read("identity")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|| DEFAULT_IDENTITY.into()),
            ),
            ..Default::default()
        }),
    }
    let policy = Policy::new(&config).map_err(|e| format!("policy: {e}"))?;
    let material = SignatureMaterial::SigstoreBundle {
        bundle: serde_json::Value::String(bundle),
    };
    let verdict = verify(&policy, &digest, None, &[material], now());
    if verdict.verified {
        Ok(())
    } else {
        let f = verdict.signatures[0].failure.clone().expect("failure");
        Err(format!("{:?}: {}", f.reason, f.detail))
    }
}

#[test]
fn every_conformance_case_agrees() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("vectors")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 70,
        "expected the 70 vendored cases, found {}",
        cases.len()
    );
    let (mut agree, mut disagree, mut skipped) = (0, Vec::new(), 0);
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        if let Some((_, why)) = SKIPPED.iter().find(|(n, _)| *n == name) {
            println!("SKIPPED {name}: {why}");
            skipped += 1;
            continue;
        }
        let expect_ok = !name.ends_with("_fail");
        let got = run_case(case);
        let status = match (&got, expect_ok) {
            (Ok(()), true) | (Err(_), false) => {
                agree += 1;
                "agree"
            }
            _ => {
                disagree.push(name.clone());
                "DISAGREE"
            }
        };
        println!(
            "{status:8} {name}: {}",
            got.err().unwrap_or_else(|| "verified".into())
        );
    }
    println!(
        "sigstore-conformance: {agree} agree, {} disagree, {skipped} skipped",
        disagree.len()
    );
    assert!(disagree.is_empty(), "cases that disagree: {disagree:?}");
}
