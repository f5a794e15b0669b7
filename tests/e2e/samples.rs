//! The manifests in `samples/` do what their comments and the README promise,
//! applied as they are with the real kubectl.

use std::path::Path;
use std::time::Duration;

use std::collections::BTreeSet;

use crate::harness::{stdout, wait_for, Server};
use crate::ingress::{free_port, Client};

fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples").join(name).display().to_string()
}

#[test]
fn pod_deployment_and_job_samples_run_as_described() {
    let s = Server::start_with_agent();
    s.kubectl_ok(&["apply", "-f", &sample("configmap.yaml"), "-f", &sample("hello-pod.yaml")]);
    s.wait_pod_field("hello", "{.status.phase}", "Succeeded", Duration::from_secs(60));
    let logs = s.kubectl_ok(&["logs", "hello"]);
    assert!(logs.contains("POD_NAME=hello"), "{logs}");

    s.kubectl_ok(&["apply", "-f", &sample("deployment.yaml")]);
    s.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let ready = s.kubectl_ok(&["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"]);
    assert_eq!(ready, "2");

    s.kubectl_ok(&["apply", "-f", &sample("job.yaml")]);
    s.kubectl_ok(&["wait", "--for=condition=complete", "job/hellos", "--timeout=120s"]);
    let succeeded = s.kubectl_ok(&["get", "job", "hellos", "-o", "jsonpath={.status.succeeded}"]);
    assert_eq!(succeeded, "5");
    let pods = s.kubectl_ok(&["get", "pods", "-l", "job-name=hellos", "-o", "name"]);
    let first = pods.lines().next().expect("a job pod");
    let message = s.kubectl_ok(&["get", first, "-o", "jsonpath={.status.containerStatuses[0].state.terminated.message}"]);
    assert!(message.starts_with("fuel consumed: "), "a metered job pod states its fuel: {message:?}");
}

#[test]
fn statefulset_and_cronjob_samples_run_as_described() {
    let s = Server::start_with_agent();
    s.kubectl_ok(&["apply", "-f", &sample("statefulset.yaml")]);
    s.kubectl_ok(&["rollout", "status", "statefulset/web", "--timeout=120s"]);
    for n in 0..3 {
        let phase = s.kubectl_ok(&["get", "pvc", &format!("data-web-{n}"), "-o", "jsonpath={.status.phase}"]);
        assert_eq!(phase, "Bound", "claim of web-{n}");
        let count = s.kubectl_ok(&["logs", &format!("web-{n}"), "-c", "count"]);
        assert!(count.contains("count 0"), "web-{n} starts from an empty volume: {count}");
    }

    s.kubectl_ok(&["apply", "-f", &sample("cronjob.yaml")]);
    s.kubectl_ok(&["create", "job", "now", "--from=cronjob/tick"]);
    s.kubectl_ok(&["wait", "--for=condition=complete", "job/now", "--timeout=60s"]);
    let schedule = wait_for("the cronjob to be listed", Duration::from_secs(10), || {
        let out = stdout(&s.kubectl(&["get", "cronjob", "tick", "-o", "jsonpath={.spec.schedule}"]));
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(schedule, "*/1 * * * *");
}

#[test]
fn network_sample_serves_through_its_service_nodeport_and_ingress() {
    let port = free_port();
    let s = Server::start_with_samples_and_flags(&["httpd", "http-hello"], &["--ingress-port", &port.to_string()]);
    s.kubectl_ok(&["apply", "-f", &sample("network.yaml")]);
    s.kubectl_ok(&["rollout", "status", "deployment/httpd", "--timeout=120s"]);
    s.wait_pod_field("hello-http", "{.status.phase}", "Running", Duration::from_secs(60));
    let ips = s.kubectl_ok(&["get", "pods", "-l", "app=httpd", "-o", "jsonpath={.items[*].status.podIP}"]);
    let ips: BTreeSet<&str> = ips.split_whitespace().collect();
    assert_eq!(ips.len(), 3, "three replicas, three pod IPs: {ips:?}");
    assert!(ips.iter().all(|ip| ip.starts_with("10.42.")), "{ips:?}");

    // The Ingress spreads one host's requests over every ready replica.
    let http = Client::new(port);
    http.wait("httpd.demo.local", "/", 200);
    let names: BTreeSet<String> = (0..30).filter_map(|_| http.get("httpd.demo.local", "/")).map(|(_, body)| body).collect();
    let pods = s.kubectl_ok(&["get", "pods", "-l", "app=httpd", "-o", "jsonpath={.items[*].metadata.name}"]);
    let pods: BTreeSet<String> = pods.split_whitespace().map(str::to_string).collect();
    assert_eq!(names, pods, "30 requests through the Ingress reach all 3 replicas");
    let hello = http.wait("hello.demo.local", "/from-ingress?x=1", 200);
    assert_eq!(hello, "hello from wasi:http /from-ingress?x=1");

    // The wasi:http component on its NodePort, from the host.
    let node_port: u16 = s.kubectl_ok(&["get", "svc", "hello-http", "-o", "jsonpath={.spec.ports[0].nodePort}"]).parse().expect("a nodePort");
    assert!((30000..=32767).contains(&node_port));
    let direct = Client::new(node_port);
    assert_eq!(direct.wait("anything", "/hi", 200), "hello from wasi:http /hi");
    s.kubectl_ok(&["delete", "-f", &sample("network.yaml"), "--wait=true", "--timeout=60s"]);
}
