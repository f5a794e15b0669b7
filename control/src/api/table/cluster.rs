//! Printers for cluster plumbing: RuntimeClasses, Leases and the RBAC bindings.

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, RoleRef, Subject};
use serde_json::Value;

use super::format::{age, decode, name_of};
use super::printer::{cells, Column, Printer, Row};

pub const RUNTIME_CLASSES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Handler", "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class."),
        Column::AGE,
    ],
    row: runtime_class_row,
};

fn runtime_class_row(obj: &Value, now: Timestamp) -> Row {
    let class: RuntimeClass = decode(obj);
    cells![name_of(obj), class.handler, age(&class.metadata, now)].into()
}

pub const LEASES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Holder", "holderIdentity contains the identity of the holder of a current lease."),
        Column::AGE,
    ],
    row: lease_row,
};

fn lease_row(obj: &Value, now: Timestamp) -> Row {
    let lease: Lease = decode(obj);
    let holder = lease.spec.and_then(|s| s.holder_identity).unwrap_or_default();
    cells![name_of(obj), holder, age(&lease.metadata, now)].into()
}

pub const ROLE_BINDINGS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Role", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
        Column::AGE,
        Column::string("Users", "Users in the roleBinding").wide(),
        Column::string("Groups", "Groups in the roleBinding").wide(),
        Column::string("ServiceAccounts", "ServiceAccounts in the roleBinding").wide(),
    ],
    row: role_binding_row,
};

pub const CLUSTER_ROLE_BINDINGS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Role", "RoleRef can only reference a ClusterRole in the global namespace."),
        Column::AGE,
        Column::string("Users", "Users in the clusterRoleBinding").wide(),
        Column::string("Groups", "Groups in the clusterRoleBinding").wide(),
        Column::string("ServiceAccounts", "ServiceAccounts in the clusterRoleBinding").wide(),
    ],
    row: cluster_role_binding_row,
};

/// The Role, Users, Groups and ServiceAccounts cells of a binding.
fn binding_cells(role_ref: &RoleRef, subjects: &[Subject]) -> [String; 4] {
    let names = |kind: &str| {
        subjects
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| match kind {
                "ServiceAccount" => format!("{}/{}", s.namespace.as_deref().unwrap_or_default(), s.name),
                _ => s.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    [format!("{}/{}", role_ref.kind, role_ref.name), names("User"), names("Group"), names("ServiceAccount")]
}

fn role_binding_row(obj: &Value, now: Timestamp) -> Row {
    let binding: RoleBinding = decode(obj);
    let [role, users, groups, sas] = binding_cells(&binding.role_ref, binding.subjects.as_deref().unwrap_or_default());
    cells![name_of(obj), role, age(&binding.metadata, now), users, groups, sas].into()
}

fn cluster_role_binding_row(obj: &Value, now: Timestamp) -> Row {
    let binding: ClusterRoleBinding = decode(obj);
    let [role, users, groups, sas] = binding_cells(&binding.role_ref, binding.subjects.as_deref().unwrap_or_default());
    cells![name_of(obj), role, age(&binding.metadata, now), users, groups, sas].into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn runtime_class_and_lease() {
        let rc = json!({"metadata": {"name": "wasm", "creationTimestamp": "2024-05-01T11:00:00Z"}, "handler": "wasmtime"});
        assert_eq!(runtime_class_row(&rc, now()).cells, vec![json!("wasm"), json!("wasmtime"), json!("60m")]);
        let lease = json!({"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}});
        assert_eq!(lease_row(&lease, now()).cells[1], json!("n1"));
    }

    #[test]
    fn binding_subjects_are_split_by_kind() {
        let rb = json!({"metadata": {"name": "read"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
                         {"kind": "Group", "name": "devs"}, {"kind": "User", "name": "bob"}]});
        assert_eq!(
            role_binding_row(&rb, now()).cells,
            vec![json!("read"), json!("ClusterRole/view"), json!("<unknown>"), json!("alice, bob"), json!("devs"), json!("build/ci")]
        );
        let crb = json!({"metadata": {"name": "admin"}, "roleRef": {"apiGroup": "", "kind": "ClusterRole", "name": "cluster-admin"}});
        assert_eq!(cluster_role_binding_row(&crb, now()).cells[3..], [json!(""), json!(""), json!("")]);
    }
}
