//! Jobs and CronJobs.

use k8s_openapi::api::batch::v1::{CronJob, Job, JobSpec};

use super::cron::parse_schedule;
use super::{check_selector_matches_template, selector_immutable};
use crate::api::validation::checks::{non_negative, one_of, positive, render};
use crate::api::validation::label_selector::validate_label_selector;
use crate::api::validation::meta::{validate_annotations, validate_labels};
use crate::api::validation::path::FieldPath;
use crate::api::validation::pod::validate_pod_template;
use crate::error::FieldError;

pub fn validate_job(job: &Job, old: Option<&Job>, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec");
    let Some(spec) = &job.spec else { return errs.push(FieldError::required(&p)) };
    validate_job_spec(spec, &p, errs);
    if let Some(old) = old.and_then(|o| o.spec.as_ref()) {
        selector_immutable(spec.selector.as_ref(), old.selector.as_ref(), errs);
        if spec.template != old.template {
            errs.push(FieldError::invalid(p.child("template"), render(&spec.template), "field is immutable"));
        }
    }
}

/// A job spec, also as found in a CronJob's `jobTemplate`. The selector is
/// optional: without one the server generates it from the job's uid.
fn validate_job_spec(spec: &JobSpec, p: &FieldPath, errs: &mut Vec<FieldError>) {
    if let Some(selector) = &spec.selector {
        validate_label_selector(selector, &p.child("selector"), errs);
        check_selector_matches_template(selector, Some(&spec.template), p, errs);
    }
    validate_pod_template(Some(&spec.template), &p.child("template"), errs);
    let restart = spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref());
    let restart_path = p.child("template").child("spec").child("restartPolicy");
    match restart {
        Some("OnFailure" | "Never") => {}
        Some(other) => errs.push(FieldError::not_supported(restart_path, other, &["OnFailure", "Never"])),
        None => errs.push(FieldError {
            detail: "valid values: \"OnFailure\", \"Never\"".into(),
            ..FieldError::required(restart_path)
        }),
    }
    non_negative(errs, &p.child("parallelism"), spec.parallelism);
    non_negative(errs, &p.child("completions"), spec.completions);
    non_negative(errs, &p.child("backoffLimit"), spec.backoff_limit);
    non_negative(errs, &p.child("ttlSecondsAfterFinished"), spec.ttl_seconds_after_finished);
    positive(errs, &p.child("activeDeadlineSeconds"), spec.active_deadline_seconds);
    one_of(errs, &p.child("completionMode"), spec.completion_mode.as_deref(), &["NonIndexed", "Indexed"]);
    if spec.completion_mode.as_deref() == Some("Indexed") && spec.completions.is_none() {
        errs.push(FieldError {
            detail: "when completion mode is Indexed".into(),
            ..FieldError::required(p.child("completions"))
        });
    }
    one_of(
        errs,
        &p.child("podReplacementPolicy"),
        spec.pod_replacement_policy.as_deref(),
        &["TerminatingOrFailed", "Failed"],
    );
}

pub fn validate_cron_job(cj: &CronJob, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec");
    let Some(spec) = &cj.spec else { return errs.push(FieldError::required(&p)) };
    if spec.schedule.is_empty() {
        errs.push(FieldError::required(p.child("schedule")));
    } else if let Err(e) = parse_schedule(&spec.schedule) {
        errs.push(FieldError::invalid(p.child("schedule"), &spec.schedule, e.to_string()));
    }
    one_of(errs, &p.child("concurrencyPolicy"), spec.concurrency_policy.as_deref(), &["Allow", "Forbid", "Replace"]);
    non_negative(errs, &p.child("startingDeadlineSeconds"), spec.starting_deadline_seconds);
    non_negative(errs, &p.child("successfulJobsHistoryLimit"), spec.successful_jobs_history_limit);
    non_negative(errs, &p.child("failedJobsHistoryLimit"), spec.failed_jobs_history_limit);
    if let Some(tz) = spec.time_zone.as_deref() {
        if tz.is_empty() || tz.contains(' ') {
            errs.push(FieldError::invalid(p.child("timeZone"), tz, "unknown time zone"));
        }
    }
    let tp = p.child("jobTemplate");
    if let Some(meta) = &spec.job_template.metadata {
        validate_labels(meta.labels.as_ref(), &tp.child("metadata").child("labels"), errs);
        validate_annotations(meta.annotations.as_ref(), &tp.child("metadata").child("annotations"), errs);
    }
    match &spec.job_template.spec {
        Some(job_spec) => validate_job_spec(job_spec, &tp.child("spec"), errs),
        None => errs.push(FieldError::required(tp.child("spec"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn pod_template(restart: &str) -> Value {
        json!({"metadata": {"labels": {"job": "pi"}}, "spec": {"restartPolicy": restart, "containers": [{"name": "pi", "image": "perl"}]}})
    }

    fn job(spec: Value) -> Job {
        serde_json::from_value(json!({"metadata": {"name": "pi"}, "spec": spec})).expect("well-formed job")
    }

    fn job_errors(spec: Value, old: Option<Value>) -> Vec<String> {
        let old = old.map(job);
        let mut errs = Vec::new();
        validate_job(&job(spec), old.as_ref(), &mut errs);
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn jobs() {
        assert!(job_errors(
            json!({"template": pod_template("Never"), "parallelism": 2, "completions": 4, "backoffLimit": 6}),
            None
        )
        .is_empty());
        let errs = job_errors(
            json!({"template": pod_template("Always"), "parallelism": -1, "completionMode": "Indexed"}),
            None,
        );
        assert!(errs[0].starts_with("spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""));
        assert_eq!(errs[1], "spec.parallelism: Invalid value: \"-1\": must be greater than or equal to 0");
        assert_eq!(errs[2], "spec.completions: Required value: when completion mode is Indexed");
        let errs =
            job_errors(json!({"template": pod_template("Never"), "selector": {"matchLabels": {"job": "other"}}}), None);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].ends_with("`selector` does not match template `labels`"));
    }

    #[test]
    fn job_template_is_immutable() {
        let old = json!({"template": pod_template("Never")});
        let new = json!({"template": pod_template("OnFailure")});
        let errs = job_errors(new, Some(old.clone()));
        assert_eq!(errs.len(), 1);
        assert!(errs[0].starts_with("spec.template: Invalid value:") && errs[0].ends_with("field is immutable"));
        assert!(job_errors(old.clone(), Some(old)).is_empty());
    }

    #[test]
    fn cron_jobs() {
        let cron = |schedule: &str, extra: Value| -> Vec<String> {
            let mut spec =
                json!({"schedule": schedule, "jobTemplate": {"spec": {"template": pod_template("OnFailure")}}});
            if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
                spec.extend(extra);
            }
            let cj: CronJob =
                serde_json::from_value(json!({"metadata": {"name": "c"}, "spec": spec})).expect("cronjob");
            let mut errs = Vec::new();
            validate_cron_job(&cj, &mut errs);
            errs.iter().map(ToString::to_string).collect()
        };
        assert!(cron("*/5 * * * *", json!({"concurrencyPolicy": "Forbid"})).is_empty());
        assert!(cron("@hourly", json!({})).is_empty());
        assert_eq!(
            cron("* * *", json!({})),
            vec!["spec.schedule: Invalid value: \"* * *\": expected exactly 5 fields, found 3: [\"*\", \"*\", \"*\"]"]
        );
        assert_eq!(cron("", json!({})), vec!["spec.schedule: Required value"]);
        let errs = cron("0 0 * * *", json!({"concurrencyPolicy": "Sometimes", "failedJobsHistoryLimit": -1}));
        assert!(errs[0].starts_with("spec.concurrencyPolicy: Unsupported value"));
        assert_eq!(errs[1], "spec.failedJobsHistoryLimit: Invalid value: \"-1\": must be greater than or equal to 0");
    }
}
