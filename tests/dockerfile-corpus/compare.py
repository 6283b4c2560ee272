#!/usr/bin/env python3
"""Compares `portcullis check --format json` on the corpus with the peers' verdicts.

    portcullis check CORPUS --config tests/dockerfile-corpus/portcullis.yaml \
        --format json > ours.json
    python3 tests/dockerfile-corpus/compare.py --ours ours.json \
        --peers tests/fixtures/dockerfile/peer-verdicts.json --corpus CORPUS \
        [--details differences.json]

For each pair (our rule, peer checks) it counts, over the files both evaluated, the files
where both fire, where neither does, where only Portcullis does and where only the peer
does; for files where both fire, whether they name the same lines. `--details` writes
every difference with the lines involved, for classifying them by hand.
"""

import argparse
import json
import os
import re
import sys
from collections import defaultdict

# (our rules, peer checks, how the peer is matched): a file "fires" for a side when any of
# its rules fired on it.
PAIRS = [
    (["latest-tag"], ["DL3006", "DL3007"], "hadolint"),
    (["latest-tag"], ["CKV_DOCKER_7"], "checkov"),
    (["untrusted-registry"], ["DL3026"], "hadolint"),
    (["image-runs-as-root"], ["DL3002"], "hadolint"),
    (["image-runs-as-root"], ["CKV_DOCKER_3", "CKV_DOCKER_8"], "checkov"),
    (["hardcoded-secret", "placeholder-credential"], ["CKV_SECRET_*"], "checkov"),
]


def file_id(path):
    match = re.search(r"(df\d{4})", path)
    return match.group(1) if match else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", required=True)
    parser.add_argument("--peers", required=True)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--details")
    args = parser.parse_args()

    ours = json.load(open(args.ours))
    peers = json.load(open(args.peers))["files"]
    fired = defaultdict(lambda: defaultdict(list))  # id -> rule -> [(line, message)]
    for finding in ours["findings"]:
        fid = file_id(finding["resource"]["file"])
        if fid:
            fired[fid][finding["rule"]].append((finding.get("line"), finding["message"]))
    errored = {file_id(e["file"]) for e in ours["errors"]}

    def text_of(fid, line):
        path = os.path.join(args.corpus, fid, "Dockerfile")
        try:
            lines = open(path, encoding="utf-8", errors="replace").read().splitlines()
            return lines[line - 1].strip()[:160] if line and line <= len(lines) else ""
        except OSError:
            return ""

    rows = []
    details = []
    for our_rules, peer_rules, peer in PAIRS:
        counts = defaultdict(int)
        for fid in sorted(peers):
            verdicts = [peers[fid].get(r) for r in peer_rules]
            if all(v is None for v in verdicts):
                counts["peer did not evaluate"] += 1
                continue
            peer_lines = sorted({l for v in verdicts if v for l in v})
            our = [f for r in our_rules for f in fired[fid].get(r, [])]
            our_lines = sorted({l for l, _ in our if l})
            if our and peer_lines:
                counts["both"] += 1
                if set(our_lines) != set(peer_lines):
                    counts["both, other lines"] += 1
                    kind = "both, other lines"
                else:
                    continue
            elif not our and not peer_lines:
                counts["neither"] += 1
                continue
            elif our:
                counts["Portcullis only"] += 1
                kind = "Portcullis only"
            else:
                counts["peer only"] += 1
                kind = "peer only"
            details.append({
                "pair": f"{'+'.join(our_rules)} / {'+'.join(peer_rules)}",
                "kind": kind,
                "file": fid,
                "portcullis_error": fid in errored,
                "ours": [{"line": l, "message": m, "text": text_of(fid, l)} for l, m in our],
                "peer": [{"line": l, "text": text_of(fid, l)} for l in peer_lines],
            })
        rows.append((our_rules, peer_rules, peer, counts))

    print("| Portcullis | peer | both fire | neither | Portcullis only | peer only | both, other lines | peer did not evaluate |")
    print("|---|---|---|---|---|---|---|---|")
    for our_rules, peer_rules, peer, c in rows:
        print(
            f"| {', '.join('`%s`' % r for r in our_rules)} | {peer} {', '.join(peer_rules)} "
            f"| {c['both']} | {c['neither']} | {c['Portcullis only']} | {c['peer only']} "
            f"| {c['both, other lines']} | {c['peer did not evaluate']} |"
        )
    if args.details:
        with open(args.details, "w") as out:
            json.dump(details, out, indent=1)
        print(f"{len(details)} differences written to {args.details}", file=sys.stderr)


if __name__ == "__main__":
    main()
