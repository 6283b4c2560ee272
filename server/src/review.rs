//! AdmissionReview in and out (`admission.k8s.io/v1` and `v1beta1`, which have the same
//! shape). The response is written here rather than with kube-core's types: those encode
//! `patch` as an array of numbers (kube-rs/kube#1781) where the API server expects base64.

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// The API versions the server answers.
pub const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// The parts of an AdmissionReview's request the server looks at; `request` is the whole
/// AdmissionRequest, which the engine reads.
#[derive(Debug)]
pub struct Review {
    pub api_version: String,
    pub uid: String,
    pub operation: String,
    pub namespace: Option<String>,
    /// `request.kind.kind`, else the object's `kind`.
    pub kind: Option<String>,
    pub dry_run: bool,
    pub request: Value,
}

/// Reads an AdmissionReview; the error says what is wrong, for a 400 answer.
pub fn parse(body: Value) -> Result<Review, String> {
    let Value::Object(mut review) = body else {
        return Err("the body is not a JSON object; expected an AdmissionReview".into());
    };
    let api_version = match review.get("apiVersion") {
        Some(Value::String(v)) if API_VERSIONS.contains(&v.as_str()) => v.clone(),
        Some(Value::String(v)) => {
            return Err(format!(
                "apiVersion `{v}` is not served; expected {}",
                API_VERSIONS.join(" or ")
            ));
        }
        _ => return Err("the AdmissionReview has no `apiVersion`".into()),
    };
    if review.get("kind").and_then(Value::as_str) != Some("AdmissionReview") {
        return Err("`kind` is not `AdmissionReview`".into());
    }
    let Some(Value::Object(request)) = review.remove("request") else {
        return Err("the AdmissionReview has no `request` object".into());
    };
    let text = |map: &Map<String, Value>, key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let uid = text(&request, "uid").ok_or("the AdmissionReview's request has no `uid`")?;
    let operation =
        text(&request, "operation").ok_or("the AdmissionReview's request has no `operation`")?;
    let kind = request
        .get("kind")
        .and_then(|k| k.get("kind"))
        .and_then(Value::as_str)
        .or_else(|| {
            request
                .get("object")
                .and_then(|o| o.get("kind"))
                .and_then(Value::as_str)
        })
        .map(str::to_string);
    Ok(Review {
        api_version,
        uid,
        operation,
        namespace: text(&request, "namespace"),
        kind,
        dry_run: request.get("dryRun").and_then(Value::as_bool) == Some(true),
        request: Value::Object(request),
    })
}

/// An answer to one review.
#[derive(Debug, Default)]
pub struct Answer {
    pub allowed: bool,
    /// HTTP-style status code and message for denials.
    pub status: Option<(u16, String)>,
    pub warnings: Vec<String>,
    /// A JSON Patch, serialized; never set without operations (the API server rejects a
    /// `patchType` without a `patch`).
    pub patch: Option<Vec<u8>>,
}

impl Answer {
    pub fn allow() -> Answer {
        Answer {
            allowed: true,
            ..Answer::default()
        }
    }
}

/// The AdmissionReview answering `review`.
pub fn respond(review: &Review, answer: Answer) -> Value {
    let mut response = json!({ "uid": review.uid, "allowed": answer.allowed });
    if let Some((code, message)) = answer.status {
        response["status"] = json!({
            "code": code,
            "message": message,
            "reason": if code == 403 { "Forbidden" } else { "InternalError" },
        });
    }
    if !answer.warnings.is_empty() {
        response["warnings"] = answer.warnings.into();
    }
    if let Some(patch) = answer.patch {
        response["patchType"] = "JSONPatch".into();
        response["patch"] = base64::engine::general_purpose::STANDARD
            .encode(patch)
            .into();
    }
    json!({
        "apiVersion": review.api_version,
        "kind": "AdmissionReview",
        "response": response,
    })
}
