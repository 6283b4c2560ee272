//! Property tests: the image-reference parser and normalization.

use crate::image::ImageRef;
use crate::load::LoadedObject;
use crate::workload::{Normalized, normalize};
use proptest::prelude::*;
use serde_json::{Value, json};

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}([._-][a-z0-9]{1,5})?"
}

fn registry() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("docker.io".to_string())),
        Just(Some("index.docker.io".to_string())),
        Just(Some("localhost".to_string())),
        "[a-z]{1,6}\\.(io|com)".prop_map(Some),
        "[a-z]{1,6}:[0-9]{2,5}".prop_map(Some),
    ]
}

fn tag() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}".prop_map(Some)
    ]
}

fn digest() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        "[0-9a-f]{64}".prop_map(|h| Some(format!("sha256:{h}")))
    ]
}

proptest! {
    #[test]
    fn parser_never_panics(s in "\\PC{0,80}") {
        let _ = ImageRef::parse(&s);
    }

    #[test]
    fn valid_references_parse_into_their_parts(
        registry in registry(),
        path in prop::collection::vec(component(), 1..4),
        tag in tag(),
        digest in digest(),
    ) {
        // A first component with a dot names a registry; that case has its own expectations.
        prop_assume!(registry.is_some() || path.len() == 1 || !path[0].contains('.'));
        let mut reference = String::new();
        if let Some(r) = &registry { reference.push_str(r); reference.push('/'); }
        reference.push_str(&path.join("/"));
        if let Some(t) = &tag { reference.push(':'); reference.push_str(t); }
        if let Some(d) = &digest { reference.push('@'); reference.push_str(d); }

        let parsed = ImageRef::parse(&reference).unwrap();
        prop_assert_eq!(&parsed.tag, &tag);
        prop_assert_eq!(&parsed.digest, &digest);
        let hub = matches!(registry.as_deref(), None | Some("docker.io") | Some("index.docker.io"));
        if hub {
            prop_assert_eq!(parsed.registry.as_str(), "docker.io");
            if path.len() == 1 {
                prop_assert_eq!(parsed.repository.clone(), format!("library/{}", path[0]));
            } else {
                prop_assert_eq!(parsed.repository.clone(), path.join("/"));
            }
        } else {
            prop_assert_eq!(Some(parsed.registry.clone()), registry);
            prop_assert_eq!(parsed.repository.clone(), path.join("/"));
        }
        prop_assert_eq!(parsed.name.clone(), format!("{}/{}", parsed.registry, parsed.repository));
        // Normalizing is idempotent: the normalized name parses to itself.
        let again = ImageRef::parse(&parsed.full_name()).unwrap();
        prop_assert_eq!(again.name, parsed.name);
    }
}

fn security_context() -> impl Strategy<Value = Value> {
    (
        prop::option::of(0i64..3000),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(user, non_root, ro, escalation, privileged)| {
            let mut sc = serde_json::Map::new();
            if let Some(u) = user {
                sc.insert("runAsUser".into(), json!(u));
            }
            if let Some(v) = non_root {
                sc.insert("runAsNonRoot".into(), json!(v));
            }
            if let Some(v) = ro {
                sc.insert("readOnlyRootFilesystem".into(), json!(v));
            }
            if let Some(v) = escalation {
                sc.insert("allowPrivilegeEscalation".into(), json!(v));
            }
            if let Some(v) = privileged {
                sc.insert("privileged".into(), json!(v));
            }
            Value::Object(sc)
        })
}

fn container() -> impl Strategy<Value = Value> {
    (
        "[a-z]{1,8}",
        prop::sample::select(vec![
            "nginx",
            "nginx:latest",
            "a/b:1",
            "reg:5000/x",
            "BAD IMAGE",
            "q.io/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        ]),
        prop::option::of(prop::sample::select(vec![
            "Always",
            "IfNotPresent",
            "Never",
        ])),
        prop::option::of(security_context()),
    )
        .prop_map(|(name, image, policy, sc)| {
            let mut c = json!({"name": name, "image": image, "env": [{"name": "A", "value": "b"}]});
            if let Some(p) = policy {
                c["imagePullPolicy"] = json!(p);
            }
            if let Some(sc) = sc {
                c["securityContext"] = sc;
            }
            c
        })
}

fn pod_spec() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(container(), 0..3),
        prop::collection::vec(container(), 1..3),
        prop::collection::vec(container(), 0..2),
        prop::option::of(security_context()),
    )
        .prop_map(|(init, app, ephemeral, sc)| {
            let mut spec = json!({"initContainers": init, "containers": app, "ephemeralContainers": ephemeral,
                                  "imagePullSecrets": [{"name": "regcred"}], "serviceAccountName": "sa"});
            if let Some(sc) = sc { spec["securityContext"] = sc; }
            spec
        })
}

fn wrap(kind: &str, spec: &Value) -> Value {
    let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": spec});
    let meta = json!({"name": "w", "namespace": "ns"});
    match kind {
        "Pod" => {
            json!({"kind": "Pod", "metadata": {"name": "w", "namespace": "ns", "labels": {"app": "x"}}, "spec": spec})
        }
        "CronJob" => {
            json!({"kind": kind, "metadata": meta, "spec": {"jobTemplate": {"spec": {"template": template}}}})
        }
        "PodTemplate" => json!({"kind": kind, "metadata": meta, "template": template}),
        _ => json!({"kind": kind, "metadata": meta, "spec": {"template": template}}),
    }
}

proptest! {
    #[test]
    fn every_controller_kind_normalizes_the_same_pod_spec_alike(spec in pod_spec()) {
        let view = |kind: &str| {
            let object = LoadedObject { document: 0, line: 1, item: None, value: wrap(kind, &spec), admission: None };
            match normalize(object) {
                Normalized::Workload(w) => w,
                other => panic!("{kind}: {other:?}"),
            }
        };
        let pod = view("Pod");
        for (kind, _) in crate::workload::POD_KINDS {
            let w = view(kind);
            prop_assert_eq!(&w.namespace, &pod.namespace);
            prop_assert_eq!(w.pod_labels(), pod.pod_labels());
            prop_assert_eq!(&w.image_pull_secrets, &pod.image_pull_secrets);
            prop_assert_eq!(&w.service_account_name, &pod.service_account_name);
            prop_assert_eq!(w.containers.len(), pod.containers.len());
            for (a, b) in w.containers.iter().zip(&pod.containers) {
                let suffix_a = a.path.strip_prefix(&w.pod_spec_path).unwrap();
                let suffix_b = b.path.strip_prefix(&pod.pod_spec_path).unwrap();
                prop_assert_eq!(suffix_a, suffix_b);
                prop_assert_eq!((&a.name, a.role, &a.image, &a.image_pull_policy, &a.security, &a.env),
                                (&b.name, b.role, &b.image, &b.image_pull_policy, &b.security, &b.env));
            }
        }
    }
}
