//! Resource limits and probes of wasm pods on the embedded node, driven by
//! the real kubectl: `limits.memory` → OOMKilled with a healthy neighbour,
//! `limits.cpu` as a share of an unlimited burner's rate, `wasmkube.io/fuel`
//! → FuelExhausted at the same point every time, and a failing exec liveness
//! probe → a restart with its events.

use std::time::{Duration, Instant};

use crate::harness::{wait_for, Server};

/// A one-container pod of sample `image` on `node`; `extra` is YAML for the container's
/// remaining fields, each line indented for the container's mapping.
fn pod(name: &str, node: &str, restart: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{ name: {name} }}\nspec:\n  nodeName: {node}\n  restartPolicy: {restart}\n  \
         terminationGracePeriodSeconds: 2\n  containers:\n  - name: c\n    image: local/{image}:1.0\n    imagePullPolicy: Never\n{extra}"
    )
}

#[test]
fn memory_limit_oom_kills_the_hog_and_spares_its_neighbour() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("neighbour", &node, "Always", "logger", ""));
    let limits = "    resources: { limits: { memory: 16Mi } }\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("hog", &node, "Never", "memhog", limits));

    s.wait_pod_field("hog", "{.status.containerStatuses[0].state.terminated.reason}", "OOMKilled", Duration::from_secs(30));
    assert_eq!(s.pod_field("hog", "{.status.containerStatuses[0].state.terminated.exitCode}"), "137");
    assert_eq!(s.pod_field("hog", "{.status.phase}"), "Failed");
    let logs = s.kubectl_ok(&["logs", "hog"]);
    assert!(logs.contains("allocated 1 MiB"), "{logs}");
    assert!(!logs.contains("allocated 16 MiB"), "the hog stayed under 16 MiB: {logs}");

    s.wait_pod_field("neighbour", "{.status.phase}", "Running", Duration::from_secs(30));
    assert_eq!(s.pod_field("neighbour", "{.status.containerStatuses[0].restartCount}"), "0");
    assert!(s.pod_field("neighbour", "{.status.containerStatuses[0].state.running.startedAt}").len() > 1);

    let describe = s.kubectl_ok(&["describe", "pod", "hog"]);
    for reason in ["Pulled", "Created", "Started", "OOMKilling"] {
        assert!(describe.contains(reason), "event {reason} in:\n{describe}");
    }
}

/// The highest "progress N" in a burner pod's log (0 before the first round).
fn progress(s: &Server, pod: &str) -> u64 {
    let out = s.kubectl(&["logs", pod, "--tail=5"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("progress ")?.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn cpu_limit_holds_a_burner_to_its_share_of_an_unlimited_one() {
    let s = Server::start_with_samples(&["burner"]);
    let node = s.node_name();
    // The server's own CPU use without the burners (API, agent, heartbeats), to be
    // subtracted below so that it is not counted as the burners' work.
    let (idle0, idle_t0) = (s.cpu_time(), Instant::now());
    wait_for("a 2 s idle window", Duration::from_secs(5), || (idle_t0.elapsed() >= Duration::from_secs(2)).then_some(()));
    let idle_rate = (s.cpu_time() - idle0).as_secs_f64() / idle_t0.elapsed().as_secs_f64();
    let limited = "    resources: { limits: { cpu: 200m } }\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("free", &node, "Never", "burner", ""));
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("capped", &node, "Never", "burner", limited));
    for name in ["free", "capped"] {
        wait_for(&format!("{name} making progress"), Duration::from_secs(30), || (progress(&s, name) > 0).then_some(()));
    }
    // Both run at once over the same window. On a loaded machine the unlimited burner gets less
    // than a core, so its wall-clock rate is no yardstick; its rounds per CPU-second are. The
    // server's CPU time over the window is (almost all) the two burners' rounds at one cost each.
    let (free0, capped0, cpu0, t0) = (progress(&s, "free"), progress(&s, "capped"), s.cpu_time(), Instant::now());
    wait_for("a 5 s measuring window", Duration::from_secs(10), || (t0.elapsed() >= Duration::from_secs(5)).then_some(()));
    let (free1, capped1, cpu1, wall) = (progress(&s, "free"), progress(&s, "capped"), s.cpu_time(), t0.elapsed());
    let (free_rounds, capped_rounds) = ((free1 - free0) as f64, (capped1 - capped0) as f64);
    assert!(free_rounds > 0.0, "the unlimited burner made no progress");
    let burners_cpu = ((cpu1 - cpu0).as_secs_f64() - idle_rate * wall.as_secs_f64()).max(0.0);
    let cpu_per_round = burners_cpu / (free_rounds + capped_rounds);
    // An unlimited burner on an idle core makes 1 / cpu_per_round rounds a second.
    let share = capped_rounds / wall.as_secs_f64() * cpu_per_round;
    eprintln!(
        "200m burner: {:.1} % of an unlimited burner's rate ({capped_rounds} rounds against {free_rounds}, {:.2} ms CPU a round)",
        share * 100.0,
        cpu_per_round * 1000.0
    );
    assert!((0.15..=0.25).contains(&share), "200m burner ran at {:.1} % of an unlimited one", share * 100.0);
}

#[test]
fn fuel_limit_stops_the_loop_at_the_same_point_every_time() {
    let s = Server::start_with_samples(&["loop"]);
    let node = s.node_name();
    let fuel = "    resources:\n      requests: { wasmkube.io/fuel: \"50000000\" }\n      limits: { wasmkube.io/fuel: \"50000000\" }\n";
    let mut seen = Vec::new();
    for name in ["spin-a", "spin-b"] {
        s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod(name, &node, "Never", "loop", fuel));
        s.wait_pod_field(name, "{.status.containerStatuses[0].state.terminated.reason}", "FuelExhausted", Duration::from_secs(30));
        let message = s.pod_field(name, "{.status.containerStatuses[0].state.terminated.message}");
        let code = s.pod_field(name, "{.status.containerStatuses[0].state.terminated.exitCode}");
        let logs = s.kubectl_ok(&["logs", name]);
        assert!(logs.contains("loop: spinning"), "{logs}");
        assert!(message.contains("50000000"), "{message}");
        assert_eq!(code, "137");
        seen.push((message, logs));
    }
    assert_eq!(seen[0], seen[1], "both runs stop at the same point");
}

#[test]
fn a_metered_pod_that_completes_reports_the_same_fuel_used_every_time() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    let fuel = "    resources:\n      limits: { wasmkube.io/fuel: \"900000000\" }\n";
    let mut used = Vec::new();
    for name in ["metered-a", "metered-b"] {
        s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod(name, &node, "Never", "hello", fuel));
        s.wait_pod_field(name, "{.status.containerStatuses[0].state.terminated.reason}", "Completed", Duration::from_secs(30));
        let message = s.pod_field(name, "{.status.containerStatuses[0].state.terminated.message}");
        let consumed: u64 = message
            .strip_prefix("fuel consumed: ")
            .and_then(|rest| rest.strip_suffix(" of 900000000"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("message {message:?} states the fuel used"));
        assert!(consumed > 0 && consumed < 900_000_000, "{consumed}");
        used.push(consumed);
    }
    assert_eq!(used[0], used[1], "fuel is deterministic: the same program uses the same fuel");
}

#[test]
fn failing_liveness_probe_restarts_the_container() {
    let s = Server::start_with_agent();
    let node = s.node_name();
    // `logger 1 3` prints a line and exits 3 at once: every probe fails.
    let probe = "    livenessProbe:\n      exec: { command: [logger, \"1\", \"3\"] }\n      \
                 periodSeconds: 1\n      failureThreshold: 1\n      timeoutSeconds: 5\n";
    s.kubectl_stdin_ok(&["apply", "-f", "-"], &pod("sick", &node, "Always", "logger", probe));
    wait_for("a restart after the failed probe", Duration::from_secs(35), || {
        let restarts: u32 = s.pod_field("sick", "{.status.containerStatuses[0].restartCount}").parse().ok()?;
        (restarts >= 1).then_some(())
    });
    let describe = wait_for("the probe's events", Duration::from_secs(10), || {
        let d = s.kubectl_ok(&["describe", "pod", "sick"]);
        (d.contains("Unhealthy") && d.contains("Killing")).then_some(d)
    });
    assert!(describe.contains("Liveness probe failed"), "{describe}");
    for reason in ["Pulled", "Created", "Started"] {
        assert!(describe.contains(reason), "event {reason} in:\n{describe}");
    }
}
