//! Namespace finalization, as upstream: every namespace carries
//! `spec.finalizers: ["kubernetes"]`; a namespace being deleted stays
//! Terminating until the namespace controller has emptied it and PUT
//! `namespaces/{name}/finalize` without that finalizer. Only then, with no
//! `metadata.finalizers` left either, does the server delete it.

use serde_json::Value;

use crate::api::object;
use crate::api::resources::ResourceType;

fn is_namespace(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.plural == "namespaces"
}

/// The namespace's `spec.finalizers` are not all done.
pub fn namespace_pending(ns: &Value) -> bool {
    ns.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
}

/// Whether an object being deleted may leave the store now: no finalizer of
/// its own is left and, for a namespace, no `spec.finalizers` either.
pub fn may_go(rt: &ResourceType, obj: &Value) -> bool {
    object::finalizers(obj).is_empty() && !(is_namespace(rt) && namespace_pending(obj))
}

/// A write to `finalize` changes `spec.finalizers` and nothing else.
pub fn confine(old: &Value, new: &Value) -> Value {
    let mut out = old.clone();
    let finalizers = new.pointer("/spec/finalizers").cloned().unwrap_or(Value::Array(Vec::new()));
    if !out.get("spec").is_some_and(Value::is_object) {
        out["spec"] = Value::Object(Default::default());
    }
    out["spec"]["finalizers"] = finalizers;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::lookup;
    use serde_json::json;

    #[test]
    fn a_namespace_waits_for_its_spec_finalizers() {
        let namespaces = lookup("", "v1", "namespaces").unwrap();
        let configmaps = lookup("", "v1", "configmaps").unwrap();
        let terminating = json!({"metadata": {"name": "x", "deletionTimestamp": "2024-01-01T00:00:00Z"}, "spec": {"finalizers": ["kubernetes"]}});
        assert!(!may_go(namespaces, &terminating));
        assert!(may_go(configmaps, &terminating));
        let finalized = confine(&terminating, &json!({"spec": {"finalizers": []}, "metadata": {"labels": {"a": "b"}}}));
        assert!(may_go(namespaces, &finalized));
        assert!(finalized.pointer("/metadata/labels").is_none(), "finalize changes nothing but spec.finalizers");
        let held = json!({"metadata": {"finalizers": ["example.com/hold"]}, "spec": {"finalizers": []}});
        assert!(!may_go(namespaces, &held));
    }
}
