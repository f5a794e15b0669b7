//! One sync of a ReplicaSet or ReplicationController: observe (a fresh read
//! of the owner and a fresh list of its namespace's pods, so no cache can be
//! stale) → claim (adopt orphans, release relabeled pods) → diff → create or
//! delete pods → record status.

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::claim::{claim, with_reference, without_reference};
use super::new_pod::{controller_reference, pod_from_template};
use super::owner::ReplicaOwner;
use super::plan::{plan, slow_start_batches, Plan};
use super::pods::is_active;
use super::status::{counts, next_availability};
use crate::controllers::ControllerError;
use crate::events::{EventType, Recorder};

/// What every sync of one kind of owner shares.
pub struct State {
    pub client: Client,
    pub recorder: Recorder,
}

pub async fn reconcile<K: ReplicaOwner>(object: Arc<K>, state: Arc<State>) -> Result<Action, ControllerError> {
    let namespace = object.namespace().unwrap_or_default();
    let owners: Api<K> = Api::namespaced(state.client.clone(), &namespace);
    // The watch cache may lag behind a scale: act on the stored object.
    let Some(owner) = owners.get_opt(&object.name_any()).await? else { return Ok(Action::await_change()) };
    let selector = owner.pod_selector()?;
    let pods: Api<Pod> = Api::namespaced(state.client.clone(), &namespace);
    let listed = pods.list(&ListParams::default()).await?.items;

    let uid = owner.uid().unwrap_or_default();
    let deleting = owner.meta().deletion_timestamp.is_some();
    let claims = claim(&uid, deleting, &selector, &listed);
    let reference = controller_reference(&owner);
    for pod in &claims.release {
        release(&pods, pod, &uid).await?;
    }
    let mut owned = claims.owned;
    for pod in claims.adopt {
        adopt(&pods, pod, reference.clone()).await?;
        owned.push(pod);
    }
    let active: Vec<&Pod> = owned.into_iter().filter(|p| is_active(p)).collect();

    // Status reflects what was observed; the pod events our own writes cause
    // bring the next sync, which records their effect.
    let managed = if deleting { Ok(()) } else { manage(&state, &owner, reference, &pods, &active).await };
    let now = Timestamp::now();
    let template_labels = owner.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
    let generation = owner.meta().generation.unwrap_or(0);
    let observed = counts(&active, template_labels, owner.min_ready_seconds(), generation, now);
    if observed != owner.recorded_counts() {
        owners.patch_status(&owner.name_any(), &PatchParams::default(), &Patch::Merge(observed.status_patch())).await?;
    }
    managed?;
    Ok(match next_availability(&active, owner.min_ready_seconds(), now) {
        Some(at) => Action::requeue(Duration::try_from(at.duration_since(now)).unwrap_or_default() + Duration::from_millis(100)),
        None => Action::await_change(),
    })
}

/// Creates or deletes pods so the active ones come to the desired count.
async fn manage<K: ReplicaOwner>(state: &State, owner: &K, reference: OwnerReference, pods: &Api<Pod>, active: &[&Pod]) -> Result<(), ControllerError> {
    match plan(owner.desired_replicas(), active) {
        Plan::Nothing => Ok(()),
        Plan::Create(count) => {
            // Pods the selector does not match would never count: creating
            // them would never end. (API validation refuses such owners too.)
            let template_labels = owner.template().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
            if !owner.pod_selector()?.matches(template_labels) {
                return Err(ControllerError::Invalid(format!("{}: the selector does not match the template's labels", owner.name_any())));
            }
            create_pods(state, owner, reference, pods, count).await
        }
        Plan::Delete(doomed) => delete_pods(state, owner, pods, &doomed).await,
    }
}

async fn create_pods<K: ReplicaOwner>(state: &State, owner: &K, reference: OwnerReference, pods: &Api<Pod>, count: usize) -> Result<(), ControllerError> {
    let Some(template) = owner.template() else {
        return Err(ControllerError::Invalid(format!("{} has no pod template", owner.name_any())));
    };
    let pod = pod_from_template(&owner.name_any(), &owner.namespace().unwrap_or_default(), reference, template);
    let params = PostParams::default();
    for batch in slow_start_batches(count) {
        let results = join_all((0..batch).map(|_| pods.create(&params, &pod))).await;
        let mut failure = None;
        for result in results {
            match result {
                Ok(created) => publish(state, owner, EventType::Normal, "SuccessfulCreate", format!("Created pod: {}", created.name_any())),
                Err(err) => {
                    publish(state, owner, EventType::Warning, "FailedCreate", format!("Error creating: {err}"));
                    failure = Some(err);
                }
            }
        }
        // A template the API refuses fails the same way every time: stop early.
        if let Some(err) = failure {
            return Err(err.into());
        }
    }
    Ok(())
}

async fn delete_pods<K: ReplicaOwner>(state: &State, owner: &K, pods: &Api<Pod>, doomed: &[&Pod]) -> Result<(), ControllerError> {
    let deletes = doomed.iter().map(|pod| async move {
        // Only the pod we ranked, not a namesake created since.
        let params = DeleteParams { preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }), ..Default::default() };
        (pod.name_any(), pods.delete(&pod.name_any(), &params).await)
    });
    let mut failure = None;
    for (name, result) in join_all(deletes).await {
        match result.map_err(ControllerError::from) {
            Ok(_) => publish(state, owner, EventType::Normal, "SuccessfulDelete", format!("Deleted pod: {name}")),
            Err(err) if err.is_not_found() => {}
            Err(err) => {
                publish(state, owner, EventType::Warning, "FailedDelete", format!("Error deleting: {err}"));
                failure = Some(err);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Puts our controller reference on an orphan; the resourceVersion makes it
/// fail (409, retried) if the pod changed since we listed it.
async fn adopt(pods: &Api<Pod>, pod: &Pod, reference: OwnerReference) -> Result<(), ControllerError> {
    let patch = json!({"metadata": {"ownerReferences": with_reference(pod, reference), "resourceVersion": pod.resource_version()}});
    ignore_gone(pods.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await)
}

/// Removes our reference from a pod our selector no longer matches.
async fn release(pods: &Api<Pod>, pod: &Pod, owner_uid: &str) -> Result<(), ControllerError> {
    let remaining = without_reference(pod, owner_uid);
    let references = if remaining.is_empty() { serde_json::Value::Null } else { json!(remaining) };
    let patch = json!({"metadata": {"ownerReferences": references, "resourceVersion": pod.resource_version()}});
    ignore_gone(pods.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await)
}

fn ignore_gone<T>(result: Result<T, kube::Error>) -> Result<(), ControllerError> {
    match result.map_err(ControllerError::from) {
        Err(err) if err.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Records an Event without holding up the sync.
fn publish<K: ReplicaOwner>(state: &State, owner: &K, kind: EventType, reason: &'static str, message: String) {
    let recorder = state.recorder.clone();
    let owner = owner.clone();
    tokio::spawn(async move { recorder.publish(&owner, kind, reason, message).await });
}
