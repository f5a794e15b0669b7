//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`),
//! what client-side `kubectl apply`, `set image`, `set env`, `rollout restart`
//! and plain `kubectl patch` send.
//!
//! Maps merge key by key and `null` deletes a key. Lists follow the per-kind
//! strategies in [`super::strategy`]: keyed lists merge item by item, sets of
//! scalars are unioned, every other list is replaced. Directives understood:
//! `$patch: replace|merge|delete` (in maps and list items),
//! `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`, `$retainKeys`.

use serde_json::{Map, Value};

use super::strategy::{key_names, merge_key_identity, ListKind, Schema};
use super::PatchError;
use crate::api::resources::ResourceType;

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies the strategic merge patch `patch` to `target`, an object of type `rt`.
pub fn strategic_merge(rt: &ResourceType, target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let patch = patch
        .as_object()
        .ok_or_else(|| PatchError::Malformed("strategic merge patch must be a JSON object".into()))?;
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(original) = target {
        if merge_map(Schema::root(rt), original, patch)? == Outcome::Delete {
            original.clear();
        }
    }
    Ok(())
}

/// What the parent should do with a map after merging into it.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Keep,
    /// The patch said `$patch: delete`.
    Delete,
}

fn merge_map(schema: Schema, original: &mut Map<String, Value>, patch: &Map<String, Value>) -> Result<Outcome, PatchError> {
    match patch.get(PATCH) {
        None => {}
        Some(Value::String(d)) if d == "merge" => {}
        Some(Value::String(d)) if d == "delete" => return Ok(Outcome::Delete),
        Some(Value::String(d)) if d == "replace" => {
            // Replace: the result is the patch itself, directives and nulls stripped.
            original.clear();
            let mut rest = patch.clone();
            rest.shift_remove(PATCH);
            return merge_map(schema, original, &rest);
        }
        Some(other) => return Err(PatchError::Malformed(format!("Unrecognized $patch directive: {other}"))),
    }
    if let Some(keys) = patch.get(RETAIN_KEYS) {
        let keys = string_list(keys, RETAIN_KEYS)?;
        original.retain(|k, _| keys.contains(&k.as_str()));
    }
    for (key, value) in patch {
        if key == PATCH || key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if let Some(list) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let doomed = value
                .as_array()
                .ok_or_else(|| PatchError::Malformed(format!("{key} must be a list of values")))?;
            if let Some(Value::Array(items)) = original.get_mut(list) {
                items.retain(|item| !doomed.contains(item));
            }
            continue;
        }
        if key.starts_with('$') {
            return Err(PatchError::Malformed(format!("unknown strategic merge patch directive {key:?}")));
        }
        match value {
            Value::Null => {
                // shift_remove: the plain remove would reorder the other keys.
                original.shift_remove(key);
            }
            Value::Object(child_patch) => {
                let child_schema = schema.field(key);
                let outcome = match original.get_mut(key) {
                    Some(Value::Object(child)) => merge_map(child_schema, child, child_patch)?,
                    _ => {
                        let mut child = Map::new();
                        let outcome = merge_map(child_schema, &mut child, child_patch)?;
                        original.insert(key.clone(), Value::Object(child));
                        outcome
                    }
                };
                if outcome == Outcome::Delete {
                    original.shift_remove(key);
                }
            }
            Value::Array(items) => {
                let (kind, item_schema) = schema.list(key);
                let current = match original.get(key) {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
                let merged = merge_list(kind, item_schema, current, items)?;
                original.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                original.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (key, order) in patch {
        if let Some(list) = key.strip_prefix(SET_ELEMENT_ORDER) {
            let order = order
                .as_array()
                .ok_or_else(|| PatchError::Malformed(format!("{key} must be a list")))?;
            let (kind, _) = schema.list(list);
            if let Some(Value::Array(items)) = original.get_mut(list) {
                reorder(kind, items, order);
            }
        }
    }
    Ok(Outcome::Keep)
}

fn merge_list(kind: ListKind, item_schema: Schema, mut original: Vec<Value>, patch: &[Value]) -> Result<Vec<Value>, PatchError> {
    if patch.iter().any(|item| directive(item) == Some("replace")) {
        // `{"$patch":"replace"}` as an item: the list becomes the other items.
        return patch
            .iter()
            .filter(|item| directive(item).is_none())
            .map(|item| fresh(item_schema, item))
            .collect();
    }
    match kind {
        ListKind::Atomic => Ok(patch.to_vec()),
        ListKind::Set => {
            for item in patch {
                if !original.contains(item) {
                    original.push(item.clone());
                }
            }
            Ok(original)
        }
        ListKind::Map(_) => {
            for item in patch {
                let fields = item
                    .as_object()
                    .ok_or_else(|| PatchError::Malformed(format!("list item {item} must be an object")))?;
                let id = merge_key_identity(kind, item).ok_or_else(|| {
                    PatchError::Malformed(format!("map: {item} does not contain declared merge key: {}", key_names(kind)))
                })?;
                let position = original.iter().position(|o| merge_key_identity(kind, o).as_ref() == Some(&id));
                match (directive(item), position) {
                    (Some("delete"), Some(i)) => {
                        original.remove(i);
                    }
                    (Some("delete"), None) => {}
                    (_, Some(i)) => {
                        if let Value::Object(existing) = &mut original[i] {
                            if merge_map(item_schema, existing, fields)? == Outcome::Delete {
                                original.remove(i);
                            }
                        } else {
                            original[i] = fresh(item_schema, item)?;
                        }
                    }
                    (_, None) => original.push(fresh(item_schema, item)?),
                }
            }
            Ok(original)
        }
    }
}

/// A patch value with no original to merge into: directives and nulls stripped.
fn fresh(schema: Schema, patch: &Value) -> Result<Value, PatchError> {
    match patch {
        Value::Object(fields) => {
            let mut out = Map::new();
            merge_map(schema, &mut out, fields)?;
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn directive(item: &Value) -> Option<&str> {
    item.get(PATCH).and_then(Value::as_str)
}

/// Orders `items` as `order` says. Items the order does not mention (e.g. a
/// sidecar the server injected) keep their positions.
fn reorder(kind: ListKind, items: &mut [Value], order: &[Value]) {
    if kind == ListKind::Atomic {
        return;
    }
    let wanted: Vec<_> = order.iter().map(|o| merge_key_identity(kind, o)).collect();
    let rank = |item: &Value| {
        let id = merge_key_identity(kind, item)?;
        wanted.iter().position(|w| w.as_ref() == Some(&id))
    };
    let slots: Vec<usize> = (0..items.len()).filter(|&i| rank(&items[i]).is_some()).collect();
    let mut ranked: Vec<Value> = slots.iter().map(|&i| items[i].clone()).collect();
    ranked.sort_by_key(|item| rank(item));
    for (slot, item) in slots.into_iter().zip(ranked) {
        items[slot] = item;
    }
}

fn string_list<'a>(value: &'a Value, what: &str) -> Result<Vec<&'a str>, PatchError> {
    value
        .as_array()
        .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
        .ok_or_else(|| PatchError::Malformed(format!("{what} must be a list of strings")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::lookup;
    use serde_json::json;

    fn patched(plural: &str, group: &str, mut target: Value, patch: Value) -> Value {
        let rt = lookup(group, "v1", plural).unwrap();
        strategic_merge(rt, &mut target, &patch).unwrap();
        target
    }

    fn deployment(containers: Value) -> Value {
        json!({"metadata": {"name": "web", "labels": {"app": "web", "extra": "x"}},
               "spec": {"replicas": 1, "template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn kubectl_set_image_merges_the_container_by_name() {
        let live = deployment(json!([{"name": "c1", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]));
        let out = patched(
            "deployments",
            "apps",
            live,
            json!({"metadata": {"labels": {"extra": null}},
                   "spec": {"replicas": 2, "template": {"spec": {"$setElementOrder/containers": [{"name": "c1"}],
                   "containers": [{"image": "nginx:1.26", "name": "c1"}]}}}}),
        );
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c1", "image": "nginx:1.26", "ports": [{"containerPort": 80}]}])
        );
        assert!(!out.to_string().contains('$'), "directives must be stripped: {out}");
    }

    #[test]
    fn delete_directive_removes_a_list_item() {
        let live = deployment(json!([{"name": "c1", "image": "a"}, {"name": "side", "image": "b"}]));
        let out = patched(
            "deployments",
            "apps",
            live,
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c1"}],
                   "containers": [{"$patch": "delete", "name": "side"}]}}}}),
        );
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "c1", "image": "a"}]));
    }

    #[test]
    fn env_merges_by_name_and_args_are_replaced() {
        let live = json!({"spec": {"containers": [{"name": "c1", "args": ["a", "b"],
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}});
        let out = patched(
            "pods",
            "",
            live,
            json!({"spec": {"containers": [{"name": "c1", "args": ["z"],
                "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}),
        );
        let c = &out["spec"]["containers"][0];
        assert_eq!(c["args"], json!(["z"]));
        assert_eq!(c["env"], json!([{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]));
    }

    #[test]
    fn service_ports_merge_by_port() {
        let live = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}], "selector": {"app": "web"}}});
        let out = patched(
            "services",
            "",
            live,
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443, "targetPort": 8443}]}}),
        );
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "protocol": "TCP", "targetPort": 9090}, {"port": 443, "targetPort": 8443}])
        );
    }

    #[test]
    fn service_ports_match_by_port_whatever_the_protocol() {
        let live = json!({"spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53}]}});
        let out = patched("services", "", live, json!({"spec": {"ports": [{"port": 53, "targetPort": 5353}]}}));
        assert_eq!(out["spec"]["ports"], json!([{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 5353}]));
    }

    #[test]
    fn finalizers_are_a_merged_set() {
        let live = json!({"metadata": {"finalizers": ["a", "b"]}});
        let out = patched("pods", "", live.clone(), json!({"metadata": {"finalizers": ["b", "c"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b", "c"]));
        let out = patched(
            "pods",
            "",
            live,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "$setElementOrder/finalizers": ["b"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn tolerations_are_replaced_atomically() {
        let live = json!({"spec": {"tolerations": [{"key": "a", "operator": "Exists"}]}});
        let out = patched("pods", "", live, json!({"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}));
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "b", "operator": "Exists"}]));
    }

    #[test]
    fn cronjob_pod_templates_merge_containers() {
        let live = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}}}});
        let rt = lookup("batch", "v1", "cronjobs").unwrap();
        let mut out = live;
        strategic_merge(rt, &mut out, &json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "b", "image": "z"}]}}}}}}))
        .unwrap();
        assert_eq!(
            out["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "x"}, {"name": "b", "image": "z"}])
        );
    }

    #[test]
    fn replace_and_retain_keys_directives() {
        let live = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "selector": {"matchLabels": {"a": "1"}}}});
        let out = patched(
            "deployments",
            "apps",
            live,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "selector": {"$patch": "replace", "matchLabels": {"b": "2"}}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(out["spec"]["selector"], json!({"matchLabels": {"b": "2"}}));
    }

    #[test]
    fn replace_directive_in_a_list_replaces_the_list() {
        let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        let out = patched("pods", "", live, json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}}));
        assert_eq!(out["spec"]["containers"], json!([{"name": "c"}]));
    }

    #[test]
    fn set_element_order_keeps_server_only_items_in_place() {
        let live = json!({"spec": {"containers": [{"name": "a"}, {"name": "injected"}, {"name": "b"}]}});
        let out = patched(
            "pods",
            "",
            live,
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
        );
        assert_eq!(out["spec"]["containers"], json!([{"name": "b"}, {"name": "injected"}, {"name": "a"}]));
    }

    #[test]
    fn malformed_patches_are_rejected() {
        let rt = lookup("", "v1", "pods").unwrap();
        let mut pod = json!({"spec": {"containers": [{"name": "a"}]}});
        for bad in [
            json!([1]),
            json!({"spec": {"containers": [{"image": "no-name"}]}}),
            json!({"spec": {"$patch": "explode"}}),
            json!({"spec": {"$retainKeys": "x"}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
        ] {
            let err = strategic_merge(rt, &mut pod, &bad).unwrap_err();
            assert!(matches!(err, PatchError::Malformed(_)), "{bad}: {err}");
        }
    }
}
