//! The pod a DaemonSet runs on one node: the template with upstream's labels
//! (`controller-revision-hash`, `pod-template-generation`), the daemon
//! tolerations, the owner reference, and the pin to the node.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use super::pinning::pin_to_node;
use super::revision::REVISION_HASH_LABEL;
use super::tolerations::add_daemon_tolerations;
use crate::controllers::ControllerError;

/// The template's pod spec with the daemon tolerations: what eligibility is judged on.
pub fn daemon_spec(ds: &DaemonSet) -> Result<PodSpec, ControllerError> {
    let spec = ds.spec.as_ref().and_then(|s| s.template.spec.clone());
    let mut spec = spec.ok_or_else(|| ControllerError::Invalid("the DaemonSet's pod template has no spec".into()))?;
    add_daemon_tolerations(&mut spec);
    Ok(spec)
}

/// A new pod of `ds` (template revision `hash`) for `node`.
pub fn pod_for(ds: &DaemonSet, hash: &str, node: &str) -> Result<Pod, ControllerError> {
    let name = ds.metadata.name.clone().unwrap_or_default();
    let owner = ds.controller_owner_ref(&()).ok_or_else(|| ControllerError::Invalid("the DaemonSet has no name or uid".into()))?;
    let template_meta = ds.spec.as_ref().and_then(|s| s.template.metadata.clone()).unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), hash.into());
    labels.insert("pod-template-generation".into(), ds.metadata.generation.unwrap_or(1).to_string());
    let mut spec = daemon_spec(ds)?;
    pin_to_node(&mut spec, node);
    Ok(Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{name}-")),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            owner_references: Some(vec![OwnerReference { block_owner_deletion: Some(true), ..owner }]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::daemonset::pinning::node_of;
    use k8s_openapi::api::apps::v1::DaemonSetSpec;
    use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};

    #[test]
    fn the_pod_is_labelled_owned_tolerant_and_pinned() {
        let ds = DaemonSet {
            metadata: ObjectMeta { name: Some("agent".into()), namespace: Some("kube-system".into()), uid: Some("ds-uid".into()), generation: Some(3), ..Default::default() },
            spec: Some(DaemonSetSpec {
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta { labels: Some([("app".to_string(), "agent".to_string())].into()), ..Default::default() }),
                    spec: Some(PodSpec { containers: vec![Container { name: "c".into(), ..Default::default() }], ..Default::default() }),
                },
                ..Default::default()
            }),
            status: None,
        };
        let pod = pod_for(&ds, "h1", "node-b").expect("pod");
        let labels = pod.metadata.labels.clone().expect("labels");
        assert_eq!((labels["app"].as_str(), labels[REVISION_HASH_LABEL].as_str(), labels["pod-template-generation"].as_str()), ("agent", "h1", "3"));
        assert_eq!(pod.metadata.generate_name.as_deref(), Some("agent-"));
        assert_eq!(pod.metadata.owner_references.as_ref().map(|o| o[0].kind.as_str()), Some("DaemonSet"));
        assert_eq!(node_of(&pod).as_deref(), Some("node-b"));
        let spec = pod.spec.expect("spec");
        assert_eq!(spec.node_name, None, "the scheduler binds it");
        assert!(spec.tolerations.is_some_and(|t| t.len() == 6));
    }
}
