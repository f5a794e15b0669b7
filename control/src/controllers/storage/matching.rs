//! Which existing PersistentVolume an unbound claim may take: the smallest
//! Available volume of the claim's class that is big enough, offers every
//! access mode the claim asks for and matches its selector. A volume already
//! reserved for this very claim (its `claimRef` names it) wins outright.

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::core::{Selector, SelectorExt};

use crate::api::validation::quantity::Quantity;

/// The storage size in bytes of a `capacity`/`requests` map; `None` when absent or malformed.
pub fn storage_bytes(list: Option<&std::collections::BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>) -> Option<i128> {
    let raw = list?.get("storage")?;
    Quantity::parse(&raw.0).ok().map(|q| q.value())
}

/// The class a claim asks for; `""` means "no class" (only class-less volumes).
pub fn claim_class(pvc: &PersistentVolumeClaim) -> &str {
    pvc.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()).unwrap_or("")
}

/// The class a volume belongs to; `""` when it has none.
pub fn volume_class(pv: &PersistentVolume) -> &str {
    pv.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()).unwrap_or("")
}

/// Whether `pv`'s `claimRef` points at `pvc` (by namespace and name, and by uid when it names one).
pub fn reserved_for(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    let Some(claim) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return false };
    let same_name = claim.name == pvc.metadata.name && claim.namespace == pvc.metadata.namespace;
    let same_uid = claim.uid.is_none() || claim.uid == pvc.metadata.uid;
    same_name && same_uid
}

/// Whether `pv` is free to be bound: no claim holds it and it is not on its way out.
fn available(pv: &PersistentVolume) -> bool {
    let unclaimed = pv.spec.as_ref().is_none_or(|s| s.claim_ref.is_none());
    let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref());
    unclaimed && pv.metadata.deletion_timestamp.is_none() && matches!(phase, None | Some("Available" | "Pending"))
}

/// Whether `pv` satisfies what `pvc` asks for (class, size, access modes, selector, volume mode).
fn fits(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    let (Some(pv_spec), Some(claim)) = (pv.spec.as_ref(), pvc.spec.as_ref()) else { return false };
    if volume_class(pv) != claim_class(pvc) {
        return false;
    }
    let wanted = storage_bytes(claim.resources.as_ref().and_then(|r| r.requests.as_ref())).unwrap_or(0);
    if storage_bytes(pv_spec.capacity.as_ref()).is_none_or(|has| has < wanted) {
        return false;
    }
    let offered = pv_spec.access_modes.as_deref().unwrap_or_default();
    if !claim.access_modes.iter().flatten().all(|m| offered.contains(m)) {
        return false;
    }
    let mode = |m: Option<&String>| m.map_or("Filesystem", String::as_str).to_string();
    if mode(pv_spec.volume_mode.as_ref()) != mode(claim.volume_mode.as_ref()) {
        return false;
    }
    match claim.selector.clone().map(Selector::try_from) {
        None => true,
        Some(Ok(selector)) => selector.matches(pv.metadata.labels.as_ref().unwrap_or(&Default::default())),
        // A selector that cannot be parsed selects nothing.
        Some(Err(_)) => false,
    }
}

/// The volume `pvc` should bind to, if any.
pub fn best_match<'a>(pvc: &PersistentVolumeClaim, volumes: &'a [PersistentVolume]) -> Option<&'a PersistentVolume> {
    if let Some(reserved) = volumes.iter().find(|pv| reserved_for(pv, pvc) && pv.metadata.deletion_timestamp.is_none()) {
        return Some(reserved);
    }
    volumes
        .iter()
        .filter(|pv| available(pv) && fits(pv, pvc))
        .min_by_key(|pv| storage_bytes(pv.spec.as_ref().and_then(|s| s.capacity.as_ref())).unwrap_or(i128::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn claim(name: &str, class: &str, size: &str, modes: &[&str]) -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")},
            "spec": {"storageClassName": class, "accessModes": modes, "resources": {"requests": {"storage": size}}},
        }))
        .expect("a claim")
    }

    pub fn volume(name: &str, class: &str, size: &str, modes: &[&str]) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"disk": name}},
            "spec": {"storageClassName": class, "accessModes": modes, "capacity": {"storage": size}, "hostPath": {"path": format!("/mnt/{name}")}},
            "status": {"phase": "Available"},
        }))
        .expect("a volume")
    }

    fn names(found: Option<&PersistentVolume>) -> Option<&str> {
        found.and_then(|pv| pv.metadata.name.as_deref())
    }

    #[test]
    fn the_smallest_volume_that_fits_wins() {
        let pvc = claim("data", "manual", "2Gi", &["ReadWriteOnce"]);
        let pvs = [
            volume("huge", "manual", "100Gi", &["ReadWriteOnce"]),
            volume("small", "manual", "1Gi", &["ReadWriteOnce"]),
            volume("right", "manual", "2048Mi", &["ReadWriteOnce", "ReadOnlyMany"]),
            volume("other-class", "fast", "2Gi", &["ReadWriteOnce"]),
        ];
        assert_eq!(names(best_match(&pvc, &pvs)), Some("right"));
    }

    #[test]
    fn access_modes_must_be_a_superset() {
        let pvc = claim("data", "", "1Gi", &["ReadWriteOnce", "ReadOnlyMany"]);
        let pvs = [volume("rwo", "", "1Gi", &["ReadWriteOnce"])];
        assert_eq!(names(best_match(&pvc, &pvs)), None);
        let pvs = [volume("both", "", "1Gi", &["ReadOnlyMany", "ReadWriteOnce"])];
        assert_eq!(names(best_match(&pvc, &pvs)), Some("both"));
    }

    #[test]
    fn claimed_or_released_volumes_are_skipped_and_a_reserved_one_wins() {
        let pvc = claim("data", "", "1Gi", &["ReadWriteOnce"]);
        let mut taken = volume("taken", "", "1Gi", &["ReadWriteOnce"]);
        taken.spec.as_mut().expect("spec").claim_ref = Some(k8s_openapi::api::core::v1::ObjectReference {
            name: Some("someone-else".into()),
            namespace: Some("default".into()),
            ..Default::default()
        });
        let mut released = volume("released", "", "1Gi", &["ReadWriteOnce"]);
        released.status.as_mut().expect("status").phase = Some("Released".into());
        assert_eq!(names(best_match(&pvc, &[taken.clone(), released])), None);

        let mut mine = volume("mine", "", "5Gi", &["ReadWriteOnce"]);
        mine.spec.as_mut().expect("spec").claim_ref =
            Some(k8s_openapi::api::core::v1::ObjectReference { name: Some("data".into()), namespace: Some("default".into()), ..Default::default() });
        let free = volume("free", "", "1Gi", &["ReadWriteOnce"]);
        assert_eq!(names(best_match(&pvc, &[free, taken, mine])), Some("mine"), "pre-bound volumes come first");
    }

    #[test]
    fn a_selector_narrows_the_choice() {
        let mut pvc = claim("data", "", "1Gi", &["ReadWriteOnce"]);
        pvc.spec.as_mut().expect("spec").selector =
            Some(serde_json::from_value(json!({"matchLabels": {"disk": "b"}})).expect("selector"));
        let pvs = [volume("a", "", "1Gi", &["ReadWriteOnce"]), volume("b", "", "3Gi", &["ReadWriteOnce"])];
        assert_eq!(names(best_match(&pvc, &pvs)), Some("b"));
    }

    #[test]
    fn too_small_volumes_do_not_fit() {
        let pvc = claim("data", "", "1Gi", &["ReadWriteOnce"]);
        assert_eq!(names(best_match(&pvc, &[volume("tiny", "", "500Mi", &["ReadWriteOnce"])])), None);
    }
}
