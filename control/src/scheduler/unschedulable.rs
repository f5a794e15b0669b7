//! Telling the user why a pod fits nowhere, in upstream's words: a Warning
//! Event `FailedScheduling` ("0/3 nodes are available: 2 Insufficient
//! memory, ...") and the pod's condition PodScheduled=False, reason
//! Unschedulable, with the same message.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::schedule::FitError;
use crate::events::{EventType, Recorder};

pub const NO_NODES: &str = "no nodes available to schedule pods";
const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// `count reason` strings, sorted as upstream sorts them (as strings).
fn histogram<'a>(reasons: impl Iterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r).or_default() += 1;
    }
    let mut lines: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    lines.sort();
    lines.join(", ")
}

/// The message upstream's scheduler gives for this failure. This scheduler
/// does not preempt, and says so the way upstream does when preemption
/// finds nothing to evict.
pub fn message(err: &FitError) -> String {
    if err.num_nodes == 0 {
        return NO_NODES.to_string();
    }
    let n = err.num_nodes;
    let filters = histogram(err.node_reasons.iter().flatten().map(|r| r.message.as_str()));
    let preemption = histogram(err.node_reasons.iter().map(|reasons| if reasons.iter().all(|r| r.resolvable) { NO_VICTIMS } else { NOT_HELPFUL }));
    format!("0/{n} nodes are available: {filters}. preemption: 0/{n} nodes are available: {preemption}.")
}

/// The pod's conditions with PodScheduled=False/Unschedulable `message`;
/// `None` when the pod already says exactly that.
pub fn conditions_with(pod: &Pod, message: &str, now: Timestamp) -> Option<Vec<PodCondition>> {
    let mut conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let current = conditions.iter().find(|c| c.type_ == "PodScheduled");
    if current.is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable") && c.message.as_deref() == Some(message)) {
        return None;
    }
    let since = current.filter(|c| c.status == "False").and_then(|c| c.last_transition_time.clone()).unwrap_or(Time(now));
    conditions.retain(|c| c.type_ != "PodScheduled");
    conditions.push(PodCondition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some(message.into()),
        last_transition_time: Some(since),
        last_probe_time: None,
        observed_generation: None,
    });
    Some(conditions)
}

/// Records the failure on the pod: the Event, then the condition. Best
/// effort: a pod deleted meanwhile is no error.
pub async fn report(pods: Api<Pod>, recorder: &Recorder, pod: &Pod, message: String) {
    recorder.publish(pod, EventType::Warning, "FailedScheduling", message.clone()).await;
    let Some(conditions) = conditions_with(pod, &message, Timestamp::now()) else { return };
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let patch = json!({"status": {"conditions": conditions}});
    if let Err(err) = pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        tracing::debug!(pod = name, error = %err, "could not record PodScheduled=False");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::filters::Reason;
    use crate::scheduler::testing::pod;

    #[test]
    fn the_message_reads_like_upstreams() {
        let err = FitError {
            num_nodes: 3,
            node_reasons: vec![
                vec![Reason::resolvable("Insufficient memory")],
                vec![Reason::resolvable("Insufficient memory")],
                vec![Reason::unresolvable("node(s) had untolerated taint {node.kubernetes.io/unreachable: }")],
            ],
        };
        assert_eq!(
            message(&err),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 2 Insufficient memory. \
             preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
        );
        let one = FitError { num_nodes: 1, node_reasons: vec![vec![Reason::resolvable("Insufficient memory")]] };
        assert!(message(&one).starts_with("0/1 nodes are available: 1 Insufficient memory."));
        assert_eq!(message(&FitError::default()), NO_NODES);
    }

    #[test]
    fn the_condition_is_written_once_per_message() {
        let mut p = pod("p", "0", "0");
        let conditions = conditions_with(&p, "0/1 nodes are available", Timestamp::UNIX_EPOCH).expect("new condition");
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason.as_deref(), Some("Unschedulable"));
        p.status = Some(k8s_openapi::api::core::v1::PodStatus { conditions: Some(conditions), ..Default::default() });
        assert!(conditions_with(&p, "0/1 nodes are available", Timestamp::now()).is_none());
        let changed = conditions_with(&p, "0/2 nodes are available", Timestamp::now()).expect("new message");
        assert_eq!(changed[0].last_transition_time, Some(Time(Timestamp::UNIX_EPOCH)), "still False since the first failure");
    }
}
