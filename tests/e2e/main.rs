//! End-to-end tests: the real `wasmkube` binary on 127.0.0.1, driven by the
//! real kubectl (and, where kubectl cannot say it, a raw HTTPS client).

mod harness;
mod harness_agents;
mod kubectl_apply;
mod kubectl_edit;
mod kubectl_get;
mod bad_input;
mod durability;
mod kube_client;
mod server_lifecycle;
mod wasm_pods;
mod wasm_limits;
mod wasm_volumes;
mod wasm_components;
mod linux_pods;
mod garbage_collection;
mod scheduling;
mod deployments;
mod endpoints;
mod node_lifecycle;
mod quota;
mod statefulsets;
mod storage;
mod jobs;
mod daemonsets;
mod linux_exec_tty;
mod samples;
mod leader_election;
mod services;
mod dns;
mod port_forward;
mod network_pods;
mod probes_net;
mod ingress;
mod network_wasm;
