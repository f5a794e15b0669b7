//! The stable identity of a StatefulSet's pods: ordinal names
//! (`<set>-<ordinal>`), the labels upstream puts on them, their hostname and
//! subdomain, and the claims (`<template>-<set>-<ordinal>`) their volumes
//! name. Everything here is pure: the same set, ordinal and template always
//! give the same pod.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

/// The label with the pod's own name (lets a Service select one replica).
pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
/// The label with the pod's ordinal.
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// The label with the name of the ControllerRevision the pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The name of replica `ordinal` of set `set`.
pub fn pod_name(set: &str, ordinal: i32) -> String {
    format!("{set}-{ordinal}")
}

/// The ordinal in `pod`'s name if it is one of set `set`'s names.
pub fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    let digits = pod.strip_prefix(set)?.strip_prefix('-')?;
    let canonical = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// The name of the claim from template `template` for replica `ordinal`.
pub fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

/// The ordinal of a claim named after template `template` of set `set`.
pub fn claim_ordinal(template: &str, set: &str, claim: &str) -> Option<i32> {
    ordinal_of(set, claim.strip_prefix(template)?.strip_prefix('-')?)
}

/// The first ordinal (`spec.ordinals.start`, 0 by default).
pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0).max(0)
}

/// The ownerReference every pod of `set` carries.
pub fn controller_ref(set: &StatefulSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: set.name_any(),
        uid: set.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `set` is the controller of an object with these ownerReferences.
pub fn controlled_by(owners: &[OwnerReference], set: &StatefulSet) -> bool {
    owners.iter().any(|o| o.controller == Some(true) && Some(&o.uid) == set.metadata.uid.as_ref())
}

/// Replica `ordinal` of `set`, made from `template` (the template of
/// ControllerRevision `revision`).
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str) -> Pod {
    let set_name = set.name_any();
    let name = pod_name(&set_name, ordinal);
    let template_meta = template.metadata.clone().unwrap_or_default();
    let mut labels = template_meta.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(REVISION_LABEL.into(), revision.into());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    let service = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    if service.is_some() {
        spec.subdomain = service;
    }
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for claim in set.spec.iter().flat_map(|s| s.volume_claim_templates.iter().flatten()) {
        let volume_name = claim.name_any();
        // A claim template wins over a template volume of the same name, as upstream.
        volumes.retain(|v| v.name != volume_name);
        volumes.push(Volume {
            name: volume_name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim_name(&volume_name, &set_name, ordinal),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    if volumes.is_empty() {
        spec.volumes = None;
    }
    Pod {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: set.namespace(),
            labels: Some(labels),
            annotations: template_meta.annotations.filter(|a: &BTreeMap<String, String>| !a.is_empty()),
            owner_references: Some(vec![controller_ref(set)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn set(replicas: i32) -> StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "set-uid", "generation": 2},
            "spec": {
                "replicas": replicas,
                "serviceName": "nginx",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "c", "image": "local/logger:1.0", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "scratch", "emptyDir": {}}],
                    },
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }],
            },
        }))
        .expect("a statefulset")
    }

    #[test]
    fn ordinals_are_parsed_only_from_canonical_names() {
        assert_eq!(ordinal_of("web", "web-0"), Some(0));
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        for other in ["web-", "web-01", "web-x", "webs-1", "web-1-2", "web--1", "web"] {
            assert_eq!(ordinal_of("web", other), None, "{other}");
        }
        assert_eq!(claim_ordinal("data", "web", "data-web-3"), Some(3));
        assert_eq!(claim_ordinal("data", "web", "logs-web-3"), None);
    }

    #[test]
    fn a_replica_has_its_identity_and_its_claims() {
        let set = set(3);
        let template = set.spec.as_ref().expect("spec").template.clone();
        let pod = new_pod(&set, &template, 1, "web-7c9d");
        assert_eq!(pod.metadata.name.as_deref(), Some("web-1"));
        let labels = pod.labels();
        assert_eq!(labels.get(POD_NAME_LABEL).map(String::as_str), Some("web-1"));
        assert_eq!(labels.get(POD_INDEX_LABEL).map(String::as_str), Some("1"));
        assert_eq!(labels.get(REVISION_LABEL).map(String::as_str), Some("web-7c9d"));
        assert_eq!(labels.get("app").map(String::as_str), Some("web"));
        let spec = pod.spec.as_ref().expect("spec");
        assert_eq!(spec.hostname.as_deref(), Some("web-1"));
        assert_eq!(spec.subdomain.as_deref(), Some("nginx"));
        let volumes = spec.volumes.as_ref().expect("volumes");
        assert_eq!(volumes.len(), 2, "the claim replaces the template volume of the same name");
        let data = volumes.iter().find(|v| v.name == "data").expect("data volume");
        assert_eq!(data.persistent_volume_claim.as_ref().map(|c| c.claim_name.as_str()), Some("data-web-1"));
        let owner = &pod.owner_references()[0];
        assert_eq!((owner.kind.as_str(), owner.controller, owner.block_owner_deletion), ("StatefulSet", Some(true), Some(true)));
        assert!(controlled_by(pod.owner_references(), &set));
    }
}
