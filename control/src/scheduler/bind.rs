//! Binding: the pod is given its node through the `pods/binding`
//! subresource, the only way the API server lets a scheduler set
//! `spec.nodeName`; a `Scheduled` Event then says so.

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::Api;

use super::pod_info::PodInfo;
use crate::events::{EventType, Recorder};

/// How a binding ended, for the queue.
#[derive(Debug)]
pub enum BindOutcome {
    Bound,
    /// The pod is gone: nothing to retry.
    Moot,
    /// Worth retrying after a backoff.
    Failed(kube::Error),
}

pub fn binding(pod: &PodInfo, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: Some(pod.name().to_string()),
            namespace: Some(pod.namespace().to_string()),
            uid: pod.pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference { api_version: Some("v1".into()), kind: Some("Node".into()), name: Some(node.into()), ..Default::default() },
    }
}

/// Posts the Binding.
pub async fn bind(pods: Api<Pod>, pod: &PodInfo, node: &str) -> BindOutcome {
    let result = pods.create_subresource::<_, serde_json::Value>("binding", pod.name(), &PostParams::default(), &binding(pod, node)).await;
    match result {
        Ok(_) => BindOutcome::Bound,
        Err(kube::Error::Api(status)) if status.code == 404 => BindOutcome::Moot,
        // A conflict (already bound, being deleted, changing) is retried: if
        // the pod is bound or gone, the watch drops it from the queue first.
        Err(err) => BindOutcome::Failed(err),
    }
}

/// Records the Event upstream's scheduler records for a pod it bound.
pub async fn record_scheduled(recorder: &Recorder, pod: &PodInfo, node: &str) {
    let message = format!("Successfully assigned {} to {node}", pod.key);
    recorder.publish(pod.pod.as_ref(), EventType::Normal, "Scheduled", message).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::pod;
    use std::sync::Arc;

    #[test]
    fn the_binding_names_the_pod_and_targets_the_node() {
        let info = PodInfo::new(Arc::new(pod("web", "0", "0")));
        let b = binding(&info, "node-b");
        assert_eq!((b.metadata.name.as_deref(), b.metadata.namespace.as_deref()), (Some("web"), Some("default")));
        assert_eq!(b.metadata.uid.as_deref(), Some("uid-web"), "a pod recreated under the same name is not bound by mistake");
        assert_eq!((b.target.kind.as_deref(), b.target.name.as_deref()), (Some("Node"), Some("node-b")));
    }
}
