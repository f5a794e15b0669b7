//! `wasmkube cleanup`: removes what a killed server or agent left on this
//! host: node network namespaces whose process is gone (with their bridges and
//! veths), the host's unreachable routes once no live node is left, and, for
//! each `--data-dir` given, the Linux pods' sandbox holders, cgroups and layers.

use std::path::PathBuf;

use anyhow::Context;
use runtime::linux::{LinuxOptions, LinuxRuntime};
use runtime::net::cleanup::cleanup;
use runtime::net::Ipv4Net;

#[derive(clap::Args)]
pub struct CleanupArgs {
    /// Remove every wasmkube node namespace, even those of running processes.
    #[arg(long)]
    all: bool,
    /// A data dir of a server or agent that is no longer running: its Linux pods'
    /// leftovers (sandbox holders, pod cgroups, container layers) are removed too.
    #[arg(long)]
    data_dir: Vec<PathBuf>,
    /// The cluster's pod network (its unreachable route is removed).
    #[arg(long, default_value = runtime::net::node::DEFAULT_CLUSTER_CIDR)]
    cluster_cidr: Ipv4Net,
    /// The cluster's service network (its unreachable route is removed).
    #[arg(long, default_value = runtime::net::node::DEFAULT_SERVICE_CIDR)]
    service_cidr: Ipv4Net,
}

pub async fn run(args: CleanupArgs) -> anyhow::Result<()> {
    let removed = cleanup(args.all, args.cluster_cidr, args.service_cidr).await.context("cleaning up the pod network")?;
    for name in &removed.namespaces {
        println!("removed network namespace {name}");
    }
    for net in &removed.routes {
        println!("removed host route unreachable {net}");
    }
    for dir in &args.data_dir {
        let options = LinuxOptions::new(dir.join("linux"));
        let cleared = LinuxRuntime::clear_leftovers(&options).with_context(|| format!("clearing Linux pods of {}", dir.display()))?;
        if cleared > 0 {
            println!("removed {cleared} Linux pod sandboxes of {}", dir.display());
        }
    }
    if removed.namespaces.is_empty() && removed.routes.is_empty() {
        println!("no wasmkube network leftovers");
    }
    Ok(())
}
