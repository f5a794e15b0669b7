//! `apps/v1` kinds sent by `kubectl create deployment`.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_pb::api::apps::v1 as pb;

use super::convert::from_proto;
use super::{kind, Kind};

pub(super) const KINDS: &[Kind] = &[kind::<pb::Deployment, Deployment>()];

from_proto!(pb::Deployment => Deployment { metadata, spec });
from_proto!(pb::DeploymentSpec => DeploymentSpec {
    replicas,
    selector,
    template,
    strategy,
    omit_zero min_ready_seconds,
    revision_history_limit,
    omit_zero paused,
    progress_deadline_seconds,
});
from_proto!(pb::DeploymentStrategy => DeploymentStrategy { r#type => type_, rolling_update });
from_proto!(pb::RollingUpdateDeployment => RollingUpdateDeployment { max_unavailable, max_surge });

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_pb::api::core::v1 as pb_core;
    use k8s_pb::apimachinery::pkg::api::resource::Quantity;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as pb_meta;
    use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
    use prost::Message;
    use serde_json::json;

    use super::super::{decode, decode_fixture, wrap_raw};
    use super::*;

    #[test]
    fn deployment_from_kubectl() {
        // kubectl create deployment web --image=nginx:1.25 --replicas=2 --port=80
        assert_eq!(
            decode_fixture("deployment"),
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"labels": {"app": "web"}, "name": "web"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "strategy": {},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{
                            "image": "nginx:1.25", "name": "nginx",
                            "ports": [{"containerPort": 80}], "resources": {},
                        }]},
                    },
                },
            })
        );
    }

    #[test]
    fn deployment_command_from_kubectl() {
        // kubectl create deployment runner --image=busybox -- sh -c "sleep 3600"
        let deployment = decode_fixture("deployment_cmd");
        assert_eq!(deployment["spec"]["replicas"], 1);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0],
            json!({"command": ["sh", "-c", "sleep 3600"], "image": "busybox", "name": "busybox", "resources": {}})
        );
    }

    fn string(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    fn int_or_string(value: &str) -> Option<IntOrString> {
        Some(match value.parse::<i32>() {
            Ok(n) => IntOrString {
                r#type: Some(0),
                int_val: Some(n),
                str_val: string(""),
            },
            Err(_) => IntOrString {
                r#type: Some(1),
                int_val: Some(0),
                str_val: string(value),
            },
        })
    }

    /// A pod spec with the fields users set by hand, encoded the way Go does it
    /// (non-pointer fields present with their zero values).
    fn rich_deployment() -> pb::Deployment {
        let container = pb_core::Container {
            name: string("app"),
            image: string("registry.example.com/app:v2"),
            args: vec!["--port=8080".into()],
            working_dir: string(""),
            ports: vec![pb_core::ContainerPort {
                name: string("http"),
                host_port: Some(0),
                container_port: Some(8080),
                protocol: string("TCP"),
                host_ip: string(""),
            }],
            env: vec![
                pb_core::EnvVar {
                    name: string("MODE"),
                    value: string("prod"),
                    value_from: None,
                },
                pb_core::EnvVar {
                    name: string("LEVEL"),
                    value: string(""),
                    value_from: Some(pb_core::EnvVarSource {
                        config_map_key_ref: Some(pb_core::ConfigMapKeySelector {
                            local_object_reference: Some(pb_core::LocalObjectReference {
                                name: string("settings"),
                            }),
                            key: string("level"),
                            optional: Some(true),
                        }),
                        ..Default::default()
                    }),
                },
                pb_core::EnvVar {
                    name: string("POD_IP"),
                    value: string(""),
                    value_from: Some(pb_core::EnvVarSource {
                        field_ref: Some(pb_core::ObjectFieldSelector {
                            api_version: string("v1"),
                            field_path: string("status.podIP"),
                        }),
                        ..Default::default()
                    }),
                },
            ],
            env_from: vec![pb_core::EnvFromSource {
                prefix: string("DB_"),
                secret_ref: Some(pb_core::SecretEnvSource {
                    local_object_reference: Some(pb_core::LocalObjectReference {
                        name: string("db"),
                    }),
                    optional: None,
                }),
                config_map_ref: None,
            }],
            resources: Some(pb_core::ResourceRequirements {
                limits: BTreeMap::from([(
                    "memory".into(),
                    Quantity {
                        string: string("128Mi"),
                    },
                )]),
                requests: BTreeMap::from([(
                    "cpu".into(),
                    Quantity {
                        string: string("100m"),
                    },
                )]),
                claims: Vec::new(),
            }),
            volume_mounts: vec![pb_core::VolumeMount {
                name: string("config"),
                read_only: Some(true),
                mount_path: string("/etc/app"),
                sub_path: string(""),
                ..Default::default()
            }],
            liveness_probe: Some(pb_core::Probe {
                handler: Some(pb_core::ProbeHandler {
                    http_get: Some(pb_core::HttpGetAction {
                        path: string("/healthz"),
                        port: int_or_string("http"),
                        host: string(""),
                        scheme: string("HTTP"),
                        http_headers: Vec::new(),
                    }),
                    ..Default::default()
                }),
                initial_delay_seconds: Some(5),
                timeout_seconds: Some(0),
                period_seconds: Some(10),
                success_threshold: Some(0),
                failure_threshold: Some(3),
                termination_grace_period_seconds: None,
            }),
            readiness_probe: Some(pb_core::Probe {
                handler: Some(pb_core::ProbeHandler {
                    tcp_socket: Some(pb_core::TcpSocketAction {
                        port: int_or_string("8080"),
                        host: string(""),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            image_pull_policy: string("IfNotPresent"),
            security_context: Some(pb_core::SecurityContext {
                run_as_non_root: Some(true),
                allow_privilege_escalation: Some(false),
                capabilities: Some(pb_core::Capabilities {
                    add: Vec::new(),
                    drop: vec!["ALL".into()],
                }),
                ..Default::default()
            }),
            stdin: Some(false),
            stdin_once: Some(false),
            tty: Some(false),
            ..Default::default()
        };
        let pod_spec = pb_core::PodSpec {
            containers: vec![container],
            volumes: vec![
                pb_core::Volume {
                    name: string("config"),
                    volume_source: Some(pb_core::VolumeSource {
                        config_map: Some(pb_core::ConfigMapVolumeSource {
                            local_object_reference: Some(pb_core::LocalObjectReference {
                                name: string("settings"),
                            }),
                            items: vec![pb_core::KeyToPath {
                                key: string("app.yaml"),
                                path: string("app.yaml"),
                                mode: None,
                            }],
                            default_mode: Some(0o644),
                            optional: None,
                        }),
                        ..Default::default()
                    }),
                },
                pb_core::Volume {
                    name: string("scratch"),
                    volume_source: Some(pb_core::VolumeSource {
                        empty_dir: Some(pb_core::EmptyDirVolumeSource {
                            medium: string(""),
                            size_limit: None,
                        }),
                        ..Default::default()
                    }),
                },
            ],
            restart_policy: string("Always"),
            termination_grace_period_seconds: Some(0),
            dns_policy: string("ClusterFirst"),
            node_selector: BTreeMap::from([("disk".into(), "ssd".into())]),
            service_account_name: string("app"),
            host_network: Some(false),
            host_pid: Some(false),
            host_ipc: Some(false),
            tolerations: vec![pb_core::Toleration {
                key: string("dedicated"),
                operator: string("Equal"),
                value: string("app"),
                effect: string("NoSchedule"),
                toleration_seconds: None,
            }],
            ..Default::default()
        };
        pb::Deployment {
            metadata: Some(pb_meta::ObjectMeta {
                name: string("app"),
                ..Default::default()
            }),
            spec: Some(pb::DeploymentSpec {
                replicas: Some(0),
                selector: Some(pb_meta::LabelSelector {
                    match_labels: BTreeMap::from([("app".into(), "app".into())]),
                    match_expressions: Vec::new(),
                }),
                template: Some(pb_core::PodTemplateSpec {
                    metadata: Some(pb_meta::ObjectMeta {
                        labels: BTreeMap::from([("app".into(), "app".into())]),
                        annotations: BTreeMap::from([("example.com/rev".into(), "7".into())]),
                        ..Default::default()
                    }),
                    spec: Some(pod_spec),
                }),
                strategy: Some(pb::DeploymentStrategy {
                    r#type: string("RollingUpdate"),
                    rolling_update: Some(pb::RollingUpdateDeployment {
                        max_unavailable: int_or_string("0"),
                        max_surge: int_or_string("25%"),
                    }),
                }),
                min_ready_seconds: Some(0),
                revision_history_limit: Some(3),
                paused: Some(false),
                progress_deadline_seconds: None,
            }),
            status: Some(Default::default()),
        }
    }

    #[test]
    fn deployment_with_a_full_pod_template() {
        let body = wrap_raw("apps/v1", "Deployment", rich_deployment().encode_to_vec());
        let deployment = decode(&body).expect("decodes");
        assert!(deployment.get("status").is_none(), "status is the server's");
        let spec = &deployment["spec"];
        assert_eq!(spec["replicas"], 0, "a pointer field keeps its zero");
        assert!(spec.get("minReadySeconds").is_none() && spec.get("paused").is_none());
        assert_eq!(spec["revisionHistoryLimit"], 3);
        assert_eq!(
            spec["strategy"],
            json!({"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}, "type": "RollingUpdate"})
        );
        assert_eq!(
            spec["template"]["metadata"],
            json!({"annotations": {"example.com/rev": "7"}, "labels": {"app": "app"}})
        );
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["terminationGracePeriodSeconds"], 0);
        assert!(pod.get("hostNetwork").is_none() && pod.get("hostPID").is_none());
        assert_eq!(pod["nodeSelector"], json!({"disk": "ssd"}));
        assert_eq!(pod["serviceAccountName"], "app");
        assert_eq!(pod["restartPolicy"], "Always");
        assert_eq!(pod["dnsPolicy"], "ClusterFirst");
        assert_eq!(
            pod["tolerations"],
            json!([{"effect": "NoSchedule", "key": "dedicated", "operator": "Equal", "value": "app"}])
        );
        assert_eq!(
            pod["volumes"],
            json!([
                {"configMap": {"defaultMode": 420, "items": [{"key": "app.yaml", "path": "app.yaml"}], "name": "settings"},
                 "name": "config"},
                {"emptyDir": {}, "name": "scratch"},
            ])
        );
        assert_eq!(
            pod["containers"][0],
            json!({
                "args": ["--port=8080"],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"key": "level", "name": "settings", "optional": true}}},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                ],
                "envFrom": [{"prefix": "DB_", "secretRef": {"name": "db"}}],
                "image": "registry.example.com/app:v2",
                "imagePullPolicy": "IfNotPresent",
                "livenessProbe": {
                    "failureThreshold": 3,
                    "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                    "initialDelaySeconds": 5,
                    "periodSeconds": 10,
                },
                "name": "app",
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
                "readinessProbe": {"tcpSocket": {"port": 8080}},
                "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m"}},
                "securityContext": {
                    "allowPrivilegeEscalation": false,
                    "capabilities": {"drop": ["ALL"]},
                    "runAsNonRoot": true,
                },
                "volumeMounts": [{"mountPath": "/etc/app", "name": "config", "readOnly": true}],
            })
        );
    }

    #[test]
    fn bad_int_or_string_is_reported_with_its_path() {
        let mut deployment = rich_deployment();
        if let Some(strategy) = deployment.spec.as_mut().and_then(|s| s.strategy.as_mut()) {
            strategy.rolling_update = Some(pb::RollingUpdateDeployment {
                max_surge: Some(IntOrString {
                    r#type: Some(9),
                    ..Default::default()
                }),
                max_unavailable: None,
            });
        }
        let body = wrap_raw("apps/v1", "Deployment", deployment.encode_to_vec());
        let err = decode(&body).expect_err("type 9 is not an IntOrString");
        assert_eq!(
            err.to_string(),
            "protobuf body holds an invalid Deployment: spec.strategy.rollingUpdate.maxSurge: unknown IntOrString type 9"
        );
    }
}
