//! Linux pods on the embedded node agent, driven by the real kubectl with
//! images from a local registry: busybox isolation (PID 1, few processes,
//! hostname), two containers sharing localhost and an emptyDir, the memory
//! limit's OOMKilled, securityContext (read-only root, runAsUser, runAsNonRoot,
//! dropped capabilities), the default seccomp profile and its `Unconfined`
//! opt-out, exec with its exit code, a wasm pod beside a Linux pod, and a clean
//! host after deletion (mounts, cgroups under their QoS parent, processes).
//!
//! Each test skips (with a printed reason) when the registry cannot start and
//! `CI` is unset; see [`TestRegistry::get`].

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{stderr, stdout, wait_for, Server, TestRegistry};

/// How long a pod may take to reach a phase: pulling busybox the first time included.
pub(crate) const POD_TIMEOUT: Duration = Duration::from_secs(30);

/// A server whose pods are deleted before it is killed: the harness kills the server with
/// SIGKILL, and Linux containers (unlike wasm guests) would outlive it.
pub(crate) struct Cluster {
    pub(crate) server: Server,
    node: String,
    registry: &'static TestRegistry,
}

impl Cluster {
    /// `None` when the test registry is unavailable (the test is skipped).
    pub(crate) fn start() -> Option<Cluster> {
        let registry = TestRegistry::get()?;
        let server = Server::start_with_registry(registry);
        // `{.items[*]}`, not `{.items[0]}`: kubectl fails on an index into an empty list.
        let node = wait_for("a node", POD_TIMEOUT, || {
            let names = server.kubectl_ok(&["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
            names.split_whitespace().next().map(str::to_string)
        });
        Some(Cluster { server, node, registry })
    }

    fn busybox(&self) -> String {
        self.registry.image("busybox:1.0")
    }

    /// Apply `manifest` (YAML).
    fn apply(&self, manifest: &str) {
        self.server.kubectl_stdin_ok(&["apply", "-f", "-"], manifest);
    }

    /// A pod with one busybox container running `sh -c script`, bound to this node, never
    /// restarted; `extra` is YAML appended to the container (indented by four spaces).
    pub(crate) fn run_sh(&self, pod: &str, script: &str, extra: &str) {
        let manifest = format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{ name: {pod} }}
spec:
  nodeName: {node}
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: {image}
    command: ["sh", "-c", {script:?}]
{extra}"#,
            node = self.node,
            image = self.busybox(),
        );
        self.apply(&manifest);
    }

    fn field(&self, pod: &str, jsonpath: &str) -> String {
        self.server.pod_field(pod, jsonpath)
    }

    fn wait_field(&self, pod: &str, jsonpath: &str, want: &str) {
        self.server.wait_pod_field(pod, jsonpath, want, POD_TIMEOUT);
    }

    pub(crate) fn wait_phase(&self, pod: &str, phase: &str) {
        self.wait_field(pod, "{.status.phase}", phase);
    }

    fn logs(&self, pod: &str, container: &str) -> String {
        self.server.kubectl_ok(&["logs", pod, "-c", container])
    }

    /// Delete `pod` and wait until the API no longer has it.
    fn delete(&self, pod: &str) {
        self.server.kubectl_ok(&["delete", "pod", pod, "--grace-period=1", "--timeout=30s"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Best effort, also after a failed assertion: give the agent the chance to stop every
        // container and remove every pod cgroup before the harness SIGKILLs the server. The API
        // forgets a pod before the agent has removed its cgroups, so wait for those as well.
        let uids = stdout(&self.server.kubectl(&["get", "pods", "--all-namespaces", "-o", "jsonpath={.items[*].metadata.uid}"]));
        let _ = self.server.kubectl(&["delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--timeout=30s"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while uids.split_whitespace().any(|uid| !cgroup_dirs_naming(uid).is_empty()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Indents `yaml` by `spaces` (for `extra` blocks of [`Cluster::run_sh`]).
fn indent(yaml: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    yaml.lines().map(|l| format!("{pad}{l}\n")).collect()
}

#[test]
fn busybox_logs_with_its_own_pid_namespace_and_the_pod_hostname() {
    let Some(c) = Cluster::start() else { return };
    // The last command of `sh -c` is exec'd, so `ps` itself is PID 1 and sees only itself.
    c.run_sh("isolated", "echo hello from linux; hostname; ps -o pid,args", "");
    c.wait_phase("isolated", "Succeeded");
    let logs = c.logs("isolated", "c");
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.first().copied(), Some("hello from linux"), "{logs}");
    assert_eq!(lines.get(1).copied(), Some("isolated"), "hostname is the pod name: {logs}");
    let processes: Vec<&str> = lines.iter().skip(3).copied().collect();
    assert!(!processes.is_empty() && processes.len() <= 2, "only the container's processes are visible: {logs}");
    let pid1 = processes.iter().find(|l| l.split_whitespace().next() == Some("1"));
    assert!(pid1.is_some_and(|l| l.contains("sh -c echo hello from linux")), "PID 1 is the container's command: {logs}");
    assert!(!logs.contains("wasmkube"), "host processes are invisible: {logs}");
    assert_eq!(c.field("isolated", "{.status.containerStatuses[0].state.terminated.reason}"), "Completed");
}

#[test]
fn two_containers_share_localhost_and_an_emptydir() {
    let Some(c) = Cluster::start() else { return };
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: pair }}
spec:
  nodeName: {node}
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  volumes: [{{ name: shared, emptyDir: {{}} }}]
  containers:
  - name: server
    image: {image}
    command: ["sh", "-c", "echo written-by-server > /shared/note; mkdir -p /www; echo served-over-localhost > /www/index.html; exec httpd -f -p 127.0.0.1:8080 -h /www"]
    volumeMounts: [{{ name: shared, mountPath: /shared }}]
  - name: client
    image: {image}
    command: ["sh", "-c", "timeout 20 sh -c 'until wget -q -O - http://127.0.0.1:8080/; do sleep 0.2; done' && cat /shared/note"]
    volumeMounts: [{{ name: shared, mountPath: /shared }}]
"#,
        node = c.node,
        image = c.busybox(),
    );
    c.apply(&manifest);
    c.wait_field("pair", "{.status.containerStatuses[?(@.name==\"client\")].state.terminated.exitCode}", "0");
    let logs = c.logs("pair", "client");
    assert!(logs.contains("served-over-localhost"), "the client reached the server on localhost: {logs}");
    assert!(logs.contains("written-by-server"), "the client read the server's file: {logs}");
    let server_started = c.field("pair", "{.status.containerStatuses[?(@.name==\"server\")].state.running.startedAt}");
    assert!(!server_started.is_empty(), "the server container keeps running");
}

#[test]
fn memory_hog_over_its_limit_is_oom_killed_and_others_keep_running() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh("bystander", "echo up; exec sleep 3600", "");
    c.wait_phase("bystander", "Running");
    // dd, the container's main process, fills a 256 MiB buffer: far beyond the 32 MiB limit
    // (the machine has no swap, so the kernel has to kill it).
    let limits = indent("resources: { limits: { memory: 32Mi } }", 4);
    c.run_sh("hog", "exec dd if=/dev/zero of=/dev/null bs=256M count=1", &limits);
    c.wait_phase("hog", "Failed");
    let describe = stdout(&c.server.kubectl(&["describe", "pod", "hog"]));
    assert_eq!(c.field("hog", "{.status.containerStatuses[0].state.terminated.reason}"), "OOMKilled", "{describe}");
    assert_eq!(c.field("hog", "{.status.containerStatuses[0].state.terminated.exitCode}"), "137", "SIGKILL: {describe}");
    assert_eq!(c.field("bystander", "{.status.phase}"), "Running");
    assert_eq!(c.field("bystander", "{.status.containerStatuses[0].restartCount}"), "0");
    let ready = c.server.kubectl_ok(&["get", "node", &c.node, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]);
    assert_eq!(ready, "True", "the node stays Ready");
    // The node still starts new pods.
    c.run_sh("after", "echo still fine", "");
    c.wait_phase("after", "Succeeded");
    // An OOM-killed pod's cgroups go with it.
    let hog_uid = c.field("hog", "{.metadata.uid}");
    assert!(!cgroup_dirs_naming(&hog_uid).is_empty(), "the failed pod keeps its cgroup until deleted");
    c.delete("hog");
    wait_for("the OOM-killed pod's cgroups to go", Duration::from_secs(10), || cgroup_dirs_naming(&hog_uid).is_empty().then_some(()));
}

#[test]
fn a_200m_burner_is_held_to_a_fifth_of_a_core() {
    let Some(c) = Cluster::start() else { return };
    let limits = indent("resources: { limits: { cpu: 200m } }", 4);
    // The marker makes the burner's command line unique on this host.
    c.run_sh("burner", "while :; do :; done # burn-200m", &limits);
    c.wait_phase("burner", "Running");
    let pid = wait_for("the burner's process", POD_TIMEOUT, || pgrep("burn-200m").into_iter().next());
    let cpu_ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the burner's /proc stat");
        let fields: Vec<&str> = stat.rsplit_once(')').expect("stat format").1.split_whitespace().collect();
        // utime and stime, in USER_HZ (100 a second).
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    };
    let (ticks_before, started) = (cpu_ticks(), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let used = (cpu_ticks() - ticks_before) as f64 / 100.0;
    let share = used / started.elapsed().as_secs_f64();
    assert!((0.15..=0.25).contains(&share), "a 200m burner used {:.1} % of a core", share * 100.0);
}

#[test]
fn the_pod_cgroup_carries_the_sum_of_its_container_limits() {
    let Some(c) = Cluster::start() else { return };
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: sized }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  containers:
  - {{ name: a, image: "{image}", command: [sleep, "3600"], resources: {{ limits: {{ memory: 32Mi, cpu: 100m }} }} }}
  - {{ name: b, image: "{image}", command: [sleep, "3600"], resources: {{ limits: {{ memory: 16Mi, cpu: 200m }} }} }}
"#,
        node = c.node,
        image = c.busybox(),
    );
    c.apply(&manifest);
    c.wait_phase("sized", "Running");
    assert_eq!(c.field("sized", "{.status.qosClass}"), "Guaranteed");
    let uid = c.field("sized", "{.metadata.uid}");
    let pod_dirs = cgroup_dirs_naming(&uid);
    let memory = pod_dirs.iter().find(|d| d.starts_with("/sys/fs/cgroup/memory/")).expect("a v1 memory cgroup");
    assert!(memory.ends_with(&format!("/wasmkube/guaranteed/pod{uid}")), "{memory}");
    let read = |dir: &str, file: &str| std::fs::read_to_string(Path::new(dir).join(file)).unwrap_or_default().trim().to_string();
    assert_eq!(read(memory, "memory.limit_in_bytes"), (48u64 << 20).to_string(), "32Mi + 16Mi");
    let cpu = pod_dirs.iter().find(|d| d.starts_with("/sys/fs/cgroup/cpu/")).expect("a v1 cpu cgroup");
    assert_eq!(read(cpu, "cpu.cfs_quota_us"), "30000", "300m of each 100 ms period");
    let pids = pod_dirs.iter().find(|d| d.starts_with("/sys/fs/cgroup/pids/")).expect("a v1 pids cgroup");
    assert_eq!(read(pids, "pids.max"), "4096", "the per-pod default");
    // One group per container beneath, each with its own limit.
    let mut container_limits: Vec<String> = std::fs::read_dir(memory)
        .expect("read the pod cgroup")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| read(&e.path().to_string_lossy(), "memory.limit_in_bytes"))
        .collect();
    container_limits.sort();
    assert_eq!(container_limits, [(16u64 << 20).to_string(), (32u64 << 20).to_string()]);
}

#[test]
fn a_killed_servers_containers_and_cgroups_are_cleared_at_its_next_start() {
    let Some(mut c) = Cluster::start() else { return };
    let marker = "sleep 4244";
    c.run_sh("survivor", marker, "");
    c.wait_phase("survivor", "Running");
    let before = pgrep(marker);
    assert_eq!(before.len(), 1, "{before:?}");
    // The container's own memory cgroup, under the pod's.
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", before[0])).expect("the container's cgroups");
    let container_cgroup = own.lines().find_map(|l| l.split_once(":memory:")).map(|(_, path)| format!("/sys/fs/cgroup/memory{path}")).expect("memory");
    assert!(container_cgroup.contains("/wasmkube/besteffort/pod"), "{container_cgroup}");
    let data_dir = c.server.data_dir().to_string_lossy().to_string();
    let server_pid = c.server.pid().to_string();
    let holders: Vec<String> = pgrep(&data_dir).into_iter().filter(|p| *p != server_pid).collect();
    assert_eq!(holders.len(), 1, "one sandbox holder: {holders:?}");
    c.server.kill9();
    assert_eq!(pgrep(marker), before, "the container outlives a SIGKILLed server");
    c.server.restart();
    // The restarted node clears the old container, its sandbox holder and its pod cgroup
    // before it runs anything (it may then run the pod again, in a new container).
    let old_processes: Vec<String> = before.into_iter().chain(holders).collect();
    wait_for("the old container and holder to be killed", Duration::from_secs(20), || {
        // A killed process the new parent has not reaped yet is a zombie: it counts as gone.
        let running = |pid: &String| std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
        old_processes.iter().all(|p| !running(p)).then_some(())
    });
    wait_for("the old container's cgroup to be removed", Duration::from_secs(10), || (!Path::new(&container_cgroup).exists()).then_some(()));
}

#[test]
fn read_only_root_filesystem_refuses_writes() {
    let Some(c) = Cluster::start() else { return };
    let security = indent("securityContext: { readOnlyRootFilesystem: true }", 4);
    c.run_sh("readonly", "touch /probe; touch /probe", &security);
    c.wait_phase("readonly", "Failed");
    assert_eq!(c.field("readonly", "{.status.containerStatuses[0].state.terminated.exitCode}"), "1");
    let logs = c.logs("readonly", "c");
    assert!(logs.contains("Read-only file system"), "{logs}");
}

#[test]
fn run_as_user_is_the_process_uid() {
    let Some(c) = Cluster::start() else { return };
    let security = indent("securityContext: { runAsUser: 1000, runAsGroup: 1000 }", 4);
    c.run_sh("uid", "id -u; id -g", &security);
    c.wait_phase("uid", "Succeeded");
    assert_eq!(c.logs("uid", "c"), "1000\n1000\n");
}

#[test]
fn run_as_non_root_with_a_root_image_is_a_config_error() {
    let Some(c) = Cluster::start() else { return };
    let security = indent("securityContext: { runAsNonRoot: true }", 4);
    c.run_sh("nonroot", "echo must not run", &security);
    let reason_path = "{.status.containerStatuses[0].state.waiting.reason}";
    // As a kubelet: CreateContainerConfigError, with the reason on the status itself.
    let reason = wait_for("a waiting reason for runAsNonRoot", POD_TIMEOUT, || {
        let reason = c.field("nonroot", reason_path);
        reason.starts_with("CreateContainer").then_some(reason)
    });
    assert_eq!(reason, "CreateContainerConfigError");
    let message = c.field("nonroot", "{.status.containerStatuses[0].state.waiting.message}");
    assert!(message.contains("runAsNonRoot"), "the waiting message says why: {message:?}");
    assert_eq!(c.field("nonroot", "{.status.phase}"), "Pending");
    assert_eq!(c.field("nonroot", "{.status.containerStatuses[0].restartCount}"), "0", "it never ran");
    let describe = c.server.kubectl_ok(&["describe", "pod", "nonroot"]);
    assert!(describe.contains("has runAsNonRoot and its user is root"), "describe explains why: {describe}");
    assert!(!stdout(&c.server.kubectl(&["logs", "nonroot"])).contains("must not run"));
}

#[test]
fn mount_without_cap_sys_admin_is_refused() {
    let Some(c) = Cluster::start() else { return };
    // /tmp exists in the image, so only the missing capability can make the mount fail.
    c.run_sh("nomount", "mount -t tmpfs none /tmp", "");
    c.wait_phase("nomount", "Failed");
    let logs = c.logs("nomount", "c");
    // busybox says "mount: permission denied (are you root?)" for EPERM.
    assert!(logs.to_lowercase().contains("permission denied") || logs.contains("Operation not permitted"), "{logs}");
    assert_ne!(c.field("nomount", "{.status.containerStatuses[0].state.terminated.exitCode}"), "0");
}

#[test]
fn the_default_seccomp_profile_applies_unless_the_pod_opts_out() {
    let Some(c) = Cluster::start() else { return };
    // unshare(CLONE_NEWUSER) needs no capability, so only the filter can refuse it.
    let script = "grep Seccomp: /proc/self/status; unshare -U true && echo unshare-ok || echo unshare-refused";
    c.run_sh("confined", script, "");
    c.run_sh("unconfined", script, &indent("securityContext: { seccompProfile: { type: Unconfined } }", 4));
    c.wait_phase("confined", "Succeeded");
    c.wait_phase("unconfined", "Succeeded");
    let confined = c.logs("confined", "c");
    assert!(confined.contains("Seccomp:\t2"), "filter mode by default: {confined}");
    assert!(confined.contains("Operation not permitted") && confined.contains("unshare-refused"), "{confined}");
    let unconfined = c.logs("unconfined", "c");
    assert!(unconfined.contains("Seccomp:\t0"), "no filter when Unconfined: {unconfined}");
    assert!(unconfined.contains("unshare-ok"), "{unconfined}");
    // exec'd processes get the container's filter too.
    c.run_sh("target-seccomp", "exec sleep 3600", "");
    c.wait_phase("target-seccomp", "Running");
    let status = c.server.kubectl_ok(&["exec", "target-seccomp", "--", "grep", "Seccomp:", "/proc/self/status"]);
    assert!(status.contains("Seccomp:\t2"), "{status}");
}

#[test]
fn exec_returns_output_and_the_exit_code() {
    let Some(c) = Cluster::start() else { return };
    c.run_sh("target", "echo ready > /tmp/state; exec sleep 3600", "");
    c.wait_phase("target", "Running");
    let out = c.server.kubectl_ok(&["exec", "target", "--", "cat", "/tmp/state"]);
    assert_eq!(out, "ready\n");
    let failed = c.server.kubectl(&["exec", "target", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
    assert_eq!(failed.status.code(), Some(3), "kubectl exits with the command's code: {}", stderr(&failed));
    assert_eq!(stdout(&failed), "to-stdout\n");
    assert!(stderr(&failed).contains("to-stderr"), "{}", stderr(&failed));
    // exec joins the container's PID namespace: the command is not PID 1, the container's is.
    let ps = c.server.kubectl_ok(&["exec", "target", "--", "ps", "-o", "pid,args"]);
    assert!(ps.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep 3600")), "{ps}");
}

#[test]
fn wasm_and_linux_pods_run_side_by_side_in_one_namespace() {
    let Some(c) = Cluster::start() else { return };
    c.server.kubectl_ok(&["create", "namespace", "mixed"]);
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: wasm, namespace: mixed }}
spec:
  nodeName: {node}
  restartPolicy: Never
  containers:
  - {{ name: hello, image: "{wasm}" }}
---
apiVersion: v1
kind: Pod
metadata: {{ name: linux, namespace: mixed }}
spec:
  nodeName: {node}
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {{ name: c, image: "{busybox}", command: ["sh", "-c", "echo hello from linux; exec sleep 3600"] }}
"#,
        node = c.node,
        wasm = c.registry.image("wasm/hello:1.0"),
        busybox = c.busybox(),
    );
    c.apply(&manifest);
    let phase = |pod: &str| stdout(&c.server.kubectl(&["get", "pod", pod, "-n", "mixed", "-o", "jsonpath={.status.phase}"]));
    let deadline = Instant::now() + POD_TIMEOUT;
    while !(phase("wasm") == "Succeeded" && phase("linux") == "Running") {
        assert!(
            Instant::now() < deadline,
            "wasm {:?} and linux {:?}:\n{}",
            phase("wasm"),
            phase("linux"),
            stdout(&c.server.kubectl(&["describe", "pods", "-n", "mixed"]))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(c.server.kubectl_ok(&["logs", "wasm", "-n", "mixed"]).contains("hello from wasm"));
    assert!(c.server.kubectl_ok(&["logs", "linux", "-n", "mixed"]).contains("hello from linux"));
    let table = c.server.kubectl_ok(&["get", "pods", "-n", "mixed"]);
    assert!(table.lines().any(|l| l.starts_with("wasm ") && l.contains("Completed")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("linux ") && l.contains("Running")), "{table}");
}

#[test]
fn deleted_pods_leave_no_mounts_cgroups_or_processes() {
    let Some(c) = Cluster::start() else { return };
    // A command line no other test uses, for pgrep.
    let marker = "sleep 4243";
    let manifest = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{ name: tidy }}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  volumes: [{{ name: scratch, emptyDir: {{}} }}]
  containers:
  - {{ name: a, image: "{image}", command: [sleep, "4243"], volumeMounts: [{{ name: scratch, mountPath: /scratch }}] }}
  - {{ name: b, image: "{image}", command: [sleep, "4243"], volumeMounts: [{{ name: scratch, mountPath: /scratch }}] }}
"#,
        node = c.node,
        image = c.busybox(),
    );
    c.apply(&manifest);
    // A pod that has already completed must be cleaned up on deletion too.
    c.run_sh("done", "echo done", "");
    c.wait_phase("tidy", "Running");
    c.wait_phase("done", "Succeeded");
    let uids = [c.field("tidy", "{.metadata.uid}"), c.field("done", "{.metadata.uid}")];
    assert!(uids.iter().all(|uid| !uid.is_empty()));
    let data_dir = c.server.data_dir().to_string_lossy().to_string();
    // While it runs, every probe below must see the pod, or its later silence proves nothing.
    let pids = pgrep(marker);
    assert_eq!(pids.len(), 2, "both containers run");
    let container_mounts = std::fs::read_to_string(format!("/proc/{}/mountinfo", pids[0])).unwrap_or_default();
    assert!(container_mounts.contains(&data_dir), "the container's mounts come from the data dir");
    let pod_cgroups = cgroup_dirs_naming(&uids[0]);
    assert!(!pod_cgroups.is_empty(), "the running pod has cgroups");
    let pod_dir = format!("/wasmkube/besteffort/pod{}", uids[0]);
    assert!(pod_cgroups.iter().all(|d| d.ends_with(&pod_dir)), "under its QoS parent: {pod_cgroups:?}");
    let qos_parents: Vec<String> = pod_cgroups.iter().map(|d| d.trim_end_matches(&pod_dir).to_string() + "/wasmkube/besteffort").collect();
    assert!(!pgrep(&data_dir).is_empty(), "the sandbox holders run");
    // The finished pod gives its sandbox back before it is deleted: only the running pod's
    // holder is left beside the server (holders are forks of it, with its command line).
    let server_pid = c.server.pid().to_string();
    wait_for("the finished pod's sandbox holder to go", Duration::from_secs(10), || {
        let others: Vec<String> = pgrep(&data_dir).into_iter().filter(|p| *p != server_pid).collect();
        (others.len() == 1).then_some(())
    });

    c.delete("tidy");
    c.delete("done");
    let server_mounts = format!("/proc/{server_pid}/mountinfo");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mounts = std::fs::read_to_string(&server_mounts).unwrap_or_default();
        let leftover_mounts: Vec<&str> =
            mounts.lines().filter(|l| l.contains(&data_dir) || uids.iter().any(|uid| l.contains(uid))).collect();
        let leftover_cgroups: Vec<String> = uids.iter().flat_map(|uid| cgroup_dirs_naming(uid)).collect();
        // Containers, and sandbox holders (children of the server with the data dir in their command line).
        let mut leftover_processes = pgrep(marker);
        leftover_processes.extend(pgrep(&data_dir).into_iter().filter(|pid| *pid != server_pid));
        if leftover_mounts.is_empty() && leftover_cgroups.is_empty() && leftover_processes.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after deletion: mounts {leftover_mounts:?}, cgroups {leftover_cgroups:?}, processes {leftover_processes:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The QoS parents stay for the next pods, as kubelet's do.
    assert!(qos_parents.iter().all(|d| Path::new(d).is_dir()), "{qos_parents:?}");
}

/// Pids whose full command line contains `pattern`.
fn pgrep(pattern: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep").args(["-f", pattern]).output().expect("run pgrep");
    stdout(&out).lines().map(str::to_string).filter(|pid| *pid != std::process::id().to_string()).collect()
}

/// Every directory under /sys/fs/cgroup whose name contains `needle` (a pod uid), in any
/// hierarchy and at any depth the node could have used.
fn cgroup_dirs_naming(needle: &str) -> Vec<String> {
    fn walk(dir: &Path, needle: &str, depth: usize, found: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if !kind.is_dir() {
                continue;
            }
            let path = entry.path();
            if entry.file_name().to_string_lossy().contains(needle) {
                found.push(path.to_string_lossy().to_string());
            } else if depth > 0 {
                walk(&path, needle, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), needle, 8, &mut found);
    found
}
