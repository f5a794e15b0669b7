//! The Endpoints controller: every Service with a selector gets an Endpoints
//! object of the same name listing the pods it selects, ready ones in
//! `addresses` and the others in `notReadyAddresses`, with the Service's
//! ports resolved on each pod. Services without a selector keep the
//! Endpoints their users write. When a Service goes, its Endpoints go.
//!
//! The pod logic, the work queue and the watch triggers here are shared with
//! the EndpointSlice controller.

pub(crate) mod pods;
pub(crate) mod queue;
mod subsets;
pub(crate) mod triggers;

use futures::{future, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use self::queue::WorkQueue;
use self::subsets::Change;
use self::triggers::ServiceKey;
use super::{Context, ControllerError};

const CONTROLLER: &str = "endpoint-controller";

/// Runs the Endpoints controller until dropped.
pub async fn run(ctx: Context) {
    let queue = WorkQueue::new();
    // Someone else edited or deleted an Endpoints object: put it right.
    let own = watcher(Api::<Endpoints>::all(ctx.client.clone()), watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .filter_map(|e| future::ready(e.ok().map(|e| service_key(&e))));
    let feed = triggers::feed(ctx.client.clone(), queue.clone(), own);
    let client = ctx.client.clone();
    let work = queue::work(CONTROLLER, queue, move |key| reconcile(client.clone(), key));
    tokio::join!(feed, work);
}

/// The Service an Endpoints object belongs to: the one of the same name.
fn service_key(endpoints: &Endpoints) -> ServiceKey {
    let key = ServiceKey::new(endpoints.metadata.name.as_deref().unwrap_or_default());
    key.within(endpoints.metadata.namespace.as_deref().unwrap_or("default"))
}

/// Observe the Service, its pods and its Endpoints; write the Endpoints if they differ.
async fn reconcile(client: Client, key: ServiceKey) -> Result<(), ControllerError> {
    let namespace = key.namespace.as_deref().unwrap_or("default");
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let endpoints: Api<Endpoints> = Api::namespaced(client.clone(), namespace);
    let Some(service) = services.get_opt(&key.name).await? else {
        return match endpoints.delete(&key.name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(err) => ignore_not_found(err.into()),
        };
    };
    let Some(selector) = pods::selector(&service) else { return Ok(()) };
    let selected = Api::<Pod>::namespaced(client, namespace)
        .list(&ListParams::default().labels(&pods::selector_query(selector)))
        .await?
        .items;
    let current = endpoints.get_opt(&key.name).await?;
    match subsets::plan(&service, &selected, current.as_ref()) {
        Change::Create(object) => {
            endpoints.create(&PostParams::default(), &object).await?;
        }
        Change::Update(object) => {
            endpoints.replace(&key.name, &PostParams::default(), &object).await?;
        }
        Change::Nothing => {}
    }
    Ok(())
}

/// Gone already is as good as deleted.
pub(crate) fn ignore_not_found(err: ControllerError) -> Result<(), ControllerError> {
    if err.is_not_found() {
        Ok(())
    } else {
        Err(err)
    }
}
