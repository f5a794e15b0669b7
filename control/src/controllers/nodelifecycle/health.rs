//! Whether a node is still alive, and what its status says when it is not.
//!
//! As in Kubernetes, liveness is judged on this controller's own clock: a
//! node is heard from whenever its Lease's `renewTime` or its Ready
//! condition's `lastHeartbeatTime` changes, whatever those timestamps say
//! (the node's clock may be off). A node silent for longer than the grace
//! period gets every condition set to Unknown.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const UNKNOWN_REASON: &str = "NodeStatusUnknown";
pub const UNKNOWN_MESSAGE: &str = "Kubelet stopped posting node status.";
const NEVER_REASON: &str = "NodeStatusNeverUpdated";
const NEVER_MESSAGE: &str = "Kubelet never posted node status.";

/// The node's Ready condition, as the taints and evictions read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The agent says its node is not ready.
    NotReady,
    /// Nobody knows: the agent stopped reporting (or never did).
    Unknown,
}

impl Readiness {
    pub fn of(node: &Node) -> Readiness {
        let ready = node.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        match ready.map(|c| c.status.as_str()) {
            Some("True") => Readiness::Ready,
            Some("False") => Readiness::NotReady,
            _ => Readiness::Unknown,
        }
    }
}

/// What was last heard from a node, and when (on our clock).
#[derive(Clone, Debug, PartialEq)]
struct Signs {
    lease_renewed: Option<String>,
    status_heartbeat: Option<String>,
}

fn signs(node: &Node, lease: Option<&Lease>) -> Signs {
    let lease_renewed = lease.and_then(|l| l.spec.as_ref()).and_then(|s| s.renew_time.as_ref()).map(|t| t.0.to_string());
    let status_heartbeat = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0.to_string());
    Signs { lease_renewed, status_heartbeat }
}

/// When each node was last heard from.
#[derive(Default)]
pub struct Heartbeats {
    heard: HashMap<String, (Signs, Instant)>,
}

impl Heartbeats {
    /// How long `node` has been silent at `now`. A node seen for the first
    /// time counts as just heard from: after a restart of this controller
    /// every node gets the full grace period again.
    pub fn silence(&mut self, node: &Node, lease: Option<&Lease>, now: Instant) -> Duration {
        let name = node.metadata.name.clone().unwrap_or_default();
        let latest = signs(node, lease);
        match self.heard.get_mut(&name) {
            Some((seen, at)) if *seen == latest => now.saturating_duration_since(*at),
            Some(entry) => {
                *entry = (latest, now);
                Duration::ZERO
            }
            None => {
                self.heard.insert(name, (latest, now));
                Duration::ZERO
            }
        }
    }

    /// Forgets nodes that no longer exist.
    pub fn retain(&mut self, exists: impl Fn(&str) -> bool) {
        self.heard.retain(|name, _| exists(name));
    }
}

/// The conditions of a node nobody hears from: every one Unknown (a missing
/// Ready condition is added), heartbeat times kept. None when they already are.
pub fn unknown_conditions(conditions: &[NodeCondition], now: &Time) -> Option<Vec<NodeCondition>> {
    let mut changed = false;
    let mut out: Vec<NodeCondition> = conditions
        .iter()
        .map(|c| {
            if c.status == "Unknown" {
                return c.clone();
            }
            changed = true;
            NodeCondition {
                status: "Unknown".into(),
                reason: Some(UNKNOWN_REASON.into()),
                message: Some(UNKNOWN_MESSAGE.into()),
                last_transition_time: Some(now.clone()),
                ..c.clone()
            }
        })
        .collect();
    if !out.iter().any(|c| c.type_ == "Ready") {
        changed = true;
        out.insert(
            0,
            NodeCondition {
                type_: "Ready".into(),
                status: "Unknown".into(),
                reason: Some(NEVER_REASON.into()),
                message: Some(NEVER_MESSAGE.into()),
                last_heartbeat_time: None,
                last_transition_time: Some(now.clone()),
            },
        );
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::api::core::v1::NodeStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

    use super::*;

    fn condition(kind: &str, status: &str, heartbeat: i64) -> NodeCondition {
        NodeCondition {
            type_: kind.into(),
            status: status.into(),
            reason: Some("KubeletReady".into()),
            message: Some("fine".into()),
            last_heartbeat_time: Some(Time(Timestamp::from_second(heartbeat).unwrap_or(Timestamp::UNIX_EPOCH))),
            last_transition_time: Some(Time(Timestamp::UNIX_EPOCH)),
        }
    }

    fn node(heartbeat: i64) -> Node {
        Node {
            metadata: ObjectMeta { name: Some("n1".into()), ..Default::default() },
            spec: None,
            status: Some(NodeStatus { conditions: Some(vec![condition("Ready", "True", heartbeat)]), ..Default::default() }),
        }
    }

    fn lease(renewed: i64) -> Lease {
        let time = MicroTime(Timestamp::from_second(renewed).unwrap_or(Timestamp::UNIX_EPOCH));
        Lease { metadata: ObjectMeta::default(), spec: Some(LeaseSpec { renew_time: Some(time), ..Default::default() }) }
    }

    #[test]
    fn silence_grows_until_the_lease_or_the_status_moves() {
        let mut heartbeats = Heartbeats::default();
        let start = Instant::now();
        let later = |s: u64| start + Duration::from_secs(s);
        assert_eq!(heartbeats.silence(&node(1), Some(&lease(1)), start), Duration::ZERO);
        assert_eq!(heartbeats.silence(&node(1), Some(&lease(1)), later(30)), Duration::from_secs(30));
        assert_eq!(heartbeats.silence(&node(1), Some(&lease(2)), later(31)), Duration::ZERO, "a renewed lease");
        assert_eq!(heartbeats.silence(&node(1), Some(&lease(2)), later(45)), Duration::from_secs(14));
        assert_eq!(heartbeats.silence(&node(9), Some(&lease(2)), later(46)), Duration::ZERO, "a new status heartbeat");
        heartbeats.retain(|_| false);
        assert!(heartbeats.heard.is_empty());
    }

    #[test]
    fn every_condition_turns_unknown_once() {
        let now = Time(Timestamp::from_second(100).unwrap_or(Timestamp::UNIX_EPOCH));
        let conditions = vec![condition("Ready", "True", 5), condition("MemoryPressure", "False", 5)];
        let unknown = unknown_conditions(&conditions, &now).expect("a change");
        assert!(unknown.iter().all(|c| c.status == "Unknown" && c.reason.as_deref() == Some(UNKNOWN_REASON)));
        assert_eq!(unknown[0].message.as_deref(), Some(UNKNOWN_MESSAGE));
        assert_eq!(unknown[0].last_transition_time, Some(now.clone()));
        assert_eq!(unknown[0].last_heartbeat_time, conditions[0].last_heartbeat_time, "the last heartbeat is kept");
        assert_eq!(unknown_conditions(&unknown, &now), None);
    }

    #[test]
    fn a_node_that_never_reported_gets_an_unknown_ready_condition() {
        let now = Time(Timestamp::UNIX_EPOCH);
        let unknown = unknown_conditions(&[], &now).expect("a change");
        assert_eq!((unknown[0].type_.as_str(), unknown[0].status.as_str()), ("Ready", "Unknown"));
        assert_eq!(unknown[0].reason.as_deref(), Some(NEVER_REASON));
    }

    #[test]
    fn readiness_follows_the_ready_condition() {
        assert_eq!(Readiness::of(&node(1)), Readiness::Ready);
        let mut down = node(1);
        if let Some(c) = down.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            c[0].status = "False".into();
        }
        assert_eq!(Readiness::of(&down), Readiness::NotReady);
        down.status = None;
        assert_eq!(Readiness::of(&down), Readiness::Unknown);
    }
}
