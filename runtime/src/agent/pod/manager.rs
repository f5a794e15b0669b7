//! Watches the pods bound to this node (`spec.nodeName=<node>`) and keeps one
//! worker per pod uid, handing each the latest object. On start (and after
//! every re-list) every bound pod is reconciled, so an agent restart picks
//! up exactly the pods it had: none lost, none doubled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::worker::run_pod;
use crate::agent::context::AgentContext;

/// Runs until the watch stream ends (it retries with backoff on errors, so in practice until cancelled).
pub async fn manage_pods(ctx: Arc<AgentContext>) {
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node.node_name));
    let mut stream = watcher::watcher(pods, config).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut relisted: HashSet<String> = HashSet::new();
    loop {
        tokio::select! {
            event = stream.try_next() => match event {
                Ok(Some(event)) => handle(&ctx, event, &mut workers, &mut tasks, &mut relisted),
                Ok(None) => break,
                Err(err) => tracing::warn!(error = %err, "pod watch failed; retrying"),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {
                // A worker ended (its pod is gone): forget its channel.
                workers.retain(|_, tx| !tx.is_closed());
            }
        }
    }
}

fn handle(
    ctx: &Arc<AgentContext>,
    event: Event<Pod>,
    workers: &mut HashMap<String, watch::Sender<Option<Arc<Pod>>>>,
    tasks: &mut JoinSet<()>,
    relisted: &mut HashSet<String>,
) {
    match event {
        Event::Init => relisted.clear(),
        Event::InitApply(pod) => {
            if let Some(uid) = pod.metadata.uid.clone() {
                relisted.insert(uid);
            }
            apply(ctx, pod, workers, tasks);
        }
        Event::InitDone => {
            // Pods deleted while the watch was down.
            for (uid, tx) in workers.iter() {
                if !relisted.contains(uid) {
                    let _ = tx.send(None);
                }
            }
        }
        Event::Apply(pod) => apply(ctx, pod, workers, tasks),
        Event::Delete(pod) => {
            if let Some(tx) = pod.metadata.uid.as_ref().and_then(|uid| workers.get(uid)) {
                let _ = tx.send(None);
            }
        }
    }
}

fn apply(
    ctx: &Arc<AgentContext>,
    pod: Pod,
    workers: &mut HashMap<String, watch::Sender<Option<Arc<Pod>>>>,
    tasks: &mut JoinSet<()>,
) {
    let Some(uid) = pod.metadata.uid.clone() else { return };
    let pod = Arc::new(pod);
    match workers.get(&uid) {
        Some(tx) if !tx.is_closed() => {
            let _ = tx.send(Some(pod));
        }
        _ => {
            let (tx, rx) = watch::channel(Some(pod));
            workers.insert(uid, tx);
            tasks.spawn(run_pod(ctx.clone(), rx));
        }
    }
}
