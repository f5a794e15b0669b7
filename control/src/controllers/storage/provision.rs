//! The local-path provisioner: a claim of a class we provision gets a new
//! PersistentVolume `pvc-<claim uid>` whose hostPath directory is
//! `<data dir>/storage/<volume name>`, reserved for that claim from birth.
//! Removing a directory is confined to that folder, so a hand-made PV that
//! points elsewhere can never make us delete a host path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::class::{reclaim_policy, LOCAL_PATH_PROVISIONER};

/// The annotation naming the provisioner that created a volume (as upstream).
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// The folder of the data dir under which provisioned volumes live.
pub fn storage_root(data_dir: &Path) -> PathBuf {
    data_dir.join("storage")
}

/// The name of the volume provisioned for `pvc`.
pub fn volume_name(pvc: &PersistentVolumeClaim) -> Option<String> {
    pvc.metadata.uid.as_deref().map(|uid| format!("pvc-{uid}"))
}

/// The PersistentVolume to create for `pvc` of `class`, or `None` when the
/// claim has no uid yet (it cannot be reserved without one).
pub fn volume_for(pvc: &PersistentVolumeClaim, class: &StorageClass, data_dir: &Path) -> Option<PersistentVolume> {
    let name = volume_name(pvc)?;
    let claim = pvc.spec.clone().unwrap_or_default();
    let capacity = claim.resources.and_then(|r| r.requests).and_then(|r| r.get("storage").cloned())?;
    let path = storage_root(data_dir).join(&name);
    Some(PersistentVolume {
        metadata: ObjectMeta {
            name: Some(name),
            annotations: Some(BTreeMap::from([(PROVISIONED_BY.to_string(), LOCAL_PATH_PROVISIONER.to_string())])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: Some(BTreeMap::from([("storage".to_string(), capacity)])),
            access_modes: claim.access_modes,
            volume_mode: claim.volume_mode.or_else(|| Some("Filesystem".into())),
            host_path: Some(HostPathVolumeSource {
                path: path.to_string_lossy().into_owned(),
                type_: Some("DirectoryOrCreate".into()),
            }),
            claim_ref: Some(claim_reference(pvc)),
            persistent_volume_reclaim_policy: Some(reclaim_policy(class)),
            storage_class_name: class.metadata.name.clone(),
            mount_options: class.mount_options.clone(),
            ..Default::default()
        }),
        status: None,
    })
}

/// The `claimRef` a volume bound to `pvc` carries.
pub fn claim_reference(pvc: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: pvc.metadata.namespace.clone(),
        name: pvc.metadata.name.clone(),
        uid: pvc.metadata.uid.clone(),
        resource_version: pvc.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// Whether `pv` was made by this provisioner.
pub fn provisioned_by_us(pv: &PersistentVolume) -> bool {
    pv.metadata.annotations.as_ref().and_then(|a| a.get(PROVISIONED_BY)).map(String::as_str) == Some(LOCAL_PATH_PROVISIONER)
}

/// The directory of a volume we provisioned, only if it is exactly where we
/// put it: `<data dir>/storage/<pv name>`.
pub fn owned_directory(pv: &PersistentVolume, data_dir: &Path) -> Option<PathBuf> {
    let name = pv.metadata.name.as_deref()?;
    let path = PathBuf::from(&pv.spec.as_ref()?.host_path.as_ref()?.path);
    let expected = storage_root(data_dir).join(name);
    (provisioned_by_us(pv) && path == expected && !name.contains('/')).then_some(expected)
}

/// Creates a volume's directory (and the storage folder); already there is fine.
pub async fn create_directory(path: &Path) -> std::io::Result<()> {
    tokio::fs::create_dir_all(path).await
}

/// Removes a volume's directory with all it holds; already gone is fine.
pub async fn remove_directory(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_dir_all(path).await {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::storage::class::local_path_class;
    use crate::controllers::storage::matching::tests::claim;

    fn class() -> StorageClass {
        serde_json::from_value(local_path_class()).expect("class")
    }

    #[test]
    fn a_provisioned_volume_is_reserved_for_its_claim_under_the_data_dir() {
        let pvc = claim("data", "local-path", "1Gi", &["ReadWriteOnce"]);
        let pv = volume_for(&pvc, &class(), Path::new("/var/lib/wasmkube")).expect("a volume");
        assert_eq!(pv.metadata.name.as_deref(), Some("pvc-uid-data"));
        let spec = pv.spec.as_ref().expect("spec");
        let host = spec.host_path.as_ref().expect("hostPath");
        assert_eq!(host.path, "/var/lib/wasmkube/storage/pvc-uid-data");
        assert_eq!(host.type_.as_deref(), Some("DirectoryOrCreate"));
        assert_eq!(spec.capacity.as_ref().and_then(|c| c.get("storage")).map(|q| q.0.as_str()), Some("1Gi"));
        assert_eq!(spec.claim_ref.as_ref().and_then(|c| c.uid.as_deref()), Some("uid-data"));
        assert_eq!(spec.persistent_volume_reclaim_policy.as_deref(), Some("Delete"));
        assert_eq!(spec.storage_class_name.as_deref(), Some("local-path"));
        assert!(provisioned_by_us(&pv));
        assert_eq!(owned_directory(&pv, Path::new("/var/lib/wasmkube")), Some(PathBuf::from("/var/lib/wasmkube/storage/pvc-uid-data")));
    }

    #[test]
    fn a_volume_pointing_elsewhere_is_never_ours_to_remove() {
        let pvc = claim("data", "local-path", "1Gi", &["ReadWriteOnce"]);
        let mut pv = volume_for(&pvc, &class(), Path::new("/var/lib/wasmkube")).expect("a volume");
        pv.spec.as_mut().and_then(|s| s.host_path.as_mut()).expect("hostPath").path = "/etc".into();
        assert_eq!(owned_directory(&pv, Path::new("/var/lib/wasmkube")), None);
        pv.metadata.annotations = None;
        assert_eq!(owned_directory(&pv, Path::new("/var/lib/wasmkube")), None);
    }

    #[test]
    fn a_claim_without_uid_or_size_gets_no_volume() {
        let mut pvc = claim("data", "local-path", "1Gi", &["ReadWriteOnce"]);
        pvc.metadata.uid = None;
        assert!(volume_for(&pvc, &class(), Path::new("/d")).is_none());
    }

    #[tokio::test]
    async fn directories_are_created_and_removed_idempotently() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = storage_root(dir.path()).join("pvc-1");
        create_directory(&path).await.expect("create");
        create_directory(&path).await.expect("create again");
        std::fs::write(path.join("f"), "x").expect("write");
        remove_directory(&path).await.expect("remove");
        assert!(!path.exists());
        remove_directory(&path).await.expect("remove again");
    }
}
