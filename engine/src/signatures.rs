//! Signature verification as part of evaluation. A rule compiles a trust policy once
//! ([`Trust::compile`], the rule API's `signature_trust`) and asks for the verdict on the
//! signature material the facts hold for an image ([`Trust::verdict`], `signature_verdict`).
//! `portcullis-signatures` decides, in pure Rust and offline, so the CLI, the WebAssembly
//! modules and the admission server decide alike. Verdicts are cached per trust policy,
//! facts index and image: many containers run the same few images.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use portcullis_signatures::{FailureReason, PolicyConfig, SignatureResult, Signer};
use serde_json::Value;

use crate::facts::{FoundSignature, ImageFacts};
use crate::image::ImageRef;

/// The `trusted-root` value that selects the Sigstore public-good trusted root bundled with
/// Portcullis (a snapshot: see [`portcullis_signatures::PRODUCTION_TRUSTED_ROOT`]).
pub(crate) const PUBLIC_GOOD: &str = "public-good";

/// The verification time when the host has no clock (the OPA module without `now` in its
/// input): far in the future, so that expiry checks fail closed, as exemptions do.
pub(crate) const NO_CLOCK: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

/// A cached verdict is reused for this many seconds: the time only matters for expiry
/// (Notation) and log times in the future, and a run or an admission burst is shorter.
const CACHE_SECONDS: i64 = 60;
/// Verdicts kept per trust policy before the cache starts over.
const CACHE_ENTRIES: usize = 4096;
/// Signers a verdict names.
const MAX_FOUND: usize = 5;

/// A compiled trust policy, with its verdict cache.
pub(crate) struct Trust {
    policy: portcullis_signatures::Policy,
    cache: Mutex<HashMap<String, (i64, Arc<Outcome>)>>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust").finish_non_exhaustive()
    }
}

/// The verdict on one image, in the words findings use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// At least one signature satisfies the trust policy.
    pub verified: bool,
    /// Why not, in kebab-case (`no-signature`, `untrusted-key`, …); `None` when verified.
    pub reason: Option<&'static str>,
    /// What exactly failed, for the most telling failure; empty when verified.
    pub detail: String,
    /// Signers the material shows (verified or not), described, at most [`MAX_FOUND`].
    pub found: Vec<String>,
    /// The accepted signer, when verified.
    pub signer: Option<String>,
    /// Signatures examined.
    pub signatures: usize,
    /// Collection problems recorded in the facts.
    pub problems: Vec<String>,
}

impl Trust {
    /// Compiles a trust policy from settings: `keys`, `identities`, `trusted-root` (JSON
    /// text, the same as a map, or `public-good`), `notation`, `docker-reference`,
    /// `match-admitted-reference`, `require-tlog-for-keys`. Empty and `()` values count as
    /// unset. The error names the bad field.
    pub(crate) fn compile(mut config: Value) -> Result<Trust, String> {
        let Value::Object(map) = &mut config else {
            return Err(
                "a signature trust policy is a map (keys, identities, trusted-root, notation)"
                    .into(),
            );
        };
        map.retain(|_, value| match value {
            Value::Null => false,
            Value::String(text) => !text.trim().is_empty(),
            Value::Array(items) => !items.is_empty(),
            Value::Object(entries) => !entries.is_empty(),
            _ => true,
        });
        match map.get("trusted-root") {
            Some(Value::String(text)) if text.trim() == PUBLIC_GOOD => {
                map.insert(
                    "trusted-root".into(),
                    portcullis_signatures::PRODUCTION_TRUSTED_ROOT.into(),
                );
            }
            // The JSON pasted into YAML as a map rather than as text.
            Some(root @ Value::Object(_)) => {
                let text = root.to_string();
                map.insert("trusted-root".into(), text.into());
            }
            _ => {}
        }
        let config: PolicyConfig = serde_json::from_value(config).map_err(|e| e.to_string())?;
        let policy = portcullis_signatures::Policy::new(&config).map_err(|e| e.to_string())?;
        Ok(Trust {
            policy,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The verdict on the signature material `facts` (keyed by `key` in the facts index
    /// `index_serial`) holds for `image`, at Unix time `now`; `None` when no signature
    /// material was collected for it.
    ///
    /// Which digests a signature may name: a reference pinned by digest admits only that
    /// digest (what the kubelet pulls); a tag admits the manifest digest the facts resolved
    /// it to and the indexes that led there (what `cosign sign` signs for a tag). Material
    /// attached to any other digest is checked against the admitted one, and so reported
    /// as a signature for another digest.
    pub(crate) fn verdict(
        &self,
        index_serial: u64,
        key: &str,
        facts: &ImageFacts,
        image: &ImageRef,
        now: i64,
    ) -> Option<Arc<Outcome>> {
        let collected = facts.signatures.as_ref()?;
        let cache_key = format!(
            "{index_serial}\0{key}\0{}\0{}",
            image.digest.as_deref().unwrap_or(""),
            image.name
        );
        if let Ok(cache) = self.cache.lock()
            && let Some((at, outcome)) = cache.get(&cache_key)
            && (now - at).abs() <= CACHE_SECONDS
        {
            return Some(outcome.clone());
        }
        let admitted: Vec<&str> = match &image.digest {
            Some(digest) => vec![digest.as_str()],
            None => std::iter::once(key)
                .chain(facts.index_digests.iter().map(String::as_str))
                .collect(),
        };
        let mut results: Vec<SignatureResult> = Vec::new();
        let mut groups: Vec<(&str, Vec<&FoundSignature>)> = Vec::new();
        for found in &collected.found {
            let digest = admitted
                .iter()
                .copied()
                .find(|d| *d == found.digest)
                .unwrap_or(admitted[0]);
            match groups.iter_mut().find(|(d, _)| *d == digest) {
                Some((_, members)) => members.push(found),
                None => groups.push((digest, vec![found])),
            }
        }
        for (digest, members) in groups {
            let materials: Vec<_> = members.iter().map(|f| f.material.clone()).collect();
            let verdict = portcullis_signatures::verify(
                &self.policy,
                digest,
                Some(&image.name),
                &materials,
                now,
            );
            results.extend(verdict.signatures);
        }
        let outcome = Arc::new(summarize(&results, collected.problems.clone()));
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(cache_key, (now, outcome.clone()));
        }
        Some(outcome)
    }
}

/// One verdict over the results of every signature.
fn summarize(results: &[SignatureResult], problems: Vec<String>) -> Outcome {
    let mut found = Vec::new();
    for signer in results.iter().filter_map(|r| r.signer.as_ref()) {
        let described = describe(signer);
        if !described.is_empty() && !found.contains(&described) && found.len() < MAX_FOUND {
            found.push(described);
        }
    }
    if let Some(accepted) = results.iter().find(|r| r.verified) {
        return Outcome {
            verified: true,
            reason: None,
            detail: String::new(),
            found,
            signer: accepted.signer.as_ref().map(describe),
            signatures: results.len(),
            problems,
        };
    }
    let telling = results
        .iter()
        .filter_map(|r| r.failure.as_ref())
        // A failure of a kind the policy does not trust at all (keyless without a trusted
        // root, Notation without a trust store) tells least.
        .min_by_key(|f| (f.unconfigured, f.reason.rank()));
    let (reason, detail) = match telling {
        Some(failure) => (failure.reason, failure.detail.clone()),
        None => (FailureReason::NoSignature, String::new()),
    };
    Outcome {
        verified: false,
        reason: Some(reason.as_str()),
        detail,
        found,
        signer: None,
        signatures: results.len(),
        problems,
    }
}

/// A signer in words: `key sha256:…`, `` `SAN` (issuer `…`) ``, or the certificate subject.
fn describe(signer: &Signer) -> String {
    if let Some(subject) = &signer.subject {
        return match &signer.issuer {
            Some(issuer) => format!("`{subject}` (issuer `{issuer}`)"),
            None => format!("`{subject}`"),
        };
    }
    if let Some(subject) = &signer.certificate_subject {
        return format!("certificate `{subject}`");
    }
    if let Some(fingerprint) = &signer.key_fingerprint {
        return format!("key `{fingerprint}`");
    }
    String::new()
}

/// The host's clock in Unix seconds, or [`NO_CLOCK`] where there is none.
pub(crate) fn system_now() -> i64 {
    #[cfg(all(target_family = "wasm", target_os = "unknown"))]
    {
        NO_CLOCK
    }
    #[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::SignatureFacts;
    use serde_json::json;

    /// Keys and a cosign signature made by the crate's independent signer.
    fn fixtures() -> Value {
        serde_json::from_str(include_str!(
            "../../signatures/tests/fixtures/fixtures.json"
        ))
        .unwrap()
    }

    fn signed_facts(fx: &Value, digest: &str) -> ImageFacts {
        let material = serde_json::from_value(json!({
            "kind": "cosign",
            "payload": fx["cosign_key"]["payload"],
            "signature": fx["cosign_key"]["signatures"]["p256"],
        }))
        .unwrap();
        ImageFacts {
            signatures: Some(SignatureFacts {
                found: vec![FoundSignature {
                    digest: digest.into(),
                    source: "cosign-tag".into(),
                    material,
                }],
                problems: Vec::new(),
            }),
            ..ImageFacts::default()
        }
    }

    #[test]
    fn compile_names_the_bad_field_and_ignores_unset_values() {
        let fx = fixtures();
        let error = |config: Value| Trust::compile(config).unwrap_err();
        assert!(error(json!("keys")).contains("is a map"));
        assert!(error(json!({"keys": ["nope"]})).starts_with("`keys[0]`"));
        assert!(error(json!({"keys": [], "identities": [], "notation": {}})).contains("trusts no"));
        assert!(error(json!({"kyes": [fx["keys"]["p256"]]})).contains("unknown field `kyes`"));
        assert!(
            error(json!({"identities": [{"issuer": "x", "subject": "y"}]}))
                .contains("`trusted-root`: required")
        );
        // `()` and empty values count as unset; `public-good` is the bundled root, and a
        // root given as a map is the same as its text.
        Trust::compile(json!({"keys": [fx["keys"]["p256"]], "notation": null, "trusted-root": ""}))
            .unwrap();
        let identity = json!([{"issuer": "https://token.actions.githubusercontent.com", "subject-regexp": "^https://github.com/"}]);
        Trust::compile(json!({"identities": identity, "trusted-root": PUBLIC_GOOD})).unwrap();
        let root: Value = serde_json::from_str(fx["trusted_root"].as_str().unwrap()).unwrap();
        Trust::compile(json!({"identities": identity, "trusted-root": root})).unwrap();
    }

    #[test]
    fn verdicts_need_collected_material_and_are_cached_per_image() {
        let fx = fixtures();
        let digest = fx["digest"].as_str().unwrap();
        let trust = Trust::compile(json!({"keys": [fx["keys"]["p256"]]})).unwrap();
        let image = ImageRef::parse("registry.example.com/team/app:1.0").unwrap();
        // Not collected: no verdict at all; collected and empty: "no signature".
        assert!(
            trust
                .verdict(1, digest, &ImageFacts::default(), &image, 0)
                .is_none()
        );
        let empty = ImageFacts {
            signatures: Some(SignatureFacts::default()),
            ..ImageFacts::default()
        };
        let outcome = trust.verdict(1, digest, &empty, &image, 0).unwrap();
        assert_eq!(
            (outcome.verified, outcome.reason),
            (false, Some("no-signature"))
        );

        let signed = signed_facts(&fx, digest);
        let outcome = trust.verdict(2, digest, &signed, &image, 100).unwrap();
        assert!(outcome.verified, "{outcome:?}");
        assert_eq!(
            outcome.signer.as_deref(),
            Some(format!("key `{}`", fx["key_fingerprints"]["p256"].as_str().unwrap()).as_str())
        );
        // The same image of the same index within the minute: the cached verdict, even for
        // other facts (which a real index never swaps under the same serial).
        let cached = trust.verdict(2, digest, &empty, &image, 150).unwrap();
        assert!(Arc::ptr_eq(&outcome, &cached));
        // Later, or from another index: verified again.
        assert!(
            !trust
                .verdict(2, digest, &empty, &image, 200)
                .unwrap()
                .verified
        );
        assert!(
            !trust
                .verdict(3, digest, &empty, &image, 150)
                .unwrap()
                .verified
        );
    }

    #[test]
    fn a_pinned_digest_admits_only_its_own_signatures() {
        let fx = fixtures();
        let digest = fx["digest"].as_str().unwrap();
        let other = fx["other_digest"].as_str().unwrap();
        let trust = Trust::compile(json!({"keys": [fx["keys"]["p256"]]})).unwrap();
        // The facts of `other` were reached through the index `digest`, which is signed.
        let mut facts = signed_facts(&fx, digest);
        facts.index_digests.insert(digest.to_string());
        let by_tag = ImageRef::parse("registry.example.com/team/app:1.0").unwrap();
        assert!(
            trust
                .verdict(1, other, &facts, &by_tag, 0)
                .unwrap()
                .verified
        );
        let by_index = ImageRef::parse(&format!("registry.example.com/team/app@{digest}")).unwrap();
        assert!(
            trust
                .verdict(1, other, &facts, &by_index, 0)
                .unwrap()
                .verified
        );
        let pinned = ImageRef::parse(&format!("registry.example.com/team/app@{other}")).unwrap();
        let outcome = trust.verdict(1, other, &facts, &pinned, 0).unwrap();
        assert_eq!(outcome.reason, Some("digest-mismatch"));
        assert!(outcome.detail.contains(other), "{}", outcome.detail);
    }
}
