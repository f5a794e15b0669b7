//! The cluster's built-in StorageClass, `local-path`, and the facts about
//! classes the binder needs: which one is the default and which ones this
//! controller provisions for.

use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::{json, Value};

/// The name of the StorageClass every cluster starts with.
pub const LOCAL_PATH_CLASS: &str = "local-path";
/// The provisioner name of classes whose volumes this controller creates.
pub const LOCAL_PATH_PROVISIONER: &str = "wasmkube.io/local-path";
/// The annotation that marks the class a PVC without `storageClassName` gets.
pub const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
/// The reclaim policy a class without one implies, as in Kubernetes.
pub const DEFAULT_RECLAIM_POLICY: &str = "Delete";

/// The `local-path` StorageClass as created at first server start.
pub fn local_path_class() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": LOCAL_PATH_CLASS,
            "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
        },
        "provisioner": LOCAL_PATH_PROVISIONER,
        "reclaimPolicy": DEFAULT_RECLAIM_POLICY,
        "volumeBindingMode": "Immediate",
    })
}

/// Whether a class (as raw JSON, the way the API server sees it) is marked default.
pub fn is_default_class(class: &Value) -> bool {
    class.pointer("/metadata/annotations").and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION)).and_then(Value::as_str) == Some("true")
}

/// Whether this controller provisions the volumes of `class`.
pub fn provisioned_here(class: &StorageClass) -> bool {
    class.provisioner == LOCAL_PATH_PROVISIONER
}

/// What happens to a volume of `class` once its claim is gone.
pub fn reclaim_policy(class: &StorageClass) -> String {
    class.reclaim_policy.clone().unwrap_or_else(|| DEFAULT_RECLAIM_POLICY.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_class_is_the_default_and_ours() {
        let raw = local_path_class();
        assert!(is_default_class(&raw));
        let class: StorageClass = serde_json::from_value(raw).expect("a valid StorageClass");
        assert!(provisioned_here(&class));
        assert_eq!(reclaim_policy(&class), "Delete");
        assert_eq!(class.volume_binding_mode.as_deref(), Some("Immediate"));
    }

    #[test]
    fn other_classes_are_neither_default_nor_ours() {
        let raw = json!({"metadata": {"name": "ebs", "annotations": {DEFAULT_CLASS_ANNOTATION: "false"}}, "provisioner": "ebs.csi.aws.com"});
        assert!(!is_default_class(&raw));
        let class: StorageClass = serde_json::from_value(raw).expect("a valid StorageClass");
        assert!(!provisioned_here(&class));
    }
}
