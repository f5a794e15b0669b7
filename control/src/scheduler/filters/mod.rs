//! Filters: may this pod run on this node at all? Each is a pure function
//! of the pod's scheduling cycle and one node, and says why not in upstream's
//! words, so that `0/3 nodes are available: ...` reads as in Kubernetes.
//! They run in upstream's order and the first that fails decides.

pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_name;
pub mod node_ports;
pub mod node_unschedulable;
pub mod resources_fit;
pub mod runtime_handler;
pub mod taint_toleration;
pub mod topology_spread;

use std::fmt;

use super::cycle::Cycle;
use super::node_info::NodeInfo;

/// Why a node cannot take a pod.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reason {
    pub message: String,
    /// Whether evicting lower-priority pods could help (upstream's
    /// `Unschedulable`), as opposed to `UnschedulableAndUnresolvable`.
    pub resolvable: bool,
}

impl Reason {
    pub fn unresolvable(message: impl Into<String>) -> Reason {
        Reason { message: message.into(), resolvable: false }
    }

    pub fn resolvable(message: impl Into<String>) -> Reason {
        Reason { message: message.into(), resolvable: true }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Runs every filter; the reasons of the first that fails.
pub fn run(cycle: &Cycle, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    node_unschedulable::filter(cycle, node).map_err(|r| vec![r])?;
    node_name::filter(cycle, node).map_err(|r| vec![r])?;
    taint_toleration::filter(cycle, node).map_err(|r| vec![r])?;
    node_affinity::filter(cycle, node).map_err(|r| vec![r])?;
    runtime_handler::filter(cycle, node).map_err(|r| vec![r])?;
    node_ports::filter(cycle, node).map_err(|r| vec![r])?;
    resources_fit::filter(cycle, node)?;
    topology_spread::filter(cycle, node).map_err(|r| vec![r])?;
    inter_pod_affinity::filter(cycle, node).map_err(|r| vec![r])?;
    Ok(())
}
