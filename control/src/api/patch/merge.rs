//! JSON merge patch (RFC 7386): `application/merge-patch+json`, what `kubectl
//! label`, `annotate`, `scale` and `patch --type=merge` send.

use serde_json::Value;

/// Merges `patch` into `target`: objects merge key by key, `null` deletes a
/// key, anything else (lists included) replaces the target value.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_merge_and_null_deletes() {
        let mut pod = json!({"metadata": {"labels": {"app": "web", "old": "x"}}, "spec": {"containers": [{"name": "c1"}]}});
        merge_patch(&mut pod, &json!({"metadata": {"labels": {"tier": "fe", "old": null}}}));
        assert_eq!(pod["metadata"]["labels"], json!({"app": "web", "tier": "fe"}));
        assert_eq!(pod["spec"]["containers"][0]["name"], "c1");
    }

    #[test]
    fn lists_are_replaced_whole() {
        let mut obj = json!({"spec": {"replicas": 1, "containers": [{"name": "a"}, {"name": "b"}]}});
        merge_patch(&mut obj, &json!({"spec": {"replicas": 3, "containers": [{"name": "c"}]}}));
        assert_eq!(obj, json!({"spec": {"replicas": 3, "containers": [{"name": "c"}]}}));
    }
}
