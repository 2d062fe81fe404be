//! Observing the host: what a hostile rootfs or image could reach, snapshotted before and
//! compared after.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{tree_snapshot, CACHE};

// ---------------------------------------------------------------------------------------
// Observing the host
// ---------------------------------------------------------------------------------------

/// A directory of the test's own, outside any rootfs, with a few files in it: what a
/// hostile symlink points at. Its snapshot must never change.
pub fn make_sentinel(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("canary"), "the host's data; must survive\n").unwrap();
    std::fs::write(dir.join("sub/deeper"), "also this\n").unwrap();
    dir.to_owned()
}

/// Mount points of this (the host's) mount namespace.
pub fn mount_targets() -> Vec<String> {
    sysctr::sys::mountinfo::read_self().unwrap().into_iter().map(|m| m.mount_point.display().to_string()).collect()
}

/// Host mount points that no test of this repository makes on purpose, as a multiset
/// (a second mount on `/` or `/proc` must show). Mounts below any harness instance
/// (`/tmp/sysctr-it-*`, where parallel tests bind-mount) and the fixture cache (where
/// debootstrap mounts) are left out.
pub fn host_mounts() -> Vec<String> {
    let mut v: Vec<String> = mount_targets()
        .into_iter()
        .filter(|t| !t.starts_with("/tmp/sysctr-it-") && !t.starts_with(CACHE))
        .collect();
    v.sort();
    v
}

/// Names and types of the entries of the host's `/`.
pub fn host_root_listing() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/")
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            format!("{} {:?}", e.file_name().to_string_lossy(), e.file_type().unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Host files a container could be tricked into writing: content, mode, size and mtime.
pub fn host_files(paths: &[&str]) -> BTreeMap<String, String> {
    paths
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| (p.to_string(), tree_snapshot(Path::new(p)).join("\n")))
        .collect()
}

pub const HOST_ETC: &[&str] = &["/etc/hostname", "/etc/hosts", "/etc/passwd", "/etc/inittab", "/etc/fstab"];

/// Everything on the host a hostile rootfs could reach, to compare before and after.
#[derive(Debug, PartialEq)]
pub struct HostView {
    mounts: Vec<String>,
    root: Vec<String>,
    etc: BTreeMap<String, String>,
    sentinel: Vec<String>,
}

impl HostView {
    pub fn take(sentinel: &Path) -> HostView {
        HostView { mounts: host_mounts(), root: host_root_listing(), etc: host_files(HOST_ETC), sentinel: tree_snapshot(sentinel) }
    }

    pub fn assert_unchanged(&self, now: &HostView, what: &str) {
        assert_eq!(self.mounts, now.mounts, "{what}: the host's mount table changed");
        assert_eq!(self.root, now.root, "{what}: the host's / changed");
        assert_eq!(self.etc, now.etc, "{what}: a host /etc file changed");
        assert_eq!(self.sentinel, now.sentinel, "{what}: the sentinel directory changed");
        assert!(Path::new("/bin/sh").exists() && Path::new("/etc/passwd").exists(), "{what}: the host's / is damaged");
        assert!(Path::new("/proc/self/mountinfo").exists(), "{what}: the host's /proc is gone");
    }
}

