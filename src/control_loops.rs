//! Wiring of the control loops a server runs beside its API: the scheduler
//! and the controller manager, both API clients of this same server through
//! the kubeconfig it wrote, each acting only while it holds its leader Lease.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use control::controllers::{self, ControllerOptions};
use tokio::sync::watch;

/// Settings of the loops, from the server's command line.
#[derive(clap::Args, Clone, Debug)]
pub struct LoopArgs {
    /// Run neither the scheduler nor the controllers (another server leads them).
    #[arg(long)]
    pub disable_controllers: bool,
    /// Seconds without a renewed node Lease before the node is NotReady (Unknown).
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period: u64,
    /// Seconds a pod stays on an unreachable or not-ready node unless it tolerates otherwise.
    #[arg(long, default_value_t = 300)]
    pub default_eviction_toleration: u64,
    /// The prefix length of each node's pod range: 24 gives 253 pod addresses a node,
    /// 22 gives 1,021 (dense wasm nodes).
    #[arg(long, default_value_t = control::controllers::nodeipam::NODE_MASK)]
    pub node_cidr_mask_size: u8,
    /// The cluster's pod network (set from the server's `--cluster-cidr`).
    #[arg(skip)]
    pub cluster_cidr: String,
}

/// Runs the scheduler and controllers against the server the kubeconfig names, until `shutdown`.
pub async fn run(
    args: LoopArgs,
    kubeconfig: &Path,
    data_dir: PathBuf,
    listen: SocketAddr,
    stopped: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if args.disable_controllers {
        return Ok(());
    }
    let client = control::client::from_kubeconfig(kubeconfig).await.context("connecting the control loops to the API")?;
    let mut options = ControllerOptions::new(data_dir, identity(listen));
    options.node_monitor_grace = Duration::from_secs(args.node_monitor_grace_period);
    options.default_eviction_toleration = Duration::from_secs(args.default_eviction_toleration);
    options.node_cidr_mask_size = args.node_cidr_mask_size;
    if !args.cluster_cidr.is_empty() {
        options.cluster_cidr = args.cluster_cidr.clone();
    }
    let identity = options.identity.clone();
    // Each with its own Lease: another server may lead one and not the other.
    tokio::join!(
        control::scheduler::run(client.clone(), &identity, crate::until(stopped.clone())),
        controllers::run(client, options, crate::until(stopped)),
    );
    Ok(())
}

/// This server's name in leader election: the host and the API address, so a
/// restarted server is the same candidate and takes its Leases straight back.
fn identity(listen: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    format!("{}_{listen}", if host.is_empty() { "wasmkube" } else { &host })
}
