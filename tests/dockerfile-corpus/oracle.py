#!/usr/bin/env python3
"""Differential test: our Dockerfile parser against BuildKit's Go parser (PyPI `dockerfile`,
which wraps github.com/moby/buildkit/frontend/dockerfile/parser).

    cargo run -p portcullis-engine --example dockerfile_dump -- CORPUS/*/Dockerfile > ours.jsonl
    python oracle.py --ours ours.jsonl [--json report.json]

Compared per file: whether the parser rejects it (our `syntax` errors vs the oracle's
GoParseError), and per instruction the keyword, first and last line, flags, JSON form,
argument values and heredocs (names and bodies). Our `instruction`/`build` errors have no
counterpart in the parser (BuildKit finds them later) and are only counted.
"""

import argparse
import collections
import json
import sys

import dockerfile


def ours_view(instruction):
    """Our instruction in the oracle's shape."""
    keyword = instruction["keyword"].lower()
    trigger = instruction.get("trigger")
    target = trigger or instruction
    values = list(target["args"])
    if target["keyword"] in ("ENV", "LABEL"):
        values = [v for i, v in enumerate(values) if i % 3 != 2]
    if target["command"]["kind"] == "unknown":
        values = [""]
    return {
        "cmd": keyword,
        "sub_cmd": trigger["keyword"].lower() if trigger else None,
        "json": target["json"],
        "start_line": instruction["line"],
        "end_line": instruction["end_line"],
        "flags": list(instruction["flags"]),
        "value": values,
        "heredocs": [(h["name"], h["content"]) for h in target["heredocs"]],
    }


def oracle_view(command):
    return {
        "cmd": (command.cmd or "").lower(),
        "sub_cmd": command.sub_cmd.lower() if command.sub_cmd else None,
        "json": command.json,
        "start_line": command.start_line,
        "end_line": command.end_line,
        "flags": list(command.flags),
        "value": list(command.value),
        "heredocs": [(h.name, h.content) for h in command.heredocs],
    }


def instructions(parse):
    out = list(parse["preamble"])
    for stage in parse["stages"]:
        out.append(stage["from"])
        out.extend(stage["instructions"])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ours", required=True)
    ap.add_argument("--json")
    args = ap.parse_args()
    tally = collections.Counter()
    disagreements = []
    other_errors = collections.Counter()
    for line in open(args.ours):
        record = json.loads(line)
        path = record["path"]
        parse = record["parse"]
        ours_syntax = [e for e in parse["errors"] if e["kind"] == "syntax"]
        for e in parse["errors"]:
            if e["kind"] != "syntax":
                other_errors[e["kind"]] += 1
        try:
            theirs = [oracle_view(c) for c in dockerfile.parse_file(path)]
            oracle_error = None
        except dockerfile.GoParseError as e:
            theirs = None
            oracle_error = str(e)
        tally["files"] += 1
        if oracle_error or ours_syntax:
            if oracle_error and ours_syntax:
                tally["both reject"] += 1
            else:
                tally["reject disagreement"] += 1
                disagreements.append({"path": path, "oracle_error": oracle_error,
                                      "our_errors": ours_syntax})
            continue
        mine = [ours_view(i) for i in instructions(parse)]
        diffs = []
        for i, (a, b) in enumerate(zip(mine, theirs)):
            fields = [k for k in a if a[k] != b[k]]
            if fields:
                diffs.append({"index": i, "fields": fields,
                              "ours": {k: a[k] for k in fields},
                              "oracle": {k: b[k] for k in fields}})
        if len(mine) != len(theirs):
            diffs.append({"count": [len(mine), len(theirs)]})
        tally["instructions"] += len(theirs)
        if diffs:
            tally["files with instruction differences"] += 1
            disagreements.append({"path": path, "diffs": diffs[:5]})
        else:
            tally["agree"] += 1
    report = {"tally": dict(tally), "our_non_syntax_errors": dict(other_errors),
              "disagreements": disagreements}
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)
    print(json.dumps(report["tally"], indent=1))
    print("non-syntax errors (ours only):", dict(other_errors))
    for d in disagreements[:20]:
        print(json.dumps(d)[:600])
    if len(disagreements) > 20:
        print(f"… {len(disagreements) - 20} more (see --json)")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
