//! Small kinds with a few rules each: Namespaces, Nodes, RuntimeClasses,
//! Leases and Events.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Namespace, Node};
use k8s_openapi::api::node::v1::RuntimeClass;

use super::checks::{non_negative, one_of, positive, required_syntax, syntax};
use super::names;
use super::path::FieldPath;
use crate::error::FieldError;

pub fn validate_namespace(ns: &Namespace, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec").child("finalizers");
    for (i, finalizer) in ns.spec.iter().flat_map(|s| s.finalizers.iter().flatten()).enumerate() {
        syntax(errs, &p.index(i), finalizer, names::qualified_name);
    }
}

pub fn validate_node(node: &Node, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("spec").child("taints");
    for (i, taint) in node.spec.iter().flat_map(|s| s.taints.iter().flatten()).enumerate() {
        let tp = p.index(i);
        required_syntax(errs, &tp.child("key"), &taint.key, names::qualified_name);
        if let Some(value) = taint.value.as_deref() {
            syntax(errs, &tp.child("value"), value, names::label_value);
        }
        if taint.effect.is_empty() {
            errs.push(FieldError::required(tp.child("effect")));
        } else {
            one_of(errs, &tp.child("effect"), Some(&taint.effect), &["NoSchedule", "PreferNoSchedule", "NoExecute"]);
        }
    }
}

/// The handler names the runtime a node uses for pods of this class.
pub fn validate_runtime_class(rc: &RuntimeClass, old: Option<&RuntimeClass>, errs: &mut Vec<FieldError>) {
    let p = FieldPath::new("handler");
    required_syntax(errs, &p, &rc.handler, names::dns1123_label);
    if old.is_some_and(|o| o.handler != rc.handler) {
        errs.push(FieldError::invalid(p, &rc.handler, "field is immutable"));
    }
}

pub fn validate_lease(lease: &Lease, errs: &mut Vec<FieldError>) {
    let Some(spec) = &lease.spec else { return };
    let p = FieldPath::new("spec");
    positive(errs, &p.child("leaseDurationSeconds"), spec.lease_duration_seconds);
    non_negative(errs, &p.child("leaseTransitions"), spec.lease_transitions);
}

/// An event about a namespaced object lives in that object's namespace.
pub fn validate_event(event: &Event, errs: &mut Vec<FieldError>) {
    let involved = event.involved_object.namespace.as_deref().unwrap_or("");
    let own = event.metadata.namespace.as_deref().unwrap_or("");
    if !involved.is_empty() && involved != own {
        errs.push(FieldError::invalid(
            FieldPath::new("involvedObject").child("namespace"),
            involved,
            "does not match event.namespace",
        ));
    }
    one_of(errs, &FieldPath::new("type"), event.type_.as_deref().filter(|t| !t.is_empty()), &["Normal", "Warning"]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered(errs: &[FieldError]) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn runtime_classes() {
        let rc = |h: &str| -> RuntimeClass {
            serde_json::from_value(json!({"metadata": {"name": "wasm"}, "handler": h})).expect("rc")
        };
        let mut errs = Vec::new();
        validate_runtime_class(&rc("wasmtime"), None, &mut errs);
        assert!(errs.is_empty());
        validate_runtime_class(&rc(""), None, &mut errs);
        validate_runtime_class(&rc("Wasm_Time"), None, &mut errs);
        validate_runtime_class(&rc("linux"), Some(&rc("wasmtime")), &mut errs);
        let r = rendered(&errs);
        assert_eq!(r[0], "handler: Required value");
        assert!(r[1].starts_with("handler: Invalid value: \"Wasm_Time\": a lowercase RFC 1123 label"));
        assert_eq!(r[2], "handler: Invalid value: \"linux\": field is immutable");
    }

    #[test]
    fn nodes_namespaces_leases_events() {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n"}, "spec": {"taints": [
            {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}, {"key": "", "effect": "Later"}]}}))
        .expect("node");
        let mut errs = Vec::new();
        validate_node(&node, &mut errs);
        let r = rendered(&errs);
        assert_eq!(r[0], "spec.taints[1].key: Required value");
        assert!(r[1].starts_with("spec.taints[1].effect: Unsupported value: \"Later\""));
        assert_eq!(r.len(), 2);

        let ns: Namespace = serde_json::from_value(
            json!({"metadata": {"name": "a"}, "spec": {"finalizers": ["kubernetes", "bad key"]}}),
        )
        .expect("ns");
        let mut errs = Vec::new();
        validate_namespace(&ns, &mut errs);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "spec.finalizers[1]");

        let lease: Lease =
            serde_json::from_value(json!({"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}}))
                .expect("lease");
        let mut errs = Vec::new();
        validate_lease(&lease, &mut errs);
        assert_eq!(rendered(&errs), vec!["spec.leaseDurationSeconds: Invalid value: \"0\": must be greater than 0"]);

        let event: Event = serde_json::from_value(json!({"metadata": {"name": "e", "namespace": "a"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "b"}, "type": "Normal"}))
        .expect("event");
        let mut errs = Vec::new();
        validate_event(&event, &mut errs);
        assert_eq!(
            rendered(&errs),
            vec!["involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"]
        );
    }
}
