//! ResourceQuota and LimitRange, driven by kubectl: a pod count quota
//! refuses the pod too many (also under concurrent creates), finished pods
//! stop counting, `describe quota` shows Used/Hard, LimitRange defaults show
//! up in the pod, and violations are 403s worded as upstream words them.
//! Pods stay unscheduled (no node here): quota and limits apply at admission.

use std::time::Duration;

use crate::harness::{stderr, wait_for, Server};

fn run_pod(s: &Server, name: &str) -> std::process::Output {
    s.kubectl(&["run", name, "--image=local/logger:1.0", "--image-pull-policy=Never"])
}

fn pod_manifest(name: &str, resources: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: {name} }}
spec:
  containers: [{{ name: app, image: local/logger:1.0, imagePullPolicy: Never, resources: {resources} }}]
"#
    )
}

#[test]
fn a_pod_count_quota_refuses_the_pod_too_many_until_one_finishes() {
    let s = Server::start();
    s.kubectl_ok(&["create", "quota", "pods", "--hard=pods=2"]);
    for name in ["p1", "p2"] {
        assert!(run_pod(&s, name).status.success());
    }
    let refused = run_pod(&s, "p3");
    assert!(!refused.status.success());
    assert_eq!(
        stderr(&refused).trim(),
        r#"Error from server (Forbidden): pods "p3" is forbidden: exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2"#
    );
    wait_for("describe quota to show 2/2", Duration::from_secs(20), || {
        let d = s.kubectl_ok(&["describe", "quota", "pods"]);
        d.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["pods", "2", "2"]).then_some(())
    });

    // A finished pod holds no quota any more.
    s.kubectl_ok(&["patch", "pod", "p1", "--subresource=status", "--type=merge", "-p", r#"{"status":{"phase":"Succeeded"}}"#]);
    assert!(run_pod(&s, "p3").status.success(), "p1 finished: p3 fits");
    wait_for("used to follow", Duration::from_secs(20), || {
        let used = s.kubectl_ok(&["get", "quota", "pods", "-o", "jsonpath={.status.used.pods}"]);
        (used == "2").then_some(())
    });
}

#[test]
fn concurrent_creates_never_overrun_a_quota() {
    let s = Server::start();
    s.kubectl_ok(&["create", "quota", "pods", "--hard=pods=2"]);
    let children: Vec<_> = (0..6)
        .map(|i| s.kubectl_spawn(&["run", &format!("racer-{i}"), "--image=local/logger:1.0", "--image-pull-policy=Never"]))
        .collect();
    let succeeded = children.into_iter().map(|c| c.wait_with_output().expect("kubectl")).filter(|o| o.status.success()).count();
    assert_eq!(succeeded, 2);
    let pods = s.kubectl_ok(&["get", "pods", "-o", "name"]);
    assert_eq!(pods.lines().count(), 2, "{pods}");
}

#[test]
fn limit_range_defaults_count_against_a_memory_quota() {
    let s = Server::start();
    let limits = r#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"mem"},
      "spec":{"limits":[{"type":"Container","default":{"memory":"512Mi"},"defaultRequest":{"memory":"256Mi"}}]}}"#;
    s.kubectl_stdin_ok(&["create", "-f", "-"], limits);
    s.kubectl_ok(&["create", "quota", "compute", "--hard=requests.memory=600Mi"]);

    assert!(run_pod(&s, "a").status.success());
    let resources = s.kubectl_ok(&["get", "pod", "a", "-o", "jsonpath={.spec.containers[0].resources}"]);
    assert_eq!(resources, r#"{"limits":{"memory":"512Mi"},"requests":{"memory":"256Mi"}}"#);
    let yaml = s.kubectl_ok(&["get", "pod", "a", "-o", "yaml"]);
    assert!(yaml.contains("memory: 256Mi") && yaml.contains("qosClass: Burstable"), "{yaml}");
    let note = s.kubectl_ok(&["get", "pod", "a", "-o", r"jsonpath={.metadata.annotations.kubernetes\.io/limit-ranger}"]);
    assert_eq!(note, "LimitRanger plugin set: memory request for container a; memory limit for container a");

    assert!(run_pod(&s, "b").status.success());
    let refused = run_pod(&s, "c");
    assert_eq!(
        stderr(&refused).trim(),
        r#"Error from server (Forbidden): pods "c" is forbidden: exceeded quota: compute, requested: requests.memory=256Mi, used: requests.memory=512Mi, limited: requests.memory=600Mi"#
    );
    wait_for("describe quota to show the memory used", Duration::from_secs(20), || {
        let d = s.kubectl_ok(&["describe", "quota", "compute"]);
        d.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["requests.memory", "512Mi", "600Mi"]).then_some(())
    });
}

#[test]
fn a_quota_on_limits_requires_every_container_to_state_them() {
    let s = Server::start();
    s.kubectl_ok(&["create", "quota", "compute", "--hard=limits.cpu=2,requests.memory=1Gi"]);
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &pod_manifest("bare", "{}"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(r#"pods "bare" is forbidden: failed quota: compute: must specify limits.cpu for: app; requests.memory for: app"#),
        "{err}"
    );
    let stated = pod_manifest("stated", "{ limits: { cpu: 500m }, requests: { memory: 128Mi } }");
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &stated);
}

#[test]
fn limit_range_bounds_are_enforced_with_upstream_messages() {
    let s = Server::start();
    let limits = r#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"bounds"},
      "spec":{"limits":[{"type":"Container","max":{"memory":"512Mi"},"min":{"cpu":"100m"}}]}}"#;
    s.kubectl_stdin_ok(&["create", "-f", "-"], limits);
    let out = s.kubectl_stdin(&["apply", "-f", "-"], &pod_manifest("big", "{ limits: { memory: 1Gi }, requests: { cpu: 200m } }"));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Error from server (Forbidden)"), "{err}");
    assert!(err.contains(r#"pods "big" is forbidden: maximum memory usage per Container is 512Mi, but limit is 1Gi"#), "{err}");

    // Within bounds, the max becomes the default limit and the min the default request.
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod_manifest("fits", "{}"));
    let resources = s.kubectl_ok(&["get", "pod", "fits", "-o", "jsonpath={.spec.containers[0].resources}"]);
    assert_eq!(resources, r#"{"limits":{"memory":"512Mi"},"requests":{"cpu":"100m","memory":"512Mi"}}"#);
}

#[test]
fn node_port_quota_covers_creates_and_type_changes() {
    let s = Server::start();
    s.kubectl_ok(&["create", "quota", "ports", "--hard=services.nodeports=1,services=3"]);
    s.kubectl_ok(&["create", "service", "nodeport", "first", "--tcp=80:8080"]);
    let refused = s.kubectl(&["create", "service", "nodeport", "second", "--tcp=80:8080"]);
    assert!(!refused.status.success());
    let err = stderr(&refused);
    assert!(
        err.contains(r#"services "second" is forbidden: exceeded quota: ports, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"#),
        "{err}"
    );
    s.kubectl_ok(&["create", "service", "clusterip", "inner", "--tcp=80:8080"]);
    let grown = s.kubectl(&["patch", "service", "inner", "--type=merge", "-p", r#"{"spec":{"type":"NodePort"}}"#]);
    assert!(!grown.status.success());
    assert!(stderr(&grown).contains("exceeded quota: ports"), "{}", stderr(&grown));
}

#[test]
fn claims_are_bounded_by_limit_ranges_and_counted_by_storage_quotas() {
    let s = Server::start();
    let limits = r#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"storage"},
      "spec":{"limits":[{"type":"PersistentVolumeClaim","max":{"storage":"2Gi"}}]}}"#;
    s.kubectl_stdin_ok(&["create", "-f", "-"], limits);
    s.kubectl_ok(&["create", "quota", "storage", "--hard=requests.storage=3Gi,persistentvolumeclaims=5"]);
    let claim = |name: &str, size: &str| {
        format!(r#"{{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{{"name":"{name}"}},"spec":{{"accessModes":["ReadWriteOnce"],"resources":{{"requests":{{"storage":"{size}"}}}}}}}}"#)
    };
    let big = s.kubectl_stdin(&["create", "-f", "-"], &claim("big", "5Gi"));
    assert!(stderr(&big).contains(r#"persistentvolumeclaims "big" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi"#), "{}", stderr(&big));
    s.kubectl_stdin_ok(&["create", "-f", "-"], &claim("one", "2Gi"));
    let over = s.kubectl_stdin(&["create", "-f", "-"], &claim("two", "2Gi"));
    assert!(
        stderr(&over).contains("exceeded quota: storage, requested: requests.storage=2Gi, used: requests.storage=2Gi, limited: requests.storage=3Gi"),
        "{}",
        stderr(&over)
    );
}
