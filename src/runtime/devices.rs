//! The private `/dev`: device nodes from the spec and the standard symlinks.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::mounts::{open_in_root, Kind};
use super::{Error, Result};

/// Symlinks every Linux userland expects in `/dev`: (link, target).
pub const SYMLINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
];

/// Create one device node below `root` (the process umask must be 0 for the mode to hold).
pub fn create(root: BorrowedFd<'_>, dev: &LinuxDevice) -> Result<()> {
    let path = dev.path();
    let parent_path = path.parent().ok_or_else(|| Error::BadPath(path.clone()))?;
    let name = path.file_name().ok_or_else(|| Error::BadPath(path.clone()))?;
    // An O_PATH descriptor serves mknodat and fchownat as a directory descriptor.
    let parent = open_in_root(root, parent_path, Kind::Dir)?;
    let kind = match dev.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err(Error::BadPath(path.clone())),
    };
    let mode = Mode::from_bits_truncate(dev.file_mode().unwrap_or(0o666));
    let rdev = makedev(dev.major() as u64, dev.minor() as u64);
    let err = |source| Error::Sys { what: "mknod", path: path.clone(), source };
    match mknodat(Some(parent.as_raw_fd()), Path::new(name), kind, mode, rdev) {
        Ok(()) => {}
        Err(nix::Error::EEXIST) => return Err(err(nix::Error::EEXIST)),
        Err(e) => return Err(err(e)),
    }
    fchownat(
        Some(parent.as_raw_fd()),
        Path::new(name),
        Some(Uid::from_raw(dev.uid().unwrap_or(0))),
        Some(Gid::from_raw(dev.gid().unwrap_or(0))),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|source| Error::Sys { what: "chown device", path: path.clone(), source })
}

/// Create the standard `/dev` symlinks, leaving any the spec already made.
pub fn symlinks(root: BorrowedFd<'_>) -> Result<()> {
    let dev = open_in_root(root, Path::new("/dev"), Kind::Dir)?;
    for (link, target) in SYMLINKS {
        let name = Path::new(link).file_name().expect("table entries have names");
        match symlinkat(*target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(source) => return Err(Error::Sys { what: "symlink", path: link.into(), source }),
        }
    }
    Ok(())
}

/// The host's node for `dev` (same path), for a user-namespaced container that cannot
/// mknod: it must be the device the spec names.
pub fn open_host_node(dev: &LinuxDevice) -> Result<std::os::fd::OwnedFd> {
    let path = dev.path();
    let fd = crate::sys::openat(None, path, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|source| Error::Sys { what: "open the host's device node", path: path.clone(), source })?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(|source| Error::Sys { what: "stat", path: path.clone(), source })?;
    let want = makedev(dev.major() as u64, dev.minor() as u64);
    let is_dev = matches!(st.st_mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK);
    if !is_dev || st.st_rdev != want {
        return Err(Error::Spec(format!("the host's {} is not device {}:{}; a user-namespaced container binds the host's node", path.display(), dev.major(), dev.minor())));
    }
    Ok(fd)
}

/// Bind the host's `node` over an empty file at the device's path below `root`.
pub fn bind(root: BorrowedFd<'_>, dev: &LinuxDevice, node: BorrowedFd<'_>) -> Result<()> {
    let target = open_in_root(root, dev.path(), Kind::File)?;
    super::mounts::mount_at(
        Some(&super::mounts::fd_path(node)),
        std::os::fd::AsFd::as_fd(&target),
        None,
        nix::mount::MsFlags::MS_BIND,
        None,
        dev.path(),
    )
}
