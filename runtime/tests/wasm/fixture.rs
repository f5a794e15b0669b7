//! A runtime on a temporary data dir, sandboxes, and container configs built from the samples.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::cri::{
    ContainerConfig, ContainerId, ContainerRuntime, ContainerState, ExitReason, ImageContent, Limits, Mount,
    SandboxConfig, SandboxId, SecurityConfig,
};
use runtime::wasm::{WasmOptions, WasmRuntime};
use sha2::{Digest, Sha256};

pub struct Node {
    pub runtime: WasmRuntime,
    pub dir: tempfile::TempDir,
    pub sandbox: SandboxId,
}

impl Node {
    pub async fn new() -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        Node::on(dir).await
    }

    /// A node whose data dir is `dir` (shared by two nodes in the cache test).
    pub async fn on(dir: tempfile::TempDir) -> Node {
        let mut options = WasmOptions::new(dir.path().join("data"));
        options.max_pods = 16;
        options.pool_slots = Some(32);
        let runtime = WasmRuntime::new(options).expect("runtime");
        let sandbox = runtime
            .run_sandbox(&SandboxConfig {
                pod_uid: "uid-1".into(),
                namespace: "default".into(),
                name: "pod".into(),
                hostname: "pod".into(),
                log_dir: dir.path().join("logs"),
                ..SandboxConfig::default()
            })
            .await
            .expect("sandbox");
        Node { runtime, dir, sandbox }
    }

    pub fn config(&self, name: &str, sample: &str, args: &[&str]) -> ContainerConfig {
        let bytes = sample_bytes(sample);
        let digest = format!("sha256:{:x}", Sha256::digest(&bytes));
        let mut argv = vec![sample.to_owned()];
        argv.extend(args.iter().map(|a| a.to_string()));
        ContainerConfig {
            name: name.into(),
            image: ImageContent::Wasm { digest, bytes: Arc::from(bytes) },
            argv,
            env: Vec::new(),
            working_dir: None,
            mounts: Vec::new(),
            limits: Limits::default(),
            log_path: self.dir.path().join("logs").join(name).join("0.log"),
            stdin: false,
            stdin_once: false,
            tty: false,
            security: SecurityConfig::default(),
        }
    }

    pub fn volume(&self, name: &str, at: &str, read_only: bool) -> Mount {
        let host_path = self.dir.path().join("volumes").join(name);
        std::fs::create_dir_all(&host_path).expect("volume dir");
        Mount { container_path: at.into(), host_path, read_only }
    }

    pub async fn start(&self, config: &ContainerConfig) -> ContainerId {
        let id = self.runtime.create_container(&self.sandbox, config).await.expect("create");
        self.runtime.start_container(&id).await.expect("start");
        id
    }

    /// Starts the container and waits (bounded) for its end.
    pub async fn run(&self, config: &ContainerConfig) -> Exited {
        let id = self.start(config).await;
        self.wait(&id).await
    }

    pub async fn wait(&self, id: &ContainerId) -> Exited {
        let state = tokio::time::timeout(Duration::from_secs(60), self.runtime.wait_container(id))
            .await
            .expect("the container ends in time")
            .expect("wait");
        Exited::from(state)
    }
}

#[derive(Debug)]
pub struct Exited {
    pub code: i32,
    pub reason: ExitReason,
    pub message: Option<String>,
}

impl From<ContainerState> for Exited {
    fn from(state: ContainerState) -> Self {
        match state {
            ContainerState::Exited { code, reason, message, .. } => Exited { code, reason, message },
            other => panic!("not exited: {other:?}"),
        }
    }
}

pub fn sample_bytes(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/wasm").join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run samples/wasm/build.sh", path.display()))
}

/// The text of every entry of a CRI log file.
pub fn log_text(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.splitn(4, ' ').nth(3))
        .map(|text| format!("{text}\n"))
        .collect()
}

/// Waits until the log at `path` contains `needle`.
pub async fn wait_for_log(path: &Path, needle: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = log_text(path);
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "{needle:?} not in the log within {within:?}: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The last `<prefix> N` counter in a log.
pub fn last_counter(path: &Path, prefix: &str) -> u64 {
    log_text(path).lines().rev().filter_map(|l| l.strip_prefix(prefix)).find_map(|n| n.trim().parse().ok()).unwrap_or(0)
}

pub fn log_path(config: &ContainerConfig) -> PathBuf {
    config.log_path.clone()
}

/// Held by tests whose measurements need the CPU to themselves (rates, stop latency): the
/// test binary runs tests in parallel on a 2-core machine.
pub async fn cpu_heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
