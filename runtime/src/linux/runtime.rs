//! [`LinuxRuntime`]: the `ContainerRuntime` of the `linux` handler. It keeps
//! the node's sandboxes and containers; the work of each call lives in the
//! sibling modules (holder, layer, plan, launch, watcher, exec).

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::unistd::{geteuid, Pid};

use super::caps::{last_cap, CapSet};
use super::cgroup::{detect, pod_group, pod_limits, CgroupLimits, Cgroups, QosClass};
use super::container::{Container, Phase};
use super::error::LinuxError;
use super::exec::exec_in;
use super::leftovers;
use super::options::LinuxOptions;
use super::plan::{container_steps, Bind, ContainerPlan, Identity};
use super::rootfs::Layer;
use super::pty::{open_on_host, Pty};
use super::sandbox::{write_etc_files, Holder};
use super::spawn::{launch, Launch, PidNamespace};
use super::streams::{slave_stdio, Terminal};
use crate::cri::{
    ContainerConfig, ContainerId, ContainerRuntime, ContainerState, ContainerStats, CriError, ExecIo, ImageContent,
    SandboxConfig, SandboxId, SandboxStatus,
};
use crate::logs::{LogHub, LogWriter};
use crate::net::netns::NetNs;
use crate::net::PodNetwork;

pub struct LinuxRuntime {
    options: LinuxOptions,
    cgroups: Arc<dyn Cgroups>,
    last_cap: u32,
    sandboxes: Mutex<HashMap<SandboxId, Arc<Sandbox>>>,
    containers: Mutex<HashMap<ContainerId, Arc<Container>>>,
    /// IDs are `<process start>-<counter>`: unique across agent restarts too.
    id_prefix: String,
    next_id: AtomicU64,
}

struct Sandbox {
    holder: Holder,
    dir: PathBuf,
    /// `(container path, host file)` of /etc/hosts, /etc/hostname, /etc/resolv.conf.
    etc_files: Vec<(&'static str, PathBuf)>,
    /// The pod's cgroup: `<qos>/pod<uid>`.
    cgroup: PathBuf,
    containers: Mutex<BTreeSet<ContainerId>>,
    pod_uid: String,
    /// The sandbox's place on the pod network, until it is stopped.
    net: Mutex<PodNet>,
}

/// A sandbox's address and namespace, and the network to give them back to.
#[derive(Default)]
struct PodNet {
    ip: Option<IpAddr>,
    netns: Option<Arc<NetNs>>,
    network: Option<Arc<dyn PodNetwork>>,
}

impl Sandbox {
    fn containers(&self) -> MutexGuard<'_, BTreeSet<ContainerId>> {
        self.containers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn blocking_error(err: tokio::task::JoinError) -> CriError {
    CriError::Internal(format!("blocking task failed: {err}"))
}

impl LinuxRuntime {
    /// Needs root (namespaces, mounts, cgroups); finds the host's cgroup hierarchy.
    pub fn new(options: LinuxOptions) -> Result<Self, LinuxError> {
        if !geteuid().is_root() {
            return Err(LinuxError::InvalidConfig("the linux runtime needs root (namespaces, mounts and cgroups)".into()));
        }
        let cgroups: Arc<dyn Cgroups> = Arc::from(detect(&options.cgroup_parent)?);
        for dir in ["sandboxes", "containers"] {
            let path = options.state_dir.join(dir);
            std::fs::create_dir_all(&path).map_err(|e| LinuxError::io("creating", &path, e))?;
        }
        // No pod is known yet: whatever an earlier run recorded is a leftover.
        let cleared = leftovers::sweep(&options.state_dir.join("sandboxes"), &options.state_dir.join("containers"), cgroups.as_ref());
        if cleared > 0 {
            tracing::info!("removed {cleared} sandboxes left by an earlier run (processes, pod cgroups, state)");
        }
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        Ok(LinuxRuntime {
            options,
            cgroups,
            last_cap: last_cap(),
            sandboxes: Mutex::new(HashMap::new()),
            containers: Mutex::new(HashMap::new()),
            id_prefix: format!("{started:x}"),
            next_id: AtomicU64::new(1),
        })
    }

    /// Clears what a killed runtime with this state directory left (sandbox holders,
    /// pod cgroups, container layers), as a start does, without starting; for
    /// `wasmkube cleanup`. Returns how many sandboxes were cleared.
    pub fn clear_leftovers(options: &LinuxOptions) -> Result<usize, LinuxError> {
        if !geteuid().is_root() {
            return Err(LinuxError::InvalidConfig("clearing Linux pods' leftovers needs root".into()));
        }
        let sandboxes = options.state_dir.join("sandboxes");
        if !sandboxes.exists() {
            return Ok(0);
        }
        let cgroups = detect(&options.cgroup_parent)?;
        Ok(leftovers::sweep(&sandboxes, &options.state_dir.join("containers"), cgroups.as_ref()))
    }

    pub fn log_hub(&self) -> &LogHub {
        &self.options.log_hub
    }

    pub fn cgroup_version(&self) -> super::cgroup::CgroupVersion {
        self.cgroups.version()
    }

    fn next_id(&self) -> String {
        format!("{}-{:x}", self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn sandbox(&self, id: &SandboxId) -> Result<Arc<Sandbox>, CriError> {
        lock(&self.sandboxes).get(id).cloned().ok_or_else(|| CriError::SandboxNotFound(id.clone()))
    }

    fn container(&self, id: &ContainerId) -> Result<Arc<Container>, CriError> {
        lock(&self.containers).get(id).cloned().ok_or_else(|| CriError::ContainerNotFound(id.clone()))
    }

    /// The uid/gid, capabilities and no_new_privs of a container, or why it must not run.
    fn identity(&self, config: &ContainerConfig) -> Result<Identity, CriError> {
        let security = &config.security;
        // The agent resolves the image's USER into run_as_user; without one the process is root.
        let uid = security.run_as_user.unwrap_or(0);
        if security.run_as_non_root && uid == 0 {
            return Err(CriError::InvalidConfig(format!(
                "container {:?} has runAsNonRoot and its user is root (uid 0): set securityContext.runAsUser to a non-zero uid",
                config.name
            )));
        }
        let caps = CapSet::for_container(security, self.last_cap).map_err(CriError::InvalidConfig)?;
        let no_new_privs = !security.privileged && !security.allow_privilege_escalation;
        let seccomp = !security.privileged && !security.seccomp_unconfined;
        Ok(Identity { uid, gid: security.run_as_group.unwrap_or(uid), caps, no_new_privs, seccomp })
    }

    /// The pod cgroup's limits once `adding` joins the sandbox's containers that have not exited.
    fn pod_limits_with(&self, sandbox: &Sandbox, adding: &ContainerConfig) -> CgroupLimits {
        let live: Vec<Arc<Container>> =
            sandbox.containers().iter().filter_map(|id| self.container(id).ok()).filter(|c| c.phase() != Phase::Exited).collect();
        pod_limits(live.iter().map(|c| &c.config.limits).chain([&adding.limits]), self.options.pids_limit)
    }

    fn stop_and_wait(&self, container: &Arc<Container>, grace: Duration) -> impl std::future::Future<Output = ()> + Send + 'static {
        let container = Arc::clone(container);
        async move {
            let Phase::Running { pid, .. } = container.phase() else { return };
            container.request_stop();
            let mut exited = container.subscribe();
            // PID 1 of a pid namespace ignores SIGTERM unless it handles it; SIGKILL from here always works.
            let _ = kill(pid, Signal::SIGTERM);
            let exited_in_time = matches!(tokio::time::timeout(grace, exited.wait_for(Option::is_some)).await, Ok(Ok(_)));
            if !exited_in_time {
                let _ = kill(pid, Signal::SIGKILL);
                let _ = exited.wait_for(Option::is_some).await;
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Maps are only inserted into and removed from; a panic elsewhere cannot leave them half-changed.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn open_all(paths: impl IntoIterator<Item = PathBuf>, write: bool) -> Result<Vec<File>, LinuxError> {
    paths
        .into_iter()
        .map(|path| std::fs::OpenOptions::new().read(!write).write(write).open(&path).map_err(|e| LinuxError::io("opening", &path, e)))
        .collect()
}

/// A started container process, with the master of its terminal when it has one.
struct Started {
    child: std::process::Child,
    terminal: Option<OwnedFd>,
}

/// Everything a container start needs, prepared off the async threads.
fn start_process(sandbox: &Sandbox, container: &Container, cgroups: &dyn Cgroups) -> Result<Started, LinuxError> {
    let config = &container.config;
    let cgroup_files = open_all(cgroups.procs_files(&container.cgroup), true)?;
    let ns_paths = sandbox.holder.namespace_files();
    let ns_files = open_all(ns_paths.iter().map(|(path, _)| path.clone()), false)?;
    let procs: Vec<RawFd> = cgroup_files.iter().map(File::as_raw_fd).collect();
    let namespaces: Vec<(RawFd, CloneFlags)> = ns_files.iter().zip(&ns_paths).map(|(file, (_, kind))| (file.as_raw_fd(), *kind)).collect();
    let binds: Vec<Bind<'_>> = sandbox
        .etc_files
        .iter()
        .map(|(container_path, host)| Bind { host, container: container_path, read_only: false })
        .chain(config.mounts.iter().map(|m| Bind { host: &m.host_path, container: &m.container_path, read_only: m.read_only }))
        .collect();
    let overlay_options = container.layer.overlay_options();
    let steps = container_steps(&ContainerPlan {
        cgroup_procs: &procs,
        sandbox_namespaces: &namespaces,
        overlay_options: &overlay_options,
        merged: container.layer.merged(),
        binds: &binds,
        privileged: config.security.privileged,
        read_only_root: config.security.read_only_root_fs,
        identity: container.identity,
        working_dir: config.working_dir.as_deref().unwrap_or("/"),
    })?;
    // A tty container's terminal comes from the host's devpts: its own devpts does not exist yet.
    let terminal = if config.tty { Some(open_on_host()?) } else { None };
    let (stdin, stdout, stderr) = match &terminal {
        Some(pty) => (slave_stdio(&pty.slave)?, slave_stdio(&pty.slave)?, slave_stdio(&pty.slave)?),
        // stdin stays a pipe for the container's whole life, for `attach -i`.
        None => (if config.stdin { Stdio::piped() } else { Stdio::null() }, Stdio::piped(), Stdio::piped()),
    };
    let child = launch(Launch {
        argv: config.argv.clone(),
        env: config.env.clone(),
        steps,
        pid_namespace: PidNamespace::New,
        stdin,
        stdout,
        stderr,
        controlling_terminal: terminal.is_some(),
    });
    // The fds the steps name stay open until the child has exec'd or failed.
    drop((cgroup_files, ns_files));
    // Only the container may hold the slave, so that the master reads EOF once it has exited.
    Ok(Started { child: child?, terminal: terminal.map(|Pty { master, .. }| master) })
}

/// Hands the runtime's ends of a started container's stdio to its log pumps and attach point.
fn connect_stdio(container: &Arc<Container>, started: Started, log: LogWriter, cgroups: Arc<dyn Cgroups>) -> Result<(), LinuxError> {
    let Started { mut child, terminal } = started;
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| LinuxError::io("duplicating", Path::new("the container's terminal"), e));
    let terminal_output = match terminal {
        Some(master) => {
            let output = File::from(dup(&master)?);
            if container.config.stdin {
                container.attach.keep_stdin(File::from(dup(&master)?), Some(Terminal::new(master)), container.config.stdin_once);
            }
            Some(output)
        }
        None => {
            if let Some(stdin) = child.stdin.take() {
                container.attach.keep_stdin(File::from(OwnedFd::from(stdin)), None, container.config.stdin_once);
            }
            None
        }
    };
    container.watch(child, terminal_output, log, cgroups);
    Ok(())
}

#[async_trait]
impl ContainerRuntime for LinuxRuntime {
    fn handler(&self) -> &'static str {
        "linux"
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId, CriError> {
        let id = SandboxId(self.next_id());
        let dir = self.options.state_dir.join("sandboxes").join(&id.0);
        let cgroup = pod_group(QosClass::from_labels(&config.labels), &config.pod_uid);
        let pod_limits = pod_limits([], self.options.pids_limit);
        let cgroups = Arc::clone(&self.cgroups);
        let hostname = config.hostname.clone();
        let (task_dir, task_cgroup) = (dir.clone(), cgroup.clone());
        let holder = tokio::task::spawn_blocking(move || -> Result<Holder, LinuxError> {
            cgroups.create(&task_cgroup)?;
            cgroups.set_limits(&task_cgroup, &pod_limits)?;
            let holder = Holder::spawn(&hostname)?;
            if let Err(err) = leftovers::record(&task_dir, &task_cgroup, holder.pid()) {
                holder.kill();
                return Err(err);
            }
            Ok(holder)
        })
        .await
        .map_err(blocking_error)?;
        let undo = |holder: Option<&Holder>| {
            if let Some(holder) = holder {
                holder.kill();
            }
            let _ = self.cgroups.remove(&cgroup);
            let _ = std::fs::remove_dir_all(&dir);
        };
        let holder = match holder {
            Ok(holder) => holder,
            Err(err) => {
                undo(None);
                return Err(err.into());
            }
        };
        // The holder's namespace joins the node's pod network: eth0, the pod's IP, a default route.
        let mut net = PodNet::default();
        if let Some(network) = &config.network {
            let ns_path = PathBuf::from(format!("/proc/{}/ns/net", holder.pid()));
            let joined = match NetNs::open(&ns_path) {
                Ok(netns) => network.attach(&config.pod_uid, &netns).await.map(|ip| (ip, netns)).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match joined {
                Ok((ip, netns)) => net = PodNet { ip: Some(ip), netns: Some(netns), network: Some(Arc::clone(network)) },
                Err(message) => {
                    undo(Some(&holder));
                    return Err(CriError::Internal(format!("joining the pod network: {message}")));
                }
            }
        }
        let dns = config.dns.resolv_conf();
        // No DNS settings from the agent: the node's own resolver, as before.
        let resolv = if dns.is_empty() { std::fs::read(&self.options.resolv_conf).unwrap_or_default() } else { dns.into_bytes() };
        let etc_files = match write_etc_files(&dir.join("etc"), &config.hostname, net.ip, &resolv) {
            Ok(files) => files,
            Err(err) => {
                if let Some(network) = &net.network {
                    network.detach(&config.pod_uid).await;
                }
                undo(Some(&holder));
                return Err(err.into());
            }
        };
        let sandbox = Sandbox {
            holder,
            dir,
            etc_files,
            cgroup,
            containers: Mutex::new(BTreeSet::new()),
            pod_uid: config.pod_uid.clone(),
            net: Mutex::new(net),
        };
        lock(&self.sandboxes).insert(id.clone(), Arc::new(sandbox));
        Ok(id)
    }

    async fn sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus, CriError> {
        let sandbox = self.sandbox(id)?;
        let net = lock(&sandbox.net);
        Ok(SandboxStatus { ip: net.ip, netns: net.netns.clone() })
    }

    async fn stop_sandbox(&self, id: &SandboxId) -> Result<(), CriError> {
        let sandbox = self.sandbox(id)?;
        let ids: Vec<ContainerId> = sandbox.containers().iter().cloned().collect();
        for cid in ids {
            if let Ok(container) = self.container(&cid) {
                self.stop_and_wait(&container, Duration::ZERO).await;
            }
        }
        // The pod's address goes back to the node; its namespace goes with the holder.
        let released = std::mem::take(&mut *lock(&sandbox.net));
        if let Some(network) = released.network {
            network.detach(&sandbox.pod_uid).await;
        }
        tokio::task::spawn_blocking(move || sandbox.holder.kill()).await.map_err(blocking_error)
    }

    async fn remove_sandbox(&self, id: &SandboxId) -> Result<(), CriError> {
        let Ok(sandbox) = self.sandbox(id) else { return Ok(()) };
        self.stop_sandbox(id).await?;
        let ids: Vec<ContainerId> = sandbox.containers().iter().cloned().collect();
        for cid in ids {
            self.remove_container(&cid).await?;
        }
        let cgroups = Arc::clone(&self.cgroups);
        tokio::task::spawn_blocking(move || -> Result<(), LinuxError> {
            cgroups.remove(&sandbox.cgroup)?;
            std::fs::remove_dir_all(&sandbox.dir).map_err(|e| LinuxError::io("removing", &sandbox.dir, e))
        })
        .await
        .map_err(blocking_error)??;
        lock(&self.sandboxes).remove(id);
        Ok(())
    }

    async fn create_container(&self, sandbox_id: &SandboxId, config: &ContainerConfig) -> Result<ContainerId, CriError> {
        let sandbox = self.sandbox(sandbox_id)?;
        let ImageContent::Rootfs { layers: image } = &config.image else {
            return Err(CriError::UnsupportedImage("a wasm module runs on the wasmtime handler, not linux".into()));
        };
        if config.argv.is_empty() {
            return Err(CriError::InvalidConfig(format!("container {:?} has no command and its image no entrypoint", config.name)));
        }
        let identity = self.identity(config)?;
        let id = ContainerId(self.next_id());
        let dir = self.options.state_dir.join("containers").join(&id.0);
        let cgroup = sandbox.cgroup.join(&id.0);
        let limits = CgroupLimits::new(&config.limits, None);
        let pod_limits = self.pod_limits_with(&sandbox, config);
        let (cgroups, image, task_config, etc_files) = (Arc::clone(&self.cgroups), image.clone(), config.clone(), sandbox.etc_files.clone());
        let task_cgroup = cgroup.clone();
        let layer = tokio::task::spawn_blocking(move || -> Result<Layer, LinuxError> {
            let layer = Layer::prepare(&dir, &image)?;
            for (container_path, _) in &etc_files {
                layer.ensure_mount_point(container_path, false)?;
            }
            for mount in &task_config.mounts {
                layer.ensure_mount_point(&mount.container_path, mount.host_path.is_dir())?;
            }
            if let Some(working_dir) = &task_config.working_dir {
                layer.ensure_mount_point(working_dir, true)?;
            }
            // The pod's limits first: cgroup v1 refuses a child CPU quota above its parent's.
            if let Some(pod) = task_cgroup.parent() {
                if let Err(err) = cgroups.set_limits(pod, &pod_limits) {
                    // The container's own limits still hold; the pod's catch up at the next container.
                    tracing::warn!("updating the limits of pod cgroup {}: {err}", pod.display());
                }
            }
            let made = cgroups.create(&task_cgroup).and_then(|()| cgroups.set_limits(&task_cgroup, &limits));
            if let Err(err) = made {
                let _ = cgroups.remove(&task_cgroup);
                let _ = layer.remove();
                return Err(err);
            }
            Ok(layer)
        })
        .await
        .map_err(blocking_error)??;
        let container = Container::new(sandbox_id.clone(), config.clone(), layer, cgroup, identity);
        lock(&self.containers).insert(id.clone(), Arc::new(container));
        sandbox.containers().insert(id.clone());
        Ok(id)
    }

    async fn start_container(&self, id: &ContainerId) -> Result<(), CriError> {
        let container = self.container(id)?;
        if container.phase() != Phase::Created {
            return Err(CriError::FailedPrecondition(format!("container {} was already started", id.0)));
        }
        let sandbox = self.sandbox(&container.sandbox)?;
        let log = LogWriter::create(&self.options.log_hub, &container.config.log_path, self.options.log_rotation)
            .map_err(|e| CriError::Internal(e.to_string()))?;
        let cgroups = Arc::clone(&self.cgroups);
        let task_container = Arc::clone(&container);
        let child = tokio::task::spawn_blocking(move || start_process(&sandbox, &task_container, cgroups.as_ref()))
            .await
            .map_err(blocking_error)?;
        let started = match child {
            Ok(started) => started,
            Err(err) => {
                let _ = log.close();
                return Err(err.into());
            }
        };
        let pid = Pid::from_raw(started.child.id() as i32);
        if !container.mark_running(pid) {
            return Err(CriError::FailedPrecondition(format!("container {} was started twice at once", id.0)));
        }
        Ok(connect_stdio(&container, started, log, Arc::clone(&self.cgroups))?)
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), CriError> {
        let container = self.container(id)?;
        self.stop_and_wait(&container, grace).await;
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), CriError> {
        let Ok(container) = self.container(id) else { return Ok(()) };
        self.stop_and_wait(&container, Duration::ZERO).await;
        let cgroups = Arc::clone(&self.cgroups);
        let task_container = Arc::clone(&container);
        tokio::task::spawn_blocking(move || -> Result<(), LinuxError> {
            cgroups.remove(&task_container.cgroup)?;
            task_container.layer.remove()
        })
        .await
        .map_err(blocking_error)??;
        lock(&self.containers).remove(id);
        if let Ok(sandbox) = self.sandbox(&container.sandbox) {
            sandbox.containers().remove(id);
        }
        Ok(())
    }

    async fn container_state(&self, id: &ContainerId) -> Result<ContainerState, CriError> {
        Ok(self.container(id)?.state())
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ContainerState, CriError> {
        let container = self.container(id)?;
        if container.phase() == Phase::Created {
            return Err(CriError::FailedPrecondition(format!("container {} has not been started", id.0)));
        }
        let mut exited = container.subscribe();
        let state = exited.wait_for(Option::is_some).await.map_err(|_| CriError::Internal("container watcher vanished".into()))?;
        Ok(state.clone().unwrap_or(ContainerState::Created))
    }

    async fn exec(&self, id: &ContainerId, argv: Vec<String>, io: ExecIo) -> Result<i32, CriError> {
        let container = self.container(id)?;
        let Phase::Running { pid, .. } = container.phase() else {
            return Err(CriError::FailedPrecondition(format!("container {} is not running", id.0)));
        };
        if argv.is_empty() {
            return Err(CriError::InvalidConfig("exec needs a command".into()));
        }
        Ok(exec_in(&container, pid, self.cgroups.as_ref(), argv, io).await?)
    }

    async fn attach(&self, id: &ContainerId, io: ExecIo) -> Result<(), CriError> {
        let container = self.container(id)?;
        if !matches!(container.phase(), Phase::Running { .. }) {
            return Err(CriError::FailedPrecondition(format!("container {} is not running", id.0)));
        }
        container
            .attach
            .attach(io, container.subscribe())
            .await
            .map_err(|e| CriError::Io { context: format!("attaching to container {}", id.0), source: e })
    }

    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, CriError> {
        let container = self.container(id)?;
        Ok(self.cgroups.stats(&container.cgroup))
    }
}
