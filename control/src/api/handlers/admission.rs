//! Checks and server-side changes that need the rest of the cluster's state:
//! the namespace must exist and not be terminating; Services get a ClusterIP
//! and NodePorts; pods are bound to nodes; claims get the default StorageClass
//! and Ingresses the default IngressClass.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::read::{fetch, target};
use super::{body, ApiState, Ctx};
use crate::api::object;
use crate::api::path::ResourceRef;
use crate::api::resources::{self, ResourceType};
use crate::api::response;
use crate::error::{ApiError, FieldError, Target};

/// The service CIDR (10.43.0.0/16): .1 is the `kubernetes` Service, .10 the
/// cluster DNS, so allocation starts above them.
const SERVICE_NET: [u8; 2] = [10, 43];
const FIRST_DYNAMIC_HOST: u32 = 11;
const NODE_PORTS: std::ops::RangeInclusive<i64> = 30000..=32767;

/// A free NodePort, searched from a random point of the range as upstream's
/// allocator does: two clusters on one machine (or one host's several nodes)
/// rarely pick the same port, and a released port is not handed out again at once.
fn free_node_port(taken: &HashSet<i64>) -> Option<i64> {
    use rand::Rng;
    let (first, last) = (*NODE_PORTS.start(), *NODE_PORTS.end());
    let size = last - first + 1;
    let offset = rand::thread_rng().gen_range(0..size);
    (0..size).map(|i| first + (offset + i) % size).find(|p| !taken.contains(p))
}

/// Allocates ClusterIPs and NodePorts. Allocation scans the Services in the
/// store under one lock, so two concurrent creates never get the same address.
#[derive(Default)]
pub struct ServiceAllocator {
    lock: Mutex<()>,
}

pub async fn on_create(state: &ApiState, rt: &ResourceType, obj: &mut Value) -> Result<(), ApiError> {
    if rt.namespaced {
        require_live_namespace(state, object::namespace(obj).unwrap_or_default()).await?;
    }
    if rt.group.is_empty() && rt.plural == "services" {
        allocate_service(state, obj, None).await?;
    }
    if rt.group == "batch" && rt.plural == "jobs" {
        select_own_pods(obj);
    }
    if rt.group == "networking.k8s.io" && rt.plural == "ingresses" {
        default_ingress_class(state, obj).await?;
    }
    if rt.group.is_empty() && rt.plural == "persistentvolumeclaims" {
        default_storage_class(state, obj).await?;
        protect_claim(obj);
    }
    Ok(())
}

/// Every claim is protected from deletion while a pod uses it (upstream's
/// StorageObjectInUseProtection); the storage controller lifts it.
fn protect_claim(pvc: &mut Value) {
    use crate::controllers::storage::protection::PVC_PROTECTION;
    let Some(meta) = pvc.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let finalizers = meta.entry("finalizers").or_insert_with(|| json!([]));
    if !finalizers.is_array() {
        *finalizers = json!([]);
    }
    if let Some(list) = finalizers.as_array_mut() {
        if !list.iter().any(|f| f == PVC_PROTECTION) {
            list.push(json!(PVC_PROTECTION));
        }
    }
}

/// A claim that names no class (no `storageClassName`, not even `""`) gets
/// the default StorageClass; with several defaults the newest wins, as upstream.
async fn default_storage_class(state: &ApiState, pvc: &mut Value) -> Result<(), ApiError> {
    let named = pvc.pointer("/spec/storageClassName").is_some_and(|c| !c.is_null());
    let by_annotation = pvc.pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class").is_some();
    if named || by_annotation || !pvc.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let classes = resources::lookup("storage.k8s.io", "v1", "storageclasses").expect("storageclasses are served");
    let page = state.store.list(&classes.prefix(), None, None).await.map_err(|e| ApiError::from_store(e, Target::default()))?;
    let default = page
        .items
        .iter()
        .map(|c| &*c.value)
        .filter(|c| crate::controllers::storage::class::is_default_class(c))
        .max_by_key(|c| (object::meta_str(c, "creationTimestamp").unwrap_or_default().to_string(), object::name(c).unwrap_or_default().to_string()));
    if let Some(name) = default.and_then(object::name) {
        pvc["spec"]["storageClassName"] = json!(name);
    }
    Ok(())
}

/// An Ingress naming no class (neither `ingressClassName` nor the old
/// `kubernetes.io/ingress.class` annotation) gets the default IngressClass, the
/// newest one when several are marked (upstream's DefaultIngressClass admission).
async fn default_ingress_class(state: &ApiState, ing: &mut Value) -> Result<(), ApiError> {
    let named = ing.pointer("/spec/ingressClassName").is_some_and(|c| !c.is_null());
    let by_annotation = ing.pointer("/metadata/annotations/kubernetes.io~1ingress.class").is_some();
    if named || by_annotation || !ing.get("spec").is_some_and(Value::is_object) {
        return Ok(());
    }
    let classes = resources::lookup("networking.k8s.io", "v1", "ingressclasses").expect("ingressclasses are served");
    let page = state.store.list(&classes.prefix(), None, None).await.map_err(|e| ApiError::from_store(e, Target::default()))?;
    let default = page
        .items
        .iter()
        .map(|c| &*c.value)
        .filter(|c| c.pointer("/metadata/annotations/ingressclass.kubernetes.io~1is-default-class").and_then(Value::as_str) == Some("true"))
        .max_by_key(|c| (object::meta_str(c, "creationTimestamp").unwrap_or_default().to_string(), object::name(c).unwrap_or_default().to_string()));
    if let Some(name) = default.and_then(object::name) {
        ing["spec"]["ingressClassName"] = json!(name);
    }
    Ok(())
}

/// A Job without `manualSelector` selects its pods by its own uid, as
/// Kubernetes does, so two Jobs never claim each other's pods.
fn select_own_pods(job: &mut Value) {
    let manual = job.pointer("/spec/manualSelector").and_then(|m| m.as_bool()).unwrap_or(false);
    if manual || job.pointer("/spec/selector").is_some_and(|s| !s.is_null()) {
        return;
    }
    let uid = object::meta_str(job, "uid").unwrap_or_default().to_string();
    let name = object::name(job).unwrap_or_default().to_string();
    let labels = [
        ("batch.kubernetes.io/controller-uid", uid.clone()),
        ("controller-uid", uid.clone()),
        ("batch.kubernetes.io/job-name", name.clone()),
        ("job-name", name),
    ];
    job["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    let template_meta = &mut job["spec"]["template"]["metadata"];
    if !template_meta.is_object() {
        *template_meta = json!({});
    }
    let template_labels = &mut template_meta["labels"];
    if !template_labels.is_object() {
        *template_labels = json!({});
    }
    for (k, v) in labels {
        template_labels[k] = json!(v);
    }
}

pub async fn on_update(state: &ApiState, rt: &ResourceType, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    if rt.group.is_empty() && rt.plural == "services" {
        allocate_service(state, new, Some(old)).await?;
    }
    Ok(())
}

async fn require_live_namespace(state: &ApiState, ns: &str) -> Result<(), ApiError> {
    let namespaces = resources::lookup("", "v1", "namespaces").expect("namespaces are served");
    let not_found = || ApiError::NotFound(Target { resource: "namespaces".into(), kind: "Namespace".into(), name: ns.into(), ..Default::default() });
    let found = state.store.get(&namespaces.key(None, ns)).await.map_err(|e| ApiError::from_store(e, Target::default()))?;
    let found = found.ok_or_else(not_found)?;
    if object::is_deleting(&found.value) {
        return Err(ApiError::Forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        )));
    }
    Ok(())
}

fn service_type(svc: &Value) -> &str {
    svc.pointer("/spec/type").and_then(|t| t.as_str()).unwrap_or("ClusterIP")
}

/// ClusterIPs and NodePorts in use by every Service except `except` (ns/name).
async fn used_addresses(state: &ApiState, except: (&str, &str)) -> Result<(HashSet<String>, HashSet<i64>), ApiError> {
    let services = resources::lookup("", "v1", "services").expect("services are served");
    let page = state.store.list(&services.prefix(), None, None).await.map_err(|e| ApiError::from_store(e, Target::default()))?;
    let mut ips = HashSet::new();
    let mut ports = HashSet::new();
    for s in &page.items {
        let v = &s.value;
        if (object::namespace(v).unwrap_or_default(), object::name(v).unwrap_or_default()) == except {
            continue;
        }
        if let Some(ip) = v.pointer("/spec/clusterIP").and_then(|i| i.as_str()) {
            ips.insert(ip.to_string());
        }
        for p in v.pointer("/spec/ports").and_then(|p| p.as_array()).into_iter().flatten() {
            if let Some(n) = p.get("nodePort").and_then(|n| n.as_i64()) {
                ports.insert(n);
            }
        }
    }
    Ok((ips, ports))
}

/// Give `svc` a ClusterIP (kept from `old` on update) and NodePorts where its
/// type needs them; refuse addresses another Service holds.
async fn allocate_service(state: &ApiState, svc: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let _guard = state.services.lock.lock().await;
    let me = (object::namespace(svc).unwrap_or_default().to_string(), object::name(svc).unwrap_or_default().to_string());
    let (used_ips, used_ports) = used_addresses(state, (&me.0, &me.1)).await?;
    let invalid = |causes: Vec<FieldError>| ApiError::Invalid {
        target: Target { kind: "Service".into(), name: me.1.clone(), resource: "services".into(), ..Default::default() },
        causes,
    };
    let kind = service_type(svc).to_string();
    let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).and_then(|i| i.as_str()).map(str::to_string);
    let spec = svc.get_mut("spec").and_then(|s| s.as_object_mut());
    let Some(spec) = spec else { return Ok(()) };
    if kind == "ExternalName" {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
        return Ok(());
    }
    let asked = spec.get("clusterIP").and_then(|i| i.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
    let ip = match (asked, old_ip) {
        (Some(ip), _) if ip == "None" => ip,
        (Some(ip), Some(old)) if ip == old => ip,
        (None, Some(old)) => old,
        (Some(ip), _) => {
            let parsed: Option<Ipv4Addr> = ip.parse().ok();
            let in_range = parsed.is_some_and(|a| a.octets()[..2] == SERVICE_NET);
            if !in_range {
                return Err(invalid(vec![FieldError::invalid("spec.clusterIP", &ip, "provided IP is not in the valid range. The range of valid IPs is 10.43.0.0/16")]));
            }
            if used_ips.contains(&ip) {
                return Err(invalid(vec![FieldError::invalid("spec.clusterIP", &ip, "provided IP is already allocated")]));
            }
            ip
        }
        (None, None) => next_free_ip(&used_ips).ok_or_else(|| invalid(vec![FieldError::forbidden("spec.clusterIP", "the service CIDR 10.43.0.0/16 has no free address left")]))?,
    };
    spec.insert("clusterIP".into(), json!(ip));
    spec.insert("clusterIPs".into(), json!([ip]));
    if kind == "NodePort" || kind == "LoadBalancer" {
        let mut taken = used_ports;
        let mut causes = Vec::new();
        for (i, port) in spec.get_mut("ports").and_then(|p| p.as_array_mut()).into_iter().flatten().enumerate() {
            match port.get("nodePort").and_then(|n| n.as_i64()).filter(|n| *n != 0) {
                Some(n) if taken.contains(&n) => causes.push(FieldError::invalid(format!("spec.ports[{i}].nodePort"), n, "provided port is already allocated")),
                Some(n) => {
                    taken.insert(n);
                }
                None => match free_node_port(&taken) {
                    Some(n) => {
                        taken.insert(n);
                        port["nodePort"] = json!(n);
                    }
                    None => causes.push(FieldError::forbidden(format!("spec.ports[{i}].nodePort"), "no free NodePort left in 30000-32767")),
                },
            }
        }
        if !causes.is_empty() {
            return Err(invalid(causes));
        }
    }
    Ok(())
}

fn next_free_ip(used: &HashSet<String>) -> Option<String> {
    (FIRST_DYNAMIC_HOST..65535).map(|h| format!("10.43.{}.{}", h >> 8, h & 0xff)).find(|ip| !used.contains(ip))
}

/// `POST pods/{name}/binding`: assign the pod to a node, once.
pub async fn bind(state: &ApiState, r: &ResourceRef, ctx: &Ctx, raw: Bytes) -> Result<Response, ApiError> {
    let binding = body::object(ctx, &raw)?;
    let node = binding.pointer("/target/name").and_then(|n| n.as_str()).filter(|n| !n.is_empty());
    let Some(node) = node.map(str::to_string) else {
        return Err(ApiError::Invalid {
            target: Target { kind: "Binding".into(), name: r.name.clone().unwrap_or_default(), ..Default::default() },
            causes: vec![FieldError::required("target.name")],
        });
    };
    let pod_ref = ResourceRef { sub: None, ..r.clone() };
    for _ in 0..8 {
        let pod = fetch(state.store.as_ref(), &pod_ref).await?;
        if let Some(current) = pod.value.pointer("/spec/nodeName").and_then(|n| n.as_str()).filter(|n| !n.is_empty()) {
            return Err(ApiError::Conflict {
                target: target(&pod_ref),
                message: format!("pod {} is already assigned to node \"{current}\"", r.name.as_deref().unwrap_or_default()),
            });
        }
        if object::is_deleting(&pod.value) {
            return Err(ApiError::Conflict { target: target(&pod_ref), message: "the pod is being deleted".into() });
        }
        let mut new = (*pod.value).clone();
        new["spec"]["nodeName"] = json!(node);
        set_scheduled_condition(&mut new);
        match state.store.update(&pod_ref.key(), new, Some(pod.revision)).await {
            Ok(_) => {
                let status = response::success_status("", "pods", r.name.as_deref().unwrap_or_default(), None);
                return Ok(response::json(StatusCode::CREATED, &status));
            }
            Err(crate::store::StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(ApiError::from_store(e, target(&pod_ref))),
        }
    }
    Err(ApiError::Conflict { target: target(&pod_ref), message: "the pod kept changing while binding it; try again".into() })
}

fn set_scheduled_condition(pod: &mut Value) {
    let cond = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now_rfc3339()});
    let status = &mut pod["status"];
    if !status.is_object() {
        *status = json!({});
    }
    let conds = &mut status["conditions"];
    if !conds.is_array() {
        *conds = json!([]);
    }
    let list = conds.as_array_mut().expect("just made an array");
    list.retain(|c| c.get("type").and_then(|t| t.as_str()) != Some("PodScheduled"));
    list.push(cond);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_free_ip_skips_reserved_and_used() {
        let mut used = HashSet::new();
        assert_eq!(next_free_ip(&used).unwrap(), "10.43.0.11");
        used.insert("10.43.0.11".to_string());
        assert_eq!(next_free_ip(&used).unwrap(), "10.43.0.12");
    }
}
