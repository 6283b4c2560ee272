//! Normalization: every pod-carrying kind becomes one [`Workload`] view, so rules never walk
//! kind-specific paths.
//!
//! Each container carries its role, its field path, its parsed image, its effective
//! securityContext (container fields over pod fields) and its effective pull policy
//! (Kubernetes defaulting).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::image::{ImageRef, ImageRefError};
use crate::load::LoadedObject;

pub(crate) mod dockerfile;
pub mod fields;

/// The kinds that carry a pod, with the path of their pod spec.
pub const POD_KINDS: [(&str, &str); 9] = [
    ("Pod", "spec"),
    ("Deployment", "spec.template.spec"),
    ("ReplicaSet", "spec.template.spec"),
    ("StatefulSet", "spec.template.spec"),
    ("DaemonSet", "spec.template.spec"),
    ("ReplicationController", "spec.template.spec"),
    ("Job", "spec.template.spec"),
    ("CronJob", "spec.jobTemplate.spec.template.spec"),
    ("PodTemplate", "template.spec"),
];

/// The pod spec path of `kind`, or `None` for kinds that carry no pod.
pub fn pod_spec_path(kind: &str) -> Option<&'static str> {
    POD_KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, path)| *path)
}

/// Which list of the pod spec a container comes from; for a Dockerfile, whether the stage
/// is the one built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Init,
    App,
    Ephemeral,
    /// A Dockerfile stage other than the last.
    Stage,
    /// The last stage of a Dockerfile: the image that is built.
    Final,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Init => "init",
            Role::App => "app",
            Role::Ephemeral => "ephemeral",
            Role::Stage => "stage",
            Role::Final => "final",
        }
    }

    fn field(self) -> &'static str {
        match self {
            Role::Init => "initContainers",
            Role::App => "containers",
            Role::Ephemeral => "ephemeralContainers",
            Role::Stage | Role::Final => "stages",
        }
    }
}

/// The effective securityContext of a container. `None` means "not set anywhere".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub run_as_group: Option<i64>,
    pub read_only_root_filesystem: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
    pub privileged: Option<bool>,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    /// Effective `windowsOptions.runAsUserName` (Windows pods; `ContainerAdministrator` is
    /// the Windows root).
    pub windows_run_as_user_name: Option<String>,
    /// Effective `windowsOptions.hostProcess`: a container with the host's access, Windows'
    /// counterpart of `privileged`.
    pub windows_host_process: Option<bool>,
    /// Fields (as spelled in the manifest, e.g. `runAsUser`) whose effective value comes
    /// from the pod's securityContext rather than the container's.
    pub from_pod: Vec<&'static str>,
}

/// One environment variable of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    /// The literal `value`; `None` when the variable uses `valueFrom` or has no value.
    pub value: Option<String>,
    /// Whether the variable takes its value from a Secret, ConfigMap or field reference.
    pub value_from: bool,
}

/// A container's image: as written, and parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The image as written (empty when the container has none).
    pub raw: String,
    pub parsed: Result<ImageRef, ImageRefError>,
    /// Where it comes from: a registry for every manifest image; for a Dockerfile stage,
    /// possibly an earlier stage or `scratch`, which are no registry images.
    pub kind: ImageKind,
}

/// What a [`Image`] names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ImageKind {
    /// An image in a registry (`parsed` says whether the reference is valid).
    #[default]
    Registry,
    /// An earlier stage of the same Dockerfile.
    Stage,
    /// `FROM scratch`: an empty file system.
    Scratch,
    /// A `FROM` that names nothing (a variable without a value; the file's errors say so).
    Unknown,
}

impl ImageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Registry => "registry",
            ImageKind::Stage => "stage",
            ImageKind::Scratch => "scratch",
            ImageKind::Unknown => "unknown",
        }
    }
}

impl Image {
    /// The parsed reference, when it is valid.
    pub fn valid(&self) -> Option<&ImageRef> {
        self.parsed.as_ref().ok()
    }
}

/// One container of a workload, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub role: Role,
    /// Field path of the container, e.g. `spec.template.spec.initContainers[0]`.
    pub path: String,
    pub image: Arc<Image>,
    /// The pull policy as written, if any.
    pub image_pull_policy_set: Option<String>,
    /// The pull policy Kubernetes applies.
    pub image_pull_policy: String,
    pub security: SecurityContext,
    pub env: Vec<EnvVar>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// For a Dockerfile stage: the file and where the stage's parts are written.
    pub build: Option<Arc<dockerfile::BuildStage>>,
    /// For a container of a manifest: where its object is, so that the parts of it the
    /// normalized view does not copy are read only when a rule asks for them.
    pub(crate) source: Option<ContainerSource>,
}

/// Where a container's object sits in its workload's object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContainerSource {
    pub(crate) object: Arc<Value>,
    pub(crate) spec_path: &'static str,
    pub(crate) index: usize,
}

impl Container {
    /// The container's object as written in the manifest; `None` for a Dockerfile stage.
    pub fn manifest(&self) -> Option<&Map<String, Value>> {
        let index = self.source.as_ref()?.index;
        self.pod_spec()?
            .get(self.role.field())?
            .get(index)?
            .as_object()
    }

    /// The pod spec the container belongs to, as written; `None` for a Dockerfile stage.
    pub fn pod_spec(&self) -> Option<&Map<String, Value>> {
        let source = self.source.as_ref()?;
        lookup(&source.object, source.spec_path)
            .ok()
            .flatten()?
            .as_object()
    }

    /// The field path and, for a Dockerfile stage, the line of `field` (a path below the
    /// container: `image`, `env[2].value`, `securityContext.runAsNonRoot`).
    pub fn locate(&self, field: &str) -> (String, Option<usize>) {
        match &self.build {
            Some(build) => build.locate(field),
            None => (format!("{}.{field}", self.path), None),
        }
    }

    /// [`locate`](Self::locate) for an absolute field path (from `security_field_path`).
    pub fn locate_path(&self, path: &str) -> (String, Option<usize>) {
        match (&self.build, path.strip_prefix(self.path.as_str())) {
            (Some(build), Some(rest)) => build.locate(rest.trim_start_matches('.')),
            _ => (path.to_string(), None),
        }
    }

    /// Field path of the pod spec this container belongs to.
    pub fn pod_spec_path(&self) -> &str {
        self.path.rsplit_once('.').map_or("", |(spec, _)| spec)
    }

    /// Where the effective value of the securityContext field `field` (e.g. `runAsUser`) is
    /// set: the pod's securityContext when inherited, else the container's.
    pub fn security_field_path(&self, field: &str) -> String {
        if self.security.from_pod.contains(&field) {
            format!("{}.securityContext.{field}", self.pod_spec_path())
        } else {
            format!("{}.securityContext.{field}", self.path)
        }
    }
}

/// A pod-carrying Kubernetes object, normalized.
#[derive(Debug, Clone)]
pub struct Workload {
    pub(crate) kind: String,
    pub(crate) api_version: String,
    pub(crate) name: String,
    /// The object's namespace, or `default`.
    pub(crate) namespace: String,
    /// Whether the manifest (or the admission request) named the namespace; if not, a
    /// policy's default namespace replaces `default`.
    pub(crate) namespace_given: bool,
    pub(crate) service_account_name: Option<String>,
    pub(crate) image_pull_secrets: Vec<String>,
    /// Field path of the pod spec, e.g. `spec.template.spec`.
    pub(crate) pod_spec_path: String,
    pub(crate) containers: Vec<Arc<Container>>,
    /// The operating system the pod runs on, lower case, when the manifest says: `spec.os.name`
    /// (what the API server validates against), else the `kubernetes.io/os` node selector.
    pub(crate) os: Option<String>,
    /// The whole object, for rules that need fields the view does not carry.
    pub(crate) raw: Arc<Value>,
    /// 0-based document index and 1-based line in the source.
    pub(crate) document: usize,
    pub(crate) line: usize,
    /// The position among the objects of the document's `List`, for an item of one.
    pub(crate) item: Option<usize>,
    /// For a Dockerfile (kind `Dockerfile`): the parsed file.
    pub(crate) dockerfile: Option<Arc<crate::dockerfile::Dockerfile>>,
}

impl Workload {
    /// The object's kind (`Deployment`, `Pod`, …).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The object's namespace, `default` when it has none.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The names of its containers (init, regular and ephemeral), in manifest order.
    pub fn container_names(&self) -> impl Iterator<Item = &str> {
        self.containers.iter().map(|c| c.name.as_str())
    }

    /// The images its containers run, where the reference is valid.
    pub fn images(&self) -> impl Iterator<Item = &ImageRef> {
        self.containers.iter().filter_map(|c| c.image.valid())
    }

    /// The whole object as read (merge keys applied, YAML 1.1 scalars resolved).
    pub fn object(&self) -> &Value {
        &self.raw
    }

    /// 1-based line where the object starts in its source.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The parsed Dockerfile, when the workload is one (kind `Dockerfile`).
    pub fn dockerfile(&self) -> Option<&crate::dockerfile::Dockerfile> {
        self.dockerfile.as_deref()
    }
}

// Labels and annotations are read from the object when asked for: most rules never look at
// them, and copying four maps per document showed in the normalize benchmark.
impl Workload {
    fn metadata(&self) -> Option<&Map<String, Value>> {
        self.raw.get("metadata").and_then(Value::as_object)
    }

    /// The pod's own metadata: the object's for a Pod, else the pod template's.
    fn pod_metadata(&self) -> Option<&Map<String, Value>> {
        match self.pod_spec_path.strip_suffix(".spec") {
            Some(template_path) => lookup(&self.raw, template_path)
                .ok()
                .flatten()
                .and_then(|template| template.get("metadata"))
                .and_then(Value::as_object),
            None => self.metadata(),
        }
    }

    /// The pod spec as written; `None` for a Dockerfile.
    pub fn pod_spec(&self) -> Option<&Map<String, Value>> {
        if self.dockerfile.is_some() {
            return None;
        }
        lookup(&self.raw, &self.pod_spec_path)
            .ok()
            .flatten()?
            .as_object()
    }

    /// Field path of the pod's metadata: `metadata` for a Pod, else the pod template's
    /// (`spec.template.metadata`).
    pub fn pod_metadata_path(&self) -> String {
        match self.pod_spec_path.strip_suffix(".spec") {
            Some(template_path) => format!("{template_path}.metadata"),
            None => "metadata".to_string(),
        }
    }

    /// The object's own labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        string_map(self.metadata(), "labels")
    }

    /// The object's own annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        string_map(self.metadata(), "annotations")
    }

    /// The pod's labels (the template's for controllers).
    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        string_map(self.pod_metadata(), "labels")
    }

    /// The pod's annotations (the template's for controllers).
    pub fn pod_annotations(&self) -> BTreeMap<String, String> {
        string_map(self.pod_metadata(), "annotations")
    }

    /// The annotation `key` of the object, else of its pod template.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        fn get<'v>(metadata: Option<&'v Map<String, Value>>, key: &str) -> Option<&'v str> {
            metadata?
                .get("annotations")?
                .as_object()?
                .get(key)?
                .as_str()
        }
        get(self.metadata(), key).or_else(|| get(self.pod_metadata(), key))
    }
}

/// Normalization outcome for one loaded object.
#[derive(Debug)]
pub enum Normalized {
    Workload(Box<Workload>),
    /// The kind carries no pod.
    NotAWorkload,
    /// The object is a pod kind but malformed in a way that stops evaluation.
    Invalid(String),
}

/// Builds the normalized view of `object`.
pub fn normalize(object: LoadedObject) -> Normalized {
    let LoadedObject {
        document,
        line,
        item,
        value,
        admission,
    } = object;
    let Some(kind) = value.get("kind").and_then(Value::as_str) else {
        return Normalized::NotAWorkload;
    };
    let Some(spec_path) = pod_spec_path(kind) else {
        return Normalized::NotAWorkload;
    };
    let kind = kind.to_string();
    // Shared with the containers, which read their objects from it when rules ask.
    let value = Arc::new(value);
    let metadata = value.get("metadata").and_then(Value::as_object);
    let name = metadata
        .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let given_namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .map(str::to_string)
        .or_else(|| admission.and_then(|a| a.namespace));
    let namespace_given = given_namespace.is_some();
    let namespace = given_namespace.unwrap_or_else(|| "default".to_string());

    let pod_spec = match lookup(&value, spec_path) {
        Ok(Some(Value::Object(spec))) => spec,
        Ok(None) | Ok(Some(Value::Null)) => {
            return Normalized::Invalid(format!(
                "{kind} `{name}` has no pod spec at `{spec_path}`"
            ));
        }
        Ok(Some(other)) => {
            return Normalized::Invalid(format!(
                "`{spec_path}` of {kind} `{name}` is {}, expected a mapping",
                crate::diagnostic::describe(other)
            ));
        }
        Err(message) => return Normalized::Invalid(message),
    };
    let pod_security = pod_spec.get("securityContext").and_then(Value::as_object);
    let mut containers = Vec::new();
    for role in [Role::Init, Role::App, Role::Ephemeral] {
        match pod_spec.get(role.field()) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, c) in list.iter().enumerate() {
                    let path = format!("{spec_path}.{}[{i}]", role.field());
                    let Value::Object(c) = c else {
                        return Normalized::Invalid(format!(
                            "`{path}` is {}, expected a container mapping",
                            crate::diagnostic::describe(c)
                        ));
                    };
                    let source = ContainerSource {
                        object: Arc::clone(&value),
                        spec_path,
                        index: i,
                    };
                    containers.push(Arc::new(normalize_container(
                        c,
                        role,
                        path,
                        pod_security,
                        source,
                    )));
                }
            }
            Some(other) => {
                return Normalized::Invalid(format!(
                    "`{spec_path}.{}` is {}, expected a list",
                    role.field(),
                    crate::diagnostic::describe(other)
                ));
            }
        }
    }

    let os = pod_spec
        .get("os")
        .and_then(|os| os.get("name"))
        .or_else(|| {
            pod_spec
                .get("nodeSelector")
                .and_then(|selector| selector.get("kubernetes.io/os"))
        })
        .and_then(Value::as_str)
        .filter(|os| !os.is_empty())
        .map(str::to_ascii_lowercase);
    let image_pull_secrets = pod_spec
        .get("imagePullSecrets")
        .and_then(Value::as_array)
        .map(|secrets| {
            secrets
                .iter()
                .filter_map(|s| match s {
                    Value::Object(o) => o.get("name").and_then(Value::as_str),
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let service_account_name = pod_spec
        .get("serviceAccountName")
        .or_else(|| pod_spec.get("serviceAccount"))
        .and_then(Value::as_str)
        .map(str::to_string);

    let workload = Workload {
        api_version: value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        name,
        namespace,
        namespace_given,
        service_account_name,
        image_pull_secrets,
        pod_spec_path: spec_path.to_string(),
        containers,
        os,
        kind,
        document,
        line,
        item,
        raw: Arc::clone(&value),
        dockerfile: None,
    };
    Normalized::Workload(Box::new(workload))
}

/// Follows a dotted path of mapping keys. `Err` when a step is not a mapping.
fn lookup<'v>(value: &'v Value, path: &str) -> Result<Option<&'v Value>, String> {
    let mut current = value;
    for (depth, key) in path.split('.').enumerate() {
        match current {
            Value::Object(map) => match map.get(key) {
                Some(next) => current = next,
                None => return Ok(None),
            },
            Value::Null => return Ok(None),
            other => {
                // Built only on error: this runs for every document.
                let walked: Vec<&str> = path.split('.').take(depth).collect();
                return Err(format!(
                    "`{}` is {}, expected a mapping",
                    walked.join("."),
                    crate::diagnostic::describe(other)
                ));
            }
        }
    }
    Ok(Some(current))
}

pub(crate) fn string_map(
    metadata: Option<&Map<String, Value>>,
    key: &str,
) -> BTreeMap<String, String> {
    metadata
        .and_then(|m| m.get(key))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn normalize_container(
    c: &Map<String, Value>,
    role: Role,
    path: String,
    pod_security: Option<&Map<String, Value>>,
    source: ContainerSource,
) -> Container {
    let name = c
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (image_raw, image) = match c.get("image") {
        Some(Value::String(s)) if !s.is_empty() => (s.clone(), ImageRef::parse(s)),
        Some(Value::Null) | None => (
            String::new(),
            Err(image_error("", "the container has no image")),
        ),
        Some(Value::String(_)) => (String::new(), Err(image_error("", "the image is empty"))),
        Some(other) => {
            let raw = other.to_string();
            let error = image_error(
                &raw,
                &format!(
                    "the image is {}, not a string",
                    crate::diagnostic::describe(other)
                ),
            );
            (raw, Err(error))
        }
    };
    let image_pull_policy_set = c
        .get("imagePullPolicy")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let image_pull_policy = image_pull_policy_set
        .clone()
        .unwrap_or_else(|| default_pull_policy(&image_raw, image.as_ref().ok()).to_string());
    let security = effective_security(
        c.get("securityContext").and_then(Value::as_object),
        pod_security,
    );
    let strings = |key: &str| -> Vec<String> {
        c.get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let env = c
        .get("env")
        .and_then(Value::as_array)
        .map(|vars| {
            vars.iter()
                .filter_map(Value::as_object)
                .map(env_var)
                .collect()
        })
        .unwrap_or_default();
    Container {
        name,
        role,
        path,
        image: Arc::new(Image {
            raw: image_raw,
            parsed: image,
            kind: ImageKind::Registry,
        }),
        image_pull_policy_set,
        image_pull_policy,
        security,
        env,
        command: strings("command"),
        args: strings("args"),
        build: None,
        source: Some(source),
    }
}

fn image_error(reference: &str, reason: &str) -> ImageRefError {
    ImageRefError {
        reference: reference.to_string(),
        reason: reason.to_string(),
    }
}

/// Kubernetes defaulting: `Always` for the tag `latest` or for no tag and no digest,
/// else `IfNotPresent`.
pub fn default_pull_policy(image_raw: &str, image: Option<&ImageRef>) -> &'static str {
    let always = match image {
        Some(image) => {
            image.tag.as_deref() == Some("latest")
                || (image.tag.is_none() && image.digest.is_none())
        }
        // An unparsable reference: fall back to the last path segment, as kubelet's parser would.
        None => {
            let last = image_raw.rsplit('/').next().unwrap_or("");
            !last.contains(':') && !image_raw.contains('@') || last.ends_with(":latest")
        }
    };
    if always { "Always" } else { "IfNotPresent" }
}

fn env_var(var: &Map<String, Value>) -> EnvVar {
    EnvVar {
        name: var
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        value: match var.get("value") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        },
        value_from: var.get("valueFrom").is_some_and(|v| !v.is_null()),
    }
}

/// Container fields override pod fields. Only runAsUser, runAsNonRoot and runAsGroup exist at
/// pod level in Kubernetes; the other fields are read from the container alone.
fn effective_security(
    container: Option<&Map<String, Value>>,
    pod: Option<&Map<String, Value>>,
) -> SecurityContext {
    let field = |key: &str| container.and_then(|c| c.get(key)).filter(|v| !v.is_null());
    let pod_field = |key: &str| pod.and_then(|p| p.get(key)).filter(|v| !v.is_null());
    let inherited = |key: &str| field(key).or_else(|| pod_field(key));
    // `windowsOptions` is merged field by field, as the kubelet does.
    let windows = |options: Option<&Value>, key: &str| {
        options
            .and_then(Value::as_object)
            .and_then(|o| o.get(key))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let windows_field = |key: &str| {
        windows(field("windowsOptions"), key)
            .map(|v| (v, false))
            .or_else(|| windows(pod_field("windowsOptions"), key).map(|v| (v, true)))
    };
    let user_name = windows_field("runAsUserName");
    let host_process = windows_field("hostProcess");
    let mut from_pod: Vec<&'static str> = ["runAsUser", "runAsNonRoot", "runAsGroup"]
        .into_iter()
        .filter(|key| field(key).is_none() && pod_field(key).is_some())
        .collect();
    for (key, found) in [
        ("windowsOptions.runAsUserName", &user_name),
        ("windowsOptions.hostProcess", &host_process),
    ] {
        if matches!(found, Some((_, true))) {
            from_pod.push(key);
        }
    }
    let capabilities = field("capabilities").and_then(Value::as_object);
    let caps = |key: &str| -> Vec<String> {
        capabilities
            .and_then(|c| c.get(key))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    SecurityContext {
        run_as_user: inherited("runAsUser").and_then(as_int),
        run_as_non_root: inherited("runAsNonRoot").and_then(as_bool),
        run_as_group: inherited("runAsGroup").and_then(as_int),
        read_only_root_filesystem: field("readOnlyRootFilesystem").and_then(as_bool),
        allow_privilege_escalation: field("allowPrivilegeEscalation").and_then(as_bool),
        privileged: field("privileged").and_then(as_bool),
        capabilities_add: caps("add"),
        capabilities_drop: caps("drop"),
        windows_run_as_user_name: user_name.and_then(|(v, _)| v.as_str().map(str::to_string)),
        windows_host_process: host_process.and_then(|(v, _)| as_bool(&v)),
        from_pod,
    }
}

/// Booleans as Kubernetes' YAML 1.1 reader sees them (`yes`/`on` are true).
fn as_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn as_int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Workload {
        let value: Value = crate::yaml::parse_document(yaml).unwrap().value;
        let object = LoadedObject {
            document: 0,
            line: 1,
            item: None,
            value,
            admission: None,
        };
        match normalize(object) {
            Normalized::Workload(w) => *w,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cronjob_paths_and_roles() {
        let w = load(
            "kind: CronJob\nmetadata: {name: c, namespace: ops}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          initContainers: [{name: i, image: busybox}]\n          containers: [{name: a, image: 'nginx:1.25'}]\n",
        );
        assert_eq!(w.namespace, "ops");
        assert_eq!(
            w.containers[0].path,
            "spec.jobTemplate.spec.template.spec.initContainers[0]"
        );
        assert_eq!(w.containers[0].role, Role::Init);
        assert_eq!(w.containers[0].image_pull_policy, "Always");
        assert_eq!(w.containers[1].image_pull_policy, "IfNotPresent");
    }

    #[test]
    fn container_security_overrides_pod() {
        let w = load(
            "kind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsUser: 1000, runAsNonRoot: true, readOnlyRootFilesystem: true}\n  containers:\n  - {name: a, image: x, securityContext: {runAsUser: 0}}\n  - {name: b, image: x}\n",
        );
        assert_eq!(w.namespace, "default");
        let a = &w.containers[0].security;
        assert_eq!((a.run_as_user, a.run_as_non_root), (Some(0), Some(true)));
        let b = &w.containers[1].security;
        assert_eq!(b.run_as_user, Some(1000));
        // readOnlyRootFilesystem does not exist at pod level in Kubernetes.
        assert_eq!(b.read_only_root_filesystem, None);
    }

    #[test]
    fn other_kinds_are_not_workloads() {
        let object = LoadedObject {
            document: 0,
            line: 1,
            item: None,
            value: serde_json::json!({"kind": "Service"}),
            admission: None,
        };
        assert!(matches!(normalize(object), Normalized::NotAWorkload));
    }
}
