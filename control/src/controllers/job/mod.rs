//! The Job controller (batch/v1): runs a Job's pods to completion.
//!
//! Observe: the Job fresh from the API and its pods (by its selector, owned by
//! it). Count finished pods exactly once with the tracking finalizer
//! ([`tracking`]), decide ([`plan`]), act (create / delete pods), record
//! status and conditions; a finished Job with `ttlSecondsAfterFinished` is
//! deleted when due. Pods left holding the finalizer by a deleted Job are
//! released by [`orphans`].

mod conditions;
mod finalizer;
mod indexes;
mod orphans;
mod plan;
mod pods;
mod template;
mod tracking;
mod ttl;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions, PropagationPolicy};
use kube::core::Selector;
use kube::runtime::controller::Action;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client, ResourceExt};

use self::plan::{Plan, Settings, Verdict};
use self::pods::PodView;
use self::tracking::Ledger;
use super::{Context, ControllerError};
use crate::events::{EventType, Recorder};

/// Every pod a Job creates has this label (the API server puts it in the
/// template): the pods this controller watches.
const JOB_POD_LABEL: &str = "batch.kubernetes.io/controller-uid";

/// Runs the Job controller until dropped.
pub async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let state = Arc::new(State { client: client.clone(), recorder: ctx.recorder("job-controller") });
    let controller = Controller::new(Api::<Job>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default().labels(JOB_POD_LABEL))
        .run(reconcile, error_policy, state)
        .for_each(|outcome| async move {
            if let Err(err) = outcome {
                tracing::debug!(error = %err, "job reconcile");
            }
        });
    tokio::join!(controller, orphans::run(client));
}

struct State {
    client: Client,
    recorder: Recorder,
}

fn error_policy(job: Arc<Job>, err: &ControllerError, _state: Arc<State>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(job = %job.name_any(), error = %err, "job reconcile failed");
    match err {
        ControllerError::Invalid(_) => Action::await_change(),
        ControllerError::Api(_) => Action::requeue(Duration::from_secs(5)),
    }
}

async fn reconcile(cached: Arc<Job>, state: Arc<State>) -> Result<Action, ControllerError> {
    let namespace = cached.namespace().unwrap_or_else(|| "default".into());
    let jobs: Api<Job> = Api::namespaced(state.client.clone(), &namespace);
    let pods_api: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    // The cache may predate our own last status write: decide on the current Job.
    let Some(job) = jobs.get_opt(&cached.name_any()).await? else { return Ok(Action::await_change()) };
    let pods = owned_pods(&pods_api, &job).await?;
    let reconciler = Reconciler { state: &state, jobs: &jobs, pods_api: &pods_api };
    reconciler.sync(job, pods).await
}

/// The pods `job` selects and controls.
async fn owned_pods(pods: &Api<Pod>, job: &Job) -> Result<Vec<Pod>, ControllerError> {
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let selector = job.spec.as_ref().and_then(|s| s.selector.clone()).ok_or_else(|| ControllerError::Invalid("the Job has no selector".into()))?;
    let selector = Selector::try_from(selector).map_err(|e| ControllerError::Invalid(format!("the Job's selector: {e}")))?;
    let list = pods.list(&ListParams::default().labels(&selector.to_string())).await?;
    let owned = |pod: &Pod| pod.metadata.owner_references.iter().flatten().any(|o| o.controller == Some(true) && o.uid == uid);
    Ok(list.items.into_iter().filter(owned).collect())
}

struct Reconciler<'a> {
    state: &'a State,
    jobs: &'a Api<Job>,
    pods_api: &'a Api<Pod>,
}

impl Reconciler<'_> {
    async fn sync(&self, job: Job, pods: Vec<Pod>) -> Result<Action, ControllerError> {
        let spec = job.spec.clone().ok_or_else(|| ControllerError::Invalid("the Job has no spec".into()))?;
        let settings = Settings::of(&spec);
        let views: Vec<PodView> = pods.iter().map(PodView::of).collect();
        let (mut job, ledger) = self.count_finished(job, &pods, &views, &settings).await?;

        let now = Timestamp::now();
        let mut status = job.status.clone().unwrap_or_default();
        ledger.write_into(&mut status, settings.indexed);
        if conditions::is_finished(job.status.as_ref()) {
            // Over: only stragglers (a pod created by a racing reconcile) are stopped.
            let active: Vec<String> = views.iter().filter(|v| v.is_active()).map(|v| v.name.clone()).collect();
            self.delete_pods(&job, &active).await?;
            job = self.write_status(&job, status).await?;
            return self.expire(&job, now).await;
        }
        self.record_suspension(&job, &mut status, settings.suspend, now).await;
        let verdict_so_far = conditions::interim_verdict(job.status.as_ref());
        let start = status.start_time.as_ref().map(|t| t.0);
        let mut plan = plan::plan(&settings, &ledger, &views, verdict_so_far, start, now);
        if job.metadata.deletion_timestamp.is_some() {
            plan.create.clear();
        }
        self.delete_pods(&job, &plan.delete).await?;
        let (created, create_failure) = self.create_pods(&job, &plan.create).await;
        summarize(&mut status, &views, &plan, created);
        let newly_finished = match plan.verdict {
            Some(verdict) => conditions::record_verdict(&mut status, verdict, plan.finished, now) && plan.finished,
            None => false,
        };
        if newly_finished && plan.verdict == Some(Verdict::Succeeded) {
            status.completion_time = Some(Time(now));
        }
        job = self.write_status(&job, status).await?;
        if let Some(err) = create_failure {
            return Err(err);
        }
        if newly_finished {
            self.announce(&job, plan.verdict).await;
            return self.expire(&job, now).await;
        }
        Ok(plan.requeue_after.map_or_else(Action::await_change, Action::requeue))
    }

    /// Counts the finished pods exactly once: notes them in the status
    /// (persisted first), takes their finalizer off, then moves the released
    /// ones into the counters. Returns the Job as stored and the counts.
    async fn count_finished(&self, mut job: Job, pods: &[Pod], views: &[PodView], settings: &Settings) -> Result<(Job, Ledger), ControllerError> {
        let mut ledger = Ledger::from_status(job.status.as_ref());
        if ledger.record_finished(views, settings.completions) {
            let mut status = job.status.clone().unwrap_or_default();
            ledger.write_into(&mut status, settings.indexed);
            job = self.write_status(&job, status).await?;
        }
        let mut still_tracked: HashSet<String> = views.iter().filter(|v| v.tracked).map(|v| v.uid.clone()).collect();
        for view in ledger.releasable(views) {
            if let Some(pod) = pods.iter().find(|p| p.metadata.uid.as_deref() == Some(view.uid.as_str())) {
                finalizer::release(self.pods_api, pod).await?;
                still_tracked.remove(&view.uid);
            }
        }
        ledger.flush(&still_tracked);
        Ok((job, ledger))
    }

    /// Creates one pod per entry of `indexes`; how many were created, and the
    /// failure that stopped the rest (the status still records those made).
    async fn create_pods(&self, job: &Job, indexes: &[Option<i32>]) -> (usize, Option<ControllerError>) {
        let mut created = 0;
        for index in indexes {
            let pod = match template::pod_for(job, *index) {
                Ok(pod) => pod,
                Err(err) => return (created, Some(err)),
            };
            match self.pods_api.create(&PostParams::default(), &pod).await {
                Ok(pod) => {
                    created += 1;
                    let message = format!("Created pod: {}", pod.name_any());
                    self.state.recorder.publish(job, EventType::Normal, "SuccessfulCreate", message).await;
                }
                Err(err) => {
                    let message = format!("Error creating: {err}");
                    self.state.recorder.publish(job, EventType::Warning, "FailedCreate", message).await;
                    return (created, Some(err.into()));
                }
            }
        }
        (created, None)
    }

    async fn delete_pods(&self, job: &Job, names: &[String]) -> Result<(), ControllerError> {
        for name in names {
            match self.pods_api.delete(name, &DeleteParams::background()).await {
                Ok(_) => {
                    let message = format!("Deleted pod: {name}");
                    self.state.recorder.publish(job, EventType::Normal, "SuccessfulDelete", message).await;
                }
                Err(err) => {
                    let err = ControllerError::from(err);
                    if !err.is_not_found() {
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    /// The Suspended condition and `startTime` (set when the Job first runs,
    /// and again when it resumes, as upstream does).
    async fn record_suspension(&self, job: &Job, status: &mut JobStatus, suspend: bool, now: Timestamp) {
        let was_suspended = conditions::true_condition(job.status.as_ref(), conditions::SUSPENDED).is_some();
        if suspend && !was_suspended {
            conditions::set(status, conditions::SUSPENDED, true, "JobSuspended", "Job suspended", now);
            self.state.recorder.publish(job, EventType::Normal, "Suspended", "Job suspended").await;
        }
        if !suspend && was_suspended {
            conditions::set(status, conditions::SUSPENDED, false, "JobResumed", "Job resumed", now);
            status.start_time = Some(Time(now));
            self.state.recorder.publish(job, EventType::Normal, "Resumed", "Job resumed").await;
        }
        if !suspend && status.start_time.is_none() {
            status.start_time = Some(Time(now));
        }
    }

    async fn announce(&self, job: &Job, verdict: Option<Verdict>) {
        match verdict {
            Some(Verdict::Succeeded) => self.state.recorder.publish(job, EventType::Normal, "Completed", "Job completed").await,
            Some(Verdict::Failed(why)) => self.state.recorder.publish(job, EventType::Warning, why.as_str(), why.message()).await,
            None => {}
        }
    }

    /// `ttlSecondsAfterFinished`: deletes the finished Job when due
    /// (its pods go with it, in the background), else comes back then.
    async fn expire(&self, job: &Job, now: Timestamp) -> Result<Action, ControllerError> {
        let ttl_seconds = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished);
        let Some(left) = ttl::remaining(ttl_seconds, conditions::finished_at(job.status.as_ref()), now) else {
            return Ok(Action::await_change());
        };
        if !left.is_zero() {
            return Ok(Action::requeue(left));
        }
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: Some(Preconditions { uid: job.metadata.uid.clone(), resource_version: None }),
            ..Default::default()
        };
        match self.jobs.delete(&job.name_any(), &params).await {
            Ok(_) => Ok(Action::await_change()),
            Err(err) => {
                let err = ControllerError::from(err);
                if err.is_not_found() { Ok(Action::await_change()) } else { Err(err) }
            }
        }
    }

    /// Writes `status` unless it is what the Job already has; returns the Job as stored.
    async fn write_status(&self, job: &Job, status: JobStatus) -> Result<Job, ControllerError> {
        if job.status.as_ref() == Some(&status) {
            return Ok(job.clone());
        }
        let updated = Job { status: Some(status), ..job.clone() };
        Ok(self.jobs.replace_status(&job.name_any(), &PostParams::default(), &updated).await?)
    }
}

/// `active`, `ready` and `terminating` after this reconcile's actions.
fn summarize(status: &mut JobStatus, views: &[PodView], plan: &Plan, created: usize) {
    let deleted: HashSet<&str> = plan.delete.iter().map(String::as_str).collect();
    let still_active = views.iter().filter(|v| v.is_active() && !deleted.contains(v.name.as_str()));
    let (mut active, mut ready) = (created as i32, 0);
    for view in still_active {
        active += 1;
        ready += i32::from(view.ready);
    }
    status.active = Some(active);
    status.ready = Some(ready);
    status.terminating = Some(views.iter().filter(|v| v.terminating).count() as i32 + deleted.len() as i32);
}

#[cfg(test)]
mod tests {
    use super::pods::Outcome;
    use super::*;

    fn view(name: &str, outcome: Outcome, ready: bool, terminating: bool) -> PodView {
        PodView {
            name: name.into(),
            uid: name.into(),
            outcome,
            terminating,
            ready,
            tracked: true,
            index: None,
            restarts: 0,
            created: None,
            failed_at: None,
        }
    }

    #[test]
    fn summary_counts_what_runs_after_the_plan_is_carried_out() {
        let views = [
            view("ready", Outcome::Active, true, false),
            view("starting", Outcome::Active, false, false),
            view("doomed", Outcome::Active, true, false),
            view("leaving", Outcome::Failed, false, true),
            view("done", Outcome::Succeeded, false, false),
        ];
        let plan = Plan { delete: vec!["doomed".into()], create: vec![None; 2], ..Default::default() };
        let mut status = JobStatus::default();
        summarize(&mut status, &views, &plan, 2);
        assert_eq!((status.active, status.ready, status.terminating), (Some(4), Some(1), Some(2)));
    }
}
