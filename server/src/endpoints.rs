//! The HTTP endpoints. Each reads a bounded body within the read timeout, holds an
//! in-flight slot (no slot: 503 at once) and, to evaluate, an evaluation slot; evaluation
//! runs on the worker when the rules' limits bound it within the request's deadline, else
//! on the blocking pool under that deadline (`run_evaluation`). Headers are never read or
//! logged: callers such as Kyverno forward credentials (`Authorization`) they should not.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use portcullis_engine::admission::{pin_images, pinning_digest};
use portcullis_engine::{ImageRef, Report, Source, Workloads};
use serde_json::{Value, json};

use crate::images::Lookup;
use crate::review::{self, Answer, Review};
use crate::verdict::{self, OnError};
use crate::{App, Current};

/// Image references one External Data or Kyverno call may ask about.
const MAX_KEYS: usize = 1000;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/external-data", post(external_data))
        .route("/kyverno", post(kyverno))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(app)
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    if app.current().is_some() {
        "ready\n".into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "rules are still compiling\n",
        )
            .into_response()
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}

/// A plain-text error answer.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let mut message = message.into();
    message.push('\n');
    (status, message).into_response()
}

fn json_response(value: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// One request's bookkeeping: its in-flight slot, its start, its deadline.
struct Request {
    _slot: tokio::sync::OwnedSemaphorePermit,
    app: Arc<App>,
    started: Instant,
    deadline: Instant,
}

impl Drop for Request {
    fn drop(&mut self) {
        self.app.metrics.in_flight().dec();
    }
}

impl Request {
    /// Takes an in-flight slot and reads the body as JSON; the error is the answer.
    async fn start(
        app: &Arc<App>,
        body: Body,
        endpoint: &'static str,
    ) -> Result<(Request, Value), Box<Response>> {
        let started = Instant::now();
        let Ok(slot) = app.in_flight.clone().try_acquire_owned() else {
            app.metrics.request(endpoint, "overloaded", false, 0.0);
            return Err(Box::new(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many requests in flight; try again",
            )));
        };
        app.metrics.in_flight().inc();
        let request = Request {
            _slot: slot,
            app: app.clone(),
            started,
            deadline: started + app.options.deadline,
        };
        let fail = |status: StatusCode, message: String| {
            app.metrics
                .request(endpoint, "invalid", false, started.elapsed().as_secs_f64());
            Err(Box::new(error(status, message)))
        };
        let bytes = match tokio::time::timeout(
            app.options.read_timeout,
            read_capped(body, app.options.max_body),
        )
        .await
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(response)) => {
                app.metrics
                    .request(endpoint, "invalid", false, started.elapsed().as_secs_f64());
                return Err(Box::new(response));
            }
            Err(_) => {
                return fail(
                    StatusCode::REQUEST_TIMEOUT,
                    format!(
                        "the request body did not arrive within {} s",
                        app.options.read_timeout.as_secs_f64()
                    ),
                );
            }
        };
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => Ok((request, value)),
            Err(e) => fail(
                StatusCode::BAD_REQUEST,
                format!("the body is not valid JSON: {e}"),
            ),
        }
    }

    fn finish(&self, endpoint: &'static str, decision: &'static str, dry_run: bool) {
        self.app.metrics.request(
            endpoint,
            decision,
            dry_run,
            self.started.elapsed().as_secs_f64(),
        );
    }
}

/// The body, at most `cap` bytes: 413 beyond, whatever `Content-Length` said.
async fn read_capped(body: Body, cap: usize) -> Result<Vec<u8>, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the limit of {cap} bytes (--max-body)"),
        )
    };
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if e.to_string().contains("length limit") {
                too_large()
            } else {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the request body: {e}"),
                )
            }
        })?;
        if bytes.len() + chunk.len() > cap {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Why a request was let through unevaluated, if it was.
fn skipped(app: &App, review: &Review) -> Option<&'static str> {
    if matches!(review.operation.as_str(), "DELETE" | "CONNECT") {
        return Some("operation");
    }
    if review
        .namespace
        .as_ref()
        .is_some_and(|ns| app.options.exclude_namespaces.contains(ns))
    {
        return Some("namespace");
    }
    if review
        .kind
        .as_ref()
        .is_some_and(|kind| app.options.exclude_kinds.contains(kind))
    {
        return Some("kind");
    }
    None
}

/// Starts a request whose body is an AdmissionReview; the error is the answer.
async fn start_review(
    app: &Arc<App>,
    body: Body,
    endpoint: &'static str,
) -> Result<(Request, Review), Box<Response>> {
    let (request, value) = Request::start(app, body, endpoint).await?;
    match review::parse(value) {
        Ok(review) => Ok((request, review)),
        Err(message) => {
            request.finish(endpoint, "invalid", false);
            Err(Box::new(error(StatusCode::BAD_REQUEST, message)))
        }
    }
}

/// Allows `review` unevaluated.
fn allow_skipped(request: &Request, review: &Review, endpoint: &'static str) -> Response {
    request.finish(endpoint, "skipped", review.dry_run);
    json_response(&review::respond(review, Answer::allow()))
}

async fn validate(State(app): State<Arc<App>>, body: Body) -> Response {
    const ENDPOINT: &str = "validate";
    let (request, mut review) = match start_review(&app, body, ENDPOINT).await {
        Ok(started) => started,
        Err(response) => return *response,
    };
    if skipped(&app, &review).is_some() {
        return allow_skipped(&request, &review, ENDPOINT);
    }
    // The object is read once, by the engine; the review keeps what the answer needs.
    let name = object_name(&review.request);
    let input = std::mem::take(&mut review.request);
    let (answer, decision) = match evaluate(&request, input, true).await {
        Ok((current, _, report, problems)) => {
            count(&app, &report);
            drop(current);
            let answer = verdict::answer(
                &report,
                &problems,
                app.options.fail_on,
                app.options.on_error,
            );
            let decision =
                decision_label(&answer, !report.errors.is_empty() || !problems.is_empty());
            (answer, decision)
        }
        Err(reason) => {
            let answer = verdict::undecided(&reason, app.options.on_error);
            let decision = decision_label(&answer, true);
            (answer, decision)
        }
    };
    if !answer.allowed {
        log::info!(
            "denied {} {}{} (uid {}): {}",
            review.kind.as_deref().unwrap_or("object"),
            review
                .namespace
                .as_deref()
                .map(|n| format!("{n}/"))
                .unwrap_or_default(),
            name,
            review.uid,
            answer.status.as_ref().map_or("", |(_, m)| m.as_str())
        );
    }
    request.finish(ENDPOINT, decision, review.dry_run);
    json_response(&review::respond(&review, answer))
}

fn object_name(request: &Value) -> String {
    request
        .get("object")
        .and_then(|o| o.get("metadata"))
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .or_else(|| request.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn decision_label(answer: &Answer, troubled: bool) -> &'static str {
    match (answer.allowed, troubled, &answer.status) {
        (true, false, _) => "allowed",
        (true, true, _) => "error_allowed",
        (false, _, Some((403, _))) => "denied",
        (false, _, _) => "error_denied",
    }
}

fn count(app: &App, report: &Report) {
    for finding in &report.findings {
        app.metrics.finding(&finding.rule);
    }
    for error in &report.errors {
        if let Some(rule) = &error.rule {
            app.metrics.rule_error(rule);
        }
    }
}

type Evaluated = (Arc<Current>, Arc<Workloads>, Report, Vec<String>);

/// Loads `input` (an AdmissionRequest, a review or an object), looks up the facts of its
/// images when the server pulls them, and evaluates it; within the request's deadline.
/// `Err` is why nothing could be evaluated. The problems are lookups that failed.
/// `single`: `input` holds one object (an admission request), so the rules' limits bound
/// its evaluation.
async fn evaluate(request: &Request, input: Value, single: bool) -> Result<Evaluated, String> {
    if !request.app.images.enabled() {
        // Nothing to look up between loading and evaluating: load and evaluate in one go.
        let current = request
            .app
            .current()
            .ok_or("the policy is not loaded yet (the server is starting)")?;
        let policy = current.policy.clone();
        let worst_case = single.then_some(current.worst_case).flatten();
        let (workloads, report) = run_evaluation(request, worst_case, move || {
            let workloads = Arc::new(Source::from_json("request", input).load());
            let mut report = policy.check_workloads(&workloads);
            report.sort();
            (workloads, report)
        })
        .await?;
        return Ok((current, workloads, report, Vec::new()));
    }
    let (current, workloads, problems) = load(request, input).await?;
    let report = {
        let policy = current.policy.clone();
        let workloads = workloads.clone();
        blocking(request, move || {
            let mut report = policy.check_workloads(&workloads);
            report.sort();
            report
        })
        .await?
    };
    Ok((current, workloads, report, problems))
}

/// Loads `input` and, when the server pulls facts, looks up the images it has none for;
/// the policy to use (with the new facts), the workloads, and the lookups that failed.
async fn load(
    request: &Request,
    input: Value,
) -> Result<(Arc<Current>, Arc<Workloads>, Vec<String>), String> {
    let app = &request.app;
    let mut current = app
        .current()
        .ok_or("the policy is not loaded yet (the server is starting)")?;
    let workloads = {
        let input = Source::from_json("request", input);
        Arc::new(blocking(request, move || input.load()).await?)
    };
    let mut problems = Vec::new();
    if app.images.enabled() {
        let (found_new, failed) = look_up_images(request, &current, &workloads).await;
        problems = failed;
        if found_new {
            let app = app.clone();
            blocking(request, move || app.install(None))
                .await?
                .map_err(|errors| errors.join("; "))?;
            current = request.app.current().ok_or("the policy went away")?;
        }
    }
    Ok((current, workloads, problems))
}

/// Looks up the images that have no facts; whether any was found, and the failures.
async fn look_up_images(
    request: &Request,
    current: &Current,
    workloads: &Workloads,
) -> (bool, Vec<String>) {
    let app = &request.app;
    let mut missing: Vec<String> = Vec::new();
    for image in workloads.iter().flat_map(|w| w.images()) {
        if current.facts.lookup(image).is_some() {
            app.metrics.facts_lookup("hit");
        } else if !missing.contains(&image.original) {
            missing.push(image.original.clone());
        }
    }
    // Lookups stop early enough to leave time for the evaluation and the answer.
    let reserve = (app.options.deadline / 4).min(std::time::Duration::from_secs(1));
    let deadline = request
        .deadline
        .checked_sub(reserve)
        .unwrap_or(request.deadline);
    let lookups = missing
        .iter()
        .map(|reference| async move { (reference, app.images.lookup(reference, deadline).await) });
    let mut found_new = false;
    let mut problems = Vec::new();
    for (reference, (lookup, cached)) in futures_util::future::join_all(lookups).await {
        match lookup {
            Lookup::Found => {
                app.metrics
                    .facts_lookup(if cached { "hit" } else { "miss" });
                found_new = true;
            }
            Lookup::Failed(message) => {
                app.metrics.facts_lookup("failed");
                problems.push(format!(
                    "image {reference}: cannot look up its facts: {message}"
                ));
            }
            Lookup::TimedOut => {
                app.metrics.facts_lookup("failed");
                problems.push(format!(
                    "image {reference}: the registry did not answer within the request's deadline ({} s)",
                    app.options.deadline.as_secs_f64()
                ));
            }
        }
    }
    (found_new, problems)
}

/// Runs `work` on the blocking pool with an evaluation slot, within the request's
/// deadline. A run past the deadline goes on holding its slot until the rules' own limits
/// end it, so runaway rules cannot take more than `--max-concurrency` threads.
async fn blocking<T: Send + 'static>(
    request: &Request,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    run_evaluation(request, None, work).await
}

/// [`blocking`], or, when `worst_case` (the longest the rules' own limits let `work` run)
/// fits in what is left of the deadline, right here on the runtime's worker thread. The
/// runtime has one worker more than there are evaluation slots (see `serve`), so however
/// long evaluations take, a worker is always free for connections, probes and the requests
/// waiting for a slot; and the hand-off to the blocking pool, which took more time than the
/// evaluation of a small request on two cores (docs/benchmarks.md), is saved.
async fn run_evaluation<T: Send + 'static>(
    request: &Request,
    worst_case: Option<std::time::Duration>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let app = &request.app;
    let remaining = request.deadline.saturating_duration_since(Instant::now());
    let late = || {
        format!(
            "not decided within the deadline of {} s",
            app.options.deadline.as_secs_f64()
        )
    };
    let slot = match tokio::time::timeout(remaining, app.evaluations.clone().acquire_owned()).await
    {
        Ok(Ok(slot)) => slot,
        Ok(Err(_)) => return Err("the server is shutting down".into()),
        Err(_) => return Err(late()),
    };
    let remaining = request.deadline.saturating_duration_since(Instant::now());
    if worst_case.is_some_and(|worst| worst < remaining) {
        let _slot = slot;
        return Ok(work());
    }
    let task = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        work()
    });
    match tokio::time::timeout(remaining, task).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(format!("evaluation failed: {e}")),
        Err(_) => Err(late()),
    }
}

async fn mutate(State(app): State<Arc<App>>, body: Body) -> Response {
    const ENDPOINT: &str = "mutate";
    let (request, review) = match start_review(&app, body, ENDPOINT).await {
        Ok(started) => started,
        Err(response) => return *response,
    };
    if skipped(&app, &review).is_some() || !matches!(review.operation.as_str(), "CREATE" | "UPDATE")
    {
        return allow_skipped(&request, &review, ENDPOINT);
    }
    // The mutating webhook never denies: images it cannot resolve are left as they are,
    // and the validating webhook decides.
    let patch = match pin(&request, review.request.clone()).await {
        Ok(patch) => patch,
        Err(reason) => {
            log::warn!("uid {}: not mutated: {reason}", review.uid);
            Vec::new()
        }
    };
    let mut answer = Answer::allow();
    let decision = if patch.is_empty() {
        "unchanged"
    } else {
        answer.patch = Some(serde_json::to_vec(&patch).unwrap_or_default());
        "patched"
    };
    request.finish(ENDPOINT, decision, review.dry_run);
    json_response(&review::respond(&review, answer))
}

async fn pin(
    request: &Request,
    input: Value,
) -> Result<Vec<portcullis_engine::admission::PatchOperation>, String> {
    // Lookups that failed leave their images as they are.
    let (current, workloads, _) = load(request, input).await?;
    let app = &request.app;
    let pull_policy = app.options.set_pull_policy.clone();
    Ok(workloads
        .iter()
        .flat_map(|workload| {
            pin_images(
                workload,
                |image| {
                    current
                        .facts
                        .lookup(image)
                        .and_then(|(key, facts)| pinning_digest(key, facts))
                },
                pull_policy.as_deref(),
            )
        })
        .collect())
}

/// What is known about one image reference, for Gatekeeper and Kyverno.
struct ImageAnswer {
    key: String,
    value: Value,
    error: Option<String>,
}

/// Evaluates each image in a hardened one-container pod, so that what is found is about
/// the image (registry, tag, digest, scan results, signatures), not the pod around it.
async fn check_images(request: &Request, keys: Vec<String>) -> Result<Vec<ImageAnswer>, String> {
    let mut answers: Vec<Option<ImageAnswer>> = Vec::with_capacity(keys.len());
    let mut pods = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        match ImageRef::parse(key) {
            Err(e) => answers.push(Some(ImageAnswer {
                key: key.clone(),
                value: Value::Null,
                error: Some(e.to_string()),
            })),
            Ok(_) => {
                answers.push(None);
                pods.push(probe_pod(i, key));
            }
        }
    }
    let (current, workloads, report, problems) = evaluate(
        request,
        json!({"apiVersion": "v1", "kind": "List", "items": pods}),
        false,
    )
    .await?;
    let fail_on = request.app.options.fail_on;
    for (i, slot) in answers.iter_mut().enumerate() {
        if slot.is_some() {
            continue;
        }
        let key = &keys[i];
        let name = format!("image-{i}");
        let findings: Vec<Value> = report
            .findings
            .iter()
            .filter(|f| f.resource.name == name)
            .map(|f| json!({"rule": &*f.rule, "severity": f.severity, "message": f.message, "remediation": &*f.remediation}))
            .collect();
        let allowed = !report
            .findings
            .iter()
            .any(|f| f.resource.name == name && f.severity >= fail_on);
        let digest = workloads
            .iter()
            .find(|w| w.name() == name)
            .and_then(|w| w.images().next())
            .and_then(|image| {
                image.digest.clone().or_else(|| {
                    current
                        .facts
                        .lookup(image)
                        .and_then(|(k, f)| pinning_digest(k, f))
                })
            });
        let failed: Vec<String> = problems
            .iter()
            .filter(|p| p.starts_with(&format!("image {key}:")))
            .cloned()
            .chain(
                report
                    .errors
                    .iter()
                    .filter(|e| names(&e.message, &name))
                    .map(|e| e.to_string()),
            )
            .collect();
        *slot = Some(ImageAnswer {
            key: key.clone(),
            value: json!({"digest": digest, "allowed": allowed, "findings": findings}),
            error: (!failed.is_empty()).then(|| failed.join("; ")),
        });
    }
    Ok(answers.into_iter().flatten().collect())
}

/// Whether `message` names the probe pod `name` (`image-1`, not `image-10`).
fn names(message: &str, name: &str) -> bool {
    message.match_indices(name).any(|(at, _)| {
        !message[at + name.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

fn probe_pod(i: usize, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("image-{i}"), "namespace": "default"},
        "spec": {
            "automountServiceAccountToken": false,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "runAsGroup": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "image",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                    "privileged": false, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "1", "memory": "512Mi"}}
            }]
        }
    })
}

/// Image references in `value`: strings, at most [`MAX_KEYS`].
fn image_keys(value: &Value, what: &str) -> Result<Vec<String>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!("`{what}` is not a list of image references"));
    };
    if items.len() > MAX_KEYS {
        return Err(format!(
            "{} image references in one call; at most {MAX_KEYS}",
            items.len()
        ));
    }
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("`{what}` holds {item}, not an image reference"))
        })
        .collect()
}

async fn external_data(State(app): State<Arc<App>>, body: Body) -> Response {
    const ENDPOINT: &str = "external-data";
    const API_VERSION: &str = "externaldata.gatekeeper.sh/v1beta1";
    let (request, value) = match Request::start(&app, body, ENDPOINT).await {
        Ok(started) => started,
        Err(response) => return *response,
    };
    let system_error = |message: String| {
        json!({"apiVersion": API_VERSION, "kind": "ProviderResponse",
               "response": {"idempotent": true, "items": [], "systemError": message}})
    };
    if value.get("kind").and_then(Value::as_str) != Some("ProviderRequest") {
        request.finish(ENDPOINT, "invalid", false);
        return error(
            StatusCode::BAD_REQUEST,
            "expected a Gatekeeper ProviderRequest (`kind: ProviderRequest`)",
        );
    }
    let keys = match image_keys(&value["request"]["keys"], "request.keys") {
        Ok(keys) => keys,
        Err(message) => {
            request.finish(ENDPOINT, "invalid", false);
            return json_response(&system_error(message));
        }
    };
    match check_images(&request, keys).await {
        Ok(answers) => {
            let items: Vec<Value> = answers
                .into_iter()
                .map(|a| json!({"key": a.key, "value": a.value, "error": a.error.unwrap_or_default()}))
                .collect();
            request.finish(ENDPOINT, "answered", false);
            json_response(
                &json!({"apiVersion": API_VERSION, "kind": "ProviderResponse",
                "response": {"idempotent": true, "items": items, "systemError": ""}}),
            )
        }
        Err(message) => {
            request.finish(ENDPOINT, "error", false);
            json_response(&system_error(message))
        }
    }
}

async fn kyverno(State(app): State<Arc<App>>, body: Body) -> Response {
    const ENDPOINT: &str = "kyverno";
    let (request, value) = match Request::start(&app, body, ENDPOINT).await {
        Ok(started) => started,
        Err(response) => return *response,
    };
    let Some(object) = value.as_object() else {
        request.finish(ENDPOINT, "invalid", false);
        return error(
            StatusCode::BAD_REQUEST,
            "expected a JSON object: a Kubernetes object, an AdmissionReview, or {\"images\": [...]}",
        );
    };
    let keys = if let Some(images) = object.get("images") {
        Some(image_keys(images, "images"))
    } else {
        object
            .get("image")
            .map(|image| image_keys(&Value::Array(vec![image.clone()]), "image"))
    };
    let on_error = app.options.on_error;
    match keys {
        Some(Err(message)) => {
            request.finish(ENDPOINT, "invalid", false);
            error(StatusCode::BAD_REQUEST, message)
        }
        Some(Ok(keys)) => match check_images(&request, keys).await {
            Ok(answers) => {
                // An image whose lookup failed counts as allowed only with on-error: allow.
                let allowed = answers.iter().all(|a| {
                    a.value["allowed"] == true && (a.error.is_none() || on_error == OnError::Allow)
                });
                let images: serde_json::Map<String, Value> = answers
                    .into_iter()
                    .map(|a| {
                        let mut value = if a.value.is_null() {
                            json!({"allowed": false})
                        } else {
                            a.value
                        };
                        if let Some(error) = a.error {
                            value["error"] = error.into();
                        }
                        (a.key, value)
                    })
                    .collect();
                request.finish(ENDPOINT, if allowed { "allowed" } else { "denied" }, false);
                json_response(&json!({"allowed": allowed, "images": images}))
            }
            Err(reason) => {
                request.finish(ENDPOINT, "error", false);
                json_response(&json!({"allowed": on_error == OnError::Allow, "error": reason}))
            }
        },
        None => {
            let answer = match evaluate(&request, value, false).await {
                Ok((_, _, report, problems)) => {
                    count(&app, &report);
                    let answer = verdict::answer(&report, &problems, app.options.fail_on, on_error);
                    let findings: Vec<Value> = report
                        .findings
                        .iter()
                        .map(|f| {
                            json!({"rule": &*f.rule, "severity": f.severity, "message": f.message,
                                        "remediation": &*f.remediation, "kind": f.resource.kind,
                                        "namespace": f.resource.namespace, "name": f.resource.name,
                                        "container": f.container, "path": f.path})
                        })
                        .collect();
                    let errors: Vec<String> = report
                        .errors
                        .iter()
                        .map(|e| e.to_string())
                        .chain(problems)
                        .collect();
                    json!({"allowed": answer.allowed,
                           "message": answer.status.map(|(_, m)| m),
                           "findings": findings, "errors": errors})
                }
                Err(reason) => {
                    json!({"allowed": on_error == OnError::Allow, "errors": [reason], "findings": []})
                }
            };
            request.finish(
                ENDPOINT,
                if answer["allowed"] == true {
                    "allowed"
                } else {
                    "denied"
                },
                false,
            );
            json_response(&answer)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_pod_names_do_not_match_longer_ones() {
        assert!(super::names(
            "rule failed on Pod default/image-1: x",
            "image-1"
        ));
        assert!(!super::names(
            "rule failed on Pod default/image-10: x",
            "image-1"
        ));
        assert!(super::names("image-10 and image-1", "image-1"));
    }
}
