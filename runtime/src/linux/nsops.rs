//! The seam between the setup [`Step`]s and the kernel: [`NsOps`] is the
//! narrow set of calls a child makes between `fork` and `exec`, [`HostNs`]
//! the only implementation that performs them. [`run_steps`] replays a plan
//! through it; tests replay plans through a recorder to check the order.

use std::ffi::CStr;
use std::os::fd::{BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag, AT_FDCWD};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::stat::{stat, Mode, SFlag};
use nix::unistd::{chdir, mkdir, pivot_root, setgid, setgroups, setuid, symlinkat, write, Gid, Uid};

use super::caps::{self, CapSet};
use super::plan::Step;
use super::seccomp;
use seccompiler::BpfProgram;

/// What a child may ask of the kernel while it becomes a container.
/// Implementations must not allocate: they run after `fork` in a multi-threaded process.
pub trait NsOps {
    fn join_cgroup(&mut self, procs_fd: RawFd) -> nix::Result<()>;
    fn setns(&mut self, ns_fd: RawFd, kind: CloneFlags) -> nix::Result<()>;
    fn unshare(&mut self, kind: CloneFlags) -> nix::Result<()>;
    fn mount(&mut self, source: Option<&CStr>, target: &CStr, fstype: Option<&CStr>, flags: MsFlags, data: Option<&CStr>) -> nix::Result<()>;
    fn mkdir(&mut self, path: &CStr) -> nix::Result<()>;
    fn touch(&mut self, path: &CStr) -> nix::Result<()>;
    fn symlink(&mut self, target: &CStr, link: &CStr) -> nix::Result<()>;
    fn pivot_into(&mut self, new_root: &CStr) -> nix::Result<()>;
    /// `Some(true)` for a directory, `Some(false)` for anything else, `None` when absent.
    fn is_dir(&mut self, path: &CStr) -> nix::Result<Option<bool>>;
    fn drop_bounding(&mut self, cap: u32) -> nix::Result<()>;
    fn set_identity(&mut self, uid: u32, gid: u32) -> nix::Result<()>;
    fn set_capabilities(&mut self, set: CapSet) -> nix::Result<()>;
    fn set_no_new_privs(&mut self) -> nix::Result<()>;
    fn install_seccomp(&mut self, program: &BpfProgram) -> nix::Result<()>;
    fn chdir(&mut self, path: &CStr) -> nix::Result<()>;
    /// `setsid`, then `TIOCSCTTY` on fd 0.
    fn take_terminal(&mut self) -> nix::Result<()>;
}

/// A failed step: its index in the plan and the error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepFailure {
    pub index: usize,
    pub errno: Errno,
}

/// Performs `steps` in order, stopping at the first failure.
pub fn run_steps(ops: &mut impl NsOps, steps: &[Step]) -> Result<(), StepFailure> {
    for (index, step) in steps.iter().enumerate() {
        run_step(ops, step).map_err(|errno| StepFailure { index, errno })?;
    }
    Ok(())
}

fn run_step(ops: &mut impl NsOps, step: &Step) -> nix::Result<()> {
    match step {
        Step::JoinCgroup(fd) => ops.join_cgroup(*fd),
        Step::SetNs(fd, kind) => ops.setns(*fd, *kind),
        Step::Unshare(kind) => ops.unshare(*kind),
        Step::MakeMountsPrivate => ops.mount(None, c"/", None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None),
        Step::Mount { source, target, fstype, flags, data } => {
            ops.mount(source.as_deref(), target, fstype.as_deref(), *flags, data.as_deref())
        }
        Step::Mkdir(path) => ops.mkdir(path),
        Step::Touch(path) => ops.touch(path),
        Step::Symlink { target, link } => ops.symlink(target, link),
        Step::PivotRoot(root) => ops.pivot_into(root),
        Step::Mask(path) => match ops.is_dir(path)? {
            None => Ok(()),
            Some(true) => ops.mount(Some(c"tmpfs"), path, Some(c"tmpfs"), MsFlags::MS_RDONLY, None),
            Some(false) => ops.mount(Some(c"/dev/null"), path, None, MsFlags::MS_BIND, None),
        },
        Step::ReadOnly(path) => match ops.is_dir(path)? {
            None => Ok(()),
            Some(_) => {
                ops.mount(Some(path), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
                ops.mount(None, path, None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None)
            }
        },
        Step::RemountRootReadOnly => ops.mount(None, c"/", None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None),
        Step::LimitBounding(set) => (0..64).filter(|&cap| !set.contains(cap)).try_for_each(|cap| ops.drop_bounding(cap)),
        Step::SetIdentity { uid, gid } => ops.set_identity(*uid, *gid),
        Step::SetCapabilities(set) => ops.set_capabilities(*set),
        Step::NoNewPrivs => ops.set_no_new_privs(),
        Step::Seccomp(program) => ops.install_seccomp(program),
        Step::Chdir(dir) => ops.chdir(dir),
        Step::ControllingTerminal => ops.take_terminal(),
    }
}

/// Sends a failure to the parent over the setup pipe: 8 bytes, index then errno.
/// Allocation-free; a lost report only costs the parent its detail.
pub fn report_failure(pipe: RawFd, failure: StepFailure) {
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&(failure.index as u32).to_le_bytes());
    message[4..].copy_from_slice(&(failure.errno as i32).to_le_bytes());
    // SAFETY: the parent keeps the pipe's write end open until the child has exec'd or failed.
    let fd = unsafe { BorrowedFd::borrow_raw(pipe) };
    let _ = write(fd, &message);
}

/// Reads what [`report_failure`] sent, if anything.
pub fn decode_failure(message: &[u8]) -> Option<StepFailure> {
    let index = u32::from_le_bytes(message.get(..4)?.try_into().ok()?) as usize;
    let errno = i32::from_le_bytes(message.get(4..8)?.try_into().ok()?);
    Some(StepFailure { index, errno: Errno::from_raw(errno) })
}

/// The real kernel.
pub struct HostNs;

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: every fd in a plan is owned by the parent's plan holder, which outlives the
    // child's setup (the child has its own copy of the descriptor table and execs or exits).
    unsafe { BorrowedFd::borrow_raw(fd) }
}

impl NsOps for HostNs {
    fn join_cgroup(&mut self, procs_fd: RawFd) -> nix::Result<()> {
        write(borrow(procs_fd), b"0").map(drop)
    }

    fn setns(&mut self, ns_fd: RawFd, kind: CloneFlags) -> nix::Result<()> {
        setns(borrow(ns_fd), kind)
    }

    fn unshare(&mut self, kind: CloneFlags) -> nix::Result<()> {
        unshare(kind)
    }

    fn mount(&mut self, source: Option<&CStr>, target: &CStr, fstype: Option<&CStr>, flags: MsFlags, data: Option<&CStr>) -> nix::Result<()> {
        mount(source, target, fstype, flags, data)
    }

    fn mkdir(&mut self, path: &CStr) -> nix::Result<()> {
        match mkdir(path, Mode::from_bits_truncate(0o755)) {
            Err(Errno::EEXIST) => Ok(()),
            other => other,
        }
    }

    fn touch(&mut self, path: &CStr) -> nix::Result<()> {
        open(path, OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC, Mode::from_bits_truncate(0o644)).map(drop)
    }

    fn symlink(&mut self, target: &CStr, link: &CStr) -> nix::Result<()> {
        symlinkat(target, AT_FDCWD, link)
    }

    fn pivot_into(&mut self, new_root: &CStr) -> nix::Result<()> {
        // pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only
        // the new root, with no put_old directory to create or remove.
        chdir(new_root)?;
        pivot_root(c".", c".")?;
        umount2(c".", MntFlags::MNT_DETACH)?;
        chdir(c"/")
    }

    fn is_dir(&mut self, path: &CStr) -> nix::Result<Option<bool>> {
        match stat(path) {
            Ok(st) => Ok(Some(SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)),
            Err(Errno::ENOENT) => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn drop_bounding(&mut self, cap: u32) -> nix::Result<()> {
        caps::drop_bounding(cap)
    }

    fn set_identity(&mut self, uid: u32, gid: u32) -> nix::Result<()> {
        setgroups(&[Gid::from_raw(gid)])?;
        setgid(Gid::from_raw(gid))?;
        setuid(Uid::from_raw(uid))
    }

    fn set_capabilities(&mut self, set: CapSet) -> nix::Result<()> {
        caps::set_capabilities(set)
    }

    fn set_no_new_privs(&mut self) -> nix::Result<()> {
        nix::sys::prctl::set_no_new_privs()
    }

    fn install_seccomp(&mut self, program: &BpfProgram) -> nix::Result<()> {
        seccomp::install(program)
    }

    fn chdir(&mut self, path: &CStr) -> nix::Result<()> {
        chdir(path)
    }

    fn take_terminal(&mut self) -> nix::Result<()> {
        nix::unistd::setsid()?;
        // SAFETY: TIOCSCTTY takes an int by value (0: do not steal it from another session).
        Errno::result(unsafe { nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) }).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::plan::{container_steps, Bind, ContainerPlan, Identity};
    use std::path::Path;

    /// Records the calls, and fails the call named `fail_at`.
    #[derive(Default)]
    struct CallLog {
        calls: Vec<String>,
        fail_at: Option<&'static str>,
    }

    impl CallLog {
        fn call(&mut self, name: &str, arg: &CStr) -> nix::Result<()> {
            let entry = format!("{name} {}", arg.to_string_lossy());
            self.calls.push(entry.clone());
            match self.fail_at {
                Some(fail) if entry.starts_with(fail) => Err(Errno::EPERM),
                _ => Ok(()),
            }
        }
    }

    impl NsOps for CallLog {
        fn join_cgroup(&mut self, _: RawFd) -> nix::Result<()> {
            self.call("cgroup", c"")
        }
        fn setns(&mut self, _: RawFd, _: CloneFlags) -> nix::Result<()> {
            self.call("setns", c"")
        }
        fn unshare(&mut self, _: CloneFlags) -> nix::Result<()> {
            self.call("unshare", c"")
        }
        fn mount(&mut self, _: Option<&CStr>, target: &CStr, _: Option<&CStr>, _: MsFlags, _: Option<&CStr>) -> nix::Result<()> {
            self.call("mount", target)
        }
        fn mkdir(&mut self, path: &CStr) -> nix::Result<()> {
            self.call("mkdir", path)
        }
        fn touch(&mut self, path: &CStr) -> nix::Result<()> {
            self.call("touch", path)
        }
        fn symlink(&mut self, _: &CStr, link: &CStr) -> nix::Result<()> {
            self.call("symlink", link)
        }
        fn pivot_into(&mut self, root: &CStr) -> nix::Result<()> {
            self.call("pivot", root)
        }
        fn is_dir(&mut self, path: &CStr) -> nix::Result<Option<bool>> {
            // Pretend /proc/kcore is a file, /proc/acpi a directory, and the rest absent.
            Ok(match path.to_bytes() {
                b"/proc/kcore" | b"/proc/sys" => Some(false),
                b"/proc/acpi" => Some(true),
                _ => None,
            })
        }
        fn drop_bounding(&mut self, _: u32) -> nix::Result<()> {
            Ok(())
        }
        fn set_identity(&mut self, _: u32, _: u32) -> nix::Result<()> {
            self.call("identity", c"")
        }
        fn set_capabilities(&mut self, _: CapSet) -> nix::Result<()> {
            self.call("caps", c"")
        }
        fn set_no_new_privs(&mut self) -> nix::Result<()> {
            self.call("nnp", c"")
        }
        fn install_seccomp(&mut self, _: &BpfProgram) -> nix::Result<()> {
            self.call("seccomp", c"")
        }
        fn chdir(&mut self, path: &CStr) -> nix::Result<()> {
            self.call("chdir", path)
        }
        fn take_terminal(&mut self) -> nix::Result<()> {
            self.call("tty", c"")
        }
    }

    fn steps() -> Vec<Step> {
        let binds = [Bind { host: Path::new("/v"), container: "/data", read_only: false }];
        container_steps(&ContainerPlan {
            cgroup_procs: &[3],
            sandbox_namespaces: &[(4, CloneFlags::CLONE_NEWNET)],
            overlay_options: "lowerdir=/l,upperdir=/u,workdir=/w",
            merged: Path::new("/m"),
            binds: &binds,
            privileged: false,
            read_only_root: false,
            identity: Identity { uid: 0, gid: 0, caps: CapSet::docker_defaults(), no_new_privs: true, seccomp: true },
            working_dir: "/",
        })
        .expect("plan")
    }

    #[test]
    fn the_container_is_assembled_before_the_root_moves_and_privileges_drop_last() {
        let mut log = CallLog::default();
        run_steps(&mut log, &steps()).expect("runs");
        let at = |wanted: &str| log.calls.iter().position(|c| c == wanted).unwrap_or_else(|| panic!("{wanted} in {:?}", log.calls));
        assert_eq!(&log.calls[..4], ["cgroup ", "setns ", "unshare ", "mount /"]);
        assert!(at("mount /m") < at("mount /m/proc"));
        assert!(at("mount /m/dev") < at("touch /m/dev/null"));
        assert!(at("mount /m/data") < at("pivot /m"));
        assert!(at("pivot /m") < at("mount /proc/kcore"));
        assert!(at("mount /proc/acpi") < at("identity "));
        assert!(at("identity ") < at("caps ") && at("caps ") < at("nnp "));
        assert_eq!(log.calls.last().map(String::as_str), Some("chdir /"));
        // Absent masked paths are skipped, not errors.
        assert!(!log.calls.iter().any(|c| c == "mount /proc/keys"));
    }

    #[test]
    fn a_failure_stops_the_replay_and_names_its_step() {
        let plan = steps();
        let mut log = CallLog { fail_at: Some("pivot"), ..CallLog::default() };
        let failure = run_steps(&mut log, &plan).expect_err("fails");
        assert!(matches!(plan[failure.index], Step::PivotRoot(_)));
        assert_eq!(failure.errno, Errno::EPERM);
        assert_eq!(log.calls.last().map(String::as_str), Some("pivot /m"));
    }

    #[test]
    fn a_terminal_step_takes_the_terminal_and_names_itself_on_failure() {
        let plan = [Step::ControllingTerminal, Step::Chdir(c"/".into())];
        let mut log = CallLog::default();
        run_steps(&mut log, &plan).expect("replays");
        assert_eq!(log.calls, ["tty ", "chdir /"]);
        let mut failing = CallLog { fail_at: Some("tty"), ..CallLog::default() };
        let failure = run_steps(&mut failing, &plan).expect_err("fails");
        assert_eq!(plan[failure.index].describe(), "taking the terminal as controlling terminal");
    }

    #[test]
    fn failure_reports_round_trip() {
        let failure = StepFailure { index: 17, errno: Errno::ENOENT };
        let mut message = [0u8; 8];
        message[..4].copy_from_slice(&17u32.to_le_bytes());
        message[4..].copy_from_slice(&(Errno::ENOENT as i32).to_le_bytes());
        assert_eq!(decode_failure(&message), Some(failure));
        assert_eq!(decode_failure(&message[..5]), None);
    }
}
