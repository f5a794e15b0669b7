//! Cell formatting shared by several printers: decoding, ages, label maps,
//! selectors, container lists.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as K8sLabelSelector, ObjectMeta};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::duration::since;
use crate::api::selectors::LabelSelector;

/// Reads a stored object as its typed form. Stored objects passed validation,
/// so this only fails on corrupt data; the row then prints defaults rather
/// than failing the whole list.
pub fn decode<T: DeserializeOwned + Default>(obj: &Value) -> T {
    T::deserialize(obj).unwrap_or_else(|err| {
        tracing::warn!(%err, name = %obj["metadata"]["name"], "object does not decode for table output");
        T::default()
    })
}

/// The object's name; read from the JSON so a row never loses it.
pub fn name_of(obj: &Value) -> String {
    obj["metadata"]["name"].as_str().unwrap_or_default().to_string()
}

/// `metadata.creationTimestamp`, read from the JSON.
pub fn creation_timestamp(obj: &Value) -> Option<Timestamp> {
    obj["metadata"]["creationTimestamp"].as_str().and_then(|s| s.parse().ok())
}

/// The Age cell.
pub fn age(meta: &ObjectMeta, now: Timestamp) -> String {
    since(meta.creation_timestamp.as_ref().map(|t| t.0), now)
}

/// `s`, or `<none>` when empty.
pub fn or_none(s: impl Into<String>) -> String {
    let s = s.into();
    if s.is_empty() {
        "<none>".to_string()
    } else {
        s
    }
}

/// `labels.FormatLabels`: sorted `k=v` pairs joined by commas, `<none>` if empty.
pub fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let joined = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    or_none(joined)
}

/// `metav1.FormatLabelSelector`: the selector's string form, `<none>` when
/// it selects everything or is absent, `<error>` when it does not convert.
pub fn format_label_selector(selector: Option<&K8sLabelSelector>) -> String {
    match selector.map(LabelSelector::from_k8s) {
        None => "<none>".to_string(),
        Some(Ok(s)) => or_none(s.to_string()),
        Some(Err(_)) => "<error>".to_string(),
    }
}

/// The Containers and Images cells: names and images joined by commas.
pub fn container_cells(containers: &[Container]) -> (String, String) {
    let names = containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",");
    let images = containers.iter().map(|c| c.image.as_deref().unwrap_or_default()).collect::<Vec<_>>().join(",");
    (names, images)
}

/// Joins at most `max` items with commas, then `+ N more...` (upstream
/// `listWithMoreString`); `<unset>` when there are none.
pub fn list_with_more(items: &[String], max: usize) -> String {
    if items.is_empty() {
        return "<unset>".to_string();
    }
    let shown = items[..items.len().min(max)].join(",");
    if items.len() > max {
        format!("{shown} + {} more...", items.len() - max)
    } else {
        shown
    }
}

/// `True` / `False` / `<unset>` (upstream `printBoolPtr`).
pub fn bool_ptr(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn labels_are_sorted_or_none() {
        let labels = BTreeMap::from([("b".to_string(), "2".to_string()), ("a".to_string(), "1".to_string())]);
        assert_eq!(format_labels(Some(&labels)), "a=1,b=2");
        assert_eq!(format_labels(None), "<none>");
        assert_eq!(format_labels(Some(&BTreeMap::new())), "<none>");
    }

    #[test]
    fn label_selectors_format_like_upstream() {
        let sel = K8sLabelSelector {
            match_labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: "Exists".into(),
                values: None,
            }]),
        };
        assert_eq!(format_label_selector(Some(&sel)), "app=web,tier");
        assert_eq!(format_label_selector(Some(&K8sLabelSelector::default())), "<none>");
        assert_eq!(format_label_selector(None), "<none>");
        let bad = K8sLabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Near".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
    }

    #[test]
    fn long_lists_are_cut() {
        let items: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
        assert_eq!(list_with_more(&items, 3), "a,b,c + 2 more...");
        assert_eq!(list_with_more(&items[..2], 3), "a,b");
        assert_eq!(list_with_more(&[], 3), "<unset>");
    }

    #[test]
    fn decode_falls_back_to_default() {
        let meta: ObjectMeta = decode(&serde_json::json!({"name": 5}));
        assert_eq!(meta, ObjectMeta::default());
    }
}
