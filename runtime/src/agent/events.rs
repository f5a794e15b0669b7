//! Events about pods, created through the API with `involvedObject` set so
//! `kubectl describe pod` lists them. Best effort: a failed Event is logged,
//! never a reason to stop working on the pod.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::PostParams;
use kube::{Api, Client};

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Creates Events as the `kubelet` component of this node. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    node: Arc<str>,
    sequence: Arc<AtomicU64>,
}

impl Recorder {
    pub fn new(client: Client, node: &str) -> Self {
        Recorder { client, node: node.into(), sequence: Arc::new(AtomicU64::new(0)) }
    }

    /// Records `reason` about `pod` (and, when given, one of its containers).
    /// Returns at once: the Event is written in the background, so a pod's
    /// start never waits for the API round trips of its Pulled/Created/Started.
    pub fn record(&self, pod: &Pod, container: Option<&str>, kind: EventType, reason: &str, message: String) {
        self.record_about(pod_reference(pod, container), "kubelet", kind, reason, message);
    }

    /// Records `reason` about any object as `component` of this node (the
    /// service proxy's Events on a Service, say), in the background too.
    pub fn record_about(&self, object: ObjectReference, component: &str, kind: EventType, reason: &str, message: String) {
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let event = build_event(object, component, kind, reason, message, &self.node, seq, Timestamp::now());
        let namespace = event.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let reason = reason.to_string();
        tokio::spawn(async move {
            if let Err(err) = events.create(&PostParams::default(), &event).await {
                tracing::warn!(reason, error = %err, "could not record an Event");
            }
        });
    }
}

/// The `involvedObject` of an Event about `pod` (and, when given, one of its containers).
fn pod_reference(pod: &Pod, container: Option<&str>) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: Some(pod.metadata.namespace.clone().unwrap_or_else(|| "default".into())),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        field_path: container.map(|c| format!("spec.containers{{{c}}}")),
    }
}

/// An Event about `object`, reported by `component` of `node`.
#[allow(clippy::too_many_arguments)]
fn build_event(
    object: ObjectReference,
    component: &str,
    kind: EventType,
    reason: &str,
    message: String,
    node: &str,
    seq: u64,
    now: Timestamp,
) -> Event {
    let name = object.name.clone().unwrap_or_default();
    let namespace = object.namespace.clone().unwrap_or_else(|| "default".into());
    // Unique per agent process and node: a time prefix survives restarts, the sequence orders within one.
    let event_name = format!("{name}.{:x}{seq:04x}", now.as_nanosecond() as u64);
    Event {
        metadata: ObjectMeta { name: Some(event_name), namespace: Some(namespace), ..Default::default() },
        involved_object: object,
        reason: Some(reason.to_string()),
        message: Some(message),
        type_: Some(kind.as_str().to_string()),
        source: Some(EventSource { component: Some(component.into()), host: Some(node.to_string()) }),
        reporting_component: Some(component.into()),
        reporting_instance: Some(node.to_string()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        action: None,
        related: None,
        series: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_point_at_the_pod_and_container() {
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("prod".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let event = build_event(pod_reference(&pod, Some("app")), "kubelet", EventType::Warning, "BackOff", "again".into(), "n1", 7, Timestamp::UNIX_EPOCH);
        assert_eq!(event.metadata.namespace.as_deref(), Some("prod"));
        assert!(event.metadata.name.as_deref().is_some_and(|n| n.starts_with("web.")));
        assert_eq!(event.involved_object.uid.as_deref(), Some("u1"));
        assert_eq!(event.involved_object.field_path.as_deref(), Some("spec.containers{app}"));
        assert_eq!(event.type_.as_deref(), Some("Warning"));
        assert_eq!(event.source.and_then(|s| s.component).as_deref(), Some("kubelet"));
    }
}
