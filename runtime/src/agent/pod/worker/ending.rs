//! How a pod's containers end: exits and probe verdicts, stopping within the
//! grace period, tearing the pod down, and reporting status.

use super::*;

impl PodWorker {
    pub(super) async fn on_exit(&mut self, exit: Exit) {
        let Some(index) = self.slots.iter().position(|s| s.record.name == exit.name && s.record.id.as_ref() == Some(&exit.id)) else {
            return;
        };
        let runtime = self.admitted.as_ref().map(|a| a.runtime.clone());
        let policy = self.policy;
        let stopping = self.failure.is_some();
        let slot = &mut self.slots[index];
        if let Some(probes) = slot.probes.take() {
            probes.abort();
        }
        let (code, reason, message, started_at, finished_at) = match exit.state {
            ContainerState::Exited { code, reason, message, started_at, finished_at } => (code, reason, message, started_at, finished_at),
            // The runtime says it still runs: treat as a lost container.
            _ => (255, ExitReason::Error, None, SystemTime::now(), SystemTime::now()),
        };
        let terminated = Terminated {
            exit_code: code,
            reason: reason.as_str().to_string(),
            message,
            started_at: Timestamp::try_from(started_at).ok(),
            finished_at: Timestamp::try_from(finished_at).unwrap_or_else(|_| Timestamp::now()),
            container_id: slot.record.container_id.clone(),
        };
        slot.record.state = Observed::Terminated(terminated.clone());
        slot.record.ready = false;
        slot.record.started = false;
        slot.record.id = None;
        slot.ran_before = true;
        let ran_for = slot.run_started.take().map(|s| s.elapsed()).unwrap_or_default();
        let restarts = if slot.init { policy.restarts_init(code) } else { policy.restarts(code) };
        let name = slot.record.name.clone();
        let mut backoff_message = None;
        if restarts && !stopping {
            let delay = slot.backoff.next_delay(ran_for);
            slot.not_before = Some(Instant::now() + delay);
            if !delay.is_zero() {
                let message = format!("back-off {}s restarting failed container={name} pod={}_{}({})", delay.as_secs(), self.name, self.namespace, self.uid);
                slot.record.last_terminated = Some(terminated);
                slot.record.state = Observed::Waiting { reason: "CrashLoopBackOff".into(), message: Some(message.clone()) };
                backoff_message = Some(message);
            }
        }
        if let Some(runtime) = runtime {
            if let Err(err) = runtime.remove_container(&exit.id).await {
                tracing::debug!(container = %name, error = %err, "removing an exited container");
            }
        }
        if reason == ExitReason::OomKilled {
            let message = format!("Memory limit reached: container {name} was OOM-killed");
            self.ctx.recorder.record(&self.pod, Some(&name), EventType::Warning, "OOMKilling", message);
        }
        if let Some(message) = backoff_message {
            self.ctx.recorder.record(&self.pod, Some(&name), EventType::Warning, "BackOff", message);
        }
        self.register_live();
    }

    pub(super) async fn on_probe(&mut self, verdict: ProbeVerdict) {
        let Some(slot) = self.slots.iter_mut().find(|s| s.record.id.as_ref() == Some(&verdict.id)) else { return };
        let name = slot.record.name.clone();
        match (verdict.kind, verdict.healthy) {
            (ProbeKind::Startup, true) => slot.record.started = true,
            (ProbeKind::Readiness, healthy) => slot.record.ready = healthy && slot.record.started,
            (ProbeKind::Liveness, true) => {}
            (kind @ (ProbeKind::Startup | ProbeKind::Liveness), false) => {
                let message = format!("{} probe failed: {}", kind.as_str(), verdict.message);
                self.ctx.recorder.record(&self.pod, Some(&name), EventType::Warning, "Unhealthy", message);
                let killing = format!("Container {name} failed {} probe, will be restarted", kind.as_str().to_lowercase());
                self.ctx.recorder.record(&self.pod, Some(&name), EventType::Normal, "Killing", killing);
                if let Some(runtime) = self.admitted.as_ref().map(|a| a.runtime.clone()) {
                    let grace = self.grace_period();
                    if let Err(err) = runtime.stop_container(&verdict.id, grace).await {
                        tracing::warn!(container = %name, error = %err, "stopping an unhealthy container");
                    }
                }
            }
        }
        if verdict.kind == ProbeKind::Readiness && !verdict.healthy {
            let message = format!("Readiness probe failed: {}", verdict.message);
            self.ctx.recorder.record(&self.pod, Some(&name), EventType::Warning, "Unhealthy", message);
        }
    }

    pub(super) fn grace_period(&self) -> Duration {
        let seconds = self
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds))
            .unwrap_or(30);
        Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
    }

    /// Stops every running container (Killing events), waiting for their exits to be recorded.
    pub(super) async fn stop_all(&mut self, grace: Duration) {
        let Some(runtime) = self.admitted.as_ref().map(|a| a.runtime.clone()) else { return };
        let running: Vec<(String, ContainerId)> =
            self.slots.iter().filter_map(|s| s.record.id.clone().map(|id| (s.record.name.clone(), id))).collect();
        for (name, _) in &running {
            self.ctx.recorder.record(&self.pod, Some(name), EventType::Normal, "Killing", format!("Stopping container {name}"));
        }
        let stops = running.iter().map(|(_, id)| runtime.stop_container(id, grace));
        for result in futures::future::join_all(stops).await {
            if let Err(err) = result {
                tracing::warn!(pod = %self.name, error = %err, "stopping a container");
            }
        }
        // Each stopped container's waiter reports its exit; record them all before going on.
        let mut pending = running.len();
        while pending > 0 {
            match tokio::time::timeout(Duration::from_secs(5), self.exits_rx.recv()).await {
                Ok(Some(exit)) => {
                    self.on_exit(exit).await;
                    pending -= 1;
                }
                _ => break,
            }
        }
        for slot in &mut self.slots {
            slot.not_before = None;
            if let Some(probes) = slot.probes.take() {
                probes.abort();
            }
        }
    }

    /// Tears the pod down; with `final_delete`, removes it from the API server afterwards.
    pub(super) async fn terminate(&mut self, final_delete: bool) {
        // No restarts from here on.
        self.failure.get_or_insert(PodFailure { reason: String::new(), message: String::new() });
        let grace = self.grace_period();
        self.stop_all(grace).await;
        if let (Some(admitted), Some(sandbox)) = (&self.admitted, self.sandbox.take()) {
            if let Err(err) = admitted.runtime.stop_sandbox(&sandbox).await {
                tracing::warn!(pod = %self.name, error = %err, "stopping the sandbox");
            }
            if let Err(err) = admitted.runtime.remove_sandbox(&sandbox).await {
                tracing::warn!(pod = %self.name, error = %err, "removing the sandbox");
            }
        }
        let pod_dir = self.pod_dir();
        if let Err(err) = PodVolumes::remove(&pod_dir) {
            tracing::warn!(pod = %self.name, error = %err, "removing volumes");
        }
        if let Err(err) = tokio::fs::remove_dir_all(&pod_dir).await {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(pod = %self.name, error = %err, "removing the pod directory");
            }
        }
        self.ctx.live.remove(&self.namespace, &self.name, &self.uid);
        if final_delete {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(self.uid.clone()), resource_version: None }),
                ..Default::default()
            };
            match self.api().delete(&self.name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
                Err(err) => tracing::warn!(pod = %self.name, error = %err, "final delete failed"),
            }
        }
    }

    /// Sends the status when it differs from what was last sent.
    pub(super) async fn write_status(&mut self) {
        let status = self.with_view(|view| view.status(self.last_status.as_ref()));
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let patch = serde_json::json!({ "status": status });
        match self.api().patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => self.last_status = Some(status),
            Err(err) => tracing::warn!(pod = %self.name, error = %err, "pod status update failed"),
        }
    }
}
