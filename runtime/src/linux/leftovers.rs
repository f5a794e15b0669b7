//! What a killed runtime leaves behind, and clearing it at the next start.
//!
//! The runtime's pods live in memory only, so after a crash (or a SIGKILL of
//! the server) nothing would stop the old sandbox holders and containers or
//! remove their cgroups. Each sandbox therefore writes down, in its own state
//! directory, its pod cgroup and its holder process (pid and start time, so a
//! reused pid is never killed). At start every sandbox directory found is a
//! leftover of an earlier run of this node: its holder is killed, its pod
//! cgroup (only one shaped `<qos>/pod<uid>`, under our own parent) emptied and
//! removed, and its directory deleted. Another node on the same host has its
//! own state directory, so its pods are never touched.

use std::fs;
use std::path::{Path, PathBuf};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::cgroup::{is_pod_group, Cgroups};
use super::error::LinuxError;

const CGROUP_FILE: &str = "cgroup";
const HOLDER_FILE: &str = "holder";

/// Records what must be cleared if this runtime dies with the sandbox in `dir` still up.
pub fn record(dir: &Path, cgroup: &Path, holder: Pid) -> Result<(), LinuxError> {
    fs::create_dir_all(dir).map_err(|e| LinuxError::io("creating", dir, e))?;
    let cgroup_file = dir.join(CGROUP_FILE);
    fs::write(&cgroup_file, cgroup.to_string_lossy().as_bytes()).map_err(|e| LinuxError::io("writing", &cgroup_file, e))?;
    let holder_file = dir.join(HOLDER_FILE);
    let started = start_time(holder).unwrap_or_default();
    fs::write(&holder_file, format!("{holder} {started}\n")).map_err(|e| LinuxError::io("writing", &holder_file, e))
}

/// Clears every sandbox recorded under `sandboxes` and the container layers under
/// `containers`; returns how many sandboxes were cleared. Failures are logged, not fatal:
/// a leftover must not keep the node from starting.
pub fn sweep(sandboxes: &Path, containers: &Path, cgroups: &dyn Cgroups) -> usize {
    let mut cleared = 0;
    for dir in subdirs(sandboxes) {
        if let Some((pid, started)) = fs::read_to_string(dir.join(HOLDER_FILE)).ok().as_deref().and_then(parse_holder) {
            // Only the process we started: same pid and same start time.
            if start_time(pid) == Some(started) {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
        if let Ok(group) = fs::read_to_string(dir.join(CGROUP_FILE)) {
            let group = PathBuf::from(group.trim());
            if is_pod_group(&group) {
                if let Err(err) = cgroups.purge(&group) {
                    tracing::warn!("removing the leftover pod cgroup {}: {err}", group.display());
                }
            }
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => cleared += 1,
            Err(err) => tracing::warn!("removing the leftover sandbox {}: {err}", dir.display()),
        }
    }
    // Container processes died with their pod cgroups, and their overlay mounts with their
    // mount namespaces: the layers are plain directories now.
    for dir in subdirs(containers) {
        if let Err(err) = fs::remove_dir_all(&dir) {
            tracing::warn!("removing the leftover container layer {}: {err}", dir.display());
        }
    }
    cleared
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    entries.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect()
}

fn parse_holder(text: &str) -> Option<(Pid, u64)> {
    let mut fields = text.split_whitespace();
    let pid: i32 = fields.next()?.parse().ok()?;
    let started = fields.next()?.parse().ok()?;
    (pid > 1 && started > 0).then(|| (Pid::from_raw(pid), started))
}

/// Field 22 of `/proc/<pid>/stat`: the process's start time in clock ticks since boot.
fn start_time(pid: Pid) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_start_time(&stat)
}

fn stat_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cri::ContainerStats;
    use crate::linux::cgroup::{CgroupLimits, CgroupVersion};
    use std::sync::Mutex;

    /// Records which groups were purged.
    #[derive(Default)]
    struct Purges(Mutex<Vec<PathBuf>>);

    impl Cgroups for Purges {
        fn version(&self) -> CgroupVersion {
            CgroupVersion::V1
        }
        fn create(&self, _: &Path) -> Result<(), LinuxError> {
            Ok(())
        }
        fn set_limits(&self, _: &Path, _: &CgroupLimits) -> Result<(), LinuxError> {
            Ok(())
        }
        fn procs_files(&self, _: &Path) -> Vec<PathBuf> {
            Vec::new()
        }
        fn oom_kills(&self, _: &Path) -> u64 {
            0
        }
        fn stats(&self, _: &Path) -> ContainerStats {
            ContainerStats::default()
        }
        fn remove(&self, _: &Path) -> Result<(), LinuxError> {
            Ok(())
        }
        fn dirs(&self, _: &Path) -> Vec<PathBuf> {
            Vec::new()
        }
        fn purge(&self, group: &Path) -> Result<(), LinuxError> {
            self.0.lock().expect("lock").push(group.to_owned());
            Ok(())
        }
    }

    #[test]
    fn the_start_time_is_read_past_an_odd_command_name() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 50";
        assert_eq!(stat_start_time(stat), Some(987654));
        assert!(start_time(Pid::this()).is_some());
    }

    #[test]
    fn recorded_sandboxes_are_swept_and_only_pod_groups_are_purged() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (sandboxes, containers) = (tmp.path().join("sandboxes"), tmp.path().join("containers"));
        // A holder that is gone (no start time is recorded for it): nothing is killed.
        record(&sandboxes.join("s1"), Path::new("burstable/pod1234"), Pid::from_raw(i32::MAX)).expect("record");
        fs::create_dir_all(sandboxes.join("s2")).expect("mkdir");
        fs::write(sandboxes.join("s2/cgroup"), "../../etc").expect("w");
        fs::create_dir_all(containers.join("c1/upper")).expect("mkdir");
        let cgroups = Purges::default();
        assert_eq!(sweep(&sandboxes, &containers, &cgroups), 2);
        assert_eq!(*cgroups.0.lock().expect("lock"), vec![PathBuf::from("burstable/pod1234")]);
        assert!(subdirs(&sandboxes).is_empty() && subdirs(&containers).is_empty());
    }

    #[test]
    fn holder_records_must_name_a_real_process() {
        assert_eq!(parse_holder("123 456\n"), Some((Pid::from_raw(123), 456)));
        assert_eq!(parse_holder("1 456"), None, "never init");
        assert_eq!(parse_holder("123 0"), None, "an unknown start time matches nothing");
        assert_eq!(parse_holder("x"), None);
    }
}
