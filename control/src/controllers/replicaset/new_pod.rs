//! A new pod from a controller's template, as upstream's pod control builds it.

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

/// The controller ownerReference an owner puts on what it creates or adopts.
pub fn controller_reference<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.meta().name.clone().unwrap_or_default(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A pod from `template`, named by the API server from `<owner>-` plus a random suffix.
pub fn pod_from_template(owner_name: &str, namespace: &str, reference: OwnerReference, template: &PodTemplateSpec) -> Pod {
    let template_meta = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{owner_name}-")),
            namespace: Some(namespace.to_string()),
            labels: template_meta.labels,
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![reference]),
            ..Default::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    use super::*;

    #[test]
    fn a_pod_carries_the_template_and_a_controller_reference() {
        let rs = ReplicaSet {
            metadata: ObjectMeta { name: Some("web-5d8".into()), uid: Some("u1".into()), ..Default::default() },
            ..Default::default()
        };
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta { labels: Some(BTreeMap::from([("app".into(), "web".into())])), ..Default::default() }),
            spec: Some(PodSpec { containers: vec![Container { name: "c".into(), image: Some("img".into()), ..Default::default() }], ..Default::default() }),
        };
        let pod = pod_from_template("web-5d8", "prod", controller_reference(&rs), &template);
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("web-5d8-"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("prod"));
        assert_eq!(pod.metadata.labels, template.metadata.and_then(|m| m.labels));
        let reference = &pod.metadata.owner_references.expect("owner")[0];
        assert_eq!((reference.kind.as_str(), reference.api_version.as_str(), reference.uid.as_str()), ("ReplicaSet", "apps/v1", "u1"));
        assert_eq!((reference.controller, reference.block_owner_deletion), (Some(true), Some(true)));
        assert_eq!(pod.spec.map(|s| s.containers.len()), Some(1));
    }
}
