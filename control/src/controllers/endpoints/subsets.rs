//! The Endpoints a Service should have, and what to write to get there. Pure:
//! the Service and its pods in, the object and the change out.
//!
//! As in Kubernetes, pods that reach the same set of ports share one subset;
//! ready pods are `addresses`, the others `notReadyAddresses` (all of them
//! `addresses` under `publishNotReadyAddresses`); pods being deleted are left
//! out (the EndpointSlices list them as terminating instead).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::pods::{self, Candidate};

/// Label Kubernetes puts on the endpoints of a headless Service.
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// A pod's resolved ports, in the Service's port order: the key subsets group by.
type PortSet = Vec<(Option<String>, i32, String, Option<String>)>;

/// The ports of the Service that reach `pod`. A headless Service without
/// ports still lists its pods (DNS needs them), with no ports.
fn ports_of(service: &Service, pod: &Pod) -> Option<PortSet> {
    let ports = pods::service_ports(service);
    if ports.is_empty() {
        return pods::is_headless(service).then(Vec::new);
    }
    let resolved: PortSet = ports
        .iter()
        .filter_map(|p| {
            let target = pods::resolve_target_port(p, pod)?;
            Some((p.name.clone(), target, p.protocol.clone().unwrap_or_else(|| "TCP".into()), p.app_protocol.clone()))
        })
        .collect();
    (!resolved.is_empty()).then_some(resolved)
}

fn address(candidate: &Candidate<'_>, service: &Service) -> EndpointAddress {
    EndpointAddress {
        ip: candidate.ip.to_string(),
        hostname: pods::hostname(candidate.pod, service),
        node_name: candidate.pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        target_ref: Some(pods::target_ref(candidate.pod)),
    }
}

/// Addresses in a stable order: by IP, then by pod (several pods may share an IP).
fn sort_addresses(addresses: &mut [EndpointAddress]) {
    let uid = |a: &EndpointAddress| a.target_ref.as_ref().and_then(|r| r.uid.clone()).unwrap_or_default();
    addresses.sort_by(|a, b| a.ip.cmp(&b.ip).then_with(|| uid(a).cmp(&uid(b))));
}

/// The subsets of `service` given the pods it selects.
pub fn desired_subsets(service: &Service, selected: &[Pod]) -> Vec<EndpointSubset> {
    let publish_not_ready = pods::publishes_not_ready(service);
    let mut groups: BTreeMap<PortSet, (Vec<EndpointAddress>, Vec<EndpointAddress>)> = BTreeMap::new();
    for candidate in selected.iter().filter_map(pods::candidate) {
        if candidate.terminating {
            continue;
        }
        let Some(ports) = ports_of(service, candidate.pod) else { continue };
        let (ready, not_ready) = groups.entry(ports).or_default();
        let list = if candidate.ready || publish_not_ready { ready } else { not_ready };
        list.push(address(&candidate, service));
    }
    groups
        .into_iter()
        .map(|(ports, (mut ready, mut not_ready))| {
            sort_addresses(&mut ready);
            sort_addresses(&mut not_ready);
            let ports: Vec<EndpointPort> = ports
                .into_iter()
                .map(|(name, port, protocol, app_protocol)| EndpointPort { name, port, protocol: Some(protocol), app_protocol })
                .collect();
            EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect()
}

/// The labels of the Endpoints: the Service's, plus the headless marker.
fn desired_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    if pods::is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

/// What to write to bring the Endpoints in line.
#[derive(Debug, PartialEq)]
pub enum Change {
    Create(Endpoints),
    /// Replace the current object (carries its resourceVersion).
    Update(Endpoints),
    Nothing,
}

/// Compares the current Endpoints of `service` with what its pods call for.
pub fn plan(service: &Service, selected: &[Pod], current: Option<&Endpoints>) -> Change {
    let subsets = desired_subsets(service, selected);
    let labels = desired_labels(service);
    match current {
        None => Change::Create(Endpoints {
            metadata: ObjectMeta {
                name: service.metadata.name.clone(),
                namespace: service.metadata.namespace.clone(),
                labels: (!labels.is_empty()).then_some(labels),
                ..Default::default()
            },
            subsets: (!subsets.is_empty()).then_some(subsets),
        }),
        Some(current) => {
            let current_subsets = current.subsets.as_deref().unwrap_or_default();
            let current_labels = current.metadata.labels.clone().unwrap_or_default();
            if current_subsets == subsets.as_slice() && current_labels == labels {
                return Change::Nothing;
            }
            let mut updated = current.clone();
            updated.metadata.labels = (!labels.is_empty()).then_some(labels);
            updated.subsets = (!subsets.is_empty()).then_some(subsets);
            Change::Update(updated)
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::super::pods::fixtures::*;
    use super::*;

    fn ips(addresses: &Option<Vec<EndpointAddress>>) -> Vec<String> {
        addresses.iter().flatten().map(|a| a.ip.clone()).collect()
    }

    #[test]
    fn ready_and_not_ready_pods_are_listed_apart_with_resolved_ports() {
        let svc = service("web", &[("app", "web")], vec![port("http", 80, IntOrString::String("http".into()))]);
        let pods = vec![pod("b", "10.0.0.2", true), pod("a", "10.0.0.1", true), pod("c", "10.0.0.3", false), pod("d", "", true)];
        let subsets = desired_subsets(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), ["10.0.0.3"]);
        let ports = subsets[0].ports.clone().unwrap_or_default();
        assert_eq!(ports, [EndpointPort { name: Some("http".into()), port: 8080, protocol: Some("TCP".into()), app_protocol: None }]);
        let first = subsets[0].addresses.as_ref().and_then(|a| a.first()).cloned().expect("an address");
        assert_eq!(first.node_name.as_deref(), Some("node-a"));
        assert_eq!(first.target_ref.and_then(|r| r.name).as_deref(), Some("a"));
    }

    #[test]
    fn terminating_pods_and_pods_missing_the_named_port_are_left_out() {
        let svc = service("web", &[("app", "web")], vec![port("grpc", 81, IntOrString::String("grpc".into()))]);
        assert!(desired_subsets(&svc, &[pod("a", "10.0.0.1", true)]).is_empty());
        let svc = service("web", &[("app", "web")], vec![port("http", 80, IntOrString::Int(8080))]);
        assert!(desired_subsets(&svc, &[terminating(pod("a", "10.0.0.1", true))]).is_empty());
    }

    #[test]
    fn publish_not_ready_addresses_lists_every_pod_as_ready() {
        let mut svc = service("web", &[("app", "web")], vec![port("http", 80, IntOrString::Int(8080))]);
        if let Some(spec) = svc.spec.as_mut() {
            spec.publish_not_ready_addresses = Some(true);
        }
        let subsets = desired_subsets(&svc, &[pod("a", "10.0.0.1", false)]);
        assert_eq!(ips(&subsets[0].addresses), ["10.0.0.1"]);
        assert!(subsets[0].not_ready_addresses.is_none());
    }

    #[test]
    fn pods_sharing_an_ip_stay_distinct_and_headless_services_without_ports_list_pods() {
        let mut svc = service("db", &[("app", "web")], vec![]);
        if let Some(spec) = svc.spec.as_mut() {
            spec.cluster_ip = Some("None".into());
        }
        let subsets = desired_subsets(&svc, &[pod("a", "127.0.0.1", true), pod("b", "127.0.0.1", true)]);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), ["127.0.0.1", "127.0.0.1"]);
        assert!(subsets[0].ports.is_none());
        let Change::Create(created) = plan(&svc, &[], None) else { panic!("expected a create") };
        assert_eq!(created.metadata.labels.unwrap_or_default().get(HEADLESS_LABEL).map(String::as_str), Some(""));
        // A Service with a ClusterIP and no ports has no endpoints.
        let plain = service("plain", &[("app", "web")], vec![]);
        assert!(desired_subsets(&plain, &[pod("a", "10.0.0.1", true)]).is_empty());
    }

    #[test]
    fn pods_reaching_different_ports_get_different_subsets() {
        let svc = service("web", &[("app", "web")], vec![port("http", 80, IntOrString::String("http".into()))]);
        let mut other = pod("b", "10.0.0.2", true);
        if let Some(spec) = other.spec.as_mut() {
            if let Some(p) = spec.containers[0].ports.as_mut().and_then(|p| p.first_mut()) {
                p.container_port = 9090;
            }
        }
        let subsets = desired_subsets(&svc, &[pod("a", "10.0.0.1", true), other]);
        assert_eq!(subsets.len(), 2);
    }

    #[test]
    fn planning_twice_changes_nothing_the_second_time() {
        let svc = service("web", &[("app", "web")], vec![port("http", 80, IntOrString::Int(8080))]);
        let pods = vec![pod("a", "10.0.0.1", true)];
        let Change::Create(mut created) = plan(&svc, &pods, None) else { panic!("expected a create") };
        assert_eq!(created.metadata.labels.clone().unwrap_or_default().get("team").map(String::as_str), Some("a"));
        created.metadata.resource_version = Some("7".into());
        assert_eq!(plan(&svc, &pods, Some(&created)), Change::Nothing);
        let changed = vec![pod("a", "10.0.0.1", false)];
        let Change::Update(updated) = plan(&svc, &changed, Some(&created)) else { panic!("expected an update") };
        assert_eq!(updated.metadata.resource_version.as_deref(), Some("7"), "the update is guarded by the version read");
        assert_eq!(ips(&updated.subsets.unwrap_or_default()[0].not_ready_addresses), ["10.0.0.1"]);
    }
}
