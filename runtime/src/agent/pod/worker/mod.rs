//! One task per pod: observe (pod updates, container exits, probe
//! verdicts) → decide (what to start, restart, stop) → act through the
//! pod's runtime → record status through `pods/status`. Level-triggered: each
//! pass of [`PodWorker::step`] looks at the whole state, so a missed signal
//! only delays work until the next wake-up.

mod ending;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec, PodStatus};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::Api;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::admit::{admit, AdmitError, Admitted};
use super::objects::{env_sources, fetch};
use super::record::{ContainerRecord, Observed, Terminated};
use super::status::{PodFailure, PodView, RestartPolicy};
use crate::agent::backoff::Backoff;
use crate::agent::context::AgentContext;
use crate::agent::events::EventType;
use crate::agent::live::{LiveContainer, LivePod};
use crate::agent::probes::{spawn_probes, ProbeKind, ProbeTarget, ProbeVerdict};
use crate::agent::spec::argv::resolve_argv;
use crate::agent::spec::dns::{parse_resolv_conf, pod_dns};
use crate::agent::spec::downward::NodeFacts;
use crate::agent::spec::env::resolve_env;
use crate::agent::spec::limits::{container_limits, qos_class};
use crate::agent::spec::SpecError;
use crate::agent::volumes::PodVolumes;
use crate::cri::{ContainerConfig, ContainerId, ContainerState, ExitReason, PortMapping, SandboxConfig, SandboxId};
use crate::net::{DnsSettings, PodNetwork};

/// How often projected volumes are re-read (kubelet's sync period is a minute; we are quicker).
const VOLUME_RESYNC: Duration = Duration::from_secs(3);
/// The longest the worker sleeps without looking again.
const IDLE_WAKE: Duration = Duration::from_secs(5);

/// Latest pod object from the watch; `None` once it is gone from the API.
pub type PodUpdates = watch::Receiver<Option<Arc<Pod>>>;

/// A container run ended.
struct Exit {
    name: String,
    id: ContainerId,
    state: ContainerState,
}

struct Slot {
    spec: Container,
    init: bool,
    record: ContainerRecord,
    backoff: Backoff,
    /// When the next run may start (backoff); `None` = now.
    not_before: Option<Instant>,
    run_started: Option<Instant>,
    /// A run ended since the last start: the next start is a restart (a new log file, restartCount + 1).
    ran_before: bool,
    probes: Option<JoinHandle<()>>,
}

/// Every `containerPort` the pod's containers declare (the runtime opens or maps them).
fn container_ports(spec: &PodSpec) -> Vec<PortMapping> {
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            Some(PortMapping {
                container_port: u16::try_from(p.container_port).ok().filter(|port| *port > 0)?,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                name: p.name.clone(),
            })
        })
        .collect()
}

/// The node's own resolver settings (`dnsPolicy: Default`).
fn host_dns() -> DnsSettings {
    parse_resolv_conf(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
}

/// Runs one pod until it is deleted.
pub async fn run_pod(ctx: Arc<AgentContext>, updates: PodUpdates) {
    let Some(pod) = updates.borrow().clone() else { return };
    let mut worker = PodWorker::new(ctx, pod);
    worker.run(updates).await;
}

struct PodWorker {
    ctx: Arc<AgentContext>,
    pod: Arc<Pod>,
    uid: String,
    namespace: String,
    name: String,
    policy: RestartPolicy,
    slots: Vec<Slot>,
    admitted: Option<Admitted>,
    admit_backoff: Backoff,
    next_admit: Option<Instant>,
    sandbox: Option<SandboxId>,
    /// The sandbox's address on the pod network (`status.podIP`).
    pod_ip: Option<String>,
    /// The sandbox of a finished pod is stopped (its namespaces and holder
    /// released) but kept until the pod is deleted, as a kubelet keeps its logs.
    sandbox_stopped: bool,
    volumes: Option<PodVolumes>,
    last_volume_sync: Instant,
    failure: Option<PodFailure>,
    start_time: Timestamp,
    last_status: Option<PodStatus>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits_rx: mpsc::UnboundedReceiver<Exit>,
    probes_tx: mpsc::UnboundedSender<ProbeVerdict>,
    probes_rx: mpsc::UnboundedReceiver<ProbeVerdict>,
}

impl PodWorker {
    fn new(ctx: Arc<AgentContext>, pod: Arc<Pod>) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let find = |list: &Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>, name: &str| {
            list.iter().flatten().find(|s| s.name == name).cloned()
        };
        let mut slots = Vec::new();
        for (init, container) in spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| (true, c))
            .chain(spec.containers.iter().map(|c| (false, c)))
        {
            let previous = if init { find(&status.init_container_statuses, &container.name) } else { find(&status.container_statuses, &container.name) };
            let record = ContainerRecord::resume(&container.name, container.image.as_deref().unwrap_or_default(), previous.as_ref());
            // A run that ended before an agent restart and is due to run again restarts now.
            let policy = RestartPolicy::parse(spec.restart_policy.as_deref());
            let (ran_before, not_before) = match &record.state {
                Observed::Terminated(t) if (init && policy.restarts_init(t.exit_code)) || (!init && policy.restarts(t.exit_code)) => {
                    (true, Some(Instant::now()))
                }
                Observed::Terminated(_) => (true, None),
                _ => (false, None),
            };
            slots.push(Slot {
                spec: container.clone(),
                init,
                record,
                backoff: Backoff::default(),
                not_before,
                run_started: None,
                ran_before,
                probes: None,
            });
        }
        let terminal = matches!(status.phase.as_deref(), Some("Succeeded" | "Failed"));
        let failure = terminal.then(|| PodFailure {
            reason: status.reason.clone().unwrap_or_default(),
            message: status.message.clone().unwrap_or_default(),
        }).filter(|f| !f.reason.is_empty());
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let (probes_tx, probes_rx) = mpsc::unbounded_channel();
        let pod_ip = pod.status.as_ref().and_then(|s| s.pod_ip.clone()).filter(|ip| !ip.is_empty());
        PodWorker {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            name: pod.metadata.name.clone().unwrap_or_default(),
            policy: RestartPolicy::parse(spec.restart_policy.as_deref()),
            start_time: status.start_time.map(|t| t.0).unwrap_or_else(Timestamp::now),
            last_status: pod.status.clone(),
            ctx,
            pod,
            slots,
            admitted: None,
            admit_backoff: Backoff::default(),
            next_admit: None,
            sandbox: None,
            pod_ip,
            sandbox_stopped: false,
            volumes: None,
            last_volume_sync: Instant::now(),
            failure,
            exits_tx,
            exits_rx,
            probes_tx,
            probes_rx,
        }
    }

    fn api(&self) -> Api<Pod> {
        Api::namespaced(self.ctx.client.clone(), &self.namespace)
    }

    fn pod_dir(&self) -> PathBuf {
        self.ctx.pod_dir(&self.uid)
    }

    /// The pod finished (Succeeded/Failed): nothing runs again.
    fn finished(&self) -> bool {
        matches!(self.with_view(|v| v.phase()), "Succeeded" | "Failed")
    }

    fn with_view<R>(&self, f: impl FnOnce(&PodView<'_>) -> R) -> R {
        let init: Vec<ContainerRecord> = self.slots.iter().filter(|s| s.init).map(|s| s.record.clone()).collect();
        let main: Vec<ContainerRecord> = self.slots.iter().filter(|s| !s.init).map(|s| s.record.clone()).collect();
        let spec = self.pod.spec.clone().unwrap_or_default();
        let view = PodView {
            restart_policy: self.policy,
            init: &init,
            containers: &main,
            failure: self.failure.as_ref(),
            start_time: self.start_time,
            host_ip: &self.ctx.node.host_ip,
            pod_ip: self.pod_ip.as_deref(),
            qos_class: qos_class(&spec),
        };
        f(&view)
    }

    async fn run(&mut self, mut updates: PodUpdates) {
        self.register_live();
        loop {
            if self.pod.metadata.deletion_timestamp.is_some() {
                self.terminate(true).await;
                return;
            }
            self.step().await;
            let wake = self.next_wake();
            tokio::select! {
                changed = updates.changed() => {
                    let latest = if changed.is_ok() { updates.borrow().clone() } else { None };
                    match latest {
                        Some(pod) => self.pod = pod,
                        None => {
                            // Gone from the API without our final delete (a forced deletion).
                            self.terminate(false).await;
                            return;
                        }
                    }
                }
                Some(exit) = self.exits_rx.recv() => self.on_exit(exit).await,
                Some(verdict) = self.probes_rx.recv() => self.on_probe(verdict).await,
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }
}


impl PodWorker {
    fn register_live(&self) {
        let (uid, log_dir) = (self.uid.clone(), self.pod_dir().join("logs"));
        let runtime = self.admitted.as_ref().map(|a| a.runtime.clone());
        let sandbox = self.sandbox.clone();
        let containers: HashMap<String, LiveContainer> = self
            .slots
            .iter()
            .map(|s| (s.record.name.clone(), LiveContainer { id: s.record.id.clone(), restart: s.record.restart_count }))
            .collect();
        self.ctx.live.update(
            &self.namespace,
            &self.name,
            || LivePod { uid: uid.clone(), runtime: None, sandbox: None, log_dir: log_dir.clone(), containers: HashMap::new() },
            |live| {
                if live.uid != uid {
                    *live = LivePod { uid: uid.clone(), runtime: None, sandbox: None, log_dir: log_dir.clone(), containers: HashMap::new() };
                }
                live.runtime = runtime;
                live.sandbox = sandbox;
                live.containers = containers;
            },
        );
    }

    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now + IDLE_WAKE;
        let due = self.slots.iter().filter_map(|s| s.not_before).chain(self.next_admit);
        for at in due {
            wake = wake.min(at.max(now));
        }
        if let Some(deadline) = self.deadline() {
            wake = wake.min(deadline.max(now));
        }
        wake
    }

    /// When activeDeadlineSeconds runs out, counted from the pod's start time.
    fn deadline(&self) -> Option<Instant> {
        let seconds = self.pod.spec.as_ref()?.active_deadline_seconds?;
        let elapsed = Timestamp::now().duration_since(self.start_time).unsigned_abs();
        let limit = Duration::from_secs(u64::try_from(seconds).ok()?);
        Some(Instant::now() + limit.saturating_sub(elapsed))
    }

    /// One level-triggered pass.
    async fn step(&mut self) {
        if self.failure.is_none() && !self.finished() {
            if self.deadline().is_some_and(|d| d <= Instant::now()) {
                let seconds = self.pod.spec.as_ref().and_then(|s| s.active_deadline_seconds).unwrap_or_default();
                let message = format!("Pod was active on the node longer than the specified deadline of {seconds}s");
                self.ctx.recorder.record(&self.pod, None, EventType::Normal, "DeadlineExceeded", message.clone());
                self.failure = Some(PodFailure { reason: "DeadlineExceeded".into(), message });
                self.stop_all(Duration::ZERO).await;
            } else {
                // Admission and the first start in one pass: no status write and
                // watch round trip between creating the sandbox and starting.
                if self.sandbox.is_none() {
                    self.admit_pod().await;
                }
                if self.sandbox.is_some() {
                    self.sync_volumes().await;
                    self.start_due().await;
                }
            }
        }
        if !self.sandbox_stopped && (self.failure.is_some() || self.finished()) && self.nothing_running() {
            self.stop_finished_sandbox().await;
        }
        self.write_status().await;
    }

    fn nothing_running(&self) -> bool {
        !self.slots.iter().any(|s| matches!(s.record.state, Observed::Running { .. }))
    }

    /// A pod that will not run again gives back what its sandbox holds.
    async fn stop_finished_sandbox(&mut self) {
        let (Some(admitted), Some(sandbox)) = (&self.admitted, &self.sandbox) else { return };
        match admitted.runtime.stop_sandbox(sandbox).await {
            Ok(()) => self.sandbox_stopped = true,
            Err(err) => tracing::warn!(pod = %self.name, error = %err, "stopping the sandbox of a finished pod"),
        }
    }

    async fn admit_pod(&mut self) {
        if self.next_admit.is_some_and(|at| at > Instant::now()) {
            return;
        }
        let admitted = match admit(&self.ctx, &self.pod).await {
            Ok(admitted) => admitted,
            Err(err) => {
                let (reason, container) = match &err {
                    AdmitError::Pull { reason, container, .. } => (reason.as_str().to_string(), Some(container.clone())),
                    AdmitError::NoRuntime(_) => ("RuntimeNotAvailable".to_string(), None),
                };
                let delay = self.admit_backoff.next_delay(Duration::ZERO).max(Duration::from_secs(1));
                self.next_admit = Some(Instant::now() + delay);
                if matches!(err, AdmitError::NoRuntime(_)) {
                    self.ctx.recorder.record(&self.pod, None, EventType::Warning, "FailedCreatePodSandBox", err.to_string());
                }
                for slot in &mut self.slots {
                    if container.as_ref().is_none_or(|c| *c == slot.record.name) {
                        slot.record.state = Observed::Waiting { reason: reason.clone(), message: Some(err.to_string()) };
                    }
                }
                return;
            }
        };
        for slot in &mut self.slots {
            if let Some(image) = admitted.images.get(&slot.record.image) {
                slot.record.image_id = image.image_id.clone();
            }
        }
        let objects = match fetch(&self.ctx.client, &self.pod).await {
            Ok(objects) => objects,
            Err(err) => {
                self.next_admit = Some(Instant::now() + Duration::from_secs(2));
                tracing::warn!(pod = %self.name, error = %err, "reading the pod's ConfigMaps and Secrets");
                return;
            }
        };
        let pod_dir = self.pod_dir();
        let volumes = match PodVolumes::prepare(&pod_dir, &self.pod, &objects, &self.ctx.node) {
            Ok(volumes) => volumes,
            Err(err) => {
                self.next_admit = Some(Instant::now() + Duration::from_secs(2));
                self.ctx.recorder.record(&self.pod, None, EventType::Warning, "FailedMount", err.to_string());
                return;
            }
        };
        let spec = self.pod.spec.clone().unwrap_or_default();
        let sandbox_config = SandboxConfig {
            pod_uid: self.uid.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            hostname: spec.hostname.clone().unwrap_or_else(|| self.name.clone()),
            log_dir: pod_dir.join("logs"),
            ports: container_ports(&spec),
            labels: {
                // The Linux runtime files the pod's cgroup under its QoS class.
                let mut labels = self.pod.metadata.labels.clone().unwrap_or_default();
                let qos = self.pod.status.as_ref().and_then(|s| s.qos_class.clone()).unwrap_or_else(|| "BestEffort".into());
                labels.insert(crate::cri::QOS_CLASS_LABEL.to_string(), qos);
                labels
            },
            network: self.ctx.network.clone().map(|n| n as Arc<dyn PodNetwork>),
            dns: pod_dns(&self.pod, self.ctx.network.as_ref().map(|n| IpAddr::V4(n.cluster_dns())), &host_dns()),
        };
        match admitted.runtime.run_sandbox(&sandbox_config).await {
            Ok(sandbox) => {
                self.pod_ip = match admitted.runtime.sandbox_status(&sandbox).await {
                    Ok(status) => status.ip.map(|ip| ip.to_string()),
                    Err(err) => {
                        tracing::warn!(pod = %self.name, error = %err, "reading the sandbox's address");
                        None
                    }
                };
                self.sandbox = Some(sandbox);
                self.volumes = Some(volumes);
                self.admitted = Some(admitted);
                self.last_volume_sync = Instant::now();
                self.register_live();
            }
            Err(err) => {
                self.next_admit = Some(Instant::now() + Duration::from_secs(2));
                let message = format!("Failed to create pod sandbox: {err}");
                self.ctx.recorder.record(&self.pod, None, EventType::Warning, "FailedCreatePodSandBox", message);
            }
        }
    }

    /// Re-projects configMap/secret/downwardAPI volumes so running containers see updates.
    async fn sync_volumes(&mut self) {
        if self.last_volume_sync.elapsed() < VOLUME_RESYNC {
            return;
        }
        self.last_volume_sync = Instant::now();
        let Some(volumes) = &self.volumes else { return };
        let objects = match fetch(&self.ctx.client, &self.pod).await {
            Ok(objects) => objects,
            Err(err) => {
                tracing::debug!(pod = %self.name, error = %err, "volume resync skipped");
                return;
            }
        };
        if let Err(err) = volumes.refresh(&self.pod, &objects, &self.ctx.node) {
            tracing::warn!(pod = %self.name, error = %err, "volume resync failed");
        }
    }

    /// Starts what should run now: the first unfinished init container, or
    /// (once all init containers succeeded) every regular container that is
    /// not running and whose backoff has passed.
    async fn start_due(&mut self) {
        let now = Instant::now();
        // Terminated runs restart only when on_exit scheduled it; waiting ones start when due.
        let due = |slot: &Slot| match &slot.record.state {
            Observed::Running { .. } => false,
            Observed::Terminated(_) => slot.not_before.is_some_and(|at| at <= now),
            Observed::Waiting { .. } => slot.not_before.is_none_or(|at| at <= now),
        };
        if let Some(index) = self.slots.iter().position(|s| s.init && !s.record.succeeded()) {
            if due(&self.slots[index]) {
                self.start(index).await;
            }
            return;
        }
        for index in 0..self.slots.len() {
            if !self.slots[index].init && due(&self.slots[index]) {
                self.start(index).await;
            }
        }
    }

    async fn start(&mut self, index: usize) {
        let (Some(admitted), Some(sandbox), Some(volumes)) = (&self.admitted, &self.sandbox, &self.volumes) else { return };
        let runtime = admitted.runtime.clone();
        let handler = admitted.handler;
        let spec = self.slots[index].spec.clone();
        let image_name = spec.image.clone().unwrap_or_default();
        let Some(image) = admitted.images.get(&image_name).cloned() else { return };
        // The run index names the log file: a restart writes `<n+1>.log` and keeps `<n>.log` for --previous.
        let run_index = self.slots[index].record.restart_count + i32::from(self.slots[index].ran_before);
        let config = match self.container_config(&spec, &image, volumes, run_index).await {
            Ok(config) => config,
            Err(message) => {
                let slot = &mut self.slots[index];
                slot.record.state = Observed::Waiting { reason: "CreateContainerConfigError".into(), message: Some(message.clone()) };
                slot.not_before = Some(Instant::now() + Duration::from_secs(2));
                let event = format!("Error: {message}");
                self.ctx.recorder.record(&self.pod, Some(&spec.name), EventType::Warning, "Failed", event);
                return;
            }
        };
        let created = runtime.create_container(sandbox, &config).await;
        let id = match created {
            Ok(id) => id,
            // The spec asks for something this runtime refuses (runAsNonRoot with a root
            // image, a bad mount): a configuration error, as the kubelet reports it.
            Err(err @ crate::cri::CriError::InvalidConfig(_)) => {
                return self.start_failed(index, "CreateContainerConfigError", err.to_string()).await
            }
            Err(err) => return self.start_failed(index, "CreateContainerError", err.to_string()).await,
        };
        self.ctx.recorder.record(&self.pod, Some(&spec.name), EventType::Normal, "Created", format!("Created container {}", spec.name));
        if let Err(err) = runtime.start_container(&id).await {
            let _ = runtime.remove_container(&id).await;
            return self.start_failed(index, "RunContainerError", err.to_string()).await;
        }
        self.ctx.recorder.record(&self.pod, Some(&spec.name), EventType::Normal, "Started", format!("Started container {}", spec.name));

        let slot = &mut self.slots[index];
        if let Observed::Terminated(previous) = &slot.record.state {
            slot.record.last_terminated = Some(previous.clone());
        }
        if run_index > slot.record.restart_count {
            slot.record.restart_count = run_index;
        }
        slot.record.id = Some(id.clone());
        slot.record.container_id = Some(format!("{handler}://{}", id.0));
        slot.record.state = Observed::Running { started_at: Timestamp::now() };
        slot.record.ready = false;
        slot.record.started = false;
        slot.not_before = None;
        slot.ran_before = false;
        slot.run_started = Some(Instant::now());
        if !slot.init {
            let target = ProbeTarget::new(runtime.clone(), self.sandbox.clone(), self.ctx.network.as_ref().map(|n| n.netns().clone()));
            slot.probes = Some(spawn_probes(runtime.clone(), id.clone(), &spec, target, self.probes_tx.clone()));
        } else {
            slot.record.started = true;
        }
        let exits = self.exits_tx.clone();
        let name = spec.name.clone();
        tokio::spawn(async move {
            let state = match runtime.wait_container(&id).await {
                Ok(state) => state,
                Err(err) => {
                    let now = SystemTime::now();
                    let message = Some(format!("lost track of the container: {err}"));
                    ContainerState::Exited { code: 255, reason: ExitReason::Error, message, started_at: now, finished_at: now }
                }
            };
            let _ = exits.send(Exit { name, id, state });
        });
        self.register_live();
    }

    async fn start_failed(&mut self, index: usize, reason: &str, message: String) {
        let slot = &mut self.slots[index];
        let delay = slot.backoff.next_delay(Duration::ZERO).max(Duration::from_secs(1));
        slot.not_before = Some(Instant::now() + delay);
        slot.record.state = Observed::Waiting { reason: reason.into(), message: Some(message.clone()) };
        let name = slot.record.name.clone();
        self.ctx.recorder.record(&self.pod, Some(&name), EventType::Warning, "Failed", format!("Error: {message}"));
    }

    /// Everything the runtime needs for one run of `container`; the error is the waiting message.
    async fn container_config(
        &self,
        container: &Container,
        image: &super::admit::PulledImage,
        volumes: &PodVolumes,
        run_index: i32,
    ) -> Result<ContainerConfig, String> {
        let objects = fetch(&self.ctx.client, &self.pod).await.map_err(|e| format!("reading ConfigMaps and Secrets: {e}"))?;
        let facts = NodeFacts { pod_ip: self.pod_ip.clone().unwrap_or_default(), ..self.ctx.node.clone() };
        let env = resolve_env(&self.pod, container, &image.env, &env_sources(&objects), &facts).map_err(|e| e.to_string())?;
        let env_map: HashMap<String, String> = env.iter().cloned().collect();
        let mut argv = resolve_argv(container.command.as_deref(), container.args.as_deref(), &image.command, &env_map);
        if argv.is_empty() {
            // A wasm module needs no entrypoint to run: argv[0] is only its name. Other images must say what to run.
            match image.content {
                crate::cri::ImageContent::Wasm { .. } => argv.push(container.name.clone()),
                crate::cri::ImageContent::Rootfs { .. } => return Err(SpecError::NoCommand.to_string()),
            }
        }
        let limits = container_limits(container).map_err(|e| e.to_string())?;
        let mounts = volumes.mounts_for(&self.pod, container).map_err(|e| e.to_string())?;
        let log_path = self.pod_dir().join("logs").join(&container.name).join(format!("{run_index}.log"));
        let security = container.security_context.as_ref();
        Ok(ContainerConfig {
            name: container.name.clone(),
            image: image.content.clone(),
            argv,
            env,
            working_dir: container.working_dir.clone().filter(|d| !d.is_empty()).or_else(|| image.working_dir.clone()),
            mounts,
            limits,
            log_path,
            stdin: container.stdin == Some(true),
            stdin_once: container.stdin_once == Some(true),
            tty: container.tty == Some(true),
            security: crate::cri::SecurityConfig {
                run_as_user: security.and_then(|s| s.run_as_user).and_then(|u| u32::try_from(u).ok()),
                run_as_group: security.and_then(|s| s.run_as_group).and_then(|g| u32::try_from(g).ok()),
                run_as_non_root: security.and_then(|s| s.run_as_non_root) == Some(true),
                read_only_root_fs: security.and_then(|s| s.read_only_root_filesystem) == Some(true),
                privileged: security.and_then(|s| s.privileged) == Some(true),
                allow_privilege_escalation: security.and_then(|s| s.allow_privilege_escalation) != Some(false),
                add_capabilities: security.and_then(|s| s.capabilities.as_ref()).and_then(|c| c.add.clone()).unwrap_or_default(),
                drop_capabilities: security.and_then(|s| s.capabilities.as_ref()).and_then(|c| c.drop.clone()).unwrap_or_default(),
                seccomp_unconfined: security
                    .and_then(|s| s.seccomp_profile.as_ref())
                    .or_else(|| self.pod.spec.as_ref()?.security_context.as_ref()?.seccomp_profile.as_ref())
                    .is_some_and(|p| p.type_ == "Unconfined"),
            },
        })
    }
}
