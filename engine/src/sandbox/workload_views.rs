//! The rule API for the rest of a pod: resources, ports, volumes and their mounts, probes,
//! `envFrom` and `valueFrom`, host namespaces, scheduling and ownership, and fields by path.
//!
//! None of this is copied when a workload is normalized: each property reads the object
//! when a rule asks for it, so rules that do not use it cost nothing.

use std::sync::Arc;

use rhai::{Array, Dynamic, EvalAltResult, ImmutableString, Map};
use serde_json::Value;

use super::{ContainerView, EnvView, WorkloadView, opt_str};
use crate::workload::fields;

/// A container's `resources` (`c.resources`); empty when the container sets none.
#[derive(Debug, Clone)]
pub struct ResourcesView(pub Arc<Value>);

/// One of a container's `ports`.
#[derive(Debug, Clone)]
pub struct PortView(pub Arc<Value>);

/// One of the pod's `volumes`.
#[derive(Debug, Clone)]
pub struct VolumeView(pub Arc<Value>);

/// One of a container's `volumeMounts`, with the volume it mounts (if the pod has it).
#[derive(Debug, Clone)]
pub struct VolumeMountView {
    pub mount: Arc<Value>,
    pub volume: Option<VolumeView>,
}

/// A container's liveness, readiness or startup probe.
#[derive(Debug, Clone)]
pub struct ProbeView(pub Arc<Value>);

/// The handlers a probe can have, in the order Kubernetes documents them.
const PROBE_HANDLERS: [&str; 4] = ["exec", "httpGet", "tcpSocket", "grpc"];

fn error(message: String) -> Box<EvalAltResult> {
    message.into()
}

/// A JSON value as a Rhai value; `()` for null.
fn to_rhai(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => (*b).into(),
        Value::String(s) => s.as_str().into(),
        other => rhai::serde::to_dynamic(other).unwrap_or(Dynamic::UNIT),
    }
}

fn get_str<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

fn get_int(value: &Value, key: &str) -> Dynamic {
    value
        .get(key)
        .and_then(Value::as_i64)
        .map_or(Dynamic::UNIT, Into::into)
}

fn get_bool(value: &Value, key: &str) -> Option<bool> {
    value.get(key).and_then(Value::as_bool)
}

/// `field(path)` below `base`.
fn field_at(base: Option<&Value>, path: &str) -> Result<Dynamic, Box<EvalAltResult>> {
    let segments = fields::parse_path(path).map_err(error)?;
    Ok(base
        .and_then(|b| fields::get(b, &segments))
        .map_or(Dynamic::UNIT, to_rhai))
}

/// `field(path)` below a mapping (a pod spec or container, borrowed from the object).
fn field_in(
    base: Option<&serde_json::Map<String, Value>>,
    path: &str,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let segments = fields::parse_path(path).map_err(error)?;
    let found = match (base, segments.split_first()) {
        (Some(map), Some((fields::Segment::Key(key), rest))) => {
            map.get(key).and_then(|v| fields::get(v, rest))
        }
        _ => None,
    };
    Ok(found.map_or(Dynamic::UNIT, to_rhai))
}

/// A quantity field as a number in base units, `()` when unset.
fn quantity_of(
    resources: &Value,
    section: &str,
    name: &str,
) -> Result<Dynamic, Box<EvalAltResult>> {
    match resources.get(section).and_then(|s| s.get(name)) {
        None | Some(Value::Null) => Ok(Dynamic::UNIT),
        Some(value) => parse_quantity_value(value)
            .map(Dynamic::from_float)
            .map_err(|e| error(format!("resources.{section}.{name}: {e}"))),
    }
}

fn parse_quantity_value(value: &Value) -> Result<f64, String> {
    match value {
        Value::String(s) => crate::quantity::parse(s),
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("invalid quantity `{n}`")),
        other => Err(format!(
            "invalid quantity: {}, expected a string such as `512Mi`",
            crate::diagnostic::describe(other)
        )),
    }
}

/// A section of `resources` (`requests`, `limits`) as written, values as strings.
fn quantities_as_written(resources: &Value, section: &str) -> Map {
    super::string_map(&crate::workload::string_map(resources.as_object(), section))
}

/// The pod's volumes by name, for joining mounts to them.
fn pod_volume(
    workload_spec: Option<&serde_json::Map<String, Value>>,
    name: &str,
) -> Option<VolumeView> {
    workload_spec?
        .get("volumes")?
        .as_array()?
        .iter()
        .find(|v| get_str(v, "name") == Some(name))
        .map(|v| VolumeView(Arc::new(v.clone())))
}

/// The container's object (an empty one for a Dockerfile stage).
fn container_value(c: &ContainerView) -> Option<&serde_json::Map<String, Value>> {
    c.0.manifest()
}

fn list_of(c: &ContainerView, key: &str) -> Vec<Value> {
    container_value(c)
        .and_then(|m| m.get(key))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter(|v| v.is_object()).cloned().collect())
        .unwrap_or_default()
}

fn probe(c: &ContainerView, key: &str) -> Dynamic {
    container_value(c)
        .and_then(|m| m.get(key))
        .filter(|p| p.is_object())
        .map_or(Dynamic::UNIT, |p| {
            Dynamic::from(ProbeView(Arc::new(p.clone())))
        })
}

/// What a `valueFrom` or `envFrom` entry refers to, as a map with `kind` and its fields.
fn reference_map(kind: &str, reference: &Value) -> Map {
    let mut map = Map::new();
    map.insert("kind".into(), kind.into());
    for (key, name) in [
        ("name", "name"),
        ("key", "key"),
        ("optional", "optional"),
        ("fieldPath", "field_path"),
        ("resource", "resource"),
        ("containerName", "container_name"),
    ] {
        if let Some(value) = reference.get(key) {
            map.insert(name.into(), to_rhai(value));
        }
    }
    map
}

/// The functions and properties for the rest of the pod; part of the rule API.
#[rhai::export_module]
pub mod workload_api {
    use super::*;

    pub type Workload = WorkloadView;
    pub type Container = ContainerView;
    pub type Env = EnvView;
    pub type Resources = ResourcesView;
    pub type Port = PortView;
    pub type Volume = VolumeView;
    pub type VolumeMount = VolumeMountView;
    pub type Probe = ProbeView;

    // ---- Workload ----

    /// The pod's `volumes`. Example: `workload.volumes.filter(|v| v.type == "hostPath")`.
    #[rhai_fn(get = "volumes", pure)]
    pub fn workload_volumes(w: &mut Workload) -> Array {
        w.0.pod_spec()
            .and_then(|spec| spec.get("volumes"))
            .and_then(Value::as_array)
            .map(|volumes| {
                volumes
                    .iter()
                    .filter(|v| v.is_object())
                    .map(|v| Dynamic::from(VolumeView(Arc::new(v.clone()))))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// `hostNetwork`: whether the pod uses the node's network namespace (`false` when
    /// unset). Example: `if workload.host_network { … }`.
    #[rhai_fn(get = "host_network", pure)]
    pub fn workload_host_network(w: &mut Workload) -> bool {
        pod_bool(w, "hostNetwork").unwrap_or(false)
    }
    /// `hostPID`: whether the pod sees the node's processes (`false` when unset). Example:
    /// `if workload.host_pid { … }`.
    #[rhai_fn(get = "host_pid", pure)]
    pub fn workload_host_pid(w: &mut Workload) -> bool {
        pod_bool(w, "hostPID").unwrap_or(false)
    }
    /// `hostIPC`: whether the pod shares the node's IPC namespace (`false` when unset).
    /// Example: `workload.host_network || workload.host_pid || workload.host_ipc`.
    #[rhai_fn(get = "host_ipc", pure)]
    pub fn workload_host_ipc(w: &mut Workload) -> bool {
        pod_bool(w, "hostIPC").unwrap_or(false)
    }
    /// `automountServiceAccountToken` of the pod: `true`, `false`, or `()` when unset (then
    /// the service account decides, and Kubernetes mounts the token by default). Example:
    /// `workload.automount_service_account_token != false`.
    #[rhai_fn(get = "automount_service_account_token", pure)]
    pub fn workload_automount_token(w: &mut Workload) -> Dynamic {
        pod_bool(w, "automountServiceAccountToken").map_or(Dynamic::UNIT, Into::into)
    }
    /// `nodeSelector` as a map of strings (empty when unset). Example:
    /// `workload.node_selector["kubernetes.io/arch"]`.
    #[rhai_fn(get = "node_selector", pure)]
    pub fn workload_node_selector(w: &mut Workload) -> Map {
        w.0.pod_spec()
            .and_then(|spec| spec.get("nodeSelector"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().into(), to_rhai(v)))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// `nodeName`, or `()`. Example: `workload.node_name != ()` (the pod skips the scheduler).
    #[rhai_fn(get = "node_name", pure)]
    pub fn workload_node_name(w: &mut Workload) -> Dynamic {
        opt_str(
            w.0.pod_spec()
                .and_then(|spec| spec.get("nodeName"))
                .and_then(Value::as_str),
        )
    }
    /// `affinity` as written (a map with `nodeAffinity`, `podAffinity`,
    /// `podAntiAffinity`), or `()`. Example: `workload.affinity?.podAntiAffinity == ()`.
    #[rhai_fn(get = "affinity", pure)]
    pub fn workload_affinity(w: &mut Workload) -> Dynamic {
        w.0.pod_spec()
            .and_then(|spec| spec.get("affinity"))
            .map_or(Dynamic::UNIT, to_rhai)
    }
    /// `tolerations` as written: an array of maps (`key`, `operator`, `value`, `effect`).
    /// Example: `workload.tolerations.some(|t| t.operator == "Exists" && t.key == ())`.
    #[rhai_fn(get = "tolerations", pure)]
    pub fn workload_tolerations(w: &mut Workload) -> Array {
        w.0.pod_spec()
            .and_then(|spec| spec.get("tolerations"))
            .and_then(Value::as_array)
            .map(|items| items.iter().map(to_rhai).collect())
            .unwrap_or_default()
    }
    /// The kind of the controller that manages the pods: the owner reference marked
    /// `controller: true` when the object has one (a Pod of a ReplicaSet says
    /// `ReplicaSet`), else the object's own kind for a controller (`Deployment`, `Job`, …),
    /// else `()` (a bare Pod). Example: `if workload.controller_kind == () { … }`.
    #[rhai_fn(get = "controller_kind", pure)]
    pub fn workload_controller_kind(w: &mut Workload) -> Dynamic {
        if w.0.dockerfile.is_some() {
            return Dynamic::UNIT;
        }
        let owner =
            w.0.raw
                .get("metadata")
                .and_then(|m| m.get("ownerReferences"))
                .and_then(Value::as_array)
                .and_then(|owners| {
                    owners
                        .iter()
                        .find(|o| get_bool(o, "controller") == Some(true))
                        .and_then(|o| get_str(o, "kind"))
                });
        match owner {
            Some(kind) => kind.into(),
            None if w.0.kind() != "Pod" => w.0.kind().into(),
            None => Dynamic::UNIT,
        }
    }
    /// `metadata.ownerReferences` as written: maps with `kind`, `name`, `controller`, ….
    /// Example: `workload.owner_references.map(|o| o.kind)`.
    #[rhai_fn(get = "owner_references", pure)]
    pub fn workload_owner_references(w: &mut Workload) -> Array {
        w.0.raw
            .get("metadata")
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .map(|items| items.iter().map(to_rhai).collect())
            .unwrap_or_default()
    }
    /// A field of the pod spec by its path as written in the manifest (camelCase, relative
    /// to the pod spec, so the same path works for a Pod and a Deployment): `()` when
    /// absent. Keys with dots go in quotes. Examples: `workload.field("hostNetwork")`,
    /// `workload.field("securityContext.seccompProfile.type")`,
    /// `workload.field("nodeSelector[\"kubernetes.io/os\"]")`.
    #[rhai_fn(name = "field", pure, return_raw)]
    pub fn workload_field(w: &mut Workload, path: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        field_in(w.0.pod_spec(), path)
    }

    // ---- Container ----

    /// The container's `resources`: `requests` and `limits` as written, and parsed
    /// quantities. Example: `c.resources.memory_limit > quantity("1Gi")`.
    #[rhai_fn(get = "resources", pure)]
    pub fn container_resources(c: &mut Container) -> Resources {
        ResourcesView(Arc::new(
            container_value(c)
                .and_then(|m| m.get("resources"))
                .cloned()
                .unwrap_or(Value::Null),
        ))
    }
    /// The container's `ports`. Example: `c.ports.filter(|p| p.host_port != ())`.
    #[rhai_fn(get = "ports", pure)]
    pub fn container_ports(c: &mut Container) -> Array {
        list_of(c, "ports")
            .into_iter()
            .map(|p| Dynamic::from(PortView(Arc::new(p))))
            .collect()
    }
    /// The container's `volumeMounts`, each with the pod volume it mounts. Example:
    /// `c.volume_mounts.filter(|m| m.volume != () && m.volume.type == "hostPath")`.
    #[rhai_fn(get = "volume_mounts", pure)]
    pub fn container_volume_mounts(c: &mut Container) -> Array {
        let mounts = list_of(c, "volumeMounts");
        if mounts.is_empty() {
            return Array::new();
        }
        // Init, app and ephemeral containers all mount the pod's volumes.
        let spec = c.0.pod_spec();
        mounts
            .into_iter()
            .map(|m| {
                let volume = get_str(&m, "name").and_then(|name| pod_volume(spec, name));
                Dynamic::from(VolumeMountView {
                    mount: Arc::new(m),
                    volume,
                })
            })
            .collect()
    }
    /// The `livenessProbe`, or `()`. Example: `c.liveness_probe == ()`.
    #[rhai_fn(get = "liveness_probe", pure)]
    pub fn container_liveness_probe(c: &mut Container) -> Dynamic {
        probe(c, "livenessProbe")
    }
    /// The `readinessProbe`, or `()`. Example: `c.readiness_probe?.type == "exec"`.
    #[rhai_fn(get = "readiness_probe", pure)]
    pub fn container_readiness_probe(c: &mut Container) -> Dynamic {
        probe(c, "readinessProbe")
    }
    /// The `startupProbe`, or `()`. Example: `c.role == "app" && c.liveness_probe == ()`.
    #[rhai_fn(get = "startup_probe", pure)]
    pub fn container_startup_probe(c: &mut Container) -> Dynamic {
        probe(c, "startupProbe")
    }
    /// The container's `envFrom`: maps with `kind` (`secretRef` or `configMapRef`), `name`,
    /// `prefix` and `optional` as written. Example:
    /// `c.env_from.filter(|e| e.kind == "secretRef").map(|e| e.name)`.
    #[rhai_fn(get = "env_from", pure)]
    pub fn container_env_from(c: &mut Container) -> Array {
        list_of(c, "envFrom")
            .iter()
            .filter_map(|entry| {
                let (kind, reference) = ["secretRef", "configMapRef"]
                    .into_iter()
                    .find_map(|kind| entry.get(kind).map(|r| (kind, r)))?;
                let mut map = reference_map(kind, reference);
                if let Some(prefix) = entry.get("prefix") {
                    map.insert("prefix".into(), to_rhai(prefix));
                }
                Some(Dynamic::from_map(map))
            })
            .collect()
    }
    /// A field of the container by its path as written (camelCase, relative to the
    /// container): `()` when absent; `()` for a Dockerfile stage. Examples:
    /// `c.field("resources.limits.memory")`, `c.field("ports[0].containerPort")`,
    /// `c.field("securityContext.seccompProfile.type")`.
    #[rhai_fn(name = "field", pure, return_raw)]
    pub fn container_field(c: &mut Container, path: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        field_in(container_value(c), path)
    }

    // ---- Env ----

    /// What `valueFrom` refers to, as a map with `kind` (`secretKeyRef`,
    /// `configMapKeyRef`, `fieldRef` or `resourceFieldRef`) and its fields as written
    /// (`name`, `key`, `optional`, `field_path`, `resource`, `container_name`); `()` for a
    /// literal value. Example: `e.source != () && e.source.kind == "secretKeyRef"`.
    #[rhai_fn(get = "source", pure)]
    pub fn env_source(e: &mut Env) -> Dynamic {
        let Some(container) = e.0.manifest() else {
            return Dynamic::UNIT;
        };
        let entry = container
            .get("env")
            .and_then(Value::as_array)
            .and_then(|vars| vars.iter().filter(|v| v.is_object()).nth(e.1));
        let Some(value_from) = entry.and_then(|v| v.get("valueFrom")) else {
            return Dynamic::UNIT;
        };
        [
            "secretKeyRef",
            "configMapKeyRef",
            "fieldRef",
            "resourceFieldRef",
        ]
        .into_iter()
        .find_map(|kind| value_from.get(kind).map(|r| reference_map(kind, r)))
        .map_or(Dynamic::UNIT, Dynamic::from_map)
    }

    // ---- Resources ----

    /// `requests` as written: a map from resource name (`cpu`, `memory`,
    /// `ephemeral-storage`, …) to its quantity as a string. Example:
    /// `c.resources.requests.cpu`.
    #[rhai_fn(get = "requests", pure)]
    pub fn resources_requests(r: &mut Resources) -> Map {
        quantities_as_written(&r.0, "requests")
    }
    /// `limits` as written, like `requests`. Example: `"memory" in c.resources.limits`.
    #[rhai_fn(get = "limits", pure)]
    pub fn resources_limits(r: &mut Resources) -> Map {
        quantities_as_written(&r.0, "limits")
    }
    /// The CPU request in cores (`250m` is `0.25`), or `()` when unset. Example:
    /// `c.resources.cpu_request == ()`.
    #[rhai_fn(get = "cpu_request", pure, return_raw)]
    pub fn resources_cpu_request(r: &mut Resources) -> Result<Dynamic, Box<EvalAltResult>> {
        quantity_of(&r.0, "requests", "cpu")
    }
    /// The CPU limit in cores, or `()` when unset. Example: `c.resources.cpu_limit <= 2.0`.
    #[rhai_fn(get = "cpu_limit", pure, return_raw)]
    pub fn resources_cpu_limit(r: &mut Resources) -> Result<Dynamic, Box<EvalAltResult>> {
        quantity_of(&r.0, "limits", "cpu")
    }
    /// The memory request in bytes (`64Mi` is `67108864.0`), or `()` when unset. Example:
    /// `c.resources.memory_request < quantity("32Mi")`.
    #[rhai_fn(get = "memory_request", pure, return_raw)]
    pub fn resources_memory_request(r: &mut Resources) -> Result<Dynamic, Box<EvalAltResult>> {
        quantity_of(&r.0, "requests", "memory")
    }
    /// The memory limit in bytes, or `()` when unset. Example:
    /// `c.resources.memory_limit == () || c.resources.memory_limit > quantity("1Gi")`.
    #[rhai_fn(get = "memory_limit", pure, return_raw)]
    pub fn resources_memory_limit(r: &mut Resources) -> Result<Dynamic, Box<EvalAltResult>> {
        quantity_of(&r.0, "limits", "memory")
    }
    /// The request of any resource (`"ephemeral-storage"`, `"nvidia.com/gpu"`) in base
    /// units, or `()` when unset. Example: `c.resources.request("ephemeral-storage")`.
    #[rhai_fn(name = "request", pure, return_raw)]
    pub fn resources_request(r: &mut Resources, name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        quantity_of(&r.0, "requests", name)
    }
    /// The limit of any resource in base units, or `()` when unset. Example:
    /// `c.resources.limit("nvidia.com/gpu")`.
    #[rhai_fn(name = "limit", pure, return_raw)]
    pub fn resources_limit(r: &mut Resources, name: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        quantity_of(&r.0, "limits", name)
    }

    /// A Kubernetes quantity as a number in base units (bytes, cores): `quantity("512Mi")`
    /// is `536870912.0`, `quantity("250m")` is `0.25`; `quantity(())` is `()`, so unset
    /// values pass through. A malformed quantity is an error.
    #[rhai_fn(name = "quantity", return_raw)]
    pub fn quantity(text: &str) -> Result<rhai::FLOAT, Box<EvalAltResult>> {
        crate::quantity::parse(text).map_err(error)
    }
    /// `quantity` of a plain number: the number. Example: `quantity(2)` is `2.0`.
    #[rhai_fn(name = "quantity")]
    pub fn quantity_int(number: rhai::INT) -> rhai::FLOAT {
        number as rhai::FLOAT
    }
    /// `quantity(())` is `()`. Example: `quantity(c.resources.limits.memory)`, unset or not.
    #[rhai_fn(name = "quantity")]
    pub fn quantity_unit(_unset: ()) -> Dynamic {
        Dynamic::UNIT
    }

    // ---- Port ----

    /// The port's `name`, or `()`. Example: `c.ports.some(|p| p.name == "metrics")`.
    #[rhai_fn(get = "name", pure)]
    pub fn port_name(p: &mut Port) -> Dynamic {
        opt_str(get_str(&p.0, "name"))
    }
    /// `containerPort`, or `()`. Example: `c.ports.map(|p| p.container_port)`.
    #[rhai_fn(get = "container_port", pure)]
    pub fn port_container_port(p: &mut Port) -> Dynamic {
        get_int(&p.0, "containerPort")
    }
    /// `protocol`: `TCP` (the default), `UDP` or `SCTP`. Example: `p.protocol == "UDP"`.
    #[rhai_fn(get = "protocol", pure)]
    pub fn port_protocol(p: &mut Port) -> ImmutableString {
        get_str(&p.0, "protocol").unwrap_or("TCP").into()
    }
    /// `hostPort`, or `()`: a port opened on the node. Example:
    /// `c.ports.some(|p| p.host_port != ())`.
    #[rhai_fn(get = "host_port", pure)]
    pub fn port_host_port(p: &mut Port) -> Dynamic {
        get_int(&p.0, "hostPort")
    }
    /// `hostIP`, or `()`. Example: `p.host_ip == "0.0.0.0"`.
    #[rhai_fn(get = "host_ip", pure)]
    pub fn port_host_ip(p: &mut Port) -> Dynamic {
        opt_str(get_str(&p.0, "hostIP"))
    }

    // ---- Volume ----

    /// The volume's `name`. Example: `workload.volumes.map(|v| v.name)`.
    #[rhai_fn(get = "name", pure)]
    pub fn volume_name(v: &mut Volume) -> ImmutableString {
        get_str(&v.0, "name").unwrap_or("").into()
    }
    /// The volume's type: the key that says where it comes from, as written (`hostPath`,
    /// `emptyDir`, `secret`, `configMap`, `persistentVolumeClaim`, `projected`,
    /// `downwardAPI`, `csi`, `ephemeral`, `nfs`, …), or `()` when it has none.
    #[rhai_fn(get = "type", pure)]
    pub fn volume_type(v: &mut Volume) -> Dynamic {
        opt_str(volume_kind(&v.0))
    }
    /// The fields of the volume's type, as written (for a `hostPath`: `path` and `type`; for
    /// a `secret`: `secretName`, …), or `()`. Example: `v.source.secretName`.
    #[rhai_fn(get = "source", pure)]
    pub fn volume_source(v: &mut Volume) -> Dynamic {
        volume_kind(&v.0)
            .and_then(|kind| v.0.get(kind))
            .map_or(Dynamic::UNIT, to_rhai)
    }
    /// For a `hostPath` volume, the node path it exposes; else `()`. Example:
    /// `workload.volumes.some(|v| v.host_path == "/var/run/docker.sock")`.
    #[rhai_fn(get = "host_path", pure)]
    pub fn volume_host_path(v: &mut Volume) -> Dynamic {
        opt_str(v.0.get("hostPath").and_then(|h| get_str(h, "path")))
    }
    /// A field of the volume by its path as written, or `()`. Example:
    /// `v.field("persistentVolumeClaim.claimName")`.
    #[rhai_fn(name = "field", pure, return_raw)]
    pub fn volume_field(v: &mut Volume, path: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        field_at(Some(&v.0), path)
    }

    // ---- VolumeMount ----

    /// The mounted volume's `name`. Example: `c.volume_mounts.map(|m| m.name)`.
    #[rhai_fn(get = "name", pure)]
    pub fn mount_name(m: &mut VolumeMount) -> ImmutableString {
        get_str(&m.mount, "name").unwrap_or("").into()
    }
    /// `mountPath`. Example: `m.mount_path.starts_with("/var/run")`.
    #[rhai_fn(get = "mount_path", pure)]
    pub fn mount_path(m: &mut VolumeMount) -> ImmutableString {
        get_str(&m.mount, "mountPath").unwrap_or("").into()
    }
    /// `readOnly` (`false` when unset). Example: `!m.read_only && m.volume?.type == "hostPath"`.
    #[rhai_fn(get = "read_only", pure)]
    pub fn mount_read_only(m: &mut VolumeMount) -> bool {
        get_bool(&m.mount, "readOnly").unwrap_or(false)
    }
    /// `subPath`, or `()`. Example: `m.sub_path != ()`.
    #[rhai_fn(get = "sub_path", pure)]
    pub fn mount_sub_path(m: &mut VolumeMount) -> Dynamic {
        opt_str(get_str(&m.mount, "subPath"))
    }
    /// `mountPropagation`, or `()`. Example: `m.mount_propagation == "Bidirectional"`.
    #[rhai_fn(get = "mount_propagation", pure)]
    pub fn mount_propagation(m: &mut VolumeMount) -> Dynamic {
        opt_str(get_str(&m.mount, "mountPropagation"))
    }
    /// The pod volume it mounts, or `()` when the pod has no volume of that name. Example:
    /// `m.volume != () && m.volume.type == "hostPath" && !m.read_only`.
    #[rhai_fn(get = "volume", pure)]
    pub fn mount_volume(m: &mut VolumeMount) -> Dynamic {
        m.volume.clone().map_or(Dynamic::UNIT, Dynamic::from)
    }

    // ---- Probe ----

    /// The handler: `exec`, `httpGet`, `tcpSocket` or `grpc`, or `()` when it has none.
    #[rhai_fn(get = "type", pure)]
    pub fn probe_type(p: &mut Probe) -> Dynamic {
        opt_str(PROBE_HANDLERS.into_iter().find(|h| p.0.get(*h).is_some()))
    }
    /// The handler's fields as written (`httpGet`: `path`, `port`, `scheme`; `exec`:
    /// `command`), or `()`. Example: `c.liveness_probe.handler.path`.
    #[rhai_fn(get = "handler", pure)]
    pub fn probe_handler(p: &mut Probe) -> Dynamic {
        PROBE_HANDLERS
            .into_iter()
            .find_map(|h| p.0.get(h))
            .map_or(Dynamic::UNIT, to_rhai)
    }
    /// `initialDelaySeconds`, or `()`. Example: `p.initial_delay_seconds > 300`.
    #[rhai_fn(get = "initial_delay_seconds", pure)]
    pub fn probe_initial_delay(p: &mut Probe) -> Dynamic {
        get_int(&p.0, "initialDelaySeconds")
    }
    /// `periodSeconds`, or `()` (Kubernetes' default is 10). Example: `p.period_seconds < 5`.
    #[rhai_fn(get = "period_seconds", pure)]
    pub fn probe_period(p: &mut Probe) -> Dynamic {
        get_int(&p.0, "periodSeconds")
    }
    /// `timeoutSeconds`, or `()` (Kubernetes' default is 1). Example: `p.timeout_seconds > 10`.
    #[rhai_fn(get = "timeout_seconds", pure)]
    pub fn probe_timeout(p: &mut Probe) -> Dynamic {
        get_int(&p.0, "timeoutSeconds")
    }
    /// `failureThreshold`, or `()` (Kubernetes' default is 3). Example:
    /// `p.failure_threshold == 1`.
    #[rhai_fn(get = "failure_threshold", pure)]
    pub fn probe_failure_threshold(p: &mut Probe) -> Dynamic {
        get_int(&p.0, "failureThreshold")
    }
    /// A field of the probe by its path as written, or `()`. Example:
    /// `p.field("httpGet.scheme")`.
    #[rhai_fn(name = "field", pure, return_raw)]
    pub fn probe_field(p: &mut Probe, path: &str) -> Result<Dynamic, Box<EvalAltResult>> {
        field_at(Some(&p.0), path)
    }
}

fn pod_bool(w: &WorkloadView, key: &str) -> Option<bool> {
    w.0.pod_spec()
        .and_then(|spec| spec.get(key))
        .and_then(Value::as_bool)
}

/// The key of a volume that says its type: the one that is not `name`.
fn volume_kind(volume: &Value) -> Option<&str> {
    volume
        .as_object()?
        .iter()
        .find(|(k, v)| k.as_str() != "name" && !v.is_null())
        .map(|(k, _)| k.as_str())
}

#[cfg(test)]
mod tests {
    use crate::{Policy, RuleSet, Source};

    /// Runs a rule whose `check` returns `[workload_finding("x", <expression>)]` on
    /// `manifest`, and gives the message: the expression's value as text.
    fn eval(manifest: &str, expression: &str) -> String {
        let mut messages = eval_all(manifest, expression);
        assert_eq!(messages.len(), 1, "{messages:?}");
        messages.remove(0)
    }

    fn eval_all(manifest: &str, expression: &str) -> Vec<String> {
        let rule = format!(
            "const META = #{{ id: \"probe\", title: \"t\", severity: \"low\", remediation: \"r\" }};\n\
             fn check(workload, settings) {{\n let c = workload.containers[0];\n [workload_finding(\"x\", `${{{expression}}}`)]\n}}\n"
        );
        let mut rules = RuleSet::empty();
        rules.add_source("probe.rhai", &rule, None).unwrap();
        let policy = Policy::builder(&rules).build().unwrap();
        let report = policy.check(&Source::from_text("m.yaml", manifest));
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        report.findings.into_iter().map(|f| f.message).collect()
    }

    const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      hostNetwork: true
      hostPID: false
      automountServiceAccountToken: false
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{key: gpu, operator: Exists}]
      volumes:
        - {name: sock, hostPath: {path: /var/run/docker.sock, type: Socket}}
        - {name: certs, secret: {secretName: tls}}
        - {name: claim, persistentVolumeClaim: {claimName: data}}
      initContainers:
        - {name: init, image: busybox:1.36, volumeMounts: [{name: certs, mountPath: /certs, readOnly: true}]}
      containers:
        - name: app
          image: nginx:1.27
          ports: [{containerPort: 8080, name: http}, {containerPort: 9090, hostPort: 9090, protocol: UDP}]
          livenessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 5}
          resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {memory: 1Gi, cpu: 2, ephemeral-storage: 2G}}
          volumeMounts: [{name: sock, mountPath: /var/run/docker.sock}, {name: missing, mountPath: /m}]
          env:
            - {name: PLAIN, value: x}
            - {name: SECRET, valueFrom: {secretKeyRef: {name: creds, key: password}}}
            - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
          envFrom: [{secretRef: {name: app-env}, prefix: APP_}, {configMapRef: {name: cfg}}]
"#;

    #[test]
    fn pod_level_fields_of_every_kind_read_from_the_pod_spec() {
        let w = "workload";
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("[{w}.host_network, {w}.host_pid, {w}.host_ipc]")
            ),
            "[true, false, false]"
        );
        assert_eq!(
            eval(DEPLOYMENT, "workload.automount_service_account_token"),
            "false"
        );
        assert_eq!(
            eval(DEPLOYMENT, "workload.node_selector[\"kubernetes.io/os\"]"),
            "linux"
        );
        assert_eq!(eval(DEPLOYMENT, "workload.tolerations[0].key"), "gpu");
        assert_eq!(eval(DEPLOYMENT, "workload.controller_kind"), "Deployment");
        assert_eq!(eval(DEPLOYMENT, "workload.node_name"), "");
        assert_eq!(
            eval(
                DEPLOYMENT,
                "workload.volumes.map(|v| `${v.name}:${v.type}`)"
            ),
            "[\"sock:hostPath\", \"certs:secret\", \"claim:persistentVolumeClaim\"]"
        );
        assert_eq!(
            eval(DEPLOYMENT, "workload.volumes[0].host_path"),
            "/var/run/docker.sock"
        );
        assert_eq!(
            eval(DEPLOYMENT, "workload.volumes[1].source.secretName"),
            "tls"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                "workload.volumes[2].field(\"persistentVolumeClaim.claimName\")"
            ),
            "data"
        );
        // The same relative path works for a bare Pod and for a CronJob's template.
        let pod = "kind: Pod\nmetadata: {name: p, ownerReferences: [{kind: ReplicaSet, name: rs, controller: true}]}\nspec:\n  hostPID: true\n  containers: [{name: a, image: x}]\n";
        assert_eq!(
            eval(
                pod,
                "[workload.field(\"hostPID\"), workload.host_pid, workload.controller_kind]"
            ),
            "[true, true, \"ReplicaSet\"]"
        );
        let bare = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x}]\n";
        assert_eq!(
            eval(
                bare,
                "[workload.controller_kind, workload.automount_service_account_token, workload.volumes.len()]"
            ),
            "[(), (), 0]"
        );
        let cron = "kind: CronJob\nmetadata: {name: c}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          hostIPC: true\n          containers: [{name: a, image: x}]\n";
        assert_eq!(
            eval(
                cron,
                "[workload.field(\"hostIPC\"), workload.host_ipc, workload.field(\"containers[0].name\")]"
            ),
            "[true, true, \"a\"]"
        );
    }

    #[test]
    fn container_resources_ports_mounts_probes_and_env_references() {
        let app = "workload.containers[1]";
        assert_eq!(
            eval(DEPLOYMENT, &format!("{app}.resources.limits.memory")),
            "1Gi"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("{app}.resources.memory_limit > quantity(\"512Mi\")")
            ),
            "true"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("{app}.resources.memory_limit == quantity(\"1Gi\")")
            ),
            "true"
        );
        assert_eq!(
            eval(DEPLOYMENT, &format!("{app}.resources.cpu_request")),
            "0.25"
        );
        assert_eq!(
            eval(DEPLOYMENT, &format!("{app}.resources.cpu_limit")),
            "2.0"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("{app}.resources.limit(\"ephemeral-storage\")")
            ),
            "2000000000.0"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("{app}.resources.request(\"nvidia.com/gpu\") == ()")
            ),
            "true"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                "c.resources.memory_limit == () && c.resources.limits.len() == 0"
            ),
            "true"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!(
                    "{app}.ports.map(|p| `${{p.name}}/${{p.container_port}}/${{p.protocol}}/${{p.host_port}}`)"
                )
            ),
            "[\"http/8080/TCP/\", \"/9090/UDP/9090\"]"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!(
                    "{app}.volume_mounts.map(|m| `${{m.mount_path}}:${{m.volume?.type}}:${{m.read_only}}`)"
                )
            ),
            "[\"/var/run/docker.sock:hostPath:false\", \"/m::false\"]"
        );
        assert_eq!(
            eval(DEPLOYMENT, "c.volume_mounts[0].volume.source.secretName"),
            "tls"
        );
        assert_eq!(eval(DEPLOYMENT, "c.volume_mounts[0].read_only"), "true");
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!(
                    "[{app}.liveness_probe.type, {app}.liveness_probe.handler.path, {app}.liveness_probe.period_seconds, {app}.readiness_probe]"
                )
            ),
            "[\"httpGet\", \"/healthz\", 5, ()]"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!(
                    "{app}.env.map(|e| if e.source == () {{ \"literal\" }} else {{ `${{e.source.kind}}:${{e.source.name}}${{e.source.field_path}}` }})"
                )
            ),
            "[\"literal\", \"secretKeyRef:creds\", \"fieldRef:spec.nodeName\"]"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("{app}.env_from.map(|e| `${{e.kind}}:${{e.name}}:${{e.prefix}}`)")
            ),
            "[\"secretRef:app-env:APP_\", \"configMapRef:cfg:\"]"
        );
        assert_eq!(
            eval(DEPLOYMENT, &format!("{app}.field(\"ports[1].hostPort\")")),
            "9090"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("{app}.field(\"resources.limits[\\\"ephemeral-storage\\\"]\")")
            ),
            "2G"
        );
        assert_eq!(
            eval(
                DEPLOYMENT,
                &format!("{app}.field(\"securityContext.runAsUser\") == ()")
            ),
            "true"
        );
    }

    fn error_of(manifest: &str, expression: &str) -> String {
        let rule = format!(
            "const META = #{{ id: \"probe\", title: \"t\", severity: \"low\", remediation: \"r\" }};\n\
             fn check(workload, settings) {{\n let c = workload.containers[0];\n let v = {expression};\n []\n}}\n"
        );
        let mut rules = RuleSet::empty();
        rules.add_source("probe.rhai", &rule, None).unwrap();
        let policy = Policy::builder(&rules).build().unwrap();
        let report = policy.check(&Source::from_text("m.yaml", manifest));
        assert_eq!(report.errors.len(), 1, "{report:?}");
        report.errors[0].message.clone()
    }

    #[test]
    fn malformed_quantities_and_paths_are_rule_errors_that_say_why() {
        let bad = "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x, resources: {limits: {memory: 1GB}}}]\n";
        let message = error_of(bad, "c.resources.memory_limit");
        assert!(
            message.contains("resources.limits.memory: invalid quantity `1GB`"),
            "{message}"
        );
        let message = error_of(bad, "quantity(\"lots\")");
        assert!(message.contains("invalid quantity `lots`"), "{message}");
        let message = error_of(bad, "c.field(\"ports[x]\")");
        assert!(
            message.contains("invalid field path `ports[x]`"),
            "{message}"
        );
        assert_eq!(eval(bad, "[quantity(()), quantity(3)]"), "[(), 3.0]");
    }
}
