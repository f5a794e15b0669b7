//! What the proxy and the DNS need of a Service and of an EndpointSlice,
//! read once from the API objects into plain values. Pure.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// kube-proxy's default `sessionAffinityConfig.clientIP.timeoutSeconds`.
pub const DEFAULT_AFFINITY_TIMEOUT: Duration = Duration::from_secs(10800);

/// A Service by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl ServiceKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        ServiceKey { namespace: namespace.to_string(), name: name.to_string() }
    }
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A port's transport protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The API's spelling; absent means TCP.
    pub fn parse(text: Option<&str>) -> Protocol {
        match text {
            Some("UDP") => Protocol::Udp,
            Some("SCTP") => Protocol::Sctp,
            _ => Protocol::Tcp,
        }
    }

    /// The label of an SRV name (`_tcp`, `_udp`, `_sctp`) without the underscore.
    pub fn srv_label(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// How a Service is addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addressing {
    /// A virtual IP the proxy answers on.
    ClusterIp(IpAddr),
    /// `clusterIP: None`: DNS names the endpoints themselves.
    Headless,
    /// DNS answers with a CNAME to this name; nothing is proxied.
    ExternalName(String),
}

/// One port of a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    /// `""` for the single unnamed port.
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub node_port: Option<u16>,
}

/// A Service as the proxy and DNS see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceInfo {
    pub key: ServiceKey,
    pub addressing: Addressing,
    pub ports: Vec<ServicePort>,
    /// NodePort or LoadBalancer: its node ports are opened on every node.
    pub node_ports: bool,
    /// LoadBalancer: its service ports are opened on the node address too (ServiceLB).
    pub load_balancer: bool,
    /// `sessionAffinity: ClientIP` and its timeout.
    pub affinity: Option<Duration>,
}

impl ServiceInfo {
    /// Reads a Service; None when it has no name or namespace.
    pub fn from_service(service: &Service) -> Option<ServiceInfo> {
        let key = ServiceKey::new(service.metadata.namespace.as_deref()?, service.metadata.name.as_deref()?);
        let spec = service.spec.clone().unwrap_or_default();
        let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
        let addressing = if kind == "ExternalName" {
            Addressing::ExternalName(spec.external_name.clone().unwrap_or_default().trim_end_matches('.').to_string())
        } else {
            match spec.cluster_ip.as_deref() {
                Some("None") | None | Some("") => Addressing::Headless,
                Some(ip) => match ip.parse() {
                    Ok(ip) => Addressing::ClusterIp(ip),
                    Err(_) => Addressing::Headless,
                },
            }
        };
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(ServicePort {
                    name: p.name.clone().unwrap_or_default(),
                    protocol: Protocol::parse(p.protocol.as_deref()),
                    port: u16::try_from(p.port).ok()?,
                    node_port: p.node_port.and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0),
                })
            })
            .collect();
        let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
            spec.session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds)
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map_or(DEFAULT_AFFINITY_TIMEOUT, Duration::from_secs)
        });
        Some(ServiceInfo {
            key,
            addressing,
            ports,
            node_ports: matches!(kind, "NodePort" | "LoadBalancer"),
            load_balancer: kind == "LoadBalancer",
            affinity,
        })
    }

    pub fn cluster_ip(&self) -> Option<IpAddr> {
        match self.addressing {
            Addressing::ClusterIp(ip) => Some(ip),
            _ => None,
        }
    }
}

impl AsRef<ServiceInfo> for ServiceInfo {
    fn as_ref(&self) -> &ServiceInfo {
        self
    }
}

/// A port of an EndpointSlice: the Service port of that name reaches `port` on its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlicePort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

/// One endpoint (its first address: the others are interchangeable with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// Ready and not terminating: the only endpoints traffic goes to.
    pub ready: bool,
    pub hostname: Option<String>,
}

/// An EndpointSlice as the proxy sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceInfo {
    pub service: ServiceKey,
    pub ports: Vec<SlicePort>,
    pub endpoints: Vec<Endpoint>,
}

impl SliceInfo {
    /// Reads a slice; None without a namespace or the `kubernetes.io/service-name` label.
    pub fn from_slice(slice: &EndpointSlice) -> Option<SliceInfo> {
        let namespace = slice.metadata.namespace.as_deref()?;
        let labels: &BTreeMap<String, String> = slice.metadata.labels.as_ref()?;
        let service = ServiceKey::new(namespace, labels.get(SERVICE_NAME_LABEL)?);
        let ports = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(SlicePort {
                    name: p.name.clone().unwrap_or_default(),
                    protocol: Protocol::parse(p.protocol.as_deref()),
                    port: u16::try_from(p.port?).ok()?,
                })
            })
            .collect();
        let endpoints = slice
            .endpoints
            .iter()
            .filter_map(|e| {
                let ip: IpAddr = e.addresses.first()?.parse().ok()?;
                let conditions = e.conditions.clone().unwrap_or_default();
                // An unknown readiness counts as ready (the API's advice); terminating never does.
                let ready = conditions.ready.unwrap_or(true) && !conditions.terminating.unwrap_or(false);
                Some(Endpoint { ip, ready, hostname: e.hostname.clone().filter(|h| !h.is_empty()) })
            })
            .collect();
        Some(SliceInfo { service, ports, endpoints })
    }
}

/// The subsets of a (legacy) Endpoints object as slices, for Services whose
/// endpoints are written by hand as Endpoints with no EndpointSlice beside
/// them (nothing mirrors one into the other here). None without a namespace.
pub fn slices_from_endpoints(endpoints: &Endpoints) -> Option<(ServiceKey, Vec<SliceInfo>)> {
    let service = ServiceKey::new(endpoints.metadata.namespace.as_deref()?, endpoints.metadata.name.as_deref()?);
    let slices = endpoints
        .subsets
        .iter()
        .flatten()
        .map(|subset| {
            let ports = subset
                .ports
                .iter()
                .flatten()
                .filter_map(|p| {
                    Some(SlicePort { name: p.name.clone().unwrap_or_default(), protocol: Protocol::parse(p.protocol.as_deref()), port: u16::try_from(p.port).ok()? })
                })
                .collect();
            let listed = |addresses: &Option<Vec<k8s_openapi::api::core::v1::EndpointAddress>>, ready: bool| {
                addresses
                    .iter()
                    .flatten()
                    .filter_map(move |a| Some(Endpoint { ip: a.ip.parse().ok()?, ready, hostname: a.hostname.clone().filter(|h| !h.is_empty()) }))
                    .collect::<Vec<_>>()
            };
            let mut endpoints = listed(&subset.addresses, true);
            endpoints.extend(listed(&subset.not_ready_addresses, false));
            SliceInfo { service: service.clone(), ports, endpoints }
        })
        .collect();
    Some((service, slices))
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Services and slices for the tests of the table, the proxy and the DNS.
    use k8s_openapi::api::core::v1::{ClientIPConfig, ServicePort as ApiPort, ServiceSpec, SessionAffinityConfig};
    use k8s_openapi::api::discovery::v1::{Endpoint as ApiEndpoint, EndpointConditions, EndpointPort};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    /// A ClusterIP Service `ns/name` at `ip` (or "None") with `(name, port, protocol)` ports.
    pub fn service(ns: &str, name: &str, ip: &str, ports: &[(&str, i32, &str)]) -> Service {
        Service {
            metadata: ObjectMeta { namespace: Some(ns.into()), name: Some(name.into()), ..Default::default() },
            spec: Some(ServiceSpec {
                cluster_ip: Some(ip.into()),
                ports: Some(
                    ports
                        .iter()
                        .map(|(n, p, proto)| ApiPort {
                            name: (!n.is_empty()).then(|| n.to_string()),
                            port: *p,
                            protocol: Some(proto.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn with_affinity(mut svc: Service, timeout: Option<i32>) -> Service {
        if let Some(spec) = svc.spec.as_mut() {
            spec.session_affinity = Some("ClientIP".into());
            spec.session_affinity_config =
                timeout.map(|t| SessionAffinityConfig { client_ip: Some(ClientIPConfig { timeout_seconds: Some(t) }) });
        }
        svc
    }

    /// `(ip, ready, terminating, hostname)`.
    pub type Ep<'a> = (&'a str, bool, bool, Option<&'a str>);

    /// A slice `name` of Service `ns/svc` with `(name, port, protocol)` ports.
    pub fn slice(ns: &str, svc: &str, name: &str, ports: &[(&str, i32, &str)], endpoints: &[Ep<'_>]) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                labels: Some([(SERVICE_NAME_LABEL.to_string(), svc.to_string())].into()),
                ..Default::default()
            },
            address_type: "IPv4".into(),
            ports: Some(
                ports
                    .iter()
                    .map(|(n, p, proto)| EndpointPort {
                        name: Some(n.to_string()),
                        port: Some(*p),
                        protocol: Some(proto.to_string()),
                        app_protocol: None,
                    })
                    .collect(),
            ),
            endpoints: endpoints
                .iter()
                .map(|(ip, ready, terminating, hostname)| ApiEndpoint {
                    addresses: vec![ip.to_string()],
                    conditions: Some(EndpointConditions {
                        ready: Some(*ready && !*terminating),
                        serving: Some(*ready),
                        terminating: Some(*terminating),
                    }),
                    hostname: hostname.map(str::to_string),
                    ..Default::default()
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn a_service_reads_its_addressing_ports_and_affinity() {
        let svc = ServiceInfo::from_service(&with_affinity(service("ns", "web", "10.43.0.20", &[("http", 80, "TCP"), ("dns", 53, "UDP")]), None))
            .expect("a service");
        assert_eq!(svc.addressing, Addressing::ClusterIp("10.43.0.20".parse().unwrap()));
        assert_eq!(svc.ports.len(), 2);
        assert_eq!(svc.ports[1].protocol, Protocol::Udp);
        assert_eq!(svc.affinity, Some(DEFAULT_AFFINITY_TIMEOUT));
        assert!(!svc.node_ports && !svc.load_balancer);
        let headless = ServiceInfo::from_service(&service("ns", "db", "None", &[])).expect("a service");
        assert_eq!(headless.addressing, Addressing::Headless);
    }

    #[test]
    fn terminating_and_unready_endpoints_are_not_ready() {
        let s = SliceInfo::from_slice(&slice(
            "ns",
            "web",
            "web-1",
            &[("http", 8080, "TCP")],
            &[("10.42.0.2", true, false, None), ("10.42.0.3", false, false, None), ("10.42.0.4", true, true, Some("web-0"))],
        ))
        .expect("a slice");
        assert_eq!(s.service, ServiceKey::new("ns", "web"));
        assert_eq!(s.endpoints.iter().map(|e| e.ready).collect::<Vec<_>>(), [true, false, false]);
        assert_eq!(s.endpoints[2].hostname.as_deref(), Some("web-0"));
        assert_eq!(s.ports, [SlicePort { name: "http".into(), protocol: Protocol::Tcp, port: 8080 }]);
    }
}
