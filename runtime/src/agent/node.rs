//! The agent's Node object: registration (labels, capacity, addresses,
//! runtime handlers, the endpoint and certificate of its HTTPS server) and
//! the periodic refresh of its conditions.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeRuntimeHandler,
    NodeRuntimeHandlerFeatures, NodeSpec, NodeStatus, NodeSystemInfo,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::host::{HostFacts, Pressure};
use super::spec::limits::FUEL_RESOURCE;
use super::AgentError;

/// The annotation the API server reads to pin the agent's certificate.
pub const CERT_ANNOTATION: &str = "wasmkube.io/agent-cert-sha256";
/// Advertised fuel: large enough never to be the scheduling constraint on a
/// wasm node, while its mere presence keeps fuel-limited pods off other nodes.
pub const FUEL_CAPACITY: &str = "1000000000000000";
pub const KUBELET_VERSION: &str = "v1.32.0";
pub const RUNTIME_VERSION: &str = "wasmtime://48.0.8";
/// How often conditions are refreshed (kubelet's nodeStatusUpdateFrequency).
pub const STATUS_PERIOD: Duration = Duration::from_secs(10);

/// What the agent says about its node.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    pub name: String,
    pub handlers: Vec<&'static str>,
    pub max_pods: u32,
    pub agent_port: u16,
    pub cert_sha256: String,
    pub host: HostFacts,
    pub data_dir: PathBuf,
    /// The node's InternalIP.
    pub node_ip: IpAddr,
}

impl NodeIdentity {
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels: BTreeMap<String, String> = [
            ("kubernetes.io/os", "linux".to_string()),
            ("kubernetes.io/arch", "amd64".to_string()),
            ("kubernetes.io/hostname", self.name.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for handler in &self.handlers {
            labels.insert(format!("wasmkube.io/runtime-{handler}"), "true".into());
        }
        labels
    }

    fn resources(&self) -> BTreeMap<String, Quantity> {
        let mut resources: BTreeMap<String, Quantity> = [
            ("cpu", self.host.cpus.to_string()),
            ("memory", format!("{}Ki", self.host.memory_bytes / 1024)),
            ("pods", self.max_pods.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Quantity(v)))
        .collect();
        if self.handlers.contains(&"wasmtime") {
            resources.insert(FUEL_RESOURCE.into(), Quantity(FUEL_CAPACITY.into()));
        }
        resources
    }

    /// The complete Node, as first created.
    pub fn node(&self, pressure: Pressure) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                labels: Some(self.labels()),
                annotations: Some([(CERT_ANNOTATION.to_string(), self.cert_sha256.clone())].into()),
                ..Default::default()
            },
            spec: Some(NodeSpec::default()),
            status: Some(self.status(pressure, None)),
        }
    }

    /// The node status; conditions keep their transition time from `previous` while unchanged.
    pub fn status(&self, pressure: Pressure, previous: Option<&NodeStatus>) -> NodeStatus {
        let now = Time(Timestamp::now());
        let old = previous.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
        let condition = |kind: &str, on: bool, reason: &str, message: &str| {
            let status = if on { "True" } else { "False" };
            let since = old
                .iter()
                .find(|c| c.type_ == kind && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or_else(|| now.clone());
            NodeCondition {
                type_: kind.into(),
                status: status.into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(since),
            }
        };
        let (mem_reason, mem_message) = if pressure.memory {
            ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
        } else {
            ("KubeletHasSufficientMemory", "kubelet has sufficient memory available")
        };
        let (disk_reason, disk_message) = if pressure.disk {
            ("KubeletHasDiskPressure", "kubelet has disk pressure")
        } else {
            ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")
        };
        NodeStatus {
            capacity: Some(self.resources()),
            allocatable: Some(self.resources()),
            addresses: Some(vec![
                NodeAddress { type_: "InternalIP".into(), address: self.node_ip.to_string() },
                NodeAddress { type_: "Hostname".into(), address: self.name.clone() },
            ]),
            conditions: Some(vec![
                condition("Ready", true, "KubeletReady", "kubelet is posting ready status"),
                condition("MemoryPressure", pressure.memory, mem_reason, mem_message),
                condition("DiskPressure", pressure.disk, disk_reason, disk_message),
                condition("PIDPressure", false, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ]),
            daemon_endpoints: Some(NodeDaemonEndpoints {
                kubelet_endpoint: Some(DaemonEndpoint { port: i32::from(self.agent_port) }),
            }),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".into(),
                operating_system: "linux".into(),
                boot_id: self.host.boot_id.clone(),
                machine_id: self.host.machine_id.clone(),
                system_uuid: self.host.machine_id.clone(),
                kernel_version: self.host.kernel_version.clone(),
                os_image: self.host.os_image.clone(),
                container_runtime_version: RUNTIME_VERSION.into(),
                kubelet_version: KUBELET_VERSION.into(),
                kube_proxy_version: String::new(),
                ..Default::default()
            }),
            runtime_handlers: Some(
                self.handlers
                    .iter()
                    .map(|h| NodeRuntimeHandler {
                        name: Some(h.to_string()),
                        features: Some(NodeRuntimeHandlerFeatures {
                            recursive_read_only_mounts: Some(false),
                            user_namespaces: Some(false),
                        }),
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }
}

/// Creates the Node, or brings an existing one (an agent restart) up to date.
pub async fn register(client: &Client, identity: &NodeIdentity) -> Result<Node, AgentError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let pressure = Pressure::read(&identity.data_dir);
    match nodes.create(&PostParams::default(), &identity.node(pressure)).await {
        Ok(node) => {
            // A create may drop status (it is a subresource); write it explicitly.
            update_status(&nodes, identity, Some(&node)).await?;
            Ok(node)
        }
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let patch = serde_json::json!({
                "metadata": { "labels": identity.labels(), "annotations": { CERT_ANNOTATION: identity.cert_sha256 } }
            });
            let node = nodes
                .patch(&identity.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(AgentError::api(format!("updating Node {}", identity.name)))?;
            update_status(&nodes, identity, Some(&node)).await?;
            Ok(node)
        }
        Err(err) => Err(AgentError::Api { action: format!("creating Node {}", identity.name), source: err }),
    }
}

/// Refreshes the node status every [`STATUS_PERIOD`] until cancelled.
pub async fn keep_status(client: Client, identity: NodeIdentity) {
    let nodes: Api<Node> = Api::all(client);
    let mut tick = tokio::time::interval(STATUS_PERIOD);
    tick.tick().await;
    loop {
        tick.tick().await;
        let current = nodes.get_opt(&identity.name).await;
        let result = match current {
            Ok(Some(node)) => update_status(&nodes, &identity, Some(&node)).await,
            // Someone deleted our Node: register again, as kubelet does.
            Ok(None) => register(&nodes.clone().into_client(), &identity).await.map(|_| ()),
            Err(err) => Err(AgentError::Api { action: "reading our Node".into(), source: err }),
        };
        if let Err(err) = result {
            tracing::warn!(node = %identity.name, error = %err, "node status update failed");
        }
    }
}

async fn update_status(nodes: &Api<Node>, identity: &NodeIdentity, current: Option<&Node>) -> Result<(), AgentError> {
    let pressure = Pressure::read(&identity.data_dir);
    let status = identity.status(pressure, current.and_then(|n| n.status.as_ref()));
    let patch = serde_json::json!({ "status": status });
    nodes
        .patch_status(&identity.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(AgentError::api(format!("updating the status of Node {}", identity.name)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(handlers: Vec<&'static str>) -> NodeIdentity {
        NodeIdentity {
            name: "n1".into(),
            handlers,
            max_pods: 110,
            agent_port: 10250,
            cert_sha256: "ab".into(),
            host: HostFacts {
                cpus: 2,
                memory_bytes: 4 << 30,
                kernel_version: "6.1".into(),
                os_image: "Debian".into(),
                machine_id: "m".into(),
                boot_id: "b".into(),
            },
            data_dir: PathBuf::from("/tmp"),
            node_ip: "127.0.0.1".parse().expect("ip"),
        }
    }

    #[test]
    fn wasm_nodes_advertise_fuel_and_their_handlers() {
        let node = identity(vec!["wasmtime"]).node(Pressure::default());
        let labels = node.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get("wasmkube.io/runtime-wasmtime").map(String::as_str), Some("true"));
        assert_eq!(labels.get("kubernetes.io/hostname").map(String::as_str), Some("n1"));
        let status = node.status.unwrap_or_default();
        let capacity = status.capacity.unwrap_or_default();
        assert_eq!(capacity.get(FUEL_RESOURCE), Some(&Quantity(FUEL_CAPACITY.into())));
        assert_eq!(capacity.get("memory"), Some(&Quantity("4194304Ki".into())));
        assert_eq!(capacity.get("pods"), Some(&Quantity("110".into())));
        assert_eq!(status.daemon_endpoints.and_then(|d| d.kubelet_endpoint).map(|e| e.port), Some(10250));
        let handlers: Vec<_> = status.runtime_handlers.unwrap_or_default().into_iter().filter_map(|h| h.name).collect();
        assert_eq!(handlers, ["wasmtime"]);
    }

    #[test]
    fn linux_only_nodes_offer_no_fuel() {
        let status = identity(vec!["linux"]).status(Pressure::default(), None);
        assert!(!status.capacity.unwrap_or_default().contains_key(FUEL_RESOURCE));
    }

    #[test]
    fn conditions_report_pressure_and_keep_transition_times() {
        let id = identity(vec!["wasmtime"]);
        let first = id.status(Pressure { memory: true, disk: false }, None);
        let find = |s: &NodeStatus, kind: &str| s.conditions.clone().unwrap_or_default().into_iter().find(|c| c.type_ == kind);
        assert_eq!(find(&first, "MemoryPressure").map(|c| c.status), Some("True".into()));
        let second = id.status(Pressure { memory: true, disk: false }, Some(&first));
        assert_eq!(
            find(&second, "Ready").and_then(|c| c.last_transition_time),
            find(&first, "Ready").and_then(|c| c.last_transition_time)
        );
    }
}
