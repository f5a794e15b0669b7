//! The ownership graph: every watched object by uid, with the owners its
//! ownerReferences name and the dependents that name it. Pure bookkeeping:
//! feeding it what the watches see returns the work the collector must then
//! verify against the live API (the graph itself may be stale).

use std::collections::{BTreeSet, HashMap};

pub type Uid = String;

/// Where an object lives: enough to GET or DELETE it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: Uid,
}

/// One ownerReference as far as collection cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: Uid,
    pub block_owner_deletion: bool,
}

/// What a watch last reported about an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub id: ObjectId,
    pub owners: Vec<OwnerRef>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

impl Observed {
    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Deleted with propagationPolicy=Foreground and still waiting for its dependents.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND)
    }

    /// Deleted with propagationPolicy=Orphan and its dependents not yet released.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.has_finalizer(ORPHAN)
    }

    fn owner(&self, uid: &str) -> Option<&OwnerRef> {
        self.owners.iter().find(|o| o.uid == uid)
    }
}

/// What the collector should look at next.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    /// A dependent that may have lost its owners: verify and maybe delete it.
    AttemptToDelete(Uid),
    /// An owner in foreground deletion: delete its dependents, then drop the finalizer.
    DeleteDependents(Uid),
    /// An owner being deleted with Orphan: release its dependents, then drop the finalizer.
    Orphan(Uid),
}

#[derive(Debug, Default)]
struct Node {
    /// None for an owner that dependents name but no watch has shown (yet).
    observed: Option<Observed>,
    dependents: BTreeSet<Uid>,
}

#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<Uid, Node>,
}

impl Graph {
    /// The object as last observed.
    pub fn get(&self, uid: &str) -> Option<&Observed> {
        self.nodes.get(uid).and_then(|n| n.observed.as_ref())
    }

    /// Observed objects that name `owner` in their ownerReferences.
    pub fn dependents(&self, owner: &str) -> Vec<&Observed> {
        let Some(node) = self.nodes.get(owner) else { return Vec::new() };
        node.dependents.iter().filter_map(|d| self.get(d)).collect()
    }

    /// Dependents that keep a foreground-deleted `owner` alive: those whose
    /// reference to it has blockOwnerDeletion.
    pub fn blocking_dependents(&self, owner: &str) -> Vec<&Observed> {
        self.dependents(owner).into_iter().filter(|d| d.owner(owner).is_some_and(|o| o.block_owner_deletion)).collect()
    }

    /// Uids of every observed object of one kind (to drop those a relist no longer shows).
    pub fn uids_of(&self, api_version: &str, kind: &str) -> Vec<Uid> {
        self.nodes
            .iter()
            .filter_map(|(uid, n)| n.observed.as_ref().map(|o| (uid, o)))
            .filter(|(_, o)| o.id.api_version == api_version && o.id.kind == kind)
            .map(|(uid, _)| uid.clone())
            .collect()
    }

    /// An object was added or changed.
    pub fn observe(&mut self, obj: Observed) -> Vec<Work> {
        let uid = obj.id.uid.clone();
        let old = self.nodes.get(&uid).and_then(|n| n.observed.clone());
        let old_owners: Vec<OwnerRef> = old.as_ref().map(|o| o.owners.clone()).unwrap_or_default();
        let mut work = Vec::new();
        for gone in old_owners.iter().filter(|o| obj.owner(&o.uid).is_none()) {
            self.unlink(&gone.uid, &uid);
            // An owner waiting in foreground deletion may have waited on this one.
            if self.get(&gone.uid).is_some_and(Observed::deleting_dependents) {
                work.push(Work::DeleteDependents(gone.uid.clone()));
            }
        }
        for owner in &obj.owners {
            self.nodes.entry(owner.uid.clone()).or_default().dependents.insert(uid.clone());
        }
        // An owner no watch has shown may not exist: let the collector check.
        let owner_unseen = obj.owners.iter().any(|o| self.get(&o.uid).is_none());
        let owner_waiting = obj.owners.iter().any(|o| self.get(&o.uid).is_some_and(Observed::deleting_dependents));
        if owner_unseen || owner_waiting {
            work.push(Work::AttemptToDelete(uid.clone()));
        }
        if obj.deleting_dependents() {
            work.push(Work::DeleteDependents(uid.clone()));
        }
        if obj.orphaning() {
            work.push(Work::Orphan(uid.clone()));
        }
        let has_dependents = self.nodes.get(&uid).is_some_and(|n| !n.dependents.is_empty());
        // The first time an owner is seen for real, or starts foreground deletion,
        // its dependents need a look.
        let became_real = old.is_none() && has_dependents;
        let started_foreground = obj.deleting_dependents() && !old.as_ref().is_some_and(Observed::deleting_dependents);
        let dependents: Vec<Uid> = if became_real || started_foreground {
            self.nodes.get(&uid).map(|n| n.dependents.iter().cloned().collect()).unwrap_or_default()
        } else {
            Vec::new()
        };
        work.extend(dependents.into_iter().map(Work::AttemptToDelete));
        self.nodes.entry(uid).or_default().observed = Some(obj);
        work
    }

    /// An object was deleted.
    pub fn forget(&mut self, uid: &str) -> Vec<Work> {
        let Some(node) = self.nodes.get_mut(uid) else { return Vec::new() };
        let Some(gone) = node.observed.take() else { return Vec::new() };
        let mut work: Vec<Work> = node.dependents.iter().cloned().map(Work::AttemptToDelete).collect();
        if node.dependents.is_empty() {
            self.nodes.remove(uid);
        }
        for owner in &gone.owners {
            self.unlink(&owner.uid, uid);
            if self.get(&owner.uid).is_some_and(Observed::deleting_dependents) {
                work.push(Work::DeleteDependents(owner.uid.clone()));
            }
        }
        work
    }

    /// Everything worth a second look: run after the first full list and
    /// periodically, so a lost event never leaves garbage behind for good.
    pub fn resync(&self) -> Vec<Work> {
        let mut work = BTreeSet::new();
        for (uid, node) in &self.nodes {
            let Some(obj) = &node.observed else { continue };
            if obj.deleting_dependents() {
                work.insert(Work::DeleteDependents(uid.clone()));
            }
            if obj.orphaning() {
                work.insert(Work::Orphan(uid.clone()));
            }
            let owner_missing = obj.owners.iter().any(|o| self.get(&o.uid).is_none_or(|owner| owner.deleting_dependents()));
            if owner_missing {
                work.insert(Work::AttemptToDelete(uid.clone()));
            }
        }
        work.into_iter().collect()
    }

    /// Drop the edge owner → dependent, and the owner's placeholder if nothing names it any more.
    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(node) = self.nodes.get_mut(owner) {
            node.dependents.remove(dependent);
            if node.observed.is_none() && node.dependents.is_empty() {
                self.nodes.remove(owner);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(uid: &str, owners: &[(&str, bool)]) -> Observed {
        Observed {
            id: ObjectId { api_version: "v1".into(), kind: "Pod".into(), namespace: Some("default".into()), name: uid.into(), uid: uid.into() },
            owners: owners
                .iter()
                .map(|(o, block)| OwnerRef { api_version: "apps/v1".into(), kind: "ReplicaSet".into(), name: o.to_string(), uid: o.to_string(), block_owner_deletion: *block })
                .collect(),
            deleting: false,
            finalizers: Vec::new(),
        }
    }

    fn deleting(mut o: Observed, finalizer: &str) -> Observed {
        o.deleting = true;
        o.finalizers.push(finalizer.into());
        o
    }

    #[test]
    fn dependent_of_an_unseen_owner_is_checked_and_seen_owner_is_not() {
        let mut g = Graph::default();
        assert_eq!(g.observe(obj("pod", &[("rs", true)])), vec![Work::AttemptToDelete("pod".into())]);
        // The owner shows up: its dependent gets a second look, which will find the owner solid.
        assert_eq!(g.observe(obj("rs", &[])), vec![Work::AttemptToDelete("pod".into())]);
        assert_eq!(g.observe(obj("pod2", &[("rs", true)])), vec![]);
        assert_eq!(g.dependents("rs").len(), 2);
    }

    #[test]
    fn deleting_an_owner_queues_its_dependents_and_keeps_a_placeholder() {
        let mut g = Graph::default();
        g.observe(obj("rs", &[]));
        g.observe(obj("pod", &[("rs", true)]));
        assert_eq!(g.forget("rs"), vec![Work::AttemptToDelete("pod".into())]);
        assert!(g.get("rs").is_none());
        // The placeholder goes once its last dependent does.
        g.forget("pod");
        assert_eq!(g.len(), 0);
    }

    #[test]
    fn foreground_owner_is_revisited_when_a_blocking_dependent_goes() {
        let mut g = Graph::default();
        g.observe(obj("pod-a", &[("rs", true)]));
        g.observe(obj("pod-b", &[("rs", false)]));
        g.observe(obj("rs", &[]));
        let work = g.observe(deleting(obj("rs", &[]), FOREGROUND));
        assert!(work.contains(&Work::DeleteDependents("rs".into())));
        assert!(work.contains(&Work::AttemptToDelete("pod-a".into())));
        assert!(work.contains(&Work::AttemptToDelete("pod-b".into())));
        let blocking: Vec<_> = g.blocking_dependents("rs").iter().map(|o| o.id.uid.clone()).collect();
        assert_eq!(blocking, vec!["pod-a".to_string()]);
        assert_eq!(g.forget("pod-a"), vec![Work::DeleteDependents("rs".into())]);
        assert!(g.blocking_dependents("rs").is_empty());
    }

    #[test]
    fn released_dependent_leaves_the_owner_and_orphaning_is_reported() {
        let mut g = Graph::default();
        g.observe(obj("rs", &[]));
        g.observe(obj("pod", &[("rs", true)]));
        assert_eq!(g.observe(deleting(obj("rs", &[]), ORPHAN)), vec![Work::Orphan("rs".into())]);
        g.observe(obj("pod", &[]));
        assert!(g.dependents("rs").is_empty());
    }

    #[test]
    fn resync_finds_orphans_and_pending_finalizers() {
        let mut g = Graph::default();
        g.observe(obj("pod", &[("gone", true)]));
        g.observe(obj("rs", &[]));
        g.observe(obj("kept", &[("rs", true)]));
        g.observe(deleting(obj("deploy", &[]), ORPHAN));
        assert_eq!(g.resync(), vec![Work::AttemptToDelete("pod".into()), Work::Orphan("deploy".into())]);
    }
}
