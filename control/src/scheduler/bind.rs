//! Binding: the pod is given its node through the `pods/binding`
//! subresource, the only way the API server lets a scheduler set
//! `spec.nodeName`, and a `Scheduled` Event says so.

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

/// Posts the Binding, then records `Scheduled`.
pub async fn bind(pods: Api<Pod>, recorder: &Recorder, pod: &PodInfo, node: &str) -> BindOutcome {
    let result = pods.create_subresource::<_, serde_json::Value>("binding", pod.name(), &PostParams::default(), &binding(pod, node)).await;
    match result {
        Ok(_) => {
            let message = format!("Successfully assigned {} to {node}", pod.key);
            recorder.publish(pod.pod.as_ref(), EventType::Normal, "Scheduled", message).await;
            BindOutcome::Bound
        }
        Err(kube::Error::Api(status)) if status.code == 404 => BindOutcome::Moot,
        // A conflict (already bound, being deleted, changing) is retried: if
        // the pod is bound or gone, the watch drops it from the queue first.
        Err(err) => BindOutcome::Failed(err),
    }
}
