//! Printers for networking.k8s.io: Ingresses, IngressClasses, NetworkPolicies.

use jiff::Timestamp;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, IngressRule, NetworkPolicy};
use serde_json::Value;

use super::format::{age, decode, format_label_selector, name_of};
use super::printer::{cells, Column, Printer, Row};

/// How many hosts the Hosts cell lists before `+ N more...`.
const MAX_HOSTS: usize = 3;

pub const INGRESSES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Class", "The name of the IngressClass resource that should be used for additional configuration"),
        Column::string("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
        Column::string("Address", "Address is a list containing ingress points for the load-balancer"),
        Column::string("Ports", "Ports of TLS configurations that open"),
        Column::AGE,
    ],
    row: ingress_row,
};

/// Rule hosts, `*` when no rule names one (upstream `formatHosts`).
fn format_hosts(rules: &[IngressRule]) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        // Like upstream: "more" once three hosts are listed and any rule follows.
        if hosts.len() == MAX_HOSTS {
            more = true;
            break;
        }
        if let Some(host) = rule.host.as_deref().filter(|h| !h.is_empty()) {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        return "*".to_string();
    }
    let shown = hosts.join(",");
    if more {
        format!("{shown} + {} more...", rules.len() - MAX_HOSTS)
    } else {
        shown
    }
}

fn ingress_row(obj: &Value, now: Timestamp) -> Row {
    let ing: Ingress = decode(obj);
    let spec = ing.spec.unwrap_or_default();
    let mut addresses: Vec<String> = Vec::new();
    let lb = ing.status.and_then(|s| s.load_balancer).and_then(|lb| lb.ingress).unwrap_or_default();
    for entry in lb {
        let address = entry.ip.filter(|s| !s.is_empty()).or(entry.hostname).filter(|s| !s.is_empty());
        if let Some(address) = address {
            if !addresses.contains(&address) {
                addresses.push(address);
            }
        }
    }
    let ports = if spec.tls.as_ref().is_some_and(|tls| !tls.is_empty()) { "80, 443" } else { "80" };
    cells![
        name_of(obj),
        spec.ingress_class_name.clone().unwrap_or_else(|| "<none>".to_string()),
        format_hosts(spec.rules.as_deref().unwrap_or_default()),
        addresses.join(","),
        ports,
        age(&ing.metadata, now),
    ]
    .into()
}

pub const INGRESS_CLASSES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Controller", "Controller that is responsible for handling this class"),
        Column::string("Parameters", "A reference to a resource with additional parameters"),
        Column::AGE,
    ],
    row: ingress_class_row,
};

fn ingress_class_row(obj: &Value, now: Timestamp) -> Row {
    let class: IngressClass = decode(obj);
    let spec = class.spec.unwrap_or_default();
    // `Kind.group/name`, as upstream prints the parameters reference.
    let parameters = match &spec.parameters {
        None => "<none>".to_string(),
        Some(p) => match &p.api_group {
            Some(group) => format!("{}.{group}/{}", p.kind, p.name),
            None => format!("{}/{}", p.kind, p.name),
        },
    };
    // The default class is marked as StorageClasses are (upstream prints this since 1.35).
    let default = class.metadata.annotations.as_ref().and_then(|a| a.get("ingressclass.kubernetes.io/is-default-class")).is_some_and(|v| v == "true");
    let name = if default { format!("{} (default)", name_of(obj)) } else { name_of(obj) };
    cells![name, spec.controller.unwrap_or_default(), parameters, age(&class.metadata, now)].into()
}

pub const NETWORK_POLICIES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Pod-Selector", "podSelector selects the pods to which this NetworkPolicy object applies."),
        Column::AGE,
    ],
    row: network_policy_row,
};

fn network_policy_row(obj: &Value, now: Timestamp) -> Row {
    let policy: NetworkPolicy = decode(obj);
    let selector = policy.spec.as_ref().and_then(|s| s.pod_selector.as_ref());
    // An absent podSelector is the empty selector: all pods, printed `<none>`.
    cells![name_of(obj), format_label_selector(Some(&selector.cloned().unwrap_or_default())), age(&policy.metadata, now)]
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
    fn ingress_cells() {
        let ing = json!({"metadata": {"name": "web"},
            "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["a.example"]}],
                     "rules": [{"host": "a.example"}, {"host": "b.example"}, {}, {"host": "d.example"}, {"host": "e.example"}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}});
        assert_eq!(
            ingress_row(&ing, now()).cells,
            vec![json!("web"), json!("nginx"), json!("a.example,b.example,d.example + 2 more..."), json!("1.2.3.4"),
                 json!("80, 443"), json!("<unknown>")]
        );
        let bare = json!({"metadata": {"name": "x"}, "spec": {}});
        assert_eq!(ingress_row(&bare, now()).cells[1..5], [json!("<none>"), json!("*"), json!(""), json!("80")]);
    }

    #[test]
    fn ingress_class_and_network_policy() {
        let class = json!({"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
            "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "p"}}});
        assert_eq!(ingress_class_row(&class, now()).cells[2], json!("IngressParameters.k8s.example.com/p"));
        let np = json!({"metadata": {"name": "deny"}, "spec": {"podSelector": {"matchLabels": {"app": "db"}}}});
        assert_eq!(network_policy_row(&np, now()).cells[1], json!("app=db"));
        let all = json!({"metadata": {"name": "all"}, "spec": {"podSelector": {}}});
        assert_eq!(network_policy_row(&all, now()).cells[1], json!("<none>"));
    }
}
