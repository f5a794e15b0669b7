//! Walking objects alongside their [`Schema`]: the field set a value spells
//! out, the value at a field path, removing a field path, and the difference
//! between two versions of an object in field-path terms.

use serde_json::Value;

use super::fields::{FieldPath, FieldSet, PathElement};
use super::strategy::{is_key_field, item_identity, ListKind, Schema};

/// Every field path `value` sets: scalars, empty objects, atomic lists and
/// structs as leaves, plus each item of a keyed list or set (with the item's
/// own fields below it). Nulls set nothing. A keyed-list item that lacks its
/// key cannot be addressed, so such a list is owned as a whole.
pub fn fields_of(schema: Schema, value: &Value) -> FieldSet {
    let mut set = FieldSet::new();
    if let Value::Object(fields) = value {
        for (name, child) in fields {
            collect_field(schema, name, child, &mut vec![PathElement::field(name).encode()], &mut set);
        }
    }
    set
}

fn collect_field(parent: Schema, name: &str, value: &Value, path: &mut FieldPath, out: &mut FieldSet) {
    match value {
        Value::Null => {}
        Value::Object(fields) => {
            let schema = parent.field(name);
            if fields.is_empty() || schema.is_atomic() {
                out.insert(path);
                return;
            }
            for (child_name, child) in fields {
                path.push(PathElement::field(child_name).encode());
                collect_field(schema, child_name, child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let (kind, item_schema) = parent.list(name);
            let ids: Option<Vec<PathElement>> = items.iter().map(|item| item_identity(kind, item)).collect();
            let Some(ids) = ids else {
                out.insert(path);
                return;
            };
            for (id, item) in ids.into_iter().zip(items) {
                path.push(id.encode());
                out.insert(path);
                if let (ListKind::Map(_), Value::Object(fields)) = (kind, item) {
                    for (child_name, child) in fields {
                        path.push(PathElement::field(child_name).encode());
                        collect_field(item_schema, child_name, child, path, out);
                        path.pop();
                    }
                }
                path.pop();
            }
        }
        _ => out.insert(path),
    }
}

fn decode(path: &[String]) -> Option<Vec<PathElement>> {
    path.iter().map(|el| PathElement::decode(el).ok()).collect()
}

/// The value at `path` in `value`, if there is one.
pub fn value_at<'a>(schema: Schema, value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let path = decode(path)?;
    let mut schema = schema;
    let mut value = value;
    let mut list: Option<(ListKind, Schema)> = None;
    for el in &path {
        match el {
            PathElement::Field(name) => {
                value = value.as_object()?.get(name)?;
                if value.is_array() {
                    list = Some(schema.list(name));
                } else {
                    schema = schema.field(name);
                }
            }
            PathElement::Index(i) => {
                value = value.as_array()?.get(*i)?;
                schema = Schema::Plain;
            }
            item => {
                let (kind, item_schema) = list.take()?;
                value = value.as_array()?.iter().find(|v| item_identity(kind, v).as_ref() == Some(item))?;
                schema = item_schema;
            }
        }
    }
    Some(value)
}

/// Removes the value at `path` from `value`. Key fields of a list item are
/// kept: they go only when the whole item goes.
pub fn remove_at(schema: Schema, value: &mut Value, path: &[String]) {
    if let Some(path) = decode(path) {
        remove_in(schema, None, value, &path);
    }
}

fn remove_in(schema: Schema, item_of: Option<ListKind>, value: &mut Value, path: &[PathElement]) {
    let Some((PathElement::Field(name), rest)) = path.split_first() else {
        return;
    };
    let Some(fields) = value.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        if !item_of.is_some_and(|kind| is_key_field(kind, name)) {
            fields.shift_remove(name);
        }
        return;
    }
    let Some(child) = fields.get_mut(name) else {
        return;
    };
    match child {
        Value::Array(items) => {
            let (kind, item_schema) = schema.list(name);
            remove_item(kind, item_schema, items, rest);
        }
        child => remove_in(schema.field(name), None, child, rest),
    }
}

fn remove_item(kind: ListKind, item_schema: Schema, items: &mut Vec<Value>, path: &[PathElement]) {
    let Some((target, rest)) = path.split_first() else {
        return;
    };
    let is_target = |item: &Value| item_identity(kind, item).as_ref() == Some(target);
    if rest.is_empty() {
        items.retain(|item| !is_target(item));
        return;
    }
    for item in items.iter_mut().filter(|item| is_target(item)) {
        remove_in(item_schema, Some(kind), item, rest);
    }
}

/// How a write changed an object, in field paths.
#[derive(Debug, Default)]
pub struct Changes {
    /// Paths whose value is new or different.
    pub set: FieldSet,
    /// Paths that were there before and are gone.
    pub removed: FieldSet,
}

/// The field paths that differ between `old` and `new`. A container (a list
/// item, a map) counts as changed only when it appears or disappears; changes
/// inside it are counted at the leaves.
pub fn changes(schema: Schema, old: Option<&Value>, new: &Value) -> Changes {
    let new_fields = fields_of(schema, new);
    let old_fields = old.map(|o| fields_of(schema, o)).unwrap_or_default();
    let before = |p: &[String]| old.and_then(|o| value_at(schema, o, p));
    let mut out = Changes::default();
    for p in new_fields.paths() {
        let differs = if new_fields.has_children_at(&p) {
            before(&p).is_none()
        } else {
            before(&p) != value_at(schema, new, &p)
        };
        if differs {
            out.set.insert(&p);
        }
    }
    for p in old_fields.paths() {
        if value_at(schema, new, &p).is_none() {
            out.removed.insert(&p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(els: &[&str]) -> FieldPath {
        els.iter().map(|s| s.to_string()).collect()
    }

    const C1: &str = r#"k:{"name":"c1"}"#;

    fn deployment() -> Value {
        json!({"metadata": {"labels": {"app": "web"}, "finalizers": ["f1"]},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                        "template": {"spec": {"containers": [{"name": "c1", "image": "a", "args": ["x"]}]}}}})
    }

    #[test]
    fn field_sets_follow_the_schema() {
        let set = fields_of(Schema::Root("Deployment"), &deployment());
        let containers = ["f:spec", "f:template", "f:spec", "f:containers"];
        let expected: Vec<FieldPath> = vec![
            p(&["f:metadata", "f:finalizers", "v:\"f1\""]),
            p(&["f:metadata", "f:labels", "f:app"]),
            p(&["f:spec", "f:replicas"]),
            p(&["f:spec", "f:selector"]),
            p(&[&containers[..], &[C1]].concat()),
            p(&[&containers[..], &[C1, "f:args"]].concat()),
            p(&[&containers[..], &[C1, "f:image"]].concat()),
            p(&[&containers[..], &[C1, "f:name"]].concat()),
        ];
        assert_eq!(set.paths(), expected);
    }

    #[test]
    fn values_are_found_and_removed_by_path() {
        let schema = Schema::Root("Deployment");
        let mut obj = deployment();
        let image = p(&["f:spec", "f:template", "f:spec", "f:containers", C1, "f:image"]);
        assert_eq!(value_at(schema, &obj, &image), Some(&json!("a")));
        remove_at(schema, &mut obj, &image);
        assert_eq!(value_at(schema, &obj, &image), None);
        // A key field stays while its item stays.
        let name = p(&["f:spec", "f:template", "f:spec", "f:containers", C1, "f:name"]);
        remove_at(schema, &mut obj, &name);
        assert_eq!(obj["spec"]["template"]["spec"]["containers"][0]["name"], "c1");
        remove_at(schema, &mut obj, &p(&["f:spec", "f:template", "f:spec", "f:containers", C1]));
        assert_eq!(obj["spec"]["template"]["spec"]["containers"], json!([]));
        remove_at(schema, &mut obj, &p(&["f:metadata", "f:finalizers", "v:\"f1\""]));
        assert_eq!(obj["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn changes_name_leaves_and_appearing_items() {
        let schema = Schema::Root("Deployment");
        let old = deployment();
        let mut new = deployment();
        new["spec"]["replicas"] = json!(2);
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        new["metadata"]["labels"] = json!({});
        let diff = changes(schema, Some(&old), &new);
        assert_eq!(
            diff.set.paths(),
            vec![
                p(&["f:metadata", "f:labels"]),
                p(&["f:spec", "f:replicas"]),
                p(&["f:spec", "f:template", "f:spec", "f:containers", C1, "f:image"]),
            ]
        );
        assert_eq!(diff.removed.paths(), vec![p(&["f:metadata", "f:labels", "f:app"])]);
        let none = changes(schema, Some(&old), &old);
        assert!(none.set.is_empty() && none.removed.is_empty());
    }
}
