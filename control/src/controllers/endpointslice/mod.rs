//! The EndpointSlice controller: every Service with a selector gets
//! `discovery.k8s.io/v1` EndpointSlices (labelled `kubernetes.io/service-name`,
//! managed by `endpointslice-controller.k8s.io`, owned by the Service) whose
//! endpoints carry the ready / serving / terminating conditions of the pods
//! it selects. When the Service goes, its slices go: the garbage collector
//! follows the owner references, and this controller deletes them itself too.

mod slices;

use futures::{future, StreamExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use super::endpoints::queue::{self, WorkQueue};
use super::endpoints::triggers::{self, ServiceKey};
use super::endpoints::{ignore_not_found, pods};
use super::{Context, ControllerError};
use slices::{MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL};

const CONTROLLER: &str = "endpointslice-controller";

/// Runs the EndpointSlice controller until dropped.
pub async fn run(ctx: Context) {
    let queue = WorkQueue::new();
    // Someone else edited or deleted one of our slices: put it right.
    let ours = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY}"));
    let own = watcher(Api::<EndpointSlice>::all(ctx.client.clone()), ours)
        .default_backoff()
        .touched_objects()
        .filter_map(|s| future::ready(s.ok().and_then(|s| service_key(&s))));
    let feed = triggers::feed(ctx.client.clone(), queue.clone(), own);
    let client = ctx.client.clone();
    let work = queue::work(CONTROLLER, queue, move |key| reconcile(client.clone(), key));
    tokio::join!(feed, work);
}

/// The Service a slice belongs to, from its `kubernetes.io/service-name` label.
fn service_key(slice: &EndpointSlice) -> Option<ServiceKey> {
    let name = slice.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?;
    Some(ServiceKey::new(name).within(slice.metadata.namespace.as_deref().unwrap_or("default")))
}

/// Observe the Service, its pods and its slices; create, update and delete slices to match.
async fn reconcile(client: Client, key: ServiceKey) -> Result<(), ControllerError> {
    let namespace = key.namespace.as_deref().unwrap_or("default");
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    let mine = ListParams::default().labels(&format!("{SERVICE_NAME_LABEL}={},{MANAGED_BY_LABEL}={MANAGED_BY}", key.name));
    let existing = slices.list(&mine).await?.items;
    let Some(service) = services.get_opt(&key.name).await? else {
        for slice in existing {
            delete(&slices, slice.metadata.name.as_deref().unwrap_or_default()).await?;
        }
        return Ok(());
    };
    // Without a selector the slices are the user's (or the mirroring of their Endpoints).
    let Some(selector) = pods::selector(&service) else { return Ok(()) };
    let selected = Api::<Pod>::namespaced(client, namespace)
        .list(&ListParams::default().labels(&pods::selector_query(selector)))
        .await?
        .items;
    let plan = slices::plan(&service, &selected, &existing);
    if plan.is_empty() {
        return Ok(());
    }
    tracing::debug!(service = %key, create = plan.create.len(), update = plan.update.len(), delete = plan.delete.len(), "syncing EndpointSlices");
    for name in &plan.delete {
        delete(&slices, name).await?;
    }
    for slice in &plan.update {
        slices.replace(slice.metadata.name.as_deref().unwrap_or_default(), &PostParams::default(), slice).await?;
    }
    for slice in &plan.create {
        slices.create(&PostParams::default(), slice).await?;
    }
    Ok(())
}

async fn delete(slices: &Api<EndpointSlice>, name: &str) -> Result<(), ControllerError> {
    match slices.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(err) => ignore_not_found(err.into()),
    }
}
