//! Which objects a controller owns, as upstream's ControllerRefManager decides:
//! the ones with its controller ownerReference whose labels still match its
//! selector; orphans whose labels match are adopted; owned ones whose labels no
//! longer match are released (the relabel trick: take a pod out of a
//! ReplicaSet for debugging and the ReplicaSet replaces it). Objects another
//! controller owns are never touched.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Resource;

use super::selector::PodSelector;

/// `objects` sorted by what the owner should do with them.
#[derive(Debug)]
pub struct Claims<'a, T> {
    /// Already ours and still selected.
    pub owned: Vec<&'a T>,
    /// Orphans to adopt (patch our controller reference in).
    pub adopt: Vec<&'a T>,
    /// Ours but no longer selected: remove our reference.
    pub release: Vec<&'a T>,
}

/// The controller reference of `object`, if any.
pub fn controller_ref<T: Resource>(object: &T) -> Option<&OwnerReference> {
    object.meta().owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// Sorts `objects` for the owner whose uid is `owner_uid`. An owner being
/// deleted adopts nothing and releases nothing, as upstream.
pub fn claim<'a, T: Resource>(owner_uid: &str, owner_deleting: bool, selector: &PodSelector, objects: &'a [T]) -> Claims<'a, T> {
    let mut claims = Claims { owned: Vec::new(), adopt: Vec::new(), release: Vec::new() };
    for object in objects {
        let meta = object.meta();
        let matches = selector.matches(meta.labels.as_ref());
        match controller_ref(object) {
            Some(r) if r.uid == owner_uid => {
                if matches {
                    claims.owned.push(object);
                } else if !owner_deleting {
                    claims.release.push(object);
                }
            }
            Some(_) => {}
            None if matches && !owner_deleting && meta.deletion_timestamp.is_none() => claims.adopt.push(object),
            None => {}
        }
    }
    claims
}

/// The ownerReferences `object` should have once `ours` is added (adoption).
pub fn with_reference<T: Resource>(object: &T, ours: OwnerReference) -> Vec<OwnerReference> {
    let mut refs: Vec<OwnerReference> = object.meta().owner_references.iter().flatten().filter(|r| r.uid != ours.uid).cloned().collect();
    refs.push(ours);
    refs
}

/// The ownerReferences `object` keeps once the one to `owner_uid` is removed (release).
pub fn without_reference<T: Resource>(object: &T, owner_uid: &str) -> Vec<OwnerReference> {
    object.meta().owner_references.iter().flatten().filter(|r| r.uid != owner_uid).cloned().collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    use super::*;

    fn reference(uid: &str, controller: bool) -> OwnerReference {
        OwnerReference { api_version: "apps/v1".into(), kind: "ReplicaSet".into(), name: uid.into(), uid: uid.into(), controller: Some(controller), block_owner_deletion: Some(true) }
    }

    fn pod(name: &str, app: &str, owner: Option<OwnerReference>) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(BTreeMap::from([("app".to_string(), app.to_string())])),
                owner_references: owner.map(|o| vec![o]),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn names(pods: &[&Pod]) -> Vec<String> {
        pods.iter().map(|p| p.metadata.name.clone().unwrap_or_default()).collect()
    }

    fn web() -> PodSelector {
        PodSelector::from_map(Some(&BTreeMap::from([("app".to_string(), "web".to_string())]))).expect("selector")
    }

    #[test]
    fn owns_adopts_releases_and_ignores() {
        let mut deleting_orphan = pod("deleting-orphan", "web", None);
        deleting_orphan.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        let pods = vec![
            pod("mine", "web", Some(reference("rs1", true))),
            pod("relabeled", "debug", Some(reference("rs1", true))),
            pod("orphan", "web", None),
            pod("orphan-other-app", "db", None),
            pod("theirs", "web", Some(reference("rs2", true))),
            pod("not-controlled", "web", Some(reference("rs9", false))),
            deleting_orphan,
        ];
        let claims = claim("rs1", false, &web(), &pods);
        assert_eq!(names(&claims.owned), ["mine"]);
        assert_eq!(names(&claims.adopt), ["orphan", "not-controlled"]);
        assert_eq!(names(&claims.release), ["relabeled"]);
    }

    #[test]
    fn an_owner_being_deleted_adopts_and_releases_nothing() {
        let pods = vec![pod("relabeled", "debug", Some(reference("rs1", true))), pod("orphan", "web", None)];
        let claims = claim("rs1", true, &web(), &pods);
        assert!(claims.adopt.is_empty() && claims.release.is_empty() && claims.owned.is_empty());
    }

    #[test]
    fn references_are_added_once_and_removed_by_uid() {
        let p = pod("p", "web", Some(reference("other", false)));
        let refs = with_reference(&p, reference("rs1", true));
        assert_eq!(refs.iter().map(|r| r.uid.as_str()).collect::<Vec<_>>(), ["other", "rs1"]);
        let mut q = p.clone();
        q.metadata.owner_references = Some(refs);
        assert_eq!(with_reference(&q, reference("rs1", true)).len(), 2);
        assert_eq!(without_reference(&q, "rs1").len(), 1);
    }
}
