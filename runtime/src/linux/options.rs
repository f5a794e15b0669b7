//! How a node runs Linux containers.

use std::path::PathBuf;

use crate::logs::{LogHub, RotationPolicy};

#[derive(Clone, Debug)]
pub struct LinuxOptions {
    /// Sandboxes' `/etc` files and containers' writable layers live under `<state_dir>`.
    pub state_dir: PathBuf,
    /// The cgroup (beneath the agent's own) that holds the QoS parents and pods.
    pub cgroup_parent: String,
    /// `pids.max` of every pod cgroup (a fork bomb stays inside its pod).
    pub pids_limit: Option<u64>,
    /// Copied into every container's `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// The registry of live logs, shared with the agent that serves `kubectl logs -f`.
    pub log_hub: LogHub,
    pub log_rotation: RotationPolicy,
}

impl LinuxOptions {
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        LinuxOptions {
            state_dir: state_dir.into(),
            cgroup_parent: "wasmkube".into(),
            pids_limit: Some(4096),
            resolv_conf: PathBuf::from("/etc/resolv.conf"),
            log_hub: LogHub::new(),
            log_rotation: RotationPolicy::default(),
        }
    }
}
