//! `wasmkube images list|pull|rm|import|gc`: the node's image store from the command line, with
//! per-layer progress (bytes done / total) on pulls when stdout is a terminal.

use std::collections::{BTreeMap, HashSet};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use images::{Digest, ImageKind, ImageRef, ImageService, Keyring, Progress, RegistryOptions, Silent, SnapshotLayout};

/// `wasmkube images ...`
#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    /// The node's data directory (as `wasmkube server --data-dir`); images live in DATA/images.
    #[arg(long, env = "WASMKUBE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// A registry (host:port) to reach over plain HTTP. Repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,
    /// A docker-style config.json with registry credentials.
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ImagesCommand,
}

/// The image subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ImagesCommand {
    /// List the images on this node.
    List,
    /// Pull an image (by tag or digest) from its registry.
    Pull { image: String },
    /// Forget an image; its blobs go at the next `gc` unless another image uses them.
    Rm { image: String },
    /// Import an OCI layout dir, an OCI or docker-archive tar, or a bare .wasm (with --tag).
    Import {
        path: PathBuf,
        /// The name to record the image under (required for a bare .wasm).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Remove unused images, oldest first, until the store is under --max-bytes.
    Gc {
        #[arg(long, default_value_t = 0)]
        max_bytes: u64,
    },
}

/// Runs one `images` subcommand.
pub async fn run(args: ImagesArgs) -> anyhow::Result<()> {
    let options = RegistryOptions { insecure: args.insecure_registries.clone(), ..Default::default() };
    let store = ImageService::open(&args.data_dir, options).context("opening the image store")?;
    match args.command {
        ImagesCommand::List => list(&store),
        ImagesCommand::Pull { image } => {
            let image: ImageRef = image.parse()?;
            let keys = match &args.docker_config {
                Some(path) => Keyring::from_docker_config(&std::fs::read(path).with_context(|| format!("reading {path:?}"))?)?,
                None => Keyring::default(),
            };
            let started = Instant::now();
            let outcome = if std::io::stdout().is_terminal() {
                let bars = Bars::default();
                let result = store.pull(&image, &keys, &bars).await;
                bars.draw(true);
                result?
            } else {
                store.pull(&image, &keys, &Silent).await?
            };
            let prepared = store.prepare(&outcome.record).await?;
            println!(
                "{} {} ({} downloaded, {} already present, {:.2}s)",
                outcome.record.name,
                outcome.record.manifest_digest,
                outcome.downloaded,
                outcome.reused,
                started.elapsed().as_secs_f64()
            );
            if let images::Content::Rootfs(snapshot) = prepared.content {
                match snapshot.layout {
                    SnapshotLayout::Overlay { lower_dirs } => println!("snapshot {} (overlay, {} layers)", snapshot.chain_id, lower_dirs.len()),
                    SnapshotLayout::Merged { path } => println!("snapshot {} (copy) at {}", snapshot.chain_id, path.display()),
                }
            }
            Ok(())
        }
        ImagesCommand::Rm { image } => {
            let image: ImageRef = image.parse()?;
            match store.remove(&image)? {
                Some(r) => println!("removed {}", r.name),
                None => anyhow::bail!("image {image} is not present"),
            }
            Ok(())
        }
        ImagesCommand::Import { path, tag } => {
            let tag = tag.map(|t| t.parse::<ImageRef>()).transpose()?;
            for record in store.import(&path, tag.as_ref()).await? {
                println!("imported {} {}", record.name, record.manifest_digest);
            }
            Ok(())
        }
        ImagesCommand::Gc { max_bytes } => {
            let report = store.gc(&HashSet::new(), max_bytes).await?;
            println!(
                "removed {} images, {} blobs, {} snapshots; blobs {} -> {} bytes",
                report.removed_images.len(),
                report.removed_blobs,
                report.removed_snapshots,
                report.bytes_before,
                report.bytes_after
            );
            Ok(())
        }
    }
}

fn list(store: &ImageService) -> anyhow::Result<()> {
    println!("{:<60} {:<8} {:>12}  DIGEST", "IMAGE", "KIND", "SIZE");
    for r in store.list() {
        let kind = match r.kind {
            ImageKind::Wasm { .. } => "wasm",
            ImageKind::Rootfs { .. } => "rootfs",
        };
        println!("{:<60} {:<8} {:>12}  {}", r.name, kind, r.size(), r.manifest_digest);
    }
    Ok(())
}

/// One line per blob, redrawn in place at most every 100 ms.
#[derive(Default)]
struct Bars {
    state: Mutex<BarState>,
}

#[derive(Default)]
struct BarState {
    blobs: BTreeMap<Digest, (u64, u64, &'static str)>,
    drawn_lines: usize,
    last_draw: Option<Instant>,
}

impl Bars {
    fn update(&self, f: impl FnOnce(&mut BarState)) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state);
        drop(state);
        self.draw(false);
    }

    fn draw(&self, force: bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !force && state.last_draw.is_some_and(|t| t.elapsed() < Duration::from_millis(100)) {
            return;
        }
        let mut out = std::io::stdout().lock();
        if state.drawn_lines > 0 {
            let _ = write!(out, "\x1b[{}A", state.drawn_lines);
        }
        for (digest, (done, total, status)) in &state.blobs {
            let pct = if *total == 0 { 100 } else { done * 100 / total };
            let filled = (pct / 5) as usize;
            let _ = writeln!(
                out,
                "\x1b[2K{} [{:<20}] {:>10}/{:<10} {}",
                &digest.hex()[..12],
                "#".repeat(filled),
                done,
                total,
                status
            );
        }
        let _ = out.flush();
        state.drawn_lines = state.blobs.len();
        state.last_draw = Some(Instant::now());
    }
}

impl Progress for Bars {
    fn started(&self, blob: &Digest, total: u64, reused: bool) {
        let entry = if reused { (total, total, "already present") } else { (0, total, "downloading") };
        self.update(|s| {
            s.blobs.insert(blob.clone(), entry);
        });
    }

    fn advanced(&self, blob: &Digest, bytes: u64) {
        self.update(|s| {
            if let Some(e) = s.blobs.get_mut(blob) {
                e.0 += bytes;
            }
        });
    }

    fn finished(&self, blob: &Digest) {
        self.update(|s| {
            if let Some(e) = s.blobs.get_mut(blob) {
                if e.2 == "downloading" {
                    e.2 = "verified";
                }
            }
        });
    }
}
