#!/usr/bin/env python3
"""Save-to-output latency of `portcullis check --watch` (docs/benchmarks.md, "Watch mode").

Usage: watch_latency.py PORTCULLIS [MANIFEST_DIR]

Starts a watch over MANIFEST_DIR (copied to a scratch dir; default: one generated Pod) with
a scaffolded custom rule, then 20 times rewrites one manifest and 20 times edits the rule,
timing each save until the watch prints its `done in` line. Prints medians and maxima.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

binary = os.path.abspath(sys.argv[1])
source = sys.argv[2] if len(sys.argv) > 2 else None
work = tempfile.mkdtemp(prefix="watch-latency-")
manifests = os.path.join(work, "manifests")
if source:
    shutil.copytree(source, manifests)
else:
    os.makedirs(manifests)
    with open(os.path.join(manifests, "pod.yaml"), "w") as f:
        f.write('apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n'
                '  containers: [{name: app, image: "registry.example.com/a:1"}]\n')
subprocess.run([binary, "new", "rule", "team-rule", "--dir", "policies"], cwd=work,
               check=True, capture_output=True)
target = os.path.join(manifests, sorted(f for f in os.listdir(manifests) if f.endswith(".yaml"))[0])
original = open(target).read()
rule = os.path.join(work, "policies", "team-rule.rhai")
rule_text = open(rule).read()

watch = subprocess.Popen([binary, "check", "--watch", "manifests", "--rules", "policies",
                          "--color", "never"], cwd=work, stdout=subprocess.PIPE, text=True,
                         bufsize=1)


def wait_for(marker):
    for line in watch.stdout:
        if marker in line:
            return line.strip()
    raise SystemExit("watch ended early")


start = time.monotonic()
wait_for("watching for changes")
print("initial run: %.0f ms" % ((time.monotonic() - start) * 1000))
times = {"manifest edit": [], "rule edit": []}
last = {}
for i in range(1, 21):
    time.sleep(0.3)
    start = time.monotonic()
    with open(target, "w") as f:
        f.write(original + "\n# edit %d\n" % i)
    last["manifest edit"] = wait_for("done in")
    times["manifest edit"].append((time.monotonic() - start) * 1000)
    time.sleep(0.3)
    start = time.monotonic()
    with open(rule, "w") as f:
        f.write(rule_text.replace('severity: "medium"', 'severity: "%s"' % ("high" if i % 2 else "medium")))
    last["rule edit"] = wait_for("done in")
    times["rule edit"].append((time.monotonic() - start) * 1000)
watch.send_signal(2)
watch.wait()
for name, values in times.items():
    print("%s: median %.0f ms, max %.0f ms (n=%d); last: %s" % (
        name, statistics.median(values), max(values), len(values), last[name]))
shutil.rmtree(work)
