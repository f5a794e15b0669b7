//! What every part of the agent shares: the API client, the runtimes by
//! handler, the image store, the Event recorder and the live-pod registry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use kube::Client;

use super::events::Recorder;
use super::live::LivePods;
use super::proxy::ServiceTable;
use super::spec::downward::NodeFacts;
use crate::cri::ContainerRuntime;
use crate::logs::LogHub;
use crate::net::NodeNetwork;

pub struct AgentContext {
    pub client: Client,
    pub node: NodeFacts,
    pub data_dir: PathBuf,
    pub runtimes: HashMap<&'static str, Arc<dyn ContainerRuntime>>,
    pub images: Arc<images::ImageService>,
    pub recorder: Recorder,
    pub live: LivePods,
    pub log_hub: LogHub,
    /// The node's pod network (its namespace, bridge and pod addresses);
    /// `None` on a node that cannot have one (pods then get no IP).
    pub network: Option<Arc<NodeNetwork>>,
    /// Services and their ready endpoints (the proxy, DNS and Ingress read it; `proxy::run` feeds it).
    pub services: ServiceTable,
}

impl AgentContext {
    /// `<data_dir>/pods/<uid>`.
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.data_dir.join("pods").join(uid)
    }

    /// The handlers this node has, sorted, for messages.
    pub fn handler_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.runtimes.keys().copied().collect();
        names.sort_unstable();
        names
    }
}
