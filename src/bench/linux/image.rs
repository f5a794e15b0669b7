//! The one busybox image every column runs, built offline from the host's
//! busybox-static with umoci (as `tests/infra/build-test-images.sh` does): an
//! OCI layout for `wasmkube images import`, a docker-archive of it for
//! `podman load`, and an OCI runtime bundle of it for crun.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::process::Command;

/// The name the image is recorded under in wasmkube's and podman's stores.
pub const IMAGE: &str = "localhost/bench-busybox:1.0";
/// The tag inside the OCI layout.
const LAYOUT_TAG: &str = "busybox";
/// The host binary copied into the rootfs: it must be static (Debian's busybox-static).
const BUSYBOX: &str = "/bin/busybox";
/// What the container runs in every column.
pub const COMMAND: [&str; 3] = ["sh", "-c", "sleep 3600"];

/// An OCI layout holding the busybox image alone.
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    /// `oci:DIR:TAG`, the layout's image as skopeo names it.
    pub fn skopeo_ref(&self) -> String {
        format!("oci:{}:{LAYOUT_TAG}", self.dir.display())
    }

    fn umoci_ref(&self) -> String {
        format!("{}:{LAYOUT_TAG}", self.dir.display())
    }
}

/// Builds the busybox layout in `work/layout` (about 0.1 s).
pub async fn build_layout(work: &Path) -> anyhow::Result<Layout> {
    if !Path::new(BUSYBOX).exists() {
        bail!("{BUSYBOX} is missing: install busybox-static (bash tests/infra/install-deps.sh)");
    }
    let layout = Layout { dir: work.join("layout") };
    let bundle = work.join("image-bundle");
    run("umoci", &["init", "--layout", &path_str(&layout.dir)?]).await?;
    run("umoci", &["new", "--image", &layout.umoci_ref()]).await?;
    run("umoci", &["unpack", "--image", &layout.umoci_ref(), &path_str(&bundle)?]).await?;
    populate_rootfs(&bundle.join("rootfs")).await?;
    run("umoci", &["repack", "--history.created_by", "busybox rootfs", "--image", &layout.umoci_ref(), &path_str(&bundle)?]).await?;
    run(
        "umoci",
        &["config", "--no-history", "--image", &layout.umoci_ref(), "--os", "linux", "--architecture", "amd64"],
    )
    .await?;
    run("umoci", &["config", "--no-history", "--image", &layout.umoci_ref(), "--config.env", "PATH=/bin", "--config.cmd", "/bin/sh"])
        .await?;
    std::fs::remove_dir_all(&bundle).with_context(|| format!("removing {}", bundle.display()))?;
    Ok(layout)
}

/// The busybox rootfs: the binary, one symlink per applet, root in passwd/group.
async fn populate_rootfs(rootfs: &Path) -> anyhow::Result<()> {
    for dir in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(rootfs.join(dir))?;
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).context("copying busybox")?;
    let list = Command::new(BUSYBOX).arg("--list").output().await.context("busybox --list")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))?;
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n")?;
    Ok(())
}

/// The layout's image as a docker-archive tar named [`IMAGE`], for `podman load` (needs skopeo).
pub async fn docker_archive(layout: &Layout, work: &Path) -> anyhow::Result<PathBuf> {
    let tar = work.join("busybox-docker.tar");
    let dest = format!("docker-archive:{}:{IMAGE}", tar.display());
    run("skopeo", &["copy", "-q", &layout.skopeo_ref(), &dest]).await?;
    Ok(tar)
}

/// An OCI runtime bundle of the image in `dir`, its spec edited by [`bundle_spec`].
pub async fn runtime_bundle(layout: &Layout, dir: &Path) -> anyhow::Result<()> {
    run("umoci", &["unpack", "--image", &layout.umoci_ref(), &path_str(dir)?]).await?;
    let config = dir.join("config.json");
    let spec: Value = serde_json::from_slice(&std::fs::read(&config)?).context("umoci's config.json")?;
    std::fs::write(&config, serde_json::to_vec_pretty(&bundle_spec(spec))?)?;
    Ok(())
}

/// umoci's runtime spec made to run [`COMMAND`] detached: no terminal (crun's `tcgetattr`
/// fails without one), the bench's argv in place of the image's Cmd.
pub fn bundle_spec(mut spec: Value) -> Value {
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(COMMAND);
    spec
}

/// The pod both wasmkube and `podman kube play` run: one busybox container, the image
/// already in the store (`Never` for wasmkube, which must not reach a registry; podman
/// treats `IfNotPresent` the same once the image is loaded).
pub fn pod_manifest(name: &str, pull_policy: &str, node: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench-linux"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": IMAGE, "imagePullPolicy": pull_policy, "command": COMMAND}],
        },
    });
    if let Some(node) = node {
        pod["spec"]["nodeName"] = json!(node);
    }
    pod
}

fn path_str(path: &Path) -> anyhow::Result<String> {
    path.to_str().map(str::to_owned).with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Runs a tool to completion, failing with its stderr.
pub async fn run(tool: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(tool).args(args).output().await.with_context(|| format!("running {tool}"))?;
    if !out.status.success() {
        bail!("{tool} {}: {}: {}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_runs_the_bench_command_without_a_terminal() {
        let umoci = json!({"ociVersion": "1.0.2", "process": {"terminal": true, "args": ["/bin/sh"], "cwd": "/"}, "root": {"path": "rootfs"}});
        let spec = bundle_spec(umoci);
        assert_eq!(spec["process"]["terminal"], false);
        assert_eq!(spec["process"]["args"], json!(["sh", "-c", "sleep 3600"]));
        assert_eq!(spec["process"]["cwd"], "/", "the rest of umoci's spec is kept");
        assert_eq!(spec["root"]["path"], "rootfs");
    }

    #[test]
    fn the_pod_runs_the_cached_image() {
        let pod = pod_manifest("p-1", "Never", Some("node-a"));
        assert_eq!(pod["metadata"]["name"], "p-1");
        assert_eq!(pod["spec"]["nodeName"], "node-a");
        let c = &pod["spec"]["containers"][0];
        assert_eq!(c["image"], IMAGE);
        assert_eq!(c["imagePullPolicy"], "Never");
        assert_eq!(c["command"], json!(COMMAND));
        assert!(pod_manifest("p", "IfNotPresent", None)["spec"].get("nodeName").is_none());
    }
}
