//! ConfigMaps and Secrets: key syntax, the 1 MiB size limit, keys present in
//! both `data` and `binaryData`, and `immutable: true`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};

use super::checks::syntax;
use super::names;
use super::path::FieldPath;
use crate::error::FieldError;

/// Upstream's limit on the total size of a ConfigMap's or Secret's data.
const DATA_MAX_BYTES: usize = 1024 * 1024;
const IMMUTABLE_DETAIL: &str = "field is immutable when `immutable` is set";

fn validate_keys<'a>(keys: impl Iterator<Item = &'a String>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    for key in keys {
        syntax(errs, &path.key(key), key, names::config_map_key);
    }
}

pub fn validate_config_map(cm: &ConfigMap, old: Option<&ConfigMap>, errs: &mut Vec<FieldError>) {
    let data = cm.data.clone().unwrap_or_default();
    let binary = cm.binary_data.clone().unwrap_or_default();
    validate_keys(data.keys(), &FieldPath::new("data"), errs);
    validate_keys(binary.keys(), &FieldPath::new("binaryData"), errs);
    for key in data.keys().filter(|k| binary.contains_key(*k)) {
        errs.push(FieldError::duplicate(FieldPath::new("data").key(key), "duplicate of key present in binaryData"));
    }
    let size: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + binary.iter().map(|(k, v)| k.len() + v.0.len()).sum::<usize>();
    if size > DATA_MAX_BYTES {
        errs.push(FieldError::too_long(FieldPath::new("data"), DATA_MAX_BYTES));
    }
    if let Some(old) = old.filter(|o| o.immutable == Some(true)) {
        check_immutable(
            cm.immutable,
            [cm.data != old.data, cm.binary_data != old.binary_data],
            ["data", "binaryData"],
            errs,
        );
    }
}

pub fn validate_secret(secret: &Secret, old: Option<&Secret>, errs: &mut Vec<FieldError>) {
    let data = secret.data.clone().unwrap_or_default();
    let strings: BTreeMap<String, String> = secret.string_data.clone().unwrap_or_default();
    validate_keys(data.keys(), &FieldPath::new("data"), errs);
    validate_keys(strings.keys(), &FieldPath::new("stringData"), errs);
    let size: usize = data.iter().map(|(k, v)| k.len() + v.0.len()).sum::<usize>()
        + strings.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    if size > DATA_MAX_BYTES {
        errs.push(FieldError::too_long(FieldPath::new("data"), DATA_MAX_BYTES));
    }
    if let Some(old) = old {
        if secret.type_.is_some() && secret.type_ != old.type_ {
            errs.push(FieldError::invalid(
                FieldPath::new("type"),
                secret.type_.as_deref().unwrap_or(""),
                "field is immutable",
            ));
        }
        if old.immutable == Some(true) {
            let changed = secret.data != old.data || secret.string_data.as_ref().is_some_and(|s| !s.is_empty());
            check_immutable(secret.immutable, [changed, false], ["data", "stringData"], errs);
        }
    }
}

/// The object was immutable: no data may change, and it stays immutable.
fn check_immutable(now_immutable: Option<bool>, changed: [bool; 2], fields: [&str; 2], errs: &mut Vec<FieldError>) {
    for (changed, field) in changed.into_iter().zip(fields) {
        if changed {
            errs.push(FieldError::forbidden(FieldPath::new(field), IMMUTABLE_DETAIL));
        }
    }
    if now_immutable != Some(true) {
        errs.push(FieldError::forbidden(FieldPath::new("immutable"), IMMUTABLE_DETAIL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn cm(v: Value) -> ConfigMap {
        let mut obj = json!({"metadata": {"name": "c"}});
        if let (Some(fields), Value::Object(extra)) = (obj.as_object_mut(), v) {
            fields.extend(extra);
        }
        serde_json::from_value(obj).expect("well-formed configmap")
    }

    fn cm_errors(new: Value, old: Option<Value>) -> Vec<String> {
        let old = old.map(cm);
        let mut errs = Vec::new();
        validate_config_map(&cm(new), old.as_ref(), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn config_map_keys_and_sizes() {
        assert!(
            cm_errors(json!({"data": {"app.properties": "x=1"}, "binaryData": {"logo.png": "aGk="}}), None).is_empty()
        );
        let errs = cm_errors(json!({"data": {"a/b": "x", "k": "v"}, "binaryData": {"k": "aGk="}}), None);
        assert!(errs[0].starts_with("data[a/b]: Invalid value: \"a/b\": a valid config key"), "{errs:?}");
        assert_eq!(errs[1], "data[k]: Duplicate value: \"duplicate of key present in binaryData\"");
        let big = "x".repeat(DATA_MAX_BYTES);
        assert_eq!(
            cm_errors(json!({"data": {"k": big}}), None),
            vec!["data: Too long: may not be more than 1048576 bytes"]
        );
    }

    #[test]
    fn immutable_config_maps_stay_put() {
        let old = json!({"data": {"k": "v"}, "immutable": true});
        assert!(cm_errors(old.clone(), Some(old.clone())).is_empty());
        let errs = cm_errors(json!({"data": {"k": "w"}}), Some(old));
        assert_eq!(
            errs,
            vec![
                "data: Forbidden: field is immutable when `immutable` is set",
                "immutable: Forbidden: field is immutable when `immutable` is set",
            ]
        );
        assert!(cm_errors(json!({"data": {"k": "w"}}), Some(json!({"data": {"k": "v"}}))).is_empty());
    }

    #[test]
    fn secrets() {
        let secret = |v: Value| -> Secret { serde_json::from_value(v).expect("well-formed secret") };
        let old =
            secret(json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "aGk="}, "immutable": true}));
        let mut errs = Vec::new();
        validate_secret(
            &secret(
                json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {"k": "aG8=", "bad key": "aGk="}, "immutable": true}),
            ),
            Some(&old),
            &mut errs,
        );
        let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(rendered[0].starts_with("data[bad key]: Invalid value"), "{rendered:?}");
        assert_eq!(rendered[1], "type: Invalid value: \"kubernetes.io/tls\": field is immutable");
        assert_eq!(rendered[2], "data: Forbidden: field is immutable when `immutable` is set");
        assert_eq!(rendered.len(), 3);
    }
}
