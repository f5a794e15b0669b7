//! The watches that keep the scheduler's cache and queue current: Nodes,
//! Pods and RuntimeClasses, relisted by kube-runtime's watcher whenever a
//! watch breaks. Every change wakes the scheduling loop.

use std::fmt::Debug;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::cache::QueueAction;
use super::pod_info::PodKey;
use super::state::{Shared, State};

/// Feeds every event of a watch of all `K` (retried with backoff when it
/// fails) to `apply`, under the lock, then wakes the loop.
async fn follow<K>(client: Client, what: &'static str, shared: Shared, apply: impl Fn(&mut State, Event<K>))
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let events = watcher::watcher(Api::<K>::all(client), watcher::Config::default()).default_backoff();
    let mut events = std::pin::pin!(events);
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => {
                apply(&mut shared.lock(), event);
                shared.wake();
            }
            Err(err) => tracing::warn!(error = %err, "watching {what}"),
        }
    }
}

pub async fn watch_nodes(client: Client, shared: Shared) {
    follow(client, "nodes", shared, |state, event: Event<Node>| {
        let changed = match event {
            Event::Init => {
                state.cache.begin_node_relist();
                false
            }
            Event::InitApply(node) | Event::Apply(node) => state.cache.apply_node(node),
            Event::Delete(node) => {
                state.cache.delete_node(node.metadata.name.as_deref().unwrap_or_default());
                false
            }
            Event::InitDone => {
                state.cache.end_node_relist();
                state.nodes_synced = true;
                true
            }
        };
        if changed {
            state.queue.cluster_changed(Instant::now());
        }
    })
    .await
}

pub async fn watch_pods(client: Client, shared: Shared) {
    follow(client, "pods", shared, |state, event: Event<Pod>| match event {
        Event::Init => state.cache.begin_pod_relist(),
        Event::InitApply(pod) | Event::Apply(pod) => {
            let key = PodKey::of(&pod);
            let update = state.cache.apply_pod(pod);
            match update.queue {
                QueueAction::Enqueue(pod) => state.queue.add_or_update(pod),
                QueueAction::Remove => state.queue.remove(&key),
                QueueAction::Keep => {}
            }
            if update.freed {
                state.queue.cluster_changed(Instant::now());
            }
        }
        Event::Delete(pod) => {
            let key = PodKey::of(&pod);
            state.queue.remove(&key);
            if state.cache.delete_pod(&key) {
                state.queue.cluster_changed(Instant::now());
            }
        }
        Event::InitDone => {
            for key in state.cache.end_pod_relist() {
                state.queue.remove(&key);
            }
            state.queue.cluster_changed(Instant::now());
            state.pods_synced = true;
        }
    })
    .await
}

pub async fn watch_runtime_classes(client: Client, shared: Shared) {
    follow(client, "runtime classes", shared, |state, event: Event<RuntimeClass>| {
        match event {
            Event::InitApply(class) | Event::Apply(class) => state.cache.apply_runtime_class(class),
            Event::Delete(class) => state.cache.delete_runtime_class(class.metadata.name.as_deref().unwrap_or_default()),
            Event::Init | Event::InitDone => return,
        }
        state.queue.cluster_changed(Instant::now());
    })
    .await
}
