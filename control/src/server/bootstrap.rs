//! Objects every cluster has from its first start: the four system namespaces.

use serde_json::json;

use crate::api::object::now_rfc3339;
use crate::api::resources;
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
    Ok(())
}
