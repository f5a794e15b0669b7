//! `meta/v1` messages shared by every kind: ObjectMeta, owner references, label selectors.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference,
};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb;

use super::convert::from_proto;

// `managedFields` is the server's bookkeeping and never comes from a create body.
from_proto!(pb::ObjectMeta => ObjectMeta {
    name,
    generate_name,
    namespace,
    self_link,
    uid,
    resource_version,
    omit_zero generation,
    creation_timestamp,
    deletion_timestamp,
    deletion_grace_period_seconds,
    labels,
    annotations,
    owner_references,
    finalizers,
});

from_proto!(pb::OwnerReference => OwnerReference {
    api_version,
    kind,
    name,
    uid,
    controller,
    block_owner_deletion,
});

from_proto!(pb::LabelSelector => LabelSelector { match_labels, match_expressions });

from_proto!(pb::LabelSelectorRequirement => LabelSelectorRequirement { key, operator, values });

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::super::convert::FromProto;
    use super::*;

    #[test]
    fn kubectl_style_empty_metadata_is_just_the_name() {
        // What kubectl writes: every string present but empty, generation 0, zero time.
        let proto = pb::ObjectMeta {
            name: Some("cfg".into()),
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            self_link: Some(String::new()),
            uid: Some(String::new()),
            resource_version: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(pb::Time::default()),
            ..Default::default()
        };
        let meta = ObjectMeta::from_proto(proto).expect("converts");
        assert_eq!(
            serde_json::to_value(meta).ok(),
            Some(json!({"name": "cfg"}))
        );
    }

    #[test]
    fn full_metadata_round_trips_into_json() {
        let proto = pb::ObjectMeta {
            generate_name: Some("web-".into()),
            namespace: Some("prod".into()),
            generation: Some(3),
            labels: BTreeMap::from([("app".into(), "web".into())]),
            annotations: BTreeMap::from([("note".into(), "x".into())]),
            finalizers: vec!["example.com/guard".into()],
            owner_references: vec![pb::OwnerReference {
                api_version: Some("apps/v1".into()),
                kind: Some("ReplicaSet".into()),
                name: Some("web-abc".into()),
                uid: Some("1234".into()),
                controller: Some(true),
                block_owner_deletion: Some(false),
            }],
            ..Default::default()
        };
        let meta = ObjectMeta::from_proto(proto).expect("converts");
        assert_eq!(
            serde_json::to_value(meta).ok(),
            Some(json!({
                "annotations": {"note": "x"},
                "finalizers": ["example.com/guard"],
                "generateName": "web-",
                "generation": 3,
                "labels": {"app": "web"},
                "namespace": "prod",
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "blockOwnerDeletion": false, "controller": true,
                    "kind": "ReplicaSet", "name": "web-abc", "uid": "1234"
                }],
            }))
        );
    }

    #[test]
    fn label_selector_keeps_expressions() {
        let proto = pb::LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![pb::LabelSelectorRequirement {
                key: Some("tier".into()),
                operator: Some("In".into()),
                values: vec!["web".into(), "api".into()],
            }],
        };
        let selector = LabelSelector::from_proto(proto).expect("converts");
        assert_eq!(
            serde_json::to_value(selector).ok(),
            Some(
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]})
            )
        );
    }
}
