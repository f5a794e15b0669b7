//! Revision bookkeeping, what `kubectl rollout history` and `undo` read: the
//! new ReplicaSet holds revision max(old) + 1; one rolled back to keeps the
//! revisions it held in revision-history; the Deployment's annotations
//! (change-cause among them) are copied onto it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;

use super::replica_sets::{revision, DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY};

/// Deployment annotations that are not copied onto its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// Upstream caps revision-history; old entries beyond this are dropped.
const MAX_HISTORY_CHARS: usize = 2000;

/// The revision the new ReplicaSet gets: one above every old one.
pub fn next_revision(old: &[&ReplicaSet]) -> i64 {
    old.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1
}

/// The annotations the new ReplicaSet should carry, given its `current` ones.
pub fn new_replica_set_annotations(deployment: &BTreeMap<String, String>, current: &BTreeMap<String, String>, new_revision: i64) -> BTreeMap<String, String> {
    let mut annotations = current.clone();
    for (k, v) in deployment {
        if !NOT_COPIED.contains(&k.as_str()) {
            annotations.insert(k.clone(), v.clone());
        }
    }
    let held = current.get(REVISION).and_then(|r| r.parse::<i64>().ok());
    if held.is_none_or(|h| h < new_revision) {
        annotations.insert(REVISION.into(), new_revision.to_string());
        if let Some(held) = held {
            // Rolled back to: remember the revisions it held before.
            let history = match current.get(REVISION_HISTORY).filter(|h| !h.is_empty()) {
                Some(history) => format!("{history},{held}"),
                None => held.to_string(),
            };
            annotations.insert(REVISION_HISTORY.into(), trim_history(&history));
        }
    }
    annotations
}

fn trim_history(history: &str) -> String {
    let mut trimmed = history;
    while trimmed.len() > MAX_HISTORY_CHARS {
        match trimmed.split_once(',') {
            Some((_, rest)) => trimmed = rest,
            None => break,
        }
    }
    trimmed.to_string()
}

/// The annotations telling what the Deployment wanted when it last scaled a ReplicaSet.
pub fn replica_annotations(replicas: i32, max_surge: i32) -> [(&'static str, String); 2] {
    [(DESIRED_REPLICAS, replicas.to_string()), (MAX_REPLICAS, (replicas + max_surge).to_string())]
}

#[cfg(test)]
mod tests {
    use super::super::replica_sets::tests::{rs, with_annotation};
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_next_revision_is_above_every_old_one() {
        let a = with_annotation(rs("a", 1, 0, 0, 0), REVISION, "4");
        let b = with_annotation(rs("b", 2, 0, 0, 0), REVISION, "2");
        assert_eq!(next_revision(&[&a, &b]), 5);
        assert_eq!(next_revision(&[]), 1);
    }

    #[test]
    fn a_new_replica_set_gets_the_revision_and_the_change_cause() {
        let deployment = map(&[("kubernetes.io/change-cause", "set image"), (REVISION, "7"), ("kubectl.kubernetes.io/last-applied-configuration", "{}")]);
        let annotations = new_replica_set_annotations(&deployment, &BTreeMap::new(), 2);
        assert_eq!(annotations, map(&[("kubernetes.io/change-cause", "set image"), (REVISION, "2")]));
    }

    #[test]
    fn a_rolled_back_replica_set_remembers_its_revisions() {
        let current = map(&[(REVISION, "1")]);
        let annotations = new_replica_set_annotations(&BTreeMap::new(), &current, 3);
        assert_eq!(annotations, map(&[(REVISION, "3"), (REVISION_HISTORY, "1")]));
        let again = new_replica_set_annotations(&BTreeMap::new(), &map(&[(REVISION, "3"), (REVISION_HISTORY, "1")]), 5);
        assert_eq!(again.get(REVISION_HISTORY).map(String::as_str), Some("1,3"));
        // Already current: nothing changes.
        assert_eq!(new_replica_set_annotations(&BTreeMap::new(), &again, 5), again);
    }

    #[test]
    fn history_is_capped_from_the_oldest_end() {
        let long = (1..2000).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let trimmed = trim_history(&long);
        assert!(trimmed.len() <= MAX_HISTORY_CHARS);
        assert!(trimmed.ends_with(",1999"));
    }
}
