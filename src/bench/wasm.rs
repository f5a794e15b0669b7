//! `wasmkube bench wasm`: wasm pods on a fresh server with its embedded node,
//! measured from outside through the API (create → Running latency, the
//! server's RSS per idle pod), plus in-process timings of the wasm runtime
//! itself (`runtime::wasm::bench`): instantiating a cached module, and the CPU
//! cost of epoch preemption and of fuel metering on the burner sample.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use runtime::wasm::bench::{burner_cpu_time, instantiate_cached, BurnMode};
use serde_json::{json, Value};

use super::harness::{ms, percentile, BenchServer};

/// `wasmkube bench wasm` options.
#[derive(clap::Args, Debug)]
pub struct BenchWasmArgs {
    /// Pods timed from create to Running, created one after another.
    #[arg(long, default_value_t = 100)]
    pub pods: usize,
    /// Idle logger pods Running at once for the RSS-per-pod figure (at most the node's capacity).
    #[arg(long, default_value_t = 1_000)]
    pub idle_pods: usize,
    /// Cached-module instantiations timed.
    #[arg(long, default_value_t = 2_000)]
    pub instantiations: usize,
    /// Rounds of the burner for the preemption and fuel overheads (about 1 ms of CPU each).
    #[arg(long, default_value_t = 2_000)]
    pub burner_rounds: u32,
    /// Directory of the sample modules (logger.wasm, burner.wasm).
    #[arg(long, default_value_os_t = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/wasm"))]
    pub samples: PathBuf,
}

/// The image tag the logger sample is imported as.
const LOGGER_IMAGE: &str = "local/logger:1.0";
/// How long a batch of pods may take to be Running before the bench gives up.
const RUNNING_TIMEOUT: Duration = Duration::from_secs(300);

pub async fn run(args: BenchWasmArgs) -> anyhow::Result<()> {
    let logger_file = args.samples.join("logger.wasm");
    let logger = std::fs::read(&logger_file).with_context(|| format!("reading {}", logger_file.display()))?;
    let burner_file = args.samples.join("burner.wasm");
    let burner = std::fs::read(&burner_file).with_context(|| format!("reading {}", burner_file.display()))?;
    let imports = [(logger_file, LOGGER_IMAGE.to_string())];

    let server = BenchServer::start_with_agent(&imports).await?;
    let node = wait_for_node(&server).await?;
    one_at_a_time_latency(&server, &node.name, args.pods).await?;
    startup_latency(&server, &node.name, args.pods).await?;
    drop(server);

    runtime_timings(&logger, &burner, args.instantiations, args.burner_rounds).await?;

    // Density on a fresh server, so the RSS is the idle pods' alone.
    let server = BenchServer::start_with_agent(&imports).await?;
    let node = wait_for_node(&server).await?;
    let guest_kib = initial_memory_bytes(&logger).map_or(0, |b| b / 1024);
    idle_density(&server, &node, args.idle_pods, guest_kib).await
}

/// The embedded node, once registered.
struct Node {
    name: String,
    /// `status.capacity.pods`.
    capacity: usize,
}

async fn wait_for_node(server: &BenchServer) -> anyhow::Result<Node> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let nodes: Value = server.get("/api/v1/nodes").send().await?.json().await?;
        if let Some(node) = nodes["items"].get(0) {
            let name = node["metadata"]["name"].as_str().context("a node without a name")?.to_string();
            let capacity = node["status"]["capacity"]["pods"].as_str().and_then(|p| p.parse().ok()).unwrap_or(usize::MAX);
            return Ok(Node { name, capacity });
        }
        if Instant::now() > deadline {
            bail!("no node registered within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn logger_pod(name: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench-wasm"}},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "main", "image": LOGGER_IMAGE, "imagePullPolicy": "Never"}]},
    })
}

/// Watches pods from `rv` and returns when `expected` of those whose name starts with `prefix`
/// have been seen Running, with the instant each was first seen so.
fn watch_running(
    server: &BenchServer,
    rv: String,
    prefix: String,
    expected: usize,
) -> impl std::future::Future<Output = anyhow::Result<HashMap<String, Instant>>> {
    let request = server.get(&format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}"));
    async move {
        let mut stream = request.send().await?.error_for_status()?.bytes_stream();
        let mut buf = Vec::new();
        let mut running = HashMap::new();
        while running.len() < expected {
            if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                let event: Value = serde_json::from_slice(&line).context("a watch event")?;
                let pod = &event["object"];
                if pod["status"]["phase"] == "Running" {
                    if let Some(name) = pod["metadata"]["name"].as_str().filter(|n| n.starts_with(prefix.as_str())) {
                        running.entry(name.to_string()).or_insert_with(Instant::now);
                    }
                }
                continue;
            }
            match stream.next().await {
                Some(chunk) => buf.extend_from_slice(&chunk?),
                None => bail!("the pod watch ended with {} of {expected} pods Running", running.len()),
            }
        }
        Ok(running)
    }
}

async fn list_rv(server: &BenchServer) -> anyhow::Result<String> {
    let list: Value = server.get("/api/v1/namespaces/default/pods").send().await?.json().await?;
    Ok(list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string())
}

async fn create_pod(server: &BenchServer, name: &str, node: &str) -> anyhow::Result<()> {
    let resp = server.post("/api/v1/namespaces/default/pods").json(&logger_pod(name, node)).send().await?;
    if resp.status().as_u16() != 201 {
        bail!("creating pod {name}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    Ok(())
}

/// (a) A pod's own start latency: each pod is created once the previous one runs, and timed
/// from sending the create to the watch event saying Running.
async fn one_at_a_time_latency(server: &BenchServer, node: &str, pods: usize) -> anyhow::Result<()> {
    let mut latencies = Vec::with_capacity(pods);
    for i in 0..pods {
        let name = format!("alone-{i}");
        // From the current revision: the Running event cannot be missed, however late the watch connects.
        let watch = tokio::spawn(watch_running(server, list_rv(server).await?, name.clone(), 1));
        let sent = Instant::now();
        create_pod(server, &name, node).await?;
        let running = tokio::time::timeout(RUNNING_TIMEOUT, watch).await.context("waiting for the pod to be Running")???;
        let at = running.get(&name).context("the watch returned without this pod")?;
        latencies.push(at.duration_since(sent));
    }
    latencies.sort();
    println!(
        "wasm pod create -> Running:       p50 {} p99 {} over {pods} pods, one at a time (goal p50 <= 10 ms, p99 <= 50 ms)",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
    );
    Ok(())
}

/// (b) A burst: pods created back to back, each timed from sending its create to the watch
/// event saying Running, so later pods queue behind earlier ones on the node.
async fn startup_latency(server: &BenchServer, node: &str, pods: usize) -> anyhow::Result<()> {
    let watch = tokio::spawn(watch_running(server, list_rv(server).await?, "start-".into(), pods));
    let mut sent = HashMap::with_capacity(pods);
    let started = Instant::now();
    for i in 0..pods {
        let name = format!("start-{i}");
        sent.insert(name.clone(), Instant::now());
        create_pod(server, &name, node).await?;
    }
    let running = tokio::time::timeout(RUNNING_TIMEOUT, watch).await.context("waiting for the pods to be Running")???;
    let total = started.elapsed();
    let mut latencies: Vec<Duration> = sent.iter().filter_map(|(name, at)| Some(running.get(name)?.duration_since(*at))).collect();
    latencies.sort();
    println!(
        "wasm pod create -> Running:       p50 {} p99 {} over {pods} pods created back to back, all Running after {:.2} s",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        total.as_secs_f64()
    );
    Ok(())
}

/// (c) and (d): the wasm runtime measured in this process, with no node around it.
async fn runtime_timings(logger: &[u8], burner: &[u8], instantiations: usize, rounds: u32) -> anyhow::Result<()> {
    for (label, pool) in [("pooling allocator", Some(220)), ("on-demand allocator", None)] {
        let p = instantiate_cached(logger, instantiations, pool).await?;
        println!(
            "cached module instantiate ({label}): p50 {:.1} µs p99 {:.1} µs max {:.1} µs (goal <= 50 µs)",
            micros(p.median),
            micros(p.p99),
            micros(p.max)
        );
    }
    let plain = burner_cpu_time(burner, rounds, BurnMode::Plain).await?;
    let epochs = burner_cpu_time(burner, rounds, BurnMode::Epochs).await?;
    let fuel = burner_cpu_time(burner, rounds, BurnMode::Fuel).await?;
    println!(
        "burner, {rounds} rounds CPU time:   plain {} epochs {} (+{:.1} %) epochs+fuel {} (+{:.1} %)",
        ms(plain),
        ms(epochs),
        overhead(plain, epochs),
        ms(fuel),
        overhead(plain, fuel)
    );
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// How much longer `measured` took than `baseline`, in percent.
fn overhead(baseline: Duration, measured: Duration) -> f64 {
    if baseline.is_zero() {
        return 0.0;
    }
    (measured.as_secs_f64() / baseline.as_secs_f64() - 1.0) * 100.0
}

/// (e) `wanted` idle logger pods Running at once: the server's RSS growth per pod.
async fn idle_density(server: &BenchServer, node: &Node, wanted: usize, guest_kib: u64) -> anyhow::Result<()> {
    let pods = wanted.min(node.capacity);
    if pods < wanted {
        println!("node {} admits {} pods: running {pods} of the {wanted} asked for", node.name, node.capacity);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = server.rss_kib().context("reading the server's RSS")?;
    let watch = tokio::spawn(watch_running(server, list_rv(server).await?, "idle-".into(), pods));
    for i in 0..pods {
        create_pod(server, &format!("idle-{i}"), &node.name).await?;
    }
    tokio::time::timeout(RUNNING_TIMEOUT, watch).await.context("waiting for the idle pods to be Running")???;
    // Let the first log lines, status updates and allocator caches settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.rss_kib().context("reading the server's RSS")?;
    let per_pod = after.saturating_sub(before) as f64 / pods.max(1) as f64;
    println!(
        "{pods} idle wasm pods Running:      RSS {:.1} MiB -> {:.1} MiB, {per_pod:.0} KiB a pod, {:.0} KiB beyond the guest's {guest_kib} KiB initial memory (goal <= 256 KiB)",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        per_pod - guest_kib as f64
    );
    Ok(())
}

/// The initial size in bytes of the first memory a module defines (its memory section), which
/// every instance is given before it runs; `None` for a module without one or a malformed one.
fn initial_memory_bytes(module: &[u8]) -> Option<u64> {
    const MEMORY_SECTION: u8 = 5;
    const PAGE: u64 = 64 * 1024;
    let mut at = 8; // magic + version
    while at < module.len() {
        let id = *module.get(at)?;
        at += 1;
        let size = usize::try_from(leb128(module, &mut at)?).ok()?;
        if id == MEMORY_SECTION {
            let mut inner = at;
            if leb128(module, &mut inner)? == 0 {
                return None;
            }
            let _flags = leb128(module, &mut inner)?;
            return leb128(module, &mut inner)?.checked_mul(PAGE);
        }
        at = at.checked_add(size)?;
    }
    None
}

/// Reads an unsigned LEB128 number at `*at`, advancing past it.
fn leb128(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_initial_memory_of_a_module() {
        // Header, a type section of 1 byte to skip, then a memory section: 1 memory, no max, 17 pages.
        let module = [0, b'a', b's', b'm', 1, 0, 0, 0, 1, 1, 0, 5, 3, 1, 0, 17];
        assert_eq!(initial_memory_bytes(&module), Some(17 * 65536));
        assert_eq!(initial_memory_bytes(&module[..11]), None, "no memory section");
        assert_eq!(initial_memory_bytes(&module[..14]), None, "truncated");
    }

    #[test]
    fn leb128_spans_bytes() {
        let mut at = 0;
        assert_eq!(leb128(&[0xe5, 0x8e, 0x26], &mut at), Some(624_485));
        assert_eq!(at, 3);
        assert_eq!(leb128(&[0x80], &mut 0), None, "unterminated");
    }

    #[test]
    fn the_logger_sample_has_a_memory() {
        let logger = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/wasm/logger.wasm")).expect("logger.wasm");
        let bytes = initial_memory_bytes(&logger).expect("a memory section");
        assert!(bytes >= 65536 && bytes % 65536 == 0, "{bytes}");
    }

    #[test]
    fn overhead_is_relative_to_the_baseline() {
        let overhead = overhead(Duration::from_millis(100), Duration::from_millis(110));
        assert!((overhead - 10.0).abs() < 1e-9, "{overhead}");
        assert_eq!(super::overhead(Duration::ZERO, Duration::from_millis(1)), 0.0);
    }
}
