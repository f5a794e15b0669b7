//! The Deployment controller: a Deployment owns ReplicaSets named
//! `<deployment>-<pod-template-hash>`, one per template it has had, and moves
//! pods from the old ones to the new one by RollingUpdate (within maxSurge /
//! maxUnavailable, honouring readiness and minReadySeconds) or Recreate,
//! keeping revisions for `kubectl rollout history / undo`, old ReplicaSets up
//! to revisionHistoryLimit, and the status `kubectl rollout status` reads.
//!
//! Triggers: the Deployment, and every ReplicaSet event mapped to the
//! Deployment that controls it or, for an orphan, to the Deployments whose
//! selector matches it.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, Controller};
use kube::{Api, Resource, ResourceExt};

use super::replicaset::claim::controller_ref;
use super::replicaset::selector::PodSelector;
use super::{Context, ControllerError};

mod cleanup;
mod new_replica_set;
mod params;
mod reconcile;
mod replica_sets;
mod revision;
mod rolling;
mod scaling;
mod status;
mod sync;
pub mod template_hash;

use reconcile::reconcile;
use sync::State;

/// Runs the Deployment controller until dropped.
pub async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<Deployment>::all(client.clone()), watcher::Config::default());
    let deployments = controller.store();
    let state = Arc::new(State { client: client.clone(), recorder: ctx.recorder("deployment-controller") });
    controller
        .watches(Api::<ReplicaSet>::all(client), watcher::Config::default(), move |rs| deployments_to_wake(&deployments, &rs))
        .run(reconcile, error_policy, state)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "deployment sync failed");
            }
        })
        .await;
}

/// The Deployments a ReplicaSet event concerns: its controller if that is a
/// Deployment, else (an orphan) those of its namespace whose selector matches it.
fn deployments_to_wake(deployments: &Store<Deployment>, rs: &ReplicaSet) -> Vec<ObjectRef<Deployment>> {
    let namespace = rs.namespace();
    if let Some(reference) = controller_ref(rs) {
        let ours = reference.kind == Deployment::kind(&()) && reference.api_version == Deployment::api_version(&());
        return match (ours, namespace) {
            (true, Some(ns)) => vec![ObjectRef::new(&reference.name).within(&ns)],
            _ => Vec::new(),
        };
    }
    deployments
        .state()
        .iter()
        .filter(|d| d.namespace() == namespace)
        .filter(|d| PodSelector::from_label_selector(d.spec.as_ref().map(|s| &s.selector)).is_ok_and(|s| s.matches(rs.metadata.labels.as_ref())))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

fn error_policy(d: Arc<Deployment>, err: &ControllerError, _: Arc<State>) -> Action {
    tracing::debug!(name = %d.name_any(), error = %err, "deployment sync failed; retrying");
    match err {
        _ if err.is_conflict() => Action::requeue(Duration::from_millis(50)),
        // A bad selector or maxSurge: nothing changes until the Deployment does.
        ControllerError::Invalid(_) => Action::requeue(Duration::from_secs(300)),
        ControllerError::Api(_) => Action::requeue(Duration::from_secs(2)),
    }
}
