//! Facts about the machine the agent runs on: CPUs, memory, kernel and OS,
//! and whether memory or disk is under pressure.

use std::path::Path;

/// What a Node reports about its machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    pub cpus: u64,
    pub memory_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
}

impl HostFacts {
    pub fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default();
        HostFacts {
            cpus: std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
            memory_bytes: meminfo_bytes(&read("/proc/meminfo"), "MemTotal").unwrap_or(0),
            kernel_version: read("/proc/sys/kernel/osrelease"),
            os_image: pretty_name(&read("/etc/os-release")).unwrap_or_else(|| "Linux".into()),
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
        }
    }
}

/// Memory is short when less than this is available (kubelet's default eviction threshold).
const MEMORY_PRESSURE_BELOW: u64 = 100 << 20;
/// Disk is short when less than this fraction of the data directory's file system is free.
const DISK_PRESSURE_BELOW_PERCENT: u64 = 10;

/// Current pressure on the node's resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
}

impl Pressure {
    pub fn read(data_dir: &Path) -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo_bytes(&meminfo, "MemAvailable").is_some_and(|free| free < MEMORY_PRESSURE_BELOW);
        let disk = nix::sys::statvfs::statvfs(data_dir).is_ok_and(|fs| {
            let total = fs.blocks() as u64;
            total > 0 && (fs.blocks_available() as u64) * 100 / total < DISK_PRESSURE_BELOW_PERCENT
        });
        Pressure { memory, disk }
    }
}

/// A `/proc/meminfo` field (`MemTotal:  16384 kB`) in bytes.
fn meminfo_bytes(meminfo: &str, field: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.split(':').next() == Some(field))?;
    let kib: u64 = line.split(':').nth(1)?.split_whitespace().next()?.parse().ok()?;
    kib.checked_mul(1024)
}

fn pretty_name(os_release: &str) -> Option<String> {
    let value = os_release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(value.trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_os_release() {
        let meminfo = "MemTotal:       16384 kB\nMemFree:  1 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(meminfo_bytes(meminfo, "MemTotal"), Some(16384 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "MemAvailable"), Some(2048 * 1024));
        assert_eq!(meminfo_bytes(meminfo, "Mem"), None);
        assert_eq!(pretty_name("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
    }

    #[test]
    fn reads_this_machine() {
        let facts = HostFacts::read();
        assert!(facts.cpus >= 1);
        assert!(facts.memory_bytes > 0);
    }
}
