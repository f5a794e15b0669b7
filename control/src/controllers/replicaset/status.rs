//! The status a replica controller records, computed from its pods.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::pods::{available_at, is_available, is_ready};

/// The counts ReplicaSet and ReplicationController status share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaCounts {
    pub replicas: i32,
    pub fully_labeled_replicas: i32,
    pub ready_replicas: i32,
    pub available_replicas: i32,
    pub observed_generation: i64,
}

impl ReplicaCounts {
    /// The `status` merge patch that records these counts.
    pub fn status_patch(&self) -> Value {
        json!({"status": {
            "replicas": self.replicas,
            "fullyLabeledReplicas": self.fully_labeled_replicas,
            "readyReplicas": self.ready_replicas,
            "availableReplicas": self.available_replicas,
            "observedGeneration": self.observed_generation,
        }})
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Counts over the active owned pods. Fully labeled: the pod carries every
/// label of the template (not only the selector's).
pub fn counts(active: &[&Pod], template_labels: Option<&BTreeMap<String, String>>, min_ready_seconds: i32, generation: i64, now: Timestamp) -> ReplicaCounts {
    let fully_labeled = active
        .iter()
        .filter(|pod| {
            let labels = pod.metadata.labels.as_ref();
            template_labels.into_iter().flatten().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
        })
        .count();
    ReplicaCounts {
        replicas: count(active.len()),
        fully_labeled_replicas: count(fully_labeled),
        ready_replicas: count(active.iter().filter(|p| is_ready(p)).count()),
        available_replicas: count(active.iter().filter(|p| is_available(p, min_ready_seconds, now)).count()),
        observed_generation: generation,
    }
}

/// When the next ready-but-not-yet-available pod becomes available, so the
/// controller looks again then (nothing else would wake it).
pub fn next_availability(active: &[&Pod], min_ready_seconds: i32, now: Timestamp) -> Option<Timestamp> {
    if min_ready_seconds <= 0 {
        return None;
    }
    active.iter().filter_map(|p| available_at(p, min_ready_seconds)).filter(|at| *at > now).min()
}

#[cfg(test)]
mod tests {
    use super::super::pods::tests::{at, pod};
    use super::*;

    #[test]
    fn counts_ready_available_and_fully_labeled() {
        let template = BTreeMap::from([("app".to_string(), "web".to_string()), ("tier".to_string(), "fe".to_string())]);
        let mut full = pod("full", 1, Some("n"), "Running", Some(10));
        full.metadata.labels = Some(template.clone());
        let partial = pod("partial", 1, Some("n"), "Running", Some(95));
        let unready = pod("unready", 1, Some("n"), "Pending", None);
        let counts = counts(&[&full, &partial, &unready], Some(&template), 10, 7, at(100));
        assert_eq!(counts, ReplicaCounts { replicas: 3, fully_labeled_replicas: 1, ready_replicas: 2, available_replicas: 1, observed_generation: 7 });
        assert_eq!(counts.status_patch()["status"]["availableReplicas"], 1);
        assert_eq!(next_availability(&[&full, &partial, &unready], 10, at(100)), Some(at(105)));
        assert_eq!(next_availability(&[&full], 10, at(100)), None);
        assert_eq!(next_availability(&[&partial], 0, at(100)), None);
    }
}
