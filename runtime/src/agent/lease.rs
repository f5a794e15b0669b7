//! The node heartbeat: a Lease named after the node in `kube-node-lease`,
//! renewed every 10 s, owned by the Node so it goes when the Node goes.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use super::AgentError;

pub const NAMESPACE: &str = "kube-node-lease";
pub const RENEW_EVERY: Duration = Duration::from_secs(10);
/// Four missed renewals before the lease counts as expired, as kubelet's 40 s.
pub const DURATION_SECONDS: i32 = 40;

/// The Lease object of `node`.
pub fn lease_for(node: &Node, now: Timestamp) -> Lease {
    let name = node.metadata.name.clone().unwrap_or_default();
    let owner = node.metadata.uid.clone().map(|uid| OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: name.clone(),
        uid,
        ..Default::default()
    });
    Lease {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(NAMESPACE.into()),
            owner_references: owner.map(|o| vec![o]),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(name),
            lease_duration_seconds: Some(DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..Default::default()
        }),
    }
}

/// Creates or renews the lease once.
pub async fn renew(client: &Client, node: &Node) -> Result<(), AgentError> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let name = node.metadata.name.clone().unwrap_or_default();
    let lease = lease_for(node, Timestamp::now());
    let patch = serde_json::json!({ "spec": lease.spec });
    match leases.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => match leases.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(()),
            // Lost a race with ourselves after a restart: the next renewal patches it.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(err) => Err(AgentError::Api { action: format!("creating Lease {NAMESPACE}/{name}"), source: err }),
        },
        Err(err) => Err(AgentError::Api { action: format!("renewing Lease {NAMESPACE}/{name}"), source: err }),
    }
}

/// Renews the lease every [`RENEW_EVERY`] until cancelled; failures are logged and retried.
pub async fn keep_renewing(client: Client, node: Node) {
    let mut tick = tokio::time::interval(RENEW_EVERY);
    loop {
        tick.tick().await;
        if let Err(err) = renew(&client, &node).await {
            tracing::warn!(error = %err, "node lease renewal failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_held_by_and_owned_by_the_node() {
        let node = Node {
            metadata: ObjectMeta { name: Some("n1".into()), uid: Some("u1".into()), ..Default::default() },
            ..Default::default()
        };
        let lease = lease_for(&node, Timestamp::UNIX_EPOCH);
        assert_eq!(lease.metadata.namespace.as_deref(), Some(NAMESPACE));
        let owner = lease.metadata.owner_references.unwrap_or_default();
        assert_eq!(owner.first().map(|o| (o.kind.as_str(), o.uid.as_str())), Some(("Node", "u1")));
        let spec = lease.spec.unwrap_or_default();
        assert_eq!(spec.holder_identity.as_deref(), Some("n1"));
        assert_eq!(spec.lease_duration_seconds, Some(40));
    }
}
