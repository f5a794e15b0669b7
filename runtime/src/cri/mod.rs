//! The container runtime interface of a node, shaped like Kubernetes' CRI: a
//! pod is a *sandbox* (what the pod's containers share) holding *containers*.
//! Two implementations sit behind it, `wasm` (wasmtime) and `linux`
//! (namespaces + cgroups); the agent above never branches on which one runs a
//! pod: it resolves the handler once at admission and only calls this trait.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::net::netns::NetNs;
use crate::net::{DnsSettings, PodNetwork};

/// Sandbox label carrying the pod's QoS class (Guaranteed, Burstable,
/// BestEffort), for runtimes that group pods by it (cgroup parents).
pub const QOS_CLASS_LABEL: &str = "wasmkube.io/qos-class";

/// Identifies a sandbox within one runtime.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SandboxId(pub String);

/// Identifies a container within one runtime.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerId(pub String);

/// What a pod's containers share.
#[derive(Clone, Debug, Default)]
pub struct SandboxConfig {
    pub pod_uid: String,
    pub namespace: String,
    pub name: String,
    /// `spec.hostname`, or the pod name.
    pub hostname: String,
    /// Where this pod's container logs go (`<dir>/<container>/<restart>.log`).
    pub log_dir: PathBuf,
    /// Ports the pod's containers declare (for runtimes that must open them).
    pub ports: Vec<PortMapping>,
    pub labels: BTreeMap<String, String>,
    /// The node's pod network the sandbox joins; `None` leaves the sandbox with a
    /// namespace of its own holding only a loopback (or, where a runtime cannot make
    /// one, no network at all).
    pub network: Option<Arc<dyn PodNetwork>>,
    /// Name servers and search path (a Linux pod's resolv.conf; a wasm guest's lookups).
    pub dns: DnsSettings,
}

/// What a runtime reports of a running sandbox (CRI `PodSandboxStatus`).
#[derive(Clone, Debug, Default)]
pub struct SandboxStatus {
    /// The pod's IP on the node's pod network.
    pub ip: Option<IpAddr>,
    /// The sandbox's network namespace, for dialing into the pod (port-forward, probes).
    pub netns: Option<Arc<NetNs>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub container_port: u16,
    pub protocol: String,
    pub name: Option<String>,
}

/// The runnable content of an image, already on the node.
#[derive(Clone, Debug)]
pub enum ImageContent {
    /// A wasm module (core module or component) and its content digest.
    Wasm { digest: String, bytes: Arc<[u8]> },
    /// An unpacked root filesystem, read-only, as the directories of its
    /// layers, topmost first (one directory when the image store keeps merged
    /// copies); the runtime puts a writable layer over them.
    Rootfs { layers: Vec<PathBuf> },
}

/// A host directory or file made visible inside the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub container_path: String,
    pub host_path: PathBuf,
    pub read_only: bool,
}

/// Resource limits, as the pod spec states them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `limits.memory` in bytes.
    pub memory_bytes: Option<u64>,
    /// `limits.cpu` in millicores.
    pub cpu_millis: Option<u64>,
    /// `limits["wasmkube.io/fuel"]`: a deterministic instruction budget (wasm only).
    pub fuel: Option<u64>,
}

/// Everything a runtime needs to create one container. The agent resolves it
/// fully (argv from command/args and the image config, env from every source,
/// volumes to host paths), so runtimes never read the pod spec.
#[derive(Clone, Debug)]
pub struct ContainerConfig {
    pub name: String,
    pub image: ImageContent,
    /// Full argv (argv[0] first).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub mounts: Vec<Mount>,
    pub limits: Limits,
    /// The file stdout and stderr are written to, in the CRI log format.
    pub log_path: PathBuf,
    /// Keep a stdin open for the container's whole life, for `attach -i`.
    pub stdin: bool,
    /// Close that stdin when the first attach that used it ends (`stdinOnce`).
    pub stdin_once: bool,
    /// Run the container's process on a terminal.
    pub tty: bool,
    /// Linux only: uid/gid to run as, capabilities, read-only rootfs...
    pub security: SecurityConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    pub run_as_non_root: bool,
    pub read_only_root_fs: bool,
    pub privileged: bool,
    pub allow_privilege_escalation: bool,
    pub add_capabilities: Vec<String>,
    pub drop_capabilities: Vec<String>,
    /// `seccompProfile.type: Unconfined` (container's, else the pod's): no seccomp filter.
    pub seccomp_unconfined: bool,
}

/// Why a container stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Exit code 0.
    Completed,
    /// A non-zero exit or a trap.
    Error,
    /// The memory limit was hit (wasm: the limiter refused growth; linux: the kernel OOM killer).
    OomKilled,
    /// The `wasmkube.io/fuel` budget ran out.
    FuelExhausted,
    /// Stopped by `stop_container` (or the deadline).
    Killed,
    DeadlineExceeded,
}

impl ExitReason {
    /// The `reason` string of a Kubernetes terminated container state.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Completed => "Completed",
            ExitReason::Error => "Error",
            ExitReason::OomKilled => "OOMKilled",
            ExitReason::FuelExhausted => "FuelExhausted",
            ExitReason::Killed => "Error",
            ExitReason::DeadlineExceeded => "DeadlineExceeded",
        }
    }
}

/// The state of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running { started_at: SystemTime },
    Exited { code: i32, reason: ExitReason, message: Option<String>, started_at: SystemTime, finished_at: SystemTime },
}

/// Resource use of one container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerStats {
    pub memory_bytes: u64,
    pub cpu_nanos: u64,
    /// Wasm fuel consumed, for containers that are metered.
    pub fuel_consumed: Option<u64>,
}

/// The size of a terminal, in character cells (kubectl's resize message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TerminalSize {
    pub width: u16,
    pub height: u16,
}

/// The streams of an `exec` or `attach`.
pub struct ExecIo {
    pub stdin: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub stdout: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Ignored with `tty`: a terminal has one output, which goes to `stdout`.
    pub stderr: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    /// Run the exec'd process on a terminal (attach: the container's own terminal, if it has one).
    pub tty: bool,
    /// The client's terminal size changes, applied to the terminal when there is one.
    pub resize: Option<tokio::sync::mpsc::Receiver<TerminalSize>>,
}

#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("sandbox {0:?} not found")]
    SandboxNotFound(SandboxId),
    #[error("container {0:?} not found")]
    ContainerNotFound(ContainerId),
    /// The operation does not fit the container's state (start twice, exec into an exited one).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The image cannot run on this runtime (a rootfs on wasmtime).
    #[error("image cannot run here: {0}")]
    UnsupportedImage(String),
    /// The container's configuration is wrong (no such entrypoint, bad mount...).
    #[error("invalid container config: {0}")]
    InvalidConfig(String),
    #[error("{context}: {source}")]
    Io { context: String, #[source] source: std::io::Error },
    #[error("runtime: {0}")]
    Internal(String),
}

/// A node's runtime for one RuntimeClass handler.
///
/// ```ignore
/// let sb = rt.run_sandbox(&sandbox).await?;
/// let c = rt.create_container(&sb, &config).await?;
/// rt.start_container(&c).await?;
/// let status = rt.wait_container(&c).await?;        // returns once it has exited
/// rt.remove_container(&c).await?;
/// rt.stop_sandbox(&sb).await?; rt.remove_sandbox(&sb).await?;
/// ```
#[async_trait]
pub trait ContainerRuntime: Send + Sync + 'static {
    /// The RuntimeClass handler name: `wasmtime` or `linux`.
    fn handler(&self) -> &'static str;

    async fn run_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId, CriError>;
    /// Stop every container of the sandbox and release what it holds. Idempotent.
    async fn stop_sandbox(&self, id: &SandboxId) -> Result<(), CriError>;
    async fn remove_sandbox(&self, id: &SandboxId) -> Result<(), CriError>;
    /// The sandbox's address and namespace.
    async fn sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus, CriError> {
        let _ = id;
        Ok(SandboxStatus::default())
    }

    async fn create_container(&self, sandbox: &SandboxId, config: &ContainerConfig) -> Result<ContainerId, CriError>;
    async fn start_container(&self, id: &ContainerId) -> Result<(), CriError>;
    /// Ask the container to stop, force it after `grace`. Idempotent.
    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), CriError>;
    async fn remove_container(&self, id: &ContainerId) -> Result<(), CriError>;

    async fn container_state(&self, id: &ContainerId) -> Result<ContainerState, CriError>;
    /// Resolves once the container has exited, with its final state.
    async fn wait_container(&self, id: &ContainerId) -> Result<ContainerState, CriError>;
    /// Run `argv` inside the container's environment; returns the exit code.
    async fn exec(&self, id: &ContainerId, argv: Vec<String>, io: ExecIo) -> Result<i32, CriError>;
    /// Connect to the running container's own streams (CRI `Attach`): its output from now
    /// on, and its stdin when the container was created with `stdin`. Returns when the
    /// container exits or the caller's stdout goes away.
    async fn attach(&self, id: &ContainerId, io: ExecIo) -> Result<(), CriError> {
        let _ = io;
        Err(CriError::FailedPrecondition(format!(
            "attach to container {} is not supported for {} containers yet",
            id.0,
            self.handler()
        )))
    }
    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, CriError>;
}
