//! A one-time shift of a rootfs's owners into (or out of) a user namespace's host range,
//! for when the rootfs cannot be shown through an idmapped mount (a filesystem the kernel
//! cannot idmap, or an OCI runtime such as runc that does not do it).
//!
//! Every path is walked through descriptors from the root, never following a symlink
//! (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`) and never leaving the root's filesystem: a rootfs
//! is hostile input, and a symlink in it must not make us chown a host file. Owners in
//! `from..from+size` move to `to..`; others stay. Setuid and setgid bits (which chown
//! clears), file capabilities (their root id) and POSIX ACLs (their user and group ids)
//! move with the files. Hard links are shifted once. The shift is idempotent when the two
//! ranges do not overlap, so an interrupted one is finished by running it again.

use std::collections::HashSet;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode};
use nix::unistd::{Gid, Uid};

/// What a shift did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Shifted {
    pub entries: u64,
    pub changed: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot shift the owners of {path}")]
pub struct Error {
    pub path: String,
    #[source]
    pub source: nix::Error,
}

/// The shift of one kind of id (uids or gids).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    pub from: u32,
    pub to: u32,
    pub size: u32,
}

/// The shifts of uids and of gids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shifts {
    pub uids: Shift,
    pub gids: Shift,
}

impl Shift {
    pub fn id(&self, id: u32) -> u32 {
        if id >= self.from && id - self.from < self.size {
            self.to + (id - self.from)
        } else {
            id
        }
    }
}

const CAPS: &str = "security.capability";
const ACLS: &[&str] = &["system.posix_acl_access", "system.posix_acl_default"];

/// `security.capability` with its root id shifted (v2 has root id 0; a non-zero one needs v3).
fn shift_caps(v: &[u8], s: Shift) -> Option<Vec<u8>> {
    if v.len() < 20 {
        return None;
    }
    let magic = u32::from_le_bytes(v[0..4].try_into().ok()?);
    let rev = magic & 0xff00_0000;
    let root = match (rev, v.len()) {
        (0x0200_0000, 20) => 0,
        (0x0300_0000, 24) => u32::from_le_bytes(v[20..24].try_into().ok()?),
        _ => return None,
    };
    let new_root = s.id(root);
    let flags = magic & 0x00ff_ffff;
    let mut out = Vec::with_capacity(24);
    if new_root == 0 {
        out.extend((0x0200_0000 | flags).to_le_bytes());
        out.extend(&v[4..20]);
    } else {
        out.extend((0x0300_0000 | flags).to_le_bytes());
        out.extend(&v[4..20]);
        out.extend(new_root.to_le_bytes());
    }
    Some(out)
}

/// A POSIX ACL xattr with its named users' and groups' ids shifted.
fn shift_acl(v: &[u8], s: Shifts) -> Option<Vec<u8>> {
    if v.len() < 4 || (v.len() - 4) % 8 != 0 {
        return None;
    }
    let mut out = v.to_vec();
    for e in out[4..].chunks_mut(8) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let shift = match tag {
            0x02 => s.uids,
            0x08 => s.gids,
            _ => continue,
        };
        let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        e[4..8].copy_from_slice(&shift.id(id).to_le_bytes());
    }
    Some(out)
}

/// Shift the owners of everything below (and of) the directory `root`.
pub fn shift_tree(root: &Path, s: Shifts) -> Result<Shifted, Error> {
    let err = |path: &str, source| Error { path: path.to_owned(), source };
    let top = crate::sys::openat(None, root, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| err(&root.display().to_string(), e))?;
    let dev = nix::sys::stat::fstat(top.as_raw_fd()).map_err(|e| err(&root.display().to_string(), e))?.st_dev;
    let mut done = Shifted::default();
    let mut seen: HashSet<u64> = HashSet::new();
    shift_one(top.as_fd(), &s, &mut done).map_err(|e| err(&root.display().to_string(), e))?;
    let mut stack: Vec<(OwnedFd, String)> = vec![(top, root.display().to_string())];
    while let Some((dir, path)) = stack.pop() {
        for (name, _) in crate::sys::dir_entries(dir.as_fd()).map_err(|e| err(&path, e))? {
            let shown = format!("{path}/{}", name.to_string_lossy());
            let st = fstatat(Some(dir.as_raw_fd()), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW).map_err(|e| err(&shown, e))?;
            if st.st_dev != dev {
                continue; // another filesystem mounted here: not ours to change
            }
            let kind = st.st_mode & libc::S_IFMT;
            if kind != libc::S_IFDIR && st.st_nlink > 1 && !seen.insert(st.st_ino) {
                continue;
            }
            done.entries += 1;
            if kind == libc::S_IFDIR || kind == libc::S_IFREG {
                let mut flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
                if kind == libc::S_IFDIR {
                    flags |= OFlag::O_DIRECTORY;
                }
                let fd = crate::sys::openat(Some(dir.as_fd()), Path::new(std::ffi::OsStr::from_bytes(name.to_bytes())), flags, Mode::empty())
                    .map_err(|e| err(&shown, e))?;
                shift_one(fd.as_fd(), &s, &mut done).map_err(|e| err(&shown, e))?;
                if kind == libc::S_IFDIR {
                    stack.push((fd, shown));
                }
            } else {
                // Symlinks, devices, fifos, sockets: by name, never opened or followed.
                let (u, g) = (s.uids.id(st.st_uid), s.gids.id(st.st_gid));
                if (u, g) != (st.st_uid, st.st_gid) {
                    nix::unistd::fchownat(Some(dir.as_raw_fd()), name.as_c_str(), Some(Uid::from_raw(u)), Some(Gid::from_raw(g)), AtFlags::AT_SYMLINK_NOFOLLOW)
                        .map_err(|e| err(&shown, e))?;
                    done.changed += 1;
                }
            }
        }
    }
    Ok(done)
}

/// Shift one open file or directory: owner, then what chown takes away.
fn shift_one(fd: BorrowedFd<'_>, s: &Shifts, done: &mut Shifted) -> nix::Result<()> {
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    let (u, g) = (s.uids.id(st.st_uid), s.gids.id(st.st_gid));
    let attrs = crate::sys::files::xattrs(fd)?;
    let caps = attrs.iter().find(|(k, _)| k == CAPS).and_then(|(_, v)| shift_caps(v, s.uids)).filter(|c| attrs.iter().any(|(k, v)| k == CAPS && v != c));
    if (u, g) == (st.st_uid, st.st_gid) && caps.is_none() && !attrs.iter().any(|(k, _)| ACLS.contains(&k.as_str())) {
        return Ok(());
    }
    nix::unistd::fchown(fd.as_raw_fd(), Some(Uid::from_raw(u)), Some(Gid::from_raw(g)))?;
    if st.st_mode & (libc::S_ISUID | libc::S_ISGID) != 0 {
        nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    }
    if let Some(c) = caps {
        crate::sys::files::set_xattr(fd, CAPS, &c)?;
    }
    for (k, v) in attrs.iter().filter(|(k, _)| ACLS.contains(&k.as_str())) {
        if let Some(a) = shift_acl(v, *s) {
            crate::sys::files::set_xattr(fd, k, &a)?;
        }
    }
    done.changed += 1;
    Ok(())
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    const UP1: Shift = Shift { from: 0, to: 1_000_000, size: 65536 };
    const UP: Shifts = Shifts { uids: UP1, gids: UP1 };
    const DOWN1: Shift = Shift { from: 1_000_000, to: 0, size: 65536 };

    #[test]
    fn caps_and_acls_carry_their_ids() {
        let mut v2 = 0x0200_0001u32.to_le_bytes().to_vec();
        v2.extend([0x00, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let v3 = shift_caps(&v2, UP1).unwrap();
        assert_eq!(v3.len(), 24);
        assert_eq!(u32::from_le_bytes(v3[0..4].try_into().unwrap()), 0x0300_0001);
        assert_eq!(u32::from_le_bytes(v3[20..24].try_into().unwrap()), 1_000_000);
        let back = shift_caps(&v3, DOWN1).unwrap();
        assert_eq!(back, v2, "back to v2 at root id 0");
        let mut acl = 2u32.to_le_bytes().to_vec();
        for (tag, id) in [(0x01u16, u32::MAX), (0x02, 1000), (0x08, 100), (0x20, u32::MAX)] {
            acl.extend(tag.to_le_bytes());
            acl.extend(7u16.to_le_bytes());
            acl.extend(id.to_le_bytes());
        }
        let s = shift_acl(&acl, UP).unwrap();
        let ids: Vec<u32> = s[4..].chunks(8).map(|e| u32::from_le_bytes(e[4..8].try_into().unwrap())).collect();
        assert_eq!(ids, [u32::MAX, 1_001_000, 1_000_100, u32::MAX]);
    }

    #[test]
    fn shifts_owners_once_without_following_symlinks() {
        if !nix::unistd::geteuid().is_root() {
            return; // chown needs root; CI runs the unit tests as root
        }
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::write(&outside, "host").unwrap();
        let r = t.path().join("rootfs");
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/passwd"), "x").unwrap();
        std::fs::hard_link(r.join("etc/passwd"), r.join("etc/passwd-link")).unwrap();
        std::fs::write(r.join("suid"), "x").unwrap();
        std::fs::set_permissions(r.join("suid"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::os::unix::fs::lchown(r.join("etc/passwd"), Some(1000), Some(1000)).unwrap();
        std::os::unix::fs::symlink(&outside, r.join("escape")).unwrap();
        std::os::unix::fs::lchown(r.join("escape"), Some(0), Some(0)).unwrap();
        let done = shift_tree(&r, UP).unwrap();
        assert_eq!(done.entries, 4, "etc, passwd (its link counted once), suid, escape");
        let m = |p: &str| std::fs::symlink_metadata(r.join(p)).unwrap();
        assert_eq!((m("etc").uid(), m("etc").gid()), (1_000_000, 1_000_000));
        assert_eq!(m("etc/passwd").uid(), 1_001_000, "shifted once, though linked twice");
        assert_eq!(m("suid").mode() & 0o7777, 0o4755, "setuid kept");
        assert_eq!(m("escape").uid(), 1_000_000, "the link itself");
        assert_eq!(std::fs::metadata(&outside).unwrap().uid(), 0, "never its target");
        // Again: nothing left to do (an interrupted shift is finished by a re-run).
        assert_eq!(shift_tree(&r, UP).unwrap().changed, 0);
        shift_tree(&r, Shifts { uids: DOWN1, gids: DOWN1 }).unwrap();
        assert_eq!(m("etc/passwd").uid(), 1000);
        assert_eq!(m("suid").mode() & 0o7777, 0o4755);
    }
}
