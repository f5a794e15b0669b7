//! What a child does between `fork` and `exec`, computed in the parent as a
//! list of [`Step`]s. Every path is an absolute `CString` made here, so
//! replaying the list in the child ([`super::nsops::run_steps`]) allocates
//! nothing, and the parent can describe a failed step by its index.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;

use seccompiler::BpfProgram;

use super::caps::CapSet;
use super::error::LinuxError;
use super::seccomp::default_profile;

/// One action of the child's setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write "0" (= the caller) to an open `cgroup.procs`.
    JoinCgroup(RawFd),
    /// Enter the namespace behind an open `/proc/<pid>/ns/<kind>` file.
    SetNs(RawFd, CloneFlags),
    Unshare(CloneFlags),
    /// Make every mount private, so nothing done here reaches the host.
    MakeMountsPrivate,
    Mount { source: Option<CString>, target: CString, fstype: Option<CString>, flags: MsFlags, data: Option<CString> },
    Mkdir(CString),
    /// Create an empty file to bind a device or file onto.
    Touch(CString),
    Symlink { target: CString, link: CString },
    /// Make `new_root` the root (`pivot_root(".", ".")` then detach the old root).
    PivotRoot(CString),
    /// Hide a path: `/dev/null` over a file, an empty read-only tmpfs over a directory. Absent paths are skipped.
    Mask(CString),
    /// Bind a path onto itself read-only. Absent paths are skipped.
    ReadOnly(CString),
    RemountRootReadOnly,
    /// Drop every capability outside the set from the bounding set.
    LimitBounding(CapSet),
    SetIdentity { uid: u32, gid: u32 },
    SetCapabilities(CapSet),
    NoNewPrivs,
    /// Load a compiled seccomp filter (needs no_new_privs, or `CAP_SYS_ADMIN` still held).
    Seccomp(BpfProgram),
    Chdir(CString),
    /// Start a new session and make stdin (a terminal) its controlling terminal.
    ControllingTerminal,
}

impl Step {
    /// For error messages in the parent.
    pub fn describe(&self) -> String {
        let text = |c: &CString| c.to_string_lossy().into_owned();
        match self {
            Step::JoinCgroup(_) => "joining the cgroup".into(),
            Step::SetNs(_, kind) => format!("joining the sandbox namespace {kind:?}"),
            Step::Unshare(kind) => format!("unshare {kind:?}"),
            Step::MakeMountsPrivate => "making mounts private".into(),
            Step::Mount { target, fstype, .. } => {
                format!("mounting {} on {}", fstype.as_ref().map(text).unwrap_or_else(|| "a bind".into()), text(target))
            }
            Step::Mkdir(path) => format!("mkdir {}", text(path)),
            Step::Touch(path) => format!("creating {}", text(path)),
            Step::Symlink { link, .. } => format!("symlink {}", text(link)),
            Step::PivotRoot(root) => format!("pivot_root into {}", text(root)),
            Step::Mask(path) => format!("masking {}", text(path)),
            Step::ReadOnly(path) => format!("making {} read-only", text(path)),
            Step::RemountRootReadOnly => "making the root filesystem read-only".into(),
            Step::LimitBounding(set) => format!("limiting capabilities to {set}"),
            Step::SetIdentity { uid, gid } => format!("switching to uid {uid} gid {gid}"),
            Step::SetCapabilities(set) => format!("setting capabilities {set}"),
            Step::NoNewPrivs => "setting no_new_privs".into(),
            Step::Seccomp(_) => "installing the seccomp filter".into(),
            Step::Chdir(dir) => format!("chdir to working directory {}", text(dir)),
            Step::ControllingTerminal => "taking the terminal as controlling terminal".into(),
        }
    }
}

/// Paths inside `/proc` and `/sys` Docker hides from unprivileged containers.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only in unprivileged containers.
pub const READ_ONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The device nodes bound from the host into every container's `/dev`.
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Who the process runs as and what it may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub caps: CapSet,
    pub no_new_privs: bool,
    /// Run under the default seccomp profile (not privileged, not `Unconfined`).
    pub seccomp: bool,
}

/// A host path bound at a container path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bind<'a> {
    pub host: &'a Path,
    pub container: &'a str,
    pub read_only: bool,
}

/// Everything [`container_steps`] needs.
pub struct ContainerPlan<'a> {
    pub cgroup_procs: &'a [RawFd],
    /// Open namespace files of the sandbox holder, with their kinds.
    pub sandbox_namespaces: &'a [(RawFd, CloneFlags)],
    /// `lowerdir=…,upperdir=…,workdir=…`.
    pub overlay_options: &'a str,
    pub merged: &'a Path,
    pub binds: &'a [Bind<'a>],
    pub privileged: bool,
    pub read_only_root: bool,
    pub identity: Identity,
    pub working_dir: &'a str,
}

pub fn cstring(bytes: &[u8]) -> Result<CString, LinuxError> {
    CString::new(bytes).map_err(|_| LinuxError::InvalidConfig(format!("path {:?} contains a NUL byte", String::from_utf8_lossy(bytes))))
}

/// `root` joined with the absolute container path `inner`.
fn under(root: &Path, inner: &str) -> Result<CString, LinuxError> {
    let mut bytes = root.as_os_str().as_bytes().to_vec();
    let inner = inner.trim_end_matches('/');
    if !inner.is_empty() && !inner.starts_with('/') {
        bytes.push(b'/');
    }
    bytes.extend_from_slice(inner.as_bytes());
    cstring(&bytes)
}

fn c(text: &str) -> Result<CString, LinuxError> {
    cstring(text.as_bytes())
}

fn mount(source: Option<&str>, target: CString, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> Result<Step, LinuxError> {
    Ok(Step::Mount {
        source: source.map(c).transpose()?,
        target,
        fstype: fstype.map(c).transpose()?,
        flags,
        data: data.map(c).transpose()?,
    })
}

/// The steps that turn a forked child (already in the container's new pid namespace) into the container.
pub fn container_steps(plan: &ContainerPlan<'_>) -> Result<Vec<Step>, LinuxError> {
    let merged = plan.merged;
    let hardened = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let mut steps: Vec<Step> = plan.cgroup_procs.iter().map(|&fd| Step::JoinCgroup(fd)).collect();
    steps.extend(plan.sandbox_namespaces.iter().map(|&(fd, kind)| Step::SetNs(fd, kind)));
    steps.push(Step::Unshare(CloneFlags::CLONE_NEWNS));
    steps.push(Step::MakeMountsPrivate);
    steps.push(mount(Some("overlay"), under(merged, "/")?, Some("overlay"), MsFlags::empty(), Some(plan.overlay_options))?);
    steps.push(mount(Some("proc"), under(merged, "/proc")?, Some("proc"), hardened, None)?);

    steps.push(mount(Some("tmpfs"), under(merged, "/dev")?, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME, Some("mode=755,size=65536k"))?);
    for device in DEVICES {
        let target = under(merged, &format!("/dev/{device}"))?;
        steps.push(Step::Touch(target.clone()));
        steps.push(mount(Some(&format!("/dev/{device}")), target, None, MsFlags::MS_BIND, None)?);
    }
    steps.push(Step::Mkdir(under(merged, "/dev/pts")?));
    steps.push(mount(
        Some("devpts"),
        under(merged, "/dev/pts")?,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?);
    steps.push(Step::Symlink { target: c("pts/ptmx")?, link: under(merged, "/dev/ptmx")? });
    steps.push(Step::Mkdir(under(merged, "/dev/shm")?));
    steps.push(mount(Some("shm"), under(merged, "/dev/shm")?, Some("tmpfs"), hardened, Some("mode=1777,size=65536k"))?);
    for (target, link) in [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"), ("/proc/self/fd/2", "stderr")] {
        steps.push(Step::Symlink { target: c(target)?, link: under(merged, &format!("/dev/{link}"))? });
    }

    let sys_flags = if plan.privileged { hardened } else { hardened | MsFlags::MS_RDONLY };
    steps.push(mount(Some("sysfs"), under(merged, "/sys")?, Some("sysfs"), sys_flags, None)?);

    for bind in plan.binds {
        let target = under(merged, bind.container)?;
        steps.push(Step::Mount {
            source: Some(cstring(bind.host.as_os_str().as_bytes())?),
            target: target.clone(),
            fstype: None,
            flags: MsFlags::MS_BIND | MsFlags::MS_REC,
            data: None,
        });
        if bind.read_only {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            steps.push(Step::Mount { source: None, target, fstype: None, flags, data: None });
        }
    }

    steps.push(Step::PivotRoot(under(merged, "/")?));
    if !plan.privileged {
        for path in MASKED_PATHS {
            steps.push(Step::Mask(c(path)?));
        }
        for path in READ_ONLY_PATHS {
            steps.push(Step::ReadOnly(c(path)?));
        }
    }
    if plan.read_only_root {
        steps.push(Step::RemountRootReadOnly);
    }
    steps.extend(identity_steps(plan.identity, plan.working_dir)?);
    Ok(steps)
}

/// The last steps of a container or exec process: capabilities, user, no_new_privs, seccomp,
/// working dir. The seccomp filter goes last, right before exec, when no_new_privs is set;
/// without no_new_privs the kernel takes a filter only from a holder of `CAP_SYS_ADMIN`, so it
/// goes first, while the process is still fully root (runc orders it the same way). None of
/// the later steps makes a call the profile denies.
pub fn identity_steps(identity: Identity, working_dir: &str) -> Result<Vec<Step>, LinuxError> {
    let seccomp = if identity.seccomp { Some(Step::Seccomp(default_profile(identity.caps)?)) } else { None };
    let mut steps = Vec::new();
    if !identity.no_new_privs {
        steps.extend(seccomp.clone());
    }
    steps.extend([Step::LimitBounding(identity.caps), Step::SetIdentity { uid: identity.uid, gid: identity.gid }]);
    // setuid to a non-root user clears the permitted set (no keepcaps), as Docker does.
    if identity.uid == 0 {
        steps.push(Step::SetCapabilities(identity.caps));
    }
    if identity.no_new_privs {
        steps.push(Step::NoNewPrivs);
        steps.extend(seccomp);
    }
    steps.push(Step::Chdir(c(working_dir)?));
    Ok(steps)
}

/// The steps of an `exec` child: the container's cgroup and namespaces (mount last: it moves the
/// root and cwd into the container), then the container's identity.
pub fn exec_steps(cgroup_procs: &[RawFd], namespaces: &[(RawFd, CloneFlags)], identity: Identity, working_dir: &str) -> Result<Vec<Step>, LinuxError> {
    let mut steps: Vec<Step> = cgroup_procs.iter().map(|&fd| Step::JoinCgroup(fd)).collect();
    steps.extend(namespaces.iter().map(|&(fd, kind)| Step::SetNs(fd, kind)));
    steps.extend(identity_steps(identity, working_dir)?);
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(binds: &'a [Bind<'a>], privileged: bool, read_only_root: bool, uid: u32) -> ContainerPlan<'a> {
        ContainerPlan {
            cgroup_procs: &[7],
            sandbox_namespaces: &[(8, CloneFlags::CLONE_NEWNET)],
            overlay_options: "lowerdir=/img,upperdir=/c/upper,workdir=/c/work",
            merged: Path::new("/c/rootfs"),
            binds,
            privileged,
            read_only_root,
            identity: Identity { uid, gid: uid, caps: CapSet::docker_defaults(), no_new_privs: !privileged, seccomp: !privileged },
            working_dir: "/work",
        }
    }

    fn position(steps: &[Step], wanted: impl Fn(&Step) -> bool) -> usize {
        steps.iter().position(wanted).expect("step present")
    }

    fn mount_target(step: &Step) -> Option<&str> {
        match step {
            Step::Mount { target, .. } => target.to_str().ok(),
            _ => None,
        }
    }

    #[test]
    fn cgroup_and_namespaces_come_first_and_identity_last() {
        let steps = container_steps(&plan(&[], false, false, 0)).expect("plan");
        assert_eq!(steps[0], Step::JoinCgroup(7));
        assert_eq!(steps[1], Step::SetNs(8, CloneFlags::CLONE_NEWNET));
        assert_eq!(steps[2], Step::Unshare(CloneFlags::CLONE_NEWNS));
        assert_eq!(steps[3], Step::MakeMountsPrivate);
        assert_eq!(mount_target(&steps[4]), Some("/c/rootfs"));
        let pivot = position(&steps, |s| matches!(s, Step::PivotRoot(_)));
        let mask = position(&steps, |s| matches!(s, Step::Mask(_)));
        let bounding = position(&steps, |s| matches!(s, Step::LimitBounding(_)));
        assert!(pivot < mask && mask < bounding);
        assert_eq!(steps.last(), Some(&Step::Chdir(c("/work").expect("c"))));
        assert!(steps.contains(&Step::NoNewPrivs));
        assert!(steps.contains(&Step::SetCapabilities(CapSet::docker_defaults())));
    }

    #[test]
    fn devices_proc_and_sys_are_mounted_under_the_new_root() {
        let steps = container_steps(&plan(&[], false, false, 0)).expect("plan");
        let targets: Vec<&str> = steps.iter().filter_map(mount_target).collect();
        for wanted in ["/c/rootfs/proc", "/c/rootfs/dev", "/c/rootfs/dev/null", "/c/rootfs/dev/urandom", "/c/rootfs/dev/pts", "/c/rootfs/dev/shm", "/c/rootfs/sys"] {
            assert!(targets.contains(&wanted), "{wanted} in {targets:?}");
        }
        let sys = steps.iter().find(|s| mount_target(s) == Some("/c/rootfs/sys")).expect("sys");
        assert!(matches!(sys, Step::Mount { flags, .. } if flags.contains(MsFlags::MS_RDONLY)));
    }

    #[test]
    fn read_only_binds_are_remounted_and_come_before_pivot() {
        let binds = [Bind { host: Path::new("/pods/p/vol"), container: "/data/", read_only: true }];
        let steps = container_steps(&plan(&binds, false, true, 0)).expect("plan");
        let binds_at: Vec<usize> = steps.iter().enumerate().filter(|(_, s)| mount_target(s) == Some("/c/rootfs/data")).map(|(i, _)| i).collect();
        assert_eq!(binds_at.len(), 2, "bind then read-only remount");
        assert!(matches!(&steps[binds_at[1]], Step::Mount { flags, .. } if flags.contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)));
        assert!(binds_at[1] < position(&steps, |s| matches!(s, Step::PivotRoot(_))));
        assert!(steps.contains(&Step::RemountRootReadOnly));
    }

    #[test]
    fn privileged_skips_masks_and_non_root_gets_no_capabilities() {
        let steps = container_steps(&plan(&[], true, false, 0)).expect("plan");
        assert!(!steps.iter().any(|s| matches!(s, Step::Mask(_) | Step::ReadOnly(_) | Step::NoNewPrivs)));
        let steps = container_steps(&plan(&[], false, false, 1000)).expect("plan");
        assert!(!steps.iter().any(|s| matches!(s, Step::SetCapabilities(_))));
        assert!(steps.contains(&Step::SetIdentity { uid: 1000, gid: 1000 }));
    }

    #[test]
    fn exec_enters_namespaces_before_switching_user() {
        let identity = Identity { uid: 0, gid: 0, caps: CapSet(1), no_new_privs: true, seccomp: false };
        let steps = exec_steps(&[3], &[(4, CloneFlags::CLONE_NEWNS)], identity, "/").expect("plan");
        assert_eq!(steps[0], Step::JoinCgroup(3));
        assert_eq!(steps[1], Step::SetNs(4, CloneFlags::CLONE_NEWNS));
        assert_eq!(steps[2], Step::LimitBounding(CapSet(1)));
    }

    #[test]
    fn seccomp_comes_after_no_new_privs_or_before_dropping_root() {
        let is_seccomp = |s: &Step| matches!(s, Step::Seccomp(_));
        let confined = Identity { uid: 1000, gid: 1000, caps: CapSet::docker_defaults(), no_new_privs: true, seccomp: true };
        let steps = identity_steps(confined, "/").expect("plan");
        let nnp = position(&steps, |s| *s == Step::NoNewPrivs);
        assert_eq!(position(&steps, is_seccomp), nnp + 1, "right after no_new_privs");
        assert!(matches!(steps.last(), Some(Step::Chdir(_))));
        let escalating = Identity { no_new_privs: false, ..confined };
        let steps = identity_steps(escalating, "/").expect("plan");
        assert!(is_seccomp(&steps[0]), "first, while CAP_SYS_ADMIN is still held");
        let unconfined = Identity { seccomp: false, ..confined };
        assert!(!identity_steps(unconfined, "/").expect("plan").iter().any(is_seccomp));
    }

    #[test]
    fn nul_bytes_in_paths_are_config_errors() {
        let binds = [Bind { host: Path::new("/x"), container: "/a\0b", read_only: false }];
        assert!(matches!(container_steps(&plan(&binds, false, false, 0)), Err(LinuxError::InvalidConfig(_))));
    }
}
