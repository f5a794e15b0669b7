//! `authentication.k8s.io/v1` kinds: the TokenRequest that `kubectl create token` POSTs
//! to `serviceaccounts/{name}/token`.

use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_pb::api::authentication::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[kind::<pb::TokenRequest, TokenRequest>()];

from_proto!(pb::TokenRequest => TokenRequest { metadata, spec });
from_proto!(pb::TokenRequestSpec => TokenRequestSpec { audiences, expiration_seconds, bound_object_ref });
from_proto!(pb::BoundObjectReference => BoundObjectReference { kind, api_version, name, u_id => uid });

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::decode_fixture;

    #[test]
    fn token_request_from_kubectl() {
        // kubectl create token sa (POST .../serviceaccounts/sa/token): no audiences, no
        // expiry, so the server picks its defaults.
        assert_eq!(
            decode_fixture("token"),
            json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {},
                "spec": {"audiences": []},
            })
        );
    }

    #[test]
    fn token_request_with_audience_expiry_and_bound_object() {
        // kubectl create token sa --duration=10m --audience=api --bound-object-kind=Pod
        //   --bound-object-name=p --bound-object-uid=123
        assert_eq!(
            decode_fixture("token_bound")["spec"],
            json!({
                "audiences": ["api"],
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "123"},
                "expirationSeconds": 600,
            })
        );
    }
}
