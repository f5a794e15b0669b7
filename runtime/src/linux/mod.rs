//! The `linux` handler: OCI root filesystems run as Linux processes in their
//! own namespaces, written with `nix` (no runc/crun).
//!
//! A sandbox is a small holder process owning the pod's net, IPC and UTS
//! namespaces (the pause container's job); each container is a child that
//! joins those, gets fresh pid and mount namespaces, an overlay over the
//! read-only image, `/proc`, a minimal `/dev`, a read-only `/sys`, Docker's
//! masked paths, its volumes, a cgroup with the pod's limits, Docker's
//! default capabilities and a default seccomp profile.
//!
//! Everything a child does between `fork` and `exec` is computed up front as
//! a list of [`plan::Step`]s (pure, unit-tested), then replayed in the child
//! through the narrow [`nsops::NsOps`] seam; that keeps the post-fork code
//! free of allocation and lets the tests check the order of the steps.

// fork/setns/capset and the child side of `Command::pre_exec` need `unsafe`;
// each block says why it is sound.
#![allow(unsafe_code)]

mod attach;
mod caps;
mod cgroup;
mod container;
mod error;
mod exec;
mod fdio;
mod leftovers;
mod nsops;
mod options;
mod plan;
mod pty;
mod rootfs;
mod runtime;
mod sandbox;
mod seccomp;
mod spawn;
mod streams;

pub use caps::{parse_capability, CapSet};
pub use cgroup::{CgroupVersion, QosClass, QOS_LABEL};
pub use error::LinuxError;
pub use options::LinuxOptions;
pub use runtime::LinuxRuntime;
