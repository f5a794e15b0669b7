//! Events the control loops record about the objects they act on (core/v1
//! Events, the ones `kubectl describe` lists). A repeat of the same reason and
//! message about the same object bumps `count` and `lastTimestamp` of the
//! first Event instead of piling up new ones, as Kubernetes' event correlator
//! does. Best effort: a failed Event is logged, never a reason to stop
//! reconciling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, Resource};
use serde_json::json;

/// Repeats remembered for aggregation; beyond this the memory starts afresh.
const MAX_REMEMBERED: usize = 4096;

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

/// Which earlier Event a repeat folds into: same object, reason and message.
type RepeatKey = (String, String, String);

/// Records Events as one control-plane component (`default-scheduler`,
/// `replicaset-controller`, ...). Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: Arc<str>,
    sequence: Arc<AtomicU64>,
    seen: Arc<Mutex<HashMap<RepeatKey, (String, i32)>>>,
}

impl Recorder {
    pub fn new(client: Client, component: &str) -> Self {
        Recorder { client, component: component.into(), sequence: Arc::default(), seen: Arc::default() }
    }

    /// The same recorder speaking for another component.
    pub fn for_component(&self, component: &str) -> Self {
        Recorder::new(self.client.clone(), component)
    }

    /// Records `reason`/`message` about `object`.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, object: &K, kind: EventType, reason: &str, message: impl Into<String>) {
        self.publish_about(object.object_ref(&()), kind, reason, message.into()).await
    }

    /// Records an Event about the object `reference` points at.
    pub async fn publish_about(&self, reference: ObjectReference, kind: EventType, reason: &str, message: String) {
        let now = Timestamp::now();
        let namespace = reference.namespace.clone().unwrap_or_else(|| "default".into());
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let key = (reference.uid.clone().unwrap_or_else(|| reference.name.clone().unwrap_or_default()), reason.to_string(), message.clone());
        let repeat = self.remembered(&key);
        if let Some((name, count)) = repeat {
            let patch = json!({"count": count + 1, "lastTimestamp": Time(now)});
            match events.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                Ok(_) => return self.remember(key, name, count + 1),
                // Gone (expired or deleted): record it anew below.
                Err(err) => tracing::debug!(reason, error = %err, "could not bump a repeated Event"),
            }
        }
        let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
        let event = build_event(reference, kind, reason, message, &self.component, seq, now);
        match events.create(&PostParams::default(), &event).await {
            Ok(created) => self.remember(key, created.metadata.name.unwrap_or_default(), 1),
            Err(err) => tracing::warn!(component = %self.component, reason, error = %err, "could not record an Event"),
        }
    }

    fn remembered(&self, key: &RepeatKey) -> Option<(String, i32)> {
        self.seen.lock().ok()?.get(key).cloned()
    }

    fn remember(&self, key: RepeatKey, name: String, count: i32) {
        if let Ok(mut seen) = self.seen.lock() {
            if seen.len() >= MAX_REMEMBERED {
                seen.clear();
            }
            seen.insert(key, (name, count));
        }
    }
}

fn build_event(reference: ObjectReference, kind: EventType, reason: &str, message: String, component: &str, seq: u64, now: Timestamp) -> Event {
    let object_name = reference.name.clone().unwrap_or_default();
    // Unique across restarts (time) and within one process (sequence).
    let name = format!("{object_name}.{:x}{seq:04x}", now.as_nanosecond() as u64);
    Event {
        metadata: ObjectMeta { name: Some(name), namespace: reference.namespace.clone(), ..Default::default() },
        involved_object: reference,
        reason: Some(reason.to_string()),
        message: Some(message),
        type_: Some(kind.as_str().to_string()),
        source: Some(EventSource { component: Some(component.to_string()), host: None }),
        reporting_component: Some(component.to_string()),
        reporting_instance: Some(component.to_string()),
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
    fn an_event_points_at_its_object_and_names_the_component() {
        let reference = ObjectReference {
            api_version: Some("apps/v1".into()),
            kind: Some("ReplicaSet".into()),
            name: Some("web-5d8".into()),
            namespace: Some("prod".into()),
            uid: Some("u1".into()),
            ..Default::default()
        };
        let event = build_event(reference, EventType::Normal, "SuccessfulCreate", "Created pod: web-5d8-x".into(), "replicaset-controller", 3, Timestamp::UNIX_EPOCH);
        assert_eq!(event.metadata.namespace.as_deref(), Some("prod"));
        assert!(event.metadata.name.as_deref().is_some_and(|n| n.starts_with("web-5d8.") && n.ends_with("0003")));
        assert_eq!(event.involved_object.kind.as_deref(), Some("ReplicaSet"));
        assert_eq!(event.source.and_then(|s| s.component).as_deref(), Some("replicaset-controller"));
        assert_eq!(event.type_.as_deref(), Some("Normal"));
    }
}
