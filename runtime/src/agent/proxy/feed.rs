//! Keeps a [`ServiceTable`] current: one watch of every Service and one of
//! every EndpointSlice, each buffered through a (re)list and applied as a
//! whole at its end, so the table never shows half a list.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use super::model::{ServiceInfo, ServiceKey, SliceInfo};
use super::table::ServiceTable;

/// Runs both watches until dropped.
pub async fn feed(client: Client, table: ServiceTable) {
    let services = watcher(Api::<Service>::all(client.clone()), watcher::Config::default()).default_backoff();
    let slices = watcher(Api::<EndpointSlice>::all(client), watcher::Config::default()).default_backoff();
    tokio::join!(feed_services(services, table.clone()), feed_slices(slices, table));
}

async fn feed_services(stream: impl Stream<Item = Result<Event<Service>, watcher::Error>>, table: ServiceTable) {
    let mut stream = std::pin::pin!(stream);
    let mut listing: Vec<ServiceInfo> = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listing.clear(),
            Ok(Event::InitApply(svc)) => listing.extend(ServiceInfo::from_service(&svc)),
            Ok(Event::InitDone) => table.replace_services(std::mem::take(&mut listing)),
            Ok(Event::Apply(svc)) => {
                if let Some(info) = ServiceInfo::from_service(&svc) {
                    table.apply_service(info);
                }
            }
            Ok(Event::Delete(svc)) => {
                if let (Some(ns), Some(name)) = (svc.metadata.namespace.as_deref(), svc.metadata.name.as_deref()) {
                    table.delete_service(&ServiceKey::new(ns, name));
                }
            }
            // The backoff retries; the table keeps what it had meanwhile.
            Err(err) => tracing::debug!(error = %err, "service watch interrupted"),
        }
    }
}

async fn feed_slices(stream: impl Stream<Item = Result<Event<EndpointSlice>, watcher::Error>>, table: ServiceTable) {
    let mut stream = std::pin::pin!(stream);
    let mut listing: Vec<(String, String, SliceInfo)> = Vec::new();
    let id = |s: &EndpointSlice| Some((s.metadata.namespace.clone()?, s.metadata.name.clone()?));
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listing.clear(),
            Ok(Event::InitApply(slice)) => {
                if let (Some((ns, name)), Some(info)) = (id(&slice), SliceInfo::from_slice(&slice)) {
                    listing.push((ns, name, info));
                }
            }
            Ok(Event::InitDone) => table.replace_slices(std::mem::take(&mut listing)),
            Ok(Event::Apply(slice)) => {
                if let Some((ns, name)) = id(&slice) {
                    // A slice that lost its service-name label is filed under nothing.
                    table.apply_slice(&ns, &name, SliceInfo::from_slice(&slice));
                }
            }
            Ok(Event::Delete(slice)) => {
                if let Some((ns, name)) = id(&slice) {
                    table.apply_slice(&ns, &name, None);
                }
            }
            Err(err) => tracing::debug!(error = %err, "endpointslice watch interrupted"),
        }
    }
}
