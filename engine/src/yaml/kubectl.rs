//! Portcullis must read YAML exactly as Kubernetes does, or a manifest can show it one pod
//! and the cluster another. kubectl is the reference: `kubectl label --local -f FILE x=y -o
//! json` reads a file with the same code the API server uses (`sigs.k8s.io/yaml`, go-yaml
//! v2) and prints the objects without a cluster. Every document of the corpus must load to
//! the same JSON in both, or fail in both.
//!
//! `PORTCULLIS_YAML_CORPUS=DIR` adds every YAML file under DIR to the corpus.
//!
//! Without kubectl the test prints a SKIPPED line and passes, except under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::load::{Loaded, load_source, split_yaml_documents};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kubectl() -> Option<PathBuf> {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(PathBuf::from("kubectl"));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "kubectl is required under CI (.ci/run installs kubernetes-client)"
    );
    eprintln!("SKIPPED: kubectl not found; the YAML reading is not compared with Kubernetes'");
    None
}

/// kubectl's reading of one document: the objects, or `None` when kubectl rejects it.
fn kubectl_objects(kubectl: &Path, dir: &Path, text: &str) -> Option<Vec<Value>> {
    let file = dir.join("doc.yaml");
    std::fs::write(&file, text).unwrap();
    let output = Command::new(kubectl)
        .args(["label", "--local", "-o", "json", "portcullis-test=x", "-f"])
        .arg(&file)
        .output()
        .expect("running kubectl");
    if !output.status.success() {
        return None;
    }
    // One JSON value per object, or a `List` of them.
    let mut objects = Vec::new();
    for value in serde_json::Deserializer::from_slice(&output.stdout).into_iter::<Value>() {
        match value.expect("kubectl prints JSON") {
            Value::Object(mut map) if map.get("kind") == Some(&Value::from("List")) => {
                if let Some(Value::Array(items)) = map.remove("items") {
                    objects.extend(items);
                }
            }
            other => objects.push(other),
        }
    }
    // Take back the label kubectl was asked to add.
    for object in &mut objects {
        let metadata = object["metadata"].as_object_mut().unwrap();
        let labels = metadata["labels"].as_object_mut().unwrap();
        labels.remove("portcullis-test");
        if labels.is_empty() {
            metadata.remove("labels");
        }
        // kubectl creates `metadata` to hold the label.
        if metadata.is_empty() {
            object.as_object_mut().unwrap().remove("metadata");
        }
    }
    Some(objects)
}

/// Portcullis's reading of the same document, or `None` when it reports an error.
fn portcullis_objects(text: &str) -> Option<Vec<Value>> {
    let mut objects = Vec::new();
    for item in load_source("doc.yaml", text) {
        match item {
            Loaded::Object(object) => objects.push(object.value),
            Loaded::Skipped => {}
            Loaded::Error(_) => return None,
        }
    }
    Some(objects)
}

fn corpus() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![root.join("tests/fixtures/yaml/kubernetes-semantics.yaml")];
    for dir in ["examples", "tests/fixtures"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .filter(|p| {
                !p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("portcullis")
            })
            .collect();
        found.sort();
        files.extend(found);
    }
    // More, by hand: `PORTCULLIS_YAML_CORPUS=DIR cargo test --test yaml_kubectl`.
    if let Some(extra) = std::env::var_os("PORTCULLIS_YAML_CORPUS") {
        let mut pending = vec![PathBuf::from(extra)];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    files.push(path);
                }
            }
        }
    }
    files
}

#[test]
fn yaml_is_read_as_kubectl_reads_it() {
    let Some(kubectl) = kubectl() else { return };
    let scratch = std::env::temp_dir().join(format!("portcullis-yaml-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut compared = 0;
    let mut read_by_both = 0;
    let mut differences = Vec::new();
    for file in corpus() {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in split_yaml_documents(&text) {
            // kubectl needs objects it can label: skip documents without a name.
            // Admission envelopes are unwrapped by Portcullis; their objects are compared
            // as plain documents elsewhere in the corpus.
            if !doc.text.contains("kind:") || doc.text.contains("AdmissionReview") {
                continue;
            }
            let theirs = kubectl_objects(&kubectl, &scratch, doc.text);
            let ours = portcullis_objects(doc.text);
            compared += 1;
            let agree = match (&theirs, &ours) {
                (Some(theirs), Some(ours)) => {
                    read_by_both += 1;
                    theirs == ours
                }
                // kubectl also rejects objects it cannot label (no name, unknown kind);
                // what matters is that it never reads something Portcullis rejects or
                // reads differently.
                (None, _) => true,
                (Some(_), None) => false,
            };
            if !agree {
                differences.push(format!(
                    "{}:{}:\n  kubectl:    {}\n  portcullis: {}",
                    file.display(),
                    doc.content_line,
                    serde_json::to_string(&theirs).unwrap(),
                    serde_json::to_string(&ours).unwrap()
                ));
            }
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
    eprintln!("{compared} documents compared, {read_by_both} read by both");
    // kubectl must have read most of them, or the comparison proves nothing.
    assert!(
        read_by_both >= 20 && read_by_both * 10 >= compared * 8,
        "kubectl read only {read_by_both} of {compared} documents"
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} documents read differently:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
