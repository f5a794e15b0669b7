//! Server-side apply (`application/apply-patch+yaml`, `kubectl apply
//! --server-side`): merge a manager's configuration into the live object,
//! refuse to silently take fields other managers own, and drop the fields the
//! manager applied before but no longer does.

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::fields::{render_path, FieldSet};
use super::managed::{ownable, read_managed, write_managed, ManagedEntry, Operation};
use super::strategy::{item_identity, key_names, ListKind, Schema};
use super::walk::{changes, fields_of, remove_at};
use super::{Conflict, PatchError};
use crate::api::resources::{ResourceType, Sub};

/// Applies `config` for `manager` to `live` (or creates it from `config` when
/// there is no live object) and returns the new object with its
/// `managedFields`.
///
/// Fields of `config` that another manager owns and whose value would change
/// are conflicts, unless `force` moves their ownership to `manager`.
pub fn apply(
    rt: &ResourceType,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: Timestamp,
) -> Result<Value, PatchError> {
    let schema = Schema::root(rt);
    let config = clean_config(rt, schema, config)?;
    let applied = ownable(rt, None, &fields_of(schema, &config));
    let mut entry = ManagedEntry::new(rt, manager, Operation::Apply, None);
    entry.fields = applied.clone();

    let Some(live) = live else {
        let mut created = config;
        entry.stamp(now);
        write_managed(&mut created, &[entry]);
        return Ok(created);
    };

    let mut entries = read_managed(live);
    let api_version = rt.api_version();
    let mine = entries.iter().position(|e| e.is(manager, Operation::Apply, &api_version, None));
    let previously = mine.map(|i| entries[i].fields.clone()).unwrap_or_default();

    let mut merged = live.clone();
    merge_value(schema, &mut merged, &config);

    // Conflicts: fields this apply changes that another manager owns.
    let contested = applied.intersection(&changes(schema, Some(live), &merged).set);
    let mut conflicts = Vec::new();
    for (i, other) in entries.iter_mut().enumerate() {
        if Some(i) == mine {
            continue;
        }
        let taken = other.fields.intersection(&contested);
        conflicts.extend(taken.paths().iter().map(|p| Conflict { manager: other.describe(), field: render_path(p) }));
        other.fields = other.fields.difference(&taken);
    }
    if !conflicts.is_empty() && !force {
        return Err(PatchError::Conflicts(conflicts));
    }

    // Fields this manager stopped applying go, unless someone else still owns
    // them (or something below them).
    let others = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != mine)
        .fold(FieldSet::new(), |acc, (_, e)| acc.union(&e.fields));
    for dropped in previously.difference(&applied).paths() {
        if !others.covers_any_under(&dropped) {
            remove_at(schema, &mut merged, &dropped);
        }
    }

    let unchanged = without_managed(&merged) == without_managed(live);
    match mine {
        Some(i) if unchanged && entries[i].fields == applied => {}
        Some(i) => {
            entries[i].fields = applied;
            entries[i].stamp(now);
        }
        None => {
            entry.stamp(now);
            entries.push(entry);
        }
    }
    write_managed(&mut merged, &entries);
    Ok(merged)
}

/// The configuration as it is merged: `managedFields` and (for types with a
/// status subresource) `status` are not the applier's to set; nulls set
/// nothing; every keyed-list item must carry its key.
fn clean_config(rt: &ResourceType, schema: Schema, config: &Value) -> Result<Value, PatchError> {
    let Value::Object(fields) = config else {
        return Err(PatchError::Malformed("apply configuration must be a JSON object".into()));
    };
    let mut out = Value::Object(without_nulls(fields));
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    if rt.has(Sub::Status) {
        if let Some(top) = out.as_object_mut() {
            top.shift_remove("status");
        }
    }
    check_keys(schema, &out, "")?;
    Ok(out)
}

fn without_nulls(fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), strip_nulls(v)))
        .collect()
}

fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(without_nulls(fields)),
        Value::Array(items) => Value::Array(items.iter().map(strip_nulls).collect()),
        other => other.clone(),
    }
}

/// Rejects keyed-list items without their key, in upstream's words.
fn check_keys(schema: Schema, value: &Value, at: &str) -> Result<(), PatchError> {
    let Value::Object(fields) = value else {
        return Ok(());
    };
    for (name, child) in fields {
        let path = format!("{at}.{name}");
        match child {
            Value::Object(_) => check_keys(schema.field(name), child, &path)?,
            Value::Array(items) => {
                let (kind, item_schema) = schema.list(name);
                if let ListKind::Map(_) = kind {
                    for (i, item) in items.iter().enumerate() {
                        if item_identity(kind, item).is_none() {
                            return Err(PatchError::Malformed(format!(
                                "{path}: element {i}: associative list with keys has an element that omits key field {:?} (and doesn't have default value)",
                                key_names(kind)
                            )));
                        }
                        check_keys(item_schema, item, &format!("{path}[{i}]"))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Merges `config` into `live`: maps field by field, keyed lists item by item,
/// sets by value; everything else (atomic lists and structs, scalars) is
/// replaced. Live content the config does not mention stays.
fn merge_value(schema: Schema, live: &mut Value, config: &Value) {
    match (live, config) {
        (Value::Object(live_fields), Value::Object(config_fields)) if !schema.is_atomic() => {
            for (name, value) in config_fields {
                match live_fields.get_mut(name) {
                    Some(existing) => merge_field(schema, name, existing, value),
                    None => {
                        live_fields.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        (live, config) => *live = config.clone(),
    }
}

fn merge_field(parent: Schema, name: &str, live: &mut Value, config: &Value) {
    match (live, config) {
        (Value::Array(live_items), Value::Array(config_items)) => {
            let (kind, item_schema) = parent.list(name);
            match kind {
                ListKind::Atomic => *live_items = config_items.clone(),
                ListKind::Set => {
                    for item in config_items {
                        if !live_items.contains(item) {
                            live_items.push(item.clone());
                        }
                    }
                }
                ListKind::Map(_) => {
                    for item in config_items {
                        let id = item_identity(kind, item);
                        match live_items.iter_mut().find(|l| id.is_some() && item_identity(kind, l) == id) {
                            Some(existing) => merge_value(item_schema, existing, item),
                            None => live_items.push(item.clone()),
                        }
                    }
                }
            }
        }
        (live @ Value::Object(_), Value::Object(_)) => merge_value(parent.field(name), live, config),
        (live, config) => *live = config.clone(),
    }
}

fn without_managed(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("managedFields");
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::super::managed::track_update;
    use super::*;
    use crate::api::resources::lookup;
    use serde_json::json;

    fn rt() -> &'static ResourceType {
        lookup("apps", "v1", "deployments").unwrap()
    }

    fn now() -> Timestamp {
        "2025-01-02T03:04:05Z".parse().unwrap()
    }

    fn config(replicas: i64, containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}}})
    }

    fn managers(obj: &Value) -> Vec<(String, Value)> {
        read_managed(obj).into_iter().map(|e| (e.manager, e.fields.to_json())).collect()
    }

    #[test]
    fn apply_without_live_object_creates_it_with_ownership() {
        let cfg = config(2, json!([{"name": "c1", "image": "nginx"}]));
        let out = apply(rt(), None, &cfg, "kubectl", false, now()).unwrap();
        assert_eq!(out["spec"], cfg["spec"]);
        assert_eq!(out["metadata"]["managedFields"][0]["operation"], "Apply");
        assert_eq!(
            out["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"c1\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
    }

    #[test]
    fn reapplying_updates_values_and_keeps_other_content() {
        let live = apply(rt(), None, &config(1, json!([{"name": "c1", "image": "a"}])), "kubectl", false, now()).unwrap();
        let mut live_with_defaults = live.clone();
        live_with_defaults["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        let out = apply(rt(), Some(&live_with_defaults), &config(3, json!([{"name": "c1", "image": "b"}])), "kubectl", false, now())
            .unwrap();
        assert_eq!(out["spec"]["replicas"], 3);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c1", "image": "b", "imagePullPolicy": "Always"}])
        );
    }

    #[test]
    fn changing_a_field_another_manager_owns_conflicts() {
        let mut live = config(1, json!([{"name": "c1", "image": "a"}]));
        track_update(rt(), None, &mut live, "kubectl-client-side-apply", None, now());
        let err = apply(rt(), Some(&live), &config(2, json!([{"name": "c1", "image": "a"}])), "kubectl", false, now())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
    }

    #[test]
    fn applying_the_same_value_shares_ownership() {
        let mut live = config(1, json!([{"name": "c1", "image": "a"}]));
        track_update(rt(), None, &mut live, "kubectl-create", None, now());
        let out = apply(rt(), Some(&live), &config(1, json!([{"name": "c1", "image": "a"}])), "kubectl", false, now()).unwrap();
        let owners = managers(&out);
        assert_eq!(owners.len(), 2);
        assert_eq!(owners[0].1["f:spec"]["f:replicas"], json!({}));
        assert_eq!(owners[1].1["f:spec"]["f:replicas"], json!({}));
    }

    #[test]
    fn force_moves_ownership() {
        let mut live = config(1, json!([{"name": "c1", "image": "a"}]));
        track_update(rt(), None, &mut live, "kubectl-client-side-apply", None, now());
        let out = apply(rt(), Some(&live), &config(5, json!([{"name": "c1", "image": "a"}])), "kubectl", true, now()).unwrap();
        assert_eq!(out["spec"]["replicas"], 5);
        let owners = managers(&out);
        assert_eq!(owners[0].0, "kubectl-client-side-apply");
        assert!(owners[0].1["f:spec"].get("f:replicas").is_none(), "{:?}", owners[0]);
        assert_eq!(owners[1].0, "kubectl");
        assert_eq!(owners[1].1["f:spec"]["f:replicas"], json!({}));
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_owned_elsewhere() {
        let first = config(1, json!([{"name": "c1", "image": "a"}, {"name": "side", "image": "s"}]));
        let mut live = apply(rt(), None, &first, "kubectl", false, now()).unwrap();
        live["metadata"]["labels"] = json!({"team": "x"});
        let before_label = live.clone();
        let mut labelled = live.clone();
        labelled["metadata"]["labels"]["by-other"] = json!("y");
        track_update(rt(), Some(&before_label), &mut labelled, "kubectl-label", None, now());

        let mut second = config(1, json!([{"name": "c1", "image": "a"}]));
        second["spec"].as_object_mut().unwrap().remove("replicas");
        let out = apply(rt(), Some(&labelled), &second, "kubectl", false, now()).unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "c1", "image": "a"}]));
        assert!(out["spec"].get("replicas").is_none(), "{}", out["spec"]);
        assert_eq!(out["metadata"]["labels"]["by-other"], "y");
    }

    #[test]
    fn dropped_item_survives_while_another_manager_owns_part_of_it() {
        let first = config(1, json!([{"name": "c1", "image": "a"}, {"name": "side", "image": "s"}]));
        let live = apply(rt(), None, &first, "kubectl", false, now()).unwrap();
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][1]["image"] = json!("s2");
        track_update(rt(), Some(&live), &mut edited, "kubectl-edit", None, now());
        let out = apply(rt(), Some(&edited), &config(1, json!([{"name": "c1", "image": "a"}])), "kubectl", false, now()).unwrap();
        assert_eq!(out["spec"]["template"]["spec"]["containers"][1], json!({"name": "side", "image": "s2"}));
    }

    #[test]
    fn a_no_op_apply_keeps_the_object_identical() {
        let cfg = config(1, json!([{"name": "c1", "image": "a"}]));
        let live = apply(rt(), None, &cfg, "kubectl", false, now()).unwrap();
        let again = apply(rt(), Some(&live), &cfg, "kubectl", false, "2030-01-01T00:00:00Z".parse().unwrap()).unwrap();
        assert_eq!(again, live);
    }

    #[test]
    fn items_without_keys_are_rejected() {
        let err = apply(rt(), None, &config(1, json!([{"image": "a"}])), "kubectl", false, now()).unwrap_err();
        assert!(
            matches!(&err, PatchError::Malformed(m) if m.starts_with(".spec.template.spec.containers: element 0:")),
            "{err}"
        );
        assert!(apply(rt(), None, &json!([]), "kubectl", false, now()).is_err());
    }
}
