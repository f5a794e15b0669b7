//! One sync of a Deployment, as upstream's syncDeployment: observe (a fresh
//! read of the Deployment and of its namespace's ReplicaSets, claimed) →
//! pick the step (paused or a change of replicas alone: only scale; else a
//! RollingUpdate or Recreate step) → scale ReplicaSets → record revision and
//! status. Each step does one kind of write and returns; the events it causes
//! bring the next sync.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::params::{desired_replicas, is_recreate, max_surge, max_unavailable};
use super::replica_sets::{is_active, spec_replicas};
use super::rolling::{new_replica_set_target, old_scale_downs, Scale};
use super::scaling::{is_scaling_event, scale_to};
use super::status::{is_complete, update_paused};
use super::sync::{State, Sync};
use crate::controllers::ControllerError;

/// How often a Recreate looks again while old pods are still terminating.
const RECREATE_POLL: Duration = Duration::from_millis(500);

/// One sync of the Deployment `object` names, read afresh.
pub async fn reconcile(object: Arc<Deployment>, state: Arc<State>) -> Result<Action, ControllerError> {
    let namespace = object.namespace().unwrap_or_default();
    let deployments: Api<Deployment> = Api::namespaced(state.client.clone(), &namespace);
    let Some(recorded) = deployments.get_opt(&object.name_any()).await? else { return Ok(Action::await_change()) };
    let mut sync = Sync::observe(&state, deployments, recorded).await?;
    let d = &sync.recorded;
    if d.metadata.deletion_timestamp.is_some() {
        return sync.finish(false, None).await;
    }
    let mut working_status = sync.d.status.clone().unwrap_or_default();
    update_paused(d, &mut working_status, sync.now);
    sync.d.status = Some(working_status);
    let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    let all: Vec<&ReplicaSet> = sync.rss.iter().collect();
    if paused || is_scaling_event(desired_replicas(d), &all) {
        return sync.scale_only(paused).await;
    }
    if is_recreate(d) {
        sync.recreate().await
    } else {
        sync.rolling_update().await
    }
}

impl Sync<'_> {
    /// Only scale (paused, or a change of replicas alone); no rollout.
    async fn scale_only(mut self, paused: bool) -> Result<Action, ControllerError> {
        let new = self.sync_revision(false).await?;
        let (_, old) = self.split();
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let scales = scale_to(self.replicas(), max_surge(&self.recorded)?, !is_recreate(&self.recorded), new.as_ref(), &old_refs);
        self.apply(&scales).await?;
        if paused {
            self.cleanup().await?;
        }
        self.finish(false, None).await
    }

    async fn rolling_update(mut self) -> Result<Action, ControllerError> {
        let new = self.sync_revision(true).await?;
        let replicas = self.replicas();
        if let Some(new) = &new {
            let all: Vec<&ReplicaSet> = self.rss.iter().collect();
            let target = new_replica_set_target(replicas, max_surge(&self.recorded)?, &all, new);
            if target != spec_replicas(new) {
                self.apply(&[Scale { name: new.name_any(), to: target }]).await?;
                return self.finish(true, None).await;
            }
        }
        let (new, old) = self.split();
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let active_old: Vec<&ReplicaSet> = old.iter().filter(|rs| is_active(rs)).collect();
        let downs = old_scale_downs(replicas, max_unavailable(&self.recorded)?, &all, &active_old, new.as_ref());
        if !downs.is_empty() {
            self.apply(&downs).await?;
            return self.finish(true, None).await;
        }
        if is_complete(&self.recorded, &self.recorded.status.clone().unwrap_or_default()) {
            self.cleanup().await?;
        }
        self.finish(true, None).await
    }

    /// Recreate: every old pod gone before the first new one.
    async fn recreate(mut self) -> Result<Action, ControllerError> {
        self.sync_revision(false).await?;
        let (_, old) = self.split();
        let downs: Vec<Scale> = old.iter().filter(|rs| is_active(rs)).map(|rs| Scale { name: rs.name_any(), to: 0 }).collect();
        if !downs.is_empty() {
            self.apply(&downs).await?;
            return self.finish(true, Some(RECREATE_POLL)).await;
        }
        if self.old_pods_running(&old).await? {
            return self.finish(true, Some(RECREATE_POLL)).await;
        }
        match self.sync_revision(true).await? {
            Some(new) if spec_replicas(&new) != self.replicas() => {
                let to = self.replicas();
                self.apply(&[Scale { name: new.name_any(), to }]).await?;
            }
            _ => {}
        }
        if is_complete(&self.recorded, &self.recorded.status.clone().unwrap_or_default()) {
            self.cleanup().await?;
        }
        self.finish(true, None).await
    }
}
