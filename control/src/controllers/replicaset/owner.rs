//! ReplicaSets and ReplicationControllers are the same controller over two
//! shapes of object: this trait is what the shared reconcile needs of either.

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use k8s_openapi::NamespaceResourceScope;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::selector::PodSelector;
use super::status::ReplicaCounts;
use crate::controllers::ControllerError;

/// An object that keeps a number of pods from a template.
pub trait ReplicaOwner:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Serialize + Debug + Send + Sync + 'static
{
    /// The component name its Events carry.
    const COMPONENT: &'static str;
    fn pod_selector(&self) -> Result<PodSelector, ControllerError>;
    /// `spec.replicas` (1 when unset, the API default).
    fn desired_replicas(&self) -> i32;
    fn min_ready_seconds(&self) -> i32;
    fn template(&self) -> Option<&PodTemplateSpec>;
    /// The counts its status currently records.
    fn recorded_counts(&self) -> ReplicaCounts;
}

/// The methods ReplicaSet and ReplicationController share: their spec and
/// status have the same fields under the same names, only the selector differs.
macro_rules! replica_spec_and_status {
    () => {
        fn desired_replicas(&self) -> i32 {
            self.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
        }

        fn min_ready_seconds(&self) -> i32 {
            self.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0)
        }

        fn template(&self) -> Option<&PodTemplateSpec> {
            self.spec.as_ref()?.template.as_ref()
        }

        fn recorded_counts(&self) -> ReplicaCounts {
            let status = self.status.clone().unwrap_or_default();
            ReplicaCounts {
                replicas: status.replicas,
                fully_labeled_replicas: status.fully_labeled_replicas.unwrap_or(0),
                ready_replicas: status.ready_replicas.unwrap_or(0),
                available_replicas: status.available_replicas.unwrap_or(0),
                observed_generation: status.observed_generation.unwrap_or(0),
            }
        }
    };
}

impl ReplicaOwner for ReplicaSet {
    const COMPONENT: &'static str = "replicaset-controller";

    fn pod_selector(&self) -> Result<PodSelector, ControllerError> {
        PodSelector::from_label_selector(self.spec.as_ref().map(|s| &s.selector))
    }

    replica_spec_and_status!();
}

impl ReplicaOwner for ReplicationController {
    const COMPONENT: &'static str = "replication-controller";

    fn pod_selector(&self) -> Result<PodSelector, ControllerError> {
        PodSelector::from_map(self.spec.as_ref().and_then(|s| s.selector.as_ref()))
    }

    replica_spec_and_status!();
}
