//! JSON patch (RFC 6902): `application/json-patch+json`, what `kubectl rollout
//! undo` and `patch --type=json` send.

use serde_json::Value;

use super::PatchError;

/// Applies the operations in `patch` to `target`, all or nothing.
///
/// A body that is not a list of operations is malformed (400); an operation
/// that cannot be applied (a failed `test`, a missing path) leaves `target`
/// untouched and is answered 422, as upstream does.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
        // A list whose operations cannot be read is applied and fails, as
        // upstream answers it (422); anything else is not a JSON patch (400).
        if patch.is_array() {
            PatchError::NotApplicable(format!("invalid JSON patch operation: {e}"))
        } else {
            PatchError::Malformed(format!("invalid JSON patch: {e}"))
        }
    })?;
    json_patch::patch(target, &ops).map_err(|e| PatchError::NotApplicable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rollout_undo_replaces_template_and_annotations() {
        let mut deploy = json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"template": {"spec": {"containers": [{"image": "nginx:1.26"}]}}}});
        json_patch(
            &mut deploy,
            &json!([
                {"op": "replace", "path": "/spec/template", "value": {"spec": {"containers": [{"image": "nginx:1.25"}]}}},
                {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "2"}}
            ]),
        )
        .unwrap();
        assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.25");
        assert_eq!(deploy["metadata"]["annotations"], json!({"deployment.kubernetes.io/revision": "2"}));
    }

    #[test]
    fn every_op_kind_applies() {
        let mut obj = json!({"a": 1, "list": [1, 2], "m": {"x": "y"}});
        json_patch(
            &mut obj,
            &json!([
                {"op": "test", "path": "/a", "value": 1},
                {"op": "add", "path": "/list/-", "value": 3},
                {"op": "remove", "path": "/list/0"},
                {"op": "copy", "from": "/m", "path": "/n"},
                {"op": "move", "from": "/a", "path": "/b"}
            ]),
        )
        .unwrap();
        assert_eq!(obj, json!({"list": [2, 3], "m": {"x": "y"}, "n": {"x": "y"}, "b": 1}));
    }

    #[test]
    fn failing_test_is_unprocessable_and_changes_nothing() {
        let mut obj = json!({"spec": {"replicas": 1}});
        let err = json_patch(
            &mut obj,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 5}, {"op": "test", "path": "/spec/replicas", "value": 2}]),
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::NotApplicable(ref m) if m.contains("value did not match")), "{err}");
        assert_eq!(obj, json!({"spec": {"replicas": 1}}));
    }

    #[test]
    fn missing_path_is_unprocessable_and_garbage_is_malformed() {
        let mut obj = json!({});
        let missing = json_patch(&mut obj, &json!([{"op": "remove", "path": "/spec/replicas"}]));
        assert!(matches!(missing, Err(PatchError::NotApplicable(_))));
        let garbage = json_patch(&mut obj, &json!({"op": "add"}));
        assert!(matches!(garbage, Err(PatchError::Malformed(_))));
        // A list of operations is applied, and an unknown one fails there (422), as upstream.
        let unknown_op = json_patch(&mut obj, &json!([{"op": "frobnicate", "path": "/a"}]));
        assert!(matches!(unknown_op, Err(PatchError::NotApplicable(_))));
    }
}
