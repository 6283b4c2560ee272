#!/usr/bin/env python3
"""Writes rules/unsigned-image.tests.yaml: the rule's test cases, with signature material
made by the independent signer in signer.py (PyPI/Debian `cryptography`).

    python3 tests/signer/rule_fixtures.py > rules/unsigned-image.tests.yaml

Keys are random, so every run changes the material (not the cases).
"""
import datetime as dt
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import signer  # noqa: E402

START = dt.datetime(2026, 1, 1, tzinfo=signer.UTC)
T_IN = int(START.timestamp()) + 60          # inside the leaf's 10 minutes
T_AFTER = int(START.timestamp()) + 3600     # after it expired
REPO = "registry.company.com/shop/api"


def digest(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


SIGNED = digest("signed manifest")
UNSIGNED = digest("unsigned manifest")
OTHER = digest("another manifest")
INDEX = digest("multi-platform index")
KEYLESS = digest("keyless manifest")
NOTARY = digest("notation manifest")


def j(value):
    return json.dumps(value)


def found(subject, material, source="cosign-tag"):
    return {"digest": subject, "source": source, "material": material}


def facts(references, signatures, index_digests=()):
    entry = {"references": references}
    if index_digests:
        entry["index_digests"] = list(index_digests)
    if signatures is not None:
        entry["signatures"] = {"found": signatures}
    return entry


def main():
    key = signer.new_key()
    wrong = signer.new_key()
    tampered = signer.cosign_key_signature(key, SIGNED, REPO)
    forged = signer.simple_signing(SIGNED, REPO).replace(REPO.encode(), b"registry.company.com/shop/evil")
    tampered["payload"] = signer.b64(forged)

    sigstore = signer.Sigstore(START)
    other_sigstore = signer.Sigstore(START)
    rogue_ca = signer.Sigstore(START).sharing_logs_with(sigstore)
    leaf_key = signer.new_key()
    leaf = sigstore.leaf(leaf_key)
    stranger_key = signer.new_key()
    stranger = sigstore.leaf(stranger_key, identity=signer.OTHER_IDENTITY)
    foreign_key = signer.new_key()
    foreign = other_sigstore.leaf(foreign_key)
    rogue = rogue_ca.leaf(foreign_key)

    notary = signer.Notary(START)
    other_notary = signer.Notary(START)

    key_settings = {"keys": [signer.public_pem(key)]}
    identities = [{"issuer": signer.ISSUER, "subject-regexp": "^https://github.com/acme/"}]
    notation_settings = {"notation": {"trust-store": [signer.cert_pem(notary.root)], "level": "strict"}}

    key_facts = {
        SIGNED: facts([REPO + ":1.4.2"], [found(SIGNED, signer.cosign_key_signature(key, SIGNED, REPO))]),
        UNSIGNED: facts([REPO + ":1.4.1"], []),
        OTHER: facts([REPO + ":1.4.0"], [found(OTHER, signer.cosign_key_signature(key, SIGNED, REPO))]),
        digest("wrong key"): facts([REPO + ":1.3.0"], [found(digest("wrong key"), signer.cosign_key_signature(wrong, digest("wrong key"), REPO))]),
        digest("tampered"): facts([REPO + ":1.2.0"], [found(digest("tampered"), tampered)]),
        digest("scan only"): facts([REPO + ":1.1.0"], None),
        digest("platform"): facts([REPO + ":2.0"], [found(INDEX, signer.cosign_key_signature(key, INDEX, REPO))], [INDEX]),
    }
    # The tampered material claims a digest it was not collected for; re-point it.
    key_facts[digest("tampered")]["signatures"]["found"][0]["digest"] = SIGNED

    keyless_facts = {
        KEYLESS: facts([REPO + ":3.0"], [found(KEYLESS, signer.cosign_keyless_signature(sigstore, leaf_key, leaf, KEYLESS, REPO, T_IN))]),
        digest("stranger"): facts([REPO + ":3.1"], [found(digest("stranger"), signer.cosign_keyless_signature(sigstore, stranger_key, stranger, digest("stranger"), REPO, T_IN))]),
        digest("expired"): facts([REPO + ":3.2"], [found(digest("expired"), signer.cosign_keyless_signature(sigstore, leaf_key, leaf, digest("expired"), REPO, T_AFTER))]),
        digest("unlogged"): facts([REPO + ":3.3"], [found(digest("unlogged"), signer.cosign_keyless_signature(sigstore, leaf_key, leaf, digest("unlogged"), REPO, T_IN, with_log=False))]),
        digest("foreign"): facts([REPO + ":3.4"], [found(digest("foreign"), signer.cosign_keyless_signature(other_sigstore, foreign_key, foreign, digest("foreign"), REPO, T_IN))]),
        digest("rogue"): facts([REPO + ":3.6"], [found(digest("rogue"), signer.cosign_keyless_signature(rogue_ca, foreign_key, rogue, digest("rogue"), REPO, T_IN))]),
        digest("bundle"): facts([REPO + ":3.5"], [found(digest("bundle"), {"kind": "sigstore-bundle", "bundle": signer.sigstore_bundle(sigstore, leaf_key, leaf, digest("bundle"), T_IN)}, "referrers")]),
    }
    notation_facts = {
        NOTARY: facts([REPO + ":4.0"], [found(NOTARY, {"kind": "notation", "media-type": "application/jose+json",
                                                       "envelope": signer.b64(notary.jws(NOTARY, 1234, START))}, "referrers")]),
        digest("other notary"): facts([REPO + ":4.1"], [found(digest("other notary"), {"kind": "notation", "media-type": "application/jose+json",
                                                                                    "envelope": signer.b64(other_notary.jws(digest("other notary"), 1234, START))}, "referrers")]),
    }

    all_facts = {**key_facts, **keyless_facts, **notation_facts}
    pem = j(signer.public_pem(key))
    wrong_pem = j(signer.public_pem(wrong))
    out = sys.stdout
    out.write("# Generated by tests/signer/rule_fixtures.py with an independent signer (Python\n"
              "# `cryptography`); edit the script, not this file.\n")
    out.write(f"""cases:
  - name: key-based - signed images pass, by tag and by digest, in every container role
    settings: {{keys: [{pem}]}}
    facts: &facts {j(all_facts)}
    manifest: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {{name: api}}
      spec:
        template:
          spec:
            initContainers: [{{name: init, image: "{REPO}:1.4.2"}}]
            containers: [{{name: app, image: "{REPO}@{SIGNED}"}}]
            ephemeralContainers: [{{name: debug, image: "{REPO}:1.4.2"}}]
    expect: []

  - name: key-based - each reason for rejection is named
    settings: {{keys: [{pem}]}}
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: web}}
      spec:
        initContainers: [{{name: unsigned, image: "{REPO}:1.4.1"}}]
        containers:
          - {{name: other-digest, image: "{REPO}:1.4.0"}}
          - {{name: wrong-key, image: "{REPO}:1.3.0"}}
          - {{name: tampered, image: "{REPO}:1.2.0"}}
          - {{name: not-collected, image: "{REPO}:1.1.0"}}
          - {{name: no-facts, image: "nginx:1.27.3"}}
          - {{name: broken, image: "Nginx"}}
    expect:
      - {{container: unsigned, path: "spec.initContainers[0].image", message: "image `{REPO}:1.4.1` has no signature"}}
      - {{container: other-digest, message: "image `{REPO}:1.4.0` has a signature for another digest: signature is for `{SIGNED}`, not `{OTHER}`"}}
      - {{container: wrong-key, message: "image `{REPO}:1.3.0` is signed, but no signature verifies with a trusted key (another key signed it, or the payload was changed)"}}
      - {{container: tampered, message: "image `{REPO}:1.2.0` is signed, but no signature verifies with a trusted key (another key signed it, or the payload was changed)"}}
      - {{container: not-collected, message: "no signature material was collected for image `{REPO}:1.1.0` (run `portcullis facts collect`, or check with `--pull-facts`)"}}
      - {{container: no-facts, message: "no signature material was collected for image `nginx:1.27.3` (run `portcullis facts collect`, or check with `--pull-facts`)"}}

  - name: a tag admits the index it resolved through; a pinned platform digest needs its own signature
    settings: {{keys: [{pem}]}}
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: multi}}
      spec:
        containers:
          - {{name: by-tag, image: "{REPO}:2.0"}}
          - {{name: by-index, image: "{REPO}@{INDEX}"}}
          - {{name: by-platform, image: "{REPO}@{digest("platform")}"}}
    expect:
      - {{container: by-platform, message: "image `{REPO}@{digest("platform")}` has a signature for another digest: signature is for `{INDEX}`, not `{digest("platform")}`"}}

  - name: the wrong key is not trusted, and any one of several keys passes
    settings: {{keys: [{wrong_pem}]}}
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: web}}
      spec:
        containers: [{{name: app, image: "{REPO}:1.4.2"}}, {{name: other, image: "{REPO}:1.3.0"}}]
    expect:
      - {{container: app}}

  - name: only images matching `images` must be signed
    settings: {{keys: [{pem}], images: ["registry.company.com/shop/"]}}
    facts: *facts
    manifest: |
      apiVersion: batch/v1
      kind: CronJob
      metadata: {{name: nightly}}
      spec:
        schedule: "0 3 * * *"
        jobTemplate:
          spec:
            template:
              spec:
                containers: [{{name: app, image: "{REPO}:1.4.1"}}, {{name: sidecar, image: "nginx:1.27.3"}}]
    expect:
      - {{container: app, message: "image `{REPO}:1.4.1` has no signature"}}

  - name: keyless - the trusted identity passes, others are named
    settings:
      identities: {j(identities)}
      trusted-root: &root {j(sigstore.trusted_root())}
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: keyless}}
      spec:
        containers:
          - {{name: ok, image: "{REPO}:3.0"}}
          - {{name: bundle, image: "{REPO}:3.5"}}
          - {{name: stranger, image: "{REPO}:3.1"}}
          - {{name: expired, image: "{REPO}:3.2"}}
          - {{name: unlogged, image: "{REPO}:3.3"}}
          - {{name: foreign, image: "{REPO}:3.4"}}
    expect:
      - {{container: stranger, message: "image `{REPO}:3.1` is signed, but by no trusted identity; found: `{signer.OTHER_IDENTITY}` (issuer `{signer.ISSUER}`)"}}
      - {{container: expired}}
      - {{container: unlogged, message: "image `{REPO}:3.3` has no valid transparency-log proof for its signature: signature has no rekor bundle"}}
      - {{container: foreign}}

  - name: keyless - the certificate expired before the signature was logged
    settings: {{identities: {j(identities)}, trusted-root: *root}}
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: keyless}}
      spec:
        containers: [{{name: expired, image: "{REPO}:3.2"}}, {{name: foreign, image: "{REPO}:3.4"}}, {{name: rogue, image: "{REPO}:3.6"}}]
    expect:
      - {{container: expired, message: "the certificate that signed image `{REPO}:3.2` was not valid at signing time: signing certificate is valid from 2026-01-01T00:00:00Z to 2026-01-01T00:10:00Z, the signature was made at 2026-01-01T01:00:00Z"}}
      - {{container: foreign, message: "image `{REPO}:3.4` has no valid transparency-log proof for its signature: entry is from log `{other_sigstore.log_id.hex()}`, which the trusted root does not know"}}
      - {{container: rogue, message: "image `{REPO}:3.6` is signed, but its certificate does not chain to a trusted root: no path from the signing certificate (issuer `O=Portcullis Test, CN=test-fulcio-intermediate`) to a trusted root"}}

  - name: notation - a certificate from the trust store passes, another CA does not
    settings: {j(notation_settings)}
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: notation}}
      spec:
        containers: [{{name: ok, image: "{REPO}:4.0"}}, {{name: other, image: "{REPO}:4.1"}}]
    expect:
      - {{container: other}}

  - name: per-image trust - the first matching entry decides, the top level covers the rest
    settings:
      keys: [{pem}]
      trust:
        - images: ["registry.company.com/shop/api:3.*"]
          identities: [{{issuer: "{signer.ISSUER}", subject-regexp: "^https://github.com/acme/"}}]
          trusted-root: *root
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: mixed}}
      spec:
        containers:
          - {{name: by-key, image: "{REPO}:1.4.2"}}
          - {{name: keyless, image: "{REPO}:3.0"}}
          - {{name: stranger, image: "{REPO}:3.1"}}
          - {{name: unsigned, image: "{REPO}:1.4.1"}}
    expect:
      - {{container: stranger}}
      - {{container: unsigned}}

  - name: per-image trust without a top-level trust leaves other images unverifiable
    settings:
      trust: [{{images: ["registry.company.com/shop/api:1.*"], keys: [{pem}]}}]
    facts: *facts
    manifest: |
      apiVersion: v1
      kind: Pod
      metadata: {{name: partial}}
      spec:
        containers: [{{name: covered, image: "{REPO}:1.4.2"}}, {{name: uncovered, image: "{REPO}:2.0"}}]
    expect:
      - {{container: uncovered, message: "image `{REPO}:2.0` must be signed, but no `trust` entry matches it and no top-level `keys`, `identities` or `notation` are set"}}

  - name: settings that cannot verify anything are configuration errors
    settings: {{keys: ["-----BEGIN PUBLIC KEY-----\\nnot a key\\n-----END PUBLIC KEY-----\\n"]}}
    manifest: |
      kind: Pod
      metadata: {{name: web}}
      spec: {{containers: [{{name: app, image: "{REPO}:1.4.2"}}]}}
    expect: []
    expect_errors: ["settings of rule `unsigned-image`: setting `keys[0]`:"]

  - name: an identity needs a trusted root
    settings: {{identities: [{{issuer: "{signer.ISSUER}", subject: "{signer.IDENTITY}"}}]}}
    manifest: |
      kind: Pod
      metadata: {{name: web}}
      spec: {{containers: [{{name: app, image: "{REPO}:1.4.2"}}]}}
    expect: []
    expect_errors: ["settings of rule `unsigned-image`: setting `trusted-root`: required for `identities` and `require-tlog-for-keys`"]

  - name: enabled without any trust is a configuration error
    manifest: |
      kind: Pod
      metadata: {{name: web}}
      spec: {{containers: [{{name: app, image: "{REPO}:1.4.2"}}]}}
    expect: []
    expect_errors: ["the rule trusts nobody yet: set `keys`, `identities` or `notation` (or per-image `trust`)"]
""")


if __name__ == "__main__":
    main()
