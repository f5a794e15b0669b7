//! The claim side of the PV controller: every PersistentVolumeClaim ends up
//! bound to exactly one PersistentVolume, both sides pointing at each other
//! as upstream does it (the volume's `claimRef`, then the volume's phase, then
//! the claim's `volumeName`, then the claim's phase). Each step is checked
//! before it is taken, so a reconcile interrupted half-way finishes the rest
//! next time and a bound pair is left alone.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::class::provisioned_here;
use super::matching::{best_match, reserved_for};
use super::provision;
use crate::controllers::{Context, ControllerError};
use crate::events::{EventType, Recorder};

/// Set on a claim once both sides of its binding are written.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// Set on whichever side the controller (not the user) filled in.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";

/// How often a claim that found no volume looks again (a new PV may fit).
const PENDING_RETRY: Duration = Duration::from_secs(10);

/// What one claim needs now.
#[derive(Debug, PartialEq)]
pub enum ClaimPlan {
    /// Deleting, or bound on both sides.
    Done,
    /// Bind to this volume, finishing whichever sides are not written yet.
    Bind(Box<PersistentVolume>),
    /// Create a volume for the claim from its class, then bind to it.
    Provision(Box<StorageClass>),
    /// The volume the claim was bound to is gone.
    Lost,
    /// Nothing fits and nobody here provisions: wait, saying why (reason, message).
    Pending { reason: &'static str, message: String },
}

/// Whether both sides of the binding between `pvc` and `pv` are fully written.
pub fn fully_bound(pvc: &PersistentVolumeClaim, pv: &PersistentVolume) -> bool {
    let pv_bound = reserved_for(pv, pvc) && pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some_and(|c| c.uid.is_some());
    let pv_phase = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let claim_names_it = pvc.spec.as_ref().and_then(|s| s.volume_name.as_ref()) == pv.metadata.name.as_ref();
    let completed = pvc.annotations().get(BIND_COMPLETED).is_some_and(|v| v == "yes");
    let claim_phase = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    pv_bound && pv_phase && claim_names_it && completed && claim_phase
}

/// The pure decision for one claim, given every volume and the claim's class
/// (`None` when it names no class or its class does not exist).
pub fn plan_claim(pvc: &PersistentVolumeClaim, volumes: &[PersistentVolume], class: Option<&StorageClass>, class_name: &str) -> ClaimPlan {
    if pvc.metadata.deletion_timestamp.is_some() {
        return ClaimPlan::Done;
    }
    let wanted = pvc.spec.as_ref().and_then(|s| s.volume_name.as_deref()).filter(|n| !n.is_empty());
    if let Some(name) = wanted {
        let was_bound = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        return match volumes.iter().find(|pv| pv.metadata.name.as_deref() == Some(name)) {
            Some(pv) if fully_bound(pvc, pv) => ClaimPlan::Done,
            Some(pv) if pv.spec.as_ref().is_none_or(|s| s.claim_ref.is_none()) || reserved_for(pv, pvc) => {
                ClaimPlan::Bind(Box::new(pv.clone()))
            }
            Some(_) => ClaimPlan::Pending {
                reason: "FailedBinding",
                message: format!("volume \"{name}\" already bound to a different claim."),
            },
            None if was_bound => ClaimPlan::Lost,
            None => ClaimPlan::Pending { reason: "FailedBinding", message: format!("volume \"{name}\" not found") },
        };
    }
    if let Some(pv) = best_match(pvc, volumes) {
        return ClaimPlan::Bind(Box::new(pv.clone()));
    }
    match class {
        Some(class) if provisioned_here(class) => ClaimPlan::Provision(Box::new(class.clone())),
        Some(class) => ClaimPlan::Pending {
            reason: "ExternalProvisioning",
            message: format!(
                "Waiting for a volume to be created either by the external provisioner '{}' or manually by the system administrator.",
                class.provisioner
            ),
        },
        None if class_name.is_empty() => ClaimPlan::Pending {
            reason: "FailedBinding",
            message: "no persistent volumes available for this claim and no storage class is set".into(),
        },
        None => ClaimPlan::Pending {
            reason: "ProvisioningFailed",
            message: format!("storageclass.storage.k8s.io \"{class_name}\" not found"),
        },
    }
}

struct Binder {
    ctx: Context,
    recorder: Recorder,
}

/// Watches claims (and volumes, mapped to the claim they name) and binds them.
pub async fn run(ctx: Context) {
    let claims: Api<PersistentVolumeClaim> = Api::all(ctx.client.clone());
    let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let binder = Arc::new(Binder { recorder: ctx.recorder("persistentvolume-controller"), ctx });
    Controller::new(claims, watcher::Config::default())
        .watches(volumes, watcher::Config::default(), |pv: PersistentVolume| {
            let claim = pv.spec.and_then(|s| s.claim_ref)?;
            Some(ObjectRef::new(claim.name.as_deref()?).within(claim.namespace.as_deref()?))
        })
        .run(reconcile, error_policy, binder)
        .for_each(|_| async {})
        .await;
}

fn error_policy(pvc: Arc<PersistentVolumeClaim>, err: &ControllerError, _: Arc<Binder>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(claim = %pvc.name_any(), error = %err, "binding a claim failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(pvc: Arc<PersistentVolumeClaim>, binder: Arc<Binder>) -> Result<Action, ControllerError> {
    let client = binder.ctx.client.clone();
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let all_volumes = volumes.list(&ListParams::default()).await?.items;
    let class_name = super::matching::claim_class(&pvc).to_string();
    let class = match class_name.as_str() {
        "" => None,
        name => Api::<StorageClass>::all(client).get_opt(name).await?,
    };
    match plan_claim(&pvc, &all_volumes, class.as_ref(), &class_name) {
        ClaimPlan::Done => Ok(Action::await_change()),
        ClaimPlan::Bind(pv) => {
            binder.bind(&pvc, *pv).await?;
            Ok(Action::await_change())
        }
        ClaimPlan::Provision(class) => {
            let pv = binder.provision(&pvc, &class).await?;
            binder.bind(&pvc, pv).await?;
            Ok(Action::await_change())
        }
        ClaimPlan::Lost => {
            binder.set_claim_phase(&pvc, "Lost").await?;
            let message = "Bound claim has lost its PersistentVolume. Data on the volume is lost!";
            binder.recorder.publish(pvc.as_ref(), EventType::Warning, "ClaimLost", message).await;
            Ok(Action::await_change())
        }
        ClaimPlan::Pending { reason, message } => {
            if pvc.status.as_ref().and_then(|s| s.phase.as_deref()).is_none() {
                binder.set_claim_phase(&pvc, "Pending").await?;
            }
            let kind = if reason == "ExternalProvisioning" { EventType::Normal } else { EventType::Warning };
            binder.recorder.publish(pvc.as_ref(), kind, reason, message).await;
            Ok(Action::requeue(PENDING_RETRY))
        }
    }
}

impl Binder {
    fn claims(&self, pvc: &PersistentVolumeClaim) -> Api<PersistentVolumeClaim> {
        Api::namespaced(self.ctx.client.clone(), &pvc.namespace().unwrap_or_else(|| "default".into()))
    }

    /// Creates the claim's volume and its directory; an earlier attempt's volume is reused.
    async fn provision(&self, pvc: &PersistentVolumeClaim, class: &StorageClass) -> Result<PersistentVolume, ControllerError> {
        let data_dir = &self.ctx.options.data_dir;
        let pv = provision::volume_for(pvc, class, data_dir)
            .ok_or_else(|| ControllerError::Invalid(format!("claim {} has no uid or no storage request", pvc.name_any())))?;
        if let Some(dir) = provision::owned_directory(&pv, data_dir) {
            provision::create_directory(&dir)
                .await
                .map_err(|e| ControllerError::Invalid(format!("creating {}: {e}", dir.display())))?;
        }
        let volumes: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let name = pv.name_any();
        match volumes.create(&PostParams::default(), &pv).await {
            Ok(created) => {
                let message = format!("Successfully provisioned volume {name}");
                self.recorder.publish(pvc, EventType::Normal, "ProvisioningSucceeded", message).await;
                Ok(created)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(volumes.get(&name).await?),
            Err(err) => Err(err.into()),
        }
    }

    /// Writes whichever of the four sides of the binding is missing, in upstream's order.
    async fn bind(&self, pvc: &PersistentVolumeClaim, mut pv: PersistentVolume) -> Result<(), ControllerError> {
        let volumes: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let pv_name = pv.name_any();
        let has_uid = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_some_and(|c| c.uid.is_some());
        if !(reserved_for(&pv, pvc) && has_uid) {
            let spec = pv.spec.get_or_insert_with(Default::default);
            spec.claim_ref = Some(provision::claim_reference(pvc));
            pv.annotations_mut().insert(BOUND_BY_CONTROLLER.into(), "yes".into());
            pv = volumes.replace(&pv_name, &PostParams::default(), &pv).await?;
        }
        if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
            let status = json!({"status": {"phase": "Bound"}});
            pv = volumes.patch_status(&pv_name, &PatchParams::default(), &Patch::Merge(&status)).await?;
        }
        let claims = self.claims(pvc);
        let mut claim = pvc.clone();
        let names_it = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()) == Some(pv_name.as_str());
        let completed = claim.annotations().get(BIND_COMPLETED).is_some_and(|v| v == "yes");
        if !names_it || !completed {
            if !names_it {
                claim.spec.get_or_insert_with(Default::default).volume_name = Some(pv_name.clone());
                claim.annotations_mut().insert(BOUND_BY_CONTROLLER.into(), "yes".into());
            }
            claim.annotations_mut().insert(BIND_COMPLETED.into(), "yes".into());
            claim = claims.replace(&claim.name_any(), &PostParams::default(), &claim).await?;
        }
        if claim.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
            let spec = pv.spec.clone().unwrap_or_default();
            let status = json!({"status": {"phase": "Bound", "capacity": spec.capacity, "accessModes": spec.access_modes}});
            claims.patch_status(&claim.name_any(), &PatchParams::default(), &Patch::Merge(&status)).await?;
        }
        Ok(())
    }

    async fn set_claim_phase(&self, pvc: &PersistentVolumeClaim, phase: &str) -> Result<(), ControllerError> {
        let status = json!({"status": {"phase": phase}});
        self.claims(pvc).patch_status(&pvc.name_any(), &PatchParams::default(), &Patch::Merge(&status)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::storage::class::local_path_class;
    use crate::controllers::storage::matching::tests::{claim, volume};
    use k8s_openapi::api::core::v1::ObjectReference;

    fn local_path() -> StorageClass {
        serde_json::from_value(local_path_class()).expect("class")
    }

    fn bound_pair() -> (PersistentVolumeClaim, PersistentVolume) {
        let mut pvc = claim("data", "local-path", "1Gi", &["ReadWriteOnce"]);
        let mut pv = volume("pv1", "local-path", "1Gi", &["ReadWriteOnce"]);
        pv.spec.as_mut().expect("spec").claim_ref = Some(provision::claim_reference(&pvc));
        pv.status.as_mut().expect("status").phase = Some("Bound".into());
        pvc.spec.as_mut().expect("spec").volume_name = Some("pv1".into());
        pvc.annotations_mut().insert(BIND_COMPLETED.into(), "yes".into());
        pvc.status = Some(k8s_openapi::api::core::v1::PersistentVolumeClaimStatus { phase: Some("Bound".into()), ..Default::default() });
        (pvc, pv)
    }

    #[test]
    fn a_fully_bound_claim_needs_nothing() {
        let (pvc, pv) = bound_pair();
        assert_eq!(plan_claim(&pvc, &[pv], Some(&local_path()), "local-path"), ClaimPlan::Done);
    }

    #[test]
    fn a_half_bound_pair_is_finished() {
        let (mut pvc, pv) = bound_pair();
        pvc.status = None;
        assert!(matches!(plan_claim(&pvc, &[pv], Some(&local_path()), "local-path"), ClaimPlan::Bind(v) if v.name_any() == "pv1"));
    }

    #[test]
    fn an_unbound_claim_takes_a_fitting_volume_before_provisioning() {
        let pvc = claim("data", "local-path", "1Gi", &["ReadWriteOnce"]);
        let pv = volume("spare", "local-path", "2Gi", &["ReadWriteOnce"]);
        assert!(matches!(plan_claim(&pvc, &[pv], Some(&local_path()), "local-path"), ClaimPlan::Bind(v) if v.name_any() == "spare"));
        assert!(matches!(plan_claim(&pvc, &[], Some(&local_path()), "local-path"), ClaimPlan::Provision(_)));
    }

    #[test]
    fn a_claim_nobody_can_serve_waits_with_a_reason() {
        let pvc = claim("data", "", "1Gi", &["ReadWriteOnce"]);
        assert!(matches!(plan_claim(&pvc, &[], None, ""), ClaimPlan::Pending { reason: "FailedBinding", .. }));
        let pvc = claim("data", "gold", "1Gi", &["ReadWriteOnce"]);
        assert!(matches!(plan_claim(&pvc, &[], None, "gold"), ClaimPlan::Pending { reason: "ProvisioningFailed", message } if message.contains("\"gold\" not found")));
        let external: StorageClass = serde_json::from_value(json!({"metadata": {"name": "gold"}, "provisioner": "ebs.csi.aws.com"})).expect("class");
        assert!(matches!(plan_claim(&pvc, &[], Some(&external), "gold"), ClaimPlan::Pending { reason: "ExternalProvisioning", .. }));
    }

    #[test]
    fn a_bound_claim_whose_volume_vanished_is_lost() {
        let (pvc, _) = bound_pair();
        assert_eq!(plan_claim(&pvc, &[], Some(&local_path()), "local-path"), ClaimPlan::Lost);
    }

    #[test]
    fn a_claim_naming_a_volume_held_by_another_claim_waits() {
        let (mut pvc, mut pv) = bound_pair();
        pvc.status = None;
        pv.spec.as_mut().expect("spec").claim_ref =
            Some(ObjectReference { name: Some("other".into()), namespace: Some("default".into()), uid: Some("u".into()), ..Default::default() });
        assert!(matches!(plan_claim(&pvc, &[pv], None, "local-path"), ClaimPlan::Pending { message, .. } if message.contains("different claim")));
    }

    #[test]
    fn a_deleting_claim_is_left_alone() {
        let mut pvc = claim("data", "local-path", "1Gi", &["ReadWriteOnce"]);
        pvc.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(plan_claim(&pvc, &[], Some(&local_path()), "local-path"), ClaimPlan::Done);
    }
}
