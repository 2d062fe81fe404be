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
/// With a user namespace, `map` turns the spec's owner into host ids.
pub fn create(root: BorrowedFd<'_>, dev: &LinuxDevice, map: Option<&super::userns::IdMap>) -> Result<()> {
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
    let (mut uid, mut gid) = (dev.uid().unwrap_or(0), dev.gid().unwrap_or(0));
    if let Some(m) = map {
        uid = m.uid(uid).ok_or_else(|| Error::Spec(format!("device {}: uid {uid} is not mapped", path.display())))?;
        gid = m.gid(gid).ok_or_else(|| Error::Spec(format!("device {}: gid {gid} is not mapped", path.display())))?;
    }
    fchownat(
        Some(parent.as_raw_fd()),
        Path::new(name),
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
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
