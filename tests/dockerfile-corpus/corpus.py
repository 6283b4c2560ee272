#!/usr/bin/env python3
"""The real-world Dockerfile corpus: select it from local git snapshots, or rebuild it from
tests/fixtures/dockerfile/corpus.tsv. See README.md next to this script.

    corpus.py select  --mirrors DIR [--repo owner/name ...] --out corpus.tsv
    corpus.py rebuild --mirrors DIR --tsv corpus.tsv --dest DIR

A snapshot of owner/name is a bare git directory at DIR/owner+name/repo (what the session
`fetch` tool produces), or a clone at DIR/owner+name (`git clone https://github.com/owner/name`).
Files are read with `git show COMMIT:PATH`, so any clone holding the commit works.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys

# Dockerfile-like names; templates, docs and Go sources that merely carry the name are not.
NAME = re.compile(r"(^|/)(Dockerfile|Containerfile)([.-][^/]*)?$|\.[Dd]ockerfile$")
NOT_DOCKERFILE = re.compile(r"\.(go|md|ya?ml|template|tmpl|j2|erb|in|txt|sh|json|want|err)$")
MAX_BYTES = 1024 * 1024

# At most this many files per repository, spread evenly over its sorted paths, so that a
# repository with hundreds of near-identical files does not dominate.
DEFAULT_CAP = 40
CAPS = {
    "jessfraz/dockerfiles": 90,
    "adoptium/containers": 30,
    "docker-library/php": 20,
    "docker-library/python": 16,
    "docker-library/golang": 10,
    "nodejs/docker-node": 14,
}


def git_dir(mirrors, repo):
    base = os.path.join(mirrors, repo.replace("/", "+"))
    bare = os.path.join(base, "repo")
    return bare if os.path.isdir(bare) else os.path.join(base, ".git")


def git(gdir, *args, binary=False):
    out = subprocess.run(["git", "--git-dir", gdir, *args], check=True, capture_output=True)
    return out.stdout if binary else out.stdout.decode()


def select(args):
    repos = args.repo or sorted(
        d.replace("+", "/", 1) for d in os.listdir(args.mirrors) if "+" in d
    )
    rows = []
    for repo in repos:
        gdir = git_dir(args.mirrors, repo)
        if not os.path.isdir(gdir):
            print(f"skip {repo}: no snapshot", file=sys.stderr)
            continue
        commit = git(gdir, "rev-parse", "HEAD").strip()
        listing = git(gdir, "ls-tree", "-r", "-l", "HEAD").splitlines()
        paths = []
        for line in listing:
            meta, path = line.split("\t", 1)
            size = meta.split()[3]
            if NAME.search(path) and not NOT_DOCKERFILE.search(path) and size.isdigit() \
                    and 0 < int(size) <= MAX_BYTES:
                paths.append(path)
        paths.sort()
        cap = CAPS.get(repo, DEFAULT_CAP)
        if len(paths) > cap:
            step = len(paths) / cap
            paths = [paths[int(i * step)] for i in range(cap)]
        for path in paths:
            data = git(gdir, "show", f"{commit}:{path}", binary=True)
            rows.append((repo, commit, path, hashlib.sha256(data).hexdigest()))
    with open(args.out, "w") as out:
        out.write("# id\trepo\tcommit\tpath\tsha256\n")
        for i, (repo, commit, path, digest) in enumerate(rows, 1):
            out.write(f"df{i:04d}\t{repo}\t{commit}\t{path}\t{digest}\n")
    print(f"{len(rows)} files from {len({r[0] for r in rows})} repositories", file=sys.stderr)


def rebuild(args):
    os.makedirs(args.dest, exist_ok=True)
    bad = 0
    count = 0
    for line in open(args.tsv):
        if line.startswith("#") or not line.strip():
            continue
        fid, repo, commit, path, digest = line.rstrip("\n").split("\t")
        data = git(git_dir(args.mirrors, repo), "show", f"{commit}:{path}", binary=True)
        if hashlib.sha256(data).hexdigest() != digest:
            print(f"{fid}: sha256 mismatch for {repo}:{path}", file=sys.stderr)
            bad += 1
            continue
        os.makedirs(os.path.join(args.dest, fid), exist_ok=True)
        with open(os.path.join(args.dest, fid, "Dockerfile"), "wb") as out:
            out.write(data)
        count += 1
    print(f"wrote {count} files to {args.dest}; {bad} mismatches", file=sys.stderr)
    return 1 if bad else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("select")
    s.add_argument("--mirrors", required=True)
    s.add_argument("--repo", action="append")
    s.add_argument("--out", required=True)
    r = sub.add_parser("rebuild")
    r.add_argument("--mirrors", required=True)
    r.add_argument("--tsv", required=True)
    r.add_argument("--dest", required=True)
    args = parser.parse_args()
    sys.exit(select(args) if args.command == "select" else rebuild(args))


if __name__ == "__main__":
    main()
