//! ControllerRevisions: the history of a StatefulSet's pod template that
//! `kubectl rollout history/undo sts` read. A revision stores the template as
//! the patch upstream stores (`{"spec":{"template":{...,"$patch":"replace"}}}`),
//! is named `<set>-<hash of that data>` and numbered; the update revision is
//! the one equal to the current template (renumbered to the newest when an
//! older revision comes back, as `rollout undo` does).

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::ResourceExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::identity::{controller_ref, REVISION_LABEL};

/// Upstream's alphabet for generated names: no vowels, no look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The data a revision of `set`'s current template stores.
pub fn revision_data(set: &StatefulSet) -> Value {
    let template = set.spec.as_ref().map(|s| &s.template);
    let mut template = template.and_then(|t| serde_json::to_value(t).ok()).unwrap_or_else(|| json!({}));
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// The pod template a revision stores.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    template.as_object_mut()?.remove("$patch");
    serde_json::from_value(template).ok()
}

/// The hash naming a revision with `data`, after `collisions` name collisions.
pub fn hash(data: &Value, collisions: i32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(data.to_string().as_bytes());
    if collisions > 0 {
        hasher.update(collisions.to_string().as_bytes());
    }
    let digest = hasher.finalize();
    let number = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    number.to_string().bytes().map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()])).collect()
}

/// A new revision of `set`'s current template numbered `number`.
pub fn new_revision(set: &StatefulSet, number: i64, collisions: i32) -> ControllerRevision {
    let data = revision_data(set);
    let hash = hash(&data, collisions);
    let template_labels = set.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.clone());
    let mut labels: BTreeMap<String, String> = template_labels.unwrap_or_default();
    // The same label key as on pods, but holding the bare hash here, as upstream.
    labels.insert(REVISION_LABEL.into(), hash.clone());
    // Upstream copies the set's annotations: `kubernetes.io/change-cause` shows in `rollout history`.
    let annotations = set.metadata.annotations.clone().filter(|a| !a.is_empty());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", set.name_any())),
            namespace: set.namespace(),
            labels: Some(labels),
            annotations,
            owner_references: Some(vec![controller_ref(set)]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision: number,
    }
}

/// What it takes to have a revision for the current template.
#[derive(Debug, PartialEq)]
pub enum UpdateRevision {
    /// The newest revision already holds it.
    Newest(String),
    /// An older revision holds it: give it the next number.
    Renumber { name: String, number: i64 },
    /// No revision holds it: create this one.
    Create(Box<ControllerRevision>),
}

/// Finds or makes the revision of `set`'s current template among `revisions`.
pub fn update_revision(set: &StatefulSet, revisions: &[ControllerRevision], collisions: i32) -> UpdateRevision {
    let data = revision_data(set);
    let newest = revisions.iter().max_by_key(|r| r.revision);
    let next = newest.map_or(1, |r| r.revision + 1);
    let equal = revisions.iter().filter(|r| r.data.as_ref().map(|d| &d.0) == Some(&data)).max_by_key(|r| r.revision);
    match equal {
        Some(found) if Some(found.revision) == newest.map(|n| n.revision) => UpdateRevision::Newest(found.name_any()),
        Some(found) => UpdateRevision::Renumber { name: found.name_any(), number: next },
        None => UpdateRevision::Create(Box::new(new_revision(set, next, collisions))),
    }
}

/// The revisions beyond `limit` to delete, oldest first: never one that a
/// live pod, the current or the update revision still uses.
pub fn to_prune(revisions: &[ControllerRevision], in_use: &HashSet<String>, limit: i32) -> Vec<String> {
    let mut unused: Vec<&ControllerRevision> = revisions.iter().filter(|r| !in_use.contains(&r.name_any())).collect();
    unused.sort_by_key(|r| r.revision);
    let excess = unused.len().saturating_sub(usize::try_from(limit.max(0)).unwrap_or(0));
    unused.into_iter().take(excess).map(|r| r.name_any()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::statefulset::identity::tests::set;

    fn with_image(image: &str) -> StatefulSet {
        let mut s = set(3);
        let spec = s.spec.as_mut().and_then(|s| s.template.spec.as_mut()).expect("pod spec");
        spec.containers[0].image = Some(image.into());
        s
    }

    #[test]
    fn a_revision_round_trips_its_template_and_is_named_by_its_hash() {
        let s = set(3);
        let rev = new_revision(&s, 1, 0);
        let name = rev.name_any();
        assert!(name.starts_with("web-") && name.len() > 4, "{name}");
        assert_eq!(rev.labels().get(REVISION_LABEL).map(|h| format!("web-{h}")), Some(name.clone()));
        assert_eq!(template_of(&rev).as_ref(), s.spec.as_ref().map(|s| &s.template));
        assert_eq!(new_revision(&s, 5, 0).name_any(), name, "the name depends on the template only");
        assert_ne!(new_revision(&s, 1, 1).name_any(), name, "a collision changes the name");
        assert_ne!(new_revision(&with_image("x:2"), 1, 0).name_any(), name);
    }

    #[test]
    fn the_update_revision_is_found_renumbered_or_created() {
        let v1 = new_revision(&set(3), 1, 0);
        let v2 = new_revision(&with_image("x:2"), 2, 0);
        assert_eq!(update_revision(&with_image("x:2"), &[v1.clone(), v2.clone()], 0), UpdateRevision::Newest(v2.name_any()));
        assert_eq!(
            update_revision(&set(3), &[v1.clone(), v2.clone()], 0),
            UpdateRevision::Renumber { name: v1.name_any(), number: 3 },
            "rolling back to v1 makes it the newest"
        );
        match update_revision(&with_image("x:3"), &[v1, v2], 0) {
            UpdateRevision::Create(rev) => assert_eq!(rev.revision, 3),
            other => panic!("expected a new revision, got {other:?}"),
        }
        assert!(matches!(update_revision(&set(1), &[], 0), UpdateRevision::Create(r) if r.revision == 1));
    }

    #[test]
    fn pruning_keeps_the_limit_and_what_is_in_use() {
        let revs: Vec<ControllerRevision> = (1..=5).map(|n| new_revision(&with_image(&format!("x:{n}")), n, 0)).collect();
        let in_use: HashSet<String> = [revs[0].name_any(), revs[4].name_any()].into();
        let pruned = to_prune(&revs, &in_use, 1);
        assert_eq!(pruned, vec![revs[1].name_any(), revs[2].name_any()]);
        assert!(to_prune(&revs, &in_use, 10).is_empty());
    }
}
