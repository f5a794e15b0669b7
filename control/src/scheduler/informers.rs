//! The watches that keep the scheduler's cache and queue current: Nodes,
//! Pods and RuntimeClasses, relisted by kube-runtime's watcher whenever a
//! watch breaks. Every change wakes the scheduling loop.

use std::fmt::Debug;
use std::time::Instant;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::cache::QueueAction;
use super::pod_info::PodKey;
use super::state::Shared;

/// A watch of every `K`, retried with backoff when it fails.
fn watch<K>(client: &Client) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff()
}

pub async fn watch_nodes(client: Client, shared: Shared) {
    let mut events = std::pin::pin!(watch::<Node>(&client));
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, "watching nodes");
                continue;
            }
        };
        let mut state = shared.lock();
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
        drop(state);
        shared.wake();
    }
}

pub async fn watch_pods(client: Client, shared: Shared) {
    let mut events = std::pin::pin!(watch::<Pod>(&client));
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!(error = %err, "watching pods");
                continue;
            }
        };
        let mut state = shared.lock();
        match event {
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
        }
        drop(state);
        shared.wake();
    }
}

pub async fn watch_runtime_classes(client: Client, shared: Shared) {
    let mut events = std::pin::pin!(watch::<RuntimeClass>(&client));
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::debug!(error = %err, "watching runtime classes");
                continue;
            }
        };
        let mut state = shared.lock();
        match event {
            Event::InitApply(class) | Event::Apply(class) => state.cache.apply_runtime_class(class),
            Event::Delete(class) => state.cache.delete_runtime_class(class.metadata.name.as_deref().unwrap_or_default()),
            Event::Init | Event::InitDone => {}
        }
        state.queue.cluster_changed(Instant::now());
        drop(state);
        shared.wake();
    }
}
