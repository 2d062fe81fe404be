//! Removal of a container directory that holds a hostile rootfs: never follows a symlink,
//! never descends into a mount (bind mounts are detached first, and a directory on another
//! device is refused rather than entered).

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::{fstat, fstatat, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use super::{Error, Result};

/// Remove `path` and everything below it. Mounts at or below `path` are detached first
/// (lazily, so a busy one cannot stop us and the mounted content is never touched).
pub fn remove_tree(path: &Path) -> Result<()> {
    // Resolve the parent (ours), never `path` itself: if `path` is a symlink, the link is
    // what goes, not what it points at.
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::Remove { path: path.to_owned(), source: nix::Error::EINVAL });
    };
    let parent = match std::fs::canonicalize(if parent.as_os_str().is_empty() { Path::new(".") } else { parent }) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Read { path: path.to_owned(), source }),
    };
    let path = parent.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            return std::fs::remove_file(&path).map_err(|e| Error::Remove { path, source: nix::Error::from_raw(e.raw_os_error().unwrap_or(0)) });
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Read { path, source }),
    }
    detach_mounts_below(&path)?;
    let parent = path.parent().ok_or_else(|| Error::Remove { path: path.clone(), source: nix::Error::EINVAL })?;
    let name = path.file_name().ok_or_else(|| Error::Remove { path: path.clone(), source: nix::Error::EINVAL })?;
    let rm_err = |p: &Path| {
        let p = p.to_owned();
        move |source| Error::Remove { path: p, source }
    };
    let parent_fd = open_dir(None, parent).map_err(rm_err(parent))?;
    let st = fstatat(Some(parent_fd.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(rm_err(&path))?;
    if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFDIR {
        return unlinkat(Some(parent_fd.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir).map_err(rm_err(&path));
    }
    let dir = open_dir(Some(&parent_fd), Path::new(name)).map_err(rm_err(&path))?;
    let dev = fstat(dir.as_raw_fd()).map_err(rm_err(&path))?.st_dev;
    empty_dir(dir, dev, &path)?;
    unlinkat(Some(parent_fd.as_raw_fd()), name, UnlinkatFlags::RemoveDir).map_err(rm_err(&path))
}

fn open_dir(at: Option<&OwnedFd>, path: &Path) -> nix::Result<OwnedFd> {
    crate::sys::open_dir(at.map(|f| f.as_fd()), path)
}

/// Empty the open directory `top` without recursion, however deep the tree: one directory
/// descriptor at a time. Going back up opens ".." and checks it is the very directory we
/// came down from (a guest moving directories meanwhile cannot lead us elsewhere).
fn empty_dir(top: OwnedFd, dev: u64, path: &Path) -> Result<()> {
    struct Frame {
        /// This level's name in its parent.
        name: CString,
        /// The parent's inode, to check the way back up.
        parent_ino: u64,
        /// The parent's entries still to remove.
        rest: Vec<CString>,
    }
    let err = |p: &Path| {
        let p = p.to_owned();
        move |source| Error::Remove { path: p, source }
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut shown = path.to_path_buf();
    let mut entries = list(&top, &shown)?;
    let mut cur = top;
    loop {
        if let Some(name) = entries.pop() {
            let child = shown.join(OsStr::from_bytes(name.as_bytes()));
            let st = fstatat(Some(cur.as_raw_fd()), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(err(&child))?;
            if SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFDIR {
                unlinkat(Some(cur.as_raw_fd()), name.as_c_str(), UnlinkatFlags::NoRemoveDir).map_err(err(&child))?;
                continue;
            }
            if st.st_dev != dev {
                return Err(Error::CrossDevice { path: child });
            }
            let sub = open_dir(Some(&cur), Path::new(OsStr::from_bytes(name.as_bytes()))).map_err(err(&child))?;
            let parent_ino = fstat(cur.as_raw_fd()).map_err(err(&shown))?.st_ino;
            stack.push(Frame { name, parent_ino, rest: std::mem::take(&mut entries) });
            entries = list(&sub, &child)?;
            cur = sub;
            shown = child;
        } else {
            let Some(frame) = stack.pop() else { return Ok(()) };
            let parent = open_dir(Some(&cur), Path::new("..")).map_err(err(&shown))?;
            let pst = fstat(parent.as_raw_fd()).map_err(err(&shown))?;
            if pst.st_ino != frame.parent_ino || pst.st_dev != dev {
                return Err(Error::Remove { path: shown, source: nix::Error::ESTALE });
            }
            drop(cur);
            shown.pop();
            let gone = shown.join(OsStr::from_bytes(frame.name.as_bytes()));
            unlinkat(Some(parent.as_raw_fd()), frame.name.as_c_str(), UnlinkatFlags::RemoveDir).map_err(err(&gone))?;
            cur = parent;
            entries = frame.rest;
        }
    }
}

/// The names in directory `dir`, but `.` and `..`.
fn list(dir: &OwnedFd, shown: &Path) -> Result<Vec<CString>> {
    let entries = crate::sys::dir_entries(dir.as_fd()).map_err(|source| Error::Remove { path: shown.to_owned(), source })?;
    Ok(entries.into_iter().map(|(name, _)| name).collect())
}


/// Detach every mount whose mount point is `root` or below it, deepest first.
pub fn detach_mounts_below(root: &Path) -> Result<()> {
    let mounts = crate::sys::mountinfo::read_self()
        .map_err(|source| Error::Read { path: "/proc/self/mountinfo".into(), source })?;
    let mut points: Vec<PathBuf> =
        mounts.into_iter().map(|m| m.mount_point).filter(|p| p.starts_with(root)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for p in points {
        match umount2(&p, MntFlags::MNT_DETACH) {
            Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
            Err(source) => return Err(Error::Remove { path: p, source }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;

    #[test]
    fn removes_tree_without_following_symlinks() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("sentinel"), "keep").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("c");
        std::fs::create_dir_all(root.join("rootfs/etc/deep/er")).unwrap();
        std::fs::write(root.join("rootfs/etc/deep/er/f"), "x").unwrap();
        std::os::unix::fs::symlink("/", root.join("rootfs/host")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("rootfs/etc/out")).unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
        assert_eq!(std::fs::read_to_string(outside.path().join("sentinel")).unwrap(), "keep");
        remove_tree(&root).unwrap(); // absent: nothing to do
    }

    #[test]
    fn removes_a_tree_deeper_than_path_max_and_any_stack() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("c");
        std::fs::create_dir(&top).unwrap();
        let mut fd = open_dir(None, &top).unwrap();
        for _ in 0..3000 {
            nix::sys::stat::mkdirat(Some(fd.as_raw_fd()), "dddddddddd", Mode::from_bits_truncate(0o755)).unwrap();
            let f = crate::sys::openat(Some(fd.as_fd()), Path::new("dddddddddd"), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
            drop(crate::sys::openat(Some(f.as_fd()), Path::new("f"), OFlag::O_CREAT | OFlag::O_WRONLY, Mode::from_bits_truncate(0o644)).unwrap());
            fd = f;
        }
        drop(fd);
        remove_tree(&top).unwrap();
        assert!(!top.exists());
    }

    #[test]
    fn a_symlinked_top_level_is_unlinked_not_followed() {
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join("keep"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("c");
        std::os::unix::fs::symlink(target.path(), &link).unwrap();
        remove_tree(&link).unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err(), "the link is gone");
        assert!(target.path().join("keep").exists(), "what it pointed at is not");
    }
}
