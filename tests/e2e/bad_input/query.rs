//! Query parameters that do not parse (400 BadRequest: upstream's parameter
//! codec and selector parsers) or parse but are not allowed (422 Invalid on
//! `CreateOptions` / `PatchOptions` / `DeleteOptions`).

use reqwest::Method;
use serde_json::json;

use super::{case, configmap, Case, CONFIGMAPS, PODS};

pub(super) fn cases() -> Vec<Case> {
    let long_manager = "m".repeat(129);
    vec![
        case("label selector that does not parse", Method::GET, format!("{PODS}?labelSelector=a%20in%20(b")).expect(
            400,
            "BadRequest",
            "unable to parse",
        ),
        case("label selector with an invalid key", Method::GET, format!("{CONFIGMAPS}?labelSelector=-bad%3Dx")).expect(
            400,
            "BadRequest",
            "-bad",
        ),
        case("field selector without an operator", Method::GET, format!("{PODS}?fieldSelector=foo")).expect(
            400,
            "BadRequest",
            "foo",
        ),
        case("field selector on an unsupported field", Method::GET, format!("{PODS}?fieldSelector=spec.foo%3Dbar"))
            .expect(400, "BadRequest", "spec.foo"),
        case("limit that is not a number", Method::GET, format!("{CONFIGMAPS}?limit=ten")).expect(
            400,
            "BadRequest",
            "ten",
        ),
        case("continue token that was never issued", Method::GET, format!("{CONFIGMAPS}?limit=1&continue=garbage!!"))
            .expect(400, "BadRequest", "continue"),
        case("watch=maybe", Method::GET, format!("{CONFIGMAPS}?watch=maybe")).expect(400, "BadRequest", "maybe"),
        case(
            "timeoutSeconds that is not a number",
            Method::GET,
            format!("{CONFIGMAPS}?watch=true&timeoutSeconds=soon"),
        )
        .expect(400, "BadRequest", "soon"),
        case("fieldValidation=Loose", Method::POST, format!("{CONFIGMAPS}?fieldValidation=Loose"))
            .json(configmap("loose"))
            .expect(422, "Invalid", "fieldValidation"),
        case("dryRun=Maybe", Method::POST, format!("{CONFIGMAPS}?dryRun=Maybe"))
            .json(configmap("dry"))
            .expect(422, "Invalid", "dryRun"),
        case("fieldManager over 128 characters", Method::POST, format!("{CONFIGMAPS}?fieldManager={long_manager}"))
            .json(configmap("manager"))
            .expect(422, "Invalid", "fieldManager"),
        case("server-side apply without fieldManager", Method::PATCH, format!("{CONFIGMAPS}/existing"))
            .raw("application/apply-patch+yaml", configmap("existing").to_string())
            .expect(422, "Invalid", "fieldManager"),
        case("delete with an unknown propagationPolicy", Method::DELETE, format!("{CONFIGMAPS}/keep-me"))
            .json(json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Sometimes"}))
            .expect(422, "Invalid", "propagationPolicy"),
    ]
}
