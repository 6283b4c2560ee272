//! `portcullis serve`: the real server on 127.0.0.1 with a self-signed certificate (made by
//! `openssl`), spoken to with reqwest over rustls and with `curl`; JSON patches applied with
//! PyPI's `jsonpatch`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portcullis_tests::{portcullis_binary, say_skipped, scratch_dir, workspace_root};
use serde_json::{Value, json};

/// A CA and a serving certificate it signed for `localhost` and 127.0.0.1 (rustls, like
/// the API server, refuses a CA certificate as the server's own): `name-ca.crt`,
/// `name.crt`, `name.key` in `dir`. The same recipe as docs/admission.md.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca = dir.join(format!("{name}-ca.crt"));
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let extensions = dir.join(format!("{name}.ext"));
    std::fs::write(
        &extensions,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("openssl runs (CI installs it)");
        assert!(status.success(), "openssl {args:?} failed");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca_key, csr) = (format!("{name}-ca.key"), format!("{name}.csr"));
    let ca_subject = format!("/CN={name} CA");
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                &ca_subject,
                "-keyout",
                &ca_key,
                "-out",
                &format!("{name}-ca.crt"),
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=localhost",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &csr,
            ],
        ]
        .concat(),
    );
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &format!("{name}-ca.crt"),
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        &format!("{name}.crt"),
        "-extfile",
        &format!("{name}.ext"),
    ]);
    (ca, cert, key)
}

/// A running `portcullis serve`; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
    ca: PathBuf,
    dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server in a fresh scratch dir with its own certificate; `setup` writes
    /// files there first. Returns once `/readyz` answers 200.
    fn start(name: &str, args: &[&str], setup: impl FnOnce(&Path)) -> Server {
        let dir = scratch_dir(&format!("serve-{name}"));
        let (ca, cert, key) = certificate(&dir, "server");
        // The server reads the live pair; clients trust `ca`.
        std::fs::create_dir_all(dir.join("tls")).unwrap();
        std::fs::copy(&cert, dir.join("tls/tls.crt")).unwrap();
        std::fs::copy(&key, dir.join("tls/tls.key")).unwrap();
        setup(&dir);
        let mut child = Command::new(portcullis_binary())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--cert",
                "tls/tls.crt",
                "--key",
                "tls/tls.key",
                "-v",
            ])
            .args(args)
            .current_dir(&dir)
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("portcullis serve starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(address) =
                        line.strip_prefix("portcullis: listening on https://127.0.0.1:")
                    {
                        let _ = port_tx.send(address.parse::<u16>().unwrap());
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let port = match port_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(port) => port,
            Err(_) => panic!("the server did not start: {}", log.lock().unwrap()),
        };
        let server = Server {
            child,
            port,
            log,
            ca,
            dir,
        };
        let started = Instant::now();
        loop {
            let answer = server.client().get(server.url("/readyz")).send();
            if let Ok(response) = &answer
                && response.status() == 200
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "never ready: {answer:?}\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A client that trusts only the server's first certificate.
    fn client(&self) -> reqwest::blocking::Client {
        client_trusting(&self.ca)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client()
            .post(self.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.log()));
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The `response` of the AdmissionReview `/validate` answers for `review`.
    fn validate(&self, review: &Value) -> Value {
        let (status, answer) = self.post("/validate", review);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["apiVersion"], review["apiVersion"]);
        assert_eq!(answer["response"]["uid"], review["request"]["uid"]);
        answer["response"].clone()
    }

    fn metrics(&self) -> String {
        self.client()
            .get(self.url("/metrics"))
            .send()
            .unwrap()
            .text()
            .unwrap()
    }
}

fn client_trusting(ca: &Path) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(ca).unwrap();
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn review(uid: &str, operation: &str, namespace: &str, object: Value) -> Value {
    let kind = object["kind"].clone();
    let group_version = object["apiVersion"].as_str().unwrap_or("v1").to_string();
    let (group, version) = group_version
        .rsplit_once('/')
        .unwrap_or(("", &group_version));
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": "things"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "alice"},
            "object": if operation == "DELETE" { Value::Null } else { object.clone() },
            "oldObject": if operation == "DELETE" { object } else { Value::Null },
            "dryRun": false
        }
    })
}

/// A pod spec that passes the default pack, or one with `image` and nothing hardened.
fn pod_spec(image: &str, hardened: bool) -> Value {
    if !hardened {
        return json!({"containers": [{"name": "app", "image": image}]});
    }
    json!({
        "automountServiceAccountToken": false,
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
            "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                "capabilities": {"drop": ["ALL"]}},
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
        }]
    })
}

const PINNED: &str = "docker.io/library/nginx:1.27.3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Every pod-carrying kind, around `spec`.
fn every_pod_kind(spec: &Value) -> Vec<Value> {
    let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": spec});
    let selector = json!({"matchLabels": {"app": "x"}});
    vec![
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"selector": selector, "template": template}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"}, "spec": {"serviceName": "s", "selector": selector, "template": template}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ds"}, "spec": {"selector": selector, "template": template}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"}, "spec": {"selector": selector, "template": template}}),
        json!({"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"}, "spec": {"template": template}}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": template}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj"}, "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}),
        json!({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "pt"}, "template": template}),
    ]
}

#[test]
fn validates_every_pod_kind_with_rule_container_and_fix_in_the_message() {
    let server = Server::start("kinds", &[], |_| {});
    for (i, object) in every_pod_kind(&pod_spec("nginx:latest", false))
        .into_iter()
        .enumerate()
    {
        let kind = object["kind"].as_str().unwrap().to_string();
        let response = server.validate(&review(&format!("bad-{i}"), "CREATE", "shop", object));
        assert_eq!(response["allowed"], false, "{kind}: {response}");
        assert_eq!(response["status"]["code"], 403, "{kind}");
        let message = response["status"]["message"].as_str().unwrap();
        assert!(
            message.contains("latest-tag container `app`"),
            "{kind}: {message}"
        );
        assert!(message.contains("(fix: "), "{kind}: {message}");
        assert!(
            message.contains(&format!("{kind} shop/")),
            "{kind}: {message}"
        );
    }
    for (i, object) in every_pod_kind(&pod_spec(PINNED, true))
        .into_iter()
        .enumerate()
    {
        let kind = object["kind"].as_str().unwrap().to_string();
        let response = server.validate(&review(&format!("good-{i}"), "UPDATE", "shop", object));
        assert_eq!(response["allowed"], true, "{kind}: {response}");
        assert!(response.get("status").is_none(), "{kind}: {response}");
    }
    // Kinds without a pod are allowed; v1beta1 is answered in v1beta1.
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}});
    assert_eq!(
        server.validate(&review("svc", "CREATE", "shop", service))["allowed"],
        true
    );
    let mut old = review(
        "beta",
        "CREATE",
        "shop",
        every_pod_kind(&pod_spec("nginx:latest", false))[0].clone(),
    );
    old["apiVersion"] = "admission.k8s.io/v1beta1".into();
    assert_eq!(server.validate(&old)["allowed"], false);
}

#[test]
fn lesser_findings_are_warnings_and_fail_on_moves_the_line() {
    // Medium findings only (no digest): denied at the default threshold, warnings at high.
    let image = "docker.io/library/nginx:1.27.3";
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec(image, true)});
    let strict = Server::start("fail-on-low", &[], |_| {});
    let response = strict.validate(&review("a", "CREATE", "shop", pod.clone()));
    assert_eq!(response["allowed"], false, "{response}");
    drop(strict);
    let lenient = Server::start("fail-on-high", &["--fail-on", "high"], |_| {});
    let response = lenient.validate(&review("b", "CREATE", "shop", pod));
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("missing-digest")),
        "{warnings:?}"
    );
    for warning in warnings {
        assert!(warning.as_str().unwrap().len() <= 256);
    }
}

#[test]
fn dry_run_delete_and_excluded_namespaces() {
    let server = Server::start(
        "skips",
        &[
            "--own-namespace",
            "portcullis-system",
            "--exclude-namespace",
            "kube-system",
        ],
        |_| {},
    );
    let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec("nginx:latest", false)});
    let mut dry = review("dry", "CREATE", "shop", bad.clone());
    dry["request"]["dryRun"] = true.into();
    assert_eq!(
        server.validate(&dry)["allowed"],
        false,
        "dry runs are evaluated"
    );
    assert_eq!(
        server.validate(&review("del", "DELETE", "shop", bad.clone()))["allowed"],
        true
    );
    for namespace in ["portcullis-system", "kube-system"] {
        let response = server.validate(&review(namespace, "CREATE", namespace, bad.clone()));
        assert_eq!(response["allowed"], true, "{namespace}: {response}");
    }
    let metrics = server.metrics();
    assert!(
        metrics.contains(
            r#"portcullis_requests_total{endpoint="validate",decision="denied",dry_run="true"} 1"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"portcullis_requests_total{endpoint="validate",decision="skipped",dry_run="false"} 3"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"portcullis_findings_total{rule="latest-tag"} 1"#),
        "{metrics}"
    );
}

#[test]
fn bad_requests_get_clear_4xx_answers_and_the_server_stays_up() {
    let server = Server::start(
        "bad",
        &["--max-body", "1MiB", "--read-timeout", "1s"],
        |_| {},
    );
    let client = server.client();
    let send = |body: String| {
        let response = client
            .post(server.url("/validate"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    };
    let (status, text) = send("{not json".into());
    assert_eq!(status, 400);
    assert!(text.contains("not valid JSON"), "{text}");
    let mut wrong = review(
        "w",
        "CREATE",
        "shop",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec(PINNED, true)}),
    );
    wrong["apiVersion"] = "admission.k8s.io/v2".into();
    let (status, text) = send(wrong.to_string());
    assert_eq!(status, 400);
    assert!(
        text.contains("apiVersion `admission.k8s.io/v2` is not served"),
        "{text}"
    );
    let (status, text) = send(json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"operation": "CREATE"}}).to_string());
    assert_eq!((status, text.contains("no `uid`")), (400, true), "{text}");
    // Kubernetes' own test data says `operationValue`: a 4xx-free answer would be wrong.
    let (status, text) = send(json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "operation": "operationValue", "object": {"kind": "Pod"}}}).to_string());
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["response"]["allowed"], false, "{answer}");

    // 20,000 containers: over the 1 MiB limit, 413 without being read whole.
    let containers: Vec<Value> = (0..20_000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("registry.company.com/app/c{i}:1.0")}))
        .collect();
    let huge = review(
        "huge",
        "CREATE",
        "shop",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big"}, "spec": {"containers": containers}}),
    );
    let (status, text) = send(huge.to_string());
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("--max-body"), "{text}");

    // A client that sends half its headers and stalls is cut off after --read-timeout.
    let (slow_status, elapsed) = slow_client(&server);
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert!(
        slow_status.is_none() || slow_status == Some(408),
        "{slow_status:?}"
    );
    // Still serving.
    assert_eq!(
        client.get(server.url("/healthz")).send().unwrap().status(),
        200
    );
}

/// Opens a TLS connection with `openssl s_client`, sends part of a request and waits:
/// the server's answer (if any) and how long until the connection closed.
fn slow_client(server: &Server) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-quiet",
            "-connect",
            &format!("127.0.0.1:{}", server.port),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"POST /validate HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let mut output = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut output);
    let elapsed = started.elapsed();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let status = output
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok());
    (status, elapsed)
}

fn facts_file(dir: &Path, images: &[(&str, &str)]) {
    let mut map = serde_json::Map::new();
    for (reference, digest) in images {
        map.insert(digest.to_string(), json!({"references": [reference]}));
    }
    let file = json!({"format": "portcullis-image-facts", "version": 1, "images": map});
    std::fs::write(dir.join("facts.json"), file.to_string()).unwrap();
}

/// Applies `patch` to `object` with PyPI's jsonpatch, the RFC 6902 reference here.
fn apply_with_jsonpatch(object: &Value, patch: &Value) -> Option<Value> {
    let script = "import json, sys, jsonpatch\nd = json.load(sys.stdin)\nprint(json.dumps(jsonpatch.apply_patch(d['object'], d['patch'])))";
    let mut child = match Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => return None,
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            json!({"object": object, "patch": patch})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named 'jsonpatch'") {
            return None;
        }
        panic!("jsonpatch failed: {stderr}");
    }
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

#[test]
fn mutate_pins_known_tags_to_digests_and_is_idempotent() {
    let digest = "sha256:7d9e5e8ad0ac9c3a6d6b4b3e3b1a2c0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";
    let server = Server::start(
        "mutate",
        &[
            "--image-facts",
            "facts.json",
            "--set-pull-policy",
            "IfNotPresent",
        ],
        |dir| facts_file(dir, &[("docker.io/library/nginx:1.27", digest)]),
    );
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
        "spec": {"initContainers": [{"name": "init", "image": "nginx:1.27", "imagePullPolicy": "Always"}],
                 "containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "other", "image": "unknown.example/app:2"}]}}}});
    let (status, answer) = server.post(
        "/mutate",
        &review("m1", "CREATE", "shop", deployment.clone()),
    );
    assert_eq!(status, 200);
    let response = &answer["response"];
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    use base64::Engine as _;
    let patch: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(
                response["patch"]
                    .as_str()
                    .expect("patch is a base64 string"),
            )
            .unwrap(),
    )
    .unwrap();
    let Some(patched) = apply_with_jsonpatch(&deployment, &patch) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs PyPI jsonpatch"
        );
        say_skipped(
            "mutate_pins_known_tags_to_digests_and_is_idempotent: python3 jsonpatch missing",
        );
        return;
    };
    let spec = &patched["spec"]["template"]["spec"];
    assert_eq!(
        spec["initContainers"][0]["image"],
        format!("nginx:1.27@{digest}")
    );
    assert_eq!(spec["initContainers"][0]["imagePullPolicy"], "Always");
    assert_eq!(
        spec["containers"][0]["image"],
        format!("nginx:1.27@{digest}")
    );
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        spec["containers"][1]["image"], "unknown.example/app:2",
        "never changes what it cannot resolve"
    );
    // Patching the patched object changes nothing: no patch, no patchType.
    let (_, again) = server.post("/mutate", &review("m2", "UPDATE", "shop", patched));
    assert!(again["response"].get("patch").is_none(), "{again}");
    assert!(again["response"].get("patchType").is_none(), "{again}");
    // A DELETE is never patched.
    let (_, deleted) = server.post(
        "/mutate",
        &review("m3", "DELETE", "shop", deployment.clone()),
    );
    assert!(deleted["response"].get("patch").is_none());
    // The facts file changes (a new facts collection): the next request uses it.
    let other = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    facts_file(
        &server.dir,
        &[
            ("docker.io/library/nginx:1.27", digest),
            ("unknown.example/app:2", other),
        ],
    );
    let started = Instant::now();
    loop {
        let (_, answer) = server.post(
            "/mutate",
            &review("m4", "CREATE", "shop", deployment.clone()),
        );
        if let Some(patch) = answer["response"]["patch"].as_str()
            && String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(patch)
                    .unwrap(),
            )
            .unwrap()
            .contains(other)
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the facts reload never happened: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn gatekeeper_external_data_and_kyverno_calls() {
    let digest = "sha256:aaaabbbbccccddddeeeeffff0000111122223333444455556666777788889999";
    let server = Server::start("external", &["--image-facts", "facts.json"], |dir| {
        facts_file(dir, &[("docker.io/library/nginx:1.27.3", digest)])
    });
    let request = json!({"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "ProviderRequest",
        "request": {"keys": ["nginx:1.27.3", "nginx:latest", "Not A Reference"]}});
    let (status, answer) = server.post("/external-data", &request);
    assert_eq!(status, 200);
    assert_eq!(answer["kind"], "ProviderResponse");
    assert_eq!(answer["response"]["idempotent"], true);
    assert_eq!(answer["response"]["systemError"], "");
    let items = answer["response"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["key"], "nginx:1.27.3");
    assert_eq!(items[0]["value"]["digest"], digest);
    assert_eq!(items[0]["error"], "");
    let rules = |item: &Value| -> Vec<String> {
        item["value"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    // Only the image's own findings: the probe pod around it is hardened.
    assert_eq!(rules(&items[0]), vec!["missing-digest"], "{}", items[0]);
    assert!(
        rules(&items[1]).contains(&"latest-tag".to_string()),
        "{}",
        items[1]
    );
    assert_eq!(items[1]["value"]["allowed"], false);
    assert!(
        items[2]["error"]
            .as_str()
            .unwrap()
            .contains("invalid image reference"),
        "{}",
        items[2]
    );

    // Kyverno: images, one image, and a whole object; Authorization is never logged.
    let client = server.client();
    let call = |body: Value| -> Value {
        client
            .post(server.url("/kyverno"))
            .header("Authorization", "Bearer sa-token-that-must-not-leak")
            .json_body(&body)
    };
    let answer = call(json!({"images": [PINNED, "nginx:latest"]}));
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["images"][PINNED]["allowed"], true, "{answer}");
    let answer = call(json!({"image": PINNED}));
    assert_eq!(answer["allowed"], true, "{answer}");
    let answer = call(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": pod_spec("nginx:latest", false)}),
    );
    assert_eq!(answer["allowed"], false, "{answer}");
    assert!(
        answer["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "latest-tag")
    );
    let (status, _) = server.post("/kyverno", &json!(["an", "array"]));
    assert_eq!(status, 400);
    assert!(!server.log().contains("sa-token-that-must-not-leak"));
}

trait JsonBody {
    fn json_body(self, body: &Value) -> Value;
}

impl JsonBody for reqwest::blocking::RequestBuilder {
    fn json_body(self, body: &Value) -> Value {
        let response = self
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        serde_json::from_str(&response.text().unwrap()).unwrap()
    }
}

const BANNED_RULE: &str = r#"
const META = #{
    id: "no-banned-image",
    title: "Banned image",
    severity: "high",
    remediation: "Use another image.",
};

fn check(workload, settings) {
    let findings = [];
    for c in workload.containers {
        if c.image.repository.contains("BANNED") { findings.push(finding(c, "banned image", "image")); }
    }
    findings
}
"#;

#[test]
fn reloads_rules_config_and_certificate_without_failing_a_request() {
    let server = Server::start(
        "reload",
        &["--rules", "policies", "-c", "portcullis.yaml"],
        |dir| {
            std::fs::create_dir_all(dir.join("policies")).unwrap();
            std::fs::write(
                dir.join("policies/no-banned-image.rhai"),
                BANNED_RULE.replace("BANNED", "first"),
            )
            .unwrap();
            std::fs::write(dir.join("portcullis.yaml"), "rules: {}\n").unwrap();
        },
    );
    let pod = |image: &str| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec(image, true)});
    let denied = |image: &str| {
        !server.validate(&review("r", "CREATE", "shop", pod(image)))["allowed"]
            .as_bool()
            .unwrap()
    };
    let second = "docker.io/library/second:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert!(denied(
        "docker.io/library/first:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    ));
    assert!(!denied(second));

    // Requests run on four threads throughout the reloads below; each must get a
    // well-formed answer.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, answered, failures) = (stop.clone(), answered.clone(), failures.clone());
            let (url, ca, first_ca) = (
                server.url("/validate"),
                server.dir.join("both.pem"),
                server.ca.clone(),
            );
            let body = review(&format!("w{w}"), "CREATE", "shop", pod(second)).to_string();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // Trusts the old and the new certificate: the swap must not break a call.
                    let client = if ca.exists() {
                        client_trusting(&ca)
                    } else {
                        client_trusting(&first_ca)
                    };
                    match client
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                        .send()
                    {
                        Ok(response) if response.status() == 200 => {
                            let answer: Value =
                                serde_json::from_str(&response.text().unwrap()).unwrap();
                            if answer["response"]["uid"] != format!("w{w}") {
                                failures.lock().unwrap().push(answer.to_string());
                            }
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(response) => failures
                            .lock()
                            .unwrap()
                            .push(format!("status {}", response.status())),
                        Err(e) => failures.lock().unwrap().push(e.to_string()),
                    }
                }
            })
        })
        .collect();

    let wait_for = |what: &str, check: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !check() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{what} never happened: {}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // The rule changes: `second` is banned now.
    std::fs::write(
        server.dir.join("policies/no-banned-image.rhai"),
        BANNED_RULE.replace("BANNED", "second"),
    )
    .unwrap();
    wait_for("the rule reload", &|| denied(second));
    // A broken rule keeps the last good policy, and says so.
    std::fs::write(
        server.dir.join("policies/no-banned-image.rhai"),
        "fn check(workload, settings) { [ }",
    )
    .unwrap();
    wait_for("the failed reload", &|| {
        server
            .metrics()
            .contains(r#"portcullis_reloads_total{what="policy",result="failed"}"#)
    });
    assert!(denied(second), "the last good policy still serves");
    // The configuration turns the rule off.
    std::fs::write(
        server.dir.join("policies/no-banned-image.rhai"),
        BANNED_RULE.replace("BANNED", "second"),
    )
    .unwrap();
    std::fs::write(
        server.dir.join("portcullis.yaml"),
        "rules:\n  no-banned-image: {enabled: false}\n",
    )
    .unwrap();
    wait_for("the configuration reload", &|| !denied(second));
    // The certificate is swapped the way Kubernetes updates a Secret volume: new files,
    // then a rename over the old ones.
    let (new_ca, new_cert, new_key) = certificate(&server.dir, "renewed");
    let mut both = std::fs::read(&server.ca).unwrap();
    both.extend(std::fs::read(&new_ca).unwrap());
    std::fs::write(server.dir.join("both.pem.tmp"), both).unwrap();
    std::fs::rename(server.dir.join("both.pem.tmp"), server.dir.join("both.pem")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::copy(&new_key, server.dir.join("tls/tls.key.new")).unwrap();
    std::fs::copy(&new_cert, server.dir.join("tls/tls.crt.new")).unwrap();
    std::fs::rename(
        server.dir.join("tls/tls.key.new"),
        server.dir.join("tls/tls.key"),
    )
    .unwrap();
    std::fs::rename(
        server.dir.join("tls/tls.crt.new"),
        server.dir.join("tls/tls.crt"),
    )
    .unwrap();
    let renewed = client_trusting(&new_ca);
    wait_for("the certificate reload", &|| {
        renewed.get(server.url("/healthz")).send().is_ok()
    });
    assert!(
        server.client().get(server.url("/healthz")).send().is_err(),
        "the old certificate is gone"
    );

    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}",
        failures.len(),
        answered.load(Ordering::Relaxed),
        &failures[..failures.len().min(5)]
    );
    assert!(
        answered.load(Ordering::Relaxed) > 20,
        "too few requests during the reloads"
    );
    let metrics = renewed
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains(r#"portcullis_reloads_total{what="certificate",result="ok"}"#),
        "{metrics}"
    );
}

/// A registry on 127.0.0.1 that accepts connections and never answers.
fn stalled_registry() -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(64) {
            match stream {
                Ok(stream) => held.push(stream),
                Err(_) => break,
            }
        }
    });
    (port, handle)
}

#[test]
fn a_stalled_registry_follows_on_error_within_the_deadline() {
    let (port, _registry) = stalled_registry();
    let image = format!("127.0.0.1:{port}/team/app:1.0@sha256:{}", "4".repeat(64));
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec(&image, true)});
    let args = [
        "--pull-facts",
        "--registry-timeout",
        "30",
        "--deadline",
        "2s",
        "--ignore",
        "untrusted-registry",
        "--no-facts-cache",
    ];
    let closed = Server::start("stall-deny", &args, |_| {});
    let started = Instant::now();
    let response = closed.validate(&review("s1", "CREATE", "shop", pod.clone()));
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(6),
        "answered after {elapsed:?}"
    );
    assert_eq!(response["allowed"], false, "{response}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("did not answer within the request's deadline"),
        "{message}"
    );
    assert!(message.contains("on-error: deny"), "{message}");
    drop(closed);
    let mut open_args = args.to_vec();
    open_args.extend(["--on-error", "allow"]);
    let open = Server::start("stall-allow", &open_args, |_| {});
    let response = open.validate(&review("s2", "CREATE", "shop", pod));
    assert_eq!(response["allowed"], true, "{response}");
    assert!(
        response["warnings"][0]
            .as_str()
            .unwrap()
            .contains("on-error: allow"),
        "{response}"
    );
}

const RUNAWAY_RULE: &str = r#"
const META = #{ id: "runaway", title: "Never ends", severity: "low", remediation: "None." };
fn check(workload, settings) { let n = 0; loop { n += 1; } }
"#;

#[test]
fn a_runaway_rule_hides_no_finding_and_blocks_no_request() {
    let server = Server::start(
        "runaway",
        &[
            "--rules",
            "runaway.rhai",
            "--rule-timeout",
            "200",
            "--max-concurrency",
            "2",
        ],
        |dir| std::fs::write(dir.join("runaway.rhai"), RUNAWAY_RULE).unwrap(),
    );
    // The runaway rule ends at its limit; the other rules still found `latest`.
    let bad = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec("nginx:latest", false)});
    let response = server.validate(&review("x1", "CREATE", "shop", bad));
    assert_eq!(response["status"]["code"], 403, "{response}");
    assert!(
        response["status"]["message"]
            .as_str()
            .unwrap()
            .contains("latest-tag")
    );
    // A clean pod cannot be decided: the runaway rule's error follows on-error (deny).
    let good = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec(PINNED, true)});
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let (url, ca) = (server.url("/validate"), server.ca.clone());
            let body = review(&format!("g{i}"), "CREATE", "shop", good.clone()).to_string();
            std::thread::spawn(move || {
                let response = client_trusting(&ca)
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .unwrap();
                serde_json::from_str::<Value>(&response.text().unwrap()).unwrap()
            })
        })
        .collect();
    // Meanwhile health and other endpoints answer at once.
    let started = Instant::now();
    assert_eq!(
        server
            .client()
            .get(server.url("/healthz"))
            .send()
            .unwrap()
            .status(),
        200
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    for thread in threads {
        let answer = thread.join().unwrap();
        let response = &answer["response"];
        assert_eq!(response["allowed"], false, "{answer}");
        let message = response["status"]["message"].as_str().unwrap();
        assert!(message.contains("runaway"), "{message}");
    }
    assert!(
        server
            .metrics()
            .contains(r#"portcullis_rule_errors_total{rule="runaway"}"#)
    );
}

#[test]
fn curl_speaks_to_it_over_tls() {
    let server = Server::start("curl", &[], |_| {});
    let body = server.dir.join("review.json");
    std::fs::write(
        &body,
        review("curl-1", "CREATE", "shop", json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": pod_spec("nginx:latest", false)})).to_string(),
    )
    .unwrap();
    let curl = |args: &[&str]| {
        let output = Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&server.ca)
            .args(args)
            .output()
            .expect("curl runs (CI installs it)");
        assert!(
            output.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let answer: Value = serde_json::from_str(&curl(&[
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", body.display()),
        &server.url("/validate"),
    ]))
    .unwrap();
    assert_eq!(answer["response"]["uid"], "curl-1");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(curl(&[&server.url("/healthz")]), "ok\n");
    let tls13 = curl(&[
        "--tlsv1.3",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &server.url("/readyz"),
    ]);
    assert_eq!(tls13, "200");
    let metrics = curl(&[&server.url("/metrics")]);
    for family in [
        "portcullis_requests_total",
        "portcullis_request_duration_seconds_bucket",
        "portcullis_findings_total",
    ] {
        assert!(metrics.contains(family), "{family} missing: {metrics}");
    }
    assert!(metrics.trim_end().ends_with("# EOF"));
}

#[test]
fn plain_http_only_on_loopback_and_start_errors_exit_2() {
    let dir = scratch_dir("serve-start-errors");
    let run = |args: &[&str]| {
        let output = portcullis_tests::run_portcullis(&dir, args, None);
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (code, stderr) = run(&["serve", "--listen", "0.0.0.0:0", "--insecure-http"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("only served on loopback"), "{stderr}");
    let (code, stderr) = run(&["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--cert and --key"), "{stderr}");
    std::fs::write(
        dir.join("broken.rhai"),
        "fn check(workload, settings) { [ }",
    )
    .unwrap();
    let (code, stderr) = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--insecure-http",
        "--rules",
        "broken.rhai",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("broken.rhai"), "{stderr}");
    std::fs::write(dir.join("not.pem"), "hello").unwrap();
    let (code, stderr) = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--cert",
        "not.pem",
        "--key",
        "not.pem",
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("not.pem"), "{stderr}");
}

/// `deploy/` renders with `kubectl kustomize`, and the rendered manifests pass Portcullis's
/// default rules under the configuration the deployment ships (which trusts the registry
/// Portcullis's image comes from); under the bare defaults, that registry is the only
/// finding.
#[test]
fn the_deployment_renders_and_passes_its_own_rules() {
    let root = workspace_root();
    let rendered = Command::new("kubectl")
        .args(["kustomize", "deploy/"])
        .current_dir(&root)
        .output()
        .expect("kubectl runs (CI installs it)");
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let text = String::from_utf8(rendered.stdout).unwrap();
    for kind in [
        "Deployment",
        "PodDisruptionBudget",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ServiceAccount",
        "Service",
        "Certificate",
    ] {
        assert!(
            text.contains(&format!("kind: {kind}\n")),
            "{kind} missing from the rendering"
        );
    }
    assert!(text.contains("replicas: 3"));
    let dir = scratch_dir("serve-deploy");
    let mut config = None;
    for document in text.split("\n---\n") {
        let value: Value = serde_yaml::from_str(document).unwrap();
        if value["kind"] == "ConfigMap" && value["metadata"]["name"] == "portcullis-config" {
            config = value["data"]["portcullis.yaml"]
                .as_str()
                .map(str::to_string);
        }
    }
    std::fs::write(
        dir.join("portcullis.yaml"),
        config.expect("the server's ConfigMap"),
    )
    .unwrap();
    let output =
        portcullis_tests::run_portcullis(&dir, &["check", "-", "--color", "never"], Some(&text));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("0 findings"), "{stdout}");
    std::fs::remove_file(dir.join("portcullis.yaml")).unwrap();
    let output =
        portcullis_tests::run_portcullis(&dir, &["check", "-", "--format", "json"], Some(&text));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, vec!["untrusted-registry"], "{report}");
}
