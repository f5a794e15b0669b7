//! The volume side of the PV controller: a volume whose claim is gone is
//! Released, then reclaimed as its policy says. `Delete` removes the volume
//! and, for volumes we provisioned, their directory; `Retain` keeps it
//! Released for an administrator. A volume nobody claims is Available.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::api::{DeleteParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, Controller};
use kube::{Api, ResourceExt};

use super::provision;
use crate::controllers::{Context, ControllerError};
use crate::events::{EventType, Recorder};

/// A safety net for claims deleted before they named their volume.
const RECHECK_CLAIMED: Duration = Duration::from_secs(60);

/// What one volume needs now.
#[derive(Debug, PartialEq, Eq)]
pub enum VolumePlan {
    Nothing,
    /// Write this phase (and message) to the volume's status.
    SetPhase { phase: &'static str, message: Option<String> },
    /// Delete the volume (and the directory we made for it).
    Delete,
}

fn phase(pv: &PersistentVolume) -> Option<&str> {
    pv.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// The pure decision for one volume; `claim` is the object its `claimRef`
/// names, as it is now (`None`: no such claim, or the volume names none).
pub fn plan_volume(pv: &PersistentVolume, claim: Option<&PersistentVolumeClaim>) -> VolumePlan {
    if pv.metadata.deletion_timestamp.is_some() {
        return VolumePlan::Nothing;
    }
    let set = |phase: &'static str| if self::phase(pv) == Some(phase) { VolumePlan::Nothing } else { VolumePlan::SetPhase { phase, message: None } };
    let Some(claim_ref) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return set("Available");
    };
    // A claimRef without uid reserves the volume for a claim that may not exist yet.
    let Some(uid) = claim_ref.uid.as_deref() else {
        return if phase(pv).is_none() { set("Available") } else { VolumePlan::Nothing };
    };
    if claim.is_some_and(|c| c.metadata.uid.as_deref() == Some(uid)) {
        // The binder moves it on to Bound; a brand-new volume starts Available.
        return if phase(pv).is_none() { set("Available") } else { VolumePlan::Nothing };
    }
    if !matches!(phase(pv), Some("Released" | "Failed")) {
        return set("Released");
    }
    if phase(pv) == Some("Failed") {
        return VolumePlan::Nothing;
    }
    let policy = pv.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Retain");
    match policy {
        "Delete" if provision::provisioned_by_us(pv) => VolumePlan::Delete,
        "Delete" => VolumePlan::SetPhase {
            phase: "Failed",
            message: Some("error getting deleter volume plugin for volume: no deletable volume plugin matched".into()),
        },
        "Recycle" => VolumePlan::SetPhase { phase: "Failed", message: Some("recycling volumes is not supported".into()) },
        _ => VolumePlan::Nothing,
    }
}

struct Reclaimer {
    ctx: Context,
    recorder: Recorder,
}

/// Watches volumes (and claims, mapped to the volumes they name or were
/// provisioned as) and moves each volume through its phases.
pub async fn run(ctx: Context) {
    let volumes: Api<PersistentVolume> = Api::all(ctx.client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::all(ctx.client.clone());
    let reclaimer = Arc::new(Reclaimer { recorder: ctx.recorder("persistentvolume-controller"), ctx });
    Controller::new(volumes, watcher::Config::default())
        .watches(claims, watcher::Config::default(), |pvc: PersistentVolumeClaim| {
            let named = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|n| !n.is_empty());
            let provisioned = provision::volume_name(&pvc);
            let mut refs: Vec<ObjectRef<PersistentVolume>> = named.iter().map(|n| ObjectRef::new(n)).collect();
            refs.extend(provisioned.filter(|p| Some(p) != named.as_ref()).map(|p| ObjectRef::new(&p)));
            refs
        })
        .run(reconcile, error_policy, reclaimer)
        .for_each(|_| async {})
        .await;
}

fn error_policy(pv: Arc<PersistentVolume>, err: &ControllerError, _: Arc<Reclaimer>) -> Action {
    if err.is_conflict() {
        return Action::requeue(Duration::from_millis(200));
    }
    tracing::warn!(volume = %pv.name_any(), error = %err, "reclaiming a volume failed");
    Action::requeue(Duration::from_secs(5))
}

async fn reconcile(pv: Arc<PersistentVolume>, reclaimer: Arc<Reclaimer>) -> Result<Action, ControllerError> {
    let claim_ref = pv.spec.as_ref().and_then(|s| s.claim_ref.clone());
    let claim = match claim_ref.as_ref().and_then(|c| Some((c.namespace.as_deref()?, c.name.as_deref()?))) {
        Some((ns, name)) => Api::<PersistentVolumeClaim>::namespaced(reclaimer.ctx.client.clone(), ns).get_opt(name).await?,
        None => None,
    };
    let volumes: Api<PersistentVolume> = Api::all(reclaimer.ctx.client.clone());
    match plan_volume(&pv, claim.as_ref()) {
        VolumePlan::Nothing => {}
        VolumePlan::SetPhase { phase, message } => {
            let mut updated = (*pv).clone();
            let status = updated.status.get_or_insert_with(Default::default);
            status.phase = Some(phase.into());
            status.message = message.clone();
            status.last_phase_transition_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()));
            // Carries the resourceVersion we decided on: a binder write in between wins (409).
            volumes.replace_status(&pv.name_any(), &PostParams::default(), &updated).await?;
            if let Some(message) = message {
                reclaimer.recorder.publish(pv.as_ref(), EventType::Warning, "VolumeFailedDelete", message).await;
            }
        }
        VolumePlan::Delete => {
            if let Some(dir) = provision::owned_directory(&pv, &reclaimer.ctx.options.data_dir) {
                provision::remove_directory(&dir)
                    .await
                    .map_err(|e| ControllerError::Invalid(format!("removing {}: {e}", dir.display())))?;
            }
            match volumes.delete(&pv.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(err) => return Err(err.into()),
            }
            return Ok(Action::await_change());
        }
    }
    Ok(if claim_ref.is_some() { Action::requeue(RECHECK_CLAIMED) } else { Action::await_change() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::storage::class::local_path_class;
    use crate::controllers::storage::matching::tests::{claim, volume};

    fn provisioned(policy: &str, phase: &str) -> (PersistentVolumeClaim, PersistentVolume) {
        let pvc = claim("data", "local-path", "1Gi", &["ReadWriteOnce"]);
        let class = serde_json::from_value(local_path_class()).expect("class");
        let mut pv = provision::volume_for(&pvc, &class, std::path::Path::new("/d")).expect("volume");
        pv.spec.as_mut().expect("spec").persistent_volume_reclaim_policy = Some(policy.into());
        pv.status = Some(k8s_openapi::api::core::v1::PersistentVolumeStatus { phase: Some(phase.into()), ..Default::default() });
        (pvc, pv)
    }

    #[test]
    fn a_volume_whose_claim_lives_is_left_to_the_binder() {
        let (pvc, pv) = provisioned("Delete", "Bound");
        assert_eq!(plan_volume(&pv, Some(&pvc)), VolumePlan::Nothing);
    }

    #[test]
    fn a_deleted_claim_releases_then_deletes_with_the_delete_policy() {
        let (_, pv) = provisioned("Delete", "Bound");
        assert_eq!(plan_volume(&pv, None), VolumePlan::SetPhase { phase: "Released", message: None });
        let (_, pv) = provisioned("Delete", "Released");
        assert_eq!(plan_volume(&pv, None), VolumePlan::Delete);
    }

    #[test]
    fn the_retain_policy_keeps_a_released_volume() {
        let (_, pv) = provisioned("Retain", "Released");
        assert_eq!(plan_volume(&pv, None), VolumePlan::Nothing);
    }

    #[test]
    fn a_new_claim_with_the_same_name_does_not_revive_the_binding() {
        let (mut pvc, pv) = provisioned("Retain", "Bound");
        pvc.metadata.uid = Some("a-new-uid".into());
        assert_eq!(plan_volume(&pv, Some(&pvc)), VolumePlan::SetPhase { phase: "Released", message: None });
    }

    #[test]
    fn a_hand_made_volume_with_delete_fails_instead_of_touching_the_host() {
        let mut pv = volume("manual", "", "1Gi", &["ReadWriteOnce"]);
        let pvc = claim("data", "", "1Gi", &["ReadWriteOnce"]);
        pv.spec.as_mut().expect("spec").claim_ref = Some(provision::claim_reference(&pvc));
        pv.spec.as_mut().expect("spec").persistent_volume_reclaim_policy = Some("Delete".into());
        pv.status.as_mut().expect("status").phase = Some("Released".into());
        assert!(matches!(plan_volume(&pv, None), VolumePlan::SetPhase { phase: "Failed", .. }));
    }

    #[test]
    fn unclaimed_volumes_become_available() {
        let mut pv = volume("free", "", "1Gi", &["ReadWriteOnce"]);
        assert_eq!(plan_volume(&pv, None), VolumePlan::Nothing);
        pv.status = None;
        assert_eq!(plan_volume(&pv, None), VolumePlan::SetPhase { phase: "Available", message: None });
    }
}
