//! The ReplicaSet a Deployment creates for its current template.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::template_hash::{pod_template_hash, HASH_LABEL};
use crate::controllers::replicaset::new_pod::controller_reference;

/// `<deployment>-<hash>` with `replicas`, the template labelled with the hash
/// and the selector narrowed to it, so ReplicaSets of one Deployment never
/// claim each other's pods.
pub fn new_replica_set(d: &Deployment, replicas: i32, annotations: BTreeMap<String, String>) -> ReplicaSet {
    let spec = d.spec.clone().unwrap_or_default();
    let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = pod_template_hash(Some(&spec.template), collision_count);
    let mut template = spec.template;
    let template_meta = template.metadata.get_or_insert_with(ObjectMeta::default);
    template_meta.labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), hash.clone());
    let labels = template_meta.labels.clone();
    let mut selector = spec.selector;
    selector.match_labels.get_or_insert_with(BTreeMap::new).insert(HASH_LABEL.into(), hash.clone());
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{hash}", d.name_any())),
            namespace: d.namespace(),
            labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_reference(d)]),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec { replicas: Some(replicas), min_ready_seconds: spec.min_ready_seconds, selector, template: Some(template) }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DeploymentSpec;
    use k8s_openapi::api::core::v1::PodTemplateSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;

    #[test]
    fn named_labelled_and_selected_by_the_template_hash() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let d = Deployment {
            metadata: ObjectMeta { name: Some("web".into()), namespace: Some("default".into()), uid: Some("d1".into()), ..Default::default() },
            spec: Some(DeploymentSpec {
                selector: LabelSelector { match_labels: Some(labels.clone()), ..Default::default() },
                template: PodTemplateSpec { metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }), spec: None },
                min_ready_seconds: Some(5),
                ..Default::default()
            }),
            status: None,
        };
        let rs = new_replica_set(&d, 2, BTreeMap::new());
        let hash = pod_template_hash(d.spec.as_ref().map(|s| &s.template), None);
        assert_eq!(rs.name_any(), format!("web-{hash}"));
        let spec = rs.spec.expect("spec");
        assert_eq!(spec.replicas, Some(2));
        assert_eq!(spec.min_ready_seconds, Some(5));
        assert_eq!(spec.selector.match_labels.and_then(|m| m.get(HASH_LABEL).cloned()), Some(hash.clone()));
        let template_labels = spec.template.and_then(|t| t.metadata).and_then(|m| m.labels).expect("labels");
        assert_eq!(template_labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(template_labels.get(HASH_LABEL), Some(&hash));
        assert_eq!(rs.metadata.owner_references.expect("owner")[0].kind, "Deployment");
    }
}
