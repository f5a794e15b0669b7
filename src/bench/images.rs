//! `wasmkube bench images`: pull + unpack of the same test image, ours against `skopeo copy` to
//! an OCI layout followed by `umoci unpack`, each from a cold store, side by side in one run.
//! Starts its own registries with tests/infra/registry.sh and stops them afterwards. Our
//! snapshots use overlay layer directories when the kernel allows (`--copy-snapshots` forces full
//! copies, the fallback), so ours unpacks each layer once where umoci builds one merged tree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use images::{ImageRef, ImageService, Keyring, RegistryOptions, Silent, SnapshotBackend};

/// `wasmkube bench images` options.
#[derive(clap::Args, Debug)]
pub struct BenchImagesArgs {
    /// Test image to pull (a tag pushed by tests/infra/build-test-images.sh).
    #[arg(long, default_value = "layered:1.0")]
    pub image: String,
    /// Runs per tool; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Use the copy snapshot backend even where overlay works.
    #[arg(long)]
    pub copy_snapshots: bool,
}

fn infra(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/infra").join(script)
}

fn sh(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Stops the registries however the bench ends.
struct Registries(PathBuf);

impl Drop for Registries {
    fn drop(&mut self) {
        let _ = Command::new(infra("registry.sh")).arg("stop").arg(&self.0).output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the benchmark and prints both medians and their ratio.
pub async fn run(args: BenchImagesArgs) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("wasmkube-bench-images-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    sh(Command::new(infra("registry.sh")).arg("start").arg(&work))?;
    let registries = Registries(work.clone());
    sh(Command::new(infra("build-test-images.sh")).arg(&work))?;
    let addr = std::fs::read_to_string(work.join("plain.addr"))?.trim().to_owned();
    let image: ImageRef = format!("{addr}/{}", args.image).parse()?;

    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut backend = None;
    for run in 0..args.runs.max(1) {
        let dir = work.join(format!("run-{run}"));
        // Ours: cold store, pull then unpack into a snapshot. Opening the store (and its overlay
        // probe) happens once per node, not per pull, so it is outside the timing.
        let options = RegistryOptions { insecure: vec![addr.clone()], ..Default::default() };
        let store = if args.copy_snapshots {
            ImageService::open_with_backend(&dir.join("ours"), options, SnapshotBackend::Copy)?
        } else {
            ImageService::open(&dir.join("ours"), options)?
        };
        backend = Some(store.snapshot_backend());
        let started = Instant::now();
        let pulled = store.pull(&image, &Keyring::default(), &Silent).await?;
        store.prepare(&pulled.record).await?;
        ours.push(started.elapsed());
        // Peer: skopeo copy to an OCI layout, then umoci unpack.
        let layout = format!("{}:bench", dir.join("layout").display());
        let started = Instant::now();
        sh(Command::new("skopeo").args(["copy", "-q", "--src-tls-verify=false"]).arg(format!("docker://{image}")).arg(format!("oci:{layout}")))?;
        sh(Command::new("umoci").args(["unpack", "--image", &layout]).arg(dir.join("bundle")))?;
        peer.push(started.elapsed());
        std::fs::remove_dir_all(&dir)?;
    }
    drop(registries);
    let (ours, peer) = (median(&mut ours), median(&mut peer));
    println!("image           {image}");
    println!("snapshots       {}", backend.map_or("-".to_owned(), |b| format!("{b:?}").to_lowercase()));
    println!("wasmkube        pull+unpack  median {:>8.1} ms", ms(ours));
    println!("skopeo+umoci    copy+unpack  median {:>8.1} ms", ms(peer));
    println!("ratio           ours/peer    {:.2}", ms(ours) / ms(peer));
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
