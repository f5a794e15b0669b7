//! Linux capabilities: names, Docker's default set, how a container's
//! `securityContext` changes it, and the two system calls that apply a set
//! (`nix` has no capability API, so they are raw `prctl`/`capset` calls).

use std::fmt;

use nix::errno::Errno;
use nix::libc;

use crate::cri::SecurityConfig;

/// Capability names, indexed by their number (`CAP_CHOWN` is 0).
const NAMES: [&str; 41] = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
];

/// Docker's (and containerd's) default set for unprivileged containers.
const DOCKER_DEFAULTS: [&str; 14] = [
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
];

/// A set of capabilities as a bit mask (bit n = capability n).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSet(pub u64);

impl CapSet {
    /// Every capability the running kernel knows (`last_cap` from `/proc/sys/kernel/cap_last_cap`).
    pub fn all(last_cap: u32) -> Self {
        CapSet(if last_cap >= 63 { u64::MAX } else { (1u64 << (last_cap + 1)) - 1 })
    }

    pub fn docker_defaults() -> Self {
        DOCKER_DEFAULTS.iter().filter_map(|name| parse_capability(name)).fold(CapSet(0), CapSet::with)
    }

    pub fn contains(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }

    fn with(self, cap: u32) -> Self {
        CapSet(self.0 | (1 << cap))
    }

    fn without(self, cap: u32) -> Self {
        CapSet(self.0 & !(1 << cap))
    }

    /// The set a container gets: everything when privileged, else Docker's defaults
    /// minus `drop` plus `add` (`ALL` allowed on either side, as Kubernetes does).
    pub fn for_container(security: &SecurityConfig, last_cap: u32) -> Result<Self, String> {
        let all = CapSet::all(last_cap);
        if security.privileged {
            return Ok(all);
        }
        let mut set = CapSet::docker_defaults();
        for name in &security.drop_capabilities {
            set = match name_or_all(name)? {
                None => CapSet(0),
                Some(cap) => set.without(cap),
            };
        }
        for name in &security.add_capabilities {
            set = match name_or_all(name)? {
                None => all,
                Some(cap) => set.with(cap),
            };
        }
        Ok(CapSet(set.0 & all.0))
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = (0..NAMES.len() as u32).filter(|&c| self.contains(c)).map(|c| NAMES[c as usize]).collect();
        write!(f, "{}", names.join(","))
    }
}

/// `None` means `ALL`.
fn name_or_all(name: &str) -> Result<Option<u32>, String> {
    if name.eq_ignore_ascii_case("ALL") {
        return Ok(None);
    }
    parse_capability(name).map(Some).ok_or_else(|| format!("unknown capability {name:?}"))
}

/// The number of a capability named `SYS_ADMIN` or `CAP_SYS_ADMIN` (any case).
pub fn parse_capability(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    NAMES.iter().position(|n| *n == bare).map(|i| i as u32)
}

/// Removes `cap` from the calling thread's bounding set.
pub(super) fn drop_bounding(cap: u32) -> nix::Result<()> {
    // SAFETY: PR_CAPBSET_DROP takes one integer argument and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(cap), 0, 0, 0) };
    // EINVAL: the kernel does not know this capability; nothing to drop.
    match Errno::result(rc) {
        Err(Errno::EINVAL) => Ok(()),
        other => other.map(drop),
    }
}

/// Sets the effective, permitted and inheritable sets to `set`, and clears the ambient set.
pub(super) fn set_capabilities(set: CapSet) -> nix::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    let mut header = Header { version: VERSION_3, pid: 0 };
    let low = set.0 as u32;
    let high = (set.0 >> 32) as u32;
    let data = [
        Data { effective: low, permitted: low, inheritable: low },
        Data { effective: high, permitted: high, inheritable: high },
    ];
    // SAFETY: capset reads one header and two data structs laid out as the kernel's
    // `__user_cap_header_struct` / `__user_cap_data_struct` (version 3), all alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    Errno::result(rc)?;
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0) };
    Errno::result(rc).map(drop)
}

/// The highest capability number of the running kernel.
pub(super) fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(add: &[&str], drop: &[&str]) -> SecurityConfig {
        SecurityConfig {
            add_capabilities: add.iter().map(|s| s.to_string()).collect(),
            drop_capabilities: drop.iter().map(|s| s.to_string()).collect(),
            ..SecurityConfig::default()
        }
    }

    #[test]
    fn names_parse_with_or_without_prefix() {
        assert_eq!(parse_capability("SYS_ADMIN"), Some(21));
        assert_eq!(parse_capability("cap_sys_admin"), Some(21));
        assert_eq!(parse_capability("CHOWN"), Some(0));
        assert_eq!(parse_capability("NOPE"), None);
    }

    #[test]
    fn defaults_are_dockers_fourteen_without_sys_admin() {
        let set = CapSet::docker_defaults();
        assert_eq!(set.0.count_ones(), 14);
        assert!(!set.contains(21));
        assert!(set.contains(13), "NET_RAW");
    }

    #[test]
    fn add_and_drop_apply_in_kubernetes_order() {
        let set = CapSet::for_container(&security(&["SYS_ADMIN"], &["ALL"]), 40).expect("valid");
        assert_eq!(set.to_string(), "SYS_ADMIN");
        let set = CapSet::for_container(&security(&[], &["CAP_NET_RAW"]), 40).expect("valid");
        assert!(!set.contains(13));
        assert_eq!(set.0.count_ones(), 13);
    }

    #[test]
    fn privileged_gets_everything_and_unknown_names_fail() {
        let privileged = SecurityConfig { privileged: true, ..SecurityConfig::default() };
        assert_eq!(CapSet::for_container(&privileged, 40).expect("valid"), CapSet::all(40));
        assert!(CapSet::for_container(&security(&["FLY"], &[]), 40).is_err());
    }
}
