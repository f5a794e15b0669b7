//! `meta.k8s.io/v1` Table output for `kubectl get`.
//!
//! kubectl 1.32 has no client-side printers for built-in kinds: it asks for
//! `as=Table` and prints the server's cells verbatim. So the columns and the
//! cell rendering here follow the upstream apiserver printers
//! (`pkg/printers/internalversion`), one file per family of kinds.

mod batch;
mod cluster;
mod core_kinds;
mod duration;
mod events;
mod fallback;
mod format;
mod ingress;
mod nodes;
mod pods;
mod printer;
mod services;
mod storage;
mod workloads;

use std::str::FromStr;

use jiff::Timestamp;
use serde_json::{json, Value};
use thiserror::Error;

use crate::api::resources::ResourceType;
use printer::Printer;

pub use duration::human_duration;

/// What each row carries besides its cells (`?includeObject=`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// No object at all.
    None,
    /// A `PartialObjectMetadata` with the object's metadata: what kubectl
    /// needs for the NAMESPACE column and `--show-labels`.
    #[default]
    Metadata,
    /// The whole object (kubectl asks for it with `--sort-by`).
    Object,
}

/// A bad `?includeObject=` value.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unrecognized includeObject value: \"{0}\"")]
pub struct UnknownIncludeObject(pub String);

impl FromStr for IncludeObject {
    type Err = UnknownIncludeObject;

    /// `None`, `Metadata`, `Object`; empty means the default, Metadata.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "None" => Ok(IncludeObject::None),
            "Metadata" | "" => Ok(IncludeObject::Metadata),
            "Object" => Ok(IncludeObject::Object),
            other => Err(UnknownIncludeObject(other.to_string())),
        }
    }
}

/// The printer for a served type.
fn printer_for(rt: &ResourceType) -> Printer {
    match (rt.group, rt.kind) {
        ("", "Pod") => pods::PODS,
        ("", "Service") => services::SERVICES,
        ("", "Endpoints") => services::ENDPOINTS,
        ("", "ConfigMap") => core_kinds::CONFIG_MAPS,
        ("", "Secret") => core_kinds::SECRETS,
        ("", "Namespace") => core_kinds::NAMESPACES,
        ("", "ServiceAccount") => core_kinds::SERVICE_ACCOUNTS,
        ("", "ResourceQuota") => core_kinds::RESOURCE_QUOTAS,
        ("", "Node") => nodes::NODES,
        ("", "Event") => events::EVENTS,
        ("", "PersistentVolume") => storage::PERSISTENT_VOLUMES,
        ("", "PersistentVolumeClaim") => storage::PERSISTENT_VOLUME_CLAIMS,
        ("", "ReplicationController") => workloads::REPLICATION_CONTROLLERS,
        ("apps", "Deployment") => workloads::DEPLOYMENTS,
        ("apps", "ReplicaSet") => workloads::REPLICA_SETS,
        ("apps", "StatefulSet") => workloads::STATEFUL_SETS,
        ("apps", "DaemonSet") => workloads::DAEMON_SETS,
        ("apps", "ControllerRevision") => workloads::CONTROLLER_REVISIONS,
        ("batch", "Job") => batch::JOBS,
        ("batch", "CronJob") => batch::CRON_JOBS,
        ("node.k8s.io", "RuntimeClass") => cluster::RUNTIME_CLASSES,
        ("coordination.k8s.io", "Lease") => cluster::LEASES,
        ("discovery.k8s.io", "EndpointSlice") => services::ENDPOINT_SLICES,
        ("networking.k8s.io", "Ingress") => ingress::INGRESSES,
        ("networking.k8s.io", "IngressClass") => ingress::INGRESS_CLASSES,
        ("networking.k8s.io", "NetworkPolicy") => ingress::NETWORK_POLICIES,
        ("storage.k8s.io", "StorageClass") => storage::STORAGE_CLASSES,
        ("rbac.authorization.k8s.io", "RoleBinding") => cluster::ROLE_BINDINGS,
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => cluster::CLUSTER_ROLE_BINDINGS,
        // Built-ins upstream serves with its generic table.
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") | ("", "LimitRange") => fallback::CREATED_AT,
        _ => fallback::NAME_AND_AGE,
    }
}

/// The object a row carries, per `include`.
fn row_object(obj: &Value, include: IncludeObject) -> Option<Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or_else(|| json!({})),
        })),
        IncludeObject::Object => Some(obj.clone()),
    }
}

/// Renders objects of one type as a `meta.k8s.io/v1` Table, one row per
/// object in the order given. `list_meta` becomes the table's metadata
/// (`resourceVersion`, `continue`); `now` is the reference for ages.
pub fn table(rt: &ResourceType, objects: &[&Value], include: IncludeObject, list_meta: Value, now: Timestamp) -> Value {
    let printer = printer_for(rt);
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let row = (printer.row)(obj, now);
            debug_assert_eq!(row.cells.len(), printer.columns.len(), "{} cells", rt.kind);
            let mut out = json!({ "cells": row.cells });
            if !row.conditions.is_empty() {
                out["conditions"] = Value::Array(row.conditions);
            }
            if let Some(object) = row_object(obj, include) {
                out["object"] = object;
            }
            out
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": printer.columns.iter().map(|c| c.to_json()).collect::<Vec<_>>(),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::{lookup, TYPES};

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn column_names(table: &Value, priority: u64) -> Vec<String> {
        table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["priority"] == priority)
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    }

    fn empty_table(group: &str, plural: &str) -> Value {
        let rt = lookup(group, "v1", plural).unwrap();
        table(rt, &[], IncludeObject::Metadata, json!({}), now())
    }

    #[test]
    fn columns_per_kind_match_upstream() {
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            ("", "pods", &["Name", "Ready", "Status", "Restarts", "Age"], &["IP", "Node", "Nominated Node", "Readiness Gates"]),
            ("apps", "deployments", &["Name", "Ready", "Up-to-date", "Available", "Age"], &["Containers", "Images", "Selector"]),
            ("apps", "replicasets", &["Name", "Desired", "Current", "Ready", "Age"], &["Containers", "Images", "Selector"]),
            ("", "services", &["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], &["Selector"]),
            ("", "configmaps", &["Name", "Data", "Age"], &[]),
            ("", "secrets", &["Name", "Type", "Data", "Age"], &[]),
            ("", "namespaces", &["Name", "Status", "Age"], &[]),
            ("", "nodes", &["Name", "Status", "Roles", "Age", "Version"],
             &["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"]),
            ("", "events", &["Last Seen", "Type", "Reason", "Object", "Message"],
             &["Subobject", "Source", "First Seen", "Count", "Name"]),
            ("batch", "jobs", &["Name", "Status", "Completions", "Duration", "Age"], &["Containers", "Images", "Selector"]),
            ("node.k8s.io", "runtimeclasses", &["Name", "Handler", "Age"], &[]),
            ("", "serviceaccounts", &["Name", "Secrets", "Age"], &[]),
            ("rbac.authorization.k8s.io", "roles", &["Name", "Created At"], &[]),
            ("", "limitranges", &["Name", "Created At"], &[]),
        ];
        for (group, plural, default, wide) in cases {
            let t = empty_table(group, plural);
            assert_eq!(column_names(&t, 0), *default, "{plural}");
            assert_eq!(column_names(&t, 1), *wide, "{plural} wide");
        }
    }

    #[test]
    fn every_served_type_prints_one_cell_per_column() {
        let obj = json!({"metadata": {"name": "x", "namespace": "default", "creationTimestamp": "2024-05-01T11:00:00Z"}});
        for rt in TYPES {
            let t = table(rt, &[&obj], IncludeObject::None, json!({}), now());
            let columns = t["columnDefinitions"].as_array().unwrap();
            let cells = t["rows"][0]["cells"].as_array().unwrap();
            assert_eq!(cells.len(), columns.len(), "{}", rt.kind);
            let name_column = columns.iter().position(|c| c["format"] == "name").unwrap();
            assert_eq!(cells[name_column], "x", "{}", rt.kind);
        }
    }

    #[test]
    fn table_envelope_and_include_modes() {
        let pods = lookup("", "v1", "pods").unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
        let meta = json!({"resourceVersion": "12"});

        let t = table(pods, &[&pod], IncludeObject::default(), meta.clone(), now());
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], meta);
        assert_eq!(t["columnDefinitions"][0],
                   json!({"name": "Name", "type": "string", "format": "name", "description": printer::NAME_DOC, "priority": 0}));
        assert_eq!(t["rows"][0]["object"],
                   json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": pod["metadata"]}));

        let full = table(pods, &[&pod], IncludeObject::Object, json!({}), now());
        assert_eq!(full["rows"][0]["object"], pod);
        let none = table(pods, &[&pod], IncludeObject::None, json!({}), now());
        assert!(none["rows"][0].get("object").is_none());
        assert_eq!(table(pods, &[], IncludeObject::Metadata, json!({}), now())["rows"], json!([]));
    }

    #[test]
    fn unknown_kinds_get_name_and_age() {
        let rt = ResourceType {
            group: "example.com", version: "v1", kind: "Widget", plural: "widgets", singular: "widget",
            namespaced: true, short_names: &[], categories: &[], subresources: &[],
        };
        let obj = json!({"metadata": {"name": "w", "creationTimestamp": "2024-05-01T11:59:00Z"}});
        let t = table(&rt, &[&obj], IncludeObject::None, json!({}), now());
        assert_eq!(column_names(&t, 0), ["Name", "Age"]);
        assert_eq!(t["rows"][0]["cells"], json!(["w", "60s"]));
    }

    #[test]
    fn include_object_parses_query_values() {
        assert_eq!("".parse(), Ok(IncludeObject::Metadata));
        assert_eq!("None".parse(), Ok(IncludeObject::None));
        assert_eq!("Object".parse(), Ok(IncludeObject::Object));
        assert_eq!(
            "object".parse::<IncludeObject>().unwrap_err().to_string(),
            "unrecognized includeObject value: \"object\""
        );
    }
}
