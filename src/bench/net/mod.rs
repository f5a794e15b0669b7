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
//! Every row gets the same concurrency, warm-up and measured time; both sides
//! of each comparison use the same connection mode, and are measured in
//! alternating rounds so that the rest of the machine's load weighs on both.

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
    /// Connections (workers) sending requests at once, in every row. Above 9, busybox
    /// httpd's accept queue (listen backlog 9; it forks per connection) overflows and
    /// dropped SYNs show up as 1 s requests in the Linux rows.
    #[arg(long, default_value_t = 8)]
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
    /// Alternating slices each row's measured time is cut into (against drift in the machine's load).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
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

impl Row {
    fn measured(&self) -> Option<&Outcome> {
        match self {
            Row::Measured(o) => Some(o),
            Row::Skipped(_) => None,
        }
    }
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
    let rounds = args.rounds.max(1);
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
        "wasmkube bench net: {} connections, {:.1} s measured per row in {rounds} round{} alternating with the rows it is compared to ({:.1} s warm-up first); load from this process, sockets in the node's namespace {}",
        settings.concurrency,
        settings.duration.as_secs_f64(),
        if rounds == 1 { "" } else { "s" },
        settings.warmup.as_secs_f64(),
        cluster.node_netns_name
    );
    // Other work on the machine shifts every figure: say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        println!("machine: {cpus} CPUs, load average {}", load.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    }
    if cfg!(debug_assertions) {
        println!("(debug build: the figures are not the real ones; build with --release)");
    }
    let specs = pod_specs(hello.exists(), linux_image.is_ok());
    // Every server starts before any row, so no row runs beside one still compiling.
    let mut served = Vec::new();
    for spec in &specs {
        served.push(cluster.serve(spec).await.map_err(|e| format!("{e:#}")));
    }
    let find = |name: &str| specs.iter().position(|s| s.name == name).map(|i| &served[i]);
    let peer = start_peer(args.wasmtime.as_deref(), &hello, work.path()).await;
    if let Ok(peer) = &peer {
        println!("peer: wasmtime serve -S cli --addr {} http-hello.wasm ({})", peer.addr, peer.version);
    }

    println!("httpd rows: {} (both httpd servers close the connection after each response; the connect is in the latency)", HTTPD_MODE.describe());
    let wasm = httpd_pair(&cluster, "wasm httpd", find(WASM_POD), settings, rounds).await;
    let linux = match &linux_image {
        Ok(()) => httpd_pair(&cluster, "linux httpd", find(LINUX_POD), settings, rounds).await,
        Err(why) => {
            print_row("linux httpd", "", &Row::Skipped(why.clone()));
            None
        }
    };

    println!("wasi-http rows: {} on every side (http-hello.wasm); the ClusterIP row shows the proxy's cost without a connect per request", WASI_HTTP_MODE.describe());
    let wasi = find(WASI_HTTP_POD);
    let pod = match wasi {
        None => Err(format!("{} is missing (samples/wasm/build.sh builds it)", hello.display())),
        Some(Err(e)) => Err(format!("the pod did not serve: {e}")),
        Some(Ok(s)) => Ok(cluster.target(s.pod, WASI_HTTP_MODE)),
    };
    let pod_vip = match wasi.and_then(|s| s.as_ref().ok()).and_then(|s| s.cluster_ip) {
        Some(vip) => Ok(cluster.target(vip, WASI_HTTP_MODE)),
        None => Err("no Service".to_string()),
    };
    let host = peer.as_ref().map(|p| Target { addr: p.addr, netns: None, mode: WASI_HTTP_MODE }).map_err(Clone::clone);
    let mut rows = measure_group(&[pod.as_ref(), pod_vip.as_ref(), host.as_ref()], settings, rounds).await.into_iter();
    let mut next = || rows.next().unwrap_or_else(|| Row::Skipped("not measured".into()));
    let (pod_row, vip_row, serve_row) = (next(), next(), next());
    print_row("wasi-http pod", &pod.as_ref().map_or(String::new(), |t| format!("pod {}", t.addr)), &pod_row);
    print_row("wasi-http pod", &pod_vip.as_ref().map_or(String::new(), |t| format!("ClusterIP {}", t.addr)), &vip_row);
    print_row("wasmtime serve", &host.as_ref().map_or(String::new(), |t| format!("{} (host)", t.addr)), &serve_row);
    let wasi_proxy = match (pod_row.measured(), vip_row.measured()) {
        (Some(direct), Some(via)) => Some((direct.clone(), via.clone())),
        _ => None,
    };
    drop((pod, pod_vip, host, peer));

    match cluster.shutdown(&specs).await {
        Ok(true) => println!("server stopped; its node namespace is gone"),
        Ok(false) => println!("server stopped, but its node namespace is still in /run/netns (wasmkube cleanup removes it)"),
        Err(e) => println!("stopping the server: {e:#}"),
    }

    println!("verdicts:");
    print_proxy_verdict("wasm", wasm.as_ref(), true);
    print_proxy_verdict("linux", linux.as_ref(), true);
    print_proxy_verdict("wasi-http (keep-alive, for information)", wasi_proxy.as_ref(), false);
    match (pod_row.measured(), serve_row.measured()) {
        (Some(pod), Some(peer)) if peer.requests_per_sec() > 0.0 => {
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
        specs.push(PodSpec { name: WASI_HTTP_POD, image: HTTP_HELLO_IMAGE.into(), command: None, service: true });
    }
    specs
}

/// `wasmtime serve` of the wasi-http sample, or why there is none.
async fn start_peer(flag: Option<&Path>, component: &Path, work: &Path) -> Result<serve::WasmtimeServe, String> {
    if !component.exists() {
        return Err(format!("{} is missing", component.display()));
    }
    let cli = serve::find_wasmtime(flag)?;
    serve::WasmtimeServe::start(&cli, component, &work.join("wasmtime-serve.log")).await.map_err(|e| format!("{e:#}"))
}

/// The direct and ClusterIP rows of one httpd pod, printed; `None` unless both were measured.
async fn httpd_pair(cluster: &Cluster, label: &str, served: Option<&Result<Served, String>>, settings: Settings, rounds: usize) -> Option<(Outcome, Outcome)> {
    let served = match served? {
        Err(e) => {
            print_row(label, "", &Row::Skipped(format!("the pod did not serve: {e}")));
            return None;
        }
        Ok(s) => s,
    };
    let direct = cluster.target(served.pod, HTTPD_MODE);
    let via = served.cluster_ip.map(|vip| cluster.target(vip, HTTPD_MODE)).ok_or_else(|| "no Service".to_string());
    let (direct_row, via_row) = measure_pair(Ok(&direct), via.as_ref(), settings, rounds).await;
    print_row(label, &format!("pod {}", served.pod), &direct_row);
    print_row(label, &via.as_ref().map_or(String::new(), |t| format!("ClusterIP {}", t.addr)), &via_row);
    match (direct_row, via_row) {
        (Row::Measured(direct), Row::Measured(via)) => Some((direct, via)),
        _ => None,
    }
}

/// Measures targets in `rounds` alternating slices of the measured time, so that
/// whatever else the machine does weighs on all alike; the first slice of each starts
/// with the full warm-up, later ones with a quarter of it. A missing target is
/// skipped (its row says why) and the others measured the same way.
async fn measure_group(targets: &[Result<&Target, &String>], settings: Settings, rounds: usize) -> Vec<Row> {
    let slice = Settings { duration: settings.duration / rounds as u32, ..settings };
    let later = Settings { warmup: settings.warmup / 4, ..slice };
    let mut outcomes: Vec<Option<Outcome>> = targets.iter().map(|_| None).collect();
    for round in 0..rounds {
        let settings = if round == 0 { slice } else { later };
        for (slot, target) in outcomes.iter_mut().zip(targets) {
            let Ok(target) = target else { continue };
            let outcome = load::run(target, settings).await;
            match slot {
                Some(total) => total.add_round(outcome),
                None => *slot = Some(outcome),
            }
        }
    }
    outcomes
        .into_iter()
        .zip(targets)
        .map(|(outcome, target)| match (outcome, target) {
            (Some(o), _) => Row::Measured(o),
            (None, Err(why)) => Row::Skipped((*why).clone()),
            (None, Ok(_)) => Row::Skipped("not measured".into()),
        })
        .collect()
}

/// [`measure_group`] of two.
async fn measure_pair(a: Result<&Target, &String>, b: Result<&Target, &String>, settings: Settings, rounds: usize) -> (Row, Row) {
    let mut rows = measure_group(&[a, b], settings, rounds).await.into_iter();
    let mut next = || rows.next().unwrap_or_else(|| Row::Skipped("not measured".into()));
    let first = next();
    (first, next())
}

fn print_row(label: &str, place: &str, row: &Row) {
    match row {
        Row::Skipped(why) => println!("  {label:<15} skipped: {why}"),
        Row::Measured(o) => {
            let mut notes = String::new();
            let stalled = o.latency.count_from(Duration::from_secs(1));
            if stalled > 0 {
                // Linux retransmits a dropped SYN after 1 s: the server's accept queue was full.
                notes.push_str(&format!(", {stalled} took over 1 s"));
            }
            if let Some(e) = &o.first_error {
                notes.push_str(&format!(", {} errors (first: {e})", o.errors));
            }
            println!(
                "  {label:<15} {place:<26} {:>9.0} req/s  p50 {:>9}  p99 {:>9}  max {:>9}  ({} requests, {} new connections{notes})",
                o.requests_per_sec(),
                ms(o.latency.percentile(50.0)),
                ms(o.latency.percentile(99.0)),
                ms(o.latency.max()),
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

/// One line on the proxy's share of p50; `judged` adds the goal and whether it was met.
fn print_proxy_verdict(what: &str, pair: Option<&(Outcome, Outcome)>, judged: bool) {
    match pair.and_then(|(direct, via)| Some((proxy_overhead_pct(direct, via)?, direct, via))) {
        Some((pct, direct, via)) => {
            let goal = if judged { format!("; goal <= {PROXY_P50_GOAL_PCT} %): {}", met(pct <= PROXY_P50_GOAL_PCT)) } else { ")".to_string() };
            println!(
                "  {what} service proxy adds {pct:+.1} % to p50 ({} -> {}{goal}",
                ms(direct.latency.percentile(50.0)),
                ms(via.latency.percentile(50.0)),
            );
        }
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
        assert!(pod_specs(true, false).iter().all(|s| s.service), "every pod is measured direct and through a ClusterIP");
    }

    #[tokio::test]
    async fn a_pair_alternates_and_skips_a_missing_side() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let target = Target { addr, netns: None, mode: Mode::KeepAlive };
        let settings = Settings { concurrency: 2, warmup: Duration::from_millis(20), duration: Duration::from_millis(300), timeout: Duration::from_secs(2) };
        let why = "no peer".to_string();
        let (a, b) = measure_pair(Ok(&target), Err(&why), settings, 3).await;
        let a = a.measured().expect("measured");
        assert_eq!(a.window, Duration::from_millis(300), "three slices of 100 ms");
        assert!(a.latency.count() > 10);
        assert_eq!(a.errors, 0);
        // Each round opens its own connections, all within its warm-up.
        assert_eq!(a.connections, 0);
        assert!(matches!(b, Row::Skipped(w) if w == "no peer"));
    }

    #[test]
    fn requests_per_second_over_the_window() {
        assert_eq!(outcome(100, 50).requests_per_sec(), 50.0);
    }
}
