//! Shared by the sigstore-conformance and sigstore-python oracle tests.
#![allow(dead_code)]

use portcullis_signatures::{
    IdentityConfig, PRODUCTION_TRUSTED_ROOT, Policy, PolicyConfig, SignatureMaterial, verify,
};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Cases that cannot be decided offline, with the reason (none at the vendored commit).
pub const SKIPPED: &[(&str, &str)] = &[];

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/sigstore-conformance/bundle-verify")
}

pub fn now() -> i64 {
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
