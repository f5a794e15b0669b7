//! The `FromProto` conversion from `k8s-pb` (prost) messages into `k8s-openapi` types, so
//! that serializing the result gives exactly the JSON the JSON API would have carried.
//!
//! Go's protobuf encoding writes every non-pointer field, even when it holds its zero
//! value, while its JSON encoding drops `omitempty` fields. The generic rules here bridge
//! the two: an empty optional string, list or map becomes absent; optional numbers and
//! booleans keep their value (they are pointers in Go, so a zero is meaningful) unless the
//! message declares the field `omit_zero`; an absent required field takes its default.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::ByteString;
use k8s_pb::apimachinery::pkg::api::resource as pb_resource;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
use k8s_pb::apimachinery::pkg::util::intstr as pb_intstr;

/// A decoded message holds a value that has no JSON form (a timestamp out of range, an
/// unknown int-or-string discriminator). `path` locates it, as in `spec.ports[0].targetPort`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct InvalidField {
    path: String,
    reason: String,
}

impl InvalidField {
    pub(super) fn new(reason: impl Into<String>) -> Self {
        Self {
            path: String::new(),
            reason: reason.into(),
        }
    }

    /// Prefixes the path with the enclosing field (given in Rust's snake case).
    pub(super) fn within(mut self, field: &str) -> Self {
        let field = camel_case(field);
        self.path = match self.path.as_str() {
            "" => field,
            rest if rest.starts_with('[') => format!("{field}{rest}"),
            rest => format!("{field}.{rest}"),
        };
        self
    }

    fn at_index(mut self, index: usize) -> Self {
        self.path = match self.path.as_str() {
            "" => format!("[{index}]"),
            rest if rest.starts_with('[') => format!("[{index}]{rest}"),
            rest => format!("[{index}].{rest}"),
        };
        self
    }
}

/// `container_port` -> `containerPort`; `type_` -> `type`.
fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        match c {
            '_' => upper = true,
            c if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// Conversion of a decoded protobuf value `P` into the `k8s-openapi` value `Self`.
pub(super) trait FromProto<P>: Sized {
    fn from_proto(proto: P) -> Result<Self, InvalidField>;
}

/// Go's non-pointer `omitempty` numbers and booleans: the zero value is "unset".
pub(super) fn omit_zero<T: Default + PartialEq>(value: Option<T>) -> Option<T> {
    value.filter(|v| *v != T::default())
}

// --- strings ---------------------------------------------------------------------------

impl FromProto<Option<String>> for String {
    fn from_proto(proto: Option<String>) -> Result<Self, InvalidField> {
        Ok(proto.unwrap_or_default())
    }
}

impl FromProto<Option<String>> for Option<String> {
    fn from_proto(proto: Option<String>) -> Result<Self, InvalidField> {
        Ok(proto.filter(|s| !s.is_empty()))
    }
}

impl FromProto<Vec<String>> for Vec<String> {
    fn from_proto(proto: Vec<String>) -> Result<Self, InvalidField> {
        Ok(proto)
    }
}

impl FromProto<BTreeMap<String, String>> for BTreeMap<String, String> {
    fn from_proto(proto: BTreeMap<String, String>) -> Result<Self, InvalidField> {
        Ok(proto)
    }
}

// --- numbers and booleans --------------------------------------------------------------

macro_rules! scalar {
    ($($t:ty),*) => {$(
        impl FromProto<$t> for $t {
            fn from_proto(proto: $t) -> Result<Self, InvalidField> {
                Ok(proto)
            }
        }
        /// A required scalar the sender left out takes its zero value, as in Go.
        impl FromProto<Option<$t>> for $t {
            fn from_proto(proto: Option<$t>) -> Result<Self, InvalidField> {
                Ok(proto.unwrap_or_default())
            }
        }
    )*};
}
scalar!(bool, i32, i64);

// --- containers ------------------------------------------------------------------------

impl<P, T: FromProto<P>> FromProto<Option<P>> for Option<T> {
    fn from_proto(proto: Option<P>) -> Result<Self, InvalidField> {
        proto.map(T::from_proto).transpose()
    }
}

impl<P, T: FromProto<P>> FromProto<Vec<P>> for Vec<T> {
    fn from_proto(proto: Vec<P>) -> Result<Self, InvalidField> {
        proto
            .into_iter()
            .enumerate()
            .map(|(i, item)| T::from_proto(item).map_err(|e| e.at_index(i)))
            .collect()
    }
}

/// An empty repeated field is indistinguishable from an absent one on the wire; JSON
/// omits both.
impl<P, T> FromProto<Vec<P>> for Option<Vec<T>>
where
    Vec<T>: FromProto<Vec<P>>,
{
    fn from_proto(proto: Vec<P>) -> Result<Self, InvalidField> {
        if proto.is_empty() {
            return Ok(None);
        }
        Vec::<T>::from_proto(proto).map(Some)
    }
}

impl<P, T: FromProto<P>> FromProto<BTreeMap<String, P>> for BTreeMap<String, T> {
    fn from_proto(proto: BTreeMap<String, P>) -> Result<Self, InvalidField> {
        proto
            .into_iter()
            .map(|(key, value)| {
                let value = T::from_proto(value).map_err(|e| e.within(&key))?;
                Ok((key, value))
            })
            .collect()
    }
}

impl<P, T> FromProto<BTreeMap<String, P>> for Option<BTreeMap<String, T>>
where
    BTreeMap<String, T>: FromProto<BTreeMap<String, P>>,
{
    fn from_proto(proto: BTreeMap<String, P>) -> Result<Self, InvalidField> {
        if proto.is_empty() {
            return Ok(None);
        }
        BTreeMap::<String, T>::from_proto(proto).map(Some)
    }
}

// --- apimachinery value types ----------------------------------------------------------

/// `bytes` fields (Secret data, ConfigMap binaryData); JSON carries them as base64.
impl FromProto<Vec<u8>> for ByteString {
    fn from_proto(proto: Vec<u8>) -> Result<Self, InvalidField> {
        Ok(ByteString(proto))
    }
}

impl FromProto<pb_resource::Quantity> for Quantity {
    fn from_proto(proto: pb_resource::Quantity) -> Result<Self, InvalidField> {
        Ok(Quantity(proto.string.unwrap_or_default()))
    }
}

/// `intstr.IntOrString`: type 0 is an integer, type 1 a string.
impl FromProto<pb_intstr::IntOrString> for IntOrString {
    fn from_proto(proto: pb_intstr::IntOrString) -> Result<Self, InvalidField> {
        match proto.r#type.unwrap_or(0) {
            0 => Ok(IntOrString::Int(proto.int_val.unwrap_or(0))),
            1 => Ok(IntOrString::String(proto.str_val.unwrap_or_default())),
            other => Err(InvalidField::new(format!(
                "unknown IntOrString type {other}"
            ))),
        }
    }
}

impl FromProto<Option<pb_intstr::IntOrString>> for IntOrString {
    fn from_proto(proto: Option<pb_intstr::IntOrString>) -> Result<Self, InvalidField> {
        Self::from_proto(proto.unwrap_or_default())
    }
}

/// `metav1.Time`: Go writes the zero time as an empty message, and JSON as `null`
/// (which `k8s-openapi` spells as an absent field).
impl FromProto<Option<pb_meta::Time>> for Option<Time> {
    fn from_proto(proto: Option<pb_meta::Time>) -> Result<Self, InvalidField> {
        let Some(time) = proto else { return Ok(None) };
        let (seconds, nanos) = (time.seconds.unwrap_or(0), time.nanos.unwrap_or(0));
        if seconds == 0 && nanos == 0 {
            return Ok(None);
        }
        jiff::Timestamp::new(seconds, nanos)
            .map(|t| Some(Time(t)))
            .map_err(|e| InvalidField::new(format!("invalid timestamp: {e}")))
    }
}

/// Implements `FromProto` for a message, field by field, plus the "required message"
/// form (`FromProto<Option<P>>`) that defaults an absent message. Field forms:
/// - `name`: same field name on both sides, converted by its `FromProto` impl;
/// - `pb_name => api_name`: renamed field (`r#type => type_`);
/// - `omit_zero name`: a Go non-pointer `omitempty` scalar (zero means unset);
/// - `embedded { fields }`: a Go embedded struct, flattened into the parent in JSON.
///
/// Protobuf fields not listed (status, fields newer than the served API) are dropped.
macro_rules! from_proto {
    ($pb:ty => $api:ty { $($fields:tt)* }) => {
        impl $crate::api::protobuf::convert::FromProto<$pb> for $api {
            #[allow(clippy::field_reassign_with_default, unused_mut, unused_variables)]
            fn from_proto(proto: $pb) -> Result<Self, $crate::api::protobuf::convert::InvalidField> {
                let mut api = <$api>::default();
                from_proto!(@fields api, proto, $($fields)*);
                Ok(api)
            }
        }

        impl $crate::api::protobuf::convert::FromProto<Option<$pb>> for $api {
            fn from_proto(
                proto: Option<$pb>,
            ) -> Result<Self, $crate::api::protobuf::convert::InvalidField> {
                $crate::api::protobuf::convert::FromProto::from_proto(proto.unwrap_or_default())
            }
        }
    };

    (@fields $api:ident, $proto:ident, ) => {};
    (@fields $api:ident, $proto:ident, omit_zero $field:ident $(, $($rest:tt)*)?) => {
        $api.$field = $crate::api::protobuf::convert::omit_zero($proto.$field);
        from_proto!(@fields $api, $proto, $($($rest)*)?);
    };
    (@fields $api:ident, $proto:ident, $field:ident { $($inner:tt)* } $(, $($rest:tt)*)?) => {
        let embedded = $proto.$field.unwrap_or_default();
        from_proto!(@fields $api, embedded, $($inner)*);
        from_proto!(@fields $api, $proto, $($($rest)*)?);
    };
    (@fields $api:ident, $proto:ident, $field:ident => $api_field:ident $(, $($rest:tt)*)?) => {
        $api.$api_field = $crate::api::protobuf::convert::FromProto::from_proto($proto.$field)
            .map_err(|e| e.within(stringify!($api_field)))?;
        from_proto!(@fields $api, $proto, $($($rest)*)?);
    };
    (@fields $api:ident, $proto:ident, $field:ident $(, $($rest:tt)*)?) => {
        $api.$field = $crate::api::protobuf::convert::FromProto::from_proto($proto.$field)
            .map_err(|e| e.within(stringify!($field)))?;
        from_proto!(@fields $api, $proto, $($($rest)*)?);
    };
}
pub(super) use from_proto;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_lists_and_maps_become_absent() {
        assert_eq!(Option::<String>::from_proto(Some(String::new())), Ok(None));
        assert_eq!(
            Option::<String>::from_proto(Some(String::from("x"))),
            Ok(Some(String::from("x")))
        );
        assert_eq!(
            Option::<Vec<String>>::from_proto(Vec::<String>::new()),
            Ok(None)
        );
        assert_eq!(
            Option::<BTreeMap<String, String>>::from_proto(BTreeMap::<String, String>::new()),
            Ok(None)
        );
    }

    #[test]
    fn pointer_scalars_keep_zero_but_omit_zero_drops_it() {
        assert_eq!(Option::<i32>::from_proto(Some(0)), Ok(Some(0)));
        assert_eq!(Option::<bool>::from_proto(Some(false)), Ok(Some(false)));
        assert_eq!(omit_zero(Some(0)), None);
        assert_eq!(omit_zero(Some(false)), None);
        assert_eq!(omit_zero(Some(8080)), Some(8080));
    }

    #[test]
    fn int_or_string_follows_the_type_discriminator() {
        let int = pb_intstr::IntOrString {
            r#type: Some(0),
            int_val: Some(8080),
            str_val: Some(String::new()),
        };
        assert_eq!(IntOrString::from_proto(int), Ok(IntOrString::Int(8080)));
        let name = pb_intstr::IntOrString {
            r#type: Some(1),
            int_val: Some(0),
            str_val: Some("http".into()),
        };
        assert_eq!(
            IntOrString::from_proto(name),
            Ok(IntOrString::String("http".into()))
        );
        let bogus = pb_intstr::IntOrString {
            r#type: Some(7),
            ..Default::default()
        };
        assert!(IntOrString::from_proto(bogus).is_err());
    }

    #[test]
    fn zero_time_is_absent_and_real_time_converts() {
        let zero = Some(pb_meta::Time::default());
        assert_eq!(Option::<Time>::from_proto(zero), Ok(None));
        let real = Some(pb_meta::Time {
            seconds: Some(1_700_000_000),
            nanos: Some(0),
        });
        let converted = Option::<Time>::from_proto(real)
            .ok()
            .flatten()
            .map(|t| t.0.as_second());
        assert_eq!(converted, Some(1_700_000_000));
        let out_of_range = Some(pb_meta::Time {
            seconds: Some(i64::MAX),
            nanos: Some(0),
        });
        assert!(Option::<Time>::from_proto(out_of_range).is_err());
    }

    #[test]
    fn error_paths_name_the_field_in_json_spelling() {
        let err = InvalidField::new("bad")
            .within("target_port")
            .at_index(2)
            .within("ports");
        assert_eq!(err.to_string(), "ports[2].targetPort: bad");
    }
}
