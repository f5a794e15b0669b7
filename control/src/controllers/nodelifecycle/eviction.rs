//! Taint-based eviction: when a pod on a node with NoExecute taints must go.
//!
//! A pod that does not tolerate a NoExecute taint goes at once; one that
//! tolerates it for `tolerationSeconds` goes that long after the taint was
//! added; one that tolerates it without a limit stays. Pods that say nothing
//! about the not-ready and unreachable taints tolerate them for the default
//! eviction toleration: the API server writes it into every pod it admits
//! (see [`super::default_toleration`]), and the same rule applies here to
//! pods that reached the store without it (stored by an older server).

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::{Pod, Taint, Toleration};

use super::taints::{NOT_READY, NO_EXECUTE, UNREACHABLE};

/// Whether `toleration` tolerates `taint` (Kubernetes' ToleratesTaint).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => toleration.value.as_deref().unwrap_or_default() == taint.value.as_deref().unwrap_or_default(),
        _ => false,
    }
}

/// The pod's tolerations plus the default ones for not-ready and unreachable
/// it does not state itself (DefaultTolerationSeconds' rule: any toleration
/// of that key, or of every key, with NoExecute or any effect counts).
pub fn effective_tolerations(pod: &Pod, default: Duration) -> Vec<Toleration> {
    let mut tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
    for key in [NOT_READY, UNREACHABLE] {
        let stated = tolerations.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or_default();
            let e = t.effect.as_deref().unwrap_or_default();
            (k == key || k.is_empty()) && (e == NO_EXECUTE || e.is_empty())
        });
        if !stated {
            tolerations.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(NO_EXECUTE.into()),
                toleration_seconds: Some(i64::try_from(default.as_secs()).unwrap_or(i64::MAX)),
                value: None,
            });
        }
    }
    tolerations
}

/// When the pod must leave a node with `taints`, each paired with the time
/// it was added; None while it may stay.
pub fn eviction_time(tolerations: &[Toleration], taints: &[(Taint, Timestamp)]) -> Option<Timestamp> {
    taints
        .iter()
        .filter(|(taint, _)| taint.effect == NO_EXECUTE)
        .filter_map(|(taint, added)| match tolerations.iter().find(|t| tolerates(t, taint)) {
            None => Some(*added),
            Some(toleration) => {
                let seconds = toleration.toleration_seconds?.max(0);
                Some(added.saturating_add(SignedDuration::from_secs(seconds)).unwrap_or(Timestamp::MAX))
            }
        })
        .min()
}

/// When a pod being deleted on an unreachable node may be removed without
/// waiting for its agent: once its grace period is over (the API server sets
/// `deletionTimestamp` when the delete is asked for).
pub fn force_delete_time(pod: &Pod) -> Option<Timestamp> {
    let since = pod.metadata.deletion_timestamp.as_ref()?.0;
    let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(0).max(0);
    Some(since.saturating_add(SignedDuration::from_secs(grace)).unwrap_or(Timestamp::MAX))
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint { key: key.into(), effect: effect.into(), value: None, time_added: None }
    }

    fn toleration(key: &str, operator: &str, effect: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.into()),
            operator: Some(operator.into()),
            effect: (!effect.is_empty()).then(|| effect.into()),
            toleration_seconds: seconds,
            value: None,
        }
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod { spec: Some(PodSpec { tolerations: Some(tolerations), ..Default::default() }), ..Default::default() }
    }

    #[test]
    fn toleration_matching_follows_key_operator_value_and_effect() {
        let mut dedicated = taint("dedicated", NO_EXECUTE);
        dedicated.value = Some("gpu".into());
        assert!(tolerates(&toleration("dedicated", "Exists", "", None), &dedicated));
        assert!(!tolerates(&toleration("dedicated", "Exists", "NoSchedule", None), &dedicated));
        assert!(tolerates(&toleration("", "Exists", "", None), &dedicated), "an empty key with Exists tolerates everything");
        let mut equal = toleration("dedicated", "Equal", NO_EXECUTE, None);
        equal.value = Some("gpu".into());
        assert!(tolerates(&equal, &dedicated));
        equal.value = Some("cpu".into());
        assert!(!tolerates(&equal, &dedicated));
        assert!(!tolerates(&toleration("other", "Exists", "", None), &dedicated));
    }

    #[test]
    fn pods_without_tolerations_get_the_default_for_not_ready_and_unreachable() {
        let plain = effective_tolerations(&pod(vec![]), Duration::from_secs(300));
        assert_eq!(plain.len(), 2);
        assert!(plain.iter().all(|t| t.toleration_seconds == Some(300) && t.effect.as_deref() == Some(NO_EXECUTE)));
        let own = toleration(UNREACHABLE, "Exists", NO_EXECUTE, Some(5));
        let stated = effective_tolerations(&pod(vec![own.clone()]), Duration::from_secs(300));
        assert_eq!(stated.len(), 2, "only not-ready gets the default");
        assert_eq!(stated[0], own);
        assert_eq!(effective_tolerations(&pod(vec![toleration("", "Exists", "", None)]), Duration::from_secs(300)).len(), 1);
    }

    #[test]
    fn eviction_is_immediate_timed_or_never() {
        let unreachable = (taint(UNREACHABLE, NO_EXECUTE), at(100));
        let soft = (taint(UNREACHABLE, "NoSchedule"), at(50));
        let defaults = effective_tolerations(&pod(vec![]), Duration::from_secs(5));
        assert_eq!(eviction_time(&defaults, std::slice::from_ref(&soft)), None, "NoSchedule never evicts");
        assert_eq!(eviction_time(&defaults, std::slice::from_ref(&unreachable)), Some(at(105)));
        let forever = vec![toleration(UNREACHABLE, "Exists", NO_EXECUTE, None)];
        assert_eq!(eviction_time(&forever, std::slice::from_ref(&unreachable)), None);
        let custom = (taint("maintenance", NO_EXECUTE), at(200));
        assert_eq!(eviction_time(&defaults, &[unreachable.clone(), custom]), Some(at(105)));
        let untolerated = (taint("maintenance", NO_EXECUTE), at(90));
        assert_eq!(eviction_time(&defaults, &[unreachable, untolerated]), Some(at(90)), "untolerated goes at once");
        let negative = vec![toleration(UNREACHABLE, "Exists", NO_EXECUTE, Some(-3))];
        assert_eq!(eviction_time(&negative, &[(taint(UNREACHABLE, NO_EXECUTE), at(7))]), Some(at(7)));
    }

    #[test]
    fn a_deleted_pod_is_forced_out_after_its_grace_period() {
        let mut p = pod(vec![]);
        assert_eq!(force_delete_time(&p), None);
        p.metadata.deletion_timestamp = Some(Time(at(100)));
        p.metadata.deletion_grace_period_seconds = Some(30);
        assert_eq!(force_delete_time(&p), Some(at(130)));
    }
}
