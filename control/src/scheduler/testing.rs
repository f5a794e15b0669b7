//! Builders of Nodes and Pods for the scheduler's unit tests.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::node_info::NodeInfo;
use super::pod_info::PodInfo;

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
}

/// A Ready node allocating `cpu`, `memory` and 110 pods, labelled with its hostname.
pub fn node(name: &str, cpu: &str, memory: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([("kubernetes.io/hostname".to_string(), name.to_string())].into()),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus {
            allocatable: Some(quantities(&[("cpu", cpu), ("memory", memory), ("pods", "110")])),
            conditions: Some(vec![NodeCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() }]),
            ..Default::default()
        }),
    }
}

/// An unbound pod in `default` with one container requesting `cpu` and `memory`.
pub fn pod(name: &str, cpu: &str, memory: &str) -> Pod {
    Pod {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), uid: Some(format!("uid-{name}")), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                resources: Some(ResourceRequirements { requests: Some(quantities(&[("cpu", cpu), ("memory", memory)])), ..Default::default() }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

/// A NodeInfo of `node` holding `pods`.
pub fn node_info(node: Node, pods: &[Pod]) -> NodeInfo {
    let mut info = NodeInfo::default();
    info.set_node(std::sync::Arc::new(node));
    for p in pods {
        info.add_pod(std::sync::Arc::new(PodInfo::new(std::sync::Arc::new(p.clone()))));
    }
    info
}

/// Adds requests of an extended resource to the pod's first container.
pub fn with_request(mut pod: Pod, name: &str, amount: &str) -> Pod {
    if let Some(c) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        c.resources.get_or_insert_default().requests.get_or_insert_default().insert(name.into(), Quantity(amount.into()));
    }
    pod
}
