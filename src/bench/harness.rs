//! A fresh `wasmkube server` child process and an HTTPS client for it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server started for a benchmark, killed when dropped.
pub struct BenchServer {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl BenchServer {
    /// The control plane alone (`--disable-agent`).
    pub async fn start() -> anyhow::Result<BenchServer> {
        Self::launch(tempfile::tempdir()?, false).await
    }

    /// The server with its embedded node agent, whose image store first receives each
    /// `(module file, tag)` of `imports` through `wasmkube images import`.
    pub async fn start_with_agent(imports: &[(PathBuf, String)]) -> anyhow::Result<BenchServer> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().join("data");
        for (file, tag) in imports {
            let status = Command::new(std::env::current_exe()?)
                .args(["images", "--data-dir"])
                .arg(&data_dir)
                .arg("import")
                .arg(file)
                .args(["--tag", tag])
                .stdout(Stdio::null())
                .status()
                .await
                .with_context(|| format!("importing {}", file.display()))?;
            if !status.success() {
                bail!("importing {} as {tag}: {status}", file.display());
            }
        }
        Self::launch(tmp, true).await
    }

    /// The control plane alone with more `wasmkube server` flags (e.g. `--disable-controllers`).
    pub async fn start_with_flags(flags: &[&str]) -> anyhow::Result<BenchServer> {
        Self::launch_with_flags(tempfile::tempdir()?, false, flags).await
    }

    async fn launch(tmp: tempfile::TempDir, with_agent: bool) -> anyhow::Result<BenchServer> {
        Self::launch_with_flags(tmp, with_agent, &[]).await
    }

    async fn launch_with_flags(tmp: tempfile::TempDir, with_agent: bool, flags: &[&str]) -> anyhow::Result<BenchServer> {
        let data_dir = tmp.path().join("data");
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args((!with_agent).then_some("--disable-agent"))
            // Room for the density benchmark's thousand idle pods: slots, and a /21 of pod
            // addresses (2,045) instead of a /24's 253.
            .args(if with_agent { vec!["--max-pods", "1200", "--node-cidr-mask-size", "21"] } else { vec![] })
            .args(flags)
            .env("WASMKUBE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting wasmkube server")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(l) = lines.next_line().await? {
                if let Some(rest) = l.strip_prefix("wasmkube API server ready on ") {
                    return Ok::<_, anyhow::Error>(rest.trim().to_string());
                }
            }
            bail!("server exited before it was ready")
        })
        .await
        .context("waiting for the server")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let token = std::fs::read_to_string(data_dir.join("admin.token"))?.trim().to_string();
        let ca = std::fs::read(data_dir.join("pki/ca.crt"))?;
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(BenchServer { child, base: addr, token, client, data_dir, _tmp: tmp })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(&self.token)
    }

    /// Resident set size of the server process, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// p-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
