//! Wiring of a node: the runtimes this machine can offer and the agent that
//! drives them, for the embedded node of `wasmkube server` and for
//! `wasmkube agent`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use runtime::agent::{self, AgentConfig};
use runtime::cri::ContainerRuntime;
use runtime::linux::{LinuxOptions, LinuxRuntime};
use runtime::logs::LogHub;
use runtime::wasm::{WasmOptions, WasmRuntime};

/// What a node needs to know to join a cluster.
pub struct NodeSettings {
    pub server_url: String,
    pub ca_pem: String,
    pub token: String,
    pub data_dir: PathBuf,
    pub node_name: Option<String>,
    pub insecure_registries: Vec<String>,
    /// Pods the node admits (`capacity.pods`); the wasm pool is sized from it.
    pub max_pods: u32,
    /// Image store size above which unused images are removed, oldest first.
    pub image_gc_max_bytes: u64,
    /// The node's address and the cluster's pod and service CIDRs.
    pub network: runtime::agent::network::NetworkSettings,
    /// Port of the built-in ingress controller on the node address (0: off).
    pub ingress_port: u16,
}

/// This machine's host name, the default node name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_lowercase())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "wasmkube-node".to_string())
}

/// Run a node agent with every runtime available here until `shutdown`.
pub async fn run(settings: NodeSettings, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let log_hub = LogHub::new();
    let max_pods = settings.max_pods.max(1);
    let mut wasm_options = WasmOptions::new(settings.data_dir.clone());
    wasm_options.max_pods = max_pods;
    // Two pooled instance slots per pod leave room for sidecars and execs.
    wasm_options.pool_slots = Some(max_pods.saturating_mul(2));
    wasm_options.log_hub = log_hub.clone();
    // Guests may reach the cluster's own networks only, as the flags define them.
    wasm_options.cluster_networks = vec![settings.network.cluster_cidr.into(), settings.network.service_cidr.into()];
    let wasm = WasmRuntime::new(wasm_options).context("starting the wasm runtime")?;
    let mut runtimes: Vec<Arc<dyn ContainerRuntime>> = vec![Arc::new(wasm)];
    // Linux containers need root, namespaces and cgroups: a node without them
    // (an unprivileged edge device) serves wasm pods only, and says why.
    let mut linux_options = LinuxOptions::new(settings.data_dir.join("linux"));
    linux_options.log_hub = log_hub.clone();
    match LinuxRuntime::new(linux_options) {
        Ok(linux) => runtimes.push(Arc::new(linux)),
        Err(e) => tracing::warn!("this node runs wasm pods only: the linux runtime is unavailable: {e}"),
    }
    let config = AgentConfig {
        server_url: settings.server_url,
        ca_pem: settings.ca_pem,
        token: settings.token,
        data_dir: settings.data_dir,
        node_name: settings.node_name.unwrap_or_else(host_name),
        insecure_registries: settings.insecure_registries,
        // The API server reaches the agent at the node's InternalIP.
        listen: SocketAddr::new(settings.network.node_ip, 0),
        max_pods,
        log_hub,
        image_gc_max_bytes: settings.image_gc_max_bytes,
        network: settings.network,
        ingress_port: settings.ingress_port,
    };
    agent::run(config, runtimes, shutdown).await.context("the node agent stopped")
}
