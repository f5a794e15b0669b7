//! Root-only tests of the `linux` runtime against a busybox rootfs built from
//! Debian's busybox-static (`tests/infra/install-deps.sh`). Without root they
//! are skipped with a message, unless `CI` is set, where skipping is a failure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use runtime::cri::{ContainerConfig, ContainerRuntime, ContainerState, ExecIo, ExitReason, ImageContent, Limits, Mount, SandboxConfig, SecurityConfig};
use runtime::linux::{LinuxOptions, LinuxRuntime};

fn can_run() -> bool {
    if nix::unistd::geteuid().is_root() && Path::new("/bin/busybox").exists() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must run the linux runtime tests as root with busybox-static installed");
    eprintln!("skipping: the linux runtime tests need root and /bin/busybox (tests/infra/install-deps.sh)");
    false
}

/// `/bin/busybox` plus a symlink per applet.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("busybox");
    std::fs::create_dir_all(root.join("bin")).expect("mkdir");
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    let list = std::process::Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    root
}

struct Fixture {
    _tmp: tempfile::TempDir,
    rt: LinuxRuntime,
    rootfs: PathBuf,
    logs: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tmp");
    let rootfs = busybox_rootfs(tmp.path());
    let mut options = LinuxOptions::new(tmp.path().join("state"));
    options.cgroup_parent = format!("wasmkube-test-{}", std::process::id());
    let rt = LinuxRuntime::new(options).expect("runtime");
    let logs = tmp.path().join("logs");
    Fixture { _tmp: tmp, rt, rootfs, logs }
}

impl Fixture {
    fn config(&self, name: &str, script: &str) -> ContainerConfig {
        ContainerConfig {
            name: name.into(),
            image: ImageContent::Rootfs { layers: vec![self.rootfs.clone()] },
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("PATH".into(), "/bin".into())],
            working_dir: None,
            mounts: Vec::new(),
            limits: Limits::default(),
            log_path: self.logs.join(name).join("0.log"),
            stdin: false,
            stdin_once: false,
            tty: false,
            security: SecurityConfig::default(),
        }
    }

    fn log(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.logs.join(name).join("0.log")).unwrap_or_default();
        text.lines().filter_map(|l| l.splitn(4, ' ').nth(3)).collect::<Vec<_>>().join("\n")
    }
}

fn sandbox(name: &str) -> SandboxConfig {
    SandboxConfig { pod_uid: format!("uid-{name}-{}", std::process::id()), name: name.into(), hostname: name.into(), ..SandboxConfig::default() }
}

fn exited(state: ContainerState) -> (i32, ExitReason) {
    match state {
        ContainerState::Exited { code, reason, .. } => (code, reason),
        other => panic!("not exited: {other:?}"),
    }
}

async fn run(f: &Fixture, sb: &runtime::cri::SandboxId, config: ContainerConfig) -> (i32, ExitReason, String) {
    let name = config.name.clone();
    let id = f.rt.create_container(sb, &config).await.expect("create");
    f.rt.start_container(&id).await.expect("start");
    let state = tokio::time::timeout(Duration::from_secs(30), f.rt.wait_container(&id)).await.expect("in time").expect("wait");
    f.rt.remove_container(&id).await.expect("remove");
    let (code, reason) = exited(state);
    (code, reason, f.log(&name))
}

#[tokio::test(flavor = "multi_thread")]
async fn isolation_limits_security_and_cleanup() {
    if !can_run() {
        return;
    }
    let f = fixture();
    let sb = f.rt.run_sandbox(&sandbox("pod-a")).await.expect("sandbox");

    let (code, reason, log) = run(&f, &sb, f.config("hello", "echo hi; echo $$; hostname; ps -o pid,comm | wc -l")).await;
    assert_eq!((code, reason), (0, ExitReason::Completed), "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "hi");
    assert_eq!(lines[1], "1", "the container's process is PID 1");
    assert_eq!(lines[2], "pod-a");
    assert!(lines[3].trim().parse::<u32>().expect("count") <= 4, "only the container's processes are visible: {log}");

    let mut hog = f.config("hog", "x=$(yes | head -c 200000000); echo survived");
    hog.limits.memory_bytes = Some(32 << 20);
    let (code, reason, _) = run(&f, &sb, hog).await;
    assert_eq!((code, reason), (137, ExitReason::OomKilled));

    let mut ro = f.config("ro", "touch /x && echo wrote");
    ro.security.read_only_root_fs = true;
    let (code, _, log) = run(&f, &sb, ro).await;
    assert_ne!(code, 0, "{log}");

    let mut user = f.config("user", "id -u");
    user.security.run_as_user = Some(1000);
    let (code, _, log) = run(&f, &sb, user).await;
    assert_eq!((code, log.as_str()), (0, "1000"));

    let mut non_root = f.config("nonroot", "true");
    non_root.security.run_as_non_root = true;
    let err = f.rt.create_container(&sb, &non_root).await.expect_err("refused");
    assert!(err.to_string().contains("runAsNonRoot"), "{err}");

    let (code, _, log) = run(&f, &sb, f.config("mount", "mkdir -p /m && mount -t tmpfs t /m")).await;
    assert_ne!(code, 0, "no CAP_SYS_ADMIN: {log}");

    // Two containers of one sandbox share localhost and a mounted dir.
    let shared = f._tmp.path().join("shared");
    std::fs::create_dir_all(&shared).expect("mkdir");
    let mut server = f.config("server", "echo served > /data/www; httpd -f -p 127.0.0.1:8080 -h /data");
    server.mounts.push(Mount { container_path: "/data".into(), host_path: shared.clone(), read_only: false });
    let server_id = f.rt.create_container(&sb, &server).await.expect("create");
    f.rt.start_container(&server_id).await.expect("start");
    let mut client = f.config("client", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/www && exit 0; sleep 0.2; done; exit 1");
    client.mounts.push(Mount { container_path: "/data".into(), host_path: shared, read_only: true });
    let (code, _, log) = run(&f, &sb, client).await;
    assert_eq!((code, log.as_str()), (0, "served"));

    // exec returns output and the exit code.
    let (out_r, out_w) = tokio::io::duplex(4096);
    let io = ExecIo { stdin: None, stdout: Some(Box::new(out_w)), stderr: None, tty: false, resize: None };
    let code = f.rt.exec(&server_id, vec!["sh".into(), "-c".into(), "cat /etc/hostname; exit 3".into()], io).await.expect("exec");
    assert_eq!(code, 3);
    let mut out = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut { out_r }, &mut out).await.expect("read");
    assert_eq!(out, "pod-a\n");

    f.rt.stop_container(&server_id, Duration::from_millis(200)).await.expect("stop");
    assert_eq!(exited(f.rt.container_state(&server_id).await.expect("state")).0, 137, "httpd as PID 1 ignores SIGTERM");

    f.rt.remove_sandbox(&sb).await.expect("remove sandbox");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mountinfo.contains(&f._tmp.path().display().to_string()), "mounts left behind");
    let state = f._tmp.path().join("state");
    assert_eq!(std::fs::read_dir(state.join("containers")).expect("dir").count(), 0);
    assert_eq!(std::fs::read_dir(state.join("sandboxes")).expect("dir").count(), 0);
    remove_test_cgroups(&format!("wasmkube-test-{}", std::process::id()));
}

/// Checks that no pod cgroup is left under the test's parent, then removes the parent and its QoS dirs.
fn remove_test_cgroups(parent: &str) {
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("cgroup");
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        for controller in controllers.split(',').filter(|c| ["memory", "cpu", "cpuacct", "pids"].contains(c)) {
            let base = Path::new("/sys/fs/cgroup").join(controller).join(path.trim_start_matches('/')).join(parent);
            let Ok(qos_dirs) = std::fs::read_dir(&base) else { continue };
            for qos in qos_dirs.flatten().filter(|e| e.path().is_dir()) {
                let pods: Vec<_> = std::fs::read_dir(qos.path()).expect("qos").flatten().filter(|e| e.path().is_dir()).collect();
                assert!(pods.is_empty(), "cgroups left behind in {}", qos.path().display());
                std::fs::remove_dir(qos.path()).expect("rmdir qos");
            }
            std::fs::remove_dir(&base).expect("rmdir parent");
        }
    }
}
