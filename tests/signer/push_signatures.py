#!/usr/bin/env python3
"""Signs images already in a registry and pushes the signatures there, the way cosign and
Notation store them, for the registry tests (tests/tests/image_sources.rs).

    push_signatures.py REGISTRY OUT_DIR SIGNED OTHER_DIGEST TAMPERED

Each image argument is `repository@sha256:<hex>`. Signatures are made by the independent
signer in signer.py (PyPI/Debian `cryptography`), pushed with the Python standard library
over the Distribution API (plain HTTP: the test registry listens on 127.0.0.1):

- SIGNED gets a key-based cosign signature (tag `sha256-<hex>.sig`), and a keyless
  Sigstore bundle v0.3 and a Notation JWS envelope as OCI 1.1 referrers, listed in the
  referrers tag `sha256-<hex>` (the fallback for registries without the referrers API);
- OTHER_DIGEST gets, at its own `.sig` tag, a valid signature whose payload names SIGNED;
- TAMPERED gets a signature whose payload was changed after signing.

OUT_DIR receives what a policy needs: `key.pub`, `wrong.pub`, `trusted_root.json`,
`notation-root.pem`, `identity.txt`, `issuer.txt`.
"""
import base64
import datetime as dt
import hashlib
import json
import os
import sys
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import signer  # noqa: E402

START = dt.datetime(2026, 1, 1, tzinfo=signer.UTC)
SIGNED_AT = int(START.timestamp()) + 60  # inside the leaf certificate's 10 minutes
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
NOTATION = "application/vnd.cncf.notary.signature"


class Registry:
    def __init__(self, host):
        self.base = f"http://{host}"

    def request(self, method, path, body=None, content_type=None, accept=None):
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=body, method=method)
        if content_type:
            request.add_header("Content-Type", content_type)
        if accept:
            request.add_header("Accept", accept)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()

    def blob(self, repo, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        _, headers, _ = self.request("POST", f"/v2/{repo}/blobs/uploads/")
        location = urllib.parse.urljoin(self.base, headers["Location"])
        separator = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{separator}digest={digest}", data, "application/octet-stream")
        return {"digest": digest, "size": len(data)}

    def manifest(self, repo, reference, document, media_type):
        """Pushes a manifest by tag, or by its digest when `reference` is None."""
        data = json.dumps(document, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.request("PUT", f"/v2/{repo}/manifests/{reference or digest}", data, media_type)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def descriptor(self, repo, digest):
        """The descriptor of a manifest already in the registry (for `subject`)."""
        _, headers, body = self.request("GET", f"/v2/{repo}/manifests/{digest}",
                                        accept=f"{OCI_MANIFEST}, {OCI_INDEX}")
        return {"mediaType": headers["Content-Type"], "digest": digest, "size": len(body)}


def cosign_sig(registry, repo, digest, materials):
    """The `sha256-<hex>.sig` image: one simple-signing layer per signature."""
    layers = []
    for material in materials:
        payload = base64.b64decode(material["payload"])
        layer = registry.blob(repo, payload)
        layer["mediaType"] = "application/vnd.dev.cosign.simplesigning.v1+json"
        layer["annotations"] = {"dev.cosignproject.cosign/signature": material["signature"]}
        layers.append(layer)
    config = registry.blob(repo, json.dumps({"architecture": "", "os": "", "config": {},
                                             "rootfs": {"type": "layers", "diff_ids": []}}).encode())
    config["mediaType"] = "application/vnd.oci.image.config.v1+json"
    registry.manifest(repo, digest.replace(":", "-") + ".sig",
                      {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers},
                      OCI_MANIFEST)


def referrer(registry, repo, subject, artifact_type, layer_type, blob):
    """An OCI 1.1 referrer manifest of `subject` whose one layer is `blob`."""
    empty = registry.blob(repo, b"{}")
    empty["mediaType"] = EMPTY
    layer = registry.blob(repo, blob)
    layer["mediaType"] = layer_type
    descriptor = registry.manifest(repo, None, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": empty, "layers": [layer], "subject": subject}, OCI_MANIFEST)
    descriptor["artifactType"] = artifact_type
    return descriptor


def main():
    host, out = sys.argv[1], sys.argv[2]
    signed, other, tampered = (arg.split("@", 1) for arg in sys.argv[3:6])
    registry = Registry(host)
    key, wrong = signer.new_key(), signer.new_key()

    repo, digest = signed
    reference = f"{host}/{repo}"
    cosign_sig(registry, repo, digest, [signer.cosign_key_signature(key, digest, reference)])

    sigstore = signer.Sigstore(START)
    leaf_key = signer.new_key()
    leaf = sigstore.leaf(leaf_key)
    notary = signer.Notary(START)
    subject = registry.descriptor(repo, digest)
    bundle = json.dumps(signer.sigstore_bundle(sigstore, leaf_key, leaf, digest, SIGNED_AT)).encode()
    envelope = notary.jws(digest, subject["size"], START, subject["mediaType"])
    referrers = [
        referrer(registry, repo, subject, BUNDLE, BUNDLE, bundle),
        referrer(registry, repo, subject, NOTATION, "application/jose+json", envelope),
    ]
    registry.manifest(repo, digest.replace(":", "-"),
                      {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers}, OCI_INDEX)

    repo, other_digest = other
    cosign_sig(registry, repo, other_digest,
               [signer.cosign_key_signature(key, digest, reference)])

    repo, tampered_digest = tampered
    material = signer.cosign_key_signature(key, tampered_digest, f"{host}/{repo}")
    forged = signer.simple_signing(tampered_digest, f"{host}/{repo}").replace(b'"optional":null',
                                                                            b'"optional":{"x":1}')
    material["payload"] = signer.b64(forged)
    cosign_sig(registry, repo, tampered_digest, [material])

    os.makedirs(out, exist_ok=True)
    files = {"key.pub": signer.public_pem(key), "wrong.pub": signer.public_pem(wrong),
             "trusted_root.json": sigstore.trusted_root(), "notation-root.pem": signer.cert_pem(notary.root),
             "identity.txt": signer.IDENTITY, "issuer.txt": signer.ISSUER}
    for name, text in files.items():
        with open(os.path.join(out, name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
