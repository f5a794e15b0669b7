//! Requests for things that do not exist (404 NotFound), with a verb the
//! address does not take (405 MethodNotAllowed), or without valid
//! credentials (401 Unauthorized).

use reqwest::Method;
use serde_json::json;

use super::{case, configmap, deployment, Auth, Case, CONFIGMAPS, DEPLOYMENTS};

pub(super) fn cases() -> Vec<Case> {
    vec![
        case("unknown resource type", Method::GET, "/api/v1/namespaces/default/widgets").expect(
            404,
            "NotFound",
            "could not find|widgets",
        ),
        case("unknown cluster-scoped resource type", Method::GET, "/api/v1/widgets").expect(
            404,
            "NotFound",
            "could not find|widgets",
        ),
        case("unknown API group", Method::GET, "/apis/widgets.example.com/v1/namespaces/default/widgets").expect(
            404,
            "NotFound",
            "could not find|widgets",
        ),
        case("unknown version of a served group", Method::GET, "/apis/apps/v9/namespaces/default/deployments").expect(
            404,
            "NotFound",
            "could not find|v9",
        ),
        case("subresource the type does not have", Method::GET, format!("{CONFIGMAPS}/existing/status")).expect(
            404,
            "NotFound",
            "could not find|status",
        ),
        case("GET a missing object", Method::GET, format!("{CONFIGMAPS}/nope")).expect(
            404,
            "NotFound",
            r#"configmaps "nope" not found"#,
        ),
        case("PUT a missing object", Method::PUT, format!("{CONFIGMAPS}/nope")).json(configmap("nope")).expect(
            404,
            "NotFound",
            r#"configmaps "nope" not found"#,
        ),
        case("DELETE a missing object", Method::DELETE, format!("{CONFIGMAPS}/nope")).expect(
            404,
            "NotFound",
            r#"configmaps "nope" not found"#,
        ),
        case("PATCH a missing object", Method::PATCH, format!("{CONFIGMAPS}/nope"))
            .raw("application/merge-patch+json", r#"{"data":{"b":"2"}}"#)
            .expect(404, "NotFound", r#"configmaps "nope" not found"#),
        case("GET a missing deployment", Method::GET, format!("{DEPLOYMENTS}/nope")).expect(
            404,
            "NotFound",
            r#"deployments.apps "nope" not found"#,
        ),
        case("scale of a missing deployment", Method::GET, format!("{DEPLOYMENTS}/nope/scale")).expect(
            404,
            "NotFound",
            r#""nope" not found"#,
        ),
        case("create in a missing namespace", Method::POST, "/api/v1/namespaces/ghost/configmaps")
            .json(configmap("lost"))
            .expect(404, "NotFound", r#"namespaces "ghost" not found"#),
        case("deployment in a missing namespace", Method::POST, "/apis/apps/v1/namespaces/ghost/deployments")
            .json(deployment("lost"))
            .expect(404, "NotFound", r#"namespaces "ghost" not found"#),
        case("POST to an object URL", Method::POST, format!("{CONFIGMAPS}/existing"))
            .json(configmap("existing"))
            .expect(405, "MethodNotAllowed", "not allow"),
        case("PUT to a collection", Method::PUT, CONFIGMAPS).json(configmap("existing")).expect(
            405,
            "MethodNotAllowed",
            "not allow",
        ),
        case("PATCH a collection", Method::PATCH, CONFIGMAPS)
            .raw("application/merge-patch+json", json!({"data": {"b": "2"}}).to_string())
            .expect(405, "MethodNotAllowed", "not allow"),
        case("no token", Method::GET, CONFIGMAPS).auth(Auth::Missing).expect(401, "Unauthorized", "Unauthorized"),
        case("wrong token", Method::GET, CONFIGMAPS).auth(Auth::WrongToken).expect(401, "Unauthorized", "Unauthorized"),
        case("token under the Basic scheme", Method::GET, CONFIGMAPS).auth(Auth::WrongScheme).expect(
            401,
            "Unauthorized",
            "Unauthorized",
        ),
    ]
}
