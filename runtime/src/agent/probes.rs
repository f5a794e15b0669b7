//! Liveness, readiness and startup probes. Exec probes run a command through
//! [`ContainerRuntime::exec`] (exit code 0 means healthy); httpGet and
//! tcpSocket probes dial the pod's IP from the node's network namespace
//! ([`target`]), so they work the same for wasm and Linux pods. Results pass
//! the success and failure thresholds before the pod worker hears of them.
//! grpc probes are not implemented yet and count as passing.

mod http;
mod target;
mod tcp;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use target::ProbeTarget;

use crate::cri::{ContainerId, ContainerRuntime, ExecIo};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }
}

/// A probe's result changed (after its thresholds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeVerdict {
    pub container: String,
    pub id: ContainerId,
    pub kind: ProbeKind,
    pub healthy: bool,
    pub message: String,
}

/// Consecutive results against `successThreshold` / `failureThreshold`.
#[derive(Clone, Debug)]
pub struct Thresholds {
    success_needed: u32,
    failure_needed: u32,
    successes: u32,
    failures: u32,
    verdict: Option<bool>,
}

impl Thresholds {
    pub fn new(probe: &Probe) -> Self {
        let at_least_one = |v: Option<i32>, default: u32| v.and_then(|v| u32::try_from(v).ok()).filter(|v| *v > 0).unwrap_or(default);
        Thresholds {
            success_needed: at_least_one(probe.success_threshold, 1),
            failure_needed: at_least_one(probe.failure_threshold, 3),
            successes: 0,
            failures: 0,
            verdict: None,
        }
    }

    /// Records one result; returns the new verdict when it changes.
    pub fn observe(&mut self, ok: bool) -> Option<bool> {
        if ok {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let next = if self.successes >= self.success_needed {
            Some(true)
        } else if self.failures >= self.failure_needed {
            Some(false)
        } else {
            self.verdict
        };
        let changed = next != self.verdict;
        self.verdict = next;
        if changed {
            next
        } else {
            None
        }
    }
}

/// Starts the probes of one container run. Startup goes first; liveness and
/// readiness start once it has passed (or at once without one). Without a
/// startup probe the container counts as started immediately.
pub fn spawn_probes(
    runtime: Arc<dyn ContainerRuntime>,
    id: ContainerId,
    container: &Container,
    target: ProbeTarget,
    tx: mpsc::UnboundedSender<ProbeVerdict>,
) -> JoinHandle<()> {
    let name = container.name.clone();
    let spec = container.clone();
    let startup = container.startup_probe.clone();
    let liveness = container.liveness_probe.clone();
    let readiness = container.readiness_probe.clone();
    tokio::spawn(async move {
        let prober = Prober { runtime, id, name, container: spec, target, tx };
        match startup {
            Some(probe) => {
                if !prober.run_until_verdict(ProbeKind::Startup, &probe).await {
                    return;
                }
            }
            None => prober.send(ProbeKind::Startup, true, String::new()),
        }
        let live = async {
            if let Some(probe) = &liveness {
                prober.run_forever(ProbeKind::Liveness, probe).await;
            }
        };
        let ready = async {
            match &readiness {
                Some(probe) => prober.run_forever(ProbeKind::Readiness, probe).await,
                None => prober.send(ProbeKind::Readiness, true, String::new()),
            }
        };
        tokio::join!(live, ready);
    })
}

struct Prober {
    runtime: Arc<dyn ContainerRuntime>,
    id: ContainerId,
    name: String,
    /// For named ports.
    container: Container,
    target: ProbeTarget,
    tx: mpsc::UnboundedSender<ProbeVerdict>,
}

impl Prober {
    fn send(&self, kind: ProbeKind, healthy: bool, message: String) {
        let verdict = ProbeVerdict { container: self.name.clone(), id: self.id.clone(), kind, healthy, message };
        let _ = self.tx.send(verdict);
    }

    /// For the startup probe: returns true once it passes; false (after telling the worker) if it fails.
    async fn run_until_verdict(&self, kind: ProbeKind, probe: &Probe) -> bool {
        let mut thresholds = Thresholds::new(probe);
        tokio::time::sleep(seconds(probe.initial_delay_seconds, 0)).await;
        loop {
            let (ok, message) = self.check(probe).await;
            if let Some(verdict) = thresholds.observe(ok) {
                self.send(kind, verdict, message);
                return verdict;
            }
            tokio::time::sleep(seconds(probe.period_seconds, 10)).await;
        }
    }

    async fn run_forever(&self, kind: ProbeKind, probe: &Probe) {
        let mut thresholds = Thresholds::new(probe);
        tokio::time::sleep(seconds(probe.initial_delay_seconds, 0)).await;
        // The failure last reported while unready: a different reason (a refused
        // connection, then a 404) is reported again, so its Event says why now.
        let mut reported: Option<String> = None;
        loop {
            let (ok, message) = self.check(probe).await;
            match thresholds.observe(ok) {
                Some(verdict) => {
                    reported = (!verdict).then(|| message.clone());
                    self.send(kind, verdict, message);
                }
                None if kind == ProbeKind::Readiness && !ok && thresholds.verdict == Some(false) && reported.as_ref() != Some(&message) => {
                    reported = Some(message.clone());
                    self.send(kind, false, message);
                }
                None => {}
            }
            tokio::time::sleep(seconds(probe.period_seconds, 10)).await;
        }
    }

    /// One probe: `(healthy, why not)`.
    async fn check(&self, probe: &Probe) -> (bool, String) {
        let timeout = seconds(probe.timeout_seconds, 1);
        let result = if let Some(command) = probe.exec.as_ref().and_then(|e| e.command.clone()) {
            self.exec(command, timeout).await
        } else if let Some(get) = &probe.http_get {
            self.http_get(get, timeout).await
        } else if let Some(tcp) = &probe.tcp_socket {
            self.tcp_socket(tcp, timeout).await
        } else {
            Ok(())
        };
        match result {
            Ok(()) => (true, String::new()),
            Err(message) => (false, message),
        }
    }

    async fn exec(&self, command: Vec<String>, timeout: Duration) -> Result<(), String> {
        let io = ExecIo {
            stdin: None,
            stdout: Some(Box::new(tokio::io::sink())),
            stderr: Some(Box::new(tokio::io::sink())),
            tty: false,
            resize: None,
        };
        match tokio::time::timeout(timeout, self.runtime.exec(&self.id, command.clone(), io)).await {
            Ok(Ok(0)) => Ok(()),
            Ok(Ok(code)) => Err(format!("command {command:?} exited with {code}")),
            Ok(Err(err)) => Err(format!("command {command:?} failed: {err}")),
            Err(_) => Err(format!("command {command:?} timed out after {}s", timeout.as_secs())),
        }
    }

    async fn http_get(&self, get: &k8s_openapi::api::core::v1::HTTPGetAction, timeout: Duration) -> Result<(), String> {
        let port = resolve_port(&get.port, &self.container)?;
        let endpoint = self.target.endpoint_for(get.host.as_deref()).await?;
        let scheme = match get.scheme.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("https") => http::Scheme::Https,
            _ => http::Scheme::Http,
        };
        let headers = get.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
        let request = http::HttpGet { scheme, port, path: get.path.clone().unwrap_or_default(), headers };
        http::probe(&endpoint, &request, timeout).await
    }

    async fn tcp_socket(&self, tcp: &k8s_openapi::api::core::v1::TCPSocketAction, timeout: Duration) -> Result<(), String> {
        let port = resolve_port(&tcp.port, &self.container)?;
        let endpoint = self.target.endpoint_for(tcp.host.as_deref()).await?;
        tcp::probe(&endpoint, port, timeout).await
    }
}

/// A probe's port: a number, or the name of one of the container's ports (and, as
/// the kubelet's last resort, a number written as a string).
fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => i64::from(*n),
        IntOrString::String(name) => {
            let named = container.ports.iter().flatten().find(|p| p.name.as_deref() == Some(name.as_str()));
            match (named, name.parse::<i64>()) {
                (Some(p), _) => i64::from(p.container_port),
                (None, Ok(n)) => n,
                (None, Err(_)) => return Err(format!("port {name} not found")),
            }
        }
    };
    u16::try_from(number).ok().filter(|p| *p > 0).ok_or_else(|| format!("invalid port number: {number}"))
}

fn seconds(value: Option<i32>, default: u64) -> Duration {
    Duration::from_secs(value.and_then(|v| u64::try_from(v).ok()).filter(|v| *v > 0).unwrap_or(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: i32, failure: i32) -> Probe {
        Probe { success_threshold: Some(success), failure_threshold: Some(failure), ..Default::default() }
    }

    #[test]
    fn thresholds_report_transitions_only() {
        let mut t = Thresholds::new(&probe(1, 3));
        assert_eq!(t.observe(true), Some(true));
        assert_eq!(t.observe(true), None);
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(false), Some(false), "third failure in a row");
        assert_eq!(t.observe(false), None);
        assert_eq!(t.observe(true), Some(true));
    }

    #[test]
    fn success_threshold_needs_a_streak() {
        let mut t = Thresholds::new(&probe(2, 1));
        assert_eq!(t.observe(true), None);
        assert_eq!(t.observe(false), Some(false));
        assert_eq!(t.observe(true), None);
        assert_eq!(t.observe(true), Some(true));
    }

    #[test]
    fn ports_by_number_or_name() {
        let container: Container = serde_json::from_value(serde_json::json!({
            "name": "c", "ports": [{"name": "http", "containerPort": 8080}]
        }))
        .unwrap();
        assert_eq!(resolve_port(&IntOrString::Int(81), &container), Ok(81));
        assert_eq!(resolve_port(&IntOrString::String("http".into()), &container), Ok(8080));
        assert_eq!(resolve_port(&IntOrString::String("9090".into()), &container), Ok(9090));
        assert_eq!(resolve_port(&IntOrString::String("metrics".into()), &container), Err("port metrics not found".into()));
        assert_eq!(resolve_port(&IntOrString::Int(0), &container), Err("invalid port number: 0".into()));
    }

    #[test]
    fn defaults_when_unset() {
        assert_eq!(seconds(None, 10), Duration::from_secs(10));
        assert_eq!(seconds(Some(0), 1), Duration::from_secs(1));
        assert_eq!(seconds(Some(5), 1), Duration::from_secs(5));
    }
}
