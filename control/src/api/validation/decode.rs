//! Strict decoding: the body must deserialize into the Kubernetes type of its
//! resource, and fields the type does not have are errors (with
//! `fieldValidation=Strict`) or warnings (otherwise).

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
    discovery::v1 as discovery, networking::v1 as networking, node::v1 as node, rbac::v1 as rbac,
    storage::v1 as storage,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::unknown_fields::unknown_fields;
use crate::api::resources::ResourceType;
use crate::error::ApiError;

/// What a successful decode has to tell the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// `unknown field "spec.foo"` for each field dropped in non-strict mode; the
    /// handlers send them as `Warning: 299 - "..."` headers.
    pub warnings: Vec<String>,
}

/// Why a body cannot be decoded as its resource type (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body of a {kind} must be a JSON object")]
    NotAnObject { kind: &'static str },
    #[error("the API version in the data ({found}) does not match the expected API version ({expected})")]
    WrongApiVersion { expected: String, found: String },
    #[error("the kind in the data ({found}) does not match the expected kind ({expected})")]
    WrongKind { expected: &'static str, found: String },
    /// A value of the wrong JSON type, at `path` (`spec.replicas`).
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {path}: {message}")]
    WrongType { kind: &'static str, version: &'static str, path: String, message: String },
    /// A resource quantity that is not one (`cpu: 12XYZ`): upstream fails to
    /// decode it, so it is a 400 like any other malformed value.
    #[error("{kind} in version \"{version}\" cannot be handled as a {kind}: {path}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {value:?}")]
    BadQuantity { kind: &'static str, version: &'static str, path: String, value: String },
    #[error("strict decoding error: {}", render_unknown(.0))]
    UnknownFields(Vec<String>),
    /// The resource table names a kind this module has no type for.
    #[error("no type is known for kind {0}")]
    UnsupportedKind(&'static str),
}

fn render_unknown(fields: &[String]) -> String {
    fields.iter().map(|f| unknown_field_message(f)).collect::<Vec<_>>().join(", ")
}

fn unknown_field_message(field: &str) -> String {
    format!("unknown field \"{field}\"")
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::UnsupportedKind(_) => ApiError::Internal(e.to_string()),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// Check that `obj` is a well-typed `rt.kind`; `strict` turns unknown fields
/// from warnings into an error.
pub fn decode(rt: &ResourceType, obj: &Value, strict: bool) -> Result<Decoded, DecodeError> {
    check_type_meta(rt, obj)?;
    let typed = round_trip(rt, obj)?;
    check_quantities(rt, obj, &mut String::new())?;
    let unknown = unknown_fields(obj, &typed);
    if unknown.is_empty() {
        Ok(Decoded::default())
    } else if strict {
        Err(DecodeError::UnknownFields(unknown))
    } else {
        Ok(Decoded { warnings: unknown.iter().map(|f| unknown_field_message(f)).collect() })
    }
}

/// `apiVersion` and `kind` may be left out (the URL says what they are), but
/// must not name another type.
fn check_type_meta(rt: &ResourceType, obj: &Value) -> Result<(), DecodeError> {
    let Value::Object(map) = obj else { return Err(DecodeError::NotAnObject { kind: rt.kind }) };
    if let Some(Value::String(found)) = map.get("apiVersion") {
        let expected = rt.api_version();
        if *found != expected {
            return Err(DecodeError::WrongApiVersion { expected, found: found.clone() });
        }
    }
    if let Some(Value::String(found)) = map.get("kind") {
        if found != rt.kind {
            return Err(DecodeError::WrongKind { expected: rt.kind, found: found.clone() });
        }
    }
    Ok(())
}

/// Maps whose string values are resource quantities, wherever they appear.
const QUANTITY_MAPS: &[&str] = &["limits", "requests", "hard", "capacity", "allocatable", "default", "defaultRequest", "max", "min"];

/// Every string in a quantity map must parse as a Quantity.
fn check_quantities(rt: &ResourceType, v: &Value, path: &mut String) -> Result<(), DecodeError> {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                if QUANTITY_MAPS.contains(&k.as_str()) {
                    if let Value::Object(q) = child {
                        for (name, value) in q {
                            if let Value::String(s) = value {
                                if super::quantity::Quantity::parse(s).is_err() {
                                    return Err(DecodeError::BadQuantity {
                                        kind: rt.kind,
                                        version: rt.version,
                                        path: format!("{path}.{name}"),
                                        value: s.clone(),
                                    });
                                }
                            }
                        }
                    }
                }
                check_quantities(rt, child, path)?;
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                check_quantities(rt, child, path)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

/// Deserialize `obj` as `T`, naming the path of the first mistyped value.
pub(crate) fn typed<T: DeserializeOwned>(rt: &ResourceType, obj: &Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(obj).map_err(|e| {
        let path = e.path().to_string();
        let mut message = e.inner().to_string();
        // Secret data is base64: say so, as upstream's "illegal base64 data" does.
        if rt.kind == "Secret" && path.starts_with("data") {
            message = format!("illegal base64 data: {message}");
        }
        DecodeError::WrongType { kind: rt.kind, version: rt.version, path, message }
    })
}

fn through<T: DeserializeOwned + Serialize>(rt: &ResourceType, obj: &Value) -> Result<Value, DecodeError> {
    let value: T = typed(rt, obj)?;
    // Serializing a typed Kubernetes object cannot fail: every field is a
    // string, number, map or list. Should it ever, report nothing unknown
    // rather than everything.
    Ok(serde_json::to_value(&value).unwrap_or_else(|_| obj.clone()))
}

/// The object decoded as the type of its kind and serialized back.
fn round_trip(rt: &ResourceType, obj: &Value) -> Result<Value, DecodeError> {
    macro_rules! by_kind {
        ($($kind:literal => $ty:ty),* $(,)?) => {
            match rt.kind {
                $($kind => through::<$ty>(rt, obj),)*
                other => Err(DecodeError::UnsupportedKind(other)),
            }
        };
    }
    by_kind! {
        "Namespace" => core::Namespace,
        "Pod" => core::Pod,
        "Service" => core::Service,
        "Endpoints" => core::Endpoints,
        "ConfigMap" => core::ConfigMap,
        "Secret" => core::Secret,
        "Node" => core::Node,
        "Event" => core::Event,
        "ServiceAccount" => core::ServiceAccount,
        "PersistentVolume" => core::PersistentVolume,
        "PersistentVolumeClaim" => core::PersistentVolumeClaim,
        "ReplicationController" => core::ReplicationController,
        "ResourceQuota" => core::ResourceQuota,
        "LimitRange" => core::LimitRange,
        "Deployment" => apps::Deployment,
        "ReplicaSet" => apps::ReplicaSet,
        "DaemonSet" => apps::DaemonSet,
        "StatefulSet" => apps::StatefulSet,
        "ControllerRevision" => apps::ControllerRevision,
        "Job" => batch::Job,
        "CronJob" => batch::CronJob,
        "RuntimeClass" => node::RuntimeClass,
        "Lease" => coordination::Lease,
        "EndpointSlice" => discovery::EndpointSlice,
        "Ingress" => networking::Ingress,
        "IngressClass" => networking::IngressClass,
        "NetworkPolicy" => networking::NetworkPolicy,
        "StorageClass" => storage::StorageClass,
        "Role" => rbac::Role,
        "RoleBinding" => rbac::RoleBinding,
        "ClusterRole" => rbac::ClusterRole,
        "ClusterRoleBinding" => rbac::ClusterRoleBinding,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resources::{by_kind, TYPES};
    use serde_json::json;

    fn deployments() -> &'static ResourceType {
        by_kind("apps/v1", "Deployment").expect("deployments are served")
    }

    fn deployment(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn every_served_kind_has_a_type() {
        for rt in TYPES {
            let obj = json!({"apiVersion": rt.api_version(), "kind": rt.kind, "metadata": {"name": "x"}});
            assert_eq!(decode(rt, &obj, true), Ok(Decoded::default()), "{}", rt.kind);
        }
    }

    #[test]
    fn known_fields_decode_cleanly() {
        let obj = deployment(json!({
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c1", "image": "nginx", "resources": {"limits": {"cpu": 1}}}]}
            }
        }));
        assert_eq!(decode(deployments(), &obj, true), Ok(Decoded::default()));
    }

    #[test]
    fn unknown_fields_fail_strict_and_warn_otherwise() {
        let obj = deployment(json!({"replicas": 1, "foo": 1, "bar": {"x": 1}}));
        let err = decode(deployments(), &obj, true).unwrap_err();
        assert_eq!(err.to_string(), "strict decoding error: unknown field \"spec.foo\", unknown field \"spec.bar\"");
        let ok = decode(deployments(), &obj, false).unwrap();
        assert_eq!(ok.warnings, vec!["unknown field \"spec.foo\"", "unknown field \"spec.bar\""]);
    }

    #[test]
    fn type_errors_name_the_path() {
        let obj = deployment(json!({"replicas": "three"}));
        let err = decode(deployments(), &obj, true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.ends_with("spec.replicas: invalid type: string \"three\", expected i32"), "{msg}");
        assert!(msg.starts_with("Deployment in version \"v1\" cannot be handled as a Deployment"), "{msg}");
        let obj = deployment(
            json!({"template": {"spec": {"containers": [{"name": "c1", "ports": [{"containerPort": "80"}]}]}}}),
        );
        let msg = decode(deployments(), &obj, true).unwrap_err().to_string();
        assert!(msg.contains("spec.template.spec.containers[0].ports[0].containerPort: invalid type"), "{msg}");
    }

    #[test]
    fn type_meta_must_match_the_resource() {
        let mut obj = deployment(json!({}));
        obj["apiVersion"] = json!("apps/v1beta1");
        assert_eq!(
            decode(deployments(), &obj, true),
            Err(DecodeError::WrongApiVersion { expected: "apps/v1".into(), found: "apps/v1beta1".into() })
        );
        obj["apiVersion"] = json!("apps/v1");
        obj["kind"] = json!("ReplicaSet");
        assert!(matches!(decode(deployments(), &obj, true), Err(DecodeError::WrongKind { .. })));
        assert!(matches!(decode(deployments(), &json!([1]), true), Err(DecodeError::NotAnObject { .. })));
        let bare = json!({"metadata": {"name": "web"}});
        assert_eq!(decode(deployments(), &bare, true), Ok(Decoded::default()));
    }

    #[test]
    fn free_form_fields_are_opaque() {
        let cms = by_kind("v1", "ConfigMap").expect("configmaps are served");
        let obj = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "labels": {"anything": "x"}, "managedFields": [
                {"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {"f:k": {}}}}
            ]},
            "data": {"k": "v"}
        });
        assert_eq!(decode(cms, &obj, true), Ok(Decoded::default()));
    }

    #[test]
    fn secret_data_must_be_base64() {
        let secrets = by_kind("v1", "Secret").expect("secrets are served");
        let obj =
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}});
        let err = decode(secrets, &obj, true).unwrap_err().to_string();
        assert!(err.contains("data.k"), "{err}");
    }

    #[test]
    fn becomes_a_bad_request() {
        let api: ApiError = DecodeError::UnknownFields(vec!["spec.foo".into()]).into();
        assert_eq!(api.code(), axum::http::StatusCode::BAD_REQUEST);
    }
}
