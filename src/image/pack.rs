//! Deterministic tarballs of a tree we built (template images): sorted names, the files'
//! own owners, modes, times and xattrs (PAX `SCHILY.xattr.*`), hardlinks kept, device
//! nodes left out. The same tree always packs to the same bytes, so its fingerprint is
//! stable and `image export` + `image import` round-trips.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

use crate::sys::files::{open_below, xattrs, Resolve};

/// Write the tree below `root` as a tar stream into `out`, entries named `./…`
/// (under `prefix` when given, e.g. `rootfs`).
pub fn pack(root: BorrowedFd<'_>, prefix: &str, out: impl Write) -> io::Result<()> {
    let mut b = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let base = if prefix.is_empty() { PathBuf::from(".") } else { PathBuf::from(prefix) };
    let st = nix::sys::stat::fstat(root.as_raw_fd()).map_err(io::Error::from)?;
    dir_entry(&mut b, root, &base, &st)?;
    walk(&mut b, root, &base, &mut links)?;
    b.into_inner()?.flush()
}

fn walk<W: Write>(b: &mut tar::Builder<W>, dir: BorrowedFd<'_>, at: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> io::Result<()> {
    let mut names: Vec<CString> = crate::sys::dir_entries(dir).map_err(io::Error::from)?.into_iter().map(|(n, _)| n).collect();
    names.sort();
    for name in names {
        let leaf = OsStr::from_bytes(name.to_bytes());
        let path = at.join(leaf);
        let st = nix::sys::stat::fstatat(Some(dir.as_raw_fd()), leaf, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io::Error::from)?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let mut h = header(&st);
        if kind == SFlag::S_IFDIR {
            let sub = open_below(dir, Path::new(leaf), OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict)
                .map_err(io::Error::from)?;
            // Only the tree's own filesystem.
            if nix::sys::stat::fstat(sub.as_raw_fd()).map_err(io::Error::from)?.st_dev != st.st_dev {
                continue;
            }
            dir_entry(b, sub.as_fd(), &path, &st)?;
            walk(b, sub.as_fd(), &path, links)?;
        } else if kind == SFlag::S_IFREG {
            if st.st_nlink > 1 {
                if let Some(first) = links.get(&(st.st_dev, st.st_ino)) {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &path, first)?;
                    continue;
                }
                links.insert((st.st_dev, st.st_ino), path.clone());
            }
            let fd = open_below(dir, Path::new(leaf), OFlag::O_RDONLY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict).map_err(io::Error::from)?;
            pax_xattrs(b, fd.as_fd())?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            b.append_data(&mut h, &path, std::fs::File::from(fd))?;
        } else if kind == SFlag::S_IFLNK {
            let target = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), leaf).map_err(io::Error::from)?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &path, Path::new(&target))?;
        } else if kind == SFlag::S_IFIFO {
            h.set_entry_type(tar::EntryType::Fifo);
            h.set_size(0);
            b.append_data(&mut h, &path, io::empty())?;
        }
        // Device nodes and sockets: a container's /dev is a tmpfs made at boot.
    }
    Ok(())
}

fn dir_entry<W: Write>(b: &mut tar::Builder<W>, fd: BorrowedFd<'_>, path: &Path, st: &nix::sys::stat::FileStat) -> io::Result<()> {
    pax_xattrs(b, fd)?;
    let mut h = header(st);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_size(0);
    let mut name = path.as_os_str().as_bytes().to_vec();
    name.push(b'/');
    b.append_data(&mut h, OsStr::from_bytes(&name), io::empty())
}

fn header(st: &nix::sys::stat::FileStat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h
}

/// A PAX extended header carrying the next entry's xattrs (file capabilities among them).
fn pax_xattrs<W: Write>(b: &mut tar::Builder<W>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut attrs = xattrs(fd).map_err(io::Error::from)?;
    if attrs.is_empty() {
        return Ok(());
    }
    attrs.sort();
    let mut data = Vec::new();
    for (k, v) in attrs {
        let mut body = format!(" SCHILY.xattr.{k}=").into_bytes();
        body.extend_from_slice(&v);
        body.push(b'\n');
        // The record's length counts its own digits.
        let mut len = body.len() + 1;
        while len.to_string().len() + body.len() != len {
            len += 1;
        }
        data.extend_from_slice(len.to_string().as_bytes());
        data.extend_from_slice(&body);
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, "././@PaxHeader", &data[..])
}

/// Open a directory to pack.
pub fn open_tree(path: &Path) -> io::Result<OwnedFd> {
    crate::sys::open_dir(None, path).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn packs_deterministically_and_unpacks_the_same() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("etc/deep")).unwrap();
        std::fs::write(src.join("etc/hostname"), "x\n").unwrap();
        std::fs::write(src.join("b"), "bee").unwrap();
        std::fs::hard_link(src.join("b"), src.join("b2")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", src.join("etc/deep/l")).unwrap();
        std::fs::set_permissions(src.join("b"), std::fs::Permissions::from_mode(0o4755)).unwrap();
        let long = "n".repeat(150);
        std::fs::write(src.join(&long), "long").unwrap();
        let mut a = Vec::new();
        pack(open_tree(&src).unwrap().as_fd(), "", &mut a).unwrap();
        let mut again = Vec::new();
        pack(open_tree(&src).unwrap().as_fd(), "", &mut again).unwrap();
        assert_eq!(a, again);
        let dst = t.path().join("dst");
        std::fs::create_dir(&dst).unwrap();
        let d = open_tree(&dst).unwrap();
        super::super::unpack::unpack(&a[..], super::super::unpack::Layout::Rootfs, d.as_fd(), Default::default()).unwrap();
        assert_eq!(std::fs::read_to_string(dst.join("b2")).unwrap(), "bee");
        assert_eq!(std::fs::read_link(dst.join("etc/deep/l")).unwrap(), Path::new("/etc/hostname"));
        assert_eq!(std::fs::metadata(dst.join("b")).unwrap().permissions().mode() & 0o7777, 0o4755);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(dst.join("b")).unwrap().ino(), std::fs::metadata(dst.join("b2")).unwrap().ino());
        assert_eq!(std::fs::read_to_string(dst.join(&long)).unwrap(), "long");
    }
}
