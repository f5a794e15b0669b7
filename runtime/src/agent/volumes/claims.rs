//! persistentVolumeClaim volumes: the agent reads each claim a pod names and
//! the PersistentVolume it is bound to, and mounts that volume's directory
//! (`hostPath.path` or `local.path`) exactly like a hostPath volume, so the
//! runtimes see one more host directory and nothing new. A claim that is not
//! bound yet keeps the pod waiting: its volume fails to mount with a reason
//! that says so, and the pod worker retries.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::{Api, Client};

/// Why a claim's directory cannot be mounted (yet).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("persistentvolumeclaim {0:?} not found")]
    ClaimNotFound(String),
    #[error("persistentvolumeclaim {0:?} not bound")]
    NotBound(String),
    #[error("persistentvolume {volume:?} of persistentvolumeclaim {claim:?} not found")]
    VolumeNotFound { claim: String, volume: String },
    #[error("persistentvolume {volume:?} is bound to another claim than {claim:?}")]
    BoundElsewhere { claim: String, volume: String },
    #[error("persistentvolume {0:?} is neither a hostPath nor a local volume, which this node cannot mount")]
    UnsupportedSource(String),
    #[error("persistentvolumeclaim {0:?} was not looked up for this pod")]
    NotFetched(String),
}

/// The host directory behind a bound claim, with the hostPath `type` that
/// says whether it may be created (`DirectoryOrCreate`) or must exist (`Directory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedDir {
    pub path: String,
    pub type_: Option<String>,
}

/// Claim name → the host directory to mount, or why there is none.
pub type Claims = HashMap<String, Result<ClaimedDir, ClaimError>>;

/// The directory behind `claim` as `pvc` (and the volume it names, `pv`) say now.
pub fn resolve(claim: &str, pvc: Option<&PersistentVolumeClaim>, pv: Option<&PersistentVolume>) -> Result<ClaimedDir, ClaimError> {
    let pvc = pvc.ok_or_else(|| ClaimError::ClaimNotFound(claim.to_string()))?;
    let bound = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    let volume = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty());
    let Some(volume) = volume.filter(|_| bound) else { return Err(ClaimError::NotBound(claim.to_string())) };
    let pv = pv.ok_or_else(|| ClaimError::VolumeNotFound { claim: claim.to_string(), volume: volume.clone() })?;
    let spec = pv.spec.clone().unwrap_or_default();
    let held_by = spec.claim_ref.as_ref().and_then(|c| c.uid.as_ref());
    if held_by.is_some_and(|uid| Some(uid) != pvc.metadata.uid.as_ref()) {
        return Err(ClaimError::BoundElsewhere { claim: claim.to_string(), volume });
    }
    if let Some(host) = spec.host_path {
        return Ok(ClaimedDir { path: host.path, type_: host.type_ });
    }
    if let Some(local) = spec.local {
        // A local volume is a directory the administrator made: it must exist.
        return Ok(ClaimedDir { path: local.path, type_: Some("Directory".into()) });
    }
    Err(ClaimError::UnsupportedSource(volume))
}

/// The claims `pod`'s volumes name.
pub fn referenced_claims(pod: &Pod) -> Vec<String> {
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    volumes.filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| c.claim_name.clone())).collect()
}

/// Reads every claim the pod names, and the volume each is bound to.
pub async fn fetch(client: &Client, namespace: &str, pod: &Pod) -> Result<Claims, kube::Error> {
    let claims_api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let volumes_api: Api<PersistentVolume> = Api::all(client.clone());
    let mut claims = Claims::new();
    for name in referenced_claims(pod) {
        let pvc = claims_api.get_opt(&name).await?;
        let volume = pvc.as_ref().and_then(|c| c.spec.as_ref()?.volume_name.clone()).filter(|v| !v.is_empty());
        let pv = match volume {
            Some(volume) => volumes_api.get_opt(&volume).await?,
            None => None,
        };
        let resolved = resolve(&name, pvc.as_ref(), pv.as_ref());
        claims.insert(name, resolved);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(phase: &str, volume: &str) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "data", "uid": "claim-uid"},
            "spec": {"volumeName": volume, "accessModes": ["ReadWriteOnce"]},
            "status": {"phase": phase},
        }))
        .expect("claim")
    }

    fn volume(source: serde_json::Value, holder: &str) -> PersistentVolume {
        let mut spec = json!({"claimRef": {"name": "data", "namespace": "default", "uid": holder}});
        for (k, v) in source.as_object().expect("source").clone() {
            spec[k] = v;
        }
        serde_json::from_value(json!({"metadata": {"name": "pv1"}, "spec": spec})).expect("volume")
    }

    #[test]
    fn a_bound_claim_mounts_its_volumes_host_path() {
        let pv = volume(json!({"hostPath": {"path": "/srv/pv1", "type": "DirectoryOrCreate"}}), "claim-uid");
        let host = resolve("data", Some(&claim("Bound", "pv1")), Some(&pv)).expect("resolved");
        assert_eq!(host.path, "/srv/pv1");
        assert_eq!(host.type_.as_deref(), Some("DirectoryOrCreate"));
    }

    #[test]
    fn a_local_volume_must_already_exist() {
        let pv = volume(json!({"local": {"path": "/mnt/disk1"}}), "claim-uid");
        let host = resolve("data", Some(&claim("Bound", "pv1")), Some(&pv)).expect("resolved");
        assert_eq!((host.path.as_str(), host.type_.as_deref()), ("/mnt/disk1", Some("Directory")));
    }

    #[test]
    fn an_unbound_claim_says_so() {
        let err = resolve("data", Some(&claim("Pending", "")), None).expect_err("not bound");
        assert_eq!(err.to_string(), "persistentvolumeclaim \"data\" not bound");
        let err = resolve("data", Some(&claim("Pending", "pv1")), None).expect_err("named but not bound");
        assert_eq!(err, ClaimError::NotBound("data".into()));
        assert_eq!(resolve("data", None, None), Err(ClaimError::ClaimNotFound("data".into())));
    }

    #[test]
    fn a_volume_held_by_another_claim_or_gone_is_refused() {
        let pv = volume(json!({"hostPath": {"path": "/srv/pv1"}}), "someone-else");
        assert!(matches!(resolve("data", Some(&claim("Bound", "pv1")), Some(&pv)), Err(ClaimError::BoundElsewhere { .. })));
        assert!(matches!(resolve("data", Some(&claim("Bound", "pv1")), None), Err(ClaimError::VolumeNotFound { .. })));
        let nfs = volume(json!({"nfs": {"server": "x", "path": "/"}}), "claim-uid");
        assert!(matches!(resolve("data", Some(&claim("Bound", "pv1")), Some(&nfs)), Err(ClaimError::UnsupportedSource(_))));
    }
}
