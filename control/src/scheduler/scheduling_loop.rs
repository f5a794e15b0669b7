//! The loop that places pods one decision at a time: take the next pod from
//! the queue, decide on the cache (no API call), assume the pod on its node,
//! and hand the binding to a task so that many bindings are in flight while
//! the loop goes on deciding.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, Client};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::bind::{bind, BindOutcome};
use super::cycle::Cycle;
use super::pod_info::PodInfo;
use super::state::Shared;
use super::unschedulable;
use crate::events::{EventType, Recorder};

/// Bindings and failure reports in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// How often waiting pods are checked for the end of their backoff.
const TICK: Duration = Duration::from_millis(500);

/// What the loop decided for one pod.
enum Decision {
    Bind(Arc<PodInfo>, String),
    Unschedulable(Arc<PodInfo>, String),
    Error(Arc<PodInfo>, String),
}

/// Runs until dropped.
pub async fn run(client: Client, shared: Shared, recorder: Recorder) {
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut last_tick = Instant::now();
    loop {
        while in_flight.try_join_next().is_some() {}
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let decision = {
            let mut state = shared.lock();
            let now = Instant::now();
            if now.duration_since(last_tick) >= TICK {
                state.queue.tick(now);
                last_tick = now;
            }
            let next = if state.nodes_synced && state.pods_synced { state.queue.pop() } else { None };
            next.map(|pod| {
                let state = &mut *state;
                match Cycle::new(pod.clone(), &state.cache) {
                    Err(err) => {
                        state.queue.backoff(&pod.key, now);
                        Decision::Error(pod, err.to_string())
                    }
                    Ok(cycle) => match state.picker.pick(&cycle, &state.cache) {
                        Ok(node) => {
                            state.cache.assume(pod.clone(), &node);
                            Decision::Bind(pod, node)
                        }
                        Err(fit) => {
                            state.queue.unschedulable(&pod.key, now);
                            Decision::Unschedulable(pod, unschedulable::message(&fit))
                        }
                    },
                }
            })
        };
        let Some(decision) = decision else {
            drop(permit);
            // Nothing to do: wait for a change, or for the next backoff check.
            let _ = tokio::time::timeout(TICK, shared.woken()).await;
            continue;
        };
        let (client, shared, recorder) = (client.clone(), shared.clone(), recorder.clone());
        in_flight.spawn(async move {
            let _permit = permit;
            match decision {
                Decision::Bind(pod, node) => finish_binding(client, shared, recorder, pod, node).await,
                Decision::Unschedulable(pod, message) => {
                    tracing::debug!(pod = %pod.key, %message, "unschedulable");
                    unschedulable::report(pods_of(&client, &pod), &recorder, &pod.pod, message).await;
                }
                Decision::Error(pod, message) => {
                    tracing::debug!(pod = %pod.key, %message, "cannot schedule");
                    recorder.publish(pod.pod.as_ref(), EventType::Warning, "FailedScheduling", message).await;
                }
            }
        });
    }
}

fn pods_of(client: &Client, pod: &PodInfo) -> Api<Pod> {
    Api::namespaced(client.clone(), pod.namespace())
}

/// Binds, then settles the queue and cache with the outcome.
async fn finish_binding(client: Client, shared: Shared, recorder: Recorder, pod: Arc<PodInfo>, node: String) {
    let outcome = bind(pods_of(&client, &pod), &recorder, &pod, &node).await;
    {
        let mut state = shared.lock();
        match &outcome {
            // The watch confirms the assumption when it shows the pod bound.
            BindOutcome::Bound => state.queue.remove(&pod.key),
            BindOutcome::Moot => {
                state.cache.forget(&pod.key);
                state.queue.remove(&pod.key);
            }
            BindOutcome::Failed(_) => {
                state.cache.forget(&pod.key);
                state.queue.backoff(&pod.key, Instant::now());
            }
        }
    }
    shared.wake();
    if let BindOutcome::Failed(err) = outcome {
        tracing::warn!(pod = %pod.key, node, error = %err, "binding failed");
        recorder.publish(pod.pod.as_ref(), EventType::Warning, "FailedScheduling", format!("Binding rejected: {err}")).await;
    }
}
