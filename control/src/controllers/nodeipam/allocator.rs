//! Which /24 (or other node mask) of the cluster CIDR a node gets: the first
//! one no node holds and none is being given. Pure: the controller feeds it
//! the Nodes it sees, so its view is rebuilt from the API on every pass and a
//! restarted controller never hands out a range twice.

use std::collections::{BTreeMap, BTreeSet};

use super::cidr::Cidr;

/// The ranges in use, from the Nodes as the cache has them and from the
/// assignments this controller made that the cache has not shown yet.
#[derive(Debug)]
pub struct Allocator {
    cluster: Cidr,
    node_len: u8,
    used: BTreeSet<Cidr>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllocError {
    #[error("the cluster CIDR {cluster} has no free /{len} left for another node")]
    Exhausted { cluster: Cidr, len: u8 },
}

impl Allocator {
    pub fn new(cluster: Cidr, node_len: u8) -> Self {
        Allocator { cluster, node_len, used: BTreeSet::new() }
    }

    /// A range some node holds (or is being given). Ranges outside the cluster
    /// CIDR are no concern of ours; a larger one inside it blocks every /24 it covers.
    pub fn mark_used(&mut self, cidr: Cidr) {
        if self.cluster.contains(cidr) || cidr.contains(self.cluster) {
            self.used.insert(cidr);
        }
    }

    fn free(&self, candidate: Cidr) -> bool {
        !self.used.iter().any(|u| u.contains(candidate) || candidate.contains(*u))
    }

    /// The first free range, marked used.
    pub fn allocate(&mut self) -> Result<Cidr, AllocError> {
        let exhausted = AllocError::Exhausted { cluster: self.cluster, len: self.node_len };
        let count = self.cluster.subnet_count(self.node_len);
        for index in 0..count {
            let Some(candidate) = self.cluster.subnet(self.node_len, index) else { break };
            if self.free(candidate) {
                self.used.insert(candidate);
                return Ok(candidate);
            }
        }
        Err(exhausted)
    }
}

/// Assignments made but not yet seen in the cache, by node name.
#[derive(Debug, Default)]
pub struct Pending(BTreeMap<String, Cidr>);

impl Pending {
    pub fn get(&self, node: &str) -> Option<Cidr> {
        self.0.get(node).copied()
    }

    pub fn insert(&mut self, node: &str, cidr: Cidr) {
        self.0.insert(node.to_string(), cidr);
    }

    /// Keeps only what the cache does not show yet: nodes that still exist without a range.
    pub fn retain_unseen(&mut self, still_waiting: impl Fn(&str) -> bool) {
        self.0.retain(|node, _| still_waiting(node));
    }

    pub fn ranges(&self) -> impl Iterator<Item = Cidr> + '_ {
        self.0.values().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        text.parse().expect("cidr")
    }

    #[test]
    fn hands_out_the_first_free_range_and_never_one_twice() {
        let mut alloc = Allocator::new(cidr("10.42.0.0/16"), 24);
        alloc.mark_used(cidr("10.42.0.0/24"));
        alloc.mark_used(cidr("10.42.2.0/24"));
        alloc.mark_used(cidr("192.168.0.0/24"));
        assert_eq!(alloc.allocate(), Ok(cidr("10.42.1.0/24")));
        assert_eq!(alloc.allocate(), Ok(cidr("10.42.3.0/24")));
        let mut seen = BTreeSet::new();
        while let Ok(next) = alloc.allocate() {
            assert!(seen.insert(next), "{next} given twice");
        }
        assert_eq!(seen.len(), 256 - 4);
        assert_eq!(alloc.allocate(), Err(AllocError::Exhausted { cluster: cidr("10.42.0.0/16"), len: 24 }));
    }

    #[test]
    fn a_restart_rebuilds_from_the_nodes() {
        // What a fresh controller sees: three nodes already holding ranges.
        let mut alloc = Allocator::new(cidr("10.42.0.0/16"), 24);
        for held in ["10.42.0.0/24", "10.42.1.0/24", "10.42.5.0/24"] {
            alloc.mark_used(cidr(held));
        }
        assert_eq!(alloc.allocate(), Ok(cidr("10.42.2.0/24")));
    }

    #[test]
    fn a_wider_range_blocks_what_it_covers() {
        let mut alloc = Allocator::new(cidr("10.42.0.0/22"), 24);
        alloc.mark_used(cidr("10.42.0.0/23"));
        assert_eq!(alloc.allocate(), Ok(cidr("10.42.2.0/24")));
        assert_eq!(alloc.allocate(), Ok(cidr("10.42.3.0/24")));
        assert!(alloc.allocate().is_err());
    }

    #[test]
    fn pending_assignments_last_until_the_cache_shows_them() {
        let mut pending = Pending::default();
        pending.insert("a", cidr("10.42.0.0/24"));
        pending.insert("b", cidr("10.42.1.0/24"));
        pending.retain_unseen(|node| node == "b");
        assert_eq!(pending.get("a"), None);
        assert_eq!(pending.get("b"), Some(cidr("10.42.1.0/24")));
    }
}
