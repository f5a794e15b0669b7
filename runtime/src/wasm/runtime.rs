//! [`WasmRuntime`]: the `ContainerRuntime` of the `wasmtime` handler, which
//! keeps the node's sandboxes and containers and hands their work to the
//! shared Engines, the program cache and each container's task.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use super::cache::{CacheCounters, ProgramCache};
use super::container::Container;
use super::engine::{start_epoch_ticker, EngineFlavor, EngineKit, Metering};
use super::exec::exec_in;
use super::net::policy::default_cluster_networks;
use super::net::PodNet;
use super::WasmError;
use crate::cri::{
    ContainerConfig, ContainerId, ContainerRuntime, ContainerState, ContainerStats, CriError, ExecIo, ImageContent,
    SandboxConfig, SandboxId, SandboxStatus,
};
use crate::logs::{LogHub, RotationPolicy};
use crate::net::netns::NetNs;

/// How a node runs wasm.
#[derive(Clone, Debug)]
pub struct WasmOptions {
    /// Compiled programs (modules and components) are cached under `<data_dir>/modules`.
    pub data_dir: PathBuf,
    /// Pods this node admits (`status.capacity.pods`).
    pub max_pods: u32,
    /// Instance slots of the pooling allocator (containers and exec instances at once);
    /// `None` allocates every instance on demand.
    pub pool_slots: Option<u32>,
    /// The registry of live logs, shared with the agent that serves `kubectl logs -f`.
    pub log_hub: LogHub,
    pub log_rotation: RotationPolicy,
    /// The networks preview 2 guests may connect and send to (egress is closed beyond them):
    /// the pod and service CIDRs.
    pub cluster_networks: Vec<ipnet::IpNet>,
}

impl WasmOptions {
    /// Kubernetes' default of 110 pods; two pooled slots per pod leave room for sidecars and execs.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        let max_pods = 110;
        WasmOptions {
            data_dir: data_dir.into(),
            max_pods,
            pool_slots: Some(max_pods * 2),
            log_hub: LogHub::new(),
            log_rotation: RotationPolicy::default(),
            cluster_networks: default_cluster_networks(),
        }
    }
}

pub struct WasmRuntime {
    options: WasmOptions,
    epochs: EngineKit,
    fuel: EngineKit,
    cache: Arc<ProgramCache>,
    sandboxes: Mutex<HashMap<SandboxId, Sandbox>>,
    containers: Mutex<HashMap<ContainerId, Arc<Container>>>,
    /// IDs are `<process start>-<counter>`: unique across agent restarts too.
    id_prefix: String,
    next_id: AtomicU64,
}

struct Sandbox {
    config: SandboxConfig,
    containers: BTreeSet<ContainerId>,
    stopped: bool,
    /// Set when the sandbox joined the node's pod network.
    net: Option<Arc<PodNet>>,
}

impl WasmRuntime {
    pub fn new(options: WasmOptions) -> Result<Self, WasmError> {
        let epochs = EngineKit::new(EngineFlavor { epochs: true, fuel: false, pool_slots: options.pool_slots })?;
        // Fuel pods are few: on-demand allocation, so they cost no pool of their own.
        let fuel = EngineKit::new(EngineFlavor { epochs: true, fuel: true, pool_slots: None })?;
        start_epoch_ticker(&[&epochs.engine, &fuel.engine])?;
        let cache = Arc::new(ProgramCache::new(Some(options.data_dir.join("modules")))?);
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        Ok(WasmRuntime {
            options,
            epochs,
            fuel,
            cache,
            sandboxes: Mutex::new(HashMap::new()),
            containers: Mutex::new(HashMap::new()),
            id_prefix: format!("{started:x}"),
            next_id: AtomicU64::new(1),
        })
    }

    pub fn log_hub(&self) -> &LogHub {
        &self.options.log_hub
    }

    pub fn cache_counters(&self) -> CacheCounters {
        self.cache.counters()
    }

    fn next_id(&self) -> String {
        format!("{}-{:x}", self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn container(&self, id: &ContainerId) -> Result<Arc<Container>, CriError> {
        self.containers().get(id).cloned().ok_or_else(|| CriError::ContainerNotFound(id.clone()))
    }

    fn sandboxes(&self) -> MutexGuard<'_, HashMap<SandboxId, Sandbox>> {
        self.sandboxes.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn containers(&self) -> MutexGuard<'_, HashMap<ContainerId, Arc<Container>>> {
        self.containers.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A namespace of the pod's own, joined to the node's pod network.
async fn join_network(config: &SandboxConfig, network: &dyn crate::net::PodNetwork, cluster: &[ipnet::IpNet]) -> Result<PodNet, CriError> {
    let netns = NetNs::new_anonymous().map_err(|source| CriError::Io { context: "creating the pod's network namespace".into(), source })?;
    let ip = network
        .attach(&config.pod_uid, &netns)
        .await
        .map_err(|e| CriError::Internal(format!("joining the pod network: {e}")))?;
    Ok(PodNet::new(netns, ip, config.dns.clone(), &config.ports, cluster.into()))
}

#[async_trait]
impl ContainerRuntime for WasmRuntime {
    fn handler(&self) -> &'static str {
        "wasmtime"
    }

    async fn run_sandbox(&self, config: &SandboxConfig) -> Result<SandboxId, CriError> {
        let admit = |sandboxes: &HashMap<SandboxId, Sandbox>| {
            let live = sandboxes.values().filter(|s| !s.stopped).count();
            if live >= self.options.max_pods as usize {
                return Err(CriError::FailedPrecondition(format!("node is at its capacity of {} pods", self.options.max_pods)));
            }
            Ok(())
        };
        admit(&self.sandboxes())?;
        let net = match &config.network {
            Some(network) => Some(Arc::new(join_network(config, network.as_ref(), &self.options.cluster_networks).await?)),
            None => None,
        };
        let id = SandboxId(self.next_id());
        // Another sandbox may have taken the last place while this one joined the network.
        let admitted = {
            let mut sandboxes = self.sandboxes();
            admit(&sandboxes).map(|()| {
                sandboxes.insert(id.clone(), Sandbox { config: config.clone(), containers: BTreeSet::new(), stopped: false, net });
            })
        };
        if admitted.is_err() {
            if let Some(network) = &config.network {
                network.detach(&config.pod_uid).await;
            }
        }
        admitted.map(|()| id)
    }

    async fn sandbox_status(&self, id: &SandboxId) -> Result<SandboxStatus, CriError> {
        let sandboxes = self.sandboxes();
        let sandbox = sandboxes.get(id).ok_or_else(|| CriError::SandboxNotFound(id.clone()))?;
        Ok(match &sandbox.net {
            Some(net) => SandboxStatus { ip: Some(net.ip), netns: Some(net.netns.clone()) },
            None => SandboxStatus::default(),
        })
    }

    async fn stop_sandbox(&self, id: &SandboxId) -> Result<(), CriError> {
        let members = {
            let mut sandboxes = self.sandboxes();
            let sandbox = sandboxes.get_mut(id).ok_or_else(|| CriError::SandboxNotFound(id.clone()))?;
            sandbox.stopped = true;
            sandbox.containers.clone()
        };
        let containers: Vec<Arc<Container>> = {
            let all = self.containers();
            members.iter().filter_map(|c| all.get(c).cloned()).collect()
        };
        for container in &containers {
            container.stop();
        }
        for container in &containers {
            container.wait().await;
        }
        Ok(())
    }

    async fn remove_sandbox(&self, id: &SandboxId) -> Result<(), CriError> {
        if !self.sandboxes().contains_key(id) {
            // Idempotent, as in the CRI: removing what is gone succeeds.
            return Ok(());
        }
        self.stop_sandbox(id).await?;
        let removed = self.sandboxes().remove(id);
        if let Some(sandbox) = removed {
            {
                let mut containers = self.containers();
                for container in &sandbox.containers {
                    containers.remove(container);
                }
            }
            if let (Some(network), Some(_)) = (&sandbox.config.network, &sandbox.net) {
                // The namespace itself goes when the last socket and the Sandbox let go of it.
                network.detach(&sandbox.config.pod_uid).await;
            }
            tracing::debug!(pod = %sandbox.config.name, namespace = %sandbox.config.namespace, "wasm sandbox removed");
        }
        Ok(())
    }

    async fn create_container(&self, sandbox: &SandboxId, config: &ContainerConfig) -> Result<ContainerId, CriError> {
        let net = match self.sandboxes().get(sandbox) {
            Some(s) if !s.stopped => s.net.clone(),
            _ => return Err(CriError::SandboxNotFound(sandbox.clone())),
        };
        let (digest, bytes) = match &config.image {
            ImageContent::Wasm { digest, bytes } => (digest, bytes),
            ImageContent::Rootfs { .. } => {
                return Err(CriError::UnsupportedImage("a root filesystem image needs the linux runtime".into()));
            }
        };
        if config.argv.is_empty() {
            return Err(CriError::InvalidConfig("argv is empty (argv[0] names the program)".into()));
        }
        let (kit, metering) = match config.limits.fuel {
            Some(_) => (&self.fuel, Metering::Fuel),
            None => (&self.epochs, Metering::Epochs),
        };
        let program = self.cache.prepare(kit, metering, digest, bytes.clone()).await?;
        let id = ContainerId(self.next_id());
        let container = Arc::new(Container::new(id.clone(), sandbox.clone(), config.clone(), program, net));
        // The sandbox may have been stopped while the program compiled.
        let mut sandboxes = self.sandboxes();
        match sandboxes.get_mut(sandbox) {
            Some(s) if !s.stopped => {
                s.containers.insert(id.clone());
            }
            _ => return Err(CriError::SandboxNotFound(sandbox.clone())),
        }
        self.containers().insert(id.clone(), container);
        Ok(id)
    }

    async fn start_container(&self, id: &ContainerId) -> Result<(), CriError> {
        self.container(id)?.start(&self.options.log_hub, self.options.log_rotation)
    }

    async fn stop_container(&self, id: &ContainerId, grace: Duration) -> Result<(), CriError> {
        let container = self.container(id)?;
        container.stop_within(grace).await;
        container.wait().await;
        Ok(())
    }

    async fn remove_container(&self, id: &ContainerId) -> Result<(), CriError> {
        let Ok(container) = self.container(id) else { return Ok(()) };
        container.stop();
        container.wait().await;
        self.containers().remove(id);
        if let Some(sandbox) = self.sandboxes().get_mut(&container.sandbox) {
            sandbox.containers.remove(id);
        }
        Ok(())
    }

    async fn container_state(&self, id: &ContainerId) -> Result<ContainerState, CriError> {
        Ok(self.container(id)?.state())
    }

    async fn wait_container(&self, id: &ContainerId) -> Result<ContainerState, CriError> {
        Ok(self.container(id)?.wait().await)
    }

    async fn exec(&self, id: &ContainerId, argv: Vec<String>, io: ExecIo) -> Result<i32, CriError> {
        let container = self.container(id)?;
        exec_in(&container, argv, io).await
    }

    async fn stats(&self, id: &ContainerId) -> Result<ContainerStats, CriError> {
        let container = self.container(id)?;
        let meters = &container.meters;
        Ok(ContainerStats {
            memory_bytes: meters.memory.granted_bytes(),
            cpu_nanos: meters.cpu_nanos.load(Ordering::Relaxed),
            fuel_consumed: container.config.limits.fuel.map(|_| meters.fuel_consumed.load(Ordering::Relaxed)),
        })
    }
}
