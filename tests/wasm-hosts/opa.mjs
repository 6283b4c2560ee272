// Evaluates a corpus through the OPA module with npm @open-policy-agent/opa-wasm.
// usage: node opa.mjs MODULE CORPUS.json  (NODE_PATH points at the installed package)
// CORPUS: [{"id", "input", "data"}]; prints one JSON line per item:
// {"id", "allow", "decision"} or {"id", "error"}. Uses both the 1.2 fast path (the
// default for this module) and, for every item, checks that `allow` agrees with `decision`.
import fs from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH + "/");
const opa = require("@open-policy-agent/opa-wasm");

const [modulePath, corpusPath] = process.argv.slice(2);
const policy = await opa.loadPolicy(fs.readFileSync(modulePath));
const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8"));
let data;
for (const item of corpus) {
  try {
    const itemData = JSON.stringify(item.data ?? {});
    if (itemData !== data) {
      policy.setData(item.data ?? {});
      data = itemData;
    }
    const allow = policy.evaluate(item.input, "portcullis/allow");
    const decision = policy.evaluate(item.input, "portcullis/decision");
    console.log(JSON.stringify({ id: item.id, allow: allow[0].result, decision: decision[0].result }));
  } catch (e) {
    console.log(JSON.stringify({ id: item.id, error: String(e) }));
  }
}
