//! The collector's actions: each work item from the graph is checked against
//! the live API (the graph may be stale) before anything is deleted or
//! released, as upstream verifies owners by a fresh GET.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions, PropagationPolicy};
use kube::core::DynamicObject;
use kube::Client;
use serde_json::json;

use super::catalog::{Catalog, Kind};
use super::graph::{Graph, ObjectId, Observed, Work, FOREGROUND, ORPHAN};
use super::plan::{plan, OwnerState, Plan, Propagation};
use crate::controllers::ControllerError;

pub struct Collector {
    client: Client,
    catalog: Catalog,
}

/// An object as the API shows it now, with the kind that serves it.
struct Live<'a> {
    kind: &'a Kind,
    obj: DynamicObject,
}

impl Live<'_> {
    fn finalizers(&self) -> Vec<String> {
        self.obj.metadata.finalizers.clone().unwrap_or_default()
    }

    fn deleting(&self) -> bool {
        self.obj.metadata.deletion_timestamp.is_some()
    }

    fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers().iter().any(|x| x == f)
    }

    fn owner_refs(&self) -> Vec<OwnerReference> {
        self.obj.metadata.owner_references.clone().unwrap_or_default()
    }
}

impl Collector {
    pub fn new(client: Client, catalog: Catalog) -> Self {
        Collector { client, catalog }
    }

    /// Carry out one work item; returns follow-up work.
    pub async fn process(&self, graph: &Graph, work: &Work) -> Result<Vec<Work>, ControllerError> {
        match work {
            Work::AttemptToDelete(uid) => self.attempt_to_delete(graph, uid).await,
            Work::DeleteDependents(uid) => self.delete_dependents(graph, uid).await,
            Work::Orphan(uid) => self.orphan_dependents(graph, uid).await.map(|()| Vec::new()),
        }
    }

    /// The object `id` names, if it still exists with that uid.
    async fn live(&self, id: &ObjectId) -> Result<Option<Live<'_>>, ControllerError> {
        let Some(kind) = self.catalog.lookup(&id.api_version, &id.kind) else { return Ok(None) };
        let found = kind.api(&self.client, id.namespace.as_deref()).get_opt(&id.name).await?;
        Ok(found.filter(|o| o.metadata.uid.as_deref() == Some(id.uid.as_str())).map(|obj| Live { kind, obj }))
    }

    async fn owner_state(&self, dependent_ns: Option<&str>, owner: &OwnerReference) -> Result<OwnerState, ControllerError> {
        // A kind discovery does not know cannot be checked: never delete on a guess.
        let Some(kind) = self.catalog.lookup(&owner.api_version, &owner.kind) else { return Ok(OwnerState::Solid) };
        if kind.namespaced && dependent_ns.is_none() {
            // A cluster-scoped object cannot be owned by a namespaced one.
            return Ok(OwnerState::Dangling);
        }
        let found = kind.api(&self.client, dependent_ns).get_opt(&owner.name).await?;
        Ok(match found {
            Some(o) if o.metadata.uid.as_deref() == Some(owner.uid.as_str()) => {
                let waiting = o.metadata.deletion_timestamp.is_some()
                    && o.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|x| x == FOREGROUND));
                if waiting { OwnerState::WaitingForDependents } else { OwnerState::Solid }
            }
            _ => OwnerState::Dangling,
        })
    }

    async fn attempt_to_delete(&self, graph: &Graph, uid: &str) -> Result<Vec<Work>, ControllerError> {
        let Some(seen) = graph.get(uid) else { return Ok(Vec::new()) };
        let Some(live) = self.live(&seen.id).await? else { return Ok(Vec::new()) };
        if live.deleting() {
            let more = if live.has_finalizer(FOREGROUND) { vec![Work::DeleteDependents(uid.to_string())] } else { Vec::new() };
            return Ok(more);
        }
        let refs = live.owner_refs();
        if refs.is_empty() {
            return Ok(Vec::new());
        }
        let mut states = Vec::with_capacity(refs.len());
        for r in &refs {
            states.push((r.uid.clone(), self.owner_state(seen.id.namespace.as_deref(), r).await?));
        }
        match plan(&states, !graph.dependents(uid).is_empty(), &live.finalizers()) {
            Plan::Keep => {}
            Plan::DropOwnerRefs(uids) => self.drop_owner_refs(&live, |r| uids.contains(&r.uid)).await?,
            Plan::Delete(propagation) => self.delete(&live, propagation).await?,
        }
        Ok(Vec::new())
    }

    async fn delete(&self, live: &Live<'_>, propagation: Propagation) -> Result<(), ControllerError> {
        let policy = match propagation {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        };
        let params = DeleteParams {
            propagation_policy: Some(policy),
            preconditions: Some(Preconditions { uid: live.obj.metadata.uid.clone(), resource_version: None }),
            ..DeleteParams::default()
        };
        let name = live.obj.metadata.name.clone().unwrap_or_default();
        tracing::info!(kind = %live.kind.resource.kind, namespace = ?live.obj.metadata.namespace, %name, policy = propagation.as_str(), "garbage collecting");
        match live.kind.api(&self.client, live.obj.metadata.namespace.as_deref()).delete(&name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Rewrite the object's ownerReferences without those `drop` matches,
    /// guarded by its resourceVersion (a 409 retries the whole item).
    async fn drop_owner_refs(&self, live: &Live<'_>, drop: impl Fn(&OwnerReference) -> bool) -> Result<(), ControllerError> {
        let refs = live.owner_refs();
        let kept: Vec<&OwnerReference> = refs.iter().filter(|r| !drop(r)).collect();
        if kept.len() == refs.len() {
            return Ok(());
        }
        // An emptied list is removed altogether, as upstream's patch leaves it.
        let kept = if kept.is_empty() { serde_json::Value::Null } else { json!(kept) };
        let patch = json!({"metadata": {"resourceVersion": live.obj.metadata.resource_version, "ownerReferences": kept}});
        self.patch(live, patch).await
    }

    async fn patch(&self, live: &Live<'_>, patch: serde_json::Value) -> Result<(), ControllerError> {
        let name = live.obj.metadata.name.clone().unwrap_or_default();
        let api = live.kind.api(&self.client, live.obj.metadata.namespace.as_deref());
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn remove_finalizer(&self, live: &Live<'_>, finalizer: &str) -> Result<(), ControllerError> {
        let kept: Vec<String> = live.finalizers().into_iter().filter(|f| f != finalizer).collect();
        let patch = json!({"metadata": {"resourceVersion": live.obj.metadata.resource_version, "finalizers": kept}});
        self.patch(live, patch).await
    }

    /// An owner in foreground deletion: its dependents go first; once none
    /// that blocks it is left, its `foregroundDeletion` finalizer goes.
    async fn delete_dependents(&self, graph: &Graph, uid: &str) -> Result<Vec<Work>, ControllerError> {
        let Some(seen) = graph.get(uid) else { return Ok(Vec::new()) };
        let Some(live) = self.live(&seen.id).await? else { return Ok(Vec::new()) };
        if !(live.deleting() && live.has_finalizer(FOREGROUND)) {
            return Ok(Vec::new());
        }
        if graph.blocking_dependents(uid).is_empty() {
            self.remove_finalizer(&live, FOREGROUND).await?;
            return Ok(Vec::new());
        }
        let pending = graph.dependents(uid).into_iter().filter(|d| !d.deleting).map(|d: &Observed| Work::AttemptToDelete(d.id.uid.clone()));
        Ok(pending.collect())
    }

    /// An owner deleted with Orphan: every dependent loses its reference to
    /// it, then the `orphan` finalizer goes.
    async fn orphan_dependents(&self, graph: &Graph, uid: &str) -> Result<(), ControllerError> {
        let Some(seen) = graph.get(uid) else { return Ok(()) };
        let Some(owner) = self.live(&seen.id).await? else { return Ok(()) };
        if !(owner.deleting() && owner.has_finalizer(ORPHAN)) {
            return Ok(());
        }
        for dependent in graph.dependents(uid) {
            if let Some(live) = self.live(&dependent.id).await? {
                self.drop_owner_refs(&live, |r| r.uid == uid).await?;
            }
        }
        self.remove_finalizer(&owner, ORPHAN).await
    }
}
