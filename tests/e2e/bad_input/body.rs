//! Bodies that cannot be decoded into the addressed type: 400 BadRequest
//! (upstream: the decoder's error, wrapped by `transformDecodeError`), and
//! bodies in a format the server does not read: 415, and too large ones: 413.

use reqwest::Method;
use serde_json::json;

use super::{case, configmap, deployment, pod, with, Case, CONFIGMAPS, DEPLOYMENTS, PODS, SECRETS};

pub(super) fn cases() -> Vec<Case> {
    let cm = || configmap("decode-me");
    // Just over upstream's 3 MiB request body limit (`MaxRequestBodyBytes`).
    let huge = with(cm(), "/data/a", json!("x".repeat(3 * 1024 * 1024 + 1024)));
    vec![
        case("malformed JSON", Method::POST, CONFIGMAPS)
            .raw("application/json", r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"#)
            .expect(400, "BadRequest", "json"),
        case("JSON with trailing garbage", Method::POST, CONFIGMAPS)
            .raw("application/json", r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"t"}} trailing"#)
            .expect(400, "BadRequest", "json"),
        case("YAML garbage", Method::POST, CONFIGMAPS)
            .raw("application/yaml", "metadata: [unclosed\n  name: : :\n\t- x")
            .expect(400, "BadRequest", "yaml"),
        case("body is an array", Method::POST, CONFIGMAPS)
            .raw("application/json", "[1, 2, 3]")
            .expect(400, "BadRequest", "array|object"),
        case("body is a string", Method::POST, CONFIGMAPS)
            .raw("application/json", r#""a configmap please""#)
            .expect(400, "BadRequest", "string|object"),
        case("body is a number", Method::POST, CONFIGMAPS)
            .raw("application/json", "42")
            .expect(400, "BadRequest", "number|object"),
        case("empty body", Method::POST, CONFIGMAPS)
            .raw("application/json", "")
            .expect(400, "BadRequest", "json|empty"),
        case("kind does not match the URL", Method::POST, CONFIGMAPS)
            .json(with(with(cm(), "/kind", json!("Secret")), "/data", json!(null)))
            .expect(400, "BadRequest", "Secret"),
        case("apiVersion does not match the URL", Method::POST, CONFIGMAPS)
            .json(with(cm(), "/apiVersion", json!("apps/v1")))
            .expect(400, "BadRequest", "apps/v1"),
        case("deployment sent as core v1", Method::POST, DEPLOYMENTS)
            .json(with(deployment("d"), "/apiVersion", json!("v1")))
            .expect(400, "BadRequest", "version"),
        case("apiVersion that is no group/version", Method::POST, CONFIGMAPS)
            .json(with(cm(), "/apiVersion", json!("not/a/version")))
            .expect(400, "BadRequest", "not/a/version"),
        case("replicas is a string", Method::POST, DEPLOYMENTS)
            .json(with(deployment("three"), "/spec/replicas", json!("three")))
            .expect(400, "BadRequest", "spec.replicas"),
        case("configmap data value is a number", Method::POST, CONFIGMAPS)
            .json(with(cm(), "/data/a", json!(1)))
            .expect(400, "BadRequest", "data"),
        case("labels is an array", Method::POST, CONFIGMAPS)
            .json(with(cm(), "/metadata/labels", json!(["app", "web"])))
            .expect(400, "BadRequest", "labels"),
        case("unknown field with fieldValidation=Strict", Method::POST, format!("{DEPLOYMENTS}?fieldValidation=Strict"))
            .json(with(deployment("strict"), "/spec/foo", json!("bar")))
            .expect(400, "BadRequest", r#"unknown field "spec.foo""#),
        case("unknown container field with fieldValidation=Strict", Method::POST, format!("{PODS}?fieldValidation=Strict"))
            .json(with(pod("strict"), "/spec/containers/0/imagee", json!("busybox")))
            .expect(400, "BadRequest", r#"unknown field "spec.containers[0].imagee""#),
        case("duplicate field with fieldValidation=Strict", Method::POST, format!("{CONFIGMAPS}?fieldValidation=Strict"))
            .raw(
                "application/json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup"},"data":{"a":"1"},"data":{"b":"2"}}"#,
            )
            .expect(400, "BadRequest", r#"duplicate field "data""#),
        case("resource quantity 12XYZ", Method::POST, PODS)
            .json(with(pod("quantity"), "/spec/containers/0/resources", json!({"limits": {"cpu": "12XYZ"}})))
            .expect(400, "BadRequest", "quantit"),
        case("secret data that is not base64", Method::POST, SECRETS)
            .json(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b64"}, "data": {"k": "not base64!"}}))
            .expect(400, "BadRequest", "base64"),
        // Upstream's storage refuses this with a 500 ("resourceVersion should not be set on
        // objects to be created"); bad input must never be a 500, so the honest answer is 400.
        case("resourceVersion set on create", Method::POST, CONFIGMAPS)
            .json(with(cm(), "/metadata/resourceVersion", json!("12345")))
            .expect(400, "BadRequest", "resourceVersion"),
        case("unsupported Content-Type", Method::POST, CONFIGMAPS)
            .raw("text/plain", cm().to_string())
            .expect(415, "UnsupportedMediaType", "application/json"),
        case("body over 3 MiB", Method::POST, CONFIGMAPS).json(huge).expect(413, "RequestEntityTooLarge", "limit"),
    ]
}
