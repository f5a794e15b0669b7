//! `wasmkube bench api`: the API server on SQLite, measured from outside
//! through its HTTPS API, as kubectl and the agents see it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};

use super::harness::{ms, percentile, BenchServer};

#[derive(clap::Args, Debug)]
pub struct ApiBenchArgs {
    /// Pods created (and then listed).
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Concurrent clients for creates and updates.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Events measured for watch latency.
    #[arg(long, default_value_t = 1_000)]
    watch_events: usize,
    /// Lease updates in the churn test (spread over 100 Leases).
    #[arg(long, default_value_t = 100_000)]
    churn_updates: usize,
}

/// Why a request did not get `expected`, if it did not.
async fn failure(r: reqwest::Result<reqwest::Response>, expected: u16) -> Option<String> {
    match r {
        // Read the body even on success: an unread response is a stream the
        // client resets, and h2 gives up on a connection after 1,024 of those.
        Ok(resp) if resp.status().as_u16() == expected => resp.bytes().await.err().map(|e| format!("reading the answer: {e}")),
        Ok(resp) => {
            let status = resp.status();
            Some(format!("{status}: {}", resp.text().await.unwrap_or_default()))
        }
        Err(e) => Some(format!("transport: {e:?}")),
    }
}

fn pod(i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("bench-{i}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
        "spec": {"containers": [{"name": "main", "image": "127.0.0.1:5000/wasm/sleep:1.0",
                  "resources": {"limits": {"memory": "16Mi", "cpu": "100m"}}}]},
    })
}

pub async fn run(args: ApiBenchArgs) -> anyhow::Result<()> {
    {
        let with_node = BenchServer::start_with_agent(&[]).await?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss = with_node.rss_kib().unwrap_or(0);
        println!("idle RSS, server + embedded node: {:.1} MiB (goal <= 64 MiB)", rss as f64 / 1024.0);
    }
    let server = Arc::new(BenchServer::start().await?);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = server.rss_kib().unwrap_or(0);
    println!("idle RSS, control plane only:     {:.1} MiB", idle_rss as f64 / 1024.0);

    // Creates at concurrency N.
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (server, next, failed, total) = (server.clone(), next.clone(), failed.clone(), args.pods);
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let r = server.post("/api/v1/namespaces/default/pods").json(&pod(i)).send().await;
                if let Some(why) = failure(r, 201).await {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first failed create: {why}");
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "pod creates, concurrency {:>3}:    {:.0} creates/s ({} pods in {:.2} s, {} failed) (goal >= 2000/s)",
        args.concurrency, args.pods as f64 / secs, args.pods, secs, failed.load(Ordering::Relaxed)
    );

    // Lists of everything.
    let mut samples = Vec::new();
    let mut count = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let body = server.get("/api/v1/namespaces/default/pods").send().await?.bytes().await?;
        samples.push(t.elapsed());
        let v: Value = serde_json::from_slice(&body)?;
        count = v["items"].as_array().map(|a| a.len()).unwrap_or(0);
    }
    samples.sort();
    println!("list of {count} pods (JSON):       median {} (min {}) (goal <= 200 ms)", ms(percentile(&samples, 50.0)), ms(samples[0]));
    let mut samples = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        server
            .get("/api/v1/namespaces/default/pods")
            .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
            .send()
            .await?
            .bytes()
            .await?;
        samples.push(t.elapsed());
    }
    samples.sort();
    println!("list of {count} pods (Table):      median {}", ms(percentile(&samples, 50.0)));
    println!("RSS with {count} pods stored:      {:.1} MiB", server.rss_kib().unwrap_or(0) as f64 / 1024.0);

    watch_latency(&server, args.watch_events).await?;
    drop(server);
    // Churn runs on a fresh server so the file size is the churn's alone.
    let fresh = Arc::new(BenchServer::start().await?);
    churn(&fresh, args.churn_updates, args.concurrency).await?;
    Ok(())
}

/// Time from sending a write to receiving its watch event.
async fn watch_latency(server: &Arc<BenchServer>, n: usize) -> anyhow::Result<()> {
    let list: Value = server.get("/api/v1/namespaces/default/configmaps").send().await?.json().await?;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
    let resp = server
        .get(&format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"))
        .send()
        .await?;
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("watch-{i}")}, "data": {"i": i.to_string()}});
        let sent = Instant::now();
        let post = server.post("/api/v1/namespaces/default/configmaps").json(&body).send();
        let name = format!("watch-{i}");
        let event = async {
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let ev: Value = serde_json::from_slice(&line)?;
                    if ev["object"]["metadata"]["name"] == name.as_str() {
                        return Ok::<Instant, anyhow::Error>(Instant::now());
                    }
                    continue;
                }
                match stream.next().await {
                    Some(chunk) => buf.extend_from_slice(&chunk?),
                    None => bail!("the watch ended"),
                }
            }
        };
        let (posted, seen) = tokio::join!(post, event);
        let status = posted?.status();
        if status.as_u16() != 201 {
            bail!("create of {name} answered {status}");
        }
        latencies.push(seen?.duration_since(sent));
    }
    latencies.sort();
    println!(
        "watch latency, write -> event:   p50 {} p99 {} over {n} events (goal p99 <= 10 ms)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0))
    );
    Ok(())
}

fn db_size(server: &BenchServer) -> u64 {
    ["state.db", "state.db-wal", "state.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(server.data_dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// 100 Leases updated over and over, like node heartbeats: the database must not grow.
async fn churn(server: &Arc<BenchServer>, updates: usize, concurrency: usize) -> anyhow::Result<()> {
    const LEASES: usize = 100;
    for i in 0..LEASES {
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": format!("node-{i}")}, "spec": {"holderIdentity": format!("node-{i}"), "leaseDurationSeconds": 40}});
        let r = server.post("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases").json(&lease).send().await?;
        if r.status().as_u16() != 201 {
            bail!("creating lease node-{i}: {}", r.status());
        }
    }
    let before = db_size(server);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (server, next, failed) = (server.clone(), next.clone(), failed.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= updates {
                    break;
                }
                let path = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-{}", i % LEASES);
                let patch = json!({"spec": {"renewTime": format!("2026-01-01T00:00:00.{:06}Z", i % 1_000_000)}});
                let r = server
                    .client
                    .patch(server.url(&path))
                    .bearer_auth(&server.token)
                    .header("Content-Type", "application/merge-patch+json")
                    .body(patch.to_string())
                    .send()
                    .await;
                if let Some(why) = failure(r, 200).await {
                    if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first failed update: {why}");
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await.context("churn worker")?;
    }
    let secs = started.elapsed().as_secs_f64();
    let after = db_size(server);
    println!(
        "lease churn: {updates} updates to {LEASES} leases in {secs:.1} s ({:.0}/s), {} failed writes",
        updates as f64 / secs,
        failed.load(Ordering::Relaxed)
    );
    println!(
        "database files: {:.1} MiB before churn, {:.1} MiB after (goal <= 20 MB)",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    Ok(())
}
