//! The `wasmkube` command: parses the command line and wires the crates
//! together. Nothing else lives here.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wasmkube", version, about = "A Kubernetes-compatible orchestrator for WebAssembly and Linux containers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane (and, unless disabled, the embedded node agent).
    Server(ServerArgs),
    /// Run a node agent that joins a server.
    Agent(AgentArgs),
    /// The node's image store: list, pull, import, remove, garbage-collect.
    Images(images_cmd::ImagesArgs),
    /// Remove what a killed server or agent left: node network namespaces, host routes, Linux pods.
    Cleanup(cleanup::CleanupArgs),
    /// Run a benchmark and print its figures.
    Bench {
        #[command(subcommand)]
        what: BenchCommand,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Where the state, certificates and kubeconfig live.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Address of the HTTPS API.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Datastore: sqlite://PATH (default DATA/state.db).
    #[arg(long)]
    datastore: Option<String>,
    /// Name of the embedded node.
    #[arg(long)]
    node_name: Option<String>,
    /// Registries to reach over plain HTTP (HOST:PORT).
    #[arg(long)]
    insecure_registry: Vec<String>,
    /// Run the control plane only.
    #[arg(long)]
    disable_agent: bool,
    /// Pods the embedded node admits (its `capacity.pods`).
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// Image store size (bytes) above which the node removes unused images, oldest first.
    #[arg(long, default_value_t = 10 << 30)]
    image_gc_max_bytes: u64,
    /// Port of the node's built-in ingress controller on the node address (0 turns it off).
    #[arg(long, default_value_t = 80)]
    ingress_port: u16,
    #[command(flatten)]
    loops: control_loops::LoopArgs,
    #[command(flatten)]
    net: NetArgs,
}

/// The pod network's settings, shared by `server` and `agent`.
#[derive(clap::Args, Clone)]
struct NetArgs {
    /// This node's address on the host: its InternalIP and pods' hostIP, where NodePorts open.
    #[arg(long, default_value = "127.0.0.1")]
    node_ip: std::net::IpAddr,
    /// The pod network of the cluster; each node gets a range of it (`--node-cidr-mask-size`).
    #[arg(long, default_value = runtime::net::node::DEFAULT_CLUSTER_CIDR)]
    cluster_cidr: runtime::net::Ipv4Net,
    /// The ClusterIP range of Services.
    #[arg(long, default_value = runtime::net::node::DEFAULT_SERVICE_CIDR)]
    service_cidr: runtime::net::Ipv4Net,
}

impl NetArgs {
    fn settings(&self) -> runtime::agent::network::NetworkSettings {
        runtime::agent::network::NetworkSettings { node_ip: self.node_ip, cluster_cidr: self.cluster_cidr, service_cidr: self.service_cidr }
    }

    /// Before anything else: the host must never route the cluster's addresses out.
    async fn guard_host(&self) {
        if !runtime::net::host_routes::permitted() {
            tracing::warn!("not root: no unreachable host routes for {} and {}", self.cluster_cidr, self.service_cidr);
            return;
        }
        if let Err(e) = runtime::net::host_routes::install(self.cluster_cidr, self.service_cidr).await {
            tracing::warn!("could not install the host's unreachable routes for the cluster and service CIDRs: {e}");
        }
    }

    /// After a clean stop: the routes go when no other live node needs them.
    async fn release_host(&self) {
        if !runtime::net::host_routes::permitted() {
            return;
        }
        match runtime::net::host_routes::remove_unless_used(self.cluster_cidr, self.service_cidr, None).await {
            Ok(true) => tracing::info!("removed the host's unreachable routes (no other node is running)"),
            Ok(false) => {}
            Err(e) => tracing::warn!("removing the host's unreachable routes: {e}"),
        }
    }
}

#[derive(clap::Args)]
struct AgentArgs {
    /// The API server, e.g. https://127.0.0.1:6443.
    #[arg(long)]
    server: String,
    /// The node join token (the server's DATA/node.token).
    #[arg(long)]
    token_file: PathBuf,
    /// The cluster CA certificate; defaults to pki/ca.crt beside the token file.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// This node's own state: images, pods, logs.
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    node_name: Option<String>,
    /// Registries to reach over plain HTTP (HOST:PORT).
    #[arg(long)]
    insecure_registry: Vec<String>,
    /// Pods this node admits (its `capacity.pods`).
    #[arg(long, default_value_t = 110)]
    max_pods: u32,
    /// Image store size (bytes) above which the node removes unused images, oldest first.
    #[arg(long, default_value_t = 10 << 30)]
    image_gc_max_bytes: u64,
    /// Port of the node's built-in ingress controller on the node address (0 turns it off).
    #[arg(long, default_value_t = 80)]
    ingress_port: u16,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// API server on SQLite: creates/s, large lists, watch latency, store churn, idle RSS.
    Api(bench::api::ApiBenchArgs),
    /// A Deployment of wasm replicas: create -> all Ready on the embedded node.
    Deploy(bench::deploy::BenchDeployArgs),
    /// The scheduler: hollow nodes, a backlog of pending pods -> pods bound per second and spread.
    Scheduler(bench::scheduler::BenchSchedulerArgs),
    /// Image pull + unpack, side by side with skopeo copy + umoci unpack.
    Images(bench::images::BenchImagesArgs),
    /// Wasm pods: create -> Running, cached instantiate, preemption and fuel cost, RSS per idle pod.
    Wasm(bench::wasm::BenchWasmArgs),
    /// Linux pods: create -> Running of a cached busybox pod, side by side with podman kube play and crun.
    Linux(bench::linux::BenchLinuxArgs),
    /// Pod networking: HTTP requests/s and p50/p99 direct to pod IPs and through ClusterIPs (wasm and Linux pods), a wasi-http pod beside `wasmtime serve`.
    Net(bench::net::BenchNetArgs),
}

mod bench;
mod cleanup;
mod control_loops;
mod images_cmd;
mod node;

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WASMKUBE_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => server(args).await,
        Command::Agent(args) => agent(args).await,
        Command::Images(args) => images_cmd::run(args).await,
        Command::Cleanup(args) => cleanup::run(args).await,
        Command::Bench { what: BenchCommand::Api(args) } => bench::api::run(args).await,
        Command::Bench { what: BenchCommand::Deploy(args) } => bench::deploy::run(args).await,
        Command::Bench { what: BenchCommand::Scheduler(args) } => bench::scheduler::run(args).await,
        Command::Bench { what: BenchCommand::Images(args) } => bench::images::run(args).await,
        Command::Bench { what: BenchCommand::Wasm(args) } => bench::wasm::run(args).await,
        Command::Bench { what: BenchCommand::Linux(args) } => bench::linux::run(args).await,
        Command::Bench { what: BenchCommand::Net(args) } => bench::net::run(args).await,
    }
}

async fn server(mut args: ServerArgs) -> anyhow::Result<()> {
    args.net.guard_host().await;
    args.loops.cluster_cidr = args.net.cluster_cidr.to_string();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    control::controllers::nodelifecycle::default_toleration::set(std::time::Duration::from_secs(args.loops.default_eviction_toleration));
    let config = control::server::ServerConfig { data_dir: args.data_dir.clone(), listen: args.listen, datastore: args.datastore };
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(control::server::run(config, until(stopped.clone()), move |running| {
        let kubeconfig = running.kubeconfig.canonicalize().unwrap_or_else(|_| running.kubeconfig.clone());
        println!("wasmkube API server ready on https://{}", running.addr);
        println!("Point kubectl at it:");
        println!("  export KUBECONFIG={}", kubeconfig.display());
        println!("  kubectl get namespaces");
        let _ = ready_tx.send((format!("https://{}", running.addr), running.ca_pem.clone(), running.node_token.clone(), running.kubeconfig.clone(), running.addr));
    }));
    let Ok((url, ca_pem, token, kubeconfig, addr)) = ready_rx.await else {
        return server.await?.context("the API server did not start");
    };
    let loops = {
        let (args, data_dir, stopped) = (args.loops.clone(), args.data_dir.clone(), stopped.clone());
        tokio::spawn(async move {
            if let Err(e) = control_loops::run(args, &kubeconfig, data_dir, addr, stopped).await {
                tracing::error!("{e:#}");
            }
        })
    };
    let node = (!args.disable_agent).then(|| {
        let settings = node::NodeSettings {
            server_url: url,
            ca_pem,
            token,
            data_dir: args.data_dir.clone(),
            node_name: args.node_name.clone(),
            insecure_registries: args.insecure_registry.clone(),
            max_pods: args.max_pods,
            image_gc_max_bytes: args.image_gc_max_bytes,
            network: args.net.settings(),
            ingress_port: args.ingress_port,
        };
        let stopped = stopped.clone();
        // A node that fails is logged; the control plane keeps serving.
        tokio::spawn(async move {
            if let Err(e) = node::run(settings, until(stopped)).await {
                tracing::error!("{e:#}");
            }
        })
    });
    shutdown_signal().await;
    let _ = stop.send(true);
    if let Some(node) = node {
        let _ = node.await;
    }
    let _ = loops.await;
    let result = server.await?.context("the API server stopped");
    args.net.release_host().await;
    result
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    args.net.guard_host().await;
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("reading the token file {}", args.token_file.display()))?
        .trim()
        .to_string();
    let ca_file = args.ca_file.clone().unwrap_or_else(|| {
        args.token_file.parent().unwrap_or(std::path::Path::new(".")).join("pki/ca.crt")
    });
    let ca_pem = std::fs::read_to_string(&ca_file)
        .with_context(|| format!("reading the cluster CA {} (pass --ca-file)", ca_file.display()))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let settings = node::NodeSettings {
        server_url: args.server,
        ca_pem,
        token,
        data_dir: args.data_dir,
        node_name: args.node_name,
        insecure_registries: args.insecure_registry,
        max_pods: args.max_pods,
        image_gc_max_bytes: args.image_gc_max_bytes,
        network: args.net.settings(),
        ingress_port: args.ingress_port,
    };
    let node = tokio::spawn(node::run(settings, until(stopped)));
    shutdown_signal().await;
    let _ = stop.send(true);
    let result = node.await?;
    args.net.release_host().await;
    result
}

/// Resolves once `stop` turns true.
pub(crate) async fn until(mut stopped: tokio::sync::watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
