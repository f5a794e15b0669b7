//! `wasmkube bench net`: HTTP requests/s and p50/p99 latency on the pod
//! network, all in one run, from a load generator in this process whose
//! sockets are made inside the embedded node's network namespace (the host has
//! no route to pod or service addresses):
//!
//! - a wasm HTTP pod (samples/wasm/httpd.wasm) and a Linux one (busybox httpd),
//!   each direct to podIP:port and through its Service's ClusterIP (the agent's
//!   service proxy), for the proxy's share of the latency (goal: ≤ 20 % on p50);
//! - a wasi-http proxy component (samples/wasm/http-hello.wasm) served by a
//!   wasm pod, against the same component under `wasmtime serve` on 127.0.0.1
//!   (goal: ≥ 0.8× its requests/s).
//!
//! Every row gets the same concurrency, warm-up and measured window; both sides
//! of each comparison use the same connection mode.

mod cluster;
mod histogram;
mod http;
mod load;
mod serve;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::harness::ms;
use cluster::{Cluster, PodSpec, Served};
use load::{Mode, Outcome, Settings, Target};

/// `wasmkube bench net` options.
#[derive(clap::Args, Debug)]
pub struct BenchNetArgs {
    /// Connections (workers) sending requests at once, in every row.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Measured seconds per row.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds of load before each row's measured window (not counted).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Directory of the sample modules (httpd.wasm, http-hello.wasm).
    #[arg(long, default_value_os_t = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/wasm"))]
    pub samples: PathBuf,
    /// The wasmtime CLI for the `wasmtime serve` comparison (default: `wasmtime` on PATH).
    #[arg(long)]
    pub wasmtime: Option<PathBuf>,
}

const HTTPD_IMAGE: &str = "local/httpd:1.0";
const HTTP_HELLO_IMAGE: &str = "local/http-hello:1.0";
/// Goals of issue 7.
const PROXY_P50_GOAL_PCT: f64 = 20.0;
const SERVE_RATIO_GOAL: f64 = 0.8;
/// The httpd samples (wasm httpd.wasm, busybox httpd) close the connection after every response.
const HTTPD_MODE: Mode = Mode::FreshConnection;
/// Both wasi-http servers are hyper, which keeps connections alive.
const WASI_HTTP_MODE: Mode = Mode::KeepAlive;

/// One row's figures, or why it has none.
enum Row {
    Measured(Outcome),
    Skipped(String),
}

pub async fn run(args: BenchNetArgs) -> anyhow::Result<()> {
    if !running_as_root() {
        anyhow::bail!("bench net needs root (pod networking creates network namespaces)");
    }
    let settings = Settings {
        concurrency: args.concurrency.max(1),
        warmup: Duration::from_secs_f64(args.warmup.max(0.0)),
        duration: Duration::from_secs_f64(args.duration.max(0.1)),
        timeout: Duration::from_secs(10),
    };
    let work = tempfile::Builder::new().prefix("wasmkube-bench-net-").tempdir()?;
    let httpd = args.samples.join("httpd.wasm");
    anyhow::ensure!(httpd.exists(), "{} is missing (samples/wasm/build.sh builds it)", httpd.display());
    let hello = args.samples.join("http-hello.wasm");
    let mut imports = vec![(httpd, HTTPD_IMAGE.to_string())];
    if hello.exists() {
        imports.push((hello.clone(), HTTP_HELLO_IMAGE.to_string()));
    }
    let linux_image = match super::linux::image::build_layout(work.path()).await {
        Ok(layout) => {
            imports.push((layout.dir, super::linux::image::IMAGE.to_string()));
            Ok(())
        }
        Err(e) => Err(format!("no busybox image: {e:#} (umoci and busybox-static: bash tests/infra/install-deps.sh)")),
    };

    let cluster = Cluster::start(&imports).await.context("starting the server with its node")?;
    println!(
        "wasmkube bench net: {} connections, {:.1} s warm-up + {:.1} s measured per row; load from this process, sockets in the node's namespace {}",
        settings.concurrency,
        settings.warmup.as_secs_f64(),
        settings.duration.as_secs_f64(),
        cluster.node_netns_name
    );
    if cfg!(debug_assertions) {
        println!("(debug build: the figures are not the real ones; build with --release)");
    }
    let specs = pod_specs(hello.exists(), linux_image.is_ok());

    // Start every pod first, so no row runs beside a pod still compiling.
    let mut served = Vec::new();
    for spec in &specs {
        served.push(cluster.serve(spec).await.map_err(|e| format!("{e:#}")));
    }
    let find = |name: &str| specs.iter().position(|s| s.name == name).map(|i| &served[i]);

    println!("httpd rows: {} (both httpd servers close the connection after each response; the connect is in the latency)", HTTPD_MODE.describe());
    let wasm = measure_pair(&cluster, "wasm httpd", find(WASM_POD), settings).await;
    let linux = match &linux_image {
        Ok(()) => measure_pair(&cluster, "linux httpd", find(LINUX_POD), settings).await,
        Err(why) => {
            print_row("linux httpd", "", &Row::Skipped(why.clone()));
            None
        }
    };

    println!("wasi-http rows: {} on both sides (http-hello.wasm)", WASI_HTTP_MODE.describe());
    let pod_row = match find(WASI_HTTP_POD) {
        None => Row::Skipped(format!("{} is missing (samples/wasm/build.sh builds it)", hello.display())),
        Some(Err(e)) => Row::Skipped(format!("the pod did not serve: {e}")),
        Some(Ok(s)) => Row::Measured(load::run(&cluster.target(s.pod, WASI_HTTP_MODE), settings).await),
    };
    print_row("wasi-http pod", &find(WASI_HTTP_POD).and_then(|s| s.as_ref().ok()).map_or(String::new(), |s| format!("pod {}", s.pod)), &pod_row);

    // The peer runs alone: the server stops first (and shows it cleans up after itself).
    match cluster.shutdown(&specs).await {
        Ok(true) => println!("server stopped; its node namespace is gone"),
        Ok(false) => println!("server stopped, but its node namespace is still in /run/netns (wasmkube cleanup removes it)"),
        Err(e) => println!("stopping the server: {e:#}"),
    }
    let serve_row = if !hello.exists() {
        Row::Skipped("no http-hello.wasm".into())
    } else {
        match serve::find_wasmtime(args.wasmtime.as_deref()) {
            Err(why) => Row::Skipped(why),
            Ok(cli) => match serve::WasmtimeServe::start(&cli, &hello, &work.path().join("wasmtime-serve.log")).await {
                Err(e) => Row::Skipped(format!("{e:#}")),
                Ok(peer) => {
                    println!("peer: {} serve -S cli --addr {} http-hello.wasm ({})", cli.display(), peer.addr, peer.version);
                    let target = Target { addr: peer.addr, netns: None, mode: WASI_HTTP_MODE };
                    Row::Measured(load::run(&target, settings).await)
                }
            },
        }
    };
    print_row("wasmtime serve", "127.0.0.1 (host)", &serve_row);

    println!("verdicts:");
    print_proxy_verdict("wasm", wasm.as_ref());
    print_proxy_verdict("linux", linux.as_ref());
    match (&pod_row, &serve_row) {
        (Row::Measured(pod), Row::Measured(peer)) if peer.requests_per_sec() > 0.0 => {
            let ratio = pod.requests_per_sec() / peer.requests_per_sec();
            println!(
                "  wasi-http pod / wasmtime serve requests/s: {ratio:.2}x ({:.0} vs {:.0}; goal >= {SERVE_RATIO_GOAL}x): {}",
                pod.requests_per_sec(),
                peer.requests_per_sec(),
                met(ratio >= SERVE_RATIO_GOAL)
            );
        }
        _ => println!("  wasi-http pod / wasmtime serve: no figure (a row was skipped)"),
    }
    Ok(())
}

const WASM_POD: &str = "net-wasm";
const LINUX_POD: &str = "net-linux";
const WASI_HTTP_POD: &str = "net-wasi-http";

fn pod_specs(with_hello: bool, with_linux: bool) -> Vec<PodSpec> {
    let mut specs = vec![PodSpec { name: WASM_POD, image: HTTPD_IMAGE.into(), command: None, service: true }];
    if with_linux {
        let script = format!("echo hello from busybox > /tmp/index.html && exec httpd -f -p {} -h /tmp", cluster::POD_PORT);
        specs.push(PodSpec { name: LINUX_POD, image: super::linux::image::IMAGE.into(), command: Some(vec!["sh".into(), "-c".into(), script]), service: true });
    }
    if with_hello {
        specs.push(PodSpec { name: WASI_HTTP_POD, image: HTTP_HELLO_IMAGE.into(), command: None, service: false });
    }
    specs
}

/// Direct and ClusterIP rows of one pod, printed as measured; `None` when either is missing.
async fn measure_pair(cluster: &Cluster, label: &str, served: Option<&Result<Served, String>>, settings: Settings) -> Option<(Outcome, Outcome)> {
    let served = match served? {
        Err(e) => {
            print_row(label, "", &Row::Skipped(format!("the pod did not serve: {e}")));
            return None;
        }
        Ok(s) => s,
    };
    let direct = Row::Measured(load::run(&cluster.target(served.pod, HTTPD_MODE), settings).await);
    print_row(label, &format!("pod {}", served.pod), &direct);
    let via = match served.cluster_ip {
        Some(vip) => {
            let via = Row::Measured(load::run(&cluster.target(vip, HTTPD_MODE), settings).await);
            print_row(label, &format!("ClusterIP {vip}"), &via);
            via
        }
        None => Row::Skipped("no Service".into()),
    };
    match (direct, via) {
        (Row::Measured(direct), Row::Measured(via)) => Some((direct, via)),
        _ => None,
    }
}

fn print_row(label: &str, place: &str, row: &Row) {
    match row {
        Row::Skipped(why) => println!("  {label:<15} skipped: {why}"),
        Row::Measured(o) => {
            let errors = match &o.first_error {
                Some(e) => format!(", {} errors (first: {e})", o.errors),
                None => String::new(),
            };
            println!(
                "  {label:<15} {place:<26} {:>9.0} req/s  p50 {:>9}  p99 {:>9}  ({} requests, {} new connections{errors})",
                o.requests_per_sec(),
                ms(o.latency.percentile(50.0)),
                ms(o.latency.percentile(99.0)),
                o.latency.count(),
                o.connections
            );
        }
    }
}

/// How much the ClusterIP adds to the p50 of the direct path, in percent.
fn proxy_overhead_pct(direct: &Outcome, via: &Outcome) -> Option<f64> {
    let (d, v) = (direct.latency.percentile(50.0), via.latency.percentile(50.0));
    (!d.is_zero()).then(|| (v.as_secs_f64() / d.as_secs_f64() - 1.0) * 100.0)
}

fn print_proxy_verdict(what: &str, pair: Option<&(Outcome, Outcome)>) {
    match pair.and_then(|(direct, via)| Some((proxy_overhead_pct(direct, via)?, direct, via))) {
        Some((pct, direct, via)) => println!(
            "  {what} service proxy adds {pct:+.1} % to p50 ({} -> {}; goal <= {PROXY_P50_GOAL_PCT} %): {}",
            ms(direct.latency.percentile(50.0)),
            ms(via.latency.percentile(50.0)),
            met(pct <= PROXY_P50_GOAL_PCT)
        ),
        None => println!("  {what} service proxy: no figure (a row was skipped or had no samples)"),
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// Whether this process runs as root: /proc/self belongs to the effective uid.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(p50_us: u64, n: u64) -> Outcome {
        let mut o = Outcome { window: Duration::from_secs(1), ..Outcome::default() };
        for _ in 0..n {
            o.latency.record(Duration::from_micros(p50_us));
        }
        o
    }

    #[test]
    fn proxy_overhead_is_relative_to_the_direct_p50() {
        let pct = proxy_overhead_pct(&outcome(100, 10), &outcome(115, 10)).unwrap();
        assert!((pct - 15.0).abs() < 1e-9, "{pct}");
        assert!(proxy_overhead_pct(&outcome(100, 10), &outcome(90, 10)).unwrap() < 0.0);
        assert_eq!(proxy_overhead_pct(&outcome(0, 0), &outcome(90, 10)), None);
    }

    #[test]
    fn rows_follow_the_samples_present() {
        let names = |specs: Vec<PodSpec>| specs.iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(names(pod_specs(true, true)), [WASM_POD, LINUX_POD, WASI_HTTP_POD]);
        assert_eq!(names(pod_specs(false, false)), [WASM_POD]);
        let linux = &pod_specs(false, true)[1];
        assert!(linux.service);
        assert!(linux.command.as_ref().unwrap()[2].contains("httpd -f -p 8080"));
        assert!(!pod_specs(true, false)[1].service, "the wasi-http pod is measured direct only");
    }

    #[test]
    fn requests_per_second_over_the_window() {
        assert_eq!(outcome(100, 50).requests_per_sec(), 50.0);
    }
}
