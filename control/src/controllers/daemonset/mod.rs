//! The DaemonSet controller (apps/v1): one pod on every node that should run
//! it.
//!
//! Observe: the DaemonSet fresh from the API, every Node, its pods (by its
//! selector, owned by it) and its ControllerRevisions. Record the current
//! template as a revision ([`revision`]), decide ([`plan`]) which nodes need a
//! pod and which pods must go (ineligible or vanished nodes, failures,
//! duplicates, RollingUpdate within `maxUnavailable`), act, and record the
//! status `kubectl rollout status ds` reads. Pods are pinned to their node by
//! node affinity ([`pinning`]) and bound by the scheduler.

mod eligibility;
mod pinning;
mod plan;
mod revision;
mod strategy;
mod template;
mod tolerations;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::core::Selector;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use self::plan::{Counts, DaemonPod, NodeView, Plan};
use self::revision::{Choice, RevisionView, REVISION_HASH_LABEL};
use super::{Context, ControllerError};
use crate::events::{EventType, Recorder};

/// Upstream's default `spec.revisionHistoryLimit`.
const DEFAULT_HISTORY_LIMIT: usize = 10;

/// Runs the DaemonSet controller until dropped.
pub async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let state = Arc::new(State { client: client.clone(), recorder: ctx.recorder("daemonset-controller") });
    let controller = Controller::new(Api::<DaemonSet>::all(client.clone()), watcher::Config::default());
    let daemonsets = controller.store();
    // Any node change (new, gone, relabelled, tainted) may concern every DaemonSet.
    let every_daemonset = move |_: Node| daemonsets.state().iter().map(|ds| ObjectRef::from(ds.as_ref())).collect::<Vec<_>>();
    controller
        .owns(Api::<Pod>::all(client.clone()), watcher::Config::default())
        .watches(Api::<Node>::all(client), watcher::Config::default(), every_daemonset)
        .run(reconcile, error_policy, state)
        .for_each(|outcome| async move {
            if let Err(err) = outcome {
                tracing::debug!(error = %err, "daemonset reconcile");
            }
        })
        .await;
}

struct State {
    client: Client,
    recorder: Recorder,
}

fn error_policy(ds: Arc<DaemonSet>, err: &ControllerError, _state: Arc<State>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(daemonset = %ds.name_any(), error = %err, "daemonset reconcile failed");
    match err {
        ControllerError::Invalid(_) => Action::await_change(),
        ControllerError::Api(_) => Action::requeue(Duration::from_secs(5)),
    }
}

async fn reconcile(cached: Arc<DaemonSet>, state: Arc<State>) -> Result<Action, ControllerError> {
    let namespace = cached.namespace().unwrap_or_else(|| "default".into());
    let reconciler = Reconciler {
        state: &state,
        daemonsets: Api::namespaced(state.client.clone(), &namespace),
        pods: Api::namespaced(state.client.clone(), &namespace),
        revisions: Api::namespaced(state.client.clone(), &namespace),
    };
    let Some(ds) = reconciler.daemonsets.get_opt(&cached.name_any()).await? else { return Ok(Action::await_change()) };
    if ds.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    reconciler.sync(ds).await
}

struct Reconciler<'a> {
    state: &'a State,
    daemonsets: Api<DaemonSet>,
    pods: Api<Pod>,
    revisions: Api<ControllerRevision>,
}

impl Reconciler<'_> {
    async fn sync(&self, ds: DaemonSet) -> Result<Action, ControllerError> {
        let spec = ds.spec.clone().ok_or_else(|| ControllerError::Invalid("the DaemonSet has no spec".into()))?;
        let selector = Selector::try_from(spec.selector.clone()).map_err(|e| ControllerError::Invalid(format!("the DaemonSet's selector: {e}")))?;
        let by_selector = ListParams::default().labels(&selector.to_string());
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let pods: Vec<Pod> = self.pods.list(&by_selector).await?.items.into_iter().filter(|p| controlled_by(p.owner_references(), &uid)).collect();
        let history: Vec<ControllerRevision> =
            self.revisions.list(&by_selector).await?.items.into_iter().filter(|r| controlled_by(r.owner_references(), &uid)).collect();
        let nodes = Api::<Node>::all(self.state.client.clone()).list(&ListParams::default()).await?.items;

        let collisions = ds.status.as_ref().and_then(|s| s.collision_count);
        let hash = revision::template_hash(&spec.template, collisions);
        let views: Vec<RevisionView> = history.iter().map(RevisionView::of).collect();
        if !self.record_revision(&ds, &hash, &views).await? {
            let mut status = ds.status.clone().unwrap_or_default();
            status.collision_count = Some(collisions.unwrap_or(0) + 1);
            self.write_status(&ds, status).await?;
            return Ok(Action::requeue(Duration::ZERO));
        }

        let daemon_spec = template::daemon_spec(&ds)?;
        let node_views: Vec<NodeView> = nodes.iter().map(|n| NodeView { name: n.name_any(), should_run: eligibility::should_run(n, &daemon_spec) }).collect();
        let now = Timestamp::now();
        let min_ready = SignedDuration::from_secs(i64::from(spec.min_ready_seconds.unwrap_or(0).max(0)));
        let pod_views: Vec<DaemonPod> = pods.iter().map(|p| daemon_pod(p, min_ready, now)).collect();
        let desired = node_views.iter().filter(|n| n.should_run).count();
        let plan = plan::plan(&node_views, &pod_views, &hash, strategy::of(&spec, desired));
        self.act(&ds, &hash, &plan).await?;

        let in_use: HashSet<String> = pod_views.iter().filter_map(|p| p.hash.clone()).collect();
        let limit = spec.revision_history_limit.map_or(DEFAULT_HISTORY_LIMIT, |l| l.max(0) as usize);
        for name in revision::beyond_limit(&views, &revision::name(&ds, &hash), &in_use, limit) {
            self.delete_revision(&name).await?;
        }

        let counts = plan::counts(&node_views, &pod_views, &hash);
        self.write_status(&ds, status_of(&ds, counts)).await?;
        Ok(becoming_available(&pods, min_ready, now).map_or_else(Action::await_change, Action::requeue))
    }

    /// Makes sure the current template has its revision, numbered newest.
    /// False when another template holds its name (a hash collision).
    async fn record_revision(&self, ds: &DaemonSet, hash: &str, history: &[RevisionView]) -> Result<bool, ControllerError> {
        let template = &ds.spec.as_ref().ok_or_else(|| ControllerError::Invalid("the DaemonSet has no spec".into()))?.template;
        let data = revision::revision_data(template);
        match revision::choose(history, &revision::name(ds, hash), &data) {
            Choice::Collision => Ok(false),
            Choice::Existing { renumber: None, .. } => Ok(true),
            Choice::Existing { name, renumber: Some(number) } => {
                self.revisions.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"revision": number}))).await?;
                Ok(true)
            }
            Choice::Create { revision: number } => {
                let created = revision::build(ds, hash, data, number)?;
                match self.revisions.create(&PostParams::default(), &created).await {
                    Ok(_) => Ok(true),
                    // Made meanwhile (a stale list): looked at again on the next pass.
                    Err(kube::Error::Api(status)) if status.code == 409 => Ok(true),
                    Err(err) => Err(err.into()),
                }
            }
        }
    }

    async fn act(&self, ds: &DaemonSet, hash: &str, plan: &Plan) -> Result<(), ControllerError> {
        let recorder = &self.state.recorder;
        for name in &plan.delete {
            match self.pods.delete(name, &DeleteParams::background()).await {
                Ok(_) => recorder.publish(ds, EventType::Normal, "SuccessfulDelete", format!("Deleted pod: {name}")).await,
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
        }
        for node in &plan.create_on {
            let pod = template::pod_for(ds, hash, node)?;
            match self.pods.create(&PostParams::default(), &pod).await {
                Ok(created) => recorder.publish(ds, EventType::Normal, "SuccessfulCreate", format!("Created pod: {}", created.name_any())).await,
                Err(err) => {
                    recorder.publish(ds, EventType::Warning, "FailedCreate", format!("Error creating: {err}")).await;
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }

    async fn delete_revision(&self, name: &str) -> Result<(), ControllerError> {
        match self.revisions.delete(name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    async fn write_status(&self, ds: &DaemonSet, status: DaemonSetStatus) -> Result<(), ControllerError> {
        if ds.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let updated = DaemonSet { status: Some(status), ..ds.clone() };
        self.daemonsets.replace_status(&ds.name_any(), &PostParams::default(), &updated).await?;
        Ok(())
    }
}

fn controlled_by(owners: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference], uid: &str) -> bool {
    owners.iter().any(|o| o.controller == Some(true) && o.uid == uid)
}

/// When the pod's Ready condition became True, if it is True.
fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(ready.last_transition_time.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0))
}

fn daemon_pod(pod: &Pod, min_ready: SignedDuration, now: Timestamp) -> DaemonPod {
    let since = ready_since(pod);
    DaemonPod {
        name: pod.name_any(),
        node: pinning::node_of(pod),
        hash: pod.labels().get(REVISION_HASH_LABEL).cloned(),
        failed: pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"),
        deleting: pod.metadata.deletion_timestamp.is_some(),
        ready: since.is_some(),
        available: since.is_some_and(|t| t + min_ready <= now),
        created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
    }
}

/// How long until the next ready pod has been ready for `minReadySeconds`.
fn becoming_available(pods: &[Pod], min_ready: SignedDuration, now: Timestamp) -> Option<Duration> {
    pods.iter()
        .filter_map(ready_since)
        .map(|since| since + min_ready)
        .filter(|at| *at > now)
        .min()
        .and_then(|at| Duration::try_from(at.duration_since(now)).ok())
}

fn status_of(ds: &DaemonSet, counts: Counts) -> DaemonSetStatus {
    let old = ds.status.clone().unwrap_or_default();
    let unavailable = counts.desired - counts.available;
    DaemonSetStatus {
        desired_number_scheduled: counts.desired,
        current_number_scheduled: counts.current,
        number_misscheduled: counts.misscheduled,
        number_ready: counts.ready,
        number_available: Some(counts.available),
        number_unavailable: (unavailable > 0).then_some(unavailable),
        updated_number_scheduled: Some(counts.updated),
        observed_generation: ds.metadata.generation,
        collision_count: old.collision_count,
        conditions: old.conditions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn ready_pod(since: Timestamp) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                labels: Some([(REVISION_HASH_LABEL.to_string(), "h1".to_string())].into()),
                ..Default::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition { type_: "Ready".into(), status: "True".into(), last_transition_time: Some(Time(since)), ..Default::default() }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_pod_is_available_once_ready_for_min_ready_seconds() {
        let since = Timestamp::UNIX_EPOCH;
        let min_ready = SignedDuration::from_secs(10);
        let early = since + SignedDuration::from_secs(4);
        let pod = daemon_pod(&ready_pod(since), min_ready, early);
        assert!(pod.ready && !pod.available);
        assert_eq!(pod.hash.as_deref(), Some("h1"));
        assert_eq!(becoming_available(&[ready_pod(since)], min_ready, early), Some(Duration::from_secs(6)));
        let late = since + SignedDuration::from_secs(10);
        assert!(daemon_pod(&ready_pod(since), min_ready, late).available);
        assert_eq!(becoming_available(&[ready_pod(since)], min_ready, late), None);
    }

    #[test]
    fn status_reports_counts_and_the_observed_generation() {
        let ds = DaemonSet { metadata: ObjectMeta { generation: Some(4), ..Default::default() }, ..Default::default() };
        let counts = Counts { desired: 3, current: 3, misscheduled: 0, ready: 2, available: 2, updated: 1 };
        let status = status_of(&ds, counts);
        assert_eq!(status.observed_generation, Some(4));
        assert_eq!((status.desired_number_scheduled, status.number_unavailable, status.updated_number_scheduled), (3, Some(1), Some(1)));
        let all = status_of(&ds, Counts { available: 3, ..counts });
        assert_eq!(all.number_unavailable, None, "left out when zero, as upstream");
    }
}
