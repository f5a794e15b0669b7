//! `spec.updateStrategy`: OnDelete, or RollingUpdate with `maxUnavailable`
//! (a count or a percentage of the desired nodes, rounded up, at least 1 as
//! `maxSurge` is 0).

use k8s_openapi::api::apps::v1::DaemonSetSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::plan::Strategy;

pub fn of(spec: &DaemonSetSpec, desired: usize) -> Strategy {
    let update = spec.update_strategy.as_ref();
    if update.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
        return Strategy::OnDelete;
    }
    let max = update.and_then(|u| u.rolling_update.as_ref()).and_then(|r| r.max_unavailable.as_ref());
    let max_unavailable = match max {
        None => 1,
        Some(IntOrString::Int(n)) => (*n).max(0) as usize,
        Some(IntOrString::String(text)) => percent_of(text, desired).unwrap_or(1),
    };
    Strategy::RollingUpdate { max_unavailable: max_unavailable.max(1) }
}

/// `"25%"` of `total`, rounded up.
fn percent_of(text: &str, total: usize) -> Option<usize> {
    let percent: usize = text.strip_suffix('%')?.trim().parse().ok()?;
    Some((percent * total).div_ceil(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{DaemonSetUpdateStrategy, RollingUpdateDaemonSet};

    fn spec(kind: &str, max: Option<IntOrString>) -> DaemonSetSpec {
        DaemonSetSpec {
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some(kind.into()),
                rolling_update: Some(RollingUpdateDaemonSet { max_unavailable: max, max_surge: None }),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn resolves_counts_and_percentages() {
        assert_eq!(of(&DaemonSetSpec::default(), 5), Strategy::RollingUpdate { max_unavailable: 1 });
        assert_eq!(of(&spec("RollingUpdate", Some(IntOrString::Int(2))), 5), Strategy::RollingUpdate { max_unavailable: 2 });
        assert_eq!(of(&spec("RollingUpdate", Some(IntOrString::String("30%".into()))), 5), Strategy::RollingUpdate { max_unavailable: 2 });
        assert_eq!(of(&spec("RollingUpdate", Some(IntOrString::String("0%".into()))), 5), Strategy::RollingUpdate { max_unavailable: 1 });
        assert_eq!(of(&spec("OnDelete", None), 5), Strategy::OnDelete);
    }
}
