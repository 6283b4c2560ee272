//! The WebAssembly modules in hosts that others wrote: the waPC stack Kubewarden uses
//! (`wapc` + `wasmtime-provider`), npm `@open-policy-agent/opa-wasm` and PyPI `opa-py-wasm`
//! for the OPA ABI, wasmtime-wasi and Node's `node:wasi` for the WASI command, and our own
//! `portcullis wasm run`. One corpus of AdmissionReviews goes through all of them, natively
//! and through the CLI; decisions and findings must be identical.
//!
//! The modules come from `portcullis wasm build` (the user's path), with a custom rule
//! bundled. Node, the npm package and the Python venv are installed by `.ci/wasm-hosts`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use portcullis_engine::Date;
use portcullis_tests::workspace_root;
use portcullis_wasm_plugin::bundle::{Bundle, BundledRule};
use portcullis_wasm_plugin::{Decision, Plugin, Violation};
use serde_json::{Value, json};

/// The CLI binary next to this test executable, built on first use if `cargo test` did not.
fn binary() -> &'static PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap();
        let path = dir.join(format!("portcullis{}", std::env::consts::EXE_SUFFIX));
        if !path.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "portcullis"])
                .current_dir(workspace_root())
                .status()
                .unwrap();
            assert!(status.success());
        }
        path
    })
}

fn scratch(name: &str) -> PathBuf {
    let dir = workspace_root()
        .join("target/tmp")
        .join(format!("wasm-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The three modules built by `portcullis wasm build --rules <fixture>`.
struct Modules {
    wapc: PathBuf,
    opa: PathBuf,
    wasi: PathBuf,
}

fn build_modules(rules: &str, name: &str) -> Modules {
    let out = scratch(name);
    let output = Command::new(binary())
        .args(["wasm", "build", "--rules"])
        .arg(workspace_root().join("tests/fixtures").join(rules))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "portcullis wasm build failed (the CLI needs the wasm32-wasip1 and \
         wasm32-unknown-unknown targets when it is built; run .ci/wasm-hosts): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Modules {
        wapc: out.join("portcullis-wapc.wasm"),
        opa: out.join("portcullis-opa.wasm"),
        wasi: out.join("portcullis-wasi.wasm"),
    }
}

fn modules() -> &'static Modules {
    static MODULES: OnceLock<Modules> = OnceLock::new();
    MODULES.get_or_init(|| build_modules("wasm-rules", "parity"))
}

/// What the native engine is given: the default pack plus the same bundled rule.
fn native_plugin(rules: &str) -> Plugin {
    let dir = workspace_root().join("tests/fixtures").join(rules);
    let mut bundle = Bundle::default();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        bundle.rules.push(BundledRule {
            origin: path.display().to_string(),
            id: path.file_stem().unwrap().to_str().unwrap().to_string(),
            source: std::fs::read_to_string(&path).unwrap(),
        });
    }
    Plugin::with_bundle(bundle).unwrap()
}

/// Whether the modules and the third-party hosts are here. Without them (a machine where
/// `.ci/wasm-hosts` has not run) the tests say SKIPPED; with CI=true they must run.
fn prerequisites() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let dir = std::env::var_os("PORTCULLIS_WASM_HOSTS")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/wasm-hosts"));
        if !(dir
            .join("node_modules/@open-policy-agent/opa-wasm")
            .is_dir()
            && dir.join("venv/bin/python").is_file())
        {
            return Err(format!(
                "the third-party hosts are missing from {}",
                dir.display()
            ));
        }
        let probe = Command::new(binary())
            .args(["wasm", "build", "--out"])
            .arg(scratch("probe"))
            .output()
            .unwrap();
        if !probe.status.success() {
            return Err("this portcullis was built without WebAssembly modules".into());
        }
        Ok(())
    });
    match ready {
        Ok(()) => true,
        Err(what) => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "{what}: .ci/run installs them (.ci/wasm-hosts) before the tests"
            );
            portcullis_tests::say_skipped(&format!(
                "WebAssembly tests: {what}; run .ci/wasm-hosts, then rebuild, to run them"
            ));
            false
        }
    }
}

/// Where `.ci/wasm-hosts` installed the npm packages and the Python venv.
fn hosts_dir() -> PathBuf {
    let dir = std::env::var_os("PORTCULLIS_WASM_HOSTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/wasm-hosts"));
    assert!(
        dir.join("node_modules/@open-policy-agent/opa-wasm")
            .is_dir()
            && dir.join("venv/bin/python").is_file(),
        "the third-party hosts are missing from {}: run .ci/wasm-hosts",
        dir.display()
    );
    dir
}

/// One request of the corpus.
struct Case {
    id: String,
    review: Value,
}

fn review(id: &str, object: Value, operation: &str) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": id,
            "kind": {"group": group, "version": version, "kind": object["kind"]},
            "operation": operation,
            "namespace": object["metadata"]["namespace"].as_str().unwrap_or("default"),
            "name": object["metadata"]["name"],
            "userInfo": {"username": "tester"},
            "object": object,
        }
    })
}

/// Every case of every rule's test file (each rule firing and not firing), the same pod
/// in every controller kind, and admission-specific requests.
fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(workspace_root().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tests.yaml"))
        .collect();
    files.sort();
    for file in files {
        let tests: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let stem = file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".tests.yaml", "");
        for (i, case) in tests["cases"].as_array().unwrap().iter().enumerate() {
            // Cases with their own settings are evaluated with defaults here: the point is
            // that every evaluator agrees, whatever fires.
            let manifest = case["manifest"].as_str().unwrap_or("");
            for (j, doc) in manifest.split("\n---").enumerate() {
                let Ok(object) = serde_yaml::from_str::<Value>(doc) else {
                    continue;
                };
                if object.get("kind").and_then(Value::as_str).is_none() {
                    continue;
                }
                let id = format!("{stem}-{i}-{j}");
                cases.push(Case {
                    review: review(&id, object, "CREATE"),
                    id,
                });
            }
        }
    }
    let pod_spec = |image: &str, hardened: bool| {
        let security = if hardened {
            json!({"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false})
        } else {
            json!({"privileged": true})
        };
        json!({"containers": [{"name": "app", "image": image, "securityContext": security}],
               "imagePullSecrets": [{"name": "pull"}]})
    };
    let kinds = [
        ("v1", "Pod"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("v1", "ReplicationController"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("v1", "PodTemplate"),
    ];
    let pinned = "registry.company.com/shop/api:2.3.1@sha256:4b0ee8c5b8ce02c4c3a6d8a6a6b3e2d1c0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5";
    for (api_version, kind) in kinds {
        for (variant, image, hardened) in [("bad", "alpine", false), ("good", pinned, true)] {
            let spec = pod_spec(image, hardened);
            let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": spec});
            let body = match kind {
                "Pod" => json!({"spec": spec}),
                "CronJob" => {
                    json!({"spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": template}}}})
                }
                "PodTemplate" => json!({"template": template}),
                _ => json!({"spec": {"template": template}}),
            };
            let mut object = json!({"apiVersion": api_version, "kind": kind,
                                    "metadata": {"name": format!("{}-{variant}", kind.to_lowercase()), "namespace": "shop"}});
            object
                .as_object_mut()
                .unwrap()
                .extend(body.as_object().unwrap().clone());
            let id = format!("kind-{kind}-{variant}");
            cases.push(Case {
                review: review(&id, object, "CREATE"),
                id,
            });
        }
    }
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                     "spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}});
    cases.push(Case {
        id: "delete".into(),
        review: review("delete", pod.clone(), "DELETE"),
    });
    let mut exempted = pod.clone();
    exempted["metadata"]["annotations"] = json!({
        "portcullis.dev/exempt": "*", "portcullis.dev/exempt-reason": "vendor image"});
    cases.push(Case {
        id: "annotation-exempt".into(),
        review: review("annotation-exempt", exempted, "UPDATE"),
    });
    let mut no_object = review("no-object", pod.clone(), "CREATE");
    no_object["request"]
        .as_object_mut()
        .unwrap()
        .remove("object");
    cases.push(Case {
        id: "no-object".into(),
        review: no_object,
    });
    let mut bad_kind = review("bad-containers", pod, "CREATE");
    bad_kind["request"]["object"]["spec"]["containers"] = json!("not a list");
    cases.push(Case {
        id: "bad-containers".into(),
        review: bad_kind,
    });
    cases
}

/// What every evaluator must agree on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    allowed: bool,
    /// The request could not be evaluated (code 400).
    error: bool,
    findings: Vec<String>,
}

fn from_decision(decision: &Decision) -> Outcome {
    Outcome {
        allowed: decision.allowed,
        error: !decision.errors.is_empty(),
        findings: decision.violations.iter().map(Violation::line).collect(),
    }
}

fn from_validation_response(response: &Value) -> Outcome {
    Outcome {
        allowed: response["accepted"].as_bool().expect("accepted"),
        error: response["code"] == 400,
        findings: response["warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| w.as_str().unwrap().to_string())
            .collect(),
    }
}

fn from_opa_decision(decision: &Value) -> Outcome {
    from_decision(&serde_json::from_value(decision.clone()).expect("a Decision"))
}

fn native(plugin: &Plugin, review: &Value) -> Outcome {
    let policy = plugin.policy(&json!({}), Date::today()).unwrap();
    from_decision(&plugin.evaluate(&policy, review.clone()))
}

/// The native decision as the Kubewarden ValidationResponse the waPC and WASI modules
/// answer: warnings are cut to what Kubernetes shows, so compare like with like.
fn native_response(plugin: &Plugin, review: &Value) -> Outcome {
    let policy = plugin.policy(&json!({}), Date::today()).unwrap();
    from_validation_response(
        &plugin
            .evaluate(&policy, review.clone())
            .to_validation_response(),
    )
}

fn validation_request(review: &Value) -> Value {
    json!({"request": review["request"], "settings": {}})
}

fn assert_agree(host: &str, expected: &BTreeMap<String, Outcome>, got: &BTreeMap<String, Outcome>) {
    assert_eq!(
        expected.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "{host}: answered a different set of requests"
    );
    for (id, outcome) in expected {
        assert_eq!(
            &got[id], outcome,
            "{host} disagrees with the native engine on `{id}`"
        );
    }
}

fn compile_wasmtime(path: &Path) -> (wasmtime::Engine, wasmtime::Module) {
    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::from_file(&engine, path).unwrap();
    (engine, module)
}

/// One waPC host (wasmtime-provider) per module, as policy-server keeps one per policy.
fn wapc_host(path: &Path) -> wapc::WapcHost {
    let (engine, module) = compile_wasmtime(path);
    let provider = wasmtime_provider::WasmtimeEngineProviderBuilder::new()
        .engine(engine)
        .module(module)
        .build()
        .unwrap();
    wapc::WapcHost::new(Box::new(provider), None).unwrap()
}

/// Runs the WASI command in wasmtime-wasi with in-memory stdio; returns (exit, stdout).
fn wasi_run(
    engine: &wasmtime::Engine,
    module: &wasmtime::Module,
    command: &str,
    stdin: &[u8],
) -> (i32, String) {
    use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
    let stdout = MemoryOutputPipe::new(1 << 24);
    let wasi = wasmtime_wasi::WasiCtxBuilder::new()
        .args(&["policy.wasm", command])
        .stdin(MemoryInputPipe::new(stdin.to_vec()))
        .stdout(stdout.clone())
        .inherit_stderr()
        .build_p1();
    let mut store = wasmtime::Store::new(engine, wasi);
    let mut linker = wasmtime::Linker::new(engine);
    wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |ctx| ctx).unwrap();
    let instance = linker.instantiate(&mut store, module).unwrap();
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .unwrap();
    let status = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => {
            e.downcast_ref::<wasmtime_wasi::I32Exit>()
                .expect("only exits")
                .0
        }
    };
    (
        status,
        String::from_utf8(stdout.contents().to_vec()).unwrap(),
    )
}

fn node(args: &[&Path]) -> Vec<Value> {
    let output = Command::new("node")
        .arg("--no-warnings")
        .args(args)
        .env("NODE_PATH", hosts_dir().join("node_modules"))
        .output()
        .expect("node is installed");
    assert!(
        output.status.success(),
        "node {args:?}: {} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    lines(&output.stdout)
}

fn python(args: &[&Path]) -> Vec<Value> {
    let output = Command::new(hosts_dir().join("venv/bin/python"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    lines(&output.stdout)
}

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_host_agrees_with_the_native_engine_and_the_cli() {
    if !prerequisites() {
        return;
    }
    let modules = modules();
    let plugin = native_plugin("wasm-rules");
    let cases = corpus();
    assert!(cases.len() > 60, "the corpus covers every rule's cases");
    let expected: BTreeMap<String, Outcome> = cases
        .iter()
        .map(|c| (c.id.clone(), native(&plugin, &c.review)))
        .collect();
    // The corpus is only worth something if it both allows and denies, fires every rule
    // (the bundled one included) and holds malformed requests.
    let fired: std::collections::BTreeSet<&str> = expected
        .values()
        .flat_map(|o| o.findings.iter())
        .filter_map(|line| line.split(": ").next()?.split("] ").nth(1))
        .collect();
    for rule in plugin.rules().ids() {
        // `missing-pull-secret` only fires for registries configured as private; the
        // corpus runs with default settings. The image-facts rules need facts, which the
        // modules are not given here: they stay quiet everywhere (the bundled-facts tests
        // below cover them). `missing-checksum` reads only Dockerfiles, which admission
        // requests never carry; `unsigned-image` is off until trust is configured
        // (bundled_signature_material_gives_the_cli_verdicts_in_the_modules covers it).
        if !matches!(
            rule,
            "missing-pull-secret"
                | "vulnerable-image"
                | "secret-in-image"
                | "non-minimal-image"
                | "image-runs-as-root"
                | "unscanned-image"
                | "missing-checksum"
                | "unsigned-image"
        ) {
            assert!(fired.contains(rule), "no case fires `{rule}`: {fired:?}");
        }
    }
    assert!(expected.values().any(|o| o.allowed) && expected.values().any(|o| o.error));
    let expected_responses: BTreeMap<String, Outcome> = cases
        .iter()
        .map(|c| (c.id.clone(), native_response(&plugin, &c.review)))
        .collect();

    // The CLI on the same reviews (built-in rules only: the CLI has no bundle).
    let dir = scratch("cli-corpus");
    for case in &cases {
        std::fs::write(
            dir.join(format!("{}.json", case.id)),
            case.review.to_string(),
        )
        .unwrap();
    }
    let output = Command::new(binary())
        .args(["check", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut cli: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in report["findings"].as_array().unwrap() {
        let id = Path::new(f["resource"]["file"].as_str().unwrap())
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let violation: Violation = serde_json::from_value(json!({
            "rule": f["rule"], "severity": f["severity"], "message": f["message"],
            "kind": f["resource"]["kind"], "namespace": f["resource"]["namespace"],
            "name": f["resource"]["name"], "container": f["container"], "path": f["path"]}))
        .unwrap();
        cli.entry(id).or_default().push(violation.line());
    }
    let cli_errors: std::collections::BTreeSet<String> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            Path::new(e["file"].as_str().unwrap())
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for (id, outcome) in &expected {
        let builtin: Vec<&String> = outcome
            .findings
            .iter()
            .filter(|l| !l.contains("] no-alpine:"))
            .collect();
        let from_cli: Vec<&String> = cli.get(id).map(|v| v.iter().collect()).unwrap_or_default();
        assert_eq!(from_cli, builtin, "the CLI disagrees on `{id}`");
        assert_eq!(
            cli_errors.contains(id),
            outcome.error,
            "the CLI disagrees on errors in `{id}`"
        );
    }

    // waPC in Kubewarden's host stack.
    let host = wapc_host(&modules.wapc);
    let got = cases
        .iter()
        .map(|c| {
            let answer = host
                .call(
                    "validate",
                    validation_request(&c.review).to_string().as_bytes(),
                )
                .unwrap();
            (
                c.id.clone(),
                from_validation_response(&serde_json::from_slice(&answer).unwrap()),
            )
        })
        .collect();
    assert_agree("waPC (wasmtime-provider)", &expected_responses, &got);

    // WASI command in wasmtime-wasi and in node:wasi.
    let (engine, module) = compile_wasmtime(&modules.wasi);
    let got = cases
        .iter()
        .map(|c| {
            let (status, stdout) = wasi_run(
                &engine,
                &module,
                "validate",
                validation_request(&c.review).to_string().as_bytes(),
            );
            assert_eq!(status, 0, "denials exit 0 too");
            (
                c.id.clone(),
                from_validation_response(&serde_json::from_str(&stdout).unwrap()),
            )
        })
        .collect();
    assert_agree("WASI (wasmtime-wasi)", &expected_responses, &got);
    let wasi_corpus = scratch("wasi-corpus").join("corpus.json");
    let items: Vec<Value> = cases
        .iter()
        .map(|c| json!({"id": c.id, "command": "validate", "stdin": validation_request(&c.review).to_string()}))
        .collect();
    // A fresh instance per request, as Kubewarden runs WASI policies; Node 20 segfaulted
    // now and then after some hundreds of them in one process (about 1 run in 5 of the
    // whole corpus, never in 30 runs of small batches), so each process gets a batch.
    let script = workspace_root().join("tests/wasm-hosts/wasi.mjs");
    let got = items
        .chunks(8)
        .enumerate()
        .flat_map(|(i, batch)| {
            let file = wasi_corpus.with_file_name(format!("batch-{i}.json"));
            std::fs::write(&file, Value::from(batch.to_vec()).to_string()).unwrap();
            node(&[&script, &modules.wasi, &file])
        })
        .map(|line| {
            assert_eq!(line["status"], 0);
            let response: Value = serde_json::from_str(line["stdout"].as_str().unwrap()).unwrap();
            (
                line["id"].as_str().unwrap().to_string(),
                from_validation_response(&response),
            )
        })
        .collect();
    assert_agree("WASI (node:wasi)", &expected_responses, &got);

    // OPA ABI in npm @open-policy-agent/opa-wasm and PyPI opa-py-wasm. `today` dates
    // exemption expiry, since the ABI has no clock.
    let opa_corpus = scratch("opa-corpus").join("corpus.json");
    let today = Date::today().to_string();
    let items: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut input = c.review.clone();
            input["today"] = today.clone().into();
            json!({"id": c.id, "input": input, "data": {}})
        })
        .collect();
    std::fs::write(&opa_corpus, Value::from(items).to_string()).unwrap();
    for (name, lines) in [
        (
            "OPA (npm opa-wasm)",
            node(&[
                &workspace_root().join("tests/wasm-hosts/opa.mjs"),
                &modules.opa,
                &opa_corpus,
            ]),
        ),
        (
            "OPA (opa-py-wasm)",
            python(&[
                &workspace_root().join("tests/wasm-hosts/opa.py"),
                &modules.opa,
                &opa_corpus,
            ]),
        ),
    ] {
        let got = lines
            .into_iter()
            .map(|line| {
                assert!(line.get("error").is_none(), "{name}: {line}");
                let outcome = from_opa_decision(&line["decision"]);
                assert_eq!(
                    line["allow"], outcome.allowed,
                    "{name}: allow and decision agree"
                );
                (line["id"].as_str().unwrap().to_string(), outcome)
            })
            .collect();
        assert_agree(name, &expected, &got);
    }

    // Our own host, `portcullis wasm run`, on a denied and an allowed request per module.
    for id in ["kind-Deployment-bad", "kind-Deployment-good"] {
        let case = cases.iter().find(|c| c.id == id).unwrap();
        let request = scratch("run").join(format!("{id}.json"));
        std::fs::write(&request, case.review.to_string()).unwrap();
        for module in [&modules.wapc, &modules.opa, &modules.wasi] {
            let output = Command::new(binary())
                .args(["wasm", "run"])
                .arg(module)
                .arg("--request")
                .arg(&request)
                .output()
                .unwrap();
            let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
            let (outcome, expected) = if module == &modules.opa {
                (from_opa_decision(&answer[0]["result"]), &expected[id])
            } else {
                (from_validation_response(&answer), &expected_responses[id])
            };
            assert_eq!(&outcome, expected, "wasm run {} on {id}", module.display());
            let code = if outcome.allowed { 0 } else { 1 };
            assert_eq!(output.status.code(), Some(code));
        }
    }
}

#[test]
fn settings_are_validated_with_the_cli_messages_in_every_module() {
    if !prerequisites() {
        return;
    }
    let modules = modules();
    let bad = json!({"rules": {"no-such-rule": {}, "latest-tag": {"disallowed-tags": 3}}});
    // The CLI's words for the same configuration.
    let config = scratch("settings").join("bad.yaml");
    std::fs::write(&config, bad.to_string()).unwrap();
    let output = Command::new(binary())
        .args(["check", "--config"])
        .arg(&config)
        .arg(workspace_root().join("examples"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let host = wapc_host(&modules.wapc);
    let answer: Value = serde_json::from_slice(
        &host
            .call("validate_settings", bad.to_string().as_bytes())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(answer["valid"], false);
    let message = answer["message"].as_str().unwrap();
    // The module also knows the bundled `no-alpine`, so its list of known rules is longer.
    for part in message
        .split("; ")
        .filter(|p| !p.starts_with("known rules:"))
    {
        assert!(
            stderr.contains(part),
            "the CLI does not say `{part}`:\n{stderr}"
        );
    }
    let good: Value = serde_json::from_slice(
        &host
            .call(
                "validate_settings",
                br#"{"rules": {"latest-tag": {"severity": "low"}}}"#,
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(good, json!({"valid": true}));
    let protocol = host.call("protocol_version", b"").unwrap();
    assert_eq!(protocol, br#""v1""#);

    let (engine, module) = compile_wasmtime(&modules.wasi);
    let (status, stdout) = wasi_run(
        &engine,
        &module,
        "validate-settings",
        bad.to_string().as_bytes(),
    );
    assert_eq!(status, 0);
    let wasi_answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(wasi_answer, answer);
}

#[test]
fn runaway_rules_and_malformed_requests_get_answers_not_traps() {
    if !prerequisites() {
        return;
    }
    let modules = build_modules("wasm-runaway-rules", "runaway");
    let request = corpus()
        .into_iter()
        .find(|c| c.id == "kind-Pod-good")
        .unwrap();
    let payload = validation_request(&request.review).to_string();

    let host = wapc_host(&modules.wapc);
    for _ in 0..2 {
        // Twice: the instance survives the first.
        let answer: Value =
            serde_json::from_slice(&host.call("validate", payload.as_bytes()).unwrap()).unwrap();
        assert_eq!(answer["accepted"], false);
        assert_eq!(answer["code"], 400);
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("rule `endless-loop` failed") && message.contains("operation limit"),
            "{message}"
        );
        assert!(
            message.contains("rule `memory-bomb` failed") && message.contains("size limit"),
            "{message}"
        );
    }
    for malformed in [
        &b"{not json"[..],
        b"",
        br#"{"request": [1, 2]}"#,
        b"\xff\xfe",
    ] {
        let answer: Value =
            serde_json::from_slice(&host.call("validate", malformed).unwrap()).unwrap();
        assert_eq!(
            (answer["accepted"].clone(), answer["code"].clone()),
            (json!(false), json!(400))
        );
    }
    let unknown = host.call("no_such_operation", b"{}");
    assert!(unknown.is_err());

    let (engine, module) = compile_wasmtime(&modules.wasi);
    let (status, stdout) = wasi_run(&engine, &module, "validate", b"[[[");
    assert_eq!(status, 0);
    assert!(stdout.contains(r#""accepted":false"#), "{stdout}");

    // OPA: the rules' limits hold in npm's host too; a bad entrypoint id is an error the
    // host raises, after which the same policy still evaluates.
    let corpus_file = scratch("runaway-opa").join("corpus.json");
    let mut input = request.review.clone();
    input["today"] = "2026-01-01".into();
    std::fs::write(
        &corpus_file,
        json!([{"id": "loop", "input": input, "data": {}}]).to_string(),
    )
    .unwrap();
    let lines = node(&[
        &workspace_root().join("tests/wasm-hosts/opa.mjs"),
        &modules.opa,
        &corpus_file,
    ]);
    let decision = &lines[0]["decision"];
    assert_eq!(decision["allowed"], false, "{}", lines[0]);
    assert!(decision["errors"].to_string().contains("operation limit"));
}

/// The custom sections of a module: (name, contents).
fn custom_sections(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    fn leb(bytes: &[u8], at: &mut usize) -> usize {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = bytes[*at];
            *at += 1;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }
    let mut sections = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        let id = bytes[at];
        at += 1;
        let size = leb(bytes, &mut at);
        let end = at + size;
        if id == 0 {
            let mut p = at;
            let len = leb(bytes, &mut p);
            let name = String::from_utf8_lossy(&bytes[p..p + len]).into_owned();
            sections.push((name, bytes[p + len..end].to_vec()));
        }
        at = end;
    }
    sections
}

#[test]
fn modules_import_only_their_hosts_interfaces_and_carry_kubewarden_metadata() {
    if !prerequisites() {
        return;
    }
    let modules = modules();
    let engine = wasmtime::Engine::default();
    let imports = |path: &Path| -> std::collections::BTreeSet<String> {
        let module = wasmtime::Module::from_file(&engine, path).unwrap();
        module.imports().map(|i| i.module().to_string()).collect()
    };
    assert_eq!(
        imports(&modules.wapc),
        ["wapc", "wasi_snapshot_preview1"].map(String::from).into()
    );
    assert_eq!(imports(&modules.opa), ["env".to_string()].into());
    assert_eq!(
        imports(&modules.wasi),
        ["wasi_snapshot_preview1".to_string()].into()
    );

    // kwctl treats any module with an `opa_` export as Rego.
    let wapc = wasmtime::Module::from_file(&engine, &modules.wapc).unwrap();
    assert!(wapc.exports().all(|e| !e.name().starts_with("opa_")));
    // OPA hosts need the ABI globals and a memory they can start at 2 pages.
    let opa = wasmtime::Module::from_file(&engine, &modules.opa).unwrap();
    let memory = opa
        .imports()
        .find_map(|i| i.ty().memory().cloned())
        .unwrap();
    assert!(memory.minimum() <= 2, "{memory:?}");
    for global in ["opa_wasm_abi_version", "opa_wasm_abi_minor_version"] {
        assert!(
            opa.get_export(global)
                .and_then(|e| e.global().cloned())
                .is_some(),
            "{global}"
        );
    }

    let yaml: Value = serde_yaml::from_str(
        &std::fs::read_to_string(workspace_root().join("wasm-plugin/metadata.yml")).unwrap(),
    )
    .unwrap();
    for (path, mode, protocol) in [
        (&modules.wapc, "kubewarden-wapc", "v1"),
        (&modules.wasi, "wasi", "Unknown"),
    ] {
        let sections = custom_sections(&std::fs::read(path).unwrap());
        let found: Vec<_> = sections
            .iter()
            .filter(|(n, _)| n == "io.kubewarden.metadata")
            .collect();
        assert_eq!(
            found.len(),
            1,
            "exactly one metadata section in {}",
            path.display()
        );
        let metadata: Value = serde_json::from_slice(&found[0].1).unwrap();
        assert_eq!(metadata["protocolVersion"], protocol);
        assert_eq!(metadata["executionMode"], mode);
        assert_eq!(metadata["mutating"], false);
        assert_eq!(metadata["rules"], yaml["rules"]);
        let resources: Vec<&str> = metadata["rules"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap())
            })
            .collect();
        for kind in portcullis_engine::pod_kinds() {
            let plural = format!("{}s", kind.to_lowercase());
            assert!(
                resources.contains(&plural.as_str()),
                "metadata misses {plural}"
            );
        }
    }
}

#[test]
fn wasm_build_takes_rule_files_and_folders_like_check() {
    if !prerequisites() {
        return;
    }
    let dir = scratch("rule-paths");
    let folder = dir.join("team-rules");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("no-busybox.rhai"),
        std::fs::read_to_string(workspace_root().join("tests/fixtures/wasm-rules/no-alpine.rhai"))
            .unwrap()
            .replace("no-alpine", "no-busybox")
            .replace("alpine", "busybox"),
    )
    .unwrap();
    let build = |rules: &[&Path]| {
        let mut command = Command::new(binary());
        command
            .args(["wasm", "build", "--out"])
            .arg(dir.join("out"));
        for path in rules {
            command.arg("--rules").arg(path);
        }
        command.output().unwrap()
    };
    let single_file = workspace_root().join("tests/fixtures/wasm-rules/no-alpine.rhai");
    let output = build(&[&single_file, &folder]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("built-in, 2 from "), "{stdout}");

    let missing = dir.join("no-such-folder");
    let output = build(&[&missing]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-folder"), "{stderr}");
}

/// `wasm build --image-facts`: the image rules decide inside the module from the bundled
/// facts, as `check --image-facts` does on the command line, with no registry calls.
#[test]
fn bundled_image_facts_drive_the_image_rules_in_the_module() {
    if !prerequisites() {
        return;
    }
    let facts = workspace_root().join("tests/fixtures/facts/image-facts.json");
    let workloads = workspace_root().join("tests/fixtures/facts/workloads.yaml");
    let out = scratch("image-facts");
    let output = Command::new(binary())
        .args(["wasm", "build", "--image-facts"])
        .arg(&facts)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("image facts: "), "{stdout}");
    // A file that is not a facts file is refused before any module is written.
    let refused_out = scratch("image-facts-refused");
    let refused = Command::new(binary())
        .args(["wasm", "build", "--image-facts"])
        .arg(&workloads)
        .arg("--out")
        .arg(&refused_out)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("workloads.yaml: not a facts file"),
        "{stderr}"
    );
    assert!(!refused_out.join("portcullis-wapc.wasm").exists());

    let cli = Command::new(binary())
        .args(["check", "--format", "json", "--image-facts"])
        .arg(&facts)
        .arg(&workloads)
        .output()
        .unwrap();
    let cli_report: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let mut cli_findings = portcullis_tests::finding_keys(&cli_report);
    cli_findings.sort();

    let native_plugin = Plugin::with_bundle(Bundle {
        image_facts: Some(std::fs::read_to_string(&facts).unwrap()),
        ..Bundle::default()
    })
    .unwrap();
    let host = wapc_host(&out.join("portcullis-wapc.wasm"));
    let text = std::fs::read_to_string(&workloads).unwrap();
    let mut module_findings = Vec::new();
    for (index, doc) in text.split("\n---\n").enumerate() {
        let object: Value = serde_yaml::from_str(doc).unwrap();
        let review = review(&format!("facts-{index}"), object, "CREATE");
        let native_decision = native_plugin.evaluate(
            &native_plugin.policy(&json!({}), Date::today()).unwrap(),
            review.clone(),
        );
        let answer: Value = serde_json::from_slice(
            &host
                .call(
                    "validate",
                    validation_request(&review).to_string().as_bytes(),
                )
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            from_validation_response(&answer),
            from_validation_response(&native_decision.to_validation_response()),
            "the waPC module and the native engine disagree on document {index}"
        );
        module_findings.extend(native_decision.violations.iter().map(|v| {
            (
                v.rule.clone(),
                v.name.clone(),
                v.container.clone().unwrap_or_default(),
            )
        }));
    }
    module_findings.sort();
    assert_eq!(module_findings, cli_findings);
    // The facts matter: the image rules fire with them and not without.
    assert!(
        module_findings
            .iter()
            .any(|(rule, _, _)| rule == "vulnerable-image"),
        "{module_findings:?}"
    );
    let without: Value = serde_json::from_slice(
        &wapc_host(&modules().wapc)
            .call(
                "validate",
                validation_request(&review(
                    "no-facts",
                    serde_yaml::from_str(text.split("\n---\n").next().unwrap()).unwrap(),
                    "CREATE",
                ))
                .to_string()
                .as_bytes(),
            )
            .unwrap(),
    )
    .unwrap();
    assert!(
        !without.to_string().contains("vulnerable-image"),
        "{without}"
    );
}

/// An AdmissionReview of about `bytes` bytes: a Pod with as many containers as fit.
fn review_of_size(bytes: usize) -> Value {
    let container = |i: usize| {
        json!({"name": format!("c{i}"), "image": format!("registry.company.com/team/app-{i}:1.{i}"),
               "env": [{"name": "MODE", "value": "x".repeat(300)}]})
    };
    let per_container = container(0).to_string().len() + 1;
    let containers: Vec<Value> = (0..bytes / per_container).map(container).collect();
    review(
        "huge",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge", "namespace": "shop"},
               "spec": {"containers": containers}}),
        "CREATE",
    )
}

#[test]
fn the_largest_requests_and_malformed_ones_get_answers_in_every_module() {
    if !prerequisites() {
        return;
    }
    let modules = modules();
    // The API server sends at most 3 MiB; the OPA module trapped on 175 KB (4,000
    // containers) when its answer outgrew its scratch memory.
    let huge = review_of_size(3 * 1024 * 1024 - 64 * 1024);
    let payload = validation_request(&huge).to_string();
    assert!(payload.len() > 2 * 1024 * 1024, "{}", payload.len());
    let host = wapc_host(&modules.wapc);
    let answer: Value =
        serde_json::from_slice(&host.call("validate", payload.as_bytes()).unwrap()).unwrap();
    assert_eq!(answer["accepted"], false, "{answer}");
    assert!(answer.to_string().len() < 64 * 1024, "bounded answer");

    let (engine, module) = compile_wasmtime(&modules.wasi);
    let (status, stdout) = wasi_run(&engine, &module, "validate", payload.as_bytes());
    assert_eq!(status, 0);
    assert!(
        stdout.contains(r#""accepted":false"#),
        "{}",
        &stdout[..stdout.len().min(300)]
    );

    // Each malformed request was allowed as if valid; each is a 400 now.
    let malformed = [
        json!(null),
        json!({}),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
               "request": {"uid": "u", "operation": "CREATE", "object": {"metadata": {"name": "p"}}}}),
    ];
    for input in &malformed {
        let request = json!({"request": input, "settings": {}}).to_string();
        let answer: Value =
            serde_json::from_slice(&host.call("validate", request.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            (answer["accepted"].clone(), answer["code"].clone()),
            (json!(false), json!(400)),
            "{input}"
        );
    }

    let corpus_file = scratch("huge-opa").join("corpus.json");
    let mut items = vec![json!({"id": "huge", "input": huge, "data": {}})];
    for (i, input) in malformed.iter().enumerate() {
        items.push(json!({"id": format!("malformed-{i}"), "input": input, "data": {}}));
    }
    std::fs::write(&corpus_file, Value::Array(items).to_string()).unwrap();
    let lines = node(&[
        &workspace_root().join("tests/wasm-hosts/opa.mjs"),
        &modules.opa,
        &corpus_file,
    ]);
    assert_eq!(lines.len(), malformed.len() + 1);
    for line in &lines {
        assert!(line.get("error").is_none(), "the host raised: {line}");
        assert_eq!(line["decision"]["allowed"], false, "{line}");
    }
    assert!(
        lines[0]["decision"]["omitted"].as_u64().unwrap_or(0) > 0,
        "{}",
        lines[0]["decision"]["violations"]
            .as_array()
            .map_or(0, Vec::len)
    );
    for line in &lines[1..] {
        assert_eq!(line["decision"]["code"], 400, "{line}");
    }
}

/// `unsigned-image` verifies signatures inside the waPC and WASI modules from material
/// bundled with `wasm build --image-facts` and settings bundled with `--config`, and
/// reaches the verdicts `check` reaches: the material is the rule's own test-case facts,
/// made by the independent signer (tests/signer/rule_fixtures.py).
#[test]
fn bundled_signature_material_gives_the_cli_verdicts_in_the_modules() {
    if !prerequisites() {
        return;
    }
    let cases: Value = serde_yaml::from_str(
        &std::fs::read_to_string(workspace_root().join("rules/unsigned-image.tests.yaml")).unwrap(),
    )
    .unwrap();
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "key-based - each reason for rejection is named")
        .expect("the rule's key-based case");
    let dir = scratch("signatures");
    let facts = dir.join("facts.json");
    std::fs::write(
        &facts,
        json!({"format": "portcullis-image-facts", "version": 2, "images": case["facts"]})
            .to_string(),
    )
    .unwrap();
    let config = dir.join("config.json");
    let mut settings = case["settings"].clone();
    settings["enabled"] = true.into();
    std::fs::write(
        &config,
        json!({"rules": {"unsigned-image": settings}}).to_string(),
    )
    .unwrap();
    let manifest = dir.join("pod.yaml");
    let pod_text = case["manifest"].as_str().unwrap();
    std::fs::write(&manifest, pod_text).unwrap();
    let out = dir.join("modules");
    let built = Command::new(binary())
        .args(["wasm", "build", "--image-facts"])
        .arg(&facts)
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let cli = Command::new(binary())
        .args(["check", "--format", "json", "--select", "unsigned-image"])
        .arg("--image-facts")
        .arg(&facts)
        .arg("--config")
        .arg(&config)
        .arg(&manifest)
        .output()
        .unwrap();
    let cli_report: Value = serde_json::from_slice(&cli.stdout).unwrap();
    let mut from_cli: Vec<(String, String)> = cli_report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["container"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    from_cli.sort();
    assert_eq!(from_cli.len(), 6, "{from_cli:#?}");

    let native_plugin = Plugin::with_bundle(Bundle {
        image_facts: Some(std::fs::read_to_string(&facts).unwrap()),
        config: Some(std::fs::read_to_string(&config).unwrap()),
        ..Bundle::default()
    })
    .unwrap();
    let review = review(
        "signatures",
        serde_yaml::from_str(pod_text).unwrap(),
        "CREATE",
    );
    let decision = native_plugin.evaluate(
        &native_plugin.policy(&json!({}), Date::today()).unwrap(),
        review.clone(),
    );
    let mut from_native: Vec<(String, String)> = decision
        .violations
        .iter()
        .filter(|v| v.rule == "unsigned-image")
        .map(|v| (v.container.clone().unwrap_or_default(), v.message.clone()))
        .collect();
    from_native.sort();
    assert_eq!(
        from_native, from_cli,
        "the engine in the plugin and the CLI disagree"
    );
    let expected = from_validation_response(&decision.to_validation_response());
    assert!(!expected.allowed);

    let wapc = wapc_host(&out.join("portcullis-wapc.wasm"));
    let answer: Value = serde_json::from_slice(
        &wapc
            .call(
                "validate",
                validation_request(&review).to_string().as_bytes(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(from_validation_response(&answer), expected, "waPC");

    let (engine, module) = compile_wasmtime(&out.join("portcullis-wasi.wasm"));
    let (status, stdout) = wasi_run(
        &engine,
        &module,
        "validate",
        validation_request(&review).to_string().as_bytes(),
    );
    assert_eq!(status, 0);
    assert_eq!(
        from_validation_response(&serde_json::from_str(&stdout).unwrap()),
        expected,
        "WASI"
    );

    // OPA ABI in npm opa-wasm: the whole decision, findings and messages, as the native one.
    let corpus = dir.join("opa-corpus.json");
    let mut input = review.clone();
    input["today"] = Date::today().to_string().into();
    std::fs::write(
        &corpus,
        json!([{"id": "signatures", "input": input, "data": {}}]).to_string(),
    )
    .unwrap();
    let lines = node(&[
        &workspace_root().join("tests/wasm-hosts/opa.mjs"),
        &out.join("portcullis-opa.wasm"),
        &corpus,
    ]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].get("error").is_none(), "OPA: {}", lines[0]);
    assert_eq!(
        from_opa_decision(&lines[0]["decision"]),
        from_decision(&decision),
        "OPA"
    );
}
