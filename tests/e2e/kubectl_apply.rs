//! kubectl apply (client-side and server-side), create -f, replace, delete -f.

use crate::harness::{stderr, write_file, Server};

const DEPLOY_V1: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: c1
        image: 127.0.0.1:5000/wasm/hello:1.0
        ports: [{containerPort: 8080}]
        env: [{name: GREETING, value: hi}]
"#;

#[test]
fn client_side_apply_creates_updates_and_is_idempotent() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "deploy.yaml", DEPLOY_V1);
    let out = s.kubectl_ok(&["apply", "-f", &f]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let out = s.kubectl_ok(&["apply", "-f", &f]);
    assert!(out.contains("deployment.apps/web unchanged"), "{out}");

    // Change the image and replica count, drop the env var: a 3-way strategic merge.
    let v2 = DEPLOY_V1.replace("replicas: 2", "replicas: 3").replace("hello:1.0", "hello:2.0")
        .replace("        env: [{name: GREETING, value: hi}]\n", "");
    let f2 = write_file(dir.path(), "deploy2.yaml", &v2);
    let out = s.kubectl_ok(&["apply", "-f", &f2]);
    assert!(out.contains("deployment.apps/web configured"), "{out}");
    let got = s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env}"]);
    assert_eq!(got.trim(), "3 127.0.0.1:5000/wasm/hello:2.0", "env must be gone: {got}");
    // Server defaults are visible and kept across applies.
    let strategy = s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.strategy.type} {.metadata.generation}"]);
    assert_eq!(strategy.trim(), "RollingUpdate 2");
}

#[test]
fn server_side_apply_tracks_managers_and_reports_conflicts() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let f = write_file(dir.path(), "deploy.yaml", DEPLOY_V1);
    let out = s.kubectl_ok(&["apply", "--server-side", "-f", &f]);
    assert!(out.contains("deployment.apps/web serverside-applied"), "{out}");
    let managers = s.kubectl_ok(&["get", "deploy", "web", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
    assert!(managers.contains("kubectl"), "{managers}");

    // Another manager takes spec.replicas; re-applying a different value conflicts.
    s.kubectl_ok(&["scale", "deploy", "web", "--replicas=5"]);
    let v2 = DEPLOY_V1.replace("replicas: 2", "replicas: 4");
    let f2 = write_file(dir.path(), "deploy2.yaml", &v2);
    let out = s.kubectl(&["apply", "--server-side", "-f", &f2]);
    assert!(!out.status.success(), "apply over another manager's field must conflict");
    assert!(stderr(&out).contains("conflict"), "{}", stderr(&out));
    assert!(stderr(&out).contains(".spec.replicas"), "{}", stderr(&out));
    // --force-conflicts takes the field over.
    s.kubectl_ok(&["apply", "--server-side", "--force-conflicts", "-f", &f2]);
    let r = s.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]);
    assert_eq!(r.trim(), "4");
}

#[test]
fn create_replace_and_delete_by_file() {
    let s = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n";
    let f = write_file(dir.path(), "cm.yaml", cm);
    assert!(s.kubectl_ok(&["create", "-f", &f]).contains("configmap/settings created"));
    let again = s.kubectl(&["create", "-f", &f]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("AlreadyExists"), "{}", stderr(&again));

    let f2 = write_file(dir.path(), "cm2.yaml", &cm.replace("fast", "slow"));
    assert!(s.kubectl_ok(&["replace", "-f", &f2]).contains("configmap/settings replaced"));
    assert_eq!(s.kubectl_ok(&["get", "cm", "settings", "-o", "jsonpath={.data.mode}"]), "slow");

    // Strict validation on the server: an unknown field is refused with its name.
    let bad = write_file(dir.path(), "bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndatta:\n  a: b\n");
    let out = s.kubectl(&["create", "-f", &bad]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("datta"), "{}", stderr(&out));

    assert!(s.kubectl_ok(&["delete", "-f", &f2]).contains("configmap \"settings\" deleted"));
    let gone = s.kubectl(&["get", "cm", "settings"]);
    assert!(stderr(&gone).contains("NotFound"), "{}", stderr(&gone));
}
