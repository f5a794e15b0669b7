//! The Node printer: `Name, Status, Roles, Age, Version | Internal-IP,
//! External-IP, OS-Image, Kernel-Version, Container-Runtime`.

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, NodeAddress};
use serde_json::Value;

use super::format::{age, decode, name_of, or_none};
use super::printer::{cells, Column, Printer, Row};

pub const NODES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Status", "The status of the node"),
        Column::string("Roles", "The roles of the node"),
        Column::AGE,
        Column::string("Version", "Kubelet Version reported by the node."),
        Column::string("Internal-IP", "List of addresses reachable to the node.").wide(),
        Column::string("External-IP", "List of addresses reachable to the node.").wide(),
        Column::string("OS-Image", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).").wide(),
        Column::string("Kernel-Version", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).").wide(),
        Column::string("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).").wide(),
    ],
    row: node_row,
};

/// Role labels: `node-role.kubernetes.io/<role>` (any value) and
/// `kubernetes.io/role=<role>`.
const ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const ROLE_LABEL: &str = "kubernetes.io/role";

fn node_row(obj: &Value, now: Timestamp) -> Row {
    let node: Node = decode(obj);
    let status = node.status.unwrap_or_default();

    // The last Ready condition wins, as in upstream's condition map.
    let ready = status.conditions.iter().flatten().rfind(|c| c.type_ == "Ready");
    let mut states = vec![match ready {
        Some(c) if c.status == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.spec.and_then(|s| s.unschedulable).unwrap_or(false) {
        states.push("SchedulingDisabled");
    }

    // Upstream collects roles in a set; sorted here so rows are stable.
    let roles: BTreeSet<&str> = node
        .metadata
        .labels
        .iter()
        .flatten()
        .filter_map(|(key, value)| match key.strip_prefix(ROLE_PREFIX) {
            Some(role) if !role.is_empty() => Some(role),
            Some(_) => None,
            None if key == ROLE_LABEL && !value.is_empty() => Some(value.as_str()),
            None => None,
        })
        .collect();

    let addresses = status.addresses.as_deref().unwrap_or_default();
    let address = |type_: &str| {
        addresses.iter().find(|a: &&NodeAddress| a.type_ == type_).map_or("<none>".to_string(), |a| a.address.clone())
    };
    let info = status.node_info.unwrap_or_default();
    let or_unknown = |s: String| if s.is_empty() { "<unknown>".to_string() } else { s };
    cells![
        name_of(obj),
        states.join(","),
        or_none(roles.into_iter().collect::<Vec<_>>().join(",")),
        age(&node.metadata, now),
        info.kubelet_version,
        address("InternalIP"),
        address("ExternalIP"),
        or_unknown(info.os_image),
        or_unknown(info.kernel_version),
        or_unknown(info.container_runtime_version),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn ready_node_with_roles_and_addresses() {
        let node = json!({"metadata": {"name": "n1", "creationTimestamp": "2024-04-28T12:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge", "x": "y"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}, {"type": "Hostname", "address": "n1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0-wasmkube", "osImage": "Debian GNU/Linux 12",
                                    "kernelVersion": "", "containerRuntimeVersion": "wasmkube://0.1.0",
                                    "architecture": "amd64", "bootID": "", "machineID": "", "operatingSystem": "linux",
                                    "kubeProxyVersion": "", "systemUUID": ""}}});
        assert_eq!(
            node_row(&node, now()).cells,
            vec![json!("n1"), json!("Ready,SchedulingDisabled"), json!("control-plane,edge"), json!("3d"),
                 json!("v1.32.0-wasmkube"), json!("10.0.0.2"), json!("<none>"), json!("Debian GNU/Linux 12"),
                 json!("<unknown>"), json!("wasmkube://0.1.0")]
        );
    }

    #[test]
    fn node_without_conditions_is_unknown() {
        let cells = node_row(&json!({"metadata": {"name": "n2"}}), now()).cells;
        assert_eq!(cells[1..3], [json!("Unknown"), json!("<none>")]);
        let not_ready = json!({"metadata": {"name": "n3"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(node_row(&not_ready, now()).cells[1], json!("NotReady"));
    }
}
