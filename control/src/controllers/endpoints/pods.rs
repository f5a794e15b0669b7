//! What a Service's endpoint controllers need to know about a pod: whether
//! the Service selects it, whether it can be an endpoint at all, whether it is
//! ready or terminating, and which port a Service port reaches on it. Shared
//! by the Endpoints and the EndpointSlice controllers, which must agree.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The label selector of `service`, or None for a Service without one (its
/// endpoints are managed by the user, not by these controllers).
pub fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    service.spec.as_ref()?.selector.as_ref().filter(|s| !s.is_empty())
}

/// The selector as a `labelSelector` query (`app=web,tier=front`).
pub fn selector_query(selector: &BTreeMap<String, String>) -> String {
    selector.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Whether `service` selects `pod`: same namespace, every selector label present.
pub fn selects(service: &Service, pod: &Pod) -> bool {
    let Some(selector) = selector(service) else { return false };
    if service.metadata.namespace != pod.metadata.namespace {
        return false;
    }
    let labels = pod.metadata.labels.as_ref();
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn is_headless(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// Whether the Service wants not-ready pods listed as ready endpoints.
pub fn publishes_not_ready(service: &Service) -> bool {
    service.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false)
}

/// A pod as a candidate endpoint: its address and the state that decides
/// where it is listed.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate<'a> {
    pub pod: &'a Pod,
    pub ip: &'a str,
    /// The pod's Ready condition is True.
    pub ready: bool,
    /// The pod is being deleted.
    pub terminating: bool,
}

/// The pod as an endpoint candidate, or None when it cannot be one: it has
/// no IP yet, or it has finished (Succeeded/Failed) and will not run again.
pub fn candidate(pod: &Pod) -> Option<Candidate<'_>> {
    let status = pod.status.as_ref()?;
    let ip = status.pod_ip.as_deref().filter(|ip| !ip.is_empty())?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
    Some(Candidate { pod, ip, ready, terminating: pod.metadata.deletion_timestamp.is_some() })
}

/// The reference from an endpoint back to its pod.
pub fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The endpoint's hostname: the pod's `hostname` when its `subdomain` names
/// this Service, as DNS for headless Services and StatefulSets expects.
pub fn hostname(pod: &Pod, service: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let hostname = spec.hostname.as_deref().filter(|h| !h.is_empty())?;
    let same_namespace = pod.metadata.namespace == service.metadata.namespace;
    (same_namespace && spec.subdomain.is_some() && spec.subdomain == service.metadata.name).then(|| hostname.to_string())
}

/// The port on `pod` that `port` of the Service reaches: `targetPort` as a
/// number, or the containerPort of that name (None when no container of the
/// pod names it: that port has no endpoint on this pod). No targetPort means
/// the Service port itself.
pub fn resolve_target_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) if *n > 0 => Some(*n),
        Some(IntOrString::Int(_)) => Some(port.port),
        Some(IntOrString::String(name)) => {
            // A numeric string is a number (the API accepts `targetPort: "8080"`).
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| p.name.as_deref() == Some(name.as_str()) && p.protocol.as_deref().unwrap_or("TCP") == protocol)
                .map(|p| p.container_port)
        }
    }
}

/// The Service's ports.
pub fn service_ports(service: &Service) -> &[ServicePort] {
    service.spec.as_ref().and_then(|s| s.ports.as_deref()).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Pods and Services for the endpoint controllers' unit tests.

    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServiceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    pub fn service(name: &str, selector: &[(&str, &str)], ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some([("team".to_string(), "a".to_string())].into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ports: Some(ports),
                cluster_ip: Some("10.43.0.20".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    pub fn port(name: &str, port: i32, target: IntOrString) -> ServicePort {
        ServicePort { name: Some(name.into()), port, target_port: Some(target), protocol: Some("TCP".into()), ..Default::default() }
    }

    pub fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-a".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(vec![ContainerPort { name: Some("http".into()), container_port: 8080, ..Default::default() }]),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: (!ip.is_empty()).then(|| ip.to_string()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    pub fn terminating(mut pod: Pod) -> Pod {
        pod.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        pod
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn a_service_selects_pods_with_all_its_labels_in_its_namespace() {
        let svc = service("web", &[("app", "web")], vec![]);
        assert!(selects(&svc, &pod("a", "10.0.0.1", true)));
        let mut other = pod("b", "10.0.0.2", true);
        other.metadata.labels = Some([("app".to_string(), "db".to_string())].into());
        assert!(!selects(&svc, &other));
        let mut elsewhere = pod("c", "10.0.0.3", true);
        elsewhere.metadata.namespace = Some("prod".into());
        assert!(!selects(&svc, &elsewhere));
        let no_selector = service("manual", &[], vec![]);
        assert!(selector(&no_selector).is_none());
        assert!(!selects(&no_selector, &pod("a", "10.0.0.1", true)));
    }

    #[test]
    fn pods_without_an_ip_or_finished_are_no_candidates() {
        assert!(candidate(&pod("a", "", true)).is_none());
        let mut done = pod("b", "10.0.0.2", false);
        if let Some(s) = done.status.as_mut() {
            s.phase = Some("Succeeded".into());
        }
        assert!(candidate(&done).is_none());
        let running = pod("c", "127.0.0.1", false);
        let c = candidate(&running).expect("a candidate");
        assert_eq!((c.ip, c.ready, c.terminating), ("127.0.0.1", false, false));
        let going = terminating(pod("d", "10.0.0.4", true));
        assert!(candidate(&going).is_some_and(|c| c.terminating && c.ready));
    }

    #[test]
    fn target_ports_resolve_by_number_or_by_container_port_name() {
        let p = pod("a", "10.0.0.1", true);
        assert_eq!(resolve_target_port(&port("web", 80, IntOrString::Int(9090)), &p), Some(9090));
        assert_eq!(resolve_target_port(&port("web", 80, IntOrString::String("http".into())), &p), Some(8080));
        assert_eq!(resolve_target_port(&port("web", 80, IntOrString::String("grpc".into())), &p), None);
        assert_eq!(resolve_target_port(&port("web", 80, IntOrString::String("7070".into())), &p), Some(7070));
        let mut udp = port("dns", 53, IntOrString::String("http".into()));
        udp.protocol = Some("UDP".into());
        assert_eq!(resolve_target_port(&udp, &p), None, "the name must match the protocol too");
        let mut untargeted = port("web", 80, IntOrString::Int(0));
        untargeted.target_port = None;
        assert_eq!(resolve_target_port(&untargeted, &p), Some(80));
    }

    #[test]
    fn hostname_is_set_only_for_the_named_subdomain() {
        let svc = service("web", &[("app", "web")], vec![]);
        let mut p = pod("a", "10.0.0.1", true);
        if let Some(spec) = p.spec.as_mut() {
            spec.hostname = Some("a-0".into());
            spec.subdomain = Some("web".into());
        }
        assert_eq!(hostname(&p, &svc).as_deref(), Some("a-0"));
        if let Some(spec) = p.spec.as_mut() {
            spec.subdomain = Some("other".into());
        }
        assert_eq!(hostname(&p, &svc), None);
    }
}
