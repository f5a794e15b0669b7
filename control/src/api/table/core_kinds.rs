//! Printers for the simple core/v1 kinds: Namespaces, ConfigMaps, Secrets,
//! ServiceAccounts and ResourceQuotas.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ResourceQuota, Secret, ServiceAccount};
use serde_json::Value;

use super::format::{age, decode, name_of};
use super::printer::{cells, Column, Printer, Row};

pub const NAMESPACES: Printer = Printer {
    columns: &[Column::NAME, Column::string("Status", "The status of the namespace"), Column::AGE],
    row: namespace_row,
};

fn namespace_row(obj: &Value, now: Timestamp) -> Row {
    let ns: Namespace = decode(obj);
    let phase = ns.status.and_then(|s| s.phase).unwrap_or_default();
    cells![name_of(obj), phase, age(&ns.metadata, now)].into()
}

pub const CONFIG_MAPS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Data", "Data contains the configuration data."),
        Column::AGE,
    ],
    row: config_map_row,
};

fn config_map_row(obj: &Value, now: Timestamp) -> Row {
    let cm: ConfigMap = decode(obj);
    let entries = cm.data.map_or(0, |d| d.len()) + cm.binary_data.map_or(0, |d| d.len());
    cells![name_of(obj), entries, age(&cm.metadata, now)].into()
}

pub const SECRETS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Type", "Used to facilitate programmatic handling of secret data."),
        Column::string("Data", "Data contains the secret data."),
        Column::AGE,
    ],
    row: secret_row,
};

fn secret_row(obj: &Value, now: Timestamp) -> Row {
    let secret: Secret = decode(obj);
    // Kubernetes reads an unset type as Opaque.
    let type_ = secret.type_.unwrap_or_else(|| "Opaque".to_string());
    cells![name_of(obj), type_, secret.data.map_or(0, |d| d.len()), age(&secret.metadata, now)].into()
}

pub const SERVICE_ACCOUNTS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::string("Secrets", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
        Column::AGE,
    ],
    row: service_account_row,
};

fn service_account_row(obj: &Value, now: Timestamp) -> Row {
    let sa: ServiceAccount = decode(obj);
    cells![name_of(obj), sa.secrets.map_or(0, |s| s.len()), age(&sa.metadata, now)].into()
}

pub const RESOURCE_QUOTAS: Printer = Printer {
    columns: &[
        Column::NAME,
        Column::AGE,
        Column::string("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
        Column::string("Limit", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
    ],
    row: resource_quota_row,
};

/// Request and Limit cells: `used/hard` per resource in name order; resources
/// named `limits.*` go to the Limit cell.
fn resource_quota_row(obj: &Value, now: Timestamp) -> Row {
    let quota: ResourceQuota = decode(obj);
    let status = quota.status.unwrap_or_default();
    let used = status.used.unwrap_or_default();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for (resource, hard) in status.hard.unwrap_or_default() {
        let used = used.get(&resource).map_or("0", |q| q.0.as_str());
        let entry = format!("{resource}: {used}/{}", hard.0);
        if resource.starts_with("limits.") {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    cells![name_of(obj), age(&quota.metadata, now), requests.join(", "), limits.join(", ")].into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2024-05-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn data_counts() {
        let cm = json!({"metadata": {"name": "cfg", "creationTimestamp": "2024-05-01T11:59:15Z"},
                        "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(config_map_row(&cm, now()).cells, vec![json!("cfg"), json!(3), json!("45s")]);
        let secret = json!({"metadata": {"name": "s"}, "data": {"k": "dg=="}});
        assert_eq!(secret_row(&secret, now()).cells[..3], [json!("s"), json!("Opaque"), json!(1)]);
        let sa = json!({"metadata": {"name": "default"}});
        assert_eq!(service_account_row(&sa, now()).cells[1], json!(0));
    }

    #[test]
    fn namespace_phase() {
        let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
        assert_eq!(namespace_row(&ns, now()).cells[..2], [json!("default"), json!("Active")]);
    }

    #[test]
    fn quota_splits_requests_and_limits() {
        let q = json!({"metadata": {"name": "q"}, "status": {
            "hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
            "used": {"pods": "3", "requests.cpu": "500m"}}});
        let cells = resource_quota_row(&q, now()).cells;
        assert_eq!(cells[2], json!("pods: 3/10, requests.cpu: 500m/1"));
        assert_eq!(cells[3], json!("limits.cpu: 0/2"));
    }
}
