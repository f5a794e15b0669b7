//! Claim protection, as upstream's pvc-protection controller: every claim is
//! created with the `kubernetes.io/pvc-protection` finalizer (added on
//! admission), so deleting a claim that a pod still uses only marks it
//! Terminating; the finalizer comes off, and the claim (then its volume) goes,
//! once no pod that may still run names it. Without this, deleting a claim
//! would release and delete the volume under a running pod.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Api, ResourceExt};

use crate::controllers::{Context, ControllerError};

/// The finalizer that keeps a claim in use from going away.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";

/// Whether a pod that may still run names claim `claim` (pods in the claim's namespace).
pub fn in_use(claim: &str, pods: &[Pod]) -> bool {
    pods.iter().any(|pod| {
        let finished = matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
        let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
        !finished && volumes.filter_map(|v| v.persistent_volume_claim.as_ref()).any(|c| c.claim_name == claim)
    })
}

/// Whether `pvc` is being deleted and still carries our finalizer.
fn held(pvc: &PersistentVolumeClaim) -> bool {
    pvc.metadata.deletion_timestamp.is_some() && pvc.finalizers().iter().any(|f| f == PVC_PROTECTION)
}

/// Watches claims (and pods, mapped to the claims they name) and lets a
/// deleted claim go once nothing uses it.
pub async fn run(ctx: Context) {
    let claims: Api<PersistentVolumeClaim> = Api::all(ctx.client.clone());
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    Controller::new(claims, watcher::Config::default())
        .watches(pods, watcher::Config::default(), |pod: Pod| {
            let namespace = pod.namespace().unwrap_or_default();
            let volumes = pod.spec.into_iter().flat_map(|s| s.volumes.into_iter().flatten());
            volumes
                .filter_map(|v| v.persistent_volume_claim)
                .map(|c| ObjectRef::new(&c.claim_name).within(&namespace))
                .collect::<Vec<_>>()
        })
        .run(reconcile, error_policy, Arc::new(ctx))
        .for_each(|_| async {})
        .await;
}

fn error_policy(pvc: Arc<PersistentVolumeClaim>, err: &ControllerError, _: Arc<Context>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(claim = %pvc.name_any(), error = %err, "releasing a protected claim failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(pvc: Arc<PersistentVolumeClaim>, ctx: Arc<Context>) -> Result<Action, ControllerError> {
    if !held(&pvc) {
        return Ok(Action::await_change());
    }
    let namespace = pvc.namespace().unwrap_or_else(|| "default".into());
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &namespace).list(&ListParams::default()).await?.items;
    if in_use(&pvc.name_any(), &pods) {
        return Ok(Action::await_change());
    }
    let mut released = (*pvc).clone();
    released.finalizers_mut().retain(|f| f != PVC_PROTECTION);
    // Carries the resourceVersion we read: a pod added meanwhile means a 409 and a fresh look.
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &namespace);
    match claims.replace(&pvc.name_any(), &PostParams::default(), &released).await {
        Ok(_) => Ok(Action::await_change()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Action::await_change()),
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(claim: &str, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}]},
            "status": {"phase": phase},
        }))
        .expect("pod")
    }

    #[test]
    fn a_claim_is_in_use_while_a_pod_that_may_run_names_it() {
        assert!(in_use("data", &[pod("other", "Running"), pod("data", "Pending")]));
        assert!(in_use("data", &[pod("data", "Running")]));
        assert!(!in_use("data", &[pod("data", "Succeeded"), pod("data", "Failed"), pod("other", "Running")]));
        assert!(!in_use("data", &[]));
    }

    #[test]
    fn only_a_deleting_claim_with_the_finalizer_is_held() {
        let mut pvc: PersistentVolumeClaim = serde_json::from_value(json!({"metadata": {"name": "data", "finalizers": [PVC_PROTECTION]}})).expect("claim");
        assert!(!held(&pvc), "not being deleted");
        pvc.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        assert!(held(&pvc));
        pvc.metadata.finalizers = None;
        assert!(!held(&pvc));
    }
}
