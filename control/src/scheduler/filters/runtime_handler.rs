//! Runtime handler: a pod whose RuntimeClass names a handler (`wasmtime`,
//! `linux`) fits only on nodes that advertise it, by the agent's
//! `wasmkube.io/runtime-<handler>` label or in `status.runtimeHandlers`. A pod
//! without a RuntimeClass fits any node: its image decides the handler on
//! the node, which the scheduler cannot inspect (a pod asking for fuel is
//! wasm-only, and the fuel request itself keeps it off other nodes).

use super::super::cycle::Cycle;
use super::super::node_info::NodeInfo;
use super::Reason;

/// The label an agent sets for each handler it has.
pub fn handler_label(handler: &str) -> String {
    format!("wasmkube.io/runtime-{handler}")
}

pub fn filter(cycle: &Cycle, node: &NodeInfo) -> Result<(), Reason> {
    let Some(handler) = cycle.runtime_handler.as_deref() else { return Ok(()) };
    let Some(n) = node.node.as_deref() else { return Ok(()) };
    let labelled = node.labels().get(&handler_label(handler)).is_some_and(|v| v == "true");
    let listed = n
        .status
        .as_ref()
        .and_then(|s| s.runtime_handlers.as_ref())
        .is_some_and(|hs| hs.iter().any(|h| h.name.as_deref() == Some(handler)));
    if labelled || listed {
        Ok(())
    } else {
        Err(Reason::unresolvable(format!("node(s) didn't have the pod's runtime handler \"{handler}\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, node_info, pod};

    #[test]
    fn a_handler_must_be_advertised_and_no_handler_fits_anywhere() {
        let p = pod("p", "0", "0");
        let mut cycle = Cycle::for_test(&p);
        let plain = node_info(node("n1", "1", "1Gi"), &[]);
        assert!(filter(&cycle, &plain).is_ok());
        cycle.runtime_handler = Some("wasmtime".into());
        assert_eq!(filter(&cycle, &plain).map_err(|r| r.message), Err("node(s) didn't have the pod's runtime handler \"wasmtime\"".into()));
        let mut wasm = node("n2", "1", "1Gi");
        wasm.metadata.labels.get_or_insert_default().insert(handler_label("wasmtime"), "true".into());
        assert!(filter(&cycle, &node_info(wasm, &[])).is_ok());
    }
}
