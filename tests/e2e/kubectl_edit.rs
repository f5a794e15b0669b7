//! kubectl's editing commands: create generators (protobuf bodies), label,
//! annotate, patch (all three types), scale, delete by name and label, and
//! optimistic concurrency.

use crate::harness::{stderr, Server};

#[test]
fn generators_send_protobuf_and_objects_arrive_intact() {
    let s = Server::start();
    assert!(s.kubectl_ok(&["create", "configmap", "cfg", "--from-literal=a=b", "--from-literal=c=d"]).contains("configmap/cfg created"));
    assert_eq!(s.kubectl_ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.a}{.data.c}"]), "bd");
    assert!(s.kubectl_ok(&["create", "secret", "generic", "creds", "--from-literal=password=s3cret"]).contains("secret/creds created"));
    let data = s.kubectl_ok(&["get", "secret", "creds", "-o", "jsonpath={.data.password} {.type}"]);
    assert_eq!(data.trim(), "czNjcmV0 Opaque", "base64 of s3cret, defaulted type");
    assert!(s.kubectl_ok(&["create", "namespace", "team-a"]).contains("namespace/team-a created"));
    assert!(s.kubectl_ok(&["create", "serviceaccount", "robot", "-n", "team-a"]).contains("serviceaccount/robot created"));
    assert!(s.kubectl_ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]).contains("service/web created"));
    let svc = s.kubectl_ok(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].targetPort}"]);
    assert!(svc.starts_with("10.43.") && svc.ends_with(" 8080"), "{svc}");
}

#[test]
fn label_annotate_patch_and_scale() {
    let s = Server::start();
    s.kubectl_ok(&["create", "deployment", "web", "--image=127.0.0.1:5000/wasm/hello:1.0", "--replicas=1"]);
    s.kubectl_ok(&["label", "deployment", "web", "tier=frontend"]);
    s.kubectl_ok(&["annotate", "deployment", "web", "owner=team-a"]);
    let meta = s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.labels.tier} {.metadata.annotations.owner}"]);
    assert_eq!(meta, "frontend team-a");
    s.kubectl_ok(&["label", "deployment", "web", "tier-"]);
    assert_eq!(s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.labels.tier}"]), "");

    // Strategic merge: containers merge by name, so the existing container keeps its image.
    s.kubectl_ok(&["patch", "deployment", "web", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"hello","env":[{"name":"A","value":"1"}]}]}}}}"#]);
    let c = s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}"]);
    assert_eq!(c, "127.0.0.1:5000/wasm/hello:1.0 1");
    s.kubectl_ok(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"minReadySeconds":5}}"#]);
    s.kubectl_ok(&["patch", "deployment", "web", "--type=json", "-p", r#"[{"op":"replace","path":"/spec/revisionHistoryLimit","value":3}]"#]);
    let f = s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.minReadySeconds} {.spec.revisionHistoryLimit}"]);
    assert_eq!(f, "5 3");
    let same = s.kubectl_ok(&["patch", "deployment", "web", "--type=merge", "-p", r#"{"spec":{"minReadySeconds":5}}"#]);
    assert!(same.contains("(no change)"), "a no-op patch must not write: {same}");

    assert!(s.kubectl_ok(&["scale", "deployment", "web", "--replicas=4"]).contains("scaled"));
    assert_eq!(s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "4");
    // --current-replicas makes kubectl GET and PUT the Scale (with no Content-Type).
    s.kubectl_ok(&["scale", "deployment", "web", "--current-replicas=4", "--replicas=2"]);
    assert_eq!(s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]), "2");
    let wrong = s.kubectl(&["scale", "deployment", "web", "--current-replicas=7", "--replicas=1"]);
    assert!(!wrong.status.success(), "a wrong --current-replicas must fail");
}

#[test]
fn stale_resource_version_is_a_conflict() {
    let s = Server::start();
    s.kubectl_ok(&["create", "configmap", "cc", "--from-literal=v=1"]);
    let old = s.kubectl_ok(&["get", "cm", "cc", "-o", "json"]);
    s.kubectl_ok(&["patch", "cm", "cc", "--type=merge", "-p", r#"{"data":{"v":"2"}}"#]);
    let stale = old.replace("\"v\": \"1\"", "\"v\": \"3\"");
    let out = s.kubectl_stdin(&["replace", "-f", "-"], &stale);
    assert!(!out.status.success(), "replace with a stale resourceVersion must fail");
    assert!(stderr(&out).contains("Conflict") || stderr(&out).contains("modified"), "{}", stderr(&out));
    assert_eq!(s.kubectl_ok(&["get", "cm", "cc", "-o", "jsonpath={.data.v}"]), "2");
}

#[test]
fn delete_by_name_and_by_label() {
    let s = Server::start();
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        s.kubectl_ok(&["create", "configmap", n, "--from-literal=k=v"]);
        s.kubectl_ok(&["label", "configmap", n, &format!("app={app}")]);
    }
    assert!(s.kubectl_ok(&["delete", "configmap", "c"]).contains("configmap \"c\" deleted"));
    let out = s.kubectl_ok(&["delete", "configmap", "-l", "app=x"]);
    assert!(out.contains("\"a\" deleted") && out.contains("\"b\" deleted"), "{out}");
    let left = s.kubectl_ok(&["get", "configmaps", "-l", "app", "-o", "name"]);
    assert_eq!(left.trim(), "");
    let missing = s.kubectl(&["delete", "configmap", "nope"]);
    assert!(stderr(&missing).contains("NotFound"), "{}", stderr(&missing));
}

#[test]
fn removing_the_last_finalizer_drops_the_field() {
    let s = Server::start();
    s.kubectl_ok(&["create", "configmap", "held"]);
    s.kubectl_ok(&["patch", "configmap", "held", "--type=merge", "-p", r#"{"metadata":{"finalizers":["example.com/hold"]}}"#]);
    s.kubectl_ok(&["patch", "configmap", "held", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers/0"}]"#]);
    let meta = s.kubectl_ok(&["get", "configmap", "held", "-o", "jsonpath={.metadata}"]);
    assert!(!meta.contains("finalizers"), "an emptied finalizers list is omitted, as upstream: {meta}");
}

#[test]
fn a_status_write_during_a_pods_grace_period_does_not_end_it() {
    let s = Server::start();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata: { name: far }\n");
    s.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: { name: slow }\nspec:\n  nodeName: far\n  terminationGracePeriodSeconds: 30\n  \
         containers: [{ name: c, image: local/logger:1.0 }]\n",
    );
    s.kubectl_ok(&["delete", "pod", "slow", "--wait=false"]);
    // The node reports on the pod while it stops, as an agent does.
    s.kubectl_ok(&["patch", "pod", "slow", "--subresource=status", "--type=merge", "-p", r#"{"status":{"message":"stopping"}}"#]);
    let left = s.kubectl_ok(&["get", "pod", "slow", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds} {.status.message}"]);
    assert_eq!(left, "30 stopping", "the pod stays until its node deletes it");
    s.kubectl_ok(&["delete", "pod", "slow", "--grace-period=0", "--force"]);
    assert!(!stderr(&s.kubectl(&["get", "pod", "slow"])).is_empty(), "a forced delete removes it at once");
}

#[test]
fn a_shorter_grace_period_replaces_the_running_one_so_the_last_finalizer_ends_the_pod() {
    let s = Server::start();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], "apiVersion: v1\nkind: Node\nmetadata: { name: far }\n");
    s.kubectl_stdin_ok(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Pod\nmetadata: { name: held, finalizers: [example.com/hold] }\nspec:\n  nodeName: far\n  \
         terminationGracePeriodSeconds: 30\n  containers: [{ name: c, image: local/logger:1.0 }]\n",
    );
    s.kubectl_ok(&["delete", "pod", "held", "--wait=false"]);
    // The node has stopped it and deletes it at once; the finalizer still holds it.
    s.kubectl_ok(&["delete", "pod", "held", "--grace-period=0", "--force", "--wait=false"]);
    assert_eq!(s.kubectl_ok(&["get", "pod", "held", "-o", "jsonpath={.metadata.deletionGracePeriodSeconds}"]), "0");
    s.kubectl_ok(&["patch", "pod", "held", "--type=json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]);
    assert!(stderr(&s.kubectl(&["get", "pod", "held"])).contains("NotFound"), "the last finalizer gone, the pod goes");
}
