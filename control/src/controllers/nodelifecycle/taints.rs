//! The taints a node's readiness calls for: `node.kubernetes.io/not-ready`
//! while its agent reports it not ready, `node.kubernetes.io/unreachable`
//! while nobody hears from it, each as NoSchedule (keep new pods off) and
//! NoExecute (evict the pods there). Other taints are left alone.

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::health::Readiness;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const NO_SCHEDULE: &str = "NoSchedule";
pub const NO_EXECUTE: &str = "NoExecute";

/// The node's taints for `readiness`, or None if `current` already has them.
/// A NoExecute taint records when it was added (evictions count from then)
/// and keeps that time while it stays.
pub fn desired_taints(current: &[Taint], readiness: Readiness, now: &Time) -> Option<Vec<Taint>> {
    let wanted_key = match readiness {
        Readiness::Ready => None,
        Readiness::NotReady => Some(NOT_READY),
        Readiness::Unknown => Some(UNREACHABLE),
    };
    let ours = |t: &Taint| t.key == NOT_READY || t.key == UNREACHABLE;
    let mut taints: Vec<Taint> = current.iter().filter(|t| !ours(t)).cloned().collect();
    if let Some(key) = wanted_key {
        for effect in [NO_SCHEDULE, NO_EXECUTE] {
            let kept = current.iter().find(|t| t.key == key && t.effect == effect).cloned();
            let time_added = (effect == NO_EXECUTE).then(|| kept.as_ref().and_then(|t| t.time_added.clone()).unwrap_or_else(|| now.clone()));
            taints.push(Taint { key: key.into(), effect: effect.into(), value: None, time_added });
        }
    }
    (taints != current).then_some(taints)
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH))
    }

    fn keys(taints: &[Taint]) -> Vec<(&str, &str)> {
        taints.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect()
    }

    #[test]
    fn an_unreachable_node_is_tainted_once_and_keeps_the_time() {
        let user = Taint { key: "dedicated".into(), effect: NO_SCHEDULE.into(), value: Some("gpu".into()), time_added: None };
        let tainted = desired_taints(std::slice::from_ref(&user), Readiness::Unknown, &at(10)).expect("new taints");
        assert_eq!(keys(&tainted), [("dedicated", NO_SCHEDULE), (UNREACHABLE, NO_SCHEDULE), (UNREACHABLE, NO_EXECUTE)]);
        assert_eq!(tainted[2].time_added, Some(at(10)));
        assert_eq!(tainted[1].time_added, None);
        assert_eq!(desired_taints(&tainted, Readiness::Unknown, &at(20)), None, "nothing to do the second time");
    }

    #[test]
    fn not_ready_replaces_unreachable_and_ready_clears_both() {
        let unreachable = desired_taints(&[], Readiness::Unknown, &at(10)).expect("taints");
        let not_ready = desired_taints(&unreachable, Readiness::NotReady, &at(20)).expect("taints");
        assert_eq!(keys(&not_ready), [(NOT_READY, NO_SCHEDULE), (NOT_READY, NO_EXECUTE)]);
        assert_eq!(not_ready[1].time_added, Some(at(20)));
        assert_eq!(desired_taints(&not_ready, Readiness::Ready, &at(30)), Some(vec![]));
        assert_eq!(desired_taints(&[], Readiness::Ready, &at(30)), None);
    }
}
