#!/usr/bin/env python3
"""Second, independent verifier for the sigstore-conformance bundles: sigstore-python 4.5.1.

Usage: sigstore_python_oracle.py <bundle-verify dir> <production trusted_root.json>

Prints one JSON object per case: {"case", "verified", "error"}; "verified" is null when
sigstore-python's API cannot express the case (managed keys: 4.5.1 verifies only
certificate identities). Offline: every trusted root is read from a file.
"""
import hashlib
import json
import sys
from pathlib import Path

from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

IDENTITY = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/"
    "workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ISSUER = "https://token.actions.githubusercontent.com"


def run_case(case: Path, default_root: Path, default_artifact: Path):
    if (case / "key.pub").exists():
        return None, "managed keys are not verifiable through sigstore-python 4.5.1"
    root_path = case / "trusted_root.json"
    artifact = (case / "artifact") if (case / "artifact").exists() else default_artifact
    identity = (case / "identity").read_text().strip() if (case / "identity").exists() else IDENTITY
    issuer = (case / "issuer").read_text().strip() if (case / "issuer").exists() else ISSUER
    digest = hashlib.sha256(artifact.read_bytes()).digest()
    try:
        root = TrustedRoot.from_file(str(root_path if root_path.exists() else default_root))
        verifier = Verifier(trusted_root=root)
        bundle = Bundle.from_json((case / "bundle.sigstore.json").read_bytes())
        pol = policy.Identity(identity=identity, issuer=issuer)
        if bundle._dsse_envelope is not None:
            _, payload = verifier.verify_dsse(bundle, pol)
            stmt = json.loads(payload)
            subjects = [s.get("digest", {}).get("sha256", "") for s in stmt.get("subject", [])]
            if digest.hex() not in subjects:
                return False, "in-toto subject does not match the artifact"
        else:
            verifier.verify_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest), bundle, pol)
        return True, ""
    except Exception as e:  # any error is a rejection
        return False, f"{type(e).__name__}: {e}"[:300]


def main():
    cases_dir, default_root = Path(sys.argv[1]), Path(sys.argv[2])
    for case in sorted(p for p in cases_dir.iterdir() if p.is_dir()):
        verified, error = run_case(case, default_root, cases_dir / "a.txt")
        print(json.dumps({"case": case.name, "verified": verified, "error": error}), flush=True)


if __name__ == "__main__":
    main()
