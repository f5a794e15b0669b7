//! What an update may change in a running pod's spec: container images,
//! a shorter activeDeadlineSeconds, and added tolerations. Everything else is
//! fixed once the pod exists.

use k8s_openapi::api::core::v1::PodSpec;

use crate::api::validation::path::FieldPath;
use crate::error::FieldError;

const FORBIDDEN_UPDATE: &str = "pod updates may not change fields other than `spec.containers[*].image`,\
`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),\
`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Compare the new spec with the stored one.
pub fn validate_pod_spec_update(new: &PodSpec, old: Option<&PodSpec>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let Some(old) = old else { return };
    validate_deadline_update(new.active_deadline_seconds, old.active_deadline_seconds, path, errs);
    let old_tolerations = old.tolerations.as_deref().unwrap_or_default();
    let new_tolerations = new.tolerations.as_deref().unwrap_or_default();
    if old_tolerations.iter().any(|t| !new_tolerations.contains(t)) {
        errs.push(FieldError::forbidden(
            path.child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    // Copy the mutable fields of the new spec onto the old one: if anything
    // else differs, the two are no longer equal.
    let mut allowed = old.clone();
    allowed.active_deadline_seconds = new.active_deadline_seconds;
    allowed.tolerations = new.tolerations.clone();
    copy_images(&mut allowed.containers, &new.containers);
    if let (Some(into), Some(from)) = (allowed.init_containers.as_mut(), new.init_containers.as_ref()) {
        copy_images(into, from);
    }
    if old.termination_grace_period_seconds.is_some_and(|s| s < 0) && new.termination_grace_period_seconds == Some(1) {
        allowed.termination_grace_period_seconds = Some(1);
    }
    if allowed != *new {
        errs.push(FieldError::forbidden(path, FORBIDDEN_UPDATE));
    }
}

fn copy_images(into: &mut [k8s_openapi::api::core::v1::Container], from: &[k8s_openapi::api::core::v1::Container]) {
    // Only same-length lists: a changed container count is itself forbidden.
    if into.len() == from.len() {
        for (old, new) in into.iter_mut().zip(from) {
            old.image = new.image.clone();
        }
    }
}

fn validate_deadline_update(new: Option<i64>, old: Option<i64>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let p = path.child("activeDeadlineSeconds");
    match (new, old) {
        (Some(new), Some(old)) if new > old => {
            errs.push(FieldError::invalid(p, new, "must be less than or equal to previous value"));
        }
        (None, Some(_)) => {
            errs.push(FieldError::invalid(p, "nil", "must not update from a positive integer to nil value"))
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).expect("well-formed pod spec")
    }

    fn check(new: serde_json::Value, old: serde_json::Value) -> Vec<String> {
        let mut errs = Vec::new();
        validate_pod_spec_update(&spec(new), Some(&spec(old)), &FieldPath::new("spec"), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    fn base() -> serde_json::Value {
        json!({"containers": [{"name": "c1", "image": "nginx:1"}], "restartPolicy": "Always",
               "tolerations": [{"key": "a", "operator": "Exists"}], "activeDeadlineSeconds": 100})
    }

    #[test]
    fn images_deadline_and_new_tolerations_may_change() {
        let mut new = base();
        new["containers"][0]["image"] = json!("nginx:2");
        new["activeDeadlineSeconds"] = json!(50);
        new["tolerations"] = json!([{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]);
        assert_eq!(check(new, base()), Vec::<String>::new());
    }

    #[test]
    fn other_changes_are_forbidden() {
        let mut new = base();
        new["restartPolicy"] = json!("Never");
        let errs = check(new, base());
        assert_eq!(errs.len(), 1);
        assert!(errs[0]
            .starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"));
        let mut new = base();
        new["containers"][0]["ports"] = json!([{"containerPort": 80}]);
        assert_eq!(check(new, base()).len(), 1);
    }

    #[test]
    fn deadline_only_shrinks_and_tolerations_only_grow() {
        let mut new = base();
        new["activeDeadlineSeconds"] = json!(200);
        assert_eq!(
            check(new, base()),
            vec!["spec.activeDeadlineSeconds: Invalid value: \"200\": must be less than or equal to previous value"]
        );
        let mut new = base();
        new["tolerations"] = json!([]);
        let errs = check(new, base());
        assert!(errs[0].starts_with("spec.tolerations: Forbidden"), "{errs:?}");
    }
}
