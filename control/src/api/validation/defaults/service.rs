//! Service defaults. The cluster IP and node ports are allocated by the
//! handlers, not here.

use serde_json::{json, Map, Value};

use super::json::{each_object, existing_object, set_default};

pub fn default_service(obj: &mut Map<String, Value>) {
    let Some(spec) = existing_object(obj, "spec") else { return };
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let kind = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    for port in each_object(spec, "ports") {
        set_default(port, "protocol", json!("TCP"));
        if let Some(p) = port.get("port").cloned() {
            set_default(port, "targetPort", p);
        }
    }
    if kind == "ExternalName" {
        return;
    }
    set_default(spec, "ipFamilies", json!(["IPv4"]));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
    if kind == "NodePort" || kind == "LoadBalancer" {
        set_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(v: Value) -> Value {
        let mut map = v.as_object().cloned().unwrap_or_default();
        default_service(&mut map);
        Value::Object(map)
    }

    #[test]
    fn cluster_ip_services() {
        let s = apply(
            json!({"spec": {"selector": {"app": "web"}, "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}}),
        );
        assert_eq!(s["spec"]["type"], "ClusterIP");
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(s["spec"]["ports"][0], json!({"port": 80, "protocol": "TCP", "targetPort": 80}));
        assert_eq!(s["spec"]["ports"][1]["targetPort"], "https");
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
        assert!(s["spec"].get("externalTrafficPolicy").is_none());
    }

    #[test]
    fn node_port_and_external_name() {
        let s = apply(json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}}));
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        let e = apply(json!({"spec": {"type": "ExternalName", "externalName": "db.example.com"}}));
        assert!(e["spec"].get("ipFamilies").is_none());
        assert_eq!(e["spec"]["sessionAffinity"], "None");
    }
}
