//! File-level calls the image store and the rootfs clone need and `nix` lacks: openat2 with
//! resolve flags, extended attributes by descriptor, and FICLONE.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// How a path below a directory descriptor may be resolved.
#[derive(Clone, Copy, Debug)]
pub enum Resolve {
    /// Stay below the directory; no symlink anywhere on the way; no other mounts.
    /// For trees we are building and must not be steered out of (image unpack).
    Strict,
    /// Resolve as if the directory were `/` (symlinks to `/etc` stay inside it): how the
    /// container itself will see the path. For writing into a guest's rootfs.
    InRoot,
}

/// openat2(2) of `path` below `dir`, resolved as `how` says. The final component is never
/// followed when `flags` has O_NOFOLLOW.
pub fn open_below(dir: BorrowedFd<'_>, path: &Path, flags: OFlag, mode: Mode, how: Resolve) -> nix::Result<OwnedFd> {
    let resolve = match how {
        Resolve::Strict => ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_XDEV,
        Resolve::InRoot => ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS | ResolveFlag::RESOLVE_NO_XDEV,
    } | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    // O_CREAT is the only case where the mode matters; openat2 refuses a mode otherwise.
    let mode = if flags.intersects(OFlag::O_CREAT | OFlag::O_TMPFILE) { mode } else { Mode::empty() };
    let open_how = OpenHow::new().flags(flags | OFlag::O_CLOEXEC).mode(mode).resolve(resolve);
    let fd = nix::fcntl::openat2(dir.as_raw_fd(), path, open_how)?;
    // SAFETY: openat2 just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// fsetxattr(2): set extended attribute `name` on the file behind `fd`.
pub fn set_xattr(fd: BorrowedFd<'_>, name: &str, value: &[u8]) -> nix::Result<()> {
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: name is NUL-terminated, value points at value.len() readable bytes, fd is open.
    let r = unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    Errno::result(r).map(drop)
}

/// The extended attributes of the file behind `fd` (names and values). Symlinks have none
/// a container could use; callers do not ask for them.
pub fn xattrs(fd: BorrowedFd<'_>) -> nix::Result<Vec<(String, Vec<u8>)>> {
    let mut names = vec![0u8; 1024];
    let len = loop {
        // SAFETY: the buffer is names.len() writable bytes; the kernel writes at most that.
        let r = unsafe { libc::flistxattr(fd.as_raw_fd(), names.as_mut_ptr().cast(), names.len()) };
        match Errno::result(r) {
            Ok(n) => break n as usize,
            Err(Errno::ERANGE) => names.resize(names.len() * 4, 0),
            Err(Errno::ENOTSUP) => return Ok(vec![]),
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for raw in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(raw).map_err(|_| Errno::EINVAL)?;
        let mut value = vec![0u8; 256];
        loop {
            // SAFETY: cname is NUL-terminated; the buffer is value.len() writable bytes.
            let r = unsafe { libc::fgetxattr(fd.as_raw_fd(), cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
            match Errno::result(r) {
                Ok(n) => {
                    value.truncate(n as usize);
                    break;
                }
                Err(Errno::ERANGE) => value.resize(value.len() * 4, 0),
                Err(e) => return Err(e),
            }
        }
        out.push((String::from_utf8_lossy(cname.to_bytes()).into_owned(), value));
    }
    Ok(out)
}

/// FICLONE: make `dst` share all of `src`'s blocks (btrfs, xfs with reflink, bcachefs).
/// EOPNOTSUPP / EXDEV / EINVAL say the filesystem cannot.
pub fn clone_file(src: BorrowedFd<'_>, dst: BorrowedFd<'_>) -> nix::Result<()> {
    // FICLONE = _IOW(0x94, 9, int)
    const FICLONE: libc::c_ulong = 0x4004_9409;
    // SAFETY: FICLONE takes the source descriptor as its integer argument; both are open.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE as _, src.as_raw_fd()) };
    Errno::result(r).map(drop)
}
