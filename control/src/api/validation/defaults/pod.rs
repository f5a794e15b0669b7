//! Pod and pod-template defaults: the pod spec and its containers (as
//! upstream's `SetDefaults_PodSpec`/`_Container`), and for pods themselves
//! what admission adds (service account, priority, default tolerations) and
//! the initial status with its QoS class.

use serde_json::{json, Map, Value};

use super::json::{each_object, ensure_object, existing_object, set_default};
use crate::api::validation::quantity::Quantity;

/// Tolerations every pod gets so it survives a short node outage.
const DEFAULT_TOLERATIONS: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];
/// `0644`, the mode of files projected from ConfigMaps and Secrets.
const DEFAULT_FILE_MODE: i64 = 0o644;

/// Defaults of a pod spec, whether in a pod or in a workload's template.
pub fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    set_default(spec, "securityContext", json!({}));
    let host_network = spec.get("hostNetwork") == Some(&Value::Bool(true));
    for list in ["initContainers", "containers"] {
        for container in each_object(spec, list) {
            default_container(container, host_network);
        }
    }
    for volume in each_object(spec, "volumes") {
        default_volume(volume);
    }
}

fn default_container(c: &mut Map<String, Value>, host_network: bool) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    set_default(c, "imagePullPolicy", json!(pull_policy_for(image)));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    for port in each_object(c, "ports") {
        set_default(port, "protocol", json!("TCP"));
        // With the host's network the container port is the host port.
        if host_network {
            if let Some(p) = port.get("containerPort").cloned() {
                set_default(port, "hostPort", p);
            }
        }
    }
    for var in each_object(c, "env") {
        if let Some(field_ref) = existing_object(var, "valueFrom").and_then(|v| existing_object(v, "fieldRef")) {
            set_default(field_ref, "apiVersion", json!("v1"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(probe) = existing_object(c, probe) {
            default_probe(probe);
        }
    }
}

/// `Always` for `:latest` or untagged images (they may change under the same
/// name), `IfNotPresent` for a fixed tag or digest.
fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    // A `:` after the last `/` starts the tag; one before it is a registry port.
    let last_component = image.rsplit('/').next().unwrap_or(image);
    match last_component.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn default_probe(probe: &mut Map<String, Value>) {
    set_default(probe, "timeoutSeconds", json!(1));
    set_default(probe, "periodSeconds", json!(10));
    set_default(probe, "successThreshold", json!(1));
    set_default(probe, "failureThreshold", json!(3));
    if let Some(get) = existing_object(probe, "httpGet") {
        set_default(get, "path", json!("/"));
        set_default(get, "scheme", json!("HTTP"));
    }
}

fn default_volume(volume: &mut Map<String, Value>) {
    for source in ["configMap", "secret", "downwardAPI", "projected"] {
        if let Some(s) = existing_object(volume, source) {
            set_default(s, "defaultMode", json!(DEFAULT_FILE_MODE));
        }
    }
    if let Some(host) = existing_object(volume, "hostPath") {
        set_default(host, "type", json!(""));
    }
}

/// Defaults of a pod object: its spec, what admission adds, and status.
pub fn default_pod(pod: &mut Map<String, Value>) {
    if let Some(spec) = ensure_object(pod, "spec") {
        default_pod_spec(spec);
        default_pod_only_spec(spec);
    }
    let qos = pod.get("spec").map(qos_class).unwrap_or("BestEffort");
    if let Some(status) = ensure_object(pod, "status") {
        set_default(status, "phase", json!("Pending"));
        set_default(status, "qosClass", json!(qos));
    }
}

/// What upstream admission plugins add to pods (but not to templates).
fn default_pod_only_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "serviceAccountName", json!("default"));
    let account = spec.get("serviceAccountName").cloned().unwrap_or(json!("default"));
    set_default(spec, "serviceAccount", account);
    set_default(spec, "enableServiceLinks", json!(true));
    set_default(spec, "priority", json!(0));
    set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    set_default(spec, "tolerations", json!([]));
    if let Some(Value::Array(tolerations)) = spec.get_mut("tolerations") {
        for key in DEFAULT_TOLERATIONS {
            if !tolerates_no_execute(tolerations, key) {
                tolerations.push(json!({
                    "key": key, "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": crate::controllers::nodelifecycle::default_toleration::seconds(),
                }));
            }
        }
    }
    // Requests default to limits, so a pod with limits only is Guaranteed.
    for list in ["initContainers", "containers"] {
        for container in each_object(spec, list) {
            if let Some(resources) = existing_object(container, "resources") {
                let Some(limits) = resources.get("limits").and_then(Value::as_object).cloned() else { continue };
                if let Some(requests) = ensure_object(resources, "requests") {
                    for (name, limit) in limits {
                        set_default(requests, &name, limit);
                    }
                }
            }
        }
    }
}

/// Whether some toleration already covers NoExecute taints with `key`.
fn tolerates_no_execute(tolerations: &[Value], key: &str) -> bool {
    tolerations.iter().any(|t| {
        let t_key = t.get("key").and_then(Value::as_str).unwrap_or("");
        let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
        let exists = t.get("operator").and_then(Value::as_str) == Some("Exists");
        (t_key == key || (t_key.is_empty() && exists)) && (effect.is_empty() || effect == "NoExecute")
    })
}

/// The pod's QoS class from the CPU and memory of all its containers, as
/// upstream's `GetPodQOS`: no requests or limits at all is BestEffort; limits
/// for both in every container, equal to the requests, is Guaranteed.
pub fn qos_class(spec: &Value) -> &'static str {
    const TRACKED: [&str; 2] = ["cpu", "memory"];
    let mut requests = [Quantity::default(); 2];
    let mut limits = [Quantity::default(); 2];
    let mut any = false;
    let mut guaranteed = true;
    let containers =
        ["initContainers", "containers"].iter().filter_map(|list| spec.get(list).and_then(Value::as_array)).flatten();
    for container in containers {
        let resources = container.get("resources");
        let amount = |kind: &str, name: &str| {
            resources
                .and_then(|r| r.get(kind))
                .and_then(|l| l.get(name))
                .and_then(|q| Quantity::from_json(q).ok())
                .filter(|q| !q.is_zero())
        };
        for (i, name) in TRACKED.iter().enumerate() {
            if let Some(q) = amount("requests", name) {
                requests[i] = requests[i] + q;
                any = true;
            }
            match amount("limits", name) {
                Some(q) => {
                    limits[i] = limits[i] + q;
                    any = true;
                }
                None => guaranteed = false,
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed && requests == limits {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(v: Value) -> Value {
        let mut map = v.as_object().cloned().unwrap_or_default();
        default_pod(&mut map);
        Value::Object(map)
    }

    #[test]
    fn pod_defaults_match_kubernetes() {
        let p = pod(json!({"metadata": {"name": "web-abc"}, "spec": {"containers": [
            {"name": "c1", "image": "nginx", "ports": [{"containerPort": 80}]},
            {"name": "c2", "image": "nginx:1.27", "livenessProbe": {"httpGet": {"port": 80}}}]}}));
        let spec = &p["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["priority"], 0);
        assert_eq!(
            spec["tolerations"],
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        );
        let c1 = &spec["containers"][0];
        assert_eq!(c1["imagePullPolicy"], "Always");
        assert_eq!(c1["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c1["terminationMessagePolicy"], "File");
        assert_eq!(c1["resources"], json!({}));
        assert_eq!(c1["ports"][0]["protocol"], "TCP");
        let c2 = &spec["containers"][1];
        assert_eq!(c2["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c2["livenessProbe"]["periodSeconds"], 10);
        assert_eq!(c2["livenessProbe"]["httpGet"]["scheme"], "HTTP");
        assert_eq!(p["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
    }

    #[test]
    fn user_values_win() {
        let p = pod(json!({"spec": {"restartPolicy": "Never", "serviceAccountName": "robot",
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "c", "image": "x", "imagePullPolicy": "Never"}]}}));
        assert_eq!(p["spec"]["restartPolicy"], "Never");
        assert_eq!(p["spec"]["serviceAccount"], "robot");
        assert_eq!(
            p["spec"]["tolerations"],
            json!([{"operator": "Exists"}]),
            "a wildcard toleration already covers both"
        );
        assert_eq!(p["spec"]["containers"][0]["imagePullPolicy"], "Never");
    }

    #[test]
    fn pull_policies() {
        assert_eq!(pull_policy_for("nginx"), "Always");
        assert_eq!(pull_policy_for("nginx:latest"), "Always");
        assert_eq!(pull_policy_for("localhost:5000/app"), "Always");
        assert_eq!(pull_policy_for("localhost:5000/app:v2"), "IfNotPresent");
        assert_eq!(pull_policy_for("nginx@sha256:abcd"), "IfNotPresent");
    }

    #[test]
    fn qos_classes() {
        let qos = |containers: Value| pod(json!({"spec": {"containers": containers}}))["status"]["qosClass"].clone();
        assert_eq!(qos(json!([{"name": "a", "image": "x"}])), "BestEffort");
        assert_eq!(
            qos(json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}])),
            "Guaranteed"
        );
        assert_eq!(
            qos(
                json!([{"name": "a", "image": "x", "resources": {"requests": {"cpu": "1000m", "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1024Mi"}}}])
            ),
            "Guaranteed"
        );
        assert_eq!(qos(json!([{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100m"}}}])), "Burstable");
        assert_eq!(
            qos(
                json!([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}, {"name": "b", "image": "x"}])
            ),
            "Burstable"
        );
        assert_eq!(
            qos(
                json!([{"name": "a", "image": "x", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}])
            ),
            "Burstable"
        );
    }

    #[test]
    fn requests_default_to_limits_in_pods_only() {
        let p = pod(
            json!({"spec": {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}, "requests": {"memory": "1Gi"}}}]}}),
        );
        assert_eq!(p["spec"]["containers"][0]["resources"]["requests"], json!({"memory": "1Gi", "cpu": "1"}));
        let mut template = json!({"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}]});
        if let Some(spec) = template.as_object_mut() {
            default_pod_spec(spec);
        }
        assert!(template["containers"][0]["resources"].get("requests").is_none());
        assert!(template.get("serviceAccountName").is_none());
    }
}
