//! The wasmkube column: busybox pods on a fresh server's embedded node (its
//! Linux runtime), the image imported beforehand. Each pod is timed from
//! sending its create to the watch event that first shows it Running, then
//! deleted and awaited gone before the next one, so every pod starts on an
//! idle node.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use super::image::{pod_manifest, Layout, IMAGE};
use super::Summary;
use crate::bench::harness::BenchServer;

/// How long one pod may take to be Running, or to be gone after its delete.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
const PODS: &str = "/api/v1/namespaces/default/pods";

/// What the watch reports about one pod.
#[derive(Debug, PartialEq)]
enum Seen {
    Running(String, Instant),
    Deleted(String),
}

/// Runs 1 + `n` pods one after another; the first is the untimed warm-up.
pub async fn measure(layout: &Layout, n: usize) -> anyhow::Result<Summary> {
    let server = BenchServer::start_with_agent(&[(layout.dir.clone(), IMAGE.to_string())]).await?;
    let node = wait_for_node(&server).await?;
    let list: Value = server.get(PODS).send().await?.error_for_status()?.json().await?;
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap_or("0").to_string();
    let watch = server.get(&format!("{PODS}?watch=true&resourceVersion={rv}")).send().await?.error_for_status()?;
    let (tx, mut seen) = mpsc::unbounded_channel();
    let reader = tokio::spawn(read_watch(watch, tx));

    let mut first = Duration::ZERO;
    let mut samples = Vec::with_capacity(n);
    for i in 0..=n {
        let name = format!("linux-{i}");
        let took = start_pod(&server, &name, &node, &mut seen).await?;
        if i == 0 {
            first = took;
        } else {
            samples.push(took);
        }
        delete_pod(&server, &name, &mut seen).await?;
        wait_node_idle(&server.data_dir).await.with_context(|| format!("after deleting pod {name}"))?;
    }
    reader.abort();
    Ok(Summary::of(first, samples))
}

/// Creates the pod and returns how long it took to be seen Running.
async fn start_pod(server: &BenchServer, name: &str, node: &str, seen: &mut mpsc::UnboundedReceiver<Seen>) -> anyhow::Result<Duration> {
    let sent = Instant::now();
    let resp = server.post(PODS).json(&pod_manifest(name, "Never", Some(node))).send().await?;
    if resp.status().as_u16() != 201 {
        bail!("creating pod {name}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
    }
    let running = tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match seen.recv().await {
                Some(Seen::Running(pod, at)) if pod == name => return Ok(at),
                Some(_) => {}
                None => bail!("the pod watch ended"),
            }
        }
    })
    .await;
    match running {
        Ok(running) => Ok(running?.duration_since(sent)),
        Err(_) => bail!("pod {name} not Running within {STEP_TIMEOUT:?}: {}", pod_phase(server, name).await),
    }
}

async fn delete_pod(server: &BenchServer, name: &str, seen: &mut mpsc::UnboundedReceiver<Seen>) -> anyhow::Result<()> {
    let resp = server.client.delete(server.url(&format!("{PODS}/{name}"))).bearer_auth(&server.token).send().await?;
    if !resp.status().is_success() {
        bail!("deleting pod {name}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
    }

    tokio::time::timeout(STEP_TIMEOUT, async {
        loop {
            match seen.recv().await {
                Some(Seen::Deleted(pod)) if pod == name => return Ok(()),
                Some(_) => {}
                None => bail!("the pod watch ended"),
            }
        }
    })
    .await
    .with_context(|| format!("pod {name} still there {STEP_TIMEOUT:?} after its delete"))?
}

/// Waits until the node's Linux runtime holds no container and no sandbox (their state
/// dirs under DATA/linux are gone). The pod object can vanish before its container is
/// stopped, so the API alone cannot tell: without this, the next pod would start next to
/// a dying one, and containers could outlive the server at the end.
async fn wait_node_idle(data_dir: &Path) -> anyhow::Result<()> {
    let state = data_dir.join("linux");
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !(is_empty_dir(&state.join("containers")) && is_empty_dir(&state.join("sandboxes"))) {
        if Instant::now() > deadline {
            bail!("the node still runs containers {STEP_TIMEOUT:?} later (see {})", state.display());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Whether `dir` has no entries; a missing dir counts as empty.
fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

/// The pod's phase and container states, for an error message.
async fn pod_phase(server: &BenchServer, name: &str) -> String {
    let pod: Option<Value> = async { server.get(&format!("{PODS}/{name}")).send().await.ok()?.json().await.ok() }.await;
    pod.map_or_else(|| "unreadable".into(), |p| format!("phase {} statuses {}", p["status"]["phase"], p["status"]["containerStatuses"]))
}

/// Forwards each pod's first Running event and its DELETED event.
async fn read_watch(resp: reqwest::Response, tx: mpsc::UnboundedSender<Seen>) -> anyhow::Result<()> {
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut running_seen = std::collections::HashSet::new();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let event: Value = serde_json::from_slice(&line).context("a watch event")?;
            if let Some(seen) = classify(&event, Instant::now()) {
                let first_running = match &seen {
                    Seen::Running(name, _) => running_seen.insert(name.clone()),
                    Seen::Deleted(_) => true,
                };
                if first_running && tx.send(seen).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// What a watch event tells the bench, if anything.
fn classify(event: &Value, at: Instant) -> Option<Seen> {
    let name = event["object"]["metadata"]["name"].as_str()?.to_string();
    if event["type"] == "DELETED" {
        Some(Seen::Deleted(name))
    } else if event["object"]["status"]["phase"] == "Running" {
        Some(Seen::Running(name, at))
    } else {
        None
    }
}

async fn wait_for_node(server: &BenchServer) -> anyhow::Result<String> {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let nodes: Value = server.get("/api/v1/nodes").send().await?.json().await?;
        if let Some(name) = nodes["items"][0]["metadata"]["name"].as_str() {
            return Ok(name.to_string());
        }
        if Instant::now() > deadline {
            bail!("no node registered within {STEP_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_or_empty_state_dir_is_idle() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(is_empty_dir(&dir.path().join("missing")));
        assert!(is_empty_dir(dir.path()));
        std::fs::create_dir(dir.path().join("c-1")).expect("mkdir");
        assert!(!is_empty_dir(dir.path()));
    }

    #[test]
    fn classifies_watch_events() {
        let at = Instant::now();
        let event = |kind: &str, phase: &str| json!({"type": kind, "object": {"metadata": {"name": "p"}, "status": {"phase": phase}}});
        assert_eq!(classify(&event("MODIFIED", "Running"), at), Some(Seen::Running("p".into(), at)));
        assert_eq!(classify(&event("MODIFIED", "Pending"), at), None);
        assert_eq!(classify(&event("DELETED", "Running"), at), Some(Seen::Deleted("p".into())));
        assert_eq!(classify(&json!({"type": "BOOKMARK", "object": {}}), at), None);
    }
}
