//! Keeps the routing table current: watches Ingresses and IngressClasses,
//! rebuilds [`Routes`] from the Ingresses of our class after every change,
//! and publishes this node's address in their status (and takes it back from
//! one moved to another class).

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};
use tokio::sync::watch;

use super::class::OurClasses;
use super::rules::Routes;
use super::status;

/// How long to wait before retrying a failed status write.
const STATUS_RETRY: Duration = Duration::from_secs(2);

/// Runs until cancelled, sending each new table to `routes`.
pub async fn keep_routes(client: Client, node_ip: IpAddr, routes: watch::Sender<Arc<Routes>>) {
    let (ingresses, ingress_writer) = reflector::store::<Ingress>();
    let (classes, class_writer) = reflector::store::<IngressClass>();
    let ingress_events = watcher::watcher(Api::<Ingress>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(ingress_writer)
        .map(|e| e.map(|_| ()))
        .boxed();
    let class_events = watcher::watcher(Api::<IngressClass>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(class_writer)
        .map(|e| e.map(|_| ()))
        .boxed();
    let mut events = futures::stream::select(ingress_events, class_events);
    let mut retry_at: Option<tokio::time::Instant> = None;
    let mut published = HashSet::new();
    loop {
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(())) => {}
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "ingress watch failed; retrying");
                    continue;
                }
                None => return,
            },
            () = retry => retry_at = None,
        }
        let failed = sync(&client, node_ip, &ingresses, &classes, &routes, &mut published).await;
        if failed && retry_at.is_none() {
            retry_at = Some(tokio::time::Instant::now() + STATUS_RETRY);
        }
    }
}

/// Rebuilds the table and publishes our address; true when a status write failed.
/// `published` holds the uids this agent wrote its address to: only from those is it
/// withdrawn (another controller may well announce the same node address).
async fn sync(
    client: &Client,
    node_ip: IpAddr,
    ingresses: &Store<Ingress>,
    classes: &Store<IngressClass>,
    routes: &watch::Sender<Arc<Routes>>,
    published: &mut HashSet<String>,
) -> bool {
    let ours = OurClasses::from(&classes.state());
    let all = ingresses.state();
    let (mine, others): (Vec<&Ingress>, Vec<&Ingress>) =
        all.iter().map(|i| i.as_ref()).filter(|i| i.metadata.deletion_timestamp.is_none()).partition(|i| ours.owns(i));
    let table = Arc::new(Routes::build(&mine));
    routes.send_replace(table);
    let mut failed = false;
    for ing in &mine {
        if let Some(uid) = &ing.metadata.uid {
            published.insert(uid.clone());
        }
    }
    for ing in mine.iter().filter(|i| !status::lists(i, node_ip)) {
        if let Err(err) = status::publish(client, ing, node_ip).await {
            tracing::debug!(ingress = ?ing.metadata.name, error = %err, "publishing the ingress address; retrying");
            failed = true;
        }
    }
    let moved_away: Vec<&Ingress> =
        others.into_iter().filter(|i| i.metadata.uid.as_ref().is_some_and(|u| published.contains(u)) && status::lists(i, node_ip)).collect();
    for ing in moved_away {
        match status::withdraw(client, ing, node_ip).await {
            Ok(()) => {
                published.remove(ing.metadata.uid.as_deref().unwrap_or_default());
            }
            Err(err) => {
                tracing::debug!(ingress = ?ing.metadata.name, error = %err, "withdrawing the ingress address; retrying");
                failed = true;
            }
        }
    }
    // Forget deleted Ingresses, and other classes' ones without our address.
    published.retain(|uid| all.iter().any(|i| i.metadata.uid.as_ref() == Some(uid) && (ours.owns(i) || status::lists(i, node_ip))));
    failed
}
