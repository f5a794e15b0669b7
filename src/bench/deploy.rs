//! `wasmkube bench deploy`: a Deployment of N wasm replicas (the logger
//! sample) on a fresh server with its embedded node, timed from the create to
//! every pod Ready (a pod watch) and to the Deployment's status saying they
//! are all available (what `kubectl rollout status` waits for). The
//! ReplicaSet creates pods in slow-start batches (1, 2, 4, ...), so the time
//! includes its whole ramp.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::{json, Value};

use super::harness::BenchServer;

/// `wasmkube bench deploy` options.
#[derive(clap::Args, Debug)]
pub struct BenchDeployArgs {
    /// Replicas of the Deployment.
    #[arg(long, default_value_t = 100)]
    pub replicas: usize,
    /// Directory of the sample modules (logger.wasm).
    #[arg(long, default_value_os_t = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/wasm"))]
    pub samples: PathBuf,
}

const LOGGER_IMAGE: &str = "local/logger:1.0";
/// How long the replicas may take to be Ready before the bench gives up.
const READY_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(args: BenchDeployArgs) -> anyhow::Result<()> {
    let logger = args.samples.join("logger.wasm");
    let server = BenchServer::start_with_agent(&[(logger, LOGGER_IMAGE.to_string())]).await?;
    wait_for_node(&server).await?;

    let pods: Value = server.get("/api/v1/namespaces/default/pods").send().await?.json().await?;
    let rv = pods["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
    let watch = tokio::spawn(watch_ready(&server, rv, args.replicas));

    let started = Instant::now();
    let resp = server.post("/apis/apps/v1/namespaces/default/deployments").json(&deployment(args.replicas)).send().await?;
    if resp.status().as_u16() != 201 {
        bail!("creating the deployment: {} {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    let seen = tokio::time::timeout(READY_TIMEOUT, watch).await.context("waiting for the replicas to be Ready")???;
    let all_ready = started.elapsed();
    let available = wait_available(&server, args.replicas).await?;
    let since_start = |times: &HashMap<String, Instant>, last: bool| {
        let at = if last { times.values().max() } else { times.values().min() };
        at.map_or(0.0, |at| at.duration_since(started).as_secs_f64())
    };
    println!(
        "deployment of {} wasm replicas: first pod created after {:.3} s, last after {:.3} s; first Ready after {:.3} s, all Ready after {:.3} s; status available after {:.3} s (goal <= 2 s in release)",
        args.replicas,
        since_start(&seen.created, false),
        since_start(&seen.created, true),
        since_start(&seen.ready, false),
        all_ready.as_secs_f64(),
        available.duration_since(started).as_secs_f64()
    );
    Ok(())
}

fn deployment(replicas: usize) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "bench-deploy"}},
            "template": {
                "metadata": {"labels": {"app": "bench-deploy"}},
                "spec": {"terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "logger", "image": LOGGER_IMAGE, "imagePullPolicy": "Never"}]},
            },
        },
    })
}

async fn wait_for_node(server: &BenchServer) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let nodes: Value = server.get("/api/v1/nodes").send().await?.json().await?;
        if nodes["items"].as_array().is_some_and(|items| !items.is_empty()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no node registered within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// When each pod was first seen at all, and first seen Ready.
#[derive(Default)]
struct Seen {
    created: HashMap<String, Instant>,
    ready: HashMap<String, Instant>,
}

/// Watches pods from `rv` until `expected` have been seen Ready.
fn watch_ready(server: &BenchServer, rv: String, expected: usize) -> impl std::future::Future<Output = anyhow::Result<Seen>> {
    let request = server.get(&format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}"));
    async move {
        let mut stream = request.send().await?.error_for_status()?.bytes_stream();
        let mut buf = Vec::new();
        let mut seen = Seen::default();
        while seen.ready.len() < expected {
            if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let event: Value = serde_json::from_slice(&line).context("a watch event")?;
                let pod = &event["object"];
                if let Some(name) = pod["metadata"]["name"].as_str() {
                    seen.created.entry(name.to_string()).or_insert_with(Instant::now);
                    if is_ready(pod) {
                        seen.ready.entry(name.to_string()).or_insert_with(Instant::now);
                    }
                }
                continue;
            }
            match stream.next().await {
                Some(chunk) => buf.extend_from_slice(&chunk?),
                None => bail!("the pod watch ended with {} of {expected} pods Ready", seen.ready.len()),
            }
        }
        Ok(seen)
    }
}

/// Polls the Deployment until its status counts `replicas` available.
async fn wait_available(server: &BenchServer, replicas: usize) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let d: Value = server.get("/apis/apps/v1/namespaces/default/deployments/bench").send().await?.json().await?;
        if d["status"]["availableReplicas"].as_u64() == Some(replicas as u64) {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("the deployment status never counted {replicas} available: {}", d["status"]);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
