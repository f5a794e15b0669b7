//! The Endpoints and EndpointSlice controllers, end to end with kubectl: a
//! Service's endpoints follow its pods as they start, fail readiness and
//! go; its slices say the same with conditions; both go with the Service;
//! a Service without a selector keeps the Endpoints its user wrote.

use std::time::{Duration, Instant};

use crate::harness::{stdout, wait_for, Server};

fn logger_pod(name: &str, node: &str, readiness: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: {name}, labels: {{ app: web }} }}\nspec:\n  nodeName: {node}\n  \
         terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: local/logger:1.0\n    imagePullPolicy: Never\n    \
         ports: [{{ name: http, containerPort: 8080 }}]\n{readiness}"
    )
}

const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec:\n  selector: { app: web }\n  \
                       ports: [{ name: http, port: 80, targetPort: http }]\n";

/// Names of the pods behind `jsonpath` of the Endpoints `web`, sorted.
fn endpoint_pods(s: &Server, list: &str) -> Vec<String> {
    let out = stdout(&s.kubectl(&["get", "endpoints", "web", "-o", &format!("jsonpath={{.subsets[*].{list}[*].targetRef.name}}")]));
    let mut names: Vec<String> = out.split_whitespace().map(str::to_string).collect();
    names.sort();
    names
}

/// `pod=ready/serving/terminating` for every endpoint in the slices of `web`, sorted.
fn slice_endpoints(s: &Server) -> Vec<String> {
    let jsonpath = r#"jsonpath={range .items[*].endpoints[*]}{.targetRef.name}={.conditions.ready}/{.conditions.serving}/{.conditions.terminating}{"\n"}{end}"#;
    let out = s.kubectl_ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", jsonpath]);
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn endpoints_and_slices_follow_readiness_and_deletion() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], SERVICE);
    for i in 0..3 {
        s.kubectl_stdin_ok(&["apply", "-f", "-"], &logger_pod(&format!("web-{i}"), &node, ""));
    }
    let ready = strings(&["web-0", "web-1", "web-2"]);
    wait_for("3 ready addresses", Duration::from_secs(60), || (endpoint_pods(&s, "addresses") == ready).then_some(()));
    let table = s.kubectl_ok(&["get", "endpoints", "web"]);
    assert_eq!(table.matches(":8080").count(), 3, "the named targetPort resolves to 8080 on every pod:\n{table}");
    let node_name = stdout(&s.kubectl(&["get", "endpoints", "web", "-o", "jsonpath={.subsets[0].addresses[0].nodeName}"]));
    assert_eq!(node_name, node);
    wait_for("3 ready slice endpoints", Duration::from_secs(5), || {
        (slice_endpoints(&s) == strings(&["web-0=true/true/false", "web-1=true/true/false", "web-2=true/true/false"])).then_some(())
    });
    let slice = s.kubectl_ok(&[
        "get", "endpointslices", "-l", "kubernetes.io/service-name=web",
        "-o", r#"jsonpath={.items[0].addressType} {.items[0].metadata.labels.endpointslice\.kubernetes\.io/managed-by} {.items[0].metadata.ownerReferences[0].kind} {.items[0].ports[0].port}"#,
    ]);
    assert_eq!(slice, "IPv4 endpointslice-controller.k8s.io Service 8080");
    let table = s.kubectl_ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=web"]);
    let row = table.lines().find(|l| l.starts_with("web-")).unwrap_or_default();
    assert!(row.contains("IPv4") && row.contains("8080"), "{table}");
    assert_settled(&s);

    // A pod whose readiness probe fails is listed, but not ready.
    let failing = "    readinessProbe:\n      exec: { command: [logger, \"1\", \"3\"] }\n      periodSeconds: 1\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &logger_pod("web-3", &node, failing));
    s.wait_pod_field("web-3", "{.status.phase}", "Running", Duration::from_secs(60));
    wait_for("web-3 not ready", Duration::from_secs(30), || (endpoint_pods(&s, "notReadyAddresses") == ["web-3"]).then_some(()));
    assert_eq!(endpoint_pods(&s, "addresses"), ready);
    wait_for("web-3 not ready in the slice", Duration::from_secs(5), || {
        slice_endpoints(&s).contains(&"web-3=false/false/false".to_string()).then_some(())
    });

    // A deleted pod leaves the Endpoints at once and the slices once it is gone.
    s.kubectl_ok(&["delete", "pod", "web-0", "--wait=false"]);
    let deleted = Instant::now();
    wait_for("web-0 out of the Endpoints", Duration::from_secs(5), || {
        (endpoint_pods(&s, "addresses") == strings(&["web-1", "web-2"])).then_some(())
    });
    assert!(deleted.elapsed() < Duration::from_secs(3), "within a second or two: {:?}", deleted.elapsed());
    wait_for("web-0 out of the slices", Duration::from_secs(15), || {
        (!slice_endpoints(&s).iter().any(|e| e.starts_with("web-0="))).then_some(())
    });

    // The Service goes: so do its Endpoints and slices.
    s.kubectl_ok(&["delete", "service", "web"]);
    wait_for("Endpoints gone", Duration::from_secs(10), || (!s.kubectl(&["get", "endpoints", "web"]).status.success()).then_some(()));
    wait_for("slices gone", Duration::from_secs(10), || {
        s.kubectl_ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "name"]).trim().is_empty().then_some(())
    });
}

#[test]
fn services_without_a_selector_keep_their_users_endpoints_and_headless_ones_list_pods() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    let manual = "apiVersion: v1\nkind: Service\nmetadata: { name: external }\nspec:\n  ports: [{ port: 5432 }]\n---\n\
                  apiVersion: v1\nkind: Endpoints\nmetadata: { name: external }\nsubsets:\n- addresses: [{ ip: 192.0.2.10 }]\n  ports: [{ port: 5432 }]\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], manual);
    let headless = "apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec:\n  clusterIP: None\n  selector: { app: web }\n  \
                    ports: [{ port: 8080 }]\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], headless);
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &logger_pod("web-0", &node, ""));
    wait_for("the headless Service lists its pod", Duration::from_secs(60), || (endpoint_pods(&s, "addresses") == ["web-0"]).then_some(()));
    let label = stdout(&s.kubectl(&["get", "endpoints", "web", "-o", r#"jsonpath={.metadata.labels.service\.kubernetes\.io/headless}"#]));
    assert_eq!(label, "", "labelled headless (an empty value)");
    let labels = stdout(&s.kubectl(&["get", "endpoints", "web", "-o", "jsonpath={.metadata.labels}"]));
    assert!(labels.contains("service.kubernetes.io/headless"), "{labels}");
    let ip = stdout(&s.kubectl(&["get", "endpoints", "external", "-o", "jsonpath={.subsets[0].addresses[0].ip}"]));
    assert_eq!(ip, "192.0.2.10", "a Service without a selector keeps its user's Endpoints");
    let slices = s.kubectl_ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=external", "-o", "name"]);
    assert!(slices.trim().is_empty(), "no controller-made slices for a Service without a selector: {slices}");
}

/// Nothing changed, so nothing is rewritten: the Endpoints and slices keep
/// their resourceVersions (a controller fighting the API server's defaults
/// would bump them on every pass).
fn assert_settled(s: &Server) {
    let versions = || {
        let endpoints = stdout(&s.kubectl(&["get", "endpoints", "web", "-o", "jsonpath={.metadata.resourceVersion}"]));
        let slices = s.kubectl_ok(&["get", "endpointslices", "-l", "kubernetes.io/service-name=web", "-o", "jsonpath={.items[*].metadata.resourceVersion}"]);
        (endpoints, slices)
    };
    let before = versions();
    // Proving that nothing happens takes waiting.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(versions(), before);
}
