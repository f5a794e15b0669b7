//! maxSurge / maxUnavailable: ints or percents of the desired replicas,
//! rounded as upstream (surge up, unavailable down), never both zero.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::controllers::ControllerError;

/// The API's default for both when unset.
const DEFAULT_PERCENT: &str = "25%";

/// `value` resolved against `total`: an int as is, `"N%"` as N% of total rounded as asked.
pub fn scaled_value(value: &IntOrString, total: i32, round_up: bool) -> Result<i32, ControllerError> {
    match value {
        IntOrString::Int(n) => Ok(*n),
        IntOrString::String(s) => {
            let invalid = || ControllerError::Invalid(format!("invalid value {s:?}: want an integer or a percentage"));
            match s.strip_suffix('%') {
                Some(percent) => {
                    let percent: i64 = percent.parse().map_err(|_| invalid())?;
                    let scaled = percent * i64::from(total);
                    let value = if round_up { (scaled + 99).div_euclid(100) } else { scaled.div_euclid(100) };
                    i32::try_from(value).map_err(|_| invalid())
                }
                None => s.parse().map_err(|_| invalid()),
            }
        }
    }
}

/// (maxSurge, maxUnavailable) in pods for `replicas`; if both come to zero,
/// one pod may be unavailable, else no rollout could ever make progress.
pub fn resolve_fenceposts(max_surge: Option<&IntOrString>, max_unavailable: Option<&IntOrString>, replicas: i32) -> Result<(i32, i32), ControllerError> {
    let default = IntOrString::String(DEFAULT_PERCENT.into());
    let surge = scaled_value(max_surge.unwrap_or(&default), replicas, true)?.max(0);
    let unavailable = scaled_value(max_unavailable.unwrap_or(&default), replicas, false)?.max(0);
    if surge == 0 && unavailable == 0 {
        return Ok((0, 1));
    }
    Ok((surge, unavailable))
}

/// `spec.replicas` (1 when unset, the API default).
pub fn desired_replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// Whether the strategy is Recreate (anything else rolls).
pub fn is_recreate(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()) == Some("Recreate")
}

fn fenceposts(d: &Deployment) -> Result<(i32, i32), ControllerError> {
    let rolling = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    resolve_fenceposts(rolling.and_then(|r| r.max_surge.as_ref()), rolling.and_then(|r| r.max_unavailable.as_ref()), desired_replicas(d))
}

/// Pods allowed above the desired count (0 for Recreate).
pub fn max_surge(d: &Deployment) -> Result<i32, ControllerError> {
    if is_recreate(d) {
        return Ok(0);
    }
    Ok(fenceposts(d)?.0)
}

/// Pods allowed below the desired count, at most the desired count (0 for Recreate).
pub fn max_unavailable(d: &Deployment) -> Result<i32, ControllerError> {
    let replicas = desired_replicas(d);
    if is_recreate(d) || replicas == 0 {
        return Ok(0);
    }
    Ok(fenceposts(d)?.1.min(replicas))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pct(s: &str) -> IntOrString {
        IntOrString::String(s.into())
    }

    #[test]
    fn percents_round_surge_up_and_unavailable_down() {
        assert_eq!(scaled_value(&pct("25%"), 3, true).ok(), Some(1));
        assert_eq!(scaled_value(&pct("25%"), 3, false).ok(), Some(0));
        assert_eq!(scaled_value(&pct("25%"), 10, true).ok(), Some(3));
        assert_eq!(scaled_value(&pct("25%"), 10, false).ok(), Some(2));
        assert_eq!(scaled_value(&pct("100%"), 7, false).ok(), Some(7));
        assert_eq!(scaled_value(&IntOrString::Int(2), 100, true).ok(), Some(2));
        assert_eq!(scaled_value(&pct("3"), 100, true).ok(), Some(3), "a bare number in a string");
        assert!(scaled_value(&pct("many%"), 3, true).is_err());
        assert!(scaled_value(&pct("x"), 3, true).is_err());
    }

    #[test]
    fn fenceposts_default_and_never_both_zero() {
        assert_eq!(resolve_fenceposts(None, None, 3).ok(), Some((1, 0)));
        assert_eq!(resolve_fenceposts(None, None, 100).ok(), Some((25, 25)));
        assert_eq!(resolve_fenceposts(Some(&IntOrString::Int(0)), Some(&IntOrString::Int(0)), 5).ok(), Some((0, 1)));
        assert_eq!(resolve_fenceposts(Some(&pct("0%")), Some(&pct("10%")), 5).ok(), Some((0, 1)), "10% of 5 rounds down to 0");
        assert_eq!(resolve_fenceposts(Some(&IntOrString::Int(2)), Some(&IntOrString::Int(1)), 0).ok(), Some((2, 1)));
    }
}
