//! NodePorts: a host port (protocol, port, overlapping host IP) can be bound
//! by one pod per node only.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::Reason;

pub const REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    if cycle.pod.host_ports.is_empty() {
        return Ok(());
    }
    let taken = node.used_ports().any(|used| cycle.pod.host_ports.iter().any(|want| want.conflicts_with(used)));
    if taken {
        Err(Reason::resolvable(REASON))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::{ContainerPort, Pod};

    fn with_host_port(mut p: Pod, ip: &str, port: i32) -> Pod {
        if let Some(c) = p.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            c.ports = Some(vec![ContainerPort { container_port: 80, host_port: Some(port), host_ip: Some(ip.into()), ..Default::default() }]);
        }
        p
    }

    #[test]
    fn a_taken_host_port_conflicts_unless_the_ips_differ() {
        let info = node_info(node("n1", "4", "8Gi"), &[with_host_port(pod("a", "0", "0"), "10.0.0.1", 8080)]);
        assert_eq!(filter(&Cycle::for_test(&with_host_port(pod("p", "0", "0"), "", 8080)), &info).map_err(|r| r.message), Err(REASON.into()));
        assert!(filter(&Cycle::for_test(&with_host_port(pod("p", "0", "0"), "10.0.0.2", 8080)), &info).is_ok());
        assert!(filter(&Cycle::for_test(&with_host_port(pod("p", "0", "0"), "", 8081)), &info).is_ok());
    }
}
