//! Where the host mounts its cgroup hierarchies (`/proc/self/mountinfo`) and
//! which cgroup this process is in (`/proc/self/cgroup`).

use std::path::PathBuf;

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupMount {
    pub mount_point: PathBuf,
    /// v1: the controllers in the super options (`memory`, `cpu`...); v2: empty.
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// The cgroup mounts listed in a mountinfo text.
pub fn cgroup_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mount_point = before.split(' ').nth(4)?;
            let mut after = after.split(' ');
            let fstype = after.next()?;
            let _source = after.next()?;
            let options = after.next().unwrap_or("");
            let v2 = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => return None,
            };
            let controllers = if v2 { Vec::new() } else { options.split(',').map(str::to_string).collect() };
            Some(CgroupMount { mount_point: PathBuf::from(crate::mounts::unescape(mount_point)), controllers, v2 })
        })
        .collect()
}


/// This process's cgroup per hierarchy: `(controllers, path)`; v2's line has no controllers.
pub fn own_cgroups(proc_self_cgroup: &str) -> Vec<(Vec<String>, String)> {
    proc_self_cgroup
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?;
            let controllers = controllers.split(',').filter(|c| !c.is_empty()).map(str::to_string).collect();
            Some((controllers, path.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
33 31 0:30 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
34 31 0:31 / /sys/fs/cgroup/cpu\\040x rw,nosuid - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn finds_v1_controllers_and_the_unified_mount() {
        let mounts = cgroup_mounts(MOUNTINFO);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/sys/fs/cgroup/memory"));
        assert!(mounts[0].controllers.contains(&"memory".to_string()));
        assert_eq!(mounts[1].mount_point, PathBuf::from("/sys/fs/cgroup/cpu x"));
        assert!(mounts[2].v2);
    }

    #[test]
    fn own_cgroups_parse_v1_and_v2_lines() {
        let own = own_cgroups("4:memory:/process_api/b6\n2:cpu,cpuacct:/\n0::/user.slice\n");
        assert_eq!(own[0], (vec!["memory".to_string()], "/process_api/b6".to_string()));
        assert_eq!(own[1].0, vec!["cpu".to_string(), "cpuacct".to_string()]);
        assert_eq!(own[2], (Vec::new(), "/user.slice".to_string()));
    }
}
