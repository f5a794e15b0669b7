//! `batch/v1` kinds sent by `kubectl create job|cronjob`.

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, Job, JobSpec, JobTemplateSpec};
use k8s_pb::api::batch::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[kind::<pb::Job, Job>(), kind::<pb::CronJob, CronJob>()];

from_proto!(pb::Job => Job { metadata, spec });
// podFailurePolicy and successPolicy are not decoded: no generator sets them and this
// server's Job controller does not implement them.
from_proto!(pb::JobSpec => JobSpec {
    parallelism,
    completions,
    active_deadline_seconds,
    backoff_limit,
    backoff_limit_per_index,
    max_failed_indexes,
    selector,
    manual_selector,
    template,
    ttl_seconds_after_finished,
    completion_mode,
    suspend,
    pod_replacement_policy,
    managed_by,
});

from_proto!(pb::CronJob => CronJob { metadata, spec });
from_proto!(pb::CronJobSpec => CronJobSpec {
    schedule,
    time_zone,
    starting_deadline_seconds,
    concurrency_policy,
    suspend,
    job_template,
    successful_jobs_history_limit,
    failed_jobs_history_limit,
});
from_proto!(pb::JobTemplateSpec => JobTemplateSpec { metadata, spec });

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::decode_fixture;

    #[test]
    fn job_from_kubectl() {
        // kubectl create job j --image=busybox -- echo hi
        assert_eq!(
            decode_fixture("job"),
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "j"},
                "spec": {"template": {
                    "metadata": {},
                    "spec": {
                        "containers": [{"command": ["echo", "hi"], "image": "busybox", "name": "j", "resources": {}}],
                        "restartPolicy": "Never",
                    },
                }},
            })
        );
    }

    #[test]
    fn cronjob_from_kubectl() {
        // kubectl create cronjob c --image=busybox --schedule="*/1 * * * *" -- date
        assert_eq!(
            decode_fixture("cronjob"),
            json!({
                "apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": "c"},
                "spec": {
                    "jobTemplate": {
                        "metadata": {"name": "c"},
                        "spec": {"template": {
                            "metadata": {},
                            "spec": {
                                "containers": [{"command": ["date"], "image": "busybox", "name": "c", "resources": {}}],
                                "restartPolicy": "OnFailure",
                            },
                        }},
                    },
                    "schedule": "*/1 * * * *",
                },
            })
        );
    }
}
