//! One-line defaults of Secrets, Namespaces and persistent volumes and claims.

use serde_json::{json, Map, Value};

use super::json::{ensure_object, set_default};

pub fn default_secret(obj: &mut Map<String, Value>) {
    set_default(obj, "type", json!("Opaque"));
}

/// Namespaces carry the `kubernetes` finalizer (the namespace controller
/// empties them before deletion) and a label with their own name.
pub fn default_namespace(obj: &mut Map<String, Value>) {
    let name = obj.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).map(str::to_string);
    if let (Some(name), Some(meta)) = (name, ensure_object(obj, "metadata")) {
        if let Some(labels) = ensure_object(meta, "labels") {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    if let Some(spec) = ensure_object(obj, "spec") {
        set_default(spec, "finalizers", json!(["kubernetes"]));
    }
    if let Some(status) = ensure_object(obj, "status") {
        set_default(status, "phase", json!("Active"));
    }
}

pub fn default_pvc(obj: &mut Map<String, Value>) {
    if let Some(spec) = ensure_object(obj, "spec") {
        set_default(spec, "volumeMode", json!("Filesystem"));
    }
    if let Some(status) = ensure_object(obj, "status") {
        set_default(status, "phase", json!("Pending"));
    }
}

pub fn default_pv(obj: &mut Map<String, Value>) {
    if let Some(spec) = ensure_object(obj, "spec") {
        set_default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
        set_default(spec, "volumeMode", json!("Filesystem"));
    }
    if let Some(status) = ensure_object(obj, "status") {
        set_default(status, "phase", json!("Pending"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(f: fn(&mut Map<String, Value>), v: Value) -> Value {
        let mut map = v.as_object().cloned().unwrap_or_default();
        f(&mut map);
        Value::Object(map)
    }

    #[test]
    fn defaults() {
        assert_eq!(apply(default_secret, json!({}))["type"], "Opaque");
        assert_eq!(apply(default_secret, json!({"type": "kubernetes.io/tls"}))["type"], "kubernetes.io/tls");
        let ns = apply(default_namespace, json!({"metadata": {"name": "team-a"}}));
        assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]));
        assert_eq!(ns["status"]["phase"], "Active");
        assert_eq!(ns["metadata"]["labels"]["kubernetes.io/metadata.name"], "team-a");
        let pvc = apply(default_pvc, json!({"spec": {"accessModes": ["ReadWriteOnce"]}}));
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        let pv = apply(default_pv, json!({"spec": {}}));
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
    }
}
