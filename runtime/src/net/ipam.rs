//! Pod address management of one node, in memory: the node's pod CIDR minus
//! its network address, the gateway (`.1`) and the broadcast address. The
//! agent is the only writer and its pods die with it, so nothing is persisted:
//! a restarted agent makes a new node namespace and starts from empty.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::NetError;

/// Addresses handed out to pods, by pod UID.
#[derive(Debug)]
pub struct Ipam {
    cidr: Ipv4Net,
    by_pod: HashMap<String, Ipv4Addr>,
    taken: HashMap<Ipv4Addr, String>,
    /// Where the next search starts: addresses are reused as late as possible
    /// (like CNI's host-local), so a client still talking to a deleted pod's IP
    /// does not reach a new pod at once.
    cursor: u32,
}

impl Ipam {
    pub fn new(cidr: Ipv4Net) -> Self {
        let cidr = cidr.trunc();
        Ipam { cidr, by_pod: HashMap::new(), taken: HashMap::new(), cursor: first_host(cidr) }
    }

    /// The gateway: the first address of the range (the bridge's).
    pub fn gateway(&self) -> Ipv4Addr {
        gateway(self.cidr)
    }

    /// The pod's address: the one it has, or the next free one.
    pub fn allocate(&mut self, pod_uid: &str) -> Result<Ipv4Addr, NetError> {
        if let Some(ip) = self.by_pod.get(pod_uid) {
            return Ok(*ip);
        }
        let (first, last) = (first_host(self.cidr), last_host(self.cidr));
        if last < first {
            return Err(NetError::Exhausted(self.cidr.to_string()));
        }
        let span = last - first + 1;
        for step in 0..span {
            let candidate = first + (self.cursor - first + step) % span;
            let ip = Ipv4Addr::from(candidate);
            if let Entry::Vacant(free) = self.taken.entry(ip) {
                free.insert(pod_uid.to_string());
                self.by_pod.insert(pod_uid.to_string(), ip);
                self.cursor = if candidate == last { first } else { candidate + 1 };
                return Ok(ip);
            }
        }
        Err(NetError::Exhausted(self.cidr.to_string()))
    }

    /// The pod's address, if it has one.
    pub fn get(&self, pod_uid: &str) -> Option<Ipv4Addr> {
        self.by_pod.get(pod_uid).copied()
    }

    /// Frees the pod's address; returns it.
    pub fn release(&mut self, pod_uid: &str) -> Option<Ipv4Addr> {
        let ip = self.by_pod.remove(pod_uid)?;
        self.taken.remove(&ip);
        Some(ip)
    }

    pub fn allocated(&self) -> usize {
        self.by_pod.len()
    }
}

/// `<network>.1`: the node's own address on its pod bridge.
pub fn gateway(cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(cidr.network()).saturating_add(1))
}

/// The first pod address: after the network address and the gateway.
fn first_host(cidr: Ipv4Net) -> u32 {
    u32::from(cidr.network()).saturating_add(2)
}

/// The last pod address: before the broadcast address.
fn last_host(cidr: Ipv4Net) -> u32 {
    u32::from(cidr.broadcast()).saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(cidr: &str) -> Ipam {
        Ipam::new(cidr.parse().expect("cidr"))
    }

    #[test]
    fn hands_out_two_to_254_and_never_the_gateway() {
        let mut ipam = ipam("10.42.3.0/24");
        assert_eq!(ipam.gateway(), Ipv4Addr::new(10, 42, 3, 1));
        let first = ipam.allocate("a").expect("a");
        assert_eq!(first, Ipv4Addr::new(10, 42, 3, 2));
        let mut all = vec![first];
        for i in 0..252 {
            all.push(ipam.allocate(&format!("p{i}")).expect("free"));
        }
        assert_eq!(all.last(), Some(&Ipv4Addr::new(10, 42, 3, 254)));
        assert!(matches!(ipam.allocate("one-too-many"), Err(NetError::Exhausted(_))));
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 253, "every address is distinct");
    }

    #[test]
    fn the_same_pod_keeps_its_address() {
        let mut ipam = ipam("10.42.0.0/24");
        let a = ipam.allocate("a").expect("a");
        assert_eq!(ipam.allocate("a").expect("again"), a);
        assert_eq!(ipam.allocated(), 1);
    }

    #[test]
    fn released_addresses_come_back_last() {
        let mut ipam = ipam("10.42.0.0/24");
        let a = ipam.allocate("a").expect("a");
        assert_eq!(ipam.release("a"), Some(a));
        assert_eq!(ipam.release("a"), None, "idempotent");
        let b = ipam.allocate("b").expect("b");
        assert_ne!(a, b, "a freed address is not reused at once");
        // Once the range wraps, freed addresses are found again.
        for i in 0..251 {
            ipam.allocate(&format!("p{i}")).expect("free");
        }
        assert_eq!(ipam.allocate("wrapped").expect("wraps"), a);
    }

    #[test]
    fn a_range_without_room_is_exhausted() {
        let mut ipam = ipam("10.42.0.0/31");
        assert!(matches!(ipam.allocate("a"), Err(NetError::Exhausted(_))));
    }
}
