//! Decoding of protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl 1.32's `create` generators (`create configmap|secret|deployment|service|...`)
//! POST protobuf and never fall back to JSON. [`decode`] turns such a body into the JSON
//! object the JSON API would have carried, so everything downstream only sees JSON. Each
//! kind is decoded with its `k8s-pb` message, converted into its `k8s-openapi` type and
//! serialized, which gives the JSON field names and omit-when-empty rules for free.

mod apps;
mod authentication;
mod batch;
mod container;
mod convert;
mod core;
mod envelope;
mod meta;
mod networking;
mod pod;
mod policy;
mod rbac;
mod scheduling;
mod volume;

use k8s_openapi::Resource;
use prost::Message;
use serde::Serialize;
use serde_json::Value;

use convert::FromProto;
pub use convert::InvalidField;

/// The media type of protobuf request bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Why a protobuf request body could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
pub enum ProtobufError {
    #[error("protobuf body does not start with the Kubernetes magic \"k8s\\x00\"")]
    BadMagic,
    #[error("protobuf body is not a valid runtime.Unknown envelope: {0}")]
    BadEnvelope(#[source] prost::DecodeError),
    #[error("protobuf envelope has no apiVersion or kind")]
    MissingTypeMeta,
    #[error("protobuf envelope uses contentEncoding {encoding:?} and contentType {content_type:?}; only plain protobuf is supported")]
    UnsupportedEncoding {
        encoding: String,
        content_type: String,
    },
    #[error(
        "protobuf request bodies are supported for {}; send JSON for {kind} ({api_version})",
        supported_kinds()
    )]
    UnsupportedKind { api_version: String, kind: String },
    #[error("protobuf body is not a valid {kind}: {source}")]
    Decode {
        kind: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    #[error("protobuf body holds an invalid {kind}: {source}")]
    InvalidField {
        kind: &'static str,
        #[source]
        source: InvalidField,
    },
    /// Cannot happen for `k8s-openapi` types (their maps have string keys); kept typed
    /// rather than unwrapped.
    #[error("{kind} could not be rendered as JSON: {source}")]
    Render {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ProtobufError {
    /// True when the body is well-formed but names a kind this server cannot read as
    /// protobuf (an HTTP 415 rather than a 400).
    pub fn is_unsupported_media(&self) -> bool {
        matches!(
            self,
            Self::UnsupportedKind { .. } | Self::UnsupportedEncoding { .. }
        )
    }
}

/// Decodes a protobuf request body into the JSON object it stands for, with `apiVersion`
/// and `kind` set. `metadata.namespace` is left as sent (kubectl sends it empty; the URL
/// decides).
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = envelope::open(body)?;
    let kind = registry()
        .find(|k| k.api_version == envelope.api_version && k.kind == envelope.kind)
        .ok_or_else(|| ProtobufError::UnsupportedKind {
            api_version: envelope.api_version.clone(),
            kind: envelope.kind.clone(),
        })?;
    (kind.decode)(&envelope.raw)
}

/// One kind this module can decode.
struct Kind {
    api_version: &'static str,
    kind: &'static str,
    decode: fn(&[u8]) -> Result<Value, ProtobufError>,
}

/// The entry for the `k8s-pb` message `P` that converts into the `k8s-openapi` type `A`.
const fn kind<P, A>() -> Kind
where
    P: Message + Default,
    A: FromProto<P> + Resource + Serialize,
{
    Kind {
        api_version: A::API_VERSION,
        kind: A::KIND,
        decode: decode_as::<P, A>,
    }
}

fn decode_as<P, A>(raw: &[u8]) -> Result<Value, ProtobufError>
where
    P: Message + Default,
    A: FromProto<P> + Resource + Serialize,
{
    let proto = P::decode(raw).map_err(|source| ProtobufError::Decode {
        kind: A::KIND,
        source,
    })?;
    let object = A::from_proto(proto).map_err(|source| ProtobufError::InvalidField {
        kind: A::KIND,
        source,
    })?;
    serde_json::to_value(&object).map_err(|source| ProtobufError::Render {
        kind: A::KIND,
        source,
    })
}

fn registry() -> impl Iterator<Item = &'static Kind> {
    [
        core::KINDS,
        apps::KINDS,
        batch::KINDS,
        rbac::KINDS,
        networking::KINDS,
        policy::KINDS,
        scheduling::KINDS,
        authentication::KINDS,
    ]
    .into_iter()
    .flatten()
}

fn supported_kinds() -> String {
    registry().map(|k| k.kind).collect::<Vec<_>>().join(", ")
}

/// Shared by the per-group tests: wraps an encoded object the way kubectl does.
#[cfg(test)]
fn wrap_raw(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};

    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = envelope::MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

/// Shared by the per-group tests: decodes a captured kubectl body.
#[cfg(test)]
fn decode_fixture(name: &str) -> Value {
    let path = format!(
        "{}/src/api/protobuf/fixtures/{name}.pb",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    decode(&body).unwrap_or_else(|e| panic!("decoding {name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_kind_names_what_is_supported() {
        let err = decode(&wrap_raw("v1", "Pod", Vec::new())).expect_err("Pod is not decoded");
        assert!(err.is_unsupported_media());
        let message = err.to_string();
        assert!(
            message.starts_with("protobuf request bodies are supported for ConfigMap, Secret"),
            "{message}"
        );
        assert!(message.ends_with("; send JSON for Pod (v1)"), "{message}");
    }

    #[test]
    fn kind_is_matched_with_its_api_version() {
        let err = decode(&wrap_raw("apps/v1beta1", "Deployment", Vec::new()))
            .expect_err("old group version");
        assert!(matches!(err, ProtobufError::UnsupportedKind { .. }));
    }

    #[test]
    fn garbage_inside_a_good_envelope_is_a_decode_error() {
        let err = decode(&wrap_raw("v1", "ConfigMap", vec![0xff; 7])).expect_err("garbage");
        assert!(
            matches!(
                err,
                ProtobufError::Decode {
                    kind: "ConfigMap",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.is_unsupported_media());
    }

    #[test]
    fn every_registered_kind_survives_garbage_and_truncation() {
        let garbage: Vec<u8> = (0u32..512)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for kind in registry() {
            for len in 0..garbage.len() {
                let _ = (kind.decode)(&garbage[..len]);
            }
        }
        for fixture in std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/api/protobuf/fixtures"
        ))
        .expect("fixtures dir")
        .flatten()
        {
            let bytes = std::fs::read(fixture.path()).expect("fixture");
            for len in 0..bytes.len() {
                let _ = decode(&bytes[..len]);
            }
            assert!(decode(&bytes).is_ok(), "{:?} decodes whole", fixture.path());
        }
    }

    #[test]
    fn random_bytes_are_rejected_as_bad_magic() {
        assert!(matches!(
            decode(&[0x13, 0x37, 0x00, 0x42, 0x99]),
            Err(ProtobufError::BadMagic)
        ));
    }
}
