//! Helpers for filling in defaults in a JSON object without disturbing what
//! the client sent: a default applies only where a field is absent or null.

use serde_json::{Map, Value};

/// Set `key` to `value` unless it already has a non-null value.
pub fn set_default(obj: &mut Map<String, Value>, key: &str, value: Value) {
    match obj.get(key) {
        Some(v) if !v.is_null() => {}
        _ => {
            obj.insert(key.to_string(), value);
        }
    }
}

/// The object at `key`, created empty when absent or null. `None` when the
/// field holds something else (decoding rejects that before defaults run).
pub fn ensure_object<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    set_default(obj, key, Value::Object(Map::new()));
    obj.get_mut(key).and_then(Value::as_object_mut)
}

/// The object at `key` if the client sent one.
pub fn existing_object<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    obj.get_mut(key).and_then(Value::as_object_mut)
}

/// Each object in the list at `key`, if there is one.
pub fn each_object<'a>(obj: &'a mut Map<String, Value>, key: &str) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    obj.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut)
}

/// The object at a path of keys, if every step exists.
pub fn object_at<'a>(obj: &'a mut Map<String, Value>, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    path.iter().try_fold(obj, |o, key| existing_object(o, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_fill_only_gaps() {
        let mut obj = json!({"a": 1, "b": null}).as_object().cloned().unwrap_or_default();
        set_default(&mut obj, "a", json!(2));
        set_default(&mut obj, "b", json!(3));
        set_default(&mut obj, "c", json!(4));
        assert_eq!(Value::Object(obj.clone()), json!({"a": 1, "b": 3, "c": 4}));
        assert!(ensure_object(&mut obj, "a").is_none(), "a number is not replaced by an object");
        assert!(ensure_object(&mut obj, "d").is_some());
        assert_eq!(obj["d"], json!({}));
    }

    #[test]
    fn walks_paths_and_lists() {
        let mut obj = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, 3, {"name": "b"}]}}}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let spec = object_at(&mut obj, &["spec", "template", "spec"]).expect("path exists");
        let names: Vec<Value> = each_object(spec, "containers").map(|c| c["name"].clone()).collect();
        assert_eq!(names, vec![json!("a"), json!("b")]);
        assert!(object_at(&mut obj, &["spec", "missing"]).is_none());
    }
}
