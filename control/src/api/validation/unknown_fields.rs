//! Finding fields the server does not know, by comparing what the client sent
//! with the typed object serialized back.
//!
//! Typed decoding silently drops unknown keys, so any key that has a value in
//! the input but is missing after the round trip is one the schema lacks.
//! Free-form parts (labels, `data`, `fieldsV1`, `RawExtension`) are maps or raw
//! JSON in the typed model and keep every key, so they never report.

use serde_json::Value;

use super::path::FieldPath;

/// Paths of fields present (non-null) in `input` but absent from `typed`.
pub fn unknown_fields(input: &Value, typed: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk(input, typed, &FieldPath::default(), &mut found);
    found
}

fn walk(input: &Value, typed: &Value, path: &FieldPath, found: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(given), Value::Object(kept)) => {
            for (key, value) in given {
                if value.is_null() {
                    continue;
                }
                let child = path.child(key);
                match kept.get(key) {
                    Some(kept_value) => walk(value, kept_value, &child, found),
                    None => found.push(child.into()),
                }
            }
        }
        (Value::Array(given), Value::Array(kept)) => {
            for (i, (value, kept_value)) in given.iter().zip(kept).enumerate() {
                walk(value, kept_value, &path.index(i), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_nested_keys_lost_in_the_round_trip() {
        let input = json!({
            "spec": {"replicas": 1, "foo": 2, "template": {"spec": {"containers": [{"name": "c1"}, {"name": "c2", "imagee": "x"}]}}},
            "bar": null,
        });
        let typed = json!({
            "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c1"}, {"name": "c2"}]}}},
        });
        assert_eq!(unknown_fields(&input, &typed), vec!["spec.foo", "spec.template.spec.containers[1].imagee"]);
    }

    #[test]
    fn scalars_that_changed_form_are_not_unknown() {
        let input = json!({"data": {"k": "aGk="}, "cpu": 1});
        let typed = json!({"data": {"k": "aGk="}, "cpu": "1"});
        assert!(unknown_fields(&input, &typed).is_empty());
    }
}
