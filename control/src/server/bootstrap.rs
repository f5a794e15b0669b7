//! Objects every cluster has from its first start: the four system namespaces,
//! the default StorageClass `local-path`, the `kubernetes` Service (10.43.0.1,
//! its endpoint the API server itself) and the `kube-dns` Service (10.43.0.10,
//! answered by every node's agent).

use std::net::SocketAddr;

use serde_json::{json, Value};

use crate::api::object::now_rfc3339;
use crate::api::resources;
use crate::controllers::storage::class as storage_class;
use crate::store::{Store, StoreError};

pub const SYSTEM_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Create what is missing; leave what exists alone (restart-safe).
pub async fn ensure_system_objects(store: &dyn Store) -> Result<(), String> {
    let namespaces = resources::lookup("", "v1", "namespaces").ok_or("namespaces are not served")?;
    for ns in SYSTEM_NAMESPACES {
        let obj = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {
                "name": ns, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now_rfc3339(),
                "labels": {"kubernetes.io/metadata.name": ns},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        match store.create(&namespaces.key(None, ns), obj).await {
            Ok(_) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(format!("creating namespace {ns}: {e}")),
        }
    }
    ensure_default_storage_class(store).await?;
    ensure_default_ingress_class(store).await?;
    ensure_service(store, kube_dns_service()).await
}

/// The `local-path` class, created at each start when absent; one the user
/// changed is kept as it is, as with the namespaces.
async fn ensure_default_storage_class(store: &dyn Store) -> Result<(), String> {
    let classes = resources::lookup("storage.k8s.io", "v1", "storageclasses").ok_or("storageclasses are not served")?;
    let mut class = storage_class::local_path_class();
    class["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
    class["metadata"]["creationTimestamp"] = json!(now_rfc3339());
    match store.create(&classes.key(None, storage_class::LOCAL_PATH_CLASS), class).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(format!("creating storageclass {}: {e}", storage_class::LOCAL_PATH_CLASS)),
    }
}

/// The API server's own Service, `default/kubernetes`, as upstream creates it.
pub const API_SERVICE_IP: &str = "10.43.0.1";
/// The cluster DNS Service, `kube-system/kube-dns`; the agents answer on it.
pub const DNS_SERVICE_IP: &str = "10.43.0.10";
/// Who writes the `kubernetes` Service's endpoints (not the endpointslice controller).
const API_ENDPOINTS_MANAGER: &str = "wasmkube-apiserver";

fn service_object(namespace: &str, name: &str, ip: &str, labels: Value, ports: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {
            "name": name, "namespace": namespace, "uid": uuid::Uuid::new_v4().to_string(),
            "creationTimestamp": now_rfc3339(), "labels": labels,
        },
        "spec": {
            "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "ports": ports,
            "sessionAffinity": "None", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    })
}

/// `kube-system/kube-dns`: no selector, since no pod serves it; every agent
/// answers at its ClusterIP inside its node network.
fn kube_dns_service() -> Value {
    service_object(
        "kube-system",
        "kube-dns",
        DNS_SERVICE_IP,
        json!({"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}),
        json!([
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
        ]),
    )
}

/// Creates `svc` when absent; one that exists (maybe changed by the user) is kept.
async fn ensure_service(store: &dyn Store, svc: Value) -> Result<(), String> {
    let services = resources::lookup("", "v1", "services").ok_or("services are not served")?;
    let (ns, name) = (svc["metadata"]["namespace"].as_str().unwrap_or_default().to_string(), svc["metadata"]["name"].as_str().unwrap_or_default().to_string());
    match store.create(&services.key(Some(&ns), &name), svc).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(format!("creating service {ns}/{name}: {e}")),
    }
}

/// The `kubernetes` Service in `default` and its endpoints: the address the
/// API server listens on (known once it is bound, and rewritten at each start
/// since the port may change). Pods reach it at 10.43.0.1:443 through their
/// node's service proxy.
pub async fn ensure_api_service(store: &dyn Store, listen: SocketAddr) -> Result<(), String> {
    let port = listen.port();
    // Listening on every address: the loopback is one of them, and the one agents dial.
    let ip = if listen.ip().is_unspecified() { "127.0.0.1".to_string() } else { listen.ip().to_string() };
    ensure_service(
        store,
        service_object(
            "default",
            "kubernetes",
            API_SERVICE_IP,
            json!({"component": "apiserver", "provider": "kubernetes"}),
            json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]),
        ),
    )
    .await?;
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {
            "name": "kubernetes", "namespace": "default",
            "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": API_ENDPOINTS_MANAGER},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    });
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    });
    put(store, ("discovery.k8s.io", "endpointslices"), slice).await?;
    put(store, ("", "endpoints"), endpoints).await
}

/// Creates or rewrites `obj` (keeping its identity), leaving it alone when its
/// content is already the same.
async fn put(store: &dyn Store, (group, plural): (&str, &str), mut obj: Value) -> Result<(), String> {
    let rt = resources::lookup(group, "v1", plural).ok_or_else(|| format!("{plural} are not served"))?;
    let (ns, name) = (obj["metadata"]["namespace"].as_str().unwrap_or_default().to_string(), obj["metadata"]["name"].as_str().unwrap_or_default().to_string());
    let key = rt.key(Some(&ns), &name);
    let existing = store.get(&key).await.map_err(|e| format!("reading {plural} {ns}/{name}: {e}"))?;
    let content = |v: &Value| (v.get("subsets").cloned(), v.get("endpoints").cloned(), v.get("ports").cloned());
    match existing {
        Some(found) if content(&found.value) == content(&obj) => Ok(()),
        Some(found) => {
            obj["metadata"]["uid"] = found.value["metadata"]["uid"].clone();
            obj["metadata"]["creationTimestamp"] = found.value["metadata"]["creationTimestamp"].clone();
            store.update(&key, obj, Some(found.revision)).await.map(|_| ()).map_err(|e| format!("updating {plural} {ns}/{name}: {e}"))
        }
        None => {
            obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
            obj["metadata"]["creationTimestamp"] = json!(now_rfc3339());
            match store.create(&key, obj).await {
                Ok(_) | Err(StoreError::AlreadyExists(_)) => Ok(()),
                Err(e) => Err(format!("creating {plural} {ns}/{name}: {e}")),
            }
        }
    }
}

/// The IngressClass of the agents' built-in ingress controller, marked default
/// so Ingresses naming no class get it (see the API server's admission);
/// created when absent, a changed one kept.
async fn ensure_default_ingress_class(store: &dyn Store) -> Result<(), String> {
    let classes = resources::lookup("networking.k8s.io", "v1", "ingressclasses").ok_or("ingressclasses are not served")?;
    let class = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {
            "name": "wasmkube", "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": now_rfc3339(),
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": "wasmkube.io/ingress"},
    });
    match store.create(&classes.key(None, "wasmkube"), class).await {
        Ok(_) | Err(StoreError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(format!("creating ingressclass wasmkube: {e}")),
    }
}
