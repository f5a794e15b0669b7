//! The tolerations upstream gives every daemon pod, so a DaemonSet keeps its
//! pods on nodes that are unready, unreachable, under pressure or cordoned:
//! per-node agents (log shippers, network plugins) are needed there most.

use k8s_openapi::api::core::v1::{PodSpec, Toleration};

/// (taint key, effect) pairs every daemon pod tolerates.
const DAEMON_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// Pods on the host network do not need the pod network to be up.
const HOST_NETWORK_TOLERATION: (&str, &str) = ("node.kubernetes.io/network-unavailable", "NoSchedule");

/// Adds the daemon tolerations `spec` does not state already.
pub fn add_daemon_tolerations(spec: &mut PodSpec) {
    let host_network = spec.host_network == Some(true);
    let tolerations = spec.tolerations.get_or_insert_with(Vec::new);
    let wanted = DAEMON_TOLERATIONS.iter().chain(host_network.then_some(&HOST_NETWORK_TOLERATION));
    for (key, effect) in wanted {
        let present = tolerations.iter().any(|t| t.key.as_deref() == Some(*key) && t.effect.as_deref() == Some(*effect) && t.operator.as_deref() == Some("Exists"));
        if !present {
            tolerations.push(Toleration {
                key: Some(key.to_string()),
                operator: Some("Exists".into()),
                effect: Some(effect.to_string()),
                ..Default::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_each_toleration_once() {
        let mut spec = PodSpec::default();
        add_daemon_tolerations(&mut spec);
        add_daemon_tolerations(&mut spec);
        let tolerations = spec.tolerations.expect("tolerations");
        assert_eq!(tolerations.len(), 6);
        assert!(tolerations.iter().any(|t| t.key.as_deref() == Some("node.kubernetes.io/unreachable") && t.effect.as_deref() == Some("NoExecute")));
    }

    #[test]
    fn host_network_pods_also_tolerate_an_unavailable_network() {
        let mut spec = PodSpec { host_network: Some(true), ..Default::default() };
        add_daemon_tolerations(&mut spec);
        assert_eq!(spec.tolerations.map(|t| t.len()), Some(7));
    }
}
