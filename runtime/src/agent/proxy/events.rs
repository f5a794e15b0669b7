//! Warning Events on a Service the proxy cannot serve (a host port taken),
//! so `kubectl describe service` says why its port does not answer.
//! Best effort, as the agent's pod Events.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::PostParams;
use kube::{Api, Client};

use super::model::ServiceKey;

/// The component Events of the proxy come from.
const COMPONENT: &str = "service-proxy";

/// Writes a Warning `reason` about Service `service` in the background.
pub fn warn(client: &Client, node: &str, service: &ServiceKey, reason: &str, message: String) {
    let now = Timestamp::now();
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", service.name, now.as_nanosecond() as u64)),
            namespace: Some(service.namespace.clone()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Service".into()),
            name: Some(service.name.clone()),
            namespace: Some(service.namespace.clone()),
            ..Default::default()
        },
        reason: Some(reason.to_string()),
        message: Some(message),
        type_: Some("Warning".into()),
        source: Some(EventSource { component: Some(COMPONENT.into()), host: Some(node.to_string()) }),
        reporting_component: Some(COMPONENT.into()),
        reporting_instance: Some(node.to_string()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: Some(MicroTime(now)),
        count: Some(1),
        action: None,
        related: None,
        series: None,
    };
    let events: Api<Event> = Api::namespaced(client.clone(), &service.namespace);
    let reason = reason.to_string();
    tokio::spawn(async move {
        if let Err(err) = events.create(&PostParams::default(), &event).await {
            tracing::warn!(reason, error = %err, "could not record a Service Event");
        }
    });
}
