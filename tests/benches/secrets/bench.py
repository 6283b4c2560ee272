#!/usr/bin/env python3
"""Precision and recall of three credential detectors on the labelled env-var set.

    python3 tests/benches/secrets/bench.py [--dir DIR] [--set FILE]

Installs, into DIR (default: $TMPDIR/portcullis-secrets-bench), PyPI `detect-secrets==1.5.0`
(in a venv) and npm `secretlint` with `@secretlint/secretlint-rule-preset-recommend` (pinned
below); renders every labelled row as a file in two layouts; runs both tools over them; runs
Portcullis's detector through `cargo run -p portcullis-engine --example secret_bench -- --rows`;
and prints one Markdown table per scoring, for all rows and for the held-out rows.

Layouts (a row is one file, so a finding anywhere in the file is a finding for that row):
  env  `NAME: 'value'`, a YAML map as in a compose `environment:` block or a values file: the
       form keyword-based scanners read best (multi-line values as a block scalar);
  k8s  a Pod with one `env` entry, `- name: NAME` / `value: 'value'`: what Portcullis checks.
Portcullis reads the `(name, value)` pair itself, as its rule does after normalizing a manifest.

Scoring (the same for every tool):
  strict   positive = a row labelled `secret`; a tool is right on it when it reports the row
           (Portcullis: a `Secret` verdict). A placeholder reported as a credential is a false
           positive: it gets the wrong advice ("revoke the exposed credential"). Portcullis's
           `Placeholder` verdict is a negative.
  lenient  the same, with placeholder rows left out, for tools that have no notion of one.
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

DETECT_SECRETS = "detect-secrets==1.5.0"
SECRETLINT = ["secretlint@13.0.6", "@secretlint/secretlint-rule-preset-recommend@13.1.0"]
REPO = Path(__file__).resolve().parents[3]


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, **kw)


def install(base: Path):
    venv = base / "venv"
    if not (venv / "bin" / "detect-secrets").exists():
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "-q", DETECT_SECRETS])
    node = base / "node"
    if not (node / "node_modules" / ".bin" / "secretlint").exists():
        node.mkdir(parents=True, exist_ok=True)
        run(["npm", "install", "--prefix", str(node), "--no-audit", "--no-fund", "--loglevel=error", *SECRETLINT])
    return venv / "bin" / "detect-secrets", node / "node_modules" / ".bin" / "secretlint"


def yaml_scalar(value: str, indent: str) -> str:
    """A YAML scalar for `value` whose text in the file is the value itself, as a scanner
    reading raw lines would see it in a real file: a block literal for multi-line text,
    single quotes otherwise (they keep backslashes literal; only `'` is doubled)."""
    if "\n" in value.rstrip("\n"):
        chomp = "|" if value.endswith("\n") else "|-"
        body = "\n".join(indent + "  " + line if line else "" for line in value.rstrip("\n").split("\n"))
        return f"{chomp}\n{body}"
    if any(ord(c) < 32 for c in value):
        return json.dumps(value)  # JSON strings are YAML double-quoted scalars
    return "'" + value.replace("'", "''") + "'"


def yaml_key(name: str) -> str:
    plain = name and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c in "_.-" for c in name)
    return name if plain else json.dumps(name)


def render(rows, base: Path):
    layouts = {"env": base / "render" / "env", "k8s": base / "render" / "k8s"}
    for path in layouts.values():
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.yaml"):
            old.unlink()
    for row in rows:
        file = f"{row['id']:05d}.yaml"
        (layouts["env"] / file).write_text(f"{yaml_key(row['name'])}: {yaml_scalar(row['value'], '')}\n")
        (layouts["k8s"] / file).write_text(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n"
            "    - name: app\n      image: registry.example.com/app:1.0\n      env:\n"
            f"        - name: {json.dumps(row['name'])}\n"
            f"          value: {yaml_scalar(row['value'], '          ')}\n"
        )
    return layouts


def row_id(path: str) -> int:
    return int(Path(path).stem)


def detect_secrets(binary: Path, folder: Path):
    out = run([str(binary), "scan", "--all-files", "."], cwd=folder, capture_output=True).stdout
    return {row_id(name) for name, found in json.loads(out)["results"].items() if found}


def secretlint(binary: Path, folder: Path):
    (folder / ".secretlintrc.json").write_text(json.dumps({"rules": [{"id": "@secretlint/secretlint-rule-preset-recommend"}]}))
    # Exit code 1 means "found something"; the JSON report is on stdout either way.
    proc = subprocess.run([str(binary), "--format", "json", "*.yaml"], cwd=folder, text=True, capture_output=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"secretlint failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {row_id(item["filePath"]) for item in json.loads(proc.stdout) if item.get("messages")}


def portcullis(labelled: Path, *flags):
    out = run(
        ["cargo", "run", "-q", "-p", "portcullis-engine", "--example", "secret_bench", "--", "--rows", *flags, str(labelled)],
        cwd=REPO, capture_output=True,
    ).stdout
    verdicts = {}
    for line in out.splitlines():
        rid, verdict, _kind = line.split("\t")
        verdicts[int(rid)] = verdict
    return verdicts


def score(rows, flagged, lenient):
    tp = fp = fn = 0
    for row in rows:
        if lenient and row["label"] == "placeholder":
            continue
        positive, reported = row["label"] == "secret", row["id"] in flagged
        tp += positive and reported
        fp += (not positive) and reported
        fn += positive and not reported
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return tp, fp, fn, precision, recall, f1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "portcullis-secrets-bench")
    parser.add_argument("--set", type=Path, default=REPO / "tests/fixtures/secrets/labelled-env.jsonl")
    args = parser.parse_args()
    base = args.dir.resolve()
    base.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in args.set.read_text().splitlines() if line.strip()]

    ds_bin, sl_bin = install(base)
    layouts = render(rows, base)
    verdicts = portcullis(args.set.resolve())
    before = portcullis(args.set.resolve(), "--baseline")
    results = {
        "Portcullis `credentials::classify`": {rid for rid, v in verdicts.items() if v == "secret"},
        "Portcullis today (`hardcoded-secret` rule)": {rid for rid, v in before.items() if v == "secret"},
    }
    for layout, folder in layouts.items():
        results[f"detect-secrets 1.5.0 ({layout})"] = detect_secrets(ds_bin, folder)
        results[f"secretlint 13.0.6 + preset-recommend 13.1.0 ({layout})"] = secretlint(sl_bin, folder)

    subsets = {"all rows": rows, "held-out rows": [r for r in rows if r.get("set", "").startswith("holdout")]}
    for subset, chosen in subsets.items():
        labels = collections.Counter(r["label"] for r in chosen)
        for lenient in (False, True):
            title = "lenient, placeholders left out" if lenient else "strict, placeholders are negatives"
            print(f"\n### {subset} ({len(chosen)}: {labels['secret']} secret, {labels['placeholder']} placeholder, "
                  f"{labels['not-secret']} not-secret), {title}\n")
            print("| tool | TP | FP | FN | precision | recall | F1 |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            for tool, flagged in results.items():
                tp, fp, fn, p, r, f = score(chosen, flagged, lenient)
                print(f"| {tool} | {tp} | {fp} | {fn} | {p:.3f} | {r:.3f} | {f:.3f} |")

    # Recall by where the secret rows come from: known key formats (synthetic rows) need a
    # format scanner; real rows are mostly literal passwords that only the name gives away.
    secrets = [r for r in rows if r["label"] == "secret"]
    groups = {
        "key-format rows (synthetic)": [r for r in secrets if r["source"].startswith("synthetic")],
        "real rows": [r for r in secrets if not r["source"].startswith("synthetic")],
    }
    print("\n### recall by kind of secret row\n")
    print("| tool | " + " | ".join(f"{g} ({len(v)})" for g, v in groups.items()) + " |")
    print("|---|" + "---:|" * len(groups))
    for tool, flagged in results.items():
        cells = [f"{sum(r['id'] in flagged for r in v) / len(v):.3f}" for v in groups.values()]
        print(f"| {tool} | " + " | ".join(cells) + " |")

    # Where each tool went wrong, for reading (not printed: values are credential-shaped).
    for tool, flagged in results.items():
        slug = "".join(c if c.isalnum() else "-" for c in tool.lower()).strip("-")
        with open(base / f"errors-{slug}.tsv", "w") as out:
            for row in rows:
                positive, reported = row["label"] == "secret", row["id"] in flagged
                if positive != reported:
                    kind = "FN" if positive else "FP"
                    out.write(f"{kind}\t{row['id']}\t{row['label']}\t{row['name']}\t{row['source']}\n")
    placeholders = [r for r in rows if r["label"] == "placeholder"]
    called = sum(verdicts.get(r["id"]) == "placeholder" for r in placeholders)
    print(f"\nPortcullis calls {called} of {len(placeholders)} placeholder rows placeholders; "
          f"errors per tool: {base}/errors-*.tsv")


if __name__ == "__main__":
    main()
