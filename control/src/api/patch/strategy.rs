//! Per-kind merge strategies: which lists are merged by key (and which key),
//! which are sets of scalars, and which are replaced whole. This mirrors the
//! `patchStrategy`/`patchMergeKey` and `listType`/`listMapKeys` tags on the Go
//! types for the kinds wasmkube serves; everything not named here is atomic.
//!
//! The strategy depends on where a list sits (`spec.ports` of a Service is keyed
//! by `port`, `ports` of a container by `containerPort`), so callers descend a
//! [`Schema`] alongside the JSON they walk.

use serde_json::{Map, Value};

use super::fields::PathElement;
use crate::api::resources::ResourceType;

/// A key field of an associative list, with the value the API server defaults
/// it to (so `{"containerPort":80}` and `{"containerPort":80,"protocol":"TCP"}`
/// name the same item).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyField {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

const fn key(name: &'static str) -> KeyField {
    KeyField { name, default: None }
}

const PROTOCOL_TCP: KeyField = KeyField { name: "protocol", default: Some("TCP") };

/// How a list field merges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole (`args`, `command`, `tolerations`, ...).
    Atomic,
    /// A set of scalars merged by value (`finalizers`).
    Set,
    /// Objects identified by key fields (`containers` by `name`).
    Map(&'static [KeyField]),
}

/// Where in an object a walk currently is; each variant names a Go type whose
/// fields carry merge strategies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// The top of an object of this kind.
    Root(&'static str),
    ObjectMeta,
    /// `spec` of a Deployment, ReplicaSet, StatefulSet, DaemonSet, Job or
    /// ReplicationController: it holds a pod `template`.
    WorkloadSpec,
    CronJobSpec,
    /// `spec.jobTemplate` of a CronJob.
    JobTemplate,
    PodTemplate,
    PodSpec,
    Container,
    ServiceSpec,
    NodeSpec,
    PodStatus,
    NodeStatus,
    /// `status` of any other kind: only `conditions` is keyed.
    Status,
    /// A struct replaced as a unit (label selectors).
    Atomic,
    /// Anything without list strategies of its own.
    Plain,
}

const BY_NAME: &[KeyField] = &[key("name")];
const BY_TYPE: &[KeyField] = &[key("type")];
const BY_IP: &[KeyField] = &[key("ip")];
const BY_UID: &[KeyField] = &[key("uid")];
const BY_TOPOLOGY_KEY: &[KeyField] = &[key("topologyKey")];
const BY_MOUNT_PATH: &[KeyField] = &[key("mountPath")];
const BY_DEVICE_PATH: &[KeyField] = &[key("devicePath")];
const BY_CONTAINER_PORT: &[KeyField] = &[key("containerPort"), PROTOCOL_TCP];
const BY_SERVICE_PORT: &[KeyField] = &[key("port"), PROTOCOL_TCP];

impl Schema {
    pub fn root(rt: &ResourceType) -> Schema {
        Schema::Root(rt.kind)
    }

    /// True for structs that are replaced as a unit and owned as one field.
    pub fn is_atomic(self) -> bool {
        self == Schema::Atomic
    }

    /// The schema of the object-valued field `name`.
    pub fn field(self, name: &str) -> Schema {
        match (self, name) {
            (Schema::Root(_), "metadata") => Schema::ObjectMeta,
            (Schema::Root(kind), "spec") => match kind {
                "Pod" => Schema::PodSpec,
                "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "ReplicationController" => {
                    Schema::WorkloadSpec
                }
                "CronJob" => Schema::CronJobSpec,
                "Service" => Schema::ServiceSpec,
                "Node" => Schema::NodeSpec,
                _ => Schema::Plain,
            },
            (Schema::Root(kind), "status") => match kind {
                "Pod" => Schema::PodStatus,
                "Node" => Schema::NodeStatus,
                _ => Schema::Status,
            },
            // A ReplicationController's selector is a plain map; the apps and
            // batch kinds use an atomic LabelSelector.
            (Schema::WorkloadSpec, "selector") => Schema::Atomic,
            (Schema::WorkloadSpec, "template") => Schema::PodTemplate,
            (Schema::CronJobSpec, "jobTemplate") => Schema::JobTemplate,
            (Schema::JobTemplate, "metadata") | (Schema::PodTemplate, "metadata") => Schema::ObjectMeta,
            (Schema::JobTemplate, "spec") => Schema::WorkloadSpec,
            (Schema::PodTemplate, "spec") => Schema::PodSpec,
            (Schema::ServiceSpec, "selector") => Schema::Atomic,
            _ => Schema::Plain,
        }
    }

    /// How the list-valued field `name` merges, and the schema of its items.
    pub fn list(self, name: &str) -> (ListKind, Schema) {
        let keyed = |keys: &'static [KeyField]| (ListKind::Map(keys), Schema::Plain);
        match (self, name) {
            (Schema::ObjectMeta, "finalizers") => (ListKind::Set, Schema::Plain),
            (Schema::ObjectMeta, "ownerReferences") => keyed(BY_UID),
            (Schema::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
                (ListKind::Map(BY_NAME), Schema::Container)
            }
            (Schema::PodSpec, "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates") => {
                keyed(BY_NAME)
            }
            (Schema::PodSpec, "hostAliases") => keyed(BY_IP),
            (Schema::PodSpec, "topologySpreadConstraints") => keyed(BY_TOPOLOGY_KEY),
            (Schema::Container, "ports") => keyed(BY_CONTAINER_PORT),
            (Schema::Container, "env") => keyed(BY_NAME),
            (Schema::Container, "volumeMounts") => keyed(BY_MOUNT_PATH),
            (Schema::Container, "volumeDevices") => keyed(BY_DEVICE_PATH),
            (Schema::ServiceSpec, "ports") => keyed(BY_SERVICE_PORT),
            (Schema::NodeSpec, "podCIDRs") => (ListKind::Set, Schema::Plain),
            (Schema::PodStatus, "podIPs" | "hostIPs") => keyed(BY_IP),
            (Schema::NodeStatus, "addresses") => keyed(BY_TYPE),
            (Schema::PodStatus | Schema::NodeStatus | Schema::Status, "conditions") => keyed(BY_TYPE),
            _ => (ListKind::Atomic, Schema::Plain),
        }
    }
}

/// The identity of a list item under `kind` as server-side apply sees it (all
/// key fields, defaults filled in), or `None` if the item lacks a key field
/// that has no default (or the list has no item identity).
pub fn item_identity(kind: ListKind, item: &Value) -> Option<PathElement> {
    identity(kind, item, |_| true)
}

/// The identity of a list item as strategic merge patch sees it: only the one
/// `patchMergeKey` (a Service port is found by `port` whatever its protocol,
/// since kubectl's patches leave an unchanged protocol out).
pub fn merge_key_identity(kind: ListKind, item: &Value) -> Option<PathElement> {
    identity(kind, item, |k| k.default.is_none())
}

fn identity(kind: ListKind, item: &Value, uses: impl Fn(&KeyField) -> bool) -> Option<PathElement> {
    match kind {
        ListKind::Atomic => None,
        ListKind::Set => Some(PathElement::Value(item.clone())),
        ListKind::Map(keys) => {
            let obj = item.as_object()?;
            let mut sorted: Vec<&KeyField> = keys.iter().filter(|k| uses(k)).collect();
            sorted.sort_by_key(|k| k.name);
            let mut out = Map::new();
            for k in sorted {
                match (obj.get(k.name), k.default) {
                    (Some(v), _) if !v.is_null() => {
                        out.insert(k.name.to_string(), v.clone());
                    }
                    (_, Some(default)) => {
                        out.insert(k.name.to_string(), Value::String(default.to_string()));
                    }
                    _ => return None,
                }
            }
            Some(PathElement::Key(out))
        }
    }
}

/// The key fields of `kind`, for error messages.
pub fn key_names(kind: ListKind) -> String {
    match kind {
        ListKind::Map(keys) => keys.iter().filter(|k| k.default.is_none()).map(|k| k.name).collect::<Vec<_>>().join(","),
        _ => String::new(),
    }
}

/// True when `field` is one of the key fields of an item of `kind`: such
/// fields go only when the whole item goes.
pub fn is_key_field(kind: ListKind, field: &str) -> bool {
    matches!(kind, ListKind::Map(keys) if keys.iter().any(|k| k.name == field))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_spec_of(kind: &'static str) -> Schema {
        let spec = Schema::Root(kind).field("spec");
        match kind {
            "Pod" => spec,
            "CronJob" => spec.field("jobTemplate").field("spec").field("template").field("spec"),
            _ => spec.field("template").field("spec"),
        }
    }

    #[test]
    fn pod_templates_are_found_in_every_workload() {
        for kind in ["Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob"] {
            let (list, item) = pod_spec_of(kind).list("containers");
            assert_eq!(list, ListKind::Map(BY_NAME), "{kind}");
            assert_eq!(item.list("volumeMounts").0, ListKind::Map(BY_MOUNT_PATH), "{kind}");
        }
    }

    #[test]
    fn ports_are_keyed_by_context() {
        let (svc_ports, _) = Schema::Root("Service").field("spec").list("ports");
        let (_, container) = pod_spec_of("Pod").list("containers");
        let (ctr_ports, _) = container.list("ports");
        let svc = item_identity(svc_ports, &json!({"port": 80, "targetPort": 8080})).unwrap();
        assert_eq!(svc.encode(), r#"k:{"port":80,"protocol":"TCP"}"#);
        let ctr = item_identity(ctr_ports, &json!({"containerPort": 80, "protocol": "UDP"})).unwrap();
        assert_eq!(ctr.encode(), r#"k:{"containerPort":80,"protocol":"UDP"}"#);
        assert_eq!(item_identity(ctr_ports, &json!({"port": 80})), None);
    }

    #[test]
    fn unnamed_lists_are_atomic() {
        let spec = pod_spec_of("Deployment");
        assert_eq!(spec.list("tolerations").0, ListKind::Atomic);
        assert_eq!(spec.list("containers").1.list("args").0, ListKind::Atomic);
        assert_eq!(Schema::Root("Pod").field("metadata").list("finalizers").0, ListKind::Set);
        assert_eq!(Schema::Root("Deployment").field("status").list("conditions").0, ListKind::Map(BY_TYPE));
    }
}
