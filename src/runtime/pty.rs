//! The container's console: a pty from the container's own devpts instance, its slave
//! bound over `/dev/console`, its master handed to whoever listens on the console socket
//! (runc's protocol: one SCM_RIGHTS message carrying the master, the pty name as data).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;

use super::mounts::{mount_at, open_in_root, Kind};
use super::{Error, Result};

/// Allocate the console pty below `root` (devpts must already be mounted at `/dev/pts`),
/// bind its slave over `/dev/console`, send the master to `socket`. Returns the slave,
/// which becomes init's stdio and controlling terminal, owned by `owner` (host ids of a
/// user-namespaced guest's root) when given.
pub fn setup_console(root: BorrowedFd<'_>, socket: BorrowedFd<'_>, owner: Option<(u32, u32)>) -> Result<OwnedFd> {
    let pts = open_in_root(root, Path::new("/dev/pts"), Kind::Dir)?;
    let sys = |what, source| Error::Sys { what, path: "/dev/pts/ptmx".into(), source };
    let master = crate::sys::openat(
        Some(pts.as_fd()),
        Path::new("ptmx"),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| sys("open ptmx", e))?;
    crate::sys::pty_unlock(master.as_fd()).map_err(|e| sys("unlock pty", e))?;
    let n = crate::sys::pty_number(master.as_fd()).map_err(|e| sys("get pty number", e))?;
    let slave = crate::sys::openat(
        Some(pts.as_fd()),
        Path::new(&n.to_string()),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| sys("open pty slave", e))?;
    if let Some((u, g)) = owner {
        nix::unistd::fchown(slave.as_raw_fd(), Some(nix::unistd::Uid::from_raw(u)), Some(nix::unistd::Gid::from_raw(g)))
            .map_err(|e| sys("hand the console to the guest's root", e))?;
    }
    let console = open_in_root(root, Path::new("/dev/console"), Kind::File)?;
    let slave_path = super::mounts::fd_path(slave.as_fd());
    mount_at(Some(&slave_path), console.as_fd(), None, MsFlags::MS_BIND, None, Path::new("/dev/console"))?;
    send_fd(socket, master.as_fd(), format!("/dev/pts/{n}").as_bytes())?;
    Ok(slave)
}

/// Send `fd` over the unix socket `socket` with `name` as the message body.
pub fn send_fd(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, name: &[u8]) -> Result<()> {
    crate::sys::fdpass::send_fds(socket, &[fd.as_raw_fd()], name)
        .map_err(|source| Error::Sys { what: "send console fd", path: "console socket".into(), source })
}

/// Receive one descriptor sent with [`send_fd`] (or by runc/crun).
pub fn recv_fd(socket: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    crate::sys::fdpass::recv_fds(socket, 1)?.into_iter().next().ok_or(nix::Error::EBADMSG)
}
