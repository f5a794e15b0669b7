//! The Job a CronJob starts for one schedule time: upstream's name
//! (`<cronjob>-<schedule time in unix minutes>`, so one schedule time can
//! never start two Jobs), the job template's labels and annotations, the
//! scheduled-timestamp annotation and the owner reference.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use super::children::SCHEDULED_TIMESTAMP;
use crate::controllers::ControllerError;

/// Upstream's Job name for a schedule time.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// The Job `cronjob` starts for `scheduled` (`zone`: the CronJob's time zone).
pub fn job_for(cronjob: &CronJob, scheduled: Timestamp, zone: &TimeZone) -> Result<Job, ControllerError> {
    let name = cronjob.metadata.name.clone().unwrap_or_default();
    let spec = cronjob.spec.as_ref().ok_or_else(|| ControllerError::Invalid("the CronJob has no spec".into()))?;
    let template = &spec.job_template;
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut annotations = template_meta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339_in(scheduled, zone));
    let owner = cronjob.controller_owner_ref(&()).ok_or_else(|| ControllerError::Invalid("the CronJob has no name or uid".into()))?;
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&name, scheduled)),
            namespace: cronjob.metadata.namespace.clone(),
            labels: template_meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference { block_owner_deletion: Some(true), ..owner }]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    })
}

/// How `status.active` refers to a Job.
pub fn reference(job: &Job) -> ObjectReference {
    ObjectReference { resource_version: job.metadata.resource_version.clone(), ..job.object_ref(&()) }
}

/// `scheduled` as RFC 3339 in `zone`, as Go's `time.RFC3339` writes it.
fn rfc3339_in(scheduled: Timestamp, zone: &TimeZone) -> String {
    let text = scheduled.to_zoned(zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string();
    match text.strip_suffix("+00:00") {
        Some(utc) => format!("{utc}Z"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJobSpec, JobSpec, JobTemplateSpec};

    fn cronjob() -> CronJob {
        CronJob {
            metadata: ObjectMeta { name: Some("tick".into()), namespace: Some("ns".into()), uid: Some("cj-uid".into()), ..Default::default() },
            spec: Some(CronJobSpec {
                schedule: "*/1 * * * *".into(),
                job_template: JobTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some([("app".to_string(), "tick".to_string())].into()), ..Default::default() }),
                    spec: Some(JobSpec { parallelism: Some(2), ..Default::default() }),
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn names_the_job_after_the_schedule_minute() {
        let at: Timestamp = "2024-01-01T10:01:00Z".parse().expect("time");
        assert_eq!(job_name("tick", at), "tick-28401721");
    }

    #[test]
    fn the_job_carries_the_template_owner_and_schedule_time() {
        let at: Timestamp = "2024-01-01T10:01:00Z".parse().expect("time");
        let job = job_for(&cronjob(), at, &TimeZone::UTC).expect("job");
        let meta = &job.metadata;
        assert_eq!(meta.name.as_deref(), Some("tick-28401721"));
        assert_eq!(meta.labels.as_ref().expect("labels")["app"], "tick");
        assert_eq!(meta.annotations.as_ref().expect("annotations")[SCHEDULED_TIMESTAMP], "2024-01-01T10:01:00Z");
        let owner = &meta.owner_references.as_ref().expect("owner")[0];
        assert_eq!((owner.kind.as_str(), owner.controller), ("CronJob", Some(true)));
        assert_eq!(job.spec.and_then(|s| s.parallelism), Some(2));
        let tokyo = TimeZone::get("Asia/Tokyo").expect("zone");
        assert_eq!(rfc3339_in(at, &tokyo), "2024-01-01T19:01:00+09:00");
    }
}
