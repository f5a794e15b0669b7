//! Patches: an unsupported patch type (415), patch documents that do not
//! parse (400), JSON patches that cannot be applied (422 with the reason as a
//! cause, as upstream's `applyJSPatch` answers) and patches whose result is
//! an invalid object (422 naming the field).

use reqwest::Method;

use super::{case, Case, CONFIGMAPS, DEPLOYMENTS};

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";

pub(super) fn cases() -> Vec<Case> {
    let existing = format!("{CONFIGMAPS}/existing");
    let patch = |what, ct, body: &str| case(what, Method::PATCH, existing.as_str()).raw(ct, body.to_string());
    vec![
        patch("patch sent as application/json", "application/json", r#"{"data":{"b":"2"}}"#).expect(
            415,
            "UnsupportedMediaType",
            "merge-patch",
        ),
        patch("malformed JSON patch", JSON_PATCH, r#"[{"op": "replace", "path": "#).expect(400, "BadRequest", "json"),
        patch("JSON patch that is not an array", JSON_PATCH, r#"{"op": "add", "path": "/data/b", "value": "2"}"#)
            .expect(400, "BadRequest", "json|array"),
        patch("JSON patch with an unknown op", JSON_PATCH, r#"[{"op": "frobnicate", "path": "/data/a"}]"#).expect(
            422,
            "Invalid",
            "frobnicate",
        ),
        patch("JSON patch whose test fails", JSON_PATCH, r#"[{"op": "test", "path": "/data/a", "value": "never"}]"#)
            .expect(422, "Invalid", "test|/data/a"),
        patch("JSON patch removing a missing path", JSON_PATCH, r#"[{"op": "remove", "path": "/data/zzz"}]"#).expect(
            422,
            "Invalid",
            "/data/zzz",
        ),
        patch("malformed merge patch", MERGE, r#"{"data": {"#).expect(400, "BadRequest", "json"),
        patch("malformed strategic merge patch", STRATEGIC, r#"{"data": "#).expect(400, "BadRequest", "json"),
        patch("merge patch adding an invalid label", MERGE, r#"{"metadata":{"labels":{"bad key":"x"}}}"#).expect(
            422,
            "Invalid",
            "metadata.labels",
        ),
        patch("merge patch renaming the object", MERGE, r#"{"metadata":{"name":"renamed"}}"#).expect(
            400,
            "BadRequest",
            "does not match",
        ),
        case("merge patch setting replicas -1", Method::PATCH, format!("{DEPLOYMENTS}/web"))
            .raw(MERGE, r#"{"spec":{"replicas":-1}}"#)
            .expect(422, "Invalid", "spec.replicas"),
        case("scale patch setting replicas -1", Method::PATCH, format!("{DEPLOYMENTS}/web/scale"))
            .raw(MERGE, r#"{"spec":{"replicas":-1}}"#)
            .expect(422, "Invalid", "spec.replicas"),
    ]
}
