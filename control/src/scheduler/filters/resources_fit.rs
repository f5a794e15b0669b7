//! NodeResourcesFit: the pod's requests must fit in what the node allocates
//! minus what its pods already request, resource by resource (CPU, memory,
//! ephemeral storage and extended resources such as `wasmkube.io/fuel`, which
//! a node that does not offer it has none of), and the node must admit one
//! more pod.

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::Reason;

pub const TOO_MANY_PODS: &str = "Too many pods";

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Vec<Reason>> {
    let mut reasons = Vec::new();
    if node.pods.len() as i64 + 1 > node.allowed_pods {
        reasons.push(Reason::resolvable(TOO_MANY_PODS));
    }
    let want = &cycle.pod.requests;
    let (have, used) = (&node.allocatable, &node.requested);
    let short = |requested: i64, allocatable: i64, used: i64| requested > 0 && requested > allocatable.saturating_sub(used);
    if short(want.milli_cpu, have.milli_cpu, used.milli_cpu) {
        reasons.push(Reason::resolvable("Insufficient cpu"));
    }
    if short(want.memory, have.memory, used.memory) {
        reasons.push(Reason::resolvable("Insufficient memory"));
    }
    if short(want.ephemeral_storage, have.ephemeral_storage, used.ephemeral_storage) {
        reasons.push(Reason::resolvable("Insufficient ephemeral-storage"));
    }
    for (name, amount) in &want.scalar {
        if short(*amount, have.scalar(name), used.scalar(name)) {
            reasons.push(Reason::resolvable(format!("Insufficient {name}")));
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::resources::FUEL;
    use crate::scheduler::testing::{node, node_info, pod, with_request};

    fn messages(r: Result<(), Vec<Reason>>) -> Vec<String> {
        r.err().unwrap_or_default().into_iter().map(|r| r.message).collect::<Vec<_>>()
    }

    #[test]
    fn requests_must_fit_in_what_is_left() {
        let info = node_info(node("n1", "2", "4Gi"), &[pod("a", "1500m", "1Gi")]);
        assert!(filter(&Cycle::for_test(&pod("p", "500m", "3Gi")), &info).is_ok());
        assert_eq!(messages(filter(&Cycle::for_test(&pod("p", "501m", "4Gi")), &info)), ["Insufficient cpu", "Insufficient memory"]);
    }

    #[test]
    fn an_extended_resource_the_node_lacks_is_insufficient() {
        let info = node_info(node("n1", "2", "4Gi"), &[]);
        let p = with_request(pod("p", "100m", "1Mi"), FUEL, "1000");
        assert_eq!(messages(filter(&Cycle::for_test(&p), &info)), [format!("Insufficient {FUEL}")]);
        let mut wasm = node("n2", "2", "4Gi");
        wasm.status.get_or_insert_default().allocatable.get_or_insert_default().insert(FUEL.into(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("1e12".into()));
        assert!(filter(&Cycle::for_test(&p), &node_info(wasm, &[])).is_ok());
    }

    #[test]
    fn a_full_node_has_too_many_pods() {
        let mut n = node("n1", "2", "4Gi");
        n.status.get_or_insert_default().allocatable.get_or_insert_default().insert("pods".into(), k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()));
        let info = node_info(n, &[pod("a", "0", "0")]);
        assert_eq!(messages(filter(&Cycle::for_test(&pod("p", "0", "0")), &info)), [TOO_MANY_PODS]);
    }
}
