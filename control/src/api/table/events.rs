//! The core/v1 Event printer: `Last Seen, Type, Reason, Object, Message` and,
//! with `-o wide`, `Subobject, Source, First Seen, Count, Name`.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Event;
use serde_json::Value;

use super::duration::since;
use super::format::{decode, name_of};
use super::printer::{cells, Column, Printer, Row};

pub const EVENTS: Printer = Printer {
    columns: &[
        Column::string("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
        Column::string("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        Column::string("Reason", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
        Column::string("Object", "The object that this event is about."),
        Column::string("Subobject", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.").wide(),
        Column::string("Source", "The component reporting this event. Should be a short machine understandable string.").wide(),
        Column::string("Message", "A human-readable description of the status of this operation."),
        Column::string("First Seen", "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)").wide(),
        Column::string("Count", "The number of times this event has occurred.").wide(),
        Column::NAME.wide(),
    ],
    row: event_row,
};

fn non_empty(s: Option<&String>) -> Option<&str> {
    s.map(String::as_str).filter(|s| !s.is_empty())
}

fn event_row(obj: &Value, now: Timestamp) -> Row {
    let event: Event = decode(obj);
    // Events from the events.k8s.io API carry eventTime/series instead of
    // first/lastTimestamp and count.
    let first_seen = match &event.first_timestamp {
        Some(t) => since(Some(t.0), now),
        None => since(event.event_time.as_ref().map(|t| t.0), now),
    };
    let mut last_seen = match &event.last_timestamp {
        Some(t) => since(Some(t.0), now),
        None => first_seen.clone(),
    };
    let count = match &event.series {
        Some(series) => {
            last_seen = since(series.last_observed_time.as_ref().map(|t| t.0), now);
            series.count.unwrap_or(0)
        }
        None => event.count.filter(|c| *c != 0).unwrap_or(1),
    };
    let involved = &event.involved_object;
    let kind = involved.kind.as_deref().unwrap_or_default().to_lowercase();
    let target = match non_empty(involved.name.as_ref()) {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let source = event.source.clone().unwrap_or_default();
    let component = non_empty(source.component.as_ref())
        .or(non_empty(event.reporting_component.as_ref()))
        .unwrap_or_default();
    let source = match non_empty(source.host.as_ref()).or(non_empty(event.reporting_instance.as_ref())) {
        Some(instance) => format!("{component}, {instance}"),
        None => component.to_string(),
    };
    cells![
        last_seen,
        event.type_.unwrap_or_default(),
        event.reason.unwrap_or_default(),
        target,
        involved.field_path.clone().unwrap_or_default(),
        source,
        event.message.unwrap_or_default().trim(),
        first_seen,
        count,
        name_of(obj),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn core_event_cells() {
        let ev = json!({"metadata": {"name": "web.17a"}, "type": "Warning", "reason": "BackOff",
            "message": "Back-off restarting failed container\n",
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{a}"},
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2024-05-01T11:00:00Z", "lastTimestamp": "2024-05-01T11:58:00Z", "count": 7});
        assert_eq!(
            event_row(&ev, now()).cells,
            vec![json!("2m"), json!("Warning"), json!("BackOff"), json!("pod/web"), json!("spec.containers{a}"),
                 json!("kubelet, node-1"), json!("Back-off restarting failed container"), json!("60m"), json!(7),
                 json!("web.17a")]
        );
    }

    #[test]
    fn new_style_event_uses_event_time_and_series() {
        let ev = json!({"metadata": {"name": "e"}, "eventTime": "2024-05-01T11:59:30.000000Z",
            "reportingComponent": "scheduler", "involvedObject": {"kind": "Node"},
            "series": {"count": 4, "lastObservedTime": "2024-05-01T11:59:50.000000Z"}});
        let cells = event_row(&ev, now()).cells;
        assert_eq!(cells[0], json!("10s"));
        assert_eq!(cells[3], json!("node"));
        assert_eq!(cells[5], json!("scheduler"));
        assert_eq!(cells[7], json!("30s"));
        assert_eq!(cells[8], json!(4));
        let single = json!({"metadata": {"name": "e"}, "involvedObject": {}});
        assert_eq!(event_row(&single, now()).cells[8], json!(1));
        assert_eq!(event_row(&single, now()).cells[0], json!("<unknown>"));
    }
}
