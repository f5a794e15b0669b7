//! A DaemonSet's history as ControllerRevisions (apps/v1), the way upstream
//! keeps it so `kubectl rollout history/undo ds` work: one revision per pod
//! template, named `<ds>-<hash>`, whose data is a patch that restores the
//! template, numbered in the order the templates were (last) used.

use std::collections::HashSet;

use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::Resource;
use serde_json::{json, Value};

use crate::controllers::ControllerError;

/// The label naming the revision a pod (and a ControllerRevision) belongs to.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// Upstream's alphabet for hashes in names: no vowels (no words), no look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The hash of a pod template (and the collision count, bumped when two
/// templates hash alike): FNV-1a over its JSON, spelled in the safe alphabet.
pub fn template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let text = serde_json::to_vec(template).unwrap_or_default();
    let count = collision_count.map(i32::to_le_bytes);
    for byte in text.iter().chain(count.iter().flatten()) {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.to_string().bytes().map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char).collect()
}

/// The revision data: a strategic merge patch that puts `template` back.
pub fn revision_data(template: &PodTemplateSpec) -> Value {
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// One stored revision, as far as choosing and pruning need it.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionView {
    pub name: String,
    pub hash: String,
    pub revision: i64,
    pub data: Value,
}

impl RevisionView {
    pub fn of(revision: &ControllerRevision) -> RevisionView {
        RevisionView {
            name: revision.metadata.name.clone().unwrap_or_default(),
            hash: revision.metadata.labels.as_ref().and_then(|l| l.get(REVISION_HASH_LABEL)).cloned().unwrap_or_default(),
            revision: revision.revision,
            data: revision.data.as_ref().map(|d| d.0.clone()).unwrap_or(Value::Null),
        }
    }
}

/// What the current template needs from the history.
#[derive(Clone, Debug, PartialEq)]
pub enum Choice {
    /// Its revision exists; renumber it to `Some(n)` when it is not the newest
    /// (the template came back, e.g. after `rollout undo`).
    Existing { name: String, renumber: Option<i64> },
    /// Create it with this number.
    Create { revision: i64 },
    /// Another template owns the name: bump `status.collisionCount` and rehash.
    Collision,
}

pub fn choose(history: &[RevisionView], name: &str, data: &Value) -> Choice {
    let newest = history.iter().map(|r| r.revision).max().unwrap_or(0);
    match history.iter().find(|r| r.name == name) {
        Some(found) if found.data != *data => Choice::Collision,
        Some(found) => {
            let renumber = (found.revision < newest || history.iter().filter(|r| r.revision == newest).count() > 1).then_some(newest + 1);
            Choice::Existing { name: found.name.clone(), renumber }
        }
        None => Choice::Create { revision: newest + 1 },
    }
}

/// Revisions beyond `limit` (oldest first) that neither the current template
/// nor any live pod uses.
pub fn beyond_limit(history: &[RevisionView], current: &str, in_use: &HashSet<String>, limit: usize) -> Vec<String> {
    let mut removable: Vec<&RevisionView> = history.iter().filter(|r| r.name != current && !in_use.contains(&r.hash)).collect();
    removable.sort_by_key(|r| r.revision);
    let keep_others = limit;
    let others = history.len().saturating_sub(1);
    let excess = others.saturating_sub(keep_others).min(removable.len());
    removable.iter().take(excess).map(|r| r.name.clone()).collect()
}

/// The ControllerRevision for `ds`'s template with `hash`.
pub fn build(ds: &DaemonSet, hash: &str, data: Value, revision: i64) -> Result<ControllerRevision, ControllerError> {
    let owner = ds.controller_owner_ref(&()).ok_or_else(|| ControllerError::Invalid("the DaemonSet has no name or uid".into()))?;
    let template_labels = ds.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.labels.clone()).unwrap_or_default();
    let mut labels = template_labels;
    labels.insert(REVISION_HASH_LABEL.into(), hash.into());
    Ok(ControllerRevision {
        metadata: ObjectMeta {
            name: Some(name(ds, hash)),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            owner_references: Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference { block_owner_deletion: Some(true), ..owner }]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision,
    })
}

/// `<ds>-<hash>`.
pub fn name(ds: &DaemonSet, hash: &str) -> String {
    format!("{}-{hash}", ds.metadata.name.as_deref().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec { containers: vec![Container { name: "c".into(), image: Some(image.into()), ..Default::default() }], ..Default::default() }),
        }
    }

    fn view(name: &str, revision: i64, data: Value) -> RevisionView {
        RevisionView { name: name.into(), hash: name.trim_start_matches("ds-").into(), revision, data }
    }

    #[test]
    fn hashes_are_stable_distinct_and_name_safe() {
        let a = template_hash(&template("a:1"), None);
        assert_eq!(a, template_hash(&template("a:1"), None));
        assert_ne!(a, template_hash(&template("a:2"), None));
        assert_ne!(a, template_hash(&template("a:1"), Some(1)));
        assert!(a.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{a}");
    }

    #[test]
    fn the_data_restores_the_template() {
        let data = revision_data(&template("a:1"));
        assert_eq!(data["spec"]["template"]["$patch"], "replace");
        assert_eq!(data["spec"]["template"]["spec"]["containers"][0]["image"], "a:1");
    }

    #[test]
    fn chooses_creates_reuses_renumbers_and_detects_collisions() {
        let one = revision_data(&template("a:1"));
        let two = revision_data(&template("a:2"));
        assert_eq!(choose(&[], "ds-x", &one), Choice::Create { revision: 1 });
        let history = vec![view("ds-x", 1, one.clone()), view("ds-y", 2, two.clone())];
        assert_eq!(choose(&history, "ds-y", &two), Choice::Existing { name: "ds-y".into(), renumber: None });
        assert_eq!(choose(&history, "ds-x", &one), Choice::Existing { name: "ds-x".into(), renumber: Some(3) });
        assert_eq!(choose(&history, "ds-x", &two), Choice::Collision);
        assert_eq!(choose(&history, "ds-z", &revision_data(&template("a:3"))), Choice::Create { revision: 3 });
    }

    #[test]
    fn prunes_the_oldest_unused_revisions_beyond_the_limit() {
        let history: Vec<_> = (1..=5).map(|i| view(&format!("ds-{i}"), i, json!(i))).collect();
        let in_use: HashSet<String> = ["1".to_string()].into();
        assert_eq!(beyond_limit(&history, "ds-5", &in_use, 2), ["ds-2", "ds-3"]);
        assert!(beyond_limit(&history, "ds-5", &in_use, 10).is_empty());
    }
}
