//! Which endpoint a new connection goes to: round robin over the ready
//! endpoints of a Service port, unless the Service asks for ClientIP session
//! affinity and the client has an endpoint that is still ready and was used
//! within the timeout (kube-proxy refreshes the timestamp on every use, so
//! do we).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::model::ServiceKey;

/// A Service port as the balancer keys it: (service, port name, port number).
pub type PortKey = (ServiceKey, String, u16);

/// Sticky entries are swept once there are this many, so a scan of client
/// addresses cannot grow the map without bound.
const SWEEP_AT: usize = 4096;

#[derive(Debug, Default)]
pub struct Balancer {
    next: HashMap<PortKey, usize>,
    sticky: HashMap<(PortKey, IpAddr), (SocketAddr, Instant)>,
}

impl Balancer {
    /// One of `ready` (sorted, non-empty) for a connection from `client`.
    pub fn choose(&mut self, port: &PortKey, ready: &[SocketAddr], client: Option<IpAddr>, affinity: Option<Duration>, now: Instant) -> Option<SocketAddr> {
        if ready.is_empty() {
            return None;
        }
        let sticky_key = match (affinity, client) {
            (Some(timeout), Some(client)) => {
                let key = (port.clone(), client);
                if let Some((endpoint, used)) = self.sticky.get_mut(&key) {
                    if now.saturating_duration_since(*used) <= timeout && ready.contains(endpoint) {
                        *used = now;
                        return Some(*endpoint);
                    }
                }
                Some((key, timeout))
            }
            _ => None,
        };
        let turn = self.next.entry(port.clone()).or_insert(0);
        let chosen = ready[*turn % ready.len()];
        *turn = turn.wrapping_add(1);
        if let Some((key, timeout)) = sticky_key {
            if self.sticky.len() >= SWEEP_AT {
                self.sticky.retain(|_, (_, used)| now.saturating_duration_since(*used) <= timeout);
            }
            self.sticky.insert(key, (chosen, now));
        }
        Some(chosen)
    }

    /// Forgets the counters and sticky clients of Services that are gone.
    pub fn retain_services(&mut self, alive: impl Fn(&ServiceKey) -> bool) {
        self.next.retain(|(svc, _, _), _| alive(svc));
        self.sticky.retain(|((svc, _, _), _), _| alive(svc));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port() -> PortKey {
        (ServiceKey::new("ns", "web"), "http".into(), 80)
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn round_robin_visits_every_endpoint_in_turn() {
        let mut b = Balancer::default();
        let ready = addrs(&["10.42.0.2:80", "10.42.0.3:80", "10.42.0.4:80"]);
        let now = Instant::now();
        let picks: Vec<_> = (0..6).map(|_| b.choose(&port(), &ready, None, None, now).unwrap()).collect();
        assert_eq!(picks[..3], ready[..]);
        assert_eq!(picks[3..], ready[..]);
        assert_eq!(b.choose(&port(), &[], None, None, now), None);
    }

    #[test]
    fn client_ip_affinity_sticks_until_unready_or_expired() {
        let mut b = Balancer::default();
        let ready = addrs(&["10.42.0.2:80", "10.42.0.3:80", "10.42.0.4:80"]);
        let a: IpAddr = "10.42.0.9".parse().unwrap();
        let other: IpAddr = "10.42.0.10".parse().unwrap();
        let timeout = Some(Duration::from_secs(10));
        let t0 = Instant::now();
        let first = b.choose(&port(), &ready, Some(a), timeout, t0).unwrap();
        for i in 1..10 {
            // Another client moving the round robin does not move this one.
            b.choose(&port(), &ready, Some(other), timeout, t0);
            assert_eq!(b.choose(&port(), &ready, Some(a), timeout, t0 + Duration::from_secs(i)), Some(first));
        }
        // Its endpoint becomes unready: it moves, and sticks to the new one.
        let rest: Vec<_> = ready.iter().copied().filter(|e| *e != first).collect();
        let moved = b.choose(&port(), &rest, Some(a), timeout, t0 + Duration::from_secs(10)).unwrap();
        assert_ne!(moved, first);
        assert_eq!(b.choose(&port(), &ready, Some(a), timeout, t0 + Duration::from_secs(11)), Some(moved));
        // Idle past the timeout: a fresh choice (round robin may pick anything, but the
        // entry's timestamp is new, so it sticks from there).
        let later = t0 + Duration::from_secs(40);
        let fresh = b.choose(&port(), &ready, Some(a), timeout, later).unwrap();
        assert_eq!(b.choose(&port(), &ready, Some(a), timeout, later), Some(fresh));
    }
}
