//! Defaults of workload controllers (as upstream's `SetDefaults_Deployment`
//! and friends), and of the pod templates inside them.

use serde_json::{json, Map, Value};

use super::json::{ensure_object, existing_object, object_at, set_default};
use super::pod::default_pod_spec;

/// Pod-spec defaults for the template at `path` (e.g. `spec.template`).
fn default_template(obj: &mut Map<String, Value>, path: &[&str]) {
    if let Some(spec) = object_at(obj, path).and_then(|t| existing_object(t, "spec")) {
        default_pod_spec(spec);
    }
}

fn template_labels(obj: &Map<String, Value>) -> Option<Value> {
    obj.get("spec")?
        .get("template")?
        .get("metadata")?
        .get("labels")
        .filter(|l| l.as_object().is_some_and(|m| !m.is_empty()))
        .cloned()
}

/// Objects without labels of their own take their template's labels.
fn labels_from_template(obj: &mut Map<String, Value>) {
    let Some(labels) = template_labels(obj) else { return };
    if let Some(meta) = ensure_object(obj, "metadata") {
        let empty = meta.get("labels").and_then(Value::as_object).is_none_or(Map::is_empty);
        if empty {
            meta.insert("labels".into(), labels);
        }
    }
}

pub fn default_deployment(obj: &mut Map<String, Value>) {
    default_template(obj, &["spec", "template"]);
    let Some(spec) = existing_object(obj, "spec") else { return };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "revisionHistoryLimit", json!(10));
    set_default(spec, "progressDeadlineSeconds", json!(600));
    if let Some(strategy) = ensure_object(spec, "strategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            if let Some(rolling) = ensure_object(strategy, "rollingUpdate") {
                set_default(rolling, "maxUnavailable", json!("25%"));
                set_default(rolling, "maxSurge", json!("25%"));
            }
        }
    }
}

pub fn default_replica_set(obj: &mut Map<String, Value>) {
    default_template(obj, &["spec", "template"]);
    if let Some(spec) = existing_object(obj, "spec") {
        set_default(spec, "replicas", json!(1));
    }
}

/// ReplicationControllers also take their selector from the template.
pub fn default_replication_controller(obj: &mut Map<String, Value>) {
    default_template(obj, &["spec", "template"]);
    let labels = template_labels(obj);
    labels_from_template(obj);
    let Some(spec) = existing_object(obj, "spec") else { return };
    set_default(spec, "replicas", json!(1));
    let selector_empty = spec.get("selector").and_then(Value::as_object).is_none_or(Map::is_empty);
    if let (true, Some(labels)) = (selector_empty, labels) {
        spec.insert("selector".into(), labels);
    }
}

pub fn default_stateful_set(obj: &mut Map<String, Value>) {
    default_template(obj, &["spec", "template"]);
    let Some(spec) = existing_object(obj, "spec") else { return };
    set_default(spec, "replicas", json!(1));
    set_default(spec, "podManagementPolicy", json!("OrderedReady"));
    set_default(spec, "revisionHistoryLimit", json!(10));
    if let Some(strategy) = ensure_object(spec, "updateStrategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            if let Some(rolling) = ensure_object(strategy, "rollingUpdate") {
                set_default(rolling, "partition", json!(0));
            }
        }
    }
    if let Some(policy) = ensure_object(spec, "persistentVolumeClaimRetentionPolicy") {
        set_default(policy, "whenDeleted", json!("Retain"));
        set_default(policy, "whenScaled", json!("Retain"));
    }
    for claim in super::json::each_object(spec, "volumeClaimTemplates") {
        if let Some(claim_spec) = existing_object(claim, "spec") {
            set_default(claim_spec, "volumeMode", json!("Filesystem"));
        }
    }
}

pub fn default_daemon_set(obj: &mut Map<String, Value>) {
    default_template(obj, &["spec", "template"]);
    let Some(spec) = existing_object(obj, "spec") else { return };
    set_default(spec, "revisionHistoryLimit", json!(10));
    if let Some(strategy) = ensure_object(spec, "updateStrategy") {
        set_default(strategy, "type", json!("RollingUpdate"));
        if strategy.get("type") == Some(&json!("RollingUpdate")) {
            if let Some(rolling) = ensure_object(strategy, "rollingUpdate") {
                set_default(rolling, "maxUnavailable", json!(1));
                set_default(rolling, "maxSurge", json!(0));
            }
        }
    }
}

pub fn default_job(obj: &mut Map<String, Value>) {
    default_template(obj, &["spec", "template"]);
    labels_from_template(obj);
    let Some(spec) = existing_object(obj, "spec") else { return };
    // A job with neither set runs one pod to completion; with only
    // parallelism set it is a work queue and completions stays unset.
    let unset = |spec: &Map<String, Value>, key: &str| spec.get(key).is_none_or(Value::is_null);
    if unset(spec, "completions") && unset(spec, "parallelism") {
        spec.insert("completions".into(), json!(1));
    }
    set_default(spec, "parallelism", json!(1));
    let per_index = !unset(spec, "backoffLimitPerIndex");
    set_default(spec, "backoffLimit", json!(if per_index { i32::MAX as i64 } else { 6 }));
    set_default(spec, "completionMode", json!("NonIndexed"));
    set_default(spec, "suspend", json!(false));
    let replacement = if unset(spec, "podFailurePolicy") { "TerminatingOrFailed" } else { "Failed" };
    set_default(spec, "podReplacementPolicy", json!(replacement));
}

pub fn default_cron_job(obj: &mut Map<String, Value>) {
    default_template(obj, &["spec", "jobTemplate", "spec", "template"]);
    let Some(spec) = existing_object(obj, "spec") else { return };
    set_default(spec, "concurrencyPolicy", json!("Allow"));
    set_default(spec, "suspend", json!(false));
    set_default(spec, "successfulJobsHistoryLimit", json!(3));
    set_default(spec, "failedJobsHistoryLimit", json!(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(f: fn(&mut Map<String, Value>), v: Value) -> Value {
        let mut map = v.as_object().cloned().unwrap_or_default();
        f(&mut map);
        Value::Object(map)
    }

    fn template() -> Value {
        json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c1", "image": "nginx:1"}]}})
    }

    #[test]
    fn deployments() {
        let d = apply(default_deployment, json!({"spec": {"template": template()}}));
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        let pod_spec = &d["spec"]["template"]["spec"];
        assert_eq!(pod_spec["restartPolicy"], "Always");
        assert_eq!(pod_spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
        assert!(pod_spec.get("serviceAccountName").is_none(), "admission defaults are for pods only");
        let recreate = apply(
            default_deployment,
            json!({"spec": {"replicas": 0, "strategy": {"type": "Recreate"}, "template": template()}}),
        );
        assert_eq!(recreate["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(recreate["spec"]["replicas"], 0);
    }

    #[test]
    fn sets_and_controllers() {
        let ss = apply(default_stateful_set, json!({"spec": {"template": template()}}));
        assert_eq!(ss["spec"]["podManagementPolicy"], "OrderedReady");
        assert_eq!(ss["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
        assert_eq!(
            ss["spec"]["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        let ds = apply(default_daemon_set, json!({"spec": {"template": template()}}));
        assert_eq!(
            ds["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(ds["spec"]["revisionHistoryLimit"], 10);
        let rs = apply(default_replica_set, json!({"spec": {"template": template()}}));
        assert_eq!(rs["spec"]["replicas"], 1);
        let rc = apply(default_replication_controller, json!({"spec": {"template": template()}}));
        assert_eq!(rc["spec"]["selector"], json!({"app": "web"}));
        assert_eq!(rc["metadata"]["labels"], json!({"app": "web"}));
    }

    #[test]
    fn jobs_and_cron_jobs() {
        let job = apply(default_job, json!({"spec": {"template": template()}}));
        let spec = &job["spec"];
        assert_eq!((spec["completions"].clone(), spec["parallelism"].clone()), (json!(1), json!(1)));
        assert_eq!(spec["backoffLimit"], 6);
        assert_eq!(spec["completionMode"], "NonIndexed");
        assert_eq!(spec["suspend"], false);
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always", "validation then rejects it, as upstream does");
        let queue = apply(default_job, json!({"spec": {"parallelism": 3, "template": template()}}));
        assert!(queue["spec"].get("completions").is_none());
        let cj = apply(
            default_cron_job,
            json!({"spec": {"schedule": "@hourly", "jobTemplate": {"spec": {"template": template()}}}}),
        );
        assert_eq!(cj["spec"]["concurrencyPolicy"], "Allow");
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], 3);
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], 1);
        assert_eq!(cj["spec"]["suspend"], false);
        assert_eq!(cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
    }
}
