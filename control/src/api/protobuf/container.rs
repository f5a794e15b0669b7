//! Containers (`core/v1.Container`) and their parts: ports, environment, resources,
//! probes, lifecycle hooks, security context, mounts.

use k8s_openapi::api::core::v1::ResourceClaim;
use k8s_openapi::api::core::v1::{
    AppArmorProfile, Capabilities, ConfigMapEnvSource, ConfigMapKeySelector, Container,
    ContainerPort, ContainerResizePolicy, EnvFromSource, EnvVar, EnvVarSource, ExecAction,
    GRPCAction, HTTPGetAction, HTTPHeader, Lifecycle, LifecycleHandler, ObjectFieldSelector, Probe,
    ResourceFieldSelector, ResourceRequirements, SELinuxOptions, SeccompProfile, SecretEnvSource,
    SecretKeySelector, SecurityContext, SleepAction, TCPSocketAction, VolumeDevice, VolumeMount,
};
use k8s_pb::api::core::v1 as pb;

use super::convert::from_proto;

from_proto!(pb::Container => Container {
    name,
    image,
    command,
    args,
    working_dir,
    ports,
    env_from,
    env,
    resources,
    resize_policy,
    restart_policy,
    volume_mounts,
    volume_devices,
    liveness_probe,
    readiness_probe,
    startup_probe,
    lifecycle,
    termination_message_path,
    termination_message_policy,
    image_pull_policy,
    security_context,
    omit_zero stdin,
    omit_zero stdin_once,
    omit_zero tty,
});

from_proto!(pb::ContainerPort => ContainerPort {
    name,
    omit_zero host_port,
    container_port,
    protocol,
    host_ip,
});
from_proto!(pb::ContainerResizePolicy => ContainerResizePolicy { resource_name, restart_policy });

from_proto!(pb::EnvVar => EnvVar { name, value, value_from });
from_proto!(pb::EnvVarSource => EnvVarSource {
    field_ref,
    resource_field_ref,
    config_map_key_ref,
    secret_key_ref,
});
from_proto!(pb::ObjectFieldSelector => ObjectFieldSelector { api_version, field_path });
from_proto!(pb::ResourceFieldSelector => ResourceFieldSelector { container_name, resource, divisor });
from_proto!(pb::ConfigMapKeySelector => ConfigMapKeySelector {
    local_object_reference { name },
    key,
    optional,
});
from_proto!(pb::SecretKeySelector => SecretKeySelector {
    local_object_reference { name },
    key,
    optional,
});
from_proto!(pb::EnvFromSource => EnvFromSource { prefix, config_map_ref, secret_ref });
from_proto!(pb::ConfigMapEnvSource => ConfigMapEnvSource { local_object_reference { name }, optional });
from_proto!(pb::SecretEnvSource => SecretEnvSource { local_object_reference { name }, optional });

from_proto!(pb::ResourceRequirements => ResourceRequirements { limits, requests, claims });
from_proto!(pb::ResourceClaim => ResourceClaim { name, request });

from_proto!(pb::VolumeMount => VolumeMount {
    name,
    omit_zero read_only,
    recursive_read_only,
    mount_path,
    sub_path,
    mount_propagation,
    sub_path_expr,
});
from_proto!(pb::VolumeDevice => VolumeDevice { name, device_path });

from_proto!(pb::Probe => Probe {
    handler { exec, http_get, tcp_socket, grpc },
    omit_zero initial_delay_seconds,
    omit_zero timeout_seconds,
    omit_zero period_seconds,
    omit_zero success_threshold,
    omit_zero failure_threshold,
    termination_grace_period_seconds,
});
from_proto!(pb::ExecAction => ExecAction { command });
from_proto!(pb::HttpGetAction => HTTPGetAction { path, port, host, scheme, http_headers });
from_proto!(pb::HttpHeader => HTTPHeader { name, value });
from_proto!(pb::TcpSocketAction => TCPSocketAction { port, host });
from_proto!(pb::GrpcAction => GRPCAction { port, service });

from_proto!(pb::Lifecycle => Lifecycle { post_start, pre_stop, stop_signal });
from_proto!(pb::LifecycleHandler => LifecycleHandler { exec, http_get, tcp_socket, sleep });
from_proto!(pb::SleepAction => SleepAction { seconds });

from_proto!(pb::SecurityContext => SecurityContext {
    capabilities,
    privileged,
    se_linux_options,
    run_as_user,
    run_as_group,
    run_as_non_root,
    read_only_root_filesystem,
    allow_privilege_escalation,
    proc_mount,
    seccomp_profile,
    app_armor_profile,
});
from_proto!(pb::Capabilities => Capabilities { add, drop });
from_proto!(pb::SeLinuxOptions => SELinuxOptions { user, role, r#type => type_, level });
from_proto!(pb::SeccompProfile => SeccompProfile { r#type => type_, localhost_profile });
from_proto!(pb::AppArmorProfile => AppArmorProfile { r#type => type_, localhost_profile });
