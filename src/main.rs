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
}

#[derive(clap::Args)]
struct AgentArgs {
    #[arg(long)]
    server: String,
    #[arg(long)]
    token_file: PathBuf,
    #[arg(long)]
    data_dir: PathBuf,
    #[arg(long)]
    node_name: Option<String>,
    #[arg(long)]
    insecure_registry: Vec<String>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// API server on SQLite: creates/s, large lists, watch latency, store churn, idle RSS.
    Api(bench::api::ApiBenchArgs),
    /// Image pull + unpack, side by side with skopeo copy + umoci unpack.
    Images(bench::images::BenchImagesArgs),
}

mod bench;
mod images_cmd;

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
        Command::Agent(_) => anyhow::bail!(
            "the node agent is not part of this build yet: run `wasmkube server` (a control plane without nodes)"
        ),
        Command::Images(args) => images_cmd::run(args).await,
        Command::Bench { what: BenchCommand::Api(args) } => bench::api::run(args).await,
        Command::Bench { what: BenchCommand::Images(args) } => bench::images::run(args).await,
    }
}

async fn server(args: ServerArgs) -> anyhow::Result<()> {
    if args.node_name.is_some() || !args.insecure_registry.is_empty() {
        tracing::warn!("--node-name and --insecure-registry take effect once the node agent lands; ignored for now");
    }
    if !args.disable_agent {
        tracing::warn!("this build has no node agent yet: serving the control plane only");
    }
    let config = control::server::ServerConfig { data_dir: args.data_dir, listen: args.listen, datastore: args.datastore };
    control::server::run(config, shutdown_signal(), |running| {
        let kubeconfig = running.kubeconfig.canonicalize().unwrap_or_else(|_| running.kubeconfig.clone());
        println!("wasmkube API server ready on https://{}", running.addr);
        println!("Point kubectl at it:");
        println!("  export KUBECONFIG={}", kubeconfig.display());
        println!("  kubectl get namespaces");
    })
    .await
    .context("the API server stopped")
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
