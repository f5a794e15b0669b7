//! The server process itself: TLS and tokens, health endpoints, the kubeconfig
//! it writes, and a clean exit on SIGTERM even with watches open.

use std::time::Duration;

use crate::harness::Server;

#[tokio::test]
async fn health_is_open_and_everything_else_needs_the_token() {
    let s = Server::start();
    let http = s.http();
    for p in ["/healthz", "/livez", "/readyz"] {
        let r = http.get(s.path(p)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
    }
    let v: serde_json::Value = http.get(s.path("/version")).send().await.unwrap().json().await.unwrap();
    assert!(v["gitVersion"].as_str().unwrap().starts_with("v1.32."), "{v}");
    assert_eq!(v["minor"], "32");

    let anon = http.get(s.path("/api/v1/namespaces")).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let status: serde_json::Value = anon.json().await.unwrap();
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Unauthorized");
    let ok = http.get(s.path("/api/v1/namespaces")).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(ok.status(), 200);

    // Plain HTTP is not served at all: kubectl would never send a token over it.
    let plain = reqwest::Client::new().get(s.url.replace("https://", "http://") + "/version").send().await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true), "plain HTTP must not be answered");

    // The secrets the server wrote are readable by their owner only.
    use std::os::unix::fs::PermissionsExt;
    for f in ["admin.token", "node.token", "kubeconfig.yaml", "pki/ca.key", "pki/server.key"] {
        let mode = std::fs::metadata(s.data_dir().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
}

#[test]
fn sigterm_exits_cleanly_with_a_watch_open() {
    let mut s = Server::start();
    let mut watch = s.kubectl_spawn(&["get", "configmaps", "-w"]);
    std::thread::sleep(Duration::from_millis(500));
    let status = s.terminate(Duration::from_secs(10));
    assert!(status.success(), "server exit status after SIGTERM: {status}");
    // kubectl's watch ends with the server.
    let out = watch.wait().unwrap();
    assert!(out.code().is_some(), "kubectl get -w should exit once the server is gone");
}

#[test]
fn state_survives_a_restart() {
    let mut s = Server::start();
    s.kubectl_ok(&["create", "configmap", "kept", "--from-literal=k=v"]);
    let uid = s.kubectl_ok(&["get", "cm", "kept", "-o", "jsonpath={.metadata.uid}"]);
    s.restart();
    assert_eq!(s.kubectl_ok(&["get", "cm", "kept", "-o", "jsonpath={.metadata.uid}"]), uid);
    // The same CA and token are reused: the old kubeconfig still works.
    assert!(s.kubectl_ok(&["get", "ns", "default", "-o", "name"]).contains("namespace/default"));
}
