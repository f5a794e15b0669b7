//! The Downward API: a pod's own fields (`fieldRef`) and its containers'
//! resources (`resourceFieldRef`) as strings, shared by env vars and
//! `downwardAPI` volumes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};

use super::quantity::parse_millis;
use super::SpecError;

/// What the node knows that the pod spec does not say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFacts {
    pub node_name: String,
    pub host_ip: String,
    /// The pod's own IP: the worker sets it per pod from its sandbox (empty without one).
    pub pod_ip: String,
    /// Allocatable CPU in millicores: the value of an unset `limits.cpu`.
    pub cpu_millis: u64,
    /// Allocatable memory in bytes: the value of an unset `limits.memory`.
    pub memory_bytes: u64,
}

/// The value of a `fieldRef` (the paths Kubernetes supports).
pub fn field_value(pod: &Pod, node: &NodeFacts, selector: &ObjectFieldSelector) -> Result<String, SpecError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let path = selector.field_path.as_str();
    let empty = BTreeMap::new();
    let value = match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "metadata.labels" => render_map(meta.labels.as_ref().unwrap_or(&empty)),
        "metadata.annotations" => render_map(meta.annotations.as_ref().unwrap_or(&empty)),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_else(|| node.node_name.clone()),
        "spec.serviceAccountName" => spec.and_then(|s| s.service_account_name.clone()).unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => node.host_ip.clone(),
        "status.podIP" | "status.podIPs" => node.pod_ip.clone(),
        other => {
            if let Some(key) = bracketed(other, "metadata.labels") {
                meta.labels.as_ref().and_then(|l| l.get(key)).cloned().unwrap_or_default()
            } else if let Some(key) = bracketed(other, "metadata.annotations") {
                meta.annotations.as_ref().and_then(|a| a.get(key)).cloned().unwrap_or_default()
            } else {
                return Err(SpecError::UnsupportedField(other.to_string()));
            }
        }
    };
    Ok(value)
}

/// The value of a `resourceFieldRef` for `container`, divided by its divisor
/// (rounded up). Unset limits read as the node's allocatable amount.
pub fn resource_value(container: &Container, node: &NodeFacts, selector: &ResourceFieldSelector) -> Result<String, SpecError> {
    let resources = container.resources.as_ref();
    let (kind, source) = match selector.resource.split_once('.') {
        Some(("limits", kind)) => (kind, resources.and_then(|r| r.limits.as_ref())),
        Some(("requests", kind)) => (kind, resources.and_then(|r| r.requests.as_ref())),
        _ => return Err(SpecError::UnsupportedField(selector.resource.clone())),
    };
    let stated = source.and_then(|m| m.get(kind)).map(|q| q.0.as_str());
    let millis = match (kind, stated) {
        (_, Some(text)) => parse_millis(text).ok_or_else(|| SpecError::BadQuantity(text.to_string()))?,
        ("cpu", None) => u128::from(node.cpu_millis),
        ("memory" | "ephemeral-storage", None) => u128::from(node.memory_bytes) * 1000,
        (other, None) if other.starts_with("hugepages-") => 0,
        (other, None) => return Err(SpecError::UnsupportedField(format!("{}.{other}", selector.resource))),
    };
    let default_divisor = "1";
    let divisor_text = selector.divisor.as_ref().map(|q| q.0.as_str()).unwrap_or(default_divisor);
    let divisor = parse_millis(divisor_text).filter(|d| *d > 0).ok_or_else(|| SpecError::BadQuantity(divisor_text.to_string()))?;
    Ok(millis.div_ceil(divisor).to_string())
}

/// `metadata.labels['key']` → `key`.
fn bracketed<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let inner = path.strip_prefix(prefix)?.strip_prefix("['")?.strip_suffix("']")?;
    Some(inner)
}

/// Labels and annotations as a downwardAPI file writes them: `key="value"` lines, sorted.
fn render_map(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v:?}\n")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    pub(crate) fn node() -> NodeFacts {
        NodeFacts {
            node_name: "n1".into(),
            host_ip: "127.0.0.1".into(),
            pod_ip: "127.0.0.1".into(),
            cpu_millis: 2000,
            memory_bytes: 1 << 30,
        }
    }

    pub(crate) fn pod() -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("prod".into()),
                uid: Some("u-1".into()),
                labels: Some([("app".to_string(), "web".to_string())].into()),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: Some("n1".into()), ..Default::default() }),
            status: None,
        }
    }

    fn field(path: &str) -> ObjectFieldSelector {
        ObjectFieldSelector { field_path: path.into(), api_version: None }
    }

    #[test]
    fn pod_fields() {
        assert_eq!(field_value(&pod(), &node(), &field("metadata.name")).ok(), Some("web".into()));
        assert_eq!(field_value(&pod(), &node(), &field("metadata.labels['app']")).ok(), Some("web".into()));
        assert_eq!(field_value(&pod(), &node(), &field("metadata.labels")).ok(), Some("app=\"web\"\n".into()));
        assert_eq!(field_value(&pod(), &node(), &field("status.podIP")).ok(), Some("127.0.0.1".into()));
        assert!(matches!(field_value(&pod(), &node(), &field("spec.bogus")), Err(SpecError::UnsupportedField(_))));
    }

    #[test]
    fn resources_with_divisors_and_node_defaults() {
        let container = Container {
            resources: Some(ResourceRequirements {
                limits: Some([("memory".to_string(), Quantity("64Mi".into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let sel = |resource: &str, divisor: Option<&str>| ResourceFieldSelector {
            resource: resource.into(),
            divisor: divisor.map(|d| Quantity(d.into())),
            container_name: None,
        };
        assert_eq!(resource_value(&container, &node(), &sel("limits.memory", Some("1Mi"))).ok(), Some("64".into()));
        assert_eq!(resource_value(&container, &node(), &sel("limits.cpu", None)).ok(), Some("2".into()));
        assert_eq!(resource_value(&container, &node(), &sel("limits.cpu", Some("1m"))).ok(), Some("2000".into()));
    }
}
