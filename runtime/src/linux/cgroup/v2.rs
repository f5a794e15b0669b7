//! cgroup v2: one unified hierarchy; controllers must be enabled in each
//! parent's `cgroup.subtree_control` before a child can use them.

use std::fs;
use std::path::{Path, PathBuf};

use super::mountinfo::CgroupMount;
use super::{cpu_quota_us, keyed_value, read_number, remove_dir, write_file, CgroupLimits, CgroupVersion, Cgroups, CPU_PERIOD_US};
use crate::cri::ContainerStats;
use crate::linux::error::LinuxError;

const CONTROLLERS: &str = "+memory +cpu +pids";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupV2 {
    /// The agent's own cgroup: controllers are enabled from here down.
    own: PathBuf,
    /// `<own>/<parent>`: every group lives beneath it.
    root: PathBuf,
}

impl CgroupV2 {
    /// `None` unless a cgroup2 hierarchy offering the memory controller is mounted.
    pub fn from_host(mounts: &[CgroupMount], own: &[(Vec<String>, String)], parent: &str) -> Option<Self> {
        let mount = mounts.iter().find(|m| m.v2)?;
        let (_, path) = own.iter().find(|(controllers, _)| controllers.is_empty())?;
        let own = mount.mount_point.join(path.trim_start_matches('/'));
        let available = fs::read_to_string(own.join("cgroup.controllers")).ok()?;
        available.split_whitespace().any(|c| c == "memory").then(|| CgroupV2 { root: own.join(parent), own })
    }

    #[cfg(test)]
    fn at(own: &Path, parent: &str) -> Self {
        CgroupV2 { own: own.to_owned(), root: own.join(parent) }
    }
}

impl Cgroups for CgroupV2 {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V2
    }

    fn create(&self, group: &Path) -> Result<(), LinuxError> {
        let target = self.root.join(group);
        let mut dir = self.own.clone();
        let relative = target.strip_prefix(&self.own).unwrap_or(group);
        for part in relative.components() {
            let control = dir.join("cgroup.subtree_control");
            let enabled = fs::read_to_string(&control).unwrap_or_default();
            if !["memory", "cpu", "pids"].iter().all(|c| enabled.split_whitespace().any(|e| e == *c)) {
                // Fails with EBUSY when `dir` holds processes (v2's no-internal-processes rule):
                // the agent must then run in a leaf of its own, as kubelet does under systemd.
                write_file(&control, CONTROLLERS)?;
            }
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir).map_err(|e| LinuxError::io("creating cgroup", &dir, e))?;
            }
        }
        Ok(())
    }

    fn set_limits(&self, group: &Path, limits: &CgroupLimits) -> Result<(), LinuxError> {
        let dir = self.root.join(group);
        let max = |value: Option<u64>| value.map_or_else(|| "max".to_string(), |v| v.to_string());
        write_file(&dir.join("memory.max"), &max(limits.memory_bytes))?;
        write_file(&dir.join("cpu.max"), &format!("{} {CPU_PERIOD_US}", max(limits.cpu_millis.map(cpu_quota_us))))?;
        write_file(&dir.join("pids.max"), &max(limits.pids))
    }

    fn procs_files(&self, group: &Path) -> Vec<PathBuf> {
        vec![self.root.join(group).join("cgroup.procs")]
    }

    fn oom_kills(&self, group: &Path) -> u64 {
        let text = fs::read_to_string(self.root.join(group).join("memory.events")).unwrap_or_default();
        keyed_value(&text, "oom_kill").unwrap_or(0)
    }

    fn stats(&self, group: &Path) -> ContainerStats {
        let dir = self.root.join(group);
        let cpu_stat = fs::read_to_string(dir.join("cpu.stat")).unwrap_or_default();
        ContainerStats {
            memory_bytes: read_number(&dir.join("memory.current")).unwrap_or(0),
            cpu_nanos: keyed_value(&cpu_stat, "usage_usec").unwrap_or(0).saturating_mul(1000),
            fuel_consumed: None,
        }
    }

    fn remove(&self, group: &Path) -> Result<(), LinuxError> {
        remove_dir(&self.root.join(group))
    }

    fn dirs(&self, group: &Path) -> Vec<PathBuf> {
        vec![self.root.join(group)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_enables_controllers_down_the_chain() {
        let tmp = tempfile::tempdir().expect("tmp");
        let v2 = CgroupV2::at(tmp.path(), "wasmkube");
        v2.create(Path::new("burstable/podx")).expect("create");
        assert!(tmp.path().join("wasmkube/burstable/podx").is_dir());
        for dir in ["", "wasmkube", "wasmkube/burstable"] {
            let control = fs::read_to_string(tmp.path().join(dir).join("cgroup.subtree_control")).expect("control");
            assert_eq!(control, CONTROLLERS, "{dir}");
        }
        assert!(!tmp.path().join("wasmkube/burstable/podx/cgroup.subtree_control").exists());
    }

    #[test]
    fn limits_and_stats_use_the_unified_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let v2 = CgroupV2::at(tmp.path(), "w");
        let group = Path::new("c");
        v2.create(group).expect("create");
        v2.set_limits(group, &CgroupLimits { memory_bytes: Some(1 << 20), cpu_millis: Some(250), pids: Some(64) }).expect("limits");
        let read = |p: &str| fs::read_to_string(tmp.path().join("w/c").join(p)).expect(p);
        assert_eq!(read("memory.max"), "1048576");
        assert_eq!(read("cpu.max"), "25000 100000");
        assert_eq!(read("pids.max"), "64");
        v2.set_limits(group, &CgroupLimits { memory_bytes: None, cpu_millis: None, pids: None }).expect("limits");
        assert_eq!(read("memory.max"), "max");
        assert_eq!(read("cpu.max"), "max 100000");
        fs::write(tmp.path().join("w/c/memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n").expect("w");
        fs::write(tmp.path().join("w/c/cpu.stat"), "usage_usec 7\nuser_usec 5\n").expect("w");
        assert_eq!(v2.oom_kills(group), 1);
        assert_eq!(v2.stats(group).cpu_nanos, 7000);
    }
}
