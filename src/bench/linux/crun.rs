//! The floor: `crun run --detach` of an OCI bundle of the same image, which
//! returns once the container's process runs; `crun delete -f` after each.
//! crun 1.8 refuses this machine's hybrid cgroup layout (cgroup2 at
//! /sys/fs/cgroup/unified with a controller), so every crun call runs in a
//! private mount namespace where that mount is hidden: one long-lived holder
//! made by `unshare -m`, entered with `nsenter --mount` (one extra exec, a
//! millisecond or so, is part of each figure).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::image::{runtime_bundle, Layout};
use super::Summary;

const CGROUP2: &str = "/sys/fs/cgroup/unified";

/// A process parked in a mount namespace without the cgroup2 mount; killed when dropped
/// (`kill_on_drop`: `unshare` and `sh` exec into it, so nothing else is left).
struct HiddenCgroup2 {
    _holder: Child,
    mount_ns: PathBuf,
}

impl HiddenCgroup2 {
    async fn enter() -> anyhow::Result<HiddenCgroup2> {
        // `umount` fails harmlessly where nothing is mounted there (a pure v1 or v2 host).
        let script = format!("umount {CGROUP2} 2>/dev/null; echo ready; exec sleep 2147483647");
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting unshare")?;
        let stdout = holder.stdout.take().context("no stdout")?;
        let line = BufReader::new(stdout).lines().next_line().await?;
        if line.as_deref() != Some("ready") {
            bail!("the mount namespace holder did not start: {line:?}");
        }
        let pid = holder.id().context("the holder exited")?;
        Ok(HiddenCgroup2 { _holder: holder, mount_ns: PathBuf::from(format!("/proc/{pid}/ns/mnt")) })
    }

    /// `crun ARGS` inside the namespace.
    fn crun(&self, args: &[&str], stderr: &Path) -> anyhow::Result<Command> {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--mount={}", self.mount_ns.display()))
            .arg("crun")
            .args(args)
            .stdin(Stdio::null())
            // A detached container inherits these: a pipe would stay open for its whole life.
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr)?);
        Ok(cmd)
    }

    async fn run_crun(&self, args: &[&str], stderr: &Path) -> anyhow::Result<()> {
        let status = self.crun(args, stderr)?.status().await.context("running crun")?;
        if !status.success() {
            let said = std::fs::read_to_string(stderr).unwrap_or_default();
            bail!("crun {}: {status}: {}", args.join(" "), said.trim());
        }
        Ok(())
    }
}

/// 1 + `n` containers from one bundle, one after another; the first is not timed.
pub async fn measure(layout: &Layout, dir: &Path, n: usize) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    let bundle = dir.join("bundle");
    runtime_bundle(layout, &bundle).await?;
    let bundle = bundle.to_str().context("a non-UTF-8 work dir")?;
    let ns = HiddenCgroup2::enter().await?;
    let stderr = dir.join("crun.stderr");

    let mut first = Duration::ZERO;
    let mut samples = Vec::with_capacity(n);
    for i in 0..=n {
        let id = format!("wasmkube-bench-{}-{i}", std::process::id());
        let started = Instant::now();
        ns.run_crun(&["run", "--detach", "--bundle", bundle, &id], &stderr).await?;
        let took = started.elapsed();
        ns.run_crun(&["delete", "--force", &id], &stderr).await?;
        if i == 0 {
            first = took;
        } else {
            samples.push(took);
        }
    }
    Ok(Summary::of(first, samples))
}
