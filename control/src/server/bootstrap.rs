//! Objects every cluster has from its first start: the four system namespaces
//! and the default StorageClass `local-path`.

use serde_json::json;

use crate::api::object::now_rfc3339;
use crate::api::resources;
use crate::controllers::storage::class as storage_class;
use crate::store::{Store, StoreError};

pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Create what is missing; leave what exists alone (restart-safe).
pub async fn ensure_system_objects(store: &dyn Store) -> Result<(), String> {
    let namespaces = resources::lookup("", "v1", "namespaces").ok_or("namespaces are not served")?;
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {
                "name": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now_rfc3339(),
                "labels": {"kubernetes.io/metadata.name": ns},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        match store.create(&namespaces.key(None, ns), obj).await {
            Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(format!("creating namespace {ns}: {e}")),
        }
    }
    ensure_default_storage_class(store).await
}

/// The `local-path` class, created at each start when absent; one the user
/// changed is kept as it is, as with the namespaces.
async fn ensure_default_storage_class(store: &dyn Store) -> Result<(), String> {
    let classes = resources::lookup("storage.k8s.io", "v1", "storageclasses").ok_or("storageclasses are not served")?;
    let mut class = storage_class::local_path_class();
    class["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    class["metadata"]["creationTimestamp"] = json!(now_rfc3339());
    match store.create(&classes.key(None, storage_class::LOCAL_PATH_CLASS), class).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(format!("creating storageclass {}: {e}", storage_class::LOCAL_PATH_CLASS)),
    }
}
