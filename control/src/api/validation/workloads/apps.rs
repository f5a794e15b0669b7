//! Deployments, ReplicaSets, StatefulSets, DaemonSets and
//! ReplicationControllers.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, PodTemplateSpec, ReplicationController, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{require_restart_always, selector_immutable, validate_rolling_amounts, validate_selector_and_template};
use crate::api::validation::checks::{non_negative, one_of, syntax};
use crate::api::validation::names;
use crate::api::validation::path::FieldPath;
use crate::api::validation::pod::validate_pod_template;
use crate::error::FieldError;

fn spec_path() -> FieldPath {
    FieldPath::new("spec")
}

pub fn validate_deployment(d: &Deployment, old: Option<&Deployment>, errs: &mut Vec<FieldError>) {
    let p = spec_path();
    let Some(spec) = &d.spec else { return errs.push(FieldError::required(&p)) };
    validate_selector_and_template(Some(&spec.selector), Some(&spec.template), &p, errs);
    require_restart_always(Some(&spec.template), &p, errs);
    non_negative(errs, &p.child("replicas"), spec.replicas);
    non_negative(errs, &p.child("minReadySeconds"), spec.min_ready_seconds);
    non_negative(errs, &p.child("revisionHistoryLimit"), spec.revision_history_limit);
    if let Some(deadline) = spec.progress_deadline_seconds {
        if deadline <= spec.min_ready_seconds.unwrap_or(0) {
            errs.push(FieldError::invalid(
                p.child("progressDeadlineSeconds"),
                deadline,
                "must be greater than minReadySeconds",
            ));
        }
    }
    if let Some(strategy) = &spec.strategy {
        let sp = p.child("strategy");
        one_of(errs, &sp.child("type"), strategy.type_.as_deref(), &["Recreate", "RollingUpdate"]);
        match (strategy.type_.as_deref(), &strategy.rolling_update) {
            (Some("Recreate"), Some(_)) => errs.push(FieldError::forbidden(
                sp.child("rollingUpdate"),
                "may not be specified when strategy `type` is 'Recreate'",
            )),
            (_, Some(ru)) => validate_rolling_amounts(
                ru.max_unavailable.as_ref(),
                ru.max_surge.as_ref(),
                &sp.child("rollingUpdate"),
                errs,
            ),
            _ => {}
        }
    }
    if let Some(old) = old.and_then(|o| o.spec.as_ref()) {
        selector_immutable(Some(&spec.selector), Some(&old.selector), errs);
    }
}

pub fn validate_replica_set(rs: &ReplicaSet, old: Option<&ReplicaSet>, errs: &mut Vec<FieldError>) {
    let p = spec_path();
    let Some(spec) = &rs.spec else { return errs.push(FieldError::required(&p)) };
    validate_selector_and_template(Some(&spec.selector), spec.template.as_ref(), &p, errs);
    require_restart_always(spec.template.as_ref(), &p, errs);
    non_negative(errs, &p.child("replicas"), spec.replicas);
    non_negative(errs, &p.child("minReadySeconds"), spec.min_ready_seconds);
    if let Some(old) = old.and_then(|o| o.spec.as_ref()) {
        selector_immutable(Some(&spec.selector), Some(&old.selector), errs);
    }
}

pub fn validate_stateful_set(ss: &StatefulSet, old: Option<&StatefulSet>, errs: &mut Vec<FieldError>) {
    let p = spec_path();
    let Some(spec) = &ss.spec else { return errs.push(FieldError::required(&p)) };
    validate_selector_and_template(Some(&spec.selector), Some(&with_claim_volumes(spec)), &p, errs);
    require_restart_always(Some(&spec.template), &p, errs);
    if let Some(service) = spec.service_name.as_deref().filter(|s| !s.is_empty()) {
        syntax(errs, &p.child("serviceName"), service, names::dns1035_label);
    }
    non_negative(errs, &p.child("replicas"), spec.replicas);
    non_negative(errs, &p.child("minReadySeconds"), spec.min_ready_seconds);
    non_negative(errs, &p.child("revisionHistoryLimit"), spec.revision_history_limit);
    one_of(errs, &p.child("podManagementPolicy"), spec.pod_management_policy.as_deref(), &["OrderedReady", "Parallel"]);
    if let Some(strategy) = &spec.update_strategy {
        let sp = p.child("updateStrategy");
        one_of(errs, &sp.child("type"), strategy.type_.as_deref(), &["RollingUpdate", "OnDelete"]);
        if let Some(ru) = &strategy.rolling_update {
            non_negative(errs, &sp.child("rollingUpdate").child("partition"), ru.partition);
        }
    }
    if let Some(policy) = &spec.persistent_volume_claim_retention_policy {
        let pp = p.child("persistentVolumeClaimRetentionPolicy");
        one_of(errs, &pp.child("whenDeleted"), policy.when_deleted.as_deref(), &["Retain", "Delete"]);
        one_of(errs, &pp.child("whenScaled"), policy.when_scaled.as_deref(), &["Retain", "Delete"]);
    }
    if let Some(old) = old.and_then(|o| o.spec.as_ref()) {
        // Only these fields may change; compare everything else.
        let mut allowed = old.clone();
        allowed.replicas = spec.replicas;
        allowed.ordinals = spec.ordinals.clone();
        allowed.template = spec.template.clone();
        allowed.update_strategy = spec.update_strategy.clone();
        allowed.revision_history_limit = spec.revision_history_limit;
        allowed.persistent_volume_claim_retention_policy = spec.persistent_volume_claim_retention_policy.clone();
        allowed.min_ready_seconds = spec.min_ready_seconds;
        if allowed != *spec {
            errs.push(FieldError::forbidden(
                &p,
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', \
'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
}

/// The template as every replica gets it: each volumeClaimTemplate is a
/// volume its containers may mount (upstream checks mounts against that union).
fn with_claim_volumes(spec: &StatefulSetSpec) -> PodTemplateSpec {
    let mut template = spec.template.clone();
    if let Some(pod) = template.spec.as_mut() {
        let volumes = pod.volumes.get_or_insert_with(Vec::new);
        for claim in spec.volume_claim_templates.iter().flatten() {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if !volumes.iter().any(|v| v.name == name) {
                let source = PersistentVolumeClaimVolumeSource { claim_name: name.clone(), read_only: None };
                volumes.push(Volume { name, persistent_volume_claim: Some(source), ..Default::default() });
            }
        }
    }
    template
}

pub fn validate_daemon_set(ds: &DaemonSet, old: Option<&DaemonSet>, errs: &mut Vec<FieldError>) {
    let p = spec_path();
    let Some(spec) = &ds.spec else { return errs.push(FieldError::required(&p)) };
    validate_selector_and_template(Some(&spec.selector), Some(&spec.template), &p, errs);
    require_restart_always(Some(&spec.template), &p, errs);
    non_negative(errs, &p.child("minReadySeconds"), spec.min_ready_seconds);
    non_negative(errs, &p.child("revisionHistoryLimit"), spec.revision_history_limit);
    if let Some(strategy) = &spec.update_strategy {
        let sp = p.child("updateStrategy");
        one_of(errs, &sp.child("type"), strategy.type_.as_deref(), &["RollingUpdate", "OnDelete"]);
        if let Some(ru) = &strategy.rolling_update {
            validate_rolling_amounts(
                ru.max_unavailable.as_ref(),
                ru.max_surge.as_ref(),
                &sp.child("rollingUpdate"),
                errs,
            );
        }
    }
    if let Some(old) = old.and_then(|o| o.spec.as_ref()) {
        selector_immutable(Some(&spec.selector), Some(&old.selector), errs);
    }
}

/// ReplicationControllers use a plain map as selector (defaulted from the
/// template's labels).
pub fn validate_replication_controller(rc: &ReplicationController, errs: &mut Vec<FieldError>) {
    let p = spec_path();
    let Some(spec) = &rc.spec else { return errs.push(FieldError::required(&p)) };
    non_negative(errs, &p.child("replicas"), spec.replicas);
    non_negative(errs, &p.child("minReadySeconds"), spec.min_ready_seconds);
    let selector = spec.selector.clone().unwrap_or_default();
    if selector.is_empty() {
        errs.push(FieldError::required(p.child("selector")));
    } else {
        let as_label_selector = LabelSelector { match_labels: Some(selector), match_expressions: None };
        super::check_selector_matches_template(&as_label_selector, spec.template.as_ref(), &p, errs);
    }
    validate_pod_template(spec.template.as_ref(), &p.child("template"), errs);
    require_restart_always(spec.template.as_ref(), &p, errs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn template(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}, "spec": {"restartPolicy": "Always", "containers": [{"name": "c1", "image": "nginx"}]}})
    }

    fn deployment(spec: Value) -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec})).expect("well-formed deployment")
    }

    fn deploy_errors(spec: Value, old: Option<Value>) -> Vec<String> {
        let old = old.map(deployment);
        let mut errs = Vec::new();
        validate_deployment(&deployment(spec), old.as_ref(), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_good_deployment_passes() {
        let spec = json!({"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web", "v": "1"})),
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600});
        assert_eq!(deploy_errors(spec, None), Vec::<String>::new());
    }

    #[test]
    fn selector_must_exist_and_match() {
        let errs = deploy_errors(json!({"template": template(json!({"app": "web"}))}), None);
        assert!(errs[0].starts_with("spec.selector: Invalid value: \"{}\": empty selector is invalid"), "{errs:?}");
        let errs = deploy_errors(
            json!({"selector": {"matchLabels": {"app": "api"}}, "template": template(json!({"app": "web"}))}),
            None,
        );
        assert_eq!(errs, vec!["spec.template.metadata.labels: Invalid value: \"{\"app\":\"web\"}\": `selector` does not match template `labels`"]);
    }

    #[test]
    fn counts_strategy_and_restart_policy() {
        let mut t = template(json!({"app": "web"}));
        t["spec"]["restartPolicy"] = json!("Never");
        let errs = deploy_errors(
            json!({"replicas": -1, "selector": {"matchLabels": {"app": "web"}}, "template": t,
            "strategy": {"type": "Recreate", "rollingUpdate": {}}, "revisionHistoryLimit": -2}),
            None,
        );
        assert!(errs[0].starts_with(
            "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
        ));
        assert_eq!(errs[1], "spec.replicas: Invalid value: \"-1\": must be greater than or equal to 0");
        assert_eq!(errs[2], "spec.revisionHistoryLimit: Invalid value: \"-2\": must be greater than or equal to 0");
        assert_eq!(
            errs[3],
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        );
        let errs = deploy_errors(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"})),
            "strategy": {"type": "Sideways"}}),
            None,
        );
        assert!(errs[0].starts_with("spec.strategy.type: Unsupported value: \"Sideways\""));
    }

    #[test]
    fn selector_is_immutable() {
        let old =
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web", "b": "x"}))});
        let new = json!({"selector": {"matchLabels": {"app": "web", "b": "x"}}, "template": template(json!({"app": "web", "b": "x"}))});
        let errs = deploy_errors(new, Some(old.clone()));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec.selector: Invalid value:") && errs[0].ends_with("field is immutable"));
        assert!(deploy_errors(old.clone(), Some(old)).is_empty());
    }

    #[test]
    fn statefulsets_daemonsets_replicasets_rcs() {
        let ss: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {
            "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template(json!({"app": "db"})),
            "podManagementPolicy": "Whenever", "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": -1}}}}))
        .expect("statefulset");
        let mut errs = Vec::new();
        validate_stateful_set(&ss, None, &mut errs);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].field, "spec.podManagementPolicy");
        assert_eq!(errs[1].field, "spec.updateStrategy.rollingUpdate.partition");
        let mut changed = ss.clone();
        if let Some(spec) = changed.spec.as_mut() {
            spec.service_name = Some("other".into());
            spec.replicas = Some(5);
        }
        let mut errs = Vec::new();
        validate_stateful_set(&changed, Some(&ss), &mut errs);
        assert!(
            errs.iter().any(|e| e.field == "spec" && e.detail.starts_with("updates to statefulset spec")),
            "{errs:?}"
        );

        let mut mounting = template(json!({"app": "db"}));
        mounting["spec"]["containers"][0]["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
        let claims: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {
            "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": mounting,
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}]}}))
        .expect("statefulset with claims");
        let mut errs = Vec::new();
        validate_stateful_set(&claims, None, &mut errs);
        assert!(errs.is_empty(), "mounts may name a volumeClaimTemplate: {errs:?}");

        let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
            "selector": {"matchLabels": {"app": "agent"}}, "template": template(json!({"app": "agent"})),
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}}}))
        .expect("daemonset");
        let mut errs = Vec::new();
        validate_daemon_set(&ds, None, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.updateStrategy.rollingUpdate.maxUnavailable");

        let rs: ReplicaSet = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}}}}))
        .expect("replicaset");
        let mut errs = Vec::new();
        validate_replica_set(&rs, None, &mut errs);
        assert_eq!(errs[0].to_string(), "spec.template: Required value");

        let rc: ReplicationController = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"app": "api"}, "template": template(json!({"app": "web"}))}}))
        .expect("rc");
        let mut errs = Vec::new();
        validate_replication_controller(&rc, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.template.metadata.labels");
    }
}
