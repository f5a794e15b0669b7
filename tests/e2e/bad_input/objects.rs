//! Objects that decode but fail validation: 422 Invalid, with the path of
//! the offending field in the message (upstream's `field.Error` wording).

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    case, configmap, deployment, pod, service, with, Case, CONFIGMAPS, DEPLOYMENTS, NAMESPACES, PODS, SECRETS, SERVICES,
};

fn invalid(what: &'static str, collection: &str, body: Value, field: &'static str) -> Case {
    case(what, Method::POST, collection).json(body).expect(422, "Invalid", field)
}

fn metadata_cases() -> Vec<Case> {
    let cm = configmap;
    let labelled = |labels: Value| with(cm("labelled"), "/metadata/labels", labels);
    vec![
        invalid("uppercase name", CONFIGMAPS, cm("Bad"), "metadata.name"),
        invalid("name over 253 characters", CONFIGMAPS, cm(&"a".repeat(254)), "metadata.name"),
        invalid("name with a leading dash", CONFIGMAPS, cm("-bad"), "metadata.name"),
        invalid("pod name with an underscore", PODS, pod("bad_name"), "metadata.name"),
        invalid(
            "no name and no generateName",
            CONFIGMAPS,
            with(cm("x"), "/metadata/name", Value::Null),
            "metadata.name",
        ),
        invalid(
            "invalid generateName",
            CONFIGMAPS,
            with(with(cm("x"), "/metadata/name", Value::Null), "/metadata/generateName", json!("Bad_")),
            "metadata.generateName",
        ),
        invalid(
            "namespace name with a dot",
            NAMESPACES,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bad.name"}}),
            "metadata.name",
        ),
        invalid("label key with a space", CONFIGMAPS, labelled(json!({"bad key": "x"})), "metadata.labels"),
        invalid(
            "label value over 63 characters",
            CONFIGMAPS,
            labelled(json!({"app": "v".repeat(64)})),
            "metadata.labels",
        ),
        invalid("label value with a space", CONFIGMAPS, labelled(json!({"app": "a b"})), "metadata.labels"),
        invalid(
            "annotation key with a space",
            CONFIGMAPS,
            with(cm("annotated"), "/metadata/annotations", json!({"bad key": "x"})),
            "metadata.annotations",
        ),
        invalid(
            "configmap key with a space",
            CONFIGMAPS,
            with(cm("keys"), "/data", json!({"bad key": "x"})),
            "data[bad key]",
        ),
        invalid(
            "secret key with a slash",
            SECRETS,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "keys"}, "data": {"bad/key": "eA=="}}),
            "data[bad/key]",
        ),
    ]
}

fn pod_cases() -> Vec<Case> {
    let p = || pod("broken");
    let c0 = |field: &str, v: Value| with(p(), &format!("/spec/containers/0/{field}"), v);
    let two = json!([{"name": "c1", "image": "busybox:1.0"}, {"name": "c1", "image": "busybox:1.0"}]);
    vec![
        invalid("pod without containers", PODS, with(p(), "/spec/containers", json!([])), "spec.containers"),
        invalid("container without image", PODS, c0("image", Value::Null), "spec.containers[0].image"),
        invalid("duplicate container names", PODS, with(p(), "/spec/containers", two), "spec.containers[1].name"),
        invalid("uppercase container name", PODS, c0("name", json!("C1")), "spec.containers[0].name"),
        invalid(
            "containerPort 70000",
            PODS,
            c0("ports", json!([{"containerPort": 70000}])),
            "spec.containers[0].ports[0].containerPort",
        ),
        invalid(
            "port protocol XTP",
            PODS,
            c0("ports", json!([{"containerPort": 80, "protocol": "XTP"}])),
            "spec.containers[0].ports[0].protocol",
        ),
        invalid(
            "restartPolicy Sometimes",
            PODS,
            with(p(), "/spec/restartPolicy", json!("Sometimes")),
            "spec.restartPolicy",
        ),
        invalid(
            "imagePullPolicy Whenever",
            PODS,
            c0("imagePullPolicy", json!("Whenever")),
            "spec.containers[0].imagePullPolicy",
        ),
        invalid("dnsPolicy Weird", PODS, with(p(), "/spec/dnsPolicy", json!("Weird")), "spec.dnsPolicy"),
        invalid(
            "requests above limits",
            PODS,
            c0("resources", json!({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})),
            "spec.containers[0].resources.requests",
        ),
        invalid(
            "negative cpu limit",
            PODS,
            c0("resources", json!({"limits": {"cpu": "-1"}})),
            "spec.containers[0].resources.limits",
        ),
        invalid(
            "volume mount of an undeclared volume",
            PODS,
            c0("volumeMounts", json!([{"name": "data", "mountPath": "/data"}])),
            "spec.containers[0].volumeMounts[0].name",
        ),
        invalid(
            "env var without a name",
            PODS,
            c0("env", json!([{"name": "", "value": "x"}])),
            "spec.containers[0].env[0].name",
        ),
        invalid(
            "activeDeadlineSeconds 0",
            PODS,
            with(p(), "/spec/activeDeadlineSeconds", json!(0)),
            "spec.activeDeadlineSeconds",
        ),
    ]
}

fn workload_cases() -> Vec<Case> {
    let d = || deployment("broken");
    vec![
        invalid(
            "selector does not match the template labels",
            DEPLOYMENTS,
            with(d(), "/spec/selector/matchLabels", json!({"app": "other"})),
            "spec.template.metadata.labels",
        ),
        invalid("replicas -1", DEPLOYMENTS, with(d(), "/spec/replicas", json!(-1)), "spec.replicas"),
        invalid("deployment without selector", DEPLOYMENTS, with(d(), "/spec/selector", Value::Null), "spec.selector"),
        invalid(
            "strategy type BlueGreen",
            DEPLOYMENTS,
            with(d(), "/spec/strategy", json!({"type": "BlueGreen"})),
            "spec.strategy.type",
        ),
        invalid(
            "template without containers",
            DEPLOYMENTS,
            with(d(), "/spec/template/spec/containers", json!([])),
            "spec.template.spec.containers",
        ),
    ]
}

fn service_cases() -> Vec<Case> {
    let s = || service("broken");
    let ports = |p: Value| with(s(), "/spec/ports", p);
    vec![
        invalid("service port 0", SERVICES, ports(json!([{"port": 0}])), "spec.ports[0].port"),
        invalid(
            "nodePort outside 30000-32767",
            SERVICES,
            with(ports(json!([{"port": 80, "nodePort": 40000}])), "/spec/type", json!("NodePort")),
            "spec.ports[0].nodePort",
        ),
        invalid("service type Weird", SERVICES, with(s(), "/spec/type", json!("Weird")), "spec.type"),
        invalid(
            "duplicate service ports",
            SERVICES,
            ports(json!([{"name": "a", "port": 80}, {"name": "b", "port": 80}])),
            "spec.ports[1]",
        ),
        invalid(
            "two unnamed service ports",
            SERVICES,
            ports(json!([{"port": 80}, {"port": 81}])),
            "spec.ports[0].name",
        ),
        invalid(
            "service protocol XTP",
            SERVICES,
            ports(json!([{"port": 80, "protocol": "XTP"}])),
            "spec.ports[0].protocol",
        ),
    ]
}

pub(super) fn cases() -> Vec<Case> {
    [metadata_cases(), pod_cases(), workload_cases(), service_cases()].into_iter().flatten().collect()
}
