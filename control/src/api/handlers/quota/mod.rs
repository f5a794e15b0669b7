//! ResourceQuota and LimitRange admission. LimitRanges default and bound the
//! resources of a pod being created; ResourceQuotas refuse a create (or an
//! update that grows a Service or a claim) that would take its namespace
//! beyond `spec.hard`.
//!
//! Usage is counted from the store at admission time, not from
//! `status.used` (which the quota controller refreshes later), and the
//! count, the check and the store write happen under one lock: the caller
//! holds the returned guard until its create is stored, so two concurrent
//! creates can never both take the last unit of a quota.

mod limit_range;

use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use super::ApiState;
use crate::api::object;
use crate::api::resources::{self, ResourceType};
use crate::controllers::quota::format::canonical;
use crate::controllers::quota::usage::{self, Hard, ResourceList};
use crate::error::{ApiError, Target};

/// Serialises quota admission (count, check, store) in namespaces that have quotas.
#[derive(Default)]
pub struct QuotaGate {
    lock: Mutex<()>,
}

/// Held by a create until its object is stored (None: no quota applies).
pub type QuotaGuard<'a> = Option<MutexGuard<'a, ()>>;

fn store_err(e: crate::store::StoreError) -> ApiError {
    ApiError::from_store(e, Target::default())
}

/// Every object of `plural` (core group) in `ns`.
async fn list_core(state: &ApiState, plural: &str, ns: &str) -> Result<Vec<Value>, ApiError> {
    let rt = resources::lookup("", "v1", plural).expect("core kinds used by admission are served");
    list(state, rt, ns).await
}

async fn list(state: &ApiState, rt: &ResourceType, ns: &str) -> Result<Vec<Value>, ApiError> {
    let page = state.store.list(&rt.prefix_in(Some(ns)), None, None).await.map_err(store_err)?;
    Ok(page.items.iter().map(|o| (*o.value).clone()).collect())
}

fn forbidden(rt: &ResourceType, obj: &Value, message: &str) -> ApiError {
    let name = object::name(obj).unwrap_or_default();
    ApiError::Forbidden(format!("{} \"{name}\" is forbidden: {message}", rt.qualified()))
}

/// Admit the creation of `obj`: apply LimitRanges to pods, then check every
/// ResourceQuota of the namespace. Keep the guard until the object is stored.
pub async fn admit_create<'a>(state: &'a ApiState, rt: &ResourceType, obj: &mut Value) -> Result<QuotaGuard<'a>, ApiError> {
    if !rt.namespaced {
        return Ok(None);
    }
    let ns = object::namespace(obj).unwrap_or_default().to_string();
    if rt.group.is_empty() && matches!(rt.plural, "pods" | "persistentvolumeclaims") {
        let ranges = list_core(state, "limitranges", &ns).await?;
        let admitted = match rt.plural {
            _ if ranges.is_empty() => Ok(()),
            "pods" => limit_range::admit_pod(obj, &ranges),
            _ => limit_range::admit_claim(obj, &ranges),
        };
        admitted.map_err(|m| forbidden(rt, obj, &m))?;
    }
    if list_core(state, "resourcequotas", &ns).await?.is_empty() {
        return Ok(None);
    }
    let guard = state.quota.lock.lock().await;
    // Re-read under the lock: quotas and usage are both as of now.
    let quotas = list_core(state, "resourcequotas", &ns).await?;
    check_quotas(state, rt, &ns, obj, &quotas).await?;
    Ok(Some(guard))
}

/// Admit an update of `new` over `old`: only Services (type and ports) and
/// claims (storage requests) can grow their usage by an update; anything
/// else passes without taking the lock. Keep the guard until the update is stored.
pub async fn admit_update<'a>(state: &'a ApiState, rt: &ResourceType, old: &Value, new: &Value) -> Result<QuotaGuard<'a>, ApiError> {
    let may_grow = rt.group.is_empty() && matches!(rt.plural, "services" | "persistentvolumeclaims");
    if !may_grow {
        return Ok(None);
    }
    // The object's new usage, for what the update grows, against everything else's.
    let growth = usage::grown(&usage::usage(rt.group, rt.plural, old), &usage::usage(rt.group, rt.plural, new));
    let ns = object::namespace(new).unwrap_or_default().to_string();
    if growth.is_empty() || list_core(state, "resourcequotas", &ns).await?.is_empty() {
        return Ok(None);
    }
    let guard = state.quota.lock.lock().await;
    let quotas = list_core(state, "resourcequotas", &ns).await?;
    let name = object::name(new).unwrap_or_default();
    let others: Vec<Value> = list(state, rt, &ns).await?.into_iter().filter(|o| object::name(o) != Some(name)).collect();
    let mut current = ResourceList::new();
    for o in &others {
        usage::add(&mut current, &usage::usage(rt.group, rt.plural, o));
    }
    for hard in quotas.iter().map(Hard::of) {
        if let Some(message) = exceeded_message(&hard, &current, &growth) {
            return Err(forbidden(rt, new, &message));
        }
    }
    Ok(Some(guard))
}

/// Upstream's refusal when `used + requested` goes beyond `hard`, naming only the exceeded resources.
fn exceeded_message(hard: &Hard, used: &ResourceList, requested: &ResourceList) -> Option<String> {
    let over = usage::exceeded(&hard.amounts, used, requested);
    if over.is_empty() {
        return None;
    }
    let mask = |list: &ResourceList| -> ResourceList { over.iter().map(|k| (k.clone(), list.get(k).copied().unwrap_or_default())).collect() };
    Some(format!(
        "exceeded quota: {}, requested: {}, used: {}, limited: {}",
        hard.name,
        pretty(&mask(requested), hard),
        pretty(&mask(used), hard),
        pretty(&mask(&hard.amounts), hard)
    ))
}

/// `requests.memory=2Gi,pods=1`, upstream's rendering of a resource list.
fn pretty(list: &ResourceList, hard: &Hard) -> String {
    list.iter().map(|(k, q)| format!("{k}={}", canonical(*q, hard.binary(k)))).collect::<Vec<_>>().join(",")
}

async fn check_quotas(state: &ApiState, rt: &ResourceType, ns: &str, obj: &Value, quotas: &[Value]) -> Result<(), ApiError> {
    let requested = usage::usage(rt.group, rt.plural, obj);
    let is_pod = rt.group.is_empty() && rt.plural == "pods";
    let mut applicable: Vec<Hard> = quotas.iter().map(Hard::of).filter(|h| usage::in_scope(&h.scopes, rt.group, rt.plural, obj)).collect();
    applicable.sort_by(|a, b| a.name.cmp(&b.name));
    if is_pod {
        for hard in &applicable {
            if let Some(missing) = usage::missing_statements(&hard.amounts, obj) {
                return Err(forbidden(rt, obj, &format!("failed quota: {}: {missing}", hard.name)));
            }
        }
    }
    applicable.retain(|h| requested.keys().any(|k| h.amounts.contains_key(k)));
    if applicable.is_empty() {
        return Ok(());
    }
    let existing = list(state, rt, ns).await?;
    for hard in &applicable {
        let mut used = ResourceList::new();
        for other in existing.iter().filter(|o| usage::in_scope(&hard.scopes, rt.group, rt.plural, o)) {
            usage::add(&mut used, &usage::usage(rt.group, rt.plural, other));
        }
        if let Some(message) = exceeded_message(hard, &used, &requested) {
            return Err(forbidden(rt, obj, &message));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::api::validation::quantity::Quantity;

    #[test]
    fn resource_lists_print_like_upstream() {
        let quota = json!({"metadata": {"name": "compute"}, "spec": {"hard": {"requests.memory": "2Gi", "pods": 2, "requests.cpu": "1"}}});
        let hard = Hard::of(&quota);
        assert_eq!(hard.amounts.len(), 3);
        let list = ResourceList::from([
            ("requests.memory".to_string(), Quantity::parse("1536Mi").unwrap()),
            ("requests.cpu".to_string(), Quantity::parse("0.5").unwrap()),
        ]);
        assert_eq!(pretty(&list, &hard), "requests.cpu=500m,requests.memory=1536Mi");
    }
}
