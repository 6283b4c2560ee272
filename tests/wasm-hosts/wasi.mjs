// Runs the WASI command module with Node's node:wasi, once per corpus item, as
// Kubewarden's executionMode: wasi does (a fresh instance per evaluation).
// usage: node wasi.mjs MODULE CORPUS.json
// CORPUS: [{"id", "command", "stdin"}]; prints {"id", "status", "stdout"} per item.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { WASI } from "node:wasi";

const [modulePath, corpusPath] = process.argv.slice(2);
const module = await WebAssembly.compile(fs.readFileSync(modulePath));
const corpus = JSON.parse(fs.readFileSync(corpusPath, "utf8"));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portcullis-wasi-"));
for (const item of corpus) {
  const input = path.join(dir, "stdin.json");
  const output = path.join(dir, "stdout.json");
  fs.writeFileSync(input, item.stdin);
  const stdin = fs.openSync(input, "r");
  const stdout = fs.openSync(output, "w");
  const wasi = new WASI({ version: "preview1", args: ["policy.wasm", item.command], env: {}, stdin, stdout, stderr: 2, returnOnExit: true });
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  const status = wasi.start(instance);
  fs.closeSync(stdin);
  fs.closeSync(stdout);
  console.log(JSON.stringify({ id: item.id, status, stdout: fs.readFileSync(output, "utf8") }));
}
fs.rmSync(dir, { recursive: true });
