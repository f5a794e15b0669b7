//! Keeps a [`ServiceTable`] current: one watch of every Service, one of
//! every EndpointSlice and one of every Endpoints (for hand-written
//! endpoints of Services without slices), each buffered through a (re)list
//! and applied as a whole at its end, so the table never shows half a list.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client};

use super::model::{slices_from_endpoints, ServiceInfo, ServiceKey, SliceInfo};
use super::table::ServiceTable;

/// Runs both watches until dropped.
pub async fn feed(client: Client, table: ServiceTable) {
    let services = watcher(Api::<Service>::all(client.clone()), watcher::Config::default()).default_backoff();
    let slices = watcher(Api::<EndpointSlice>::all(client.clone()), watcher::Config::default()).default_backoff();
    let endpoints = watcher(Api::<Endpoints>::all(client), watcher::Config::default()).default_backoff();
    tokio::join!(feed_services(services, table.clone()), feed_slices(slices, table.clone()), feed_endpoints(endpoints, table));
}

async fn feed_endpoints(stream: impl Stream<Item = Result<Event<Endpoints>, watcher::Error>>, table: ServiceTable) {
    let mut stream = std::pin::pin!(stream);
    let mut listing = Vec::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listing.clear(),
            Ok(Event::InitApply(ep)) => listing.extend(slices_from_endpoints(&ep)),
            Ok(Event::InitDone) => table.replace_endpoints(std::mem::take(&mut listing)),
            Ok(Event::Apply(ep)) => {
                if let Some((key, slices)) = slices_from_endpoints(&ep) {
                    table.apply_endpoints(key, Some(slices));
                }
            }
            Ok(Event::Delete(ep)) => {
                if let (Some(ns), Some(name)) = (ep.metadata.namespace.as_deref(), ep.metadata.name.as_deref()) {
                    table.apply_endpoints(ServiceKey::new(ns, name), None);
                }
            }
            Err(err) => tracing::debug!(error = %err, "endpoints watch interrupted"),
        }
    }
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
