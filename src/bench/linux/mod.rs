//! `wasmkube bench linux`: create → running of a cached busybox container
//! (`sh -c 'sleep 3600'`), one after another, side by side: a pod through
//! wasmkube's API on its embedded node (Linux runtime), the same pod through
//! `podman kube play`, and `crun run` of a bare bundle as the floor. A column
//! whose tool is missing is skipped with a hint, never installed.

mod crun;
pub(crate) mod image;
mod podman;
mod wasmkube;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use super::harness::{ms, percentile};

/// `wasmkube bench linux` options.
#[derive(clap::Args, Debug)]
pub struct BenchLinuxArgs {
    /// Containers timed per column, created (and removed) one after another.
    #[arg(long, default_value_t = 50)]
    pub iterations: usize,
}

/// The hint printed when a tool is missing.
const INSTALL_HINT: &str = "bash tests/infra/install-deps.sh";
/// wasmkube's goal: at most this share of podman's p50.
const GOAL_RATIO: f64 = 0.5;

/// p50 and p99 of one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub p50: Duration,
    pub p99: Duration,
    /// The untimed first run (warm-up: first use of the image, caches).
    pub first: Duration,
}

impl Summary {
    /// `first` apart, the percentiles of `samples` (in any order).
    pub fn of(first: Duration, mut samples: Vec<Duration>) -> Summary {
        samples.sort();
        Summary { p50: percentile(&samples, 50.0), p99: percentile(&samples, 99.0), first }
    }
}

/// One column's outcome.
enum Column {
    Measured(Summary),
    Skipped(String),
}

pub async fn run(args: BenchLinuxArgs) -> anyhow::Result<()> {
    if !running_as_root() {
        anyhow::bail!("bench linux needs root (Linux pods, podman and crun all do)");
    }
    if let Some(missing) = missing_tool(&["umoci"]) {
        anyhow::bail!("{missing} is needed to build the busybox image: {INSTALL_HINT}");
    }
    let work = tempfile::Builder::new().prefix("wasmkube-bench-linux-").tempdir()?;
    let layout = image::build_layout(work.path()).await.context("building the busybox image")?;
    let n = args.iterations.max(1);

    let wasmkube = wasmkube::measure(&layout, n).await.context("the wasmkube column")?;
    print_column("wasmkube pod", &Column::Measured(wasmkube));

    let podman = match missing_tool(&["podman", "skopeo", "runc"]) {
        Some(tool) => Column::Skipped(format!("{tool} is not installed (apt-get install -y podman runc catatonit skopeo, or {INSTALL_HINT})")),
        None => podman::measure(&layout, &work.path().join("podman"), n).await.map_or_else(|e| Column::Skipped(format!("failed: {e:#}")), Column::Measured),
    };
    print_column("podman kube play", &podman);

    let crun = match missing_tool(&["crun", "unshare", "nsenter"]) {
        Some(tool) => Column::Skipped(format!("{tool} is not installed (apt-get install -y crun, or {INSTALL_HINT})")),
        None => crun::measure(&layout, &work.path().join("crun"), n).await.map_or_else(|e| Column::Skipped(format!("failed: {e:#}")), Column::Measured),
    };
    print_column("crun run (floor)", &crun);

    match &podman {
        Column::Measured(p) => println!(
            "wasmkube / podman: p50 {:.2}, p99 {:.2} over {n} containers each (goal p50 <= {GOAL_RATIO})",
            ratio(wasmkube.p50, p.p50),
            ratio(wasmkube.p99, p.p99)
        ),
        Column::Skipped(_) => println!("wasmkube / podman: no podman figures"),
    }
    Ok(())
}

fn print_column(label: &str, column: &Column) {
    match column {
        Column::Measured(s) => println!("{label:<18} create -> running: p50 {:>10} p99 {:>10} (first, untimed: {})", ms(s.p50), ms(s.p99), ms(s.first)),
        Column::Skipped(why) => println!("{label:<18} skipped: {why}"),
    }
}

/// `a / b`, 0 when `b` is zero.
fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        return 0.0;
    }
    a.as_secs_f64() / b.as_secs_f64()
}

/// Whether this process runs as root: /proc/self belongs to the effective uid.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The first of `tools` not found on `PATH`.
fn missing_tool<'a>(tools: &[&'a str]) -> Option<&'a str> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    tools.iter().copied().find(|tool| !dirs.iter().any(|dir| is_executable(&dir.join(tool))))
}

fn is_executable(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    file.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_of_unsorted_samples() {
        // 1..=100 ms shuffled: p50 is the middle sample, p99 the 99th of 100.
        let mut samples = millis(1..=100);
        samples.reverse();
        samples.swap(3, 70);
        let s = Summary::of(Duration::from_secs(1), samples);
        assert_eq!(s.p50, Duration::from_millis(51));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.first, Duration::from_secs(1));
    }

    #[test]
    fn an_outlier_moves_p99_not_p50() {
        let mut samples = millis([10; 49]);
        samples.push(Duration::from_millis(900));
        let s = Summary::of(Duration::ZERO, samples);
        assert_eq!(s.p50, Duration::from_millis(10));
        assert_eq!(s.p99, Duration::from_millis(900));
    }

    #[test]
    fn no_samples_give_zero() {
        assert_eq!(Summary::of(Duration::ZERO, vec![]).p99, Duration::ZERO);
    }

    #[test]
    fn ratio_guards_a_zero_denominator() {
        assert_eq!(ratio(Duration::from_millis(50), Duration::from_millis(200)), 0.25);
        assert_eq!(ratio(Duration::from_millis(50), Duration::ZERO), 0.0);
    }

    #[test]
    fn finds_missing_tools() {
        assert_eq!(missing_tool(&["sh"]), None);
        assert_eq!(missing_tool(&["sh", "no-such-tool-for-wasmkube"]), Some("no-such-tool-for-wasmkube"));
    }
}
