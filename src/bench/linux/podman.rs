//! The podman column: `podman kube play` of the same pod, with a store,
//! configuration and temp dirs of its own under the bench's work dir. The
//! settings are the ones test-infra.md found needed here: runc (crun refuses
//! the hybrid cgroup layout), ulimits the caller may set, no network beyond
//! the pod's own loopback (`--network none`, like a wasmkube pod's netns).
//! `kube play` returns once the pod's containers are started, so its wall
//! time is the create → running figure; `podman inspect` then confirms it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::Command;

use super::image::{docker_archive, pod_manifest, Layout};
use super::Summary;

const POD: &str = "bench-linux";
/// kube play names a pod's containers `<pod>-<container>`.
const CONTAINER: &str = "bench-linux-c";

/// Podman pointed at a private store and configuration.
struct Podman {
    dir: PathBuf,
}

impl Podman {
    fn setup(dir: &Path) -> anyhow::Result<Podman> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        std::fs::create_dir_all(dir.join("cni"))?;
        std::fs::write(dir.join("containers.conf"), containers_conf(dir))?;
        std::fs::write(dir.join("registries.conf"), "unqualified-search-registries = []\n")?;
        Ok(Podman { dir: dir.to_owned() })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", self.dir.join("registries.conf"))
            .arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    /// Runs podman to completion and returns its stdout.
    async fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.command(args).output().await.context("running podman")?;
        if !out.status.success() {
            bail!("podman {}: {}: {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// containers.conf for this machine (see the module doc).
fn containers_conf(dir: &Path) -> String {
    format!(
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=4096:4096\"]\n\n\
         [engine]\nruntime = \"runc\"\ntmp_dir = \"{}\"\n\n\
         [network]\nnetwork_config_dir = \"{}\"\n",
        dir.join("tmp").display(),
        dir.join("cni").display()
    )
}

/// Loads the image, then plays and downs the pod 1 + `n` times (the first builds podman's
/// pause image and is not timed). The store is reset at the end, even on failure.
pub async fn measure(layout: &Layout, dir: &Path, n: usize) -> anyhow::Result<Summary> {
    let podman = Podman::setup(dir)?;
    let result = play_all(&podman, layout, n).await;
    if let Err(e) = podman.run(&["system", "reset", "-f"]).await {
        eprintln!("podman system reset: {e:#}");
    }
    result
}

async fn play_all(podman: &Podman, layout: &Layout, n: usize) -> anyhow::Result<Summary> {
    let tar = docker_archive(layout, &podman.dir).await?;
    podman.run(&["load", "-q", "-i", tar.to_str().context("a non-UTF-8 work dir")?]).await?;
    let manifest = podman.dir.join("pod.json");
    std::fs::write(&manifest, serde_json::to_vec_pretty(&pod_manifest(POD, "IfNotPresent", None))?)?;
    let manifest = manifest.to_str().context("a non-UTF-8 work dir")?;

    let mut first = Duration::ZERO;
    let mut samples = Vec::with_capacity(n);
    for i in 0..=n {
        let started = Instant::now();
        podman.run(&["kube", "play", "--network", "none", manifest]).await?;
        let took = started.elapsed();
        let state = podman.run(&["inspect", "--format", "{{.State.Status}}", CONTAINER]).await?;
        if state.trim() != "running" {
            bail!("after kube play, {CONTAINER} is {:?}, not running", state.trim());
        }
        podman.run(&["kube", "down", manifest]).await?;
        if i == 0 {
            first = took;
        } else {
            samples.push(took);
        }
    }
    Ok(Summary::of(first, samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_uses_runc_and_settable_ulimits_under_the_work_dir() {
        let conf = containers_conf(Path::new("/w/podman"));
        assert!(conf.contains("runtime = \"runc\""), "{conf}");
        assert!(conf.contains("\"nofile=20000:20000\", \"nproc=4096:4096\""), "{conf}");
        assert!(conf.contains("tmp_dir = \"/w/podman/tmp\""), "{conf}");
        assert!(conf.contains("network_config_dir = \"/w/podman/cni\""), "{conf}");
    }
}
