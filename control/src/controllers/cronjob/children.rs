//! The Jobs of a CronJob as the controller sees them: when each was scheduled
//! for, whether it runs or how it finished, and which belong in
//! `status.active`.

use std::collections::HashSet;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ObjectReference;

/// The annotation holding the schedule time a Job was started for (upstream's).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Active,
    Succeeded,
    Failed,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChildJob {
    pub name: String,
    pub uid: String,
    pub state: JobState,
    /// The schedule time it was started for; None for one made by hand
    /// (`kubectl create job --from=cronjob/...`).
    pub scheduled: Option<Timestamp>,
    pub started: Option<Timestamp>,
    pub created: Option<Timestamp>,
    /// When it succeeded (`completionTime`) or failed.
    pub finished: Option<Timestamp>,
}

impl ChildJob {
    pub fn of(job: &Job) -> ChildJob {
        let status = job.status.as_ref();
        let condition = |kind: &str| status?.conditions.as_ref()?.iter().find(|c| c.type_ == kind && c.status == "True").cloned();
        let (state, finished) = if let Some(complete) = condition("Complete") {
            let at = status.and_then(|s| s.completion_time.as_ref()).or(complete.last_transition_time.as_ref());
            (JobState::Succeeded, at.map(|t| t.0))
        } else if let Some(failed) = condition("Failed") {
            (JobState::Failed, failed.last_transition_time.map(|t| t.0))
        } else {
            (JobState::Active, None)
        };
        let scheduled = job.metadata.annotations.as_ref().and_then(|a| a.get(SCHEDULED_TIMESTAMP)).and_then(|t| parse_time(t));
        ChildJob {
            name: job.metadata.name.clone().unwrap_or_default(),
            uid: job.metadata.uid.clone().unwrap_or_default(),
            state,
            scheduled,
            started: status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            created: job.metadata.creation_timestamp.as_ref().map(|t| t.0),
            finished,
        }
    }
}

/// RFC 3339 with or without an offset name (the annotation carries the zone's offset).
fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse::<Timestamp>().ok()
}

/// The running Jobs that belong in `status.active`: those listed there
/// already, and those this controller scheduled (a crash may have lost the
/// status write). Jobs made by hand are not adopted, as upstream.
pub fn active<'a>(listed: &[ObjectReference], children: &'a [ChildJob]) -> Vec<&'a ChildJob> {
    let listed: HashSet<&str> = listed.iter().filter_map(|r| r.uid.as_deref()).collect();
    children.iter().filter(|c| c.state == JobState::Active && (listed.contains(c.uid.as_str()) || c.scheduled.is_some())).collect()
}

/// Listed Jobs that have finished since: upstream records SawCompletedJob for them.
pub fn newly_finished<'a>(listed: &[ObjectReference], children: &'a [ChildJob]) -> Vec<&'a ChildJob> {
    let listed: HashSet<&str> = listed.iter().filter_map(|r| r.uid.as_deref()).collect();
    children.iter().filter(|c| c.state != JobState::Active && listed.contains(c.uid.as_str())).collect()
}

/// The latest time one of the Jobs succeeded.
pub fn last_success(children: &[ChildJob]) -> Option<Timestamp> {
    children.iter().filter(|c| c.state == JobState::Succeeded).filter_map(|c| c.finished).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn job(name: &str, scheduled: Option<&str>, condition: Option<&str>) -> Job {
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(format!("uid-{name}")),
                annotations: scheduled.map(|s| [(SCHEDULED_TIMESTAMP.to_string(), s.to_string())].into()),
                ..Default::default()
            },
            spec: None,
            status: Some(JobStatus {
                conditions: condition.map(|c| {
                    vec![JobCondition {
                        type_: c.into(),
                        status: "True".into(),
                        last_transition_time: Some(Time("2024-01-01T10:05:00Z".parse().expect("time"))),
                        ..Default::default()
                    }]
                }),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn reads_state_schedule_time_and_finish() {
        let child = ChildJob::of(&job("a", Some("2024-01-01T11:01:00+01:00"), Some("Complete")));
        assert_eq!(child.state, JobState::Succeeded);
        assert_eq!(child.scheduled, Some("2024-01-01T10:01:00Z".parse().expect("time")));
        assert_eq!(child.finished, Some("2024-01-01T10:05:00Z".parse().expect("time")));
        assert_eq!(ChildJob::of(&job("b", None, Some("Failed"))).state, JobState::Failed);
        assert_eq!(ChildJob::of(&job("c", None, None)).state, JobState::Active);
    }

    #[test]
    fn active_keeps_listed_and_scheduled_running_jobs_but_not_manual_ones() {
        let children: Vec<ChildJob> = [
            job("scheduled", Some("2024-01-01T10:01:00Z"), None),
            job("manual", None, None),
            job("listed-manual", None, None),
            job("done", Some("2024-01-01T10:00:00Z"), Some("Complete")),
        ]
        .iter()
        .map(ChildJob::of)
        .collect();
        let listed = [
            ObjectReference { uid: Some("uid-listed-manual".into()), ..Default::default() },
            ObjectReference { uid: Some("uid-done".into()), ..Default::default() },
        ];
        let names: Vec<&str> = active(&listed, &children).iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["scheduled", "listed-manual"]);
        let finished: Vec<&str> = newly_finished(&listed, &children).iter().map(|c| c.name.as_str()).collect();
        assert_eq!(finished, ["done"]);
        assert_eq!(last_success(&children), Some("2024-01-01T10:05:00Z".parse().expect("time")));
    }
}
