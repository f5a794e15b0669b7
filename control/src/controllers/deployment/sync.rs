//! The observe and act primitives of a Deployment sync: its ReplicaSets
//! claimed, the new one found (or created) with its revision, ReplicaSets
//! scaled with their annotations and Events, history pruned, and the
//! revision and status recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::cleanup::beyond_history_limit;
use super::new_replica_set::new_replica_set;
use super::params::{desired_replicas, is_recreate, max_surge, max_unavailable};
use super::replica_sets::{sort_oldest_first, spec_replicas, REVISION};
use super::revision::{new_replica_set_annotations, next_revision, replica_annotations};
use super::rolling::{initial_replicas, Scale};
use super::status::{self, calculate, deadline_recheck, get_condition, new_condition, set_condition, update_progress};
use super::template_hash::same_template;
use crate::controllers::replicaset::claim::{claim, controller_ref, with_reference, without_reference};
use crate::controllers::replicaset::new_pod::controller_reference;
use crate::controllers::replicaset::selector::PodSelector;
use crate::controllers::ControllerError;
use crate::events::{EventType, Recorder};

/// What every sync shares.
pub struct State {
    pub client: Client,
    pub recorder: Recorder,
}

/// The state of one sync: the Deployment as read, a working copy whose
/// revision annotation and conditions the steps update, and its ReplicaSets
/// kept current after every write.
pub(super) struct Sync<'a> {
    state: &'a State,
    deployments: Api<Deployment>,
    replica_sets: Api<ReplicaSet>,
    /// The Deployment as read.
    pub(super) recorded: Deployment,
    /// The working copy: revision annotation and conditions.
    pub(super) d: Deployment,
    /// Its ReplicaSets, current after every write.
    pub(super) rss: Vec<ReplicaSet>,
    pub(super) now: Timestamp,
}

impl<'a> Sync<'a> {
    pub(super) async fn observe(state: &'a State, deployments: Api<Deployment>, recorded: Deployment) -> Result<Sync<'a>, ControllerError> {
        let namespace = recorded.namespace().unwrap_or_default();
        let replica_sets: Api<ReplicaSet> = Api::namespaced(state.client.clone(), &namespace);
        let selector = PodSelector::from_label_selector(recorded.spec.as_ref().map(|s| &s.selector))?;
        let listed = replica_sets.list(&ListParams::default()).await?.items;
        let uid = recorded.uid().unwrap_or_default();
        let claims = claim(&uid, recorded.metadata.deletion_timestamp.is_some(), &selector, &listed);
        for rs in &claims.release {
            let remaining = without_reference(*rs, &uid);
            let references = if remaining.is_empty() { serde_json::Value::Null } else { json!(remaining) };
            let patch = json!({"metadata": {"ownerReferences": references, "resourceVersion": rs.resource_version()}});
            ignore_gone(replica_sets.patch(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await)?;
        }
        let mut rss: Vec<ReplicaSet> = claims.owned.into_iter().cloned().collect();
        for rs in claims.adopt {
            let patch = json!({"metadata": {"ownerReferences": with_reference(rs, controller_reference(&recorded)), "resourceVersion": rs.resource_version()}});
            rss.push(replica_sets.patch(&rs.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?);
        }
        Ok(Sync { state, deployments, replica_sets, d: recorded.clone(), recorded, rss, now: Timestamp::now() })
    }

    pub(super) fn replicas(&self) -> i32 {
        desired_replicas(&self.recorded)
    }

    /// The new ReplicaSet (the oldest whose template is the Deployment's) and the others.
    pub(super) fn split(&self) -> (Option<ReplicaSet>, Vec<ReplicaSet>) {
        let template = self.recorded.spec.as_ref().map(|s| &s.template);
        let mut matching: Vec<&ReplicaSet> = self.rss.iter().filter(|rs| same_template(rs.spec.as_ref().and_then(|s| s.template.as_ref()), template)).collect();
        sort_oldest_first(&mut matching);
        let new = matching.first().map(|rs| (*rs).clone());
        let new_name = new.as_ref().map(|rs| rs.name_any());
        let old = self.rss.iter().filter(|rs| Some(rs.name_any()) != new_name).cloned().collect();
        (new, old)
    }

    /// Upstream's getAllReplicaSetsAndSyncRevision: brings the new ReplicaSet's
    /// revision and copied annotations up to date, or creates it if `create`.
    pub(super) async fn sync_revision(&mut self, create: bool) -> Result<Option<ReplicaSet>, ControllerError> {
        let (new, old) = self.split();
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let revision = next_revision(&old_refs);
        let deployment_annotations = self.recorded.annotations().clone();
        let min_ready = self.recorded.spec.as_ref().and_then(|s| s.min_ready_seconds);
        if let Some(existing) = new {
            let annotations = new_replica_set_annotations(&deployment_annotations, existing.annotations(), revision);
            let min_ready_stale = existing.spec.as_ref().and_then(|s| s.min_ready_seconds) != min_ready;
            let existing = if &annotations != existing.annotations() || min_ready_stale {
                let patch = json!({"metadata": {"annotations": annotations}, "spec": {"minReadySeconds": min_ready}});
                let updated = self.replica_sets.patch(&existing.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
                self.remember(updated.clone());
                updated
            } else {
                existing
            };
            self.set_revision(&existing);
            if status::progress_deadline(&self.recorded).is_some() && get_condition(self.working_status(), status::PROGRESSING).is_none() {
                let message = format!("Found new replica set {:?}", existing.name_any());
                self.set_condition(status::PROGRESSING, "True", status::FOUND_NEW_RS, &message);
            }
            return Ok(Some(existing));
        }
        if !create {
            return Ok(None);
        }
        let surge = max_surge(&self.recorded)?;
        let replicas = if is_recreate(&self.recorded) { self.replicas() } else { initial_replicas(self.replicas(), surge, &old_refs) };
        let mut annotations = new_replica_set_annotations(&deployment_annotations, &BTreeMap::new(), revision);
        annotations.extend(replica_annotations(self.replicas(), surge).map(|(k, v)| (k.to_string(), v)));
        let wanted = new_replica_set(&self.recorded, replicas, annotations);
        match self.replica_sets.create(&PostParams::default(), &wanted).await {
            Ok(created) => {
                if replicas > 0 {
                    self.publish(format!("Scaled up replica set {} from 0 to {replicas}", created.name_any()));
                }
                if status::progress_deadline(&self.recorded).is_some() {
                    let message = format!("Created new replica set {:?}", created.name_any());
                    self.set_condition(status::PROGRESSING, "True", status::NEW_RS_CREATED, &message);
                }
                self.set_revision(&created);
                self.remember(created.clone());
                Ok(Some(created))
            }
            Err(err) => {
                let err = ControllerError::from(err);
                if err.is_conflict() {
                    self.name_taken(&wanted).await?;
                }
                // A 409 is retried at once: by then the name is found or changed.
                Err(err)
            }
        }
    }

    /// The new ReplicaSet's name is taken. If by our own ReplicaSet for this
    /// template (a list that raced its creation, or an orphan to adopt), the
    /// next sync finds it; if by another, the hash collided: bump the
    /// collision count so the next sync picks another name.
    pub(super) async fn name_taken(&self, wanted: &ReplicaSet) -> Result<(), ControllerError> {
        let Some(existing) = self.replica_sets.get_opt(&wanted.name_any()).await? else { return Ok(()) };
        let template = |rs: &ReplicaSet| rs.spec.as_ref().and_then(|s| s.template.as_ref()).cloned();
        let owner_uid = controller_ref(&existing).map(|r| r.uid.clone());
        let ours_or_orphan = owner_uid.is_none() || owner_uid == self.recorded.metadata.uid;
        if ours_or_orphan && same_template(template(&existing).as_ref(), template(wanted).as_ref()) {
            return Ok(());
        }
        let count = self.recorded.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0).saturating_add(1);
        let patch = json!({"status": {"collisionCount": count}});
        self.deployments.patch_status(&self.recorded.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
        Ok(())
    }

    /// Whether a pod of an old ReplicaSet still exists and has not finished.
    pub(super) async fn old_pods_running(&self, old: &[ReplicaSet]) -> Result<bool, ControllerError> {
        let namespace = self.recorded.namespace().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.state.client.clone(), &namespace);
        let old_uids: Vec<String> = old.iter().filter_map(|rs| rs.uid()).collect();
        let listed = pods.list(&ListParams::default()).await?.items;
        Ok(listed.iter().any(|pod| {
            let finished = matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
            controller_ref(pod).is_some_and(|r| old_uids.contains(&r.uid)) && !finished
        }))
    }

    /// Brings each named ReplicaSet to its size, with the annotations saying
    /// for which Deployment size; an Event for every size change.
    pub(super) async fn apply(&mut self, scales: &[Scale]) -> Result<(), ControllerError> {
        let replicas = self.replicas();
        let surge = max_surge(&self.recorded)?;
        let annotations: BTreeMap<String, String> = replica_annotations(replicas, surge).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        for scale in scales {
            let Some(current) = self.rss.iter().find(|rs| rs.name_any() == scale.name).cloned() else { continue };
            let from = spec_replicas(&current);
            let annotated = annotations.iter().all(|(k, v)| current.annotations().get(k) == Some(v));
            if from == scale.to && annotated {
                continue;
            }
            let patch = json!({"metadata": {"annotations": annotations}, "spec": {"replicas": scale.to}});
            let updated = self.replica_sets.patch(&scale.name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
            self.remember(updated);
            if from != scale.to {
                let direction = if scale.to > from { "up" } else { "down" };
                self.publish(format!("Scaled {direction} replica set {} from {from} to {}", scale.name, scale.to));
            }
        }
        Ok(())
    }

    /// Deletes old ReplicaSets beyond revisionHistoryLimit.
    pub(super) async fn cleanup(&mut self) -> Result<(), ControllerError> {
        let (_, old) = self.split();
        let old_refs: Vec<&ReplicaSet> = old.iter().collect();
        let limit = self.recorded.spec.as_ref().and_then(|s| s.revision_history_limit);
        for rs in beyond_history_limit(&old_refs, limit) {
            let params = DeleteParams { preconditions: Some(Preconditions { uid: rs.uid(), resource_version: None }), ..Default::default() };
            ignore_gone(self.replica_sets.delete(&rs.name_any(), &params).await)?;
            self.rss.retain(|kept| kept.uid() != rs.uid());
        }
        Ok(())
    }

    /// Records the revision annotation and the status; says when to look again.
    pub(super) async fn finish(self, rollout: bool, poll: Option<Duration>) -> Result<Action, ControllerError> {
        let (new, _) = self.split();
        let all: Vec<&ReplicaSet> = self.rss.iter().collect();
        let mut status = calculate(&self.d, &all, new.as_ref(), max_unavailable(&self.recorded)?, self.now);
        if rollout {
            update_progress(&self.d, &mut status, new.as_ref().map(|rs| rs.name_any()).as_deref(), self.now);
        }
        let name = self.recorded.name_any();
        let revision = self.d.annotations().get(REVISION).cloned();
        if revision.is_some() && revision.as_ref() != self.recorded.annotations().get(REVISION) {
            let patch = json!({"metadata": {"annotations": {REVISION: revision}}});
            self.deployments.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        if self.recorded.status.as_ref() != Some(&status) {
            let patch = json!({"status": status});
            self.deployments.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await?;
        }
        let recheck = deadline_recheck(&self.recorded, &status, self.now);
        Ok(match [poll, recheck].into_iter().flatten().min() {
            Some(after) => Action::requeue(after),
            None => Action::await_change(),
        })
    }

    pub(super) fn working_status(&mut self) -> &mut DeploymentStatus {
        self.d.status.get_or_insert_with(Default::default)
    }

    pub(super) fn set_condition(&mut self, type_: &str, status: &str, reason: &str, message: &str) {
        let condition = new_condition(type_, status, reason, message, self.now);
        set_condition(self.working_status(), condition);
    }

    /// The Deployment's revision follows its new ReplicaSet's.
    pub(super) fn set_revision(&mut self, new: &ReplicaSet) {
        if let Some(revision) = new.annotations().get(REVISION).cloned() {
            self.d.annotations_mut().insert(REVISION.into(), revision);
        }
    }

    /// Replaces our copy of a ReplicaSet with what the API returned.
    pub(super) fn remember(&mut self, rs: ReplicaSet) {
        match self.rss.iter_mut().find(|kept| kept.uid() == rs.uid()) {
            Some(kept) => *kept = rs,
            None => self.rss.push(rs),
        }
    }

    /// A ScalingReplicaSet Event on the Deployment, without holding up the sync.
    pub(super) fn publish(&self, message: String) {
        let recorder = self.state.recorder.clone();
        let deployment = self.recorded.clone();
        tokio::spawn(async move { recorder.publish(&deployment, EventType::Normal, "ScalingReplicaSet", message).await });
    }
}

fn ignore_gone<T>(result: Result<T, kube::Error>) -> Result<(), ControllerError> {
    match result.map_err(ControllerError::from) {
        Err(err) if err.is_not_found() => Ok(()),
        other => other.map(|_| ()),
    }
}
