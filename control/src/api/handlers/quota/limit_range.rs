//! LimitRange admission (upstream's LimitRanger): a pod's containers get the
//! default requests and limits they do not state, then every container
//! (type Container) and the pod as a whole (type Pod) must respect min, max
//! and maxLimitRequestRatio; a claim's storage request must respect its
//! min and max (type PersistentVolumeClaim). Pure functions over JSON.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::api::validation::qos_class;
use crate::api::validation::quantity::Quantity;
use crate::controllers::quota::format::{canonical, canonical_str, is_binary};

/// The annotation recording what LimitRanger filled in.
const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// Resource name → the quantity as written.
type Written = BTreeMap<String, String>;

/// One `spec.limits[]` entry of a LimitRange.
#[derive(Debug, Default)]
struct Item {
    kind: String,
    min: Written,
    max: Written,
    default: Written,
    default_request: Written,
    ratio: Written,
}

fn written(v: Option<&Value>) -> Written {
    let Some(map) = v.and_then(Value::as_object) else { return Written::new() };
    map.iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Number(n) => Some((k.clone(), n.to_string())),
            _ => None,
        })
        .collect()
}

/// The items of a LimitRange, with upstream's defaulting of Container
/// items: no default limit → the max; no default request → the default
/// limit, else the min.
fn items(range: &Value) -> Vec<Item> {
    let list = range.pointer("/spec/limits").and_then(Value::as_array).into_iter().flatten();
    list.map(|raw| {
        let mut item = Item {
            kind: raw.get("type").and_then(Value::as_str).unwrap_or_default().to_string(),
            min: written(raw.get("min")),
            max: written(raw.get("max")),
            default: written(raw.get("default")),
            default_request: written(raw.get("defaultRequest")),
            ratio: written(raw.get("maxLimitRequestRatio")),
        };
        if item.kind == "Container" {
            for (k, v) in &item.max {
                item.default.entry(k.clone()).or_insert_with(|| v.clone());
            }
            for (k, v) in item.default.iter().chain(item.min.iter()) {
                item.default_request.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        item
    })
    .collect()
}

fn containers_mut(pod: &mut Value) -> Vec<(&'static str, &mut Map<String, Value>)> {
    let mut main = Vec::new();
    let mut init = Vec::new();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else { return main };
    for (key, list) in spec.iter_mut() {
        let (into, label) = match key.as_str() {
            "containers" => (&mut main, "container"),
            "initContainers" => (&mut init, "init container"),
            _ => continue,
        };
        into.extend(list.as_array_mut().into_iter().flatten().filter_map(Value::as_object_mut).map(|c| (label, c)));
    }
    // Upstream looks at the app containers first.
    main.extend(init);
    main
}

/// Fill `which` (requests/limits) of a container from `defaults`; returns the names set.
fn fill(container: &mut Map<String, Value>, which: &str, defaults: &Written) -> Vec<String> {
    if defaults.is_empty() {
        return Vec::new();
    }
    let resources = container.entry("resources").or_insert_with(|| json!({}));
    if !resources.is_object() {
        *resources = json!({});
    }
    let list = &mut resources[which];
    if !list.is_object() {
        *list = json!({});
    }
    let Some(list) = list.as_object_mut() else { return Vec::new() };
    let mut set = Vec::new();
    for (k, v) in defaults {
        if !list.contains_key(k) {
            list.insert(k.clone(), json!(canonical_str(v)));
            set.push(k.clone());
        }
    }
    set
}

/// Apply one LimitRange's container defaults; returns the annotation parts.
fn apply_defaults(pod: &mut Value, items: &[Item]) -> Vec<String> {
    let mut requests = Written::new();
    let mut limits = Written::new();
    for item in items.iter().filter(|i| i.kind == "Container") {
        requests.extend(item.default_request.clone());
        limits.extend(item.default.clone());
    }
    let mut notes = Vec::new();
    for (label, c) in containers_mut(pod) {
        let name = c.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let set_requests = fill(c, "requests", &requests);
        let set_limits = fill(c, "limits", &limits);
        if !set_requests.is_empty() {
            notes.push(format!("{} request for {label} {name}", set_requests.join(", ")));
        }
        if !set_limits.is_empty() {
            notes.push(format!("{} limit for {label} {name}", set_limits.join(", ")));
        }
    }
    notes
}

/// The request and the limit (as written) of a resource, by name.
type Stated<'a> = &'a dyn Fn(&str) -> (Option<String>, Option<String>);

/// Check one item's min, max and maxLimitRequestRatio; `kind` is `Container` or `Pod`.
fn check(kind: &str, item: &Item, observed: Stated<'_>, errors: &mut Vec<String>) {
    let parse = |s: &Option<String>| s.as_deref().and_then(|w| Quantity::parse(w).ok().map(|q| (q, w.to_string())));
    let get = |r: &str| {
        let (req, lim) = observed(r);
        (parse(&req), parse(&lim))
    };
    for (r, enforced) in &item.min {
        let Ok(e) = Quantity::parse(enforced) else { continue };
        let shown = canonical_str(enforced);
        match get(r) {
            (None, _) => errors.push(format!("minimum {r} usage per {kind} is {shown}.  No request is specified")),
            (Some((q, w)), _) if q < e => errors.push(format!("minimum {r} usage per {kind} is {shown}, but request is {}", canonical_str(&w))),
            (_, Some((q, w))) if q < e => errors.push(format!("minimum {r} usage per {kind} is {shown}, but limit is {}", canonical_str(&w))),
            _ => {}
        }
    }
    for (r, enforced) in &item.max {
        let Ok(e) = Quantity::parse(enforced) else { continue };
        let shown = canonical_str(enforced);
        match get(r) {
            (_, None) => errors.push(format!("maximum {r} usage per {kind} is {shown}.  No limit is specified")),
            (_, Some((q, w))) if q > e => errors.push(format!("maximum {r} usage per {kind} is {shown}, but limit is {}", canonical_str(&w))),
            (Some((q, w)), _) if q > e => errors.push(format!("maximum {r} usage per {kind} is {shown}, but request is {}", canonical_str(&w))),
            _ => {}
        }
    }
    for (r, enforced) in &item.ratio {
        let Ok(e) = Quantity::parse(enforced) else { continue };
        let shown = canonical_str(enforced);
        let prefix = format!("{r} max limit to request ratio per {kind} is {shown}");
        match get(r) {
            (None, _) => errors.push(format!("{prefix}, but no request is specified or request is 0")),
            (Some((q, _)), _) if q.is_zero() => errors.push(format!("{prefix}, but no request is specified or request is 0")),
            (_, None) => errors.push(format!("{prefix}, but no limit is specified or limit is 0")),
            (_, Some((q, _))) if q.is_zero() => errors.push(format!("{prefix}, but no limit is specified or limit is 0")),
            (Some((req, _)), Some((lim, _))) => {
                let ratio = lim.milli_value() as f64 / req.milli_value() as f64;
                if ratio * 1000.0 > e.milli_value() as f64 {
                    errors.push(format!("{prefix}, but provided ratio is {ratio:.6}"));
                }
            }
        }
    }
}

fn stated(c: &Value, which: &str, r: &str) -> Option<String> {
    match c.pointer(&format!("/resources/{which}/{r}"))? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The pod's total request or limit of `r`: the containers' sum, or the
/// largest init container where that is more; written in the family of `like`.
fn pod_total(pod: &Value, which: &str, r: &str, like: &str) -> Option<String> {
    let amounts = |list: &str| -> Vec<Quantity> {
        let cs = pod.pointer(&format!("/spec/{list}")).and_then(Value::as_array).into_iter().flatten();
        cs.filter_map(|c| stated(c, which, r)).filter_map(|w| Quantity::parse(&w).ok()).collect()
    };
    let main = amounts("containers");
    let init = amounts("initContainers");
    if main.is_empty() && init.is_empty() {
        return None;
    }
    let sum: Quantity = main.into_iter().sum();
    let total = init.into_iter().fold(sum, |acc, q| if q > acc { q } else { acc });
    Some(canonical(total, is_binary(like)))
}

/// Upstream's aggregate error text: one message as is, several in brackets.
fn aggregate(mut errors: Vec<String>) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert(e.clone()));
    match errors.len() {
        0 => None,
        1 => errors.pop(),
        _ => Some(format!("[{}]", errors.join(", "))),
    }
}

/// Apply every LimitRange of the namespace to a pod being created: defaults
/// first (recorded in the `kubernetes.io/limit-ranger` annotation and the
/// QoS class), then the limits. The error is the message for a 403.
pub fn admit_pod(pod: &mut Value, ranges: &[Value]) -> Result<(), String> {
    let parsed: Vec<Vec<Item>> = ranges.iter().map(items).collect();
    let mut notes = Vec::new();
    for items in &parsed {
        notes.extend(apply_defaults(pod, items));
    }
    if !notes.is_empty() {
        let meta = crate::api::object::meta_mut(pod);
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[ANNOTATION] = json!(format!("LimitRanger plugin set: {}", notes.join("; ")));
        if pod.get("status").is_some_and(Value::is_object) {
            pod["status"]["qosClass"] = json!(qos_class(&pod["spec"]));
        }
    }
    let mut errors = Vec::new();
    for item in parsed.iter().flatten() {
        match item.kind.as_str() {
            "Container" => {
                for list in ["containers", "initContainers"] {
                    for c in pod.pointer(&format!("/spec/{list}")).and_then(Value::as_array).into_iter().flatten() {
                        check("Container", item, &|r| (stated(c, "requests", r), stated(c, "limits", r)), &mut errors);
                    }
                }
            }
            "Pod" => {
                let like = |r: &str| item.max.get(r).or(item.min.get(r)).cloned().unwrap_or_default();
                check("Pod", item, &|r| (pod_total(pod, "requests", r, &like(r)), pod_total(pod, "limits", r, &like(r))), &mut errors);
            }
            _ => {}
        }
    }
    aggregate(errors).map_or(Ok(()), Err)
}

/// Apply every LimitRange of the namespace to a claim being created: its
/// storage request must lie within the PersistentVolumeClaim items' min and max.
pub fn admit_claim(pvc: &Value, ranges: &[Value]) -> Result<(), String> {
    let requested = |r: &str| match pvc.pointer(&format!("/spec/resources/requests/{r}")) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut errors = Vec::new();
    for item in ranges.iter().flat_map(items).filter(|i| i.kind == "PersistentVolumeClaim") {
        // Upstream weighs a claim's max against what it requests (claims state no limits).
        let bounds = Item { kind: item.kind.clone(), min: item.min.clone(), ..Item::default() };
        check("PersistentVolumeClaim", &bounds, &|r| (requested(r), None), &mut errors);
        for (r, enforced) in &item.max {
            let Ok(e) = Quantity::parse(enforced) else { continue };
            let shown = canonical_str(enforced);
            match requested(r) {
                None => errors.push(format!("maximum {r} usage per PersistentVolumeClaim is {shown}.  No request is specified")),
                Some(w) if Quantity::parse(&w).is_ok_and(|q| q > e) => {
                    errors.push(format!("maximum {r} usage per PersistentVolumeClaim is {shown}, but request is {}", canonical_str(&w)))
                }
                Some(_) => {}
            }
        }
    }
    aggregate(errors).map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(limits: Value) -> Value {
        json!({"spec": {"limits": limits}})
    }

    fn pod(resources: Value) -> Value {
        json!({"metadata": {"name": "x"}, "spec": {"containers": [{"name": "app", "resources": resources}]}, "status": {"phase": "Pending", "qosClass": "BestEffort"}})
    }

    #[test]
    fn defaults_fill_only_what_is_missing_and_are_recorded() {
        let lr = range(json!([{"type": "Container", "default": {"memory": "512Mi", "cpu": "500m"}, "defaultRequest": {"memory": "256Mi"}}]));
        let mut p = pod(json!({"requests": {"cpu": "100m"}}));
        admit_pod(&mut p, &[lr]).unwrap();
        let r = &p["spec"]["containers"][0]["resources"];
        assert_eq!(r["limits"], json!({"cpu": "500m", "memory": "512Mi"}));
        // cpu's default request comes from the default limit, but the stated one wins.
        assert_eq!(r["requests"], json!({"cpu": "100m", "memory": "256Mi"}));
        assert_eq!(
            p["metadata"]["annotations"][ANNOTATION],
            "LimitRanger plugin set: memory request for container app; cpu, memory limit for container app"
        );
        assert_eq!(p["status"]["qosClass"], "Burstable");
    }

    #[test]
    fn max_defaults_the_limit_and_violations_use_upstream_words() {
        let lr = range(json!([{"type": "Container", "max": {"memory": "512Mi"}, "min": {"cpu": "100m"}}]));
        let mut ok = pod(json!({}));
        admit_pod(&mut ok, std::slice::from_ref(&lr)).unwrap();
        assert_eq!(ok["spec"]["containers"][0]["resources"]["limits"]["memory"], "512Mi");
        assert_eq!(ok["spec"]["containers"][0]["resources"]["requests"]["cpu"], "100m");

        let mut big = pod(json!({"limits": {"memory": "1Gi"}, "requests": {"cpu": "50m"}}));
        let err = admit_pod(&mut big, &[lr]).unwrap_err();
        assert_eq!(
            err,
            "[minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 512Mi, but limit is 1Gi]"
        );
    }

    #[test]
    fn claims_must_request_within_min_and_max() {
        let lr = range(json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]));
        let claim = |size: &str| json!({"spec": {"resources": {"requests": {"storage": size}}}});
        assert!(admit_claim(&claim("5Gi"), std::slice::from_ref(&lr)).is_ok());
        assert_eq!(
            admit_claim(&claim("20Gi"), std::slice::from_ref(&lr)).unwrap_err(),
            "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"
        );
        assert_eq!(admit_claim(&claim("512Mi"), &[lr]).unwrap_err(), "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 512Mi");
    }

    #[test]
    fn ratio_and_pod_totals() {
        let lr = range(json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]));
        let mut p = pod(json!({"requests": {"cpu": "100m"}, "limits": {"cpu": "500m"}}));
        assert_eq!(admit_pod(&mut p, &[lr]).unwrap_err(), "cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000");

        let lr = range(json!([{"type": "Pod", "max": {"memory": "1Gi"}}]));
        let mut p = json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"memory": "768Mi"}}},
            {"name": "b", "resources": {"limits": {"memory": "512Mi"}}}
        ]}});
        assert_eq!(admit_pod(&mut p, &[lr]).unwrap_err(), "maximum memory usage per Pod is 1Gi, but limit is 1280Mi");
    }
}
