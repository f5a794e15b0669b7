//! The DaemonSet controller's decision and status, pure functions of the
//! nodes (and whether the pod should run on each) and the DaemonSet's pods:
//! one pod on every eligible node, none elsewhere, old pods replaced within
//! `maxUnavailable` on RollingUpdate.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;

/// One node, as the decision needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub should_run: bool,
}

/// One pod of the DaemonSet.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonPod {
    pub name: String,
    /// Bound or pinned to; None for a pod that names no node.
    pub node: Option<String>,
    /// Its `controller-revision-hash` label.
    pub hash: Option<String>,
    pub failed: bool,
    pub deleting: bool,
    pub ready: bool,
    /// Ready for at least `minReadySeconds`.
    pub available: bool,
    pub created: Option<Timestamp>,
}

impl DaemonPod {
    fn live(&self) -> bool {
        !self.deleting
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Replace old pods, at most this many nodes without an available pod.
    RollingUpdate { max_unavailable: usize },
    /// Replace a pod only when someone deletes it.
    OnDelete,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Nodes that need a pod.
    pub create_on: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<String>,
}

/// Decides which pods to create and delete. `updated` is the current
/// template's revision hash.
pub fn plan(nodes: &[NodeView], pods: &[DaemonPod], updated: &str, strategy: Strategy) -> Plan {
    let mut plan = Plan::default();
    let by_node = pods_by_node(pods, &mut plan);
    // The one pod each eligible node keeps.
    let mut kept: Vec<(&str, &DaemonPod)> = Vec::new();
    for node in nodes {
        let on_node: Vec<&DaemonPod> = by_node.get(node.name.as_str()).cloned().unwrap_or_default();
        if !node.should_run {
            plan.delete.extend(on_node.iter().map(|p| p.name.clone()));
            continue;
        }
        let (failed, mut running): (Vec<&DaemonPod>, Vec<&DaemonPod>) = on_node.into_iter().partition(|p| p.failed);
        plan.delete.extend(failed.iter().map(|p| p.name.clone()));
        // Duplicates (a race, a manual copy): keep the oldest, like upstream.
        running.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        match running.split_first() {
            None => plan.create_on.push(node.name.clone()),
            Some((keep, extra)) => {
                plan.delete.extend(extra.iter().map(|p| p.name.clone()));
                kept.push((node.name.as_str(), keep));
            }
        }
    }
    let known: HashSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    for (_, vanished) in by_node.iter().filter(|(node, _)| !known.contains(*node)) {
        plan.delete.extend(vanished.iter().map(|p| p.name.clone()));
    }
    if let Strategy::RollingUpdate { max_unavailable } = strategy {
        roll(&kept, plan.create_on.len(), updated, max_unavailable, &mut plan);
    }
    plan
}

/// Live pods grouped by node; pods that name no node go to `plan.delete`.
fn pods_by_node<'a>(pods: &'a [DaemonPod], plan: &mut Plan) -> HashMap<&'a str, Vec<&'a DaemonPod>> {
    let mut by_node: HashMap<&str, Vec<&DaemonPod>> = HashMap::new();
    for pod in pods.iter().filter(|p| p.live()) {
        match pod.node.as_deref() {
            Some(node) => by_node.entry(node).or_default().push(pod),
            None => plan.delete.push(pod.name.clone()),
        }
    }
    by_node
}

/// RollingUpdate with maxSurge 0: old pods that are unavailable anyway go at
/// once; available ones only while fewer than `max_unavailable` nodes lack an
/// available pod. Their nodes get the new pod on a later pass.
fn roll(kept: &[(&str, &DaemonPod)], missing: usize, updated: &str, max_unavailable: usize, plan: &mut Plan) {
    let unavailable = missing + kept.iter().filter(|(_, p)| !p.available).count();
    let old: Vec<&DaemonPod> = kept.iter().map(|(_, p)| *p).filter(|p| p.hash.as_deref() != Some(updated)).collect();
    let (old_unavailable, old_available): (Vec<&DaemonPod>, Vec<&DaemonPod>) = old.into_iter().partition(|p| !p.available);
    plan.delete.extend(old_unavailable.iter().map(|p| p.name.clone()));
    let budget = max_unavailable.saturating_sub(unavailable);
    plan.delete.extend(old_available.iter().take(budget).map(|p| p.name.clone()));
}

/// The counts of `DaemonSetStatus`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub desired: i32,
    pub current: i32,
    pub misscheduled: i32,
    pub ready: i32,
    pub available: i32,
    pub updated: i32,
}

/// Counts per node, as upstream does: a node counts once however many pods it has.
pub fn counts(nodes: &[NodeView], pods: &[DaemonPod], updated: &str) -> Counts {
    let mut by_node: BTreeMap<&str, Vec<&DaemonPod>> = BTreeMap::new();
    for pod in pods.iter().filter(|p| p.live()) {
        if let Some(node) = pod.node.as_deref() {
            by_node.entry(node).or_default().push(pod);
        }
    }
    let mut counts = Counts::default();
    for node in nodes {
        let on_node = by_node.get(node.name.as_str()).map(Vec::as_slice).unwrap_or(&[]);
        if !node.should_run {
            counts.misscheduled += i32::from(!on_node.is_empty());
            continue;
        }
        counts.desired += 1;
        counts.current += i32::from(!on_node.is_empty());
        counts.ready += i32::from(on_node.iter().any(|p| p.ready));
        counts.available += i32::from(on_node.iter().any(|p| p.available));
        counts.updated += i32::from(on_node.iter().any(|p| p.hash.as_deref() == Some(updated)));
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, should_run: bool) -> NodeView {
        NodeView { name: name.into(), should_run }
    }

    fn pod(name: &str, node: &str, hash: &str, available: bool) -> DaemonPod {
        DaemonPod {
            name: name.into(),
            node: Some(node.into()),
            hash: Some(hash.into()),
            failed: false,
            deleting: false,
            ready: available,
            available,
            created: None,
        }
    }

    const ROLL: Strategy = Strategy::RollingUpdate { max_unavailable: 1 };

    #[test]
    fn one_pod_per_eligible_node() {
        let nodes = [node("a", true), node("b", true), node("c", false)];
        let p = plan(&nodes, &[], "v1", ROLL);
        assert_eq!(p.create_on, ["a", "b"]);
        let pods = [pod("pa", "a", "v1", true), pod("pb", "b", "v1", true)];
        assert_eq!(plan(&nodes, &pods, "v1", ROLL), Plan::default(), "nothing to do twice");
    }

    #[test]
    fn pods_leave_ineligible_and_vanished_nodes() {
        let nodes = [node("a", false)];
        let pods = [pod("pa", "a", "v1", true), pod("gone", "z", "v1", true)];
        let mut p = plan(&nodes, &pods, "v1", ROLL);
        p.delete.sort();
        assert_eq!(p.delete, ["gone", "pa"]);
    }

    #[test]
    fn failed_pods_and_duplicates_are_replaced() {
        let nodes = [node("a", true), node("b", true)];
        let mut failed = pod("pa", "a", "v1", false);
        failed.failed = true;
        let mut older = pod("old", "b", "v1", true);
        older.created = Some(Timestamp::UNIX_EPOCH);
        let mut newer = pod("new", "b", "v1", true);
        newer.created = Some(Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_secs(5));
        let p = plan(&nodes, &[failed, older, newer], "v1", ROLL);
        assert_eq!(p.create_on, ["a"]);
        assert_eq!(p.delete, ["pa", "new"]);
    }

    #[test]
    fn a_deleting_pod_no_longer_holds_its_node() {
        let mut leaving = pod("pa", "a", "v1", true);
        leaving.deleting = true;
        let p = plan(&[node("a", true)], &[leaving], "v1", ROLL);
        assert_eq!((p.create_on, p.delete), (vec!["a".to_string()], vec![]));
    }

    #[test]
    fn rolling_update_replaces_within_max_unavailable() {
        let nodes = [node("a", true), node("b", true), node("c", true)];
        let pods = [pod("pa", "a", "v1", true), pod("pb", "b", "v1", true), pod("pc", "c", "v1", true)];
        let p = plan(&nodes, &pods, "v2", ROLL);
        assert_eq!(p.delete.len(), 1);
        // One node is already without an available pod: wait for it.
        let pods = [pod("pa", "a", "v2", false), pod("pb", "b", "v1", true), pod("pc", "c", "v1", true)];
        assert!(plan(&nodes, &pods, "v2", ROLL).delete.is_empty());
        // Old pods that are unavailable anyway go at once, whatever the budget.
        let pods = [pod("pa", "a", "v1", false), pod("pb", "b", "v1", false), pod("pc", "c", "v1", true)];
        assert_eq!(plan(&nodes, &pods, "v2", ROLL).delete, ["pa", "pb"]);
        let wide = Strategy::RollingUpdate { max_unavailable: 3 };
        let pods = [pod("pa", "a", "v1", true), pod("pb", "b", "v1", true), pod("pc", "c", "v1", true)];
        assert_eq!(plan(&nodes, &pods, "v2", wide).delete.len(), 3);
    }

    #[test]
    fn on_delete_leaves_old_pods_alone() {
        let pods = [pod("pa", "a", "v1", true)];
        assert_eq!(plan(&[node("a", true)], &pods, "v2", Strategy::OnDelete), Plan::default());
    }

    #[test]
    fn counts_per_node() {
        let nodes = [node("a", true), node("b", true), node("c", false), node("d", true)];
        let pods = [pod("pa", "a", "v2", true), pod("pb", "b", "v1", false), pod("pc", "c", "v1", true)];
        let c = counts(&nodes, &pods, "v2");
        assert_eq!(c, Counts { desired: 3, current: 2, misscheduled: 1, ready: 1, available: 1, updated: 1 });
    }
}
