//! kubectl get (wide, yaml, json, selectors, watch), describe, api-resources.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::{wait_for, Server};

fn pod_manifest(name: &str, app: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{app: {app}}}\nspec:\n  containers:\n  - name: main\n    image: 127.0.0.1:5000/wasm/sleep:1.0\n"
    )
}

#[test]
fn get_prints_kubernetes_columns_in_every_format() {
    let s = Server::start();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod_manifest("front", "web"));
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod_manifest("back", "db"));

    let out = s.kubectl_ok(&["get", "pods"]);
    let header = out.lines().next().unwrap_or_default();
    for col in ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] {
        assert!(header.contains(col), "missing {col}: {out}");
    }
    assert!(out.contains("front") && out.contains("Pending"), "{out}");

    let wide = s.kubectl_ok(&["get", "pods", "-o", "wide"]);
    assert!(wide.lines().next().unwrap().contains("NODE") && wide.contains("IP"), "{wide}");

    let selected = s.kubectl_ok(&["get", "pods", "-l", "app=web", "-o", "name"]);
    assert_eq!(selected.trim(), "pod/front");
    let set_based = s.kubectl_ok(&["get", "pods", "-l", "app in (db,cache)", "-o", "name"]);
    assert_eq!(set_based.trim(), "pod/back");
    let not = s.kubectl_ok(&["get", "pods", "-l", "app!=web", "-o", "name"]);
    assert_eq!(not.trim(), "pod/back");

    let yaml = s.kubectl_ok(&["get", "pod", "front", "-o", "yaml"]);
    assert!(yaml.contains("restartPolicy: Always") && yaml.contains("uid:"), "defaults and server fields: {yaml}");
    let json: serde_json::Value = serde_json::from_str(&s.kubectl_ok(&["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);

    let all_ns = s.kubectl_ok(&["get", "pods", "-A"]);
    assert!(all_ns.lines().next().unwrap().starts_with("NAMESPACE"), "{all_ns}");
    assert!(all_ns.contains("default"), "{all_ns}");

    let ns = s.kubectl_ok(&["get", "namespaces"]);
    for n in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(n), "{ns}");
    }
    let deploys = s.kubectl_ok(&["create", "deployment", "api", "--image=127.0.0.1:5000/wasm/hello:1.0"]);
    assert!(deploys.contains("deployment.apps/api created"), "{deploys}");
    let d = s.kubectl_ok(&["get", "deployments"]);
    for col in ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"] {
        assert!(d.lines().next().unwrap().contains(col), "{d}");
    }
}

#[test]
fn get_watch_sees_added_modified_deleted() {
    let s = Server::start();
    let mut child = s.kubectl_spawn(&["get", "configmaps", "-w", "--output-watch-events"]);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(l);
        }
    });
    let saw = |event: &str, name: &str| {
        let lines = lines.clone();
        let (event, name) = (event.to_string(), name.to_string());
        move || lines.lock().unwrap().iter().any(|l| l.starts_with(&event) && l.contains(&name)).then_some(())
    };
    // kube-root-ca.crt may or may not exist; ours is what matters.
    std::thread::sleep(Duration::from_millis(300));
    s.kubectl_ok(&["create", "configmap", "watched", "--from-literal=a=1"]);
    wait_for("ADDED event", Duration::from_secs(10), saw("ADDED", "watched"));
    s.kubectl_ok(&["label", "configmap", "watched", "seen=yes"]);
    wait_for("MODIFIED event", Duration::from_secs(10), saw("MODIFIED", "watched"));
    s.kubectl_ok(&["delete", "configmap", "watched"]);
    wait_for("DELETED event", Duration::from_secs(10), saw("DELETED", "watched"));
    let _ = child.kill();
}

#[test]
fn describe_shows_object_and_its_events() {
    let s = Server::start();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod_manifest("described", "web"));
    let uid = s.kubectl_ok(&["get", "pod", "described", "-o", "jsonpath={.metadata.uid}"]);
    let event = format!(
        r#"{{"apiVersion":"v1","kind":"Event","metadata":{{"name":"described.1"}},
            "involvedObject":{{"kind":"Pod","namespace":"default","name":"described","uid":"{uid}"}},
            "reason":"Scheduled","message":"Successfully assigned default/described to node-1",
            "type":"Normal","source":{{"component":"default-scheduler"}},"count":1,
            "firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z"}}"#
    );
    s.kubectl_stdin_ok(&["create", "-f", "-"], &event);
    let out = s.kubectl_ok(&["describe", "pod", "described"]);
    assert!(out.contains("Name:") && out.contains("described"), "{out}");
    assert!(out.contains("Events:"), "{out}");
    assert!(out.contains("Scheduled") && out.contains("Successfully assigned"), "{out}");
}

#[test]
fn api_resources_lists_what_is_served() {
    let s = Server::start();
    let out = s.kubectl_ok(&["api-resources"]);
    for r in ["pods", "deployments", "replicasets", "daemonsets", "statefulsets", "jobs", "cronjobs",
              "configmaps", "secrets", "services", "nodes", "leases", "runtimeclasses", "endpointslices",
              "ingresses", "networkpolicies", "roles", "clusterrolebindings", "persistentvolumeclaims"] {
        assert!(out.lines().any(|l| l.starts_with(r)), "{r} missing from:\n{out}");
    }
    assert!(out.contains("deploy") && out.contains("apps/v1"), "{out}");
}
