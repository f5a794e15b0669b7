//! The diff of a replica controller: how many pods to create, or which to
//! delete, to bring the active pods to the desired count.

use k8s_openapi::api::core::v1::Pod;

use super::pods::sort_worst_first;

/// At most this many creates or deletes in one sync, as upstream's burstReplicas.
pub const BURST_REPLICAS: usize = 500;

#[derive(Debug, PartialEq)]
pub enum Plan<'a> {
    /// Already at the desired count.
    Nothing,
    /// Create this many pods from the template.
    Create(usize),
    /// Delete these pods (the worst first).
    Delete(Vec<&'a Pod>),
}

/// What to do so that `active` (the active owned pods) becomes `desired` pods.
pub fn plan<'a>(desired: i32, active: &[&'a Pod]) -> Plan<'a> {
    let desired = usize::try_from(desired).unwrap_or(0);
    if active.len() < desired {
        return Plan::Create((desired - active.len()).min(BURST_REPLICAS));
    }
    if active.len() > desired {
        let mut worst_first = active.to_vec();
        sort_worst_first(&mut worst_first);
        worst_first.truncate((active.len() - desired).min(BURST_REPLICAS));
        return Plan::Delete(worst_first);
    }
    Plan::Nothing
}

/// Batch sizes for creating `total` pods in a slow start: 1, 2, 4, ... so that
/// a template the API rejects fails once rather than `total` times. The
/// caller stops at the first batch with a failure.
pub fn slow_start_batches(total: usize) -> Vec<usize> {
    let mut batches = Vec::new();
    let mut remaining = total;
    let mut size = 1;
    while remaining > 0 {
        let batch = size.min(remaining);
        batches.push(batch);
        remaining -= batch;
        size *= 2;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::super::pods::tests::pod;
    use super::*;

    #[test]
    fn creates_the_missing_pods_up_to_the_burst() {
        let a = pod("a", 1, Some("n"), "Running", Some(1));
        assert_eq!(plan(3, &[&a]), Plan::Create(2));
        assert_eq!(plan(10_000, &[]), Plan::Create(BURST_REPLICAS));
        assert_eq!(plan(1, &[&a]), Plan::Nothing);
        assert_eq!(plan(-1, &[]), Plan::Nothing, "a negative count is no pods");
    }

    #[test]
    fn deletes_the_worst_extra_pods() {
        let ready = pod("ready", 1, Some("n"), "Running", Some(5));
        let pending = pod("pending", 2, None, "Pending", None);
        let running = pod("running", 3, Some("n"), "Running", None);
        match plan(1, &[&ready, &pending, &running]) {
            Plan::Delete(pods) => {
                let names: Vec<_> = pods.iter().filter_map(|p| p.metadata.name.as_deref()).collect();
                assert_eq!(names, ["pending", "running"]);
            }
            other => panic!("expected deletes, got {other:?}"),
        }
    }

    #[test]
    fn slow_start_doubles() {
        assert_eq!(slow_start_batches(0), Vec::<usize>::new());
        assert_eq!(slow_start_batches(1), [1]);
        assert_eq!(slow_start_batches(10), [1, 2, 4, 3]);
        assert_eq!(slow_start_batches(100).iter().sum::<usize>(), 100);
        assert_eq!(slow_start_batches(100), [1, 2, 4, 8, 16, 32, 37]);
    }
}
