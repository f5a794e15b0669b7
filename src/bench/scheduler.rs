//! `wasmkube bench scheduler`: how fast the scheduler places a backlog of
//! pending pods on a large cluster of hollow nodes (Node objects no agent
//! stands behind), and how evenly.
//!
//! The server runs with `--disable-controllers` and the scheduler runs in
//! this process, started once every pod exists, so "from scheduler start"
//! covers its initial lists as well as every decision and binding; no node
//! lifecycle controller marks the hollow nodes NotReady meanwhile.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};

use super::harness::BenchServer;

#[derive(clap::Args, Debug)]
pub struct BenchSchedulerArgs {
    /// Hollow nodes registered (allocatable cpu 4, memory 16Gi, pods 110).
    #[arg(long, default_value_t = 5_000)]
    nodes: usize,
    /// Pending pods created before the scheduler starts.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Concurrent requests while registering nodes and creating pods.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Give up waiting for the pods to be bound after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

fn hollow_node(i: usize) -> (String, Value, Value) {
    let name = format!("hollow-{i:05}");
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "wasmkube.io/runtime-wasmtime": "true"}},
    });
    // No agent renews a Lease for it: with the controllers off nothing marks it NotReady.
    let status = json!({"status": {
        "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
        "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "hollow node"}],
    }});
    (name, node, status)
}

fn pending_pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("sched-{i:05}"), "labels": {"app": "sched-bench"}},
        "spec": {"containers": [{"name": "main", "image": "local/logger:1.0",
                  "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
    })
}

/// Runs `job(0..total)` with `concurrency` in flight; the number that failed.
async fn concurrently<F, Fut>(total: usize, concurrency: usize, job: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let failed = AtomicUsize::new(0);
    futures::stream::iter(0..total)
        .for_each_concurrent(concurrency, |i| {
            let (job, failed) = (&job, &failed);
            async move {
                if let Err(err) = job(i).await {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first failure: {err:#}");
                    }
                }
            }
        })
        .await;
    failed.load(Ordering::Relaxed)
}

async fn expect(response: reqwest::Result<reqwest::Response>, status: u16) -> anyhow::Result<()> {
    let response = response?;
    let got = response.status().as_u16();
    let body = response.text().await?;
    if got != status {
        bail!("{got}: {body}");
    }
    Ok(())
}

async fn register_nodes(server: &BenchServer, args: &BenchSchedulerArgs) -> usize {
    concurrently(args.nodes, args.concurrency, |i| async move {
        let (name, node, status) = hollow_node(i);
        expect(server.post("/api/v1/nodes").json(&node).send().await, 201).await?;
        let patch = server
            .client
            .patch(server.url(&format!("/api/v1/nodes/{name}/status")))
            .bearer_auth(&server.token)
            .header("Content-Type", "application/merge-patch+json")
            .body(status.to_string());
        expect(patch.send().await, 200).await
    })
    .await
}

/// The resourceVersion to watch pods from.
async fn pods_revision(server: &BenchServer) -> anyhow::Result<String> {
    let list: Value = server.get("/api/v1/namespaces/default/pods?limit=1").send().await?.json().await?;
    list.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string).context("a list without resourceVersion")
}

/// Waits until `expected` pods of the watch are bound; when each got bound is not needed, only the last.
async fn wait_all_bound(server: &BenchServer, from_revision: &str, expected: usize, timeout: Duration) -> anyhow::Result<Instant> {
    let path = format!("/api/v1/namespaces/default/pods?watch=true&allowWatchBookmarks=false&resourceVersion={from_revision}");
    let response = server.get(&path).send().await?;
    if !response.status().is_success() {
        bail!("watching pods: {}", response.status());
    }
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    let mut bound = HashSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while bound.len() < expected {
        let chunk = tokio::time::timeout_at(deadline, body.next()).await.context("timed out waiting for pods to be bound")?;
        let Some(chunk) = chunk else { bail!("the watch ended with {} of {expected} pods bound", bound.len()) };
        buffer.extend_from_slice(&chunk?);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            let Ok(event) = serde_json::from_slice::<Value>(&line) else { continue };
            let object = &event["object"];
            if object.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty()) {
                if let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) {
                    bound.insert(name.to_string());
                }
            }
        }
    }
    Ok(Instant::now())
}

/// Fewest and most pods on a node, over every hollow node.
async fn spread(server: &BenchServer, nodes: usize) -> anyhow::Result<(usize, usize)> {
    let list: Value = server.get("/api/v1/namespaces/default/pods").send().await?.json().await?;
    let mut per_node: HashMap<String, usize> = (0..nodes).map(|i| (hollow_node(i).0, 0)).collect();
    for pod in list["items"].as_array().into_iter().flatten() {
        if let Some(node) = pod.pointer("/spec/nodeName").and_then(Value::as_str) {
            *per_node.entry(node.to_string()).or_default() += 1;
        }
    }
    Ok((per_node.values().copied().min().unwrap_or(0), per_node.values().copied().max().unwrap_or(0)))
}

pub async fn run(args: BenchSchedulerArgs) -> anyhow::Result<()> {
    let server = BenchServer::start_with_flags(&["--disable-controllers"]).await?;
    let server = &server;
    let started = Instant::now();
    let failed = register_nodes(server, &args).await;
    println!("registered {} hollow nodes in {:.2} s ({failed} failed)", args.nodes, started.elapsed().as_secs_f64());

    let revision = pods_revision(server).await?;
    let first_create = Instant::now();
    let failed = concurrently(args.pods, args.concurrency, |i| async move {
        expect(server.post("/api/v1/namespaces/default/pods").json(&pending_pod(i)).send().await, 201).await
    })
    .await;
    let created = args.pods - failed;
    println!("created {created} pending pods in {:.2} s ({failed} failed)", first_create.elapsed().as_secs_f64());

    let client = control::client::from_kubeconfig(&server.data_dir.join("kubeconfig.yaml")).await?;
    let scheduler_start = Instant::now();
    let scheduler = tokio::spawn(control::scheduler::schedule_all(client));
    let waited = wait_all_bound(server, &revision, created, Duration::from_secs(args.timeout_secs)).await;
    scheduler.abort();
    let all_bound = waited?;

    let rate = |since: Instant| created as f64 / all_bound.duration_since(since).as_secs_f64();
    println!(
        "bound {created} pods on {} nodes: {:.0} pods/s from scheduler start ({:.2} s), {:.0} pods/s from first create (goal >= 1000/s)",
        args.nodes,
        rate(scheduler_start),
        all_bound.duration_since(scheduler_start).as_secs_f64(),
        rate(first_create),
    );
    let (min, max) = spread(server, args.nodes).await?;
    println!("spread: {min}..{max} pods per node (ideal {}..{})", created / args.nodes.max(1), created.div_ceil(args.nodes.max(1)));
    Ok(())
}
