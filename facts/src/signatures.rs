//! Where signature material sits in a registry, and how it is read from the manifests that
//! hold it; the requests themselves are made by `registry.rs`.
//!
//! | scheme | where | what is kept |
//! |---|---|---|
//! | cosign (`cosign-tag`) | tag `sha256-<hex>.sig`: an image manifest, one layer per signature | the payload blob and the layer's annotations |
//! | Sigstore bundle (`referrers`, `referrers-tag`) | an OCI 1.1 referrer of the image whose layer is a bundle | the bundle JSON |
//! | Notation (`referrers`, `referrers-tag`) | a referrer with artifact type `application/vnd.cncf.notary.signature` | the JWS or COSE envelope |
//!
//! Referrers come from the referrers API (`/v2/<name>/referrers/<digest>`) or, for
//! registries without it, from the referrers tag schema (tag `sha256-<hex>`).

use std::collections::BTreeMap;

use base64::Engine as _;
use portcullis_engine::facts::SignatureMaterial;
use serde::Deserialize;

use crate::manifest::Descriptor;

/// Most signatures collected for one image (the verifier examines no more).
pub const MAX_SIGNATURES: usize = portcullis_signatures::MAX_SIGNATURES;
/// Largest signature blob (payload, bundle or envelope) read.
pub const MAX_SIGNATURE_BYTES: u64 = portcullis_signatures::MAX_MATERIAL_BYTES as u64;
/// Largest signature manifest or referrers index read.
pub const MAX_SIGNATURE_MANIFEST_BYTES: u64 = 1 << 20;

pub const COSIGN_SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const COSIGN_SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const COSIGN_CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
pub const COSIGN_CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
pub const COSIGN_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
pub const NOTATION_ARTIFACT: &str = "application/vnd.cncf.notary.signature";
pub const NOTATION_JWS: &str = "application/jose+json";
pub const NOTATION_COSE: &str = "application/cose";
/// Both the `…bundle+json;version=0.x` and the `…bundle.v0.3+json` spellings.
pub const SIGSTORE_BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// What some registries (ghcr.io) put as the artifact type of every referrer.
const EMPTY_ARTIFACT: &str = "application/vnd.oci.empty.v1+json";

/// `sha256:<hex>` -> `sha256-<hex>`: the tag cosign and the referrers tag schema derive.
pub fn digest_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

/// A manifest that holds signatures (cosign `.sig` image or a referrer).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignatureManifest {
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub subject: Option<Descriptor>,
}

impl SignatureManifest {
    pub fn parse(bytes: &[u8]) -> Result<SignatureManifest, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a signature manifest: {e}"))
    }

    /// Whether it is a Notation signature (artifact type, or the config media type that
    /// registries without `artifactType` support get).
    pub fn is_notation(&self) -> bool {
        self.artifact_type.as_deref() == Some(NOTATION_ARTIFACT)
            || self
                .config
                .as_ref()
                .is_some_and(|c| c.media_type == NOTATION_ARTIFACT)
    }
}

/// A referrers index: the descriptors of the manifests that refer to a digest.
#[derive(Debug, Deserialize)]
pub struct ReferrersIndex {
    #[serde(default)]
    pub manifests: Vec<ReferrerDescriptor>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerDescriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default)]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ReferrerDescriptor {
    /// Whether the referrer may be a signature: a signature artifact type, or none that
    /// says otherwise (registries differ on what they list here; the layers decide).
    pub fn may_be_signature(&self) -> bool {
        match self.artifact_type.as_deref() {
            None | Some("") | Some(EMPTY_ARTIFACT) | Some(NOTATION_ARTIFACT) => true,
            Some(other) => other.starts_with(SIGSTORE_BUNDLE_PREFIX),
        }
    }

    pub fn as_descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

impl ReferrersIndex {
    pub fn parse(bytes: &[u8]) -> Result<ReferrersIndex, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a referrers index: {e}"))
    }
}

/// The cosign material of one `.sig` layer, given its payload blob; `Err` says why the
/// layer is not a usable signature.
pub fn cosign_material(layer: &Descriptor, payload: &[u8]) -> Result<SignatureMaterial, String> {
    let annotation = |name: &str| layer.annotations.get(name).cloned();
    let signature = annotation(COSIGN_SIGNATURE_ANNOTATION).ok_or_else(|| {
        format!(
            "cosign layer {} has no `{COSIGN_SIGNATURE_ANNOTATION}` annotation",
            layer.digest
        )
    })?;
    Ok(SignatureMaterial::Cosign {
        payload: base64::engine::general_purpose::STANDARD.encode(payload),
        signature,
        certificate: annotation(COSIGN_CERTIFICATE_ANNOTATION),
        chain: annotation(COSIGN_CHAIN_ANNOTATION),
        rekor_bundle: annotation(COSIGN_BUNDLE_ANNOTATION),
    })
}

/// The layer of a referrer that holds its signature, and how to read it; `None` when the
/// referrer is no signature this collects (an SBOM, an attestation of another kind).
pub fn referrer_layer(manifest: &SignatureManifest) -> Option<(&Descriptor, ReferrerKind)> {
    if manifest.is_notation() {
        return manifest
            .layers
            .iter()
            .find(|l| l.media_type == NOTATION_JWS || l.media_type == NOTATION_COSE)
            .map(|l| (l, ReferrerKind::Notation));
    }
    manifest
        .layers
        .iter()
        .find(|l| l.media_type.starts_with(SIGSTORE_BUNDLE_PREFIX))
        .map(|l| (l, ReferrerKind::SigstoreBundle))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerKind {
    Notation,
    SigstoreBundle,
}

/// The material of a referrer's signature layer, given its blob.
pub fn referrer_material(
    kind: ReferrerKind,
    layer: &Descriptor,
    blob: &[u8],
) -> Result<SignatureMaterial, String> {
    match kind {
        ReferrerKind::Notation => Ok(SignatureMaterial::Notation {
            media_type: layer.media_type.clone(),
            envelope: base64::engine::general_purpose::STANDARD.encode(blob),
        }),
        ReferrerKind::SigstoreBundle => {
            let bundle: serde_json::Value = serde_json::from_slice(blob)
                .map_err(|e| format!("Sigstore bundle {} is not JSON: {e}", layer.digest))?;
            if !bundle.is_object() {
                return Err(format!(
                    "Sigstore bundle {} is not a JSON object",
                    layer.digest
                ));
            }
            Ok(SignatureMaterial::SigstoreBundle { bundle })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(media_type: &str, annotations: &[(&str, &str)]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: "sha256:00".to_string(),
            size: 2,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            platform: None,
        }
    }

    #[test]
    fn cosign_layers_need_their_signature_annotation() {
        let signed = layer(
            COSIGN_SIMPLE_SIGNING,
            &[
                (COSIGN_SIGNATURE_ANNOTATION, "MEUC"),
                (COSIGN_CERTIFICATE_ANNOTATION, "PEM"),
            ],
        );
        match cosign_material(&signed, b"{}").unwrap() {
            SignatureMaterial::Cosign {
                payload,
                signature,
                certificate,
                chain,
                rekor_bundle,
            } => {
                assert_eq!(payload, "e30=");
                assert_eq!(signature, "MEUC");
                assert_eq!(certificate.as_deref(), Some("PEM"));
                assert_eq!((chain, rekor_bundle), (None, None));
            }
            other => panic!("{other:?}"),
        }
        let unsigned = layer(COSIGN_SIMPLE_SIGNING, &[]);
        assert!(
            cosign_material(&unsigned, b"{}")
                .unwrap_err()
                .contains("no `dev.cosignproject.cosign/signature`")
        );
    }

    #[test]
    fn referrers_are_told_apart_by_artifact_type_and_layers() {
        let notation = SignatureManifest::parse(
            br#"{"artifactType":"application/vnd.cncf.notary.signature","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44","size":2},
                "layers":[{"mediaType":"application/jose+json","digest":"sha256:aa","size":10}],
                "subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":5}}"#,
        )
        .unwrap();
        let (found, kind) = referrer_layer(&notation).unwrap();
        assert_eq!(
            (found.digest.as_str(), kind),
            ("sha256:aa", ReferrerKind::Notation)
        );
        assert_eq!(notation.subject.unwrap().digest, "sha256:bb");

        // OCI 1.0 registries: the artifact type travels as the config media type.
        let notation_v10 = SignatureManifest::parse(
            br#"{"config":{"mediaType":"application/vnd.cncf.notary.signature","digest":"sha256:44","size":2},
                "layers":[{"mediaType":"application/cose","digest":"sha256:cc","size":10}]}"#,
        )
        .unwrap();
        assert_eq!(
            referrer_layer(&notation_v10).unwrap().1,
            ReferrerKind::Notation
        );

        let bundle = SignatureManifest::parse(
            br#"{"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44","size":2},
                "layers":[{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"sha256:dd","size":10}]}"#,
        )
        .unwrap();
        assert_eq!(
            referrer_layer(&bundle).unwrap().1,
            ReferrerKind::SigstoreBundle
        );

        let sbom = SignatureManifest::parse(
            br#"{"artifactType":"application/spdx+json","layers":[{"mediaType":"application/spdx+json","digest":"sha256:ee","size":10}]}"#,
        )
        .unwrap();
        assert!(referrer_layer(&sbom).is_none());

        let index = ReferrersIndex::parse(
            br#"{"schemaVersion":2,"manifests":[
                {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:1","size":1,"artifactType":"application/spdx+json"},
                {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2","size":1,"artifactType":"application/vnd.oci.empty.v1+json"},
                {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:3","size":1,"artifactType":"application/vnd.dev.sigstore.bundle+json;version=0.2"},
                {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:4","size":1}]}"#,
        )
        .unwrap();
        let kept: Vec<&str> = index
            .manifests
            .iter()
            .filter(|d| d.may_be_signature())
            .map(|d| d.digest.as_str())
            .collect();
        assert_eq!(kept, ["sha256:2", "sha256:3", "sha256:4"]);
    }

    #[test]
    fn bundles_must_be_json_objects() {
        let l = layer("application/vnd.dev.sigstore.bundle.v0.3+json", &[]);
        assert!(referrer_material(ReferrerKind::SigstoreBundle, &l, b"[1]").is_err());
        assert!(referrer_material(ReferrerKind::SigstoreBundle, &l, b"{").is_err());
        assert!(matches!(
            referrer_material(ReferrerKind::SigstoreBundle, &l, br#"{"mediaType":"x"}"#),
            Ok(SignatureMaterial::SigstoreBundle { .. })
        ));
        assert_eq!(digest_tag("sha256:abc"), "sha256-abc");
    }
}
