//! Pod volumes on the node, under `<data_dir>/pods/<uid>/volumes/<name>`,
//! handed to runtimes as [`Mount`]s: emptyDir (tmpfs for `medium: Memory`),
//! hostPath, persistentVolumeClaim (the bound volume's directory, see
//! [`claims`]), and the projected kinds (configMap, secret, downwardAPI,
//! projected) kept current by [`PodVolumes::refresh`]. Secret-bearing volumes
//! live on tmpfs, so their files never touch the node's disk.

pub mod atomic;
pub mod claims;
pub mod projection;
pub mod tmpfs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, Pod, Volume};

pub use projection::Objects;

use crate::agent::spec::downward::NodeFacts;
use crate::agent::spec::quantity::parse_units;
use crate::agent::spec::SpecError;
use crate::cri::Mount;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{kind} {name:?} not found")]
    ObjectNotFound { kind: &'static str, name: String },
    #[error("couldn't find key {key} in {kind} {name}")]
    KeyNotFound { kind: &'static str, name: String, key: String },
    #[error("volume {0:?} is of a type this node does not support")]
    Unsupported(String),
    #[error("volumeMount names no volume {0:?}")]
    NoSuchVolume(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Claim(#[from] claims::ClaimError),
    #[error("mounting tmpfs at {path}: {reason}")]
    Tmpfs { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl VolumeError {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VolumeError {
        let path = path.to_path_buf();
        move |source| VolumeError::Io { path, source }
    }
}

/// A pod's volumes, set up on the node.
#[derive(Debug)]
pub struct PodVolumes {
    root: PathBuf,
    /// Volume name → host directory.
    dirs: HashMap<String, PathBuf>,
}

impl PodVolumes {
    /// Creates (or, after an agent restart, reuses) every volume of `pod`
    /// under `pod_dir/volumes`, and projects the current file contents.
    pub fn prepare(pod_dir: &Path, pod: &Pod, objects: &Objects, node: &NodeFacts) -> Result<Self, VolumeError> {
        let root = pod_dir.join("volumes");
        let mut dirs = HashMap::new();
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            let dir = prepare_volume(&root, volume, objects)?;
            dirs.insert(volume.name.clone(), dir);
        }
        let volumes = PodVolumes { root, dirs };
        volumes.refresh(pod, objects, node)?;
        Ok(volumes)
    }

    /// Rewrites projected volumes whose content changed (a ConfigMap update);
    /// returns whether any did.
    pub fn refresh(&self, pod: &Pod, objects: &Objects, node: &NodeFacts) -> Result<bool, VolumeError> {
        let mut changed = false;
        for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            if let Some(files) = projection::project(pod, volume, objects, node)? {
                let dir = self.dirs.get(&volume.name).ok_or_else(|| VolumeError::NoSuchVolume(volume.name.clone()))?;
                changed |= atomic::write_projection(dir, &files)?;
            }
        }
        Ok(changed)
    }

    /// The mounts of `container`; projected kinds are always read-only, as in Kubernetes.
    pub fn mounts_for(&self, pod: &Pod, container: &Container) -> Result<Vec<Mount>, VolumeError> {
        let volumes: HashMap<&str, &Volume> =
            pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()).map(|v| (v.name.as_str(), v)).collect();
        let mut mounts = Vec::new();
        for vm in container.volume_mounts.iter().flatten() {
            let volume = volumes.get(vm.name.as_str()).ok_or_else(|| VolumeError::NoSuchVolume(vm.name.clone()))?;
            let dir = self.dirs.get(&vm.name).ok_or_else(|| VolumeError::NoSuchVolume(vm.name.clone()))?;
            let host_path = match vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
                None => dir.clone(),
                Some(sub) if sub.starts_with('/') || sub.split('/').any(|p| p == "..") => {
                    return Err(VolumeError::Invalid(format!("subPath {sub:?} must be relative, without '..'")));
                }
                Some(sub) => {
                    let path = dir.join(sub);
                    std::fs::create_dir_all(&path).map_err(VolumeError::io(&path))?;
                    path
                }
            };
            let projected = volume.config_map.is_some()
                || volume.secret.is_some()
                || volume.downward_api.is_some()
                || volume.projected.is_some();
            let read_only_claim = volume.persistent_volume_claim.as_ref().is_some_and(|c| c.read_only == Some(true));
            mounts.push(Mount {
                container_path: vm.mount_path.clone(),
                host_path,
                read_only: vm.read_only == Some(true) || projected || read_only_claim,
            });
        }
        Ok(mounts)
    }

    /// Unmounts the pod's tmpfs volumes and deletes its volume directories
    /// (never the target of a hostPath).
    pub fn remove(pod_dir: &Path) -> Result<(), VolumeError> {
        let root = pod_dir.join("volumes");
        for mount in tmpfs::tmpfs_mounts_under(&root) {
            tmpfs::unmount(&mount)?;
        }
        match std::fs::remove_dir_all(&root) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(VolumeError::io(&root)(err)),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// The host directory of one volume, created as its kind requires.
fn prepare_volume(root: &Path, volume: &Volume, objects: &Objects) -> Result<PathBuf, VolumeError> {
    let dir = root.join(&volume.name);
    if let Some(host) = &volume.host_path {
        return prepare_host_path(&host.path, host.type_.as_deref());
    }
    if let Some(claim) = &volume.persistent_volume_claim {
        let name = &claim.claim_name;
        let resolved = objects.claims.get(name).cloned().unwrap_or_else(|| Err(claims::ClaimError::NotFetched(name.clone())));
        let dir = resolved?;
        return prepare_host_path(&dir.path, dir.type_.as_deref());
    }
    if let Some(empty) = &volume.empty_dir {
        if empty.medium.as_deref() == Some("Memory") {
            let size = empty.size_limit.as_ref().and_then(|q| parse_units(&q.0));
            tmpfs::mount_tmpfs(&dir, size)?;
        } else {
            std::fs::create_dir_all(&dir).map_err(VolumeError::io(&dir))?;
        }
        return Ok(dir);
    }
    if volume.secret.is_some() || volume.projected.is_some() {
        tmpfs::mount_tmpfs(&dir, None)?;
        return Ok(dir);
    }
    if volume.config_map.is_some() || volume.downward_api.is_some() {
        std::fs::create_dir_all(&dir).map_err(VolumeError::io(&dir))?;
        return Ok(dir);
    }
    Err(VolumeError::Unsupported(volume.name.clone()))
}

/// A host directory, created first when its type says `DirectoryOrCreate`.
fn prepare_host_path(path: &str, kind: Option<&str>) -> Result<PathBuf, VolumeError> {
    let path = PathBuf::from(path);
    if kind == Some("DirectoryOrCreate") {
        std::fs::create_dir_all(&path).map_err(VolumeError::io(&path))?;
    } else if kind == Some("Directory") && !path.is_dir() {
        return Err(VolumeError::Invalid(format!("hostPath {} is not a directory", path.display())));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{ConfigMapVolumeSource, EmptyDirVolumeSource, PodSpec, VolumeMount};

    use super::*;
    use crate::agent::spec::downward::tests::{node, pod};

    fn pod_with_volumes() -> Pod {
        let mut pod = pod();
        pod.spec = Some(PodSpec {
            volumes: Some(vec![
                Volume { name: "scratch".into(), empty_dir: Some(EmptyDirVolumeSource::default()), ..Default::default() },
                Volume {
                    name: "config".into(),
                    config_map: Some(ConfigMapVolumeSource { name: "cfg".into(), ..Default::default() }),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        });
        pod
    }

    fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
        VolumeMount { name: name.into(), mount_path: path.into(), read_only: Some(read_only), ..Default::default() }
    }

    #[test]
    fn prepares_mounts_and_refreshes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pod = pod_with_volumes();
        let mut objects = Objects::default();
        objects.config_maps.insert("cfg".into(), [("k".to_string(), b"v1".to_vec())].into());
        let volumes = PodVolumes::prepare(dir.path(), &pod, &objects, &node()).expect("prepare");
        let container = Container {
            volume_mounts: Some(vec![mount("scratch", "/scratch", false), mount("config", "/etc/cfg", false)]),
            ..Default::default()
        };
        let mounts = volumes.mounts_for(&pod, &container).expect("mounts");
        assert_eq!(mounts.len(), 2);
        assert!(!mounts[0].read_only);
        assert!(mounts[1].read_only, "configMap volumes are read-only");
        assert_eq!(std::fs::read_to_string(mounts[1].host_path.join("k")).expect("file"), "v1");

        objects.config_maps.insert("cfg".into(), [("k".to_string(), b"v2".to_vec())].into());
        assert!(volumes.refresh(&pod, &objects, &node()).expect("refresh"));
        assert_eq!(std::fs::read_to_string(mounts[1].host_path.join("k")).expect("file"), "v2");

        let bad = Container { volume_mounts: Some(vec![mount("absent", "/x", false)]), ..Default::default() };
        assert!(matches!(volumes.mounts_for(&pod, &bad), Err(VolumeError::NoSuchVolume(_))));
        PodVolumes::remove(dir.path()).expect("remove");
        assert!(!dir.path().join("volumes").exists());
    }

    #[test]
    fn a_claim_mounts_its_volume_directory_and_an_unbound_one_fails() {
        use k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource;
        let pod_dir = tempfile::tempdir().expect("tempdir");
        let storage = tempfile::tempdir().expect("tempdir");
        let volume_dir = storage.path().join("pvc-1");
        let mut pod = pod();
        let claim = |name: &str, read_only| Volume {
            name: name.into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: name.into(), read_only: Some(read_only) }),
            ..Default::default()
        };
        pod.spec = Some(PodSpec { volumes: Some(vec![claim("data", true)]), ..Default::default() });
        let mut objects = Objects::default();
        let dir = claims::ClaimedDir { path: volume_dir.to_string_lossy().into_owned(), type_: Some("DirectoryOrCreate".into()) };
        objects.claims.insert("data".into(), Ok(dir));
        let volumes = PodVolumes::prepare(pod_dir.path(), &pod, &objects, &node()).expect("prepare");
        assert!(volume_dir.is_dir(), "DirectoryOrCreate makes the volume's directory");
        let container = Container { volume_mounts: Some(vec![mount("data", "/data", false)]), ..Default::default() };
        let mounts = volumes.mounts_for(&pod, &container).expect("mounts");
        assert_eq!(mounts[0].host_path, volume_dir);
        assert!(mounts[0].read_only, "readOnly on the claim source makes the mount read-only");
        PodVolumes::remove(pod_dir.path()).expect("remove");
        assert!(volume_dir.is_dir(), "removing the pod's volumes never removes a claim's data");

        objects.claims.insert("data".into(), Err(claims::ClaimError::NotBound("data".into())));
        let err = PodVolumes::prepare(pod_dir.path(), &pod, &objects, &node()).expect_err("unbound");
        assert_eq!(err.to_string(), "persistentvolumeclaim \"data\" not bound");
    }
}
