//! PersistentVolumeClaims and PersistentVolumes: access modes, sizes, modes
//! and reclaim policies.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as RawQuantity;

use super::checks::one_of;
use super::path::FieldPath;
use super::quantity::Quantity;
use crate::error::FieldError;

const ACCESS_MODES: &[&str] = &["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"];
const VOLUME_MODES: &[&str] = &["Block", "Filesystem"];

fn validate_access_modes(modes: Option<&Vec<String>>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let modes = modes.map(Vec::as_slice).unwrap_or_default();
    if modes.is_empty() {
        errs.push(FieldError { detail: "at least 1 access mode is required".into(), ..FieldError::required(path) });
    }
    for mode in modes {
        one_of(errs, path, Some(mode), ACCESS_MODES);
    }
}

/// `storage` must be present in `list` and be a positive quantity.
fn validate_storage(list: Option<&BTreeMap<String, RawQuantity>>, path: &FieldPath, errs: &mut Vec<FieldError>) {
    let p = path.key("storage");
    match list.and_then(|l| l.get("storage")) {
        None => errs.push(FieldError::required(p)),
        Some(raw) => match Quantity::parse(&raw.0) {
            Ok(q) if q.is_zero() || q.is_negative() => {
                errs.push(FieldError::invalid(p, &raw.0, "must be greater than zero"))
            }
            Ok(_) => {}
            Err(e) => errs.push(FieldError::invalid(p, &raw.0, e.to_string())),
        },
    }
}

pub fn validate_pvc(pvc: &PersistentVolumeClaim, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec");
    let Some(spec) = &pvc.spec else { return errs.push(FieldError::required(&p)) };
    validate_access_modes(spec.access_modes.as_ref(), &p.child("accessModes"), errs);
    let requests = spec.resources.as_ref().and_then(|r| r.requests.as_ref());
    validate_storage(requests, &p.child("resources").child("requests"), errs);
    one_of(errs, &p.child("volumeMode"), spec.volume_mode.as_deref(), VOLUME_MODES);
}

pub fn validate_pv(pv: &PersistentVolume, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec");
    let Some(spec) = &pv.spec else { return errs.push(FieldError::required(&p)) };
    validate_access_modes(spec.access_modes.as_ref(), &p.child("accessModes"), errs);
    validate_storage(spec.capacity.as_ref(), &p.child("capacity"), errs);
    one_of(errs, &p.child("volumeMode"), spec.volume_mode.as_deref(), VOLUME_MODES);
    one_of(
        errs,
        &p.child("persistentVolumeReclaimPolicy"),
        spec.persistent_volume_reclaim_policy.as_deref(),
        &["Recycle", "Delete", "Retain"],
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims() {
        let claim = |spec| -> Vec<String> {
            let pvc: PersistentVolumeClaim =
                serde_json::from_value(json!({"metadata": {"name": "c"}, "spec": spec})).expect("pvc");
            let mut errs = Vec::new();
            validate_pvc(&pvc, &mut errs);
            errs.iter().map(ToString::to_string).collect()
        };
        assert!(
            claim(json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}})).is_empty()
        );
        let errs = claim(json!({"resources": {"requests": {"storage": "0"}}, "volumeMode": "Tape"}));
        assert_eq!(errs[0], "spec.accessModes: Required value: at least 1 access mode is required");
        assert_eq!(errs[1], "spec.resources.requests[storage]: Invalid value: \"0\": must be greater than zero");
        assert!(errs[2].starts_with("spec.volumeMode: Unsupported value: \"Tape\""));
        let errs = claim(json!({"accessModes": ["ReadWriteSometimes"]}));
        assert!(errs[0].starts_with("spec.accessModes: Unsupported value: \"ReadWriteSometimes\""));
        assert_eq!(errs[1], "spec.resources.requests[storage]: Required value");
    }

    #[test]
    fn volumes() {
        let pv: PersistentVolume = serde_json::from_value(json!({"metadata": {"name": "v"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "5Gi"}, "hostPath": {"path": "/data"},
            "persistentVolumeReclaimPolicy": "Keep"}}))
        .expect("pv");
        let mut errs = Vec::new();
        validate_pv(&pv, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.persistentVolumeReclaimPolicy");
    }
}
