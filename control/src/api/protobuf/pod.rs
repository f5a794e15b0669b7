//! The pod template every workload kind carries (`PodTemplateSpec`, `PodSpec`) and its
//! pod-level parts: security context, scheduling (affinity, tolerations, spread), DNS.
//! Containers are in `container.rs`, volumes in `volume.rs`.

use k8s_openapi::api::core::v1::{
    Affinity, HostAlias, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PodAffinity, PodAffinityTerm, PodAntiAffinity, PodDNSConfig, PodDNSConfigOption, PodOS,
    PodReadinessGate, PodResourceClaim, PodSchedulingGate, PodSecurityContext, PodSpec,
    PodTemplateSpec, PreferredSchedulingTerm, Sysctl, Toleration, TopologySpreadConstraint,
    WeightedPodAffinityTerm,
};
use k8s_pb::api::core::v1 as pb;

use super::convert::from_proto;

from_proto!(pb::PodTemplateSpec => PodTemplateSpec { metadata, spec });

// Ephemeral containers are only ever added through the `ephemeralcontainers`
// subresource, never in a create body.
from_proto!(pb::PodSpec => PodSpec {
    volumes,
    init_containers,
    containers,
    restart_policy,
    termination_grace_period_seconds,
    active_deadline_seconds,
    dns_policy,
    node_selector,
    service_account_name,
    service_account,
    automount_service_account_token,
    node_name,
    omit_zero host_network,
    omit_zero host_pid,
    omit_zero host_ipc,
    share_process_namespace,
    security_context,
    image_pull_secrets,
    hostname,
    subdomain,
    affinity,
    scheduler_name,
    tolerations,
    host_aliases,
    priority_class_name,
    priority,
    dns_config,
    readiness_gates,
    runtime_class_name,
    enable_service_links,
    preemption_policy,
    overhead,
    topology_spread_constraints,
    set_hostname_as_fqdn,
    os,
    host_users,
    scheduling_gates,
    resource_claims,
    resources,
});

from_proto!(pb::PodSecurityContext => PodSecurityContext {
    se_linux_options,
    run_as_user,
    run_as_group,
    run_as_non_root,
    supplemental_groups,
    supplemental_groups_policy,
    fs_group,
    sysctls,
    fs_group_change_policy,
    seccomp_profile,
    app_armor_profile,
    se_linux_change_policy,
});
from_proto!(pb::Sysctl => Sysctl { name, value });

from_proto!(pb::Toleration => Toleration { key, operator, value, effect, toleration_seconds });
from_proto!(pb::HostAlias => HostAlias { ip, hostnames });
from_proto!(pb::PodDnsConfig => PodDNSConfig { nameservers, searches, options });
from_proto!(pb::PodDnsConfigOption => PodDNSConfigOption { name, value });
from_proto!(pb::PodReadinessGate => PodReadinessGate { condition_type });
from_proto!(pb::PodSchedulingGate => PodSchedulingGate { name });
from_proto!(pb::PodOs => PodOS { name });
from_proto!(pb::PodResourceClaim => PodResourceClaim {
    name,
    resource_claim_name,
    resource_claim_template_name,
});
from_proto!(pb::TopologySpreadConstraint => TopologySpreadConstraint {
    max_skew,
    topology_key,
    when_unsatisfiable,
    label_selector,
    min_domains,
    node_affinity_policy,
    node_taints_policy,
    match_label_keys,
});

from_proto!(pb::Affinity => Affinity { node_affinity, pod_affinity, pod_anti_affinity });
from_proto!(pb::NodeAffinity => NodeAffinity {
    required_during_scheduling_ignored_during_execution,
    preferred_during_scheduling_ignored_during_execution,
});
from_proto!(pb::NodeSelector => NodeSelector { node_selector_terms });
from_proto!(pb::NodeSelectorTerm => NodeSelectorTerm { match_expressions, match_fields });
from_proto!(pb::NodeSelectorRequirement => NodeSelectorRequirement { key, operator, values });
from_proto!(pb::PreferredSchedulingTerm => PreferredSchedulingTerm { weight, preference });
from_proto!(pb::PodAffinity => PodAffinity {
    required_during_scheduling_ignored_during_execution,
    preferred_during_scheduling_ignored_during_execution,
});
from_proto!(pb::PodAntiAffinity => PodAntiAffinity {
    required_during_scheduling_ignored_during_execution,
    preferred_during_scheduling_ignored_during_execution,
});
from_proto!(pb::PodAffinityTerm => PodAffinityTerm {
    label_selector,
    namespaces,
    topology_key,
    namespace_selector,
    match_label_keys,
    mismatch_label_keys,
});
from_proto!(pb::WeightedPodAffinityTerm => WeightedPodAffinityTerm { weight, pod_affinity_term });
