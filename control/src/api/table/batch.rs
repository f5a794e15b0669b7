//! Printers for batch/v1 Jobs and CronJobs.

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job, JobCondition};
use serde_json::Value;

use super::duration::{human_duration, since};
use super::format::{age, bool_ptr, container_cells, decode, format_label_selector, name_of};
use super::printer::{cells, Column, Printer, Row};

const CONTAINERS: Column = Column::string("Containers", "Names of each container in the template.").wide();
const IMAGES: Column = Column::string("Images", "Images referenced by each container in the template.").wide();
const SELECTOR: Column = Column::string("Selector", "A label query over pods that should match the pod count.").wide();

pub const JOBS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Status", "Status of the job."),
        Column::string("Completions", "The number of pods which reached phase Succeeded."),
        Column::string("Duration", "Time required to complete the job."),
        Column::AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    row: job_row,
};

/// Whether the first condition of this type is True (upstream `hasJobCondition`).
fn has_condition(conditions: &[JobCondition], type_: &str) -> bool {
    conditions.iter().find(|c| c.type_ == type_).is_some_and(|c| c.status == "True")
}

fn job_row(obj: &Value, now: Timestamp) -> Row {
    let job: Job = decode(obj);
    let spec = job.spec.unwrap_or_default();
    let status = job.status.unwrap_or_default();
    let succeeded = status.succeeded.unwrap_or(0);
    let completions = match (spec.completions, spec.parallelism.unwrap_or(0)) {
        (Some(completions), _) => format!("{succeeded}/{completions}"),
        (None, parallelism) if parallelism > 1 => format!("{succeeded}/1 of {parallelism}"),
        (None, _) => format!("{succeeded}/1"),
    };
    let duration = match (&status.start_time, &status.completion_time) {
        (None, _) => String::new(),
        (Some(start), None) => since(Some(start.0), now),
        (Some(start), Some(end)) => human_duration(end.0.duration_since(start.0)),
    };
    let conditions = status.conditions.as_deref().unwrap_or_default();
    let state = if has_condition(conditions, "Complete") {
        "Complete"
    } else if has_condition(conditions, "Failed") {
        "Failed"
    } else if job.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else if has_condition(conditions, "Suspended") {
        "Suspended"
    } else if has_condition(conditions, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let containers = spec.template.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    let (names, images) = container_cells(containers);
    cells![
        name_of(obj),
        state,
        completions,
        duration,
        age(&job.metadata, now),
        names,
        images,
        format_label_selector(spec.selector.as_ref()),
    ]
    .into()
}

pub const CRON_JOBS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
        Column::string("Timezone", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
        Column::boolean("Suspend", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions."),
        Column::integer("Active", "A list of pointers to currently running jobs."),
        Column::string("Last Schedule", "Information when was the last time the job was successfully scheduled."),
        Column::AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ],
    row: cron_job_row,
};

fn cron_job_row(obj: &Value, now: Timestamp) -> Row {
    let cj: CronJob = decode(obj);
    let spec = cj.spec.unwrap_or_default();
    let status = cj.status.unwrap_or_default();
    let last_schedule = match &status.last_schedule_time {
        Some(t) => since(Some(t.0), now),
        None => "<none>".to_string(),
    };
    let job_spec = spec.job_template.spec.unwrap_or_default();
    let containers = job_spec.template.spec.as_ref().map(|s| s.containers.as_slice()).unwrap_or_default();
    let (names, images) = container_cells(containers);
    // Upstream prints the Suspend cell as text even though the column is boolean.
    cells![
        name_of(obj),
        spec.schedule,
        spec.time_zone.unwrap_or_else(|| "<none>".to_string()),
        bool_ptr(spec.suspend),
        status.active.map_or(0, |a| a.len()),
        last_schedule,
        age(&cj.metadata, now),
        names,
        images,
        format_label_selector(job_spec.selector.as_ref()),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    fn job(spec: Value, status: Value) -> Vec<Value> {
        job_row(&json!({"metadata": {"name": "j"}, "spec": spec, "status": status}), now()).cells
    }

    #[test]
    fn job_status_and_completions() {
        let done = job(
            json!({"completions": 1, "template": {}}),
            json!({"succeeded": 1, "startTime": "2024-05-01T11:00:00Z", "completionTime": "2024-05-01T11:00:42Z",
                   "conditions": [{"type": "Complete", "status": "True"}]}),
        );
        assert_eq!(&done[1..4], &[json!("Complete"), json!("1/1"), json!("42s")]);
        let running = job(json!({"parallelism": 3, "template": {}}), json!({"startTime": "2024-05-01T11:58:00Z"}));
        assert_eq!(&running[1..4], &[json!("Running"), json!("0/1 of 3"), json!("2m")]);
        let failed = job(json!({"template": {}}), json!({"conditions": [{"type": "Failed", "status": "True"}]}));
        assert_eq!(&failed[1..4], &[json!("Failed"), json!("0/1"), json!("")]);
        let suspended = job(json!({"template": {}}), json!({"conditions": [{"type": "Suspended", "status": "True"}]}));
        assert_eq!(suspended[1], json!("Suspended"));
    }

    #[test]
    fn cron_job_cells() {
        let cj = json!({"metadata": {"name": "nightly"},
            "spec": {"schedule": "0 3 * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}},
            "status": {"active": [{"name": "nightly-1"}], "lastScheduleTime": "2024-05-01T03:00:00Z"}});
        let cells = cron_job_row(&cj, now()).cells;
        assert_eq!(
            cells,
            vec![json!("nightly"), json!("0 3 * * *"), json!("<none>"), json!("False"), json!(1), json!("9h"),
                 json!("<unknown>"), json!("c"), json!("i"), json!("<none>")]
        );
    }
}
