//! The node agent (kubelet). It is an API client and nothing more: it
//! registers its Node and keeps a Lease, watches the pods bound to it and
//! drives each through the runtime its handler names, and serves logs and
//! exec for the API server over its own HTTPS endpoint.
//!
//! - [`node`], [`lease`], [`host`]: the Node object and its heartbeat.
//! - [`pod`]: per-pod workers (admission, records, status) and the watch that feeds them.
//! - [`spec`]: argv, env, limits, Downward API and QoS from the pod spec (pure).
//! - [`volumes`]: emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes.
//! - [`probes`], [`backoff`], [`events`]: exec probes, CrashLoopBackOff, Events.
//! - [`server`]: `/containerLogs`, `/exec` (WebSocket v5) and `/healthz`.

pub mod backoff;
pub mod client;
pub mod context;
pub mod dns;
pub mod error;
pub mod events;
pub mod host;
pub mod image_gc;
pub mod ingress;
mod lease;
pub mod live;
pub mod network;
pub mod node;
pub mod pod;
pub mod probes;
pub mod proxy;
pub mod server;
pub mod spec;
#[cfg(test)]
mod test_http;
pub mod volumes;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use error::AgentError;

use crate::cri::ContainerRuntime;
use crate::logs::LogHub;

/// How to run one node agent.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub server_url: String,
    /// The cluster CA (PEM) the API server's certificate chains to.
    pub ca_pem: String,
    /// This node's bearer token: presented to the API server, and required from it.
    pub token: String,
    pub data_dir: PathBuf,
    pub node_name: String,
    /// Registries (`host:port`) reached over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Where the agent's HTTPS server listens (`127.0.0.1:0` picks a port).
    pub listen: SocketAddr,
    pub max_pods: u32,
    /// The log registry the runtimes write through (pass the same hub to
    /// `WasmOptions::log_hub`), so `kubectl logs -f` follows live output.
    pub log_hub: LogHub,
    /// Size of the image store above which unused images are removed.
    pub image_gc_max_bytes: u64,
    /// The node's address (InternalIP, hostIP) and the cluster's pod and service CIDRs.
    pub network: network::NetworkSettings,
    /// Port of the built-in ingress controller on the node address; 0 turns it off.
    pub ingress_port: u16,
}

/// Where the built-in ingress controller listens and dials from.
fn ingress_settings(config: &AgentConfig, network: Option<&Arc<crate::net::NodeNetwork>>) -> ingress::IngressSettings {
    ingress::IngressSettings { node_ip: config.network.node_ip, port: config.ingress_port, node_netns: network.map(|n| n.netns().clone()) }
}

/// Runs the agent until `shutdown` resolves.
pub async fn run(
    config: AgentConfig,
    runtimes: Vec<Arc<dyn ContainerRuntime>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    let mut shutdown = std::pin::pin!(shutdown);
    if runtimes.is_empty() {
        return Err(AgentError::NoRuntime);
    }
    let client = client::build_client(&config.server_url, &config.ca_pem, &config.token)?;
    let pods_dir = config.data_dir.join("pods");
    std::fs::create_dir_all(&pods_dir).map_err(AgentError::io(&pods_dir))?;
    let registry = images::RegistryOptions { insecure: config.insecure_registries.clone(), ..Default::default() };
    let images = images::ImageService::open(&config.data_dir, registry).map_err(AgentError::Images)?;
    // Air-gapped nodes: archives dropped into DATA/images/import/ are imported at start.
    let import_dir = config.data_dir.join("images").join("import");
    for (path, result) in images.import_dir(&import_dir).await {
        match result {
            Ok(records) => {
                for r in records {
                    tracing::info!(image = %r.name, from = %path.display(), "imported image");
                }
            }
            Err(e) => tracing::warn!(from = %path.display(), error = %e, "could not import image"),
        }
    }

    let cert = server::tls::self_signed(&config.node_name)?;
    let listener = std::net::TcpListener::bind(config.listen).map_err(AgentError::Serve)?;
    listener.set_nonblocking(true).map_err(AgentError::Serve)?;
    let port = listener.local_addr().map_err(AgentError::Serve)?.port();

    let runtimes: std::collections::HashMap<&'static str, Arc<dyn ContainerRuntime>> =
        runtimes.into_iter().map(|rt| (rt.handler(), rt)).collect();
    let mut handlers: Vec<&'static str> = runtimes.keys().copied().collect();
    handlers.sort_unstable();
    let host = host::HostFacts::read();
    let identity = node::NodeIdentity {
        name: config.node_name.clone(),
        handlers,
        max_pods: config.max_pods,
        agent_port: port,
        cert_sha256: cert.sha256.clone(),
        host: host.clone(),
        data_dir: config.data_dir.clone(),
        node_ip: config.network.node_ip,
    };
    let live = live::LivePods::default();
    let state = server::AgentState { token: config.token.as_str().into(), live: live.clone(), log_hub: config.log_hub.clone() };
    let tls = tls_config(&cert)?;
    let handle = axum_server::Handle::new();
    let serve = axum_server::from_tcp_rustls(listener, tls).handle(handle.clone()).serve(server::app(state).into_make_service());

    let registered = node::register(&client, &identity).await?;
    if let Err(err) = lease::renew(&client, &registered).await {
        tracing::warn!(error = %err, "first lease renewal failed; retrying in the background");
    }
    tracing::info!(node = %config.node_name, port, "node agent registered");
    // Pods start only once the node's pod network is there (or known to be impossible).
    let network = tokio::select! {
        network = network::start(&client, &config.node_name, &config.network) => network,
        () = &mut shutdown => return Ok(()),
    };

    let ctx = Arc::new(context::AgentContext {
        client: client.clone(),
        node: spec::downward::NodeFacts {
            node_name: config.node_name.clone(),
            host_ip: config.network.node_ip.to_string(),
            // Each pod's own, from its sandbox; none without a pod network.
            pod_ip: String::new(),
            cpu_millis: host.cpus * 1000,
            memory_bytes: host.memory_bytes,
        },
        data_dir: config.data_dir.clone(),
        runtimes,
        images: Arc::new(images),
        recorder: events::Recorder::new(client.clone(), &config.node_name),
        live,
        log_hub: config.log_hub.clone(),
        services: proxy::ServiceTable::default(),
        network: network.clone(),
    });
    let live_pods = ctx.live.clone();
    let result = tokio::select! {
        served = serve => served.map_err(AgentError::Serve),
        () = node::keep_status(client.clone(), identity) => Ok(()),
        () = lease::keep_renewing(client.clone(), registered) => Ok(()),
        () = image_gc::keep_collecting(ctx.clone(), config.image_gc_max_bytes) => Ok(()),
        () = proxy::run(ctx.clone()) => Ok(()),
        () = ingress::run(client.clone(), ctx.services.clone(), ingress_settings(&config, ctx.network.as_ref())) => Ok(()),
        () = pod::manager::manage_pods(ctx) => Ok(()),
        () = &mut shutdown => Ok(()),
    };
    handle.graceful_shutdown(Some(Duration::from_secs(1)));
    // This agent adopts no running pod when it starts again, so a pod left running
    // now would be nobody's: a clean stop ends them all, then their network.
    stop_every_pod(&live_pods).await;
    if let Some(network) = network {
        network.shutdown().await;
    }
    result
}

/// Stops and removes the sandbox of every live pod, all at once, each given
/// [`SHUTDOWN_GRACE`] before its containers are killed.
async fn stop_every_pod(live: &live::LivePods) {
    let stops = live.all().into_iter().filter_map(|pod| {
        let (runtime, sandbox) = (pod.runtime?, pod.sandbox?);
        Some(async move {
            for container in pod.containers.values().filter_map(|c| c.id.clone()) {
                let _ = runtime.stop_container(&container, SHUTDOWN_GRACE).await;
            }
            if let Err(e) = runtime.stop_sandbox(&sandbox).await {
                tracing::warn!(pod = %pod.uid, error = %e, "could not stop a pod at shutdown");
            }
            let _ = runtime.remove_sandbox(&sandbox).await;
        })
    });
    futures::future::join_all(stops).await;
}

/// How long a pod's containers get to stop when the agent shuts down.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// TLS for the agent's server: HTTP/1.1 only (exec upgrades to a WebSocket).
fn tls_config(cert: &server::tls::ServingCert) -> Result<axum_server::tls_rustls::RustlsConfig, AgentError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |e: &dyn std::fmt::Display| AgentError::Certificate(e.to_string());
    let certs = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e))?;
    let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).map_err(|e| bad(&e))?;
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e))?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(tls)))
}
