//! The PersistentVolumeClaims of a StatefulSet's replicas, one per
//! `volumeClaimTemplates` entry and ordinal (`<template>-<set>-<ordinal>`).
//! They are made before the replica's pod and belong to nobody by default,
//! so they outlive scale-downs and the set itself and are found again by name
//! when the replica comes back. `persistentVolumeClaimRetentionPolicy`
//! changes that: `whenDeleted: Delete` makes the set their owner (the garbage
//! collector removes them with it), `whenScaled: Delete` has them removed once
//! their replica is scaled away.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

use super::identity::claim_name;

/// The claims replica `ordinal` needs, as they would be created.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let set_name = set.name_any();
    let selector_labels = set.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
    let owner = deleted_with_set(set).then(|| set_owner(set));
    let templates = set.spec.iter().flat_map(|s| s.volume_claim_templates.iter().flatten());
    templates
        .map(|template| {
            let mut labels: BTreeMap<String, String> = template.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&template.name_any(), &set_name, ordinal)),
                    namespace: set.namespace(),
                    labels: Some(labels),
                    annotations: template.metadata.annotations.clone(),
                    owner_references: owner.clone().map(|o| vec![o]),
                    ..Default::default()
                },
                spec: template.spec.clone(),
                status: None,
            }
        })
        .collect()
}

fn policy(set: &StatefulSet) -> (String, String) {
    let policy = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.clone()).unwrap_or_default();
    (policy.when_deleted.unwrap_or_else(|| "Retain".into()), policy.when_scaled.unwrap_or_else(|| "Retain".into()))
}

/// Whether the claims go when the set is deleted (`whenDeleted: Delete`).
pub fn deleted_with_set(set: &StatefulSet) -> bool {
    policy(set).0 == "Delete"
}

/// Whether the claims of scaled-away replicas go (`whenScaled: Delete`).
pub fn deleted_on_scale_down(set: &StatefulSet) -> bool {
    policy(set).1 == "Delete"
}

/// The non-controller ownerReference that hands a claim to the garbage collector with its set.
pub fn set_owner(set: &StatefulSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: set.name_any(),
        uid: set.uid().unwrap_or_default(),
        controller: None,
        block_owner_deletion: Some(true),
    }
}

/// The ordinal of the replica whose claim is named `claim`, if it is one of `set`'s.
pub fn ordinal_of_claim(set: &StatefulSet, claim: &str) -> Option<i32> {
    let set_name = set.name_any();
    let mut templates = set.spec.iter().flat_map(|s| s.volume_claim_templates.iter().flatten());
    templates.find_map(|t| super::identity::claim_ordinal(&t.name_any(), &set_name, claim))
}

/// The claims (by name) to delete because their replica was scaled away and
/// `whenScaled` says Delete: ordinals outside the replicas whose pod is gone.
pub fn scaled_away(set: &StatefulSet, existing: &[String], live_ordinals: &HashSet<i32>) -> Vec<String> {
    if !deleted_on_scale_down(set) {
        return Vec::new();
    }
    let start = super::identity::start_ordinal(set);
    let replicas = set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    existing
        .iter()
        .filter(|claim| {
            let ordinal = ordinal_of_claim(set, claim);
            ordinal.is_some_and(|o| (o < start || o - start >= replicas) && !live_ordinals.contains(&o))
        })
        .cloned()
        .collect()
}

/// The ownerReferences one of `set`'s claims should carry under the current
/// `whenDeleted` policy, or `None` when it already does: the set is added for
/// Delete and removed for Retain (the policy may change after the claims exist).
pub fn owners_to_write(set: &StatefulSet, claim: &PersistentVolumeClaim) -> Option<Vec<OwnerReference>> {
    let uid = set.uid()?;
    let current = claim.owner_references().to_vec();
    let has_set = current.iter().any(|o| o.uid == uid);
    match (deleted_with_set(set), has_set) {
        (true, false) => Some(current.into_iter().chain([set_owner(set)]).collect()),
        (false, true) => Some(current.into_iter().filter(|o| o.uid != uid).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::statefulset::identity::tests::set;
    use k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy;

    #[test]
    fn each_template_gives_each_replica_a_claim_owned_by_nobody() {
        let s = set(3);
        let claims = claims_for(&s, 2);
        assert_eq!(claims.len(), 1);
        let claim = &claims[0];
        assert_eq!(claim.metadata.name.as_deref(), Some("data-web-2"));
        assert_eq!(claim.labels().get("app").map(String::as_str), Some("web"));
        assert!(claim.owner_references().is_empty(), "kept on scale-down and set deletion by default");
        assert_eq!(claim.spec.as_ref().and_then(|s| s.access_modes.clone()), Some(vec!["ReadWriteOnce".to_string()]));
    }

    #[test]
    fn retention_policy_delete_hands_claims_to_the_set_or_to_scale_down() {
        let mut s = set(1);
        s.spec.as_mut().expect("spec").persistent_volume_claim_retention_policy = Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
            when_deleted: Some("Delete".into()),
            when_scaled: Some("Delete".into()),
        });
        assert_eq!(claims_for(&s, 0)[0].owner_references()[0].uid, "set-uid");
        let existing: Vec<String> = ["data-web-0", "data-web-1", "data-web-2", "other-web-3", "data-webx-4"].map(String::from).to_vec();
        let live: HashSet<i32> = [2].into();
        assert_eq!(scaled_away(&s, &existing, &live), vec!["data-web-1".to_string()], "web-2 still runs: its claim waits");
    }

    #[test]
    fn a_changed_when_deleted_policy_rewrites_the_owner_of_existing_claims() {
        let mut s = set(1);
        let claim = claims_for(&s, 0).remove(0);
        assert_eq!(owners_to_write(&s, &claim), None, "Retain and no owner: nothing to do");
        s.spec.as_mut().expect("spec").persistent_volume_claim_retention_policy =
            Some(StatefulSetPersistentVolumeClaimRetentionPolicy { when_deleted: Some("Delete".into()), when_scaled: None });
        let owners = owners_to_write(&s, &claim).expect("the set becomes the owner");
        assert_eq!(owners.iter().map(|o| o.uid.as_str()).collect::<Vec<_>>(), ["set-uid"]);
        let owned = claims_for(&s, 0).remove(0);
        assert_eq!(owners_to_write(&s, &owned), None, "already owned");
        assert_eq!(owners_to_write(&set(1), &owned), Some(vec![]), "back to Retain: the set lets go");
        assert_eq!(ordinal_of_claim(&s, "data-web-7"), Some(7));
        assert_eq!(ordinal_of_claim(&s, "logs-web-7"), None);
    }

    #[test]
    fn retained_claims_are_never_scaled_away() {
        let existing = vec!["data-web-2".to_string()];
        assert!(scaled_away(&set(1), &existing, &HashSet::new()).is_empty());
    }
}
