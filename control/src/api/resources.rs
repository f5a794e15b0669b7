//! The table of served resource types: everything discovery, routing, storage
//! keys and per-kind behaviour look up by group and plural name.

/// A subresource a type serves besides the object itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sub {
    Status,
    Scale,
    Binding,
    Log,
    Exec,
    Attach,
    PortForward,
    Eviction,
    Finalize,
}

impl Sub {
    pub fn name(self) -> &'static str {
        match self {
            Sub::Status => "status",
            Sub::Scale => "scale",
            Sub::Binding => "binding",
            Sub::Log => "log",
            Sub::Exec => "exec",
            Sub::Attach => "attach",
            Sub::PortForward => "portforward",
            Sub::Eviction => "eviction",
            Sub::Finalize => "finalize",
        }
    }

    pub fn parse(s: &str) -> Option<Sub> {
        ALL_SUBS.iter().copied().find(|sub| sub.name() == s)
    }

    /// (group, version, kind) of the subresource's own object, where it differs
    /// from the parent's; verbs it supports.
    pub fn discovery(self) -> (&'static str, &'static str, &'static str, &'static [&'static str]) {
        match self {
            Sub::Status => ("", "", "", &["get", "patch", "update"]),
            Sub::Scale => ("autoscaling", "v1", "Scale", &["get", "patch", "update"]),
            Sub::Binding => ("", "v1", "Binding", &["create"]),
            Sub::Log => ("", "v1", "Pod", &["get"]),
            Sub::Exec => ("", "v1", "PodExecOptions", &["create", "get"]),
            Sub::Attach => ("", "v1", "PodAttachOptions", &["create", "get"]),
            Sub::PortForward => ("", "v1", "PodPortForwardOptions", &["create", "get"]),
            Sub::Eviction => ("policy", "v1", "Eviction", &["create"]),
            Sub::Finalize => ("", "v1", "Namespace", &["update"]),
        }
    }
}

const ALL_SUBS: &[Sub] = &[
    Sub::Status,
    Sub::Scale,
    Sub::Binding,
    Sub::Log,
    Sub::Exec,
    Sub::Attach,
    Sub::PortForward,
    Sub::Eviction,
    Sub::Finalize,
];

/// One served resource type.
#[derive(Debug)]
pub struct ResourceType {
    /// API group, "" for core.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: &'static str,
    pub singular: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Sub],
}

/// Verbs every stored type supports.
pub const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

impl ResourceType {
    /// `apps/v1`, or `v1` for core.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `PodList`, `DeploymentList`, ...
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has(&self, sub: Sub) -> bool {
        self.subresources.contains(&sub)
    }

    /// Storage key prefix for all objects of this type, ending in `/`.
    pub fn prefix(&self) -> String {
        let g = if self.group.is_empty() { "core" } else { self.group };
        format!("/registry/{g}/{}/", self.plural)
    }

    /// Storage key prefix for one namespace (or all objects of a cluster-scoped type).
    pub fn prefix_in(&self, namespace: Option<&str>) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/", self.prefix()),
            _ => self.prefix(),
        }
    }

    /// Storage key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{}{ns}/{name}", self.prefix()),
            _ => format!("{}{name}", self.prefix()),
        }
    }

    /// `deployments.apps` / `pods`, as used in messages.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
}

macro_rules! rt {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, $ns:expr,
     [$($short:expr),*], [$($cat:expr),*], [$($sub:expr),*]) => {
        ResourceType {
            group: $group, version: $version, kind: $kind, plural: $plural, singular: $singular,
            namespaced: $ns, short_names: &[$($short),*], categories: &[$($cat),*],
            subresources: &[$($sub),*],
        }
    };
}

use Sub::*;

/// Every resource type the API server stores and serves.
pub static TYPES: &[ResourceType] = &[
    // core/v1
    rt!("", "v1", "Namespace", "namespaces", "namespace", false, ["ns"], [], [Status, Finalize]),
    rt!("", "v1", "Pod", "pods", "pod", true, ["po"], ["all"],
        [Status, Binding, Log, Exec, Attach, PortForward, Eviction]),
    rt!("", "v1", "Service", "services", "service", true, ["svc"], ["all"], [Status]),
    rt!("", "v1", "Endpoints", "endpoints", "endpoints", true, ["ep"], [], []),
    rt!("", "v1", "ConfigMap", "configmaps", "configmap", true, ["cm"], [], []),
    rt!("", "v1", "Secret", "secrets", "secret", true, [], [], []),
    rt!("", "v1", "Node", "nodes", "node", false, ["no"], [], [Status]),
    rt!("", "v1", "Event", "events", "event", true, ["ev"], [], []),
    rt!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, ["sa"], [], []),
    rt!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", false, ["pv"], [], [Status]),
    rt!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, ["pvc"], [], [Status]),
    rt!("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", true, ["rc"], ["all"], [Status, Scale]),
    rt!("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", true, ["quota"], [], [Status]),
    rt!("", "v1", "LimitRange", "limitranges", "limitrange", true, ["limits"], [], []),
    // apps/v1
    rt!("apps", "v1", "Deployment", "deployments", "deployment", true, ["deploy"], ["all"], [Status, Scale]),
    rt!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", true, ["rs"], ["all"], [Status, Scale]),
    rt!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", true, ["ds"], ["all"], [Status]),
    rt!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, ["sts"], ["all"], [Status, Scale]),
    rt!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", true, [], [], []),
    // batch/v1
    rt!("batch", "v1", "Job", "jobs", "job", true, [], ["all"], [Status]),
    rt!("batch", "v1", "CronJob", "cronjobs", "cronjob", true, ["cj"], ["all"], [Status]),
    // node.k8s.io/v1
    rt!("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", "runtimeclass", false, [], [], []),
    // coordination.k8s.io/v1
    rt!("coordination.k8s.io", "v1", "Lease", "leases", "lease", true, [], [], []),
    // discovery.k8s.io/v1
    rt!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", true, [], [], []),
    // networking.k8s.io/v1
    rt!("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", true, ["ing"], [], [Status]),
    rt!("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", false, [], [], []),
    rt!("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", true, ["netpol"], [], []),
    // storage.k8s.io/v1
    rt!("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", false, ["sc"], [], []),
    // rbac.authorization.k8s.io/v1
    rt!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, [], [], []),
    rt!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, [], [], []),
    rt!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, [], [], []),
    rt!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, [], [], []),
];

/// The type served at `group`/`version` under the plural `plural`.
pub fn lookup(group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
    TYPES.iter().find(|t| t.group == group && t.version == version && t.plural == plural)
}

/// The type with this apiVersion (`apps/v1`, `v1`) and kind.
pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceType> {
    TYPES.iter().find(|t| t.api_version() == api_version && t.kind == kind)
}

/// Groups in discovery order (core excluded), each with its versions.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for t in TYPES.iter().filter(|t| !t.group.is_empty()) {
        if !out.contains(&(t.group, t.version)) {
            out.push((t.group, t.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_namespaces_apart() {
        let pods = lookup("", "v1", "pods").unwrap();
        assert_eq!(pods.key(Some("default"), "web"), "/registry/core/pods/default/web");
        assert!(!pods.key(Some("default2"), "x").starts_with(&pods.prefix_in(Some("default"))));
        let nodes = lookup("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/core/nodes/n1");
    }

    #[test]
    fn every_type_is_unique() {
        for (i, a) in TYPES.iter().enumerate() {
            for b in &TYPES[i + 1..] {
                assert!(!(a.group == b.group && a.plural == b.plural), "{} twice", a.plural);
            }
        }
        assert_eq!(by_kind("apps/v1", "Deployment").unwrap().plural, "deployments");
    }
}
