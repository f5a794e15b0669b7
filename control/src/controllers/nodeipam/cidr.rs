//! IPv4 CIDRs as the allocator needs them: parse, split into equal subnets,
//! test membership. (The control plane does not otherwise deal in addresses.)

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 network, `a.b.c.d/len`, kept truncated to its network address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    base: u32,
    len: u8,
}

impl Cidr {
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Cidr> {
        (len <= 32).then(|| Cidr { base: u32::from(addr) & mask(len), len })
    }

    pub fn prefix_len(self) -> u8 {
        self.len
    }

    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(self.base)
    }

    /// Whether `other` lies entirely inside this network.
    pub fn contains(self, other: Cidr) -> bool {
        other.len >= self.len && other.base & mask(self.len) == self.base
    }

    /// The `index`-th subnet of length `len`, if there is one.
    pub fn subnet(self, len: u8, index: u32) -> Option<Cidr> {
        if len < self.len || len > 32 {
            return None;
        }
        let bits = u32::from(len - self.len);
        if bits < 32 && index >= (1u32 << bits) {
            return None;
        }
        let step = if len == 0 { 0 } else { 1u32 << (32 - u32::from(len)) };
        Some(Cidr { base: self.base + index.checked_mul(step)?, len })
    }

    /// How many subnets of length `len` it holds (saturating).
    pub fn subnet_count(self, len: u8) -> u32 {
        if len < self.len || len > 32 {
            return 0;
        }
        1u32.checked_shl(u32::from(len - self.len)).unwrap_or(u32::MAX)
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not an IPv4 CIDR (a.b.c.d/len)")]
pub struct BadCidr(pub String);

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadCidr(text.to_string());
        let (addr, len) = text.trim().split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let len: u8 = len.parse().map_err(|_| bad())?;
        Cidr::new(addr, len).ok_or_else(bad)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_splits_and_contains() {
        let cluster: Cidr = "10.42.0.0/16".parse().expect("parse");
        assert_eq!(cluster.to_string(), "10.42.0.0/16");
        assert_eq!("10.42.7.9/24".parse::<Cidr>().expect("parse").to_string(), "10.42.7.0/24", "truncated");
        assert_eq!(cluster.subnet_count(24), 256);
        assert_eq!(cluster.subnet(24, 0).map(|c| c.to_string()), Some("10.42.0.0/24".into()));
        assert_eq!(cluster.subnet(24, 255).map(|c| c.to_string()), Some("10.42.255.0/24".into()));
        assert_eq!(cluster.subnet(24, 256), None);
        assert!(cluster.contains("10.42.9.0/24".parse().expect("p")));
        assert!(!cluster.contains("10.43.0.0/24".parse().expect("p")));
        assert!(!cluster.contains("10.0.0.0/8".parse().expect("p")));
        for bad in ["10.42.0.0", "10.42.0.0/33", "x/16", "10.42.0.0/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
