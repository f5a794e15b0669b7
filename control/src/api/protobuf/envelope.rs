//! The Kubernetes protobuf envelope: the `k8s\0` magic followed by a `runtime.Unknown`
//! message whose `typeMeta` names the object and whose `raw` bytes hold it.

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;

use super::ProtobufError;

/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";

/// What `runtime.Unknown` says about the object inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub api_version: String,
    pub kind: String,
    /// The object, encoded with the upstream `generated.proto` message for `kind`.
    pub raw: Vec<u8>,
}

/// Splits a request body into its type and its encoded object.
pub fn open(body: &[u8]) -> Result<Envelope, ProtobufError> {
    let unknown = body.strip_prefix(MAGIC).ok_or(ProtobufError::BadMagic)?;
    let unknown = Unknown::decode(unknown).map_err(ProtobufError::BadEnvelope)?;

    // The apiserver only ever writes (and reads) unencoded protobuf here; anything else
    // would be a different serializer we do not speak.
    let encoding = unknown.content_encoding.unwrap_or_default();
    let content_type = unknown.content_type.unwrap_or_default();
    if !encoding.is_empty() || !(content_type.is_empty() || content_type == super::CONTENT_TYPE) {
        return Err(ProtobufError::UnsupportedEncoding {
            encoding,
            content_type,
        });
    }

    let type_meta = unknown.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtobufError::MissingTypeMeta);
    }
    Ok(Envelope {
        api_version,
        kind,
        raw: unknown.raw.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    use super::*;

    fn wrap(unknown: &Unknown) -> Vec<u8> {
        let mut body = MAGIC.to_vec();
        body.extend(unknown.encode_to_vec());
        body
    }

    fn unknown(api_version: &str, kind: &str) -> Unknown {
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(vec![1, 2, 3]),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        }
    }

    #[test]
    fn opens_the_envelope_kubectl_sends() {
        let body = include_bytes!("fixtures/configmap.pb");
        let envelope = open(body).expect("kubectl's body opens");
        assert_eq!(envelope.api_version, "v1");
        assert_eq!(envelope.kind, "ConfigMap");
        assert_eq!(
            envelope.raw.first(),
            Some(&0x0a),
            "raw starts with the metadata field"
        );
    }

    #[test]
    fn rejects_a_body_without_the_magic() {
        assert!(matches!(
            open(b"{\"kind\":\"ConfigMap\"}"),
            Err(ProtobufError::BadMagic)
        ));
        assert!(matches!(open(b"k8s"), Err(ProtobufError::BadMagic)));
        assert!(matches!(open(b""), Err(ProtobufError::BadMagic)));
    }

    #[test]
    fn rejects_a_missing_type_meta() {
        let body = wrap(&Unknown {
            type_meta: None,
            ..unknown("v1", "ConfigMap")
        });
        assert!(matches!(open(&body), Err(ProtobufError::MissingTypeMeta)));
        let body = wrap(&unknown("v1", ""));
        assert!(matches!(open(&body), Err(ProtobufError::MissingTypeMeta)));
    }

    #[test]
    fn rejects_an_encoded_payload() {
        let body = wrap(&Unknown {
            content_encoding: Some("gzip".into()),
            ..unknown("v1", "ConfigMap")
        });
        assert!(matches!(
            open(&body),
            Err(ProtobufError::UnsupportedEncoding { .. })
        ));
        let body = wrap(&Unknown {
            content_type: Some("application/json".into()),
            ..unknown("v1", "ConfigMap")
        });
        assert!(matches!(
            open(&body),
            Err(ProtobufError::UnsupportedEncoding { .. })
        ));
    }

    #[test]
    fn rejects_a_truncated_envelope() {
        let body = include_bytes!("fixtures/deployment.pb");
        for len in 5..body.len() - 1 {
            // Every prefix either fails cleanly or (when it ends between fields) opens;
            // none may panic.
            let _ = open(&body[..len]);
        }
        assert!(matches!(
            open(&body[..10]),
            Err(ProtobufError::BadEnvelope(_))
        ));
    }
}
