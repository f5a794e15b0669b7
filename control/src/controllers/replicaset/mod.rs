//! The ReplicaSet and ReplicationController controllers: one implementation
//! (a ReplicationController is a ReplicaSet whose selector is a plain map)
//! that keeps `spec.replicas` active pods matching the selector, adopting
//! matching orphans and releasing pods relabeled out of it.
//!
//! Triggers: the owner itself, and every pod event mapped to the owner that
//! controls the pod or, for an orphan, to the owners whose selector matches
//! it (so a pod relabeled back is adopted at once).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, Controller};
use kube::{Api, ResourceExt};

use super::{Context, ControllerError};

pub mod claim;
pub mod new_pod;
mod owner;
pub mod plan;
pub mod pods;
mod reconcile;
pub mod selector;
pub mod status;

pub use owner::ReplicaOwner;
use reconcile::{reconcile, State};

/// Runs the ReplicaSet and the ReplicationController controllers until dropped.
pub async fn run(ctx: Context) {
    tokio::join!(run_for::<ReplicaSet>(&ctx), run_for::<ReplicationController>(&ctx));
}

async fn run_for<K: ReplicaOwner>(ctx: &Context) {
    let client = ctx.client.clone();
    let controller = Controller::new(Api::<K>::all(client.clone()), watcher::Config::default());
    let owners = controller.store();
    let state = Arc::new(State { client: client.clone(), recorder: ctx.recorder(K::COMPONENT) });
    controller
        .watches(Api::<Pod>::all(client), watcher::Config::default(), move |pod| owners_to_wake(&owners, &pod))
        .run(reconcile::<K>, error_policy::<K>, state)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(component = K::COMPONENT, error = %err, "sync failed");
            }
        })
        .await;
}

/// The owners a pod event concerns: its controller if that is a `K`, else
/// (an orphan) every `K` of its namespace whose selector matches it.
fn owners_to_wake<K: ReplicaOwner>(owners: &Store<K>, pod: &Pod) -> Vec<ObjectRef<K>> {
    let namespace = pod.namespace();
    if let Some(reference) = claim::controller_ref(pod) {
        let ours = reference.kind == K::kind(&()) && reference.api_version == K::api_version(&());
        return match (ours, namespace) {
            (true, Some(ns)) => vec![ObjectRef::new(&reference.name).within(&ns)],
            _ => Vec::new(),
        };
    }
    owners
        .state()
        .iter()
        .filter(|owner| owner.namespace() == namespace)
        .filter(|owner| owner.pod_selector().is_ok_and(|s| s.matches(pod.metadata.labels.as_ref())))
        .map(|owner| ObjectRef::from_obj(owner.as_ref()))
        .collect()
}

fn error_policy<K: ReplicaOwner>(owner: Arc<K>, err: &ControllerError, _: Arc<State>) -> Action {
    tracing::debug!(component = K::COMPONENT, name = %owner.name_any(), error = %err, "sync failed; retrying");
    match err {
        // Someone wrote first: look again straight away.
        _ if err.is_conflict() => Action::requeue(Duration::from_millis(50)),
        // Nothing changes until the object does; look again now and then.
        ControllerError::Invalid(_) => Action::requeue(Duration::from_secs(300)),
        ControllerError::Api(_) => Action::requeue(Duration::from_secs(2)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use kube::runtime::reflector::store;

    use super::*;

    fn labels(app: &str) -> Option<BTreeMap<String, String>> {
        Some(BTreeMap::from([("app".to_string(), app.to_string())]))
    }

    fn replica_set(name: &str, namespace: &str, app: &str) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), uid: Some(name.into()), ..Default::default() },
            spec: Some(ReplicaSetSpec { selector: LabelSelector { match_labels: labels(app), ..Default::default() }, ..Default::default() }),
            status: None,
        }
    }

    fn pod(app: &str, owner: Option<&ReplicaSet>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                labels: labels(app),
                owner_references: owner.map(|o| vec![new_pod::controller_reference(o)]),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_pod_wakes_its_controller_or_the_owners_that_would_adopt_it() {
        let (reader, mut writer) = store::<ReplicaSet>();
        let web = replica_set("web", "default", "web");
        for rs in [web.clone(), replica_set("db", "default", "db"), replica_set("web-elsewhere", "prod", "web")] {
            writer.apply_watcher_event(&watcher::Event::Apply(rs));
        }
        let names = |refs: Vec<ObjectRef<ReplicaSet>>| refs.into_iter().map(|r| r.name).collect::<Vec<_>>();
        // Owned, even once relabeled: its controller releases it.
        assert_eq!(names(owners_to_wake(&reader, &pod("debug", Some(&web)))), ["web"]);
        // An orphan: the matching owners of its namespace.
        assert_eq!(names(owners_to_wake(&reader, &pod("web", None))), ["web"]);
        assert!(owners_to_wake(&reader, &pod("debug", None)).is_empty());
        // Controlled by another kind: not ours to wake.
        let mut foreign = pod("web", Some(&web));
        if let Some(refs) = foreign.metadata.owner_references.as_mut() {
            refs[0].kind = "Job".into();
            refs[0].api_version = "batch/v1".into();
        }
        assert!(owners_to_wake(&reader, &foreign).is_empty());
    }
}
