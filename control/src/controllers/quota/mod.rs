//! The resource quota controller: keeps each ResourceQuota's `status.hard`
//! and `status.used` current, so `kubectl describe quota` shows Used/Hard.
//! It recounts a quota's namespace when the quota or a pod, service, claim,
//! ConfigMap or Secret in it changes, and every few seconds regardless (for
//! `count/` quotas on other kinds). Admission never trusts `status.used`: it
//! counts from the store itself (api/handlers/quota).

pub mod format;
pub mod usage;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, ResourceQuota, Secret, Service};
use kube::api::{ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{json, Map, Value};
use tokio::sync::OnceCell;

use super::gc::catalog::Catalog;
use super::{Context, ControllerError};
use format::canonical;
use usage::{Hard, ResourceList};

/// How often every quota is recounted even when nothing was seen to change.
const RECOUNT: Duration = Duration::from_secs(10);

struct State {
    client: Client,
    catalog: OnceCell<Catalog>,
}

impl State {
    async fn catalog(&self) -> Result<&Catalog, ControllerError> {
        Ok(self.catalog.get_or_try_init(|| Catalog::discover(&self.client)).await?)
    }
}

pub async fn run(ctx: Context) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<ResourceQuota>::all(client.clone()), watcher::Config::default());
    let quotas = controller.store();
    let config = || watcher::Config::default();
    controller
        .watches(Api::<Pod>::all(client.clone()), config(), quotas_of(quotas.clone()))
        .watches(Api::<Service>::all(client.clone()), config(), quotas_of(quotas.clone()))
        .watches(Api::<PersistentVolumeClaim>::all(client.clone()), config(), quotas_of(quotas.clone()))
        .watches(Api::<ConfigMap>::all(client.clone()), config(), quotas_of(quotas.clone()))
        .watches(Api::<Secret>::all(client.clone()), config(), quotas_of(quotas))
        .run(reconcile, error_policy, Arc::new(State { client, catalog: OnceCell::new() }))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "resource quota controller");
            }
        })
        .await;
}

/// Maps a changed object to every quota of its namespace.
fn quotas_of<K: Resource>(quotas: Store<ResourceQuota>) -> impl Fn(K) -> Vec<ObjectRef<ResourceQuota>> + Send + Sync + 'static {
    move |obj: K| {
        let ns = obj.meta().namespace.clone();
        quotas.state().iter().filter(|q| q.metadata.namespace == ns).map(|q| ObjectRef::from_obj(&**q)).collect()
    }
}

fn error_policy(_: Arc<ResourceQuota>, err: &ControllerError, _: Arc<State>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(100));
    }
    tracing::warn!(error = %err, "resource quota controller: retrying");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(quota: Arc<ResourceQuota>, state: Arc<State>) -> Result<Action, ControllerError> {
    let ns = quota.namespace().unwrap_or_default();
    let as_json = serde_json::to_value(&*quota).map_err(|e| ControllerError::Invalid(e.to_string()))?;
    let hard = Hard::of(&as_json);
    let used = count(&state, &ns, &hard).await?;
    let status = status_of(&hard, &used);
    let current = as_json.get("status").cloned().unwrap_or(Value::Null);
    if current.get("hard") != status.get("hard") || current.get("used") != status.get("used") {
        let api: Api<ResourceQuota> = Api::namespaced(state.client.clone(), &ns);
        api.patch_status(&quota.name_any(), &PatchParams::default(), &Patch::Merge(json!({"status": status}))).await?;
    }
    Ok(Action::requeue(RECOUNT))
}

/// What the namespace uses of each resource the quota limits.
async fn count(state: &State, ns: &str, hard: &Hard) -> Result<ResourceList, ControllerError> {
    let kinds: BTreeSet<(String, String)> = hard.amounts.keys().filter_map(|r| usage::counted_kind(r)).collect();
    let mut used = ResourceList::new();
    for (group, plural) in kinds {
        let Some(kind) = state.catalog().await?.by_plural(&group, &plural) else { continue };
        let list = kind.api(&state.client, Some(ns)).list(&ListParams::default()).await?;
        for obj in list.items {
            let obj = serde_json::to_value(&obj).map_err(|e| ControllerError::Invalid(e.to_string()))?;
            if usage::in_scope(&hard.scopes, &group, &plural, &obj) {
                usage::add(&mut used, &usage::usage(&group, &plural, &obj));
            }
        }
    }
    Ok(used)
}

/// `status` with `hard` as the spec states it and `used` for each of its resources.
fn status_of(hard: &Hard, used: &ResourceList) -> Value {
    let mut h = Map::new();
    let mut u = Map::new();
    for (name, limit) in &hard.amounts {
        let binary = hard.binary(name);
        h.insert(name.clone(), json!(canonical(*limit, binary)));
        u.insert(name.clone(), json!(canonical(used.get(name).copied().unwrap_or_default(), binary)));
    }
    json!({"hard": h, "used": u})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::validation::quantity::Quantity;

    #[test]
    fn status_lists_every_hard_resource_with_its_use() {
        let quota = json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "2", "requests.memory": "2Gi"}}});
        let hard = Hard::of(&quota);
        let used = ResourceList::from([("pods".to_string(), Quantity::from_units(1))]);
        assert_eq!(status_of(&hard, &used), json!({"hard": {"pods": "2", "requests.memory": "2Gi"}, "used": {"pods": "1", "requests.memory": "0"}}));
    }
}
