//! What an object counts against a ResourceQuota (upstream's quota
//! evaluators), shared by the API server's admission check and the quota
//! controller that keeps `status.used` current. Pure functions over JSON.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::api::validation::quantity::Quantity;
use crate::api::validation::qos_class;

/// Resource name → amount.
pub type ResourceList = BTreeMap<String, Quantity>;

/// A quota's `spec.hard`, parsed, with the written forms (for their suffix
/// family) and its scopes.
pub struct Hard {
    pub name: String,
    pub amounts: ResourceList,
    pub written: BTreeMap<String, String>,
    pub scopes: Vec<String>,
}

impl Hard {
    pub fn of(quota: &Value) -> Hard {
        let mut amounts = ResourceList::new();
        let mut written = BTreeMap::new();
        for (k, v) in quota.pointer("/spec/hard").and_then(Value::as_object).into_iter().flatten() {
            if let Ok(q) = Quantity::from_json(v) {
                amounts.insert(k.clone(), q);
                written.insert(k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            }
        }
        let scopes = quota.pointer("/spec/scopes").and_then(Value::as_array).into_iter().flatten();
        Hard {
            name: quota.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string(),
            amounts,
            written,
            scopes: scopes.filter_map(Value::as_str).map(str::to_string).collect(),
        }
    }

    /// Whether `resource`'s limit was written with a binary suffix.
    pub fn binary(&self, resource: &str) -> bool {
        self.written.get(resource).is_some_and(|w| super::format::is_binary(w))
    }
}

/// Compute resources a pod states per container, counted under both the
/// plain and the `requests.` name (`cpu` and `requests.cpu` are the same).
const COMPUTE: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];

/// Resource names whose quota obliges every container to state them.
const MUST_STATE: [&str; 6] = ["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];

/// The plural and group an object-count name `count/<plural>.<group>` counts.
pub fn count_target(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("count/")?;
    Some(rest.split_once('.').unwrap_or((rest, "")))
}

/// The `count/` name of a kind (`count/pods`, `count/deployments.apps`).
pub fn count_name(group: &str, plural: &str) -> String {
    if group.is_empty() { format!("count/{plural}") } else { format!("count/{plural}.{group}") }
}

/// The legacy count names upstream keeps for a few core kinds.
fn legacy_count(group: &str, plural: &str) -> Option<&'static str> {
    if !group.is_empty() {
        return None;
    }
    ["pods", "services", "configmaps", "secrets", "persistentvolumeclaims", "replicationcontrollers", "resourcequotas"]
        .into_iter()
        .find(|p| *p == plural)
}

/// Which kind (group, plural) a quota'd resource name is counted from.
pub fn counted_kind(name: &str) -> Option<(String, String)> {
    if let Some((plural, group)) = count_target(name) {
        return Some((group.to_string(), plural.to_string()));
    }
    let core = |p: &str| Some((String::new(), p.to_string()));
    match name {
        "pods" | "cpu" | "memory" | "ephemeral-storage" => core("pods"),
        n if n.starts_with("requests.") && n != "requests.storage" || n.starts_with("limits.") => core("pods"),
        "services" | "services.nodeports" | "services.loadbalancers" => core("services"),
        "persistentvolumeclaims" | "requests.storage" => core("persistentvolumeclaims"),
        n if n.contains(".storageclass.storage.k8s.io/") => core("persistentvolumeclaims"),
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => core(name),
        _ => None,
    }
}

/// A pod that has finished (or whose grace has run out) no longer holds compute resources.
pub fn is_terminal(pod: &Value) -> bool {
    matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

fn quantities(list: Option<&Value>) -> ResourceList {
    let Some(map) = list.and_then(Value::as_object) else { return ResourceList::new() };
    map.iter().filter_map(|(k, v)| Quantity::from_json(v).ok().map(|q| (k.clone(), q))).collect()
}

fn containers<'a>(spec: &'a Value, list: &str) -> impl Iterator<Item = &'a Value> {
    spec.get(list).and_then(Value::as_array).into_iter().flatten()
}

/// A pod's effective requests or limits (`which`): the sum over its
/// containers, or the largest init container where that is more.
fn pod_totals(spec: &Value, which: &str) -> ResourceList {
    let mut total = ResourceList::new();
    for c in containers(spec, "containers") {
        for (k, q) in quantities(c.pointer(&format!("/resources/{which}"))) {
            let sum = total.get(&k).copied().unwrap_or_default() + q;
            total.insert(k, sum);
        }
    }
    for c in containers(spec, "initContainers") {
        for (k, q) in quantities(c.pointer(&format!("/resources/{which}"))) {
            if total.get(&k).is_none_or(|t| q > *t) {
                total.insert(k, q);
            }
        }
    }
    total
}

/// What given requests and limits count as (upstream's podComputeUsageHelper).
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    for (k, q) in requests {
        if COMPUTE.contains(&k.as_str()) {
            out.insert(k.clone(), *q);
        }
        if COMPUTE.contains(&k.as_str()) || k.contains('/') {
            out.insert(format!("requests.{k}"), *q);
        }
    }
    for (k, q) in limits {
        if COMPUTE.contains(&k.as_str()) {
            out.insert(format!("limits.{k}"), *q);
        }
    }
    out
}

fn pod_usage(pod: &Value) -> ResourceList {
    let mut out = ResourceList::from([("count/pods".to_string(), Quantity::from_units(1))]);
    if is_terminal(pod) {
        return out;
    }
    out.insert("pods".into(), Quantity::from_units(1));
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    out.extend(compute_usage(&pod_totals(spec, "requests"), &pod_totals(spec, "limits")));
    out
}

fn service_usage(svc: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    let kind = svc.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
    if kind == "LoadBalancer" {
        out.insert("services.loadbalancers".into(), Quantity::from_units(1));
    }
    if kind == "NodePort" || kind == "LoadBalancer" {
        let ports = svc.pointer("/spec/ports").and_then(Value::as_array).map_or(0, Vec::len);
        out.insert("services.nodeports".into(), Quantity::from_units(ports as i64));
    }
    out
}

fn claim_usage(pvc: &Value) -> ResourceList {
    let mut out = ResourceList::new();
    let class = pvc.pointer("/spec/storageClassName").and_then(Value::as_str).filter(|c| !c.is_empty());
    if let Some(class) = class {
        out.insert(format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"), Quantity::from_units(1));
    }
    if let Some(q) = pvc.pointer("/spec/resources/requests/storage").and_then(|q| Quantity::from_json(q).ok()) {
        out.insert("requests.storage".into(), q);
        if let Some(class) = class {
            out.insert(format!("{class}.storageclass.storage.k8s.io/requests.storage"), q);
        }
    }
    out
}

/// Everything one object of kind (`group`, `plural`) counts against a quota.
pub fn usage(group: &str, plural: &str, obj: &Value) -> ResourceList {
    let mut out = match (group, plural) {
        ("", "pods") => pod_usage(obj),
        ("", "services") => service_usage(obj),
        ("", "persistentvolumeclaims") => claim_usage(obj),
        _ => ResourceList::new(),
    };
    out.insert(count_name(group, plural), Quantity::from_units(1));
    // A terminal pod no longer counts as one of the `pods`.
    let counts_as_legacy = !(group.is_empty() && plural == "pods" && is_terminal(obj));
    if let Some(legacy) = legacy_count(group, plural).filter(|_| counts_as_legacy) {
        out.insert(legacy.to_string(), Quantity::from_units(1));
    }
    out
}

/// Whether a quota with these `spec.scopes` applies to `obj` (scopes only ever select pods).
pub fn in_scope(scopes: &[String], group: &str, plural: &str, obj: &Value) -> bool {
    if scopes.is_empty() {
        return true;
    }
    if !(group.is_empty() && plural == "pods") {
        return false;
    }
    let spec = obj.get("spec").unwrap_or(&Value::Null);
    let terminating = spec.get("activeDeadlineSeconds").is_some_and(|d| !d.is_null());
    let best_effort = qos_class(spec) == "BestEffort";
    scopes.iter().all(|s| match s.as_str() {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort,
        "NotBestEffort" => !best_effort,
        _ => false,
    })
}

/// Upstream's pod constraint: with a quota on cpu or memory, every container
/// must state that request or limit. The message lists each missing name
/// with the containers lacking it (`limits.cpu for: app; requests.memory for: app,side`).
pub fn missing_statements(hard: &ResourceList, pod: &Value) -> Option<String> {
    let required: Vec<&str> = MUST_STATE.iter().copied().filter(|r| hard.contains_key(*r)).collect();
    if required.is_empty() {
        return None;
    }
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut missing: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in containers(spec, "containers").chain(containers(spec, "initContainers")) {
        let stated = compute_usage(&quantities(c.pointer("/resources/requests")), &quantities(c.pointer("/resources/limits")));
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        for r in required.iter().filter(|r| !stated.contains_key(**r)) {
            missing.entry(r).or_default().push(name.clone());
        }
    }
    if missing.is_empty() {
        return None;
    }
    let parts: Vec<String> = missing
        .into_iter()
        .map(|(r, mut names)| {
            names.sort();
            names.dedup();
            format!("{r} for: {}", names.join(","))
        })
        .collect();
    Some(format!("must specify {}", parts.join("; ")))
}

/// The names in `hard` that `used + requested` would exceed.
pub fn exceeded(hard: &ResourceList, used: &ResourceList, requested: &ResourceList) -> Vec<String> {
    requested
        .iter()
        .filter_map(|(name, q)| {
            let limit = hard.get(name)?;
            let total = used.get(name).copied().unwrap_or_default() + *q;
            (total > *limit).then(|| name.clone())
        })
        .collect()
}

/// The part of `new` that is more than `old` uses: the resources an update
/// grows, with their new amounts.
pub fn grown(old: &ResourceList, new: &ResourceList) -> ResourceList {
    new.iter().filter(|(k, q)| old.get(*k).is_none_or(|o| *q > o)).map(|(k, q)| (k.clone(), *q)).collect()
}

/// Sum of usages.
pub fn add(into: &mut ResourceList, more: &ResourceList) {
    for (k, q) in more {
        let sum = into.get(k).copied().unwrap_or_default() + *q;
        into.insert(k.clone(), sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    fn pod(containers: Value) -> Value {
        json!({"spec": {"containers": containers}, "status": {"phase": "Running"}})
    }

    #[test]
    fn pod_usage_sums_containers_and_takes_the_larger_init_container() {
        let mut p = pod(json!([
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "250m"}}}
        ]));
        p["spec"]["initContainers"] = json!([{"name": "init", "resources": {"requests": {"cpu": "2"}}}]);
        let u = usage("", "pods", &p);
        assert_eq!(u["pods"], q("1"));
        assert_eq!(u["count/pods"], q("1"));
        assert_eq!(u["requests.cpu"], q("2"));
        assert_eq!(u["cpu"], q("2"));
        assert_eq!(u["requests.memory"], q("64Mi"));
        assert_eq!(u["limits.memory"], q("128Mi"));
        assert!(!u.contains_key("limits.cpu"));
    }

    #[test]
    fn terminal_pods_hold_nothing_but_their_object_count() {
        let mut p = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "1"}}}]));
        p["status"]["phase"] = json!("Succeeded");
        let u = usage("", "pods", &p);
        assert_eq!(u.keys().collect::<Vec<_>>(), vec!["count/pods"]);
    }

    #[test]
    fn services_and_claims_and_counts() {
        let svc = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}});
        let u = usage("", "services", &svc);
        assert_eq!((u["services"], u["services.nodeports"], u["count/services"]), (q("1"), q("2"), q("1")));
        let pvc = json!({"spec": {"storageClassName": "local", "resources": {"requests": {"storage": "1Gi"}}}});
        let u = usage("", "persistentvolumeclaims", &pvc);
        assert_eq!(u["requests.storage"], q("1Gi"));
        assert_eq!(u["local.storageclass.storage.k8s.io/requests.storage"], q("1Gi"));
        assert_eq!(usage("apps", "deployments", &json!({}))["count/deployments.apps"], q("1"));
        assert_eq!(counted_kind("count/deployments.apps"), Some(("apps".into(), "deployments".into())));
        assert_eq!(counted_kind("limits.memory"), Some(("".into(), "pods".into())));
        assert_eq!(counted_kind("requests.storage"), Some(("".into(), "persistentvolumeclaims".into())));
    }

    #[test]
    fn exceeding_and_missing_statements() {
        let hard = ResourceList::from([("requests.memory".into(), q("2Gi")), ("limits.cpu".into(), q("1"))]);
        let used = ResourceList::from([("requests.memory".into(), q("1Gi"))]);
        let asked = ResourceList::from([("requests.memory".into(), q("1Gi")), ("pods".into(), q("1"))]);
        assert!(exceeded(&hard, &used, &asked).is_empty(), "exactly at the limit is allowed");
        let before = ResourceList::from([("services.nodeports".into(), q("1")), ("services".into(), q("1"))]);
        let after = ResourceList::from([("services.nodeports".into(), q("2")), ("services".into(), q("1"))]);
        assert_eq!(grown(&before, &after), ResourceList::from([("services.nodeports".into(), q("2"))]));
        let more = ResourceList::from([("requests.memory".into(), q("1025Mi"))]);
        assert_eq!(exceeded(&hard, &used, &more), vec!["requests.memory".to_string()]);

        let p = pod(json!([
            {"name": "app", "resources": {"requests": {"memory": "1Gi"}}},
            {"name": "side", "resources": {}}
        ]));
        assert_eq!(
            missing_statements(&hard, &p).unwrap(),
            "must specify limits.cpu for: app,side; requests.memory for: side"
        );
    }

    #[test]
    fn scopes_select_pods_by_qos_and_deadline() {
        let best_effort = pod(json!([{"name": "a"}]));
        let burstable = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "1"}}}]));
        assert!(in_scope(&["BestEffort".into()], "", "pods", &best_effort));
        assert!(!in_scope(&["BestEffort".into()], "", "pods", &burstable));
        assert!(in_scope(&["NotTerminating".into(), "NotBestEffort".into()], "", "pods", &burstable));
        assert!(!in_scope(&["BestEffort".into()], "", "configmaps", &json!({})));
        assert!(in_scope(&[], "", "configmaps", &json!({})));
    }
}
