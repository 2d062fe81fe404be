//! Clone a root filesystem tree (an image's rootfs into a new container): blocks shared
//! with FICLONE where the filesystem can (btrfs, xfs), else copied in the kernel with
//! copy_file_range, by several threads. Owners, modes, times, xattrs (file capabilities),
//! hardlinks, symlinks and special files are kept; symlinks are never followed and other
//! mounts never entered; every path is resolved below the roots with openat2.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use crate::sys::files::{clone_file, open_below, set_xattr, xattrs, Resolve};

#[derive(Debug, thiserror::Error)]
#[error("cannot clone {path}: {source}")]
pub struct Error {
    pub path: PathBuf,
    #[source]
    pub source: Errno,
}

fn err(path: &Path) -> impl Fn(Errno) -> Error + '_ {
    move |source| Error { path: path.to_owned(), source }
}

/// How the files were copied.
#[derive(Debug, Default)]
pub struct Stats {
    pub files: u64,
    pub bytes: u64,
    pub reflinked: u64,
}

const WORKERS: usize = 4;

/// Clone the tree at `src` into `dst`, which must not exist.
pub fn clone_tree(src: &Path, dst: &Path) -> Result<Stats, Error> {
    let sroot = crate::sys::open_dir(None, src).map_err(err(src))?;
    nix::unistd::mkdir(dst, Mode::from_bits_truncate(0o700)).map_err(err(dst))?;
    let droot = crate::sys::open_dir(None, dst).map_err(err(dst))?;
    let st = nix::sys::stat::fstat(sroot.as_raw_fd()).map_err(err(src))?;
    let (tx, rx) = mpsc::channel::<(PathBuf, FileStat)>();
    let rx = Mutex::new(rx);
    let failed = AtomicBool::new(false);
    let stats = Mutex::new(Stats::default());
    let mut links = Vec::new();
    let mut dirs = Vec::new();
    let walked = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for _ in 0..WORKERS {
            handles.push(s.spawn(|| -> Result<(), Error> {
                loop {
                    let job = rx.lock().map(|r| r.recv()).unwrap_or(Err(mpsc::RecvError));
                    let Ok((rel, st)) = job else { return Ok(()) };
                    if failed.load(Ordering::Relaxed) {
                        continue;
                    }
                    match copy_file(sroot.as_fd(), droot.as_fd(), &rel, &st) {
                        Ok(reflinked) => {
                            if let Ok(mut s) = stats.lock() {
                                s.files += 1;
                                s.bytes += st.st_size as u64;
                                s.reflinked += reflinked as u64;
                            }
                        }
                        Err(e) => {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                }
            }));
        }
        let mut seen = HashMap::new();
        let walked = walk(sroot.as_fd(), droot.as_fd(), Path::new(""), st.st_dev, &tx, &mut seen, &mut links, &mut dirs);
        drop(tx);
        let mut first_err = walked.err();
        for h in handles {
            if let Ok(Err(e)) = h.join() {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    });
    walked?;
    for (rel, first) in links {
        let target = open_below(droot.as_fd(), &first, OFlag::O_PATH | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict).map_err(err(&first))?;
        let (parent, leaf) = split(&rel);
        let pfd = open_parent(droot.as_fd(), parent).map_err(err(&rel))?;
        nix::unistd::linkat(Some(target.as_raw_fd()), Path::new(""), Some(pfd.as_raw_fd()), Path::new(leaf), AtFlags::AT_EMPTY_PATH).map_err(err(&rel))?;
    }
    set_meta(droot.as_fd(), &st, &xattrs(sroot.as_fd()).unwrap_or_default()).map_err(err(dst))?;
    for (rel, st, attrs) in dirs.iter().rev() {
        let fd = open_below(droot.as_fd(), rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict).map_err(err(rel))?;
        set_meta(fd.as_fd(), st, attrs).map_err(err(rel))?;
    }
    Ok(stats.into_inner().unwrap_or_default())
}

fn split(rel: &Path) -> (&Path, &OsStr) {
    (rel.parent().unwrap_or(Path::new("")), rel.file_name().unwrap_or_default())
}

fn open_parent(root: BorrowedFd<'_>, parent: &Path) -> nix::Result<OwnedFd> {
    if parent.as_os_str().is_empty() {
        return root.try_clone_to_owned().map_err(|_| Errno::EBADF);
    }
    open_below(root, parent, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict)
}

type DirMeta = (PathBuf, FileStat, Vec<(String, Vec<u8>)>);

#[allow(clippy::too_many_arguments)]
fn walk(
    sdir: BorrowedFd<'_>,
    ddir: BorrowedFd<'_>,
    at: &Path,
    dev: u64,
    tx: &mpsc::Sender<(PathBuf, FileStat)>,
    seen: &mut HashMap<(u64, u64), PathBuf>,
    links: &mut Vec<(PathBuf, PathBuf)>,
    dirs: &mut Vec<DirMeta>,
) -> Result<(), Error> {
    for (name, _) in crate::sys::dir_entries(sdir).map_err(err(at))? {
        let leaf = OsStr::from_bytes(name.to_bytes());
        let rel = at.join(leaf);
        let st = nix::sys::stat::fstatat(Some(sdir.as_raw_fd()), leaf, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(err(&rel))?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        let owner = |d: BorrowedFd<'_>| {
            nix::unistd::fchownat(Some(d.as_raw_fd()), leaf, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)), AtFlags::AT_SYMLINK_NOFOLLOW)
        };
        let times = |d: BorrowedFd<'_>| {
            let (a, m) = (TimeSpec::new(st.st_atime, st.st_atime_nsec), TimeSpec::new(st.st_mtime, st.st_mtime_nsec));
            nix::sys::stat::utimensat(Some(d.as_raw_fd()), leaf, &a, &m, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
        };
        match kind {
            SFlag::S_IFDIR => {
                let sub = open_below(sdir, Path::new(leaf), OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict).map_err(err(&rel))?;
                nix::sys::stat::mkdirat(Some(ddir.as_raw_fd()), leaf, Mode::from_bits_truncate(0o700)).map_err(err(&rel))?;
                if st.st_dev != dev {
                    // A mount point: made, not entered (cp -x).
                    continue;
                }
                let dsub = open_below(ddir, Path::new(leaf), OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict).map_err(err(&rel))?;
                let attrs = xattrs(sub.as_fd()).unwrap_or_default();
                walk(sub.as_fd(), dsub.as_fd(), &rel, dev, tx, seen, links, dirs)?;
                dirs.push((rel, st, attrs));
            }
            SFlag::S_IFREG => {
                if st.st_nlink > 1 {
                    if let Some(first) = seen.get(&(st.st_dev, st.st_ino)) {
                        links.push((rel, first.clone()));
                        continue;
                    }
                    seen.insert((st.st_dev, st.st_ino), rel.clone());
                }
                let _ = tx.send((rel, st));
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(sdir.as_raw_fd()), leaf).map_err(err(&rel))?;
                nix::unistd::symlinkat(target.as_os_str(), Some(ddir.as_raw_fd()), leaf).map_err(err(&rel))?;
                owner(ddir).map_err(err(&rel))?;
                times(ddir).map_err(err(&rel))?;
            }
            _ => {
                // FIFOs, sockets and device nodes, as they are.
                nix::sys::stat::mknodat(Some(ddir.as_raw_fd()), leaf, kind, Mode::from_bits_truncate(st.st_mode & 0o7777), st.st_rdev).map_err(err(&rel))?;
                owner(ddir).map_err(err(&rel))?;
                nix::sys::stat::fchmodat(Some(ddir.as_raw_fd()), leaf, Mode::from_bits_truncate(st.st_mode & 0o7777), nix::sys::stat::FchmodatFlags::FollowSymlink)
                    .map_err(err(&rel))?;
                times(ddir).map_err(err(&rel))?;
            }
        }
    }
    Ok(())
}

/// Copy one regular file; true when its blocks were shared.
fn copy_file(sroot: BorrowedFd<'_>, droot: BorrowedFd<'_>, rel: &Path, st: &FileStat) -> Result<bool, Error> {
    let e = err(rel);
    let src = open_below(sroot, rel, OFlag::O_RDONLY | OFlag::O_NOFOLLOW, Mode::empty(), Resolve::Strict).map_err(&e)?;
    let dst = open_below(droot, rel, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW, Mode::from_bits_truncate(0o600), Resolve::Strict).map_err(&e)?;
    let reflinked = st.st_size > 0 && clone_file(src.as_fd(), dst.as_fd()).is_ok();
    if !reflinked && st.st_size > 0 {
        let mut left = st.st_size as usize;
        let mut fallback = false;
        while left > 0 {
            match nix::fcntl::copy_file_range(src.as_fd(), None, dst.as_fd(), None, left) {
                Ok(0) => break,
                Ok(n) => left -= n,
                Err(Errno::EXDEV | Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::EINVAL) => {
                    fallback = true;
                    break;
                }
                Err(x) => return Err(e(x)),
            }
        }
        if fallback {
            let mut r = std::fs::File::from(src.try_clone().map_err(|_| e(Errno::EBADF))?);
            let mut w = std::fs::File::from(dst.try_clone().map_err(|_| e(Errno::EBADF))?);
            std::io::copy(&mut r, &mut w).map_err(|x| e(Errno::from_raw(x.raw_os_error().unwrap_or(libc::EIO))))?;
        }
    }
    set_meta(dst.as_fd(), st, &xattrs(src.as_fd()).unwrap_or_default()).map_err(&e)?;
    Ok(reflinked)
}

fn set_meta(fd: BorrowedFd<'_>, st: &FileStat, attrs: &[(String, Vec<u8>)]) -> nix::Result<()> {
    let (a, m) = (TimeSpec::new(st.st_atime, st.st_atime_nsec), TimeSpec::new(st.st_mtime, st.st_mtime_nsec));
    set_file_meta(fd, st.st_uid, st.st_gid, st.st_mode, attrs, &a, &m)
}

/// Give the file behind `fd` its owner, then its mode (chown clears set-id bits), xattrs
/// (file capabilities among them) and times: for clones and unpacked images alike.
pub fn set_file_meta(fd: BorrowedFd<'_>, uid: u32, gid: u32, mode: u32, attrs: &[(String, Vec<u8>)], atime: &TimeSpec, mtime: &TimeSpec) -> nix::Result<()> {
    nix::unistd::fchown(fd.as_raw_fd(), Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))?;
    nix::sys::stat::fchmod(fd.as_raw_fd(), Mode::from_bits_truncate(mode & 0o7777))?;
    for (k, v) in attrs {
        set_xattr(fd, k, v)?;
    }
    nix::sys::stat::futimens(fd.as_raw_fd(), atime, mtime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn clones_files_links_and_modes_without_following_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("src");
        std::fs::create_dir_all(src.join("etc/sub")).unwrap();
        std::fs::write(src.join("etc/a"), vec![7u8; 300_000]).unwrap();
        std::fs::hard_link(src.join("etc/a"), src.join("etc/sub/a2")).unwrap();
        std::os::unix::fs::symlink("/", src.join("etc/root")).unwrap();
        std::fs::set_permissions(src.join("etc/a"), std::fs::Permissions::from_mode(0o4711)).unwrap();
        std::fs::set_permissions(src.join("etc/sub"), std::fs::Permissions::from_mode(0o555)).unwrap();
        let dst = t.path().join("dst");
        let stats = clone_tree(&src, &dst).unwrap();
        assert_eq!(stats.files, 1);
        assert_eq!(std::fs::read(dst.join("etc/a")).unwrap(), vec![7u8; 300_000]);
        assert_eq!(std::fs::metadata(dst.join("etc/a")).unwrap().permissions().mode() & 0o7777, 0o4711);
        assert_eq!(std::fs::metadata(dst.join("etc/a")).unwrap().ino(), std::fs::metadata(dst.join("etc/sub/a2")).unwrap().ino());
        assert_eq!(std::fs::read_link(dst.join("etc/root")).unwrap(), Path::new("/"));
        assert_eq!(std::fs::metadata(dst.join("etc/sub")).unwrap().permissions().mode() & 0o7777, 0o555);
        assert!(clone_tree(&src, &dst).is_err(), "an existing destination is refused");
    }
}
