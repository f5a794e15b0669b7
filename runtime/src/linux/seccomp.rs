//! The default seccomp profile of unprivileged containers, in the spirit of
//! Docker's: everything is allowed except system calls that reach past the
//! container into the host kernel (modules, kexec, reboot, swap, the clock,
//! the kernel keyring, bpf, perf, ...), which fail with `EPERM`. A few are
//! allowed only when the container holds the capability that guards them
//! anyway (`mount` and namespace calls with `CAP_SYS_ADMIN`, `ptrace` with
//! `CAP_SYS_PTRACE`), as Docker does.
//!
//! The filter is compiled here, in the parent, with `seccompiler`; the child
//! only hands the finished program to the kernel (see [`install`]).

use std::collections::BTreeMap;

use nix::errno::Errno;
use nix::libc;
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use super::caps::{parse_capability, CapSet};
use super::error::LinuxError;

/// Denied whatever the container's capabilities.
const ALWAYS_DENIED: &[(&str, libc::c_long)] = &[
    ("acct", libc::SYS_acct),
    ("add_key", libc::SYS_add_key),
    ("adjtimex", libc::SYS_adjtimex),
    ("bpf", libc::SYS_bpf),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("clock_settime", libc::SYS_clock_settime),
    ("delete_module", libc::SYS_delete_module),
    ("finit_module", libc::SYS_finit_module),
    ("init_module", libc::SYS_init_module),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("kexec_load", libc::SYS_kexec_load),
    ("keyctl", libc::SYS_keyctl),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("pivot_root", libc::SYS_pivot_root),
    ("quotactl", libc::SYS_quotactl),
    ("reboot", libc::SYS_reboot),
    ("request_key", libc::SYS_request_key),
    ("settimeofday", libc::SYS_settimeofday),
    ("swapoff", libc::SYS_swapoff),
    ("swapon", libc::SYS_swapon),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("vhangup", libc::SYS_vhangup),
];

/// Old or port-I/O calls only x86-64 still has (`create_module` and friends are not even
/// numbered in libc any more: the kernel answers ENOSYS).
#[cfg(target_arch = "x86_64")]
const X86_64_DENIED: &[(&str, libc::c_long)] = &[
    ("ioperm", libc::SYS_ioperm),
    ("iopl", libc::SYS_iopl),
    ("nfsservctl", libc::SYS_nfsservctl),
    ("_sysctl", libc::SYS__sysctl),
    ("uselib", libc::SYS_uselib),
];
#[cfg(not(target_arch = "x86_64"))]
const X86_64_DENIED: &[(&str, libc::c_long)] = &[];

/// Denied unless the container holds `CAP_SYS_ADMIN` (which these need anyway, except
/// `unshare` of a user namespace: that is the attack surface this closes).
const NEED_SYS_ADMIN: &[(&str, libc::c_long)] = &[
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
];

/// Denied unless the container holds `CAP_SYS_PTRACE`.
const NEED_SYS_PTRACE: &[(&str, libc::c_long)] = &[("ptrace", libc::SYS_ptrace)];

/// The names and numbers of the system calls the default profile denies to a container
/// holding `caps`.
pub fn denied_syscalls(caps: CapSet) -> Vec<(&'static str, libc::c_long)> {
    let holds = |name: &str| parse_capability(name).is_some_and(|cap| caps.contains(cap));
    let mut denied = [ALWAYS_DENIED, X86_64_DENIED].concat();
    if !holds("SYS_ADMIN") {
        denied.extend_from_slice(NEED_SYS_ADMIN);
    }
    if !holds("SYS_PTRACE") {
        denied.extend_from_slice(NEED_SYS_PTRACE);
    }
    denied
}

/// The compiled default profile for a container holding `caps`.
pub fn default_profile(caps: CapSet) -> Result<BpfProgram, LinuxError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| LinuxError::Seccomp(e.to_string()))?;
    // An empty rule list matches the call whatever its arguments.
    let rules: BTreeMap<i64, Vec<_>> = denied_syscalls(caps).into_iter().map(|(_, nr)| (nr, Vec::new())).collect();
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| LinuxError::Seccomp(e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| LinuxError::Seccomp(e.to_string()))
}

/// Loads `program` into the calling thread. Allocation-free (it runs between `fork` and
/// `exec`). The caller must have set no_new_privs or still hold `CAP_SYS_ADMIN`.
pub fn install(program: &BpfProgram) -> nix::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| Errno::E2BIG)?;
    let fprog = libc::sock_fprog { len, filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut() };
    // SAFETY: seccompiler's `sock_filter` is `#[repr(C)]` with the kernel's layout; the kernel
    // copies the program during the call and keeps no pointer into our memory.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0 as libc::c_ulong, &fprog as *const libc::sock_fprog) };
    Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(caps: CapSet) -> Vec<&'static str> {
        denied_syscalls(caps).into_iter().map(|(name, _)| name).collect()
    }

    #[test]
    fn kernel_wide_calls_are_denied_whatever_the_capabilities() {
        let all = CapSet::all(40);
        for name in ["reboot", "kexec_load", "init_module", "swapoff", "keyctl", "bpf", "settimeofday", "perf_event_open", "userfaultfd"] {
            assert!(names(CapSet::docker_defaults()).contains(&name), "{name} with the defaults");
            assert!(names(all).contains(&name), "{name} with every capability");
        }
    }

    #[test]
    fn mount_namespaces_and_ptrace_follow_their_capability() {
        let defaults = names(CapSet::docker_defaults());
        for name in ["mount", "umount2", "unshare", "setns", "ptrace"] {
            assert!(defaults.contains(&name), "{name} denied with the defaults");
        }
        let admin = CapSet(CapSet::docker_defaults().0 | 1 << parse_capability("SYS_ADMIN").expect("known"));
        let with_admin = names(admin);
        assert!(!with_admin.contains(&"mount") && !with_admin.contains(&"unshare"));
        assert!(with_admin.contains(&"ptrace"));
        let with_ptrace = names(CapSet(CapSet::docker_defaults().0 | 1 << parse_capability("SYS_PTRACE").expect("known")));
        assert!(!with_ptrace.contains(&"ptrace") && with_ptrace.contains(&"mount"));
    }

    #[test]
    fn everyday_calls_stay_allowed() {
        let denied: Vec<libc::c_long> = denied_syscalls(CapSet::docker_defaults()).into_iter().map(|(_, nr)| nr).collect();
        for nr in [libc::SYS_read, libc::SYS_write, libc::SYS_execve, libc::SYS_clone, libc::SYS_socket, libc::SYS_setuid, libc::SYS_capset, libc::SYS_chdir] {
            assert!(!denied.contains(&nr), "syscall {nr}");
        }
    }

    #[test]
    fn the_profile_compiles_to_a_program_the_kernel_can_take() {
        let program = default_profile(CapSet::docker_defaults()).expect("compiles");
        assert!(!program.is_empty() && program.len() < usize::from(u16::MAX));
    }

    #[test]
    fn an_installed_profile_denies_in_a_child_process() {
        let program = default_profile(CapSet::docker_defaults()).expect("compiles");
        // SAFETY: the child only makes system calls and exits; it never returns into the test harness.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                let code = match nix::sys::prctl::set_no_new_privs().and_then(|()| install(&program)) {
                    Err(_) => 2,
                    // SAFETY: keyctl(KEYCTL_GET_KEYRING_ID, ...) with integer arguments only.
                    Ok(()) => match Errno::result(unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) }) {
                        Err(Errno::EPERM) => 0,
                        _ => 1,
                    },
                };
                // SAFETY: _exit skips the parent's destructors and atexit handlers.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).expect("wait");
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
