//! Exec probes (liveness, readiness, startup) run through
//! [`ContainerRuntime::exec`]: a command inside the container's environment
//! whose exit code 0 means healthy. Results pass the success and failure
//! thresholds before the pod worker hears of them. httpGet, tcpSocket and
//! grpc probes need pod networking and count as passing until it lands.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Probe};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
    tx: mpsc::UnboundedSender<ProbeVerdict>,
) -> JoinHandle<()> {
    let name = container.name.clone();
    let startup = container.startup_probe.clone();
    let liveness = container.liveness_probe.clone();
    let readiness = container.readiness_probe.clone();
    tokio::spawn(async move {
        let prober = Prober { runtime, id, name, tx };
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
        loop {
            let (ok, message) = self.check(probe).await;
            if let Some(verdict) = thresholds.observe(ok) {
                self.send(kind, verdict, message);
            }
            tokio::time::sleep(seconds(probe.period_seconds, 10)).await;
        }
    }

    /// One probe: `(healthy, why not)`.
    async fn check(&self, probe: &Probe) -> (bool, String) {
        let Some(command) = probe.exec.as_ref().and_then(|e| e.command.clone()) else {
            return (true, String::new());
        };
        let io = ExecIo {
            stdin: None,
            stdout: Some(Box::new(tokio::io::sink())),
            stderr: Some(Box::new(tokio::io::sink())),
            tty: false,
            resize: None,
        };
        let timeout = seconds(probe.timeout_seconds, 1);
        match tokio::time::timeout(timeout, self.runtime.exec(&self.id, command.clone(), io)).await {
            Ok(Ok(0)) => (true, String::new()),
            Ok(Ok(code)) => (false, format!("command {command:?} exited with {code}")),
            Ok(Err(err)) => (false, format!("command {command:?} failed: {err}")),
            Err(_) => (false, format!("command {command:?} timed out after {}s", timeout.as_secs())),
        }
    }
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
    fn defaults_when_unset() {
        assert_eq!(seconds(None, 10), Duration::from_secs(10));
        assert_eq!(seconds(Some(0), 1), Duration::from_secs(1));
        assert_eq!(seconds(Some(5), 1), Duration::from_secs(5));
    }
}
