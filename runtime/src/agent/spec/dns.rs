//! A pod's DNS settings from `dnsPolicy` and `dnsConfig`, by kubelet's rules:
//! `ClusterFirst` (the default) asks the cluster DNS with the namespace's
//! search path; `Default` takes the node's resolv.conf; `None` only what
//! `dnsConfig` says; `dnsConfig` is merged into the first two. A node without
//! a cluster DNS (no pod network) gives `ClusterFirst` pods the node's, as
//! kubelet does without `--cluster-dns`.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

use crate::net::DnsSettings;

/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// glibc's limits, which kubelet enforces too.
const MAX_NAMESERVERS: usize = 3;
const MAX_SEARCHES: usize = 32;

/// Reads a resolv.conf: its `nameserver`, `search`/`domain` and `options` lines.
pub fn parse_resolv_conf(text: &str) -> DnsSettings {
    let mut dns = DnsSettings::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => dns.nameservers.extend(words.next().and_then(|w| w.parse::<IpAddr>().ok())),
            // The last search or domain line wins, as in the resolver.
            Some("search" | "domain") => dns.searches = words.map(str::to_string).collect(),
            Some("options") => dns.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    dns
}

/// The DNS settings of `pod`. `cluster_dns` is the cluster DNS address, when
/// this node has a pod network; `host` is the node's own resolv.conf.
pub fn pod_dns(pod: &Pod, cluster_dns: Option<IpAddr>, host: &DnsSettings) -> DnsSettings {
    let spec = pod.spec.as_ref();
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    let policy = spec.and_then(|s| s.dns_policy.as_deref()).unwrap_or("ClusterFirst");
    let cluster = |server: IpAddr| DnsSettings {
        nameservers: vec![server],
        searches: vec![format!("{namespace}.svc.{CLUSTER_DOMAIN}"), format!("svc.{CLUSTER_DOMAIN}"), CLUSTER_DOMAIN.to_string()],
        options: vec!["ndots:5".to_string()],
    };
    let mut dns = match (policy, cluster_dns) {
        ("None", _) => DnsSettings::default(),
        ("ClusterFirstWithHostNet", Some(server)) => cluster(server),
        ("ClusterFirst", Some(server)) if !host_network => cluster(server),
        _ => host.clone(),
    };
    if let Some(config) = spec.and_then(|s| s.dns_config.as_ref()) {
        for server in config.nameservers.iter().flatten().filter_map(|s| s.parse::<IpAddr>().ok()) {
            if !dns.nameservers.contains(&server) {
                dns.nameservers.push(server);
            }
        }
        for search in config.searches.iter().flatten() {
            if !dns.searches.contains(search) {
                dns.searches.push(search.clone());
            }
        }
        for option in config.options.iter().flatten() {
            let rendered = match &option.value {
                Some(value) => format!("{}:{value}", option.name.as_deref().unwrap_or_default()),
                None => option.name.clone().unwrap_or_default(),
            };
            if rendered.is_empty() {
                continue;
            }
            // dnsConfig's option replaces one of the same name.
            let name = rendered.split(':').next().unwrap_or_default().to_string();
            dns.options.retain(|o| o.split(':').next() != Some(name.as_str()));
            dns.options.push(rendered);
        }
    }
    dns.nameservers.truncate(MAX_NAMESERVERS);
    dns.searches.truncate(MAX_SEARCHES);
    dns
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodDNSConfig, PodDNSConfigOption, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn pod(policy: Option<&str>, config: Option<PodDNSConfig>) -> Pod {
        Pod {
            metadata: ObjectMeta { name: Some("web".into()), namespace: Some("shop".into()), ..Default::default() },
            spec: Some(PodSpec { dns_policy: policy.map(str::to_string), dns_config: config, ..Default::default() }),
            status: None,
        }
    }

    fn host() -> DnsSettings {
        parse_resolv_conf("# host\nnameserver 192.0.2.53\nsearch corp.example\noptions timeout:2\n")
    }

    const CLUSTER_DNS: &str = "10.43.0.10";

    #[test]
    fn cluster_first_is_the_default() {
        let dns = pod_dns(&pod(None, None), CLUSTER_DNS.parse().ok(), &host());
        assert_eq!(
            dns.resolv_conf(),
            "nameserver 10.43.0.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"
        );
    }

    #[test]
    fn default_takes_the_nodes_and_so_does_a_node_without_cluster_dns() {
        assert_eq!(pod_dns(&pod(Some("Default"), None), CLUSTER_DNS.parse().ok(), &host()), host());
        assert_eq!(pod_dns(&pod(Some("ClusterFirst"), None), None, &host()), host());
    }

    #[test]
    fn none_uses_dns_config_only_and_config_merges_into_the_others() {
        let config = PodDNSConfig {
            nameservers: Some(vec!["192.0.2.1".into()]),
            searches: Some(vec!["my.example".into()]),
            options: Some(vec![
                PodDNSConfigOption { name: Some("ndots".into()), value: Some("2".into()) },
                PodDNSConfigOption { name: Some("edns0".into()), value: None },
            ]),
        };
        let none = pod_dns(&pod(Some("None"), Some(config.clone())), CLUSTER_DNS.parse().ok(), &host());
        assert_eq!(none.resolv_conf(), "nameserver 192.0.2.1\nsearch my.example\noptions ndots:2 edns0\n");
        let merged = pod_dns(&pod(None, Some(config)), CLUSTER_DNS.parse().ok(), &host());
        assert_eq!(
            merged.resolv_conf(),
            "nameserver 10.43.0.10\nnameserver 192.0.2.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local my.example\noptions ndots:2 edns0\n"
        );
    }
}
