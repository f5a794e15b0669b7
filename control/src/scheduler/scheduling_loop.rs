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

use super::bind::{bind, record_scheduled, BindOutcome};
use super::cycle::Cycle;
use super::pod_info::PodInfo;
use super::state::{Shared, State};
use super::unschedulable;
use crate::events::{EventType, Recorder};

/// Bindings and failure reports in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// `Scheduled` Events in flight at once. Few, so that they trail the
/// bindings (as client-go's event broadcaster, sending one at a time, does)
/// instead of taking half the API server's writes from them.
const MAX_EVENTS_IN_FLIGHT: usize = 4;
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
    let event_permits = Arc::new(Semaphore::new(MAX_EVENTS_IN_FLIGHT));
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
            decide_next(&mut state, now)
        };
        let Some(decision) = decision else {
            drop(permit);
            // Nothing to do: wait for a change, or for the next backoff check.
            let _ = tokio::time::timeout(TICK, shared.woken()).await;
            continue;
        };
        let (client, shared, recorder, event_permits) = (client.clone(), shared.clone(), recorder.clone(), event_permits.clone());
        in_flight.spawn(async move {
            match decision {
                Decision::Bind(pod, node) => {
                    let bound = finish_binding(client, shared, &recorder, &pod, &node).await;
                    drop(permit);
                    if bound {
                        let Ok(_event_permit) = event_permits.acquire_owned().await else { return };
                        record_scheduled(&recorder, &pod, &node).await;
                    }
                }
                Decision::Unschedulable(pod, message) => {
                    let _permit = permit;
                    tracing::debug!(pod = %pod.key, %message, "unschedulable");
                    unschedulable::report(pods_of(&client, &pod), &recorder, &pod.pod, message).await;
                }
                Decision::Error(pod, message) => {
                    let _permit = permit;
                    tracing::debug!(pod = %pod.key, %message, "cannot schedule");
                    recorder.publish(pod.pod.as_ref(), EventType::Warning, "FailedScheduling", message).await;
                }
            }
        });
    }
}

/// Takes the next pod from the queue and decides where it goes, assuming it
/// there at once; `None` when no pod is ready (or the cache is not yet filled).
fn decide_next(state: &mut State, now: Instant) -> Option<Decision> {
    if !(state.nodes_synced && state.pods_synced) {
        return None;
    }
    let pod = state.queue.pop()?;
    let cycle = match Cycle::new(pod.clone(), &state.cache) {
        Ok(cycle) => cycle,
        Err(err) => {
            state.queue.backoff(&pod.key, now);
            return Some(Decision::Error(pod, err.to_string()));
        }
    };
    match state.picker.pick(&cycle, &state.cache) {
        Ok(node) => {
            state.cache.assume(pod.clone(), &node);
            Some(Decision::Bind(pod, node))
        }
        Err(fit) => {
            state.queue.unschedulable(&pod.key, now);
            Some(Decision::Unschedulable(pod, unschedulable::message(&fit)))
        }
    }
}

fn pods_of(client: &Client, pod: &PodInfo) -> Api<Pod> {
    Api::namespaced(client.clone(), pod.namespace())
}

/// Binds, then settles the queue and cache with the outcome; true if bound.
async fn finish_binding(client: Client, shared: Shared, recorder: &Recorder, pod: &PodInfo, node: &str) -> bool {
    let outcome = bind(pods_of(&client, pod), pod, node).await;
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
    match outcome {
        BindOutcome::Bound => true,
        BindOutcome::Moot => false,
        BindOutcome::Failed(err) => {
            tracing::warn!(pod = %pod.key, node, error = %err, "binding failed");
            recorder.publish(pod.pod.as_ref(), EventType::Warning, "FailedScheduling", format!("Binding rejected: {err}")).await;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::testing::{node, pod};

    fn synced_state() -> State {
        State { nodes_synced: true, pods_synced: true, ..Default::default() }
    }

    fn enqueue(state: &mut State, p: Pod) {
        if let Some(pending) = state.cache.apply_pod(p).pending() {
            state.queue.add_or_update(pending.clone());
        }
    }

    #[test]
    fn nothing_is_decided_before_the_first_lists() {
        let mut state = State::default();
        state.cache.apply_node(node("n1", "4", "8Gi"));
        enqueue(&mut state, pod("p", "1", "1Gi"));
        assert!(decide_next(&mut state, Instant::now()).is_none());
    }

    #[test]
    fn a_fitting_pod_is_assumed_so_the_next_one_sees_it() {
        let mut state = synced_state();
        state.cache.apply_node(node("n1", "4", "8Gi"));
        enqueue(&mut state, pod("a", "3", "1Gi"));
        enqueue(&mut state, pod("b", "3", "1Gi"));
        let Some(Decision::Bind(_, node)) = decide_next(&mut state, Instant::now()) else { panic!("a fits") };
        assert_eq!(node, "n1");
        let Some(Decision::Unschedulable(_, message)) = decide_next(&mut state, Instant::now()) else { panic!("b does not fit beside a") };
        assert!(message.starts_with("0/1 nodes are available: 1 Insufficient cpu."), "{message}");
        assert!(decide_next(&mut state, Instant::now()).is_none(), "b waits for a change");
    }

    #[test]
    fn a_missing_runtime_class_is_an_error_that_backs_off() {
        let mut state = synced_state();
        state.cache.apply_node(node("n1", "4", "8Gi"));
        let mut p = pod("p", "0", "0");
        p.spec.get_or_insert_default().runtime_class_name = Some("gvisor".into());
        enqueue(&mut state, p);
        let now = Instant::now();
        let Some(Decision::Error(_, message)) = decide_next(&mut state, now) else { panic!("no such class") };
        assert_eq!(message, "runtimeclass.node.k8s.io \"gvisor\" not found");
        assert!(decide_next(&mut state, now).is_none());
        state.queue.tick(now + Duration::from_secs(1));
        assert!(decide_next(&mut state, now).is_some(), "retried after its backoff");
    }
}
