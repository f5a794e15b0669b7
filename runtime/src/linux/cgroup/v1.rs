//! cgroup v1: one hierarchy per controller (`memory`, `cpu`, `cpuacct`,
//! `pids`), each holding the same group paths.

use std::fs;
use std::path::{Path, PathBuf};

use super::mountinfo::CgroupMount;
use super::{cpu_quota_us, keyed_value, read_number, remove_dir, write_file, CgroupLimits, CgroupVersion, Cgroups, CPU_PERIOD_US};
use crate::cri::ContainerStats;
use crate::linux::error::LinuxError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupV1 {
    memory: PathBuf,
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    pids: Option<PathBuf>,
}

impl CgroupV1 {
    /// Groups rooted at `<mount>/<own cgroup>/<parent>` per controller; `None` without a memory controller.
    pub fn from_host(mounts: &[CgroupMount], own: &[(Vec<String>, String)], parent: &str) -> Option<Self> {
        let base = |controller: &str| -> Option<PathBuf> {
            let mount = mounts.iter().find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller))?;
            let (_, path) = own.iter().find(|(controllers, _)| controllers.iter().any(|c| c == controller))?;
            Some(mount.mount_point.join(path.trim_start_matches('/')).join(parent))
        };
        Some(CgroupV1 { memory: base("memory")?, cpu: base("cpu"), cpuacct: base("cpuacct"), pids: base("pids") })
    }

    /// Every hierarchy once (cpu and cpuacct are often mounted together).
    fn hierarchies(&self) -> Vec<&Path> {
        let mut all: Vec<&Path> = vec![&self.memory];
        for dir in [&self.cpu, &self.cpuacct, &self.pids].into_iter().flatten() {
            if !all.contains(&dir.as_path()) {
                all.push(dir);
            }
        }
        all
    }
}

impl Cgroups for CgroupV1 {
    fn version(&self) -> CgroupVersion {
        CgroupVersion::V1
    }

    fn create(&self, group: &Path) -> Result<(), LinuxError> {
        for root in self.hierarchies() {
            let dir = root.join(group);
            fs::create_dir_all(&dir).map_err(|e| LinuxError::io("creating cgroup", &dir, e))?;
        }
        Ok(())
    }

    fn set_limits(&self, group: &Path, limits: &CgroupLimits) -> Result<(), LinuxError> {
        // -1 and "max" are v1's "unlimited".
        let memory = limits.memory_bytes.map_or_else(|| "-1".to_string(), |bytes| bytes.to_string());
        write_file(&self.memory.join(group).join("memory.limit_in_bytes"), &memory)?;
        if let Some(cpu) = &self.cpu {
            let dir = cpu.join(group);
            let quota = limits.cpu_millis.map_or_else(|| "-1".to_string(), |millis| cpu_quota_us(millis).to_string());
            write_file(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
            write_file(&dir.join("cpu.cfs_quota_us"), &quota)?;
        }
        if let Some(pids) = &self.pids {
            let max = limits.pids.map_or_else(|| "max".to_string(), |max| max.to_string());
            write_file(&pids.join(group).join("pids.max"), &max)?;
        }
        Ok(())
    }

    fn procs_files(&self, group: &Path) -> Vec<PathBuf> {
        self.hierarchies().into_iter().map(|root| root.join(group).join("cgroup.procs")).collect()
    }

    fn oom_kills(&self, group: &Path) -> u64 {
        let text = fs::read_to_string(self.memory.join(group).join("memory.oom_control")).unwrap_or_default();
        keyed_value(&text, "oom_kill").unwrap_or(0)
    }

    fn stats(&self, group: &Path) -> ContainerStats {
        ContainerStats {
            memory_bytes: read_number(&self.memory.join(group).join("memory.usage_in_bytes")).unwrap_or(0),
            cpu_nanos: self.cpuacct.as_ref().and_then(|dir| read_number(&dir.join(group).join("cpuacct.usage"))).unwrap_or(0),
            fuel_consumed: None,
        }
    }

    fn remove(&self, group: &Path) -> Result<(), LinuxError> {
        for root in self.hierarchies() {
            remove_dir(&root.join(group))?;
        }
        Ok(())
    }

    fn dirs(&self, group: &Path) -> Vec<PathBuf> {
        self.hierarchies().into_iter().map(|root| root.join(group)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::cgroup::mountinfo::{cgroup_mounts, own_cgroups};

    fn at(root: &Path) -> CgroupV1 {
        CgroupV1 { memory: root.join("memory"), cpu: Some(root.join("cpu")), cpuacct: Some(root.join("cpu")), pids: Some(root.join("pids")) }
    }

    #[test]
    fn roots_sit_under_the_own_cgroup_of_each_controller() {
        let mounts = cgroup_mounts(
            "1 0 0:1 / /cg/memory rw - cgroup cgroup rw,memory\n2 0 0:2 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        let own = own_cgroups("4:memory:/agent\n2:cpu,cpuacct:/\n");
        let v1 = CgroupV1::from_host(&mounts, &own, "wasmkube").expect("memory present");
        assert_eq!(v1.memory, PathBuf::from("/cg/memory/agent/wasmkube"));
        assert_eq!(v1.hierarchies().len(), 2, "cpu and cpuacct share one hierarchy; no pids");
        assert!(CgroupV1::from_host(&mounts[1..], &own, "w").is_none());
    }

    #[test]
    fn limits_are_written_to_the_v1_files() {
        let tmp = tempfile::tempdir().expect("tmp");
        let v1 = at(tmp.path());
        let group = Path::new("burstable/podx/c1");
        v1.create(group).expect("create");
        v1.set_limits(group, &CgroupLimits { memory_bytes: Some(32 << 20), cpu_millis: Some(200), pids: Some(100) }).expect("limits");
        let read = |p: &str| fs::read_to_string(tmp.path().join(p)).expect(p);
        assert_eq!(read("memory/burstable/podx/c1/memory.limit_in_bytes"), "33554432");
        assert_eq!(read("cpu/burstable/podx/c1/cpu.cfs_quota_us"), "20000");
        assert_eq!(read("cpu/burstable/podx/c1/cpu.cfs_period_us"), "100000");
        assert_eq!(read("pids/burstable/podx/c1/pids.max"), "100");
        assert_eq!(v1.procs_files(group).len(), 3);
        // Setting limits again lifts the ones now absent.
        v1.set_limits(group, &CgroupLimits { memory_bytes: None, cpu_millis: None, pids: Some(100) }).expect("limits");
        assert_eq!(read("memory/burstable/podx/c1/memory.limit_in_bytes"), "-1");
        assert_eq!(read("cpu/burstable/podx/c1/cpu.cfs_quota_us"), "-1");
    }

    #[test]
    fn oom_kills_and_stats_are_read_back() {
        let tmp = tempfile::tempdir().expect("tmp");
        let v1 = at(tmp.path());
        let group = Path::new("g");
        v1.create(group).expect("create");
        fs::write(tmp.path().join("memory/g/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n").expect("w");
        fs::write(tmp.path().join("memory/g/memory.usage_in_bytes"), "4096\n").expect("w");
        fs::write(tmp.path().join("cpu/g/cpuacct.usage"), "123456\n").expect("w");
        assert_eq!(v1.oom_kills(group), 1);
        assert_eq!(v1.stats(group), ContainerStats { memory_bytes: 4096, cpu_nanos: 123456, fuel_consumed: None });
        assert_eq!(v1.oom_kills(Path::new("absent")), 0);
    }
}
