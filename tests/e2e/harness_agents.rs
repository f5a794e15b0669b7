//! More nodes for a test cluster: `wasmkube agent` processes on 127.0.0.1,
//! each with its own node name and data dir, joined to a test [`Server`].

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::harness::{import_samples, remove_dead_node_networks, stdout, wait_for, Server, DEFAULT_SAMPLES};

/// Each extra agent has an address of its own (127.0.0.2, .3 ...), as separate machines
/// would: NodePorts and LoadBalancer ports of several nodes then never collide.
static NEXT_NODE_IP: AtomicU8 = AtomicU8::new(2);

/// A running `wasmkube agent`, killed when dropped.
pub struct Agent {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub node_name: String,
    /// The agent's `--node-ip` (its InternalIP).
    pub node_ip: String,
}

impl Server {
    /// Starts a `wasmkube agent` named `node_name` joined to this server, its image store
    /// holding the default sample modules, and waits until its Node is Ready.
    pub fn add_agent(&self, node_name: &str) -> Agent {
        let dir = tempfile::tempdir().expect("temp dir");
        let node_ip = format!("127.0.0.{}", NEXT_NODE_IP.fetch_add(1, Ordering::Relaxed).max(2));
        let mut agent = Agent { child: None, dir, node_name: node_name.to_string(), node_ip };
        import_samples(&agent.data_dir(), DEFAULT_SAMPLES);
        agent.launch(self);
        let jsonpath = r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#;
        wait_for(&format!("node {node_name} Ready"), Duration::from_secs(60), || {
            (stdout(&self.kubectl(&["get", "node", node_name, "-o", jsonpath])) == "True").then_some(())
        });
        agent
    }
}

impl Agent {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn launch(&mut self, server: &Server) {
        let child = Command::new(env!("CARGO_BIN_EXE_wasmkube"))
            .args(["agent", "--server", &server.url, "--node-name", &self.node_name, "--node-ip", &self.node_ip])
            .arg("--token-file")
            .arg(server.data_dir().join("node.token"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .env("WASMKUBE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn wasmkube agent");
        self.child = Some(child);
    }

    /// `kill -9` the agent: its Lease stops being renewed, its pods are orphaned on the node.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
        remove_dead_node_networks();
    }
}
