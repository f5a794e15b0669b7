//! Writes that collide with what is stored: 409 AlreadyExists for a second
//! create, 409 Conflict for a stale resourceVersion or a failed delete
//! precondition, and 400 for a body that names a different object than the
//! URL does.

use reqwest::Method;
use serde_json::json;

use super::{case, configmap, with, Case, Fixtures, CONFIGMAPS, NAMESPACES};

pub(super) fn cases(f: &Fixtures) -> Vec<Case> {
    let existing = format!("{CONFIGMAPS}/existing");
    let stale = with(configmap("existing"), "/metadata/resourceVersion", json!(f.stale_rv));
    vec![
        case("second create of the same name", Method::POST, CONFIGMAPS).json(configmap("existing")).expect(
            409,
            "AlreadyExists",
            r#"configmaps "existing" already exists"#,
        ),
        case("second create of namespace default", Method::POST, NAMESPACES)
            .json(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}))
            .expect(409, "AlreadyExists", r#"namespaces "default" already exists"#),
        case("PUT with a stale resourceVersion", Method::PUT, existing.as_str()).json(stale).expect(
            409,
            "Conflict",
            "the object has been modified",
        ),
        case("merge patch with a stale resourceVersion", Method::PATCH, existing.as_str())
            .raw(
                "application/merge-patch+json",
                json!({"metadata": {"resourceVersion": f.stale_rv}, "data": {"b": "2"}}).to_string(),
            )
            .expect(409, "Conflict", "the object has been modified"),
        case("delete with a wrong uid precondition", Method::DELETE, format!("{CONFIGMAPS}/keep-me"))
            .json(json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "not-the-uid"}}))
            .expect(409, "Conflict", "precondition"),
        case("delete with a stale resourceVersion precondition", Method::DELETE, format!("{CONFIGMAPS}/keep-me"))
            .json(json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": "1"}}))
            .expect(409, "Conflict", "precondition"),
        case("PUT whose body names another object", Method::PUT, existing.as_str()).json(configmap("other")).expect(
            400,
            "BadRequest",
            "does not match",
        ),
        case("PUT whose body is another kind", Method::PUT, existing.as_str())
            .json(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "existing"}}))
            .expect(400, "BadRequest", "Secret"),
        case("POST whose body names another namespace", Method::POST, CONFIGMAPS)
            .json(with(configmap("elsewhere"), "/metadata/namespace", json!("kube-system")))
            .expect(400, "BadRequest", "does not match"),
    ]
}
