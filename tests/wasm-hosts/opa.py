"""Evaluates a corpus through the OPA module with PyPI opa-py-wasm (wasmtime-py).

usage: python opa.py MODULE CORPUS.json -- same corpus and output lines as opa.mjs.
"""
import json
import sys

from opapywasm import OpaWasmPolicy

module_path, corpus_path = sys.argv[1:3]
policy = OpaWasmPolicy.from_wasm_file(module_path)
with open(corpus_path, encoding="utf-8") as f:
    corpus = json.load(f)
data = None
for item in corpus:
    try:
        item_data = json.dumps(item.get("data") or {}, sort_keys=True)
        if item_data != data:
            policy.set_data(item.get("data") or {})
            data = item_data
        allow = policy.evaluate(item["input"], "portcullis/allow")
        decision = policy.evaluate(item["input"], "portcullis/decision")
        print(json.dumps({"id": item["id"], "allow": allow, "decision": decision}))
    except Exception as e:  # reported per item; the Rust test fails on it
        print(json.dumps({"id": item["id"], "error": repr(e)}))
