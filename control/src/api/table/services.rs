//! Printers for Services and the endpoint objects behind them (Endpoints,
//! EndpointSlices).

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Endpoints, LoadBalancerStatus, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;

use super::format::{age, decode, format_labels, list_with_more, name_of, or_none};
use super::printer::{cells, Column, Printer, Row};

/// How many addresses an endpoints cell lists before `+ N more...`.
const MAX_LISTED: usize = 3;

pub const SERVICES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Type", "type determines how the Service is exposed."),
        Column::string("Cluster-IP", "clusterIP is the IP address of the service and is usually assigned randomly."),
        Column::string("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
        Column::string("Port(s)", "The list of ports that are exposed by this service."),
        Column::AGE,
        Column::string("Selector", "Route service traffic to pods with label keys and values matching this selector.").wide(),
    ],
    row: service_row,
};

/// IPs (or hostnames) of a load balancer, deduplicated, in status order.
fn load_balancer_addresses(status: Option<&LoadBalancerStatus>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ingress in status.and_then(|s| s.ingress.as_ref()).into_iter().flatten() {
        let address = ingress.ip.clone().filter(|s| !s.is_empty()).or_else(|| ingress.hostname.clone());
        if let Some(address) = address.filter(|s| !s.is_empty()) {
            if !out.contains(&address) {
                out.push(address);
            }
        }
    }
    out
}

/// `80/TCP,443:30443/TCP`. An unset protocol is TCP, the API default.
fn port_string(ports: &[ServicePort]) -> String {
    ports
        .iter()
        .map(|p| {
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port {
                Some(node_port) if node_port > 0 => format!("{}:{node_port}/{protocol}", p.port),
                _ => format!("{}/{protocol}", p.port),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn service_row(obj: &Value, now: Timestamp) -> Row {
    let svc: Service = decode(obj);
    let spec = svc.spec.unwrap_or_default();
    let type_ = spec.type_.clone().unwrap_or_default();
    let external_ips = spec.external_ips.clone().unwrap_or_default();
    let external = match type_.as_str() {
        "ClusterIP" | "NodePort" => or_none(external_ips.join(",")),
        "LoadBalancer" => {
            let mut all = load_balancer_addresses(svc.status.as_ref().and_then(|s| s.load_balancer.as_ref()));
            if all.is_empty() && external_ips.is_empty() {
                "<pending>".to_string()
            } else {
                all.extend(external_ips);
                all.join(",")
            }
        }
        "ExternalName" => spec.external_name.clone().unwrap_or_default(),
        _ => "<unknown>".to_string(),
    };
    let cluster_ip = spec.cluster_ips.as_deref().unwrap_or_default().first().cloned();
    cells![
        name_of(obj),
        type_,
        cluster_ip.unwrap_or_else(|| "<none>".to_string()),
        external,
        or_none(port_string(spec.ports.as_deref().unwrap_or_default())),
        age(&svc.metadata, now),
        format_labels(spec.selector.as_ref()),
    ]
    .into()
}

pub const ENDPOINTS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Endpoints", "The set of all endpoints is the union of all subsets."),
        Column::AGE,
    ],
    row: endpoints_row,
};

/// `ip:port` for every address and port, at most three, then `+ N more...`;
/// bare IPs for subsets without ports (headless services).
fn format_endpoints(endpoints: &Endpoints) -> String {
    let subsets = endpoints.subsets.as_deref().unwrap_or_default();
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    let mut all = Vec::new();
    for subset in subsets {
        let addresses = subset.addresses.as_deref().unwrap_or_default();
        match subset.ports.as_deref() {
            None | Some([]) => all.extend(addresses.iter().map(|a| a.ip.clone())),
            Some(ports) => {
                for port in ports {
                    all.extend(addresses.iter().map(|a| host_port(&a.ip, port.port)));
                }
            }
        }
    }
    let shown = all[..all.len().min(MAX_LISTED)].join(",");
    if all.len() > MAX_LISTED {
        format!("{shown} + {} more...", all.len() - MAX_LISTED)
    } else {
        shown
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses go in brackets.
fn host_port(ip: &str, port: i32) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn endpoints_row(obj: &Value, now: Timestamp) -> Row {
    let ep: Endpoints = decode(obj);
    cells![name_of(obj), format_endpoints(&ep), age(&ep.metadata, now)].into()
}

pub const ENDPOINT_SLICES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("AddressType", "addressType specifies the type of address carried by this EndpointSlice."),
        Column::string("Ports", "ports specifies the list of network ports exposed by each endpoint in this slice."),
        Column::string("Endpoints", "endpoints is a list of unique endpoints in this slice."),
        Column::AGE,
    ],
    row: endpoint_slice_row,
};

fn endpoint_slice_row(obj: &Value, now: Timestamp) -> Row {
    let slice: EndpointSlice = decode(obj);
    let ports: Vec<String> = slice
        .ports
        .iter()
        .flatten()
        .map(|p| match (p.port, &p.name) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.clone(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let addresses: Vec<String> = slice.endpoints.iter().flat_map(|e| e.addresses.iter().cloned()).collect();
    cells![
        name_of(obj),
        slice.address_type,
        list_with_more(&ports, MAX_LISTED),
        list_with_more(&addresses, MAX_LISTED),
        age(&slice.metadata, now),
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

    fn service(spec: Value, status: Value) -> Vec<Value> {
        service_row(&json!({"metadata": {"name": "web"}, "spec": spec, "status": status}), now()).cells
    }

    #[test]
    fn cluster_ip_service() {
        let cells = service(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                   "selector": {"app": "web"}}),
            json!({}),
        );
        assert_eq!(
            cells,
            vec![json!("web"), json!("ClusterIP"), json!("10.96.0.10"), json!("<none>"), json!("80/TCP,53/UDP"),
                 json!("<unknown>"), json!("app=web")]
        );
    }

    #[test]
    fn node_port_and_load_balancer() {
        let np = service(json!({"type": "NodePort", "ports": [{"port": 443, "nodePort": 30443}]}), json!({}));
        assert_eq!(np[2..5], [json!("<none>"), json!("<none>"), json!("443:30443/TCP")]);
        let pending = service(json!({"type": "LoadBalancer"}), json!({}));
        assert_eq!(pending[3..5], [json!("<pending>"), json!("<none>")]);
        let lb = service(
            json!({"type": "LoadBalancer", "externalIPs": ["5.6.7.8"]}),
            json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example"}, {"ip": "1.2.3.4"}]}}),
        );
        assert_eq!(lb[3], json!("1.2.3.4,lb.example,5.6.7.8"));
        let ext = service(json!({"type": "ExternalName", "externalName": "db.example"}), json!({}));
        assert_eq!(ext[3], json!("db.example"));
    }

    #[test]
    fn endpoints_list_three_then_more() {
        let ep = json!({"metadata": {"name": "web"}, "subsets": [
            {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]},
            {"addresses": [{"ip": "fd00::1"}]}]});
        assert_eq!(endpoints_row(&ep, now()).cells[1], json!("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 2 more..."));
        let v6 = json!({"metadata": {"name": "x"}, "subsets": [{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}]});
        assert_eq!(endpoints_row(&v6, now()).cells[1], json!("[fd00::1]:80"));
        assert_eq!(endpoints_row(&json!({"metadata": {"name": "e"}}), now()).cells[1], json!("<none>"));
    }

    #[test]
    fn endpoint_slice_cells() {
        let slice = json!({"metadata": {"name": "web-abc"}, "addressType": "IPv4",
            "ports": [{"port": 80}, {"name": "metrics"}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]});
        assert_eq!(
            endpoint_slice_row(&slice, now()).cells[1..4],
            [json!("IPv4"), json!("80,metrics"), json!("10.0.0.1,10.0.0.2")]
        );
    }
}
