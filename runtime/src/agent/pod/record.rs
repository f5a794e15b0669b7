//! What the agent knows about one pod's containers: the local truth that the
//! pod status is computed from. Seeded from the last status the API server
//! holds, so an agent restart keeps restart counts and last states.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus};

use crate::cri::ContainerId;

/// One container's observed state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: Timestamp },
    Terminated(Terminated),
}

/// A finished run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Timestamp,
    /// `<handler>://<id>` of the run that ended.
    pub container_id: Option<String>,
}

/// One container of the pod (init or regular).
#[derive(Clone, Debug)]
pub struct ContainerRecord {
    pub name: String,
    /// The image as the spec names it.
    pub image: String,
    /// `<name>@<manifest digest>` once pulled.
    pub image_id: String,
    /// The runtime's id of the current run.
    pub id: Option<ContainerId>,
    /// `<handler>://<id>` of the current run.
    pub container_id: Option<String>,
    pub restart_count: i32,
    pub state: Observed,
    pub last_terminated: Option<Terminated>,
    /// Readiness: running and (no readiness probe, or its last result passed).
    pub ready: bool,
    /// Running and past its startup probe.
    pub started: bool,
}

impl ContainerRecord {
    pub fn new(name: &str, image: &str) -> Self {
        ContainerRecord {
            name: name.to_string(),
            image: image.to_string(),
            image_id: String::new(),
            id: None,
            container_id: None,
            restart_count: 0,
            state: Observed::Waiting { reason: "ContainerCreating".into(), message: None },
            last_terminated: None,
            ready: false,
            started: false,
        }
    }

    /// A record continuing from the status the API server last saw. A run that
    /// was going when the agent stopped did not survive it: it counts as one
    /// restart, as a container that died with its node would.
    pub fn resume(name: &str, image: &str, status: Option<&ContainerStatus>) -> Self {
        let mut record = Self::new(name, image);
        let Some(status) = status else { return record };
        record.restart_count = status.restart_count;
        record.last_terminated = status.last_state.as_ref().and_then(terminated_of);
        let current = status.state.as_ref();
        if let Some(done) = current.and_then(terminated_of) {
            record.state = Observed::Terminated(done);
        } else if let Some(running) = current.and_then(|s| s.running.as_ref()) {
            record.restart_count += 1;
            record.last_terminated = Some(Terminated {
                exit_code: 137,
                reason: "Error".into(),
                message: Some("the node agent restarted while the container ran".into()),
                started_at: running.started_at.as_ref().map(|t| t.0),
                finished_at: Timestamp::now(),
                container_id: status.container_id.clone(),
            });
        }
        record
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, Observed::Running { .. })
    }

    /// The current run ended with exit code 0.
    pub fn succeeded(&self) -> bool {
        matches!(&self.state, Observed::Terminated(t) if t.exit_code == 0)
    }
}

fn terminated_of(state: &ContainerState) -> Option<Terminated> {
    let t = state.terminated.as_ref()?;
    Some(Terminated {
        exit_code: t.exit_code,
        reason: t.reason.clone().unwrap_or_else(|| "Error".into()),
        message: t.message.clone(),
        started_at: t.started_at.as_ref().map(|s| s.0),
        finished_at: t.finished_at.as_ref().map(|s| s.0).unwrap_or_else(Timestamp::now),
        container_id: t.container_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ContainerStateRunning, ContainerStateTerminated};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn status(state: ContainerState, restarts: i32) -> ContainerStatus {
        ContainerStatus { name: "c".into(), restart_count: restarts, state: Some(state), ..Default::default() }
    }

    #[test]
    fn a_run_lost_with_the_agent_counts_as_a_restart() {
        let running = ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(Time(Timestamp::UNIX_EPOCH)) }),
            ..Default::default()
        };
        let record = ContainerRecord::resume("c", "img", Some(&status(running, 2)));
        assert_eq!(record.restart_count, 3);
        assert!(record.last_terminated.is_some());
        assert!(matches!(record.state, Observed::Waiting { .. }));
    }

    #[test]
    fn a_finished_run_stays_finished() {
        let done = ContainerState {
            terminated: Some(ContainerStateTerminated { exit_code: 0, reason: Some("Completed".into()), ..Default::default() }),
            ..Default::default()
        };
        let record = ContainerRecord::resume("c", "img", Some(&status(done, 0)));
        assert_eq!(record.restart_count, 0);
        assert!(record.succeeded());
    }
}
