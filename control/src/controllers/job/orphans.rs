//! Pods that still hold the tracking finalizer after their Job is gone (the
//! Job was deleted, its pods are being garbage-collected): nobody will count
//! them any more, so the finalizer comes off and they can go. The Job's own
//! reconcile handles the pods of Jobs that exist.

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client};

use super::finalizer;
use super::pods::TRACKING_FINALIZER;
use super::JOB_POD_LABEL;
use crate::controllers::ControllerError;

/// Watches Job pods until dropped, releasing those whose Job is gone.
pub async fn run(client: Client) {
    let pods: Api<Pod> = Api::all(client.clone());
    let mut events = watcher(pods, watcher::Config::default().labels(JOB_POD_LABEL)).default_backoff().applied_objects().boxed();
    while let Some(event) = events.next().await {
        let pod = match event {
            Ok(pod) => pod,
            Err(err) => {
                tracing::debug!(error = %err, "job pod watch");
                continue;
            }
        };
        if let Err(err) = release_if_orphaned(&client, &pod).await {
            tracing::debug!(pod = pod.metadata.name.as_deref().unwrap_or_default(), error = %err, "could not release an orphaned job pod");
        }
    }
}

async fn release_if_orphaned(client: &Client, pod: &Pod) -> Result<(), ControllerError> {
    let tracked = pod.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == TRACKING_FINALIZER));
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let ending = pod.metadata.deletion_timestamp.is_some() || matches!(phase, Some("Succeeded" | "Failed"));
    if !tracked || !ending {
        return Ok(());
    }
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let owner = pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true) && o.kind == "Job");
    let owner_exists = match owner {
        Some(owner) => {
            let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
            jobs.get_opt(&owner.name).await?.is_some_and(|job| job.metadata.uid.as_deref() == Some(owner.uid.as_str()))
        }
        None => false,
    };
    if owner_exists {
        return Ok(());
    }
    finalizer::release(&Api::namespaced(client.clone(), namespace), pod).await
}
