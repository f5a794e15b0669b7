//! The pod status (phase, conditions, container statuses) computed from the
//! agent's records: a pure function, so the rules are tested here and the
//! worker only sends what it returns.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP,
    PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::record::{ContainerRecord, Observed, Terminated};

/// `spec.restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a regular container that exited with `exit_code` runs again.
    pub fn restarts(self, exit_code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        }
    }

    /// Init containers rerun on failure unless the policy is Never.
    pub fn restarts_init(self, exit_code: i32) -> bool {
        exit_code != 0 && self != RestartPolicy::Never
    }
}

/// A reason that ends the whole pod (activeDeadlineSeconds, no runtime...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodFailure {
    pub reason: String,
    pub message: String,
}

/// Everything the status is computed from.
pub struct PodView<'a> {
    pub restart_policy: RestartPolicy,
    pub init: &'a [ContainerRecord],
    pub containers: &'a [ContainerRecord],
    pub failure: Option<&'a PodFailure>,
    pub start_time: Timestamp,
    pub host_ip: &'a str,
    /// The sandbox's address; `None` before it has one, or on a node without a pod network.
    pub pod_ip: Option<&'a str>,
    pub qos_class: &'static str,
}

impl PodView<'_> {
    pub fn initialized(&self) -> bool {
        self.init.iter().all(ContainerRecord::succeeded)
    }

    /// `status.phase`, by kubelet's rules.
    pub fn phase(&self) -> &'static str {
        if self.failure.is_some() {
            return "Failed";
        }
        if !self.initialized() {
            let init_failed = self.init.iter().any(|c| {
                matches!(&c.state, Observed::Terminated(t) if !self.restart_policy.restarts_init(t.exit_code) && t.exit_code != 0)
            });
            return if init_failed { "Failed" } else { "Pending" };
        }
        let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
        for c in self.containers {
            match &c.state {
                Observed::Running { .. } => running += 1,
                Observed::Terminated(t) => {
                    stopped += 1;
                    if t.exit_code == 0 {
                        succeeded += 1;
                    }
                }
                Observed::Waiting { .. } if c.last_terminated.is_some() => stopped += 1,
                Observed::Waiting { .. } => waiting += 1,
            }
        }
        if waiting > 0 {
            return "Pending";
        }
        if running > 0 {
            return "Running";
        }
        if stopped == 0 {
            return "Pending";
        }
        match self.restart_policy {
            RestartPolicy::Always => "Running",
            RestartPolicy::OnFailure if stopped == succeeded => "Succeeded",
            RestartPolicy::OnFailure => "Running",
            RestartPolicy::Never if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
        }
    }

    /// The full status; conditions keep their transition time from `previous`
    /// while their value does not change.
    pub fn status(&self, previous: Option<&PodStatus>) -> PodStatus {
        let initialized = self.initialized();
        let phase = self.phase();
        let containers_ready = initialized && !self.containers.is_empty() && self.containers.iter().all(|c| c.ready);
        let not_ready_names = |records: &[ContainerRecord]| {
            records.iter().filter(|c| !c.ready).map(|c| c.name.as_str()).collect::<Vec<_>>().join(" ")
        };
        let pending_init: Vec<&str> = self.init.iter().filter(|c| !c.succeeded()).map(|c| c.name.as_str()).collect();
        let previous_conditions = previous.and_then(|s| s.conditions.as_deref()).unwrap_or(&[]);
        let condition = |kind: &str, ok: bool, reason: Option<String>, message: Option<String>| {
            let status = if ok { "True" } else { "False" };
            let since = previous_conditions
                .iter()
                .find(|c| c.type_ == kind && c.status == status)
                .and_then(|c| c.last_transition_time.clone())
                .unwrap_or(Time(Timestamp::now()));
            PodCondition {
                type_: kind.to_string(),
                status: status.to_string(),
                last_transition_time: Some(since),
                reason: if ok { None } else { reason },
                message: if ok { None } else { message },
                ..Default::default()
            }
        };
        let complete = phase == "Succeeded" || phase == "Failed";
        let (cr_reason, cr_message) = if complete {
            (Some("PodCompleted".to_string()), None)
        } else if !initialized {
            (Some("ContainersNotInitialized".to_string()), Some(format!("containers with incomplete status: [{}]", pending_init.join(" "))))
        } else {
            (Some("ContainersNotReady".to_string()), Some(format!("containers with unready status: [{}]", not_ready_names(self.containers))))
        };
        let (init_reason, init_message) = if complete && initialized {
            (None, None)
        } else {
            (Some("ContainersNotInitialized".to_string()), Some(format!("containers with incomplete status: [{}]", pending_init.join(" "))))
        };
        PodStatus {
            phase: Some(phase.to_string()),
            reason: self.failure.map(|f| f.reason.clone()),
            message: self.failure.map(|f| f.message.clone()),
            conditions: Some(vec![
                condition("PodScheduled", true, None, None),
                condition("Initialized", initialized, init_reason, init_message),
                condition("ContainersReady", containers_ready, cr_reason.clone(), cr_message.clone()),
                condition("Ready", containers_ready, cr_reason, cr_message),
            ]),
            host_ip: Some(self.host_ip.to_string()),
            host_ips: Some(vec![HostIP { ip: self.host_ip.to_string() }]),
            pod_ip: self.pod_ip.map(str::to_string),
            pod_ips: self.pod_ip.map(|ip| vec![PodIP { ip: ip.to_string() }]),
            start_time: Some(Time(self.start_time)),
            qos_class: Some(self.qos_class.to_string()),
            init_container_statuses: (!self.init.is_empty()).then(|| self.init.iter().map(container_status).collect()),
            container_statuses: Some(self.containers.iter().map(container_status).collect()),
            ..Default::default()
        }
    }
}

fn container_status(record: &ContainerRecord) -> ContainerStatus {
    let current_id = match &record.state {
        Observed::Terminated(t) => t.container_id.clone().or_else(|| record.container_id.clone()),
        _ => record.container_id.clone(),
    };
    ContainerStatus {
        name: record.name.clone(),
        image: record.image.clone(),
        image_id: record.image_id.clone(),
        container_id: current_id,
        restart_count: record.restart_count,
        ready: record.ready,
        started: Some(record.started),
        state: Some(state_of(&record.state)),
        last_state: Some(record.last_terminated.as_ref().map(|t| terminated_state(t)).unwrap_or_default()),
        ..Default::default()
    }
}

fn state_of(observed: &Observed) -> ContainerState {
    match observed {
        Observed::Waiting { reason, message } => ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.clone()), message: message.clone() }),
            ..Default::default()
        },
        Observed::Running { started_at } => ContainerState {
            running: Some(ContainerStateRunning { started_at: Some(Time(*started_at)) }),
            ..Default::default()
        },
        Observed::Terminated(t) => terminated_state(t),
    }
}

fn terminated_state(t: &Terminated) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            reason: Some(t.reason.clone()),
            message: t.message.clone(),
            started_at: t.started_at.map(Time),
            finished_at: Some(Time(t.finished_at)),
            container_id: t.container_id.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: Observed, last: Option<i32>) -> ContainerRecord {
        let mut r = ContainerRecord::new("c", "img");
        r.state = state;
        r.last_terminated = last.map(|code| done(code));
        r
    }

    fn done(code: i32) -> Terminated {
        Terminated {
            exit_code: code,
            reason: if code == 0 { "Completed" } else { "Error" }.into(),
            message: None,
            started_at: None,
            finished_at: Timestamp::UNIX_EPOCH,
            container_id: None,
        }
    }

    fn view<'a>(policy: RestartPolicy, init: &'a [ContainerRecord], containers: &'a [ContainerRecord]) -> PodView<'a> {
        PodView {
            restart_policy: policy,
            init,
            containers,
            failure: None,
            start_time: Timestamp::UNIX_EPOCH,
            host_ip: "127.0.0.1",
            pod_ip: Some("10.42.0.2"),
            qos_class: "BestEffort",
        }
    }

    fn waiting() -> Observed {
        Observed::Waiting { reason: "ContainerCreating".into(), message: None }
    }

    fn running() -> Observed {
        Observed::Running { started_at: Timestamp::UNIX_EPOCH }
    }

    #[test]
    fn phases_follow_kubelet() {
        use RestartPolicy::*;
        let ok = [record(Observed::Terminated(done(0)), None)];
        let failed = [record(Observed::Terminated(done(1)), None)];
        let crashlooping = [record(Observed::Waiting { reason: "CrashLoopBackOff".into(), message: None }, Some(1))];
        assert_eq!(view(Always, &[], &[record(waiting(), None)]).phase(), "Pending");
        assert_eq!(view(Always, &[], &[record(running(), None)]).phase(), "Running");
        assert_eq!(view(Never, &[], &ok).phase(), "Succeeded");
        assert_eq!(view(Never, &[], &failed).phase(), "Failed");
        assert_eq!(view(OnFailure, &[], &ok).phase(), "Succeeded");
        assert_eq!(view(Always, &[], &crashlooping).phase(), "Running");
        assert_eq!(view(Always, &[], &ok).phase(), "Running");
    }

    #[test]
    fn init_containers_gate_the_pod() {
        use RestartPolicy::*;
        let main = [record(waiting(), None)];
        let init_running = [record(running(), None)];
        assert_eq!(view(Always, &init_running, &main).phase(), "Pending");
        let init_failed = [record(Observed::Terminated(done(2)), None)];
        assert_eq!(view(Never, &init_failed, &main).phase(), "Failed");
        assert_eq!(view(OnFailure, &init_failed, &main).phase(), "Pending");
        let status = view(Always, &init_running, &main).status(None);
        let conditions = status.conditions.unwrap_or_default();
        let initialized = conditions.iter().find(|c| c.type_ == "Initialized").map(|c| c.status.as_str());
        assert_eq!(initialized, Some("False"));
    }

    #[test]
    fn readiness_and_failure_show_in_status() {
        let mut ready = record(running(), None);
        ready.ready = true;
        let containers = [ready];
        let status = view(RestartPolicy::Always, &[], &containers).status(None);
        let conditions = status.conditions.clone().unwrap_or_default();
        assert!(conditions.iter().filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady").all(|c| c.status == "True"));
        // The transition time is kept while the value holds.
        let again = view(RestartPolicy::Always, &[], &containers).status(Some(&status));
        assert_eq!(again.conditions, status.conditions);

        let failure = PodFailure { reason: "DeadlineExceeded".into(), message: "too slow".into() };
        let mut failing = view(RestartPolicy::Always, &[], &containers);
        failing.failure = Some(&failure);
        let status = failing.status(None);
        assert_eq!(status.phase.as_deref(), Some("Failed"));
        assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
    }
}
