//! The wasmkube side of the net bench: a fresh server with its embedded node,
//! the HTTP pods and their ClusterIP Services, the node's network namespace
//! (the only place pod and service addresses are routed), and waits for each
//! address to answer.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use runtime::net::netns::NetNs;
use serde_json::{json, Value};

use super::load::{Mode, Target};
use crate::bench::harness::BenchServer;

/// The port every bench pod serves HTTP on, and the Services' port.
pub const POD_PORT: u16 = 8080;
pub const SERVICE_PORT: u16 = 80;
/// Where node agents bind-mount their network namespaces (`wasmkube-<pid>-<node>`).
const NETNS_DIR: &str = "/run/netns";
const NAMESPACE_PATH: &str = "/api/v1/namespaces/default";
/// Pods compile their modules on first start: generous in debug builds.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a new address (a Service's rule, a server still starting) may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// One HTTP server pod of the bench.
pub struct PodSpec {
    pub name: &'static str,
    pub image: String,
    /// `command` for a Linux container; `None` runs the image's entrypoint (wasm).
    pub command: Option<Vec<String>>,
    /// Also put a ClusterIP Service of the same name in front of it.
    pub service: bool,
}

impl PodSpec {
    pub fn manifest(&self) -> Value {
        let mut container = json!({
            "name": "http", "image": self.image, "imagePullPolicy": "Never",
            "ports": [{"name": "http", "containerPort": POD_PORT, "protocol": "TCP"}],
        });
        if let Some(command) = &self.command {
            container["command"] = json!(command);
        }
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": self.name, "labels": {"bench-net": self.name}},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
        })
    }

    pub fn service_manifest(&self) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": self.name},
            "spec": {"type": "ClusterIP", "selector": {"bench-net": self.name},
                     "ports": [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]},
        })
    }
}

/// A started pod's addresses.
pub struct Served {
    pub pod: SocketAddr,
    pub cluster_ip: Option<SocketAddr>,
}

/// The server, its node and the node's namespace.
pub struct Cluster {
    pub server: BenchServer,
    pub node_netns: Arc<NetNs>,
    pub node_netns_name: String,
}

impl Cluster {
    /// Starts a server whose node store holds `imports` (file or OCI layout, tag).
    pub async fn start(imports: &[(PathBuf, String)]) -> anyhow::Result<Cluster> {
        let server = BenchServer::start_with_agent(imports).await?;
        let pid = server.child.id().context("the server exited")?;
        let name = wait_for_node_netns(Path::new(NETNS_DIR), pid).await?;
        let node_netns = NetNs::open(&Path::new(NETNS_DIR).join(&name)).with_context(|| format!("opening the node's namespace {name}"))?;
        Ok(Cluster { server, node_netns, node_netns_name: name })
    }

    /// Creates the pod (and its Service), waits for it to be Ready and for its
    /// addresses to answer HTTP from inside the node's namespace.
    pub async fn serve(&self, spec: &PodSpec) -> anyhow::Result<Served> {
        let resp = self.server.post(&format!("{NAMESPACE_PATH}/pods")).json(&spec.manifest()).send().await?;
        if !resp.status().is_success() {
            bail!("creating pod {}: {} {}", spec.name, resp.status(), resp.text().await.unwrap_or_default());
        }
        let cluster_ip = if spec.service {
            let resp = self.server.post(&format!("{NAMESPACE_PATH}/services")).json(&spec.service_manifest()).send().await?;
            if !resp.status().is_success() {
                bail!("creating service {}: {} {}", spec.name, resp.status(), resp.text().await.unwrap_or_default());
            }
            let svc: Value = resp.json().await?;
            let ip: IpAddr = svc["spec"]["clusterIP"]
                .as_str()
                .and_then(|ip| ip.parse().ok())
                .with_context(|| format!("service {} got no clusterIP: {}", spec.name, svc["spec"]))?;
            Some(SocketAddr::new(ip, SERVICE_PORT))
        } else {
            None
        };
        let pod_ip = self.wait_ready(spec.name).await?;
        let served = Served { pod: SocketAddr::new(pod_ip, POD_PORT), cluster_ip };
        self.wait_answers(served.pod).await.with_context(|| format!("pod {} at {}", spec.name, served.pod))?;
        if let Some(addr) = served.cluster_ip {
            self.wait_answers(addr).await.with_context(|| format!("service {} at {addr}", spec.name))?;
        }
        Ok(served)
    }

    /// Deletes the bench's pods and Services, then stops the server with SIGTERM so its node
    /// removes what it made (namespaces, bridge, veths). Returns whether the node's
    /// namespace is gone afterwards. Every [`Target`] made by [`Cluster::target`] must be dropped first: an open handle
    /// would keep the namespace, and what is in it, alive.
    pub async fn shutdown(self, specs: &[PodSpec]) -> anyhow::Result<bool> {
        let Cluster { mut server, node_netns, node_netns_name } = self;
        drop(node_netns);
        for spec in specs {
            let _ = server.client.delete(server.url(&format!("{NAMESPACE_PATH}/pods/{}", spec.name))).bearer_auth(&server.token).send().await;
            if spec.service {
                let _ = server.client.delete(server.url(&format!("{NAMESPACE_PATH}/services/{}", spec.name))).bearer_auth(&server.token).send().await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for spec in specs {
            while server.get(&format!("{NAMESPACE_PATH}/pods/{}", spec.name)).send().await?.status().is_success() {
                if Instant::now() > deadline {
                    bail!("pod {} still there 30 s after its delete", spec.name);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        if let Some(pid) = server.child.id() {
            let status = tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await?;
            if !status.success() {
                bail!("kill -TERM {pid}: {status}");
            }
            tokio::time::timeout(Duration::from_secs(30), server.child.wait())
                .await
                .context("the server did not stop within 30 s of SIGTERM")??;
        }
        Ok(!Path::new(NETNS_DIR).join(&node_netns_name).exists())
    }

    /// A load target in the node's namespace.
    pub fn target(&self, addr: SocketAddr, mode: Mode) -> Target {
        Target { addr, netns: Some(self.node_netns.clone()), mode }
    }

    /// The pod's IP once its Ready condition is True.
    async fn wait_ready(&self, name: &str) -> anyhow::Result<IpAddr> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let pod: Value = self.server.get(&format!("{NAMESPACE_PATH}/pods/{name}")).send().await?.json().await?;
            if let Some(ip) = ready_pod_ip(&pod) {
                return Ok(ip);
            }
            if pod["status"]["phase"] == "Failed" || Instant::now() > deadline {
                bail!(
                    "pod {name} not Ready with an IP within {READY_TIMEOUT:?}: phase {} podIP {} containers {}",
                    pod["status"]["phase"],
                    pod["status"]["podIP"],
                    pod["status"]["containerStatuses"]
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Retries a GET until it answers 2xx.
    async fn wait_answers(&self, addr: SocketAddr) -> anyhow::Result<()> {
        let target = self.target(addr, Mode::FreshConnection);
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let error = match tokio::time::timeout(Duration::from_secs(5), target.probe()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e,
                Err(_) => "no answer within 5 s".to_string(),
            };
            if Instant::now() > deadline {
                bail!("no HTTP answer within {ANSWER_TIMEOUT:?} from inside {}: {error}", self.node_netns_name);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `status.podIP` of a pod whose Ready condition is True.
fn ready_pod_ip(pod: &Value) -> Option<IpAddr> {
    let ready = pod["status"]["conditions"].as_array()?.iter().any(|c| c["type"] == "Ready" && c["status"] == "True");
    ready.then(|| pod["status"]["podIP"].as_str()?.parse().ok()).flatten()
}

/// The name of the namespace the server `pid`'s node created in `dir`.
async fn wait_for_node_netns(dir: &Path, pid: u32) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let names = std::fs::read_dir(dir).map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect::<Vec<_>>());
        if let Some(name) = names.as_deref().ok().and_then(|names| node_netns_of(names, pid)) {
            // The server creates the file, then bind-mounts the namespace on it: until
            // then the name is an empty file on /run/netns's own device.
            if is_mounted(&dir.join(name), dir) {
                return Ok(name.to_string());
            }
        }
        if Instant::now() > deadline {
            bail!("no network namespace wasmkube-{pid}-<node> in {} within 60 s (is pod networking built in?)", dir.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether `file` has something mounted on it (it sits on another device than `dir`).
fn is_mounted(file: &Path, dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    matches!((std::fs::metadata(file), std::fs::metadata(dir)), (Ok(f), Ok(d)) if f.dev() != d.dev())
}

/// The first `wasmkube-<pid>-<node>` of `names`.
fn node_netns_of(names: &[String], pid: u32) -> Option<&str> {
    let prefix = format!("wasmkube-{pid}-");
    names.iter().map(String::as_str).find(|n| n.strip_prefix(&prefix).is_some_and(|node| !node.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_namespace_of_this_server_only() {
        let names: Vec<String> = ["wasmkube-12-node-a", "wasmkube-123-node-b", "other", "wasmkube-123-"].iter().map(|s| s.to_string()).collect();
        assert_eq!(node_netns_of(&names, 123), Some("wasmkube-123-node-b"));
        assert_eq!(node_netns_of(&names, 12), Some("wasmkube-12-node-a"));
        assert_eq!(node_netns_of(&names, 1), None);
    }

    #[test]
    fn a_pod_counts_once_ready_with_an_ip() {
        let pod = |ready: &str, ip: Option<&str>| json!({"status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}});
        assert_eq!(ready_pod_ip(&pod("True", Some("10.42.0.7"))), Some("10.42.0.7".parse().unwrap()));
        assert_eq!(ready_pod_ip(&pod("False", Some("10.42.0.7"))), None);
        assert_eq!(ready_pod_ip(&pod("True", None)), None);
        assert_eq!(ready_pod_ip(&json!({})), None);
    }

    #[test]
    fn the_service_selects_its_pod_by_named_port() {
        let spec = PodSpec { name: "net-wasm", image: "local/httpd:1.0".into(), command: None, service: true };
        let pod = spec.manifest();
        let svc = spec.service_manifest();
        assert_eq!(pod["metadata"]["labels"], svc["spec"]["selector"]);
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["name"], svc["spec"]["ports"][0]["targetPort"]);
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["containerPort"], POD_PORT);
        assert!(pod["spec"]["containers"][0].get("command").is_none());
    }
}
