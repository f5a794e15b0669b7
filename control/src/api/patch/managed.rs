//! `metadata.managedFields`: reading and writing the entries, deciding which
//! fields a write may own at all, and recording ownership for every write that
//! is not an apply ([`track_update`]).

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::fields::{FieldPath, FieldSet};
use super::strategy::Schema;
use super::walk::changes;
use crate::api::resources::{ResourceType, Sub};

/// How a manager came to own its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedEntry {
    pub fn new(rt: &ResourceType, manager: &str, operation: Operation, subresource: Option<&str>) -> Self {
        ManagedEntry {
            manager: manager.to_string(),
            operation,
            api_version: rt.api_version(),
            time: None,
            subresource: subresource.map(str::to_string),
            fields: FieldSet::new(),
        }
    }

    /// Whether this entry records the writer described by the arguments. As
    /// upstream, appliers are one identity across API versions; updaters are
    /// told apart by version too.
    pub fn is(&self, manager: &str, operation: Operation, api_version: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
            && (operation == Operation::Apply || self.api_version == api_version)
    }

    /// The manager as upstream names it in conflict messages.
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    pub fn stamp(&mut self, now: Timestamp) {
        // metav1.Time has whole seconds.
        let seconds = Timestamp::from_second(now.as_second()).unwrap_or(now);
        self.time = Some(seconds.to_string());
    }

    fn to_json(&self) -> Value {
        let mut entry = json!({
            "manager": self.manager,
            "operation": self.operation.as_str(),
            "apiVersion": self.api_version,
        });
        if let Some(time) = &self.time {
            entry["time"] = json!(time);
        }
        entry["fieldsType"] = json!("FieldsV1");
        entry["fieldsV1"] = self.fields.to_json();
        if let Some(sub) = &self.subresource {
            entry["subresource"] = json!(sub);
        }
        entry
    }

    fn from_json(entry: &Value) -> Option<Self> {
        let operation = match entry.get("operation")?.as_str()? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_string);
        Some(ManagedEntry {
            manager: text("manager")?,
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").filter(|s| !s.is_empty()),
            fields: FieldSet::from_json(entry.get("fieldsV1").unwrap_or(&json!({}))).ok()?,
        })
    }
}

/// The entries stored on `obj`. Entries that cannot be read are dropped, as
/// upstream resets managed fields it cannot decode rather than failing writes.
pub fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().filter_map(ManagedEntry::from_json).collect())
        .unwrap_or_default()
}

/// Stores `entries` on `obj`, leaving out managers that own nothing.
pub fn write_managed(obj: &mut Value, entries: &[ManagedEntry]) {
    let Some(fields) = obj.as_object_mut() else {
        return;
    };
    let meta = fields.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return;
    };
    let kept: Vec<Value> = entries.iter().filter(|e| !e.fields.is_empty()).map(ManagedEntry::to_json).collect();
    if kept.is_empty() {
        meta.shift_remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(kept));
    }
}

/// Fields only the server sets: nobody owns them.
const SERVER_FIELDS: &[&[&str]] = &[
    &["f:apiVersion"],
    &["f:kind"],
    &["f:metadata", "f:name"],
    &["f:metadata", "f:namespace"],
    &["f:metadata", "f:uid"],
    &["f:metadata", "f:resourceVersion"],
    &["f:metadata", "f:generation"],
    &["f:metadata", "f:creationTimestamp"],
    &["f:metadata", "f:managedFields"],
    &["f:metadata", "f:selfLink"],
];

/// Narrows `set` to the fields a write through `subresource` can own: never
/// the server's metadata; only `status` through the status subresource, and
/// never `status` through the main resource of a type that has one.
pub fn ownable(rt: &ResourceType, subresource: Option<&str>, set: &FieldSet) -> FieldSet {
    let mut out = set.clone();
    for path in SERVER_FIELDS {
        out.remove_subtree(&to_path(path));
    }
    let status = to_path(&["f:status"]);
    match subresource {
        Some("status") => {
            let mut only_status = FieldSet::new();
            for p in out.paths().into_iter().filter(|p| p.starts_with(&status)) {
                only_status.insert(&p);
            }
            only_status
        }
        None if rt.has(Sub::Status) => {
            out.remove_subtree(&status);
            out
        }
        _ => out,
    }
}

fn to_path(els: &[&str]) -> FieldPath {
    els.iter().map(|s| s.to_string()).collect()
}

/// Records a create, update or patch by `manager`: the fields that differ
/// between `old` and `new` (all of `new` on create) become its own, with
/// operation Update, and other managers lose them, so that a later apply that
/// changes them conflicts. A write that changes nothing leaves the entries as
/// they were (timestamps included), so a no-op patch stays a no-op.
pub fn track_update(
    rt: &ResourceType,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: Option<&str>,
    now: Timestamp,
) {
    let schema = Schema::root(rt);
    let mut entries = old.map(read_managed).unwrap_or_default();
    let diff = changes(schema, old, new);
    let changed = ownable(rt, subresource, &diff.set);
    let removed = ownable(rt, subresource, &diff.removed);
    if changed.is_empty() && removed.is_empty() {
        write_managed(new, &entries);
        return;
    }
    let api_version = rt.api_version();
    let mine = match entries.iter().position(|e| e.is(manager, Operation::Update, &api_version, subresource)) {
        Some(i) => i,
        None => {
            entries.push(ManagedEntry::new(rt, manager, Operation::Update, subresource));
            entries.len() - 1
        }
    };
    for (i, entry) in entries.iter_mut().enumerate() {
        if i != mine {
            entry.fields = entry.fields.difference(&changed);
        }
        for gone in removed.paths() {
            entry.fields.remove_subtree(&gone);
        }
    }
    let entry = &mut entries[mine];
    entry.fields = entry.fields.union(&changed);
    entry.stamp(now);
    write_managed(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::lookup;

    fn now() -> Timestamp {
        "2025-01-02T03:04:05.678Z".parse().unwrap()
    }

    fn deployments() -> &'static ResourceType {
        lookup("apps", "v1", "deployments").unwrap()
    }

    #[test]
    fn create_owns_every_field_but_the_servers() {
        let mut obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"replicas": 1}, "status": {"replicas": 0}});
        track_update(deployments(), None, &mut obj, "kubectl-create", None, now());
        assert_eq!(
            obj["metadata"]["managedFields"],
            json!([{"manager": "kubectl-create", "operation": "Update", "apiVersion": "apps/v1",
                    "time": "2025-01-02T03:04:05Z", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}}}])
        );
    }

    #[test]
    fn updates_take_fields_from_other_managers() {
        let rt = deployments();
        let mut created = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1, "paused": false}});
        track_update(rt, None, &mut created, "kubectl-create", None, now());
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(3);
        track_update(rt, Some(&created), &mut scaled, "kubectl-scale", None, now());
        let entries = read_managed(&scaled);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].fields.to_json(), json!({"f:spec": {"f:paused": {}}}));
        assert_eq!(entries[1].manager, "kubectl-scale");
        assert_eq!(entries[1].fields.to_json(), json!({"f:spec": {"f:replicas": {}}}));
    }

    #[test]
    fn a_no_op_write_keeps_entries_untouched() {
        let rt = deployments();
        let mut created = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        track_update(rt, None, &mut created, "kubectl-create", None, now());
        let mut same = created.clone();
        track_update(rt, Some(&created), &mut same, "other", None, "2026-01-01T00:00:00Z".parse().unwrap());
        assert_eq!(same, created);
    }

    #[test]
    fn status_writes_own_only_status() {
        let rt = deployments();
        let old = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        let mut new = json!({"metadata": {"name": "web", "labels": {"x": "y"}}, "spec": {"replicas": 1}, "status": {"replicas": 1}});
        track_update(rt, Some(&old), &mut new, "controller", Some("status"), now());
        let entries = read_managed(&new);
        assert_eq!(entries[0].subresource.as_deref(), Some("status"));
        assert_eq!(entries[0].fields.to_json(), json!({"f:status": {"f:replicas": {}}}));
        assert_eq!(entries[0].describe(), "\"controller\" with subresource \"status\" using apps/v1");
    }

    #[test]
    fn unreadable_entries_are_dropped() {
        let obj = json!({"metadata": {"managedFields": [
            {"manager": "a", "operation": "Update", "apiVersion": "v1", "fieldsV1": {"bogus": {}}},
            {"manager": "b", "operation": "Apply", "apiVersion": "v1", "fieldsV1": {"f:data": {}}}
        ]}});
        let entries = read_managed(&obj);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].describe(), "\"b\"");
    }
}
