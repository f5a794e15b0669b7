//! Defaults Kubernetes fills in for fields users see, applied to the JSON of
//! a new object (and of the new version on update) before validation. Only
//! absent or null fields are filled; uid, timestamps, generation and
//! resourceVersion belong to the handlers.

mod json;
mod pod;
mod service;
mod simple;
mod workloads;

use serde_json::{Map, Value};

use crate::api::resources::ResourceType;

pub use pod::qos_class;

/// Fill in the defaults of `rt`'s kind in `obj`.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else { return };
    let defaults: fn(&mut Map<String, Value>) = match rt.kind {
        "Pod" => pod::default_pod,
        "Deployment" => workloads::default_deployment,
        "ReplicaSet" => workloads::default_replica_set,
        "ReplicationController" => workloads::default_replication_controller,
        "StatefulSet" => workloads::default_stateful_set,
        "DaemonSet" => workloads::default_daemon_set,
        "Job" => workloads::default_job,
        "CronJob" => workloads::default_cron_job,
        "Service" => service::default_service,
        "Secret" => simple::default_secret,
        "Namespace" => simple::default_namespace,
        "PersistentVolumeClaim" => simple::default_pvc,
        "PersistentVolume" => simple::default_pv,
        _ => return,
    };
    defaults(map);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::by_kind;
    use serde_json::json;

    #[test]
    fn dispatches_by_kind_and_leaves_others_alone() {
        let pods = by_kind("v1", "Pod").expect("pods are served");
        let mut pod =
            json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [{"name": "c", "image": "x"}]}});
        apply_defaults(pods, &mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["metadata"], json!({"name": "p", "uid": "u"}));
        let cms = by_kind("v1", "ConfigMap").expect("configmaps are served");
        let mut cm = json!({"metadata": {"name": "c"}, "data": {"k": "v"}});
        let before = cm.clone();
        apply_defaults(cms, &mut cm);
        assert_eq!(cm, before);
        let mut not_an_object = json!([1]);
        apply_defaults(pods, &mut not_an_object);
        assert_eq!(not_an_object, json!([1]));
    }
}
