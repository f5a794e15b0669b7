//! `status.loadBalancer.ingress` of our Ingresses: the address of each node
//! whose agent serves them. Each agent adds its own node address when it is
//! missing and never removes another's, so several nodes converge on the
//! union; it is the only writer of that field. An Ingress moved to another
//! class loses our address again.

use std::net::IpAddr;

use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

/// Whether `ing` already lists `ip`.
pub fn lists(ing: &Ingress, ip: IpAddr) -> bool {
    let ip = ip.to_string();
    addresses(ing).contains(&ip)
}

fn addresses(ing: &Ingress) -> Vec<String> {
    let lb = ing.status.as_ref().and_then(|s| s.load_balancer.as_ref()).and_then(|lb| lb.ingress.as_ref());
    lb.into_iter().flatten().filter_map(|e| e.ip.clone()).collect()
}

/// Adds `ip` to the Ingress's load-balancer addresses.
pub async fn publish(client: &Client, ing: &Ingress, ip: IpAddr) -> Result<(), kube::Error> {
    let mut ips = addresses(ing);
    ips.push(ip.to_string());
    write(client, ing, ips).await
}

/// Removes `ip` again, from an Ingress that is no longer of our class.
pub async fn withdraw(client: &Client, ing: &Ingress, ip: IpAddr) -> Result<(), kube::Error> {
    let ip = ip.to_string();
    let ips = addresses(ing).into_iter().filter(|a| *a != ip).collect();
    write(client, ing, ips).await
}

async fn write(client: &Client, ing: &Ingress, mut ips: Vec<String>) -> Result<(), kube::Error> {
    let (Some(namespace), Some(name)) = (ing.metadata.namespace.as_deref(), ing.metadata.name.as_deref()) else { return Ok(()) };
    ips.sort();
    ips.dedup();
    let entries: Vec<_> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    // resourceVersion makes the write conditional: a concurrent change by another node is re-read, not lost.
    let patch = json!({
        "metadata": {"resourceVersion": ing.metadata.resource_version},
        "status": {"loadBalancer": {"ingress": entries}},
    });
    let api: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
}
