//! cgroups behind one interface, [`Cgroups`], with a v1 and a v2
//! implementation chosen at runtime from what the host mounts (v1 wherever a
//! v1 `memory` controller is mounted, as on hosts that keep a nearly empty
//! cgroup2 at `/sys/fs/cgroup/unified`; otherwise the unified hierarchy).
//!
//! Groups are created beneath the agent's own cgroup (a host may not let us
//! write at the root), as `<own>/<parent>/<qos>/pod<uid>/<container>` (like
//! kubelet's `kubepods/burstable/pod<uid>`): the pod group carries the pod's
//! limits (see [`pod_limits`]), each container group its own.

mod mountinfo;
mod v1;
mod v2;

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::error::LinuxError;
use crate::cri::{ContainerStats, Limits};

pub use v1::CgroupV1;
pub use v2::CgroupV2;

/// The pod label that places a pod under a QoS parent (the agent sets it from `status.qosClass`).
pub const QOS_LABEL: &str = crate::cri::QOS_CLASS_LABEL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Kubernetes' quality-of-service classes, each a parent cgroup of its pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    /// The class named in `labels[QOS_LABEL]`; Burstable when absent or unknown, since the
    /// runtime does not see requests and limits at sandbox creation.
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Self {
        match labels.get(QOS_LABEL).map(String::as_str) {
            Some("Guaranteed") => QosClass::Guaranteed,
            Some("BestEffort") => QosClass::BestEffort,
            _ => QosClass::Burstable,
        }
    }

    pub fn dir_name(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "guaranteed",
            QosClass::Burstable => "burstable",
            QosClass::BestEffort => "besteffort",
        }
    }
}

/// Limits one cgroup enforces; `None` is "unlimited" and is written as such, so that
/// setting limits again (a pod's, as its containers come and go) also lifts old ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    pub memory_bytes: Option<u64>,
    pub cpu_millis: Option<u64>,
    pub pids: Option<u64>,
}

impl CgroupLimits {
    pub fn new(limits: &Limits, pids: Option<u64>) -> Self {
        CgroupLimits { memory_bytes: limits.memory_bytes, cpu_millis: limits.cpu_millis, pids }
    }
}

/// The pod-level limits of containers with `limits`, as kubelet sets its pod cgroup: memory
/// and CPU are the sums when every container has one (one unlimited container leaves the pod
/// unlimited), and the pids limit is per pod.
pub fn pod_limits<'a>(limits: impl IntoIterator<Item = &'a Limits>, pids: Option<u64>) -> CgroupLimits {
    let (mut memory, mut cpu) = (Some(0u64), Some(0u64));
    for container in limits {
        memory = memory.zip(container.memory_bytes).map(|(sum, bytes)| sum.saturating_add(bytes));
        cpu = cpu.zip(container.cpu_millis).map(|(sum, millis)| sum.saturating_add(millis));
    }
    CgroupLimits { memory_bytes: memory.filter(|&m| m > 0), cpu_millis: cpu.filter(|&c| c > 0), pids }
}

/// The pod group of a sandbox: `<qos>/pod<uid>`.
pub fn pod_group(qos: QosClass, pod_uid: &str) -> PathBuf {
    Path::new(qos.dir_name()).join(format!("pod{pod_uid}"))
}

/// Whether `group` (read back from the runtime's own state) has the shape of a pod group, so
/// that cleaning up leftovers never touches anything else.
pub fn is_pod_group(group: &Path) -> bool {
    let parts: Vec<&str> = group.iter().filter_map(|p| p.to_str()).collect();
    matches!(parts.as_slice(), [qos, pod]
        if ["guaranteed", "burstable", "besteffort"].contains(qos)
            && pod.strip_prefix("pod").is_some_and(|uid| !uid.is_empty() && uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')))
}

/// The CFS period every quota is expressed in (Kubernetes' default, 100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;

/// Microseconds of CPU per period for `millis` thousandths of a core (the kernel's minimum is 1 ms).
pub fn cpu_quota_us(millis: u64) -> u64 {
    (millis.saturating_mul(CPU_PERIOD_US) / 1000).max(1000)
}

/// A cgroup hierarchy (v1: one per controller; v2: the unified one). `group` paths are
/// relative to the agent's own cgroup.
pub trait Cgroups: Send + Sync {
    fn version(&self) -> CgroupVersion;
    /// Creates `group` and its missing parents (enabling controllers on the way, for v2).
    fn create(&self, group: &Path) -> Result<(), LinuxError>;
    fn set_limits(&self, group: &Path, limits: &CgroupLimits) -> Result<(), LinuxError>;
    /// The `cgroup.procs` files a process writes itself into to join `group`.
    fn procs_files(&self, group: &Path) -> Vec<PathBuf>;
    /// How many times the kernel's OOM killer has killed a process of `group`.
    fn oom_kills(&self, group: &Path) -> u64;
    fn stats(&self, group: &Path) -> ContainerStats;
    /// Removes `group` (which must have no processes left) in every hierarchy; absent is fine.
    fn remove(&self, group: &Path) -> Result<(), LinuxError>;
    /// The directories of `group`, one per hierarchy.
    fn dirs(&self, group: &Path) -> Vec<PathBuf>;

    /// Kills every process in `group` and its descendants, then removes them all, deepest
    /// first: the leftovers of a runtime that was killed before it could clean up.
    fn purge(&self, group: &Path) -> Result<(), LinuxError> {
        for dir in self.dirs(group) {
            purge_dir(&dir)?;
        }
        Ok(())
    }
}

/// SIGKILLs the processes of `dir` and its sub-cgroups until they are gone, then rmdirs them.
fn purge_dir(dir: &Path) -> Result<(), LinuxError> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            purge_dir(&entry.path())?;
        }
    }
    let procs = dir.join("cgroup.procs");
    for _ in 0..50 {
        let pids: Vec<i32> = fs::read_to_string(&procs).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        thread::sleep(Duration::from_millis(20));
    }
    remove_dir(dir)
}

/// Finds the hierarchy of this host, with groups rooted at `<own cgroup>/<parent>`.
pub fn detect(parent: &str) -> Result<Box<dyn Cgroups>, LinuxError> {
    let mounts = fs::read_to_string("/proc/self/mountinfo").map_err(|e| LinuxError::io("reading", Path::new("/proc/self/mountinfo"), e))?;
    let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| LinuxError::io("reading", Path::new("/proc/self/cgroup"), e))?;
    let mounts = mountinfo::cgroup_mounts(&mounts);
    let own = mountinfo::own_cgroups(&own);
    if let Some(v1) = CgroupV1::from_host(&mounts, &own, parent) {
        return Ok(Box::new(v1));
    }
    if let Some(v2) = CgroupV2::from_host(&mounts, &own, parent) {
        return Ok(Box::new(v2));
    }
    Err(LinuxError::NoCgroups("neither a cgroup v1 memory controller nor a cgroup2 hierarchy with the memory controller is mounted".into()))
}

fn write_file(path: &Path, value: &str) -> Result<(), LinuxError> {
    fs::write(path, value).map_err(|e| LinuxError::io("writing", path, e))
}

/// The number after `key ` in a flat-keyed file such as `memory.events`.
fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

fn read_number(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// rmdir that waits briefly for the kernel to finish tearing down exited processes (EBUSY).
fn remove_dir(path: &Path) -> Result<(), LinuxError> {
    for attempt in 0..50 {
        match fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(nix::libc::EBUSY) && attempt < 49 => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(LinuxError::io("removing cgroup", path, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_comes_from_the_label_with_burstable_as_default() {
        let mut labels = BTreeMap::new();
        assert_eq!(QosClass::from_labels(&labels), QosClass::Burstable);
        labels.insert(QOS_LABEL.to_string(), "Guaranteed".to_string());
        assert_eq!(QosClass::from_labels(&labels).dir_name(), "guaranteed");
    }

    #[test]
    fn pod_limits_are_sums_only_when_every_container_has_one() {
        let limited = |memory: u64, cpu: u64| Limits { memory_bytes: Some(memory), cpu_millis: Some(cpu), fuel: None };
        let both = [limited(64 << 20, 250), limited(32 << 20, 500)];
        assert_eq!(pod_limits(&both, Some(4096)), CgroupLimits { memory_bytes: Some(96 << 20), cpu_millis: Some(750), pids: Some(4096) });
        let one_unlimited = [limited(64 << 20, 250), Limits { memory_bytes: Some(1 << 20), ..Limits::default() }];
        assert_eq!(pod_limits(&one_unlimited, None), CgroupLimits { memory_bytes: Some(65 << 20), cpu_millis: None, pids: None });
        assert_eq!(pod_limits(&[], Some(10)), CgroupLimits { memory_bytes: None, cpu_millis: None, pids: Some(10) });
    }

    #[test]
    fn pod_groups_sit_under_their_qos_parent_and_nothing_else_passes_for_one() {
        assert_eq!(pod_group(QosClass::Guaranteed, "1f2e-33"), PathBuf::from("guaranteed/pod1f2e-33"));
        assert!(is_pod_group(&pod_group(QosClass::BestEffort, "abc-1")));
        for other in ["burstable", "burstable/pod", "burstable/podx/c1", "other/podx", "../podx", "/burstable/podx", "burstable/pod..", "burstable/notpod"] {
            assert!(!is_pod_group(Path::new(other)), "{other}");
        }
    }

    #[test]
    fn purge_removes_a_tree_deepest_first() {
        let tmp = tempfile::tempdir().expect("tmp");
        fs::create_dir_all(tmp.path().join("pod1/c1")).expect("mkdir");
        fs::create_dir_all(tmp.path().join("pod1/c2")).expect("mkdir");
        // Plain directories stand in for cgroups: no cgroup.procs, so nothing to kill.
        purge_dir(&tmp.path().join("pod1")).expect("purge");
        assert!(!tmp.path().join("pod1").exists());
        assert!(tmp.path().exists());
    }

    #[test]
    fn cpu_quota_is_per_100ms_period_with_a_floor() {
        assert_eq!(cpu_quota_us(200), 20_000);
        assert_eq!(cpu_quota_us(1500), 150_000);
        assert_eq!(cpu_quota_us(1), 1000);
    }

    #[test]
    fn keyed_values_are_found_by_exact_key() {
        let text = "oom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(2));
        assert_eq!(keyed_value(text, "oom"), Some(3));
        assert_eq!(keyed_value(text, "max"), None);
    }
}
