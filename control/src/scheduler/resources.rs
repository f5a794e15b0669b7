//! Resource amounts the scheduler compares: what a pod requests (computed the
//! way upstream's `PodRequests` does) and what a node can still give.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

use crate::api::validation::quantity::Quantity;

/// The extended resource wasm nodes offer: a deterministic instruction budget.
pub const FUEL: &str = "wasmkube.io/fuel";

/// CPU and memory a pod without requests is counted as when *scoring*
/// (upstream's non-zero defaults), so empty pods still spread; filters use the
/// real requests.
pub const DEFAULT_MILLI_CPU: i64 = 100;
pub const DEFAULT_MEMORY: i64 = 200 * 1024 * 1024;

/// An amount of every resource the scheduler knows: CPU in millicores,
/// memory and ephemeral storage in bytes, anything else (extended resources
/// such as `wasmkube.io/fuel`, hugepages) in whole units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub scalar: BTreeMap<String, i64>,
}

impl Resources {
    /// Reads a `requests`/`allocatable` map; unparsable quantities count as
    /// zero (the API server validates them, so only a foreign writer could).
    pub fn from_map(map: &BTreeMap<String, K8sQuantity>) -> Resources {
        let mut out = Resources::default();
        for (name, quantity) in map {
            let Ok(q) = Quantity::parse(&quantity.0) else { continue };
            match name.as_str() {
                "cpu" => out.milli_cpu = clamp(q.milli_value()),
                "memory" => out.memory = clamp(q.value()),
                "ephemeral-storage" => out.ephemeral_storage = clamp(q.value()),
                // Pods are counted, not requested.
                "pods" => {}
                other => {
                    out.scalar.insert(other.to_string(), clamp(q.value()));
                }
            }
        }
        out
    }

    pub fn add(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_add(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = entry.saturating_add(*v);
        }
    }

    pub fn subtract(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_sub(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = entry.saturating_sub(*v);
        }
        self.scalar.retain(|_, v| *v != 0);
    }

    /// Raises every amount to at least `other`'s.
    pub fn max_with(&mut self, other: &Resources) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (name, v) in &other.scalar {
            let entry = self.scalar.entry(name.clone()).or_default();
            *entry = (*entry).max(*v);
        }
    }

    /// An extended resource's amount (0 when absent).
    pub fn scalar(&self, name: &str) -> i64 {
        self.scalar.get(name).copied().unwrap_or(0)
    }
}

fn clamp(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

fn container_requests(container: &Container) -> Resources {
    container.resources.as_ref().and_then(|r| r.requests.as_ref()).map(Resources::from_map).unwrap_or_default()
}

/// What a pod occupies on its node, as upstream computes it: the sum of its
/// containers, raised to what any init container needs while it runs (with
/// the sidecars started before it), plus the pod overhead.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    let mut total = Resources::default();
    for container in &spec.containers {
        total.add(&container_requests(container));
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for init in spec.init_containers.iter().flatten() {
        let own = container_requests(init);
        let running_now = if init.restart_policy.as_deref() == Some("Always") {
            // A sidecar keeps running beside the app containers.
            total.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut with_sidecars = own;
            with_sidecars.add(&sidecars);
            with_sidecars
        };
        init_peak.max_with(&running_now);
    }
    total.max_with(&init_peak);
    if let Some(overhead) = &spec.overhead {
        total.add(&Resources::from_map(overhead));
    }
    total
}

/// CPU and memory of a pod for scoring: each container without a request
/// counts as upstream's defaults.
pub fn pod_requests_for_scoring(spec: &PodSpec) -> (i64, i64) {
    let (mut cpu, mut memory) = (0i64, 0i64);
    for container in &spec.containers {
        let r = container_requests(container);
        let has = |name: &str| container.resources.as_ref().and_then(|r| r.requests.as_ref()).is_some_and(|m| m.contains_key(name));
        cpu = cpu.saturating_add(if has("cpu") { r.milli_cpu } else { DEFAULT_MILLI_CPU });
        memory = memory.saturating_add(if has("memory") { r.memory } else { DEFAULT_MEMORY });
    }
    (cpu, memory)
}

/// A node's allocatable resources and how many pods it admits.
pub fn node_allocatable(node: &Node) -> (Resources, i64) {
    let Some(map) = node.status.as_ref().and_then(|s| s.allocatable.as_ref()) else {
        return (Resources::default(), 0);
    };
    let pods = map.get("pods").and_then(|q| Quantity::parse(&q.0).ok()).map(|q| clamp(q.value())).unwrap_or(0);
    (Resources::from_map(map), pods)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ResourceRequirements;

    fn container(requests: &[(&str, &str)]) -> Container {
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(requests.iter().map(|(k, v)| (k.to_string(), K8sQuantity(v.to_string()))).collect()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn containers_sum_and_init_containers_raise_to_their_peak() {
        let spec = PodSpec {
            containers: vec![container(&[("cpu", "100m"), ("memory", "64Mi")]), container(&[("cpu", "200m"), (FUEL, "1000")])],
            init_containers: Some(vec![container(&[("cpu", "1"), ("memory", "1Mi")])]),
            overhead: Some([("memory".to_string(), K8sQuantity("1Mi".into()))].into()),
            ..Default::default()
        };
        let r = pod_requests(&spec);
        assert_eq!(r.milli_cpu, 1000);
        assert_eq!(r.memory, 65 * 1024 * 1024);
        assert_eq!(r.scalar(FUEL), 1000);
    }

    #[test]
    fn sidecars_add_to_the_pod_and_to_later_init_containers() {
        let mut sidecar = container(&[("cpu", "300m")]);
        sidecar.restart_policy = Some("Always".into());
        let spec = PodSpec {
            containers: vec![container(&[("cpu", "100m")])],
            init_containers: Some(vec![sidecar, container(&[("cpu", "500m")])]),
            ..Default::default()
        };
        // Running: 100m + 300m sidecar = 400m; second init container: 500m + 300m = 800m.
        assert_eq!(pod_requests(&spec).milli_cpu, 800);
    }

    #[test]
    fn scoring_counts_missing_requests_as_defaults() {
        let spec = PodSpec { containers: vec![container(&[("cpu", "250m")])], ..Default::default() };
        assert_eq!(pod_requests_for_scoring(&spec), (250, DEFAULT_MEMORY));
    }
}
