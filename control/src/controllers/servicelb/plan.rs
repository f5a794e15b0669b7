//! What a Service's load balancer status should be. Pure.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Service};
use serde_json::{json, Value};

/// The InternalIPs of the nodes traffic can go to: the ready ones, or every
/// node when none is ready (a status naming no address helps nobody), sorted.
pub fn node_addresses(nodes: &[Arc<Node>]) -> Vec<String> {
    let internal = |n: &Node| {
        n.status.as_ref()?.addresses.as_ref()?.iter().find(|a| a.type_ == "InternalIP").map(|a| a.address.clone())
    };
    let ready = |n: &Node| {
        n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    let mut out: Vec<String> = nodes.iter().filter(|n| ready(n)).filter_map(|n| internal(n)).collect();
    if out.is_empty() {
        out = nodes.iter().filter_map(|n| internal(n)).collect();
    }
    out.sort();
    out.dedup();
    out
}

/// The new `status.loadBalancer.ingress` of `svc` (JSON null to remove it),
/// or None when it already is what it should be.
pub fn status_change(svc: &Service, addresses: &[String]) -> Option<Value> {
    let spec = svc.spec.as_ref();
    let ours = spec.and_then(|s| s.type_.as_deref()) == Some("LoadBalancer") && spec.and_then(|s| s.load_balancer_class.as_ref()).is_none();
    let current: Vec<String> = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|list| list.iter().filter_map(|i| i.ip.clone()).collect())
        .unwrap_or_default();
    if ours {
        if current == addresses {
            return None;
        }
        return Some(Value::Array(addresses.iter().map(|ip| json!({"ip": ip, "ipMode": "VIP"})).collect()));
    }
    // Someone else's class keeps whatever its controller wrote.
    let foreign = spec.and_then(|s| s.load_balancer_class.as_ref()).is_some();
    (!current.is_empty() && !foreign).then_some(Value::Null)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, NodeAddress, NodeCondition, NodeStatus, ServiceSpec, ServiceStatus};

    use super::*;

    fn node(ip: &str, ready: bool) -> Arc<Node> {
        Arc::new(Node {
            status: Some(NodeStatus {
                addresses: Some(vec![NodeAddress { type_: "InternalIP".into(), address: ip.into() }]),
                conditions: Some(vec![NodeCondition { type_: "Ready".into(), status: if ready { "True" } else { "Unknown" }.into(), ..Default::default() }]),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn svc(kind: &str, ingress: &[&str]) -> Service {
        Service {
            spec: Some(ServiceSpec { type_: Some(kind.into()), ..Default::default() }),
            status: Some(ServiceStatus {
                load_balancer: Some(LoadBalancerStatus {
                    ingress: Some(ingress.iter().map(|ip| LoadBalancerIngress { ip: Some(ip.to_string()), ..Default::default() }).collect()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ready_nodes_are_the_ingress_of_load_balancers_only() {
        let addrs = node_addresses(&[node("127.0.0.2", true), node("127.0.0.1", true), node("127.0.0.3", false)]);
        assert_eq!(addrs, ["127.0.0.1", "127.0.0.2"]);
        assert_eq!(node_addresses(&[node("127.0.0.3", false)]), ["127.0.0.3"]);
        let want = status_change(&svc("LoadBalancer", &[]), &addrs).expect("a change");
        assert_eq!(want, json!([{"ip": "127.0.0.1", "ipMode": "VIP"}, {"ip": "127.0.0.2", "ipMode": "VIP"}]));
        assert_eq!(status_change(&svc("LoadBalancer", &["127.0.0.1", "127.0.0.2"]), &addrs), None);
        // No longer a LoadBalancer: the status goes; a ClusterIP without one is left alone.
        assert_eq!(status_change(&svc("ClusterIP", &["127.0.0.1"]), &addrs), Some(Value::Null));
        assert_eq!(status_change(&svc("ClusterIP", &[]), &addrs), None);
    }
}
