//! The container's user namespace: init is cloned into it together with the pid, network,
//! uts and ipc namespaces (so the guest's root owns them: it configures its network and
//! reboots), the runtime writes its id maps, and the rootfs is shown through an idmapped
//! mount of it (on-disk uid 0 is the guest's root). A host-root helper in init's pid
//! namespace builds the container's mounts and hands init a locked copy of them
//! ([`super::init::build_for_userns`]).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use super::{Error, Result};

/// One line of an id map: `size` ids from `container` map to `host` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

/// uid and gid maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    pub uids: Vec<Range>,
    pub gids: Vec<Range>,
}

fn lookup(ranges: &[Range], id: u32) -> Option<u32> {
    ranges.iter().find(|r| id >= r.container && id - r.container < r.size).map(|r| r.host + (id - r.container))
}

fn render(ranges: &[Range]) -> String {
    ranges.iter().map(|r| format!("{} {} {}\n", r.container, r.host, r.size)).collect()
}

impl IdMap {
    /// The spec's maps, when it asks for a new user namespace.
    pub fn from_spec(spec: &Spec) -> Result<Option<IdMap>> {
        let Some(linux) = spec.linux() else { return Ok(None) };
        let wants = linux.namespaces().iter().flatten().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
        if !wants {
            return Ok(None);
        }
        let conv = |m: &Option<Vec<LinuxIdMapping>>| -> Vec<Range> {
            m.iter().flatten().map(|m| Range { container: m.container_id(), host: m.host_id(), size: m.size() }).collect()
        };
        let map = IdMap { uids: conv(linux.uid_mappings()), gids: conv(linux.gid_mappings()) };
        if map.uids.is_empty() || map.gids.is_empty() {
            return Err(Error::Spec("a new user namespace needs linux.uidMappings and linux.gidMappings".into()));
        }
        if map.uid(0).is_none() || map.gid(0).is_none() {
            return Err(Error::Spec("the id maps must map the container's root (id 0)".into()));
        }
        Ok(Some(map))
    }

    /// The host uid of container uid `id`.
    pub fn uid(&self, id: u32) -> Option<u32> {
        lookup(&self.uids, id)
    }

    pub fn gid(&self, id: u32) -> Option<u32> {
        lookup(&self.gids, id)
    }

    /// The host ids of the container's root.
    pub fn root(&self) -> (u32, u32) {
        (self.uid(0).unwrap_or(0), self.gid(0).unwrap_or(0))
    }
}

/// The namespaces to make together with the user namespace, at clone time, so it owns
/// them: those the spec asks for without a path, but mount and cgroup (init makes those,
/// the cgroup one only once it stands in its cgroup).
pub fn clone_flags(spec: &Spec) -> CloneFlags {
    let mut flags = CloneFlags::CLONE_NEWUSER;
    for ns in spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).into_iter().flatten() {
        if ns.path().is_some() {
            continue;
        }
        match ns.typ() {
            LinuxNamespaceType::Pid => flags |= CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Network => flags |= CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Uts => flags |= CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => flags |= CloneFlags::CLONE_NEWIPC,
            _ => {}
        }
    }
    flags
}

/// Write the id maps of the user namespace `pid` was cloned into.
pub fn write_maps(pid: nix::unistd::Pid, map: &IdMap) -> Result<()> {
    std::fs::write(format!("/proc/{pid}/uid_map"), render(&map.uids)).map_err(|e| Error::Io { what: "write the uid map", source: e })?;
    std::fs::write(format!("/proc/{pid}/gid_map"), render(&map.gids)).map_err(|e| Error::Io { what: "write the gid map", source: e })
}

/// A detached bind of `rootfs`, idmapped through the user namespace of process `pid`.
pub fn idmapped_tree(rootfs: &Path, pid: nix::unistd::Pid) -> Result<OwnedFd> {
    let err = |source| Error::Idmap { path: rootfs.to_owned(), source };
    let dir = crate::sys::openat(None, rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|source| Error::Sys { what: "open", path: rootfs.to_owned(), source })?;
    let userns = std::fs::File::open(format!("/proc/{pid}/ns/user")).map_err(|e| Error::Io { what: "open the container's user namespace", source: e })?;
    let tree = crate::sys::mountapi::open_tree_clone(dir.as_fd()).map_err(err)?;
    crate::sys::mountapi::idmap(tree.as_fd(), userns.as_fd()).map_err(err)?;
    Ok(tree)
}

/// `uid=`/`gid=` of a filesystem mounted as host root for the guest, given as the guest
/// means them (`gid=5`), turned into host ids; tmpfs gets its root owned by the guest's root.
pub fn map_mount_data(fstype: &str, data: &str, map: &IdMap) -> Result<String> {
    let mut out = Vec::new();
    let (mut has_uid, mut has_gid) = (false, false);
    for opt in data.split(',').filter(|o| !o.is_empty()) {
        let id = |v: &str| v.parse::<u32>().map_err(|_| Error::Spec(format!("bad mount option {opt}")));
        let unmapped = |what: &str, v: &str| Error::Spec(format!("mount option {opt}: {what} {v} is not mapped"));
        out.push(match opt.split_once('=') {
            Some(("uid", v)) => {
                has_uid = true;
                format!("uid={}", map.uid(id(v)?).ok_or_else(|| unmapped("uid", v))?)
            }
            Some(("gid", v)) => {
                has_gid = true;
                format!("gid={}", map.gid(id(v)?).ok_or_else(|| unmapped("gid", v))?)
            }
            _ => opt.to_owned(),
        });
    }
    if fstype == "tmpfs" {
        let (u, g) = map.root();
        if !has_uid {
            out.push(format!("uid={u}"));
        }
        if !has_gid {
            out.push(format!("gid={g}"));
        }
    }
    Ok(out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> IdMap {
        let r = Range { container: 0, host: 1_000_000, size: 65536 };
        IdMap { uids: vec![r], gids: vec![r] }
    }

    #[test]
    fn ids_map_inside_the_range_only() {
        let m = map();
        assert_eq!(m.uid(0), Some(1_000_000));
        assert_eq!(m.gid(65535), Some(1_065_535));
        assert_eq!(m.uid(65536), None);
        assert_eq!(m.root(), (1_000_000, 1_000_000));
        assert_eq!(render(&m.uids), "0 1000000 65536\n");
    }

    #[test]
    fn mount_options_get_host_ids() {
        let m = map();
        assert_eq!(map_mount_data("devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", &m).unwrap(), "newinstance,ptmxmode=0666,mode=0620,gid=1000005");
        assert_eq!(map_mount_data("tmpfs", "mode=755,size=65536k", &m).unwrap(), "mode=755,size=65536k,uid=1000000,gid=1000000");
        assert_eq!(map_mount_data("tmpfs", "uid=1,gid=2", &m).unwrap(), "uid=1000001,gid=1000002");
        assert!(map_mount_data("tmpfs", "uid=70000", &m).is_err());
    }
}
