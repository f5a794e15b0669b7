//! The EndpointSlices a Service should have, and the creates, updates and
//! deletes that get there from the slices it has. Pure.
//!
//! Endpoints that reach the same ports share slices of at most
//! [`MAX_ENDPOINTS`]. An endpoint stays in the slice it is in (a pod becoming
//! ready rewrites one slice, not all of them); new endpoints fill the slices
//! with room before new slices are made; a slice left empty goes. A Service
//! with no endpoints at all keeps one empty placeholder slice, as Kubernetes
//! does, so that "no endpoints" is visible rather than "not reconciled yet".

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::controllers::endpoints::pods;

pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
/// Kubernetes' default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS: usize = 100;

/// Resolved ports, comparable and orderable: (name, port, protocol, appProtocol).
type PortSet = Vec<(Option<String>, Option<i32>, Option<String>, Option<String>)>;

fn port_set_of(ports: Option<&[EndpointPort]>) -> PortSet {
    ports.unwrap_or_default().iter().map(|p| (p.name.clone(), p.port, p.protocol.clone(), p.app_protocol.clone())).collect()
}

fn endpoint_ports(ports: &PortSet) -> Option<Vec<EndpointPort>> {
    let list: Vec<EndpointPort> = ports
        .iter()
        .map(|(name, port, protocol, app_protocol)| EndpointPort {
            name: name.clone(),
            port: *port,
            protocol: protocol.clone(),
            app_protocol: app_protocol.clone(),
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// Which pod an endpoint stands for: its uid, or its address without one.
fn endpoint_id(endpoint: &Endpoint) -> String {
    endpoint.target_ref.as_ref().and_then(|r| r.uid.clone()).unwrap_or_else(|| endpoint.addresses.join(","))
}

fn sort_endpoints(endpoints: &mut [Endpoint]) {
    endpoints.sort_by_key(|e| (e.addresses.first().cloned().unwrap_or_default(), endpoint_id(e)));
}

/// The endpoints `service` should list, grouped by the ports they reach.
fn desired_endpoints(service: &Service, selected: &[Pod]) -> BTreeMap<PortSet, Vec<Endpoint>> {
    let publish_not_ready = pods::publishes_not_ready(service);
    let service_ports = pods::service_ports(service);
    let mut groups: BTreeMap<PortSet, Vec<Endpoint>> = BTreeMap::new();
    for candidate in selected.iter().filter_map(pods::candidate) {
        // The slices are IPv4; an IPv6 pod address belongs in an IPv6 slice.
        if candidate.ip.contains(':') {
            continue;
        }
        let ports: PortSet = service_ports
            .iter()
            .filter_map(|p| {
                let target = pods::resolve_target_port(p, candidate.pod)?;
                // An unnamed port is named "" (not absent), as upstream writes it: kubectl's
                // describers dereference the name.
                Some((Some(p.name.clone().unwrap_or_default()), Some(target), Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())), p.app_protocol.clone()))
            })
            .collect();
        // A pod none of the Service's ports reach is no endpoint (headless Services may have no ports at all).
        if ports.is_empty() && !service_ports.is_empty() {
            continue;
        }
        let serving = candidate.ready || publish_not_ready;
        groups.entry(ports).or_default().push(Endpoint {
            addresses: vec![candidate.ip.to_string()],
            conditions: Some(EndpointConditions {
                ready: Some(serving && !candidate.terminating),
                serving: Some(serving),
                terminating: Some(candidate.terminating),
            }),
            hostname: pods::hostname(candidate.pod, service),
            node_name: candidate.pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pods::target_ref(candidate.pod)),
            ..Default::default()
        });
    }
    groups
}

/// Labels every slice of `service` carries.
fn slice_labels(service: &Service) -> BTreeMap<String, String> {
    let mut labels = service.metadata.labels.clone().unwrap_or_default();
    labels.remove(HEADLESS_LABEL);
    labels.insert(SERVICE_NAME_LABEL.into(), service.metadata.name.clone().unwrap_or_default());
    labels.insert(MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    if pods::is_headless(service) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    }
    labels
}

fn owner(service: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: service.metadata.name.clone().unwrap_or_default(),
        uid: service.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn new_slice(service: &Service, ports: &PortSet, endpoints: Vec<Endpoint>) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", service.metadata.name.as_deref().unwrap_or_default())),
            namespace: service.metadata.namespace.clone(),
            labels: Some(slice_labels(service)),
            owner_references: Some(vec![owner(service)]),
            ..Default::default()
        },
        address_type: "IPv4".into(),
        endpoints,
        ports: endpoint_ports(ports),
    }
}

/// The writes that bring a Service's slices in line.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Vec<EndpointSlice>,
    /// Replacements of existing slices (each carries the resourceVersion read).
    pub update: Vec<EndpointSlice>,
    /// Names of slices to delete.
    pub delete: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// A slice being rebuilt: the existing object and its new endpoints.
struct Kept<'a> {
    existing: &'a EndpointSlice,
    ports: PortSet,
    endpoints: Vec<Endpoint>,
}

/// Plans the slices of `service` given the pods it selects and the slices it has.
pub fn plan(service: &Service, selected: &[Pod], existing: &[EndpointSlice]) -> Plan {
    let mut desired = desired_endpoints(service, selected);
    let mut existing: Vec<&EndpointSlice> = existing.iter().collect();
    existing.sort_by_key(|s| s.metadata.name.clone());
    let mut plan = Plan::default();

    if desired.values().all(Vec::is_empty) {
        return plan_placeholder(service, &existing);
    }

    // Endpoints stay where they are while they are still wanted.
    let mut kept: Vec<Kept<'_>> = Vec::new();
    let mut placed: HashSet<String> = HashSet::new();
    for slice in existing {
        let ports = port_set_of(slice.ports.as_deref());
        let Some(wanted) = desired.get(&ports) else {
            plan.delete.push(slice.metadata.name.clone().unwrap_or_default());
            continue;
        };
        let mut endpoints = Vec::new();
        for old in &slice.endpoints {
            let id = endpoint_id(old);
            if let Some(new) = wanted.iter().find(|e| endpoint_id(e) == id) {
                if placed.insert(id) && endpoints.len() < MAX_ENDPOINTS {
                    endpoints.push(new.clone());
                }
            }
        }
        kept.push(Kept { existing: slice, ports, endpoints });
    }
    for wanted in desired.values_mut() {
        wanted.retain(|e| !placed.contains(&endpoint_id(e)));
    }

    // New endpoints fill the slices with room first, then new slices.
    for (ports, mut fresh) in desired {
        for slice in kept.iter_mut().filter(|k| k.ports == ports) {
            let room = MAX_ENDPOINTS.saturating_sub(slice.endpoints.len()).min(fresh.len());
            slice.endpoints.extend(fresh.drain(..room));
        }
        sort_endpoints(&mut fresh);
        for chunk in fresh.chunks(MAX_ENDPOINTS) {
            let mut endpoints = chunk.to_vec();
            sort_endpoints(&mut endpoints);
            plan.create.push(new_slice(service, &ports, endpoints));
        }
    }

    for mut slice in kept {
        let name = slice.existing.metadata.name.clone().unwrap_or_default();
        if slice.endpoints.is_empty() {
            plan.delete.push(name);
            continue;
        }
        sort_endpoints(&mut slice.endpoints);
        if let Some(updated) = rewrite(service, slice.existing, &slice.ports, slice.endpoints) {
            plan.update.push(updated);
        }
    }
    plan
}

/// `existing` with `endpoints`, the Service's labels and owner, or None if it
/// already is exactly that.
fn rewrite(service: &Service, existing: &EndpointSlice, ports: &PortSet, endpoints: Vec<Endpoint>) -> Option<EndpointSlice> {
    let mut updated = existing.clone();
    updated.endpoints = endpoints;
    updated.ports = endpoint_ports(ports);
    updated.address_type = "IPv4".into();
    updated.metadata.labels = Some(slice_labels(service));
    updated.metadata.owner_references = Some(vec![owner(service)]);
    (updated != *existing).then_some(updated)
}

/// A Service without endpoints keeps exactly one empty slice.
fn plan_placeholder(service: &Service, existing: &[&EndpointSlice]) -> Plan {
    let mut plan = Plan::default();
    let mut slices = existing.iter();
    match slices.next() {
        None => plan.create.push(new_slice(service, &Vec::new(), Vec::new())),
        Some(first) => {
            if let Some(updated) = rewrite(service, first, &Vec::new(), Vec::new()) {
                plan.update.push(updated);
            }
        }
    }
    plan.delete.extend(slices.map(|s| s.metadata.name.clone().unwrap_or_default()));
    plan
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    use super::*;
    use crate::controllers::endpoints::pods::fixtures::*;

    fn web() -> Service {
        service("web", &[("app", "web")], vec![port("http", 80, IntOrString::String("http".into()))])
    }

    /// What the API server hands back after creating `slice` as `name`.
    fn stored(mut slice: EndpointSlice, name: &str) -> EndpointSlice {
        slice.metadata.name = Some(name.into());
        slice.metadata.generate_name = None;
        slice.metadata.resource_version = Some("1".into());
        slice
    }

    fn pods(n: usize) -> Vec<Pod> {
        // Addresses whose text sorts like the index: 10.0.0.100, 10.0.0.101, ...
        (0..n).map(|i| pod(&format!("p{i:03}"), &format!("10.0.{}.{}", i / 100, 100 + i % 100), true)).collect()
    }

    fn conditions(e: &Endpoint) -> (Option<bool>, Option<bool>, Option<bool>) {
        let c = e.conditions.clone().unwrap_or_default();
        (c.ready, c.serving, c.terminating)
    }

    #[test]
    fn a_new_service_gets_one_labelled_owned_slice_with_conditions() {
        let selected = vec![pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", false), terminating(pod("c", "10.0.0.3", true)), pod("d", "", true)];
        let plan = plan(&web(), &selected, &[]);
        assert_eq!((plan.create.len(), plan.update.len(), plan.delete.len()), (1, 0, 0));
        let slice = &plan.create[0];
        let labels = slice.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels.get(SERVICE_NAME_LABEL).map(String::as_str), Some("web"));
        assert_eq!(labels.get(MANAGED_BY_LABEL).map(String::as_str), Some(MANAGED_BY));
        assert_eq!(slice.metadata.generate_name.as_deref(), Some("web-"));
        let owner = slice.metadata.owner_references.clone().unwrap_or_default();
        assert_eq!(owner.first().map(|o| (o.kind.as_str(), o.uid.as_str(), o.controller)), Some(("Service", "uid-web", Some(true))));
        assert_eq!(slice.address_type, "IPv4");
        assert_eq!(slice.ports.clone().unwrap_or_default().first().and_then(|p| p.port), Some(8080));
        let got: Vec<_> = slice.endpoints.iter().map(|e| (e.addresses[0].as_str(), conditions(e))).collect();
        assert_eq!(
            got,
            [
                ("10.0.0.1", (Some(true), Some(true), Some(false))),
                ("10.0.0.2", (Some(false), Some(false), Some(false))),
                ("10.0.0.3", (Some(false), Some(true), Some(true))),
            ]
        );
        assert_eq!(slice.endpoints[0].node_name.as_deref(), Some("node-a"));
    }

    #[test]
    fn slices_hold_at_most_a_hundred_endpoints() {
        let plan = plan(&web(), &pods(250), &[]);
        let sizes: Vec<usize> = plan.create.iter().map(|s| s.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
    }

    #[test]
    fn a_second_plan_does_nothing_and_a_change_rewrites_only_its_slice() {
        let selected = pods(150);
        let first = plan(&web(), &selected, &[]);
        let existing: Vec<EndpointSlice> = first.create.into_iter().enumerate().map(|(i, s)| stored(s, &format!("web-{i}"))).collect();
        assert!(plan(&web(), &selected, &existing).is_empty());

        let mut changed = selected.clone();
        changed[120] = pod("p120", "10.0.1.120", false);
        let second = plan(&web(), &changed, &existing);
        assert_eq!((second.create.len(), second.update.len(), second.delete.len()), (0, 1, 0));
        assert_eq!(second.update[0].metadata.name.as_deref(), Some("web-1"));
        assert_eq!(second.update[0].metadata.resource_version.as_deref(), Some("1"));
    }

    #[test]
    fn new_endpoints_fill_slices_with_room_and_empty_slices_go() {
        let selected = pods(150);
        let existing: Vec<EndpointSlice> =
            plan(&web(), &selected, &[]).create.into_iter().enumerate().map(|(i, s)| stored(s, &format!("web-{i}"))).collect();
        // 40 more pods fit in the second slice (50 + 40).
        let grown = plan(&web(), &pods(190), &existing);
        assert_eq!((grown.create.len(), grown.update.len()), (0, 1));
        assert_eq!(grown.update[0].endpoints.len(), 90);
        // Only the first hundred pods remain: the second slice goes.
        let shrunk = plan(&web(), &pods(100), &existing);
        assert_eq!(shrunk.delete, ["web-1"]);
        assert!(shrunk.update.is_empty());
    }

    #[test]
    fn a_service_without_endpoints_keeps_one_empty_placeholder() {
        let empty = plan(&web(), &[], &[]);
        assert_eq!(empty.create.len(), 1);
        assert!(empty.create[0].endpoints.is_empty() && empty.create[0].ports.is_none());
        let existing: Vec<EndpointSlice> =
            plan(&web(), &pods(150), &[]).create.into_iter().enumerate().map(|(i, s)| stored(s, &format!("web-{i}"))).collect();
        let gone = plan(&web(), &[], &existing);
        assert_eq!(gone.delete, ["web-1"]);
        assert_eq!(gone.update.len(), 1);
        assert!(gone.update[0].endpoints.is_empty());
        let placeholder = stored(empty.create.into_iter().next().expect("a placeholder"), "web-p");
        assert!(plan(&web(), &[], &[placeholder]).is_empty());
    }

    #[test]
    fn a_changed_port_replaces_the_slices() {
        let existing = vec![stored(plan(&web(), &pods(3), &[]).create.remove(0), "web-0")];
        let moved = service("web", &[("app", "web")], vec![port("http", 80, IntOrString::Int(9090))]);
        let plan = plan(&moved, &pods(3), &existing);
        assert_eq!(plan.delete, ["web-0"]);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].ports.clone().unwrap_or_default()[0].port, Some(9090));
    }

    #[test]
    fn publish_not_ready_addresses_marks_every_endpoint_ready() {
        let mut svc = web();
        if let Some(spec) = svc.spec.as_mut() {
            spec.publish_not_ready_addresses = Some(true);
        }
        let plan = plan(&svc, &[pod("a", "10.0.0.1", false)], &[]);
        assert_eq!(conditions(&plan.create[0].endpoints[0]), (Some(true), Some(true), Some(false)));
    }
}
