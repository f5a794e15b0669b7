//! Printers for storage: PersistentVolumes, PersistentVolumeClaims and
//! StorageClasses.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::format::{age, decode, name_of};
use super::printer::{cells, Column, Printer, Row};

/// The legacy annotation that wins over `spec.storageClassName`.
const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// `RWO,ROX,RWX,RWOP`, in that fixed order, each at most once.
fn access_modes(modes: Option<&Vec<String>>) -> String {
    let modes = modes.map(Vec::as_slice).unwrap_or_default();
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")]
        .iter()
        .filter(|(mode, _)| modes.iter().any(|m| m == mode))
        .map(|(_, short)| *short)
        .collect::<Vec<_>>()
        .join(",")
}

fn storage_class(meta: &ObjectMeta, spec_class: Option<&String>) -> String {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS))
        .or(spec_class)
        .cloned()
        .unwrap_or_default()
}

pub const PERSISTENT_VOLUMES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Capacity", "capacity is the description of the persistent volume's resources and capacity."),
        Column::string("Access Modes", "accessModes contains all ways the volume can be mounted."),
        Column::string("Reclaim Policy", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
        Column::string("Status", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
        Column::string("Claim", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
        Column::string("StorageClass", "StorageClass of the pv"),
        Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        Column::string("Reason", "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
        Column::AGE,
        Column::string("VolumeMode", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.").wide(),
    ],
    row: persistent_volume_row,
};

fn persistent_volume_row(obj: &Value, now: Timestamp) -> Row {
    let pv: PersistentVolume = decode(obj);
    let spec = pv.spec.unwrap_or_default();
    let status = pv.status.unwrap_or_default();
    let claim = spec
        .claim_ref
        .as_ref()
        .map(|c| format!("{}/{}", c.namespace.as_deref().unwrap_or_default(), c.name.as_deref().unwrap_or_default()))
        .unwrap_or_default();
    // A missing capacity prints as Go's zero Quantity.
    let capacity = spec.capacity.as_ref().and_then(|c| c.get("storage")).map_or("0".to_string(), |q| q.0.clone());
    let phase = if pv.metadata.deletion_timestamp.is_some() {
        "Terminating".to_string()
    } else {
        status.phase.unwrap_or_default()
    };
    cells![
        name_of(obj),
        capacity,
        access_modes(spec.access_modes.as_ref()),
        spec.persistent_volume_reclaim_policy.clone().unwrap_or_default(),
        phase,
        claim,
        storage_class(&pv.metadata, spec.storage_class_name.as_ref()),
        spec.volume_attributes_class_name.clone().unwrap_or_else(|| "<unset>".to_string()),
        status.reason.unwrap_or_default(),
        age(&pv.metadata, now),
        spec.volume_mode.unwrap_or_else(|| "<unset>".to_string()),
    ]
    .into()
}

pub const PERSISTENT_VOLUME_CLAIMS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Status", "phase represents the current phase of PersistentVolumeClaim."),
        Column::string("Volume", "volumeName is the binding reference to the PersistentVolume backing this claim."),
        Column::string("Capacity", "capacity represents the actual resources of the underlying volume."),
        Column::string("Access Modes", "accessModes contains the actual access modes the volume backing the PVC has."),
        Column::string("StorageClass", "StorageClass of the pvc"),
        Column::string("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        Column::AGE,
        Column::string("VolumeMode", "volumeMode defines what type of volume is required by the claim.").wide(),
    ],
    row: persistent_volume_claim_row,
};

fn persistent_volume_claim_row(obj: &Value, now: Timestamp) -> Row {
    let pvc: PersistentVolumeClaim = decode(obj);
    let spec = pvc.spec.unwrap_or_default();
    let status = pvc.status.unwrap_or_default();
    let phase = if pvc.metadata.deletion_timestamp.is_some() {
        "Terminating".to_string()
    } else {
        status.phase.unwrap_or_default()
    };
    let volume = spec.volume_name.clone().unwrap_or_default();
    // Capacity and modes describe the bound volume, so only once bound.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        let capacity = status.capacity.as_ref().and_then(|c| c.get("storage")).map_or("0".to_string(), |q| q.0.clone());
        (capacity, access_modes(status.access_modes.as_ref()))
    };
    cells![
        name_of(obj),
        phase,
        volume,
        capacity,
        modes,
        storage_class(&pvc.metadata, spec.storage_class_name.as_ref()),
        spec.volume_attributes_class_name.clone().unwrap_or_else(|| "<unset>".to_string()),
        age(&pvc.metadata, now),
        spec.volume_mode.unwrap_or_else(|| "<unset>".to_string()),
    ]
    .into()
}

pub const STORAGE_CLASSES: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Provisioner", "provisioner indicates the type of the provisioner."),
        Column::string("ReclaimPolicy", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
        Column::string("VolumeBindingMode", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
        Column::string("AllowVolumeExpansion", "allowVolumeExpansion shows whether the storage class allow volume expand."),
        Column::AGE,
    ],
    row: storage_class_row,
};

/// Annotations that mark the cluster's default class.
const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] =
    ["storageclass.kubernetes.io/is-default-class", "storageclass.beta.kubernetes.io/is-default-class"];

fn storage_class_row(obj: &Value, now: Timestamp) -> Row {
    let class: StorageClass = decode(obj);
    let annotations = class.metadata.annotations.clone().unwrap_or_default();
    let is_default = DEFAULT_CLASS_ANNOTATIONS.iter().any(|a| annotations.get(*a).is_some_and(|v| v == "true"));
    let mut name = name_of(obj);
    if is_default {
        name.push_str(" (default)");
    }
    cells![
        name,
        class.provisioner,
        class.reclaim_policy.unwrap_or_else(|| "Delete".to_string()),
        class.volume_binding_mode.unwrap_or_else(|| "Immediate".to_string()),
        class.allow_volume_expansion.unwrap_or(false),
        age(&class.metadata, now),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn pv_cells() {
        let pv = json!({"metadata": {"name": "pv1"},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "local",
                     "claimRef": {"namespace": "default", "name": "data"}},
            "status": {"phase": "Bound"}});
        assert_eq!(
            persistent_volume_row(&pv, now()).cells,
            vec![json!("pv1"), json!("1Gi"), json!("RWO,RWX"), json!("Retain"), json!("Bound"), json!("default/data"),
                 json!("local"), json!("<unset>"), json!(""), json!("<unknown>"), json!("<unset>")]
        );
    }

    #[test]
    fn pvc_cells_depend_on_binding() {
        let pending = json!({"metadata": {"name": "data", "annotations": {BETA_STORAGE_CLASS: "old"}},
            "spec": {"storageClassName": "new"}, "status": {"phase": "Pending"}});
        assert_eq!(
            persistent_volume_claim_row(&pending, now()).cells[1..6],
            [json!("Pending"), json!(""), json!(""), json!(""), json!("old")]
        );
        let bound = json!({"metadata": {"name": "data"}, "spec": {"volumeName": "pv1", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}});
        let cells = persistent_volume_claim_row(&bound, now()).cells;
        assert_eq!(cells[1..5], [json!("Bound"), json!("pv1"), json!("1Gi"), json!("RWO")]);
        assert_eq!(cells[8], json!("Filesystem"));
    }

    #[test]
    fn default_storage_class_is_marked() {
        let sc = json!({"metadata": {"name": "local", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                        "provisioner": "wasmkube.io/local"});
        assert_eq!(
            storage_class_row(&sc, now()).cells[..5],
            [json!("local (default)"), json!("wasmkube.io/local"), json!("Delete"), json!("Immediate"), json!(false)]
        );
    }
}
