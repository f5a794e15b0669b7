//! The garbage collector and the namespace controller, driven by kubectl:
//! deleting an owner in the background, with `--cascade=orphan` and with
//! `--cascade=foreground`, and deleting a namespace with its content. Owners
//! and dependents are ConfigMaps and unscheduled Pods wired by hand through
//! ownerReferences, so no other controller is involved.

use std::time::Duration;

use crate::harness::{stderr, wait_for, Server};

const GONE_WITHIN: Duration = Duration::from_secs(20);

fn uid(s: &Server, kind: &str, name: &str, ns: &str) -> String {
    s.kubectl_ok(&["get", kind, name, "-n", ns, "-o", "jsonpath={.metadata.uid}"])
}

fn exists(s: &Server, kind: &str, name: &str, ns: &str) -> bool {
    let out = s.kubectl(&["get", kind, name, "-n", ns, "-o", "name"]);
    if out.status.success() {
        return true;
    }
    assert!(stderr(&out).contains("NotFound"), "kubectl get {kind} {name}: {}", stderr(&out));
    false
}

fn wait_gone(s: &Server, kind: &str, name: &str, ns: &str) {
    wait_for(&format!("{kind} {name} to be deleted"), GONE_WITHIN, || (!exists(s, kind, name, ns)).then_some(()));
}

fn owner_ref(owner: &str, owner_uid: &str) -> String {
    format!("{{apiVersion: v1, kind: ConfigMap, name: {owner}, uid: {owner_uid}, blockOwnerDeletion: true}}")
}

/// A ConfigMap and a Pod (never scheduled: no node runs here) owned by `refs`.
fn dependents(s: &Server, ns: &str, suffix: &str, refs: &[String], pod_finalizers: &[&str]) {
    let refs = refs.join(", ");
    let finalizers = pod_finalizers.iter().map(|f| format!("\"{f}\"")).collect::<Vec<_>>().join(", ");
    let manifest = format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{ name: cm-{suffix}, namespace: {ns}, ownerReferences: [{refs}] }}
data: {{ a: b }}
---
apiVersion: v1
kind: Pod
metadata: {{ name: pod-{suffix}, namespace: {ns}, ownerReferences: [{refs}], finalizers: [{finalizers}] }}
spec:
  containers: [{{ name: app, image: local/logger:1.0, imagePullPolicy: Never }}]
"#
    );
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &manifest);
}

#[test]
fn background_deletion_collects_dependents_and_keeps_co_owned_ones() {
    let s = Server::start();
    s.kubectl_ok(&["create", "configmap", "owner"]);
    s.kubectl_ok(&["create", "configmap", "other-owner"]);
    let owner = uid(&s, "configmap", "owner", "default");
    let other = uid(&s, "configmap", "other-owner", "default");
    dependents(&s, "default", "a", &[owner_ref("owner", &owner)], &[]);
    dependents(&s, "default", "shared", &[owner_ref("owner", &owner), owner_ref("other-owner", &other)], &[]);

    s.kubectl_ok(&["delete", "configmap", "owner"]);
    wait_gone(&s, "configmap", "cm-a", "default");
    wait_gone(&s, "pod", "pod-a", "default");
    // Still owned by other-owner: it stays, and loses only the dangling reference.
    wait_for("the dangling ownerReference to be dropped", GONE_WITHIN, || {
        let refs = s.kubectl_ok(&["get", "configmap", "cm-shared", "-o", "jsonpath={.metadata.ownerReferences[*].name}"]);
        (refs == "other-owner").then_some(())
    });
    assert!(exists(&s, "pod", "pod-shared", "default"));
}

#[test]
fn dependents_of_an_owner_that_never_existed_are_collected() {
    let s = Server::start();
    dependents(&s, "default", "x", &[owner_ref("ghost", "0c0ffee0-0000-4000-8000-000000000000")], &[]);
    wait_gone(&s, "configmap", "cm-x", "default");
    wait_gone(&s, "pod", "pod-x", "default");
}

#[test]
fn orphan_cascade_keeps_dependents_without_the_reference() {
    let s = Server::start();
    s.kubectl_ok(&["create", "configmap", "owner"]);
    let owner = uid(&s, "configmap", "owner", "default");
    dependents(&s, "default", "a", &[owner_ref("owner", &owner)], &[]);

    s.kubectl_ok(&["delete", "configmap", "owner", "--cascade=orphan"]);
    assert!(!exists(&s, "configmap", "owner", "default"), "kubectl waited for the owner to go");
    for (kind, name) in [("configmap", "cm-a"), ("pod", "pod-a")] {
        let refs = s.kubectl_ok(&["get", kind, name, "-o", "jsonpath={.metadata.ownerReferences}"]);
        assert_eq!(refs, "", "{kind} {name} keeps no reference to the deleted owner");
    }
    // And they are not collected later either.
    std::thread::sleep(Duration::from_secs(2));
    assert!(exists(&s, "pod", "pod-a", "default"));
}

#[test]
fn foreground_cascade_holds_the_owner_until_dependents_are_gone() {
    let s = Server::start();
    s.kubectl_ok(&["create", "configmap", "owner"]);
    let owner = uid(&s, "configmap", "owner", "default");
    dependents(&s, "default", "a", &[owner_ref("owner", &owner)], &["example.com/hold"]);

    s.kubectl_ok(&["delete", "configmap", "owner", "--cascade=foreground", "--wait=false"]);
    wait_gone(&s, "configmap", "cm-a", "default");
    // The pod is being deleted but its own finalizer holds it, and with it the owner.
    wait_for("the pod to be marked for deletion", GONE_WITHIN, || {
        let ts = s.kubectl_ok(&["get", "pod", "pod-a", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
        (!ts.is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    let finalizers = s.kubectl_ok(&["get", "configmap", "owner", "-o", "jsonpath={.metadata.finalizers}"]);
    assert!(finalizers.contains("foregroundDeletion"), "{finalizers}");

    s.kubectl_ok(&["patch", "pod", "pod-a", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    wait_gone(&s, "pod", "pod-a", "default");
    wait_gone(&s, "configmap", "owner", "default");
}

#[test]
fn deleting_a_namespace_removes_its_content_then_itself() {
    let s = Server::start();
    s.kubectl_ok(&["create", "namespace", "team"]);
    s.kubectl_ok(&["create", "configmap", "cfg", "-n", "team", "--from-literal=a=b"]);
    s.kubectl_ok(&["create", "secret", "generic", "creds", "-n", "team", "--from-literal=p=q"]);
    s.kubectl_ok(&["create", "service", "clusterip", "web", "-n", "team", "--tcp=80:8080"]);
    s.kubectl_ok(&["run", "app", "-n", "team", "--image=local/logger:1.0", "--image-pull-policy=Never"]);
    let spec = s.kubectl_ok(&["get", "namespace", "team", "-o", "jsonpath={.spec.finalizers}"]);
    assert_eq!(spec, r#"["kubernetes"]"#);

    let out = s.kubectl_ok(&["delete", "namespace", "team", "--timeout=30s"]);
    assert!(out.contains(r#"namespace "team" deleted"#), "{out}");
    assert!(!exists(&s, "namespace", "team", ""));
    for kind in ["pods", "configmaps", "secrets", "services"] {
        let left = s.kubectl_ok(&["get", kind, "-n", "team", "-o", "name"]);
        assert_eq!(left, "", "no {kind} left in the deleted namespace");
    }
}

#[test]
fn a_terminating_namespace_refuses_new_content_and_reports_what_holds_it() {
    let s = Server::start();
    s.kubectl_ok(&["create", "namespace", "held"]);
    let held = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keep","namespace":"held","finalizers":["example.com/hold"]}}"#;
    s.kubectl_stdin_ok(&["create", "-f", "-"], held);
    s.kubectl_ok(&["delete", "namespace", "held", "--wait=false"]);

    let phase = s.kubectl_ok(&["get", "namespace", "held", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Terminating");
    let late = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"late","namespace":"held"}}"#;
    let refused = s.kubectl_stdin(&["create", "-f", "-"], late);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(err.contains("Forbidden") && err.contains("unable to create new content in namespace held because it is being terminated"), "{err}");

    wait_for("NamespaceFinalizersRemaining", GONE_WITHIN, || {
        let c = s.kubectl_ok(&["get", "namespace", "held", "-o", "jsonpath={.status.conditions[?(@.type==\"NamespaceFinalizersRemaining\")].message}"]);
        (c == "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances").then_some(())
    });
    s.kubectl_ok(&["patch", "configmap", "keep", "-n", "held", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]);
    wait_gone(&s, "namespace", "held", "");
}

/// With the embedded node, the scheduler and the workload controllers: the
/// cascades a user sees on real workloads.
mod with_workloads {
    use super::*;

    const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      terminationGracePeriodSeconds: 2
      containers: [{ name: app, image: local/logger:1.0, imagePullPolicy: Never }]
"#;

    fn pods(s: &Server, ns: &str) -> Vec<String> {
        s.kubectl_ok(&["get", "pods", "-n", ns, "-o", "jsonpath={.items[*].metadata.name}"]).split_whitespace().map(str::to_string).collect()
    }

    fn running_pods(s: &Server, ns: &str, n: usize) -> Vec<String> {
        wait_for(&format!("{n} running pods"), Duration::from_secs(60), || {
            let phases = s.kubectl_ok(&["get", "pods", "-n", ns, "-o", "jsonpath={.items[*].status.phase}"]);
            let running = phases.split_whitespace().filter(|p| *p == "Running").count();
            (running == n).then(|| pods(s, ns))
        })
    }

    #[test]
    fn deleting_a_deployment_takes_its_replicasets_and_pods() {
        let s = Server::start_with_agent();
        s.kubectl_stdin_ok(&["apply", "-f", "-"], DEPLOYMENT);
        running_pods(&s, "default", 2);
        s.kubectl_ok(&["delete", "deployment", "web"]);
        wait_for("replicasets and pods to go", Duration::from_secs(30), || {
            let rs = s.kubectl_ok(&["get", "replicasets", "-o", "name"]);
            (rs.is_empty() && pods(&s, "default").is_empty()).then_some(())
        });
    }

    #[test]
    fn foreground_deletion_of_a_deployment_returns_once_everything_is_gone() {
        let s = Server::start_with_agent();
        s.kubectl_stdin_ok(&["apply", "-f", "-"], DEPLOYMENT);
        running_pods(&s, "default", 2);
        s.kubectl_ok(&["delete", "deployment", "web", "--cascade=foreground", "--timeout=60s"]);
        // kubectl waited for the deployment, which waited for its replicaset, which waited for its pods.
        assert_eq!(s.kubectl_ok(&["get", "deployments,replicasets", "-o", "name"]), "");
        assert!(pods(&s, "default").is_empty());
    }

    #[test]
    fn orphaning_a_replicaset_leaves_its_pods_running_unowned() {
        let s = Server::start_with_agent();
        s.kubectl_stdin_ok(&["apply", "-f", "-"], DEPLOYMENT);
        let before = running_pods(&s, "default", 2);
        s.kubectl_ok(&["delete", "deployment", "web", "--cascade=orphan"]);
        let rs = s.kubectl_ok(&["get", "replicasets", "-o", "jsonpath={.items[0].metadata.name}"]);
        s.kubectl_ok(&["delete", "replicaset", &rs, "--cascade=orphan"]);
        assert_eq!(s.kubectl_ok(&["get", "replicasets", "-o", "name"]), "");
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(running_pods(&s, "default", 2), before, "the same pods still run");
        let owners = s.kubectl_ok(&["get", "pods", "-o", "jsonpath={.items[*].metadata.ownerReferences}"]);
        assert_eq!(owners, "", "the pods no longer name the replicaset");
    }

    #[test]
    fn deleting_a_namespace_stops_its_running_pods_then_goes() {
        let s = Server::start_with_agent();
        s.kubectl_ok(&["create", "namespace", "apps"]);
        s.kubectl_stdin_ok(&["apply", "-n", "apps", "-f", "-"], DEPLOYMENT);
        running_pods(&s, "apps", 2);
        let started = std::time::Instant::now();
        s.kubectl_ok(&["delete", "namespace", "apps", "--timeout=60s"]);
        assert!(!exists(&s, "namespace", "apps", ""));
        assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
        assert_eq!(s.kubectl_ok(&["get", "deployments,replicasets,pods", "-n", "apps", "-o", "name"]), "");
    }
}
