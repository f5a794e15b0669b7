//! The CronJob controller (batch/v1): starts a Job at each schedule time.
//!
//! Observe: the CronJob fresh from the API and the Jobs it controls. Decide
//! ([`plan`]): the latest missed schedule time (within
//! `startingDeadlineSeconds`), the concurrency policy, the history limits.
//! Act: create the Job (named after its schedule minute, so a retry can
//! never start it twice), delete replaced and expired Jobs. Record
//! `status.active`, `lastScheduleTime`, `lastSuccessfulTime`, and come back
//! exactly at the next schedule time.

mod children;
mod plan;
mod schedule;
mod template;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ListParams, PostParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client, ResourceExt};

use self::children::{ChildJob, JobState};
use self::plan::{Plan, Settings, Skip};
use self::schedule::Schedule;
use super::{Context, ControllerError};
use crate::events::{EventType, Recorder};

/// Timers fire this long after the schedule time, so the schedule time has
/// surely passed by the reconcile's own clock.
const AFTER_SCHEDULE: Duration = Duration::from_millis(100);

/// Runs the CronJob controller until dropped.
pub async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let state = Arc::new(State { client: client.clone(), recorder: ctx.recorder("cronjob-controller") });
    Controller::new(Api::<CronJob>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Job>::all(client), watcher::Config::default())
        .run(reconcile, error_policy, state)
        .for_each(|outcome| async move {
            if let Err(err) = outcome {
                tracing::debug!(error = %err, "cronjob reconcile");
            }
        })
        .await;
}

struct State {
    client: Client,
    recorder: Recorder,
}

fn error_policy(cronjob: Arc<CronJob>, err: &ControllerError, _state: Arc<State>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(cronjob = %cronjob.name_any(), error = %err, "cronjob reconcile failed");
    match err {
        ControllerError::Invalid(_) => Action::await_change(),
        ControllerError::Api(_) => Action::requeue(Duration::from_secs(5)),
    }
}

async fn reconcile(cached: Arc<CronJob>, state: Arc<State>) -> Result<Action, ControllerError> {
    let namespace = cached.namespace().unwrap_or_else(|| "default".into());
    let cronjobs: Api<CronJob> = Api::namespaced(state.client.clone(), &namespace);
    let jobs: Api<Job> = Api::namespaced(state.client.clone(), &namespace);
    let Some(cronjob) = cronjobs.get_opt(&cached.name_any()).await? else { return Ok(Action::await_change()) };
    let uid = cronjob.metadata.uid.clone().unwrap_or_default();
    let owned = |job: &Job| job.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid);
    let children: Vec<Job> = jobs.list(&ListParams::default()).await?.items.into_iter().filter(owned).collect();
    let reconciler = Reconciler { state: &state, cronjobs: &cronjobs, jobs: &jobs };
    reconciler.sync(cronjob, children).await
}

struct Reconciler<'a> {
    state: &'a State,
    cronjobs: &'a Api<CronJob>,
    jobs: &'a Api<Job>,
}

impl Reconciler<'_> {
    async fn sync(&self, cronjob: CronJob, mut jobs: Vec<Job>) -> Result<Action, ControllerError> {
        let spec = cronjob.spec.clone().ok_or_else(|| ControllerError::Invalid("the CronJob has no spec".into()))?;
        let views: Vec<ChildJob> = jobs.iter().map(ChildJob::of).collect();
        let old_status = cronjob.status.clone().unwrap_or_default();
        let listed = old_status.active.clone().unwrap_or_default();
        let mut status = old_status.clone();
        self.note_finished(&cronjob, &listed, &views, &mut status).await;
        let mut active: Vec<String> = children::active(&listed, &views).iter().map(|c| c.uid.clone()).collect();
        if cronjob.metadata.deletion_timestamp.is_some() {
            self.write_status(&cronjob, &old_status, status, &active, &jobs).await?;
            return Ok(Action::await_change());
        }
        let schedule = match Schedule::parse(&spec.schedule, spec.time_zone.as_deref()) {
            Ok(schedule) => schedule,
            Err(err) => {
                self.state.recorder.publish(&cronjob, EventType::Warning, err.reason(), err.to_string()).await;
                self.write_status(&cronjob, &old_status, status, &active, &jobs).await?;
                return Ok(Action::await_change());
            }
        };
        let now = Timestamp::now();
        let created = cronjob.metadata.creation_timestamp.as_ref().map_or(now, |t| t.0);
        let last_schedule = status.last_schedule_time.as_ref().map(|t| t.0);
        let running: Vec<&ChildJob> = views.iter().filter(|v| active.contains(&v.uid)).collect();
        let plan = plan::plan(&Settings::of(&spec), &schedule, last_schedule, created, &running, &views, now);
        self.report(&cronjob, &plan).await;
        for name in plan.replace.iter().chain(&plan.prune) {
            self.delete_job(&cronjob, name).await?;
        }
        let replaced: Vec<&str> = views.iter().filter(|v| plan.replace.contains(&v.name)).map(|v| v.uid.as_str()).collect();
        active.retain(|uid| !replaced.contains(&uid.as_str()));
        if let Some(scheduled) = plan.start {
            let job = self.start(&cronjob, scheduled, &schedule).await?;
            active.extend(job.metadata.uid.clone());
            jobs.push(job);
            status.last_schedule_time = Some(Time(scheduled));
        }
        self.write_status(&cronjob, &old_status, status, &active, &jobs).await?;
        Ok(plan.next.map_or_else(Action::await_change, |next| {
            Action::requeue(Duration::try_from(next.duration_since(Timestamp::now())).unwrap_or_default() + AFTER_SCHEDULE)
        }))
    }

    /// Records the listed Jobs that finished (SawCompletedJob) and the latest success.
    async fn note_finished(&self, cronjob: &CronJob, listed: &[ObjectReference], views: &[ChildJob], status: &mut CronJobStatus) {
        for done in children::newly_finished(listed, views) {
            let condition = if done.state == JobState::Succeeded { "Complete" } else { "Failed" };
            let message = format!("Saw completed job: {}, condition: {condition}", done.name);
            self.state.recorder.publish(cronjob, EventType::Normal, "SawCompletedJob", message).await;
        }
        if let Some(success) = children::last_success(views) {
            if status.last_successful_time.as_ref().is_none_or(|t| t.0 < success) {
                status.last_successful_time = Some(Time(success));
            }
        }
    }

    /// Events for the schedule times that passed without a Job.
    async fn report(&self, cronjob: &CronJob, plan: &Plan) {
        let recorder = &self.state.recorder;
        if plan.too_many_missed {
            let message = "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew";
            recorder.publish(cronjob, EventType::Warning, "TooManyMissedTimes", message).await;
        }
        match plan.skip {
            Some(Skip::AlreadyActive) => {
                let message = "Not starting job because prior execution is running and concurrency policy is Forbid";
                recorder.publish(cronjob, EventType::Normal, "JobAlreadyActive", message).await;
            }
            Some(Skip::MissedDeadline(at)) => {
                let message = format!("Missed scheduled time to start a job: {at}");
                recorder.publish(cronjob, EventType::Warning, "MissSchedule", message).await;
            }
            None => {}
        }
    }

    /// Creates the Job for `scheduled`; one that exists already (a retry) is fine.
    async fn start(&self, cronjob: &CronJob, scheduled: Timestamp, schedule: &Schedule) -> Result<Job, ControllerError> {
        let job = template::job_for(cronjob, scheduled, schedule.zone())?;
        let name = job.name_any();
        match self.jobs.create(&PostParams::default(), &job).await {
            Ok(created) => {
                self.state.recorder.publish(cronjob, EventType::Normal, "SuccessfulCreate", format!("Created job {name}")).await;
                Ok(created)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(self.jobs.get(&name).await?),
            Err(err) => {
                self.state.recorder.publish(cronjob, EventType::Warning, "FailedCreate", format!("Error creating job: {err}")).await;
                Err(err.into())
            }
        }
    }

    async fn delete_job(&self, cronjob: &CronJob, name: &str) -> Result<(), ControllerError> {
        let params = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..Default::default() };
        match self.jobs.delete(name, &params).await {
            Ok(_) => {
                self.state.recorder.publish(cronjob, EventType::Normal, "SuccessfulDelete", format!("Deleted job {name}")).await;
                Ok(())
            }
            Err(err) => {
                let err = ControllerError::from(err);
                if err.is_not_found() { Ok(()) } else { Err(err) }
            }
        }
    }

    /// Writes `status` with the `jobs` whose uid is in `active` as its active
    /// list, unless nothing changed.
    async fn write_status(&self, cronjob: &CronJob, old: &CronJobStatus, mut status: CronJobStatus, active: &[String], jobs: &[Job]) -> Result<(), ControllerError> {
        let is_active = |job: &&Job| job.metadata.uid.as_ref().is_some_and(|uid| active.contains(uid));
        let refs: Vec<_> = jobs.iter().filter(is_active).map(template::reference).collect();
        status.active = (!refs.is_empty()).then_some(refs);
        if active_uids(&status) == active_uids(old) && status.last_schedule_time == old.last_schedule_time && status.last_successful_time == old.last_successful_time {
            return Ok(());
        }
        let updated = CronJob { status: Some(status), ..cronjob.clone() };
        self.cronjobs.replace_status(&cronjob.name_any(), &PostParams::default(), &updated).await?;
        Ok(())
    }
}

fn active_uids(status: &CronJobStatus) -> Vec<Option<String>> {
    status.active.iter().flatten().map(|r| r.uid.clone()).collect()
}
