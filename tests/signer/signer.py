"""An independent signer for Portcullis's signature tests.

Everything here is made with PyPI/Debian `cryptography` (OpenSSL), never with Portcullis's
own code: cosign "simple signing" signatures (key-based and keyless), a private Sigstore
instance (a Fulcio-like CA with SCTs from a private CT log, a Rekor-like log with signed
entry timestamps and checkpoints), Sigstore bundles v0.3 and Notation JWS envelopes. The
formats follow their specifications (cosign's signature spec, Sigstore's protobuf-specs,
the Notary Project signature specification); see docs/signatures.md.
"""
import base64
import datetime as dt
import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

UTC = dt.timezone.utc
ISSUER = "https://token.actions.githubusercontent.com"
IDENTITY = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"
OTHER_IDENTITY = "https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main"


def b64(data):
    return base64.b64encode(data).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def spki_der(key):
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def ecdsa(key, data):
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


def name(common_name, org="Portcullis Test"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def ca_cert(key, subject, issuer_key, issuer, start, end, path_len=None):
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(issuer_key, hashes.SHA384() if issuer_key.curve.name == "secp384r1" else hashes.SHA256()))


def simple_signing(digest, repository):
    """cosign's payload: the signed claim that `repository` has the manifest `digest`."""
    return json.dumps({
        "critical": {"identity": {"docker-reference": repository},
                     "image": {"docker-manifest-digest": digest},
                     "type": "cosign container image signature"},
        "optional": None,
    }, separators=(",", ":")).encode()


def tls_sct_list(ct_key, ct_log_id, issuer_cert, precert_tbs, timestamp_ms):
    """An RFC 6962 SignedCertificateTimestampList with one precertificate SCT."""
    issuer_key_hash = hashlib.sha256(issuer_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    signed = (b"\x00\x00" + timestamp_ms.to_bytes(8, "big") + b"\x00\x01" + issuer_key_hash
              + len(precert_tbs).to_bytes(3, "big") + precert_tbs + b"\x00\x00")
    sig = ecdsa(ct_key, signed)
    sct = (b"\x00" + ct_log_id + timestamp_ms.to_bytes(8, "big") + b"\x00\x00"
           + b"\x04\x03" + len(sig).to_bytes(2, "big") + sig)
    inner = len(sct).to_bytes(2, "big") + sct
    return len(inner).to_bytes(2, "big") + inner


def der_octet_string(data):
    if len(data) < 128:
        return bytes([0x04, len(data)]) + data
    return bytes([0x04, 0x81, len(data)]) + data


def der_utf8(text):
    data = text.encode()
    return bytes([0x0C, len(data)]) + data


def merkle_leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def merkle_root(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


def merkle_path(index, leaves):
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return merkle_path(index, leaves[:k]) + [merkle_root(leaves[k:])]
    return merkle_path(index - k, leaves[k:]) + [merkle_root(leaves[:k])]


class Sigstore:
    """A private Sigstore instance: CA, CT log and transparency log, with its trusted root."""

    def __init__(self, start):
        self.start = start
        root_key = ec.generate_private_key(ec.SECP384R1())
        self.ca_key = ec.generate_private_key(ec.SECP384R1())
        self.root = ca_cert(root_key, name("test-fulcio-root"), root_key, name("test-fulcio-root"),
                            start - dt.timedelta(days=365), start + dt.timedelta(days=36500), 1)
        self.ca = ca_cert(self.ca_key, name("test-fulcio-intermediate"), root_key, self.root.subject,
                          start - dt.timedelta(days=300), start + dt.timedelta(days=36000), 0)
        self.ct_key = new_key()
        self.ct_log_id = hashlib.sha256(spki_der(self.ct_key)).digest()
        self.log_key = new_key()
        self.log_id = hashlib.sha256(spki_der(self.log_key)).digest()
        self.origin = "rekor.test.example - 42"

    def sharing_logs_with(self, other):
        """This instance's CA with `other`'s logs: a certificate authority `other` does not trust."""
        self.ct_key, self.ct_log_id = other.ct_key, other.ct_log_id
        self.log_key, self.log_id, self.origin = other.log_key, other.log_id, other.origin
        return self

    def trusted_root(self):
        def key(k, log_id, url):
            return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                    "publicKey": {"rawBytes": b64(spki_der(k)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                  "validFor": {"start": "2000-01-01T00:00:00Z"}},
                    "logId": {"keyId": b64(log_id)}}
        return json.dumps({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [key(self.log_key, self.log_id, "https://rekor.test.example")],
            "certificateAuthorities": [{
                "subject": {"organization": "Portcullis Test", "commonName": "test"},
                "uri": "https://fulcio.test.example",
                "certChain": {"certificates": [{"rawBytes": b64(cert_der(c))} for c in (self.ca, self.root)]},
                "validFor": {"start": "2000-01-01T00:00:00Z"}}],
            "ctlogs": [key(self.ct_key, self.ct_log_id, "https://ct.test.example")],
            "timestampAuthorities": [],
        }, separators=(",", ":"))

    def leaf(self, key, identity=IDENTITY, issuer=ISSUER, start=None):
        """A Fulcio-style code-signing certificate for `identity`, valid for 10 minutes."""
        start = start or self.start

        def builder(serial):
            return (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.ca.subject)
                    .public_key(key.public_key()).serial_number(serial)
                    .not_valid_before(start).not_valid_after(start + dt.timedelta(minutes=10))
                    .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                    .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity)]), critical=True)
                    .add_extension(x509.UnrecognizedExtension(
                        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), der_utf8(issuer)), critical=False))

        serial = x509.random_serial_number()
        precert = builder(serial).sign(self.ca_key, hashes.SHA384())
        scts = tls_sct_list(self.ct_key, self.ct_log_id, self.ca, precert.tbs_certificate_bytes,
                            int(start.timestamp() * 1000) + 500)
        sct = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2"), der_octet_string(scts))
        return builder(serial).add_extension(sct, critical=False).sign(self.ca_key, hashes.SHA384())

    def log_entry(self, body_obj, integrated_time, log_index=5, tree_size=9):
        """A transparency-log entry for `body_obj`: SET and inclusion proof with a checkpoint."""
        body = json.dumps(body_obj, separators=(",", ":"), sort_keys=True).encode()
        body_b64 = b64(body)
        set_payload = json.dumps({"body": body_b64, "integratedTime": integrated_time,
                                  "logID": self.log_id.hex(), "logIndex": log_index},
                                 separators=(",", ":"), sort_keys=True).encode()
        leaves = [merkle_leaf(b"other entry %d" % i) for i in range(tree_size)]
        leaves[log_index] = merkle_leaf(body)
        root = merkle_root(leaves)
        note = f"{self.origin}\n{tree_size}\n{b64(root)}\n"
        signature = ecdsa(self.log_key, note.encode())
        checkpoint = note + "\n" + f"\u2014 {self.origin} {b64(self.log_id[:4] + signature)}\n"
        return {
            "body": body_b64,
            "set": b64(ecdsa(self.log_key, set_payload)),
            "entry": {
                "logIndex": str(log_index),
                "logId": {"keyId": b64(self.log_id)},
                "kindVersion": {"kind": body_obj["kind"], "version": body_obj["apiVersion"]},
                "integratedTime": str(integrated_time),
                "inclusionPromise": {"signedEntryTimestamp": b64(ecdsa(self.log_key, set_payload))},
                "inclusionProof": {"logIndex": str(log_index), "rootHash": b64(root), "treeSize": str(tree_size),
                                   "hashes": [b64(h) for h in merkle_path(log_index, leaves)],
                                   "checkpoint": {"envelope": checkpoint}},
                "canonicalizedBody": body_b64,
            },
            "log_index": log_index,
        }


def hashedrekord(digest_hex, signature, verifier_pem):
    return {"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": digest_hex}},
        "signature": {"content": b64(signature), "publicKey": {"content": b64(verifier_pem.encode())}}}}


def cosign_key_signature(key, digest, repository, payload=None):
    """The material of a key-based cosign signature (as the `.sig` image stores it)."""
    payload = payload if payload is not None else simple_signing(digest, repository)
    return {"kind": "cosign", "payload": b64(payload), "signature": b64(ecdsa(key, payload))}


def cosign_keyless_signature(sigstore, key, cert, digest, repository, integrated_time, with_log=True):
    """A keyless cosign signature: certificate, chain and the Rekor bundle annotation."""
    payload = simple_signing(digest, repository)
    signature = ecdsa(key, payload)
    material = {"kind": "cosign", "payload": b64(payload), "signature": b64(signature),
                "certificate": cert_pem(cert), "chain": cert_pem(sigstore.ca) + cert_pem(sigstore.root)}
    if with_log:
        body = hashedrekord(hashlib.sha256(payload).hexdigest(), signature, cert_pem(cert))
        logged = sigstore.log_entry(body, integrated_time)
        material["rekor-bundle"] = json.dumps({
            "SignedEntryTimestamp": logged["set"],
            "Payload": {"body": logged["body"], "integratedTime": integrated_time,
                        "logIndex": logged["log_index"], "logID": sigstore.log_id.hex()}},
            separators=(",", ":"))
    return material


def sigstore_bundle(sigstore, key, cert, digest, integrated_time):
    """A Sigstore bundle v0.3 with a message signature over the manifest digest."""
    raw = bytes.fromhex(digest.split(":", 1)[1])
    signature = key.sign(raw, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    body = hashedrekord(raw.hex(), signature, cert_pem(cert))
    logged = sigstore.log_entry(body, integrated_time)
    return {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {"certificate": {"rawBytes": b64(cert_der(cert))},
                                     "tlogEntries": [logged["entry"]]},
            "messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(raw)},
                                 "signature": b64(signature)}}


class Notary:
    """A Notation signing CA and a code-signing leaf under it."""

    def __init__(self, start):
        self.root_key = new_key()
        self.root = ca_cert(self.root_key, name("notation-test-root"), self.root_key, name("notation-test-root"),
                            start - dt.timedelta(days=30), start + dt.timedelta(days=36500))
        self.key = new_key()
        self.leaf = (x509.CertificateBuilder().subject_name(name("release.acme.example", "Acme"))
                     .issuer_name(self.root.subject).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(start - dt.timedelta(days=1)).not_valid_after(start + dt.timedelta(days=36000))
                     .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
                     .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                     .sign(self.root_key, hashes.SHA256()))

    def jws(self, digest, size, signing_time, media_type="application/vnd.oci.image.manifest.v1+json"):
        """A Notation JWS envelope (JSON serialization) for the manifest `digest`."""
        header = {"alg": "ES256", "cty": "application/vnd.cncf.notary.payload.v1+json",
                  "crit": ["io.cncf.notary.signingScheme"],
                  "io.cncf.notary.signingScheme": "notary.x509",
                  "io.cncf.notary.signingTime": signing_time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        payload = json.dumps({"targetArtifact": {"mediaType": media_type, "digest": digest, "size": size}}).encode()
        protected = b64url(json.dumps(header).encode())
        encoded_payload = b64url(payload)
        r, s = utils.decode_dss_signature(ecdsa(self.key, (protected + "." + encoded_payload).encode()))
        return json.dumps({"payload": encoded_payload, "protected": protected,
                           "header": {"x5c": [b64(cert_der(self.leaf)), b64(cert_der(self.root))],
                                      "io.cncf.notary.signingAgent": "portcullis-tests-signer"},
                           "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))}).encode()
