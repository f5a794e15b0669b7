//! The pods running on this node as the agent's HTTPS server needs them:
//! namespace/name → uid, runtime, and each container's current run and
//! restart count (its log file). Written by pod workers, read by requests.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::cri::{ContainerId, ContainerRuntime, SandboxId};

/// One container as the server sees it.
#[derive(Clone, Debug, Default)]
pub struct LiveContainer {
    /// The current run, if one exists.
    pub id: Option<ContainerId>,
    /// Index of the current (or last) run: its log is `<restart>.log`.
    pub restart: i32,
}

/// One pod as the server sees it.
#[derive(Clone)]
pub struct LivePod {
    pub uid: String,
    pub runtime: Option<Arc<dyn ContainerRuntime>>,
    /// The pod's sandbox once created (port-forward dials into its network namespace).
    pub sandbox: Option<SandboxId>,
    /// `<data_dir>/pods/<uid>/logs`.
    pub log_dir: PathBuf,
    pub containers: HashMap<String, LiveContainer>,
}

/// Shared registry, cheap to clone.
#[derive(Clone, Default)]
pub struct LivePods {
    inner: Arc<RwLock<HashMap<(String, String), LivePod>>>,
}

impl LivePods {
    pub fn get(&self, namespace: &str, name: &str) -> Option<LivePod> {
        let map = self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(&(namespace.to_string(), name.to_string())).cloned()
    }

    /// Applies `change` to the entry of the pod (creating it with `init`).
    pub fn update(&self, namespace: &str, name: &str, init: impl FnOnce() -> LivePod, change: impl FnOnce(&mut LivePod)) {
        let mut map = self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(map.entry((namespace.to_string(), name.to_string())).or_insert_with(init));
    }

    /// Every pod the agent runs now.
    pub fn all(&self) -> Vec<LivePod> {
        let map = self.inner.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.values().cloned().collect()
    }

    /// Forgets the pod, but only the instance with `uid` (a new pod of the same name may exist).
    pub fn remove(&self, namespace: &str, name: &str, uid: &str) {
        let mut map = self.inner.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (namespace.to_string(), name.to_string());
        if map.get(&key).is_some_and(|p| p.uid == uid) {
            map.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str) -> LivePod {
        LivePod { uid: uid.into(), runtime: None, sandbox: None, log_dir: PathBuf::new(), containers: HashMap::new() }
    }

    #[test]
    fn removal_is_per_uid() {
        let live = LivePods::default();
        live.update("ns", "p", || pod("new"), |p| {
            p.containers.insert("c".into(), LiveContainer { id: None, restart: 2 });
        });
        live.remove("ns", "p", "old");
        assert_eq!(live.get("ns", "p").map(|p| p.containers["c"].restart), Some(2));
        live.remove("ns", "p", "new");
        assert!(live.get("ns", "p").is_none());
    }
}
