//! Workload controllers' specs: selectors that select their own template,
//! replica counts, rollout strategies, and what an update may not change.

pub mod apps;
pub mod batch;
pub mod cron;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::checks::{one_of, render};
use super::label_selector::{is_empty, matches, validate_label_selector};
use super::path::FieldPath;
use super::pod::validate_pod_template;
use crate::error::FieldError;

/// A required, non-empty selector that selects the template's labels, and the
/// template itself.
fn validate_selector_and_template(
    selector: Option<&LabelSelector>,
    template: Option<&PodTemplateSpec>,
    spec: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let selector_path = spec.child("selector");
    match selector {
        None => errs.push(FieldError::required(&selector_path)),
        Some(s) if is_empty(s) => {
            errs.push(FieldError::invalid(&selector_path, render(s), "empty selector is invalid for deployment"))
        }
        Some(s) => {
            validate_label_selector(s, &selector_path, errs);
            check_selector_matches_template(s, template, spec, errs);
        }
    }
    validate_pod_template(template, &spec.child("template"), errs);
}

/// The template's labels must be selected by `selector`, or the controller
/// would never see the pods it creates.
fn check_selector_matches_template(
    selector: &LabelSelector,
    template: Option<&PodTemplateSpec>,
    spec: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let Some(template) = template else { return };
    let labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
    if !matches(selector, &labels) {
        errs.push(FieldError::invalid(
            spec.child("template").child("metadata").child("labels"),
            render(&labels),
            "`selector` does not match template `labels`",
        ));
    }
}

/// Controllers that keep pods running need templates that restart them.
fn require_restart_always(template: Option<&PodTemplateSpec>, spec: &FieldPath, errs: &mut Vec<FieldError>) {
    let policy = template.and_then(|t| t.spec.as_ref()).and_then(|s| s.restart_policy.as_deref());
    one_of(errs, &spec.child("template").child("spec").child("restartPolicy"), policy, &["Always"]);
}

/// `maxSurge`/`maxUnavailable`: a non-negative count or a percentage; when
/// `is_unavailable`, at most 100%. Returns whether the value is zero.
fn validate_rollout_amount(
    value: Option<&IntOrString>,
    is_unavailable: bool,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) -> bool {
    match value {
        None => false,
        Some(IntOrString::Int(n)) => {
            if *n < 0 {
                errs.push(FieldError::invalid(path, n, "must be greater than or equal to 0"));
            }
            *n == 0
        }
        Some(IntOrString::String(s)) => {
            match s.strip_suffix('%').filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
                None => {
                    errs.push(FieldError::invalid(
                    path,
                    s,
                    "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
                ));
                    false
                }
                Some(digits) => {
                    let percent: u64 = digits.parse().unwrap_or(u64::MAX);
                    if is_unavailable && percent > 100 {
                        errs.push(FieldError::invalid(path, s, "must not be greater than 100%"));
                    }
                    percent == 0
                }
            }
        }
    }
}

/// Both rollout amounts of a rolling update; they may not both be zero, or
/// the rollout could never make progress.
fn validate_rolling_amounts(
    max_unavailable: Option<&IntOrString>,
    max_surge: Option<&IntOrString>,
    path: &FieldPath,
    errs: &mut Vec<FieldError>,
) {
    let unavailable_zero = validate_rollout_amount(max_unavailable, true, &path.child("maxUnavailable"), errs);
    let surge_zero = validate_rollout_amount(max_surge, false, &path.child("maxSurge"), errs);
    if unavailable_zero && surge_zero {
        errs.push(FieldError::invalid(path.child("maxUnavailable"), 0, "may not be 0 when `maxSurge` is 0"));
    }
}

/// `spec.selector` may not change once the workload exists.
fn selector_immutable(new: Option<&LabelSelector>, old: Option<&LabelSelector>, errs: &mut Vec<FieldError>) {
    if new != old {
        errs.push(FieldError::invalid(FieldPath::new("spec").child("selector"), render(&new), "field is immutable"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_amounts() {
        let mut errs = Vec::new();
        let p = FieldPath::new("spec").child("strategy").child("rollingUpdate");
        validate_rolling_amounts(Some(&IntOrString::String("25%".into())), Some(&IntOrString::Int(1)), &p, &mut errs);
        assert!(errs.is_empty());
        validate_rolling_amounts(Some(&IntOrString::Int(0)), Some(&IntOrString::String("0%".into())), &p, &mut errs);
        validate_rolling_amounts(
            Some(&IntOrString::String("150%".into())),
            Some(&IntOrString::String("x".into())),
            &p,
            &mut errs,
        );
        let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered[0],
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0\": may not be 0 when `maxSurge` is 0"
        );
        assert_eq!(
            rendered[1],
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
        );
        assert!(rendered[2]
            .starts_with("spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string"));
    }
}
