//! A container's `resources` as the runtime's [`Limits`], and the pod's QoS
//! class (`status.qosClass`) from the requests and limits of all containers.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::quantity::{parse_millis, parse_units};
use super::SpecError;
use crate::cri::Limits;

/// The extended resource that buys a deterministic wasm compute budget.
pub const FUEL_RESOURCE: &str = "wasmkube.io/fuel";

/// `limits.memory`, `limits.cpu` and `limits["wasmkube.io/fuel"]` of `container`.
pub fn container_limits(container: &Container) -> Result<Limits, SpecError> {
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref());
    let get = |name: &str| limits.and_then(|l| l.get(name)).map(|q| q.0.as_str());
    let units = |text: &str| parse_units(text).ok_or_else(|| SpecError::BadQuantity(text.to_string()));
    Ok(Limits {
        memory_bytes: get("memory").map(units).transpose()?,
        cpu_millis: get("cpu")
            .map(|text| {
                parse_millis(text).and_then(|m| u64::try_from(m).ok()).ok_or_else(|| SpecError::BadQuantity(text.to_string()))
            })
            .transpose()?,
        fuel: get(FUEL_RESOURCE).map(units).transpose()?,
    })
}

/// Kubernetes' QoS class: `Guaranteed` when every container limits cpu and
/// memory and requests exactly that; `BestEffort` when no container requests
/// or limits either; `Burstable` otherwise.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let containers = spec.init_containers.iter().flatten().chain(&spec.containers);
    let mut any_set = false;
    let mut guaranteed = true;
    for container in containers {
        let resources = container.resources.as_ref();
        let empty = BTreeMap::new();
        let limits = resources.and_then(|r| r.limits.as_ref()).unwrap_or(&empty);
        let requests = resources.and_then(|r| r.requests.as_ref()).unwrap_or(&empty);
        for name in ["cpu", "memory"] {
            let limit = limits.get(name).and_then(millis);
            // A request left out defaults to the limit.
            let request = requests.get(name).and_then(millis).or(limit);
            any_set |= limit.is_some_and(|l| l > 0) || request.is_some_and(|r| r > 0);
            guaranteed &= limit.is_some() && request == limit;
        }
    }
    match (any_set, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

fn millis(q: &Quantity) -> Option<u128> {
    parse_millis(&q.0)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ResourceRequirements;

    use super::*;

    fn container(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Container {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect())
        };
        Container {
            resources: Some(ResourceRequirements { limits: map(limits), requests: map(requests), ..Default::default() }),
            ..Default::default()
        }
    }

    fn spec(containers: Vec<Container>) -> PodSpec {
        PodSpec { containers, ..Default::default() }
    }

    #[test]
    fn limits_convert_to_runtime_units() {
        let c = container(&[("memory", "16Mi"), ("cpu", "200m"), (FUEL_RESOURCE, "5000000")], &[]);
        assert_eq!(
            container_limits(&c).expect("parses"),
            Limits { memory_bytes: Some(16 << 20), cpu_millis: Some(200), fuel: Some(5_000_000) }
        );
        assert_eq!(container_limits(&Container::default()).expect("empty"), Limits::default());
        assert!(container_limits(&container(&[("memory", "lots")], &[])).is_err());
    }

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(&spec(vec![Container::default()])), "BestEffort");
        assert_eq!(qos_class(&spec(vec![container(&[("cpu", "1"), ("memory", "1Gi")], &[])])), "Guaranteed");
        assert_eq!(
            qos_class(&spec(vec![container(&[("cpu", "1"), ("memory", "1Gi")], &[("cpu", "500m")])])),
            "Burstable"
        );
        assert_eq!(
            qos_class(&spec(vec![container(&[("cpu", "1"), ("memory", "1Gi")], &[]), Container::default()])),
            "Burstable"
        );
        // Fuel alone does not make a pod anything but best effort.
        assert_eq!(qos_class(&spec(vec![container(&[(FUEL_RESOURCE, "10")], &[])])), "BestEffort");
    }
}
